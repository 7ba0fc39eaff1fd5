//! Sequencing of snapshot-plus-diff depth streams (Binance's rules, which the recorded depth data in
//! `../shared/data/hftbacktest` follows).
//!
//! A diff carries the first and final update ids it covers (`U`, `u`) and, on futures streams, the
//! final id of the previous diff (`pu`). Diffs received before the snapshot are buffered by the
//! caller and replayed once the snapshot is in; this type only decides, so it holds no messages and
//! never allocates.

/// How consecutive diffs prove that nothing was missed between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Continuity {
    /// Spot: each diff's first id is the previous diff's final id plus one.
    Consecutive,
    /// USD-M futures: each diff names the previous diff's final id (`pu`).
    PreviousFinal,
}

/// What the caller does with a diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// No snapshot yet: keep the diff and offer it again after the snapshot.
    Buffer,
    /// Already contained in the snapshot.
    Stale,
    /// Apply to the book.
    Apply,
    /// Updates were lost: the book is stale until a new snapshot arrives.
    Gap { expected: u64, got: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitingSnapshot,
    /// Snapshot applied; the next diff must straddle its id.
    Bridging {
        snapshot_id: u64,
    },
    Live {
        last_final: u64,
    },
}

#[derive(Debug, Clone, Copy)]
pub struct DepthSync {
    continuity: Continuity,
    state: State,
}

impl DepthSync {
    #[must_use]
    pub fn new(continuity: Continuity) -> Self {
        Self {
            continuity,
            state: State::AwaitingSnapshot,
        }
    }

    /// A snapshot as of `last_update_id` has been loaded into the book.
    pub fn on_snapshot(&mut self, last_update_id: u64) {
        self.state = State::Bridging {
            snapshot_id: last_update_id,
        };
    }

    /// Forget the stream position (after a gap or a reconnect); diffs buffer until a new snapshot.
    pub fn reset(&mut self) {
        self.state = State::AwaitingSnapshot;
    }

    #[must_use]
    pub fn is_live(&self) -> bool {
        matches!(self.state, State::Live { .. })
    }

    /// Classifies the diff covering ids `first..=last`; `prev_final` is the futures `pu` field.
    pub fn on_diff(&mut self, first: u64, last: u64, prev_final: Option<u64>) -> Decision {
        let decision = match self.state {
            State::AwaitingSnapshot => Decision::Buffer,
            State::Bridging { snapshot_id } => self.bridge(snapshot_id, first, last),
            State::Live { last_final } => match self.continuity {
                Continuity::Consecutive if first == last_final.wrapping_add(1) => Decision::Apply,
                Continuity::Consecutive => Decision::Gap {
                    expected: last_final + 1,
                    got: first,
                },
                Continuity::PreviousFinal => match prev_final {
                    Some(pu) if pu == last_final => Decision::Apply,
                    Some(pu) => Decision::Gap {
                        expected: last_final,
                        got: pu,
                    },
                    None => Decision::Gap {
                        expected: last_final,
                        got: first,
                    },
                },
            },
        };
        match decision {
            Decision::Apply => self.state = State::Live { last_final: last },
            Decision::Gap { .. } => self.state = State::AwaitingSnapshot,
            Decision::Buffer | Decision::Stale => {}
        }
        decision
    }

    fn bridge(&self, snapshot_id: u64, first: u64, last: u64) -> Decision {
        // Spot's snapshot id is the last update it contains; futures' is the first one it does not.
        let needed = match self.continuity {
            Continuity::Consecutive => snapshot_id + 1,
            Continuity::PreviousFinal => snapshot_id,
        };
        if last < needed {
            Decision::Stale
        } else if first <= needed {
            Decision::Apply
        } else {
            Decision::Gap {
                expected: needed,
                got: first,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spot_rules_from_the_recorded_btcusdt_file() {
        let mut sync = DepthSync::new(Continuity::Consecutive);
        assert_eq!(
            sync.on_diff(50_093_239_189, 50_093_239_202, None),
            Decision::Buffer
        );
        sync.on_snapshot(50_093_239_218);
        assert_eq!(
            sync.on_diff(50_093_239_189, 50_093_239_202, None),
            Decision::Stale
        );
        assert_eq!(
            sync.on_diff(50_093_239_208, 50_093_239_218, None),
            Decision::Stale
        );
        // The diff that straddles the snapshot id is the first one applied.
        assert_eq!(
            sync.on_diff(50_093_239_208, 50_093_239_224, None),
            Decision::Apply
        );
        assert_eq!(
            sync.on_diff(50_093_239_225, 50_093_239_230, None),
            Decision::Apply
        );
        assert_eq!(
            sync.on_diff(50_093_239_232, 50_093_239_240, None),
            Decision::Gap {
                expected: 50_093_239_231,
                got: 50_093_239_232
            }
        );
        assert!(!sync.is_live());
        assert_eq!(
            sync.on_diff(50_093_239_241, 50_093_239_242, None),
            Decision::Buffer
        );
    }

    #[test]
    fn futures_rules_chain_on_previous_final() {
        let mut sync = DepthSync::new(Continuity::PreviousFinal);
        sync.on_snapshot(100);
        assert_eq!(sync.on_diff(80, 99, Some(79)), Decision::Stale);
        assert_eq!(sync.on_diff(95, 105, Some(94)), Decision::Apply);
        assert_eq!(sync.on_diff(110, 120, Some(105)), Decision::Apply);
        assert_eq!(
            sync.on_diff(130, 140, Some(125)),
            Decision::Gap {
                expected: 120,
                got: 125
            }
        );
        sync.on_snapshot(200);
        assert_eq!(
            sync.on_diff(201, 210, Some(200)),
            Decision::Gap {
                expected: 200,
                got: 201
            }
        );
    }
}

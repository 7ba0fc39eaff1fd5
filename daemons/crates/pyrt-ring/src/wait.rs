//! How a side waits for the other: spin on an isolated core, spin then yield, or park in the
//! kernel (a futex on a word in the shared mapping) on a small shared machine.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::RingError;
use crate::region::Region;

/// Selected per daemon in `appliance.toml` (`wait_strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitStrategy {
    /// Never leaves the core: lowest latency, burns the core (isolated cores only).
    BusySpin,
    /// Spins `spins` times, then yields the core each round.
    SpinYield { spins: u32 },
    /// Sleeps in the kernel until woken by the other side (or a short timeout).
    Park,
}

/// Longest single sleep, so waiting code re-checks liveness and deadlines regularly.
pub(crate) const PARK_SLICE: Duration = Duration::from_millis(10);

/// One round of waiting. `word` and `seen` implement the futex handshake for `Park`: the waiter
/// read `seen` from `word` before re-checking its condition, and sleeps only if `word` still holds
/// it, so a wake-up between the check and the sleep is never lost.
pub(crate) fn wait_round(strategy: WaitStrategy, round: &mut u32, word: &AtomicU32, seen: u32) {
    match strategy {
        WaitStrategy::BusySpin => std::hint::spin_loop(),
        WaitStrategy::SpinYield { spins } => {
            if *round < spins {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        WaitStrategy::Park => futex_wait(word, seen, PARK_SLICE),
    }
    *round = round.saturating_add(1);
}

pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    let ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: libc::c_long::try_from(timeout.as_nanos()).unwrap_or(10_000_000),
    };
    // SAFETY: `word` is a valid, aligned u32 in memory shared between processes (so no
    // FUTEX_PRIVATE_FLAG); the kernel only reads it. Spurious returns are handled by callers.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &raw const ts,
        );
    }
}

pub(crate) fn futex_wake_all(word: &AtomicU32) {
    // SAFETY: as above; waking has no memory effects beyond the syscall.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX);
    }
}

/// Publishes a change of `word` and wakes parked waiters if `waiters` says there are any; costs
/// one relaxed load when nobody is parked.
pub(crate) fn notify(word: &AtomicU32, waiters: &AtomicU32) {
    // SeqCst pairs with the waiter's increment of `waiters` and read of `word` (a Dekker-style
    // handshake): either the waiter sees the new word, or we see the waiter.
    word.fetch_add(1, Ordering::SeqCst);
    if waiters.load(Ordering::SeqCst) > 0 {
        futex_wake_all(word);
    }
}

/// How often a waiting reader checks that its producer still exists.
const LIVENESS_EVERY: Duration = Duration::from_millis(20);

/// What to wait on: the waiter count to register in, the word the other side bumps, and whether
/// a dead producer ends the wait.
pub(crate) struct WaitOn {
    pub(crate) waiters: usize,
    pub(crate) word: usize,
    pub(crate) strategy: WaitStrategy,
    pub(crate) timeout: Duration,
    pub(crate) watch_producer: bool,
}

/// Retries `attempt` until it yields, the timeout passes (`Ok(None)`), or — when watching — the
/// producer is found dead (`ProducerDead`). Registers as a waiter around each check so the other
/// side knows to wake it.
pub(crate) fn wait_for<S, T>(
    side: &mut S,
    region: impl Fn(&S) -> &Region,
    on: &WaitOn,
    mut attempt: impl FnMut(&mut S) -> Option<Result<T, RingError>>,
) -> Result<Option<T>, RingError> {
    // A message already there is the common case on a busy ring: no clock, no atomics beyond
    // the read itself.
    if let Some(result) = attempt(side) {
        return result.map(Some);
    }
    // Only a parked waiter needs the producer to know it must wake someone; registering costs
    // two read-modify-writes per round on a line the producer reads on every publish.
    let parks = on.strategy == WaitStrategy::Park;
    let start = Instant::now();
    let mut last_check = start;
    let mut round = 0;
    loop {
        if parks {
            region(side)
                .u32_at(on.waiters)
                .fetch_add(1, Ordering::SeqCst);
        }
        let seen = region(side).u32_at(on.word).load(Ordering::SeqCst);
        let outcome = attempt(side);
        let result = if let Some(result) = outcome {
            Some(result.map(Some))
        } else {
            let now = Instant::now();
            let check = on.watch_producer
                && (round == 0 || now.duration_since(last_check) >= LIVENESS_EVERY);
            if check {
                last_check = now;
            }
            if check && !region(side).producer_alive() {
                // The producer may have published its last messages and exited between the
                // attempt above and the liveness check: drain before declaring it dead.
                match attempt(side) {
                    Some(result) => Some(result.map(Some)),
                    None => Some(Err(RingError::ProducerDead {
                        path: region(side).path.clone(),
                    })),
                }
            } else if now.duration_since(start) >= on.timeout {
                Some(Ok(None))
            } else {
                None
            }
        };
        let r = region(side);
        if let Some(result) = result {
            if parks {
                r.u32_at(on.waiters).fetch_sub(1, Ordering::SeqCst);
            }
            return result;
        }
        wait_round(on.strategy, &mut round, r.u32_at(on.word), seen);
        if parks {
            r.u32_at(on.waiters).fetch_sub(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{OFF_READER_WAITERS, OFF_WRITE_NOTIFY, RingKind};

    /// The producer published its last message and exited between a reader's empty attempt and its
    /// liveness check: the message must still be delivered, not hidden behind `ProducerDead`.
    #[test]
    fn a_message_published_just_before_the_producer_died_is_delivered() {
        let dir = std::env::temp_dir().join(format!("pyrt-wait-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("race.ring");
        let _ = std::fs::remove_file(&path);
        // Nobody holds the producer lock: the producer is already dead.
        let mut region = Region::open_or_create(&path, RingKind::Broadcast, 8).unwrap();
        let on = WaitOn {
            waiters: OFF_READER_WAITERS,
            word: OFF_WRITE_NOTIFY,
            strategy: WaitStrategy::Park,
            timeout: Duration::from_secs(1),
            watch_producer: true,
        };
        let mut attempts = 0;
        let got = wait_for(
            &mut region,
            |r| r,
            &on,
            |_| {
                attempts += 1;
                (attempts > 1).then_some(Ok(42))
            },
        );
        assert_eq!(got.unwrap(), Some(42));
        let got = wait_for(&mut region, |r| r, &on, |_| None::<Result<u8, _>>);
        assert!(matches!(got, Err(RingError::ProducerDead { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

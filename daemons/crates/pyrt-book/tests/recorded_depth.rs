//! The L2 book rebuilt from real recorded depth (snapshot plus diffs, sequenced by `DepthSync`)
//! must equal the exchange's own top-of-book messages: every `bookTicker` whose update id is the
//! final id of an applied diff shows the same best bid and ask, price and size.

use std::collections::HashMap;

use pyrt_book::recording::{self, Record};
use pyrt_book::{Continuity, Decision, DepthSync, L2Book, Level};
use pyrt_types::{Price, Qty, Side};

struct Outcome {
    applied: usize,
    stale: usize,
    compared: usize,
    mismatches: Vec<String>,
}

fn apply(book: &mut L2Book, bids: &[(Price, Qty)], asks: &[(Price, Qty)]) {
    for &(price, qty) in bids {
        book.set(Side::Buy, price, qty);
    }
    for &(price, qty) in asks {
        book.set(Side::Sell, price, qty);
    }
}

fn replay(file: &str, continuity: Continuity) -> Outcome {
    let path = recording::shared_data_dir().join("hftbacktest").join(file);
    let records = recording::read(&path).unwrap_or_else(|e| panic!("{e}"));
    let tickers: HashMap<u64, (Price, Qty, Price, Qty)> = records
        .iter()
        .filter_map(|r| match *r {
            Record::Ticker {
                update_id,
                bid,
                bid_qty,
                ask,
                ask_qty,
                ..
            } => Some((update_id, (bid, bid_qty, ask, ask_qty))),
            _ => None,
        })
        .collect();

    let mut book = L2Book::with_capacity(2048);
    let mut sync = DepthSync::new(continuity);
    let mut pending: Vec<&Record> = Vec::new();
    let mut outcome = Outcome {
        applied: 0,
        stale: 0,
        compared: 0,
        mismatches: Vec::new(),
    };
    let mut queue: Vec<&Record> = Vec::new();
    for record in &records {
        queue.clear();
        match record {
            Record::Snapshot {
                last_update_id,
                bids,
                asks,
                ..
            } => {
                book.clear();
                apply(&mut book, bids, asks);
                sync.on_snapshot(*last_update_id);
                queue.append(&mut pending);
            }
            Record::Depth { .. } => queue.push(record),
            _ => continue,
        }
        for &diff in &queue {
            let Record::Depth {
                first,
                last,
                prev_final,
                bids,
                asks,
                ..
            } = diff
            else {
                unreachable!("only diffs are queued")
            };
            match sync.on_diff(*first, *last, *prev_final) {
                Decision::Buffer => pending.push(diff),
                Decision::Stale => outcome.stale += 1,
                Decision::Gap { expected, got } => {
                    panic!("{file}: gap, expected {expected} got {got}")
                }
                Decision::Apply => {
                    apply(&mut book, bids, asks);
                    outcome.applied += 1;
                    if let Some(&(bid, bid_qty, ask, ask_qty)) = tickers.get(last) {
                        outcome.compared += 1;
                        let want = (
                            Some(Level {
                                price: bid,
                                qty: bid_qty,
                            }),
                            Some(Level {
                                price: ask,
                                qty: ask_qty,
                            }),
                        );
                        let got = (book.best_bid(), book.best_ask());
                        if got != want {
                            outcome
                                .mismatches
                                .push(format!("u={last}: book {got:?} ticker {want:?}"));
                        }
                    }
                }
            }
        }
    }
    assert!(!book.is_crossed(), "{file}: final book is crossed");
    outcome
}

fn check(file: &str, continuity: Continuity, expected_compared: usize) {
    let outcome = replay(file, continuity);
    assert!(
        outcome.mismatches.is_empty(),
        "{file}: {:#?}",
        &outcome.mismatches[..5.min(outcome.mismatches.len())]
    );
    assert_eq!(
        outcome.compared, expected_compared,
        "{file}: tickers compared"
    );
    assert!(
        outcome.applied > 3000,
        "{file}: only {} diffs applied",
        outcome.applied
    );
    assert!(
        outcome.stale >= 1,
        "{file}: the early diffs should be stale"
    );
}

// Expected counts are those of shared/data/INDEX.md's independent check (decimal arithmetic).
#[test]
fn usdm_btcusdt_matches_every_ticker() {
    check("usdm_btcusdt_20240808.gz", Continuity::PreviousFinal, 629);
}

#[test]
fn usdm_ethusdt_matches_every_ticker() {
    check("usdm_ethusdt_20240808.gz", Continuity::PreviousFinal, 551);
}

#[test]
fn spot_btcusdt_matches_every_ticker() {
    check("spot_btcusdt_20240808.gz", Continuity::Consecutive, 564);
}

#[test]
fn spot_ethusdt_matches_every_ticker() {
    check("spot_ethusdt_20240808.gz", Continuity::Consecutive, 577);
}

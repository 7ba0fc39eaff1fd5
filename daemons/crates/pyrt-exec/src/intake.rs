//! The intake thread: takes intents off the order ring, refuses what risk did not stamp, makes the
//! rest durable in the intents journal and only then consumes them from the ring, and hands them
//! to the network loop. A crash anywhere in between loses nothing (the ring still holds what the
//! journal lacks) and repeats nothing (what the journal holds is recognised by its sequence).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use pyrt_journal::Journal;
use pyrt_ring::{ControlBlock, QueueConsumer, RingError, WaitStrategy};
use pyrt_telemetry::Counter;
use pyrt_types::{IntentAction, OrderIntent, Timestamp};
use tokio::sync::mpsc;

/// Why exec refused an intent without sending it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The risk stamp is missing or does not verify: the intent did not come through risk.
    Unstamped,
    /// Its symbol id is not in the configured universe.
    UnknownSymbol,
    /// Side, type, time in force or action is not a valid code.
    Malformed,
    /// The kill switch is set: only cancels go out.
    KillSwitch,
}

impl Refusal {
    /// The `reject_code` an `OrderAck` carries for a refusal by exec itself (no HTTP exchange).
    #[must_use]
    pub const fn code(self) -> u16 {
        match self {
            Self::Unstamped => 1,
            Self::UnknownSymbol => 2,
            Self::Malformed => 3,
            Self::KillSwitch => 4,
        }
    }
}

#[derive(Debug)]
pub enum Intake {
    /// Durable in the journal; to be sent.
    Intent {
        intent: OrderIntent,
        read_at: Timestamp,
    },
    Refused {
        intent: OrderIntent,
        reason: Refusal,
    },
    /// The journal cannot be written: exec must stop taking intents.
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct IntakeCounters {
    pub accepted: Counter,
    pub refused: Counter,
    pub duplicates: Counter,
    pub not_intents: Counter,
}

#[derive(Debug)]
pub struct IntakeConfig {
    pub ring: PathBuf,
    /// Read for the kill switch: a second line of defence behind risk, for intents already in
    /// the ring when the switch was set.
    pub control: ControlBlock,
    pub wait: WaitStrategy,
    pub stamp_key: u64,
    pub symbols: usize,
    /// Highest sequence already in the journal.
    pub last_seq: u64,
    /// Most intents made durable by one journal commit.
    pub batch: u64,
}

const POLL: Duration = Duration::from_millis(50);

fn check(intent: &OrderIntent, config: &IntakeConfig) -> Result<(), Refusal> {
    if !pyrt_risk::verify(intent, config.stamp_key) {
        return Err(Refusal::Unstamped);
    }
    if usize::try_from(intent.header.symbol.0).map_or(true, |id| id >= config.symbols) {
        return Err(Refusal::UnknownSymbol);
    }
    let valid = intent.side().is_ok()
        && intent.order_type().is_ok()
        && intent.time_in_force().is_ok()
        && intent.action().is_ok();
    if !valid {
        return Err(Refusal::Malformed);
    }
    if intent.action() != Ok(IntentAction::Cancel) && config.control.kill_switch() {
        return Err(Refusal::KillSwitch);
    }
    Ok(())
}

struct Intaker {
    config: IntakeConfig,
    journal: Journal,
    tx: mpsc::Sender<Intake>,
    counters: IntakeCounters,
    out: Vec<Intake>,
}

impl Intaker {
    /// One batch: journal what is acceptable, commit it, consume it from the ring, hand it on.
    fn batch(&mut self, ring: &mut QueueConsumer) -> Result<(), String> {
        let read_at = Timestamp::now();
        let mut taken = 0;
        while taken < self.config.batch {
            let Some(event) = ring.peek_at(taken) else {
                break;
            };
            taken += 1;
            let Some(intent) = event.as_event::<OrderIntent>() else {
                self.counters.not_intents.add(1);
                continue;
            };
            if intent.intent_seq <= self.config.last_seq {
                self.counters.duplicates.add(1);
                continue;
            }
            self.config.last_seq = intent.intent_seq;
            match check(intent, &self.config) {
                Ok(()) => {
                    self.journal.append(&event);
                    self.counters.accepted.add(1);
                    self.out.push(Intake::Intent {
                        intent: *intent,
                        read_at,
                    });
                }
                Err(reason) => {
                    self.counters.refused.add(1);
                    self.out.push(Intake::Refused {
                        intent: *intent,
                        reason,
                    });
                }
            }
        }
        self.journal.commit().map_err(|e| e.to_string())?;
        ring.commit_n(taken);
        for item in self.out.drain(..) {
            self.tx
                .blocking_send(item)
                .map_err(|_| "the network loop is gone".to_owned())?;
        }
        Ok(())
    }

    fn run(mut self, stop: &AtomicBool) {
        let mut ring: Option<QueueConsumer> = None;
        while !stop.load(Ordering::Relaxed) {
            let Some(consumer) = ring.as_mut() else {
                // The order ring is created by its producer (risk); wait for it.
                match QueueConsumer::attach(&self.config.ring, self.config.wait) {
                    Ok(consumer) => ring = Some(consumer),
                    Err(_) => std::thread::sleep(POLL),
                }
                continue;
            };
            match consumer.wait_readable(POLL) {
                Ok(true) => {
                    if let Err(e) = self.batch(consumer) {
                        let _ = self.tx.blocking_send(Intake::Failed(e));
                        return;
                    }
                }
                // No producer right now (risk restarting): the ring and its cursor persist.
                Ok(false) | Err(RingError::ProducerDead { .. }) => {
                    if !consumer.producer_alive() {
                        std::thread::sleep(POLL);
                    }
                }
                Err(e) => {
                    let _ = self.tx.blocking_send(Intake::Failed(e.to_string()));
                    return;
                }
            }
        }
    }
}

/// Starts the intake thread; it runs until `stop` is set.
pub fn spawn(
    config: IntakeConfig,
    journal: Journal,
    tx: mpsc::Sender<Intake>,
    counters: IntakeCounters,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    let batch = usize::try_from(config.batch).unwrap_or(64);
    let intaker = Intaker {
        config,
        journal,
        tx,
        counters,
        out: Vec::with_capacity(batch),
    };
    std::thread::Builder::new()
        .name("exec-intake".into())
        .spawn(move || intaker.run(&stop))
}

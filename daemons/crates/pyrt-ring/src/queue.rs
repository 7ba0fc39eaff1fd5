//! SPSC queue with back-pressure, for orders and fills: never overwritten, never lost.
//!
//! The producer owns the write cursor, the consumer the read cursor; both live in the file, so a
//! consumer killed and restarted resumes exactly where it stopped, and a restarted producer
//! continues the sequence. Each side caches the other's cursor and re-reads it only when the cached
//! value says full (producer) or empty (consumer), so in steady state neither touches the other's
//! cache line.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use pyrt_types::RawEvent;

use crate::layout::{
    OFF_CONSUMER_PID, OFF_HEARTBEAT, OFF_PRODUCER_PID, OFF_READ, OFF_READ_NOTIFY,
    OFF_READER_WAITERS, OFF_WRITE, OFF_WRITE_NOTIFY, OFF_WRITER_WAITERS, RingKind,
};
use crate::region::{Region, current_pid, now_ns, pid_alive};
use crate::wait::{WaitOn, WaitStrategy, notify, wait_for};
use crate::{RingError, read_slot, write_slot};

#[derive(Debug)]
pub struct QueueProducer {
    region: Region,
    write: u64,
    read_cache: u64,
    wait: WaitStrategy,
}

impl QueueProducer {
    /// Creates the ring (or reopens it, keeping unread messages) and becomes its only producer.
    pub fn open(path: &Path, capacity: u64, wait: WaitStrategy) -> Result<Self, RingError> {
        let region = Region::open_or_create(path, RingKind::Queue, capacity)?;
        region.lock_producer()?;
        region
            .u32_at(OFF_PRODUCER_PID)
            .store(current_pid(), Ordering::Release);
        region
            .u64_at(OFF_HEARTBEAT)
            .store(now_ns(), Ordering::Release);
        let write = region.u64_at(OFF_WRITE).load(Ordering::Acquire);
        let read_cache = region.u64_at(OFF_READ).load(Ordering::Acquire);
        Ok(Self {
            region,
            write,
            read_cache,
            wait,
        })
    }

    /// Appends `event` unless the ring is full.
    #[inline]
    pub fn try_push(&mut self, event: &RawEvent) -> Result<(), RingError> {
        let capacity = self.region.geometry.capacity;
        if self.write - self.read_cache >= capacity {
            self.read_cache = self.region.u64_at(OFF_READ).load(Ordering::Acquire);
            if self.write - self.read_cache >= capacity {
                return Err(RingError::Full);
            }
        }
        let index = usize::try_from(self.write & self.region.mask()).unwrap_or(0);
        write_slot(self.region.slot(index), event);
        self.write += 1;
        self.region
            .u64_at(OFF_WRITE)
            .store(self.write, Ordering::Release);
        notify(
            self.region.u32_at(OFF_WRITE_NOTIFY),
            self.region.u32_at(OFF_READER_WAITERS),
        );
        Ok(())
    }

    /// Appends `event`, waiting for space up to `timeout`. Fails with `Full` only on timeout: the
    /// event is then not in the ring and the caller still holds it.
    pub fn push(&mut self, event: &RawEvent, timeout: Duration) -> Result<(), RingError> {
        let on = WaitOn {
            waiters: OFF_WRITER_WAITERS,
            word: OFF_READ_NOTIFY,
            strategy: self.wait,
            timeout,
            watch_producer: false,
        };
        let pushed = wait_for(
            self,
            |p| &p.region,
            &on,
            |p| match p.try_push(event) {
                Err(RingError::Full) => None,
                other => Some(other),
            },
        )?;
        pushed.ok_or(RingError::Full)
    }

    /// Marks the producer alive for monitors; call from the daemon's loop when idle.
    pub fn heartbeat(&self) {
        self.region
            .u64_at(OFF_HEARTBEAT)
            .store(now_ns(), Ordering::Relaxed);
    }

    /// Messages written since the ring file was created.
    #[must_use]
    pub fn position(&self) -> u64 {
        self.write
    }

    /// Messages written and not yet consumed.
    #[must_use]
    pub fn backlog(&self) -> u64 {
        self.write - self.region.u64_at(OFF_READ).load(Ordering::Acquire)
    }

    /// What the ring holds that its consumer has not taken yet, oldest first: how a restarted
    /// producer learns what its predecessor sent that is still on its way. Only the producer
    /// overwrites slots, so they hold still while read; a message the consumer takes meanwhile
    /// is listed all the same. Allocates: for start-up, not the hot path.
    #[must_use]
    pub fn unconsumed(&self) -> Vec<RawEvent> {
        let read = self.region.u64_at(OFF_READ).load(Ordering::Acquire);
        (read..self.write)
            .map(|seq| {
                let index = usize::try_from(seq & self.region.mask()).unwrap_or(0);
                read_slot(self.region.slot(index))
            })
            .collect()
    }
}

#[derive(Debug)]
pub struct QueueConsumer {
    region: Region,
    read: u64,
    write_cache: u64,
    wait: WaitStrategy,
}

impl QueueConsumer {
    /// Attaches as the only consumer, resuming from the read cursor stored in the file.
    pub fn attach(path: &Path, wait: WaitStrategy) -> Result<Self, RingError> {
        let region = Region::attach(path, RingKind::Queue)?;
        let pid_slot = region.u32_at(OFF_CONSUMER_PID);
        let other = pid_slot.load(Ordering::Acquire);
        if other != 0 && other != current_pid() && pid_alive(other) {
            return Err(RingError::ConsumerPresent {
                path: path.to_owned(),
                pid: other,
            });
        }
        pid_slot.store(current_pid(), Ordering::Release);
        let read = region.u64_at(OFF_READ).load(Ordering::Acquire);
        Ok(Self {
            write_cache: read,
            read,
            region,
            wait,
        })
    }

    /// The next message without consuming it; [`Self::commit`] consumes it. Used where a message
    /// must be made durable (journaled) before it may be forgotten.
    #[inline]
    pub fn peek(&mut self) -> Option<RawEvent> {
        self.peek_at(0)
    }

    /// The message `ahead` places after the next one, without consuming anything, so a consumer
    /// can make a whole batch durable before it commits the batch.
    #[inline]
    pub fn peek_at(&mut self, ahead: u64) -> Option<RawEvent> {
        let seq = self.read + ahead;
        if seq >= self.write_cache {
            self.write_cache = self.region.u64_at(OFF_WRITE).load(Ordering::Acquire);
            if seq >= self.write_cache {
                return None;
            }
        }
        let index = usize::try_from(seq & self.region.mask()).unwrap_or(0);
        Some(read_slot(self.region.slot(index)))
    }

    /// Consumes the message last returned by [`Self::peek`].
    #[inline]
    pub fn commit(&mut self) {
        self.commit_n(1);
    }

    /// Consumes the next `count` messages (never more than the producer has written).
    #[inline]
    pub fn commit_n(&mut self, count: u64) {
        let read = (self.read + count).min(self.write_cache);
        if read > self.read {
            self.read = read;
            self.region
                .u64_at(OFF_READ)
                .store(self.read, Ordering::Release);
            notify(
                self.region.u32_at(OFF_READ_NOTIFY),
                self.region.u32_at(OFF_WRITER_WAITERS),
            );
        }
    }

    /// Takes the next message.
    #[inline]
    pub fn try_pop(&mut self) -> Option<RawEvent> {
        let event = self.peek()?;
        self.commit();
        Some(event)
    }

    fn wait_on(&self, timeout: Duration) -> WaitOn {
        WaitOn {
            waiters: OFF_READER_WAITERS,
            word: OFF_WRITE_NOTIFY,
            strategy: self.wait,
            timeout,
            watch_producer: true,
        }
    }

    /// Waits up to `timeout` for a message. Never hangs on a dead producer: once the ring is empty
    /// and no process holds the producer lock, returns [`RingError::ProducerDead`].
    pub fn pop(&mut self, timeout: Duration) -> Result<Option<RawEvent>, RingError> {
        let on = self.wait_on(timeout);
        wait_for(self, |c| &c.region, &on, |c| c.try_pop().map(Ok))
    }

    /// Waits up to `timeout` until a message can be read, consuming nothing; same liveness rule
    /// as [`Self::pop`].
    pub fn wait_readable(&mut self, timeout: Duration) -> Result<bool, RingError> {
        let on = self.wait_on(timeout);
        wait_for(self, |c| &c.region, &on, |c| c.peek().map(|_| Ok(()))).map(|r| r.is_some())
    }

    #[must_use]
    pub fn producer_alive(&self) -> bool {
        self.region.producer_alive()
    }

    /// Whether the ring file was removed and created anew since this side attached; a
    /// consumer then attaches again to follow the new producer. Not for the hot path (a `stat`).
    #[must_use]
    pub fn replaced(&self) -> bool {
        self.region.replaced()
    }

    /// Sequence number of the next message to read.
    #[must_use]
    pub fn position(&self) -> u64 {
        self.read
    }
}

impl Drop for QueueConsumer {
    fn drop(&mut self) {
        let _ = self.region.u32_at(OFF_CONSUMER_PID).compare_exchange(
            current_pid(),
            0,
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
    }
}

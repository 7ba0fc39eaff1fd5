//! SPMC broadcast ring with overwrite, for market data: the producer never waits, readers that
//! fall a full ring behind are told how many messages they lost and resume at the head.
//!
//! Each slot has a stamp (a seqlock): odd while being written, `2·(seq+1)` once message `seq` is
//! complete. A reader accepts a slot only if the stamp is the one it expects both before and after
//! copying it, so a torn or overwritten slot is detected, never returned.

use std::path::Path;
use std::sync::atomic::{Ordering, fence};
use std::time::Duration;

use pyrt_types::RawEvent;

use crate::layout::{
    OFF_HEARTBEAT, OFF_PRODUCER_PID, OFF_READER_WAITERS, OFF_WRITE, OFF_WRITE_NOTIFY, RingKind,
};
use crate::region::{Region, current_pid, now_ns};
use crate::wait::{WaitOn, WaitStrategy, notify, wait_for};
use crate::{RingError, read_slot, write_slot};

#[derive(Debug)]
pub struct BroadcastProducer {
    region: Region,
    write: u64,
}

impl BroadcastProducer {
    /// Creates the ring (or reopens it, continuing its sequence) and becomes its only producer.
    pub fn open(path: &Path, capacity: u64) -> Result<Self, RingError> {
        let region = Region::open_or_create(path, RingKind::Broadcast, capacity)?;
        region.lock_producer()?;
        region
            .u32_at(OFF_PRODUCER_PID)
            .store(current_pid(), Ordering::Release);
        region
            .u64_at(OFF_HEARTBEAT)
            .store(now_ns(), Ordering::Release);
        let write = region.u64_at(OFF_WRITE).load(Ordering::Acquire);
        Ok(Self { region, write })
    }

    /// Publishes `event`; never blocks.
    #[inline]
    pub fn publish(&mut self, event: &RawEvent) {
        let seq = self.write;
        let index = usize::try_from(seq & self.region.mask()).unwrap_or(0);
        let stamp = self.region.stamp(index);
        stamp.store(2 * seq + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        write_slot(self.region.slot(index), event);
        stamp.store(2 * seq + 2, Ordering::Release);
        self.write = seq + 1;
        self.region
            .u64_at(OFF_WRITE)
            .store(self.write, Ordering::Release);
        notify(
            self.region.u32_at(OFF_WRITE_NOTIFY),
            self.region.u32_at(OFF_READER_WAITERS),
        );
    }

    pub fn heartbeat(&self) {
        self.region
            .u64_at(OFF_HEARTBEAT)
            .store(now_ns(), Ordering::Relaxed);
    }

    /// Sequence number the next message will get.
    #[must_use]
    pub fn position(&self) -> u64 {
        self.write
    }
}

/// What a reader got.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Received {
    Event(RawEvent),
    /// The reader fell behind and `lost` messages were overwritten before it read them; it now
    /// continues at the head. Downstream must treat its state (books) as stale.
    Lost(u64),
}

#[derive(Debug)]
pub struct BroadcastReader {
    region: Region,
    next: u64,
    wait: WaitStrategy,
}

impl BroadcastReader {
    /// Attaches at the current head: the reader sees messages published from now on.
    pub fn attach(path: &Path, wait: WaitStrategy) -> Result<Self, RingError> {
        let region = Region::attach(path, RingKind::Broadcast)?;
        let next = region.u64_at(OFF_WRITE).load(Ordering::Acquire);
        Ok(Self { region, next, wait })
    }

    /// Attaches at the oldest message still in the ring.
    pub fn attach_from_oldest(path: &Path, wait: WaitStrategy) -> Result<Self, RingError> {
        let mut reader = Self::attach(path, wait)?;
        reader.next = reader.next.saturating_sub(reader.region.geometry.capacity);
        Ok(reader)
    }

    fn resync(&mut self, head: u64) -> Received {
        let lost = head - self.next;
        self.next = head;
        Received::Lost(lost)
    }

    /// The next message, a loss report, or `None` when caught up.
    #[inline]
    pub fn try_read(&mut self) -> Option<Received> {
        let head = self.region.u64_at(OFF_WRITE).load(Ordering::Acquire);
        if self.next >= head {
            return None;
        }
        if head - self.next > self.region.geometry.capacity {
            return Some(self.resync(head));
        }
        let index = usize::try_from(self.next & self.region.mask()).unwrap_or(0);
        let stamp = self.region.stamp(index);
        let expected = 2 * self.next + 2;
        if stamp.load(Ordering::Acquire) != expected {
            // Overwritten (or being overwritten) since we loaded the head: we were lapped.
            let head = self.region.u64_at(OFF_WRITE).load(Ordering::Acquire);
            return Some(self.resync(head));
        }
        let event = read_slot(self.region.slot(index));
        fence(Ordering::Acquire);
        if stamp.load(Ordering::Relaxed) != expected {
            let head = self.region.u64_at(OFF_WRITE).load(Ordering::Acquire);
            return Some(self.resync(head));
        }
        self.next += 1;
        Some(Received::Event(event))
    }

    /// Waits up to `timeout` for the next message or loss report; returns
    /// [`RingError::ProducerDead`] once caught up with a producer that no longer exists.
    pub fn read(&mut self, timeout: Duration) -> Result<Option<Received>, RingError> {
        let on = WaitOn {
            waiters: OFF_READER_WAITERS,
            word: OFF_WRITE_NOTIFY,
            strategy: self.wait,
            timeout,
            watch_producer: true,
        };
        wait_for(self, |r| &r.region, &on, |r| r.try_read().map(Ok))
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

    /// Sequence number of the next message this reader will read.
    #[must_use]
    pub fn position(&self) -> u64 {
        self.next
    }
}

//! Shared-memory transport between the daemons: ring files in a runtime directory (`/run/pyrt` on
//! the host, a temporary directory in tests), and the control block.
//!
//! - [`BroadcastProducer`] / [`BroadcastReader`]: one writer, many readers, overwrite; readers that
//!   fall behind get [`Received::Lost`] with the count (market data).
//! - [`QueueProducer`] / [`QueueConsumer`]: one writer, one reader, back-pressure; nothing is ever
//!   overwritten and the read position survives a consumer restart (orders, fills).
//! - [`ControlBlock`]: kill switch, generations, stamp key, daemon heartbeats.
//! - [`DeadProducerBackoff`]: how a consumer waits, without spinning, for a dead producer's
//!   successor, which takes over the same file (or creates a new one: see `replaced`).
//!
//! Slots are 64-byte [`RawEvent`]s moved as eight atomic words, so a racing reader can see a torn
//! slot but never undefined behaviour, and the seqlock stamps (broadcast) or cursors (queue) make
//! sure a torn slot is never returned. A file is attached only after its magic, version, event
//! layout hash, slot size, capacity and size all check out. Liveness of the producer is the
//! kernel's advisory lock on the ring file, which disappears with the process however it dies.

mod backoff;
mod broadcast;
mod control;
mod layout;
pub mod names;
#[cfg(feature = "python")]
pub mod python;
mod queue;
mod region;
mod wait;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

pub use backoff::DeadProducerBackoff;
pub use broadcast::{BroadcastProducer, BroadcastReader, Received};
pub use control::{ControlBlock, DaemonState, DaemonStatus, MAX_DAEMONS};
pub use layout::{Geometry, RingKind, validate_header};
use pyrt_types::RawEvent;
pub use queue::{QueueConsumer, QueueProducer};
pub use wait::WaitStrategy;

#[derive(Debug, thiserror::Error)]
pub enum RingError {
    #[error("ring file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("not a py_rt ring file (bad magic)")]
    Magic,
    #[error("ring file version {found}, this build speaks {expected}")]
    Version { found: u32, expected: u32 },
    #[error("unknown ring kind")]
    Kind,
    #[error("ring is a {found:?} ring, expected {expected:?}")]
    WrongKind { found: RingKind, expected: RingKind },
    #[error(
        "ring was written with event layout {found:#018x}; this build has {expected:#018x} (rebuild both sides)"
    )]
    Layout { found: u64, expected: u64 },
    #[error("ring slots are {0} bytes; this build uses 64")]
    SlotSize(u32),
    #[error("ring capacity {0} is not a power of two between 2 and 2^30")]
    Capacity(u64),
    #[error("existing ring has capacity {found}, configuration says {expected}")]
    CapacityMismatch { found: u64, expected: u64 },
    #[error("ring file is {found} bytes, its header implies {expected}")]
    Size { found: u64, expected: u64 },
    #[error("ring file is truncated ({size} bytes)")]
    Truncated { size: u64 },
    #[error("ring {path} already has a live producer")]
    ProducerPresent { path: PathBuf },
    #[error("ring {path} already has a live consumer (pid {pid})")]
    ConsumerPresent { path: PathBuf, pid: u32 },
    #[error("the producer of ring {path} is gone")]
    ProducerDead { path: PathBuf },
    #[error("ring is full")]
    Full,
    #[error("no daemon slot {0}")]
    DaemonSlot(usize),
}

/// Copies an event into a slot as eight relaxed atomic stores.
#[inline]
pub(crate) fn write_slot(slot: &[AtomicU64; 8], event: &RawEvent) {
    let words: &[u64; 8] = bytemuck::cast_ref(event);
    for (cell, &word) in slot.iter().zip(words) {
        cell.store(word, Ordering::Relaxed);
    }
}

/// Copies a slot out as eight relaxed atomic loads.
#[inline]
pub(crate) fn read_slot(slot: &[AtomicU64; 8]) -> RawEvent {
    let mut words = [0u64; 8];
    for (word, cell) in words.iter_mut().zip(slot) {
        *word = cell.load(Ordering::Relaxed);
    }
    bytemuck::cast(words)
}

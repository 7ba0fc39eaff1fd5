//! The on-disk layout of a ring file and its validation.
//!
//! ```text
//! 0      line 0: identity (magic, version, kind, layout hash, capacity, slot size, creator)
//! 64     line 1: producer side (write cursor, heartbeat, pid, wake-up word for parked readers)
//! 128    line 2: consumer side (read cursor, consumer pid, wake-up word for a parked producer)
//! 192    line 3: waiter counts
//! 4096   SPMC only: one u64 stamp per slot (seqlock), padded to a cache line
//! ...    capacity × 64-byte slots
//! ```
//! Each side's hot fields sit on their own cache line so producer and consumer never write the
//! same line. Validation reads only the identity line and the file size, so a hostile or truncated
//! file is refused before anything is mapped as atomics.

use pyrt_types::{EVENT_SIZE, LAYOUT_HASH};

use crate::RingError;

pub(crate) const MAGIC: [u8; 8] = *b"PYRTRING";
pub(crate) const VERSION: u32 = 1;
pub(crate) const HEADER_SIZE: usize = 4096;
pub(crate) const MAX_CAPACITY: u64 = 1 << 30;

pub(crate) const OFF_MAGIC: usize = 0;
pub(crate) const OFF_VERSION: usize = 8;
pub(crate) const OFF_KIND: usize = 12;
pub(crate) const OFF_LAYOUT: usize = 16;
pub(crate) const OFF_CAPACITY: usize = 24;
pub(crate) const OFF_SLOT_SIZE: usize = 32;

pub(crate) const OFF_WRITE: usize = 64;
pub(crate) const OFF_HEARTBEAT: usize = 72;
pub(crate) const OFF_PRODUCER_PID: usize = 80;
pub(crate) const OFF_WRITE_NOTIFY: usize = 84;

pub(crate) const OFF_READ: usize = 128;
pub(crate) const OFF_CONSUMER_PID: usize = 136;
pub(crate) const OFF_READ_NOTIFY: usize = 140;

pub(crate) const OFF_READER_WAITERS: usize = 192;
pub(crate) const OFF_WRITER_WAITERS: usize = 196;

/// Which protocol a ring file speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum RingKind {
    /// One producer, any number of readers; the oldest slots are overwritten.
    Broadcast = 1,
    /// One producer, one consumer; the producer waits when the ring is full.
    Queue = 2,
}

impl RingKind {
    fn from_u32(v: u32) -> Option<Self> {
        match v {
            1 => Some(Self::Broadcast),
            2 => Some(Self::Queue),
            _ => None,
        }
    }
}

/// Where things are in a ring file of a given capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub kind: RingKind,
    pub capacity: u64,
    /// Offset of the per-slot stamps (broadcast rings) or of the slots.
    pub stamps_offset: usize,
    pub slots_offset: usize,
    pub file_size: usize,
}

impl Geometry {
    pub(crate) fn new(kind: RingKind, capacity: u64) -> Result<Self, RingError> {
        if !capacity.is_power_of_two() || !(2..=MAX_CAPACITY).contains(&capacity) {
            return Err(RingError::Capacity(capacity));
        }
        let slots = usize::try_from(capacity).map_err(|_| RingError::Capacity(capacity))?;
        let stamps_len = match kind {
            RingKind::Broadcast => (slots * 8).next_multiple_of(EVENT_SIZE),
            RingKind::Queue => 0,
        };
        let slots_offset = HEADER_SIZE + stamps_len;
        Ok(Self {
            kind,
            capacity,
            stamps_offset: HEADER_SIZE,
            slots_offset,
            file_size: slots_offset + slots * EVENT_SIZE,
        })
    }
}

fn u32_at(bytes: &[u8], off: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[off..off + 4]);
    u32::from_le_bytes(b)
}

fn u64_at(bytes: &[u8], off: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[off..off + 8]);
    u64::from_le_bytes(b)
}

/// Checks a ring file's header bytes and total size against what this build expects.
pub fn validate_header(
    header: &[u8],
    file_size: u64,
    expected: RingKind,
) -> Result<Geometry, RingError> {
    if header.len() < 64 || file_size < HEADER_SIZE as u64 {
        return Err(RingError::Truncated { size: file_size });
    }
    if header[OFF_MAGIC..OFF_MAGIC + 8] != MAGIC {
        return Err(RingError::Magic);
    }
    let version = u32_at(header, OFF_VERSION);
    if version != VERSION {
        return Err(RingError::Version {
            found: version,
            expected: VERSION,
        });
    }
    let kind = RingKind::from_u32(u32_at(header, OFF_KIND)).ok_or(RingError::Kind)?;
    if kind != expected {
        return Err(RingError::WrongKind {
            found: kind,
            expected,
        });
    }
    let layout = u64_at(header, OFF_LAYOUT);
    if layout != LAYOUT_HASH {
        return Err(RingError::Layout {
            found: layout,
            expected: LAYOUT_HASH,
        });
    }
    let slot_size = u32_at(header, OFF_SLOT_SIZE);
    if slot_size as usize != EVENT_SIZE {
        return Err(RingError::SlotSize(slot_size));
    }
    let geometry = Geometry::new(kind, u64_at(header, OFF_CAPACITY))?;
    if geometry.file_size as u64 != file_size {
        return Err(RingError::Size {
            found: file_size,
            expected: geometry.file_size as u64,
        });
    }
    Ok(geometry)
}

/// The identity line of a new ring file.
pub(crate) fn identity(kind: RingKind, capacity: u64) -> [u8; 64] {
    let mut line = [0u8; 64];
    line[OFF_MAGIC..OFF_MAGIC + 8].copy_from_slice(&MAGIC);
    line[OFF_VERSION..OFF_VERSION + 4].copy_from_slice(&VERSION.to_le_bytes());
    line[OFF_KIND..OFF_KIND + 4].copy_from_slice(&(kind as u32).to_le_bytes());
    line[OFF_LAYOUT..OFF_LAYOUT + 8].copy_from_slice(&LAYOUT_HASH.to_le_bytes());
    line[OFF_CAPACITY..OFF_CAPACITY + 8].copy_from_slice(&capacity.to_le_bytes());
    let slot = u32::try_from(EVENT_SIZE).unwrap_or(u32::MAX);
    line[OFF_SLOT_SIZE..OFF_SLOT_SIZE + 4].copy_from_slice(&slot.to_le_bytes());
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(kind: RingKind, capacity: u64) -> (Vec<u8>, u64) {
        let g = Geometry::new(kind, capacity).unwrap();
        let mut header = vec![0u8; HEADER_SIZE];
        header[..64].copy_from_slice(&identity(kind, capacity));
        (header, g.file_size as u64)
    }

    #[test]
    fn accepts_its_own_headers() {
        for kind in [RingKind::Broadcast, RingKind::Queue] {
            let (h, size) = valid(kind, 1024);
            let g = validate_header(&h, size, kind).unwrap();
            assert_eq!(g.capacity, 1024);
        }
    }

    #[test]
    fn refuses_each_mismatch_clearly() {
        let (h, size) = valid(RingKind::Queue, 8);
        let mut bad = h.clone();
        bad[0] = b'X';
        assert!(matches!(
            validate_header(&bad, size, RingKind::Queue),
            Err(RingError::Magic)
        ));
        let mut bad = h.clone();
        bad[OFF_VERSION] = 9;
        assert!(matches!(
            validate_header(&bad, size, RingKind::Queue),
            Err(RingError::Version { found: 9, .. })
        ));
        let mut bad = h.clone();
        bad[OFF_LAYOUT] ^= 1;
        assert!(matches!(
            validate_header(&bad, size, RingKind::Queue),
            Err(RingError::Layout { .. })
        ));
        let mut bad = h.clone();
        bad[OFF_CAPACITY] = 7;
        assert!(matches!(
            validate_header(&bad, size, RingKind::Queue),
            Err(RingError::Capacity(7))
        ));
        let mut bad = h.clone();
        bad[OFF_SLOT_SIZE] = 32;
        assert!(matches!(
            validate_header(&bad, size, RingKind::Queue),
            Err(RingError::SlotSize(32))
        ));
        assert!(matches!(
            validate_header(&h, size - 64, RingKind::Queue),
            Err(RingError::Size { .. })
        ));
        assert!(matches!(
            validate_header(&h, size, RingKind::Broadcast),
            Err(RingError::WrongKind { .. })
        ));
        assert!(matches!(
            validate_header(&h[..10], size, RingKind::Queue),
            Err(RingError::Truncated { .. })
        ));
    }
}

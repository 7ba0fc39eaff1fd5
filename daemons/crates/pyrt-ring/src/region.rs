//! A memory-mapped ring file: creation, attachment, typed access to its atomics, and liveness.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64};

use memmap2::MmapRaw;
use pyrt_types::EVENT_SIZE;

use crate::RingError;
use crate::layout::{Geometry, HEADER_SIZE, RingKind, identity, validate_header};

/// One mapping of a ring file.
#[derive(Debug)]
pub(crate) struct Region {
    pub(crate) path: PathBuf,
    file: File,
    map: MmapRaw,
    pub(crate) geometry: Geometry,
}

// SAFETY: the mapping is only accessed through atomics (cursors, stamps, slot words); the raw
// pointer inside MmapRaw is what makes it !Send by default.
unsafe impl Send for Region {}

fn io(path: &Path) -> impl Fn(std::io::Error) -> RingError + '_ {
    move |source| RingError::Io {
        path: path.to_owned(),
        source,
    }
}

impl Region {
    /// Opens an existing ring file, or creates it with `capacity` when absent. An existing file must
    /// match `kind` and `capacity` exactly: its unread messages are never discarded.
    pub(crate) fn open_or_create(
        path: &Path,
        kind: RingKind,
        capacity: u64,
    ) -> Result<Self, RingError> {
        let geometry = Geometry::new(kind, capacity)?;
        match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
        {
            Ok(mut file) => {
                let mut header = vec![0u8; HEADER_SIZE];
                header[..64].copy_from_slice(&identity(kind, capacity));
                file.write_all(&header).map_err(io(path))?;
                file.set_len(geometry.file_size as u64).map_err(io(path))?;
                file.sync_all().map_err(io(path))?;
                Self::map(path, file, geometry)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let region = Self::attach(path, kind)?;
                if region.geometry.capacity != capacity {
                    return Err(RingError::CapacityMismatch {
                        found: region.geometry.capacity,
                        expected: capacity,
                    });
                }
                Ok(region)
            }
            Err(e) => Err(io(path)(e)),
        }
    }

    /// Maps an existing ring file after validating its header and size.
    pub(crate) fn attach(path: &Path, kind: RingKind) -> Result<Self, RingError> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(io(path))?;
        let size = file.metadata().map_err(io(path))?.len();
        let mut header = [0u8; 64];
        let read = file.read(&mut header).map_err(io(path))?;
        let geometry = validate_header(&header[..read], size, kind)?;
        Self::map(path, file, geometry)
    }

    fn map(path: &Path, file: File, geometry: Geometry) -> Result<Self, RingError> {
        let map = MmapRaw::map_raw(&file).map_err(io(path))?;
        if map.len() < geometry.file_size {
            return Err(RingError::Size {
                found: map.len() as u64,
                expected: geometry.file_size as u64,
            });
        }
        Ok(Self {
            path: path.to_owned(),
            file,
            map,
            geometry,
        })
    }

    // The mapping is page-aligned and offsets are checked multiples of the width.
    #[allow(clippy::cast_ptr_alignment)]
    pub(crate) fn u64_at(&self, offset: usize) -> &AtomicU64 {
        debug_assert!(offset.is_multiple_of(8) && offset + 8 <= self.map.len());
        // SAFETY: the mapping is page-aligned and at least `file_size` long (checked in `map`);
        // every offset used is a multiple of 8 inside it; other processes access these bytes
        // only through atomics of the same width.
        unsafe { &*self.map.as_mut_ptr().add(offset).cast::<AtomicU64>() }
    }

    #[allow(clippy::cast_ptr_alignment)]
    pub(crate) fn u32_at(&self, offset: usize) -> &AtomicU32 {
        debug_assert!(offset.is_multiple_of(4) && offset + 4 <= self.map.len());
        // SAFETY: as in `u64_at`, for 4-byte aligned offsets.
        unsafe { &*self.map.as_mut_ptr().add(offset).cast::<AtomicU32>() }
    }

    /// The 8 words of slot `index` (index already masked).
    #[allow(clippy::cast_ptr_alignment)]
    pub(crate) fn slot(&self, index: usize) -> &[AtomicU64; 8] {
        let offset = self.geometry.slots_offset + index * EVENT_SIZE;
        debug_assert!(offset + EVENT_SIZE <= self.map.len());
        // SAFETY: slots are 64-byte aligned (the slot area starts at a multiple of 64 in a
        // page-aligned mapping) and inside the mapping; accessed only as atomics.
        unsafe { &*self.map.as_mut_ptr().add(offset).cast::<[AtomicU64; 8]>() }
    }

    pub(crate) fn stamp(&self, index: usize) -> &AtomicU64 {
        self.u64_at(self.geometry.stamps_offset + index * 8)
    }

    pub(crate) fn mask(&self) -> u64 {
        self.geometry.capacity - 1
    }

    /// Takes the producer's exclusive advisory lock; fails if a live producer holds it.
    ///
    /// A consumer asking whether the producer lives holds a shared lock for an instant (see
    /// [`Self::producer_alive`]); a restarting producer that meets that instant tries again, for
    /// at least a second and at least 200 times (a descheduled prober can hold its instant for
    /// longer than a quarter second on a loaded machine), before it concludes another producer
    /// holds the ring.
    pub(crate) fn lock_producer(&self) -> Result<(), RingError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        for attempt in 0u32.. {
            // SAFETY: flock on a descriptor we own.
            let rc = unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                return Ok(());
            }
            if attempt >= 200 && std::time::Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        Err(RingError::ProducerPresent {
            path: self.path.clone(),
        })
    }

    /// Whether the path now names another file than the one mapped: the ring was removed and
    /// created anew, so what a new producer writes is only visible to a consumer that attaches
    /// again. A missing file is not a replacement (there is nothing to attach to yet).
    pub(crate) fn replaced(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(&self.path), self.file.metadata()) {
            (Ok(named), Ok(mapped)) => (named.dev(), named.ino()) != (mapped.dev(), mapped.ino()),
            _ => false,
        }
    }

    /// Whether some process holds the producer lock. The kernel drops the lock when the producer
    /// dies, however it dies, so this cannot be fooled by a stale pid.
    pub(crate) fn producer_alive(&self) -> bool {
        let fd = self.file.as_raw_fd();
        // SAFETY: flock on a descriptor we own; a shared lock we obtain is released at once.
        unsafe {
            if libc::flock(fd, libc::LOCK_SH | libc::LOCK_NB) == 0 {
                libc::flock(fd, libc::LOCK_UN);
                false
            } else {
                true
            }
        }
    }
}

pub(crate) fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

pub(crate) fn current_pid() -> u32 {
    std::process::id()
}

pub(crate) fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists.
    pid != 0 && unsafe { libc::kill(pid, 0) } == 0
}

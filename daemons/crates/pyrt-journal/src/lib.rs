//! Write-ahead journal of 64-byte events: what exec intends to send, what the broker acknowledged
//! and what filled, made durable before the effect, and replayed after a crash.
//!
//! Appends are buffered in memory; [`Journal::commit`] writes the whole batch with one io_uring
//! write linked to an `fdatasync`, so a burst of intents costs one round of I/O and one device
//! flush (grouped commit). Each record carries its sequence number and a CRC-32, so a crash that
//! tears the last write is detected and the torn tail cut off on the next open, while damage
//! anywhere else is refused as corruption rather than guessed at. Where the kernel refuses
//! io_uring (some container sandboxes), the same protocol runs on `pwrite` + `fdatasync`.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytemuck::{Pod, Zeroable};
use io_uring::{IoUring, opcode, squeue, types};
use pyrt_types::{LAYOUT_HASH, RawEvent};

const MAGIC: [u8; 8] = *b"PYRTJRN1";
const VERSION: u32 = 1;
const HEADER_LEN: usize = 64;

/// exec's journals in its state directory: the intents it took off the order ring, and every ack
/// and fill it published (record *k* of the events journal is event *k* of every fill queue).
pub const EXEC_INTENTS: &str = "exec.intents.journal";
pub const EXEC_EVENTS: &str = "exec.events.journal";

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("journal {path} is not a py_rt journal of this build: {reason}")]
    BadHeader { path: PathBuf, reason: String },
    #[error(
        "journal {path} is corrupt at byte {offset}: {reason} (valid records follow, so this is not a torn tail)"
    )]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("journal {path}: the kernel wrote {written} of {expected} bytes")]
    ShortWrite {
        path: PathBuf,
        written: usize,
        expected: usize,
    },
}

#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C)]
struct Header {
    magic: [u8; 8],
    version: u32,
    record_size: u32,
    layout_hash: u64,
    reserved: [u8; 40],
}

const _: () = assert!(size_of::<Header>() == HEADER_LEN);

/// One journal record: sequence, checksum, and the event's bytes.
#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C)]
struct Record {
    seq: u64,
    crc: u32,
    reserved: u32,
    event: [u8; 64],
}

const RECORD_LEN: usize = size_of::<Record>();

impl Record {
    fn new(seq: u64, event: &RawEvent) -> Self {
        let mut record = Self {
            seq,
            crc: 0,
            reserved: 0,
            event: bytemuck::cast(*event),
        };
        record.crc = record.checksum();
        record
    }

    fn checksum(&self) -> u32 {
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&self.seq.to_le_bytes());
        hasher.update(&self.event);
        hasher.finalize()
    }
}

/// How commits reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    IoUring,
    /// io_uring was refused by the kernel; `pwrite` + `fdatasync` instead.
    Pwrite,
}

/// What [`Journal::open`] found on disk.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    /// Every committed record, in order: (sequence number, event).
    pub records: Vec<(u64, RawEvent)>,
    /// Bytes of a torn final write that were cut off (zero after a clean shutdown).
    pub truncated_bytes: u64,
}

pub struct Journal {
    path: PathBuf,
    file: File,
    ring: Option<IoUring>,
    /// End of the committed data.
    offset: u64,
    next_seq: u64,
    pending: Vec<Record>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.path)
            .field("backend", &self.backend())
            .field("next_seq", &self.next_seq)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// Opens (or creates) the journal at `path` and replays it. `batch` is the largest number of
    /// appends expected between commits; the buffer is allocated once at that size.
    pub fn open(path: &Path, batch: usize) -> Result<(Self, Replay), JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        if bytes.is_empty() {
            let header = Header {
                magic: MAGIC,
                version: VERSION,
                record_size: u32::try_from(RECORD_LEN).unwrap_or(u32::MAX),
                layout_hash: LAYOUT_HASH,
                reserved: [0; 40],
            };
            file.write_all_at(bytemuck::bytes_of(&header), 0)
                .map_err(io)?;
            file.sync_all().map_err(io)?;
            bytes.extend_from_slice(bytemuck::bytes_of(&header));
        }
        check_header(path, &bytes)?;
        let (records, good_end) = scan(path, &bytes)?;
        let truncated_bytes = (bytes.len() - good_end) as u64;
        if truncated_bytes > 0 {
            file.set_len(good_end as u64).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        let next_seq = records.last().map_or(1, |(seq, _)| seq + 1);
        let journal = Self {
            path: path.to_owned(),
            file,
            ring: IoUring::new(8).ok(),
            offset: good_end as u64,
            next_seq,
            pending: Vec::with_capacity(batch.max(1)),
        };
        Ok((
            journal,
            Replay {
                records,
                truncated_bytes,
            },
        ))
    }

    #[must_use]
    pub fn backend(&self) -> Backend {
        if self.ring.is_some() {
            Backend::IoUring
        } else {
            Backend::Pwrite
        }
    }

    /// Buffers an event; durable only after the next [`Self::commit`]. Returns its sequence number.
    pub fn append(&mut self, event: &RawEvent) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending.push(Record::new(seq, event));
        seq
    }

    /// Sequence number the next append will get.
    #[must_use]
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Writes every pending record and waits until the device has them (`fdatasync`).
    pub fn commit(&mut self) -> Result<(), JournalError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let bytes: &[u8] = bytemuck::cast_slice(&self.pending);
        let expected = bytes.len();
        let written = match &mut self.ring {
            Some(ring) => submit_write_and_sync(ring, &self.file, bytes, self.offset),
            None => self
                .file
                .write_all_at(bytes, self.offset)
                .and_then(|()| self.file.sync_data())
                .map(|()| expected),
        }
        .map_err(|source| JournalError::Io {
            path: self.path.clone(),
            source,
        })?;
        if written != expected {
            return Err(JournalError::ShortWrite {
                path: self.path.clone(),
                written,
                expected,
            });
        }
        self.offset += expected as u64;
        self.pending.clear();
        Ok(())
    }
}

/// Every committed record of the journal at `path`, read without changing the file: for a
/// process other than the writer (risk rebuilding its book from exec's events), so a torn or
/// still-being-written tail is left where it is and simply not returned. A journal that does not
/// exist yet, or whose writer has not written its header yet, holds nothing.
pub fn read_committed(path: &Path) -> Result<Vec<RawEvent>, JournalError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) if bytes.is_empty() => return Ok(Vec::new()),
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(JournalError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    check_header(path, &bytes)?;
    Ok(scan(path, &bytes)?
        .0
        .into_iter()
        .map(|(_, event)| event)
        .collect())
}

/// One linked write + fdatasync; returns the bytes written.
fn submit_write_and_sync(
    ring: &mut IoUring,
    file: &File,
    bytes: &[u8],
    offset: u64,
) -> std::io::Result<usize> {
    let fd = types::Fd(file.as_raw_fd());
    let len =
        u32::try_from(bytes.len()).map_err(|_| std::io::Error::other("batch larger than 4 GiB"))?;
    let write = opcode::Write::new(fd, bytes.as_ptr(), len)
        .offset(offset)
        .build()
        .flags(squeue::Flags::IO_LINK)
        .user_data(1);
    let sync = opcode::Fsync::new(fd)
        .flags(types::FsyncFlags::DATASYNC)
        .build()
        .user_data(2);
    // SAFETY: `bytes` and `file` outlive the submission: we wait for both completions below
    // before returning, so the kernel never reads freed memory or a closed descriptor.
    unsafe {
        let mut sq = ring.submission();
        sq.push(&write)
            .map_err(|_| std::io::Error::other("submission queue full"))?;
        sq.push(&sync)
            .map_err(|_| std::io::Error::other("submission queue full"))?;
    }
    ring.submit_and_wait(2)?;
    let mut written = 0usize;
    let mut seen = 0;
    while seen < 2 {
        let Some(cqe) = ring.completion().next() else {
            ring.submit_and_wait(1)?;
            continue;
        };
        seen += 1;
        if cqe.result() < 0 {
            return Err(std::io::Error::from_raw_os_error(-cqe.result()));
        }
        if cqe.user_data() == 1 {
            written = usize::try_from(cqe.result()).unwrap_or(0);
        }
    }
    Ok(written)
}

fn check_header(path: &Path, bytes: &[u8]) -> Result<(), JournalError> {
    let bad = |reason: String| JournalError::BadHeader {
        path: path.to_owned(),
        reason,
    };
    let Some(raw) = bytes.get(..HEADER_LEN) else {
        return Err(bad(format!(
            "{} bytes is shorter than the {HEADER_LEN}-byte header",
            bytes.len()
        )));
    };
    let header: Header = bytemuck::pod_read_unaligned(raw);
    if header.magic != MAGIC {
        return Err(bad("wrong magic".into()));
    }
    if header.version != VERSION {
        return Err(bad(format!(
            "version {} (this build reads {VERSION})",
            header.version
        )));
    }
    if header.record_size as usize != RECORD_LEN || header.layout_hash != LAYOUT_HASH {
        return Err(bad(format!(
            "event layout {:#x}/{} (this build has {LAYOUT_HASH:#x}/{RECORD_LEN})",
            header.layout_hash, header.record_size
        )));
    }
    Ok(())
}

/// Valid records and where they end. A bad record followed only by bad or partial records is a
/// torn tail; a bad record followed by a valid one is corruption.
fn scan(path: &Path, bytes: &[u8]) -> Result<(Vec<(u64, RawEvent)>, usize), JournalError> {
    let body = &bytes[HEADER_LEN..];
    let mut records = Vec::with_capacity(body.len() / RECORD_LEN);
    for (expected_seq, (i, chunk)) in (1u64..).zip(body.chunks(RECORD_LEN).enumerate()) {
        let offset = HEADER_LEN + i * RECORD_LEN;
        let valid = chunk.len() == RECORD_LEN && {
            let record: Record = bytemuck::pod_read_unaligned(chunk);
            record.crc == record.checksum() && record.seq == expected_seq
        };
        if !valid {
            let later_valid = body[((i + 1) * RECORD_LEN).min(body.len())..]
                .chunks_exact(RECORD_LEN)
                .any(|c| {
                    let r: Record = bytemuck::pod_read_unaligned(c);
                    r.crc == r.checksum() && r.seq > expected_seq
                });
            if later_valid {
                return Err(JournalError::Corrupt {
                    path: path.to_owned(),
                    offset: offset as u64,
                    reason: format!("record {expected_seq} fails its checksum or sequence"),
                });
            }
            return Ok((records, offset));
        }
        let record: Record = bytemuck::pod_read_unaligned(chunk);
        records.push((record.seq, bytemuck::cast(record.event)));
    }
    Ok((records, bytes.len()))
}

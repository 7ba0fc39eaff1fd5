//! The control block: one small shared file with the kill switch, the config and model
//! generations, the session's intent-stamp key, and one slot per daemon (pid, state, heartbeat).
//!
//! Every field is an atomic: daemons write their own slot, the supervisor writes the switches, and
//! anyone may read. The risk daemon reads the kill switch before every order.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::Ordering;

use memmap2::MmapRaw;

use crate::RingError;
use crate::region::{now_ns, pid_alive};

const MAGIC: [u8; 8] = *b"PYRTCTRL";
const VERSION: u32 = 1;
const SIZE: usize = 4096;
/// Daemon slots; the four daemons use the first four.
pub const MAX_DAEMONS: usize = 8;
const NAME_LEN: usize = 16;

const OFF_VERSION: usize = 8;
const OFF_KILL: usize = 64;
const OFF_KILL_REASON: usize = 68;
const OFF_CONFIG_GEN: usize = 72;
const OFF_MODEL_GEN: usize = 80;
const OFF_STAMP_KEY: usize = 88;
const OFF_SLOTS: usize = 128;
const SLOT: usize = 64;
const SLOT_NAME: usize = 0;
const SLOT_PID: usize = 16;
const SLOT_STATE: usize = 20;
const SLOT_HEARTBEAT: usize = 24;
const SLOT_STARTED: usize = 32;
const SLOT_RESTARTS: usize = 40;

/// A daemon's lifecycle state as it reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum DaemonState {
    Empty = 0,
    Starting = 1,
    Running = 2,
    Degraded = 3,
    Stopping = 4,
    Stopped = 5,
    Failed = 6,
}

impl DaemonState {
    #[must_use]
    pub fn from_u32(v: u32) -> Self {
        match v {
            1 => Self::Starting,
            2 => Self::Running,
            3 => Self::Degraded,
            4 => Self::Stopping,
            5 => Self::Stopped,
            6 => Self::Failed,
            _ => Self::Empty,
        }
    }

    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Degraded => "degraded",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::Failed => "failed",
        }
    }
}

/// A snapshot of one daemon slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonStatus {
    pub name: String,
    pub pid: u32,
    pub state: DaemonState,
    pub heartbeat_ns: u64,
    pub started_ns: u64,
    pub restarts: u64,
    /// The pid exists right now.
    pub alive: bool,
}

#[derive(Debug)]
pub struct ControlBlock {
    map: MmapRaw,
}

// SAFETY: accessed only through atomics.
unsafe impl Send for ControlBlock {}
unsafe impl Sync for ControlBlock {}

impl ControlBlock {
    /// Opens the control block at `path`, creating it (with a fresh stamp key) if absent.
    pub fn open_or_create(path: &Path) -> Result<Self, RingError> {
        let io = |source| RingError::Io {
            path: path.to_owned(),
            source,
        };
        match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
        {
            Ok(mut file) => {
                let mut init = vec![0u8; SIZE];
                init[..8].copy_from_slice(&MAGIC);
                init[OFF_VERSION..OFF_VERSION + 4].copy_from_slice(&VERSION.to_le_bytes());
                // Unpredictable enough to tell sessions apart; not a cryptographic secret.
                let key = now_ns() ^ (u64::from(std::process::id()) << 32) ^ 0x9e37_79b9_7f4a_7c15;
                init[OFF_STAMP_KEY..OFF_STAMP_KEY + 8].copy_from_slice(&key.to_le_bytes());
                file.write_all(&init).map_err(io)?;
                file.sync_all().map_err(io)?;
                Self::map(path)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::attach(path),
            Err(e) => Err(io(e)),
        }
    }

    /// Attaches to an existing control block, refusing anything else.
    pub fn attach(path: &Path) -> Result<Self, RingError> {
        let block = Self::map(path)?;
        let bytes = block.bytes();
        if bytes[..8] != MAGIC {
            return Err(RingError::Magic);
        }
        let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        if version != VERSION {
            return Err(RingError::Version {
                found: version,
                expected: VERSION,
            });
        }
        Ok(block)
    }

    fn map(path: &Path) -> Result<Self, RingError> {
        let io = |source| RingError::Io {
            path: path.to_owned(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        if size != SIZE as u64 {
            return Err(RingError::Size {
                found: size,
                expected: SIZE as u64,
            });
        }
        let map = MmapRaw::map_raw(&file).map_err(io)?;
        Ok(Self { map })
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: the identity bytes are written once at creation and never again.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr(), 16) }
    }

    #[allow(clippy::cast_ptr_alignment)]
    fn u64_at(&self, offset: usize) -> &std::sync::atomic::AtomicU64 {
        // SAFETY: page-aligned mapping of SIZE bytes; offsets are 8-aligned and in range;
        // shared fields are accessed only as atomics.
        unsafe { &*self.map.as_mut_ptr().add(offset).cast() }
    }

    #[allow(clippy::cast_ptr_alignment)]
    fn u32_at(&self, offset: usize) -> &std::sync::atomic::AtomicU32 {
        // SAFETY: as above, 4-aligned.
        unsafe { &*self.map.as_mut_ptr().add(offset).cast() }
    }

    #[must_use]
    pub fn kill_switch(&self) -> bool {
        self.u32_at(OFF_KILL).load(Ordering::Acquire) != 0
    }

    /// Sets or clears the kill switch with a reason code (0 = operator).
    pub fn set_kill_switch(&self, on: bool, reason: u32) {
        self.u32_at(OFF_KILL_REASON)
            .store(reason, Ordering::Relaxed);
        self.u32_at(OFF_KILL)
            .store(u32::from(on), Ordering::Release);
    }

    #[must_use]
    pub fn kill_reason(&self) -> u32 {
        self.u32_at(OFF_KILL_REASON).load(Ordering::Relaxed)
    }

    #[must_use]
    pub fn config_generation(&self) -> u64 {
        self.u64_at(OFF_CONFIG_GEN).load(Ordering::Acquire)
    }

    /// Publishes a new validated config generation; returns it.
    #[must_use = "the new generation identifies the config just published"]
    pub fn bump_config_generation(&self) -> u64 {
        self.u64_at(OFF_CONFIG_GEN).fetch_add(1, Ordering::AcqRel) + 1
    }

    #[must_use]
    pub fn model_generation(&self) -> u64 {
        self.u64_at(OFF_MODEL_GEN).load(Ordering::Acquire)
    }

    pub fn set_model_generation(&self, generation: u64) {
        self.u64_at(OFF_MODEL_GEN)
            .store(generation, Ordering::Release);
    }

    /// The session key risk stamps intents with and exec verifies them with.
    #[must_use]
    pub fn stamp_key(&self) -> u64 {
        self.u64_at(OFF_STAMP_KEY).load(Ordering::Acquire)
    }

    fn slot_offset(index: usize) -> Result<usize, RingError> {
        if index < MAX_DAEMONS {
            Ok(OFF_SLOTS + index * SLOT)
        } else {
            Err(RingError::DaemonSlot(index))
        }
    }

    /// Claims slot `index` for daemon `name` in this process, in state `Starting`.
    pub fn register(&self, index: usize, name: &str, pid: u32) -> Result<(), RingError> {
        let base = Self::slot_offset(index)?;
        let mut padded = [0u8; NAME_LEN];
        let len = name.len().min(NAME_LEN);
        padded[..len].copy_from_slice(&name.as_bytes()[..len]);
        for (i, chunk) in padded.chunks_exact(8).enumerate() {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.u64_at(base + SLOT_NAME + i * 8)
                .store(u64::from_le_bytes(word), Ordering::Relaxed);
        }
        let previous = self.u32_at(base + SLOT_PID).swap(pid, Ordering::AcqRel);
        if previous != 0 && previous != pid {
            self.u64_at(base + SLOT_RESTARTS)
                .fetch_add(1, Ordering::Relaxed);
        }
        let now = now_ns();
        self.u64_at(base + SLOT_STARTED)
            .store(now, Ordering::Relaxed);
        self.u64_at(base + SLOT_HEARTBEAT)
            .store(now, Ordering::Relaxed);
        self.u32_at(base + SLOT_STATE)
            .store(DaemonState::Starting as u32, Ordering::Release);
        Ok(())
    }

    pub fn set_state(&self, index: usize, state: DaemonState) -> Result<(), RingError> {
        let base = Self::slot_offset(index)?;
        self.u32_at(base + SLOT_STATE)
            .store(state as u32, Ordering::Release);
        Ok(())
    }

    /// Records a heartbeat for slot `index`: one relaxed store, cheap enough for every loop turn.
    pub fn heartbeat(&self, index: usize) -> Result<(), RingError> {
        let base = Self::slot_offset(index)?;
        self.u64_at(base + SLOT_HEARTBEAT)
            .store(now_ns(), Ordering::Relaxed);
        Ok(())
    }

    /// Every slot that has been registered.
    #[must_use]
    pub fn daemons(&self) -> Vec<DaemonStatus> {
        (0..MAX_DAEMONS)
            .filter_map(|i| {
                let base = OFF_SLOTS + i * SLOT;
                let state =
                    DaemonState::from_u32(self.u32_at(base + SLOT_STATE).load(Ordering::Acquire));
                if state == DaemonState::Empty {
                    return None;
                }
                let mut name = Vec::with_capacity(NAME_LEN);
                for w in 0..NAME_LEN / 8 {
                    name.extend_from_slice(
                        &self
                            .u64_at(base + SLOT_NAME + w * 8)
                            .load(Ordering::Relaxed)
                            .to_le_bytes(),
                    );
                }
                let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
                let pid = self.u32_at(base + SLOT_PID).load(Ordering::Acquire);
                Some(DaemonStatus {
                    name: String::from_utf8_lossy(&name[..end]).into_owned(),
                    pid,
                    state,
                    heartbeat_ns: self.u64_at(base + SLOT_HEARTBEAT).load(Ordering::Relaxed),
                    started_ns: self.u64_at(base + SLOT_STARTED).load(Ordering::Relaxed),
                    restarts: self.u64_at(base + SLOT_RESTARTS).load(Ordering::Relaxed),
                    alive: pid_alive(pid),
                })
            })
            .collect()
    }
}

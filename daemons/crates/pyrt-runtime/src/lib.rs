//! Where and how a daemon runs: pinned to a core, optionally real-time (`SCHED_FIFO`) with its
//! memory locked (`mlockall`). Each step either succeeds or says exactly what the host refused and
//! how to allow it; the daemon decides whether that is fatal (configured) or a warning.

/// What the daemon asked for, from its `[daemons.<name>]` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Placement {
    pub core: Option<usize>,
    pub sched_fifo: bool,
    pub mlockall: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlacementError {
    #[error(
        "core {core} does not exist or is not in this process's allowed set (allowed: {allowed:?})"
    )]
    NoSuchCore { core: usize, allowed: Vec<usize> },
    #[error("pinning to core {core} was refused by the kernel")]
    PinRefused { core: usize },
    #[error(
        "SCHED_FIFO priority {priority} refused ({errno}): grant CAP_SYS_NICE or set LimitRTPRIO= in the unit"
    )]
    SchedFifo { priority: i32, errno: String },
    #[error("mlockall refused ({errno}): grant CAP_IPC_LOCK or raise LimitMEMLOCK= in the unit")]
    Mlockall { errno: String },
}

/// Cores this process may run on.
#[must_use]
pub fn allowed_cores() -> Vec<usize> {
    core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect()
}

/// Pins the calling thread to `core`.
pub fn pin_to_core(core: usize) -> Result<(), PlacementError> {
    let allowed = allowed_cores();
    if !allowed.contains(&core) {
        return Err(PlacementError::NoSuchCore { core, allowed });
    }
    if core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
        Ok(())
    } else {
        Err(PlacementError::PinRefused { core })
    }
}

/// The core the calling thread is running on right now.
#[must_use]
pub fn current_core() -> Option<usize> {
    // SAFETY: sched_getcpu has no preconditions.
    let cpu = unsafe { libc::sched_getcpu() };
    usize::try_from(cpu).ok()
}

fn errno() -> String {
    std::io::Error::last_os_error().to_string()
}

/// Switches the calling thread to `SCHED_FIFO` at `priority` (1..=99).
pub fn set_sched_fifo(priority: i32) -> Result<(), PlacementError> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: pid 0 is the calling thread; `param` is a valid sched_param.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &raw const param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(PlacementError::SchedFifo {
            priority,
            errno: errno(),
        })
    }
}

/// Locks current and future pages in RAM, so the hot path never takes a page fault.
pub fn lock_memory() -> Result<(), PlacementError> {
    // SAFETY: plain syscall with constant flags.
    let rc = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
    if rc == 0 {
        Ok(())
    } else {
        Err(PlacementError::Mlockall { errno: errno() })
    }
}

/// Applies every requested step and returns the failures (empty when all succeeded).
#[must_use]
pub fn apply(placement: Placement, fifo_priority: i32) -> Vec<PlacementError> {
    let mut failures = Vec::new();
    if let Some(core) = placement.core
        && let Err(e) = pin_to_core(core)
    {
        failures.push(e);
    }
    if placement.sched_fifo
        && let Err(e) = set_sched_fifo(fifo_priority)
    {
        failures.push(e);
    }
    if placement.mlockall
        && let Err(e) = lock_memory()
    {
        failures.push(e);
    }
    failures
}

/// systemd's service notifications (`Type=notify`, `WatchdogSec=`). Every call is a no-op when
/// the daemon was not started by systemd (no `NOTIFY_SOCKET`), so daemons call them
/// unconditionally; a failure to notify is reported, never fatal.
pub mod systemd {
    use std::time::Duration;

    use sd_notify::NotifyState;

    fn send(states: &[NotifyState<'_>]) {
        if std::env::var_os("NOTIFY_SOCKET").is_some()
            && let Err(e) = sd_notify::notify(states)
        {
            eprintln!("sd_notify: {e}");
        }
    }

    /// Start-up is complete: systemd marks the unit active.
    pub fn ready(status: &str) {
        send(&[NotifyState::Ready, NotifyState::Status(status)]);
    }

    /// Liveness ping; must come more often than `WatchdogSec=`.
    pub fn watchdog() {
        send(&[NotifyState::Watchdog]);
    }

    pub fn stopping() {
        send(&[NotifyState::Stopping]);
    }

    /// How often to ping: half the unit's `WatchdogSec=`, or `None` when no watchdog is set.
    #[must_use]
    pub fn watchdog_every() -> Option<Duration> {
        sd_notify::watchdog_enabled().map(|limit| limit / 2)
    }

    /// Pings the watchdog for as long as the daemon's (current-thread) runtime keeps running its
    /// tasks, so a wedged event loop is restarted while a daemon waiting out a broker back-off is
    /// not. Returns at once when there is no watchdog.
    pub async fn keep_watchdog_fed() {
        let Some(every) = watchdog_every() else {
            return;
        };
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            watchdog();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_reach_the_notify_socket() {
        let dir = std::env::temp_dir().join(format!("pyrt-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let socket = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        // SAFETY: nextest runs each test in its own process; no other thread reads the environment.
        unsafe {
            std::env::set_var("NOTIFY_SOCKET", &path);
            std::env::set_var("WATCHDOG_USEC", "4000000");
            std::env::set_var("WATCHDOG_PID", std::process::id().to_string());
        }
        systemd::ready("serving");
        systemd::watchdog();
        let mut buf = [0u8; 256];
        let n = socket.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=serving\n");
        let n = socket.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"WATCHDOG=1\n");
        assert_eq!(
            systemd::watchdog_every(),
            Some(std::time::Duration::from_secs(2))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn pins_to_an_allowed_core_and_reports_a_missing_one() {
        let allowed = allowed_cores();
        assert!(!allowed.is_empty());
        let core = *allowed.last().unwrap();
        // A fresh thread, so the test harness's threads keep their affinity.
        std::thread::spawn(move || {
            pin_to_core(core).unwrap();
            assert_eq!(current_core(), Some(core));
        })
        .join()
        .unwrap();
        let err = pin_to_core(10_000).unwrap_err();
        assert!(matches!(
            err,
            PlacementError::NoSuchCore { core: 10_000, .. }
        ));
        assert!(err.to_string().contains("allowed"));
    }

    #[test]
    fn refusals_explain_how_to_allow_them() {
        let err = set_sched_fifo(1000).unwrap_err();
        assert!(err.to_string().contains("LimitRTPRIO"), "{err}");
        let failures = apply(
            Placement {
                core: Some(10_000),
                sched_fifo: false,
                mlockall: false,
            },
            10,
        );
        assert_eq!(failures.len(), 1);
    }
}

//! Test support for the daemon crates: the venue simulator (`pyrt sim` from the project's
//! virtualenv) as a real process on a free loopback port, killed when dropped.

// Test support: failing loudly is its job, so every function may panic.
#![allow(clippy::missing_panics_doc)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const KEY_ID: &str = "PKTESTKIT";
pub const SECRET_KEY: &str = "testkit-secret";

#[must_use]
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../..")
        .canonicalize()
        .expect("the repository root exists")
}

#[must_use]
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// The project's virtualenv Python, or `None` (test skipped) outside CI before `make setup`.
#[must_use]
pub fn python() -> Option<PathBuf> {
    let python = repo().join(".venv/bin/python");
    if python.exists() {
        return Some(python);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must run `make setup` before the Rust tests"
    );
    eprintln!("skipping: no .venv (run `make setup`)");
    None
}

/// Runs `python -m <module> <args>` in the repository; panics with its stderr if it fails.
pub fn run_python(module: &str, args: &[&str]) {
    let python = python().expect("the virtualenv");
    let output = Command::new(python)
        .arg("-m")
        .arg(module)
        .args(args)
        .current_dir(repo())
        .output()
        .expect("run python");
    assert!(
        output.status.success(),
        "python -m {module} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `libonnxruntime.so` from the `onnxruntime` wheel in the virtualenv.
#[must_use]
pub fn onnxruntime_library() -> Option<PathBuf> {
    let lib = repo().join(".venv/lib");
    let site = std::fs::read_dir(lib).ok()?.flatten().find_map(|d| {
        let capi = d.path().join("site-packages/onnxruntime/capi");
        capi.is_dir().then_some(capi)
    })?;
    std::fs::read_dir(site)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libonnxruntime.so."))
        })
}

/// A fresh scratch directory for one test.
#[must_use]
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pyrt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

#[derive(Debug)]
pub struct Simulator {
    pub port: u16,
    child: Child,
}

impl Simulator {
    /// Starts `pyrt sim` with `extra` options and waits until it accepts connections. `None`
    /// (test skipped) only outside CI when `make setup` has not created the virtualenv.
    #[must_use]
    pub fn start(extra: &[&str]) -> Option<Self> {
        let python = python()?;
        let port = free_port();
        let child = Command::new(python)
            .args(["-m", "pyrt.cli", "sim", "--port", &port.to_string()])
            .args(["--key-id", KEY_ID, "--secret-key", SECRET_KEY])
            .args(extra)
            .current_dir(repo())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the simulator");
        // Owned before the wait, so a simulator that never comes up is killed with the failing
        // test instead of replaying on, orphaned, and starving every test after it of CPU.
        let simulator = Self { port, child };
        let deadline = Instant::now() + Duration::from_mins(1);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "simulator did not start within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(simulator)
    }

    #[must_use]
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    #[must_use]
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.port)
    }

    /// A GET with the simulator's keys, decoded as JSON (a test-side check, not a client).
    /// Injected 503s and 429s are retried.
    #[must_use]
    pub fn get_json(&self, path: &str) -> serde_json::Value {
        self.exchange("GET", path, "")
    }

    /// A POST of a JSON `body` with the simulator's keys, as a person or another program
    /// trading on the same account would (a POST the venue refused is retried, never repeated
    /// after it was taken).
    #[must_use]
    pub fn post_json(&self, path: &str, body: &str) -> serde_json::Value {
        self.exchange("POST", path, body)
    }

    fn exchange(&self, method: &str, path: &str, body: &str) -> serde_json::Value {
        for _ in 0..20 {
            if let Some(value) = self.try_exchange(method, path, body) {
                return value;
            }
        }
        panic!("{method} {path}: still refused (503 or 429) after 20 attempts");
    }

    fn try_exchange(&self, method: &str, path: &str, body: &str) -> Option<serde_json::Value> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAPCA-API-KEY-ID: {KEY_ID}\r\n\
             APCA-API-SECRET-KEY: {SECRET_KEY}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
        // Injected faults: a 503, or a 429 that lifts within the second; both refuse the
        // request before the venue acts on it.
        if head.starts_with("HTTP/1.1 503") || head.starts_with("HTTP/1.1 429") {
            std::thread::sleep(std::time::Duration::from_millis(100));
            return None;
        }
        assert!(head.starts_with("HTTP/1.1 200"), "{method} {path}: {head}");
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_owned()
        };
        Some(serde_json::from_str(&body).expect("a JSON body"))
    }

    /// Kills the simulator now (a venue outage).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.kill();
    }
}

/// CPU time every thread of this process has used so far.
#[must_use]
pub fn process_cpu_time() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec to write into.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &raw mut t) };
    assert_eq!(rc, 0);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap(),
        u32::try_from(t.tv_nsec).unwrap(),
    )
}

/// The CPU time this process used while `span` of wall time passed, and the wall time itself:
/// what a daemon on a thread of the test costs while it waits. CPU time, unlike wall-clock
/// latency, does not grow because other processes load the machine.
#[must_use]
pub fn cpu_used_over(span: Duration) -> (Duration, Duration) {
    let (cpu, wall) = (process_cpu_time(), Instant::now());
    std::thread::sleep(span);
    (process_cpu_time().saturating_sub(cpu), wall.elapsed())
}

/// Polls `done` every few milliseconds until it yields a value; panics after 20 s naming `what`.
pub fn eventually<T>(what: &str, mut done: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(value) = done() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

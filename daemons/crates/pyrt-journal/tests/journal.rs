//! The journal on a real file: round trip, grouped commits, torn tails, corruption, a writer
//! killed with SIGKILL mid-burst.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use pyrt_journal::{Backend, Journal, JournalError, read_committed};
use pyrt_types::{OrderIntent, Qty, RawEvent, SymbolId, Timestamp};

fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pyrt-journal-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("journal");
    let _ = std::fs::remove_file(&path);
    path
}

fn intent(n: u64) -> RawEvent {
    let mut e = OrderIntent::with_header(
        Timestamp::from_unix_nanos(i64::try_from(n).unwrap()),
        SymbolId(1),
    );
    e.intent_seq = n;
    e.qty = Qty::from_units(i64::try_from(n % 100).unwrap() + 1).unwrap();
    RawEvent::from_event(&e)
}

#[test]
fn committed_records_replay_in_order() {
    let path = temp_path("roundtrip");
    let (mut journal, replay) = Journal::open(&path, 64).unwrap();
    assert!(replay.records.is_empty());
    assert_eq!(
        journal.backend(),
        Backend::IoUring,
        "io_uring is available on these hosts"
    );
    for n in 1..=250 {
        assert_eq!(journal.append(&intent(n)), n);
        if n % 64 == 0 {
            journal.commit().unwrap();
        }
    }
    journal.commit().unwrap();
    // Appended but never committed: must not survive.
    journal.append(&intent(999));
    drop(journal);
    let (journal, replay) = Journal::open(&path, 64).unwrap();
    assert_eq!(replay.truncated_bytes, 0);
    assert_eq!(replay.records.len(), 250);
    for (i, (seq, event)) in replay.records.iter().enumerate() {
        assert_eq!(*seq, i as u64 + 1);
        assert_eq!(*event, intent(i as u64 + 1));
    }
    assert_eq!(journal.next_seq(), 251);
}

#[test]
fn a_torn_tail_is_cut_and_writing_resumes() {
    let path = temp_path("torn");
    let (mut journal, _) = Journal::open(&path, 8).unwrap();
    for n in 1..=5 {
        journal.append(&intent(n));
    }
    journal.commit().unwrap();
    drop(journal);
    // A crash in the middle of the next write: half a record of garbage.
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    let len = file.metadata().unwrap().len();
    file.write_all_at(&[0xAB; 40], len).unwrap();
    drop(file);
    let (mut journal, replay) = Journal::open(&path, 8).unwrap();
    assert_eq!(replay.records.len(), 5);
    assert_eq!(replay.truncated_bytes, 40);
    journal.append(&intent(6));
    journal.commit().unwrap();
    drop(journal);
    let (_, replay) = Journal::open(&path, 8).unwrap();
    assert_eq!(replay.records.len(), 6);
    assert_eq!(replay.truncated_bytes, 0);
}

#[test]
fn another_process_reads_what_is_committed_and_leaves_the_file_alone() {
    let path = temp_path("reader");
    assert!(read_committed(&path).unwrap().is_empty(), "no journal yet");
    std::fs::write(&path, b"").unwrap();
    assert!(
        read_committed(&path).unwrap().is_empty(),
        "created, header not written yet"
    );
    std::fs::remove_file(&path).unwrap();
    let (mut journal, _) = Journal::open(&path, 8).unwrap();
    for n in 1..=3 {
        journal.append(&intent(n));
    }
    journal.commit().unwrap();
    journal.append(&intent(4));
    assert_eq!(
        read_committed(&path).unwrap(),
        vec![intent(1), intent(2), intent(3)],
        "an append not yet committed is not there"
    );
    // The writer is half-way through its next write: the reader skips the partial record and,
    // unlike the writer's own open, does not cut it off.
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    let len = file.metadata().unwrap().len();
    file.write_all_at(&[0xAB; 40], len).unwrap();
    assert_eq!(read_committed(&path).unwrap().len(), 3);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), len + 40);
    // Damage before valid records is refused here too.
    file.write_all_at(&[0xFF; 4], 64 + 20).unwrap();
    assert!(matches!(
        read_committed(&path).unwrap_err(),
        JournalError::Corrupt { offset: 64, .. }
    ));
    std::fs::write(
        &path,
        b"not a journal, longer than sixty-four bytes ......................",
    )
    .unwrap();
    assert!(matches!(
        read_committed(&path).unwrap_err(),
        JournalError::BadHeader { .. }
    ));
}

#[test]
fn damage_before_valid_records_is_corruption_not_truncation() {
    let path = temp_path("corrupt");
    let (mut journal, _) = Journal::open(&path, 8).unwrap();
    for n in 1..=5 {
        journal.append(&intent(n));
    }
    journal.commit().unwrap();
    drop(journal);
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.write_all_at(&[0xFF; 4], 64 + 80 * 2 + 20).unwrap();
    drop(file);
    let err = Journal::open(&path, 8).unwrap_err();
    assert!(
        matches!(err, JournalError::Corrupt { offset: 224, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("not a torn tail"));
    // Nothing was truncated by the failed open.
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 64 + 80 * 5);
}

#[test]
fn foreign_files_are_refused() {
    let path = temp_path("foreign");
    std::fs::write(
        &path,
        b"not a journal at all, but long enough to hold a header of sixty-four bytes",
    )
    .unwrap();
    assert!(matches!(
        Journal::open(&path, 1),
        Err(JournalError::BadHeader { .. })
    ));
    std::fs::write(&path, b"short").unwrap();
    let err = Journal::open(&path, 1).unwrap_err();
    assert!(err.to_string().contains("shorter than"), "{err}");
}

/// Child half of the SIGKILL test: commits in batches of 10 and reports each commit on stdout.
#[test]
#[ignore = "run by kill_nine_loses_nothing_committed as a child process"]
fn child_writer() {
    let Some(path) = std::env::var_os("PYRT_JOURNAL_CHILD") else {
        return;
    };
    let (mut journal, replay) = Journal::open(PathBuf::from(path).as_path(), 16).unwrap();
    let mut n = replay.records.len() as u64;
    loop {
        for _ in 0..10 {
            n += 1;
            journal.append(&intent(n));
        }
        journal.commit().unwrap();
        println!("committed {n}");
    }
}

#[test]
fn kill_nine_loses_nothing_committed() {
    let path = temp_path("kill9");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_writer",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("PYRT_JOURNAL_CHILD", &path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut last_committed = 0u64;
    while last_committed < 2_000 {
        let line = lines.next().expect("child exited early").unwrap();
        if let Some(n) = line.strip_prefix("committed ") {
            last_committed = n.parse().unwrap();
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Lines the child printed before dying were committed too.
    for line in lines.map_while(Result::ok) {
        if let Some(n) = line.strip_prefix("committed ") {
            last_committed = n.parse().unwrap();
        }
    }
    let (_, replay) = Journal::open(&path, 16).unwrap();
    assert!(
        replay.records.len() as u64 >= last_committed,
        "{} < {last_committed}",
        replay.records.len()
    );
    for (i, (seq, event)) in replay.records.iter().enumerate() {
        assert_eq!(*seq, i as u64 + 1);
        assert_eq!(*event, intent(i as u64 + 1));
    }
}

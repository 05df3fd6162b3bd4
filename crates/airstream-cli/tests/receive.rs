//! `airstream receive` with real senders: a wrong `--output` is refused before anyone
//! streams.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn an_output_in_a_missing_directory_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("missing").join("out.wav");
    let mut child = Command::new(env!("CARGO_BIN_EXE_airstream"))
        .args(["receive", "--no-advertise", "--port", "0", "--output"])
        .arg(&output)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Its first words: the refusal, not "listening on".
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    if first.starts_with("listening on ") {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the receiver started with an --output it cannot write");
    }
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert_eq!(
        first,
        format!(
            "airstream: cannot write {}: there is no directory {}\n",
            output.display(),
            dir.path().join("missing").display()
        )
    );
    assert_eq!(rest, "", "one line");
    assert_eq!(status.code(), Some(18), "unusable input, as the table says");
}

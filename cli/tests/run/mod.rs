//! Running the `pairrm` binary in the CLI's tests.
#![allow(dead_code)]

use serde_json::Value;

/// Runs the `pairrm` CLI with `stdin`: exit status, stdout as JSON lines, stderr.
pub fn run(args: &[&str], stdin: &str) -> (i32, Vec<Value>, String) {
    run_bytes(args, stdin.as_bytes())
}

pub fn run_bytes(args: &[&str], stdin: &[u8]) -> (i32, Vec<Value>, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pairrm"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run pairrm");
    // A process that rejects its arguments exits before reading stdin: a
    // broken pipe here is that, and its status and stderr say the rest.
    use std::io::Write;
    let written = child.stdin.take().unwrap().write_all(stdin);
    if let Err(e) = written {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    let out = child.wait_with_output().unwrap();
    let lines = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("stdout line is JSON"))
        .collect();
    (
        out.status.code().unwrap_or(-1),
        lines,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

//! The multiprocessing lessons run with `--fast`: exit status and key lines.

use std::process::Command;

fn lesson(name: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_gilfree-lab"))
        .args([name, "--fast"])
        .output()
        .expect("run gilfree-lab");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn processes_lesson() {
    let out = lesson("processes");
    assert!(
        out.contains("exitcode                                 Some(0)"),
        "{out}"
    );
    assert!(
        out.contains("exitcode of exit(3)                      Some(3)"),
        "{out}"
    );
    assert!(
        out.contains("exitcode of a panic                      Some(1)"),
        "{out}"
    );
    for m in ["fork", "spawn", "forkserver"] {
        assert!(out.contains(&format!("Process, start method {m}")), "{out}");
    }
    assert!(out.contains("floor: raw fork"), "{out}");
}

#[test]
fn cpu_bound_lesson() {
    let out = lesson("cpu-bound");
    assert!(
        out.contains("primes found (all three agree)           2262"),
        "{out}"
    );
    assert!(
        out.contains("threads") && out.contains("processes"),
        "{out}"
    );
    assert!(out.contains("GIL"), "{out}");
}

#[test]
fn pipe_lesson() {
    let out = lesson("pipe");
    assert!(out.contains("Pipe round trip, 64 B"), "{out}");
    assert!(out.contains("raw socketpair round trip"), "{out}");
    assert!(out.contains("throughput, 64 B messages"), "{out}");
    assert!(out.contains("throughput, 1 MiB messages"), "{out}");
}

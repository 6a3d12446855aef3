//! A pool job that panics prints nothing (Python stays silent until
//! `result()`); its message is on the future. Checked in a child process
//! (this test binary, re-run on one test) whose stderr is read whole.

use std::process::Command;

use gilfree::futures::{Error, ThreadPoolExecutor};

const CHILD: &str = "GILFREE_QUIET_PANIC_CHILD";

/// In the child: a job panics, the future carries the message, and a panic
/// outside any job still reaches the hook (so stderr is not just closed).
#[test]
fn child_panicking_job() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap();
    let f = pool
        .submit(|| -> u32 { panic!("job-panic-marker") })
        .unwrap();
    assert_eq!(f.result(), Err(Error::Panicked("job-panic-marker".into())));
    // The worker survives and its next job runs normally.
    assert_eq!(pool.submit(|| 5).unwrap().result(), Ok(5));
    let outside = std::thread::spawn(|| panic!("outside-panic-marker")).join();
    assert!(outside.is_err());
    eprintln!("child-done-marker");
}

#[test]
fn a_panicking_job_prints_nothing() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_panicking_job",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {stderr}");
    assert!(
        stderr.contains("child-done-marker"),
        "child did not run: {stderr}"
    );
    assert!(
        !stderr.contains("job-panic-marker"),
        "a job's panic was printed: {stderr}"
    );
    // Panics outside pool jobs still go to the hook that was there.
    assert!(stderr.contains("outside-panic-marker"), "{stderr}");
}

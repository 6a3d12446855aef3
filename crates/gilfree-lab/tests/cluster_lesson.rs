//! The cluster lesson: without the `mpi` feature or outside `mpiexec` it
//! prints the command to run and succeeds; with the feature, under
//! `mpiexec -n 3`, it measures the three executors (`--fast`).

use std::process::Command;

fn check(out: std::process::Output, lines: &[&str]) {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    for line in lines {
        assert!(stdout.contains(line), "missing {line:?}:\n{stdout}");
    }
}

#[test]
fn outside_mpiexec_it_prints_the_command() {
    let out = Command::new(env!("CARGO_BIN_EXE_gilfree-lab"))
        .args(["cluster", "--fast"])
        .output()
        .expect("run gilfree-lab");
    check(out, &["mpiexec -n 3 target/release/gilfree-lab cluster"]);
}

#[cfg(feature = "mpi")]
#[test]
fn under_mpiexec_it_measures_three_executors() {
    let out = Command::new("mpiexec")
        .args([
            "-n",
            "3",
            env!("CARGO_BIN_EXE_gilfree-lab"),
            "cluster",
            "--fast",
        ])
        .output()
        .expect("run mpiexec (MPICH)");
    check(
        out,
        &[
            "primes found (all four agree)",
            "ThreadPoolExecutor.map",
            "ProcessPoolExecutor.map",
            "MpiPoolExecutor.map",
            "round trip, MPI rank",
        ],
    );
}

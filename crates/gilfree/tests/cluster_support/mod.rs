//! Starting a test binary as an MPI job, shared by the `cluster*` tests.
// Each test file uses part of it.
#![allow(dead_code)]

use std::ffi::OsString;
use std::process::Command;

/// `mpiexec -n <ranks> <this test binary> <args>`, with `envs` set. MPICH
/// (Hydra) needs no flags; Open MPI as root needs the ones below.
pub fn mpiexec(ranks: usize, args: &[OsString], envs: &[(&str, &str)]) -> Command {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut c = Command::new("mpiexec");
    c.arg("-n").arg(ranks.to_string()).arg(exe).args(args);
    c.env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_rmaps_base_oversubscribe", "1");
    for (k, v) in envs {
        c.env(k, v);
    }
    c
}

/// Run this test binary again as rank 0 of `mpiexec -n <ranks>`, with the
/// same arguments, and exit with its status.
pub fn relaunch(ranks: usize) -> ! {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let status = mpiexec(ranks, &args, &[])
        .status()
        .expect("cannot run mpiexec: install MPICH (scripts/test.sh installs it)");
    std::process::exit(status.code().unwrap_or(1));
}

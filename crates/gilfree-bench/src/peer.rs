//! Peers in another process, served: a long-lived child that is asked to
//! run one sample at a time, so that its samples interleave with the
//! in-process impls' like any other. Two of them:
//!
//! - CPython: `python3` running `python/cpython_peers.py --serve`;
//! - gilfree with deadlock detection on (`deadlock-on/`), a small binary
//!   built with gilfree's `deadlock-detection` feature: a feature cannot be
//!   on and off in one build, so the "on" rows come from another process.
//!
//! The protocol, one line each way:
//! `list` → `shapes IMPL:SHAPE …`; `run IMPL SHAPE N` → `ok NANOSECONDS` or
//! `err MESSAGE`; `quit`.
//!
//! ## CPython
//!
//! The script is compiled into the binary and written to a temporary file
//! at start, so the command works from any directory. It needs only the
//! standard library. When the interpreter can also `import gilfree` (the
//! Python bindings), the script serves the `py_*` shapes too, for impls
//! `gilfree` and `cpython`: gilfree against the stdlib, from Python.
//!
//! The interpreter: `GILFREE_BENCH_PYTHON` if set; else the venv that
//! `scripts/test.sh` builds the bindings into (`target/venv/bin/python`),
//! if it exists; else `python3`. If none starts, the CPython rows are
//! skipped with a note.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

/// The peer script, as in `crates/gilfree-bench/python/`.
pub const SCRIPT: &str = include_str!("../python/cpython_peers.py");

/// A running peer process.
pub struct Peer {
    /// What it is, for notes.
    pub name: String,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    shapes: HashSet<(String, String)>,
    /// `python3 --version`, for the report (Python only).
    pub version: String,
    /// The program.
    pub exe: String,
    /// Where `import gilfree` found the bindings, or why it failed (Python
    /// only).
    pub gilfree: String,
    /// A file to remove once the peer has exited (the Python script, which
    /// multiprocessing's spawn children read again).
    cleanup: Option<std::path::PathBuf>,
    /// A directory to remove once the peer has exited (mpi4py's).
    cleanup_dir: Option<std::path::PathBuf>,
}

/// The interpreter to use (see the module doc).
fn interpreter() -> String {
    if let Ok(p) = std::env::var("GILFREE_BENCH_PYTHON") {
        return p;
    }
    let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/venv/bin/python");
    if std::path::Path::new(venv).is_file() {
        return venv.to_string();
    }
    "python3".to_string()
}

impl Peer {
    /// Start `exe args…` and ask which shapes it has.
    pub fn start(name: &str, exe: &str, args: &[&std::ffi::OsStr]) -> Result<Peer, String> {
        let mut cmd = Command::new(exe);
        cmd.args(args);
        let mut peer = Peer::spawn(name, cmd)?;
        peer.exe = exe.to_string();
        Ok(peer)
    }

    /// Start `cmd` and ask which shapes it has.
    fn spawn(name: &str, mut cmd: Command) -> Result<Peer, String> {
        let what = format!("{:?}", cmd.get_program());
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {what}: {e}"))?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut peer = Peer {
            name: name.to_string(),
            child,
            stdin,
            stdout,
            shapes: HashSet::new(),
            version: String::new(),
            exe: what,
            gilfree: String::new(),
            cleanup: None,
            cleanup_dir: None,
        };
        let line = peer.ask("list")?;
        let names = line
            .strip_prefix("shapes")
            .ok_or_else(|| format!("unexpected answer to `list`: {line:?}"))?;
        peer.shapes = names
            .split_whitespace()
            .filter_map(|id| id.split_once(':'))
            .map(|(i, s)| (i.to_string(), s.to_string()))
            .collect();
        Ok(peer)
    }

    /// Build (if needed: cargo does nothing when it is fresh) and start the
    /// `deadlock-on/` peer: gilfree with its `deadlock-detection` feature.
    /// It gets its own target directory, `target/bench-deadlock-on`, so
    /// that building it never waits on, or evicts, the workspace's build.
    pub fn deadlock_on() -> Result<Peer, String> {
        let here = env!("CARGO_MANIFEST_DIR");
        let manifest = format!("{here}/deadlock-on/Cargo.toml");
        let target = format!("{here}/../../target/bench-deadlock-on");
        let cargo = std::env::var("CARGO")
            .ok()
            .or_else(|| option_env!("CARGO").map(String::from))
            .unwrap_or_else(|| "cargo".into());
        eprintln!("building the deadlock-detection peer (gilfree --features deadlock-detection)…");
        let status = Command::new(&cargo)
            .args(["build", "--release", "--quiet", "--manifest-path"])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target)
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run {cargo}: {e}"))?;
        if !status.success() {
            return Err(format!("building {manifest} failed ({status})"));
        }
        let exe = format!("{target}/release/gilfree-bench-deadlock-on");
        Peer::start("gilfree with deadlock detection", &exe, &[])
    }

    /// Start the interpreter on the CPython peer script.
    pub fn python() -> Result<Peer, String> {
        let exe = interpreter();
        let path = std::env::temp_dir().join(format!(
            "gilfree-bench-cpython-peers-{}.py",
            std::process::id()
        ));
        std::fs::write(&path, SCRIPT).map_err(|e| format!("writing {}: {e}", path.display()))?;
        let started = Peer::start(
            "CPython",
            &exe,
            &["-u".as_ref(), path.as_os_str(), "--serve".as_ref()],
        );
        // Kept while the interpreter runs: multiprocessing's spawn and
        // forkserver children run the script again.
        let mut py = match started {
            Ok(p) => p,
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                return Err(e);
            }
        };
        py.cleanup = Some(path);
        let status = py.ask("gilfree")?;
        py.gilfree = status
            .strip_prefix("gilfree ")
            .unwrap_or(&status)
            .to_string();
        py.version = Command::new(&exe)
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        Ok(py)
    }

    /// Start mpi4py's peer (the `cluster_*` shapes): the peer script under
    /// `mpiexec -n RANKS PYTHON -m mpi4py.futures` (as many ranks as our own
    /// job, so both drive the same number of servers), as its own MPI job, with
    /// the MPI variables of ours removed (a job started from inside a job
    /// would otherwise try to join it). PYTHON is
    /// `GILFREE_BENCH_MPI4PY_PYTHON`, else `target/venv-mpi4py/bin/python`
    /// if it exists, else the CPython peer's interpreter; it needs `pip
    /// install mpi4py`. mpi4py's wheel loads `libmpi.so.12`; for MPICH it
    /// is told so (`MPI4PY_MPIABI=mpich`) and given that name for
    /// `libmpich.so.12` in a temporary directory on `LD_LIBRARY_PATH`.
    #[cfg(feature = "mpi")]
    pub fn mpi4py(ranks: usize) -> Result<Peer, String> {
        let venv = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../target/venv-mpi4py/bin/python"
        );
        let exe = std::env::var("GILFREE_BENCH_MPI4PY_PYTHON").unwrap_or_else(|_| {
            if std::path::Path::new(venv).is_file() {
                venv.to_string()
            } else {
                interpreter()
            }
        });
        let dir = std::env::temp_dir().join(format!("gilfree-bench-mpi4py-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let script = dir.join("cpython_peers.py");
        std::fs::write(&script, SCRIPT)
            .map_err(|e| format!("writing {}: {e}", script.display()))?;
        let mpich = "/usr/lib/x86_64-linux-gnu/libmpich.so.12";
        if std::path::Path::new(mpich).exists() {
            let _ = std::os::unix::fs::symlink(mpich, dir.join("libmpi.so.12"));
        }
        let ld = match std::env::var("LD_LIBRARY_PATH") {
            Ok(old) if !old.is_empty() => format!("{}:{old}", dir.display()),
            _ => dir.display().to_string(),
        };
        let mut cmd = Command::new("mpiexec");
        cmd.args(["-n", &ranks.to_string(), &exe, "-u", "-m", "mpi4py.futures"])
            .arg(&script)
            .args(["--serve", "--mpi4py"])
            .env("LD_LIBRARY_PATH", ld)
            .env("MPI4PY_MPIABI", "mpich");
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if ["PMI_", "PMIX_", "HYDRA_", "MPI_LOCAL", "MPIR_", "OMPI_"]
                .iter()
                .any(|p| k.starts_with(p))
            {
                cmd.env_remove(k.as_ref());
            }
        }
        let mut peer = Peer::spawn("mpi4py", cmd)?;
        peer.exe = exe;
        peer.cleanup_dir = Some(dir);
        Ok(peer)
    }

    /// The impls the script has for `shape` (`cpython`, maybe `gilfree`).
    pub fn impls(&self, shape: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .shapes
            .iter()
            .filter(|(_, s)| s == shape)
            .map(|(i, _)| i.clone())
            .collect();
        v.sort();
        v
    }

    /// Whether the script has any shape for `imp`.
    pub fn has_impl(&self, imp: &str) -> bool {
        self.shapes.iter().any(|(i, _)| i == imp)
    }

    /// Run `n` operations of `imp`'s `shape` in the interpreter; its own
    /// clock (`perf_counter_ns`) times them, so the pipe costs nothing.
    pub fn run(&mut self, imp: &str, shape: &str, n: u64) -> Result<Duration, String> {
        let line = self.ask(&format!("run {imp} {shape} {n}"))?;
        match line.split_once(' ') {
            Some(("ok", ns)) => ns
                .trim()
                .parse::<u64>()
                .map(Duration::from_nanos)
                .map_err(|e| format!("bad answer {line:?}: {e}")),
            Some(("err", msg)) => Err(format!("python: {msg}")),
            _ => Err(format!("unexpected answer {line:?}")),
        }
    }

    fn ask(&mut self, cmd: &str) -> Result<String, String> {
        writeln!(self.stdin, "{cmd}")
            .and_then(|()| self.stdin.flush())
            .map_err(|e| format!("{} peer gone: {e}", self.name))?;
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) => Err(format!("{} peer exited", self.name)),
            Ok(_) => Ok(line.trim_end().to_string()),
            Err(e) => Err(format!("reading from {} peer: {e}", self.name)),
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        let _ = self.child.wait();
        if let Some(p) = &self.cleanup {
            let _ = std::fs::remove_file(p);
        }
        if let Some(d) = &self.cleanup_dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

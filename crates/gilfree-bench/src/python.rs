//! CPython as a peer: one long-lived `python3` process running
//! `python/cpython_peers.py --serve`, asked to run one sample at a time, so
//! that CPython's samples interleave with the Rust impls' like any other.
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
pub struct Python {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    shapes: HashSet<(String, String)>,
    /// `python3 --version`, for the report.
    pub version: String,
    /// The interpreter.
    pub exe: String,
    /// Where `import gilfree` found the bindings, or why it failed.
    pub gilfree: String,
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

impl Python {
    /// Start the interpreter on the peer script and ask which shapes it has.
    pub fn start() -> Result<Python, String> {
        let exe = interpreter();
        let path = std::env::temp_dir().join(format!(
            "gilfree-bench-cpython-peers-{}.py",
            std::process::id()
        ));
        std::fs::write(&path, SCRIPT).map_err(|e| format!("writing {}: {e}", path.display()))?;
        let spawned = Command::new(&exe)
            .arg("-u")
            .arg(&path)
            .arg("--serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                return Err(format!("cannot start {exe}: {e}"));
            }
        };
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut py = Python {
            child,
            stdin,
            stdout,
            shapes: HashSet::new(),
            version: String::new(),
            exe: exe.clone(),
            gilfree: String::new(),
        };
        let listed = py.ask("list");
        // The interpreter has read the script once it answers.
        let _ = std::fs::remove_file(&path);
        let line = listed?;
        let names = line
            .strip_prefix("shapes")
            .ok_or_else(|| format!("unexpected answer to `list`: {line:?}"))?;
        py.shapes = names
            .split_whitespace()
            .filter_map(|id| id.split_once(':'))
            .map(|(i, s)| (i.to_string(), s.to_string()))
            .collect();
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
            .map_err(|e| format!("python peer gone: {e}"))?;
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) => Err("python peer exited".into()),
            Ok(_) => Ok(line.trim_end().to_string()),
            Err(e) => Err(format!("reading from python peer: {e}")),
        }
    }
}

impl Drop for Python {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        let _ = self.child.wait();
    }
}

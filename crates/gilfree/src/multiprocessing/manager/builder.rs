//! [`ManagerBuilder`]: the options of a new manager's server (address,
//! auth key, start method) and starting it, in a process or a thread.

use super::client::{Addr, Client};
use super::error::{Error, Result};
use super::handle::{Manager, Owned};
use super::launch::{bind, random_key, run_server};
use super::server;
use crate::multiprocessing::builder::get_context;
use crate::multiprocessing::connection::Address;
use crate::multiprocessing::connection::Pipe;
use crate::multiprocessing::method::{StartMethod, get_start_method};

/// Options of [`Manager::builder`]: address, auth key, start method
/// (Python's `Manager(address=, authkey=)` and `ctx.Manager()`).
///
/// ```no_run
/// use gilfree::multiprocessing::{Manager, StartMethod};
/// let m = Manager::builder()
///     .address("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap())
///     .authkey(b"secret")
///     .start_method(StartMethod::Spawn)
///     .start()
///     .unwrap();
/// ```
#[derive(Debug, Default, Clone)]
pub struct ManagerBuilder {
    address: Option<Address>,
    authkey: Option<Vec<u8>>,
    method: Option<StartMethod>,
}

impl ManagerBuilder {
    /// Listen here (a Unix socket path or TCP address; TCP port 0 picks
    /// one). Default: a private Unix socket.
    ///
    /// ```
    /// let b = gilfree::multiprocessing::Manager::builder().address(std::path::PathBuf::from("/tmp/x.sock"));
    /// ```
    pub fn address(mut self, a: impl Into<Address>) -> Self {
        self.address = Some(a.into());
        self
    }

    /// The auth key clients must know. Default: 32 random bytes.
    ///
    /// ```
    /// let b = gilfree::multiprocessing::Manager::builder().authkey(b"secret");
    /// ```
    pub fn authkey(mut self, key: &[u8]) -> Self {
        self.authkey = Some(key.to_vec());
        self
    }

    /// The start method of the server process. Default: the program's.
    ///
    /// ```
    /// use gilfree::multiprocessing::{Manager, StartMethod};
    /// let b = Manager::builder().start_method(StartMethod::Fork);
    /// ```
    pub fn start_method(mut self, m: StartMethod) -> Self {
        self.method = Some(m);
        self
    }

    /// Start the server process and wait until it listens.
    ///
    /// ```no_run
    /// let m = gilfree::multiprocessing::Manager::builder().start().unwrap();
    /// ```
    pub fn start(self) -> Result<Manager> {
        let authkey = match self.authkey {
            Some(k) => k,
            None => random_key()?,
        };
        let ctx = get_context(self.method.unwrap_or_else(get_start_method));
        let (mine, theirs) = Pipe(true)?;
        let process = ctx.builder().name("gilfree-manager").daemon(true).target(
            run_server::TASK,
            (
                self.address.as_ref().map(Addr::from),
                authkey.clone(),
                theirs,
            ),
        )?;
        process.start()?;
        let addr = match mine.recv::<std::result::Result<Addr, String>>() {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => {
                let _ = process.join();
                return Err(Error::Protocol(format!(
                    "the manager's server could not listen: {e}"
                )));
            }
            Err(e) => {
                let _ = process.kill();
                let _ = process.join();
                return Err(e.into());
            }
        };
        Ok(Manager {
            client: Client::shared(addr.into(), authkey),
            owned: Owned::Process {
                process,
                ctl: mine,
                pid: std::process::id() as i32,
            },
        })
    }

    /// Run the server on a thread of this process instead (handy in tests
    /// and examples; the server lives until the process exits, and its
    /// socket is removed when the returned [`Manager`] is dropped, so new
    /// connections, e.g. from children, need the handle alive).
    ///
    /// ```
    /// let m = gilfree::multiprocessing::Manager::builder().start_in_thread().unwrap();
    /// ```
    pub fn start_in_thread(self) -> Result<Manager> {
        let authkey = match self.authkey {
            Some(k) => k,
            None => random_key()?,
        };
        let l = bind(self.address, &authkey)?;
        let address = l.address().clone();
        std::thread::Builder::new()
            .name("gilfree-manager".into())
            .spawn(move || server::serve(l))
            .map_err(crate::multiprocessing::error::Error::Io)?;
        Ok(Manager {
            client: Client::shared(address, authkey),
            owned: Owned::Thread {
                pid: std::process::id() as i32,
            },
        })
    }
}

/// The constructors that start from a [`ManagerBuilder`] live beside it,
/// so the handle does not depend on its builder.
impl Manager {
    /// Python's `Manager()`: start a server process with the default
    /// options (see [`ManagerBuilder`]).
    ///
    /// ```no_run
    /// let m = gilfree::multiprocessing::Manager::start().unwrap();
    /// let l = m.list::<i32>().unwrap();
    /// ```
    pub fn start() -> Result<Manager> {
        ManagerBuilder::default().start()
    }

    /// Options for a new server.
    ///
    /// ```
    /// let b = gilfree::multiprocessing::Manager::builder();
    /// ```
    pub fn builder() -> ManagerBuilder {
        ManagerBuilder::default()
    }

    /// A server on a thread of this process (see
    /// [`ManagerBuilder::start_in_thread`]).
    ///
    /// ```
    /// let m = gilfree::multiprocessing::Manager::start_in_thread().unwrap();
    /// ```
    pub fn start_in_thread() -> Result<Manager> {
        ManagerBuilder::default().start_in_thread()
    }
}

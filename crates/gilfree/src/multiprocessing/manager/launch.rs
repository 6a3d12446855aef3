//! How a manager's server comes to be: the task its process runs
//! ([`run_server`]), a private Unix socket for it, binding its listener,
//! and a random auth key.

use std::path::PathBuf;

use super::client::Addr;
use super::error::Result;
use super::server;
use crate::multiprocessing::connection::{Address, Connection, Listener};

/// A manager's server runs this task: bind, report the address on `ctl`,
/// serve until `ctl` says stop or ends (the [`Manager`](super::Manager) was shut down or
/// its process died; under the fork start method, a copy of the parent's
/// end may live on in other children, so shutdown also sends a message),
/// then remove the socket and exit.
#[gilfree::task]
pub(super) fn run_server(address: Option<Addr>, authkey: Vec<u8>, ctl: Connection) {
    let bound = bind(address.map(Into::into), &authkey);
    let listener = match bound {
        Ok(l) => l,
        Err(e) => {
            let _ = ctl.send(&Err::<Addr, String>(e.to_string()));
            return;
        }
    };
    let addr = Addr::from(listener.address());
    if ctl.send(&Ok::<Addr, String>(addr.clone())).is_err() {
        return;
    }
    std::thread::Builder::new()
        .name("gilfree-manager-ctl".into())
        .spawn(move || {
            // Anything, or the end of stream, means stop.
            let _ = ctl.recv_bytes();
            if let Addr::Unix(p) = addr {
                remove_socket(&p);
            }
            std::process::exit(0);
        })
        .expect("a thread for the manager's control connection");
    if let Err(e) = server::serve(listener) {
        eprintln!("gilfree manager[{}]: stopped: {e}", std::process::id());
        std::process::exit(1);
    }
}

/// A fresh private Unix socket path: a directory of mode 0700 made for it.
fn private_socket() -> Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let rand = crate::sys::os::system::random_bytes(8)
        .map_err(crate::multiprocessing::error::Error::Io)?;
    let hex: String = rand.iter().map(|b| format!("{b:02x}")).collect();
    let dir = std::env::temp_dir().join(format!("gilfree-manager-{}-{hex}", std::process::id()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(crate::multiprocessing::error::Error::Io)?;
    Ok(dir.join("socket"))
}

/// Remove a socket made by [`private_socket`], and its directory.
pub(super) fn remove_socket(p: &std::path::Path) {
    let _ = std::fs::remove_file(p);
    if let Some(d) = p.parent()
        && d.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("gilfree-manager-"))
    {
        let _ = std::fs::remove_dir(d);
    }
}

/// Bind a listener (a private Unix socket when no address is given); a
/// Unix socket gets mode 0600.
pub(super) fn bind(address: Option<Address>, authkey: &[u8]) -> Result<Listener> {
    use std::os::unix::fs::PermissionsExt;
    let address = match address {
        Some(a) => a,
        None => Address::Unix(private_socket()?),
    };
    let l = Listener::bind(address, Some(authkey))?;
    if let Address::Unix(p) = l.address() {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600))
            .map_err(crate::multiprocessing::error::Error::Io)?;
    }
    Ok(l)
}

/// A random auth key (Python's `os.urandom(32)` process auth key).
pub(super) fn random_key() -> Result<Vec<u8>> {
    Ok(crate::sys::os::system::random_bytes(32)
        .map_err(crate::multiprocessing::error::Error::Io)?)
}

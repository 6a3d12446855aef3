//! The manager's server: an accept loop that hands every connection to a
//! thread of its own, which authenticates it (within the listener's auth
//! timeout, off the accept loop), then reads requests and answers them
//! until the connection ends. A frame that is oversized, truncated or does
//! not decode as a request closes that connection with a logged error; the
//! server goes on. A connection's end releases the locks it held.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use super::objects::Object;
use super::protocol::{Fault, Op, Reply, Request};
use super::state::Caller;
use crate::multiprocessing::codec;
use crate::multiprocessing::connection::{Connection, Listener};
use crate::multiprocessing::error::Error as MpError;
use crate::sys::Deadline;
use crate::threading::Lock;

/// The largest request a server reads; a larger announced length closes
/// the connection before anything is allocated.
pub(crate) const MAX_REQUEST: usize = 256 << 20;

/// Write one line to the server's log (standard error).
macro_rules! log {
    ($($t:tt)*) => { eprintln!("gilfree manager[{}]: {}", std::process::id(), format_args!($($t)*)) };
}

/// Every object of one server, by id.
#[derive(Default)]
pub(crate) struct Table {
    objects: Lock<HashMap<u64, Arc<Object>>>,
    next_obj: AtomicU64,
    next_conn: AtomicU64,
}

impl Table {
    /// Answer one request.
    fn call(&self, req: Request, c: Caller, alive: &dyn Fn() -> bool) -> Reply {
        if let Op::Create(kind) = req.op {
            let obj = Arc::new(Object::new(kind)?);
            let id = self.next_obj.fetch_add(1, Relaxed) + 1;
            self.objects.acquire().insert(id, obj);
            return Ok(super::protocol::Out::Int(id));
        }
        if let Op::Ping = req.op {
            return Ok(super::protocol::Out::Unit);
        }
        let obj = self.objects.acquire().get(&req.obj).cloned();
        match obj {
            Some(o) => o.call(req.op, c, alive),
            None => Err(Fault::NoSuchObject(req.obj)),
        }
    }

    /// A connection ended: release the locks it held.
    fn release_conn(&self, conn: u64) {
        let objs: Vec<_> = self.objects.acquire().values().cloned().collect();
        for o in objs {
            if o.release_conn(conn) {
                log!("connection {conn} closed holding a lock: released");
            }
        }
    }
}

/// Accept connections for ever, each on its own thread. Returns only if
/// accepting itself fails persistently.
pub(crate) fn serve(listener: Listener) -> Result<(), MpError> {
    let listener = Arc::new(listener);
    let table = Arc::new(Table::default());
    let mut failures = 0;
    loop {
        let c = match listener.accept_unauthenticated() {
            Ok(c) => {
                failures = 0;
                c
            }
            Err(e) => {
                // EMFILE and friends pass; a listener that keeps failing is broken.
                log!("accept failed: {e}");
                failures += 1;
                if failures > 100 {
                    return Err(e);
                }
                std::thread::yield_now();
                continue;
            }
        };
        let (l, t) = (listener.clone(), table.clone());
        let spawned = std::thread::Builder::new()
            .name("gilfree-manager-conn".into())
            .spawn(move || serve_conn(&l, &t, c));
        if let Err(e) = spawned {
            log!("cannot start a thread for a connection: {e}");
        }
    }
}

/// One connection: authenticate, then request, reply, until it ends.
fn serve_conn(listener: &Listener, table: &Table, c: Connection) {
    if let Err(e) = listener.authenticate(&c) {
        log!("connection rejected: {e}");
        return;
    }
    c.set_max_message_size(MAX_REQUEST);
    let conn = table.next_conn.fetch_add(1, Relaxed) + 1;
    loop {
        let bytes = match c.recv_frame(Deadline::Never) {
            // Descriptors have no meaning here: dropping them closes them.
            Ok((b, _fds)) => b,
            Err(MpError::Eof) => break,
            Err(e) => {
                log!("connection {conn} closed: {e}");
                break;
            }
        };
        let req: Request = match codec::from_bytes(&bytes) {
            Ok(r) => r,
            Err(reason) => {
                log!("connection {conn} closed: malformed request: {reason}");
                break;
            }
        };
        let caller = Caller {
            thread: req.caller,
            conn,
        };
        // One request at a time: anything readable while it runs is the
        // end of the connection (or a client breaking the protocol).
        let alive = || matches!(c.poll(Duration::ZERO), Ok(false));
        let reply = table.call(req, caller, &alive);
        let sent = postcard::to_allocvec(&reply)
            .map_err(|e| MpError::encode("a reply", e))
            .and_then(|b| c.send_bytes(&b));
        if let Err(e) = sent {
            log!("connection {conn} closed: cannot reply: {e}");
            break;
        }
    }
    table.release_conn(conn);
}

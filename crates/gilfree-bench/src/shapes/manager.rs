//! Manager proxies (issue 19): a managed dict's set + get, and a managed
//! queue's put + get of 64 B, each one op = two proxy calls.
//!
//! Impls: `gilfree` (a `Manager` server process, default start method),
//! `raw` (the floor: two gilfree `Pipe` round trips of 64 B to a child, as
//! a proxy call cannot take less than one round trip to another process),
//! and CPython's `multiprocessing.Manager()`.

use std::cell::RefCell;
use std::time::Instant;

use gilfree::multiprocessing::Manager;

use super::process::GilfreePipe;
use crate::harness::{Bench, Sizes, case};

/// Both manager rows.
pub fn manager_rows(b: &mut Bench) {
    let wanted = ["manager_dict_set_get", "manager_queue_64b"];
    if !wanted.iter().any(|s| b.wants(s)) {
        return;
    }
    let made = Manager::start().and_then(|m| {
        let d = m.dict::<u64, u64>()?;
        let q = m.queue::<Vec<u8>>(0)?;
        Ok((m, d, q))
    });
    let (_m, d, q) = match made {
        Ok(x) => x,
        Err(e) => {
            b.note(format!("manager rows skipped: {e}"));
            return;
        }
    };
    let floor = match GilfreePipe::start() {
        Ok(p) => RefCell::new(p),
        Err(e) => {
            b.note(format!("manager rows skipped (no pipe floor): {e}"));
            return;
        }
    };
    b.compare(
        "manager_dict_set_get",
        Sizes::HANDOFF,
        vec![
            case("gilfree", |n| {
                let t = Instant::now();
                for i in 0..n {
                    d.set(&7, &i).expect("set");
                    assert_eq!(d.get(&7).expect("get"), Some(i));
                }
                t.elapsed()
            }),
            case("raw", |n| floor.borrow_mut().round_trips(2 * n)),
        ],
    );
    let msg = vec![1u8; 64];
    b.compare(
        "manager_queue_64b",
        Sizes::HANDOFF,
        vec![
            case("gilfree", |n| {
                let t = Instant::now();
                for _ in 0..n {
                    q.put(&msg).expect("put");
                    assert_eq!(q.get().expect("get").len(), 64);
                }
                t.elapsed()
            }),
            case("raw", |n| floor.borrow_mut().round_trips(2 * n)),
        ],
    );
}

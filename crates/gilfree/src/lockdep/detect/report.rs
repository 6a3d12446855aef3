//! What a lock-order report says: `LockInfo`, `OrderEdge`,
//! `PotentialDeadlock`, and how each prints.

use std::fmt;
use std::panic::Location;

/// A lock as the detector names it: `Lock#3`. No Python equivalent.
///
/// ```
/// use gilfree::threading::Lock;
/// gilfree::deadlock::set_mode(gilfree::deadlock::Mode::Warn);
/// let (a, b) = (Lock::new(()), Lock::new(()));
/// { let _a = a.acquire(); let _b = b.acquire(); }
/// { let _b = b.acquire(); let _a = a.acquire(); }
/// let report = gilfree::deadlock::reports().pop().unwrap();
/// assert_eq!(report.cycle[0].from.kind, "Lock");
/// assert!(report.cycle[0].from.to_string().starts_with("Lock#"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LockInfo {
    /// The lock's id: given at its first acquisition, never reused.
    pub id: u64,
    /// `"Lock"`, `"RLock"`, `"Condition"`.
    pub kind: &'static str,
}

impl fmt::Display for LockInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.kind, self.id)
    }
}

/// One edge of the lock-order graph: `thread` acquired `to` at
/// `acquired_at` while holding `from` (acquired at `held_at`). No Python
/// equivalent.
///
/// ```
/// use gilfree::threading::Lock;
/// let (a, b) = (Lock::new(()), Lock::new(()));
/// let _a = a.acquire();
/// let _b = b.acquire(); // records the edge a -> b
/// assert!(gilfree::deadlock::to_dot().contains("->"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderEdge {
    /// The lock that was held.
    pub from: LockInfo,
    /// The lock that was acquired.
    pub to: LockInfo,
    /// The acquiring thread's name (`<unnamed ThreadId(n)>` if it has none).
    pub thread: String,
    /// Where `from` had been acquired.
    pub held_at: &'static Location<'static>,
    /// Where `to` was acquired.
    pub acquired_at: &'static Location<'static>,
}

impl fmt::Display for OrderEdge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "thread '{}' acquired {} at {} while holding {} (acquired at {})",
            self.thread, self.to, self.acquired_at, self.from, self.held_at
        )
    }
}

/// A potential deadlock: a cycle in the lock-order graph. Python has none
/// (this is Linux lockdep's "possible circular locking dependency").
///
/// `cycle[0]` is the acquisition that closed the cycle (the one reported,
/// before it blocked); the others are the earlier acquisitions it
/// conflicts with, in cycle order, so `cycle[i].to == cycle[i + 1].from`.
///
/// ```
/// use gilfree::deadlock::{Mode, reports, set_mode};
/// use gilfree::threading::Lock;
///
/// set_mode(Mode::Warn);
/// let (a, b) = (Lock::new(()), Lock::new(()));
/// { let _a = a.acquire(); let _b = b.acquire(); }
/// { let _b = b.acquire(); let _a = a.acquire(); } // reported, no hang
/// let r = reports().pop().unwrap();
/// assert_eq!(r.cycle.len(), 2);
/// println!("{r}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PotentialDeadlock {
    /// The edges of the cycle, the closing one first.
    pub cycle: Vec<OrderEdge>,
}

impl fmt::Display for PotentialDeadlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "gilfree: potential deadlock (lock-order inversion), reported before blocking:"
        )?;
        for (i, e) in self.cycle.iter().enumerate() {
            if i == 0 {
                writeln!(
                    f,
                    "  thread '{}' is acquiring {} at {}\n    while holding {} (acquired at {})",
                    e.thread, e.to, e.acquired_at, e.from, e.held_at
                )?;
            } else {
                writeln!(
                    f,
                    "  but thread '{}' acquired {} at {}\n    while holding {} (acquired at {})",
                    e.thread, e.to, e.acquired_at, e.from, e.held_at
                )?;
            }
        }
        write!(f, "  cycle: ")?;
        for e in &self.cycle {
            write!(f, "{} -> ", e.from)?;
        }
        match self.cycle.first() {
            Some(e) => write!(f, "{}", e.from),
            None => Ok(()),
        }
    }
}

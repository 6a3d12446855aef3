//! What the queue core moves items through: the [`Buffer`] trait and its
//! non-blocking outcomes. A buffer never blocks; `core` does the waiting.
//! Implemented by the lock-free ring (`ring`) and by containers behind a
//! lock (`locked`).

/// Why a push failed; the item comes back.
pub(crate) enum Push<T> {
    Full(T),
    Closed(T),
}

/// What a pop found.
pub(crate) enum Pop<T> {
    Item(T),
    Empty,
    /// Closed and empty: nothing will ever come.
    Closed,
}

/// Where the items live. Never blocks; the core does the waiting.
pub(crate) trait Buffer<T>: Send + Sync {
    fn try_push(&self, value: T) -> Result<(), Push<T>>;
    fn try_pop(&self) -> Pop<T>;
    /// Refuse every later push; returns whether this call closed it.
    fn close(&self) -> bool;
    fn is_closed(&self) -> bool;
    fn len(&self) -> usize;
    /// The bound: 0 for unbounded.
    fn capacity(&self) -> usize;
    /// Change the bound (0: unbounded); `Err(largest)` if this buffer
    /// cannot take it (a ring cannot grow past its slots, nor become
    /// unbounded). Items already in are kept: a lower bound refuses pushes
    /// until the buffer drains below it.
    fn set_capacity(&self, cap: usize) -> Result<(), usize>;
    /// Whether every successful push and pop is made by a `SeqCst`
    /// read-modify-write that the other side's `try_pop` / `try_push` reads
    /// after a `SeqCst` fence before it says `Empty` / `Full` (waiting, not
    /// failing, for a claimed slot whose value is not written yet). Then the
    /// core may wake the other side with `EventCount::notify_sc` (no fence).
    fn handoff_sc(&self) -> bool {
        false
    }
    /// Whether [`puts`](Self::puts) gives a count: then the core derives
    /// Python's `unfinished_tasks` from it and pays nothing per put.
    #[inline]
    fn counts_puts(&self) -> bool {
        false
    }
    /// How many pushes have succeeded so far (monotonic, counting a push
    /// from its claim, so an item that any pop has returned is counted),
    /// if this buffer keeps such a count; `Some` exactly when
    /// [`counts_puts`](Self::counts_puts).
    #[inline]
    fn puts(&self) -> Option<usize> {
        None
    }
    /// A number of pushes already made (at most [`puts`](Self::puts),
    /// possibly stale), where that is cheaper to read than `puts`; 0 if
    /// the buffer keeps no such number.
    #[inline]
    fn puts_at_least(&self) -> usize {
        0
    }
}

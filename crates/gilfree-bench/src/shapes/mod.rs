//! The shapes, one function each, with every impl inside. To add a row for
//! a gilfree type, add a `case("gilfree", …)` to its shape's list; to add a
//! shape, write a function and call it from [`all`].

pub mod aio;
#[cfg(feature = "mpi")]
pub mod cluster;
pub mod cpu;
pub mod deadlock;
pub mod deadlock_work;
pub mod executor;
pub mod lock;
pub mod manager;
pub mod mp_queue;
pub mod pool;
pub mod primitives;
pub mod process;
pub mod python_side;
pub mod queue;
pub mod scale;
pub mod shared;

use crate::harness::Bench;

/// Every shape, in table order.
pub fn all(b: &mut Bench) {
    // Process shapes first, while this process is small: fork copies the
    // parent's page tables, so after the executor shapes have grown the heap
    // (rayon's per-task channels peak near 1 GB) a fork costs tens of ms.
    process::process_start(b);
    process::pipes(b);
    mp_queue::mp_queue_rows(b);
    manager::manager_rows(b);
    pool::pool_rows(b);
    #[cfg(feature = "mpi")]
    cluster::cluster_rows(b);
    shared::mp_lock_contended_2p(b);
    lock::lock_uncontended(b);
    lock::lock_contended_2t(b);
    shared::mp_lock_uncontended(b);
    shared::value_increment(b);
    primitives::rlock_reacquire(b);
    primitives::semaphore_acquire_release(b);
    primitives::event_pingpong(b);
    primitives::condition_pingpong(b);
    queue::queue_bounded_1p1c(b);
    queue::queue_bounded_2p2c(b);
    queue::queue_unbounded_1p1c(b);
    queue::queue_taskdone(b);
    queue::queue_async_bounded_1p1c(b);
    executor::executor_submit_result(b);
    executor::executor_map(b);
    executor::executor_map_lazy(b);
    executor::executor_as_completed(b);
    aio::aio_semaphore_uncontended(b);
    aio::aio_semaphore_contended_4t(b);
    aio::aio_fanout_10k(b);
    cpu::cpu_sequential(b);
    cpu::cpu_threads(b);
    scale::scale_rows(b);
    deadlock::deadlock_rows(b);
    python_side::py_rows(b);
}

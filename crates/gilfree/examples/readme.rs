//! The README's example, kept compiling.
use gilfree::futures::ThreadPoolExecutor;
use gilfree::queue::Queue;

fn main() {
    let q = Queue::new(16);
    let pool = ThreadPoolExecutor::new();
    let f = pool.submit(move || 6 * 7).unwrap(); // Err after shutdown
    q.put(f.into_result().unwrap()).unwrap();
    assert_eq!(q.get().unwrap(), 42);
    println!("42 came through the pool and the queue");
}

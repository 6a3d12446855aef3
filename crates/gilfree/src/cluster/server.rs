//! A server rank (1..N-1): its main thread is its one communication thread.
//! It polls rank 0 with backoff, runs each batch it receives with the pool
//! workers' batch runner, and sends the reply back, until rank 0 says
//! stop. Messages from rank 0 arrive in the order they were sent (MPI
//! does not let messages between two ranks overtake each other), so a stop
//! comes after every batch sent before it.

use mpi::point_to_point::{Destination, MatchedReceiveVec, Source};
use mpi::topology::{Communicator, SimpleCommunicator};

use super::backoff::Backoff;
use super::{DONE, RUN, STOP};
use crate::multiprocessing::pool::worker::Answer;

/// Serve rank 0 until it says stop.
pub(super) fn serve(world: &SimpleCommunicator) {
    let root = world.process_at_rank(0);
    let mut backoff = Backoff::new();
    let mut answer = Answer::default();
    loop {
        let Some(probed) = root.immediate_matched_probe() else {
            if !backoff.spin() {
                std::thread::sleep(backoff.next_sleep());
            }
            continue;
        };
        backoff.reset();
        let (frame, status) = probed.matched_receive_vec::<u8>();
        match status.tag() {
            RUN => match answer.run(&frame) {
                Ok(reply) => root.send_with_tag(reply, DONE),
                Err(why) => {
                    // Rank 0 encoded it: a bug, or two different binaries.
                    eprintln!("gilfree cluster rank {}: {why}", world.rank());
                    world.abort(70);
                }
            },
            STOP => return,
            tag => {
                eprintln!(
                    "gilfree cluster rank {}: unexpected tag {tag}",
                    world.rank()
                );
                world.abort(70);
            }
        }
    }
}

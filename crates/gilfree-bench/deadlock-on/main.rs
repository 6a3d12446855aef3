//! gilfree with deadlock detection on, serving the `deadlock_*` shapes to
//! `gilfree-bench` as impl `gilfree_deadlock` (protocol: see the bench's
//! `src/peer.rs`). The work is the bench's own `deadlock_work.rs`.

use std::io::{BufRead, Write};

#[path = "../src/shapes/deadlock_work.rs"]
mod work;

const IMPL: &str = "gilfree_deadlock";

fn main() {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let parts: Vec<&str> = line.split_whitespace().collect();
        let answer = match parts.as_slice() {
            ["quit"] => break,
            ["list"] => {
                let ids: Vec<String> = work::SHAPES
                    .iter()
                    .map(|(s, _, _)| format!("{IMPL}:{s}"))
                    .collect();
                format!("shapes {}", ids.join(" "))
            }
            ["run", IMPL, shape, n] => match (
                work::SHAPES.iter().find(|(s, _, _)| s == shape),
                n.parse::<u64>(),
            ) {
                (Some((_, f, _)), Ok(n)) => format!("ok {}", f(n).as_nanos()),
                _ => format!("err bad request {line:?}"),
            },
            _ => format!("err unknown command {line:?}"),
        };
        if writeln!(out, "{answer}").and_then(|()| out.flush()).is_err() {
            break;
        }
    }
}

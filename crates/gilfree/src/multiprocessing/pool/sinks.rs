//! The sinks of `Pool`'s calls: where the outcomes of an `apply_async`
//! call or of a `map_async` chunk go when their batch is done.

use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::core::{Failure, Sink};
use super::result::{AsyncResult, Callbacks};
use super::wire::Outcomes;
use super::{decode_outcome, decode_result};
use crate::multiprocessing::error::Error;
use crate::threading::Lock;

/// One call: `apply_async`.
pub(super) struct ApplySink<R> {
    pub(super) task: &'static str,
    pub(super) result: AsyncResult<R>,
    pub(super) cb: Callbacks<R>,
}

impl<R: DeserializeOwned + Send> Sink for ApplySink<R> {
    fn done(self: Box<Self>, r: std::result::Result<Outcomes<'_>, Failure>) {
        let v = match r {
            Ok(o) => match o.single() {
                Some(x) => decode_outcome(self.task, x),
                None => Err(Error::Value(
                    "a reply with the wrong number of results".into(),
                )),
            },
            Err(f) => Err(f.into()),
        };
        self.result.set(v, self.cb);
    }
}

/// The state of one `map_async`, shared by its chunks' sinks. The first
/// failure completes the map (as Python's `MapResult`); later chunks are
/// ignored.
pub(super) struct MapState<R> {
    /// Each chunk's results, in input order, once it is done.
    pub(super) chunks: Vec<Option<Vec<R>>>,
    /// Chunks not done, counting the one the submitter has not sent yet.
    pub(super) open: usize,
    /// Taken by whoever completes the map.
    pub(super) cb: Option<Callbacks<Vec<R>>>,
}

pub(super) struct MapSink<R> {
    pub(super) task: &'static str,
    /// The chunk's place in the map.
    pub(super) index: usize,
    pub(super) state: Arc<Lock<MapState<R>>>,
    pub(super) result: AsyncResult<Vec<R>>,
}

impl<R: DeserializeOwned + Send> Sink for MapSink<R> {
    fn map_id(&self) -> Option<usize> {
        Some(Arc::as_ptr(&self.state) as *const () as usize)
    }

    fn done(self: Box<Self>, r: std::result::Result<Outcomes<'_>, Failure>) {
        // Decoded outside the map's lock, into the chunk's own vector (no
        // slot per item to fill and collect again, no big vector touched
        // for the first time per map).
        let r = r.map_err(Error::from).and_then(|o| {
            let mut v = Vec::with_capacity(o.len());
            match o.all_ok() {
                Some(runs) => {
                    for run in runs {
                        v.push(decode_result(self.task, run)?);
                    }
                }
                None => {
                    for x in o.into_results() {
                        v.push(decode_outcome(self.task, x)?);
                    }
                }
            }
            Ok(v)
        });
        let failed = {
            let mut st = self.state.acquire();
            if st.cb.is_none() {
                return; // the map already failed
            }
            match r {
                Ok(v) => {
                    if let Some(slot) = st.chunks.get_mut(self.index) {
                        *slot = Some(v);
                    }
                    None
                }
                Err(e) => st.cb.take().map(|cb| (e, cb)),
            }
        };
        match failed {
            Some((e, cb)) => self.result.set(Err(e), cb),
            None => close_chunk(&self.state, &self.result),
        }
    }
}

/// One chunk is done: if it was the last, the map completes with every
/// chunk's results end to end.
fn close_chunk<R>(state: &Lock<MapState<R>>, result: &AsyncResult<Vec<R>>) {
    let finish = {
        let mut st = state.acquire();
        st.open -= 1;
        if st.open > 0 {
            return;
        }
        let Some(cb) = st.cb.take() else { return };
        let chunks = std::mem::take(&mut st.chunks);
        (chunks, cb)
    };
    let (chunks, cb) = finish;
    let n = chunks.iter().map(|c| c.as_ref().map_or(0, Vec::len)).sum();
    let mut out = Vec::with_capacity(n);
    for c in chunks {
        match c {
            Some(v) => out.extend(v),
            None => {
                return result.set(Err(Error::Value("a map result went missing".into())), cb);
            }
        }
    }
    result.set(Ok(out), cb);
}

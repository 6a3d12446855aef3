//! The sinks of `Pool`'s calls: where the outcomes of an `apply_async`
//! call or of a `map_async` chunk go when their batch is done.

use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::core::{Failure, Sink};
use super::decode_outcome;
use super::result::{AsyncResult, Callbacks};
use super::wire::Outcomes;
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
    pub(super) values: Vec<Option<R>>,
    pub(super) left: usize,
    pub(super) cb: Option<Callbacks<Vec<R>>>,
}

pub(super) struct MapSink<R> {
    pub(super) task: &'static str,
    pub(super) offset: usize,
    pub(super) state: Arc<Lock<MapState<R>>>,
    pub(super) result: AsyncResult<Vec<R>>,
}

impl<R: DeserializeOwned + Send> Sink for MapSink<R> {
    fn done(self: Box<Self>, r: std::result::Result<Outcomes<'_>, Failure>) {
        // Sinks run on the supervisor thread, one at a time: decoding
        // under the map's lock, straight into the map's slots, keeps no
        // one waiting and builds no list per chunk.
        let finish = {
            let mut st = self.state.acquire();
            if st.cb.is_none() {
                return; // the map already failed
            }
            let r = match r {
                Err(f) => Err(f.into()),
                Ok(o) if self.offset + o.len() > st.values.len() => Err(Error::Value(
                    "a reply with the wrong number of results".into(),
                )),
                Ok(o) => {
                    let n = o.len();
                    let slots = &mut st.values[self.offset..self.offset + n];
                    o.into_results()
                        .zip(slots)
                        .try_for_each(|(x, slot)| {
                            *slot = Some(decode_outcome(self.task, x)?);
                            Ok(())
                        })
                        .map(|()| n)
                }
            };
            match r {
                Err(e) => Some(Err(e)),
                Ok(n) => {
                    st.left -= n.min(st.left);
                    (st.left == 0).then(|| {
                        st.values
                            .drain(..)
                            .collect::<Option<Vec<R>>>()
                            .ok_or_else(|| Error::Value("a map result went missing".into()))
                    })
                }
            }
            .map(|r| (r, st.cb.take().unwrap_or_default()))
        };
        if let Some((r, cb)) = finish {
            self.result.set(r, cb);
        }
    }
}

//! The sinks of `Pool`'s calls: where the outcomes of an `apply_async`
//! call or of a `map_async` chunk go when their batch is done.

use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::core::{Failure, Sink};
use super::decode_outcome;
use super::result::{AsyncResult, Callbacks};
use super::wire::Outcomes;
use crate::multiprocessing::error::{Error, Result};
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
            Ok(mut o) if o.items.len() == 1 => decode_outcome(self.task, o.items.remove(0)),
            Ok(_) => Err(Error::Value(
                "a reply with the wrong number of results".into(),
            )),
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
        let decoded: Result<Vec<R>> = match r {
            Ok(o) => o
                .items
                .into_iter()
                .map(|x| decode_outcome(self.task, x))
                .collect(),
            Err(f) => Err(f.into()),
        };
        let finish = {
            let mut st = self.state.acquire();
            if st.cb.is_none() {
                return; // the map already failed
            }
            match decoded {
                Err(e) => Some(Err(e)),
                Ok(vs) => {
                    let n = vs.len();
                    for (i, v) in vs.into_iter().enumerate() {
                        st.values[self.offset + i] = Some(v);
                    }
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

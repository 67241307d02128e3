//! Idempotent requests: a client that retries after losing an answer (a network cut, a kill -9
//! of the daemon between its commit and its answer) sends the same `request_id`, and gets the
//! first answer again instead of a second code, entry, job or link.
//!
//! Answers are kept in memory only, for a window, encoded and wiped when they go (an activation
//! code or a password is in them). Only successes are kept: a failed attempt can be retried.
//! Two copies of a request arriving at once run once; the second waits for the first.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;
use tonic::{Response, Status};
use zeroize::Zeroizing;

use crate::audit::Caller;
use crate::error::ServiceError;

/// How long a first answer is given again.
const WINDOW: Duration = Duration::from_secs(600);
/// Answers kept at most; past this, a request id is refused rather than memory grown.
const MAX_KEPT: usize = 10_000;

type Key = (String, &'static str, String);
type Cell = Arc<OnceCell<Zeroizing<Vec<u8>>>>;

#[derive(Debug, Default)]
pub struct Replays {
    answers: Mutex<HashMap<Key, (Instant, Cell)>>,
}

/// A `request_id`: 1–64 of A–Z a–z 0–9 - _ . :, or empty for none.
fn request_id(id: &str) -> Result<Option<String>, ServiceError> {
    if id.is_empty() {
        return Ok(None);
    }
    let ok = id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    if !ok {
        return Err(ServiceError::field(
            "request_id",
            shikaku_domain::ValueError::Rule("must be 1–64 of A–Z a–z 0–9 - _ . :".into()),
        ));
    }
    Ok(Some(id.to_owned()))
}

impl Replays {
    fn cell(&self, key: Key) -> Result<Cell, ServiceError> {
        let mut answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        if answers.len() >= MAX_KEPT {
            answers.retain(|_, (at, _)| at.elapsed() < WINDOW);
        }
        if let Some((at, cell)) = answers.get(&key)
            && at.elapsed() < WINDOW
        {
            return Ok(cell.clone());
        }
        if answers.len() >= MAX_KEPT {
            return Err(ServiceError::field(
                "request_id",
                shikaku_domain::ValueError::Rule(
                    "too many requests with ids in the last 10 minutes; send it without one".into(),
                ),
            ));
        }
        let cell = Cell::default();
        answers.insert(key, (Instant::now(), cell.clone()));
        Ok(cell)
    }

    /// Runs `run` once per (client, operation, request id) within the window, answering a
    /// repeat with the first success.
    pub async fn once<T: prost::Message + Default>(
        &self,
        caller: &Caller,
        operation: &'static str,
        id: &str,
        run: impl Future<Output = Result<Response<T>, Status>>,
    ) -> Result<Response<T>, Status> {
        let Some(id) = request_id(id)? else {
            return run.await;
        };
        let cell = self.cell((caller.client.clone(), operation, id))?;
        let mut fresh = None;
        let bytes = cell
            .get_or_try_init(|| async {
                let answer = run.await?.into_inner();
                let bytes = Zeroizing::new(answer.encode_to_vec());
                fresh = Some(answer);
                Ok::<_, Status>(bytes)
            })
            .await?;
        match fresh {
            Some(answer) => Ok(Response::new(answer)),
            None => {
                tracing::info!(client = %caller.client, operation, "repeated request answered again");
                T::decode(bytes.as_slice())
                    .map(Response::new)
                    .map_err(|_| Status::internal("a kept answer does not decode"))
            }
        }
    }
}

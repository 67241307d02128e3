//! The pool that runs slow hashing: argon2id takes tens of megabytes and tens of milliseconds
//! per call, so a flood of wrong activation codes or passwords, one blocking thread each, once
//! took the daemon from 54 MiB to 1.4 GiB. Here `THREADS` long-lived threads hash and at most
//! `WAITING` jobs queue for them; a caller beyond that is told to come back later. Fixed
//! threads matter as much as the count: each new thread gets its own allocator arena, which
//! keeps a freed 19 MiB hash buffer for the next hash on that thread.

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shikaku_domain::upstream::UpstreamError;
use tokio::sync::oneshot;

use crate::state::State;

/// Hashes at once: two cores' worth, leaving the rest of the daemon its share.
pub(crate) const THREADS: usize = 2;
/// Jobs that may wait for a thread; a queue longer than this is a flood, not a clinic.
pub(crate) const WAITING: usize = 32;
/// The retry hint a turned-away caller gets: a few hashes' time.
pub(crate) const RETRY_AFTER: Duration = Duration::from_secs(1);

type Job = Box<dyn FnOnce(&State) + Send>;

/// The hashing threads' queue; dropping it lets the threads end.
pub(crate) struct HashPool {
    jobs: SyncSender<Job>,
}

impl HashPool {
    pub(crate) fn new(state: Arc<State>) -> Self {
        let (jobs, queue) = mpsc::sync_channel::<Job>(WAITING);
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..THREADS {
            let (queue, state) = (queue.clone(), state.clone());
            std::thread::Builder::new()
                .name(format!("shikaku-sim-hash-{i}"))
                .spawn(move || work(&queue, &state))
                .expect("spawn a simulator hashing thread");
        }
        Self { jobs }
    }

    /// Runs `f` on a hashing thread and answers its result, or `RetryLater` at once when
    /// `WAITING` jobs queue already.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&State) -> Result<T, UpstreamError> + Send + 'static,
    ) -> Result<T, UpstreamError> {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move |state| {
            // A caller that went away no longer wants the answer.
            let _ = done.send(f(state));
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(UpstreamError::RetryLater {
                    reason: format!(
                        "the simulator is busy hashing ({THREADS} running, {WAITING} waiting)"
                    ),
                    retry_after: RETRY_AFTER,
                });
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(UpstreamError::Unavailable(
                    "the simulator's hashing threads have stopped".into(),
                ));
            }
        }
        result.await.map_err(|_| {
            UpstreamError::Unavailable("a simulator hashing thread stopped mid-job".into())
        })?
    }
}

fn work(queue: &Mutex<Receiver<Job>>, state: &State) {
    loop {
        // The lock is held only while taking a job, never while hashing.
        let job = match queue.lock().unwrap_or_else(|p| p.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        job(state);
    }
}

//! The reader thread: one connection answers every read, in the order they were asked.
//!
//! Reads ran on tokio's blocking pool behind a mutex on this same connection, so they were one
//! at a time anyway, each on whichever pool thread came free. A thread that owns the connection
//! says so directly: no lock, no pool thread held waiting for one, and a read's rows allocated
//! on one thread always.

use std::panic::{AssertUnwindSafe, catch_unwind};

use rusqlite::Connection;
use tokio::sync::mpsc;

/// One read: runs on the reader thread with its connection, and answers its caller itself.
pub(crate) type Job = Box<dyn FnOnce(&Connection) + Send>;

/// Reads waiting for the thread at most; past this, callers wait to queue.
const QUEUE: usize = 1024;

pub(crate) fn spawn(conn: Connection) -> mpsc::Sender<Job> {
    let (tx, mut rx) = mpsc::channel::<Job>(QUEUE);
    std::thread::Builder::new()
        .name("shikaku-store-reader".into())
        .spawn(move || {
            while let Some(job) = rx.blocking_recv() {
                // A read that panics drops its answer (its caller gets `ReaderGone`), not
                // the thread every later read needs.
                if catch_unwind(AssertUnwindSafe(|| job(&conn))).is_err() {
                    tracing::error!("a store read panicked; its caller gets an error");
                }
            }
        })
        .expect("spawn the store reader thread");
    tx
}

#[cfg(test)]
mod tests {
    use crate::{Durability, Store, StoreError};

    #[tokio::test]
    async fn a_read_that_panics_fails_alone_and_later_reads_are_answered() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.sqlite"), Durability::Normal).unwrap();
        let lost = store
            .read(|_| -> Result<(), rusqlite::Error> { panic!("a bug in one read") })
            .await;
        assert!(matches!(lost, Err(StoreError::ReaderGone)), "{lost:?}");
        let n: i64 = store
            .read(|c| c.query_row("SELECT 41 + 1", [], |r| r.get(0)))
            .await
            .unwrap();
        assert_eq!(n, 42);
    }
}

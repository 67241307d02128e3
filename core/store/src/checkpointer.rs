//! The checkpointer thread: copies committed WAL pages into the database file off the commit path.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its threshold, so every
//! caller in that group waits for the whole copy and its fsyncs: with a 10,000-page WAL, a stall
//! of tens of milliseconds every few seconds under load, which is what a check's p99 was made
//! of. Here a second connection copies the WAL a few hundred pages at a time while the writer
//! goes on committing. The writer's own automatic checkpoint stays as the backstop that lets
//! SQLite start the WAL file over from its beginning; it then finds almost nothing left to copy.

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};

use rusqlite::Connection;

/// Commits between two background checkpoints: under load a commit adds 4–5 WAL pages, so each
/// checkpoint copies a few hundred pages at most.
pub(crate) const COMMITS_PER_CHECKPOINT: u32 = 100;

/// The writer's handle; dropping it stops the thread.
pub(crate) struct Checkpointer {
    nudge: SyncSender<()>,
}

impl Checkpointer {
    pub(crate) fn spawn(conn: Connection) -> Self {
        let (nudge, nudges) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("shikaku-store-checkpoint".into())
            .spawn(move || run(&conn, &nudges))
            .expect("spawn the store checkpoint thread");
        Self { nudge }
    }

    /// Asks for a checkpoint soon. Never blocks the writer: if one is already asked for, the
    /// request is the same one.
    pub(crate) fn nudge(&self) {
        match self.nudge.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) => {}
            Err(TrySendError::Disconnected(())) => {
                tracing::warn!("the store checkpoint thread has stopped");
            }
        }
    }
}

fn run(conn: &Connection, nudges: &Receiver<()>) {
    while nudges.recv().is_ok() {
        // PASSIVE never waits for or blocks the writer; whatever it cannot copy now, the next
        // nudge or the writer's backstop copies later. A failure loses nothing: the pages stay
        // in the WAL, which is as durable as the database file.
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "background checkpoint failed");
        }
    }
}

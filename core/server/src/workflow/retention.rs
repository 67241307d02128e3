//! Retention: once at start and then daily, deletes reception entries and finished bulk checks
//! older than `[retention]` allows, and leaves an audit line saying how many (never whom).

use std::time::Duration;

use chrono::Days;
use shikaku_domain::clock;
use shikaku_domain::values::iso;
use shikaku_store::{AuditRecord, Cutoff, Store};
use tokio::sync::watch;

use crate::config::RetentionConfig;

/// How often the purge runs after the first.
const EVERY: Duration = Duration::from_secs(24 * 60 * 60);

/// The cut-offs for today: what is older than this many days before today goes.
pub fn cutoff(config: &RetentionConfig) -> Cutoff {
    let today = clock::today();
    let before = |days: u32| iso(today - Days::new(u64::from(days)));
    Cutoff {
        receptions_before: before(config.reception_days),
        bulk_before: before(config.bulk_days),
    }
}

/// Runs the purge now and then every day until `shutdown` turns true.
pub fn spawn(store: Store, config: RetentionConfig, mut shutdown: watch::Receiver<bool>) {
    tokio::spawn(async move {
        loop {
            purge_once(&store, &config).await;
            tokio::select! {
                () = tokio::time::sleep(EVERY) => {}
                _ = shutdown.wait_for(|down| *down) => return,
            }
        }
    });
}

async fn purge_once(store: &Store, config: &RetentionConfig) {
    let cutoff = cutoff(config);
    let report = match store.purge(cutoff.clone()).await {
        Ok(report) => report,
        Err(error) => {
            tracing::error!(%error, "retention purge failed; retrying tomorrow");
            return;
        }
    };
    let deleted = report.reception_entries + report.bulk_jobs + report.bulk_items;
    tracing::info!(
        reception_entries = report.reception_entries,
        bulk_jobs = report.bulk_jobs,
        bulk_items = report.bulk_items,
        receptions_before = %cutoff.receptions_before,
        bulk_before = %cutoff.bulk_before,
        "retention purge"
    );
    if deleted == 0 {
        return;
    }
    let line = AuditRecord {
        at: clock::rfc3339(clock::now()),
        operation: "RetentionPurge".into(),
        method: String::new(),
        terminal: String::new(),
        operator: String::new(),
        client: "daemon".into(),
        role: "daemon".into(),
        person: String::new(),
        peer: String::new(),
        outcome: "ok".into(),
        detail: format!(
            "reception_entries={} bulk_jobs={} bulk_items={}",
            report.reception_entries, report.bulk_jobs, report.bulk_items
        ),
        subject: format!(
            "receptions<{} bulk<{}",
            cutoff.receptions_before, cutoff.bulk_before
        ),
    };
    if let Err(error) = store.audit(line).await {
        tracing::error!(%error, "cannot audit the retention purge");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_offs_are_days_before_today() {
        let config = RetentionConfig {
            reception_days: 30,
            bulk_days: 1,
        };
        let c = cutoff(&config);
        let today = clock::today();
        assert_eq!(c.receptions_before, iso(today - Days::new(30)));
        assert_eq!(c.bulk_before, iso(today - Days::new(1)));
    }
}

//! Surviving upstream faults, for every transport to the 資格確認端末 (folders or Web API):
//!
//! - a deadline on every request: nothing waits past the caller's deadline;
//! - retries only for requests that are safe to repeat (a qualification check reads; a bulk
//!   upload creates a job and is never repeated), with exponential backoff and jitter;
//! - a circuit breaker ([`breaker`]) that fails fast while the upstream is down and lets one
//!   probe through now and then to find it back;
//! - a session limit ([`limiter`]): one terminal accepts at most 20 sessions, shared by every
//!   client of the daemon.
//!
//! Failing fast (breaker open, every session busy) comes out as `UpstreamError::RetryLater`
//! with the time to wait; other upstream-down errors as `UpstreamError::Unavailable`; the
//! deadline passing as `UpstreamError::Timeout`.
//!
//! [`bulk`] is the one upload-and-poll loop of 一括照会 that every transport runs through its guard.

pub mod breaker;
pub mod bulk;
pub mod limiter;

use std::time::{Duration, Instant};

use serde::Deserialize;
use shikaku_domain::upstream::UpstreamError;

pub use breaker::{Admission, Breaker, BreakerConfig, BreakerState};
pub use limiter::{Limiter, Permit};

/// The most sessions one 資格確認端末 accepts (MHLW technical guide).
pub const TERMINAL_SESSION_LIMIT: usize = 20;

/// Whether a request may be sent again after a failure whose outcome is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// Reads (a check, a poll for a bulk result): repeating changes nothing upstream.
    Safe,
    /// Writes (a bulk upload, a registration): never sent twice.
    Never,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts in all, the first included; 1 turns retrying off.
    pub max_attempts: u32,
    /// The wait before the first retry, doubled for each one after, up to `max_backoff_ms`.
    pub base_backoff_ms: u64,
    pub max_backoff_ms: u64,
    /// Each attempt's own time limit; none means an attempt may use the whole deadline (and a
    /// timed-out attempt then leaves no time to retry).
    pub attempt_timeout_ms: Option<u64>,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_backoff_ms: 200,
            max_backoff_ms: 2_000,
            attempt_timeout_ms: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GuardConfig {
    /// Sessions this transport may hold open at the terminal at once (at most 20).
    pub max_sessions: usize,
    pub retry: RetryConfig,
    pub breaker: BreakerConfig,
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self {
            max_sessions: TERMINAL_SESSION_LIMIT,
            retry: RetryConfig::default(),
            breaker: BreakerConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    #[error(
        "max_sessions must be 1 to {TERMINAL_SESSION_LIMIT} (one terminal accepts at most {TERMINAL_SESSION_LIMIT}), not {0}"
    )]
    Sessions(usize),
    #[error("retry.max_attempts must be at least 1")]
    Attempts,
    #[error("breaker.failure_threshold must be at least 1")]
    Threshold,
}

/// Deadline, retries, breaker and session limit around one terminal.
#[derive(Debug)]
pub struct Guard {
    limiter: Limiter,
    breaker: Breaker,
    retry: RetryConfig,
}

fn is_upstream_down(e: &UpstreamError) -> bool {
    matches!(
        e,
        UpstreamError::Unavailable(_) | UpstreamError::RetryLater { .. } | UpstreamError::Timeout
    )
}

impl Guard {
    pub fn new(config: &GuardConfig) -> Result<Self, GuardError> {
        if !(1..=TERMINAL_SESSION_LIMIT).contains(&config.max_sessions) {
            return Err(GuardError::Sessions(config.max_sessions));
        }
        if config.retry.max_attempts == 0 {
            return Err(GuardError::Attempts);
        }
        if config.breaker.failure_threshold == 0 {
            return Err(GuardError::Threshold);
        }
        Ok(Self {
            limiter: Limiter::new(config.max_sessions),
            breaker: Breaker::new(config.breaker.clone()),
            retry: config.retry.clone(),
        })
    }

    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }

    /// Runs `attempt` (given its own deadline) under every guard. Errors that mean the upstream
    /// answered (an error result, a refused certificate) pass through untouched and count as the
    /// upstream being up.
    pub fn run<T>(
        &self,
        repeat: Repeat,
        deadline: Instant,
        mut attempt: impl FnMut(Instant) -> Result<T, UpstreamError>,
    ) -> Result<T, UpstreamError> {
        let mut last: Option<UpstreamError> = None;
        for n in 0..self.retry.max_attempts {
            let now = Instant::now();
            if now >= deadline {
                return Err(last.unwrap_or(UpstreamError::Timeout));
            }
            let admission =
                self.breaker
                    .admit()
                    .map_err(|retry_after| UpstreamError::RetryLater {
                        reason: "the terminal keeps failing, so requests fail at once for now"
                            .into(),
                        retry_after,
                    })?;
            let Some(permit) = self.limiter.acquire(deadline) else {
                self.breaker.cancel(admission);
                return Err(UpstreamError::RetryLater {
                    reason: format!(
                        "all {} terminal sessions stayed busy until the deadline",
                        self.limiter.capacity()
                    ),
                    retry_after: Duration::from_millis(self.retry.base_backoff_ms),
                });
            };
            let attempt_deadline = match self.retry.attempt_timeout_ms {
                Some(ms) => deadline.min(Instant::now() + Duration::from_millis(ms)),
                None => deadline,
            };
            let result = attempt(attempt_deadline);
            drop(permit);
            let error = match result {
                Ok(v) => {
                    self.breaker.success();
                    return Ok(v);
                }
                // Refused before it left (a request this transport cannot write): says nothing
                // about the upstream either way.
                Err(e @ UpstreamError::Unsupported(_)) => {
                    self.breaker.cancel(admission);
                    return Err(e);
                }
                Err(e) if !is_upstream_down(&e) => {
                    self.breaker.success();
                    return Err(e);
                }
                Err(e) => e,
            };
            self.breaker.failure();
            if repeat == Repeat::Never || n + 1 == self.retry.max_attempts {
                return Err(error);
            }
            let wait = self.backoff(n);
            if Instant::now() + wait >= deadline {
                return Err(error);
            }
            last = Some(error);
            std::thread::sleep(wait);
        }
        Err(last.unwrap_or(UpstreamError::Timeout))
    }

    /// Exponential backoff with "equal jitter": half fixed, half random, so clients that failed
    /// together do not come back together.
    fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .retry
            .base_backoff_ms
            .saturating_mul(1u64 << retry.min(20))
            .min(self.retry.max_backoff_ms);
        let half = exp / 2;
        Duration::from_millis(half + rand::random_range(0..=half))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn guard(attempts: u32, threshold: u32) -> Guard {
        Guard::new(&GuardConfig {
            max_sessions: 2,
            retry: RetryConfig {
                max_attempts: attempts,
                base_backoff_ms: 5,
                max_backoff_ms: 20,
                attempt_timeout_ms: None,
            },
            breaker: BreakerConfig {
                failure_threshold: threshold,
                open_ms: 50,
                max_open_ms: 200,
            },
        })
        .unwrap()
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[test]
    fn safe_requests_are_retried_until_they_succeed() {
        let g = guard(3, 10);
        let calls = AtomicU32::new(0);
        let r = g.run(Repeat::Safe, soon(), |_| {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(UpstreamError::Unavailable("down".into()))
            } else {
                Ok(7)
            }
        });
        assert_eq!(r, Ok(7));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn unsafe_requests_and_answers_are_never_repeated() {
        let g = guard(3, 10);
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = g.run(Repeat::Never, soon(), |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(UpstreamError::Unavailable("down".into()))
        });
        assert!(matches!(r, Err(UpstreamError::Unavailable(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let r: Result<(), _> = g.run(Repeat::Safe, soon(), |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(UpstreamError::ErrorResult {
                code: "E".into(),
                message: "m".into(),
            })
        });
        assert!(matches!(r, Err(UpstreamError::ErrorResult { .. })));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_passed_deadline_is_a_timeout() {
        let g = guard(3, 10);
        let r: Result<(), _> = g.run(Repeat::Safe, Instant::now(), |_| Ok(()));
        assert_eq!(r, Err(UpstreamError::Timeout));
    }

    #[test]
    fn the_breaker_opens_fails_fast_and_closes_after_a_good_probe() {
        let g = guard(1, 2);
        let down = || Err::<(), _>(UpstreamError::Timeout);
        assert_eq!(
            g.run(Repeat::Safe, soon(), |_| down()),
            Err(UpstreamError::Timeout)
        );
        assert_eq!(
            g.run(Repeat::Safe, soon(), |_| down()),
            Err(UpstreamError::Timeout)
        );
        assert!(matches!(g.breaker().state(), BreakerState::Open { .. }));
        let calls = AtomicU32::new(0);
        let r = g.run(Repeat::Safe, soon(), |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
        match r {
            Err(UpstreamError::RetryLater { retry_after, .. }) => {
                assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_millis(50));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(calls.load(Ordering::SeqCst), 0, "failed fast");
        let start = Instant::now();
        while g.run(Repeat::Safe, soon(), |_| Ok(())).is_err() {
            assert!(start.elapsed() < Duration::from_secs(2));
            std::thread::yield_now();
        }
        assert_eq!(g.breaker().state(), BreakerState::Closed { failures: 0 });
    }

    #[test]
    fn sessions_are_limited() {
        let g = guard(1, 100);
        let p1 = g.limiter().acquire(soon()).unwrap();
        let _p2 = g.limiter().acquire(soon()).unwrap();
        let r: Result<(), _> = g.run(
            Repeat::Safe,
            Instant::now() + Duration::from_millis(30),
            |_| Ok(()),
        );
        assert!(
            matches!(r, Err(UpstreamError::RetryLater { ref reason, retry_after })
                if reason.contains("sessions") && retry_after == Duration::from_millis(5))
        );
        drop(p1);
        assert_eq!(g.run(Repeat::Safe, soon(), |_| Ok(())), Ok(()));
        assert!(
            Guard::new(&GuardConfig {
                max_sessions: 21,
                ..Default::default()
            })
            .is_err()
        );
    }
}

//! A circuit breaker: after `failure_threshold` failures in a row the upstream counts as down and
//! requests fail at once; after a pause one request goes through as a probe. Its success closes
//! the breaker; its failure opens it again for twice as long (up to `max_open_ms`).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// Failures (no answer, unreachable) in a row that open the breaker.
    pub failure_threshold: u32,
    /// How long it stays open the first time.
    pub open_ms: u64,
    /// The longest it stays open after failed probes.
    pub max_open_ms: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            open_ms: 5_000,
            max_open_ms: 60_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed {
        failures: u32,
    },
    /// Failing fast until `until`; `trips` counts failed probes since it last closed.
    Open {
        until: Instant,
        trips: u32,
    },
    /// One probe is out (`probing`) or may go.
    HalfOpen {
        trips: u32,
        probing: bool,
    },
}

/// What the breaker let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Normal,
    Probe,
}

#[derive(Debug)]
pub struct Breaker {
    config: BreakerConfig,
    state: Mutex<BreakerState>,
}

impl Breaker {
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            state: Mutex::new(BreakerState::Closed { failures: 0 }),
        }
    }

    pub fn state(&self) -> BreakerState {
        *self.lock()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BreakerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn open_for(&self, trips: u32) -> Duration {
        let ms = self
            .config
            .open_ms
            .saturating_mul(1u64 << trips.min(20))
            .min(self.config.max_open_ms.max(self.config.open_ms));
        Duration::from_millis(ms)
    }

    /// Lets a request through, or says how long until it may try.
    pub fn admit(&self) -> Result<Admission, Duration> {
        let mut s = self.lock();
        let now = Instant::now();
        match *s {
            BreakerState::Closed { .. } => Ok(Admission::Normal),
            BreakerState::Open { until, trips } => {
                if now < until {
                    Err(until - now)
                } else {
                    *s = BreakerState::HalfOpen {
                        trips,
                        probing: true,
                    };
                    Ok(Admission::Probe)
                }
            }
            BreakerState::HalfOpen { trips, probing } => {
                if probing {
                    Err(Duration::from_millis(self.config.open_ms))
                } else {
                    *s = BreakerState::HalfOpen {
                        trips,
                        probing: true,
                    };
                    Ok(Admission::Probe)
                }
            }
        }
    }

    /// The admitted request never reached the upstream; a probe slot is given back.
    pub fn cancel(&self, admission: Admission) {
        if admission == Admission::Probe {
            let mut s = self.lock();
            if let BreakerState::HalfOpen { trips, .. } = *s {
                *s = BreakerState::HalfOpen {
                    trips,
                    probing: false,
                };
            }
        }
    }

    /// The upstream answered.
    pub fn success(&self) {
        *self.lock() = BreakerState::Closed { failures: 0 };
    }

    /// The upstream did not answer or could not be reached.
    pub fn failure(&self) {
        let mut s = self.lock();
        let now = Instant::now();
        *s = match *s {
            BreakerState::Closed { failures } if failures + 1 >= self.config.failure_threshold => {
                BreakerState::Open {
                    until: now + self.open_for(0),
                    trips: 0,
                }
            }
            BreakerState::Closed { failures } => BreakerState::Closed {
                failures: failures + 1,
            },
            BreakerState::HalfOpen { trips, .. } => BreakerState::Open {
                until: now + self.open_for(trips + 1),
                trips: trips + 1,
            },
            open @ BreakerState::Open { .. } => open,
        };
    }

    /// While open: how long until a probe may go.
    pub fn retry_after(&self) -> Option<Duration> {
        match *self.lock() {
            BreakerState::Open { until, .. } => {
                Some(until.saturating_duration_since(Instant::now()))
            }
            BreakerState::HalfOpen { .. } => Some(Duration::from_millis(self.config.open_ms)),
            BreakerState::Closed { .. } => None,
        }
    }
}

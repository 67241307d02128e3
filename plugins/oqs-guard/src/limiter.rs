//! A counting semaphore with a deadline: at most N sessions at the terminal at once.

use std::sync::{Condvar, Mutex};
use std::time::Instant;

#[derive(Debug)]
pub struct Limiter {
    capacity: usize,
    in_use: Mutex<usize>,
    freed: Condvar,
}

/// One session slot; dropping it frees the slot.
#[derive(Debug)]
pub struct Permit<'a> {
    limiter: &'a Limiter,
}

impl Limiter {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            in_use: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn in_use(&self) -> usize {
        *self.in_use.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a free slot until `deadline`; `None` if none came free in time.
    pub fn acquire(&self, deadline: Instant) -> Option<Permit<'_>> {
        let mut n = self.in_use.lock().unwrap_or_else(|p| p.into_inner());
        while *n >= self.capacity {
            let left = deadline.checked_duration_since(Instant::now())?;
            if left.is_zero() {
                return None;
            }
            n = self
                .freed
                .wait_timeout(n, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        *n += 1;
        Some(Permit { limiter: self })
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut n = self
            .limiter
            .in_use
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *n = n.saturating_sub(1);
        self.limiter.freed.notify_one();
    }
}

//! A token bucket kept under the broker's request limit, so py_rt throttles itself instead of
//! collecting 429s.

use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    tokens: f64,
    per_second: f64,
    last: Instant,
}

impl TokenBucket {
    /// `per_minute` sustained requests with bursts up to `burst`.
    #[must_use]
    pub fn new(per_minute: u32, burst: u32) -> Self {
        Self {
            capacity: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            per_second: f64::from(per_minute.max(1)) / 60.0,
            last: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.last = now;
    }

    /// Takes a token if one is available at `now`; otherwise returns how long until one is.
    pub fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - self.tokens) / self.per_second,
            ))
        }
    }

    /// The server said we are over its limit: spend everything until `reset`.
    pub fn drain_until(&mut self, now: Instant, reset: Duration) {
        self.tokens = -(reset.as_secs_f64() * self.per_second);
        self.last = now;
    }

    /// Waits for a token.
    pub async fn take(&mut self) {
        loop {
            match self.try_take(Instant::now()) {
                Ok(()) => return,
                Err(wait) => tokio::time::sleep(wait).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_refills_at_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(120, 3);
        bucket.last = start;
        for _ in 0..3 {
            assert!(bucket.try_take(start).is_ok());
        }
        let wait = bucket.try_take(start).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-9, "{wait:?}");
        assert!(bucket.try_take(start + Duration::from_millis(499)).is_err());
        assert!(bucket.try_take(start + Duration::from_secs(1)).is_ok());
        bucket.drain_until(start, Duration::from_secs(2));
        let wait = bucket.try_take(start).unwrap_err();
        assert!((wait.as_secs_f64() - 2.5).abs() < 1e-9, "{wait:?}");
    }
}

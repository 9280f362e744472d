//! A token bucket, the model Slack describes ("small bursts above the limit are acceptable",
//! then 429 with `Retry-After`).

use std::time::{Duration, Instant};

#[derive(Debug)]
pub(crate) struct TokenBucket {
    rate_per_sec: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// Starts full so the first burst of a run is never throttled.
    pub(crate) fn new(rate_per_sec: u32, burst: u32, now: Instant) -> Self {
        let burst = f64::from(burst.max(1));
        Self { rate_per_sec: f64::from(rate_per_sec.max(1)), burst, tokens: burst, last: now }
    }

    /// Takes one token, or says how long until one is available.
    pub(crate) fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate_per_sec).min(self.burst);
        self.last = self.last.max(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate_per_sec))
        }
    }
}

/// `Retry-After` as whole seconds (RFC 9110 §10.2.3 allows no fractions), never 0 so a client
/// that honours it literally does not spin.
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs_f64().ceil() as u64).max(1)
}

/// One second of traffic: a client that waits out `Retry-After: 1` then gets a full second's
/// worth of requests, so honouring the header costs it nothing.
pub(crate) fn burst_for(rate_per_sec: u32) -> u32 {
    rate_per_sec.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_a_burst_then_refills_at_the_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(2, 2, t0);
        assert!(bucket.try_take(t0).is_ok());
        assert!(bucket.try_take(t0).is_ok());
        let wait = bucket.try_take(t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert!(bucket.try_take(t0 + Duration::from_millis(500)).is_ok());
        // Idle time never banks more than the burst.
        let later = t0 + Duration::from_secs(60);
        assert!(bucket.try_take(later).is_ok());
        assert!(bucket.try_take(later).is_ok());
        assert!(bucket.try_take(later).is_err());
    }

    #[test]
    fn retry_after_is_a_whole_second_at_least() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
    }

    #[test]
    fn time_going_backwards_does_not_mint_tokens() {
        let t0 = Instant::now() + Duration::from_secs(5);
        let mut bucket = TokenBucket::new(1, 1, t0);
        assert!(bucket.try_take(t0).is_ok());
        assert!(bucket.try_take(t0 - Duration::from_secs(3)).is_err());
    }
}

//! Pacing requests to an app: a token bucket shared by everything that talks to the app (or to
//! the vendor org, when the vendor counts every app of an org together, as Slack does:
//! <https://api.slack.com/apis/rate-limits>).
//!
//! Callers reserve their slot: when the bucket is empty the reservation still takes a token (the
//! balance goes negative) and the caller sleeps until its turn. Waiters therefore go in arrival
//! order, and no burst forms when many wake at once.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    tokens: f64,
    last: Instant,
    /// The app said 429 with `Retry-After`: nobody sends before this.
    held_until: Option<Instant>,
}

impl RateLimiter {
    /// `per_second` requests a second on average, at most `burst` at once after a quiet spell.
    pub fn new(per_second: f64, burst: u32) -> Self {
        let per_second = if per_second.is_finite() && per_second > 0.0 { per_second } else { 1.0 };
        let burst = f64::from(burst.max(1));
        Self { per_second, burst, state: Mutex::new(State { tokens: burst, last: Instant::now(), held_until: None }) }
    }

    pub fn per_second(&self) -> f64 {
        self.per_second
    }

    /// Waits for this caller's turn.
    pub async fn acquire(&self) {
        let wait = self.reserve(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Takes a token now and says how long to wait before using it.
    fn reserve(&self, now: Instant) -> Duration {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let elapsed = now.saturating_duration_since(state.last).as_secs_f64();
        state.tokens = (state.tokens + elapsed * self.per_second).min(self.burst);
        state.last = state.last.max(now);
        state.tokens -= 1.0;
        let mut wait =
            if state.tokens >= 0.0 { Duration::ZERO } else { Duration::from_secs_f64(-state.tokens / self.per_second) };
        if let Some(until) = state.held_until {
            wait = wait.max(until.saturating_duration_since(now));
        }
        wait
    }

    /// The app asked for a pause (429 with `Retry-After`): every caller waits it out.
    pub fn hold_off(&self, pause: Duration) {
        let until = Instant::now() + pause;
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        state.held_until = Some(state.held_until.map_or(until, |u| u.max(until)));
        // Resume gently: whatever was saved up before the 429 is not spent in one burst after it.
        state.tokens = state.tokens.min(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_served_then_callers_are_spaced_at_the_rate() {
        let limiter = RateLimiter::new(10.0, 3);
        let now = Instant::now();
        let waits: Vec<Duration> = (0..6).map(|_| limiter.reserve(now)).collect();
        assert_eq!(&waits[..3], &[Duration::ZERO; 3]);
        let ms: Vec<u128> = waits[3..].iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [100, 200, 300], "one token every 100 ms, in arrival order");
    }

    #[test]
    fn refills_over_time_but_never_beyond_the_burst() {
        let limiter = RateLimiter::new(10.0, 2);
        let start = Instant::now();
        limiter.reserve(start);
        limiter.reserve(start);
        let later = start + Duration::from_secs(60);
        assert_eq!(limiter.reserve(later), Duration::ZERO);
        assert_eq!(limiter.reserve(later), Duration::ZERO);
        assert_eq!(limiter.reserve(later).as_millis(), 100);
    }

    #[tokio::test]
    async fn hold_off_delays_everyone() {
        let limiter = RateLimiter::new(1000.0, 10);
        limiter.hold_off(Duration::from_millis(300));
        let wait = limiter.reserve(Instant::now());
        assert!(wait > Duration::from_millis(250), "{wait:?}");
    }
}

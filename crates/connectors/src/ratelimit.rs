//! Pacing requests to an app: a token bucket shared by everything that talks to the app (or to
//! the vendor org, when the vendor counts every app of an org together, as Slack does:
//! <https://api.slack.com/apis/rate-limits>).
//!
//! Callers reserve their slot: when the bucket is empty the reservation still takes a token (the
//! balance goes negative) and the caller sleeps until its turn. Waiters therefore go in arrival
//! order, and no burst forms when many wake at once.
//!
//! That bucket is the process's. Where several nodes share the work, the engine also gives the
//! limiter a [`SharedBudget`] (kept in the database; connectors never see the store): after its
//! local turn, a request waits for a slot of the deployment's one budget, reserved a slice of
//! slots at a time, and a 429's pause is passed on to every node.
//!
//! Budgets over long windows (an hour, a day: [`tenure_core::RequestWindow`]) are not a pace
//! but a count: the engine gives the limiter [`RequestWindows`], kept in the store on every
//! backend (so a restart does not forget the day's requests), and a request that finds one
//! spent is not sent: it fails at once with [`WindowSpent`], which the queue reads as "wait
//! until then", not as a failed attempt. Sleeping through an hour inside a request would hold a
//! worker and outlive every timeout.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::bearer::BoxFuture;

/// Request slots handed out by a [`SharedBudget`]: `count` of them, the first at `first`, one
/// every `interval`. A slot is a moment at which this node may send one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedSlots {
    pub first: SystemTime,
    pub interval: Duration,
    pub count: u32,
}

/// The shared budget could not be reached; the request waits and asks again.
#[derive(Debug, thiserror::Error)]
#[error("shared rate budget: {0}")]
pub struct BudgetError(pub String);

/// One request budget for the whole deployment (the engine implements it over the store): the
/// slots it hands out to all nodes together keep to the app's documented rate.
pub trait SharedBudget: Send + Sync {
    /// Reserves `count` consecutive slots.
    fn reserve(&self, count: u32) -> BoxFuture<'_, Result<SharedSlots, BudgetError>>;
    /// The app asked for a pause until `until`: no node gets a slot before it.
    fn pause(&self, until: SystemTime) -> BoxFuture<'_, Result<(), BudgetError>>;
}

/// A budget over a long window is spent: nothing was sent, and the next request may go at
/// `until`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("waiting for its {window} request budget ({requests} requests) until {}", crate::ratelimit::clock(*until))]
pub struct WindowSpent {
    /// `hourly`, `daily`, `30-second`.
    pub window: String,
    pub requests: u32,
    pub until: SystemTime,
}

/// `HH:MM UTC` (with the date when it is not today): when a waiting app goes on.
pub fn clock(at: SystemTime) -> String {
    let secs = at.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let Ok(at) = time::OffsetDateTime::from_unix_timestamp(secs) else { return "later".into() };
    let today = time::OffsetDateTime::now_utc().date();
    let hm = format!("{:02}:{:02}:{:02} UTC", at.hour(), at.minute(), at.second());
    if at.date() == today { hm } else { format!("{} {hm}", at.date()) }
}

/// The deployment's count of an app's requests over its long windows (the engine keeps it in
/// the store).
pub trait RequestWindows: Send + Sync {
    /// Counts one request in every window, or none when one of them is spent.
    fn take(&self) -> BoxFuture<'_, Result<Result<(), WindowSpent>, BudgetError>>;
}

struct Shared {
    budget: Arc<dyn SharedBudget>,
    /// Slots reserved and not used yet, oldest first.
    slots: tokio::sync::Mutex<VecDeque<SystemTime>>,
    /// Callers in `acquire` now: a round trip reserves a slot for each of them and no more,
    /// because a slot reserved for nobody is a slot of the deployment's budget lost (with
    /// several nodes each one's demand is a fraction of the rate, and whole slices went unused).
    waiting: std::sync::atomic::AtomicU32,
    slice: u32,
    interval: Duration,
}

pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    /// False for a limiter that only counts windows: the app documents no short pace.
    paced: bool,
    state: Mutex<State>,
    shared: Option<Shared>,
    windows: Option<Arc<dyn RequestWindows>>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("paced", &self.paced)
            .field("windows", &self.windows.is_some())
            .field("per_second", &self.per_second)
            .field("burst", &self.burst)
            .field("shared", &self.shared.is_some())
            .finish()
    }
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
        Self {
            per_second,
            burst,
            paced: true,
            state: Mutex::new(State { tokens: burst, last: Instant::now(), held_until: None }),
            shared: None,
            windows: None,
        }
    }

    /// A limiter without a pace, for an app whose only documented limits are long windows
    /// ([`with_windows`](Self::with_windows)); an app's 429 still holds everyone.
    pub fn unpaced() -> Self {
        Self { paced: false, ..Self::new(1.0, 1) }
    }

    /// Requests also count in `windows`, and none is sent while one of them is spent.
    pub fn with_windows(mut self, windows: Arc<dyn RequestWindows>) -> Self {
        self.windows = Some(windows);
        self
    }

    /// This limiter also waits for slots of `budget`, the deployment's one budget for the app,
    /// reserved `slice` at a time (a slice per round trip; a slot left unused is lost, never
    /// spent late).
    pub fn with_shared_budget(mut self, budget: Arc<dyn SharedBudget>, slice: u32) -> Self {
        self.shared = Some(Shared {
            budget,
            slots: tokio::sync::Mutex::new(VecDeque::new()),
            waiting: std::sync::atomic::AtomicU32::new(0),
            slice: slice.max(1),
            interval: Duration::from_secs_f64(1.0 / self.per_second),
        });
        self
    }

    pub fn per_second(&self) -> f64 {
        self.per_second
    }

    /// Waits for this caller's turn: in the shared budget when there is one (it paces the
    /// whole deployment, this node included, and pacing twice at one rate only loses slots to
    /// jitter), else in this process's bucket. An app's pause holds either way. Then the request
    /// is counted in the long windows, or refused with the time one frees: counted last, so it
    /// is counted when it is sent, not before a wait for its turn.
    pub async fn acquire(&self) -> Result<(), WindowSpent> {
        self.pace().await;
        let Some(windows) = &self.windows else { return Ok(()) };
        let mut backoff = Duration::from_millis(100);
        loop {
            match windows.take().await {
                Ok(taken) => return taken,
                Err(e) => {
                    // Sending uncounted could exceed the day's budget: wait for the store.
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "cannot count the request in the app's request windows");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    async fn pace(&self) {
        if !self.paced {
            let held = self.state.lock().unwrap_or_else(|p| p.into_inner()).held_until;
            if let Some(wait) = held.map(|until| until.saturating_duration_since(Instant::now()))
                && !wait.is_zero()
            {
                tokio::time::sleep(wait).await;
            }
            return;
        }
        match &self.shared {
            Some(shared) => {
                let held = self.state.lock().unwrap_or_else(|p| p.into_inner()).held_until;
                if let Some(wait) = held.map(|until| until.saturating_duration_since(Instant::now()))
                    && !wait.is_zero()
                {
                    tokio::time::sleep(wait).await;
                }
                shared.acquire().await;
            }
            None => {
                let wait = self.reserve(Instant::now());
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
            }
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
        drop(state);
        if let Some(shared) = &self.shared {
            shared.pause(pause);
        }
    }
}

impl Shared {
    async fn acquire(&self) {
        use std::sync::atomic::Ordering;
        struct Waiting<'a>(&'a std::sync::atomic::AtomicU32);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let waiting = Waiting(&self.waiting);
        let mut backoff = Duration::from_millis(100);
        loop {
            let mut slots = self.slots.lock().await;
            let now = SystemTime::now();
            // A slot more than an interval old is dropped: sending on it now would bunch this
            // request up with the slots other nodes are using at this moment. (Sent within an
            // interval of its slot, any one second sees at most the rate plus two requests.)
            while slots.front().is_some_and(|&slot| slot + self.interval < now) {
                slots.pop_front();
            }
            if let Some(slot) = slots.pop_front() {
                drop(slots);
                // Holding a slot, this caller no longer wants one.
                drop(waiting);
                if let Ok(wait) = slot.duration_since(SystemTime::now()) {
                    tokio::time::sleep(wait).await;
                }
                return;
            }
            let wanted = self.waiting.load(Ordering::Relaxed).clamp(1, self.slice);
            match self.budget.reserve(wanted).await {
                Ok(got) => slots.extend((0..got.count).map(|i| got.first + got.interval * i)),
                Err(e) => {
                    drop(slots);
                    // Sending without the budget could exceed the deployment's limit: wait for it.
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "cannot reserve from the shared rate budget");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Passes the app's pause on to every node; the slots reserved here before it are dropped.
    fn pause(&self, pause: Duration) {
        if let Ok(mut slots) = self.slots.try_lock() {
            slots.clear();
        }
        let until = SystemTime::now() + pause;
        let budget = Arc::clone(&self.budget);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = budget.pause(until).await {
                    tracing::warn!(error = %e, "cannot share the app's Retry-After with the other nodes");
                }
            });
        }
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

    /// A budget kept in memory, shared by several limiters as the database is by several nodes.
    struct MemoryBudget {
        interval: Duration,
        next: Mutex<SystemTime>,
        paused: Mutex<Option<SystemTime>>,
    }

    impl SharedBudget for MemoryBudget {
        fn reserve(&self, count: u32) -> BoxFuture<'_, Result<SharedSlots, BudgetError>> {
            Box::pin(async move {
                let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
                let paused = self.paused.lock().unwrap_or_else(|p| p.into_inner()).unwrap_or(SystemTime::UNIX_EPOCH);
                let first = (*next).max(SystemTime::now()).max(paused);
                *next = first + self.interval * count;
                Ok(SharedSlots { first, interval: self.interval, count })
            })
        }

        fn pause(&self, until: SystemTime) -> BoxFuture<'_, Result<(), BudgetError>> {
            Box::pin(async move {
                *self.paused.lock().unwrap_or_else(|p| p.into_inner()) = Some(until);
                Ok(())
            })
        }
    }

    #[tokio::test]
    async fn limiters_sharing_a_budget_keep_to_one_rate_together() {
        let budget: Arc<dyn SharedBudget> = Arc::new(MemoryBudget {
            interval: Duration::from_millis(10),
            next: Mutex::new(SystemTime::UNIX_EPOCH),
            paused: Mutex::new(None),
        });
        // Three "nodes", each allowed the full rate locally.
        let nodes: Vec<Arc<RateLimiter>> =
            (0..3).map(|_| Arc::new(RateLimiter::new(100.0, 1).with_shared_budget(Arc::clone(&budget), 5))).collect();
        let started = std::time::Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for node in &nodes {
            for _ in 0..20 {
                let node = Arc::clone(node);
                tasks.spawn(async move { assert!(node.acquire().await.is_ok()) });
            }
        }
        while tasks.join_next().await.is_some() {}
        // 60 requests at 100/s together take at least 0.59 s; alone, each node's 20 would take 0.2 s.
        assert!(started.elapsed() >= Duration::from_millis(550), "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_pause_on_one_node_holds_the_others() {
        let budget = Arc::new(MemoryBudget {
            interval: Duration::from_millis(1),
            next: Mutex::new(SystemTime::UNIX_EPOCH),
            paused: Mutex::new(None),
        });
        let shared: Arc<dyn SharedBudget> = budget.clone();
        let one = RateLimiter::new(1000.0, 10).with_shared_budget(Arc::clone(&shared), 1);
        let other = RateLimiter::new(1000.0, 10).with_shared_budget(shared, 1);
        one.hold_off(Duration::from_millis(300));
        let until = std::time::Instant::now() + Duration::from_secs(5);
        while budget.paused.lock().unwrap_or_else(|p| p.into_inner()).is_none() {
            assert!(std::time::Instant::now() < until, "the pause never reached the budget");
            tokio::task::yield_now().await;
        }
        let started = std::time::Instant::now();
        assert!(other.acquire().await.is_ok());
        assert!(started.elapsed() >= Duration::from_millis(200), "{:?}", started.elapsed());
    }

    /// Windows kept in memory with the arithmetic the store uses.
    struct MemoryWindows {
        window: tenure_core::RequestWindow,
        counts: Mutex<Vec<(i64, u64)>>,
    }

    impl RequestWindows for MemoryWindows {
        fn take(&self) -> BoxFuture<'_, Result<Result<(), WindowSpent>, BudgetError>> {
            Box::pin(async move {
                let now =
                    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_millis() as i64;
                let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
                Ok(match self.window.take(&counts, now) {
                    Ok(slot) => {
                        counts.push((slot, 1));
                        Ok(())
                    }
                    Err(until) => Err(WindowSpent {
                        window: self.window.name(),
                        requests: self.window.requests,
                        until: SystemTime::UNIX_EPOCH + Duration::from_millis(until as u64),
                    }),
                })
            })
        }
    }

    #[tokio::test]
    async fn a_spent_window_refuses_at_once_with_the_time_it_frees() {
        let windows =
            Arc::new(MemoryWindows { window: tenure_core::RequestWindow::hourly(2), counts: Mutex::new(Vec::new()) });
        let limiter = RateLimiter::unpaced().with_windows(windows);
        assert!(limiter.acquire().await.is_ok());
        assert!(limiter.acquire().await.is_ok());
        let started = std::time::Instant::now();
        let spent = limiter.acquire().await.expect_err("the hour's two are spent");
        assert!(started.elapsed() < Duration::from_secs(1), "refused, not slept through");
        assert_eq!((spent.window.as_str(), spent.requests), ("hourly", 2));
        let wait = spent.until.duration_since(SystemTime::now()).unwrap_or_default();
        assert!(wait > Duration::from_secs(3600) && wait <= Duration::from_secs(62 * 60), "{wait:?}");
        assert!(spent.to_string().starts_with("waiting for its hourly request budget (2 requests) until "), "{spent}");
    }

    #[tokio::test]
    async fn hold_off_delays_everyone() {
        let limiter = RateLimiter::new(1000.0, 10);
        limiter.hold_off(Duration::from_millis(300));
        let wait = limiter.reserve(Instant::now());
        assert!(wait > Duration::from_millis(250), "{wait:?}");
    }
}

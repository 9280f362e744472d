//! Request budgets over long windows: at most `requests` in any `seconds` (DocuSign's 3,000 an
//! hour, HubSpot's 250,000 a day, GitHub's "below 1,000 user provisioning requests an hour").
//!
//! The window slides rather than resetting at fixed moments: vendors reset at moments Tenure
//! cannot see (HubSpot at midnight in the account's time zone, DocuSign at the top of the hour
//! by its own clock), and a budget kept in *every* window of the length holds within each fixed
//! window too, whatever its alignment. A fixed window kept by Tenure's clock could send the whole
//! budget at the end of its hour and again at the start of the next, twice the vendor's limit
//! within one of the vendor's hours.
//!
//! Requests are counted per slot (a sixtieth of the window: a minute of an hour), so the store
//! keeps at most 62 rows per window instead of one per request. At a request's moment every slot
//! that reaches back a window and one slot is counted, so the budget holds for any window even
//! when a request is sent up to a slot after it was counted; the price is up to two slots' worth
//! of waiting more than needed (about 3%).

use serde::{Deserialize, Serialize};

/// Slots per window.
pub const SLOTS: i64 = 60;

/// One budget over a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestWindow {
    pub requests: u32,
    pub seconds: u64,
}

impl RequestWindow {
    pub const HOUR: u64 = 3600;
    pub const DAY: u64 = 86_400;

    pub fn hourly(requests: u32) -> Self {
        Self { requests, seconds: Self::HOUR }
    }

    pub fn daily(requests: u32) -> Self {
        Self { requests, seconds: Self::DAY }
    }

    /// The window in words: `hourly`, `daily`, or `30-second`.
    pub fn name(&self) -> String {
        match self.seconds {
            Self::HOUR => "hourly".into(),
            Self::DAY => "daily".into(),
            s => format!("{s}-second"),
        }
    }

    pub fn window_ms(&self) -> i64 {
        i64::try_from(self.seconds.saturating_mul(1000)).unwrap_or(i64::MAX / 4)
    }

    pub fn slot_ms(&self) -> i64 {
        (self.window_ms() / SLOTS).max(1)
    }

    pub fn slot_of(&self, at_ms: i64) -> i64 {
        at_ms.div_euclid(self.slot_ms())
    }

    /// The oldest slot still counted at `now_ms`; older ones can be forgotten.
    pub fn oldest_counted(&self, now_ms: i64) -> i64 {
        self.slot_of(now_ms) - SLOTS - 1
    }

    /// Requests counted at `now_ms`, from `counts` (slot, requests) in any order.
    pub fn used(&self, counts: &[(i64, u64)], now_ms: i64) -> u64 {
        let oldest = self.oldest_counted(now_ms);
        counts.iter().filter(|(slot, _)| *slot >= oldest).map(|(_, n)| n).sum()
    }

    /// Whether one more request may go at `now_ms`: `Ok(slot)` to count it in, or `Err(ms)`,
    /// the moment enough of the oldest counted requests leave the window for one more.
    pub fn take(&self, counts: &[(i64, u64)], now_ms: i64) -> Result<i64, i64> {
        let oldest = self.oldest_counted(now_ms);
        let mut counted: Vec<(i64, u64)> = counts.iter().copied().filter(|(slot, _)| *slot >= oldest).collect();
        let used: u64 = counted.iter().map(|(_, n)| n).sum();
        let limit = u64::from(self.requests);
        if used < limit {
            return Ok(self.slot_of(now_ms));
        }
        counted.sort_unstable_by_key(|(slot, _)| *slot);
        // One request more than the limit allows has to leave before this one may go.
        let mut to_free = used + 1 - limit;
        for (slot, n) in counted {
            to_free = to_free.saturating_sub(n);
            if to_free == 0 {
                // A slot stops being counted once the current slot is SLOTS + 2 past it.
                return Err((slot + SLOTS + 2) * self.slot_ms());
            }
        }
        // A zero budget never frees; a window from now is as good a "later" as any.
        Err(now_ms + self.window_ms())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Requests per slot, as the store keeps them.
    type Counts = Vec<(i64, u64)>;

    /// Runs requests through one window at the given moments, as the store does: `Ok` for a
    /// request that went (and is counted), `Err(until)` for one that waited.
    fn run(window: RequestWindow, moments: &[i64]) -> (Counts, Vec<Result<i64, i64>>) {
        let mut counts: Counts = Vec::new();
        let mut results = Vec::new();
        for &now in moments {
            let result = window.take(&counts, now);
            if let Ok(slot) = result {
                match counts.iter_mut().find(|(s, _)| *s == slot) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((slot, 1)),
                }
            }
            results.push(result.map(|_| now));
        }
        (counts, results)
    }

    #[test]
    fn an_hour_sends_its_budget_then_waits_until_the_first_request_leaves() {
        let hour = RequestWindow::hourly(3);
        assert_eq!(hour.slot_ms(), 60_000, "a minute per slot");
        let start = 1_000 * 3600 * 500; // on a slot boundary
        let (_, results) = run(hour, &[start, start + 10_000, start + 61_000, start + 62_000]);
        assert!(results[..3].iter().all(Result::is_ok), "{results:?}");
        // The first request's slot is counted until 62 slots after it: an hour and two minutes.
        assert_eq!(results[3], Err(start + 62 * 60_000));
    }

    #[test]
    fn the_wait_ends_when_enough_requests_leave_not_just_the_first() {
        let hour = RequestWindow::hourly(4);
        let first = 1_000_000;
        let tenth = first + 9;
        let now = (first + 20) * 60_000;
        // One must leave (4 of 4 used): the first minute's one is enough.
        assert_eq!(hour.take(&[(tenth, 3), (first, 1)], now), Err((first + 62) * 60_000));
        // Two must leave (5 of 4 used, after a lowered budget): the first minute holds one, so
        // the wait runs to the end of the tenth minute's counting.
        assert_eq!(hour.take(&[(tenth, 4), (first, 1)], now), Err((tenth + 62) * 60_000));
        // Slots older than a window and a slot are forgotten.
        assert_eq!(hour.take(&[(first - 70, 100), (first, 1)], now), Ok(first + 20));
        assert_eq!(hour.used(&[(first - 70, 100), (first, 1)], now), 1);
    }

    #[test]
    fn no_window_of_the_length_ever_holds_more_than_the_budget() {
        let window = RequestWindow { requests: 5, seconds: 6 };
        // A request every 37 ms for a minute: each either goes or waits, and is tried again
        // at its next moment like the queue does.
        let moments: Vec<i64> = (0..1600).map(|i| 1_000_000 + i * 37).collect();
        let (_, results) = run(window, &moments);
        let sent: Vec<i64> = results.iter().filter_map(|r| r.ok()).collect();
        assert!(sent.len() >= 45, "about five every six seconds go: {}", sent.len());
        for (i, &first) in sent.iter().enumerate() {
            let within = sent[i..].iter().take_while(|&&t| t < first + window.window_ms()).count();
            assert!(within <= 5, "{within} requests within 6 s from {first}");
        }
        // And the waits say the truth: at the moment given, a request goes.
        let hour = RequestWindow::hourly(2);
        let (counts, results) = run(hour, &[0, 5, 10]);
        let until = results[2].expect_err("the third waits");
        assert!(hour.take(&counts, until - 1).is_err());
        assert!(hour.take(&counts, until).is_ok());
    }

    #[test]
    fn names_and_a_zero_budget() {
        assert_eq!(RequestWindow::hourly(1).name(), "hourly");
        assert_eq!(RequestWindow::daily(1).name(), "daily");
        assert_eq!(RequestWindow { requests: 1, seconds: 30 }.name(), "30-second");
        let none = RequestWindow { requests: 0, seconds: 60 };
        assert_eq!(none.take(&[], 0), Err(60_000));
    }
}

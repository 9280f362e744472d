//! Apps whose lists cannot be trusted: the paging and filtering mistakes real SCIM servers make,
//! switched on one by one so the client's checks (and what Tenure does about each) can be tested.
//! `scim2-server` and the vendor profiles page correctly; these do not, on purpose.

use tenure_scim::{Filter, ListResponse};

/// How the app gets its lists wrong. The default gets nothing wrong.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Misbehaviour {
    /// Answers the first page whatever `startIndex` asks (and says `startIndex: 1`).
    pub ignore_start_index: bool,
    /// Serves at most this many resources a page whatever `count` asks, without saying so
    /// (RFC 7644 §3.4.2.4 allows fewer; a correct client reads on from where the page ended).
    pub silent_count_cap: Option<usize>,
    /// Answers every page after the first with the page before it, echoing the `startIndex`
    /// asked for: a page handed out twice.
    pub repeat_page: bool,
    /// Added to the true `totalResults` (negative lies low, positive announces users that are not
    /// there).
    pub total_results_offset: i64,
    /// Answers any filter with the unfiltered list, as if no filter had been sent.
    pub ignore_filters: bool,
    /// Leaves users whose userName starts with this out of every unfiltered list, while a
    /// filter still finds them: the list an app documents as partial (Asana's guests, Figma's
    /// users made outside SCIM).
    pub unlisted_prefix: Option<&'static str>,
    /// Waits this long before answering each page of a list (a large app on a slow day), so
    /// that writes arriving meanwhile land between the pages of one walk.
    pub slow_list: Option<std::time::Duration>,
}

impl Misbehaviour {
    /// The filter the app acts on.
    pub(crate) fn filter<'a>(&self, asked: Option<&'a Filter>) -> Option<&'a Filter> {
        if self.ignore_filters { None } else { asked }
    }

    /// The userName prefix an unfiltered list hides.
    pub(crate) fn hidden(&self, filter: Option<&Filter>) -> Option<&'static str> {
        if filter.is_none() { self.unlisted_prefix } else { None }
    }

    /// `count` as the app serves it.
    pub(crate) fn count(&self, asked: usize) -> usize {
        self.silent_count_cap.map_or(asked, |cap| asked.min(cap))
    }

    /// The page to read for a request at `start_index` of `count`, and the `startIndex` to say.
    pub(crate) fn window(&self, start_index: usize, count: usize) -> (usize, usize) {
        if self.ignore_start_index {
            (1, 1)
        } else if self.repeat_page && start_index > 1 {
            (start_index.saturating_sub(count).max(1), start_index)
        } else {
            (start_index, start_index)
        }
    }

    /// Applies the lie about `totalResults` and the `startIndex` echoed.
    pub(crate) fn dress(
        &self,
        mut page: ListResponse<serde_json::Value>,
        said_start: usize,
    ) -> ListResponse<serde_json::Value> {
        page.start_index = said_start as u64;
        let total = i64::try_from(page.total_results).unwrap_or(i64::MAX).saturating_add(self.total_results_offset);
        page.total_results = u64::try_from(total.max(0)).unwrap_or(0);
        page
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_follow_each_mode() {
        let ok = Misbehaviour::default();
        assert_eq!(ok.window(21, 20), (21, 21));
        let ignoring = Misbehaviour { ignore_start_index: true, ..ok };
        assert_eq!(ignoring.window(21, 20), (1, 1));
        let repeating = Misbehaviour { repeat_page: true, ..ok };
        assert_eq!(repeating.window(1, 20), (1, 1));
        assert_eq!(repeating.window(21, 20), (1, 21));
        let capped = Misbehaviour { silent_count_cap: Some(20), ..ok };
        assert_eq!((capped.count(100), capped.count(5)), (20, 5));
        let liar = Misbehaviour { total_results_offset: -50, ..ok };
        assert_eq!(liar.dress(ListResponse::new(45, 1, Vec::new()), 1).total_results, 0);
    }
}

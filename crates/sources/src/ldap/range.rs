//! Active Directory's ranged retrieval of big multi-valued attributes: a group with more members
//! than the server's MaxValRange (1500 by default) comes back as `member;range=0-1499` instead of
//! `member`, and the rest is asked for as `member;range=1500-*` until the server answers with a
//! range ending in `*`.
//! <https://learn.microsoft.com/en-us/previous-versions/windows/desktop/ldap/searching-using-range-retrieval>

/// An attribute description with a range option, as a server returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ranged<'a> {
    /// The attribute without options, e.g. `member`.
    pub attr: &'a str,
    pub start: u64,
    /// `None` for `*`: this is the last chunk.
    pub end: Option<u64>,
}

/// Parses `member;range=0-1499` (case-insensitive option name); `None` when the description has
/// no range option or it is malformed.
pub fn parse(description: &str) -> Option<Ranged<'_>> {
    let (attr, options) = description.split_once(';')?;
    let spec = options.split(';').find_map(|o| {
        let (name, value) = o.split_once('=')?;
        name.eq_ignore_ascii_case("range").then_some(value)
    })?;
    let (start, end) = spec.split_once('-')?;
    let start = start.parse().ok()?;
    let end = match end {
        "*" => None,
        n => Some(n.parse().ok().filter(|e| *e >= start)?),
    };
    Some(Ranged { attr, start, end })
}

/// What to ask for after a chunk ending at `end`.
pub fn next_request(attr: &str, end: u64) -> String {
    format!("{attr};range={}-*", end + 1)
}

/// Collects a ranged attribute chunk by chunk, refusing chunks that do not continue where the
/// last one stopped (a server answering the same range again would loop forever).
#[derive(Debug, Default)]
pub struct Collector {
    pub values: Vec<Vec<u8>>,
    next_start: u64,
    done: bool,
}

impl Collector {
    /// Adds one chunk; returns the next attribute to request, or `None` when complete.
    pub fn add(&mut self, ranged: &Ranged<'_>, values: Vec<Vec<u8>>) -> Result<Option<String>, String> {
        if self.done {
            return Err(format!("{}: a range arrived after the last one", ranged.attr));
        }
        if ranged.start != self.next_start {
            return Err(format!(
                "{}: expected a range starting at {}, got {}",
                ranged.attr, self.next_start, ranged.start
            ));
        }
        self.values.extend(values);
        match ranged.end {
            None => {
                self.done = true;
                Ok(None)
            }
            Some(end) => {
                self.next_start = end + 1;
                Ok(Some(next_request(ranged.attr, end)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_range_options() {
        assert_eq!(parse("member;range=0-1499"), Some(Ranged { attr: "member", start: 0, end: Some(1499) }));
        assert_eq!(parse("member;Range=1500-*"), Some(Ranged { attr: "member", start: 1500, end: None }));
        assert_eq!(parse("member"), None);
        assert_eq!(parse("member;range=10-2"), None);
        assert_eq!(parse("member;range=a-*"), None);
        assert_eq!(parse("member;binary"), None);
    }

    #[test]
    fn collects_a_big_group_in_chunks() {
        // Canned AD answers for a group of 3,200 members with MaxValRange 1500.
        let chunk = |from: u32, to: u32| (from..=to).map(|i| format!("CN=u{i},DC=x").into_bytes()).collect::<Vec<_>>();
        let mut c = Collector::default();
        let next = c.add(&parse("member;range=0-1499").unwrap(), chunk(0, 1499)).unwrap();
        assert_eq!(next.as_deref(), Some("member;range=1500-*"));
        let next = c.add(&parse("member;range=1500-2999").unwrap(), chunk(1500, 2999)).unwrap();
        assert_eq!(next.as_deref(), Some("member;range=3000-*"));
        assert_eq!(c.add(&parse("member;range=3000-*").unwrap(), chunk(3000, 3199)).unwrap(), None);
        assert_eq!(c.values.len(), 3200);
        assert_eq!(c.values[3199], b"CN=u3199,DC=x");
        assert!(c.add(&parse("member;range=3200-*").unwrap(), vec![]).is_err(), "nothing after the last range");
        let mut again = Collector::default();
        again.add(&parse("member;range=0-1499").unwrap(), vec![]).unwrap();
        assert!(again.add(&parse("member;range=0-1499").unwrap(), vec![]).is_err(), "a repeated range is refused");
    }
}

//! Attribute rules: what a vendor documents it refuses on a create (Salesforce: no profile
//! entitlement; Airtable: an email domain that is not the enterprise's), as data. The planner
//! checks a create against its app's rules and reports a refusal as a plan problem, so the
//! create is never sent to fail.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::attributes::Attributes;

/// One rule on one attribute of a new account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeRule {
    /// Tenure's attribute name (`userName`, `email`, `license`, `displayName`, ...).
    pub attribute: String,
    pub rule: RuleKind,
    /// `one-of`: the values allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// `email-domain-in`: the per-app list (`AppSettings::rule_lists`) holding the domains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<String>,
    /// `max-len`: the most characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<usize>,
    /// `pattern`: a regular expression the whole value must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// What the vendor says, for the admin reading the refusal.
    pub reason: String,
    /// Keys of the catalog entry's sources (empty once copied into an app's settings).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleKind {
    /// The attribute must be set.
    Required,
    /// When set, the value must be one of `values` (exact, case-sensitive).
    OneOf,
    /// When set, the value must look like an email address.
    Email,
    /// When set, the value's email domain must be in the app's list `list` (case-insensitive).
    EmailDomainIn,
    /// When set, at most `max` characters.
    MaxLen,
    /// When set, the whole value matches `pattern`.
    Pattern,
}

impl fmt::Display for RuleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Required => "required",
            Self::OneOf => "one-of",
            Self::Email => "email",
            Self::EmailDomainIn => "email-domain-in",
            Self::MaxLen => "max-len",
            Self::Pattern => "pattern",
        })
    }
}

impl AttributeRule {
    /// What is wrong with the rule itself: a parameter its kind needs is missing, or one it
    /// does not use is given, or its pattern does not compile.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let at = format!("rule {} on {}", self.rule, self.attribute);
        if self.attribute.trim().is_empty() {
            problems.push(format!("{at}: name the attribute"));
        }
        if self.reason.trim().is_empty() {
            problems.push(format!("{at}: give the vendor's reason"));
        }
        let given = [
            ("values", !self.values.is_empty()),
            ("list", self.list.is_some()),
            ("max", self.max.is_some()),
            ("pattern", self.pattern.is_some()),
        ];
        let needs = match self.rule {
            RuleKind::Required | RuleKind::Email => None,
            RuleKind::OneOf => Some("values"),
            RuleKind::EmailDomainIn => Some("list"),
            RuleKind::MaxLen => Some("max"),
            RuleKind::Pattern => Some("pattern"),
        };
        for (name, present) in given {
            if present && needs != Some(name) {
                problems.push(format!("{at}: {name} does not apply"));
            }
            if !present && needs == Some(name) {
                problems.push(format!("{at}: needs {name}"));
            }
        }
        if self.max == Some(0) {
            problems.push(format!("{at}: max must be at least 1"));
        }
        if let Some(list) = &self.list
            && !valid_list_name(list)
        {
            problems.push(format!("{at}: list {list:?}: use lowercase letters, digits and underscores"));
        }
        if let Some(pattern) = &self.pattern
            && let Err(e) = anchored(pattern)
        {
            problems.push(format!("{at}: pattern {pattern:?}: {e}"));
        }
        problems
    }

    /// Why the vendor would refuse a new account with `attrs`, or `None` when this rule is met.
    /// `lists` are the app's value lists (see [`RuleKind::EmailDomainIn`]).
    pub fn refusal(&self, attrs: &Attributes, lists: &BTreeMap<String, Vec<String>>) -> Option<String> {
        let value = attrs.get(&self.attribute).map(String::as_str).filter(|v| !v.is_empty());
        let broken = match (self.rule, value) {
            (RuleKind::Required, None) => Some(format!("{} is not set", self.attribute)),
            (_, None) | (RuleKind::Required, Some(_)) => None,
            (RuleKind::OneOf, Some(v)) => (!self.values.iter().any(|a| a == v))
                .then(|| format!("{} {v:?} is not one of {}", self.attribute, self.values.join(", "))),
            (RuleKind::Email, Some(v)) => {
                email_domain(v).is_none().then(|| format!("{} {v:?} is not an email address", self.attribute))
            }
            (RuleKind::EmailDomainIn, Some(v)) => {
                let name = self.list.as_deref().unwrap_or_default();
                let allowed = lists.get(name).map(Vec::as_slice).unwrap_or_default();
                match email_domain(v) {
                    None => Some(format!("{} {v:?} is not an email address", self.attribute)),
                    Some(_) if allowed.is_empty() => Some(format!(
                        "the app's list {name} is empty: set it (`tenure app edit APP --rule-list {name}=DOMAIN,...`)"
                    )),
                    Some(domain) => (!allowed.iter().any(|d| d.eq_ignore_ascii_case(domain))).then(|| {
                        format!("{} {v:?}: domain {domain} is not in {name} ({})", self.attribute, allowed.join(", "))
                    }),
                }
            }
            (RuleKind::MaxLen, Some(v)) => {
                let max = self.max.unwrap_or(usize::MAX);
                let len = v.chars().count();
                (len > max).then(|| format!("{} is {len} characters, more than {max}", self.attribute))
            }
            (RuleKind::Pattern, Some(v)) => {
                let pattern = self.pattern.as_deref().unwrap_or_default();
                // Checked at load; a pattern that no longer compiles refuses rather than passes.
                let matches = anchored(pattern).is_ok_and(|re| re.is_match(v));
                (!matches).then(|| format!("{} {v:?} does not match {pattern}", self.attribute))
            }
        };
        broken.map(|b| format!("{b}: {}", self.reason))
    }
}

/// The first rule of `rules` a new account with `attrs` breaks, as the refusal to report.
pub fn refusal(rules: &[AttributeRule], attrs: &Attributes, lists: &BTreeMap<String, Vec<String>>) -> Option<String> {
    rules.iter().find_map(|r| r.refusal(attrs, lists))
}

/// The name of a per-app list: what `--rule-list NAME=...` accepts.
pub fn valid_list_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The domain of an email address: one `@`, a local part, and a dotted domain without spaces.
pub fn email_domain(value: &str) -> Option<&str> {
    let (local, domain) = value.split_once('@')?;
    let plausible = !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !value.chars().any(char::is_whitespace);
    plausible.then_some(domain)
}

fn anchored(pattern: &str) -> Result<regex_lite::Regex, regex_lite::Error> {
    regex_lite::Regex::new(&format!("^(?:{pattern})$"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(text: &str) -> AttributeRule {
        toml::from_str(text).expect("rule")
    }

    fn attrs(pairs: &[(&str, &str)]) -> Attributes {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn each_kind_refuses_and_passes() {
        let none = BTreeMap::new();
        let required = rule("attribute = 'license'\nrule = 'required'\nreason = 'one profile'");
        assert!(required.refusal(&attrs(&[("license", "00e1")]), &none).is_none());
        let r = required.refusal(&attrs(&[("license", "")]), &none).expect("empty is unset");
        assert_eq!(r, "license is not set: one profile");

        let one_of = rule("attribute = 'role'\nrule = 'one-of'\nvalues = ['Full', 'View']\nreason = 'seat'");
        assert!(one_of.refusal(&attrs(&[("role", "View")]), &none).is_none());
        assert!(one_of.refusal(&attrs(&[]), &none).is_none(), "only a value given is checked");
        assert!(one_of.refusal(&attrs(&[("role", "view")]), &none).is_some(), "case-sensitive");

        let email = rule("attribute = 'userName'\nrule = 'email'\nreason = 'an email'");
        assert!(email.refusal(&attrs(&[("userName", "ann@example.com")]), &none).is_none());
        for bad in ["ann", "ann@", "@example.com", "ann@example", "a b@example.com", "a@b@example.com"] {
            assert!(email.refusal(&attrs(&[("userName", bad)]), &none).is_some(), "{bad}");
        }

        let domain = rule("attribute = 'userName'\nrule = 'email-domain-in'\nlist = 'verified_domains'\nreason = 'r'");
        let lists = BTreeMap::from([("verified_domains".to_owned(), vec!["Example.com".to_owned()])]);
        assert!(domain.refusal(&attrs(&[("userName", "ann@example.COM")]), &lists).is_none());
        let r = domain.refusal(&attrs(&[("userName", "ann@other.org")]), &lists).expect("other domain");
        assert!(r.contains("other.org is not in verified_domains"), "{r}");
        let r = domain.refusal(&attrs(&[("userName", "ann@example.com")]), &none).expect("no list");
        assert!(r.contains("--rule-list verified_domains="), "{r}");

        let max = rule("attribute = 'displayName'\nrule = 'max-len'\nmax = 3\nreason = 'short'");
        assert!(max.refusal(&attrs(&[("displayName", "Ånn")]), &none).is_none(), "characters, not bytes");
        assert!(max.refusal(&attrs(&[("displayName", "Anne")]), &none).is_some());

        let pattern = rule("attribute = 'userName'\nrule = 'pattern'\npattern = '[a-z._-]+'\nreason = 'r'");
        assert!(pattern.refusal(&attrs(&[("userName", "ann.lee")]), &none).is_none());
        assert!(pattern.refusal(&attrs(&[("userName", "ann lee")]), &none).is_some(), "anchored");
    }

    #[test]
    fn a_rule_missing_its_parameter_or_with_a_stray_one_is_a_problem() {
        let p = rule("attribute = 'userName'\nrule = 'max-len'\nreason = 'r'").problems();
        assert_eq!(p, ["rule max-len on userName: needs max"]);
        let p = rule("attribute = 'userName'\nrule = 'required'\nmax = 3\nreason = 'r'").problems();
        assert_eq!(p, ["rule required on userName: max does not apply"]);
        let p = rule("attribute = 'userName'\nrule = 'pattern'\npattern = '('\nreason = 'r'").problems();
        assert!(p[0].starts_with("rule pattern on userName: pattern \"(\""), "{p:?}");
        let p = rule("attribute = 'userName'\nrule = 'email-domain-in'\nlist = 'Domains'\nreason = ''").problems();
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(toml::from_str::<AttributeRule>("attribute = 'a'\nrule = 'unique'\nreason = 'r'").is_err());
        assert!(toml::from_str::<AttributeRule>("attribute = 'a'\nrule = 'email'\nreason = 'r'\nmaxx = 1").is_err());
    }
}

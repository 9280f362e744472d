//! Prints a filter so that `parse_filter(&f.to_string()) == Ok(f)`: every `and`/`or` is
//! parenthesised (so the tree's shape survives whatever the precedence), strings use JSON escapes.

use std::fmt;

use super::Filter;

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Compare { path, op, value } => write!(f, "{path} {} {value}", op.as_str()),
            Filter::Present(path) => write!(f, "{path} pr"),
            Filter::And(a, b) => write!(f, "({a} and {b})"),
            Filter::Or(a, b) => write!(f, "({a} or {b})"),
            Filter::Not(a) => write!(f, "not ({a})"),
            Filter::ValuePath { path, filter } => write!(f, "{path}[{filter}]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::filter::parse_filter;

    #[test]
    fn printer_round_trips() {
        for text in [
            r#"userName eq "a\"b" or (title pr and not (x.y ge 3))"#,
            r#"emails[type eq "work"]"#,
            r#"emails[type eq "work" or (type eq "home" and primary eq true)].value co "@x""#,
            "a eq null and b ne false and c lt -1.25",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq \"x\"",
            r#"a eq "tab\there ü \u0001""#,
        ] {
            let f = parse_filter(text).unwrap();
            let printed = f.to_string();
            assert_eq!(parse_filter(&printed).unwrap(), f, "{text} printed as {printed}");
        }
    }
}

//! Any text as a mapping expression or an assignment rule: parsing never panics, an error points
//! inside the source, and what parses evaluates against a person without panicking.

use std::collections::BTreeMap;

use tenure_core::expr::{Expr, Rule};

pub fn check(data: &[u8]) {
    let Ok(src) = std::str::from_utf8(data) else { return };
    let person: BTreeMap<String, String> = [
        ("userName", "zoe@example.com"),
        ("givenName", "Zoë"),
        ("familyName", "O'Brien-Núñez"),
        ("email", "zoe@example.com"),
        ("department", "Sales"),
        ("title", ""),
        ("startDate", "2024-02-29"),
        ("custom.cost_center", "4711"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    match Expr::parse(src) {
        Ok(expr) => {
            assert_eq!(expr.source(), src);
            let _ = expr.eval(&person);
            let _ = expr.eval_text(&person);
            let _ = expr.eval_bool(&person);
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    if let Ok(rule) = Rule::parse(src) {
        let _ = rule.evaluate(&person);
    }
}

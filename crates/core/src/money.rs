//! Money as exact decimals: prices and costs are counted in ten-thousandths of a currency unit in
//! an `i64`, never in floating point, so sums of seats and prices add up to the cent.
//!
//! In JSON an amount is a number written with its exact decimal digits (`12.5`, `8.33`): the
//! value is converted to the nearest double only at that boundary, and every amount Tenure
//! writes (at most 4 decimals, far below 2^53 units) prints back as the same decimal.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Ten-thousandths in one unit.
const SCALE: i64 = 10_000;
/// The largest amount accepted as input: a trillion, far below overflow even times a million
/// seats.
const MAX_UNITS: i64 = 1_000_000_000_000 * SCALE;

/// An amount of money (no currency): exact to four decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an amount: use a decimal number such as 12 or 7.25 (at most 4 decimals, not negative)")]
pub struct BadAmount(pub String);

impl Money {
    pub const ZERO: Money = Money(0);

    /// The amount in ten-thousandths.
    pub fn units(self) -> i64 {
        self.0
    }

    pub fn from_units(units: i64) -> Self {
        Self(units)
    }

    /// `count` times `self` divided by `divisor`, rounded half up to the cent: how much
    /// `count` seats cost a month when `self` buys one for `divisor` months.
    pub fn times_over(self, count: u64, divisor: u32) -> Money {
        let exact = i128::from(self.0) * i128::from(count);
        let cent = i128::from(SCALE / 100) * i128::from(divisor.max(1));
        let cents = (exact + cent / 2) / cent;
        Money(i64::try_from(cents * i128::from(SCALE / 100)).unwrap_or(i64::MAX))
    }

    pub fn checked_add(self, other: Money) -> Money {
        Money(self.0.saturating_add(other.0))
    }

    /// The nearest double, for JSON: every amount of at most 4 decimals and 15 digits prints
    /// back as the same decimal.
    pub fn to_f64(self) -> f64 {
        self.to_string().parse().unwrap_or(f64::NAN)
    }
}

impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, Money::checked_add)
    }
}

impl fmt::Display for Money {
    /// At least two decimals (`12.50`), more only when the amount has them (`7.1234`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let whole = abs / SCALE as u64;
        let mut frac = format!("{:04}", abs % SCALE as u64);
        while frac.len() > 2 && frac.ends_with('0') {
            frac.pop();
        }
        write!(f, "{sign}{whole}.{frac}")
    }
}

impl FromStr for Money {
    type Err = BadAmount;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let bad = || BadAmount(raw.to_owned());
        let s = raw.trim();
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() && frac.is_empty() || !digits(whole) || !digits(frac) || frac.len() > 4 {
            return Err(bad());
        }
        if s.ends_with('.') || whole.len() > 13 {
            return Err(bad());
        }
        let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| bad())? };
        let frac: i64 = format!("{frac:0<4}").parse().map_err(|_| bad())?;
        let units = whole.checked_mul(SCALE).and_then(|w| w.checked_add(frac)).ok_or_else(bad)?;
        if units > MAX_UNITS {
            return Err(bad());
        }
        Ok(Money(units))
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.to_f64())
    }
}

impl<'de> Deserialize<'de> for Money {
    /// A JSON number or a string holding the decimal: a number goes through its shortest
    /// decimal form, which is the one its sender wrote.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(f64),
        }
        let text = match Raw::deserialize(deserializer)? {
            Raw::Text(t) => t,
            Raw::Number(n) if n.is_finite() => n.to_string(),
            Raw::Number(n) => return Err(serde::de::Error::custom(BadAmount(n.to_string()))),
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Money {
        s.parse().expect(s)
    }

    #[test]
    fn amounts_parse_exactly_and_print_back() {
        assert_eq!(m("12").units(), 120_000);
        assert_eq!(m("7.25").to_string(), "7.25");
        assert_eq!(m("0.1").to_string(), "0.10");
        assert_eq!(m(".5").to_string(), "0.50");
        assert_eq!(m("7.1234").to_string(), "7.1234");
        assert_eq!(m("0.1").checked_add(m("0.2")), m("0.3"), "no floating-point drift");
        for bad in ["", ".", "1.", "-1", "1e3", "1.23456", "NaN", "1,5", "99999999999999", " 1 2"] {
            assert!(bad.parse::<Money>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn monthly_amounts_round_half_up_to_the_cent() {
        assert_eq!(m("100").times_over(1, 12).to_string(), "8.33");
        assert_eq!(m("100").times_over(15, 12).to_string(), "125.00");
        assert_eq!(m("0.125").times_over(1, 1).to_string(), "0.13");
        assert_eq!(m("8.25").times_over(15, 1).to_string(), "123.75");
        assert_eq!(m("8.25").times_over(0, 1), Money::ZERO);
    }

    #[test]
    fn json_is_a_number_with_the_exact_digits() {
        assert_eq!(serde_json::to_string(&m("123.75")).unwrap(), "123.75");
        assert_eq!(serde_json::to_string(&m("8.33")).unwrap(), "8.33");
        assert_eq!(serde_json::to_string(&m("60")).unwrap(), "60.0");
        assert_eq!(serde_json::from_str::<Money>("8.33").unwrap(), m("8.33"));
        assert_eq!(serde_json::from_str::<Money>("\"4.1\"").unwrap(), m("4.1"));
        assert!(serde_json::from_str::<Money>("-1").is_err());
    }
}

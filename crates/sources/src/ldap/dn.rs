//! Distinguished names (RFC 4514, <https://www.rfc-editor.org/rfc/rfc4514>): parsed into RDNs so
//! that a group's `member` value can be matched with the entry it names (servers keep values as
//! written, so case and spacing may differ), and so that an entry's org unit can be read from its
//! `ou=` components.

/// One attribute-value assertion of an RDN, the type lower-cased and the value unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ava {
    pub attr: String,
    pub value: String,
}

/// A parsed DN, leaf RDN first (as written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dn(pub Vec<Vec<Ava>>);

impl Dn {
    /// Parses RFC 4514 syntax, plus the RFC 2253 leftovers servers still emit (`;` separators,
    /// spaces around separators, quoted values).
    pub fn parse(raw: &str) -> Result<Dn, String> {
        let mut rdns = Vec::new();
        let mut rdn = Vec::new();
        let mut chars = raw.chars().peekable();
        if raw.trim().is_empty() {
            return Ok(Dn(Vec::new()));
        }
        loop {
            // attribute type
            let mut attr = String::new();
            while let Some(&c) = chars.peek() {
                if c == '=' {
                    break;
                }
                attr.push(c);
                chars.next();
            }
            if chars.next() != Some('=') {
                return Err(format!("{raw:?} is not a DN: expected '=' after {:?}", attr.trim()));
            }
            let attr = attr.trim().to_ascii_lowercase();
            if attr.is_empty() {
                return Err(format!("{raw:?} is not a DN: an attribute type is empty"));
            }
            // value
            let mut value = String::new();
            let mut bytes: Vec<u8> = Vec::new();
            let flush = |bytes: &mut Vec<u8>, value: &mut String| -> Result<(), String> {
                if !bytes.is_empty() {
                    let s =
                        std::str::from_utf8(bytes).map_err(|_| format!("{raw:?}: an escaped value is not UTF-8"))?;
                    value.push_str(s);
                    bytes.clear();
                }
                Ok(())
            };
            while chars.peek() == Some(&' ') {
                chars.next();
            }
            let mut quoted = false;
            if chars.peek() == Some(&'"') {
                quoted = true;
                chars.next();
            }
            // Trailing unescaped spaces are not part of the value; escaped ones are.
            let mut significant_len = 0;
            let mut end = None;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        let Some(first) = chars.next() else {
                            return Err(format!("{raw:?}: a DN ends with a lone backslash"));
                        };
                        if first.is_ascii_hexdigit() {
                            let second = chars.next().filter(char::is_ascii_hexdigit).ok_or_else(|| {
                                format!(
                                    "{raw:?}: a backslash must be followed by a special character or two hex digits"
                                )
                            })?;
                            let hex = format!("{first}{second}");
                            bytes.push(u8::from_str_radix(&hex, 16).map_err(|e| e.to_string())?);
                        } else {
                            flush(&mut bytes, &mut value)?;
                            value.push(first);
                        }
                        significant_len = value.len() + bytes.len();
                    }
                    '"' if quoted => {
                        quoted = false;
                        significant_len = value.len() + bytes.len();
                    }
                    ',' | ';' | '+' if !quoted => {
                        end = Some(c);
                        break;
                    }
                    other => {
                        flush(&mut bytes, &mut value)?;
                        value.push(other);
                        if quoted || other != ' ' {
                            significant_len = value.len();
                        }
                    }
                }
            }
            flush(&mut bytes, &mut value)?;
            if quoted {
                return Err(format!("{raw:?}: unterminated quoted value"));
            }
            value.truncate(significant_len);
            rdn.push(Ava { attr, value });
            match end {
                Some('+') => continue,
                Some(_) => rdns.push(std::mem::take(&mut rdn)),
                None => {
                    rdns.push(rdn);
                    break;
                }
            }
        }
        Ok(Dn(rdns))
    }

    /// A form two spellings of the same DN share: types and values lower-cased (the naming
    /// attributes in use, cn, uid, ou, dc, o, match case-insensitively), multi-valued RDNs
    /// sorted, and special characters escaped.
    pub fn normalized(&self) -> String {
        let mut out = String::new();
        for (i, rdn) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let mut avas: Vec<String> =
                rdn.iter().map(|a| format!("{}={}", a.attr, escape(&a.value.to_lowercase()))).collect();
            avas.sort();
            out.push_str(&avas.join("+"));
        }
        out
    }

    /// The `ou=` components above the entry, outermost first: `uid=a,ou=EMEA,ou=Sales,dc=x` ->
    /// `["Sales", "EMEA"]`.
    pub fn org_units(&self) -> Vec<&str> {
        let mut units: Vec<&str> = self
            .0
            .iter()
            .skip(1)
            .filter_map(|rdn| rdn.iter().find(|a| a.attr == "ou").map(|a| a.value.as_str()))
            .collect();
        units.reverse();
        units
    }

    /// The leaf RDN's value for `attr`, e.g. the `cn` of `cn=Ann,ou=People`.
    pub fn leaf_value(&self, attr: &str) -> Option<&str> {
        self.0.first()?.iter().find(|a| a.attr.eq_ignore_ascii_case(attr)).map(|a| a.value.as_str())
    }
}

fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=')
            || (i == 0 && (c == '#' || c == ' '))
            || (i + 1 == value.chars().count() && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Normalizes a DN string; a value that is not a DN is an error naming it.
pub fn normalize(raw: &str) -> Result<String, String> {
    Dn::parse(raw).map(|dn| dn.normalized())
}

/// A `uniqueMember` value (RFC 4519 nameAndOptionalUID) may carry `#'0101'B` after the DN.
pub fn strip_optional_uid(value: &str) -> &str {
    match value.rfind("#'") {
        Some(at) if value.ends_with("'B") => &value[..at],
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_escapes_quotes_and_spacing() {
        let dn = Dn::parse(r"CN=Lee\, Ann + UID=ann, OU=Sales ;dc=Example,DC=com").unwrap();
        assert_eq!(dn.0.len(), 4);
        assert_eq!(
            dn.0[0],
            vec![Ava { attr: "cn".into(), value: "Lee, Ann".into() }, Ava { attr: "uid".into(), value: "ann".into() }]
        );
        assert_eq!(dn.normalized(), r"cn=lee\, ann+uid=ann,ou=sales,dc=example,dc=com");
        assert_eq!(normalize(r#"uid=ann+cn=Lee\2C Ann,ou="Sales",dc=example,dc=com"#).unwrap(), dn.normalized());
        assert_eq!(Dn::parse(r"cn=caf\C3\A9\ ").unwrap().0[0][0].value, "café ");
        assert!(Dn::parse("no equals sign").is_err());
        assert!(Dn::parse(r"cn=a\").is_err());
        assert!(Dn::parse(r"cn=a\zz").is_ok(), "an escaped special-or-not character stands for itself");
        assert!(Dn::parse(r#"cn="open"#).is_err());
    }

    #[test]
    fn org_units_outermost_first() {
        let dn = Dn::parse("uid=a,ou=EMEA,ou=Sales,dc=x").unwrap();
        assert_eq!(dn.org_units(), ["Sales", "EMEA"]);
        assert!(Dn::parse("CN=Ann,CN=Users,DC=corp,DC=com").unwrap().org_units().is_empty());
        assert_eq!(
            Dn::parse("ou=Leaf,ou=Top,dc=x").unwrap().org_units(),
            ["Top"],
            "the entry's own RDN is not its unit"
        );
    }

    #[test]
    fn unique_member_uid_suffix() {
        assert_eq!(strip_optional_uid("uid=a,dc=x#'0101'B"), "uid=a,dc=x");
        assert_eq!(strip_optional_uid("uid=a,dc=x"), "uid=a,dc=x");
    }
}

//! Any bytes as an HR CSV export (people file and groups file): parsing never panics; an export
//! that parses names every person once, by a non-empty key; one that does not says why.

use std::collections::HashSet;

use tenure_sources::hr_csv;
use tenure_sources::{CsvFormat, CsvMapping};

pub fn check(data: &[u8]) {
    let (format, mapping) = (CsvFormat::default(), CsvMapping::default());
    match hr_csv::parse_people(data, &mapping, &format) {
        Ok(people) => {
            let mut keys = HashSet::new();
            for person in &people {
                assert!(!person.source_key.is_empty(), "a person without a key");
                assert!(keys.insert(person.source_key.as_str()), "key {} twice", person.source_key);
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    if let Err(e) = hr_csv::parse_groups(data, &format) {
        assert!(!e.to_string().is_empty());
    }
    // Both files at once, as an upload of both is loaded.
    let _ = hr_csv::load(data, Some(data), &mapping, &format);
}

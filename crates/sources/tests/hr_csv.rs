//! The HR export as real exports come: other delimiters and encodings, local date formats, and
//! files with many problems reported in one pass.

use tenure_core::model::PersonStatus;
use tenure_sources::hr_csv::{
    CsvError, CsvFormat, CsvMapping, DateFormat, Delimiter, Encoding, MAX_ROW_ERRORS, load, parse_people,
};
use time::macros::date;

fn people(bytes: &[u8], format: &CsvFormat) -> Result<Vec<tenure_core::import::ImportedPerson>, CsvError> {
    parse_people(bytes, &CsvMapping::default(), format)
}

fn auto() -> CsvFormat {
    CsvFormat::default()
}

#[test]
fn the_delimiter_is_detected_or_configured() {
    for (delimiter, text) in [
        (Delimiter::Comma, "employee_id,email,title\nE1,a@x.io,\"Head, Sales\"\n"),
        (Delimiter::Semicolon, "employee_id;email;title\nE1;a@x.io;Head, Sales\n"),
        (Delimiter::Tab, "employee_id\temail\ttitle\nE1\ta@x.io\tHead, Sales\n"),
        (Delimiter::Pipe, "employee_id|email|title\nE1|a@x.io|Head, Sales\n"),
    ] {
        let detected = people(text.as_bytes(), &auto()).unwrap();
        assert_eq!(detected[0].title.as_deref(), Some("Head, Sales"), "{delimiter:?}");
        let configured = CsvFormat { delimiter: Some(delimiter), ..auto() };
        assert_eq!(people(text.as_bytes(), &configured).unwrap(), detected);
    }
    // A configured delimiter is used even when another one looks likelier: a one-column read
    // of a semicolon file cannot find the email column, and says which columns it found.
    let e = people(b"employee_id;email\nE1;a@x.io\n", &CsvFormat { delimiter: Some(Delimiter::Comma), ..auto() })
        .unwrap_err();
    assert!(e.to_string().contains("found columns: \"employee_id;email\""), "{e}");
}

#[test]
fn semicolon_files_quote_their_group_lists() {
    let text = "employee_id;email;groups\r\nE1;a@x.io;\"eng;everyone\"\r\nE2;b@x.io;eng\r\n";
    let p = people(text.as_bytes(), &auto()).unwrap();
    assert_eq!(p[0].groups, ["eng", "everyone"]);
    assert_eq!(p[1].groups, ["eng"]);
}

#[test]
fn encodings_boms_and_invalid_utf8() {
    let text = "employee_id,email,family_name,title\nE1,a@x.io,Müller-Lüdenscheidt,Ingénieur – R&D\n";
    let expect = |people: Vec<tenure_core::import::ImportedPerson>| {
        assert_eq!(people[0].family_name.as_deref(), Some("Müller-Lüdenscheidt"));
        assert_eq!(people[0].title.as_deref(), Some("Ingénieur – R&D"));
    };
    expect(people(text.as_bytes(), &auto()).unwrap());
    expect(people(&[b"\xEF\xBB\xBF", text.as_bytes()].concat(), &auto()).unwrap());
    let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
    expect(people(&[&b"\xFF\xFE"[..], &le].concat(), &auto()).unwrap());
    expect(people(&[&b"\xFE\xFF"[..], &be].concat(), &auto()).unwrap());
    expect(people(&le, &CsvFormat { encoding: Some(Encoding::Utf16Le), ..auto() }).unwrap());

    // Windows-1252 as Excel writes it: ü = FC, é = E9, en dash = 96.
    let cp1252 = b"employee_id,email,family_name,title\nE1,a@x.io,M\xfcller-L\xfcdenscheidt,Ing\xe9nieur \x96 R&D\n";
    expect(people(cp1252, &CsvFormat { encoding: Some(Encoding::Windows1252), ..auto() }).unwrap());
    let latin1 = people(cp1252, &CsvFormat { encoding: Some(Encoding::Latin1), ..auto() }).unwrap();
    assert_eq!(latin1[0].family_name.as_deref(), Some("Müller-Lüdenscheidt"));

    // Unconfigured, the same file is not UTF-8: the error names the first line and column.
    let e = people(cp1252, &auto()).unwrap_err();
    assert!(matches!(e, CsvError::Rows { .. }), "both bad fields are reported: {e}");
    let problems = e.problems();
    assert_eq!(problems.len(), 2);
    assert_eq!((problems[0].line, problems[0].column.as_deref()), (Some(2), Some("family_name")));
    assert_eq!((problems[1].line, problems[1].column.as_deref()), (Some(2), Some("title")));
    assert!(problems[0].message.contains("not valid UTF-8") && problems[0].message.contains("--encoding"));
}

#[test]
fn a_configured_date_format_is_accepted_besides_iso() {
    let format = CsvFormat { date_format: Some("DD.MM.YYYY".parse().unwrap()), ..auto() };
    let text = "employee_id;email;start_date;leave_date\nE1;a@x.io;01.02.2024;2025-12-31\nE2;b@x.io;;31.13.2024\n";
    let e = people(text.as_bytes(), &format).unwrap_err();
    assert_eq!(e.to_string(), "line 3: invalid leave_date \"31.13.2024\": expected a date as YYYY-MM-DD or DD.MM.YYYY");
    let ok = people(text.replace("31.13.2024", "31.12.2024").as_bytes(), &format).unwrap();
    assert_eq!((ok[0].start_date, ok[0].leave_date), (Some(date!(2024 - 02 - 01)), Some(date!(2025 - 12 - 31))));
    assert_eq!(ok[1].leave_date, Some(date!(2024 - 12 - 31)));

    let us: DateFormat = "MM/DD/YYYY".parse().unwrap();
    let ok =
        people(b"employee_id,email,start_date\nE1,a@x.io,12/31/2024\n", &CsvFormat { date_format: Some(us), ..auto() })
            .unwrap();
    assert_eq!(ok[0].start_date, Some(date!(2024 - 12 - 31)));
}

#[test]
fn every_row_problem_is_reported_in_one_pass_sorted_by_line() {
    let text = "employee_id,email,status,start_date,org_unit,title\n\
                E1,a@x.io,active,2024-01-01,/Sales,\n\
                E2,not-an-email,active,2024-01-01,/Sales,\n\
                E3,c@x.io,retired,2024-13-01,/Sales,\n\
                E1,d@x.io,,,,\n\
                E5,e@x.io,,,//,\n\
                E6,f@x.io\n\
                ,g@x.io,,,,\n\
                E8,A@X.io,,,,\n";
    let e = people(text.as_bytes(), &auto()).unwrap_err();
    let problems = e.problems();
    let summary: Vec<(Option<u64>, Option<&str>)> = problems.iter().map(|p| (p.line, p.column.as_deref())).collect();
    assert_eq!(
        summary,
        [
            (Some(3), Some("email")),
            (Some(4), Some("status")),
            (Some(4), Some("start_date")),
            (Some(5), Some("employee_id")),
            (Some(6), Some("org_unit")),
            (Some(7), None),
            (Some(8), Some("employee_id")),
            (Some(9), Some("email")),
        ],
        "{e}"
    );
    assert!(
        e.to_string().starts_with("8 problems: line 3: invalid email \"not-an-email\": it has no '@'; line 4:"),
        "{e}"
    );
    assert_eq!(problems[3].message, "duplicate employee_id \"E1\" (first seen on line 2)");
    assert_eq!(problems[5].message, "expected 6 fields as in the header, found 2");
    assert_eq!(e.line(), Some(3));
    assert!(!e.is_retryable());

    // Through `load`, the problems carry the file they are in.
    let e = load(text.as_bytes(), None, &CsvMapping::default(), &auto()).unwrap_err();
    assert!(e.problems().iter().all(|p| p.file.as_deref() == Some("people CSV")));
}

#[test]
fn row_problems_are_capped_and_the_rest_counted() {
    let mut text = String::from("employee_id,email\n");
    for i in 0..250 {
        text.push_str(&format!("E{i},bad{i}\n"));
    }
    let e = people(text.as_bytes(), &auto()).unwrap_err();
    let CsvError::Rows { errors, omitted } = &e else { panic!("{e}") };
    assert_eq!((errors.len(), *omitted), (MAX_ROW_ERRORS, 250 - MAX_ROW_ERRORS));
    assert_eq!(errors[0].line(), Some(2), "the first problems are listed");
    assert!(e.to_string().starts_with("250 problems:") && e.to_string().ends_with("; and 150 more"));
    let problems = e.problems();
    assert_eq!(problems.len(), MAX_ROW_ERRORS + 1);
    assert_eq!(problems[MAX_ROW_ERRORS].message, "150 more problems not listed");
}

#[test]
fn file_level_problems_stop_at_once() {
    // A missing column would repeat on every row: it is one problem.
    let e = people(b"employee_id,mail\nE1,a\nE2,b\n", &auto()).unwrap_err();
    assert!(matches!(e, CsvError::MissingColumn { .. }), "{e}");
    // Undecodable UTF-16.
    let e = people(b"\xFF\xFEa", &auto()).unwrap_err();
    assert!(matches!(e, CsvError::Decode { line: 1, .. }), "{e}");
}

#[test]
fn a_good_file_in_every_format_gives_the_same_people() {
    let org = tenure_sources::sample_org(200, 7);
    let reference =
        load(org.people_csv.as_bytes(), Some(org.groups_csv.as_bytes()), &CsvMapping::default(), &auto()).unwrap();
    // The same export with semicolons, as Excel writes CSV in locales with a decimal comma.
    let mut semicolon = csv::WriterBuilder::new().delimiter(b';').from_writer(Vec::new());
    for record in csv::Reader::from_reader(org.people_csv.as_bytes()).into_records().map(Result::unwrap) {
        semicolon.write_record(&record).unwrap();
    }
    let header: Vec<&str> = org.people_csv.lines().next().unwrap().split(',').collect();
    let mut bytes = header.join(";").into_bytes();
    bytes.push(b'\n');
    bytes.extend(semicolon.into_inner().unwrap());
    let again = load(&bytes, Some(org.groups_csv.as_bytes()), &CsvMapping::default(), &auto()).unwrap();
    assert_eq!(again.people, reference.people);
    assert!(reference.people.iter().any(|p| p.status == PersonStatus::Suspended));
}

//! The operator setting, in a process of its own (it is process-wide).

use tenure_outbound::{Refused, check_url_host, set_deny_private};

#[test]
fn the_operator_setting_refuses_loopback_and_private_ranges() {
    set_deny_private(true);
    for text in [
        "http://127.0.0.1/",
        "http://[::1]/",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.0.1/",
        "http://100.64.0.1/",
        "http://[fd12::1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://017700000001/",
    ] {
        let e = check_url_host(&url::Url::parse(text).unwrap()).expect_err(text);
        assert!(matches!(e, Refused::Private { .. }), "{text}: {e}");
        assert!(e.to_string().contains("TENURE_OUTBOUND_DENY_PRIVATE"), "{e}");
    }
    check_url_host(&url::Url::parse("https://api.slack.com/").unwrap()).unwrap();
    set_deny_private(false);
    check_url_host(&url::Url::parse("http://127.0.0.1/").unwrap()).unwrap();
}

//! Adding an LDAP directory (OpenLDAP or Active Directory) as a source from the console: the
//! engine's `create_source` with kind `ldap`, as the API adds it (no setting may name a file on
//! the server, so a private CA is for `tenure source add ldap`). The engine checks the settings;
//! its refusal is said under the field it is about. The bind password is never drawn back.
//! Google and Microsoft Graph sources read their credential from a file or variable on the
//! server, which only the command line may name; the page says so.

use askama::Template;
use axum::Form;
use serde::Deserialize;
use serde_json::json;
use tenure_engine::admin::{Need, NewSource, Origin};

use super::auth::Signed;
use super::forms::{Refusal, refusal};
use super::view::{Nav, Notice, PageResult, render};

#[derive(Debug, Clone, Default, Deserialize)]
pub struct LdapForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub starttls: String,
    #[serde(default)]
    pub flavor: String,
    #[serde(default)]
    pub bind_dn: String,
    #[serde(default)]
    pub password: String,
    /// One base DN a line.
    #[serde(default)]
    pub user_bases: String,
    #[serde(default)]
    pub user_filter: String,
    #[serde(default)]
    pub group_bases: String,
    #[serde(default)]
    pub group_filter: String,
}

#[derive(Template)]
#[template(path = "console/source_ldap.html")]
struct LdapPage {
    nav: Nav,
    notice: Option<Notice>,
    form: LdapForm,
    error: Refusal,
}

impl LdapPage {
    fn err(&self, field: &str) -> Option<&str> {
        self.error.on(field)
    }
}

const FIELDS: &[&str] =
    &["name", "url", "starttls", "bind_dn", "password", "user_bases", "user_filter", "group_bases", "group_filter"];

fn page_of(signed: &Signed, mut form: LdapForm, error: Refusal) -> PageResult {
    signed.actor.require(Need::OrgAdmin)?;
    form.password.clear();
    let notice = error.general(FIELDS).and_then(|m| Notice::error(m.to_owned()));
    Ok(render(&LdapPage { nav: signed.nav("sources"), notice, form, error }))
}

pub async fn form(signed: Signed) -> PageResult {
    page_of(&signed, LdapForm { flavor: "openldap".into(), ..Default::default() }, Refusal::default())
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

/// The form field an LDAP settings refusal (`config: ...`) is about, by what it names.
fn ldap_field(message: &str) -> &'static str {
    const NAMED: [(&str, &str); 7] = [
        ("StartTLS", "starttls"),
        ("bind DN", "bind_dn"),
        ("bind password", "password"),
        ("user base", "user_bases"),
        ("user filter", "user_filter"),
        ("group filter", "group_filter"),
        ("url ", "url"),
    ];
    if message.contains("ldap://") && message.contains("in clear") {
        return "url";
    }
    NAMED.iter().find(|(said, _)| message.contains(said)).map_or("", |(_, field)| field)
}

fn config(form: &LdapForm) -> serde_json::Value {
    let mut config = json!({
        "url": form.url.trim(),
        "starttls": !form.starttls.is_empty(),
        "flavor": if form.flavor.trim() == "active_directory" { "active_directory" } else { "openldap" },
        "bind_dn": form.bind_dn.trim(),
        "password": form.password,
        "user_bases": lines(&form.user_bases),
        "group_bases": lines(&form.group_bases),
    });
    for (key, value) in [("user_filter", &form.user_filter), ("group_filter", &form.group_filter)] {
        if !value.trim().is_empty() {
            config[key] = json!(value.trim());
        }
    }
    // A source's settings hold the directory's under `ldap`, beside the sync scope.
    json!({ "ldap": config })
}

/// Adds the directory; its first sync is the admin's to start (Sync now on its page).
pub async fn create(signed: Signed, Form(form): Form<LdapForm>) -> PageResult {
    let spec = NewSource { name: form.name.trim().to_owned(), kind: "ldap".into(), config: config(&form) };
    match signed.admin().create_source(spec, Origin::Remote).await {
        Ok(source) => super::sources::added(&signed, &source.name).await,
        Err(e) => {
            let mut r = refusal(e)?;
            if r.field == "config" {
                r.field = ldap_field(&r.message).to_owned();
            } else if let Some(inner) = r.field.strip_prefix("config.") {
                r.field = inner.to_owned();
            }
            page_of(&signed, form, r)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ldap_refusal_lands_under_the_field_it_names() {
        assert_eq!(ldap_field("invalid LDAP source settings: bind password is empty (...)"), "password");
        assert_eq!(ldap_field("url \"x\": expected ldap://HOST[:PORT] or ldaps://HOST[:PORT]"), "url");
        assert_eq!(ldap_field("ldap://h would send the bind password in clear: use ldaps://"), "url");
        assert_eq!(ldap_field("at least one user base DN is needed"), "user_bases");
        assert_eq!(ldap_field("something else"), "");
        let c =
            config(&LdapForm { user_bases: "ou=people,dc=acme\n\n ou=staff,dc=acme ".into(), ..Default::default() });
        assert_eq!(c["ldap"]["user_bases"], json!(["ou=people,dc=acme", "ou=staff,dc=acme"]));
        assert!(c["ldap"].get("user_filter").is_none(), "an empty filter is the flavor's default");
    }
}

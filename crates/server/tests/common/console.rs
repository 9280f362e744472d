//! A console session as a browser holds it: the session cookie from signing in and, for tests
//! that post forms as the pages do, the page's anti-forgery token added to every form. Tests of
//! the anti-forgery check itself use a session that sends only what it is given.

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};

/// A client that shows redirects rather than following them (a sign-in answers 303).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap_or_default()
}

pub fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// The form token a page carries.
pub fn csrf(html: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    html.find(marker)
        .map(|at| html[at + marker.len()..].split('"').next().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

/// The sign-in form posted, its answer as it came.
pub async fn post_login(
    http: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<reqwest::Response> {
    Ok(http
        .post(format!("{base}/login"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(&[("email", email), ("password", password)]))
        .send()
        .await?)
}

/// Whether a session's forms carry the page's token by themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forms {
    /// Every `post` and `upload` carries the token, as the pages' forms do.
    WithToken,
    /// Only what the test gives is sent (it adds `csrf` itself, from [`Session::token`]).
    AsGiven,
}

pub struct Session {
    http: reqwest::Client,
    base: String,
    cookie: String,
    csrf: String,
    forms: Forms,
}

impl Session {
    /// Signs in with the console's form; the token is read from the overview when `forms` adds it.
    pub async fn sign_in(
        http: &reqwest::Client,
        base: &str,
        email: &str,
        password: &str,
        forms: Forms,
    ) -> anyhow::Result<Self> {
        let response = post_login(http, base, email, password).await?;
        anyhow::ensure!(response.status() == StatusCode::SEE_OTHER, "sign-in answered {}", response.status());
        let set = response.headers().get(SET_COOKIE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let cookie = set.split(';').next().unwrap_or_default().to_owned();
        let mut session = Self { http: http.clone(), base: base.to_owned(), cookie, csrf: String::new(), forms };
        if forms == Forms::WithToken {
            session.csrf = session.token().await?;
            anyhow::ensure!(!session.csrf.is_empty(), "no form token on the overview");
        }
        Ok(session)
    }

    /// A session from a sign-in the test made itself (`tenure_session=...`, the cookie's pair).
    pub fn with_cookie(http: &reqwest::Client, base: &str, cookie: &str, forms: Forms) -> Self {
        Self { http: http.clone(), base: base.to_owned(), cookie: cookie.to_owned(), csrf: String::new(), forms }
    }

    /// The `name=value` the session's requests carry in `Cookie`.
    pub fn cookie(&self) -> &str {
        &self.cookie
    }

    /// The session's anti-forgery token, as the overview carries it.
    pub async fn token(&self) -> anyhow::Result<String> {
        let (_, html) = self.get("/").await?;
        Ok(csrf(&html))
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<(StatusCode, String)> {
        let response = self.http.get(format!("{}{path}", self.base)).header(COOKIE, &self.cookie).send().await?;
        Ok((response.status(), response.text().await?))
    }

    /// A form posted as the session's forms post it (see [`Forms`]).
    pub async fn post(&self, path: &str, pairs: &[(&str, &str)]) -> anyhow::Result<(StatusCode, String)> {
        match self.forms {
            Forms::WithToken => {
                let mut all = vec![("csrf", self.csrf.as_str())];
                all.extend_from_slice(pairs);
                self.post_raw(path, &all).await
            }
            Forms::AsGiven => self.post_raw(path, pairs).await,
        }
    }

    /// A form posted with exactly the fields given.
    pub async fn post_raw(&self, path: &str, pairs: &[(&str, &str)]) -> anyhow::Result<(StatusCode, String)> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form(pairs))
            .send()
            .await?;
        Ok((response.status(), response.text().await?))
    }

    /// A `multipart/form-data` POST, as a browser sends a form with a file: `(name, Some(file
    /// name), content)` for a file (sent as text/csv). The token goes first when [`Forms`] adds it.
    pub async fn upload(
        &self,
        path: &str,
        fields: &[(&str, Option<&str>, &str)],
    ) -> anyhow::Result<(StatusCode, String)> {
        let boundary = "----tenure-test-7MA4YWxkTrZu0gW";
        let mut body = String::new();
        if self.forms == Forms::WithToken {
            body.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{}\r\n",
                self.csrf
            ));
        }
        for (name, filename, value) in fields {
            body.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\""));
            if let Some(f) = filename {
                body.push_str(&format!("; filename=\"{f}\"\r\nContent-Type: text/csv"));
            }
            body.push_str(&format!("\r\n\r\n{value}\r\n"));
        }
        body.push_str(&format!("--{boundary}--\r\n"));
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .header(CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
            .body(body)
            .send()
            .await?;
        Ok((response.status(), response.text().await?))
    }
}

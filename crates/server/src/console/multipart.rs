//! Just enough of `multipart/form-data` (RFC 7578) for the console's file uploads: the parts of
//! a body already read whole (and capped), each with its name, file name and bytes. A body that
//! does not follow the format is refused with a reason, never guessed at.

/// The parts of an upload form's request, or the page's refusal of a request that is not one.
pub fn form(headers: &axum::http::HeaderMap, body: &[u8]) -> Result<Vec<Part>, super::view::Failure> {
    use axum::http::StatusCode;
    let boundary =
        headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(boundary).ok_or_else(
            || super::view::Failure::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "upload the file with the page's form"),
        )?;
    parse(body, &boundary).map_err(|e| super::view::Failure::new(StatusCode::BAD_REQUEST, e))
}

/// The text of a part that is not a file (empty when absent or not UTF-8).
pub fn text<'a>(parts: &'a [Part], name: &str) -> &'a str {
    parts.iter().find(|p| p.name == name).and_then(|p| std::str::from_utf8(&p.data).ok()).unwrap_or_default()
}

/// One part of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub data: Vec<u8>,
}

/// The boundary a `Content-Type: multipart/form-data; boundary=...` header names.
pub fn boundary(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params
        .split(';')
        .find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim().eq_ignore_ascii_case("boundary").then(|| v.trim().trim_matches('"').to_owned())
        })
        .filter(|b| !b.is_empty() && b.len() <= 70)
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > haystack.len() {
        return None;
    }
    haystack[from..].windows(needle.len()).position(|w| w == needle).map(|i| i + from)
}

/// `name="people"` → `people`, from a Content-Disposition header's value.
fn parameter(header: &str, key: &str) -> Option<String> {
    header.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case(key).then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// Every part of `body`.
pub fn parse(body: &[u8], boundary: &str) -> Result<Vec<Part>, String> {
    let delimiter = format!("--{boundary}");
    let next = format!("\r\n--{boundary}");
    let mut at = find(body, delimiter.as_bytes(), 0).ok_or("the form has no part")? + delimiter.len();
    let mut parts = Vec::new();
    loop {
        if body[at..].starts_with(b"--") {
            return Ok(parts);
        }
        if !body[at..].starts_with(b"\r\n") {
            return Err("a part's boundary is not followed by a line end".into());
        }
        at += 2;
        let headers_end = find(body, b"\r\n\r\n", at).ok_or("a part's headers do not end")?;
        let headers = std::str::from_utf8(&body[at..headers_end]).map_err(|_| "a part's headers are not text")?;
        let disposition = headers
            .split("\r\n")
            .find_map(|line| {
                let (k, v) = line.split_once(':')?;
                k.trim().eq_ignore_ascii_case("content-disposition").then_some(v.trim())
            })
            .ok_or("a part has no Content-Disposition")?;
        let name = parameter(disposition, "name").ok_or("a part has no name")?;
        let filename = parameter(disposition, "filename");
        let data_start = headers_end + 4;
        let data_end = find(body, next.as_bytes(), data_start).ok_or("the form's last part does not end")?;
        parts.push(Part { name, filename, data: body[data_start..data_end].to_vec() });
        at = data_end + next.len();
        if parts.len() > 100 {
            return Err("the form has more parts than any console form".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_read_with_their_names_and_bytes() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\ntnr_1\r\n--XyZ\r\n\
Content-Disposition: form-data; name=\"people\"; filename=\"hr.csv\"\r\nContent-Type: text/csv\r\n\r\n\
a,b\r\n1,2\r\n\r\n--XyZ--\r\n";
        let parts = parse(body, "XyZ").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!((parts[0].name.as_str(), parts[0].data.as_slice()), ("csrf", &b"tnr_1"[..]));
        assert_eq!(parts[1].filename.as_deref(), Some("hr.csv"));
        assert_eq!(parts[1].data, b"a,b\r\n1,2\r\n");
        assert_eq!(boundary("multipart/form-data; boundary=\"XyZ\"").as_deref(), Some("XyZ"));
        assert_eq!(boundary("application/x-www-form-urlencoded"), None);
    }

    #[test]
    fn a_broken_body_is_refused() {
        assert!(parse(b"nothing here", "XyZ").is_err());
        assert!(parse(b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end", "XyZ").is_err());
        assert!(parse(b"--XyZ\r\nX: y\r\n\r\nv\r\n--XyZ--", "XyZ").is_err());
    }
}

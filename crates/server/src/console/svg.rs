//! Small charts drawn on the server as inline SVG: no script, no style attribute (the page's
//! policy allows neither), colours as presentation attributes.

use std::fmt::Write;

/// One bar segment: a label, a count, a colour.
pub struct Segment<'a> {
    pub label: &'a str,
    pub count: usize,
    pub colour: &'static str,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The colour of an account state (`AccountClass` as the report writes it).
pub fn class_colour(class: &str) -> &'static str {
    match class {
        "managed" => "#2e7d32",
        "deactivated" => "#9e9e9e",
        "matched" => "#66bb6a",
        "invited" => "#81c784",
        "known_external" => "#5c6bc0",
        "unmanaged" => "#ef6c00",
        "ambiguous" | "unread" => "#8e24aa",
        _ => "#c62828", // active without a grant, left but active, inactive but licensed
    }
}

/// Rows of stacked horizontal bars, one per name, each segment proportional to its count within
/// the row, with a legend of every label used. Every label and name is escaped.
pub fn stacked_bars(rows: &[(String, Vec<Segment<'_>>)]) -> String {
    const LABEL_W: usize = 140;
    const BAR_W: usize = 420;
    const ROW_H: usize = 26;
    let height = rows.len() * ROW_H + 30;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{height}" viewBox="0 0 {w} {height}" role="img" aria-label="Account states per app">"#,
        w = LABEL_W + BAR_W + 10
    );
    let mut legend: Vec<(&str, &'static str)> = Vec::new();
    for (i, (name, segments)) in rows.iter().enumerate() {
        let y = i * ROW_H;
        let _ = write!(out, r##"<text x="0" y="{}" font-size="13" fill="#222">{}</text>"##, y + 17, escape(name));
        let total: usize = segments.iter().map(|s| s.count).sum();
        if total == 0 {
            let _ = write!(
                out,
                r##"<rect x="{LABEL_W}" y="{}" width="{BAR_W}" height="18" fill="#eeeeee"><title>no accounts</title></rect>"##,
                y + 4
            );
            continue;
        }
        let mut x = LABEL_W as f64;
        for s in segments.iter().filter(|s| s.count > 0) {
            let w = s.count as f64 * BAR_W as f64 / total as f64;
            let _ = write!(
                out,
                r#"<rect x="{x:.1}" y="{}" width="{w:.1}" height="18" fill="{}"><title>{}: {} {}</title></rect>"#,
                y + 4,
                s.colour,
                escape(name),
                s.count,
                escape(s.label)
            );
            x += w;
            if !legend.iter().any(|(l, _)| *l == s.label) {
                legend.push((s.label, s.colour));
            }
        }
    }
    let mut x = 0;
    let y = rows.len() * ROW_H + 12;
    for (label, colour) in legend {
        let _ = write!(
            out,
            r##"<rect x="{x}" y="{y}" width="10" height="10" fill="{colour}"/><text x="{}" y="{}" font-size="11" fill="#444">{}</text>"##,
            x + 14,
            y + 9,
            escape(label)
        );
        x += 14 + label.len() * 7 + 12;
    }
    out.push_str("</svg>");
    out
}

/// Operations per hour as a small column chart, oldest hour on the left: succeeded in green,
/// failed stacked above in red, each column titled with its counts. Scaled to the busiest hour.
pub fn hourly(succeeded: &[u64], failed: &[u64], width: usize, height: usize) -> String {
    let hours = succeeded.len().max(failed.len()).max(1);
    let at = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0);
    let peak = (0..hours).map(|i| at(succeeded, i) + at(failed, i)).max().unwrap_or(0).max(1);
    let column = width as f64 / hours as f64;
    let scale = height.saturating_sub(2) as f64 / peak as f64;
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg class="spark" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="Operations per hour over the last {hours} hours"><rect x="0" y="0" width="{width}" height="{height}" fill="#f5f5f5"/>"##
    );
    for i in 0..hours {
        let (ok, bad) = (at(succeeded, i), at(failed, i));
        if ok + bad == 0 {
            continue;
        }
        let x = i as f64 * column + 0.5;
        let w = (column - 1.0).max(1.0);
        let ok_h = ok as f64 * scale;
        let bad_h = bad as f64 * scale;
        let ago = hours - i;
        let title = format!("{ago} h ago: {ok} succeeded, {bad} failed");
        if ok > 0 {
            let _ = write!(
                out,
                r##"<rect x="{x:.1}" y="{:.1}" width="{w:.1}" height="{ok_h:.1}" fill="#2e7d32"><title>{title}</title></rect>"##,
                height as f64 - ok_h
            );
        }
        if bad > 0 {
            let _ = write!(
                out,
                r##"<rect x="{x:.1}" y="{:.1}" width="{w:.1}" height="{bad_h:.1}" fill="#c62828"><title>{title}</title></rect>"##,
                height as f64 - ok_h - bad_h
            );
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_escape_names_and_scale_to_their_row() {
        let svg = stacked_bars(&[(
            "<slack>".into(),
            vec![
                Segment { label: "managed", count: 3, colour: "#2e7d32" },
                Segment { label: "unmanaged", count: 1, colour: "#ef6c00" },
            ],
        )]);
        assert!(svg.contains("&lt;slack&gt;") && !svg.contains("<slack>"));
        assert!(svg.contains(r#"width="315.0""#) && svg.contains(r#"width="105.0""#), "{svg}");
        assert!(!svg.contains("style="));
    }

    #[test]
    fn hours_scale_to_the_busiest_and_say_their_counts() {
        let svg = hourly(&[0, 4, 2], &[0, 0, 2], 30, 42);
        assert!(svg.contains("2 h ago: 4 succeeded, 0 failed"), "{svg}");
        assert!(svg.contains("1 h ago: 2 succeeded, 2 failed"), "{svg}");
        // The busiest hour (4) fills the 40 drawable pixels; the other splits 20 + 20.
        assert!(svg.contains(r#"height="40.0""#) && svg.contains(r#"height="20.0""#), "{svg}");
        assert_eq!(svg.matches("<rect").count(), 4, "a background and three columns: {svg}");
    }
}

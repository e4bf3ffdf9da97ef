//! perf/results/bench.svg: the bench table as a grouped bar chart, written by hand (no plotting
//! dependency for one picture). Each test's numbers have their own unit, so each test gets its own
//! scale: the larger front's bar is full length, the value is printed at the bar's end in the test's
//! unit, and our front's ratio to the kernel's is printed on the right.

use std::fmt::Write;

use super::results::{fmt_value, Table, KERNEL};

const WIDTH: f64 = 900.0;
const LEFT: f64 = 24.0;
/// Length of a full (100 %) bar.
const BAR_SPAN: f64 = 600.0;
const BAR_H: f64 = 16.0;
const LABEL_H: f64 = 20.0;
const GROUP_GAP: f64 = 14.0;
const TOP: f64 = 96.0;
const RATIO_X: f64 = 760.0;
/// Kernel grey, then ours blue; more fronts would reuse the palette in order.
const COLOURS: &[&str] = &["#9e9e9e", "#1f77b4", "#ff7f0e"];

/// Text and attribute values with XML's special characters escaped.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn colour(i: usize) -> &'static str {
    COLOURS[i % COLOURS.len()]
}

/// The chart as an SVG document. `caption` says when and under which host load it was measured.
pub fn svg(table: &Table, caption: &str) -> String {
    let fronts = table.fronts();
    let others: Vec<&String> = fronts.iter().filter(|f| *f != KERNEL).collect();
    let group_h = LABEL_H + BAR_H * fronts.len() as f64 + GROUP_GAP;
    let rows = table.rows().count();
    let axis_y = TOP + group_h * rows as f64;
    let height = axis_y + 56.0;

    let mut s = String::new();
    // Writing into a String cannot fail; the results are ignored for that reason.
    let _ = writeln!(
        s,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">
<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="white"/>
<text x="{LEFT}" y="24" font-size="16" font-weight="bold">Xen PV fronts under QEMU TCG: {} vs the kernel's</text>
<text x="{LEFT}" y="44">{}</text>"#,
        esc(&others
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join(", ")),
        esc(caption)
    );
    // Legend.
    let mut x = LEFT;
    for (i, f) in fronts.iter().enumerate() {
        let _ = writeln!(
            s,
            r#"<rect x="{x}" y="58" width="14" height="14" fill="{}"/><text x="{}" y="70">{}</text>"#,
            colour(i),
            x + 20.0,
            esc(f)
        );
        x += 40.0 + 8.0 * f.chars().count() as f64;
    }
    let _ = writeln!(
        s,
        r#"<text x="{RATIO_X}" y="70" font-weight="bold">ratio to kernel</text>"#
    );

    for (g, (row, vals)) in table.rows().enumerate() {
        let y0 = TOP + group_h * g as f64;
        let max = vals.values().copied().fold(0.0, f64::max);
        let better = if row.lower_is_better() {
            "lower is better"
        } else {
            "higher is better"
        };
        let _ = writeln!(
            s,
            r#"<g data-test="{}"><text x="{LEFT}" y="{}" font-weight="bold">{} [{}, {better}]</text>"#,
            row.key(),
            y0 + 14.0,
            esc(row.label()),
            esc(row.unit())
        );
        for (i, f) in fronts.iter().enumerate() {
            let y = y0 + LABEL_H + BAR_H * i as f64;
            let (len, text) = match vals.get(f) {
                Some(v) if max > 0.0 => (BAR_SPAN * v / max, fmt_value(*v)),
                Some(v) => (0.0, fmt_value(*v)),
                None => (0.0, "no result".to_string()),
            };
            let _ = writeln!(
                s,
                r#"<rect class="bar" data-front="{}" x="{LEFT}" y="{y}" width="{len:.1}" height="{}" fill="{}"/><text x="{:.1}" y="{}">{} {}</text>"#,
                esc(f),
                BAR_H - 2.0,
                colour(i),
                LEFT + len + 6.0,
                y + BAR_H - 4.0,
                esc(&text),
                esc(row.unit())
            );
        }
        for (j, f) in others.iter().enumerate() {
            let text = match table.ratio(row, f) {
                Some(r) => format!("{f} {r:.2}×"),
                None => format!("{f} –"),
            };
            let _ = writeln!(
                s,
                r#"<text class="ratio" x="{RATIO_X}" y="{}" font-size="14">{}</text>"#,
                y0 + LABEL_H + BAR_H * (j + 1) as f64 + BAR_H - 4.0,
                esc(&text)
            );
        }
        s.push_str("</g>\n");
    }

    // The x axis: the share of the larger front's number within each test.
    let _ = writeln!(
        s,
        r#"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{axis_y}" stroke="black"/><line x1="{LEFT}" y1="{axis_y}" x2="{}" y2="{axis_y}" stroke="black"/>"#,
        LEFT + BAR_SPAN
    );
    for pct in [0, 25, 50, 75, 100] {
        let x = LEFT + BAR_SPAN * pct as f64 / 100.0;
        let _ = writeln!(
            s,
            r#"<line x1="{x}" y1="{axis_y}" x2="{x}" y2="{}" stroke="black"/><text x="{x}" y="{}" text-anchor="middle">{pct} %</text>"#,
            axis_y + 5.0,
            axis_y + 18.0
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">bar length: % of the larger front's number in each test (values in the test's unit)</text>
</svg>"#,
        LEFT + BAR_SPAN / 2.0,
        axis_y + 40.0
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn table(items: &[(&str, serde_json::Value)]) -> Table {
        let blobs: BTreeMap<String, Vec<u8>> = items
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string().into_bytes()))
            .collect();
        Table::from_blobs(&blobs).unwrap()
    }

    fn iperf(bps: f64) -> serde_json::Value {
        json!({ "end": { "sum_received": { "bits_per_second": bps } } })
    }

    fn fio_read(iops: f64, bw_kib: f64) -> serde_json::Value {
        json!({ "jobs": [ { "error": 0,
            "read": { "iops": iops, "bw": bw_kib, "clat_ns": { "mean": 1000.0 } } } ] })
    }

    /// Checks that `doc` is well-formed XML as far as this writer can get it wrong: every element
    /// closed in order, attribute values quoted, no bare `&` or `<` in text. Returns the element
    /// names in document order.
    fn well_formed(doc: &str) -> Result<Vec<String>, String> {
        let mut stack: Vec<String> = Vec::new();
        let mut seen = Vec::new();
        let mut rest = doc.trim_start();
        let prolog = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";
        rest = rest.strip_prefix(prolog).ok_or("no XML declaration")?;
        while let Some(open) = rest.find('<') {
            check_text(&rest[..open])?;
            let close = rest[open..].find('>').ok_or("unclosed tag")? + open;
            let tag = &rest[open + 1..close];
            rest = &rest[close + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                match stack.pop() {
                    Some(top) if top == name => {}
                    other => return Err(format!("</{name}> closes {other:?}")),
                }
                continue;
            }
            let self_closing = tag.ends_with('/');
            let body = tag.trim_end_matches('/');
            let name = body.split_whitespace().next().ok_or("empty tag")?;
            check_attributes(&body[name.len()..])?;
            seen.push(name.to_string());
            if !self_closing {
                stack.push(name.to_string());
            }
            if stack.is_empty() && rest.trim().is_empty() {
                break;
            }
        }
        if !stack.is_empty() {
            return Err(format!("unclosed elements {stack:?}"));
        }
        check_text(rest)?;
        Ok(seen)
    }

    fn check_text(t: &str) -> Result<(), String> {
        for (i, _) in t.match_indices('&') {
            let ent = &t[i..];
            if !["&amp;", "&lt;", "&gt;", "&quot;"]
                .iter()
                .any(|e| ent.starts_with(e))
            {
                return Err(format!("bare & in {t:?}"));
            }
        }
        Ok(())
    }

    fn check_attributes(mut a: &str) -> Result<(), String> {
        loop {
            a = a.trim_start();
            if a.is_empty() {
                return Ok(());
            }
            let eq = a
                .find('=')
                .ok_or(format!("attribute without value: {a:?}"))?;
            let v = a[eq + 1..]
                .strip_prefix('"')
                .ok_or(format!("unquoted value: {a:?}"))?;
            let end = v.find('"').ok_or("unterminated value")?;
            check_text(&v[..end])?;
            a = &v[end + 1..];
        }
    }

    #[test]
    fn one_bar_per_front_per_test_and_the_ratio_as_text() {
        let t = table(&[
            ("iperf3-tx.kernel", iperf(2e9)),
            ("iperf3-tx.xenpv", iperf(3e9)),
            ("fio-seqread.kernel", fio_read(1.0, 102_400.0)),
            ("fio-seqread.xenpv", fio_read(1.0, 51_200.0)),
        ]);
        let doc = svg(&t, "2026-11-25 17:00 UTC; host load <2 & 3>");
        let elements = well_formed(&doc).unwrap_or_else(|e| panic!("{e}\n{doc}"));
        assert_eq!(elements.first().map(String::as_str), Some("svg"));
        // tcp_tx, seqread_1m_qd8: two groups of two bars each.
        for test in ["tcp_tx", "seqread_1m_qd8"] {
            let start = doc.find(&format!("<g data-test=\"{test}\">")).unwrap();
            let group = &doc[start..start + doc[start..].find("</g>").unwrap()];
            assert_eq!(group.matches("class=\"bar\"").count(), 2, "{group}");
            assert!(group.contains("data-front=\"kernel\""));
            assert!(group.contains("data-front=\"xenpv\""));
        }
        assert_eq!(doc.matches("<g data-test=").count(), 2);
        assert!(doc.contains(">xenpv 1.50×</text>"), "{doc}");
        assert!(doc.contains(">xenpv 0.50×</text>"), "{doc}");
        // The larger front fills the span; the other is scaled within its own test.
        assert!(doc.contains(&format!(
            "data-front=\"xenpv\" x=\"{LEFT}\" y=\"{}\" width=\"600.0\"",
            TOP + LABEL_H + BAR_H
        )));
        assert!(
            doc.contains("width=\"300.0\""),
            "seqread xenpv is half the kernel's"
        );
        assert!(doc.contains("3.00 Gbit/s"), "values carry their unit");
        assert!(
            doc.contains("host load &lt;2 &amp; 3&gt;"),
            "caption escaped"
        );
    }

    #[test]
    fn a_missing_front_draws_no_bar_and_no_ratio() {
        let t = table(&[
            ("iperf3-rx.kernel", iperf(1e9)),
            ("iperf3-tx.kernel", iperf(1e9)),
            ("iperf3-tx.xenpv", iperf(1e9)),
        ]);
        let doc = svg(&t, "x");
        well_formed(&doc).unwrap();
        assert!(doc.contains(">no result Gbit/s</text>"), "{doc}");
        assert!(doc.contains(">xenpv –</text>"), "{doc}");
        assert!(doc.contains(">xenpv 1.00×</text>"), "{doc}");
    }

    #[test]
    fn the_checker_rejects_broken_documents() {
        let head = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";
        assert!(well_formed(&format!("{head}<svg><g></svg></g>")).is_err());
        assert!(well_formed(&format!("{head}<svg><text>a & b</text></svg>")).is_err());
        assert!(well_formed(&format!("{head}<svg x=1></svg>")).is_err());
        assert!(well_formed(&format!("{head}<svg><g></g>")).is_err());
        assert!(well_formed(&format!("{head}<svg><g/></svg>")).is_ok());
    }
}

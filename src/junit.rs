//! JUnit XML, the test report CI systems read: one `<testsuite>` per suite, one `<testcase>`
//! per case, a `<failure>` in each that failed. `netlab run --junit` writes a suite per
//! scenario and a case per step, `netlab check --junit` one suite with a case per check. This
//! module only writes the XML; what a suite and its cases are is the caller's.

/// One `<testsuite>`.
#[derive(Debug, Clone)]
pub struct Suite {
    pub name: String,
    pub cases: Vec<Case>,
    /// Cases that were not run: counted in `tests` and `skipped`, not listed.
    pub skipped: usize,
}

/// One `<testcase>`.
#[derive(Debug, Clone)]
pub struct Case {
    pub classname: String,
    pub name: String,
    /// `None`: no `time` attribute (the case was not timed).
    pub seconds: Option<f64>,
    pub failure: Option<Failure>,
}

/// A case's `<failure message="...">text</failure>`.
#[derive(Debug, Clone)]
pub struct Failure {
    /// One line: what was expected and what happened.
    pub message: String,
    /// More, when there is more to say (empty: no text).
    pub text: String,
}

/// Text for an XML attribute or element: markup escaped, control characters (which XML 1.0
/// cannot carry at all) left out but for newline and tab.
fn esc(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&apos;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// The report: `<testsuites>` holding each suite, in order.
pub fn render(suites: &[Suite]) -> String {
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    for s in suites {
        let failures = s.cases.iter().filter(|c| c.failure.is_some()).count();
        let time: f64 = s.cases.iter().filter_map(|c| c.seconds).sum();
        x.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{}\" time=\"{time:.3}\">\n",
            esc(&s.name),
            s.cases.len() + s.skipped,
            s.skipped
        ));
        for c in &s.cases {
            x.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"{}\"",
                esc(&c.classname),
                esc(&c.name)
            ));
            if let Some(t) = c.seconds {
                x.push_str(&format!(" time=\"{t:.3}\""));
            }
            match &c.failure {
                None => x.push_str("/>\n"),
                Some(f) if f.text.is_empty() => x.push_str(&format!(
                    "><failure message=\"{}\"/></testcase>\n",
                    esc(&f.message)
                )),
                Some(f) => x.push_str(&format!(
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                    esc(&f.message),
                    esc(&f.text)
                )),
            }
        }
        x.push_str("  </testsuite>\n");
    }
    x.push_str("</testsuites>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suites_cases_and_failures_with_their_counts() {
        let x = render(&[Suite {
            name: "lab/s".into(),
            cases: vec![
                Case {
                    classname: "lab.s".into(),
                    name: "1 ok".into(),
                    seconds: Some(0.5),
                    failure: None,
                },
                Case {
                    classname: "lab.s".into(),
                    name: "2 <bad> & \"quoted\"".into(),
                    seconds: Some(1.25),
                    failure: Some(Failure {
                        message: "expected a, got b\u{1b}[0m".into(),
                        text: "expected a, got b\ntrace: x".into(),
                    }),
                },
                Case {
                    classname: "lab.s".into(),
                    name: "restore".into(),
                    seconds: None,
                    failure: Some(Failure {
                        message: "could not".into(),
                        text: String::new(),
                    }),
                },
            ],
            skipped: 2,
        }]);
        assert!(
            x.contains("<testsuite name=\"lab/s\" tests=\"5\" failures=\"2\" skipped=\"2\" time=\"1.750\">"),
            "{x}"
        );
        assert!(
            x.contains("name=\"2 &lt;bad&gt; &amp; &quot;quoted&quot;\" time=\"1.250\">"),
            "{x}"
        );
        assert!(
            x.contains(
                "<failure message=\"expected a, got b[0m\">expected a, got b\ntrace: x</failure>"
            ),
            "{x}"
        );
        assert!(x.contains("<testcase classname=\"lab.s\" name=\"restore\"><failure message=\"could not\"/></testcase>"), "{x}");
        assert!(x.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n"));
        assert!(x.ends_with("  </testsuite>\n</testsuites>\n"));
    }
}

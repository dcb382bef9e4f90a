//! Lab checks: real ICMP echo from a container (or host) namespace, run concurrently, each
//! compared with what the lab file expects (reachable or not, and the reply TTL).

use comfy_table::{Attribute, Cell, Color, Table};
use serde::Serialize;

use crate::kernel::{icmp, netns};
use crate::spec::{Check, Expect, Lab};

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub from: String,
    pub to: String,
    pub address: String,
    pub expect: Expect,
    pub expect_ttl: Option<u8>,
    pub got: Expect,
    pub sent: u32,
    pub received: u32,
    pub rtt_ms: Option<f64>,
    pub ttl: Option<u8>,
    /// Why nothing came back, when known (no route, ICMP unreachable), or why the probe failed.
    pub detail: Option<String>,
    pub pass: bool,
    /// How long the probe took.
    pub seconds: f64,
}

pub fn run(lab: &Lab) -> Vec<Outcome> {
    std::thread::scope(|s| {
        let handles: Vec<_> = lab
            .checks
            .iter()
            .map(|c| s.spawn(move || ping(lab, c)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("check thread panicked"))
            .collect()
    })
}

/// Run one check (also `netlab console`'s `ping`, with a check made up on the spot).
pub fn ping(lab: &Lab, c: &Check) -> Outcome {
    let start = std::time::Instant::now();
    let ns = lab.node_ns(&c.from).unwrap_or_default();
    let opts = icmp::PingOptions::for_check(c.count, c.expect == Expect::Reachable);
    let r = icmp::ping_in(&netns::path(&ns), c.address, opts);
    let (sent, received, rtt_ms, ttl, detail) = match r {
        Ok(r) => (r.sent, r.received, r.rtt_ms, r.ttl, r.error),
        Err(e) => (0, 0, None, None, Some(format!("probe failed: {e}"))),
    };
    let got = if received > 0 {
        Expect::Reachable
    } else {
        Expect::Unreachable
    };
    let ttl_ok = match (c.ttl, ttl) {
        (Some(want), Some(seen)) => want == seen,
        _ => true,
    };
    let probe_ok = sent > 0
        || detail
            .as_deref()
            .is_some_and(|d| !d.starts_with("probe failed"));
    Outcome {
        from: c.from.clone(),
        to: c.to.clone(),
        address: c.address.to_string(),
        expect: c.expect,
        expect_ttl: c.ttl,
        got,
        sent,
        received,
        rtt_ms,
        ttl,
        detail,
        pass: probe_ok && got == c.expect && ttl_ok,
        seconds: start.elapsed().as_secs_f64(),
    }
}

fn word(e: Expect) -> &'static str {
    match e {
        Expect::Reachable => "reachable",
        Expect::Unreachable => "unreachable",
    }
}

/// What the lab expects of a check: "reachable ttl=64".
fn expected(o: &Outcome) -> String {
    match o.expect_ttl {
        Some(t) => format!("{} ttl={t}", word(o.expect)),
        None => word(o.expect).to_string(),
    }
}

/// What the probe got: "reachable (2/2)", "unreachable: Network is unreachable".
fn got(o: &Outcome) -> String {
    match (&o.detail, o.got) {
        (Some(d), Expect::Unreachable) => format!("unreachable: {d}"),
        _ => format!("{} ({}/{})", word(o.got), o.received, o.sent),
    }
}

/// "bbox1" or "bbox1 (10.0.0.2)": the target as written, and the address pinged.
fn target(o: &Outcome) -> String {
    if o.to == o.address {
        o.to.clone()
    } else {
        format!("{} ({})", o.to, o.address)
    }
}

/// JUnit XML for the checks of lab `lab`: one testsuite, one testcase per check, in the lab's
/// order; a failing one says what was expected and what came back.
pub fn junit(lab: &str, outcomes: &[Outcome]) -> String {
    use crate::junit::{Case, Failure, Suite};
    let cases = outcomes
        .iter()
        .enumerate()
        .map(|(i, o)| Case {
            classname: format!("{lab}.checks"),
            name: format!("{} {} -> {}", i + 1, o.from, target(o)),
            seconds: Some(o.seconds),
            failure: (!o.pass).then(|| {
                let ttl = match (o.expect_ttl, o.ttl) {
                    (Some(_), Some(t)) => format!(", ttl {t}"),
                    _ => String::new(),
                };
                let message = format!("expected {}, got {}{ttl}", expected(o), got(o));
                let rtt = o
                    .rtt_ms
                    .map(|r| format!("\nrtt {r:.3} ms"))
                    .unwrap_or_default();
                Failure {
                    text: format!(
                        "{message}\nping from {} to {}: {} sent, {} received{rtt}",
                        o.from, o.address, o.sent, o.received
                    ),
                    message,
                }
            }),
        })
        .collect();
    crate::junit::render(&[Suite {
        name: format!("{lab}/checks"),
        cases,
        skipped: 0,
    }])
}

const HEADER: [&str; 7] = ["from", "to", "expected", "got", "rtt", "ttl", "result"];

/// The outcomes as a table, fitted to the terminal, the result cell coloured when colour is on.
pub fn render_table(outcomes: &[Outcome]) -> String {
    fill(crate::table::new(&HEADER), outcomes).to_string()
}

fn fill(mut t: Table, outcomes: &[Outcome]) -> Table {
    for o in outcomes {
        let (to, expected, got) = (target(o), expected(o), got(o));
        // Three decimals, as iputils prints it: a veth round trip is tens of microseconds.
        let rtt = o
            .rtt_ms
            .map(|r| format!("{r:.3} ms"))
            .unwrap_or_else(|| "-".into());
        let ttl = o.ttl.map(|t| t.to_string()).unwrap_or_else(|| "-".into());
        let result = if o.pass {
            Cell::new("pass").fg(Color::Green)
        } else {
            Cell::new("FAIL").fg(Color::Red)
        };
        t.add_row(vec![
            Cell::new(&o.from),
            Cell::new(to),
            Cell::new(expected),
            Cell::new(got),
            Cell::new(rtt),
            Cell::new(ttl),
            result.add_attribute(Attribute::Bold),
        ]);
    }
    t
}

/// "3 passed, 0 failed" — the closing line of every check run.
pub fn summary(outcomes: &[Outcome]) -> String {
    let passed = outcomes.iter().filter(|o| o.pass).count();
    format!(
        "checks: {} passed, {} failed",
        passed,
        outcomes.len() - passed
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(pass: bool, detail: Option<&str>) -> Outcome {
        Outcome {
            from: "bbox2".into(),
            to: "bbox1".into(),
            address: "10.0.0.2".into(),
            expect: Expect::Reachable,
            expect_ttl: Some(64),
            got: if pass {
                Expect::Reachable
            } else {
                Expect::Unreachable
            },
            sent: 2,
            received: if pass { 2 } else { 0 },
            rtt_ms: pass.then_some(0.081),
            ttl: pass.then_some(64),
            detail: detail.map(String::from),
            pass,
            seconds: 0.25,
        }
    }

    /// Columns line up on a colour terminal: every line of the table is as wide as the others
    /// once the escape sequences are left out.
    #[test]
    fn coloured_results_keep_the_table_aligned() {
        let rows = [
            outcome(true, None),
            outcome(false, Some("host unreachable (ICMP from 10.0.0.1)")),
        ];
        let s = fill(crate::table::with(&HEADER, true, None), &rows).to_string();
        assert!(s.contains("\x1b["), "colour is on: {s:?}");
        let widths: Vec<usize> = s
            .lines()
            .map(|l| crate::table::strip_ansi(l).chars().count())
            .collect();
        assert!(widths.windows(2).all(|w| w[0] == w[1]), "{s}\n{widths:?}");
        assert!(crate::table::strip_ansi(&s).contains("0.081 ms"), "{s}");
        let plain = fill(crate::table::with(&HEADER, false, Some(60)), &rows).to_string();
        assert!(!plain.contains('\x1b'), "{plain:?}");
        assert!(plain.lines().all(|l| l.chars().count() <= 60), "{plain}");
    }

    #[test]
    fn junit_says_what_was_expected_and_what_came_back() {
        let x = junit(
            "lab1",
            &[
                outcome(true, None),
                outcome(false, Some("host unreachable (ICMP from 10.0.0.1)")),
            ],
        );
        assert!(
            x.contains("<testsuite name=\"lab1/checks\" tests=\"2\" failures=\"1\" skipped=\"0\" time=\"0.500\">"),
            "{x}"
        );
        assert!(
            x.contains("<testcase classname=\"lab1.checks\" name=\"1 bbox2 -&gt; bbox1 (10.0.0.2)\" time=\"0.250\"/>"),
            "{x}"
        );
        assert!(
            x.contains("<failure message=\"expected reachable ttl=64, got unreachable: host unreachable (ICMP from 10.0.0.1)\">"),
            "{x}"
        );
        assert!(
            x.contains("ping from bbox2 to 10.0.0.2: 2 sent, 0 received</failure>"),
            "{x}"
        );
    }

    #[test]
    fn summary_counts_passes_and_failures() {
        assert_eq!(
            summary(&[outcome(true, None), outcome(false, None)]),
            "checks: 1 passed, 1 failed"
        );
    }
}

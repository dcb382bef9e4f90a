//! Lab checks: real ICMP echo from a container (or host) namespace, run concurrently, each
//! compared with what the lab file expects (reachable or not, and the reply TTL).

use std::time::Duration;

use colored::Colorize;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, Table};
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
}

pub fn run(lab: &Lab) -> Vec<Outcome> {
    std::thread::scope(|s| {
        let handles: Vec<_> = lab
            .checks
            .iter()
            .map(|c| s.spawn(move || run_one(lab, c)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("check thread panicked"))
            .collect()
    })
}

fn run_one(lab: &Lab, c: &Check) -> Outcome {
    let ns = lab.node_ns(&c.from).unwrap_or_default();
    let opts = icmp::PingOptions {
        count: c.count,
        interval: Duration::from_millis(200),
        timeout: Duration::from_millis(1000),
    };
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
    }
}

fn word(e: Expect) -> &'static str {
    match e {
        Expect::Reachable => "reachable",
        Expect::Unreachable => "unreachable",
    }
}

pub fn render_table(outcomes: &[Outcome]) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "from", "to", "expected", "got", "rtt", "ttl", "result",
    ]);
    for o in outcomes {
        let to = if o.to == o.address {
            o.to.clone()
        } else {
            format!("{} ({})", o.to, o.address)
        };
        let expected = match o.expect_ttl {
            Some(t) => format!("{} ttl={t}", word(o.expect)),
            None => word(o.expect).to_string(),
        };
        let got = match (&o.detail, o.got) {
            (Some(d), Expect::Unreachable) => format!("unreachable: {d}"),
            _ => format!("{} ({}/{})", word(o.got), o.received, o.sent),
        };
        let rtt = o
            .rtt_ms
            .map(|r| format!("{r:.2} ms"))
            .unwrap_or_else(|| "-".into());
        let ttl = o.ttl.map(|t| t.to_string()).unwrap_or_else(|| "-".into());
        let result = if o.pass {
            "pass".green().bold().to_string()
        } else {
            "FAIL".red().bold().to_string()
        };
        t.add_row(vec![
            Cell::new(&o.from),
            Cell::new(to),
            Cell::new(expected),
            Cell::new(got),
            Cell::new(rtt),
            Cell::new(ttl),
            Cell::new(result),
        ]);
    }
    t.to_string()
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

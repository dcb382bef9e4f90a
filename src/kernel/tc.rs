//! Traffic control on one interface: the impairments `netlab impair` sets as the root qdisc of
//! a device, built over rtnetlink (RTM_NEWQDISC / RTM_DELQDISC) on the namespace's own
//! connection, never by running `tc`. Delay, jitter and loss are netem's; a rate is tbf's when
//! it is the only impairment, and netem's own rate (TCA_NETEM_RATE) when it comes with any
//! other, so an impairment is always exactly one qdisc, created in one message: the kernel
//! either grafts it whole or leaves the device as it was.
//!
//! netlink-packet-route has no types for netem's or tbf's options, so their bytes are written
//! here (`struct tc_netem_qopt`, `struct tc_tbf_qopt`, from `linux/pkt_sched.h`). Values are
//! parsed with iproute2's units (`100ms`, `0.5%`, `10mbit`). This module opens no socket: it
//! is handed the [`Handle`] of a connection bound to the namespace.

use std::fmt;
use std::io;

use futures::{StreamExt, TryStreamExt};
use netlink_packet_core::{
    DefaultNla, Emitable, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_REPLACE,
    NLM_F_REQUEST,
};
use netlink_packet_route::tc::{TcAttribute, TcHandle, TcMessage};
use netlink_packet_route::RouteNetlinkMessage;
use rtnetlink::Handle;

/// What netlab says when the kernel has no netem qdisc.
pub const NO_NETEM: &str =
    "this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM); try `modprobe sch_netem`";
/// What netlab says when the kernel has no tbf qdisc.
pub const NO_TBF: &str =
    "this kernel has no tbf qdisc (CONFIG_NET_SCH_TBF); try `modprobe sch_tbf`";

const TCA_OPTIONS: u16 = 2;

// linux/pkt_sched.h
const TCA_NETEM_RATE: u16 = 6;
const TCA_NETEM_RATE64: u16 = 8;
const TCA_NETEM_LATENCY64: u16 = 10;
const TCA_NETEM_JITTER64: u16 = 11;
const TCA_TBF_PARMS: u16 = 1;
const TCA_TBF_RATE64: u16 = 4;
const TCA_TBF_BURST: u16 = 6;
const TC_LINKLAYER_ETHERNET: u8 = 1;

/// netem's queue, in packets: iproute2's default (`tc qdisc add ... netem` without `limit`).
/// 0 would drop every packet.
const NETEM_LIMIT: u32 = 1000;
/// tbf's bucket holds this much sending time at the rate (at least two full frames, since tbf
/// drops a packet larger than its bucket), and its queue this much more (at least eight full
/// frames, so that a slow rate delays a burst rather than dropping it).
const TBF_BURST_NS: u64 = 10_000_000;
const TBF_QUEUE_NS: u64 = 100_000_000;

/// The impairments of one interface, as asked for. Setting them replaces whatever the device
/// had: an impairment is the whole root qdisc, not an addition to it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Impairment {
    /// Added delay, in ns.
    pub delay: Option<u64>,
    /// Random variation of the delay, in ns (netem: delay ± jitter).
    pub jitter: Option<u64>,
    /// Random loss, in percent (0..=100).
    pub loss: Option<f64>,
    /// Rate limit, in bytes per second.
    pub rate: Option<u64>,
}

impl Impairment {
    /// From the command line's values; the error names the option and the accepted form.
    pub fn parse(
        delay: Option<&str>,
        jitter: Option<&str>,
        loss: Option<&str>,
        rate: Option<&str>,
    ) -> Result<Impairment, String> {
        let opt = |name: &str, v: Option<&str>, f: fn(&str) -> Result<u64, String>| {
            v.map(|s| f(s).map_err(|e| format!("--{name} {s}: {e}")))
                .transpose()
        };
        let imp = Impairment {
            delay: opt("delay", delay, parse_duration)?,
            jitter: opt("jitter", jitter, parse_duration)?,
            loss: loss
                .map(|s| parse_percent(s).map_err(|e| format!("--loss {s}: {e}")))
                .transpose()?,
            rate: opt("rate", rate, parse_rate)?,
        };
        if imp.jitter.is_some() && imp.delay.is_none() {
            return Err("--jitter varies the delay: give --delay too".into());
        }
        if imp == Impairment::default() {
            return Err("nothing to set: give --delay, --loss or --rate (or --clear)".into());
        }
        Ok(imp)
    }

    /// The qdisc that carries this impairment: netem for anything but a rate alone.
    pub fn kind(&self) -> &'static str {
        if self.delay.is_none() && self.jitter.is_none() && self.loss.is_none() {
            "tbf"
        } else {
            "netem"
        }
    }

    /// RTM_NEWQDISC's payload: this impairment as the root qdisc `major:` of device `index`
    /// (MTU `mtu`), with times in the kernel's psched ticks where the structs want ticks.
    pub fn message(&self, index: u32, major: u16, mtu: u32, psched: Psched) -> TcMessage {
        let mut m = TcMessage::with_index(index as i32);
        m.header.parent = TcHandle::ROOT;
        m.header.handle = TcHandle { major, minor: 0 };
        let options = match self.kind() {
            "netem" => self.netem_options(psched),
            _ => tbf_options(self.rate.unwrap_or(0), mtu, psched),
        };
        m.attributes
            .push(TcAttribute::Kind(self.kind().to_string()));
        // TCA_OPTIONS by hand: netem's is a raw struct followed by attributes, which the
        // crate's TcOption (a list of attributes) cannot express.
        m.attributes
            .push(TcAttribute::Other(DefaultNla::new(TCA_OPTIONS, options)));
        m
    }

    /// `struct tc_netem_qopt` followed by netem's attributes. Delay and jitter go in ns as
    /// TCA_NETEM_LATENCY64 / JITTER64 (kernel >= 4.15), which override the struct's 32-bit
    /// tick fields; those are filled too, for older kernels.
    fn netem_options(&self, psched: Psched) -> Vec<u8> {
        let delay = self.delay.unwrap_or(0);
        let jitter = self.jitter.unwrap_or(0);
        let mut out = Vec::with_capacity(64);
        for field in [
            psched.ticks_u32(delay),     // latency
            NETEM_LIMIT,                 // limit
            loss_probability(self.loss), // loss
            0,                           // gap
            0,                           // duplicate
            psched.ticks_u32(jitter),    // jitter
        ] {
            out.extend_from_slice(&field.to_ne_bytes());
        }
        let mut attrs = vec![
            DefaultNla::new(TCA_NETEM_LATENCY64, (delay as i64).to_ne_bytes().to_vec()),
            DefaultNla::new(TCA_NETEM_JITTER64, (jitter as i64).to_ne_bytes().to_vec()),
        ];
        if let Some(rate) = self.rate {
            // struct tc_netem_rate: rate (bytes/s), packet_overhead, cell_size, cell_overhead.
            let mut r = Vec::with_capacity(16);
            r.extend_from_slice(&rate_u32(rate).to_ne_bytes());
            r.extend_from_slice(&[0u8; 12]);
            attrs.push(DefaultNla::new(TCA_NETEM_RATE, r));
            if rate > u64::from(u32::MAX) {
                attrs.push(DefaultNla::new(
                    TCA_NETEM_RATE64,
                    rate.to_ne_bytes().to_vec(),
                ));
            }
        }
        out.extend(emit(&attrs));
        out
    }
}

/// tbf's nested options: TCA_TBF_PARMS (`struct tc_tbf_qopt`), the burst in bytes
/// (TCA_TBF_BURST, so the kernel need not derive it from ticks) and, past 4 GB/s, RATE64.
fn tbf_options(rate: u64, mtu: u32, psched: Psched) -> Vec<u8> {
    let frame = u64::from(mtu) + 18; // Ethernet header and an 802.1Q tag
    let burst = (rate.saturating_mul(TBF_BURST_NS) / 1_000_000_000)
        .max(2 * frame)
        .min(u64::from(u32::MAX));
    let queue = (rate.saturating_mul(TBF_QUEUE_NS) / 1_000_000_000).max(8 * frame);
    let limit = (burst + queue).min(u64::from(u32::MAX));
    let mut q = Vec::with_capacity(36);
    // struct tc_ratespec rate: cell_log, linklayer, overhead, cell_align, mpu, rate. A
    // link layer given means the kernel needs no rate table (TCA_TBF_RTAB) to guess it.
    q.extend_from_slice(&[0, TC_LINKLAYER_ETHERNET]);
    q.extend_from_slice(&[0u8; 6]);
    q.extend_from_slice(&rate_u32(rate).to_ne_bytes());
    q.extend_from_slice(&[0u8; 12]); // peakrate: none
    q.extend_from_slice(&(limit as u32).to_ne_bytes());
    // buffer: the bucket as sending time, in ticks (TCA_TBF_BURST overrides it).
    let buffer_ns = burst.saturating_mul(1_000_000_000) / rate.max(1);
    q.extend_from_slice(&psched.ticks_u32(buffer_ns).to_ne_bytes());
    q.extend_from_slice(&0u32.to_ne_bytes()); // mtu: only for a peak rate
    let mut attrs = vec![
        DefaultNla::new(TCA_TBF_PARMS, q),
        DefaultNla::new(TCA_TBF_BURST, (burst as u32).to_ne_bytes().to_vec()),
    ];
    if rate > u64::from(u32::MAX) {
        attrs.push(DefaultNla::new(TCA_TBF_RATE64, rate.to_ne_bytes().to_vec()));
    }
    emit(&attrs)
}

fn emit(attrs: &[DefaultNla]) -> Vec<u8> {
    let mut buf = vec![0u8; attrs.buffer_len()];
    attrs.emit(&mut buf);
    buf
}

/// A rate in a 32-bit field: saturated, as iproute2 does, when a 64-bit attribute follows.
fn rate_u32(rate: u64) -> u32 {
    u32::try_from(rate).unwrap_or(u32::MAX)
}

/// netem's loss: a probability scaled to u32 (100% = u32::MAX), as iproute2 rounds it.
fn loss_probability(loss: Option<f64>) -> u32 {
    let p = loss.unwrap_or(0.0) / 100.0;
    (p * f64::from(u32::MAX))
        .round()
        .clamp(0.0, f64::from(u32::MAX)) as u32
}

/// The kernel's packet-scheduler clock, as `/proc/net/psched` describes it (iproute2's
/// tc_core_init): how many ticks make a microsecond.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Psched {
    pub ticks_per_us: f64,
}

impl Psched {
    /// Ticks of 64 ns, what every kernel since 2.6.31 uses (PSCHED_SHIFT 6).
    pub const DEFAULT: Psched = Psched {
        ticks_per_us: 15.625,
    };

    /// Read `/proc/net/psched`, falling back to [`Psched::DEFAULT`].
    pub fn read() -> Psched {
        std::fs::read_to_string("/proc/net/psched")
            .ok()
            .and_then(|s| Psched::parse(&s))
            .unwrap_or(Psched::DEFAULT)
    }

    /// `t2us us2t clock_res ...` in hex, as the kernel prints them.
    pub fn parse(s: &str) -> Option<Psched> {
        let v: Vec<u64> = s
            .split_whitespace()
            .take(3)
            .map(|w| u64::from_str_radix(w, 16).ok())
            .collect::<Option<_>>()?;
        let (mut t2us, us2t, clock_res) = (*v.first()?, *v.get(1)?, *v.get(2)?);
        if us2t == 0 || clock_res == 0 {
            return None;
        }
        // iproute2's compatibility hack for kernels that report a 1 GHz clock.
        if clock_res == 1_000_000_000 {
            t2us = us2t;
        }
        Some(Psched {
            ticks_per_us: t2us as f64 / us2t as f64 * (clock_res as f64 / 1_000_000.0),
        })
    }

    fn ticks_u32(self, ns: u64) -> u32 {
        let t = (ns as f64 / 1000.0 * self.ticks_per_us).round();
        t.clamp(0.0, f64::from(u32::MAX)) as u32
    }
}

/// A qdisc of a device, as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qdisc {
    pub kind: String,
    /// `major:minor` as a u32; 0 for the device's default qdisc (noqueue, pfifo_fast, ...),
    /// which cannot be deleted.
    pub handle: u32,
    pub root: bool,
}

/// Every qdisc of device `index` (one RTM_GETQDISC dump of the namespace, filtered here).
pub async fn qdiscs(handle: &Handle, index: u32) -> io::Result<Vec<Qdisc>> {
    let all: Vec<TcMessage> = handle
        .qdisc()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(io_err)?;
    Ok(all
        .into_iter()
        .filter(|m| m.header.index == index as i32)
        .map(|m| Qdisc {
            kind: m
                .attributes
                .iter()
                .find_map(|a| match a {
                    TcAttribute::Kind(k) => Some(k.clone()),
                    _ => None,
                })
                .unwrap_or_default(),
            handle: m.header.handle.into(),
            root: m.header.parent == TcHandle::ROOT,
        })
        .collect())
}

/// The root qdisc of device `index`, if the kernel reports one.
pub async fn root(handle: &Handle, index: u32) -> io::Result<Option<Qdisc>> {
    Ok(qdiscs(handle, index).await?.into_iter().find(|q| q.root))
}

/// The first major handle (1:, 2:, ...) no qdisc of the device uses.
fn free_major(used: &[Qdisc]) -> u16 {
    (1..=0x7fff)
        .find(|m| used.iter().all(|q| (q.handle >> 16) as u16 != *m))
        .unwrap_or(0x7fff)
}

/// Make `imp` the root qdisc of device `index` (MTU `mtu`), replacing what it had: one
/// RTM_NEWQDISC with CREATE|REPLACE (`tc qdisc replace`) under a handle no qdisc of the device
/// has, so the kernel always creates a fresh qdisc and grafts it at the root in place of the
/// old one. (With the old handle, or none, a qdisc of the same kind would be "changed"
/// instead, keeping settings this message does not mention; EXCL no longer forces a graft
/// since Linux 6.x.) If the kernel cannot create it, the device keeps what it had.
pub async fn set(handle: &Handle, index: u32, mtu: u32, imp: &Impairment) -> io::Result<u16> {
    let major = free_major(&qdiscs(handle, index).await?);
    let msg = imp.message(index, major, mtu, Psched::read());
    let mut req = NetlinkMessage::from(RouteNetlinkMessage::NewQueueDiscipline(msg));
    req.header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
    let mut h = handle.clone();
    let mut resp = h
        .request(req)
        .map_err(|e| io::Error::other(e.to_string()))?;
    while let Some(m) = resp.next().await {
        if let NetlinkPayload::Error(e) = m.payload {
            if e.code.is_some() {
                return Err(missing_kind(e.to_io(), imp.kind()));
            }
        }
    }
    Ok(major)
}

/// Delete the root qdisc of device `index`: the device goes back to its default.
pub async fn clear(handle: &Handle, index: u32) -> io::Result<()> {
    let mut req = handle.qdisc().del(index as i32);
    req.message_mut().header.parent = TcHandle::ROOT;
    req.execute().await.map_err(io_err)
}

/// The kernel answers ENOENT ("Specified qdisc kind is unknown") for a qdisc kind it neither
/// has nor can load; say which kernel option is missing.
fn missing_kind(e: io::Error, kind: &str) -> io::Error {
    match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::EOPNOTSUPP) => {
            io::Error::new(e.kind(), if kind == "netem" { NO_NETEM } else { NO_TBF })
        }
        _ => e,
    }
}

fn io_err(e: rtnetlink::Error) -> io::Error {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.to_io(),
        other => io::Error::other(other.to_string()),
    }
}

/// A number and its unit: `1.5` and `ms`. Digits and one dot only (no sign, no exponent).
fn number_and_unit(s: &str) -> Result<(f64, &str), String> {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(end);
    if num.is_empty() || num == "." || num.matches('.').count() > 1 {
        return Err("not a number".into());
    }
    let v: f64 = num.parse().map_err(|_| "not a number".to_string())?;
    Ok((v, unit))
}

/// A duration in iproute2's units (`s`/`sec`/`secs`, `ms`/`msec`/`msecs`, `us`/`usec`/`usecs`,
/// `ns`/`nsec`/`nsecs`), in ns. Unlike `tc`, a bare number (which `tc` reads as µs) is refused.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    const FORM: &str = "a duration such as 100ms, 1.5s or 500us";
    let (v, unit) = number_and_unit(s).map_err(|_| format!("not {FORM}"))?;
    let scale = match unit {
        "s" | "sec" | "secs" => 1e9,
        "ms" | "msec" | "msecs" => 1e6,
        "us" | "usec" | "usecs" => 1e3,
        "ns" | "nsec" | "nsecs" => 1.0,
        "" => return Err(format!("give a unit: {FORM}")),
        u => return Err(format!("unknown unit {u:?}: give {FORM}")),
    };
    let ns = (v * scale).round();
    if ns > i64::MAX as f64 {
        return Err("too long".into());
    }
    Ok(ns as u64)
}

/// A percentage, `1%`, `0.5%` or `1` (percent either way, as `tc` reads it), 0..=100.
pub fn parse_percent(s: &str) -> Result<f64, String> {
    let num = s.strip_suffix('%').unwrap_or(s);
    let (v, rest) =
        number_and_unit(num).map_err(|_| "not a percentage such as 1% or 0.5%".to_string())?;
    if !rest.is_empty() {
        return Err("not a percentage such as 1% or 0.5%".into());
    }
    if v > 100.0 {
        return Err("at most 100%".into());
    }
    Ok(v)
}

/// iproute2's rate units (tc(8) "RATES"), case-insensitive like `tc`: bits per second, or
/// bytes per second for the `...bps` ones (so `mbps` is megabytes, as in `tc`).
const RATE_UNITS: &[(&str, f64)] = &[
    ("bit", 1.0),
    ("kibit", 1024.0),
    ("kbit", 1e3),
    ("mibit", 1024.0 * 1024.0),
    ("mbit", 1e6),
    ("gibit", 1024.0 * 1024.0 * 1024.0),
    ("gbit", 1e9),
    ("tibit", 1024.0 * 1024.0 * 1024.0 * 1024.0),
    ("tbit", 1e12),
    ("bps", 8.0),
    ("kibps", 8.0 * 1024.0),
    ("kbps", 8e3),
    ("mibps", 8.0 * 1024.0 * 1024.0),
    ("mbps", 8e6),
    ("gibps", 8.0 * 1024.0 * 1024.0 * 1024.0),
    ("gbps", 8e9),
    ("tibps", 8.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0),
    ("tbps", 8e12),
];

/// A rate such as `10mbit`, `1gbit` or `500kbit`, in bytes per second. A bare number (bits
/// per second to `tc`) is refused: give the unit.
pub fn parse_rate(s: &str) -> Result<u64, String> {
    const FORM: &str = "a rate such as 10mbit, 1gbit or 500kbit";
    let (v, unit) = number_and_unit(s).map_err(|_| format!("not {FORM}"))?;
    if unit.is_empty() {
        return Err(format!("give a unit: {FORM}"));
    }
    let scale = RATE_UNITS
        .iter()
        .find(|(u, _)| u.eq_ignore_ascii_case(unit))
        .map(|(_, s)| *s)
        .ok_or_else(|| format!("unknown unit {unit:?}: give {FORM}"))?;
    let bytes = (v * scale / 8.0).round();
    if bytes < 1.0 {
        return Err("at least 8bit (one byte per second)".into());
    }
    if bytes > u64::MAX as f64 / 2.0 {
        return Err("too fast".into());
    }
    Ok(bytes as u64)
}

/// `1.5` for 1.5, `100` for 100.0: at most three decimals, no trailing zeros.
fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// `100ms`, `1.5s`, `500us`, `20ns`.
pub fn format_duration(ns: u64) -> String {
    let ns = ns as f64;
    if ns >= 1e9 {
        format!("{}s", trim(ns / 1e9))
    } else if ns >= 1e6 {
        format!("{}ms", trim(ns / 1e6))
    } else if ns >= 1e3 {
        format!("{}us", trim(ns / 1e3))
    } else {
        format!("{}ns", trim(ns))
    }
}

/// A rate in bytes per second as `tc` writes it: `10mbit`, `1gbit`, `500kbit`.
pub fn format_rate(bytes: u64) -> String {
    let bits = bytes as f64 * 8.0;
    for (unit, scale) in [("tbit", 1e12), ("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3)] {
        if bits >= scale {
            return format!("{}{unit}", trim(bits / scale));
        }
    }
    format!("{}bit", trim(bits))
}

impl fmt::Display for Impairment {
    /// `delay 100ms jitter 10ms loss 1% rate 10mbit`, in tc's words.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(d) = self.delay {
            parts.push(format!("delay {}", format_duration(d)));
        }
        if let Some(j) = self.jitter {
            parts.push(format!("jitter {}", format_duration(j)));
        }
        if let Some(l) = self.loss {
            parts.push(format!("loss {}%", trim(l)));
        }
        if let Some(r) = self.rate {
            parts.push(format!("rate {}", format_rate(r)));
        }
        f.write_str(&parts.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{Nla, NlaBuffer, NlasIterator};

    fn u32_at(b: &[u8], i: usize) -> u32 {
        u32::from_ne_bytes(b[i * 4..i * 4 + 4].try_into().unwrap())
    }

    /// Attributes of a buffer of NLAs, as (kind, value).
    fn attrs(b: &[u8]) -> Vec<(u16, Vec<u8>)> {
        NlasIterator::new(b)
            .map(|n| {
                let n: NlaBuffer<&[u8]> = n.unwrap();
                (n.kind(), n.value().to_vec())
            })
            .collect()
    }

    fn options(m: &TcMessage) -> Vec<u8> {
        m.attributes
            .iter()
            .find_map(|a| match a {
                TcAttribute::Other(n) if n.kind() == TCA_OPTIONS => {
                    let mut v = vec![0u8; n.value_len()];
                    n.emit_value(&mut v);
                    Some(v)
                }
                _ => None,
            })
            .expect("TCA_OPTIONS")
    }

    #[test]
    fn tc_durations_take_iproute2_units() {
        assert_eq!(parse_duration("100ms"), Ok(100_000_000));
        assert_eq!(parse_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_duration("500us"), Ok(500_000));
        assert_eq!(parse_duration("2secs"), Ok(2_000_000_000));
        assert_eq!(parse_duration("10usec"), Ok(10_000));
        assert_eq!(parse_duration("7ns"), Ok(7));
        assert_eq!(parse_duration("0ms"), Ok(0));
        for bad in [
            "100", "", "ms", "-1ms", "1.2.3ms", "1e3ms", "10 ms", "10m", "fast",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert!(parse_duration("100").unwrap_err().contains("give a unit"));
        assert!(parse_duration("9999999999999s")
            .unwrap_err()
            .contains("too long"));
    }

    #[test]
    fn tc_percentages() {
        assert_eq!(parse_percent("1%"), Ok(1.0));
        assert_eq!(parse_percent("0.5%"), Ok(0.5));
        assert_eq!(parse_percent("100%"), Ok(100.0));
        assert_eq!(parse_percent("3"), Ok(3.0));
        for bad in ["101%", "-1%", "%", "1%%", "abc", "1.5.%", ""] {
            assert!(parse_percent(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tc_rates_take_iproute2_units() {
        assert_eq!(parse_rate("10mbit"), Ok(1_250_000));
        assert_eq!(parse_rate("1gbit"), Ok(125_000_000));
        assert_eq!(parse_rate("500kbit"), Ok(62_500));
        assert_eq!(parse_rate("1Mibit"), Ok(131_072));
        assert_eq!(parse_rate("8bit"), Ok(1));
        assert_eq!(parse_rate("10MBps"), Ok(10_000_000));
        // tc compares units case-insensitively: "mbps" is megabytes there too.
        assert_eq!(parse_rate("10mbps"), Ok(10_000_000));
        assert_eq!(parse_rate("40gbit"), Ok(5_000_000_000));
        for bad in ["10", "1bit", "0mbit", "10mb", "fast", "-1mbit", ""] {
            assert!(parse_rate(bad).is_err(), "{bad:?}");
        }
        assert!(parse_rate("10").unwrap_err().contains("give a unit"));
    }

    #[test]
    fn tc_values_print_as_tc_writes_them() {
        assert_eq!(format_duration(100_000_000), "100ms");
        assert_eq!(format_duration(1_500_000_000), "1.5s");
        assert_eq!(format_duration(500_000), "500us");
        assert_eq!(format_rate(1_250_000), "10mbit");
        assert_eq!(format_rate(125_000_000), "1gbit");
        assert_eq!(format_rate(62_500), "500kbit");
        let imp = Impairment::parse(Some("100ms"), Some("10ms"), Some("0.5%"), Some("10mbit"));
        assert_eq!(
            imp.unwrap().to_string(),
            "delay 100ms jitter 10ms loss 0.5% rate 10mbit"
        );
    }

    #[test]
    fn tc_impairment_needs_something_and_jitter_needs_delay() {
        assert!(Impairment::parse(None, None, None, None)
            .unwrap_err()
            .contains("nothing to set"));
        assert!(Impairment::parse(None, Some("1ms"), None, None)
            .unwrap_err()
            .contains("--delay"));
        let e = Impairment::parse(Some("100"), None, None, None).unwrap_err();
        assert!(e.starts_with("--delay 100: give a unit"), "{e}");
        let e = Impairment::parse(None, None, Some("200%"), None).unwrap_err();
        assert!(e.starts_with("--loss 200%:"), "{e}");
    }

    #[test]
    fn tc_psched_is_read_as_iproute2_reads_it() {
        let p = Psched::parse("000003e8 00000040 000f4240 3b9aca00\n").unwrap();
        assert_eq!(p, Psched::DEFAULT);
        assert_eq!(p.ticks_u32(100_000_000), 1_562_500); // 100 ms in 64 ns ticks
        let ghz = Psched::parse("000003e8 00000040 3b9aca00 3b9aca00").unwrap();
        assert_eq!(ghz.ticks_per_us, 1000.0);
        assert_eq!(Psched::parse("garbage"), None);
    }

    #[test]
    fn tc_netem_options_are_a_qopt_struct_then_attributes() {
        let imp = Impairment::parse(Some("100ms"), Some("10ms"), Some("100%"), None).unwrap();
        assert_eq!(imp.kind(), "netem");
        let m = imp.message(7, 1, 1500, Psched::DEFAULT);
        assert_eq!(m.header.index, 7);
        assert_eq!(m.header.parent, TcHandle::ROOT);
        assert_eq!(u32::from(m.header.handle), 0x0001_0000, "1:");
        assert!(m.attributes.contains(&TcAttribute::Kind("netem".into())));
        let o = options(&m);
        assert_eq!(u32_at(&o, 0), 1_562_500, "latency in ticks");
        assert_eq!(u32_at(&o, 1), NETEM_LIMIT);
        assert_eq!(u32_at(&o, 2), u32::MAX, "100% loss");
        assert_eq!(u32_at(&o, 5), 156_250, "jitter in ticks");
        let a = attrs(&o[24..]);
        assert_eq!(
            a,
            vec![
                (TCA_NETEM_LATENCY64, 100_000_000i64.to_ne_bytes().to_vec()),
                (TCA_NETEM_JITTER64, 10_000_000i64.to_ne_bytes().to_vec()),
            ]
        );
        let one = Impairment::parse(None, None, Some("1%"), None).unwrap();
        assert_eq!(
            u32_at(&options(&one.message(1, 1, 1500, Psched::DEFAULT)), 2),
            42_949_673
        );
    }

    #[test]
    fn tc_rate_with_delay_is_netems_own_rate() {
        let imp = Impairment::parse(Some("50ms"), None, None, Some("40gbit")).unwrap();
        assert_eq!(imp.kind(), "netem");
        let o = options(&imp.message(1, 1, 1500, Psched::DEFAULT));
        let a = attrs(&o[24..]);
        let rate = a.iter().find(|(k, _)| *k == TCA_NETEM_RATE).unwrap();
        assert_eq!(rate.1.len(), 16);
        assert_eq!(u32_at(&rate.1, 0), u32::MAX, "saturated: RATE64 follows");
        let r64 = a.iter().find(|(k, _)| *k == TCA_NETEM_RATE64).unwrap();
        assert_eq!(r64.1, 5_000_000_000u64.to_ne_bytes().to_vec());
    }

    #[test]
    fn tc_fresh_qdiscs_get_a_handle_no_qdisc_of_the_device_has() {
        let q = |handle: u32, root: bool| Qdisc {
            kind: "x".into(),
            handle,
            root,
        };
        assert_eq!(free_major(&[]), 1);
        assert_eq!(free_major(&[q(0, true)]), 1, "the default qdisc is 0:");
        assert_eq!(free_major(&[q(0x0001_0000, true)]), 2);
        assert_eq!(
            free_major(&[q(0x0002_0000, true), q(0x0001_0000, false)]),
            3
        );
        assert_eq!(free_major(&[q(0x8001_0000, true)]), 1);
    }

    #[test]
    fn tc_rate_alone_is_tbf() {
        let imp = Impairment::parse(None, None, None, Some("10mbit")).unwrap();
        assert_eq!(imp.kind(), "tbf");
        let m = imp.message(3, 1, 1500, Psched::DEFAULT);
        assert!(m.attributes.contains(&TcAttribute::Kind("tbf".into())));
        let a = attrs(&options(&m));
        let parms = &a.iter().find(|(k, _)| *k == TCA_TBF_PARMS).unwrap().1;
        assert_eq!(parms.len(), 36, "struct tc_tbf_qopt");
        assert_eq!(parms[1], TC_LINKLAYER_ETHERNET);
        assert_eq!(u32_at(parms, 2), 1_250_000, "rate in bytes/s");
        assert_eq!(u32_at(parms, 5), 0, "no peak rate");
        let burst = u32::from_ne_bytes(
            a.iter().find(|(k, _)| *k == TCA_TBF_BURST).unwrap().1[..4]
                .try_into()
                .unwrap(),
        );
        assert_eq!(burst, 12_500, "10 ms at 10mbit");
        assert_eq!(u32_at(parms, 6), 12_500 + 125_000, "limit: burst + 100 ms");
        assert!(a.iter().all(|(k, _)| *k != TCA_TBF_RATE64));
        // A slow rate still gets a bucket of two full frames (tbf drops bigger packets).
        let slow = Impairment::parse(None, None, None, Some("8kbit")).unwrap();
        let a = attrs(&options(&slow.message(3, 1, 1500, Psched::DEFAULT)));
        let b = &a.iter().find(|(k, _)| *k == TCA_TBF_BURST).unwrap().1;
        assert_eq!(u32::from_ne_bytes(b[..4].try_into().unwrap()), 2 * 1518);
    }
}

//! Per-namespace sysctls (`net.ipv4.ip_forward`), written through /proc/sys from a thread that
//! entered the namespace: /proc/sys/net shows the network namespace of the thread that opens
//! it, so the write lands in the lab's namespace and never in the root one. There is no netlink
//! for these (iproute2 has none either; `sysctl` does the same write).

use std::io;
use std::path::PathBuf;

use super::netns;

/// `/proc/sys/<key with dots as slashes>`, for keys made of `[a-z0-9_-]` words only, so a key
/// can never name a path outside /proc/sys/net.
fn path(key: &str) -> io::Result<PathBuf> {
    let ok = key.starts_with("net.")
        && key.split('.').all(|w| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        });
    if !ok {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{key:?} is not a per-namespace network sysctl (net.*)"),
        ));
    }
    Ok(PathBuf::from("/proc/sys").join(key.replace('.', "/")))
}

/// Write `value` to sysctl `key` inside the namespace `ns` is a handle on.
pub fn write(ns: &std::fs::File, key: &str, value: &str) -> io::Result<()> {
    let p = path(key)?;
    let value = value.to_string();
    netns::run_in_handle(ns, move || std::fs::write(&p, value.as_bytes()))
}

/// The value sysctl `key` has in a network namespace that nobody changed: read in a fresh,
/// unnamed namespace that goes with the reading thread. Undoing a write puts this back (the
/// namespaces netlab writes to are its own, created with these values).
pub fn fresh_value(key: &str) -> io::Result<String> {
    let p = path(key)?;
    netns::run_in_temporary(move || std::fs::read_to_string(&p).map(|s| s.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::path;

    #[test]
    fn only_network_sysctls_map_to_paths() {
        assert_eq!(
            path("net.ipv4.ip_forward").unwrap().to_str(),
            Some("/proc/sys/net/ipv4/ip_forward")
        );
        assert_eq!(
            path("net.ipv4.conf.ens38-10.forwarding").unwrap().to_str(),
            Some("/proc/sys/net/ipv4/conf/ens38-10/forwarding")
        );
        for bad in [
            "kernel.panic",
            "net..x",
            "net.ipv4/../../x",
            "net.ipv4.ip_forward.",
            "net",
        ] {
            assert!(path(bad).is_err(), "{bad}");
        }
    }
}

//! The kernel as route oracle for `trace`: RTM_GETROUTE (fibmatch) asked inside the namespace,
//! so policy routing, local routes and down links are judged by the kernel itself.

use std::net::IpAddr;
use std::path::PathBuf;

use netlink_packet_route::route::{RouteAttribute, RouteType};

use super::{convert, Namespace};
use crate::kernel::dump::Dumper;
use crate::kernel::netns;
use crate::kernel::nft::L4Proto;
use crate::kernel::sockets;
use crate::trace::{RouteOracle, RouteResult};

pub struct KernelRoutes {
    /// Also ask for the path MTU (a second lookup, without fibmatch): a trace with a size.
    pub path_mtu: bool,
}

impl KernelRoutes {
    /// Routes only, for a trace without a size.
    pub const PLAIN: KernelRoutes = KernelRoutes { path_mtu: false };
}

impl RouteOracle for KernelRoutes {
    /// The namespace's socket table, dumped by the kernel (inet_diag).
    fn listening(
        &self,
        ns: &Namespace,
        proto: L4Proto,
        dst: IpAddr,
        port: u16,
        in_dev: Option<&str>,
    ) -> Option<bool> {
        // Sent to itself, the packet comes in on lo.
        let ifindex = ns.link(in_dev.unwrap_or("lo"))?.index;
        let all = sockets::listeners_in(&PathBuf::from(&ns.path), proto).ok()?;
        Some(all.iter().any(|l| l.takes(dst, port, ifindex)))
    }

    fn lookup(&self, ns: &Namespace, dst: IpAddr) -> RouteResult {
        let path = PathBuf::from(&ns.path);
        let names: std::collections::BTreeMap<u32, String> =
            ns.links.iter().map(|l| (l.index, l.name.clone())).collect();
        // The FIB entry (fibmatch: the route as configured) and, on one socket, the route the
        // kernel would use (with the path MTU it learnt, if any).
        let want_mtu = self.path_mtu;
        let got = netns::run_in_path(&path, move || {
            let mut d = Dumper::here()?;
            let fib = d.route_get(dst)?;
            let mtu = if want_mtu { d.path_mtu(dst)? } else { None };
            Ok((fib, mtu))
        });
        let Ok((fib, path_mtu)) = got else {
            return RouteResult::None;
        };
        match fib {
            Some(m) => match m.header.kind {
                RouteType::Local | RouteType::Broadcast => RouteResult::Local,
                RouteType::Unicast => {
                    let r = convert::route(&m, &names);
                    let dev = m.attributes.iter().find_map(|a| {
                        if let RouteAttribute::Oif(i) = a {
                            names.get(i).cloned()
                        } else {
                            None
                        }
                    });
                    match (r, dev) {
                        (Some(r), Some(dev)) => RouteResult::Via {
                            dev,
                            gateway: r.gateway.as_deref().and_then(|g| g.parse().ok()),
                            prefix: r.dst,
                            mtu: path_mtu,
                        },
                        _ => RouteResult::None,
                    }
                }
                _ => RouteResult::None,
            },
            None => RouteResult::None,
        }
    }
}

//! rtnetlink, one connection per namespace. A [`NsLink`] is opened on a thread that entered
//! its namespace (the socket stays bound to that namespace), then driven by the async runtime.
//! It creates plan objects and caches interface indexes by name.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;

use futures::TryStreamExt;
use netlink_packet_route::address::{AddressAttribute, AddressFlags};
use netlink_packet_route::link::{
    InfoData, InfoVeth, IpVlanMode, LinkAttribute, LinkFlags, LinkMessage, MacVlanMode,
};
use netlink_packet_route::neighbour::NeighbourFlags;
use netlink_packet_route::route::{RouteProtocol, RouteScope};
use rtnetlink::{
    Handle, LinkBridge, LinkBridgePort, LinkDummy, LinkIpVlan, LinkMacVlan, LinkMessageBuilder,
    LinkUnspec, LinkVeth, LinkVlan, LinkVxlan, RouteMessageBuilder,
};

use super::{netns, nft, sysctl, xfrm};
use crate::plan::{Object, OVERLAY_VXLAN};
use crate::spec::{IpvlanMode, MacvlanMode};

/// What netlab says when the kernel cannot create 802.1Q sub-interfaces.
pub const NO_VLAN: &str =
    "this kernel has no 802.1Q VLAN support (CONFIG_VLAN_8021Q); try 'modprobe 8021q'";
/// What netlab says when the kernel cannot create ipvlan devices.
pub const NO_IPVLAN: &str =
    "this kernel has no ipvlan support (CONFIG_IPVLAN), which the lab's ipvlan networks need; try 'modprobe ipvlan'";
/// What netlab says when the kernel cannot create dummy devices.
pub const NO_DUMMY: &str =
    "this kernel has no dummy device support (CONFIG_DUMMY), which a macvlan or ipvlan network without a parent needs (its parent is a dummy, as in Docker); try 'modprobe dummy', or give the network a parent";

pub type Conn = (
    netlink_proto::Connection<netlink_packet_route::RouteNetlinkMessage>,
    Handle,
    futures::channel::mpsc::UnboundedReceiver<(
        netlink_packet_core::NetlinkMessage<netlink_packet_route::RouteNetlinkMessage>,
        netlink_sys::SocketAddr,
    )>,
);

/// An rtnetlink socket opened in the current thread's namespace, registered with the tokio
/// runtime `rt`. Call from a thread inside the namespace.
pub fn socket_here(rt: &tokio::runtime::Handle) -> io::Result<Conn> {
    let _guard = rt.enter();
    rtnetlink::new_connection()
}

/// Open handles on the namespaces a lab created, by name. The engine resolves other
/// namespaces (a veth's peer, a vxlan's or macvlan's target, a sysctl's) through these, never
/// through /run/netns, so a name swapped after creation cannot redirect anything.
pub type Handles = std::sync::Arc<HashMap<String, std::fs::File>>;

/// A netlink connection bound to one namespace.
pub struct NsLink {
    pub ns: String,
    handle: Handle,
    index: HashMap<String, u32>,
    handles: Option<Handles>,
    /// A second descriptor of the connection's socket, for device ioctls in this namespace
    /// (see [`NsLink::sync_linkwatch`]).
    ctl: Option<std::os::fd::OwnedFd>,
}

impl NsLink {
    /// Start driving a connection opened by [`socket_here`] (must be called within tokio).
    pub fn start(ns: &str, conn: Conn) -> NsLink {
        use netlink_sys::AsyncSocket;
        use std::os::fd::AsFd;
        let (mut connection, handle, _) = conn;
        let ctl = connection
            .socket_mut()
            .socket_ref()
            .as_fd()
            .try_clone_to_owned()
            .ok();
        tokio::spawn(connection);
        NsLink {
            ns: ns.to_string(),
            handle,
            index: HashMap::new(),
            handles: None,
            ctl,
        }
    }

    /// Ask the kernel for `dev`'s carrier (SIOCETHTOOL ETHTOOL_GLINK). Since Linux 6.8 the
    /// kernel first runs the device's pending linkwatch work on the spot (the queueing
    /// discipline that lets packets out, the operational state, a bridge port's state), instead
    /// of leaving it to the linkwatch worker, which handles at most 100 devices per run and
    /// non-urgent runs once a second. An ioctl that a socket's family does not know goes to the
    /// device layer of the socket's namespace, so the netlink socket serves. Older kernels, and
    /// devices without the ethtool call, just answer (or refuse) and are waited for instead.
    pub fn sync_linkwatch(&self, dev: &str) -> io::Result<bool> {
        use std::os::fd::AsRawFd;
        #[repr(C)]
        struct EthtoolValue {
            cmd: u32,
            data: u32,
        }
        const ETHTOOL_GLINK: u32 = 0x0000_000a;
        let fd = self
            .ctl
            .as_ref()
            .ok_or_else(|| io::Error::other("no control socket"))?;
        let name = dev.as_bytes();
        if name.is_empty() || name.len() >= libc::IFNAMSIZ {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        let mut value = EthtoolValue {
            cmd: ETHTOOL_GLINK,
            data: 0,
        };
        // SAFETY: ifreq is plain old data; all-zero is a valid value.
        let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
        for (d, s) in ifr.ifr_name.iter_mut().zip(name) {
            *d = *s as libc::c_char;
        }
        ifr.ifr_ifru.ifru_data = (&mut value as *mut EthtoolValue).cast();
        // SAFETY: SIOCETHTOOL reads the ifreq and the ethtool_value it points to, both live
        // for the call, and writes only into the ethtool_value.
        let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCETHTOOL, &mut ifr) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(value.data != 0)
    }

    /// Resolve other namespaces through `handles` (see [`Handles`]).
    pub fn with_handles(mut self, handles: Handles) -> NsLink {
        self.handles = Some(handles);
        self
    }

    /// A handle on namespace `name`: the engine's own when it has one, else opened safely.
    fn ns_fd(&self, name: &str) -> io::Result<std::fs::File> {
        match self.handles.as_ref().and_then(|h| h.get(name)) {
            Some(f) => f.try_clone(),
            None if self.handles.is_some() => Err(io::Error::other(format!(
                "internal: namespace {name} is not one this lab created"
            ))),
            None => netns::open(name),
        }
    }

    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// The link called `name` in this namespace (one RTM_GETLINK), if there is one.
    async fn link_named(&self, name: &str) -> io::Result<Option<LinkMessage>> {
        let mut found = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match found.try_next().await {
            Ok(m) => Ok(m),
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::ENODEV => Ok(None),
            Err(e) => Err(nl_err(e, &format!("looking up {name} in {}", self.ns))),
        }
    }

    /// Interface index of `name` in this namespace (cached; one RTM_GETLINK on a miss).
    pub async fn index(&mut self, name: &str) -> io::Result<u32> {
        if let Some(i) = self.index.get(name) {
            return Ok(*i);
        }
        let msg = self.link_named(name).await?;
        let idx = msg.map(|m| m.header.index).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no interface {name} in {}", self.ns),
            )
        })?;
        self.index.insert(name.to_string(), idx);
        Ok(idx)
    }

    /// Change link attributes of `dev` (up/down, master, promiscuity) in one RTM_SETLINK.
    async fn set_link(
        &mut self,
        dev: &str,
        build: impl FnOnce(LinkMessageBuilder<LinkUnspec>) -> LinkMessageBuilder<LinkUnspec>,
    ) -> io::Result<()> {
        let i = self.index(dev).await?;
        self.handle
            .link()
            .set(build(LinkUnspec::new_with_index(i)).build())
            .execute()
            .await
            .map_err(io_err)
    }

    /// The MAC address of `dev` in this namespace.
    pub async fn mac(&mut self, dev: &str) -> io::Result<Option<[u8; 6]>> {
        let i = self.index(dev).await?;
        let mut links = self.handle.link().get().match_index(i).execute();
        let msg = links.try_next().await.map_err(io_err)?;
        Ok(msg.and_then(|m| {
            m.attributes.iter().find_map(|a| match a {
                LinkAttribute::Address(b) if b.len() == 6 => {
                    let mut mac = [0u8; 6];
                    mac.copy_from_slice(b);
                    Some(mac)
                }
                _ => None,
            })
        }))
    }

    /// Give `dev` the MAC address `mac` (one RTM_SETLINK).
    pub async fn set_mac(&mut self, dev: &str, mac: [u8; 6]) -> io::Result<()> {
        self.set_link(dev, |b| b.address(mac.to_vec())).await
    }

    /// The route through `via` on `dev` (to `dst`, or the default route), proto boot as
    /// `ip route add` (and Docker) install it: the message that adds it also names it for
    /// deletion.
    async fn route_message(
        &mut self,
        dst: Option<ipnetwork::Ipv4Network>,
        via: Option<Ipv4Addr>,
        dev: &str,
    ) -> io::Result<netlink_packet_route::route::RouteMessage> {
        let i = self.index(dev).await?;
        let mut b = RouteMessageBuilder::<Ipv4Addr>::new()
            .output_interface(i)
            .protocol(RouteProtocol::Boot);
        b = match via {
            Some(via) => b.gateway(via),
            // On-link, as `ip route add default dev eth0` makes it.
            None => b.scope(RouteScope::Link),
        };
        if let Some(d) = dst {
            b = b.destination_prefix(d.network(), d.prefix());
        }
        Ok(b.build())
    }

    /// Delete the address `ip/prefix` of `dev`, of either family.
    async fn del_address(&mut self, dev: &str, ip: IpAddr, prefix: u8) -> io::Result<()> {
        let i = self.index(dev).await?;
        let h = self.handle.clone();
        let mut found = h
            .address()
            .get()
            .set_link_index_filter(i)
            .set_address_filter(ip)
            .set_prefix_length_filter(prefix)
            .execute();
        while let Some(m) = found.try_next().await.map_err(io_err)? {
            h.address().del(m).execute().await.map_err(io_err)?;
        }
        Ok(())
    }

    /// The IPv6 route `dst` (None: default) out of `dev`, through `via` or on-link.
    async fn route6_message(
        &mut self,
        dst: Option<ipnetwork::Ipv6Network>,
        via: Option<Ipv6Addr>,
        dev: &str,
    ) -> io::Result<netlink_packet_route::route::RouteMessage> {
        let i = self.index(dev).await?;
        let mut b = RouteMessageBuilder::<Ipv6Addr>::new()
            .output_interface(i)
            .protocol(RouteProtocol::Boot);
        if let Some(via) = via {
            b = b.gateway(via);
        }
        if let Some(d) = dst {
            b = b.destination_prefix(d.network(), d.prefix());
        }
        Ok(b.build())
    }

    /// Bridge port isolation of `dev` on or off.
    async fn set_isolated(&mut self, dev: &str, on: bool) -> io::Result<()> {
        let i = self.index(dev).await?;
        self.handle
            .link()
            .set_port(LinkBridgePort::new(i).isolated(on).build())
            .execute()
            .await
            .map_err(io_err)
    }

    /// Create one plan object. The error says what, where, and the kernel's reason.
    pub async fn apply(&mut self, o: &Object) -> io::Result<()> {
        self.apply_inner(o)
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", describe(o))))
    }

    async fn apply_inner(&mut self, o: &Object) -> io::Result<()> {
        let h = self.handle.clone();
        match o {
            Object::Bridge { name, mac, .. } => {
                let mut b = LinkBridge::new(name);
                if let Some(mac) = mac {
                    b = b.address(mac.to_vec());
                }
                h.link().add(b.build()).execute().await.map_err(io_err)?;
            }
            Object::Veth {
                name,
                master,
                mtu,
                peer_ns,
                peer,
                peer_mac,
                ..
            } => {
                let peer_fd = self.ns_fd(peer_ns)?;
                let mut peer_msg = LinkMessageBuilder::<LinkUnspec>::new()
                    .name(peer.clone())
                    .mtu(*mtu)
                    .setns_by_fd(peer_fd.as_raw_fd());
                if let Some(mac) = peer_mac {
                    peer_msg = peer_msg.address(mac.to_vec());
                }
                let mut b = LinkVeth::new(name, peer)
                    .mtu(*mtu)
                    .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg.build())));
                if let Some(m) = master {
                    let mi = self.index(m).await?;
                    b = b.controller(mi);
                }
                h.link().add(b.build()).execute().await.map_err(io_err)?;
                drop(peer_fd);
            }
            Object::Vxlan {
                target_ns,
                name,
                vni,
                port,
                mtu,
                src_port,
                ..
            } => {
                // Created from this (host) namespace straight into the target: the VXLAN UDP
                // socket belongs to the namespace of the creating netlink socket, so it stays
                // here while the device lives in the overlay namespace (link-netnsid). No local
                // address, as Docker: the source is the one routing picks for each VTEP.
                let fd = self.ns_fd(target_ns)?;
                let mut msg = LinkVxlan::new(name, *vni)
                    .port(*port)
                    .proxy(OVERLAY_VXLAN.proxy)
                    .l2miss(OVERLAY_VXLAN.l2miss)
                    .l3miss(OVERLAY_VXLAN.l3miss)
                    .learning(OVERLAY_VXLAN.learning)
                    .udp_csum(OVERLAY_VXLAN.udp_csum)
                    .mtu(*mtu)
                    .setns_by_fd(fd.as_raw_fd())
                    .build();
                if let Some(p) = src_port {
                    set_src_port(&mut msg, *p);
                }
                h.link().add(msg).execute().await.map_err(io_err)?;
                // Docker creates vxlan0 here and moves it, which gives the sandbox an id in
                // this namespace (seed 004's `ip netns`: `1-8lyfiluksq (id: 0)`); created
                // straight into the sandbox, it has none yet: ask for one.
                assign_nsid(&h, fd.as_raw_fd()).await?;
                drop(fd);
            }
            Object::Vlan { name, link, id, .. } => {
                let li = self.index(link).await?;
                h.link()
                    .add(LinkVlan::new(name, li, *id).build())
                    .execute()
                    .await
                    .map_err(|e| unsupported(e, NO_VLAN))?;
            }
            Object::Macvlan {
                parent,
                mode,
                target_ns,
                name,
                mac,
                ..
            } => {
                // Created from the host straight into the container: the lower device is
                // resolved here, in the host, so the container sees eth0@if<parent's index>.
                let pi = self.index(parent).await?;
                let fd = self.ns_fd(target_ns)?;
                let msg = |n: &str| {
                    LinkMacVlan::new(n, pi, macvlan_mode(*mode))
                        .address(mac.to_vec())
                        .setns_by_fd(fd.as_raw_fd())
                        .build()
                };
                self.add_child(name, &fd, msg, None).await?;
            }
            Object::Ipvlan {
                parent,
                mode,
                target_ns,
                name,
                ..
            } => {
                // As a macvlan: from the host into the container, no MAC (the parent's).
                let pi = self.index(parent).await?;
                let fd = self.ns_fd(target_ns)?;
                let msg = |n: &str| {
                    LinkIpVlan::new(n, pi, ipvlan_mode(*mode))
                        .setns_by_fd(fd.as_raw_fd())
                        .build()
                };
                self.add_child(name, &fd, msg, Some(NO_IPVLAN)).await?;
            }
            Object::Dummy { name, .. } => {
                h.link()
                    .add(LinkDummy::new(name).build())
                    .execute()
                    .await
                    .map_err(|e| unsupported(e, NO_DUMMY))?;
            }
            Object::Promisc { dev, .. } => self.set_link(dev, |b| b.promiscuous(true)).await?,
            Object::Firewall { ns, table } => {
                let fd = self.ns_fd(ns)?;
                let table = table.clone();
                tokio::task::spawn_blocking(move || nft::apply_in(&fd, &table))
                    .await
                    .map_err(io::Error::other)??;
            }
            Object::Sysctl { ns, key, value } => {
                let fd = self.ns_fd(ns)?;
                let (key, value) = (key.clone(), value.clone());
                tokio::task::spawn_blocking(move || sysctl::write(&fd, &key, &value))
                    .await
                    .map_err(io::Error::other)??;
            }
            Object::XfrmState { ns, sa } => {
                let fd = self.ns_fd(ns)?;
                let sa = sa.clone();
                tokio::task::spawn_blocking(move || xfrm::add_sa_in(&fd, &sa))
                    .await
                    .map_err(io::Error::other)??;
            }
            Object::XfrmPolicy { ns, policy } => {
                let fd = self.ns_fd(ns)?;
                let p = policy.clone();
                tokio::task::spawn_blocking(move || xfrm::add_policy_in(&fd, &p))
                    .await
                    .map_err(io::Error::other)??;
            }
            Object::Master { dev, master, .. } => {
                let m = self.index(master).await?;
                self.set_link(dev, |b| b.controller(m)).await?
            }
            Object::Isolated { dev, .. } => self.set_isolated(dev, true).await?,
            Object::Up { dev, .. } => self.set_link(dev, |b| b.up()).await?,
            Object::Address { dev, address, .. } => {
                let i = self.index(dev).await?;
                let mut req = h
                    .address()
                    .add(i, IpAddr::V4(address.ip()), address.prefix());
                // A /32 gets itself as its broadcast, as Docker's netlink library sets it
                // (seed 004: `inet 10.255.0.4/32 brd 10.255.0.4`); rtnetlink sets none there.
                if address.prefix() == 32 {
                    req.message_mut().attributes.push(
                        netlink_packet_route::address::AddressAttribute::Broadcast(address.ip()),
                    );
                }
                req.execute().await.map_err(io_err)?;
            }
            Object::Route { dst, via, dev, .. } => {
                let m = self.route_message(*dst, *via, dev).await?;
                h.route().add(m).execute().await.map_err(io_err)?;
            }
            Object::Address6 { dev, address, .. } => {
                let i = self.index(dev).await?;
                let mut add = h
                    .address()
                    .add(i, IpAddr::V6(address.ip()), address.prefix());
                // nodad: usable at once, as Docker adds a container's IPv6 address.
                add.message_mut()
                    .attributes
                    .push(AddressAttribute::Flags(AddressFlags::Nodad));
                add.execute().await.map_err(io_err)?;
            }
            Object::Route6 { dst, via, dev, .. } => {
                let m = self.route6_message(*dst, *via, dev).await?;
                h.route().add(m).execute().await.map_err(io_err)?;
            }
            Object::Fdb { dev, mac, dst, .. } => {
                let i = self.index(dev).await?;
                h.neighbours()
                    .add_bridge(i, mac)
                    .flags(NeighbourFlags::Own)
                    .destination(IpAddr::V4(*dst))
                    .execute()
                    .await
                    .map_err(io_err)?;
            }
            Object::Neigh { dev, ip, mac, .. } => {
                let i = self.index(dev).await?;
                h.neighbours()
                    .add(i, *ip)
                    .link_layer_address(mac)
                    .execute()
                    .await
                    .map_err(io_err)?;
            }
        }
        Ok(())
    }

    /// Create a macvlan or ipvlan child of a device of this namespace straight into the
    /// namespace open as `target` (`msg` builds the request for a given name). Older kernels
    /// (Debian's 6.1 among them) look a new link's name up in the namespace of the request, not
    /// of the link, so a child named like one of its host's devices (seed 002's `-o parent=eth0`,
    /// whose containers see their own eth0) fails there with EEXIST. Then the child is created
    /// under a temporary name and renamed inside the container, as libnetwork does (it creates
    /// the child in the host under a random name, moves it and renames it in the sandbox).
    async fn add_child(
        &mut self,
        name: &str,
        target: &std::fs::File,
        msg: impl Fn(&str) -> LinkMessage,
        missing: Option<&str>,
    ) -> io::Result<()> {
        let fail = |e: rtnetlink::Error| match missing {
            Some(m) => unsupported(e, m),
            None => io_err(e),
        };
        let h = self.handle.clone();
        let e = match h.link().add(msg(name)).execute().await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let taken_here = matches!(&e, rtnetlink::Error::NetlinkError(m) if m.raw_code() == -libc::EEXIST)
            && self.link_named(name).await?.is_some();
        if !taken_here {
            return Err(fail(e));
        }
        let temp = temporary_name();
        h.link().add(msg(&temp)).execute().await.map_err(fail)?;
        let rt = tokio::runtime::Handle::current();
        let fd = target.try_clone()?;
        let conn = tokio::task::spawn_blocking(move || {
            netns::run_in_handle(&fd, move || socket_here(&rt))
        })
        .await
        .map_err(io::Error::other)??;
        let mut there = NsLink::start("(the child's namespace)", conn);
        let i = there.index(&temp).await?;
        let renamed = there
            .handle
            .link()
            .set(LinkUnspec::new_with_index(i).name(name.to_string()).build())
            .execute()
            .await;
        if let Err(r) = renamed {
            // Nothing half-made: the temporary child goes, and the error is the rename's.
            let _ = there.handle.link().del(i).execute().await;
            return Err(io_err(r));
        }
        Ok(())
    }

    /// Undo one plan object (a runtime change taking it away, or rolling an addition back):
    /// delete a link, an address, a route, an FDB or neighbour entry; set a device down, out
    /// of its bridge, out of isolation or promiscuity. The error says what, where, and why.
    pub async fn undo(&mut self, o: &Object) -> io::Result<()> {
        self.undo_inner(o).await.map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("{}: {e}", crate::plan::delta::undo_command(o)),
            )
        })
    }

    async fn undo_inner(&mut self, o: &Object) -> io::Result<()> {
        let h = self.handle.clone();
        match o {
            Object::Bridge { name, .. }
            | Object::Vlan { name, .. }
            | Object::Veth { name, .. }
            | Object::Vxlan { name, .. }
            | Object::Macvlan { name, .. }
            | Object::Ipvlan { name, .. }
            | Object::Dummy { name, .. } => {
                // Vxlan, macvlan and ipvlan live in their target namespace: this connection must be
                // that namespace's (the engine undoes them there).
                let i = self.index(name).await?;
                h.link().del(i).execute().await.map_err(io_err)?;
                self.index.remove(name);
            }
            Object::Master { dev, .. } => self.set_link(dev, |b| b.nocontroller()).await?,
            Object::Promisc { dev, .. } => self.set_link(dev, |b| b.promiscuous(false)).await?,
            Object::Isolated { dev, .. } => self.set_isolated(dev, false).await?,
            Object::Up { dev, .. } => self.set_link(dev, |b| b.down()).await?,
            Object::Address { dev, address, .. } => {
                self.del_address(dev, IpAddr::V4(address.ip()), address.prefix())
                    .await?
            }
            Object::Route { dst, via, dev, .. } => {
                let m = self.route_message(*dst, *via, dev).await?;
                h.route().del(m).execute().await.map_err(io_err)?;
            }
            Object::Address6 { dev, address, .. } => {
                self.del_address(dev, IpAddr::V6(address.ip()), address.prefix())
                    .await?
            }
            Object::Route6 { dst, via, dev, .. } => {
                let m = self.route6_message(*dst, *via, dev).await?;
                h.route().del(m).execute().await.map_err(io_err)?;
            }
            // The same message that added the entry names it for deletion (ifindex, MAC,
            // and for an FDB entry its VTEP; for a neighbour its address).
            Object::Fdb { dev, mac, dst, .. } => {
                let i = self.index(dev).await?;
                let mut add = h
                    .neighbours()
                    .add_bridge(i, mac)
                    .flags(NeighbourFlags::Own)
                    .destination(IpAddr::V4(*dst));
                let msg = add.message_mut().clone();
                h.neighbours().del(msg).execute().await.map_err(io_err)?;
            }
            Object::Neigh { dev, ip, mac, .. } => {
                let i = self.index(dev).await?;
                let mut add = h.neighbours().add(i, *ip).link_layer_address(mac);
                let msg = add.message_mut().clone();
                h.neighbours().del(msg).execute().await.map_err(io_err)?;
            }
            Object::Firewall { ns, table } => {
                let fd = self.ns_fd(ns)?;
                let name = table.name.clone();
                tokio::task::spawn_blocking(move || nft::delete_in(&fd, &name))
                    .await
                    .map_err(io::Error::other)??;
            }
            Object::XfrmState { ns, sa } => {
                let fd = self.ns_fd(ns)?;
                let sa = sa.clone();
                tokio::task::spawn_blocking(move || xfrm::delete_sa_in(&fd, &sa))
                    .await
                    .map_err(io::Error::other)??;
            }
            Object::XfrmPolicy { ns, policy } => {
                let fd = self.ns_fd(ns)?;
                let p = policy.clone();
                tokio::task::spawn_blocking(move || xfrm::delete_policy_in(&fd, &p))
                    .await
                    .map_err(io::Error::other)??;
            }
            Object::Sysctl { ns, key, .. } => {
                let fd = self.ns_fd(ns)?;
                let key = key.clone();
                tokio::task::spawn_blocking(move || {
                    let value = sysctl::fresh_value(&key)?;
                    sysctl::write(&fd, &key, &value)
                })
                .await
                .map_err(io::Error::other)??;
            }
        }
        Ok(())
    }

    /// The links named `names` in this namespace (one RTM_GETLINK each; a name that is not
    /// there is left out).
    pub async fn links_named(&self, names: &[&str]) -> io::Result<Vec<LinkMessage>> {
        let mut out = Vec::new();
        for n in names {
            out.extend(self.link_named(n).await?);
        }
        Ok(out)
    }

    /// All links of this namespace.
    pub async fn links(&self) -> io::Result<Vec<LinkMessage>> {
        self.handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(io_err)
    }
}

/// Whether [`NsLink::sync_linkwatch`] runs the device's pending linkwatch work (Linux 6.8 and
/// later: "net: core: synchronize link-watch when carrier is queried"), so that its answer is
/// the device's settled state. Older kernels only answer; their devices are read back.
pub fn linkwatch_syncs() -> bool {
    static SYNCS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SYNCS.get_or_init(|| {
        nix::sys::utsname::uname()
            .ok()
            .and_then(|u| {
                let r = u.release().to_string_lossy().into_owned();
                let mut it = r.split(|c: char| !c.is_ascii_digit());
                let major: u32 = it.next()?.parse().ok()?;
                let minor: u32 = it.next()?.parse().ok()?;
                Some((major, minor) >= (6, 8))
            })
            .unwrap_or(false)
    })
}

/// Is this link administratively up?
pub fn is_up(m: &LinkMessage) -> bool {
    m.header.flags.contains(LinkFlags::Up)
}

fn oper_state(m: &LinkMessage) -> Option<netlink_packet_route::link::State> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::OperState(s) => Some(*s),
        _ => None,
    })
}

/// Operational (RFC 2863 operstate UP, or UNKNOWN for devices that do not report carrier).
pub fn is_operational(m: &LinkMessage) -> bool {
    use netlink_packet_route::link::State;
    matches!(oper_state(m), Some(State::Up | State::Unknown))
}

/// RFC 2863 operstate UP: carrier, and the kernel's linkwatch has processed it.
pub fn is_oper_up(m: &LinkMessage) -> bool {
    matches!(oper_state(m), Some(netlink_packet_route::link::State::Up))
}

pub fn link_name(m: &LinkMessage) -> Option<&str> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.as_str()),
        _ => None,
    })
}

/// "creating vxlan0 in lab.nas4.1-c2ad163525" and friends.
pub fn describe(o: &Object) -> String {
    let ns = o.ns();
    match o {
        Object::Bridge { name, .. } => format!("creating bridge {name} in {ns}"),
        Object::Veth {
            name,
            peer,
            peer_ns,
            ..
        } => format!("creating veth {name} in {ns} (peer {peer} in {peer_ns})"),
        Object::Vxlan {
            name,
            target_ns,
            vni,
            ..
        } => format!("creating {name} (vni {vni}) from {ns} into {target_ns}"),
        Object::Vlan { name, id, .. } => format!("creating VLAN {id} sub-interface {name} in {ns}"),
        Object::Macvlan {
            parent,
            name,
            target_ns,
            ..
        } => format!("creating macvlan {name} of {parent} from {ns} into {target_ns}"),
        Object::Ipvlan {
            parent,
            name,
            target_ns,
            mode,
            ..
        } => format!(
            "creating ipvlan ({}) {name} of {parent} from {ns} into {target_ns}",
            mode.as_str()
        ),
        Object::Dummy { name, .. } => format!("creating dummy {name} in {ns}"),
        Object::Promisc { dev, .. } => format!("setting {dev} promiscuous in {ns}"),
        Object::Sysctl { key, value, .. } => format!("setting {key}={value} in {ns}"),
        Object::Firewall { table, .. } => format!(
            "writing nftables table inet {} ({} rules) in {ns}",
            table.name,
            table.chains.iter().map(|c| c.rules.len()).sum::<usize>()
        ),
        Object::XfrmState { sa, .. } => format!("adding IPsec SA {} in {ns}", sa.id()),
        Object::XfrmPolicy { policy, .. } => {
            format!("adding IPsec policy {} in {ns}", policy.selector())
        }
        Object::Master { dev, master, .. } => format!("attaching {dev} to {master} in {ns}"),
        Object::Isolated { dev, .. } => format!("isolating bridge port {dev} in {ns}"),
        Object::Up { dev, .. } => format!("setting {dev} up in {ns}"),
        Object::Address { dev, address, .. } => format!("adding {address} to {dev} in {ns}"),
        Object::Route { dst, via, dev, .. } => {
            let what = dst.map_or("default route".to_string(), |d| format!("route {d}"));
            match via {
                Some(via) => format!("adding {what} via {via} in {ns}"),
                None => format!("adding {what} dev {dev} in {ns}"),
            }
        }
        Object::Address6 { dev, address, .. } => format!("adding {address} to {dev} in {ns}"),
        Object::Route6 { dst, via, dev, .. } => {
            let what = dst.map_or("IPv6 default route".to_string(), |d| format!("route {d}"));
            match via {
                Some(via) => format!("adding {what} via {via} in {ns}"),
                None => format!("adding {what} dev {dev} in {ns}"),
            }
        }
        Object::Fdb { mac, dst, .. } => format!(
            "adding fdb entry {} -> {dst} in {ns}",
            crate::spec::format_mac(mac)
        ),
        Object::Neigh { ip, .. } => format!("adding neighbour {ip} in {ns}"),
    }
}

/// One UDP source port for every datagram of a VXLAN device: an encrypted overlay's, which its
/// IPsec policy selects. IFLA_VXLAN_PORT_RANGE's high end is exclusive (udp_flow_src_port picks
/// low + hash * (high - low) / 2^32), and low = high means the namespace's default range, so
/// one port is the range [port, port + 1).
/// Give the namespace open as `fd` an id in this connection's namespace (RTM_NEWNSID with
/// NETNSA_NSID -1: the kernel picks it; `ip netns set NAME auto`). One it has already is kept.
async fn assign_nsid(h: &Handle, fd: i32) -> io::Result<()> {
    use futures::StreamExt;
    use netlink_packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_REQUEST};
    use netlink_packet_route::nsid::{NsidAttribute, NsidMessage};
    use netlink_packet_route::RouteNetlinkMessage;
    let mut q = NsidMessage::default();
    q.attributes.push(NsidAttribute::Fd(fd as u32));
    q.attributes.push(NsidAttribute::Id(-1));
    let mut req = NetlinkMessage::from(RouteNetlinkMessage::NewNsId(q));
    req.header.flags = NLM_F_REQUEST | NLM_F_ACK;
    let mut answers = h.clone().request(req).map_err(io_err)?;
    while let Some(m) = answers.next().await {
        if let NetlinkPayload::Error(e) = m.payload {
            if let Some(code) = e.code {
                let errno = -code.get();
                if errno != libc::EEXIST {
                    return Err(io::Error::from_raw_os_error(errno));
                }
            }
        }
    }
    Ok(())
}

fn set_src_port(msg: &mut LinkMessage, port: u16) {
    use netlink_packet_route::link::{InfoVxlan, LinkInfo};
    for a in &mut msg.attributes {
        let LinkAttribute::LinkInfo(infos) = a else {
            continue;
        };
        for i in infos {
            if let LinkInfo::Data(InfoData::Vxlan(v)) = i {
                v.push(InfoVxlan::PortRange((port, port + 1)));
            }
        }
    }
}

/// A device name no lab uses and no other call of this process picks: "nltmp" and 10 hex
/// digits of the process id and a counter (15 characters, IFNAMSIZ's limit).
fn temporary_name() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!(
        "nltmp{:05x}{:05x}",
        std::process::id() & 0xfffff,
        n & 0xfffff
    )
}

fn macvlan_mode(m: MacvlanMode) -> MacVlanMode {
    match m {
        MacvlanMode::Bridge => MacVlanMode::Bridge,
        MacvlanMode::Vepa => MacVlanMode::Vepa,
        MacvlanMode::Private => MacVlanMode::Private,
        MacvlanMode::Passthru => MacVlanMode::Passthrough,
    }
}

fn ipvlan_mode(m: IpvlanMode) -> IpVlanMode {
    match m {
        IpvlanMode::L2 => IpVlanMode::L2,
        IpvlanMode::L3 => IpVlanMode::L3,
    }
}

/// A link kind the kernel does not know (its module absent) is EOPNOTSUPP: say which option.
fn unsupported(e: rtnetlink::Error, what: &str) -> io::Error {
    match io_err(e) {
        e if e.raw_os_error() == Some(libc::EOPNOTSUPP) => io::Error::new(e.kind(), what),
        e => e,
    }
}

/// A link kind whose support `up` checks before it creates anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// 802.1Q sub-interfaces (CONFIG_VLAN_8021Q).
    Vlan,
    /// ipvlan devices (CONFIG_IPVLAN).
    Ipvlan,
    /// dummy devices (CONFIG_DUMMY).
    Dummy,
}

impl Feature {
    fn what(self) -> &'static str {
        match self {
            Feature::Vlan => "802.1Q",
            Feature::Ipvlan => "ipvlan",
            Feature::Dummy => "dummy",
        }
    }
    /// What netlab says when the kernel lacks it.
    pub fn missing(self) -> &'static str {
        match self {
            Feature::Vlan => NO_VLAN,
            Feature::Ipvlan => NO_IPVLAN,
            Feature::Dummy => NO_DUMMY,
        }
    }
}

/// Can this kernel create devices of `feature`'s kind? Tried for real, in a temporary
/// namespace that dies with the probe (a veth pair, and a VLAN or an ipvlan on it, or a dummy;
/// nothing mounted, nothing named): the kernel loads the module on demand when it can, so this
/// is the only honest answer. Must run within tokio.
pub async fn supported(feature: Feature) -> io::Result<bool> {
    let what = feature.what();
    let rt = tokio::runtime::Handle::current();
    let conn =
        tokio::task::spawn_blocking(move || netns::run_in_temporary(move || socket_here(&rt)))
            .await
            .map_err(io::Error::other)??;
    let mut link = NsLink::start("(kernel feature probe)", conn);
    let h = link.handle.clone();
    let msg = if feature == Feature::Dummy {
        LinkDummy::new("probe0").build()
    } else {
        h.link()
            .add(LinkVeth::new("probe0", "probe1").build())
            .execute()
            .await
            .map_err(|e| {
                nl_err(
                    e,
                    &format!("probing for {what} support: creating a veth pair"),
                )
            })?;
        let i = link.index("probe0").await?;
        match feature {
            Feature::Vlan => LinkVlan::new("probe0.1", i, 1).build(),
            _ => LinkIpVlan::new("probe2", i, IpVlanMode::L2).build(),
        }
    };
    let r = h.link().add(msg).execute().await;
    match r.map_err(io_err) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(false),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("probing for {what} support: {e}"),
        )),
    }
    // `link` drops here: its socket was the last hold on the namespace, which goes with
    // everything in it.
}

fn io_err(e: rtnetlink::Error) -> io::Error {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.to_io(),
        other => io::Error::other(other.to_string()),
    }
}

fn nl_err(e: rtnetlink::Error, what: &str) -> io::Error {
    let e = io_err(e);
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

//! Network drivers, one module each (overlay, bridge, macvlan, ipvlan), from the lab file to the
//! kernel objects and Docker's view: a driver checks its own options (with spans), applies its
//! placement rules (at `up` and at run time), allocates what only it has (an overlay's VNI),
//! plans its objects and fills its part of `docker network inspect`. What every driver shares
//! stays outside: IPAM and naming in `spec`, the underlay and sandboxes in `plan`.
//!
//! A driver is pure: it turns a network into plan objects and never touches the kernel. The
//! orchestrators (`spec`'s validator, `plan::plan`, `spec::change`, `diag::inspect`) ask the
//! driver of each network through [`NetworkDriver`]; adding a driver is a module here, its
//! settings as a variant of [`crate::spec::Driver`], and a line in [`ALL`] and [`of`].

pub(crate) mod bridge;
pub(crate) mod ipvlan;
pub(crate) mod macvlan;
pub(crate) mod overlay;
pub(crate) mod parent;

use std::ops::Range;

use serde_json::{Map, Value};

use crate::observe::{Link, Snapshot};
use crate::plan::Plan;
use crate::spec::change::Refused;
use crate::spec::{Container, Driver, Host, Lab, Name, NetDraft, RawNetwork, Reporter, Validator};
use crate::trace::l2::{Fail, Found, Walk, Want};
use crate::trace::Disposition;

/// Which of Docker's default address pools a network without a `subnet` takes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AddressPool {
    /// The global pool, 10.0.x.0/24 (overlays).
    Global,
    /// The local pool, 172.18+.0.0/16 then 192.168.x.0/20 (bridges and the rest).
    Local,
}

/// How a container's default route goes out of a network that gives it one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DefaultRoute {
    /// Through the network's gateway (`default via GW dev ethN`).
    Gateway,
    /// Out of the device, no gateway (`default dev ethN`: ipvlan L3).
    Device,
    /// None: the network is internal.
    None,
}

/// A per-host value's host, where that host's key is written and where its value is.
pub(crate) type HostSpan = (String, Range<usize>, Range<usize>);

/// A network's driver settings as checked: stand-ins where a value was refused (the lab is
/// then never returned) or is still to be allocated.
pub(crate) struct Options {
    pub settings: Driver,
    /// Where each of the driver's options is written, for errors found later.
    pub spans: Vec<(&'static str, Range<usize>)>,
    /// Where a per-host value is written, by host: the host's key and its value (`node-2` and
    /// `"ens32.10"` of a per-host parent).
    pub host_spans: Vec<HostSpan>,
    /// Every option was accepted. A refused one still makes a network of this driver (so that
    /// nothing treats it as another), but the rules that need its values skip it.
    pub ok: bool,
}

impl Options {
    pub fn span(&self, key: &str) -> Option<&Range<usize>> {
        self.spans.iter().find(|(k, _)| *k == key).map(|(_, s)| s)
    }
}

/// What a network driver does, from validation to diagnostics.
pub(crate) trait NetworkDriver: Sync {
    /// The value of `driver = "..."`.
    fn name(&self) -> &'static str;
    /// The network keys only this driver reads; on another driver's network they are refused.
    fn keys(&self) -> &'static [&'static str] {
        &[]
    }
    /// The values `mode` takes on this driver's networks (the default first), if it reads it.
    fn mode_values(&self) -> Vec<&'static str> {
        Vec::new()
    }
    /// Checks this driver's options of network `name` (its [`keys`](Self::keys)), reporting
    /// every problem, and gives its settings.
    fn options(&self, r: &mut Reporter, name: &Name, raw: &RawNetwork) -> Options;
    /// Lab-wide allocation of what only this driver has, once every subnet is settled; called
    /// once with every network of the lab.
    fn allocate(&self, _r: &mut Reporter, _drafts: &mut [NetDraft]) {}
    /// Completes settings that depend on the network's id (a bridge's name).
    fn finish(&self, _settings: &mut Driver, _id: &str) {}
    /// The default pool a network without `subnet` takes from.
    fn pool(&self) -> AddressPool {
        AddressPool::Local
    }
    /// May share its subnet with the underlay's (a macvlan on a plain NIC is on that segment).
    fn may_share_underlay(&self, _d: &NetDraft) -> bool {
        false
    }
    /// The placement rules of a lab's networks of this driver, once containers are placed:
    /// what each host needs for them (a macvlan parent's VLAN sub-interface) and what Docker
    /// refuses there. Called once with every network of the lab.
    fn place(
        &self,
        _v: &mut Validator<'_, '_>,
        _drafts: &[NetDraft],
        _hosts: &mut [Host],
        _containers: &[Container],
    ) {
    }
    /// The same rules at run time, for container `ci` joining network `ni` (`lab` is the lab
    /// being changed: what the network needs on the container's host is added to it).
    fn connect(&self, _lab: &mut Lab, _ni: usize, _ci: usize) -> Result<(), Refused> {
        Ok(())
    }
    /// Containers on different hosts reach each other on this network (one address pool for
    /// the whole lab).
    fn spans_hosts(&self) -> bool;
    /// The network shares its segment with the hosts: their addresses in its subnet are taken.
    fn on_hosts_segment(&self) -> bool {
        false
    }
    /// An endpoint here can give its container the default route (Docker: the network gives
    /// external connectivity). A container whose networks all lack it gets docker_gwbridge.
    fn gives_default_route(&self) -> bool {
        true
    }
    /// How a network with these settings routes its containers out, when it is the one that
    /// gives them their default route (Docker: the first with a gateway).
    fn default_route(&self, _settings: &Driver) -> DefaultRoute {
        DefaultRoute::Gateway
    }
    /// The network is internal (`docker network inspect`'s "Internal"): no way out of it.
    fn internal(&self, _settings: &Driver) -> bool {
        false
    }
    /// How many containers of one host the network takes (a Linux bridge's port limit).
    fn container_limit(&self) -> Option<usize>;
    /// The network has a namespace of its own on each host it is on (an overlay's sandbox).
    fn sandbox_per_host(&self) -> bool {
        false
    }
    /// The kernel objects of network `ni` on every host where it has containers.
    fn plan(&self, lab: &Lab, ni: usize, p: &mut Plan);
    /// The kernel link kinds (`ip -d link`'s) of the devices trace follows by this driver's
    /// rules, wherever they are (a Docker host's namespaces too, not only a lab's).
    fn link_kinds(&self) -> &'static [&'static str] {
        &[]
    }
    /// A frame leaves device `l` of `ns`, one of [`link_kinds`](Self::link_kinds).
    fn transmit(
        &self,
        _w: &mut Walk<'_>,
        ns: &str,
        l: &Link,
        _want: &Want,
        _vlan: Option<u16>,
    ) -> Result<Found, Fail> {
        Err(self.not_mine(ns, &l.name))
    }
    /// A frame arrives on `port` of `ns`, a port of `master` (one of the link kinds).
    fn switch(
        &self,
        _w: &mut Walk<'_>,
        ns: &str,
        master: &Link,
        _port: &str,
        _want: &Want,
        _vlan: Option<u16>,
    ) -> Result<Found, Fail> {
        Err(self.not_mine(ns, &master.name))
    }
    /// A frame arrives on `ns:lower`: the driver's upper devices of it (other than `except`)
    /// that take it (a macvlan child, for its MAC).
    fn uppers_take(
        &self,
        _w: &mut Walk<'_>,
        _ns: &str,
        _lower: &str,
        _except: Option<(&str, &str)>,
        _want: &Want,
    ) -> Result<Found, Fail> {
        Err(Fail::from((
            Disposition::NeighborUnreachable,
            String::new(),
        )))
    }
    #[doc(hidden)]
    fn not_mine(&self, ns: &str, dev: &str) -> Fail {
        Fail::from((
            Disposition::NeighborUnreachable,
            format!(
                "{ns}: {dev} is not a device the {} driver follows",
                self.name()
            ),
        ))
    }
    /// `docker network inspect`'s "Scope".
    fn docker_scope(&self) -> &'static str {
        "local"
    }
    /// `docker network inspect`'s "Options" of network `ni` (the `-o` options it was created
    /// with, as Docker shows them), and what netlab adds under its own key (`--netlab`).
    /// `hosts`: the hosts of the view.
    fn docker_options(
        &self,
        snap: &Snapshot,
        lab: &Lab,
        ni: usize,
        hosts: &[usize],
    ) -> (Map<String, Value>, Map<String, Value>);
}

/// Every driver, in the order errors and help list them.
pub(crate) const ALL: [&dyn NetworkDriver; 4] = [
    &overlay::Overlay,
    &bridge::Bridge,
    &macvlan::Macvlan,
    &ipvlan::Ipvlan,
];

/// The driver a lab file names.
pub(crate) fn named(name: &str) -> Option<&'static dyn NetworkDriver> {
    ALL.into_iter().find(|d| d.name() == name)
}

/// The driver of a checked network.
pub(crate) fn of(settings: &Driver) -> &'static dyn NetworkDriver {
    match settings {
        Driver::Overlay { .. } => &overlay::Overlay,
        Driver::Bridge { .. } => &bridge::Bridge,
        Driver::Macvlan { .. } => &macvlan::Macvlan,
        Driver::Ipvlan { .. } => &ipvlan::Ipvlan,
    }
}

/// The driver whose rules trace follows for devices of link kind `kind`.
pub(crate) fn of_link_kind(kind: &str) -> Option<&'static dyn NetworkDriver> {
    ALL.into_iter().find(|d| d.link_kinds().contains(&kind))
}

/// The driver names, for the schema, the man page and help.
pub(crate) fn names() -> Vec<&'static str> {
    ALL.iter().map(|d| d.name()).collect()
}

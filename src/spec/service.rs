//! Swarm services (`[services.NAME]`), seed 004's `docker service create --name uber-svc
//! --network uber-svc -p 80:80 --replicas 2`. Each task becomes a container of the lab, named
//! as Docker names it (`uber-svc.1.<task id>`), on the service's hosts in turn: on ingress
//! first when the service publishes ports, then on its networks, then on docker_gwbridge.
//! Their virtual IPs and the load balancers' sandboxes are placed with the containers
//! (`Validator::containers`); the rules that balance over the tasks are the plan's
//! (`plan::service`).

use std::collections::BTreeSet;

use indexmap::IndexMap;

use super::*;

/// A service as checked, before its addresses.
pub(crate) struct Draft {
    pub name: String,
    /// Its tasks' container names, by slot.
    pub tasks: Vec<String>,
    /// The networks its tasks join, by name: ingress first when it publishes ports.
    pub networks: Vec<String>,
    pub ports: Vec<ServicePort>,
}

/// Swarm's ids: 25 lowercase letters and digits.
pub(crate) const SWARM_ID_LEN: usize = 25;

/// A swarm id derived from the lab and `what`, as stable as [`network_id`].
pub(crate) fn swarm_id(lab: &str, what: &str) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let digest = Sha256::digest(format!("netlab/{lab}/{what}").as_bytes());
    digest
        .iter()
        .take(SWARM_ID_LEN)
        .map(|b| DIGITS[(*b % 36) as usize] as char)
        .collect()
}

fn is_swarm_id(s: &str) -> bool {
    s.len() == SWARM_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

impl Validator<'_, '_> {
    /// Checks every service and adds its tasks to `raw.containers` (after the lab file's own,
    /// as `docker service create` runs after `docker run`), with the spans of the service's
    /// keys, so that what the containers' checks find points into the service. A reference
    /// this refuses is left out of the tasks, so that it is reported once.
    pub(crate) fn services(&mut self, raw: &mut RawLab, lab: &str) -> Vec<Draft> {
        let ingress = raw
            .networks
            .iter()
            .find(|(_, n)| n.get_ref().ingress.as_ref().is_some_and(|i| *i.get_ref()))
            .map(|(k, _)| k.get_ref().clone());
        let mut drafts = Vec::new();
        let mut tasks: Vec<(Name, RawContainer)> = Vec::new();
        let mut published: Vec<(u16, crate::kernel::nft::L4Proto, String, Range<usize>)> =
            Vec::new();
        for (sname, s) in &raw.services {
            let at = span(s);
            let s = s.get_ref();
            if let Some(p) = name_problem(sname.get_ref(), NODE_NAME_MAX) {
                self.r
                    .error(span(sname), format!("invalid service name: {p}"));
            }
            if ingress.is_none() {
                self.r.error_help(
                    span(sname),
                    format!(
                        "service {} needs a swarm, and this lab has none",
                        sname.get_ref()
                    ),
                    "add an overlay network with ingress = true (what docker swarm init makes)",
                );
                continue;
            }
            let ingress = ingress.clone().unwrap_or_default();
            let mut networks: Vec<Name> = Vec::new();
            for n in s.networks.iter().flat_map(|l| l.get_ref()) {
                let name = n.get_ref().as_str();
                if networks.iter().any(|x| x.get_ref() == name) {
                    self.r.error(
                        span(n),
                        format!("service {} joins network {name} twice", sname.get_ref()),
                    );
                    continue;
                }
                if raw.unread_networks.contains(name) {
                    continue;
                }
                let Some(net) = raw.networks.get(name) else {
                    let help = close_match(name, raw.networks.keys().map(|k| k.get_ref().as_str()))
                        .unwrap_or_else(|| "define it under [networks]".into());
                    self.r
                        .error_help(span(n), format!("network {name:?} is not defined"), help);
                    continue;
                };
                if name == ingress {
                    self.r.error_help(
                        span(n),
                        format!(
                            "service {} names ingress among its networks",
                            sname.get_ref()
                        ),
                        "leave it out: a service's tasks join ingress when it publishes ports",
                    );
                    continue;
                }
                if net.get_ref().driver.get_ref() != "overlay" {
                    self.r.error_help(
                        span(n),
                        format!(
                            "service {} cannot join network {name}: its driver is {}, and a service's networks are swarm's (overlay)",
                            sname.get_ref(),
                            net.get_ref().driver.get_ref()
                        ),
                        "use an overlay network, as docker service create --network does",
                    );
                    continue;
                }
                networks.push(n.clone());
            }
            let replicas = match &s.replicas {
                Some(r) if !(1..=1000).contains(r.get_ref()) => {
                    self.r.error(
                        span(r),
                        format!("replicas must be 1 to 1000, not {}", r.get_ref()),
                    );
                    0
                }
                Some(r) => *r.get_ref() as usize,
                None => 1,
            };
            let mut on: Vec<Name> = Vec::new();
            match &s.hosts {
                Some(list) if list.get_ref().is_empty() => self.r.error_help(
                    span(list),
                    format!(
                        "service {} has an empty hosts list, which runs its tasks nowhere",
                        sname.get_ref()
                    ),
                    "name the hosts its tasks run on, or remove hosts (then every host)",
                ),
                Some(list) => {
                    for h in list.get_ref() {
                        if on.iter().any(|x| x.get_ref() == h.get_ref()) {
                            self.r.error(
                                span(h),
                                format!(
                                    "host {} is listed twice in service {}'s hosts",
                                    h.get_ref(),
                                    sname.get_ref()
                                ),
                            );
                        } else if raw.unread_hosts.contains(h.get_ref()) {
                        } else if !raw.hosts.contains_key(h.get_ref().as_str()) {
                            let help = close_match(
                                h.get_ref(),
                                raw.hosts.keys().map(|k| k.get_ref().as_str()),
                            )
                            .unwrap_or_else(|| "define it under [hosts]".into());
                            self.r.error_help(
                                span(h),
                                format!(
                                    "service {} runs on host {:?}, which is not defined",
                                    sname.get_ref(),
                                    h.get_ref()
                                ),
                                help,
                            );
                        } else {
                            on.push(h.clone());
                        }
                    }
                }
                None => on.extend(
                    raw.hosts
                        .keys()
                        .map(|k| Spanned::new(span(sname), k.get_ref().clone())),
                ),
            }
            let mut ports = Vec::new();
            for p in &s.publish {
                let Some(port) = self.service_port(p) else {
                    continue;
                };
                if let Some((_, _, other, was)) = published
                    .iter()
                    .find(|(n, proto, _, _)| *n == port.published && *proto == port.proto)
                {
                    let (l, c) = self.r.line_col(was.start);
                    self.r.error_help(
                        span(p),
                        format!(
                            "port {}/{} is already published by service {other} (line {l}, column {c}): the routing mesh takes it on every host",
                            port.published,
                            port.proto.as_str()
                        ),
                        "publish another port, as swarm refuses a port in use",
                    );
                    continue;
                }
                published.push((port.published, port.proto, sname.get_ref().clone(), span(p)));
                ports.push(port);
            }
            for (i, t) in s.tasks.iter().enumerate() {
                if !is_swarm_id(t.get_ref()) {
                    self.r.error_help(
                        span(t),
                        format!(
                            "invalid task id {:?}: swarm's are 25 lowercase letters and digits",
                            t.get_ref()
                        ),
                        "copy it as docker service ps --no-trunc prints it, or leave it out",
                    );
                } else if i >= replicas {
                    self.r.error_help(
                        span(t),
                        format!(
                            "service {} has replicas = {replicas}, and this is task id number {}",
                            sname.get_ref(),
                            i + 1
                        ),
                        "give one id per task at most, or raise replicas",
                    );
                } else if s.tasks[..i].iter().any(|o| o.get_ref() == t.get_ref()) {
                    self.r
                        .error(span(t), format!("task id {} is given twice", t.get_ref()));
                }
            }
            let joined: Vec<Name> = (!ports.is_empty())
                .then(|| Spanned::new(span(sname), ingress.clone()))
                .into_iter()
                .chain(networks.iter().cloned())
                .collect();
            if s.networks.as_ref().is_none_or(|l| l.get_ref().is_empty()) && s.publish.is_empty() {
                self.r.error_help(
                    span(sname),
                    format!("service {} joins no network and publishes no port", sname.get_ref()),
                    "name its overlay networks (networks = [...]) or publish a port (publish = [\"80:80\"])",
                );
            }
            let mut names = Vec::new();
            if !on.is_empty() && !joined.is_empty() {
                for slot in 1..=replicas {
                    let id = s
                        .tasks
                        .get(slot - 1)
                        .map(|t| t.get_ref().clone())
                        .filter(|t| is_swarm_id(t))
                        .unwrap_or_else(|| {
                            swarm_id(lab, &format!("task/{}/{slot}", sname.get_ref()))
                        });
                    let name = format!("{}.{slot}.{id}", sname.get_ref());
                    let host = &on[(slot - 1) % on.len()];
                    tasks.push((
                        Spanned::new(span(sname), name.clone()),
                        RawContainer {
                            host: host.clone(),
                            networks: Spanned::new(at.clone(), joined.clone()),
                            ip: IndexMap::new(),
                            ip6: IndexMap::new(),
                            aliases: IndexMap::new(),
                            ports: Vec::new(),
                        },
                    ));
                    names.push(name);
                }
            }
            drafts.push(Draft {
                name: sname.get_ref().clone(),
                tasks: names,
                networks: joined.iter().map(|n| n.get_ref().clone()).collect(),
                ports,
            });
        }
        for (name, c) in tasks {
            let at = span(&name);
            raw.containers.insert(name, Spanned::new(at, raw::Table(c)));
        }
        drafts
    }

    /// What swarm makes once the tasks are placed: each published service's ingress VIP on
    /// every ingress_sbox's eth0 (seed 004's `inet 10.255.0.4/32 ... eth0`), and on each host
    /// with a task on an overlay, that overlay's load balancer sandbox `lb_<id>` (one per
    /// network and host, holding the VIPs of the network's services), with an address after
    /// the tasks'; its veth comes before the tasks' in the overlay's sandbox (seed 004: veth0
    /// on uber-svc's br0 is the load balancer's, veth1 the task's).
    pub(crate) fn load_balancers(
        &mut self,
        nets: &[Network],
        hosts: &[Host],
        services: &[Draft],
        vips: Vec<Vec<(usize, Ipv4Addr)>>,
        out: &mut Vec<Container>,
        taken: &mut HashMap<(usize, Option<usize>), HashMap<Ipv4Addr, String>>,
    ) -> Vec<Service> {
        let vip32 = |ip: Ipv4Addr| Ipv4Network::new(ip, 32).unwrap();
        let mut lbs: BTreeMap<(usize, usize), Vec<Ipv4Network>> = BTreeMap::new();
        for (si, v) in vips.iter().enumerate() {
            for &(ni, ip) in v {
                if nets[ni].ingress {
                    for c in out.iter_mut().filter(|c| c.ingress_sbox) {
                        if let Some(e) = c.endpoints.iter_mut().find(|e| e.network == ni) {
                            e.secondary.push(vip32(ip));
                        }
                    }
                    continue;
                }
                let on: BTreeSet<usize> = out
                    .iter()
                    .filter(|c| c.task.is_some_and(|t| t.service == si))
                    .filter(|c| c.endpoints.iter().any(|e| e.network == ni))
                    .map(|c| c.host)
                    .collect();
                for hi in on {
                    lbs.entry((ni, hi)).or_default().push(vip32(ip));
                }
            }
        }
        let mut made = Vec::new();
        for ((ni, hi), secondary) in lbs {
            let net = &nets[ni];
            let name = format!("{}.{}", hosts[hi].name, net.lb_sandbox());
            let pool = taken.entry((ni, None)).or_default();
            let Some(ip) = first_free(net, pool) else {
                self.r.error_help(
                    0..0,
                    format!(
                        "network {} ({}) has no free address left for its load balancer on host {}",
                        net.name, net.subnet, hosts[hi].name
                    ),
                    "give the network a larger subnet",
                );
                continue;
            };
            pool.insert(ip, name.clone());
            made.push(Container {
                name,
                host: hi,
                endpoints: vec![Endpoint {
                    network: ni,
                    ifname: "eth0".into(),
                    address: Ipv4Network::new(ip, net.subnet.prefix()).unwrap(),
                    address6: None,
                    mac: docker_mac(ip),
                    sandbox_if: None,
                    aliases: Vec::new(),
                    secondary,
                }],
                default_gateway: None,
                mode: NetworkMode::Sandbox,
                ports: Vec::new(),
                ingress_sbox: false,
                lb: Some(ni),
                task: None,
            });
        }
        let at = out
            .iter()
            .position(|c| c.task.is_some())
            .unwrap_or(out.len());
        out.splice(at..at, made);
        services
            .iter()
            .zip(vips)
            .map(|(s, vips)| Service {
                name: s.name.clone(),
                vips,
                ports: s.ports.clone(),
            })
            .collect()
    }

    /// `PUBLISHED:TARGET[/tcp|udp]`, as `docker service create -p` takes it.
    fn service_port(&mut self, p: &Spanned<String>) -> Option<ServicePort> {
        let text = p.get_ref();
        let (spec, proto) = split_proto(text);
        let port = |s: &str| s.parse::<u16>().ok().filter(|p| *p > 0);
        let parsed = match (spec.split_once(':'), proto) {
            (Some((a, b)), Some(proto)) => port(a).zip(port(b)).map(|(a, b)| ServicePort {
                published: a,
                target: b,
                proto,
            }),
            _ => None,
        };
        if parsed.is_none() {
            self.r.error_help(
                span(p),
                format!("port {text:?} is not PUBLISHED:TARGET[/tcp|udp]"),
                "write it as docker service create -p takes it, like \"80:80\" or \"53:53/udp\" (ports 1 to 65535)",
            );
        }
        parsed
    }
}

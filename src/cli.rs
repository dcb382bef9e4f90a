//! Command-line interface definition (clap). Shell completions and man pages in
//! `completions/` and `man/` are generated from this; `tests/generated.rs` fails if they are stale.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "netlab",
    version,
    about = "Build container-network labs (Docker overlay, bridge) in Linux network namespaces, check them with real pings",
    long_about = "netlab builds the topologies of container networking tutorials (Docker overlay networks over VXLAN, \
user-defined bridges, docker_gwbridge) directly in Linux network namespaces, from a TOML lab file, through netlink. \
Everything a lab creates lives in namespaces it owns (visible to `ip netns`); the root namespace is never touched.\n\n\
Exit status: 0 success, 1 a check failed or the kernel refused, 2 bad input (lab file or arguments).",
    after_help = "Examples:\n  netlab up labs/overlay.toml\n  netlab status\n  netlab check overlay\n  netlab down overlay"
)]
pub struct Cli {
    /// When to use colour: auto follows the terminal and NO_COLOR
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// What `netlab trace` sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TraceProto {
    /// An ICMP echo request, as ping
    Icmp,
    /// A UDP datagram to --port
    Udp,
    /// A TCP SYN to --port
    Tcp,
}

/// What `netlab graph` draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// Graphviz DOT (`dot -Tpng` lays it out)
    Dot,
    /// A Mermaid flowchart (GitHub and GitLab draw it in Markdown)
    Mermaid,
    /// A standalone SVG picture, laid out by netlab (no Graphviz needed)
    Svg,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build a lab from its file, then run its checks
    Up {
        /// The lab file (TOML)
        file: PathBuf,
        /// Run the lab under this name instead of [lab] name (to run two copies at once)
        #[arg(long)]
        name: Option<String>,
        /// Print the plan as iproute2 commands and change nothing
        #[arg(long)]
        dry_run: bool,
        /// Do not run the lab's checks after building it
        #[arg(long)]
        no_check: bool,
        /// No progress bar
        #[arg(long, short)]
        quiet: bool,
        /// Once the lab is up, run this scenario (repeatable)
        #[arg(long = "scenario", value_name = "NAME")]
        scenarios: Vec<String>,
        /// Print a JSON summary instead: lab, namespaces, objects, seconds, the checks' results (and the scenarios')
        #[arg(long, conflicts_with = "dry_run")]
        json: bool,
    },
    /// Remove everything a lab created, from its recorded state (the lab file is not needed)
    Down {
        /// Lab name (or the lab file, to take its [lab] name)
        #[arg(add = crate::completion::lab_completer())]
        lab: String,
    },
    /// Show labs that are up and what each holds
    Status {
        /// Only this lab
        #[arg(add = crate::completion::lab_completer())]
        lab: Option<String>,
        /// Machine-readable output
        #[arg(long)]
        json: bool,
    },
    /// Change a running lab to match its edited lab file: only what differs is changed
    Apply {
        /// The lab file (TOML)
        file: PathBuf,
        /// The lab that is up (default: the file's [lab] name)
        #[arg(long, add = crate::completion::lab_completer())]
        name: Option<String>,
        /// Print what would change, and the iproute2 commands, and change nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Run a lab's scenarios (all, in file order, or those named); exit 1 if a step does not do what it expects
    Run {
        /// Lab name (or the lab file it was started from)
        #[arg(add = crate::completion::lab_completer())]
        lab: String,
        /// Scenarios to run (default: all)
        #[arg(add = crate::completion::scenario_completer())]
        scenarios: Vec<String>,
        /// Machine-readable output
        #[arg(long)]
        json: bool,
        /// Also write the results as JUnit XML to FILE (one testcase per step)
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
    },
    /// Connect a running container to a network, as `docker network connect` (next ethN, next free address)
    Connect {
        /// The network (`NET`, or `LAB/NET` when several labs have it)
        #[arg(add = crate::completion::network_completer(false))]
        network: String,
        /// The container (`NAME`, or `LAB.NAME`)
        #[arg(add = crate::completion::container_completer(false))]
        container: String,
        /// The address to give it (default: the network's next free one)
        #[arg(long)]
        ip: Option<std::net::Ipv4Addr>,
        /// Another name it answers to on this network (repeatable), as Docker's --alias
        #[arg(long = "alias", value_name = "NAME")]
        aliases: Vec<String>,
        /// Print the change as iproute2 commands and change nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Disconnect a running container from a network, as `docker network disconnect`
    Disconnect {
        /// The network (`NET`, or `LAB/NET`)
        #[arg(add = crate::completion::network_completer(false))]
        network: String,
        /// The container (`NAME`, or `LAB.NAME`)
        #[arg(add = crate::completion::container_completer(true))]
        container: String,
        /// Print the change as iproute2 commands and change nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Set a container's or host's interface up or down (`ip link set DEV up|down`); coming up, it gets back the IPv6 addresses and the routes the kernel flushed when it went down
    Link {
        /// The container or host (`NAME`, or `LAB.NAME`)
        #[arg(add = crate::completion::node_completer())]
        node: String,
        /// The interface, e.g. eth0
        #[arg(add = crate::completion::device_completer())]
        dev: String,
        /// up or down
        #[arg(value_parser = ["up", "down"])]
        state: String,
    },
    /// Impair a container's or host's interface: delay, jitter and loss (netem), rate (tbf)
    #[command(
        after_help = "Each call sets DEV's whole impairment (its root qdisc, as `tc qdisc replace dev DEV root ...`), \
replacing what it had; it applies to what DEV sends. A rate alone is a tbf qdisc; with --delay, --jitter or --loss it \
is netem's own rate, in the same qdisc.\n\n\
Examples:\n  netlab impair web eth0 --delay 100ms --jitter 10ms\n  netlab impair bridge.web eth0 --loss 0.5%\n  \
netlab impair web eth0 --rate 10mbit\n  netlab impair web eth0 --clear"
    )]
    Impair {
        /// The container or host (`NAME`, or `LAB.NAME`)
        #[arg(add = crate::completion::node_completer())]
        node: String,
        /// The interface, e.g. eth0
        #[arg(add = crate::completion::device_completer())]
        dev: String,
        /// Delay every packet DEV sends: 100ms, 1.5s, 500us
        #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
        delay: Option<String>,
        /// Vary the delay at random by up to this much either way (needs --delay)
        #[arg(
            long,
            value_name = "TIME",
            requires = "delay",
            allow_hyphen_values = true
        )]
        jitter: Option<String>,
        /// Drop this share of the packets at random: 1%, 0.5%
        #[arg(long, value_name = "PERCENT", allow_hyphen_values = true)]
        loss: Option<String>,
        /// Send at most this fast: 10mbit, 1gbit, 500kbit (iproute2's units)
        #[arg(long, value_name = "RATE", allow_hyphen_values = true)]
        rate: Option<String>,
        /// Remove DEV's impairments: its root qdisc goes back to the default
        #[arg(long, conflicts_with_all = ["delay", "jitter", "loss", "rate"])]
        clear: bool,
    },
    /// Run a lab's ping checks again; exit 1 if any result differs from what the lab expects
    Check {
        /// Lab name
        #[arg(add = crate::completion::lab_completer())]
        lab: String,
        /// Machine-readable output
        #[arg(long)]
        json: bool,
        /// Also write the results as JUnit XML to FILE (one testcase per check)
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
    },
    /// List every network namespace: netlab's (with lab and role), /run/netns, Docker's
    Netns {
        /// Also the unnamed namespaces held by processes (with a pid and command)
        #[arg(long)]
        all: bool,
        /// Machine-readable output
        #[arg(long)]
        json: bool,
        /// Print the whole observed snapshot (links, addresses, routes, FDB) as JSON, for bug reports
        #[arg(long, hide = true)]
        snapshot: bool,
    },
    /// Run a command inside a namespace, container or host; its exit status is passed through
    #[command(
        after_help = "Examples:\n  netlab exec bbox1 ip route\n  netlab exec overlay.bbox1 ip -j addr\n  netlab exec bbox1 -- sh -c 'ip -br link'"
    )]
    Exec {
        /// A namespace name, or a container or host of a lab that is up (LAB.NODE when several labs have it)
        #[arg(add = crate::completion::namespace_completer())]
        target: String,
        /// The command and its arguments (everything after TARGET; `--` before it is allowed;
        /// none: an interactive shell). A lab's host runs it in its own view: /run/netns and
        /// /var/run/docker/netns hold its namespaces under Docker's names (`1-<id>`, sandboxes)
        #[arg(num_args = 0.., trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Find the link with an interface index in every namespace (all links without one)
    #[command(
        after_help = "Examples:\n  netlab find-link 76\n  netlab find-link --peer-of bbox1 eth0"
    )]
    FindLink {
        /// Interface index (only unique within one namespace, so several may match)
        ifindex: Option<u32>,
        /// Follow NODE's interface DEV to the one namespace and link on its other side
        #[arg(long, num_args = 2, value_names = ["NODE", "DEV"], conflicts_with = "ifindex", add = crate::completion::peer_of_completer())]
        peer_of: Option<Vec<String>>,
        /// Also search namespaces held only by processes
        #[arg(long)]
        all: bool,
        /// Machine-readable output
        #[arg(long)]
        json: bool,
    },
    /// Show a network (as `docker network inspect`), or a container's or host's interfaces, routes and peers
    Inspect {
        /// A network (or LAB/NETWORK), a container, a host or a namespace
        #[arg(add = crate::completion::network_or_node_completer())]
        name: String,
        /// Machine-readable output (the default for a network when stdout is not a terminal)
        #[arg(long)]
        json: bool,
        /// A network as this host's daemon shows it (a local network is each host's own;
        /// default: every host's view)
        #[arg(long, value_name = "HOST", add = crate::completion::host_completer())]
        host: Option<String>,
        /// Add netlab's own facts about a network (lab, host, VNI, peers) under "Netlab"
        #[arg(long)]
        netlab: bool,
    },
    /// Show the VXLAN devices of an overlay network on every host, with their FDB and neighbours
    Vxlan {
        /// An overlay network (or LAB/NETWORK), or NAMESPACE:DEVICE
        #[arg(add = crate::completion::network_completer(true))]
        target: String,
        /// Machine-readable output
        #[arg(long)]
        json: bool,
    },
    /// Show the bridges of a namespace, their ports and FDB (as `brctl show`)
    Bridge {
        /// A namespace, container or host
        #[arg(add = crate::completion::namespace_completer())]
        target: String,
        /// Machine-readable output
        #[arg(long)]
        json: bool,
    },
    /// List the nftables rules netlab wrote in a node's namespace (a host's firewall rules,
    /// Docker's masquerade, published ports and isolation), with each rule's packet and byte
    /// counters read back from the kernel
    #[command(
        after_help = "Examples:\n  netlab firewall nas4\n  netlab firewall overlay.nas4 --json"
    )]
    Firewall {
        /// A host (or LAB.HOST), container or namespace
        #[arg(add = crate::completion::namespace_completer())]
        target: String,
        /// Machine-readable output
        #[arg(long)]
        json: bool,
    },
    /// Predict the hop-by-hop path of a ping from a container to a peer, from live kernel state;
    /// exit 1 unless the ping would be delivered
    #[command(
        after_help = "Examples:\n  netlab trace bbox2 bbox1\n  netlab trace web h1 --proto tcp --port 8080\n  netlab trace bbox1 172.16.20.11 --minimal\n  netlab trace bbox3 10.0.0.2 --probe\n  netlab trace bbox2 bbox1 --size 1423\n  netlab trace web1 web2 -6\n  netlab trace bbox1 bbox2 --capture --detailed"
    )]
    Trace {
        /// Source: a container, host or namespace
        #[arg(add = crate::completion::namespace_completer())]
        from: String,
        /// Destination: a container or host (LAB.NODE when several labs have it; its address on a network shared with the source), a network alias the source container resolves, or an IPv4 or IPv6 address
        #[arg(add = crate::completion::node_completer())]
        to: String,
        /// A container destination by its IPv6 address (on a network with IPv6 shared with the source, else its first), as `ping -6`
        #[arg(short = '6', long)]
        ipv6: bool,
        /// Also send real pings and say whether the prediction and reality agree
        #[arg(long)]
        probe: bool,
        /// Also listen on every device of the predicted path, both ways, while one more probe (an echo request, or the --proto SYN or datagram) crosses it, and mark each hop seen or NOT SEEN, with the TTL, 802.1Q tag and VXLAN tunnel seen there; where the packet is dropped, the kernel's drop reason (implies --probe)
        #[arg(long)]
        capture: bool,
        /// One line per namespace crossed
        #[arg(long, conflicts_with_all = ["json", "detailed"])]
        minimal: bool,
        /// Also every step of the reply's way back
        #[arg(long)]
        detailed: bool,
        /// An echo request with N bytes of ICMP payload and DF set, as `ping -M do -s N` (an IP packet of N + 28 bytes): where an MTU on the way stops it (MTU_EXCEEDED)
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(0..=65507))]
        size: Option<u16>,
        /// Trace a UDP datagram or a TCP SYN to --port instead of an echo request: the same path, with the firewall rules and NAT (a published port's DNAT) that match its protocol and port; the way back is the answer, by the destination's sockets (SYN-ACK if one listens, else RST; for UDP nothing if one is bound, else ICMP port unreachable)
        #[arg(long, value_enum, default_value_t = TraceProto::Icmp, requires_ifs = [("udp", "port"), ("tcp", "port")])]
        proto: TraceProto,
        /// The destination port of --proto udp|tcp
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        port: Option<u16>,
        /// Machine-readable output
        #[arg(long)]
        json: bool,
    },
    /// Check a lab file without building it: print its networks, containers and addresses
    Validate {
        /// The lab file (TOML)
        file: PathBuf,
        /// Print the checked lab as JSON
        #[arg(long)]
        json: bool,
    },
    /// Draw a lab's topology: hosts, namespaces, bridges, veth pairs, VXLAN tunnels, VLANs, macvlans
    #[command(
        after_help = "A lab that is up is drawn from its record, so connect and disconnect show; a lab file is drawn as `up` would build it. \
Hosts and overlay sandboxes are boxes; containers, bridges, NICs, sub-interfaces and VXLAN devices are nodes; edges carry interface names, VNIs and VLAN ids.\n\n\
Examples:\n  netlab graph labs/overlay.toml | dot -Tpng -o overlay.png\n  netlab graph overlay --format svg -o overlay.svg\n  \
netlab graph labs/routed-gateway.toml --format mermaid\n  netlab graph overlay --json"
    )]
    Graph {
        /// A lab that is up, or a lab file
        lab: String,
        /// Output format
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
        /// Print the graph's clusters, nodes and edges as JSON instead
        #[arg(long, conflicts_with = "format")]
        json: bool,
        /// Write to FILE instead of standard output
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
        /// For a lab file: draw it under this name, as `up --name NAME` builds it
        #[arg(long)]
        name: Option<String>,
    },
    /// Print the JSON Schema of the lab file, for editors and CI (a lab file is TOML: the schema applies to its JSON form)
    #[command(
        after_help = "The schema describes tables, keys, types, ranges and values; `netlab validate FILE` also checks what needs the whole lab (addresses, names, overlaps). The same schema is in schema/netlab-lab.schema.json of the source tree.\n\nExamples:\n  netlab schema > netlab-lab.schema.json"
    )]
    Schema,
    /// Ping every container of a lab from every other one and show the reachability matrix;
    /// exit 1 if a pair the lab checks differs from what it expects
    #[command(
        after_help = "Each container is pinged at its address on a network it shares with the source, else its first address (as checks resolve a container). Labs of more than 12 containers get one line per source.\n\nExamples:\n  netlab pingall overlay\n  netlab pingall overlay --json\n  netlab pingall big --count 3 --timeout-ms 500"
    )]
    Pingall {
        /// Lab name (or the lab file, to take its [lab] name)
        #[arg(add = crate::completion::lab_completer())]
        lab: String,
        /// Echo requests per pair at most: each round sends one to every destination that has not answered yet (2: one retry)
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=10))]
        count: u32,
        /// How long each round of echo requests waits for the missing replies, in milliseconds
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=60000))]
        timeout_ms: u64,
        /// Machine-readable output
        #[arg(long)]
        json: bool,
    },
    /// An interactive shell over a lab that is up: run commands in its nodes, ping, trace,
    /// change links and networks, with completion of live names
    #[command(
        after_help = "At the prompt: `NODE CMD...` runs CMD in that node's namespace (as `netlab exec`, no shell), and \
`ping A B`, `pingall`, `trace A B`, `link NODE DEV up|down`, `connect NET CONTAINER`, `disconnect NET CONTAINER`, \
`status`, `help`, `exit` run the netlab commands of those names on the lab. TAB completes command words, node and \
network names, and a node's devices (read live). History: $XDG_STATE_HOME/netlab/history (~/.local/state/netlab/history).\n\n\
When stdin is not a terminal, commands are read from it one a line, without a prompt; the exit status is 1 if any failed.\n\n\
Examples:\n  netlab console bridge\n  echo 'web ip -br addr' | netlab console bridge"
    )]
    Console {
        /// Lab name (or the lab file, to take its [lab] name)
        #[arg(add = crate::completion::lab_completer())]
        lab: String,
    },
}

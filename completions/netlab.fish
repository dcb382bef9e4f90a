# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_netlab_global_optspecs
    string join \n color= h/help V/version
end

function __fish_netlab_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_netlab_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_netlab_using_subcommand
    set -l cmd (__fish_netlab_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c netlab -n "__fish_netlab_needs_command" -l color -d 'When to use colour: auto follows the terminal and NO_COLOR' -r -f -a "auto\t''
always\t''
never\t''"
complete -c netlab -n "__fish_netlab_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netlab -n "__fish_netlab_needs_command" -s V -l version -d 'Print version'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "up" -d 'Build a lab from its file, then run its checks'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "down" -d 'Remove everything a lab created, from its recorded state (the lab file is not needed)'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "status" -d 'Show labs that are up and what each holds'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "apply" -d 'Change a running lab to match its edited lab file: only what differs is changed'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "run" -d 'Run a lab\'s scenarios (all, in file order, or those named); exit 1 if a step does not do what it expects'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "connect" -d 'Connect a running container to a network, as `docker network connect` (next ethN, next free address)'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "disconnect" -d 'Disconnect a running container from a network, as `docker network disconnect`'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "link" -d 'Set a container\'s or host\'s interface up or down (`ip link set DEV up|down`); coming up, it gets back the IPv6 addresses and the routes the kernel flushed when it went down'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "impair" -d 'Impair a container\'s or host\'s interface: delay, jitter and loss (netem), rate (tbf)'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "check" -d 'Run a lab\'s ping checks again; exit 1 if any result differs from what the lab expects'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "netns" -d 'List every network namespace: netlab\'s (with lab and role), /run/netns, Docker\'s'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "exec" -d 'Run a command inside a namespace, container or host; its exit status is passed through'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "find-link" -d 'Find the link with an interface index in every namespace (all links without one)'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "inspect" -d 'Show a network (as `docker network inspect`), or a container\'s or host\'s interfaces, routes and peers'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "vxlan" -d 'Show the VXLAN devices of an overlay network on every host, with their FDB and neighbours'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "bridge" -d 'Show the bridges of a namespace, their ports and FDB (as `brctl show`)'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "firewall" -d 'List the nftables rules netlab wrote in a node\'s namespace (a host\'s firewall rules, Docker\'s masquerade, published ports and isolation), with each rule\'s packet and byte counters read back from the kernel'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "trace" -d 'Predict the hop-by-hop path of a ping from a container to a peer, from live kernel state; exit 1 unless the ping would be delivered'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "validate" -d 'Check a lab file without building it: print its networks, containers and addresses'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "graph" -d 'Draw a lab\'s topology: hosts, namespaces, bridges, veth pairs, VXLAN tunnels, VLANs, macvlans'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "schema" -d 'Print the JSON Schema of the lab file, for editors and CI (a lab file is TOML: the schema applies to its JSON form)'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "pingall" -d 'Ping every container of a lab from every other one and show the reachability matrix; exit 1 if a pair the lab checks differs from what it expects'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "console" -d 'An interactive shell over a lab that is up: run commands in its nodes, ping, trace, change links and networks, with completion of live names'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c netlab -n "__fish_netlab_using_subcommand up" -l name -d 'Run the lab under this name instead of [lab] name (to run two copies at once)' -r
complete -c netlab -n "__fish_netlab_using_subcommand up" -l scenario -d 'Once the lab is up, run this scenario (repeatable)' -r
complete -c netlab -n "__fish_netlab_using_subcommand up" -l color -d 'When to use colour: auto follows the terminal and NO_COLOR' -r -f -a "auto\t''
always\t''
never\t''"
complete -c netlab -n "__fish_netlab_using_subcommand up" -l dry-run -d 'Print the plan as iproute2 commands and change nothing'
complete -c netlab -n "__fish_netlab_using_subcommand up" -l no-check -d 'Do not run the lab\'s checks after building it'
complete -c netlab -n "__fish_netlab_using_subcommand up" -s q -l quiet -d 'No progress bar'
complete -c netlab -n "__fish_netlab_using_subcommand up" -l json -d 'Print a JSON summary instead: lab, namespaces, objects, seconds, the checks\' results (and the scenarios\')'
complete -c netlab -n "__fish_netlab_using_subcommand up" -s h -l help -d 'Print help'
complete -c netlab -n "__fish_netlab_using_subcommand down" -l color -d 'When to use colour: auto follows the terminal and NO_COLOR' -r -f -a "auto\t''
always\t''
never\t''"
complete -c netlab -n "__fish_netlab_using_subcommand down" -s h -l help -d 'Print help'
complete -c netlab -n "__fish_netlab_using_subcommand status" -l color -d 'When to use colour: auto follows the terminal and NO_COLOR' -r -f -a "auto\t''
always\t''
never\t''"
complete -c netlab -n "__fish_netlab_using_subcommand status" -l json -d 'Machine-readable output'
complete -c netlab -n "__fish_netlab_using_subcommand status" -s h -l help -d 'Print help'
complete -c netlab -n "__fish_netlab_using_subcommand apply" -l name -d 'The lab that is up (default: the file\'s [lab] name)' -r
complete -c netlab -n "__fish_netlab_using_subcommand apply" -l color -d 'When to use colour: auto follows the terminal and NO_COLOR' -r -f -a "auto\t''
always\t''
never\t''"
complete -c netlab -n "__fish_netlab_using_subcommand apply" -l dry-run -d 'Print what would change, and the iproute2 commands, and change nothing'
complete -c netlab -n "__fish_netlab_using_subcommand apply" -s h -l help -d 'Print help'
complete -c netlab -n "__fish_netlab_using_subcommand run" -l junit -d 'Also write the results as JUnit XML to FILE (one testcase per step)' -r -F
complete -c netlab -n "__fish_netlab_using_subcommand run" -l color -d 'When to use colour: auto follows the terminal and NO_COLOR' -r -f -a "auto\t''
always\t''
never\t''"
complete -c netlab -n "__fish_netlab_using_subcommand run" -l json -d 'Machine-readable output'
complete -c netlab -n "__fish_netlab_using_subcommand run" -s h -l help -d 'Print help'
complete -c netlab -n "__fish_netlab_using_subcommand connect" -l ip -d 'The address to give it (default: the network\'s next free one)' -r
complete -c netlab -n "__fish_netlab_using_subcommand connect" -l alias -d 'Another name it answers to on this network (repeatable), as Docker\'s --alias' -r
complete -c netlab -n "__fish_netlab_using_subcommand connect" -l color -d 'When to use colour: auto follows the terminal and NO_COLOR' -r -f -a "auto\t''
always\t''
never\t''"
complete -c netlab -n "__fish_netlab_using_subcommand connect" -l dry-run -d 'Print the change as iproute2 commands and change nothing'
complete -c netlab -n "__fish_netlab_using_subcommand connect" -s h -l help -d 'Print help'
complete -c netlab -n "__fish_netlab_using_subcommand disconnect" -l color -d 'When to use colour: auto follows the terminal and NO_COLOR' -r -f -a "auto\t''
always\t''
never\t''"
complete -c netlab -n "__fish_netlab_using_subcommand disconnect" -l dry-run -d 'Print the change as iproute2 commands and change nothing'
complete -c netlab -n "__fish_netlab_using_subcommand disconnect" -s h -l help -d 'Print help'
complete -c netlab -n "__fish_netlab_using_subcommand link" -l color -d 'When to use colour: auto follows the terminal and NO_COLOR' -r -f -a "auto\t''
always\t''
never\t''"
complete -c netlab -n "__fish_netlab_using_subcommand link" -s h -l help -d 'Print help'
complete -c netlab -n "__fish_netlab_using_subcommand impair" -l delay -d 'Delay every packet DEV sends: 100ms, 1.5s, 500us' -r
complete -c netlab -n "__fish_netlab_using_subcommand impair" -l jitter -d 'Vary the delay at random by up to this much either way (needs --delay)' -r
complete -c netlab -n "__fish_netlab_using_subcommand impair" -l loss -d 'Drop this share of the packets at random: 1%, 0.5%' -r
complete -c netlab -n "__fish_netlab_using_subcommand impair" -l rate -d 'Send at most this fast: 10mbit, 1gbit, 500kbit (iproute2\'s units)' -r
complete -c netlab -n "__fish_netlab_using_subcommand impair" -l color -d 'When to use colour: auto follows the terminal and NO_COLOR' -r -f -a "auto\t''
always\t''
never\t''"
complete -c netlab -n "__fish_netlab_using_subcommand impair" -l clear -d 'Remove DEV\'s impairments: its root qdisc goes back to the default'
complete -c netlab -n "__fish_netlab_using_subcommand impair" -s h -l help -d 'Print help'
complete -c netlab -n "__fish_netlab_using_subcommand check" -l junit -d 'Also write the results as JUnit XML to FILE (one testcase per check)' -r -F
complete -c netlab -n "__fish_netlab_using_subcommand check" -l color -d 'When to use colour: auto follows the terminal and NO_COLOR' -r -f -a "auto\t''
always\t''
never\t''"
complete -c netlab -n "__fish_netlab_using_subcommand check" -l json -d 'Machine-readable output'
complete -c netlab -n "__fish_netlab_using_subcommand check" -s h -l help -d 'Print help'
complete -c netlab -n "__fish_netlab_using_subcommand netns" -l color -d 'When to use colour: auto follows the terminal and NO_COLOR' -r -f -a "auto\t''
always\t''
never\t''"
complete -c netlab -n "__fish_netlab_using_subcommand netns" -l all -d 'Also the unnamed namespaces held by processes (with a pid and command)'
complete -c netlab -n "__fish_netlab_using_subcommand netns" -l json -d 'Machine-readable output'
complete -c netlab -n "__fish_netlab_using_subcommand netns" -l snapshot -d 'Print the whole observed snapshot (links, addresses, routes, FDB) as JSON, for bug reports'
complete -c netlab -n "__fish_netlab_using_subcommand netns" -s h -l help -d 'Print help'
complete -c netlab -n "__fish_netlab_using_subcommand exec" -l color -d 'When to use colour: auto follows the terminal and NO_COLOR' -r -f -a "auto\t''
always\t''
never\t''"
complete -c netlab -n "__fish_netlab_using_subcommand exec" -s h -l help -d 'Print help'
complete -c netlab -n "__fish_netlab_using_subcommand find-link" -l peer-of -d 'Follow NODE\'s interface DEV to the one namespace and link on its other side' -r
complete -c netlab -n "__fish_netlab_using_subcommand find-link" -l color -d 'When to use colour: auto follows the terminal and NO_COLOR' -r -f -a "auto\t''
always\t''
never\t''"
complete -c netlab -n "__fish_netlab_using_subcommand find-link" -l all -d 'Also search namespaces held only by processes'
complete -c netlab -n "__fish_netlab_using_subcommand find-link" -l json -d 'Machine-readable output'
complete -c netlab -n "__fish_netlab_using_subcommand find-link" -s h -l help -d 'Print help'
complete -c netlab -n "__fish_netlab_using_subcommand inspect" -l host -d 'A network as this host\'s daemon shows it (a local network is each host\'s own; default: every host\'s view)' -r
complete -c netlab -n "__fish_netlab_using_subcommand inspect" -l color -d 'When to use colour: auto follows the terminal and NO_COLOR' -r -f -a "auto\t''
always\t''
never\t''"
complete -c netlab -n "__fish_netlab_using_subcommand inspect" -l json -d 'Machine-readable output (the default for a network when stdout is not a terminal)'
complete -c netlab -n "__fish_netlab_using_subcommand inspect" -l netlab -d 'Add netlab\'s own facts about a network (lab, host, VNI, peers) under "Netlab"'
complete -c netlab -n "__fish_netlab_using_subcommand inspect" -s h -l help -d 'Print help'
complete -c netlab -n "__fish_netlab_using_subcommand vxlan" -l color -d 'When to use colour: auto follows the terminal and NO_COLOR' -r -f -a "auto\t''
always\t''
never\t''"
complete -c netlab -n "__fish_netlab_using_subcommand vxlan" -l json -d 'Machine-readable output'
complete -c netlab -n "__fish_netlab_using_subcommand vxlan" -s h -l help -d 'Print help'
complete -c netlab -n "__fish_netlab_using_subcommand bridge" -l color -d 'When to use colour: auto follows the terminal and NO_COLOR' -r -f -a "auto\t''
always\t''
never\t''"
complete -c netlab -n "__fish_netlab_using_subcommand bridge" -l json -d 'Machine-readable output'
complete -c netlab -n "__fish_netlab_using_subcommand bridge" -s h -l help -d 'Print help'
complete -c netlab -n "__fish_netlab_using_subcommand firewall" -l color -d 'When to use colour: auto follows the terminal and NO_COLOR' -r -f -a "auto\t''
always\t''
never\t''"
complete -c netlab -n "__fish_netlab_using_subcommand firewall" -l json -d 'Machine-readable output'
complete -c netlab -n "__fish_netlab_using_subcommand firewall" -s h -l help -d 'Print help'
complete -c netlab -n "__fish_netlab_using_subcommand trace" -l size -d 'An echo request with N bytes of ICMP payload and DF set, as `ping -M do -s N` (an IP packet of N + 28 bytes): where an MTU on the way stops it (MTU_EXCEEDED)' -r
complete -c netlab -n "__fish_netlab_using_subcommand trace" -l proto -d 'Trace a UDP datagram or a TCP SYN to --port instead of an echo request: the same path, with the firewall rules and NAT (a published port\'s DNAT) that match its protocol and port; the way back is the answer, by the destination\'s sockets (SYN-ACK if one listens, else RST; for UDP nothing if one is bound, else ICMP port unreachable)' -r -f -a "icmp\t'An ICMP echo request, as ping'
udp\t'A UDP datagram to --port'
tcp\t'A TCP SYN to --port'"
complete -c netlab -n "__fish_netlab_using_subcommand trace" -l port -d 'The destination port of --proto udp|tcp' -r
complete -c netlab -n "__fish_netlab_using_subcommand trace" -l color -d 'When to use colour: auto follows the terminal and NO_COLOR' -r -f -a "auto\t''
always\t''
never\t''"
complete -c netlab -n "__fish_netlab_using_subcommand trace" -s 6 -l ipv6 -d 'A container destination by its IPv6 address (on a network with IPv6 shared with the source, else its first), as `ping -6`'
complete -c netlab -n "__fish_netlab_using_subcommand trace" -l probe -d 'Also send real pings and say whether the prediction and reality agree'
complete -c netlab -n "__fish_netlab_using_subcommand trace" -l capture -d 'Also listen on every device of the predicted path, both ways, while one more probe (an echo request, or the --proto SYN or datagram) crosses it, and mark each hop seen or NOT SEEN, with the TTL, 802.1Q tag and VXLAN tunnel seen there; where the packet is dropped, the kernel\'s drop reason (implies --probe)'
complete -c netlab -n "__fish_netlab_using_subcommand trace" -l minimal -d 'One line per namespace crossed'
complete -c netlab -n "__fish_netlab_using_subcommand trace" -l detailed -d 'Also every step of the reply\'s way back'
complete -c netlab -n "__fish_netlab_using_subcommand trace" -l json -d 'Machine-readable output'
complete -c netlab -n "__fish_netlab_using_subcommand trace" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netlab -n "__fish_netlab_using_subcommand validate" -l color -d 'When to use colour: auto follows the terminal and NO_COLOR' -r -f -a "auto\t''
always\t''
never\t''"
complete -c netlab -n "__fish_netlab_using_subcommand validate" -l json -d 'Print the checked lab as JSON'
complete -c netlab -n "__fish_netlab_using_subcommand validate" -s h -l help -d 'Print help'
complete -c netlab -n "__fish_netlab_using_subcommand graph" -l format -d 'Output format' -r -f -a "dot\t'Graphviz DOT (`dot -Tpng` lays it out)'
mermaid\t'A Mermaid flowchart (GitHub and GitLab draw it in Markdown)'
svg\t'A standalone SVG picture, laid out by netlab (no Graphviz needed)'"
complete -c netlab -n "__fish_netlab_using_subcommand graph" -s o -l output -d 'Write to FILE instead of standard output' -r -F
complete -c netlab -n "__fish_netlab_using_subcommand graph" -l name -d 'For a lab file: draw it under this name, as `up --name NAME` builds it' -r
complete -c netlab -n "__fish_netlab_using_subcommand graph" -l color -d 'When to use colour: auto follows the terminal and NO_COLOR' -r -f -a "auto\t''
always\t''
never\t''"
complete -c netlab -n "__fish_netlab_using_subcommand graph" -l json -d 'Print the graph\'s clusters, nodes and edges as JSON instead'
complete -c netlab -n "__fish_netlab_using_subcommand graph" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netlab -n "__fish_netlab_using_subcommand schema" -l color -d 'When to use colour: auto follows the terminal and NO_COLOR' -r -f -a "auto\t''
always\t''
never\t''"
complete -c netlab -n "__fish_netlab_using_subcommand schema" -s h -l help -d 'Print help'
complete -c netlab -n "__fish_netlab_using_subcommand pingall" -l count -d 'Echo requests per pair at most: each round sends one to every destination that has not answered yet (2: one retry)' -r
complete -c netlab -n "__fish_netlab_using_subcommand pingall" -l timeout-ms -d 'How long each round of echo requests waits for the missing replies, in milliseconds' -r
complete -c netlab -n "__fish_netlab_using_subcommand pingall" -l color -d 'When to use colour: auto follows the terminal and NO_COLOR' -r -f -a "auto\t''
always\t''
never\t''"
complete -c netlab -n "__fish_netlab_using_subcommand pingall" -l json -d 'Machine-readable output'
complete -c netlab -n "__fish_netlab_using_subcommand pingall" -s h -l help -d 'Print help'
complete -c netlab -n "__fish_netlab_using_subcommand console" -l color -d 'When to use colour: auto follows the terminal and NO_COLOR' -r -f -a "auto\t''
always\t''
never\t''"
complete -c netlab -n "__fish_netlab_using_subcommand console" -s h -l help -d 'Print help'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status apply run connect disconnect link impair check netns exec find-link inspect vxlan bridge firewall trace validate graph schema pingall console help" -f -a "up" -d 'Build a lab from its file, then run its checks'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status apply run connect disconnect link impair check netns exec find-link inspect vxlan bridge firewall trace validate graph schema pingall console help" -f -a "down" -d 'Remove everything a lab created, from its recorded state (the lab file is not needed)'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status apply run connect disconnect link impair check netns exec find-link inspect vxlan bridge firewall trace validate graph schema pingall console help" -f -a "status" -d 'Show labs that are up and what each holds'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status apply run connect disconnect link impair check netns exec find-link inspect vxlan bridge firewall trace validate graph schema pingall console help" -f -a "apply" -d 'Change a running lab to match its edited lab file: only what differs is changed'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status apply run connect disconnect link impair check netns exec find-link inspect vxlan bridge firewall trace validate graph schema pingall console help" -f -a "run" -d 'Run a lab\'s scenarios (all, in file order, or those named); exit 1 if a step does not do what it expects'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status apply run connect disconnect link impair check netns exec find-link inspect vxlan bridge firewall trace validate graph schema pingall console help" -f -a "connect" -d 'Connect a running container to a network, as `docker network connect` (next ethN, next free address)'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status apply run connect disconnect link impair check netns exec find-link inspect vxlan bridge firewall trace validate graph schema pingall console help" -f -a "disconnect" -d 'Disconnect a running container from a network, as `docker network disconnect`'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status apply run connect disconnect link impair check netns exec find-link inspect vxlan bridge firewall trace validate graph schema pingall console help" -f -a "link" -d 'Set a container\'s or host\'s interface up or down (`ip link set DEV up|down`); coming up, it gets back the IPv6 addresses and the routes the kernel flushed when it went down'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status apply run connect disconnect link impair check netns exec find-link inspect vxlan bridge firewall trace validate graph schema pingall console help" -f -a "impair" -d 'Impair a container\'s or host\'s interface: delay, jitter and loss (netem), rate (tbf)'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status apply run connect disconnect link impair check netns exec find-link inspect vxlan bridge firewall trace validate graph schema pingall console help" -f -a "check" -d 'Run a lab\'s ping checks again; exit 1 if any result differs from what the lab expects'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status apply run connect disconnect link impair check netns exec find-link inspect vxlan bridge firewall trace validate graph schema pingall console help" -f -a "netns" -d 'List every network namespace: netlab\'s (with lab and role), /run/netns, Docker\'s'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status apply run connect disconnect link impair check netns exec find-link inspect vxlan bridge firewall trace validate graph schema pingall console help" -f -a "exec" -d 'Run a command inside a namespace, container or host; its exit status is passed through'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status apply run connect disconnect link impair check netns exec find-link inspect vxlan bridge firewall trace validate graph schema pingall console help" -f -a "find-link" -d 'Find the link with an interface index in every namespace (all links without one)'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status apply run connect disconnect link impair check netns exec find-link inspect vxlan bridge firewall trace validate graph schema pingall console help" -f -a "inspect" -d 'Show a network (as `docker network inspect`), or a container\'s or host\'s interfaces, routes and peers'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status apply run connect disconnect link impair check netns exec find-link inspect vxlan bridge firewall trace validate graph schema pingall console help" -f -a "vxlan" -d 'Show the VXLAN devices of an overlay network on every host, with their FDB and neighbours'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status apply run connect disconnect link impair check netns exec find-link inspect vxlan bridge firewall trace validate graph schema pingall console help" -f -a "bridge" -d 'Show the bridges of a namespace, their ports and FDB (as `brctl show`)'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status apply run connect disconnect link impair check netns exec find-link inspect vxlan bridge firewall trace validate graph schema pingall console help" -f -a "firewall" -d 'List the nftables rules netlab wrote in a node\'s namespace (a host\'s firewall rules, Docker\'s masquerade, published ports and isolation), with each rule\'s packet and byte counters read back from the kernel'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status apply run connect disconnect link impair check netns exec find-link inspect vxlan bridge firewall trace validate graph schema pingall console help" -f -a "trace" -d 'Predict the hop-by-hop path of a ping from a container to a peer, from live kernel state; exit 1 unless the ping would be delivered'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status apply run connect disconnect link impair check netns exec find-link inspect vxlan bridge firewall trace validate graph schema pingall console help" -f -a "validate" -d 'Check a lab file without building it: print its networks, containers and addresses'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status apply run connect disconnect link impair check netns exec find-link inspect vxlan bridge firewall trace validate graph schema pingall console help" -f -a "graph" -d 'Draw a lab\'s topology: hosts, namespaces, bridges, veth pairs, VXLAN tunnels, VLANs, macvlans'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status apply run connect disconnect link impair check netns exec find-link inspect vxlan bridge firewall trace validate graph schema pingall console help" -f -a "schema" -d 'Print the JSON Schema of the lab file, for editors and CI (a lab file is TOML: the schema applies to its JSON form)'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status apply run connect disconnect link impair check netns exec find-link inspect vxlan bridge firewall trace validate graph schema pingall console help" -f -a "pingall" -d 'Ping every container of a lab from every other one and show the reachability matrix; exit 1 if a pair the lab checks differs from what it expects'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status apply run connect disconnect link impair check netns exec find-link inspect vxlan bridge firewall trace validate graph schema pingall console help" -f -a "console" -d 'An interactive shell over a lab that is up: run commands in its nodes, ping, trace, change links and networks, with completion of live names'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status apply run connect disconnect link impair check netns exec find-link inspect vxlan bridge firewall trace validate graph schema pingall console help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'

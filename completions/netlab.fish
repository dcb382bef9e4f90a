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
complete -c netlab -n "__fish_netlab_needs_command" -f -a "check" -d 'Run a lab\'s ping checks again; exit 1 if any result differs from what the lab expects'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "netns" -d 'List every network namespace: netlab\'s (with lab and role), /run/netns, Docker\'s'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "exec" -d 'Run a command inside a namespace, container or host; its exit status is passed through'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "find-link" -d 'Find the link with an interface index in every namespace (all links without one)'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "inspect" -d 'Show a network (as `docker network inspect`), or a container\'s or host\'s interfaces, routes and peers'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "vxlan" -d 'Show the VXLAN devices of an overlay network on every host, with their FDB and neighbours'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "bridge" -d 'Show the bridges of a namespace, their ports and FDB (as `brctl show`)'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "trace" -d 'Predict the hop-by-hop path of a ping from a container to a peer, from live kernel state; exit 1 unless the ping would be delivered'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "validate" -d 'Check a lab file without building it: print its networks, containers and addresses'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c netlab -n "__fish_netlab_using_subcommand up" -l name -d 'Run the lab under this name instead of [lab] name (to run two copies at once)' -r
complete -c netlab -n "__fish_netlab_using_subcommand up" -l color -d 'When to use colour: auto follows the terminal and NO_COLOR' -r -f -a "auto\t''
always\t''
never\t''"
complete -c netlab -n "__fish_netlab_using_subcommand up" -l dry-run -d 'Print the plan as iproute2 commands and change nothing'
complete -c netlab -n "__fish_netlab_using_subcommand up" -l no-check -d 'Do not run the lab\'s checks after building it'
complete -c netlab -n "__fish_netlab_using_subcommand up" -s q -l quiet -d 'No progress bar'
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
complete -c netlab -n "__fish_netlab_using_subcommand inspect" -l color -d 'When to use colour: auto follows the terminal and NO_COLOR' -r -f -a "auto\t''
always\t''
never\t''"
complete -c netlab -n "__fish_netlab_using_subcommand inspect" -l json -d 'Machine-readable output (the default for a network when stdout is not a terminal)'
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
complete -c netlab -n "__fish_netlab_using_subcommand trace" -l color -d 'When to use colour: auto follows the terminal and NO_COLOR' -r -f -a "auto\t''
always\t''
never\t''"
complete -c netlab -n "__fish_netlab_using_subcommand trace" -l probe -d 'Also send real pings and say whether the prediction and reality agree'
complete -c netlab -n "__fish_netlab_using_subcommand trace" -l minimal -d 'One line per namespace crossed'
complete -c netlab -n "__fish_netlab_using_subcommand trace" -l detailed -d 'Also every step of the reply\'s way back'
complete -c netlab -n "__fish_netlab_using_subcommand trace" -l json -d 'Machine-readable output'
complete -c netlab -n "__fish_netlab_using_subcommand trace" -s h -l help -d 'Print help'
complete -c netlab -n "__fish_netlab_using_subcommand validate" -l color -d 'When to use colour: auto follows the terminal and NO_COLOR' -r -f -a "auto\t''
always\t''
never\t''"
complete -c netlab -n "__fish_netlab_using_subcommand validate" -l json -d 'Print the checked lab as JSON'
complete -c netlab -n "__fish_netlab_using_subcommand validate" -s h -l help -d 'Print help'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status check netns exec find-link inspect vxlan bridge trace validate help" -f -a "up" -d 'Build a lab from its file, then run its checks'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status check netns exec find-link inspect vxlan bridge trace validate help" -f -a "down" -d 'Remove everything a lab created, from its recorded state (the lab file is not needed)'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status check netns exec find-link inspect vxlan bridge trace validate help" -f -a "status" -d 'Show labs that are up and what each holds'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status check netns exec find-link inspect vxlan bridge trace validate help" -f -a "check" -d 'Run a lab\'s ping checks again; exit 1 if any result differs from what the lab expects'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status check netns exec find-link inspect vxlan bridge trace validate help" -f -a "netns" -d 'List every network namespace: netlab\'s (with lab and role), /run/netns, Docker\'s'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status check netns exec find-link inspect vxlan bridge trace validate help" -f -a "exec" -d 'Run a command inside a namespace, container or host; its exit status is passed through'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status check netns exec find-link inspect vxlan bridge trace validate help" -f -a "find-link" -d 'Find the link with an interface index in every namespace (all links without one)'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status check netns exec find-link inspect vxlan bridge trace validate help" -f -a "inspect" -d 'Show a network (as `docker network inspect`), or a container\'s or host\'s interfaces, routes and peers'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status check netns exec find-link inspect vxlan bridge trace validate help" -f -a "vxlan" -d 'Show the VXLAN devices of an overlay network on every host, with their FDB and neighbours'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status check netns exec find-link inspect vxlan bridge trace validate help" -f -a "bridge" -d 'Show the bridges of a namespace, their ports and FDB (as `brctl show`)'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status check netns exec find-link inspect vxlan bridge trace validate help" -f -a "trace" -d 'Predict the hop-by-hop path of a ping from a container to a peer, from live kernel state; exit 1 unless the ping would be delivered'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status check netns exec find-link inspect vxlan bridge trace validate help" -f -a "validate" -d 'Check a lab file without building it: print its networks, containers and addresses'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from up down status check netns exec find-link inspect vxlan bridge trace validate help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'

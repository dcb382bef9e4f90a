//! Root integration tests for a host's own view (seed 004): inside `netlab exec HOST`, /run/netns
//! and /var/run/docker/netns hold exactly that host's namespaces under Docker's names, so
//! `ip netns` and the seed's docker_netns.sh / find_links.sh run unchanged and print what the
//! article prints. The oracle is the kernel: each name leads (through iproute2's own
//! `ip netns exec`) to the namespace whose inode the machine-wide name has.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

use common::*;

/// Seed 004's scripts, verbatim (the article's `$@`, which its page mangled, restored).
const DOCKER_NETNS_SH: &str = r#"#!/bin/bash

NAMESPACE=$1

if [[ -z $NAMESPACE ]];then
    ls -1 /var/run/docker/netns/
    exit 0
fi

NAMESPACE_FILE=/var/run/docker/netns/${NAMESPACE}

if [[ ! -f $NAMESPACE_FILE ]];then
    NAMESPACE_FILE=$(docker inspect -f "{{.NetworkSettings.SandboxKey}}" $NAMESPACE 2>/dev/null)
fi

if [[ ! -f $NAMESPACE_FILE ]];then
    echo "Cannot open network namespace ‘$NAMESPACE‘: No such file or directory"
    exit 1
fi

shift

if [[ $# -lt 1 ]]; then
    echo "No command specified"
    exit 1
fi

nsenter --net=${NAMESPACE_FILE} "$@"
"#;

const FIND_LINKS_SH: &str = r#"#!/bin/bash

DOCKER_NETNS_SCRIPT=./docker_netns.sh
IFINDEX=$1
if [[ -z $IFINDEX ]];then
    for namespace in $($DOCKER_NETNS_SCRIPT);do
        printf "\e[1;31m%s:\e[0m" $namespace
        $DOCKER_NETNS_SCRIPT $namespace ip -c -o link
        printf " "
    done
else
    for namespace in $($DOCKER_NETNS_SCRIPT);do
        if $DOCKER_NETNS_SCRIPT $namespace ip -c -o link | grep -Pq "^$IFINDEX: ";then
           printf "\e[1;31m%s:\e[0m" $namespace
           $DOCKER_NETNS_SCRIPT $namespace ip -c -o link | grep -P "^$IFINDEX: ";
           printf " "
        fi
    done
fi
"#;

fn out(args: &[&str]) -> String {
    let o = netlab(args);
    assert!(o.status.success(), "netlab {args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn inode(path: &str) -> u64 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .ino()
}

/// `ip netns` inside HOST's view: name -> whether it shows an `(id: N)`.
fn listed(lab: &str, host: &str) -> BTreeMap<String, bool> {
    out(&["exec", &format!("{lab}.{host}"), "--", "ip", "netns"])
        .lines()
        .map(|l| {
            let name = l.split_whitespace().next().unwrap().to_string();
            (name, l.contains("(id: "))
        })
        .collect()
}

#[test]
fn a_host_sees_its_own_namespaces_under_dockers_names() {
    if !require_root("a_host_sees_its_own_namespaces_under_dockers_names") {
        return;
    }
    let lab = unique("thv");
    let before = root_snapshot();
    let docker_dir_before = std::path::Path::new("/run/docker").exists();
    let _guard = LabGuard(lab.clone());
    up_ok(&lab, "labs/overlay.toml");
    let sandbox = |net: &str| format!("1-{}", &net_id(&lab, net)[..10]);
    // Seed 000 on nas4: `ip netns` -> `2c7d5aba687e (id: 1) 1-c2ad163525 (id: 0)`: the lab
    // file gives ov_net1 the article's id, so its sandbox has the article's name.
    assert_eq!(sandbox("ov_net1"), "1-c2ad163525");
    assert!(listed(&lab, "nas4").contains_key("1-c2ad163525"));

    // nas4 holds ov_net1's sandbox and bbox1's; nas5 ov_net1's, ov_net2's, bbox2's, bbox3's.
    // Each name leads to the namespace netlab built for it, and each has an id in the host.
    for (host, want) in [
        ("nas4", vec![("ov_net1", None), ("", Some("bbox1"))]),
        (
            "nas5",
            vec![
                ("ov_net1", None),
                ("ov_net2", None),
                ("", Some("bbox2")),
                ("", Some("bbox3")),
            ],
        ),
    ] {
        let seen = listed(&lab, host);
        assert_eq!(seen.len(), want.len(), "{host}: {seen:?}");
        assert!(
            seen.values().all(|id| *id),
            "{host}: every name has an id: {seen:?}"
        );
        let mut expected: Vec<u64> = want
            .iter()
            .map(|(net, c)| match c {
                Some(c) => inode(&format!("/run/netns/{lab}.{c}")),
                None => inode(&format!("/run/netns/{lab}.{host}.{}", sandbox(net))),
            })
            .collect();
        let mut got: Vec<u64> = seen
            .keys()
            .map(|name| {
                let link = out(&[
                    "exec",
                    &format!("{lab}.{host}"),
                    "--",
                    "ip",
                    "netns",
                    "exec",
                    name,
                    "readlink",
                    "/proc/self/ns/net",
                ]);
                link.trim()
                    .trim_start_matches("net:[")
                    .trim_end_matches(']')
                    .parse()
                    .unwrap_or_else(|e| panic!("{name}: {link}: {e}"))
            })
            .collect();
        expected.sort();
        got.sort();
        assert_eq!(got, expected, "{host}: names lead to its namespaces");
        for net in want.iter().filter(|(_, c)| c.is_none()).map(|(n, _)| n) {
            assert!(seen.contains_key(&sandbox(net)), "{host}: {seen:?}");
        }
    }

    // Seed 004: `ip netns exec 1-... ip -d link show vxlan0` on the node.
    let vx = out(&[
        "exec",
        &format!("{lab}.nas4"),
        "--",
        "ip",
        "netns",
        "exec",
        &sandbox("ov_net1"),
        "ip",
        "-d",
        "link",
        "show",
        "vxlan0",
    ]);
    assert!(vx.contains("vxlan id 256 "), "{vx}");

    // The seed's scripts, unchanged, inside nas5.
    let dir = std::env::temp_dir().join(format!("{lab}.scripts"));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, body) in [
        ("docker_netns.sh", DOCKER_NETNS_SH),
        ("find_links.sh", FIND_LINKS_SH),
    ] {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let in_nas5 = |script: &str| -> String {
        out(&[
            "exec",
            &format!("{lab}.nas5"),
            "--",
            "bash",
            "-c",
            &format!("cd {} && {script}", dir.display()),
        ])
    };
    let names: Vec<String> = in_nas5("./docker_netns.sh")
        .lines()
        .map(str::to_string)
        .collect();
    let mut want: Vec<String> = listed(&lab, "nas5").into_keys().collect();
    let mut sorted = names.clone();
    sorted.sort();
    want.sort();
    assert_eq!(sorted, want, "docker_netns.sh lists what ip netns lists");
    let sb = sandbox("ov_net2");
    let r = in_nas5(&format!("./docker_netns.sh {sb} ip r"));
    assert!(r.contains("10.0.1.0/24 dev br0"), "{r}");
    // find_links.sh IFINDEX: the overlay sandbox's veth0 (bbox3's other end), by its index.
    let idx = ip_json(&format!("{lab}.nas5.{sb}"), &["link", "show", "veth0"])[0]["ifindex"]
        .as_u64()
        .unwrap();
    let found = in_nas5(&format!("./find_links.sh {idx}"));
    assert!(
        found.contains(&format!("{sb}:\u{1b}[0m{idx}: ")) && found.contains("veth0"),
        "{found:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);

    // No command: a shell whose prompt names the host.
    let mut child = Command::new(env!("CARGO_BIN_EXE_netlab"))
        .args(["exec", &format!("{lab}.nas4")])
        .env("SHELL", "/bin/sh")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"ip netns | wc -l\nexit\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "2",
        "{}",
        text(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("[nas4] # "),
        "{}",
        text(&o)
    );

    // Nothing of the views is left on the machine.
    assert_eq!(
        std::path::Path::new("/run/docker").exists(),
        docker_dir_before
    );
    assert!(netlab(&["down", &lab]).status.success());
    assert_clean(&lab);
    assert_eq!(root_snapshot(), before, "the root namespace changed");
}

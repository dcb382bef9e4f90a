//! Run a program inside a network namespace (what `ip netns exec` and seed 004's
//! docker_netns.sh do), without a shell: the child enters the namespace between fork and exec.

use std::fs::File;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus};

use nix::sched::{setns, CloneFlags};

pub fn run_in(ns_path: &Path, argv: &[String]) -> io::Result<ExitStatus> {
    run_in_with(ns_path, argv, std::process::Stdio::inherit())
}

/// [`run_in`], with the child's stdin given (the console's scripts give it /dev/null).
pub fn run_in_with(
    ns_path: &Path,
    argv: &[String],
    stdin: std::process::Stdio,
) -> io::Result<ExitStatus> {
    // Opened safely: a FIFO or a symbolic link at the path is refused, never waited on.
    let file: File = super::netns::open_path(ns_path)?;
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no command given"))?;
    let mut cmd = Command::new(prog);
    cmd.args(args).stdin(stdin);
    // SAFETY: setns is async-signal-safe; only the network namespace of the child changes.
    unsafe {
        cmd.pre_exec(move || setns(&file, CloneFlags::CLONE_NEWNET).map_err(io::Error::from));
    }
    cmd.status()
        .map_err(|e| io::Error::new(e.kind(), format!("running {prog}: {e}")))
}

/// Run a program inside a network namespace and capture its output (scenario `exec` steps).
pub fn output_in(ns_path: &Path, argv: &[String]) -> io::Result<std::process::Output> {
    let file: File = super::netns::open_path(ns_path)?;
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no command given"))?;
    let mut cmd = Command::new(prog);
    cmd.args(args).stdin(std::process::Stdio::null());
    // SAFETY: setns is async-signal-safe; only the network namespace of the child changes.
    unsafe {
        cmd.pre_exec(move || setns(&file, CloneFlags::CLONE_NEWNET).map_err(io::Error::from));
    }
    cmd.output()
        .map_err(|e| io::Error::new(e.kind(), format!("running {prog}: {e}")))
}

//! Run a program inside a network namespace (what `ip netns exec` and seed 004's
//! docker_netns.sh do), without a shell: the child enters the namespace between fork and exec.
//! As `ip netns exec` does, the child also gets a mount namespace of its own in which the files
//! of `/etc/netns/<name>/` are bound over /etc (a container's hosts and resolv.conf, see
//! `plan::names`) and /sys shows the namespace's devices.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
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
    enter(&mut cmd, ns_path, file);
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
    enter(&mut cmd, ns_path, file);
    cmd.output()
        .map_err(|e| io::Error::new(e.kind(), format!("running {prog}: {e}")))
}

/// Make `cmd`'s child enter the network namespace `file` (mounted at `ns_path`) the way
/// `ip netns exec` does: setns, then a mount namespace of its own (slave to the machine's, so
/// nothing it mounts leaks out) with every file of `/etc/netns/<name>/` bound over the one of
/// /etc, and a fresh sysfs on /sys.
fn enter(cmd: &mut Command, ns_path: &Path, file: File) {
    let binds = etc_binds(ns_path);
    // SAFETY: between fork and exec the child only makes system calls (setns, unshare, mount,
    // umount2) on strings prepared before the fork; nothing allocates or locks.
    unsafe {
        cmd.pre_exec(move || {
            setns(&file, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
            if libc::unshare(libc::CLONE_NEWNS) != 0 {
                return Err(io::Error::last_os_error());
            }
            let root = c"/";
            if libc::mount(
                std::ptr::null(),
                root.as_ptr(),
                std::ptr::null(),
                libc::MS_SLAVE | libc::MS_REC,
                std::ptr::null(),
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            // As iproute2: a bind that fails is skipped, the program still runs.
            let none = c"none";
            for (src, dst) in &binds {
                libc::mount(
                    src.as_ptr(),
                    dst.as_ptr(),
                    none.as_ptr(),
                    libc::MS_BIND,
                    std::ptr::null(),
                );
            }
            let sys = c"/sys";
            let sysfs = c"sysfs";
            if libc::umount2(sys.as_ptr(), libc::MNT_DETACH) == 0 {
                libc::mount(
                    sysfs.as_ptr(),
                    sys.as_ptr(),
                    sysfs.as_ptr(),
                    0,
                    std::ptr::null(),
                );
            }
            Ok(())
        });
    }
}

/// `(/etc/netns/<name>/F, /etc/F)` for every entry F of the namespace's /etc directory, where
/// `<name>` is the namespace's name under /run/netns (none for a namespace mounted elsewhere).
fn etc_binds(ns_path: &Path) -> Vec<(CString, CString)> {
    let under_run_netns = ns_path.parent() == Some(Path::new(super::netns::NETNS_DIR));
    let Some(name) = ns_path.file_name().filter(|_| under_run_netns) else {
        return Vec::new();
    };
    let dir = Path::new(super::netns::ETC_NETNS).join(name);
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<(CString, CString)> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let src = CString::new(dir.join(e.file_name()).as_os_str().as_bytes()).ok()?;
            let dst =
                CString::new(Path::new("/etc").join(e.file_name()).as_os_str().as_bytes()).ok()?;
            Some((src, dst))
        })
        .collect();
    out.sort();
    out
}

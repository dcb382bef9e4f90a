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
    run_in_view(ns_path, &[], argv, stdin, &[])
}

/// A simulated host's own view of the machine's namespaces: `(name, namespace file)`, what
/// its Docker daemon would hold in /var/run/docker/netns.
pub type HostView = [(String, std::path::PathBuf)];

/// [`run_in_with`], and where `view` is not empty, the child's /run is a tmpfs of its own
/// whose `netns/` and `docker/netns/` hold exactly the namespaces of `view` under their
/// names: `ip netns`, `ip netns exec NAME` and seed 004's docker_netns.sh run there as on
/// that host. Nothing of it outlives the child. `env`: variables to set.
pub fn run_in_view(
    ns_path: &Path,
    view: &HostView,
    argv: &[String],
    stdin: std::process::Stdio,
    env: &[(&str, &str)],
) -> io::Result<ExitStatus> {
    // Opened safely: a FIFO or a symbolic link at the path is refused, never waited on.
    let file: File = super::netns::open_path(ns_path)?;
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no command given"))?;
    let mut cmd = Command::new(prog);
    cmd.args(args).stdin(stdin);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let files = view
        .iter()
        .map(|(name, path)| {
            super::netns::open_path(path)
                .map(|f| (name.clone(), f))
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
        })
        .collect::<io::Result<Vec<_>>>()?;
    enter_view(&mut cmd, ns_path, file, files);
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
    enter_view(cmd, ns_path, file, Vec::new())
}

/// [`enter`], then (with a view) a tmpfs on /run holding the view's namespace files.
fn enter_view(cmd: &mut Command, ns_path: &Path, file: File, view: Vec<(String, File)>) {
    use std::os::fd::AsRawFd;
    let binds = etc_binds(ns_path);
    // Everything the child needs, as C strings made before the fork.
    let c = |s: &str| CString::new(s).unwrap_or_default();
    let dirs = [c("/run/netns"), c("/run/docker"), c("/run/docker/netns")];
    let view_binds: Vec<(CString, [CString; 2])> = view
        .iter()
        .map(|(name, f)| {
            (
                c(&format!("/proc/self/fd/{}", f.as_raw_fd())),
                [
                    c(&format!("/run/netns/{name}")),
                    c(&format!("/run/docker/netns/{name}")),
                ],
            )
        })
        .collect();
    let with_view = !view.is_empty();
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
            if with_view {
                let _keep = &view;
                let run = c"/run";
                let tmpfs = c"tmpfs";
                let opts = c"mode=755";
                if libc::mount(
                    tmpfs.as_ptr(),
                    run.as_ptr(),
                    tmpfs.as_ptr(),
                    libc::MS_NOSUID | libc::MS_NODEV,
                    opts.as_ptr().cast(),
                ) != 0
                {
                    return Err(io::Error::last_os_error());
                }
                for d in &dirs {
                    if libc::mkdir(d.as_ptr(), 0o755) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                for (src, dsts) in &view_binds {
                    for dst in dsts {
                        let fd = libc::open(
                            dst.as_ptr(),
                            libc::O_CREAT | libc::O_EXCL | libc::O_RDONLY | libc::O_CLOEXEC,
                            0o444,
                        );
                        if fd < 0 {
                            return Err(io::Error::last_os_error());
                        }
                        libc::close(fd);
                        if libc::mount(
                            src.as_ptr(),
                            dst.as_ptr(),
                            none.as_ptr(),
                            libc::MS_BIND,
                            std::ptr::null(),
                        ) != 0
                        {
                            return Err(io::Error::last_os_error());
                        }
                    }
                }
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

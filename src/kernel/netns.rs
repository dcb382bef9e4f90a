//! Named network namespaces, kept exactly as `ip netns` keeps them: a bind mount of the
//! namespace on `/run/netns/<name>`. This module is the only place that calls `unshare`,
//! `setns` or `mount`; everything that must happen *inside* a namespace (opening a netlink or
//! ICMP socket) runs on a short-lived thread that entered it, so no pooled thread is ever left
//! in the wrong namespace.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

pub const NETNS_DIR: &str = "/run/netns";

pub fn path(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

pub fn exists(name: &str) -> bool {
    path(name).symlink_metadata().is_ok()
}

/// Names of every namespace in /run/netns.
pub fn list() -> io::Result<Vec<String>> {
    match std::fs::read_dir(NETNS_DIR) {
        Ok(rd) => Ok(rd
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Make /run/netns a shared mount point, as `ip netns add` does, so that namespace mounts
/// propagate to other mount namespaces.
pub fn prepare_dir() -> io::Result<()> {
    std::fs::create_dir_all(NETNS_DIR)?;
    let shared = MsFlags::MS_SHARED | MsFlags::MS_REC;
    match mount(None::<&str>, NETNS_DIR, Some("none"), shared, None::<&str>) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EINVAL) => {
            // Not a mount point yet: bind it onto itself first, then make it shared.
            mount(
                Some(NETNS_DIR),
                NETNS_DIR,
                Some("none"),
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )?;
            mount(None::<&str>, NETNS_DIR, Some("none"), shared, None::<&str>)?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Why creating a namespace failed: `Exists` means somebody else's namespace has that name,
/// which the caller must never remove.
#[derive(Debug)]
pub enum CreateError {
    Exists,
    Io(io::Error),
}

impl std::fmt::Display for CreateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CreateError::Exists => write!(f, "a namespace with that name already exists"),
            CreateError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Create the namespace `name` and run `inside` on a thread that is in it (to open sockets
/// there). The mount point is created with O_EXCL: a name that exists is never taken over.
pub fn create<T: Send + 'static>(
    name: &str,
    inside: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> Result<T, CreateError> {
    let target = path(name);
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o444)
        .open(&target)
        .map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                CreateError::Exists
            } else {
                CreateError::Io(e)
            }
        })?;
    let t = target.clone();
    let result = std::thread::spawn(move || -> io::Result<T> {
        unshare(CloneFlags::CLONE_NEWNET)?;
        mount(
            Some("/proc/thread-self/ns/net"),
            &t,
            Some("none"),
            MsFlags::MS_BIND,
            None::<&str>,
        )?;
        inside()
    })
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")));
    result.map_err(|e| {
        let _ = remove(name);
        CreateError::Io(e)
    })
}

/// Remove a named namespace: detach its mount and delete the mount point. The kernel frees
/// the namespace, with every link, address and route in it, once nothing else holds it.
pub fn remove(name: &str) -> io::Result<()> {
    let target = path(name);
    match umount2(&target, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(e.into()),
    }
    match std::fs::remove_file(&target) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// An open handle on a namespace (for IFLA_NET_NS_FD and setns).
pub fn open(name: &str) -> io::Result<File> {
    File::open(path(name))
        .map_err(|e| io::Error::new(e.kind(), format!("opening namespace {name}: {e}")))
}

/// Run `f` on a fresh thread that has entered the namespace at `ns_path`.
pub fn run_in_path<T: Send + 'static>(
    ns_path: &Path,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let file = File::open(ns_path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("opening namespace {}: {e}", ns_path.display()),
        )
    })?;
    std::thread::spawn(move || -> io::Result<T> {
        setns(&file, CloneFlags::CLONE_NEWNET)?;
        f()
    })
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")))
}

/// Run `f` inside the named namespace.
pub fn run_in<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    run_in_path(&path(name), f)
}

/// Move the *calling thread* into the namespace at `ns_path`. Only for scoped worker threads
/// that exit when their work is done (the observer's), so no thread outlives its stay.
pub fn enter_path(ns_path: &Path) -> io::Result<()> {
    let file = File::open(ns_path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("opening namespace {}: {e}", ns_path.display()),
        )
    })?;
    setns(&file, CloneFlags::CLONE_NEWNET)?;
    Ok(())
}

/// Run `f` on a fresh thread inside a new, unnamed network namespace (a probe). Nothing is
/// mounted: the namespace lives as long as the thread or a socket opened in it, and everything
/// created in it goes with it. The root namespace is never entered.
pub fn run_in_temporary<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    std::thread::spawn(move || -> io::Result<T> {
        unshare(CloneFlags::CLONE_NEWNET)?;
        f()
    })
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")))
}

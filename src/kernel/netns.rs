//! Named network namespaces, kept exactly as `ip netns` keeps them: a bind mount of the
//! namespace on `/run/netns/<name>`. This module is the only place that calls `unshare`,
//! `setns` or `mount`; everything that must happen *inside* a namespace (opening a netlink or
//! ICMP socket) runs on a short-lived thread that entered it, so no pooled thread is ever left
//! in the wrong namespace.
//!
//! Ownership is by identity, never by name. [`create`] reports two identities before each of
//! them can be seen at the name: the placeholder file under `/run/netns` (a tmpfs inode) and
//! the namespace itself (its nsfs inode). [`remove`] unmounts and unlinks only when what is at
//! the name still *is* those objects; anything else (a namespace another tool made under that
//! name after a crash, a symbolic link, a FIFO) is reported and left alone. Nothing here
//! follows a symbolic link: `/run/netns` is opened with RESOLVE_NO_SYMLINKS and every name in
//! it with O_NOFOLLOW, and mounts and unmounts go through `/proc/self/fd` of a file that was
//! checked, so a name swapped in between cannot redirect them.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nix::errno::Errno;
use nix::fcntl::{openat, openat2, AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::stat::{fstat, fstatat, Mode, SFlag};
use nix::unistd::{linkat, unlinkat, UnlinkatFlags};
use serde::{Deserialize, Serialize};

pub const NETNS_DIR: &str = "/run/netns";
/// iproute2's per-namespace /etc: `ip netns exec NAME` binds the files of `/etc/netns/NAME/`
/// over /etc.
pub const ETC_NETNS: &str = "/etc/netns";

pub fn path(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

/// What a file is, independently of its name: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Identity {
    pub dev: u64,
    pub ino: u64,
}

impl Identity {
    fn of(st: &nix::sys::stat::FileStat) -> Identity {
        Identity {
            dev: st.st_dev,
            ino: st.st_ino,
        }
    }
    pub fn of_fd(fd: impl AsFd) -> io::Result<Identity> {
        Ok(Identity::of(&fstat(fd)?))
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.dev, self.ino)
    }
}

/// A name `ip netns` accepts: one path component, not `.` or `..`, no NUL, at most NAME_MAX.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.contains('\0')
}

fn invalid(name: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{name:?} is not a namespace name"),
    )
}

/// The device number of nsfs, read once from our own namespace file: every namespace inode
/// shares it, so a file with another device is not a namespace.
fn nsfs_dev() -> io::Result<u64> {
    static DEV: OnceLock<u64> = OnceLock::new();
    if let Some(d) = DEV.get() {
        return Ok(*d);
    }
    let d = std::fs::metadata("/proc/self/ns/net")?;
    use std::os::unix::fs::MetadataExt;
    Ok(*DEV.get_or_init(|| d.dev()))
}

/// `/run/netns`, opened without following a symbolic link anywhere on the way.
fn open_dir() -> io::Result<OwnedFd> {
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS);
    openat2(nix::fcntl::AT_FDCWD, NETNS_DIR, how).map_err(|e| {
        let e = io::Error::from(e);
        match e.raw_os_error() {
            Some(libc::ELOOP) => io::Error::new(
                e.kind(),
                format!(
                    "{NETNS_DIR} is reached through a symbolic link; netlab does not follow it"
                ),
            ),
            _ => e,
        }
    })
}

/// What is at a name in /run/netns, looked at without opening it (a FIFO or a device is
/// never opened).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    Missing,
    /// A mounted namespace with this identity.
    Namespace(Identity),
    /// A regular file that is not a mounted namespace (an unmounted mount point, or junk).
    File(Identity),
    /// Anything else: a symbolic link, FIFO, directory, socket or device.
    Other(&'static str),
}

impl Found {
    pub fn describe(&self) -> String {
        match self {
            Found::Missing => "nothing".into(),
            Found::Namespace(id) => format!("a namespace (inode {})", id.ino),
            Found::File(_) => "a plain file (no namespace mounted on it)".into(),
            Found::Other(k) => (*k).to_string(),
        }
    }
}

fn kind(mode: u32) -> Option<&'static str> {
    match SFlag::from_bits_truncate(mode & SFlag::S_IFMT.bits()) {
        SFlag::S_IFLNK => Some("a symbolic link"),
        SFlag::S_IFIFO => Some("a FIFO"),
        SFlag::S_IFDIR => Some("a directory"),
        SFlag::S_IFSOCK => Some("a socket"),
        SFlag::S_IFCHR => Some("a character device"),
        SFlag::S_IFBLK => Some("a block device"),
        _ => None,
    }
}

fn found_at(dir: &OwnedFd, name: &str) -> io::Result<Found> {
    match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(classify(&st)?),
        Err(Errno::ENOENT) => Ok(Found::Missing),
        Err(e) => Err(e.into()),
    }
}

fn classify(st: &nix::sys::stat::FileStat) -> io::Result<Found> {
    if let Some(k) = kind(st.st_mode) {
        return Ok(Found::Other(k));
    }
    if st.st_dev == nsfs_dev()? {
        Ok(Found::Namespace(Identity::of(st)))
    } else {
        Ok(Found::File(Identity::of(st)))
    }
}

/// What is at `/run/netns/<name>`.
pub fn probe(name: &str) -> io::Result<Found> {
    if !valid_name(name) {
        return Err(invalid(name));
    }
    match open_dir() {
        Ok(dir) => found_at(&dir, name),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Found::Missing),
        Err(e) => Err(e),
    }
}

pub fn exists(name: &str) -> bool {
    !matches!(probe(name), Ok(Found::Missing))
}

/// Names of every entry in /run/netns (whatever they are; [`probe`] tells). Names that are
/// not UTF-8 are returned escaped, so they are shown rather than silently left out.
pub fn list() -> io::Result<Vec<String>> {
    let rd = match std::fs::read_dir(NETNS_DIR) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    if std::fs::symlink_metadata(NETNS_DIR)?
        .file_type()
        .is_symlink()
    {
        return Err(io::Error::other(format!(
            "{NETNS_DIR} is a symbolic link; netlab does not follow it"
        )));
    }
    Ok(rd
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect())
}

/// Make /run/netns a shared mount point, as `ip netns add` does, so that namespace mounts
/// propagate to other mount namespaces. A symbolic link at /run/netns is refused.
pub fn prepare_dir() -> io::Result<()> {
    match std::fs::symlink_metadata(NETNS_DIR) {
        Ok(m) if !m.is_dir() => {
            return Err(io::Error::other(format!(
                "{NETNS_DIR} is not a directory ({}); netlab does not follow or replace it",
                if m.file_type().is_symlink() {
                    "a symbolic link"
                } else {
                    "something else"
                }
            )))
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::create_dir_all(NETNS_DIR)?,
        Err(e) => return Err(e),
    }
    let dir = open_dir()?;
    let target = fd_path(&dir);
    let shared = MsFlags::MS_SHARED | MsFlags::MS_REC;
    match mount(None::<&str>, &target, Some("none"), shared, None::<&str>) {
        Ok(()) => Ok(()),
        Err(Errno::EINVAL) => {
            // Not a mount point yet: bind it onto itself first, then make it shared.
            mount(
                Some(&target),
                &target,
                Some("none"),
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )?;
            let dir = open_dir()?;
            mount(
                None::<&str>,
                &fd_path(&dir),
                Some("none"),
                shared,
                None::<&str>,
            )?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// `/proc/self/fd/N`: a path that resolves to exactly the file `fd` refers to.
fn fd_path(fd: &impl AsRawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
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

impl From<io::Error> for CreateError {
    fn from(e: io::Error) -> Self {
        CreateError::Io(e)
    }
}

impl From<Errno> for CreateError {
    fn from(e: Errno) -> Self {
        CreateError::Io(e.into())
    }
}

/// The two identities of a namespace netlab made, in the order they come into being.
#[derive(Debug, Clone, Copy)]
pub enum Step {
    /// The mount point file, created unnamed (O_TMPFILE) and reported before it gets its name.
    Placeholder(Identity),
    /// The namespace, reported before it is mounted on the placeholder.
    Namespace(Identity),
}

/// What [`create`] hands back: `inside`'s result and an open handle on the new namespace,
/// which callers use instead of the name from then on (IFLA_NET_NS_FD, setns).
pub struct Created<T> {
    pub value: T,
    pub handle: File,
    pub identity: Identity,
    /// The mount point file's identity.
    pub placeholder: Identity,
}

/// Create the namespace `name` and run `inside` on a thread that is in it (to open sockets
/// there). `record` is called with each identity before it can be seen under the name, so a
/// crash at any point leaves nothing at the name that the journal cannot prove is netlab's.
/// A name that exists is never taken over: the placeholder is linked in with linkat, which
/// fails if the name is taken.
pub fn create<T: Send + 'static>(
    name: &str,
    record: impl Fn(Step) -> io::Result<()> + Send + 'static,
    inside: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> Result<Created<T>, CreateError> {
    if !valid_name(name) {
        return Err(invalid(name).into());
    }
    let dir = open_dir()?;
    let tmp = openat(
        &dir,
        ".",
        OFlag::O_TMPFILE | OFlag::O_RDWR | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o444),
    )?;
    let placeholder = Identity::of_fd(&tmp)?;
    record(Step::Placeholder(placeholder))?;
    match linkat(&tmp, "", &dir, name, AtFlags::AT_EMPTY_PATH) {
        Ok(()) => {}
        Err(Errno::EEXIST) => return Err(CreateError::Exists),
        Err(e) => return Err(e.into()),
    }
    drop(tmp);
    let name2 = name.to_string();
    let result = std::thread::spawn(move || -> io::Result<Created<T>> {
        unshare(CloneFlags::CLONE_NEWNET)?;
        let handle = File::open("/proc/thread-self/ns/net")?;
        let identity = Identity::of_fd(&handle)?;
        record(Step::Namespace(identity))?;
        // Mount on the placeholder we linked, through its fd: if the name was swapped in the
        // meantime, refuse rather than mount over somebody else's file.
        let at = openat(
            &dir,
            name2.as_str(),
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        if Identity::of_fd(&at)? != placeholder {
            return Err(io::Error::other(format!(
                "{NETNS_DIR}/{name2} was replaced while netlab was creating it"
            )));
        }
        mount(
            Some("/proc/thread-self/ns/net"),
            &fd_path(&at),
            Some("none"),
            MsFlags::MS_BIND,
            None::<&str>,
        )?;
        let value = inside()?;
        Ok(Created {
            value,
            handle,
            identity,
            placeholder,
        })
    })
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")));
    result.map_err(|e| {
        let _ = remove(name, None, Some(placeholder));
        CreateError::Io(e)
    })
}

/// What [`remove`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// netlab's namespace (or its bare placeholder) was there and is gone.
    Removed,
    /// Nothing was there.
    Absent,
    /// Something that is not netlab's is at the name; it was left alone.
    NotOurs(String),
}

/// Remove the namespace at `name` if, and only if, it is the one netlab created: the mounted
/// namespace must have identity `ns`, and the mount point file identity `file`. Either may be
/// unknown (`None`) when a crash came before it was recorded; then only the other can match.
/// Anything else at the name is left alone and described in [`Removal::NotOurs`].
pub fn remove(name: &str, ns: Option<Identity>, file: Option<Identity>) -> io::Result<Removal> {
    if !valid_name(name) {
        return Err(invalid(name));
    }
    let dir = match open_dir() {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Removal::Absent),
        Err(e) => return Err(e),
    };
    let mut unmounted = false;
    loop {
        let at = match openat(
            &dir,
            name,
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => {
                return Ok(if unmounted {
                    Removal::Removed
                } else {
                    Removal::Absent
                })
            }
            Err(e) => return Err(e.into()),
        };
        let st = fstat(&at)?;
        match classify(&st)? {
            Found::Missing => unreachable!(),
            Found::Namespace(id) if Some(id) == ns => {
                // Unmount exactly the mount we checked, through its fd (a name swapped in
                // between cannot redirect it); then look again: the placeholder is below.
                match umount2(&fd_path(&at), MntFlags::MNT_DETACH) {
                    Ok(()) => unmounted = true,
                    Err(e) => return Err(e.into()),
                }
            }
            // After unmounting our namespace, the file below is the mount point we made (a
            // journal from before identities has no placeholder entry).
            Found::File(id) if Some(id) == file || (unmounted && file.is_none()) => {
                drop(at);
                return match unlinkat(&dir, name, UnlinkatFlags::NoRemoveDir) {
                    Ok(()) | Err(Errno::ENOENT) => Ok(Removal::Removed),
                    Err(e) => Err(e.into()),
                };
            }
            other => {
                if unmounted {
                    return Ok(Removal::Removed);
                }
                return Ok(Removal::NotOurs(match other {
                    Found::Namespace(_) if ns.is_none() => {
                        "a namespace netlab has no record of creating".into()
                    }
                    Found::Namespace(_) => "another namespace than the one netlab created".into(),
                    Found::File(_) => "a file netlab did not create".into(),
                    o => o.describe(),
                }));
            }
        }
    }
}

/// An open handle on a named namespace (for IFLA_NET_NS_FD and setns). The name is looked up
/// without following symbolic links and must be a mounted network namespace: a FIFO, device
/// or plain file is refused without being opened for reading.
pub fn open(name: &str) -> io::Result<File> {
    if !valid_name(name) {
        return Err(invalid(name));
    }
    let dir = open_dir().map_err(|e| ctx(name, e))?;
    let at = openat(
        &dir,
        name,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| ctx(name, e.into()))?;
    reopen_namespace(&at).map_err(|e| ctx(name, e))
}

fn ctx(name: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("opening namespace {name}: {e}"))
}

/// A readable handle on the namespace an O_PATH fd refers to, if it is one.
fn reopen_namespace(at: &OwnedFd) -> io::Result<File> {
    let st = fstat(at)?;
    match classify(&st)? {
        Found::Namespace(_) => {}
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("not a network namespace: {}", other.describe()),
            ))
        }
    }
    let f = File::open(fd_path(at))?;
    if Identity::of_fd(&f)? != Identity::of(&st) {
        return Err(io::Error::other("changed while being opened"));
    }
    Ok(f)
}

/// Open the namespace file at any path (a named namespace, /var/run/docker/netns/*,
/// /proc/PID/ns/net) safely: the last component is not followed if it is a symbolic link
/// (except /proc's magic links, which are how a process's namespace is reached), and anything
/// that is not a namespace is refused without being opened for reading, so a FIFO cannot hang
/// netlab.
pub fn open_path(ns_path: &Path) -> io::Result<File> {
    let proc_link = ns_path.starts_with("/proc/");
    let flags = if proc_link {
        OFlag::O_PATH | OFlag::O_CLOEXEC
    } else {
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
    };
    let at = openat(nix::fcntl::AT_FDCWD, ns_path, flags, Mode::empty()).map_err(|e| {
        io::Error::new(
            io::Error::from(e).kind(),
            format!("opening namespace {}: {e}", ns_path.display()),
        )
    })?;
    reopen_namespace(&at).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("opening namespace {}: {e}", ns_path.display()),
        )
    })
}

/// What a path that should hold a namespace holds, without opening it.
pub fn probe_path(ns_path: &Path) -> io::Result<Found> {
    match std::fs::symlink_metadata(ns_path) {
        Ok(m) => {
            let ft = m.file_type();
            if ft.is_symlink() && !ns_path.starts_with("/proc/") {
                return Ok(Found::Other("a symbolic link"));
            }
            if ft.is_fifo() {
                return Ok(Found::Other("a FIFO"));
            }
            let st = nix::sys::stat::stat(ns_path)?;
            classify(&st)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Found::Missing),
        Err(e) => Err(e),
    }
}

/// Run `f` on a fresh thread that has entered the namespace `handle` refers to.
pub fn run_in_handle<T: Send + 'static>(
    handle: &File,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let file = handle.try_clone()?;
    std::thread::spawn(move || -> io::Result<T> {
        setns(&file, CloneFlags::CLONE_NEWNET)?;
        f()
    })
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")))
}

/// Run `f` on a fresh thread that has entered the namespace at `ns_path`.
pub fn run_in_path<T: Send + 'static>(
    ns_path: &Path,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let file = open_path(ns_path)?;
    run_in_handle(&file, f)
}

/// Run `f` inside the named namespace.
pub fn run_in<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let file = open(name)?;
    run_in_handle(&file, f)
}

/// Move the *calling thread* into the namespace at `ns_path`. Only for scoped worker threads
/// that exit when their work is done (the observer's), so no thread outlives its stay.
pub fn enter_path(ns_path: &Path) -> io::Result<()> {
    let file = open_path(ns_path)?;
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

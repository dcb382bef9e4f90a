//! What netlab remembers about a lab: `/run/netlab/<lab>/` holds a lock (one process per lab),
//! the journal (every object, written before it is created, and the identity of every
//! namespace netlab made, written before it can be seen) and the record (the checked lab, so
//! `check`, `status` and `down` never need the lab file). /run is tmpfs: a reboot forgets labs
//! exactly when the kernel forgets their namespaces.
//!
//! Nothing here trusts the state directory blindly: paths are opened relative to a directory
//! fd, never through a symbolic link; the lock is re-checked after it is taken (a `down` may
//! have removed the file it locked); journal entries are validated against the lab's own
//! namespace names before anything acts on them; only files netlab writes are ever removed;
//! and a damaged lab's state is reported as that lab's problem, never as every lab's.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use nix::errno::Errno;
use nix::fcntl::{
    openat, openat2, renameat, AtFlags, Flock, FlockArg, OFlag, OpenHow, ResolveFlag,
};
use nix::sys::stat::{fstat, fstatat, mkdirat, Mode};
use nix::unistd::{unlinkat, UnlinkatFlags};
use serde::{Deserialize, Serialize};

use crate::kernel::netns::{self, Identity};
use crate::plan::{Namespace, Object};
use crate::spec::Lab;

pub const STATE_DIR: &str = "/run/netlab";

/// The files netlab writes in a lab's directory; nothing else there is ever removed.
const LOCK: &str = "lock";
const JOURNAL: &str = "journal.jsonl";
const RECORD: &str = "lab.json";
const RECORD_TMP: &str = "lab.json.tmp";
/// `etc/<ns>/<file>`: the files `/etc/netns/<ns>` links to (hosts, resolv.conf).
const ETC: &str = "etc";

pub fn dir(lab: &str) -> PathBuf {
    Path::new(STATE_DIR).join(lab)
}

/// One journal line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "entry", rename_all = "kebab-case")]
pub enum Entry {
    /// About to create this namespace (everything else lives inside one).
    Namespace(Namespace),
    /// The namespace already existed: it is somebody else's and must never be removed.
    NotCreated {
        name: String,
    },
    /// The mount point file netlab made for `name`, before it was given that name.
    Placeholder {
        name: String,
        file: Identity,
    },
    /// The namespace netlab made for `name`, before it was mounted there.
    Created {
        name: String,
        ns: Identity,
    },
    Object(Object),
    /// About to make `/etc/netns/<name>` (a symbolic link to the lab's files for namespace
    /// `name`, see [`LabState::write_etc`]).
    EtcNetns {
        name: String,
    },
}

impl Entry {
    /// The journal line for one identity of namespace `name` as it comes into being.
    pub fn identity(name: &str, step: crate::kernel::netns::Step) -> Entry {
        use crate::kernel::netns::Step;
        match step {
            Step::Placeholder(file) => Entry::Placeholder {
                name: name.to_string(),
                file,
            },
            Step::Namespace(ns) => Entry::Created {
                name: name.to_string(),
                ns,
            },
        }
    }
}

/// A namespace netlab made, by identity: what `down` may remove.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OwnedNamespace {
    pub name: String,
    /// The namespace's nsfs identity, once it existed.
    pub ns: Option<Identity>,
    /// The mount point file's identity, once it existed.
    pub file: Option<Identity>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub lab: Lab,
    /// Unix time `up` started.
    pub created: u64,
    pub complete: bool,
    pub namespaces: Vec<Namespace>,
    pub objects: usize,
    /// Every namespace the lab made, by identity (written when the lab is complete, so `down`
    /// can still prove what is its own if the journal is lost).
    #[serde(default)]
    pub owned: Vec<OwnedNamespace>,
    /// Namespaces a runtime change removed: their journal entries are the lab's still.
    #[serde(default)]
    pub retired: Vec<String>,
}

/// `/run/netlab`, opened without following a symbolic link; created if `create`.
fn open_root(create: bool) -> io::Result<OwnedFd> {
    if create {
        match std::fs::symlink_metadata(STATE_DIR) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => match std::fs::create_dir(STATE_DIR) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            },
            _ => {}
        }
    }
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS);
    openat2(nix::fcntl::AT_FDCWD, STATE_DIR, how).map_err(|e| match e {
        Errno::ELOOP => io::Error::other(format!(
            "{STATE_DIR} is reached through a symbolic link; netlab does not follow it"
        )),
        Errno::ENOTDIR => io::Error::other(format!("{STATE_DIR} is not a directory")),
        e => e.into(),
    })
}

/// A lab's directory, opened without following a symbolic link.
fn open_lab_dir(root: &OwnedFd, lab: &str) -> io::Result<OwnedFd> {
    openat(
        root,
        lab,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        Errno::ENOTDIR | Errno::ELOOP => io::Error::other(format!(
            "{STATE_DIR}/{lab} is not a directory (a symbolic link or a file); netlab does not follow it; remove it"
        )),
        e => e.into(),
    })
}

/// Read a regular file in `dir` without following a symbolic link or blocking on a FIFO.
/// `None` if it does not exist.
fn read_at(dir: &OwnedFd, name: &str, limit: u64) -> io::Result<Option<Vec<u8>>> {
    let fd = match openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(Errno::ELOOP) => {
            return Err(io::Error::other(format!(
                "{name} is a symbolic link; netlab does not follow it"
            )))
        }
        Err(e) => return Err(e.into()),
    };
    let st = fstat(&fd)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(io::Error::other(format!("{name} is not a regular file")));
    }
    let mut bytes = Vec::new();
    File::from(fd).take(limit).read_to_end(&mut bytes)?;
    Ok(Some(bytes))
}

fn create_at(dir: &OwnedFd, name: &str, extra: OFlag) -> io::Result<File> {
    openat(
        dir,
        name,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | extra,
        Mode::from_bits_truncate(0o600),
    )
    .map(File::from)
    .map_err(|e| match e {
        Errno::ELOOP => io::Error::other(format!(
            "{name} is a symbolic link; netlab does not follow it"
        )),
        e => e.into(),
    })
}

/// Where `/etc/netns/<ns>` of lab `lab` links to.
pub fn etc_dir(lab: &str, ns: &str) -> PathBuf {
    dir(lab).join(ETC).join(ns)
}

/// A directory in `dir`, opened without following a symbolic link.
fn open_dir_at(dir: &OwnedFd, name: &str) -> io::Result<OwnedFd> {
    openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(io::Error::from)
}

/// Directory `name` in `dir`, made (0755) if missing, then opened without following a link.
fn mkdir_open(dir: &OwnedFd, name: &str) -> io::Result<OwnedFd> {
    match mkdirat(dir, name, Mode::from_bits_truncate(0o755)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(e.into()),
    }
    open_dir_at(dir, name)
}

/// Remove namespace `ns`'s files (only the regular files netlab writes) and its directory.
fn remove_etc_ns(etc: &OwnedFd, ns: &str) -> Result<()> {
    let d = match open_dir_at(etc, ns) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    for f in crate::plan::names::FILES {
        for name in [f.to_string(), format!("{f}.tmp")] {
            if let Ok(st) = fstatat(&d, name.as_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
                if st.st_mode & libc::S_IFMT == libc::S_IFREG {
                    match unlinkat(&d, name.as_str(), UnlinkatFlags::NoRemoveDir) {
                        Ok(()) | Err(Errno::ENOENT) => {}
                        Err(e) => return Err(io::Error::from(e).into()),
                    }
                }
            }
        }
    }
    match unlinkat(etc, ns, UnlinkatFlags::RemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(Errno::ENOTEMPTY) => bail!("it holds files netlab did not write"),
        Err(e) => Err(io::Error::from(e).into()),
    }
}

fn same(a: &impl AsFd, dir: &OwnedFd, name: &str) -> bool {
    match (fstat(a), fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)) {
        (Ok(x), Ok(y)) => x.st_dev == y.st_dev && x.st_ino == y.st_ino,
        _ => false,
    }
}

/// The append-only journal, shared by the threads that create namespaces. Each call is one
/// `write` on an O_APPEND file, so entries from several threads never interleave.
pub struct Journal(File);

impl Journal {
    pub fn append(&self, entries: &[Entry]) -> io::Result<()> {
        let mut buf = Vec::new();
        for e in entries {
            serde_json::to_writer(&mut buf, e)?;
            buf.push(b'\n');
        }
        (&self.0).write_all(&buf)
    }
}

/// The journal as read back: valid entries, and what was skipped (and why).
#[derive(Debug, Default)]
pub struct JournalRead {
    pub present: bool,
    pub entries: Vec<Entry>,
    pub skipped: Vec<String>,
}

/// The namespaces a lab may remove, and the journal problems found on the way.
#[derive(Debug, Default)]
pub struct Owned {
    pub namespaces: Vec<OwnedNamespace>,
    /// Planned names with no identity recorded: netlab cannot prove they are its own.
    pub unproven: Vec<String>,
    pub problems: Vec<String>,
}

/// An exclusive hold on a lab's state directory.
pub struct LabState {
    pub lab: String,
    root: OwnedFd,
    dir: OwnedFd,
    _lock: Flock<File>,
    journal: Option<Arc<Journal>>,
}

impl LabState {
    /// Lock the lab's state directory, creating it if needed. Fails at once if another
    /// netlab process holds it. The lock file is unlinked only by its holder, as its last act
    /// (see [`LabState::remove`]); a lock taken on a file that is no longer the one at the
    /// name was won on a removed lab and is taken again on the new one.
    pub fn lock(lab: &str) -> Result<LabState> {
        for attempt in 0..100 {
            let root = open_root(true).context("opening /run/netlab")?;
            match mkdirat(&root, lab, Mode::from_bits_truncate(0o755)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => {
                    return Err(io::Error::from(e))
                        .with_context(|| format!("creating {}", dir(lab).display()))
                }
            }
            let d = match open_lab_dir(&root, lab) {
                Ok(d) => d,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            };
            let f = match create_at(&d, LOCK, OFlag::empty()) {
                Ok(f) => f,
                // The directory was removed under us by the `down` that held it.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(e).with_context(|| format!("opening {}/lock", dir(lab).display()))
                }
            };
            // Fault injection for tests: a process that opened the lock file, then was slow
            // to lock it (while the lab was removed and built again by others).
            if let Some(d) = std::env::var("NETLAB_LOCK_DELAY_US")
                .ok()
                .and_then(|v| v.parse().ok())
                .filter(|_| attempt == 0)
            {
                std::thread::sleep(std::time::Duration::from_micros(d));
            }
            let lock = match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
                Ok(l) => l,
                Err((_, Errno::EWOULDBLOCK)) => {
                    bail!("another netlab process is working on lab {lab} right now; wait for it to finish")
                }
                Err((_, e)) => return Err(e).context("locking the lab state"),
            };
            if !same(&d, &root, lab) || !same(&*lock, &d, LOCK) {
                continue;
            }
            return Ok(LabState {
                lab: lab.to_string(),
                root,
                dir: d,
                _lock: lock,
                journal: None,
            });
        }
        bail!("could not lock the state of lab {lab}: it keeps being removed and re-created")
    }

    pub fn record(&self) -> Result<Option<Record>> {
        parse_record(&self.lab, read_at(&self.dir, RECORD, MAX_RECORD)?)
    }

    /// Write the record atomically (a temporary file renamed over it).
    pub fn write_record(&self, r: &Record) -> Result<()> {
        let write = || -> io::Result<()> {
            let mut f = create_at(&self.dir, RECORD_TMP, OFlag::O_TRUNC)?;
            f.write_all(&serde_json::to_vec_pretty(r)?)?;
            f.sync_data()?;
            renameat(&self.dir, RECORD_TMP, &self.dir, RECORD)?;
            Ok(())
        };
        write()
            .inspect_err(|_| {
                let _ = unlinkat(&self.dir, RECORD_TMP, UnlinkatFlags::NoRemoveDir);
            })
            .with_context(|| format!("writing {}/{RECORD}", dir(&self.lab).display()))
    }

    /// The journal for appending (opened once; callers write before creating).
    pub fn journal(&mut self) -> io::Result<Arc<Journal>> {
        if self.journal.is_none() {
            let f = create_at(&self.dir, JOURNAL, OFlag::O_APPEND)?;
            self.journal = Some(Arc::new(Journal(f)));
        }
        Ok(self.journal.clone().unwrap())
    }

    /// Append entries to the journal in one write.
    pub fn append(&mut self, entries: &[Entry]) -> io::Result<()> {
        self.journal()?.append(entries)
    }

    /// The journal as written so far. Lines that are not entries are skipped and reported;
    /// a torn last line (a crash mid-write) is skipped silently.
    pub fn read_journal(&self) -> Result<JournalRead> {
        let Some(bytes) =
            read_at(&self.dir, JOURNAL, MAX_JOURNAL).context("reading the journal")?
        else {
            return Ok(JournalRead::default());
        };
        let mut out = JournalRead {
            present: true,
            ..Default::default()
        };
        let torn = !bytes.is_empty() && !bytes.ends_with(b"\n");
        let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
        let last = lines.len().saturating_sub(1);
        for (i, line) in lines.iter().enumerate() {
            if line.is_empty() || (torn && i == last) {
                continue;
            }
            match std::str::from_utf8(line)
                .ok()
                .and_then(|l| serde_json::from_str::<Entry>(l).ok())
            {
                Some(e) => out.entries.push(e),
                None => out
                    .skipped
                    .push(format!("journal line {} is not a journal entry", i + 1)),
            }
        }
        Ok(out)
    }

    /// The namespaces this lab created, newest first, by identity. Every entry is checked
    /// against the lab's naming scheme (`<lab>.` and one path component) and, when the record
    /// is readable, against its planned namespaces: an entry naming anything else (another
    /// lab's namespace, a path) is reported and ignored. With the journal lost, the record's
    /// identities stand in for it.
    pub fn owned(&self) -> Result<Owned> {
        let journal = self.read_journal()?;
        let record = self.record();
        let planned: Option<Vec<String>> = record.as_ref().ok().and_then(|r| r.as_ref()).map(|r| {
            r.namespaces
                .iter()
                .map(|n| n.name.clone())
                .chain(r.retired.iter().cloned())
                .collect()
        });
        let mut out = Owned {
            problems: journal.skipped.clone(),
            ..Default::default()
        };
        if let Err(e) = &record {
            out.problems.push(format!("{e:#}"));
        }
        let prefix = format!("{}.", self.lab);
        let acceptable = |name: &str| {
            netns::valid_name(name)
                && name.starts_with(&prefix)
                && planned.as_ref().is_none_or(|p| p.iter().any(|n| n == name))
        };
        let mut by_name: indexmap::IndexMap<String, OwnedNamespace> = indexmap::IndexMap::new();
        let mut intended: Vec<String> = Vec::new();
        let mut foreign: Vec<String> = Vec::new();
        for e in &journal.entries {
            let name = match e {
                Entry::Namespace(n) => &n.name,
                Entry::NotCreated { name }
                | Entry::Placeholder { name, .. }
                | Entry::Created { name, .. } => name,
                Entry::Object(_) | Entry::EtcNetns { .. } => continue,
            };
            if !acceptable(name) {
                out.problems.push(format!(
                    "the journal names {name:?}, which is not one of lab {}'s namespaces; ignored",
                    self.lab
                ));
                continue;
            }
            let slot = by_name
                .entry(name.clone())
                .or_insert_with(|| OwnedNamespace {
                    name: name.clone(),
                    ns: None,
                    file: None,
                });
            match e {
                Entry::Namespace(_) => intended.push(name.clone()),
                Entry::NotCreated { .. } => foreign.push(name.clone()),
                Entry::Placeholder { file, .. } => slot.file = Some(*file),
                Entry::Created { ns, .. } => slot.ns = Some(*ns),
                Entry::Object(_) | Entry::EtcNetns { .. } => {}
            }
        }
        if !journal.present || journal.entries.is_empty() {
            // The journal is gone: the complete record knows every identity.
            if let Ok(Some(r)) = &record {
                for o in &r.owned {
                    if acceptable(&o.name) {
                        by_name.insert(o.name.clone(), o.clone());
                    }
                }
                if r.owned.is_empty() {
                    intended.extend(r.namespaces.iter().map(|n| n.name.clone()));
                }
            }
        }
        for (name, o) in by_name.iter() {
            if foreign.contains(name) && o.ns.is_none() {
                continue;
            }
            if o.ns.is_some() || o.file.is_some() {
                out.namespaces.push(o.clone());
            }
        }
        for n in intended {
            let known = by_name
                .get(&n)
                .is_some_and(|o| o.ns.is_some() || o.file.is_some());
            if !known && !foreign.contains(&n) && !out.unproven.contains(&n) {
                out.unproven.push(n);
            }
        }
        out.namespaces.reverse();
        Ok(out)
    }

    /// Write the files (hosts, resolv.conf: `(name, content)`) of namespace `ns` in the lab's
    /// `etc/<ns>/`, readable by everyone as /etc files are. A file that exists is rewritten in
    /// place, as Docker rewrites a container's /etc/hosts: a process that entered the
    /// namespace before (a shell under `netlab exec`) has the file itself bound over its /etc,
    /// and sees the change; a file renamed over it would leave that process the old one.
    /// Returns the directory `/etc/netns/<ns>` links to.
    pub fn write_etc(&self, ns: &str, files: &[(&str, &str)]) -> Result<PathBuf> {
        let write = || -> io::Result<()> {
            let etc = mkdir_open(&self.dir, ETC)?;
            let d = mkdir_open(&etc, ns)?;
            for (name, content) in files {
                // No fsync: the files live on /run, forgotten at boot with the namespaces.
                // Written over, then cut to length: truncating to zero first would make
                // ext4 (when /run is no tmpfs) flush every file on close.
                let mut f = create_at(&d, name, OFlag::empty())?;
                nix::sys::stat::fchmod(&f, Mode::from_bits_truncate(0o644))?;
                f.write_all(content.as_bytes())?;
                f.set_len(content.len() as u64)?;
            }
            Ok(())
        };
        write().with_context(|| format!("writing {}/{ETC}/{ns}", dir(&self.lab).display()))?;
        Ok(etc_dir(&self.lab, ns))
    }

    /// The namespaces the lab has files for in `etc/`.
    pub fn etc_namespaces(&self) -> Vec<String> {
        // Names only: every removal goes through directory fds that follow no link.
        let Ok(rd) = std::fs::read_dir(dir(&self.lab).join(ETC)) else {
            return Vec::new();
        };
        let mut out: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| netns::valid_name(n))
            .collect();
        out.sort();
        out
    }

    /// Remove the files netlab wrote for namespace `ns` in `etc/`, and its directory.
    pub fn remove_etc(&self, ns: &str) -> Result<()> {
        let Ok(etc) = open_dir_at(&self.dir, ETC) else {
            return Ok(());
        };
        remove_etc_ns(&etc, ns)
            .with_context(|| format!("removing {}/{ETC}/{ns}", dir(&self.lab).display()))
    }

    /// Forget the lab: remove the files netlab wrote in its directory, the lock last, then
    /// the directory if nothing else is in it. Returns what was left and why.
    pub fn remove(self) -> Result<Vec<String>> {
        let mut left = Vec::new();
        for ns in self.etc_namespaces() {
            self.remove_etc(&ns)?;
        }
        match unlinkat(&self.dir, ETC, UnlinkatFlags::RemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(_) => left.push(format!(
                "{}/{ETC} holds files netlab did not write",
                dir(&self.lab).display()
            )),
        }
        for name in [RECORD_TMP, JOURNAL, RECORD] {
            match fstatat(&self.dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFREG => {
                    match unlinkat(&self.dir, name, UnlinkatFlags::NoRemoveDir) {
                        Ok(()) | Err(Errno::ENOENT) => {}
                        Err(e) => {
                            return Err(io::Error::from(e)).with_context(|| {
                                format!("removing {}/{name}", dir(&self.lab).display())
                            })
                        }
                    }
                }
                Ok(_) => left.push(format!(
                    "{}/{name} is not a file netlab wrote",
                    dir(&self.lab).display()
                )),
                Err(_) => {}
            }
        }
        // The lock goes last, while still held: whoever opened it meanwhile finds it
        // unlinked after locking and starts over on a new one.
        let _ = unlinkat(&self.dir, LOCK, UnlinkatFlags::NoRemoveDir);
        match unlinkat(&self.root, self.lab.as_str(), UnlinkatFlags::RemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(Errno::ENOTEMPTY) | Err(Errno::EEXIST) => {
                let others: Vec<String> = std::fs::read_dir(dir(&self.lab))
                    .map(|rd| {
                        rd.filter_map(|e| e.ok())
                            .map(|e| e.file_name().to_string_lossy().into_owned())
                            .filter(|n| n != LOCK)
                            .collect()
                    })
                    .unwrap_or_default();
                // Only a lock: another netlab process already started on this lab name.
                if !others.is_empty() {
                    left.push(format!(
                        "{} was kept: it holds files netlab did not write ({})",
                        dir(&self.lab).display(),
                        others.join(", ")
                    ));
                }
            }
            Err(e) => {
                return Err(io::Error::from(e))
                    .with_context(|| format!("removing {}", dir(&self.lab).display()))
            }
        }
        Ok(left)
    }
}

const MAX_RECORD: u64 = 64 << 20;
const MAX_JOURNAL: u64 = 256 << 20;

fn parse_record(lab: &str, bytes: Option<Vec<u8>>) -> Result<Option<Record>> {
    let path = dir(lab).join(RECORD);
    match bytes {
        None => Ok(None),
        Some(b) => match serde_json::from_slice::<Record>(&b) {
            Ok(r) if r.lab.name == lab => Ok(Some(r)),
            Ok(r) => bail!(
                "{} is damaged: it records lab {:?}, not {lab:?}",
                path.display(),
                r.lab.name
            ),
            Err(e) => bail!(
                "{} is damaged ({e}); `netlab down {lab}` removes what the journal proves is the lab's",
                path.display()
            ),
        },
    }
}

/// The record of a lab, read without the lock. `Ok(None)` if the lab has none; an error
/// (that lab's alone) if it is unreadable or damaged.
pub fn read_record(lab: &str) -> Result<Option<Record>> {
    if !netns::valid_name(lab) {
        return Ok(None);
    }
    let root = match open_root(false) {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let d = match open_lab_dir(&root, lab) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let bytes = read_at(&d, RECORD, MAX_RECORD)
        .with_context(|| format!("reading {}/{RECORD}", dir(lab).display()))?;
    parse_record(lab, bytes)
}

/// Whether a lab has a state directory (whatever is in it).
pub fn exists(lab: &str) -> bool {
    netns::valid_name(lab) && dir(lab).symlink_metadata().is_ok()
}

/// Names of labs with a state directory (directories only; a symbolic link is not a lab).
pub fn labs() -> Result<Vec<String>> {
    let mut out = match std::fs::read_dir(STATE_DIR) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).context("reading /run/netlab"),
    };
    out.sort();
    Ok(out)
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

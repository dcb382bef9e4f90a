//! A lab's `/etc/netns/<ns>` entries: iproute2's convention for per-namespace /etc files,
//! which `ip netns exec` (and `netlab exec`) bind over /etc. netlab puts a container's hosts
//! and resolv.conf (see `plan::names`) in the lab's state directory and makes
//! `/etc/netns/<ns>` a symbolic link to them: the files live on tmpfs with the rest of the
//! lab's state, so a reboot, which forgets the namespaces, forgets them too (a dangling link is
//! ignored by `ip netns exec`), and `down` removes the links from its journal.
//!
//! An entry is the lab's when it is a symbolic link to exactly the lab's own directory for that
//! namespace; anything else at the name (a directory of another tool, a file) is never
//! touched: `up` refuses before building anything, and `down` leaves it and says so.
//! `/etc/netns` is opened once, refusing a symbolic link, and everything in it is done
//! relative to that directory.

use std::collections::HashSet;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::fcntl::{openat2, readlinkat, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstatat, mkdirat, Mode};
use nix::unistd::{symlinkat, unlinkat, UnlinkatFlags};

use crate::plan::names::{self, NameFiles};
use crate::spec::Lab;
use crate::state::{self, Entry, LabState};

pub use crate::kernel::netns::ETC_NETNS;

/// How many threads write a lab's name files and links at once.
const WRITERS: usize = 16;

/// What is at `/etc/netns/<ns>`.
#[derive(Debug, PartialEq)]
pub enum Found {
    Missing,
    /// The lab's own link.
    Ours,
    /// Something else: what it is.
    Other(String),
}

/// `/etc/netns`, opened without following a symbolic link; None if it does not exist.
fn open_etc_netns() -> io::Result<Option<OwnedFd>> {
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS);
    match openat2(nix::fcntl::AT_FDCWD, ETC_NETNS, how) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::ENOENT) => Ok(None),
        Err(Errno::ELOOP) => Err(io::Error::other(format!(
            "{ETC_NETNS} is reached through a symbolic link; netlab does not follow it"
        ))),
        Err(Errno::ENOTDIR) => Err(io::Error::other(format!("{ETC_NETNS} is not a directory"))),
        Err(e) => Err(e.into()),
    }
}

fn probe_in(dir: &OwnedFd, lab: &str, ns: &str) -> Found {
    match fstatat(dir, ns, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Err(Errno::ENOENT) => Found::Missing,
        Err(e) => Found::Other(format!("unreadable ({e})")),
        Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => match readlinkat(dir, ns) {
            Ok(t) if Path::new(&t) == state::etc_dir(lab, ns) => Found::Ours,
            Ok(t) => Found::Other(format!("a symbolic link to {}", t.to_string_lossy())),
            Err(e) => Found::Other(format!("an unreadable symbolic link ({e})")),
        },
        Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => Found::Other("a directory".into()),
        Ok(_) => Found::Other("a file".into()),
    }
}

/// `/etc/netns/<ns>` entries lab `lab` would need that hold something not its own:
/// `path is what`.
pub fn clashes(lab: &Lab) -> Result<Vec<String>> {
    let Some(dir) = open_etc_netns()? else {
        return Ok(Vec::new());
    };
    Ok(names::files(lab)
        .iter()
        .filter_map(|f| match probe_in(&dir, &lab.name, &f.ns) {
            Found::Other(what) => Some(format!("{ETC_NETNS}/{} is {what}", f.ns)),
            _ => None,
        })
        .collect())
}

/// Make the lab's name files what `lab` says. With `old`, the lab's model before a change,
/// only the files the change alters are written (a connect in a lab of a thousand containers
/// rewrites the few it changes); without it, every one. New links are journaled, all in one
/// write, before they exist; the files and links of containers that are gone are removed.
pub fn sync(st: &mut LabState, lab: &Lab, old: Option<&Lab>) -> Result<()> {
    let files: Vec<NameFiles> = match old {
        Some(old) => names::changed_files(old, lab),
        None => names::files(lab),
    };
    let keep: HashSet<String> = names::namespaces(lab).into_iter().collect();
    // /etc/netns, made if missing (and marked, so that the last lab to leave it empty removes
    // it). Another lab's `down` may remove it, empty, between two of these steps: then it is
    // made again.
    let open = || -> Result<OwnedFd> {
        if let Some(d) = open_etc_netns()? {
            return Ok(d);
        }
        let made = match mkdirat(
            nix::fcntl::AT_FDCWD,
            ETC_NETNS,
            Mode::from_bits_truncate(0o755),
        ) {
            Ok(()) => true,
            Err(Errno::EEXIST) => false,
            Err(e) => return Err(io::Error::from(e)).context(format!("creating {ETC_NETNS}")),
        };
        let d = open_etc_netns()?.ok_or_else(|| anyhow!("{ETC_NETNS} vanished"))?;
        if made {
            mark(&d).with_context(|| format!("writing {ETC_NETNS}/{MADE}"))?;
        }
        Ok(d)
    };
    let gone: Vec<String> = st
        .etc_namespaces()
        .into_iter()
        .filter(|ns| !keep.contains(ns))
        .collect();
    if files.is_empty() && gone.is_empty() {
        return Ok(());
    }
    let dir = open()?;
    // Each container's files are its own: written by several threads at once, as creating
    // files and directories waits on the filesystem's journal when /run is no tmpfs (one
    // thread took 4 s for a thousand containers; see scripts/bench).
    let written = {
        let (st, dir) = (&*st, &dir);
        in_parallel(&files, |part| -> Result<Vec<(&str, PathBuf)>> {
            let mut missing = Vec::new();
            for f in part {
                let contents: Vec<(&str, &str)> = names::FILES
                    .iter()
                    .map(|&name| (name, f.content(name)))
                    .collect();
                let target = st.write_etc(&f.ns, &contents)?;
                match probe_in(dir, &lab.name, &f.ns) {
                    Found::Ours => {}
                    Found::Missing => missing.push((f.ns.as_str(), target)),
                    Found::Other(what) => bail!(
                        "{ETC_NETNS}/{} is {what}, not netlab's; remove it, or run this lab under another name",
                        f.ns
                    ),
                }
            }
            Ok(missing)
        })
    };
    let missing: Vec<(&str, PathBuf)> = written?.into_iter().flatten().collect();
    if !missing.is_empty() {
        let journal = st.read_journal()?;
        let journaled: HashSet<&str> = journal
            .entries
            .iter()
            .filter_map(|e| match e {
                Entry::EtcNetns { name } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        let entries: Vec<Entry> = missing
            .iter()
            .filter(|(ns, _)| !journaled.contains(ns))
            .map(|(ns, _)| Entry::EtcNetns {
                name: ns.to_string(),
            })
            .collect();
        st.append(&entries)?;
    }
    // The links too, each thread with its own handle on /etc/netns (another lab's `down` may
    // remove it, empty, meanwhile: then it is made again).
    let (open, first) = (&open, &dir);
    in_parallel(&missing, |part| -> Result<()> {
        let mut own: Option<OwnedFd> = None;
        for (ns, target) in part {
            let mut tries = 0;
            loop {
                let d = own.as_ref().unwrap_or(first);
                match symlinkat(target, d, *ns) {
                    Err(Errno::ENOENT) if tries < 3 => {
                        tries += 1;
                        own = Some(open()?);
                    }
                    r => {
                        r.with_context(|| format!("linking {ETC_NETNS}/{ns}"))?;
                        break;
                    }
                }
            }
        }
        Ok(())
    })?;
    for ns in &gone {
        if probe_in(&dir, &lab.name, ns) == Found::Ours {
            unlink(&dir, ns)?;
        }
        st.remove_etc(ns)?;
    }
    Ok(())
}

/// `work` on [`WRITERS`] slices of `items` at once, each on a thread of its own: every
/// slice's result, in order, or the first error.
fn in_parallel<'a, T: Sync, R: Send>(
    items: &'a [T],
    work: impl Fn(&'a [T]) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let chunk = items.len().div_ceil(WRITERS).max(1);
    let work = &work;
    std::thread::scope(|s| {
        let workers: Vec<_> = items
            .chunks(chunk)
            .map(|part| s.spawn(move || work(part)))
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a name-file thread panicked"))
            .collect()
    })
}

fn unlink(dir: &OwnedFd, ns: &str) -> Result<()> {
    match unlinkat(dir, ns, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(io::Error::from(e)).with_context(|| format!("removing {ETC_NETNS}/{ns}")),
    }
}

/// Remove every `/etc/netns` link the lab made (from its journal and its state directory),
/// and `/etc/netns` itself if netlab made it and it is empty now. Returns what was left alone.
/// The files they point to go with the lab's state directory.
pub fn remove(st: &LabState) -> Result<Vec<String>> {
    let journal = st.read_journal()?;
    let prefix = format!("{}.", st.lab);
    let mut names: Vec<String> = journal
        .entries
        .iter()
        .filter_map(|e| match e {
            Entry::EtcNetns { name } => Some(name.clone()),
            _ => None,
        })
        .chain(st.etc_namespaces())
        .filter(|n| n.starts_with(&prefix) && crate::kernel::netns::valid_name(n))
        .collect();
    names.sort();
    names.dedup();
    let Some(dir) = open_etc_netns()? else {
        return Ok(Vec::new());
    };
    let mut left = Vec::new();
    for ns in &names {
        match probe_in(&dir, &st.lab, ns) {
            Found::Ours => unlink(&dir, ns)?,
            Found::Missing => {}
            Found::Other(what) => left.push(format!(
                "{ETC_NETNS}/{ns}: {what}, not netlab's; left alone"
            )),
        }
    }
    // Made by netlab, and nothing but the mark is left: the last lab to leave it empty
    // removes it, whichever made it. Should an entry appear meanwhile (another lab's `up`),
    // the directory stays and so does the mark.
    let marked = fstatat(&dir, MADE, AtFlags::AT_SYMLINK_NOFOLLOW)
        .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG);
    let only_mark = || {
        std::fs::read_dir(ETC_NETNS).is_ok_and(|rd| {
            rd.filter_map(|e| e.ok())
                .all(|e| e.file_name() == std::ffi::OsStr::new(MADE))
        })
    };
    if marked && only_mark() {
        let _ = unlinkat(&dir, MADE, UnlinkatFlags::NoRemoveDir);
        match unlinkat(nix::fcntl::AT_FDCWD, ETC_NETNS, UnlinkatFlags::RemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(_) => {
                let _ = mark(&dir);
            }
        }
    }
    Ok(left)
}

/// The mark that netlab made `/etc/netns` (it did not exist): a file in it, so that the mark
/// and the directory are one thing (labs come and go in any order, in mount namespaces of
/// their own; whichever empties it last may not be the one that made it). `ip netns exec`
/// only looks at the entries named after namespaces.
const MADE: &str = ".netlab-made";

fn mark(dir: &OwnedFd) -> io::Result<()> {
    nix::fcntl::openat(
        dir,
        MADE,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o644),
    )
    .map(drop)
    .map_err(io::Error::from)
}

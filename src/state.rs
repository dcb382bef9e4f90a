//! What netlab remembers about a lab: `/run/netlab/<lab>/` holds a lock (one process per lab),
//! the journal (every object, written before it is created) and the record (the checked lab,
//! so `check`, `status` and `down` never need the lab file). /run is tmpfs: a reboot forgets
//! labs exactly when the kernel forgets their namespaces.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::plan::{Namespace, Object};
use crate::spec::Lab;

pub const STATE_DIR: &str = "/run/netlab";

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
    Object(Object),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub lab: Lab,
    /// Unix time `up` started.
    pub created: u64,
    pub complete: bool,
    pub namespaces: Vec<Namespace>,
    pub objects: usize,
}

/// An exclusive hold on a lab's state directory.
pub struct LabState {
    pub lab: String,
    dir: PathBuf,
    _lock: Flock<File>,
    journal: Option<File>,
}

impl LabState {
    /// Lock the lab's state directory, creating it if needed. Fails at once if another
    /// netlab process holds it.
    pub fn lock(lab: &str) -> Result<LabState> {
        let dir = dir(lab);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("lock"))
            .with_context(|| format!("opening {}/lock", dir.display()))?;
        let lock = match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                bail!("another netlab process is working on lab {lab} right now; wait for it to finish")
            }
            Err((_, e)) => return Err(e).context("locking the lab state"),
        };
        Ok(LabState {
            lab: lab.to_string(),
            dir,
            _lock: lock,
            journal: None,
        })
    }

    pub fn record(&self) -> Result<Option<Record>> {
        read_record(&self.lab)
    }

    pub fn write_record(&self, r: &Record) -> Result<()> {
        let tmp = self.dir.join("lab.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(r)?).context("writing the lab record")?;
        std::fs::rename(&tmp, self.dir.join("lab.json")).context("writing the lab record")?;
        Ok(())
    }

    /// Append entries to the journal in one write (callers write before creating).
    pub fn journal(&mut self, entries: &[Entry]) -> io::Result<()> {
        if self.journal.is_none() {
            self.journal = Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.dir.join("journal.jsonl"))?,
            );
        }
        let mut buf = Vec::new();
        for e in entries {
            serde_json::to_writer(&mut buf, e)?;
            buf.push(b'\n');
        }
        self.journal.as_mut().unwrap().write_all(&buf)
    }

    /// The journal as written so far; a torn last line (a crash mid-write) is ignored.
    pub fn entries(&self) -> Result<Vec<Entry>> {
        let f = match File::open(self.dir.join("journal.jsonl")) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).context("reading the journal"),
        };
        let mut out = Vec::new();
        for line in io::BufReader::new(f).lines() {
            let line = line.context("reading the journal")?;
            if let Ok(e) = serde_json::from_str(&line) {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Namespaces this lab created, newest first, minus those that turned out not to be ours.
    pub fn owned_namespaces(&self) -> Result<Vec<String>> {
        let entries = self.entries()?;
        let foreign: Vec<&str> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::NotCreated { name } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        let mut names: Vec<String> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Namespace(n) if !foreign.contains(&n.name.as_str()) => Some(n.name.clone()),
                _ => None,
            })
            .collect();
        names.reverse();
        Ok(names)
    }

    /// Forget the lab: remove its state directory (the lock goes with it).
    pub fn remove(self) -> Result<()> {
        std::fs::remove_dir_all(&self.dir)
            .with_context(|| format!("removing {}", self.dir.display()))
    }
}

pub fn read_record(lab: &str) -> Result<Option<Record>> {
    let path = dir(lab).join("lab.json");
    match std::fs::read(&path) {
        Ok(b) => Ok(Some(
            serde_json::from_slice(&b).with_context(|| format!("reading {}", path.display()))?,
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Names of labs with a state directory.
pub fn labs() -> Result<Vec<String>> {
    let mut out = match std::fs::read_dir(STATE_DIR) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
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

//! The kernel's own account of a dropped packet (`trace --capture`): a small BPF program on the
//! `skb:kfree_skb` tracepoint (a raw tracepoint: its arguments are the skb, the code location
//! and the `SKB_DROP_REASON_*`), which, for a packet freed as dropped in one of the watched
//! network namespaces, queues the reason, the location, the device, the namespace and the
//! first bytes at `skb->data` for us to read. Where `struct sk_buff` keeps those fields, and
//! what each reason number is called, comes from the running kernel's BTF
//! (`/sys/kernel/btf/vmlinux`): nothing is compiled for one kernel.
//!
//! Nothing is configured anywhere: the program, its maps and its attachment are file
//! descriptors of this process, so the kernel detaches and frees them when the [`DropWatch`]
//! is dropped or the process ends in any way (Ctrl-C and SIGKILL too).

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use btfparse::{Offset, Readable, TypeInformation, TypeVariant};

/// Bytes of the packet kept, from `skb->data`: enough for an Ethernet header, an 802.1Q tag,
/// an outer IPv4/UDP/VXLAN and the inner Ethernet, IPv4 and ICMP headers.
pub const DATA: usize = 96;

/// One packet the kernel dropped in a watched namespace.
#[derive(Debug, Clone)]
pub struct Dropped {
    /// The `SKB_DROP_REASON_*`, without its prefix ("NEIGH_FAILED"), or its number.
    pub reason: String,
    /// The kernel function that dropped it ("neigh_invalidate+0x5b"), or its address.
    pub location: String,
    /// The skb's device then (its ifindex; 0: none).
    pub ifindex: i32,
    /// The device's network namespace (its inode number).
    pub netns: u64,
    /// The first [`DATA`] bytes at `skb->data` (an L2 or an L3 header, as the drop point has it).
    pub data: Vec<u8>,
}

/// A BPF program watching for dropped packets; detached when dropped.
pub struct DropWatch {
    events: OwnedFd,
    _netns: OwnedFd,
    _prog: OwnedFd,
    _link: OwnedFd,
    reasons: HashMap<u32, String>,
}

/// Offsets the program reads at, from the kernel's BTF.
#[derive(Debug, Clone, Copy)]
struct Layout {
    skb_dev: u32,
    skb_data: u32,
    dev_ifindex: u32,
    dev_net: u32,
    net_inum: u32,
}

struct Bytes(Vec<u8>);

impl Readable for Bytes {
    fn read(&self, offset: u64, buffer: &mut [u8]) -> btfparse::Result<()> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let src = start
            .checked_add(buffer.len())
            .and_then(|end| self.0.get(start..end))
            .ok_or_else(|| {
                btfparse::Error::new(btfparse::ErrorKind::InvalidOffset, "read past the BTF")
            })?;
        buffer.copy_from_slice(src);
        Ok(())
    }
}

const BTF: &str = "/sys/kernel/btf/vmlinux";

fn unavailable(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, what.to_string())
}

/// The layout and the drop reasons' names of the running kernel.
fn read_btf() -> io::Result<(Layout, HashMap<u32, String>)> {
    let bytes = std::fs::read(BTF).map_err(|e| {
        unavailable(format!(
            "{BTF}: {e} (a kernel built with CONFIG_DEBUG_INFO_BTF)"
        ))
    })?;
    let types =
        TypeInformation::new(&Bytes(bytes)).map_err(|e| unavailable(format!("{BTF}: {e:?}")))?;
    let offset = |ty: &str, path: &str| -> io::Result<u32> {
        let id = types
            .id_of(ty)
            .ok_or_else(|| unavailable(format!("the kernel's BTF has no struct {ty}")))?;
        match types.offset_of(id, path) {
            Ok((_, Offset::ByteOffset(o))) => Ok(o),
            Ok((_, Offset::BitOffsetAndSize(..))) | Err(_) => Err(unavailable(format!(
                "the kernel's BTF has no byte field {ty}.{path}"
            ))),
        }
    };
    let layout = Layout {
        skb_dev: offset("sk_buff", "dev")?,
        skb_data: offset("sk_buff", "data")?,
        dev_ifindex: offset("net_device", "ifindex")?,
        dev_net: offset("net_device", "nd_net.net")?,
        net_inum: offset("net", "ns.inum")?,
    };
    let mut reasons = HashMap::new();
    if let Some(TypeVariant::Enum(e)) = types
        .id_of("skb_drop_reason")
        .and_then(|id| types.from_id(id))
    {
        for v in e.named_value_list() {
            let n = match v.value {
                btfparse::Integer32Value::Signed(n) => n as u32,
                btfparse::Integer32Value::Unsigned(n) => n,
            };
            let name = v.name.strip_prefix("SKB_DROP_REASON_").unwrap_or(&v.name);
            reasons.insert(n, name.to_string());
        }
    }
    Ok((layout, reasons))
}

// The bpf(2) commands, map and program types used.
const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_RAW_TRACEPOINT_OPEN: libc::c_long = 17;
const BPF_MAP_LOOKUP_AND_DELETE_ELEM: libc::c_long = 21;
const BPF_MAP_TYPE_HASH: u32 = 1;
const BPF_MAP_TYPE_QUEUE: u32 = 22;
const BPF_PROG_TYPE_RAW_TRACEPOINT: u32 = 17;

/// One event as the program queues it: location (8), reason (4), ifindex (4), netns inode (4),
/// padding (4), the packet's first bytes, then two words of scratch space.
const EVENT: usize = 24 + DATA + 16;
/// Events kept between two reads: a probe's drops, with room for a busy namespace's others.
const QUEUE: u32 = 4096;

fn bpf(cmd: libc::c_long, attr: &mut [u8; 128]) -> io::Result<libc::c_long> {
    // SAFETY: bpf(2) reads (and for some commands writes) the union bpf_attr at `attr`, of
    // the size passed; every pointer stored in it points to memory that outlives the call.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len()) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn put(attr: &mut [u8; 128], at: usize, bytes: &[u8]) {
    attr[at..at + bytes.len()].copy_from_slice(bytes);
}

fn fd(r: libc::c_long) -> OwnedFd {
    // SAFETY: `r` is a file descriptor bpf(2) just returned to us.
    unsafe { OwnedFd::from_raw_fd(r as i32) }
}

fn map(kind: u32, key: u32, value: u32, entries: u32) -> io::Result<OwnedFd> {
    let mut a = [0u8; 128];
    put(&mut a, 0, &kind.to_ne_bytes());
    put(&mut a, 4, &key.to_ne_bytes());
    put(&mut a, 8, &value.to_ne_bytes());
    put(&mut a, 12, &entries.to_ne_bytes());
    put(&mut a, 28, b"netlab_drops\0");
    bpf(BPF_MAP_CREATE, &mut a).map(fd)
}

/// One BPF instruction.
#[derive(Clone, Copy)]
struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

const MOV64_REG: u8 = 0xbf;
const MOV64_IMM: u8 = 0xb7;
const ADD64_IMM: u8 = 0x07;
const LDX_DW: u8 = 0x79;
const STX_DW: u8 = 0x7b;
const STX_W: u8 = 0x63;
const ST_W: u8 = 0x62;
const JEQ_IMM: u8 = 0x15;
const CALL: u8 = 0x85;
const EXIT: u8 = 0x95;
const LD_IMM64: u8 = 0x18;
const PSEUDO_MAP_FD: u8 = 1;
const PROBE_READ_KERNEL: i32 = 113;
const MAP_LOOKUP_ELEM: i32 = 1;
const MAP_PUSH_ELEM: i32 = 87;

/// The program: for `kfree_skb(skb, location, reason)`, read skb->dev, its ifindex and
/// namespace inode; if the namespace is one of `netns`'s keys, read the first bytes at
/// skb->data and push the event onto `events`.
fn program(l: Layout, netns: i32, events: i32) -> Vec<Insn> {
    // The event is built on the stack at r10 - EVENT.
    let base = -(EVENT as i16);
    let (loc, reason, ifindex, inum, pad, data) =
        (base, base + 8, base + 12, base + 16, base + 20, base + 24);
    let (dev, scratch) = (base + 24 + DATA as i16, base + 32 + DATA as i16);
    // probe_read_kernel(r10 + to, len, *(r10 + from) + off), or of r7 + off when from is None.
    let read = |to: i16, len: i32, from: Option<i16>, off: u32| -> Vec<Insn> {
        let mut v = vec![
            insn(MOV64_REG, 1, 10, 0, 0),
            insn(ADD64_IMM, 1, 0, 0, to.into()),
        ];
        v.push(insn(MOV64_IMM, 2, 0, 0, len));
        v.push(match from {
            Some(slot) => insn(LDX_DW, 3, 10, slot, 0),
            None => insn(MOV64_REG, 3, 7, 0, 0),
        });
        v.push(insn(ADD64_IMM, 3, 0, 0, off as i32));
        v.push(insn(CALL, 0, 0, 0, PROBE_READ_KERNEL));
        v
    };
    let mut p = vec![
        insn(MOV64_REG, 6, 1, 0, 0),
        insn(LDX_DW, 7, 6, 0, 0), // skb
        insn(LDX_DW, 1, 6, 8, 0), // location
        insn(STX_DW, 10, 1, loc, 0),
        insn(LDX_DW, 1, 6, 16, 0), // reason
        insn(STX_W, 10, 1, reason, 0),
        insn(ST_W, 10, 0, pad, 0),
    ];
    p.extend(read(dev, 8, None, l.skb_dev));
    p.extend(read(ifindex, 4, Some(dev), l.dev_ifindex));
    p.extend(read(scratch, 8, Some(dev), l.dev_net));
    p.extend(read(inum, 4, Some(scratch), l.net_inum));
    // Only the watched namespaces.
    p.extend([
        insn(LD_IMM64, 1, PSEUDO_MAP_FD, 0, netns),
        insn(0, 0, 0, 0, 0),
        insn(MOV64_REG, 2, 10, 0, 0),
        insn(ADD64_IMM, 2, 0, 0, inum.into()),
        insn(CALL, 0, 0, 0, MAP_LOOKUP_ELEM),
    ]);
    let skip_at = p.len();
    p.push(insn(JEQ_IMM, 0, 0, 0, 0)); // to the exit, patched below
    p.extend(read(scratch, 8, None, l.skb_data));
    p.extend(read(data, DATA as i32, Some(scratch), 0));
    p.extend([
        insn(LD_IMM64, 1, PSEUDO_MAP_FD, 0, events),
        insn(0, 0, 0, 0, 0),
        insn(MOV64_REG, 2, 10, 0, 0),
        insn(ADD64_IMM, 2, 0, 0, base.into()),
        insn(MOV64_IMM, 3, 0, 0, 0),
        insn(CALL, 0, 0, 0, MAP_PUSH_ELEM),
    ]);
    let exit = p.len();
    p[skip_at].off = (exit - skip_at - 1) as i16;
    p.extend([insn(MOV64_IMM, 0, 0, 0, 0), insn(EXIT, 0, 0, 0, 0)]);
    p
}

fn load(code: &[u8]) -> io::Result<OwnedFd> {
    load_logged(code, &mut [])
}

/// BPF_PROG_LOAD of the raw tracepoint program `code`, with the verifier's log in `log` if it
/// is not empty.
fn load_logged(code: &[u8], log: &mut [u8]) -> io::Result<OwnedFd> {
    let license = b"GPL\0";
    let mut a = [0u8; 128];
    put(&mut a, 0, &BPF_PROG_TYPE_RAW_TRACEPOINT.to_ne_bytes());
    put(&mut a, 4, &((code.len() / 8) as u32).to_ne_bytes());
    put(&mut a, 8, &(code.as_ptr() as u64).to_ne_bytes());
    put(&mut a, 16, &(license.as_ptr() as u64).to_ne_bytes());
    if !log.is_empty() {
        put(&mut a, 24, &1u32.to_ne_bytes());
        put(&mut a, 28, &(log.len() as u32).to_ne_bytes());
        put(&mut a, 32, &(log.as_mut_ptr() as u64).to_ne_bytes());
    }
    // Named for this process (bpftool prog show): "nldrops_<pid>", within the 15 bytes.
    let name = format!("nldrops_{}", std::process::id());
    let name = &name.as_bytes()[..name.len().min(15)];
    put(&mut a, 48, name);
    bpf(BPF_PROG_LOAD, &mut a).map(fd)
}

impl DropWatch {
    /// Watch for packets dropped in the namespaces whose inode numbers are given. An error
    /// says why the kernel cannot tell (no BTF, no BPF, no tracepoint), in words.
    pub fn start(netns: &[u64]) -> io::Result<DropWatch> {
        let (layout, reasons) = read_btf()?;
        let ns_map = map(BPF_MAP_TYPE_HASH, 4, 4, netns.len().max(1) as u32)
            .map_err(|e| unavailable(format!("bpf(BPF_MAP_CREATE): {e}")))?;
        for inum in netns {
            let key = (*inum as u32).to_ne_bytes();
            let value = 1u32.to_ne_bytes();
            let mut a = [0u8; 128];
            put(&mut a, 0, &(ns_map.as_raw_fd() as u32).to_ne_bytes());
            put(&mut a, 8, &(key.as_ptr() as u64).to_ne_bytes());
            put(&mut a, 16, &(value.as_ptr() as u64).to_ne_bytes());
            bpf(BPF_MAP_UPDATE_ELEM, &mut a)?;
        }
        let events = map(BPF_MAP_TYPE_QUEUE, 0, EVENT as u32, QUEUE)
            .map_err(|e| unavailable(format!("bpf(BPF_MAP_CREATE, queue): {e}")))?;
        let code: Vec<u8> = program(layout, ns_map.as_raw_fd(), events.as_raw_fd())
            .iter()
            .flat_map(|i| {
                let mut b = [0u8; 8];
                b[0] = i.code;
                b[1] = i.regs;
                b[2..4].copy_from_slice(&i.off.to_ne_bytes());
                b[4..8].copy_from_slice(&i.imm.to_ne_bytes());
                b
            })
            .collect();
        let prog = load(&code).or_else(|e| match e.raw_os_error() {
            // Ask again with the verifier's log, for its last words.
            Some(libc::EACCES) | Some(libc::EINVAL) => {
                let mut log = vec![0u8; 1 << 20];
                load_logged(&code, &mut log).map_err(|e| {
                    let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
                    let verifier = String::from_utf8_lossy(&log[..end]);
                    let last = verifier.lines().rev().find(|l| !l.is_empty()).unwrap_or("");
                    unavailable(format!("bpf(BPF_PROG_LOAD): {e}: {last}"))
                })
            }
            _ => Err(unavailable(format!("bpf(BPF_PROG_LOAD): {e}"))),
        })?;
        let name = b"kfree_skb\0";
        let mut a = [0u8; 128];
        put(&mut a, 0, &(name.as_ptr() as u64).to_ne_bytes());
        put(&mut a, 8, &(prog.as_raw_fd() as u32).to_ne_bytes());
        let link = bpf(BPF_RAW_TRACEPOINT_OPEN, &mut a)
            .map(fd)
            .map_err(|e| unavailable(format!("bpf(BPF_RAW_TRACEPOINT_OPEN, kfree_skb): {e}")))?;
        Ok(DropWatch {
            events,
            _netns: ns_map,
            _prog: prog,
            _link: link,
            reasons,
        })
    }

    /// Every drop queued so far, oldest first, with its reason named and its location
    /// resolved to a kernel symbol where /proc/kallsyms shows one.
    pub fn drain(&self) -> Vec<Dropped> {
        let mut raw = Vec::new();
        loop {
            let mut value = [0u8; EVENT];
            let mut a = [0u8; 128];
            put(&mut a, 0, &(self.events.as_raw_fd() as u32).to_ne_bytes());
            put(&mut a, 16, &(value.as_mut_ptr() as u64).to_ne_bytes());
            if bpf(BPF_MAP_LOOKUP_AND_DELETE_ELEM, &mut a).is_err() {
                break;
            }
            raw.push(value);
        }
        if raw.is_empty() {
            return vec![];
        }
        let symbols = Symbols::read();
        raw.into_iter()
            .map(|v| {
                let word = |at: usize| u32::from_ne_bytes(v[at..at + 4].try_into().unwrap());
                let location = u64::from_ne_bytes(v[0..8].try_into().unwrap());
                let reason = word(8);
                Dropped {
                    reason: self
                        .reasons
                        .get(&reason)
                        .cloned()
                        .unwrap_or_else(|| reason.to_string()),
                    location: symbols.name(location),
                    ifindex: word(12) as i32,
                    netns: word(16).into(),
                    data: v[24..24 + DATA].to_vec(),
                }
            })
            .collect()
    }
}

/// The kernel's text symbols, sorted by address (empty where /proc/kallsyms hides them).
struct Symbols(Vec<(u64, String)>);

impl Symbols {
    fn read() -> Symbols {
        let text = std::fs::read_to_string("/proc/kallsyms").unwrap_or_default();
        let mut v: Vec<(u64, String)> = text
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                let addr = u64::from_str_radix(f.next()?, 16).ok()?;
                let kind = f.next()?;
                let name = f.next()?;
                (addr != 0 && matches!(kind, "t" | "T")).then(|| (addr, name.to_string()))
            })
            .collect();
        v.sort_unstable();
        Symbols(v)
    }

    fn name(&self, addr: u64) -> String {
        let i = self.0.partition_point(|(a, _)| *a <= addr);
        match i.checked_sub(1).map(|i| &self.0[i]) {
            Some((a, n)) if addr - a < 1 << 20 => format!("{n}+{:#x}", addr - a),
            _ => format!("{addr:#x}"),
        }
    }
}

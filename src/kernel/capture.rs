//! Packet sockets on chosen devices of chosen namespaces (`trace --capture`): every frame that
//! crosses one of them, in or out, with the kernel's receive timestamp, its direction and the
//! VLAN tag a device took out of the frame (802.1Q offload puts it in the skb's metadata,
//! where only PACKET_AUXDATA shows it). Nothing is configured anywhere: a socket is the only
//! thing created, and it goes when the [`Taps`] are dropped or the process ends (Ctrl-C too).

use std::io;
use std::mem::{size_of, MaybeUninit};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use super::netns;

/// One device to listen on.
#[derive(Debug, Clone)]
pub struct Point<'a> {
    /// The namespace's mount path.
    pub ns_path: &'a Path,
    pub dev: &'a str,
}

/// One frame a tap saw.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Index of the [`Point`] it was seen on.
    pub tap: usize,
    /// The kernel's timestamp (CLOCK_REALTIME), in nanoseconds.
    pub at_ns: u128,
    /// Sent by the device (PACKET_OUTGOING), else received by it.
    pub outgoing: bool,
    /// The VLAN ID the device carried out of band (offloaded tag), if any.
    pub vlan: Option<u16>,
    /// The frame from its Ethernet header.
    pub data: Vec<u8>,
}

/// Open packet sockets, one per point.
pub struct Taps {
    socks: Vec<OwnedFd>,
}

const ETH_P_ALL: u16 = 0x0003;
/// tpacket_auxdata's tp_status bit: tp_vlan_tci is valid.
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
/// Large enough for a GRO'd frame of 64 KiB plus its headers.
const FRAME_MAX: usize = 65536 + 256;

/// `struct tpacket_auxdata` (linux/if_packet.h).
#[repr(C)]
#[derive(Clone, Copy)]
struct AuxData {
    tp_status: u32,
    tp_len: u32,
    tp_snaplen: u32,
    tp_mac: u16,
    tp_net: u16,
    tp_vlan_tci: u16,
    tp_vlan_tpid: u16,
}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn set_int(fd: &OwnedFd, level: libc::c_int, opt: libc::c_int, v: libc::c_int) -> io::Result<()> {
    // SAFETY: the option's value is one int, whose size is passed.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            opt,
            (&v as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

/// A packet socket bound to `dev` of the calling thread's namespace.
fn tap(dev: &str) -> io::Result<OwnedFd> {
    let index = nix::net::if_::if_nametoindex(dev)
        .map_err(|e| io::Error::new(io::ErrorKind::NotFound, format!("device {dev}: {e}")))?;
    // Protocol 0 at creation: the socket hears nothing until it is bound to the device, so no
    // frame of another device ever reaches it.
    // SAFETY: plain socket(2); the fd is owned at once.
    let fd = unsafe {
        OwnedFd::from_raw_fd(check(libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        ))?)
    };
    set_int(&fd, libc::SOL_PACKET, libc::PACKET_AUXDATA, 1)?;
    set_int(&fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)?;
    // Room for every frame of a probe's lifetime on a busy device (root may exceed rmem_max).
    set_int(&fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, 8 << 20)
        .or_else(|_| set_int(&fd, libc::SOL_SOCKET, libc::SO_RCVBUF, 8 << 20))?;
    // SAFETY: sockaddr_ll is plain data; zeroed is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { MaybeUninit::zeroed().assume_init() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = ETH_P_ALL.to_be();
    sll.sll_ifindex = index as i32;
    // SAFETY: `sll` is a sockaddr_ll of the size passed.
    check(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    })?;
    Ok(fd)
}

impl Taps {
    /// Listen on every point (each socket opened inside its namespace), or fail naming the
    /// first that cannot be listened on; the sockets opened so far are closed then.
    pub fn open(points: &[Point]) -> io::Result<Taps> {
        let mut socks = Vec::with_capacity(points.len());
        for p in points {
            let dev = p.dev.to_string();
            let fd = netns::run_in_path(p.ns_path, move || tap(&dev)).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot listen on {} in {}: {e}", p.dev, p.ns_path.display()),
                )
            })?;
            socks.push(fd);
        }
        Ok(Taps { socks })
    }

    /// Every frame the taps hold now, each tap's in the order it saw them.
    pub fn drain(&self) -> Vec<Frame> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; FRAME_MAX];
        for (i, fd) in self.socks.iter().enumerate() {
            while let Some(f) = recv(fd, &mut buf) {
                out.push(Frame { tap: i, ..f });
            }
        }
        out
    }
}

/// One frame from a nonblocking packet socket, or None when it holds no more.
fn recv(fd: &OwnedFd, buf: &mut [u8]) -> Option<Frame> {
    // SAFETY: zeroed sockaddr_ll and msghdr are valid; every pointer set below points into
    // locals or `buf`, which outlive the call, with the lengths given.
    let mut sll: libc::sockaddr_ll = unsafe { MaybeUninit::zeroed().assume_init() };
    let mut control = [0u64; 64];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut msg: libc::msghdr = unsafe { MaybeUninit::zeroed().assume_init() };
    msg.msg_name = (&mut sll as *mut libc::sockaddr_ll).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of::<[u64; 64]>();
    loop {
        // SAFETY: see above.
        let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, 0) };
        if n >= 0 {
            let len = (n as usize).min(buf.len());
            let mut frame = Frame {
                tap: 0,
                at_ns: 0,
                outgoing: sll.sll_pkttype == libc::PACKET_OUTGOING,
                vlan: None,
                data: buf[..len].to_vec(),
            };
            // SAFETY: the kernel filled msg_control up to msg_controllen with cmsghdrs, which
            // the CMSG_* macros walk; each payload is read unaligned at its declared type.
            unsafe {
                let mut c = libc::CMSG_FIRSTHDR(&msg);
                while !c.is_null() {
                    let data = libc::CMSG_DATA(c);
                    match ((*c).cmsg_level, (*c).cmsg_type) {
                        (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS) => {
                            let ts = std::ptr::read_unaligned(data.cast::<libc::timespec>());
                            frame.at_ns = ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128;
                        }
                        (libc::SOL_PACKET, libc::PACKET_AUXDATA) => {
                            let aux = std::ptr::read_unaligned(data.cast::<AuxData>());
                            if aux.tp_status & TP_STATUS_VLAN_VALID != 0 {
                                frame.vlan = Some(aux.tp_vlan_tci & 0x0fff);
                            }
                        }
                        _ => {}
                    }
                    c = libc::CMSG_NXTHDR(&msg, c);
                }
            }
            return Some(frame);
        }
        match io::Error::last_os_error().kind() {
            io::ErrorKind::Interrupted => continue,
            _ => return None,
        }
    }
}

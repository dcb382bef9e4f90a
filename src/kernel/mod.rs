//! Everything that touches the kernel: namespaces, netlink, nftables, ICMP, TCP and UDP probes.
//! Nothing outside this module calls setns, unshare, mount or opens a socket.

pub mod capture;
pub mod drops;
pub mod dump;
pub mod exec;
pub mod icmp;
pub mod l4;
pub mod netlink;
pub mod netns;
pub mod nft;
pub mod sockets;
pub mod sysctl;
pub mod tc;
pub mod xfrm;

/// One netlink message of a datagram: its type, its payload after the 16-byte header, and the
/// whole of it (for a parser that reads the header itself).
pub(crate) struct NlMessage<'a> {
    pub kind: u16,
    pub body: &'a [u8],
    pub whole: &'a [u8],
}

/// The netlink messages of one datagram, in order (a truncated one ends the walk).
pub(crate) fn nl_messages(buf: &[u8]) -> Vec<NlMessage<'_>> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + 16 <= buf.len() {
        let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
        if len < 16 || off + len > buf.len() {
            break;
        }
        out.push(NlMessage {
            kind: u16::from_ne_bytes([buf[off + 4], buf[off + 5]]),
            body: &buf[off + 16..off + len],
            whole: &buf[off..off + len],
        });
        off += (len + 3) & !3;
    }
    out
}

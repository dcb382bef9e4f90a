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

//! The one place with `unsafe`: socket options the standard library and tokio do not wrap.
//!
//! - `TCP_MD5SIG` (RFC 2385 TCP MD5 signatures, BgpPeer `conf.authPassword`), Linux only.
//! - Raw packet sockets (`AF_PACKET`) for the layer-2 responder: open, classic BPF filter,
//!   bind to one interface, link-layer multicast membership, send and receive frames.
//! - Interface facts by `ioctl` (index, flags, hardware address), read through a socket so
//!   they come from the calling thread's network namespace.
//! - `setns` of the calling thread into a named network namespace (lab tests).
//! - The TTL / hop limit of received datagrams (`IP_RECVTTL`, `recvmsg` control messages)
//!   for BFD's single-hop check.
#![allow(unsafe_code)]

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// Longest key Linux accepts (`TCP_MD5SIG_MAXKEYLEN`).
pub const MD5_MAX_KEY_LEN: usize = 80;

/// `struct tcp_md5sig` from linux/tcp.h.
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: libc::c_int,
    key: [u8; MD5_MAX_KEY_LEN],
}

/// Sets (or, with an empty key, removes) the TCP MD5 key for segments to and from `peer` on
/// `socket`. On a listening socket it applies to connections accepted from `peer`; set it
/// before `connect` on an active socket.
pub fn set_tcp_md5(socket: &impl AsRawFd, peer: IpAddr, key: &[u8]) -> io::Result<()> {
    if key.len() > MD5_MAX_KEY_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "TCP MD5 password is {} bytes; Linux allows at most {MD5_MAX_KEY_LEN}",
                key.len()
            ),
        ));
    }
    // SAFETY: sockaddr_storage and the struct are plain old data; all-zero is valid.
    let mut sig: TcpMd5Sig = unsafe { std::mem::zeroed() };
    match peer {
        IpAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for any sockaddr.
            let sin = unsafe { &mut *(&mut sig.addr as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_addr.s_addr = u32::from(a).to_be();
        }
        IpAddr::V6(a) => {
            // SAFETY: as above.
            let sin6 = unsafe { &mut *(&mut sig.addr as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_addr.s6_addr = a.octets();
        }
    }
    sig.keylen = key.len() as u16;
    sig.key[..key.len()].copy_from_slice(key);
    // SAFETY: the fd is a valid socket for the lifetime of `socket`; the option value is a
    // properly initialised struct of the size we pass.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_MD5SIG,
            &sig as *const TcpMd5Sig as *const libc::c_void,
            std::mem::size_of::<TcpMd5Sig>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Turns path MTU discovery on for `socket` (IP_MTU_DISCOVER / IPV6_MTU_DISCOVER =
/// `PMTUDISC_DO`: DF set, the kernel lowers the path MTU on ICMP "fragmentation needed").
pub fn set_path_mtu_discovery(socket: &impl AsRawFd, ipv6: bool) -> io::Result<()> {
    if ipv6 {
        set_int_option(
            socket,
            libc::IPPROTO_IPV6,
            libc::IPV6_MTU_DISCOVER,
            libc::IPV6_PMTUDISC_DO,
        )
    } else {
        set_int_option(
            socket,
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
            libc::IP_PMTUDISC_DO,
        )
    }
}

/// Asks the kernel to report the TTL (IPv4, `IP_RECVTTL`) or hop limit (IPv6,
/// `IPV6_RECVHOPLIMIT`) of every datagram received on `socket`, for [`recv_with_ttl`].
pub fn set_recv_ttl(socket: &impl AsRawFd, ipv6: bool) -> io::Result<()> {
    if ipv6 {
        set_int_option(socket, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, 1)
    } else {
        set_int_option(socket, libc::IPPROTO_IP, libc::IP_RECVTTL, 1)
    }
}

fn set_int_option(
    socket: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the fd is a valid socket for the lifetime of `socket`; the value is a c_int
    // of the size we pass.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            &value as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// One datagram read by [`recv_with_ttl`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// Bytes copied into the buffer.
    pub len: usize,
    /// The datagram was longer than the buffer (the rest is lost).
    pub truncated: bool,
    /// Its source.
    pub from: std::net::SocketAddr,
    /// The TTL or hop limit it arrived with, when the kernel reported it (see
    /// [`set_recv_ttl`]).
    pub ttl: Option<u8>,
}

/// Reads one datagram without blocking (`WouldBlock` when none is queued), with the TTL or
/// hop limit it arrived with: RFC 5881 §5 (GTSM, RFC 5082) has BFD check it on receipt.
pub fn recv_with_ttl(socket: &impl AsRawFd, buf: &mut [u8]) -> io::Result<Datagram> {
    let mut addr = socket2::SockAddrStorage::zeroed();
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // room for a few control messages, aligned for cmsghdr
    let mut control = [0u64; 16];
    // SAFETY: plain old data; all-zero is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = &mut addr as *mut socket2::SockAddrStorage as *mut libc::c_void;
    msg.msg_namelen = addr.size_of();
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: every pointer in `msg` points at live buffers of the sizes given.
    let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut ttl = None;
    // SAFETY: the kernel filled `msg_control` up to `msg_controllen`; the CMSG macros walk
    // it within those bounds, and the data of an IP_TTL / IPV6_HOPLIMIT message is a c_int.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let h = &*c;
            if (h.cmsg_level == libc::IPPROTO_IP && h.cmsg_type == libc::IP_TTL)
                || (h.cmsg_level == libc::IPPROTO_IPV6 && h.cmsg_type == libc::IPV6_HOPLIMIT)
            {
                let v = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::c_int);
                ttl = u8::try_from(v).ok();
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    // SAFETY: the kernel wrote a socket address of `msg_namelen` bytes into `addr`.
    let from = unsafe { socket2::SockAddr::new(addr, msg.msg_namelen) }
        .as_socket()
        .ok_or_else(|| io::Error::other("datagram from a non-IP address"))?;
    Ok(Datagram {
        len: n as usize,
        truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
        from,
        ttl,
    })
}

/// How a received frame reached the socket (`sll_pkttype` of `struct sockaddr_ll`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketType {
    /// Addressed to this host's MAC (`PACKET_HOST`).
    Host,
    /// Link-layer broadcast (`PACKET_BROADCAST`).
    Broadcast,
    /// Link-layer multicast (`PACKET_MULTICAST`).
    Multicast,
    /// Addressed to another host, seen in promiscuous mode (`PACKET_OTHERHOST`).
    OtherHost,
    /// Sent by this host (`PACKET_OUTGOING`): packet sockets see their own output too.
    Outgoing,
    /// Any other value (loopback, kernel-internal types).
    Other(u8),
}

impl PacketType {
    fn from_raw(t: u8) -> Self {
        match t {
            libc::PACKET_HOST => PacketType::Host,
            libc::PACKET_BROADCAST => PacketType::Broadcast,
            libc::PACKET_MULTICAST => PacketType::Multicast,
            libc::PACKET_OTHERHOST => PacketType::OtherHost,
            libc::PACKET_OUTGOING => PacketType::Outgoing,
            other => PacketType::Other(other),
        }
    }
}

/// One instruction of a classic BPF socket filter (`struct sock_filter`).
pub type SockFilter = libc::sock_filter;

/// An `AF_PACKET`/`SOCK_RAW` socket bound to one interface and one EtherType: frames are
/// read and written whole, Ethernet header included. Non-blocking, close-on-exec.
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: i32,
}

impl PacketSocket {
    /// Opens a socket that receives frames of `ethertype` on interface `ifindex`, filtered by
    /// `filter` when given (frames the filter rejects are never copied to user space).
    ///
    /// The socket is opened with protocol 0 (it receives nothing), the filter attached, and
    /// only then bound to the EtherType and interface: no frame from another interface or
    /// that the filter would reject can be queued before the filter is in place.
    pub fn open(ifindex: u32, ethertype: u16, filter: Option<&[SockFilter]>) -> io::Result<Self> {
        let ifindex = i32::try_from(ifindex).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, "interface index out of range")
        })?;
        // SAFETY: socket(2) with constant arguments; it returns a new descriptor or -1.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a descriptor we just opened and own exclusively.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        if let Some(program) = filter {
            let fprog = libc::sock_fprog {
                len: u16::try_from(program.len()).map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidInput, "BPF program too long")
                })?,
                filter: program.as_ptr() as *mut SockFilter,
            };
            // SAFETY: the fd is valid; `fprog` points at `program`, which outlives the call;
            // the kernel copies the program and does not write through the pointer.
            let rc = unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_ATTACH_FILTER,
                    &fprog as *const libc::sock_fprog as *const libc::c_void,
                    std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        let mut sll = sockaddr_ll_zeroed();
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ethertype.to_be();
        sll.sll_ifindex = ifindex;
        // SAFETY: the fd is valid; `sll` is an initialised sockaddr_ll of the size we pass.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(PacketSocket { fd, ifindex })
    }

    /// Asks the interface to accept frames sent to the link-layer multicast address `mac`
    /// (`PACKET_ADD_MEMBERSHIP`, `PACKET_MR_MULTICAST`). The kernel counts memberships per
    /// socket and drops them when the socket closes.
    pub fn add_multicast(&self, mac: [u8; 6]) -> io::Result<()> {
        self.membership(libc::PACKET_ADD_MEMBERSHIP, mac)
    }

    /// Undoes one [`add_multicast`](Self::add_multicast) of `mac`.
    pub fn drop_multicast(&self, mac: [u8; 6]) -> io::Result<()> {
        self.membership(libc::PACKET_DROP_MEMBERSHIP, mac)
    }

    fn membership(&self, op: libc::c_int, mac: [u8; 6]) -> io::Result<()> {
        let mut mreq = libc::packet_mreq {
            mr_ifindex: self.ifindex,
            mr_type: libc::PACKET_MR_MULTICAST as u16,
            mr_alen: 6,
            mr_address: [0; 8],
        };
        mreq.mr_address[..6].copy_from_slice(&mac);
        // SAFETY: the fd is valid; `mreq` is an initialised packet_mreq of the size we pass.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                op,
                &mreq as *const libc::packet_mreq as *const libc::c_void,
                std::mem::size_of::<libc::packet_mreq>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Reads one frame into `buf`; returns its length (truncated to `buf`) and how it
    /// arrived. `WouldBlock` when none is queued.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<(usize, PacketType)> {
        let mut sll = sockaddr_ll_zeroed();
        let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: the fd is valid; `buf` is writable for `buf.len()` bytes; `sll` and `len`
        // describe a writable sockaddr_ll, and the kernel writes at most `len` bytes there.
        let n = unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                0,
                &mut sll as *mut libc::sockaddr_ll as *mut libc::sockaddr,
                &mut len,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((n as usize, PacketType::from_raw(sll.sll_pkttype)))
    }

    /// Sends one whole frame (Ethernet header included) out of the bound interface.
    /// `WouldBlock` when the device queue is full.
    pub fn send(&self, frame: &[u8]) -> io::Result<usize> {
        // SAFETY: the fd is valid; `frame` is readable for `frame.len()` bytes. With no
        // address the kernel sends on the interface and protocol the socket is bound to.
        let n = unsafe {
            libc::send(
                self.fd.as_raw_fd(),
                frame.as_ptr() as *const libc::c_void,
                frame.len(),
                0,
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}

impl PacketSocket {
    /// Registers the socket with the current tokio runtime's reactor for readability.
    /// Must be called inside a runtime context (tokio panics otherwise; callers check with
    /// `Handle::try_current` first).
    pub fn into_async(self) -> io::Result<tokio::io::unix::AsyncFd<PacketSocket>> {
        // SAFETY: a PacketSocket owns its descriptor (an OwnedFd that is never replaced or
        // closed before drop), so the fd is valid and `as_raw_fd` returns the same one for
        // the AsyncFd's whole lifetime, as `register` requires.
        let registered = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(self, tokio::io::Interest::READABLE)
        };
        Ok(registered?)
    }
}

impl AsRawFd for PacketSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for PacketSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn sockaddr_ll_zeroed() -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

/// What the kernel says about one network interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InterfaceFacts {
    /// Interface index.
    pub index: u32,
    /// `IFF_*` flags (`IFF_UP`, `IFF_LOOPBACK`, …).
    pub flags: u32,
    /// `ARPHRD_*` hardware type (1 for Ethernet).
    pub hardware_type: u16,
    /// The first six bytes of the hardware address (the MAC on Ethernet).
    pub hardware_address: [u8; 6],
}

/// Looks up interface `name` in the calling thread's network namespace (`SIOCGIFINDEX`,
/// `SIOCGIFFLAGS`, `SIOCGIFHWADDR`). `NotFound`-like errors (`ENODEV`) when it does not
/// exist.
pub fn interface_facts(name: &str) -> io::Result<InterfaceFacts> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{name:?} is not a valid interface name (1 to 15 bytes, no NUL)"),
        ));
    }
    // SAFETY: socket(2) with constant arguments; it returns a new descriptor or -1.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a descriptor we just opened and own exclusively.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    let request = |cmd: libc::c_ulong| -> io::Result<libc::ifreq> {
        // SAFETY: ifreq is plain old data (a name and a union of PODs); all-zero is valid.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
            *dst = *src as libc::c_char;
        }
        // SAFETY: the fd is valid; these three requests read `ifr_name` (NUL-terminated:
        // the name is shorter than IFNAMSIZ and the rest is zero) and write only within the
        // ifreq we pass.
        let rc = unsafe { libc::ioctl(sock.as_raw_fd(), cmd as _, &mut req as *mut libc::ifreq) };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(req)
        }
    };
    let index = request(libc::SIOCGIFINDEX)?;
    let flags = request(libc::SIOCGIFFLAGS)?;
    let hw = request(libc::SIOCGIFHWADDR)?;
    // SAFETY: each union field read is the one the matching ioctl filled in.
    let (index, flags, hw) = unsafe {
        (
            index.ifr_ifru.ifru_ifindex,
            flags.ifr_ifru.ifru_flags,
            hw.ifr_ifru.ifru_hwaddr,
        )
    };
    let mut hardware_address = [0u8; 6];
    for (dst, src) in hardware_address.iter_mut().zip(hw.sa_data) {
        *dst = src as u8;
    }
    Ok(InterfaceFacts {
        index: index as u32,
        flags: u32::from(flags as u16),
        hardware_type: hw.sa_family,
        hardware_address,
    })
}

/// Moves the calling thread (only it) into the network namespace at `path` (for example
/// `/run/netns/NAME`, as `ip netns add` creates). Sockets opened afterwards by this thread,
/// and processes it spawns, live in that namespace. Used by the lab tests to run a
/// responder inside a namespace: run a current-thread runtime on a dedicated thread after
/// this call, never on a thread a multi-threaded runtime may share.
pub fn enter_network_namespace(path: &Path) -> io::Result<()> {
    let file = std::fs::File::open(path)?;
    // SAFETY: the fd is a valid open namespace file for the duration of the call.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_matches_the_kernel_layout() {
        // linux/tcp.h: 128 (sockaddr_storage) + 1 + 1 + 2 + 4 + 80
        assert_eq!(std::mem::size_of::<TcpMd5Sig>(), 216);
    }

    #[test]
    fn sets_a_key_on_a_tcp_socket_and_refuses_long_keys() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        set_tcp_md5(&l, "127.0.0.1".parse().unwrap(), b"secret").unwrap();
        set_tcp_md5(&l, "::1".parse().unwrap(), b"secret").unwrap_err(); // v6 key on a v4 socket
        let e = set_tcp_md5(&l, "127.0.0.1".parse().unwrap(), &[b'x'; 81]).unwrap_err();
        assert!(e.to_string().contains("at most 80"));
    }

    #[test]
    fn reports_the_ttl_a_datagram_arrived_with() {
        for (bind, ipv6) in [("127.0.0.1:0", false), ("[::1]:0", true)] {
            let Ok(rx) = std::net::UdpSocket::bind(bind) else {
                continue; // no IPv6 loopback here
            };
            set_recv_ttl(&rx, ipv6).unwrap();
            let tx = std::net::UdpSocket::bind(bind).unwrap();
            for ttl in [255u32, 254, 1] {
                if ipv6 {
                    socket2::SockRef::from(&tx)
                        .set_unicast_hops_v6(ttl)
                        .unwrap();
                } else {
                    tx.set_ttl(ttl).unwrap();
                }
                tx.send_to(b"hello", rx.local_addr().unwrap()).unwrap();
                let mut buf = [0u8; 3];
                let d = loop {
                    match recv_with_ttl(&rx, &mut buf) {
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                        r => break r.unwrap(),
                    }
                };
                assert_eq!(d.ttl, Some(ttl as u8));
                assert_eq!((d.len, d.truncated), (3, true));
                assert_eq!(d.from, tx.local_addr().unwrap());
            }
            let mut buf = [0u8; 8];
            let e = recv_with_ttl(&rx, &mut buf).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        }
    }

    #[test]
    fn loopback_facts_and_bad_names() {
        let lo = interface_facts("lo").unwrap();
        assert_eq!(
            lo.flags & libc::IFF_LOOPBACK as u32,
            libc::IFF_LOOPBACK as u32
        );
        assert_eq!(lo.hardware_type, libc::ARPHRD_LOOPBACK);
        assert!(lo.index >= 1);
        interface_facts("no-such-if0").unwrap_err();
        interface_facts("").unwrap_err();
        interface_facts("sixteen-bytes-xx").unwrap_err();
    }
}

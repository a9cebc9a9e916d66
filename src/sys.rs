//! The one place with `unsafe`: socket options the standard library and tokio do not wrap.
//!
//! - `TCP_MD5SIG` (RFC 2385 TCP MD5 signatures, BgpPeer `conf.authPassword`), Linux only.
#![allow(unsafe_code)]

use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;

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
}

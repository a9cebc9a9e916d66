//! Sockets: active connects (TCP MD5, source address, TTL set before the SYN) and the
//! listener, which hands each connection to the task of the neighbor it comes from and
//! refuses every other address.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::peer::PeerCommand;
use crate::telemetry::Metrics;

/// How long an active connect may take before it counts as failed.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Per-connection socket settings of one neighbor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketOptions {
    /// IP TTL / IPv6 hop limit of the session's packets.
    pub ttl: Option<u8>,
    /// TCP_MAXSEG.
    pub mss: Option<u16>,
    /// Force path MTU discovery on.
    pub mtu_discovery: bool,
}

impl SocketOptions {
    /// Applies the settings to a TCP socket of family `ipv6`. Before `connect` the MSS also
    /// bounds what our SYN announces; on an accepted socket it bounds what we send.
    pub fn apply(&self, socket: socket2::SockRef<'_>, ipv6: bool) -> std::io::Result<()> {
        if let Some(t) = self.ttl {
            if ipv6 {
                socket.set_unicast_hops_v6(t.into())?;
            } else {
                socket.set_ttl_v4(t.into())?;
            }
        }
        if let Some(mss) = self.mss {
            socket.set_tcp_mss(mss.into())?;
        }
        if self.mtu_discovery {
            crate::sys::set_path_mtu_discovery(&*socket, ipv6)?;
        }
        Ok(())
    }
}

/// Opens a connection to `addr`.
pub async fn connect(
    addr: SocketAddr,
    local: Option<IpAddr>,
    password: Option<&str>,
    options: SocketOptions,
) -> std::io::Result<TcpStream> {
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)?;
    if let Some(pw) = password {
        crate::sys::set_tcp_md5(&socket, addr.ip(), pw.as_bytes())?;
    }
    options.apply(socket2::SockRef::from(&socket), addr.is_ipv6())?;
    if let Some(l) = local {
        socket.bind(&SocketAddr::new(l, 0).into())?;
    }
    let std: std::net::TcpStream = socket.into();
    let socket = tokio::net::TcpSocket::from_std_stream(std);
    match tokio::time::timeout(CONNECT_TIMEOUT, socket.connect(addr)).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no answer from {addr} in {CONNECT_TIMEOUT:?}"),
        )),
    }
}

/// Neighbor address → its task, and MD5 keys per address, as the listener needs them.
#[derive(Default)]
pub struct Neighbors {
    /// Command channels by neighbor address.
    pub tasks: HashMap<IpAddr, mpsc::Sender<PeerCommand>>,
    /// TCP MD5 passwords by neighbor address.
    pub passwords: HashMap<IpAddr, String>,
}

/// Shared, updated by the speaker on every configuration change.
pub type SharedNeighbors = Arc<RwLock<Neighbors>>;

/// A running listener: its sockets (to update MD5 keys) and accept tasks.
pub struct Listener {
    sockets: Vec<Arc<TcpListener>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Bound addresses (port resolved).
    pub local_addrs: Vec<SocketAddr>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Listener {
    /// Binds `port` on each of `addresses` (all IPv4 and all IPv6 addresses when empty;
    /// the IPv6 socket is v6-only so each family has its own and MD5 keys stay per family).
    pub fn bind(
        addresses: &[IpAddr],
        port: u16,
        neighbors: SharedNeighbors,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Listener> {
        let addrs: Vec<IpAddr> = if addresses.is_empty() {
            vec![Ipv4Addr::UNSPECIFIED.into(), Ipv6Addr::UNSPECIFIED.into()]
        } else {
            addresses.to_vec()
        };
        let mut l = Listener {
            sockets: Vec::new(),
            tasks: Vec::new(),
            local_addrs: Vec::new(),
        };
        for a in addrs {
            let sa = SocketAddr::new(a, port);
            let socket = match listen_socket(sa) {
                Ok(s) => s,
                // a host without IPv6 still serves IPv4 when no address was asked for
                Err(e) if addresses.is_empty() && a.is_ipv6() => {
                    warn!(error = %e, "no IPv6 listener");
                    continue;
                }
                Err(e) => return Err(anyhow::anyhow!("cannot listen for BGP on {sa}: {e}")),
            };
            let socket = Arc::new(socket);
            l.local_addrs.push(socket.local_addr()?);
            l.sockets.push(socket.clone());
            let (nb, m) = (neighbors.clone(), metrics.clone());
            l.tasks.push(tokio::spawn(accept_loop(socket, nb, m)));
        }
        info!(addresses = ?l.local_addrs, "listening for BGP");
        let l = l;
        l.set_passwords(
            &neighbors
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .passwords,
        );
        Ok(l)
    }

    /// Installs the MD5 key of every neighbor on the sockets of its family, so a SYN
    /// without the right signature never completes (RFC 2385).
    pub fn set_passwords(&self, passwords: &HashMap<IpAddr, String>) {
        for s in &self.sockets {
            let v4 = s.local_addr().map(|a| a.is_ipv4()).unwrap_or(true);
            for (addr, pw) in passwords {
                if addr.is_ipv4() == v4 {
                    if let Err(e) = crate::sys::set_tcp_md5(s.as_ref(), *addr, pw.as_bytes()) {
                        warn!(neighbor = %addr, error = %e, "cannot set TCP MD5 key");
                    }
                }
            }
        }
    }

    /// Removes MD5 keys of neighbors that are gone.
    pub fn clear_passwords(&self, addrs: &[IpAddr]) {
        for s in &self.sockets {
            let v4 = s.local_addr().map(|a| a.is_ipv4()).unwrap_or(true);
            for a in addrs.iter().filter(|a| a.is_ipv4() == v4) {
                let _ = crate::sys::set_tcp_md5(s.as_ref(), *a, b"");
            }
        }
    }
}

fn listen_socket(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(128)?;
    TcpListener::from_std(socket.into())
}

async fn accept_loop(
    listener: Arc<TcpListener>,
    neighbors: SharedNeighbors,
    metrics: Arc<Metrics>,
) {
    loop {
        let (stream, from) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let ip = from.ip().to_canonical();
        let task = neighbors
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .tasks
            .get(&ip)
            .cloned();
        match task {
            Some(tx) => {
                if tx.send(PeerCommand::Incoming(stream)).await.is_err() {
                    warn!(%from, "neighbor task gone; connection closed");
                }
            }
            None => {
                // Not a configured neighbor: reset without a word (RFC 4271 §8 has no
                // session for it; an OPEN would tell a scanner what we are).
                metrics.connections_rejected.inc();
                warn!(%from, "connection from an address that is not a configured neighbor: refused");
                let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                drop(stream);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The options reach the socket before the SYN: the effective MSS is at most the
    /// configured one (loopback's own is ~65k), the TTL and hop limit are set, and
    /// path MTU discovery is accepted by the kernel on both families.
    #[tokio::test]
    async fn connect_applies_ttl_mss_and_path_mtu_discovery() {
        let options = SocketOptions {
            ttl: Some(7),
            mss: Some(600),
            mtu_discovery: true,
        };
        for bind in ["127.0.0.1:0", "[::1]:0"] {
            let Ok(l) = tokio::net::TcpListener::bind(bind).await else {
                continue; // no IPv6 loopback in this sandbox
            };
            let addr = l.local_addr().unwrap();
            let (s, _) = tokio::join!(connect(addr, None, None, options), l.accept());
            let s = s.expect("connected");
            let sock = socket2::SockRef::from(&s);
            let mss = sock.tcp_mss().unwrap();
            assert!(mss > 0 && mss <= 600, "{bind}: mss {mss}");
            if addr.is_ipv4() {
                assert_eq!(sock.ttl_v4().unwrap(), 7);
            } else {
                assert_eq!(sock.unicast_hops_v6().unwrap(), 7);
            }
        }
    }
}

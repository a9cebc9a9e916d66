//! Which interface a layer-2 Eip answers on: `spec.interface` is an interface name or
//! `can_reach:<IP>`, the interface of the kernel's route to that IP.
//!
//! The route is asked of the kernel with `ip -j route get <IP>` and the JSON parsed, rather
//! than with a hand-written rtnetlink client: it is the kernel's own answer (policy rules,
//! VRFs, metrics included), it is resolved once per Eip change, not per packet, and
//! iproute2 is present wherever porter's host-network DaemonSet runs. Index, MAC and flags
//! of the chosen interface then come from `ioctl`s (`crate::sys::interface_facts`), so the
//! hot path needs no external program.

use std::fmt;
use std::net::IpAddr;
use std::process::Command;
use std::str::FromStr;

use super::packet::MacAddr;
use crate::sys;

/// Prefix of the `can_reach:<IP>` form.
pub const CAN_REACH_PREFIX: &str = "can_reach:";

/// `IFF_LOOPBACK` from linux/if.h.
const IFF_LOOPBACK: u32 = 0x8;
/// `ARPHRD_ETHER` from linux/if_arp.h.
const ARPHRD_ETHER: u16 = 1;
/// Longest interface name Linux accepts (`IFNAMSIZ` − 1).
const MAX_NAME_LEN: usize = 15;

/// `spec.interface` of a layer-2 Eip, parsed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InterfaceSpec {
    /// An interface name, such as `eth0`.
    Name(String),
    /// The interface of the kernel's route to this address.
    CanReach(IpAddr),
}

/// A resolved interface: what the responder binds to and answers with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// Interface name.
    pub name: String,
    /// Interface index.
    pub index: u32,
    /// Its MAC address: the one replies and announcements carry.
    pub mac: MacAddr,
}

/// Why `spec.interface` cannot be used. Messages are written for an Eip condition.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InterfaceError {
    /// The field is empty.
    #[error("interface is empty: give an interface name or can_reach:<IP>")]
    Empty,
    /// Not a name Linux accepts.
    #[error("{0:?} is not a valid interface name (1 to 15 characters, no '/', ':' or whitespace)")]
    BadName(String),
    /// `can_reach:` followed by something that is not an IP address.
    #[error("{0:?}: can_reach needs an IP address, as in can_reach:192.0.2.1")]
    BadCanReach(String),
    /// The loopback interface was named or resolved: nothing on the link would see replies.
    #[error("interface {0} is the loopback interface: layer-2 mode needs an Ethernet interface on the clients' link")]
    Loopback(String),
    /// The interface does not exist in this network namespace (or cannot be queried).
    #[error("interface {name}: {source}")]
    NotFound {
        /// Interface name.
        name: String,
        /// What the kernel said.
        source: std::io::Error,
    },
    /// The interface has no Ethernet MAC (a tunnel, WireGuard, …).
    #[error("interface {name} is not Ethernet (hardware type {hardware_type}): ARP and NDP need a MAC address")]
    NotEthernet {
        /// Interface name.
        name: String,
        /// `ARPHRD_*` value.
        hardware_type: u16,
    },
    /// `can_reach:` names an address of this node: its route is local.
    #[error("can_reach:{0} is an address of this node (route type local): name an address on the clients' link")]
    LocalAddress(IpAddr),
    /// The route lookup failed (no route, `ip` missing, unexpected output).
    #[error("can_reach:{ip}: route lookup failed: {message}")]
    Route {
        /// The address looked up.
        ip: IpAddr,
        /// What failed.
        message: String,
    },
}

impl FromStr for InterfaceSpec {
    type Err = InterfaceError;

    /// Parses `eth0` or `can_reach:192.0.2.1` (`can_reach:[2001:db8::1]` is accepted too).
    /// The name `lo` is refused here; other loopback interfaces at [`resolve`](InterfaceSpec::resolve).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err(InterfaceError::Empty);
        }
        if let Some(rest) = s.strip_prefix(CAN_REACH_PREFIX) {
            let rest = rest.trim();
            let bare = rest
                .strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .unwrap_or(rest);
            return bare
                .parse()
                .map(InterfaceSpec::CanReach)
                .map_err(|_| InterfaceError::BadCanReach(s.to_owned()));
        }
        if s.len() > MAX_NAME_LEN
            || s == "."
            || s == ".."
            || s.chars()
                .any(|c| c == '/' || c == ':' || c.is_whitespace() || c == '\0')
        {
            return Err(InterfaceError::BadName(s.to_owned()));
        }
        if s == "lo" {
            return Err(InterfaceError::Loopback(s.to_owned()));
        }
        Ok(InterfaceSpec::Name(s.to_owned()))
    }
}

impl fmt::Display for InterfaceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InterfaceSpec::Name(n) => f.write_str(n),
            InterfaceSpec::CanReach(ip) => write!(f, "{CAN_REACH_PREFIX}{ip}"),
        }
    }
}

impl InterfaceSpec {
    /// Resolves the interface in the calling thread's network namespace. Blocking: for
    /// `can_reach` it runs `ip -j route get`; call it from `spawn_blocking` in async code
    /// that must not stall.
    pub fn resolve(&self) -> Result<Interface, InterfaceError> {
        let name = match self {
            InterfaceSpec::Name(n) => n.clone(),
            InterfaceSpec::CanReach(ip) => route_interface(*ip)?,
        };
        interface_by_name(&name)
    }
}

/// Looks up interface `name`: it must exist, not be a loopback and be Ethernet.
pub fn interface_by_name(name: &str) -> Result<Interface, InterfaceError> {
    let facts = sys::interface_facts(name).map_err(|source| InterfaceError::NotFound {
        name: name.to_owned(),
        source,
    })?;
    if facts.flags & IFF_LOOPBACK != 0 {
        return Err(InterfaceError::Loopback(name.to_owned()));
    }
    if facts.hardware_type != ARPHRD_ETHER {
        return Err(InterfaceError::NotEthernet {
            name: name.to_owned(),
            hardware_type: facts.hardware_type,
        });
    }
    Ok(Interface {
        name: name.to_owned(),
        index: facts.index,
        mac: MacAddr(facts.hardware_address),
    })
}

/// Runs `ip -j route get IP` and returns the output interface.
fn route_interface(ip: IpAddr) -> Result<String, InterfaceError> {
    let route_error = |message: String| InterfaceError::Route { ip, message };
    let output = Command::new("ip")
        .args(["-j", "route", "get", &ip.to_string()])
        .output()
        .map_err(|e| route_error(format!("cannot run ip: {e}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(route_error(stderr.trim().to_owned()));
    }
    parse_route_get(ip, &String::from_utf8_lossy(&output.stdout))
}

/// Reads the output interface from `ip -j route get IP` output: a JSON array whose first
/// object has `dev` (and `type: "local"` when IP is an address of this node).
pub fn parse_route_get(ip: IpAddr, json: &str) -> Result<String, InterfaceError> {
    let route_error = |message: String| InterfaceError::Route { ip, message };
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| route_error(format!("unreadable ip -j output: {e}")))?;
    let route = value
        .as_array()
        .and_then(|routes| routes.first())
        .ok_or_else(|| route_error("no route in ip -j output".to_owned()))?;
    if route.get("type").and_then(|t| t.as_str()) == Some("local") {
        return Err(InterfaceError::LocalAddress(ip));
    }
    let dev = route
        .get("dev")
        .and_then(|d| d.as_str())
        .ok_or_else(|| route_error(format!("route without an interface: {route}")))?;
    if dev == "lo" {
        return Err(InterfaceError::Loopback(dev.to_owned()));
    }
    Ok(dev.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_can_reach() {
        assert_eq!(
            "eth0".parse::<InterfaceSpec>().unwrap(),
            InterfaceSpec::Name("eth0".into())
        );
        assert_eq!(
            "can_reach:10.0.0.1".parse::<InterfaceSpec>().unwrap(),
            InterfaceSpec::CanReach("10.0.0.1".parse().unwrap())
        );
        assert_eq!(
            "can_reach:[2001:db8::1]".parse::<InterfaceSpec>().unwrap(),
            InterfaceSpec::CanReach("2001:db8::1".parse().unwrap())
        );
        assert_eq!(
            "can_reach:2001:db8::1"
                .parse::<InterfaceSpec>()
                .unwrap()
                .to_string(),
            "can_reach:2001:db8::1"
        );
    }

    #[test]
    fn refuses_lo_empty_and_bad_names() {
        let e = "lo".parse::<InterfaceSpec>().unwrap_err();
        assert!(matches!(e, InterfaceError::Loopback(_)));
        assert!(e.to_string().contains("loopback"), "{e}");
        assert!(matches!(
            " ".parse::<InterfaceSpec>(),
            Err(InterfaceError::Empty)
        ));
        for bad in ["a/b", "eth 0", "sixteen-chars-xx", "..", "eth0:1"] {
            assert!(
                matches!(
                    bad.parse::<InterfaceSpec>(),
                    Err(InterfaceError::BadName(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            "can_reach:router".parse::<InterfaceSpec>(),
            Err(InterfaceError::BadCanReach(_))
        ));
    }

    #[test]
    fn reads_the_device_of_ip_route_get() {
        let ip: IpAddr = "10.202.1.9".parse().unwrap();
        // iproute2 6.1 `ip -j route get` output, for a gateway route and an on-link one.
        let via = r#"[{"dst":"10.202.1.9","gateway":"10.202.0.1","dev":"eth1","prefsrc":"10.202.0.2","flags":[],"uid":0,"cache":[]}]"#;
        assert_eq!(parse_route_get(ip, via).unwrap(), "eth1");
        let local = r#"[{"type":"local","dst":"10.202.1.9","dev":"lo","prefsrc":"10.202.1.9","flags":[],"uid":0,"cache":["local"]}]"#;
        assert!(matches!(
            parse_route_get(ip, local),
            Err(InterfaceError::LocalAddress(_))
        ));
        let lo = r#"[{"dst":"10.202.1.9","dev":"lo","flags":[]}]"#;
        assert!(matches!(
            parse_route_get(ip, lo),
            Err(InterfaceError::Loopback(_))
        ));
        for bad in ["", "[]", "{}", r#"[{"dst":"10.202.1.9"}]"#] {
            let e = parse_route_get(ip, bad).unwrap_err();
            assert!(matches!(e, InterfaceError::Route { .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn resolving_loopback_or_a_missing_interface_fails_clearly() {
        let e = interface_by_name("lo").unwrap_err();
        assert!(matches!(e, InterfaceError::Loopback(_)), "{e}");
        let e = InterfaceSpec::Name("nosuchif9".into())
            .resolve()
            .unwrap_err();
        assert!(e.to_string().starts_with("interface nosuchif9:"), "{e}");
    }

    #[test]
    fn can_reach_a_local_address_is_refused() {
        // 127.0.0.1 is local in every namespace; only skip when iproute2 is missing.
        match InterfaceSpec::CanReach("127.0.0.1".parse().unwrap()).resolve() {
            Err(InterfaceError::LocalAddress(_)) => {}
            Err(InterfaceError::Route { message, .. }) if message.contains("cannot run ip") => {
                eprintln!("SKIPPED: iproute2 `ip` not installed: {message}");
            }
            other => panic!("expected a local-address error, got {other:?}"),
        }
    }
}

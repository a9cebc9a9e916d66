//! `porter standalone` with layer-2 Eips, in network namespaces: a client on the same link
//! resolves the Service addresses (ARP for IPv4, Neighbor Discovery for IPv6) to the node's
//! MAC, and gets no answer for an address porter does not hold.

use std::time::Duration;

use porter_lab::{skip_unless_available, wait_until, Netns, Tool};

const NODE_MAC: &str = "02:00:5e:10:20:01";

fn config() -> String {
    r#"apiVersion: network.kubesphere.io/v1alpha2
kind: Eip
metadata: {name: l2v4}
spec: {address: 10.204.1.100-10.204.1.110, protocol: layer2, interface: n-c}
---
apiVersion: network.kubesphere.io/v1alpha2
kind: Eip
metadata: {name: l2v6}
spec: {address: "2001:db8:44::100-2001:db8:44::110", protocol: layer2, interface: "can_reach:2001:db8:44::1"}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
  annotations: {lb.kubesphere.io/v1alpha1: porter, eip.openelb.kubesphere.io/v1alpha2: l2v4}
spec: {type: LoadBalancer, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata:
  name: web6
  namespace: default
  annotations: {lb.kubesphere.io/v1alpha1: porter, eip.openelb.kubesphere.io/v1alpha2: l2v6}
spec: {type: LoadBalancer, ipFamilies: [IPv6], ports: [{port: 80}]}
"#
    .to_string()
}

#[test]
fn standalone_answers_arp_and_ndp_for_layer2_service_addresses() {
    if !skip_unless_available(
        "standalone_answers_arp_and_ndp_for_layer2_service_addresses",
        &[Tool::Root, Tool::Arping, Tool::Ndisc6],
    ) {
        return;
    }
    let node = Netns::new("l2s-node").unwrap();
    let client = Netns::new("l2s-client").unwrap();
    node.veth("n-c", &client, "c-n").unwrap();
    node.set_mac("n-c", NODE_MAC).unwrap();
    node.addr("n-c", "10.204.1.2/24").unwrap();
    node.addr("n-c", "2001:db8:44::2/64").unwrap();
    client.addr("c-n", "10.204.1.1/24").unwrap();
    client.addr("c-n", "2001:db8:44::1/64").unwrap();
    let cfg = node.dir().join("porter.yaml");
    std::fs::write(&cfg, config()).unwrap();
    let cfg = cfg.to_str().unwrap().to_owned();
    let _porter = node
        .spawn(
            "porter.log",
            std::path::Path::new(env!("CARGO_BIN_EXE_porter")),
            ["standalone", "--config", &cfg, "--node-name", "node1"],
        )
        .unwrap();
    let log = node.dir().join("porter.log");
    let arp = |ip: &str| client.exec(&["arping", "-c", "1", "-w", "1", "-I", "c-n", ip]);
    let answered = wait_until(
        Duration::from_secs(20),
        "ARP answer for 10.204.1.100",
        || arp("10.204.1.100").is_ok_and(|out| out.to_lowercase().contains(NODE_MAC)),
    );
    assert!(
        answered.is_ok(),
        "no ARP answer with the node's MAC: {:?}\n{}",
        arp("10.204.1.100"),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    // an address in the pool that no Service holds gets no answer
    assert!(!arp("10.204.1.105").is_ok_and(|out| out.to_lowercase().contains(NODE_MAC)));
    let nd = |ip: &str| client.exec(&["ndisc6", "-1", "-r", "2", "-w", "500", ip, "c-n"]);
    let answered = wait_until(Duration::from_secs(20), "NA for 2001:db8:44::100", || {
        nd("2001:db8:44::100").is_ok_and(|out| out.to_lowercase().contains(NODE_MAC))
    });
    assert!(
        answered.is_ok(),
        "no Neighbor Advertisement with the node's MAC: {:?}\n{}",
        nd("2001:db8:44::100"),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(!nd("2001:db8:44::105").is_ok_and(|out| out.to_lowercase().contains(NODE_MAC)));
}

//! `porter import metallb` as a process: exit status, standard output that porter's own
//! standalone loader accepts, and the summary on standard error.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

const PORTER: &str = env!("CARGO_BIN_EXE_porter");

/// A MetalLB layer-2 setup as its documentation shows it: a pool and its L2Advertisement.
const LAYER2: &str = include_str!("data/metallb/l2.yaml");

/// A BGP peer, a pool and its plain BGPAdvertisement.
const BGP: &str = include_str!("data/metallb/bgp.yaml");

/// A Community and an advertisement with policy porter cannot carry over (communities,
/// LOCAL_PREF, aggregation, per-peer and per-node selection).
const POLICY: &str = include_str!("data/metallb/policy.yaml");

/// Files in a scratch directory removed at the end of the test.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("porter-import-cli-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn import(args: &[&std::ffi::OsStr], stdin: &str) -> Output {
    let mut child = Command::new(PORTER)
        .args(["import", "metallb"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("porter binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The output loads as a standalone configuration, as `porter standalone --config` reads it.
fn assert_loads(stdout: &[u8]) -> porter::standalone::load::Objects {
    porter::standalone::load::parse(stdout)
        .unwrap_or_else(|e| panic!("output does not load:\n{e}\n{}", text(stdout)))
}

#[test]
fn everything_carried_over_exits_0() {
    let scratch = Scratch::new("zero");
    let file = scratch.file("l2.yaml", LAYER2);
    let out = import(&[file.as_os_str()], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let objects = assert_loads(&out.stdout);
    assert_eq!(objects.eips.len(), 1);
    assert!(
        text(&out.stderr).contains("everything was carried over"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn something_not_carried_over_exits_2_and_still_prints() {
    let scratch = Scratch::new("two");
    let l2 = scratch.file("l2.yaml", LAYER2);
    // Two files; the second from standard input.
    let out = import(&[l2.as_os_str(), "-".as_ref()], &format!("{BGP}{POLICY}"));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let objects = assert_loads(&out.stdout);
    assert_eq!(objects.peers.len(), 1);
    assert!(objects.bgp_conf.is_some());
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    for stream in [&stdout, &stderr] {
        assert!(
            stream.contains(
                "NOT CARRIED OVER: BGPAdvertisement metallb-system/local spec.communities"
            ),
            "{stream}"
        );
    }
}

#[test]
fn invalid_input_exits_1_naming_file_document_and_field() {
    let scratch = Scratch::new("one");
    let bad = scratch.file(
        "bad.yaml",
        &BGP.replace("peerAddress: 10.0.0.1", "peerAddress: [10.0.0.1]"),
    );
    let out = import(&[bad.as_os_str()], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "nothing printed on invalid input");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("bad.yaml document 1 (BGPPeer sample): spec.peerAddress: invalid type"),
        "{stderr}"
    );

    let missing = scratch.0.join("missing.yaml");
    let out = import(&[missing.as_os_str()], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read"));
}

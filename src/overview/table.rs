//! Plain-text tables, kubectl style: upper-case headers, columns two spaces apart, a cell may
//! hold several lines (one per node or address) and its row grows to fit.

use std::fmt::Write;

use k8s_openapi::jiff::Timestamp;

use super::{age, Overview};

/// Which tables to print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Tables {
    /// Sessions, Services and pools.
    All,
    /// One row per node and BgpPeer.
    Peers,
    /// One row per Service.
    Services,
    /// One row per Eip.
    Pools,
}

/// Renders the selected tables; `now` dates the UPTIME column.
pub fn render(o: &Overview, which: Tables, now: Timestamp) -> String {
    let mut out = String::new();
    let all = which == Tables::All;
    if all || which == Tables::Peers {
        let rows = o.peers.iter().map(|p| {
            let since = p.since.as_deref().and_then(|s| age(s, now));
            vec![
                p.node.clone(),
                p.peer.clone(),
                p.neighbor.clone(),
                p.local_as.to_string(),
                p.peer_as.to_string(),
                p.state.clone(),
                match (p.established(), since) {
                    (true, Some(a)) => a,
                    (false, Some(a)) => format!("(down {a})"),
                    (_, None) => "-".into(),
                },
                format!("{}/{}", p.updates_received, p.updates_sent),
                p.advertised.map_or("-".into(), |a| a.to_string()),
                p.bfd.clone().unwrap_or_else(|| "-".into()),
                p.last_error.clone().unwrap_or_default(),
            ]
        });
        section(
            &mut out,
            all.then_some("BGP sessions"),
            &[
                "NODE",
                "PEER",
                "NEIGHBOR",
                "LOCAL AS",
                "PEER AS",
                "STATE",
                "UPTIME",
                "UPDATES IN/OUT",
                "ADVERTISED",
                "BFD",
                "LAST ERROR",
            ],
            rows,
            "no BgpPeer status yet (no BgpPeer, or no manager has written one)",
        );
    }
    if all || which == Tables::Services {
        let rows = o.services.iter().map(|s| {
            let mut adverts: Vec<String> = s
                .nodes
                .iter()
                .flat_map(|n| {
                    // One line per address: the message joins them with "; ".
                    let mark = if n.ok { "+" } else { "-" };
                    let head = format!("{mark} {} {}: ", n.node, n.reason);
                    let indent = " ".repeat(head.chars().count());
                    n.message
                        .split("; ")
                        .enumerate()
                        .map(move |(i, part)| {
                            format!("{}{part}", if i == 0 { &head } else { &indent })
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
            if let Some(p) = &s.problem {
                adverts.push(format!("! {p}"));
            }
            vec![
                s.name.clone(),
                or_dash(s.addresses.join("\n")),
                or_dash(s.pools.join("\n")),
                or_dash(adverts.join("\n")),
            ]
        });
        section(
            &mut out,
            all.then_some("Services"),
            &[
                "SERVICE",
                "ADDRESSES",
                "POOL",
                "ADVERTISEMENT (+ yes, - no)",
            ],
            rows,
            "no Service asks porter for an address",
        );
    }
    if all || which == Tables::Pools {
        let rows = o.pools.iter().map(|p| {
            let pct = if p.size == 0 {
                String::new()
            } else {
                format!(" ({:.0} %)", p.used as f64 * 100.0 / p.size as f64)
            };
            vec![
                p.name.clone(),
                or_dash(p.protocol.clone()),
                p.address.clone(),
                format!("{}/{}{pct}", p.used, p.size),
                if p.problems.is_empty() {
                    "Ready".into()
                } else {
                    p.problems.join("\n")
                },
            ]
        });
        section(
            &mut out,
            all.then_some("Pools"),
            &["POOL", "PROTOCOL", "ADDRESS", "USED/SIZE", "STATUS"],
            rows,
            "no Eip",
        );
    }
    out
}

fn or_dash(s: String) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s
    }
}

/// Writes a titled table, or `empty` in place of a table without rows.
fn section(
    out: &mut String,
    title: Option<&str>,
    header: &[&str],
    rows: impl Iterator<Item = Vec<String>>,
    empty: &str,
) {
    if !out.is_empty() {
        out.push('\n');
    }
    if let Some(t) = title {
        let _ = writeln!(out, "{t}");
    }
    let rows: Vec<Vec<String>> = rows.collect();
    if rows.is_empty() {
        let _ = writeln!(out, "  ({empty})");
        return;
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            let longest = cell.lines().map(|l| l.chars().count()).max().unwrap_or(0);
            *w = (*w).max(longest);
        }
    }
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(&rows) {
        let height = row
            .iter()
            .map(|c| c.lines().count().max(1))
            .max()
            .unwrap_or(1);
        for line in 0..height {
            let mut text = String::new();
            for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
                let part = cell.lines().nth(line).unwrap_or("");
                if i + 1 < row.len() {
                    let _ = write!(text, "{part:<w$}  ");
                } else {
                    text.push_str(part);
                }
            }
            let _ = writeln!(out, "{}", text.trim_end());
        }
    }
}

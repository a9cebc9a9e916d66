//! Reading the standalone configuration file: a multi-document YAML stream of `BgpConf`,
//! `BgpPeer`, `Eip` (`network.kubesphere.io/v1alpha2`) and `Service` (`v1`) objects.
//!
//! A file on disk has no API server in front of it, so this module does the checks the API
//! server would: every document is decoded strictly (a wrong type names its field path, an
//! unknown field is reported, so a typo such as `holdtime` is not silently dropped), then
//! validated, then the set is checked (at most one `BgpConf`, unique names). Every problem is
//! collected, each naming its document (1-based), kind/name and field path:
//!
//! ```text
//! document 3 (BgpPeer/r1): spec.timers.config.holdTime: 1 is not allowed: ...
//! ```
//!
//! Nothing here touches the speaker or the allocator: the result is plain objects, turned into
//! desired state by [`super::model`].
//!
//! [`DocumentCache`] keeps each document's decoded object by its text between reloads, so a
//! reload of a file of 10,000 Services decodes the one that changed.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node as K8sNode, Service};
use porter_crds::{AnyObject, BgpConf, BgpPeer, Eip, ParseError, API_VERSION};
use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

/// Largest configuration file read, in bytes. A file is a few objects; anything near this size
/// is a mistake (a log, a binary) that should not be loaded into memory every second.
pub const MAX_FILE_SIZE: u64 = 16 * 1024 * 1024;

/// The objects of one configuration file, each checked on its own and as a set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Objects {
    /// The speaker's global settings; `None` when the file has no BgpConf (no BGP speaker).
    pub bgp_conf: Option<BgpConf>,
    /// BgpPeers by name.
    pub peers: BTreeMap<String, BgpPeer>,
    /// Eips (address pools) by name.
    pub eips: BTreeMap<String, Eip>,
    /// Services by `namespace/name` (namespace `default` when left out), shared with the
    /// [`DocumentCache`] that decoded them.
    pub services: BTreeMap<String, Arc<Service>>,
    /// v1 Nodes by name: the nodes that can serve the Services. With none, a speaker
    /// announces next-hop self only; with some, every Ready node's InternalIP is an eligible
    /// next hop (one path each under ADD-PATH, third-party on a shared LAN).
    pub nodes: BTreeMap<String, K8sNode>,
    /// Where each object was defined: `Kind/name` (`Service/namespace/name`) → document
    /// number, so that later checks can point at the document too.
    pub documents: BTreeMap<String, usize>,
}

impl Objects {
    /// The document number of an object by its `Kind/name` label; 0 when unknown.
    pub fn document_of(&self, label: &str) -> usize {
        self.documents.get(label).copied().unwrap_or(0)
    }
}

/// One problem in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Position of the document in the stream, from 1.
    pub document: usize,
    /// `Kind/name` of the object, when the document says (`BgpPeer/r1`, `Service/default/web`).
    pub object: Option<String>,
    /// JSON path of the field at fault (`spec.timers.config.holdTime`), when there is one.
    pub path: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "document {}", self.document)?;
        if let Some(object) = &self.object {
            write!(f, " ({object})")?;
        }
        f.write_str(": ")?;
        if let Some(path) = &self.path {
            write!(f, "{path}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in one file; never empty when returned as an error.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    /// The individual problems, in document order.
    pub fn problems(&self) -> &[Problem] {
        &self.0
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// Why the configuration file cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file cannot be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_FILE_SIZE`].
    #[error("{} is larger than {MAX_FILE_SIZE} bytes; is it the right file?", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// The file was read but its content is not a valid configuration.
    #[error("{} is not a valid porter configuration:\n{problems}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem, each naming its document and field.
        problems: Problems,
    },
}

/// Reads the file's bytes (at most [`MAX_FILE_SIZE`]), for [`parse`] and change detection.
pub fn read(path: &Path) -> Result<Vec<u8>, LoadError> {
    let read_err = |source| LoadError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut bytes = Vec::new();
    // One byte more than the limit tells "at the limit" from "over it".
    file.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(LoadError::TooLarge {
            path: path.to_owned(),
        });
    }
    Ok(bytes)
}

/// Reads and parses the file.
pub fn load(path: &Path) -> Result<Objects, LoadError> {
    let bytes = read(path)?;
    parse(&bytes).map_err(|problems| LoadError::Invalid {
        path: path.to_owned(),
        problems,
    })
}

/// Parses a configuration: UTF-8 text, YAML documents separated by `---`. Empty documents are
/// skipped. Returns every problem found, not only the first.
///
/// The same as [`DocumentCache::parse`] with an empty cache.
pub fn parse(bytes: &[u8]) -> Result<Objects, Problems> {
    DocumentCache::default().parse(bytes)
}

/// The decoded documents of the last file read, keyed by their exact text, so that a reload
/// decodes only the documents that changed.
///
/// Decoding (YAML → strict value tree → typed object → checks) is most of the cost of a
/// reload, and a reload usually changes one document of thousands. The file is cut into
/// documents at the lines that start with the `---` marker; each piece is decoded on its own,
/// or taken from the cache when the same text was decoded before. The rules that span
/// documents (one BgpConf, unique names) are applied to the whole set every time.
///
/// A piece decoded on its own must mean what it means in the stream. That holds when nothing
/// outside a document changes how it reads, so the whole file is decoded in one go, as
/// without a cache, when it has:
///
/// - a line starting with `%` (a directive: `%TAG` changes how later tags read) or with the
///   `...` document end marker (after which a document may start without `---`);
/// - a byte order mark;
/// - a piece that is not valid YAML, or that the YAML parser reads as another number of
///   documents than the split expects (one per `---` piece; none or one before the first
///   marker): this covers aliases whose anchor is in another document (an error in the piece
///   and in the stream), line breaks other than `\n` hiding a marker, and syntax errors, whose
///   message and line number are those of the whole file.
///
/// So problems name the same documents, in the same words, with or without the cache.
#[derive(Debug, Default)]
pub struct DocumentCache {
    /// Piece text → what it decodes to (problems carry document number 0).
    pieces: HashMap<String, Piece>,
}

impl DocumentCache {
    /// Parses a configuration like [`parse`], reusing what is cached for unchanged documents
    /// and keeping only the documents of this file for the next call. When the file cannot be
    /// split safely, the cache is left as it was (a broken edit that is then fixed still
    /// finds the documents it did not touch).
    pub fn parse(&mut self, bytes: &[u8]) -> Result<Objects, Problems> {
        let text = utf8(bytes)?;
        let Some(split) = split_documents(text) else {
            return parse_whole(text);
        };
        let mut previous = std::mem::take(&mut self.pieces);
        // Sized once: growing a map of thousands of pieces rehashes every key several times.
        self.pieces.reserve(split.len());
        let mut decoded = Vec::with_capacity(split.len());
        let mut number = 0;
        for (index, piece) in split.into_iter().enumerate() {
            let found = match self.pieces.get(piece) {
                // The same text twice in one file: it decodes the same (the set rules report
                // the duplicate name).
                Some(known) => known.clone(),
                None => {
                    let (key, known) = match previous.remove_entry(piece) {
                        Some(hit) => hit,
                        None => match decode_piece(piece, index == 0) {
                            Some(fresh) => (piece.to_owned(), fresh),
                            None => {
                                // Keep what was decoded: most of it is still valid for the
                                // next version of the file.
                                previous.extend(self.pieces.drain());
                                self.pieces = previous;
                                return parse_whole(text);
                            }
                        },
                    };
                    self.pieces.insert(key, known.clone());
                    known
                }
            };
            if found.documents == 1 {
                number += 1;
                // A Service is an Arc: the clone shares it.
                decoded.push((number, Result::clone(&found.object)));
            }
        }
        collect(decoded)
    }

    /// Number of distinct document texts held.
    pub fn len(&self) -> usize {
        self.pieces.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }
}

/// What one piece of the file decodes to.
#[derive(Clone, Debug)]
struct Piece {
    /// 1 for a document; 0 for text before the first `---` that holds only comments or blanks.
    documents: usize,
    /// The object, `None` for an empty document; problems carry document number 0. Behind
    /// an `Arc`: the cache holds one entry per document, and a `FileObject` inline is as large
    /// as its largest CRD.
    object: Arc<Result<Option<FileObject>, Vec<Problem>>>,
}

/// The file's text, or the problem that it is not UTF-8.
fn utf8(bytes: &[u8]) -> Result<&str, Problems> {
    std::str::from_utf8(bytes).map_err(|e| {
        Problems(vec![Problem {
            document: 1,
            object: None,
            path: None,
            message: format!(
                "the file is not UTF-8 text (invalid byte at offset {})",
                e.valid_up_to()
            ),
        }])
    })
}

/// Parses the whole stream in one go: the path without the cache.
fn parse_whole(text: &str) -> Result<Objects, Problems> {
    let decoded = documents_of(text)
        .into_iter()
        .enumerate()
        .map(|(index, document)| {
            let object = match document {
                Ok(value) => decode_value(&value),
                Err(message) => Err(vec![Problem {
                    document: 0,
                    object: None,
                    path: None,
                    message: format!("not valid YAML: {message}"),
                }]),
            };
            (index + 1, object)
        })
        .collect();
    collect(decoded)
}

/// One document's value → its object (`None` when the document is empty).
fn decode_value(value: &Value) -> Result<Option<FileObject>, Vec<Problem>> {
    match value {
        Value::Null => Ok(None),
        value => object(value).map(Some),
    }
}

/// Each document's number (from 1) and what it decodes to.
type Numbered = Vec<(usize, Result<Option<FileObject>, Vec<Problem>>)>;

/// Numbers the documents' problems and applies the rules that span documents.
fn collect(decoded: Numbered) -> Result<Objects, Problems> {
    let mut problems = Vec::new();
    let mut collector = Collector::default();
    for (number, object) in decoded {
        match object {
            Ok(None) => {}
            Ok(Some(object)) => collector.add(number, object, &mut problems),
            Err(found) => problems.extend(found.into_iter().map(|p| Problem {
                document: number,
                ..p
            })),
        }
    }
    if problems.is_empty() {
        let mut objects = collector.objects;
        objects.documents = collector.seen;
        Ok(objects)
    } else {
        problems.sort_by_key(|p| p.document);
        Err(Problems(problems))
    }
}

/// Cuts the text before each line that starts with the `---` marker, the marker line going
/// with the document it starts; `None` when the text has something that makes a cut unsafe
/// (see [`DocumentCache`]).
fn split_documents(text: &str) -> Option<Vec<&str>> {
    if text.contains('\u{feff}') {
        return None;
    }
    let mut pieces = Vec::new();
    let mut start = 0;
    let line_starts = std::iter::once(0).chain(text.match_indices('\n').map(|(at, _)| at + 1));
    for at in line_starts {
        let line = &text.as_bytes()[at..];
        match line.first() {
            Some(b'%') => return None,
            Some(b'.') if is_marker(line, b"...") => return None,
            Some(b'-') if at > 0 && is_marker(line, b"---") => {
                pieces.push(&text[start..at]);
                start = at;
            }
            _ => {}
        }
    }
    pieces.push(&text[start..]);
    Some(pieces)
}

/// Whether `line` starts with the three-character document `marker` followed by a blank or
/// the end of the line or text (YAML 1.2 §9.1.4 `c-directives-end`, §9.1.5 `c-document-end`).
fn is_marker(line: &[u8], marker: &[u8; 3]) -> bool {
    line.starts_with(marker) && matches!(line.get(3), None | Some(b' ' | b'\t' | b'\r' | b'\n'))
}

/// Decodes one piece on its own; `None` when the piece is not valid YAML or holds another
/// number of documents than expected (the caller then parses the whole file).
fn decode_piece(piece: &str, first: bool) -> Option<Piece> {
    // The parser reads a text without a marker as one document, empty or not; in a stream,
    // the text before the first marker is a document only if it holds more than comments.
    let documents = if is_marker(piece.as_bytes(), b"---") || has_content(piece) {
        1
    } else if first {
        0
    } else {
        return None;
    };
    let mut found = documents_of(piece);
    if found.len() != 1 {
        return None;
    }
    let object = match found.pop()? {
        Ok(Value::Null) if documents == 0 => Ok(None),
        Ok(value) if documents == 1 => decode_value(&value),
        Ok(_) | Err(_) => return None,
    };
    Some(Piece {
        documents,
        object: Arc::new(object),
    })
}

/// Whether a text holds anything but comments and blanks. Every YAML line break counts
/// (YAML 1.1 §5.4, which the parser follows, has three besides CR and LF), so content after
/// a lone CR is not taken for part of a comment.
fn has_content(text: &str) -> bool {
    text.split(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}'])
        .map(|line| line.trim_start_matches([' ', '\t']))
        .any(|line| !line.is_empty() && !line.starts_with('#'))
}

/// One decoded object of any kind the file may hold.
// Every variant is a pointer: the DocumentCache holds one per document, and the CRD and Node
// types are large inline (a file holds a few of them, and thousands of Services).
#[derive(Clone, Debug, PartialEq)]
pub enum FileObject {
    /// Eip, BgpConf or BgpPeer.
    Crd(Box<AnyObject>),
    /// A v1 Service, shared with [`DocumentCache`] (a file can hold many thousands).
    Service(Arc<Service>),
    /// A v1 Node.
    Node(Box<K8sNode>),
}

/// Decodes and validates one document; problems carry document number 0 (the caller's to set).
pub fn object(value: &Value) -> Result<FileObject, Vec<Problem>> {
    let problem = |object: Option<String>, path: Option<String>, message: String| Problem {
        document: 0,
        object,
        path,
        message,
    };
    let (api_version, kind) = type_fields(value)
        .map_err(|(path, message)| vec![problem(None, path.map(str::to_owned), message)])?;
    let meta = |field: &str| {
        value
            .get("metadata")
            .and_then(|m| m.get(field))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let name = meta("name");
    let label = match kind {
        "Service" => format!(
            "Service/{}/{}",
            meta("namespace").unwrap_or("default"),
            name.unwrap_or("<unnamed>")
        ),
        _ => format!("{kind}/{}", name.unwrap_or("<unnamed>")),
    };
    match (api_version, kind) {
        ("v1", "Service") => decode_service(value)
            .map(|s| FileObject::Service(Arc::new(s)))
            .map_err(|found| {
                found
                    .into_iter()
                    .map(|(path, message)| problem(Some(label.clone()), path, message))
                    .collect()
            }),
        ("v1", "Node") => decode_node(value)
            .map(|n| FileObject::Node(Box::new(n)))
            .map_err(|found| {
                found
                    .into_iter()
                    .map(|(path, message)| problem(Some(label.clone()), path, message))
                    .collect()
            }),
        (_, "Service") => Err(vec![problem(
            Some(label),
            Some("apiVersion".into()),
            format!("`{api_version}` is not supported for Service; porter reads v1"),
        )]),
        (_, "Eip" | "BgpConf" | "BgpPeer") => {
            let decoded = porter_crds::parse_object(value).and_then(|o| {
                o.check()?;
                Ok(o)
            });
            decoded.map(|o| FileObject::Crd(Box::new(o))).map_err(|e| {
                crd_problems(e)
                    .into_iter()
                    .map(|(path, message)| problem(Some(label.clone()), path, message))
                    .collect()
            })
        }
        _ => Err(vec![problem(
            Some(label),
            Some("kind".into()),
            format!(
                "unknown kind `{kind}` ({api_version}): a standalone file holds BgpConf, BgpPeer \
                 and Eip ({API_VERSION}), and Service and Node (v1)"
            ),
        )]),
    }
}

/// A document's `apiVersion` and `kind`, or what is wrong: the field at fault (`None` when the
/// document is not an object) and the message.
pub(crate) fn type_fields(value: &Value) -> Result<(&str, &str), (Option<&'static str>, String)> {
    let Some(map) = value.as_object() else {
        return Err((
            None,
            format!(
                "expected an object (a mapping with apiVersion and kind), found {}",
                json_type(value)
            ),
        ));
    };
    let text = |field: &str| map.get(field).and_then(Value::as_str);
    match (text("apiVersion"), text("kind")) {
        (Some(api_version), Some(kind)) => Ok((api_version, kind)),
        (None, _) => Err((Some("apiVersion"), "is required (a string)".into())),
        (_, None) => Err((Some("kind"), "is required (a string)".into())),
    }
}

/// The documents of a YAML stream as JSON values, each or its YAML error (with line and column).
/// A syntax error ends the stream: the parser cannot find where the next document starts.
/// Never panics, whatever the text (`porter import` reads other projects' files through it).
pub(crate) fn documents_of(text: &str) -> Vec<Result<Value, String>> {
    quiet_yaml_panics();
    // serde_yaml 0.9 (archived; `serde_yaml` is now its maintained fork serde_yaml_ng, see
    // Cargo.toml) had panicking paths in its event replay ("unexpected end of mapping"),
    // reached for example by an alias whose anchor is not defined (`key: *missing`).
    // StrictValue avoids the known case; a malformed file must give an error and never take
    // porter down, so the parse still runs behind catch_unwind.
    let parsed = std::panic::catch_unwind(|| {
        let mut out = Vec::new();
        for document in serde_yaml::Deserializer::from_str(text) {
            match StrictValue::deserialize(document) {
                Ok(StrictValue(v)) => out.push(Ok(v)),
                Err(e) => {
                    out.push(Err(e.to_string()));
                    // After an error the iterator repeats it forever.
                    break;
                }
            }
        }
        out
    });
    parsed.unwrap_or_else(|_| {
        vec![Err(
            "the YAML parser failed on this file; an alias (`*name`) whose anchor (`&name`) is \
             not defined in the same document is the known cause"
                .into(),
        )]
    })
}

/// Installs, once, a panic hook that stays silent for panics raised inside serde_yaml (caught by
/// [`documents_of`] and reported as a problem) and passes every other panic to the previous hook.
fn quiet_yaml_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_yaml = info
                .location()
                .is_some_and(|l| l.file().contains("serde_yaml"));
            if !in_yaml {
                previous(info);
            }
        }));
    });
}

/// Accumulates objects and applies the rules that span documents.
#[derive(Default)]
struct Collector {
    objects: Objects,
    /// Where each object was first defined: `Kind/name` → document number.
    seen: BTreeMap<String, usize>,
    bgp_conf_at: Option<usize>,
}

impl Collector {
    fn add(&mut self, document: usize, object: FileObject, problems: &mut Vec<Problem>) {
        let (label, key) = match &object {
            FileObject::Crd(o) => (format!("{}/{}", o.kind(), o.name()), o.name().to_owned()),
            FileObject::Service(s) => {
                let key = service_key(s);
                (format!("Service/{key}"), key)
            }
            FileObject::Node(n) => {
                let key = n.metadata.name.clone().unwrap_or_default();
                (format!("Node/{key}"), key)
            }
        };
        if matches!(&object, FileObject::Crd(o) if matches!(**o, AnyObject::BgpConf(_))) {
            if let Some(first) = self.bgp_conf_at {
                problems.push(Problem {
                    document,
                    object: Some(label),
                    path: None,
                    message: format!(
                        "a second BgpConf (document {first} has one); a file holds at most one"
                    ),
                });
                return;
            }
            self.bgp_conf_at = Some(document);
        } else if let Some(first) = self.seen.get(&label) {
            problems.push(Problem {
                document,
                object: Some(label.clone()),
                path: Some("metadata.name".into()),
                message: format!(
                    "{label} is already defined by document {first}; names must be unique per kind"
                ),
            });
            return;
        }
        self.seen.insert(label, document);
        match object {
            FileObject::Crd(crd) => match *crd {
                AnyObject::BgpConf(o) => self.objects.bgp_conf = Some(o),
                AnyObject::BgpPeer(o) => {
                    self.objects.peers.insert(key, o);
                }
                AnyObject::Eip(o) => {
                    self.objects.eips.insert(key, o);
                }
            },
            FileObject::Service(s) => {
                self.objects.services.insert(key, s);
            }
            FileObject::Node(n) => {
                self.objects.nodes.insert(key, *n);
            }
        }
    }
}

/// `namespace/name` of a Service, namespace `default` when left out.
pub fn service_key(service: &Service) -> String {
    format!(
        "{}/{}",
        service.metadata.namespace.as_deref().unwrap_or("default"),
        service.metadata.name.as_deref().unwrap_or("")
    )
}

/// Turns a porter-crds parse error into (path, message) pairs, one per field.
fn crd_problems(e: ParseError) -> Vec<(Option<String>, String)> {
    match e {
        ParseError::InvalidField { path, message, .. } => {
            vec![(Some(path).filter(|p| p != "."), message)]
        }
        ParseError::UnknownFields { paths, .. } => paths
            .into_iter()
            .map(|p| (Some(p), "unknown field".to_owned()))
            .collect(),
        ParseError::Invalid { errors, .. } => errors
            .0
            .into_iter()
            .map(|e| (Some(e.path), e.message))
            .collect(),
        other => vec![(None, other.to_string())],
    }
}

/// Decodes a v1 Service strictly (wrong types and unknown fields name their paths) and checks
/// what the API server would have checked.
fn decode_node(value: &Value) -> Result<K8sNode, Vec<(Option<String>, String)>> {
    let node: K8sNode = decode_strict(value)?;
    let mut problems = Vec::new();
    if node.metadata.name.as_deref().unwrap_or("").is_empty() {
        problems.push((Some("metadata.name".to_owned()), "is required".to_owned()));
    }
    for (i, a) in node
        .status
        .iter()
        .flat_map(|s| s.addresses.iter().flatten())
        .enumerate()
    {
        if a.type_ == "InternalIP" && a.address.parse::<std::net::IpAddr>().is_err() {
            problems.push((
                Some(format!("status.addresses[{i}].address")),
                format!("`{}` is not an IP address", a.address),
            ));
        }
    }
    if problems.is_empty() {
        Ok(node)
    } else {
        Err(problems)
    }
}

fn decode_service(value: &Value) -> Result<Service, Vec<(Option<String>, String)>> {
    let service: Service = decode_strict(value)?;
    let mut problems = Vec::new();
    let mut push = |path: &str, message: String| problems.push((Some(path.to_owned()), message));
    match service.metadata.name.as_deref() {
        None | Some("") => push("metadata.name", "is required".into()),
        Some(_) => {}
    }
    let spec = service.spec.clone().unwrap_or_default();
    for (i, port) in spec.ports.iter().flatten().enumerate() {
        if !(1..=65535).contains(&port.port) {
            push(
                &format!("spec.ports[{i}].port"),
                format!("{} is not a port number (1 to 65535)", port.port),
            );
        }
        if let Some(p) = port.protocol.as_deref() {
            if !matches!(p, "TCP" | "UDP" | "SCTP") {
                push(
                    &format!("spec.ports[{i}].protocol"),
                    format!("`{p}` is not one of TCP, UDP, SCTP"),
                );
            }
        }
    }
    for (i, family) in spec.ip_families.iter().flatten().enumerate() {
        if !matches!(family.as_str(), "IPv4" | "IPv6") {
            push(
                &format!("spec.ipFamilies[{i}]"),
                format!("`{family}` is not one of IPv4, IPv6"),
            );
        }
    }
    if let Some(policy) = spec.ip_family_policy.as_deref() {
        if !matches!(
            policy,
            "SingleStack" | "PreferDualStack" | "RequireDualStack"
        ) {
            push(
                "spec.ipFamilyPolicy",
                format!("`{policy}` is not one of SingleStack, PreferDualStack, RequireDualStack"),
            );
        }
    }
    if let Some(ip) = spec.load_balancer_ip.as_deref().filter(|s| !s.is_empty()) {
        if ip.parse::<IpAddr>().is_err() {
            push(
                "spec.loadBalancerIP",
                format!("`{ip}` is not an IP address"),
            );
        }
    }
    let ingress = service
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref());
    for (i, entry) in ingress.into_iter().flatten().enumerate() {
        if let Some(ip) = entry.ip.as_deref() {
            if ip.parse::<IpAddr>().is_err() {
                push(
                    &format!("status.loadBalancer.ingress[{i}].ip"),
                    format!("`{ip}` is not an IP address"),
                );
            }
        }
    }
    if problems.is_empty() {
        Ok(service)
    } else {
        Err(problems)
    }
}

/// Deserializes `T` from `value`, reporting a type error with its field path, or every field
/// `T` does not know.
fn decode_strict<T: DeserializeOwned>(value: &Value) -> Result<T, Vec<(Option<String>, String)>> {
    let mut unknown = Vec::new();
    let decoded: Result<T, _> = {
        let mut record = |path: serde_ignored::Path<'_>| unknown.push(ignored_path(&path));
        let ignored = serde_ignored::Deserializer::new(value, &mut record);
        serde_path_to_error::deserialize(ignored)
    };
    let object = decoded.map_err(|e| {
        let path = e.path().to_string();
        vec![(Some(path).filter(|p| p != "."), e.into_inner().to_string())]
    })?;
    if unknown.is_empty() {
        Ok(object)
    } else {
        Err(unknown
            .into_iter()
            .map(|p| (Some(p), "unknown field".to_owned()))
            .collect())
    }
}

/// `spec.ports[0].name`, the same shape `serde_path_to_error` prints.
pub(crate) fn ignored_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", ignored_path(parent)),
        Path::Map { parent, key } => match ignored_path(parent) {
            p if p.is_empty() => key.clone(),
            p => format!("{p}.{key}"),
        },
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => ignored_path(parent),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A JSON value read from YAML that refuses a mapping with the same key twice.
///
/// YAML 1.2 §3.2.1.1 requires mapping keys to be unique, but a plain conversion keeps the last
/// value without a word; in a hand-written file a repeated key is an editing mistake (two
/// `spec:` blocks) whose first half would silently vanish.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        // NaN and infinities have no JSON form; no porter field takes a float anyway.
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom(format!("{v} is not a finite number")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<MapKey>()? {
            let StrictValue(value) = map.next_value()?;
            if out.contains_key(&key.0) {
                return Err(de::Error::custom(format!(
                    "duplicate key `{}` in one mapping",
                    key.0
                )));
            }
            out.insert(key.0, value);
        }
        Ok(Value::Object(out))
    }
}

/// A mapping key: a string, or a number or boolean taken as its text (as JSON would have it).
struct MapKey(String);

impl<'de> Deserialize<'de> for MapKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = MapKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean mapping key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MapKey, E> {
                Ok(MapKey(v.to_owned()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<MapKey, E> {
                Ok(MapKey(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<MapKey, E> {
                Ok(MapKey(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<MapKey, E> {
                Ok(MapKey(v.to_string()))
            }
        }
        deserializer.deserialize_any(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "apiVersion: network.kubesphere.io/v1alpha2
kind: BgpConf
metadata: {name: default}
spec: {as: 65001, routerId: 10.200.1.2}
";

    const PEER: &str = "apiVersion: network.kubesphere.io/v1alpha2
kind: BgpPeer
metadata: {name: r1}
spec:
  conf: {neighborAddress: 10.200.1.1, peerAs: 65000}
";

    const EIP: &str = "apiVersion: network.kubesphere.io/v1alpha2
kind: Eip
metadata: {name: pool}
spec: {address: 203.0.113.0/28}
";

    const SERVICE: &str = "apiVersion: v1
kind: Service
metadata:
  name: web
  annotations: {lb.kubesphere.io/v1alpha1: porter}
spec:
  type: LoadBalancer
  ports: [{port: 80}]
";

    fn join(docs: &[&str]) -> String {
        docs.join("---\n")
    }

    fn problems(text: &str) -> Vec<String> {
        match parse(text.as_bytes()) {
            Ok(o) => panic!("expected problems, got {o:?}"),
            Err(p) => p.0.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn reads_every_kind() {
        let objects = parse(join(&[CONF, PEER, EIP, SERVICE]).as_bytes()).unwrap();
        assert_eq!(objects.bgp_conf.unwrap().spec.asn, 65001);
        assert_eq!(objects.peers["r1"].spec.conf.neighbor_address, "10.200.1.1");
        assert_eq!(objects.eips["pool"].spec.address, "203.0.113.0/28");
        assert!(objects.services.contains_key("default/web"));
    }

    #[test]
    fn skips_empty_documents_and_comments() {
        let text = format!("---\n# nothing here\n---\n{PEER}---\n---\n");
        let objects = parse(text.as_bytes()).unwrap();
        assert_eq!(objects.peers.len(), 1);
        assert!(objects.bgp_conf.is_none());
        assert_eq!(parse(b"").unwrap(), Objects::default());
    }

    #[test]
    fn names_document_object_and_field_of_a_bad_timer() {
        let peer = format!("{PEER}  timers:\n    config: {{holdTime: 1}}\n");
        let found = problems(&join(&[CONF, EIP, &peer]));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with(
                "document 3 (BgpPeer/r1): spec.timers.config.holdTime: 1 is not allowed"
            ),
            "{found:?}"
        );
    }

    #[test]
    fn names_the_path_of_a_wrongly_typed_field() {
        let peer = PEER.replace("peerAs: 65000", "peerAs: sixty");
        let found = problems(&peer);
        assert!(
            found[0].starts_with("document 1 (BgpPeer/r1): spec.conf.peerAs: invalid type"),
            "{found:?}"
        );
    }

    #[test]
    fn reports_unknown_fields_of_our_kinds_and_of_services() {
        let peer = format!("{PEER}  timers:\n    config: {{holdtime: 30}}\n");
        let service = SERVICE.replace("  type: LoadBalancer", "  type: LoadBalancer\n  prots: []");
        let found = problems(&join(&[&peer, &service]));
        assert_eq!(
            found,
            [
                "document 1 (BgpPeer/r1): spec.timers.config.holdtime: unknown field",
                "document 2 (Service/default/web): spec.prots: unknown field",
            ]
        );
    }

    #[test]
    fn collects_problems_of_every_document() {
        let bad_eip = EIP.replace("203.0.113.0/28", "203.0.113.0/33");
        let bad_service = SERVICE.replace("port: 80", "port: 0");
        let found = problems(&join(&[&bad_eip, CONF, &bad_service]));
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with("document 1 (Eip/pool): spec.address: "));
        assert_eq!(
            found[1],
            "document 3 (Service/default/web): spec.ports[0].port: 0 is not a port number (1 to 65535)"
        );
    }

    #[test]
    fn rejects_unknown_kinds_and_versions() {
        let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n";
        let old = EIP.replace("v1alpha2", "v1alpha1");
        let svc = SERVICE.replace("apiVersion: v1", "apiVersion: v2");
        let found = problems(&join(&[cm, &old, &svc]));
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].starts_with("document 1 (ConfigMap/x): kind: unknown kind `ConfigMap`"));
        assert!(found[1].starts_with("document 2 (Eip/pool): "), "{found:?}");
        assert!(found[1].contains("v1alpha1"), "{found:?}");
        assert!(found[2].starts_with("document 3 (Service/default/web): apiVersion: `v2`"));
    }

    #[test]
    fn requires_api_version_and_kind() {
        assert_eq!(
            problems("kind: Eip\n"),
            ["document 1: apiVersion: is required (a string)"]
        );
        assert_eq!(
            problems("apiVersion: v1\n"),
            ["document 1: kind: is required (a string)"]
        );
        assert_eq!(
            problems("- a\n- b\n"),
            ["document 1: expected an object (a mapping with apiVersion and kind), found a list"]
        );
    }

    #[test]
    fn allows_at_most_one_bgp_conf() {
        let found = problems(&join(&[CONF, PEER, CONF]));
        assert_eq!(
            found,
            ["document 3 (BgpConf/default): a second BgpConf (document 1 has one); a file holds at most one"]
        );
    }

    #[test]
    fn requires_unique_names_per_kind() {
        let other_peer = PEER.replace("10.200.1.1", "10.200.1.3");
        let service_elsewhere = SERVICE.replace("name: web", "name: web\n  namespace: shop");
        // Same name, other kind, or other namespace: fine.
        let eip_r1 = EIP.replace("name: pool", "name: r1");
        parse(join(&[PEER, &eip_r1, SERVICE, &service_elsewhere]).as_bytes()).unwrap();
        let found = problems(&join(&[PEER, SERVICE, &other_peer, SERVICE]));
        assert_eq!(
            found,
            [
                "document 3 (BgpPeer/r1): metadata.name: BgpPeer/r1 is already defined by document 1; names must be unique per kind",
                "document 4 (Service/default/web): metadata.name: Service/default/web is already defined by document 2; names must be unique per kind",
            ]
        );
    }

    #[test]
    fn reports_yaml_syntax_errors_with_their_line() {
        let found = problems(&format!("{CONF}---\nspec: [\n"));
        assert_eq!(found.len(), 1);
        assert!(
            found[0].starts_with("document 2: not valid YAML: "),
            "{found:?}"
        );
        assert!(found[0].contains("line"), "{found:?}");
    }

    #[test]
    fn reports_an_undefined_alias_instead_of_panicking() {
        // serde_yaml 0.9 panics on these when they are read into serde_json's Value.
        for text in [
            "apiVersion: v1\nkind: *nowhere\n",
            "a: 1\nb: *x\nc: 2\n",
            "a: [*x]\n",
            "a: {b: *x}\n",
            "a: &x 1\n---\nb: *x\n",
            "*x\n",
        ] {
            let found = problems(text);
            assert!(
                found
                    .iter()
                    .any(|p| p.contains("anchor") || p.contains("alias")),
                "{text:?}: {found:?}"
            );
        }
    }

    #[test]
    fn rejects_a_key_given_twice() {
        let found = problems(&format!("{PEER}spec: {{}}\n"));
        assert!(found[0].contains("duplicate key `spec`"), "{found:?}");
    }

    #[test]
    fn rejects_non_utf8() {
        assert_eq!(
            problems_bytes(b"kind: \xff\n"),
            ["document 1: the file is not UTF-8 text (invalid byte at offset 6)"]
        );
    }

    fn problems_bytes(bytes: &[u8]) -> Vec<String> {
        parse(bytes)
            .unwrap_err()
            .0
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn checks_service_fields_the_api_server_would() {
        let service = SERVICE.replace(
            "  ports: [{port: 80}]\n",
            "  ports: [{port: 80, protocol: HTTP}]\n  ipFamilies: [IPv5]\n  ipFamilyPolicy: Sometimes\n  loadBalancerIP: 1.2.3\nstatus: {loadBalancer: {ingress: [{ip: nope}]}}\n",
        );
        let found = problems(&service);
        let paths: Vec<_> = found
            .iter()
            .map(|p| p.split(": ").nth(1).unwrap().to_owned())
            .collect();
        assert_eq!(
            paths,
            [
                "spec.ports[0].protocol",
                "spec.ipFamilies[0]",
                "spec.ipFamilyPolicy",
                "spec.loadBalancerIP",
                "status.loadBalancer.ingress[0].ip",
            ]
        );
        let unnamed = SERVICE.replace("  name: web\n", "");
        assert_eq!(
            problems(&unnamed),
            ["document 1 (Service/default/<unnamed>): metadata.name: is required"]
        );
    }

    #[test]
    fn reads_the_example_configuration() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/deploy/standalone/example.yaml"
        );
        let objects = load(Path::new(path)).unwrap();
        let conf = objects.bgp_conf.expect("the example has a BgpConf");
        assert_eq!(conf.spec.asn, 65001);
        assert_eq!(objects.peers.len(), 1);
        let peer = objects.peers.values().next().unwrap();
        assert_eq!(peer.spec.conf.neighbor_address, "10.200.1.1");
        assert_eq!(peer.spec.conf.peer_as, 65000);
        assert_eq!(
            objects.eips.values().next().unwrap().spec.address,
            "203.0.113.0/28"
        );
        assert_eq!(objects.services.len(), 1);
    }

    fn service(name: &str) -> String {
        SERVICE.replace("name: web", &format!("name: {name}"))
    }

    #[test]
    fn cache_reuses_unchanged_documents_and_decodes_changed_ones() {
        let mut cache = DocumentCache::default();
        let (a, b) = (service("a"), service("b"));
        let first = cache.parse(join(&[CONF, EIP, &a, &b]).as_bytes()).unwrap();
        assert_eq!(cache.len(), 4);
        let b2 = b.replace("port: 80", "port: 8080");
        let second = cache.parse(join(&[CONF, EIP, &a, &b2]).as_bytes()).unwrap();
        // The unchanged Service is the very object decoded the first time.
        assert!(Arc::ptr_eq(
            &first.services["default/a"],
            &second.services["default/a"]
        ));
        assert!(!Arc::ptr_eq(
            &first.services["default/b"],
            &second.services["default/b"]
        ));
        let port = |o: &Objects| {
            o.services["default/b"]
                .spec
                .as_ref()
                .unwrap()
                .ports
                .as_ref()
                .unwrap()[0]
                .port
        };
        assert_eq!((port(&first), port(&second)), (80, 8080));
        // Only this file's documents are kept.
        assert_eq!(cache.len(), 4);
        assert_eq!(
            second,
            parse(join(&[CONF, EIP, &a, &b2]).as_bytes()).unwrap()
        );
    }

    #[test]
    fn cache_renumbers_documents_that_moved() {
        let mut cache = DocumentCache::default();
        let (a, b) = (service("a"), service("b"));
        cache.parse(join(&[CONF, &a, &b]).as_bytes()).unwrap();
        // `b` moves from document 3 to 2, then a cached document turns out to be a duplicate.
        let objects = cache.parse(join(&[CONF, &b]).as_bytes()).unwrap();
        assert_eq!(objects.document_of("Service/default/b"), 2);
        let found = cache.parse(join(&[&b, CONF, &b]).as_bytes()).unwrap_err();
        assert_eq!(
            found.to_string(),
            "document 3 (Service/default/b): metadata.name: Service/default/b is already defined by document 1; names must be unique per kind"
        );
    }

    #[test]
    fn cache_reports_a_bad_document_with_its_number_each_time() {
        let mut cache = DocumentCache::default();
        let docs: Vec<String> = (0..5).map(|i| service(&format!("s{i}"))).collect();
        let mut refs: Vec<&str> = docs.iter().map(String::as_str).collect();
        cache.parse(join(&refs).as_bytes()).unwrap();
        let bad = docs[3].replace("port: 80", "port: 0");
        refs[3] = &bad;
        let expected = "document 4 (Service/default/s3): spec.ports[0].port: 0 is not a port number (1 to 65535)";
        for _ in 0..2 {
            // Decoded, then from the cache: the same problem, the same number.
            let found = cache.parse(join(&refs).as_bytes()).unwrap_err();
            assert_eq!(found.to_string(), expected);
        }
        // A leading comment is no document; an empty document is one.
        let tail = join(&refs);
        let text = format!("# only a comment\n---\n{tail}");
        assert_eq!(
            cache.parse(text.as_bytes()).unwrap_err().to_string(),
            expected
        );
        let text = format!("---\n---\n{tail}");
        assert_eq!(
            cache.parse(text.as_bytes()).unwrap_err().to_string(),
            expected.replace("document 4", "document 5")
        );
    }

    #[test]
    fn cache_falls_back_to_the_whole_stream_when_a_cut_is_unsafe() {
        let (a, b) = (service("a"), service("b"));
        let unsafe_texts = [
            // A directive, a document end marker, a byte order mark.
            format!("%YAML 1.2\n---\n{a}---\n{b}"),
            format!("{a}...\n---\n{b}"),
            format!("\u{feff}{a}---\n{b}"),
        ];
        for text in &unsafe_texts {
            assert!(split_documents(text).is_none(), "{text:?}");
            let mut cache = DocumentCache::default();
            let parsed = cache.parse(text.as_bytes());
            assert_eq!(parsed, parse_whole(text), "{text:?}");
            assert!(cache.is_empty(), "{text:?}");
            if text.contains("...") {
                assert_eq!(parsed.unwrap().services.len(), 2);
            }
        }
        // Cut, but a piece does not read as one document on its own: a marker after a bare
        // carriage return, an alias whose anchor is in the document before, a syntax error.
        let hidden_marker = format!("{}---\r{}", a.replace('\n', "\r"), b.replace('\n', "\r"));
        let mut cache = DocumentCache::default();
        assert_eq!(
            cache.parse(hidden_marker.as_bytes()),
            parse_whole(&hidden_marker)
        );
        assert!(cache.is_empty());
        for text in [
            "a: &x 1\n---\nb: *x\n".to_owned(),
            format!("{a}---\nspec: [\n---\n{b}"),
        ] {
            let mut cache = DocumentCache::default();
            assert_eq!(cache.parse(text.as_bytes()), parse_whole(&text), "{text:?}");
        }
    }

    #[test]
    fn cache_survives_a_broken_edit() {
        let mut cache = DocumentCache::default();
        let (a, b) = (service("a"), service("b"));
        let good = cache.parse(join(&[&a, &b]).as_bytes()).unwrap();
        let broken = format!("{a}---\nspec: [\n");
        let found = cache.parse(broken.as_bytes()).unwrap_err();
        assert!(
            found
                .to_string()
                .starts_with("document 2: not valid YAML: "),
            "{found}"
        );
        let again = cache.parse(join(&[&a, &b]).as_bytes()).unwrap();
        assert!(Arc::ptr_eq(
            &good.services["default/a"],
            &again.services["default/a"]
        ));
    }

    #[test]
    fn cached_and_whole_parses_agree() {
        let bad_eip = EIP.replace("203.0.113.0/28", "203.0.113.0/33");
        let texts = [
            String::new(),
            "\n\n# comment only\n".to_owned(),
            format!("---\n# nothing here\n---\n{PEER}---\n---\n"),
            format!("# c\n\n  # c\n---\n{PEER}"),
            format!("~\n---\n{PEER}"),
            format!("# c\r~\n---\n{PEER}"),
            format!("{PEER}\r---\r{EIP}"),
            format!("--- {{apiVersion: v1, kind: Service, metadata: {{name: x}}}}\n---\n{SERVICE}"),
            format!("{CONF}---\n{bad_eip}--- \n{PEER}---\t\n{CONF}"),
            format!("{CONF}----\n"),
            format!("{SERVICE}  description: |\n    text\n    ---- not a marker\n"),
            format!("{CONF}---\r\n{}", PEER.replace('\n', "\r\n")),
            "kind: Eip\n---\napiVersion: v1\n---\n- a\n".to_owned(),
            format!("{PEER}spec: {{}}\n---\n{EIP}"),
        ];
        for text in &texts {
            assert_eq!(parse(text.as_bytes()), parse_whole(text), "{text:?}");
        }
    }

    #[test]
    fn refuses_files_over_the_size_limit() {
        let dir = std::env::temp_dir().join(format!("porter-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let big = dir.join("big.yaml");
        let file = std::fs::File::create(&big).unwrap();
        file.set_len(MAX_FILE_SIZE + 1).unwrap();
        assert!(matches!(load(&big), Err(LoadError::TooLarge { .. })));
        assert!(matches!(
            load(&dir.join("missing.yaml")),
            Err(LoadError::Read { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

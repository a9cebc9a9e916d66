//! `porter import`: another load balancer's configuration, carried over to porter's objects.
//!
//! An importer reads files written for another project and returns porter objects (`Eip`,
//! `BgpConf`, `BgpPeer`) plus [`Finding`]s: what it noted about a field, and what porter cannot
//! express. [`Output::to_yaml`] prints the objects as one YAML stream with every finding as a
//! `# ` comment above the object it concerns, so the file can be reviewed and applied as is.
//!
//! The outcome is one of three, each with its exit status:
//!
//! - everything was carried over ([`Output::lost`] is 0): exit 0;
//! - something could not be (a field porter has no equivalent for, an object that cannot be
//!   built): the rest is still printed, exit [`EXIT_NOT_CARRIED`];
//! - the input itself is unreadable or not valid (not YAML, a field of the wrong type): nothing
//!   is printed, every problem names its file, document and field, exit [`EXIT_INVALID`].
//!
//! Pure: the caller reads the files and prints; nothing here touches the file system.

use std::fmt;

use porter_crds::AnyObject;

pub mod metallb;
#[cfg(test)]
mod tests;

/// Exit status when the input cannot be read or is not valid.
pub const EXIT_INVALID: u8 = 1;
/// Exit status when the output was written but something could not be carried over.
pub const EXIT_NOT_CARRIED: u8 = 2;

/// One input file: a name for messages and its bytes.
#[derive(Clone, Debug)]
pub struct Input {
    /// How messages name the file (its path as given).
    pub name: String,
    /// The file's content.
    pub bytes: Vec<u8>,
}

/// Something the importer says about one field of one source object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The source object: `IPAddressPool metallb-system/first-pool`.
    pub object: String,
    /// The field, from the object's root (`spec.communities`); `None` for the whole object.
    pub field: Option<String>,
    /// What happened to it, or why it could not be carried over.
    pub message: String,
    /// The field (or object) could not be carried over; otherwise this is a note.
    pub lost: bool,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.lost {
            "NOT CARRIED OVER: "
        } else {
            "note: "
        })?;
        f.write_str(&self.object)?;
        if let Some(field) = &self.field {
            write!(f, " {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// One porter object and what the importer says about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Emitted {
    /// The object.
    pub object: AnyObject,
    /// Where it comes from: `IPAddressPool metallb-system/first-pool spec.addresses[0]
    /// (pools.yaml document 1)`.
    pub source: String,
    /// Findings about the fields it was built from.
    pub findings: Vec<Finding>,
}

/// What an import produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Output {
    /// Comment lines printed first (how Services opt in, annotation mapping), without `# `.
    pub preamble: Vec<String>,
    /// Findings about source objects that become no porter object of their own
    /// (advertisements, BFD profiles, communities, skipped documents).
    pub findings: Vec<Finding>,
    /// The porter objects, in the order printed.
    pub objects: Vec<Emitted>,
    /// How many source objects were read.
    pub read: usize,
}

impl Output {
    /// Every finding, the general ones first.
    pub fn all_findings(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .chain(self.objects.iter().flat_map(|o| o.findings.iter()))
    }

    /// The findings that say something could not be carried over, each once (a pool's
    /// finding is repeated above every Eip made from it).
    pub fn lost_findings(&self) -> Vec<&Finding> {
        let mut seen = std::collections::BTreeSet::new();
        self.all_findings()
            .filter(|f| f.lost && seen.insert(f.to_string()))
            .collect()
    }

    /// How many things could not be carried over.
    pub fn lost(&self) -> usize {
        self.lost_findings().len()
    }

    /// The exit status this output stands for: 0 or [`EXIT_NOT_CARRIED`].
    pub fn exit_code(&self) -> u8 {
        if self.lost() == 0 {
            0
        } else {
            EXIT_NOT_CARRIED
        }
    }

    /// The objects as one YAML stream, each opened by `---` and preceded by its findings as
    /// `# ` comments; the preamble and general findings first.
    pub fn to_yaml(&self) -> String {
        let mut out = String::new();
        for line in &self.preamble {
            push_comment(&mut out, line);
        }
        for finding in &self.findings {
            push_comment(&mut out, &finding.to_string());
        }
        for emitted in &self.objects {
            out.push_str("---\n");
            push_comment(&mut out, &format!("from {}", emitted.source));
            for finding in &emitted.findings {
                push_comment(&mut out, &finding.to_string());
            }
            out.push_str(&object_yaml(&emitted.object));
        }
        out
    }

    /// A few lines for standard error: counts, then every finding that is not a note.
    pub fn summary(&self) -> String {
        let lost = self.lost();
        let mut out = format!(
            "{} source object(s) read, {} porter object(s) written",
            self.read,
            self.objects.len()
        );
        if lost == 0 {
            out.push_str("; everything was carried over\n");
        } else {
            out.push_str(&format!(
                "; {lost} thing(s) could not be carried over (also as # comments in the output):\n"
            ));
            for finding in self.lost_findings() {
                out.push_str(&format!("  {finding}\n"));
            }
        }
        out
    }
}

/// Why the input cannot be imported: every problem, each naming file, document and field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InputErrors(pub Vec<String>);

impl fmt::Display for InputErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for InputErrors {}

/// Appends `text` as comment lines; a line break in the text starts a new comment line, so
/// nothing in a message (a value read from the input) can end the comment. Every YAML line
/// break counts (YAML 1.1 §5.4, which serde_yaml follows, has three besides CR and LF).
fn push_comment(out: &mut String, text: &str) {
    for line in text.split(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}']) {
        out.push('#');
        if !line.is_empty() {
            out.push(' ');
            out.push_str(line);
        }
        out.push('\n');
    }
}

fn object_yaml(object: &AnyObject) -> String {
    // The three kinds are strings, numbers, booleans and string-keyed maps: nothing YAML
    // cannot represent.
    serde_yaml::to_string(object).expect("porter objects always serialize to YAML")
}

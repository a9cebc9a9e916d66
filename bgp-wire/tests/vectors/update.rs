//! Golden vectors for UPDATE messages and every path attribute.
//! PLACEHOLDER(helper-update): fill in.

use super::Vector;

/// The vectors of this file.
pub fn vectors() -> Vec<Vector> {
    vec![]
}

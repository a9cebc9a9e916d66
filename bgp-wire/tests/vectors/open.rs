//! Golden vectors for OPEN (with every capability), NOTIFICATION, KEEPALIVE and
//! ROUTE-REFRESH. PLACEHOLDER(helper-open): fill in.

use super::Vector;

/// The vectors of this file.
pub fn vectors() -> Vec<Vector> {
    vec![]
}

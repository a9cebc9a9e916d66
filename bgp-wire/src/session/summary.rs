//! Summaries of received UPDATEs.

use crate::message::update::ReceivedUpdate;

use super::event::UpdateSummary;

/// Counts what an accepted UPDATE announces and withdraws, and whether it is an End-of-RIB
/// marker (RFC 4724 §2).
pub(crate) fn summarize(received: ReceivedUpdate) -> UpdateSummary {
    let u = &received.update;
    UpdateSummary {
        announced: u.announced().count(),
        withdrawn: u.withdrawn_routes().count(),
        treatment: received.treatment,
        end_of_rib: u.end_of_rib_family(),
        errors: received.errors,
    }
}

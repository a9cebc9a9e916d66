//! Summaries of received UPDATEs, and End-of-RIB recognition (RFC 4724 §2).

use crate::attribute::MpReach;
use crate::attribute::{MpUnreach, PathAttribute};
use crate::iana::Family;
use crate::message::update::{ReceivedUpdate, UpdateMsg};

use super::event::UpdateSummary;

/// Counts what an accepted UPDATE announces and withdraws.
pub(crate) fn summarize(received: ReceivedUpdate) -> UpdateSummary {
    let (announced, withdrawn) = prefix_counts(&received.update);
    UpdateSummary {
        announced,
        withdrawn,
        treatment: received.treatment,
        end_of_rib: end_of_rib_family(&received.update),
        errors: received.errors,
    }
}

/// (announced, withdrawn) prefixes of IPv4 and IPv6 unicast; other families travel raw and
/// are not counted.
pub(crate) fn prefix_counts(u: &UpdateMsg) -> (usize, usize) {
    let mut announced = u.nlri.len();
    let mut withdrawn = u.withdrawn.len();
    for a in &u.attributes {
        match a {
            PathAttribute::MpReach(MpReach::Unicast { nlri, .. }) => announced += nlri.len(),
            PathAttribute::MpUnreach(MpUnreach::Unicast { withdrawn: w, .. }) => {
                withdrawn += w.len()
            }
            _ => {}
        }
    }
    (announced, withdrawn)
}

/// The family `u` marks End-of-RIB for. RFC 4724 §2: for IPv4 unicast "an UPDATE message
/// with no reachable Network Layer Reachability Information (NLRI) and empty withdrawn
/// NLRI"; for any other family an UPDATE holding only an empty MP_UNREACH_NLRI.
pub(crate) fn end_of_rib_family(u: &UpdateMsg) -> Option<Family> {
    if !u.withdrawn.is_empty() || !u.nlri.is_empty() {
        return None;
    }
    match u.attributes.as_slice() {
        [] => Some(Family::IPV4_UNICAST),
        [PathAttribute::MpUnreach(MpUnreach::Unicast { family, withdrawn })]
            if withdrawn.is_empty() =>
        {
            Some(*family)
        }
        [PathAttribute::MpUnreach(MpUnreach::Other { family, withdrawn })]
            if withdrawn.is_empty() =>
        {
            Some(*family)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribute::Origin;
    use crate::nlri::{Nlri, Prefix};

    #[test]
    fn recognises_end_of_rib_markers() {
        assert_eq!(
            end_of_rib_family(&UpdateMsg::default()),
            Some(Family::IPV4_UNICAST)
        );
        let v6 = UpdateMsg {
            attributes: vec![PathAttribute::MpUnreach(MpUnreach::Unicast {
                family: Family::IPV6_UNICAST,
                withdrawn: vec![],
            })],
            ..Default::default()
        };
        assert_eq!(end_of_rib_family(&v6), Some(Family::IPV6_UNICAST));
        let not = UpdateMsg {
            attributes: vec![PathAttribute::Origin(Origin::Igp)],
            ..Default::default()
        };
        assert_eq!(end_of_rib_family(&not), None);
        let withdraw = UpdateMsg {
            withdrawn: vec![Nlri::new(Prefix::new([10, 0, 0, 0].into(), 8).unwrap())],
            ..Default::default()
        };
        assert_eq!(end_of_rib_family(&withdraw), None);
        assert_eq!(prefix_counts(&withdraw), (0, 1));
    }
}

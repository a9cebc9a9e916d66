//! BGP messages: the header, and one module per message type holding its model, encoder and
//! decoder.
//!
//! ```text
//! +-----------------+------------+----------+------------------+
//! | Marker (16)     | Length (2) | Type (1) | Body (Length-19) |
//! +-----------------+------------+----------+------------------+
//! ```
//! RFC 4271 §4.1.

pub mod notification;
pub mod open;
pub mod route_refresh;
pub mod update;

pub use notification::NotificationMsg;
pub use open::OpenMsg;
pub use route_refresh::RouteRefreshMsg;
pub use update::UpdateMsg;

/// One BGP message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")
)]
pub enum Message {
    /// OPEN, RFC 4271 §4.2.
    Open(OpenMsg),
    /// UPDATE, RFC 4271 §4.3.
    Update(UpdateMsg),
    /// NOTIFICATION, RFC 4271 §4.5.
    Notification(NotificationMsg),
    /// KEEPALIVE, RFC 4271 §4.4: a header and nothing else.
    Keepalive,
    /// ROUTE-REFRESH, RFC 2918 §3 and RFC 7313 §3.2.
    RouteRefresh(RouteRefreshMsg),
}

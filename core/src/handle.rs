//! [`ConnHandle`], how the application names a connection: the endpoint
//! hands them out, and each connection's events carry its own (so this
//! sits apart from both).

/// Identifies a connection of an [`Endpoint`](crate::Endpoint). Stale
/// handles (of a connection that is gone) are recognised and refused, never
/// confused with a newer connection.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ConnHandle {
    /// The endpoint's slot.
    pub(crate) index: u32,
    /// The slot's generation when the connection was put there.
    pub(crate) generation: u32,
}

//! Turning what arrives (OTLP/HTTP bodies, OTLP/gRPC calls, the agent's local store) into
//! [`crate::record`] values. Nothing here touches the store or the indexes.

pub mod grpc;
pub mod import;
pub mod otlp;

/// Why a request was refused; becomes the HTTP status and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// HTTP status (400, 413, 415).
    pub status: u16,
    /// Human-readable reason.
    pub message: String,
}

impl Rejected {
    /// A 400 with `message`.
    pub fn bad(message: impl Into<String>) -> Self {
        Self {
            status: 400,
            message: message.into(),
        }
    }
}

/// A refused API key, or data of a service the key may not send: 401 or
/// 403 with the key error's text (never the key).
impl From<crate::auth::KeyError> for Rejected {
    fn from(e: crate::auth::KeyError) -> Self {
        Self {
            status: e.status(),
            message: e.to_string(),
        }
    }
}

//! Everything that can go wrong talking to Alpaca (or the simulator), as typed variants.

/// An Alpaca error body: `{"code": 40310000, "message": "insufficient buying power"}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct ApiErrorBody {
    #[serde(default)]
    pub code: i64,
    #[serde(default)]
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AlpacaError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    #[error("connection failed: {0}")]
    Transport(String),
    #[error("no response within {0:?}")]
    Timeout(std::time::Duration),
    #[error("rate limited (429) after {attempts} attempts")]
    RateLimited { attempts: u32 },
    #[error("authentication refused ({status}): {message}")]
    Unauthorized { status: u16, message: String },
    #[error("insufficient buying power: {0}")]
    InsufficientBuyingPower(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("order is not cancelable: {0}")]
    NotCancelable(String),
    #[error("client_order_id already used: {0}")]
    DuplicateClientOrderId(String),
    #[error("rejected ({status}, code {code}): {message}")]
    Rejected {
        status: u16,
        code: i64,
        message: String,
    },
    #[error("server error ({status}): {message}")]
    Server { status: u16, message: String },
    #[error("cannot decode {what}: {reason}")]
    Decode { what: &'static str, reason: String },
    #[error("stream protocol: {0}")]
    Protocol(String),
    #[error("not sent: the order gate is closed (kill switch)")]
    Halted,
}

impl AlpacaError {
    /// Maps an HTTP error response to a typed error. Alpaca's codes are not fully documented, so the
    /// message text decides where the code alone cannot (both are matched as the simulator and
    /// Alpaca send them).
    #[must_use]
    pub fn from_response(status: u16, body: &[u8]) -> Self {
        let parsed: Option<ApiErrorBody> = serde_json::from_slice(body).ok();
        let (code, message) = match parsed {
            Some(b) => (b.code, b.message),
            None => (0, String::from_utf8_lossy(body).chars().take(200).collect()),
        };
        let lower = message.to_ascii_lowercase();
        match status {
            401 => Self::Unauthorized { status, message },
            403 if lower.contains("buying power") => Self::InsufficientBuyingPower(message),
            403 if lower.contains("forbidden") || lower.contains("unauthorized") => {
                Self::Unauthorized { status, message }
            }
            404 => Self::NotFound(message),
            422 if lower.contains("client_order_id") => Self::DuplicateClientOrderId(message),
            422 if lower.contains("cancel") => Self::NotCancelable(message),
            500..=599 => Self::Server { status, message },
            _ => Self::Rejected {
                status,
                code,
                message,
            },
        }
    }

    /// Worth trying again (for requests that are safe to repeat).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Connect(_) | Self::Transport(_) | Self::Timeout(_) | Self::Server { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_map_to_typed_errors() {
        let e = AlpacaError::from_response(
            403,
            br#"{"code":40310000,"message":"insufficient buying power"}"#,
        );
        assert!(matches!(e, AlpacaError::InsufficientBuyingPower(_)));
        let e = AlpacaError::from_response(
            422,
            br#"{"code":40010001,"message":"client_order_id must be unique"}"#,
        );
        assert!(matches!(e, AlpacaError::DuplicateClientOrderId(_)));
        let e = AlpacaError::from_response(
            422,
            br#"{"code":42210000,"message":"order is not cancelable"}"#,
        );
        assert!(matches!(e, AlpacaError::NotCancelable(_)));
        let e =
            AlpacaError::from_response(404, br#"{"code":40410000,"message":"order not found"}"#);
        assert!(matches!(e, AlpacaError::NotFound(m) if m == "order not found"));
        let e = AlpacaError::from_response(503, b"<html>bad gateway</html>");
        assert!(e.is_transient());
        assert!(
            matches!(e, AlpacaError::Server { status: 503, ref message } if message.contains("bad gateway"))
        );
        let e =
            AlpacaError::from_response(422, br#"{"code":40010001,"message":"qty must be > 0"}"#);
        assert!(matches!(
            e,
            AlpacaError::Rejected {
                status: 422,
                code: 40_010_001,
                ..
            }
        ));
        assert!(!e.is_transient());
    }
}

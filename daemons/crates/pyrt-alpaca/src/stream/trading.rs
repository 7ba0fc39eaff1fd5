//! The `trade_updates` stream: every order event of the account, fills included.

use std::time::Duration;

use pyrt_types::{Price, Qty, Timestamp};
use serde::Deserialize;
use tokio_tungstenite::tungstenite::Message;

use super::{Connection, KeepAlive, open};
use crate::error::AlpacaError;
use crate::rest::Credentials;
use crate::rest::models::Order;

/// One event on `trade_updates` (`new`, `fill`, `partial_fill`, `canceled`, `expired`, `replaced`,
/// `rejected`, ...). `price`, `qty`, `position_qty` and `execution_id` come with fills.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TradeUpdate {
    pub event: String,
    pub order: Order,
    #[serde(default)]
    pub timestamp: Option<Timestamp>,
    #[serde(default)]
    pub price: Option<Price>,
    #[serde(default)]
    pub qty: Option<Qty>,
    #[serde(default)]
    pub position_qty: Option<Qty>,
    #[serde(default)]
    pub execution_id: Option<String>,
}

impl TradeUpdate {
    #[must_use]
    pub fn is_fill(&self) -> bool {
        self.event == "fill" || self.event == "partial_fill"
    }
}

#[derive(Deserialize)]
struct Envelope {
    stream: String,
    #[serde(default)]
    data: serde_json::Value,
}

fn envelope(payload: &[u8]) -> Result<Envelope, AlpacaError> {
    serde_json::from_slice(payload).map_err(|e| AlpacaError::Decode {
        what: "trade_updates message",
        reason: e.to_string(),
    })
}

#[derive(Debug)]
pub struct TradeUpdates {
    socket: Connection,
}

impl TradeUpdates {
    /// Connects to `{base}/stream`, authenticates and listens to `trade_updates`.
    pub async fn connect(
        base_url: &str,
        credentials: &Credentials,
        timeout: Duration,
    ) -> Result<Self, AlpacaError> {
        let base = base_url.trim_end_matches('/');
        let url = match base.split_once("://") {
            Some(("https", rest)) => format!("wss://{rest}/stream"),
            Some(("http", rest)) => format!("ws://{rest}/stream"),
            _ => format!("{base}/stream"),
        };
        let mut socket = open(&url, &[], timeout).await?;
        let auth = serde_json::json!({
            "action": "auth", "key": credentials.key_id, "secret": credentials.secret_key,
        });
        socket.send(Message::text(auth.to_string())).await?;
        let reply = envelope(&socket.next_payload_within(timeout).await?)?;
        let status = reply
            .data
            .get("status")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("");
        if reply.stream != "authorization" || status != "authorized" {
            return Err(AlpacaError::Unauthorized {
                status: 401,
                message: format!("trade_updates: {status}"),
            });
        }
        let listen =
            serde_json::json!({"action": "listen", "data": {"streams": ["trade_updates"]}});
        socket.send(Message::text(listen.to_string())).await?;
        let reply = envelope(&socket.next_payload_within(timeout).await?)?;
        let streams = reply
            .data
            .get("streams")
            .and_then(serde_json::Value::as_array);
        let listening = streams.is_some_and(|s| s.iter().any(|v| v == "trade_updates"));
        if reply.stream != "listening" || !listening {
            return Err(AlpacaError::Protocol(
                "server did not confirm listening to trade_updates".into(),
            ));
        }
        Ok(Self { socket })
    }

    /// How a silent server is told from a quiet one ([`KeepAlive::default`] unless set).
    pub fn set_keepalive(&mut self, keepalive: KeepAlive) {
        self.socket.set_keepalive(keepalive);
    }

    /// The next order event. Messages of other streams are skipped; a message that cannot be
    /// decoded is an error (the caller logs it and reconciles through REST), never dropped silently.
    pub async fn next(&mut self) -> Result<TradeUpdate, AlpacaError> {
        loop {
            let message = envelope(&self.socket.next_payload().await?)?;
            if message.stream == "trade_updates" {
                return serde_json::from_value(message.data).map_err(|e| AlpacaError::Decode {
                    what: "trade update",
                    reason: e.to_string(),
                });
            }
        }
    }
}

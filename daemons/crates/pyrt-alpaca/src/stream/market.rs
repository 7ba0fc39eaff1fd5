//! The market-data stream (stocks `v2/{feed}` or crypto `v1beta3/crypto/us`), JSON or MessagePack.

use std::time::Duration;

use pyrt_types::{SymbolTable, Timestamp};
use tokio_tungstenite::tungstenite::Message;

use super::{Connection, KeepAlive, open};
use crate::error::AlpacaError;
use crate::md::{Control, FrameError, Item, parse_json_frame, parse_msgpack_frame};
use crate::rest::Credentials;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Json,
    MessagePack,
}

/// Channels to subscribe, by symbol ("*" for all).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscription {
    pub trades: Vec<String>,
    pub quotes: Vec<String>,
    pub bars: Vec<String>,
    pub orderbooks: Vec<String>,
}

impl Subscription {
    fn channels(&self) -> [(&'static str, &[String]); 4] {
        [
            ("trades", &self.trades),
            ("quotes", &self.quotes),
            ("bars", &self.bars),
            ("orderbooks", &self.orderbooks),
        ]
    }
}

/// A tiny MessagePack writer for the two control messages a client sends.
fn msgpack_str(out: &mut Vec<u8>, s: &str) {
    let len = s.len();
    if len < 32 {
        // Lengths below 32 fit the fixstr marker's five bits.
        out.push(0xa0 | u8::try_from(len).unwrap_or(0));
    } else if let Ok(len) = u8::try_from(len) {
        out.extend_from_slice(&[0xd9, len]);
    } else {
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        out.push(0xdb);
        out.extend_from_slice(&len.to_be_bytes());
    }
    out.extend_from_slice(s.as_bytes());
}

fn msgpack_len(out: &mut Vec<u8>, len: usize, fix: u8, wide: u8) {
    if len < 16 {
        out.push(fix | u8::try_from(len).unwrap_or(0));
    } else {
        out.push(wide);
        out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
    }
}

fn encode(encoding: Encoding, action: &str, fields: &[(&str, FieldValue<'_>)]) -> Message {
    match encoding {
        Encoding::Json => {
            let mut map = serde_json::Map::new();
            map.insert("action".into(), action.into());
            for (k, v) in fields {
                let value = match v {
                    FieldValue::Str(s) => serde_json::Value::from(*s),
                    FieldValue::List(items) => serde_json::Value::from(items.to_vec()),
                };
                map.insert((*k).into(), value);
            }
            Message::text(serde_json::Value::Object(map).to_string())
        }
        Encoding::MessagePack => {
            let mut out = Vec::new();
            msgpack_len(&mut out, fields.len() + 1, 0x80, 0xdf);
            msgpack_str(&mut out, "action");
            msgpack_str(&mut out, action);
            for (k, v) in fields {
                msgpack_str(&mut out, k);
                match v {
                    FieldValue::Str(s) => msgpack_str(&mut out, s),
                    FieldValue::List(items) => {
                        msgpack_len(&mut out, items.len(), 0x90, 0xdd);
                        for item in *items {
                            msgpack_str(&mut out, item);
                        }
                    }
                }
            }
            Message::binary(out)
        }
    }
}

enum FieldValue<'a> {
    Str(&'a str),
    List(&'a [String]),
}

#[derive(Debug)]
pub struct MarketDataStream {
    socket: Connection,
    encoding: Encoding,
}

impl MarketDataStream {
    /// Connects, waits for `connected`, authenticates and subscribes; each step must be answered
    /// within `timeout`. An `error` control message (e.g. 402 auth failed, 405 symbol limit) is
    /// returned as [`AlpacaError::Protocol`] with Alpaca's code and text.
    pub async fn connect(
        url: &str,
        credentials: &Credentials,
        encoding: Encoding,
        subscription: &Subscription,
        timeout: Duration,
    ) -> Result<Self, AlpacaError> {
        let content_type = match encoding {
            Encoding::Json => "application/json",
            Encoding::MessagePack => "application/msgpack",
        };
        let socket = open(url, &[("Content-Type", content_type)], timeout).await?;
        let mut stream = Self { socket, encoding };
        stream.expect_success("connected", timeout).await?;
        let auth = encode(
            encoding,
            "auth",
            &[
                ("key", FieldValue::Str(&credentials.key_id)),
                ("secret", FieldValue::Str(&credentials.secret_key)),
            ],
        );
        stream.socket.send(auth).await?;
        stream.expect_success("authenticated", timeout).await?;
        let channels = subscription.channels();
        let fields: Vec<(&str, FieldValue<'_>)> = channels
            .iter()
            .filter(|(_, symbols)| !symbols.is_empty())
            .map(|(name, symbols)| (*name, FieldValue::List(symbols)))
            .collect();
        stream
            .socket
            .send(encode(encoding, "subscribe", &fields))
            .await?;
        match stream.control(timeout).await? {
            Control::Subscription => Ok(stream),
            other => Err(AlpacaError::Protocol(format!(
                "expected the subscription ack, got {other:?}"
            ))),
        }
    }

    async fn control(&mut self, timeout: Duration) -> Result<Control<'static>, AlpacaError> {
        let payload = self.socket.next_payload_within(timeout).await?;
        let mut found = None;
        let empty = SymbolTable::new();
        self.parse(&payload, &empty, Timestamp::EPOCH, |item| {
            if found.is_none() {
                found = Some(match item {
                    Item::Control(Control::Success("connected")) => Control::Success("connected"),
                    Item::Control(Control::Success("authenticated")) => {
                        Control::Success("authenticated")
                    }
                    Item::Control(Control::Success(_)) => Control::Success("other"),
                    Item::Control(Control::Error { code, .. }) => Control::Error { code, msg: "" },
                    Item::Control(Control::Subscription) => Control::Subscription,
                    _ => Control::Success("data"),
                });
            }
        })
        .map_err(|e| AlpacaError::Protocol(e.to_string()))?;
        match found {
            Some(Control::Error { code, .. }) => Err(AlpacaError::Protocol(format!(
                "server error {code}: {}",
                String::from_utf8_lossy(&payload)
            ))),
            Some(control) => Ok(control),
            None => Err(AlpacaError::Protocol("empty control frame".into())),
        }
    }

    async fn expect_success(
        &mut self,
        what: &'static str,
        timeout: Duration,
    ) -> Result<(), AlpacaError> {
        match self.control(timeout).await? {
            Control::Success(msg) if msg == what => Ok(()),
            other => Err(AlpacaError::Protocol(format!(
                "expected {what}, got {other:?}"
            ))),
        }
    }

    /// Parses a frame in this stream's encoding.
    pub fn parse<'a>(
        &self,
        frame: &'a [u8],
        symbols: &SymbolTable,
        recv: Timestamp,
        sink: impl FnMut(Item<'a>),
    ) -> Result<usize, FrameError> {
        match self.encoding {
            Encoding::Json => parse_json_frame(frame, symbols, recv, sink),
            Encoding::MessagePack => parse_msgpack_frame(frame, symbols, recv, sink),
        }
    }

    /// The next frame's raw payload, to be handed to [`Self::parse`].
    pub async fn next_frame(&mut self) -> Result<Vec<u8>, AlpacaError> {
        self.socket.next_payload().await
    }

    /// How a silent server is told from a quiet one ([`KeepAlive::default`] unless set).
    pub fn set_keepalive(&mut self, keepalive: KeepAlive) {
        self.socket.set_keepalive(keepalive);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_messages_encode_in_both_formats() {
        let symbols = vec!["AAPL".to_owned(), "MSFT".to_owned()];
        let json = encode(
            Encoding::Json,
            "subscribe",
            &[("trades", FieldValue::List(&symbols))],
        );
        let Message::Text(text) = json else {
            panic!("json control messages are text")
        };
        let value: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"action": "subscribe", "trades": ["AAPL", "MSFT"]})
        );
        let packed = encode(
            Encoding::MessagePack,
            "auth",
            &[
                ("key", FieldValue::Str("k")),
                ("secret", FieldValue::Str("s")),
            ],
        );
        let Message::Binary(bytes) = packed else {
            panic!("msgpack control messages are binary")
        };
        assert_eq!(
            bytes.as_ref(),
            [
                &[0x83, 0xa6][..],
                b"action",
                &[0xa4],
                b"auth",
                &[0xa3],
                b"key",
                &[0xa1],
                b"k",
                &[0xa6],
                b"secret",
                &[0xa1],
                b"s"
            ]
            .concat()
            .as_slice()
        );
    }
}

//! Websocket streams: `trade_updates` (orders and fills) and market data.
//!
//! Each stream type connects, authenticates and subscribes, then hands out what arrives. Losing the
//! connection is an error the daemon acts on (publish a gap, reconcile through REST) before it calls
//! `connect` again after [`Backoff::next_delay`]: reconnection policy belongs to the daemon, which
//! knows what was lost.

pub mod market;
pub mod trading;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::error::AlpacaError;
use crate::transport::{Endpoint, Stream};

pub(crate) type Socket = WebSocketStream<Stream>;

/// Jittered exponential back-off for reconnects: 0.5 s doubling to a cap, each delay drawn
/// uniformly from its upper half so a fleet of clients does not reconnect in lockstep.
#[derive(Debug, Clone)]
pub struct Backoff {
    attempt: u32,
    cap: Duration,
}

impl Backoff {
    #[must_use]
    pub fn new(cap: Duration) -> Self {
        Self { attempt: 0, cap }
    }

    pub fn next_delay(&mut self) -> Duration {
        self.attempt = self.attempt.saturating_add(1);
        let exp = 500u64.saturating_mul(1u64 << self.attempt.min(16));
        let base = u64::try_from(self.cap.as_millis())
            .unwrap_or(u64::MAX)
            .min(exp);
        Duration::from_millis(base / 2 + fastrand::u64(0..=base / 2))
    }

    /// The connection is healthy again (data arrived): start over from the shortest delay.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// Opens a websocket to `url` with extra upgrade headers.
pub(crate) async fn open(
    url: &str,
    headers: &[(&'static str, &str)],
    timeout: Duration,
) -> Result<Socket, AlpacaError> {
    let endpoint = Endpoint::parse(url)?;
    let mut request = url
        .into_client_request()
        .map_err(|e| AlpacaError::Config(format!("bad websocket URL {url:?}: {e}")))?;
    for (name, value) in headers {
        let value = HeaderValue::from_str(value)
            .map_err(|_| AlpacaError::Config(format!("bad header {name}")))?;
        request.headers_mut().insert(*name, value);
    }
    let connect = async {
        let stream = Stream::connect(&endpoint).await?;
        tokio_tungstenite::client_async(request, stream)
            .await
            .map(|(socket, _)| socket)
            .map_err(|e| AlpacaError::Transport(format!("websocket handshake: {e}")))
    };
    tokio::time::timeout(timeout, connect)
        .await
        .map_err(|_| AlpacaError::Timeout(timeout))?
}

/// The next data frame's payload (text or binary). Pings are answered by the library; a close or
/// an end of stream is an error, since the caller must notice the loss.
pub(crate) async fn next_payload(socket: &mut Socket) -> Result<Vec<u8>, AlpacaError> {
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => return Ok(text.as_bytes().to_vec()),
            Some(Ok(Message::Binary(bytes))) => return Ok(bytes.to_vec()),
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
            Some(Ok(Message::Close(frame))) => {
                return Err(AlpacaError::Transport(format!(
                    "stream closed by server: {frame:?}"
                )));
            }
            Some(Err(e)) => return Err(AlpacaError::Transport(e.to_string())),
            None => return Err(AlpacaError::Transport("stream ended".into())),
        }
    }
}

/// Like [`next_payload`] with a deadline, for handshake steps.
pub(crate) async fn next_payload_within(
    socket: &mut Socket,
    timeout: Duration,
) -> Result<Vec<u8>, AlpacaError> {
    tokio::time::timeout(timeout, next_payload(socket))
        .await
        .map_err(|_| AlpacaError::Timeout(timeout))?
}

pub(crate) async fn send(socket: &mut Socket, message: Message) -> Result<(), AlpacaError> {
    socket
        .send(message)
        .await
        .map_err(|e| AlpacaError::Transport(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(30));
        let first = b.next_delay();
        assert!(first >= Duration::from_millis(500) && first <= Duration::from_secs(1));
        for _ in 0..20 {
            assert!(b.next_delay() <= Duration::from_secs(30));
        }
        assert!(b.next_delay() >= Duration::from_secs(15));
        b.reset();
        assert!(b.next_delay() <= Duration::from_secs(1));
    }
}

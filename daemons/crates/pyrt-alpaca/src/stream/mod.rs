//! Websocket streams: `trade_updates` (orders and fills) and market data.
//!
//! Each stream type connects, authenticates and subscribes, then hands out what arrives. Losing the
//! connection is an error the daemon acts on (publish a gap, reconcile through REST) before it calls
//! `connect` again after [`Backoff::next_delay`]: reconnection policy belongs to the daemon, which
//! knows what was lost.

pub mod market;
pub mod trading;

use std::time::{Duration, Instant};

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
) -> Result<Connection, AlpacaError> {
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
        .map(Connection::new)
}

/// How a connection notices a peer that went silent. A half-open TCP connection (a router
/// dropped state, the far host vanished) delivers no FIN, so without this a stream would wait
/// for its next frame forever while the daemon believes it is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAlive {
    /// Silence after which the client sends a ping.
    pub ping_after: Duration,
    /// Further silence after the ping (no pong, no data) after which the peer is given up.
    pub dead_after: Duration,
}

impl Default for KeepAlive {
    /// A quiet stream is pinged after 15 s and given up 10 s later: both streams can be idle
    /// for minutes out of hours, and 25 s bounds how long a dead one goes unnoticed.
    fn default() -> Self {
        Self {
            ping_after: Duration::from_secs(15),
            dead_after: Duration::from_secs(10),
        }
    }
}

/// An open websocket and what it takes to tell a quiet peer from a dead one. The timing state
/// lives here, not in a future, so a caller that drops a pending read (`select!` over several
/// streams) loses none of it.
#[derive(Debug)]
pub(crate) struct Connection {
    socket: Socket,
    keepalive: KeepAlive,
    last_frame: Instant,
    pinged: Option<Instant>,
}

impl Connection {
    pub(crate) fn new(socket: Socket) -> Self {
        Self {
            socket,
            keepalive: KeepAlive::default(),
            last_frame: Instant::now(),
            pinged: None,
        }
    }

    pub(crate) fn set_keepalive(&mut self, keepalive: KeepAlive) {
        self.keepalive = keepalive;
    }

    /// The next data frame's payload (text or binary). Pings are answered by the library and any
    /// frame counts as life; a close, an end of stream or a peer silent through a ping is an
    /// error, since the caller must notice the loss.
    pub(crate) async fn next_payload(&mut self) -> Result<Vec<u8>, AlpacaError> {
        loop {
            let deadline = match self.pinged {
                None => self.last_frame + self.keepalive.ping_after,
                Some(at) => at + self.keepalive.dead_after,
            };
            let Ok(next) = tokio::time::timeout_at(deadline.into(), self.socket.next()).await
            else {
                if self.pinged.is_some() {
                    return Err(AlpacaError::Transport(format!(
                        "no frame for {:?} and no answer to a ping within {:?}: connection presumed dead",
                        self.keepalive.ping_after, self.keepalive.dead_after
                    )));
                }
                self.send(Message::Ping(Vec::new().into())).await?;
                self.pinged = Some(Instant::now());
                continue;
            };
            self.last_frame = Instant::now();
            self.pinged = None;
            match next {
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

    /// Like [`Self::next_payload`] with a deadline, for handshake steps.
    pub(crate) async fn next_payload_within(
        &mut self,
        timeout: Duration,
    ) -> Result<Vec<u8>, AlpacaError> {
        tokio::time::timeout(timeout, self.next_payload())
            .await
            .map_err(|_| AlpacaError::Timeout(timeout))?
    }

    pub(crate) async fn send(&mut self, message: Message) -> Result<(), AlpacaError> {
        self.socket
            .send(message)
            .await
            .map_err(|e| AlpacaError::Transport(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use tokio::net::TcpListener;
    use tokio_tungstenite::accept_async;

    use super::*;

    /// A websocket server on a loopback port, the client connected to it and the server's side.
    async fn pair() -> (Connection, WebSocketStream<tokio::net::TcpStream>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/stream", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            accept_async(tcp).await.unwrap()
        });
        let client = open(&url, &[], Duration::from_secs(10)).await.unwrap();
        (client, server.await.unwrap())
    }

    #[tokio::test]
    async fn a_peer_silent_through_a_ping_is_given_up() {
        let (mut client, mut server) = pair().await;
        client.set_keepalive(KeepAlive {
            ping_after: Duration::from_millis(100),
            dead_after: Duration::from_millis(300),
        });
        // The server never reads, so never answers: a half-open connection as the client sees it.
        let err = client.next_payload().await.unwrap_err();
        assert!(err.to_string().contains("presumed dead"), "{err}");
        let first = server.next().await.unwrap().unwrap();
        assert!(
            matches!(first, Message::Ping(_)),
            "the client pinged first: {first:?}"
        );
    }

    #[tokio::test]
    async fn a_quiet_peer_that_answers_pings_is_kept() {
        let (mut client, mut server) = pair().await;
        client.set_keepalive(KeepAlive {
            ping_after: Duration::from_millis(50),
            dead_after: Duration::from_secs(5),
        });
        let server = tokio::spawn(async move {
            // Reading answers each ping with a pong; data only after three quiet rounds.
            let mut pings = 0;
            while pings < 3 {
                if let Message::Ping(_) = server.next().await.unwrap().unwrap() {
                    pings += 1;
                }
            }
            server.send(Message::text("after the quiet")).await.unwrap();
            server
        });
        assert_eq!(client.next_payload().await.unwrap(), b"after the quiet");
        drop(server.await.unwrap());
    }

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

//! Trading API v2 over one keep-alive HTTP/1.1 connection.
//!
//! hyper rather than reqwest: the order path is latency-critical, and hyper's connection-level API
//! lets exec own exactly one warm connection (`TCP_NODELAY`, no pool lookup, no redirect or cookie
//! layers); reqwest is this same hyper plus a pool and middleware py_rt does not need. rustls with
//! compiled-in roots, so nothing depends on the host's OpenSSL or CA bundle.
//!
//! Retries: reads and cancels (idempotent) are retried on transport errors, 5xx and 429 with
//! jittered exponential back-off. An order submission is never blindly repeated: after an unclear
//! outcome the client first asks for the order by its `client_order_id` and resubmits (with the
//! same id) only if the broker has no such order, so one intent can never become two orders.

mod limiter;
pub mod models;

use std::fmt::{self, Write as _};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue, USER_AGENT};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
pub use limiter::TokenBucket;
use models::{
    Account, CancelStatus, Clock, CloseStatus, FillActivity, LatestQuotes, Order, OrderRequest,
    Position, ReplaceRequest, TradesPage,
};
use serde::de::DeserializeOwned;

use crate::error::AlpacaError;
use crate::transport::{Endpoint, Stream};

/// Key id and secret. `Debug` never shows the secret, nor more of the key id than tells two keys
/// apart in a log.
#[derive(Clone)]
pub struct Credentials {
    pub key_id: String,
    pub secret_key: String,
}

/// The first four characters of a key id, and none of one that short: half of the pair that
/// authenticates the account does not belong in logs.
fn key_id_hint(key_id: &str) -> &str {
    let end = key_id.char_indices().nth(4).map_or(0, |(end, _)| end);
    &key_id[..end]
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("key_id", &format_args!("{}…", key_id_hint(&self.key_id)))
            .field("secret_key", &"***")
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct RestConfig {
    /// `https://paper-api.alpaca.markets`, `https://api.alpaca.markets` or the simulator's URL.
    pub base_url: String,
    pub credentials: Credentials,
    /// Kept below Alpaca's 200/min so our own bucket, not the broker, does the throttling.
    pub requests_per_minute: u32,
    pub burst: u32,
    pub timeout: Duration,
    pub max_attempts: u32,
}

impl RestConfig {
    #[must_use]
    pub fn new(base_url: impl Into<String>, credentials: Credentials) -> Self {
        Self {
            base_url: base_url.into(),
            credentials,
            requests_per_minute: 180,
            burst: 10,
            timeout: Duration::from_secs(10),
            max_attempts: 5,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    Idempotent,
    Never,
}

struct Response {
    status: u16,
    reset_after: Option<Duration>,
    body: Bytes,
}

pub struct RestClient {
    endpoint: Endpoint,
    key_id: HeaderValue,
    secret: HeaderValue,
    host: HeaderValue,
    sender: Option<SendRequest<Full<Bytes>>>,
    bucket: TokenBucket,
    timeout: Duration,
    max_attempts: u32,
    order_gate: Option<OrderGate>,
    last_exchange: Duration,
}

/// Consulted right before every new or replacing order is written; `false` refuses it with
/// [`AlpacaError::Halted`]. exec ties it to the kill switch, so an order held back by the rate
/// limit or a retry never goes out after a halt.
pub type OrderGate = Box<dyn Fn() -> bool + Send>;

impl fmt::Debug for RestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestClient")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

fn header(value: &str, what: &str) -> Result<HeaderValue, AlpacaError> {
    let mut value = HeaderValue::from_str(value)
        .map_err(|_| AlpacaError::Config(format!("{what} is not a valid header value")))?;
    value.set_sensitive(true);
    Ok(value)
}

/// Back-off before attempt `attempt` (1-based): 100 ms doubling to 5 s, with equal jitter.
fn backoff(attempt: u32) -> Duration {
    let base = 100u64.saturating_mul(1 << attempt.min(6)).min(5_000);
    Duration::from_millis(base / 2 + fastrand::u64(0..=base / 2))
}

fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

impl RestClient {
    pub fn new(config: &RestConfig) -> Result<Self, AlpacaError> {
        let endpoint = Endpoint::parse(&config.base_url)?;
        Ok(Self {
            key_id: header(&config.credentials.key_id, "key id")?,
            secret: header(&config.credentials.secret_key, "secret key")?,
            host: header(&endpoint.authority(), "host")?,
            endpoint,
            sender: None,
            bucket: TokenBucket::new(config.requests_per_minute, config.burst),
            timeout: config.timeout,
            max_attempts: config.max_attempts.max(1),
            order_gate: None,
            last_exchange: Duration::ZERO,
        })
    }

    /// Wire time of the last request's final attempt, from writing it to its answer: what the
    /// broker and the network cost, without the waits for the rate limit or a back-off.
    #[must_use]
    pub fn last_exchange(&self) -> Duration {
        self.last_exchange
    }

    async fn connection(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, AlpacaError> {
        let alive = self.sender.as_ref().is_some_and(|s| !s.is_closed());
        if !alive {
            let stream = Stream::connect(&self.endpoint).await?;
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| AlpacaError::Transport(e.to_string()))?;
            // The connection task ends when the sender is dropped or the peer closes.
            tokio::spawn(async move {
                let _ = conn.await;
            });
            self.sender = Some(sender);
        }
        self.sender
            .as_mut()
            .ok_or_else(|| AlpacaError::Transport("no connection".into()))
    }

    async fn send_once(
        &mut self,
        method: &Method,
        path: &str,
        body: Option<&Bytes>,
    ) -> Result<Response, AlpacaError> {
        let uri = format!("{}{path}", self.endpoint.prefix);
        let mut builder = Request::builder()
            .method(method.clone())
            .uri(uri)
            .header(HOST, self.host.clone())
            .header(USER_AGENT, "py_rt/0.1")
            .header("APCA-API-KEY-ID", self.key_id.clone())
            .header("APCA-API-SECRET-KEY", self.secret.clone());
        if body.is_some() {
            builder = builder.header(CONTENT_TYPE, "application/json");
        }
        let request = builder
            .body(Full::new(body.cloned().unwrap_or_default()))
            .map_err(|e| AlpacaError::Config(e.to_string()))?;
        let timeout = self.timeout;
        let sender = self.connection().await?;
        let exchange = async {
            sender
                .ready()
                .await
                .map_err(|e| AlpacaError::Transport(e.to_string()))?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| AlpacaError::Transport(e.to_string()))?;
            let status = response.status().as_u16();
            let headers = response.headers();
            let seconds = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
            };
            // X-RateLimit-Reset is an epoch second; Retry-After a delay.
            let reset_after = seconds("retry-after").map(Duration::from_secs).or_else(|| {
                let reset = seconds("x-ratelimit-reset")?;
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .ok()?
                    .as_secs();
                Some(Duration::from_secs(reset.saturating_sub(now).min(60)))
            });
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| AlpacaError::Transport(e.to_string()))?
                .to_bytes();
            Ok(Response {
                status,
                reset_after,
                body,
            })
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(AlpacaError::Timeout(timeout)),
        }
    }

    async fn request(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        retry: Retry,
    ) -> Result<Bytes, AlpacaError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.bucket.take().await;
            // Checked after the wait for a token, immediately before the order is written: the
            // wait can be long, and a halt during it must hold the order back.
            if matches!(method, Method::POST | Method::PATCH) && path.starts_with("/v2/orders") {
                self.order_allowed()?;
            }
            let written = Instant::now();
            let outcome = self.send_once(&method, path, body.as_ref()).await;
            self.last_exchange = written.elapsed();
            let error = match outcome {
                Ok(r) if (200..300).contains(&r.status) => return Ok(r.body),
                Ok(r) if r.status == 429 => {
                    let wait = r.reset_after.unwrap_or_else(|| backoff(attempt));
                    self.bucket.drain_until(Instant::now(), wait);
                    AlpacaError::RateLimited { attempts: attempt }
                }
                Ok(r) => AlpacaError::from_response(r.status, &r.body),
                Err(e) => {
                    // A failed exchange leaves the connection in an unknown state.
                    self.sender = None;
                    e
                }
            };
            let retriable =
                matches!(error, AlpacaError::RateLimited { .. }) || error.is_transient();
            if retry == Retry::Never || !retriable || attempt >= self.max_attempts {
                return Err(error);
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
    }

    async fn get<T: DeserializeOwned>(
        &mut self,
        path: &str,
        what: &'static str,
    ) -> Result<T, AlpacaError> {
        let body = self
            .request(Method::GET, path, None, Retry::Idempotent)
            .await?;
        decode(&body, what)
    }

    /// Historical trades of `symbols` from `start` (RFC 3339, inclusive), one page; the client
    /// must point at the market-data base URL.
    pub async fn stock_trades(
        &mut self,
        symbols: &str,
        start: &str,
        feed: &str,
        page_token: Option<&str>,
    ) -> Result<TradesPage, AlpacaError> {
        let mut path = format!(
            "/v2/stocks/trades?symbols={}&start={}&feed={}&limit=10000",
            encode_query(symbols),
            encode_query(start),
            encode_query(feed)
        );
        if let Some(token) = page_token {
            let _ = write!(path, "&page_token={}", encode_query(token));
        }
        self.get(&path, "historical trades").await
    }

    /// The latest quote of each of `symbols` (market-data base URL).
    pub async fn latest_quotes(
        &mut self,
        symbols: &str,
        feed: &str,
    ) -> Result<LatestQuotes, AlpacaError> {
        let path = format!(
            "/v2/stocks/quotes/latest?symbols={}&feed={}",
            encode_query(symbols),
            encode_query(feed)
        );
        self.get(&path, "latest quotes").await
    }

    pub async fn account(&mut self) -> Result<Account, AlpacaError> {
        self.get("/v2/account", "account").await
    }

    pub async fn clock(&mut self) -> Result<Clock, AlpacaError> {
        self.get("/v2/clock", "clock").await
    }

    pub async fn positions(&mut self) -> Result<Vec<Position>, AlpacaError> {
        self.get("/v2/positions", "positions").await
    }

    pub async fn get_order(&mut self, order_id: &str) -> Result<Order, AlpacaError> {
        self.get(&format!("/v2/orders/{}", encode_query(order_id)), "order")
            .await
    }

    pub async fn get_order_by_client_order_id(
        &mut self,
        client_order_id: &str,
    ) -> Result<Order, AlpacaError> {
        let path = format!(
            "/v2/orders:by_client_order_id?client_order_id={}",
            encode_query(client_order_id)
        );
        self.get(&path, "order").await
    }

    /// Orders in `status` ("open", "closed", "all") submitted after `after` (RFC 3339), oldest
    /// first, up to 500.
    pub async fn list_orders(
        &mut self,
        status: &str,
        after: Option<&str>,
    ) -> Result<Vec<Order>, AlpacaError> {
        let mut path = format!(
            "/v2/orders?status={}&limit=500&direction=asc",
            encode_query(status)
        );
        if let Some(after) = after {
            let _ = write!(path, "&after={}", encode_query(after));
        }
        self.get(&path, "orders").await
    }

    /// Fills after `page_token` (an activity id), oldest first.
    pub async fn fill_activities(
        &mut self,
        page_token: Option<&str>,
    ) -> Result<Vec<FillActivity>, AlpacaError> {
        let mut path = String::from("/v2/account/activities/FILL?direction=asc&page_size=100");
        if let Some(token) = page_token {
            let _ = write!(path, "&page_token={}", encode_query(token));
        }
        self.get(&path, "fill activities").await
    }

    pub fn set_order_gate(&mut self, gate: OrderGate) {
        self.order_gate = Some(gate);
    }

    fn order_allowed(&self) -> Result<(), AlpacaError> {
        match &self.order_gate {
            Some(gate) if !gate() => Err(AlpacaError::Halted),
            _ => Ok(()),
        }
    }

    /// Submits an order exactly once, whatever the network does (see the module documentation).
    pub async fn submit_order(&mut self, order: &OrderRequest) -> Result<Order, AlpacaError> {
        let body =
            Bytes::from(serde_json::to_vec(order).map_err(|e| AlpacaError::Config(e.to_string()))?);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let error = match self
                .request(Method::POST, "/v2/orders", Some(body.clone()), Retry::Never)
                .await
            {
                Ok(bytes) => return decode(&bytes, "order"),
                Err(AlpacaError::DuplicateClientOrderId(_)) => {
                    return self
                        .get_order_by_client_order_id(&order.client_order_id)
                        .await;
                }
                Err(e @ AlpacaError::RateLimited { .. }) => e,
                Err(e) if e.is_transient() => {
                    // The order may or may not have reached the broker: ask before resubmitting.
                    match self
                        .get_order_by_client_order_id(&order.client_order_id)
                        .await
                    {
                        Ok(existing) => return Ok(existing),
                        Err(AlpacaError::NotFound(_)) => e,
                        Err(lookup) => return Err(lookup),
                    }
                }
                Err(e) => return Err(e),
            };
            if attempt >= self.max_attempts {
                return Err(error);
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
    }

    pub async fn replace_order(
        &mut self,
        order_id: &str,
        change: &ReplaceRequest,
    ) -> Result<Order, AlpacaError> {
        let body = Bytes::from(
            serde_json::to_vec(change).map_err(|e| AlpacaError::Config(e.to_string()))?,
        );
        let path = format!("/v2/orders/{}", encode_query(order_id));
        let bytes = self
            .request(Method::PATCH, &path, Some(body), Retry::Never)
            .await?;
        decode(&bytes, "order")
    }

    /// Cancels one order. Canceling is idempotent at the broker, so it is retried.
    pub async fn cancel_order(&mut self, order_id: &str) -> Result<(), AlpacaError> {
        let path = format!("/v2/orders/{}", encode_query(order_id));
        self.request(Method::DELETE, &path, None, Retry::Idempotent)
            .await
            .map(|_| ())
    }

    pub async fn cancel_all_orders(&mut self) -> Result<Vec<CancelStatus>, AlpacaError> {
        let bytes = self
            .request(Method::DELETE, "/v2/orders", None, Retry::Idempotent)
            .await?;
        decode(&bytes, "cancel-all statuses")
    }

    pub async fn close_all_positions(
        &mut self,
        cancel_orders: bool,
    ) -> Result<Vec<CloseStatus>, AlpacaError> {
        let path = format!("/v2/positions?cancel_orders={cancel_orders}");
        let bytes = self
            .request(Method::DELETE, &path, None, Retry::Idempotent)
            .await?;
        decode(&bytes, "close-all statuses")
    }
}

fn decode<T: DeserializeOwned>(body: &[u8], what: &'static str) -> Result<T, AlpacaError> {
    serde_json::from_slice(body).map_err(|e| AlpacaError::Decode {
        what,
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything `Debug` shows of `credentials`, directly and inside the config and client.
    fn shown(key_id: &str, secret_key: &str) -> String {
        let credentials = Credentials {
            key_id: key_id.into(),
            secret_key: secret_key.into(),
        };
        let config = RestConfig::new("http://127.0.0.1:1", credentials.clone());
        let client = RestClient::new(&config).unwrap();
        format!("{credentials:?} {config:?} {client:?}")
    }

    #[test]
    fn debug_shows_four_characters_of_the_key_id_and_nothing_of_the_secret() {
        let secret = "Zq9xW7vKj2mT8pLrYh4N";
        let text = shown("PKX7Q2M9RT4LB8ZC1VNA", secret);
        assert!(text.contains("key_id: PKX7…"), "{text}");
        assert!(
            !text.contains("PKX7Q"),
            "more than 4 characters of the key id: {text}"
        );
        for piece in secret.as_bytes().windows(3) {
            let piece = std::str::from_utf8(piece).unwrap();
            assert!(!text.contains(piece), "{piece:?} of the secret in {text}");
        }
        let text = shown("PKQZ", secret);
        assert!(
            text.contains("key_id: …") && !text.contains("PKQ"),
            "a short id shows nothing: {text}"
        );
        let multibyte = Credentials {
            key_id: "ÄÖÜßéQ".into(),
            secret_key: secret.into(),
        };
        assert!(
            format!("{multibyte:?}").contains("key_id: ÄÖÜß…"),
            "cut on a character boundary"
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 1..20 {
            let d = backoff(attempt);
            let base = 100u64.saturating_mul(1 << attempt.min(6)).min(5_000);
            assert!(d >= Duration::from_millis(base / 2) && d <= Duration::from_millis(base));
        }
        assert_eq!(encode_query("a b/c"), "a%20b%2Fc");
    }
}

//! One TCP connection, plain (the local simulator) or TLS (Alpaca), shared by REST and websockets.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::error::AlpacaError;

/// A parsed `http(s)://host[:port][/prefix]` or `ws(s)://...` endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Path prefix without a trailing slash ("" for none).
    pub prefix: String,
}

impl Endpoint {
    pub fn parse(url: &str) -> Result<Self, AlpacaError> {
        let bad = |reason: &str| AlpacaError::Config(format!("bad URL {url:?}: {reason}"));
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let tls = match scheme {
            "https" | "wss" => true,
            "http" | "ws" => false,
            _ => return Err(bad("scheme must be http, https, ws or wss")),
        };
        let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().map_err(|_| bad("bad port"))?),
            None => (authority, if tls { 443 } else { 80 }),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(Self {
            tls,
            host: host.to_owned(),
            port,
            prefix: path.trim_end_matches('/').to_owned(),
        })
    }

    /// `Host` header value.
    #[must_use]
    pub fn authority(&self) -> String {
        let default = if self.tls { 443 } else { 80 };
        if self.port == default {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn tls_connector() -> Result<TlsConnector, AlpacaError> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        // Mozilla's roots compiled in: the host needs no CA bundle and nothing changes under us.
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|b| Arc::new(b.with_root_certificates(roots).with_no_client_auth()))
            .map_err(|e| e.to_string())
    });
    match config {
        Ok(config) => Ok(TlsConnector::from(Arc::clone(config))),
        Err(e) => Err(AlpacaError::Config(format!("TLS configuration: {e}"))),
    }
}

/// A connected byte stream.
#[derive(Debug)]
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    pub async fn connect(endpoint: &Endpoint) -> Result<Self, AlpacaError> {
        let tcp = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
            .await
            .map_err(AlpacaError::Connect)?;
        // Orders are small writes that must leave now, not when Nagle decides.
        tcp.set_nodelay(true).map_err(AlpacaError::Connect)?;
        if !endpoint.tls {
            return Ok(Self::Plain(tcp));
        }
        let name = ServerName::try_from(endpoint.host.clone())
            .map_err(|e| AlpacaError::Config(format!("bad TLS server name: {e}")))?;
        let tls = tls_connector()?
            .connect(name, tcp)
            .await
            .map_err(AlpacaError::Connect)?;
        Ok(Self::Tls(Box::new(tls)))
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_with_defaults() {
        let e = Endpoint::parse("https://paper-api.alpaca.markets").unwrap();
        assert_eq!((e.tls, e.port, e.prefix.as_str()), (true, 443, ""));
        assert_eq!(e.authority(), "paper-api.alpaca.markets");
        let e = Endpoint::parse("ws://127.0.0.1:8765/v2/iex/").unwrap();
        assert_eq!((e.tls, e.host.as_str(), e.port), (false, "127.0.0.1", 8765));
        assert_eq!(e.prefix, "/v2/iex");
        assert_eq!(e.authority(), "127.0.0.1:8765");
        for bad in ["127.0.0.1:80", "ftp://x", "http://", "http://h:port"] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }
}

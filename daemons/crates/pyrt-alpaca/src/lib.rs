//! The Alpaca protocol as py_rt speaks it, against Alpaca itself or the project's simulator.
//!
//! - [`md`]: market-data stream frames (JSON and MessagePack) parsed straight into 64-byte events
//!   (the market-data daemon's hot path: no allocation).
//! - [`rest`]: Trading API v2 over one keep-alive connection, self-throttled, with retries only
//!   where they are safe.
//! - [`stream`]: the `trade_updates` and market-data websockets with authentication, subscription
//!   and reconnection.

pub mod error;
pub mod md;
pub mod rest;
pub mod stream;
pub mod transport;

pub use error::AlpacaError;

//! The Alpaca protocol as py_rt speaks it.
//!
//! [`md`]: market-data stream frames (JSON and MessagePack) parsed straight into 64-byte events.

pub mod md;

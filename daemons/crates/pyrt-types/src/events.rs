//! Fixed-size events that cross the shared-memory rings.
//!
//! Every event is exactly one 64-byte cache line, `#[repr(C)]`, plain old data (any bit pattern is a
//! valid value, so a reader can never be handed undefined behaviour by a torn or hostile writer), and
//! starts with the same 16-byte [`EventHeader`]. Enumerations are stored as their `u8` codes and
//! decoded with a checked accessor. [`LAYOUT_HASH`] digests every field's name, type, offset and size;
//! rings write it into their headers so two binaries built from different layouts refuse to talk.

use std::mem::{align_of, offset_of, size_of};

use bytemuck::{Pod, Zeroable};

use crate::enums::{OrderStatus, OrderType, Side, TimeInForce, WireEnumError};
use crate::fixed::{Price, Qty};
use crate::symbol::SymbolId;
use crate::time::Timestamp;

/// Size and alignment of every event and ring slot.
pub const EVENT_SIZE: usize = 64;

/// Set on the last delta of an atomic book update: readers must not act on a half-applied batch.
pub const FLAG_LAST_IN_BATCH: u8 = 1;
/// Set on deltas that belong to a snapshot rather than an incremental update.
pub const FLAG_SNAPSHOT: u8 = 1 << 1;
/// `EventHeader::flags`: fetched through REST after a feed gap, not received live; its
/// `ts_event` lies in the gap.
pub const FLAG_BACKFILL: u8 = 1 << 2;

/// Common prefix of every event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Pod, Zeroable)]
#[repr(C)]
pub struct EventHeader {
    /// Receive time of the market-data frame this event descends from; carried unchanged through
    /// signal, intent, ack and fill so every stage's latency is measured from the same origin.
    pub ts_origin: Timestamp,
    pub symbol: SymbolId,
    /// An [`EventKind`] code.
    pub kind: u8,
    /// `FLAG_*` bits.
    pub flags: u8,
    pub reserved: u16,
}

/// One description of a field for the layout hash.
#[derive(Debug, Clone, Copy)]
pub struct FieldLayout {
    pub name: &'static str,
    pub ty: &'static str,
    pub offset: usize,
    pub size: usize,
}

macro_rules! events {
    ($(
        $(#[$doc:meta])*
        $name:ident = $code:literal {
            $( $(#[$fdoc:meta])* $field:ident : $ty:ty ),+ $(,)?
        }
    )+) => {
        /// Discriminant stored in [`EventHeader::kind`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum EventKind {
            $($name = $code),+
        }

        impl EventKind {
            pub const ALL: &'static [Self] = &[$(Self::$name),+];

            pub fn from_code(code: u8) -> Result<Self, WireEnumError> {
                match code {
                    $($code => Ok(Self::$name),)+
                    _ => Err(WireEnumError::UnknownCode { kind: "event kind", code }),
                }
            }

            #[must_use]
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$name => stringify!($name)),+
                }
            }

            /// Field layout of this kind's struct, header first.
            #[must_use]
            pub const fn layout(self) -> &'static [FieldLayout] {
                match self {
                    $(Self::$name => $name::LAYOUT),+
                }
            }
        }

        $(
            $(#[$doc])*
            #[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
            #[repr(C, align(64))]
            pub struct $name {
                pub header: EventHeader,
                $( $(#[$fdoc])* pub $field: $ty ),+
            }

            const _: () = assert!(size_of::<$name>() == EVENT_SIZE);
            const _: () = assert!(align_of::<$name>() == EVENT_SIZE);

            impl $name {
                pub const KIND: EventKind = EventKind::$name;
                pub const LAYOUT: &'static [FieldLayout] = &[
                    FieldLayout {
                        name: "header",
                        ty: "EventHeader",
                        offset: offset_of!($name, header),
                        size: size_of::<EventHeader>(),
                    },
                    $(FieldLayout {
                        name: stringify!($field),
                        ty: stringify!($ty),
                        offset: offset_of!($name, $field),
                        size: size_of::<$ty>(),
                    }),+
                ];

                /// A zeroed event with its header filled in.
                #[must_use]
                pub fn with_header(ts_origin: Timestamp, symbol: SymbolId) -> Self {
                    let mut event = Self::zeroed();
                    event.header = EventHeader {
                        ts_origin,
                        symbol,
                        kind: EventKind::$name as u8,
                        flags: 0,
                        reserved: 0,
                    };
                    event
                }
            }

            impl AnyEvent for $name {
                const KIND: EventKind = EventKind::$name;
            }
        )+
    };
}

/// Implemented by every event struct; lets [`RawEvent`] hand out typed views.
pub trait AnyEvent: Pod {
    const KIND: EventKind;
}

events! {
    /// Top of book (NBBO for Alpaca equities).
    Quote = 1 {
        ts_event: Timestamp,
        bid_price: Price,
        ask_price: Price,
        bid_size: Qty,
        ask_size: Qty,
        /// Exchange codes as single ASCII letters (Alpaca's `bx`/`ax`), 0 when unknown.
        bid_exchange: u8,
        ask_exchange: u8,
        reserved: [u8; 6],
    }
    /// A print.
    Trade = 2 {
        ts_event: Timestamp,
        price: Price,
        size: Qty,
        trade_id: u64,
        exchange: u8,
        /// 0 unknown, otherwise a [`Side`] code plus one.
        aggressor: u8,
        reserved: [u8; 14],
    }
    /// An OHLCV bar; `ts_event` is the bar's start.
    Bar = 3 {
        ts_event: Timestamp,
        open: Price,
        high: Price,
        low: Price,
        close: Price,
        volume: Qty,
    }
    /// One change to an L2 level (`order_id` 0) or an L3 order.
    BookDelta = 4 {
        ts_event: Timestamp,
        price: Price,
        size: Qty,
        order_id: u64,
        /// Feed sequence number of the update this delta came from.
        sequence: u64,
        side: u8,
        /// A [`BookAction`] code.
        action: u8,
        reserved: [u8; 6],
    }
    /// Strategy output: the position wanted in `header.symbol` (`target_qty` long, or short
    /// when `side` is sell; zero is flat) with the model's score. Risk sizes the order.
    Signal = 5 {
        ts_event: Timestamp,
        signal_seq: u64,
        /// Model output; a dimensionless score, not money.
        score: f64,
        target_qty: Qty,
        reference_price: Price,
        model_generation: u32,
        strategy_id: u16,
        side: u8,
        reserved: u8,
    }
    /// An order request that passed risk; exec acts only on stamped intents.
    OrderIntent = 6 {
        /// Source of the `client_order_id`; unique per trading day and never reused.
        intent_seq: u64,
        /// The intent a cancel or replace refers to; 0 for a new order.
        ref_seq: u64,
        qty: Qty,
        limit_price: Price,
        stop_price: Price,
        /// Written by the risk daemon; exec refuses an intent whose stamp does not verify.
        risk_stamp: u32,
        side: u8,
        order_type: u8,
        time_in_force: u8,
        /// An [`IntentAction`] code.
        action: u8,
    }
    /// The broker's answer to an intent.
    OrderAck = 7 {
        ts_event: Timestamp,
        intent_seq: u64,
        /// The broker's order id (a UUID) as 16 raw bytes.
        broker_order_id: [u8; 16],
        leaves_qty: Qty,
        status: u8,
        reserved0: u8,
        /// Broker reject code class (HTTP status), 0 when accepted.
        reject_code: u16,
        reserved: [u8; 4],
    }
    /// An execution.
    Fill = 8 {
        ts_event: Timestamp,
        intent_seq: u64,
        price: Price,
        qty: Qty,
        leaves_qty: Qty,
        side: u8,
        /// The order's status after this fill.
        status: u8,
        reserved: [u8; 6],
    }
    /// Data was lost (reconnect, sequence hole, ring overrun): books for `header.symbol` (or all
    /// symbols when it is `u32::MAX`) are stale until rebuilt.
    Gap = 9 {
        ts_event: Timestamp,
        lost_messages: u64,
        reason: u8,
        reserved: [u8; 31],
    }
}

/// What a [`BookDelta`] does to its level or order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum BookAction {
    Add = 0,
    Update = 1,
    Delete = 2,
    Clear = 3,
}

/// What an [`OrderIntent`] asks exec to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum IntentAction {
    New = 0,
    Cancel = 1,
    Replace = 2,
}

impl BookAction {
    pub fn from_code(code: u8) -> Result<Self, WireEnumError> {
        match code {
            0 => Ok(Self::Add),
            1 => Ok(Self::Update),
            2 => Ok(Self::Delete),
            3 => Ok(Self::Clear),
            _ => Err(WireEnumError::UnknownCode {
                kind: "book action",
                code,
            }),
        }
    }
}

impl IntentAction {
    pub fn from_code(code: u8) -> Result<Self, WireEnumError> {
        match code {
            0 => Ok(Self::New),
            1 => Ok(Self::Cancel),
            2 => Ok(Self::Replace),
            _ => Err(WireEnumError::UnknownCode {
                kind: "intent action",
                code,
            }),
        }
    }
}

impl OrderIntent {
    pub fn side(&self) -> Result<Side, WireEnumError> {
        Side::from_code(self.side)
    }

    pub fn order_type(&self) -> Result<OrderType, WireEnumError> {
        OrderType::from_code(self.order_type)
    }

    pub fn time_in_force(&self) -> Result<TimeInForce, WireEnumError> {
        TimeInForce::from_code(self.time_in_force)
    }

    pub fn action(&self) -> Result<IntentAction, WireEnumError> {
        IntentAction::from_code(self.action)
    }
}

impl Fill {
    /// This fill as one execution of `qty` at `price` for intent `intent_seq`, leaving
    /// `leaves_qty` to fill: its status is `filled` when nothing is left, else
    /// `partially_filled`.
    #[must_use]
    pub fn execution(
        mut self,
        ts_event: Timestamp,
        intent_seq: u64,
        side: Side,
        price: Price,
        qty: Qty,
        leaves_qty: Qty,
    ) -> Self {
        self.ts_event = ts_event;
        self.intent_seq = intent_seq;
        self.side = side.code();
        self.price = price;
        self.qty = qty;
        self.leaves_qty = leaves_qty;
        self.status = if leaves_qty.is_zero() {
            OrderStatus::Filled
        } else {
            OrderStatus::PartiallyFilled
        }
        .code();
        self
    }

    pub fn side(&self) -> Result<Side, WireEnumError> {
        Side::from_code(self.side)
    }

    pub fn status(&self) -> Result<OrderStatus, WireEnumError> {
        OrderStatus::from_code(self.status)
    }
}

impl OrderAck {
    pub fn status(&self) -> Result<OrderStatus, WireEnumError> {
        OrderStatus::from_code(self.status)
    }
}

impl BookDelta {
    pub fn side(&self) -> Result<Side, WireEnumError> {
        Side::from_code(self.side)
    }

    pub fn action(&self) -> Result<BookAction, WireEnumError> {
        BookAction::from_code(self.action)
    }
}

/// An untyped ring slot: a header and 48 bytes whose meaning `header.kind` gives.
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C, align(64))]
pub struct RawEvent {
    pub header: EventHeader,
    pub payload: [u8; EVENT_SIZE - size_of::<EventHeader>()],
}

const _: () = assert!(size_of::<RawEvent>() == EVENT_SIZE);
const _: () = assert!(size_of::<EventHeader>() == 16);

impl RawEvent {
    pub fn kind(&self) -> Result<EventKind, WireEnumError> {
        EventKind::from_code(self.header.kind)
    }

    /// The typed view, if this slot holds an `E`.
    #[must_use]
    pub fn as_event<E: AnyEvent>(&self) -> Option<&E> {
        (self.header.kind == E::KIND as u8).then(|| bytemuck::cast_ref(self))
    }

    #[must_use]
    pub fn from_event<E: AnyEvent>(event: &E) -> Self {
        bytemuck::cast(*event)
    }
}

const fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

const fn fnv1a_usize(hash: u64, value: usize) -> u64 {
    fnv1a(hash, &(value as u64).to_le_bytes())
}

const fn compute_layout_hash() -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    hash = fnv1a_usize(hash, EVENT_SIZE);
    let mut k = 0;
    while k < EventKind::ALL.len() {
        let kind = EventKind::ALL[k];
        hash = fnv1a(hash, kind.name().as_bytes());
        hash = fnv1a(hash, &[kind as u8]);
        let fields = kind.layout();
        let mut f = 0;
        while f < fields.len() {
            hash = fnv1a(hash, fields[f].name.as_bytes());
            hash = fnv1a(hash, fields[f].ty.as_bytes());
            hash = fnv1a_usize(hash, fields[f].offset);
            hash = fnv1a_usize(hash, fields[f].size);
            f += 1;
        }
        k += 1;
    }
    hash
}

/// Digest of every event layout (FNV-1a 64 over kinds, field names, types, offsets and sizes).
pub const LAYOUT_HASH: u64 = compute_layout_hash();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_a_raw_slot() {
        let mut quote = Quote::with_header(Timestamp::from_unix_nanos(7), SymbolId(3));
        quote.bid_price = Price::parse("187.23").unwrap();
        quote.ask_size = Qty::parse("0.5").unwrap();
        let raw = RawEvent::from_event(&quote);
        assert_eq!(raw.kind().unwrap(), EventKind::Quote);
        assert_eq!(raw.as_event::<Quote>(), Some(&quote));
        assert_eq!(raw.as_event::<Trade>(), None);
        for &kind in EventKind::ALL {
            assert_eq!(EventKind::from_code(kind as u8).unwrap(), kind);
            let layout = kind.layout();
            let end = layout.last().map(|f| f.offset + f.size).unwrap();
            assert_eq!(end, EVENT_SIZE, "{} has trailing padding", kind.name());
            for pair in layout.windows(2) {
                assert_eq!(
                    pair[0].offset + pair[0].size,
                    pair[1].offset,
                    "hole in {}",
                    kind.name()
                );
            }
        }
    }

    #[test]
    fn enum_fields_decode_checked() {
        let mut intent = OrderIntent::with_header(Timestamp::EPOCH, SymbolId(0));
        intent.side = Side::Sell.code();
        intent.order_type = OrderType::StopLimit.code();
        intent.time_in_force = 42;
        assert_eq!(intent.side().unwrap(), Side::Sell);
        assert_eq!(intent.order_type().unwrap(), OrderType::StopLimit);
        assert!(intent.time_in_force().is_err());
        assert_eq!(intent.action().unwrap(), IntentAction::New);
        assert!(EventKind::from_code(0).is_err());
    }

    #[test]
    fn layout_hash_is_stable_and_nonzero() {
        assert_ne!(LAYOUT_HASH, 0);
        assert_eq!(LAYOUT_HASH, compute_layout_hash());
    }
}

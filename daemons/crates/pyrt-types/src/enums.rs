//! Order enums whose string forms are exactly Alpaca's wire names.
//!
//! Each enum is `#[repr(u8)]` so it can sit in a 64-byte event; the discriminants are part of the
//! event layout and therefore of [`crate::events::LAYOUT_HASH`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A string or byte that names no variant of the enum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireEnumError {
    #[error("unknown {kind} {value:?}; expected one of {expected}")]
    UnknownName {
        kind: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("unknown {kind} code {code}")]
    UnknownCode { kind: &'static str, code: u8 },
}

macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident, $kind:literal { $($variant:ident = $code:literal => $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[cfg_attr(
            feature = "python",
            pyo3::pyclass(frozen, eq, eq_int, hash, module = "pyrt._core")
        )]
        #[repr(u8)]
        pub enum $name {
            $($variant = $code),+
        }

        impl $name {
            /// Every variant, in discriminant order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];
            const EXPECTED: &'static str = concat!($($wire, " "),+);

            /// Alpaca's wire name.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $wire),+
                }
            }

            #[must_use]
            pub const fn code(self) -> u8 {
                self as u8
            }

            pub fn from_code(code: u8) -> Result<Self, WireEnumError> {
                match code {
                    $($code => Ok(Self::$variant),)+
                    _ => Err(WireEnumError::UnknownCode { kind: $kind, code }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = WireEnumError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text {
                    $($wire => Ok(Self::$variant),)+
                    _ => Err(WireEnumError::UnknownName {
                        kind: $kind,
                        value: text.to_owned(),
                        expected: Self::EXPECTED.trim_ascii_end(),
                    }),
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

wire_enum! {
    /// Order side.
    Side, "side" {
        Buy = 0 => "buy",
        Sell = 1 => "sell",
    }
}

wire_enum! {
    /// Order type.
    OrderType, "order type" {
        Market = 0 => "market",
        Limit = 1 => "limit",
        Stop = 2 => "stop",
        StopLimit = 3 => "stop_limit",
        TrailingStop = 4 => "trailing_stop",
    }
}

wire_enum! {
    /// Time in force.
    TimeInForce, "time in force" {
        Day = 0 => "day",
        Gtc = 1 => "gtc",
        Opg = 2 => "opg",
        Cls = 3 => "cls",
        Ioc = 4 => "ioc",
        Fok = 5 => "fok",
    }
}

wire_enum! {
    /// Order status, Alpaca's full list.
    OrderStatus, "order status" {
        New = 0 => "new",
        PartiallyFilled = 1 => "partially_filled",
        Filled = 2 => "filled",
        DoneForDay = 3 => "done_for_day",
        Canceled = 4 => "canceled",
        Expired = 5 => "expired",
        Replaced = 6 => "replaced",
        PendingCancel = 7 => "pending_cancel",
        PendingReplace = 8 => "pending_replace",
        Accepted = 9 => "accepted",
        PendingNew = 10 => "pending_new",
        AcceptedForBidding = 11 => "accepted_for_bidding",
        Stopped = 12 => "stopped",
        Rejected = 13 => "rejected",
        Suspended = 14 => "suspended",
        Calculated = 15 => "calculated",
        Held = 16 => "held",
    }
}

impl Side {
    #[must_use]
    pub const fn opposite(self) -> Self {
        match self {
            Self::Buy => Self::Sell,
            Self::Sell => Self::Buy,
        }
    }
}

impl OrderStatus {
    /// Final statuses: the order will not change again (Alpaca treats `done_for_day` as final until
    /// the next session).
    #[must_use]
    pub const fn is_final(self) -> bool {
        matches!(
            self,
            Self::Filled
                | Self::Canceled
                | Self::Expired
                | Self::Replaced
                | Self::Rejected
                | Self::DoneForDay
        )
    }

    /// Listed by `GET /v2/orders?status=open`.
    #[must_use]
    pub const fn is_open(self) -> bool {
        !self.is_final()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for &s in OrderStatus::ALL {
            assert_eq!(s.as_str().parse::<OrderStatus>().unwrap(), s);
            assert_eq!(OrderStatus::from_code(s.code()).unwrap(), s);
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(serde_json::from_str::<OrderStatus>(&json).unwrap(), s);
        }
        for &t in TimeInForce::ALL {
            assert_eq!(t.to_string().parse::<TimeInForce>().unwrap(), t);
        }
        for &t in OrderType::ALL {
            assert_eq!(t.to_string().parse::<OrderType>().unwrap(), t);
        }
        assert_eq!(OrderType::StopLimit.as_str(), "stop_limit");
        assert_eq!(Side::Buy.opposite(), Side::Sell);
    }

    #[test]
    fn unknown_names_are_clear_errors() {
        let err = "BUY".parse::<Side>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown side \"BUY\"; expected one of buy sell"
        );
        assert_eq!(
            TimeInForce::from_code(9),
            Err(WireEnumError::UnknownCode {
                kind: "time in force",
                code: 9
            })
        );
        assert!(serde_json::from_str::<OrderStatus>("\"mystery\"").is_err());
    }

    #[test]
    fn open_and_final_partition_the_statuses() {
        let open: Vec<_> = OrderStatus::ALL.iter().filter(|s| s.is_open()).collect();
        assert_eq!(open.len(), 11);
        assert!(OrderStatus::Held.is_open());
        assert!(OrderStatus::Filled.is_final());
    }
}

//! Trading API objects. Responses may grow new fields, so unknown ones are ignored; the fields py_rt
//! uses are required, and money is fixed point (Alpaca sends string decimals, sometimes numbers).

use pyrt_types::{Notional, OrderStatus, OrderType, Price, Qty, Side, TimeInForce, Timestamp};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Order {
    pub id: String,
    pub client_order_id: String,
    pub symbol: String,
    #[serde(default)]
    pub qty: Option<Qty>,
    #[serde(default)]
    pub notional: Option<Notional>,
    pub filled_qty: Qty,
    #[serde(default)]
    pub filled_avg_price: Option<Price>,
    pub side: Side,
    #[serde(rename = "type")]
    pub order_type: OrderType,
    pub time_in_force: TimeInForce,
    pub status: OrderStatus,
    #[serde(default)]
    pub limit_price: Option<Price>,
    #[serde(default)]
    pub stop_price: Option<Price>,
    pub created_at: Timestamp,
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
    #[serde(default)]
    pub submitted_at: Option<Timestamp>,
    #[serde(default)]
    pub filled_at: Option<Timestamp>,
    #[serde(default)]
    pub replaced_by: Option<String>,
    #[serde(default)]
    pub replaces: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Account {
    pub id: String,
    pub account_number: String,
    pub status: String,
    pub cash: Notional,
    pub buying_power: Notional,
    pub equity: Notional,
    pub long_market_value: Notional,
    pub short_market_value: Notional,
    #[serde(default)]
    pub trading_blocked: bool,
    #[serde(default)]
    pub account_blocked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Position {
    pub symbol: String,
    /// Signed: negative for a short position.
    pub qty: Qty,
    pub side: String,
    pub avg_entry_price: Price,
    #[serde(default)]
    pub market_value: Option<Notional>,
    #[serde(default)]
    pub current_price: Option<Price>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Clock {
    pub timestamp: Timestamp,
    pub is_open: bool,
    pub next_open: Timestamp,
    pub next_close: Timestamp,
}

/// A `FILL` account activity, the broker's record of an execution (used to reconcile).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FillActivity {
    pub id: String,
    pub transaction_time: Timestamp,
    pub symbol: String,
    pub side: Side,
    pub price: Price,
    pub qty: Qty,
    pub leaves_qty: Qty,
    pub cum_qty: Qty,
    pub order_id: String,
}

/// One item of the multi-status body of cancel-all.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CancelStatus {
    pub id: String,
    pub status: u16,
}

/// One item of the multi-status body of close-all.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CloseStatus {
    pub symbol: String,
    pub status: u16,
}

/// `POST /v2/orders`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderRequest {
    pub symbol: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qty: Option<Qty>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notional: Option<Notional>,
    pub side: Side,
    #[serde(rename = "type")]
    pub order_type: OrderType,
    pub time_in_force: TimeInForce,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_price: Option<Price>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_price: Option<Price>,
    /// Required here (Alpaca makes it optional): idempotent retries depend on it.
    pub client_order_id: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub extended_hours: bool,
}

/// `PATCH /v2/orders/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReplaceRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qty: Option<Qty>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_in_force: Option<TimeInForce>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_price: Option<Price>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_price: Option<Price>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_order_id: Option<String>,
}

/// One print from the historical trades endpoint (Alpaca's one-letter keys).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HistoricalTrade {
    #[serde(rename = "t")]
    pub timestamp: Timestamp,
    #[serde(rename = "p")]
    pub price: Price,
    #[serde(rename = "s")]
    pub size: Qty,
    #[serde(rename = "i", default)]
    pub id: u64,
}

/// A page of `/v2/stocks/trades`; Alpaca sends `null` rather than `{}` when nothing matched.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TradesPage {
    #[serde(default)]
    pub trades: Option<std::collections::HashMap<String, Vec<HistoricalTrade>>>,
    #[serde(default)]
    pub next_page_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HistoricalQuote {
    #[serde(rename = "t")]
    pub timestamp: Timestamp,
    #[serde(rename = "bp")]
    pub bid_price: Price,
    #[serde(rename = "bs")]
    pub bid_size: Qty,
    #[serde(rename = "ap")]
    pub ask_price: Price,
    #[serde(rename = "as")]
    pub ask_size: Qty,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LatestQuotes {
    #[serde(default)]
    pub quotes: std::collections::HashMap<String, HistoricalQuote>,
}

//! What exec knows about every order it was asked for: the intent, the broker's id and status,
//! and how much of it has filled. Rebuilt from the journals on start, then kept current from REST
//! answers, `trade_updates` and fill activities. Every change that downstream must see comes out
//! as an `OrderAck` or `Fill` event, exactly once: a status is reported only when it changes, a
//! fill only when the broker's cumulative quantity moves past what was already reported.
//!
//! Fills of orders exec did not place (an operator's flatten, a trade made by hand) still move the
//! account, so they go downstream too, as external fills (intent sequence 0), and so do the
//! corrections that square exec's view with the broker's positions at start: risk's positions
//! must be the broker's, whoever traded.

use std::collections::HashMap;

use pyrt_alpaca::rest::models::{FillActivity, Order};
use pyrt_types::{
    Fill, IntentAction, OrderAck, OrderIntent, OrderStatus, Price, Qty, RawEvent, Side, SymbolId,
    Timestamp,
};

/// The intent sequence of an external fill: no intent of ours is behind it.
pub const EXTERNAL: u64 = 0;

#[derive(Debug, Clone)]
pub struct OrderState {
    pub intent: OrderIntent,
    pub broker_id: Option<String>,
    /// `None` until the broker answered.
    pub status: Option<OrderStatus>,
    /// Quantity reported downstream as filled.
    pub filled: Qty,
    /// Filled quantity according to the broker's latest word on the order.
    pub broker_filled: Qty,
}

impl OrderState {
    /// Whether the broker may still change this order or owes us fills we have not reported.
    #[must_use]
    pub fn unsettled(&self) -> bool {
        match self.status {
            None => true,
            Some(status) => !status.is_final() || self.filled < self.broker_filled,
        }
    }
}

/// What a fill report from the broker meant for us.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Execution {
    /// New: report it.
    Fill(Fill),
    /// Already reported (a replay after reconnect, or a fill we learnt from activities first).
    Duplicate,
    /// The broker's cumulative quantity jumped past this execution: some fills never reached us
    /// and must be fetched from the fill activities.
    Missed,
    /// Not one of our orders.
    Foreign,
}

#[derive(Debug)]
pub struct Orders {
    prefix: String,
    by_seq: HashMap<u64, OrderState>,
    by_broker_id: HashMap<String, u64>,
    last_seq: u64,
    /// Net quantity of external fills per symbol id, replayed from the journal like the rest.
    external: HashMap<u32, Qty>,
    /// Last fill price per symbol id, ours or external: the price a correction is booked at
    /// when the broker no longer reports one (the position is gone).
    last_price: HashMap<u32, Price>,
    /// Cumulative filled quantity seen per foreign broker order in this run, so an update the
    /// stream replays after a reconnect is not reported twice.
    foreign_filled: HashMap<String, Qty>,
    /// External executions before this instant are already in the broker positions the last
    /// squaring booked, so the stream's report of them is not booked again.
    squared_at: Timestamp,
}

/// The broker's order id as the 16 bytes an `OrderAck` carries (zeros if it is not a UUID).
#[must_use]
pub fn broker_id_bytes(id: &str) -> [u8; 16] {
    uuid::Uuid::parse_str(id).map_or([0; 16], |u| *u.as_bytes())
}

fn leaves(order: &Order) -> Qty {
    order
        .qty
        .map_or(Qty::ZERO, |q| q.saturating_sub(order.filled_qty))
}

impl Orders {
    #[must_use]
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            by_seq: HashMap::new(),
            by_broker_id: HashMap::new(),
            last_seq: 0,
            external: HashMap::new(),
            last_price: HashMap::new(),
            foreign_filled: HashMap::new(),
            squared_at: Timestamp::EPOCH,
        }
    }

    /// Rebuilds the table from the intents journal and the events journal, in that order.
    #[must_use]
    pub fn replay<'a>(
        prefix: &str,
        intents: impl IntoIterator<Item = &'a RawEvent>,
        events: impl IntoIterator<Item = &'a RawEvent>,
    ) -> Self {
        let mut orders = Self::new(prefix);
        for intent in intents
            .into_iter()
            .filter_map(RawEvent::as_event::<OrderIntent>)
        {
            orders.insert(*intent);
        }
        for event in events {
            if let Some(ack) = event.as_event::<OrderAck>() {
                orders.replay_ack(ack);
            } else if let Some(fill) = event.as_event::<Fill>() {
                orders.replay_fill(fill);
            }
        }
        orders
    }

    fn replay_ack(&mut self, ack: &OrderAck) {
        let Some(state) = self.by_seq.get_mut(&ack.intent_seq) else {
            return;
        };
        state.status = ack.status().ok();
        if ack.broker_order_id != [0; 16] {
            let id = uuid::Uuid::from_bytes(ack.broker_order_id).to_string();
            self.by_broker_id.insert(id.clone(), ack.intent_seq);
            state.broker_id = Some(id);
        }
        if state.intent.action().ok() != Some(IntentAction::Cancel) {
            let broker_filled = state.intent.qty.saturating_sub(ack.leaves_qty);
            state.broker_filled = state.broker_filled.max(broker_filled);
        }
    }

    fn replay_fill(&mut self, fill: &Fill) {
        self.last_price.insert(fill.header.symbol.0, fill.price);
        if fill.intent_seq == EXTERNAL {
            self.add_external(fill);
            return;
        }
        if let Some(state) = self.by_seq.get_mut(&fill.intent_seq) {
            state.filled = state.filled.saturating_add(fill.qty);
            state.broker_filled = state.broker_filled.max(state.filled);
            state.status = fill.status().ok();
        }
    }

    pub fn insert(&mut self, intent: OrderIntent) {
        self.last_seq = self.last_seq.max(intent.intent_seq);
        self.by_seq.entry(intent.intent_seq).or_insert(OrderState {
            intent,
            broker_id: None,
            status: None,
            filled: Qty::ZERO,
            broker_filled: Qty::ZERO,
        });
    }

    /// Highest intent sequence ever accepted; the ring never legitimately repeats one.
    #[must_use]
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    #[must_use]
    pub fn get(&self, seq: u64) -> Option<&OrderState> {
        self.by_seq.get(&seq)
    }

    #[must_use]
    pub fn client_order_id(&self, seq: u64) -> String {
        format!("{}-{seq}", self.prefix)
    }

    /// The intent sequence behind one of our `client_order_id`s.
    #[must_use]
    pub fn seq_of(&self, client_order_id: &str) -> Option<u64> {
        client_order_id
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix('-')?
            .parse()
            .ok()
    }

    fn seq_of_order(&self, order: &Order) -> Option<u64> {
        self.seq_of(&order.client_order_id)
            .or_else(|| self.by_broker_id.get(&order.id).copied())
            .filter(|seq| self.by_seq.contains_key(seq))
    }

    /// Sequence numbers of orders that still need the broker's word, oldest first.
    #[must_use]
    pub fn unsettled(&self) -> Vec<u64> {
        let mut seqs: Vec<u64> = self
            .by_seq
            .iter()
            .filter(|(_, s)| s.unsettled())
            .map(|(&seq, _)| seq)
            .collect();
        seqs.sort_unstable();
        seqs
    }

    /// Net filled quantity per symbol id from what was reported (buys positive).
    #[must_use]
    pub fn net_filled(&self) -> HashMap<u32, Qty> {
        let mut net: HashMap<u32, Qty> = HashMap::new();
        for state in self.by_seq.values() {
            let signed = if state.intent.side == pyrt_types::Side::Sell.code() {
                Qty::ZERO.saturating_sub(state.filled)
            } else {
                state.filled
            };
            let entry = net.entry(state.intent.header.symbol.0).or_insert(Qty::ZERO);
            *entry = entry.saturating_add(signed);
        }
        for (&symbol, &qty) in &self.external {
            let entry = net.entry(symbol).or_insert(Qty::ZERO);
            *entry = entry.saturating_add(qty);
        }
        net
    }

    /// Whether an order of ours on `symbol` may still fill: its fills are not yet in
    /// [`Self::net_filled`], so the broker's position cannot be compared with it.
    #[must_use]
    pub fn working_on(&self, symbol: SymbolId) -> bool {
        self.by_seq
            .values()
            .any(|s| s.intent.header.symbol == symbol && s.unsettled())
    }

    fn add_external(&mut self, fill: &Fill) {
        let signed = if fill.side == Side::Sell.code() {
            Qty::ZERO.saturating_sub(fill.qty)
        } else {
            fill.qty
        };
        let entry = self
            .external
            .entry(fill.header.symbol.0)
            .or_insert(Qty::ZERO);
        *entry = entry.saturating_add(signed);
    }

    /// An execution from `trade_updates` of an order exec did not place, on `symbol`: the
    /// external fill to report, unless this update was already seen.
    pub fn on_external_execution(
        &mut self,
        order: &Order,
        symbol: SymbolId,
        qty: Qty,
        price: Price,
        ts_event: Timestamp,
        now: Timestamp,
    ) -> Option<Fill> {
        let seen = self
            .foreign_filled
            .entry(order.id.clone())
            .or_insert(Qty::ZERO);
        if order.filled_qty <= *seen {
            return None;
        }
        *seen = order.filled_qty;
        if ts_event < self.squared_at {
            return None;
        }
        let leaves_qty = leaves(order);
        Some(self.external_fill(symbol, order.side, qty, price, leaves_qty, ts_event, now))
    }

    /// Marks the instant broker positions are read for squaring (see `squared_at`).
    pub fn squaring_from(&mut self, at: Timestamp) {
        self.squared_at = at;
    }

    /// The external fill that brings exec's net position on `symbol` to the broker's `broker`
    /// quantity, booked at `price` (the broker's current price), else at the last fill price.
    pub fn square(
        &mut self,
        symbol: SymbolId,
        broker: Qty,
        price: Option<Price>,
        now: Timestamp,
    ) -> Option<Fill> {
        let ours = self
            .net_filled()
            .get(&symbol.0)
            .copied()
            .unwrap_or(Qty::ZERO);
        let delta = broker.saturating_sub(ours);
        if delta.is_zero() {
            return None;
        }
        let side = if delta.is_negative() {
            Side::Sell
        } else {
            Side::Buy
        };
        let price = price
            .or_else(|| self.last_price.get(&symbol.0).copied())
            .unwrap_or(Price::ZERO);
        Some(self.external_fill(symbol, side, delta.abs(), price, Qty::ZERO, now, now))
    }

    #[allow(clippy::too_many_arguments)]
    fn external_fill(
        &mut self,
        symbol: SymbolId,
        side: Side,
        qty: Qty,
        price: Price,
        leaves_qty: Qty,
        ts_event: Timestamp,
        now: Timestamp,
    ) -> Fill {
        let fill = Fill::with_header(now, symbol)
            .execution(ts_event, EXTERNAL, side, price, qty, leaves_qty);
        self.add_external(&fill);
        self.last_price.insert(symbol.0, price);
        fill
    }

    /// A status the broker reported for `seq` (REST answer or stream event). Returns the ack to
    /// publish when the status is news.
    pub fn on_order(&mut self, seq: u64, order: &Order, now: Timestamp) -> Option<OrderAck> {
        let state = self.by_seq.get_mut(&seq)?;
        if state.broker_id.as_deref() != Some(order.id.as_str()) {
            self.by_broker_id.insert(order.id.clone(), seq);
            state.broker_id = Some(order.id.clone());
        }
        state.broker_filled = state.broker_filled.max(order.filled_qty);
        if state.status == Some(order.status) {
            return None;
        }
        state.status = Some(order.status);
        Some(self.ack(
            seq,
            order.status,
            broker_id_bytes(&order.id),
            leaves(order),
            0,
            now,
        ))
    }

    /// The broker refused intent `seq` (HTTP `code`), or exec did (code 0 with no broker order).
    pub fn on_reject(&mut self, seq: u64, code: u16, now: Timestamp) -> OrderAck {
        if let Some(state) = self.by_seq.get_mut(&seq) {
            state.status = Some(OrderStatus::Rejected);
        }
        self.ack(seq, OrderStatus::Rejected, [0; 16], Qty::ZERO, code, now)
    }

    /// A cancel or replace intent was accepted by the broker; it has no order of its own.
    pub fn on_request_accepted(
        &mut self,
        seq: u64,
        status: OrderStatus,
        now: Timestamp,
    ) -> OrderAck {
        if let Some(state) = self.by_seq.get_mut(&seq) {
            state.status = Some(status);
        }
        self.ack(seq, status, [0; 16], Qty::ZERO, 0, now)
    }

    fn ack(
        &self,
        seq: u64,
        status: OrderStatus,
        broker_order_id: [u8; 16],
        leaves_qty: Qty,
        reject_code: u16,
        now: Timestamp,
    ) -> OrderAck {
        let symbol = self
            .by_seq
            .get(&seq)
            .map_or(pyrt_types::SymbolId(u32::MAX), |s| s.intent.header.symbol);
        let mut ack = OrderAck::with_header(now, symbol);
        ack.ts_event = now;
        ack.intent_seq = seq;
        ack.broker_order_id = broker_order_id;
        ack.leaves_qty = leaves_qty;
        ack.status = status.code();
        ack.reject_code = reject_code;
        ack
    }

    /// One execution from `trade_updates`: `order` is the order after it, `qty` and `price` the
    /// execution itself.
    pub fn on_execution(
        &mut self,
        order: &Order,
        qty: Qty,
        price: Price,
        ts_event: Timestamp,
        now: Timestamp,
    ) -> Execution {
        let Some(seq) = self.seq_of_order(order) else {
            return Execution::Foreign;
        };
        let Some(state) = self.by_seq.get_mut(&seq) else {
            return Execution::Foreign;
        };
        if order.filled_qty <= state.filled {
            return Execution::Duplicate;
        }
        if order.filled_qty.saturating_sub(state.filled) != qty {
            state.broker_filled = state.broker_filled.max(order.filled_qty);
            return Execution::Missed;
        }
        let fill = book_fill(state, qty, price, leaves(order), ts_event, now);
        self.last_price.insert(fill.header.symbol.0, price);
        Execution::Fill(fill)
    }

    /// Fills from the account's fill activities (oldest first) that were never reported.
    pub fn on_activities(&mut self, activities: &[FillActivity], now: Timestamp) -> Vec<Fill> {
        let mut fills = Vec::new();
        for activity in activities {
            let Some(&seq) = self.by_broker_id.get(&activity.order_id) else {
                continue;
            };
            let Some(state) = self.by_seq.get_mut(&seq) else {
                continue;
            };
            if activity.cum_qty <= state.filled {
                continue;
            }
            let fill = book_fill(
                state,
                activity.qty,
                activity.price,
                activity.leaves_qty,
                activity.transaction_time,
                now,
            );
            self.last_price.insert(fill.header.symbol.0, fill.price);
            fills.push(fill);
        }
        fills
    }
}

/// Books an execution against `state` and builds the fill event downstream sees.
fn book_fill(
    state: &mut OrderState,
    qty: Qty,
    price: Price,
    leaves_qty: Qty,
    ts_event: Timestamp,
    now: Timestamp,
) -> Fill {
    state.filled = state.filled.saturating_add(qty);
    state.broker_filled = state.broker_filled.max(state.filled);
    let mut fill = Fill::with_header(now, state.intent.header.symbol).execution(
        ts_event,
        state.intent.intent_seq,
        Side::Buy,
        price,
        qty,
        leaves_qty,
    );
    // The intent's side code as intake accepted it, carried over unchanged.
    fill.side = state.intent.side;
    state.status = fill.status().ok();
    fill
}

#[cfg(test)]
mod tests {
    use super::*;
    use pyrt_types::{Side, SymbolId};

    const ID: &str = "0b6f2bd4-63a5-4d4e-9c39-3f1f8d3f6a10";

    fn intent(seq: u64, qty: i64) -> OrderIntent {
        let mut intent = OrderIntent::with_header(Timestamp::EPOCH, SymbolId(0));
        intent.intent_seq = seq;
        intent.qty = Qty::from_units(qty).unwrap();
        intent.side = Side::Buy.code();
        intent
    }

    fn order(seq: u64, status: &str, filled: &str) -> Order {
        serde_json::from_value(serde_json::json!({
            "id": ID, "client_order_id": format!("p-{seq}"), "symbol": "AAPL",
            "qty": "10", "filled_qty": filled, "side": "buy", "type": "market",
            "time_in_force": "day", "status": status,
            "created_at": "2026-11-25T14:30:00Z", "extra_field_from_the_future": 1,
        }))
        .unwrap()
    }

    fn qty(units: i64) -> Qty {
        Qty::from_units(units).unwrap()
    }

    fn price() -> Price {
        Price::parse("190.5").unwrap()
    }

    #[test]
    fn statuses_are_reported_once_and_fills_exactly_once() {
        let mut orders = Orders::new("p");
        orders.insert(intent(7, 10));
        let now = Timestamp::EPOCH;
        let ack = orders.on_order(7, &order(7, "new", "0"), now).unwrap();
        assert_eq!(ack.broker_order_id, broker_id_bytes(ID));
        assert_eq!(ack.leaves_qty, qty(10));
        assert!(orders.on_order(7, &order(7, "new", "0"), now).is_none());
        let first = orders.on_execution(
            &order(7, "partially_filled", "4"),
            qty(4),
            price(),
            now,
            now,
        );
        let Execution::Fill(fill) = first else {
            panic!("{first:?}")
        };
        assert_eq!((fill.qty, fill.leaves_qty), (qty(4), qty(6)));
        assert_eq!(
            orders.on_execution(
                &order(7, "partially_filled", "4"),
                qty(4),
                price(),
                now,
                now
            ),
            Execution::Duplicate,
            "the same execution replayed after a reconnect"
        );
        assert_eq!(
            orders.on_execution(&order(7, "filled", "10"), qty(2), price(), now, now),
            Execution::Missed,
            "4 then 10 with an execution of 2: one of 4 never arrived"
        );
        assert!(orders.get(7).unwrap().unsettled());
        assert_eq!(
            orders.on_execution(&order(99, "filled", "1"), qty(1), price(), now, now),
            Execution::Foreign
        );
    }

    fn foreign(status: &str, filled: &str, side: &str) -> Order {
        serde_json::from_value(serde_json::json!({
            "id": "5d1c0f3e-8a52-4c7b-9a44-1e2f3a4b5c6d", "client_order_id": "by-hand",
            "symbol": "AAPL", "qty": "6", "filled_qty": filled, "side": side, "type": "market",
            "time_in_force": "day", "status": status, "created_at": "2026-11-25T14:30:00Z",
        }))
        .unwrap()
    }

    #[test]
    fn fills_of_orders_placed_elsewhere_are_reported_once_as_external() {
        let mut orders = Orders::new("p");
        let (aapl, now) = (SymbolId(0), Timestamp::from_unix_nanos(5));
        let part = foreign("partially_filled", "2", "sell");
        let fill = orders
            .on_external_execution(&part, aapl, qty(2), price(), now, now)
            .unwrap();
        assert_eq!(fill.intent_seq, EXTERNAL);
        assert_eq!(
            (fill.side, fill.qty, fill.leaves_qty),
            (Side::Sell.code(), qty(2), qty(4))
        );
        assert!(
            orders
                .on_external_execution(&part, aapl, qty(2), price(), now, now)
                .is_none(),
            "replayed after a reconnect"
        );
        let rest = foreign("filled", "6", "sell");
        assert!(
            orders
                .on_external_execution(&rest, aapl, qty(4), price(), now, now)
                .is_some()
        );
        assert_eq!(orders.net_filled()[&0], Qty::ZERO.saturating_sub(qty(6)));
    }

    #[test]
    fn squaring_books_the_difference_with_the_broker_once_and_replays() {
        let mut orders = Orders::new("p");
        orders.insert(intent(7, 10));
        let now = Timestamp::from_unix_nanos(10);
        orders.on_order(7, &order(7, "new", "0"), now);
        assert!(orders.working_on(SymbolId(0)));
        let Execution::Fill(ours) =
            orders.on_execution(&order(7, "filled", "10"), qty(10), price(), now, now)
        else {
            panic!("no fill")
        };
        assert!(!orders.working_on(SymbolId(0)));
        // The broker holds nothing (flattened by hand): sell 10 at the last price seen.
        let correction = orders.square(SymbolId(0), Qty::ZERO, None, now).unwrap();
        assert_eq!(
            (
                correction.side,
                correction.qty,
                correction.price,
                correction.intent_seq
            ),
            (Side::Sell.code(), qty(10), price(), EXTERNAL)
        );
        assert!(orders.square(SymbolId(0), Qty::ZERO, None, now).is_none());
        // A restart replays both fills from the journal: nothing left to square.
        let intents = [RawEvent::from_event(&intent(7, 10))];
        let events = [
            RawEvent::from_event(&ours),
            RawEvent::from_event(&correction),
        ];
        let mut replayed = Orders::replay("p", &intents, &events);
        assert_eq!(replayed.net_filled()[&0], Qty::ZERO);
        assert!(replayed.square(SymbolId(0), Qty::ZERO, None, now).is_none());
        // An execution from before the squaring read is already in the broker's positions.
        replayed.squaring_from(now);
        let early = Timestamp::from_unix_nanos(9);
        let by_hand = foreign("filled", "6", "buy");
        assert!(
            replayed
                .on_external_execution(&by_hand, SymbolId(0), qty(6), price(), early, now)
                .is_none()
        );
    }

    #[test]
    fn activities_fill_exactly_the_gap() {
        let mut orders = Orders::new("p");
        orders.insert(intent(7, 10));
        let now = Timestamp::EPOCH;
        orders.on_order(7, &order(7, "new", "0"), now);
        orders.on_execution(
            &order(7, "partially_filled", "4"),
            qty(4),
            price(),
            now,
            now,
        );
        let activity = |id: &str, q: i64, cum: i64| -> FillActivity {
            serde_json::from_value(serde_json::json!({
                "id": id, "activity_type": "FILL", "transaction_time": "2026-11-25T14:30:00Z",
                "symbol": "AAPL", "side": "buy", "price": "190.5", "qty": q.to_string(),
                "leaves_qty": (10 - cum).to_string(), "cum_qty": cum.to_string(), "order_id": ID,
            }))
            .unwrap()
        };
        let fills = orders.on_activities(
            &[
                activity("a", 4, 4),
                activity("b", 4, 8),
                activity("c", 2, 10),
            ],
            now,
        );
        let got: Vec<(Qty, Qty)> = fills.iter().map(|f| (f.qty, f.leaves_qty)).collect();
        assert_eq!(got, [(qty(4), qty(2)), (qty(2), qty(0))]);
        assert!(!orders.get(7).unwrap().unsettled());
        assert!(
            orders
                .on_activities(&[activity("c", 2, 10)], now)
                .is_empty()
        );
    }

    #[test]
    fn replay_rebuilds_the_same_table() {
        let mut live = Orders::new("p");
        let now = Timestamp::EPOCH;
        let intents = [intent(1, 10), intent(2, 5)];
        let mut events = Vec::new();
        for i in intents {
            live.insert(i);
        }
        let ack = live.on_order(1, &order(1, "new", "0"), now).unwrap();
        events.push(RawEvent::from_event(&ack));
        if let Execution::Fill(f) =
            live.on_execution(&order(1, "filled", "10"), qty(10), price(), now, now)
        {
            events.push(RawEvent::from_event(&f));
        }
        let raw_intents: Vec<RawEvent> = intents.iter().map(RawEvent::from_event).collect();
        let replayed = Orders::replay("p", &raw_intents, &events);
        assert_eq!(replayed.last_seq(), 2);
        assert_eq!(
            replayed.unsettled(),
            vec![2],
            "1 filled and reported; 2 never answered"
        );
        assert_eq!(replayed.get(1).unwrap().filled, qty(10));
        assert_eq!(replayed.seq_of_order(&order(1, "filled", "10")), Some(1));
        assert_eq!(replayed.net_filled()[&0], qty(10));
        assert_eq!(replayed.seq_of("p-12"), Some(12));
        assert_eq!(replayed.seq_of("q-12"), None);
        assert_eq!(replayed.seq_of("p12"), None);
    }
}

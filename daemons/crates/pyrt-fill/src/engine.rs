//! Orders against an L1 market (quotes and trades), one instrument per engine.
//!
//! - An order becomes live `latency_ns` after submission; before that the market moves without it.
//! - Marketable orders take the opposite touch, at most `max_fill_fraction` of the displayed size
//!   per quote; the rest waits for the next quote (day, gtc) or is canceled (ioc). A fok order
//!   fills completely at the touch or not at all.
//! - A resting limit order joins the queue behind the size displayed at its price when it arrived;
//!   trades at its price consume that queue first, a shrinking displayed size shrinks it (cancels
//!   ahead of us), and a trade or quote through its price fills it at its limit.
//! - Stops trigger on a trade at or through the stop and then act as market (stop) or limit
//!   (stop-limit) orders.
//! - On bars (the backtester's daily or minute data) the path inside a bar is unknown, so an order
//!   is matched against its open, high and low with the convention backtrader and backtesting.py
//!   share: market orders fill at the open; a limit fills at the open when the open is at or
//!   through it, else at the limit when the bar's range reaches it; a stop triggers at the open
//!   when the bar gaps through it, else at the stop when the range reaches it, and then fills at
//!   its trigger price (stop) or acts as a limit from there (stop-limit). Liquidity is unknown on
//!   bars: an order fills whole unless `bar_volume_cap_bps` limits it to a share of the volume.
//! - Taker fills pay `slippage_bps` against their side (none by default).

use pyrt_types::{
    Notional, OrderType, OverflowError, Price, Qty, Rounding, Side, TimeInForce, Timestamp,
};

use crate::fees::FeeModel;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FillConfig {
    pub latency_ns: i64,
    /// Share of the displayed size one quote can fill, in basis points (10 000 = all of it).
    pub max_fill_fraction_bps: u32,
    /// Price concession of every taker fill, in basis points against the order's side.
    pub slippage_bps: u32,
    /// Share of a bar's volume one order can fill on that bar, in basis points; 0 = no cap
    /// (needed for series without volume, such as indices).
    pub bar_volume_cap_bps: u32,
    pub fees: FeeModel,
}

impl Default for FillConfig {
    fn default() -> Self {
        Self {
            latency_ns: 0,
            max_fill_fraction_bps: 10_000,
            slippage_bps: 0,
            bar_volume_cap_bps: 0,
            fees: FeeModel::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderSpec {
    pub id: u64,
    pub side: Side,
    pub order_type: OrderType,
    pub time_in_force: TimeInForce,
    pub qty: Qty,
    pub limit: Option<Price>,
    pub stop: Option<Price>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liquidity {
    Maker,
    Taker,
}

impl Liquidity {
    /// The name results and the simulator report it by.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Maker => "maker",
            Self::Taker => "taker",
        }
    }
}

/// Something that happened to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Fill {
        id: u64,
        price: Price,
        qty: Qty,
        leaves: Qty,
        fee: Notional,
        liquidity: Liquidity,
        at: Timestamp,
    },
    /// The rest of an ioc/fok order that could not fill at once.
    Canceled { id: u64, leaves: Qty, at: Timestamp },
}

#[derive(Debug, Clone, Copy)]
struct Live {
    spec: OrderSpec,
    leaves: Qty,
    active_at: Timestamp,
    /// Stop orders wait for their trigger.
    triggered: bool,
    /// Size ahead of us at our limit price (resting limit orders).
    queue_ahead: Option<Qty>,
    /// ioc/fok orders get one chance, on the first quote after they go live.
    attempted: bool,
}

/// One bar of an instrument, as the fill model sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarPrices {
    pub open: Price,
    pub high: Price,
    pub low: Price,
    pub close: Price,
    pub volume: Qty,
}

#[derive(Debug, Clone, Copy, Default)]
struct Touch {
    bid: Price,
    bid_size: Qty,
    ask: Price,
    ask_size: Qty,
}

/// The fill model for one instrument.
#[derive(Debug, Clone)]
pub struct FillEngine {
    config: FillConfig,
    orders: Vec<Live>,
    touch: Touch,
}

fn fraction(size: Qty, bps: u32) -> Qty {
    let raw = i128::from(size.raw()) * i128::from(bps) / 10_000;
    Qty::from_raw(i64::try_from(raw).unwrap_or(0))
}

/// `price` moved `bps` against `side` (a buyer pays more, a seller gets less).
fn slipped(price: Price, side: Side, bps: u32) -> Price {
    if bps == 0 {
        return price;
    }
    let delta = i128::from(price.raw()) * i128::from(bps) / 10_000;
    let raw = match side {
        Side::Buy => i128::from(price.raw()) + delta,
        Side::Sell => i128::from(price.raw()) - delta,
    };
    Price::from_raw(i64::try_from(raw).unwrap_or(price.raw()))
}

/// Where a stop order triggers on `bar`: the open if the bar gapped through the stop, else the
/// stop itself if the range reached it.
fn stop_trigger(side: Side, stop: Price, bar: &BarPrices) -> Option<Price> {
    match side {
        Side::Buy if bar.open >= stop => Some(bar.open),
        Side::Buy if bar.high >= stop => Some(stop),
        Side::Sell if bar.open <= stop => Some(bar.open),
        Side::Sell if bar.low <= stop => Some(stop),
        Side::Buy | Side::Sell => None,
    }
}

/// Where a limit order fills on `bar` when the market reaches it from `from` (the open, or a stop
/// trigger inside the bar): at `from` when that is at or through the limit, else at the limit when
/// the range reaches it.
fn limit_fill(
    side: Side,
    limit: Price,
    from: Price,
    bar: &BarPrices,
) -> Option<(Price, Liquidity)> {
    match side {
        Side::Buy if from <= limit => Some((from, Liquidity::Taker)),
        Side::Buy if bar.low <= limit => Some((limit, Liquidity::Maker)),
        Side::Sell if from >= limit => Some((from, Liquidity::Taker)),
        Side::Sell if bar.high >= limit => Some((limit, Liquidity::Maker)),
        Side::Buy | Side::Sell => None,
    }
}

impl FillEngine {
    #[must_use]
    pub fn new(config: FillConfig) -> Self {
        Self {
            config,
            orders: Vec::with_capacity(64),
            touch: Touch::default(),
        }
    }

    #[must_use]
    pub fn open_orders(&self) -> usize {
        self.orders.len()
    }

    /// Accepts an order at `now`; it becomes live after the configured latency.
    pub fn submit(&mut self, spec: OrderSpec, now: Timestamp) {
        let stop_order = matches!(spec.order_type, OrderType::Stop | OrderType::StopLimit);
        self.orders.push(Live {
            spec,
            leaves: spec.qty,
            active_at: Timestamp::from_unix_nanos(
                now.unix_nanos().saturating_add(self.config.latency_ns),
            ),
            triggered: !stop_order,
            queue_ahead: None,
            attempted: false,
        });
    }

    /// Removes an order; returns its unfilled quantity, or `None` if it is no longer open.
    pub fn cancel(&mut self, id: u64) -> Option<Qty> {
        let index = self.orders.iter().position(|o| o.spec.id == id)?;
        Some(self.orders.remove(index).leaves)
    }

    /// Changes an open order's quantity or prices (a replace keeps no queue priority).
    pub fn replace(
        &mut self,
        id: u64,
        qty: Qty,
        limit: Option<Price>,
        stop: Option<Price>,
    ) -> bool {
        let Some(order) = self.orders.iter_mut().find(|o| o.spec.id == id) else {
            return false;
        };
        let filled = order.spec.qty.saturating_sub(order.leaves);
        order.spec.qty = qty;
        order.leaves = qty.saturating_sub(filled).max(Qty::ZERO);
        order.spec.limit = limit.or(order.spec.limit);
        order.spec.stop = stop.or(order.spec.stop);
        order.queue_ahead = None;
        true
    }

    /// A split of `ratio` new shares per old, applied to every working order as brokers adjust
    /// open GTC orders: quantities (and the queue ahead) multiply, prices divide, rounded so no
    /// order becomes more aggressive than it was. All orders or none: on `Err` nothing changed.
    pub fn split(&mut self, ratio: Qty) -> Result<(), OverflowError> {
        let adjusted = |order: &Live| -> Result<Live, OverflowError> {
            let (limit_way, stop_way) = match order.spec.side {
                Side::Buy => (Rounding::Down, Rounding::Up),
                Side::Sell => (Rounding::Up, Rounding::Down),
            };
            let mut out = *order;
            out.spec.qty = order.spec.qty.checked_split(ratio)?;
            out.leaves = order.leaves.checked_split(ratio)?;
            out.queue_ahead = order
                .queue_ahead
                .map(|q| q.checked_split(ratio))
                .transpose()?;
            out.spec.limit = order
                .spec
                .limit
                .map(|p| p.checked_split(ratio, limit_way))
                .transpose()?;
            out.spec.stop = order
                .spec
                .stop
                .map(|p| p.checked_split(ratio, stop_way))
                .transpose()?;
            Ok(out)
        };
        for order in &self.orders {
            adjusted(order)?;
        }
        for order in &mut self.orders {
            *order = adjusted(order)?;
        }
        Ok(())
    }

    /// Cash the working buy orders hold back, as a cash account's broker counts it: what is left
    /// to buy at the limit, else the stop, else `reference` (the current ask) for market orders.
    #[must_use]
    pub fn reserved_for_buys(&self, reference: Price) -> Notional {
        self.orders
            .iter()
            .filter(|o| o.spec.side == Side::Buy)
            .map(|o| {
                let price = o.spec.limit.or(o.spec.stop).unwrap_or(reference);
                price.checked_notional(o.leaves).unwrap_or(Notional::MAX)
            })
            .fold(Notional::ZERO, Notional::saturating_add)
    }

    /// Removes every working order, returning each id with its unfilled quantity.
    pub fn cancel_all(&mut self) -> impl Iterator<Item = (u64, Qty)> + '_ {
        self.orders.drain(..).map(|o| (o.spec.id, o.leaves))
    }

    fn fill(
        &self,
        order: &mut Live,
        price: Price,
        qty: Qty,
        liquidity: Liquidity,
        at: Timestamp,
    ) -> Event {
        order.leaves = order.leaves.saturating_sub(qty);
        let fee = self.config.fees.fee(order.spec.side, qty, price);
        Event::Fill {
            id: order.spec.id,
            price,
            qty,
            leaves: order.leaves,
            fee,
            liquidity,
            at,
        }
    }

    /// A new top of book; fills what it can, appending to `out`.
    pub fn on_quote(
        &mut self,
        bid: Price,
        bid_size: Qty,
        ask: Price,
        ask_size: Qty,
        now: Timestamp,
        out: &mut Vec<Event>,
    ) {
        self.touch = Touch {
            bid,
            bid_size,
            ask,
            ask_size,
        };
        let mut available_ask = fraction(ask_size, self.config.max_fill_fraction_bps);
        let mut available_bid = fraction(bid_size, self.config.max_fill_fraction_bps);
        let mut orders = std::mem::take(&mut self.orders);
        for order in &mut orders {
            if order.active_at > now || !order.triggered || order.leaves.is_zero() {
                continue;
            }
            let (touch, available) = match order.spec.side {
                Side::Buy => (ask, &mut available_ask),
                Side::Sell => (bid, &mut available_bid),
            };
            if touch.raw() <= 0 {
                continue;
            }
            let marketable = match order.spec.limit {
                None => true,
                Some(limit) => match order.spec.side {
                    Side::Buy => touch <= limit,
                    Side::Sell => touch >= limit,
                },
            };
            let once = matches!(
                order.spec.time_in_force,
                TimeInForce::Ioc | TimeInForce::Fok
            );
            if marketable && !(once && order.attempted) {
                let qty = order.leaves.min(*available);
                let fok_short = order.spec.time_in_force == TimeInForce::Fok && qty < order.leaves;
                if !qty.is_zero() && !fok_short {
                    *available = available.saturating_sub(qty);
                    // A resting order that the market came to fills at its own limit, as maker.
                    let (price, liquidity) = match (order.queue_ahead, order.spec.limit) {
                        (Some(_), Some(limit)) => (limit, Liquidity::Maker),
                        _ => (
                            slipped(touch, order.spec.side, self.config.slippage_bps),
                            Liquidity::Taker,
                        ),
                    };
                    out.push(self.fill(order, price, qty, liquidity, now));
                }
            } else if let (Some(limit), None) = (order.spec.limit, order.queue_ahead) {
                // Joins the queue behind what is displayed at its price (nothing if it improves
                // the touch; unknown depth behind the touch counts as empty).
                let (own_touch, own_size) = match order.spec.side {
                    Side::Buy => (bid, bid_size),
                    Side::Sell => (ask, ask_size),
                };
                order.queue_ahead = Some(if limit == own_touch {
                    own_size
                } else {
                    Qty::ZERO
                });
            } else if let (Some(limit), Some(ahead)) = (order.spec.limit, order.queue_ahead) {
                let (own_touch, own_size) = match order.spec.side {
                    Side::Buy => (bid, bid_size),
                    Side::Sell => (ask, ask_size),
                };
                if limit == own_touch && own_size < ahead {
                    order.queue_ahead = Some(own_size);
                }
            }
            if once && !order.leaves.is_zero() {
                order.attempted = true;
                out.push(Event::Canceled {
                    id: order.spec.id,
                    leaves: order.leaves,
                    at: now,
                });
                order.leaves = Qty::ZERO;
            }
        }
        orders.retain(|o| !o.leaves.is_zero());
        self.orders = orders;
    }

    /// A bar; fills what it can (see the module documentation for the convention), appending
    /// to `out`. `session_end` says the bar is the last of its session: unfilled `day` orders
    /// that were live on it expire.
    pub fn on_bar(
        &mut self,
        bar: &BarPrices,
        now: Timestamp,
        session_end: bool,
        out: &mut Vec<Event>,
    ) {
        self.touch = Touch {
            bid: bar.close,
            bid_size: bar.volume,
            ask: bar.close,
            ask_size: bar.volume,
        };
        if self.orders.is_empty() {
            return;
        }
        let cap = (self.config.bar_volume_cap_bps > 0 && bar.volume.raw() > 0)
            .then(|| fraction(bar.volume, self.config.bar_volume_cap_bps));
        let mut orders = std::mem::take(&mut self.orders);
        for order in &mut orders {
            if order.active_at > now || order.leaves.is_zero() {
                continue;
            }
            let side = order.spec.side;
            let mut from = bar.open;
            if !order.triggered {
                let Some(trigger) = order.spec.stop.and_then(|s| stop_trigger(side, s, bar)) else {
                    Self::expire_after_bar(order, session_end, now, out);
                    continue;
                };
                order.triggered = true;
                from = trigger;
            }
            let matched = match order.spec.limit {
                None => Some((
                    slipped(from, side, self.config.slippage_bps),
                    Liquidity::Taker,
                )),
                Some(limit) => {
                    limit_fill(side, limit, from, bar).map(|(price, liquidity)| match liquidity {
                        Liquidity::Taker => {
                            (slipped(price, side, self.config.slippage_bps), liquidity)
                        }
                        Liquidity::Maker => (price, liquidity),
                    })
                }
            };
            if let Some((price, liquidity)) = matched {
                let qty = cap.map_or(order.leaves, |c| order.leaves.min(c));
                let fok_short = order.spec.time_in_force == TimeInForce::Fok && qty < order.leaves;
                if !qty.is_zero() && !fok_short {
                    out.push(self.fill(order, price, qty, liquidity, now));
                }
            }
            Self::expire_after_bar(order, session_end, now, out);
        }
        orders.retain(|o| !o.leaves.is_zero());
        self.orders = orders;
    }

    /// ioc and fok orders get the one bar they went live on; day orders last until their
    /// session's last bar.
    fn expire_after_bar(order: &mut Live, session_end: bool, now: Timestamp, out: &mut Vec<Event>) {
        let expires = match order.spec.time_in_force {
            TimeInForce::Ioc | TimeInForce::Fok => true,
            TimeInForce::Day => session_end,
            _ => false,
        };
        if expires && !order.leaves.is_zero() {
            out.push(Event::Canceled {
                id: order.spec.id,
                leaves: order.leaves,
                at: now,
            });
            order.leaves = Qty::ZERO;
        }
    }

    /// A print; triggers stops and fills resting orders whose queue it exhausts or trades through.
    pub fn on_trade(&mut self, price: Price, size: Qty, now: Timestamp, out: &mut Vec<Event>) {
        let mut orders = std::mem::take(&mut self.orders);
        let mut triggered_any = false;
        for order in &mut orders {
            if order.active_at > now || order.leaves.is_zero() {
                continue;
            }
            if !order.triggered {
                let Some(stop) = order.spec.stop else {
                    continue;
                };
                let hit = match order.spec.side {
                    Side::Buy => price >= stop,
                    Side::Sell => price <= stop,
                };
                if hit {
                    order.triggered = true;
                    triggered_any = true;
                }
                continue;
            }
            let (Some(limit), Some(ahead)) = (order.spec.limit, order.queue_ahead) else {
                continue;
            };
            let through = match order.spec.side {
                Side::Buy => price < limit,
                Side::Sell => price > limit,
            };
            if through {
                let qty = order.leaves;
                out.push(self.fill(order, limit, qty, Liquidity::Maker, now));
            } else if price == limit {
                let remaining_ahead = ahead.saturating_sub(size);
                if remaining_ahead.is_negative() {
                    let qty = remaining_ahead.abs().min(order.leaves);
                    order.queue_ahead = Some(Qty::ZERO);
                    out.push(self.fill(order, limit, qty, Liquidity::Maker, now));
                } else {
                    order.queue_ahead = Some(remaining_ahead);
                }
            }
        }
        orders.retain(|o| !o.leaves.is_zero());
        self.orders = orders;
        if triggered_any {
            // Newly triggered stops act on the current touch at once.
            let t = self.touch;
            self.on_quote(t.bid, t.bid_size, t.ask, t.ask_size, now, out);
        }
    }
}

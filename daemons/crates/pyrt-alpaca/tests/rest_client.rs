//! The REST client against Alpaca-shaped payloads and against a scripted broker on a real socket.
//!
//! The scripted HTTP server stands in for Alpaca's servers (outside this machine) to force the
//! failures that matter for exactly-once submission: a lost response, a 5xx after the order was
//! taken, a 429. End-to-end runs against the project's own simulator live with the daemons.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyrt_alpaca::AlpacaError;
use pyrt_alpaca::rest::models::{Account, CancelStatus, Order, OrderRequest, Position};
use pyrt_alpaca::rest::{Credentials, RestClient, RestConfig};
use pyrt_types::{OrderStatus, OrderType, Qty, Side, TimeInForce};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn samples(category: &str) -> Vec<serde_json::Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../../shared/data/alpaca/alpaca-py_test_responses.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["category"] == category)
        .map(|s| s["response_body"].clone())
        .collect()
}

#[test]
fn decodes_alpaca_py_fixture_payloads() {
    let mut orders = 0;
    for body in samples("orders") {
        let items = match body {
            serde_json::Value::Array(items) => items,
            one => vec![one],
        };
        for item in items {
            // Cancel-all answers with multi-status items {"id", "status": 200, "body"?}.
            if item["status"].is_u64() {
                let status: CancelStatus = serde_json::from_value(item.clone()).unwrap();
                assert!(!status.id.is_empty() && [200, 404, 500].contains(&status.status));
                continue;
            }
            let order_json = item;
            let order: Order = serde_json::from_value(order_json.clone())
                .unwrap_or_else(|e| panic!("{e}: {order_json}"));
            assert!(!order.id.is_empty());
            orders += 1;
        }
    }
    assert!(orders >= 8, "{orders}");
    let account: Account = serde_json::from_value(samples("account").remove(0)).unwrap();
    assert_eq!(account.cash.to_string(), "-23140.2");
    assert_eq!(account.buying_power.to_string(), "262113.632");
    let positions: Vec<Position> = serde_json::from_value(samples("positions").remove(0)).unwrap();
    assert_eq!(positions[0].qty, Qty::from_units(5).unwrap());
}

#[test]
fn orders_missing_required_fields_are_clear_errors() {
    let mut order = samples("orders").remove(0);
    order.as_object_mut().unwrap().remove("status");
    let err = serde_json::from_value::<Order>(order)
        .unwrap_err()
        .to_string();
    assert!(err.contains("status"), "{err}");
}

type Script = Arc<Mutex<VecDeque<(&'static str, String)>>>;

/// Serves scripted responses in order; each entry is (expected request-line prefix, raw response
/// or "DROP" to close without answering). Records every request line and body.
async fn scripted_server(script: Vec<(&'static str, String)>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let script: Script = Arc::new(Mutex::new(script.into()));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let script = Arc::clone(&script);
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let mut chunk = [0u8; 4096];
                    let n = match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if buf.len() < head_end + 4 + length {
                        continue;
                    }
                    let body = String::from_utf8_lossy(&buf[head_end + 4..head_end + 4 + length])
                        .to_string();
                    buf.drain(..head_end + 4 + length);
                    let line = head.lines().next().unwrap().to_owned();
                    log.lock().unwrap().push(format!("{line} {body}"));
                    let (expect, response) = script
                        .lock()
                        .unwrap()
                        .pop_front()
                        .expect("unscripted request");
                    assert!(line.starts_with(expect), "expected {expect}, got {line}");
                    if response == "DROP" {
                        return;
                    }
                    socket.write_all(response.as_bytes()).await.unwrap();
                }
            });
        }
    });
    (url, seen)
}

fn http(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn order_json(cid: &str) -> String {
    let mut order = samples("orders").remove(0);
    order["client_order_id"] = cid.into();
    order.to_string()
}

fn client(url: &str) -> RestClient {
    let mut config = RestConfig::new(
        url,
        Credentials {
            key_id: "key".into(),
            secret_key: "secret".into(),
        },
    );
    config.timeout = Duration::from_secs(5);
    config.burst = 100;
    config.requests_per_minute = 60_000;
    RestClient::new(&config).unwrap()
}

fn request(cid: &str) -> OrderRequest {
    OrderRequest {
        symbol: "AAPL".into(),
        qty: Some(Qty::from_units(1).unwrap()),
        notional: None,
        side: Side::Buy,
        order_type: OrderType::Market,
        time_in_force: TimeInForce::Day,
        limit_price: None,
        stop_price: None,
        client_order_id: cid.into(),
        extended_hours: false,
    }
}

#[tokio::test]
async fn lost_response_is_resolved_by_lookup_then_resubmitted_with_the_same_id() {
    let cid = "pyrt-1-42";
    let (url, seen) = scripted_server(vec![
        ("POST /v2/orders", "DROP".into()),
        (
            "GET /v2/orders:by_client_order_id",
            http(
                "404 Not Found",
                r#"{"code":40410000,"message":"order not found"}"#,
            ),
        ),
        ("POST /v2/orders", http("200 OK", &order_json(cid))),
    ])
    .await;
    let order = client(&url).submit_order(&request(cid)).await.unwrap();
    assert_eq!(order.client_order_id, cid);
    assert_eq!(order.status, OrderStatus::Accepted);
    let seen = seen.lock().unwrap();
    let posts: Vec<_> = seen.iter().filter(|l| l.starts_with("POST")).collect();
    assert_eq!(posts.len(), 2);
    assert!(
        posts
            .iter()
            .all(|p| p.contains(r#""client_order_id":"pyrt-1-42""#))
    );
}

#[tokio::test]
async fn server_error_after_the_order_was_taken_never_submits_twice() {
    let cid = "pyrt-1-43";
    let (url, seen) = scripted_server(vec![
        (
            "POST /v2/orders",
            http("503 Service Unavailable", "upstream busy"),
        ),
        (
            "GET /v2/orders:by_client_order_id?client_order_id=pyrt-1-43",
            http("200 OK", &order_json(cid)),
        ),
    ])
    .await;
    let order = client(&url).submit_order(&request(cid)).await.unwrap();
    assert_eq!(order.client_order_id, cid);
    assert_eq!(
        seen.lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with("POST"))
            .count(),
        1
    );
}

#[tokio::test]
async fn duplicate_id_returns_the_existing_order_and_rejects_are_typed() {
    let cid = "pyrt-1-44";
    let (url, _) = scripted_server(vec![
        (
            "POST /v2/orders",
            http(
                "429 Too Many Requests",
                r#"{"code":42910000,"message":"rate limit exceeded"}"#,
            )
            .replace("\r\n\r\n", "\r\nretry-after: 0\r\n\r\n"),
        ),
        (
            "POST /v2/orders",
            http(
                "422 Unprocessable Entity",
                r#"{"code":40010001,"message":"client_order_id must be unique"}"#,
            ),
        ),
        (
            "GET /v2/orders:by_client_order_id",
            http("200 OK", &order_json(cid)),
        ),
        (
            "POST /v2/orders",
            http(
                "403 Forbidden",
                r#"{"code":40310000,"message":"insufficient buying power"}"#,
            ),
        ),
        (
            "GET /v2/account",
            http(
                "401 Unauthorized",
                r#"{"code":40110000,"message":"request is not authorized"}"#,
            ),
        ),
    ])
    .await;
    let mut client = client(&url);
    assert_eq!(
        client
            .submit_order(&request(cid))
            .await
            .unwrap()
            .client_order_id,
        cid
    );
    let err = client
        .submit_order(&request("pyrt-1-45"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, AlpacaError::InsufficientBuyingPower(_)),
        "{err}"
    );
    let err = client.account().await.unwrap_err();
    assert!(
        matches!(err, AlpacaError::Unauthorized { status: 401, .. }),
        "{err}"
    );
}

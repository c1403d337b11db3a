//! End-to-end tests of the receiver: the real router served on
//! 127.0.0.1:0, spoken to over TCP with a plain hyper HTTP/1.1 client, the
//! way ScaiHub would (signed, unsigned, forged, repeated, rotated, too big,
//! and while the work queue is full).

use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use scaihub_example_receiver::{Delivery, ReceiverConfig, router, sign};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const PATH: &str = "/webhooks/scaidrive";
const SECRET: &[u8] = b"whsec_current";
const OLD_SECRET: &[u8] = b"whsec_previous";

fn event(id: &str) -> Vec<u8> {
    format!(
        r#"{{"event_id":"{id}","timestamp":"2025-01-01T00:00:00Z","category":"SHARING","action":"share.created","user_id":"usr_1","resource_id":"file_1","payload":{{}}}}"#
    )
    .into_bytes()
}

/// Starts the receiver; returns its address and the queue it fills.
async fn start(config: ReceiverConfig) -> (SocketAddr, mpsc::Receiver<Delivery>) {
    let (app, work) = router(PATH, config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, work)
}

/// One request on a fresh connection; returns status and body text.
async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, String) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .header("user-agent", "ScaiHub/test");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = sender
        .send_request(request.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&text).into_owned())
}

/// A POST the way ScaiHub sends it, with the given signature header.
async fn deliver(
    addr: SocketAddr,
    delivery_id: &str,
    signature: Option<&str>,
    body: Vec<u8>,
) -> (u16, String) {
    let mut headers = vec![
        ("x-scaidrive-event", "share.created"),
        ("x-scaidrive-delivery-id", delivery_id),
    ];
    if let Some(signature) = signature {
        headers.push(("x-scaidrive-signature", signature));
    }
    send(addr, "POST", PATH, &headers, body).await
}

async fn next(work: &mut mpsc::Receiver<Delivery>) -> Delivery {
    tokio::time::timeout(Duration::from_secs(5), work.recv())
        .await
        .expect("a queued delivery")
        .expect("queue open")
}

#[tokio::test]
async fn signed_unsigned_forged_and_duplicate_requests() {
    let (addr, mut work) = start(ReceiverConfig::new(vec![SECRET.to_vec()])).await;

    // Signed: accepted and queued once, with the exact bytes.
    let body = event("evt_1");
    let (status, text) = deliver(addr, "dlv_1", Some(&sign(SECRET, &body)), body.clone()).await;
    assert_eq!((status, text.as_str()), (200, "ok\n"));
    let got = next(&mut work).await;
    assert_eq!(got.delivery_id.as_deref(), Some("dlv_1"));
    assert_eq!(got.event_header.as_deref(), Some("share.created"));
    assert_eq!(got.body.as_ref(), body.as_slice());
    assert_eq!(got.event.as_ref().unwrap()["event_id"], "evt_1");

    // Unsigned: 401, nothing queued.
    let (status, text) = deliver(addr, "dlv_2", None, event("evt_2")).await;
    assert_eq!(status, 401);
    assert!(text.contains("signature"), "{text}");

    // Signed with another secret, and a body changed after signing: 401.
    let (status, _) = deliver(
        addr,
        "dlv_3",
        Some(&sign(b"whsec_other", &event("evt_3"))),
        event("evt_3"),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = deliver(
        addr,
        "dlv_4",
        Some(&sign(SECRET, &event("evt_4"))),
        event("evt_4x"),
    )
    .await;
    assert_eq!(status, 401);

    // Garbage header: 401 too.
    let (status, _) = deliver(addr, "dlv_5", Some("sha256=nope"), event("evt_5")).await;
    assert_eq!(status, 401);

    // A forged request reusing a real delivery id does not poison the set:
    // the id was never recorded, so the genuine one still goes through.
    let body = event("evt_6");
    let (status, _) = deliver(addr, "dlv_6", None, body.clone()).await;
    assert_eq!(status, 401);
    let (status, _) = deliver(addr, "dlv_6", Some(&sign(SECRET, &body)), body.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(next(&mut work).await.delivery_id.as_deref(), Some("dlv_6"));

    // A retry of dlv_1 (same id, same signed body): 200, not queued again.
    let body = event("evt_1");
    let (status, text) = deliver(addr, "dlv_1", Some(&sign(SECRET, &body)), body).await;
    assert_eq!(
        (status, text.as_str()),
        (200, "duplicate, already received\n")
    );

    // Nothing else was queued by any of the above.
    let body = event("evt_7");
    let (status, _) = deliver(addr, "dlv_7", Some(&sign(SECRET, &body)), body).await;
    assert_eq!(status, 200);
    assert_eq!(next(&mut work).await.delivery_id.as_deref(), Some("dlv_7"));
    assert!(work.try_recv().is_err());
}

#[tokio::test]
async fn rotation_overlap_and_routing() {
    // The receiver still only knows the old secret; ScaiHub already signs
    // with both.
    let (addr, mut work) = start(ReceiverConfig::new(vec![OLD_SECRET.to_vec()])).await;
    let body = event("evt_r");
    let header = format!("{},{}", sign(SECRET, &body), sign(OLD_SECRET, &body));
    let (status, _) = deliver(addr, "dlv_r", Some(&header), body.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(next(&mut work).await.delivery_id.as_deref(), Some("dlv_r"));

    // The same list sent as two header lines means the same thing.
    let body = event("evt_r2");
    let (new_sig, old_sig) = (sign(SECRET, &body), sign(OLD_SECRET, &body));
    let headers = [
        ("x-scaidrive-delivery-id", "dlv_r2"),
        ("x-scaidrive-signature", new_sig.as_str()),
        ("x-scaidrive-signature", old_sig.as_str()),
    ];
    let (status, _) = send(addr, "POST", PATH, &headers, body).await;
    assert_eq!(status, 200);
    assert_eq!(next(&mut work).await.delivery_id.as_deref(), Some("dlv_r2"));

    // Only POST on the configured path.
    let (status, _) = send(addr, "GET", PATH, &[], Vec::new()).await;
    assert_eq!(status, 405);
    let (status, _) = send(addr, "POST", "/elsewhere", &[], event("evt_x")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn oversized_bodies_and_a_full_queue() {
    let mut config = ReceiverConfig::new(vec![SECRET.to_vec()]);
    config.max_body_bytes = 512;
    config.queue_capacity = 1;
    let (addr, mut work) = start(config).await;

    let big = vec![b' '; 1024];
    let (status, _) = deliver(addr, "dlv_big", Some(&sign(SECRET, &big)), big).await;
    assert_eq!(status, 413);

    // The first delivery fills the one-slot queue; the second is refused
    // with 503, and its id is forgotten so ScaiHub's retry is processed.
    let first = event("evt_q1");
    let second = event("evt_q2");
    assert_eq!(
        deliver(addr, "dlv_q1", Some(&sign(SECRET, &first)), first)
            .await
            .0,
        200
    );
    assert_eq!(
        deliver(addr, "dlv_q2", Some(&sign(SECRET, &second)), second.clone())
            .await
            .0,
        503
    );
    assert_eq!(next(&mut work).await.delivery_id.as_deref(), Some("dlv_q1"));
    let (status, text) = deliver(addr, "dlv_q2", Some(&sign(SECRET, &second)), second).await;
    assert_eq!((status, text.as_str()), (200, "ok\n"));
    assert_eq!(next(&mut work).await.delivery_id.as_deref(), Some("dlv_q2"));
}

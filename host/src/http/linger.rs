//! Reading the rest of a request body that its answer left unread.
//!
//! Some answers are given before the body is read: a refused credential is
//! checked first, a body over the limit is read only up to it, an unknown
//! organisation is a 404 whatever was sent. hyper then stops reading the
//! connection and closes it once the answer is written, and a socket closed
//! with bytes still unread sends a reset instead of a FIN. The reset can
//! reach the client while it is still sending the body and before it has
//! read the answer, which it then never sees: the caller of a 401 or a 413
//! gets "connection reset" (CI met it once in the events test).
//!
//! So a request's body is lent to the router; when the answer comes back
//! with the body unfinished, a task keeps reading and dropping the rest
//! through hyper, which meanwhile writes the answer and closes the
//! connection only after the body's end: the staged close RFC 9112 §9.6
//! asks of a server. A client that sends more than [`LINGER_BYTES`] after
//! the answer, or is still sending after [`LINGER_TIME`], is cut off as
//! before. The answer itself is never held back.
//!
//! A body of at most [`SMALL_BODY`] bytes is not lent: its client's one
//! write fits in the sockets' buffers, so it has sent it all before it
//! reads, and the answer is ahead of any reset in what it reads. That
//! keeps the single-event ingest path as it was (lending cost it 3 µs
//! and 5 % of its rate when every body was lent).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::header;
use axum::response::Response;
use futures_util::future::{BoxFuture, Either};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use tower::{Layer, Service};

/// Most bytes read and dropped after an answer.
pub const LINGER_BYTES: u64 = 64 << 20;
/// Longest a connection stays open after its answer to read the body's rest.
pub const LINGER_TIME: Duration = Duration::from_secs(5);
/// Bodies of a known length up to this go to the router as they are.
pub const SMALL_BODY: u64 = 16 << 10;

/// Where a lent body comes back when the router drops it unfinished.
type Slot = Arc<Mutex<Option<Body>>>;

/// The layer: outermost, so what any inner layer or handler leaves of a
/// body is read.
#[derive(Clone, Copy, Default)]
pub struct LingerLayer;

impl<S> Layer<S> for LingerLayer {
    type Service = Linger<S>;

    fn layer(&self, inner: S) -> Linger<S> {
        Linger { inner }
    }
}

/// Lends a body that is not small and, when the answer leaves part of it
/// unread, reads that part in the background.
#[derive(Clone)]
pub struct Linger<S> {
    inner: S,
}

impl<S> Service<Request> for Linger<S>
where
    S: Service<Request, Response = Response>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<S::Future, BoxFuture<'static, Result<Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let body = req.body();
        if body.is_end_stream() || body.size_hint().exact().is_some_and(|n| n <= SMALL_BODY) {
            return Either::Left(self.inner.call(req));
        }
        // A client that asked to be told before it sends the body has sent
        // nothing yet unless the router began reading it.
        let waits_for_continue = req
            .headers()
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        let slot = Slot::default();
        let req = req.map(|body| {
            Body::new(Lent {
                body: Some(body),
                read: false,
                waits_for_continue,
                slot: slot.clone(),
            })
        });
        let answer = self.inner.call(req);
        Either::Right(Box::pin(async move {
            let response = answer.await;
            let rest = slot.lock().ok().and_then(|mut s| s.take());
            if let Some(rest) = rest {
                tokio::spawn(drain(rest, LINGER_BYTES, LINGER_TIME));
            }
            response
        }))
    }
}

/// Reads and drops a body, up to `most` bytes and for at most `time`.
async fn drain(mut body: Body, most: u64, time: Duration) {
    let mut left = most;
    let _ = tokio::time::timeout(time, async {
        while let Some(Ok(frame)) = body.frame().await {
            let n = frame.data_ref().map_or(0, |d| d.len() as u64);
            match left.checked_sub(n) {
                Some(l) => left = l,
                None => return,
            }
        }
    })
    .await;
}

/// A request body on loan to the router: handed back on drop if unfinished.
struct Lent {
    /// `None` once the body ended or failed.
    body: Option<Body>,
    /// Whether the router asked for any of it.
    read: bool,
    waits_for_continue: bool,
    slot: Slot,
}

impl HttpBody for Lent {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        self.read = true;
        let Some(body) = self.body.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            self.body = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.body
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |b| b.size_hint())
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        if self.waits_for_continue && !self.read {
            return;
        }
        if let Some(body) = self.body.take()
            && !body.is_end_stream()
            && let Ok(mut slot) = self.slot.lock()
        {
            *slot = Some(body);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures_util::stream;

    use super::*;

    #[tokio::test]
    async fn draining_stops_at_its_byte_limit() {
        let chunks = Arc::new(AtomicUsize::new(0));
        let counted = chunks.clone();
        let endless = stream::repeat_with(move || {
            counted.fetch_add(1, Ordering::Relaxed);
            Ok::<_, std::io::Error>(Bytes::from_static(&[b' '; 1024]))
        });
        drain(
            Body::from_stream(endless),
            10 * 1024,
            Duration::from_secs(3600),
        )
        .await;
        // Ten fit; the eleventh goes past the limit.
        assert_eq!(chunks.load(Ordering::Relaxed), 11);
    }

    #[tokio::test]
    async fn draining_stops_at_its_time_limit() {
        let silent = stream::pending::<Result<Bytes, std::io::Error>>();
        let limit = Duration::from_millis(50);
        let started = std::time::Instant::now();
        drain(Body::from_stream(silent), u64::MAX, limit).await;
        let took = started.elapsed();
        assert!(took >= limit && took < 100 * limit, "{took:?}");
    }
}

//! A cheap HTTP/1.1 client for the single-event modes: one keep-alive
//! connection per sending task, driven by hyper directly (no pool, no
//! timeouts machinery), so the client's cost per request stays well below
//! the server's (LIMITS.md: hyper's client reaches ~57,000–71,000 req/s on
//! this kind of machine, reqwest ~38,000). `ceiling --single` measures it
//! against the receiver, so a run's figures can be read as a share of it.

use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

/// How long one request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// One keep-alive connection.
pub struct Conn {
    addr: SocketAddr,
    send: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    /// A connection to `base` (`http://127.0.0.1:PORT`), opened on first use.
    pub fn new(base: &str) -> anyhow::Result<Conn> {
        let url = url::Url::parse(base)?;
        let addr = url
            .socket_addrs(|| Some(80))?
            .into_iter()
            .next()
            .ok_or_else(|| anyhow::anyhow!("{base}: no address"))?;
        Ok(Conn { addr, send: None })
    }

    async fn open(&mut self) -> anyhow::Result<&mut SendRequest<Full<Bytes>>> {
        if self.send.as_ref().is_none_or(|s| s.is_closed()) {
            let stream = tokio::net::TcpStream::connect(self.addr).await?;
            stream.set_nodelay(true)?;
            let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            self.send = Some(send);
        }
        Ok(self.send.as_mut().expect("opened above"))
    }

    /// POSTs a JSON `body` to `path` with extra `headers`; answers the
    /// status and the body. A failed request closes the connection (the
    /// next one opens a new one).
    pub async fn post(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
        body: String,
    ) -> anyhow::Result<(u16, Bytes)> {
        let result =
            tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(path, headers, body)).await;
        match result {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => {
                self.send = None;
                Err(e)
            }
            Err(_) => {
                self.send = None;
                Err(anyhow::anyhow!("no answer within {REQUEST_TIMEOUT:?}"))
            }
        }
    }

    async fn exchange(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
        body: String,
    ) -> anyhow::Result<(u16, Bytes)> {
        let host = self.addr.to_string();
        let send = self.open().await?;
        send.ready().await?;
        let mut req = hyper::Request::post(path)
            .header("host", host)
            .header("content-type", "application/json");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let res = send
            .send_request(req.body(Full::new(Bytes::from(body)))?)
            .await?;
        let status = res.status().as_u16();
        let body = res.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

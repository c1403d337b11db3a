//! The few ScaiHub API calls the generator makes, with the admin key.

use std::time::Duration;

use serde_json::{Value, json};

/// A client for one scaihub with its admin key.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    auth: String,
}

/// What one ingest request achieved.
pub struct Ingested {
    pub accepted: u64,
    pub duplicates: u64,
}

impl Api {
    pub fn new(http: reqwest::Client, base: &str, admin_key: &str) -> Api {
        Api {
            http,
            base: base.to_string(),
            auth: format!("Bearer {admin_key}"),
        }
    }

    /// `http://127.0.0.1:PORT` of the scaihub this client calls.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The `Authorization` header value (`Bearer …`).
    pub fn auth(&self) -> &str {
        &self.auth
    }

    async fn json(&self, req: reqwest::RequestBuilder, expect: u16) -> anyhow::Result<Value> {
        let res = req
            .header("authorization", &self.auth)
            .timeout(Duration::from_secs(60))
            .send()
            .await?;
        let status = res.status().as_u16();
        let body = res.bytes().await?;
        anyhow::ensure!(
            status == expect,
            "answered {status}, expected {expect}: {}",
            String::from_utf8_lossy(&body)
        );
        Ok(serde_json::from_slice(&body)?)
    }

    /// The admin key's organisation, from `GET /v1/me`.
    pub async fn org_id(&self) -> anyhow::Result<String> {
        let me = self
            .json(self.http.get(format!("{}/v1/me", self.base)), 200)
            .await?;
        me["org_id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("/v1/me has no org_id: {me}"))
    }

    /// Uploads a plugin component and waits until it is compiled (a large
    /// one is answered 202 `compiling`); answers its id.
    pub async fn upload_plugin(
        &self,
        org: &str,
        name: &str,
        kind: &str,
        wasm: Vec<u8>,
    ) -> anyhow::Result<String> {
        let res = self
            .http
            .post(format!(
                "{}/v1/orgs/{org}/plugins?name={name}&kind={kind}",
                self.base
            ))
            .header("authorization", &self.auth)
            .header("content-type", "application/wasm")
            .timeout(Duration::from_secs(120))
            .body(wasm)
            .send()
            .await?;
        let status = res.status().as_u16();
        let mut plugin: Value = serde_json::from_slice(&res.bytes().await?)?;
        anyhow::ensure!(
            status == 201 || status == 202,
            "the upload of {name} answered {status}: {plugin}"
        );
        let id = plugin["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("plugin without id: {plugin}"))?;
        let started = std::time::Instant::now();
        while plugin["status"] == "compiling" {
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(600),
                "{name} still compiling after 10 minutes"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
            plugin = self
                .json(
                    self.http
                        .get(format!("{}/v1/orgs/{org}/plugins/{id}", self.base)),
                    200,
                )
                .await?;
        }
        anyhow::ensure!(
            plugin["status"] == "ready",
            "{name} did not compile: {}",
            plugin["status_reason"]
        );
        Ok(id)
    }

    /// Creates a webhook for every SHARING event to `url`, with extra fields
    /// (attached plugins); answers its id.
    pub async fn create_webhook_with(
        &self,
        org: &str,
        name: &str,
        url: &str,
        extra: Value,
    ) -> anyhow::Result<String> {
        let mut body = json!({"name": name, "url": url, "events": ["SHARING"]});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let hook = self
            .json(
                self.http
                    .post(format!("{}/v1/orgs/{org}/webhooks", self.base))
                    .header("content-type", "application/json")
                    .body(body.to_string()),
                201,
            )
            .await?;
        hook["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("webhook without id: {hook}"))
    }

    /// `POST /v1/orgs/{org}/webhooks/{id}/resume`.
    pub async fn resume(&self, org: &str, webhook: &str) -> anyhow::Result<()> {
        self.json(
            self.http.post(format!(
                "{}/v1/orgs/{org}/webhooks/{webhook}/resume",
                self.base
            )),
            200,
        )
        .await
        .map(|_| ())
    }

    /// Posts a JSON array of events (already serialised).
    pub async fn ingest(&self, org: &str, body: String) -> anyhow::Result<Ingested> {
        let req = self
            .http
            .post(format!("{}/v1/orgs/{org}/events", self.base))
            .header("content-type", "application/json")
            .body(body);
        let out = self.json(req, 202).await?;
        let len = |k: &str| out[k].as_array().map_or(0, |a| a.len() as u64);
        Ok(Ingested {
            accepted: len("accepted"),
            duplicates: len("duplicates"),
        })
    }

    /// `GET /metrics`: the `scaihub_*` samples, histogram buckets left out.
    pub async fn metrics(&self) -> anyhow::Result<serde_json::Map<String, Value>> {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .timeout(Duration::from_secs(10))
            .send()
            .await?
            .text()
            .await?;
        let mut out = serde_json::Map::new();
        for line in text
            .lines()
            .filter(|l| l.starts_with("scaihub_") && !l.contains("_bucket{"))
        {
            if let Some((name, value)) = line.rsplit_once(' ')
                && let Ok(v) = value.parse::<f64>()
            {
                out.insert(name.to_string(), json!(v));
            }
        }
        Ok(out)
    }
}

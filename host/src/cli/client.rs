//! The HTTP client of the command line: a [`Profile`] turned into calls on
//! `/v1`, answers parsed as JSON, error answers turned into [`CliError`]s
//! that keep the API's `field`. With `--verbose` each request line and its
//! answer's status go to stderr; the key never does.

use std::time::{Duration, Instant};

use clap::Args;
use reqwest::Method;
use serde_json::Value;
use tokio::sync::OnceCell;

use super::error::{CliError, CliResult};
use super::profile::Profile;

/// A client for one profile.
pub struct Client {
    http: reqwest::Client,
    profile: Profile,
    verbose: bool,
    org: OnceCell<String>,
}

impl Client {
    pub fn new(profile: Profile, timeout: Duration, verbose: bool) -> CliResult<Client> {
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10).min(timeout))
            .user_agent(concat!("scaihub-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::failed(format!("cannot start the HTTP client: {e}")))?;
        if verbose {
            eprintln!("* profile {profile:?}");
        }
        Ok(Client {
            http,
            profile,
            verbose,
            org: OnceCell::new(),
        })
    }

    /// The organisation to act on: the profile's, else the key's own (`GET /v1/me`).
    pub async fn org(&self) -> CliResult<&str> {
        self.org
            .get_or_try_init(|| async {
                if let Some(org) = &self.profile.org {
                    return Ok(org.clone());
                }
                let me = self.call(Method::GET, &["v1", "me"], None).await?;
                me["org_id"]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| CliError::failed("GET /v1/me answered no org_id"))
            })
            .await
            .map(String::as_str)
    }

    /// The URL of `segments` under the base URL, each segment escaped (an
    /// id holding `/` or `..` stays one segment).
    pub fn url(&self, segments: &[&str]) -> url::Url {
        let mut url = self.profile.url.clone();
        {
            let mut path = url.path_segments_mut().expect("http(s) URLs have a path");
            path.pop_if_empty();
            path.extend(segments);
        }
        url
    }

    /// `/v1/orgs/{org}/…rest`.
    pub async fn org_url(&self, rest: &[&str]) -> CliResult<url::Url> {
        let org = self.org().await?.to_string();
        let mut segments = vec!["v1", "orgs", org.as_str()];
        segments.extend_from_slice(rest);
        Ok(self.url(&segments))
    }

    /// A JSON call on the organisation's `rest` path.
    pub async fn org_call(
        &self,
        method: Method,
        rest: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> CliResult<Value> {
        let mut url = self.org_url(rest).await?;
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        self.send(method, url, body).await
    }

    /// A JSON call on `segments` (not under an organisation).
    pub async fn call(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&Value>,
    ) -> CliResult<Value> {
        self.send(method, self.url(segments), body).await
    }

    async fn send(&self, method: Method, url: url::Url, body: Option<&Value>) -> CliResult<Value> {
        let mut req = self.http.request(method.clone(), url.clone());
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(serde_json::to_vec(b).expect("JSON values serialise"));
        }
        self.execute(method, url, req).await
    }

    /// Sends `body` as `content_type` (an upload); answers the JSON reply.
    pub async fn send_body(
        &self,
        method: Method,
        url: url::Url,
        content_type: &str,
        body: reqwest::Body,
        timeout: Duration,
    ) -> CliResult<Value> {
        let req = self
            .http
            .request(method.clone(), url.clone())
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .timeout(timeout)
            .body(body);
        self.execute(method, url, req).await
    }

    async fn execute(
        &self,
        method: Method,
        url: url::Url,
        req: reqwest::RequestBuilder,
    ) -> CliResult<Value> {
        if self.verbose {
            eprintln!("> {method} {url}");
        }
        let started = Instant::now();
        let res = req
            .bearer_auth(self.profile.key.expose())
            .send()
            .await
            .map_err(|e| unreachable(&url, &e))?;
        let status = res.status();
        let bytes = res.bytes().await.map_err(|e| unreachable(&url, &e))?;
        if self.verbose {
            eprintln!(
                "< {} ({} bytes, {} ms)",
                status,
                bytes.len(),
                started.elapsed().as_millis()
            );
        }
        let body: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                Value::String(String::from_utf8_lossy(&bytes).chars().take(2000).collect())
            })
        };
        if status.is_success() {
            return Ok(body);
        }
        Err(api_error(status.as_u16(), &body))
    }
}

fn unreachable(url: &url::Url, e: &reqwest::Error) -> CliError {
    // The URL without its path or query: what could not be reached is the server.
    let server = url.origin().ascii_serialization();
    let mut reason = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        reason = format!("{reason}: {s}");
        source = s.source();
    }
    if e.is_timeout() {
        reason = format!("no answer in time ({reason})");
    }
    CliError::Unreachable {
        url: server,
        reason,
    }
}

/// An error answer as a [`CliError`], keeping the API's code, message and field.
pub fn api_error(status: u16, body: &Value) -> CliError {
    let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
    CliError::Api {
        status,
        code: text("error").unwrap_or_else(|| format!("http_{status}")),
        message: text("message")
            .or_else(|| text("error_description"))
            .or_else(|| body.as_str().map(str::to_string))
            .unwrap_or_else(|| "the server refused the request".into()),
        field: text("field"),
    }
}

impl Client {
    /// A list endpoint's page (`{"data", "next_cursor"}`); with `all`, every
    /// page followed and joined into one `data`.
    pub async fn org_list(
        &self,
        rest: &[&str],
        mut query: Vec<(&str, String)>,
        all: bool,
    ) -> CliResult<Value> {
        let mut page = self.org_call(Method::GET, rest, &query, None).await?;
        if !all {
            return Ok(page);
        }
        let mut data = take_data(&mut page);
        while let Some(cursor) = page["next_cursor"].as_str().map(str::to_string) {
            query.retain(|(k, _)| *k != "cursor");
            query.push(("cursor", cursor));
            page = self.org_call(Method::GET, rest, &query, None).await?;
            data.extend(take_data(&mut page));
        }
        Ok(serde_json::json!({"data": data, "next_cursor": null}))
    }
}

fn take_data(page: &mut Value) -> Vec<Value> {
    match page.get_mut("data").map(Value::take) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    }
}

/// `--limit`, `--cursor`, `--all` of a list.
#[derive(Debug, Args)]
pub struct Page {
    /// Items per page (1-500).
    #[arg(long)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[arg(long)]
    pub cursor: Option<String>,
    /// Follow every page.
    #[arg(long, conflicts_with = "cursor")]
    pub all: bool,
}

impl Page {
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(l) = self.limit {
            q.push(("limit", l.to_string()));
        }
        if let Some(c) = &self.cursor {
            q.push(("cursor", c.clone()));
        }
        q
    }
}

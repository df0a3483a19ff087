//! A small JSON-over-HTTP/1.1 client for the API under load (hyper-util's pooled client).

use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, LOCATION};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// Upper bound on one request (connect, send, read the whole body), so a stuck server
/// cannot keep `apiforge budget` running past its route duration for long.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The API's base URL plus a connection pool.
#[derive(Clone)]
pub struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    /// `http://host:port[/prefix]`, without a trailing slash.
    base: String,
    /// Credentials sent on every request (`Authorization` or `X-API-Key`).
    credentials: Option<(HeaderName, HeaderValue)>,
}

/// A response read to its end.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON, or `None` when it is not JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// `Location` header, when present.
    pub fn location(&self) -> Option<&str> {
        self.headers.get(LOCATION)?.to_str().ok()
    }

    /// A one-line description for error messages (status and the start of the body).
    pub fn describe(&self) -> String {
        let body = String::from_utf8_lossy(&self.body);
        let body: String = body.chars().take(200).collect();
        format!("{} {}", self.status, body.trim())
    }
}

impl Http {
    /// Check the URL's shape (plain `http://host[:port][/prefix]`) and build a client.
    pub fn new(url: &str) -> anyhow::Result<Self> {
        let uri: Uri = url
            .parse()
            .with_context(|| format!("--url `{url}` is not a valid URL"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => bail!(
                "--url `{url}`: scheme `{other}` is not supported; use http:// (run budgets against the API directly, not through TLS)"
            ),
            None => bail!("--url `{url}` needs a scheme and host, e.g. http://127.0.0.1:8080"),
        }
        if uri.host().is_none_or(str::is_empty) {
            bail!("--url `{url}` has no host, e.g. http://127.0.0.1:8080");
        }
        if uri.query().is_some() {
            bail!("--url `{url}` must not have a query string");
        }
        let client = Client::builder(TokioExecutor::new()).build_http();
        Ok(Self {
            client,
            base: url.trim_end_matches('/').to_owned(),
            credentials: None,
        })
    }

    /// Sends `Authorization: Bearer <token>`, else `X-API-Key: <key>`, on every request.
    pub fn with_credentials(
        mut self,
        token: Option<&str>,
        api_key: Option<&str>,
    ) -> anyhow::Result<Self> {
        let header = |name: &'static str, value: String, what: &str| {
            let mut value = HeaderValue::try_from(value)
                .with_context(|| format!("the {what} holds characters a header cannot carry"))?;
            value.set_sensitive(true);
            anyhow::Ok((HeaderName::from_static(name), value))
        };
        self.credentials = match (token, api_key) {
            (Some(token), _) => Some(header(
                "authorization",
                format!("Bearer {}", token.trim()),
                "token (--token / APIFORGE_TOKEN)",
            )?),
            (None, Some(key)) => Some(header(
                "x-api-key",
                key.trim().to_owned(),
                "API key (--api-key / APIFORGE_API_KEY)",
            )?),
            (None, None) => None,
        };
        Ok(self)
    }

    /// The base URL as given (without a trailing slash).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Send one request (JSON body when given) and read the response to its end.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Reply> {
        let uri = format!("{}{path}", self.base);
        let mut req = Request::builder()
            .method(method)
            .uri(&uri)
            .header(ACCEPT, "application/json");
        if let Some((name, value)) = &self.credentials {
            req = req.header(name, value);
        }
        let payload = match body {
            Some(v) => {
                req = req.header(CONTENT_TYPE, "application/json");
                Bytes::from(serde_json::to_vec(v)?)
            }
            None => Bytes::new(),
        };
        let req = req
            .body(Full::new(payload))
            .with_context(|| format!("bad request URL {uri}"))?;
        let exchange = async {
            let resp = self.client.request(req).await?;
            let (parts, body) = resp.into_parts();
            let body = body.collect().await?.to_bytes();
            anyhow::Ok(Reply {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
            Ok(reply) => reply.with_context(|| format!("request to {uri} failed")),
            Err(_) => bail!("request to {uri} timed out after {REQUEST_TIMEOUT:?}"),
        }
    }

    /// Fail with a clear message when nothing answers HTTP at the base URL.
    pub async fn check_reachable(&self) -> anyhow::Result<()> {
        match self.send(Method::GET, "/health", None).await {
            Ok(_) => Ok(()),
            Err(err) => bail!(
                "the server isn't reachable at {}: {}",
                self.base,
                root_cause(&err)
            ),
        }
    }
}

/// The innermost error message (e.g. "Connection refused (os error 111)").
fn root_cause(err: &anyhow::Error) -> String {
    err.chain()
        .last()
        .map(ToString::to_string)
        .unwrap_or_default()
}

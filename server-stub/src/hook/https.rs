//! The hook as an HTTPS endpoint: each call POSTed as JSON through ureq (rustls with ring,
//! the client the HTTP SMS provider uses), the certificate verified against the public
//! roots or `hook.ca_file`, the whole exchange bounded by the timeout. Only a 200 with a
//! body is an answer; anything else is an error, fail closed.

use std::path::Path;
use std::time::Duration;

use ureq::tls::{Certificate, RootCerts, TlsConfig};

use super::{printable, HookError, Transport, MAX_ANSWER_BYTES};

pub(super) struct Endpoint {
    url: String,
    agent: ureq::Agent,
    bearer_token: String,
    timeout: Duration,
}

impl Endpoint {
    pub(super) fn new(
        url: &str,
        ca_file: Option<&Path>,
        bearer_token: &str,
        timeout: Duration,
    ) -> Result<Self, String> {
        let roots = match ca_file {
            None => RootCerts::WebPki,
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| format!("hook.ca_file {}: {e}", path.display()))?;
                let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
                    .filter_map(|item| match item {
                        Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                        _ => None,
                    })
                    .collect();
                if certs.is_empty() {
                    return Err(format!("hook.ca_file {}: no certificate in it", path.display()));
                }
                RootCerts::new_with_certs(&certs)
            }
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            .build()
            .into();
        Ok(Endpoint { url: url.to_owned(), agent, bearer_token: bearer_token.to_owned(), timeout })
    }
}

impl Transport for Endpoint {
    fn exchange(&self, request: &[u8], code: Option<&str>) -> Result<Vec<u8>, HookError> {
        let mut req = self.agent.post(&self.url).header("Content-Type", "application/json");
        if !self.bearer_token.is_empty() {
            req = req.header("Authorization", &format!("Bearer {}", self.bearer_token));
        }
        let mut response = match req.send(request) {
            Ok(r) => r,
            Err(ureq::Error::Timeout(_)) => return Err(HookError::TimedOut(self.timeout)),
            Err(ureq::Error::StatusCode(status)) => {
                return Err(HookError::Failed(format!("{} answered HTTP {status}", self.url)))
            }
            Err(e) => return Err(HookError::Failed(format!("{}: {}", self.url, printable(&e.to_string(), code)))),
        };
        match response.body_mut().with_config().limit(MAX_ANSWER_BYTES as u64).read_to_vec() {
            Ok(body) => Ok(body),
            Err(ureq::Error::Timeout(_)) => Err(HookError::TimedOut(self.timeout)),
            Err(e) => {
                Err(HookError::Failed(format!("{}: reading the answer: {}", self.url, printable(&e.to_string(), code))))
            }
        }
    }
}

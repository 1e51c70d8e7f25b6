//! Sending one-time codes: e-mail and SMS-through-carrier-gateway over SMTP (lettre's
//! tokio transport, rustls), SMS through an HTTP provider (ureq on the blocking pool).
//! Every send is bounded by a timeout and by the caller's deadline, so a relay that is
//! down or silent never holds a login past its timeout.

use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::time::Instant;

use crate::config::{Config, SmsSection};
use crate::totp::percent_encode;

/// Where a code goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// An e-mail to the user's address.
    Email { to: String },
    /// An SMS as e-mail to `<number>@<gateway>`.
    SmsGateway { to: String },
    /// An SMS through the HTTP provider; `to` is E.164.
    SmsHttp { to: String },
}

impl Delivery {
    pub fn channel(&self) -> &'static str {
        match self {
            Delivery::Email { .. } => "smtp",
            Delivery::SmsGateway { .. } => "smtp (carrier gateway)",
            Delivery::SmsHttp { .. } => "http sms provider",
        }
    }
}

pub struct Notifier {
    smtp: AsyncSmtpTransport<Tokio1Executor>,
    smtp_timeout: Duration,
    from: Mailbox,
    subject: String,
    server_name: String,
    sms: SmsSection,
}

impl Notifier {
    pub fn new(config: &Config) -> Result<Self, String> {
        let s = &config.smtp;
        let host = s.host.clone();
        let tls_params = || -> Result<TlsParameters, String> {
            let mut b = TlsParameters::builder(host.clone());
            if !s.ca_file.as_os_str().is_empty() {
                let path = config.path(&s.ca_file);
                let pem = std::fs::read(&path).map_err(|e| format!("smtp.ca_file {}: {e}", path.display()))?;
                let cert = Certificate::from_pem(&pem).map_err(|e| format!("smtp.ca_file {}: {e}", path.display()))?;
                b = b.add_root_certificate(cert);
            }
            b.build_rustls().map_err(|e| format!("smtp TLS: {e}"))
        };
        let tls = match s.security.as_str() {
            "none" => Tls::None,
            "tls" => Tls::Wrapper(tls_params()?),
            _ => Tls::Required(tls_params()?),
        };
        let smtp_timeout = Duration::from_secs(s.timeout_secs);
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(config.smtp_port())
            .tls(tls)
            .timeout(Some(smtp_timeout));
        if !s.username.is_empty() {
            builder = builder.credentials(Credentials::new(s.username.clone(), s.password.clone()));
        }
        let from: Mailbox = s.from.parse().map_err(|e| format!("smtp.from `{}`: {e}", s.from))?;
        Ok(Notifier {
            smtp: builder.build(),
            smtp_timeout,
            from,
            subject: s.subject.clone(),
            server_name: config.server.name.clone(),
            sms: config.sms.clone(),
        })
    }

    /// Sends `code`; Err says why (for the audit and the server log, never the client).
    /// Gives up at `deadline` or the channel's timeout, whichever comes first.
    pub async fn send(
        &self,
        delivery: &Delivery,
        code: &str,
        lifetime_secs: u64,
        deadline: Instant,
    ) -> Result<(), String> {
        let minutes = lifetime_secs.div_ceil(60).max(1);
        let channel_timeout = match delivery {
            Delivery::SmsHttp { .. } => Duration::from_secs(self.sms.timeout_secs),
            _ => self.smtp_timeout,
        };
        let limit = deadline.min(Instant::now() + channel_timeout);
        let work = async {
            match delivery {
                Delivery::Email { to } => {
                    let body = format!(
                        "Your {} code is {code}\n\nIt expires in {minutes} minute{}. If you did not try to log in, tell your administrator.\n",
                        self.server_name,
                        if minutes == 1 { "" } else { "s" }
                    );
                    self.mail(to, &self.subject, body).await
                }
                Delivery::SmsGateway { to } => {
                    // Short: gateways cut long messages into several SMS.
                    let body = format!("{} code: {code} (expires in {minutes} min)", self.server_name);
                    self.mail(to, &self.subject, body).await
                }
                Delivery::SmsHttp { to } => self.http_sms(to, code, channel_timeout).await,
            }
        };
        match tokio::time::timeout_at(limit, work).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "{}: no answer within {} s",
                delivery.channel(),
                limit.saturating_duration_since(Instant::now()).as_secs().max(channel_timeout.as_secs().min(1))
            )),
        }
    }

    async fn mail(&self, to: &str, subject: &str, body: String) -> Result<(), String> {
        let to: Mailbox = to.parse().map_err(|e| format!("address `{to}`: {e}"))?;
        let msg = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| format!("building the message: {e}"))?;
        self.smtp.send(msg).await.map(|_| ()).map_err(|e| format!("smtp: {e}"))
    }

    async fn http_sms(&self, to: &str, code: &str, timeout: Duration) -> Result<(), String> {
        let json = self.sms.content_type.contains("json");
        let esc = |v: &str| {
            if json {
                json_escape(v)
            } else {
                percent_encode(v)
            }
        };
        let body = self.sms.body.replace("{to}", &esc(to)).replace("{code}", &esc(code));
        let url = self.sms.url.clone();
        let content_type = self.sms.content_type.clone();
        let token = self.sms.bearer_token.clone();
        let r = tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(timeout)).build().into();
            let mut req = agent.post(&url).header("Content-Type", &content_type);
            if !token.is_empty() {
                req = req.header("Authorization", &format!("Bearer {token}"));
            }
            req.send(body.as_str()).map(|_| ())
        })
        .await;
        match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(ureq::Error::StatusCode(code))) => Err(format!("http sms provider answered HTTP {code}")),
            Ok(Err(e)) => Err(format!("http sms provider: {e}")),
            Err(e) => Err(format!("http sms provider: task failed: {e}")),
        }
    }
}

fn json_escape(v: &str) -> String {
    let quoted = serde_json::to_string(v).unwrap_or_default();
    quoted[1..quoted.len().saturating_sub(1).max(1)].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_values_are_escaped_for_their_content_type() {
        assert_eq!(json_escape("+15551234567"), "+15551234567");
        assert_eq!(json_escape("a\"b"), "a\\\"b");
        assert_eq!(percent_encode("+15551234567"), "%2B15551234567");
    }
}

//! `[service_accounts]`: which certificate authorities a service account's client
//! certificate may come from (docs/service-accounts.md).

use std::path::PathBuf;

use serde::Deserialize;

/// The server's own client CA (`client-ca.pem`, made on first need) is always trusted;
/// these PEM files add CAs the admin runs elsewhere. Trusting a CA lets its certificates
/// through the handshake only: a login also needs the certificate's SHA-256 pinned to
/// the account, so a CA that issues to many cannot log anyone in by itself.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceAccountsSection {
    pub trusted_client_ca_files: Vec<PathBuf>,
}

//! Service accounts: users for unattended jobs that log in with an Ed25519 key pair or a
//! client certificate instead of a password and a code. The account is a user row (so
//! SQL roles, the audit and the lockout work as for people) plus one row of its own in
//! `service_accounts`, kept apart so [`super::UserRecord`] stays the same for every user.

use std::net::IpAddr;

use ipnet::IpNet;

/// How a service account proves itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceKind {
    /// A signature with its Ed25519 key over the connection's TLS exporter (KeyLogin).
    Key,
    /// A client certificate, pinned by the SHA-256 of its DER (CertLogin).
    Certificate,
}

impl ServiceKind {
    /// As stored in `service_accounts.kind`, audited and listed.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceKind::Key => "key",
            ServiceKind::Certificate => "certificate",
        }
    }

    pub fn parse(s: &str) -> Option<ServiceKind> {
        match s {
            "key" => Some(ServiceKind::Key),
            "certificate" => Some(ServiceKind::Certificate),
            _ => None,
        }
    }
}

/// The SQL backend a service account may use: a job written for one database is refused
/// by a server configured for the other instead of running its statements there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowedBackend {
    Any,
    Sqlite,
    Postgres,
}

impl AllowedBackend {
    pub fn as_str(self) -> &'static str {
        match self {
            AllowedBackend::Any => "any",
            AllowedBackend::Sqlite => "sqlite",
            AllowedBackend::Postgres => "postgres",
        }
    }

    pub fn parse(s: &str) -> Option<AllowedBackend> {
        match s {
            "any" => Some(AllowedBackend::Any),
            "sqlite" => Some(AllowedBackend::Sqlite),
            "postgres" => Some(AllowedBackend::Postgres),
            _ => None,
        }
    }

    pub fn allows(self, backend: crate::config::SqlBackend) -> bool {
        use crate::config::SqlBackend;
        matches!(
            (self, backend),
            (AllowedBackend::Any, _)
                | (AllowedBackend::Sqlite, SqlBackend::Sqlite)
                | (AllowedBackend::Postgres, SqlBackend::Postgres)
        )
    }
}

/// The length of `credential`: an Ed25519 public key and a SHA-256 digest are both 32.
pub const CREDENTIAL_LEN: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    pub name: String,
    pub kind: ServiceKind,
    /// [`ServiceKind::Key`]: the Ed25519 public key; [`ServiceKind::Certificate`]: the
    /// SHA-256 of the certificate's DER. Neither is secret.
    pub credential: Vec<u8>,
    /// Where it may log in from; never empty (a key copied elsewhere is useless there).
    pub networks: Vec<IpNet>,
    pub backend: AllowedBackend,
    /// The PostgreSQL role its sessions take (`SET ROLE`), instead of `[sql.roles]` and
    /// `role_map`.
    pub sql_role: Option<String>,
    pub created_at: i64,
}

impl ServiceAccount {
    /// Whether `ip` (the real peer, after the PROXY header) is in one of its networks. An
    /// IPv4 peer on an IPv6 socket (`::ffff:a.b.c.d`) counts as the IPv4 address.
    pub fn allows_address(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.networks.iter().any(|n| n.contains(&ip))
    }
}

/// `networks` as stored: comma-separated CIDRs.
pub fn networks_to_text(networks: &[IpNet]) -> String {
    networks.iter().map(IpNet::to_string).collect::<Vec<_>>().join(",")
}

/// Parses `10.0.0.0/8,192.168.1.7` (a bare address is a /32 or /128). Refuses an empty
/// list and anything that is not an address or network.
pub fn parse_networks(text: &str) -> Result<Vec<IpNet>, String> {
    let mut networks = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let net = match part.parse::<IpNet>() {
            Ok(n) => n.trunc(),
            Err(_) => match part.parse::<IpAddr>() {
                Ok(ip) => IpNet::from(ip),
                Err(_) => return Err(format!("`{part}` is not a network like 10.0.0.0/8 or an address like 10.1.2.3")),
            },
        };
        networks.push(net);
    }
    if networks.is_empty() {
        return Err("a service account needs at least one source network (--from CIDR[,CIDR...])".into());
    }
    Ok(networks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_parse_with_bare_addresses_and_refuse_garbage_and_emptiness() {
        let n = parse_networks("10.0.0.0/8, 192.168.1.7,::1").unwrap();
        assert_eq!(networks_to_text(&n), "10.0.0.0/8,192.168.1.7/32,::1/128");
        assert!(parse_networks("").is_err());
        assert!(parse_networks(" , ").is_err());
        assert!(parse_networks("10.0.0.0/33").is_err());
        assert!(parse_networks("example.com").is_err());
    }

    #[test]
    fn an_ipv4_peer_on_an_ipv6_socket_matches_its_ipv4_network() {
        let account = ServiceAccount {
            name: "job".into(),
            kind: ServiceKind::Key,
            credential: vec![0; 32],
            networks: parse_networks("127.0.0.0/8").unwrap(),
            backend: AllowedBackend::Any,
            sql_role: None,
            created_at: 0,
        };
        assert!(account.allows_address("::ffff:127.0.0.1".parse().unwrap()));
        assert!(account.allows_address("127.0.0.1".parse().unwrap()));
        assert!(!account.allows_address("10.0.0.1".parse().unwrap()));
    }
}

//! Service accounts in SQLite: the user row and the `service_accounts` row are written
//! in one transaction, so there is never a service account without its user or a user
//! half made into one.

use super::cached::Cached;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::store::{networks_to_text, parse_networks, AllowedBackend, ServiceAccount, ServiceKind, StoreError};

const SELECT: &str = "SELECT name, kind, credential, networks, backend, sql_role, created_at FROM service_accounts";

/// A row as stored; a value this binary cannot read is a store error, never a default
/// that could widen what the account may do.
fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<ServiceAccount, StoreError>> {
    let name: String = r.get(0)?;
    let kind: String = r.get(1)?;
    let networks: String = r.get(3)?;
    let backend: String = r.get(4)?;
    let bad = |what: &str| StoreError::Backend(format!("service account `{name}`: unreadable {what}"));
    let Some(kind) = ServiceKind::parse(&kind) else { return Ok(Err(bad("kind"))) };
    let Some(backend) = AllowedBackend::parse(&backend) else { return Ok(Err(bad("backend"))) };
    let Ok(networks) = parse_networks(&networks) else { return Ok(Err(bad("networks"))) };
    Ok(Ok(ServiceAccount {
        kind,
        credential: r.get(2)?,
        networks,
        backend,
        sql_role: r.get(5)?,
        created_at: r.get(6)?,
        name,
    }))
}

pub(super) fn create(c: &mut Connection, a: &ServiceAccount, password_hash: &str) -> Result<(), StoreError> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let exists = tx.one("SELECT 1 FROM users WHERE name = ?1", [&a.name], |_| Ok(())).optional()?.is_some();
    if exists {
        return Err(StoreError::AlreadyExists(a.name.clone()));
    }
    tx.exec(
        "INSERT INTO users (name, password_hash, two_factor, method) VALUES (?1, ?2, 0, 'NONE')",
        params![a.name, password_hash],
    )?;
    // A row left by a user removed by an older binary that did not know this table.
    tx.exec("DELETE FROM service_accounts WHERE name = ?1", [&a.name])?;
    tx.exec(
        "INSERT INTO service_accounts (name, kind, credential, networks, backend, sql_role, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            a.name,
            a.kind.as_str(),
            a.credential,
            networks_to_text(&a.networks),
            a.backend.as_str(),
            a.sql_role,
            a.created_at
        ],
    )?;
    tx.commit()?;
    Ok(())
}

pub(super) fn one(c: &mut Connection, name: &str) -> Result<Option<ServiceAccount>, StoreError> {
    // Only with its user row: a service row whose user is gone is no account.
    let sql =
        format!("{SELECT} WHERE name = ?1 AND EXISTS (SELECT 1 FROM users u WHERE u.name = service_accounts.name)");
    c.one(&sql, [name], from_row).optional()?.transpose()
}

pub(super) fn all(c: &mut Connection) -> Result<Vec<ServiceAccount>, StoreError> {
    let sql =
        format!("{SELECT} WHERE EXISTS (SELECT 1 FROM users u WHERE u.name = service_accounts.name) ORDER BY name");
    let mut stmt = c.prepare(&sql)?;
    let rows = stmt.query_map([], from_row)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row??);
    }
    Ok(out)
}

pub(super) fn update(c: &mut Connection, a: &ServiceAccount) -> Result<(), StoreError> {
    let n = c.exec(
        "UPDATE service_accounts SET kind = ?2, credential = ?3, networks = ?4, backend = ?5, sql_role = ?6
         WHERE name = ?1",
        params![a.name, a.kind.as_str(), a.credential, networks_to_text(&a.networks), a.backend.as_str(), a.sql_role],
    )?;
    if n == 0 {
        return Err(StoreError::NoSuchUser(a.name.clone()));
    }
    Ok(())
}

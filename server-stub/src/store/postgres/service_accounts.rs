//! Service accounts in PostgreSQL: the user row and the `service_accounts` row in one
//! transaction; the service row goes with its user (`ON DELETE CASCADE`).

use postgres::{GenericClient, Row};

use super::pool::{backend, col, is_unique_violation};
use crate::store::{networks_to_text, parse_networks, AllowedBackend, ServiceAccount, ServiceKind, StoreError};

const SELECT: &str = "SELECT name, kind, credential, networks, backend, sql_role, created_at FROM service_accounts";

/// A row as stored; a value this binary cannot read is a store error, never a default
/// that could widen what the account may do.
fn from_row(r: &Row) -> Result<ServiceAccount, StoreError> {
    let name: String = col(r, 0)?;
    let bad = |what: &str| StoreError::Backend(format!("service account `{name}`: unreadable {what}"));
    let kind = ServiceKind::parse(&col::<String>(r, 1)?).ok_or_else(|| bad("kind"))?;
    let networks = parse_networks(&col::<String>(r, 3)?).map_err(|_| bad("networks"))?;
    let backend = AllowedBackend::parse(&col::<String>(r, 4)?).ok_or_else(|| bad("backend"))?;
    Ok(ServiceAccount {
        kind,
        credential: col(r, 2)?,
        networks,
        backend,
        sql_role: col(r, 5)?,
        created_at: col(r, 6)?,
        name,
    })
}

pub(super) fn create(client: &mut postgres::Client, a: &ServiceAccount, password_hash: &str) -> Result<(), StoreError> {
    let mut tx = client.transaction().map_err(backend)?;
    let inserted = tx.execute(
        "INSERT INTO users (name, password_hash, two_factor, method) VALUES ($1, $2, false, 'NONE')",
        &[&a.name, &password_hash],
    );
    match inserted {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => return Err(StoreError::AlreadyExists(a.name.clone())),
        Err(e) => return Err(backend(e)),
    }
    tx.execute(
        "INSERT INTO service_accounts (name, kind, credential, networks, backend, sql_role, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &a.name,
            &a.kind.as_str(),
            &a.credential,
            &networks_to_text(&a.networks),
            &a.backend.as_str(),
            &a.sql_role,
            &a.created_at,
        ],
    )
    .map_err(backend)?;
    tx.commit().map_err(backend)
}

pub(super) fn one(c: &mut impl GenericClient, name: &str) -> Result<Option<ServiceAccount>, StoreError> {
    c.query_opt(&format!("{SELECT} WHERE name = $1"), &[&name]).map_err(backend)?.as_ref().map(from_row).transpose()
}

pub(super) fn all(c: &mut impl GenericClient) -> Result<Vec<ServiceAccount>, StoreError> {
    c.query(&format!("{SELECT} ORDER BY name"), &[]).map_err(backend)?.iter().map(from_row).collect()
}

pub(super) fn update(c: &mut impl GenericClient, a: &ServiceAccount) -> Result<(), StoreError> {
    let n = c
        .execute(
            "UPDATE service_accounts SET kind = $2, credential = $3, networks = $4, backend = $5, sql_role = $6
             WHERE name = $1",
            &[
                &a.name,
                &a.kind.as_str(),
                &a.credential,
                &networks_to_text(&a.networks),
                &a.backend.as_str(),
                &a.sql_role,
            ],
        )
        .map_err(backend)?;
    if n == 0 {
        return Err(StoreError::NoSuchUser(a.name.clone()));
    }
    Ok(())
}

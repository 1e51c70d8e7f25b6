//! The delegated second factor's used-code ledger in PostgreSQL (migration
//! `V_DELEGATED_CODES`): what SQLite's delegated.rs does; one conditional upsert decides,
//! so of several instances seeing the same accepted code exactly one takes it as fresh.

use postgres::types::Type;
use postgres::GenericClient;

use super::pool::backend;
use crate::store::{CodeUse, StoreError};

/// Rows go with their user (ON DELETE CASCADE).
pub(super) const V_DELEGATED_CODES: &str = "
CREATE TABLE delegated_codes (
    name text NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    code_hash bytea NOT NULL,
    used_at bigint NOT NULL,
    PRIMARY KEY (name, code_hash)
);
";

pub(super) fn used_since(
    c: &mut impl GenericClient,
    name: &str,
    code_hash: &[u8],
    since: i64,
) -> Result<bool, StoreError> {
    let rows = c
        .query_typed(
            "SELECT 1 FROM delegated_codes WHERE name = $1 AND code_hash = $2 AND used_at > $3",
            &[(&name, Type::TEXT), (&code_hash, Type::BYTEA), (&since, Type::INT8)],
        )
        .map_err(backend)?;
    Ok(!rows.is_empty())
}

pub(super) fn record(
    c: &mut impl GenericClient,
    name: &str,
    code_hash: &[u8],
    now: i64,
    since: i64,
) -> Result<CodeUse, StoreError> {
    c.execute("DELETE FROM delegated_codes WHERE name = $1 AND used_at <= $2", &[&name, &since]).map_err(backend)?;
    let rows = c
        .query_typed(
            "INSERT INTO delegated_codes (name, code_hash, used_at) VALUES ($1, $2, $3)
             ON CONFLICT (name, code_hash) DO UPDATE SET used_at = excluded.used_at
             WHERE delegated_codes.used_at <= $4 RETURNING 1",
            &[(&name, Type::TEXT), (&code_hash, Type::BYTEA), (&now, Type::INT8), (&since, Type::INT8)],
        )
        .map_err(backend)?;
    Ok(if rows.is_empty() { CodeUse::Replayed } else { CodeUse::Accepted })
}

//! Enrolment links in PostgreSQL (migration `ENROL_LINKS`): what SQLite's enrol_links.rs
//! does, shared by every instance. Spending is one conditional UPDATE ... RETURNING, which
//! PostgreSQL re-checks on the newest row version, so two instances confirming one link
//! at once cannot both win. Rows go with their user (`ON DELETE CASCADE`).

use postgres::{GenericClient, Row};

use super::pool::{backend, col};
use crate::store::{EnrolLinkRecord, NewEnrolLink, StoreError};

const COLUMNS: &str = "id_hash, name, issued_at, expires_at, reset, used_at, revoked_at";

fn row_to_link(r: &Row) -> Result<EnrolLinkRecord, StoreError> {
    Ok(EnrolLinkRecord {
        id_hash: col(r, 0)?,
        user: col(r, 1)?,
        issued_at: col(r, 2)?,
        expires_at: col(r, 3)?,
        reset: col(r, 4)?,
        used_at: col(r, 5)?,
        revoked_at: col(r, 6)?,
    })
}

pub(super) fn issue(c: &mut impl GenericClient, l: &NewEnrolLink<'_>) -> Result<(), StoreError> {
    let forget_before = l.issued_at - 7 * 86400;
    c.execute("DELETE FROM enrol_links WHERE expires_at <= $1", &[&forget_before]).map_err(backend)?;
    // The user's existence and the insert in one statement (INSERT ... SELECT).
    let n = c
        .execute(
            "INSERT INTO enrol_links (id_hash, name, issued_at, expires_at, reset)
             SELECT $1, name, $3, $4, $5 FROM users WHERE name = $2",
            &[&l.id_hash, &l.user, &l.issued_at, &l.expires_at, &l.reset],
        )
        .map_err(backend)?;
    if n == 0 {
        return Err(StoreError::NoSuchUser(l.user.to_owned()));
    }
    Ok(())
}

pub(super) fn link(c: &mut impl GenericClient, id_hash: &[u8]) -> Result<Option<EnrolLinkRecord>, StoreError> {
    let row =
        c.query_opt(&format!("SELECT {COLUMNS} FROM enrol_links WHERE id_hash = $1"), &[&id_hash]).map_err(backend)?;
    row.as_ref().map(row_to_link).transpose()
}

pub(super) fn spend(
    c: &mut impl GenericClient,
    id_hash: &[u8],
    now: i64,
) -> Result<Option<EnrolLinkRecord>, StoreError> {
    let row = c
        .query_opt(
            &format!(
                "UPDATE enrol_links SET used_at = $2 WHERE id_hash = $1
                 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2 RETURNING {COLUMNS}"
            ),
            &[&id_hash, &now],
        )
        .map_err(backend)?;
    row.as_ref().map(row_to_link).transpose()
}

pub(super) fn links(c: &mut impl GenericClient, name: Option<&str>) -> Result<Vec<EnrolLinkRecord>, StoreError> {
    let rows = c
        .query(
            &format!("SELECT {COLUMNS} FROM enrol_links WHERE ($1::text IS NULL OR name = $1) ORDER BY seq"),
            &[&name],
        )
        .map_err(backend)?;
    rows.iter().map(row_to_link).collect()
}

pub(super) fn revoke(c: &mut impl GenericClient, id_hash: &[u8], now: i64) -> Result<bool, StoreError> {
    let n = c
        .execute(
            "UPDATE enrol_links SET revoked_at = $2 WHERE id_hash = $1 AND revoked_at IS NULL AND used_at IS NULL",
            &[&id_hash, &now],
        )
        .map_err(backend)?;
    Ok(n > 0)
}

//! Users, the server-wide switch and carriers in PostgreSQL: the admin's side of the
//! store. Each call is one statement or one transaction; a user's rows in other tables
//! go with it (`ON DELETE CASCADE`).

use postgres::types::Type;
use postgres::{GenericClient, Row};

use super::pool::{backend, col, is_unique_violation};
use crate::store::{Carrier, Mechanism, StoreError, TotpEnrolment, UserRecord};

/// The user columns `row_to_user` reads, as a literal so that `concat!` can extend it.
macro_rules! select_user {
    () => {
        "SELECT name, password_hash, two_factor, method, totp_secret, totp_algorithm, totp_digits,
    last_totp_step, failed_second_factor, locked_until, failed_first_factor, password_locked_until,
    phone, carrier, email, totp_drift, drift_candidate, drift_streak,
    (SELECT count(*) FROM backup_codes b WHERE b.name = users.name AND b.used_at IS NULL), first_factor
    FROM users"
    };
}
const SELECT_USER: &str = select_user!();
const SELECT_USER_BY_NAME: &str = concat!(select_user!(), " WHERE name = $1");

/// A stored count (never negative) as the interface has it.
pub(super) fn count(v: i32) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

/// A count as stored (the interface's counts are far below `i32::MAX`).
pub(super) fn stored(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn row_to_user(r: &Row) -> Result<UserRecord, StoreError> {
    let totp = match col::<Option<Vec<u8>>>(r, 4)? {
        Some(sealed_secret) => Some(TotpEnrolment {
            sealed_secret,
            algorithm: col::<Option<String>>(r, 5)?.unwrap_or_else(|| "SHA1".into()),
            digits: col::<Option<i32>>(r, 6)?.map_or(6, count),
        }),
        None => None,
    };
    Ok(UserRecord {
        name: col(r, 0)?,
        password_hash: col(r, 1)?,
        two_factor_required: col(r, 2)?,
        method: col(r, 3)?,
        totp,
        last_totp_step: col(r, 7)?,
        failed_second_factor: count(col(r, 8)?),
        locked_until: col(r, 9)?,
        failed_first_factor: count(col(r, 10)?),
        password_locked_until: col(r, 11)?,
        phone: col(r, 12)?,
        carrier: col(r, 13)?,
        email: col(r, 14)?,
        totp_drift: col(r, 15)?,
        drift_candidate: col(r, 16)?,
        drift_streak: count(col(r, 17)?),
        backup_codes_left: u32::try_from(col::<i64>(r, 18)?).unwrap_or(0),
        first_factor: col::<Option<String>>(r, 19)?.as_deref().and_then(Mechanism::parse),
    })
}

pub(super) fn create_user(c: &mut impl GenericClient, name: &str, password_hash: &str) -> Result<(), StoreError> {
    match c.execute("INSERT INTO users (name, password_hash) VALUES ($1, $2)", &[&name, &password_hash]) {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists(name.to_owned())),
        Err(e) => Err(backend(e)),
    }
}

/// Every login reads its user: one round trip (`query_typed_opt` sends the statement and
/// its typed parameters together; an untyped `query_opt` first prepares it, a second).
pub(super) fn user(c: &mut impl GenericClient, name: &str) -> Result<Option<UserRecord>, StoreError> {
    let row = c.query_typed_opt(SELECT_USER_BY_NAME, &[(&name, Type::TEXT)]).map_err(backend)?;
    row.as_ref().map(row_to_user).transpose()
}

pub(super) fn users(c: &mut impl GenericClient) -> Result<Vec<UserRecord>, StoreError> {
    let rows = c.query(&format!("{SELECT_USER} ORDER BY name"), &[]).map_err(backend)?;
    rows.iter().map(row_to_user).collect()
}

/// Runs an UPDATE of one user's row; NoSuchUser if it changed none.
pub(super) fn update_user(
    c: &mut impl GenericClient,
    name: &str,
    sql: &str,
    params: &[&(dyn postgres::types::ToSql + Sync)],
) -> Result<(), StoreError> {
    match c.execute(sql, params).map_err(backend)? {
        0 => Err(StoreError::NoSuchUser(name.to_owned())),
        _ => Ok(()),
    }
}

/// Runs a statement that returns a row per user changed; NoSuchUser if none.
pub(super) fn changed_user(
    c: &mut impl GenericClient,
    name: &str,
    sql: &str,
    params: &[&(dyn postgres::types::ToSql + Sync)],
) -> Result<(), StoreError> {
    if c.query(sql, params).map_err(backend)?.is_empty() {
        return Err(StoreError::NoSuchUser(name.to_owned()));
    }
    Ok(())
}

pub(super) fn remove_user(c: &mut impl GenericClient, name: &str) -> Result<(), StoreError> {
    update_user(c, name, "DELETE FROM users WHERE name = $1", &[&name])
}

pub(super) fn set_totp(c: &mut impl GenericClient, name: &str, e: &TotpEnrolment) -> Result<(), StoreError> {
    // The ledger restarts with the key: old codes die with the old key anyway, and so do
    // the tickets the old key's codes earned (in the same statement).
    let sql = super::tickets::and_delete_tickets(
        "UPDATE users SET totp_secret = $1, totp_algorithm = $2, totp_digits = $3, method = 'TOTP',
         last_totp_step = NULL, totp_drift = 0, drift_candidate = NULL, drift_streak = 0
         WHERE name = $4 RETURNING name",
    );
    changed_user(c, name, &sql, &[&e.sealed_secret, &e.algorithm, &stored(e.digits), &name])
}

pub(super) fn unlock(c: &mut impl GenericClient, name: &str) -> Result<(), StoreError> {
    update_user(
        c,
        name,
        "UPDATE users SET failed_second_factor = 0, locked_until = NULL,
         failed_first_factor = 0, password_locked_until = NULL WHERE name = $1",
        &[&name],
    )
}

/// Read at every login, so typed like [`user`]: one round trip.
pub(super) fn two_factor_setting(c: &mut impl GenericClient) -> Result<Option<bool>, StoreError> {
    let row = c.query_typed_opt("SELECT value FROM settings WHERE key = 'two_factor'", &[]).map_err(backend)?;
    row.map(|r| Ok(col::<String>(&r, 0)? == "on")).transpose()
}

pub(super) fn set_two_factor_setting(c: &mut impl GenericClient, on: bool) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO settings (key, value) VALUES ('two_factor', $1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&if on { "on" } else { "off" }],
    )
    .map_err(backend)?;
    Ok(())
}

fn row_to_carrier(r: &Row) -> Result<Carrier, StoreError> {
    Ok(Carrier { name: col(r, 0)?, gateway: col(r, 1)? })
}

pub(super) fn carriers(c: &mut impl GenericClient) -> Result<Vec<Carrier>, StoreError> {
    let rows = c.query("SELECT name, gateway FROM carriers ORDER BY name", &[]).map_err(backend)?;
    rows.iter().map(row_to_carrier).collect()
}

pub(super) fn carrier(c: &mut impl GenericClient, name: &str) -> Result<Option<Carrier>, StoreError> {
    // Found regardless of case, as the SQLite store finds it (COLLATE NOCASE).
    let rows = c
        .query("SELECT name, gateway FROM carriers WHERE lower(name) = lower($1) ORDER BY name = $1 DESC", &[&name])
        .map_err(backend)?;
    rows.first().map(row_to_carrier).transpose()
}

pub(super) fn put_carrier(c: &mut impl GenericClient, carrier: &Carrier, create: bool) -> Result<(), StoreError> {
    if create {
        return match c
            .execute("INSERT INTO carriers (name, gateway) VALUES ($1, $2)", &[&carrier.name, &carrier.gateway])
        {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists(carrier.name.clone())),
            Err(e) => Err(backend(e)),
        };
    }
    let n = c
        .execute("UPDATE carriers SET gateway = $1 WHERE name = $2", &[&carrier.gateway, &carrier.name])
        .map_err(backend)?;
    if n == 0 {
        return Err(StoreError::Backend(format!("no carrier `{}`", carrier.name)));
    }
    Ok(())
}

pub(super) fn remove_carrier(c: &mut impl GenericClient, name: &str) -> Result<(), StoreError> {
    if c.execute("DELETE FROM carriers WHERE name = $1", &[&name]).map_err(backend)? == 0 {
        return Err(StoreError::Backend(format!("no carrier `{name}`")));
    }
    Ok(())
}

/// A whole user in one transaction; with `replace`, what the name had before goes first
/// (its codes and sends with it).
pub(super) fn import_user(
    client: &mut postgres::Client,
    u: &UserRecord,
    backup_hashes: &[Vec<u8>],
    replace: bool,
) -> Result<(), StoreError> {
    let mut tx = client.transaction().map_err(backend)?;
    let exists = tx.query_opt("SELECT 1 FROM users WHERE name = $1 FOR UPDATE", &[&u.name]).map_err(backend)?.is_some();
    if exists && !replace {
        return Err(StoreError::AlreadyExists(u.name.clone()));
    }
    tx.execute("DELETE FROM users WHERE name = $1", &[&u.name]).map_err(backend)?;
    let (secret, alg, digits) = match &u.totp {
        Some(t) => (Some(t.sealed_secret.clone()), Some(t.algorithm.clone()), Some(stored(t.digits))),
        None => (None, None, None),
    };
    let inserted = tx.execute(
        "INSERT INTO users (name, password_hash, two_factor, method, totp_secret, totp_algorithm,
         totp_digits, last_totp_step, phone, carrier, email, totp_drift)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        &[
            &u.name,
            &u.password_hash,
            &u.two_factor_required,
            &u.method,
            &secret,
            &alg,
            &digits,
            &u.last_totp_step,
            &u.phone,
            &u.carrier,
            &u.email,
            &u.totp_drift,
        ],
    );
    match inserted {
        Ok(_) => {}
        // Another import of the same name committed first.
        Err(e) if is_unique_violation(&e) => return Err(StoreError::AlreadyExists(u.name.clone())),
        Err(e) => return Err(backend(e)),
    }
    tx.execute(
        "INSERT INTO backup_codes (name, code_hash) SELECT $1, h FROM unnest($2::bytea[]) AS h ON CONFLICT DO NOTHING",
        &[&u.name, &backup_hashes],
    )
    .map_err(backend)?;
    tx.commit().map_err(backend)
}

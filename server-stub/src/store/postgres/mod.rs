//! The PostgreSQL implementation of [`UserStore`], shared by any number of server
//! instances: the sync `postgres` client pooled by `r2d2` (see docs/postgres-store.md for
//! the choice), TLS by rustls. Every check-and-update that decides a login is one
//! conditional statement or one transaction holding the rows it decides on.
//!
//! The client is blocking and runs its own small runtime per connection: calls must come
//! from a thread outside tokio's workers (the session's `spawn_blocking`, the CLI).

use super::*;

mod attempts;
mod codes;
mod delegated;
mod enrol_links;
pub mod migrations;
mod pool;
mod service_accounts;
pub mod settings;
#[cfg(test)]
mod tests;
mod tickets;
mod users;

pub use migrations::SCHEMA_VERSION;
pub use settings::PgStoreSettings;

pub struct PostgresUserStore {
    /// Always Some; taken only by `Drop` (see there).
    pool: Option<pool::Pool>,
    /// For messages: carries no password.
    url: String,
}

impl PostgresUserStore {
    /// Connects (within `connect_timeout`, or an error naming the URL) and applies the
    /// migrations the store lacks.
    pub fn open(settings: &PgStoreSettings) -> Result<Self, StoreError> {
        let store = Self::open_unmigrated(settings)?;
        store.migrate()?;
        Ok(store)
    }

    /// Connects without touching the schema (for `store migrate` and tests).
    pub fn open_unmigrated(settings: &PgStoreSettings) -> Result<Self, StoreError> {
        let store = PostgresUserStore { pool: Some(pool::build(settings)?), url: settings.display_url() };
        // The first connection says at once whether PostgreSQL is there.
        drop(store.conn()?);
        Ok(store)
    }

    /// Applies missing migrations; returns the schema versions before and after.
    pub fn migrate(&self) -> Result<(i32, i32), StoreError> {
        migrations::migrate(&mut **self.conn()?, &self.url)
    }

    /// The schema version the store has.
    pub fn schema_version(&self) -> Result<i32, StoreError> {
        migrations::current_version(&mut **self.conn()?)
    }

    /// The URL (without password) this store was opened with.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn conn(&self) -> Result<pool::Conn, StoreError> {
        match &self.pool {
            Some(p) => pool::checkout(p, &self.url),
            None => Err(StoreError::Backend("the user store is closed".into())),
        }
    }
}

/// How the pool connects (the client configuration and the TLS connector), for a
/// connection of one's own to the store's database: the cancel relay's listener, whose
/// LISTEN belongs to one session that must stay, so it cannot be pooled.
pub fn connect_settings(
    settings: &PgStoreSettings,
) -> Result<(::postgres::Config, tokio_postgres_rustls::MakeRustlsConnect), StoreError> {
    Ok((settings.client_config()?, tokio_postgres_rustls::MakeRustlsConnect::new(pool::tls_config(settings)?)))
}

impl Drop for PostgresUserStore {
    /// Each pooled client owns a small runtime, which must not be dropped on a tokio
    /// worker (a server's state is dropped there at shutdown): the pool is handed to a
    /// plain thread then.
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                let _ = std::thread::Builder::new().name("pg-store-close".into()).spawn(move || drop(pool));
            }
        }
    }
}

impl UserStore for PostgresUserStore {
    fn create_user(&self, name: &str, password_hash: &str) -> Result<(), StoreError> {
        users::create_user(&mut **self.conn()?, name, password_hash)
    }

    fn user(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        users::user(&mut **self.conn()?, name)
    }

    fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        users::users(&mut **self.conn()?)
    }

    fn remove_user(&self, name: &str) -> Result<(), StoreError> {
        users::remove_user(&mut **self.conn()?, name)
    }

    fn set_password(&self, name: &str, password_hash: &str) -> Result<(), StoreError> {
        let sql = tickets::and_delete_tickets("UPDATE users SET password_hash = $1 WHERE name = $2 RETURNING name");
        users::changed_user(&mut **self.conn()?, name, &sql, &[&password_hash, &name])
    }

    fn set_two_factor_required(&self, name: &str, on: bool) -> Result<(), StoreError> {
        let sql = "UPDATE users SET two_factor = $1 WHERE name = $2";
        users::update_user(&mut **self.conn()?, name, sql, &[&on, &name])
    }

    fn set_totp(&self, name: &str, enrolment: &TotpEnrolment) -> Result<(), StoreError> {
        users::set_totp(&mut **self.conn()?, name, enrolment)
    }

    fn accept_totp(&self, name: &str, step: i64, drift: DriftState) -> Result<CodeUse, StoreError> {
        codes::accept_totp(&mut **self.conn()?, name, step, drift)
    }

    fn reserve_attempt(&self, req: &AttemptRequest<'_>, limits: &AttemptLimits) -> Result<Reservation, StoreError> {
        attempts::reserve(&mut **self.conn()?, req, limits)
    }

    fn finish_attempt(
        &self,
        attempt: &Attempt,
        end: AttemptEnd,
        now: i64,
        limits: &AttemptLimits,
    ) -> Result<AttemptFinished, StoreError> {
        attempts::finish(&mut **self.conn()?, attempt, end, now, limits)
    }

    fn unlock(&self, name: &str) -> Result<(), StoreError> {
        users::unlock(&mut **self.conn()?, name)
    }

    fn two_factor_setting(&self) -> Result<Option<bool>, StoreError> {
        users::two_factor_setting(&mut **self.conn()?)
    }

    fn set_two_factor_setting(&self, on: bool) -> Result<(), StoreError> {
        users::set_two_factor_setting(&mut **self.conn()?, on)
    }

    fn set_method(&self, name: &str, method: Method) -> Result<(), StoreError> {
        let sql = "UPDATE users SET method = $1 WHERE name = $2";
        users::update_user(&mut **self.conn()?, name, sql, &[&method.as_str(), &name])
    }

    fn set_phone(&self, name: &str, phone: Option<&str>, carrier: Option<&str>) -> Result<(), StoreError> {
        let sql = "UPDATE users SET phone = $1, carrier = $2 WHERE name = $3";
        users::update_user(&mut **self.conn()?, name, sql, &[&phone, &carrier, &name])
    }

    fn set_first_factor(&self, name: &str, mechanism: Option<Mechanism>) -> Result<(), StoreError> {
        let sql = "UPDATE users SET first_factor = $1 WHERE name = $2";
        users::update_user(&mut **self.conn()?, name, sql, &[&mechanism.map(Mechanism::as_str), &name])
    }

    fn set_email(&self, name: &str, email: Option<&str>) -> Result<(), StoreError> {
        let sql = "UPDATE users SET email = $1 WHERE name = $2";
        users::update_user(&mut **self.conn()?, name, sql, &[&email, &name])
    }

    fn issue_code(&self, name: &str, req: &CodeRequest<'_>) -> Result<IssueOutcome, StoreError> {
        codes::issue_code(&mut **self.conn()?, name, req)
    }

    fn cancel_code(&self, name: &str, code_hash: &[u8]) -> Result<(), StoreError> {
        codes::cancel_code(&mut **self.conn()?, name, code_hash)
    }

    fn use_code(&self, name: &str, code_hash: &[u8], now: i64) -> Result<CodeUse, StoreError> {
        codes::use_code(&mut **self.conn()?, name, code_hash, now)
    }

    fn pending_code(&self, name: &str, now: i64) -> Result<Option<PendingCode>, StoreError> {
        codes::pending_code(&mut **self.conn()?, name, now)
    }

    fn set_backup_codes(&self, name: &str, hashes: &[Vec<u8>]) -> Result<(), StoreError> {
        codes::set_backup_codes(&mut **self.conn()?, name, hashes)
    }

    fn use_backup_code(
        &self,
        name: &str,
        code_hash: &[u8],
        now: i64,
        replay_since: i64,
    ) -> Result<CodeUse, StoreError> {
        codes::use_backup_code(&mut **self.conn()?, name, code_hash, now, replay_since)
    }

    fn backup_code_hashes(&self, name: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        codes::backup_code_hashes(&mut **self.conn()?, name)
    }

    fn carriers(&self) -> Result<Vec<Carrier>, StoreError> {
        users::carriers(&mut **self.conn()?)
    }

    fn carrier(&self, name: &str) -> Result<Option<Carrier>, StoreError> {
        users::carrier(&mut **self.conn()?, name)
    }

    fn put_carrier(&self, carrier: &Carrier, create: bool) -> Result<(), StoreError> {
        users::put_carrier(&mut **self.conn()?, carrier, create)
    }

    fn remove_carrier(&self, name: &str) -> Result<(), StoreError> {
        users::remove_carrier(&mut **self.conn()?, name)
    }

    fn import_user(&self, user: &UserRecord, backup_hashes: &[Vec<u8>], replace: bool) -> Result<(), StoreError> {
        users::import_user(&mut **self.conn()?, user, backup_hashes, replace)
    }

    fn check_health(&self) -> Result<(), StoreError> {
        // The checkout is bounded by connect_timeout, the statement by statement_timeout.
        self.conn()?.simple_query("SELECT 1").map_err(pool::backend)?;
        Ok(())
    }

    fn ticket_policy(&self, name: &str) -> Result<TicketPolicy, StoreError> {
        tickets::policy(&mut **self.conn()?, name)
    }

    fn set_ticket_policy(&self, name: &str, policy: TicketPolicy) -> Result<(), StoreError> {
        tickets::set_policy(&mut **self.conn()?, name, policy)
    }

    fn issue_ticket(&self, ticket: &NewTicket<'_>, max_per_user: u32) -> Result<u32, StoreError> {
        tickets::issue(&mut **self.conn()?, ticket, max_per_user)
    }

    fn ticket(&self, id_hash: &[u8]) -> Result<Option<TicketRecord>, StoreError> {
        tickets::ticket(&mut **self.conn()?, id_hash)
    }

    fn use_ticket(&self, id_hash: &[u8], user: &str, now: i64) -> Result<Option<TicketRecord>, StoreError> {
        tickets::use_ticket(&mut **self.conn()?, id_hash, user, now)
    }

    fn tickets(&self, name: &str) -> Result<Vec<TicketRecord>, StoreError> {
        tickets::tickets(&mut **self.conn()?, name)
    }

    fn revoke_ticket(&self, name: &str, id_hash: &[u8], now: i64) -> Result<bool, StoreError> {
        Ok(tickets::revoke(&mut **self.conn()?, name, Some(id_hash), now)? > 0)
    }

    fn revoke_tickets(&self, name: &str, now: i64) -> Result<u32, StoreError> {
        tickets::revoke(&mut **self.conn()?, name, None, now)
    }

    fn issue_enrol_link(&self, link: &NewEnrolLink<'_>) -> Result<(), StoreError> {
        enrol_links::issue(&mut **self.conn()?, link)
    }

    fn enrol_link(&self, id_hash: &[u8]) -> Result<Option<EnrolLinkRecord>, StoreError> {
        enrol_links::link(&mut **self.conn()?, id_hash)
    }

    fn spend_enrol_link(&self, id_hash: &[u8], now: i64) -> Result<Option<EnrolLinkRecord>, StoreError> {
        enrol_links::spend(&mut **self.conn()?, id_hash, now)
    }

    fn enrol_links(&self, name: Option<&str>) -> Result<Vec<EnrolLinkRecord>, StoreError> {
        enrol_links::links(&mut **self.conn()?, name)
    }

    fn revoke_enrol_link(&self, id_hash: &[u8], now: i64) -> Result<bool, StoreError> {
        enrol_links::revoke(&mut **self.conn()?, id_hash, now)
    }

    fn create_service_account(&self, account: &ServiceAccount, password_hash: &str) -> Result<(), StoreError> {
        service_accounts::create(&mut **self.conn()?, account, password_hash)
    }

    fn service_account(&self, name: &str) -> Result<Option<ServiceAccount>, StoreError> {
        service_accounts::one(&mut **self.conn()?, name)
    }

    fn service_accounts(&self) -> Result<Vec<ServiceAccount>, StoreError> {
        service_accounts::all(&mut **self.conn()?)
    }

    fn update_service_account(&self, account: &ServiceAccount) -> Result<(), StoreError> {
        service_accounts::update(&mut **self.conn()?, account)
    }

    fn delegated_code_used(&self, name: &str, code_hash: &[u8], since: i64) -> Result<bool, StoreError> {
        delegated::used_since(&mut **self.conn()?, name, code_hash, since)
    }

    fn record_delegated_code(&self, name: &str, code_hash: &[u8], now: i64, since: i64) -> Result<CodeUse, StoreError> {
        delegated::record(&mut **self.conn()?, name, code_hash, now, since)
    }
}

//! The connect's login inside its flight (`sitting`): the leader opens the connection
//! and logs in; a follower waits for the leader's outcome first, then rides on it.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ClientConfig;

use super::config::ConnectConfig;
use super::connect::{LoginOutcome, LoginPlan, Verification};
use super::session::{self, Session};
use super::sitting::{self, Outcome, Role, SittingKey};
use super::tickets::{self, Stores, Warnings};
use super::Connection;
use crate::diag::OdbcResult;

/// Everything one connect attempt needs.
pub(super) struct Attempt<'a> {
    pub key: &'a SittingKey,
    pub cfg: &'a ConnectConfig,
    pub tls: &'a Arc<ClientConfig>,
    pub stores: Option<&'a Stores>,
    /// The login timeout's deadline: it bounds a follower's wait too.
    pub deadline: Option<Instant>,
    pub login_timeout: Option<Duration>,
    pub prompting_allowed: bool,
}

impl Outcome {
    fn of(result: &OdbcResult<(Session, LoginOutcome)>) -> Outcome {
        match result {
            Ok((_, o)) => match o.verification {
                Verification::NotRequired => Outcome::NotRequired,
                Verification::Code | Verification::Ticket { .. } => Outcome::Verified,
                Verification::Pending => Outcome::Abandoned,
            },
            Err(e) => Outcome::Failed(e.clone()),
        }
    }
}

impl Connection {
    /// Joins the flight for (host, port, user) and logs in as its role says.
    pub(super) fn log_in_once_per_sitting(
        &self,
        a: &Attempt<'_>,
        warnings: &mut Warnings,
    ) -> OdbcResult<(Session, LoginOutcome)> {
        loop {
            let plan = match sitting::process_sittings().join(a.key, a.deadline)? {
                Role::Leader(guard) => {
                    let result =
                        self.open_and_log_in(a, &LoginPlan { tickets: a.stores, ticket_only: false }, warnings);
                    guard.finish(Outcome::of(&result));
                    return result;
                }
                Role::Follower(Outcome::Abandoned) => continue,
                Role::Follower(Outcome::Failed(e)) => return Err(sitting::leader_failed(&e)),
                Role::Follower(Outcome::NotRequired) => LoginPlan { tickets: a.stores, ticket_only: false },
                Role::Follower(Outcome::Verified) => {
                    // Nothing to ride on: fail before anything reaches the server.
                    if a.stores.is_none() || tickets::memory_ticket(a.key).is_none() {
                        return Err(sitting::code_used_by_parallel_connection());
                    }
                    log::debug!("a parallel connection verified the second factor; logging in with its ticket");
                    LoginPlan { tickets: a.stores, ticket_only: true }
                }
            };
            return self.open_and_log_in(a, &plan, warnings);
        }
    }

    /// TCP, TLS and the login; on failure the session is closed.
    fn open_and_log_in(
        &self,
        a: &Attempt<'_>,
        plan: &LoginPlan<'_>,
        warnings: &mut Warnings,
    ) -> OdbcResult<(Session, LoginOutcome)> {
        self.dead.store(false, Ordering::Release);
        let cfg = a.cfg;
        let mut s =
            session::open(&cfg.host, cfg.port, a.tls.clone(), &cfg.tls_server_name, a.deadline, self.dead.clone())?;
        match self.login(&mut s, cfg, plan, a.prompting_allowed, a.login_timeout, warnings) {
            Ok(outcome) => Ok((s, outcome)),
            Err(e) => {
                s.close();
                self.dead.store(false, Ordering::Release);
                Err(e)
            }
        }
    }
}

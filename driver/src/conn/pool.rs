//! What connection pools ask of a connection: is it still alive
//! (`SQL_ATTR_CONNECTION_DEAD`), and reset it for the next user
//! (`SQL_ATTR_RESET_CONNECTION`). See docs/pooling.md.
//!
//! A pool that reuses a connection skips the connect, so a code set with attribute 1002
//! before that connect never reaches the driver. A connection whose second factor is
//! still pending therefore reports itself dead: the pool closes it and opens a new one,
//! which gets the code. A verified connection keeps its verified state through a reset
//! and never submits a code again.

use twofactor_protocol::{ClientMessage, ServerMessage};

use super::attributes::Attributes;
use super::{lock, unexpected, Connection, NATIVE_SECOND_FACTOR_REQUIRED};
use crate::diag::{OdbcError, OdbcResult, SqlState};

impl Connection {
    /// False when the connection must not be handed out again: not connected, dropped by
    /// the server (flagged, or found closed by a non-blocking look at the socket), or
    /// still waiting for its second factor.
    pub fn is_reusable(&self) -> bool {
        if !self.is_open() || self.is_dead() || self.second_factor_pending() {
            return false;
        }
        // A session another thread is using is alive by definition; never wait for it.
        let Ok(mut guard) = self.session.try_lock() else { return true };
        match guard.as_mut() {
            Some(session) => !session.closed_by_peer(),
            None => false,
        }
    }

    /// SQL_ATTR_RESET_CONNECTION: the driver manager puts the connection back in its
    /// pool. An open transaction is rolled back and the attributes go back to their
    /// defaults; the session stays verified. A connection whose second factor is pending
    /// cannot be reset (28000), so the pool discards it.
    pub(super) fn reset_for_pool(&self) -> OdbcResult<()> {
        if !self.is_open() {
            return Err(OdbcError::not_connected());
        }
        if self.second_factor_pending() {
            return Err(OdbcError::new(
                SqlState::INVALID_AUTHORIZATION,
                "a connection whose second factor is pending cannot be reused; close it",
            )
            .with_native(NATIVE_SECOND_FACTOR_REQUIRED));
        }
        if !self.autocommit() {
            self.with_session(|s| {
                let rollback = s.request(&ClientMessage::EndTransaction { commit: false });
                let _ = s.release_cursor();
                for reply in [rollback, s.request(&ClientMessage::SetAutocommit { on: true })] {
                    match reply? {
                        ServerMessage::Ok => {}
                        other => return Err(unexpected(&other)),
                    }
                }
                Ok(())
            })?;
        }
        self.free_children();
        let mut a = lock(&self.attributes);
        // The login timeout and packet size were for the connect that is kept.
        let kept = (a.login_timeout, a.packet_size);
        *a = Attributes::default();
        (a.login_timeout, a.packet_size) = kept;
        log::debug!("connection reset for reuse by a pool; the second factor stays verified");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::attributes::{AttrIn, AttrOut, SQL_ATTR_CONNECTION_DEAD, SQL_ATTR_RESET_CONNECTION};

    use crate::conn::unconnected as conn;

    #[test]
    fn a_connection_that_never_connected_is_dead_to_a_pool() {
        assert_eq!(conn().get_attr(SQL_ATTR_CONNECTION_DEAD).unwrap(), AttrOut::U32(1));
    }

    #[test]
    fn resetting_a_connection_that_is_not_open_is_08003_and_bad_values_are_hy024() {
        let c = conn();
        let e = c.set_attr(SQL_ATTR_RESET_CONNECTION, AttrIn::Integer(1), &mut |_| {}).unwrap_err();
        assert_eq!(e.state, SqlState::CONNECTION_NOT_OPEN);
        let e = c.set_attr(SQL_ATTR_RESET_CONNECTION, AttrIn::Integer(7), &mut |_| {}).unwrap_err();
        assert_eq!(e.state, SqlState::INVALID_ATTRIBUTE_VALUE);
    }
}

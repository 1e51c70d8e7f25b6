//! The two-factor state in detail: the read-only attributes 0x4000-0x4004 beside 1002
//! (`twofactor_odbc.h`, docs/two-factor-state.md). The login records what it learns
//! here (the method the server asked for, the masked destination of a sent code, the
//! server's deadline); applications read it to prompt or to show a status line.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use twofactor_protocol::SecondFactorMethod;

use super::attributes::AttrOut;

pub const SQL_ATTR_TWO_FACTOR_STATE: i32 = 0x4000;
pub const SQL_ATTR_TWO_FACTOR_METHOD: i32 = 0x4001;
pub const SQL_ATTR_TWO_FACTOR_DESTINATION: i32 = 0x4002;
pub const SQL_ATTR_TWO_FACTOR_SECONDS_LEFT: i32 = 0x4003;
pub const SQL_ATTR_TWO_FACTOR_DESCRIPTION: i32 = 0x4004;

/// Native codes of the failures that end a pending second factor.
const NATIVE_CODE_REJECTED: i32 = 1002;
const NATIVE_LOCKED: i32 = 1003;
const NATIVE_TIMEOUT: i32 = 1005;
const NATIVE_TICKET_REFUSED: i32 = 1011;

/// SQL_TWO_FACTOR_STATE_* of the C header (the discriminants are the values read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    NotConnected = 0,
    NotRequired = 1,
    Pending = 2,
    Verified = 3,
    VerifiedByTicket = 4,
    ServiceAccount = 5,
    Rejected = 6,
    Locked = 7,
    Expired = 8,
}

/// When SECONDS_LEFT counts down to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Until {
    /// The server's two-factor timeout: its `seconds_left` added to when FirstFactorOk
    /// arrived (monotonic; the server's own deadline is a little earlier, never later).
    Instant(Instant),
    /// A ticket's end, as the server gives it (Unix seconds).
    UnixSecs(i64),
}

/// What the driver knows about the second factor of its connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwoFactorState {
    state: State,
    /// "TOTP", "SMS", "e-mail", "delegated" (the site's hook checks the code), "backup
    /// code", "ticket", "key", "certificate" or "".
    method: &'static str,
    /// Where a sent code went, masked by the server ("SMS to +1 ***-***-4567").
    destination: String,
    until: Option<Until>,
}

impl Default for TwoFactorState {
    fn default() -> Self {
        TwoFactorState { state: State::NotConnected, method: "", destination: String::new(), until: None }
    }
}

/// Whether `attr` is one of 0x4000-0x4004.
pub fn is_state_attr(attr: i32) -> bool {
    (SQL_ATTR_TWO_FACTOR_STATE..=SQL_ATTR_TWO_FACTOR_DESCRIPTION).contains(&attr)
}

/// Whether `attr` is one of the text attributes among them.
pub fn is_state_text_attr(attr: i32) -> bool {
    matches!(attr, SQL_ATTR_TWO_FACTOR_METHOD | SQL_ATTR_TWO_FACTOR_DESTINATION | SQL_ATTR_TWO_FACTOR_DESCRIPTION)
}

/// "the SMS code" / "the e-mail code" / "the TOTP code", for sentences.
fn method_phrase(method: &str) -> String {
    match method {
        "" => "the code".into(),
        "backup code" => "a backup code".into(),
        method => format!("the {method} code"),
    }
}

/// The server's hint as a destination: "SMS to +1 ***-***-4567", "e-mail to j***@x.org".
/// The hint is a phrase ("code sent by SMS to +1 ***-***-4567"); the masked address is
/// what follows its last " to " (a masked number or address has no spaces around "to").
fn destination(method: SecondFactorMethod, hint: &str) -> String {
    // The site's hook words its own hint ("code sent to your token"): shown as it came.
    if method == SecondFactorMethod::Delegated {
        return hint.trim().to_owned();
    }
    let address = masked_address(hint);
    if address.is_empty() || method == SecondFactorMethod::Totp {
        String::new()
    } else {
        format!("{} to {address}", method.name())
    }
}

/// The masked address in the server's hint: what follows its last " to ".
pub fn masked_address(hint: &str) -> &str {
    hint.rsplit_once(" to ").map_or(hint, |(_, address)| address).trim()
}

/// A backup code is the only code with something other than digits: TOTP codes and the
/// codes the server sends are digits, and the server takes a backup code in place of any
/// of them. The driver knows no more than that.
pub fn is_backup_code(code: &str) -> bool {
    !code.chars().all(|c| c.is_ascii_digit())
}

impl TwoFactorState {
    /// Connected, the server asked for no second factor.
    pub fn mark_not_required(&mut self) {
        *self = TwoFactorState { state: State::NotRequired, ..Default::default() };
    }

    /// The server waits for a code of `method`; `seconds_left` from FirstFactorOk.
    pub fn mark_pending(&mut self, method: SecondFactorMethod, hint: &str, seconds_left: u32, now: Instant) {
        *self = TwoFactorState {
            state: State::Pending,
            method: method.name(),
            destination: destination(method, hint),
            until: Some(Until::Instant(now + Duration::from_secs(seconds_left.into()))),
        };
    }

    /// The server accepted the code; `backup_code` from [`is_backup_code`].
    pub fn mark_verified(&mut self, backup_code: bool) {
        self.state = State::Verified;
        if backup_code {
            self.method = "backup code";
        }
        self.until = None;
    }

    /// The server accepted a two-factor ticket that ends at `expires_at` (Unix seconds).
    pub fn mark_verified_by_ticket(&mut self, expires_at: i64) {
        *self = TwoFactorState {
            state: State::VerifiedByTicket,
            method: "ticket",
            destination: String::new(),
            until: Some(Until::UnixSecs(expires_at)),
        };
    }

    /// A service account logged in; `method` is "key" or "certificate".
    pub fn mark_service_account(&mut self, method: &'static str) {
        *self = TwoFactorState { state: State::ServiceAccount, method, ..Default::default() };
    }

    /// A login or code submission failed with `native`: the failures that end the second
    /// factor change the state (the method and destination stay, for the message) and
    /// return true; others (a replayed code refused by the driver, 1020) leave it.
    pub fn mark_failed(&mut self, native: i32) -> bool {
        let state = match native {
            NATIVE_CODE_REJECTED | NATIVE_TICKET_REFUSED => State::Rejected,
            NATIVE_LOCKED => State::Locked,
            NATIVE_TIMEOUT => State::Expired,
            _ => return false,
        };
        self.state = state;
        self.until = None;
        true
    }

    /// A connect failed with `native`: a second-factor failure stays readable, anything
    /// else (a wrong password, no server) reads as not connected.
    pub fn mark_connect_failed(&mut self, native: i32) {
        if !self.mark_failed(native) {
            self.reset();
        }
    }

    /// SQLDisconnect, or a connect that failed for another reason.
    pub fn reset(&mut self) {
        *self = TwoFactorState::default();
    }

    /// The state as read at `now`: a pending factor whose deadline has passed reads
    /// Expired (the server has given up; the driver learns it at the next call).
    pub fn state_at(&self, now: Instant) -> State {
        match (self.state, self.until) {
            (State::Pending, Some(Until::Instant(deadline))) if now >= deadline => State::Expired,
            (state, _) => state,
        }
    }

    pub fn method(&self) -> &'static str {
        self.method
    }

    pub fn destination(&self) -> &str {
        &self.destination
    }

    /// Seconds until the server stops waiting (pending) or the ticket ends; else 0.
    pub fn seconds_left_at(&self, now: Instant, wall: SystemTime) -> u32 {
        let left = match self.until {
            Some(Until::Instant(deadline)) => deadline.saturating_duration_since(now).as_secs(),
            Some(Until::UnixSecs(end)) => {
                let now_secs = wall.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
                u64::try_from(end).unwrap_or(0).saturating_sub(now_secs)
            }
            None => 0,
        };
        u32::try_from(left).unwrap_or(u32::MAX)
    }

    /// The whole state as one English sentence.
    pub fn description_at(&self, now: Instant, wall: SystemTime) -> String {
        let left = self.seconds_left_at(now, wall);
        let method = method_phrase(self.method);
        match self.state_at(now) {
            State::NotConnected => "Not connected.".into(),
            State::NotRequired => "Connected; the server asks no second factor of this user.".into(),
            State::Pending if self.destination.is_empty() => {
                format!("The server waits for {method} ({left} s left).")
            }
            State::Pending => {
                let to = self.destination.split_once(" to ").map_or(self.destination.as_str(), |(_, to)| to);
                format!("The server waits for {method} sent to {to} ({left} s left).")
            }
            State::Verified => format!("The second factor was verified with {method}."),
            State::VerifiedByTicket => {
                format!("The second factor was verified by a two-factor ticket ({left} s before it ends).")
            }
            State::ServiceAccount => {
                format!("A service account logged in with its {}; it has no interactive second factor.", self.method)
            }
            State::Rejected => "The two-factor code was rejected; the server closed the session.".into(),
            State::Locked => {
                "The account is locked after too many failed attempts; an administrator must unlock it.".into()
            }
            State::Expired => {
                "No code arrived within the server's two-factor timeout; the server closed the session.".into()
            }
        }
    }

    /// The value of attribute `attr` (one of 0x4000-0x4004) at `now`.
    pub fn attribute(&self, attr: i32, now: Instant, wall: SystemTime) -> Option<AttrOut> {
        Some(match attr {
            SQL_ATTR_TWO_FACTOR_STATE => AttrOut::U32(self.state_at(now) as u32),
            SQL_ATTR_TWO_FACTOR_METHOD => AttrOut::Text(self.method.into()),
            SQL_ATTR_TWO_FACTOR_DESTINATION => AttrOut::Text(self.destination.clone()),
            SQL_ATTR_TWO_FACTOR_SECONDS_LEFT => AttrOut::U32(self.seconds_left_at(now, wall)),
            SQL_ATTR_TWO_FACTOR_DESCRIPTION => AttrOut::Text(self.description_at(now, wall)),
            _ => return None,
        })
    }
}

impl super::Connection {
    /// The state, locked (held briefly: never across a request to the server).
    pub(crate) fn two_factor(&self) -> std::sync::MutexGuard<'_, TwoFactorState> {
        super::lock(&self.two_factor_state)
    }

    /// SQLGetConnectAttr of 0x4000-0x4004; readable in every state, also on a handle
    /// that was never connected or that the server dropped.
    pub fn two_factor_attribute(&self, attr: i32) -> Option<AttrOut> {
        self.two_factor().attribute(attr, Instant::now(), SystemTime::now())
    }

    /// For the ticket login: the server answered SecondFactor::VerifiedByTicket.
    pub fn mark_verified_by_ticket(&self, expires_at: i64) {
        self.two_factor().mark_verified_by_ticket(expires_at);
    }

    /// For the service-account logins: `method` is "key" or "certificate".
    pub fn mark_service_account(&self, method: &'static str) {
        self.two_factor().mark_service_account(method);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(s: &TwoFactorState, attr: i32, now: Instant) -> AttrOut {
        s.attribute(attr, now, SystemTime::now()).unwrap()
    }

    fn text(s: &TwoFactorState, attr: i32, now: Instant) -> String {
        match read(s, attr, now) {
            AttrOut::Text(t) => t,
            other => panic!("not text: {other:?}"),
        }
    }

    #[test]
    fn a_fresh_handle_reads_not_connected_and_empty_texts() {
        let s = TwoFactorState::default();
        let now = Instant::now();
        assert_eq!(read(&s, SQL_ATTR_TWO_FACTOR_STATE, now), AttrOut::U32(0));
        assert_eq!(text(&s, SQL_ATTR_TWO_FACTOR_METHOD, now), "");
        assert_eq!(text(&s, SQL_ATTR_TWO_FACTOR_DESTINATION, now), "");
        assert_eq!(read(&s, SQL_ATTR_TWO_FACTOR_SECONDS_LEFT, now), AttrOut::U32(0));
        assert_eq!(text(&s, SQL_ATTR_TWO_FACTOR_DESCRIPTION, now), "Not connected.");
        assert!(s.attribute(0x4005, now, SystemTime::now()).is_none());
    }

    #[test]
    fn a_pending_sms_code_shows_its_destination_and_counts_down() {
        let mut s = TwoFactorState::default();
        let t0 = Instant::now();
        s.mark_pending(SecondFactorMethod::Sms, "code sent by SMS to +1 ***-***-4567", 300, t0);
        let later = t0 + Duration::from_secs(13);
        assert_eq!(read(&s, SQL_ATTR_TWO_FACTOR_STATE, later), AttrOut::U32(State::Pending as u32));
        assert_eq!(text(&s, SQL_ATTR_TWO_FACTOR_METHOD, later), "SMS");
        assert_eq!(text(&s, SQL_ATTR_TWO_FACTOR_DESTINATION, later), "SMS to +1 ***-***-4567");
        assert_eq!(read(&s, SQL_ATTR_TWO_FACTOR_SECONDS_LEFT, later), AttrOut::U32(287));
        assert_eq!(
            text(&s, SQL_ATTR_TWO_FACTOR_DESCRIPTION, later),
            "The server waits for the SMS code sent to +1 ***-***-4567 (287 s left)."
        );
    }

    #[test]
    fn a_bare_masked_address_is_taken_as_it_is() {
        assert_eq!(destination(SecondFactorMethod::Sms, "+1 ***-***-4567"), "SMS to +1 ***-***-4567");
        assert_eq!(destination(SecondFactorMethod::Email, ""), "");
        assert_eq!(destination(SecondFactorMethod::Totp, "whatever"), "");
        assert_eq!(destination(SecondFactorMethod::Delegated, " code sent to token 42 "), "code sent to token 42");
    }

    #[test]
    fn a_pending_totp_code_has_no_destination_and_expires_at_the_deadline() {
        let mut s = TwoFactorState::default();
        let t0 = Instant::now();
        s.mark_pending(SecondFactorMethod::Totp, "", 60, t0);
        assert_eq!(text(&s, SQL_ATTR_TWO_FACTOR_DESTINATION, t0), "");
        assert_eq!(text(&s, SQL_ATTR_TWO_FACTOR_DESCRIPTION, t0), "The server waits for the TOTP code (60 s left).");
        let past = t0 + Duration::from_secs(61);
        assert_eq!(s.state_at(past), State::Expired);
        assert_eq!(read(&s, SQL_ATTR_TWO_FACTOR_SECONDS_LEFT, past), AttrOut::U32(0));
    }

    #[test]
    fn a_verified_code_keeps_the_method_and_a_backup_code_is_named() {
        let t0 = Instant::now();
        let mut s = TwoFactorState::default();
        s.mark_pending(SecondFactorMethod::Totp, "", 60, t0);
        s.mark_verified(is_backup_code("123456"));
        assert_eq!(s.state_at(t0), State::Verified);
        assert_eq!(s.method(), "TOTP");
        assert_eq!(read(&s, SQL_ATTR_TWO_FACTOR_SECONDS_LEFT, t0), AttrOut::U32(0));
        s.mark_pending(SecondFactorMethod::Totp, "", 60, t0);
        s.mark_verified(is_backup_code("abcd-efgh"));
        assert_eq!(s.method(), "backup code");
        assert_eq!(s.description_at(t0, SystemTime::now()), "The second factor was verified with a backup code.");
        // A backup code may answer any prompt.
        s.mark_pending(SecondFactorMethod::Sms, "code sent by SMS to +1 ***-***-4567", 60, t0);
        s.mark_verified(is_backup_code("ABCDEFGHJK"));
        assert_eq!(s.method(), "backup code");
        s.mark_pending(SecondFactorMethod::Email, "code sent by e-mail to j***@example.org", 60, t0);
        s.mark_verified(is_backup_code("012345"));
        assert_eq!(s.method(), "e-mail");
        assert_eq!(s.destination(), "e-mail to j***@example.org");
        assert_eq!(s.description_at(t0, SystemTime::now()), "The second factor was verified with the e-mail code.");
    }

    #[test]
    fn failures_map_to_rejected_locked_and_expired_and_others_leave_the_state() {
        let t0 = Instant::now();
        for (native, state) in
            [(1002, State::Rejected), (1011, State::Rejected), (1003, State::Locked), (1005, State::Expired)]
        {
            let mut s = TwoFactorState::default();
            s.mark_pending(SecondFactorMethod::Totp, "", 60, t0);
            s.mark_failed(native);
            assert_eq!(s.state_at(t0), state, "native {native}");
            assert_eq!(s.seconds_left_at(t0, SystemTime::now()), 0);
        }
        let mut s = TwoFactorState::default();
        s.mark_pending(SecondFactorMethod::Totp, "", 60, t0);
        assert!(!s.mark_failed(1020));
        assert_eq!(s.state_at(t0), State::Pending);
        s.mark_connect_failed(1001);
        assert_eq!(s.state_at(t0), State::NotConnected);
        s.mark_connect_failed(1003);
        assert_eq!(s.state_at(t0), State::Locked);
        s.reset();
        assert_eq!(s, TwoFactorState::default());
    }

    #[test]
    fn a_ticket_counts_down_to_its_end_in_wall_clock_time() {
        let mut s = TwoFactorState::default();
        let wall = UNIX_EPOCH + Duration::from_secs(1_000_000);
        s.mark_verified_by_ticket(1_000_000 + 3600);
        let now = Instant::now();
        assert_eq!(s.state_at(now), State::VerifiedByTicket);
        assert_eq!(s.method(), "ticket");
        assert_eq!(s.seconds_left_at(now, wall), 3600);
        assert_eq!(s.seconds_left_at(now, wall + Duration::from_secs(4000)), 0);
        assert!(s.description_at(now, wall).contains("ticket (3600 s"));
    }

    #[test]
    fn a_service_account_names_its_credential() {
        let mut s = TwoFactorState::default();
        s.mark_service_account("certificate");
        let now = Instant::now();
        assert_eq!(read(&s, SQL_ATTR_TWO_FACTOR_STATE, now), AttrOut::U32(5));
        assert_eq!(text(&s, SQL_ATTR_TWO_FACTOR_METHOD, now), "certificate");
        assert!(text(&s, SQL_ATTR_TWO_FACTOR_DESCRIPTION, now).contains("with its certificate"));
    }

    #[test]
    fn a_never_connected_handle_reads_them_through_get_attr_and_refuses_to_set_them() {
        let c = crate::conn::unconnected();
        assert_eq!(c.get_attr(SQL_ATTR_TWO_FACTOR_STATE).unwrap(), AttrOut::U32(0));
        assert_eq!(c.get_attr(SQL_ATTR_TWO_FACTOR_DESTINATION).unwrap(), AttrOut::Text(String::new()));
        let refused = c
            .set_attr(SQL_ATTR_TWO_FACTOR_STATE, super::super::attributes::AttrIn::Integer(3), &mut |_| {})
            .unwrap_err();
        assert_eq!(refused.state, crate::diag::SqlState::INVALID_ATTRIBUTE);
        c.mark_service_account("key");
        assert_eq!(c.get_attr(SQL_ATTR_TWO_FACTOR_METHOD).unwrap(), AttrOut::Text("key".into()));
    }

    #[test]
    fn only_the_five_attributes_are_state_attributes() {
        assert!(is_state_attr(0x4000) && is_state_attr(0x4004));
        assert!(!is_state_attr(0x3fff) && !is_state_attr(0x4005));
        assert!(is_state_text_attr(0x4001) && !is_state_text_attr(0x4003));
    }
}

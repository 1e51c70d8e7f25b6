//! `[tickets]`: two-factor tickets, which let a device that proved a code once log in
//! again without one for a while (docs/tickets.md). Off unless the admin turns them on,
//! server-wide here or per user (`user tickets NAME allow`).

use serde::Deserialize;

/// The longest lifetime a ticket may be given: a ticket stands in for the second factor,
/// so it must end; a week covers a working week away from the phone.
pub const MAX_LIFETIME_LIMIT_SECS: u64 = 7 * 86_400;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TicketsSection {
    /// The server's default for users whose own policy is `default`.
    pub enabled: bool,
    /// A ticket's hard end, counted from its issue; a ticket login never extends it.
    pub max_lifetime_secs: u64,
    /// A ticket unused this long dies before its hard end.
    pub idle_secs: u64,
    /// Tickets one user may hold; issuing one more revokes the oldest.
    pub max_per_user: u32,
}

impl Default for TicketsSection {
    fn default() -> Self {
        TicketsSection { enabled: false, max_lifetime_secs: 28_800, idle_secs: 3_600, max_per_user: 20 }
    }
}

impl TicketsSection {
    /// Returns the key at fault and why.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.max_lifetime_secs == 0 || self.max_lifetime_secs > MAX_LIFETIME_LIMIT_SECS {
            return Err((
                "tickets.max_lifetime_secs",
                format!("must be between 1 and {MAX_LIFETIME_LIMIT_SECS} (7 days)"),
            ));
        }
        if self.idle_secs == 0 || self.idle_secs > self.max_lifetime_secs {
            return Err(("tickets.idle_secs", "must be at least 1 and at most tickets.max_lifetime_secs".into()));
        }
        if self.max_per_user == 0 {
            return Err(("tickets.max_per_user", "must be at least 1".into()));
        }
        Ok(())
    }

    /// The idle limit as the protocol carries it (validate keeps it within a week).
    pub fn idle_secs_u32(&self) -> u32 {
        u32::try_from(self.idle_secs).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_out_of_range_are_refused_with_their_key() {
        assert!(TicketsSection::default().validate().is_ok());
        let key = |s: TicketsSection| s.validate().unwrap_err().0;
        assert_eq!(key(TicketsSection { max_lifetime_secs: 0, ..Default::default() }), "tickets.max_lifetime_secs");
        let week_and_a_second = MAX_LIFETIME_LIMIT_SECS + 1;
        assert_eq!(
            key(TicketsSection { max_lifetime_secs: week_and_a_second, ..Default::default() }),
            "tickets.max_lifetime_secs"
        );
        assert_eq!(key(TicketsSection { idle_secs: 28_801, ..Default::default() }), "tickets.idle_secs");
        assert_eq!(key(TicketsSection { idle_secs: 0, ..Default::default() }), "tickets.idle_secs");
        assert_eq!(key(TicketsSection { max_per_user: 0, ..Default::default() }), "tickets.max_per_user");
    }

    #[test]
    fn the_section_is_read_from_server_toml_and_its_errors_name_the_key() {
        let dir = std::path::Path::new("/nowhere");
        let parse = |text: &str| crate::config::Config::parse(dir, &dir.join("server.toml"), text);
        let c = parse("[tickets]\nenabled = true\nmax_lifetime_secs = 3600\nidle_secs = 600\n").unwrap();
        assert!(c.tickets.enabled);
        assert_eq!((c.tickets.max_lifetime_secs, c.tickets.idle_secs, c.tickets.max_per_user), (3600, 600, 20));
        let e = parse("[tickets]\nmax_lifetime_secs = 604801\n").unwrap_err().to_string();
        assert!(e.contains("tickets.max_lifetime_secs") && e.contains("7 days"), "{e}");
        let e = parse("[tickets]\nidle_secs = 30000\n").unwrap_err().to_string();
        assert!(e.contains("tickets.idle_secs"), "{e}");
        assert!(parse("[tickets]\nlifetime = 1\n").is_err(), "unknown keys are refused");
        let defaults = parse(&crate::config::default_file("127.0.0.1:7443")).unwrap();
        assert!(!defaults.tickets.enabled);
        assert_eq!(defaults.tickets.max_lifetime_secs, 28_800);
    }
}

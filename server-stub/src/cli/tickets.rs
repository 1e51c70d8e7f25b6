//! `user tickets NAME list|revoke|allow|deny|default`: a user's two-factor tickets and
//! ticket policy (docs/tickets.md).

use super::*;
use crate::auth::TICKET_EVENT;
use crate::store::{TicketPolicy, TicketRecord, TicketState};

#[derive(Subcommand)]
pub(super) enum TicketsCommand {
    /// The user's tickets (short id, issued, expires, last used, from, state) and policy.
    List,
    /// Revoke one ticket by its short id (from `list`), or all of them.
    Revoke {
        #[arg(required_unless_present = "all", conflicts_with = "all", value_name = "SHORTID")]
        short_id: Option<String>,
        #[arg(long)]
        all: bool,
    },
    /// Tickets for this user, even while `[tickets] enabled = false`.
    Allow,
    /// No tickets for this user, even while `[tickets] enabled = true`; its tickets stop
    /// working at once (they are refused at use).
    Deny,
    /// Follow `[tickets] enabled`.
    Default,
}

pub(super) fn run(dir: &Path, name: &str, cmd: TicketsCommand) -> CliResult {
    let (config, store, audit) = open(dir)?;
    let now = SystemClock.now();
    let err = |e: crate::store::StoreError| e.to_string();
    if store.user(name).map_err(err)?.is_none() {
        return Err(format!("no user `{name}`"));
    }
    match cmd {
        TicketsCommand::List => {
            let policy = store.ticket_policy(name).map_err(err)?;
            let effective = match policy {
                TicketPolicy::Allow => true,
                TicketPolicy::Deny => false,
                TicketPolicy::Default => config.tickets.enabled,
            };
            println!(
                "ticket policy of `{name}`: {} (tickets {})",
                policy.as_str(),
                if effective { "on" } else { "off" }
            );
            println!("{:<8}  {:<20}  {:<20}  {:<20}  {:<24}  STATE", "ID", "ISSUED", "EXPIRES", "LAST USED", "FROM");
            for t in store.tickets(name).map_err(err)? {
                println!(
                    "{:<8}  {:<20}  {:<20}  {:<20}  {:<24}  {}",
                    t.short_id(),
                    crate::audit::rfc3339(t.issued_at),
                    crate::audit::rfc3339(t.expires_at),
                    crate::audit::rfc3339(t.last_used_at),
                    t.peer,
                    t.state(now).as_str()
                );
            }
        }
        TicketsCommand::Revoke { short_id, all } => {
            let (revoked, what) = if all {
                (store.revoke_tickets(name, now).map_err(err)?, "all".to_owned())
            } else {
                let wanted = short_id.unwrap_or_default().to_ascii_lowercase();
                let ticket = one_ticket(store.tickets(name).map_err(err)?, &wanted, name)?;
                if ticket.state(now) == TicketState::Revoked {
                    return Err(format!("ticket {wanted} of `{name}` is revoked already"));
                }
                (u32::from(store.revoke_ticket(name, &ticket.id_hash, now).map_err(err)?), format!("ticket {wanted}"))
            };
            let why = format!("{what}: {revoked} revoked");
            audit.record_why(now, name, "cli", TICKET_EVENT, "revoked", None, Some(&why));
            println!("`{name}`: {revoked} ticket(s) revoked");
        }
        TicketsCommand::Allow | TicketsCommand::Deny | TicketsCommand::Default => {
            let policy = match cmd {
                TicketsCommand::Allow => TicketPolicy::Allow,
                TicketsCommand::Deny => TicketPolicy::Deny,
                _ => TicketPolicy::Default,
            };
            store.set_ticket_policy(name, policy).map_err(err)?;
            audit.record(now, name, "cli", "ticket_policy", policy.as_str(), None);
            println!("ticket policy of `{name}`: {}", policy.as_str());
        }
    }
    Ok(())
}

/// The one ticket of the user whose short id is `wanted`.
fn one_ticket(tickets: Vec<TicketRecord>, wanted: &str, name: &str) -> Result<TicketRecord, String> {
    let mut matching: Vec<TicketRecord> = tickets.into_iter().filter(|t| t.short_id() == wanted).collect();
    match matching.len() {
        0 => Err(format!("`{name}` has no ticket {wanted}; see `twofactor-server user tickets {name} list`")),
        1 => Ok(matching.remove(0)),
        // 32 bits of a hash: two of one user's tickets sharing them is rare but possible.
        _ => Err(format!("{wanted} names several tickets of `{name}`; revoke them with --all")),
    }
}

/// The reason the audit of a change that deletes a user's tickets gives: how many of them
/// were still usable (expired and revoked ones go too, but had died already).
pub(super) fn tickets_dying(store: &dyn UserStore, name: &str, now: i64) -> Result<String, String> {
    let usable =
        store.tickets(name).map_err(|e| e.to_string())?.iter().filter(|t| t.state(now) == TicketState::Active).count();
    Ok(format!("{usable} two-factor ticket(s) deleted"))
}

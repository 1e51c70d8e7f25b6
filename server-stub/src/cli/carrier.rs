//! `carrier ...`: the SMS carriers' e-mail gateways.

use super::*;

pub(super) fn run(dir: &Path, cmd: CarrierCommand) -> CliResult {
    let (_, store, audit) = open(dir)?;
    let now = SystemClock.now();
    let err = |e: crate::store::StoreError| e.to_string();
    match cmd {
        CarrierCommand::List => {
            println!("{:<24} GATEWAY", "CARRIER");
            for c in store.carriers().map_err(err)? {
                println!("{:<24} {}", c.name, c.gateway);
            }
        }
        CarrierCommand::Add { name, gateway } | CarrierCommand::Edit { name, gateway } if name.trim().is_empty() => {
            let _ = gateway;
            return Err("a carrier name must not be empty".into());
        }
        CarrierCommand::Add { name, gateway } => put_carrier(store.as_ref(), &audit, now, name, &gateway, true)?,
        CarrierCommand::Edit { name, gateway } => put_carrier(store.as_ref(), &audit, now, name, &gateway, false)?,
        CarrierCommand::Remove { name } => {
            let users: Vec<String> = store
                .users()
                .map_err(err)?
                .into_iter()
                .filter(|u| u.carrier.as_deref() == Some(name.as_str()))
                .map(|u| u.name)
                .collect();
            store.remove_carrier(&name).map_err(err)?;
            audit.record_why(now, "*", "cli", "carrier_remove", "ok", None, Some(&name));
            println!("removed carrier `{name}`");
            if !users.is_empty() {
                println!("warning: these users' SMS went through it: {}", users.join(", "));
            }
        }
    }
    Ok(())
}

/// `carrier add` (`adding`) and `carrier edit`: one carrier written, audited and echoed.
fn put_carrier(
    store: &dyn UserStore,
    audit: &AuditLog,
    now: i64,
    name: String,
    gateway: &str,
    adding: bool,
) -> CliResult {
    let gateway = crate::contact::check_gateway(gateway)?;
    store.put_carrier(&Carrier { name: name.clone(), gateway: gateway.clone() }, adding).map_err(|e| match e {
        crate::store::StoreError::AlreadyExists(n) if adding => {
            format!("carrier `{n}` exists already; use `carrier edit`")
        }
        e => e.to_string(),
    })?;
    let event = if adding { "carrier_add" } else { "carrier_edit" };
    audit.record_why(now, "*", "cli", event, "ok", None, Some(&format!("{name} {gateway}")));
    if adding {
        println!("added carrier `{name}`: <number>@{gateway}");
    } else {
        println!("carrier `{name}`: <number>@{gateway}");
    }
    Ok(())
}

//! `user ...`: add, list, unlock, remove, two-factor, password, method, phone, email.

use super::*;

fn read_password(from_stdin: bool) -> Result<String, String> {
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map_err(|e| format!("reading the password: {e}"))?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    } else {
        let first = rpassword::prompt_password("Password: ").map_err(|e| format!("reading the password: {e}"))?;
        let again = rpassword::prompt_password("Again: ").map_err(|e| format!("reading the password: {e}"))?;
        if first != again {
            return Err("the passwords differ".into());
        }
        first
    };
    if password.is_empty() {
        return Err("the password is empty".into());
    }
    Ok(password)
}

pub(super) fn run(dir: &Path, cmd: UserCommand) -> CliResult {
    if let UserCommand::Tickets { name, action } = cmd {
        return super::tickets::run(dir, &name, action);
    }
    let (config, store, audit) = open(dir)?;
    let now = SystemClock.now();
    let err = |e: crate::store::StoreError| e.to_string();
    match cmd {
        UserCommand::Add { name, password_stdin, directory } => {
            if name.is_empty() || name.contains(':') || name.chars().any(char::is_control) {
                return Err("a user name must be non-empty, without `:` or control characters".into());
            }
            if directory {
                // No local password at all: the directory is the only thing that checks it.
                store.create_user(&name, crate::first_factor::DIRECTORY_ONLY_HASH).map_err(err)?;
                store.set_first_factor(&name, Some(crate::first_factor::Mechanism::Ldap)).map_err(err)?;
            } else {
                let hash = hash_password(&read_password(password_stdin)?, HashCost::from_config(&config.auth))?;
                store.create_user(&name, &hash).map_err(err)?;
            }
            audit.record(now, &name, "cli", "user_add", "ok", None);
            println!("added user `{name}` (two-factor required; enrol with: twofactor-server totp enrol --data-dir {} {name})", dir.display());
        }
        UserCommand::List => {
            let users = store.users().map_err(err)?;
            println!(
                "{:<24} {:<7} {:<11} {:<4} {:<6} {:<9} {:<6} CONTACT",
                "NAME", "METHOD", "STATUS", "2FA", "FAILED", "PW-FAILED", "BACKUP"
            );
            for u in users {
                let two = if u.two_factor_required { "yes" } else { "no" };
                let mut contact = Vec::new();
                if u.totp.is_some() {
                    contact.push("totp".to_string());
                }
                if let Some(p) = &u.phone {
                    contact
                        .push(format!("sms {p}{}", u.carrier.as_ref().map(|c| format!(" ({c})")).unwrap_or_default()));
                }
                if let Some(e) = &u.email {
                    contact.push(format!("email {e}"));
                }
                println!(
                    "{:<24} {:<7} {:<11} {:<4} {:<6} {:<9} {:<6} {}",
                    u.name,
                    u.method,
                    u.status(now),
                    two,
                    u.failed_second_factor,
                    u.failed_first_factor,
                    u.backup_codes_left,
                    contact.join(", ")
                );
            }
        }
        UserCommand::Unlock { name } => {
            store.unlock(&name).map_err(err)?;
            audit.record(now, &name, "cli", "unlock", "ok", None);
            println!("unlocked `{name}`");
        }
        UserCommand::Remove { name } => {
            let dying = super::tickets::tickets_dying(store.as_ref(), &name, now)?;
            store.remove_user(&name).map_err(err)?;
            audit.record_why(now, &name, "cli", "user_remove", "ok", None, Some(&dying));
            println!("removed `{name}`");
        }
        UserCommand::TwoFactor { name, state } => {
            store.set_two_factor_required(&name, state.on()).map_err(err)?;
            audit.record(now, &name, "cli", "user_two_factor", if state.on() { "on" } else { "off" }, None);
            println!("two-factor for `{name}`: {}", if state.on() { "required" } else { "not required" });
        }
        UserCommand::Password { name, password_stdin } => {
            if store.user(&name).map_err(err)?.is_none() {
                return Err(format!("no user `{name}`"));
            }
            // A password would make the account a person's without a second factor.
            if store.service_account(&name).map_err(err)?.is_some() {
                return Err(format!("`{name}` is a service account: it has no password (see `service-account set`)"));
            }
            let hash = hash_password(&read_password(password_stdin)?, HashCost::from_config(&config.auth))?;
            let dying = super::tickets::tickets_dying(store.as_ref(), &name, now)?;
            store.set_password(&name, &hash).map_err(err)?;
            audit.record_why(now, &name, "cli", "password_change", "ok", None, Some(&dying));
            println!("password of `{name}` changed");
        }
        UserCommand::FirstFactor { name, mechanism } => {
            let m = mechanism.mechanism();
            store.set_first_factor(&name, m).map_err(err)?;
            let shown = m.map(|m| m.as_str()).unwrap_or("default");
            audit.record_why(now, &name, "cli", "first_factor_set", "ok", None, Some(shown));
            match m {
                Some(m) => println!("`{name}`: the password is checked by {} only", m.as_str()),
                None => println!("`{name}`: the password is checked as auth.first_factor says"),
            }
        }
        UserCommand::Method { name, method } => {
            let Some(u) = store.user(&name).map_err(err)? else {
                return Err(format!("no user `{name}`"));
            };
            let m = method.method();
            let missing = match m {
                Method::Totp if u.totp.is_none() => {
                    Some(format!("enrol a key first: twofactor-server totp enrol {name}"))
                }
                Method::Sms if u.phone.is_none() => Some(format!(
                    "enrol a number first: twofactor-server user phone {name} +15551234567 --carrier NAME"
                )),
                Method::Email if u.email.is_none() => {
                    Some(format!("enrol an address first: twofactor-server user email {name} {name}@example.com"))
                }
                _ => None,
            };
            if let Some(hint) = missing {
                return Err(format!("`{name}` has no {} enrolled; {hint}", m.as_str()));
            }
            store.set_method(&name, m).map_err(err)?;
            audit.record(now, &name, "cli", "user_method", "ok", Some(m.as_str()));
            println!("second factor of `{name}`: {}", m.as_str());
            if m == Method::Delegated && !config.hook.is_configured() {
                println!("warning: no [hook] is configured in server.toml; this user cannot log in until one is");
            } else if !method_enabled(&config, m) {
                println!(
                    "warning: {} is switched off in [methods]; this user cannot log in until it is on",
                    m.as_str()
                );
            }
        }
        UserCommand::Phone { name, number, carrier } => {
            let Some(u) = store.user(&name).map_err(err)? else {
                return Err(format!("no user `{name}`"));
            };
            let phone = crate::contact::normalize_phone(&number)?;
            let carrier = match carrier {
                Some(c) => Some(
                    store
                        .carrier(&c)
                        .map_err(err)?
                        .ok_or_else(|| format!("no carrier `{c}`; see `twofactor-server carrier list`"))?
                        .name,
                ),
                None if config.sms.provider == "gateway" => return Err(
                    "--carrier NAME is required while sms.provider = \"gateway\" (see `twofactor-server carrier list`)"
                        .into(),
                ),
                None => None,
            };
            store.set_phone(&name, Some(&phone), carrier.as_deref()).map_err(err)?;
            audit.record(now, &name, "cli", "user_phone", "ok", Some("SMS"));
            println!("`{name}`: SMS to {phone}{}", carrier.map(|c| format!(" via {c}")).unwrap_or_default());
            activate_if_unenrolled(store.as_ref(), &audit, &u, Method::Sms, now)?;
        }
        // Handled above, before the store is opened twice.
        UserCommand::Tickets { .. } => {}
        UserCommand::Email { name, address } => {
            let Some(u) = store.user(&name).map_err(err)? else {
                return Err(format!("no user `{name}`"));
            };
            let address = crate::contact::normalize_email(&address)?;
            store.set_email(&name, Some(&address)).map_err(err)?;
            audit.record(now, &name, "cli", "user_email", "ok", Some("EMAIL"));
            println!("`{name}`: codes by e-mail to {address}");
            activate_if_unenrolled(store.as_ref(), &audit, &u, Method::Email, now)?;
        }
    }
    Ok(())
}

fn method_enabled(config: &Config, m: Method) -> bool {
    match m {
        Method::Totp => config.methods.totp,
        Method::Sms => config.methods.sms,
        Method::Email => config.methods.email,
        Method::None => true,
        Method::Delegated => config.hook.is_configured(),
    }
}

/// A user whose active method has nothing enrolled gets the one just enrolled.
fn activate_if_unenrolled(
    store: &dyn UserStore,
    audit: &AuditLog,
    before: &UserRecord,
    m: Method,
    now: i64,
) -> CliResult {
    if before.active_method() == m {
        return Ok(());
    }
    if before.method_enrolled() && before.active_method() != Method::None {
        println!(
            "the active method stays {}; switch with: twofactor-server user method {} {}",
            before.active_method().as_str(),
            before.name,
            m.as_str().to_ascii_lowercase()
        );
        return Ok(());
    }
    if before.active_method() == Method::None {
        println!(
            "the active method stays NONE; switch with: twofactor-server user method {} {}",
            before.name,
            m.as_str().to_ascii_lowercase()
        );
        return Ok(());
    }
    store.set_method(&before.name, m).map_err(|e| e.to_string())?;
    audit.record(now, &before.name, "cli", "user_method", "ok", Some(m.as_str()));
    println!("active method of `{}`: {}", before.name, m.as_str());
    Ok(())
}

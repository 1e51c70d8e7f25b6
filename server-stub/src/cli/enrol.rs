//! `totp enrol|reset|import`: a user's TOTP key, shown as secret, URI and QR code.

use super::*;

pub(super) fn import(dir: &Path, name: &str, uri: &str) -> CliResult {
    let (config, store, audit) = open(dir)?;
    let key = SecretsKey::load(&dir.join(KEY_FILE)).map_err(|e| e.to_string())?;
    if store.user(name).map_err(|e| e.to_string())?.is_none() {
        return Err(format!("no user `{name}`"));
    }
    let parsed = totp::parse_otpauth_uri(uri)?;
    if parsed.period_secs != config.totp.period_secs {
        return Err(format!(
            "the URI's period is {} s but this server's totp.period_secs is {}",
            parsed.period_secs, config.totp.period_secs
        ));
    }
    if parsed.digits != 6 && parsed.digits != 8 {
        return Err(format!("the URI has {} digits; 6 or 8 are supported", parsed.digits));
    }
    let sealed_secret = key.seal(name, &parsed.secret);
    let dying = super::tickets::tickets_dying(store.as_ref(), name, SystemClock.now())?;
    store
        .set_totp(
            name,
            &TotpEnrolment { sealed_secret, algorithm: parsed.algorithm.name().into(), digits: parsed.digits },
        )
        .map_err(|e| e.to_string())?;
    audit.record_why(SystemClock.now(), name, "cli", "totp_import", "ok", Some("TOTP"), Some(&dying));
    println!(
        "imported a TOTP key for `{name}` ({}, {} digits, {} s); TOTP is its active method",
        parsed.algorithm, parsed.digits, parsed.period_secs
    );
    Ok(())
}

pub(super) fn enrol(dir: &Path, args: EnrolArgs, reset: bool) -> CliResult {
    let (config, store, audit) = open(dir)?;
    let key = SecretsKey::load(&dir.join(KEY_FILE)).map_err(|e| e.to_string())?;
    let Some(user) = store.user(&args.name).map_err(|e| e.to_string())? else {
        return Err(format!("no user `{}`", args.name));
    };
    if !reset && user.totp.is_some() {
        return Err(format!("`{}` is enrolled already; use `totp reset` to replace the key", args.name));
    }
    let algorithm: Algorithm = match &args.algorithm {
        Some(a) => a.parse()?,
        None => config.totp_algorithm(),
    };
    let digits = args.digits.unwrap_or(config.totp.digits);
    if digits != 6 && digits != 8 {
        return Err("--digits must be 6 or 8".into());
    }
    let secret = totp::generate_secret(algorithm);
    let sealed_secret = key.seal(&args.name, &secret);
    let dying = super::tickets::tickets_dying(store.as_ref(), &args.name, SystemClock.now())?;
    store
        .set_totp(&args.name, &TotpEnrolment { sealed_secret, algorithm: algorithm.name().into(), digits })
        .map_err(|e| e.to_string())?;
    audit.record_why(
        SystemClock.now(),
        &args.name,
        "cli",
        if reset { "totp_reset" } else { "totp_enrol" },
        "ok",
        Some("TOTP"),
        Some(&dying),
    );
    let b32 = totp::to_base32(&secret);
    let params = TotpParams { algorithm, digits, period_secs: config.totp.period_secs };
    let uri = totp::otpauth_uri(&config.totp.issuer, &args.name, &secret, &params);
    if let Some(png) = &args.png {
        write_png(&uri, png)?;
    }
    // Write errors (a closed pipe) are ignored: the key is stored already.
    let mut out = std::io::stdout().lock();
    if args.secret_only {
        let _ = writeln!(out, "{b32}");
    } else {
        let _ = writeln!(out, "issuer:    {}", config.totp.issuer);
        let _ = writeln!(out, "account:   {}", args.name);
        let _ = writeln!(out, "secret:    {b32}");
        let _ = writeln!(out, "algorithm: {algorithm}, {digits} digits, {} s period", config.totp.period_secs);
        let _ = writeln!(out, "uri:       {uri}");
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", qr_text(&uri)?);
        if let Some(png) = &args.png {
            let _ = writeln!(out, "QR code written to {}", png.display());
        }
        if reset {
            let _ = writeln!(out, "the previous key no longer works");
        }
    }
    let _ = out.flush();
    Ok(())
}

/// Two rows of modules per line with Unicode half blocks, light quiet zone included.
fn qr_text(uri: &str) -> Result<String, String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(|e| format!("QR code: {e}"))?;
    Ok(code
        .render::<qrcode::render::unicode::Dense1x2>()
        .dark_color(qrcode::render::unicode::Dense1x2::Light)
        .light_color(qrcode::render::unicode::Dense1x2::Dark)
        .build())
}

fn write_png(uri: &str, path: &Path) -> CliResult {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(|e| format!("QR code: {e}"))?;
    let img = code.render::<image::Luma<u8>>().min_dimensions(256, 256).build();
    img.save_with_format(path, image::ImageFormat::Png).map_err(|e| format!("{}: {e}", path.display()))
}

//! `totp enrol|reset|import`: a user's TOTP key, shown as secret, URI and QR code. The
//! key itself is made by [`NewKey`], which `letter` shares.

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

/// A new TOTP key for one user, made and sealed but not stored yet. `totp enrol`/`reset`
/// store it at once; `letter` stores it only after the letter that carries it is on disk,
/// so a failed write never leaves a key nobody holds (or an old key replaced for nothing).
pub(super) struct NewKey {
    config: Config,
    store: Arc<dyn UserStore>,
    audit: AuditLog,
    name: String,
    secret: Vec<u8>,
    sealed_secret: Vec<u8>,
    params: TotpParams,
    reset: bool,
}

impl NewKey {
    /// Checks the user (exists; not enrolled unless `reset`) and makes the key with
    /// `algorithm`/`digits` or the config's defaults. `how_to_replace` ends the refusal
    /// for an enrolled user (each command names its own way).
    pub(super) fn make(
        dir: &Path,
        name: &str,
        algorithm: Option<&str>,
        digits: Option<u32>,
        reset: bool,
        how_to_replace: &str,
    ) -> Result<NewKey, String> {
        let (config, store, audit) = open(dir)?;
        let key = SecretsKey::load(&dir.join(KEY_FILE)).map_err(|e| e.to_string())?;
        let Some(user) = store.user(name).map_err(|e| e.to_string())? else {
            return Err(format!("no user `{name}`"));
        };
        if !reset && user.totp.is_some() {
            return Err(format!("`{name}` is enrolled already; {how_to_replace}"));
        }
        let algorithm: Algorithm = match algorithm {
            Some(a) => a.parse()?,
            None => config.totp_algorithm(),
        };
        let digits = digits.unwrap_or(config.totp.digits);
        if digits != 6 && digits != 8 {
            return Err("--digits must be 6 or 8".into());
        }
        let secret = totp::generate_secret(algorithm);
        let sealed_secret = key.seal(name, &secret);
        let params = TotpParams { algorithm, digits, period_secs: config.totp.period_secs };
        Ok(NewKey { config, store, audit, name: name.to_string(), secret, sealed_secret, params, reset })
    }

    /// Makes the key the user's: the old one (if any) and its tickets stop working now.
    pub(super) fn store(&self) -> CliResult {
        let dying = super::tickets::tickets_dying(self.store.as_ref(), &self.name, SystemClock.now())?;
        let enrolment = TotpEnrolment {
            sealed_secret: self.sealed_secret.clone(),
            algorithm: self.params.algorithm.name().into(),
            digits: self.params.digits,
        };
        self.store.set_totp(&self.name, &enrolment).map_err(|e| e.to_string())?;
        self.audit.record_why(
            SystemClock.now(),
            &self.name,
            "cli",
            if self.reset { "totp_reset" } else { "totp_enrol" },
            "ok",
            Some("TOTP"),
            Some(&dying),
        );
        Ok(())
    }

    pub(super) fn issuer(&self) -> &str {
        &self.config.totp.issuer
    }

    pub(super) fn name(&self) -> &str {
        &self.name
    }

    pub(super) fn params(&self) -> TotpParams {
        self.params
    }

    pub(super) fn audit(&self) -> &AuditLog {
        &self.audit
    }

    pub(super) fn secret_base32(&self) -> String {
        totp::to_base32(&self.secret)
    }

    /// The `otpauth://totp/...` URI authenticator apps scan.
    pub(super) fn uri(&self) -> String {
        totp::otpauth_uri(&self.config.totp.issuer, &self.name, &self.secret, &self.params)
    }
}

pub(super) fn enrol(dir: &Path, args: EnrolArgs, reset: bool) -> CliResult {
    let new_key = NewKey::make(
        dir,
        &args.name,
        args.algorithm.as_deref(),
        args.digits,
        reset,
        "use `totp reset` to replace the key",
    )?;
    new_key.store()?;
    let b32 = new_key.secret_base32();
    let TotpParams { algorithm, digits, period_secs } = new_key.params();
    let uri = new_key.uri();
    if let Some(png) = &args.png {
        write_png(&uri, png)?;
    }
    // Write errors (a closed pipe) are ignored: the key is stored already.
    let mut out = std::io::stdout().lock();
    if args.secret_only {
        let _ = writeln!(out, "{b32}");
    } else {
        let _ = writeln!(out, "issuer:    {}", new_key.issuer());
        let _ = writeln!(out, "account:   {}", args.name);
        let _ = writeln!(out, "secret:    {b32}");
        let _ = writeln!(out, "algorithm: {algorithm}, {digits} digits, {period_secs} s period");
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

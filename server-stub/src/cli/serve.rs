//! `serve`: runs the server until SIGTERM or SIGINT, then drains it
//! ([`crate::ServerHandle::drain`]); a second signal closes everything at once.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use super::CliResult;
use crate::clock::SystemClock;
use crate::config::Config;
use crate::Server;

pub(super) fn serve(dir: &Path, listen: Option<String>) -> CliResult {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let mut config = Config::load(dir).map_err(|e| e.to_string())?;
    if let Some(l) = listen {
        config.server.listen = l;
        config.validate(Path::new("--listen")).map_err(|e| e.to_string())?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    let served = runtime.block_on(async move {
        let mut signals = StopSignals::register().map_err(|e| format!("cannot watch for signals: {e}"))?;
        let handle = Server::start(config, Arc::new(SystemClock)).await.map_err(|e| e.to_string())?;
        println!("listening on {}", handle.local_addr());
        if let Some(web) = handle.enrol_web_addr() {
            println!("enrolment page on https://{web}/enrol/");
        }
        if let Some(health) = handle.health_addr() {
            println!("readiness on http://{health}/ready");
        }
        let _ = std::io::stdout().flush();
        signals.next().await;
        log::info!("shutting down (a second SIGTERM or SIGINT closes every session at once)");
        handle.drain(signals.next()).await;
        Ok(())
    });
    // Store calls still running on the blocking pool (a store that does not answer) must
    // not keep a drained server from exiting.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    served
}

/// SIGINT and SIGTERM, registered at once. Registering before the server says it is
/// listening matters: a supervisor (or a test) that signals right after that line must
/// get a graceful shutdown, not the default action that kills the process.
struct StopSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn register() -> std::io::Result<StopSignals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(StopSignals { interrupt: signal(SignalKind::interrupt())?, terminate: signal(SignalKind::terminate())? })
        }
        #[cfg(not(unix))]
        {
            Ok(StopSignals {})
        }
    }

    /// The next SIGINT or SIGTERM.
    async fn next(&mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => {}
                _ = self.terminate.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

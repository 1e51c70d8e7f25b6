//! What the server asks of the operating system at start: files only its own user can
//! read, and enough file descriptors for `server.max_connections`.

use std::path::Path;

/// File descriptors one connection can hold at once: its socket, and for its SQL session
/// `data.db`, `data.db-wal` and `data.db-shm`.
pub const FDS_PER_CONNECTION: u64 = 4;
/// Descriptors the server needs whatever the number of connections: the listener, the
/// runtime's epoll and wake-up descriptors, the user store's connections, the audit log,
/// standard streams, and SQLite's temporary files.
pub const FDS_RESERVED: u64 = 64;

/// Makes every file this process creates from now on private to its user (umask 077):
/// SQLite creates `-wal`, `-shm` and `-journal` files with the database's mode, but
/// creates a new database with 0644 less the umask, and so does any plain `create`.
pub fn private_files() {
    #[cfg(unix)]
    {
        use rustix::fs::Mode;
        rustix::process::umask(Mode::from_raw_mode(0o077));
    }
}

/// Takes group and other permissions away from the data directory and the files in it
/// (a data directory made by an older version has 0644 files), saying so in the log.
pub fn tighten_data_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let tighten = |path: &Path, meta: std::fs::Metadata| -> std::io::Result<()> {
            let mode = meta.permissions().mode() & 0o7777;
            if mode & 0o077 != 0 {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))?;
                log::warn!("{}: was mode {mode:04o}, now {:04o}", path.display(), mode & 0o700);
            }
            Ok(())
        };
        tighten(dir, std::fs::metadata(dir)?)?;
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_file() {
                tighten(&entry.path(), meta)?;
            }
        }
    }
    Ok(())
}

/// What [`fit_connections`] found.
#[derive(Debug, PartialEq, Eq)]
pub struct FdBudget {
    /// The soft `RLIMIT_NOFILE` after raising it (None: unlimited or unknown).
    pub limit: Option<u64>,
    /// The connections the server will accept at once.
    pub max_connections: usize,
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit if it is lower, then returns how many
/// connections fit: `max_connections`, or fewer (with a warning in the log) when the
/// descriptors would run out first. Accepting more than fit would only trade a clear
/// limit for `EMFILE` in the middle of logins and SQL sessions.
pub fn fit_connections(max_connections: usize) -> FdBudget {
    let limit = raise_fd_limit();
    let max_connections = connections_within(limit, max_connections);
    FdBudget { limit, max_connections }
}

fn connections_within(limit: Option<u64>, wanted: usize) -> usize {
    let Some(limit) = limit else { return wanted };
    let fit = usize::try_from(limit.saturating_sub(FDS_RESERVED) / FDS_PER_CONNECTION).unwrap_or(usize::MAX).max(1);
    if fit < wanted {
        log::warn!(
            "server.max_connections = {wanted} needs about {} file descriptors ({FDS_PER_CONNECTION} per connection \
             + {FDS_RESERVED}), but RLIMIT_NOFILE is {limit}: accepting at most {fit} connections. Raise the limit \
             (ulimit -n, systemd LimitNOFILE=) or lower server.max_connections.",
            wanted as u64 * FDS_PER_CONNECTION + FDS_RESERVED
        );
        fit
    } else {
        wanted
    }
}

#[cfg(unix)]
fn raise_fd_limit() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let now = getrlimit(Resource::Nofile);
    if now.current.is_some() && now.current < now.maximum.or(Some(u64::MAX)) {
        let raised = Rlimit { current: now.maximum, maximum: now.maximum };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => log::info!(
                "RLIMIT_NOFILE raised from {} to {}",
                now.current.unwrap_or(0),
                now.maximum.map_or("unlimited".to_string(), |m| m.to_string())
            ),
            Err(e) => log::warn!("cannot raise RLIMIT_NOFILE to the hard limit: {e}"),
        }
    }
    getrlimit(Resource::Nofile).current
}

#[cfg(not(unix))]
fn raise_fd_limit() -> Option<u64> {
    None
}

/// Lowers the calling thread to nice `nice` (Linux: nice applies per thread, by thread
/// id), so that the kernel runs the server's session threads first whenever both are
/// runnable. `what` names the thread in the log. Failure is logged and harmless: the
/// thread runs at normal priority.
pub fn lower_this_threads_priority(nice: i32, what: &str) {
    #[cfg(target_os = "linux")]
    {
        let tid = rustix::thread::gettid();
        if let Err(e) = rustix::process::setpriority_process(Some(tid), nice) {
            log::warn!("cannot lower the priority of a {what} thread to nice {nice}: {e}");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (nice, what);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_lowered_to_what_the_descriptors_allow() {
        assert_eq!(connections_within(Some(1024), 20_000), ((1024 - FDS_RESERVED) / FDS_PER_CONNECTION) as usize);
        assert_eq!(connections_within(Some(1_048_576), 20_000), 20_000);
        assert_eq!(connections_within(None, 20_000), 20_000);
        assert_eq!(connections_within(Some(10), 5), 1);
    }

    #[test]
    fn the_soft_descriptor_limit_is_raised_to_the_hard_one() {
        let budget = fit_connections(10);
        let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum;
        assert_eq!(budget.limit, hard);
        assert_eq!(budget.max_connections, 10);
    }
}

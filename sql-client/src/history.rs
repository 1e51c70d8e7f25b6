//! Where the REPL keeps its history: $XDG_STATE_HOME/twofactor-sql/history (else
//! ~/.local/state/...), the directory 0700 and the file 0600. Only lines typed at the SQL
//! prompt go there: the password and the code are read by their own no-echo prompt,
//! never by the line editor, and a line starting with a space is not recorded.

use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The history file's path for this environment (None without HOME or XDG_STATE_HOME).
pub fn path_from(xdg_state_home: Option<&str>, home: Option<&str>) -> Option<PathBuf> {
    let base = match (xdg_state_home.filter(|s| Path::new(s).is_absolute()), home.filter(|s| !s.is_empty())) {
        (Some(state), _) => PathBuf::from(state),
        (None, Some(home)) => Path::new(home).join(".local/state"),
        (None, None) => return None,
    };
    Some(base.join("twofactor-sql").join("history"))
}

pub fn path() -> Option<PathBuf> {
    path_from(std::env::var("XDG_STATE_HOME").ok().as_deref(), std::env::var("HOME").ok().as_deref())
}

/// Creates the directory (0700) and the file (0600) if missing, and tightens the file's
/// mode if someone loosened it.
pub fn prepare(file: &Path) -> io::Result<()> {
    if let Some(dir) = file.parent() {
        DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    }
    OpenOptions::new().append(true).create(true).mode(0o600).open(file)?;
    restrict(file)
}

/// Mode 0600 on the file (after the line editor rewrote it).
pub fn restrict(file: &Path) -> io::Result<()> {
    fs::set_permissions(file, Permissions::from_mode(0o600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_follows_xdg_state_home_then_home() {
        assert_eq!(path_from(Some("/s"), Some("/h")), Some(PathBuf::from("/s/twofactor-sql/history")));
        assert_eq!(
            path_from(Some("relative"), Some("/h")),
            Some(PathBuf::from("/h/.local/state/twofactor-sql/history"))
        );
        assert_eq!(path_from(None, None), None);
    }

    #[test]
    fn the_file_is_0600_in_a_0700_directory() {
        let base = std::env::temp_dir().join(format!("twofactor-sql-history-{}", std::process::id()));
        let file = base.join("twofactor-sql/history");
        prepare(&file).unwrap();
        fs::set_permissions(&file, Permissions::from_mode(0o644)).unwrap();
        prepare(&file).unwrap();
        assert_eq!(fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(file.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
        fs::remove_dir_all(base).unwrap();
    }
}

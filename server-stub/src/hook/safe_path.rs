//! Whether a hook program is safe to run: a program that decides logins must not be
//! replaceable by anyone but root and the server's own user. The file and every directory
//! above it (as written, and after symbolic links are resolved) must be owned by root or
//! the server's user and not writable by group or others. One exception, as for /tmp: a
//! directory owned by root with the sticky bit may be world-writable, since others cannot
//! rename or remove what they do not own in it.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

const GROUP_OR_OTHER_WRITE: u32 = 0o022;
const STICKY: u32 = 0o1000;

/// Ok if `program` (absolute) is a regular executable file nobody else can change.
pub fn check_program_path(program: &Path) -> Result<(), String> {
    let me = rustix::process::geteuid().as_raw();
    let real = std::fs::canonicalize(program).map_err(|e| format!("{}: {e}", program.display()))?;
    let meta = std::fs::metadata(&real).map_err(|e| format!("{}: {e}", real.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", real.display()));
    }
    if meta.mode() & 0o111 == 0 {
        return Err(format!("{} is not executable", real.display()));
    }
    let mut checked: Vec<PathBuf> = Vec::new();
    for start in [program, real.as_path()] {
        for p in start.ancestors() {
            if checked.iter().any(|c| c == p) {
                continue;
            }
            check_one(p, p == real.as_path(), me)?;
            checked.push(p.to_owned());
        }
    }
    Ok(())
}

fn check_one(p: &Path, is_program: bool, me: u32) -> Result<(), String> {
    // The link itself, for a component that is one: who may change where it points is
    // decided by its directory, checked as an ancestor.
    let meta = std::fs::symlink_metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let what = if is_program { "the hook program" } else { "a directory above the hook program" };
    if meta.uid() != 0 && meta.uid() != me {
        return Err(format!(
            "{what} {} is owned by uid {}, not by root or the server's user (uid {me}): refused",
            p.display(),
            meta.uid()
        ));
    }
    let mode = meta.mode();
    let sticky_root_dir = !is_program && meta.uid() == 0 && mode & STICKY != 0;
    if mode & GROUP_OR_OTHER_WRITE != 0 && !sticky_root_dir {
        return Err(format!(
            "{what} {} is writable by group or others (mode {:o}): refused; chmod go-w it",
            p.display(),
            mode & 0o7777
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &Path, mode: u32) -> PathBuf {
        let p = dir.join("hook.sh");
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn a_private_executable_is_accepted() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(check_program_path(&script(d.path(), 0o700)), Ok(()));
    }

    #[test]
    fn a_group_or_world_writable_program_or_directory_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let e = check_program_path(&script(d.path(), 0o722)).unwrap_err();
        assert!(e.contains("writable by group or others"), "{e}");
        let p = script(d.path(), 0o700);
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = check_program_path(&p).unwrap_err();
        assert!(e.contains("a directory above"), "{e}");
    }

    #[test]
    fn a_link_into_an_unsafe_directory_is_refused() {
        let safe = tempfile::tempdir().unwrap();
        let unsafe_dir = tempfile::tempdir().unwrap();
        let target = script(unsafe_dir.path(), 0o700);
        std::fs::set_permissions(unsafe_dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let link = safe.path().join("hook");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(check_program_path(&link).is_err());
    }

    #[test]
    fn a_file_that_is_not_executable_is_refused() {
        let d = tempfile::tempdir().unwrap();
        assert!(check_program_path(&script(d.path(), 0o600)).unwrap_err().contains("not executable"));
    }
}

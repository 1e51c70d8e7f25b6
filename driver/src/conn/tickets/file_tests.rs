use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::conn::tickets::tests::sample;

fn me() -> u32 {
    rustix::process::geteuid().as_raw()
}

fn store_in(tmp: &tempfile::TempDir) -> FileStore {
    FileStore::in_dir(tmp.path().join(DIR_NAME), me())
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_saved_ticket_loads_back_and_the_files_are_private() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_in(&tmp);
    let t = sample("file-roundtrip");
    let mut w = Vec::new();
    store.save(&t, &mut w);
    assert!(w.is_empty(), "{w:?}");
    let dir = tmp.path().join(DIR_NAME);
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join(DEVICE_KEY_FILE)), 0o600);
    let path = FileStore::path_of(&dir, &t.key);
    assert_eq!(mode(&path), 0o600);
    let text = fs::read(&path).unwrap();
    assert!(!text.windows(32).any(|w| w == t.ticket_id.expose().as_slice()), "the ticket id is sealed");
    let back = store.load(&t.key, &mut w).unwrap();
    assert_eq!(back.ticket_id.expose(), t.ticket_id.expose());
    assert_eq!(back.private_key_pkcs8.expose(), t.private_key_pkcs8.expose());
    assert_eq!((back.expires_at, back.idle_secs, back.server_name.as_str()), (t.expires_at, 600, "twofactor-server"));
    store.evict(&t.key, &mut w);
    assert!(!path.exists());
    assert!(store.load(&t.key, &mut w).is_none() && w.is_empty());
}

#[test]
fn without_its_device_key_a_ticket_file_is_refused_and_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_in(&tmp);
    let t = sample("file-no-device-key");
    let mut w = Vec::new();
    store.save(&t, &mut w);
    let dir = tmp.path().join(DIR_NAME);
    fs::remove_file(dir.join(DEVICE_KEY_FILE)).unwrap();
    assert!(store.load(&t.key, &mut w).is_none());
    assert!(w.iter().any(|e| e.message.contains("cannot be unsealed")), "{w:?}");
    assert!(!FileStore::path_of(&dir, &t.key).exists(), "evicted");
}

#[test]
fn a_ticket_file_copied_next_to_another_device_key_does_not_open() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let (sa, sb) = (store_in(&a), store_in(&b));
    let t = sample("file-copied");
    let mut w = Vec::new();
    sa.save(&t, &mut w);
    // B has a device key of its own (it saved a ticket of another user).
    sb.save(&sample("someone-else"), &mut w);
    let from = FileStore::path_of(&a.path().join(DIR_NAME), &t.key);
    let to = FileStore::path_of(&b.path().join(DIR_NAME), &t.key);
    fs::copy(&from, &to).unwrap();
    assert!(sb.load(&t.key, &mut w).is_none());
    assert!(w.iter().any(|e| e.state == crate::diag::SqlState::GENERAL_WARNING));
}

#[test]
fn the_sealing_key_depends_on_the_os_user() {
    let tmp = tempfile::tempdir().unwrap();
    let device_key = [5u8; DEVICE_KEY_LEN];
    let mine = FileStore::in_dir(tmp.path().into(), 1000).sealing_key(&device_key);
    let theirs = FileStore::in_dir(tmp.path().into(), 1001).sealing_key(&device_key);
    let mut data = b"secret".to_vec();
    mine.seal_in_place_append_tag(Nonce::assume_unique_for_key([0; NONCE_LEN]), Aad::empty(), &mut data).unwrap();
    let mut copy = data.clone();
    assert!(theirs.open_in_place(Nonce::assume_unique_for_key([0; NONCE_LEN]), Aad::empty(), &mut copy).is_err());
    assert!(mine.open_in_place(Nonce::assume_unique_for_key([0; NONCE_LEN]), Aad::empty(), &mut data).is_ok());
}

#[test]
fn a_directory_or_file_open_to_others_is_ignored_with_a_warning_and_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_in(&tmp);
    let t = sample("file-modes");
    let mut w = Vec::new();
    store.save(&t, &mut w);
    let dir = tmp.path().join(DIR_NAME);
    let path = FileStore::path_of(&dir, &t.key);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    assert!(store.load(&t.key, &mut w).is_none());
    assert!(w.iter().any(|e| e.message.contains("group or others")), "{w:?}");
    assert!(path.exists(), "never deleted: it may not be ours to delete");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    w.clear();
    assert!(store.load(&t.key, &mut w).is_none());
    assert!(w.iter().any(|e| e.message.contains("directory")), "{w:?}");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    assert!(store.load(&t.key, &mut Vec::new()).is_some());
}

#[test]
fn a_directory_owned_by_another_uid_is_not_trusted() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = Vec::new();
    store_in(&tmp).save(&sample("file-owner"), &mut w);
    let as_other = FileStore::in_dir(tmp.path().join(DIR_NAME), me().wrapping_add(1));
    assert!(as_other.load(&sample("file-owner").key, &mut w).is_none());
    assert!(w.iter().any(|e| e.message.contains("owned by uid")), "{w:?}");
}

#[test]
fn a_tampered_clear_field_breaks_the_seal() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_in(&tmp);
    let t = sample("file-tamper");
    let mut w = Vec::new();
    store.save(&t, &mut w);
    let path = FileStore::path_of(&tmp.path().join(DIR_NAME), &t.key);
    let mut file: TicketFile = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    file.expires_at += 86_400;
    fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
    assert!(store.load(&t.key, &mut w).is_none());
    assert!(!path.exists());
}

#[test]
fn a_device_key_open_to_others_is_ignored_and_the_ticket_file_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_in(&tmp);
    let t = sample("file-device-key-mode");
    let mut w = Vec::new();
    store.save(&t, &mut w);
    let dir = tmp.path().join(DIR_NAME);
    fs::set_permissions(dir.join(DEVICE_KEY_FILE), fs::Permissions::from_mode(0o644)).unwrap();
    assert!(store.load(&t.key, &mut w).is_none());
    assert!(w.iter().any(|e| e.message.contains("device key") && e.message.contains("group or others")), "{w:?}");
    assert!(FileStore::path_of(&dir, &t.key).exists(), "not the ticket's fault: kept");
    fs::set_permissions(dir.join(DEVICE_KEY_FILE), fs::Permissions::from_mode(0o600)).unwrap();
    assert!(store.load(&t.key, &mut Vec::new()).is_some());
}

//! The service-account rules every store keeps.

use super::super::*;

fn account(name: &str) -> ServiceAccount {
    ServiceAccount {
        name: name.into(),
        kind: ServiceKind::Key,
        credential: vec![7; CREDENTIAL_LEN],
        networks: parse_networks("10.0.0.0/8,::1").unwrap(),
        backend: AllowedBackend::Sqlite,
        sql_role: Some("nightly_etl".into()),
        created_at: 1_700_000_000,
    }
}

pub(super) fn a_service_account_is_a_user_without_a_second_factor(s: &dyn UserStore) {
    let a = account("etl");
    s.create_service_account(&a, "$argon2id$unusable").unwrap();
    assert_eq!(s.service_account("etl").unwrap(), Some(a.clone()));
    let u = s.user("etl").unwrap().expect("the user row");
    assert!(!u.two_factor_required);
    assert_eq!(u.active_method(), Method::None);
    assert_eq!(u.password_hash, "$argon2id$unusable");
    assert_eq!(s.service_account("alice").unwrap(), None, "an ordinary user is no service account");
    assert_eq!(s.service_account("nobody").unwrap(), None);
    assert!(matches!(s.create_service_account(&a, "$x"), Err(StoreError::AlreadyExists(_))));
    assert!(matches!(s.create_service_account(&account("alice"), "$x"), Err(StoreError::AlreadyExists(_))));
    assert_eq!(s.service_account("alice").unwrap(), None, "a refused create leaves the user as it was");
    let names: Vec<_> = s.service_accounts().unwrap().into_iter().map(|a| a.name).collect();
    assert_eq!(names, ["etl"]);
}

pub(super) fn a_service_account_changes_and_goes_with_its_user(s: &dyn UserStore) {
    s.create_service_account(&account("etl"), "$x").unwrap();
    let changed = ServiceAccount {
        kind: ServiceKind::Certificate,
        credential: vec![9; CREDENTIAL_LEN],
        networks: parse_networks("192.168.0.0/16").unwrap(),
        backend: AllowedBackend::Any,
        sql_role: None,
        ..account("etl")
    };
    s.update_service_account(&changed).unwrap();
    assert_eq!(s.service_account("etl").unwrap(), Some(changed));
    assert!(matches!(s.update_service_account(&account("alice")), Err(StoreError::NoSuchUser(_))));
    s.remove_user("etl").unwrap();
    assert_eq!(s.service_account("etl").unwrap(), None);
    assert!(s.service_accounts().unwrap().is_empty());
    // A person given the name later is a person, not the old account.
    s.create_user("etl", "$argon2id$fake").unwrap();
    assert_eq!(s.service_account("etl").unwrap(), None);
}

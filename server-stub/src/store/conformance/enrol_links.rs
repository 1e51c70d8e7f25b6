//! The enrolment-link rules every store keeps.

use super::*;

fn link<'a>(hash: &'a [u8], user: &'a str, issued_at: i64, expires_at: i64) -> NewEnrolLink<'a> {
    NewEnrolLink { id_hash: hash, user, issued_at, expires_at, reset: false }
}

pub fn a_link_is_spent_once_and_only_while_valid(s: &dyn UserStore) {
    s.issue_enrol_link(&link(b"hash-a", "alice", 1000, 2000)).unwrap();
    s.issue_enrol_link(&NewEnrolLink { reset: true, ..link(b"hash-b", "alice", 1001, 1500) }).unwrap();
    let a = s.enrol_link(b"hash-a").unwrap().unwrap();
    assert_eq!((a.user.as_str(), a.issued_at, a.expires_at, a.reset), ("alice", 1000, 2000, false));
    assert_eq!(a.state(1999), EnrolLinkState::Active);
    assert_eq!(a.state(2000), EnrolLinkState::Expired);
    assert!(s.enrol_link(b"forged").unwrap().is_none());
    assert!(s.spend_enrol_link(b"forged", 1100).unwrap().is_none());
    let spent = s.spend_enrol_link(b"hash-a", 1100).unwrap().expect("a valid link is spent");
    assert_eq!(spent.used_at, Some(1100));
    assert!(s.spend_enrol_link(b"hash-a", 1101).unwrap().is_none(), "a spent link is not spent twice");
    assert!(!s.revoke_enrol_link(b"hash-a", 1102).unwrap(), "a spent link cannot be revoked");
    assert_eq!(s.enrol_link(b"hash-a").unwrap().unwrap().state(1102), EnrolLinkState::Used);
    assert!(s.spend_enrol_link(b"hash-b", 1500).unwrap().is_none(), "an expired link is refused");
    let listed = s.enrol_links(Some("alice")).unwrap();
    assert_eq!(listed.iter().map(|l| l.id_hash.as_slice()).collect::<Vec<_>>(), [b"hash-a" as &[u8], b"hash-b"]);
    assert!(listed[1].reset);
    assert!(s.enrol_links(Some("bob")).unwrap().is_empty());
    assert_eq!(s.enrol_links(None).unwrap().len(), 2);
}

pub fn a_revoked_link_is_refused_and_links_need_and_go_with_their_user(s: &dyn UserStore) {
    s.issue_enrol_link(&link(b"hash-r", "alice", 1000, 2000)).unwrap();
    assert!(s.revoke_enrol_link(b"hash-r", 1010).unwrap());
    assert!(!s.revoke_enrol_link(b"hash-r", 1011).unwrap(), "revoked once");
    assert_eq!(s.enrol_link(b"hash-r").unwrap().unwrap().state(1012), EnrolLinkState::Revoked);
    assert!(s.spend_enrol_link(b"hash-r", 1012).unwrap().is_none());
    assert!(matches!(s.issue_enrol_link(&link(b"hash-x", "nobody", 1000, 2000)), Err(StoreError::NoSuchUser(_))));
    s.issue_enrol_link(&link(b"hash-s", "alice", 1000, 2000)).unwrap();
    s.remove_user("alice").unwrap();
    assert!(s.enrol_link(b"hash-s").unwrap().is_none(), "a removed user's links are gone");
}

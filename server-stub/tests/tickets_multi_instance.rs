//! Two-factor tickets over two `twofactor-server` processes on one PostgreSQL user store:
//! a ticket issued by one instance completes a login on the other, and a revocation by
//! the admin command is honoured by both at once. Real clock, real TLS (each connection
//! its own exporter, so the proof is made per connection, as the driver makes it).

mod common;
mod fleet;

use std::time::Duration;

use fleet::{code_now, login, set, Layout};
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use twofactor_pg_testkit::PgServer;
use twofactor_protocol::proof::ticket_proof_message;
use twofactor_protocol::{ClientMessage, SecondFactor, ServerMessage};

#[test]
fn a_ticket_issued_by_one_instance_logs_in_on_the_other_until_revoked() {
    let Some(pg) = PgServer::shared() else { return };
    let db = pg.create_database();
    let root = tempfile::tempdir().unwrap();
    let layout = Layout::on_postgres(root.path(), &db, |t| set(t, "tickets", "enabled", true));
    layout.add_totp_user("dave", "dave-pw");
    let server_name = twofactor_server::Config::load(&layout.template).unwrap().server.name;
    let (a, b) = (layout.start("a"), layout.start("b"));
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let sign = |c: &common::Client, id: &[u8]| {
        key.sign(&ticket_proof_message(&c.exporter(), &server_name, "dave", id)).as_ref().to_vec()
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let ticket_id = rt.block_on(async {
        if fleet::step_left() < 5 {
            tokio::time::sleep(Duration::from_secs(fleet::step_left() + 1)).await;
        }
        let mut c = a.connect().await;
        assert_eq!(login(&mut c, "dave", "dave-pw", Some(&code_now())).await, ServerMessage::SecondFactorOk);
        c.send(ClientMessage::RequestTicket { public_key: key.public_key().as_ref().to_vec() }).await;
        let Some(ServerMessage::Ticket { ticket_id, .. }) = c.recv().await else { panic!("no ticket from a") };
        let id = ticket_id.expose().clone();

        let mut c = b.connect().await;
        let proof = sign(&c, &id);
        let answer = c.login_with_ticket("dave", "dave-pw", &id, proof).await;
        assert!(
            matches!(answer, ServerMessage::FirstFactorOk { second_factor: SecondFactor::VerifiedByTicket { .. }, .. }),
            "{answer:?}"
        );
        let m = c.exec("SELECT 1", common::no_params()).await;
        assert!(matches!(m, ServerMessage::ResultSet { .. }), "{m:?}");
        id
    });
    let list = layout.admin(&["user", "tickets", "dave", "list"], None);
    assert!(list.contains("active"), "{list}");
    layout.admin(&["user", "tickets", "dave", "revoke", "--all"], None);
    rt.block_on(async {
        for instance in [&a, &b] {
            let mut c = instance.connect().await;
            let proof = sign(&c, &ticket_id);
            let answer = c.login_with_ticket("dave", "dave-pw", &ticket_id, proof).await;
            assert!(
                matches!(answer, ServerMessage::FirstFactorOk { second_factor: SecondFactor::Required { .. }, .. }),
                "revoked: the code is asked for: {answer:?}"
            );
        }
    });
    let hex: String = ticket_id.iter().map(|b| format!("{b:02x}")).collect();
    for log in [a.log_text(), b.log_text()] {
        assert!(log.contains("two-factor ticket refused: ticket ") && log.contains(": revoked; counted"), "{log}");
        assert!(!log.contains(&hex), "the ticket identifier is never logged");
    }
}

//! Every message encodes and decodes to itself; every truncation is "need more"; random
//! bytes never panic the decoder.

use rand::{Rng, SeedableRng};
use twofactor_protocol::*;

fn sample_batch() -> RowBatch {
    let mut b = RowBatchBuilder::new(10);
    let date = Date { year: 2026, month: 11, day: 23 };
    let time = Time { hour: 23, minute: 59, second: 60, nanos: 999_999_999 };
    b.push(ValueRef::Null);
    b.push(ValueRef::Int(i64::MIN));
    b.push(ValueRef::Double(-0.5));
    b.push(ValueRef::Text("grüß dich €"));
    b.push(ValueRef::Bytes(&[0, 255, 7]));
    b.push(ValueRef::Date(date));
    b.push(ValueRef::Time(time));
    b.push(ValueRef::Timestamp(Timestamp { date, time }));
    b.push(ValueRef::Decimal("-12345678901234567890.000001"));
    b.push(ValueRef::Bool(true));
    b.end_row();
    for i in 0..3 {
        b.push(ValueRef::Int(i));
        for _ in 1..10 {
            b.push(ValueRef::Null);
        }
        b.end_row();
    }
    b.finish()
}

fn column(name: &str) -> ColumnDesc {
    ColumnDesc {
        name: name.into(),
        sql_type: sql_type::VARCHAR,
        type_name: "VARCHAR(32)".into(),
        column_size: 32,
        decimal_digits: 0,
        nullable: Nullability::Nullable,
        table_name: "t".into(),
    }
}

fn client_messages() -> Vec<ClientMessage> {
    let catalogs = vec![
        CatalogRequest::Tables {
            catalog: None,
            schema: Some(String::new()),
            table: Some("t%".into()),
            table_types: Some("'TABLE'".into()),
        },
        CatalogRequest::Columns { catalog: None, schema: None, table: Some("t".into()), column: None },
        CatalogRequest::PrimaryKeys { catalog: None, schema: None, table: "t".into() },
        CatalogRequest::ForeignKeys { pk_table: Some("a".into()), fk_table: None },
        CatalogRequest::Statistics { table: "t".into(), unique_only: true },
        CatalogRequest::SpecialColumns { table: "t".into() },
        CatalogRequest::TypeInfo { data_type: sql_type::WVARCHAR },
        CatalogRequest::TablePrivileges { table: Some("t%".into()) },
        CatalogRequest::TablePrivileges { table: None },
        CatalogRequest::ColumnPrivileges { table: "t".into(), column: Some("c_".into()) },
        CatalogRequest::Procedures { schema: Some("public".into()), procedure: None },
        CatalogRequest::ProcedureColumns { schema: None, procedure: Some("f%".into()), column: Some("x".into()) },
    ];
    let mut all = vec![
        ClientMessage::Hello { min_version: 1, max_version: 3, client_name: "test".into() },
        ClientMessage::Login { user: "alice".into(), password: "pa;ss".into() },
        ClientMessage::SecondFactor { code: "123456".into() },
        ClientMessage::ExecDirect { sql: "select ?".into(), params: sample_batch(), fetch_rows: 7 },
        ClientMessage::Prepare { sql: "insert".into() },
        ClientMessage::Execute { statement_id: 9, params: RowBatchBuilder::new(0).finish(), fetch_rows: 0 },
        ClientMessage::Fetch { max_rows: 100 },
        ClientMessage::CloseCursor,
        ClientMessage::CloseStatement { statement_id: 3 },
        ClientMessage::SetAutocommit { on: false },
        ClientMessage::SessionOptions(SessionOptions { read_only: true, long_column_size: 65_536 }),
        ClientMessage::EndTransaction { commit: true },
        ClientMessage::Cancel { session_id: u64::MAX, key: Secret::new([7; 16]) },
        ClientMessage::Ping,
        ClientMessage::Terminate,
        ClientMessage::LoginWithTicket {
            user: "alice".into(),
            password: "pw".into(),
            ticket_id: Secret::new(vec![3; 32]),
            proof: vec![4; 64],
        },
        ClientMessage::RequestTicket { public_key: vec![5; 32] },
        ClientMessage::KeyLogin { user: "etl".into(), proof: vec![6; 64] },
        ClientMessage::CertLogin { user: "etl".into() },
    ];
    all.extend(catalogs.into_iter().map(|request| ClientMessage::Catalog { request, fetch_rows: 5 }));
    all
}

fn server_messages() -> Vec<ServerMessage> {
    vec![
        ServerMessage::HelloOk { version: 1, server_name: "srv".into() },
        ServerMessage::FirstFactorOk {
            session_id: 42,
            cancel_key: Secret::new([1; 16]),
            second_factor: SecondFactor::NotRequired,
        },
        ServerMessage::FirstFactorOk {
            session_id: 43,
            cancel_key: Secret::new([2; 16]),
            second_factor: SecondFactor::Required {
                method: SecondFactorMethod::Sms,
                seconds_left: 120,
                hint: "***1234".into(),
            },
        },
        ServerMessage::FirstFactorOk {
            session_id: 44,
            cancel_key: Secret::new([3; 16]),
            second_factor: SecondFactor::VerifiedByTicket { expires_at: 1_700_000_000 },
        },
        ServerMessage::SecondFactorOk,
        ServerMessage::Ticket { ticket_id: Secret::new(vec![9; 32]), expires_at: 1_700_000_000, idle_secs: 3600 },
        ServerMessage::Error(ErrorInfo::new(b"28000", 1002, "two-factor code rejected").fatal()),
        ServerMessage::Prepared {
            statement_id: 1,
            params: vec![ParamDesc {
                sql_type: sql_type::INTEGER,
                column_size: 10,
                decimal_digits: 0,
                nullable: Nullability::Unknown,
            }],
            columns: vec![column("a"), column("b")],
        },
        ServerMessage::ResultSet { columns: vec![column("x")] },
        ServerMessage::Rows { batch: sample_batch(), last: false },
        ServerMessage::ExecuteDone { row_count: -1 },
        ServerMessage::Ok,
        ServerMessage::Pong,
    ]
}

#[test]
fn every_client_message_decodes_to_what_was_encoded() {
    for msg in client_messages() {
        let mut buf = Vec::new();
        msg.encode(&mut buf);
        let (back, used) = ClientMessage::decode(&buf, MAX_FRAME_LEN).unwrap().unwrap();
        assert_eq!(back, msg);
        assert_eq!(used, buf.len());
    }
}

#[test]
fn every_server_message_decodes_to_what_was_encoded() {
    for msg in server_messages() {
        let mut buf = Vec::new();
        msg.encode(&mut buf);
        let (back, used) = ServerMessage::decode(&buf, MAX_FRAME_LEN).unwrap().unwrap();
        assert_eq!(back, msg);
        assert_eq!(used, buf.len());
    }
}

#[test]
fn every_truncation_of_every_frame_asks_for_more_bytes() {
    for msg in client_messages() {
        let mut buf = Vec::new();
        msg.encode(&mut buf);
        for cut in 0..buf.len() {
            assert_eq!(ClientMessage::decode(&buf[..cut], MAX_FRAME_LEN), Ok(None), "{msg:?} cut at {cut}");
        }
    }
    for msg in server_messages() {
        let mut buf = Vec::new();
        msg.encode(&mut buf);
        for cut in 0..buf.len() {
            assert_eq!(ServerMessage::decode(&buf[..cut], MAX_FRAME_LEN), Ok(None), "{msg:?} cut at {cut}");
        }
    }
}

#[test]
fn two_frames_in_one_buffer_decode_one_after_the_other() {
    let mut buf = Vec::new();
    ClientMessage::Ping.encode(&mut buf);
    ClientMessage::Fetch { max_rows: 3 }.encode(&mut buf);
    let (first, used) = ClientMessage::decode(&buf, MAX_FRAME_LEN).unwrap().unwrap();
    assert_eq!(first, ClientMessage::Ping);
    let (second, _) = ClientMessage::decode(&buf[used..], MAX_FRAME_LEN).unwrap().unwrap();
    assert_eq!(second, ClientMessage::Fetch { max_rows: 3 });
}

#[test]
fn a_frame_longer_than_the_limit_is_refused_before_it_arrives() {
    let mut buf = Vec::new();
    ClientMessage::Login { user: "u".repeat(100), password: "p".into() }.encode(&mut buf);
    let err = ClientMessage::decode(&buf[..5], 64).unwrap_err();
    assert!(matches!(err, ProtocolError::FrameTooLarge { .. }));
}

#[test]
fn a_payload_with_trailing_bytes_or_bad_fields_is_an_error() {
    let mut buf = Vec::new();
    ClientMessage::Fetch { max_rows: 3 }.encode(&mut buf);
    buf.push(0);
    buf[1] += 1;
    assert!(matches!(ClientMessage::decode(&buf, MAX_FRAME_LEN), Err(ProtocolError::TrailingBytes { .. })));

    let mut hello = Vec::new();
    ClientMessage::Hello { min_version: 1, max_version: 1, client_name: String::new() }.encode(&mut hello);
    hello[5] = b'X';
    assert_eq!(ClientMessage::decode(&hello, MAX_FRAME_LEN), Err(ProtocolError::BadMagic));

    let mut autocommit = Vec::new();
    ClientMessage::SetAutocommit { on: true }.encode(&mut autocommit);
    autocommit[5] = 2;
    assert!(ClientMessage::decode(&autocommit, MAX_FRAME_LEN).is_err());
}

#[test]
fn invalid_utf8_in_text_is_refused_at_decode_time() {
    let mut b = RowBatchBuilder::new(1);
    b.push(ValueRef::Text("ab"));
    b.end_row();
    let mut buf = Vec::new();
    ServerMessage::Rows { batch: b.finish(), last: true }.encode(&mut buf);
    let at = buf.len() - 2;
    buf[at] = 0xFF;
    assert_eq!(ServerMessage::decode(&buf, MAX_FRAME_LEN), Err(ProtocolError::InvalidUtf8));
}

#[test]
fn a_row_count_the_payload_cannot_hold_is_refused_without_allocating() {
    let mut buf = Vec::new();
    ServerMessage::Rows { batch: RowBatchBuilder::new(3).finish(), last: true }.encode(&mut buf);
    // rows field: after header(5) + last(1) + columns(2)
    buf[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(ServerMessage::decode(&buf, MAX_FRAME_LEN).is_err());
}

#[test]
fn row_batches_give_back_each_value_by_row_and_column() {
    let batch = sample_batch();
    assert_eq!((batch.rows(), batch.columns()), (4, 10));
    assert_eq!(batch.value(0, 3), ValueRef::Text("grüß dich €"));
    assert_eq!(batch.value(2, 0), ValueRef::Int(1));
    assert!(batch.value(3, 9).is_null());
    assert_eq!(batch.row(0).count(), 10);
}

#[test]
fn random_bytes_never_panic_either_decoder() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x2fa);
    let mut valid = Vec::new();
    for m in client_messages() {
        m.encode(&mut valid);
    }
    for m in server_messages() {
        m.encode(&mut valid);
    }
    for round in 0..20_000 {
        let mut buf: Vec<u8> = if round % 2 == 0 {
            let len = rng.gen_range(0..64);
            (0..len).map(|_| rng.gen()).collect()
        } else {
            // Mutate real frames: the interesting inputs are almost valid.
            let start = rng.gen_range(0..valid.len());
            let mut b = valid[start..(start + rng.gen_range(1..200)).min(valid.len())].to_vec();
            for _ in 0..rng.gen_range(1..4) {
                let i = rng.gen_range(0..b.len());
                b[i] = rng.gen();
            }
            b
        };
        if round % 3 == 0 && !buf.is_empty() {
            buf[0] = *[0x04u8, 0x06, 0x87, 0x85, 0x86, 0x0C].get(round % 6).unwrap();
        }
        let _ = ClientMessage::decode(&buf, MAX_FRAME_LEN);
        let _ = ServerMessage::decode(&buf, MAX_FRAME_LEN);
    }
}

#[test]
fn version_negotiation_picks_the_highest_common_version() {
    assert_eq!(negotiate_version(1, 9), Some(PROTOCOL_VERSION));
    assert_eq!(negotiate_version(PROTOCOL_VERSION + 1, PROTOCOL_VERSION + 5), None);
    assert_eq!(negotiate_version(0, 0), None);
    // A version 1 driver is still served; this driver offers no version below 2.
    assert_eq!(negotiate_version(1, 1), Some(1));
    assert_eq!(negotiate_version(DRIVER_MIN_PROTOCOL_VERSION, PROTOCOL_VERSION), Some(PROTOCOL_VERSION));
    // A version 2 driver still gets version 2, and is never sent anything newer.
    assert_eq!(negotiate_version(2, 2), Some(2));
}

#[test]
fn secrets_never_show_in_debug_output() {
    let m = ClientMessage::Login { user: "alice".into(), password: "hunter2".into() };
    let shown = format!("{m:?}");
    assert!(shown.contains("alice") && !shown.contains("hunter2"), "{shown}");
    let c = format!("{:?}", ClientMessage::SecondFactor { code: "654321".into() });
    assert!(!c.contains("654321"));
}

#[test]
fn a_received_batch_reads_every_value_as_the_built_one_does() {
    let built = sample_batch();
    let mut buf = Vec::new();
    ServerMessage::Rows { batch: built.clone(), last: false }.encode(&mut buf);
    let (message, _) = ServerMessage::decode(&buf, MAX_FRAME_LEN).unwrap().unwrap();
    let ServerMessage::Rows { batch: received, .. } = message else { panic!("not rows") };
    assert_eq!(received, built);
    for row in 0..built.rows() {
        for column in 0..built.columns() {
            assert_eq!(received.value(row, column), built.value(row, column), "row {row} column {column}");
        }
    }
    assert_eq!(received.value(0, 4), ValueRef::Bytes(&[0, 255, 7]));
    assert_eq!(received.value(0, 8), ValueRef::Decimal("-12345678901234567890.000001"));
    // Several text values share the batch's text storage without running into each other.
    let mut b = RowBatchBuilder::new(2);
    for s in ["", "é", "ab", "€€"] {
        b.push(ValueRef::Text(s));
        b.push(ValueRef::Bytes(s.as_bytes()));
        b.end_row();
    }
    let mut buf = Vec::new();
    ServerMessage::Rows { batch: b.finish(), last: true }.encode(&mut buf);
    let (ServerMessage::Rows { batch, .. }, _) = ServerMessage::decode(&buf, MAX_FRAME_LEN).unwrap().unwrap() else {
        panic!()
    };
    let texts: Vec<_> = (0..4).map(|r| batch.value(r, 0)).collect();
    assert_eq!(texts, ["", "é", "ab", "€€"].map(ValueRef::Text));
    assert_eq!(batch.value(3, 1), ValueRef::Bytes("€€".as_bytes()));
}

#[test]
fn a_batch_on_its_own_decodes_from_its_bytes_and_refuses_every_truncation_and_extra_byte() {
    let batch = sample_batch();
    let bytes = batch.to_bytes();
    assert_eq!(RowBatch::decode_bytes(&bytes).unwrap(), batch);
    for cut in 0..bytes.len() {
        assert!(RowBatch::decode_bytes(&bytes[..cut]).is_err(), "a batch cut at {cut} bytes was accepted");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(RowBatch::decode_bytes(&longer).is_err(), "a trailing byte was accepted");
}

#[test]
fn rows_without_columns_are_refused_however_few_bytes_they_take() {
    // Found by the row_batch fuzz target: 0 columns, 4,021,684,214 rows, no data.
    let bytes = [0, 0, 0xef, 0xb6, 0x07, 0xf6, 0, 0, 0, 0];
    assert!(RowBatch::decode_bytes(&bytes).is_err());
    let mut message = Vec::new();
    ClientMessage::ExecDirect { sql: "SELECT 1".into(), params: RowBatchBuilder::new(0).finish(), fetch_rows: 1 }
        .encode(&mut message);
    assert!(ClientMessage::decode(&message, MAX_FRAME_LEN).unwrap().is_some(), "no columns and no rows still decode");
}

#[test]
fn a_rows_frame_from_the_batch_buffer_is_the_encoded_message_for_built_and_received_batches() {
    for last in [false, true] {
        let built = sample_batch();
        let mut encoded = Vec::new();
        ServerMessage::Rows { batch: built.clone(), last }.encode(&mut encoded);
        // A built batch fills the room it kept before its values.
        let frame = ServerMessage::Rows { batch: built.clone(), last }.into_frame();
        assert_eq!(frame, encoded, "built batch, last = {last}");
        // A received batch has no such room and is copied after a header.
        let (received, used) = ServerMessage::decode(&frame, MAX_FRAME_LEN).unwrap().unwrap();
        assert_eq!(used, frame.len());
        assert_eq!(received.clone().into_frame(), encoded, "received batch, last = {last}");
        let ServerMessage::Rows { batch, last: got } = received else { panic!("not rows") };
        assert_eq!((batch, got), (built, last));
    }
    // An empty batch, and the text of a received batch read in place: bytes and `&str` agree.
    let empty = RowBatchBuilder::new(3).finish();
    let frame = ServerMessage::Rows { batch: empty.clone(), last: true }.into_frame();
    let (ServerMessage::Rows { batch, .. }, _) = ServerMessage::decode(&frame, MAX_FRAME_LEN).unwrap().unwrap() else {
        panic!()
    };
    assert_eq!((batch.rows(), batch.byte_len()), (0, 0));
    let built = sample_batch();
    let frame = ServerMessage::Rows { batch: built, last: false }.into_frame();
    let (ServerMessage::Rows { batch, .. }, _) = ServerMessage::decode(&frame, MAX_FRAME_LEN).unwrap().unwrap() else {
        panic!()
    };
    assert_eq!(batch.text_bytes(0, 3), Some("grüß dich €".as_bytes()));
    assert_eq!(batch.value(0, 3), ValueRef::Text("grüß dich €"));
    // Only text gives its bytes: a decimal, bytes or NULL cell does not.
    assert_eq!((batch.text_bytes(0, 8), batch.text_bytes(0, 4), batch.text_bytes(0, 0)), (None, None, None));
}

#[test]
fn a_frame_decoded_in_its_own_buffer_is_the_message_decode_gives() {
    // Rows (the batch keeps the buffer), and a message of another kind.
    let rows = ServerMessage::Rows { batch: sample_batch(), last: true };
    let other = ServerMessage::ExecuteDone { row_count: -1 };
    for message in [rows, other] {
        let frame = message.clone().into_frame();
        let decoded = ServerMessage::decode_frame_buffer(frame.clone(), MAX_FRAME_LEN).unwrap();
        assert_eq!(decoded, message);
        // Received that way, it encodes to the same bytes again (its values are the
        // buffer's tail, not the whole buffer).
        assert_eq!(decoded.into_frame(), frame);
    }
    let frame = ServerMessage::Rows { batch: sample_batch(), last: false }.into_frame();
    let ServerMessage::Rows { batch, .. } = ServerMessage::decode_frame_buffer(frame.clone(), MAX_FRAME_LEN).unwrap()
    else {
        panic!("not rows")
    };
    assert_eq!(batch.text_bytes(0, 3), Some("grüß dich €".as_bytes()));
    assert_eq!(batch.byte_len(), sample_batch().byte_len());
    // A buffer must hold exactly one whole frame: not less, not more, within the limit.
    for cut in [0, 1, FRAME_HEADER_LEN, frame.len() - 1] {
        assert!(ServerMessage::decode_frame_buffer(frame[..cut].to_vec(), MAX_FRAME_LEN).is_err(), "cut at {cut}");
    }
    let mut longer = frame.clone();
    longer.push(0);
    assert!(ServerMessage::decode_frame_buffer(longer, MAX_FRAME_LEN).is_err(), "a trailing byte was accepted");
    assert!(ServerMessage::decode_frame_buffer(frame.clone(), frame.len() - FRAME_HEADER_LEN - 1).is_err());
    // A Rows frame whose values end before the frame does (a byte after them) is refused.
    let mut padded = frame.clone();
    padded.push(0);
    let len = (padded.len() - FRAME_HEADER_LEN) as u32;
    padded[1..FRAME_HEADER_LEN].copy_from_slice(&len.to_le_bytes());
    assert!(ServerMessage::decode_frame_buffer(padded.clone(), MAX_FRAME_LEN).is_err());
    assert!(ServerMessage::decode(&padded, MAX_FRAME_LEN).is_err(), "decode and decode_frame_buffer agree");
    // The header's length as a reader sees it, before the rest arrives.
    let announced = frame.len() - FRAME_HEADER_LEN;
    assert_eq!(frame_payload_len(&frame[..FRAME_HEADER_LEN], MAX_FRAME_LEN).unwrap(), Some(announced));
    assert_eq!(frame_payload_len(&frame[..FRAME_HEADER_LEN - 1], MAX_FRAME_LEN).unwrap(), None);
    assert!(frame_payload_len(&frame, announced - 1).is_err());
}

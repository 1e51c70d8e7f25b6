//! Writes the seed corpus of the protocol targets: every message both ways, encoded by
//! the protocol crate itself, and row batches of every value type. Run from `fuzz/`:
//! `cargo run -p twofactor-fuzz-seeds` (the other targets' seeds come from the server's
//! own command line; see fuzz/README.md).

use std::path::Path;

use twofactor_protocol::{
    CatalogRequest, ClientMessage, ColumnDesc, Date, ErrorInfo, Nullability, ParamDesc, RowBatch, RowBatchBuilder,
    SecondFactor, SecondFactorMethod, Secret, ServerMessage, Time, Timestamp, ValueRef,
};

fn batch(rows: usize) -> RowBatch {
    let date = Date { year: 2024, month: 2, day: 29 };
    let time = Time { hour: 23, minute: 59, second: 58, nanos: 123_456_789 };
    let values = [
        ValueRef::Null,
        ValueRef::Int(-42),
        ValueRef::Double(2.5),
        ValueRef::Text("abc é"),
        ValueRef::Bytes(&[0, 255, 7]),
        ValueRef::Date(date),
        ValueRef::Time(time),
        ValueRef::Timestamp(Timestamp { date, time }),
        ValueRef::Decimal("-123.4500"),
        ValueRef::Bool(true),
    ];
    let mut builder = RowBatchBuilder::new(values.len() as u16);
    for _ in 0..rows {
        for v in values {
            builder.push(v);
        }
        builder.end_row();
    }
    builder.finish()
}

fn column(name: &str, sql_type: i16) -> ColumnDesc {
    ColumnDesc {
        name: name.into(),
        sql_type,
        type_name: "VARCHAR".into(),
        column_size: 255,
        decimal_digits: 0,
        nullable: Nullability::Nullable,
        table_name: "t".into(),
    }
}

fn client_messages() -> Vec<ClientMessage> {
    let s = |t: &str| Some(t.to_owned());
    vec![
        ClientMessage::Hello { min_version: 1, max_version: 1, client_name: "seed".into() },
        ClientMessage::Login { user: "alice".into(), password: Secret::new("pw".into()) },
        ClientMessage::SecondFactor { code: Secret::new("123456".into()) },
        ClientMessage::ExecDirect { sql: "SELECT ?".into(), params: batch(1), fetch_rows: 4096 },
        ClientMessage::ExecDirect { sql: "SELECT 1".into(), params: batch(0), fetch_rows: 1 },
        ClientMessage::Prepare { sql: "INSERT INTO t VALUES (?, ?)".into() },
        ClientMessage::Execute { statement_id: 7, params: batch(3), fetch_rows: 100 },
        ClientMessage::Fetch { max_rows: 4096 },
        ClientMessage::CloseCursor,
        ClientMessage::CloseStatement { statement_id: 7 },
        ClientMessage::SetAutocommit { on: false },
        ClientMessage::EndTransaction { commit: true },
        ClientMessage::Catalog {
            request: CatalogRequest::Tables {
                catalog: None,
                schema: s("main"),
                table: s("%"),
                table_types: s("TABLE"),
            },
            fetch_rows: 10,
        },
        ClientMessage::Catalog {
            request: CatalogRequest::Columns { catalog: None, schema: None, table: s("t"), column: s("%") },
            fetch_rows: 10,
        },
        ClientMessage::Catalog {
            request: CatalogRequest::PrimaryKeys { catalog: None, schema: None, table: "t".into() },
            fetch_rows: 10,
        },
        ClientMessage::Catalog {
            request: CatalogRequest::ForeignKeys { pk_table: s("a"), fk_table: None },
            fetch_rows: 10,
        },
        ClientMessage::Catalog {
            request: CatalogRequest::Statistics { table: "t".into(), unique_only: true },
            fetch_rows: 1,
        },
        ClientMessage::Catalog { request: CatalogRequest::SpecialColumns { table: "t".into() }, fetch_rows: 1 },
        ClientMessage::Catalog { request: CatalogRequest::TypeInfo { data_type: 12 }, fetch_rows: 1 },
        ClientMessage::Cancel { session_id: 99, key: Secret::new([7; 16]) },
        ClientMessage::Ping,
        ClientMessage::Terminate,
    ]
}

fn server_messages() -> Vec<ServerMessage> {
    vec![
        ServerMessage::HelloOk { version: 1, server_name: "TwoFactor".into() },
        ServerMessage::FirstFactorOk {
            session_id: 1,
            cancel_key: Secret::new([1; 16]),
            second_factor: SecondFactor::Required {
                method: SecondFactorMethod::Totp,
                seconds_left: 120,
                hint: "".into(),
            },
        },
        ServerMessage::FirstFactorOk {
            session_id: 2,
            cancel_key: Secret::new([2; 16]),
            second_factor: SecondFactor::Required {
                method: SecondFactorMethod::Sms,
                seconds_left: 60,
                hint: "***12".into(),
            },
        },
        ServerMessage::FirstFactorOk {
            session_id: 3,
            cancel_key: Secret::new([3; 16]),
            second_factor: SecondFactor::NotRequired,
        },
        ServerMessage::SecondFactorOk,
        ServerMessage::Error(ErrorInfo::new(b"28000", 1001, "[TwoFactor][Server] code rejected").fatal()),
        ServerMessage::Error(ErrorInfo::new(b"42000", 1, "syntax error")),
        ServerMessage::Prepared {
            statement_id: 7,
            params: vec![ParamDesc { sql_type: 4, column_size: 10, decimal_digits: 0, nullable: Nullability::Unknown }],
            columns: vec![column("a", 4), column("b", 12)],
        },
        ServerMessage::ResultSet { columns: vec![column("a", 4), column("é", -9)] },
        ServerMessage::Rows { batch: batch(2), last: false },
        ServerMessage::Rows { batch: batch(0), last: true },
        ServerMessage::ExecuteDone { row_count: -1 },
        ServerMessage::ExecuteDone { row_count: 3 },
        ServerMessage::Ok,
        ServerMessage::Pong,
    ]
}

fn write(dir: &Path, name: String, bytes: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn main() {
    let corpus = Path::new("corpus");
    for (i, m) in client_messages().iter().enumerate() {
        let mut bytes = Vec::new();
        m.encode(&mut bytes);
        write(&corpus.join("client_message"), format!("seed-{i:02}"), &bytes);
    }
    // A session's whole conversation in one input: the decoder stops after one frame.
    let mut conversation = Vec::new();
    client_messages().iter().for_each(|m| m.encode(&mut conversation));
    write(&corpus.join("client_message"), "seed-all".into(), &conversation);
    for (i, m) in server_messages().iter().enumerate() {
        let mut bytes = Vec::new();
        m.encode(&mut bytes);
        write(&corpus.join("server_message"), format!("seed-{i:02}"), &bytes);
    }
    for rows in [0, 1, 2, 5] {
        write(&corpus.join("row_batch"), format!("seed-{rows}-rows"), &batch(rows).to_bytes());
    }
}

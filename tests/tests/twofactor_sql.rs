//! `twofactor-sql`, the interactive client: on a real terminal (tmux) it prompts for the
//! password and the code with the method and the time left, runs SQL and `\dt`, prints
//! aligned tables, keeps a 0600 history without secrets, cancels on Ctrl-C, and exits
//! non-zero on a wrong code; `-c` runs without a terminal.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use twofactor_e2e::tmux::{self, shell_quote, Tmux};
use twofactor_e2e::{driver_library, isolate_odbc_config, smtp_sink, sql_client_binary, ServerOptions, TestServer};

const SCREEN_WAIT: Duration = Duration::from_secs(20);
/// Between a no-echo prompt appearing and typing into it.
const ECHO_OFF_DELAY: Duration = Duration::from_millis(300);

/// `twofactor-sql ARGS` without a terminal (standard input empty).
fn run_client(args: &[&str]) -> Output {
    isolate_odbc_config();
    Command::new(sql_client_binary()).args(args).stdin(Stdio::null()).output().expect("run twofactor-sql")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn dash_c_runs_each_command_and_prints_an_aligned_table() {
    let server = TestServer::start();
    let user = server.user("sql_dash_c");
    let conn = server.connection_string(&user, &format!("TwoFactorCode={}", user.fresh_code()));
    let out = run_client(&[
        &conn,
        "-c",
        "CREATE TABLE fruit (id INTEGER, name TEXT); INSERT INTO fruit VALUES (1, 'apple'), (20, NULL)",
        "-c",
        "SELECT id, name FROM fruit ORDER BY id",
        "-c",
        "\\d fruit",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("(2 rows affected)"), "{stdout}");
    let expected =
        "+----+-------+\n| id | name  |\n+====+=======+\n|  1 | apple |\n| 20 | NULL  |\n+----+-------+\n(2 rows)";
    assert!(stdout.contains(expected), "{stdout}");
    assert!(stdout.contains("Table \"fruit\""), "{stdout}");
    assert!(stdout.contains("| Column | Type"), "{stdout}");
    assert!(stdout.contains("| id ") && stdout.contains("| name "), "{stdout}");
}

#[test]
fn dash_c_stops_at_the_first_error_prints_its_sqlstate_and_exits_1() {
    let server = TestServer::start();
    let user = server.user_without_two_factor("sql_error");
    let conn = server.connection_string(&user, "");
    let out = run_client(&[&conn, "-c", "SELECT * FROM no_such_table", "-c", "SELECT 'not reached'"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("ERROR [") && stderr.contains("no_such_table"), "{stderr}");
    assert!(!text(&out.stdout).contains("not reached"), "{out:?}");
}

#[test]
fn dash_f_runs_a_file_with_statements_and_backslash_commands() {
    let server = TestServer::start();
    let user = server.user_without_two_factor("sql_file");
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("script.sql");
    std::fs::write(
        &script,
        "CREATE TABLE notes (body TEXT);\nINSERT INTO notes VALUES ('a;b');\n\\dt\nSELECT body FROM notes\n",
    )
    .unwrap();
    let conn = server.connection_string(&user, "");
    let out = run_client(&[&conn, "-f", script.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("| notes | TABLE |"), "{stdout}");
    assert!(stdout.contains("| a;b  |"), "{stdout}");
}

#[test]
fn without_a_terminal_a_pending_second_factor_is_an_error_with_exit_2() {
    let server = TestServer::start();
    let user = server.user("sql_no_tty");
    let out = run_client(&[&server.connection_string(&user, ""), "-c", "SELECT 1"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(text(&out.stderr).contains("no terminal to ask for it"), "{out:?}");
}

/// The client under tmux with a private HOME (its history goes there); the command
/// line ends with a line giving the exit status, and the pane stays.
fn start_on_terminal(args: &[&str], home: &std::path::Path) -> Tmux {
    start_on_terminal_with(args, home, &[])
}

fn start_on_terminal_with(args: &[&str], home: &std::path::Path, env: &[(&str, &std::path::Path)]) -> Tmux {
    isolate_odbc_config();
    let mut command = shell_quote(&sql_client_binary().display().to_string());
    for a in args {
        command.push(' ');
        command.push_str(&shell_quote(a));
    }
    let line = format!("{command}; echo \"exit status $?\"; sleep 60");
    let state = home.join("state");
    let mut all = vec![("HOME", home), ("XDG_STATE_HOME", state.as_path())];
    all.extend_from_slice(env);
    Tmux::start(&line, &all)
}

#[test]
fn on_a_terminal_it_prompts_for_password_and_code_then_runs_sql_and_dt() {
    if !tmux::available() {
        return;
    }
    let server = TestServer::start();
    let user = server.user("sql_tmux");
    let home = tempfile::tempdir().unwrap();
    // No PWD: the client asks for it.
    let conn = server.connection_string_for(&user.name, "", "").replace(";PWD=;", ";");
    let term = start_on_terminal(&[&conn], home.path());
    term.wait_for("Password for sql_tmux: ", SCREEN_WAIT);
    // The prompt is printed just before echo goes off (rpassword): typing in that instant
    // would be echoed, as with sudo; a person never types that fast.
    std::thread::sleep(ECHO_OFF_DELAY);
    term.type_line(&user.password);
    let screen = term.wait_for("TOTP code (", SCREEN_WAIT);
    assert!(screen.contains(" s left): "), "{screen}");
    let code = user.fresh_code();
    std::thread::sleep(ECHO_OFF_DELAY);
    term.type_line(&code);
    let screen = term.wait_for("twofactor=> ", SCREEN_WAIT);
    assert!(screen.contains("verified with the TOTP code"), "{screen}");
    assert!(!screen.contains(&user.password), "the password was echoed:\n{screen}");
    assert!(!screen.contains(&code), "the code {code} was echoed:\n{screen}");

    term.type_line("CREATE TABLE city (name TEXT, people INTEGER);");
    term.wait_for("OK", SCREEN_WAIT);
    term.type_line("INSERT INTO city VALUES ('Oslo', 709000), ('Bergen', 291000);");
    term.wait_for("(2 rows affected)", SCREEN_WAIT);
    // Over two lines: the statement ends at the ';'.
    term.type_line("SELECT name, people FROM city");
    term.wait_for("twofactor-> ", SCREEN_WAIT);
    term.type_line("ORDER BY people DESC;");
    let screen = term.wait_for("(2 rows)", SCREEN_WAIT);
    let table = "| name   | people |\n+========+========+\n| Oslo   | 709000 |\n| Bergen | 291000 |";
    assert!(screen.contains(table), "{screen}");

    term.type_line("\\dt");
    let screen = term.wait_for("| city | TABLE |", SCREEN_WAIT);
    assert!(screen.contains("| Name | Type  |"), "{screen}");
    term.type_line("\\conninfo");
    let screen = term.wait_for("Two-factor", SCREEN_WAIT);
    assert!(screen.contains("sql_tmux"), "{screen}");
    term.type_line("\\q");
    term.wait_for("exit status 0", SCREEN_WAIT);

    let history = home.path().join("state/twofactor-sql/history");
    let mode = std::fs::metadata(&history).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "history mode");
    let dir_mode = std::fs::metadata(history.parent().unwrap()).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700, "history directory mode");
    let recorded = std::fs::read_to_string(&history).unwrap();
    assert!(recorded.contains("ORDER BY people DESC;") && recorded.contains("\\dt"), "{recorded}");
    assert!(!recorded.contains(&code) && !recorded.contains(&user.password), "secrets in the history: {recorded}");
}

#[test]
fn on_a_terminal_a_wrong_code_is_refused_and_the_client_exits_2() {
    if !tmux::available() {
        return;
    }
    let server = TestServer::start();
    let user = server.user("sql_tmux_wrong");
    let home = tempfile::tempdir().unwrap();
    let term = start_on_terminal(&[&server.connection_string(&user, "")], home.path());
    term.wait_for("TOTP code (", SCREEN_WAIT);
    std::thread::sleep(ECHO_OFF_DELAY);
    term.type_line(&user.wrong_code());
    let screen = term.wait_for("exit status 2", SCREEN_WAIT);
    assert!(screen.contains("ERROR [28000] (1002)"), "{screen}");
    assert!(screen.contains("The two-factor code was rejected"), "{screen}");
}

#[test]
fn on_a_terminal_ctrl_c_cancels_the_running_statement_and_the_session_goes_on() {
    if !tmux::available() {
        return;
    }
    let server = TestServer::start();
    let user = server.user_without_two_factor("sql_tmux_cancel");
    let home = tempfile::tempdir().unwrap();
    let term = start_on_terminal(&[&server.connection_string(&user, "")], home.path());
    term.wait_for("twofactor=> ", SCREEN_WAIT);
    // Ctrl-C at the prompt drops the line being typed.
    term.type_line("SELECT 'dropped'");
    term.wait_for("twofactor-> ", SCREEN_WAIT);
    term.key("C-c");
    term.type_line("SELECT 'kept';");
    let screen = term.wait_for("(1 row)", SCREEN_WAIT);
    assert!(!screen.contains("| dropped"), "{screen}");
    // A statement that runs for minutes.
    term.type_line(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c LIMIT 1 OFFSET 2000000000;",
    );
    std::thread::sleep(Duration::from_millis(1500));
    term.key("C-c");
    let screen = term.wait_for("HY008", SCREEN_WAIT);
    assert!(screen.contains("cancelling the statement"), "{screen}");
    term.type_line("SELECT 'still here';");
    term.wait_for("| still here   |", SCREEN_WAIT);
    term.key("C-d");
    term.wait_for("exit status 0", SCREEN_WAIT);
}

#[test]
fn a_dsn_with_its_password_goes_straight_to_the_e_mail_code_prompt() {
    if !tmux::available() {
        return;
    }
    let server =
        TestServer::start_with(ServerOptions { config: smtp_sink::server_config(), ..ServerOptions::default() });
    let user = server.user("sql_tmux_mail");
    server.admin(&["user", "email", "sql_tmux_mail", "jane.doe@example.org"]);
    server.admin(&["user", "method", "sql_tmux_mail", "email"]);
    let home = tempfile::tempdir().unwrap();
    let odbc_ini = home.path().join("odbc.ini");
    std::fs::write(
        &odbc_ini,
        format!(
            "[SqlMail]\nDriver = {}\nServer = 127.0.0.1\nPort = {}\nCAFile = {}\nPWD = {}\n",
            driver_library().display(),
            server.port,
            server.ca_file().display(),
            user.password
        ),
    )
    .unwrap();
    let term = start_on_terminal_with(&["SqlMail", "-U", "sql_tmux_mail"], home.path(), &[("ODBCINI", &odbc_ini)]);
    let screen = term.wait_for("e-mail code sent to ", SCREEN_WAIT);
    assert!(!screen.contains("Password"), "the DSN has the password: {screen}");
    assert!(screen.contains("@example.org (") && screen.contains(" s left): "), "{screen}");
    assert!(!screen.contains("jane.doe"), "the address stays masked: {screen}");
    // Ctrl-C at the code prompt ends the client, as SIGINT would.
    term.key("C-c");
    term.wait_for("exit status 130", SCREEN_WAIT);
}

#[test]
fn on_postgresql_dt_shows_the_schema_column_and_d_describes_a_table() {
    let Some(pg) = twofactor_e2e::pg::PgTestServer::start(&["sql_pg"]) else { return };
    let user = pg.user("sql_pg");
    let conn = pg.connection_string(&user, &format!("TwoFactorCode={}", user.fresh_code()));
    let out = run_client(&[
        &conn,
        "-c",
        "CREATE TABLE harbour (id int8 PRIMARY KEY, name varchar(40) NOT NULL)",
        "-c",
        "\\dt harb%",
        "-c",
        "\\d harbour",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("| Schema | Name    | Type  |"), "{stdout}");
    assert!(stdout.contains("| public | harbour | TABLE |"), "{stdout}");
    assert!(stdout.contains("| name   | varchar"), "{stdout}");
}

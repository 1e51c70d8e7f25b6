use super::*;

fn t(sql: &str) -> String {
    translate(sql).0.into_owned()
}

#[test]
fn markers_are_numbered_left_to_right() {
    assert_eq!(t("INSERT INTO items (id, name) VALUES (?, ?)"), "INSERT INTO items (id, name) VALUES ($1, $2)");
    assert_eq!(translate("SELECT ?::int + ?").1, 2);
    assert_eq!(t("SELECT * FROM t WHERE a=? AND b IN (?,?)"), "SELECT * FROM t WHERE a=$1 AND b IN ($2,$3)");
}

#[test]
fn markers_stay_tokens_of_their_own() {
    // `x$1` would be an identifier, `$11` another marker.
    assert_eq!(t("SELECT x?"), "SELECT x $1");
    assert_eq!(t("SELECT ?1"), "SELECT $1 1");
}

#[test]
fn question_marks_in_literals_identifiers_bodies_and_comments_are_text() {
    for sql in [
        "SELECT 'a?b', 'it''s ?'",
        "SELECT E'\\' ?'",
        "SELECT e'x\\\\', 'y?'",
        "SELECT U&'d\\0061t?' UESCAPE '!'",
        "SELECT \"who?\" FROM \"t\"\"?\"",
        "SELECT U&\"a?\"",
        "SELECT $$ ? $$, $f$ $$ ? $f$",
        "SELECT 1 -- why?\n",
        "SELECT /* a /* nested? */ still? */ 1",
        "SELECT 'unterminated ?",
        "SELECT /* unterminated ?",
        "SELECT $x$ unterminated ?",
    ] {
        assert_eq!(translate(sql), (Cow::Borrowed(sql), 0), "{sql}");
    }
    assert_eq!(t("SELECT 'a?', ? -- ?\n, ?"), "SELECT 'a?', $1 -- ?\n, $2");
    assert_eq!(t("SELECT E'\\'', ?"), "SELECT E'\\'', $1");
    assert_eq!(t("SELECT $$?$$, ?, /* ? */ ?"), "SELECT $$?$$, $1, /* ? */ $2");
}

#[test]
fn a_backslash_escapes_only_in_e_strings() {
    // Standard strings: the backslash is a character, the quote ends the literal.
    assert_eq!(t("SELECT 'a\\', ?"), "SELECT 'a\\', $1");
    // An identifier ending in e is not an E string.
    assert_eq!(t("SELECT type'\\', ?"), "SELECT type'\\', $1");
}

#[test]
fn dollar_signs_that_are_not_quotes_are_text() {
    assert_eq!(t("SELECT a$b$c, ?"), "SELECT a$b$c, $1");
    assert_eq!(t("SELECT 1$ ?"), "SELECT 1$ $1");
}

#[test]
fn statements_with_dollar_markers_are_left_alone() {
    let sql = "SELECT doc ? 'k', $1 FROM t";
    assert_eq!(translate(sql), (Cow::Borrowed(sql), 0));
    // `$1` inside a literal is text: the `?` is still a marker.
    assert_eq!(t("SELECT '$1', ?"), "SELECT '$1', $1");
}

#[test]
fn scripts_are_statements_after_a_semicolon_outside_literals() {
    assert!(is_script("INSERT INTO t VALUES (1); UPDATE t SET a = 2"));
    assert!(is_script("SELECT 1;SELECT 2;"));
    for single in [
        "SELECT 1;",
        "SELECT 1; -- done\n",
        "SELECT 1; /* done */ ;",
        "SELECT ';x'",
        "SELECT E'\\';x'",
        "SELECT $$;x$$",
    ] {
        assert!(!is_script(single), "{single}");
    }
}

#[test]
fn jsonb_operators_are_markers_under_the_odbc_rule() {
    assert_eq!(t("SELECT doc ?| array['a'] FROM t"), "SELECT doc $1| array['a'] FROM t");
    assert_eq!(translate("SELECT jsonb_exists(doc, 'a') FROM t").1, 0);
}

/// A small deterministic generator (no dependency): xorshift.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Statements built from the characters the scanner cares about, in any order.
fn random_sql(rng: &mut Rng) -> String {
    const PIECES: &[&str] = &[
        "?", "'", "\"", "$", "$$", "$a$", "$1", "E'", "e", "U&", "&", "\\", "--", "\n", "/*", "*/", "/", "*", "a", "1",
        " ", "é", "?|", "x?", "''",
    ];
    let len = (rng.next() % 40) as usize;
    (0..len).map(|_| PIECES[(rng.next() % PIECES.len() as u64) as usize]).collect()
}

#[test]
fn any_text_scans_without_panic_and_maps_back_to_itself() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for _ in 0..200_000 {
        let sql = random_sql(&mut rng);
        let found = scan(&sql);
        let (out, n) = translate(&sql);
        // Every marker is a `?` of the input, in order.
        assert!(found.question_marks.windows(2).all(|w| w[0] < w[1]), "{sql:?}");
        assert!(found.question_marks.iter().all(|&i| sql.as_bytes()[i] == b'?'), "{sql:?}");
        if found.has_dollar_markers {
            assert_eq!((out.as_ref(), n), (sql.as_str(), 0), "{sql:?}");
            continue;
        }
        assert_eq!(n, found.question_marks.len(), "{sql:?}");
        // The output has `$n` markers, so translating it again changes nothing.
        if n > 0 {
            assert_eq!(translate(&out).0, out.as_ref(), "{sql:?}");
        }
        // Each marker became `$k` (plus at most a space either side); nothing else changed.
        let count = |s: &str, c: char| s.chars().filter(|&x| x == c).count();
        assert_eq!(count(&out, '?') + n, count(&sql, '?'), "{sql:?}");
        assert_eq!(count(&out, '$'), count(&sql, '$') + n, "{sql:?}");
        let digits: usize = (1..=n).map(|k| k.to_string().len()).sum();
        let grown = out.len() - sql.len() + n;
        assert!(grown >= n + digits && grown <= n + digits + 2 * n, "{sql:?} -> {out:?}");
        let without_space = |s: &str| s.replace(' ', "");
        let mut back = without_space(&out);
        for k in (1..=n).rev() {
            back = back.replacen(&format!("${k}"), "?", 1);
        }
        if n < 10 && !sql.contains("$") {
            assert_eq!(back, without_space(&sql), "{sql:?}");
        }
    }
}

#[test]
fn arbitrary_bytes_as_text_scan_in_linear_time() {
    // Every byte value (as the lossy text a client could send) and a long hostile input.
    let bytes: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let _ = translate(&String::from_utf8_lossy(&bytes));
    let nested = format!("{}?{}", "/*".repeat(200_000), "*/".repeat(200_000));
    let started = std::time::Instant::now();
    assert_eq!(translate(&nested).1, 0);
    let dollars = "$a$".repeat(200_000) + "?";
    assert_eq!(translate(&dollars).1, 1);
    let quotes = "'".repeat(400_001) + "?";
    assert_eq!(translate(&quotes).1, 0);
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
}

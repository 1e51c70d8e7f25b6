//! Splits input into statements: SQL up to a ';' outside quotes and comments, and
//! backslash commands (a line starting with '\' where a statement would begin).

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Sql(String),
    /// The whole line, without the leading '\': "dt", "d users".
    Command(String),
}

/// The complete items of `text`, and what is left of an unfinished statement.
pub fn split(text: &str) -> (Vec<Item>, String) {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    // Inside '...' / "..." (a doubled quote stays inside), a -- comment, a /* */ comment.
    let mut quote: Option<char> = None;
    let mut line_comment = false;
    let mut block_comment = false;
    while let Some(c) = chars.next() {
        if line_comment {
            current.push(c);
            line_comment = c != '\n';
            continue;
        }
        if block_comment {
            current.push(c);
            if c == '*' && chars.peek() == Some(&'/') {
                current.push(chars.next().unwrap_or('/'));
                block_comment = false;
            }
            continue;
        }
        if let Some(q) = quote {
            current.push(c);
            if c == q {
                if chars.peek() == Some(&q) {
                    current.push(chars.next().unwrap_or(q));
                } else {
                    quote = None;
                }
            }
            continue;
        }
        match c {
            '\\' if current.trim().is_empty() => {
                let mut line = String::new();
                while let Some(&n) = chars.peek() {
                    chars.next();
                    if n == '\n' {
                        break;
                    }
                    line.push(n);
                }
                items.push(Item::Command(line.trim().to_owned()));
                current.clear();
            }
            ';' => {
                let sql = current.trim();
                if !sql.is_empty() {
                    items.push(Item::Sql(sql.to_owned()));
                }
                current.clear();
            }
            '\'' | '"' => {
                quote = Some(c);
                current.push(c);
            }
            '-' if chars.peek() == Some(&'-') => {
                line_comment = true;
                current.push(c);
            }
            '/' if chars.peek() == Some(&'*') => {
                block_comment = true;
                current.push(c);
            }
            _ => current.push(c),
        }
    }
    (items, current)
}

/// Whether an unfinished remainder holds no SQL (only blanks and comments).
pub fn is_blank(rest: &str) -> bool {
    rest.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with("--")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(s: &str) -> Item {
        Item::Sql(s.into())
    }

    #[test]
    fn statements_end_at_semicolons_outside_quotes_and_comments() {
        let (items, rest) = split("SELECT 'a;b', \"c;\"\"d\"; -- x;y\nSELECT /* ; */ 2;\nSELECT 3");
        assert_eq!(items, vec![sql("SELECT 'a;b', \"c;\"\"d\""), sql("-- x;y\nSELECT /* ; */ 2")]);
        assert_eq!(rest.trim(), "SELECT 3");
    }

    #[test]
    fn a_backslash_line_is_a_command_only_where_a_statement_begins() {
        let (items, rest) = split("\\dt\nSELECT '\\x';\n  \\d  users \n");
        assert_eq!(items, vec![Item::Command("dt".into()), sql("SELECT '\\x'"), Item::Command("d  users".into())]);
        assert!(is_blank(&rest));
    }

    #[test]
    fn an_escaped_quote_does_not_end_the_string() {
        let (items, rest) = split("SELECT 'it''s; fine';");
        assert_eq!(items, vec![sql("SELECT 'it''s; fine'")]);
        assert!(is_blank(&rest));
        assert!(!is_blank("-- c\nSELECT"));
    }
}

//! Runs SQL and prints what it gave: an aligned table, or the rows affected.

use odbc_api::handles::StatementRef;
use odbc_api::{Cursor, CursorImpl, ResultSetMetadata};

use crate::cancel;
use crate::error::SqlError;
use crate::odbc_raw::{self, Outcome};
use crate::session::Session;
use crate::table;

/// A result set as text: the column names and the rows (None: NULL).
pub struct Rows {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

/// Every row of `cursor` as text (UTF-16 from the driver, so any character survives).
pub fn collect(cursor: &mut CursorImpl<StatementRef<'_>>) -> Result<Rows, SqlError> {
    let n = u16::try_from(cursor.num_result_cols()?).unwrap_or(0);
    let headers = (1..=n).map(|i| cursor.col_name(i)).collect::<Result<Vec<_>, _>>()?;
    let mut rows = Vec::new();
    let mut buf = Vec::new();
    while let Some(mut row) = cursor.next_row()? {
        let mut values = Vec::with_capacity(usize::from(n));
        for i in 1..=n {
            let present = row.get_wide_text(i, &mut buf)?;
            values.push(present.then(|| String::from_utf16_lossy(&buf)));
        }
        rows.push(values);
    }
    Ok(Rows { headers, rows })
}

/// What to print for a statement without a result set.
fn affected(count: Option<usize>) -> String {
    match count {
        Some(1) => "(1 row affected)".into(),
        Some(n) if n > 0 => format!("({n} rows affected)"),
        _ => "OK".into(),
    }
}

/// Runs `sql` and prints its result. Ctrl-C while it runs (or while its rows are
/// fetched) cancels it (HY008).
pub fn run_sql(session: &Session, sql: &str) -> Result<(), SqlError> {
    let mut stmt = odbc_raw::allocate(session.handle())?;
    // Declared after the statement: dropped before it is freed (cancel.rs).
    let _cancellable = cancel::Running::new(odbc_raw::statement_id(&stmt));
    match odbc_raw::exec_direct(&mut stmt, sql)? {
        Outcome::Rows(mut cursor) => {
            let rows = collect(&mut cursor)?;
            println!("{}", table::render(&rows.headers, &rows.rows));
        }
        Outcome::Count(count) => println!("{}", affected(count)),
    }
    Ok(())
}

/// Runs a catalog function (`call` on a fresh statement) and returns its rows.
pub fn catalog(
    session: &Session,
    call: impl for<'s> FnOnce(&'s mut odbc_api::handles::StatementImpl<'_>) -> Result<Outcome<'s>, SqlError>,
) -> Result<Rows, SqlError> {
    let mut stmt = odbc_raw::allocate(session.handle())?;
    let _cancellable = cancel::Running::new(odbc_raw::statement_id(&stmt));
    let rows = match call(&mut stmt)? {
        Outcome::Rows(mut cursor) => collect(&mut cursor)?,
        Outcome::Count(_) => Rows { headers: Vec::new(), rows: Vec::new() },
    };
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_without_rows_say_what_they_changed() {
        assert_eq!(affected(Some(3)), "(3 rows affected)");
        assert_eq!(affected(Some(1)), "(1 row affected)");
        assert_eq!(affected(Some(0)), "OK");
        assert_eq!(affected(None), "OK");
    }
}

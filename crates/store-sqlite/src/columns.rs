//! A row's columns by name, whichever driver read it: sqlx's rows, and rusqlite's for the
//! reads run on the caller's thread (see [`crate::inline`]). The store's tables hold text
//! and integers only, so one mapping from a row to the model serves both.

use crate::convert::corrupt;
use roster_core::store::StoreResult;
use sqlx::Row as _;
use std::borrow::Cow;

/// A column's value as stored: SQLite's TEXT or INTEGER, or NULL.
pub(crate) trait Columns {
    /// The column named `prefix` followed by `col` (a join's `o_id`, `o_name`, ...).
    fn text_at(&self, prefix: &str, col: &str) -> StoreResult<Option<String>>;
    fn int_at(&self, prefix: &str, col: &str) -> StoreResult<Option<i64>>;

    fn text(&self, col: &str) -> StoreResult<Option<String>> {
        self.text_at("", col)
    }

    fn int(&self, col: &str) -> StoreResult<Option<i64>> {
        self.int_at("", col)
    }
}

/// A row's columns named with a prefix, read by their names without it: one mapping reads
/// a table's columns alone or beside a join's others (`s_id`, `i_id`, ...).
pub(crate) struct Prefixed<'a, R: ?Sized> {
    row: &'a R,
    prefix: &'a str,
}

impl<'a, R: Columns + ?Sized> Prefixed<'a, R> {
    pub fn new(row: &'a R, prefix: &'a str) -> Self {
        Self { row, prefix }
    }

    /// This prefix followed by `more`, joined only when there is more.
    fn prefix(&self, more: &str) -> Cow<'a, str> {
        match more {
            "" => Cow::Borrowed(self.prefix),
            _ => Cow::Owned(format!("{}{more}", self.prefix)),
        }
    }
}

impl<R: Columns + ?Sized> Columns for Prefixed<'_, R> {
    fn text_at(&self, prefix: &str, col: &str) -> StoreResult<Option<String>> {
        self.row.text_at(&self.prefix(prefix), col)
    }

    fn int_at(&self, prefix: &str, col: &str) -> StoreResult<Option<i64>> {
        self.row.int_at(&self.prefix(prefix), col)
    }
}

/// What a column may be read as; NULL where the type says it may not be is corrupt.
pub(crate) trait Value: Sized {
    fn from_column<R: Columns + ?Sized>(row: &R, col: &str) -> StoreResult<Self>;
}

/// The column `col` of `row`, as `T`.
pub(crate) fn get<T: Value>(row: &(impl Columns + ?Sized), col: &str) -> StoreResult<T> {
    T::from_column(row, col)
}

fn null(col: &str) -> roster_core::store::StoreError {
    corrupt(format!("{col} is NULL"))
}

impl Value for Option<String> {
    fn from_column<R: Columns + ?Sized>(row: &R, col: &str) -> StoreResult<Self> {
        row.text(col)
    }
}

impl Value for String {
    fn from_column<R: Columns + ?Sized>(row: &R, col: &str) -> StoreResult<Self> {
        row.text(col)?.ok_or_else(|| null(col))
    }
}

impl Value for Option<i64> {
    fn from_column<R: Columns + ?Sized>(row: &R, col: &str) -> StoreResult<Self> {
        row.int(col)
    }
}

impl Value for i64 {
    fn from_column<R: Columns + ?Sized>(row: &R, col: &str) -> StoreResult<Self> {
        row.int(col)?.ok_or_else(|| null(col))
    }
}

impl Columns for sqlx::sqlite::SqliteRow {
    fn text_at(&self, prefix: &str, col: &str) -> StoreResult<Option<String>> {
        sqlx_column(self, prefix, col)
    }

    fn int_at(&self, prefix: &str, col: &str) -> StoreResult<Option<i64>> {
        sqlx_column(self, prefix, col)
    }
}

/// The column named `prefix` and `col` of a sqlx row, which looks columns up by their
/// whole name.
fn sqlx_column<'r, T>(row: &'r sqlx::sqlite::SqliteRow, prefix: &str, col: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    match prefix {
        "" => row.try_get(col),
        _ => row.try_get(format!("{prefix}{col}").as_str()),
    }
    .map_err(crate::map_err)
}

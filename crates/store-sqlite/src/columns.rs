//! A row's columns by name, whichever driver read it: sqlx's rows, and rusqlite's for the
//! reads run on the caller's thread (see [`crate::inline`]). The store's tables hold text
//! and integers only, so one mapping from a row to the model serves both.

use crate::convert::corrupt;
use roster_core::store::StoreResult;
use sqlx::Row as _;

/// A column's value as stored: SQLite's TEXT or INTEGER, or NULL.
pub(crate) trait Columns {
    fn text(&self, col: &str) -> StoreResult<Option<String>>;
    fn int(&self, col: &str) -> StoreResult<Option<i64>>;
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
    fn text(&self, col: &str) -> StoreResult<Option<String>> {
        self.try_get(col).map_err(crate::map_err)
    }

    fn int(&self, col: &str) -> StoreResult<Option<i64>> {
        self.try_get(col).map_err(crate::map_err)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn text(&self, col: &str) -> StoreResult<Option<String>> {
        self.get(col).map_err(crate::inline::map_err)
    }

    fn int(&self, col: &str) -> StoreResult<Option<i64>> {
        self.get(col).map_err(crate::inline::map_err)
    }
}

//! Reads run on the caller's own thread, for the few that nearly every request makes:
//! a session with its holder, a bearer token with its creator, and a member's access for a
//! permission check.
//!
//! sqlx runs each SQLite connection on a thread of its own and hands it every statement,
//! and every row back, through channels. For these reads that handoff is most of the cost:
//! SQLite answers them from its page cache in microseconds, while waking the connection's
//! thread and the request's task again costs several context switches (see
//! `docs/benchmarks.md`, *Reads on the request's thread*). So each read connection has a
//! second handle on the same file, through rusqlite (the same SQLite library, linked once),
//! used only by these reads, only outside write transactions, and only while the caller
//! holds that read connection's lease.
//!
//! Blocking a runtime thread is fine for a point read from the page cache, not for waiting
//! on a lock. So this handle does not wait for another's lock: its busy timeout is zero, and
//! a read that finds the file busy (a rare case in WAL mode: another process recovering the
//! log, or holding the file exclusively) is sent to the connection's thread instead, which
//! waits as every other read does. (SQLite itself still retries, with short sleeps, a read
//! that raced a writer for the log's header: a rare race, not a lock.) It is also
//! `query_only`: nothing can write through it. The reads here are bounded by one person:
//! a session's rows are its holder's memberships, a check's their roles and groups.

use crate::columns::Columns;
use roster_core::store::{StoreError, StoreResult};
use rusqlite::{Connection, OpenFlags};
use std::cell::Cell;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

/// Statements each handle keeps prepared: the few reads above, with room to spare.
const STATEMENTS: usize = 16;

/// Opens a handle on the store's file, which the sqlx connections have already opened,
/// migrated and put in WAL mode.
pub(crate) fn open(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(map_err)?;
    conn.busy_timeout(Duration::ZERO).map_err(map_err)?;
    conn.execute_batch("PRAGMA query_only = ON; PRAGMA temp_store = MEMORY;")
        .map_err(map_err)?;
    conn.set_prepared_statement_cache_capacity(STATEMENTS);
    Ok(conn)
}

/// A read's statements: each alone for a handle here, and joined for sqlx, which sends
/// them in one call. They take the same parameters (`?1`, `?2`, ...), each statement those
/// it names.
pub(crate) struct Statements {
    each: Vec<String>,
    /// Each statement's column names, as a handle here first read them: the same for
    /// every handle and every run, since the reads here name every column they read (no
    /// `t.*`), so the names follow from the statement's text. Asking SQLite for them on
    /// each run, and collecting them, was a twentieth of a check's time.
    names: Vec<OnceLock<Vec<Box<str>>>>,
    joined: String,
}

impl Statements {
    pub fn new(each: Vec<String>) -> Self {
        // sqlx numbers plain `?` across the joined statements, while each statement here
        // takes its values from the first: only numbered parameters mean the same to both.
        debug_assert!(
            each.iter().all(|sql| sql
                .match_indices('?')
                .all(|(i, _)| sql[i + 1..].starts_with(|c: char| c.is_ascii_digit()))),
            "a read's statements number their parameters (?1, ?2, ...)"
        );
        let joined = each.join(";\n");
        Self {
            names: each.iter().map(|_| OnceLock::new()).collect(),
            each,
            joined,
        }
    }

    /// For sqlx: all of them in one string.
    pub fn joined(&self) -> &str {
        &self.joined
    }
}

/// What a read makes of its rows, given one at a time, from either driver.
pub(crate) trait Fold: Default {
    fn add<R: Columns>(&mut self, row: &R) -> StoreResult<()>;
}

/// Runs `statements` one after the other with `params` and gives their rows to a new `A`.
/// [`StoreError::Busy`] means nothing waited: the caller may ask the connection's thread.
///
/// Each statement is its own read transaction, as SQLite runs a statement outside `BEGIN`;
/// a read that needs one snapshot of several tables is one statement.
pub(crate) fn fold<A: Fold>(
    conn: &Connection,
    statements: &Statements,
    params: &[Option<&str>],
) -> StoreResult<A> {
    let mut acc = A::default();
    for (sql, known) in statements.each.iter().zip(&statements.names) {
        let mut stmt = conn.prepare_cached(sql).map_err(map_err)?;
        for i in 1..=stmt.parameter_count() {
            let value = params
                .get(i - 1)
                .ok_or_else(|| StoreError::Backend(format!("no value for parameter {i}")))?;
            stmt.raw_bind_parameter(i, value).map_err(map_err)?;
        }
        let mut rows = stmt.raw_query();
        let mut fresh: Option<Vec<Box<str>>> = None;
        while let Some(row) = rows.next().map_err(map_err)? {
            // A guard for a read that does use `*`: a migration adds columns, and SQLite
            // prepares a statement again when its tables change, so a statement that now
            // reads more columns than when its names were kept reads its own.
            let stmt: &rusqlite::Statement = row.as_ref();
            let count = stmt.column_count();
            let fits = |names: Option<&Vec<Box<str>>>| names.is_some_and(|n| n.len() == count);
            if !fits(known.get()) && !fits(fresh.as_ref()) {
                let names = (0..count)
                    .map(|i| stmt.column_name(i).map(Box::from).map_err(map_err))
                    .collect::<StoreResult<Vec<_>>>()?;
                known.get_or_init(|| names.clone());
                fresh = Some(names);
            }
            let names = match known.get() {
                Some(names) if names.len() == count => names,
                _ => fresh.as_deref().unwrap_or_default(),
            };
            acc.add(&Named {
                row,
                names,
                next: Cell::new(0),
            })?;
        }
    }
    Ok(acc)
}

/// A row with its columns' names, looked up from where the last lookup matched: the
/// mappings read a row's columns mostly in order, so most lookups compare one name.
/// (rusqlite's own lookup by name asks SQLite for every column's name, from the first, for
/// each value read: a twentieth of a check's time.)
struct Named<'s> {
    row: &'s rusqlite::Row<'s>,
    names: &'s [Box<str>],
    next: Cell<usize>,
}

impl Named<'_> {
    /// The index of the column named `prefix` and `col`, compared without joining them.
    /// Names are compared byte by byte in place: they are a few bytes long, and the calls
    /// to `memcmp` that `==` on slices makes were a twentieth of a check's time.
    fn index(&self, prefix: &str, col: &str) -> StoreResult<usize> {
        let (p, c) = (prefix.as_bytes(), col.as_bytes());
        let is = |name: &str| {
            let name = name.as_bytes();
            name.len() == p.len() + c.len()
                && name.iter().zip(p.iter().chain(c)).all(|(a, b)| a == b)
        };
        let n = self.names.len();
        let start = self.next.get();
        (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| is(&self.names[i]))
            .inspect(|i| self.next.set(i + 1))
            .ok_or_else(|| StoreError::Corrupt(format!("no column {prefix}{col}")))
    }
}

impl Columns for Named<'_> {
    fn text_at(&self, prefix: &str, col: &str) -> StoreResult<Option<String>> {
        self.row.get(self.index(prefix, col)?).map_err(map_err)
    }

    fn int_at(&self, prefix: &str, col: &str) -> StoreResult<Option<i64>> {
        self.row.get(self.index(prefix, col)?).map_err(map_err)
    }
}

/// Maps rusqlite's errors as [`crate::map_err`] maps sqlx's.
pub(crate) fn map_err(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
    match &e {
        rusqlite::Error::SqliteFailure(f, _) if matches!(f.code, DatabaseBusy | DatabaseLocked) => {
            StoreError::Busy
        }
        rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::InvalidColumnName(_)
        | rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..) => StoreError::Corrupt(e.to_string()),
        _ => StoreError::Backend(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::{Fold, Statements};
    use crate::columns::{get, Columns, Prefixed};
    use crate::{Conn, SqliteConn, SqliteStore};
    use roster_core::store::{StoreError, StoreResult};
    use std::sync::LazyLock;

    /// The `x` of every row.
    #[derive(Debug, Default, PartialEq)]
    struct Xs(Vec<i64>);

    impl Fold for Xs {
        fn add<R: Columns>(&mut self, row: &R) -> StoreResult<()> {
            self.0.push(get(row, "x")?);
            Ok(())
        }
    }

    static ALL: LazyLock<Statements> =
        LazyLock::new(|| Statements::new(vec!["SELECT x FROM t ORDER BY x".into()]));

    /// A store on a new file with one table, `t`, holding 1 and 2.
    async fn store() -> (SqliteStore, tempfile::TempDir) {
        let (store, dir) = crate::connections::tests::store().await;
        sqlx::query("INSERT INTO t VALUES (1), (2)")
            .execute(store.pool())
            .await
            .unwrap();
        (store, dir)
    }

    async fn reads(store: &SqliteStore) -> SqliteConn {
        SqliteConn::new(Conn::Read(store.readers.lease().await.unwrap()))
    }

    /// A plain read has a handle of its own on the file, and reads through it what was
    /// committed.
    #[tokio::test]
    async fn a_plain_read_has_a_handle_on_the_file() {
        let (store, _dir) = store().await;
        let lease = store.readers.lease().await.unwrap();
        let handle = lease.inline().expect("a store on a file has one");
        let xs: Xs = super::fold(handle, &ALL, &[]).unwrap();
        assert_eq!(xs, Xs(vec![1, 2]));
    }

    /// A plain read is answered by the handle, not by the connection's thread: here the
    /// handle is on another file, whose rows show which of the two answered.
    #[tokio::test]
    async fn a_plain_read_is_answered_by_the_handle() {
        let (store, dir) = store().await;
        let other = dir.path().join("other.db");
        rusqlite::Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (7);")
            .unwrap();
        let mut lease = store.readers.lease().await.unwrap();
        lease.replace_inline(super::open(&other).unwrap());
        let mut conn = SqliteConn::new(Conn::Read(lease));
        assert_eq!(conn.fold::<Xs>(&ALL, &[]).await.unwrap(), Xs(vec![7]));
    }

    /// A store opened by a URL with options has no handle: it would open the file by its
    /// name alone, without them.
    #[tokio::test]
    async fn a_url_with_options_keeps_reads_on_the_connection_s_thread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roster.db");
        let plain = SqliteStore::open_url(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        assert!(plain.readers.lease().await.unwrap().inline().is_some());
        let with = SqliteStore::open_url(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .unwrap();
        assert!(with.readers.lease().await.unwrap().inline().is_none());
    }

    /// The `x` and `y` of every row.
    #[derive(Debug, Default, PartialEq)]
    struct Xys(Vec<(i64, i64)>);

    impl Fold for Xys {
        fn add<R: Columns>(&mut self, row: &R) -> StoreResult<()> {
            self.0.push((get(row, "x")?, get(row, "y")?));
            Ok(())
        }
    }

    /// A statement's column names are kept from its first run, and a statement whose `*`
    /// reads more columns since (a migration added one) reads them by their own names.
    #[tokio::test]
    async fn a_statement_reads_columns_a_migration_added() {
        let (store, _dir) = store().await;
        let star = Statements::new(vec!["SELECT * FROM t ORDER BY x".into()]);
        let lease = store.readers.lease().await.unwrap();
        let handle = lease.inline().unwrap();
        assert_eq!(
            super::fold::<Xs>(handle, &star, &[]).unwrap(),
            Xs(vec![1, 2])
        );
        assert!(super::fold::<Xys>(handle, &star, &[]).is_err());
        sqlx::query("ALTER TABLE t ADD COLUMN y INTEGER NOT NULL DEFAULT 5")
            .execute(store.pool())
            .await
            .unwrap();
        for _ in 0..2 {
            assert_eq!(
                super::fold::<Xys>(handle, &star, &[]).unwrap(),
                Xys(vec![(1, 5), (2, 5)])
            );
        }
    }

    /// Nothing can be written through the handle, whatever a read's statement says.
    #[tokio::test]
    async fn the_handle_cannot_write() {
        let (store, _dir) = store().await;
        let lease = store.readers.lease().await.unwrap();
        let handle = lease.inline().unwrap();
        let insert = Statements::new(vec!["INSERT INTO t VALUES (3) RETURNING x".into()]);
        assert!(super::fold::<Xs>(handle, &insert, &[]).is_err());
        drop(lease);
        assert_eq!(
            reads(&store).await.fold::<Xs>(&ALL, &[]).await.unwrap(),
            Xs(vec![1, 2])
        );
    }

    /// The SQLite linked in is built as `.cargo/config.toml` asks: without memory
    /// statistics and without one page cache shared by every connection, the two
    /// process-wide mutexes every connection would otherwise take.
    #[tokio::test]
    async fn sqlite_is_built_without_process_wide_mutexes() {
        let (store, _dir) = store().await;
        let lease = store.readers.lease().await.unwrap();
        let mut stmt = lease
            .inline()
            .unwrap()
            .prepare("PRAGMA compile_options")
            .unwrap();
        let options: Vec<String> = stmt
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "{options:?}"
        );
        assert!(
            !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
            "{options:?}"
        );
    }

    /// The handle does not wait for another's lock on the caller's thread: its busy timeout is zero
    /// (rusqlite's default is five seconds).
    #[tokio::test]
    async fn the_handle_does_not_wait() {
        let (store, _dir) = store().await;
        let lease = store.readers.lease().await.unwrap();
        let timeout: i64 = lease
            .inline()
            .unwrap()
            .query_row("PRAGMA busy_timeout", [], |row| row.get(0))
            .unwrap();
        assert_eq!(timeout, 0);
    }

    /// A handle that finds its file busy answers so at once, and the read goes to the
    /// connection's thread instead. Here the handle is on another file, which a connection
    /// holds in exclusive locking mode (the one way to keep a WAL reader out for as long as
    /// a test needs; the store's own file cannot be taken so while the store has it open),
    /// so the rows show which of the two answered.
    #[tokio::test]
    async fn a_busy_handle_sends_the_read_to_the_connection_s_thread() {
        let (store, dir) = store().await;
        let other = dir.path().join("other.db");
        let holder = rusqlite::Connection::open(&other).unwrap();
        holder
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA locking_mode = EXCLUSIVE; \
                 CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (7);",
            )
            .unwrap();
        let mut lease = store.readers.lease().await.unwrap();
        lease.replace_inline(super::open(&other).unwrap());
        let alone = super::fold::<Xs>(lease.inline().unwrap(), &ALL, &[]);
        assert!(matches!(alone, Err(StoreError::Busy)), "{alone:?}");
        let mut conn = SqliteConn::new(Conn::Read(lease));
        assert_eq!(conn.fold::<Xs>(&ALL, &[]).await.unwrap(), Xs(vec![1, 2]));
        drop(holder);
    }

    /// Inside a write transaction a read goes to the writer's connection and sees the
    /// transaction's own writes, which no other connection can yet.
    #[tokio::test]
    async fn a_transaction_reads_on_its_own_connection() {
        let (store, _dir) = store().await;
        let mut tx = SqliteConn::new(Conn::Write(store.writer.begin().await.unwrap()));
        sqlx::query("INSERT INTO t VALUES (3)")
            .execute(tx.raw())
            .await
            .unwrap();
        assert_eq!(tx.fold::<Xs>(&ALL, &[]).await.unwrap(), Xs(vec![1, 2, 3]));
        assert_eq!(
            reads(&store).await.fold::<Xs>(&ALL, &[]).await.unwrap(),
            Xs(vec![1, 2])
        );
    }

    /// A row's values by prefixed name, as a join's mapping reads them.
    #[derive(Debug, Default, PartialEq)]
    struct Joined(Vec<(Option<String>, Option<i64>, Option<String>)>);

    impl Fold for Joined {
        fn add<R: Columns>(&mut self, row: &R) -> StoreResult<()> {
            let p = Prefixed::new(row, "p_");
            // Out of order, and a name that is another's suffix (`x` in `p_x`, `q_x`).
            self.0
                .push((get(&p, "y")?, get(&p, "x")?, get(row, "q_x")?));
            Ok(())
        }
    }

    /// Both drivers read prefixed names alike, including NULL, whatever the order asked.
    #[tokio::test]
    async fn both_drivers_read_prefixed_columns_alike() {
        let (store, _dir) = store().await;
        let sql = Statements::new(vec![
            "SELECT 'a' AS q_x, x AS p_x, CASE x WHEN 1 THEN NULL ELSE 'b' END AS p_y \
             FROM t ORDER BY x"
                .into(),
        ]);
        let plain = reads(&store).await.fold::<Joined>(&sql, &[]).await.unwrap();
        let mut tx = SqliteConn::new(Conn::Write(store.writer.begin().await.unwrap()));
        let in_tx = tx.fold::<Joined>(&sql, &[]).await.unwrap();
        let want = Joined(vec![
            (None, Some(1), Some("a".into())),
            (Some("b".into()), Some(2), Some("a".into())),
        ]);
        assert_eq!(plain, want);
        assert_eq!(in_tx, want);
        let missing = Statements::new(vec!["SELECT x AS p_x FROM t".into()]);
        let plain = reads(&store).await.fold::<Joined>(&missing, &[]).await;
        assert!(matches!(plain, Err(StoreError::Corrupt(_))), "{plain:?}");
    }

    /// Each statement takes the values of the parameters it names, so statements of one
    /// read may name different ones; both drivers answer alike.
    #[tokio::test]
    async fn statements_take_the_parameters_they_name() {
        let (store, _dir) = store().await;
        let two = Statements::new(vec![
            "SELECT x FROM t WHERE x = ?1".into(),
            "SELECT x + ?2 AS x FROM t WHERE x = ?1".into(),
        ]);
        let plain = reads(&store)
            .await
            .fold::<Xs>(&two, &[Some("2"), Some("10")])
            .await;
        let mut tx = SqliteConn::new(Conn::Write(store.writer.begin().await.unwrap()));
        let in_tx = tx.fold::<Xs>(&two, &[Some("2"), Some("10")]).await;
        assert_eq!(plain.unwrap(), Xs(vec![2, 12]));
        assert_eq!(in_tx.unwrap(), Xs(vec![2, 12]));
    }
}

//! Opening SQLite databases, and turning SQLite failures into canonical errors.

use rusqlite::{Connection, ErrorCode, OpenFlags};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use ticketgate_model::{Error, Result};

/// How hard a commit is pushed to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=FULL`: a commit survives power loss. The default: an acknowledged
    /// ticket must never be lost.
    #[default]
    Full,
    /// `synchronous=NORMAL`: survives a crash of the process, not of the machine.
    Normal,
}

/// A database's connections, used from blocking threads: one writer (SQLite
/// serialises writers anyway, and one connection keeps the locking simple and the
/// statements cached), and optionally a few read-only connections, which in WAL mode
/// read a consistent committed snapshot beside the writer instead of queueing behind
/// it.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
    readers: Arc<Vec<Mutex<Connection>>>,
    next_reader: Arc<std::sync::atomic::AtomicUsize>,
    path: Arc<PathBuf>,
}

impl Db {
    /// Open (creating if needed) the database at `path` and apply `migrations` in order;
    /// the schema version is kept in `PRAGMA user_version`.
    pub fn open(path: &Path, durability: Durability, migrations: &[&str]) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::storage_unavailable(format!(
                    "cannot create data directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| open_error(path, &e))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| open_error(path, &e))?;
        // A corrupt or foreign file fails here, on the first read of the header.
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(|e| open_error(path, &e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), mode, "SQLite refused WAL mode");
        }
        let sync = match durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        };
        conn.execute_batch(&format!(
            "PRAGMA synchronous={sync}; PRAGMA foreign_keys=ON;"
        ))
        .map_err(|e| open_error(path, &e))?;
        migrate(&conn, migrations).map_err(|e| open_error(path, &e))?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            readers: Arc::new(Vec::new()),
            next_reader: Arc::default(),
            path: Arc::new(path.to_owned()),
        })
    }

    /// Add `n` read-only connections for [`Db::read`].
    pub fn with_readers(mut self, n: usize) -> Result<Self> {
        let mut readers = Vec::with_capacity(n);
        for _ in 0..n {
            let c = Connection::open_with_flags(
                self.path.as_ref(),
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| open_error(&self.path, &e))?;
            c.busy_timeout(std::time::Duration::from_secs(10))
                .map_err(|e| open_error(&self.path, &e))?;
            readers.push(Mutex::new(c));
        }
        self.readers = Arc::new(readers);
        Ok(self)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `f` with the connection on a blocking thread.
    pub async fn call<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.call_blocking(f))
            .await
            .map_err(|e| Error::internal(format!("storage task failed: {e}")))?
    }

    /// Run a read-only `f` on a reader connection (the writer when there are none).
    /// What was committed before this call is visible to it.
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        if self.readers.is_empty() {
            return self.call(move |c| f(c)).await;
        }
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            let n = db.readers.len();
            let start = db
                .next_reader
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // A free reader if there is one, else wait for the next in turn.
            let guard = (0..n)
                .find_map(|i| db.readers[(start + i) % n].try_lock().ok())
                .unwrap_or_else(|| {
                    db.readers[start % n]
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                });
            f(&guard)
        })
        .await
        .map_err(|e| Error::internal(format!("storage task failed: {e}")))?
    }

    /// Run `f` with the connection on the current thread (for the CLI and tests).
    pub fn call_blocking<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&mut Connection) -> Result<T>,
    {
        // A panic while holding the lock cannot leave SQLite half-written (the open
        // transaction rolls back when dropped), so a poisoned lock is still usable.
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn)
    }
}

fn migrate(conn: &Connection, migrations: &[&str]) -> rusqlite::Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let version = usize::try_from(version).unwrap_or(usize::MAX);
    if version > migrations.len() {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISMATCH),
            Some(format!(
                "schema version {version} is newer than this ticketgate knows ({})",
                migrations.len()
            )),
        ));
    }
    for (i, sql) in migrations.iter().enumerate().skip(version) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(
            None,
            "user_version",
            i64::try_from(i + 1).unwrap_or(i64::MAX),
        )?;
        tx.commit()?;
    }
    Ok(())
}

fn open_error(path: &Path, e: &rusqlite::Error) -> Error {
    let what = match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => {
            "is not a SQLite database or is corrupt (move it aside to start afresh)".to_owned()
        }
        Some(ErrorCode::DatabaseCorrupt) => "is corrupt".to_owned(),
        Some(ErrorCode::ReadOnly)
        | Some(ErrorCode::CannotOpen)
        | Some(ErrorCode::PermissionDenied) => {
            format!("cannot be opened for writing: {e}")
        }
        Some(ErrorCode::DiskFull) => "cannot be written: the disk is full".to_owned(),
        _ => format!("cannot be opened: {e}"),
    };
    Error::storage_unavailable(format!("database {} {what}", path.display()))
}

/// Map a failure of a statement: a full disk or a read-only file is the gateway's
/// storage being unavailable (503, retryable), anything else an internal error.
pub fn sql_error(e: rusqlite::Error) -> Error {
    match e.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => {
            Error::storage_unavailable("storage is full: nothing was written")
        }
        Some(ErrorCode::ReadOnly)
        | Some(ErrorCode::CannotOpen)
        | Some(ErrorCode::PermissionDenied) => {
            Error::storage_unavailable("storage is read-only: nothing was written")
        }
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
            Error::storage_unavailable("storage is busy: nothing was written")
        }
        Some(ErrorCode::SystemIoFailure) => {
            Error::storage_unavailable("storage I/O failed: nothing was written")
        }
        _ => Error::internal(format!("storage error: {e}")),
    }
}

/// An exclusive lock on a data directory, held by `ticketgate serve` for its lifetime,
/// so a second server on the same directory is refused with a clear message instead
/// of two delivery workers racing over one outbox. (`ticketgate pipe` does not take it:
/// it is meant to run beside a server.)
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    pub fn acquire(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::storage_unavailable(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join("serve.lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| {
                Error::storage_unavailable(format!("cannot open {}: {e}", path.display()))
            })?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::storage_unavailable(format!(
                "data directory {} is already in use by another ticketgate serve",
                dir.display()
            ))),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::storage_unavailable(format!(
                "cannot lock {}: {e}",
                path.display()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.sqlite");
        std::fs::write(&path, b"this is not a database, just some text long enough to look like a header......................................").unwrap();
        let err = Db::open(&path, Durability::Full, &["CREATE TABLE t(x)"])
            .err()
            .unwrap();
        assert!(
            err.message.contains("not a SQLite database"),
            "{}",
            err.message
        );
    }

    #[test]
    fn second_server_on_a_data_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _first = DataDirLock::acquire(dir.path()).unwrap();
        let err = DataDirLock::acquire(dir.path()).err().unwrap();
        assert!(err.message.contains("already in use"), "{}", err.message);
    }

    #[test]
    fn migrations_run_once_and_newer_schemas_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.sqlite");
        Db::open(&path, Durability::Normal, &["CREATE TABLE a(x)"]).unwrap();
        let db = Db::open(
            &path,
            Durability::Normal,
            &["CREATE TABLE a(x)", "CREATE TABLE b(y)"],
        )
        .unwrap();
        let n: i64 = db
            .call_blocking(|c| {
                c.query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type='table'",
                    [],
                    |r| r.get(0),
                )
                .map_err(sql_error)
            })
            .unwrap();
        assert_eq!(n, 2);
        let err = Db::open(&path, Durability::Normal, &["CREATE TABLE a(x)"])
            .err()
            .unwrap();
        assert!(err.message.contains("newer"), "{}", err.message);
    }

    /// `/readyz` and `/metrics` read through a reader: a writer busy with a long
    /// transaction does not hold them up.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_does_not_wait_for_a_busy_writer() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(
            &dir.path().join("r.sqlite"),
            Durability::Normal,
            &["CREATE TABLE t(x)"],
        )
        .unwrap()
        .with_readers(1)
        .unwrap();
        let writer = db.clone();
        let busy = std::thread::spawn(move || {
            writer.call_blocking(|c| {
                let tx = c.transaction().map_err(sql_error)?;
                tx.execute("INSERT INTO t VALUES (1)", [])
                    .map_err(sql_error)?;
                std::thread::sleep(std::time::Duration::from_millis(1500));
                tx.commit().map_err(sql_error)
            })
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        let started = std::time::Instant::now();
        let n: i64 = db
            .read(|c| {
                c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                    .map_err(sql_error)
            })
            .await
            .unwrap();
        assert_eq!(n, 0, "the uncommitted row is not seen");
        assert!(
            started.elapsed() < std::time::Duration::from_millis(700),
            "the read waited {:?} for the writer",
            started.elapsed()
        );
        busy.join().unwrap().unwrap();
    }
}

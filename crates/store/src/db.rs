//! Opening SQLite databases, and turning SQLite failures into canonical errors.

use rusqlite::{Connection, ErrorCode, OpenFlags};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use ticketgate_model::{Error, Result};

/// Prepared statements kept per connection (`prepare_cached`): the fixed statements of
/// every operation, plus the search shapes in use.
const STATEMENT_CACHE: usize = 128;

/// Per connection: SQLite's own page cache (KiB, as `PRAGMA cache_size` takes it
/// negated) and how much of the file is read through a memory map instead of `pread`
/// copies (address space, not memory: the pages are the kernel's page cache).
const CACHE_KIB: i64 = 16 * 1024;
const MMAP_BYTES: i64 = 1 << 30;

/// The most writes committed together by [`Db::write`].
const MAX_BATCH: usize = 512;

/// What the writer calls once the batch a write ran in has committed (`None`) or failed.
type Done = Box<dyn FnOnce(Option<Error>) + Send>;
/// One write: run on the writer's connection inside the batch's transaction (or, with
/// `None`, not at all because the batch could not start); says whether it succeeded.
type Job = Box<dyn FnOnce(Option<&Connection>) -> (bool, Done) + Send>;

/// Run by the writer after the writes of a batch and before its commit, inside the
/// batch's transaction and outside every write's savepoint (see
/// [`Db::before_each_commit`]).
pub type BeforeCommit = Arc<BeforeCommitFn>;
/// The function of a [`BeforeCommit`].
pub type BeforeCommitFn = dyn Fn(&Connection) -> rusqlite::Result<()> + Send + Sync;

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
    // Dropped in this order, when the last clone goes: the read-only connections,
    // then the writer thread, then the read-write connection, which closes last and
    // so checkpoints the write-ahead log and removes it (a read-only connection
    // closing last cannot).
    readers: Arc<Vec<OnceLock<Mutex<Connection>>>>,
    /// One permit per reader: reads wait for one in arrival order (a tokio semaphore
    /// is fair), so under load none waits much longer than the others, and no more
    /// blocking threads are busy reading than there are readers.
    read_slots: Arc<tokio::sync::Semaphore>,
    /// The group-commit writer, started by the first [`Db::write`]; it stops when the
    /// last clone of this `Db` is dropped.
    writer: Arc<OnceLock<Writer>>,
    conn: Arc<Mutex<Connection>>,
    next_reader: Arc<std::sync::atomic::AtomicUsize>,
    path: Arc<PathBuf>,
    /// Writes committed through [`Db::write`], and the commits that carried them.
    committed: Arc<[AtomicU64; 2]>,
    before_commit: Option<BeforeCommit>,
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
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
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
            "PRAGMA synchronous={sync}; PRAGMA foreign_keys=ON; \
             PRAGMA cache_size=-{CACHE_KIB}; PRAGMA mmap_size={MMAP_BYTES};"
        ))
        .map_err(|e| open_error(path, &e))?;
        migrate(&conn, migrations).map_err(|e| open_error(path, &e))?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            readers: Arc::new(Vec::new()),
            read_slots: Arc::new(tokio::sync::Semaphore::new(0)),
            next_reader: Arc::default(),
            path: Arc::new(path.to_owned()),
            writer: Arc::default(),
            committed: Arc::default(),
            before_commit: None,
        })
    }

    /// Run `f` at the end of every group commit of [`Db::write`], before the commit:
    /// work the batch's writes queued (the embedded store's full-text index) is done
    /// once per batch instead of once per write. Should `f` fail, the whole batch is
    /// rolled back and every write in it fails. Set before the first write.
    pub fn before_each_commit(mut self, f: BeforeCommit) -> Self {
        self.before_commit = Some(f);
        self
    }

    /// The schema version of the database at `path` before it is opened (0 when the
    /// file does not exist or cannot be read).
    pub fn schema_version(path: &Path) -> u32 {
        if !path.exists() {
            return 0;
        }
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .and_then(|c| c.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)))
            .map(|v| u32::try_from(v).unwrap_or(0))
            .unwrap_or(0)
    }

    /// Allow up to `n` read-only connections for [`Db::read`]. Each is opened when
    /// first needed — when every open one is busy — so a short-lived process (one
    /// `ticketgate pipe`) opens one or none, and a quiet gateway few. (The file was
    /// opened and read by the read-write connection already.)
    pub fn with_readers(mut self, n: usize) -> Result<Self> {
        self.readers = Arc::new((0..n).map(|_| OnceLock::new()).collect());
        self.read_slots = Arc::new(tokio::sync::Semaphore::new(n));
        Ok(self)
    }

    fn open_reader(&self) -> Result<Connection> {
        let c = Connection::open_with_flags(
            self.path.as_ref(),
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| open_error(&self.path, &e))?;
        c.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| open_error(&self.path, &e))?;
        c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        c.execute_batch(&format!(
            "PRAGMA cache_size=-{CACHE_KIB}; PRAGMA mmap_size={MMAP_BYTES};"
        ))
        .map_err(|e| open_error(&self.path, &e))?;
        Ok(c)
    }

    /// A free reader: an open one that is free, else (`open_more`) a newly opened one
    /// while fewer than the allowed number are open. `None` when there is none.
    fn free_reader(
        &self,
        start: usize,
        open_more: bool,
    ) -> Option<std::sync::MutexGuard<'_, Connection>> {
        let n = self.readers.len();
        let open = (0..n)
            .filter_map(|i| self.readers[(start + i) % n].get())
            .find_map(|r| r.try_lock().ok());
        if open.is_some() || !open_more {
            return open;
        }
        for slot in self.readers.iter().filter(|r| r.get().is_none()) {
            match self.open_reader() {
                // Another thread may fill the slot first (this connection is then
                // dropped) and take it: then on to the next.
                Ok(c) => drop(slot.set(Mutex::new(c))),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot open another reader");
                    return None;
                }
            }
            if let Some(guard) = slot.get().and_then(|r| r.try_lock().ok()) {
                return Some(guard);
            }
        }
        None
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

    /// Run `f` as part of the next group commit, and answer once that commit is on disk.
    ///
    /// One writer thread owns the writes: it opens a transaction, runs every write
    /// waiting at that moment (each in its own savepoint, so one that fails leaves the
    /// others intact), commits them together, and only then answers each caller. With
    /// `synchronous=FULL` the commit is one fsync of the write-ahead log for the whole
    /// batch, and an answered write survives power loss. `f` must not open a
    /// transaction of its own.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel::<Result<T>>();
        let job: Job = Box::new(move |conn| {
            let result = match conn {
                Some(c) => f(c),
                None => Err(Error::storage_unavailable(
                    "storage is unavailable: nothing was written",
                )),
            };
            let ok = result.is_ok();
            let done: Done = Box::new(move |failed| {
                let _ = tx.send(match failed {
                    Some(e) => Err(e),
                    None => result,
                });
            });
            (ok, done)
        });
        self.writer()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(job)
            .map_err(|_| Error::internal("the storage writer has stopped"))?;
        rx.await
            .map_err(|_| Error::internal("the storage writer has stopped"))?
    }

    /// How many writes [`Db::write`] has committed, and in how many commits (fewer
    /// commits than writes: the writes were grouped).
    pub fn write_counts(&self) -> (u64, u64) {
        (
            self.committed[0].load(Ordering::Relaxed),
            self.committed[1].load(Ordering::Relaxed),
        )
    }

    fn writer(&self) -> &Mutex<mpsc::Sender<Job>> {
        &self
            .writer
            .get_or_init(|| {
                let (tx, rx) = mpsc::channel::<Job>();
                let conn = Arc::clone(&self.conn);
                let committed = Arc::clone(&self.committed);
                let before_commit = self.before_commit.clone();
                let name = format!(
                    "sqlite-writer-{}",
                    self.path
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default()
                );
                let thread = std::thread::Builder::new()
                    .name(name)
                    .spawn(move || write_loop(&conn, &rx, &committed, before_commit.as_deref()))
                    .expect("a thread for the storage writer");
                Writer {
                    jobs: Mutex::new(tx),
                    thread: Some(thread),
                }
            })
            .jobs
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
        let slot = self.read_slots.clone().acquire_owned().await;
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let start = db
                .next_reader
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // With a slot, a reader is free or may be opened; the wait in turn is
            // for a reader that could not be opened.
            match db.free_reader(start, true) {
                Some(guard) => f(&guard),
                None => {
                    let n = db.readers.len();
                    let reader = (0..n)
                        .filter_map(|i| db.readers[(start + i) % n].get())
                        .next();
                    match reader {
                        Some(r) => f(&r.lock().unwrap_or_else(|p| p.into_inner())),
                        // None could be opened: the writer's connection reads too.
                        None => db.call_blocking(|c| f(c)),
                    }
                }
            }
        })
        .await
        .map_err(|e| Error::internal(format!("storage task failed: {e}")))?
    }

    /// Run a short read-only `f` (a look-up by key: tens of microseconds) right here on
    /// the caller's thread when a reader is free, sparing the hand-off to a blocking
    /// thread and back; otherwise as [`Db::read`].
    pub async fn read_short<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let mut f = Some(f);
        // Only with a slot: a short read does not pass the reads waiting for one.
        let done = self.read_slots.try_acquire().ok().and_then(|_slot| {
            self.free_reader(0, false)
                .and_then(|guard| f.take().map(|f| f(&guard)))
        });
        match (done, f) {
            (Some(result), _) => result,
            (None, Some(f)) => self.read(f).await,
            (None, None) => Err(Error::internal("a read ran nowhere")),
        }
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

/// The group-commit writer's queue and thread.
struct Writer {
    jobs: Mutex<mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Writer {
    /// The last clone of the `Db` is gone: the writer finishes what is queued and
    /// ends, and its connection closes before this returns. So a short-lived process
    /// (`ticketgate pipe`) closes the database as its last connection, which
    /// checkpoints the write-ahead log and removes it; killed half-way through a
    /// close, the next process to open the database would have to read the whole log
    /// back first.
    fn drop(&mut self) {
        // Closing the queue (its only sender) ends the writer's loop.
        let (closed, _) = mpsc::channel();
        drop(std::mem::replace(
            self.jobs.get_mut().unwrap_or_else(|p| p.into_inner()),
            closed,
        ));
        if let Some(thread) = self.thread.take()
            && thread.thread().id() != std::thread::current().id()
        {
            let _ = thread.join();
        }
    }
}

/// The writer: take what is waiting, run it in one transaction, commit, answer.
fn write_loop(
    conn: &Mutex<Connection>,
    rx: &mpsc::Receiver<Job>,
    committed: &[AtomicU64; 2],
    before_commit: Option<&BeforeCommitFn>,
) {
    while let Ok(first) = rx.recv() {
        let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = exec(&conn, "BEGIN IMMEDIATE") {
            let (_, done) = first(None);
            done(Some(sql_error(e)));
            continue;
        }
        let mut batch: Vec<Done> = Vec::new();
        let mut next = Some(first);
        let mut aborted = None;
        while let Some(job) = next.take() {
            if let Err(e) = exec(&conn, "SAVEPOINT job") {
                let (_, done) = job(None);
                batch.push(done);
                aborted = Some(sql_error(e));
                break;
            }
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(Some(&conn))));
            let ok = match ran {
                Ok((ok, done)) => {
                    batch.push(done);
                    ok
                }
                // The caller's sender went with the panic: it hears "stopped".
                Err(_) => false,
            };
            if conn.is_autocommit() {
                // SQLite rolled the whole transaction back (a full disk, say): nothing
                // of this batch is written, so no write of it may be acknowledged.
                aborted = Some(Error::storage_unavailable(
                    "storage failed: nothing was written",
                ));
                break;
            }
            let ended = if ok {
                exec(&conn, "RELEASE job")
            } else {
                exec(&conn, "ROLLBACK TO job").and_then(|()| exec(&conn, "RELEASE job"))
            };
            if let Err(e) = ended {
                aborted = Some(sql_error(e));
                break;
            }
            if batch.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if aborted.is_none()
            && let Some(f) = before_commit
            && let Err(e) = f(&conn)
        {
            aborted = Some(sql_error(e));
        }
        let failed = match aborted {
            Some(e) => {
                if !conn.is_autocommit() {
                    let _ = exec(&conn, "ROLLBACK");
                }
                Some(e)
            }
            None => match exec(&conn, "COMMIT") {
                Ok(()) => {
                    committed[0].fetch_add(batch.len() as u64, Ordering::Relaxed);
                    committed[1].fetch_add(1, Ordering::Relaxed);
                    None
                }
                Err(e) => {
                    if !conn.is_autocommit() {
                        let _ = exec(&conn, "ROLLBACK");
                    }
                    Some(sql_error(e))
                }
            },
        };
        drop(conn);
        for done in batch {
            done(failed.clone());
        }
    }
}

fn exec(c: &Connection, sql: &str) -> rusqlite::Result<()> {
    c.prepare_cached(sql)?.execute([]).map(drop)
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

    /// A database of one table `t` in a fresh temporary directory (kept alive by the
    /// returned guard), with `readers` read-only connections beside the writer.
    fn scratch_db(
        durability: Durability,
        schema: &'static str,
        readers: usize,
    ) -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("scratch.sqlite"), durability, &[schema])
            .unwrap()
            .with_readers(readers)
            .unwrap();
        (dir, db)
    }

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

    /// Writes waiting while the writer is busy go into one transaction and one commit;
    /// one that fails is rolled back alone; each is answered after the commit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_share_a_commit_and_a_failure_stays_alone() {
        let (_dir, db) = scratch_db(Durability::Full, "CREATE TABLE t(x INTEGER PRIMARY KEY)", 1);
        // Hold the writer in a first write so the others queue up behind it.
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let first = {
            let db = db.clone();
            tokio::spawn(async move {
                db.write(move |c| {
                    started_tx.send(()).unwrap();
                    std::thread::sleep(std::time::Duration::from_millis(300));
                    c.execute("INSERT INTO t VALUES (0)", []).map_err(sql_error)
                })
                .await
            })
        };
        started_rx.recv().unwrap();
        let mut others = Vec::new();
        for i in 1..=50i64 {
            let db = db.clone();
            others.push(tokio::spawn(async move {
                db.write(move |c| {
                    c.execute("INSERT INTO t VALUES (?1)", [i])
                        .map_err(sql_error)?;
                    if i == 7 {
                        return Err(Error::bad_input("seven is refused"));
                    }
                    Ok(i)
                })
                .await
            }));
        }
        first.await.unwrap().unwrap();
        for (i, w) in (1..).zip(others) {
            let r = w.await.unwrap();
            if i == 7 {
                assert_eq!(r.unwrap_err().message, "seven is refused");
            } else {
                assert_eq!(r.unwrap(), i);
            }
        }
        let (n, seven): (i64, i64) = db
            .read(|c| {
                c.query_row(
                    "SELECT count(*), count(*) FILTER (WHERE x = 7) FROM t",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(sql_error)
            })
            .await
            .unwrap();
        assert_eq!(
            (n, seven),
            (50, 0),
            "every write but the refused one is there"
        );
        let (writes, commits) = db.write_counts();
        assert_eq!(writes, 51);
        assert!(
            commits <= 3,
            "51 writes queued behind a busy writer took {commits} commits"
        );
    }

    /// A write that panics is rolled back and answered; the writer goes on.
    #[tokio::test]
    async fn a_panicking_write_does_not_stop_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(
            &dir.path().join("p.sqlite"),
            Durability::Normal,
            &["CREATE TABLE t(x)"],
        )
        .unwrap();
        let r: Result<()> = db
            .write(|c| {
                c.execute("INSERT INTO t VALUES (1)", [])
                    .map_err(sql_error)?;
                panic!("a bug in a write");
            })
            .await;
        assert!(r.is_err());
        db.write(|c| c.execute("INSERT INTO t VALUES (2)", []).map_err(sql_error))
            .await
            .unwrap();
        let xs: i64 = db
            .read(|c| {
                c.query_row("SELECT sum(x) FROM t", [], |r| r.get(0))
                    .map_err(sql_error)
            })
            .await
            .unwrap();
        assert_eq!(xs, 2);
    }

    /// `/readyz` and `/metrics` read through a reader: a writer busy with a long
    /// transaction does not hold them up.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_does_not_wait_for_a_busy_writer() {
        let (_dir, db) = scratch_db(Durability::Normal, "CREATE TABLE t(x)", 1);
        let writer = db.clone();
        let busy = std::thread::spawn(move || {
            writer.call_blocking(|c| {
                let tx = c.transaction().map_err(sql_error)?;
                tx.execute("INSERT INTO t VALUES (1)", [])
                    .map_err(sql_error)?;
                std::thread::sleep(std::time::Duration::from_millis(4000));
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
            started.elapsed() < std::time::Duration::from_millis(2500),
            "the read waited {:?} for the writer",
            started.elapsed()
        );
        busy.join().unwrap().unwrap();
    }

    /// Reads queued for busy readers are served in the order they came, and readers
    /// are opened as needed, up to the limit. (Queued a few milliseconds apart, as
    /// here, the earlier per-reader locks kept the order too; the fair queue is for
    /// heavy load, where the search rows of `benches/load` had a few reads waiting
    /// past 5 s.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_waiting_for_a_reader_are_served_in_arrival_order() {
        let (_dir, db) = scratch_db(Durability::Normal, "CREATE TABLE t(x)", 2);
        let order = Arc::new(Mutex::new(Vec::new()));
        // Both readers busy for a while.
        let mut busy = Vec::new();
        for _ in 0..2 {
            let db = db.clone();
            busy.push(tokio::spawn(async move {
                db.read(|_| {
                    std::thread::sleep(std::time::Duration::from_millis(300));
                    Ok(())
                })
                .await
            }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(
            db.readers.iter().filter(|r| r.get().is_some()).count(),
            2,
            "a second reader was opened when the first was busy"
        );
        let mut queued = Vec::new();
        for i in 0..24 {
            let (db, order) = (db.clone(), order.clone());
            queued.push(tokio::spawn(async move {
                db.read(move |_| {
                    order.lock().unwrap().push(i);
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    Ok(())
                })
                .await
            }));
            // Each is waiting before the next arrives.
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        for t in busy.into_iter().chain(queued) {
            t.await.unwrap().unwrap();
        }
        let order = order.lock().unwrap().clone();
        // Two readers take turns, so neighbours may swap; nothing may jump further.
        for (pos, i) in order.iter().enumerate() {
            assert!(
                pos.abs_diff(*i) <= 1,
                "read {i} ran in place {pos}: {order:?}"
            );
        }
    }
}

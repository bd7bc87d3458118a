//! One `write` per commit to the embedded store's write-ahead log.
//!
//! SQLite appends a commit to its WAL one frame at a time, and each frame
//! is two writes: its 24-byte header, then the page. A sequential step's
//! commit is about eleven pages, so 22 `pwrite` calls, which took about a
//! sixth of the step's time on these machines (docs/benchmarks.md); one
//! write of the same bytes costs a fraction of that. This VFS wraps
//! SQLite's own (`unix`) and keeps what SQLite writes to a WAL file, while
//! the writes follow each other in the file, in memory until the commit
//! frame's page is written, then writes it at once (in calls of at most
//! 64 KiB, [`MAX_WRITE`]).
//!
//! Guarantees:
//! - The commit's frames reach the file before the write of its last page
//!   returns, as with SQLite's own VFS: SQLite publishes them in the WAL
//!   index, and the commit returns, only after that. A failed write fails
//!   that write, and so the commit.
//! - Any other use of the WAL file (read, sync, size, truncate, lock, file
//!   control, close) and a write elsewhere in it first write what is held,
//!   so SQLite, a checkpoint or another connection read what SQLite wrote.
//! - The WAL's locks (taken and released through the database file)
//!   change hands only once what is held is written: frames a rolled-back
//!   transaction spilled reach the file while its write lock is held, as
//!   with SQLite's own VFS, never later over another writer's frames.
//! - As a last resort, the database file's shared-memory barrier (which
//!   SQLite passes before publishing frames) writes what is still held;
//!   if that write fails the process aborts rather than publish frames
//!   that are not in the file (a killed process loses no committed work:
//!   the commit had not returned).
//! - Other files (the database, temporary files) are written as SQLite
//!   asks; a database file's operations first write what its WAL holds.
//!
//! Written here because no maintained crate offers a pass-through VFS:
//! the Rust VFS crates (`sqlite-vfs`, `sqlite-plugin`) implement a whole
//! file system for SQLite, WAL index and locks included, where this only
//! changes how two kinds of write reach the file.

use rusqlite::ffi;
use std::ffi::{CStr, c_int, c_void};
use std::ptr::null_mut;
use std::sync::OnceLock;

/// The name connections open the embedded database with.
pub(crate) const VFS_NAME: &CStr = c"mastermind-wal";

/// Held bytes past which they are written without waiting for the commit
/// (a transaction that writes many pages).
const MAX_HELD: usize = 1 << 20;

/// The most SQLite's own VFS writes in one call: it keeps only the low 17
/// bits of a write's size (`seekAndWriteFd`), so a larger write would be
/// cut short and fail as a full disk.
const MAX_WRITE: usize = 64 << 10;

/// SQLite's WAL header; frames follow it.
const WAL_HEADER: i64 = 32;

/// A WAL frame's header: page number, then the database's size in pages
/// after a commit (zero in every frame but a commit's last).
const FRAME_HEADER: c_int = 24;

/// Registers the VFS (once per process); its name, for
/// `Connection::open_with_flags_and_vfs`.
pub(crate) fn vfs() -> Result<&'static CStr, String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED.get_or_init(register).clone().map(|()| VFS_NAME)
}

/// SQLite's default VFS, which every call is passed to.
struct Underlying(*mut ffi::sqlite3_vfs);
// SAFETY: a registered VFS is immutable and SQLite's own is thread-safe.
unsafe impl Send for Underlying {}
unsafe impl Sync for Underlying {}
static UNDERLYING: OnceLock<Underlying> = OnceLock::new();

fn register() -> Result<(), String> {
    // SAFETY: sqlite3_vfs_find initializes SQLite and returns its default
    // VFS, which lives as long as the process; the copy registered below is
    // leaked, as SQLite requires of a registered VFS.
    unsafe {
        let underlying = ffi::sqlite3_vfs_find(std::ptr::null());
        if underlying.is_null() {
            return Err("SQLite has no default VFS".into());
        }
        let _ = UNDERLYING.set(Underlying(underlying));
        // Every method but xOpen is SQLite's own (none of them reads its
        // VFS argument beyond what the copy holds).
        let mut vfs = *underlying;
        vfs.zName = VFS_NAME.as_ptr();
        vfs.pNext = null_mut();
        vfs.szOsFile = (std::mem::size_of::<ShimFile>() as c_int).saturating_add((*underlying).szOsFile);
        vfs.xOpen = Some(open);
        let rc = ffi::sqlite3_vfs_register(Box::leak(Box::new(vfs)), 0);
        if rc != ffi::SQLITE_OK {
            return Err(format!("registering the {VFS_NAME:?} VFS failed ({rc})"));
        }
    }
    Ok(())
}

/// What SQLite allocates for a file of this VFS (`szOsFile`): this, then
/// the underlying VFS's file.
#[repr(C)]
struct ShimFile {
    base: ffi::sqlite3_file,
    /// The underlying file, right after this struct.
    real: *mut ffi::sqlite3_file,
    /// A WAL file's held writes (owned); on a database file, its WAL's
    /// (borrowed, for the locks and the barrier), or null.
    held: *mut Held,
    owns_held: bool,
}

/// Writes SQLite made to a WAL file, not yet in it: `bytes` at `start`.
struct Held {
    /// The WAL's underlying file, written to.
    file: *mut ffi::sqlite3_file,
    start: i64,
    bytes: Vec<u8>,
    /// The last write was a commit frame's header: its page, next, ends
    /// the commit.
    commit_page_next: bool,
    /// The database file pointing here (its barrier), unlinked on close.
    database: *mut ShimFile,
}

impl Held {
    /// Writes what is held; SQLite's result code.
    ///
    /// # Safety
    /// `self.file` is open.
    unsafe fn write_out(&mut self) -> c_int {
        if self.bytes.is_empty() {
            return ffi::SQLITE_OK;
        }
        let mut rc = ffi::SQLITE_OK;
        let mut offset = self.start;
        for chunk in self.bytes.chunks(MAX_WRITE) {
            // SAFETY: the caller's; the methods are the underlying VFS's.
            rc = unsafe {
                ((*(*self.file).pMethods).xWrite.expect("xWrite"))(
                    self.file,
                    chunk.as_ptr().cast(),
                    chunk.len() as c_int,
                    offset,
                )
            };
            if rc != ffi::SQLITE_OK {
                break;
            }
            offset += chunk.len() as i64;
        }
        self.bytes.clear();
        self.commit_page_next = false;
        rc
    }
}

unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    // SAFETY: SQLite passes `szOsFile` bytes at `file`, aligned for any
    // file object; the underlying file takes the bytes after ours.
    unsafe {
        let shim = file.cast::<ShimFile>();
        let real = file.cast::<u8>().add(std::mem::size_of::<ShimFile>()).cast::<ffi::sqlite3_file>();
        (*shim).base.pMethods = std::ptr::null();
        (*shim).real = real;
        (*shim).held = null_mut();
        (*shim).owns_held = false;
        (*real).pMethods = std::ptr::null();
        let underlying = UNDERLYING.get().expect("registered").0;
        let rc = ((*underlying).xOpen.expect("xOpen"))(underlying, name, real, flags, out_flags);
        if (*real).pMethods.is_null() {
            return rc;
        }
        if flags & ffi::SQLITE_OPEN_WAL != 0 && !name.is_null() {
            let database = ffi::sqlite3_database_file_object(name).cast::<ShimFile>();
            let database = if !database.is_null() && std::ptr::eq((*database).base.pMethods, &METHODS) {
                database
            } else {
                null_mut()
            };
            let held = Box::into_raw(Box::new(Held {
                file: real,
                start: 0,
                bytes: Vec::new(),
                commit_page_next: false,
                database,
            }));
            if !database.is_null() {
                (*database).held = held;
            }
            (*shim).held = held;
            (*shim).owns_held = true;
        }
        (*shim).base.pMethods = &METHODS;
        rc
    }
}

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: Some(shm_map),
    xShmLock: Some(shm_lock),
    xShmBarrier: Some(shm_barrier),
    xShmUnmap: Some(shm_unmap),
    xFetch: Some(fetch),
    xUnfetch: Some(unfetch),
};

/// The underlying file and its methods.
///
/// # Safety
/// `file` is an open file of this VFS.
unsafe fn underlying<'a>(file: *mut ffi::sqlite3_file) -> (*mut ffi::sqlite3_file, &'a ffi::sqlite3_io_methods) {
    // SAFETY: the caller's.
    unsafe {
        let real = (*file.cast::<ShimFile>()).real;
        (real, &*(*real).pMethods)
    }
}

/// Writes what a WAL holds: the file's own, or a database file's WAL's
/// (writing early is always safe).
///
/// # Safety
/// `file` is an open file of this VFS; a database file's `held` is its
/// open WAL's (unlinked when either closes).
unsafe fn write_held(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: the caller's.
    unsafe {
        let held = (*file.cast::<ShimFile>()).held;
        if held.is_null() { ffi::SQLITE_OK } else { (*held).write_out() }
    }
}

/// Writes what is held, then runs `f` on the underlying file.
macro_rules! after_held {
    ($file:expr, |$real:ident, $methods:ident| $call:expr) => {{
        // SAFETY: SQLite calls these methods on open files of this VFS.
        unsafe {
            let rc = write_held($file);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
            let ($real, $methods) = underlying($file);
            $call
        }
    }};
}

/// Runs `f` on the underlying file.
macro_rules! through {
    ($file:expr, |$real:ident, $methods:ident| $call:expr) => {{
        // SAFETY: SQLite calls these methods on open files of this VFS.
        unsafe {
            let ($real, $methods) = underlying($file);
            $call
        }
    }};
}

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite closes an open file once; its held writes go first.
    unsafe {
        let written = write_held(file);
        let shim = file.cast::<ShimFile>();
        if (*shim).owns_held {
            let held = Box::from_raw((*shim).held);
            if !held.database.is_null() && std::ptr::eq((*held.database).held, (*shim).held) {
                (*held.database).held = null_mut();
            }
        } else if !(*shim).held.is_null() {
            // A database file closed before its WAL: the WAL forgets it.
            (*(*shim).held).database = null_mut();
        }
        (*shim).held = null_mut();
        (*shim).owns_held = false;
        let (real, methods) = underlying(file);
        let closed = (methods.xClose.expect("xClose"))(real);
        if written != ffi::SQLITE_OK { written } else { closed }
    }
}

unsafe extern "C" fn write(file: *mut ffi::sqlite3_file, buf: *const c_void, amount: c_int, offset: i64) -> c_int {
    // SAFETY: SQLite passes `amount` readable bytes at `buf`.
    unsafe {
        let shim = file.cast::<ShimFile>();
        if !(*shim).owns_held {
            let (real, methods) = underlying(file);
            return (methods.xWrite.expect("xWrite"))(real, buf, amount, offset);
        }
        let held = &mut *(*shim).held;
        if !held.bytes.is_empty() && held.start + held.bytes.len() as i64 != offset {
            let rc = held.write_out();
            if rc != ffi::SQLITE_OK {
                return rc;
            }
        }
        if held.bytes.is_empty() {
            held.start = offset;
        }
        let data = std::slice::from_raw_parts(buf.cast::<u8>(), usize::try_from(amount).unwrap_or(0));
        held.bytes.extend_from_slice(data);
        let ends_commit = held.commit_page_next;
        held.commit_page_next = amount == FRAME_HEADER && offset >= WAL_HEADER && data[4..8] != [0; 4];
        if ends_commit || held.bytes.len() >= MAX_HELD { held.write_out() } else { ffi::SQLITE_OK }
    }
}

unsafe extern "C" fn read(file: *mut ffi::sqlite3_file, buf: *mut c_void, amount: c_int, offset: i64) -> c_int {
    after_held!(file, |real, m| (m.xRead.expect("xRead"))(real, buf, amount, offset))
}

unsafe extern "C" fn truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    after_held!(file, |real, m| (m.xTruncate.expect("xTruncate"))(real, size))
}

unsafe extern "C" fn sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    after_held!(file, |real, m| (m.xSync.expect("xSync"))(real, flags))
}

unsafe extern "C" fn file_size(file: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    after_held!(file, |real, m| (m.xFileSize.expect("xFileSize"))(real, size))
}

unsafe extern "C" fn lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    after_held!(file, |real, m| (m.xLock.expect("xLock"))(real, level))
}

unsafe extern "C" fn unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    after_held!(file, |real, m| (m.xUnlock.expect("xUnlock"))(real, level))
}

unsafe extern "C" fn check_reserved_lock(file: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    through!(file, |real, m| (m.xCheckReservedLock.expect("xCheckReservedLock"))(real, out))
}

unsafe extern "C" fn file_control(file: *mut ffi::sqlite3_file, op: c_int, arg: *mut c_void) -> c_int {
    after_held!(file, |real, m| (m.xFileControl.expect("xFileControl"))(real, op, arg))
}

unsafe extern "C" fn sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    through!(file, |real, m| (m.xSectorSize.expect("xSectorSize"))(real))
}

unsafe extern "C" fn device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    through!(file, |real, m| (m.xDeviceCharacteristics.expect("xDeviceCharacteristics"))(real))
}

unsafe extern "C" fn shm_map(
    file: *mut ffi::sqlite3_file,
    page: c_int,
    page_size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    through!(file, |real, m| match m.xShmMap {
        Some(f) => f(real, page, page_size, extend, out),
        None => ffi::SQLITE_IOERR,
    })
}

/// Before the WAL's locks change hands, what its connection wrote is in
/// the file: frames a rolled-back transaction spilled are written while
/// the write lock is still held, as SQLite's own VFS wrote them, never
/// later over what the next writer appended.
unsafe extern "C" fn shm_lock(file: *mut ffi::sqlite3_file, offset: c_int, n: c_int, flags: c_int) -> c_int {
    after_held!(file, |real, m| match m.xShmLock {
        Some(f) => f(real, offset, n, flags),
        None => ffi::SQLITE_IOERR,
    })
}

/// SQLite passes the barrier between writing the two copies of the WAL
/// index header, which publishes new frames: they must be in the file.
unsafe extern "C" fn shm_barrier(file: *mut ffi::sqlite3_file) {
    // SAFETY: a database file's `held` is its open WAL's (unlinked when
    // either closes).
    unsafe {
        let rc = write_held(file);
        if rc != ffi::SQLITE_OK {
            // Frames about to be published are not in the file: stop
            // before they are (the commit has not returned).
            eprintln!("mastermind: writing the embedded store's WAL failed ({rc}); stopping");
            std::process::abort();
        }
        let (real, m) = underlying(file);
        if let Some(f) = m.xShmBarrier {
            f(real);
        }
    }
}

unsafe extern "C" fn shm_unmap(file: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    through!(file, |real, m| match m.xShmUnmap {
        Some(f) => f(real, delete),
        None => ffi::SQLITE_OK,
    })
}

unsafe extern "C" fn fetch(file: *mut ffi::sqlite3_file, offset: i64, amount: c_int, out: *mut *mut c_void) -> c_int {
    after_held!(file, |real, m| match m.xFetch {
        Some(f) => f(real, offset, amount, out),
        None => {
            *out = null_mut();
            ffi::SQLITE_OK
        }
    })
}

unsafe extern "C" fn unfetch(file: *mut ffi::sqlite3_file, offset: i64, page: *mut c_void) -> c_int {
    through!(file, |real, m| match m.xUnfetch {
        Some(f) => f(real, offset, page),
        None => ffi::SQLITE_OK,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::{Connection, OpenFlags};

    fn writer(path: &std::path::Path) -> Connection {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE;
        let conn = Connection::open_with_flags_and_vfs(path, flags, vfs().unwrap()).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
        // No checkpoint: every commit stays in the WAL, where a reader (or
        // a copy) must find it.
        conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)").unwrap();
        conn
    }

    fn rows(conn: &Connection) -> Vec<(i64, i64)> {
        let mut stmt = conn.prepare("SELECT id, length(body) FROM t ORDER BY id").unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
    }

    /// Small commits, one larger than SQLite's own largest write, one
    /// larger than what is held: after each, a connection of SQLite's own
    /// VFS reads every committed row.
    #[test]
    fn another_connection_reads_each_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let conn = writer(&path);
        let reader = Connection::open(&path).unwrap();
        let mut expected = Vec::new();
        for (id, size) in [(1_i64, 10_i64), (2, 5_000), (3, 300_000), (4, 3 << 20), (5, 1)] {
            conn.execute("INSERT INTO t VALUES (?1, zeroblob(?2))", (id, size)).unwrap();
            expected.push((id, size));
            assert_eq!(rows(&reader), expected, "after commit {id}");
        }
        let tx = conn.unchecked_transaction().unwrap();
        for id in 6..400 {
            tx.execute("INSERT INTO t VALUES (?1, randomblob(3000))", [id]).unwrap();
            expected.push((id, 3000));
        }
        tx.commit().unwrap();
        assert_eq!(rows(&reader), expected);
    }

    /// A transaction that spilled frames and rolled back leaves nothing
    /// to be written later over another connection's commits.
    #[test]
    fn frames_of_a_rolled_back_transaction_never_overwrite_another_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let conn = writer(&path);
        // A small page cache: a big transaction spills frames to the WAL
        // before its commit.
        conn.pragma_update(None, "cache_size", 10).unwrap();
        // The log emptied first: undoing the transaction reads nothing from
        // it (which would write what is held).
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
        let tx = conn.unchecked_transaction().unwrap();
        for id in 1..200 {
            tx.execute("INSERT INTO t VALUES (?1, randomblob(2000))", [id]).unwrap();
        }
        tx.rollback().unwrap();
        let other = Connection::open(&path).unwrap();
        for id in 1000..1100 {
            other.execute("INSERT INTO t VALUES (?1, randomblob(100))", [id]).unwrap();
        }
        conn.execute("INSERT INTO t VALUES (5000, x'00')", []).unwrap();
        let fresh = Connection::open(&path).unwrap();
        let ids: Vec<i64> = rows(&fresh).into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, (1000..1100).chain([5000]).collect::<Vec<_>>());
        assert_eq!(fresh.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0)).unwrap(), "ok");
    }

    /// What a commit wrote is in the files when it returns: a copy taken
    /// then, as a killed process would leave them, holds every row.
    #[test]
    fn a_copy_taken_after_a_commit_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let conn = writer(&path);
        let copy = tempfile::tempdir().unwrap();
        for id in 1..=20_i64 {
            conn.execute("INSERT INTO t VALUES (?1, randomblob(?1 * 1000))", [id]).unwrap();
            for suffix in ["", "-wal"] {
                let name = format!("db{suffix}");
                std::fs::copy(dir.path().join(&name), copy.path().join(&name)).unwrap();
            }
            let recovered = Connection::open(copy.path().join("db")).unwrap();
            assert_eq!(rows(&recovered).len() as i64, id, "after commit {id}");
            assert_eq!(recovered.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0)).unwrap(), "ok");
        }
    }
}

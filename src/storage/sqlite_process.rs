//! Settings SQLite takes once per process, before its first use: they apply
//! to every connection of every file.

use std::ffi::{c_int, c_void};

use libsqlite3_sys as ffi;

use super::Workload;

/// Sets them for the process's first workload, once; a process that used
/// SQLite before keeps the defaults.
pub fn configure(workload: Workload) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: each call sets a global option from values that outlive
        // it (SQLite copies the allocator's table); SQLite refuses
        // (SQLITE_MISUSE) once it is in use, which leaves the default.
        let codes = unsafe {
            let mut codes = vec![
                ffi::sqlite3_config(
                    ffi::SQLITE_CONFIG_STMTJRNL_SPILL,
                    STATEMENT_JOURNAL_IN_MEMORY,
                ),
                // Memory statistics take a global lock on every
                // allocation, and nothing reads them.
                ffi::sqlite3_config(ffi::SQLITE_CONFIG_MEMSTATUS, 0 as c_int),
            ];
            if let Some(methods) = allocator(workload) {
                codes.push(ffi::sqlite3_config(
                    ffi::SQLITE_CONFIG_MALLOC,
                    &methods.0 as *const ffi::sqlite3_mem_methods,
                ));
            }
            codes
        };
        if codes.iter().any(|&code| code != ffi::SQLITE_OK) {
            tracing::debug!(?codes, "SQLite was in use already: default settings");
        }
    });
}

/// A statement in a transaction of several (a group commit's) keeps a copy
/// of every page it changes, to undo it alone; past 64 KiB SQLite moves the
/// copy to a temporary file, which a user's insert (~14 pages) reached
/// often: a file opened, written and removed per statement. Up to 1 MiB
/// stays in memory; a larger statement (a company reset) still spills.
const STATEMENT_JOURNAL_IN_MEMORY: c_int = 1 << 20;

/// An import's SQLite allocates with mimalloc, as the rest of the process
/// does: its writer spent a tenth of an import in glibc's malloc (its one
/// arena's lock included, see `src/main.rs`); 1M users import ~10% faster.
/// A server splits by size (see [`SPLIT`]).
fn allocator(workload: Workload) -> Option<&'static MemMethods> {
    match workload {
        Workload::BulkLoad => Some(&MIMALLOC),
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        Workload::Serve => Some(&SPLIT),
        #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
        Workload::Serve => None,
    }
}

static MIMALLOC: MemMethods = MemMethods(ffi::sqlite3_mem_methods {
    xMalloc: Some(malloc),
    xFree: Some(free),
    xRealloc: Some(realloc),
    xSize: Some(size),
    xRoundup: Some(roundup),
    xInit: Some(init),
    xShutdown: Some(shutdown),
    pAppData: std::ptr::null_mut(),
});

/// The table holds no data of its own (`pAppData` is null).
struct MemMethods(ffi::sqlite3_mem_methods);
// SAFETY: only functions and a null pointer, never written.
unsafe impl Sync for MemMethods {}

unsafe extern "C" fn malloc(bytes: c_int) -> *mut c_void {
    libmimalloc_sys::mi_malloc(bytes.max(0) as usize)
}

unsafe extern "C" fn free(memory: *mut c_void) {
    libmimalloc_sys::mi_free(memory)
}

unsafe extern "C" fn realloc(memory: *mut c_void, bytes: c_int) -> *mut c_void {
    libmimalloc_sys::mi_realloc(memory, bytes.max(0) as usize)
}

unsafe extern "C" fn size(memory: *mut c_void) -> c_int {
    libmimalloc_sys::mi_usable_size(memory).min(c_int::MAX as usize) as c_int
}

/// Rounded as SQLite's own allocator does.
unsafe extern "C" fn roundup(bytes: c_int) -> c_int {
    bytes.saturating_add(7) & !7
}

unsafe extern "C" fn init(_: *mut c_void) -> c_int {
    ffi::SQLITE_OK
}

unsafe extern "C" fn shutdown(_: *mut c_void) {}

/// A server's SQLite takes its small blocks from mimalloc and its large ones
/// (cache pages, from 1 KiB) from glibc's one arena. The small ones are
/// most of its allocations: each value of each row a reader copies out for
/// the request, freed on another thread; in glibc's arena, behind its lock,
/// they made a list page of 100 users ~30% slower (1,161/1,182 -> 1,637/1,668
/// pages/s with mimalloc). Pages stay with glibc, which gives them back:
/// with every block from mimalloc, 16 clients scanning 1M users peaked at
/// 101 MiB against 87 MiB.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
static SPLIT: MemMethods = MemMethods(ffi::sqlite3_mem_methods {
    xMalloc: Some(split::malloc),
    xFree: Some(split::free),
    xRealloc: Some(split::realloc),
    xSize: Some(split::size),
    xRoundup: Some(roundup),
    xInit: Some(init),
    xShutdown: Some(shutdown),
    pAppData: std::ptr::null_mut(),
});

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod split {
    use std::ffi::{c_int, c_void};

    use libmimalloc_sys::{mi_free, mi_is_in_heap_region, mi_malloc, mi_realloc, mi_usable_size};

    /// Blocks smaller than this come from mimalloc.
    const SMALL: usize = 1024;

    fn is_small(bytes: c_int) -> bool {
        (bytes.max(0) as usize) < SMALL
    }

    pub unsafe extern "C" fn malloc(bytes: c_int) -> *mut c_void {
        if is_small(bytes) {
            mi_malloc(bytes.max(0) as usize)
        } else {
            libc::malloc(bytes as usize)
        }
    }

    pub unsafe extern "C" fn free(memory: *mut c_void) {
        if mi_is_in_heap_region(memory) {
            mi_free(memory)
        } else {
            libc::free(memory)
        }
    }

    pub unsafe extern "C" fn size(memory: *mut c_void) -> c_int {
        let bytes = if mi_is_in_heap_region(memory) {
            mi_usable_size(memory)
        } else {
            libc::malloc_usable_size(memory)
        };
        bytes.min(c_int::MAX as usize) as c_int
    }

    /// In place when the block stays with its allocator, else moved.
    pub unsafe extern "C" fn realloc(memory: *mut c_void, bytes: c_int) -> *mut c_void {
        let small = mi_is_in_heap_region(memory);
        if small == is_small(bytes) {
            return if small {
                mi_realloc(memory, bytes.max(0) as usize)
            } else {
                libc::realloc(memory, bytes.max(0) as usize)
            };
        }
        let moved = malloc(bytes);
        if !moved.is_null() {
            let kept = (size(memory).max(0) as usize).min(bytes.max(0) as usize);
            std::ptr::copy_nonoverlapping(memory as *const u8, moved as *mut u8, kept);
            free(memory);
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    /// Each connection's page cache has a mutex of its own: SQLite is built
    /// without SQLITE_ENABLE_MEMORY_MANAGEMENT (`.cargo/config.toml`).
    #[test]
    fn page_caches_are_not_shared_between_connections() {
        let connection = rusqlite::Connection::open_in_memory().unwrap();
        let shared: bool = connection
            .query_row(
                "SELECT sqlite_compileoption_used('ENABLE_MEMORY_MANAGEMENT')",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert!(
            !shared,
            "SQLite was built with SQLITE_ENABLE_MEMORY_MANAGEMENT: LIBSQLITE3_FLAGS from .cargo/config.toml was not applied"
        );
    }
}

#include <sqlite3.h>

/// Turns off SQLite's global memory statistics (SQLITE_CONFIG_MEMSTATUS). With them on, every
/// allocation SQLite makes takes a process-wide mutex to update counters nothing here reads.
/// Must run before SQLite initialises (the first open); later it is a no-op (SQLITE_MISUSE).
/// A C wrapper because `sqlite3_config` is variadic and cannot be called from Swift.
static inline int etl_sqlite3_disable_memstatus(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

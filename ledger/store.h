/*
 * store.h: the storage seam. The only place of the service that includes <rocksdb/c.h>;
 * RocksDB errors are translated here (to SL_ERR_STORAGE, with the message kept).
 *
 * A store is one RocksDB directory with one column family per kind of record (see
 * docs/storage.md). Reads (store_get, iterators) are thread-safe and never block the
 * writer. Writes go through store_write of a batch, atomically; with sync, the call returns
 * only once the batch is in the synced WAL.
 *
 * Fault injection (SQLite's VFS idea): store_fault_set makes a later write fail, so tests
 * can check the writer's sticky error state without a broken disk.
 */
#ifndef SL_STORE_H
#define SL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/sl_buf.h"
#include "base/sl_err.h"

typedef enum store_cf {
	STORE_CF_META = 0,    /* "default": format version, settings */
	STORE_CF_EVENTS,      /* be64 seq -> hash[32] || Event */
	STORE_CF_VIEWS,       /* item key -> ItemView */
	STORE_CF_IDEM,        /* idempotency key -> IdemRecord */
	STORE_CF_ITEM_EVENTS, /* item key || be64 item_seq -> be64 seq */
	STORE_CF_ORDERS,      /* order id -> OrderView */
	STORE_CF_HOLDS,       /* item key \0 order id \0 line id -> be64 held || be64 preorder */
	STORE_CF_SETTINGS,    /* "orders" -> Settings */
	STORE_CF_ITEM_INDEX,  /* audit: secondary indexes of the views (ledger/index.h) */
	STORE_CF_COUNT_
} store_cf;

/* STORE_CF_SHADOW, or'ed into a view family (views, item_events, orders, order_holds,
 * settings, item_index), names its shadow copy: a second, normally empty, physical column
 * family that a rebuild fills and then makes live in one step (store_shadow_publish). Reads
 * and batches take it wherever they take a store_cf. A batch that writes shadow rows only
 * skips the WAL (they are scratch until published). */
#define STORE_CF_SHADOW 0x100u

/* store_cf_shadow: the shadow copy of view family cf. */
static inline store_cf store_cf_shadow(store_cf cf)
{
	return (store_cf)((unsigned)cf | STORE_CF_SHADOW);
}

typedef struct store store;
typedef struct store_batch store_batch;
typedef struct store_iter store_iter;
typedef struct store_snap store_snap;

/* store_open opens (creating if missing) the store in dir. On failure returns SL_ERR_STORAGE
 * and writes a message naming dir into errbuf: one that says so when another process (a
 * running stockledgerd, a stockledger-admin) holds the store, or when its file system has
 * less than SL_STORE_OPEN_FREE_BYTES_MIN free (store_space_check). */
sl_err store_open(const char *dir, store **out, char *errbuf, size_t errbuf_size);

/* store_open_bulk is store_open for a process that rebuilds and does nothing else: the shadow
 * copies of the history and secondary index families get append-only memtables, several
 * times cheaper to fill than skip lists, but slow to read until store_shadow_publish has
 * flushed them (a rebuild never reads them before). One writer thread only. */
sl_err store_open_bulk(const char *dir, store **out, char *errbuf, size_t errbuf_size);

/* store_space_check: SL_OK if the file system holding dir (or its nearest existing parent)
 * has at least min_bytes free for this process, or cannot be asked; else SL_ERR_STORAGE,
 * with a message naming dir and what is free in errbuf. store_open calls it with
 * SL_STORE_OPEN_FREE_BYTES_MIN. */
sl_err store_space_check(const char *dir, uint64_t min_bytes, char *errbuf, size_t errbuf_size);

/* store_close closes s; NULL is a no-op. */
void store_close(store *s);

/* store_get reads key of cf into val. SL_ERR_NOT_FOUND if absent. Thread-safe. */
sl_err store_get(store *s, store_cf cf, const void *key, size_t klen, sl_buf *val);

/* store_batch_alloc / store_batch_free: a write batch for s (free NULL is a no-op). Single
 * thread: a batch belongs to its builder. A batch keeps its operations until store_write,
 * which hands them to RocksDB sorted by family and key (operations on one key in the order
 * they were staged): sorted keys are cheaper to insert into a memtable. */
store_batch *store_batch_alloc(store *s);
void store_batch_free(store_batch *b);
void store_batch_clear(store_batch *b);
void store_batch_put(store_batch *b, store_cf cf, const void *key, size_t klen, const void *val,
                     size_t vlen);
void store_batch_delete(store_batch *b, store_cf cf, const void *key, size_t klen);
size_t store_batch_count(const store_batch *b);

/* store_write applies b atomically; with sync the WAL is synced first. SL_ERR_STORAGE on
 * failure (the message is kept for store_last_error); SL_ERR_NOMEM or SL_ERR_LIMIT_EXCEEDED
 * (SL_STORE_BATCH_BYTES_MAX), writing nothing, if an operation could not be staged.
 * store_batch_count counts the operations given, staged or not. */
sl_err store_write(store *s, store_batch *b, bool sync);

/* store_clear_cf deletes every record of cf (live copy). */
sl_err store_clear_cf(store *s, store_cf cf);

/* store_shadow_reset empties every shadow family (a rebuild starts with it). store_open
 * does it too when it finds rows there: a rebuild that did not finish leaves nothing. */
sl_err store_shadow_reset(store *s);

/* store_shadow_publish makes the shadow families live and drops the old live rows: it
 * flushes the shadow families to table files, then writes which generation is live in one
 * synced write to the meta family (the switch: a crash before it keeps the old views, after
 * it the new ones), then empties the families that were live. The rows of with (may be NULL:
 * meta rows that describe the new views) go in the same synced write. SL_ERR_STORAGE if a
 * step fails (before the switch nothing changed; after it, the old rows are dropped by the
 * next store_open). Not thread-safe: no reader or writer may use s meanwhile (offline
 * rebuild). */
sl_err store_shadow_publish(store *s, store_batch *with);

/*
 * Sorted table files, for a rebuild: rows written in ascending key order straight into a
 * table file (RocksDB's SstFileWriter), which store_sst_ingest then moves into a shadow
 * family, without the memtable, its skip list or a flush. The rows become visible at the
 * ingestion, over any row of the family written before.
 */
typedef struct store_sst store_sst;

/* store_sst_begin starts a table file for shadow family cf (store_cf_shadow) in the store's
 * directory. SL_ERR_STORAGE if it cannot be created. */
sl_err store_sst_begin(store *s, store_cf cf, store_sst **out);

/* store_sst_put adds a row; keys must be strictly ascending (bytewise). */
sl_err store_sst_put(store_sst *w, const void *key, size_t klen, const void *val, size_t vlen);

/* store_sst_rows: rows put so far. */
uint64_t store_sst_rows(const store_sst *w);

/* store_sst_ingest finishes the file and moves it into its family (a file without rows is
 * only removed), then frees w. Counts as a write for store_fault_set. SL_ERR_STORAGE on
 * failure: the file is removed and the family holds what it held before. */
sl_err store_sst_ingest(store_sst *w);

/* store_sst_free abandons w and removes its file; NULL is a no-op. */
void store_sst_free(store_sst *w);

/* store_iter_alloc opens an iterator on cf over a consistent snapshot taken now. */
store_iter *store_iter_alloc(store *s, store_cf cf);
void store_iter_free(store_iter *it);
void store_iter_seek(store_iter *it, const void *key, size_t klen);
void store_iter_seek_first(store_iter *it);
void store_iter_seek_last(store_iter *it);
void store_iter_seek_for_prev(store_iter *it, const void *key, size_t klen);
bool store_iter_valid(store_iter *it);
void store_iter_next(store_iter *it);
void store_iter_prev(store_iter *it);
const uint8_t *store_iter_key(store_iter *it, size_t *klen);
const uint8_t *store_iter_value(store_iter *it, size_t *vlen);
/* store_iter_status: SL_OK, or SL_ERR_STORAGE if the iteration stopped on an error. */
sl_err store_iter_status(store_iter *it);

/* store_snap_take pins a consistent point-in-time view of every column family (a RocksDB
 * snapshot); reads through it see exactly the batches written before it was taken.
 * store_snap_release frees it (NULL is a no-op). NULL on out-of-memory. Thread-safe. */
store_snap *store_snap_take(store *s);
void store_snap_release(store *s, store_snap *snap);

/* store_get_at is store_get through snap (NULL: the latest state). */
sl_err store_get_at(store *s, const store_snap *snap, store_cf cf, const void *key, size_t klen,
                    sl_buf *val);

/* store_iter_alloc_at opens an iterator on cf that reads through snap (NULL: a snapshot
 * taken now, as store_iter_alloc). */
store_iter *store_iter_alloc_at(store *s, store_cf cf, const store_snap *snap);

/* store_last_error: the message of the last RocksDB failure ("" if none). */
const char *store_last_error(store *s);

/* store_last_error_copy copies that message into buf (n > 0 bytes), safe against a failure
 * being recorded by another thread meanwhile. */
void store_last_error_copy(store *s, char *buf, size_t n);

/* store_fault_set makes the n-th next store_write or table-file ingestion fail (1 = the
 * next one); 0 disables. Any thread. */
void store_fault_set(store *s, int n);

/* store_read_fault_set makes the n-th next point read (store_get, store_get_at) of cf fail
 * with SL_ERR_STORAGE; 0 disables. Any thread. */
void store_read_fault_set(store *s, store_cf cf, int n);

/* store_expired_fn: is the record of value v (len bytes) past its retention? Called from
 * RocksDB's compaction threads. */
typedef bool (*store_expired_fn)(void *ctx, const uint8_t *v, size_t len);

/* store_set_idem_expiry makes compactions of the idem family drop the records fn calls
 * expired (ctx is its first argument and must outlive s); until it is called, none is.
 * Once per store, before it is shared between threads. */
void store_set_idem_expiry(store *s, store_expired_fn fn, void *ctx);

/* store_compact flushes cf's memtable and compacts the whole family (its filter, if any,
 * sees every record): for tests and tools. */
sl_err store_compact(store *s, store_cf cf);

/* store_settle waits until RocksDB has no flush or compaction running or pending in any
 * family (at most 600 s: SL_ERR_UNAVAILABLE after), so that a benchmark that follows a load
 * does not share the machine with the load's background work. */
sl_err store_settle(store *s);

/* store_approximate_size: bytes on disk of the store's files. */
uint64_t store_disk_bytes(store *s);

#endif

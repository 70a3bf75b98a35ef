/*
 * store.c: the RocksDB seam of StockLedger (see store.h and docs/storage.md).
 *
 * Options, chosen once here:
 * - one column family per record kind, so that scans of one kind (rebuild reads only
 *   events, checksums read only views) never touch the others;
 * - LZ4 compression for every level: events of one product share most bytes;
 * - a shared 64 MiB LRU block cache and 10-bit bloom filters on the CFs probed by key
 *   (views, idem), so that point reads of absent keys cost no disk read; none on the CFs
 *   read by range (events, item_events);
 * - memtables bounded together (128 MiB) and the WAL bounded (256 MiB);
 * - the WAL is on, and the writer syncs it on every group commit (store_write sync=true):
 *   a reply is only sent after its batch is durable.
 * - the view families exist in two generations (plain name, and ".b"); the meta key
 *   views_generation says which is live, the other is the shadow a rebuild fills and
 *   store_shadow_publish switches live with one synced write (docs/storage.md, Rebuild);
 *   store_open drops rows a rebuild that did not finish left in the shadow.
 * Failures are kept as text (store_last_error) and returned as SL_ERR_STORAGE.
 */
#include "ledger/store.h"

#include <dirent.h>
#include <pthread.h>
#include <rocksdb/c.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "base/banned.h"
#include "base/sl_limits.h"
#include "base/sl_util.h"

static const char *const cf_names[STORE_CF_COUNT_] = {
    "default", "events",      "views",    "idem",       "item_events",
    "orders",  "order_holds", "settings", "item_index",
};

/* The second physical copy of each view family (generation 1); generation 0 has the names
 * above, so a directory written before shadows existed opens as generation 0. */
static const char *const cf_names_b[STORE_CF_COUNT_] = {
    NULL,         NULL,           "views.b", NULL, "item_events.b", "orders.b", "order_holds.b",
    "settings.b", "item_index.b",
};

/* The meta key naming the live generation of the view families ("0" or "1"). */
static const char gen_key[] = "views_generation";

static bool cf_is_view(store_cf cf)
{
	return cf_names_b[cf] != NULL;
}

static const char *cf_name(store_cf cf, int gen)
{
	return gen == 0 ? cf_names[cf] : cf_names_b[cf];
}

struct store {
	rocksdb_t *db;
	rocksdb_options_t *opts;
	rocksdb_block_based_table_options_t *table_opts;
	rocksdb_options_t *scan_opts; /* events, item_events: no bloom filter */
	rocksdb_block_based_table_options_t *scan_table_opts;
	rocksdb_options_t *bulk_opts[STORE_CF_COUNT_]; /* store_open_bulk: shadow families */
	rocksdb_env_t *env;                            /* store_open_bulk: two flush threads */
	bool is_bulk;
	rocksdb_cache_t *cache;
	rocksdb_filterpolicy_t *bloom;
	rocksdb_readoptions_t *ropts;
	rocksdb_writeoptions_t *wopts_sync;
	rocksdb_writeoptions_t *wopts_nosync;
	rocksdb_writeoptions_t *wopts_unlogged;
	rocksdb_column_family_handle_t *cf[STORE_CF_COUNT_];     /* live */
	rocksdb_column_family_handle_t *shadow[STORE_CF_COUNT_]; /* view families only */
	int gen; /* generation of the live view families: cf[x] is cf_name(x, gen) */
	char *dir;
	pthread_mutex_t err_lock;
	char last_error[512];
	atomic_int fault_countdown; /* the writer and the index thread, or two rebuild threads */
	atomic_int read_fault_countdown; /* store_read_fault_set: point reads of read_fault_cf */
	_Atomic int read_fault_cf;
	atomic_ulong sst_serial; /* names of the table files store_sst_begin makes */
	/* the idem family's compaction filter (store_set_idem_expiry): fn and ctx are set once,
	 * before has_expiry says so */
	rocksdb_options_t *idem_opts;
	rocksdb_compactionfilter_t *idem_filter;
	store_expired_fn expiry_fn;
	void *expiry_ctx;
	atomic_bool has_expiry;
};

/* One staged operation of a batch; its key and then its value are in the batch's arena. */
typedef struct batch_row {
	const uint8_t *key; /* set when the batch is written (the arena moves while it grows) */
	size_t at;          /* offset of the key in the arena */
	size_t order;       /* position in the batch: operations on one key keep their order */
	uint32_t klen, vlen;
	uint32_t cf; /* store_cf, possibly flagged STORE_CF_SHADOW */
	bool is_delete;
} batch_row;

/* A batch stages its operations and hands them to RocksDB only when written, sorted by
 * family and key (docs/storage.md, "Sorted batches"): a memtable insert starts its search
 * where the previous one ended, so keys in order cost less than keys at random. */
struct store_batch {
	rocksdb_writebatch_t *wb;
	store *owner;    /* whose column family handles the operations name */
	size_t n_live;   /* operations on live column families */
	size_t n_shadow; /* operations on shadow column families */
	batch_row *rows; /* staged, in call order */
	size_t n_rows, rows_cap;
	uint8_t *arena; /* the rows' keys and values (not an sl_buf: no transport bound) */
	size_t arena_len, arena_cap;
	size_t n_ops;   /* operations given, staged or not */
	sl_err failure; /* NOMEM or LIMIT_EXCEEDED: an operation could not be staged, the
	                 * write fails */
};

/* handle_of resolves cf, possibly flagged STORE_CF_SHADOW, to its RocksDB handle. */
static rocksdb_column_family_handle_t *handle_of(const store *s, store_cf cf)
{
	unsigned c = (unsigned)cf;
	if ((c & STORE_CF_SHADOW) != 0) {
		c &= ~(unsigned)STORE_CF_SHADOW;
		SL_ASSERT(c < STORE_CF_COUNT_ && cf_is_view((store_cf)c));
		return s->shadow[c];
	}
	SL_ASSERT(c < STORE_CF_COUNT_);
	return s->cf[c];
}

static void set_error(store *s, const char *what, char *err)
{
	pthread_mutex_lock(&s->err_lock);
	snprintf(s->last_error, sizeof(s->last_error), "%s '%s': %s", what, s->dir,
	         err != NULL ? err : "unknown error");
	pthread_mutex_unlock(&s->err_lock);
	if (err != NULL)
		rocksdb_free(err);
}

const char *store_last_error(store *s)
{
	return s->last_error;
}

void store_last_error_copy(store *s, char *buf, size_t n)
{
	SL_ASSERT(n > 0);
	pthread_mutex_lock(&s->err_lock);
	snprintf(buf, n, "%s", s->last_error);
	pthread_mutex_unlock(&s->err_lock);
}

/* table_options_bound keeps table metadata in the bounded block cache without letting it
 * thrash: indexes and filters are partitioned (a lookup reads one small partition, not a
 * whole-file filter of megabytes), their top level is pinned, and they are cached with high
 * priority. Found by the footprint load: with whole-file filters in a 64 MiB cache, every
 * view lookup re-read and re-checksummed a filter block of the views CF. */
static void table_options_bound(rocksdb_block_based_table_options_t *t, rocksdb_cache_t *cache)
{
	rocksdb_block_based_options_set_block_cache(t, cache);
	rocksdb_block_based_options_set_cache_index_and_filter_blocks(t, 1);
	rocksdb_block_based_options_set_cache_index_and_filter_blocks_with_high_priority(t, 1);
	rocksdb_block_based_options_set_pin_top_level_index_and_filter(t, 1);
	rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(t, 1);
	rocksdb_block_based_options_set_index_type(
	    t, rocksdb_block_based_table_index_type_two_level_index_search);
	rocksdb_block_based_options_set_partition_filters(t, 1);
	rocksdb_block_based_options_set_metadata_block_size(t, 4096);
}

static rocksdb_options_t *cf_options(store *s, store_cf cf)
{
	if (cf == STORE_CF_IDEM)
		return s->idem_opts;
	return cf == STORE_CF_EVENTS || cf == STORE_CF_ITEM_EVENTS ? s->scan_opts : s->opts;
}

/* idem_filter_fn: RocksDB's compaction filter of the idem family. A record the expiry
 * function calls expired is dropped (RocksDB writes a tombstone in its place, so no older
 * version of the key shows through); before store_set_idem_expiry every record stays. */
static unsigned char idem_filter_fn(void *state, int level, const char *key, size_t klen,
                                    const char *val, size_t vlen, char **new_val, size_t *new_vlen,
                                    unsigned char *is_changed)
{
	(void)level;
	(void)key;
	(void)klen;
	(void)new_val;
	(void)new_vlen;
	store *s = state;
	*is_changed = 0;
	if (!atomic_load_explicit(&s->has_expiry, memory_order_acquire))
		return 0;
	return s->expiry_fn(s->expiry_ctx, (const uint8_t *)val, vlen) ? 1 : 0;
}

/* the filter's state is the store itself, which frees nothing here (RocksDB calls this
 * unconditionally when the filter is destroyed) */
static void idem_filter_state_free(void *state)
{
	(void)state;
}

static const char *idem_filter_name(void *state)
{
	(void)state;
	return "stockledger.idem_retention";
}

void store_set_idem_expiry(store *s, store_expired_fn fn, void *ctx)
{
	SL_ASSERT(fn != NULL && !atomic_load(&s->has_expiry));
	s->expiry_fn = fn;
	s->expiry_ctx = ctx;
	atomic_store_explicit(&s->has_expiry, true, memory_order_release);
}

sl_err store_compact(store *s, store_cf cf)
{
	char *err = NULL;
	rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
	rocksdb_flushoptions_set_wait(fo, 1);
	rocksdb_flush_cf(s->db, fo, handle_of(s, cf), &err);
	rocksdb_flushoptions_destroy(fo);
	if (err != NULL) {
		set_error(s, "flush", err);
		return SL_ERR_STORAGE;
	}
	rocksdb_compact_range_cf(s->db, handle_of(s, cf), NULL, 0, NULL, 0);
	return SL_OK;
}

/* The shadow family a rebuild fills with many rows through batches and never reads before
 * it publishes it: the secondary index (six rows per item). (The history index, a row per
 * event, goes in as sorted table files: store_sst_begin.) */
static bool cf_is_bulk(store_cf cf)
{
	return cf == STORE_CF_ITEM_INDEX;
}

/* bulk_options_make: in a store opened by store_open_bulk, the options of the shadow copies
 * of the bulk families: an append-only (vector) memtable of 64 MiB, sorted once when it is
 * flushed, instead of a skip list sorted at every insert (docs/storage.md, Rebuild). */
static void bulk_options_make(store *s)
{
	for (int i = 0; i < STORE_CF_COUNT_; i++) {
		if (!cf_is_bulk((store_cf)i))
			continue;
		s->bulk_opts[i] = rocksdb_options_create_copy(cf_options(s, (store_cf)i));
		rocksdb_options_set_memtable_vector_rep(s->bulk_opts[i]);
		rocksdb_options_set_write_buffer_size(s->bulk_opts[i], 64u << 20);
	}
}

/* shadow_options: the options a shadow family is created with. */
static rocksdb_options_t *shadow_options(store *s, store_cf cf)
{
	return s->is_bulk && cf_is_bulk(cf) ? s->bulk_opts[cf] : cf_options(s, cf);
}

static sl_err cf_recreate(store *s, rocksdb_column_family_handle_t **h, store_cf cf,
                          const char *name);
static sl_err shadow_recreate(store *s, store_cf cf);
static sl_err cf_recreate_with(store *s, rocksdb_column_family_handle_t **h,
                               const rocksdb_options_t *opts, const char *name);

/* generation_load reads which generation of the view families is live and points cf[] at
 * it (the other one becomes the shadow). */
static sl_err generation_load(store *s)
{
	char *err = NULL;
	size_t vlen = 0;
	char *v = rocksdb_get_cf(s->db, s->ropts, s->cf[STORE_CF_META], gen_key,
	                         sizeof(gen_key) - 1, &vlen, &err);
	if (err != NULL) {
		set_error(s, "cannot read store", err);
		return SL_ERR_STORAGE;
	}
	sl_err rc = SL_OK;
	if (v != NULL && vlen == 1 && v[0] == '1') {
		s->gen = 1;
		for (int i = 0; i < STORE_CF_COUNT_; i++) {
			if (cf_is_view((store_cf)i)) {
				rocksdb_column_family_handle_t *h = s->cf[i];
				s->cf[i] = s->shadow[i];
				s->shadow[i] = h;
			}
		}
	} else if (v != NULL && !(vlen == 1 && v[0] == '0')) {
		pthread_mutex_lock(&s->err_lock);
		snprintf(s->last_error, sizeof(s->last_error),
		         "cannot open store '%s': unknown view generation '%.*s'", s->dir,
		         (int)(vlen < 16 ? vlen : 16), v);
		pthread_mutex_unlock(&s->err_lock);
		rc = SL_ERR_CORRUPT;
	}
	rocksdb_free(v);
	return rc;
}

/* shadow_drop_leftovers empties the shadow families that hold rows (a drop and create,
 * which syncs the manifest, is skipped for the empty ones): at open, the rows a rebuild that
 * did not finish (or a crash between its switch and its cleanup) left there, never read. */
static sl_err shadow_drop_leftovers(store *s)
{
	sl_err rc = SL_OK;
	for (int i = 0; i < STORE_CF_COUNT_ && rc == SL_OK; i++) {
		if (!cf_is_view((store_cf)i))
			continue;
		rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, s->ropts, s->shadow[i]);
		rocksdb_iter_seek_to_first(it);
		bool is_empty = rocksdb_iter_valid(it) == 0;
		rocksdb_iter_destroy(it);
		if (!is_empty)
			rc = shadow_recreate(s, (store_cf)i);
	}
	return rc;
}

/* sst_drop_leftovers removes the table files of a rebuild that stopped between writing one
 * (store_sst_begin) and ingesting it: never part of the database, and named by a prefix
 * RocksDB's own files never have. */
static void sst_drop_leftovers(store *s)
{
	DIR *d = opendir(s->dir);
	if (d == NULL)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		if (strncmp(e->d_name, "rebuild-", 8) == 0 && n > 4 &&
		    strcmp(e->d_name + n - 4, ".sst") == 0) {
			char path[1024];
			snprintf(path, sizeof(path), "%s/%s", s->dir, e->d_name);
			(void)unlink(path);
		}
	}
	closedir(d);
}

static sl_err open_mode(const char *dir, bool is_bulk, store **out, char *errbuf,
                        size_t errbuf_size);

sl_err store_open(const char *dir, store **out, char *errbuf, size_t errbuf_size)
{
	return open_mode(dir, false, out, errbuf, errbuf_size);
}

sl_err store_open_bulk(const char *dir, store **out, char *errbuf, size_t errbuf_size)
{
	return open_mode(dir, true, out, errbuf, errbuf_size);
}

/* bulk_shadows_make creates the shadow copies of the bulk families again with their bulk
 * options (they are empty after shadow_drop_leftovers: a drop and create is cheap). */
static sl_err bulk_shadows_make(store *s)
{
	sl_err rc = SL_OK;
	for (int i = 0; i < STORE_CF_COUNT_ && rc == SL_OK; i++)
		if (cf_is_bulk((store_cf)i))
			rc = shadow_recreate(s, (store_cf)i);
	return rc;
}

sl_err store_space_check(const char *dir, uint64_t min_bytes, char *errbuf, size_t errbuf_size)
{
	/* a directory not made yet (RocksDB creates it) is asked through its parent */
	char path[4096];
	if (sl_strlcpy(path, dir, sizeof(path)) >= sizeof(path))
		return SL_OK;
	struct statvfs fs;
	while (statvfs(path, &fs) != 0) {
		char *slash = strrchr(path, '/');
		if (slash == NULL && strcmp(path, ".") != 0)
			sl_strlcpy(path, ".", sizeof(path));
		else if (slash != NULL && slash != path)
			*slash = '\0';
		else if (slash == path && path[1] != '\0')
			path[1] = '\0';
		else
			return SL_OK;
	}
	/* root may write into the blocks a file system keeps back for it */
	uint64_t blocks = geteuid() == 0 ? (uint64_t)fs.f_bfree : (uint64_t)fs.f_bavail;
	uint64_t free_bytes = blocks * (uint64_t)fs.f_frsize;
	if (free_bytes >= min_bytes)
		return SL_OK;
	snprintf(errbuf, errbuf_size,
	         "cannot open store '%s': no space left on its file system (%llu KiB free, "
	         "it needs %llu KiB to open): free some space",
	         dir, (unsigned long long)(free_bytes / 1024),
	         (unsigned long long)(min_bytes / 1024));
	return SL_ERR_STORAGE;
}

/* lock_hint: the words that tell an operator why RocksDB could not take dir's lock. */
static const char *lock_hint(const char *err)
{
	if (err != NULL && (strstr(err, "While lock file") != NULL ||
	                    strstr(err, "lock hold by current process") != NULL))
		return "the directory is in use by another process (a running stockledgerd, or a "
		       "stockledger-admin): ";
	return "";
}

static sl_err open_mode(const char *dir, bool is_bulk, store **out, char *errbuf,
                        size_t errbuf_size)
{
	char *err = NULL;
	sl_err src = store_space_check(dir, SL_STORE_OPEN_FREE_BYTES_MIN, errbuf, errbuf_size);
	if (src != SL_OK)
		return src;
	store *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		snprintf(errbuf, errbuf_size, "cannot open store '%s': out of memory", dir);
		return SL_ERR_NOMEM;
	}
	pthread_mutex_init(&s->err_lock, NULL);
	s->dir = strdup(dir);
	s->opts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(s->opts, 1);
	rocksdb_options_set_create_missing_column_families(s->opts, 1);
	rocksdb_options_set_compression(s->opts, rocksdb_lz4_compression);
	rocksdb_options_increase_parallelism(s->opts, 2);
	rocksdb_options_set_max_open_files(s->opts, 512);
	rocksdb_options_set_write_buffer_size(s->opts, 8u << 20);
	/* All memtables together stay under 128 MiB however many CFs are busy, and the WAL
	 * under 256 MiB: a CF written rarely (idem, meta) would otherwise pin old WAL files
	 * until its own memtable filled. */
	rocksdb_options_set_db_write_buffer_size(s->opts, 128u << 20);
	rocksdb_options_set_max_total_wal_size(s->opts, 256u << 20);
	rocksdb_options_set_level_compaction_dynamic_level_bytes(s->opts, 1);
	/* In the service two threads write: the writer (synced groups) and the index thread
	 * (its rows, not synced). Pipelined, the writer's WAL write and sync go on while the
	 * index thread's batch is still being inserted into the memtables, instead of waiting
	 * for it. Not in bulk mode: one thread writes there, and pipelining with a vector
	 * memtable, no concurrent memtable writes and unlogged batches is the combination of
	 * RocksDB issue 3704 (writers hang in JoinBatchGroup). */
	if (!is_bulk)
		rocksdb_options_set_enable_pipelined_write(s->opts, 1);
	/* A vector memtable takes one writer at a time; a bulk process has only one. */
	s->is_bulk = is_bulk;
	if (is_bulk) {
		rocksdb_options_set_allow_concurrent_memtable_write(s->opts, 0);
		/* the shadows are flushed together at the switch: one flush per core */
		s->env = rocksdb_create_default_env();
		rocksdb_env_set_high_priority_background_threads(s->env, 2);
		rocksdb_options_set_env(s->opts, s->env);
		rocksdb_options_set_max_background_flushes(s->opts, 2);
	}
	s->cache = rocksdb_cache_create_lru(64u << 20);
	s->bloom = rocksdb_filterpolicy_create_bloom(10);
	s->table_opts = rocksdb_block_based_options_create();
	rocksdb_block_based_options_set_block_cache(s->table_opts, s->cache);
	rocksdb_block_based_options_set_filter_policy(s->table_opts, s->bloom);
	table_options_bound(s->table_opts, s->cache);
	rocksdb_options_set_block_based_table_factory(s->opts, s->table_opts);
	/* The log and the item index are read by range (replay, history), never probed for
	 * absent keys: a bloom filter there would only cost disk and cache. */
	s->scan_opts = rocksdb_options_create_copy(s->opts);
	s->scan_table_opts = rocksdb_block_based_options_create();
	table_options_bound(s->scan_table_opts, s->cache);
	rocksdb_options_set_block_based_table_factory(s->scan_opts, s->scan_table_opts);
	if (is_bulk)
		bulk_options_make(s);
	/* The idem family: as the others, with the retention window's compaction filter
	 * (docs/decisions.md, Idempotency). The filter outlives the database (store_close). */
	s->idem_opts = rocksdb_options_create_copy(s->opts);
	s->idem_filter = rocksdb_compactionfilter_create(s, idem_filter_state_free, idem_filter_fn,
	                                                 idem_filter_name);
	rocksdb_options_set_compaction_filter(s->idem_opts, s->idem_filter);

	/* Both generations of every view family are opened; which one is live is read from
	 * the meta family below. */
	const rocksdb_options_t *cf_opts[2 * STORE_CF_COUNT_];
	const char *names[2 * STORE_CF_COUNT_];
	rocksdb_column_family_handle_t *handles[2 * STORE_CF_COUNT_];
	int n = 0;
	for (int i = 0; i < STORE_CF_COUNT_; i++) {
		cf_opts[n] = cf_options(s, (store_cf)i);
		names[n++] = cf_names[i];
	}
	for (int i = 0; i < STORE_CF_COUNT_; i++) {
		if (cf_is_view((store_cf)i)) {
			cf_opts[n] = cf_options(s, (store_cf)i);
			names[n++] = cf_names_b[i];
		}
	}
	s->db = rocksdb_open_column_families(s->opts, dir, n, names, cf_opts, handles, &err);
	if (s->db != NULL) {
		n = 0;
		for (int i = 0; i < STORE_CF_COUNT_; i++)
			s->cf[i] = handles[n++];
		for (int i = 0; i < STORE_CF_COUNT_; i++)
			if (cf_is_view((store_cf)i))
				s->shadow[i] = handles[n++];
	}
	if (s->db == NULL) {
		snprintf(errbuf, errbuf_size, "cannot open store '%s': %s%s", dir, lock_hint(err),
		         err != NULL ? err : "unknown error");
		rocksdb_free(err);
		store_close(s);
		return SL_ERR_STORAGE;
	}
	s->ropts = rocksdb_readoptions_create();
	s->wopts_sync = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(s->wopts_sync, 1);
	s->wopts_nosync = rocksdb_writeoptions_create();
	s->wopts_unlogged = rocksdb_writeoptions_create();
	rocksdb_writeoptions_disable_WAL(s->wopts_unlogged, 1);
	sl_err rc = generation_load(s);
	if (rc == SL_OK)
		rc = shadow_drop_leftovers(s);
	if (rc == SL_OK)
		sst_drop_leftovers(s);
	if (rc == SL_OK && is_bulk)
		rc = bulk_shadows_make(s);
	if (rc != SL_OK) {
		snprintf(errbuf, errbuf_size, "%s", s->last_error);
		store_close(s);
		return rc;
	}
	*out = s;
	return SL_OK;
}

void store_close(store *s)
{
	if (s == NULL)
		return;
	for (int i = 0; i < STORE_CF_COUNT_; i++) {
		if (s->cf[i] != NULL)
			rocksdb_column_family_handle_destroy(s->cf[i]);
		if (s->shadow[i] != NULL)
			rocksdb_column_family_handle_destroy(s->shadow[i]);
	}
	if (s->db != NULL)
		rocksdb_close(s->db);
	if (s->ropts != NULL)
		rocksdb_readoptions_destroy(s->ropts);
	if (s->wopts_sync != NULL)
		rocksdb_writeoptions_destroy(s->wopts_sync);
	if (s->wopts_nosync != NULL)
		rocksdb_writeoptions_destroy(s->wopts_nosync);
	if (s->wopts_unlogged != NULL)
		rocksdb_writeoptions_destroy(s->wopts_unlogged);
	if (s->opts != NULL)
		rocksdb_options_destroy(s->opts);
	if (s->scan_opts != NULL)
		rocksdb_options_destroy(s->scan_opts);
	if (s->idem_opts != NULL)
		rocksdb_options_destroy(s->idem_opts);
	if (s->idem_filter != NULL)
		rocksdb_compactionfilter_destroy(s->idem_filter);
	for (int i = 0; i < STORE_CF_COUNT_; i++)
		if (s->bulk_opts[i] != NULL)
			rocksdb_options_destroy(s->bulk_opts[i]);
	if (s->env != NULL)
		rocksdb_env_destroy(s->env);
	if (s->scan_table_opts != NULL)
		rocksdb_block_based_options_destroy(s->scan_table_opts);
	/* the table options own the filter policy */
	if (s->table_opts != NULL)
		rocksdb_block_based_options_destroy(s->table_opts);
	if (s->cache != NULL)
		rocksdb_cache_destroy(s->cache);
	pthread_mutex_destroy(&s->err_lock);
	free(s->dir);
	free(s);
}

struct store_snap {
	const rocksdb_snapshot_t *snap;
	rocksdb_readoptions_t *ropts;
};

store_snap *store_snap_take(store *s)
{
	store_snap *sn = calloc(1, sizeof(*sn));
	if (sn == NULL)
		return NULL;
	sn->snap = rocksdb_create_snapshot(s->db);
	sn->ropts = rocksdb_readoptions_create();
	rocksdb_readoptions_set_snapshot(sn->ropts, sn->snap);
	return sn;
}

void store_snap_release(store *s, store_snap *snap)
{
	if (snap == NULL)
		return;
	rocksdb_readoptions_destroy(snap->ropts);
	rocksdb_release_snapshot(s->db, snap->snap);
	free(snap);
}

/* fault_take counts countdown (armed by a fault seam to n) one down; on the n-th call it sets
 * the failure message ("cannot <what> store ...: injected fault") and returns true. */
static bool fault_take(store *s, atomic_int *countdown, const char *what)
{
	int n = atomic_load(countdown);
	while (n > 0 && !atomic_compare_exchange_weak(countdown, &n, n - 1))
		;
	if (n != 1)
		return false;
	pthread_mutex_lock(&s->err_lock);
	snprintf(s->last_error, sizeof(s->last_error), "cannot %s store '%s': injected fault", what,
	         s->dir);
	pthread_mutex_unlock(&s->err_lock);
	return true;
}

/* read_fault_hit: does this point read of cf take the fault store_read_fault_set armed? */
static bool read_fault_hit(store *s, store_cf cf)
{
	return atomic_load(&s->read_fault_countdown) > 0 &&
	       atomic_load(&s->read_fault_cf) == (int)cf &&
	       fault_take(s, &s->read_fault_countdown, "read");
}

sl_err store_get(store *s, store_cf cf, const void *key, size_t klen, sl_buf *val)
{
	return store_get_at(s, NULL, cf, key, klen, val);
}

sl_err store_get_at(store *s, const store_snap *snap, store_cf cf, const void *key, size_t klen,
                    sl_buf *val)
{
	char *err = NULL;
	if (read_fault_hit(s, cf))
		return SL_ERR_STORAGE;
	rocksdb_pinnableslice_t *ps = rocksdb_get_pinned_cf(
	    s->db, snap != NULL ? snap->ropts : s->ropts, handle_of(s, cf), key, klen, &err);
	if (err != NULL) {
		set_error(s, "cannot read store", err);
		return SL_ERR_STORAGE;
	}
	if (ps == NULL)
		return SL_ERR_NOT_FOUND;
	size_t vlen = 0;
	const char *v = rocksdb_pinnableslice_value(ps, &vlen);
	sl_err rc = sl_buf_set(val, v, vlen);
	rocksdb_pinnableslice_destroy(ps);
	return rc;
}

store_batch *store_batch_alloc(store *s)
{
	store_batch *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return NULL;
	b->wb = rocksdb_writebatch_create();
	b->owner = s;
	return b;
}

void store_batch_free(store_batch *b)
{
	if (b == NULL)
		return;
	rocksdb_writebatch_destroy(b->wb);
	free(b->rows);
	free(b->arena);
	free(b);
}

void store_batch_clear(store_batch *b)
{
	rocksdb_writebatch_clear(b->wb);
	b->n_live = 0;
	b->n_shadow = 0;
	b->n_rows = 0;
	b->arena_len = 0;
	b->n_ops = 0;
	b->failure = SL_OK;
}

static void batch_count(store_batch *b, store_cf cf)
{
	if (((unsigned)cf & STORE_CF_SHADOW) != 0)
		b->n_shadow++;
	else
		b->n_live++;
}

/* arena_append copies n bytes to the end of the batch's arena. */
static sl_err arena_append(store_batch *b, const void *data, size_t n)
{
	if (n > SL_STORE_BATCH_BYTES_MAX - b->arena_len)
		return SL_ERR_LIMIT_EXCEEDED;
	if (b->arena_len + n > b->arena_cap) {
		size_t cap = b->arena_cap > 0 ? b->arena_cap : 4096;
		while (cap < b->arena_len + n)
			cap =
			    cap > SL_STORE_BATCH_BYTES_MAX / 2 ? SL_STORE_BATCH_BYTES_MAX : cap * 2;
		uint8_t *arena = realloc(b->arena, cap);
		if (arena == NULL)
			return SL_ERR_NOMEM;
		b->arena = arena;
		b->arena_cap = cap;
	}
	if (n > 0)
		memcpy(b->arena + b->arena_len, data, n);
	b->arena_len += n;
	return SL_OK;
}

static void batch_stage(store_batch *b, store_cf cf, bool is_delete, const void *key, size_t klen,
                        const void *val, size_t vlen)
{
	b->n_ops++;
	if (b->failure != SL_OK)
		return;
	if (b->n_rows == b->rows_cap) {
		size_t cap = b->rows_cap > 0 ? b->rows_cap * 2 : 64;
		batch_row *rows = realloc(b->rows, cap * sizeof(*rows));
		if (rows == NULL) {
			b->failure = SL_ERR_NOMEM;
			return;
		}
		b->rows = rows;
		b->rows_cap = cap;
	}
	if (klen > UINT32_MAX || vlen > UINT32_MAX) {
		b->failure = SL_ERR_LIMIT_EXCEEDED;
		return;
	}
	size_t at = b->arena_len;
	sl_err rc = arena_append(b, key, klen);
	if (rc == SL_OK)
		rc = arena_append(b, val, vlen);
	if (rc != SL_OK) {
		b->failure = rc;
		return;
	}
	batch_count(b, cf);
	b->rows[b->n_rows] = (batch_row){.at = at,
	                                 .order = b->n_rows,
	                                 .klen = (uint32_t)klen,
	                                 .vlen = (uint32_t)vlen,
	                                 .cf = (uint32_t)cf,
	                                 .is_delete = is_delete};
	b->n_rows++;
}

void store_batch_put(store_batch *b, store_cf cf, const void *key, size_t klen, const void *val,
                     size_t vlen)
{
	batch_stage(b, cf, false, key, klen, val, vlen);
}

void store_batch_delete(store_batch *b, store_cf cf, const void *key, size_t klen)
{
	batch_stage(b, cf, true, key, klen, NULL, 0);
}

size_t store_batch_count(const store_batch *b)
{
	return b->n_ops;
}

/* row_cmp orders rows by family, then key (bytewise, as the families' comparator), then
 * staging order. */
static int row_cmp(const void *pa, const void *pb)
{
	const batch_row *a = pa, *b = pb;
	if (a->cf != b->cf)
		return a->cf < b->cf ? -1 : 1;
	int c = memcmp(a->key, b->key, a->klen < b->klen ? a->klen : b->klen);
	if (c != 0)
		return c;
	if (a->klen != b->klen)
		return a->klen < b->klen ? -1 : 1;
	return a->order < b->order ? -1 : a->order > b->order ? 1 : 0;
}

/* batch_build fills the RocksDB batch with the staged rows, sorted. */
static void batch_build(store_batch *b)
{
	rocksdb_writebatch_clear(b->wb);
	for (size_t i = 0; i < b->n_rows; i++)
		b->rows[i].key = b->arena + b->rows[i].at;
	qsort(b->rows, b->n_rows, sizeof(*b->rows), row_cmp);
	for (size_t i = 0; i < b->n_rows; i++) {
		const batch_row *r = &b->rows[i];
		const char *k = (const char *)r->key;
		rocksdb_column_family_handle_t *h = handle_of(b->owner, (store_cf)r->cf);
		if (r->is_delete)
			rocksdb_writebatch_delete_cf(b->wb, h, k, r->klen);
		else
			rocksdb_writebatch_put_cf(b->wb, h, k, r->klen, k + r->klen, r->vlen);
	}
}

/* fault_hit: does this write take the fault store_fault_set armed (the n-th from then)?
 * If so the write's failure message is set. */
static bool fault_hit(store *s)
{
	return fault_take(s, &s->fault_countdown, "write");
}

sl_err store_write(store *s, store_batch *b, bool sync)
{
	char *err = NULL;
	SL_ASSERT(b->owner == s);
	if (b->failure != SL_OK) {
		pthread_mutex_lock(&s->err_lock);
		snprintf(s->last_error, sizeof(s->last_error),
		         "cannot write store '%s': %s staging the batch", s->dir,
		         b->failure == SL_ERR_NOMEM ? "out of memory"
		                                    : "over " SL_STORE_BATCH_BYTES_MAX_TEXT);
		pthread_mutex_unlock(&s->err_lock);
		return b->failure;
	}
	if (fault_hit(s))
		return SL_ERR_STORAGE;
	/* A batch of shadow rows only skips the WAL: store_shadow_publish flushes the shadow
	 * families before it makes them live, and until then they are scratch. */
	rocksdb_writeoptions_t *wo = sync ? s->wopts_sync : s->wopts_nosync;
	if (b->n_live == 0 && b->n_shadow > 0)
		wo = s->wopts_unlogged;
	batch_build(b);
	rocksdb_write(s->db, wo, b->wb, &err);
	if (err != NULL) {
		set_error(s, "cannot write store", err);
		return SL_ERR_STORAGE;
	}
	return SL_OK;
}

struct store_sst {
	store *s;
	store_cf cf;
	rocksdb_envoptions_t *env;
	rocksdb_sstfilewriter_t *w;
	uint64_t rows;
	char path[1024];
};

sl_err store_sst_begin(store *s, store_cf cf, store_sst **out)
{
	SL_ASSERT(((unsigned)cf & STORE_CF_SHADOW) != 0);
	store_cf base = (store_cf)((unsigned)cf & ~STORE_CF_SHADOW);
	store_sst *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return SL_ERR_NOMEM;
	w->s = s;
	w->cf = cf;
	snprintf(w->path, sizeof(w->path), "%s/rebuild-%s-%lu.sst", s->dir, cf_names[base],
	         atomic_fetch_add(&s->sst_serial, 1) + 1);
	w->env = rocksdb_envoptions_create();
	w->w = rocksdb_sstfilewriter_create(w->env, shadow_options(s, base));
	char *err = NULL;
	rocksdb_sstfilewriter_open(w->w, w->path, &err);
	if (err != NULL) {
		set_error(s, "cannot create a table file in", err);
		store_sst_free(w);
		return SL_ERR_STORAGE;
	}
	*out = w;
	return SL_OK;
}

sl_err store_sst_put(store_sst *w, const void *key, size_t klen, const void *val, size_t vlen)
{
	char *err = NULL;
	rocksdb_sstfilewriter_put(w->w, key, klen, val, vlen, &err);
	if (err != NULL) {
		set_error(w->s, "cannot write a table file in", err);
		return SL_ERR_STORAGE;
	}
	w->rows++;
	return SL_OK;
}

uint64_t store_sst_rows(const store_sst *w)
{
	return w->rows;
}

sl_err store_sst_ingest(store_sst *w)
{
	store *s = w->s;
	sl_err rc = SL_OK;
	char *err = NULL;
	if (w->rows > 0) {
		rocksdb_sstfilewriter_finish(w->w, &err);
		if (err != NULL) {
			set_error(s, "cannot finish a table file in", err);
			rc = SL_ERR_STORAGE;
		}
	}
	if (rc == SL_OK && w->rows > 0 && fault_hit(s))
		rc = SL_ERR_STORAGE;
	if (rc == SL_OK && w->rows > 0) {
		rocksdb_ingestexternalfileoptions_t *io =
		    rocksdb_ingestexternalfileoptions_create();
		rocksdb_ingestexternalfileoptions_set_move_files(io, 1);
		const char *files[1] = {w->path};
		store_cf base = (store_cf)((unsigned)w->cf & ~STORE_CF_SHADOW);
		rocksdb_ingest_external_file_cf(s->db, s->shadow[base], files, 1, io, &err);
		rocksdb_ingestexternalfileoptions_destroy(io);
		if (err != NULL) {
			set_error(s, "cannot ingest a table file into", err);
			rc = SL_ERR_STORAGE;
		}
	}
	store_sst_free(w);
	return rc;
}

void store_sst_free(store_sst *w)
{
	if (w == NULL)
		return;
	if (w->w != NULL)
		rocksdb_sstfilewriter_destroy(w->w);
	if (w->env != NULL)
		rocksdb_envoptions_destroy(w->env);
	(void)unlink(w->path); /* moved in by an ingestion: already gone */
	free(w);
}

sl_err store_clear_cf(store *s, store_cf cf)
{
	SL_ASSERT(cf != STORE_CF_META && cf < STORE_CF_COUNT_);
	return cf_recreate(s, &s->cf[cf], cf, cf_is_view(cf) ? cf_name(cf, s->gen) : cf_names[cf]);
}

/* cf_recreate drops the column family *h (named name) and creates it again, empty. */
static sl_err cf_recreate(store *s, rocksdb_column_family_handle_t **h, store_cf cf,
                          const char *name)
{
	return cf_recreate_with(s, h, cf_options(s, cf), name);
}

static sl_err cf_recreate_with(store *s, rocksdb_column_family_handle_t **h,
                               const rocksdb_options_t *opts, const char *name)
{
	char *err = NULL;
	rocksdb_drop_column_family(s->db, *h, &err);
	if (err != NULL) {
		set_error(s, "cannot drop column family of", err);
		return SL_ERR_STORAGE;
	}
	rocksdb_column_family_handle_destroy(*h);
	*h = rocksdb_create_column_family(s->db, opts, name, &err);
	if (err != NULL) {
		*h = NULL;
		set_error(s, "cannot create column family of", err);
		return SL_ERR_STORAGE;
	}
	return SL_OK;
}

static sl_err shadow_recreate(store *s, store_cf cf)
{
	return cf_recreate_with(s, &s->shadow[cf], shadow_options(s, cf), cf_name(cf, 1 - s->gen));
}

sl_err store_shadow_reset(store *s)
{
	return shadow_drop_leftovers(s);
}

sl_err store_shadow_publish(store *s, store_batch *with)
{
	char *err = NULL;
	/* 1. the shadow rows were written without the WAL: make them durable in table files.
	 * Every flush is scheduled first, then each is waited for, so that they run side by
	 * side when there are flush threads for it (store_open_bulk). */
	rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
	for (int wait = 0; wait <= 1; wait++) {
		rocksdb_flushoptions_set_wait(fo, (unsigned char)wait);
		for (int i = 0; i < STORE_CF_COUNT_ && err == NULL; i++)
			if (cf_is_view((store_cf)i))
				rocksdb_flush_cf(s->db, fo, s->shadow[i], &err);
	}
	rocksdb_flushoptions_destroy(fo);
	if (err != NULL) {
		set_error(s, "cannot flush the rebuilt views of", err);
		return SL_ERR_STORAGE;
	}
	/* 2. the switch: one synced write of the generation key; before it the old views are
	 * live, after it the new ones, whenever a crash comes */
	char v = s->gen == 0 ? '1' : '0';
	store_batch *b = with != NULL ? with : store_batch_alloc(s);
	if (b == NULL)
		return SL_ERR_NOMEM;
	store_batch_put(b, STORE_CF_META, gen_key, sizeof(gen_key) - 1, &v, 1);
	sl_err rc = store_write(s, b, true);
	if (b != with)
		store_batch_free(b);
	if (rc != SL_OK)
		return rc;
	for (int i = 0; i < STORE_CF_COUNT_; i++) {
		if (cf_is_view((store_cf)i)) {
			rocksdb_column_family_handle_t *h = s->cf[i];
			s->cf[i] = s->shadow[i];
			s->shadow[i] = h;
		}
	}
	s->gen = 1 - s->gen;
	/* 3. the old rows are dropped (a crash before this leaves them to store_open) */
	return store_shadow_reset(s);
}

struct store_iter {
	store *s;
	rocksdb_iterator_t *it;
};

store_iter *store_iter_alloc(store *s, store_cf cf)
{
	return store_iter_alloc_at(s, cf, NULL);
}

store_iter *store_iter_alloc_at(store *s, store_cf cf, const store_snap *snap)
{
	store_iter *it = calloc(1, sizeof(*it));
	if (it == NULL)
		return NULL;
	it->s = s;
	it->it = rocksdb_create_iterator_cf(s->db, snap != NULL ? snap->ropts : s->ropts,
	                                    handle_of(s, cf));
	return it;
}

void store_iter_free(store_iter *it)
{
	if (it == NULL)
		return;
	rocksdb_iter_destroy(it->it);
	free(it);
}

void store_iter_seek(store_iter *it, const void *key, size_t klen)
{
	rocksdb_iter_seek(it->it, key, klen);
}

void store_iter_seek_first(store_iter *it)
{
	rocksdb_iter_seek_to_first(it->it);
}

void store_iter_seek_last(store_iter *it)
{
	rocksdb_iter_seek_to_last(it->it);
}

void store_iter_seek_for_prev(store_iter *it, const void *key, size_t klen)
{
	rocksdb_iter_seek_for_prev(it->it, key, klen);
}

bool store_iter_valid(store_iter *it)
{
	return rocksdb_iter_valid(it->it) != 0;
}

void store_iter_next(store_iter *it)
{
	rocksdb_iter_next(it->it);
}

void store_iter_prev(store_iter *it)
{
	rocksdb_iter_prev(it->it);
}

const uint8_t *store_iter_key(store_iter *it, size_t *klen)
{
	return (const uint8_t *)rocksdb_iter_key(it->it, klen);
}

const uint8_t *store_iter_value(store_iter *it, size_t *vlen)
{
	return (const uint8_t *)rocksdb_iter_value(it->it, vlen);
}

sl_err store_iter_status(store_iter *it)
{
	char *err = NULL;
	rocksdb_iter_get_error(it->it, &err);
	if (err != NULL) {
		set_error(it->s, "cannot iterate store", err);
		return SL_ERR_STORAGE;
	}
	return SL_OK;
}

/* settle_busy: is a flush or compaction running, or pending in family h? */
static bool settle_busy(store *s, rocksdb_column_family_handle_t *h)
{
	static const char *const props[] = {"rocksdb.compaction-pending",
	                                    "rocksdb.mem-table-flush-pending"};
	for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
		uint64_t v = 0;
		if (rocksdb_property_int_cf(s->db, h, props[i], &v) == 0 && v > 0)
			return true;
	}
	return false;
}

sl_err store_settle(store *s)
{
	static const char *const running[] = {"rocksdb.num-running-compactions",
	                                      "rocksdb.num-running-flushes"};
	for (int tick = 0; tick < 6000; tick++) {
		bool is_busy = false;
		for (size_t i = 0; i < sizeof(running) / sizeof(running[0]) && !is_busy; i++) {
			uint64_t v = 0;
			is_busy = rocksdb_property_int(s->db, running[i], &v) == 0 && v > 0;
		}
		for (int i = 0; i < STORE_CF_COUNT_ && !is_busy; i++)
			is_busy = settle_busy(s, s->cf[i]) ||
			          (s->shadow[i] != NULL && settle_busy(s, s->shadow[i]));
		if (!is_busy)
			return SL_OK;
		struct timespec ts = {.tv_sec = 0, .tv_nsec = 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	pthread_mutex_lock(&s->err_lock);
	snprintf(s->last_error, sizeof(s->last_error),
	         "store '%s' still flushing or compacting after 600 s", s->dir);
	pthread_mutex_unlock(&s->err_lock);
	return SL_ERR_UNAVAILABLE;
}

void store_read_fault_set(store *s, store_cf cf, int n)
{
	atomic_store(&s->read_fault_cf, (int)cf);
	atomic_store(&s->read_fault_countdown, n);
}

void store_fault_set(store *s, int n)
{
	atomic_store(&s->fault_countdown, n);
}

uint64_t store_disk_bytes(store *s)
{
	uint64_t total = 0;
	DIR *d = opendir(s->dir);
	if (d == NULL)
		return 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		char path[4096];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", s->dir, de->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			total += (uint64_t)st.st_size;
	}
	closedir(d);
	return total;
}

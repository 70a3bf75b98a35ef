/*
 * ledger.c: the event log with its hash chain, the item index, view rows and idempotency
 * records, over the store seam (see ledger.h for the record formats).
 *
 * The committed head (seq, hash) is the only shared mutable state; it is guarded by a mutex
 * and published only after a successful commit, so readers see either the old or the new
 * head and never a staged one. A transaction keeps its own pending head:
 *
 *      begin            append...          commit ok
 *   idle -----> staging ---------> staging -----------> idle (head = pending)
 *                  |                             commit failed
 *                  +------------------------------------------> failed (sticky, no more txns)
 */
#include "ledger/ledger.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/banned.h"
#include "base/sl_util.h"
#include "base/sl_map.h"
#include "ledger/codec.h"
#include "ledger/index.h"
#include "ledger/memindex.h"

struct ledger {
	store *st;
	pthread_mutex_t lock;
	pthread_cond_t indexed; /* broadcast when indexed_seq moves or the ledger fails */
	uint64_t head_seq;
	uint64_t indexed_seq; /* secondary indexes complete up to here (<= head_seq) */
	unsigned char head_hash[SL_HASH_BYTES];
	sl_err sticky;
	char cause[SL_LEDGER_CAUSE_MAX]; /* why the ledger failed ("" while it has not) */
	/* the hot indexes (NULL in a bulk ledger): changed under mem_lock's write side by the
	 * thread that commits index rows; mem_seq is the event they are complete up to */
	memindex *mem;
	pthread_rwlock_t mem_lock;
	uint64_t mem_seq;
	/* an index batch or a hot change failed: no later batch is applied and sorted scans
	 * answer STORAGE until a restart derives the indexes again (under mem_lock) */
	bool is_index_broken;
	/* how long an idempotency record answers retries (0: for ever); read by the lookups
	 * and by RocksDB's compaction threads (idem_record_expired) */
	_Atomic int64_t idem_retention_ms;
};

struct ledger_index_batch {
	store_batch *rows;
	ledger_hot_ops hot;
};

static void index_batch_clear(ledger_index_batch *ib)
{
	store_batch_clear(ib->rows);
	ledger_hot_ops_clear(&ib->hot);
}

struct ledger_txn {
	ledger *l;
	store_batch *batch;
	uint64_t next_seq;
	unsigned char prev_hash[SL_HASH_BYTES];
	bool is_open;
	bool is_shadow; /* writes the shadow view families (rebuild) */
	sl_buf scratch;
	sl_buf value;
	sl_map staged;          /* item key -> ledger_index_row of the views staged in this txn */
	ledger_index_batch *ib; /* where the secondary index rows go (NULL: batch and hot) */
	ledger_hot_ops hot;     /* the hot index changes of this txn when ib is NULL */
};

static const char format_key[] = "format";
/* "indexed_seq" marked an index family that held the hot 'Q' and 'U' rows too; a directory
 * with only that mark has its family derived again, without them (index_catch_up). */
static const char indexed_key[] = "indexed_seq.2";
static const char indexed_key_1[] = "indexed_seq";
static const char views_seq_key[] = "views_seq";
/* stockledger-2: an item's revision is its item_seq (projector/stock.c), also after a
 * delete and a re-create, where stockledger-1 started again at 1 (views_revision_migrate) */
static const char format_value[] = "stockledger-2";
static const char format_value_1[] = "stockledger-1";

size_t ledger_key_encode(const sl_item_key *key, uint8_t *buf)
{
	size_t p = strlen(key->product_id), v = strlen(key->variant_id),
	       l = strlen(key->location_id);
	memcpy(buf, key->product_id, p);
	buf[p] = '\0';
	memcpy(buf + p + 1, key->variant_id, v);
	buf[p + 1 + v] = '\0';
	memcpy(buf + p + v + 2, key->location_id, l);
	return p + v + l + 2;
}

static sl_err head_load(ledger *l, const char *dir, char *errbuf, size_t errbuf_size)
{
	store_iter *it = store_iter_alloc(l->st, STORE_CF_EVENTS);
	if (it == NULL)
		return SL_ERR_NOMEM;
	sl_err rc = SL_OK;
	store_iter_seek_last(it);
	if (store_iter_valid(it)) {
		size_t klen, vlen;
		const uint8_t *k = store_iter_key(it, &klen);
		const uint8_t *v = store_iter_value(it, &vlen);
		if (klen != 8 || vlen < SL_HASH_BYTES) {
			snprintf(
			    errbuf, errbuf_size,
			    "cannot open ledger '%s': the last record of the log is not an event",
			    dir);
			rc = SL_ERR_CORRUPT;
		} else {
			l->head_seq = sl_be64_get(k);
			memcpy(l->head_hash, v, SL_HASH_BYTES);
		}
	} else if ((rc = store_iter_status(it)) != SL_OK) {
		snprintf(errbuf, errbuf_size, "%s", store_last_error(l->st));
	}
	store_iter_free(it);
	return rc;
}

/*
 * views_walk calls row for every view of l, decoded, in key order. row may stage into b,
 * which is written (not synced) every VIEWS_WALK_ROWS views, and leaves in b what the last
 * ones staged: the caller adds its mark and writes it. The open's passes over all views
 * (the format migration, deriving the stored and the hot indexes) share it.
 */
#define VIEWS_WALK_ROWS 4096
typedef sl_err (*views_walk_fn)(void *ctx, store_batch *b, const uint8_t *k, size_t klen,
                                sl_item *item);

static sl_err views_walk(ledger *l, store_batch *b, views_walk_fn row, void *ctx)
{
	store_iter *it = store_iter_alloc(l->st, STORE_CF_VIEWS);
	if (it == NULL)
		return SL_ERR_NOMEM;
	sl_err rc = SL_OK;
	size_t n = 0;
	for (store_iter_seek_first(it); rc == SL_OK && store_iter_valid(it); store_iter_next(it)) {
		size_t klen, vlen;
		const uint8_t *k = store_iter_key(it, &klen);
		const uint8_t *v = store_iter_value(it, &vlen);
		sl_item item;
		if ((rc = ledger_item_decode(v, vlen, &item)) != SL_OK ||
		    (rc = row(ctx, b, k, klen, &item)) != SL_OK)
			break;
		if (b != NULL && ++n % VIEWS_WALK_ROWS == 0 && store_batch_count(b) > 0) {
			rc = store_write(l->st, b, false);
			store_batch_clear(b);
		}
	}
	if (rc == SL_OK)
		rc = store_iter_status(it);
	store_iter_free(it);
	return rc;
}

typedef struct migrate_ctx {
	sl_buf enc;
	size_t n; /* views changed */
} migrate_ctx;

static sl_err migrate_row(void *ctx, store_batch *b, const uint8_t *k, size_t klen, sl_item *item)
{
	migrate_ctx *m = ctx;
	if (item->revision == (int64_t)item->item_seq)
		return SL_OK;
	item->revision = (int64_t)item->item_seq;
	m->enc.len = 0;
	sl_err rc = ledger_item_encode(item, &m->enc);
	if (rc == SL_OK) {
		store_batch_put(b, STORE_CF_VIEWS, k, klen, m->enc.data, m->enc.len);
		m->n++;
	}
	return rc;
}

/* views_revision_migrate brings the views of a stockledger-1 directory to stockledger-2: a
 * view whose revision is not its item_seq (an item deleted and created again) gets its
 * item_seq as revision, as a fold of the log now gives; then the format, synced. A crash
 * midway leaves format 1, and the next open does it again (rows already right are
 * skipped). */
static sl_err views_revision_migrate(ledger *l, char *errbuf, size_t errbuf_size)
{
	store_batch *b = store_batch_alloc(l->st);
	migrate_ctx m = {.n = 0};
	sl_buf_init(&m.enc);
	sl_err rc = b == NULL ? SL_ERR_NOMEM : views_walk(l, b, migrate_row, &m);
	if (rc == SL_OK) {
		store_batch_put(b, STORE_CF_META, format_key, sizeof(format_key) - 1, format_value,
		                sizeof(format_value) - 1);
		rc = store_write(l->st, b, true);
	}
	if (rc != SL_OK)
		snprintf(errbuf, errbuf_size, "cannot bring the views to format %s: %s",
		         format_value,
		         rc == SL_ERR_STORAGE ? store_last_error(l->st) : sl_strerror(rc));
	else if (m.n > 0)
		fprintf(stderr, "stockledger: views brought to format %s (%zu revisions)\n",
		        format_value, m.n);
	sl_buf_fini(&m.enc);
	store_batch_free(b);
	return rc;
}

static sl_err format_check(ledger *l, char *errbuf, size_t errbuf_size)
{
	sl_buf v;
	sl_buf_init(&v);
	sl_err rc = store_get(l->st, STORE_CF_META, format_key, sizeof(format_key) - 1, &v);
	if (rc == SL_ERR_NOT_FOUND) {
		store_batch *b = store_batch_alloc(l->st);
		if (b == NULL)
			return SL_ERR_NOMEM;
		store_batch_put(b, STORE_CF_META, format_key, sizeof(format_key) - 1, format_value,
		                sizeof(format_value) - 1);
		rc = store_write(l->st, b, true);
		store_batch_free(b);
		if (rc != SL_OK)
			snprintf(errbuf, errbuf_size, "%s", store_last_error(l->st));
	} else if (rc == SL_OK) {
		if (v.len == sizeof(format_value_1) - 1 &&
		    memcmp(v.data, format_value_1, v.len) == 0) {
			rc = views_revision_migrate(l, errbuf, errbuf_size);
		} else if (v.len != sizeof(format_value) - 1 ||
		           memcmp(v.data, format_value, v.len) != 0) {
			snprintf(errbuf, errbuf_size, "unknown data format '%.*s'", (int)v.len,
			         (const char *)v.data);
			rc = SL_ERR_CORRUPT;
		}
	} else {
		snprintf(errbuf, errbuf_size, "%s", store_last_error(l->st));
	}
	sl_buf_fini(&v);
	return rc;
}

static sl_err mark_get_key(ledger *l, const store_snap *snap, const char *key, uint64_t *out)
{
	sl_buf v;
	sl_buf_init(&v);
	sl_err rc = store_get_at(l->st, snap, STORE_CF_META, key, strlen(key), &v);
	if (rc == SL_OK && v.len != 8)
		rc = SL_ERR_CORRUPT;
	if (rc == SL_OK)
		*out = sl_be64_get(v.data);
	sl_buf_fini(&v);
	return rc;
}

static sl_err mark_get(ledger *l, const store_snap *snap, uint64_t *out)
{
	return mark_get_key(l, snap, indexed_key, out);
}

static void mark_put(store_batch *b, uint64_t seq)
{
	uint8_t v[8];
	sl_be64_put(v, seq);
	store_batch_put(b, STORE_CF_META, indexed_key, sizeof(indexed_key) - 1, v, sizeof(v));
}

static sl_err index_row(void *ctx, store_batch *b, const uint8_t *k, size_t klen, sl_item *item)
{
	(void)ctx;
	(void)k;
	(void)klen;
	ledger_index_row row;
	ledger_index_row_of(item, &row);
	ledger_index_stage(b, STORE_CF_ITEM_INDEX, NULL, NULL, &row);
	return SL_OK;
}

/* index_rows_write stages the stored index rows of every view into the emptied index
 * family, then the mark, synced. */
static sl_err index_rows_write(ledger *l)
{
	store_batch *b = store_batch_alloc(l->st);
	sl_err rc = b == NULL ? SL_ERR_NOMEM : views_walk(l, b, index_row, NULL);
	if (rc == SL_OK) {
		mark_put(b, l->head_seq);
		store_batch_delete(b, STORE_CF_META, indexed_key_1, sizeof(indexed_key_1) - 1);
		rc = store_write(l->st, b, true);
	}
	store_batch_free(b);
	return rc;
}

/* index_catch_up derives the secondary indexes again from the views when the mark says they
 * lag the log (a crash before the index thread wrote them, or a directory without the
 * mark). The views are written with their events, so they are the truth at the head. */
static sl_err index_catch_up(ledger *l, char *errbuf, size_t errbuf_size)
{
	uint64_t mark = 0;
	sl_err rc = mark_get(l, NULL, &mark);
	/* no mark, or one that does not decode: derived data, derive it again */
	if (rc != SL_OK && rc != SL_ERR_NOT_FOUND && rc != SL_ERR_CORRUPT)
		goto fail;
	/* the mark of a build that stored the hot rows too: its family holds them */
	uint64_t old_mark;
	sl_err old_rc = mark_get_key(l, NULL, indexed_key_1, &old_mark);
	if (old_rc == SL_OK || old_rc == SL_ERR_CORRUPT)
		rc = SL_ERR_NOT_FOUND;
	else if (old_rc != SL_ERR_NOT_FOUND)
		goto fail_old;
	if (rc == SL_OK && mark >= l->head_seq) {
		l->indexed_seq = l->head_seq;
		return SL_OK;
	}
	if ((rc = store_clear_cf(l->st, STORE_CF_ITEM_INDEX)) != SL_OK ||
	    (rc = index_rows_write(l)) != SL_OK)
		goto fail;
	l->indexed_seq = l->head_seq;
	return SL_OK;
fail_old:
	rc = old_rc;
fail:
	snprintf(errbuf, errbuf_size, "cannot bring the secondary indexes up to the log: %s",
	         rc == SL_ERR_STORAGE ? store_last_error(l->st) : sl_strerror(rc));
	return rc;
}

/* ---- hot indexes ---- */

/* hot_row inserts the hot keys of item into the memindex ctx. */
static sl_err hot_row(void *ctx, store_batch *b, const uint8_t *k, size_t klen, sl_item *item)
{
	(void)b;
	(void)k;
	(void)klen;
	ledger_index_row row;
	uint8_t keys[LEDGER_INDEX_PER_ITEM][LEDGER_INDEX_KEY_BYTES];
	size_t lens[LEDGER_INDEX_PER_ITEM];
	ledger_index_row_of(item, &row);
	size_t n = ledger_index_keys(&row, keys, lens);
	sl_err rc = SL_OK;
	for (size_t i = 0; i < n && rc == SL_OK; i++)
		if (ledger_index_is_hot(keys[i][0]))
			rc = memindex_insert(ctx, keys[i], lens[i]);
	return rc;
}

/* hot_fill fills the empty h with the hot keys of every view of l. */
static sl_err hot_fill(ledger *l, memindex *h)
{
	return views_walk(l, NULL, hot_row, h);
}

/* hot_build derives l's hot indexes from its views (ledger_open; after a rebuild's switch). */
static sl_err hot_build(ledger *l, char *errbuf, size_t errbuf_size)
{
	pthread_rwlock_wrlock(&l->mem_lock);
	memindex_clear(l->mem);
	sl_err rc = hot_fill(l, l->mem);
	/* the views are as of the log's head, or of the seq a rebuild stopped at (--to-seq) */
	uint64_t seq = ledger_head(l, NULL);
	if (rc == SL_OK)
		rc = ledger_views_cap(l, &seq);
	l->mem_seq = seq;
	l->is_index_broken = rc != SL_OK;
	pthread_rwlock_unlock(&l->mem_lock);
	if (rc != SL_OK)
		snprintf(errbuf, errbuf_size, "cannot derive the hot indexes from the views: %s",
		         rc == SL_ERR_STORAGE ? store_last_error(l->st) : sl_strerror(rc));
	return rc;
}

/* hot_apply applies the changes of ops to l's hot indexes, complete up to seq after them.
 * A change that does not fit (an insert of a key present, a delete of one absent) is
 * SL_ERR_CORRUPT: the memory no longer is the fold of the views. A failure says why in
 * cause and marks the indexes broken. */
static sl_err hot_apply(ledger *l, const ledger_hot_ops *ops, uint64_t seq, char *cause,
                        size_t cause_size)
{
	if (l->mem == NULL)
		return SL_OK; /* a bulk ledger: no hot indexes */
	sl_err rc = ops->is_nomem ? SL_ERR_NOMEM : SL_OK;
	size_t off = 0, klen;
	bool is_insert;
	const uint8_t *k;
	pthread_rwlock_wrlock(&l->mem_lock);
	while (rc == SL_OK && ledger_hot_ops_next(ops, &off, &is_insert, &k, &klen)) {
		rc =
		    is_insert ? memindex_insert(l->mem, k, klen) : memindex_delete(l->mem, k, klen);
		if (rc == SL_ERR_NOT_FOUND)
			rc = SL_ERR_CORRUPT;
	}
	if (rc == SL_OK && seq > l->mem_seq)
		l->mem_seq = seq;
	if (rc != SL_OK) {
		l->is_index_broken = true;
		snprintf(cause, cause_size, "cannot change the hot indexes in memory: %s",
		         sl_strerror(rc));
	}
	pthread_rwlock_unlock(&l->mem_lock);
	return rc;
}

sl_err ledger_hot_scan(ledger *l, const uint8_t *from, size_t from_len, bool is_desc,
                       const uint8_t *lo, size_t lo_len, const uint8_t *hi, size_t hi_len,
                       size_t max, sl_buf *out, size_t *n, uint64_t *seq)
{
	*n = 0;
	out->len = 0;
	if (l->mem == NULL)
		return SL_ERR_UNAVAILABLE;
	static const uint8_t past_all[1] = {0xff};
	uint8_t k[LEDGER_INDEX_KEY_BYTES];
	memindex_pos pos;
	sl_err rc = SL_OK;
	pthread_rwlock_rdlock(&l->mem_lock);
	*seq = l->mem_seq;
	bool is_at = false;
	if (l->is_index_broken)
		rc = SL_ERR_STORAGE;
	else if (!is_desc)
		is_at = memindex_seek(l->mem, from, from_len, &pos);
	else if (from_len > 0)
		is_at = memindex_seek_for_prev(l->mem, from, from_len, &pos);
	else
		is_at = memindex_seek_for_prev(l->mem, past_all, sizeof(past_all), &pos);
	while (is_at && *n < max && rc == SL_OK) {
		size_t klen = memindex_key(l->mem, &pos, k);
		bool is_below = ledger_index_key_cmp(k, klen, lo, lo_len) < 0;
		bool is_above = hi_len > 0 && ledger_index_key_cmp(k, klen, hi, hi_len) >= 0;
		if (is_desc ? is_below : is_above)
			break; /* past the range in the direction of the walk */
		if (!is_below && !is_above && (rc = sl_buf_reserve(out, 2 + klen)) == SL_OK) {
			out->data[out->len] = (uint8_t)(klen >> 8);
			out->data[out->len + 1] = (uint8_t)klen;
			memcpy(out->data + out->len + 2, k, klen);
			out->len += 2 + klen;
			(*n)++;
		}
		is_at = is_desc ? memindex_prev(l->mem, &pos) : memindex_next(l->mem, &pos);
	}
	pthread_rwlock_unlock(&l->mem_lock);
	return rc;
}

sl_err ledger_hot_verify(ledger *l, char *msg, size_t msg_size)
{
	if (l->mem == NULL)
		return SL_OK;
	memindex *fresh = NULL;
	sl_err rc = memindex_alloc(&fresh);
	if (rc == SL_OK)
		rc = hot_fill(l, fresh);
	if (rc != SL_OK) {
		snprintf(msg, msg_size, "cannot derive the hot indexes from the views: %s",
		         rc == SL_ERR_STORAGE ? store_last_error(l->st) : sl_strerror(rc));
		memindex_free(fresh);
		return rc;
	}
	uint8_t a[LEDGER_INDEX_KEY_BYTES], b[LEDGER_INDEX_KEY_BYTES];
	memindex_pos pa, pb;
	pthread_rwlock_rdlock(&l->mem_lock);
	size_t held = memindex_count(l->mem), want = memindex_count(fresh);
	bool is_a = memindex_seek(l->mem, (const uint8_t *)"", 0, &pa);
	bool is_b = memindex_seek(fresh, (const uint8_t *)"", 0, &pb);
	while (rc == SL_OK && (is_a || is_b)) {
		size_t alen = is_a ? memindex_key(l->mem, &pa, a) : 0;
		size_t blen = is_b ? memindex_key(fresh, &pb, b) : 0;
		if (is_a != is_b || ledger_index_key_cmp(a, alen, b, blen) != 0) {
			const uint8_t *k =
			    is_b && (!is_a || ledger_index_key_cmp(b, blen, a, alen) < 0) ? b : a;
			snprintf(msg, msg_size,
			         "the hot index in memory %s key '%c' of item '%s' (it holds %zu "
			         "keys, the views call for %zu)",
			         k == b ? "lacks" : "holds a stray", k[0],
			         (const char *)k + ledger_index_item_key(k, k == b ? blen : alen),
			         held, want);
			rc = SL_ERR_CORRUPT;
			break;
		}
		is_a = memindex_next(l->mem, &pa);
		is_b = memindex_next(fresh, &pb);
	}
	pthread_rwlock_unlock(&l->mem_lock);
	memindex_free(fresh);
	return rc;
}

sl_err ledger_views_publish(ledger *l, store_batch *mark)
{
	sl_err rc = store_shadow_publish(l->st, mark);
	char err[SL_LEDGER_CAUSE_MAX];
	/* the new views are live: hot indexes that cannot follow them stop the ledger */
	if (rc == SL_OK && l->mem != NULL && (rc = hot_build(l, err, sizeof(err))) != SL_OK)
		ledger_fail(l, rc, err);
	return rc;
}

static bool idem_record_expired(void *ctx, const uint8_t *v, size_t len);
static sl_err open_mode(const char *dir, bool is_bulk, bool has_hot, ledger **out, char *errbuf,
                        size_t errbuf_size);

sl_err ledger_open(const char *dir, ledger **out, char *errbuf, size_t errbuf_size)
{
	return open_mode(dir, false, true, out, errbuf, errbuf_size);
}

sl_err ledger_open_bulk(const char *dir, ledger **out, char *errbuf, size_t errbuf_size)
{
	return open_mode(dir, true, false, out, errbuf, errbuf_size);
}

sl_err ledger_open_tool(const char *dir, ledger **out, char *errbuf, size_t errbuf_size)
{
	return open_mode(dir, false, false, out, errbuf, errbuf_size);
}

static sl_err open_mode(const char *dir, bool is_bulk, bool has_hot, ledger **out, char *errbuf,
                        size_t errbuf_size)
{
	ledger *l = calloc(1, sizeof(*l));
	if (l == NULL) {
		snprintf(errbuf, errbuf_size, "cannot open ledger '%s': out of memory", dir);
		return SL_ERR_NOMEM;
	}
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->indexed, NULL);
	pthread_rwlock_init(&l->mem_lock, NULL);
	sl_err rc = is_bulk ? store_open_bulk(dir, &l->st, errbuf, errbuf_size)
	                    : store_open(dir, &l->st, errbuf, errbuf_size);
	if (rc == SL_OK)
		store_set_idem_expiry(l->st, idem_record_expired, l);
	if (rc == SL_OK)
		rc = format_check(l, errbuf, errbuf_size);
	if (rc == SL_OK)
		rc = head_load(l, dir, errbuf, errbuf_size);
	if (rc == SL_OK)
		rc = index_catch_up(l, errbuf, errbuf_size);
	if (rc == SL_OK && has_hot && (rc = memindex_alloc(&l->mem)) != SL_OK)
		snprintf(errbuf, errbuf_size, "cannot open ledger '%s': out of memory", dir);
	if (rc == SL_OK && has_hot)
		rc = hot_build(l, errbuf, errbuf_size);
	if (rc != SL_OK) {
		ledger_close(l);
		return rc;
	}
	*out = l;
	return SL_OK;
}

void ledger_close(ledger *l)
{
	if (l == NULL)
		return;
	store_close(l->st);
	memindex_free(l->mem);
	pthread_rwlock_destroy(&l->mem_lock);
	pthread_cond_destroy(&l->indexed);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

store *ledger_store(ledger *l)
{
	return l->st;
}

uint64_t ledger_head(ledger *l, unsigned char *hash)
{
	pthread_mutex_lock(&l->lock);
	uint64_t seq = l->head_seq;
	if (hash != NULL)
		memcpy(hash, l->head_hash, SL_HASH_BYTES);
	pthread_mutex_unlock(&l->lock);
	return seq;
}

sl_err ledger_status(ledger *l)
{
	pthread_mutex_lock(&l->lock);
	sl_err rc = l->sticky;
	pthread_mutex_unlock(&l->lock);
	return rc;
}

void ledger_failure_cause(ledger *l, char *buf, size_t n)
{
	SL_ASSERT(n > 0);
	pthread_mutex_lock(&l->lock);
	snprintf(buf, n, "%s", l->cause);
	pthread_mutex_unlock(&l->lock);
}

/* sticky_set_locked enters the failed state (the first failure stays: its cause is the
 * one that tells what went wrong). Called with l->lock held. */
static void sticky_set_locked(ledger *l, sl_err rc, const char *cause)
{
	if (l->sticky != SL_OK)
		return;
	l->sticky = rc;
	snprintf(l->cause, sizeof(l->cause), "%s", cause);
}

sl_err ledger_view_get(ledger *l, const sl_item_key *key, sl_item *out)
{
	return ledger_view_get_at(l, NULL, key, out);
}

sl_err ledger_view_get_at(ledger *l, const store_snap *snap, const sl_item_key *key, sl_item *out)
{
	uint8_t k[LEDGER_KEY_BYTES];
	size_t klen = ledger_key_encode(key, k);
	sl_buf v;
	sl_buf_init(&v);
	sl_err rc = store_get_at(l->st, snap, STORE_CF_VIEWS, k, klen, &v);
	if (rc == SL_OK)
		rc = ledger_item_decode(v.data, v.len, out);
	sl_buf_fini(&v);
	return rc;
}

void ledger_set_idem_retention(ledger *l, int64_t retention_ms)
{
	SL_ASSERT(retention_ms >= 0);
	atomic_store(&l->idem_retention_ms, retention_ms);
}

/* idem_is_past: is a record made at time_ms older than windows retention windows (window
 * ms each) at now? Never with no window, and never a record without a time (made before
 * records carried one). */
static bool idem_is_past(int64_t window, int64_t time_ms, int64_t now, int64_t windows)
{
	if (window == 0 || time_ms <= 0 || window > INT64_MAX / 4)
		return false;
	return time_ms < now - windows * window;
}

/* idem_record_expired: the compaction filter's test. It drops a record only past twice the
 * window a lookup applies: a clock stepped forward (a bad RTC, an NTP step) by up to a
 * window misleads lookups while it lasts, but deletes nothing they will want back once it
 * is set right (review). A record whose fields do not parse is kept: a lookup reports it
 * CORRUPT. */
static bool idem_record_expired(void *ctx, const uint8_t *v, size_t len)
{
	ledger *l = ctx;
	int64_t window = atomic_load(&l->idem_retention_ms), time_ms;
	return window > 0 && ledger_idem_time(v, len, &time_ms) == SL_OK &&
	       idem_is_past(window, time_ms, sl_time_now_ms(), 2);
}

sl_err ledger_idem_get(ledger *l, const char *key, unsigned char *content_hash, sl_buf *result)
{
	sl_buf v;
	uint64_t seq;
	int64_t time_ms;
	sl_buf_init(&v);
	sl_err rc = store_get(l->st, STORE_CF_IDEM, key, strlen(key), &v);
	/* past the window the key is new again, whether or not a compaction dropped it yet;
	 * the time is read first, so that an expired record leaves the outputs untouched (the
	 * decode writes them only when it succeeds) */
	if (rc == SL_OK && (rc = ledger_idem_time(v.data, v.len, &time_ms)) == SL_OK &&
	    idem_is_past(atomic_load(&l->idem_retention_ms), time_ms, sl_time_now_ms(), 1))
		rc = SL_ERR_NOT_FOUND;
	if (rc == SL_OK)
		rc = ledger_idem_decode(v.data, v.len, content_hash, result, &seq, &time_ms);
	sl_buf_fini(&v);
	return rc;
}

static sl_err event_from_value(const uint8_t *v, size_t vlen, sl_event *out)
{
	if (vlen < SL_HASH_BYTES)
		return SL_ERR_CORRUPT;
	sl_err rc = ledger_event_decode(v + SL_HASH_BYTES, vlen - SL_HASH_BYTES, out);
	if (rc == SL_OK)
		memcpy(out->hash, v, SL_HASH_BYTES);
	return rc;
}

sl_err ledger_event_get(ledger *l, uint64_t seq, sl_event *out)
{
	return ledger_event_get_at(l, NULL, seq, out);
}

/* hash_before reads the stored hash of the event before seq, raw (whether that event still
 * decodes is its own business), into prev: zero before the first event. SL_ERR_CORRUPT if
 * the log has no such record (a gap below seq). */
static sl_err hash_before(ledger *l, const store_snap *snap, uint64_t seq, unsigned char *prev)
{
	memset(prev, 0, SL_HASH_BYTES);
	if (seq <= 1)
		return SL_OK;
	uint8_t k[8];
	sl_buf pv;
	sl_buf_init(&pv);
	sl_be64_put(k, seq - 1);
	sl_err rc = store_get_at(l->st, snap, STORE_CF_EVENTS, k, sizeof(k), &pv);
	if (rc == SL_ERR_NOT_FOUND || (rc == SL_OK && pv.len < SL_HASH_BYTES))
		rc = SL_ERR_CORRUPT;
	if (rc == SL_OK)
		memcpy(prev, pv.data, SL_HASH_BYTES);
	sl_buf_fini(&pv);
	return rc;
}

/* is_linked: the stored record rec (chain hash, then the event) hashes, with prev, to its
 * own stored hash, as ledger_txn_append made it. */
static bool is_linked(const unsigned char *prev, const uint8_t *rec, size_t len)
{
	unsigned char h[SL_HASH_BYTES];
	sl_sha256(prev, SL_HASH_BYTES, rec + SL_HASH_BYTES, len - SL_HASH_BYTES, h);
	return memcmp(h, rec, SL_HASH_BYTES) == 0;
}

/* link_check: event seq (record v) is linked to the stored hash of the event before it. An
 * event whose bytes were changed, or whose stored hash was, fails; one changed together
 * with its stored hash breaks the next event's link instead (verify finds both). */
static sl_err link_check(ledger *l, const store_snap *snap, uint64_t seq, const sl_buf *v)
{
	unsigned char prev[SL_HASH_BYTES];
	sl_err rc = hash_before(l, snap, seq, prev);
	if (rc != SL_OK)
		return rc;
	return is_linked(prev, v->data, v->len) ? SL_OK : SL_ERR_CORRUPT;
}

sl_err ledger_event_get_at(ledger *l, const store_snap *snap, uint64_t seq, sl_event *out)
{
	uint8_t k[8];
	sl_be64_put(k, seq);
	sl_buf v;
	sl_buf_init(&v);
	sl_err rc = store_get_at(l->st, snap, STORE_CF_EVENTS, k, sizeof(k), &v);
	if (rc == SL_OK)
		rc = event_from_value(v.data, v.len, out);
	if (rc == SL_OK && out->seq != seq)
		rc = SL_ERR_CORRUPT;
	if (rc == SL_OK)
		rc = link_check(l, snap, seq, &v);
	sl_buf_fini(&v);
	return rc;
}

sl_err ledger_history(ledger *l, const sl_item_key *key, uint64_t after_item_seq, size_t max,
                      sl_event *out, size_t *n_out, uint64_t *next_item_seq)
{
	uint8_t k[LEDGER_KEY_BYTES];
	if (after_item_seq == UINT64_MAX) {
		/* the cursor comes from a client: past the last item_seq there is nothing (and
		 * after_item_seq + 1 would wrap to the start of the history) */
		*n_out = 0;
		*next_item_seq = 0;
		return SL_OK;
	}
	size_t plen = ledger_key_encode(key, k);
	k[plen++] = '\0';
	sl_be64_put(k + plen, after_item_seq + 1);
	store_iter *it = store_iter_alloc(l->st, STORE_CF_ITEM_EVENTS);
	if (it == NULL)
		return SL_ERR_NOMEM;
	sl_err rc = SL_OK;
	size_t n = 0;
	uint64_t next = 0;
	for (store_iter_seek(it, k, plen + 8); store_iter_valid(it); store_iter_next(it)) {
		size_t klen, vlen;
		const uint8_t *ik = store_iter_key(it, &klen);
		const uint8_t *iv = store_iter_value(it, &vlen);
		if (klen != plen + 8 || memcmp(ik, k, plen) != 0)
			break;
		if (vlen != 8) {
			rc = SL_ERR_CORRUPT;
			break;
		}
		if (n == max) {
			/* there is more: the next page starts after the last one read (or where
			 * this one started, for a page of 0) */
			next = n > 0 ? out[n - 1].item_seq : after_item_seq;
			break;
		}
		if ((rc = ledger_event_get(l, sl_be64_get(iv), &out[n])) != SL_OK)
			break;
		n++;
	}
	if (rc == SL_OK)
		rc = store_iter_status(it);
	store_iter_free(it);
	if (rc == SL_OK) {
		*n_out = n;
		*next_item_seq = next;
	}
	return rc;
}

/* The view column families, in checksum order. Empty ones add nothing, so the checksum of
 * a log without orders is what it was before orders existed. */
static const store_cf view_cfs[] = {STORE_CF_VIEWS, STORE_CF_ORDERS, STORE_CF_HOLDS,
                                    STORE_CF_SETTINGS};

static sl_err cf_checksum(ledger *l, store_cf cf, unsigned char *h, uint64_t *n_rows);

sl_err ledger_views_checksum(ledger *l, unsigned char *out, uint64_t *n_rows)
{
	unsigned char h[SL_HASH_BYTES] = {0};
	uint64_t n = 0;
	sl_err rc = SL_OK;
	for (size_t i = 0; i < sizeof(view_cfs) / sizeof(view_cfs[0]) && rc == SL_OK; i++)
		rc = cf_checksum(l, view_cfs[i], h, &n);
	if (rc == SL_OK) {
		memcpy(out, h, SL_HASH_BYTES);
		*n_rows = n;
	}
	return rc;
}

/* cf_checksum chains every row of cf into h and adds the rows to *n_rows. */
static sl_err cf_checksum(ledger *l, store_cf cf, unsigned char *h, uint64_t *n_rows)
{
	uint64_t n = 0;
	sl_buf rec;
	sl_buf_init(&rec);
	store_iter *it = store_iter_alloc(l->st, cf);
	if (it == NULL)
		return SL_ERR_NOMEM;
	sl_err rc = SL_OK;
	for (store_iter_seek_first(it); store_iter_valid(it) && rc == SL_OK; store_iter_next(it)) {
		size_t klen, vlen;
		const uint8_t *k = store_iter_key(it, &klen);
		const uint8_t *v = store_iter_value(it, &vlen);
		uint8_t len8[8];
		rec.len = 0;
		sl_be64_put(len8, klen);
		rc = sl_buf_append(&rec, len8, 8);
		if (rc == SL_OK)
			rc = sl_buf_append(&rec, k, klen);
		sl_be64_put(len8, vlen);
		if (rc == SL_OK)
			rc = sl_buf_append(&rec, len8, 8);
		if (rc == SL_OK)
			rc = sl_buf_append(&rec, v, vlen);
		sl_sha256(h, SL_HASH_BYTES, rec.data, rec.len, h);
		n++;
	}
	if (rc == SL_OK)
		rc = store_iter_status(it);
	store_iter_free(it);
	sl_buf_fini(&rec);
	if (rc == SL_OK)
		*n_rows += n;
	return rc;
}

ledger_txn *ledger_txn_alloc(ledger *l)
{
	ledger_txn *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->l = l;
	t->batch = store_batch_alloc(l->st);
	if (t->batch == NULL) {
		free(t);
		return NULL;
	}
	sl_buf_init(&t->scratch);
	sl_buf_init(&t->value);
	if (sl_map_init(&t->staged, sizeof(ledger_index_row), SL_TXN_VIEWS_MAX) != SL_OK) {
		ledger_txn_free(t);
		return NULL;
	}
	return t;
}

ledger_txn *ledger_txn_alloc_shadow(ledger *l)
{
	ledger_txn *t = ledger_txn_alloc(l);
	if (t != NULL)
		t->is_shadow = true;
	return t;
}

/* txn_cf: where t writes the rows of view family cf. */
static store_cf txn_cf(const ledger_txn *t, store_cf cf)
{
	return t->is_shadow ? store_cf_shadow(cf) : cf;
}

void ledger_txn_free(ledger_txn *t)
{
	if (t == NULL)
		return;
	store_batch_free(t->batch);
	sl_buf_fini(&t->scratch);
	sl_buf_fini(&t->value);
	sl_map_fini(&t->staged);
	ledger_hot_ops_fini(&t->hot);
	free(t);
}

sl_err ledger_txn_begin(ledger_txn *t)
{
	SL_ASSERT(!t->is_open);
	sl_err rc = ledger_status(t->l);
	if (rc != SL_OK)
		return rc;
	t->next_seq = ledger_head(t->l, t->prev_hash) + 1;
	store_batch_clear(t->batch);
	sl_map_clear(&t->staged);
	ledger_hot_ops_clear(&t->hot);
	t->is_open = true;
	return SL_OK;
}

uint64_t ledger_txn_next_seq(const ledger_txn *t)
{
	return t->next_seq;
}

size_t ledger_history_key(const uint8_t *item_key, size_t klen, uint64_t item_seq, uint8_t *out)
{
	memmove(out, item_key, klen);
	out[klen++] = '\0';
	sl_be64_put(out + klen, item_seq);
	return klen + 8;
}

/* stage_history_row stages the history index row of item event ev. */
static void stage_history_row(ledger_txn *t, const sl_event *ev)
{
	uint8_t k[LEDGER_HISTORY_KEY_BYTES], v[8];
	size_t klen = ledger_history_key(k, ledger_key_encode(&ev->item, k), ev->item_seq, k);
	sl_be64_put(v, ev->seq);
	store_batch_put(t->batch, txn_cf(t, STORE_CF_ITEM_EVENTS), k, klen, v, sizeof(v));
}

/* event_decodes_back: do the encoded bytes v decode to an event of ev's seq and item_seq?
 * (inline: a release build, where SL_ASSERT_DEBUG drops its use, does not warn of it) */
static inline bool event_decodes_back(const uint8_t *v, size_t vlen, const sl_event *ev)
{
	sl_event check;
	return ledger_event_decode(v, vlen, &check) == SL_OK && check.seq == ev->seq &&
	       check.item_seq == ev->item_seq;
}

sl_err ledger_txn_append(ledger_txn *t, sl_event *ev)
{
	SL_ASSERT(t->is_open && !t->is_shadow);
	SL_ASSERT(ev->seq == t->next_seq);
	t->value.len = 0;
	sl_err rc = sl_buf_reserve(&t->value, SL_HASH_BYTES);
	if (rc != SL_OK)
		return rc;
	t->value.len = SL_HASH_BYTES;
	if ((rc = ledger_event_encode(ev, &t->value)) != SL_OK)
		return rc;
	sl_sha256(t->prev_hash, SL_HASH_BYTES, t->value.data + SL_HASH_BYTES,
	          t->value.len - SL_HASH_BYTES, ev->hash);
	memcpy(t->value.data, ev->hash, SL_HASH_BYTES);
	/* Paired assertion: what is written decodes back to the event it claims to be. A full
	 * decode per event was a tenth of the writer's time: debug builds only (the test build;
	 * the log's reader checks every event's hash and decode, ledger_iter). */
	SL_ASSERT_DEBUG(
	    event_decodes_back(t->value.data + SL_HASH_BYTES, t->value.len - SL_HASH_BYTES, ev));
	uint8_t k[8];
	sl_be64_put(k, ev->seq);
	store_batch_put(t->batch, STORE_CF_EVENTS, k, sizeof(k), t->value.data, t->value.len);
	if (ev->item_seq > 0)
		stage_history_row(t, ev);
	memcpy(t->prev_hash, ev->hash, SL_HASH_BYTES);
	t->next_seq++;
	return SL_OK;
}

static sl_err put_view(ledger_txn *t, const sl_item *item, const sl_item *before,
                       bool is_before_known);

sl_err ledger_txn_put_view(ledger_txn *t, const sl_item *item)
{
	return put_view(t, item, NULL, false);
}

sl_err ledger_txn_put_view_from(ledger_txn *t, const sl_item *item, const sl_item *before)
{
	return put_view(t, item, before, true);
}

static sl_err put_view(ledger_txn *t, const sl_item *item, const sl_item *before,
                       bool is_before_known)
{
	uint8_t k[LEDGER_KEY_BYTES];
	size_t klen = ledger_key_encode(&item->key, k);
	t->scratch.len = 0;
	sl_err rc = ledger_item_encode(item, &t->scratch);
	if (rc != SL_OK)
		return rc;
	/* The indexes change with the view, in the same batch: find what the item was
	 * indexed under before (staged earlier in this txn, else committed). */
	int is_new;
	ledger_index_row *row = sl_map_put(&t->staged, k, klen, &is_new, &rc);
	if (row == NULL)
		return rc;
	ledger_index_row old;
	bool has_old = !is_new;
	if (is_new && is_before_known) {
		if (before != NULL)
			ledger_index_row_of(before, &old);
		has_old = before != NULL;
	} else if (is_new) {
		sl_item prev;
		t->value.len = 0;
		rc = store_get(t->l->st, txn_cf(t, STORE_CF_VIEWS), k, klen, &t->value);
		if (rc == SL_OK)
			rc = ledger_item_decode(t->value.data, t->value.len, &prev);
		if (rc == SL_OK) {
			ledger_index_row_of(&prev, &old);
			has_old = true;
		} else if (rc != SL_ERR_NOT_FOUND) {
			return rc;
		}
	} else {
		old = *row;
	}
	ledger_index_row_of(item, row);
	ledger_hot_ops *hot = t->is_shadow ? NULL : t->ib != NULL ? &t->ib->hot : &t->hot;
	ledger_index_stage(t->ib != NULL ? t->ib->rows : t->batch, txn_cf(t, STORE_CF_ITEM_INDEX),
	                   hot, has_old ? &old : NULL, row);
	store_batch_put(t->batch, txn_cf(t, STORE_CF_VIEWS), k, klen, t->scratch.data,
	                t->scratch.len);
	return SL_OK;
}

sl_err ledger_txn_put_idem(ledger_txn *t, const char *key, const unsigned char *content_hash,
                           const uint8_t *result, size_t result_len, uint64_t seq, int64_t time_ms)
{
	t->scratch.len = 0;
	sl_err rc = ledger_idem_encode(content_hash, result, result_len, seq, time_ms, &t->scratch);
	if (rc != SL_OK)
		return rc;
	store_batch_put(t->batch, STORE_CF_IDEM, key, strlen(key), t->scratch.data, t->scratch.len);
	return SL_OK;
}

size_t ledger_txn_staged(const ledger_txn *t)
{
	return store_batch_count(t->batch);
}

sl_err ledger_txn_commit(ledger_txn *t, bool sync)
{
	SL_ASSERT(t->is_open);
	t->is_open = false;
	/* Index rows staged in this batch are complete with it: the mark moves along. */
	if (t->ib == NULL && !t->is_shadow && store_batch_count(t->batch) > 0)
		mark_put(t->batch, t->next_seq - 1);
	/* hot changes that could not be staged for want of memory: refused before the write,
	 * which would otherwise be durable and reported failed */
	bool is_hot_short = t->ib == NULL && !t->is_shadow && t->hot.is_nomem;
	sl_err rc = is_hot_short                      ? SL_ERR_NOMEM
	            : store_batch_count(t->batch) > 0 ? store_write(t->l->st, t->batch, sync)
	                                              : SL_OK;
	char cause[SL_LEDGER_CAUSE_MAX] = "";
	if (is_hot_short)
		snprintf(cause, sizeof(cause), "out of memory for the hot index changes");
	else if (rc != SL_OK)
		store_last_error_copy(t->l->st, cause, sizeof(cause));
	/* the hot changes of a txn without an index batch go with its commit (the writer's
	 * go with the index batch, ledger_index_commit) */
	if (rc == SL_OK && t->ib == NULL && !t->is_shadow)
		rc = hot_apply(t->l, &t->hot, t->next_seq - 1, cause, sizeof(cause));
	store_batch_clear(t->batch);
	sl_map_clear(&t->staged);
	ledger_hot_ops_clear(&t->hot);
	pthread_mutex_lock(&t->l->lock);
	if (rc != SL_OK) {
		sticky_set_locked(t->l, rc, cause);
		if (t->ib != NULL)
			index_batch_clear(t->ib);
	} else {
		t->l->head_seq = t->next_seq - 1;
		memcpy(t->l->head_hash, t->prev_hash, SL_HASH_BYTES);
		if (t->ib == NULL && !t->is_shadow)
			t->l->indexed_seq = t->l->head_seq;
	}
	pthread_cond_broadcast(&t->l->indexed);
	pthread_mutex_unlock(&t->l->lock);
	return rc;
}

void ledger_txn_defer_index(ledger_txn *t, ledger_index_batch *ib)
{
	SL_ASSERT(!t->is_open && !t->is_shadow);
	t->ib = ib;
}

ledger_index_batch *ledger_index_batch_alloc(ledger *l)
{
	ledger_index_batch *ib = calloc(1, sizeof(*ib));
	if (ib == NULL)
		return NULL;
	if ((ib->rows = store_batch_alloc(l->st)) == NULL) {
		free(ib);
		return NULL;
	}
	return ib;
}

void ledger_index_batch_free(ledger_index_batch *ib)
{
	if (ib == NULL)
		return;
	store_batch_free(ib->rows);
	ledger_hot_ops_fini(&ib->hot);
	free(ib);
}

size_t ledger_index_batch_count(const ledger_index_batch *ib)
{
	return store_batch_count(ib->rows) + ib->hot.n;
}

sl_err ledger_index_commit(ledger *l, ledger_index_batch *ib, uint64_t seq)
{
	/* After a failed index batch no later one is applied: its mark (and mem_seq) would say
	 * the indexes are complete past the hole the failed one left (found by a review: a
	 * sorted page then missed the items of the failed group and looked complete). */
	pthread_rwlock_rdlock(&l->mem_lock);
	bool was_broken = l->is_index_broken;
	pthread_rwlock_unlock(&l->mem_lock);
	sl_err rc = SL_ERR_STORAGE;
	char cause[SL_LEDGER_CAUSE_MAX] = "";
	if (!was_broken) {
		mark_put(ib->rows, seq);
		if ((rc = store_write(l->st, ib->rows, false)) != SL_OK)
			store_last_error_copy(l->st, cause, sizeof(cause));
		else
			rc = hot_apply(l, &ib->hot, seq, cause, sizeof(cause));
	}
	if (rc != SL_OK && !was_broken) {
		pthread_rwlock_wrlock(&l->mem_lock);
		l->is_index_broken = true;
		pthread_rwlock_unlock(&l->mem_lock);
	}
	index_batch_clear(ib);
	pthread_mutex_lock(&l->lock);
	if (rc != SL_OK && !was_broken)
		sticky_set_locked(l, rc, cause);
	else if (rc == SL_OK && seq > l->indexed_seq)
		l->indexed_seq = seq;
	pthread_cond_broadcast(&l->indexed);
	pthread_mutex_unlock(&l->lock);
	return rc;
}

uint64_t ledger_indexed_seq(ledger *l)
{
	pthread_mutex_lock(&l->lock);
	uint64_t seq = l->indexed_seq;
	pthread_mutex_unlock(&l->lock);
	return seq;
}

void ledger_fail(ledger *l, sl_err rc, const char *cause)
{
	SL_ASSERT(rc != SL_OK);
	pthread_mutex_lock(&l->lock);
	sticky_set_locked(l, rc, cause);
	pthread_cond_broadcast(&l->indexed);
	pthread_mutex_unlock(&l->lock);
}

sl_err ledger_index_wait(ledger *l, uint64_t seq)
{
	pthread_mutex_lock(&l->lock);
	while (l->indexed_seq < seq && l->sticky == SL_OK)
		pthread_cond_wait(&l->indexed, &l->lock);
	sl_err rc = l->indexed_seq >= seq ? SL_OK : SL_ERR_STORAGE;
	pthread_mutex_unlock(&l->lock);
	return rc;
}

sl_err ledger_snap_indexed_seq(ledger *l, const store_snap *snap, uint64_t *out)
{
	return mark_get(l, snap, out);
}

sl_err ledger_views_seq(ledger *l, uint64_t *out)
{
	sl_buf v;
	sl_buf_init(&v);
	sl_err rc = store_get(l->st, STORE_CF_META, views_seq_key, sizeof(views_seq_key) - 1, &v);
	if (rc == SL_ERR_NOT_FOUND) {
		*out = ledger_head(l, NULL);
		rc = SL_OK;
	} else if (rc == SL_OK && v.len != 8) {
		rc = SL_ERR_CORRUPT;
	} else if (rc == SL_OK) {
		*out = sl_be64_get(v.data);
	}
	sl_buf_fini(&v);
	return rc;
}

sl_err ledger_views_cap(ledger *l, uint64_t *head)
{
	uint64_t views;
	sl_err rc = ledger_views_seq(l, &views);
	if (rc == SL_OK && views < *head)
		*head = views;
	return rc;
}

void ledger_views_seq_stage(ledger *l, store_batch *b, uint64_t seq)
{
	if (seq >= ledger_head(l, NULL)) {
		store_batch_delete(b, STORE_CF_META, views_seq_key, sizeof(views_seq_key) - 1);
		return;
	}
	uint8_t v[8];
	sl_be64_put(v, seq);
	store_batch_put(b, STORE_CF_META, views_seq_key, sizeof(views_seq_key) - 1, v, sizeof(v));
}

void ledger_txn_abort(ledger_txn *t)
{
	store_batch_clear(t->batch);
	if (t->ib != NULL)
		index_batch_clear(t->ib);
	ledger_hot_ops_clear(&t->hot);
	sl_map_clear(&t->staged);
	t->is_open = false;
}

/* ---- orders ---- */

static const char settings_key[] = LEDGER_SETTINGS_KEY;

sl_err ledger_order_get(ledger *l, const char *order_id, sl_order *out)
{
	return ledger_order_get_at(l, NULL, order_id, out);
}

sl_err ledger_order_get_at(ledger *l, const store_snap *snap, const char *order_id, sl_order *out)
{
	sl_buf v;
	sl_buf_init(&v);
	sl_err rc = store_get_at(l->st, snap, STORE_CF_ORDERS, order_id, strlen(order_id), &v);
	if (rc == SL_OK)
		rc = ledger_order_decode(v.data, v.len, out);
	sl_buf_fini(&v);
	return rc;
}

sl_err ledger_settings_get(ledger *l, sl_settings *out)
{
	sl_buf v;
	sl_buf_init(&v);
	sl_err rc = store_get(l->st, STORE_CF_SETTINGS, settings_key, sizeof(settings_key) - 1, &v);
	if (rc == SL_OK)
		rc = ledger_settings_decode(v.data, v.len, out);
	sl_buf_fini(&v);
	return rc;
}

#define HOLD_KEY_BYTES LEDGER_HOLD_KEY_BYTES

/* hold_key_encode: item key \0 order id \0 line id; the item part is the list prefix. */
static size_t hold_key_encode(const sl_item_key *item, const char *order_id, const char *line_id,
                              uint8_t *buf, size_t *prefix_len)
{
	size_t n = ledger_key_encode(item, buf);
	buf[n++] = '\0';
	*prefix_len = n;
	size_t o = strlen(order_id), li = strlen(line_id);
	memcpy(buf + n, order_id, o);
	n += o;
	buf[n++] = '\0';
	memcpy(buf + n, line_id, li);
	return n + li;
}

sl_err ledger_holds_list(ledger *l, const sl_item_key *item, const char *after_order_id,
                         const char *after_line_id, size_t max, sl_hold *out, size_t *n_out,
                         bool *has_more)
{
	return ledger_holds_list_at(l, NULL, item, after_order_id, after_line_id, max, out, n_out,
	                            has_more);
}

sl_err ledger_holds_list_at(ledger *l, const store_snap *snap, const sl_item_key *item,
                            const char *after_order_id, const char *after_line_id, size_t max,
                            sl_hold *out, size_t *n_out, bool *has_more)
{
	uint8_t k[HOLD_KEY_BYTES];
	size_t plen;
	size_t klen = hold_key_encode(item, after_order_id, after_line_id, k, &plen);
	store_iter *it = store_iter_alloc_at(l->st, STORE_CF_HOLDS, snap);
	if (it == NULL)
		return SL_ERR_NOMEM;
	sl_err rc = SL_OK;
	size_t n = 0;
	*has_more = false;
	if (after_order_id[0] != '\0') {
		store_iter_seek(it, k, klen);
		if (store_iter_valid(it)) {
			size_t hl;
			const uint8_t *hk = store_iter_key(it, &hl);
			if (hl == klen && memcmp(hk, k, klen) == 0)
				store_iter_next(it);
		}
	} else {
		store_iter_seek(it, k, plen);
	}
	for (; store_iter_valid(it); store_iter_next(it)) {
		size_t hl, vlen;
		const uint8_t *hk = store_iter_key(it, &hl);
		const uint8_t *v = store_iter_value(it, &vlen);
		if (hl < plen || memcmp(hk, k, plen) != 0)
			break;
		if (n == max) {
			*has_more = true;
			break;
		}
		const uint8_t *rest = hk + plen, *end = hk + hl;
		const uint8_t *sep = memchr(rest, '\0', (size_t)(end - rest));
		if (vlen != 16 || sep == NULL || sep - rest > SL_ID_MAX ||
		    end - (sep + 1) > SL_ID_MAX) {
			rc = SL_ERR_CORRUPT;
			break;
		}
		sl_hold *h = &out[n++];
		memset(h, 0, sizeof(*h));
		h->item = *item;
		memcpy(h->order_id, rest, (size_t)(sep - rest));
		memcpy(h->line_id, sep + 1, (size_t)(end - (sep + 1)));
		h->held = (int64_t)sl_be64_get(v);
		h->held_preorder = (int64_t)sl_be64_get(v + 8);
	}
	if (rc == SL_OK)
		rc = store_iter_status(it);
	store_iter_free(it);
	if (rc == SL_OK)
		*n_out = n;
	return rc;
}

sl_err ledger_txn_put_order(ledger_txn *t, const sl_order *order)
{
	t->scratch.len = 0;
	sl_err rc = ledger_order_encode(order, &t->scratch);
	if (rc != SL_OK)
		return rc;
	store_batch_put(t->batch, txn_cf(t, STORE_CF_ORDERS), order->order_id,
	                strlen(order->order_id), t->scratch.data, t->scratch.len);
	return SL_OK;
}

sl_err ledger_txn_put_settings(ledger_txn *t, const sl_settings *settings)
{
	t->scratch.len = 0;
	sl_err rc = ledger_settings_encode(settings, &t->scratch);
	if (rc != SL_OK)
		return rc;
	store_batch_put(t->batch, txn_cf(t, STORE_CF_SETTINGS), settings_key,
	                sizeof(settings_key) - 1, t->scratch.data, t->scratch.len);
	return SL_OK;
}

size_t ledger_hold_row(const char *order_id, const sl_order_line *line, uint8_t *key, uint8_t *val)
{
	size_t plen;
	sl_be64_put(val, (uint64_t)line->state.held);
	sl_be64_put(val + 8, (uint64_t)line->state.held_preorder);
	return hold_key_encode(&line->item, order_id, line->line_id, key, &plen);
}

sl_err ledger_txn_put_holds(ledger_txn *t, const sl_order *order)
{
	for (size_t i = 0; i < order->n_lines; i++) {
		const sl_order_line *line = &order->lines[i];
		uint8_t k[HOLD_KEY_BYTES], v[LEDGER_HOLD_VALUE_BYTES];
		size_t klen = ledger_hold_row(order->order_id, line, k, v);
		if (line->state.held > 0) {
			store_batch_put(t->batch, txn_cf(t, STORE_CF_HOLDS), k, klen, v, sizeof(v));
		} else {
			store_batch_delete(t->batch, txn_cf(t, STORE_CF_HOLDS), k, klen);
		}
	}
	return SL_OK;
}

struct ledger_iter {
	ledger *l;
	store_iter *it;
	uint64_t expect_seq;
	unsigned char prev_hash[SL_HASH_BYTES];
	bool is_started;
	bool has_prev;
	sl_err prev_rc; /* why the hash before from_seq could not be read (SL_OK: it was) */
	char error[256];
};

ledger_iter *ledger_iter_alloc(ledger *l, uint64_t from_seq)
{
	SL_ASSERT(from_seq >= 1);
	ledger_iter *it = calloc(1, sizeof(*it));
	if (it == NULL)
		return NULL;
	it->l = l;
	it->it = store_iter_alloc(l->st, STORE_CF_EVENTS);
	if (it->it == NULL) {
		free(it);
		return NULL;
	}
	it->expect_seq = from_seq;
	/* Without the event before, from_seq cannot be checked: if from_seq is there, the log
	 * has a gap (or a record cut short) before it, named at the first step; past the head
	 * nothing is read, and nothing is wrong. */
	it->prev_rc = hash_before(l, NULL, from_seq, it->prev_hash);
	it->has_prev = it->prev_rc == SL_OK;
	return it;
}

void ledger_iter_free(ledger_iter *it)
{
	if (it == NULL)
		return;
	store_iter_free(it->it);
	free(it);
}

const char *ledger_iter_error(const ledger_iter *it)
{
	return it->error;
}

static sl_err iter_fail(ledger_iter *it, uint64_t *bad_seq, const char *what)
{
	*bad_seq = it->expect_seq;
	snprintf(it->error, sizeof(it->error), "event %llu: %s", (unsigned long long)it->expect_seq,
	         what);
	return SL_ERR_CORRUPT;
}

sl_err ledger_iter_next_record(ledger_iter *it, const uint8_t **rec, size_t *len, uint64_t *seq,
                               uint64_t *bad_seq)
{
	if (!it->is_started) {
		uint8_t k[8];
		sl_be64_put(k, it->expect_seq);
		store_iter_seek(it->it, k, sizeof(k));
		it->is_started = true;
	} else {
		store_iter_next(it->it);
	}
	if (!store_iter_valid(it->it)) {
		sl_err rc = store_iter_status(it->it);
		if (rc != SL_OK) {
			snprintf(it->error, sizeof(it->error), "%s", store_last_error(it->l->st));
			return rc;
		}
		return SL_ERR_NOT_FOUND;
	}
	size_t klen, vlen;
	const uint8_t *k = store_iter_key(it->it, &klen);
	const uint8_t *v = store_iter_value(it->it, &vlen);
	if (klen != 8 || sl_be64_get(k) != it->expect_seq)
		return iter_fail(it, bad_seq, "missing (the log has a gap)");
	if (!it->has_prev && it->prev_rc != SL_OK) {
		/* from_seq is there, the event before it is not (or cannot be read) */
		sl_err rc = it->prev_rc;
		it->expect_seq--;
		if (rc == SL_ERR_CORRUPT)
			iter_fail(it, bad_seq, "missing or cut short (the log has a gap)");
		else
			snprintf(it->error, sizeof(it->error), "%s", store_last_error(it->l->st));
		it->expect_seq++;
		return rc;
	}
	if (vlen < SL_HASH_BYTES)
		return iter_fail(it, bad_seq, "record too short");
	if (it->has_prev && !is_linked(it->prev_hash, v, vlen))
		return iter_fail(it, bad_seq,
		                 "chain hash mismatch (the event or its stored hash "
		                 "was changed)");
	*rec = v;
	*len = vlen;
	*seq = it->expect_seq;
	memcpy(it->prev_hash, v, SL_HASH_BYTES);
	it->has_prev = true;
	it->expect_seq++;
	return SL_OK;
}

sl_err ledger_record_decode(const uint8_t *rec, size_t len, uint64_t seq, sl_event *ev,
                            char *errbuf, size_t errbuf_size)
{
	const char *what = NULL;
	if (event_from_value(rec, len, ev) != SL_OK)
		what = "cannot be decoded";
	else if (ev->seq != seq)
		what = "carries another sequence number";
	if (what == NULL)
		return SL_OK;
	snprintf(errbuf, errbuf_size, "event %llu: %s", (unsigned long long)seq, what);
	return SL_ERR_CORRUPT;
}

sl_err ledger_iter_next(ledger_iter *it, sl_event *ev, uint64_t *bad_seq)
{
	const uint8_t *rec;
	size_t len;
	uint64_t seq;
	sl_err rc = ledger_iter_next_record(it, &rec, &len, &seq, bad_seq);
	if (rc == SL_OK &&
	    (rc = ledger_record_decode(rec, len, seq, ev, it->error, sizeof(it->error))) != SL_OK)
		*bad_seq = seq;
	return rc;
}

/*
 * rebuild.c: rebuild and verify, both built on one pass over the log (fold_all) that
 * checks the chain and folds every event.
 *
 * Rebuild folds in one pass into the shadow copies of the view families (ledger/store.h):
 * the history index rows are staged as the events go by, the item views are folded in a
 * compact in-memory map (fold_views: no fixed-size strings, bounded by
 * SL_REBUILD_FOLD_BYTES_MAX, spilling to the shadow views family past it), the order views
 * and settings in memory; at the end the views (with their secondary indexes), orders,
 * holds and settings are written to the shadows, and store_shadow_publish makes them live
 * with one synced write. The live views are not touched before that switch, so a log that
 * does not replay (or a store that fails) leaves them as they were:
 *
 *   shadow_reset      fold_all (+ index rows)     write views       publish
 *   ------------> folding ----------------> folded ----------> written --------> live
 *                    |  corrupt / storage error    |                  |
 *                    +-----------------------------+------------------+--> shadow_reset,
 *                                                            old views stay live
 *
 * Verify compares the stored rows with a fold kept in memory, in the compact map of the
 * rebuild (fold_views, about 150 bytes an item) without a bound (it has no shadow to spill
 * to): item views row by row, their secondary index rows, the history index, and the order,
 * holds and settings rows as sorted lists of the rows the fold implies. Order views are held
 * in memory by both (bounded by SL_REBUILD_ORDERS_MAX, not by bytes).
 */
#include "projector/rebuild.h"

#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/banned.h"
#include "base/sl_limits.h"
#include "base/sl_map.h"
#include "base/sl_util.h"
#include "ledger/codec.h"
#include "ledger/index.h"
#include "projector/orders.h"
#include "projector/stock.h"
#include "projector/viewmap.h"

#define PROGRESS_EVERY 100000
#define REBUILD_BATCH_OPS SL_REBUILD_BATCH_OPS
#define FOLD_ORDERS_MAX SL_REBUILD_ORDERS_MAX

/* fold_state: what the log folds into besides the item views (fold_views). */
typedef struct fold_state {
	sl_map orders; /* order id -> sl_order (owning its lines) */
	sl_settings settings;
	bool has_settings;
} fold_state;

static sl_err fold_init(fold_state *f)
{
	memset(f, 0, sizeof(*f));
	return sl_map_init(&f->orders, sizeof(sl_order), FOLD_ORDERS_MAX);
}

static void fold_fini(fold_state *f)
{
	for (size_t i = 0; i < f->orders.n; i++)
		sl_order_fini(sl_map_at(&f->orders, i));
	sl_map_fini(&f->orders);
}

/* item_bad reports item event ev as one that does not replay. */
static sl_err item_bad(const sl_event *ev, projector_report *r)
{
	r->bad_seq = ev->seq;
	snprintf(r->message, sizeof(r->message),
	         "event %llu does not follow from the state of item '%s/%s@%s' before it",
	         (unsigned long long)ev->seq, ev->item.product_id, ev->item.variant_id,
	         ev->item.location_id);
	return SL_ERR_CORRUPT;
}

/* fold_views: the item views of a rebuild, in the compact map of projector/viewmap.h,
 * bounded by bytes_max (the fold spills past it). */
typedef struct fold_history fold_history;

typedef struct fold_views {
	viewmap map;
	fold_history *hist; /* the history rows of the map's items (rebuild), NULL: none */
	ledger *l;
	size_t bytes_max; /* spill past this (SL_REBUILD_FOLD_BYTES_MAX or less) */
	size_t spills;
	sl_item item; /* scratch: the view being folded */
	sl_buf value; /* scratch: a view read back after a spill */
} fold_views;

static sl_err fv_init(fold_views *v, ledger *l, size_t bytes_max)
{
	memset(v, 0, sizeof(*v));
	v->l = l;
	v->bytes_max = bytes_max;
	sl_buf_init(&v->value);
	return viewmap_init(&v->map);
}

static void fv_fini(fold_views *v)
{
	viewmap_fini(&v->map);
	sl_buf_fini(&v->value);
}

/*
 * fold_history: the history index rows (item key, item_seq) -> seq of the events folded
 * since the last write, kept per item of the map (by its ordinal) as a chain of small blocks
 * of seqs: an item's events come in item_seq order, so a chain is its rows in key order and
 * nothing but the items needs sorting. hist_write, given the items sorted by key, writes
 * every row into one table file, ingested into the shadow history family: no memtable, no skip
 * list, no sort of ten million rows. It runs at the end, before a spill empties the map,
 * and when the blocks pass SL_REBUILD_HISTORY_BYTES_MAX (each run is a file of its own;
 * runs overlap in keys' range but never in keys).
 */
#define HB_SEQS 6
#define HB_PER_CHUNK 16384

typedef struct hist_block {
	uint64_t seqs[HB_SEQS];
	uint32_t next; /* block number + 1, 0: last */
	uint32_t n;
} hist_block;

typedef struct hist_item {
	uint64_t first_item_seq; /* of the chain's first row */
	uint32_t head, tail;     /* block numbers + 1, 0: no rows */
	uint32_t n;              /* rows in the chain */
} hist_item;

struct fold_history {
	hist_block **chunks;
	size_t n_chunks, chunks_cap;
	size_t n_blocks;
	hist_item *items; /* by viewmap ordinal */
	size_t items_cap;
	uint64_t rows, runs;
};

static void hist_fini(fold_history *h)
{
	for (size_t i = 0; i < h->n_chunks; i++)
		free(h->chunks[i]);
	free(h->chunks);
	free(h->items);
	memset(h, 0, sizeof(*h));
}

static size_t hist_bytes(const fold_history *h)
{
	return h->n_chunks * HB_PER_CHUNK * sizeof(hist_block) + h->items_cap * sizeof(hist_item);
}

static hist_block *hist_block_at(const fold_history *h, uint32_t b)
{
	return &h->chunks[(b - 1) / HB_PER_CHUNK][(b - 1) % HB_PER_CHUNK];
}

/* hist_block_new: a fresh block's number + 1, 0 on out-of-memory. */
static uint32_t hist_block_new(fold_history *h)
{
	if (h->n_blocks == h->n_chunks * HB_PER_CHUNK) {
		if (h->n_chunks == h->chunks_cap) {
			size_t ncap = h->chunks_cap == 0 ? 16 : h->chunks_cap * 2;
			hist_block **nc = realloc(h->chunks, ncap * sizeof(*nc));
			if (nc == NULL)
				return 0;
			h->chunks = nc;
			h->chunks_cap = ncap;
		}
		if ((h->chunks[h->n_chunks] = malloc(HB_PER_CHUNK * sizeof(hist_block))) == NULL)
			return 0;
		h->n_chunks++;
	}
	uint32_t b = (uint32_t)++h->n_blocks;
	hist_block *hb = hist_block_at(h, b);
	hb->next = 0;
	hb->n = 0;
	return b;
}

/* hist_add appends the row of item event ev to the chain of the map's entry ordinal. */
static sl_err hist_add(fold_history *h, uint32_t ordinal, const sl_event *ev)
{
	if (ordinal >= h->items_cap) {
		size_t ncap = h->items_cap == 0 ? 1024 : h->items_cap;
		while (ncap <= ordinal)
			ncap *= 2;
		hist_item *ni = realloc(h->items, ncap * sizeof(*ni));
		if (ni == NULL)
			return SL_ERR_NOMEM;
		memset(ni + h->items_cap, 0, (ncap - h->items_cap) * sizeof(*ni));
		h->items = ni;
		h->items_cap = ncap;
	}
	hist_item *hi = &h->items[ordinal];
	hist_block *tail = hi->tail != 0 ? hist_block_at(h, hi->tail) : NULL;
	if (tail == NULL || tail->n == HB_SEQS) {
		uint32_t b = hist_block_new(h);
		if (b == 0)
			return SL_ERR_NOMEM;
		if (tail != NULL)
			tail->next = b;
		else
			hi->head = b;
		hi->tail = b;
		tail = hist_block_at(h, b);
	}
	if (hi->n == 0)
		hi->first_item_seq = ev->item_seq;
	/* the fold checked that the item's events follow each other (stock_view_apply) */
	SL_ASSERT(ev->item_seq == hi->first_item_seq + hi->n);
	tail->seqs[tail->n++] = ev->seq;
	hi->n++;
	h->rows++;
	return SL_OK;
}

static int entry_key_cmp(const void *a, const void *b)
{
	size_t la, lb;
	const uint8_t *ka = viewmap_entry_key(*(const viewmap_entry *const *)a, &la);
	const uint8_t *kb = viewmap_entry_key(*(const viewmap_entry *const *)b, &lb);
	int c = memcmp(ka, kb, la < lb ? la : lb);
	return c != 0 ? c : (la > lb) - (la < lb);
}

/* entries_sorted lists the entries of map in key order into a new array (*out, *n). */
static sl_err entries_sorted(const viewmap *map, const viewmap_entry ***out, size_t *n)
{
	const viewmap_entry **sorted = malloc((map->n + 1) * sizeof(*sorted));
	if (sorted == NULL)
		return SL_ERR_NOMEM;
	size_t k = 0;
	const viewmap_entry *e;
	for (size_t pos = 0; (e = viewmap_next(map, &pos)) != NULL;)
		sorted[k++] = e;
	if (k > 1)
		qsort(sorted, k, sizeof(*sorted), entry_key_cmp);
	*out = sorted;
	*n = k;
	return SL_OK;
}

/* hist_write writes the rows held for the items of the map, given its n entries in key
 * order, into one table file of the shadow history family, and forgets them. */
static sl_err hist_write(fold_history *h, const viewmap_entry **sorted, size_t n, store *st)
{
	if (h->rows == 0)
		return SL_OK;
	store_sst *w = NULL;
	sl_err rc = store_sst_begin(st, store_cf_shadow(STORE_CF_ITEM_EVENTS), &w);
	uint8_t k[LEDGER_HISTORY_KEY_BYTES], v[8];
	for (size_t i = 0; i < n && rc == SL_OK; i++) {
		uint32_t o = viewmap_entry_ordinal(sorted[i]);
		if (o >= h->items_cap)
			continue; /* no row yet */
		const hist_item *hi = &h->items[o];
		size_t plen;
		const uint8_t *key = viewmap_entry_key(sorted[i], &plen);
		uint64_t item_seq = hi->first_item_seq;
		for (uint32_t b = hi->head; b != 0 && rc == SL_OK; b = hist_block_at(h, b)->next) {
			const hist_block *hb = hist_block_at(h, b);
			for (uint32_t j = 0; j < hb->n && rc == SL_OK; j++) {
				size_t klen = ledger_history_key(key, plen, item_seq++, k);
				sl_be64_put(v, hb->seqs[j]);
				rc = store_sst_put(w, k, klen, v, sizeof(v));
			}
		}
	}
	if (rc == SL_OK) {
		rc = store_sst_ingest(w);
		w = NULL;
	}
	store_sst_free(w);
	/* forget the rows, keep the memory */
	for (size_t i = 1; i < h->n_chunks; i++)
		free(h->chunks[i]);
	h->n_chunks = h->n_chunks > 0 ? 1 : 0;
	h->n_blocks = 0;
	memset(h->items, 0, h->items_cap * sizeof(*h->items));
	h->rows = 0;
	h->runs++;
	return rc;
}

/* fv_write stages every view of the map into the shadow families (views and their
 * secondary index rows), committing every REBUILD_BATCH_OPS rows. */
static sl_err fv_write(fold_views *v, ledger_txn *txn)
{
	sl_err rc = SL_OK;
	const viewmap_entry *e;
	for (size_t pos = 0; rc == SL_OK && (e = viewmap_next(&v->map, &pos)) != NULL;) {
		viewmap_entry_get(e, NULL, &v->item);
		/* Before the first spill the shadow views are empty: there is no old row to read
		 * back for its index rows. */
		rc = v->spills == 0 ? ledger_txn_put_view_from(txn, &v->item, NULL)
		                    : ledger_txn_put_view(txn, &v->item);
		if (rc == SL_OK && ledger_txn_staged(txn) >= REBUILD_BATCH_OPS &&
		    (rc = ledger_txn_commit(txn, false)) == SL_OK)
			rc = ledger_txn_begin(txn);
	}
	return rc;
}

/*
 * The views and their secondary index rows as table files, for a rebuild that never spilled
 * (the shadow views and index then hold no row yet): the map's items sorted by key once,
 * the views written in that order, and each index's rows sorted by (indexed value, item's
 * rank in key order), which is the order of their keys (ledger/index.h: tag, value, item
 * key; the values of one index have one width, or end with a NUL that ids do not hold, so
 * none is a prefix of another). Instead of a skip-list insert per view and a sort of six
 * million index rows by RocksDB's comparator at the flush.
 */
static const uint8_t ix_tags[LEDGER_INDEX_STORED_PER_ITEM] = {
    LEDGER_INDEX_CREATED,
    LEDGER_INDEX_LOCATION,
    LEDGER_INDEX_STATUS,
    LEDGER_INDEX_VARIANT,
};

typedef struct ix_row {
	union {
		size_t off;         /* where the indexed value is in the arena, while it grows */
		const uint8_t *val; /* then its bytes */
	} v;
	uint32_t rank; /* the item's place in key order */
	uint32_t vlen;
} ix_row;

typedef struct ix_list {
	ix_row *rows;
	size_t n, cap;
	uint8_t *arena; /* the values, one after the other (megabytes: not an sl_buf) */
	size_t arena_len, arena_cap;
} ix_list;

static int ix_row_cmp(const void *a, const void *b)
{
	const ix_row *x = a, *y = b;
	int c = memcmp(x->v.val, y->v.val, x->vlen < y->vlen ? x->vlen : y->vlen);
	if (c != 0)
		return c;
	SL_ASSERT(x->vlen == y->vlen); /* no value is a prefix of another (above) */
	return (x->rank > y->rank) - (x->rank < y->rank);
}

static sl_err ix_add(ix_list *ix, const uint8_t *val, size_t vlen, uint32_t rank)
{
	if (ix->n == ix->cap) {
		size_t ncap = ix->cap == 0 ? 4096 : ix->cap * 2;
		ix_row *nr = realloc(ix->rows, ncap * sizeof(*nr));
		if (nr == NULL)
			return SL_ERR_NOMEM;
		ix->rows = nr;
		ix->cap = ncap;
	}
	if (ix->arena_len + vlen > ix->arena_cap) {
		size_t ncap = ix->arena_cap == 0 ? 65536 : ix->arena_cap * 2;
		while (ncap < ix->arena_len + vlen)
			ncap *= 2;
		uint8_t *na = realloc(ix->arena, ncap);
		if (na == NULL)
			return SL_ERR_NOMEM;
		ix->arena = na;
		ix->arena_cap = ncap;
	}
	ix->rows[ix->n++] = (ix_row){.v.off = ix->arena_len, .rank = rank, .vlen = (uint32_t)vlen};
	memcpy(ix->arena + ix->arena_len, val, vlen);
	ix->arena_len += vlen;
	return SL_OK;
}

/* ix_tag_slot: the list of index tag t. */
static size_t ix_tag_slot(uint8_t t)
{
	for (size_t i = 0; i < LEDGER_INDEX_STORED_PER_ITEM; i++)
		if (ix_tags[i] == t)
			return i;
	SL_ASSERT(!"a stored index tag of ledger/index.h is missing from ix_tags");
	return 0;
}

/* tables_pass goes over the n items of sorted: writes each view to vw (NULL: not this
 * time) and collects the values of the indexes [t0, t1) of ix_tags into ix. Two passes keep
 * half of the four stored indexes in memory at a time (the hot ones are the ledger's, in
 * memory: ledger/memindex.h). */
static sl_err tables_pass(fold_views *v, const viewmap_entry **sorted, size_t n, store_sst *vw,
                          ix_list *ix, size_t t0, size_t t1)
{
	uint8_t keys[LEDGER_INDEX_PER_ITEM][LEDGER_INDEX_KEY_BYTES];
	size_t lens[LEDGER_INDEX_PER_ITEM];
	sl_err rc = SL_OK;
	for (size_t i = 0; i < n && rc == SL_OK; i++) {
		viewmap_entry_get(sorted[i], NULL, &v->item);
		if (vw != NULL) {
			size_t klen;
			const uint8_t *k = viewmap_entry_key(sorted[i], &klen);
			v->value.len = 0;
			if ((rc = ledger_item_encode(&v->item, &v->value)) != SL_OK ||
			    (rc = store_sst_put(vw, k, klen, v->value.data, v->value.len)) != SL_OK)
				break;
		}
		ledger_index_row row;
		ledger_index_row_of(&v->item, &row);
		size_t nk = ledger_index_keys(&row, keys, lens);
		for (size_t j = 0; j < nk && rc == SL_OK; j++) {
			if (ledger_index_is_hot(keys[j][0]))
				continue;
			size_t t = ix_tag_slot(keys[j][0]);
			if (t < t0 || t >= t1)
				continue;
			size_t at = ledger_index_item_key(keys[j], lens[j]);
			SL_ASSERT(at != SIZE_MAX && at >= 1);
			rc = ix_add(&ix[t], keys[j] + 1, at - 1, (uint32_t)i);
		}
	}
	return rc;
}

/* tables_index sorts the rows of the indexes [t0, t1) and writes them, tag after tag, to
 * the secondary index's table file w, then frees them. */
static sl_err tables_index(const viewmap_entry **sorted, ix_list *ix, size_t t0, size_t t1,
                           store_sst *w)
{
	sl_err rc = SL_OK;
	uint8_t k[LEDGER_INDEX_KEY_BYTES];
	for (size_t t = t0; t < t1 && rc == SL_OK; t++) {
		for (size_t i = 0; i < ix[t].n; i++)
			ix[t].rows[i].v.val = ix[t].arena + ix[t].rows[i].v.off;
		if (ix[t].n > 1)
			qsort(ix[t].rows, ix[t].n, sizeof(ix_row), ix_row_cmp);
		for (size_t i = 0; i < ix[t].n && rc == SL_OK; i++) {
			const ix_row *row = &ix[t].rows[i];
			size_t klen;
			const uint8_t *item = viewmap_entry_key(sorted[row->rank], &klen);
			k[0] = ix_tags[t];
			memcpy(k + 1, row->v.val, row->vlen);
			memcpy(k + 1 + row->vlen, item, klen);
			rc = store_sst_put(w, k, 1 + row->vlen + klen, "", 0);
		}
	}
	for (size_t t = t0; t < t1; t++) {
		free(ix[t].rows);
		free(ix[t].arena);
		memset(&ix[t], 0, sizeof(ix[t]));
	}
	return rc;
}

/* fv_write_tables is fv_write for a fold that never spilled, given the map's n entries in
 * key order. */
static sl_err fv_write_tables(fold_views *v, const viewmap_entry **sorted, size_t n)
{
	SL_ASSERT(v->spills == 0);
	for (size_t t = 1; t < LEDGER_INDEX_STORED_PER_ITEM; t++)
		SL_ASSERT(ix_tags[t - 1] < ix_tags[t]); /* one file, tag after tag, ascending */
	store *st = ledger_store(v->l);
	ix_list ix[LEDGER_INDEX_STORED_PER_ITEM];
	memset(ix, 0, sizeof(ix));
	const size_t half = LEDGER_INDEX_STORED_PER_ITEM / 2;
	store_sst *vw = NULL, *iw = NULL;
	sl_err rc = store_sst_begin(st, store_cf_shadow(STORE_CF_VIEWS), &vw);
	if (rc == SL_OK)
		rc = store_sst_begin(st, store_cf_shadow(STORE_CF_ITEM_INDEX), &iw);
	if (rc == SL_OK)
		rc = tables_pass(v, sorted, n, vw, ix, 0, half);
	if (rc == SL_OK) {
		rc = store_sst_ingest(vw);
		vw = NULL;
	}
	if (rc == SL_OK)
		rc = tables_index(sorted, ix, 0, half, iw);
	if (rc == SL_OK)
		rc = tables_pass(v, sorted, n, NULL, ix, half, LEDGER_INDEX_STORED_PER_ITEM);
	if (rc == SL_OK)
		rc = tables_index(sorted, ix, half, LEDGER_INDEX_STORED_PER_ITEM, iw);
	if (rc == SL_OK) {
		rc = store_sst_ingest(iw);
		iw = NULL;
	}
	for (size_t t = 0; t < LEDGER_INDEX_STORED_PER_ITEM; t++) {
		free(ix[t].rows);
		free(ix[t].arena);
	}
	store_sst_free(vw);
	store_sst_free(iw);
	return rc;
}

/* fv_apply folds item event ev, whose store key is k (klen bytes, viewmap hash h), into its
 * view: from the map, else (after a spill) from the shadow views family, else a new view.
 * Past SL_REBUILD_FOLD_BYTES_MAX the map is written to the shadows through txn and emptied. */
static sl_err fv_apply(fold_views *v, ledger_txn *txn, const sl_event *ev, const uint8_t *k,
                       size_t klen, uint32_t h, projector_report *r)
{
	viewmap_entry *e = viewmap_find(&v->map, k, klen, h);
	sl_err rc = SL_OK;
	if (e != NULL) {
		viewmap_entry_get(e, &ev->item, &v->item);
	} else {
		rc = SL_ERR_NOT_FOUND;
		if (v->spills > 0) {
			v->value.len = 0;
			rc = store_get(ledger_store(v->l), store_cf_shadow(STORE_CF_VIEWS), k, klen,
			               &v->value);
			if (rc == SL_OK)
				rc = ledger_item_decode(v->value.data, v->value.len, &v->item);
		}
		if (rc == SL_ERR_NOT_FOUND) {
			memset(&v->item, 0, sizeof(v->item));
			rc = SL_OK;
		}
		if (rc != SL_OK)
			return rc;
	}
	if (stock_view_apply(&v->item, ev) != SL_OK)
		return item_bad(ev, r);
	if (e == NULL && (e = viewmap_add(&v->map, k, klen, h)) == NULL)
		return SL_ERR_NOMEM;
	if ((rc = viewmap_entry_set(&v->map, e, &v->item)) != SL_OK)
		return rc;
	if (v->hist != NULL && (rc = hist_add(v->hist, viewmap_entry_ordinal(e), ev)) != SL_OK)
		return rc;
	if (v->hist != NULL && (hist_bytes(v->hist) > SL_REBUILD_HISTORY_BYTES_MAX ||
	                        viewmap_bytes(&v->map) > v->bytes_max)) {
		const viewmap_entry **sorted = NULL;
		size_t n = 0;
		if ((rc = entries_sorted(&v->map, &sorted, &n)) == SL_OK)
			rc = hist_write(v->hist, sorted, n, ledger_store(v->l));
		free(sorted);
		if (rc != SL_OK)
			return rc;
	}
	if (viewmap_bytes(&v->map) > v->bytes_max) {
		/* committed, so that the views read back at their next event are these */
		if ((rc = fv_write(v, txn)) != SL_OK ||
		    (rc = ledger_txn_commit(txn, false)) != SL_OK ||
		    (rc = ledger_txn_begin(txn)) != SL_OK)
			return rc;
		viewmap_clear(&v->map);
		v->spills++;
	}
	return SL_OK;
}

/* fold_orders folds ev into the order or settings views it changes. */
static sl_err fold_orders(fold_state *f, const sl_event *ev, projector_report *r)
{
	sl_err rc = SL_OK;
	if (settings_event_is_settings(ev)) {
		rc = settings_view_apply(&f->settings, ev);
		f->has_settings = true;
	} else if (order_event_is_order(ev)) {
		int is_new;
		sl_order *o =
		    sl_map_put(&f->orders, ev->order_id, strlen(ev->order_id), &is_new, &rc);
		if (o != NULL)
			rc = order_view_apply(o, ev);
	}
	if (rc == SL_ERR_CORRUPT) {
		r->bad_seq = ev->seq;
		snprintf(r->message, sizeof(r->message),
		         "event %llu does not follow from the state of %s '%s' before it",
		         (unsigned long long)ev->seq,
		         settings_event_is_settings(ev) ? "the settings" : "order",
		         settings_event_is_settings(ev) ? "orders" : ev->order_id);
	}
	return rc;
}

/* What one pass over the log does besides checking the chain. */
typedef struct fold_job {
	fold_state *f;       /* fold every event into these (NULL: none) */
	fold_views *fv;      /* fold item events here (NULL: none) */
	uint64_t to_seq;     /* stop after this event (0: the whole log) */
	ledger_txn *txn;     /* the rebuild's shadow transaction (spills), NULL: verify */
	bool is_index_check; /* check every item event's stored index row (verify) */
	uint64_t item_events;
	projector_report index_bad; /* the first event whose index row is bad (bad_seq 0: none) */
} fold_job;

/* index_key writes the item index key of ev into k; returns its length. */
static size_t index_key(const sl_item_key *item, uint64_t item_seq, uint8_t *k)
{
	return ledger_history_key(k, ledger_key_encode(item, k), item_seq, k);
}

/* index_check_event checks that the index row of ev names ev. */
static sl_err index_check_event(ledger *l, const sl_event *ev, sl_buf *scratch, projector_report *r)
{
	uint8_t k[LEDGER_KEY_BYTES];
	sl_err rc = store_get(ledger_store(l), STORE_CF_ITEM_EVENTS, k,
	                      index_key(&ev->item, ev->item_seq, k), scratch);
	if (rc == SL_OK && (scratch->len != 8 || sl_be64_get(scratch->data) != ev->seq))
		rc = SL_ERR_CORRUPT;
	if (rc == SL_ERR_NOT_FOUND || rc == SL_ERR_CORRUPT) {
		rc = SL_ERR_CORRUPT;
		r->bad_seq = ev->seq;
		snprintf(r->message, sizeof(r->message),
		         "the history index row of event %llu (item '%s/%s@%s', item seq %llu) is "
		         "%s",
		         (unsigned long long)ev->seq, ev->item.product_id, ev->item.variant_id,
		         ev->item.location_id, (unsigned long long)ev->item_seq,
		         scratch->len == 0 ? "missing" : "wrong");
	}
	return rc;
}

/*
 * The log reader: a thread that reads the log through ledger_iter_next_record (the read and
 * the chain's SHA-256) while the pass decodes and folds what it read on its own thread: the
 * records travel, a few hundred bytes each, not decoded events of 3 KiB, and the pass
 * decodes them into its ring of RING_EVENTS events (below), which stays in its cache. Records
 * travel in READ_SLOTS batches of READ_BATCH; the reader stops after `total` events, at the end of
 * the log, or at the first error, which the pass meets after every record before it.
 */
#define READ_BATCH 128
#define READ_SLOTS 8

typedef struct read_slot {
	sl_buf bytes; /* the records, one after the other */
	size_t off[READ_BATCH], len[READ_BATCH];
	uint64_t seq[READ_BATCH];
	size_t n;
	sl_err rc; /* after the n records: SL_OK (more follow), NOT_FOUND (end), or the error */
	uint64_t bad_seq;
} read_slot;

typedef struct log_reader {
	ledger_iter *it;
	uint64_t total;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	read_slot *slots;    /* READ_SLOTS, a ring */
	size_t head, filled; /* guarded by lock */
	bool is_stopping;    /* guarded by lock: the pass gave up */
	read_slot *cur;      /* the pass's slot (slots[head]), NULL before the first */
	size_t at;           /* the pass's position in it */
} log_reader;

static void *reader_main(void *arg)
{
	log_reader *rd = arg;
	sl_thread_name("sl:logreader");
	uint64_t done = 0;
	for (size_t k = 0;; k = (k + 1) % READ_SLOTS) {
		pthread_mutex_lock(&rd->lock);
		while (rd->filled == READ_SLOTS && !rd->is_stopping)
			pthread_cond_wait(&rd->cond, &rd->lock);
		bool is_stopping = rd->is_stopping;
		pthread_mutex_unlock(&rd->lock);
		if (is_stopping)
			return NULL;
		read_slot *sl = &rd->slots[k];
		sl->n = 0;
		sl->rc = SL_OK;
		sl->bad_seq = 0;
		sl->bytes.len = 0;
		while (sl->n < READ_BATCH) {
			if (done == rd->total) {
				sl->rc = SL_ERR_NOT_FOUND;
				break;
			}
			const uint8_t *rec;
			size_t len;
			sl->rc = ledger_iter_next_record(rd->it, &rec, &len, &sl->seq[sl->n],
			                                 &sl->bad_seq);
			if (sl->rc == SL_OK) {
				sl->off[sl->n] = sl->bytes.len;
				sl->len[sl->n] = len;
				sl->rc = sl_buf_append(&sl->bytes, rec, len);
			}
			if (sl->rc != SL_OK)
				break;
			sl->n++;
			done++;
		}
		pthread_mutex_lock(&rd->lock);
		rd->filled++;
		pthread_cond_broadcast(&rd->cond);
		pthread_mutex_unlock(&rd->lock);
		if (sl->rc != SL_OK)
			return NULL;
	}
}

static void slots_free(read_slot *slots)
{
	for (size_t i = 0; i < READ_SLOTS; i++)
		sl_buf_fini(&slots[i].bytes);
	free(slots);
}

static sl_err reader_start(log_reader *rd, ledger_iter *it, uint64_t total)
{
	memset(rd, 0, sizeof(*rd));
	rd->it = it;
	rd->total = total;
	rd->slots = malloc(READ_SLOTS * sizeof(*rd->slots));
	if (rd->slots == NULL)
		return SL_ERR_NOMEM;
	for (size_t i = 0; i < READ_SLOTS; i++)
		sl_buf_init(&rd->slots[i].bytes);
	pthread_mutex_init(&rd->lock, NULL);
	pthread_cond_init(&rd->cond, NULL);
	if (pthread_create(&rd->thread, NULL, reader_main, rd) != 0) {
		pthread_cond_destroy(&rd->cond);
		pthread_mutex_destroy(&rd->lock);
		slots_free(rd->slots);
		return SL_ERR_INTERNAL;
	}
	return SL_OK;
}

/* reader_next is ledger_iter_next_record for the pass: *rec points into the reader's slots
 * until the next call. The pass owns slots[head] once it has seen it filled (the reader
 * wrote it before it said so, under the lock), so it reads a slot's records without it. */
static sl_err reader_next(log_reader *rd, const uint8_t **rec, size_t *len, uint64_t *seq,
                          uint64_t *bad_seq)
{
	read_slot *sl = rd->cur;
	if (sl != NULL && rd->at < sl->n) {
		*rec = sl->bytes.data + sl->off[rd->at];
		*len = sl->len[rd->at];
		*seq = sl->seq[rd->at];
		rd->at++;
		return SL_OK;
	}
	if (sl != NULL && sl->rc != SL_OK) {
		*bad_seq = sl->bad_seq;
		return sl->rc;
	}
	pthread_mutex_lock(&rd->lock);
	if (sl != NULL) {
		/* this slot is done: give it back */
		rd->head = (rd->head + 1) % READ_SLOTS;
		rd->filled--;
		pthread_cond_broadcast(&rd->cond);
	}
	while (rd->filled == 0)
		pthread_cond_wait(&rd->cond, &rd->lock);
	sl = rd->cur = &rd->slots[rd->head];
	pthread_mutex_unlock(&rd->lock);
	rd->at = 0;
	return reader_next(rd, rec, len, seq, bad_seq);
}

static void reader_stop(log_reader *rd)
{
	pthread_mutex_lock(&rd->lock);
	rd->is_stopping = true;
	pthread_cond_broadcast(&rd->cond);
	pthread_mutex_unlock(&rd->lock);
	pthread_join(rd->thread, NULL);
	pthread_cond_destroy(&rd->cond);
	pthread_mutex_destroy(&rd->lock);
	slots_free(rd->slots);
}

/*
 * The pass reads ahead of the one event it folds: a ring of RING_EVENTS holds that event and
 * the three after it. Each is decoded as it comes in, its view's key hashed and the map's
 * slot for it asked of the memory, and two events before its turn the entry that slot
 * points to. With a million items the map is far larger than
 * the caches, and a find that waited for both loads was a sixth of the pass (a profile of
 * a 4-million-event rebuild). The events are folded in the log's order all the same: an
 * event that did not decode (or the end of the log) is met after every event before it.
 */
#define RING_EVENTS 4

typedef struct ahead_event {
	sl_event ev;
	sl_err rc;        /* of reading and decoding it: SL_OK, NOT_FOUND (the end), or the error */
	uint64_t seq;     /* the record's */
	uint64_t bad_seq; /* from the reader, on its error */
	bool is_undecoded; /* read, but did not decode (rc and message say why) */
	bool has_key;      /* an item event whose key and hash are below */
	uint32_t h;
	size_t klen;
	uint8_t k[LEDGER_KEY_BYTES];
	char message[sizeof(((projector_report *)0)->message)];
} ahead_event;

/* ahead_read reads and decodes the next record into a, and asks for its view's slot. */
static void ahead_read(log_reader *rd, const fold_views *fv, ahead_event *a)
{
	const uint8_t *rec;
	size_t len;
	a->has_key = false;
	a->is_undecoded = false;
	a->message[0] = '\0';
	a->bad_seq = 0;
	a->rc = reader_next(rd, &rec, &len, &a->seq, &a->bad_seq);
	if (a->rc == SL_OK) {
		a->rc =
		    ledger_record_decode(rec, len, a->seq, &a->ev, a->message, sizeof(a->message));
		a->is_undecoded = a->rc != SL_OK;
	}
	if (a->rc == SL_OK && fv != NULL && stock_event_is_item(&a->ev)) {
		a->klen = ledger_key_encode(&a->ev.item, a->k);
		a->h = viewmap_hash(a->k, a->klen);
		a->has_key = true;
		viewmap_prefetch(&fv->map, a->h);
	}
}

/* fold_one does job on the decoded event a. */
static sl_err fold_one(ledger *l, fold_job *job, const ahead_event *a, sl_buf *scratch,
                       projector_report *r)
{
	const sl_event *ev = &a->ev;
	sl_err rc;
	r->events++;
	if (job->f != NULL && (rc = fold_orders(job->f, ev, r)) != SL_OK)
		return rc;
	if (!stock_event_is_item(ev))
		return SL_OK;
	if (a->has_key && (rc = fv_apply(job->fv, job->txn, ev, a->k, a->klen, a->h, r)) != SL_OK)
		return rc;
	job->item_events++;
	if (job->is_index_check && job->index_bad.bad_seq == 0) {
		/* a bad index row is noted and the fold goes on: a view may have gone wrong at
		 * an earlier seq */
		scratch->len = 0;
		rc = index_check_event(l, ev, scratch, &job->index_bad);
		if (rc != SL_OK && rc != SL_ERR_CORRUPT)
			return rc;
	}
	return SL_OK;
}

/* fold_all reads the log (up to job->to_seq), checking its chain, and does job on each
 * event (committing staged index rows every REBUILD_BATCH_OPS). */
static sl_err fold_all(ledger *l, fold_job *job, projector_progress_fn progress, void *ctx,
                       projector_report *r)
{
	sl_buf scratch;
	sl_buf_init(&scratch);
	uint64_t total = ledger_head(l, NULL);
	if (job->to_seq > 0 && job->to_seq < total)
		total = job->to_seq;
	ledger_iter *it = ledger_iter_alloc(l, 1);
	if (it == NULL)
		return SL_ERR_NOMEM;
	log_reader rd;
	ahead_event *ring = malloc(RING_EVENTS * sizeof(*ring)); /* decoded into, in turn */
	sl_err rc = ring != NULL ? reader_start(&rd, it, total) : SL_ERR_NOMEM;
	if (rc != SL_OK) {
		free(ring);
		ledger_iter_free(it);
		return rc;
	}
	/* ring[i % RING_EVENTS] is event i of the pass; n_read: how many were read into it */
	uint64_t n_read = 0;
	bool is_iter_error = false;
	for (; n_read < RING_EVENTS - 1; n_read++) {
		ahead_read(&rd, job->fv, &ring[n_read]);
		if (ring[n_read].rc != SL_OK) {
			n_read++;
			break;
		}
	}
	for (uint64_t i = 0; r->events < total; i++) {
		const ahead_event *a = &ring[i % RING_EVENTS];
		/* the ring's last read is not an end or an error: one more comes in, into the
		 * slot of event i - 1 (n_read <= i + 3 here) */
		if (ring[(n_read - 1) % RING_EVENTS].rc == SL_OK) {
			ahead_read(&rd, job->fv, &ring[n_read % RING_EVENTS]);
			n_read++;
		}
		const ahead_event *next = &ring[(i + 2) % RING_EVENTS];
		if (i + 2 < n_read && next->rc == SL_OK && next->has_key)
			viewmap_prefetch_entry(&job->fv->map, next->h);
		if ((rc = a->rc) != SL_OK) {
			if (a->is_undecoded) {
				r->bad_seq = a->seq;
				snprintf(r->message, sizeof(r->message), "%s", a->message);
			} else if (rc == SL_ERR_CORRUPT) {
				r->bad_seq =
				    a->bad_seq; /* the chain's: its words come from the iterator */
				is_iter_error = true;
			}
			break;
		}
		if ((rc = fold_one(l, job, a, &scratch, r)) != SL_OK)
			break;
		if (progress != NULL && r->events % PROGRESS_EVERY == 0)
			progress(ctx, r->events, total);
	}
	reader_stop(&rd); /* before the iterator's error is read */
	if (rc == SL_ERR_NOT_FOUND)
		rc = SL_OK;
	if (is_iter_error)
		snprintf(r->message, sizeof(r->message), "%s", ledger_iter_error(it));
	else if (rc != SL_OK && r->message[0] == '\0') {
		snprintf(r->message, sizeof(r->message), "cannot fold the log: %s",
		         rc == SL_ERR_STORAGE ? store_last_error(ledger_store(l))
		                              : sl_strerror(rc));
	}
	if (rc == SL_OK && progress != NULL)
		progress(ctx, r->events, total);
	ledger_iter_free(it);
	free(ring);
	sl_buf_fini(&scratch);
	return rc;
}

/* index_check_rows checks that the index holds no row but those of the log's item events:
 * as many rows as events (each of which found its own row), else names the first row that
 * does not point at its event. */
static sl_err index_check_rows(ledger *l, uint64_t item_events, projector_report *r)
{
	store_iter *it = store_iter_alloc(ledger_store(l), STORE_CF_ITEM_EVENTS);
	if (it == NULL)
		return SL_ERR_NOMEM;
	uint64_t rows = 0;
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it))
		rows++;
	sl_err rc = store_iter_status(it);
	for (store_iter_seek_first(it); rc == SL_OK && rows != item_events && store_iter_valid(it);
	     store_iter_next(it)) {
		size_t klen, vlen;
		const uint8_t *k = store_iter_key(it, &klen);
		const uint8_t *v = store_iter_value(it, &vlen);
		sl_event ev;
		uint8_t want[LEDGER_KEY_BYTES];
		uint64_t seq = vlen == 8 ? sl_be64_get(v) : 0;
		bool is_ok = seq != 0 && ledger_event_get(l, seq, &ev) == SL_OK &&
		             index_key(&ev.item, ev.item_seq, want) == klen &&
		             memcmp(want, k, klen) == 0;
		if (!is_ok) {
			rc = SL_ERR_CORRUPT;
			r->bad_seq = seq;
			snprintf(
			    r->message, sizeof(r->message),
			    "a history index row of item '%.*s' points at event %llu, which is not "
			    "its event",
			    (int)klen, (const char *)k, (unsigned long long)seq);
		}
	}
	if (rc == SL_OK && rows != item_events) {
		rc = SL_ERR_CORRUPT;
		snprintf(r->message, sizeof(r->message),
		         "the history index has %llu rows for %llu item events",
		         (unsigned long long)rows, (unsigned long long)item_events);
	}
	store_iter_free(it);
	return rc;
}

/* flush_if_full commits what txn holds once it is large, and begins again. */
static sl_err flush_if_full(ledger_txn *txn)
{
	sl_err rc = SL_OK;
	if (ledger_txn_staged(txn) >= REBUILD_BATCH_OPS &&
	    (rc = ledger_txn_commit(txn, false)) == SL_OK)
		rc = ledger_txn_begin(txn);
	return rc;
}

/* write_orders stages every folded order with its holds, and the settings. */
static sl_err write_orders(ledger_txn *txn, fold_state *f)
{
	sl_err rc = SL_OK;
	for (size_t i = 0; i < f->orders.n && rc == SL_OK; i++) {
		const sl_order *o = sl_map_at(&f->orders, i);
		if ((rc = ledger_txn_put_order(txn, o)) == SL_OK &&
		    (rc = ledger_txn_put_holds(txn, o)) == SL_OK)
			rc = flush_if_full(txn);
	}
	if (rc == SL_OK && f->has_settings)
		rc = ledger_txn_put_settings(txn, &f->settings);
	return rc;
}

sl_err projector_rebuild(ledger *l, projector_progress_fn progress, void *ctx, projector_report *r)
{
	return projector_rebuild_to(l, 0, progress, ctx, r);
}

sl_err projector_rebuild_to(ledger *l, uint64_t to_seq, projector_progress_fn progress, void *ctx,
                            projector_report *r)
{
	return projector_rebuild_bounded(l, to_seq, SL_REBUILD_FOLD_BYTES_MAX, progress, ctx, r);
}

sl_err projector_rebuild_bounded(ledger *l, uint64_t to_seq, size_t fold_bytes_max,
                                 projector_progress_fn progress, void *ctx, projector_report *r)
{
	SL_ASSERT(fold_bytes_max <= SL_REBUILD_FOLD_BYTES_MAX);
	fold_state f;
	fold_views fv;
	fold_history hist;
	const viewmap_entry **sorted = NULL;
	size_t n_sorted = 0;
	store *st = ledger_store(l);
	memset(r, 0, sizeof(*r));
	memset(&hist, 0, sizeof(hist));
	sl_err rc = fold_init(&f);
	if (rc != SL_OK)
		return rc;
	ledger_txn *txn = NULL;
	if ((rc = fv_init(&fv, l, fold_bytes_max)) != SL_OK)
		goto done;
	fv.hist = &hist;
	if ((txn = ledger_txn_alloc_shadow(l)) == NULL) {
		rc = SL_ERR_NOMEM;
		goto done;
	}
	/* Everything goes to the shadow families, emptied first: the live views and indexes
	 * stay as they are until the publish at the end, so a log that does not replay
	 * leaves them as they were. */
	if ((rc = store_shadow_reset(st)) != SL_OK || (rc = ledger_txn_begin(txn)) != SL_OK)
		goto fail;
	fold_job job = {.f = &f, .fv = &fv, .to_seq = to_seq, .txn = txn};
	if ((rc = fold_all(l, &job, progress, ctx, r)) != SL_OK) {
		ledger_txn_abort(txn);
		goto fail;
	}
	/* the items are sorted once, for the history and (a fold that never spilled) the views */
	rc = entries_sorted(&fv.map, &sorted, &n_sorted);
	if (rc == SL_OK)
		rc = hist_write(&hist, sorted, n_sorted, st);
	hist_fini(&hist); /* its memory, before the views' tables take theirs */
	if (rc != SL_OK ||
	    (rc = fv.spills == 0 ? fv_write_tables(&fv, sorted, n_sorted) : fv_write(&fv, txn)) !=
	        SL_OK ||
	    (rc = write_orders(txn, &f)) != SL_OK) {
		ledger_txn_abort(txn);
		goto fail;
	}
	if ((rc = ledger_txn_commit(txn, false)) != SL_OK)
		goto fail;
	/* the switch says how far the new views go: to the head, or to seq N (--to-seq) */
	store_batch *mark = store_batch_alloc(st);
	if (mark == NULL) {
		rc = SL_ERR_NOMEM;
		goto fail;
	}
	ledger_views_seq_stage(l, mark, to_seq > 0 ? to_seq : ledger_head(l, NULL));
	rc = ledger_views_publish(l, mark);
	store_batch_free(mark);
	if (rc != SL_OK)
		goto fail;
	r->spills = fv.spills;
	rc = ledger_views_checksum(l, r->checksum, &r->views);
	goto done;
fail:
	if (r->message[0] == '\0')
		snprintf(r->message, sizeof(r->message), "%s",
		         rc == SL_ERR_STORAGE ? store_last_error(st) : sl_strerror(rc));
	/* the scratch rows go; a failure to drop them is left to the next store_open */
	(void)store_shadow_reset(st);
done:
	ledger_txn_free(txn);
	free(sorted);
	fv_fini(&fv);
	hist_fini(&hist);
	fold_fini(&f);
	return rc;
}

/* view_bad records a bad view row, keeping the smallest seq seen. */
static void view_bad(projector_report *r, const sl_item *item, const char *what)
{
	if (r->bad_seq != 0 && item->last_seq >= r->bad_seq)
		return;
	r->bad_seq = item->last_seq;
	snprintf(r->message, sizeof(r->message),
	         "view of item '%s/%s@%s' %s (its last event is %llu)", item->key.product_id,
	         item->key.variant_id, item->key.location_id, what,
	         (unsigned long long)item->last_seq);
}

/* compare_views checks every stored row against the fold, and that no row is missing. A bad
 * row is named by its last event, the first event after which it went wrong; an extra row
 * (no event of its item in the log) by the last event it claims. */
static sl_err compare_views(ledger *l, fold_views *views, projector_report *r)
{
	sl_buf enc;
	sl_buf_init(&enc);
	store_iter *it = store_iter_alloc(ledger_store(l), STORE_CF_VIEWS);
	if (it == NULL)
		return SL_ERR_NOMEM;
	sl_err rc = SL_OK;
	bool is_bad = false;
	uint64_t matched = 0;
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it)) {
		size_t klen, vlen;
		const uint8_t *k = store_iter_key(it, &klen);
		const uint8_t *v = store_iter_value(it, &vlen);
		const viewmap_entry *e = viewmap_find(&views->map, k, klen, viewmap_hash(k, klen));
		const sl_item *want = NULL;
		if (e != NULL) {
			viewmap_entry_get(e, NULL, &views->item);
			want = &views->item;
		}
		if (want == NULL) {
			sl_item stored;
			is_bad = true;
			if (ledger_item_decode(v, vlen, &stored) == SL_OK) {
				view_bad(r, &stored, "is stored but has no event in the log");
			} else if (r->bad_seq == 0) {
				snprintf(r->message, sizeof(r->message),
				         "a stored view row of %zu bytes cannot be decoded", vlen);
			}
			continue;
		}
		enc.len = 0;
		if ((rc = ledger_item_encode(want, &enc)) != SL_OK)
			break;
		if (enc.len != vlen || memcmp(enc.data, v, vlen) != 0) {
			is_bad = true;
			view_bad(r, want, "differs from the fold of the log");
			continue;
		}
		matched++;
	}
	if (rc == SL_OK)
		rc = store_iter_status(it);
	store_iter_free(it);
	sl_buf_fini(&enc);
	if (rc != SL_OK)
		return rc;
	/* every folded view must have been seen, matched or not */
	const viewmap_entry *e;
	for (size_t pos = 0;
	     matched != views->map.n && (e = viewmap_next(&views->map, &pos)) != NULL;) {
		viewmap_entry_get(e, NULL, &views->item);
		sl_item got;
		if (ledger_view_get(l, &views->item.key, &got) == SL_ERR_NOT_FOUND) {
			is_bad = true;
			view_bad(r, &views->item, "is missing");
		}
	}
	return is_bad ? SL_ERR_CORRUPT : SL_OK;
}

/* compare_index checks that the index family holds exactly the index keys of the folded
 * views: each expected key is present, and the family holds no more keys than expected. */
static sl_err compare_index(ledger *l, fold_views *views, projector_report *r)
{
	uint8_t keys[LEDGER_INDEX_PER_ITEM][LEDGER_INDEX_KEY_BYTES];
	size_t lens[LEDGER_INDEX_PER_ITEM];
	uint64_t expected = 0, stored = 0;
	sl_buf v;
	sl_buf_init(&v);
	sl_err rc = SL_OK;
	const viewmap_entry *e;
	for (size_t pos = 0; rc == SL_OK && (e = viewmap_next(&views->map, &pos)) != NULL;) {
		viewmap_entry_get(e, NULL, &views->item);
		const sl_item *want = &views->item;
		ledger_index_row row;
		ledger_index_row_of(want, &row);
		size_t n = ledger_index_keys(&row, keys, lens);
		for (size_t k = 0; k < n && rc == SL_OK; k++) {
			if (ledger_index_is_hot(keys[k][0]))
				continue; /* in memory: ledger_hot_verify */
			expected++;
			rc = store_get(ledger_store(l), STORE_CF_ITEM_INDEX, keys[k], lens[k], &v);
			if (rc == SL_ERR_NOT_FOUND) {
				rc = SL_ERR_CORRUPT;
				r->bad_seq = want->last_seq;
				snprintf(
				    r->message, sizeof(r->message),
				    "index row '%c' of item '%s/%s@%s' is missing (its last event "
				    "is %llu)",
				    keys[k][0], want->key.product_id, want->key.variant_id,
				    want->key.location_id, (unsigned long long)want->last_seq);
			}
		}
	}
	sl_buf_fini(&v);
	if (rc != SL_OK)
		return rc;
	store_iter *it = store_iter_alloc(ledger_store(l), STORE_CF_ITEM_INDEX);
	if (it == NULL)
		return SL_ERR_NOMEM;
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it))
		stored++;
	rc = store_iter_status(it);
	store_iter_free(it);
	if (rc == SL_OK && stored != expected) {
		rc = SL_ERR_CORRUPT;
		snprintf(r->message, sizeof(r->message),
		         "the item index holds %llu rows, the views call for %llu",
		         (unsigned long long)stored, (unsigned long long)expected);
	}
	return rc;
}

/* row: one expected row of a view column family. */
typedef struct row {
	uint8_t *key;
	size_t klen;
	uint8_t *val;
	size_t vlen;
} row;

typedef struct rows {
	row *v;
	size_t n, cap;
} rows;

static void rows_fini(rows *rs)
{
	for (size_t i = 0; i < rs->n; i++) {
		free(rs->v[i].key);
		free(rs->v[i].val);
	}
	free(rs->v);
	memset(rs, 0, sizeof(*rs));
}

static sl_err rows_add(rows *rs, const void *key, size_t klen, const void *val, size_t vlen)
{
	if (rs->n == rs->cap) {
		size_t ncap = rs->cap == 0 ? 64 : rs->cap * 2;
		row *nv = realloc(rs->v, ncap * sizeof(*nv));
		if (nv == NULL)
			return SL_ERR_NOMEM;
		rs->v = nv;
		rs->cap = ncap;
	}
	row *w = &rs->v[rs->n];
	w->key = malloc(klen + 1);
	w->val = malloc(vlen + 1);
	if (w->key == NULL || w->val == NULL) {
		free(w->key);
		free(w->val);
		return SL_ERR_NOMEM;
	}
	memcpy(w->key, key, klen);
	memcpy(w->val, val, vlen);
	w->klen = klen;
	w->vlen = vlen;
	rs->n++;
	return SL_OK;
}

/* row_cmp orders rows as RocksDB's bytewise comparator does. */
static int row_cmp(const void *a, const void *b)
{
	const row *x = a, *y = b;
	size_t n = x->klen < y->klen ? x->klen : y->klen;
	int c = memcmp(x->key, y->key, n);
	if (c != 0)
		return c;
	return x->klen < y->klen ? -1 : x->klen > y->klen;
}

/* compare_rows checks that cf holds exactly the rows rs (sorted here), naming the first
 * difference. */
static sl_err compare_rows(ledger *l, store_cf cf, const char *what, rows *rs, projector_report *r)
{
	if (rs->n > 0)
		qsort(rs->v, rs->n, sizeof(*rs->v), row_cmp);
	store_iter *it = store_iter_alloc(ledger_store(l), cf);
	if (it == NULL)
		return SL_ERR_NOMEM;
	sl_err rc = SL_OK;
	size_t i = 0;
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it), i++) {
		size_t klen, vlen;
		const uint8_t *k = store_iter_key(it, &klen);
		const uint8_t *v = store_iter_value(it, &vlen);
		if (i == rs->n || rs->v[i].klen != klen || memcmp(rs->v[i].key, k, klen) != 0) {
			snprintf(r->message, sizeof(r->message),
			         "stored %s row '%.*s' is not what the fold of the log gives", what,
			         (int)klen, (const char *)k);
			rc = SL_ERR_CORRUPT;
			break;
		}
		if (rs->v[i].vlen != vlen || memcmp(rs->v[i].val, v, vlen) != 0) {
			snprintf(r->message, sizeof(r->message),
			         "stored %s row '%.*s' differs from the fold of the log", what,
			         (int)klen, (const char *)k);
			rc = SL_ERR_CORRUPT;
			break;
		}
	}
	if (rc == SL_OK)
		rc = store_iter_status(it);
	if (rc == SL_OK && i != rs->n) {
		snprintf(r->message, sizeof(r->message), "%s row '%.*s' is missing", what,
		         (int)rs->v[i].klen, (const char *)rs->v[i].key);
		rc = SL_ERR_CORRUPT;
	}
	store_iter_free(it);
	return rc;
}

/* compare_orders checks the order, holds and settings rows against the fold. */
static sl_err compare_orders(ledger *l, fold_state *f, projector_report *r)
{
	rows orders = {0}, holds = {0}, settings = {0};
	sl_buf enc;
	sl_buf_init(&enc);
	sl_err rc = SL_OK;
	for (size_t i = 0; i < f->orders.n && rc == SL_OK; i++) {
		const sl_order *o = sl_map_at(&f->orders, i);
		enc.len = 0;
		if ((rc = ledger_order_encode(o, &enc)) == SL_OK)
			rc = rows_add(&orders, o->order_id, strlen(o->order_id), enc.data, enc.len);
		for (size_t j = 0; j < o->n_lines && rc == SL_OK; j++) {
			uint8_t k[LEDGER_HOLD_KEY_BYTES], v[LEDGER_HOLD_VALUE_BYTES];
			size_t klen = ledger_hold_row(o->order_id, &o->lines[j], k, v);
			if (o->lines[j].state.held > 0)
				rc = rows_add(&holds, k, klen, v, sizeof(v));
		}
	}
	if (rc == SL_OK && f->has_settings) {
		enc.len = 0;
		if ((rc = ledger_settings_encode(&f->settings, &enc)) == SL_OK)
			rc = rows_add(&settings, LEDGER_SETTINGS_KEY, strlen(LEDGER_SETTINGS_KEY),
			              enc.data, enc.len);
	}
	if (rc == SL_OK)
		rc = compare_rows(l, STORE_CF_ORDERS, "order", &orders, r);
	if (rc == SL_OK)
		rc = compare_rows(l, STORE_CF_HOLDS, "holds", &holds, r);
	if (rc == SL_OK)
		rc = compare_rows(l, STORE_CF_SETTINGS, "settings", &settings, r);
	if (rc == SL_ERR_CORRUPT && r->bad_seq == 0)
		r->bad_seq = ledger_head(l, NULL);
	rows_fini(&orders);
	rows_fini(&holds);
	rows_fini(&settings);
	sl_buf_fini(&enc);
	return rc;
}

sl_err projector_verify(ledger *l, projector_progress_fn progress, void *ctx, projector_report *r)
{
	fold_state f;
	fold_views fv;
	memset(r, 0, sizeof(*r));
	sl_err rc = fold_init(&f);
	if (rc != SL_OK)
		return rc;
	/* no bound: verify writes nothing, so it has nowhere to spill */
	if ((rc = fv_init(&fv, l, SIZE_MAX)) != SL_OK) {
		fold_fini(&f);
		return rc;
	}
	fold_job job = {.f = &f, .fv = &fv, .is_index_check = true};
	rc = fold_all(l, &job, progress, ctx, r);
	if (rc == SL_OK)
		rc = compare_views(l, &fv, r);
	if ((rc == SL_OK || rc == SL_ERR_CORRUPT) && job.index_bad.bad_seq != 0 &&
	    (r->bad_seq == 0 || job.index_bad.bad_seq < r->bad_seq)) {
		rc = SL_ERR_CORRUPT;
		r->bad_seq = job.index_bad.bad_seq;
		memcpy(r->message, job.index_bad.message, sizeof(r->message));
	}
	if (rc == SL_OK)
		rc = index_check_rows(l, job.item_events, r);
	if (rc == SL_OK)
		rc = compare_index(l, &fv, r);
	if (rc == SL_OK)
		rc = ledger_hot_verify(l, r->message, sizeof(r->message));
	if (rc == SL_OK)
		rc = compare_orders(l, &f, r);
	if (rc == SL_OK)
		rc = ledger_views_checksum(l, r->checksum, &r->views);
	fv_fini(&fv);
	fold_fini(&f);
	return rc;
}

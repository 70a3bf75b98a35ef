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
typedef struct fold_views {
	viewmap map;
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

/* fv_apply folds item event ev into its view: from the map, else (after a spill) from the
 * shadow views family, else a new view. Past SL_REBUILD_FOLD_BYTES_MAX the map is written
 * to the shadows through txn and emptied. */
static sl_err fv_apply(fold_views *v, ledger_txn *txn, const sl_event *ev, projector_report *r)
{
	uint8_t k[LEDGER_KEY_BYTES];
	size_t klen = ledger_key_encode(&ev->item, k);
	uint32_t h = viewmap_hash(k, klen);
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
	ledger_txn *txn;     /* stage every item event's index row (rebuild) */
	bool is_index_check; /* check every item event's stored index row (verify) */
	uint64_t item_events;
	projector_report index_bad; /* the first event whose index row is bad (bad_seq 0: none) */
} fold_job;

/* index_key writes the item index key of ev into k; returns its length. */
static size_t index_key(const sl_item_key *item, uint64_t item_seq, uint8_t *k)
{
	size_t klen = ledger_key_encode(item, k);
	k[klen++] = '\0';
	sl_be64_put(k + klen, item_seq);
	return klen + 8;
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
 * The log reader: a thread that reads the log through ledger_iter (the read, the chain's
 * SHA-256 and the decode: about half of a pass's time) while the pass folds what it read on
 * its own thread. Events travel in READ_SLOTS batches of READ_BATCH; the reader stops after
 * `total` events, at the end of the log, or at the first error, which the pass meets after
 * every event before it.
 */
#define READ_BATCH 256
#define READ_SLOTS 4

typedef struct read_slot {
	sl_event events[READ_BATCH];
	size_t n;
	sl_err rc; /* after the n events: SL_OK (more follow), NOT_FOUND (end), or the error */
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
		while (sl->n < READ_BATCH) {
			if (done == rd->total) {
				sl->rc = SL_ERR_NOT_FOUND;
				break;
			}
			sl->rc = ledger_iter_next(rd->it, &sl->events[sl->n], &sl->bad_seq);
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

static sl_err reader_start(log_reader *rd, ledger_iter *it, uint64_t total)
{
	memset(rd, 0, sizeof(*rd));
	rd->it = it;
	rd->total = total;
	rd->slots = malloc(READ_SLOTS * sizeof(*rd->slots));
	if (rd->slots == NULL)
		return SL_ERR_NOMEM;
	pthread_mutex_init(&rd->lock, NULL);
	pthread_cond_init(&rd->cond, NULL);
	if (pthread_create(&rd->thread, NULL, reader_main, rd) != 0) {
		pthread_cond_destroy(&rd->cond);
		pthread_mutex_destroy(&rd->lock);
		free(rd->slots);
		return SL_ERR_INTERNAL;
	}
	return SL_OK;
}

/* reader_next is ledger_iter_next for the pass: *ev points into the reader's slots until the
 * next call. The pass owns slots[head] once it has seen it filled (the reader wrote it
 * before it said so, under the lock), so it reads a slot's events without the lock. */
static sl_err reader_next(log_reader *rd, sl_event **ev, uint64_t *bad_seq)
{
	read_slot *sl = rd->cur;
	if (sl != NULL && rd->at < sl->n) {
		*ev = &sl->events[rd->at++];
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
	return reader_next(rd, ev, bad_seq);
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
	free(rd->slots);
}

/* fold_all reads the log (up to job->to_seq), checking its chain, and does job on each
 * event (committing staged index rows every REBUILD_BATCH_OPS). */
static sl_err fold_all(ledger *l, fold_job *job, projector_progress_fn progress, void *ctx,
                       projector_report *r)
{
	ledger_txn *txn = job->txn;
	sl_buf scratch;
	sl_buf_init(&scratch);
	uint64_t total = ledger_head(l, NULL);
	if (job->to_seq > 0 && job->to_seq < total)
		total = job->to_seq;
	ledger_iter *it = ledger_iter_alloc(l, 1);
	if (it == NULL)
		return SL_ERR_NOMEM;
	log_reader rd;
	sl_err rc = reader_start(&rd, it, total);
	if (rc != SL_OK) {
		ledger_iter_free(it);
		return rc;
	}
	sl_event *ev = NULL;
	uint64_t bad_seq = 0;
	while (r->events < total && (rc = reader_next(&rd, &ev, &bad_seq)) == SL_OK) {
		r->events++;
		if (job->f != NULL && (rc = fold_orders(job->f, ev, r)) != SL_OK)
			break;
		if (stock_event_is_item(ev) && job->fv != NULL &&
		    (rc = fv_apply(job->fv, txn, ev, r)) != SL_OK)
			break;
		if (stock_event_is_item(ev))
			job->item_events++;
		if (stock_event_is_item(ev) && job->is_index_check && job->index_bad.bad_seq == 0) {
			/* a bad index row is noted and the fold goes on: a view may have gone
			 * wrong at an earlier seq */
			scratch.len = 0;
			rc = index_check_event(l, ev, &scratch, &job->index_bad);
			if (rc == SL_ERR_CORRUPT)
				rc = SL_OK;
			else if (rc != SL_OK)
				break;
		}
		if (stock_event_is_item(ev) && txn != NULL) {
			ledger_txn_put_index(txn, ev);
			if (ledger_txn_staged(txn) >= REBUILD_BATCH_OPS) {
				if ((rc = ledger_txn_commit(txn, false)) != SL_OK ||
				    (rc = ledger_txn_begin(txn)) != SL_OK)
					break;
			}
		}
		if (progress != NULL && r->events % PROGRESS_EVERY == 0)
			progress(ctx, r->events, total);
	}
	reader_stop(&rd); /* before the iterator's error is read */
	if (rc == SL_ERR_NOT_FOUND)
		rc = SL_OK;
	if (rc == SL_ERR_CORRUPT && r->bad_seq == 0) {
		r->bad_seq = bad_seq;
		snprintf(r->message, sizeof(r->message), "%s", ledger_iter_error(it));
	} else if (rc != SL_OK && r->message[0] == '\0') {
		snprintf(r->message, sizeof(r->message), "cannot fold the log: %s",
		         rc == SL_ERR_STORAGE ? store_last_error(ledger_store(l))
		                              : sl_strerror(rc));
	}
	if (rc == SL_OK && progress != NULL)
		progress(ctx, r->events, total);
	ledger_iter_free(it);
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
	store *st = ledger_store(l);
	memset(r, 0, sizeof(*r));
	sl_err rc = fold_init(&f);
	if (rc != SL_OK)
		return rc;
	ledger_txn *txn = NULL;
	if ((rc = fv_init(&fv, l, fold_bytes_max)) != SL_OK)
		goto done;
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
	if ((rc = fv_write(&fv, txn)) != SL_OK || (rc = write_orders(txn, &f)) != SL_OK) {
		ledger_txn_abort(txn);
		goto fail;
	}
	if ((rc = ledger_txn_commit(txn, false)) != SL_OK ||
	    (rc = store_shadow_publish(st)) != SL_OK)
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
	fv_fini(&fv);
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
		rc = compare_orders(l, &f, r);
	if (rc == SL_OK)
		rc = ledger_views_checksum(l, r->checksum, &r->views);
	fv_fini(&fv);
	fold_fini(&f);
	return rc;
}

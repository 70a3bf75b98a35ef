/*
 * rebuild.c: rebuild and verify, both built on one fold of the whole log into in-memory
 * views (fold_all): the item views, the order views and the settings. Rebuild then writes
 * them (with the holds rows derived from the orders) and the history index; verify compares
 * them with the store: item views row by row, the history index, and the order, holds and
 * settings rows as sorted lists of the rows the fold implies, so that a missing, extra or
 * different row is named.
 *
 * NEEDSWORK: the map holds every item (about 1.6 KiB each); a log of millions of items
 * would want a fold that spills views to the store in key ranges.
 */
#include "projector/rebuild.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/banned.h"
#include "base/sl_map.h"
#include "base/sl_util.h"
#include "ledger/codec.h"
#include "projector/orders.h"
#include "projector/stock.h"

#define PROGRESS_EVERY 100000
#define REBUILD_BATCH_OPS 50000
#define FOLD_ITEMS_MAX 50000000
#define FOLD_ORDERS_MAX 50000000

/* fold_state: everything the log folds into. */
typedef struct fold_state {
	sl_map views;  /* item key -> sl_item */
	sl_map orders; /* order id -> sl_order (owning its lines) */
	sl_settings settings;
	bool has_settings;
} fold_state;

static sl_err fold_init(fold_state *f)
{
	memset(f, 0, sizeof(*f));
	sl_err rc = sl_map_init(&f->views, sizeof(sl_item), FOLD_ITEMS_MAX);
	if (rc == SL_OK &&
	    (rc = sl_map_init(&f->orders, sizeof(sl_order), FOLD_ORDERS_MAX)) != SL_OK)
		sl_map_fini(&f->views);
	return rc;
}

static void fold_fini(fold_state *f)
{
	for (size_t i = 0; i < f->orders.n; i++)
		sl_order_fini(sl_map_at(&f->orders, i));
	sl_map_fini(&f->orders);
	sl_map_fini(&f->views);
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
	fold_state *f;       /* fold every event into these views */
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

/* fold_all reads the whole log, checking its chain, and does job on each item event
 * (committing staged index rows every REBUILD_BATCH_OPS). */
static sl_err fold_all(ledger *l, fold_job *job, projector_progress_fn progress, void *ctx,
                       projector_report *r)
{
	sl_map *views = job->f != NULL ? &job->f->views : NULL;
	ledger_txn *txn = job->txn;
	sl_buf scratch;
	sl_buf_init(&scratch);
	uint64_t total = ledger_head(l, NULL);
	ledger_iter *it = ledger_iter_alloc(l, 1);
	if (it == NULL)
		return SL_ERR_NOMEM;
	sl_event *ev = malloc(sizeof(*ev));
	if (ev == NULL) {
		ledger_iter_free(it);
		return SL_ERR_NOMEM;
	}
	sl_err rc;
	uint64_t bad_seq = 0;
	while ((rc = ledger_iter_next(it, ev, &bad_seq)) == SL_OK) {
		r->events++;
		if (job->f != NULL && (rc = fold_orders(job->f, ev, r)) != SL_OK)
			break;
		if (stock_event_is_item(ev) && views != NULL) {
			uint8_t k[LEDGER_KEY_BYTES];
			size_t klen = ledger_key_encode(&ev->item, k);
			int is_new;
			sl_item *view = sl_map_put(views, k, klen, &is_new, &rc);
			if (view == NULL)
				break;
			if (stock_view_apply(view, ev) != SL_OK) {
				rc = SL_ERR_CORRUPT;
				r->bad_seq = ev->seq;
				snprintf(r->message, sizeof(r->message),
				         "event %llu does not follow from the state of item "
				         "'%s/%s@%s' before it",
				         (unsigned long long)ev->seq, ev->item.product_id,
				         ev->item.variant_id, ev->item.location_id);
				break;
			}
		}
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
	free(ev);
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

/* write_views stages every folded view (items, orders with their holds, settings). */
static sl_err write_views(ledger_txn *txn, fold_state *f)
{
	sl_err rc = SL_OK;
	for (size_t i = 0; i < f->views.n && rc == SL_OK; i++) {
		if ((rc = ledger_txn_put_view(txn, sl_map_at(&f->views, i))) == SL_OK)
			rc = flush_if_full(txn);
	}
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
	fold_state f;
	static const store_cf cleared[] = {STORE_CF_VIEWS, STORE_CF_ITEM_EVENTS, STORE_CF_ORDERS,
	                                   STORE_CF_HOLDS, STORE_CF_SETTINGS};
	memset(r, 0, sizeof(*r));
	sl_err rc = fold_init(&f);
	if (rc != SL_OK)
		return rc;
	ledger_txn *txn = ledger_txn_alloc(l);
	if (txn == NULL) {
		fold_fini(&f);
		return SL_ERR_NOMEM;
	}
	/* Fold the whole log before dropping anything: a log that does not replay leaves the
	 * views and the index as they were. */
	fold_job job = {.f = &f};
	if ((rc = fold_all(l, &job, progress, ctx, r)) != SL_OK)
		goto done;
	store *st = ledger_store(l);
	for (size_t i = 0; i < sizeof(cleared) / sizeof(cleared[0]); i++) {
		if ((rc = store_clear_cf(st, cleared[i])) != SL_OK) {
			snprintf(r->message, sizeof(r->message), "%s", store_last_error(st));
			goto done;
		}
	}
	if ((rc = ledger_txn_begin(txn)) != SL_OK)
		goto done;
	/* The index rows, from a second pass over the log (it was checked just now). */
	projector_report index_pass;
	memset(&index_pass, 0, sizeof(index_pass));
	fold_job index_job = {.txn = txn};
	if ((rc = fold_all(l, &index_job, NULL, NULL, &index_pass)) != SL_OK) {
		ledger_txn_abort(txn);
		r->bad_seq = index_pass.bad_seq;
		snprintf(r->message, sizeof(r->message), "%s", index_pass.message);
		goto done;
	}
	rc = write_views(txn, &f);
	if (rc == SL_OK)
		rc = ledger_txn_commit(txn, true);
	else
		ledger_txn_abort(txn);
	if (rc != SL_OK) {
		snprintf(r->message, sizeof(r->message), "%s", store_last_error(st));
		goto done;
	}
	rc = ledger_views_checksum(l, r->checksum, &r->views);
done:
	ledger_txn_free(txn);
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
static sl_err compare_views(ledger *l, sl_map *views, projector_report *r)
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
		const sl_item *want = sl_map_get(views, k, klen);
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
	for (size_t i = 0; i < views->n && matched != views->n; i++) {
		const sl_item *want = sl_map_at(views, i);
		sl_item got;
		if (ledger_view_get(l, &want->key, &got) == SL_ERR_NOT_FOUND) {
			is_bad = true;
			view_bad(r, want, "is missing");
		}
	}
	return is_bad ? SL_ERR_CORRUPT : SL_OK;
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
	memset(r, 0, sizeof(*r));
	sl_err rc = fold_init(&f);
	if (rc != SL_OK)
		return rc;
	fold_job job = {.f = &f, .is_index_check = true};
	rc = fold_all(l, &job, progress, ctx, r);
	if (rc == SL_OK)
		rc = compare_views(l, &f.views, r);
	if ((rc == SL_OK || rc == SL_ERR_CORRUPT) && job.index_bad.bad_seq != 0 &&
	    (r->bad_seq == 0 || job.index_bad.bad_seq < r->bad_seq)) {
		rc = SL_ERR_CORRUPT;
		r->bad_seq = job.index_bad.bad_seq;
		memcpy(r->message, job.index_bad.message, sizeof(r->message));
	}
	if (rc == SL_OK)
		rc = index_check_rows(l, job.item_events, r);
	if (rc == SL_OK)
		rc = compare_orders(l, &f, r);
	if (rc == SL_OK)
		rc = ledger_views_checksum(l, r->checksum, &r->views);
	fold_fini(&f);
	return rc;
}

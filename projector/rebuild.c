/*
 * rebuild.c: rebuild and verify, both built on one fold of the whole log into an in-memory
 * map of views (fold_all). Rebuild then writes the map; verify compares it with the store.
 *
 * NEEDSWORK: the map holds every item (about 1.6 KiB each); a log of millions of items
 * would want a fold that spills views to the store in key ranges.
 */
#include "projector/rebuild.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/banned.h"
#include "base/sl_map.h"
#include "base/sl_util.h"
#include "ledger/codec.h"
#include "ledger/index.h"
#include "projector/stock.h"

#define PROGRESS_EVERY 100000
#define REBUILD_BATCH_OPS 50000
#define FOLD_ITEMS_MAX 50000000

/* fold_all folds every event (up to to_seq, 0: all) into views; with txn, also stages
 * item index rows. */
static sl_err fold_all(ledger *l, uint64_t to_seq, sl_map *views, ledger_txn *txn,
                       projector_progress_fn progress, void *ctx, projector_report *r)
{
	uint64_t total = ledger_head(l, NULL);
	if (to_seq > 0 && to_seq < total)
		total = to_seq;
	ledger_iter *it = ledger_iter_alloc(l, 1);
	if (it == NULL)
		return SL_ERR_NOMEM;
	sl_event *ev = malloc(sizeof(*ev));
	if (ev == NULL) {
		ledger_iter_free(it);
		return SL_ERR_NOMEM;
	}
	sl_err rc = SL_OK;
	uint64_t bad_seq = 0;
	while (r->events < total && (rc = ledger_iter_next(it, ev, &bad_seq)) == SL_OK) {
		r->events++;
		if (stock_event_is_item(ev)) {
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
			if (txn != NULL) {
				ledger_txn_put_index(txn, ev);
				if (ledger_txn_staged(txn) >= REBUILD_BATCH_OPS) {
					if ((rc = ledger_txn_commit(txn, false)) != SL_OK ||
					    (rc = ledger_txn_begin(txn)) != SL_OK)
						break;
				}
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
	return rc;
}

sl_err projector_rebuild(ledger *l, projector_progress_fn progress, void *ctx, projector_report *r)
{
	return projector_rebuild_to(l, 0, progress, ctx, r);
}

sl_err projector_rebuild_to(ledger *l, uint64_t to_seq, projector_progress_fn progress, void *ctx,
                            projector_report *r)
{
	sl_map views;
	memset(r, 0, sizeof(*r));
	sl_err rc = sl_map_init(&views, sizeof(sl_item), FOLD_ITEMS_MAX);
	if (rc != SL_OK)
		return rc;
	ledger_txn *txn = ledger_txn_alloc(l);
	if (txn == NULL) {
		sl_map_fini(&views);
		return SL_ERR_NOMEM;
	}
	store *st = ledger_store(l);
	if ((rc = store_clear_cf(st, STORE_CF_VIEWS)) != SL_OK ||
	    (rc = store_clear_cf(st, STORE_CF_ITEM_EVENTS)) != SL_OK ||
	    (rc = store_clear_cf(st, STORE_CF_ITEM_INDEX)) != SL_OK) {
		snprintf(r->message, sizeof(r->message), "%s", store_last_error(st));
		goto done;
	}
	if ((rc = ledger_txn_begin(txn)) != SL_OK)
		goto done;
	if ((rc = fold_all(l, to_seq, &views, txn, progress, ctx, r)) != SL_OK) {
		ledger_txn_abort(txn);
		goto done;
	}
	for (size_t i = 0; i < views.n; i++) {
		if ((rc = ledger_txn_put_view(txn, sl_map_at(&views, i))) != SL_OK)
			break;
		if (ledger_txn_staged(txn) >= REBUILD_BATCH_OPS) {
			if ((rc = ledger_txn_commit(txn, false)) != SL_OK ||
			    (rc = ledger_txn_begin(txn)) != SL_OK)
				break;
		}
	}
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
	sl_map_fini(&views);
	return rc;
}

/* compare_views checks every stored row against the fold, and that no row is missing. */
static sl_err compare_views(ledger *l, sl_map *views, projector_report *r)
{
	sl_buf enc;
	sl_buf_init(&enc);
	store_iter *it = store_iter_alloc(ledger_store(l), STORE_CF_VIEWS);
	if (it == NULL)
		return SL_ERR_NOMEM;
	sl_err rc = SL_OK;
	uint64_t matched = 0;
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it)) {
		size_t klen, vlen;
		const uint8_t *k = store_iter_key(it, &klen);
		const uint8_t *v = store_iter_value(it, &vlen);
		const sl_item *want = sl_map_get(views, k, klen);
		if (want == NULL) {
			rc = SL_ERR_CORRUPT;
			snprintf(r->message, sizeof(r->message),
			         "stored view '%.*s' has no event in the log", (int)klen,
			         (const char *)k);
			break;
		}
		enc.len = 0;
		if ((rc = ledger_item_encode(want, &enc)) != SL_OK)
			break;
		if (enc.len != vlen || memcmp(enc.data, v, vlen) != 0) {
			rc = SL_ERR_CORRUPT;
			if (r->bad_seq == 0 || want->last_seq < r->bad_seq) {
				r->bad_seq = want->last_seq;
				snprintf(r->message, sizeof(r->message),
				         "stored view of item '%s/%s@%s' differs from the fold of "
				         "the log (its last event is %llu)",
				         want->key.product_id, want->key.variant_id,
				         want->key.location_id, (unsigned long long)want->last_seq);
			}
			continue;
		}
		matched++;
	}
	if (rc == SL_OK)
		rc = store_iter_status(it);
	if (rc == SL_OK && matched != views->n) {
		rc = SL_ERR_CORRUPT;
		for (size_t i = 0; i < views->n; i++) {
			const sl_item *want = sl_map_at(views, i);
			sl_item got;
			if (ledger_view_get(l, &want->key, &got) == SL_ERR_NOT_FOUND) {
				r->bad_seq = want->last_seq;
				snprintf(r->message, sizeof(r->message),
				         "view of item '%s/%s@%s' is missing (its last event is "
				         "%llu)",
				         want->key.product_id, want->key.variant_id,
				         want->key.location_id, (unsigned long long)want->last_seq);
				break;
			}
		}
	}
	store_iter_free(it);
	sl_buf_fini(&enc);
	return rc;
}

/* compare_index checks that the index family holds exactly the index keys of the folded
 * views: each expected key is present, and the family holds no more keys than expected. */
static sl_err compare_index(ledger *l, sl_map *views, projector_report *r)
{
	uint8_t keys[LEDGER_INDEX_PER_ITEM][LEDGER_INDEX_KEY_BYTES];
	size_t lens[LEDGER_INDEX_PER_ITEM];
	uint64_t expected = 0, stored = 0;
	sl_buf v;
	sl_buf_init(&v);
	sl_err rc = SL_OK;
	for (size_t i = 0; i < views->n && rc == SL_OK; i++) {
		const sl_item *want = sl_map_at(views, i);
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

sl_err projector_verify(ledger *l, projector_progress_fn progress, void *ctx, projector_report *r)
{
	sl_map views;
	memset(r, 0, sizeof(*r));
	sl_err rc = sl_map_init(&views, sizeof(sl_item), FOLD_ITEMS_MAX);
	if (rc != SL_OK)
		return rc;
	rc = fold_all(l, 0, &views, NULL, progress, ctx, r);
	if (rc == SL_OK)
		rc = compare_views(l, &views, r);
	if (rc == SL_OK)
		rc = compare_index(l, &views, r);
	if (rc == SL_OK)
		rc = ledger_views_checksum(l, r->checksum, &r->views);
	sl_map_fini(&views);
	return rc;
}

/*
 * asof.c: point-in-time reads and ranged history over the per-item index (see asof.h).
 *
 * Binary searches rely on two invariants of the log kept by the writer: seqs of one item's
 * events grow with item_seq, and event times never decrease with seq (service.c keeps its
 * clock monotonic across restarts).
 */
#include "ledger/asof.h"

#include <string.h>

#include "base/banned.h"
#include "base/sl_util.h"
#include "ledger/rules.h"

sl_err ledger_snap_head(ledger *l, const store_snap *snap, uint64_t *out)
{
	store_iter *it = store_iter_alloc_at(ledger_store(l), STORE_CF_EVENTS, snap);
	if (it == NULL)
		return SL_ERR_NOMEM;
	uint64_t head = 0;
	store_iter_seek_last(it);
	sl_err rc = SL_OK;
	if (store_iter_valid(it)) {
		size_t klen;
		const uint8_t *k = store_iter_key(it, &klen);
		if (klen != 8)
			rc = SL_ERR_CORRUPT;
		else
			head = sl_be64_get(k);
	} else {
		rc = store_iter_status(it);
	}
	store_iter_free(it);
	if (rc == SL_OK)
		*out = head;
	return rc;
}

sl_err ledger_seq_at_time(ledger *l, const store_snap *snap, uint64_t head, int64_t t_ms,
                          uint64_t *out)
{
	/* largest seq in [1, head] with time <= t_ms; lo is known good (0 = none) */
	uint64_t lo = 0, hi = head;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo + 1) / 2;
		sl_event ev;
		sl_err rc = ledger_event_get_at(l, snap, mid, &ev);
		if (rc != SL_OK)
			return rc == SL_ERR_NOT_FOUND ? SL_ERR_CORRUPT : rc;
		if (ev.time_ms <= t_ms)
			lo = mid;
		else
			hi = mid - 1;
	}
	*out = lo;
	return SL_OK;
}

/* item_event_seq reads the global seq of the item's event item_seq from the item index. */
static sl_err item_event_seq(ledger *l, const store_snap *snap, const uint8_t *prefix, size_t plen,
                             uint64_t item_seq, uint64_t *seq)
{
	uint8_t k[LEDGER_KEY_BYTES + 1];
	memcpy(k, prefix, plen);
	sl_be64_put(k + plen, item_seq);
	sl_buf v;
	sl_buf_init(&v);
	sl_err rc = store_get_at(ledger_store(l), snap, STORE_CF_ITEM_EVENTS, k, plen + 8, &v);
	if (rc == SL_OK && v.len != 8)
		rc = SL_ERR_CORRUPT;
	if (rc == SL_OK)
		*seq = sl_be64_get(v.data);
	else if (rc == SL_ERR_NOT_FOUND)
		rc = SL_ERR_CORRUPT; /* the view counts more events than the index holds */
	sl_buf_fini(&v);
	return rc;
}

static size_t item_prefix(const sl_item_key *key, uint8_t *k)
{
	size_t plen = ledger_key_encode(key, k);
	k[plen++] = '\0';
	return plen;
}

/* item_event_read reads the event item_seq of key (prefix: its index prefix) through the
 * item index into ev. SL_ERR_CORRUPT if the index has no such row, or its row names an event
 * that is missing or is not that one (another item's, or another place in the item's
 * history: a changed index row must not be served as the item's history). */
static sl_err item_event_read(ledger *l, const store_snap *snap, const sl_item_key *key,
                              const uint8_t *prefix, size_t plen, uint64_t item_seq, sl_event *ev)
{
	uint64_t seq;
	sl_err rc = item_event_seq(l, snap, prefix, plen, item_seq, &seq);
	if (rc == SL_OK && (rc = ledger_event_get_at(l, snap, seq, ev)) == SL_ERR_NOT_FOUND)
		rc = SL_ERR_CORRUPT;
	if (rc == SL_OK && (ev->item_seq != item_seq || sl_item_key_cmp(&ev->item, key) != 0))
		rc = SL_ERR_CORRUPT;
	return rc;
}

/* first_item_seq finds the smallest item_seq in [lo, hi] whose event passes is_after (a
 * monotone predicate: false...false true...true); hi + 1 if none. by_time: the predicate is
 * time >= bound_ms, else seq >= bound_seq (unsigned: a client's bound past INT64_MAX is a
 * seq no event reaches, not a negative one). */
static sl_err first_item_seq(ledger *l, const store_snap *snap, const sl_item_key *key,
                             const uint8_t *prefix, size_t plen, uint64_t lo, uint64_t hi,
                             bool by_time, uint64_t bound_seq, int64_t bound_ms, uint64_t *out)
{
	uint64_t a = lo, b = hi + 1; /* answer in [a, b] */
	while (a < b) {
		uint64_t mid = a + (b - a) / 2, seq;
		sl_err rc = item_event_seq(l, snap, prefix, plen, mid, &seq);
		if (rc != SL_OK)
			return rc;
		bool is_after = seq >= bound_seq;
		if (by_time) {
			sl_event ev;
			if ((rc = item_event_read(l, snap, key, prefix, plen, mid, &ev)) != SL_OK)
				return rc;
			is_after = ev.time_ms >= bound_ms;
		}
		if (is_after)
			b = mid;
		else
			a = mid + 1;
	}
	*out = a;
	return SL_OK;
}

sl_err ledger_item_as_of(ledger *l, const store_snap *snap, const sl_item *current, uint64_t seq,
                         sl_item *out)
{
	if (current->last_seq <= seq) {
		*out = *current;
		return SL_OK;
	}
	uint8_t prefix[LEDGER_KEY_BYTES + 1];
	size_t plen = item_prefix(&current->key, prefix);
	/* the first event after seq; the one before it is the item's latest as of seq */
	uint64_t after;
	sl_err rc = first_item_seq(l, snap, &current->key, prefix, plen, 1, current->item_seq,
	                           false, seq + 1, 0, &after);
	if (rc != SL_OK)
		return rc;
	sl_event ev;
	/* the search went by the index's seqs alone: the events on both sides of the answer
	 * must be the item's, on the right sides of seq (a changed index row is refused) */
	if (after <= current->item_seq &&
	    ((rc = item_event_read(l, snap, &current->key, prefix, plen, after, &ev)) != SL_OK ||
	     ev.seq <= seq))
		return rc != SL_OK ? rc : SL_ERR_CORRUPT;
	if (after <= 1)
		return SL_ERR_NOT_FOUND;
	if ((rc = item_event_read(l, snap, &current->key, prefix, plen, after - 1, &ev)) != SL_OK)
		return rc;
	if (ev.seq > seq)
		return SL_ERR_CORRUPT;
	sl_item it = *current;
	it.state = ev.after;
	it.item_seq = ev.item_seq;
	it.last_seq = ev.seq;
	it.updated_ms = ev.time_ms;
	it.status = ledger_item_status(&it.state);
	it.revision = (int64_t)ev.item_seq; /* projector/stock.c: the revision is the item_seq */
	if (current->numeric_id > seq) {
		/* re-created after seq: walk back to the create in force at seq */
		sl_event c = ev;
		while (c.type != SL_EV_ITEM_CREATED) {
			if (c.item_seq <= 1)
				return SL_ERR_CORRUPT;
			if ((rc = item_event_read(l, snap, &current->key, prefix, plen,
			                          c.item_seq - 1, &c)) != SL_OK)
				return rc;
		}
		it.created_ms = c.time_ms;
		it.numeric_id = c.seq;
	}
	*out = it;
	return SL_OK;
}

sl_err ledger_history_in(ledger *l, const store_snap *snap, const sl_item_key *key,
                         const ledger_history_range *range, uint64_t after_item_seq, size_t max,
                         sl_event *out, size_t *n_out, uint64_t *next_item_seq)
{
	sl_item view;
	*n_out = 0;
	*next_item_seq = 0;
	sl_err rc = ledger_view_get_at(l, snap, key, &view);
	if (rc == SL_ERR_NOT_FOUND)
		return SL_OK;
	if (rc != SL_OK)
		return rc;
	if (after_item_seq >= view.item_seq)
		return SL_OK; /* a cursor at or past the item's last event (even UINT64_MAX) */
	uint8_t prefix[LEDGER_KEY_BYTES + 1];
	size_t plen = item_prefix(key, prefix);
	uint64_t start = after_item_seq + 1, last = view.item_seq;
	if (range->from_seq > 0 && start <= last) {
		uint64_t s;
		if ((rc = first_item_seq(l, snap, key, prefix, plen, start, last, false,
		                         range->from_seq, 0, &s)) != SL_OK)
			return rc;
		start = s;
	}
	if (range->has_since_ms && start <= last) {
		uint64_t s;
		if ((rc = first_item_seq(l, snap, key, prefix, plen, start, last, true, 0,
		                         range->since_ms, &s)) != SL_OK)
			return rc;
		start = s;
	}
	size_t n = 0;
	for (uint64_t is = start; is <= last; is++) {
		sl_event probe;
		sl_event *ev = n < max ? &out[n] : &probe; /* one past the page: is there more? */
		if ((rc = item_event_read(l, snap, key, prefix, plen, is, ev)) != SL_OK)
			return rc;
		if (range->has_to_seq && ev->seq > range->to_seq)
			break;
		if (range->has_until_ms && ev->time_ms > range->until_ms)
			break;
		if (n == max) {
			*next_item_seq = out[n - 1].item_seq;
			break;
		}
		n++;
	}
	*n_out = n;
	return SL_OK;
}

/*
 * explain.c: the explanation of an item (see explain.h). Walks the per-item index backwards
 * from the latest event to the last setting, folding each adjustment into its (order,
 * reason) group; groups beyond SL_EXPLAIN_GROUPS_MAX - 1 share one "(other)" group, so the
 * sum stays whole. The holds of open orders are read through the same snapshot, and the
 * walk finds, per line, the units it has held since before the setting.
 */
#include "projector/explain.h"

#include <stdlib.h>
#include <string.h>

#include "base/banned.h"
#include "base/sl_util.h"

bool projector_explain_is_setting(sl_event_type type)
{
	return type == SL_EV_ITEM_CREATED || type == SL_EV_ITEM_UPDATED;
}

static int group_cmp(const void *a, const void *b)
{
	const ledger_adjustment *x = a, *y = b;
	return x->first_seq < y->first_seq ? -1 : x->first_seq > y->first_seq;
}

static ledger_adjustment *group_for(projector_explanation *out, const sl_event *ev)
{
	ledger_explanation *x = &out->x;
	for (size_t i = 0; i < x->n_groups; i++) {
		ledger_adjustment *g = &out->groups[i];
		if (strcmp(g->order_id, ev->order_id) == 0 && strcmp(g->reason, ev->reason) == 0)
			return g;
	}
	ledger_adjustment *g = &out->groups[x->n_groups];
	if (x->n_groups == SL_EXPLAIN_GROUPS_MAX - 1) {
		if (g->events == 0)
			sl_strlcpy(g->reason, "(other)", sizeof(g->reason));
		return g; /* the overflow group, counted in at the end */
	}
	memset(g, 0, sizeof(*g));
	sl_strlcpy(g->order_id, ev->order_id, sizeof(g->order_id));
	sl_strlcpy(g->reason, ev->reason, sizeof(g->reason));
	x->n_groups++;
	return g;
}

/* A line of an open order holding units of the item (at the snapshot), and the least it
 * held since the setting: the units it has held since before the setting, which the
 * setting's quantity already lacks. Lines come in the holds index's order (order id, then
 * line id), which is strcmp order. */
typedef struct hold_line {
	char order_id[SL_ID_MAX + 1];
	char line_id[SL_ID_MAX + 1];
	int64_t quantity, preorder; /* held now: off the quantity, as preorders */
	int64_t kept_quantity, kept_preorder;
	int64_t uncounted; /* of preorder, the units the item's counter no longer counts */
} hold_line;

typedef struct hold_lines {
	hold_line *v;
	size_t n, cap;
} hold_lines;

/* lines_uncounted finds, for each line holding preorder units, those the item's counter no
 * longer counts (since: the item's preorder_since), from its order's view through snap, by
 * the rule the order rules release by (sl_order_line_uncounted). They were taken before
 * that reset, a setting, and are among the units held since before the setting. */
static sl_err lines_uncounted(ledger *l, const store_snap *snap, uint64_t since, hold_lines *lines)
{
	sl_order order;
	sl_err rc = SL_OK;
	bool has_order = false;
	memset(&order, 0, sizeof(order));
	for (size_t i = 0; i < lines->n && rc == SL_OK; i++) {
		hold_line *h = &lines->v[i];
		if (h->preorder == 0)
			continue;
		if (!has_order || strcmp(order.order_id, h->order_id) != 0) {
			if ((rc = ledger_order_get_at(l, snap, h->order_id, &order)) != SL_OK)
				break;
			has_order = true;
		}
		const sl_order_line *line = sl_order_line_find(&order, h->line_id);
		if (line == NULL || line->state.held_preorder != h->preorder) {
			rc = SL_ERR_CORRUPT; /* the holds row and the order disagree */
			break;
		}
		h->uncounted = sl_order_line_uncounted(&line->state, since);
	}
	sl_order_fini(&order);
	return rc == SL_ERR_NOT_FOUND ? SL_ERR_CORRUPT : rc;
}

/* lines_load reads every open order line holding units of key through snap. */
static sl_err lines_load(ledger *l, const store_snap *snap, const sl_item_key *key, hold_lines *out)
{
	enum { PAGE = 64 };
	sl_hold page[PAGE];
	char after_order[SL_ID_MAX + 1] = "", after_line[SL_ID_MAX + 1] = "";
	bool has_more = true;
	while (has_more) {
		size_t n = 0;
		sl_err rc = ledger_holds_list_at(l, snap, key, after_order, after_line, PAGE, page,
		                                 &n, &has_more);
		if (rc != SL_OK)
			return rc;
		if (out->n + n > out->cap) {
			size_t cap = out->cap == 0 ? PAGE : out->cap * 2;
			hold_line *v = realloc(out->v, cap * sizeof(*v));
			if (v == NULL)
				return SL_ERR_NOMEM;
			out->v = v;
			out->cap = cap;
		}
		for (size_t i = 0; i < n; i++) {
			hold_line *h = &out->v[out->n++];
			sl_strlcpy(h->order_id, page[i].order_id, sizeof(h->order_id));
			sl_strlcpy(h->line_id, page[i].line_id, sizeof(h->line_id));
			h->quantity = page[i].held - page[i].held_preorder;
			h->preorder = page[i].held_preorder;
			h->kept_quantity = h->quantity;
			h->kept_preorder = h->preorder;
			h->uncounted = 0;
		}
		if (n > 0) {
			sl_strlcpy(after_order, page[n - 1].order_id, sizeof(after_order));
			sl_strlcpy(after_line, page[n - 1].line_id, sizeof(after_line));
		}
	}
	return SL_OK;
}

static int line_cmp(const void *key, const void *elem)
{
	const sl_event *ev = key;
	const hold_line *h = elem;
	int c = strcmp(ev->order_id, h->order_id);
	return c != 0 ? c : strcmp(ev->order_line_id, h->line_id);
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* lines_see lowers the kept units of the line ev (an event after the setting) changed to
 * what it held before and after ev: units given back and taken again since the setting
 * were taken after it. A change that moved nothing (a refund without restock) is not among
 * the item's events, but what it left is the next event's before-state, or the line's
 * holding now. */
static void lines_see(hold_lines *lines, const sl_event *ev)
{
	if (ev->order_line_id[0] == '\0' || lines->n == 0)
		return;
	hold_line *h = bsearch(ev, lines->v, lines->n, sizeof(*lines->v), line_cmp);
	if (h == NULL)
		return; /* a line that holds nothing now */
	const sl_order_line_state *b = &ev->line_before, *a = &ev->line_after;
	h->kept_quantity =
	    min64(h->kept_quantity, min64(b->held - b->held_preorder, a->held - a->held_preorder));
	h->kept_preorder = min64(h->kept_preorder, min64(b->held_preorder, a->held_preorder));
}

/* holds_sum sums the lines per order into out; orders beyond the bound share "(other)". */
static void holds_sum(const hold_lines *lines, projector_explanation *out)
{
	ledger_explanation *x = &out->x;
	for (size_t i = 0; i < lines->n; i++) {
		const hold_line *l = &lines->v[i];
		ledger_hold *h = NULL;
		if (x->n_holds > 0 && strcmp(out->holds[x->n_holds - 1].order_id, l->order_id) == 0)
			h = &out->holds[x->n_holds - 1];
		else if (x->n_holds < SL_EXPLAIN_GROUPS_MAX) {
			h = &out->holds[x->n_holds++];
			memset(h, 0, sizeof(*h));
			sl_strlcpy(h->order_id,
			           x->n_holds < SL_EXPLAIN_GROUPS_MAX ? l->order_id : "(other)",
			           sizeof(h->order_id));
		} else {
			h = &out->holds[SL_EXPLAIN_GROUPS_MAX - 1];
		}
		h->quantity += l->quantity;
		h->preorder += l->preorder;
		h->quantity_before_setting += l->kept_quantity;
		h->preorder_before_setting += l->kept_preorder;
		h->preorder_uncounted += l->uncounted;
		x->held_quantity += l->quantity;
		x->held_preorder += l->preorder;
		x->held_quantity_before_setting += l->kept_quantity;
		x->held_preorder_before_setting += l->kept_preorder;
		x->held_preorder_uncounted += l->uncounted;
	}
	x->holds = out->holds;
	x->has_holds = true;
}

sl_err projector_explain(ledger *l, const sl_item_key *key, projector_explanation *out,
                         sl_error_info *err)
{
	store *st = ledger_store(l);
	store_snap *snap = store_snap_take(st);
	store_iter *it = NULL;
	hold_lines lines = {0};
	sl_event ev;
	sl_err rc;
	memset(&out->x, 0, sizeof(out->x));
	memset(&out->groups[SL_EXPLAIN_GROUPS_MAX - 1], 0, sizeof(out->groups[0]));
	if (snap == NULL)
		return sl_error_set(err, SL_ERR_NOMEM, "out of memory");
	rc = ledger_view_get_at(l, snap, key, &out->item);
	if (rc == SL_OK && !out->item.state.exists)
		rc = SL_ERR_NOT_FOUND;
	if (rc != SL_OK) {
		if (rc == SL_ERR_NOT_FOUND)
			sl_error_set(err, rc, "item '%s/%s@%s' does not exist", key->product_id,
			             key->variant_id, key->location_id);
		else
			sl_error_set(err, rc, "cannot read item: %s", sl_strerror(rc));
		goto done;
	}
	if ((rc = lines_load(l, snap, key, &lines)) != SL_OK ||
	    (rc = lines_uncounted(l, snap, out->item.state.preorder_since, &lines)) != SL_OK) {
		sl_error_set(err, rc, "cannot read the holds of the item: %s", sl_strerror(rc));
		goto done;
	}
	uint8_t k[LEDGER_KEY_BYTES + 1];
	size_t plen = ledger_key_encode(key, k);
	k[plen++] = '\0';
	sl_be64_put(k + plen, out->item.item_seq);
	it = store_iter_alloc_at(st, STORE_CF_ITEM_EVENTS, snap);
	if (it == NULL) {
		rc = sl_error_set(err, SL_ERR_NOMEM, "out of memory");
		goto done;
	}
	bool has_setting = false;
	int64_t dq = 0, dc = 0;
	for (store_iter_seek_for_prev(it, k, plen + 8); store_iter_valid(it); store_iter_prev(it)) {
		size_t klen, vlen;
		const uint8_t *ik = store_iter_key(it, &klen);
		const uint8_t *iv = store_iter_value(it, &vlen);
		if (klen != plen + 8 || memcmp(ik, k, plen) != 0)
			break;
		if (vlen != 8) {
			rc = SL_ERR_CORRUPT;
			break;
		}
		if ((rc = ledger_event_get_at(l, snap, sl_be64_get(iv), &ev)) != SL_OK)
			break;
		/* the row must name this item's event at its place (a changed index row would
		 * explain the item with another item's events) */
		if (ev.item_seq != sl_be64_get(ik + plen) ||
		    sl_item_key_cmp(&ev.item, &out->item.key) != 0) {
			rc = SL_ERR_CORRUPT;
			break;
		}
		if (projector_explain_is_setting(ev.type)) {
			out->x.setting = ev;
			has_setting = true;
			break;
		}
		if (out->x.events_since == SL_EXPLAIN_EVENTS_MAX) {
			rc = sl_error_set(err, SL_ERR_LIMIT_EXCEEDED,
			                  "more than %d events since the last setting of the item",
			                  SL_EXPLAIN_EVENTS_MAX);
			goto done;
		}
		out->x.events_since++;
		lines_see(&lines, &ev);
		ledger_adjustment *g = group_for(out, &ev);
		g->events++;
		g->delta_quantity += ev.delta_quantity;
		g->delta_counter += ev.delta_counter;
		if (g->first_seq == 0 || ev.seq < g->first_seq)
			g->first_seq = ev.seq;
		if (ev.seq > g->last_seq)
			g->last_seq = ev.seq;
		dq += ev.delta_quantity;
		dc += ev.delta_counter;
	}
	if (rc == SL_OK)
		rc = store_iter_status(it);
	if (rc == SL_OK && !has_setting)
		rc = SL_ERR_CORRUPT; /* every item starts with a create */
	if (rc != SL_OK) {
		sl_error_set(err, rc, "cannot read the events of the item: %s", sl_strerror(rc));
		goto done;
	}
	if (out->groups[SL_EXPLAIN_GROUPS_MAX - 1].events > 0)
		out->x.n_groups = SL_EXPLAIN_GROUPS_MAX;
	qsort(out->groups, out->x.n_groups, sizeof(out->groups[0]), group_cmp);
	out->x.groups = out->groups;
	out->x.adjusted_quantity = out->x.setting.after.quantity + dq;
	out->x.adjusted_counter = out->x.setting.after.preorder_counter + dc;
	holds_sum(&lines, out);
	if (out->x.adjusted_quantity != out->item.state.quantity ||
	    out->x.adjusted_counter != out->item.state.preorder_counter)
		rc = sl_error_set(err, SL_ERR_CORRUPT,
		                  "the adjustments since event %llu do not add up to the item's "
		                  "quantity",
		                  (unsigned long long)out->x.setting.seq);
done:
	free(lines.v);
	store_iter_free(it);
	store_snap_release(st, snap);
	return rc;
}

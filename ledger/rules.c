/*
 * rules.c: ledger_decide, the inventory rules of StockLedger.
 *
 * A write command is decided in two steps: validate the command on its own (ids, ranges,
 * limits), then walk its lines against working copies of the views it touches. A working
 * copy starts as the view the lookup returns and takes each line's after-state, so a second
 * line on the same item sees the first. Nothing is emitted until every line passed: one
 * refusal refuses the whole command (all-or-nothing, spec section 3 flow 1).
 *
 * Invariants kept on every after-state:
 * - quantity stays within SL_QUANTITY_MIN..SL_QUANTITY_MAX;
 * - a quantity-tracked item has in_stock == (quantity > 0); an in-stock-tracked one has
 *   quantity 0 and no preorder limit;
 * - a restricted decrement never takes more than max(quantity, 0) plus the preorder units
 *   left, and the preorder counter never passes its limit.
 */
#include "ledger/rules.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/banned.h"
#include "base/sl_util.h"

sl_status ledger_item_status(const sl_item_state *s)
{
	if (!s->exists)
		return SL_STATUS_UNKNOWN;
	if (s->track_quantity) {
		if (s->quantity > 0)
			return SL_STATUS_IN_STOCK;
		if (s->preorder_enabled &&
		    (!s->has_preorder_limit || s->preorder_counter < s->preorder_limit))
			return SL_STATUS_PREORDER;
		return SL_STATUS_OUT_OF_STOCK;
	}
	if (s->in_stock)
		return SL_STATUS_IN_STOCK;
	return s->preorder_enabled ? SL_STATUS_PREORDER : SL_STATUS_OUT_OF_STOCK;
}

void ledger_take_plan(const sl_item_state *s, int64_t n, bool is_preorder_request, ledger_take *out)
{
	int64_t stock = s->quantity > 0 ? s->quantity : 0;
	int64_t preorder_left = 0;
	if (is_preorder_request && s->preorder_enabled) {
		preorder_left = INT64_MAX;
		if (s->has_preorder_limit) {
			preorder_left = s->preorder_limit - s->preorder_counter;
			if (preorder_left < 0)
				preorder_left = 0;
		}
	}
	out->from_stock = n < stock ? n : stock;
	int64_t rest = n - out->from_stock;
	out->from_preorder = rest < preorder_left ? rest : preorder_left;
	out->rest = rest - out->from_preorder;
	out->available = preorder_left == INT64_MAX ? INT64_MAX : stock + preorder_left;
}

sl_err ledger_id_validate(const char *what, const char *id, sl_error_info *err)
{
	if (!sl_id_is_valid(id, strlen(id), SL_ID_MAX))
		return sl_error_set(err, SL_ERR_INVALID_ARGUMENT,
		                    "invalid %s '%s': want 1..%d printable characters without "
		                    "whitespace, '/', '@' or '='",
		                    what, id, SL_ID_MAX);
	return SL_OK;
}

sl_err ledger_item_key_validate(const sl_item_key *key, sl_error_info *err)
{
	sl_err rc = ledger_id_validate("productId", key->product_id, err);
	if (rc == SL_OK)
		rc = ledger_id_validate("variantId", key->variant_id, err);
	if (rc == SL_OK)
		rc = ledger_id_validate("locationId", key->location_id, err);
	return rc;
}

static bool quantity_in_range(int64_t q)
{
	return q >= SL_QUANTITY_MIN && q <= SL_QUANTITY_MAX;
}

/* state_normalize keeps the derived fields of a state in step with its tracking method. */
static void state_normalize(sl_item_state *s)
{
	if (s->track_quantity) {
		s->in_stock = s->quantity > 0;
	} else {
		s->quantity = 0;
		s->has_preorder_limit = false;
		s->preorder_limit = 0;
	}
}

void ledger_event_init(sl_event *ev, const sl_command *cmd, uint64_t next_seq, int64_t time_ms,
                       size_t index, sl_event_type type)
{
	memset(ev, 0, sizeof(*ev));
	ev->seq = next_seq + index;
	ev->time_ms = time_ms;
	ev->type = type;
	ev->command_seq = next_seq;
	ev->line = (uint32_t)index;
	sl_strlcpy(ev->command_key, cmd->key, sizeof(ev->command_key));
	sl_strlcpy(ev->reason, cmd->reason, sizeof(ev->reason));
	sl_strlcpy(ev->order_id, cmd->order_id, sizeof(ev->order_id));
}

static void event_init(sl_event *ev, const sl_command *cmd, const ledger_decide_env *env,
                       size_t index, sl_event_type type)
{
	ledger_event_init(ev, cmd, env->next_seq, env->time_ms, index, type);
}

static void event_finish(sl_event *ev)
{
	ev->delta_quantity = ev->after.quantity - ev->before.quantity;
	ev->delta_counter = ev->after.preorder_counter - ev->before.preorder_counter;
}

static sl_err lookup(const ledger_decide_env *env, const sl_item_key *key, sl_item *out,
                     sl_error_info *err)
{
	sl_err rc = env->lookup(env->lookup_ctx, key, out);
	if (rc == SL_ERR_NOT_FOUND) {
		memset(out, 0, sizeof(*out));
		out->key = *key;
		return SL_OK;
	}
	if (rc != SL_OK)
		return sl_error_set(err, rc, "cannot read item '%s/%s@%s': %s", key->product_id,
		                    key->variant_id, key->location_id, sl_strerror(rc));
	return SL_OK;
}

static sl_err common_validate(const sl_command *cmd, sl_error_info *err)
{
	if (cmd->malformed_field[0] != '\0')
		return sl_error_set(err, SL_ERR_INVALID_ARGUMENT, "%s is too long or malformed",
		                    cmd->malformed_field);
	if (cmd->order_id[0] != '\0')
		return ledger_id_validate("orderId", cmd->order_id, err);
	return SL_OK;
}

static sl_err preorder_validate(const sl_command *cmd, sl_error_info *err)
{
	if (cmd->has_preorder_limit &&
	    (cmd->preorder_limit < 0 || cmd->preorder_limit > SL_PREORDER_LIMIT_MAX))
		return sl_error_set(
		    err, SL_ERR_INVALID_ARGUMENT, "preorder limit %lld is out of range 0..%lld",
		    (long long)cmd->preorder_limit, (long long)SL_PREORDER_LIMIT_MAX);
	if (cmd->has_preorder_limit && cmd->clear_preorder_limit)
		return sl_error_set(err, SL_ERR_INVALID_ARGUMENT,
		                    "give a preorder limit or clear it, not both");
	/* (an update that keeps an in-stock item in-stock is checked against the view) */
	if (cmd->has_in_stock && cmd->has_preorder_limit)
		return sl_error_set(err, SL_ERR_INVALID_ARGUMENT,
		                    "a preorder limit needs quantity tracking");
	return SL_OK;
}

static sl_err decide_create(const sl_command *cmd, const ledger_decide_env *env, sl_event *ev,
                            sl_error_info *err)
{
	sl_item view;
	sl_err rc = ledger_item_key_validate(&cmd->item, err);
	if (rc != SL_OK)
		return rc;
	if (cmd->has_quantity == cmd->has_in_stock)
		return sl_error_set(err, SL_ERR_INVALID_ARGUMENT,
		                    "give exactly one of quantity and inStock");
	if (cmd->has_quantity && !quantity_in_range(cmd->quantity))
		return sl_error_set(err, SL_ERR_INVALID_ARGUMENT,
		                    "quantity %lld is out of range %lld..%lld",
		                    (long long)cmd->quantity, (long long)SL_QUANTITY_MIN,
		                    (long long)SL_QUANTITY_MAX);
	if ((rc = preorder_validate(cmd, err)) != SL_OK)
		return rc;
	if ((rc = lookup(env, &cmd->item, &view, err)) != SL_OK)
		return rc;
	if (view.state.exists)
		return sl_error_set(err, SL_ERR_ALREADY_EXISTS, "item '%s/%s@%s' already exists",
		                    cmd->item.product_id, cmd->item.variant_id,
		                    cmd->item.location_id);

	event_init(ev, cmd, env, 0, SL_EV_ITEM_CREATED);
	ev->item = cmd->item;
	ev->item_seq = view.item_seq + 1;
	ev->before = view.state;
	sl_item_state *a = &ev->after;
	memset(a, 0, sizeof(*a));
	a->exists = true;
	a->track_quantity = cmd->has_quantity;
	a->quantity = cmd->has_quantity ? cmd->quantity : 0;
	a->in_stock = cmd->has_in_stock ? cmd->in_stock : false;
	a->preorder_enabled = cmd->has_preorder_enabled && cmd->preorder_enabled;
	a->has_preorder_limit = cmd->has_preorder_limit;
	a->preorder_limit = cmd->has_preorder_limit ? cmd->preorder_limit : 0;
	if (cmd->has_preorder_message)
		sl_strlcpy(a->preorder_message, cmd->preorder_message, sizeof(a->preorder_message));
	/* created again after a delete: its counter starts anew, and the preorder units that
	 * open order lines took from the item before release nothing from it */
	if (view.item_seq > 0)
		a->preorder_since = ev->seq;
	state_normalize(a);
	event_finish(ev);
	return SL_OK;
}

static sl_err decide_update(const sl_command *cmd, const ledger_decide_env *env, sl_event *ev,
                            sl_error_info *err)
{
	sl_item view;
	sl_err rc = ledger_item_key_validate(&cmd->item, err);
	if (rc != SL_OK)
		return rc;
	if (cmd->has_quantity && cmd->has_in_stock)
		return sl_error_set(err, SL_ERR_INVALID_ARGUMENT,
		                    "give at most one of quantity and inStock");
	if (cmd->has_quantity && !quantity_in_range(cmd->quantity))
		return sl_error_set(err, SL_ERR_INVALID_ARGUMENT,
		                    "quantity %lld is out of range %lld..%lld",
		                    (long long)cmd->quantity, (long long)SL_QUANTITY_MIN,
		                    (long long)SL_QUANTITY_MAX);
	if ((rc = preorder_validate(cmd, err)) != SL_OK)
		return rc;
	if ((rc = lookup(env, &cmd->item, &view, err)) != SL_OK)
		return rc;
	if (!view.state.exists)
		return sl_error_set(err, SL_ERR_NOT_FOUND, "item '%s/%s@%s' does not exist",
		                    cmd->item.product_id, cmd->item.variant_id,
		                    cmd->item.location_id);
	if (!cmd->has_revision) {
		rc = sl_error_set(err, SL_ERR_REVISION_MISMATCH, "revision must not be empty");
		err->has_current_revision = true;
		err->current_revision = view.revision;
		return rc;
	}
	if (cmd->revision != view.revision) {
		rc = sl_error_set(err, SL_ERR_REVISION_MISMATCH,
		                  "revision mismatch: item is at revision %lld, not %lld",
		                  (long long)view.revision, (long long)cmd->revision);
		err->has_current_revision = true;
		err->current_revision = view.revision;
		return rc;
	}

	event_init(ev, cmd, env, 0, SL_EV_ITEM_UPDATED);
	ev->item = cmd->item;
	ev->item_seq = view.item_seq + 1;
	ev->before = view.state;
	sl_item_state *a = &ev->after;
	*a = view.state;
	if (cmd->has_quantity) {
		a->track_quantity = true;
		a->quantity = cmd->quantity;
	}
	if (cmd->has_in_stock) {
		/* The limit is dropped with the switch to in-stock tracking (it is not supported
		 * there); the event's before-state keeps it on record. */
		a->track_quantity = false;
		a->in_stock = cmd->in_stock;
	}
	if (cmd->has_preorder_enabled)
		a->preorder_enabled = cmd->preorder_enabled;
	if (cmd->has_preorder_message)
		sl_strlcpy(a->preorder_message, cmd->preorder_message, sizeof(a->preorder_message));
	if (cmd->clear_preorder_limit) {
		a->has_preorder_limit = false;
		a->preorder_limit = 0;
	}
	if (cmd->has_preorder_limit) {
		if (!a->track_quantity)
			return sl_error_set(err, SL_ERR_INVALID_ARGUMENT,
			                    "a preorder limit needs quantity tracking");
		a->has_preorder_limit = true;
		a->preorder_limit = cmd->preorder_limit;
	}
	if (cmd->reset_preorder_counter) {
		/* counting starts anew: units taken before release nothing (docs/orders.md) */
		a->preorder_counter = 0;
		a->preorder_since = ev->seq;
	}
	state_normalize(a);
	event_finish(ev);
	return SL_OK;
}

static sl_err decide_delete(const sl_command *cmd, const ledger_decide_env *env, sl_event *ev,
                            sl_error_info *err)
{
	sl_item view;
	sl_err rc = ledger_item_key_validate(&cmd->item, err);
	if (rc != SL_OK)
		return rc;
	if ((rc = lookup(env, &cmd->item, &view, err)) != SL_OK)
		return rc;
	if (!view.state.exists)
		return sl_error_set(err, SL_ERR_NOT_FOUND, "item '%s/%s@%s' does not exist",
		                    cmd->item.product_id, cmd->item.variant_id,
		                    cmd->item.location_id);
	event_init(ev, cmd, env, 0, SL_EV_ITEM_DELETED);
	ev->item = cmd->item;
	ev->item_seq = view.item_seq + 1;
	ev->before = view.state;
	ev->after = view.state;
	ev->after.exists = false;
	event_finish(ev);
	return SL_OK;
}

/*
 * Working copies of the items one command touches, found by key through a small open
 * addressing table (a 300-line command must not cost 300 * 300 key comparisons). Sized to
 * the command: a fixed table for 300 lines is 400 KB, which the allocator maps and unmaps
 * for every single-line command.
 */
typedef struct work_item {
	sl_item_key key;
	sl_item_state state;
	uint64_t item_seq;
} work_item;

typedef struct work_set {
	work_item *items; /* n_lines entries, filled in order */
	size_t n, cap;
	size_t mask;    /* slots - 1: at least twice the lines, a power of two */
	int16_t *slots; /* index + 1 into items, 0 = empty */
} work_set;

static work_set *work_alloc(size_t n_lines)
{
	size_t n_slots = 16;
	while (n_slots < 2 * n_lines)
		n_slots *= 2;
	work_set *ws = malloc(sizeof(*ws));
	if (ws == NULL)
		return NULL;
	ws->items = malloc(n_lines * sizeof(*ws->items));
	ws->slots = calloc(n_slots, sizeof(*ws->slots));
	if (ws->items == NULL || ws->slots == NULL) {
		free(ws->items);
		free(ws->slots);
		free(ws);
		return NULL;
	}
	ws->n = 0;
	ws->cap = n_lines;
	ws->mask = n_slots - 1;
	return ws;
}

static void work_free(work_set *ws)
{
	free(ws->items);
	free(ws->slots);
	free(ws);
}

static uint32_t key_hash(const sl_item_key *k)
{
	uint32_t h = 2166136261u;
	const char *parts[3] = {k->product_id, k->variant_id, k->location_id};
	for (int i = 0; i < 3; i++) {
		for (const char *p = parts[i]; *p != '\0'; p++)
			h = (h ^ (unsigned char)*p) * 16777619u;
		h = (h ^ 0xffu) * 16777619u;
	}
	return h;
}

static sl_err work_get(work_set *ws, const ledger_decide_env *env, const sl_item_key *key,
                       work_item **out, sl_error_info *err)
{
	size_t slot = key_hash(key) & ws->mask;
	while (ws->slots[slot] != 0) {
		work_item *w = &ws->items[ws->slots[slot] - 1];
		if (sl_item_key_cmp(&w->key, key) == 0) {
			*out = w;
			return SL_OK;
		}
		slot = (slot + 1) & ws->mask;
	}
	SL_ASSERT(ws->n < ws->cap);
	sl_item view;
	sl_err rc = lookup(env, key, &view, err);
	if (rc != SL_OK)
		return rc;
	work_item *w = &ws->items[ws->n++];
	w->key = *key;
	w->state = view.state;
	w->item_seq = view.item_seq;
	ws->slots[slot] = (int16_t)ws->n;
	*out = w;
	return SL_OK;
}

static sl_err shortage_add(sl_error_info *err, size_t *cap, uint32_t index, const sl_line *line,
                           int64_t available)
{
	if (err->n_shortages == *cap) {
		size_t ncap = *cap == 0 ? 8 : *cap * 2;
		sl_shortage *n = realloc(err->shortages, ncap * sizeof(*n));
		if (n == NULL)
			return SL_ERR_NOMEM;
		err->shortages = n;
		*cap = ncap;
	}
	sl_shortage *s = &err->shortages[err->n_shortages++];
	s->index = index;
	s->item = line->item;
	s->requested = line->quantity;
	s->available = available;
	return SL_OK;
}

/* line_fail refuses the command at line index with code. */
static sl_err line_fail(sl_error_info *err, sl_err code, size_t index, const char *what,
                        const sl_item_key *k)
{
	sl_error_set(err, code, "line %zu: item '%s/%s@%s' %s", index + 1, k->product_id,
	             k->variant_id, k->location_id, what);
	err->has_index = true;
	err->index = (uint32_t)index;
	return code;
}

static sl_err decide_adjust(const sl_command *cmd, const ledger_decide_env *env, sl_event *events,
                            size_t *n_events, sl_error_info *err)
{
	bool is_decrement = cmd->type == SL_CMD_DECREMENT;
	sl_err rc;
	if (cmd->n_lines == 0)
		return sl_error_set(err, SL_ERR_INVALID_ARGUMENT, "give at least one line");
	if (cmd->n_lines > SL_LINES_MAX)
		return sl_error_set(err, SL_ERR_LIMIT_EXCEEDED,
		                    "%zu lines: at most %d lines per command", cmd->n_lines,
		                    SL_LINES_MAX);
	for (size_t i = 0; i < cmd->n_lines; i++) {
		const sl_line *l = &cmd->lines[i];
		if ((rc = ledger_item_key_validate(&l->item, err)) != SL_OK) {
			err->has_index = true;
			err->index = (uint32_t)i;
			return rc;
		}
		if (l->quantity <= 0 || l->quantity > SL_LINE_QUANTITY_MAX) {
			rc = sl_error_set(err, SL_ERR_INVALID_ARGUMENT,
			                  "line %zu: quantity %lld is out of range 1..%lld", i + 1,
			                  (long long)l->quantity, (long long)SL_LINE_QUANTITY_MAX);
			err->has_index = true;
			err->index = (uint32_t)i;
			return rc;
		}
	}

	work_set *ws = work_alloc(cmd->n_lines);
	if (ws == NULL)
		return sl_error_set(err, SL_ERR_NOMEM, "out of memory");
	size_t shortages_cap = 0;
	rc = SL_OK;
	for (size_t i = 0; i < cmd->n_lines && rc == SL_OK; i++) {
		const sl_line *l = &cmd->lines[i];
		work_item *w;
		if ((rc = work_get(ws, env, &l->item, &w, err)) != SL_OK)
			break;
		if (!w->state.exists) {
			rc = line_fail(err, SL_ERR_NOT_FOUND, i, "does not exist", &l->item);
			break;
		}
		if (!w->state.track_quantity) {
			rc = line_fail(err, SL_ERR_QUANTITY_NOT_TRACKED, i,
			               "is tracked by inStock, not by quantity", &l->item);
			break;
		}
		sl_item_state after = w->state;
		if (!is_decrement) {
			after.quantity += l->quantity;
		} else {
			ledger_take take;
			ledger_take_plan(&w->state, l->quantity, cmd->is_preorder_request, &take);
			if (take.rest > 0 && cmd->is_restricted) {
				if (shortage_add(err, &shortages_cap, (uint32_t)i, l,
				                 take.available) != SL_OK) {
					rc = sl_error_set(err, SL_ERR_NOMEM, "out of memory");
					break;
				}
				continue;
			}
			after.quantity -= take.from_stock + take.rest;
			after.preorder_counter += take.from_preorder;
		}
		if (!quantity_in_range(after.quantity)) {
			rc = line_fail(err, SL_ERR_LIMIT_EXCEEDED, i,
			               "would leave the quantity range", &l->item);
			char *m = err->message + strlen(err->message);
			snprintf(m, sizeof(err->message) - (size_t)(m - err->message),
			         " %lld..%lld (it would be %lld)", (long long)SL_QUANTITY_MIN,
			         (long long)SL_QUANTITY_MAX, (long long)after.quantity);
			break;
		}
		state_normalize(&after);
		sl_event *ev = &events[i];
		event_init(ev, cmd, env, i,
		           is_decrement ? SL_EV_ITEM_DECREMENTED : SL_EV_ITEM_INCREMENTED);
		ev->item = l->item;
		ev->item_seq = ++w->item_seq;
		ev->before = w->state;
		ev->after = after;
		event_finish(ev);
		w->state = after;
	}
	if (rc == SL_OK && err->n_shortages > 0) {
		const sl_shortage *s = &err->shortages[0];
		rc =
		    sl_error_set(err, SL_ERR_INSUFFICIENT_INVENTORY,
		                 "insufficient inventory on %zu of %zu lines (first: line %u, item "
		                 "'%s/%s@%s', requested %lld)",
		                 err->n_shortages, cmd->n_lines, s->index + 1, s->item.product_id,
		                 s->item.variant_id, s->item.location_id, (long long)s->requested);
	}
	work_free(ws);
	if (rc != SL_OK)
		return rc;
	*n_events = cmd->n_lines;
	return SL_OK;
}

sl_err ledger_decide(const sl_command *cmd, const ledger_decide_env *env, sl_event *events,
                     size_t *n_events, sl_error_info *err)
{
	SL_ASSERT(cmd != NULL && env != NULL && env->lookup != NULL && env->next_seq > 0);
	sl_err rc;
	*n_events = 0;
	memset(err, 0, sizeof(*err));
	if ((rc = common_validate(cmd, err)) != SL_OK)
		return rc;
	switch (cmd->type) {
	case SL_CMD_CREATE:
		rc = decide_create(cmd, env, &events[0], err);
		break;
	case SL_CMD_UPDATE:
		rc = decide_update(cmd, env, &events[0], err);
		break;
	case SL_CMD_DELETE:
		rc = decide_delete(cmd, env, &events[0], err);
		break;
	case SL_CMD_INCREMENT:
	case SL_CMD_DECREMENT:
		rc = decide_adjust(cmd, env, events, n_events, err);
		ledger_shortages_keep_if_short(rc, err);
		return rc;
	default:
		return sl_error_set(err, SL_ERR_UNKNOWN_COMMAND, "not a write command");
	}
	if (rc == SL_OK)
		*n_events = 1;
	return rc;
}

void ledger_shortages_keep_if_short(sl_err rc, sl_error_info *err)
{
	/* Short lines are gathered as lines are decided; a later line may refuse the command
	 * for another reason, and then they are not what the refusal is about. */
	if (rc != SL_ERR_INSUFFICIENT_INVENTORY)
		sl_error_info_fini(err);
}

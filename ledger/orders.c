/*
 * orders.c: ledger_order_decide, the order flows of StockLedger (docs/orders.md).
 *
 * An order's life, and the function behind each transition:
 *
 *          decide_place         decide_pay          decide_refund (nothing held any more)
 *   (none) ------------> PLACED ----------> PAID ----------------------------> REFUNDED
 *                          |  \              |
 *   decide_release         |   \ decide_     | decide_release (cancel)
 *   (payment failed)       v    \ release    v
 *                   PAYMENT_FAILED  `----> CANCELED
 *
 * decide_edit: from PLACED or PAID, the status stays; decide_refund of part of what is
 * held (or of what an untracked line has left to refund): PAID stays PAID. The closed states
 * (PAYMENT_FAILED, CANCELED, REFUNDED) refuse every command with ORDER_CLOSED.
 *
 * A command is decided in two steps, like ledger_decide: the command code builds a plan
 * (per order line: its state before and after, the units to take from stock or to give
 * back), then plan_execute walks the plan in line order against working copies of the
 * items, so two lines on one item see each other, and writes the events. Nothing is
 * returned until every line passed: a refusal anywhere refuses the whole command.
 *
 * Invariants kept on every order (checked by the model test):
 * - a line's held is the units it took and did not give back; held_preorder <= held;
 * - while the order holds stock (ledger_order_holds_stock) held == max(0, quantity -
 *   refunded) for every line but an untracked one (its item stopped counting: it holds 0);
 *   before that, and once closed, held == 0;
 * - a take is restricted only at placement under ON_ORDER_PLACED; every other take (pay
 *   under ON_ORDER_PAID, edits) is unrestricted: it never fails for stock.
 */
#include "ledger/orders.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/banned.h"
#include "base/sl_util.h"

bool ledger_order_holds_stock(sl_trigger trigger, sl_order_status status)
{
	if (status == SL_ORDER_PAID)
		return true;
	return status == SL_ORDER_PLACED && trigger == SL_TRIGGER_ON_ORDER_PLACED;
}

const char *ledger_trigger_name(sl_trigger trigger)
{
	switch (trigger) {
	case SL_TRIGGER_ON_ORDER_PLACED:
		return "ON_ORDER_PLACED";
	case SL_TRIGGER_ON_ORDER_PAID:
		return "ON_ORDER_PAID";
	default:
		return "UNKNOWN";
	}
}

const char *ledger_order_status_name(sl_order_status status)
{
	static const char *const names[] = {"NONE",           "PLACED",   "PAID",
	                                    "PAYMENT_FAILED", "CANCELED", "REFUNDED"};
	if ((unsigned)status >= sizeof(names) / sizeof(names[0]))
		return "UNKNOWN";
	return names[status];
}

/* refundable: the units of a line a refund may still name: its quantity less what was
 * refunded, never below 0. */
static int64_t refundable(const sl_order_line_state *s)
{
	return s->quantity > s->refunded ? s->quantity - s->refunded : 0;
}

/* held_target: what a line holds while its order holds stock: its refundable units
 * (refunded units left the order); nothing once its item stopped counting (untracked). */
static int64_t held_target(const sl_order_line_state *s)
{
	return s->untracked ? 0 : refundable(s);
}

/* plan_line: one order line as the command leaves it. */
typedef struct plan_line {
	char line_id[SL_ID_MAX + 1];
	sl_item_key item;
	sl_order_line_state before, after;
	uint32_t n_seqs;    /* events that changed the line so far */
	int64_t take;       /* units to take from stock */
	int64_t give;       /* units the line stops holding */
	bool is_restock;    /* ... given back to stock (else kept out: sold, lost) */
	bool must_exist;    /* the item must exist and count its quantity */
	uint32_t cmd_index; /* the command line that named it (shortages, errors) */
} plan_line;

/* cmd_index of a line an edit leaves out: the command names it nowhere, so a refusal about
 * it carries no details.index (its message names the line id). */
#define LINE_NOT_NAMED UINT32_MAX

/* line_index_set points err's details.index at the command line that named pl, if any. */
static void line_index_set(sl_error_info *err, const plan_line *pl)
{
	err->has_index = pl->cmd_index != LINE_NOT_NAMED;
	err->index = err->has_index ? pl->cmd_index : 0;
}

/* work_item: an item's state as the lines so far left it. Orders touch few items; a linear
 * search over at most SL_ORDER_LINES_MAX entries keeps this simple. */
typedef struct work_item {
	sl_item_key key;
	sl_item_state state;
	uint64_t item_seq;
} work_item;

typedef struct plan {
	plan_line lines[SL_ORDER_LINES_MAX];
	size_t n;
	work_item items[SL_ORDER_LINES_MAX];
	size_t n_items;
	sl_order_status status_before, status;
	sl_trigger trigger;
	sl_event_type type;
	size_t shortages_cap;
} plan;

static const char *key_text(const sl_item_key *k, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s@%s", k->product_id, k->variant_id, k->location_id);
	return buf;
}

static sl_err work_get(plan *p, const ledger_order_env *env, const plan_line *pl, work_item **out,
                       sl_error_info *err)
{
	for (size_t i = 0; i < p->n_items; i++)
		if (sl_item_key_cmp(&p->items[i].key, &pl->item) == 0) {
			*out = &p->items[i];
			return SL_OK;
		}
	SL_ASSERT(p->n_items < SL_ORDER_LINES_MAX);
	char k[3 * SL_ID_MAX + 8];
	sl_item view;
	sl_err rc = env->lookup(env->lookup_ctx, &pl->item, &view);
	if (rc == SL_ERR_NOT_FOUND || (rc == SL_OK && !view.state.exists))
		rc = sl_error_set(err, SL_ERR_NOT_FOUND, "line '%s': item '%s' does not exist",
		                  pl->line_id, key_text(&pl->item, k, sizeof(k)));
	else if (rc != SL_OK)
		rc = sl_error_set(err, rc, "cannot read item '%s': %s",
		                  key_text(&pl->item, k, sizeof(k)), sl_strerror(rc));
	else if (!view.state.track_quantity)
		rc = sl_error_set(err, SL_ERR_QUANTITY_NOT_TRACKED,
		                  "line '%s': item '%s' is tracked by inStock, not by quantity",
		                  pl->line_id, key_text(&pl->item, k, sizeof(k)));
	if (rc != SL_OK) {
		line_index_set(err, pl);
		return rc;
	}
	work_item *w = &p->items[p->n_items++];
	w->key = pl->item;
	w->state = view.state;
	w->item_seq = view.item_seq;
	*out = w;
	return SL_OK;
}

static sl_err shortage_add(plan *p, sl_error_info *err, const plan_line *pl, int64_t available)
{
	if (err->n_shortages == p->shortages_cap) {
		size_t ncap = p->shortages_cap == 0 ? 8 : p->shortages_cap * 2;
		sl_shortage *n = realloc(err->shortages, ncap * sizeof(*n));
		if (n == NULL)
			return sl_error_set(err, SL_ERR_NOMEM, "out of memory");
		err->shortages = n;
		p->shortages_cap = ncap;
	}
	sl_shortage *s = &err->shortages[err->n_shortages++];
	s->index = pl->cmd_index;
	s->item = pl->item;
	s->requested = pl->take;
	s->available = available;
	return SL_OK;
}

static void event_start(sl_event *ev, const sl_command *cmd, const ledger_order_env *env,
                        size_t index, sl_event_type type)
{
	ledger_event_init(ev, cmd, env->next_seq, env->time_ms, index, type);
}

static sl_err range_fail(sl_error_info *err, const plan_line *pl, int64_t q)
{
	char k[3 * SL_ID_MAX + 8];
	sl_error_set(err, SL_ERR_LIMIT_EXCEEDED,
	             "line '%s': item '%s' would leave the quantity range %lld..%lld (it would "
	             "be %lld)",
	             pl->line_id, key_text(&pl->item, k, sizeof(k)), (long long)SL_QUANTITY_MIN,
	             (long long)SL_QUANTITY_MAX, (long long)q);
	line_index_set(err, pl);
	return SL_ERR_LIMIT_EXCEEDED;
}

/* line_move applies the take or give of pl to its item and to pl->after. *moved tells
 * whether the item's state changed (then *before holds it as it was). */
static sl_err line_move(plan *p, const ledger_order_env *env, plan_line *pl, bool is_restricted,
                        work_item **wout, sl_item_state *before, bool *moved, bool *is_short,
                        sl_error_info *err)
{
	work_item *w = NULL;
	sl_err rc;
	*moved = false;
	*is_short = false;
	*wout = NULL;
	if (pl->after.untracked)
		return SL_OK; /* moves no stock any more: held_target is 0, nothing to give */
	if (pl->must_exist || pl->take > 0 || (pl->give > 0 && pl->is_restock)) {
		if ((rc = work_get(p, env, pl, &w, err)) != SL_OK) {
			/* After its placement a line's moves cannot be refused for what became of
			 * its item (spec §4: payment cannot be refused; §3 flow 2: edits do not
			 * fail): an item that stopped counting units takes none and gets none back.
			 */
			if (pl->must_exist ||
			    (rc != SL_ERR_NOT_FOUND && rc != SL_ERR_QUANTITY_NOT_TRACKED))
				return rc;
			err->code = SL_OK;
			err->message[0] = '\0';
			err->has_index = false;
			pl->after.untracked = true;
			pl->after.held = 0;
			pl->after.held_preorder = 0;
			pl->after.held_preorder_uncounted = 0;
			return SL_OK;
		}
		*before = w->state;
	}
	*wout = w;
	if (pl->take > 0) {
		ledger_take take;
		ledger_take_plan(&w->state, pl->take, true, &take);
		if (take.rest > 0 && is_restricted) {
			*is_short = true;
			return shortage_add(p, err, pl, take.available);
		}
		int64_t q = w->state.quantity - take.from_stock - take.rest;
		if (q < SL_QUANTITY_MIN)
			return range_fail(err, pl, q);
		w->state.quantity = q;
		w->state.preorder_counter += take.from_preorder;
		if (take.from_preorder > 0 && pl->after.preorder_since != w->state.preorder_since) {
			/* the counter was reset (or the item created again) since the line last
			 * took preorder units: those are no longer counted */
			pl->after.held_preorder_uncounted = pl->after.held_preorder;
			pl->after.preorder_since = w->state.preorder_since;
		}
		pl->after.held += pl->take;
		pl->after.held_preorder += take.from_preorder;
	} else if (pl->give > 0) {
		/* Preorder units go back first: they were taken last and never left a shelf; of
		 * them, the counted ones first (taken since the uncounted ones). */
		int64_t pre =
		    pl->give < pl->after.held_preorder ? pl->give : pl->after.held_preorder;
		/* (w is NULL only when nothing goes back to the item: the line's own count) */
		int64_t uncounted =
		    w != NULL ? sl_order_line_uncounted(&pl->after, w->state.preorder_since)
		              : pl->after.held_preorder_uncounted;
		int64_t counted = pl->after.held_preorder - uncounted;
		int64_t from_counted = pre < counted ? pre : counted;
		if (w != NULL && pl->after.held_preorder > 0)
			pl->after.preorder_since =
			    w->state.preorder_since; /* uncounted is as of it */
		pl->after.held -= pl->give;
		pl->after.held_preorder -= pre;
		pl->after.held_preorder_uncounted = uncounted - (pre - from_counted);
		if (pl->is_restock) {
			int64_t release = from_counted;
			if (release > w->state.preorder_counter)
				release = w->state.preorder_counter;
			int64_t q = w->state.quantity + (pl->give - pre);
			if (q > SL_QUANTITY_MAX)
				return range_fail(err, pl, q);
			w->state.quantity = q;
			w->state.preorder_counter -= release;
			pl->after.restocked += pl->give;
		}
	}
	if (w != NULL) {
		w->state.in_stock = w->state.quantity > 0;
		*moved = w->state.quantity != before->quantity ||
		         w->state.preorder_counter != before->preorder_counter;
	}
	return SL_OK;
}

/* plan_execute moves stock for every line and writes the events: events[0] is the order's,
 * then one per changed line. */
static sl_err plan_execute(plan *p, const sl_command *cmd, const ledger_order_env *env,
                           const sl_order *view, sl_event *events, size_t *n_events,
                           sl_error_info *err)
{
	bool is_restricted =
	    p->type == SL_EV_ORDER_PLACED && p->trigger == SL_TRIGGER_ON_ORDER_PLACED;
	uint64_t order_seq = view != NULL ? view->order_seq : 0;
	/* Payment and closing always find room: edits and refunds leave them two changes. */
	size_t changes_max = p->type == SL_EV_ORDER_PAID || p->type == SL_EV_ORDER_CANCELED ||
	                             p->type == SL_EV_ORDER_PAYMENT_FAILED
	                         ? SL_ORDER_LINE_EVENTS_MAX
	                         : SL_ORDER_LINE_EVENTS_MAX - 2;
	size_t n = 1;
	sl_err rc = SL_OK;
	sl_item_state *before = malloc(sizeof(*before));
	if (before == NULL)
		return sl_error_set(err, SL_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < p->n && rc == SL_OK; i++) {
		plan_line *pl = &p->lines[i];
		work_item *w;
		bool moved, is_short;
		if ((rc = line_move(p, env, pl, is_restricted, &w, before, &moved, &is_short,
		                    err)) != SL_OK ||
		    is_short)
			continue;
		if (!moved && sl_order_line_state_equal(&pl->before, &pl->after))
			continue;
		if (pl->n_seqs >= changes_max) {
			rc = sl_error_set(err, SL_ERR_LIMIT_EXCEEDED,
			                  "line '%s' changed %u times: at most %zu changes by "
			                  "place, edit and refund per line",
			                  pl->line_id, pl->n_seqs, changes_max);
			line_index_set(err, pl);
			break;
		}
		sl_event *ev = &events[n];
		if (moved) {
			bool is_take = w->state.quantity < before->quantity ||
			               w->state.preorder_counter > before->preorder_counter;
			event_start(ev, cmd, env, n,
			            is_take ? SL_EV_ITEM_DECREMENTED : SL_EV_ITEM_INCREMENTED);
			ev->item_seq = ++w->item_seq;
			ev->before = *before;
			ev->after = w->state;
			ev->delta_quantity = ev->after.quantity - ev->before.quantity;
			ev->delta_counter =
			    ev->after.preorder_counter - ev->before.preorder_counter;
		} else {
			event_start(ev, cmd, env, n, SL_EV_ORDER_LINE_CHANGED);
		}
		ev->item = pl->item;
		sl_strlcpy(ev->order_line_id, pl->line_id, sizeof(ev->order_line_id));
		ev->line_before = pl->before;
		ev->line_after = pl->after;
		ev->order_seq = order_seq + 1 + n;
		n++;
	}
	free(before);
	if (rc == SL_OK && err->n_shortages > 0) {
		const sl_shortage *s = &err->shortages[0];
		char k[3 * SL_ID_MAX + 8];
		rc =
		    sl_error_set(err, SL_ERR_INSUFFICIENT_INVENTORY,
		                 "insufficient inventory on %zu of %zu lines of order '%s' (first: "
		                 "line %u, item '%s', requested %lld, available %lld)",
		                 err->n_shortages, p->n, cmd->order_id, s->index + 1,
		                 key_text(&s->item, k, sizeof(k)), (long long)s->requested,
		                 (long long)s->available);
	}
	if (rc != SL_OK)
		return rc;
	if (p->type == SL_EV_ORDER_REFUNDED) {
		/* refunded when no line holds units, nor has sold units not refunded (an
		 * untracked line) */
		bool holds_any = false;
		for (size_t i = 0; i < p->n; i++) {
			const sl_order_line_state *a = &p->lines[i].after;
			holds_any = holds_any || a->held > 0 || (a->untracked && refundable(a) > 0);
		}
		p->status = holds_any ? SL_ORDER_PAID : SL_ORDER_REFUNDED;
	}
	sl_event *oe = &events[0];
	event_start(oe, cmd, env, 0, p->type);
	oe->order_seq = order_seq + 1;
	oe->order_status_before = p->status_before;
	oe->order_status = p->status;
	oe->trigger = p->trigger;
	oe->order_lines = (uint32_t)p->n;
	oe->is_no_restock = cmd->is_no_restock;
	*n_events = n;
	return SL_OK;
}

/* plan_from_view copies the order's lines into the plan, unchanged. */
static void plan_from_view(plan *p, const sl_order *view)
{
	p->n = view->n_lines;
	for (size_t i = 0; i < view->n_lines; i++) {
		plan_line *pl = &p->lines[i];
		const sl_order_line *l = &view->lines[i];
		memset(pl, 0, sizeof(*pl));
		sl_strlcpy(pl->line_id, l->line_id, sizeof(pl->line_id));
		pl->item = l->item;
		pl->before = l->state;
		pl->after = l->state;
		pl->n_seqs = l->n_seqs;
		pl->cmd_index = (uint32_t)i;
	}
	p->status_before = view->status;
	p->status = view->status;
	p->trigger = view->trigger;
}

static sl_err line_fail(sl_error_info *err, sl_err code, size_t index)
{
	err->has_index = true;
	err->index = (uint32_t)index;
	return code;
}

/* lines_validate checks the command's lines: count, ids (defaults "1", "2"... by position
 * are written into ids), items (when has_items), quantities from min_quantity. */
static sl_err lines_validate(const sl_command *cmd, bool has_items, int64_t min_quantity,
                             char (*ids)[SL_ID_MAX + 1], sl_error_info *err)
{
	sl_err rc;
	if (cmd->n_lines == 0)
		return sl_error_set(err, SL_ERR_INVALID_ARGUMENT, "give at least one line");
	if (cmd->n_lines > SL_ORDER_LINES_MAX)
		return sl_error_set(err, SL_ERR_LIMIT_EXCEEDED,
		                    "%zu lines: at most %d lines per order", cmd->n_lines,
		                    SL_ORDER_LINES_MAX);
	for (size_t i = 0; i < cmd->n_lines; i++) {
		const sl_line *l = &cmd->lines[i];
		if (l->line_id[0] != '\0')
			sl_strlcpy(ids[i], l->line_id, sizeof(ids[i]));
		else if (has_items)
			snprintf(ids[i], sizeof(ids[i]), "%zu", i + 1);
		else
			return line_fail(err,
			                 sl_error_set(err, SL_ERR_INVALID_ARGUMENT,
			                              "line %zu: give the line id", i + 1),
			                 i);
		if ((rc = ledger_id_validate("lineId", ids[i], err)) != SL_OK)
			return line_fail(err, rc, i);
		/* a line id ends at the first ':' of a command line's OLINE ([LINE_ID:]ITEM=N):
		 * item ids may hold ':', line ids may not */
		if (strchr(ids[i], ':') != NULL)
			return line_fail(
			    err,
			    sl_error_set(err, SL_ERR_INVALID_ARGUMENT,
			                 "invalid lineId '%s': a line id may not hold ':'", ids[i]),
			    i);
		if (has_items && (rc = ledger_item_key_validate(&l->item, err)) != SL_OK)
			return line_fail(err, rc, i);
		if (l->quantity < min_quantity || l->quantity > SL_LINE_QUANTITY_MAX)
			return line_fail(err,
			                 sl_error_set(err, SL_ERR_INVALID_ARGUMENT,
			                              "line '%s': quantity %lld is out of range "
			                              "%lld..%lld",
			                              ids[i], (long long)l->quantity,
			                              (long long)min_quantity,
			                              (long long)SL_LINE_QUANTITY_MAX),
			                 i);
		for (size_t j = 0; j < i; j++)
			if (strcmp(ids[j], ids[i]) == 0)
				return line_fail(err,
				                 sl_error_set(err, SL_ERR_INVALID_ARGUMENT,
				                              "line id '%s' is given twice",
				                              ids[i]),
				                 i);
	}
	return SL_OK;
}

/* command_validate checks what an order command says on its own (its lines, its flags),
 * before the order is looked up: an invalid command is INVALID_ARGUMENT whatever the order's
 * state. Fills ids with the line ids. */
static sl_err command_validate(const sl_command *cmd, char (*ids)[SL_ID_MAX + 1],
                               sl_error_info *err)
{
	switch (cmd->type) {
	case SL_CMD_ORDER_PLACE:
		return lines_validate(cmd, true, 1, ids, err);
	case SL_CMD_ORDER_EDIT:
		return lines_validate(cmd, true, 0, ids, err);
	case SL_CMD_ORDER_REFUND:
		return lines_validate(cmd, false, 1, ids, err);
	case SL_CMD_ORDER_PAYMENT_FAILED:
		if (cmd->is_no_restock)
			return sl_error_set(err, SL_ERR_INVALID_ARGUMENT,
			                    "a failed payment always restocks what the order took");
		return SL_OK;
	default:
		return SL_OK;
	}
}

static sl_err closed_fail(const sl_order *view, sl_error_info *err)
{
	return sl_error_set(err, SL_ERR_ORDER_CLOSED, "order '%s' is %s: it can change no more",
	                    view->order_id, ledger_order_status_name(view->status));
}

static sl_err decide_place(const sl_command *cmd, const ledger_order_env *env, plan *p,
                           char (*ids)[SL_ID_MAX + 1], sl_error_info *err)
{
	sl_settings settings = {.trigger = SL_TRIGGER_ON_ORDER_PLACED};
	sl_err rc = env->settings_lookup(env->settings_ctx, &settings);
	if (rc == SL_ERR_NOT_FOUND)
		settings.trigger = SL_TRIGGER_ON_ORDER_PLACED;
	else if (rc != SL_OK)
		return sl_error_set(err, rc, "cannot read the settings: %s", sl_strerror(rc));
	p->type = SL_EV_ORDER_PLACED;
	p->status_before = SL_ORDER_NONE;
	p->status = SL_ORDER_PLACED;
	p->trigger = settings.trigger;
	p->n = cmd->n_lines;
	for (size_t i = 0; i < cmd->n_lines; i++) {
		plan_line *pl = &p->lines[i];
		memset(pl, 0, sizeof(*pl));
		sl_strlcpy(pl->line_id, ids[i], sizeof(pl->line_id));
		pl->item = cmd->lines[i].item;
		pl->after.quantity = cmd->lines[i].quantity;
		pl->must_exist = true;
		pl->cmd_index = (uint32_t)i;
		if (p->trigger == SL_TRIGGER_ON_ORDER_PLACED)
			pl->take = cmd->lines[i].quantity;
	}
	return SL_OK;
}

static sl_err decide_pay(const sl_command *cmd, const sl_order *view, plan *p, bool *is_unchanged,
                         sl_error_info *err)
{
	(void)cmd;
	if (view->status == SL_ORDER_PAID) {
		*is_unchanged = true;
		return SL_OK;
	}
	if (view->status != SL_ORDER_PLACED)
		return closed_fail(view, err);
	plan_from_view(p, view);
	p->type = SL_EV_ORDER_PAID;
	p->status = SL_ORDER_PAID;
	if (p->trigger == SL_TRIGGER_ON_ORDER_PAID)
		for (size_t i = 0; i < p->n; i++)
			p->lines[i].take = held_target(&p->lines[i].after) - p->lines[i].after.held;
	return SL_OK;
}

/* decide_release gives back everything the order holds: payment failed, cancel. */
static sl_err decide_release(const sl_command *cmd, const sl_order *view, plan *p,
                             sl_error_info *err)
{
	bool is_cancel = cmd->type == SL_CMD_ORDER_CANCEL;
	if (sl_order_is_closed(view->status))
		return closed_fail(view, err);
	if (!is_cancel && view->status != SL_ORDER_PLACED)
		return sl_error_set(err, SL_ERR_FAILED_PRECONDITION,
		                    "order '%s' is %s: a payment can fail only before it is paid "
		                    "(cancel or refund it instead)",
		                    view->order_id, ledger_order_status_name(view->status));
	plan_from_view(p, view);
	p->type = is_cancel ? SL_EV_ORDER_CANCELED : SL_EV_ORDER_PAYMENT_FAILED;
	p->status = is_cancel ? SL_ORDER_CANCELED : SL_ORDER_PAYMENT_FAILED;
	for (size_t i = 0; i < p->n; i++) {
		p->lines[i].give = p->lines[i].after.held;
		p->lines[i].is_restock = !cmd->is_no_restock;
	}
	return SL_OK;
}

static sl_err decide_refund(const sl_command *cmd, const sl_order *view, plan *p,
                            char (*ids)[SL_ID_MAX + 1], sl_error_info *err)
{
	if (sl_order_is_closed(view->status))
		return closed_fail(view, err);
	if (view->status != SL_ORDER_PAID)
		return sl_error_set(
		    err, SL_ERR_FAILED_PRECONDITION,
		    "order '%s' is %s: only a paid order can be refunded (cancel it "
		    "instead)",
		    view->order_id, ledger_order_status_name(view->status));
	plan_from_view(p, view);
	p->type = SL_EV_ORDER_REFUNDED;
	for (size_t i = 0; i < cmd->n_lines; i++) {
		plan_line *pl = NULL;
		for (size_t j = 0; j < p->n && pl == NULL; j++)
			if (strcmp(p->lines[j].line_id, ids[i]) == 0)
				pl = &p->lines[j];
		if (pl == NULL)
			return line_fail(err,
			                 sl_error_set(err, SL_ERR_NOT_FOUND,
			                              "order '%s' has no line '%s'", view->order_id,
			                              ids[i]),
			                 i);
		/* an untracked line holds nothing but its units were sold: they may be refunded,
		 * and nothing goes back to stock */
		int64_t bound = pl->after.untracked ? refundable(&pl->after) : pl->after.held;
		if (cmd->lines[i].quantity > bound)
			return line_fail(
			    err,
			    sl_error_set(err, SL_ERR_REFUND_EXCEEDS_HELD,
			                 "line '%s' %s %lld units: cannot refund %lld", ids[i],
			                 pl->after.untracked ? "(untracked) has refundable"
			                                     : "holds",
			                 (long long)bound, (long long)cmd->lines[i].quantity),
			    i);
		pl->after.refunded += cmd->lines[i].quantity;
		pl->give = pl->after.untracked ? 0 : cmd->lines[i].quantity;
		pl->is_restock = !cmd->is_no_restock;
		pl->cmd_index = (uint32_t)i;
	}
	return SL_OK;
}

static sl_err decide_edit(const sl_command *cmd, const sl_order *view, plan *p,
                          char (*ids)[SL_ID_MAX + 1], sl_error_info *err)
{
	if (sl_order_is_closed(view->status))
		return closed_fail(view, err);
	sl_err rc = SL_OK;
	plan_from_view(p, view);
	p->type = SL_EV_ORDER_EDITED;
	size_t n_old = p->n;
	bool *is_named = calloc(SL_ORDER_LINES_MAX, sizeof(*is_named));
	if (is_named == NULL)
		return sl_error_set(err, SL_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < cmd->n_lines && rc == SL_OK; i++) {
		const sl_line *l = &cmd->lines[i];
		plan_line *pl = NULL;
		for (size_t j = 0; j < n_old && pl == NULL; j++)
			if (strcmp(p->lines[j].line_id, ids[i]) == 0)
				pl = &p->lines[j];
		if (pl != NULL && sl_item_key_cmp(&pl->item, &l->item) != 0) {
			char k[3 * SL_ID_MAX + 8];
			rc = line_fail(err,
			               sl_error_set(err, SL_ERR_INVALID_ARGUMENT,
			                            "line '%s' is item '%s': a line keeps its item "
			                            "(give the new item a new line id)",
			                            ids[i], key_text(&pl->item, k, sizeof(k))),
			               i);
			break;
		}
		if (pl == NULL) {
			if (l->quantity == 0)
				continue; /* a new line of nothing: no line at all */
			if (p->n == SL_ORDER_LINES_MAX) {
				rc = line_fail(
				    err,
				    sl_error_set(err, SL_ERR_LIMIT_EXCEEDED,
				                 "order '%s' would have more than %d lines",
				                 view->order_id, SL_ORDER_LINES_MAX),
				    i);
				break;
			}
			pl = &p->lines[p->n++];
			memset(pl, 0, sizeof(*pl));
			sl_strlcpy(pl->line_id, ids[i], sizeof(pl->line_id));
			pl->item = l->item;
			pl->must_exist = true;
		}
		is_named[pl - p->lines] = true;
		pl->after.quantity = l->quantity;
		pl->cmd_index = (uint32_t)i;
	}
	bool is_holding = ledger_order_holds_stock(p->trigger, p->status);
	for (size_t j = 0; j < p->n && rc == SL_OK; j++) {
		plan_line *pl = &p->lines[j];
		if (!is_named[j]) {
			pl->after.quantity = 0;
			pl->cmd_index = LINE_NOT_NAMED;
		}
		if (!is_holding)
			continue;
		int64_t delta = held_target(&pl->after) - pl->after.held;
		if (delta > 0) {
			pl->take = delta;
		} else if (delta < 0) {
			pl->give = -delta;
			pl->is_restock = true;
		}
	}
	free(is_named);
	return rc;
}

static sl_err decide_settings(const sl_command *cmd, const ledger_order_env *env, sl_event *events,
                              size_t *n_events, bool *is_unchanged, sl_error_info *err)
{
	sl_settings cur = {.trigger = SL_TRIGGER_ON_ORDER_PLACED};
	if (cmd->trigger != SL_TRIGGER_ON_ORDER_PLACED && cmd->trigger != SL_TRIGGER_ON_ORDER_PAID)
		return sl_error_set(
		    err, SL_ERR_INVALID_ARGUMENT,
		    "inventoryUpdateTrigger must be ON_ORDER_PLACED or ON_ORDER_PAID");
	/* the event records the command's orderId, if any: an id, as on every command */
	sl_err rc =
	    cmd->order_id[0] != '\0' ? ledger_id_validate("orderId", cmd->order_id, err) : SL_OK;
	if (rc != SL_OK)
		return rc;
	rc = env->settings_lookup(env->settings_ctx, &cur);
	if (rc == SL_ERR_NOT_FOUND)
		cur.trigger = SL_TRIGGER_ON_ORDER_PLACED;
	else if (rc != SL_OK)
		return sl_error_set(err, rc, "cannot read the settings: %s", sl_strerror(rc));
	if (cur.trigger == cmd->trigger) {
		*is_unchanged = true;
		return SL_OK;
	}
	event_start(&events[0], cmd, env, 0, SL_EV_SETTINGS_UPDATED);
	events[0].trigger_before = cur.trigger;
	events[0].trigger = cmd->trigger;
	*n_events = 1;
	return SL_OK;
}

sl_err ledger_order_decide(const sl_command *cmd, const ledger_order_env *env, sl_event *events,
                           size_t *n_events, bool *is_unchanged, sl_error_info *err)
{
	SL_ASSERT(cmd != NULL && env != NULL && env->lookup != NULL && env->order_lookup != NULL &&
	          env->settings_lookup != NULL && env->next_seq > 0 && sl_cmd_is_order(cmd->type));
	*n_events = 0;
	*is_unchanged = false;
	memset(err, 0, sizeof(*err));
	if (cmd->malformed_field[0] != '\0')
		return sl_error_set(err, SL_ERR_INVALID_ARGUMENT, "%s is too long or malformed",
		                    cmd->malformed_field);
	if (cmd->type == SL_CMD_SETTINGS_SET)
		return decide_settings(cmd, env, events, n_events, is_unchanged, err);
	if (cmd->order_id[0] == '\0')
		return sl_error_set(err, SL_ERR_INVALID_ARGUMENT, "give the order id");
	sl_err rc = ledger_id_validate("orderId", cmd->order_id, err);
	if (rc != SL_OK)
		return rc;
	/* Not zeroed as a whole (about half a MiB): each line and work item is set up before
	 * it is read; the counters are zeroed here. */
	const sl_order *view = NULL;
	plan *p = malloc(sizeof(*p));
	char(*ids)[SL_ID_MAX + 1] = calloc(SL_ORDER_LINES_MAX + 1, sizeof(*ids));
	if (p == NULL || ids == NULL) {
		rc = sl_error_set(err, SL_ERR_NOMEM, "out of memory");
		goto done;
	}
	/* The command on its own first (docs/decisions.md), then against the order. */
	if ((rc = command_validate(cmd, ids, err)) != SL_OK)
		goto done;
	rc = env->order_lookup(env->order_ctx, cmd->order_id, &view);
	if (rc == SL_ERR_NOT_FOUND) {
		view = NULL;
		rc = SL_OK;
	} else if (rc != SL_OK) {
		rc = sl_error_set(err, rc, "cannot read order '%s': %s", cmd->order_id,
		                  sl_strerror(rc));
		goto done;
	}
	if (cmd->type == SL_CMD_ORDER_PLACE && view != NULL) {
		rc = sl_error_set(err, SL_ERR_ALREADY_EXISTS, "order '%s' already exists",
		                  cmd->order_id);
		goto done;
	}
	if (cmd->type != SL_CMD_ORDER_PLACE && view == NULL) {
		rc =
		    sl_error_set(err, SL_ERR_NOT_FOUND, "order '%s' does not exist", cmd->order_id);
		goto done;
	}
	p->n = 0;
	p->n_items = 0;
	p->shortages_cap = 0;
	p->status_before = p->status = SL_ORDER_NONE;
	p->trigger = SL_TRIGGER_UNKNOWN;
	p->type = SL_EV_UNKNOWN;
	switch (cmd->type) {
	case SL_CMD_ORDER_PLACE:
		rc = decide_place(cmd, env, p, ids, err);
		break;
	case SL_CMD_ORDER_PAY:
		rc = decide_pay(cmd, view, p, is_unchanged, err);
		break;
	case SL_CMD_ORDER_PAYMENT_FAILED:
	case SL_CMD_ORDER_CANCEL:
		rc = decide_release(cmd, view, p, err);
		break;
	case SL_CMD_ORDER_REFUND:
		rc = decide_refund(cmd, view, p, ids, err);
		break;
	case SL_CMD_ORDER_EDIT:
		rc = decide_edit(cmd, view, p, ids, err);
		break;
	default:
		rc = sl_error_set(err, SL_ERR_UNKNOWN_COMMAND, "not an order command");
		break;
	}
	if (rc == SL_OK && !*is_unchanged)
		rc = plan_execute(p, cmd, env, view, events, n_events, err);
	ledger_shortages_keep_if_short(rc, err);
done:
	free(ids);
	free(p);
	if (rc != SL_OK) {
		*n_events = 0;
		*is_unchanged = false;
	}
	return rc;
}

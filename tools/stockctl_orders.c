/*
 * stockctl_orders.c: the order commands of stockctl (settings get|set, order place, pay,
 * payment-failed, cancel, refund, edit, get, holds). Argument parsing and printing only:
 * the rules are the service's (ledger/orders.c), the JSON shapes client/json.c. Each run_
 * function is an entry of stockctl.c's command table. The contract is docs/orders.md.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/banned.h"
#include "base/sl_limits.h"
#include "base/sl_util.h"
#include "client/args.h"
#include "client/json.h"
#include "tools/stockctl.h"

/* ---- printing ---- */

static void print_order_human(const Sl__OrderView *o)
{
	printf("order %s  %s  (%s)\n", o->order_id ? o->order_id : "?",
	       sl_json_order_status_name(o->status), sl_json_trigger_name(o->trigger));
	printf("  %-8s %-36s %6s %6s %6s %8s %9s  %s\n", "LINE", "ITEM", "QTY", "HELD", "PRE",
	       "REFUNDED", "RESTOCKED", "EVENTS");
	for (size_t i = 0; i < o->n_lines; i++) {
		const Sl__OrderLine *l = o->lines[i];
		static const Sl__OrderLineState none = SL__ORDER_LINE_STATE__INIT;
		const Sl__OrderLineState *s = l->state != NULL ? l->state : &none;
		char key[256], seqs[256] = "";
		size_t used = 0;
		for (size_t j = 0; j < l->n_seqs && used < sizeof(seqs); j++)
			used += (size_t)snprintf(seqs + used, sizeof(seqs) - used, "%s%" PRIu64,
			                         j > 0 ? "," : "", l->seqs[j]);
		printf("  %-8s %-36s %6" PRId64 " %6" PRId64 " %6" PRId64 " %8" PRId64 " %9" PRId64
		       "  %s%s\n",
		       l->line_id ? l->line_id : "?", key_text(l->item, key, sizeof(key)),
		       s->quantity, s->held, s->held_preorder, s->refunded, s->restocked, seqs,
		       s->untracked ? "  (untracked: the item stopped counting)" : "");
	}
}

static void print_order_result(const Sl__Result *r)
{
	if (r->order != NULL)
		print_order_human(r->order);
	if (r->unchanged && r->order != NULL)
		printf("order %s is already %s: nothing changed\n", r->order->order_id,
		       sl_json_order_status_name(r->order->status));
	print_items_line_human(r);
}

static json_t *with_flags(json_t *o, const Sl__Result *r)
{
	if (o != NULL && r->replayed)
		json_object_set_new(o, "replayed", json_true());
	if (o != NULL && r->unchanged)
		json_object_set_new(o, "unchanged", json_true());
	return o;
}

static json_t *order_result_json(const Sl__Result *r)
{
	json_t *order = r->order != NULL ? sl_json_order(r->order) : json_null();
	return with_flags(json_pack("{s:o, s:o, s:I}", "order", order, "items", items_json(r),
	                            "seq", (json_int_t)r->seq),
	                  r);
}

static void print_order_get(const Sl__Result *r)
{
	if (r->order != NULL)
		print_order_human(r->order);
}

static json_t *order_get_json(const Sl__Result *r)
{
	return r->order != NULL ? sl_json_order(r->order) : json_object();
}

static void print_settings(const Sl__Result *r)
{
	static const Sl__Settings none = SL__SETTINGS__INIT;
	const Sl__Settings *s = r->settings != NULL ? r->settings : &none;
	printf("inventoryUpdateTrigger %s\n",
	       sl_json_trigger_name(s->has_inventory_update_trigger
	                                ? s->inventory_update_trigger
	                                : SL__INVENTORY_UPDATE_TRIGGER__ON_ORDER_PLACED));
	if (r->unchanged)
		printf("already so: nothing changed\n");
	if (r->seq > 0)
		printf("seq %" PRIu64 "%s\n", r->seq,
		       r->replayed ? " (replayed: already applied)" : "");
}

static json_t *settings_json(const Sl__Result *r)
{
	static const Sl__Settings none = SL__SETTINGS__INIT;
	json_t *o = sl_json_settings(r->settings != NULL ? r->settings : &none);
	if (o != NULL && json_object_set_new(o, "seq", json_integer((json_int_t)r->seq)) != 0) {
		json_decref(o);
		o = NULL;
	}
	return with_flags(o, r);
}

static void print_holds(const Sl__Result *r)
{
	printf("%-24s %-8s %8s %8s\n", "ORDER", "LINE", "HELD", "PREORDER");
	for (size_t i = 0; i < r->n_holds; i++) {
		const Sl__Hold *h = r->holds[i];
		printf("%-24s %-8s %8" PRId64 " %8" PRId64 "\n", h->order_id ? h->order_id : "?",
		       h->line_id ? h->line_id : "?", h->held, h->held_preorder);
	}
}

static json_t *holds_json(const Sl__Result *r)
{
	json_t *a = json_array();
	for (size_t i = 0; a != NULL && i < r->n_holds; i++)
		if (json_array_append_new(a, sl_json_hold(r->holds[i])) != 0) {
			json_decref(a);
			a = NULL;
		}
	return json_pack("{s:o, s:I}", "holds", a, "seq", (json_int_t)r->seq);
}

/* ---- settings ---- */

int run_settings_get(ctl *c)
{
	Sl__GetSettings body = SL__GET_SETTINGS__INIT;
	Sl__Command cmd = SL__COMMAND__INIT;
	cmd.body_case = SL__COMMAND__BODY_GET_SETTINGS;
	cmd.get_settings = &body;
	return run_and_print(c, &cmd, print_settings, settings_json);
}

int run_settings_set(ctl *c)
{
	Sl__SetSettings body = SL__SET_SETTINGS__INIT;
	if (!c->given[OPT_TRIGGER])
		return usage_error(c,
		                   "give --inventory-update-trigger ON_ORDER_PLACED|ON_ORDER_PAID");
	if (strcmp(c->val[OPT_TRIGGER], "ON_ORDER_PLACED") == 0)
		body.inventory_update_trigger = SL__INVENTORY_UPDATE_TRIGGER__ON_ORDER_PLACED;
	else if (strcmp(c->val[OPT_TRIGGER], "ON_ORDER_PAID") == 0)
		body.inventory_update_trigger = SL__INVENTORY_UPDATE_TRIGGER__ON_ORDER_PAID;
	else
		return usage_error(
		    c,
		    "--inventory-update-trigger is ON_ORDER_PLACED or ON_ORDER_PAID, "
		    "not '%s'",
		    c->val[OPT_TRIGGER]);
	body.has_inventory_update_trigger = true;
	Sl__Command cmd = SL__COMMAND__INIT;
	command_common(c, &cmd);
	cmd.body_case = SL__COMMAND__BODY_SET_SETTINGS;
	cmd.set_settings = &body;
	return run_and_print(c, &cmd, print_settings, settings_json);
}

/* ---- orders ---- */

/* order_lines holds the parsed lines of one command (stockctl runs one command). */
typedef struct order_lines {
	Sl__OrderLineSpec specs[SL_ORDER_LINES_MAX];
	Sl__OrderLineSpec *ptrs[SL_ORDER_LINES_MAX];
	Sl__ItemKey keys[SL_ORDER_LINES_MAX];
	size_t n;
} order_lines;

static order_lines lines_buf;

/* lines_bound refuses more lines than an order may have, as the service would: the lines
 * are kept in fixed arrays here. */
static int lines_bound(ctl *c)
{
	if (c->n_pos - 1 <= SL_ORDER_LINES_MAX)
		return 0;
	char msg[128];
	snprintf(msg, sizeof(msg), "%d lines: at most %d lines per order", c->n_pos - 1,
	         SL_ORDER_LINES_MAX);
	Sl__Error err = SL__ERROR__INIT;
	err.code = "LIMIT_EXCEEDED";
	err.message = msg;
	return print_refusal(c, &err);
}

/* read_olines parses positional arguments from 1 on as OLINE = [LINE_ID:]ITEM=N. */
static int read_olines(ctl *c, order_lines *ol)
{
	int code = lines_bound(c);
	if (code != 0)
		return code;
	ol->n = 0;
	for (int i = 1; i < c->n_pos; i++) {
		Sl__Line line;
		char *line_id = NULL;
		Sl__OrderLineSpec *s = &ol->specs[ol->n];
		if (sl_args_line(c->pos[i], &line, &ol->keys[ol->n], &line_id) != SL_OK)
			return usage_error(c, "OLINE is [LINE_ID:]ITEM=N, not '%s'", c->pos[i]);
		sl__order_line_spec__init(s);
		s->line_id = line_id;
		s->item = &ol->keys[ol->n];
		s->has_quantity = true;
		s->quantity = line.quantity;
		ol->ptrs[ol->n++] = s;
	}
	return 0;
}

/* read_refund_lines parses positional arguments from 1 on as LINE_ID=N. */
static int read_refund_lines(ctl *c, order_lines *ol)
{
	int code = lines_bound(c);
	if (code != 0)
		return code;
	ol->n = 0;
	for (int i = 1; i < c->n_pos; i++) {
		char *eq = strrchr(c->pos[i], '=');
		int64_t n;
		if (eq == NULL || eq == c->pos[i] || sl_parse_i64(eq + 1, &n) != SL_OK)
			return usage_error(c, "a refund line is LINE_ID=N, not '%s'", c->pos[i]);
		*eq = '\0';
		Sl__OrderLineSpec *s = &ol->specs[ol->n];
		sl__order_line_spec__init(s);
		s->line_id = c->pos[i];
		s->has_quantity = true;
		s->quantity = n;
		ol->ptrs[ol->n++] = s;
	}
	return 0;
}

/* order_run sends cmd (its body set) for the ORDER of positional argument 0 and prints the
 * order, the items it changed and the seq. */
static int order_run(ctl *c, Sl__Command *cmd)
{
	command_common(c, cmd);
	cmd->order_id = c->pos[0];
	return run_and_print(c, cmd, print_order_result, order_result_json);
}

/* order_lines_run: place (is_edit false) or edit with the OLINEs of the command line. */
static int order_lines_run(ctl *c, bool is_edit)
{
	Sl__PlaceOrder place = SL__PLACE_ORDER__INIT;
	Sl__EditOrder edit = SL__EDIT_ORDER__INIT;
	Sl__Command cmd = SL__COMMAND__INIT;
	int code = read_olines(c, &lines_buf);
	if (code != 0)
		return code;
	if (is_edit) {
		edit.n_lines = lines_buf.n;
		edit.lines = lines_buf.ptrs;
		cmd.body_case = SL__COMMAND__BODY_EDIT_ORDER;
		cmd.edit_order = &edit;
	} else {
		place.n_lines = lines_buf.n;
		place.lines = lines_buf.ptrs;
		cmd.body_case = SL__COMMAND__BODY_PLACE_ORDER;
		cmd.place_order = &place;
	}
	return order_run(c, &cmd);
}

int run_order_place(ctl *c)
{
	return order_lines_run(c, false);
}

int run_order_edit(ctl *c)
{
	return order_lines_run(c, true);
}

int run_order_refund(ctl *c)
{
	Sl__RefundOrder body = SL__REFUND_ORDER__INIT;
	int code = read_refund_lines(c, &lines_buf);
	if (code != 0)
		return code;
	body.n_lines = lines_buf.n;
	body.lines = lines_buf.ptrs;
	body.has_no_restock = c->given[OPT_NO_RESTOCK];
	body.no_restock = c->given[OPT_NO_RESTOCK];
	Sl__Command cmd = SL__COMMAND__INIT;
	cmd.body_case = SL__COMMAND__BODY_REFUND_ORDER;
	cmd.refund_order = &body;
	return order_run(c, &cmd);
}

int run_order_pay(ctl *c)
{
	Sl__PayOrder body = SL__PAY_ORDER__INIT;
	Sl__Command cmd = SL__COMMAND__INIT;
	cmd.body_case = SL__COMMAND__BODY_PAY_ORDER;
	cmd.pay_order = &body;
	return order_run(c, &cmd);
}

int run_order_payment_failed(ctl *c)
{
	Sl__OrderPaymentFailed body = SL__ORDER_PAYMENT_FAILED__INIT;
	Sl__Command cmd = SL__COMMAND__INIT;
	cmd.body_case = SL__COMMAND__BODY_PAYMENT_FAILED;
	cmd.payment_failed = &body;
	return order_run(c, &cmd);
}

int run_order_cancel(ctl *c)
{
	Sl__CancelOrder body = SL__CANCEL_ORDER__INIT;
	body.has_no_restock = c->given[OPT_NO_RESTOCK];
	body.no_restock = c->given[OPT_NO_RESTOCK];
	Sl__Command cmd = SL__COMMAND__INIT;
	cmd.body_case = SL__COMMAND__BODY_CANCEL_ORDER;
	cmd.cancel_order = &body;
	return order_run(c, &cmd);
}

int run_order_get(ctl *c)
{
	Sl__GetOrder body = SL__GET_ORDER__INIT;
	Sl__Command cmd = SL__COMMAND__INIT;
	cmd.order_id = c->pos[0];
	cmd.body_case = SL__COMMAND__BODY_GET_ORDER;
	cmd.get_order = &body;
	return run_and_print(c, &cmd, print_order_get, order_get_json);
}

int run_order_holds(ctl *c)
{
	Sl__ItemKey key;
	int code = pos_item(c, 0, &key);
	if (code != 0)
		return code;
	Sl__ListHolds body = SL__LIST_HOLDS__INIT;
	body.item = &key;
	Sl__Command cmd = SL__COMMAND__INIT;
	cmd.body_case = SL__COMMAND__BODY_LIST_HOLDS;
	cmd.list_holds = &body;
	return run_and_print(c, &cmd, print_holds, holds_json);
}

/*
 * orders_test.c: ledger_order_decide, the order flows, against views handed in through the
 * lookup callbacks (items, orders, settings).
 *
 * Method: a small in-memory world (item views, order views, the settings and the next seq)
 * stands in for the committed state, as the gateway's writer does. A decided command is
 * folded into the world with the real folds (stock_view_apply, order_view_apply,
 * settings_view_apply), so that a sequence of commands sees what the ones before it did; a
 * refused or unchanged command must decide no event and the world stays as it was.
 * Expected values come from the scenarios of /work/shared/spec/wix-inventory.md §3 and §4
 * (cited) and from the decisions of docs/orders.md where the spec leaves a [GAP].
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/banned.h"
#include "support/sl_testing.h"
#include "base/sl_util.h"
#include "ledger/orders.h"
#include "ledger/rules.h"
#include "projector/orders.h"
#include "projector/stock.h"

#define WORLD_MAX 16
#define T0_MS 1796401854000LL

typedef struct world {
	sl_item items[WORLD_MAX];
	size_t n_items;
	sl_order orders[WORLD_MAX];
	size_t n_orders;
	sl_settings settings;
	bool has_settings;
	uint64_t next_seq;
	int64_t time_ms;
} world;

static world w;
static sl_event events[LEDGER_COMMAND_EVENTS_MAX];
static size_t n_events;
static bool is_unchanged;
static sl_error_info err;
static sl_command cmd;

static int world_setup(void **state)
{
	(void)state;
	memset(&w, 0, sizeof(w));
	w.next_seq = 1;
	w.time_ms = T0_MS;
	memset(&err, 0, sizeof(err));
	memset(&cmd, 0, sizeof(cmd));
	return 0;
}

static int world_teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < w.n_orders; i++)
		sl_order_fini(&w.orders[i]);
	sl_error_info_fini(&err);
	sl_command_fini(&cmd);
	return 0;
}

static void key_set(sl_item_key *k, const char *product)
{
	sl_test_key_set(k, product, SL_DEFAULT_LOCATION);
}

static sl_item *item_find(const char *product)
{
	sl_item_key k;
	key_set(&k, product);
	for (size_t i = 0; i < w.n_items; i++)
		if (sl_item_key_cmp(&w.items[i].key, &k) == 0)
			return &w.items[i];
	return NULL;
}

static sl_order *order_find(const char *order_id)
{
	for (size_t i = 0; i < w.n_orders; i++)
		if (strcmp(w.orders[i].order_id, order_id) == 0)
			return &w.orders[i];
	return NULL;
}

/* item_add puts an item straight into the world (as if created earlier). */
static void item_add(const char *product, int64_t quantity, bool preorder, int64_t limit)
{
	assert_true(w.n_items < WORLD_MAX);
	sl_item *it = &w.items[w.n_items++];
	memset(it, 0, sizeof(*it));
	key_set(&it->key, product);
	it->state.exists = true;
	it->state.track_quantity = true;
	it->state.quantity = quantity;
	it->state.in_stock = quantity > 0;
	it->state.preorder_enabled = preorder;
	it->state.has_preorder_limit = limit >= 0;
	it->state.preorder_limit = limit >= 0 ? limit : 0;
	it->item_seq = 1;
	it->revision = 1;
}

static int64_t qty(const char *product)
{
	sl_item *it = item_find(product);
	assert_non_null(it);
	return it->state.quantity;
}

static int64_t counter(const char *product)
{
	return item_find(product)->state.preorder_counter;
}

static sl_err lookup_item(void *ctx, const sl_item_key *key, sl_item *out)
{
	(void)ctx;
	for (size_t i = 0; i < w.n_items; i++)
		if (sl_item_key_cmp(&w.items[i].key, key) == 0) {
			*out = w.items[i];
			return SL_OK;
		}
	return SL_ERR_NOT_FOUND;
}

static sl_err lookup_order(void *ctx, const char *order_id, const sl_order **out)
{
	(void)ctx;
	const sl_order *o = order_find(order_id);
	if (o == NULL)
		return SL_ERR_NOT_FOUND;
	*out = o;
	return SL_OK;
}

static sl_err lookup_settings(void *ctx, sl_settings *out)
{
	(void)ctx;
	if (!w.has_settings)
		return SL_ERR_NOT_FOUND;
	*out = w.settings;
	return SL_OK;
}

/* world_fold applies the decided events with the real folds, as the writer does. */
static void world_fold(void)
{
	for (size_t i = 0; i < n_events; i++) {
		const sl_event *ev = &events[i];
		assert_int_equal(ev->seq, w.next_seq + i);
		if (stock_event_is_item(ev)) {
			sl_item *it = NULL;
			for (size_t j = 0; j < w.n_items && it == NULL; j++)
				if (sl_item_key_cmp(&w.items[j].key, &ev->item) == 0)
					it = &w.items[j];
			assert_non_null(it);
			assert_int_equal(stock_view_apply(it, ev), SL_OK);
		}
		if (settings_event_is_settings(ev)) {
			assert_int_equal(settings_view_apply(&w.settings, ev), SL_OK);
			w.has_settings = true;
		}
		if (order_event_is_order(ev)) {
			sl_order *o = order_find(ev->order_id);
			if (o == NULL) {
				assert_true(w.n_orders < WORLD_MAX);
				o = &w.orders[w.n_orders++];
				memset(o, 0, sizeof(*o));
			}
			assert_int_equal(order_view_apply(o, ev), SL_OK);
		}
	}
	w.next_seq += n_events;
	w.time_ms += 1000;
}

/* decide runs ledger_order_decide on cmd and folds what it decided. */
static sl_err decide(void)
{
	ledger_order_env env = {.lookup = lookup_item,
	                        .order_lookup = lookup_order,
	                        .settings_lookup = lookup_settings,
	                        .next_seq = w.next_seq,
	                        .time_ms = w.time_ms};
	sl_error_info_fini(&err);
	n_events = 12345;
	sl_err rc = ledger_order_decide(&cmd, &env, events, &n_events, &is_unchanged, &err);
	assert_int_equal(err.code, rc);
	if (rc != SL_OK) {
		assert_int_equal(n_events, 0);
		assert_false(is_unchanged);
		assert_true(err.message[0] != '\0');
	} else {
		assert_true(is_unchanged == (n_events == 0));
		world_fold();
	}
	return rc;
}

/* cmd_order sets up an order command; spec holds lines "[ID:]PRODUCT=N" separated by
 * spaces (refund lines are "ID=N"). */
static void cmd_order(sl_cmd_type type, const char *order_id, const char *spec)
{
	sl_command_fini(&cmd);
	memset(&cmd, 0, sizeof(cmd));
	cmd.type = type;
	sl_strlcpy(cmd.order_id, order_id, sizeof(cmd.order_id));
	if (spec == NULL)
		return;
	char buf[512], *save = NULL;
	sl_strlcpy(buf, spec, sizeof(buf));
	cmd.lines = calloc(SL_ORDER_LINES_MAX, sizeof(*cmd.lines));
	assert_non_null(cmd.lines);
	for (char *tok = strtok_r(buf, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
		sl_line *l = &cmd.lines[cmd.n_lines++];
		char *eq = strrchr(tok, '=');
		assert_non_null(eq);
		*eq = '\0';
		assert_int_equal(sl_parse_i64(eq + 1, &l->quantity), SL_OK);
		char *colon = strchr(tok, ':');
		if (type == SL_CMD_ORDER_REFUND) {
			sl_strlcpy(l->line_id, tok, sizeof(l->line_id));
			continue;
		}
		if (colon != NULL) {
			*colon = '\0';
			sl_strlcpy(l->line_id, tok, sizeof(l->line_id));
			tok = colon + 1;
		}
		key_set(&l->item, tok);
	}
}

static void set_trigger(sl_trigger t)
{
	sl_command_fini(&cmd);
	memset(&cmd, 0, sizeof(cmd));
	cmd.type = SL_CMD_SETTINGS_SET;
	cmd.trigger = t;
	assert_int_equal(decide(), SL_OK);
}

static const sl_order_line *line_of(const char *order_id, const char *line_id)
{
	const sl_order *o = order_find(order_id);
	assert_non_null(o);
	const sl_order_line *l = sl_order_line_find(o, line_id);
	assert_non_null(l);
	return l;
}

static void test_order_place_under_on_order_placed_takes_every_line_at_once(void **state)
{
	(void)state;
	item_add("A", 3, false, -1);
	item_add("B", 5, false, -1);
	cmd_order(SL_CMD_ORDER_PLACE, "o1", "A=2 B=1");
	assert_int_equal(decide(), SL_OK);
	/* the order's event, then one decrement per line, each naming order and line */
	assert_int_equal(n_events, 3);
	assert_int_equal(events[0].type, SL_EV_ORDER_PLACED);
	assert_int_equal(events[0].order_status, SL_ORDER_PLACED);
	assert_int_equal(events[0].trigger, SL_TRIGGER_ON_ORDER_PLACED);
	for (int i = 1; i <= 2; i++) {
		assert_int_equal(events[i].type, SL_EV_ITEM_DECREMENTED);
		assert_string_equal(events[i].order_id, "o1");
	}
	assert_string_equal(events[1].order_line_id, "1");
	assert_int_equal(events[1].delta_quantity, -2);
	assert_string_equal(events[2].order_line_id, "2");
	assert_int_equal(events[2].delta_quantity, -1);
	assert_int_equal(qty("A"), 1);
	assert_int_equal(qty("B"), 4);
	const sl_order_line *l = line_of("o1", "1");
	assert_int_equal(l->state.quantity, 2);
	assert_int_equal(l->state.held, 2);
	assert_int_equal(l->n_seqs, 1);
	assert_int_equal(l->seqs[0], 2);
	assert_int_equal(order_find("o1")->status, SL_ORDER_PLACED);
}

/* spec §3 scenario 1: A=1, B=5, an order for A x2 and B x1 is refused, nothing moves */
static void test_order_place_short_on_one_line_refuses_the_whole_order(void **state)
{
	(void)state;
	item_add("A", 1, false, -1);
	item_add("B", 5, false, -1);
	item_add("C", 0, false, -1);
	cmd_order(SL_CMD_ORDER_PLACE, "o1", "A=2 B=1 C=1");
	assert_int_equal(decide(), SL_ERR_INSUFFICIENT_INVENTORY);
	assert_int_equal(err.n_shortages, 2);
	assert_int_equal(err.shortages[0].index, 0);
	assert_int_equal(err.shortages[0].requested, 2);
	assert_int_equal(err.shortages[0].available, 1);
	assert_string_equal(err.shortages[1].item.product_id, "C");
	assert_int_equal(err.shortages[1].available, 0);
	assert_int_equal(qty("A"), 1);
	assert_int_equal(qty("B"), 5);
	assert_null(order_find("o1"));
	/* the same id may be placed once the stock is there */
	cmd_order(SL_CMD_ORDER_PLACE, "o1", "A=1 B=1");
	assert_int_equal(decide(), SL_OK);
	cmd_order(SL_CMD_ORDER_PLACE, "o1", "B=1");
	assert_int_equal(decide(), SL_ERR_ALREADY_EXISTS);
}

/* spec 2.5 scenario 12: quantity 2, preorder limit 3, an order for 4 takes 2 + 2 preorder */
static void test_order_place_takes_preorder_units_within_the_limit(void **state)
{
	(void)state;
	item_add("P", 2, true, 3);
	cmd_order(SL_CMD_ORDER_PLACE, "o1", "P=4");
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(qty("P"), 0);
	assert_int_equal(counter("P"), 2);
	assert_int_equal(line_of("o1", "1")->state.held, 4);
	assert_int_equal(line_of("o1", "1")->state.held_preorder, 2);
	cmd_order(SL_CMD_ORDER_PLACE, "o2", "P=2");
	assert_int_equal(decide(), SL_ERR_INSUFFICIENT_INVENTORY);
	assert_int_equal(err.shortages[0].available, 1);
	/* a cancel gives the preorder units back to the counter and the stock to the shelf */
	cmd_order(SL_CMD_ORDER_CANCEL, "o1", NULL);
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(qty("P"), 2);
	assert_int_equal(counter("P"), 0);
	assert_int_equal(line_of("o1", "1")->state.restocked, 4);
}

/* spec §4 scenario 2: ON_ORDER_PAID, quantity 1, two orders for 1, both paid: -1 */
static void test_order_pay_under_on_order_paid_takes_unrestricted(void **state)
{
	(void)state;
	item_add("A", 1, false, -1);
	set_trigger(SL_TRIGGER_ON_ORDER_PAID);
	cmd_order(SL_CMD_ORDER_PLACE, "o1", "A=1");
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(n_events, 2); /* the order and an ORDER_LINE_CHANGED: nothing moves */
	assert_int_equal(events[1].type, SL_EV_ORDER_LINE_CHANGED);
	cmd_order(SL_CMD_ORDER_PLACE, "o2", "A=1");
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(qty("A"), 1);
	assert_int_equal(line_of("o1", "1")->state.held, 0);
	cmd_order(SL_CMD_ORDER_PAY, "o1", NULL);
	assert_int_equal(decide(), SL_OK);
	cmd_order(SL_CMD_ORDER_PAY, "o2", NULL);
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(qty("A"), -1);
	assert_int_equal(line_of("o2", "1")->state.held, 1);
	assert_int_equal(order_find("o2")->status, SL_ORDER_PAID);
}

static void test_order_pay_of_a_paid_order_is_unchanged_and_appends_nothing(void **state)
{
	(void)state;
	item_add("A", 3, false, -1);
	cmd_order(SL_CMD_ORDER_PLACE, "o1", "A=1");
	assert_int_equal(decide(), SL_OK);
	cmd_order(SL_CMD_ORDER_PAY, "o1", NULL);
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(n_events, 1); /* ON_ORDER_PLACED: payment moves nothing */
	assert_false(is_unchanged);
	uint64_t seq = w.next_seq;
	cmd_order(SL_CMD_ORDER_PAY, "o1", NULL);
	assert_int_equal(decide(), SL_OK);
	assert_true(is_unchanged);
	assert_int_equal(n_events, 0);
	assert_int_equal(w.next_seq, seq);
	assert_int_equal(qty("A"), 2);
}

/* spec §4 scenario 1: ON_ORDER_PLACED, quantity 3, order for 2 -> 1; payment fails -> 3 */
static void test_order_payment_failed_restocks_what_was_taken_and_closes(void **state)
{
	(void)state;
	item_add("A", 3, false, -1);
	cmd_order(SL_CMD_ORDER_PLACE, "o1", "A=2");
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(qty("A"), 1);
	cmd_order(SL_CMD_ORDER_PAYMENT_FAILED, "o1", NULL);
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(qty("A"), 3);
	assert_int_equal(events[1].type, SL_EV_ITEM_INCREMENTED);
	assert_int_equal(events[1].delta_quantity, 2);
	assert_int_equal(order_find("o1")->status, SL_ORDER_PAYMENT_FAILED);
	assert_int_equal(line_of("o1", "1")->state.held, 0);
	cmd_order(SL_CMD_ORDER_PAY, "o1", NULL);
	assert_int_equal(decide(), SL_ERR_ORDER_CLOSED);
}

/* spec §4 scenario 3: cancel with restock gives back 2; without, nothing moves */
static void test_order_cancel_restocks_unless_told_not_to(void **state)
{
	(void)state;
	item_add("A", 5, false, -1);
	cmd_order(SL_CMD_ORDER_PLACE, "o1", "A=2");
	assert_int_equal(decide(), SL_OK);
	cmd_order(SL_CMD_ORDER_PLACE, "o2", "A=2");
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(qty("A"), 1);
	cmd_order(SL_CMD_ORDER_CANCEL, "o1", NULL);
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(qty("A"), 3);
	assert_int_equal(line_of("o1", "1")->state.restocked, 2);
	cmd_order(SL_CMD_ORDER_CANCEL, "o2", NULL);
	cmd.is_no_restock = true;
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(qty("A"), 3);
	assert_int_equal(events[1].type, SL_EV_ORDER_LINE_CHANGED);
	assert_true(events[0].is_no_restock);
	assert_int_equal(line_of("o2", "1")->state.held, 0);
	assert_int_equal(line_of("o2", "1")->state.restocked, 0);
	assert_int_equal(order_find("o2")->status, SL_ORDER_CANCELED);
	cmd_order(SL_CMD_ORDER_CANCEL, "o2", NULL);
	assert_int_equal(decide(), SL_ERR_ORDER_CLOSED);
}

static void test_order_refund_never_gives_back_more_than_the_line_holds(void **state)
{
	(void)state;
	item_add("A", 5, false, -1);
	item_add("B", 5, false, -1);
	cmd_order(SL_CMD_ORDER_PLACE, "o1", "A=3 B=1");
	assert_int_equal(decide(), SL_OK);
	cmd_order(SL_CMD_ORDER_REFUND, "o1", "1=1");
	assert_int_equal(decide(), SL_ERR_FAILED_PRECONDITION); /* not paid yet */
	cmd_order(SL_CMD_ORDER_PAY, "o1", NULL);
	assert_int_equal(decide(), SL_OK);
	cmd_order(SL_CMD_ORDER_REFUND, "o1", "1=2 2=2");
	assert_int_equal(decide(), SL_ERR_REFUND_EXCEEDS_HELD);
	assert_int_equal(err.index, 1);
	assert_int_equal(qty("A"), 2); /* all or nothing: line 1 did not move either */
	cmd_order(SL_CMD_ORDER_REFUND, "o1", "9=1");
	assert_int_equal(decide(), SL_ERR_NOT_FOUND);
	cmd_order(SL_CMD_ORDER_REFUND, "o1", "1=2");
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(qty("A"), 4);
	assert_int_equal(line_of("o1", "1")->state.refunded, 2);
	assert_int_equal(line_of("o1", "1")->state.held, 1);
	assert_int_equal(order_find("o1")->status, SL_ORDER_PAID);
	cmd_order(SL_CMD_ORDER_REFUND, "o1", "1=1 2=1");
	cmd.is_no_restock = true;
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(qty("A"), 4);
	assert_int_equal(qty("B"), 4);
	assert_int_equal(order_find("o1")->status, SL_ORDER_REFUNDED);
	cmd_order(SL_CMD_ORDER_REFUND, "o1", "1=1");
	assert_int_equal(decide(), SL_ERR_ORDER_CLOSED);
}

static void test_order_refund_gives_back_preorder_units_first(void **state)
{
	(void)state;
	item_add("P", 1, true, 5);
	cmd_order(SL_CMD_ORDER_PLACE, "o1", "P=3");
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(counter("P"), 2);
	cmd_order(SL_CMD_ORDER_PAY, "o1", NULL);
	assert_int_equal(decide(), SL_OK);
	cmd_order(SL_CMD_ORDER_REFUND, "o1", "1=2");
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(counter("P"), 0);
	assert_int_equal(qty("P"), 0);
	assert_int_equal(line_of("o1", "1")->state.held_preorder, 0);
	cmd_order(SL_CMD_ORDER_REFUND, "o1", "1=1");
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(qty("P"), 1);
}

/* spec §3 flow 2: an edit decrements added lines unrestricted, increments removed ones */
static void test_order_edit_moves_the_delta_and_never_fails_for_stock(void **state)
{
	(void)state;
	item_add("A", 2, false, -1);
	item_add("B", 0, false, -1);
	cmd_order(SL_CMD_ORDER_PLACE, "o1", "A=2");
	assert_int_equal(decide(), SL_OK);
	cmd_order(SL_CMD_ORDER_EDIT, "o1", "1:A=1 2:B=3");
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(events[0].type, SL_EV_ORDER_EDITED);
	assert_int_equal(qty("A"), 1);
	assert_int_equal(qty("B"), -3);
	assert_int_equal(line_of("o1", "2")->state.held, 3);
	/* the complete new set: line 1 is dropped (quantity 0, restocked) */
	cmd_order(SL_CMD_ORDER_EDIT, "o1", "2:B=3");
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(n_events, 2);
	assert_int_equal(qty("A"), 2);
	assert_int_equal(line_of("o1", "1")->state.quantity, 0);
	assert_int_equal(line_of("o1", "1")->state.held, 0);
	/* a line keeps its item */
	cmd_order(SL_CMD_ORDER_EDIT, "o1", "2:A=1");
	assert_int_equal(decide(), SL_ERR_INVALID_ARGUMENT);
	assert_int_equal(qty("B"), -3);
}

static void test_order_edit_before_payment_under_on_order_paid_moves_nothing(void **state)
{
	(void)state;
	item_add("A", 2, false, -1);
	set_trigger(SL_TRIGGER_ON_ORDER_PAID);
	cmd_order(SL_CMD_ORDER_PLACE, "o1", "A=1");
	assert_int_equal(decide(), SL_OK);
	cmd_order(SL_CMD_ORDER_EDIT, "o1", "A=5");
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(qty("A"), 2);
	assert_int_equal(line_of("o1", "1")->state.quantity, 5);
	cmd_order(SL_CMD_ORDER_PAY, "o1", NULL);
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(qty("A"), -3);
}

/* [GAP] an order keeps the trigger it was placed under */
static void test_order_keeps_the_trigger_it_was_placed_under(void **state)
{
	(void)state;
	item_add("A", 5, false, -1);
	cmd_order(SL_CMD_ORDER_PLACE, "o1", "A=2");
	assert_int_equal(decide(), SL_OK);
	set_trigger(SL_TRIGGER_ON_ORDER_PAID);
	cmd_order(SL_CMD_ORDER_PAY, "o1", NULL);
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(qty("A"), 3); /* taken at placement, not again */
	cmd_order(SL_CMD_ORDER_PLACE, "o2", "A=1");
	assert_int_equal(decide(), SL_OK);
	set_trigger(SL_TRIGGER_ON_ORDER_PLACED);
	cmd_order(SL_CMD_ORDER_PAY, "o2", NULL);
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(qty("A"), 2); /* placed under ON_ORDER_PAID: taken at payment */
	assert_int_equal(order_find("o2")->trigger, SL_TRIGGER_ON_ORDER_PAID);
}

static void test_order_transitions_out_of_order_are_refused(void **state)
{
	(void)state;
	item_add("A", 5, false, -1);
	cmd_order(SL_CMD_ORDER_PAY, "nope", NULL);
	assert_int_equal(decide(), SL_ERR_NOT_FOUND);
	cmd_order(SL_CMD_ORDER_PLACE, "o1", "A=1");
	assert_int_equal(decide(), SL_OK);
	cmd_order(SL_CMD_ORDER_PAY, "o1", NULL);
	assert_int_equal(decide(), SL_OK);
	cmd_order(SL_CMD_ORDER_PAYMENT_FAILED, "o1", NULL);
	assert_int_equal(decide(), SL_ERR_FAILED_PRECONDITION);
	cmd_order(SL_CMD_ORDER_CANCEL, "o1", NULL);
	assert_int_equal(decide(), SL_OK);
	uint64_t seq = w.next_seq;
	static const sl_cmd_type after_close[] = {SL_CMD_ORDER_PAY, SL_CMD_ORDER_PAYMENT_FAILED,
	                                          SL_CMD_ORDER_CANCEL};
	for (size_t i = 0; i < sizeof(after_close) / sizeof(after_close[0]); i++) {
		cmd_order(after_close[i], "o1", NULL);
		assert_int_equal(decide(), SL_ERR_ORDER_CLOSED);
	}
	cmd_order(SL_CMD_ORDER_EDIT, "o1", "A=2");
	assert_int_equal(decide(), SL_ERR_ORDER_CLOSED);
	cmd_order(SL_CMD_ORDER_REFUND, "o1", "1=1");
	assert_int_equal(decide(), SL_ERR_ORDER_CLOSED);
	assert_int_equal(w.next_seq, seq);
	assert_int_equal(qty("A"), 5);
}

static void test_order_lines_are_validated_before_anything_moves(void **state)
{
	(void)state;
	item_add("A", 5, false, -1);
	cmd_order(SL_CMD_ORDER_PLACE, "o1", "x:A=1 x:A=1");
	assert_int_equal(decide(), SL_ERR_INVALID_ARGUMENT);
	cmd_order(SL_CMD_ORDER_PLACE, "o1", "A=0");
	assert_int_equal(decide(), SL_ERR_INVALID_ARGUMENT);
	cmd_order(SL_CMD_ORDER_PLACE, "o1", "A=1 Z=1");
	assert_int_equal(decide(), SL_ERR_NOT_FOUND);
	assert_int_equal(err.index, 1);
	cmd_order(SL_CMD_ORDER_PLACE, "bad/id", "A=1");
	assert_int_equal(decide(), SL_ERR_INVALID_ARGUMENT);
	cmd_order(SL_CMD_ORDER_PLACE, "", "A=1");
	assert_int_equal(decide(), SL_ERR_INVALID_ARGUMENT);
	cmd_order(SL_CMD_ORDER_PLACE, "o1", NULL);
	assert_int_equal(decide(), SL_ERR_INVALID_ARGUMENT);
	/* a line id may not hold ':' (it ends the line id of an OLINE); an item id may */
	cmd_order(SL_CMD_ORDER_PLACE, "o1", "A=1");
	sl_strlcpy(cmd.lines[0].line_id, "a:b", sizeof(cmd.lines[0].line_id));
	assert_int_equal(decide(), SL_ERR_INVALID_ARGUMENT);
	assert_non_null(strstr(err.message, "':'"));
	assert_int_equal(qty("A"), 5);
	/* spec §3 scenario 4: 301 lines are too many; 300 are fine */
	cmd_order(SL_CMD_ORDER_PLACE, "o1", NULL);
	cmd.lines = calloc(SL_ORDER_LINES_MAX + 1, sizeof(*cmd.lines));
	assert_non_null(cmd.lines);
	cmd.n_lines = SL_ORDER_LINES_MAX + 1;
	for (size_t i = 0; i < cmd.n_lines; i++) {
		key_set(&cmd.lines[i].item, "A");
		cmd.lines[i].quantity = 1;
	}
	assert_int_equal(decide(), SL_ERR_LIMIT_EXCEEDED);
	item_add("M", SL_ORDER_LINES_MAX, false, -1);
	for (size_t i = 0; i < SL_ORDER_LINES_MAX; i++)
		key_set(&cmd.lines[i].item, "M");
	cmd.n_lines = SL_ORDER_LINES_MAX;
	sl_strlcpy(cmd.order_id, "big", sizeof(cmd.order_id));
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(n_events, SL_ORDER_LINES_MAX + 1);
	assert_int_equal(qty("M"), 0);
	cmd_order(SL_CMD_ORDER_CANCEL, "big", NULL);
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(qty("M"), SL_ORDER_LINES_MAX);
	/* an in-stock-tracked item has no count to hold */
	item_add("S", 0, false, -1);
	item_find("S")->state.track_quantity = false;
	cmd_order(SL_CMD_ORDER_PLACE, "o1", "S=1");
	assert_int_equal(decide(), SL_ERR_QUANTITY_NOT_TRACKED);
	/* line ids default to the positions */
	cmd_order(SL_CMD_ORDER_PLACE, "o1", "A=1 7:A=1 A=1");
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(order_find("o1")->n_lines, 3);
	assert_string_equal(order_find("o1")->lines[0].line_id, "1");
	assert_string_equal(order_find("o1")->lines[1].line_id, "7");
	assert_string_equal(order_find("o1")->lines[2].line_id, "3");
	assert_int_equal(qty("A"), 2);
}

/* docs/orders.md, "Items that stop counting": after its placement, a line's moves are never
 * refused for what became of its item (spec §4: a payment cannot be refused; §3 flow 2: an
 * edit does not fail). A line whose item was deleted or switched to inStock tracking takes
 * nothing and gets nothing back: it becomes untracked, holds nothing and moves no stock any
 * more, while the order's other lines go on as before. */
static void test_order_lines_on_items_that_stop_counting_become_untracked(void **state)
{
	(void)state;
	item_add("A", 5, false, -1);
	item_add("B", 5, false, -1);
	item_add("C", 5, false, -1);
	set_trigger(SL_TRIGGER_ON_ORDER_PAID);
	cmd_order(SL_CMD_ORDER_PLACE, "o1", "A=2 B=1 C=1");
	assert_int_equal(decide(), SL_OK);
	/* A goes to inStock tracking, B is deleted: the payment is recorded all the same */
	item_find("A")->state.track_quantity = false;
	item_find("A")->state.quantity = 0;
	item_find("B")->state.exists = false;
	cmd_order(SL_CMD_ORDER_PAY, "o1", NULL);
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(order_find("o1")->status, SL_ORDER_PAID);
	assert_true(line_of("o1", "1")->state.untracked);
	assert_int_equal(line_of("o1", "1")->state.held, 0);
	assert_true(line_of("o1", "2")->state.untracked);
	assert_false(line_of("o1", "3")->state.untracked);
	assert_int_equal(line_of("o1", "3")->state.held, 1);
	assert_int_equal(qty("A"), 0);
	assert_int_equal(qty("C"), 4);
	/* the events: the order's, two line changes (nothing moved), C's decrement */
	assert_int_equal(n_events, 4);
	assert_int_equal(events[1].type, SL_EV_ORDER_LINE_CHANGED);
	assert_true(events[1].line_after.untracked);
	assert_int_equal(events[3].type, SL_EV_ITEM_DECREMENTED);
	/* an edit moves only the counted line */
	cmd_order(SL_CMD_ORDER_EDIT, "o1", "1:A=5 2:B=1 3:C=2");
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(line_of("o1", "1")->state.quantity, 5);
	assert_int_equal(line_of("o1", "1")->state.held, 0);
	assert_int_equal(qty("C"), 3);
	/* an untracked line's sold units may be refunded, nothing goes back to stock */
	cmd_order(SL_CMD_ORDER_REFUND, "o1", "1=5");
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(line_of("o1", "1")->state.refunded, 5);
	assert_int_equal(line_of("o1", "1")->state.restocked, 0);
	assert_int_equal(order_find("o1")->status, SL_ORDER_PAID); /* B and C are not refunded */
	cmd_order(SL_CMD_ORDER_REFUND, "o1", "1=1");
	assert_int_equal(decide(), SL_ERR_REFUND_EXCEEDS_HELD);
	cmd_order(SL_CMD_ORDER_REFUND, "o1", "2=1 3=2");
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(order_find("o1")->status, SL_ORDER_REFUNDED);
	assert_int_equal(qty("C"), 5);

	/* an order holding units when its item is deleted: the cancel is not refused, those
	 * units have no item to go back to */
	set_trigger(SL_TRIGGER_ON_ORDER_PLACED);
	item_add("D", 5, false, -1);
	cmd_order(SL_CMD_ORDER_PLACE, "o2", "D=2 C=1");
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(qty("D"), 3);
	item_find("D")->state.exists = false;
	cmd_order(SL_CMD_ORDER_CANCEL, "o2", NULL);
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(order_find("o2")->status, SL_ORDER_CANCELED);
	assert_true(line_of("o2", "1")->state.untracked);
	assert_int_equal(line_of("o2", "1")->state.held, 0);
	assert_int_equal(line_of("o2", "1")->state.restocked, 0);
	assert_int_equal(line_of("o2", "2")->state.restocked, 1);
	assert_int_equal(qty("C"), 5);
	/* placement still checks its items (checkout validation) */
	cmd_order(SL_CMD_ORDER_PLACE, "o3", "D=1");
	assert_int_equal(decide(), SL_ERR_NOT_FOUND);
	cmd_order(SL_CMD_ORDER_PLACE, "o3", "A=1");
	assert_int_equal(decide(), SL_ERR_QUANTITY_NOT_TRACKED);
}

/* docs/decisions.md, "Validation before existence": an order command that is invalid on
 * its own is INVALID_ARGUMENT whatever the order is (unknown, existing, placed, closed). */
static void test_order_invalid_commands_are_invalid_before_the_order_is_read(void **state)
{
	(void)state;
	item_add("A", 5, false, -1);
	cmd_order(SL_CMD_ORDER_EDIT, "nosuch", "A=-1");
	assert_int_equal(decide(), SL_ERR_INVALID_ARGUMENT);
	cmd_order(SL_CMD_ORDER_PLACE, "o1", "A=1");
	assert_int_equal(decide(), SL_OK);
	cmd_order(SL_CMD_ORDER_PLACE, "o1", "A=0");
	assert_int_equal(decide(), SL_ERR_INVALID_ARGUMENT);
	cmd_order(SL_CMD_ORDER_REFUND, "o1", "1=0"); /* o1 is placed, not paid */
	assert_int_equal(decide(), SL_ERR_INVALID_ARGUMENT);
	cmd_order(SL_CMD_ORDER_PAY, "o1", NULL);
	assert_int_equal(decide(), SL_OK);
	cmd_order(SL_CMD_ORDER_PAYMENT_FAILED, "o1", NULL); /* paid: no failed payment */
	cmd.is_no_restock = true;
	assert_int_equal(decide(), SL_ERR_INVALID_ARGUMENT);
	cmd_order(SL_CMD_ORDER_CANCEL, "o1", NULL);
	assert_int_equal(decide(), SL_OK);
	uint64_t seq = w.next_seq;
	cmd_order(SL_CMD_ORDER_REFUND, "o1", "1=0"); /* closed */
	assert_int_equal(decide(), SL_ERR_INVALID_ARGUMENT);
	cmd_order(SL_CMD_ORDER_EDIT, "o1", "x:A=1 x:A=1");
	assert_int_equal(decide(), SL_ERR_INVALID_ARGUMENT);
	/* valid commands still meet the order's state */
	cmd_order(SL_CMD_ORDER_REFUND, "o1", "1=1");
	assert_int_equal(decide(), SL_ERR_ORDER_CLOSED);
	cmd_order(SL_CMD_ORDER_EDIT, "nosuch", "A=1");
	assert_int_equal(decide(), SL_ERR_NOT_FOUND);
	assert_int_equal(w.next_seq, seq);
	assert_int_equal(qty("A"), 5);
}

/* A short line and then a line that fails for another reason: the refusal is that reason,
 * without the short line in details.items. */
static void test_order_other_refusals_carry_no_shortages(void **state)
{
	(void)state;
	item_add("A", 1, false, -1);
	cmd_order(SL_CMD_ORDER_PLACE, "o1", "A=2 Z=1");
	assert_int_equal(decide(), SL_ERR_NOT_FOUND);
	assert_int_equal(err.n_shortages, 0);
	assert_null(err.shortages);
	cmd_order(SL_CMD_ORDER_PLACE, "o1", "A=2");
	assert_int_equal(decide(), SL_ERR_INSUFFICIENT_INVENTORY);
	assert_int_equal(err.n_shortages, 1);
}

static void test_settings_change_appends_an_event_only_when_the_trigger_changes(void **state)
{
	(void)state;
	sl_command_fini(&cmd);
	memset(&cmd, 0, sizeof(cmd));
	cmd.type = SL_CMD_SETTINGS_SET;
	cmd.trigger = SL_TRIGGER_ON_ORDER_PLACED; /* the default */
	assert_int_equal(decide(), SL_OK);
	assert_true(is_unchanged);
	cmd.trigger = SL_TRIGGER_ON_ORDER_PAID;
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(n_events, 1);
	assert_int_equal(events[0].type, SL_EV_SETTINGS_UPDATED);
	assert_int_equal(events[0].trigger_before, SL_TRIGGER_ON_ORDER_PLACED);
	assert_int_equal(w.settings.trigger, SL_TRIGGER_ON_ORDER_PAID);
	cmd.trigger = (sl_trigger)7;
	assert_int_equal(decide(), SL_ERR_INVALID_ARGUMENT);
}

static void test_settings_change_refuses_an_invalid_order_id(void **state)
{
	(void)state;
	sl_command_fini(&cmd);
	memset(&cmd, 0, sizeof(cmd));
	cmd.type = SL_CMD_SETTINGS_SET;
	cmd.trigger = SL_TRIGGER_ON_ORDER_PAID;
	/* Command.order_id is recorded on the event: an id, as on every other command */
	sl_strlcpy(cmd.order_id, "not an/id", sizeof(cmd.order_id));
	assert_int_equal(decide(), SL_ERR_INVALID_ARGUMENT);
	assert_int_equal(n_events, 0);
	assert_false(w.has_settings);
	sl_strlcpy(cmd.order_id, "o-1", sizeof(cmd.order_id));
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(n_events, 1);
	assert_string_equal(events[0].order_id, "o-1");
}

static void test_order_line_changes_are_bounded(void **state)
{
	(void)state;
	item_add("A", 1000, false, -1);
	cmd_order(SL_CMD_ORDER_PLACE, "o1", "A=1");
	assert_int_equal(decide(), SL_OK);
	/* each edit changes line 1 once; the place was its first change; edits leave two
	 * changes for payment and closing */
	for (int i = 1; i <= SL_ORDER_LINE_EVENTS_MAX - 3; i++) {
		cmd_order(SL_CMD_ORDER_EDIT, "o1", i % 2 ? "A=2" : "A=1");
		assert_int_equal(decide(), SL_OK);
	}
	cmd_order(SL_CMD_ORDER_EDIT, "o1", "A=3");
	assert_int_equal(decide(), SL_ERR_LIMIT_EXCEEDED);
	cmd_order(SL_CMD_ORDER_PAY, "o1", NULL);
	assert_int_equal(decide(), SL_OK);
	cmd_order(SL_CMD_ORDER_CANCEL, "o1", NULL);
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(qty("A"), 1000);
}

/* A refusal about a line the edit leaves out (here its restock would pass the quantity range)
 * names no command line in details.index: the index of the line in the order named another
 * line of the command (found by a review). A line the edit names keeps its index. */
static void test_order_edit_refusal_about_a_line_left_out_names_no_command_line(void **state)
{
	(void)state;
	item_add("A", SL_QUANTITY_MAX, false, -1);
	item_add("B", 5, false, -1);
	cmd_order(SL_CMD_ORDER_PLACE, "o1", "A=5 B=1");
	assert_int_equal(decide(), SL_OK);
	item_find("A")->state.quantity = SL_QUANTITY_MAX; /* restocked meanwhile */
	cmd_order(SL_CMD_ORDER_EDIT, "o1", "2:B=1");
	assert_int_equal(decide(), SL_ERR_LIMIT_EXCEEDED);
	assert_false(err.has_index);
	cmd_order(SL_CMD_ORDER_EDIT, "o1", "2:B=1 1:A=0");
	assert_int_equal(decide(), SL_ERR_LIMIT_EXCEEDED);
	assert_true(err.has_index);
	assert_int_equal(err.index, 1);
	assert_int_equal(qty("B"), 4);
}

/* item_decide runs the item rules (ledger_decide) on cmd and folds what they decided. */
static void item_decide(void)
{
	ledger_decide_env env = {
	    .lookup = lookup_item, .next_seq = w.next_seq, .time_ms = w.time_ms};
	sl_error_info_fini(&err);
	n_events = 0;
	assert_int_equal(ledger_decide(&cmd, &env, events, &n_events, &err), SL_OK);
	world_fold();
}

/* reset_counter resets the preorder counter of product with an item update, as an operator
 * does (stockctl item update P --revision R --reset-preorder-counter). */
static void reset_counter(const char *product)
{
	sl_command_fini(&cmd);
	memset(&cmd, 0, sizeof(cmd));
	cmd.type = SL_CMD_UPDATE;
	key_set(&cmd.item, product);
	cmd.has_revision = true;
	cmd.revision = item_find(product)->revision;
	cmd.reset_preorder_counter = true;
	item_decide();
	assert_int_equal(counter(product), 0);
	assert_int_equal(item_find(product)->state.preorder_since, w.next_seq - 1);
}

/* docs/orders.md, "Refund and restock of preorder units": after a reset of the counter, the
 * preorder units an order took before it release nothing; those taken since do. Without
 * this, a cancel of an old order freed room that newer orders use, past the limit (found by
 * a review: 5 units preordered after a reset against a limit of 3). */
static void test_order_preorder_units_taken_before_a_reset_release_nothing(void **state)
{
	(void)state;
	item_add("P", 0, true, 3);
	cmd_order(SL_CMD_ORDER_PLACE, "o1", "P=2");
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(counter("P"), 2);
	reset_counter("P");
	cmd_order(SL_CMD_ORDER_PLACE, "o2", "P=3");
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(counter("P"), 3);
	/* o1's units were counted before the reset: its cancel leaves the counter, and the
	 * limit stays reached */
	cmd_order(SL_CMD_ORDER_CANCEL, "o1", NULL);
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(counter("P"), 3);
	assert_int_equal(qty("P"), 0);
	assert_int_equal(line_of("o1", "1")->state.held_preorder, 0);
	assert_int_equal(line_of("o1", "1")->state.held_preorder_uncounted, 0);
	cmd_order(SL_CMD_ORDER_PLACE, "o3", "P=2");
	assert_int_equal(decide(), SL_ERR_INSUFFICIENT_INVENTORY);
	assert_int_equal(err.shortages[0].available, 0);
	/* o2's units are counted: its cancel frees them */
	cmd_order(SL_CMD_ORDER_CANCEL, "o2", NULL);
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(counter("P"), 0);
	assert_int_equal(events[1].line_after.held_preorder, 0);
}

/* A line that took preorder units before a reset and more after it (an edit) holds both
 * kinds: given back, the counted ones go first (they were taken last), and only they
 * release the counter. */
static void test_order_line_with_units_from_before_and_after_a_reset(void **state)
{
	(void)state;
	item_add("P", 0, true, 10);
	cmd_order(SL_CMD_ORDER_PLACE, "o1", "P=2");
	assert_int_equal(decide(), SL_OK);
	reset_counter("P");
	uint64_t since = item_find("P")->state.preorder_since;
	cmd_order(SL_CMD_ORDER_EDIT, "o1", "1:P=5");
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(counter("P"), 3);
	const sl_order_line_state *s = &line_of("o1", "1")->state;
	assert_int_equal(s->held_preorder, 5);
	assert_int_equal(s->held_preorder_uncounted, 2);
	assert_int_equal(s->preorder_since, since);
	/* down to 3: the 2 units given back are counted ones */
	cmd_order(SL_CMD_ORDER_EDIT, "o1", "1:P=3");
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(counter("P"), 1);
	s = &line_of("o1", "1")->state;
	assert_int_equal(s->held_preorder, 3);
	assert_int_equal(s->held_preorder_uncounted, 2);
	/* a cancel gives back the last counted one, and the two uncounted ones release nothing */
	cmd_order(SL_CMD_ORDER_CANCEL, "o1", NULL);
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(counter("P"), 0);
	assert_int_equal(qty("P"), 0);
	s = &line_of("o1", "1")->state;
	assert_int_equal(s->held_preorder, 0);
	assert_int_equal(s->held_preorder_uncounted, 0);
	assert_int_equal(s->restocked, 5);
}

/* docs/orders.md, "Items deleted and created again": the stock units of an open line go back
 * to the new item, its preorder units release nothing from the new item's counter. */
static void
test_order_preorder_units_of_a_deleted_item_release_nothing_once_created_again(void **state)
{
	(void)state;
	item_add("P", 1, true, 2);
	cmd_order(SL_CMD_ORDER_PLACE, "o1", "P=3");
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(counter("P"), 2);
	/* deleted, then created again with the same limit */
	sl_command_fini(&cmd);
	memset(&cmd, 0, sizeof(cmd));
	cmd.type = SL_CMD_DELETE;
	key_set(&cmd.item, "P");
	item_decide();
	memset(&cmd, 0, sizeof(cmd));
	cmd.type = SL_CMD_CREATE;
	key_set(&cmd.item, "P");
	cmd.has_quantity = true;
	cmd.has_preorder_enabled = true;
	cmd.preorder_enabled = true;
	cmd.has_preorder_limit = true;
	cmd.preorder_limit = 2;
	item_decide();
	assert_int_equal(item_find("P")->state.preorder_since, w.next_seq - 1);
	cmd_order(SL_CMD_ORDER_PLACE, "o2", "P=2");
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(counter("P"), 2);
	cmd_order(SL_CMD_ORDER_CANCEL, "o1", NULL);
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(counter("P"), 2); /* o2's preorders are still counted */
	assert_int_equal(qty("P"), 1);     /* o1's stock unit is back on the shelf */
}

/* Before any reset, nothing changes: an item first created counts since its create (0), and
 * its lines' units are all counted. */
static void test_order_preorder_units_are_counted_until_a_reset(void **state)
{
	(void)state;
	item_add("P", 0, true, -1);
	cmd_order(SL_CMD_ORDER_PLACE, "o1", "P=4");
	assert_int_equal(decide(), SL_OK);
	const sl_order_line_state *s = &line_of("o1", "1")->state;
	assert_int_equal(s->preorder_since, 0);
	assert_int_equal(s->held_preorder_uncounted, 0);
	cmd_order(SL_CMD_ORDER_PAY, "o1", NULL);
	assert_int_equal(decide(), SL_OK);
	cmd_order(SL_CMD_ORDER_REFUND, "o1", "1=1");
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(counter("P"), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, world_setup, world_teardown)
	    T(test_order_place_under_on_order_placed_takes_every_line_at_once),
	    T(test_order_place_short_on_one_line_refuses_the_whole_order),
	    T(test_order_place_takes_preorder_units_within_the_limit),
	    T(test_order_pay_under_on_order_paid_takes_unrestricted),
	    T(test_order_pay_of_a_paid_order_is_unchanged_and_appends_nothing),
	    T(test_order_payment_failed_restocks_what_was_taken_and_closes),
	    T(test_order_cancel_restocks_unless_told_not_to),
	    T(test_order_refund_never_gives_back_more_than_the_line_holds),
	    T(test_order_refund_gives_back_preorder_units_first),
	    T(test_order_edit_moves_the_delta_and_never_fails_for_stock),
	    T(test_order_edit_before_payment_under_on_order_paid_moves_nothing),
	    T(test_order_keeps_the_trigger_it_was_placed_under),
	    T(test_order_transitions_out_of_order_are_refused),
	    T(test_order_lines_are_validated_before_anything_moves),
	    T(test_order_invalid_commands_are_invalid_before_the_order_is_read),
	    T(test_order_other_refusals_carry_no_shortages),
	    T(test_settings_change_appends_an_event_only_when_the_trigger_changes),
	    T(test_settings_change_refuses_an_invalid_order_id),
	    T(test_order_line_changes_are_bounded),
	    T(test_order_lines_on_items_that_stop_counting_become_untracked),
	    T(test_order_edit_refusal_about_a_line_left_out_names_no_command_line),
	    T(test_order_preorder_units_taken_before_a_reset_release_nothing),
	    T(test_order_line_with_units_from_before_and_after_a_reset),
	    T(test_order_preorder_units_of_a_deleted_item_release_nothing_once_created_again),
	    T(test_order_preorder_units_are_counted_until_a_reset),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

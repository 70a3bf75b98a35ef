/*
 * rules_test.c: ledger_decide and ledger_item_status, the inventory rules, against views
 * handed in through the lookup callback.
 *
 * Method: a small in-memory world (an array of views and the next seq) stands in for the
 * committed state, as the gateway's writer does. A decided command is folded into the world
 * with the real fold (stock_view_apply), so that a sequence of commands sees what the ones
 * before it did and revisions can be checked; a refused command must decide no event, and
 * the world stays as it was. Expected values come from the Wix scenarios of
 * /work/shared/spec/wix-inventory.md (cited by section) and from the policies written in
 * rules.h and rules.c where the spec leaves a [GAP]. Every bound of sl_limits.h is tried on
 * both sides.
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
#include "base/sl_util.h"
#include "ledger/codec.h"
#include "ledger/rules.h"
#include "projector/stock.h"

#define WORLD_ITEMS_MAX (SL_LINES_MAX + 20)
#define T0_MS 1796401854000LL

/* The committed state a command is decided against. */
typedef struct world {
	sl_item items[WORLD_ITEMS_MAX];
	size_t n_items;
	uint64_t next_seq;
	int64_t time_ms;
	unsigned lookups;
	sl_err lookup_fails_with; /* SL_OK: the lookup works */
} world;

static world w;
static sl_event events[LEDGER_COMMAND_EVENTS_MAX];
static size_t n_events;
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
	sl_error_info_fini(&err);
	sl_command_fini(&cmd);
	return 0;
}

static sl_item *world_find(const sl_item_key *key)
{
	for (size_t i = 0; i < w.n_items; i++)
		if (sl_item_key_cmp(&w.items[i].key, key) == 0)
			return &w.items[i];
	return NULL;
}

static sl_err world_lookup(void *ctx, const sl_item_key *key, sl_item *out)
{
	world *wp = ctx;
	wp->lookups++;
	if (wp->lookup_fails_with != SL_OK)
		return wp->lookup_fails_with;
	const sl_item *v = world_find(key);
	if (v == NULL)
		return SL_ERR_NOT_FOUND;
	*out = *v;
	return SL_OK;
}

/* world_fold applies decided events with the real fold, as the writer does. */
static void world_fold(void)
{
	for (size_t i = 0; i < n_events; i++) {
		sl_item *v = world_find(&events[i].item);
		if (v == NULL) {
			assert_true(w.n_items < WORLD_ITEMS_MAX);
			v = &w.items[w.n_items++];
			memset(v, 0, sizeof(*v));
		}
		assert_int_equal(stock_view_apply(v, &events[i]), SL_OK);
	}
	w.next_seq += n_events;
	w.time_ms += 1000;
}

/* decide runs ledger_decide on cmd against the world and, if it decided, folds the events.
 * A refusal must decide nothing. */
static sl_err decide(void)
{
	ledger_decide_env env = {
	    .lookup = world_lookup, .lookup_ctx = &w, .next_seq = w.next_seq, .time_ms = w.time_ms};
	sl_error_info_fini(&err);
	n_events = 12345;
	sl_err rc = ledger_decide(&cmd, &env, events, &n_events, &err);
	assert_int_equal(err.code, rc);
	if (rc != SL_OK) {
		assert_int_equal(n_events, 0);
		assert_true(err.message[0] != '\0');
	} else {
		world_fold();
	}
	return rc;
}

static void key_set(sl_item_key *k, const char *product)
{
	memset(k, 0, sizeof(*k));
	sl_strlcpy(k->product_id, product, sizeof(k->product_id));
	sl_strlcpy(k->variant_id, SL_DEFAULT_VARIANT, sizeof(k->variant_id));
	sl_strlcpy(k->location_id, SL_DEFAULT_LOCATION, sizeof(k->location_id));
}

static sl_item *view_of(const char *product)
{
	sl_item_key k;
	key_set(&k, product);
	sl_item *v = world_find(&k);
	if (v == NULL)
		fail_msg("no view of '%s'", product);
	return v;
}

static void cmd_reset(sl_cmd_type type, const char *product)
{
	sl_command_fini(&cmd);
	memset(&cmd, 0, sizeof(cmd));
	cmd.type = type;
	if (product != NULL)
		key_set(&cmd.item, product);
}

static void cmd_create_quantity(const char *product, int64_t quantity)
{
	cmd_reset(SL_CMD_CREATE, product);
	cmd.has_quantity = true;
	cmd.quantity = quantity;
}

static void cmd_create_in_stock(const char *product, bool in_stock)
{
	cmd_reset(SL_CMD_CREATE, product);
	cmd.has_in_stock = true;
	cmd.in_stock = in_stock;
}

/* cmd_update readies an update of product at its current revision. */
static void cmd_update(const char *product)
{
	int64_t revision = view_of(product)->revision;
	cmd_reset(SL_CMD_UPDATE, product);
	cmd.has_revision = true;
	cmd.revision = revision;
}

static void cmd_lines(sl_cmd_type type, size_t n)
{
	cmd_reset(type, NULL);
	cmd.lines = calloc(n > 0 ? n : 1, sizeof(*cmd.lines));
	assert_non_null(cmd.lines);
	cmd.n_lines = n;
}

static void line_set(size_t i, const char *product, int64_t quantity)
{
	key_set(&cmd.lines[i].item, product);
	cmd.lines[i].quantity = quantity;
}

/* adjust1 readies a one-line increment or decrement. */
static void adjust1(sl_cmd_type type, const char *product, int64_t quantity)
{
	cmd_lines(type, 1);
	line_set(0, product, quantity);
}

static void create_quantity_ok(const char *product, int64_t quantity)
{
	cmd_create_quantity(product, quantity);
	assert_int_equal(decide(), SL_OK);
}

/* create_preorder_ok creates a quantity-tracked item with preorder on (limit < 0: none). */
static void create_preorder_ok(const char *product, int64_t quantity, int64_t limit)
{
	cmd_create_quantity(product, quantity);
	cmd.has_preorder_enabled = true;
	cmd.preorder_enabled = true;
	if (limit >= 0) {
		cmd.has_preorder_limit = true;
		cmd.preorder_limit = limit;
	}
	assert_int_equal(decide(), SL_OK);
}

static void expect_refused(sl_err code)
{
	sl_err rc = decide();
	if (rc != code)
		fail_msg("want %s, got %s (%s)", sl_err_name(code), sl_err_name(rc), err.message);
}

static int64_t quantity_of(const char *product)
{
	return view_of(product)->state.quantity;
}

static void test_ledger_decide_creates_a_quantity_tracked_item(void **state)
{
	(void)state;
	w.next_seq = 41;
	cmd_create_quantity("sku-1", 10);
	sl_strlcpy(cmd.key, "key-1", sizeof(cmd.key));
	sl_strlcpy(cmd.reason, "MANUAL", sizeof(cmd.reason));
	sl_strlcpy(cmd.order_id, "order-7", sizeof(cmd.order_id));
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(n_events, 1);
	const sl_event *ev = &events[0];
	assert_int_equal(ev->type, SL_EV_ITEM_CREATED);
	assert_int_equal(ev->seq, 41);
	assert_int_equal(ev->command_seq, 41);
	assert_int_equal(ev->line, 0);
	assert_int_equal(ev->item_seq, 1);
	assert_int_equal(ev->time_ms, T0_MS);
	assert_string_equal(ev->command_key, "key-1");
	assert_string_equal(ev->reason, "MANUAL");
	assert_string_equal(ev->order_id, "order-7");
	assert_int_equal(sl_item_key_cmp(&ev->item, &cmd.item), 0);
	assert_false(ev->before.exists);
	assert_true(ev->after.exists);
	assert_true(ev->after.track_quantity);
	assert_int_equal(ev->after.quantity, 10);
	assert_true(ev->after.in_stock);
	assert_false(ev->after.preorder_enabled);
	assert_false(ev->after.has_preorder_limit);
	assert_int_equal(ev->delta_quantity, 10);
	assert_int_equal(ev->delta_counter, 0);
	/* spec 2.5 scenario 1 */
	const sl_item *v = view_of("sku-1");
	assert_int_equal(v->revision, 1);
	assert_int_equal(v->status, SL_STATUS_IN_STOCK);
}

static void test_ledger_decide_creates_an_in_stock_tracked_item(void **state)
{
	(void)state;
	cmd_create_in_stock("digital", true);
	assert_int_equal(decide(), SL_OK);
	const sl_event *ev = &events[0];
	assert_false(ev->after.track_quantity);
	assert_true(ev->after.in_stock);
	assert_int_equal(ev->after.quantity, 0);
	assert_int_equal(view_of("digital")->status, SL_STATUS_IN_STOCK);

	cmd_create_in_stock("made-to-order", false);
	cmd.has_preorder_enabled = true;
	cmd.preorder_enabled = true;
	cmd.has_preorder_message = true;
	sl_strlcpy(cmd.preorder_message, "ships in May", sizeof(cmd.preorder_message));
	assert_int_equal(decide(), SL_OK);
	assert_string_equal(events[0].after.preorder_message, "ships in May");
	assert_int_equal(view_of("made-to-order")->status, SL_STATUS_PREORDER);
}

static void test_ledger_decide_create_wants_exactly_one_of_quantity_and_in_stock(void **state)
{
	(void)state;
	cmd_reset(SL_CMD_CREATE, "sku-1");
	expect_refused(SL_ERR_INVALID_ARGUMENT);
	cmd_create_quantity("sku-1", 1);
	cmd.has_in_stock = true;
	cmd.in_stock = true;
	expect_refused(SL_ERR_INVALID_ARGUMENT);
	assert_int_equal(w.n_items, 0);
}

static void test_ledger_decide_create_refuses_an_item_that_exists(void **state)
{
	(void)state;
	create_quantity_ok("sku-1", 10);
	/* spec 2.5 scenario 2: same variant at the same location */
	cmd_create_in_stock("sku-1", true);
	expect_refused(SL_ERR_ALREADY_EXISTS);
	assert_int_equal(quantity_of("sku-1"), 10);
	/* the same variant at another location is another item */
	cmd_create_quantity("sku-1", 3);
	sl_strlcpy(cmd.item.location_id, "warehouse-2", sizeof(cmd.item.location_id));
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(w.n_items, 2);
	assert_int_equal(quantity_of("sku-1"), 10);
}

static void test_ledger_decide_recreates_a_deleted_item_without_a_gap_in_item_seq(void **state)
{
	(void)state;
	create_quantity_ok("sku-1", 10);
	cmd_reset(SL_CMD_DELETE, "sku-1");
	assert_int_equal(decide(), SL_OK);
	create_quantity_ok("sku-1", 4);
	assert_int_equal(events[0].item_seq, 3);
	assert_false(events[0].before.exists);
	const sl_item *v = view_of("sku-1");
	assert_int_equal(v->revision, 3); /* goes on: revision 1 of the first life is stale */
	assert_int_equal(v->state.quantity, 4);
	assert_int_equal(v->numeric_id, 3);
	cmd_reset(SL_CMD_UPDATE, "sku-1");
	cmd.has_revision = true;
	cmd.revision = 1;
	cmd.has_quantity = true;
	cmd.quantity = 0;
	assert_int_equal(decide(), SL_ERR_REVISION_MISMATCH);
	assert_int_equal(err.current_revision, 3);
}

static void test_ledger_decide_update_refuses_a_missing_or_stale_revision(void **state)
{
	(void)state;
	create_quantity_ok("sku-1", 10);
	for (int i = 0; i < 4; i++) {
		adjust1(SL_CMD_INCREMENT, "sku-1", 1);
		assert_int_equal(decide(), SL_OK);
	}
	assert_int_equal(view_of("sku-1")->revision, 5);
	uint64_t next_seq = w.next_seq;

	cmd_update("sku-1");
	cmd.has_revision = false;
	cmd.has_quantity = true;
	cmd.quantity = 7;
	expect_refused(SL_ERR_REVISION_MISMATCH);
	assert_non_null(strstr(err.message, "revision must not be empty"));
	assert_true(err.has_current_revision);
	assert_int_equal(err.current_revision, 5);

	/* spec 2.5 scenario 3 */
	cmd.has_revision = true;
	cmd.revision = 4;
	expect_refused(SL_ERR_REVISION_MISMATCH);
	assert_non_null(strstr(err.message, "revision mismatch"));
	assert_true(err.has_current_revision);
	assert_int_equal(err.current_revision, 5);
	cmd.revision = 6;
	expect_refused(SL_ERR_REVISION_MISMATCH);
	assert_int_equal(quantity_of("sku-1"), 14);
	assert_int_equal(w.next_seq, next_seq);

	cmd.revision = 5;
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(events[0].type, SL_EV_ITEM_UPDATED);
	assert_int_equal(events[0].delta_quantity, 7 - 14);
	assert_int_equal(quantity_of("sku-1"), 7);
	assert_int_equal(view_of("sku-1")->revision, 6);
}

static void test_ledger_decide_update_keeps_what_it_is_not_given(void **state)
{
	(void)state;
	create_preorder_ok("sku-1", 3, 8);
	cmd_update("sku-1");
	cmd.has_preorder_message = true;
	sl_strlcpy(cmd.preorder_message, "back soon", sizeof(cmd.preorder_message));
	assert_int_equal(decide(), SL_OK);
	const sl_item_state *a = &events[0].after;
	assert_true(a->track_quantity);
	assert_int_equal(a->quantity, 3);
	assert_true(a->preorder_enabled);
	assert_true(a->has_preorder_limit);
	assert_int_equal(a->preorder_limit, 8);
	assert_string_equal(a->preorder_message, "back soon");
}

static void test_ledger_decide_update_of_an_unknown_item_is_not_found(void **state)
{
	(void)state;
	cmd_reset(SL_CMD_UPDATE, "nobody");
	cmd.has_revision = true;
	cmd.revision = 1;
	expect_refused(SL_ERR_NOT_FOUND);
	cmd_reset(SL_CMD_DELETE, "nobody");
	expect_refused(SL_ERR_NOT_FOUND);
}

static void test_ledger_decide_update_refuses_both_quantity_and_in_stock(void **state)
{
	(void)state;
	create_quantity_ok("sku-1", 3);
	cmd_update("sku-1");
	cmd.has_quantity = true;
	cmd.quantity = 1;
	cmd.has_in_stock = true;
	cmd.in_stock = true;
	expect_refused(SL_ERR_INVALID_ARGUMENT);
}

static void test_ledger_decide_update_switches_the_tracking_method(void **state)
{
	(void)state;
	create_preorder_ok("sku-1", 5, 10);
	/* to in-stock tracking: quantity goes to 0 and the limit is dropped, the event's
	 * before-state keeps both on record */
	cmd_update("sku-1");
	cmd.has_in_stock = true;
	cmd.in_stock = false;
	assert_int_equal(decide(), SL_OK);
	const sl_event *ev = &events[0];
	assert_true(ev->before.track_quantity);
	assert_int_equal(ev->before.quantity, 5);
	assert_true(ev->before.has_preorder_limit);
	assert_false(ev->after.track_quantity);
	assert_false(ev->after.in_stock);
	assert_int_equal(ev->after.quantity, 0);
	assert_false(ev->after.has_preorder_limit);
	assert_int_equal(ev->after.preorder_limit, 0);
	assert_true(ev->after.preorder_enabled);
	assert_int_equal(view_of("sku-1")->status, SL_STATUS_PREORDER);

	/* and back: in_stock follows the quantity */
	cmd_update("sku-1");
	cmd.has_quantity = true;
	cmd.quantity = 2;
	assert_int_equal(decide(), SL_OK);
	assert_true(events[0].after.track_quantity);
	assert_true(events[0].after.in_stock);
	assert_int_equal(events[0].after.quantity, 2);
	cmd_update("sku-1");
	cmd.has_quantity = true;
	cmd.quantity = 0;
	assert_int_equal(decide(), SL_OK);
	assert_false(events[0].after.in_stock);
}

static void test_ledger_decide_preorder_limit_needs_quantity_tracking(void **state)
{
	(void)state;
	cmd_create_in_stock("digital", true);
	cmd.has_preorder_limit = true;
	cmd.preorder_limit = 5;
	expect_refused(SL_ERR_INVALID_ARGUMENT);
	cmd_create_in_stock("digital", true);
	assert_int_equal(decide(), SL_OK);

	cmd_update("digital");
	cmd.has_preorder_limit = true;
	cmd.preorder_limit = 5;
	expect_refused(SL_ERR_INVALID_ARGUMENT);

	/* switching to in-stock tracking and setting a limit in one update */
	create_quantity_ok("sku-1", 1);
	cmd_update("sku-1");
	cmd.has_in_stock = true;
	cmd.in_stock = true;
	cmd.has_preorder_limit = true;
	cmd.preorder_limit = 5;
	expect_refused(SL_ERR_INVALID_ARGUMENT);
	assert_true(view_of("sku-1")->state.track_quantity);
	assert_int_equal(view_of("sku-1")->revision, 1);

	/* switching to quantity tracking and setting a limit in one update */
	cmd_update("digital");
	cmd.has_quantity = true;
	cmd.quantity = 0;
	cmd.has_preorder_limit = true;
	cmd.preorder_limit = 5;
	assert_int_equal(decide(), SL_OK);
	assert_true(events[0].after.has_preorder_limit);
	assert_int_equal(events[0].after.preorder_limit, 5);
}

static void test_ledger_decide_preorder_limit_is_0_to_its_max(void **state)
{
	(void)state;
	const int64_t bad[] = {-1, SL_PREORDER_LIMIT_MAX + 1, INT64_MIN, INT64_MAX};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cmd_create_quantity("sku-1", 0);
		cmd.has_preorder_limit = true;
		cmd.preorder_limit = bad[i];
		expect_refused(SL_ERR_INVALID_ARGUMENT);
	}
	create_preorder_ok("sku-1", 0, SL_PREORDER_LIMIT_MAX);
	create_preorder_ok("sku-2", 0, 0);
	assert_int_equal(view_of("sku-2")->status, SL_STATUS_OUT_OF_STOCK);

	cmd_update("sku-1");
	cmd.has_preorder_limit = true;
	cmd.preorder_limit = -1;
	expect_refused(SL_ERR_INVALID_ARGUMENT);
	cmd.preorder_limit = 3;
	cmd.clear_preorder_limit = true;
	expect_refused(SL_ERR_INVALID_ARGUMENT);

	cmd_update("sku-1");
	cmd.clear_preorder_limit = true;
	assert_int_equal(decide(), SL_OK);
	assert_false(events[0].after.has_preorder_limit);
	assert_int_equal(events[0].after.preorder_limit, 0);
	assert_true(events[0].before.has_preorder_limit);
}

static void test_ledger_decide_update_sets_the_preorder_settings(void **state)
{
	(void)state;
	create_quantity_ok("sku-1", 0);
	assert_int_equal(view_of("sku-1")->status, SL_STATUS_OUT_OF_STOCK);
	cmd_update("sku-1");
	cmd.has_preorder_enabled = true;
	cmd.preorder_enabled = true;
	cmd.has_preorder_limit = true;
	cmd.preorder_limit = 4;
	cmd.has_preorder_message = true;
	sl_strlcpy(cmd.preorder_message, "preorder now", sizeof(cmd.preorder_message));
	assert_int_equal(decide(), SL_OK);
	const sl_item *v = view_of("sku-1");
	assert_true(v->state.preorder_enabled);
	assert_int_equal(v->state.preorder_limit, 4);
	assert_string_equal(v->state.preorder_message, "preorder now");
	/* spec 1.3 scenario 4: quantity 0 with preorder on */
	assert_int_equal(v->status, SL_STATUS_PREORDER);

	cmd_update("sku-1");
	cmd.has_preorder_enabled = true;
	cmd.preorder_enabled = false;
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(view_of("sku-1")->status, SL_STATUS_OUT_OF_STOCK);
}

static void test_ledger_decide_deletes_an_item(void **state)
{
	(void)state;
	create_quantity_ok("sku-1", 3);
	cmd_reset(SL_CMD_DELETE, "sku-1");
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(n_events, 1);
	assert_int_equal(events[0].type, SL_EV_ITEM_DELETED);
	assert_int_equal(events[0].item_seq, 2);
	assert_true(events[0].before.exists);
	assert_false(events[0].after.exists);
	assert_int_equal(view_of("sku-1")->status, SL_STATUS_UNKNOWN);

	cmd_reset(SL_CMD_DELETE, "sku-1");
	expect_refused(SL_ERR_NOT_FOUND);
	cmd_reset(SL_CMD_UPDATE, "sku-1");
	cmd.has_revision = true;
	cmd.revision = view_of("sku-1")->revision;
	expect_refused(SL_ERR_NOT_FOUND);
	adjust1(SL_CMD_INCREMENT, "sku-1", 1);
	expect_refused(SL_ERR_NOT_FOUND);
	assert_true(err.has_index);
	assert_int_equal(err.index, 0);
}

static void test_ledger_decide_quantity_range_is_minus_100000_to_1000000(void **state)
{
	(void)state;
	/* spec 2.1 (minimum -100000, maximum 1000000) and 2.5 scenario 9 */
	cmd_create_quantity("low", SL_QUANTITY_MIN - 1);
	expect_refused(SL_ERR_INVALID_ARGUMENT);
	cmd_create_quantity("high", SL_QUANTITY_MAX + 1);
	expect_refused(SL_ERR_INVALID_ARGUMENT);
	create_quantity_ok("low", SL_QUANTITY_MIN);
	create_quantity_ok("high", SL_QUANTITY_MAX);
	assert_int_equal(view_of("low")->status, SL_STATUS_OUT_OF_STOCK);

	cmd_update("high");
	cmd.has_quantity = true;
	cmd.quantity = SL_QUANTITY_MAX + 1;
	expect_refused(SL_ERR_INVALID_ARGUMENT);
	cmd.quantity = SL_QUANTITY_MIN - 1;
	expect_refused(SL_ERR_INVALID_ARGUMENT);

	/* an adjustment that would leave the range is refused with the line's index */
	cmd_lines(SL_CMD_INCREMENT, 2);
	line_set(0, "low", 1);
	line_set(1, "high", 1);
	expect_refused(SL_ERR_LIMIT_EXCEEDED);
	assert_true(err.has_index);
	assert_int_equal(err.index, 1);
	adjust1(SL_CMD_DECREMENT, "low", 1);
	expect_refused(SL_ERR_LIMIT_EXCEEDED);
	assert_int_equal(quantity_of("low"), SL_QUANTITY_MIN);
	assert_int_equal(quantity_of("high"), SL_QUANTITY_MAX);

	/* the largest line crosses the whole range */
	adjust1(SL_CMD_INCREMENT, "low", SL_LINE_QUANTITY_MAX);
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(quantity_of("low"), SL_QUANTITY_MAX);
	adjust1(SL_CMD_DECREMENT, "high", SL_LINE_QUANTITY_MAX);
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(quantity_of("high"), SL_QUANTITY_MIN);
}

static void test_ledger_decide_line_quantity_is_1_to_the_line_max(void **state)
{
	(void)state;
	create_quantity_ok("sku-1", 0);
	const int64_t bad[] = {0, -1, SL_LINE_QUANTITY_MAX + 1, INT64_MIN, INT64_MAX};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (int type = SL_CMD_INCREMENT; type <= SL_CMD_DECREMENT; type++) {
			cmd_lines((sl_cmd_type)type, 2);
			line_set(0, "sku-1", 1);
			line_set(1, "sku-1", bad[i]);
			expect_refused(SL_ERR_INVALID_ARGUMENT);
			assert_true(err.has_index);
			assert_int_equal(err.index, 1);
		}
	}
	assert_int_equal(quantity_of("sku-1"), 0);
}

static void test_ledger_decide_takes_up_to_300_lines_and_refuses_301(void **state)
{
	(void)state;
	char product[32];
	for (int i = 0; i <= SL_LINES_MAX; i++) {
		snprintf(product, sizeof(product), "sku-%d", i);
		create_quantity_ok(product, 0);
	}
	/* spec 3 scenario 4 and 2.5 scenario 10 */
	for (int type = SL_CMD_INCREMENT; type <= SL_CMD_DECREMENT; type++) {
		cmd_lines((sl_cmd_type)type, SL_LINES_MAX + 1);
		for (int i = 0; i <= SL_LINES_MAX; i++) {
			snprintf(product, sizeof(product), "sku-%d", i);
			line_set((size_t)i, product, 1);
		}
		expect_refused(SL_ERR_LIMIT_EXCEEDED);
	}
	cmd_lines(SL_CMD_INCREMENT, 0);
	expect_refused(SL_ERR_INVALID_ARGUMENT);

	uint64_t first = w.next_seq;
	cmd_lines(SL_CMD_INCREMENT, SL_LINES_MAX);
	for (int i = 0; i < SL_LINES_MAX; i++) {
		snprintf(product, sizeof(product), "sku-%d", i);
		line_set((size_t)i, product, i + 1);
	}
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(n_events, SL_LINES_MAX);
	for (int i = 0; i < SL_LINES_MAX; i++) {
		assert_int_equal(events[i].seq, first + (uint64_t)i);
		assert_int_equal(events[i].command_seq, first);
		assert_int_equal(events[i].line, i);
		assert_int_equal(events[i].type, SL_EV_ITEM_INCREMENTED);
		assert_int_equal(events[i].delta_quantity, i + 1);
		snprintf(product, sizeof(product), "sku-%d", i);
		assert_int_equal(quantity_of(product), i + 1);
	}
	assert_int_equal(quantity_of("sku-300"), 0);
}

static void test_ledger_decide_lines_on_one_item_see_the_lines_before_them(void **state)
{
	(void)state;
	create_quantity_ok("sku-1", 3);
	cmd_lines(SL_CMD_DECREMENT, 3);
	cmd.is_restricted = true;
	line_set(0, "sku-1", 1);
	line_set(1, "sku-1", 2);
	line_set(2, "sku-1", 1);
	expect_refused(SL_ERR_INSUFFICIENT_INVENTORY);
	assert_int_equal(err.n_shortages, 1);
	assert_int_equal(err.shortages[0].index, 2);
	assert_int_equal(err.shortages[0].requested, 1);
	assert_int_equal(err.shortages[0].available, 0);
	assert_int_equal(quantity_of("sku-1"), 3);

	cmd.n_lines = 2;
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(n_events, 2);
	assert_int_equal(events[0].item_seq, 2);
	assert_int_equal(events[1].item_seq, 3);
	assert_int_equal(events[1].before.quantity, events[0].after.quantity);
	assert_int_equal(events[1].after.quantity, 0);
	assert_false(events[1].after.in_stock);
	assert_int_equal(view_of("sku-1")->revision, 3);
}

static void test_ledger_decide_restricted_decrement_short_of_stock_changes_nothing(void **state)
{
	(void)state;
	create_quantity_ok("A", 1);
	create_quantity_ok("B", 5);
	create_quantity_ok("C", -2);
	/* spec 3 scenario 1 */
	cmd_lines(SL_CMD_DECREMENT, 2);
	cmd.is_restricted = true;
	line_set(0, "A", 2);
	line_set(1, "B", 1);
	expect_refused(SL_ERR_INSUFFICIENT_INVENTORY);
	assert_int_equal(err.n_shortages, 1);
	assert_int_equal(err.shortages[0].index, 0);
	assert_string_equal(err.shortages[0].item.product_id, "A");
	assert_int_equal(err.shortages[0].requested, 2);
	assert_int_equal(err.shortages[0].available, 1);
	assert_int_equal(quantity_of("A"), 1);
	assert_int_equal(quantity_of("B"), 5);

	/* every short line is named, with what it could have had; a negative quantity has
	 * nothing available */
	cmd_lines(SL_CMD_DECREMENT, 4);
	cmd.is_restricted = true;
	line_set(0, "B", 1);
	line_set(1, "A", 2);
	line_set(2, "B", 9);
	line_set(3, "C", 1);
	expect_refused(SL_ERR_INSUFFICIENT_INVENTORY);
	assert_int_equal(err.n_shortages, 3);
	const struct {
		uint32_t index;
		const char *product;
		int64_t requested, available;
	} want[] = {{1, "A", 2, 1}, {2, "B", 9, 4}, {3, "C", 1, 0}};
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(err.shortages[i].index, want[i].index);
		assert_string_equal(err.shortages[i].item.product_id, want[i].product);
		assert_int_equal(err.shortages[i].requested, want[i].requested);
		assert_int_equal(err.shortages[i].available, want[i].available);
	}
	assert_int_equal(quantity_of("B"), 5);

	/* spec 2.5 scenario 4: exactly the stock is fine */
	adjust1(SL_CMD_DECREMENT, "B", 5);
	cmd.is_restricted = true;
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(quantity_of("B"), 0);
	assert_int_equal(view_of("B")->status, SL_STATUS_OUT_OF_STOCK);
}

static void test_ledger_decide_unrestricted_decrement_goes_negative(void **state)
{
	(void)state;
	create_quantity_ok("A", 1);
	create_quantity_ok("B", 5);
	/* spec 3 scenarios 2 and 3 */
	cmd_lines(SL_CMD_DECREMENT, 2);
	line_set(0, "A", 2);
	line_set(1, "B", 1);
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(quantity_of("A"), -1);
	assert_int_equal(quantity_of("B"), 4);
	assert_false(view_of("A")->state.in_stock);
	assert_int_equal(view_of("A")->status, SL_STATUS_OUT_OF_STOCK);
	assert_int_equal(events[0].delta_quantity, -2);

	cmd_lines(SL_CMD_INCREMENT, 2);
	line_set(0, "A", 2);
	line_set(1, "B", 1);
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(quantity_of("A"), 1);
	assert_int_equal(quantity_of("B"), 5);
	assert_true(view_of("A")->state.in_stock);
}

static void test_ledger_decide_preorder_request_takes_preorder_units_within_the_limit(void **state)
{
	(void)state;
	/* spec 2.5 scenario 12 */
	create_preorder_ok("sku-1", 2, 3);
	adjust1(SL_CMD_DECREMENT, "sku-1", 4);
	cmd.is_restricted = true;
	cmd.is_preorder_request = true;
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(events[0].after.quantity, 0);
	assert_int_equal(events[0].after.preorder_counter, 2);
	assert_int_equal(events[0].delta_quantity, -2);
	assert_int_equal(events[0].delta_counter, 2);
	assert_int_equal(view_of("sku-1")->status, SL_STATUS_PREORDER);

	adjust1(SL_CMD_DECREMENT, "sku-1", 2);
	cmd.is_restricted = true;
	cmd.is_preorder_request = true;
	expect_refused(SL_ERR_INSUFFICIENT_INVENTORY);
	assert_int_equal(err.n_shortages, 1);
	assert_int_equal(err.shortages[0].available, 1);

	cmd.lines[0].quantity = 1;
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(view_of("sku-1")->state.preorder_counter, 3);
	assert_int_equal(view_of("sku-1")->status, SL_STATUS_OUT_OF_STOCK);

	/* spec 2.2: 10 in stock with a limit of 50 sell 60, not 61 */
	create_preorder_ok("sku-2", 10, 50);
	adjust1(SL_CMD_DECREMENT, "sku-2", 61);
	cmd.is_restricted = true;
	cmd.is_preorder_request = true;
	expect_refused(SL_ERR_INSUFFICIENT_INVENTORY);
	assert_int_equal(err.shortages[0].available, 60);
	cmd.lines[0].quantity = 60;
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(quantity_of("sku-2"), 0);
	assert_int_equal(view_of("sku-2")->state.preorder_counter, 50);
}

static void test_ledger_decide_preorder_request_without_a_limit_keeps_the_quantity(void **state)
{
	(void)state;
	/* spec 2.5 scenario 6 */
	create_preorder_ok("sku-1", 0, -1);
	assert_int_equal(view_of("sku-1")->status, SL_STATUS_PREORDER);
	adjust1(SL_CMD_DECREMENT, "sku-1", 2);
	cmd.is_restricted = true;
	cmd.is_preorder_request = true;
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(quantity_of("sku-1"), 0);
	assert_int_equal(view_of("sku-1")->state.preorder_counter, 2);
	assert_int_equal(view_of("sku-1")->status, SL_STATUS_PREORDER);
}

static void test_ledger_decide_preorder_units_need_a_preorder_request_and_preorder_on(void **state)
{
	(void)state;
	create_preorder_ok("on", 0, 5);
	create_quantity_ok("off", 0);
	/* preorder is on, but the request is not a preorder request */
	adjust1(SL_CMD_DECREMENT, "on", 1);
	cmd.is_restricted = true;
	expect_refused(SL_ERR_INSUFFICIENT_INVENTORY);
	assert_int_equal(err.shortages[0].available, 0);
	/* a preorder request on an item without preorder */
	adjust1(SL_CMD_DECREMENT, "off", 1);
	cmd.is_restricted = true;
	cmd.is_preorder_request = true;
	expect_refused(SL_ERR_INSUFFICIENT_INVENTORY);
	/* unrestricted, both take from the quantity and leave the counter alone */
	adjust1(SL_CMD_DECREMENT, "on", 1);
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(quantity_of("on"), -1);
	assert_int_equal(view_of("on")->state.preorder_counter, 0);
	adjust1(SL_CMD_DECREMENT, "off", 1);
	cmd.is_preorder_request = true;
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(quantity_of("off"), -1);
	assert_int_equal(view_of("off")->state.preorder_counter, 0);
}

static void
test_ledger_decide_unrestricted_preorder_request_goes_negative_past_the_limit(void **state)
{
	(void)state;
	/* stock first, then the preorder units left, then below zero (docs/decisions.md) */
	create_preorder_ok("sku-1", 2, 3);
	adjust1(SL_CMD_DECREMENT, "sku-1", 7);
	cmd.is_preorder_request = true;
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(events[0].after.quantity, -2);
	assert_int_equal(events[0].after.preorder_counter, 3);
	assert_int_equal(events[0].delta_quantity, -4);
	assert_int_equal(events[0].delta_counter, 3);
	assert_false(events[0].after.in_stock);
	assert_int_equal(view_of("sku-1")->status, SL_STATUS_OUT_OF_STOCK);
}

static void test_ledger_decide_counter_over_a_lowered_limit_leaves_no_preorder_units(void **state)
{
	(void)state;
	create_preorder_ok("sku-1", 0, 5);
	adjust1(SL_CMD_DECREMENT, "sku-1", 4);
	cmd.is_restricted = true;
	cmd.is_preorder_request = true;
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(view_of("sku-1")->state.preorder_counter, 4);
	cmd_update("sku-1");
	cmd.has_preorder_limit = true;
	cmd.preorder_limit = 2;
	assert_int_equal(decide(), SL_OK);
	/* the counter is past the limit: no unit is left, and none is negative */
	assert_int_equal(view_of("sku-1")->status, SL_STATUS_OUT_OF_STOCK);
	adjust1(SL_CMD_DECREMENT, "sku-1", 1);
	cmd.is_restricted = true;
	cmd.is_preorder_request = true;
	expect_refused(SL_ERR_INSUFFICIENT_INVENTORY);
	assert_int_equal(err.shortages[0].available, 0);
	assert_int_equal(view_of("sku-1")->state.preorder_counter, 4);
	/* unrestricted, the line comes from the quantity and the counter stays */
	cmd.is_restricted = false;
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(quantity_of("sku-1"), -1);
	assert_int_equal(view_of("sku-1")->state.preorder_counter, 4);
}

static void test_ledger_decide_follows_the_v1_and_v3_adjustment_scenarios(void **state)
{
	(void)state;
	/* spec 1.3 scenario 1: 4 + 2, the event carries old and new values */
	create_quantity_ok("s1", 4);
	adjust1(SL_CMD_INCREMENT, "s1", 2);
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(events[0].before.quantity, 4);
	assert_true(events[0].before.in_stock);
	assert_int_equal(events[0].after.quantity, 6);
	assert_true(events[0].after.in_stock);
	/* spec 1.3 scenario 2: 1 - 1 reaches 0 and goes out of stock */
	create_quantity_ok("s2", 1);
	adjust1(SL_CMD_DECREMENT, "s2", 1);
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(quantity_of("s2"), 0);
	assert_false(view_of("s2")->state.in_stock);
	assert_int_equal(view_of("s2")->status, SL_STATUS_OUT_OF_STOCK);
	/* spec 1.3 scenario 3: an untracked item set out of stock by hand */
	cmd_create_in_stock("s3", true);
	assert_int_equal(decide(), SL_OK);
	cmd_update("s3");
	cmd.has_in_stock = true;
	cmd.in_stock = false;
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(view_of("s3")->status, SL_STATUS_OUT_OF_STOCK);
	assert_int_equal(view_of("s3")->state.quantity, 0);
	/* spec 2.5 scenario 5: 2 - 3 unrestricted without preorder is -1, out of stock */
	create_quantity_ok("s5", 2);
	adjust1(SL_CMD_DECREMENT, "s5", 3);
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(quantity_of("s5"), -1);
	assert_int_equal(view_of("s5")->status, SL_STATUS_OUT_OF_STOCK);
	assert_int_equal(view_of("s5")->state.preorder_counter, 0);
}

static void test_ledger_decide_validates_a_command_before_looking_up_its_items(void **state)
{
	(void)state;
	/* docs/decisions.md: an invalid command on an unknown item is INVALID_ARGUMENT */
	w.lookups = 0;
	cmd_reset(SL_CMD_UPDATE, "nobody");
	cmd.has_revision = true;
	cmd.revision = 1;
	cmd.has_quantity = true;
	cmd.quantity = SL_QUANTITY_MAX + 1;
	expect_refused(SL_ERR_INVALID_ARGUMENT);
	cmd.quantity = 1;
	cmd.has_preorder_limit = true;
	cmd.preorder_limit = -1;
	expect_refused(SL_ERR_INVALID_ARGUMENT);
	cmd_create_quantity("nobody", SL_QUANTITY_MIN - 1);
	expect_refused(SL_ERR_INVALID_ARGUMENT);
	cmd_lines(SL_CMD_DECREMENT, 2);
	line_set(0, "nobody", 1);
	line_set(1, "nobody-2", 0);
	expect_refused(SL_ERR_INVALID_ARGUMENT);
	assert_int_equal(err.index, 1);
	cmd_lines(SL_CMD_INCREMENT, SL_LINES_MAX + 1);
	for (size_t i = 0; i <= SL_LINES_MAX; i++)
		line_set(i, "nobody", 1);
	expect_refused(SL_ERR_LIMIT_EXCEEDED);
	assert_int_equal(w.lookups, 0);
}

static void test_ledger_decide_refuses_to_adjust_an_in_stock_tracked_item(void **state)
{
	(void)state;
	create_quantity_ok("counted", 5);
	cmd_create_in_stock("digital", true);
	assert_int_equal(decide(), SL_OK);
	/* spec 2.5 scenario 7 */
	for (int type = SL_CMD_INCREMENT; type <= SL_CMD_DECREMENT; type++) {
		cmd_lines((sl_cmd_type)type, 2);
		line_set(0, "counted", 1);
		line_set(1, "digital", 1);
		expect_refused(SL_ERR_QUANTITY_NOT_TRACKED);
		assert_true(err.has_index);
		assert_int_equal(err.index, 1);
	}
	assert_int_equal(quantity_of("counted"), 5);
	assert_int_equal(view_of("digital")->revision, 1);
}

/* A short line is gathered while the lines are decided; when a later line refuses the
 * command for another reason, the refusal carries no shortages (README: details.items lists
 * the short lines of INSUFFICIENT_INVENTORY). */
static void test_ledger_decide_other_refusals_carry_no_shortages(void **state)
{
	(void)state;
	create_quantity_ok("mug", 1);
	cmd_create_in_stock("digital", true);
	assert_int_equal(decide(), SL_OK);
	const char *const second[] = {"digital", "nosuch"};
	const sl_err code[] = {SL_ERR_QUANTITY_NOT_TRACKED, SL_ERR_NOT_FOUND};
	for (size_t k = 0; k < 2; k++) {
		cmd_lines(SL_CMD_DECREMENT, 2);
		line_set(0, "mug", 99);
		line_set(1, second[k], 1);
		cmd.is_restricted = true;
		expect_refused(code[k]);
		assert_int_equal(err.n_shortages, 0);
		assert_null(err.shortages);
		assert_int_equal(err.index, 1);
	}
	/* the short line alone is what it says */
	adjust1(SL_CMD_DECREMENT, "mug", 99);
	cmd.is_restricted = true;
	expect_refused(SL_ERR_INSUFFICIENT_INVENTORY);
	assert_int_equal(err.n_shortages, 1);
	assert_int_equal(quantity_of("mug"), 1);
}

/* docs/decisions.md: "the counter counts units sold on preorder, which an operator resets
 * with an update": --reset-preorder-counter, and the item can be preordered again. */
static void test_ledger_decide_update_resets_the_preorder_counter(void **state)
{
	(void)state;
	create_preorder_ok("pc", 0, 2);
	adjust1(SL_CMD_DECREMENT, "pc", 2);
	cmd.is_restricted = true;
	cmd.is_preorder_request = true;
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(view_of("pc")->state.preorder_counter, 2);
	assert_int_equal(view_of("pc")->status, SL_STATUS_OUT_OF_STOCK);
	/* turning preorder off and on, or setting the limit again, keeps the counter */
	cmd_update("pc");
	cmd.has_preorder_limit = true;
	cmd.preorder_limit = 2;
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(view_of("pc")->state.preorder_counter, 2);

	cmd_update("pc");
	cmd.reset_preorder_counter = true;
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(events[0].type, SL_EV_ITEM_UPDATED);
	assert_int_equal(events[0].before.preorder_counter, 2);
	assert_int_equal(events[0].after.preorder_counter, 0);
	assert_int_equal(events[0].delta_counter, -2);
	assert_int_equal(events[0].delta_quantity, 0);
	assert_int_equal(view_of("pc")->status, SL_STATUS_PREORDER);
	assert_true(view_of("pc")->state.has_preorder_limit);
	adjust1(SL_CMD_DECREMENT, "pc", 2);
	cmd.is_restricted = true;
	cmd.is_preorder_request = true;
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(view_of("pc")->state.preorder_counter, 2);
	/* a stale revision resets nothing */
	cmd_update("pc");
	cmd.revision--;
	cmd.reset_preorder_counter = true;
	expect_refused(SL_ERR_REVISION_MISMATCH);
	assert_int_equal(view_of("pc")->state.preorder_counter, 2);
}

/* docs/decisions.md, "Validation before existence": an update that asks for a limit with
 * in-stock tracking is invalid on its own, whether the item exists or not. */
static void test_ledger_decide_invalid_update_of_an_unknown_item_is_invalid(void **state)
{
	(void)state;
	cmd_reset(SL_CMD_UPDATE, "nosuch");
	cmd.has_revision = true;
	cmd.revision = 1;
	cmd.has_in_stock = true;
	cmd.in_stock = true;
	cmd.has_preorder_limit = true;
	cmd.preorder_limit = 3;
	expect_refused(SL_ERR_INVALID_ARGUMENT);
	assert_int_equal(w.lookups, 0);
}

static void test_ledger_decide_adjust_of_an_unknown_item_names_its_line(void **state)
{
	(void)state;
	create_quantity_ok("known", 5);
	cmd_lines(SL_CMD_DECREMENT, 3);
	line_set(0, "known", 1);
	line_set(1, "known", 1);
	line_set(2, "unknown", 1);
	expect_refused(SL_ERR_NOT_FOUND);
	assert_true(err.has_index);
	assert_int_equal(err.index, 2);
	assert_non_null(strstr(err.message, "unknown"));
	assert_int_equal(quantity_of("known"), 5);
}

/* Ids a client might send that are not ids (spec 2.1: ids are GUID-like strings). */
static const char *const bad_ids[] = {
    "", " ", "a b", " a", "a ", "a\tb", "a\nb", "a/b", "a@b", "a=b", "\x7f", "caf\xc3\xa9",
};

static void test_ledger_decide_refuses_invalid_ids(void **state)
{
	(void)state;
	char max_id[SL_ID_MAX + 1];
	memset(max_id, 'x', SL_ID_MAX);
	max_id[SL_ID_MAX] = '\0';
	create_quantity_ok("ok", 1);
	create_quantity_ok("a:b", 1); /* ':' is no separator of an id (issue 2's rule) */
	for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
		for (int part = 0; part < 3; part++) {
			cmd_create_quantity("ok-2", 1);
			char *id = part == 0   ? cmd.item.product_id
			           : part == 1 ? cmd.item.variant_id
			                       : cmd.item.location_id;
			sl_strlcpy(id, bad_ids[i], SL_ID_MAX + 1);
			w.lookups = 0;
			expect_refused(SL_ERR_INVALID_ARGUMENT);
			assert_int_equal(w.lookups, 0);
			assert_int_equal(ledger_item_key_validate(&cmd.item, &err),
			                 SL_ERR_INVALID_ARGUMENT);
		}
		adjust1(SL_CMD_INCREMENT, "ok", 1);
		sl_strlcpy(cmd.lines[0].item.variant_id, bad_ids[i], SL_ID_MAX + 1);
		expect_refused(SL_ERR_INVALID_ARGUMENT);
		assert_true(err.has_index);
		assert_int_equal(err.index, 0);
		adjust1(SL_CMD_INCREMENT, "ok", 1);
		if (bad_ids[i][0] != '\0') { /* an empty order id means "none" */
			sl_strlcpy(cmd.order_id, bad_ids[i], sizeof(cmd.order_id));
			expect_refused(SL_ERR_INVALID_ARGUMENT);
		}
	}
	assert_int_equal(quantity_of("ok"), 1);

	/* 64 bytes is an id; 65 bytes never reaches the rules (the decoder marks the field) */
	cmd_create_quantity(max_id, 1);
	sl_strlcpy(cmd.item.location_id, max_id, sizeof(cmd.item.location_id));
	sl_strlcpy(cmd.order_id, max_id, sizeof(cmd.order_id));
	assert_int_equal(decide(), SL_OK);
	cmd_create_quantity("ok-3", 1);
	sl_strlcpy(cmd.malformed_field, "productId", sizeof(cmd.malformed_field));
	expect_refused(SL_ERR_INVALID_ARGUMENT);
	assert_non_null(strstr(err.message, "productId"));
}

static void test_ledger_decide_passes_on_a_storage_error_of_the_lookup(void **state)
{
	(void)state;
	create_quantity_ok("sku-1", 5);
	w.lookup_fails_with = SL_ERR_STORAGE;
	cmd_create_quantity("sku-2", 1);
	expect_refused(SL_ERR_STORAGE);
	cmd_update("sku-1");
	expect_refused(SL_ERR_STORAGE);
	cmd_reset(SL_CMD_DELETE, "sku-1");
	expect_refused(SL_ERR_STORAGE);
	adjust1(SL_CMD_DECREMENT, "sku-1", 1);
	expect_refused(SL_ERR_STORAGE);
	w.lookup_fails_with = SL_OK;
	assert_int_equal(quantity_of("sku-1"), 5);
}

static void test_ledger_decide_refuses_a_command_that_is_not_a_write(void **state)
{
	(void)state;
	const sl_cmd_type reads[] = {SL_CMD_NONE, SL_CMD_GET, SL_CMD_HISTORY, SL_CMD_HEAD};
	for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
		cmd_reset(reads[i], "sku-1");
		expect_refused(SL_ERR_UNKNOWN_COMMAND);
	}
}

static void test_ledger_decide_revision_goes_up_by_one_per_change(void **state)
{
	(void)state;
	create_quantity_ok("sku-1", 5);
	assert_int_equal(view_of("sku-1")->revision, 1);
	cmd_update("sku-1");
	cmd.has_quantity = true;
	cmd.quantity = 6;
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(view_of("sku-1")->revision, 2);
	/* increments and decrements take no revision but bump it (spec 2.3 [derived]) */
	adjust1(SL_CMD_INCREMENT, "sku-1", 1);
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(view_of("sku-1")->revision, 3);
	adjust1(SL_CMD_DECREMENT, "sku-1", 1);
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(view_of("sku-1")->revision, 4);
	/* one per event: two lines on the item are two changes */
	cmd_lines(SL_CMD_INCREMENT, 2);
	line_set(0, "sku-1", 1);
	line_set(1, "sku-1", 1);
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(view_of("sku-1")->revision, 6);
	/* a refusal changes nothing */
	adjust1(SL_CMD_DECREMENT, "sku-1", 100);
	cmd.is_restricted = true;
	expect_refused(SL_ERR_INSUFFICIENT_INVENTORY);
	cmd_update("sku-1");
	cmd.revision--;
	expect_refused(SL_ERR_REVISION_MISMATCH);
	assert_int_equal(view_of("sku-1")->revision, 6);
	/* an update that changes no field is still an update */
	cmd_update("sku-1");
	assert_int_equal(decide(), SL_OK);
	assert_int_equal(view_of("sku-1")->revision, 7);
	assert_int_equal(view_of("sku-1")->item_seq, 7);
}

/* encode_events writes the encodings of the decided events into out. */
static void encode_events(sl_buf *out)
{
	out->len = 0;
	for (size_t i = 0; i < n_events; i++)
		assert_int_equal(ledger_event_encode(&events[i], out), SL_OK);
}

static void test_ledger_decide_is_a_function_of_its_inputs(void **state)
{
	(void)state;
	create_preorder_ok("A", 3, 2);
	create_quantity_ok("B", 1);
	cmd_lines(SL_CMD_DECREMENT, 3);
	cmd.is_preorder_request = true;
	sl_strlcpy(cmd.reason, "ORDER", sizeof(cmd.reason));
	line_set(0, "A", 4);
	line_set(1, "B", 2);
	line_set(2, "A", 1);
	ledger_decide_env env = {
	    .lookup = world_lookup, .lookup_ctx = &w, .next_seq = w.next_seq, .time_ms = w.time_ms};
	sl_buf first, again;
	sl_buf_init(&first);
	sl_buf_init(&again);
	assert_int_equal(ledger_decide(&cmd, &env, events, &n_events, &err), SL_OK);
	encode_events(&first);
	memset(events, 0xa5, sizeof(events[0]) * n_events);
	assert_int_equal(ledger_decide(&cmd, &env, events, &n_events, &err), SL_OK);
	encode_events(&again);
	assert_int_equal(n_events, 3);
	assert_int_equal(first.len, again.len);
	assert_memory_equal(first.data, again.data, first.len);
	assert_int_equal(events[2].before.preorder_counter, 1);
	assert_int_equal(events[2].after.preorder_counter, 2);
	sl_buf_fini(&first);
	sl_buf_fini(&again);
}

static sl_item_state state_make(bool track_quantity, int64_t quantity, bool in_stock,
                                bool preorder_enabled, int64_t limit, int64_t counter)
{
	sl_item_state s;
	memset(&s, 0, sizeof(s));
	s.exists = true;
	s.track_quantity = track_quantity;
	s.quantity = quantity;
	s.in_stock = in_stock;
	s.preorder_enabled = preorder_enabled;
	s.has_preorder_limit = limit >= 0;
	s.preorder_limit = limit >= 0 ? limit : 0;
	s.preorder_counter = counter;
	return s;
}

static void test_ledger_item_status_follows_the_spec_table(void **state)
{
	(void)state;
	/* spec 2.2, the derived rule set; limit -1: no limit */
	const struct {
		bool track, in_stock, preorder;
		int64_t quantity, limit, counter;
		sl_status want;
	} cases[] = {
	    {true, true, false, 1, -1, 0, SL_STATUS_IN_STOCK},
	    {true, true, true, 1, 0, 0, SL_STATUS_IN_STOCK},
	    {true, false, false, 0, -1, 0, SL_STATUS_OUT_OF_STOCK},
	    {true, false, false, -5, -1, 0, SL_STATUS_OUT_OF_STOCK},
	    {true, false, true, 0, -1, 1000, SL_STATUS_PREORDER},
	    {true, false, true, -5, -1, 0, SL_STATUS_PREORDER},
	    {true, false, true, 0, 3, 2, SL_STATUS_PREORDER},
	    {true, false, true, 0, 3, 3, SL_STATUS_OUT_OF_STOCK},
	    {true, false, true, 0, 0, 0, SL_STATUS_OUT_OF_STOCK},
	    {false, true, false, 0, -1, 0, SL_STATUS_IN_STOCK},
	    {false, true, true, 0, -1, 0, SL_STATUS_IN_STOCK},
	    {false, false, true, 0, -1, 0, SL_STATUS_PREORDER},
	    {false, false, true, 0, -1, 99, SL_STATUS_PREORDER},
	    {false, false, false, 0, -1, 0, SL_STATUS_OUT_OF_STOCK},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sl_item_state s = state_make(cases[i].track, cases[i].quantity, cases[i].in_stock,
		                             cases[i].preorder, cases[i].limit, cases[i].counter);
		if (ledger_item_status(&s) != cases[i].want)
			fail_msg("case %zu: want status %d, got %d", i, cases[i].want,
			         ledger_item_status(&s));
		s.exists = false;
		assert_int_equal(ledger_item_status(&s), SL_STATUS_UNKNOWN);
	}
}

#define T(name) cmocka_unit_test_setup_teardown(name, world_setup, world_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_ledger_decide_creates_a_quantity_tracked_item),
	    T(test_ledger_decide_creates_an_in_stock_tracked_item),
	    T(test_ledger_decide_create_wants_exactly_one_of_quantity_and_in_stock),
	    T(test_ledger_decide_create_refuses_an_item_that_exists),
	    T(test_ledger_decide_recreates_a_deleted_item_without_a_gap_in_item_seq),
	    T(test_ledger_decide_update_refuses_a_missing_or_stale_revision),
	    T(test_ledger_decide_update_keeps_what_it_is_not_given),
	    T(test_ledger_decide_update_of_an_unknown_item_is_not_found),
	    T(test_ledger_decide_update_refuses_both_quantity_and_in_stock),
	    T(test_ledger_decide_update_switches_the_tracking_method),
	    T(test_ledger_decide_preorder_limit_needs_quantity_tracking),
	    T(test_ledger_decide_preorder_limit_is_0_to_its_max),
	    T(test_ledger_decide_update_sets_the_preorder_settings),
	    T(test_ledger_decide_deletes_an_item),
	    T(test_ledger_decide_quantity_range_is_minus_100000_to_1000000),
	    T(test_ledger_decide_line_quantity_is_1_to_the_line_max),
	    T(test_ledger_decide_takes_up_to_300_lines_and_refuses_301),
	    T(test_ledger_decide_lines_on_one_item_see_the_lines_before_them),
	    T(test_ledger_decide_restricted_decrement_short_of_stock_changes_nothing),
	    T(test_ledger_decide_unrestricted_decrement_goes_negative),
	    T(test_ledger_decide_preorder_request_takes_preorder_units_within_the_limit),
	    T(test_ledger_decide_preorder_request_without_a_limit_keeps_the_quantity),
	    T(test_ledger_decide_preorder_units_need_a_preorder_request_and_preorder_on),
	    T(test_ledger_decide_unrestricted_preorder_request_goes_negative_past_the_limit),
	    T(test_ledger_decide_counter_over_a_lowered_limit_leaves_no_preorder_units),
	    T(test_ledger_decide_follows_the_v1_and_v3_adjustment_scenarios),
	    T(test_ledger_decide_validates_a_command_before_looking_up_its_items),
	    T(test_ledger_decide_refuses_to_adjust_an_in_stock_tracked_item),
	    T(test_ledger_decide_other_refusals_carry_no_shortages),
	    T(test_ledger_decide_update_resets_the_preorder_counter),
	    T(test_ledger_decide_invalid_update_of_an_unknown_item_is_invalid),
	    T(test_ledger_decide_adjust_of_an_unknown_item_names_its_line),
	    T(test_ledger_decide_refuses_invalid_ids),
	    T(test_ledger_decide_passes_on_a_storage_error_of_the_lookup),
	    T(test_ledger_decide_refuses_a_command_that_is_not_a_write),
	    T(test_ledger_decide_revision_goes_up_by_one_per_change),
	    T(test_ledger_decide_is_a_function_of_its_inputs),
	    T(test_ledger_item_status_follows_the_spec_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * stock_test.c: the stock fold, stock_view_apply, on its own: no store, no rules.
 *
 * Method: events are built by hand the way the rules write them (whole before- and
 * after-states) and folded into views. Each event type is checked for the bookkeeping the
 * fold derives (revision, dates, numeric id, item_seq, last_seq, availability). Every way an
 * event can fail to follow from the view is tried, and the view must come back byte for byte
 * as it was. Determinism is checked with memcmp: the same events folded twice, and folded
 * again after an encode/decode round trip through the codec, give identical bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "base/banned.h"
#include "base/sl_util.h"
#include "ledger/codec.h"
#include "projector/stock.h"

#define T0_MS 1796401854000LL

static void key_set(sl_item_key *k, const char *product)
{
	memset(k, 0, sizeof(*k));
	sl_strlcpy(k->product_id, product, sizeof(k->product_id));
	sl_strlcpy(k->variant_id, SL_DEFAULT_VARIANT, sizeof(k->variant_id));
	sl_strlcpy(k->location_id, SL_DEFAULT_LOCATION, sizeof(k->location_id));
}

/* event_next builds the event of type that takes view to after, as the rules would. */
static void event_next(sl_event *ev, const sl_item *view, const char *product, uint64_t seq,
                       sl_event_type type, const sl_item_state *after)
{
	memset(ev, 0, sizeof(*ev));
	ev->seq = seq;
	ev->command_seq = seq;
	ev->time_ms = T0_MS + (int64_t)seq * 1000;
	ev->type = type;
	ev->item_seq = view->item_seq + 1;
	key_set(&ev->item, product);
	ev->before = view->state;
	ev->after = *after;
	ev->delta_quantity = after->quantity - view->state.quantity;
	ev->delta_counter = after->preorder_counter - view->state.preorder_counter;
}

static sl_item_state qty_state(int64_t quantity)
{
	sl_item_state s;
	memset(&s, 0, sizeof(s));
	s.exists = true;
	s.track_quantity = true;
	s.quantity = quantity;
	s.in_stock = quantity > 0;
	return s;
}

/* apply_ok builds the next event of the view and folds it in. */
static void apply_ok(sl_item *view, const char *product, uint64_t seq, sl_event_type type,
                     const sl_item_state *after)
{
	sl_event ev;
	event_next(&ev, view, product, seq, type, after);
	assert_int_equal(stock_view_apply(view, &ev), SL_OK);
}

static void test_stock_view_apply_folds_a_create_into_an_empty_view(void **state)
{
	(void)state;
	sl_item v;
	memset(&v, 0, sizeof(v));
	sl_item_state s = qty_state(10);
	apply_ok(&v, "sku-1", 41, SL_EV_ITEM_CREATED, &s);
	assert_string_equal(v.key.product_id, "sku-1");
	assert_string_equal(v.key.location_id, SL_DEFAULT_LOCATION);
	assert_true(v.state.exists);
	assert_int_equal(v.state.quantity, 10);
	assert_int_equal(v.revision, 1);
	assert_int_equal(v.created_ms, T0_MS + 41000);
	assert_int_equal(v.updated_ms, T0_MS + 41000);
	assert_int_equal(v.numeric_id, 41);
	assert_int_equal(v.item_seq, 1);
	assert_int_equal(v.last_seq, 41);
	assert_int_equal(v.status, SL_STATUS_IN_STOCK);
}

static void test_stock_view_apply_folds_updates_increments_and_decrements(void **state)
{
	(void)state;
	sl_item v;
	memset(&v, 0, sizeof(v));
	sl_item_state s = qty_state(2);
	apply_ok(&v, "sku-1", 1, SL_EV_ITEM_CREATED, &s);

	s = qty_state(0);
	s.preorder_enabled = true;
	s.has_preorder_limit = true;
	s.preorder_limit = 3;
	sl_strlcpy(s.preorder_message, "soon", sizeof(s.preorder_message));
	apply_ok(&v, "sku-1", 5, SL_EV_ITEM_UPDATED, &s);
	assert_int_equal(v.revision, 2);
	assert_int_equal(v.created_ms, T0_MS + 1000);
	assert_int_equal(v.updated_ms, T0_MS + 5000);
	assert_int_equal(v.numeric_id, 1);
	assert_int_equal(v.item_seq, 2);
	assert_int_equal(v.last_seq, 5);
	assert_string_equal(v.state.preorder_message, "soon");
	assert_int_equal(v.status, SL_STATUS_PREORDER);

	s.preorder_counter = 3; /* preorder units sold up to the limit */
	apply_ok(&v, "sku-1", 6, SL_EV_ITEM_DECREMENTED, &s);
	assert_int_equal(v.revision, 3);
	assert_int_equal(v.state.preorder_counter, 3);
	assert_int_equal(v.status, SL_STATUS_OUT_OF_STOCK);
	assert_int_equal(v.last_seq, 6);

	s.quantity = 4;
	s.in_stock = true;
	apply_ok(&v, "sku-1", 9, SL_EV_ITEM_INCREMENTED, &s);
	assert_int_equal(v.revision, 4);
	assert_int_equal(v.state.quantity, 4);
	assert_int_equal(v.status, SL_STATUS_IN_STOCK);
	assert_int_equal(v.item_seq, 4);
	assert_int_equal(v.updated_ms, T0_MS + 9000);

	/* a switch to in-stock tracking */
	sl_item_state t;
	memset(&t, 0, sizeof(t));
	t.exists = true;
	t.in_stock = false;
	t.preorder_enabled = true;
	apply_ok(&v, "sku-1", 10, SL_EV_ITEM_UPDATED, &t);
	assert_false(v.state.track_quantity);
	assert_int_equal(v.status, SL_STATUS_PREORDER);
	assert_int_equal(v.revision, 5);
}

static void test_stock_view_apply_keeps_item_seq_going_across_delete_and_recreate(void **state)
{
	(void)state;
	sl_item v;
	memset(&v, 0, sizeof(v));
	sl_item_state s = qty_state(3);
	apply_ok(&v, "sku-1", 1, SL_EV_ITEM_CREATED, &s);
	s.quantity = 5;
	apply_ok(&v, "sku-1", 2, SL_EV_ITEM_INCREMENTED, &s);

	sl_item_state gone = s;
	gone.exists = false;
	apply_ok(&v, "sku-1", 7, SL_EV_ITEM_DELETED, &gone);
	assert_false(v.state.exists);
	assert_int_equal(v.status, SL_STATUS_UNKNOWN);
	assert_int_equal(v.item_seq, 3);
	assert_int_equal(v.last_seq, 7);
	assert_int_equal(v.revision, 3);
	assert_int_equal(v.numeric_id, 1);

	/* a second life: dates start again, item_seq and the revision do not (a revision of
	 * the first life never matches the second) */
	s = qty_state(0);
	apply_ok(&v, "sku-1", 12, SL_EV_ITEM_CREATED, &s);
	assert_true(v.state.exists);
	assert_int_equal(v.item_seq, 4);
	assert_int_equal(v.revision, 4);
	assert_int_equal(v.numeric_id, 12);
	assert_int_equal(v.created_ms, T0_MS + 12000);
	assert_int_equal(v.status, SL_STATUS_OUT_OF_STOCK);

	/* the re-create must start from the tombstone, not from an empty view */
	sl_item fresh;
	memset(&fresh, 0, sizeof(fresh));
	sl_event ev;
	event_next(&ev, &fresh, "sku-1", 13, SL_EV_ITEM_CREATED, &s);
	ev.item_seq = 5;
	sl_item copy = v;
	assert_int_equal(stock_view_apply(&v, &ev), SL_ERR_CORRUPT);
	assert_memory_equal(&v, &copy, sizeof(v));
}

/* expect_corrupt folds ev into a copy of view and checks the refusal left it as it was. */
static void expect_corrupt(const sl_item *view, const sl_event *ev, const char *what)
{
	sl_item v;
	memcpy(&v, view, sizeof(v));
	if (stock_view_apply(&v, ev) != SL_ERR_CORRUPT)
		fail_msg("the fold took %s", what);
	if (memcmp(&v, view, sizeof(v)) != 0)
		fail_msg("the fold changed the view on %s", what);
}

static void test_stock_view_apply_refuses_an_event_that_does_not_follow(void **state)
{
	(void)state;
	sl_item v;
	memset(&v, 0x00, sizeof(v));
	sl_item_state s = qty_state(5);
	s.preorder_enabled = true;
	s.has_preorder_limit = true;
	s.preorder_limit = 4;
	s.preorder_counter = 1;
	sl_strlcpy(s.preorder_message, "m", sizeof(s.preorder_message));
	apply_ok(&v, "sku-1", 1, SL_EV_ITEM_CREATED, &s);
	sl_item_state next = s;
	next.quantity = 6;
	sl_event good, ev;
	event_next(&good, &v, "sku-1", 2, SL_EV_ITEM_INCREMENTED, &next);

	ev = good;
	ev.item_seq = 1;
	expect_corrupt(&v, &ev, "a repeated item_seq");
	ev.item_seq = 3;
	expect_corrupt(&v, &ev, "a gap in item_seq");
	ev = good;
	key_set(&ev.item, "sku-2");
	expect_corrupt(&v, &ev, "another item's event");
	ev = good;
	sl_strlcpy(ev.item.location_id, "north", sizeof(ev.item.location_id));
	expect_corrupt(&v, &ev, "the event of the same variant at another location");

	/* every field of the before-state is checked */
	ev = good;
	ev.before.quantity = 4;
	expect_corrupt(&v, &ev, "another before quantity");
	ev = good;
	ev.before.in_stock = false;
	expect_corrupt(&v, &ev, "another before in_stock");
	ev = good;
	ev.before.track_quantity = false;
	expect_corrupt(&v, &ev, "another before tracking method");
	ev = good;
	ev.before.preorder_enabled = false;
	expect_corrupt(&v, &ev, "another before preorder switch");
	ev = good;
	ev.before.has_preorder_limit = false;
	expect_corrupt(&v, &ev, "a before-state without the limit");
	ev = good;
	ev.before.preorder_limit = 5;
	expect_corrupt(&v, &ev, "another before limit");
	ev = good;
	ev.before.preorder_counter = 0;
	expect_corrupt(&v, &ev, "another before counter");
	ev = good;
	sl_strlcpy(ev.before.preorder_message, "n", sizeof(ev.before.preorder_message));
	expect_corrupt(&v, &ev, "another before message");
	ev = good;
	ev.before.exists = false;
	expect_corrupt(&v, &ev, "a before-state of a missing item");

	/* the type must fit the states */
	ev = good;
	ev.type = SL_EV_ITEM_CREATED;
	expect_corrupt(&v, &ev, "a create of an item that exists");
	ev = good;
	ev.type = SL_EV_UNKNOWN;
	expect_corrupt(&v, &ev, "an event of no type");
	ev.type = (sl_event_type)(SL_EV_ITEM_DECREMENTED + 1);
	expect_corrupt(&v, &ev, "an event of an unknown type");
	ev = good;
	ev.after.exists = false;
	expect_corrupt(&v, &ev, "an increment that deletes the item");
	ev = good;
	ev.type = SL_EV_ITEM_DELETED;
	expect_corrupt(&v, &ev, "a delete that leaves the item");
	ev = good;
	ev.type = SL_EV_ITEM_UPDATED;
	ev.after.exists = false;
	expect_corrupt(&v, &ev, "an update that deletes the item");

	/* the good one still applies */
	assert_int_equal(stock_view_apply(&v, &good), SL_OK);
	assert_int_equal(v.state.quantity, 6);
}

static void test_stock_view_apply_refuses_events_of_a_missing_item(void **state)
{
	(void)state;
	sl_item empty;
	memset(&empty, 0, sizeof(empty));
	sl_item_state s = qty_state(1);
	const sl_event_type types[] = {SL_EV_ITEM_UPDATED, SL_EV_ITEM_DELETED,
	                               SL_EV_ITEM_INCREMENTED, SL_EV_ITEM_DECREMENTED};
	sl_event ev;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		event_next(&ev, &empty, "sku-1", 1, types[i], &s);
		expect_corrupt(&empty, &ev, "a first event that is not a create");
	}
	/* a create that creates nothing */
	sl_item_state none;
	memset(&none, 0, sizeof(none));
	event_next(&ev, &empty, "sku-1", 1, SL_EV_ITEM_CREATED, &none);
	expect_corrupt(&empty, &ev, "a create whose item does not exist after it");
	/* a deleted item takes nothing but a create */
	sl_item v = empty;
	apply_ok(&v, "sku-1", 1, SL_EV_ITEM_CREATED, &s);
	sl_item_state gone = s;
	gone.exists = false;
	apply_ok(&v, "sku-1", 2, SL_EV_ITEM_DELETED, &gone);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		event_next(&ev, &v, "sku-1", 3, types[i], &gone);
		expect_corrupt(&v, &ev, "an event of a deleted item");
	}
}

/* The same history, as the events of five items interleaved. */
#define HISTORY_ITEMS 5
#define HISTORY_EVENTS 60

static void history_make(sl_event *evs)
{
	sl_item views[HISTORY_ITEMS];
	memset(views, 0, sizeof(views));
	char product[16];
	for (uint64_t seq = 1; seq <= HISTORY_EVENTS; seq++) {
		size_t i = (size_t)(seq * 7 % HISTORY_ITEMS);
		sl_item *v = &views[i];
		snprintf(product, sizeof(product), "sku-%zu", i);
		sl_item_state s = v->state.exists ? v->state : qty_state((int64_t)i);
		sl_event_type type = SL_EV_ITEM_CREATED;
		if (v->state.exists && seq % 11 == 0) {
			type = SL_EV_ITEM_DELETED;
			s.exists = false;
		} else if (v->state.exists) {
			type = seq % 2 == 0 ? SL_EV_ITEM_INCREMENTED : SL_EV_ITEM_DECREMENTED;
			s.quantity += seq % 2 == 0 ? (int64_t)seq : -3;
			s.in_stock = s.quantity > 0;
		}
		event_next(&evs[seq - 1], v, product, seq, type, &s);
		assert_int_equal(stock_view_apply(v, &evs[seq - 1]), SL_OK);
	}
}

static void history_fold(const sl_event *evs, sl_item *views)
{
	memset(views, 0, sizeof(*views) * HISTORY_ITEMS);
	for (size_t e = 0; e < HISTORY_EVENTS; e++) {
		size_t i = (size_t)(evs[e].seq * 7 % HISTORY_ITEMS);
		assert_int_equal(stock_view_apply(&views[i], &evs[e]), SL_OK);
	}
}

static void test_stock_view_apply_is_deterministic(void **state)
{
	(void)state;
	static sl_event evs[HISTORY_EVENTS], decoded[HISTORY_EVENTS];
	sl_item a[HISTORY_ITEMS], b[HISTORY_ITEMS], c[HISTORY_ITEMS];
	history_make(evs);
	history_fold(evs, a);
	history_fold(evs, b);
	assert_memory_equal(a, b, sizeof(a));

	/* what the log gives back folds to the same bytes */
	sl_buf buf;
	sl_buf_init(&buf);
	for (size_t e = 0; e < HISTORY_EVENTS; e++) {
		buf.len = 0;
		assert_int_equal(ledger_event_encode(&evs[e], &buf), SL_OK);
		assert_int_equal(ledger_event_decode(buf.data, buf.len, &decoded[e]), SL_OK);
	}
	history_fold(decoded, c);
	assert_memory_equal(a, c, sizeof(a));
	/* and the encoded views are equal too, which is what the checksum sees */
	sl_buf ea, ec;
	sl_buf_init(&ea);
	sl_buf_init(&ec);
	for (size_t i = 0; i < HISTORY_ITEMS; i++) {
		assert_int_equal(ledger_item_encode(&a[i], &ea), SL_OK);
		assert_int_equal(ledger_item_encode(&c[i], &ec), SL_OK);
	}
	assert_int_equal(ea.len, ec.len);
	assert_memory_equal(ea.data, ec.data, ea.len);
	/* the history really had deletes and re-creates in it */
	size_t deletes = 0, creates = 0;
	for (size_t e = 0; e < HISTORY_EVENTS; e++) {
		deletes += evs[e].type == SL_EV_ITEM_DELETED;
		creates += evs[e].type == SL_EV_ITEM_CREATED;
	}
	assert_true(deletes > 0);
	assert_true(creates > HISTORY_ITEMS);
	sl_buf_fini(&buf);
	sl_buf_fini(&ea);
	sl_buf_fini(&ec);
}

static void test_stock_event_is_item_knows_the_item_events(void **state)
{
	(void)state;
	sl_event ev;
	memset(&ev, 0, sizeof(ev));
	for (int t = SL_EV_UNKNOWN; t <= SL_EV_ITEM_DECREMENTED + 1; t++) {
		ev.type = (sl_event_type)t;
		assert_int_equal(stock_event_is_item(&ev),
		                 t >= SL_EV_ITEM_CREATED && t <= SL_EV_ITEM_DECREMENTED);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stock_view_apply_folds_a_create_into_an_empty_view),
	    cmocka_unit_test(test_stock_view_apply_folds_updates_increments_and_decrements),
	    cmocka_unit_test(test_stock_view_apply_keeps_item_seq_going_across_delete_and_recreate),
	    cmocka_unit_test(test_stock_view_apply_refuses_an_event_that_does_not_follow),
	    cmocka_unit_test(test_stock_view_apply_refuses_events_of_a_missing_item),
	    cmocka_unit_test(test_stock_view_apply_is_deterministic),
	    cmocka_unit_test(test_stock_event_is_item_knows_the_item_events),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

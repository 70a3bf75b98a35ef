/*
 * orders_test.c (projector): order_view_apply and settings_view_apply, the pure folds of
 * orders and settings.
 *
 * Method: events are written by hand as the order rules would write them (the order's
 * event, then line events with consecutive order_seq), folded one by one, and the view is
 * checked after each. Every check the fold makes (order_seq continuity, status before,
 * trigger, a line's state before, its item, a line before its order) is broken once, and
 * the refused event must leave the view byte for byte as it was.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "base/banned.h"
#include "support/sl_testing.h"
#include "base/sl_util.h"
#include "projector/orders.h"

static sl_order view;

static int view_setup(void **state)
{
	(void)state;
	memset(&view, 0, sizeof(view));
	return 0;
}

static int view_teardown(void **state)
{
	(void)state;
	sl_order_fini(&view);
	return 0;
}

static void key_set(sl_item_key *k, const char *product)
{
	sl_test_key_set(k, product, SL_DEFAULT_LOCATION);
}

static sl_event order_event(uint64_t seq, uint64_t order_seq, sl_event_type type,
                            sl_order_status before, sl_order_status after)
{
	sl_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.seq = seq;
	ev.time_ms = 1000 * (int64_t)seq;
	ev.type = type;
	sl_strlcpy(ev.order_id, "o1", sizeof(ev.order_id));
	ev.order_seq = order_seq;
	ev.order_status_before = before;
	ev.order_status = after;
	ev.trigger = SL_TRIGGER_ON_ORDER_PLACED;
	return ev;
}

static sl_event line_event(uint64_t seq, uint64_t order_seq, const char *line_id,
                           const char *product, int64_t held_before, int64_t held_after,
                           int64_t quantity)
{
	sl_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.seq = seq;
	ev.time_ms = 1000 * (int64_t)seq;
	ev.type = held_after < held_before ? SL_EV_ITEM_INCREMENTED : SL_EV_ITEM_DECREMENTED;
	sl_strlcpy(ev.order_id, "o1", sizeof(ev.order_id));
	sl_strlcpy(ev.order_line_id, line_id, sizeof(ev.order_line_id));
	key_set(&ev.item, product);
	ev.order_seq = order_seq;
	ev.line_before.quantity = held_before == 0 && held_after > 0 ? 0 : quantity;
	ev.line_before.held = held_before;
	ev.line_after.quantity = quantity;
	ev.line_after.held = held_after;
	return ev;
}

/* placed: o1 with line 1 (A x2) and line 2 (B x1), events 10, 11, 12 */
static void place(void)
{
	sl_event ev = order_event(10, 1, SL_EV_ORDER_PLACED, SL_ORDER_NONE, SL_ORDER_PLACED);
	assert_int_equal(order_view_apply(&view, &ev), SL_OK);
	ev = line_event(11, 2, "1", "A", 0, 2, 2);
	assert_int_equal(order_view_apply(&view, &ev), SL_OK);
	ev = line_event(12, 3, "2", "B", 0, 1, 1);
	assert_int_equal(order_view_apply(&view, &ev), SL_OK);
}

/* refused checks that ev is refused and leaves the view as it was. */
static void refused(const sl_event *ev)
{
	sl_order before;
	memset(&before, 0, sizeof(before));
	assert_int_equal(sl_order_copy(&before, &view), SL_OK);
	assert_int_equal(order_view_apply(&view, ev), SL_ERR_CORRUPT);
	assert_int_equal(view.n_lines, before.n_lines);
	for (size_t i = 0; i < view.n_lines; i++) {
		assert_string_equal(view.lines[i].line_id, before.lines[i].line_id);
		assert_true(
		    sl_order_line_state_equal(&view.lines[i].state, &before.lines[i].state));
		assert_int_equal(view.lines[i].n_seqs, before.lines[i].n_seqs);
	}
	assert_int_equal(view.order_seq, before.order_seq);
	assert_int_equal(view.status, before.status);
	assert_int_equal(view.last_seq, before.last_seq);
	sl_order_fini(&before);
}

static void test_order_view_apply_builds_the_order_from_its_events(void **state)
{
	(void)state;
	place();
	assert_string_equal(view.order_id, "o1");
	assert_int_equal(view.status, SL_ORDER_PLACED);
	assert_int_equal(view.trigger, SL_TRIGGER_ON_ORDER_PLACED);
	assert_int_equal(view.created_ms, 10000);
	assert_int_equal(view.updated_ms, 12000);
	assert_int_equal(view.order_seq, 3);
	assert_int_equal(view.last_seq, 12);
	assert_int_equal(view.n_lines, 2);
	assert_string_equal(view.lines[0].line_id, "1");
	assert_string_equal(view.lines[0].item.product_id, "A");
	assert_int_equal(view.lines[0].state.held, 2);
	assert_int_equal(view.lines[1].state.held, 1);
	sl_event ev = order_event(13, 4, SL_EV_ORDER_CANCELED, SL_ORDER_PLACED, SL_ORDER_CANCELED);
	assert_int_equal(order_view_apply(&view, &ev), SL_OK);
	ev = line_event(14, 5, "1", "A", 2, 0, 2);
	assert_int_equal(order_view_apply(&view, &ev), SL_OK);
	assert_int_equal(view.status, SL_ORDER_CANCELED);
	assert_int_equal(view.created_ms, 10000);
	assert_int_equal(view.lines[0].state.held, 0);
}

static void test_order_view_apply_keeps_the_trail_of_events_per_line(void **state)
{
	(void)state;
	place();
	sl_event ev = order_event(20, 4, SL_EV_ORDER_EDITED, SL_ORDER_PLACED, SL_ORDER_PLACED);
	assert_int_equal(order_view_apply(&view, &ev), SL_OK);
	ev = line_event(21, 5, "1", "A", 2, 3, 3);
	ev.line_before.quantity = 2;
	assert_int_equal(order_view_apply(&view, &ev), SL_OK);
	assert_int_equal(view.lines[0].n_seqs, 2);
	assert_int_equal(view.lines[0].seqs[0], 11);
	assert_int_equal(view.lines[0].seqs[1], 21);
	assert_int_equal(view.lines[1].n_seqs, 1);
	assert_int_equal(view.lines[1].seqs[0], 12);
}

static void test_order_view_apply_refuses_an_event_that_does_not_follow(void **state)
{
	(void)state;
	place();
	/* a gap in order_seq */
	sl_event ev = order_event(13, 5, SL_EV_ORDER_PAID, SL_ORDER_PLACED, SL_ORDER_PAID);
	refused(&ev);
	/* the wrong status before */
	ev = order_event(13, 4, SL_EV_ORDER_PAID, SL_ORDER_PAID, SL_ORDER_PAID);
	refused(&ev);
	/* another trigger than the order's */
	ev = order_event(13, 4, SL_EV_ORDER_PAID, SL_ORDER_PLACED, SL_ORDER_PAID);
	ev.trigger = SL_TRIGGER_ON_ORDER_PAID;
	refused(&ev);
	/* a line whose state before is not the view's */
	ev = line_event(13, 4, "1", "A", 1, 0, 2);
	refused(&ev);
	/* a line that changes its item */
	ev = line_event(13, 4, "1", "B", 2, 0, 2);
	refused(&ev);
	/* a new line that claims a state before */
	ev = line_event(13, 4, "9", "A", 1, 0, 1);
	refused(&ev);
	/* a second placement of the same order */
	ev = order_event(13, 4, SL_EV_ORDER_PLACED, SL_ORDER_NONE, SL_ORDER_PLACED);
	refused(&ev);
	/* an event of another order */
	ev = order_event(13, 4, SL_EV_ORDER_PAID, SL_ORDER_PLACED, SL_ORDER_PAID);
	sl_strlcpy(ev.order_id, "o2", sizeof(ev.order_id));
	refused(&ev);
	/* an item event with no order line is not the order's */
	ev = line_event(13, 4, "1", "A", 2, 2, 2);
	ev.order_line_id[0] = '\0';
	refused(&ev);
}

static void test_order_view_apply_refuses_a_line_before_its_order(void **state)
{
	(void)state;
	sl_event ev = line_event(5, 1, "1", "A", 0, 1, 1);
	refused(&ev);
	assert_int_equal(view.order_seq, 0);
	assert_int_equal(view.n_lines, 0);
}

static void test_settings_view_apply_checks_the_trigger_before(void **state)
{
	(void)state;
	sl_settings s;
	memset(&s, 0, sizeof(s));
	sl_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.seq = 3;
	ev.time_ms = 3000;
	ev.type = SL_EV_SETTINGS_UPDATED;
	ev.trigger_before = SL_TRIGGER_ON_ORDER_PAID; /* never set: it was ON_ORDER_PLACED */
	ev.trigger = SL_TRIGGER_ON_ORDER_PLACED;
	assert_int_equal(settings_view_apply(&s, &ev), SL_ERR_CORRUPT);
	assert_int_equal(s.trigger, SL_TRIGGER_UNKNOWN);
	ev.trigger_before = SL_TRIGGER_ON_ORDER_PLACED;
	ev.trigger = SL_TRIGGER_ON_ORDER_PAID;
	assert_int_equal(settings_view_apply(&s, &ev), SL_OK);
	assert_int_equal(s.trigger, SL_TRIGGER_ON_ORDER_PAID);
	assert_int_equal(s.last_seq, 3);
	assert_int_equal(s.updated_ms, 3000);
	ev.trigger_before = SL_TRIGGER_ON_ORDER_PAID;
	ev.trigger = (sl_trigger)9;
	assert_int_equal(settings_view_apply(&s, &ev), SL_ERR_CORRUPT);
	assert_int_equal(s.trigger, SL_TRIGGER_ON_ORDER_PAID);
	assert_false(settings_event_is_settings(&(sl_event){.type = SL_EV_ORDER_PAID}));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, view_setup, view_teardown)
	    T(test_order_view_apply_builds_the_order_from_its_events),
	    T(test_order_view_apply_keeps_the_trail_of_events_per_line),
	    T(test_order_view_apply_refuses_an_event_that_does_not_follow),
	    T(test_order_view_apply_refuses_a_line_before_its_order),
	    T(test_settings_view_apply_checks_the_trigger_before),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

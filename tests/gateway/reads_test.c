/*
 * reads_test.c: the audit reads of the service (gateway/reads.h) and the point-in-time logic
 * under them (ledger/asof.h), in-process on a real RocksDB directory.
 *
 * Method: a random command stream (logged seed, SL_SEED replays it) of creates, updates,
 * increments, decrements, deletes and re-creates runs through the real service. Then, for
 * every seq N of the log, each item's state as of N (ledger_item_as_of) must be byte-equal
 * to its view after a rebuild truncated at N (projector_rebuild_to), which is the
 * definition of "as of N". History ranges are checked against a filter of the whole
 * history; explain against the sum it claims; the change feed's long poll by timing a
 * parked read against a commit, an expiry and a flush.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/banned.h"
#include "base/sl_util.h"
#include "gateway/service.h"
#include "ledger/asof.h"
#include "ledger/codec.h"
#include "ledger/query.h"
#include "projector/rebuild.h"
#include "stockledger.pb-c.h"

#define N_KEYS 5

static char data_dir[256];
static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int setup(void **state)
{
	(void)state;
	snprintf(data_dir, sizeof(data_dir), "/tmp/sl-reads-test-XXXXXX");
	assert_non_null(mkdtemp(data_dir));
	const char *seed = getenv("SL_SEED");
	rng = seed != NULL ? strtoull(seed, NULL, 10) : (uint64_t)sl_time_now_ms();
	if (rng == 0)
		rng = 1;
	printf("# reads_test seed %llu (SL_SEED to replay)\n", (unsigned long long)rng);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", data_dir);
	return system(cmd) == 0 ? 0 : -1;
}

static gw_service *service_open(void)
{
	gw_config cfg = {.data_dir = data_dir, .default_location = "default"};
	gw_service *s = NULL;
	char err[512];
	if (gw_service_open(&cfg, &s, err, sizeof(err)) != SL_OK)
		fail_msg("cannot open service: %s", err);
	return s;
}

static void key_n(sl_item_key *k, int i)
{
	memset(k, 0, sizeof(*k));
	snprintf(k->product_id, sizeof(k->product_id), "sku-%d", i);
	sl_strlcpy(k->variant_id, SL_DEFAULT_VARIANT, sizeof(k->variant_id));
	sl_strlcpy(k->location_id, "default", sizeof(k->location_id));
}

static Sl__Result *run(gw_service *s, sl_command *cmd)
{
	sl_buf out;
	sl_buf_init(&out);
	assert_int_equal(gw_service_execute(s, cmd, &out), SL_OK);
	Sl__Result *r = sl__result__unpack(NULL, out.len, out.data);
	assert_non_null(r);
	sl_buf_fini(&out);
	return r;
}

static void run_ok(gw_service *s, sl_command *cmd)
{
	Sl__Result *r = run(s, cmd);
	if (r->error != NULL)
		fail_msg("%s: %s", r->error->code, r->error->message);
	sl__result__free_unpacked(r, NULL);
}

static void adjust(gw_service *s, sl_cmd_type type, int i, int64_t n, const char *order,
                   const char *reason)
{
	sl_command c;
	memset(&c, 0, sizeof(c));
	c.type = type;
	c.lines = calloc(1, sizeof(*c.lines));
	c.n_lines = 1;
	key_n(&c.lines[0].item, i);
	c.lines[0].quantity = n;
	sl_strlcpy(c.order_id, order, sizeof(c.order_id));
	sl_strlcpy(c.reason, reason, sizeof(c.reason));
	run_ok(s, &c);
}

/* random_step sends one random valid command about item i. */
static void random_step(gw_service *s, int i)
{
	sl_command c;
	sl_item view;
	memset(&c, 0, sizeof(c));
	key_n(&c.item, i);
	bool exists =
	    ledger_view_get(gw_service_ledger(s), &c.item, &view) == SL_OK && view.state.exists;
	if (!exists) {
		c.type = SL_CMD_CREATE;
		c.has_quantity = true;
		c.quantity = (int64_t)(rnd() % 50);
		run_ok(s, &c);
		return;
	}
	switch (rnd() % 6) {
	case 0:
		c.type = SL_CMD_UPDATE;
		c.has_revision = true;
		c.revision = view.revision;
		c.has_quantity = true;
		c.quantity = (int64_t)(rnd() % 80);
		sl_strlcpy(c.reason, "count", sizeof(c.reason));
		run_ok(s, &c);
		return;
	case 1:
		if (rnd() % 3 == 0) {
			c.type = SL_CMD_DELETE;
			run_ok(s, &c);
			return;
		}
		/* fall through */
	case 2:
	case 3:
		adjust(s, SL_CMD_INCREMENT, i, 1 + (int64_t)(rnd() % 9), "", "restock");
		return;
	default:
		adjust(s, SL_CMD_DECREMENT, i, 1 + (int64_t)(rnd() % 5), rnd() % 2 ? "o-1" : "o-2",
		       "sale");
		return;
	}
}

static void test_item_as_of_equals_a_rebuild_truncated_at_every_seq(void **state)
{
	(void)state;
	gw_service *s = service_open();
	for (int k = 0; k < 70; k++)
		random_step(s, (int)(rnd() % N_KEYS));
	gw_service_close(s);

	char err[512];
	ledger *l = NULL;
	assert_int_equal(ledger_open(data_dir, &l, err, sizeof(err)), SL_OK);
	uint64_t head = ledger_head(l, NULL);
	/* expected[n][i]: the encoding of item i as of seq n ("" if it had no view) */
	sl_buf(*expected)[N_KEYS] = calloc(head + 1, sizeof(*expected));
	assert_non_null(expected);
	for (uint64_t n = 1; n <= head; n++) {
		for (int i = 0; i < N_KEYS; i++) {
			sl_item_key k;
			sl_item now, past;
			key_n(&k, i);
			sl_buf_init(&expected[n][i]);
			if (ledger_view_get(l, &k, &now) != SL_OK)
				continue;
			sl_err rc = ledger_item_as_of(l, NULL, &now, n, &past);
			if (rc == SL_ERR_NOT_FOUND)
				continue;
			assert_int_equal(rc, SL_OK);
			assert_int_equal(ledger_item_encode(&past, &expected[n][i]), SL_OK);
		}
		/* the seq in force at the time of event n is n or a later one of the same ms */
		sl_event ev, at;
		uint64_t seq;
		assert_int_equal(ledger_event_get(l, n, &ev), SL_OK);
		assert_int_equal(ledger_seq_at_time(l, NULL, head, ev.time_ms, &seq), SL_OK);
		assert_true(seq >= n);
		assert_int_equal(ledger_event_get(l, seq, &at), SL_OK);
		assert_int_equal(at.time_ms, ev.time_ms);
	}
	for (uint64_t n = 1; n <= head; n++) {
		projector_report r;
		assert_int_equal(projector_rebuild_to(l, n, NULL, NULL, &r), SL_OK);
		for (int i = 0; i < N_KEYS; i++) {
			sl_item_key k;
			sl_item got;
			sl_buf enc;
			key_n(&k, i);
			sl_buf_init(&enc);
			if (ledger_view_get(l, &k, &got) == SL_OK)
				assert_int_equal(ledger_item_encode(&got, &enc), SL_OK);
			if (enc.len != expected[n][i].len ||
			    (enc.len > 0 && memcmp(enc.data, expected[n][i].data, enc.len) != 0))
				fail_msg(
				    "item %d as of seq %llu differs from the rebuild to that seq",
				    i, (unsigned long long)n);
			sl_buf_fini(&enc);
			sl_buf_fini(&expected[n][i]);
		}
	}
	projector_report r;
	assert_int_equal(projector_rebuild(l, NULL, NULL, &r), SL_OK);
	assert_int_equal(projector_verify(l, NULL, NULL, &r), SL_OK);
	free(expected);
	ledger_close(l);
}

static void test_history_ranges_select_by_seq_and_time_and_page_in_item_order(void **state)
{
	(void)state;
	gw_service *s = service_open();
	for (int k = 0; k < 60; k++)
		random_step(s, k % 2 == 0 ? 0 : 1 + (int)(rnd() % 3));
	ledger *l = gw_service_ledger(s);
	sl_item_key key;
	key_n(&key, 0);
	static sl_event all[200];
	size_t n_all = 0;
	uint64_t next = 0;
	assert_int_equal(ledger_history(l, &key, 0, 200, all, &n_all, &next), SL_OK);
	assert_true(n_all >= 30);
	for (size_t i = 0; i < n_all; i++)
		assert_int_equal(all[i].item_seq, i + 1);
	for (int trial = 0; trial < 20; trial++) {
		size_t a = rnd() % n_all, b = a + rnd() % (n_all - a);
		bool by_time = trial % 2 == 1;
		sl_command c;
		memset(&c, 0, sizeof(c));
		c.type = SL_CMD_HISTORY;
		c.item = key;
		c.limit = 4;
		if (by_time) {
			c.has_since_ms = true;
			c.since_ms = all[a].time_ms;
			c.has_until_ms = true;
			c.until_ms = all[b].time_ms;
		} else {
			c.from_seq = all[a].seq;
			c.has_to_seq = true;
			c.to_seq = all[b].seq;
		}
		size_t want = a, got = 0;
		if (by_time) /* events of the same ms as all[a] before it are in range too */
			while (want > 0 && all[want - 1].time_ms == all[a].time_ms)
				want--;
		for (;;) {
			Sl__Result *r = run(s, &c);
			assert_null(r->error);
			for (size_t i = 0; i < r->n_events; i++, want++, got++) {
				assert_true(want < n_all);
				assert_int_equal(r->events[i]->item_seq, all[want].item_seq);
				assert_int_equal(r->events[i]->seq, all[want].seq);
			}
			bool is_more = r->has_next_item_seq;
			c.after_item_seq = r->next_item_seq;
			sl__result__free_unpacked(r, NULL);
			if (!is_more)
				break;
		}
		size_t last = b;
		if (by_time)
			while (last + 1 < n_all && all[last + 1].time_ms == all[b].time_ms)
				last++;
		assert_int_equal(want, last + 1);
		assert_true(got > 0);
	}
	/* bounds past anything the log holds select nothing: a cursor at UINT64_MAX (its next
	 * would wrap to 0), a from-seq past INT64_MAX (read as negative, it selected all) */
	static const uint64_t cursors[] = {UINT64_MAX, UINT64_MAX - 1, (uint64_t)INT64_MAX + 1};
	for (size_t k = 0; k < 2 * sizeof(cursors) / sizeof(cursors[0]); k++) {
		sl_command c;
		memset(&c, 0, sizeof(c));
		c.type = SL_CMD_HISTORY;
		c.item = key;
		c.limit = 4;
		if (k % 2 == 0)
			c.after_item_seq = cursors[k / 2];
		else
			c.from_seq = cursors[k / 2];
		Sl__Result *r = run(s, &c);
		assert_null(r->error);
		assert_int_equal(r->n_events, 0);
		assert_false(r->has_next_item_seq);
		sl__result__free_unpacked(r, NULL);
	}
	gw_service_close(s);
}

static void test_explain_groups_adjustments_that_add_up_to_the_quantity(void **state)
{
	(void)state;
	gw_service *s = service_open();
	sl_command c;
	memset(&c, 0, sizeof(c));
	c.type = SL_CMD_CREATE;
	key_n(&c.item, 0);
	c.has_quantity = true;
	c.quantity = 5;
	run_ok(s, &c);
	adjust(s, SL_CMD_INCREMENT, 0, 7, "", "restock");
	memset(&c, 0, sizeof(c));
	c.type = SL_CMD_UPDATE;
	key_n(&c.item, 0);
	c.has_revision = true;
	c.revision = 2;
	c.has_quantity = true;
	c.quantity = 40;
	sl_strlcpy(c.reason, "count", sizeof(c.reason));
	run_ok(s, &c);
	adjust(s, SL_CMD_DECREMENT, 0, 3, "o-1", "sale");
	adjust(s, SL_CMD_INCREMENT, 0, 10, "", "restock");
	adjust(s, SL_CMD_DECREMENT, 0, 2, "o-1", "sale");
	adjust(s, SL_CMD_DECREMENT, 0, 4, "o-2", "sale");
	adjust(s, SL_CMD_INCREMENT, 0, 1, "o-2", "return");
	memset(&c, 0, sizeof(c));
	c.type = SL_CMD_EXPLAIN;
	key_n(&c.item, 0);
	Sl__Result *r = run(s, &c);
	assert_null(r->error);
	const Sl__Explanation *x = r->explanation;
	assert_non_null(x);
	assert_int_equal(x->setting->seq, 3); /* the update, not the create */
	assert_int_equal(x->setting->after->quantity, 40);
	assert_int_equal(x->events_since, 5);
	assert_int_equal(x->n_adjustments, 4);
	int64_t sum = x->setting->after->quantity;
	for (size_t i = 0; i < x->n_adjustments; i++)
		sum += x->adjustments[i]->delta_quantity;
	assert_int_equal(sum, 40 - 3 + 10 - 2 - 4 + 1);
	assert_int_equal(sum, x->adjusted_quantity);
	assert_int_equal(sum, r->items[0]->state->quantity);
	/* grouped by (order, reason), in order of first appearance */
	assert_string_equal(x->adjustments[0]->order_id, "o-1");
	assert_int_equal(x->adjustments[0]->events, 2);
	assert_int_equal(x->adjustments[0]->delta_quantity, -5);
	assert_null(x->adjustments[1]->order_id);
	assert_int_equal(x->adjustments[1]->delta_quantity, 10);
	assert_true(x->has_holds); /* no open order holds any of it */
	assert_int_equal(x->n_holds, 0);
	assert_int_equal(x->held_quantity, 0);
	sl__result__free_unpacked(r, NULL);
	key_n(&c.item, 9);
	r = run(s, &c);
	assert_string_equal(r->error->code, "NOT_FOUND");
	sl__result__free_unpacked(r, NULL);
	gw_service_close(s);
}

/* ---- the change feed ---- */

typedef struct feed_wait {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool is_done;
	size_t n_events;
	uint64_t first_seq;
	int64_t at_ms;
} feed_wait;

static void feed_done_cb(void *arg, const uint8_t *result, size_t len)
{
	feed_wait *w = arg;
	Sl__Result *r = sl__result__unpack(NULL, len, result);
	pthread_mutex_lock(&w->lock);
	w->n_events = r != NULL ? r->n_events : 999;
	w->first_seq = r != NULL && r->n_events > 0 ? r->events[0]->seq : 0;
	w->at_ms = sl_time_now_ms();
	w->is_done = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	sl__result__free_unpacked(r, NULL);
}

static void feed_park(gw_service *s, feed_wait *w, uint64_t from, uint32_t wait_ms)
{
	memset(w, 0, sizeof(*w));
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	sl_command c;
	memset(&c, 0, sizeof(c));
	c.type = SL_CMD_EVENTS;
	c.from_seq = from;
	c.limit = 10;
	c.wait_ms = wait_ms;
	gw_service_submit(s, &c, feed_done_cb, w);
}

static void feed_join(feed_wait *w)
{
	pthread_mutex_lock(&w->lock);
	while (!w->is_done)
		pthread_cond_wait(&w->cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
}

static void test_feed_answers_a_waiting_read_on_commit_on_expiry_and_on_flush(void **state)
{
	(void)state;
	gw_service *s = service_open();
	feed_wait w;
	/* a read of events that exist answers at once */
	sl_command c;
	memset(&c, 0, sizeof(c));
	c.type = SL_CMD_CREATE;
	key_n(&c.item, 0);
	c.has_quantity = true;
	c.quantity = 1;
	run_ok(s, &c);
	feed_park(s, &w, 1, 4000);
	feed_join(&w);
	assert_int_equal(w.n_events, 1);
	/* a read past the head waits for the next commit, and gets exactly it */
	feed_park(s, &w, 2, 4000);
	int64_t t0 = sl_time_now_ms();
	struct timespec ts = {0, 100 * 1000000L};
	nanosleep(&ts, NULL);
	pthread_mutex_lock(&w.lock);
	assert_false(w.is_done);
	pthread_mutex_unlock(&w.lock);
	adjust(s, SL_CMD_INCREMENT, 0, 2, "", "restock");
	feed_join(&w);
	assert_int_equal(w.n_events, 1);
	assert_int_equal(w.first_seq, 2);
	assert_true(w.at_ms - t0 < 3000);
	/* with no commit it answers empty when its wait is over */
	t0 = sl_time_now_ms();
	feed_park(s, &w, 3, 300);
	feed_join(&w);
	assert_int_equal(w.n_events, 0);
	assert_true(w.at_ms - t0 >= 250);
	/* a flush (shutdown) answers parked reads at once */
	t0 = sl_time_now_ms();
	feed_park(s, &w, 3, 4000);
	gw_service_feed_flush(s);
	feed_join(&w);
	assert_int_equal(w.n_events, 0);
	assert_true(w.at_ms - t0 < 3000);
	/* a wait over the limit is refused */
	memset(&c, 0, sizeof(c));
	c.type = SL_CMD_EVENTS;
	c.wait_ms = SL_FEED_WAIT_MS_MAX + 1;
	Sl__Result *r = run(s, &c);
	assert_string_equal(r->error->code, "LIMIT_EXCEEDED");
	sl__result__free_unpacked(r, NULL);
	gw_service_close(s);
}

/* query_expect_views queries every quantity-tracked item with quantity >= 0, sorted by
 * quantity, and checks the page against the committed views of items 0..n_items. */
static void query_expect_views(gw_service *s, int n_items)
{
	sl_command c;
	memset(&c, 0, sizeof(c));
	c.type = SL_CMD_QUERY;
	c.query = calloc(1, sizeof(*c.query));
	assert_non_null(c.query);
	c.query->has_min_quantity = true;
	c.query->min_quantity = 0;
	c.query->sort = LEDGER_SORT_QUANTITY;
	c.query->limit = SL_QUERY_PAGE_MAX;
	Sl__Result *r = run(s, &c);
	if (r->error != NULL)
		fail_msg("%s: %s", r->error->code, r->error->message);
	size_t want = 0;
	for (int i = 0; i < n_items; i++) {
		sl_item v;
		key_n(&v.key, i);
		if (ledger_view_get(gw_service_ledger(s), &v.key, &v) == SL_OK && v.state.exists &&
		    v.state.track_quantity && v.state.quantity >= 0)
			want++;
	}
	assert_int_equal(r->n_items, want);
	for (size_t k = 0; k < r->n_items; k++) {
		sl_item v;
		sl_item_key key;
		memset(&key, 0, sizeof(key));
		sl_strlcpy(key.product_id, r->items[k]->key->product_id, sizeof(key.product_id));
		sl_strlcpy(key.variant_id, r->items[k]->key->variant_id, sizeof(key.variant_id));
		sl_strlcpy(key.location_id, r->items[k]->key->location_id, sizeof(key.location_id));
		assert_int_equal(ledger_view_get(gw_service_ledger(s), &key, &v), SL_OK);
		assert_int_equal(r->items[k]->state->quantity, v.state.quantity);
		assert_int_equal(r->items[k]->last_seq, v.last_seq);
		if (k > 0)
			assert_true(r->items[k - 1]->state->quantity <=
			            r->items[k]->state->quantity);
	}
	sl__result__free_unpacked(r, NULL);
}

/* The index thread writes a group's index rows after the group's replies may have gone out:
 * a query right after a write still answers from an index that holds it. */
static void test_query_reads_the_writes_answered_before_it(void **state)
{
	(void)state;
	gw_service *s = service_open();
	for (int step = 0; step < 300; step++) {
		random_step(s, (int)(rnd() % 12));
		query_expect_views(s, 12);
	}
	uint64_t head = ledger_head(gw_service_ledger(s), NULL);
	gw_service_close(s);
	/* a clean stop leaves the index complete: the next open derives nothing */
	s = service_open();
	assert_int_equal(ledger_indexed_seq(gw_service_ledger(s)), head);
	query_expect_views(s, 12);
	gw_service_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_item_as_of_equals_a_rebuild_truncated_at_every_seq,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_history_ranges_select_by_seq_and_time_and_page_in_item_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_explain_groups_adjustments_that_add_up_to_the_quantity, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_feed_answers_a_waiting_read_on_commit_on_expiry_and_on_flush, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_query_reads_the_writes_answered_before_it, setup,
	                                    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

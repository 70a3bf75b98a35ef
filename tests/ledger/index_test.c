/*
 * index_test.c: the secondary indexes (ledger/index.h) and the queries served from them
 * (ledger/query.h), on a real RocksDB directory.
 *
 * Method: items are made by real events appended through the ledger's transaction API and
 * folded with the projector's fold, exactly as the writer does. Index maintenance is then
 * checked by projector_verify (which compares the index family with a fresh fold), and
 * queries are checked against a brute-force reference: every view read and filtered with
 * ledger_query_matches, sorted by the query's order. A random population comes from a
 * logged seed (SL_SEED replays it).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdbool.h>
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
#include "ledger/index.h"
#include "ledger/ledger.h"
#include "ledger/query.h"
#include "ledger/rules.h"
#include "projector/rebuild.h"
#include "projector/stock.h"

#define N_ITEMS 120
/* more items than a page over a hot index may examine (SL_QUERY_HOT_SCAN_MAX), even after
 * an eighth of them are deleted */
#define N_ITEMS_MANY (SL_QUERY_HOT_SCAN_MAX + SL_QUERY_HOT_SCAN_MAX / 4 + 600)

static char data_dir[256];
static ledger *L;
static uint64_t rng;
static int64_t clock_ms = 1700000000000LL;

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
	char err[512];
	snprintf(data_dir, sizeof(data_dir), "/tmp/sl-index-test-XXXXXX");
	assert_non_null(mkdtemp(data_dir));
	assert_int_equal(ledger_open(data_dir, &L, err, sizeof(err)), SL_OK);
	const char *seed = getenv("SL_SEED");
	rng = seed != NULL ? strtoull(seed, NULL, 10) : (uint64_t)sl_time_now_ms();
	if (rng == 0)
		rng = 1;
	printf("# index_test seed %llu (SL_SEED to replay)\n", (unsigned long long)rng);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[300];
	ledger_close(L);
	L = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", data_dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void key_of(sl_item_key *k, const char *p, const char *v, const char *l)
{
	memset(k, 0, sizeof(*k));
	sl_strlcpy(k->product_id, p, sizeof(k->product_id));
	sl_strlcpy(k->variant_id, v, sizeof(k->variant_id));
	sl_strlcpy(k->location_id, l, sizeof(k->location_id));
}

/* change appends one event taking key to state `after` (exists false: a delete) and stages
 * the folded view, inside the open txn t. */
static void change(ledger_txn *t, const sl_item_key *key, const sl_item_state *after)
{
	sl_item view;
	if (ledger_view_get(L, key, &view) != SL_OK)
		memset(&view, 0, sizeof(view));
	/* a change staged earlier in this txn is not committed yet: callers commit per change */
	sl_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.seq = ledger_txn_next_seq(t);
	ev.time_ms = clock_ms += 1000;
	ev.item = *key;
	ev.item_seq = view.item_seq + 1;
	ev.before = view.state;
	ev.after = *after;
	ev.type = !view.state.exists ? SL_EV_ITEM_CREATED
	          : !after->exists   ? SL_EV_ITEM_DELETED
	                             : SL_EV_ITEM_UPDATED;
	ev.command_seq = ev.seq;
	ev.delta_quantity = after->quantity - view.state.quantity;
	assert_int_equal(stock_view_apply(&view, &ev), SL_OK);
	assert_int_equal(ledger_txn_append(t, &ev), SL_OK);
	assert_int_equal(ledger_txn_put_view(t, &view), SL_OK);
}

static void change_commit(const sl_item_key *key, const sl_item_state *after)
{
	ledger_txn *t = ledger_txn_alloc(L);
	assert_non_null(t);
	assert_int_equal(ledger_txn_begin(t), SL_OK);
	change(t, key, after);
	assert_int_equal(ledger_txn_commit(t, false), SL_OK);
	ledger_txn_free(t);
}

static sl_item_state tracked(int64_t q)
{
	sl_item_state s;
	memset(&s, 0, sizeof(s));
	s.exists = true;
	s.track_quantity = true;
	s.quantity = q;
	s.in_stock = q > 0;
	return s;
}

static void populate(void)
{
	/* ids that differ only in case: prefixes match them all (Wix: $startsWith is not
	 * case-sensitive), and they sort apart in the store */
	static const char *const locs[] = {"default", "east", "West", "EaSt"};
	for (int i = 0; i < N_ITEMS; i++) {
		char p[16], v[16];
		snprintf(p, sizeof(p), "%c%02d", (i / 4) % 3 == 0 ? 'P' : 'p', i / 4);
		snprintf(v, sizeof(v), "v%d", i % 4);
		sl_item_key k;
		key_of(&k, p, v, locs[rnd() % 4]);
		sl_item_state s = tracked((int64_t)(rnd() % 21) - 5);
		if (rnd() % 5 == 0) {
			s.track_quantity = false;
			s.quantity = 0;
			s.in_stock = rnd() % 2;
		}
		if (ledger_view_get(L, &k, &(sl_item){0}) == SL_OK)
			continue; /* the same key drawn twice */
		change_commit(&k, &s);
		if (rnd() % 4 == 0)
			change_commit(&k, &(sl_item_state){.exists = false});
	}
}

static void verify_ok(void)
{
	projector_report r;
	sl_err rc = projector_verify(L, NULL, NULL, &r);
	if (rc != SL_OK)
		fail_msg("verify: %s (seq %llu)", r.message, (unsigned long long)r.bad_seq);
}

static void test_index_keys_sort_like_their_values(void **state)
{
	(void)state;
	uint8_t a[LEDGER_INDEX_PER_ITEM][LEDGER_INDEX_KEY_BYTES];
	uint8_t b[LEDGER_INDEX_PER_ITEM][LEDGER_INDEX_KEY_BYTES];
	size_t alen[LEDGER_INDEX_PER_ITEM], blen[LEDGER_INDEX_PER_ITEM];
	ledger_index_row x = {.exists = true, .track_quantity = true, .quantity = -5};
	ledger_index_row y = {.exists = true, .track_quantity = true, .quantity = 3};
	key_of(&x.key, "b", "v", "l");
	key_of(&y.key, "a", "v", "l");
	assert_int_equal(ledger_index_keys(&x, a, alen), LEDGER_INDEX_PER_ITEM);
	assert_int_equal(ledger_index_keys(&y, b, blen), LEDGER_INDEX_PER_ITEM);
	/* index 3 is the quantity key: -5 sorts before 3 although its item key is larger */
	assert_int_equal(a[3][0], LEDGER_INDEX_QUANTITY);
	assert_true(memcmp(a[3], b[3], alen[3] < blen[3] ? alen[3] : blen[3]) < 0);
	/* an untracked item sorts before every tracked one */
	x.track_quantity = false;
	ledger_index_keys(&x, a, alen);
	assert_true(memcmp(a[3], b[3], 10) < 0);
	/* a deleted item keeps only its immutable keys (variant, location) */
	x.exists = false;
	assert_int_equal(ledger_index_keys(&x, a, alen), 2);
	sl_item_key back;
	size_t at = ledger_index_item_key(a[0], alen[0]);
	assert_int_equal(ledger_key_decode(a[0] + at, alen[0] - at, &back), SL_OK);
	assert_int_equal(sl_item_key_cmp(&back, &x.key), 0);
	assert_true(ledger_index_u64(-1) < ledger_index_u64(0));
}

static void test_put_view_keeps_the_index_equal_to_the_views_through_changes(void **state)
{
	(void)state;
	populate();
	verify_ok();
	/* several changes of one item inside one transaction: only the last state is indexed */
	sl_item_key k;
	key_of(&k, "multi", "v", "default");
	ledger_txn *t = ledger_txn_alloc(L);
	assert_int_equal(ledger_txn_begin(t), SL_OK);
	sl_item view;
	memset(&view, 0, sizeof(view));
	for (int i = 0; i < 5; i++) {
		sl_event ev;
		memset(&ev, 0, sizeof(ev));
		ev.seq = ledger_txn_next_seq(t);
		ev.time_ms = clock_ms += 1000;
		ev.item = k;
		ev.item_seq = view.item_seq + 1;
		ev.before = view.state;
		ev.after = tracked(i * 10);
		ev.type = i == 0 ? SL_EV_ITEM_CREATED : SL_EV_ITEM_UPDATED;
		assert_int_equal(stock_view_apply(&view, &ev), SL_OK);
		assert_int_equal(ledger_txn_append(t, &ev), SL_OK);
		assert_int_equal(ledger_txn_put_view(t, &view), SL_OK);
	}
	assert_int_equal(ledger_txn_commit(t, true), SL_OK);
	ledger_txn_free(t);
	verify_ok();
	/* a rebuild makes the same index: verify still holds */
	projector_report r;
	assert_int_equal(projector_rebuild(L, NULL, NULL, &r), SL_OK);
	verify_ok();
}

/* ---- queries against the reference ---- */

typedef struct ref_item {
	sl_item it;
	uint8_t order[LEDGER_INDEX_KEY_BYTES + LEDGER_KEY_BYTES];
	size_t order_len;
} ref_item;

static ref_item refs[N_ITEMS_MANY + 16];
static size_t n_refs;

static int ref_cmp(const void *a, const void *b)
{
	const ref_item *x = a, *y = b;
	int c =
	    memcmp(x->order, y->order, x->order_len < y->order_len ? x->order_len : y->order_len);
	return c != 0 ? c : (x->order_len > y->order_len) - (x->order_len < y->order_len);
}

/* reference answers q by reading every view, in q's order. */
static void reference(const ledger_query *q)
{
	store_iter *it = store_iter_alloc(ledger_store(L), STORE_CF_VIEWS);
	n_refs = 0;
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it)) {
		size_t klen, vlen;
		const uint8_t *k = store_iter_key(it, &klen);
		const uint8_t *v = store_iter_value(it, &vlen);
		ref_item *r = &refs[n_refs];
		assert_int_equal(ledger_item_decode(v, vlen, &r->it), SL_OK);
		if (!ledger_query_matches(q, &r->it))
			continue;
		ledger_index_row row;
		uint8_t keys[LEDGER_INDEX_PER_ITEM][LEDGER_INDEX_KEY_BYTES];
		size_t lens[LEDGER_INDEX_PER_ITEM];
		ledger_index_row_of(&r->it, &row);
		ledger_index_keys(&row, keys, lens);
		int which =
		    q->sort == LEDGER_SORT_QUANTITY                                           ? 3
		    : q->sort == LEDGER_SORT_CREATED                                          ? 4
		    : q->sort == LEDGER_SORT_UPDATED                                          ? 5
		    : q->product.op == LEDGER_MATCH_ANY && q->variant.op != LEDGER_MATCH_ANY  ? 0
		    : q->product.op == LEDGER_MATCH_ANY && q->location.op != LEDGER_MATCH_ANY ? 1
		                                                                              : -1;
		if (which < 0) {
			memcpy(r->order, k, klen);
			r->order_len = klen;
		} else {
			memcpy(r->order, keys[which], lens[which]);
			r->order_len = lens[which];
		}
		n_refs++;
	}
	store_iter_free(it);
	qsort(refs, n_refs, sizeof(refs[0]), ref_cmp);
	if (q->is_desc)
		for (size_t i = 0; i < n_refs / 2; i++) {
			ref_item tmp = refs[i];
			refs[i] = refs[n_refs - 1 - i];
			refs[n_refs - 1 - i] = tmp;
		}
}

/* walk runs every page of q (limit 7) and checks it against the reference. */
static void walk(ledger_query *q, const char *what)
{
	ledger_query_page *page = malloc(sizeof(*page));
	sl_error_info err;
	size_t seen = 0;
	reference(q);
	q->limit = 7;
	q->cursor[0] = '\0';
	for (int pages = 0; pages < 5000; pages++) {
		sl_err rc = ledger_query_run(L, q, page, &err);
		if (rc != SL_OK)
			fail_msg("%s: %s", what, err.message);
		for (size_t i = 0; i < page->n_items; i++, seen++) {
			if (seen >= n_refs)
				fail_msg("%s: more items than the reference's %zu", what, n_refs);
			if (sl_item_key_cmp(&page->items[i].key, &refs[seen].it.key) != 0)
				fail_msg(
				    "%s: item %zu is %s/%s@%s, expected %s/%s@%s", what, seen,
				    page->items[i].key.product_id, page->items[i].key.variant_id,
				    page->items[i].key.location_id, refs[seen].it.key.product_id,
				    refs[seen].it.key.variant_id, refs[seen].it.key.location_id);
		}
		if (page->next_cursor[0] == '\0')
			break;
		sl_strlcpy(q->cursor, page->next_cursor, sizeof(q->cursor));
	}
	if (seen != n_refs)
		fail_msg("%s: %zu items, the reference has %zu", what, seen, n_refs);
	free(page);
}

static void filter_in(ledger_id_filter *f, const char *a, const char *b)
{
	memset(f, 0, sizeof(*f));
	f->op = LEDGER_MATCH_IN;
	sl_strlcpy(f->values[f->n++], a, sizeof(f->values[0]));
	if (b != NULL)
		sl_strlcpy(f->values[f->n++], b, sizeof(f->values[0]));
}

static void filter_prefix(ledger_id_filter *f, const char *p)
{
	memset(f, 0, sizeof(*f));
	f->op = LEDGER_MATCH_PREFIX;
	f->n = 1;
	sl_strlcpy(f->values[0], p, sizeof(f->values[0]));
}

static void test_query_pages_equal_a_filtered_scan_of_every_view(void **state)
{
	(void)state;
	populate();
	ledger_query *q = calloc(1, sizeof(*q));
	walk(q, "everything");
	filter_in(&q->product, "p03", NULL);
	walk(q, "product equality");
	filter_in(&q->product, "p07", "p01");
	walk(q, "product in");
	filter_prefix(&q->product, "p1");
	walk(q, "product prefix");
	assert_true(n_refs > 0);
	filter_prefix(&q->product, "P1");
	walk(q, "product prefix, other case");
	filter_prefix(&q->product, "p");
	walk(q, "product prefix of one letter");
	memset(&q->product, 0, sizeof(q->product));
	filter_in(&q->variant, "v2", "v0");
	walk(q, "variant in");
	memset(&q->variant, 0, sizeof(q->variant));
	filter_prefix(&q->location, "e");
	walk(q, "location prefix");
	filter_prefix(&q->location, "EAS");
	walk(q, "location prefix, upper case");
	filter_prefix(&q->location, "wEsT");
	walk(q, "location prefix, mixed case");
	filter_prefix(&q->location, "defaulT");
	walk(q, "location prefix of seven letters");
	filter_in(&q->location, "west", NULL);
	q->has_status = true;
	q->status = SL_STATUS_IN_STOCK;
	walk(q, "location and status");
	memset(q, 0, sizeof(*q));
	q->has_tracked = true;
	q->is_tracked = false;
	walk(q, "untracked");
	for (int s = LEDGER_SORT_QUANTITY; s <= LEDGER_SORT_UPDATED; s++)
		for (int desc = 0; desc < 2; desc++) {
			memset(q, 0, sizeof(*q));
			q->sort = (ledger_sort)s;
			q->is_desc = desc;
			walk(q, "sorted");
			q->has_min_quantity = true;
			q->min_quantity = 0;
			q->has_max_quantity = true;
			q->max_quantity = 9;
			walk(q, "sorted with a quantity range");
			q->has_min_quantity = q->has_max_quantity = false;
			q->has_updated_after = true;
			q->updated_after_ms = clock_ms - 40000;
			q->has_updated_before = true;
			q->updated_before_ms = clock_ms - 10000;
			walk(q, "sorted with an updatedDate range");
		}
	free(q);
}

/* A sorted page over a hot index (in memory, ledger/memindex.h) copies its keys out in
 * attempts of growing size, up to SL_QUERY_HOT_SCAN_MAX rows; with a filter that only a few
 * of many items pass, pages need several attempts, and one item past the budget needs a
 * page that returns nothing but a cursor. */
static void test_sorted_pages_over_many_attempts_equal_the_reference(void **state)
{
	(void)state;
	for (int i = 0; i < N_ITEMS_MANY; i++) {
		char p[16];
		snprintf(p, sizeof(p), "m%05d", i);
		sl_item_key k;
		key_of(&k, p, i % 150 == 7 ? "rare" : "common", "default");
		sl_item_state st = tracked((int64_t)(rnd() % 7) - 2);
		change_commit(&k, &st);
		if (rnd() % 8 == 0)
			change_commit(&k, &(sl_item_state){.exists = false});
	}
	sl_item_key far;
	key_of(&far, "far", "far", "default");
	change_commit(&far, &(sl_item_state){.exists = true,
	                                     .track_quantity = true,
	                                     .quantity = 1000000,
	                                     .in_stock = true});
	ledger_query *q = calloc(1, sizeof(*q));
	for (int s = LEDGER_SORT_QUANTITY; s <= LEDGER_SORT_UPDATED; s += 2)
		for (int desc = 0; desc < 2; desc++) {
			memset(q, 0, sizeof(*q));
			q->sort = (ledger_sort)s;
			q->is_desc = desc;
			filter_in(&q->variant, "rare", NULL);
			walk(q, "sorted, a rare variant");
			assert_true(n_refs > 0);
			filter_in(&q->variant, "far", NULL);
			walk(q, "sorted, one item at an end");
			assert_int_equal(n_refs, 1);
			memset(&q->variant, 0, sizeof(q->variant));
			walk(q, "sorted, everything");
			assert_true(n_refs > SL_QUERY_HOT_SCAN_MAX);
		}
	/* the item at the far end, past the budget: the first page has only a cursor */
	memset(q, 0, sizeof(*q));
	q->sort = LEDGER_SORT_QUANTITY;
	filter_in(&q->variant, "far", NULL);
	ledger_query_page *page = malloc(sizeof(*page));
	sl_error_info err;
	assert_int_equal(ledger_query_run(L, q, page, &err), SL_OK);
	assert_int_equal(page->n_items, 0);
	assert_true(page->next_cursor[0] != '\0');
	free(page);
	free(q);
	verify_ok();
}

typedef struct mover {
	sl_item_key key;
	atomic_bool is_stopping;
	int moves;
} mover;

/* mover_main moves its item between the two ends of the quantity order until told to stop. */
static void *mover_main(void *arg)
{
	mover *m = arg;
	for (int i = 0; !atomic_load(&m->is_stopping); i++, m->moves++)
		change_commit(&m->key, &(sl_item_state){.exists = true,
		                                        .track_quantity = true,
		                                        .quantity = i % 2 ? 100000 : 10,
		                                        .in_stock = true});
	return NULL;
}

/* A page is as of one seq, also while the hot index changes under it: an item that matches
 * at every seq is on every page that covers the whole range (found by a review: a page read
 * in chunks from a changing index could miss it and end without a cursor). */
static void test_sorted_page_misses_no_item_that_moves_while_it_is_read(void **state)
{
	(void)state;
	for (int i = 0; i < 3000; i++) {
		char p[16];
		snprintf(p, sizeof(p), "c%05d", i);
		sl_item_key k;
		key_of(&k, p, "common", "default");
		change_commit(&k, &(sl_item_state){.exists = true,
		                                   .track_quantity = true,
		                                   .quantity = 20 + i,
		                                   .in_stock = true});
	}
	mover m;
	memset(&m, 0, sizeof(m));
	key_of(&m.key, "rare-item", "rare", "default");
	change_commit(&m.key, &(sl_item_state){.exists = true,
	                                       .track_quantity = true,
	                                       .quantity = 100000,
	                                       .in_stock = true});
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, mover_main, &m), 0);
	ledger_query *q = calloc(1, sizeof(*q));
	ledger_query_page *page = malloc(sizeof(*page));
	int missed = 0;
	for (int i = 0; i < 300; i++) {
		memset(q, 0, sizeof(*q));
		q->sort = LEDGER_SORT_QUANTITY;
		q->is_desc = i % 2;
		q->limit = 10;
		filter_in(&q->variant, "rare", NULL);
		sl_error_info err;
		assert_int_equal(ledger_query_run(L, q, page, &err), SL_OK);
		assert_true(page->next_cursor[0] ==
		            '\0'); /* 3,001 rows: within one page's budget */
		if (page->n_items != 1)
			missed++;
	}
	atomic_store(&m.is_stopping, true);
	assert_int_equal(pthread_join(th, NULL), 0);
	printf("# 300 pages while the item moved %d times\n", m.moves);
	assert_int_equal(missed, 0);
	free(page);
	free(q);
}

static void test_crawl_pages_return_each_item_once_as_of_the_first_page(void **state)
{
	(void)state;
	populate();
	ledger_query *q = calloc(1, sizeof(*q));
	reference(q); /* the items and states at the first page */
	size_t n_before = n_refs;
	ref_item *before = malloc(sizeof(refs));
	memcpy(before, refs, sizeof(refs));
	ledger_query_page *page = malloc(sizeof(*page));
	sl_error_info err;
	size_t seen = 0;
	q->limit = 9;
	for (;;) {
		assert_int_equal(ledger_query_run(L, q, page, &err), SL_OK);
		for (size_t i = 0; i < page->n_items; i++, seen++) {
			assert_true(seen < n_before);
			assert_int_equal(sl_item_key_cmp(&page->items[i].key, &before[seen].it.key),
			                 0);
			assert_int_equal(page->items[i].state.quantity,
			                 before[seen].it.state.quantity);
			assert_int_equal(page->items[i].revision, before[seen].it.revision);
		}
		if (page->next_cursor[0] == '\0')
			break;
		sl_strlcpy(q->cursor, page->next_cursor, sizeof(q->cursor));
		/* writes between pages: change, delete and create items everywhere */
		for (int k = 0; k < 5; k++) {
			const sl_item *it = &before[rnd() % n_before].it;
			sl_item now;
			assert_int_equal(ledger_view_get(L, &it->key, &now), SL_OK);
			if (!now.state.exists)
				change_commit(&it->key,
				              &(sl_item_state){.exists = true, .in_stock = true});
			else if (rnd() % 3 == 0)
				change_commit(&it->key, &(sl_item_state){.exists = false});
			else
				change_commit(&it->key, &(sl_item_state){.exists = true,
				                                         .track_quantity = true,
				                                         .quantity = 99,
				                                         .in_stock = true});
			sl_item_key fresh;
			char p[32];
			snprintf(p, sizeof(p), "a-new-%llu", (unsigned long long)(rnd() % 100000));
			key_of(&fresh, p, "v", "default");
			if (ledger_view_get(L, &fresh, &(sl_item){0}) != SL_OK)
				change_commit(&fresh, &(sl_item_state){.exists = true,
				                                       .track_quantity = true,
				                                       .quantity = 1,
				                                       .in_stock = true});
		}
	}
	assert_int_equal(seen, n_before);
	verify_ok();
	free(page);
	free(before);
	free(q);
}

static void test_query_refuses_bad_cursors_sorts_in_the_past_and_huge_pages(void **state)
{
	(void)state;
	populate();
	ledger_query *q = calloc(1, sizeof(*q));
	ledger_query_page *page = malloc(sizeof(*page));
	sl_error_info err;
	sl_strlcpy(q->cursor, "zz", sizeof(q->cursor));
	assert_int_equal(ledger_query_run(L, q, page, &err), SL_ERR_INVALID_ARGUMENT);
	/* a cursor of another plan */
	q->cursor[0] = '\0';
	q->limit = 1;
	q->sort = LEDGER_SORT_QUANTITY;
	assert_int_equal(ledger_query_run(L, q, page, &err), SL_OK);
	char cur[SL_CURSOR_MAX + 1];
	sl_strlcpy(cur, page->next_cursor, sizeof(cur));
	q->sort = LEDGER_SORT_CRAWL;
	sl_strlcpy(q->cursor, cur, sizeof(q->cursor));
	assert_int_equal(ledger_query_run(L, q, page, &err), SL_ERR_INVALID_ARGUMENT);
	/* a cursor of the same plan with other filters: the cursor carries the query's hash */
	q->sort = LEDGER_SORT_QUANTITY;
	assert_int_equal(ledger_query_run(L, q, page, &err), SL_OK); /* its own query: fine */
	q->has_min_quantity = true;
	q->min_quantity = 3;
	sl_strlcpy(q->cursor, cur, sizeof(q->cursor));
	assert_int_equal(ledger_query_run(L, q, page, &err), SL_ERR_INVALID_ARGUMENT);
	assert_non_null(strstr(err.message, "is not one of this query's"));
	q->has_min_quantity = false;
	filter_prefix(&q->location, "e");
	sl_strlcpy(q->cursor, cur, sizeof(q->cursor));
	assert_int_equal(ledger_query_run(L, q, page, &err), SL_ERR_INVALID_ARGUMENT);
	memset(&q->location, 0, sizeof(q->location));
	q->sort = LEDGER_SORT_CRAWL;
	q->cursor[0] = '\0';
	q->sort = LEDGER_SORT_UPDATED;
	q->has_as_of_seq = true;
	q->as_of_seq = 1;
	assert_int_equal(ledger_query_run(L, q, page, &err), SL_ERR_INVALID_ARGUMENT);
	q->sort = LEDGER_SORT_CRAWL;
	q->as_of_seq = ledger_head(L, NULL) + 1;
	assert_int_equal(ledger_query_run(L, q, page, &err), SL_ERR_INVALID_ARGUMENT);
	q->has_as_of_seq = false;
	q->limit = SL_QUERY_PAGE_MAX + 1;
	assert_int_equal(ledger_query_run(L, q, page, &err), SL_ERR_LIMIT_EXCEEDED);
	free(page);
	free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_index_keys_sort_like_their_values, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        test_put_view_keeps_the_index_equal_to_the_views_through_changes, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_sorted_pages_over_many_attempts_equal_the_reference, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_sorted_page_misses_no_item_that_moves_while_it_is_read, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_query_pages_equal_a_filtered_scan_of_every_view,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_crawl_pages_return_each_item_once_as_of_the_first_page, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_query_refuses_bad_cursors_sorts_in_the_past_and_huge_pages, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

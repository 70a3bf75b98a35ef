/*
 * query_model_test.c: queries (ledger/query.h) against a model kept apart from the code under
 * test.
 *
 * Method: random creates, updates, deletes and re-creates of items whose ids differ in case
 * and share prefixes, with updatedDates that tie, appended through the ledger's transaction
 * API and folded by the projector's fold, as index_test does. The model is the list of views
 * after each change (read back from the ledger: the fold is not under test here) and copies
 * of it at some seqs. Every query is walked page by page and compared with a filter and a sort
 * written here from docs/audit.md, not with ledger_query_matches: in crawl order the walk must
 * equal the model as of its pin, also while writes go on between pages; sorted, the model now.
 * The same after a restart (hot indexes derived from the views) and after a rebuild. A seed is
 * logged (SL_SEED replays it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
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

#define N_KEYS 160
#define N_SNAPS 40

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

static const char *const products[] = {"ab",       "AB", "aB", "abc", "abC", "Abcdefgh",
                                       "abcdefgX", "b",  "b_", "B^",  "zz",  "a-b"};
static const char *const variants[] = {"v", "V", "v1", "w", "x_y"};
static const char *const locations[] = {"default", "east", "EaSt", "West", "w"};

typedef struct model {
	sl_item views[N_KEYS]; /* state.exists false: never created or deleted */
	bool is_known[N_KEYS];
	uint64_t seq;
} model;

static sl_item_key keys[N_KEYS];
static size_t n_keys;
static model now;
static model snaps[N_SNAPS];
static int64_t times[8192]; /* the time of each seq */
static size_t n_snaps;

static int setup(void **state)
{
	(void)state;
	char err[512];
	snprintf(data_dir, sizeof(data_dir), "/tmp/sl-qmodel-test-XXXXXX");
	assert_non_null(mkdtemp(data_dir));
	assert_int_equal(ledger_open(data_dir, &L, err, sizeof(err)), SL_OK);
	const char *seed = getenv("SL_SEED");
	rng = seed != NULL ? strtoull(seed, NULL, 10) : (uint64_t)sl_time_now_ms();
	if (rng == 0)
		rng = 1;
	printf("# query_model_test seed %llu (SL_SEED to replay)\n", (unsigned long long)rng);
	memset(&now, 0, sizeof(now));
	n_snaps = 0;
	n_keys = 0;
	for (size_t p = 0; p < sizeof(products) / sizeof(products[0]); p++)
		for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++)
			for (size_t l = 0; l < sizeof(locations) / sizeof(locations[0]); l++) {
				if (n_keys == N_KEYS || rnd() % 2)
					continue;
				sl_item_key *k = &keys[n_keys++];
				memset(k, 0, sizeof(*k));
				sl_strlcpy(k->product_id, products[p], sizeof(k->product_id));
				sl_strlcpy(k->variant_id, variants[v], sizeof(k->variant_id));
				sl_strlcpy(k->location_id, locations[l], sizeof(k->location_id));
			}
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

/* change_commit appends one event taking key i to `after` and commits it. */
static void change_commit(size_t i, const sl_item_state *after)
{
	ledger_txn *t = ledger_txn_alloc(L);
	assert_non_null(t);
	assert_int_equal(ledger_txn_begin(t), SL_OK);
	sl_item view;
	if (ledger_view_get(L, &keys[i], &view) != SL_OK)
		memset(&view, 0, sizeof(view));
	sl_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.seq = ledger_txn_next_seq(t);
	clock_ms += (int64_t)(rnd() % 3) * 500; /* ties of updatedDate and createdDate */
	ev.time_ms = clock_ms;
	ev.item = keys[i];
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
	assert_int_equal(ledger_txn_commit(t, false), SL_OK);
	ledger_txn_free(t);
	assert_int_equal(ledger_view_get(L, &keys[i], &now.views[i]), SL_OK);
	now.is_known[i] = true;
	now.seq = ev.seq;
	assert_true(ev.seq < sizeof(times) / sizeof(times[0]));
	times[ev.seq] = ev.time_ms;
}

static sl_item_state random_state(void)
{
	sl_item_state s;
	memset(&s, 0, sizeof(s));
	s.exists = true;
	s.track_quantity = rnd() % 4 != 0;
	if (s.track_quantity) {
		s.quantity = (int64_t)(rnd() % 13) - 4;
		s.in_stock = s.quantity > 0;
	} else {
		s.in_stock = rnd() % 2;
	}
	s.preorder_enabled = rnd() % 5 == 0;
	return s;
}

/* random_change changes a random key: create, update, delete or create again. */
static void random_change(void)
{
	size_t i = rnd() % n_keys;
	if (now.views[i].state.exists && rnd() % 4 == 0)
		change_commit(i, &(sl_item_state){.exists = false});
	else
		change_commit(i, &(sl_item_state[]){random_state()}[0]);
	if (rnd() % 25 == 0 && n_snaps < N_SNAPS)
		snaps[n_snaps++] = now;
}

/* ---- the reference, from docs/audit.md ---- */

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

static bool ids_ok(const ledger_id_filter *f, const char *id)
{
	if (f->op == LEDGER_MATCH_ANY)
		return true;
	if (f->op == LEDGER_MATCH_IN) {
		for (size_t i = 0; i < f->n; i++)
			if (strcmp(f->values[i], id) == 0)
				return true;
		return false;
	}
	const char *p = f->values[0];
	size_t n = strlen(p);
	if (strlen(id) < n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower(p[i]) != lower(id[i]))
			return false;
	return true;
}

static bool ref_matches(const ledger_query *q, const sl_item *it)
{
	const sl_item_state *s = &it->state;
	if (!s->exists)
		return false;
	if (!ids_ok(&q->product, it->key.product_id) || !ids_ok(&q->variant, it->key.variant_id) ||
	    !ids_ok(&q->location, it->key.location_id))
		return false;
	if (q->has_status && ledger_item_status(s) != q->status)
		return false;
	if (q->has_tracked && s->track_quantity != q->is_tracked)
		return false;
	if ((q->has_min_quantity && (!s->track_quantity || s->quantity < q->min_quantity)) ||
	    (q->has_max_quantity && (!s->track_quantity || s->quantity > q->max_quantity)))
		return false;
	if (q->has_updated_after && !(it->updated_ms > q->updated_after_ms))
		return false;
	if (q->has_updated_before && !(it->updated_ms < q->updated_before_ms))
		return false;
	return true;
}

static int key_cmp(const sl_item_key *a, const sl_item_key *b)
{
	int c = strcmp(a->product_id, b->product_id);
	if (c == 0)
		c = strcmp(a->variant_id, b->variant_id);
	if (c == 0)
		c = strcmp(a->location_id, b->location_id);
	return c;
}

static const ledger_query *sort_q;

static int i64_cmp(int64_t a, int64_t b)
{
	return (a > b) - (a < b);
}

static int ref_cmp(const void *pa, const void *pb)
{
	const sl_item *a = pa, *b = pb;
	const ledger_query *q = sort_q;
	int c = 0;
	switch (q->sort) {
	case LEDGER_SORT_CRAWL:
		if (q->product.op == LEDGER_MATCH_ANY && q->variant.op != LEDGER_MATCH_ANY)
			c = strcmp(a->key.variant_id, b->key.variant_id);
		else if (q->product.op == LEDGER_MATCH_ANY && q->location.op != LEDGER_MATCH_ANY)
			c = strcmp(a->key.location_id, b->key.location_id);
		break;
	case LEDGER_SORT_QUANTITY:
		c = i64_cmp(a->state.track_quantity, b->state.track_quantity);
		if (c == 0)
			c = i64_cmp(a->state.track_quantity ? a->state.quantity : 0,
			            b->state.track_quantity ? b->state.quantity : 0);
		break;
	case LEDGER_SORT_CREATED:
		c = i64_cmp(a->created_ms, b->created_ms);
		break;
	case LEDGER_SORT_UPDATED:
		c = i64_cmp(a->updated_ms, b->updated_ms);
		break;
	}
	if (c == 0)
		c = key_cmp(&a->key, &b->key);
	return q->is_desc ? -c : c;
}

static sl_item ref[N_KEYS];
static size_t n_ref;

static void reference(const ledger_query *q, const model *m)
{
	n_ref = 0;
	for (size_t i = 0; i < n_keys; i++)
		if (m->is_known[i] && ref_matches(q, &m->views[i]))
			ref[n_ref++] = m->views[i];
	sort_q = q;
	qsort(ref, n_ref, sizeof(ref[0]), ref_cmp);
}

/* ---- random queries ---- */

static void random_ids(ledger_id_filter *f, const char *const *pool, size_t n_pool)
{
	memset(f, 0, sizeof(*f));
	switch (rnd() % 4) {
	case 0:
	case 1:
		return;
	case 2:
		f->op = LEDGER_MATCH_IN;
		f->n = 1 + rnd() % 3;
		for (size_t i = 0; i < f->n; i++)
			sl_strlcpy(f->values[i], pool[rnd() % n_pool], sizeof(f->values[i]));
		return;
	default: {
		f->op = LEDGER_MATCH_PREFIX;
		f->n = 1;
		const char *v = pool[rnd() % n_pool];
		size_t n = 1 + rnd() % strlen(v);
		for (size_t i = 0; i < n; i++) {
			char c = v[i];
			if (c >= 'a' && c <= 'z' && rnd() % 2)
				c = (char)(c - 32);
			else if (c >= 'A' && c <= 'Z' && rnd() % 2)
				c = (char)(c + 32);
			f->values[0][i] = c;
		}
		f->values[0][n] = '\0';
		return;
	}
	}
}

static void random_query(ledger_query *q, bool is_sorted)
{
	memset(q, 0, sizeof(*q));
	random_ids(&q->product, products, sizeof(products) / sizeof(products[0]));
	random_ids(&q->variant, variants, sizeof(variants) / sizeof(variants[0]));
	random_ids(&q->location, locations, sizeof(locations) / sizeof(locations[0]));
	if (rnd() % 5 == 0) {
		q->has_status = true;
		q->status = (sl_status)(1 + rnd() % 3);
	}
	if (rnd() % 4 == 0) {
		q->has_tracked = true;
		q->is_tracked = rnd() % 2;
	}
	if (rnd() % 4 == 0) {
		q->has_min_quantity = true;
		q->min_quantity = (int64_t)(rnd() % 13) - 5;
	}
	if (rnd() % 4 == 0) {
		q->has_max_quantity = true;
		q->max_quantity = (int64_t)(rnd() % 13) - 5;
	}
	int64_t span = clock_ms - 1700000000000LL + 1;
	if (rnd() % 4 == 0) {
		q->has_updated_after = true;
		q->updated_after_ms = 1700000000000LL + (int64_t)(rnd() % (uint64_t)span);
	}
	if (rnd() % 4 == 0) {
		q->has_updated_before = true;
		q->updated_before_ms = 1700000000000LL + (int64_t)(rnd() % (uint64_t)span);
	}
	if (is_sorted) {
		q->sort = (ledger_sort)(1 + rnd() % 3);
		q->is_desc = rnd() % 2;
	}
	q->limit = (uint32_t)(1 + rnd() % 9);
}

static void describe(const ledger_query *q, char *out, size_t size)
{
	snprintf(out, size,
	         "sort %d desc %d p(op %d '%s' n %zu) v(op %d '%s') l(op %d '%s') status %d/%d "
	         "tracked %d/%d min %d/%lld max %d/%lld after %d/%lld before %d/%lld limit %u "
	         "as-of %d/%llu",
	         q->sort, q->is_desc, q->product.op, q->product.values[0], q->product.n,
	         q->variant.op, q->variant.values[0], q->location.op, q->location.values[0],
	         q->has_status, q->status, q->has_tracked, q->is_tracked, q->has_min_quantity,
	         (long long)q->min_quantity, q->has_max_quantity, (long long)q->max_quantity,
	         q->has_updated_after, (long long)(q->updated_after_ms - 1700000000000LL),
	         q->has_updated_before, (long long)(q->updated_before_ms - 1700000000000LL),
	         q->limit, q->has_as_of_seq, (unsigned long long)q->as_of_seq);
}

/* walk runs every page of q against the reference of m (the model at the first page), with
 * `writes` random changes between pages (crawl order only: sorted walks are live). */
static void walk(ledger_query *q, const model *m, int writes)
{
	ledger_query_page *page = malloc(sizeof(*page));
	char what[512];
	describe(q, what, sizeof(what));
	reference(q, m);
	q->cursor[0] = '\0';
	size_t seen = 0;
	for (int pages = 0;; pages++) {
		sl_error_info err;
		if (pages > 1000)
			fail_msg("%s: no end", what);
		sl_err rc = ledger_query_run(L, q, page, &err);
		if (rc != SL_OK)
			fail_msg("%s: %s", what, err.message);
		if (q->sort == LEDGER_SORT_CRAWL && page->as_of_seq != m->seq)
			fail_msg("%s: page %d as of %llu, expected %llu", what, pages,
			         (unsigned long long)page->as_of_seq, (unsigned long long)m->seq);
		for (size_t i = 0; i < page->n_items; i++, seen++) {
			const sl_item *got = &page->items[i];
			if (seen >= n_ref)
				fail_msg("%s: item %zu %s/%s@%s past the reference's %zu", what,
				         seen, got->key.product_id, got->key.variant_id,
				         got->key.location_id, n_ref);
			const sl_item *want = &ref[seen];
			if (key_cmp(&got->key, &want->key) != 0 ||
			    got->state.quantity != want->state.quantity ||
			    got->revision != want->revision ||
			    got->updated_ms != want->updated_ms ||
			    got->created_ms != want->created_ms)
				fail_msg(
				    "%s: item %zu (page %d) is %s/%s@%s q %lld rev %lld, expected "
				    "%s/%s@%s q %lld rev %lld",
				    what, seen, pages, got->key.product_id, got->key.variant_id,
				    got->key.location_id, (long long)got->state.quantity,
				    (long long)got->revision, want->key.product_id,
				    want->key.variant_id, want->key.location_id,
				    (long long)want->state.quantity, (long long)want->revision);
		}
		if (page->n_items == q->limit && page->next_cursor[0] == '\0' && seen < n_ref)
			fail_msg("%s: a full page without a cursor at %zu of %zu", what, seen,
			         n_ref);
		if (page->next_cursor[0] == '\0')
			break;
		sl_strlcpy(q->cursor, page->next_cursor, sizeof(q->cursor));
		for (int w = 0; w < writes; w++)
			random_change();
	}
	if (seen != n_ref)
		fail_msg("%s: %zu items, the reference has %zu", what, seen, n_ref);
	free(page);
}

static void check_queries(int rounds)
{
	ledger_query *q = calloc(1, sizeof(*q));
	for (int r = 0; r < rounds; r++) {
		random_query(q, r % 2 == 1);
		walk(q, &now, 0);
	}
	/* crawl walks while writes go on */
	for (int r = 0; r < rounds / 4; r++) {
		random_query(q, false);
		model at = now;
		walk(q, &at, 1 + (int)(rnd() % 3));
	}
	/* point in time */
	for (size_t s = 0; s < n_snaps; s++) {
		random_query(q, false);
		q->has_as_of_seq = true;
		q->as_of_seq = snaps[s].seq;
		walk(q, &snaps[s], (int)(rnd() % 2));
		/* the same by time, where the next event is later */
		if (snaps[s].seq < now.seq && times[snaps[s].seq + 1] > times[snaps[s].seq]) {
			random_query(q, false);
			q->has_as_of_ms = true;
			q->as_of_ms = times[snaps[s].seq] +
			              (int64_t)(rnd() % 2) *
			                  (times[snaps[s].seq + 1] - times[snaps[s].seq] - 1);
			walk(q, &snaps[s], (int)(rnd() % 2));
		}
	}
	free(q);
}

static void populate(int changes)
{
	for (int i = 0; i < changes; i++)
		random_change();
}

static void test_queries_equal_the_model(void **state)
{
	(void)state;
	populate(1500);
	check_queries(600);
}

static void test_queries_equal_the_model_after_a_restart_and_a_rebuild(void **state)
{
	(void)state;
	populate(1200);
	char err[512];
	ledger_close(L);
	assert_int_equal(ledger_open(data_dir, &L, err, sizeof(err)), SL_OK);
	n_snaps = 0;
	check_queries(300);
	populate(300);
	projector_report rep;
	assert_int_equal(projector_rebuild(L, NULL, NULL, &rep), SL_OK);
	n_snaps = 0;
	check_queries(300);
	populate(300);
	check_queries(200);
}

/* A directory rebuilt to seq N (stockledger-admin rebuild --to-seq) serves its views as of N:
 * every page, crawl or sorted, says it is as of N and shows the items at N. */
static void test_pages_of_views_rebuilt_to_a_seq_are_as_of_that_seq(void **state)
{
	(void)state;
	populate(400);
	model at = now;
	populate(100);
	projector_report rep;
	assert_int_equal(projector_rebuild_to(L, at.seq, NULL, NULL, &rep), SL_OK);
	ledger_query *q = calloc(1, sizeof(*q));
	ledger_query_page *page = malloc(sizeof(*page));
	for (int s = LEDGER_SORT_CRAWL; s <= LEDGER_SORT_UPDATED; s++) {
		memset(q, 0, sizeof(*q));
		q->sort = (ledger_sort)s;
		q->limit = 3;
		sl_error_info err;
		assert_int_equal(ledger_query_run(L, q, page, &err), SL_OK);
		if (page->as_of_seq != at.seq)
			fail_msg("sort %d: a page as of %llu, the views are as of %llu", s,
			         (unsigned long long)page->as_of_seq, (unsigned long long)at.seq);
		walk(q, &at, 0);
	}
	free(page);
	free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_queries_equal_the_model, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_queries_equal_the_model_after_a_restart_and_a_rebuild, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pages_of_views_rebuilt_to_a_seq_are_as_of_that_seq,
	                                    setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

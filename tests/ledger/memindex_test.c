/*
 * memindex_test.c: the in-memory hot indexes (ledger/memindex.h) against a tiny reference.
 *
 * Method (a Redis-style model test): a random stream of inserts and deletes of realistic 'Q'
 * and 'U' keys (both tags, untracked and tracked quantities with negatives and ties, item
 * keys of varied lengths, some the prefix of others) goes to a memindex and to a sorted array
 * of byte strings. After every batch the two must agree on all a reader sees: the count, the
 * whole order forwards and backwards, seek and seek_for_prev at random byte strings (whole
 * keys, prefixes, keys between entries, before the first and past the last) and a step on
 * from there; duplicate inserts and absent deletes are refused; and memindex_bytes stays
 * within a small multiple of what is held, which only holds if underfull leaves are merged.
 * The seed is printed; SL_SEED replays it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sl_util.h"
#include "ledger/index.h"
#include "ledger/memindex.h"
#include "base/banned.h"

#define N_ITEM_KEYS 1500
#define N_BATCHES 300
#define BATCH_OPS 150
#define SEEKS_PER_BATCH 200

typedef struct tkey {
	size_t len;
	uint8_t b[LEDGER_INDEX_KEY_BYTES];
} tkey;

typedef struct titem {
	size_t len;
	uint8_t b[LEDGER_KEY_BYTES];
	bool is_used; /* inserted at least once, so interned */
} titem;

static uint64_t seed0;
static uint64_t rng;
static titem *items;
static size_t n_items;
/* the reference: sorted distinct keys */
static tkey **model;
static size_t model_n;
static size_t model_cap;
static size_t ops_checked;
static size_t seeks_checked;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n > 0 ? memcmp(a, b, n) : 0;
	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

/* ---- the reference ---- */

/* model_lower: the first key >= k (is_upper: > k) */
static size_t model_bound(const uint8_t *k, size_t klen, bool is_upper)
{
	size_t lo = 0, hi = model_n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = key_cmp(model[mid]->b, model[mid]->len, k, klen);
		if (is_upper ? c <= 0 : c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool model_find(const uint8_t *k, size_t klen, size_t *at)
{
	*at = model_bound(k, klen, false);
	return *at < model_n && key_cmp(model[*at]->b, model[*at]->len, k, klen) == 0;
}

static void model_insert(size_t at, const uint8_t *k, size_t klen)
{
	if (model_n == model_cap) {
		model_cap = model_cap == 0 ? 1024 : model_cap * 2;
		model = realloc(model, model_cap * sizeof(*model));
		assert_non_null(model);
	}
	tkey *t = malloc(sizeof(*t));
	assert_non_null(t);
	t->len = klen;
	memcpy(t->b, k, klen);
	memmove(&model[at + 1], &model[at], (model_n - at) * sizeof(*model));
	model[at] = t;
	model_n++;
}

static void model_delete(size_t at)
{
	free(model[at]);
	memmove(&model[at], &model[at + 1], (model_n - at - 1) * sizeof(*model));
	model_n--;
}

static void model_reset(void)
{
	while (model_n > 0)
		free(model[--model_n]);
	free(model);
	model = NULL;
	model_cap = 0;
}

/* ---- keys ---- */

static void id_put(uint8_t *b, size_t *n, const char *alphabet, size_t len)
{
	size_t a = strlen(alphabet);
	for (size_t i = 0; i < len; i++)
		b[(*n)++] = (uint8_t)alphabet[rnd() % a];
}

/* item_make writes a random item key: product\0variant\0location (ids of 1 to 64 bytes,
 * locations from a two-letter alphabet so that many are prefixes of others), or now and
 * then a few raw bytes. */
static size_t item_make(uint8_t *b)
{
	size_t n = 0;
	if (rnd() % 25 == 0) {
		size_t len = 1 + rnd() % 3;
		for (size_t i = 0; i < len; i++)
			b[n++] = (uint8_t)rnd();
		return n;
	}
	char num[24];
	if (rnd() % 10 == 0) {
		id_put(b, &n, "abcdefghijklmnopqrstuvwxyz0123456789-", SL_ID_MAX);
	} else {
		int len = snprintf(num, sizeof(num), "p%u", (unsigned)(rnd() % 300));
		memcpy(b + n, num, (size_t)len);
		n += (size_t)len;
	}
	b[n++] = '\0';
	b[n++] = 'v';
	id_put(b, &n, "0123", rnd() % 2);
	b[n++] = '\0';
	b[n++] = 'L';
	id_put(b, &n, "ab", rnd() % 10 == 0 ? SL_ID_MAX - 1 : rnd() % 5);
	SL_ASSERT(n <= LEDGER_KEY_BYTES);
	return n;
}

static void items_make(size_t n)
{
	items = calloc(n, sizeof(*items));
	assert_non_null(items);
	n_items = n;
	for (size_t i = 0; i < n; i++)
		items[i].len = item_make(items[i].b);
}

static int64_t quantity_pick(void)
{
	static const int64_t edge[] = {INT64_MIN, INT64_MIN + 1, -1,       0,
	                               1,         INT64_MAX - 1, INT64_MAX};
	uint64_t r = rnd() % 10;
	if (r < 5) /* many ties */
		return (int64_t)(rnd() % 11) - 5;
	if (r < 7)
		return (int64_t)(rnd() % 2001) - 1000;
	if (r < 8)
		return (int64_t)rnd();
	return r < 9 ? edge[rnd() % (sizeof(edge) / sizeof(edge[0]))] : (int64_t)(rnd() % 3);
}

static int64_t time_pick(void)
{
	static const int64_t edge[] = {INT64_MIN, -1, 0, INT64_MAX};
	const int64_t base = 1700000000000LL;
	uint64_t r = rnd() % 10;
	if (r < 5) /* many ties */
		return base + (int64_t)(rnd() % 40);
	if (r < 8)
		return base + (int64_t)(rnd() % 10000000000ULL);
	return r < 9 ? -(int64_t)(rnd() % 1000) : edge[rnd() % (sizeof(edge) / sizeof(edge[0]))];
}

/* key_hot writes the index key of item it: 'Q' (tracked or not) or 'U' with value v. */
static size_t key_hot(uint8_t *k, size_t it, uint8_t tag, bool is_tracked, int64_t v)
{
	size_t n = 0;
	k[n++] = tag;
	if (tag == LEDGER_INDEX_QUANTITY)
		k[n++] = is_tracked ? 1 : 0;
	sl_be64_put(k + n, ledger_index_u64(v));
	n += 8;
	memcpy(k + n, items[it].b, items[it].len);
	return n + items[it].len;
}

/* key_make writes a random hot key into k; *it is its item. */
static size_t key_make(uint8_t *k, size_t *it)
{
	*it = rnd() % n_items;
	if (rnd() % 2 == 0) {
		bool is_tracked = rnd() % 4 != 0;
		return key_hot(k, *it, LEDGER_INDEX_QUANTITY, is_tracked,
		               is_tracked ? quantity_pick() : 0);
	}
	return key_hot(k, *it, LEDGER_INDEX_UPDATED, false, time_pick());
}

/* probe_make writes a byte string to seek at: a key held, a prefix of one, a neighbour of
 * one, a fresh key, a bare tag or value, or random bytes. */
static size_t probe_make(uint8_t *k)
{
	static const char *const fixed[] = {"",      "A", "P\xff", "Q",     "Q\x00", "Q\x01",
	                                    "Q\x02", "R", "U",     "U\x80", "V",     "\xff"};
	static const size_t fixed_len[] = {0, 1, 2, 1, 2, 2, 2, 1, 1, 2, 1, 1};
	size_t n, it;
	switch (rnd() % 8) {
	case 0:
	case 1:
	case 2: {
		if (model_n == 0)
			return key_make(k, &it);
		const tkey *t = model[rnd() % model_n];
		memcpy(k, t->b, t->len);
		n = t->len;
		switch (rnd() % 4) {
		case 0:
			return n;
		case 1:
			return rnd() % n;
		case 2:
			if (k[n - 1] != 0xff) {
				k[n - 1]++;
				return n;
			}
			k[n++] = (uint8_t)rnd();
			return n;
		default:
			if (k[n - 1] != 0) {
				k[n - 1]--;
				return n;
			}
			return n - 1;
		}
	}
	case 3:
	case 4:
		return key_make(k, &it);
	case 5: {
		size_t f = rnd() % (sizeof(fixed) / sizeof(fixed[0]));
		memcpy(k, fixed[f], fixed_len[f]);
		return fixed_len[f];
	}
	case 6:
		(void)key_make(k, &it);
		return k[0] == LEDGER_INDEX_QUANTITY ? 10 : 9;
	default:
		n = 0;
		k[n++] = (uint8_t) "PQRUV"[rnd() % 5];
		for (size_t i = rnd() % 20; i > 0; i--)
			k[n++] = (uint8_t)rnd();
		return n;
	}
}

/* ---- checks ---- */

static void key_expect(const memindex *m, const memindex_pos *pos, size_t at)
{
	uint8_t out[LEDGER_INDEX_KEY_BYTES];
	assert_true(at < model_n);
	size_t len = memindex_key(m, pos, out);
	assert_int_equal(len, model[at]->len);
	assert_memory_equal(out, model[at]->b, len);
}

static void check_iteration(const memindex *m)
{
	memindex_pos pos;
	assert_int_equal(memindex_count(m), model_n);
	bool ok = memindex_seek(m, (const uint8_t *)"", 0, &pos);
	for (size_t i = 0; i < model_n; i++) {
		assert_true(ok);
		key_expect(m, &pos, i);
		memindex_pos was = pos;
		ok = memindex_next(m, &pos);
		if (!ok)
			assert_true(pos.leaf == was.leaf && pos.i == was.i && pos.tag == was.tag);
	}
	assert_false(ok);
	ok = memindex_seek_for_prev(m, (const uint8_t *)"\xff", 1, &pos);
	for (size_t i = model_n; i > 0; i--) {
		assert_true(ok);
		key_expect(m, &pos, i - 1);
		memindex_pos was = pos;
		ok = memindex_prev(m, &pos);
		if (!ok)
			assert_true(pos.leaf == was.leaf && pos.i == was.i && pos.tag == was.tag);
	}
	assert_false(ok);
}

static void check_seeks(const memindex *m, size_t n)
{
	uint8_t k[LEDGER_INDEX_KEY_BYTES + 1];
	for (size_t s = 0; s < n; s++) {
		size_t klen = probe_make(k);
		memindex_pos pos;
		size_t lo = model_bound(k, klen, false);
		bool ok = memindex_seek(m, k, klen, &pos);
		assert_int_equal(ok, lo < model_n);
		if (ok) {
			key_expect(m, &pos, lo);
			if (rnd() % 2 == 0) {
				assert_int_equal(memindex_next(m, &pos), lo + 1 < model_n);
				if (lo + 1 < model_n)
					key_expect(m, &pos, lo + 1);
			} else {
				assert_int_equal(memindex_prev(m, &pos), lo > 0);
				if (lo > 0)
					key_expect(m, &pos, lo - 1);
			}
		}
		size_t up = model_bound(k, klen, true);
		ok = memindex_seek_for_prev(m, k, klen, &pos);
		assert_int_equal(ok, up > 0);
		if (ok)
			key_expect(m, &pos, up - 1);
		seeks_checked += 2;
	}
}

static void check_refusals(memindex *m)
{
	uint8_t k[LEDGER_INDEX_KEY_BYTES + 8];
	size_t it, at, count = memindex_count(m);
	if (model_n > 0) {
		const tkey *t = model[rnd() % model_n];
		assert_int_equal(memindex_insert(m, t->b, t->len), SL_ERR_CORRUPT);
	}
	size_t klen;
	do
		klen = key_make(k, &it);
	while (model_find(k, klen, &at));
	assert_int_equal(memindex_delete(m, k, klen), SL_ERR_NOT_FOUND);
	/* not hot keys: another tag, no item key, an item key too long */
	k[0] = LEDGER_INDEX_CREATED;
	assert_int_equal(memindex_insert(m, k, klen), SL_ERR_CORRUPT);
	assert_int_equal(memindex_delete(m, k, klen), SL_ERR_CORRUPT);
	k[0] = LEDGER_INDEX_QUANTITY;
	assert_int_equal(memindex_insert(m, k, 10), SL_ERR_CORRUPT);
	k[0] = LEDGER_INDEX_UPDATED;
	assert_int_equal(memindex_insert(m, k, 9), SL_ERR_CORRUPT);
	memset(k + 9, 'x', LEDGER_KEY_BYTES + 1);
	assert_int_equal(memindex_insert(m, k, 9 + LEDGER_KEY_BYTES + 1), SL_ERR_CORRUPT);
	assert_int_equal(memindex_count(m), count);
}

/* bytes_bound: what memindex_bytes may be: nodes within 8x the entries' 16 bytes, the
 * interner within 4x its keys' bytes and 16 bytes of bookkeeping a key, and fixed costs. */
static size_t bytes_bound(size_t count)
{
	size_t key_bytes = 0, keys = 0;
	for (size_t i = 0; i < n_items; i++)
		if (items[i].is_used) {
			key_bytes += items[i].len;
			keys++;
		}
	return 8 * 16 * count + 4 * (key_bytes + 16 * keys) + 16384;
}

static void check_all(memindex *m)
{
	check_iteration(m);
	check_seeks(m, SEEKS_PER_BATCH);
	check_refusals(m);
	assert_true(memindex_bytes(m) <= bytes_bound(model_n));
}

/* ---- operations on both ---- */

static void both_insert(memindex *m, const uint8_t *k, size_t klen, size_t it)
{
	size_t at;
	bool has = model_find(k, klen, &at);
	assert_int_equal(memindex_insert(m, k, klen), has ? SL_ERR_CORRUPT : SL_OK);
	if (!has) {
		model_insert(at, k, klen);
		items[it].is_used = true;
	}
	ops_checked++;
}

static void both_delete(memindex *m, const uint8_t *k, size_t klen)
{
	size_t at;
	bool has = model_find(k, klen, &at);
	assert_int_equal(memindex_delete(m, k, klen), has ? SL_OK : SL_ERR_NOT_FOUND);
	if (has)
		model_delete(at);
	ops_checked++;
}

static void both_delete_at(memindex *m, size_t at)
{
	tkey t = *model[at];
	both_delete(m, t.b, t.len);
}

static int setup(void **state)
{
	(void)state;
	rng = seed0;
	ops_checked = 0;
	seeks_checked = 0;
	items_make(N_ITEM_KEYS);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	model_reset();
	free(items);
	items = NULL;
	n_items = 0;
	return 0;
}

/* ---- tests ---- */

static void test_memindex_is_hot_takes_q_and_u_keys_of_a_whole_length(void **state)
{
	(void)state;
	uint8_t k[LEDGER_INDEX_KEY_BYTES];
	memset(k, 'x', sizeof(k));
	k[0] = LEDGER_INDEX_QUANTITY;
	assert_false(memindex_is_hot(k, 0));
	assert_false(memindex_is_hot(k, 10));
	assert_true(memindex_is_hot(k, 11));
	assert_true(memindex_is_hot(k, 10 + LEDGER_KEY_BYTES));
	assert_false(memindex_is_hot(k, 10 + LEDGER_KEY_BYTES + 1));
	k[0] = LEDGER_INDEX_UPDATED;
	assert_false(memindex_is_hot(k, 9));
	assert_true(memindex_is_hot(k, 10));
	assert_true(memindex_is_hot(k, 9 + LEDGER_KEY_BYTES));
	assert_false(memindex_is_hot(k, 9 + LEDGER_KEY_BYTES + 1));
	const uint8_t cold[] = {LEDGER_INDEX_VARIANT,
	                        LEDGER_INDEX_LOCATION,
	                        LEDGER_INDEX_STATUS,
	                        LEDGER_INDEX_CREATED,
	                        'R',
	                        0};
	for (size_t i = 0; i < sizeof(cold); i++) {
		k[0] = cold[i];
		assert_false(memindex_is_hot(k, 40));
	}
}

static void test_memindex_equals_a_sorted_array_through_random_changes(void **state)
{
	(void)state;
	memindex *m = NULL;
	assert_int_equal(memindex_alloc(&m), SL_OK);
	uint8_t k[LEDGER_INDEX_KEY_BYTES];
	for (int batch = 0; batch < N_BATCHES; batch++) {
		/* fill, churn, drain most, churn: the count goes up and down through every size */
		static const unsigned insert_pct[] = {80, 55, 15, 50};
		unsigned pct = insert_pct[(batch / 50) % 4];
		for (int op = 0; op < BATCH_OPS; op++) {
			size_t it, klen;
			if (rnd() % 100 < pct) {
				klen = key_make(k, &it);
				both_insert(m, k, klen, it);
			} else if (model_n > 0 && rnd() % 4 != 0) {
				both_delete_at(m, rnd() % model_n);
			} else {
				klen = key_make(k, &it);
				both_delete(m, k, klen);
			}
		}
		check_all(m);
	}
	while (model_n > 0)
		both_delete_at(m, rnd() % model_n);
	check_all(m);
	print_message("  %zu operations and %zu seeks checked\n", ops_checked, seeks_checked);
	memindex_free(m);
}

/* fill_model puts n distinct random keys in the model (not in a memindex) */
static void fill_model(size_t n)
{
	uint8_t k[LEDGER_INDEX_KEY_BYTES];
	while (model_n < n) {
		size_t it, at, klen = key_make(k, &it);
		if (!model_find(k, klen, &at)) {
			model_insert(at, k, klen);
			items[it].is_used = true;
		}
	}
}

static void shuffle(tkey **a, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = rnd() % i;
		tkey *t = a[i - 1];
		a[i - 1] = a[j];
		a[j] = t;
	}
}

static void test_memindex_goes_to_empty_and_back_in_any_order(void **state)
{
	(void)state;
	memindex *m = NULL;
	assert_int_equal(memindex_alloc(&m), SL_OK);
	size_t empty_bytes = memindex_bytes(m);
	fill_model(3000);
	size_t n = model_n;
	tkey **order = malloc(n * sizeof(*order));
	assert_non_null(order);
	memcpy(order, model, n * sizeof(*order));
	memindex_pos pos;
	/* 0: random order in and out; 1: ascending in, descending out; 2: the reverse */
	for (int round = 0; round < 3; round++) {
		if (round == 0)
			shuffle(order, n);
		for (size_t i = 0; i < n; i++) {
			const tkey *t = order[round == 2 ? n - 1 - i : i];
			assert_int_equal(memindex_insert(m, t->b, t->len), SL_OK);
			ops_checked++;
		}
		check_iteration(m);
		check_seeks(m, 2000);
		if (round == 0)
			shuffle(order, n);
		for (size_t i = 0; i < n; i++) {
			const tkey *t = order[round == 1 ? n - 1 - i : i];
			assert_int_equal(memindex_delete(m, t->b, t->len), SL_OK);
			assert_int_equal(memindex_delete(m, t->b, t->len), SL_ERR_NOT_FOUND);
			ops_checked += 2;
		}
		assert_int_equal(memindex_count(m), 0);
		assert_false(memindex_seek(m, (const uint8_t *)"", 0, &pos));
		assert_false(memindex_seek(m, (const uint8_t *)"Q", 1, &pos));
		assert_false(memindex_seek_for_prev(m, (const uint8_t *)"\xff", 1, &pos));
		assert_false(memindex_seek_for_prev(m, (const uint8_t *)"U\xff", 2, &pos));
		assert_true(memindex_bytes(m) <= bytes_bound(0));
		if (round == 0)
			memcpy(order, model, n * sizeof(*order));
	}
	/* clear drops entries and interned keys; the index works on as new */
	for (size_t i = 0; i < n; i += 2)
		assert_int_equal(memindex_insert(m, order[i]->b, order[i]->len), SL_OK);
	assert_true(memindex_bytes(m) > empty_bytes);
	memindex_clear(m);
	assert_int_equal(memindex_count(m), 0);
	assert_int_equal(memindex_bytes(m), empty_bytes);
	assert_false(memindex_seek(m, (const uint8_t *)"", 0, &pos));
	memindex_clear(m);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(memindex_insert(m, order[i]->b, order[i]->len), SL_OK);
	check_iteration(m);
	check_seeks(m, 2000);
	print_message("  %zu operations and %zu seeks checked\n", ops_checked, seeks_checked);
	free(order);
	memindex_free(m);
	memindex_free(NULL);
}

static void test_memindex_merges_leaves_when_most_entries_go(void **state)
{
	(void)state;
	/* few item keys and many quantities each, so that nodes, not keys, make the bytes */
	enum { N_ITEMS = 50, N_QUANTITIES = 600 };
	memindex *m = NULL;
	assert_int_equal(memindex_alloc(&m), SL_OK);
	uint8_t k[LEDGER_INDEX_KEY_BYTES];
	for (size_t it = 0; it < N_ITEMS; it++) {
		items[it].is_used = true;
		for (int64_t q = 0; q < N_QUANTITIES; q++) {
			size_t at, klen = key_hot(k, it, LEDGER_INDEX_QUANTITY, true, q - 300);
			if (!model_find(k, klen, &at))
				model_insert(at, k, klen);
		}
	}
	n_items = N_ITEMS; /* bytes_bound counts these keys only */
	size_t n = model_n;
	tkey **order = malloc(n * sizeof(*order));
	assert_non_null(order);
	memcpy(order, model, n * sizeof(*order));
	shuffle(order, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(memindex_insert(m, order[i]->b, order[i]->len), SL_OK);
	size_t full_bytes = memindex_bytes(m);
	shuffle(order, n);
	size_t keep = n / 100;
	for (size_t i = keep; i < n; i++) {
		size_t at;
		assert_true(model_find(order[i]->b, order[i]->len, &at));
		assert_int_equal(memindex_delete(m, order[i]->b, order[i]->len), SL_OK);
		model_delete(at);
	}
	check_iteration(m);
	check_seeks(m, 2000);
	size_t bytes = memindex_bytes(m);
	print_message("  %zu entries: %zu bytes; %zu left: %zu bytes\n", n, full_bytes, model_n,
	              bytes);
	assert_true(bytes <= bytes_bound(model_n));
	assert_true(bytes < full_bytes / 10);
	free(order);
	memindex_free(m);
}

int main(void)
{
	const char *seed = getenv("SL_SEED");
	seed0 = seed != NULL ? strtoull(seed, NULL, 10) : (uint64_t)sl_time_now_ms();
	if (seed0 == 0)
		seed0 = 1;
	printf("# memindex_test seed %llu (SL_SEED to replay)\n", (unsigned long long)seed0);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_memindex_is_hot_takes_q_and_u_keys_of_a_whole_length),
	    cmocka_unit_test_setup_teardown(
	        test_memindex_equals_a_sorted_array_through_random_changes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_memindex_goes_to_empty_and_back_in_any_order,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_memindex_merges_leaves_when_most_entries_go, setup,
	                                    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

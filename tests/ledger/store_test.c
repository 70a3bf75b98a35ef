/*
 * store_test.c: the storage seam (store.h) on a real RocksDB in a temporary directory.
 *
 * Method: records are written in batches and read back by point reads and iterators, across
 * column families and across a close and reopen. What the ledger builds on is pinned here:
 * a batch is all or nothing (also when store_fault_set makes its write fail), column
 * families are separate (store_clear_cf empties one only), the shadow copy of a view family
 * is invisible until store_shadow_publish switches it live in one step (kept across a
 * reopen, and a reopen drops shadow rows left by an unfinished rebuild), big-endian keys iterate in
 * numeric order both ways, an iterator reads the snapshot of its creation and not the writes
 * after it, a sorted table file lands in its shadow family only when ingested (and one left
 * by a crash is removed at the next open), and every failure message names the directory.
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
#include "ledger/store.h"
#include "support/sl_testing.h"

static char dir[256];
static store *st;
/* the test's open iterator, freed by the teardown when an assertion jumps out (RocksDB
 * refuses to close under a live iterator) */
static store_iter *iter;

static void store_reopen(void)
{
	char err[512];
	store_iter_free(iter);
	iter = NULL;
	store_close(st);
	st = NULL;
	if (store_open(dir, &st, err, sizeof(err)) != SL_OK)
		fail_msg("cannot open store: %s", err);
}

static int store_setup(void **state)
{
	(void)state;
	if (sl_test_dir_make(dir, sizeof(dir), "store-test") != 0)
		return -1;
	st = NULL;
	iter = NULL;
	store_reopen();
	return 0;
}

static int store_teardown(void **state)
{
	(void)state;
	store_iter_free(iter);
	iter = NULL;
	store_close(st);
	st = NULL;
	return sl_test_dir_remove(dir);
}

static store_iter *iter_open(store_cf cf)
{
	store_iter_free(iter);
	iter = store_iter_alloc(st, cf);
	assert_non_null(iter);
	return iter;
}

/* value_is expects key of cf to hold the string want (NULL: absent). */
static void value_is(store_cf cf, const char *key, const char *want)
{
	sl_buf v;
	sl_buf_init(&v);
	sl_err rc = store_get(st, cf, key, strlen(key), &v);
	if (want == NULL) {
		assert_int_equal(rc, SL_ERR_NOT_FOUND);
	} else {
		assert_int_equal(rc, SL_OK);
		assert_int_equal(v.len, strlen(want));
		assert_memory_equal(v.data, want, v.len);
	}
	sl_buf_fini(&v);
}

static void put_str(store_batch *b, store_cf cf, const char *key, const char *val)
{
	store_batch_put(b, cf, key, strlen(key), val, strlen(val));
}

static void test_store_batch_writes_every_column_family_at_once(void **state)
{
	(void)state;
	store_batch *b = store_batch_alloc(st);
	assert_int_equal(store_batch_count(b), 0);
	put_str(b, STORE_CF_EVENTS, "k", "event");
	put_str(b, STORE_CF_VIEWS, "k", "view");
	put_str(b, STORE_CF_IDEM, "k", "idem");
	put_str(b, STORE_CF_ITEM_EVENTS, "k", "index");
	put_str(b, STORE_CF_META, "k", "meta");
	assert_int_equal(store_batch_count(b), 5);
	/* staged is not written */
	value_is(STORE_CF_VIEWS, "k", NULL);
	assert_int_equal(store_write(st, b, true), SL_OK);
	store_batch_free(b);
	/* one key, five column families, five values */
	value_is(STORE_CF_EVENTS, "k", "event");
	value_is(STORE_CF_VIEWS, "k", "view");
	value_is(STORE_CF_IDEM, "k", "idem");
	value_is(STORE_CF_ITEM_EVENTS, "k", "index");
	value_is(STORE_CF_META, "k", "meta");
	assert_string_equal(store_last_error(st), "");

	/* a write without sync is there after a clean close too */
	b = store_batch_alloc(st);
	put_str(b, STORE_CF_VIEWS, "k2", "unsynced");
	store_batch_delete(b, STORE_CF_EVENTS, "k", 1);
	assert_int_equal(store_write(st, b, false), SL_OK);
	store_batch_free(b);
	store_reopen();
	value_is(STORE_CF_VIEWS, "k2", "unsynced");
	value_is(STORE_CF_EVENTS, "k", NULL);
	value_is(STORE_CF_IDEM, "k", "idem");
	assert_true(store_disk_bytes(st) > 0);
}

/* A batch reaches RocksDB sorted by family and key: what several operations on one key do
 * must still be what they do in the order they were staged, and a batch can be written
 * again after a clear, or written twice. */
static void test_store_batch_keeps_the_order_of_operations_on_one_key(void **state)
{
	(void)state;
	store_batch *b = store_batch_alloc(st);
	put_str(b, STORE_CF_VIEWS, "z", "first");
	put_str(b, STORE_CF_VIEWS, "a", "a1");
	store_batch_delete(b, STORE_CF_VIEWS, "z", 1);
	put_str(b, STORE_CF_VIEWS, "m", "m1");
	put_str(b, STORE_CF_VIEWS, "a", "a2");
	store_batch_delete(b, STORE_CF_VIEWS, "m", 1);
	put_str(b, STORE_CF_VIEWS, "m", "m2");
	put_str(b, STORE_CF_VIEWS, "ab", "longer");
	put_str(b, STORE_CF_IDEM, "a", "other family");
	store_batch_delete(b, STORE_CF_IDEM, "a", 1);
	put_str(b, STORE_CF_VIEWS, "z", "last");
	store_batch_delete(b, STORE_CF_VIEWS, "z", 1);
	assert_int_equal(store_batch_count(b), 12);
	assert_int_equal(store_write(st, b, true), SL_OK);
	value_is(STORE_CF_VIEWS, "a", "a2");
	value_is(STORE_CF_VIEWS, "ab", "longer");
	value_is(STORE_CF_VIEWS, "m", "m2");
	value_is(STORE_CF_VIEWS, "z", NULL);
	value_is(STORE_CF_IDEM, "a", NULL);
	/* written again as it is: the same operations, the same outcome */
	assert_int_equal(store_write(st, b, true), SL_OK);
	value_is(STORE_CF_VIEWS, "a", "a2");
	value_is(STORE_CF_VIEWS, "z", NULL);
	/* cleared, then reused */
	store_batch_clear(b);
	assert_int_equal(store_batch_count(b), 0);
	put_str(b, STORE_CF_VIEWS, "z", "back");
	assert_int_equal(store_write(st, b, true), SL_OK);
	store_batch_free(b);
	value_is(STORE_CF_VIEWS, "z", "back");
	value_is(STORE_CF_VIEWS, "a", "a2");
}

/* A batch is not bound by the transport's message size: 48 rows of 1 MiB (a rebuild
 * writing large order rows stages that much) are written, and read back. */
static void test_store_batch_holds_more_than_a_transport_message(void **state)
{
	(void)state;
	size_t len = (size_t)1 << 20;
	char *val = malloc(len);
	assert_non_null(val);
	store_batch *b = store_batch_alloc(st);
	for (int i = 0; i < 48; i++) {
		char key[16];
		memset(val, 'a' + i % 26, len);
		snprintf(key, sizeof(key), "big-%02d", i);
		store_batch_put(b, STORE_CF_ORDERS, key, strlen(key), val, len);
	}
	assert_int_equal(store_batch_count(b), 48);
	assert_int_equal(store_write(st, b, false), SL_OK);
	store_batch_free(b);
	sl_buf got;
	sl_buf_init(&got);
	assert_int_equal(store_get(st, STORE_CF_ORDERS, "big-47", 6, &got), SL_OK);
	assert_int_equal(got.len, len);
	assert_int_equal(got.data[len - 1], 'a' + 47 % 26);
	sl_buf_fini(&got);
	free(val);
}

static void test_store_batch_is_all_or_nothing_when_its_write_fails(void **state)
{
	(void)state;
	store_batch *b = store_batch_alloc(st);
	put_str(b, STORE_CF_VIEWS, "a", "1");
	assert_int_equal(store_write(st, b, true), SL_OK);

	/* the second write from now fails, the ones around it do not */
	store_fault_set(st, 2);
	store_batch_clear(b);
	assert_int_equal(store_batch_count(b), 0);
	put_str(b, STORE_CF_VIEWS, "b", "2");
	assert_int_equal(store_write(st, b, true), SL_OK);
	store_batch_clear(b);
	put_str(b, STORE_CF_EVENTS, "c", "3");
	put_str(b, STORE_CF_VIEWS, "a", "changed");
	store_batch_delete(b, STORE_CF_VIEWS, "b", 1);
	assert_int_equal(store_write(st, b, true), SL_ERR_STORAGE);
	assert_non_null(strstr(store_last_error(st), dir));
	assert_non_null(strstr(store_last_error(st), "injected fault"));
	/* nothing of the failed batch shows, now or after a reopen */
	value_is(STORE_CF_EVENTS, "c", NULL);
	value_is(STORE_CF_VIEWS, "a", "1");
	value_is(STORE_CF_VIEWS, "b", "2");
	/* the store itself is not sticky (the ledger is): the same batch goes through now */
	assert_int_equal(store_write(st, b, true), SL_OK);
	store_batch_free(b);
	value_is(STORE_CF_VIEWS, "a", "changed");
	value_is(STORE_CF_VIEWS, "b", NULL);

	/* 0 disables a pending fault */
	store_fault_set(st, 1);
	store_fault_set(st, 0);
	b = store_batch_alloc(st);
	put_str(b, STORE_CF_VIEWS, "d", "4");
	assert_int_equal(store_write(st, b, true), SL_OK);
	store_batch_free(b);
	store_reopen();
	value_is(STORE_CF_EVENTS, "c", "3");
	value_is(STORE_CF_VIEWS, "d", "4");
}

static void test_store_get_keeps_binary_keys_and_empty_values(void **state)
{
	(void)state;
	const uint8_t k1[] = {'a', 0, 'b'}, k2[] = {'a', 0, 'c'}, k3[] = {'a'};
	store_batch *b = store_batch_alloc(st);
	store_batch_put(b, STORE_CF_VIEWS, k1, sizeof(k1), "x", 1);
	store_batch_put(b, STORE_CF_VIEWS, k2, sizeof(k2), "", 0);
	assert_int_equal(store_write(st, b, true), SL_OK);
	store_batch_free(b);
	sl_buf v;
	sl_buf_init(&v);
	assert_int_equal(store_get(st, STORE_CF_VIEWS, k1, sizeof(k1), &v), SL_OK);
	assert_int_equal(v.len, 1);
	assert_int_equal(store_get(st, STORE_CF_VIEWS, k2, sizeof(k2), &v), SL_OK);
	assert_int_equal(v.len, 0);
	/* a key's prefix is another key */
	assert_int_equal(store_get(st, STORE_CF_VIEWS, k3, sizeof(k3), &v), SL_ERR_NOT_FOUND);
	sl_buf_fini(&v);
}

static void put_seq(store_batch *b, uint64_t seq, const char *val)
{
	uint8_t k[8];
	sl_be64_put(k, seq);
	store_batch_put(b, STORE_CF_EVENTS, k, sizeof(k), val, strlen(val));
}

static uint64_t iter_seq(store_iter *it)
{
	size_t klen;
	const uint8_t *k = store_iter_key(it, &klen);
	assert_int_equal(klen, 8);
	return sl_be64_get(k);
}

static void test_store_iter_walks_big_endian_keys_in_numeric_order(void **state)
{
	(void)state;
	const uint64_t seqs[] = {256, 1, 255, 65536, 2, UINT64_MAX};
	const uint64_t sorted[] = {1, 2, 255, 256, 65536, UINT64_MAX};
	store_batch *b = store_batch_alloc(st);
	for (size_t i = 0; i < 6; i++)
		put_seq(b, seqs[i], "v");
	assert_int_equal(store_write(st, b, true), SL_OK);
	store_batch_free(b);

	store_iter *it = iter_open(STORE_CF_EVENTS);
	size_t n = 0;
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it))
		assert_int_equal(iter_seq(it), sorted[n++]);
	assert_int_equal(n, 6);
	assert_int_equal(store_iter_status(it), SL_OK);
	for (store_iter_seek_last(it); store_iter_valid(it); store_iter_prev(it))
		assert_int_equal(iter_seq(it), sorted[--n]);
	assert_int_equal(n, 0);

	uint8_t k[8];
	sl_be64_put(k, 3);
	store_iter_seek(it, k, sizeof(k));
	assert_int_equal(iter_seq(it), 255);
	store_iter_seek_for_prev(it, k, sizeof(k));
	assert_int_equal(iter_seq(it), 2);
	sl_be64_put(k, 0);
	store_iter_seek_for_prev(it, k, sizeof(k));
	assert_false(store_iter_valid(it));
	/* other column families are other key spaces */
	it = iter_open(STORE_CF_VIEWS);
	store_iter_seek_first(it);
	assert_false(store_iter_valid(it));
}

static void test_store_iter_reads_the_snapshot_of_its_creation(void **state)
{
	(void)state;
	store_batch *b = store_batch_alloc(st);
	put_seq(b, 1, "one");
	put_seq(b, 2, "two");
	assert_int_equal(store_write(st, b, true), SL_OK);
	store_iter *it = iter_open(STORE_CF_EVENTS);

	/* writes after the iterator: a new key, a changed value, a deleted key */
	store_batch_clear(b);
	put_seq(b, 3, "three");
	put_seq(b, 1, "ONE");
	uint8_t k2[8];
	sl_be64_put(k2, 2);
	store_batch_delete(b, STORE_CF_EVENTS, k2, sizeof(k2));
	assert_int_equal(store_write(st, b, true), SL_OK);
	store_batch_free(b);

	const char *want[] = {"one", "two"};
	size_t n = 0;
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it)) {
		size_t vlen;
		const uint8_t *v = store_iter_value(it, &vlen);
		assert_true(n < 2);
		assert_int_equal(vlen, strlen(want[n]));
		assert_memory_equal(v, want[n], vlen);
		n++;
	}
	assert_int_equal(n, 2);
	/* a new iterator sees them */
	it = iter_open(STORE_CF_EVENTS);
	n = 0;
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it))
		n++;
	assert_int_equal(n, 2); /* 1 and 3 */
}

static void test_store_clear_cf_empties_one_column_family(void **state)
{
	(void)state;
	store_batch *b = store_batch_alloc(st);
	for (int i = 0; i < 100; i++) {
		char key[16];
		snprintf(key, sizeof(key), "view-%03d", i);
		put_str(b, STORE_CF_VIEWS, key, "v");
		put_str(b, STORE_CF_ITEM_EVENTS, key, "i");
	}
	put_str(b, STORE_CF_EVENTS, "e", "event");
	assert_int_equal(store_write(st, b, true), SL_OK);

	assert_int_equal(store_clear_cf(st, STORE_CF_VIEWS), SL_OK);
	value_is(STORE_CF_VIEWS, "view-000", NULL);
	store_iter *it = iter_open(STORE_CF_VIEWS);
	store_iter_seek_first(it);
	assert_false(store_iter_valid(it));
	value_is(STORE_CF_ITEM_EVENTS, "view-099", "i");
	value_is(STORE_CF_EVENTS, "e", "event");

	/* the emptied family takes writes again, through a batch made before the clear */
	store_batch_clear(b);
	put_str(b, STORE_CF_VIEWS, "after", "clear");
	assert_int_equal(store_write(st, b, true), SL_OK);
	store_batch_free(b);
	store_reopen();
	value_is(STORE_CF_VIEWS, "after", "clear");
	value_is(STORE_CF_VIEWS, "view-050", NULL);
	value_is(STORE_CF_ITEM_EVENTS, "view-050", "i");
}

static void test_store_shadow_is_invisible_until_published(void **state)
{
	(void)state;
	store_cf sv = store_cf_shadow(STORE_CF_VIEWS), sh = store_cf_shadow(STORE_CF_HOLDS);
	store_batch *b = store_batch_alloc(st);
	put_str(b, STORE_CF_VIEWS, "old", "live");
	put_str(b, STORE_CF_HOLDS, "old", "hold");
	put_str(b, STORE_CF_EVENTS, "e", "event");
	assert_int_equal(store_write(st, b, true), SL_OK);
	store_batch_clear(b);
	put_str(b, sv, "new", "shadow");
	put_str(b, sh, "new", "held");
	assert_int_equal(store_write(st, b, false), SL_OK);
	/* the live families do not see the shadow rows, the shadows not the live ones */
	value_is(STORE_CF_VIEWS, "new", NULL);
	value_is(STORE_CF_VIEWS, "old", "live");
	value_is(sv, "new", "shadow");
	value_is(sv, "old", NULL);

	/* a failed switch changes nothing */
	store_fault_set(st, 1);
	assert_int_equal(store_shadow_publish(st, NULL), SL_ERR_STORAGE);
	value_is(STORE_CF_VIEWS, "old", "live");
	value_is(sv, "new", "shadow");

	assert_int_equal(store_shadow_publish(st, NULL), SL_OK);
	value_is(STORE_CF_VIEWS, "new", "shadow");
	value_is(STORE_CF_VIEWS, "old", NULL);
	value_is(STORE_CF_HOLDS, "new", "held");
	value_is(STORE_CF_HOLDS, "old", NULL);
	value_is(sv, "old", NULL); /* the old rows are dropped */
	value_is(STORE_CF_EVENTS, "e", "event");
	/* the generation is kept across a reopen */
	store_batch_free(b);
	store_reopen();
	value_is(STORE_CF_VIEWS, "new", "shadow");
	value_is(STORE_CF_VIEWS, "old", NULL);
	/* and the live families take writes as before */
	b = store_batch_alloc(st);
	put_str(b, STORE_CF_VIEWS, "later", "w");
	assert_int_equal(store_write(st, b, true), SL_OK);
	value_is(STORE_CF_VIEWS, "later", "w");

	/* shadow rows of a rebuild that did not finish are dropped by the next open (they
	 * are flushed here so that they outlive the close, as after a crash mid-swap) */
	store_batch_clear(b);
	put_str(b, sv, "left", "over");
	assert_int_equal(store_write(st, b, false), SL_OK);
	store_batch_free(b);
	store_reopen();
	value_is(sv, "left", NULL);
	value_is(STORE_CF_VIEWS, "later", "w");
	assert_int_equal(store_shadow_reset(st), SL_OK);
	value_is(STORE_CF_VIEWS, "new", "shadow");
}

static bool file_exists(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f != NULL)
		fclose(f);
	return f != NULL;
}

/* A sorted table file (store_sst_*) lands in its shadow family only at the ingestion, over
 * the rows written there before, and stays invisible to the live family until the switch; a
 * failed ingestion (store_fault_set counts it as a write), an abandoned file and an empty one
 * leave nothing, and a file left by a rebuild that stopped before ingesting it is removed by
 * the next open. */
static void test_store_sst_lands_in_its_shadow_at_the_ingestion(void **state)
{
	(void)state;
	store_cf sv = store_cf_shadow(STORE_CF_VIEWS);
	store_batch *b = store_batch_alloc(st);
	put_str(b, sv, "b", "from a batch");
	assert_int_equal(store_write(st, b, false), SL_OK);
	store_batch_free(b);

	store_sst *w = NULL;
	assert_int_equal(store_sst_begin(st, sv, &w), SL_OK);
	const char *keys[] = {"a", "b", "c"};
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(store_sst_put(w, keys[i], 1, "t", 1), SL_OK);
	assert_int_equal(store_sst_rows(w), 3);
	value_is(sv, "a", NULL); /* not before the ingestion */
	assert_int_equal(store_sst_ingest(w), SL_OK);
	value_is(sv, "a", "t");
	value_is(sv, "b", "t"); /* over the batch's row */
	value_is(sv, "c", "t");
	value_is(STORE_CF_VIEWS, "a", NULL);

	/* a failed ingestion, an abandoned file, an empty file: nothing */
	assert_int_equal(store_sst_begin(st, sv, &w), SL_OK);
	assert_int_equal(store_sst_put(w, "d", 1, "u", 1), SL_OK);
	store_fault_set(st, 1);
	assert_int_equal(store_sst_ingest(w), SL_ERR_STORAGE);
	assert_non_null(strstr(store_last_error(st), "injected fault"));
	value_is(sv, "d", NULL);
	assert_int_equal(store_sst_begin(st, sv, &w), SL_OK);
	assert_int_equal(store_sst_put(w, "e", 1, "u", 1), SL_OK);
	store_sst_free(w);
	value_is(sv, "e", NULL);
	assert_int_equal(store_sst_begin(st, sv, &w), SL_OK);
	assert_int_equal(store_sst_ingest(w), SL_OK);

	assert_int_equal(store_shadow_publish(st, NULL), SL_OK);
	value_is(STORE_CF_VIEWS, "a", "t");
	value_is(STORE_CF_VIEWS, "c", "t");
	assert_int_equal(store_settle(st), SL_OK); /* nothing left flushing or compacting */

	/* a file written but never ingested (a crash) goes at the next open; others stay */
	char left[400], other[400];
	snprintf(left, sizeof(left), "%s/rebuild-views-99.sst", dir);
	snprintf(other, sizeof(other), "%s/notes-rebuild.txt", dir);
	FILE *f = fopen(left, "w");
	assert_non_null(f);
	fclose(f);
	f = fopen(other, "w");
	assert_non_null(f);
	fclose(f);
	store_reopen();
	assert_false(file_exists(left));
	assert_true(file_exists(other));
	value_is(STORE_CF_VIEWS, "a", "t");
}

static void test_store_open_names_the_directory_it_cannot_open(void **state)
{
	(void)state;
	char path[300], err[512];
	store *other = NULL;
	/* locked by the open store: the message says the directory is in use */
	assert_int_equal(store_open(dir, &other, err, sizeof(err)), SL_ERR_STORAGE);
	assert_null(other);
	if (strstr(err, "cannot open store '") == NULL || strstr(err, dir) == NULL)
		fail_msg("message '%s' should name '%s'", err, dir);
	if (strstr(err, "in use by another process") == NULL)
		fail_msg("message '%s' should say the directory is in use", err);
	/* a file where the directory should be */
	snprintf(path, sizeof(path), "%s/not-a-dir", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(store_open(path, &other, err, sizeof(err)), SL_ERR_STORAGE);
	assert_non_null(strstr(err, path));
	/* closing nothing is harmless */
	store_close(NULL);
	store_iter_free(NULL);
	store_batch_free(NULL);
}

/* A file system too full for RocksDB to open a store on is refused with a message (Debian's
 * RocksDB aborts the process when it cannot write its info LOG): the bound is checked on the
 * directory, or on its nearest existing parent when it is not made yet. */
static void test_store_space_check_refuses_a_file_system_without_room(void **state)
{
	(void)state;
	char err[512] = "", missing[300];
	assert_int_equal(store_space_check(dir, 0, err, sizeof(err)), SL_OK);
	assert_int_equal(store_space_check(dir, UINT64_MAX, err, sizeof(err)), SL_ERR_STORAGE);
	if (strstr(err, dir) == NULL || strstr(err, "no space left") == NULL)
		fail_msg("message '%s' should name '%s' and say it has no space", err, dir);
	snprintf(missing, sizeof(missing), "%s/not/made/yet", dir);
	assert_int_equal(store_space_check(missing, UINT64_MAX, err, sizeof(err)), SL_ERR_STORAGE);
	assert_non_null(strstr(err, missing));
	assert_int_equal(store_space_check(missing, 1, err, sizeof(err)), SL_OK);
	assert_int_equal(store_space_check("no-such-relative-dir/x", 1, err, sizeof(err)), SL_OK);
}

#define T(name) cmocka_unit_test_setup_teardown(name, store_setup, store_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_store_batch_writes_every_column_family_at_once),
	    T(test_store_space_check_refuses_a_file_system_without_room),
	    T(test_store_batch_keeps_the_order_of_operations_on_one_key),
	    T(test_store_batch_holds_more_than_a_transport_message),
	    T(test_store_batch_is_all_or_nothing_when_its_write_fails),
	    T(test_store_get_keeps_binary_keys_and_empty_values),
	    T(test_store_iter_walks_big_endian_keys_in_numeric_order),
	    T(test_store_iter_reads_the_snapshot_of_its_creation),
	    T(test_store_clear_cf_empties_one_column_family),
	    T(test_store_shadow_is_invisible_until_published),
	    T(test_store_sst_lands_in_its_shadow_at_the_ingestion),
	    T(test_store_open_names_the_directory_it_cannot_open),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * ledger_test.c: the log and its companions (ledger.h) on a real RocksDB in a temporary
 * directory: sequence numbers, the hash chain, the head across a reopen, view rows,
 * idempotency records, the per-item index and its paged history, the views checksum,
 * transactions that abort or fail.
 *
 * Method: events are built by hand (the ledger stores what it is given and never decides),
 * appended through transactions and read back through every read path. The chain is
 * recomputed here from the codec's bytes, independently of ledger.c. Damage is done the way
 * a bad disk would do it: through the store seam (ledger_store), flipping one byte of a
 * stored event or of its stored hash, or deleting a record; failures of the disk are made
 * with store_fault_set. Each test gets a fresh directory, removed afterwards.
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
#include "ledger/index.h"
#include "ledger/ledger.h"
#include "support/sl_testing.h"

static char dir[256];
static ledger *lg;
static ledger_txn *txn;
/* the test's open iterator, freed by the teardown even when an assertion jumps out (RocksDB
 * refuses to close under a live iterator) */
static ledger_iter *iter;

/* iter_open replaces the test's iterator with one from from_seq. */
static ledger_iter *iter_open(uint64_t from_seq)
{
	ledger_iter_free(iter);
	iter = ledger_iter_alloc(lg, from_seq);
	assert_non_null(iter);
	return iter;
}

/* ledger_shut closes the test's ledger and what is open on it. */
static void ledger_shut(void)
{
	ledger_iter_free(iter);
	ledger_txn_free(txn);
	ledger_close(lg);
	iter = NULL;
	txn = NULL;
	lg = NULL;
}

static void ledger_reopen(void)
{
	char err[512];
	ledger_shut();
	if (ledger_open(dir, &lg, err, sizeof(err)) != SL_OK)
		fail_msg("cannot open ledger: %s", err);
	txn = ledger_txn_alloc(lg);
	assert_non_null(txn);
}

static int ledger_setup(void **state)
{
	(void)state;
	if (sl_test_dir_make(dir, sizeof(dir), "ledger-test") != 0)
		return -1;
	lg = NULL;
	txn = NULL;
	ledger_reopen();
	return 0;
}

static int ledger_teardown(void **state)
{
	(void)state;
	ledger_shut();
	return sl_test_dir_remove(dir);
}

/* raw_put writes (val != NULL) or deletes one record through the store seam. */
static void raw_put(store_cf cf, const void *key, size_t klen, const void *val, size_t vlen)
{
	assert_int_equal(sl_test_store_put(ledger_store(lg), cf, key, klen, val, vlen), SL_OK);
}

/* event_make builds the item_seq-th event of product: a create for the first, then
 * increments by 1. */
static void event_make(sl_event *ev, uint64_t seq, const char *product, uint64_t item_seq)
{
	memset(ev, 0, sizeof(*ev));
	ev->seq = seq;
	ev->command_seq = seq;
	ev->time_ms = 1796401854000LL + (int64_t)seq;
	ev->type = item_seq == 1 ? SL_EV_ITEM_CREATED : SL_EV_ITEM_INCREMENTED;
	ev->item_seq = item_seq;
	snprintf(ev->reason, sizeof(ev->reason), "reason of %llu", (unsigned long long)seq);
	sl_test_key_set(&ev->item, product, SL_DEFAULT_LOCATION);
	ev->before.exists = item_seq > 1;
	ev->before.track_quantity = item_seq > 1;
	ev->before.quantity = (int64_t)item_seq - 1;
	ev->after.exists = true;
	ev->after.track_quantity = true;
	ev->after.quantity = (int64_t)item_seq;
	ev->after.in_stock = true;
	ev->delta_quantity = 1;
}

/* append_one appends the next event of product in its own committed transaction. */
static void append_one(const char *product, uint64_t item_seq, sl_event *out)
{
	assert_int_equal(ledger_txn_begin(txn), SL_OK);
	event_make(out, ledger_txn_next_seq(txn), product, item_seq);
	assert_int_equal(ledger_txn_append(txn, out), SL_OK);
	assert_int_equal(ledger_txn_commit(txn, true), SL_OK);
}

/* append_item appends events 1..n of product, one transaction each. */
static void append_item(const char *product, uint64_t n)
{
	sl_event ev;
	for (uint64_t i = 1; i <= n; i++)
		append_one(product, i, &ev);
}

static void event_assert_same(const sl_event *want, const sl_event *got)
{
	sl_buf a, b;
	sl_buf_init(&a);
	sl_buf_init(&b);
	assert_int_equal(ledger_event_encode(want, &a), SL_OK);
	assert_int_equal(ledger_event_encode(got, &b), SL_OK);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	assert_memory_equal(want->hash, got->hash, SL_HASH_BYTES);
	sl_buf_fini(&a);
	sl_buf_fini(&b);
}

/* chain_next computes SHA-256(prev || encoding of ev) without the ledger's help. */
static void chain_next(const unsigned char *prev, const sl_event *ev, unsigned char *out)
{
	sl_buf b;
	sl_buf_init(&b);
	assert_int_equal(ledger_event_encode(ev, &b), SL_OK);
	sl_sha256(prev, SL_HASH_BYTES, b.data, b.len, out);
	sl_buf_fini(&b);
}

/* store_value_flip flips the lowest bit of byte at of the stored value of key in cf. */
static void store_value_flip(store_cf cf, const void *key, size_t klen, size_t at)
{
	assert_int_equal(sl_test_store_flip(ledger_store(lg), cf, key, klen, at), SL_OK);
}

/* iter_expect_whole iterates from 1 and expects events 1..n with their chain intact. */
static void iter_expect_whole(uint64_t n)
{
	ledger_iter *it = iter_open(1);
	sl_event ev;
	uint64_t bad_seq = 0, seq = 0;
	sl_err rc;
	while ((rc = ledger_iter_next(it, &ev, &bad_seq)) == SL_OK)
		assert_int_equal(ev.seq, ++seq);
	if (rc != SL_ERR_NOT_FOUND)
		fail_msg("iteration stopped at %llu: %s", (unsigned long long)bad_seq,
		         ledger_iter_error(it));
	assert_int_equal(seq, n);
}

/* iter_expect_corrupt_at iterates from 1 and expects event bad to be the first refused. */
static void iter_expect_corrupt_at(uint64_t bad, const char *what)
{
	ledger_iter *it = iter_open(1);
	sl_event ev;
	uint64_t bad_seq = 0;
	for (uint64_t seq = 1; seq < bad; seq++) {
		assert_int_equal(ledger_iter_next(it, &ev, &bad_seq), SL_OK);
		assert_int_equal(ev.seq, seq);
	}
	assert_int_equal(ledger_iter_next(it, &ev, &bad_seq), SL_ERR_CORRUPT);
	assert_int_equal(bad_seq, bad);
	char want[32];
	snprintf(want, sizeof(want), "event %llu:", (unsigned long long)bad);
	if (strstr(ledger_iter_error(it), want) == NULL ||
	    strstr(ledger_iter_error(it), what) == NULL)
		fail_msg("iterator error '%s' should name %s and say %s", ledger_iter_error(it),
		         want, what);
}

static void test_ledger_append_numbers_events_1_2_3_without_gaps(void **state)
{
	(void)state;
	unsigned char hash[SL_HASH_BYTES], zero[SL_HASH_BYTES] = {0};
	assert_int_equal(ledger_head(lg, hash), 0);
	assert_memory_equal(hash, zero, SL_HASH_BYTES);

	sl_event evs[3], got;
	assert_int_equal(ledger_txn_begin(txn), SL_OK);
	for (uint64_t i = 0; i < 3; i++) {
		assert_int_equal(ledger_txn_next_seq(txn), i + 1);
		event_make(&evs[i], i + 1, i == 1 ? "B" : "A", i == 2 ? 2 : 1);
		assert_int_equal(ledger_txn_append(txn, &evs[i]), SL_OK);
	}
	/* each append stages the event and its index entry */
	assert_int_equal(ledger_txn_staged(txn), 6);
	/* staged is not committed: readers see the old head */
	assert_int_equal(ledger_head(lg, NULL), 0);
	assert_int_equal(ledger_event_get(lg, 1, &got), SL_ERR_NOT_FOUND);
	assert_int_equal(ledger_txn_commit(txn, true), SL_OK);
	assert_int_equal(ledger_txn_staged(txn), 0);

	assert_int_equal(ledger_head(lg, hash), 3);
	assert_memory_equal(hash, evs[2].hash, SL_HASH_BYTES);
	for (uint64_t seq = 1; seq <= 3; seq++) {
		assert_int_equal(ledger_event_get(lg, seq, &got), SL_OK);
		assert_int_equal(got.seq, seq);
		event_assert_same(&evs[seq - 1], &got);
	}
	assert_int_equal(ledger_event_get(lg, 4, &got), SL_ERR_NOT_FOUND);
	assert_int_equal(ledger_event_get(lg, 0, &got), SL_ERR_NOT_FOUND);

	/* the next transaction goes on where the last one ended */
	assert_int_equal(ledger_txn_begin(txn), SL_OK);
	assert_int_equal(ledger_txn_next_seq(txn), 4);
	ledger_txn_abort(txn);
}

static void test_ledger_chain_hash_is_sha256_of_the_previous_hash_and_the_event(void **state)
{
	(void)state;
	sl_event evs[5];
	for (int i = 0; i < 5; i++)
		append_one(i % 2 == 0 ? "A" : "B", (uint64_t)i / 2 + 1, &evs[i]);

	unsigned char prev[SL_HASH_BYTES] = {0}, want[SL_HASH_BYTES];
	for (int i = 0; i < 5; i++) {
		chain_next(prev, &evs[i], want);
		assert_memory_equal(evs[i].hash, want, SL_HASH_BYTES);
		memcpy(prev, want, SL_HASH_BYTES);
	}
	unsigned char head[SL_HASH_BYTES];
	assert_int_equal(ledger_head(lg, head), 5);
	assert_memory_equal(head, prev, SL_HASH_BYTES);

	/* the iterator checks the chain and returns every event with its hash, from any start */
	for (uint64_t from = 1; from <= 6; from++) {
		ledger_iter *it = iter_open(from);
		sl_event got;
		uint64_t bad = 0;
		for (uint64_t seq = from; seq <= 5; seq++) {
			assert_int_equal(ledger_iter_next(it, &got, &bad), SL_OK);
			event_assert_same(&evs[seq - 1], &got);
		}
		assert_int_equal(ledger_iter_next(it, &got, &bad), SL_ERR_NOT_FOUND);
		assert_int_equal(bad, 0);
	}
}

static void test_ledger_head_survives_close_and_reopen(void **state)
{
	(void)state;
	sl_event ev;
	append_item("A", 3);
	unsigned char before[SL_HASH_BYTES], after[SL_HASH_BYTES];
	assert_int_equal(ledger_head(lg, before), 3);
	ledger_reopen();
	assert_int_equal(ledger_head(lg, after), 3);
	assert_memory_equal(before, after, SL_HASH_BYTES);

	/* the chain goes on from the reopened head */
	append_one("A", 4, &ev);
	assert_int_equal(ev.seq, 4);
	unsigned char want[SL_HASH_BYTES];
	chain_next(before, &ev, want);
	assert_memory_equal(ev.hash, want, SL_HASH_BYTES);
	ledger_reopen();
	iter_expect_whole(4);
}

static void item_make(sl_item *it, const char *product, const char *location, int64_t qty)
{
	memset(it, 0, sizeof(*it));
	sl_test_key_set(&it->key, product, location);
	it->state.exists = true;
	it->state.track_quantity = true;
	it->state.quantity = qty;
	it->state.in_stock = qty > 0;
	it->state.preorder_enabled = true;
	sl_strlcpy(it->state.preorder_message, "soon", sizeof(it->state.preorder_message));
	it->revision = 3;
	it->created_ms = 1000;
	it->updated_ms = 2000;
	it->numeric_id = 1;
	it->item_seq = 3;
	it->last_seq = 7;
	it->status = qty > 0 ? SL_STATUS_IN_STOCK : SL_STATUS_PREORDER;
}

static void test_ledger_views_and_idempotency_records_round_trip(void **state)
{
	(void)state;
	sl_item a, b, got;
	item_make(&a, "A", "default", 5);
	item_make(&b, "A", "warehouse-2", -3);
	b.state.exists = false; /* a deleted item keeps its row */
	unsigned char hash[SL_HASH_BYTES], got_hash[SL_HASH_BYTES];
	memset(hash, 0x42, sizeof(hash));
	const uint8_t result[] = {0x08, 0x01, 0x10, 0x02};
	sl_buf res;
	sl_buf_init(&res);

	assert_int_equal(ledger_view_get(lg, &a.key, &got), SL_ERR_NOT_FOUND);
	assert_int_equal(ledger_idem_get(lg, "key-1", got_hash, &res), SL_ERR_NOT_FOUND);
	assert_int_equal(ledger_txn_begin(txn), SL_OK);
	assert_int_equal(ledger_txn_put_view(txn, &a), SL_OK);
	assert_int_equal(ledger_txn_put_view(txn, &b), SL_OK);
	assert_int_equal(ledger_txn_put_idem(txn, "key-1", hash, result, sizeof(result), 7, 0),
	                 SL_OK);
	/* two views with their stored secondary index rows (4 for an item, 2 for a deleted one,
	 * see ledger/index.h; its 2 hot ones go to memory) and one record */
	assert_int_equal(ledger_txn_staged(txn), 3 + LEDGER_INDEX_STORED_PER_ITEM + 2);
	assert_int_equal(ledger_view_get(lg, &a.key, &got), SL_ERR_NOT_FOUND);
	assert_int_equal(ledger_txn_commit(txn, true), SL_OK);
	/* views and records are not events: the log is still empty */
	assert_int_equal(ledger_head(lg, NULL), 0);

	ledger_reopen();
	assert_int_equal(ledger_view_get(lg, &a.key, &got), SL_OK);
	assert_int_equal(got.state.quantity, 5);
	assert_int_equal(got.revision, 3);
	assert_int_equal(got.status, SL_STATUS_IN_STOCK);
	assert_string_equal(got.state.preorder_message, "soon");
	assert_string_equal(got.key.location_id, "default");
	assert_int_equal(ledger_view_get(lg, &b.key, &got), SL_OK);
	assert_false(got.state.exists);
	assert_int_equal(got.state.quantity, -3);
	assert_string_equal(got.key.location_id, "warehouse-2");
	assert_int_equal(ledger_idem_get(lg, "key-1", got_hash, &res), SL_OK);
	assert_memory_equal(got_hash, hash, SL_HASH_BYTES);
	assert_int_equal(res.len, sizeof(result));
	assert_memory_equal(res.data, result, sizeof(result));
	assert_int_equal(ledger_idem_get(lg, "key-2", got_hash, &res), SL_ERR_NOT_FOUND);

	/* a later row of the same key replaces the earlier one */
	a.state.quantity = 6;
	a.revision = 4;
	assert_int_equal(ledger_txn_begin(txn), SL_OK);
	assert_int_equal(ledger_txn_put_view(txn, &a), SL_OK);
	assert_int_equal(ledger_txn_commit(txn, true), SL_OK);
	assert_int_equal(ledger_view_get(lg, &a.key, &got), SL_OK);
	assert_int_equal(got.state.quantity, 6);
	assert_int_equal(got.revision, 4);
	sl_buf_fini(&res);
}

/* history_page reads one page of product's history into item_seqs, returning its length. */
static size_t history_page(const char *product, uint64_t after, size_t max, uint64_t *item_seqs,
                           uint64_t *next)
{
	sl_event page[8];
	size_t n = 99;
	sl_item_key k;
	sl_test_key_set(&k, product, SL_DEFAULT_LOCATION);
	assert_true(max <= 8);
	assert_int_equal(ledger_history(lg, &k, after, max, page, &n, next), SL_OK);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(page[i].item.product_id, product);
		item_seqs[i] = page[i].item_seq;
	}
	return n;
}

static void test_ledger_history_pages_through_one_item_with_a_cursor(void **state)
{
	(void)state;
	/* A has 5 events, interleaved with events of items whose keys start like A's */
	sl_event ev;
	const char *others[] = {"AB", "A ", "B", "@"};
	for (uint64_t i = 1; i <= 5; i++) {
		append_one("A", i, &ev);
		append_one(others[i % 4], i, &ev);
	}
	uint64_t s[8], next = 77;
	assert_int_equal(history_page("A", 0, 2, s, &next), 2);
	assert_int_equal(s[0], 1);
	assert_int_equal(s[1], 2);
	assert_int_equal(next, 2);
	assert_int_equal(history_page("A", next, 2, s, &next), 2);
	assert_int_equal(s[0], 3);
	assert_int_equal(s[1], 4);
	assert_int_equal(next, 4);
	assert_int_equal(history_page("A", next, 2, s, &next), 1);
	assert_int_equal(s[0], 5);
	assert_int_equal(next, 0);
	/* a page that ends exactly at the last event has no next page */
	assert_int_equal(history_page("A", 3, 2, s, &next), 2);
	assert_int_equal(next, 0);
	assert_int_equal(history_page("A", 0, 8, s, &next), 5);
	assert_int_equal(next, 0);
	assert_int_equal(history_page("A", 5, 8, s, &next), 0);
	assert_int_equal(next, 0);
	assert_int_equal(history_page("nobody", 0, 8, s, &next), 0);
	assert_int_equal(next, 0);
	/* a cursor past every item_seq (a client may send any) reads nothing */
	assert_int_equal(history_page("A", UINT64_MAX, 8, s, &next), 0);
	assert_int_equal(next, 0);
	assert_int_equal(history_page("A", UINT64_MAX - 1, 8, s, &next), 0);
	/* a page of 0 events reads nothing and keeps the cursor where it was */
	assert_int_equal(history_page("A", 2, 0, s, &next), 0);
	assert_int_equal(next, 2);

	/* the events come back whole, with their chain hashes */
	sl_event page[1], full;
	size_t n;
	sl_item_key k;
	sl_test_key_set(&k, "A", SL_DEFAULT_LOCATION);
	assert_int_equal(ledger_history(lg, &k, 2, 1, page, &n, &next), SL_OK);
	assert_int_equal(n, 1);
	assert_int_equal(page[0].seq, 5);
	assert_int_equal(ledger_event_get(lg, 5, &full), SL_OK);
	event_assert_same(&full, &page[0]);
}

static void test_ledger_iter_names_the_seq_of_a_flipped_event_byte(void **state)
{
	(void)state;
	sl_event ev;
	append_item("A", 4);
	uint8_t k[8];
	sl_be64_put(k, 3);
	/* one bit of the event's bytes (past its 32-byte hash) */
	store_value_flip(STORE_CF_EVENTS, k, sizeof(k), SL_HASH_BYTES + 5);
	iter_expect_corrupt_at(3, "chain hash mismatch");
	/* event 4 still follows from the hash stored with event 3 */
	ledger_iter *it = iter_open(4);
	uint64_t bad = 0;
	assert_int_equal(ledger_iter_next(it, &ev, &bad), SL_OK);
	assert_int_equal(ev.seq, 4);
	store_value_flip(STORE_CF_EVENTS, k, sizeof(k), SL_HASH_BYTES + 5);
	iter_expect_whole(4);
}

static void test_ledger_iter_from_a_seq_checks_it_against_the_stored_hash_before_it(void **state)
{
	(void)state;
	sl_event ev;
	append_item("A", 4);
	/* event 3 becomes another hash and bytes that are not an event: iterating from 4 must
	 * still check event 4 against the hash stored before it, and find the break */
	uint8_t k[8], junk[SL_HASH_BYTES + 2];
	memset(junk, 0x33, SL_HASH_BYTES);
	junk[SL_HASH_BYTES] = 0x0f; /* wire type 7 */
	junk[SL_HASH_BYTES + 1] = 0x00;
	sl_be64_put(k, 3);
	raw_put(STORE_CF_EVENTS, k, sizeof(k), junk, sizeof(junk));
	assert_int_equal(ledger_event_get(lg, 3, &ev), SL_ERR_CORRUPT);
	iter_expect_corrupt_at(3, "chain hash mismatch");
	ledger_iter *it = iter_open(4);
	uint64_t bad = 0;
	assert_int_equal(ledger_iter_next(it, &ev, &bad), SL_ERR_CORRUPT);
	assert_int_equal(bad, 4);
}

static void test_ledger_iter_names_the_seq_of_a_flipped_hash_or_a_missing_event(void **state)
{
	(void)state;
	sl_event ev;
	append_item("A", 4);
	uint8_t k[8];
	sl_be64_put(k, 2);
	store_value_flip(STORE_CF_EVENTS, k, sizeof(k), 0);
	iter_expect_corrupt_at(2, "chain hash mismatch");
	store_value_flip(STORE_CF_EVENTS, k, sizeof(k), 0);

	/* an event cut short of its hash */
	raw_put(STORE_CF_EVENTS, k, sizeof(k), "short", 5);
	iter_expect_corrupt_at(2, "too short");
	assert_int_equal(ledger_event_get(lg, 2, &ev), SL_ERR_CORRUPT);

	/* a gap in the log */
	raw_put(STORE_CF_EVENTS, k, sizeof(k), NULL, 0);
	iter_expect_corrupt_at(2, "gap");
	assert_int_equal(ledger_event_get(lg, 2, &ev), SL_ERR_NOT_FOUND);

	/* read from just after the gap (the change feed from 3): the gap is named, not passed
	 * over with event 3 unchecked (found by a review) */
	ledger_iter *it = iter_open(3);
	uint64_t bad = 0;
	assert_int_equal(ledger_iter_next(it, &ev, &bad), SL_ERR_CORRUPT);
	assert_int_equal(bad, 2);
	assert_non_null(strstr(ledger_iter_error(it), "event 2: missing"));
	/* past the head there is nothing to read, and nothing wrong */
	it = iter_open(7);
	assert_int_equal(ledger_iter_next(it, &ev, &bad), SL_ERR_NOT_FOUND);
}

static void test_ledger_commit_failure_shows_nothing_and_is_sticky_until_reopened(void **state)
{
	(void)state;
	sl_event ev;
	append_one("A", 1, &ev);
	unsigned char head[SL_HASH_BYTES], now[SL_HASH_BYTES];
	assert_int_equal(ledger_head(lg, head), 1);

	store_fault_set(ledger_store(lg), 1);
	sl_item view;
	item_make(&view, "A", "default", 2);
	unsigned char hash[SL_HASH_BYTES] = {1};
	assert_int_equal(ledger_txn_begin(txn), SL_OK);
	event_make(&ev, 2, "A", 2);
	assert_int_equal(ledger_txn_append(txn, &ev), SL_OK);
	assert_int_equal(ledger_txn_put_view(txn, &view), SL_OK);
	assert_int_equal(ledger_txn_put_idem(txn, "key-1", hash, hash, 1, 2, 0), SL_OK);
	assert_int_equal(ledger_txn_commit(txn, true), SL_ERR_STORAGE);
	assert_non_null(strstr(store_last_error(ledger_store(lg)), dir));

	/* nothing staged is visible */
	assert_int_equal(ledger_head(lg, now), 1);
	assert_memory_equal(now, head, SL_HASH_BYTES);
	assert_int_equal(ledger_event_get(lg, 2, &ev), SL_ERR_NOT_FOUND);
	sl_item got;
	assert_int_equal(ledger_view_get(lg, &view.key, &got), SL_ERR_NOT_FOUND);
	sl_buf res;
	sl_buf_init(&res);
	assert_int_equal(ledger_idem_get(lg, "key-1", hash, &res), SL_ERR_NOT_FOUND);
	uint64_t s[8], next;
	assert_int_equal(history_page("A", 0, 8, s, &next), 1);

	/* sticky: every later transaction is refused, though the disk works again; the
	 * ledger keeps why, even after another failure of the store */
	assert_int_equal(ledger_status(lg), SL_ERR_STORAGE);
	char cause[SL_LEDGER_CAUSE_MAX];
	ledger_failure_cause(lg, cause, sizeof(cause));
	assert_string_equal(cause, store_last_error(ledger_store(lg)));
	assert_non_null(strstr(cause, "injected fault"));
	assert_int_equal(ledger_txn_begin(txn), SL_ERR_STORAGE);
	assert_int_equal(ledger_txn_begin(txn), SL_ERR_STORAGE);
	ledger_fail(lg, SL_ERR_CORRUPT, "a later failure");
	assert_int_equal(ledger_status(lg), SL_ERR_STORAGE);
	ledger_failure_cause(lg, cause, sizeof(cause));
	assert_non_null(strstr(cause, "injected fault"));
	/* reads go on */
	assert_int_equal(ledger_event_get(lg, 1, &ev), SL_OK);

	ledger_reopen();
	assert_int_equal(ledger_status(lg), SL_OK);
	ledger_failure_cause(lg, cause, sizeof(cause));
	assert_string_equal(cause, "");
	assert_int_equal(ledger_head(lg, now), 1);
	assert_memory_equal(now, head, SL_HASH_BYTES);
	append_one("A", 2, &ev);
	assert_int_equal(ev.seq, 2);
	iter_expect_whole(2);
	sl_buf_fini(&res);
}

static void test_ledger_fault_hits_the_nth_commit_not_before(void **state)
{
	(void)state;
	sl_event ev;
	store_fault_set(ledger_store(lg), 3);
	append_one("A", 1, &ev);
	append_one("A", 2, &ev);
	assert_int_equal(ledger_txn_begin(txn), SL_OK);
	event_make(&ev, 3, "A", 3);
	assert_int_equal(ledger_txn_append(txn, &ev), SL_OK);
	assert_int_equal(ledger_txn_commit(txn, true), SL_ERR_STORAGE);
	assert_int_equal(ledger_head(lg, NULL), 2);
}

static void test_ledger_abort_drops_everything_staged(void **state)
{
	(void)state;
	sl_event ev;
	append_one("A", 1, &ev);
	unsigned char head[SL_HASH_BYTES], now[SL_HASH_BYTES];
	ledger_head(lg, head);

	sl_item view;
	item_make(&view, "A", "default", 9);
	unsigned char hash[SL_HASH_BYTES] = {1};
	assert_int_equal(ledger_txn_begin(txn), SL_OK);
	event_make(&ev, 2, "A", 2);
	assert_int_equal(ledger_txn_append(txn, &ev), SL_OK);
	event_make(&ev, 3, "A", 3);
	assert_int_equal(ledger_txn_append(txn, &ev), SL_OK);
	assert_int_equal(ledger_txn_put_view(txn, &view), SL_OK);
	assert_int_equal(ledger_txn_put_idem(txn, "key-1", hash, hash, 1, 2, 0), SL_OK);
	ledger_txn_abort(txn);
	assert_int_equal(ledger_txn_staged(txn), 0);
	assert_int_equal(ledger_status(lg), SL_OK);

	assert_int_equal(ledger_head(lg, now), 1);
	assert_memory_equal(now, head, SL_HASH_BYTES);
	sl_item got;
	assert_int_equal(ledger_view_get(lg, &view.key, &got), SL_ERR_NOT_FOUND);
	sl_buf res;
	sl_buf_init(&res);
	assert_int_equal(ledger_idem_get(lg, "key-1", hash, &res), SL_ERR_NOT_FOUND);
	sl_buf_fini(&res);

	/* the next transaction starts from the committed head, chain and all */
	assert_int_equal(ledger_txn_begin(txn), SL_OK);
	assert_int_equal(ledger_txn_next_seq(txn), 2);
	assert_int_equal(ledger_txn_commit(txn, true), SL_OK); /* empty: a no-op */
	append_one("A", 2, &ev);
	unsigned char want[SL_HASH_BYTES];
	chain_next(head, &ev, want);
	assert_memory_equal(ev.hash, want, SL_HASH_BYTES);
	ledger_reopen();
	assert_int_equal(ledger_view_get(lg, &view.key, &got), SL_ERR_NOT_FOUND);
	iter_expect_whole(2);
}

static void views_put(const sl_item *items, const size_t *order, size_t n)
{
	assert_int_equal(ledger_txn_begin(txn), SL_OK);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(ledger_txn_put_view(txn, &items[order[i]]), SL_OK);
	assert_int_equal(ledger_txn_commit(txn, true), SL_OK);
}

static void test_ledger_views_checksum_is_equal_for_equal_rows(void **state)
{
	(void)state;
	unsigned char empty[SL_HASH_BYTES], c1[SL_HASH_BYTES], c2[SL_HASH_BYTES];
	uint64_t n1 = 99, n2 = 99;
	assert_int_equal(ledger_views_checksum(lg, empty, &n1), SL_OK);
	assert_int_equal(n1, 0);

	sl_item items[3];
	item_make(&items[0], "A", "default", 1);
	item_make(&items[1], "B", "default", 2);
	item_make(&items[2], "A", "north", 3);
	const size_t forward[] = {0, 1, 2}, backward[] = {2, 1, 0};
	views_put(items, forward, 3);
	/* events and idempotency records are not views */
	sl_event ev;
	append_one("A", 1, &ev);
	assert_int_equal(ledger_views_checksum(lg, c1, &n1), SL_OK);
	assert_int_equal(n1, 3);
	assert_memory_not_equal(c1, empty, SL_HASH_BYTES);

	/* the same rows written in another order, in another ledger */
	char first_dir[sizeof(dir)];
	memcpy(first_dir, dir, sizeof(dir));
	ledger_shut();
	assert_int_equal(ledger_setup(NULL), 0);
	views_put(items, backward, 3);
	assert_int_equal(ledger_views_checksum(lg, c2, &n2), SL_OK);
	assert_int_equal(n2, 3);
	assert_memory_equal(c1, c2, SL_HASH_BYTES);

	/* one field of one row differs: so does the checksum */
	items[1].updated_ms++;
	views_put(items, forward + 1, 1);
	assert_int_equal(ledger_views_checksum(lg, c2, &n2), SL_OK);
	assert_memory_not_equal(c1, c2, SL_HASH_BYTES);
	items[1].updated_ms--;
	views_put(items, forward + 1, 1);
	assert_int_equal(ledger_views_checksum(lg, c2, &n2), SL_OK);
	assert_memory_equal(c1, c2, SL_HASH_BYTES);
	assert_int_equal(sl_test_dir_remove(first_dir), 0);
}

static void test_ledger_open_refuses_a_store_of_another_format(void **state)
{
	(void)state;
	raw_put(STORE_CF_META, "format", 6, "stockledger-0", 13);
	ledger_shut();
	char err[512];
	ledger *l2 = NULL;
	assert_int_equal(ledger_open(dir, &l2, err, sizeof(err)), SL_ERR_CORRUPT);
	assert_null(l2);
	assert_non_null(strstr(err, "unknown data format 'stockledger-0'"));
}

/* A directory of format stockledger-1 (where a re-created item started again at revision 1)
 * is brought to stockledger-2 on open: each view's revision becomes its item_seq, as a fold
 * of the log now gives; views already right are untouched. */
static void test_ledger_open_brings_format_1_views_to_format_2(void **state)
{
	(void)state;
	sl_item recreated, plain, got;
	item_make(&recreated, "R", "default", 4);
	recreated.revision = 1; /* a second life under format 1: item_seq 3, revision 1 */
	item_make(&plain, "P", "default", 2);
	assert_int_equal(ledger_txn_begin(txn), SL_OK);
	assert_int_equal(ledger_txn_put_view(txn, &recreated), SL_OK);
	assert_int_equal(ledger_txn_put_view(txn, &plain), SL_OK);
	assert_int_equal(ledger_txn_commit(txn, true), SL_OK);
	raw_put(STORE_CF_META, "format", 6, "stockledger-1", 13);
	ledger_reopen();
	assert_int_equal(ledger_view_get(lg, &recreated.key, &got), SL_OK);
	assert_int_equal(got.revision, 3);
	assert_int_equal(got.item_seq, 3);
	assert_int_equal(got.state.quantity, 4);
	assert_int_equal(ledger_view_get(lg, &plain.key, &got), SL_OK);
	assert_int_equal(got.revision, 3);
	/* the format is 2 now: a reopen finds nothing to do */
	ledger_reopen();
	assert_int_equal(ledger_view_get(lg, &recreated.key, &got), SL_OK);
	assert_int_equal(got.revision, 3);
}

static void test_ledger_open_refuses_a_log_whose_last_record_is_not_an_event(void **state)
{
	(void)state;
	append_item("A", 2);
	uint8_t k[8];
	sl_be64_put(k, 2);
	raw_put(STORE_CF_EVENTS, k, sizeof(k), "short", 5);
	ledger_shut();
	char err[512];
	ledger *l2 = NULL;
	assert_int_equal(ledger_open(dir, &l2, err, sizeof(err)), SL_ERR_CORRUPT);
	assert_null(l2);
	assert_non_null(strstr(err, dir));
	assert_non_null(strstr(err, "not an event"));
}

static void test_ledger_open_names_a_directory_it_cannot_use(void **state)
{
	(void)state;
	char path[300], err[512];
	snprintf(path, sizeof(path), "%s/a-file", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	ledger *l2 = NULL;
	assert_int_equal(ledger_open(path, &l2, err, sizeof(err)), SL_ERR_STORAGE);
	assert_null(l2);
	assert_non_null(strstr(err, path));
	/* the directory is locked by the open ledger */
	assert_int_equal(ledger_open(dir, &l2, err, sizeof(err)), SL_ERR_STORAGE);
	assert_non_null(strstr(err, dir));
}

/* hot_key_expect: the hot indexes in memory hold key k. */
static void hot_key_expect(const uint8_t *k, size_t klen)
{
	sl_buf got;
	sl_buf_init(&got);
	size_t n = 0;
	uint64_t seq;
	assert_int_equal(ledger_hot_scan(lg, k, klen, false, k, klen, NULL, 0, 1, &got, &n, &seq),
	                 SL_OK);
	assert_int_equal(n, 1);
	assert_int_equal(got.len, 2 + klen);
	assert_int_equal(((size_t)got.data[0] << 8) | got.data[1], klen);
	assert_memory_equal(got.data + 2, k, klen);
	sl_buf_fini(&got);
}

/* index_rows counts the rows of the live index family and checks that exactly the index
 * keys of items[0..n) are among them. */
static void index_rows_expect(const sl_item *items, size_t n)
{
	size_t rows = 0;
	store_iter *it = store_iter_alloc(ledger_store(lg), STORE_CF_ITEM_INDEX);
	assert_non_null(it);
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it))
		rows++;
	store_iter_free(it);
	size_t want = 0;
	sl_buf v;
	sl_buf_init(&v);
	for (size_t i = 0; i < n; i++) {
		ledger_index_row row;
		uint8_t keys[LEDGER_INDEX_PER_ITEM][LEDGER_INDEX_KEY_BYTES];
		size_t lens[LEDGER_INDEX_PER_ITEM];
		ledger_index_row_of(&items[i], &row);
		size_t k = ledger_index_keys(&row, keys, lens);
		for (size_t j = 0; j < k; j++) {
			if (ledger_index_is_hot(keys[j][0])) {
				hot_key_expect(keys[j], lens[j]);
				continue;
			}
			assert_int_equal(
			    store_get(ledger_store(lg), STORE_CF_ITEM_INDEX, keys[j], lens[j], &v),
			    SL_OK);
			want++;
		}
	}
	sl_buf_fini(&v);
	assert_int_equal(rows, want);
}

/* deferred_put commits the next event of the item in view with its view, the index rows
 * going to ib. */
static void deferred_put(ledger_index_batch *ib, sl_item *view, uint64_t item_seq)
{
	sl_event ev;
	ledger_txn_defer_index(txn, ib);
	assert_int_equal(ledger_txn_begin(txn), SL_OK);
	event_make(&ev, ledger_txn_next_seq(txn), view->key.product_id, item_seq);
	assert_int_equal(ledger_txn_append(txn, &ev), SL_OK);
	view->last_seq = ev.seq;
	view->item_seq = item_seq;
	assert_int_equal(ledger_txn_put_view(txn, view), SL_OK);
	assert_int_equal(ledger_txn_commit(txn, true), SL_OK);
}

static uint64_t snap_mark(void)
{
	uint64_t mark = UINT64_MAX;
	assert_int_equal(ledger_snap_indexed_seq(lg, NULL, &mark), SL_OK);
	return mark;
}

static void test_ledger_deferred_index_lags_until_its_batch_is_written(void **state)
{
	(void)state;
	ledger_index_batch *ib = ledger_index_batch_alloc(lg);
	assert_non_null(ib);
	sl_item view;
	item_make(&view, "A", "default", 1);
	deferred_put(ib, &view, 1);
	assert_int_equal(ledger_head(lg, NULL), 1);
	assert_int_equal(ledger_indexed_seq(lg), 0);
	assert_int_equal(snap_mark(), 0);
	index_rows_expect(NULL, 0);
	assert_int_not_equal(ledger_index_batch_count(ib), 0);

	assert_int_equal(ledger_index_commit(lg, ib, 1), SL_OK);
	assert_int_equal(ledger_index_batch_count(ib), 0);
	assert_int_equal(ledger_indexed_seq(lg), 1);
	assert_int_equal(snap_mark(), 1);
	assert_int_equal(ledger_index_wait(lg, 1), SL_OK);
	index_rows_expect(&view, 1);

	/* the next change of the view replaces its keys: the old quantity's key goes */
	view.state.quantity = 5;
	deferred_put(ib, &view, 2);
	assert_int_equal(ledger_index_commit(lg, ib, 2), SL_OK);
	index_rows_expect(&view, 1);
	ledger_index_batch_free(ib);
}

static void test_ledger_open_derives_again_an_index_a_crash_left_behind(void **state)
{
	(void)state;
	ledger_index_batch *ib = ledger_index_batch_alloc(lg);
	assert_non_null(ib);
	sl_item a, b;
	item_make(&a, "A", "default", 1);
	item_make(&b, "B", "default", 2);
	deferred_put(ib, &a, 1);
	assert_int_equal(ledger_index_commit(lg, ib, 1), SL_OK);
	/* these two groups' index rows are never written: the process "crashes" */
	a.state.quantity = 7;
	a.updated_ms = 9000;
	deferred_put(ib, &a, 2);
	deferred_put(ib, &b, 1);
	ledger_index_batch_free(ib);
	assert_int_equal(ledger_indexed_seq(lg), 1);

	ledger_reopen();
	assert_int_equal(ledger_head(lg, NULL), 3);
	assert_int_equal(ledger_indexed_seq(lg), 3);
	assert_int_equal(snap_mark(), 3);
	sl_item both[2] = {a, b};
	index_rows_expect(both, 2); /* A's stale keys (quantity 1, its old time) are gone */

	/* a transaction without an index batch keeps the mark with the head */
	sl_event ev;
	append_one("C", 1, &ev);
	assert_int_equal(ledger_indexed_seq(lg), 4);
	assert_int_equal(snap_mark(), 4);
}

static void test_ledger_index_wait_answers_storage_when_the_index_write_fails(void **state)
{
	(void)state;
	ledger_index_batch *ib = ledger_index_batch_alloc(lg);
	assert_non_null(ib);
	sl_item view;
	item_make(&view, "A", "default", 1);
	deferred_put(ib, &view, 1);
	store_fault_set(ledger_store(lg), 1);
	assert_int_equal(ledger_index_commit(lg, ib, 1), SL_ERR_STORAGE);
	assert_int_equal(ledger_index_wait(lg, 1), SL_ERR_STORAGE);
	assert_int_equal(ledger_status(lg), SL_ERR_STORAGE);
	assert_int_equal(ledger_index_wait(lg, 0), SL_OK);
	ledger_index_batch_free(ib);

	ledger_reopen();
	assert_int_equal(ledger_indexed_seq(lg), 1);
	index_rows_expect(&view, 1);
}

/* An index batch after one that failed is not applied: its mark would say the indexes are
 * complete past the failed group's hole, and a sorted query would miss that group's items
 * and look complete (found by a review). Queries answer STORAGE until a restart. */
static void test_ledger_applies_no_index_batch_after_one_that_failed(void **state)
{
	(void)state;
	ledger_index_batch *ib1 = ledger_index_batch_alloc(lg);
	ledger_index_batch *ib2 = ledger_index_batch_alloc(lg);
	assert_non_null(ib1);
	assert_non_null(ib2);
	sl_item a, b;
	item_make(&a, "A", "default", 1);
	item_make(&b, "B", "default", 2);
	deferred_put(ib1, &a, 1);
	deferred_put(ib2, &b, 1);
	store_fault_set(ledger_store(lg), 1); /* the next write, group 1's index batch, fails */
	assert_int_equal(ledger_index_commit(lg, ib1, 1), SL_ERR_STORAGE);
	assert_int_equal(ledger_index_commit(lg, ib2, 2), SL_ERR_STORAGE);
	assert_int_equal(ledger_index_batch_count(ib2), 0);
	assert_int_equal(ledger_indexed_seq(lg), 0);
	assert_int_equal(snap_mark(), 0);
	assert_int_equal(ledger_index_wait(lg, 2), SL_ERR_STORAGE);
	sl_buf out;
	sl_buf_init(&out);
	size_t n;
	uint64_t seq;
	assert_int_equal(ledger_hot_scan(lg, (const uint8_t *)"", 0, false, (const uint8_t *)"", 0,
	                                 NULL, 0, 10, &out, &n, &seq),
	                 SL_ERR_STORAGE);
	sl_buf_fini(&out);
	ledger_index_batch_free(ib1);
	ledger_index_batch_free(ib2);

	ledger_reopen(); /* derives both again from the views */
	assert_int_equal(ledger_indexed_seq(lg), 2);
	sl_item both[2] = {a, b};
	index_rows_expect(both, 2);
}

/* A directory of a build that stored the hot 'Q' and 'U' rows in the family, with its mark
 * "indexed_seq": the first open derives the family again without them (and drops that
 * mark), and the hot indexes in memory hold them instead. */
static void test_ledger_open_drops_the_hot_rows_an_older_build_stored(void **state)
{
	(void)state;
	ledger_index_batch *ib = ledger_index_batch_alloc(lg);
	assert_non_null(ib);
	sl_item a;
	item_make(&a, "A", "default", 4);
	deferred_put(ib, &a, 1);
	assert_int_equal(ledger_index_commit(lg, ib, 1), SL_OK);
	ledger_index_batch_free(ib);
	index_rows_expect(&a, 1);
	/* what the older build had written: the hot rows in the family, and its mark */
	uint8_t keys[LEDGER_INDEX_PER_ITEM][LEDGER_INDEX_KEY_BYTES];
	size_t lens[LEDGER_INDEX_PER_ITEM];
	ledger_index_row row;
	ledger_index_row_of(&a, &row);
	size_t n = ledger_index_keys(&row, keys, lens);
	store_batch *b = store_batch_alloc(ledger_store(lg));
	assert_non_null(b);
	for (size_t i = 0; i < n; i++)
		if (ledger_index_is_hot(keys[i][0]))
			store_batch_put(b, STORE_CF_ITEM_INDEX, keys[i], lens[i], "", 0);
	uint8_t mark[8];
	sl_be64_put(mark, 1);
	store_batch_put(b, STORE_CF_META, "indexed_seq", 11, mark, sizeof(mark));
	assert_int_equal(store_write(ledger_store(lg), b, true), SL_OK);
	store_batch_free(b);

	ledger_reopen();
	index_rows_expect(&a, 1); /* the family's rows are the stored ones only */
	sl_buf v;
	sl_buf_init(&v);
	assert_int_equal(store_get(ledger_store(lg), STORE_CF_META, "indexed_seq", 11, &v),
	                 SL_ERR_NOT_FOUND);
	sl_buf_fini(&v);
	assert_int_equal(ledger_indexed_seq(lg), 1);
	char msg[256];
	assert_int_equal(ledger_hot_verify(lg, msg, sizeof(msg)), SL_OK);
}

#define T(name) cmocka_unit_test_setup_teardown(name, ledger_setup, ledger_teardown)

/* idem_put commits the record of key, made at time_ms. */
static void idem_put(const char *key, int64_t time_ms)
{
	unsigned char hash[SL_HASH_BYTES];
	memset(hash, 0x42, sizeof(hash));
	const uint8_t result[] = {0x08, 0x01};
	assert_int_equal(ledger_txn_begin(txn), SL_OK);
	assert_int_equal(ledger_txn_put_idem(txn, key, hash, result, sizeof(result), 1, time_ms),
	                 SL_OK);
	assert_int_equal(ledger_txn_commit(txn, true), SL_OK);
}

static sl_err idem_lookup(const char *key)
{
	unsigned char hash[SL_HASH_BYTES];
	sl_buf res;
	sl_buf_init(&res);
	sl_err rc = ledger_idem_get(lg, key, hash, &res);
	sl_buf_fini(&res);
	return rc;
}

/* idem_stored: is key's record still a row of the idem family (whatever its age)? */
static bool idem_stored(const char *key)
{
	sl_buf v;
	sl_buf_init(&v);
	sl_err rc = store_get(ledger_store(lg), STORE_CF_IDEM, key, strlen(key), &v);
	sl_buf_fini(&v);
	assert_true(rc == SL_OK || rc == SL_ERR_NOT_FOUND);
	return rc == SL_OK;
}

static void test_ledger_idem_records_expire_past_the_retention_window(void **state)
{
	(void)state;
	const int64_t day = 86400 * INT64_C(1000), now = sl_time_now_ms();
	idem_put("old", now - 15 * day);
	idem_put("grace", now - 8 * day);
	idem_put("recent", now - day);
	idem_put("untimed", 0); /* a record of a build before the window: its age is unknown */
	/* the default keeps every record for ever */
	assert_int_equal(idem_lookup("old"), SL_OK);
	assert_int_equal(store_compact(ledger_store(lg), STORE_CF_IDEM), SL_OK);
	assert_true(idem_stored("old"));

	ledger_set_idem_retention(lg, 7 * day);
	/* past the window the key is new again, before any compaction has dropped it, and the
	 * lookup leaves its outputs as they were (the writer encodes the new result into the
	 * same buffer) */
	assert_true(idem_stored("old"));
	unsigned char hash[SL_HASH_BYTES], hash_was[SL_HASH_BYTES];
	memset(hash, 0x5a, sizeof(hash));
	memcpy(hash_was, hash, sizeof(hash));
	sl_buf res;
	sl_buf_init(&res);
	assert_int_equal(sl_buf_append(&res, "kept", 4), SL_OK);
	assert_int_equal(ledger_idem_get(lg, "old", hash, &res), SL_ERR_NOT_FOUND);
	assert_int_equal(ledger_idem_get(lg, "grace", hash, &res), SL_ERR_NOT_FOUND);
	assert_memory_equal(hash, hash_was, sizeof(hash));
	assert_int_equal(res.len, 4);
	assert_memory_equal(res.data, "kept", 4);
	sl_buf_fini(&res);
	assert_int_equal(idem_lookup("recent"), SL_OK);
	assert_int_equal(idem_lookup("untimed"), SL_OK);
	/* a compaction drops only what is past twice the window: a clock stepped forward by up
	 * to a window deletes nothing a lookup will want back once it is set right */
	assert_int_equal(store_compact(ledger_store(lg), STORE_CF_IDEM), SL_OK);
	assert_false(idem_stored("old"));
	assert_true(idem_stored("grace"));
	assert_true(idem_stored("recent"));
	assert_true(idem_stored("untimed"));
	/* the drop is for good: after a reopen (whose window is the default, for ever again)
	 * the key is gone, the others answer */
	ledger_reopen();
	assert_false(idem_stored("old"));
	assert_int_equal(idem_lookup("old"), SL_ERR_NOT_FOUND);
	assert_int_equal(idem_lookup("grace"), SL_OK);
	ledger_set_idem_retention(lg, 7 * day);
	assert_int_equal(idem_lookup("recent"), SL_OK);
	assert_int_equal(idem_lookup("grace"), SL_ERR_NOT_FOUND);

	/* a reused key writes a new record, which answers again */
	idem_put("recent", now - 9 * day);
	assert_int_equal(idem_lookup("recent"), SL_ERR_NOT_FOUND);
	idem_put("recent", now);
	assert_int_equal(idem_lookup("recent"), SL_OK);
	assert_int_equal(store_compact(ledger_store(lg), STORE_CF_IDEM), SL_OK);
	assert_true(idem_stored("recent"));
	/* a window of 0 is for ever again, for lookups and compactions */
	idem_put("old", now - 800 * day);
	ledger_set_idem_retention(lg, 0);
	assert_int_equal(idem_lookup("old"), SL_OK);
	assert_int_equal(store_compact(ledger_store(lg), STORE_CF_IDEM), SL_OK);
	assert_true(idem_stored("old"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_ledger_append_numbers_events_1_2_3_without_gaps),
	    T(test_ledger_chain_hash_is_sha256_of_the_previous_hash_and_the_event),
	    T(test_ledger_head_survives_close_and_reopen),
	    T(test_ledger_views_and_idempotency_records_round_trip),
	    T(test_ledger_history_pages_through_one_item_with_a_cursor),
	    T(test_ledger_iter_names_the_seq_of_a_flipped_event_byte),
	    T(test_ledger_iter_names_the_seq_of_a_flipped_hash_or_a_missing_event),
	    T(test_ledger_iter_from_a_seq_checks_it_against_the_stored_hash_before_it),
	    T(test_ledger_commit_failure_shows_nothing_and_is_sticky_until_reopened),
	    T(test_ledger_fault_hits_the_nth_commit_not_before),
	    T(test_ledger_abort_drops_everything_staged),
	    T(test_ledger_views_checksum_is_equal_for_equal_rows),
	    T(test_ledger_open_refuses_a_store_of_another_format),
	    T(test_ledger_open_brings_format_1_views_to_format_2),
	    T(test_ledger_open_refuses_a_log_whose_last_record_is_not_an_event),
	    T(test_ledger_open_names_a_directory_it_cannot_use),
	    T(test_ledger_deferred_index_lags_until_its_batch_is_written),
	    T(test_ledger_open_derives_again_an_index_a_crash_left_behind),
	    T(test_ledger_index_wait_answers_storage_when_the_index_write_fails),
	    T(test_ledger_idem_records_expire_past_the_retention_window),
	    T(test_ledger_open_drops_the_hot_rows_an_older_build_stored),
	    T(test_ledger_applies_no_index_batch_after_one_that_failed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

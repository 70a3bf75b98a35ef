/*
 * rebuild_test.c: projector_rebuild and projector_verify on a real ledger.
 *
 * Method: a ledger in a temporary directory is filled through the real write path, the
 * service core driven in-process (gw_service_execute), with a fixed script that uses every
 * kind of command: creates of both tracking methods and at two locations, updates, multi-line
 * increments and decrements with preorder units, a delete and a re-create. The service is
 * then closed and the projector runs on the ledger as stockledger-admin does. Damage is
 * done through the store seam (ledger_store): a stored view row changed, removed or added, an
 * event byte flipped. Expected sequence numbers come from the ledger's own history index.
 * The one-pass rebuild folds into shadow column families and switches them live at the end:
 * a fold bound so small that it spills after every event must give the same checksum, and
 * a store write that fails (store_fault_set) before or at the switch must leave the old
 * views, indexes and history in place and no scratch rows behind.
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
#include "gateway/service.h"
#include "ledger/codec.h"
#include "projector/rebuild.h"
#include "stockledger.pb-c.h"
#include "support/sl_testing.h"

static char dir[256];
static ledger *lg;

/* raw_put writes (val != NULL) or deletes one record through the store seam. */
static void raw_put(store_cf cf, const void *key, size_t klen, const void *val, size_t vlen)
{
	assert_int_equal(sl_test_store_put(ledger_store(lg), cf, key, klen, val, vlen), SL_OK);
}

/* run executes c on s and expects it to be done. */
static void run(gw_service *s, sl_command *c)
{
	sl_buf out;
	sl_buf_init(&out);
	assert_int_equal(gw_service_execute(s, c, &out), SL_OK);
	Sl__Result *r = sl__result__unpack(NULL, out.len, out.data);
	assert_non_null(r);
	if (r->error != NULL)
		fail_msg("refused: %s %s", r->error->code, r->error->message);
	sl__result__free_unpacked(r, NULL);
	sl_buf_fini(&out);
}

static void create(gw_service *s, const char *product, const char *location, int64_t qty,
                   bool is_quantity, int64_t preorder_limit)
{
	sl_command c;
	memset(&c, 0, sizeof(c));
	c.type = SL_CMD_CREATE;
	sl_test_key_set(&c.item, product, location);
	c.has_quantity = is_quantity;
	c.quantity = qty;
	c.has_in_stock = !is_quantity;
	c.in_stock = qty > 0;
	if (preorder_limit >= 0) {
		c.has_preorder_enabled = true;
		c.preorder_enabled = true;
		c.has_preorder_limit = is_quantity;
		c.preorder_limit = preorder_limit;
	}
	run(s, &c);
}

/* adjust runs an increment or decrement of n lines: products[i] by qty[i]. */
static void adjust(gw_service *s, sl_cmd_type type, size_t n, const char *const *products,
                   const int64_t *qty, bool is_preorder_request)
{
	sl_command c;
	memset(&c, 0, sizeof(c));
	c.type = type;
	c.is_preorder_request = is_preorder_request;
	sl_strlcpy(c.reason, "ORDER", sizeof(c.reason));
	c.lines = calloc(n, sizeof(*c.lines));
	assert_non_null(c.lines);
	c.n_lines = n;
	for (size_t i = 0; i < n; i++) {
		sl_test_key_set(&c.lines[i].item, products[i], SL_DEFAULT_LOCATION);
		c.lines[i].quantity = qty[i];
	}
	run(s, &c);
}

static void update_quantity(gw_service *s, const char *product, int64_t revision, int64_t qty)
{
	sl_command c;
	memset(&c, 0, sizeof(c));
	c.type = SL_CMD_UPDATE;
	sl_test_key_set(&c.item, product, SL_DEFAULT_LOCATION);
	c.has_revision = true;
	c.revision = revision;
	c.has_quantity = true;
	c.quantity = qty;
	c.has_preorder_message = true;
	sl_strlcpy(c.preorder_message, "back in May", sizeof(c.preorder_message));
	run(s, &c);
}

static void delete_item(gw_service *s, const char *product)
{
	sl_command c;
	memset(&c, 0, sizeof(c));
	c.type = SL_CMD_DELETE;
	sl_test_key_set(&c.item, product, SL_DEFAULT_LOCATION);
	run(s, &c);
}

/* The script: 6 items (one at a second location), 15 events. */
#define SCRIPT_EVENTS 15
#define SCRIPT_VIEWS 6

static int ledger_setup(void **state)
{
	(void)state;
	if (sl_test_dir_make(dir, sizeof(dir), "rebuild-test") != 0)
		return -1;
	gw_config cfg = {.data_dir = dir, .default_location = SL_DEFAULT_LOCATION};
	gw_service *s = NULL;
	char err[512];
	if (gw_service_open(&cfg, &s, err, sizeof(err)) != SL_OK)
		fail_msg("cannot open service: %s", err);
	create(s, "A", SL_DEFAULT_LOCATION, 5, true, -1); /* 1 */
	create(s, "A", "north", 1, true, -1);             /* 2 */
	create(s, "B", SL_DEFAULT_LOCATION, 2, true, 3);  /* 3 */
	create(s, "C", SL_DEFAULT_LOCATION, 0, false, 0); /* 4: in-stock, preorder */
	create(s, "D", SL_DEFAULT_LOCATION, 9, true, -1); /* 5 */
	const char *const lines1[] = {"A", "B", "A"};
	const int64_t qty1[] = {2, 4, 1};
	adjust(s, SL_CMD_DECREMENT, 3, lines1, qty1, true); /* 6, 7, 8 */
	const char *const lines2[] = {"D", "A"};
	const int64_t qty2[] = {3, 10};
	adjust(s, SL_CMD_INCREMENT, 2, lines2, qty2, false); /* 9, 10 */
	update_quantity(s, "A", 4, 7);                       /* 11: A at revision 4 */
	delete_item(s, "D");                                 /* 12 */
	create(s, "D", SL_DEFAULT_LOCATION, 4, true, 10);    /* 13 */
	create(s, "E", SL_DEFAULT_LOCATION, 1, false, -1);   /* 14 */
	const char *const lines3[] = {"B"};
	const int64_t qty3[] = {1};
	adjust(s, SL_CMD_DECREMENT, 1, lines3, qty3, false); /* 15 */
	gw_service_close(s);
	if (ledger_open(dir, &lg, err, sizeof(err)) != SL_OK)
		fail_msg("cannot open ledger: %s", err);
	assert_int_equal(ledger_head(lg, NULL), SCRIPT_EVENTS);
	return 0;
}

static int ledger_teardown(void **state)
{
	(void)state;
	ledger_close(lg);
	lg = NULL;
	return sl_test_dir_remove(dir);
}

typedef struct progress_log {
	unsigned calls;
	uint64_t last_done, last_total;
} progress_log;

static void progress_cb(void *ctx, uint64_t done, uint64_t total)
{
	progress_log *p = ctx;
	p->calls++;
	p->last_done = done;
	p->last_total = total;
}

static void checksum_of(unsigned char *sum, uint64_t *n)
{
	assert_int_equal(ledger_views_checksum(lg, sum, n), SL_OK);
}

/* history_seqs writes the seqs of the whole history of product@location into seqs. */
static size_t history_seqs(const char *product, const char *location, uint64_t *seqs)
{
	sl_event evs[SCRIPT_EVENTS + 1];
	sl_item_key k;
	size_t n = 0;
	uint64_t next = 0;
	sl_test_key_set(&k, product, location);
	assert_int_equal(ledger_history(lg, &k, 0, SCRIPT_EVENTS + 1, evs, &n, &next), SL_OK);
	for (size_t i = 0; i < n; i++)
		seqs[i] = evs[i].seq;
	return n;
}

static void test_projector_verify_passes_on_what_the_writer_wrote(void **state)
{
	(void)state;
	unsigned char sum[SL_HASH_BYTES];
	uint64_t n;
	checksum_of(sum, &n);
	assert_int_equal(n, SCRIPT_VIEWS);
	projector_report r;
	progress_log p = {0};
	sl_err rc = projector_verify(lg, progress_cb, &p, &r);
	if (rc != SL_OK)
		fail_msg("verify failed at %llu: %s", (unsigned long long)r.bad_seq, r.message);
	assert_int_equal(r.events, SCRIPT_EVENTS);
	assert_int_equal(r.views, SCRIPT_VIEWS);
	assert_int_equal(r.bad_seq, 0);
	assert_memory_equal(r.checksum, sum, SL_HASH_BYTES);
	/* the last report is the whole log */
	assert_true(p.calls >= 1);
	assert_int_equal(p.last_done, SCRIPT_EVENTS);
	assert_int_equal(p.last_total, SCRIPT_EVENTS);
}

static void test_projector_rebuild_gives_the_checksum_from_before(void **state)
{
	(void)state;
	unsigned char before[SL_HASH_BYTES], after[SL_HASH_BYTES];
	uint64_t n_before, n_after;
	checksum_of(before, &n_before);
	uint64_t hist_before[SCRIPT_EVENTS], hist_after[SCRIPT_EVENTS];
	size_t n_hist = history_seqs("A", SL_DEFAULT_LOCATION, hist_before);
	assert_int_equal(n_hist, 5); /* create, two lines of one decrement, increment, update */

	projector_report r;
	progress_log p = {0};
	assert_int_equal(projector_rebuild(lg, progress_cb, &p, &r), SL_OK);
	assert_int_equal(r.events, SCRIPT_EVENTS);
	assert_int_equal(r.views, n_before);
	assert_memory_equal(r.checksum, before, SL_HASH_BYTES);
	assert_int_equal(p.last_done, SCRIPT_EVENTS);
	checksum_of(after, &n_after);
	assert_memory_equal(after, before, SL_HASH_BYTES);

	/* the item index is rebuilt too: history reads the same events */
	assert_int_equal(history_seqs("A", SL_DEFAULT_LOCATION, hist_after), n_hist);
	assert_memory_equal(hist_after, hist_before, n_hist * sizeof(uint64_t));
	uint64_t d[SCRIPT_EVENTS];
	assert_int_equal(history_seqs("D", SL_DEFAULT_LOCATION, d), 4);
	assert_int_equal(d[3], 13);

	/* twice is the same as once, and survives a reopen */
	assert_int_equal(projector_rebuild(lg, NULL, NULL, &r), SL_OK);
	assert_memory_equal(r.checksum, before, SL_HASH_BYTES);
	ledger_close(lg);
	char err[512];
	assert_int_equal(ledger_open(dir, &lg, err, sizeof(err)), SL_OK);
	checksum_of(after, &n_after);
	assert_memory_equal(after, before, SL_HASH_BYTES);
	assert_int_equal(projector_verify(lg, NULL, NULL, &r), SL_OK);
}

/* view_rewrite stores row as the view of its key. */
static void view_rewrite(const sl_item *row)
{
	uint8_t k[LEDGER_KEY_BYTES];
	sl_buf v;
	sl_buf_init(&v);
	assert_int_equal(ledger_item_encode(row, &v), SL_OK);
	raw_put(STORE_CF_VIEWS, k, ledger_key_encode(&row->key, k), v.data, v.len);
	sl_buf_fini(&v);
}

static void view_remove(const sl_item_key *key)
{
	uint8_t k[LEDGER_KEY_BYTES];
	raw_put(STORE_CF_VIEWS, k, ledger_key_encode(key, k), NULL, 0);
}

static sl_item view_of(const char *product, const char *location)
{
	sl_item it;
	sl_item_key k;
	sl_test_key_set(&k, product, location);
	assert_int_equal(ledger_view_get(lg, &k, &it), SL_OK);
	return it;
}

/* verify_expect_bad runs verify and expects it to name bad_seq and say what. */
static void verify_expect_bad(uint64_t bad_seq, const char *what)
{
	projector_report r;
	assert_int_equal(projector_verify(lg, NULL, NULL, &r), SL_ERR_CORRUPT);
	if (r.bad_seq != bad_seq || strstr(r.message, what) == NULL)
		fail_msg("verify said %llu '%s', want %llu '%s'", (unsigned long long)r.bad_seq,
		         r.message, (unsigned long long)bad_seq, what);
}

static void test_projector_verify_names_the_last_event_of_a_tampered_view(void **state)
{
	(void)state;
	unsigned char good[SL_HASH_BYTES], now[SL_HASH_BYTES];
	uint64_t n;
	checksum_of(good, &n);
	sl_item b = view_of("B", SL_DEFAULT_LOCATION), a = view_of("A", "north");
	assert_int_equal(b.last_seq, 15);
	assert_int_equal(a.last_seq, 2);

	sl_item tampered = b;
	tampered.state.quantity += 1;
	view_rewrite(&tampered);
	verify_expect_bad(15, "'B/");
	/* a second one: the first bad seq is the smaller one, whatever the key order */
	tampered = a;
	tampered.revision = 2;
	view_rewrite(&tampered);
	verify_expect_bad(2, "'A/");
	/* verify changes nothing; rebuild repairs */
	projector_report r;
	assert_int_equal(projector_rebuild(lg, NULL, NULL, &r), SL_OK);
	assert_memory_equal(r.checksum, good, SL_HASH_BYTES);
	checksum_of(now, &n);
	assert_memory_equal(now, good, SL_HASH_BYTES);
	assert_int_equal(projector_verify(lg, NULL, NULL, &r), SL_OK);
}

static void test_projector_verify_names_a_missing_or_extra_view(void **state)
{
	(void)state;
	sl_item c = view_of("C", SL_DEFAULT_LOCATION);
	view_remove(&c.key);
	verify_expect_bad(c.last_seq, "missing");
	view_rewrite(&c);
	projector_report r;
	assert_int_equal(projector_verify(lg, NULL, NULL, &r), SL_OK);

	/* a row no event made: named by the event it claims to be from */
	sl_item ghost = c;
	sl_test_key_set(&ghost.key, "ghost", SL_DEFAULT_LOCATION);
	ghost.last_seq = 9;
	view_rewrite(&ghost);
	verify_expect_bad(9, "'ghost/");
}

/* index_put writes (seq != 0) or removes the history index row of product's item_seq. */
static void index_put(const char *product, uint64_t item_seq, uint64_t seq)
{
	sl_item_key key;
	uint8_t k[LEDGER_KEY_BYTES], v[8];
	sl_test_key_set(&key, product, SL_DEFAULT_LOCATION);
	size_t klen = ledger_key_encode(&key, k);
	k[klen++] = '\0';
	sl_be64_put(k + klen, item_seq);
	sl_be64_put(v, seq);
	raw_put(STORE_CF_ITEM_EVENTS, k, klen + 8, seq != 0 ? v : NULL, sizeof(v));
}

static void test_projector_verify_checks_the_history_index(void **state)
{
	(void)state;
	/* B's events are 3, 7 and 15: its item_seq 2 is event 7 */
	uint64_t b[SCRIPT_EVENTS];
	assert_int_equal(history_seqs("B", SL_DEFAULT_LOCATION, b), 3);
	assert_int_equal(b[1], 7);

	index_put("B", 2, 0);
	verify_expect_bad(7, "missing");
	index_put("B", 2, 8);
	verify_expect_bad(7, "wrong");
	/* the first bad seq wins, whether a view or the index */
	sl_item a = view_of("A", "north");
	sl_item tampered = a;
	tampered.state.quantity = 99;
	view_rewrite(&tampered);
	verify_expect_bad(2, "'A/");
	view_rewrite(&a);
	index_put("B", 2, 7);
	projector_report r;
	assert_int_equal(projector_verify(lg, NULL, NULL, &r), SL_OK);

	/* a row no event made */
	index_put("ghost", 1, 3);
	verify_expect_bad(3, "not its event");
	assert_int_equal(projector_rebuild(lg, NULL, NULL, &r), SL_OK);
	assert_int_equal(projector_verify(lg, NULL, NULL, &r), SL_OK);
	uint64_t ghost[SCRIPT_EVENTS];
	assert_int_equal(history_seqs("ghost", SL_DEFAULT_LOCATION, ghost), 0);
}

/* event_flip flips the lowest bit of byte at of stored event seq (past its hash). */
static void event_flip(uint64_t seq, size_t at)
{
	uint8_t k[8];
	sl_be64_put(k, seq);
	assert_int_equal(
	    sl_test_store_flip(ledger_store(lg), STORE_CF_EVENTS, k, sizeof(k), SL_HASH_BYTES + at),
	    SL_OK);
}

static void test_projector_verify_and_rebuild_name_a_flipped_event_byte(void **state)
{
	(void)state;
	unsigned char good[SL_HASH_BYTES], now[SL_HASH_BYTES];
	uint64_t n, n_now;
	checksum_of(good, &n);
	uint64_t hist[SCRIPT_EVENTS], hist_now[SCRIPT_EVENTS];
	size_t n_hist = history_seqs("B", SL_DEFAULT_LOCATION, hist);

	event_flip(7, 3);
	verify_expect_bad(7, "chain hash mismatch");
	projector_report r;
	assert_int_equal(projector_rebuild(lg, NULL, NULL, &r), SL_ERR_CORRUPT);
	assert_int_equal(r.bad_seq, 7);
	assert_non_null(strstr(r.message, "event 7"));
	/* a rebuild that cannot replay the log changes nothing: the views and the index the
	 * writer left are still there */
	checksum_of(now, &n_now);
	assert_int_equal(n_now, n);
	assert_memory_equal(now, good, SL_HASH_BYTES);
	/* meanwhile a history that reaches event 7 is refused, not shown */
	bool is_7_of_b = false;
	for (size_t i = 0; i < n_hist; i++)
		is_7_of_b = is_7_of_b || hist[i] == 7;
	assert_true(is_7_of_b);
	sl_event evs[SCRIPT_EVENTS + 1];
	sl_item_key k;
	size_t n_read = 0;
	uint64_t next = 0;
	sl_test_key_set(&k, "B", SL_DEFAULT_LOCATION);
	assert_int_equal(ledger_history(lg, &k, 0, SCRIPT_EVENTS + 1, evs, &n_read, &next),
	                 SL_ERR_CORRUPT);

	/* repaired, all holds again, and the history index is the one the writer left */
	event_flip(7, 3);
	assert_int_equal(history_seqs("B", SL_DEFAULT_LOCATION, hist_now), n_hist);
	assert_memory_equal(hist_now, hist, n_hist * sizeof(uint64_t));
	assert_int_equal(projector_verify(lg, NULL, NULL, &r), SL_OK);
	assert_memory_equal(r.checksum, good, SL_HASH_BYTES);
}

static void test_projector_verify_and_rebuild_name_an_event_that_does_not_replay(void **state)
{
	(void)state;
	unsigned char good[SL_HASH_BYTES], now[SL_HASH_BYTES];
	uint64_t n, n_now;
	checksum_of(good, &n);
	/* a well-chained event the fold cannot take: B's next event with a before-state B
	 * never had */
	sl_item b = view_of("B", SL_DEFAULT_LOCATION);
	sl_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.seq = SCRIPT_EVENTS + 1;
	ev.command_seq = ev.seq;
	ev.type = SL_EV_ITEM_INCREMENTED;
	ev.item = b.key;
	ev.item_seq = b.item_seq + 1;
	ev.before = b.state;
	ev.before.quantity += 100;
	ev.after = ev.before;
	ev.after.quantity += 1;
	ev.delta_quantity = 1;
	ledger_txn *txn = ledger_txn_alloc(lg);
	assert_int_equal(ledger_txn_begin(txn), SL_OK);
	assert_int_equal(ledger_txn_append(txn, &ev), SL_OK);
	assert_int_equal(ledger_txn_commit(txn, true), SL_OK);
	ledger_txn_free(txn);

	verify_expect_bad(SCRIPT_EVENTS + 1, "does not follow");
	projector_report r;
	assert_int_equal(projector_rebuild(lg, NULL, NULL, &r), SL_ERR_CORRUPT);
	assert_int_equal(r.bad_seq, SCRIPT_EVENTS + 1);
	assert_non_null(strstr(r.message, "'B/"));
	checksum_of(now, &n_now);
	assert_int_equal(n_now, n);
	assert_memory_equal(now, good, SL_HASH_BYTES);
}

/* record_put stores record seq as the chain hash over the stored hash of seq - 1 (32 zero
 * bytes for the first) and body: well chained, whatever body holds. */
static void record_put(uint64_t seq, const void *body, size_t len)
{
	uint8_t k[8];
	unsigned char prev[SL_HASH_BYTES], h[SL_HASH_BYTES];
	memset(prev, 0, sizeof(prev));
	sl_buf rec;
	sl_buf_init(&rec);
	if (seq > 1) {
		sl_be64_put(k, seq - 1);
		assert_int_equal(store_get(ledger_store(lg), STORE_CF_EVENTS, k, sizeof(k), &rec),
		                 SL_OK);
		assert_true(rec.len >= SL_HASH_BYTES);
		memcpy(prev, rec.data, SL_HASH_BYTES);
	}
	sl_sha256(prev, SL_HASH_BYTES, body, len, h);
	rec.len = 0;
	assert_int_equal(sl_buf_append(&rec, h, sizeof(h)), SL_OK);
	assert_int_equal(sl_buf_append(&rec, body, len), SL_OK);
	sl_be64_put(k, seq);
	assert_int_equal(
	    sl_test_store_put(ledger_store(lg), STORE_CF_EVENTS, k, sizeof(k), rec.data, rec.len),
	    SL_OK);
	sl_buf_fini(&rec);
}

/* body_get reads the event bytes of record seq (past its hash) into out. */
static void body_get(uint64_t seq, sl_buf *out)
{
	uint8_t k[8];
	sl_be64_put(k, seq);
	out->len = 0;
	assert_int_equal(store_get(ledger_store(lg), STORE_CF_EVENTS, k, sizeof(k), out), SL_OK);
	assert_true(out->len >= SL_HASH_BYTES);
	memmove(out->data, out->data + SL_HASH_BYTES, out->len - SL_HASH_BYTES);
	out->len -= SL_HASH_BYTES;
}

/* log_put stores bodies[0..n) as records first.., chained again from first on. */
static void log_put(uint64_t first, sl_buf *bodies, size_t n)
{
	for (size_t i = 0; i < n; i++)
		record_put(first + i, bodies[i].data, bodies[i].len);
}

/* rebuild_expect_bad rebuilds, expecting it to stop at bad_seq after counting events,
 * saying what, and leaving the views with the checksum good. */
static void rebuild_expect_bad(uint64_t bad_seq, uint64_t events, const char *what,
                               const unsigned char *good)
{
	projector_report r;
	memset(&r, 0, sizeof(r));
	assert_int_equal(projector_rebuild(lg, NULL, NULL, &r), SL_ERR_CORRUPT);
	if (r.bad_seq != bad_seq || r.events != events || strstr(r.message, what) == NULL)
		fail_msg("rebuild said %llu after %llu events, '%s'; want %llu after %llu, '%s'",
		         (unsigned long long)r.bad_seq, (unsigned long long)r.events, r.message,
		         (unsigned long long)bad_seq, (unsigned long long)events, what);
	unsigned char now[SL_HASH_BYTES];
	uint64_t n_now;
	checksum_of(now, &n_now);
	assert_memory_equal(now, good, SL_HASH_BYTES);
}

/* rebuild_to_before rebuilds the views to the event before bad (bad > 1), which the pass
 * must fold without meeting bad. */
static void rebuild_to_before(uint64_t bad)
{
	if (bad == 1)
		return;
	projector_report r;
	memset(&r, 0, sizeof(r));
	if (projector_rebuild_to(lg, bad - 1, NULL, NULL, &r) != SL_OK || r.events != bad - 1)
		fail_msg("rebuild to %llu: %llu events, '%s'", (unsigned long long)(bad - 1),
		         (unsigned long long)r.events, r.message);
}

/* rebuild_expect_good rebuilds the whole log, expecting the views with the checksum good. */
static void rebuild_expect_good(const unsigned char *good)
{
	projector_report r;
	memset(&r, 0, sizeof(r));
	assert_int_equal(projector_rebuild(lg, NULL, NULL, &r), SL_OK);
	assert_int_equal(r.events, SCRIPT_EVENTS);
	assert_memory_equal(r.checksum, good, SL_HASH_BYTES);
}

/* The pass decodes a few events ahead of the one it folds: a well-chained record that does
 * not decode, or decodes to another event, is named once every event before it is folded,
 * wherever it is in the log (the first, within the first reads ahead, the last), and the
 * views stay as they were; a rebuild to the event before it does not see it. */
static void test_projector_verify_and_rebuild_name_an_event_that_does_not_decode(void **state)
{
	(void)state;
	unsigned char good[SL_HASH_BYTES];
	uint64_t n;
	checksum_of(good, &n);
	sl_buf bodies[SCRIPT_EVENTS];
	for (uint64_t seq = 1; seq <= SCRIPT_EVENTS; seq++) {
		sl_buf_init(&bodies[seq - 1]);
		body_get(seq, &bodies[seq - 1]);
	}
	static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff};
	for (uint64_t bad = SCRIPT_EVENTS; bad >= 1; bad--) {
		/* junk at bad, then (another event's bytes) at bad: the rest chained again */
		for (int c = 0; c < 2; c++) {
			const sl_buf *other = &bodies[bad == 1 ? 1 : bad - 2];
			record_put(bad, c == 0 ? junk : other->data,
			           c == 0 ? sizeof(junk) : other->len);
			log_put(bad + 1, &bodies[bad], SCRIPT_EVENTS - bad);
			const char *what = c == 0 ? "cannot be decoded" : "another sequence number";
			verify_expect_bad(bad, what);
			rebuild_expect_bad(bad, bad - 1, what, good);
			rebuild_to_before(bad);
			/* the log as it was: all holds again */
			log_put(bad, &bodies[bad - 1], SCRIPT_EVENTS - bad + 1);
			rebuild_expect_good(good);
		}
	}
	for (size_t i = 0; i < SCRIPT_EVENTS; i++)
		sl_buf_fini(&bodies[i]);
}

/* An event that does not replay is named, not a bad record the pass had already read
 * after it (one that does not decode, one whose chain is broken). */
static void test_projector_rebuild_names_the_first_error_not_one_read_ahead(void **state)
{
	(void)state;
	unsigned char good[SL_HASH_BYTES];
	uint64_t n;
	checksum_of(good, &n);
	/* events 16 and 17: B's next two with a before-state B never had */
	sl_item b = view_of("B", SL_DEFAULT_LOCATION);
	sl_event ev[2];
	memset(ev, 0, sizeof(ev));
	ledger_txn *txn = ledger_txn_alloc(lg);
	assert_int_equal(ledger_txn_begin(txn), SL_OK);
	for (int i = 0; i < 2; i++) {
		ev[i].seq = SCRIPT_EVENTS + 1 + (uint64_t)i;
		ev[i].command_seq = ev[i].seq;
		ev[i].type = SL_EV_ITEM_INCREMENTED;
		ev[i].item = b.key;
		ev[i].item_seq = b.item_seq + 1 + (uint64_t)i;
		ev[i].before = b.state;
		ev[i].before.quantity += 100 + i;
		ev[i].after = ev[i].before;
		ev[i].after.quantity += 1;
		ev[i].delta_quantity = 1;
		assert_int_equal(ledger_txn_append(txn, &ev[i]), SL_OK);
	}
	assert_int_equal(ledger_txn_commit(txn, true), SL_OK);
	ledger_txn_free(txn);
	static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff};
	record_put(SCRIPT_EVENTS + 2, junk, sizeof(junk));
	verify_expect_bad(SCRIPT_EVENTS + 1, "does not follow");
	rebuild_expect_bad(SCRIPT_EVENTS + 1, SCRIPT_EVENTS + 1, "'B/", good);
	uint8_t k[8];
	sl_be64_put(k, SCRIPT_EVENTS + 2);
	assert_int_equal(sl_test_store_flip(ledger_store(lg), STORE_CF_EVENTS, k, sizeof(k), 0),
	                 SL_OK);
	verify_expect_bad(SCRIPT_EVENTS + 1, "does not follow");
	rebuild_expect_bad(SCRIPT_EVENTS + 1, SCRIPT_EVENTS + 1, "'B/", good);
}

/* A broken chain within the pass's first reads ahead is named as far into the log. */
static void test_projector_rebuild_names_an_early_broken_chain(void **state)
{
	(void)state;
	unsigned char good[SL_HASH_BYTES];
	uint64_t n;
	checksum_of(good, &n);
	for (uint64_t bad = 2; bad <= 5; bad++) {
		uint8_t k[8];
		sl_be64_put(k, bad);
		assert_int_equal(sl_test_store_flip(ledger_store(lg), STORE_CF_EVENTS, k, sizeof(k),
		                                    SL_HASH_BYTES + 3),
		                 SL_OK);
		verify_expect_bad(bad, "chain hash mismatch");
		rebuild_expect_bad(bad, bad - 1, "chain hash mismatch", good);
		rebuild_to_before(bad);
		assert_int_equal(sl_test_store_flip(ledger_store(lg), STORE_CF_EVENTS, k, sizeof(k),
		                                    SL_HASH_BYTES + 3),
		                 SL_OK);
		rebuild_expect_good(good);
	}
}

/* shadow_rows counts the rows of the shadow copy of cf. */
static size_t shadow_rows(store_cf cf)
{
	store_iter *it = store_iter_alloc(ledger_store(lg), store_cf_shadow(cf));
	assert_non_null(it);
	size_t n = 0;
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it))
		n++;
	store_iter_free(it);
	return n;
}

static void test_projector_rebuild_that_spills_every_event_gives_the_same_views(void **state)
{
	(void)state;
	unsigned char good[SL_HASH_BYTES], now[SL_HASH_BYTES];
	uint64_t n, n_now;
	checksum_of(good, &n);
	uint64_t hist[SCRIPT_EVENTS], hist_now[SCRIPT_EVENTS];
	size_t n_hist = history_seqs("A", SL_DEFAULT_LOCATION, hist);

	/* a bound of one byte: the fold writes its views out after every item event and
	 * reads them back from the shadow views at the item's next event */
	projector_report r;
	assert_int_equal(projector_rebuild_bounded(lg, 0, 1, NULL, NULL, &r), SL_OK);
	assert_int_equal(r.spills, SCRIPT_EVENTS);
	assert_int_equal(r.events, SCRIPT_EVENTS);
	assert_int_equal(r.views, n);
	assert_memory_equal(r.checksum, good, SL_HASH_BYTES);
	checksum_of(now, &n_now);
	assert_memory_equal(now, good, SL_HASH_BYTES);
	assert_int_equal(history_seqs("A", SL_DEFAULT_LOCATION, hist_now), n_hist);
	assert_memory_equal(hist_now, hist, n_hist * sizeof(uint64_t));
	/* the secondary indexes were kept right across the spills: verify checks them */
	assert_int_equal(projector_verify(lg, NULL, NULL, &r), SL_OK);
	assert_int_equal(shadow_rows(STORE_CF_VIEWS), 0);
	assert_int_equal(shadow_rows(STORE_CF_ITEM_INDEX), 0);

	/* the unbounded fold does not spill, and a rebuild up to a seq still works */
	assert_int_equal(projector_rebuild(lg, NULL, NULL, &r), SL_OK);
	assert_int_equal(r.spills, 0);
	assert_memory_equal(r.checksum, good, SL_HASH_BYTES);
	assert_int_equal(projector_rebuild_bounded(lg, 11, 1, NULL, NULL, &r), SL_OK);
	assert_int_equal(r.events, 11);
	sl_item a = view_of("A", SL_DEFAULT_LOCATION);
	assert_int_equal(a.last_seq, 11);
	assert_int_equal(projector_rebuild(lg, NULL, NULL, &r), SL_OK);
	assert_memory_equal(r.checksum, good, SL_HASH_BYTES);
}

/* A rebuild-only process opens the ledger in bulk mode (an append-only memtable for the
 * shadow index family, which a fold that spills writes through, two flush threads): the same
 * views, history and indexes, with or without spills, and a directory that opens normally
 * afterwards. */
static void test_projector_rebuild_in_bulk_mode_gives_the_same_views_and_indexes(void **state)
{
	(void)state;
	unsigned char good[SL_HASH_BYTES], now[SL_HASH_BYTES];
	uint64_t n, n_now;
	checksum_of(good, &n);
	uint64_t hist[SCRIPT_EVENTS], hist_now[SCRIPT_EVENTS];
	size_t n_hist = history_seqs("A", SL_DEFAULT_LOCATION, hist);
	char err[512];
	ledger_close(lg);
	assert_int_equal(ledger_open_bulk(dir, &lg, err, sizeof(err)), SL_OK);

	projector_report r;
	assert_int_equal(projector_rebuild(lg, NULL, NULL, &r), SL_OK);
	assert_int_equal(r.events, SCRIPT_EVENTS);
	assert_memory_equal(r.checksum, good, SL_HASH_BYTES);
	assert_int_equal(history_seqs("A", SL_DEFAULT_LOCATION, hist_now), n_hist);
	assert_memory_equal(hist_now, hist, n_hist * sizeof(uint64_t));
	assert_int_equal(projector_verify(lg, NULL, NULL, &r), SL_OK);

	/* spilling reads views back from the shadow views, which keep their skip list */
	assert_int_equal(projector_rebuild_bounded(lg, 0, 1, NULL, NULL, &r), SL_OK);
	assert_int_equal(r.spills, SCRIPT_EVENTS);
	assert_memory_equal(r.checksum, good, SL_HASH_BYTES);
	assert_int_equal(projector_verify(lg, NULL, NULL, &r), SL_OK);
	assert_int_equal(shadow_rows(STORE_CF_ITEM_EVENTS), 0);
	assert_int_equal(shadow_rows(STORE_CF_ITEM_INDEX), 0);

	ledger_close(lg);
	assert_int_equal(ledger_open(dir, &lg, err, sizeof(err)), SL_OK);
	checksum_of(now, &n_now);
	assert_memory_equal(now, good, SL_HASH_BYTES);
	assert_int_equal(history_seqs("A", SL_DEFAULT_LOCATION, hist_now), n_hist);
	assert_memory_equal(hist_now, hist, n_hist * sizeof(uint64_t));
	assert_int_equal(projector_verify(lg, NULL, NULL, &r), SL_OK);
}

/* rebuild_with_fault_at runs a rebuild whose nth store write fails. If it failed, expects
 * the views, the history and the secondary indexes from before and no scratch rows, and
 * returns true; returns false when the rebuild made fewer than n writes (and succeeded). */
static bool rebuild_with_fault_at(int nth)
{
	unsigned char good[SL_HASH_BYTES], now[SL_HASH_BYTES];
	uint64_t n, n_now;
	checksum_of(good, &n);
	uint64_t hist[SCRIPT_EVENTS], hist_now[SCRIPT_EVENTS];
	size_t n_hist = history_seqs("B", SL_DEFAULT_LOCATION, hist);

	store_fault_set(ledger_store(lg), nth);
	projector_report r;
	sl_err rc = projector_rebuild(lg, NULL, NULL, &r);
	store_fault_set(ledger_store(lg), 0);
	if (rc == SL_OK) {
		assert_memory_equal(r.checksum, good, SL_HASH_BYTES);
		return false;
	}
	assert_int_equal(rc, SL_ERR_STORAGE);
	assert_non_null(strstr(r.message, "injected fault"));
	checksum_of(now, &n_now);
	assert_int_equal(n_now, n);
	assert_memory_equal(now, good, SL_HASH_BYTES);
	assert_int_equal(history_seqs("B", SL_DEFAULT_LOCATION, hist_now), n_hist);
	assert_memory_equal(hist_now, hist, n_hist * sizeof(uint64_t));
	assert_int_equal(shadow_rows(STORE_CF_VIEWS), 0);
	assert_int_equal(shadow_rows(STORE_CF_ITEM_EVENTS), 0);
	/* a failed commit leaves the ledger in its sticky state: reopen as after a restart */
	ledger_close(lg);
	char err[512];
	assert_int_equal(ledger_open(dir, &lg, err, sizeof(err)), SL_OK);
	assert_int_equal(projector_verify(lg, NULL, NULL, &r), SL_OK);
	assert_memory_equal(r.checksum, good, SL_HASH_BYTES);
	assert_int_equal(projector_rebuild(lg, NULL, NULL, &r), SL_OK);
	assert_memory_equal(r.checksum, good, SL_HASH_BYTES);
	return true;
}

/* Every write of a rebuild, in turn, fails: the ingestion of the history rows' table file,
 * the commit of the views, orders and holds into the shadows, the synced write of the live
 * generation (the switch). Each failure must leave the views as they were. */
static void test_projector_rebuild_that_fails_at_any_write_leaves_the_views(void **state)
{
	(void)state;
	int nth = 1;
	while (rebuild_with_fault_at(nth))
		nth++;
	assert_true(nth > 3); /* history file, views commit, switch: at least */
}

static void test_projector_rebuild_and_verify_take_an_empty_ledger(void **state)
{
	(void)state;
	ledger_close(lg);
	char err[512];
	assert_int_equal(sl_test_dir_remove(dir), 0);
	assert_int_equal(ledger_open(dir, &lg, err, sizeof(err)), SL_OK);
	unsigned char empty[SL_HASH_BYTES];
	uint64_t n;
	checksum_of(empty, &n);
	assert_int_equal(n, 0);
	projector_report r;
	assert_int_equal(projector_verify(lg, NULL, NULL, &r), SL_OK);
	assert_int_equal(r.events, 0);
	assert_int_equal(projector_rebuild(lg, NULL, NULL, &r), SL_OK);
	assert_int_equal(r.events, 0);
	assert_int_equal(r.views, 0);
	assert_memory_equal(r.checksum, empty, SL_HASH_BYTES);
}

#define T(name) cmocka_unit_test_setup_teardown(name, ledger_setup, ledger_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_projector_verify_passes_on_what_the_writer_wrote),
	    T(test_projector_rebuild_gives_the_checksum_from_before),
	    T(test_projector_verify_names_the_last_event_of_a_tampered_view),
	    T(test_projector_verify_names_a_missing_or_extra_view),
	    T(test_projector_verify_checks_the_history_index),
	    T(test_projector_verify_and_rebuild_name_a_flipped_event_byte),
	    T(test_projector_verify_and_rebuild_name_an_event_that_does_not_replay),
	    T(test_projector_verify_and_rebuild_name_an_event_that_does_not_decode),
	    T(test_projector_rebuild_names_the_first_error_not_one_read_ahead),
	    T(test_projector_rebuild_names_an_early_broken_chain),
	    T(test_projector_rebuild_that_spills_every_event_gives_the_same_views),
	    T(test_projector_rebuild_in_bulk_mode_gives_the_same_views_and_indexes),
	    T(test_projector_rebuild_that_fails_at_any_write_leaves_the_views),
	    T(test_projector_rebuild_and_verify_take_an_empty_ledger),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * service_test.c: the service core (queue, writer, group commit, reads) in-process, on a
 * real RocksDB directory.
 *
 * Method: commands are built as sl_command records and run through gw_service_execute;
 * results are decoded with the generated protobuf-c code, as a client would. The model test
 * (Redis-style) runs a random command stream from a logged seed (SL_SEED to replay) through
 * the service and through a small reference model below, comparing every outcome and every
 * item, then rebuilds the views from the log and expects byte-identical checksums. The
 * concurrency tests submit from many threads at once so that groups really form.
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
#include <unistd.h>

#include "base/banned.h"
#include "base/sl_util.h"
#include "gateway/service.h"
#include "projector/rebuild.h"
#include "stockledger.pb-c.h"

static char data_dir[256];

static int dir_setup(void **state)
{
	(void)state;
	snprintf(data_dir, sizeof(data_dir), "/tmp/sl-service-test-XXXXXX");
	assert_non_null(mkdtemp(data_dir));
	return 0;
}

static int dir_teardown(void **state)
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

static void key_set(sl_item_key *k, const char *product)
{
	memset(k, 0, sizeof(*k));
	sl_strlcpy(k->product_id, product, sizeof(k->product_id));
	sl_strlcpy(k->variant_id, SL_DEFAULT_VARIANT, sizeof(k->variant_id));
	sl_strlcpy(k->location_id, "default", sizeof(k->location_id));
}

/* run executes cmd and returns the decoded Result (free with sl__result__free_unpacked). */
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

static const char *code_of(const Sl__Result *r)
{
	return r->error != NULL ? r->error->code : "OK";
}

static void cmd_create(sl_command *c, const char *product, int64_t qty)
{
	memset(c, 0, sizeof(*c));
	c->type = SL_CMD_CREATE;
	key_set(&c->item, product);
	c->has_quantity = true;
	c->quantity = qty;
}

static void cmd_adjust(sl_command *c, sl_cmd_type type, const char *product, int64_t n)
{
	memset(c, 0, sizeof(*c));
	c->type = type;
	c->lines = calloc(1, sizeof(*c->lines));
	c->n_lines = 1;
	key_set(&c->lines[0].item, product);
	c->lines[0].quantity = n;
}

static int64_t get_quantity(gw_service *s, const char *product)
{
	sl_command c;
	memset(&c, 0, sizeof(c));
	c.type = SL_CMD_GET;
	key_set(&c.item, product);
	Sl__Result *r = run(s, &c);
	assert_string_equal(code_of(r), "OK");
	int64_t q = r->items[0]->state->quantity;
	sl__result__free_unpacked(r, NULL);
	return q;
}

static void test_service_replays_a_retried_key_and_refuses_a_reused_one(void **state)
{
	(void)state;
	gw_service *s = service_open();
	sl_command c;
	cmd_create(&c, "sku-1", 5);
	Sl__Result *r = run(s, &c);
	assert_string_equal(code_of(r), "OK");
	sl__result__free_unpacked(r, NULL);

	cmd_adjust(&c, SL_CMD_DECREMENT, "sku-1", 2);
	sl_strlcpy(c.key, "k-1", sizeof(c.key));
	memset(c.content_hash, 7, sizeof(c.content_hash));
	r = run(s, &c);
	assert_string_equal(code_of(r), "OK");
	uint64_t seq = r->seq;
	assert_false(r->replayed);
	sl__result__free_unpacked(r, NULL);

	cmd_adjust(&c, SL_CMD_DECREMENT, "sku-1", 2);
	sl_strlcpy(c.key, "k-1", sizeof(c.key));
	memset(c.content_hash, 7, sizeof(c.content_hash));
	r = run(s, &c);
	assert_string_equal(code_of(r), "OK");
	assert_true(r->replayed);
	assert_int_equal(r->seq, seq);
	assert_int_equal(r->items[0]->state->quantity, 3);
	sl__result__free_unpacked(r, NULL);
	assert_int_equal(ledger_head(gw_service_ledger(s), NULL), seq);

	cmd_adjust(&c, SL_CMD_DECREMENT, "sku-1", 1);
	sl_strlcpy(c.key, "k-1", sizeof(c.key));
	memset(c.content_hash, 8, sizeof(c.content_hash));
	r = run(s, &c);
	assert_string_equal(code_of(r), "IDEMPOTENCY_KEY_REUSED");
	sl__result__free_unpacked(r, NULL);
	assert_int_equal(get_quantity(s, "sku-1"), 3);
	gw_service_close(s);

	/* Keys survive a restart. */
	s = service_open();
	cmd_adjust(&c, SL_CMD_DECREMENT, "sku-1", 2);
	sl_strlcpy(c.key, "k-1", sizeof(c.key));
	memset(c.content_hash, 7, sizeof(c.content_hash));
	r = run(s, &c);
	assert_true(r->replayed);
	assert_int_equal(r->seq, seq);
	sl__result__free_unpacked(r, NULL);
	assert_int_equal(get_quantity(s, "sku-1"), 3);
	gw_service_close(s);
}

static void test_service_refuses_every_write_after_a_failed_commit(void **state)
{
	(void)state;
	gw_service *s = service_open();
	sl_command c;
	cmd_create(&c, "sku-f", 10);
	Sl__Result *r = run(s, &c);
	assert_string_equal(code_of(r), "OK");
	sl__result__free_unpacked(r, NULL);
	uint64_t head = ledger_head(gw_service_ledger(s), NULL);

	gw_service_fault_set(s, 1);
	cmd_adjust(&c, SL_CMD_INCREMENT, "sku-f", 1);
	r = run(s, &c);
	assert_string_equal(code_of(r), "STORAGE");
	sl__result__free_unpacked(r, NULL);
	/* Sticky: the next write is refused too, though the store would take it. */
	cmd_adjust(&c, SL_CMD_INCREMENT, "sku-f", 1);
	r = run(s, &c);
	assert_string_equal(code_of(r), "STORAGE");
	sl__result__free_unpacked(r, NULL);
	assert_int_equal(ledger_head(gw_service_ledger(s), NULL), head);
	/* Reads go on. */
	assert_int_equal(get_quantity(s, "sku-f"), 10);
	gw_service_close(s);

	s = service_open();
	assert_int_equal(get_quantity(s, "sku-f"), 10);
	cmd_adjust(&c, SL_CMD_INCREMENT, "sku-f", 1);
	r = run(s, &c);
	assert_string_equal(code_of(r), "OK");
	sl__result__free_unpacked(r, NULL);
	gw_service_close(s);
}

/* ---- concurrency: many threads race for the last units ---- */

#define RACE_THREADS 8
#define RACE_TRIES 50

typedef struct race {
	gw_service *s;
	int taken;
	int refused;
} race;

static void *race_main(void *arg)
{
	race *r = arg;
	for (int i = 0; i < RACE_TRIES; i++) {
		sl_command c;
		cmd_adjust(&c, SL_CMD_DECREMENT, "last-units", 1);
		c.is_restricted = true;
		sl_buf out;
		sl_buf_init(&out);
		assert_int_equal(gw_service_execute(r->s, &c, &out), SL_OK);
		Sl__Result *res = sl__result__unpack(NULL, out.len, out.data);
		assert_non_null(res);
		if (res->error == NULL)
			r->taken++;
		else if (strcmp(res->error->code, "INSUFFICIENT_INVENTORY") == 0)
			r->refused++;
		else
			fail_msg("unexpected %s", res->error->code);
		sl__result__free_unpacked(res, NULL);
		sl_buf_fini(&out);
	}
	return NULL;
}

static void test_service_never_oversells_under_concurrent_restricted_decrements(void **state)
{
	(void)state;
	gw_service *s = service_open();
	sl_command c;
	cmd_create(&c, "last-units", 37);
	Sl__Result *r = run(s, &c);
	sl__result__free_unpacked(r, NULL);
	pthread_t th[RACE_THREADS];
	race rs[RACE_THREADS];
	for (int i = 0; i < RACE_THREADS; i++) {
		rs[i] = (race){.s = s};
		pthread_create(&th[i], NULL, race_main, &rs[i]);
	}
	int taken = 0, refused = 0;
	for (int i = 0; i < RACE_THREADS; i++) {
		pthread_join(th[i], NULL);
		taken += rs[i].taken;
		refused += rs[i].refused;
	}
	assert_int_equal(taken, 37);
	assert_int_equal(refused, RACE_THREADS * RACE_TRIES - 37);
	assert_int_equal(get_quantity(s, "last-units"), 0);
	gw_stats st;
	gw_service_stats(s, &st);
	print_message("  %llu commands in %llu groups, largest %llu\n",
	              (unsigned long long)st.commands, (unsigned long long)st.groups,
	              (unsigned long long)st.group_commands_max);
	gw_service_close(s);
}

/* ---- the model test ---- */

#define MODEL_ITEMS 16
#define MODEL_COMMANDS 3000

typedef struct model_item {
	bool exists;
	bool tracked;
	int64_t qty;
	bool in_stock;
	bool preorder;
	bool has_limit;
	int64_t limit;
	int64_t counter;
	int64_t revision;
} model_item;

static model_item model[MODEL_ITEMS];

static uint64_t rng_state;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void product_name(int i, char *buf, size_t n)
{
	snprintf(buf, n, "p-%02d", i);
}

/* model_apply: the reference rules, written apart from ledger/rules.c. Returns the code. */
static const char *model_apply(const sl_command *c)
{
	int idx[SL_LINES_MAX];
	model_item next[MODEL_ITEMS];
	memcpy(next, model, sizeof(next));
	if (c->type == SL_CMD_CREATE || c->type == SL_CMD_UPDATE || c->type == SL_CMD_DELETE) {
		int i = c->item.product_id[3] - '0' + 10 * (c->item.product_id[2] - '0');
		model_item *m = &next[i];
		if (c->type == SL_CMD_CREATE) {
			if (c->has_in_stock && c->has_preorder_limit)
				return "INVALID_ARGUMENT";
			if (m->exists)
				return "ALREADY_EXISTS";
			/* a revision goes on across a delete and a re-create of the key */
			int64_t revision = m->revision + 1;
			*m = (model_item){.exists = true,
			                  .tracked = c->has_quantity,
			                  .qty = c->has_quantity ? c->quantity : 0,
			                  .in_stock = c->has_in_stock && c->in_stock,
			                  .preorder = c->preorder_enabled,
			                  .has_limit = c->has_preorder_limit,
			                  .limit = c->preorder_limit,
			                  .revision = revision};
		} else if (c->type == SL_CMD_UPDATE) {
			if (!m->exists)
				return "NOT_FOUND";
			if (c->revision != m->revision)
				return "REVISION_MISMATCH";
			if (c->has_quantity) {
				m->tracked = true;
				m->qty = c->quantity;
			}
			if (c->has_in_stock) {
				m->tracked = false;
				m->qty = 0;
				m->in_stock = c->in_stock;
				m->has_limit = false;
				m->limit = 0;
			}
			if (c->has_preorder_enabled)
				m->preorder = c->preorder_enabled;
			m->revision++;
		} else {
			if (!m->exists)
				return "NOT_FOUND";
			m->exists = false;
			m->revision++;
		}
		if (m->tracked)
			m->in_stock = m->qty > 0;
		memcpy(model, next, sizeof(next));
		return "OK";
	}
	bool short_any = false;
	for (size_t l = 0; l < c->n_lines; l++) {
		idx[l] = c->lines[l].item.product_id[3] - '0' +
		         10 * (c->lines[l].item.product_id[2] - '0');
		model_item *m = &next[idx[l]];
		int64_t n = c->lines[l].quantity;
		if (!m->exists)
			return "NOT_FOUND";
		if (!m->tracked)
			return "QUANTITY_NOT_TRACKED";
		if (c->type == SL_CMD_INCREMENT) {
			m->qty += n;
		} else {
			int64_t stock = m->qty > 0 ? m->qty : 0;
			int64_t take = n < stock ? n : stock;
			int64_t pre = 0;
			if (c->is_preorder_request && m->preorder) {
				int64_t left = m->has_limit ? m->limit - m->counter : n;
				if (left < 0)
					left = 0;
				pre = n - take < left ? n - take : left;
			}
			int64_t rest = n - take - pre;
			if (rest > 0 && c->is_restricted) {
				short_any = true;
				continue;
			}
			m->qty -= take + rest;
			m->counter += pre;
		}
		if (m->qty < SL_QUANTITY_MIN || m->qty > SL_QUANTITY_MAX)
			return "LIMIT_EXCEEDED";
		m->in_stock = m->qty > 0;
		m->revision++;
	}
	if (short_any)
		return "INSUFFICIENT_INVENTORY";
	memcpy(model, next, sizeof(next));
	return "OK";
}

static void random_command(sl_command *c)
{
	char name[16];
	memset(c, 0, sizeof(*c));
	int kind = (int)(rng() % 100);
	int i = (int)(rng() % MODEL_ITEMS);
	product_name(i, name, sizeof(name));
	if (kind < 10) {
		c->type = SL_CMD_CREATE;
		key_set(&c->item, name);
		if (rng() % 4 == 0) {
			c->has_in_stock = true;
			c->in_stock = rng() % 2;
		} else {
			c->has_quantity = true;
			c->quantity = (int64_t)(rng() % 20);
		}
		c->has_preorder_enabled = true;
		c->preorder_enabled = rng() % 3 == 0;
		if (rng() % 3 == 0) {
			c->has_preorder_limit = true;
			c->preorder_limit = (int64_t)(rng() % 6);
		}
	} else if (kind < 18) {
		c->type = SL_CMD_UPDATE;
		key_set(&c->item, name);
		c->has_revision = true;
		c->revision = model[i].revision - (rng() % 5 == 0 ? 1 : 0);
		if (rng() % 5 == 0) {
			c->has_in_stock = true;
			c->in_stock = rng() % 2;
		} else {
			c->has_quantity = true;
			c->quantity = (int64_t)(rng() % 30) - 5;
		}
		if (rng() % 2 == 0) {
			c->has_preorder_enabled = true;
			c->preorder_enabled = rng() % 2;
		}
	} else if (kind < 21) {
		c->type = SL_CMD_DELETE;
		key_set(&c->item, name);
	} else {
		c->type = kind < 50 ? SL_CMD_INCREMENT : SL_CMD_DECREMENT;
		c->n_lines = 1 + rng() % 4;
		c->lines = calloc(c->n_lines, sizeof(*c->lines));
		for (size_t l = 0; l < c->n_lines; l++) {
			product_name((int)(rng() % MODEL_ITEMS), name, sizeof(name));
			key_set(&c->lines[l].item, name);
			c->lines[l].quantity = 1 + (int64_t)(rng() % 6);
		}
		c->is_restricted = rng() % 2;
		c->is_preorder_request = rng() % 2;
	}
	if (rng() % 10 == 0)
		snprintf(c->reason, sizeof(c->reason), "reason-%d", (int)(rng() % 5));
}

static void check_against_model(gw_service *s)
{
	for (int i = 0; i < MODEL_ITEMS; i++) {
		char name[16];
		sl_command c;
		memset(&c, 0, sizeof(c));
		c.type = SL_CMD_GET;
		product_name(i, name, sizeof(name));
		key_set(&c.item, name);
		Sl__Result *r = run(s, &c);
		const model_item *m = &model[i];
		if (!m->exists) {
			assert_string_equal(code_of(r), "NOT_FOUND");
		} else {
			assert_string_equal(code_of(r), "OK");
			const Sl__ItemState *st = r->items[0]->state;
			assert_int_equal(st->track_quantity, m->tracked);
			assert_int_equal(st->quantity, m->qty);
			assert_int_equal(st->in_stock, m->in_stock);
			assert_int_equal(st->preorder_counter, m->counter);
			assert_int_equal(r->items[0]->revision, m->revision);
		}
		sl__result__free_unpacked(r, NULL);
	}
}

static void test_service_agrees_with_the_model_and_rebuilds_byte_identical_views(void **state)
{
	(void)state;
	const char *seed_env = getenv("SL_SEED");
	uint64_t seed = seed_env != NULL ? strtoull(seed_env, NULL, 10) : (uint64_t)time(NULL);
	print_message("  model test seed %llu (replay with SL_SEED=%llu)\n",
	              (unsigned long long)seed, (unsigned long long)seed);
	rng_state = seed * 2654435761u + 1;
	memset(model, 0, sizeof(model));
	gw_service *s = service_open();
	for (int n = 0; n < MODEL_COMMANDS; n++) {
		sl_command c;
		random_command(&c);
		const char *want = model_apply(&c);
		uint64_t head = ledger_head(gw_service_ledger(s), NULL);
		int type = c.type;
		Sl__Result *r = run(s, &c);
		if (strcmp(code_of(r), want) != 0)
			fail_msg("command %d (type %d): service says %s, model says %s (%s)", n,
			         type, code_of(r), want, r->error != NULL ? r->error->message : "");
		if (r->error != NULL)
			assert_int_equal(ledger_head(gw_service_ledger(s), NULL), head);
		sl__result__free_unpacked(r, NULL);
		sl_command_fini(&c);
		if (n % 500 == 0)
			check_against_model(s);
	}
	check_against_model(s);
	gw_service_close(s);

	ledger *l;
	char err[512];
	assert_int_equal(ledger_open(data_dir, &l, err, sizeof(err)), SL_OK);
	unsigned char before[SL_HASH_BYTES];
	uint64_t n_before;
	assert_int_equal(ledger_views_checksum(l, before, &n_before), SL_OK);
	projector_report rep;
	assert_int_equal(projector_verify(l, NULL, NULL, &rep), SL_OK);
	assert_int_equal(projector_rebuild(l, NULL, NULL, &rep), SL_OK);
	assert_memory_equal(rep.checksum, before, SL_HASH_BYTES);
	assert_int_equal(rep.views, n_before);
	ledger_close(l);

	s = service_open();
	check_against_model(s);
	gw_service_close(s);
}

/* ---- a holds list answers with the head it was read at ---- */

#define HOLD_ORDERS 600

static void *placer_main(void *arg)
{
	gw_service *s = arg;
	for (int i = 0; i < HOLD_ORDERS; i++) {
		sl_command c;
		memset(&c, 0, sizeof(c));
		c.type = SL_CMD_ORDER_PLACE;
		snprintf(c.order_id, sizeof(c.order_id), "o-%d", i);
		c.lines = calloc(1, sizeof(*c.lines));
		c.n_lines = 1;
		key_set(&c.lines[0].item, "held");
		c.lines[0].quantity = 1;
		Sl__Result *r = run(s, &c);
		assert_string_equal(code_of(r), "OK");
		sl__result__free_unpacked(r, NULL);
	}
	return NULL;
}

/* Result.seq of a holds list is the head: the list must be the holds as of that seq, not
 * an earlier state labelled with a later head (a client that lists the holds and then follows
 * the change feed from seq + 1 would miss what was committed in between). Each placement of
 * one unit is two events (ORDER_PLACED, ITEM_DECREMENTED) and one more hold. */
static void test_service_lists_holds_as_of_the_seq_it_answers_with(void **state)
{
	(void)state;
	gw_service *s = service_open();
	sl_command c;
	cmd_create(&c, "held", 1000000);
	Sl__Result *r = run(s, &c);
	assert_string_equal(code_of(r), "OK");
	sl__result__free_unpacked(r, NULL);
	uint64_t base = ledger_head(gw_service_ledger(s), NULL);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, placer_main, s), 0);
	int reads = 0, stale = 0;
	while (ledger_head(gw_service_ledger(s), NULL) < base + 2 * HOLD_ORDERS) {
		memset(&c, 0, sizeof(c));
		c.type = SL_CMD_ORDER_HOLDS;
		key_set(&c.item, "held");
		r = run(s, &c);
		assert_string_equal(code_of(r), "OK");
		reads++;
		if (base + 2 * r->n_holds != r->seq) {
			if (stale++ == 0)
				print_message(
				    "  %zu holds answered with seq %llu (%llu expected)\n",
				    r->n_holds, (unsigned long long)r->seq,
				    (unsigned long long)(base + 2 * r->n_holds));
		}
		sl__result__free_unpacked(r, NULL);
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	print_message("  %d holds lists read during placements, %d of them stale\n", reads, stale);
	assert_int_equal(stale, 0);
	gw_service_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_service_replays_a_retried_key_and_refuses_a_reused_one, dir_setup,
	        dir_teardown),
	    cmocka_unit_test_setup_teardown(test_service_refuses_every_write_after_a_failed_commit,
	                                    dir_setup, dir_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_service_never_oversells_under_concurrent_restricted_decrements, dir_setup,
	        dir_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_service_agrees_with_the_model_and_rebuilds_byte_identical_views, dir_setup,
	        dir_teardown),
	    cmocka_unit_test_setup_teardown(test_service_lists_holds_as_of_the_seq_it_answers_with,
	                                    dir_setup, dir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

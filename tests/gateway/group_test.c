/*
 * group_test.c: group commit in the service core (gateway/service.c): groups grow with load
 * and shrink to one command when idle, and a reply (now sent by the reply thread) only
 * leaves after its group is committed, so whoever got it reads its effect.
 *
 * Method: a real service on a RocksDB directory in /tmp, driven in-process with
 * gw_service_execute from one thread (a lone command) and from many threads at once (so
 * that groups form); the writer's counters (gw_service_stats) show the group sizes. Each
 * thread reads its own item right after each reply and must see its own write.
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

#include "base/banned.h"
#include "base/sl_util.h"
#include "gateway/service.h"
#include "stockledger.pb-c.h"
#include "support/sl_testing.h"

#define THREADS 16
#define PER_THREAD 20

static char data_dir[256];

static int dir_setup(void **state)
{
	(void)state;
	return sl_test_dir_make(data_dir, sizeof(data_dir), "group-test");
}

static int dir_teardown(void **state)
{
	(void)state;
	return sl_test_dir_remove(data_dir);
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

/* run executes cmd and returns its quantity after (or -1 on a refusal). */
static int64_t run(gw_service *s, sl_command *cmd)
{
	sl_buf out;
	sl_buf_init(&out);
	if (gw_service_execute(s, cmd, &out) != SL_OK)
		return -2;
	Sl__Result *r = sl__result__unpack(NULL, out.len, out.data);
	sl_buf_fini(&out);
	if (r == NULL)
		return -3;
	int64_t q = r->error == NULL && r->n_items == 1 ? r->items[0]->state->quantity : -1;
	sl__result__free_unpacked(r, NULL);
	return q;
}

static int64_t create(gw_service *s, const char *product)
{
	sl_command c;
	memset(&c, 0, sizeof(c));
	c.type = SL_CMD_CREATE;
	sl_test_key_set(&c.item, product, "default");
	c.has_quantity = true;
	c.quantity = 0;
	return run(s, &c);
}

static int64_t increment(gw_service *s, const char *product)
{
	sl_command c;
	memset(&c, 0, sizeof(c));
	c.type = SL_CMD_INCREMENT;
	c.lines = calloc(1, sizeof(*c.lines));
	if (c.lines == NULL)
		return -4;
	c.n_lines = 1;
	sl_test_key_set(&c.lines[0].item, product, "default");
	c.lines[0].quantity = 1;
	return run(s, &c);
}

static int64_t get(gw_service *s, const char *product)
{
	sl_command c;
	memset(&c, 0, sizeof(c));
	c.type = SL_CMD_GET;
	sl_test_key_set(&c.item, product, "default");
	return run(s, &c);
}

static void test_group_a_lone_command_is_committed_alone(void **state)
{
	(void)state;
	gw_service *s = service_open();
	assert_int_equal(create(s, "solo"), 0);
	assert_int_equal(increment(s, "solo"), 1);
	gw_stats st;
	gw_service_stats(s, &st);
	/* Nothing else was queued: each command went in a group of its own, at once. */
	assert_int_equal(st.commands, 2);
	assert_int_equal(st.groups, 2);
	assert_int_equal(st.group_commands_max, 1);
	gw_service_close(s);
}

typedef struct worker {
	gw_service *s;
	char product[16];
	int bad; /* replies whose effect a read right after did not show */
} worker;

static void *worker_main(void *arg)
{
	worker *w = arg;
	for (int i = 1; i <= PER_THREAD; i++) {
		if (increment(w->s, w->product) != i || get(w->s, w->product) != i)
			w->bad++;
	}
	return NULL;
}

static void test_group_grows_with_load_and_replies_after_the_commit(void **state)
{
	(void)state;
	gw_service *s = service_open();
	worker ws[THREADS];
	pthread_t tids[THREADS];
	for (int i = 0; i < THREADS; i++) {
		ws[i] = (worker){.s = s};
		snprintf(ws[i].product, sizeof(ws[i].product), "item-%d", i);
		assert_int_equal(create(s, ws[i].product), 0);
	}
	gw_stats before, after;
	gw_service_stats(s, &before);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&tids[i], NULL, worker_main, &ws[i]), 0);
	for (int i = 0; i < THREADS; i++) {
		pthread_join(tids[i], NULL);
		assert_int_equal(ws[i].bad, 0);
		assert_int_equal(get(s, ws[i].product), PER_THREAD);
	}
	gw_service_stats(s, &after);
	uint64_t commands = after.commands - before.commands;
	uint64_t groups = after.groups - before.groups;
	assert_int_equal(commands, THREADS * PER_THREAD);
	/* 16 writers waiting on WAL syncs: some groups held several commands. */
	assert_true(after.group_commands_max > 1);
	assert_true(groups < commands);
	gw_service_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_group_a_lone_command_is_committed_alone, dir_setup,
	                                    dir_teardown),
	    cmocka_unit_test_setup_teardown(test_group_grows_with_load_and_replies_after_the_commit,
	                                    dir_setup, dir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

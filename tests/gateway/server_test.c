/*
 * server_test.c: the nng transport of the service (gateway/server.c) against what a hostile
 * or broken client may send, on a real socket.
 *
 * Method: a real gw_service on a RocksDB directory in a temporary folder, and a real
 * gw_server listening on a tcp:// port of the loopback. Clients are plain nng REQ sockets
 * that send raw bytes (not the client library, which only ever sends well-formed requests):
 * garbage, an empty request, an envelope with an empty or unknown command, a request over
 * SL_REQUEST_BYTES_MAX and one over the transport's hard cap, too many lines and commands,
 * an update without a revision (which stockctl cannot send). Every reply is decoded with the
 * generated protobuf-c code, and after each one the server must still answer a head
 * request. The concurrency test runs more client threads than the server has contexts,
 * each on its own connection, and checks that every increment was applied exactly once.
 *
 * Not here: the write path's semantics (group commit, the sticky STORAGE state, idempotency,
 * the model test) are service_test.c's. Only that a STORAGE refusal crosses the wire intact
 * is checked here. BUSY needs 8192 queued commands while the writer is held, which no seam
 * can do deterministically (the fault seam fails commits, it does not stall them).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/banned.h"
#include "base/sl_util.h"
#include "gateway/server.h"
#include "gateway/service.h"
#include "ledger/ledger.h"
#include "ledger/store.h"
#include "support/sl_testing.h"
#include "stockledger.pb-c.h"

typedef struct fixture {
	char dir[256];
	char url[300];
	gw_service *svc;
	gw_server *srv;
} fixture;

static int server_setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/sl-server-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	char data[300];
	snprintf(data, sizeof(data), "%s/data", f->dir);
	gw_config cfg = {.data_dir = data, .default_location = "main"};
	char err[512];
	if (gw_service_open(&cfg, &f->svc, err, sizeof(err)) != SL_OK)
		fail_msg("cannot open service: %s", err);
	/* TCP on a free port, the daemon's default transport: a dropped connection (the
	 * transport cap's test) can stop nng 1.5.2's ipc listener for good (README, "Known
	 * limitations"), and every server close after it */
	if (gw_server_start(f->svc, "tcp://127.0.0.1:0", "main", &f->srv, err, sizeof(err)) !=
	    SL_OK)
		fail_msg("cannot start server: %s", err);
	if (gw_server_url(f->srv, f->url, sizeof(f->url)) != SL_OK)
		fail_msg("the server's URL does not fit");
	*state = f;
	return 0;
}

static int server_teardown(void **state)
{
	fixture *f = *state;
	gw_server_stop(f->srv);
	gw_service_close(f->svc);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	int rc = system(cmd);
	free(f);
	return rc == 0 ? 0 : -1;
}

/* client_open dials the fixture's server with a REQ socket that gives up after timeout_ms. */
static nng_socket client_open(const fixture *f, int timeout_ms)
{
	nng_socket s;
	assert_int_equal(nng_req0_open(&s), 0);
	assert_int_equal(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, timeout_ms), 0);
	assert_int_equal(nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE), 0);
	assert_int_equal(nng_dial(s, f->url, NULL, 0), 0);
	return s;
}

/* exchange sends len raw bytes and returns the decoded reply, or NULL if none came (nng's
 * error in *rv). */
static Sl__Response *exchange(nng_socket s, const void *data, size_t len, int *rv)
{
	nng_msg *msg;
	assert_int_equal(nng_msg_alloc(&msg, len), 0);
	if (len > 0)
		memcpy(nng_msg_body(msg), data, len);
	assert_int_equal(nng_sendmsg(s, msg, 0), 0);
	*rv = nng_recvmsg(s, &msg, 0);
	if (*rv != 0)
		return NULL;
	Sl__Response *r = sl__response__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
	nng_msg_free(msg);
	assert_non_null(r);
	return r;
}

/* call_raw: exchange that must get a reply. */
static Sl__Response *call_raw(nng_socket s, const void *data, size_t len)
{
	int rv;
	Sl__Response *r = exchange(s, data, len, &rv);
	if (r == NULL)
		fail_msg("no reply: %s", nng_strerror(rv));
	return r;
}

/* call packs req and exchanges it. */
static Sl__Response *call(nng_socket s, const Sl__Request *req)
{
	size_t n = sl__request__get_packed_size(req);
	uint8_t *buf = malloc(n > 0 ? n : 1);
	assert_non_null(buf);
	sl__request__pack(req, buf);
	Sl__Response *r = call_raw(s, buf, n);
	free(buf);
	return r;
}

/* call_one sends one command and returns the response, which holds exactly one result. */
static Sl__Response *call_one(nng_socket s, Sl__Command *cmd)
{
	Sl__Request req = SL__REQUEST__INIT;
	Sl__Command *cmds[1] = {cmd};
	req.n_commands = 1;
	req.commands = cmds;
	Sl__Response *r = call(s, &req);
	assert_null(r->error);
	assert_int_equal(r->n_results, 1);
	return r;
}

static const char *result_code(const Sl__Result *r)
{
	return r->error != NULL ? r->error->code : "OK";
}

/* head_seq asks for the head on s and returns its seq: the server still serves. */
static uint64_t head_seq(nng_socket s)
{
	Sl__GetHead body = SL__GET_HEAD__INIT;
	Sl__Command cmd = SL__COMMAND__INIT;
	cmd.body_case = SL__COMMAND__BODY_HEAD;
	cmd.head = &body;
	Sl__Response *r = call_one(s, &cmd);
	assert_string_equal(result_code(r->results[0]), "OK");
	assert_true(r->results[0]->has_head_hash);
	uint64_t seq = r->results[0]->seq;
	sl__response__free_unpacked(r, NULL);
	return seq;
}

/* adjust_cmd fills cmd (with its body, line and key storage) as an increment or decrement of
 * n lines of qty on product. */
typedef struct adjust_cmd {
	Sl__Command cmd;
	Sl__Increment inc;
	Sl__Decrement dec;
	Sl__Line *line_ptrs[SL_LINES_MAX + 1];
	Sl__Line lines[SL_LINES_MAX + 1];
	Sl__ItemKey key;
} adjust_cmd;

static void adjust_cmd_init(adjust_cmd *a, bool is_decrement, const char *product, size_t n,
                            int64_t qty)
{
	assert_true(n <= SL_LINES_MAX + 1);
	sl__command__init(&a->cmd);
	sl__increment__init(&a->inc);
	sl__decrement__init(&a->dec);
	sl__item_key__init(&a->key);
	a->key.product_id = (char *)product;
	for (size_t i = 0; i < n; i++) {
		sl__line__init(&a->lines[i]);
		a->lines[i].item = &a->key;
		a->lines[i].has_quantity = true;
		a->lines[i].quantity = qty;
		a->line_ptrs[i] = &a->lines[i];
	}
	if (is_decrement) {
		a->dec.n_lines = n;
		a->dec.lines = a->line_ptrs;
		a->cmd.body_case = SL__COMMAND__BODY_DECREMENT;
		a->cmd.decrement = &a->dec;
	} else {
		a->inc.n_lines = n;
		a->inc.lines = a->line_ptrs;
		a->cmd.body_case = SL__COMMAND__BODY_INCREMENT;
		a->cmd.increment = &a->inc;
	}
}

static void create_item(nng_socket s, const char *product, int64_t qty)
{
	Sl__ItemKey key = SL__ITEM_KEY__INIT;
	Sl__CreateItem body = SL__CREATE_ITEM__INIT;
	Sl__Command cmd = SL__COMMAND__INIT;
	key.product_id = (char *)product;
	body.item = &key;
	body.has_quantity = true;
	body.quantity = qty;
	cmd.body_case = SL__COMMAND__BODY_CREATE;
	cmd.create = &body;
	Sl__Response *r = call_one(s, &cmd);
	assert_string_equal(result_code(r->results[0]), "OK");
	sl__response__free_unpacked(r, NULL);
}

static int64_t item_quantity(nng_socket s, const char *product)
{
	Sl__ItemKey key = SL__ITEM_KEY__INIT;
	Sl__GetItem body = SL__GET_ITEM__INIT;
	Sl__Command cmd = SL__COMMAND__INIT;
	key.product_id = (char *)product;
	body.item = &key;
	cmd.body_case = SL__COMMAND__BODY_GET;
	cmd.get = &body;
	Sl__Response *r = call_one(s, &cmd);
	assert_string_equal(result_code(r->results[0]), "OK");
	assert_int_equal(r->results[0]->n_items, 1);
	int64_t q = r->results[0]->items[0]->state->quantity;
	sl__response__free_unpacked(r, NULL);
	return q;
}

/* expect_envelope_error: the reply to these bytes is an envelope error with code. */
static void expect_envelope_error(nng_socket s, const void *data, size_t len, const char *code)
{
	Sl__Response *r = call_raw(s, data, len);
	assert_non_null(r->error);
	assert_string_equal(r->error->code, code);
	assert_non_null(r->error->message);
	assert_true(strlen(r->error->message) > 0);
	assert_int_equal(r->n_results, 0);
	sl__response__free_unpacked(r, NULL);
}

static void test_server_answers_garbage_with_malformed_and_keeps_serving(void **state)
{
	fixture *f = *state;
	nng_socket s = client_open(f, 10000);
	/* field 1, length-delimited, claims 127 bytes and holds 1 */
	static const uint8_t truncated[] = {0x0a, 0x7f, 0x01};
	/* an unterminated varint tag */
	static const uint8_t bad_varint[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	                                     0xff, 0xff, 0xff, 0xff, 0xff};
	/* field 1 holds a Command whose field 1 (key) is a string that is not a string: it
	 * has wire type 0 */
	static const uint8_t wrong_type[] = {0x0a, 0x02, 0x0d, 0x01};
	static const char text[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
	expect_envelope_error(s, truncated, sizeof(truncated), "MALFORMED");
	assert_int_equal(head_seq(s), 0);
	expect_envelope_error(s, bad_varint, sizeof(bad_varint), "MALFORMED");
	assert_int_equal(head_seq(s), 0);
	expect_envelope_error(s, wrong_type, sizeof(wrong_type), "MALFORMED");
	assert_int_equal(head_seq(s), 0);
	expect_envelope_error(s, text, sizeof(text) - 1, "MALFORMED");
	assert_int_equal(head_seq(s), 0);
	/* Random bytes from a fixed seed: whatever they decode to, a reply comes and nothing
	 * is written (they hold no valid write command). */
	srand(20261205);
	for (int i = 0; i < 50; i++) {
		uint8_t buf[64];
		size_t n = (size_t)(rand() % (int)sizeof(buf)) + 1;
		for (size_t k = 0; k < n; k++)
			buf[k] = (uint8_t)rand();
		Sl__Response *r = call_raw(s, buf, n);
		sl__response__free_unpacked(r, NULL);
	}
	assert_int_equal(head_seq(s), 0);
	nng_close(s);
}

static void test_server_answers_an_empty_request_with_invalid_argument(void **state)
{
	fixture *f = *state;
	nng_socket s = client_open(f, 10000);
	expect_envelope_error(s, "", 0, "INVALID_ARGUMENT");
	Sl__Request req = SL__REQUEST__INIT;
	Sl__Response *r = call(s, &req);
	assert_non_null(r->error);
	assert_string_equal(r->error->code, "INVALID_ARGUMENT");
	sl__response__free_unpacked(r, NULL);
	assert_int_equal(head_seq(s), 0);
	nng_close(s);
}

static void test_server_answers_an_empty_or_unknown_command_with_unknown_command(void **state)
{
	fixture *f = *state;
	nng_socket s = client_open(f, 10000);
	/* A Command with no body at all. */
	Sl__Command empty = SL__COMMAND__INIT;
	Sl__Response *r = call_one(s, &empty);
	assert_string_equal(result_code(r->results[0]), "UNKNOWN_COMMAND");
	sl__response__free_unpacked(r, NULL);
	/* A Command whose body is field 60, which this service does not know (a newer client's
	 * command; 20-59 are taken by the orders, audit and bench commands):
	 * Request{commands: [Command{60: 1}]}. */
	static const uint8_t unknown[] = {0x0a, 0x03, 0xe0, 0x03, 0x01};
	r = call_raw(s, unknown, sizeof(unknown));
	assert_null(r->error);
	assert_int_equal(r->n_results, 1);
	assert_string_equal(result_code(r->results[0]), "UNKNOWN_COMMAND");
	sl__response__free_unpacked(r, NULL);
	/* Mixed with good commands, only the unknown one is refused, in its place. */
	create_item(s, "mixed", 1);
	Sl__GetHead head_body = SL__GET_HEAD__INIT;
	Sl__Command head = SL__COMMAND__INIT;
	head.body_case = SL__COMMAND__BODY_HEAD;
	head.head = &head_body;
	adjust_cmd *inc = calloc(1, sizeof(*inc));
	assert_non_null(inc);
	adjust_cmd_init(inc, false, "mixed", 1, 2);
	Sl__Command *cmds[3] = {&head, &empty, &inc->cmd};
	Sl__Request req = SL__REQUEST__INIT;
	req.n_commands = 3;
	req.commands = cmds;
	r = call(s, &req);
	assert_null(r->error);
	assert_int_equal(r->n_results, 3);
	assert_string_equal(result_code(r->results[0]), "OK");
	assert_string_equal(result_code(r->results[1]), "UNKNOWN_COMMAND");
	assert_string_equal(result_code(r->results[2]), "OK");
	assert_int_equal(r->results[2]->seq, 2);
	sl__response__free_unpacked(r, NULL);
	free(inc);
	assert_int_equal(item_quantity(s, "mixed"), 3);
	assert_int_equal(head_seq(s), 2);
	nng_close(s);
}

static void test_server_answers_an_oversized_request_with_limit_exceeded(void **state)
{
	fixture *f = *state;
	nng_socket s = client_open(f, 10000);
	size_t n = SL_REQUEST_BYTES_MAX + 1;
	uint8_t *big = calloc(1, n);
	assert_non_null(big);
	expect_envelope_error(s, big, n, "LIMIT_EXCEEDED");
	assert_int_equal(head_seq(s), 0);
	/* Exactly at the limit, the size is fine: these zero bytes are no Request. */
	expect_envelope_error(s, big, SL_REQUEST_BYTES_MAX, "MALFORMED");
	free(big);
	assert_int_equal(head_seq(s), 0);
	nng_close(s);
}

/* run_helper runs helper name (beside this test) with one argument and returns its exit
 * status; one that has not exited within 30 s is killed and fails the test. */
static int run_helper(const char *name, const char *arg)
{
	char path[4200];
	assert_int_equal(sl_test_helper_path(name, path, sizeof(path)), 0);
	char *argv[] = {path, (char *)arg, NULL};
	pid_t pid = sl_test_spawn(argv, NULL);
	assert_true(pid > 0);
	int status = sl_test_wait_exit(pid, 30000);
	if (status < 0)
		fail_msg("%s did not exit within 30 s", name);
	return status;
}

static void test_server_drops_a_request_over_the_transport_cap_and_keeps_serving(void **state)
{
	fixture *f = *state;
	/* Over SL_TRANSPORT_BYTES_MAX the transport drops the message (and the connection)
	 * before the service sees it: no reply, by design; the server goes on serving. The
	 * client is a process of its own (sl-oversize), because nng 1.5.2 may block for ever
	 * closing a client socket whose connection was dropped that way, and then every close
	 * of the process after it (tests/gateway/oversize.c): seen here as this test failing
	 * to see the client reconnect, then the next test hanging in nng_close. */
	assert_int_equal(run_helper("sl-oversize", f->url), 0);
	assert_int_equal(run_helper("sl-oversize", f->url), 0);
	nng_socket s = client_open(f, 10000);
	assert_int_equal(head_seq(s), 0);
	nng_close(s);
}

/* A string that is not whole text (a NUL inside an id, bytes that are not UTF-8) is refused
 * INVALID_ARGUMENT for its command alone: nothing of it reaches the log, where it would be
 * cut short ("adv-a\0x" read as "adv-a") or unprintable as JSON, and its neighbour is
 * applied. */
static void test_server_refuses_strings_that_are_not_text(void **state)
{
	fixture *f = *state;
	nng_socket s = client_open(f, 5000);
	create_item(s, "adv-a", 1);
	uint64_t head = head_seq(s);
	static adjust_cmd bad, good;
	adjust_cmd_init(&bad, false, "adv-aXx", 1, 5);
	adjust_cmd_init(&good, false, "adv-a", 1, 2);
	good.cmd.reason = (char *)"ok";
	Sl__Command *cmds[2] = {&bad.cmd, &good.cmd};
	Sl__Request req = SL__REQUEST__INIT;
	req.n_commands = 2;
	req.commands = cmds;
	uint8_t buf[512];
	size_t len = sl__request__get_packed_size(&req);
	assert_true(len <= sizeof(buf));
	sl__request__pack(&req, buf);
	uint8_t *x = sl_test_bytes_find(buf, len, "adv-aXx");
	assert_non_null(x);
	x[5] = '\0';
	Sl__Response *r = call_raw(s, buf, len);
	assert_int_equal(r->n_results, 2);
	assert_string_equal(result_code(r->results[0]), "INVALID_ARGUMENT");
	assert_non_null(strstr(r->results[0]->error->message, "productId"));
	assert_string_equal(result_code(r->results[1]), "OK");
	sl__response__free_unpacked(r, NULL);
	assert_int_equal(head_seq(s), head + 1);
	assert_int_equal(item_quantity(s, "adv-a"), 3);
	/* a reason of stray bytes */
	good.cmd.reason = (char *)"bad Z";
	Sl__Command *one[1] = {&good.cmd};
	req.n_commands = 1;
	req.commands = one;
	len = sl__request__get_packed_size(&req);
	sl__request__pack(&req, buf);
	x = sl_test_bytes_find(buf, len, "bad Z");
	assert_non_null(x);
	x[4] = 0xff;
	r = call_raw(s, buf, len);
	assert_string_equal(result_code(r->results[0]), "INVALID_ARGUMENT");
	assert_non_null(strstr(r->results[0]->error->message, "reason"));
	sl__response__free_unpacked(r, NULL);
	assert_int_equal(head_seq(s), head + 1);
	nng_close(s);
}

/* A refusal's message is text too (stockctl --json prints it as a JSON string): a read of an
 * item whose id is not text, or with a cursor of several-byte characters, is refused
 * INVALID_ARGUMENT with a message that quotes nothing cut or undecodable. */
static void test_server_refuses_reads_of_strings_that_are_not_text_in_text(void **state)
{
	fixture *f = *state;
	nng_socket s = client_open(f, 5000);
	Sl__ItemKey key = SL__ITEM_KEY__INIT;
	key.product_id = "pZ";
	Sl__GetItem get = SL__GET_ITEM__INIT;
	Sl__History hist = SL__HISTORY__INIT;
	Sl__Explain ex = SL__EXPLAIN__INIT;
	get.item = hist.item = ex.item = &key;
	Sl__Command cmds[4];
	Sl__Command *ptrs[4];
	for (size_t i = 0; i < 4; i++) {
		sl__command__init(&cmds[i]);
		ptrs[i] = &cmds[i];
	}
	cmds[0].body_case = SL__COMMAND__BODY_GET;
	cmds[0].get = &get;
	cmds[1].body_case = SL__COMMAND__BODY_HISTORY;
	cmds[1].history = &hist;
	cmds[2].body_case = SL__COMMAND__BODY_EXPLAIN;
	cmds[2].explain = &ex;
	/* 'a' and 30 two-byte characters: the first 40 bytes end inside one */
	char cursor[64] = "a";
	for (size_t i = 0; i < 30; i++)
		memcpy(cursor + 1 + 2 * i, "\xc3\xa9", 3);
	Sl__Query q = SL__QUERY__INIT;
	q.cursor = cursor;
	cmds[3].body_case = SL__COMMAND__BODY_QUERY;
	cmds[3].query = &q;
	Sl__Request req = SL__REQUEST__INIT;
	req.n_commands = 4;
	req.commands = ptrs;
	uint8_t buf[512];
	size_t len = sl__request__get_packed_size(&req);
	assert_true(len <= sizeof(buf));
	sl__request__pack(&req, buf);
	for (uint8_t *x = buf; (x = sl_test_bytes_find(x, len - (size_t)(x - buf), "pZ")) != NULL;)
		x[1] = 0xff;
	Sl__Response *r = call_raw(s, buf, len);
	assert_int_equal(r->n_results, 4);
	for (size_t i = 0; i < 4; i++) {
		const Sl__Error *e = r->results[i]->error;
		assert_non_null(e);
		assert_string_equal(e->code, "INVALID_ARGUMENT");
		if (!sl_text_is_valid((const uint8_t *)e->message, strlen(e->message)))
			fail_msg("command %zu: a message that is not UTF-8: %s", i + 1, e->message);
	}
	sl__response__free_unpacked(r, NULL);
	assert_int_equal(head_seq(s), 0);
	nng_close(s);
}

/* Reads run on the transport's threads, so one request's reads are bounded (four full pages,
 * SL_REQUEST_READ_ROWS_MAX): the commands past the bound are refused BUSY (to be sent again)
 * and the ones before it answered; a reply that would still pass the transport's size (long
 * preorder messages in every event's before and after) is an envelope LIMIT_EXCEEDED, not
 * a reply the client cannot take. The server serves on. */
/* A key one byte over its bound is refused, not taken for the key it would be cut to: a
 * command with 128 'k's, then another with 129, must not come back as the first one's
 * replay. */
static void test_server_refuses_an_overlong_key_before_looking_it_up(void **state)
{
	fixture *f = *state;
	nng_socket s = client_open(f, 5000);
	create_item(s, "kk", 0);
	static char key[SL_KEY_MAX + 2];
	memset(key, 'k', SL_KEY_MAX);
	static adjust_cmd inc;
	adjust_cmd_init(&inc, false, "kk", 1, 1);
	inc.cmd.key = key;
	Sl__Response *r = call_one(s, &inc.cmd);
	assert_string_equal(result_code(r->results[0]), "OK");
	sl__response__free_unpacked(r, NULL);
	key[SL_KEY_MAX] = 'k';
	adjust_cmd_init(&inc, false, "kk", 1, 2);
	inc.cmd.key = key;
	r = call_one(s, &inc.cmd);
	assert_string_equal(result_code(r->results[0]), "INVALID_ARGUMENT");
	assert_false(r->results[0]->has_replayed && r->results[0]->replayed);
	assert_non_null(strstr(r->results[0]->error->message, "key"));
	sl__response__free_unpacked(r, NULL);
	assert_int_equal(item_quantity(s, "kk"), 1);
	nng_close(s);
}

static void test_server_bounds_the_reads_and_the_reply_of_a_request(void **state)
{
	fixture *f = *state;
	nng_socket s = client_open(f, 60000);
	static char message[SL_PREORDER_MESSAGE_MAX + 1];
	memset(message, 'm', SL_PREORDER_MESSAGE_MAX);
	Sl__ItemKey key = SL__ITEM_KEY__INIT;
	key.product_id = (char *)"big";
	Sl__CreateItem create = SL__CREATE_ITEM__INIT;
	create.item = &key;
	create.has_quantity = true;
	create.quantity = 0;
	create.preorder_message = message;
	Sl__Command cmd = SL__COMMAND__INIT;
	cmd.body_case = SL__COMMAND__BODY_CREATE;
	cmd.create = &create;
	Sl__Response *r = call_one(s, &cmd);
	assert_string_equal(result_code(r->results[0]), "OK");
	sl__response__free_unpacked(r, NULL);
	static adjust_cmd inc;
	for (int k = 0; k < 14; k++) { /* 14 x 300 = 4200 events of big */
		adjust_cmd_init(&inc, false, "big", SL_LINES_MAX, 1);
		r = call_one(s, &inc.cmd);
		assert_string_equal(result_code(r->results[0]), "OK");
		sl__response__free_unpacked(r, NULL);
	}
	enum { N = 6 };
	Sl__History hist[N];
	Sl__Command hc[N];
	Sl__Command *cmds[N];
	for (int i = 0; i < N; i++) {
		sl__history__init(&hist[i]);
		hist[i].item = &key;
		hist[i].has_limit = true;
		hist[i].limit = i < 4 ? 1000 : 10;
		hist[i].has_after_item_seq = true;
		hist[i].after_item_seq = (uint64_t)i * 1000;
		sl__command__init(&hc[i]);
		hc[i].body_case = SL__COMMAND__BODY_HISTORY;
		hc[i].history = &hist[i];
		cmds[i] = &hc[i];
	}
	Sl__Request req = SL__REQUEST__INIT;
	req.commands = cmds;
	/* four pages of 1000 events of ~2.3 KB: past the transport's 8 MiB */
	req.n_commands = 4;
	r = call(s, &req);
	assert_null(r->error); /* the largest is refused alone until the rest fit */
	assert_int_equal(r->n_results, 4);
	int n_refused = 0;
	for (int i = 0; i < 4; i++)
		if (strcmp(result_code(r->results[i]), "LIMIT_EXCEEDED") == 0) {
			assert_non_null(strstr(r->results[i]->error->message, "reply would be"));
			n_refused++;
		}
	assert_int_equal(n_refused, 1);
	sl__response__free_unpacked(r, NULL);
	/* two pages fit; a page after four full ones does not, whatever its size */
	hist[1].limit = 10;
	hist[2].limit = 10;
	hist[3].limit = 1000;
	req.n_commands = N;
	hist[4].limit = 1000;
	hist[5].limit = 1000;
	r = call(s, &req);
	assert_null(r->error);
	assert_int_equal(r->n_results, N);
	for (int i = 0; i < N; i++)
		assert_string_equal(result_code(r->results[i]), i < 5 ? "OK" : "BUSY");
	assert_int_equal(r->results[0]->n_events, 1000);
	assert_int_equal(r->results[4]->n_events, 201);
	assert_non_null(strstr(r->results[5]->error->message, "command 6"));
	sl__response__free_unpacked(r, NULL);
	assert_int_equal(item_quantity(s, "big"), 4200);
	nng_close(s);
}

/* Writes whose results together pass the transport's cap are applied all the same: the
 * reply must not refuse them (README: "A refused command appends nothing"; the bridge answers
 * such a write OK without its views since feed38e). 300 items with 1 KiB preorder messages,
 * then one request of 30 increments naming all of them: ~10 MB of item views. */
static void test_server_never_refuses_writes_it_applied_for_the_size_of_their_reply(void **state)
{
	fixture *f = *state;
	nng_socket s = client_open(f, 60000);
	static char message[SL_PREORDER_MESSAGE_MAX + 1];
	memset(message, 'm', SL_PREORDER_MESSAGE_MAX);
	enum { ITEMS = SL_LINES_MAX, INCS = 30 };
	static char names[ITEMS][16];
	static Sl__ItemKey keys[ITEMS];
	static Sl__CreateItem creates[ITEMS];
	static Sl__Command cc[ITEMS];
	static Sl__Command *cmds[ITEMS];
	for (int i = 0; i < ITEMS; i++) {
		snprintf(names[i], sizeof(names[i]), "w%d", i);
		sl__item_key__init(&keys[i]);
		keys[i].product_id = names[i];
		sl__create_item__init(&creates[i]);
		creates[i].item = &keys[i];
		creates[i].has_quantity = true;
		creates[i].quantity = 0;
		creates[i].preorder_message = message;
		sl__command__init(&cc[i]);
		cc[i].body_case = SL__COMMAND__BODY_CREATE;
		cc[i].create = &creates[i];
		cmds[i] = &cc[i];
	}
	Sl__Request req = SL__REQUEST__INIT;
	req.commands = cmds;
	req.n_commands = ITEMS;
	Sl__Response *r = call(s, &req);
	assert_null(r->error);
	for (int i = 0; i < ITEMS; i++)
		assert_string_equal(result_code(r->results[i]), "OK");
	sl__response__free_unpacked(r, NULL);

	static Sl__Line lines[ITEMS];
	static Sl__Line *line_ptrs[ITEMS];
	for (int i = 0; i < ITEMS; i++) {
		sl__line__init(&lines[i]);
		lines[i].item = &keys[i];
		lines[i].has_quantity = true;
		lines[i].quantity = 1;
		line_ptrs[i] = &lines[i];
	}
	static Sl__Increment incs[INCS];
	static Sl__Command ic[INCS];
	for (int k = 0; k < INCS; k++) {
		sl__increment__init(&incs[k]);
		incs[k].n_lines = ITEMS;
		incs[k].lines = line_ptrs;
		sl__command__init(&ic[k]);
		ic[k].body_case = SL__COMMAND__BODY_INCREMENT;
		ic[k].increment = &incs[k];
		cmds[k] = &ic[k];
	}
	req.n_commands = INCS;
	uint64_t head = head_seq(s);
	r = call(s, &req);
	uint64_t after = head_seq(s);
	int64_t q = item_quantity(s, "w0");
	print_message("  reply: %s; the log went from seq %llu to %llu, w0 holds %lld\n",
	              r->error != NULL ? r->error->code : "results", (unsigned long long)head,
	              (unsigned long long)after, (long long)q);
	assert_int_equal(after, head + INCS * ITEMS); /* applied */
	assert_null(r->error);                        /* so not refused */
	assert_int_equal(r->n_results, INCS);
	/* each result OK with its seq; those that did not fit without their views, marked */
	int n_slim = 0;
	for (int k = 0; k < INCS; k++) {
		const Sl__Result *res = r->results[k];
		assert_string_equal(result_code(res), "OK");
		if (res->seq != head + (uint64_t)(k + 1) * ITEMS)
			fail_msg("result %d: seq %llu, n_items %zu, omitted %d", k,
			         (unsigned long long)res->seq, res->n_items, res->views_omitted);
		if (res->views_omitted) {
			assert_int_equal(res->n_items, 0);
			n_slim++;
		} else {
			assert_int_equal(res->n_items, ITEMS);
		}
	}
	assert_true(n_slim > 0 && n_slim < INCS);
	sl__response__free_unpacked(r, NULL);
	/* a read that does not fit is refused alone, its neighbours answered: a history page of
	 * 1,000 events (each with a 1 KiB message twice, 2.3 MB) beside the 30 writes again,
	 * the largest result first */
	static Sl__Line hl[SL_LINES_MAX], *hlp[SL_LINES_MAX];
	for (int i = 0; i < SL_LINES_MAX; i++) {
		sl__line__init(&hl[i]);
		hl[i].item = &keys[0];
		hl[i].has_quantity = true;
		hl[i].quantity = 1;
		hlp[i] = &hl[i];
	}
	Sl__Increment hi = SL__INCREMENT__INIT;
	hi.n_lines = SL_LINES_MAX;
	hi.lines = hlp;
	Sl__Command hic = SL__COMMAND__INIT;
	hic.body_case = SL__COMMAND__BODY_INCREMENT;
	hic.increment = &hi;
	for (int k = 0; k < 4; k++) {
		r = call_one(s, &hic);
		assert_string_equal(result_code(r->results[0]), "OK");
		sl__response__free_unpacked(r, NULL);
	}
	head = head_seq(s);
	Sl__History h = SL__HISTORY__INIT;
	h.item = &keys[0];
	h.has_limit = true;
	h.limit = 1000;
	Sl__Command hc = SL__COMMAND__INIT;
	hc.body_case = SL__COMMAND__BODY_HISTORY;
	hc.history = &h;
	static Sl__Command *mixed[INCS + 1];
	for (int k = 0; k < INCS; k++)
		mixed[k] = &ic[k];
	mixed[INCS] = &hc;
	req.commands = mixed;
	req.n_commands = INCS + 1;
	r = call(s, &req);
	assert_null(r->error);
	assert_int_equal(r->n_results, INCS + 1);
	for (int k = 0; k < INCS; k++)
		assert_string_equal(result_code(r->results[k]), "OK");
	assert_string_equal(result_code(r->results[INCS]), "LIMIT_EXCEEDED");
	assert_non_null(strstr(r->results[INCS]->error->message, "ask for fewer or smaller"));
	sl__response__free_unpacked(r, NULL);
	assert_int_equal(head_seq(s), head + INCS * ITEMS);
	nng_close(s);
}

/* A change-feed read without a limit returns at most SL_HISTORY_PAGE_DEFAULT events (the
 * feed's default page), and counts so against the request's bound on rows: five of them in
 * one request return at most 500 rows together, far below SL_REQUEST_READ_ROWS_MAX, and are
 * all answered. */
static void test_server_counts_a_feed_read_without_a_limit_as_its_default_page(void **state)
{
	fixture *f = *state;
	nng_socket s = client_open(f, 10000);
	create_item(s, "feed-a", 1);
	enum { N = 5 };
	Sl__ReadEvents ev[N];
	Sl__Command ec[N];
	Sl__Command *cmds[N];
	for (int i = 0; i < N; i++) {
		sl__read_events__init(&ev[i]);
		sl__command__init(&ec[i]);
		ec[i].body_case = SL__COMMAND__BODY_EVENTS;
		ec[i].events = &ev[i];
		cmds[i] = &ec[i];
	}
	Sl__Request req = SL__REQUEST__INIT;
	req.commands = cmds;
	req.n_commands = N;
	Sl__Response *r = call(s, &req);
	assert_null(r->error);
	assert_int_equal(r->n_results, N);
	for (int i = 0; i < N; i++) {
		assert_string_equal(result_code(r->results[i]), "OK");
		assert_int_equal(r->results[i]->n_events, 1);
	}
	sl__response__free_unpacked(r, NULL);
	nng_close(s);
}

/* get_cmd fills cmd as a get of product (key and body in the caller's storage). */
static void get_cmd_init(Sl__Command *cmd, Sl__GetItem *body, Sl__ItemKey *key, const char *product)
{
	sl__item_key__init(key);
	sl__get_item__init(body);
	sl__command__init(cmd);
	key->product_id = (char *)product;
	body->item = key;
	cmd->body_case = SL__COMMAND__BODY_GET;
	cmd->get = body;
}

static void test_server_decides_a_request_in_order_reads_seeing_the_writes_before_them(void **state)
{
	fixture *f = *state;
	nng_socket s = client_open(f, 60000);
	for (int round = 0; round < 40; round++) {
		char product[32];
		snprintf(product, sizeof(product), "ordered-%d", round);
		Sl__ItemKey ck = SL__ITEM_KEY__INIT, gk[2];
		Sl__CreateItem create = SL__CREATE_ITEM__INIT;
		Sl__GetItem get[2];
		Sl__GetHead head = SL__GET_HEAD__INIT;
		Sl__Command c[5];
		static adjust_cmd dec;
		ck.product_id = product;
		create.item = &ck;
		create.has_quantity = true;
		create.quantity = 5;
		sl__command__init(&c[0]);
		c[0].body_case = SL__COMMAND__BODY_CREATE;
		c[0].create = &create;
		get_cmd_init(&c[1], &get[0], &gk[0], product);
		adjust_cmd_init(&dec, true, product, 1, 2);
		c[2] = dec.cmd;
		get_cmd_init(&c[3], &get[1], &gk[1], product);
		sl__command__init(&c[4]);
		c[4].body_case = SL__COMMAND__BODY_HEAD;
		c[4].head = &head;
		Sl__Command *cmds[5] = {&c[0], &c[1], &c[2], &c[3], &c[4]};
		Sl__Request req = SL__REQUEST__INIT;
		req.commands = cmds;
		req.n_commands = 5;
		Sl__Response *r = call(s, &req);
		assert_null(r->error);
		assert_int_equal(r->n_results, 5);
		for (int i = 0; i < 5; i++)
			assert_string_equal(result_code(r->results[i]), "OK");
		/* the get after the create sees it, the get after the decrement sees that, and
		 * the head is the decrement's event */
		assert_int_equal(r->results[1]->items[0]->state->quantity, 5);
		assert_int_equal(r->results[3]->items[0]->state->quantity, 3);
		assert_int_equal(r->results[4]->seq, r->results[2]->seq);
		sl__response__free_unpacked(r, NULL);
	}
	nng_close(s);
}

/* A key that is not text is never looked up nor kept, whatever other field of its command is
 * bad too: a command whose key holds a stray byte, or a NUL that would cut it to another
 * client's key, and whose reason is over its bound, is refused INVALID_ARGUMENT (not
 * IDEMPOTENCY_KEY_REUSED), even when it asks for its refusal to be kept; nothing is recorded
 * under the key it was cut to. */
static void test_server_never_looks_up_nor_keeps_a_key_that_is_not_text(void **state)
{
	fixture *f = *state;
	nng_socket s = client_open(f, 10000);
	create_item(s, "kt", 5);
	static char reason[SL_REASON_MAX + 2];
	memset(reason, 'r', SL_REASON_MAX + 1);
	static adjust_cmd a;
	uint8_t buf[1024];
	for (int round = 0; round < 2; round++) {
		for (int qty = 1; qty <= 2; qty++) {
			adjust_cmd_init(&a, false, "kt", 1, qty);
			a.cmd.key = round == 0 ? (char *)"kZy" : (char *)"kt-key0zz";
			a.cmd.reason = reason;
			a.cmd.has_keep_refusal = true;
			a.cmd.keep_refusal = true;
			Sl__Command *one[1] = {&a.cmd};
			Sl__Request req = SL__REQUEST__INIT;
			req.n_commands = 1;
			req.commands = one;
			size_t len = sl__request__get_packed_size(&req);
			assert_true(len <= sizeof(buf));
			sl__request__pack(&req, buf);
			uint8_t *x = sl_test_bytes_find(buf, len, round == 0 ? "kZy" : "kt-key0zz");
			assert_non_null(x);
			if (round == 0)
				x[1] = 0xff; /* "k\xffy" */
			else
				x[6] = '\0'; /* "kt-key\0zz": cut, it would be "kt-key" */
			Sl__Response *r = call_raw(s, buf, len);
			assert_int_equal(r->n_results, 1);
			const Sl__Error *e = r->results[0]->error;
			assert_non_null(e);
			if (strcmp(e->code, "INVALID_ARGUMENT") != 0 ||
			    !sl_text_is_valid((const uint8_t *)e->message, strlen(e->message)))
				fail_msg("round %d, quantity %d: %s: %s", round, qty, e->code,
				         e->message);
			assert_false(r->results[0]->replayed);
			sl__response__free_unpacked(r, NULL);
		}
	}
	/* the key a NUL cut the second one to is still free */
	adjust_cmd_init(&a, false, "kt", 1, 3);
	a.cmd.key = (char *)"kt-key";
	Sl__Response *r = call_one(s, &a.cmd);
	assert_string_equal(result_code(r->results[0]), "OK");
	assert_false(r->results[0]->replayed);
	sl__response__free_unpacked(r, NULL);
	assert_int_equal(item_quantity(s, "kt"), 8);
	nng_close(s);
}

static void test_server_keeps_a_refusal_under_its_key_when_asked(void **state)
{
	fixture *f = *state;
	nng_socket s = client_open(f, 60000);
	static adjust_cmd kept, plain;
	adjust_cmd_init(&kept, true, "late", 1, 1);
	kept.cmd.key = (char *)"keep-1";
	kept.cmd.has_keep_refusal = true;
	kept.cmd.keep_refusal = true;
	adjust_cmd_init(&plain, true, "late", 1, 1);
	plain.cmd.key = (char *)"plain-1";
	Sl__Response *r = call_one(s, &kept.cmd);
	assert_string_equal(result_code(r->results[0]), "NOT_FOUND");
	assert_false(r->results[0]->replayed);
	sl__response__free_unpacked(r, NULL);
	r = call_one(s, &plain.cmd);
	assert_string_equal(result_code(r->results[0]), "NOT_FOUND");
	sl__response__free_unpacked(r, NULL);
	uint64_t seq = head_seq(s);
	create_item(s, "late", 3);
	/* sent again: the kept refusal is answered as it was, the other is decided anew; a
	 * retry without the option is the same command under the key */
	r = call_one(s, &kept.cmd);
	assert_string_equal(result_code(r->results[0]), "NOT_FOUND");
	assert_true(r->results[0]->replayed);
	sl__response__free_unpacked(r, NULL);
	kept.cmd.has_keep_refusal = false;
	kept.cmd.keep_refusal = false;
	r = call_one(s, &kept.cmd);
	assert_string_equal(result_code(r->results[0]), "NOT_FOUND");
	assert_true(r->results[0]->replayed);
	sl__response__free_unpacked(r, NULL);
	r = call_one(s, &plain.cmd);
	assert_string_equal(result_code(r->results[0]), "OK");
	sl__response__free_unpacked(r, NULL);
	assert_int_equal(item_quantity(s, "late"), 2);
	/* the kept refusal appended nothing: the create and the decrement only */
	assert_int_equal(head_seq(s), seq + 2);
	/* a refusal for a field over its bound is the rules' too: kept, and the key's */
	static char reason[SL_REASON_MAX + 2];
	memset(reason, 'r', SL_REASON_MAX + 1);
	kept.cmd.key = (char *)"keep-2";
	kept.cmd.reason = reason;
	kept.cmd.has_keep_refusal = true;
	kept.cmd.keep_refusal = true;
	r = call_one(s, &kept.cmd);
	assert_string_equal(result_code(r->results[0]), "INVALID_ARGUMENT");
	sl__response__free_unpacked(r, NULL);
	kept.cmd.reason = NULL;
	r = call_one(s, &kept.cmd);
	assert_string_equal(result_code(r->results[0]), "IDEMPOTENCY_KEY_REUSED");
	sl__response__free_unpacked(r, NULL);
	assert_int_equal(item_quantity(s, "late"), 2);
	nng_close(s);
}

/* A page over its bound is the read's own refusal (LIMIT_EXCEEDED), not the request's read
 * bound (BUSY, which the bridge retries for ever: found by an adversarial bus test). */
static void test_server_refuses_a_page_over_its_bound_as_limit_exceeded(void **state)
{
	fixture *f = *state;
	nng_socket s = client_open(f, 10000);
	create_item(s, "paged", 1);
	Sl__ItemKey key = SL__ITEM_KEY__INIT;
	key.product_id = (char *)"paged";
	Sl__History hist = SL__HISTORY__INIT;
	hist.item = &key;
	hist.has_limit = true;
	hist.limit = 10000;
	Sl__Command hc = SL__COMMAND__INIT;
	hc.body_case = SL__COMMAND__BODY_HISTORY;
	hc.history = &hist;
	Sl__Query q = SL__QUERY__INIT;
	q.has_limit = true;
	q.limit = 5000;
	Sl__Command qc = SL__COMMAND__INIT;
	qc.body_case = SL__COMMAND__BODY_QUERY;
	qc.query = &q;
	/* and a filter of more ids than a query takes (it was INVALID_ARGUMENT, "productId is
	 * too long or malformed", though every id was well formed) */
	static char ids[SL_QUERY_IN_MAX + 1][16], *idp[SL_QUERY_IN_MAX + 1];
	for (int i = 0; i <= SL_QUERY_IN_MAX; i++) {
		snprintf(ids[i], sizeof(ids[i]), "p%d", i);
		idp[i] = ids[i];
	}
	Sl__Query qi = SL__QUERY__INIT;
	qi.n_product_ids = SL_QUERY_IN_MAX + 1;
	qi.product_ids = idp;
	Sl__Command qic = SL__COMMAND__INIT;
	qic.body_case = SL__COMMAND__BODY_QUERY;
	qic.query = &qi;
	Sl__Command *cmds[3] = {&hc, &qc, &qic};
	for (int i = 0; i < 3; i++) {
		Sl__Response *r = call_one(s, cmds[i]);
		assert_string_equal(result_code(r->results[0]), "LIMIT_EXCEEDED");
		if (i == 2)
			assert_non_null(strstr(r->results[0]->error->message, "productId"));
		sl__response__free_unpacked(r, NULL);
	}
	/* at the bound, it is a query like any other */
	qi.n_product_ids = SL_QUERY_IN_MAX;
	Sl__Response *r = call_one(s, &qic);
	assert_null(r->results[0]->error);
	sl__response__free_unpacked(r, NULL);
	nng_close(s);
}

static void test_server_refuses_too_many_lines_and_commands(void **state)
{
	fixture *f = *state;
	nng_socket s = client_open(f, 10000);
	create_item(s, "lines", 0);
	adjust_cmd *a = calloc(1, sizeof(*a));
	assert_non_null(a);
	/* 301 lines: the whole request is refused (stockctl refuses it before sending). */
	adjust_cmd_init(a, false, "lines", SL_LINES_MAX + 1, 1);
	Sl__Command *cmds[1] = {&a->cmd};
	Sl__Request req = SL__REQUEST__INIT;
	req.n_commands = 1;
	req.commands = cmds;
	Sl__Response *r = call(s, &req);
	assert_non_null(r->error);
	assert_string_equal(r->error->code, "LIMIT_EXCEEDED");
	sl__response__free_unpacked(r, NULL);
	assert_int_equal(head_seq(s), 1);
	/* 300 lines of the same item apply, one event each. */
	adjust_cmd_init(a, false, "lines", SL_LINES_MAX, 1);
	r = call(s, &req);
	assert_null(r->error);
	assert_string_equal(result_code(r->results[0]), "OK");
	assert_int_equal(r->results[0]->seq, 1 + SL_LINES_MAX);
	sl__response__free_unpacked(r, NULL);
	assert_int_equal(item_quantity(s, "lines"), SL_LINES_MAX);

	/* More commands than a request may carry. */
	size_t n = SL_REQUEST_COMMANDS_MAX + 1;
	Sl__Command **many = calloc(n, sizeof(*many));
	Sl__GetHead head_body = SL__GET_HEAD__INIT;
	Sl__Command head = SL__COMMAND__INIT;
	assert_non_null(many);
	head.body_case = SL__COMMAND__BODY_HEAD;
	head.head = &head_body;
	for (size_t i = 0; i < n; i++)
		many[i] = &head;
	req.n_commands = n;
	req.commands = many;
	r = call(s, &req);
	assert_non_null(r->error);
	assert_string_equal(r->error->code, "LIMIT_EXCEEDED");
	sl__response__free_unpacked(r, NULL);
	/* ...and exactly as many as it may. */
	req.n_commands = SL_REQUEST_COMMANDS_MAX;
	r = call(s, &req);
	assert_null(r->error);
	assert_int_equal(r->n_results, SL_REQUEST_COMMANDS_MAX);
	for (size_t i = 0; i < r->n_results; i++)
		assert_string_equal(result_code(r->results[i]), "OK");
	sl__response__free_unpacked(r, NULL);
	free(many);
	free(a);
	assert_int_equal(head_seq(s), 1 + SL_LINES_MAX);
	nng_close(s);
}

static void test_server_refuses_an_update_without_a_revision(void **state)
{
	fixture *f = *state;
	nng_socket s = client_open(f, 10000);
	create_item(s, "norev", 4);
	Sl__ItemKey key = SL__ITEM_KEY__INIT;
	Sl__UpdateItem body = SL__UPDATE_ITEM__INIT;
	Sl__Command cmd = SL__COMMAND__INIT;
	key.product_id = "norev";
	body.item = &key;
	body.has_quantity = true;
	body.quantity = 9;
	cmd.body_case = SL__COMMAND__BODY_UPDATE;
	cmd.update = &body;
	Sl__Response *r = call_one(s, &cmd);
	const Sl__Error *e = r->results[0]->error;
	assert_non_null(e);
	assert_string_equal(e->code, "REVISION_MISMATCH");
	assert_string_equal(e->message, "revision must not be empty");
	assert_true(e->has_current_revision);
	assert_int_equal(e->current_revision, 1);
	sl__response__free_unpacked(r, NULL);
	assert_int_equal(item_quantity(s, "norev"), 4);
	assert_int_equal(head_seq(s), 1);
	nng_close(s);
}

static void test_server_carries_a_storage_refusal_to_the_client(void **state)
{
	fixture *f = *state;
	nng_socket s = client_open(f, 10000);
	create_item(s, "disk", 5);
	gw_service_fault_set(f->svc, 1);
	adjust_cmd *a = calloc(1, sizeof(*a));
	assert_non_null(a);
	adjust_cmd_init(a, false, "disk", 1, 1);
	Sl__Response *r = call_one(s, &a->cmd);
	assert_string_equal(result_code(r->results[0]), "STORAGE");
	assert_non_null(r->results[0]->error->message);
	assert_non_null(strstr(r->results[0]->error->message, "not committed"));
	sl__response__free_unpacked(r, NULL);
	free(a);
	/* Reads go on over the socket. */
	assert_int_equal(item_quantity(s, "disk"), 5);
	assert_int_equal(head_seq(s), 1);
	nng_close(s);
}

/* A failed read of the state the writer decides on fails its group and stops the writes for
 * good, as a failed commit does: the commands after it (of its request, of any client) are
 * never decided before it. */
static void test_server_stops_deciding_when_the_state_cannot_be_read(void **state)
{
	fixture *f = *state;
	nng_socket s = client_open(f, 10000);
	create_item(s, "dim", 5);
	static adjust_cmd a, b;
	adjust_cmd_init(&a, true, "dim", 1, 1);
	a.cmd.key = (char *)"read-fails";
	a.cmd.has_keep_refusal = true;
	a.cmd.keep_refusal = true;
	adjust_cmd_init(&b, true, "dim", 1, 2);
	Sl__Command *cmds[2] = {&a.cmd, &b.cmd};
	Sl__Request req = SL__REQUEST__INIT;
	req.commands = cmds;
	req.n_commands = 2;
	store_read_fault_set(ledger_store(gw_service_ledger(f->svc)), STORE_CF_IDEM, 1);
	Sl__Response *r = call(s, &req);
	assert_null(r->error);
	for (int i = 0; i < 2; i++) {
		assert_string_equal(result_code(r->results[i]), "STORAGE");
		assert_non_null(strstr(r->results[i]->error->message, "injected fault"));
	}
	sl__response__free_unpacked(r, NULL);
	/* a later command is refused too, and told why (the first failure) */
	r = call_one(s, &b.cmd);
	assert_string_equal(result_code(r->results[0]), "STORAGE");
	assert_non_null(strstr(r->results[0]->error->message, "restart"));
	assert_non_null(strstr(r->results[0]->error->message, "injected fault"));
	sl__response__free_unpacked(r, NULL);
	/* nothing was decided; reads go on */
	assert_int_equal(item_quantity(s, "dim"), 5);
	assert_int_equal(head_seq(s), 1);
	nng_close(s);
}

/* A view that does not decode (corrupt) stops the writes like a failed read, and the refusals
 * say what the rules found (the store itself reported no error). */
static void test_server_says_why_when_a_view_is_corrupt(void **state)
{
	fixture *f = *state;
	nng_socket s = client_open(f, 10000);
	/* a row the writer never wrote, so not in its copy of the views: it reads the store */
	sl_item_key k;
	sl_test_key_set(&k, "bad", "main");
	uint8_t kb[LEDGER_KEY_BYTES];
	size_t klen = ledger_key_encode(&k, kb);
	store *st = ledger_store(gw_service_ledger(f->svc));
	store_batch *b = store_batch_alloc(st);
	assert_non_null(b);
	store_batch_put(b, STORE_CF_VIEWS, kb, klen, "\xff\xff", 2);
	assert_int_equal(store_write(st, b, true), SL_OK);
	store_batch_free(b);
	static adjust_cmd a, c;
	adjust_cmd_init(&a, false, "bad", 1, 1);
	Sl__Response *r = call_one(s, &a.cmd);
	assert_string_equal(result_code(r->results[0]), "STORAGE");
	assert_non_null(strstr(r->results[0]->error->message, "restarted"));
	assert_non_null(strstr(r->results[0]->error->message, "bad"));
	sl__response__free_unpacked(r, NULL);
	adjust_cmd_init(&c, false, "other", 1, 1);
	r = call_one(s, &c.cmd);
	assert_string_equal(result_code(r->results[0]), "STORAGE");
	assert_non_null(strstr(r->results[0]->error->message, "restarted, after: "));
	assert_non_null(strstr(r->results[0]->error->message, "bad"));
	sl__response__free_unpacked(r, NULL);
	nng_close(s);
}

/* ---- concurrency: more clients than contexts ---- */

#define CONC_THREADS (SL_GATEWAY_CONTEXTS + 16)
#define CONC_TRIES 5

typedef struct conc {
	const fixture *f;
	int id;
	int ok;
} conc;

static void *conc_main(void *arg)
{
	conc *c = arg;
	nng_socket s;
	if (nng_req0_open(&s) != 0 || nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 60000) != 0 ||
	    nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE) != 0 ||
	    nng_dial(s, c->f->url, NULL, 0) != 0)
		return NULL;
	for (int i = 0; i < CONC_TRIES; i++) {
		/* one increment of the shared item and one of the thread's own, in one request */
		char own[32];
		snprintf(own, sizeof(own), "own-%d", c->id);
		Sl__ItemKey kshared = SL__ITEM_KEY__INIT, kown = SL__ITEM_KEY__INIT;
		kshared.product_id = "shared";
		kown.product_id = own;
		Sl__Line l1 = SL__LINE__INIT, l2 = SL__LINE__INIT;
		l1.item = &kshared;
		l1.has_quantity = true;
		l1.quantity = 1;
		l2.item = &kown;
		l2.has_quantity = true;
		l2.quantity = 1;
		Sl__Line *lines[2] = {&l1, &l2};
		Sl__Increment inc = SL__INCREMENT__INIT;
		inc.n_lines = i == 0 ? 1 : 2;
		inc.lines = lines;
		Sl__Command cmd = SL__COMMAND__INIT;
		cmd.body_case = SL__COMMAND__BODY_INCREMENT;
		cmd.increment = &inc;
		Sl__ItemKey ckey = SL__ITEM_KEY__INIT;
		Sl__CreateItem create = SL__CREATE_ITEM__INIT;
		Sl__Command ccmd = SL__COMMAND__INIT;
		ckey.product_id = own;
		create.item = &ckey;
		create.has_quantity = true;
		create.quantity = 0;
		ccmd.body_case = SL__COMMAND__BODY_CREATE;
		ccmd.create = &create;
		/* the first request creates the thread's item and increments only the shared one */
		Sl__Command *cmds[2] = {i == 0 ? &ccmd : &cmd, &cmd};
		Sl__Request req = SL__REQUEST__INIT;
		req.n_commands = 2;
		req.commands = cmds;
		size_t n = sl__request__get_packed_size(&req);
		nng_msg *msg;
		if (nng_msg_alloc(&msg, n) != 0)
			break;
		sl__request__pack(&req, nng_msg_body(msg));
		if (nng_sendmsg(s, msg, 0) != 0) {
			nng_msg_free(msg);
			break;
		}
		if (nng_recvmsg(s, &msg, 0) != 0)
			break;
		Sl__Response *r = sl__response__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
		nng_msg_free(msg);
		if (r != NULL && r->error == NULL && r->n_results == 2 &&
		    r->results[0]->error == NULL && r->results[1]->error == NULL)
			c->ok++;
		sl__response__free_unpacked(r, NULL);
	}
	nng_close(s);
	return NULL;
}

static void test_server_serves_more_clients_than_contexts_at_once(void **state)
{
	fixture *f = *state;
	nng_socket s = client_open(f, 10000);
	create_item(s, "shared", 0);
	pthread_t th[CONC_THREADS];
	conc cs[CONC_THREADS];
	for (int i = 0; i < CONC_THREADS; i++) {
		cs[i] = (conc){.f = f, .id = i};
		assert_int_equal(pthread_create(&th[i], NULL, conc_main, &cs[i]), 0);
	}
	for (int i = 0; i < CONC_THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(cs[i].ok, CONC_TRIES);
	}
	/* Per thread: the first request increments shared once (create + increment), each
	 * later one twice (two commands). Own items get one per line of the later requests. */
	assert_int_equal(item_quantity(s, "shared"), CONC_THREADS * (1 + 2 * (CONC_TRIES - 1)));
	for (int i = 0; i < CONC_THREADS; i++) {
		char own[32];
		snprintf(own, sizeof(own), "own-%d", i);
		assert_int_equal(item_quantity(s, own), 2 * (CONC_TRIES - 1));
	}
	gw_stats st;
	gw_service_stats(f->svc, &st);
	assert_int_equal(st.commands, 1 + CONC_THREADS * 2 * CONC_TRIES);
	nng_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_server_answers_garbage_with_malformed_and_keeps_serving, server_setup,
	        server_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_server_answers_an_empty_request_with_invalid_argument, server_setup,
	        server_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_server_answers_an_empty_or_unknown_command_with_unknown_command, server_setup,
	        server_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_server_answers_an_oversized_request_with_limit_exceeded, server_setup,
	        server_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_server_drops_a_request_over_the_transport_cap_and_keeps_serving, server_setup,
	        server_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_server_refuses_an_overlong_key_before_looking_it_up, server_setup,
	        server_teardown),
	    cmocka_unit_test_setup_teardown(test_server_bounds_the_reads_and_the_reply_of_a_request,
	                                    server_setup, server_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_server_never_refuses_writes_it_applied_for_the_size_of_their_reply,
	        server_setup, server_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_server_refuses_reads_of_strings_that_are_not_text_in_text, server_setup,
	        server_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_server_counts_a_feed_read_without_a_limit_as_its_default_page, server_setup,
	        server_teardown),
	    cmocka_unit_test_setup_teardown(test_server_refuses_strings_that_are_not_text,
	                                    server_setup, server_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_server_decides_a_request_in_order_reads_seeing_the_writes_before_them,
	        server_setup, server_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_server_never_looks_up_nor_keeps_a_key_that_is_not_text, server_setup,
	        server_teardown),
	    cmocka_unit_test_setup_teardown(test_server_keeps_a_refusal_under_its_key_when_asked,
	                                    server_setup, server_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_server_refuses_a_page_over_its_bound_as_limit_exceeded, server_setup,
	        server_teardown),
	    cmocka_unit_test_setup_teardown(test_server_refuses_too_many_lines_and_commands,
	                                    server_setup, server_teardown),
	    cmocka_unit_test_setup_teardown(test_server_refuses_an_update_without_a_revision,
	                                    server_setup, server_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_server_stops_deciding_when_the_state_cannot_be_read, server_setup,
	        server_teardown),
	    cmocka_unit_test_setup_teardown(test_server_says_why_when_a_view_is_corrupt,
	                                    server_setup, server_teardown),
	    cmocka_unit_test_setup_teardown(test_server_carries_a_storage_refusal_to_the_client,
	                                    server_setup, server_teardown),
	    cmocka_unit_test_setup_teardown(test_server_serves_more_clients_than_contexts_at_once,
	                                    server_setup, server_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

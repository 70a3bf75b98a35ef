/*
 * client_test.c: the client library's transport (client/client.c) against a server that
 * loses the connection while a request is out.
 *
 * Method: a raw nng REP socket on an ipc:// path in a temporary folder plays the server. It
 * takes the client's request, then drops the connection without replying (closes its
 * socket) and listens again on the same path with a new socket. nng's REQ protocol would
 * resend an unanswered request on the new connection, which for a command without a key
 * means applying it twice if the first copy was committed before the drop; the client must
 * not let that happen: the new socket must receive nothing, and the call must end with
 * UNAVAILABLE (the caller decides whether to retry, with a key).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/banned.h"
#include "client/client.h"

#define CALL_TIMEOUT_MS 3000

typedef struct caller {
	char url[300];
	sl_err open_rc;
	sl_err call_rc;
} caller;

static void *caller_main(void *arg)
{
	caller *c = arg;
	sl_client *cl = NULL;
	c->open_rc = sl_client_open(c->url, CALL_TIMEOUT_MS, &cl);
	if (c->open_rc != SL_OK)
		return NULL;
	Sl__ItemKey key = SL__ITEM_KEY__INIT;
	key.product_id = "sku";
	Sl__Line line = SL__LINE__INIT;
	line.item = &key;
	line.has_quantity = true;
	line.quantity = 1;
	Sl__Line *lines[1] = {&line};
	Sl__Increment inc = SL__INCREMENT__INIT;
	inc.n_lines = 1;
	inc.lines = lines;
	Sl__Command cmd = SL__COMMAND__INIT; /* no key: must never be sent twice */
	cmd.body_case = SL__COMMAND__BODY_INCREMENT;
	cmd.increment = &inc;
	Sl__Command *cmds[1] = {&cmd};
	Sl__Request req = SL__REQUEST__INIT;
	req.n_commands = 1;
	req.commands = cmds;
	Sl__Response *resp = NULL;
	c->call_rc = sl_client_call(cl, &req, &resp);
	if (resp != NULL)
		sl__response__free_unpacked(resp, NULL);
	sl_client_close(cl);
	return NULL;
}

static nng_socket rep_listen(const char *url, int recv_timeout_ms)
{
	nng_socket s;
	assert_int_equal(nng_rep0_open(&s), 0);
	assert_int_equal(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, recv_timeout_ms), 0);
	assert_int_equal(nng_listen(s, url, NULL, 0), 0);
	return s;
}

static void test_client_never_resends_a_request_after_the_connection_drops(void **state)
{
	(void)state;
	char dir[] = "/tmp/sl-client-test-XXXXXX";
	assert_non_null(mkdtemp(dir));
	caller c = {.open_rc = SL_ERR_INTERNAL, .call_rc = SL_ERR_INTERNAL};
	snprintf(c.url, sizeof(c.url), "ipc://%s/s.sock", dir);

	nng_socket first = rep_listen(c.url, 5000);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, caller_main, &c), 0);
	nng_msg *msg = NULL;
	assert_int_equal(nng_recvmsg(first, &msg, 0), 0);
	assert_true(nng_msg_len(msg) > 0);
	nng_msg_free(msg);
	/* The server goes away without replying, and comes back on the same path. */
	nng_close(first);
	nng_socket second = rep_listen(c.url, CALL_TIMEOUT_MS / 2);
	msg = NULL;
	int rv = nng_recvmsg(second, &msg, 0);
	if (rv == 0)
		nng_msg_free(msg);
	assert_int_equal(rv, NNG_ETIMEDOUT); /* nothing resent */
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(c.open_rc, SL_OK);
	assert_int_equal(c.call_rc, SL_ERR_UNAVAILABLE);
	nng_close(second);

	char path[320];
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	unlink(path);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_client_never_resends_a_request_after_the_connection_drops),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

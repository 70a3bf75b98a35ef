/*
 * refuse.c: sl-refuse, a test helper of tests/e2e/errors_test.sh standing in for a
 * stockledgerd that is shutting down: it listens on URL (nng REP) and answers every request
 * with the envelope error a draining gateway sends (gateway/server.c: UNAVAILABLE, "the
 * service is shutting down"), encoded by the gateway's own gw_response_error. A real daemon
 * answers that only in the instant between its drain and its close, too short to hit from a
 * shell; this peer holds the answer still so that stockctl's exit status for it can be
 * checked.
 *
 *   sl-refuse URL       serves until killed; prints "listening" once it listens
 *
 * Exit status: 1 if it cannot listen, 2 usage.
 */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <stdio.h>
#include <string.h>

#include "base/banned.h"
#include "base/sl_buf.h"
#include "gateway/wire.h"

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: sl-refuse URL\n");
		return 2;
	}
	nng_socket s;
	int rv = nng_rep0_open(&s);
	if (rv == 0)
		rv = nng_listen(s, argv[1], NULL, 0);
	if (rv != 0) {
		fprintf(stderr, "sl-refuse: cannot listen on '%s': %s\n", argv[1],
		        nng_strerror(rv));
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	sl_error_info err;
	memset(&err, 0, sizeof(err));
	sl_error_set(&err, SL_ERR_UNAVAILABLE, "the service is shutting down");
	sl_buf reply;
	sl_buf_init(&reply);
	if (gw_response_error(&err, &reply) != SL_OK) {
		fprintf(stderr, "sl-refuse: cannot encode the reply\n");
		return 1;
	}
	for (;;) {
		void *req = NULL;
		size_t len = 0;
		if (nng_recv(s, &req, &len, NNG_FLAG_ALLOC) != 0)
			continue;
		nng_free(req, len);
		(void)nng_send(s, reply.data, reply.len, 0);
	}
}

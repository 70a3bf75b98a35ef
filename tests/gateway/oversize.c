/*
 * oversize.c (sl-oversize URL): sends one message over the transport's hard cap
 * (SL_TRANSPORT_BYTES_MAX + 1 bytes) to a StockLedger server and waits up to 3 s for a reply.
 * Exit 0 when none came (the server dropped the message and its connection, as it must), 3
 * when one did, 2 on a usage or dial error.
 *
 * A process of its own for server_test: with nng 1.5.2, closing a REQ socket whose
 * connection the peer dropped under an unsent or half-sent message can block for ever in
 * nng_close, and then every later close of the process (its reaper is stuck): seen in 1 of 8
 * runs of server_test two at a time, and reproduced outside it (two clients, 80 rounds
 * each: both hung in nng_close, the server kept answering and exited cleanly). So this
 * client never closes its socket: it leaves with _exit, and the kernel closes the
 * connection.
 */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/banned.h"
#include "base/sl_limits.h"

int main(int argc, char **argv)
{
	nng_socket s;
	if (argc != 2) {
		fprintf(stderr, "usage: sl-oversize URL\n");
		_exit(2);
	}
	if (nng_req0_open(&s) != 0 || nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 3000) != 0 ||
	    nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE) != 0 ||
	    nng_dial(s, argv[1], NULL, 0) != 0) {
		fprintf(stderr, "sl-oversize: cannot dial %s\n", argv[1]);
		_exit(2);
	}
	size_t n = SL_TRANSPORT_BYTES_MAX + 1;
	void *huge = calloc(1, n);
	if (huge == NULL)
		_exit(2);
	char *reply = NULL;
	size_t len = 0;
	int rv = nng_send(s, huge, n, 0);
	if (rv == 0)
		rv = nng_recv(s, &reply, &len, NNG_FLAG_ALLOC);
	printf("sl-oversize: %s\n", rv == 0 ? "a reply came" : nng_strerror(rv));
	fflush(stdout);
	_exit(rv == 0 ? 3 : 0);
}

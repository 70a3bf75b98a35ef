/*
 * echo.c: the echo server of echo.h. Each context loops RECV -> SEND -> RECV, handing the
 * received message straight back (nng's demo/async/server.c without the work).
 */
#include "gateway/echo.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/banned.h"
#include "base/sl_limits.h"

typedef struct echo_ctx {
	nng_aio *aio;
	nng_ctx ctx;
	bool is_sending;
} echo_ctx;

struct gw_echo {
	nng_socket sock;
	bool is_open;
	echo_ctx ctxs[SL_GATEWAY_CONTEXTS];
	size_t n_ctxs;
};

static void echo_cb(void *arg)
{
	echo_ctx *c = arg;
	int rv = nng_aio_result(c->aio);
	if (c->is_sending) {
		if (rv != 0)
			nng_msg_free(nng_aio_get_msg(c->aio));
		c->is_sending = false;
		if (rv == NNG_ECLOSED)
			return;
		nng_ctx_recv(c->ctx, c->aio);
		return;
	}
	if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
		return;
	if (rv != 0) {
		nng_ctx_recv(c->ctx, c->aio);
		return;
	}
	c->is_sending = true;
	nng_ctx_send(c->ctx, c->aio); /* the received message is still set on the aio */
}

sl_err gw_echo_start(const char *url, size_t contexts, gw_echo **out, char *errbuf,
                     size_t errbuf_size)
{
	if (contexts == 0 || contexts > SL_GATEWAY_CONTEXTS) {
		snprintf(errbuf, errbuf_size, "%zu contexts: 1 to %d", contexts,
		         SL_GATEWAY_CONTEXTS);
		return SL_ERR_INVALID_ARGUMENT;
	}
	gw_echo *e = calloc(1, sizeof(*e));
	if (e == NULL) {
		snprintf(errbuf, errbuf_size, "cannot start echo server: out of memory");
		return SL_ERR_NOMEM;
	}
	int rv = nng_rep0_open(&e->sock);
	if (rv != 0) {
		snprintf(errbuf, errbuf_size, "cannot open socket: %s", nng_strerror(rv));
		free(e);
		return SL_ERR_UNAVAILABLE;
	}
	e->is_open = true;
	nng_socket_set_size(e->sock, NNG_OPT_RECVMAXSZ, SL_TRANSPORT_BYTES_MAX);
	for (size_t i = 0; i < contexts; i++) {
		echo_ctx *c = &e->ctxs[i];
		if ((rv = nng_aio_alloc(&c->aio, echo_cb, c)) != 0 ||
		    (rv = nng_ctx_open(&c->ctx, e->sock)) != 0) {
			e->n_ctxs = i + 1;
			snprintf(errbuf, errbuf_size, "cannot open context: %s", nng_strerror(rv));
			gw_echo_stop(e);
			return SL_ERR_NOMEM;
		}
	}
	e->n_ctxs = contexts;
	if ((rv = nng_listen(e->sock, url, NULL, 0)) != 0) {
		snprintf(errbuf, errbuf_size, "cannot listen on '%s': %s", url, nng_strerror(rv));
		gw_echo_stop(e);
		return SL_ERR_UNAVAILABLE;
	}
	for (size_t i = 0; i < e->n_ctxs; i++)
		nng_ctx_recv(e->ctxs[i].ctx, e->ctxs[i].aio);
	*out = e;
	return SL_OK;
}

void gw_echo_stop(gw_echo *e)
{
	if (e == NULL)
		return;
	if (e->is_open)
		nng_close(e->sock);
	for (size_t i = 0; i < e->n_ctxs; i++)
		if (e->ctxs[i].aio != NULL)
			nng_aio_free(e->ctxs[i].aio);
	free(e);
}

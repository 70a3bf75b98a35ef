/*
 * echo.c: the echo server of echo.h. Each context loops RECV -> SEND -> RECV, handing the
 * received message straight back (nng's demo/async/server.c without the work), or, when
 * answering, a Response of one given result per command of the Request.
 */
#include "gateway/echo.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/banned.h"
#include "base/sl_limits.h"
#include "base/sl_util.h"

typedef struct echo_ctx {
	nng_aio *aio;
	nng_ctx ctx;
	bool is_sending;
	const gw_echo *e;
} echo_ctx;

struct gw_echo {
	nng_socket sock;
	bool is_open;
	echo_ctx ctxs[SL_GATEWAY_CONTEXTS];
	size_t n_ctxs;
	uint8_t *result; /* answering: the encoded Result given for every command */
	size_t result_len;
};

/* request_commands counts the commands of an encoded Request (field 1, length-delimited),
 * walking the wire format without decoding them: SIZE_MAX if it is not a Request. */
static size_t request_commands(const uint8_t *p, size_t len)
{
	const uint8_t *end = p + len;
	size_t n = 0;
	while (p < end) {
		uint64_t tag, flen;
		if (!sl_varint_read(&p, end, &tag) || tag != 0x0a ||
		    !sl_varint_read(&p, end, &flen) || flen > (uint64_t)(end - p))
			return SIZE_MAX;
		p += flen;
		n++;
	}
	return n;
}

/* answer_of builds the Response to req: the given result once per command (ResponseRaw's
 * encoding: field 1, length-delimited). NULL when req is no Request or memory is short:
 * then req itself goes back. */
static nng_msg *answer_of(const gw_echo *e, nng_msg *req)
{
	size_t n = request_commands(nng_msg_body(req), nng_msg_len(req));
	if (n == SIZE_MAX)
		return NULL;
	uint8_t head[1 + 10];
	size_t hlen = 0;
	head[hlen++] = 0x0a;
	for (uint64_t v = e->result_len; hlen < sizeof(head); v >>= 7) {
		head[hlen++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		if (v <= 0x7f)
			break;
	}
	nng_msg *out;
	if (nng_msg_alloc(&out, 0) != 0)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (nng_msg_append(out, head, hlen) != 0 ||
		    nng_msg_append(out, e->result, e->result_len) != 0) {
			nng_msg_free(out);
			return NULL;
		}
	return out;
}

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
	if (c->e->result != NULL) {
		nng_msg *req = nng_aio_get_msg(c->aio);
		nng_msg *answer = answer_of(c->e, req);
		if (answer != NULL) {
			nng_msg_free(req);
			nng_aio_set_msg(c->aio, answer);
		}
	}
	nng_ctx_send(c->ctx, c->aio); /* the message set on the aio */
}

sl_err gw_echo_start(const char *url, size_t contexts, gw_echo **out, char *errbuf,
                     size_t errbuf_size)
{
	return gw_echo_start_answering(url, contexts, NULL, 0, out, errbuf, errbuf_size);
}

sl_err gw_echo_start_answering(const char *url, size_t contexts, const uint8_t *result,
                               size_t result_len, gw_echo **out, char *errbuf, size_t errbuf_size)
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
	if (result != NULL) {
		if ((e->result = malloc(result_len > 0 ? result_len : 1)) == NULL) {
			snprintf(errbuf, errbuf_size, "cannot start echo server: out of memory");
			gw_echo_stop(e);
			return SL_ERR_NOMEM;
		}
		memcpy(e->result, result, result_len);
		e->result_len = result_len;
	}
	int rv = nng_rep0_open(&e->sock);
	if (rv != 0) {
		snprintf(errbuf, errbuf_size, "cannot open socket: %s", nng_strerror(rv));
		gw_echo_stop(e);
		return SL_ERR_UNAVAILABLE;
	}
	e->is_open = true;
	nng_socket_set_size(e->sock, NNG_OPT_RECVMAXSZ, SL_TRANSPORT_BYTES_MAX);
	for (size_t i = 0; i < contexts; i++) {
		echo_ctx *c = &e->ctxs[i];
		c->e = e;
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
	free(e->result);
	free(e);
}

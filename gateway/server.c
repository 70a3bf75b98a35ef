/*
 * server.c: nng REP contexts, each one a small state machine (after nng's
 * demo/async/server.c):
 *
 *          recv ok: decode, submit every command
 *   RECV ---------------------------------------> WAIT
 *    ^  \ recv failed (not closed): recv again      | last command's result arrived:
 *    |   \                                          | encode Response, ctx_send
 *    |    `-- decode failed: error reply --.        v
 *    +--------------------------------------+---- SEND
 *                 send done (ok or not)
 *
 * The results of a request's commands arrive from the writer thread or, for reads, on the
 * submitting thread; a counter set to n + 1 before the first submit and dropped once after
 * the last makes sure the reply is sent exactly once, after every result is in. nng errors
 * are translated here only.
 */
#include "gateway/server.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/banned.h"
#include "base/sl_util.h"
#include "gateway/wire.h"

typedef enum work_state { WORK_RECV, WORK_WAIT, WORK_SEND } work_state;

typedef struct work work;

typedef struct slot {
	work *w;
	size_t index;
} slot;

struct work {
	gw_server *srv;
	nng_aio *aio;
	nng_ctx ctx;
	_Atomic int state;
	atomic_size_t pending;
	size_t n_cmds;
	sl_command *cmds;
	slot slots[SL_REQUEST_COMMANDS_MAX];
	sl_buf results[SL_REQUEST_COMMANDS_MAX];
	sl_buf reply;
};

struct gw_server {
	gw_service *svc;
	nng_socket sock;
	bool is_open;
	/* Requests between receipt and the return of their reply's nng_ctx_send. The reply
	 * thread may still be inside nng_ctx_send when the client already has the reply, and
	 * nng 1.5 does not survive nng_close racing with nng_ctx_send: gw_server_stop raises
	 * is_stopping (new requests are dropped), waits for active to drain, then closes. */
	atomic_int active;
	atomic_bool is_stopping;
	char default_location[SL_ID_MAX + 1];
	work *works[SL_GATEWAY_CONTEXTS];
	size_t n_works;
};

static void work_send(work *w, const sl_buf *reply)
{
	nng_msg *msg;
	if (nng_msg_alloc(&msg, 0) != 0 || nng_msg_append(msg, reply->data, reply->len) != 0) {
		/* Cannot even reply: drop the request; the client times out and retries. */
		atomic_store(&w->state, WORK_RECV);
		nng_ctx_recv(w->ctx, w->aio);
	} else {
		atomic_store(&w->state, WORK_SEND);
		nng_aio_set_msg(w->aio, msg);
		nng_ctx_send(w->ctx, w->aio);
	}
	atomic_fetch_sub(&w->srv->active, 1); /* raised in work_cb when the request came */
}

static void work_finish(work *w)
{
	sl_err rc = gw_response_encode(w->results, w->n_cmds, &w->reply);
	gw_commands_free(w->cmds, w->n_cmds);
	w->cmds = NULL;
	if (rc != SL_OK) {
		sl_error_info err;
		memset(&err, 0, sizeof(err));
		sl_error_set(&err, rc, "cannot encode the reply: %s", sl_strerror(rc));
		gw_response_error(&err, &w->reply);
	}
	work_send(w, &w->reply);
}

static void work_result_cb(void *arg, const uint8_t *result, size_t len)
{
	slot *sl = arg;
	work *w = sl->w;
	if (sl_buf_set(&w->results[sl->index], result, len) != SL_OK)
		w->results[sl->index].len = 0;
	if (atomic_fetch_sub(&w->pending, 1) == 1)
		work_finish(w);
}

static void work_request(work *w, nng_msg *msg)
{
	sl_error_info err;
	sl_err rc = gw_request_decode(nng_msg_body(msg), nng_msg_len(msg), w->srv->default_location,
	                              &w->cmds, &w->n_cmds, &err);
	nng_msg_free(msg);
	if (rc != SL_OK) {
		w->cmds = NULL;
		w->n_cmds = 0;
		gw_response_error(&err, &w->reply);
		work_send(w, &w->reply);
		return;
	}
	atomic_store(&w->state, WORK_WAIT);
	atomic_store(&w->pending, w->n_cmds + 1);
	for (size_t i = 0; i < w->n_cmds; i++) {
		w->slots[i].w = w;
		w->slots[i].index = i;
		w->results[i].len = 0;
		gw_service_submit(w->srv->svc, &w->cmds[i], work_result_cb, &w->slots[i]);
	}
	if (atomic_fetch_sub(&w->pending, 1) == 1)
		work_finish(w);
}

static void work_cb(void *arg)
{
	work *w = arg;
	int rv = nng_aio_result(w->aio);
	switch (atomic_load(&w->state)) {
	case WORK_RECV:
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
			return;
		if (rv != 0) {
			nng_ctx_recv(w->ctx, w->aio);
			return;
		}
		atomic_fetch_add(&w->srv->active, 1);
		if (atomic_load(&w->srv->is_stopping)) {
			/* Stopping: this request is dropped, and the context stays quiet. */
			nng_msg_free(nng_aio_get_msg(w->aio));
			atomic_fetch_sub(&w->srv->active, 1);
			return;
		}
		work_request(w, nng_aio_get_msg(w->aio));
		return;
	case WORK_SEND:
		if (rv != 0)
			nng_msg_free(nng_aio_get_msg(w->aio));
		atomic_store(&w->state, WORK_RECV);
		if (rv == NNG_ECLOSED)
			return;
		nng_ctx_recv(w->ctx, w->aio);
		return;
	default:
		SL_ASSERT(0 && "aio callback while waiting for the writer");
	}
}

static void work_free(work *w)
{
	if (w == NULL)
		return;
	if (w->aio != NULL)
		nng_aio_free(w->aio);
	for (size_t i = 0; i < SL_REQUEST_COMMANDS_MAX; i++)
		sl_buf_fini(&w->results[i]);
	sl_buf_fini(&w->reply);
	gw_commands_free(w->cmds, w->n_cmds);
	free(w);
}

sl_err gw_server_start(gw_service *svc, const char *url, const char *default_location,
                       gw_server **out, char *errbuf, size_t errbuf_size)
{
	int rv;
	gw_server *srv = calloc(1, sizeof(*srv));
	if (srv == NULL)
		return SL_ERR_NOMEM;
	srv->svc = svc;
	sl_strlcpy(srv->default_location,
	           default_location != NULL ? default_location : SL_DEFAULT_LOCATION,
	           sizeof(srv->default_location));
	if ((rv = nng_rep0_open(&srv->sock)) != 0) {
		snprintf(errbuf, errbuf_size, "cannot open socket: %s", nng_strerror(rv));
		free(srv);
		return SL_ERR_UNAVAILABLE;
	}
	srv->is_open = true;
	nng_socket_set_size(srv->sock, NNG_OPT_RECVMAXSZ, SL_TRANSPORT_BYTES_MAX);
	for (size_t i = 0; i < SL_GATEWAY_CONTEXTS; i++) {
		work *w = calloc(1, sizeof(*w));
		if (w == NULL)
			goto nomem;
		srv->works[srv->n_works++] = w;
		w->srv = srv;
		if ((rv = nng_aio_alloc(&w->aio, work_cb, w)) != 0 ||
		    (rv = nng_ctx_open(&w->ctx, srv->sock)) != 0) {
			snprintf(errbuf, errbuf_size, "cannot open context: %s", nng_strerror(rv));
			goto fail;
		}
	}
	if ((rv = nng_listen(srv->sock, url, NULL, 0)) != 0) {
		snprintf(errbuf, errbuf_size, "cannot listen on '%s': %s", url, nng_strerror(rv));
		goto fail;
	}
	for (size_t i = 0; i < srv->n_works; i++) {
		atomic_store(&srv->works[i]->state, WORK_RECV);
		nng_ctx_recv(srv->works[i]->ctx, srv->works[i]->aio);
	}
	*out = srv;
	return SL_OK;
nomem:
	snprintf(errbuf, errbuf_size, "cannot start server: out of memory");
fail:
	gw_server_stop(srv);
	return rv == NNG_EADDRINUSE ? SL_ERR_UNAVAILABLE : SL_ERR_INVALID_ARGUMENT;
}

void gw_server_stop(gw_server *srv)
{
	if (srv == NULL)
		return;
	atomic_store(&srv->is_stopping, true);
	while (atomic_load(&srv->active) > 0) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	if (srv->is_open)
		nng_close(srv->sock);
	/* Requests already handed to the writer still reference their work: wait for them. */
	for (size_t i = 0; i < srv->n_works; i++) {
		while (atomic_load(&srv->works[i]->state) == WORK_WAIT) {
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
	}
	for (size_t i = 0; i < srv->n_works; i++)
		work_free(srv->works[i]);
	free(srv);
}

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
 * The results of a request's commands arrive from the reply thread (writes, and reads that
 * follow a write of the same request: queued behind it so as to see it) or, for other
 * reads, on the submitting thread. A command the service does not take (BUSY: its queue is
 * full; UNAVAILABLE: it stops) refuses the ones after it too, so that what a request gets
 * decided is always its first commands, in order, and a client that sends the rest again
 * keeps its order; a counter set to n + 1 before the first submit and dropped once after
 * the last makes sure the reply is sent exactly once, after every result is in. nng errors
 * are translated here only. gw_server_stop drains before it closes (see there), and no
 * thread is inside nng on a context when the socket closes (work_nng_enter).
 *
 * The close itself runs on a thread of its own (server_close_main) and gw_server_stop waits
 * for it at most SL_SERVER_CLOSE_MS_MAX: nng 1.5.2 (Debian 12) can block in nng_close for
 * ever when a client dials while the socket closes (a `stockctl events --follow` that
 * re-dials a draining service; the pipe being accepted is never reaped, upstream nng issue
 * 1543, fixed after 1.5.2), and what clients do must not decide whether a stop ends. A close
 * that does not end in time keeps the socket and the works (the closing thread frees them if
 * nng ever returns); nothing else touches them after the stop: a late callback only answers
 * UNAVAILABLE without reaching the service, and cannot enter nng (is_stopping).
 */
#include "gateway/server.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/banned.h"
#include "base/sl_util.h"
#include "gateway/wire.h"
#include "stockledger.pb-c.h"

typedef enum work_state { WORK_RECV, WORK_WAIT, WORK_SEND } work_state;

typedef struct work work;

typedef struct slot {
	work *w;
	size_t index;
	bool is_write; /* its command writes (reply_fit: the command itself is handed over) */
} slot;

struct work {
	gw_server *srv;
	nng_aio *aio;
	nng_ctx ctx;
	_Atomic int state;
	atomic_size_t pending;
	atomic_int in_result_cb; /* writer or reader threads inside work_result_cb */
	size_t n_cmds;
	sl_command *cmds;
	slot slots[SL_REQUEST_COMMANDS_MAX];
	sl_buf results[SL_REQUEST_COMMANDS_MAX];
	sl_buf reply;
};

struct gw_server {
	gw_service *svc;
	nng_socket sock;
	nng_listener listener;
	bool is_open;
	atomic_bool is_draining; /* stopping: new requests are answered UNAVAILABLE */
	atomic_bool is_stopping; /* stopped: no thread may enter nng on a context any more */
	atomic_int in_nng;       /* threads inside nng_ctx_send/nng_ctx_recv */
	char default_location[SL_ID_MAX + 1];
	work *works[SL_GATEWAY_CONTEXTS];
	size_t n_works;
	/* the close (server_close_main), under close_mu */
	pthread_mutex_t close_mu;
	pthread_cond_t close_cond;
	bool is_closed;    /* nng_close returned */
	bool is_abandoned; /* gw_server_stop stopped waiting: the closing thread frees srv */
};

/*
 * Every call into nng on a context is bracketed by work_nng_enter/leave. nng 1.5 (Debian 12)
 * releases its hold on a context at the end of nng_ctx_send/nng_ctx_recv, and when the
 * socket is closed at that moment the release locks a protocol mutex the close has already
 * destroyed ("panic: pthread_mutex_lock: Invalid argument": seen with a reply sent from the
 * writer thread while gw_server_stop closed the socket). So gw_server_stop closes the socket
 * only once no thread is inside such a call and none can enter one. The count goes up
 * before the flag is read, so either the thread sees is_stopping or the stopper sees it.
 */
static bool work_nng_enter(work *w)
{
	atomic_fetch_add(&w->srv->in_nng, 1);
	if (atomic_load(&w->srv->is_stopping)) {
		atomic_fetch_sub(&w->srv->in_nng, 1);
		return false;
	}
	return true;
}

static void work_nng_leave(work *w)
{
	atomic_fetch_sub(&w->srv->in_nng, 1);
}

/* work_recv waits for the next request on w's context (nothing, once stopping). */
static void work_recv(work *w)
{
	atomic_store(&w->state, WORK_RECV);
	if (!work_nng_enter(w))
		return;
	nng_ctx_recv(w->ctx, w->aio);
	work_nng_leave(w);
}

static void work_send(work *w, const sl_buf *reply)
{
	nng_msg *msg;
	if (nng_msg_alloc(&msg, 0) != 0 || nng_msg_append(msg, reply->data, reply->len) != 0) {
		/* Cannot even reply: drop the request; the client times out and retries. */
		work_recv(w);
		return;
	}
	if (!work_nng_enter(w)) {
		/* Stopped: the socket is closing and the reply could not go out anyway. */
		nng_msg_free(msg);
		atomic_store(&w->state, WORK_RECV);
		return;
	}
	atomic_store(&w->state, WORK_SEND);
	nng_aio_set_msg(w->aio, msg);
	nng_ctx_send(w->ctx, w->aio);
	work_nng_leave(w);
}

/* result_slim re-encodes the write result in *res without its item and order views, marked
 * views_omitted; false if it does not decode (then it is left as it is). */
static bool result_slim(sl_buf *res)
{
	Sl__Result *r = sl__result__unpack(NULL, res->len, res->data);
	if (r == NULL)
		return false;
	Sl__Result slim = *r; /* a shallow copy: r keeps what it frees */
	slim.n_items = 0;
	slim.items = NULL;
	slim.n_holds = 0;
	slim.holds = NULL;
	slim.order = NULL;
	slim.has_views_omitted = true;
	slim.views_omitted = true;
	bool is_done = sl__result__get_packed_size(&slim) <= res->len; /* it only shrinks */
	if (is_done)
		res->len = sl__result__pack(&slim, res->data);
	sl__result__free_unpacked(r, NULL);
	return is_done;
}

/* result_refuse replaces the read result in *res by a LIMIT_EXCEEDED refusal. */
static void result_refuse(sl_buf *res, size_t reply_len)
{
	char msg[200];
	snprintf(msg, sizeof(msg),
	         "this read's result is %zu bytes: with the others the reply would be %zu, over "
	         "the transport's %u; ask for fewer or smaller pages in one request",
	         res->len, reply_len, SL_TRANSPORT_BYTES_MAX);
	Sl__Error e = SL__ERROR__INIT;
	e.code = (char *)sl_err_name(SL_ERR_LIMIT_EXCEEDED);
	e.message = msg;
	Sl__Result r = SL__RESULT__INIT;
	r.error = &e;
	if (sl_buf_reserve(res, sl__result__get_packed_size(&r)) == SL_OK)
		res->len = sl__result__pack(&r, res->data);
}

/* reply_fit keeps a reply within what the transport carries, largest results first: a
 * write is applied, so its result stays, without its views (views_omitted); a read is
 * refused LIMIT_EXCEEDED on its own. Its neighbours keep their results. */
static void reply_fit(work *w)
{
	/* each result's field costs at most 6 bytes more than its bytes (a tag and a length) */
	size_t total = 16, budget = SL_TRANSPORT_BYTES_MAX;
	for (size_t i = 0; i < w->n_cmds; i++)
		total += w->results[i].len + 6;
	bool *is_fit = NULL;
	while (total > budget) {
		if (is_fit == NULL && (is_fit = calloc(w->n_cmds, sizeof(*is_fit))) == NULL)
			return; /* the whole reply is refused below, as before */
		size_t big = w->n_cmds;
		for (size_t i = 0; i < w->n_cmds; i++)
			if (!is_fit[i] &&
			    (big == w->n_cmds || w->results[i].len > w->results[big].len))
				big = i;
		if (big == w->n_cmds)
			break;
		is_fit[big] = true;
		size_t before = w->results[big].len;
		if (!w->slots[big].is_write || !result_slim(&w->results[big]))
			result_refuse(&w->results[big], total);
		total = total - before + w->results[big].len;
	}
	free(is_fit);
}

static void work_finish(work *w)
{
	SL_ASSERT(atomic_load(&w->state) == WORK_WAIT);
	reply_fit(w);
	sl_err rc = gw_response_encode(w->results, w->n_cmds, &w->reply);
	gw_commands_free(w->cmds, w->n_cmds);
	w->cmds = NULL;
	sl_error_info err;
	memset(&err, 0, sizeof(err));
	if (rc != SL_OK) {
		sl_error_set(&err, rc, "cannot encode the reply: %s", sl_strerror(rc));
		gw_response_error(&err, &w->reply);
	} else if (w->reply.len > SL_TRANSPORT_BYTES_MAX) {
		/* a client takes no more (it would wait for a reply that never comes) */
		sl_error_set(&err, SL_ERR_LIMIT_EXCEEDED,
		             "the reply would be %zu bytes, over the transport's %u: ask for fewer "
		             "or smaller pages in one request",
		             w->reply.len, SL_TRANSPORT_BYTES_MAX);
		gw_response_error(&err, &w->reply);
	}
	work_send(w, &w->reply);
}

/* work_result_cb runs on the service's reply thread (writes, ordered reads), the feed's
 * thread (a change-feed read that waited) or the submitting thread (other reads). The
 * last result sends the reply from here, so the work is in use until this returns, after
 * the state has left WAIT: in_result_cb tells gw_server_stop to wait for that too. */
static void work_result_cb(void *arg, const uint8_t *result, size_t len)
{
	slot *sl = arg;
	work *w = sl->w;
	atomic_fetch_add(&w->in_result_cb, 1);
	if (sl_buf_set(&w->results[sl->index], result, len) != SL_OK)
		w->results[sl->index].len = 0;
	if (atomic_fetch_sub(&w->pending, 1) == 1)
		work_finish(w);
	atomic_fetch_sub(&w->in_result_cb, 1);
}

static void work_request(work *w, nng_msg *msg)
{
	sl_error_info err;
	sl_err rc = gw_request_decode(nng_msg_body(msg), nng_msg_len(msg), w->srv->default_location,
	                              &w->cmds, &w->n_cmds, &err);
	nng_msg_free(msg);
	/* WAIT before is_draining is read (gw_server_stop stores is_draining, then reads the
	 * states): either this request sees the drain, or the stopper sees it in WAIT and waits
	 * for its reply. Every path below moves the state on (work_send, work_finish). */
	atomic_store(&w->state, WORK_WAIT);
	if (rc == SL_OK && atomic_load(&w->srv->is_draining)) {
		gw_commands_free(w->cmds, w->n_cmds);
		rc = sl_error_set(&err, SL_ERR_UNAVAILABLE, "the service is shutting down");
	}
	if (rc != SL_OK) {
		w->cmds = NULL;
		w->n_cmds = 0;
		gw_response_error(&err, &w->reply);
		work_send(w, &w->reply);
		return;
	}
	atomic_store(&w->pending, w->n_cmds + 1);
	size_t rows = 0, not_taken = 0;
	sl_err door = SL_OK; /* a command was not taken: neither are the ones after it */
	bool after_write = false;
	for (size_t i = 0; i < w->n_cmds; i++) {
		w->slots[i].w = w;
		w->slots[i].index = i;
		w->slots[i].is_write = sl_cmd_is_write(w->cmds[i].type);
		w->results[i].len = 0;
		if (door != SL_OK) {
			char why[160];
			snprintf(why, sizeof(why),
			         "command %zu of this request was not taken (%s): send it and the "
			         "ones after it again",
			         not_taken + 1, sl_err_name(door));
			gw_service_refuse(&w->cmds[i], work_result_cb, &w->slots[i], door, why);
			continue;
		}
		rows += gw_command_read_rows(&w->cmds[i]);
		if (rows > SL_REQUEST_READ_ROWS_MAX) {
			char why[160];
			/* BUSY, not LIMIT_EXCEEDED: the command alone is fine, and a client that
			 * sends it again with what follows (the bridge does) gets it served */
			snprintf(
			    why, sizeof(why),
			    "the reads of this request would return more than %d rows together: "
			    "send command %zu and the ones after it again, in another request",
			    SL_REQUEST_READ_ROWS_MAX, i + 1);
			gw_service_refuse(&w->cmds[i], work_result_cb, &w->slots[i], SL_ERR_BUSY,
			                  why);
			continue;
		}
		/* the commands of a request are decided one after the other: a read after a
		 * write of the request is queued behind it, to see it */
		bool is_write = sl_cmd_is_write(w->cmds[i].type);
		sl_err taken =
		    !is_write && after_write
		        ? gw_service_submit_ordered(w->srv->svc, &w->cmds[i], work_result_cb,
		                                    &w->slots[i])
		        : gw_service_submit(w->srv->svc, &w->cmds[i], work_result_cb, &w->slots[i]);
		after_write = after_write || is_write;
		if (taken != SL_OK) {
			door = taken;
			not_taken = i;
		}
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
			work_recv(w);
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
		work_recv(w);
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

sl_err gw_listen_url_check(const char *url, char *why, size_t why_size)
{
	nng_url *u = NULL;
	int rv = nng_url_parse(&u, url);
	if (rv != 0) {
		snprintf(why, why_size, "'%s' is no URL: %s", url, nng_strerror(rv));
		return SL_ERR_INVALID_ARGUMENT;
	}
	sl_err rc = SL_OK;
	bool is_tcp = strcmp(u->u_scheme, "tcp") == 0 || strcmp(u->u_scheme, "tcp4") == 0 ||
	              strcmp(u->u_scheme, "tcp6") == 0;
	if (is_tcp) {
		const char *p = u->u_port;
		int64_t port = -1;
		bool is_port = p != NULL && p[0] != '\0' && strspn(p, "0123456789") == strlen(p) &&
		               sl_parse_i64(p, &port) == SL_OK && port <= 65535;
		if (!is_port) {
			snprintf(why, why_size, "'%s' has no port number (tcp://HOST:PORT)", url);
			rc = SL_ERR_INVALID_ARGUMENT;
		}
	} else if (strcmp(u->u_scheme, "ipc") != 0) {
		snprintf(why, why_size, "'%s': listen on tcp://HOST:PORT or ipc:///PATH", url);
		rc = SL_ERR_INVALID_ARGUMENT;
	}
	nng_url_free(u);
	return rc;
}

sl_err gw_server_start(gw_service *svc, const char *url, const char *default_location,
                       gw_server **out, char *errbuf, size_t errbuf_size)
{
	int rv;
	gw_server *srv = calloc(1, sizeof(*srv));
	if (srv == NULL)
		return SL_ERR_NOMEM;
	srv->svc = svc;
	if (pthread_mutex_init(&srv->close_mu, NULL) != 0) {
		free(srv);
		return SL_ERR_NOMEM;
	}
	if (pthread_cond_init(&srv->close_cond, NULL) != 0) {
		pthread_mutex_destroy(&srv->close_mu);
		free(srv);
		return SL_ERR_NOMEM;
	}
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
	if ((rv = nng_listen(srv->sock, url, &srv->listener, 0)) != 0) {
		snprintf(errbuf, errbuf_size, "cannot listen on '%s': %s", url, nng_strerror(rv));
		goto fail;
	}
	for (size_t i = 0; i < srv->n_works; i++)
		work_recv(srv->works[i]);
	*out = srv;
	return SL_OK;
nomem:
	snprintf(errbuf, errbuf_size, "cannot start server: out of memory");
fail:
	gw_server_stop(srv);
	return rv == NNG_EADDRINUSE ? SL_ERR_UNAVAILABLE : SL_ERR_INVALID_ARGUMENT;
}

sl_err gw_server_url(const gw_server *srv, char *buf, size_t n)
{
	SL_ASSERT(n > 0);
	char *url = NULL;
	int rv = nng_listener_get_string(srv->listener, NNG_OPT_URL, &url);
	if (rv != 0)
		return rv == NNG_ENOMEM ? SL_ERR_NOMEM : SL_ERR_INVALID_ARGUMENT;
	size_t len = strlen(url);
	sl_err rc = len < n ? SL_OK : SL_ERR_LIMIT_EXCEEDED;
	if (rc == SL_OK)
		memcpy(buf, url, len + 1);
	nng_strfree(url);
	return rc;
}

/* works_wait_idle waits until no request of srv is with the writer and no result callback
 * is still using its work (state first: a callback counts itself in before it moves the
 * state out of WAIT). */
static void works_wait_idle(gw_server *srv)
{
	for (size_t i = 0; i < srv->n_works; i++) {
		while (atomic_load(&srv->works[i]->state) == WORK_WAIT ||
		       atomic_load(&srv->works[i]->in_result_cb) > 0) {
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
	}
}

static void server_free(gw_server *srv)
{
	for (size_t i = 0; i < srv->n_works; i++)
		work_free(srv->works[i]);
	pthread_cond_destroy(&srv->close_cond);
	pthread_mutex_destroy(&srv->close_mu);
	free(srv);
}

/* server_close_main closes srv's socket; if gw_server_stop has stopped waiting by then, it
 * frees srv (nng_aio_free, in work_free, waits for callbacks still running). */
static void *server_close_main(void *arg)
{
	gw_server *srv = arg;
	nng_close(srv->sock);
	pthread_mutex_lock(&srv->close_mu);
	srv->is_closed = true;
	bool is_abandoned = srv->is_abandoned;
	pthread_cond_signal(&srv->close_cond);
	pthread_mutex_unlock(&srv->close_mu);
	if (is_abandoned)
		server_free(srv);
	return NULL;
}

/* server_close closes srv's socket within SL_SERVER_CLOSE_MS_MAX. Returns true when the
 * socket is closed (srv is the caller's to free), false when the close goes on on its own
 * thread, which then owns srv. */
static bool server_close(gw_server *srv)
{
	pthread_t thread;
	if (pthread_create(&thread, NULL, server_close_main, srv) != 0) {
		nng_close(srv->sock); /* no thread: close here, unbounded */
		return true;
	}
	struct timespec deadline;
	sl_deadline_after_ms(&deadline, SL_SERVER_CLOSE_MS_MAX);
	pthread_mutex_lock(&srv->close_mu);
	while (!srv->is_closed &&
	       pthread_cond_timedwait(&srv->close_cond, &srv->close_mu, &deadline) == 0)
		;
	bool is_closed = srv->is_closed;
	srv->is_abandoned = !is_closed;
	pthread_mutex_unlock(&srv->close_mu);
	if (is_closed) {
		pthread_join(thread, NULL);
		return true;
	}
	pthread_detach(thread);
	fprintf(stderr,
	        "stockledgerd: the socket did not close within %d ms (nng close race); "
	        "stopping without waiting for it\n",
	        SL_SERVER_CLOSE_MS_MAX);
	return false;
}

/*
 * Stopping, in four steps: (1) drain: new requests are answered UNAVAILABLE; (2) wait for
 * the requests already with the writer, whose replies go out; (3) stop: no thread may enter
 * nng on a context any more; wait for those inside to leave; (4) close the socket (parked
 * receives end with ECLOSED), bounded by SL_SERVER_CLOSE_MS_MAX, and free the works
 * (nng_aio_free waits for running callbacks).
 */
void gw_server_stop(gw_server *srv)
{
	if (srv == NULL)
		return;
	atomic_store(&srv->is_draining, true);
	gw_service_feed_flush(srv->svc); /* parked change-feed reads answer now */
	works_wait_idle(srv);
	atomic_store(&srv->is_stopping, true);
	while (atomic_load(&srv->in_nng) > 0) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	works_wait_idle(srv);
	if (srv->is_open && !server_close(srv))
		return; /* the closing thread owns srv now */
	server_free(srv);
}

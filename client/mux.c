/*
 * mux.c: many requests in flight on one connection, and coalescing of concurrent commands
 * (see mux.h). Each REQ context is a slot running this state machine (after nng's
 * demo/async/client pattern):
 *
 *            slot_run: a batch is pending: encode, ctx_send
 *   IDLE --------------------------------------------------> SEND
 *    ^  ^                                                      | sent: ctx_recv
 *    |  |  slot_run: nothing pending                           v
 *    |  +---------------------------------------------------- RECV
 *    |      reply (or failure) delivered to each command's done callback, then slot_run
 *    |
 *    +-- submit finds an idle slot: the submitting thread runs slot_run itself
 *
 * Invariant: a command waits in the pending FIFO only while every slot is busy, since a
 * submit that finds an idle slot sends at once; a busy slot looks at the FIFO each time its
 * reply arrives. So a lone command is never held back, and under load each free slot
 * carries everything that piled up behind it in one request. The FIFO and the idle stack
 * are guarded by the mux lock; a slot's batch belongs to the slot while it is busy.
 *
 * A command's timeout runs from its submission: one still in the FIFO at its deadline is
 * failed UNAVAILABLE unsent (when the service is gone each request waits its whole timeout
 * for a connection, and a command queued behind n others would otherwise wait n timeouts).
 */
#include "client/mux.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/banned.h"
#include "base/sl_limits.h"
#include "base/sl_util.h"
#include "client/client.h"
#include "client/close.h"

#define MUX_TIMEOUT_MS_DEFAULT 10000
/* Room for the tag and length of one command inside a Request. */
#define MUX_FRAME_BYTES 11

typedef struct mux_entry {
	sl_buf bytes; /* an encoded Command, or a whole raw request */
	bool is_raw;
	sl_mux_done_fn done;
	sl_mux_raw_fn raw_done;
	void *arg;
	nng_time deadline; /* submitted + timeout_ms: not sent by then, it fails UNAVAILABLE */
} mux_entry;

typedef enum slot_state { SLOT_IDLE, SLOT_SEND, SLOT_RECV } slot_state;

typedef struct mux_slot {
	sl_mux *m;
	nng_ctx ctx;
	nng_aio *aio;
	slot_state state;
	bool is_expired; /* the batch waited in the FIFO past its deadline: fail it, unsent */
	size_t n;
	mux_entry *entries[SL_REQUEST_COMMANDS_MAX];
	Sl__Result *results[SL_REQUEST_COMMANDS_MAX];
	sl_buf req;
	char why[128];
} mux_slot;

struct sl_mux {
	nng_socket sock;
	bool has_sock;
	int timeout_ms;
	bool is_coalescing;
	pthread_mutex_t lock;
	pthread_cond_t all_idle;
	bool is_closing;
	mux_entry **pending; /* ring of SL_CLIENT_PENDING_MAX */
	size_t p_head, p_len;
	mux_slot *slots;
	size_t n_slots;
	mux_slot **idle; /* stack of idle slots */
	size_t n_idle;
	sl_mux_stats stats;
};

static void entry_free(mux_entry *e)
{
	if (e == NULL)
		return;
	sl_buf_fini(&e->bytes);
	free(e);
}

static void entry_deliver(mux_entry *e, sl_err rc, Sl__Result *result, const uint8_t *reply,
                          size_t len)
{
	if (e->is_raw)
		e->raw_done(e->arg, rc, reply, len);
	else
		e->done(e->arg, rc, result);
	entry_free(e);
}

static void slot_fail(mux_slot *s, sl_err rc)
{
	for (size_t i = 0; i < s->n; i++)
		entry_deliver(s->entries[i], rc, NULL, NULL, 0);
	s->n = 0;
}

/* batch_take moves what the slot may carry from the FIFO into it: the entries at its head
 * that are past their deadline (s->is_expired), or else a batch to send. Lock held. */
static size_t batch_take(sl_mux *m, mux_slot *s)
{
	size_t bytes = 0;
	nng_time now = nng_clock();
	s->n = 0;
	s->is_expired = m->p_len > 0 && m->pending[m->p_head]->deadline <= now;
	while (m->p_len > 0 && s->n < SL_REQUEST_COMMANDS_MAX) {
		mux_entry *e = m->pending[m->p_head];
		if ((e->deadline <= now) != s->is_expired)
			break;
		if (s->n > 0 && !s->is_expired &&
		    (e->is_raw || !m->is_coalescing ||
		     bytes + e->bytes.len + MUX_FRAME_BYTES > SL_REQUEST_BYTES_MAX))
			break;
		bytes += e->bytes.len + MUX_FRAME_BYTES;
		s->entries[s->n++] = e;
		m->pending[m->p_head] = NULL;
		m->p_head = (m->p_head + 1) % SL_CLIENT_PENDING_MAX;
		m->p_len--;
		if (e->is_raw && !s->is_expired)
			break;
	}
	if (s->n > 0 && !s->is_expired) {
		m->stats.requests++;
		if (!s->entries[0]->is_raw) {
			m->stats.commands += s->n;
			if (s->n > m->stats.commands_per_request_max)
				m->stats.commands_per_request_max = s->n;
		}
	}
	return s->n;
}

/* slot_send encodes the slot's batch and starts sending it. */
static sl_err slot_send(mux_slot *s)
{
	sl_err rc = SL_OK;
	if (s->entries[0]->is_raw) {
		rc = sl_buf_set(&s->req, s->entries[0]->bytes.data, s->entries[0]->bytes.len);
	} else {
		s->req.len = 0;
		for (size_t i = 0; i < s->n && rc == SL_OK; i++)
			rc = sl_client_request_append(&s->req, s->entries[i]->bytes.data,
			                              s->entries[i]->bytes.len);
	}
	if (rc != SL_OK)
		return rc;
	nng_msg *msg;
	if (nng_msg_alloc(&msg, s->req.len) != 0)
		return SL_ERR_NOMEM;
	memcpy(nng_msg_body(msg), s->req.data, s->req.len);
	s->state = SLOT_SEND;
	nng_aio_set_msg(s->aio, msg);
	nng_aio_set_timeout(s->aio, s->m->timeout_ms);
	nng_ctx_send(s->ctx, s->aio);
	return SL_OK;
}

/* slot_run sends what is pending on s, or returns s to the idle stack. */
static void slot_run(mux_slot *s)
{
	sl_mux *m = s->m;
	for (;;) {
		pthread_mutex_lock(&m->lock);
		if (batch_take(m, s) == 0) {
			s->state = SLOT_IDLE;
			m->idle[m->n_idle++] = s;
			if (m->n_idle == m->n_slots)
				pthread_cond_broadcast(&m->all_idle);
			pthread_mutex_unlock(&m->lock);
			return;
		}
		bool is_closing = m->is_closing;
		pthread_mutex_unlock(&m->lock);
		if (is_closing || s->is_expired) {
			slot_fail(s, SL_ERR_UNAVAILABLE);
			continue;
		}
		sl_err rc = slot_send(s);
		if (rc == SL_OK)
			return;
		slot_fail(s, rc);
	}
}

static void slot_reply(mux_slot *s, nng_msg *msg)
{
	const uint8_t *body = nng_msg_body(msg);
	size_t len = nng_msg_len(msg);
	if (s->entries[0]->is_raw) {
		entry_deliver(s->entries[0], SL_OK, NULL, body, len);
		s->n = 0;
		return;
	}
	sl_err rc = sl_client_results_decode(body, len, s->n, s->results, s->why, sizeof(s->why));
	if (rc != SL_OK) {
		slot_fail(s, rc);
		return;
	}
	for (size_t i = 0; i < s->n; i++)
		entry_deliver(s->entries[i], SL_OK, s->results[i], NULL, 0);
	s->n = 0;
}

static void slot_cb(void *arg)
{
	mux_slot *s = arg;
	int rv = nng_aio_result(s->aio);
	if (s->state == SLOT_SEND) {
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(s->aio));
			slot_fail(s, rv == NNG_ENOMEM ? SL_ERR_NOMEM : SL_ERR_UNAVAILABLE);
			slot_run(s);
			return;
		}
		s->state = SLOT_RECV;
		nng_aio_set_timeout(s->aio, s->m->timeout_ms);
		nng_ctx_recv(s->ctx, s->aio);
		return;
	}
	SL_ASSERT(s->state == SLOT_RECV);
	if (rv != 0) {
		slot_fail(s, rv == NNG_ENOMEM ? SL_ERR_NOMEM : SL_ERR_UNAVAILABLE);
	} else {
		nng_msg *msg = nng_aio_get_msg(s->aio);
		slot_reply(s, msg);
		nng_msg_free(msg);
	}
	slot_run(s);
}

/* enqueue hands e to the FIFO and, if a slot is idle, sends at once on this thread. */
static sl_err enqueue(sl_mux *m, mux_entry *e)
{
	pthread_mutex_lock(&m->lock);
	if (m->is_closing || m->p_len == SL_CLIENT_PENDING_MAX) {
		sl_err rc = m->is_closing ? SL_ERR_UNAVAILABLE : SL_ERR_BUSY;
		pthread_mutex_unlock(&m->lock);
		entry_free(e);
		return rc;
	}
	e->deadline = nng_clock() + (nng_time)m->timeout_ms;
	m->pending[(m->p_head + m->p_len) % SL_CLIENT_PENDING_MAX] = e;
	m->p_len++;
	mux_slot *s = m->n_idle > 0 ? m->idle[--m->n_idle] : NULL;
	if (s != NULL)
		s->state = SLOT_SEND; /* taken: not idle while we fill it */
	pthread_mutex_unlock(&m->lock);
	if (s != NULL)
		slot_run(s);
	return SL_OK;
}

sl_err sl_mux_submit(sl_mux *m, const Sl__Command *cmd, sl_mux_done_fn done, void *arg)
{
	mux_entry *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return SL_ERR_NOMEM;
	sl_buf_init(&e->bytes);
	sl_err rc = sl_client_command_encode(cmd, &e->bytes);
	if (rc != SL_OK) {
		entry_free(e);
		return rc;
	}
	e->done = done;
	e->arg = arg;
	return enqueue(m, e);
}

sl_err sl_mux_submit_raw(sl_mux *m, const uint8_t *data, size_t len, sl_mux_raw_fn done, void *arg)
{
	if (len > SL_REQUEST_BYTES_MAX)
		return SL_ERR_LIMIT_EXCEEDED;
	mux_entry *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return SL_ERR_NOMEM;
	sl_buf_init(&e->bytes);
	if (sl_buf_set(&e->bytes, data, len) != SL_OK) {
		entry_free(e);
		return SL_ERR_NOMEM;
	}
	e->is_raw = true;
	e->raw_done = done;
	e->arg = arg;
	return enqueue(m, e);
}

typedef struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool is_done;
	sl_err rc;
	Sl__Result *result;
	sl_buf *reply;
} waiter;

static void waiter_init(waiter *w)
{
	memset(w, 0, sizeof(*w));
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
}

static void waiter_signal(waiter *w)
{
	pthread_mutex_lock(&w->lock);
	w->is_done = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static sl_err waiter_wait(waiter *w, sl_err submitted)
{
	if (submitted == SL_OK) {
		pthread_mutex_lock(&w->lock);
		while (!w->is_done)
			pthread_cond_wait(&w->cond, &w->lock);
		pthread_mutex_unlock(&w->lock);
	}
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	return submitted != SL_OK ? submitted : w->rc;
}

static void waiter_done_cb(void *arg, sl_err rc, Sl__Result *result)
{
	waiter *w = arg;
	w->rc = rc;
	w->result = result;
	waiter_signal(w);
}

static void waiter_raw_cb(void *arg, sl_err rc, const uint8_t *reply, size_t len)
{
	waiter *w = arg;
	w->rc = rc == SL_OK ? sl_buf_set(w->reply, reply, len) : rc;
	waiter_signal(w);
}

sl_err sl_mux_command(sl_mux *m, const Sl__Command *cmd, Sl__Result **out)
{
	waiter w;
	waiter_init(&w);
	sl_err rc = waiter_wait(&w, sl_mux_submit(m, cmd, waiter_done_cb, &w));
	if (rc == SL_OK)
		*out = w.result;
	return rc;
}

sl_err sl_mux_raw(sl_mux *m, const uint8_t *data, size_t len, sl_buf *reply)
{
	waiter w;
	waiter_init(&w);
	w.reply = reply;
	return waiter_wait(&w, sl_mux_submit_raw(m, data, len, waiter_raw_cb, &w));
}

void sl_mux_stats_get(sl_mux *m, sl_mux_stats *out)
{
	pthread_mutex_lock(&m->lock);
	*out = m->stats;
	pthread_mutex_unlock(&m->lock);
}

void sl_mux_close(sl_mux *m)
{
	if (m == NULL)
		return;
	/* Requests already sent get their answers (or time out): closing a socket while its
	 * connection still carries requests and replies is what makes nng 1.5.2's close hang
	 * (client/close.h), and a command that was sent is better answered than left unknown.
	 * What waits in the FIFO is failed UNAVAILABLE by the slots as they come free. Then the
	 * close, bounded all the same. */
	pthread_mutex_lock(&m->lock);
	m->is_closing = true;
	while (m->n_idle < m->n_slots)
		pthread_cond_wait(&m->all_idle, &m->lock);
	pthread_mutex_unlock(&m->lock);
	if (m->has_sock)
		(void)sl_nng_close_within(m->sock, SL_CLIENT_CLOSE_MS_MAX);
	SL_ASSERT(m->p_len == 0);
	for (size_t i = 0; i < m->n_slots; i++) {
		/* nng_aio_free waits for a callback still returning from slot_run. */
		if (m->slots[i].aio != NULL)
			nng_aio_free(m->slots[i].aio);
		sl_buf_fini(&m->slots[i].req);
	}
	free(m->pending);
	free(m->slots);
	free(m->idle);
	pthread_cond_destroy(&m->all_idle);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

sl_err sl_mux_open(const char *url, const sl_mux_config *cfg, sl_mux **out, char *why,
                   size_t why_size)
{
	char scratch[8];
	if (why == NULL || why_size == 0) {
		why = scratch;
		why_size = sizeof(scratch);
	}
	unsigned contexts =
	    cfg != NULL && cfg->contexts > 0 ? cfg->contexts : SL_CLIENT_CONTEXTS_DEFAULT;
	if (contexts > SL_CLIENT_CONTEXTS_MAX) {
		snprintf(why, why_size, "%u contexts: at most %d", contexts,
		         SL_CLIENT_CONTEXTS_MAX);
		return SL_ERR_INVALID_ARGUMENT;
	}
	sl_mux *m = calloc(1, sizeof(*m));
	if (m == NULL) {
		snprintf(why, why_size, "cannot open connection: out of memory");
		return SL_ERR_NOMEM;
	}
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->all_idle, NULL);
	m->timeout_ms =
	    cfg != NULL && cfg->timeout_ms > 0 ? cfg->timeout_ms : MUX_TIMEOUT_MS_DEFAULT;
	m->is_coalescing = cfg != NULL && cfg->is_coalescing;
	m->pending = calloc(SL_CLIENT_PENDING_MAX, sizeof(*m->pending));
	m->slots = calloc(contexts, sizeof(*m->slots));
	m->idle = calloc(contexts, sizeof(*m->idle));
	int rv = NNG_ENOMEM;
	if (m->pending == NULL || m->slots == NULL || m->idle == NULL) {
		snprintf(why, why_size, "cannot open connection: out of memory");
		goto fail;
	}
	if ((rv = nng_req0_open(&m->sock)) != 0) {
		snprintf(why, why_size, "cannot open socket: %s", nng_strerror(rv));
		goto fail;
	}
	m->has_sock = true;
	nng_socket_set_size(m->sock, NNG_OPT_RECVMAXSZ, SL_TRANSPORT_BYTES_MAX);
	for (size_t i = 0; i < contexts; i++) {
		mux_slot *s = &m->slots[i];
		s->m = m;
		sl_buf_init(&s->req);
		m->idle[m->n_idle++] = s;
		m->n_slots++;
		if ((rv = nng_aio_alloc(&s->aio, slot_cb, s)) != 0 ||
		    (rv = nng_ctx_open(&s->ctx, m->sock)) != 0 ||
		    (rv = nng_ctx_set_ms(s->ctx, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE)) !=
		        0) {
			snprintf(why, why_size, "cannot open context: %s", nng_strerror(rv));
			goto fail;
		}
	}
	if ((rv = nng_dial(m->sock, url, NULL, 0)) != 0) {
		snprintf(why, why_size, "cannot connect: %s", nng_strerror(rv));
		goto fail;
	}
	*out = m;
	return SL_OK;
fail:
	sl_mux_close(m);
	return rv == NNG_ENOMEM                           ? SL_ERR_NOMEM
	       : rv == NNG_EADDRINVAL || rv == NNG_EINVAL ? SL_ERR_INVALID_ARGUMENT
	                                                  : SL_ERR_UNAVAILABLE;
}

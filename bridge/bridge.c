/*
 * bridge.c: stockledger-bridge (see bridge.h and docs/bridge.md). The one file that includes
 * <nats/nats.h>, and the bridge's one caller of the generated protobuf-c functions.
 *
 * The commands thread keeps one invariant: a message is acknowledged only once the ledger
 * has answered its command with a result that is final (applied, replayed or refused for a
 * reason that resending cannot change), and after that result was handed to NATS. A batch
 * is sent in stream order as one request, and batches one after the other; a fetch thread
 * fetches the next batch while the commands thread has one at the ledger (a slot of one
 * batch; MaxAckPending = two batches), so the ledger sees the stream's order.
 *
 *   fetch ──> decode ──> send ──> results ──> publish result, ack
 *               │          ▲         │
 *               │          └─────────┘ the first transient result (UNAVAILABLE, BUSY,
 *               │                      STORAGE, NOMEM, or no reply): that command and the
 *               │                      ones after it are sent again, with their keys (one
 *               │                      at a time after a refusal of the whole request)
 *               └──> not a Command: MALFORMED result, terminate (never redelivered)
 *
 * The events thread keeps another: the events stream holds the ledger's events 1..n (or
 * from..n) in seq order, each once. It reads the change feed a page at a time and publishes
 * each event asynchronously with the expectation that the stream's last sequence is the one
 * the event before it got (Nats-Expected-Last-Sequence); a publication that fails makes every
 * later one of the page fail too, so what the stream holds stays a prefix, and the thread
 * starts again after the last event the stream holds. A bridge starting, or reconnected to
 * NATS, with unacknowledged commands waits one ack wait before fetching, so that those are
 * redelivered before newer ones (commands_wait_for_redelivery).
 */
#include "bridge/bridge.h"
#include "bridge/streams.h"

#include <inttypes.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/banned.h"
#include "base/sl_buf.h"
#include "base/sl_limits.h"
#include "base/sl_pbtext.h"
#include "base/sl_util.h"
#include "bridge/pbjson.h"
#include "client/args.h"
#include "client/client.h"

#define NAME_MAX_BYTES 256
#define MSG_ID_BYTES 32

struct sl_bridge {
	sl_bridge_config cfg;
	char service_url[NAME_MAX_BYTES * 4];
	char nats_url[NAME_MAX_BYTES * 4];
	char commands_stream[NAME_MAX_BYTES];
	char commands_subject[NAME_MAX_BYTES];
	char durable[NAME_MAX_BYTES];
	char events_stream[NAME_MAX_BYTES];
	char events_subject[NAME_MAX_BYTES];

	natsConnection *nc;
	jsCtx *js_commands;
	jsCtx *js_events;
	natsSubscription *sub;
	int64_t commands_created_ns; /* the commands stream's creation: part of derived keys */

	pthread_t commands_thread, fetch_thread, events_thread;
	bool is_commands_running, is_events_running;
	pthread_mutex_t lock;
	pthread_cond_t wake; /* signalled when stopping: ends the threads' pauses */
	bool is_stopping;    /* under lock */

	/* the batch fetched ahead while the one before it is at the ledger (one slot) */
	pthread_mutex_t slot_lock;
	pthread_cond_t slot_cond; /* the slot filled or emptied, or the fetcher ended */
	natsMsgList slot;
	bool has_slot, is_fetch_done;
	bool is_busy; /* the commands thread has a batch (under slot_lock) */

	atomic_uint_fast64_t n_commands, n_malformed, n_retries, n_events, n_resyncs;
	atomic_uint_fast64_t n_batches;
	atomic_int publish_failures; /* async publications refused since the last drain */
	atomic_int failed_rc;        /* the error that stopped a job for good (SL_OK: none) */

	/* the events thread's (set up by sl_bridge_open) */
	sl_client *events_cl;
	uint64_t events_next;        /* the seq the stream expects next */
	uint64_t events_stream_last; /* the stream's last sequence (0: never written) */
	uint64_t events_unconfirmed; /* published, not yet confirmed by the stream */
	bool has_events_from;        /* --events-from was given */
	natsStatistics *stats;       /* fetch thread only: for reconnects_of */
	uint32_t batches_answered;   /* commands thread only: for fault_exit_before_ack */
	uint32_t batches_seen;       /* fetch thread only: for fault_lose_fetch */
	uint32_t
	    batches_fetched; /* commands thread only: batches it took, for fault_exit_before_send */
};

static sl_err publisher_resync(sl_bridge *b);

static void why_set(char *why, size_t why_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void why_set(char *why, size_t why_size, const char *fmt, ...)
{
	if (why == NULL || why_size == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, why_size, fmt, ap);
	va_end(ap);
}

static bool bridge_is_stopping(sl_bridge *b)
{
	pthread_mutex_lock(&b->lock);
	bool is_stopping = b->is_stopping;
	pthread_mutex_unlock(&b->lock);
	return is_stopping;
}

/* bridge_pause_ms waits ms or until the bridge stops; returns whether it is stopping. */
static bool bridge_pause_ms(sl_bridge *b, int ms)
{
	struct timespec until;
	sl_deadline_after_ms(&until, ms);
	pthread_mutex_lock(&b->lock);
	while (!b->is_stopping && pthread_cond_timedwait(&b->wake, &b->lock, &until) == 0) {
	}
	bool is_stopping = b->is_stopping;
	pthread_mutex_unlock(&b->lock);
	return is_stopping;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *nats_why(natsStatus s, const char *text)
{
	return text != NULL && text[0] != '\0' ? text : natsStatus_GetText(s);
}

/* ---- setup ---- */

static sl_err copy_name(char *dst, size_t size, const char *src, const char *dflt, const char *what,
                        char *why, size_t why_size)
{
	const char *v = src != NULL && src[0] != '\0' ? src : dflt;
	if (v == NULL || v[0] == '\0' || sl_strlcpy(dst, v, size) >= size) {
		why_set(why, why_size, "%s is missing or longer than the bridge allows", what);
		return SL_ERR_INVALID_ARGUMENT;
	}
	return SL_OK;
}

/* stream_ensure returns the info of stream, creating it over subject first if it does not
 * exist (retention: a work queue for commands, limits for events). */
static sl_err stream_ensure(jsCtx *js, const char *stream, const char *subject,
                            jsRetentionPolicy retention, jsStreamInfo **out, char *why,
                            size_t why_size)
{
	jsErrCode jerr = 0;
	natsStatus s = js_GetStreamInfo(out, js, stream, NULL, &jerr);
	if (s == NATS_OK)
		return SL_OK;
	if (s != NATS_NOT_FOUND) {
		why_set(why, why_size, "cannot read JetStream stream '%s': %s", stream,
		        nats_why(s, nats_GetLastError(NULL)));
		return SL_ERR_UNAVAILABLE;
	}
	return sl_bridge_stream_add(js, stream, subject, retention, 0, out, why, why_size);
}

sl_err sl_bridge_stream_add(jsCtx *js, const char *name, const char *subject,
                            jsRetentionPolicy retention, int64_t duplicates_ns, jsStreamInfo **out,
                            char *why, size_t why_size)
{
	jsStreamConfig sc;
	jsStreamConfig_Init(&sc);
	const char *subjects[1] = {subject};
	sc.Name = name;
	sc.Subjects = subjects;
	sc.SubjectsLen = 1;
	sc.Retention = retention;
	sc.Storage = js_FileStorage;
	sc.Duplicates = duplicates_ns;
	jsErrCode jerr = 0;
	natsStatus s = js_AddStream(out, js, &sc, NULL, &jerr);
	if (s != NATS_OK) {
		why_set(why, why_size, "cannot create JetStream stream '%s': %s", name,
		        nats_why(s, nats_GetLastError(NULL)));
		return SL_ERR_UNAVAILABLE;
	}
	return SL_OK;
}

static sl_err bridge_config(sl_bridge *b, const sl_bridge_config *cfg, char *why, size_t why_size)
{
	b->cfg = *cfg;
	sl_err rc = copy_name(b->service_url, sizeof(b->service_url), cfg->service_url, NULL,
	                      "the ledger's url", why, why_size);
	if (rc == SL_OK)
		rc = copy_name(b->nats_url, sizeof(b->nats_url), cfg->nats_url, NULL,
		               "the NATS url", why, why_size);
	if (rc == SL_OK)
		rc = copy_name(b->commands_stream, sizeof(b->commands_stream), cfg->commands_stream,
		               SL_BRIDGE_COMMANDS_STREAM, "the commands stream", why, why_size);
	if (rc == SL_OK)
		rc = copy_name(b->commands_subject, sizeof(b->commands_subject),
		               cfg->commands_subject, SL_BRIDGE_COMMANDS_SUBJECT,
		               "the commands subject", why, why_size);
	if (rc == SL_OK)
		rc = copy_name(b->durable, sizeof(b->durable), cfg->durable, SL_BRIDGE_DURABLE,
		               "the durable name", why, why_size);
	if (rc == SL_OK)
		rc = copy_name(b->events_stream, sizeof(b->events_stream), cfg->events_stream,
		               SL_BRIDGE_EVENTS_STREAM, "the events stream", why, why_size);
	if (rc == SL_OK)
		rc = copy_name(b->events_subject, sizeof(b->events_subject), cfg->events_subject,
		               SL_BRIDGE_EVENTS_SUBJECT, "the events subject", why, why_size);
	if (rc != SL_OK)
		return rc;
	if (b->cfg.batch == 0)
		b->cfg.batch = SL_BRIDGE_BATCH_DEFAULT;
	if (b->cfg.ack_wait_ms == 0)
		b->cfg.ack_wait_ms = SL_BRIDGE_ACK_WAIT_MS_DEFAULT;
	b->has_events_from = b->cfg.events_from > 0;
	if (b->cfg.events_from == 0)
		b->cfg.events_from = 1;
	if (b->cfg.batch > SL_BRIDGE_BATCH_MAX || b->cfg.ack_wait_ms < 100 ||
	    b->cfg.timeout_ms < 0) {
		why_set(why, why_size, "batch must be 1..%d and the ack wait at least 100 ms",
		        SL_BRIDGE_BATCH_MAX);
		return SL_ERR_INVALID_ARGUMENT;
	}
	if (!b->cfg.is_commands && !b->cfg.is_events) {
		why_set(why, why_size, "nothing to do: neither commands nor events");
		return SL_ERR_INVALID_ARGUMENT;
	}
	b->cfg.service_url = b->service_url;
	b->cfg.nats_url = b->nats_url;
	return SL_OK;
}

static sl_err commands_bind(sl_bridge *b, char *why, size_t why_size)
{
	jsStreamInfo *si = NULL;
	sl_err rc = stream_ensure(b->js_commands, b->commands_stream, b->commands_subject,
	                          js_WorkQueuePolicy, &si, why, why_size);
	if (rc != SL_OK)
		return rc;
	b->commands_created_ns = si->Created;
	jsStreamInfo_Destroy(si);
	/* the consumer is made (or brought to this run's ack wait and batch) before binding to
	 * it, so that a bridge restarted with other options does not fail to bind */
	jsConsumerConfig cc;
	jsConsumerConfig_Init(&cc);
	cc.Durable = b->durable;
	cc.FilterSubject = b->commands_subject;
	cc.AckPolicy = js_AckExplicit;
	cc.AckWait = (int64_t)b->cfg.ack_wait_ms * 1000000;
	cc.MaxAckPending = 2 * (int64_t)b->cfg.batch; /* the batch at the ledger, the next */
	cc.DeliverPolicy = js_DeliverAll;
	jsConsumerInfo *ci = NULL;
	jsErrCode cerr = 0;
	natsStatus cs =
	    js_GetConsumerInfo(&ci, b->js_commands, b->commands_stream, b->durable, NULL, &cerr);
	if (cs == NATS_OK)
		cs = ci->Config->AckWait == cc.AckWait &&
		             ci->Config->MaxAckPending == cc.MaxAckPending
		         ? NATS_OK
		         : js_UpdateConsumer(NULL, b->js_commands, b->commands_stream, &cc, NULL,
		                             &cerr);
	else if (cs == NATS_NOT_FOUND)
		cs = js_AddConsumer(NULL, b->js_commands, b->commands_stream, &cc, NULL, &cerr);
	jsConsumerInfo_Destroy(ci);
	if (cs != NATS_OK) {
		why_set(why, why_size, "cannot set up the durable consumer '%s': %s", b->durable,
		        nats_why(cs, nats_GetLastError(NULL)));
		return SL_ERR_UNAVAILABLE;
	}
	jsSubOptions so;
	jsSubOptions_Init(&so);
	so.Stream = b->commands_stream;
	so.Consumer = b->durable;
	jsErrCode jerr = 0;
	natsStatus s = js_PullSubscribe(&b->sub, b->js_commands, b->commands_subject, b->durable,
	                                NULL, &so, &jerr);
	if (s != NATS_OK) {
		why_set(why, why_size, "cannot bind the durable consumer '%s': %s", b->durable,
		        nats_why(s, nats_GetLastError(NULL)));
		return SL_ERR_UNAVAILABLE;
	}
	return SL_OK;
}

/* reconnects_of: how many times the connection to NATS was re-established (fetch thread:
 * b->stats is made before it starts). */
static uint64_t reconnects_of(sl_bridge *b)
{
	uint64_t n = 0;
	if (natsConnection_GetStats(b->nc, b->stats) == NATS_OK)
		natsStatistics_GetCounts(b->stats, NULL, NULL, NULL, NULL, &n);
	return n;
}

static void publish_err_cb(jsCtx *js, jsPubAckErr *pae, void *closure)
{
	(void)js;
	(void)pae;
	sl_bridge *b = closure;
	atomic_fetch_add(&b->publish_failures, 1);
}

sl_err sl_bridge_open(const sl_bridge_config *cfg, sl_bridge **out, char *why, size_t why_size)
{
	sl_bridge *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return SL_ERR_NOMEM;
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->wake, NULL);
	pthread_mutex_init(&b->slot_lock, NULL);
	pthread_cond_init(&b->slot_cond, NULL);
	sl_err rc = bridge_config(b, cfg, why, why_size);
	if (rc != SL_OK)
		goto fail;
	/* the ledger must answer before the bridge takes anything off the bus */
	sl_client *probe = NULL;
	char cause[160] = "";
	rc = sl_client_open_why(b->service_url, b->cfg.timeout_ms, &probe, cause, sizeof(cause));
	if (rc != SL_OK) {
		why_set(why, why_size, "cannot reach the ledger at '%s': %s", b->service_url,
		        cause);
		goto fail;
	}
	sl_client_close(probe);

	natsOptions *no = NULL;
	natsStatus s = natsOptions_Create(&no);
	if (s == NATS_OK)
		s = natsOptions_SetURL(no, b->nats_url);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(no, -1); /* ride out a restart of the server */
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(no, 250);
	if (s == NATS_OK)
		s = natsConnection_Connect(&b->nc, no);
	natsOptions_Destroy(no);
	if (s != NATS_OK) {
		why_set(why, why_size, "cannot connect to NATS at '%s': %s", b->nats_url,
		        nats_why(s, nats_GetLastError(NULL)));
		rc = SL_ERR_UNAVAILABLE;
		goto fail;
	}
	jsOptions jo;
	jsOptions_Init(&jo);
	if (natsConnection_JetStream(&b->js_commands, b->nc, &jo) != NATS_OK) {
		rc = SL_ERR_NOMEM;
		goto fail;
	}
	jsOptions_Init(&jo);
	jo.PublishAsync.ErrHandler = publish_err_cb;
	jo.PublishAsync.ErrHandlerClosure = b;
	jo.PublishAsync.MaxPending = SL_BRIDGE_EVENTS_PAGES_IN_FLIGHT * SL_BRIDGE_EVENTS_PAGE_MAX;
	if (natsConnection_JetStream(&b->js_events, b->nc, &jo) != NATS_OK) {
		rc = SL_ERR_NOMEM;
		goto fail;
	}
	if (b->cfg.is_commands && (rc = commands_bind(b, why, why_size)) != SL_OK)
		goto fail;
	if (b->cfg.is_events) {
		jsStreamInfo *si = NULL;
		rc = stream_ensure(b->js_events, b->events_stream, b->events_subject,
		                   js_LimitsPolicy, &si, why, why_size);
		if (rc != SL_OK)
			goto fail;
		jsStreamInfo_Destroy(si);
		rc = publisher_resync(b);
		if (rc != SL_OK) {
			if (rc == SL_ERR_INVALID_ARGUMENT)
				why_set(why, why_size,
				        "the last message of stream '%s' is no event of a "
				        "ledger",
				        b->events_stream);
			else
				why_set(why, why_size,
				        "cannot read the last message of stream '%s'",
				        b->events_stream);
			goto fail;
		}
	}
	*out = b;
	return SL_OK;
fail:
	sl_bridge_close(b);
	return rc;
}

/* ---- commands ---- */

/* One fetched message and what the bridge made of it. */
typedef struct inbound {
	natsMsg *msg;
	Sl__Command *cmd; /* decoded, its key pointing at key; NULL if refused */
	char *own_key;    /* the key protobuf-c decoded (put back before the command is freed) */
	char key[SL_KEY_MAX + 1];
	size_t bytes; /* encoded size of cmd with its key */
	uint64_t stream_seq;
	sl_err refusal; /* why the ledger will not see it (SL_OK: it will) */
	const char *refusal_message;
	bool is_json;         /* a JSON body (Content-Type: application/json): answered in JSON */
	const char *reply_to; /* SL-Reply-To when it names a subject a result may go to */
	char why[256];        /* what a JSON body got wrong */
	bool is_done;         /* answered (final) and acknowledged, or terminated */
} inbound;

static bool code_is_transient(const char *code)
{
	return code != NULL && (strcmp(code, "UNAVAILABLE") == 0 || strcmp(code, "BUSY") == 0 ||
	                        strcmp(code, "STORAGE") == 0 || strcmp(code, "NOMEM") == 0);
}

/* inbound_key gives the command the idempotency key derived from its message, unless the
 * publisher gave one: the Nats-Msg-Id (hashed when long), else the stream's creation time
 * and the stream sequence, which no other message of any incarnation of the stream has;
 * and asks the ledger to keep refusals under it (Command.keep_refusal). */
static void inbound_key(sl_bridge *b, inbound *in)
{
	const char *msg_id = NULL;
	/* a refusal is as final as a success: a redelivered message is answered the same,
	 * not decided again against what the messages after it did */
	in->cmd->has_keep_refusal = true;
	in->cmd->keep_refusal = true;
	if (in->cmd->key != NULL && in->cmd->key[0] != '\0') {
		/* the publisher's own (one over SL_KEY_MAX is sent as it is, for the ledger to
		 * refuse; only the copy named in the result's headers is cut) */
		sl_strlcpy(in->key, in->cmd->key, sizeof(in->key));
		return;
	}
	if (natsMsgHeader_Get(in->msg, "Nats-Msg-Id", &msg_id) == NATS_OK && msg_id != NULL &&
	    msg_id[0] != '\0') {
		if (strlen(msg_id) <= SL_BRIDGE_MSG_ID_KEY_MAX) {
			snprintf(in->key, sizeof(in->key), "nats-msg-id:%s", msg_id);
		} else {
			unsigned char h[32];
			char hex[65];
			sl_sha256(msg_id, strlen(msg_id), NULL, 0, h);
			sl_hex(h, sizeof(h), hex);
			snprintf(in->key, sizeof(in->key), "nats-msg-id-sha256:%s", hex);
		}
	} else {
		snprintf(in->key, sizeof(in->key), "nats:%.64s:%" PRId64 ":%" PRIu64,
		         b->commands_stream, b->commands_created_ns, in->stream_seq);
	}
	in->own_key = in->cmd->key;
	in->cmd->key = in->key;
}

static void error_publish(sl_bridge *b, inbound *in, sl_err code, const char *message,
                          uint64_t seq);

/* command_is_write: does c change the ledger (else it reads)? */
static bool command_is_write(const Sl__Command *c)
{
	switch (c->body_case) {
	case SL__COMMAND__BODY_CREATE:
	case SL__COMMAND__BODY_UPDATE:
	case SL__COMMAND__BODY_DELETE:
	case SL__COMMAND__BODY_INCREMENT:
	case SL__COMMAND__BODY_DECREMENT:
	case SL__COMMAND__BODY_SET_SETTINGS:
	case SL__COMMAND__BODY_PLACE_ORDER:
	case SL__COMMAND__BODY_PAY_ORDER:
	case SL__COMMAND__BODY_PAYMENT_FAILED:
	case SL__COMMAND__BODY_CANCEL_ORDER:
	case SL__COMMAND__BODY_REFUND_ORDER:
	case SL__COMMAND__BODY_EDIT_ORDER:
		return true;
	default:
		return false;
	}
}

/* result_send publishes r, the final result of in's command, to its reply subject (if it
 * has one), encoded as the command was: protobuf, or JSON (bridge/pbjson.h); is_slim: r is
 * a write's result without its views, marked so (SL-Omitted). */
static void result_send(sl_bridge *b, inbound *in, const Sl__Result *r, const char *code,
                        uint64_t seq, bool is_slim)
{
	const char *reply_to = in->reply_to;
	if (reply_to == NULL)
		return;
	sl_buf out;
	sl_buf_init(&out);
	char *json = NULL;
	const char *res = NULL;
	size_t len = 0;
	if (in->is_json) {
		json = sl_pbjson_print(&r->base);
		res = json;
		len = json != NULL ? strlen(json) : 0;
	} else if (sl_buf_reserve(&out, sl__result__get_packed_size(r)) == SL_OK) {
		out.len = sl__result__pack(r, out.data);
		res = (const char *)out.data;
		len = out.len;
	}
	if (res == NULL) {
		fprintf(
		    stderr,
		    "stockledger-bridge: out of memory encoding the result of stream seq %" PRIu64
		    "\n",
		    in->stream_seq);
		sl_buf_fini(&out);
		return;
	}
	int64_t payload_max = natsConnection_GetMaxPayload(b->nc);
	if (payload_max > 0 && len + SL_BRIDGE_HEADERS_BYTES_MAX > (uint64_t)payload_max &&
	    r->error == NULL) {
		/* NATS would refuse it, and the publisher would wait for nothing */
		free(json);
		sl_buf_fini(&out);
		if (!is_slim && in->cmd != NULL && command_is_write(in->cmd)) {
			/* applied all the same (a retry would replay this answer): OK, slim */
			Sl__Result slim = *r;
			slim.n_items = 0;
			slim.items = NULL;
			slim.order = NULL;
			slim.n_holds = 0;
			slim.holds = NULL;
			result_send(b, in, &slim, code, seq, true);
			return;
		}
		char why[200];
		snprintf(why, sizeof(why),
		         "the result is %zu bytes, over what the bus carries in a message (%" PRId64
		         " with its headers): ask for smaller pages",
		         len, payload_max);
		error_publish(b, in, SL_ERR_LIMIT_EXCEEDED, why, seq);
		return;
	}
	natsMsg *m = NULL;
	natsStatus cs = natsMsg_Create(&m, reply_to, NULL, res, (int)len);
	free(json);
	sl_buf_fini(&out);
	if (cs != NATS_OK)
		return;
	if (in->is_json)
		natsMsgHeader_Set(m, "Content-Type", "application/json");
	char num[24], sseq[24];
	snprintf(num, sizeof(num), "%" PRIu64, seq);
	snprintf(sseq, sizeof(sseq), "%" PRIu64, in->stream_seq);
	natsMsgHeader_Set(m, SL_BRIDGE_HDR_CODE, code);
	natsMsgHeader_Set(m, SL_BRIDGE_HDR_STREAM_SEQ, sseq);
	if (in->key[0] != '\0') {
		natsMsgHeader_Set(m, SL_BRIDGE_HDR_KEY, in->key);
		/* a result stream keeps one copy of a result published again after a crash */
		natsMsgHeader_Set(m, "Nats-Msg-Id", in->key);
	}
	if (seq > 0)
		natsMsgHeader_Set(m, SL_BRIDGE_HDR_SEQ, num);
	if (is_slim || (r->has_views_omitted && r->views_omitted)) /* by the bus, or the ledger */
		natsMsgHeader_Set(m, SL_BRIDGE_HDR_OMITTED, "items,order");
	natsStatus s = natsConnection_PublishMsg(b->nc, m);
	if (s != NATS_OK)
		fprintf(stderr,
		        "stockledger-bridge: cannot publish the result of stream seq %" PRIu64
		        " to '%s': %s\n",
		        in->stream_seq, reply_to, natsStatus_GetText(s));
	natsMsg_Destroy(m);
}

/* result_publish publishes r; a result larger than NATS carries is refused LIMIT_EXCEEDED
 * for a read (its publisher asks for smaller pages), and a write's goes out OK without its
 * item and order views (header SL-Omitted): the write is applied all the same, and its
 * retry would replay the same answer. */
static void result_publish(sl_bridge *b, inbound *in, const Sl__Result *r, const char *code,
                           uint64_t seq)
{
	result_send(b, in, r, code, seq, false);
}

/* error_publish publishes a result that is only the error code and message. */
static void error_publish(sl_bridge *b, inbound *in, sl_err code, const char *message, uint64_t seq)
{
	Sl__Error e = SL__ERROR__INIT;
	e.code = (char *)sl_err_name(code);
	e.message = (char *)message;
	Sl__Result r = SL__RESULT__INIT;
	r.error = &e;
	result_publish(b, in, &r, e.code, seq);
}

/* inbound_refuse answers a message the ledger does not see (not a Command, too large, a
 * reply too large to carry): the result goes out and the message is terminated, so it is
 * not delivered again. */
static void inbound_refuse(sl_bridge *b, inbound *in, sl_err code, const char *message)
{
	error_publish(b, in, code, message, 0);
	natsMsg_Term(in->msg, NULL);
	in->is_done = true;
	atomic_fetch_add(&b->n_malformed, 1);
}

static void inbound_mark(inbound *in, sl_err code, const char *message)
{
	in->refusal = code;
	in->refusal_message = message;
}

/* content_type_is_json: "application/json", in any case, alone or with parameters. */
static bool content_type_is_json(const char *type)
{
	static const char json[] = "application/json";
	size_t n = sizeof(json) - 1;
	return strncasecmp(type, json, n) == 0 &&
	       (type[n] == '\0' || type[n] == ';' || type[n] == ' ');
}

/* subject_matches: does subject fall under pattern (NATS tokens: '*' one, '>' the rest)? */
static bool subject_matches(const char *pattern, const char *subject)
{
	const char *p = pattern, *t = subject;
	for (;;) {
		size_t pl = strcspn(p, "."), tl = strcspn(t, ".");
		if (pl == 1 && p[0] == '>')
			return true;
		if (!(pl == 1 && p[0] == '*') && (pl != tl || strncmp(p, t, pl) != 0))
			return false;
		p += pl;
		t += tl;
		if (*p == '\0' || *t == '\0')
			return *p == '\0' && *t == '\0';
		p++;
		t++;
	}
}

/* reply_to_check: NULL if subject may receive a result, else why not. A result is published
 * with the bridge's own permissions, so it goes only to a plain subject (printable tokens,
 * no wildcard, bounded), never into the system's namespaces ('$': JetStream's API, where a
 * JSON result can read as a purge request) nor into the bridge's own streams (a result in
 * the events stream breaks its prefix of the log). */
static const char *reply_to_check(const sl_bridge *b, const char *subject)
{
	size_t n = strlen(subject);
	if (n > SL_BRIDGE_REPLY_TO_MAX)
		return "it is longer than a reply subject may be (255 bytes)";
	if (subject[0] == '$')
		return "it is in the system's namespace ('$')";
	for (const char *t = subject;; t++) {
		size_t len = strcspn(t, ".");
		if (len == 0)
			return "it has an empty token";
		for (size_t i = 0; i < len; i++)
			if (t[i] <= ' ' || t[i] > '~' || t[i] == '*' || t[i] == '>')
				return "it holds a wildcard, a space or a byte that is no "
				       "printable ASCII";
		t += len;
		if (*t == '\0')
			break;
	}
	if (subject_matches(b->events_subject, subject) ||
	    subject_matches(b->commands_subject, subject))
		return "it is a subject of the bridge's own streams";
	return NULL;
}

/* inbound_decode decodes the message's command and gives it its key, or marks why the
 * ledger will not see it (answered in its turn, so that results keep the stream's order). */
static void inbound_decode(sl_bridge *b, inbound *in)
{
	/* JSON is known first: every answer to a JSON body is JSON, a refusal too */
	const char *type = NULL;
	in->is_json = natsMsgHeader_Get(in->msg, "Content-Type", &type) == NATS_OK &&
	              type != NULL && content_type_is_json(type);
	jsMsgMetaData *meta = NULL;
	if (natsMsg_GetMetaData(&meta, in->msg) != NATS_OK) {
		/* a fetched message always has it: without a stream sequence no key is derived */
		inbound_mark(in, SL_ERR_INTERNAL, "the message has no JetStream metadata");
		return;
	}
	in->stream_seq = meta->Sequence.Stream;
	jsMsgMetaData_Destroy(meta);
	const char *reply_to = NULL;
	if (natsMsgHeader_Get(in->msg, SL_BRIDGE_HDR_REPLY_TO, &reply_to) == NATS_OK &&
	    reply_to != NULL && reply_to[0] != '\0') {
		const char *bad = reply_to_check(b, reply_to);
		if (bad != NULL) {
			/* no answer can go there: the operator is told, the message dropped */
			fprintf(stderr,
			        "stockledger-bridge: stream seq %" PRIu64
			        " refused: its %s header is no subject a result may go to: %s\n",
			        in->stream_seq, SL_BRIDGE_HDR_REPLY_TO, bad);
			snprintf(in->why, sizeof(in->why),
			         "the %s header is no subject a result may go to: %s",
			         SL_BRIDGE_HDR_REPLY_TO, bad);
			inbound_mark(in, SL_ERR_INVALID_ARGUMENT, in->why);
			return;
		}
		in->reply_to = reply_to;
	}
	const char *data = natsMsg_GetData(in->msg);
	int len = natsMsg_GetDataLength(in->msg);
	if (len < 0 || (size_t)len > SL_REQUEST_BYTES_MAX) {
		inbound_mark(in, SL_ERR_LIMIT_EXCEEDED,
		             "the message is larger than a request may be (1 MiB)");
		return;
	}
	if (in->is_json) {
		char why[200];
		in->cmd = (Sl__Command *)sl_pbjson_parse(&sl__command__descriptor, data,
		                                         (size_t)len, why, sizeof(why));
		if (in->cmd == NULL) {
			snprintf(in->why, sizeof(in->why), "the JSON body is not a Command: %s",
			         why);
			inbound_mark(in, SL_ERR_MALFORMED, in->why);
			return;
		}
	} else {
		in->cmd = sl__command__unpack(NULL, (size_t)len, (const uint8_t *)data);
	}
	if (in->cmd == NULL) {
		inbound_mark(in, SL_ERR_MALFORMED,
		             "the message is not a Command of proto/stockledger.proto");
		return;
	}
	in->own_key = in->cmd->key;
	char field[32];
	if (!in->is_json && !sl_pbtext_check(&sl__command__descriptor, (const uint8_t *)data,
	                                     (size_t)len, field, sizeof(field))) {
		/* decoded, the string would be cut at its NUL or passed on as stray bytes */
		snprintf(in->why, sizeof(in->why),
		         "%s is not text: a NUL inside, or bytes that are not UTF-8", field);
		inbound_mark(in, SL_ERR_INVALID_ARGUMENT, in->why);
		return;
	}
	if (in->cmd->body_case == SL__COMMAND__BODY__NOT_SET) {
		inbound_mark(in, SL_ERR_UNKNOWN_COMMAND,
		             "the message holds no command this service knows");
		return;
	}
	inbound_key(b, in);
	in->bytes = sl__command__get_packed_size(in->cmd);
	if (in->bytes + 8 > SL_REQUEST_BYTES_MAX)
		inbound_mark(in, SL_ERR_LIMIT_EXCEEDED,
		             "the command with its key is larger than a request may be (1 MiB)");
}

/* inbound_free frees what inbound_decode decoded. */
static void inbound_free(inbound *in)
{
	if (in->cmd == NULL)
		return;
	in->cmd->key = in->own_key;
	sl__command__free_unpacked(in->cmd, NULL);
	in->cmd = NULL;
}

/* inbound_answer publishes a final result and acknowledges its message. */
static void inbound_answer(sl_bridge *b, inbound *in, const Sl__Result *r, const Sl__Error *env)
{
	Sl__Result wrapped = SL__RESULT__INIT;
	if (r == NULL) {
		wrapped.error = (Sl__Error *)env;
		r = &wrapped;
	}
	const char *code = r->error != NULL && r->error->code != NULL ? r->error->code : "OK";
	result_publish(b, in, r, code, r->has_seq ? r->seq : 0);
	natsMsg_Ack(in->msg, NULL);
	in->is_done = true;
	atomic_fetch_add(&b->n_commands, 1);
}

/* commands_keep_alive tells the stream that the messages of a batch the ledger has not
 * answered yet are still being worked on, so that they are not redelivered meanwhile. */
static void commands_keep_alive(sl_bridge *b, inbound *ins, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!ins[i].is_done)
			natsMsg_InProgress(ins[i].msg, NULL);
	pthread_mutex_lock(&b->slot_lock); /* and the batch fetched ahead, waiting */
	for (int i = 0; b->has_slot && i < b->slot.Count; i++)
		natsMsg_InProgress(b->slot.Msgs[i], NULL);
	pthread_mutex_unlock(&b->slot_lock);
}

/* What became of one request: */
typedef enum send_outcome {
	SEND_DONE,     /* every message of the range answered */
	SEND_AGAIN,    /* transient: send again from *again */
	SEND_SPLIT,    /* the request as a whole was refused or got no reply: one at a time */
	SEND_NO_REPLY, /* a lone command got no reply: the ledger is down, or its reply is
	                * too large to carry */
} send_outcome;

static sl_err ledger_call(sl_bridge *b, sl_client **cl, Sl__Command **cmds, size_t n,
                          Sl__Response **resp)
{
	sl_err rc = SL_OK;
	if (*cl == NULL) {
		char cause[160] = "";
		rc =
		    sl_client_open_why(b->service_url, b->cfg.timeout_ms, cl, cause, sizeof(cause));
	}
	if (rc == SL_OK) {
		Sl__Request req = SL__REQUEST__INIT;
		req.n_commands = n;
		req.commands = cmds;
		rc = sl_client_call(*cl, &req, resp);
		if (rc != SL_OK) {
			sl_client_close(*cl);
			*cl = NULL;
		}
	}
	return rc;
}

/* ledger_answers tells whether the ledger answers a head read (it is up and reachable). */
static bool ledger_answers(sl_bridge *b, sl_client **cl)
{
	Sl__GetHead h = SL__GET_HEAD__INIT;
	Sl__Command c = SL__COMMAND__INIT, *cmds[1] = {&c};
	c.body_case = SL__COMMAND__BODY_HEAD;
	c.head = &h;
	Sl__Response *resp = NULL;
	if (ledger_call(b, cl, cmds, 1, &resp) != SL_OK)
		return false;
	bool is_up = resp->error == NULL;
	sl__response__free_unpacked(resp, NULL);
	return is_up;
}

/* commands_send sends the commands of ins[from..to) that are not done as one request and,
 * in the stream's order, answers what the ledger decided for good and refuses what it will
 * not see; it stops at the first transient result (*again: where to start again). */
static send_outcome commands_send(sl_bridge *b, sl_client **cl, inbound *ins, size_t from,
                                  size_t to, size_t *again)
{
	size_t n = 0;
	Sl__Command *cmds[SL_BRIDGE_BATCH_MAX];
	for (size_t i = from; i < to; i++)
		if (!ins[i].is_done && ins[i].refusal == SL_OK)
			cmds[n++] = ins[i].cmd;
	Sl__Response *resp = NULL;
	if (n > 0) {
		if (ledger_call(b, cl, cmds, n, &resp) != SL_OK) {
			*again = from;
			return n > 1 ? SEND_SPLIT : SEND_NO_REPLY;
		}
		if (b->cfg.fault_exit_before_ack > 0 &&
		    ++b->batches_answered >= b->cfg.fault_exit_before_ack) {
			fprintf(stderr,
			        "stockledger-bridge: injected fault: exit before acknowledging\n");
			_exit(SL_BRIDGE_FAULT_EXIT_STATUS);
		}
		if (resp->error != NULL && code_is_transient(resp->error->code)) {
			sl__response__free_unpacked(resp, NULL);
			*again = from;
			return SEND_AGAIN;
		}
		if (resp->error != NULL ? n > 1 : resp->n_results != n) {
			/* refused as a whole for one command's sake (the gateway checks every
			 * command's line count for the envelope): find out which, one at a time */
			sl__response__free_unpacked(resp, NULL);
			*again = from;
			return n > 1 ? SEND_SPLIT : SEND_AGAIN;
		}
	}
	send_outcome out = SEND_DONE;
	size_t k = 0;
	for (size_t i = from; i < to && out == SEND_DONE; i++) {
		inbound *in = &ins[i];
		if (in->is_done)
			continue;
		if (in->refusal != SL_OK) {
			inbound_refuse(b, in, in->refusal, in->refusal_message);
			continue;
		}
		const Sl__Result *r = resp->error != NULL ? NULL : resp->results[k];
		k++; /* resp is not NULL: in was sent */
		if (r != NULL && r->error != NULL && code_is_transient(r->error->code)) {
			*again = i;
			out = SEND_AGAIN;
		} else {
			inbound_answer(b, in, r, resp->error);
		}
	}
	if (resp != NULL)
		sl__response__free_unpacked(resp, NULL);
	return out;
}

/* commands_range picks the messages of the next request from ins[from..n): at most
 * per_request commands and SL_REQUEST_BYTES_MAX bytes (and the refused messages among and
 * after them); returns the end of the range. */
static size_t commands_range(const inbound *ins, size_t from, size_t n, size_t per_request)
{
	size_t to = from, bytes = 0, cmds = 0;
	for (; to < n; to++) {
		const inbound *in = &ins[to];
		if (in->is_done || in->refusal != SL_OK)
			continue;
		if (cmds > 0 &&
		    (cmds == per_request || bytes + in->bytes + 8 > SL_REQUEST_BYTES_MAX))
			break;
		bytes += in->bytes + 8;
		cmds++;
	}
	return to;
}

/* commands_hand_back naks the messages of a batch that is not sent: the next bridge gets
 * them at once, in the stream's order. */
static void commands_hand_back(natsMsg **msgs, int count)
{
	for (int i = 0; i < count; i++)
		natsMsg_Nak(msgs[i], NULL);
}

/* commands_batch answers a fetched batch in order until every message is done or the
 * bridge stops (a batch that is retrying then gets one more attempt at once). A request
 * refused as a whole, or left without a reply, is sent again one command at a time; a lone
 * read whose reply does not come while the ledger answers is refused LIMIT_EXCEEDED (its
 * reply is larger than the transport carries). Writes are never given up: they are sent
 * again until the ledger decides them. Returns false if messages were handed back (nak):
 * then no later batch may be sent, or it would be decided before them. */
static bool commands_batch(sl_bridge *b, sl_client **cl, natsMsg **msgs, int count)
{
	inbound *ins;
	/* not handed back when memory is short: the batch fetched ahead would overtake it */
	while ((ins = calloc((size_t)count, sizeof(*ins))) == NULL) {
		if (bridge_pause_ms(b, 100)) {
			commands_hand_back(msgs, count);
			return false;
		}
	}
	for (int i = 0; i < count; i++) {
		ins[i].msg = msgs[i];
		inbound_decode(b, &ins[i]);
	}
	if (b->cfg.fault_exit_before_send > 0 &&
	    ++b->batches_fetched >= b->cfg.fault_exit_before_send) {
		fprintf(stderr, "stockledger-bridge: injected fault: exit before sending\n");
		_exit(SL_BRIDGE_FAULT_EXIT_STATUS);
	}
	size_t from = 0, n = (size_t)count, per_request = SL_BRIDGE_BATCH_MAX;
	int pause_ms = 50;
	int64_t alive_ms = now_ms();
	while (from < n) {
		bool is_last_attempt = bridge_is_stopping(b);
		if (now_ms() - alive_ms >= b->cfg.ack_wait_ms / 3) {
			commands_keep_alive(b, ins + from, n - from);
			alive_ms = now_ms();
		}
		size_t to = commands_range(ins, from, n, per_request), again = to;
		send_outcome o = commands_send(b, cl, ins, from, to, &again);
		if (o == SEND_DONE) {
			from = to;
			pause_ms = 50;
			continue;
		}
		if (o == SEND_SPLIT) {
			per_request = 1;
			continue;
		}
		if (o == SEND_NO_REPLY) {
			inbound *lone = &ins[from];
			while (lone->is_done || lone->refusal != SL_OK)
				lone++;
			if (!command_is_write(lone->cmd) && ledger_answers(b, cl)) {
				inbound_refuse(
				    b, lone, SL_ERR_LIMIT_EXCEEDED,
				    "no reply came while the ledger answers: the reply is "
				    "larger than the transport carries (8 MiB)");
				continue;
			}
		}
		/* the ledger is unavailable, busy or cannot write: keep the messages, try again */
		from = again;
		atomic_fetch_add(&b->n_retries, 1);
		if (is_last_attempt)
			break;
		if (bridge_pause_ms(b, pause_ms))
			continue; /* stopping: once more at once, the last attempt */
		pause_ms =
		    pause_ms * 2 > SL_BRIDGE_RETRY_MS_MAX ? SL_BRIDGE_RETRY_MS_MAX : pause_ms * 2;
	}
	bool is_all_done = true;
	for (size_t i = 0; i < n; i++) {
		/* stopping: handed back, the next bridge gets them at once */
		if (!ins[i].is_done) {
			natsMsg_Nak(ins[i].msg, NULL);
			is_all_done = false;
		}
		inbound_free(&ins[i]);
	}
	free(ins);
	return is_all_done;
}

/* commands_consumer_is_gone tells whether JetStream says the consumer no longer exists
 * (not merely that it cannot be reached). */
static bool commands_consumer_is_gone(sl_bridge *b)
{
	jsConsumerInfo *ci = NULL;
	jsErrCode jerr = 0;
	natsStatus s =
	    js_GetConsumerInfo(&ci, b->js_commands, b->commands_stream, b->durable, NULL, &jerr);
	jsConsumerInfo_Destroy(ci);
	return s == NATS_NOT_FOUND || jerr == JSConsumerNotFoundErr || jerr == JSStreamNotFoundErr;
}

/* commands_wait_for_redelivery keeps the stream's order across a crash: messages delivered
 * to a bridge that died are redelivered only once their ack wait has passed, and a fetch
 * before that would take newer messages first (there is room under MaxAckPending). So when
 * the consumer has unacknowledged messages at start, the first fetch waits one ack wait:
 * by then they wait for redelivery, which JetStream serves before new messages. since says
 * where they come from, for the message ("an earlier run", "before the reconnection"). */
static void commands_wait_for_redelivery(sl_bridge *b, const char *since)
{
	jsConsumerInfo *ci = NULL;
	jsErrCode jerr = 0;
	if (js_GetConsumerInfo(&ci, b->js_commands, b->commands_stream, b->durable, NULL, &jerr) !=
	    NATS_OK)
		return;
	int64_t pending = ci->NumAckPending;
	jsConsumerInfo_Destroy(ci);
	if (pending == 0)
		return;
	fprintf(stderr,
	        "stockledger-bridge: %" PRId64 " commands delivered %s are unacknowledged; "
	        "waiting %d ms for their redelivery, to keep the stream's order\n",
	        pending, since, b->cfg.ack_wait_ms);
	bridge_pause_ms(b, b->cfg.ack_wait_ms + 100);
}

/* slot_wait waits until the slot is free and, with is_idle_wanted, the commands thread has
 * answered what it holds too; false if the bridge stops first. */
static bool slot_wait(sl_bridge *b, bool is_idle_wanted)
{
	pthread_mutex_lock(&b->slot_lock);
	while ((b->has_slot || (is_idle_wanted && b->is_busy)) && !bridge_is_stopping(b)) {
		struct timespec until;
		sl_deadline_after_ms(&until, 100);
		pthread_cond_timedwait(&b->slot_cond, &b->slot_lock, &until);
	}
	pthread_mutex_unlock(&b->slot_lock);
	return !bridge_is_stopping(b);
}

/* fetch_after_reconnect: messages delivered while the connection was down are ack-pending on
 * the server, and must come before newer ones. Once the commands thread has answered (and
 * acknowledged) all it holds, whatever is still unacknowledged was lost in the reconnect:
 * then wait for its redelivery (commands_wait_for_redelivery). */
static void fetch_after_reconnect(sl_bridge *b)
{
	if (!slot_wait(b, true))
		return;
	natsConnection_FlushTimeout(b->nc, 1000); /* the acks reach the server first */
	commands_wait_for_redelivery(b, "before the reconnection to NATS");
}

/* fetch_main fetches the next batch while the commands thread has the one before it at the
 * ledger, and leaves it in the slot (MaxAckPending is two batches for that). */
static void *fetch_main(void *arg)
{
	sl_bridge *b = arg;
	sl_thread_name("bridge:fetch");
	bool is_noted = false;
	unsigned idle = 0;
	uint64_t reconnects = reconnects_of(b); /* the reconnections the fetches allow for */
	bool is_wait_due = false;               /* a batch was left for redelivery */
	bool is_loss_injected = false;          /* fault_lose_fetch struck */
	commands_wait_for_redelivery(b, "to an earlier run");
	while (slot_wait(b, false)) {
		/* a reconnection since the last turn, or a batch left for redelivery: wait for
		 * the redelivery first, then look again */
		uint64_t count = reconnects_of(b);
		if (is_wait_due || count != reconnects) {
			fetch_after_reconnect(b);
			reconnects = count;
			is_wait_due = false;
			continue;
		}
		natsMsgList list = {0};
		jsErrCode jerr = 0;
		natsStatus s = natsSubscription_Fetch(&list, b->sub, (int)b->cfg.batch, 500, &jerr);
		if (s == NATS_TIMEOUT && ++idle % 4 != 0)
			continue;
		/* a deleted consumer shows as fetches that time out: ask every 2 s when idle */
		if (s != NATS_OK && commands_consumer_is_gone(b)) {
			/* deleted under the bridge (with its stream, maybe): the keys derived from
			 * the stream's identity would be stale, so stop rather than go on with a
			 * new one */
			fprintf(stderr,
			        "stockledger-bridge: the consumer '%s' of stream '%s' is gone; "
			        "stopping\n",
			        b->durable, b->commands_stream);
			atomic_store(&b->failed_rc, SL_ERR_UNAVAILABLE);
			break;
		}
		if (s == NATS_TIMEOUT)
			continue;
		if (s != NATS_OK && natsConnection_IsClosed(b->nc)) {
			/* closed, not reconnecting (libnats gives up on a protocol error): nothing
			 * will come any more, so fail for good and let a supervisor start afresh */
			fprintf(
			    stderr,
			    "stockledger-bridge: the connection to NATS is closed for good (%s); "
			    "stopping\n",
			    nats_why(s, nats_GetLastError(NULL)));
			atomic_store(&b->failed_rc, SL_ERR_UNAVAILABLE);
			break;
		}
		if (s != NATS_OK) {
			if (!is_noted)
				fprintf(stderr,
				        "stockledger-bridge: cannot fetch commands: %s; retrying\n",
				        nats_why(s, nats_GetLastError(NULL)));
			is_noted = true;
			bridge_pause_ms(b, 500);
			continue;
		}
		is_noted = false;
		if (b->cfg.fault_lose_fetch > 0 && ++b->batches_seen == b->cfg.fault_lose_fetch) {
			fprintf(stderr,
			        "stockledger-bridge: injected fault: a fetched batch lost\n");
			natsMsgList_Destroy(&list);
			is_loss_injected = true;
			continue;
		}
		/* A reconnection that completed while this fetch was outstanding: messages
		 * delivered during the disconnection are lost to the bridge and redelivered only
		 * after their ack wait, and this fetch may hold newer ones. Leave them
		 * unacknowledged too: the next turn waits for the redelivery of all of them,
		 * which comes in the stream's order. libnats counts a reconnection before it
		 * subscribes again, so a message of the new connection comes after the count
		 * (a reconnected callback, run on another thread, could come later). */
		if (reconnects_of(b) != reconnects || is_loss_injected) {
			is_loss_injected = false;
			is_wait_due = true;
			fprintf(
			    stderr,
			    "stockledger-bridge: NATS reconnected during a fetch: its %d commands "
			    "are left for redelivery, to keep the stream's order\n",
			    list.Count);
			natsMsgList_Destroy(&list);
			continue;
		}
		atomic_fetch_add(&b->n_batches, 1);
		pthread_mutex_lock(&b->slot_lock);
		b->slot = list;
		b->has_slot = true;
		pthread_cond_broadcast(&b->slot_cond);
		pthread_mutex_unlock(&b->slot_lock);
	}
	pthread_mutex_lock(&b->slot_lock);
	b->is_fetch_done = true;
	pthread_cond_broadcast(&b->slot_cond);
	pthread_mutex_unlock(&b->slot_lock);
	return NULL;
}

/* commands_main answers the batches the fetcher leaves in the slot, one after the other, in
 * the order they were fetched; once stopping, what the ledger does not take at the first
 * attempt is handed back (nak). */
static void *commands_main(void *arg)
{
	sl_bridge *b = arg;
	sl_thread_name("bridge:commands");
	sl_client *cl = NULL;
	bool is_handed_back = false; /* stopping, a batch was handed back: so are the next */
	for (;;) {
		pthread_mutex_lock(&b->slot_lock);
		while (!b->has_slot && !b->is_fetch_done)
			pthread_cond_wait(&b->slot_cond, &b->slot_lock);
		if (!b->has_slot) {
			pthread_mutex_unlock(&b->slot_lock);
			break;
		}
		natsMsgList list = b->slot;
		b->has_slot = false;
		b->is_busy = true;
		pthread_cond_broadcast(&b->slot_cond);
		pthread_mutex_unlock(&b->slot_lock);
		/* stopping too: one attempt, so that a clean stop leaves nothing unacknowledged
		 * (a restarted bridge would wait an ack wait for it) unless the ledger is away;
		 * but never after a batch handed back, which it would overtake (the ledger can be
		 * back by then) */
		if (is_handed_back)
			commands_hand_back(list.Msgs, list.Count);
		else
			is_handed_back = !commands_batch(b, &cl, list.Msgs, list.Count);
		natsMsgList_Destroy(&list);
		pthread_mutex_lock(&b->slot_lock);
		b->is_busy = false;
		pthread_cond_broadcast(&b->slot_cond);
		pthread_mutex_unlock(&b->slot_lock);
	}
	sl_client_close(cl);
	return NULL;
}

/* ---- events ---- */

static void event_msg_id(uint64_t seq, char out[MSG_ID_BYTES])
{
	snprintf(out, MSG_ID_BYTES, "sl-%" PRIu64, seq);
}

/* publisher_resync reads the stream's last message and sets where to go on from. Returns
 * SL_ERR_UNAVAILABLE if the stream cannot be read, SL_ERR_INVALID_ARGUMENT if its last
 * message is no event of this bridge or it was emptied and no --events-from says where to
 * go on (with a cause on stderr). */
static sl_err publisher_resync(sl_bridge *b)
{
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s = js_GetStreamInfo(&si, b->js_events, b->events_stream, NULL, &jerr);
	if (s != NATS_OK)
		return SL_ERR_UNAVAILABLE;
	uint64_t last = si->State.LastSeq, msgs = si->State.Msgs;
	jsStreamInfo_Destroy(si);
	atomic_fetch_add(&b->n_resyncs, 1);
	atomic_store(&b->publish_failures, 0);
	b->events_unconfirmed = 0;
	b->events_stream_last = last;
	if (msgs == 0) {
		/* never written, or purged (its last sequence stays): nothing says where the
		 * events it held ended, unless the operator does */
		if (last > 0 && !b->has_events_from) {
			fprintf(
			    stderr,
			    "stockledger-bridge: stream '%s' holds no message but has held %" PRIu64
			    " (purged, or aged out): give --events-from SEQ to say where to go "
			    "on\n",
			    b->events_stream, last);
			return SL_ERR_INVALID_ARGUMENT;
		}
		b->events_next = b->cfg.events_from;
		return SL_OK;
	}
	natsMsg *m = NULL;
	s = js_GetMsg(&m, b->js_events, b->events_stream, last, NULL, &jerr);
	if (s != NATS_OK)
		return SL_ERR_UNAVAILABLE;
	const char *v = NULL;
	uint64_t seq = 0;
	sl_err rc = SL_OK;
	if (natsMsgHeader_Get(m, SL_BRIDGE_HDR_SEQ, &v) != NATS_OK || v == NULL ||
	    sl_args_u64(v, &seq) != SL_OK || seq == 0) {
		fprintf(stderr,
		        "stockledger-bridge: the last message of stream '%s' (stream seq %" PRIu64
		        ") is no event of a ledger (no %s header)\n",
		        b->events_stream, last, SL_BRIDGE_HDR_SEQ);
		rc = SL_ERR_INVALID_ARGUMENT;
	} else {
		b->events_next = seq + 1;
	}
	natsMsg_Destroy(m);
	return rc;
}

/* publisher_read asks the ledger for the events from b->events_next (waiting up to a second for
 * new ones). Returns the response, or NULL if the ledger did not answer with events. */
static Sl__Response *publisher_read(sl_bridge *b)
{
	Sl__ReadEvents body = SL__READ_EVENTS__INIT;
	body.has_from_seq = true;
	body.from_seq = b->events_next;
	body.has_limit = true;
	body.limit = SL_BRIDGE_EVENTS_PAGE_MAX;
	body.has_wait_ms = true;
	body.wait_ms = 1000;
	Sl__Command cmd = SL__COMMAND__INIT, *cmds[1] = {&cmd};
	cmd.body_case = SL__COMMAND__BODY_EVENTS;
	cmd.events = &body;
	Sl__Response *resp = NULL;
	if (ledger_call(b, &b->events_cl, cmds, 1, &resp) != SL_OK)
		return NULL;
	if (resp->error != NULL || resp->n_results != 1 || resp->results[0]->error != NULL) {
		/* a service that is stopping answers UNAVAILABLE: reconnect after a pause */
		sl__response__free_unpacked(resp, NULL);
		sl_client_close(b->events_cl);
		b->events_cl = NULL;
		return NULL;
	}
	return resp;
}

static sl_err publisher_send(sl_bridge *b, const Sl__Event *ev)
{
	size_t len = sl__event__get_packed_size(ev);
	uint8_t *data = malloc(len > 0 ? len : 1);
	if (data == NULL)
		return SL_ERR_NOMEM;
	sl__event__pack(ev, data);
	natsMsg *m = NULL;
	natsStatus s = natsMsg_Create(&m, b->events_subject, NULL, (const char *)data, (int)len);
	free(data);
	if (s != NATS_OK)
		return SL_ERR_NOMEM;
	char id[MSG_ID_BYTES], num[24];
	event_msg_id(ev->seq, id);
	snprintf(num, sizeof(num), "%" PRIu64, ev->seq);
	const ProtobufCEnumValue *t =
	    protobuf_c_enum_descriptor_get_value(&sl__event_type__descriptor, (int)ev->type);
	natsMsgHeader_Set(m, SL_BRIDGE_HDR_SEQ, num);
	natsMsgHeader_Set(m, SL_BRIDGE_HDR_TYPE, t != NULL ? t->name : "UNKNOWN");
	jsPubOptions po;
	jsPubOptions_Init(&po);
	po.MsgId = id;
	/* the stream's last sequence, which JetStream keeps across its restarts (a last msg
	 * id is kept only within the duplicate window); 0 means no expectation: the first
	 * message of a stream never written */
	po.ExpectLastSeq = b->events_stream_last;
	po.MaxWait = SL_BRIDGE_PUBLISH_WAIT_MS; /* else a publication lost in a reconnect is
	                                         * awaited for ever */
	s = js_PublishMsgAsync(b->js_events, &m, &po);
	natsMsg_Destroy(m); /* NULL once the library owns it */
	if (s != NATS_OK)
		return SL_ERR_UNAVAILABLE;
	b->events_stream_last++;
	return SL_OK;
}

/* publisher_drain waits for the stream to confirm the publications in flight (at most twice
 * SL_BRIDGE_PUBLISH_WAIT_MS) and forgets those it did not confirm, so that none is awaited
 * or reported later. Returns NATS_OK if all were confirmed in time. */
static natsStatus publisher_drain(sl_bridge *b)
{
	jsPubOptions po;
	jsPubOptions_Init(&po);
	po.MaxWait = 2 * SL_BRIDGE_PUBLISH_WAIT_MS;
	natsStatus s = js_PublishAsyncComplete(b->js_events, &po);
	natsMsgList left = {0};
	if (s != NATS_OK && js_PublishAsyncGetPendingList(&left, b->js_events) == NATS_OK)
		natsMsgList_Destroy(&left);
	return s;
}

/* publisher_page publishes the events of one page without waiting for the stream, and
 * waits for it to confirm everything in flight once SL_BRIDGE_EVENTS_PAGES_IN_FLIGHT pages
 * are, or the page was short (the feed is caught up: nothing more to overlap with). Returns
 * SL_OK, or SL_ERR_UNAVAILABLE when a publication was refused or not confirmed (the caller
 * resyncs: what the stream holds is a prefix) or the page has a gap. */
static sl_err publisher_page(sl_bridge *b, const Sl__Result *r)
{
	uint64_t next = b->events_next;
	sl_err rc = SL_OK;
	for (size_t i = 0; i < r->n_events && rc == SL_OK; i++) {
		if (r->events[i]->seq != next) {
			fprintf(stderr,
			        "stockledger-bridge: the change feed gave seq %" PRIu64
			        " where %" PRIu64 " was expected\n",
			        r->events[i]->seq, next);
			rc = SL_ERR_UNAVAILABLE;
			break;
		}
		rc = publisher_send(b, r->events[i]);
		if (rc == SL_OK) {
			b->events_unconfirmed++;
			next++;
		}
	}
	b->events_next = next;
	if (rc == SL_OK && atomic_load(&b->publish_failures) == 0 &&
	    b->events_unconfirmed < SL_BRIDGE_EVENTS_PAGES_IN_FLIGHT * SL_BRIDGE_EVENTS_PAGE_MAX &&
	    r->n_events == SL_BRIDGE_EVENTS_PAGE_MAX)
		return SL_OK;
	natsStatus s = b->events_unconfirmed > 0 ? publisher_drain(b) : NATS_OK;
	if (s != NATS_OK || atomic_exchange(&b->publish_failures, 0) > 0)
		rc = SL_ERR_UNAVAILABLE;
	if (rc == SL_OK)
		atomic_fetch_add(&b->n_events, b->events_unconfirmed);
	b->events_unconfirmed = 0;
	return rc;
}

static void *events_main(void *arg)
{
	sl_bridge *b = arg;
	sl_thread_name("bridge:events");
	bool is_synced = true; /* sl_bridge_open read where the stream ends */
	while (!bridge_is_stopping(b)) {
		if (!is_synced) {
			sl_err rc = publisher_resync(b);
			if (rc == SL_ERR_INVALID_ARGUMENT) {
				atomic_store(&b->failed_rc, rc);
				break;
			}
			if (rc != SL_OK) {
				bridge_pause_ms(b, 500);
				continue;
			}
			is_synced = true;
		}
		Sl__Response *resp = publisher_read(b);
		if (resp == NULL) {
			bridge_pause_ms(b, 250);
			continue;
		}
		if (publisher_page(b, resp->results[0]) != SL_OK) {
			/* what the stream holds is a prefix: read where it ends and go on from
			 * there */
			is_synced = false;
			bridge_pause_ms(b, 100);
		}
		sl__response__free_unpacked(resp, NULL);
	}
	sl_client_close(b->events_cl);
	b->events_cl = NULL;
	return NULL;
}

/* ---- lifecycle ---- */

sl_err sl_bridge_start(sl_bridge *b)
{
	if (b->cfg.is_commands) {
		if (b->stats == NULL && natsStatistics_Create(&b->stats) != NATS_OK)
			return SL_ERR_NOMEM;
		if (pthread_create(&b->fetch_thread, NULL, fetch_main, b) != 0)
			return SL_ERR_NOMEM;
		if (pthread_create(&b->commands_thread, NULL, commands_main, b) != 0) {
			pthread_mutex_lock(&b->lock);
			b->is_stopping = true;
			pthread_cond_broadcast(&b->wake);
			pthread_mutex_unlock(&b->lock);
			pthread_join(b->fetch_thread, NULL);
			for (int i = 0; b->has_slot && i < b->slot.Count; i++)
				natsMsg_Nak(b->slot.Msgs[i], NULL);
			if (b->has_slot)
				natsMsgList_Destroy(&b->slot);
			b->has_slot = false;
			return SL_ERR_NOMEM;
		}
		b->is_commands_running = true;
	}
	if (b->cfg.is_events) {
		if (pthread_create(&b->events_thread, NULL, events_main, b) != 0) {
			sl_bridge_stop(b);
			return SL_ERR_NOMEM;
		}
		b->is_events_running = true;
	}
	return SL_OK;
}

sl_err sl_bridge_stop(sl_bridge *b)
{
	pthread_mutex_lock(&b->lock);
	b->is_stopping = true;
	pthread_cond_broadcast(&b->wake);
	pthread_mutex_unlock(&b->lock);
	pthread_mutex_lock(&b->slot_lock);
	pthread_cond_broadcast(&b->slot_cond);
	pthread_mutex_unlock(&b->slot_lock);
	if (b->is_commands_running) {
		pthread_join(b->fetch_thread, NULL);
		pthread_join(b->commands_thread, NULL);
	}
	if (b->is_events_running)
		pthread_join(b->events_thread, NULL);
	b->is_commands_running = b->is_events_running = false;
	if (b->js_events != NULL)
		publisher_drain(b); /* no publication callback may run once b is freed */
	if (b->nc != NULL)
		natsConnection_FlushTimeout(b->nc, 2000); /* the last acks and results */
	return (sl_err)atomic_load(&b->failed_rc);
}

void sl_bridge_close(sl_bridge *b)
{
	if (b == NULL)
		return;
	if (b->is_commands_running || b->is_events_running)
		sl_bridge_stop(b);
	natsSubscription_Destroy(b->sub);
	if (b->nc != NULL)
		natsConnection_Close(b->nc);
	jsCtx_Destroy(b->js_commands);
	jsCtx_Destroy(b->js_events);
	natsConnection_Destroy(b->nc);
	if (b->stats != NULL)
		natsStatistics_Destroy(b->stats);
	pthread_cond_destroy(&b->wake);
	pthread_mutex_destroy(&b->lock);
	pthread_cond_destroy(&b->slot_cond);
	pthread_mutex_destroy(&b->slot_lock);
	free(b);
}

sl_err sl_bridge_failed(sl_bridge *b)
{
	return (sl_err)atomic_load(&b->failed_rc);
}

void sl_bridge_stats_get(sl_bridge *b, sl_bridge_stats *out)
{
	out->commands = atomic_load(&b->n_commands);
	out->batches = atomic_load(&b->n_batches);
	out->malformed = atomic_load(&b->n_malformed);
	out->retries = atomic_load(&b->n_retries);
	out->events = atomic_load(&b->n_events);
	out->resyncs = atomic_load(&b->n_resyncs);
}

void sl_bridge_library_close(void)
{
	nats_Close();
}

sl_err sl_bridge_call(const char *nats_url, const char *subject, const Sl__Command *cmd,
                      int timeout_ms, Sl__Result **out, char *why, size_t why_size)
{
	size_t len = sl__command__get_packed_size(cmd);
	if (len > SL_REQUEST_BYTES_MAX) {
		why_set(why, why_size, "the command is larger than a request may be (1 MiB)");
		return SL_ERR_LIMIT_EXCEEDED;
	}
	uint8_t *data = malloc(len > 0 ? len : 1);
	if (data == NULL) {
		why_set(why, why_size, "out of memory");
		return SL_ERR_NOMEM;
	}
	sl__command__pack(cmd, data);
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	natsInbox *inbox = NULL;
	natsSubscription *sub = NULL;
	natsMsg *m = NULL, *reply = NULL;
	sl_err rc = SL_ERR_UNAVAILABLE;
	jsErrCode jerr = 0;
	natsStatus s = natsConnection_ConnectTo(&nc, nats_url);
	if (s != NATS_OK) {
		why_set(why, why_size, "%s", nats_why(s, nats_GetLastError(NULL)));
		if (s == NATS_INVALID_ARG)
			rc = SL_ERR_INVALID_ARGUMENT;
		goto done;
	}
	/* with its headers the message must fit the server's payload limit (1 MiB by default,
	 * as a request) */
	if (len + 512 > (size_t)natsConnection_GetMaxPayload(nc)) {
		why_set(why, why_size,
		        "the command is larger than the bus carries (%" PRId64 " bytes)",
		        natsConnection_GetMaxPayload(nc));
		rc = SL_ERR_LIMIT_EXCEEDED;
		goto done;
	}
	if (natsConnection_JetStream(&js, nc, NULL) != NATS_OK ||
	    natsInbox_Create(&inbox) != NATS_OK ||
	    natsConnection_SubscribeSync(&sub, nc, inbox) != NATS_OK ||
	    natsMsg_Create(&m, subject, NULL, (const char *)data, (int)len) != NATS_OK ||
	    natsMsgHeader_Set(m, SL_BRIDGE_HDR_REPLY_TO, inbox) != NATS_OK) {
		why_set(why, why_size, "cannot set up the request: %s",
		        nats_why(NATS_ERR, nats_GetLastError(NULL)));
		goto done;
	}
	s = js_PublishMsg(NULL, js, m, NULL, &jerr); /* stored: the bridge takes it from there */
	if (s == NATS_MAX_PAYLOAD) {
		why_set(why, why_size, "the command is larger than the bus carries");
		rc = SL_ERR_LIMIT_EXCEEDED;
		goto done;
	}
	if (s != NATS_OK) {
		why_set(why, why_size, "cannot publish to '%s' (does a stream hold it?): %s",
		        subject, nats_why(s, nats_GetLastError(NULL)));
		goto done;
	}
	s = natsSubscription_NextMsg(&reply, sub, timeout_ms > 0 ? timeout_ms : 10000);
	if (s != NATS_OK) {
		why_set(why, why_size, "no result on the bus after %d ms (is a bridge running?)",
		        timeout_ms > 0 ? timeout_ms : 10000);
		goto done;
	}
	*out = sl__result__unpack(NULL, (size_t)natsMsg_GetDataLength(reply),
	                          (const uint8_t *)natsMsg_GetData(reply));
	rc = *out != NULL ? SL_OK : SL_ERR_MALFORMED;
	const char *omitted = NULL;
	if (rc != SL_OK)
		why_set(why, why_size, "the result on the bus is no Result");
	else if (natsMsgHeader_Get(reply, SL_BRIDGE_HDR_OMITTED, &omitted) == NATS_OK &&
	         omitted != NULL)
		why_set(why, why_size,
		        "applied; the bus carried its result without its %s (larger than a NATS "
		        "message): read them with item get or order get",
		        omitted);
done:
	natsMsg_Destroy(reply);
	natsMsg_Destroy(m);
	natsSubscription_Destroy(sub);
	natsInbox_Destroy(inbox);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	free(data);
	return rc;
}

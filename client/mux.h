/*
 * mux.h: a client connection that keeps many requests in flight (one nng REQ socket, one
 * REQ context per request in flight) and, when asked, coalesces the single commands that
 * many threads submit at the same time into one Request envelope.
 *
 * Why: one round trip over loopback costs about as much as deciding a hundred commands, so
 * a client that sends one command per request and waits is bound by the transport. With
 * coalescing, commands submitted while every context is busy wait in a bounded FIFO and the
 * next free context sends all of them (up to SL_REQUEST_COMMANDS_MAX) in one request. A
 * lone command is never held back: if a context is free it is sent at once. Each command
 * keeps its own result and its own idempotency key: the service decides the commands of an
 * envelope one by one, so a command the rules refuse does not affect its neighbours. Two
 * things do follow from sharing an envelope: a command the service does not take (BUSY: its
 * queue is full; UNAVAILABLE) is answered so with every command after it in the envelope
 * ("command N of this request was not taken"), and a read packed behind another thread's
 * write waits for that write's commit (the service decides an envelope in order).
 *
 * Threads: every function may be called from any thread at once, except sl_mux_close. Done
 * callbacks run on nng's threads (or on the submitting thread when the submit fails at
 * once): they must not block for long and must not call sl_mux_close.
 *
 * Like client.h, requests are never resent by the transport: a command without a key must
 * not be applied twice because a reply was slow. A timed-out command fails UNAVAILABLE;
 * whether it was applied is unknown, which is what idempotency keys are for.
 */
#ifndef SL_CLIENT_MUX_H
#define SL_CLIENT_MUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/sl_buf.h"
#include "base/sl_err.h"
#include "stockledger.pb-c.h"

typedef struct sl_mux sl_mux;

typedef struct sl_mux_config {
	int timeout_ms;     /* bound of each request, send to reply, and of a command's wait
	                     * for a context (then it fails UNAVAILABLE, unsent); 0: 10 s */
	unsigned contexts;  /* requests in flight, 1..SL_CLIENT_CONTEXTS_MAX; 0: default */
	bool is_coalescing; /* pack commands waiting for a context into one request */
} sl_mux_config;

typedef struct sl_mux_stats {
	uint64_t requests; /* requests sent */
	uint64_t commands; /* commands carried by them */
	uint64_t commands_per_request_max;
} sl_mux_stats;

/* sl_mux_done_fn receives the outcome of one submitted command: rc SL_OK and its result
 * (owned by the callee: free with sl__result__free_unpacked), or a transport failure
 * (SL_ERR_UNAVAILABLE: no reply in time or connection lost; SL_ERR_MALFORMED: the reply
 * could not be decoded) and NULL. A refusal by the service is rc SL_OK with
 * result->error set. Called exactly once per accepted command. */
typedef void (*sl_mux_done_fn)(void *arg, sl_err rc, Sl__Result *result);

/* sl_mux_raw_fn receives the reply to a raw request (valid during the call only), or a
 * transport failure with NULL. Called exactly once per accepted raw request. */
typedef void (*sl_mux_raw_fn)(void *arg, sl_err rc, const uint8_t *reply, size_t len);

/* sl_mux_open dials url and returns a connection in *out. Errors as sl_client_open_why
 * (SL_ERR_UNAVAILABLE, SL_ERR_INVALID_ARGUMENT also for a bad config, SL_ERR_NOMEM), with a
 * short lower-case cause in why (why may be NULL). */
sl_err sl_mux_open(const char *url, const sl_mux_config *cfg, sl_mux **out, char *why,
                   size_t why_size);

/* sl_mux_close closes the connection: commands not yet sent fail UNAVAILABLE, those sent get
 * their answer (or UNAVAILABLE when their timeout passes), and it returns once every done
 * callback has run and the socket is closed (at most SL_CLIENT_CLOSE_MS_MAX later:
 * client/close.h). NULL is a no-op. */
void sl_mux_close(sl_mux *m);

/* sl_mux_submit encodes cmd (the caller keeps it) and arranges for done to be called with
 * its result. Returns SL_ERR_LIMIT_EXCEEDED if cmd encodes larger than SL_REQUEST_BYTES_MAX,
 * SL_ERR_BUSY if SL_CLIENT_PENDING_MAX commands are already waiting, SL_ERR_UNAVAILABLE
 * once closing, SL_ERR_NOMEM; done is not called then. */
sl_err sl_mux_submit(sl_mux *m, const Sl__Command *cmd, sl_mux_done_fn done, void *arg);

/* sl_mux_command submits cmd and waits for its outcome: SL_OK with *out (free it with
 * sl__result__free_unpacked), or an error of sl_mux_submit or of the transport. */
sl_err sl_mux_command(sl_mux *m, const Sl__Command *cmd, Sl__Result **out);

/* sl_mux_submit_raw sends len bytes as one request of its own (never coalesced) and calls
 * done with the reply bytes. For callers that encode requests themselves (the bench's
 * transport baseline). Errors as sl_mux_submit. */
sl_err sl_mux_submit_raw(sl_mux *m, const uint8_t *data, size_t len, sl_mux_raw_fn done, void *arg);

/* sl_mux_raw sends a raw request and waits for its reply, copied into reply. */
sl_err sl_mux_raw(sl_mux *m, const uint8_t *data, size_t len, sl_buf *reply);

/* sl_mux_stats_get: counters of m so far. */
void sl_mux_stats_get(sl_mux *m, sl_mux_stats *out);

#endif

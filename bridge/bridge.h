/*
 * bridge.h: stockledger-bridge, the ledger on a NATS JetStream bus (docs/bridge.md).
 *
 * Two jobs, each on a thread of its own with its own connection to stockledgerd:
 *
 * - commands: a durable pull consumer of a JetStream stream of commands. Each message is one
 *   `Command` of proto/stockledger.proto; a fetched batch goes to the ledger as one request,
 *   in stream order, and each message is acknowledged only after the ledger's durable reply
 *   (and the result's publication to the message's `SL-Reply-To` subject, if it has one).
 *   A command without an idempotency key is given one derived from the message (its
 *   `Nats-Msg-Id`, else the stream's identity and the message's stream sequence), so that a
 *   redelivery after a crash is applied once. A message that is no `Command` gets a
 *   MALFORMED result and is terminated; the log is untouched.
 * - events: the change feed, every committed event in seq order, published to a JetStream
 *   stream as `Event` messages. Each publication expects the stream's last sequence to be
 *   the one the event before it got (`Nats-Expected-Last-Sequence`), so the stream never
 *   holds a gap or a duplicate; a restart resumes after the last event the stream holds.
 *
 * bridge.c is the one file of the service and its tools that includes <nats/nats.h> (its test
 * and the bus benchmark, which play the order system, use libnats directly).
 */
#ifndef SL_BRIDGE_H
#define SL_BRIDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/sl_err.h"

typedef struct sl_bridge sl_bridge;

typedef struct sl_bridge_config {
	const char *service_url;      /* stockledgerd's nng url */
	const char *nats_url;         /* nats://HOST:PORT (a comma-separated list is allowed) */
	const char *commands_stream;  /* created (work-queue retention) if missing */
	const char *commands_subject; /* what the stream holds and the consumer reads */
	const char *durable;          /* the consumer's durable name */
	const char *events_stream;    /* created (file storage, no limits) if missing */
	const char *events_subject;   /* every event is published to this subject */
	bool is_commands;             /* run the command consumer */
	bool is_events;               /* run the event publisher */
	uint32_t batch;       /* commands per fetch and per request: 1..SL_BRIDGE_BATCH_MAX */
	int ack_wait_ms;      /* the consumer's ack wait (redelivery after a crash) */
	uint64_t events_from; /* first seq to publish into an empty events stream */
	int timeout_ms;       /* bound of one call to the ledger (0: 10 s) */
	/* Fault injection for tests: exit the process with status 75 after the ledger has
	 * answered this many batches and before their messages are acknowledged (0: never). */
	uint32_t fault_exit_before_ack;
	/* ...or after it has fetched this many batches and before it sends the last one. */
	uint32_t fault_exit_before_send;
	/* ...or lose this many-th fetched batch as in a disconnection (dropped, unacknowledged)
	 * and hear of the reconnection only once the next fetch has returned: a reconnection
	 * that completes while a fetch is outstanding (docs/bridge.md, "Reconnections"). */
	uint32_t fault_lose_fetch;
} sl_bridge_config;

/* Defaults of the command-line tool (and of a config whose fields are NULL or 0). */
#define SL_BRIDGE_COMMANDS_STREAM "STOCKLEDGER_COMMANDS"
#define SL_BRIDGE_COMMANDS_SUBJECT "stockledger.commands.>"
#define SL_BRIDGE_DURABLE "stockledger-bridge"
#define SL_BRIDGE_EVENTS_STREAM "STOCKLEDGER_EVENTS"
#define SL_BRIDGE_EVENTS_SUBJECT "stockledger.events"
#define SL_BRIDGE_BATCH_DEFAULT 256
#define SL_BRIDGE_ACK_WAIT_MS_DEFAULT 30000
#define SL_BRIDGE_FAULT_EXIT_STATUS 75

/* The headers the bridge reads and writes (docs/bridge.md). */
#define SL_BRIDGE_HDR_REPLY_TO "SL-Reply-To" /* command: where its result goes */
/* The longest SL-Reply-To a result goes to (NATS's control line is 4 KiB: a longer subject
 * closes the bridge's connection), and the room a result's headers take within NATS's
 * max_payload. */
#define SL_BRIDGE_REPLY_TO_MAX 255
#define SL_BRIDGE_HEADERS_BYTES_MAX 1024
#define SL_BRIDGE_HDR_CODE "SL-Code"             /* result: "OK" or the error's name */
#define SL_BRIDGE_HDR_KEY "SL-Key"               /* result: the idempotency key used */
#define SL_BRIDGE_HDR_SEQ "SL-Seq"               /* result: ledger seq; event: its seq */
#define SL_BRIDGE_HDR_STREAM_SEQ "SL-Stream-Seq" /* result: the command's stream seq */
#define SL_BRIDGE_HDR_TYPE "SL-Type"             /* event: its type ("ITEM_DECREMENTED") */
/* result of a write that NATS could not carry whole: what it leaves out ("items,order") */
#define SL_BRIDGE_HDR_OMITTED "SL-Omitted"

/* sl_bridge_open checks cfg, connects to NATS and to the ledger, creates the streams that
 * are missing and binds the consumer, and returns a bridge in *out, not yet running.
 * Errors: SL_ERR_INVALID_ARGUMENT (a bad config, or an events stream whose last message the
 * bridge did not publish), SL_ERR_UNAVAILABLE (NATS, JetStream or the ledger cannot be
 * reached), SL_ERR_NOMEM; a lower-case cause is written into why (why_size bytes). */
sl_err sl_bridge_open(const sl_bridge_config *cfg, sl_bridge **out, char *why, size_t why_size);

/* sl_bridge_start starts the threads of the jobs cfg asked for. SL_ERR_NOMEM if a thread
 * cannot be started (none is running then). */
sl_err sl_bridge_start(sl_bridge *b);

/* sl_bridge_stop asks the threads to stop and waits for them: a batch the ledger has
 * answered is acknowledged first; fetched messages not yet sent are handed back (nak) for
 * redelivery. Returns SL_OK, or the error that stopped a job earlier (with a cause logged
 * to stderr). May be called once, from the thread that started the bridge. */
sl_err sl_bridge_stop(sl_bridge *b);

/* sl_bridge_failed returns the error that stopped a job for good while running (the events
 * stream cannot be resumed: a message the bridge did not publish, or purged; the commands
 * consumer was deleted), or SL_OK; any thread. Everything else (NATS or the ledger
 * unreachable, refusals) the jobs ride out. */
sl_err sl_bridge_failed(sl_bridge *b);

/* sl_bridge_close releases b (stopping it first if it runs); NULL is a no-op. */
void sl_bridge_close(sl_bridge *b);

/* sl_bridge_call is the other side of the bus, for a client: it publishes cmd to subject
 * (which a bridge's commands stream holds) with a fresh reply inbox and waits up to
 * timeout_ms for the Result the bridge publishes there, returned in *out (free it with
 * sl__result__free_unpacked). A command without a key gets the one the bridge derives from
 * its message: publishing again is a new command. Errors: SL_ERR_UNAVAILABLE (NATS or
 * JetStream unreachable, no stream holds subject, or no result in time: whether the command
 * was applied is unknown then, which is what keys are for), SL_ERR_MALFORMED (an undecodable
 * result), SL_ERR_LIMIT_EXCEEDED (larger than a request or than the bus carries),
 * SL_ERR_INVALID_ARGUMENT (a bad url), SL_ERR_NOMEM; a cause is written into why. Any thread.
 * On SL_OK why is empty, or a note on the result: a write's result that the bus carried
 * without its views (SL-Omitted) says so. */
struct Sl__Command;
struct Sl__Result;
sl_err sl_bridge_call(const char *nats_url, const char *subject, const struct Sl__Command *cmd,
                      int timeout_ms, struct Sl__Result **out, char *why, size_t why_size);

/* sl_bridge_library_close releases what the NATS library keeps for the process (its threads and
 * caches); call it once, after the last bridge is closed, before exit. */
void sl_bridge_library_close(void);

typedef struct sl_bridge_stats {
	uint64_t commands;  /* messages answered by the ledger and acknowledged */
	uint64_t batches;   /* fetches that brought messages */
	uint64_t malformed; /* messages that were no Command, terminated */
	uint64_t retries;   /* requests sent again after the ledger was unavailable */
	uint64_t events;    /* events published and confirmed by the stream */
	uint64_t resyncs;   /* times the publisher re-read the stream's last event */
} sl_bridge_stats;

/* sl_bridge_stats_get copies the counters so far; any thread. */
void sl_bridge_stats_get(sl_bridge *b, sl_bridge_stats *out);

#endif

/*
 * service.h: the service core, without transport: a ledger, a bounded queue of write
 * commands and the one writer thread that owns all state changes (group commit).
 *
 * Writes: gw_service_submit queues a write command; the writer takes every queued command
 * (up to SL_GROUP_COMMANDS_MAX), decides each against the views as the ones before it left
 * them, stages all their events, views and idempotency records in one WriteBatch, commits
 * it with one WAL sync, and only then hands the group to the reply thread, which calls each
 * command's done callback while the writer goes on with the next group. A lone command is
 * never held back: the writer takes whatever is queued the moment it is free, so groups
 * grow with load and shrink to one when idle.
 *
 * Reads (get, history, head) are served by gw_service_submit on the caller's thread from
 * committed state: they never wait for the writer. A read that follows writes in the same
 * request goes through the queue instead (gw_service_submit_ordered), so that it sees them:
 * the writer ends its group before such a read and serves it once the group is committed.
 */
#ifndef SL_SERVICE_H
#define SL_SERVICE_H

#include "base/sl_buf.h"
#include "ledger/ledger.h"

typedef struct gw_service gw_service;

typedef struct gw_config {
	const char *data_dir;
	const char *default_location;
	/* the bound of the writer's in-memory copy of the views it committed (0:
	 * SL_WRITER_VIEWS_BYTES_MAX); tests make it forget them with a tiny one */
	size_t views_bytes_max;
	/* how long an idempotency key answers retries, in ms (0: for ever; stockledgerd's
	 * default is 7 days; docs/decisions.md, Idempotency) */
	int64_t idem_retention_ms;
} gw_config;

/* gw_done_fn receives the encoded Result of one command (valid during the call only). It is
 * called exactly once per submitted command: from the service's reply thread for writes
 * (after their group's commit returned) and for reads submitted ordered, from the
 * submitting thread for other reads and for commands refused before queueing; the change
 * feed's from its own thread when it waited for events (or from the writer's, ordered). */
typedef void (*gw_done_fn)(void *arg, const uint8_t *result, size_t len);

/* gw_service_open opens the ledger and starts the writer. On failure writes a message into
 * errbuf. */
sl_err gw_service_open(const gw_config *cfg, gw_service **out, char *errbuf, size_t errbuf_size);

/* gw_service_close refuses new commands (UNAVAILABLE), lets the writer finish every queued
 * one, stops it and closes the ledger. NULL is a no-op. */
void gw_service_close(gw_service *s);

/* gw_service_submit takes cmd (moving its lines: cmd is left empty) and arranges for done to
 * be called with its result. A full queue answers BUSY at once, a stopping service
 * UNAVAILABLE, and then returns that code (the command was not taken: a client's commands
 * after it should not be decided before it); SL_OK otherwise. Thread-safe. */
sl_err gw_service_submit(gw_service *s, sl_command *cmd, gw_done_fn done, void *arg);

/* gw_service_submit_ordered is gw_service_submit for a command that must see every write
 * submitted before it (the writes before it in the same request): a read is queued behind
 * them like a write and served by the writer once they are committed, with its result
 * handed out by the reply thread (the change feed's from the feed, as always). */
sl_err gw_service_submit_ordered(gw_service *s, sl_command *cmd, gw_done_fn done, void *arg);

/* gw_service_refuse answers a command with a refusal without running it (cmd is freed):
 * done gets the encoded Result of code and message, on the calling thread. */
void gw_service_refuse(sl_command *cmd, gw_done_fn done, void *arg, sl_err code,
                       const char *message);

/* gw_command_read_rows: the rows a command may read at most (a history, query, feed or
 * holds page: its limit or default; explain: a history page's bound; anything else 1). The
 * gateway bounds their sum per request (SL_REQUEST_READ_ROWS_MAX), since reads are served
 * on the transport's threads. */
size_t gw_command_read_rows(const sl_command *cmd);

/* gw_service_execute submits cmd and waits for its result, which it copies into result.
 * For tests and tools that drive the service in-process. */
sl_err gw_service_execute(gw_service *s, sl_command *cmd, sl_buf *result);

/* gw_service_ledger: the ledger under s (reads only). */
ledger *gw_service_ledger(gw_service *s);

/* gw_service_feed_flush answers every change-feed read that waits for events now, and later
 * ones at once (shutdown: the server waits for every reply). */
void gw_service_feed_flush(gw_service *s);

/* gw_service_fault_set: make the n-th next commit of the writer fail (tests: the sticky error
 * state). It first waits for the index thread to write what is committed. */
void gw_service_fault_set(gw_service *s, int n);

typedef struct gw_stats {
	uint64_t commands;
	uint64_t groups;
	uint64_t events;
	uint64_t group_commands_max;
} gw_stats;

/* gw_service_stats: counters of the writer so far. */
void gw_service_stats(gw_service *s, gw_stats *out);

#endif

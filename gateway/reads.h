/*
 * reads.h: the audit reads of the service (issue 4): queries, point-in-time gets, ranged
 * history, explain, and the change feed with its long poll. Each read answers from committed
 * state through one store snapshot on the calling thread, and never waits for the writer.
 *
 * The change feed (gw_feed): a ReadEvents command whose events do not exist yet and that
 * asks to wait is parked (at most SL_FEED_WAITERS_MAX at once, SL_FEED_WAIT_MS_MAX each);
 * the writer calls gw_feed_notify after each commit, which only bumps a generation counter
 * under the feed's own lock and signals; the feed's thread then answers every parked call
 * whose events have come, or whose wait is over (with no events). So the writer never
 * blocks on a reader, and a reply is never held by a thread of nng.
 */
#ifndef SL_READS_H
#define SL_READS_H

#include "base/sl_buf.h"
#include "gateway/service.h"
#include "ledger/ledger.h"

/* gw_read_get answers a get with as_of_seq or as_of_ms (the item as of that point). */
void gw_read_get_as_of(ledger *l, const sl_command *cmd, sl_buf *out);

/* gw_read_history answers a history page, with its seq and time ranges. */
void gw_read_history(ledger *l, const sl_command *cmd, sl_buf *out);

/* gw_read_query answers one page of a query. */
void gw_read_query(ledger *l, const sl_command *cmd, sl_buf *out);

/* gw_read_explain answers an explain. */
void gw_read_explain(ledger *l, const sl_command *cmd, sl_buf *out);

typedef struct gw_feed gw_feed;

/* gw_feed_open starts the feed's thread over l. NULL on failure. */
gw_feed *gw_feed_open(ledger *l);

/* gw_feed_close answers every parked call, stops the thread and frees f (NULL: no-op). */
void gw_feed_close(gw_feed *f);

/* gw_feed_notify tells the feed that events were committed. Writer thread; never blocks
 * beyond the feed's short critical section. */
void gw_feed_notify(gw_feed *f);

/* gw_feed_flush answers every parked call now and answers later ones without waiting
 * (shutdown: the server waits for every reply before it stops). */
void gw_feed_flush(gw_feed *f);

/* gw_feed_submit answers a ReadEvents command: at once when its events exist, when it does
 * not wait, or when it is refused; else later from the feed's thread. done is called exactly
 * once. cmd stays the caller's. */
void gw_feed_submit(gw_feed *f, const sl_command *cmd, gw_done_fn done, void *arg);

#endif

/*
 * rebuild.h: operator tools over the projections: refold the whole log into fresh views
 * (rebuild), and check that the log's chain holds and that the stored views equal a fresh
 * fold (verify). Both run on a ledger no daemon has open (RocksDB's lock sees to it).
 */
#ifndef SL_REBUILD_H
#define SL_REBUILD_H

#include "ledger/ledger.h"

typedef void (*projector_progress_fn)(void *ctx, uint64_t events_done, uint64_t events_total);

typedef struct projector_report {
	uint64_t events;  /* events read */
	uint64_t views;   /* view rows */
	uint64_t bad_seq; /* first bad sequence number, 0 if none */
	uint64_t spills;  /* rebuild: times the fold wrote its views out to stay in its bound */
	unsigned char checksum[SL_HASH_BYTES];
	char message[512]; /* what failed, for people */
} projector_report;

/* projector_rebuild folds the whole log from event 1 in one pass (reporting progress every
 * 100000 events) into the shadow copies of the view families (ledger/store.h): item views,
 * their secondary indexes, the history index, orders, holds and settings; then makes them
 * live in one step (store_shadow_publish) and drops the old rows. Memory is bounded by
 * SL_REBUILD_FOLD_BYTES_MAX for the item views (the fold spills to the shadow views past
 * it) and SL_REBUILD_ORDERS_MAX orders. On success fills report (events, views, the
 * checksum of the new views). SL_ERR_CORRUPT (with bad_seq and message) if the log does not
 * replay, SL_ERR_STORAGE (message) if the store fails, SL_ERR_NOMEM: then the live views and
 * indexes are as they were (the scratch rows are dropped, at the latest by the next
 * ledger_open), except after a failed write of the switch itself, where RocksDB decides
 * whether it was durable: either the old or the new views, whole. */
sl_err projector_rebuild(ledger *l, projector_progress_fn progress, void *ctx,
                         projector_report *report);

/* projector_rebuild_to is projector_rebuild folding only events 1..to_seq (0: all): the
 * views and indexes as they were at to_seq, the reference of point-in-time reads (the log
 * itself is untouched; verify then reports the views behind the log until a full rebuild). */
sl_err projector_rebuild_to(ledger *l, uint64_t to_seq, projector_progress_fn progress, void *ctx,
                            projector_report *r);

/* projector_rebuild_bounded is projector_rebuild_to with the fold's memory bound given in
 * bytes (at most SL_REBUILD_FOLD_BYTES_MAX): tests make the fold spill with a small one. */
sl_err projector_rebuild_bounded(ledger *l, uint64_t to_seq, size_t fold_bytes_max,
                                 projector_progress_fn progress, void *ctx, projector_report *r);

/* projector_verify checks the chain of every event, compares every stored view (item views,
 * their secondary index rows, orders, holds, settings) with a fresh fold and checks the
 * history index (one row per item event, naming it), without
 * changing anything. SL_OK when all holds; SL_ERR_CORRUPT with the first bad sequence number
 * and a message otherwise: the first event that breaks the chain or does not replay, else the
 * smallest of the last seq of a view that differs, is missing or is stored without any event
 * of its item, and the first event whose index row is missing or wrong; else the event an
 * extra index row points at. */
sl_err projector_verify(ledger *l, projector_progress_fn progress, void *ctx,
                        projector_report *report);

#endif

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
	unsigned char checksum[SL_HASH_BYTES];
	char message[512]; /* what failed, for people */
} projector_report;

/* projector_rebuild folds the whole log from event 1 (reporting progress every 100000
 * events), then drops every view and index row and writes them afresh. On success fills
 * report (events, views, the checksum of the new views). SL_ERR_CORRUPT (with bad_seq and
 * message) if the log does not replay: then nothing is dropped or written. SL_ERR_STORAGE
 * if the store fails while writing (views may then be partial: run it again). */
sl_err projector_rebuild(ledger *l, projector_progress_fn progress, void *ctx,
                         projector_report *report);

/* projector_verify checks the chain of every event, compares every stored view with a
 * fresh fold and checks the history index (one row per item event, naming it), without
 * changing anything. SL_OK when all holds; SL_ERR_CORRUPT with the first bad sequence number
 * and a message otherwise: the first event that breaks the chain or does not replay, else the
 * smallest of the last seq of a view that differs, is missing or is stored without any event
 * of its item, and the first event whose index row is missing or wrong; else the event an
 * extra index row points at. */
sl_err projector_verify(ledger *l, projector_progress_fn progress, void *ctx,
                        projector_report *report);

#endif

/*
 * asof.h: reading the past (issue 4): an item's state as of a global sequence number, the
 * sequence number in force at a time, and one item's history within a range of sequence
 * numbers or times. Everything is read through one store snapshot (store_snap_take), so
 * all answers of one call are as of the same point, and only the per-item index
 * (STORE_CF_ITEM_EVENTS) and the item's own events are read: never other items' events.
 *
 * The item as of seq N is what a fold of events 1..N would give (projector_rebuild_to):
 * its state is the after-state of its latest event with seq <= N; revision, createdDate,
 * numericId, updatedDate, itemSeq, lastSeq and availability follow the fold's rules
 * (projector/stock.c), reconstructed from the current view and that event.
 *
 * Thread-safe: reads only, from any thread; never blocks the writer.
 */
#ifndef SL_LEDGER_ASOF_H
#define SL_LEDGER_ASOF_H

#include "ledger/ledger.h"

/* ledger_snap_head returns the seq of the last event visible through snap (0: none). */
sl_err ledger_snap_head(ledger *l, const store_snap *snap, uint64_t *out);

/* ledger_seq_at_time finds the seq of the last event with time <= t_ms among events
 * 1..head (0 if none): a binary search, events are in time order. */
sl_err ledger_seq_at_time(ledger *l, const store_snap *snap, uint64_t head, int64_t t_ms,
                          uint64_t *out);

/* ledger_item_as_of turns current (the item's view read through snap) into the view the item
 * had as of seq. SL_ERR_NOT_FOUND if it had none then (its first event is later). */
sl_err ledger_item_as_of(ledger *l, const store_snap *snap, const sl_item *current, uint64_t seq,
                         sl_item *out);

/* ledger_history_range: a filter of one item's events (from_seq 0 / false: no bound; to_seq 0
 * with has_to_seq: no event, since seq 0 is before the first). */
typedef struct ledger_history_range {
	uint64_t from_seq, to_seq;
	bool has_to_seq, has_since_ms, has_until_ms;
	int64_t since_ms, until_ms;
} ledger_history_range;

/* ledger_history_in reads up to max events of key inside range with item_seq >
 * after_item_seq, oldest first, into out (n_out); *next_item_seq is the cursor of the next
 * page (0 at the end). The start is found by binary search over the item's events. */
sl_err ledger_history_in(ledger *l, const store_snap *snap, const sl_item_key *key,
                         const ledger_history_range *range, uint64_t after_item_seq, size_t max,
                         sl_event *out, size_t *n_out, uint64_t *next_item_seq);

#endif

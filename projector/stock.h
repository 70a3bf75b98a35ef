/*
 * stock.h: the stock projection, a pure fold of events into per-variant-per-location views.
 *
 * stock_view_apply is the only way a view changes, on the write path and in a rebuild alike,
 * which is why a rebuild gives byte-identical views. It does no I/O, reads no clock and
 * allocates nothing. Thread-safe (no shared state).
 */
#ifndef SL_STOCK_H
#define SL_STOCK_H

#include "ledger/types.h"

/* stock_view_apply folds ev into view. view is the item's current view (zeroed, with the
 * key unset, when the item has none). Returns SL_ERR_CORRUPT, leaving view untouched, when
 * ev does not follow from view (its before-state, item or item_seq disagree) or its type does
 * not fit its states (a create of an item that exists, a delete that leaves the item, an
 * update or adjustment that deletes it): a log that does not replay. */
sl_err stock_view_apply(sl_item *view, const sl_event *ev);

/* stock_event_is_item tells whether ev changes an item view. */
int stock_event_is_item(const sl_event *ev);

#endif

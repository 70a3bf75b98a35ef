/*
 * orders.h: the order projection and the settings view, pure folds of the log like
 * projector/stock.h. The events they fold are described in ledger/orders.h.
 *
 * order_view_apply and settings_view_apply are the only way an order or the settings view
 * changes, on the write path and in a rebuild alike. They do no I/O and read no clock; the
 * only memory order_view_apply allocates is the view's own lines array, which the caller
 * owns (sl_order_fini). Thread-safe (no shared state).
 */
#ifndef SL_PROJECTOR_ORDERS_H
#define SL_PROJECTOR_ORDERS_H

#include "ledger/types.h"

/* order_event_is_order tells whether ev changes an order view: an order event, or an
 * event of an order line (it names order_line_id). The order id is ev->order_id. */
int order_event_is_order(const sl_event *ev);

/* order_view_apply folds ev into view, the order's current view (zeroed when the order has
 * none). Returns SL_ERR_CORRUPT, leaving view untouched, when ev does not follow from view
 * (order_seq, status, line state or item disagree); SL_ERR_NOMEM. */
sl_err order_view_apply(sl_order *view, const sl_event *ev);

/* settings_event_is_settings tells whether ev changes the settings view. */
int settings_event_is_settings(const sl_event *ev);

/* settings_view_apply folds ev into view (zeroed when never set: ON_ORDER_PLACED).
 * SL_ERR_CORRUPT, leaving view untouched, when ev's trigger_before disagrees. */
sl_err settings_view_apply(sl_settings *view, const sl_event *ev);

#endif

/*
 * orders.h: the order rules. ledger_order_decide turns one order command (settings set,
 * order place, pay, payment-failed, cancel, refund, edit) into the events it causes, or into
 * a refusal, against views handed in through lookup callbacks: the stock views (as in
 * ledger/rules.h), the order's view and the settings. Like ledger_decide it reads no clock,
 * disk or random source; the folds (projector/orders.c, projector/stock.c) only apply what
 * the events say. The flows and every decision the spec leaves open: docs/orders.md.
 *
 * The events of one order command, in order:
 *   1. the order's event (ORDER_PLACED, _PAID, _PAYMENT_FAILED, _CANCELED, _REFUNDED,
 *      _EDITED): order status before and after, the order's trigger, its line count;
 *   2. one event per order line whose state changes, in the order's line order: an
 *      ITEM_DECREMENTED / ITEM_INCREMENTED when stock moves (the item's state before and
 *      after, plus the order id, the line id and the line's state before and after), else
 *      an ORDER_LINE_CHANGED (line state only).
 * A settings change is one SETTINGS_UPDATED event (trigger before and after).
 */
#ifndef SL_ORDERS_H
#define SL_ORDERS_H

#include "ledger/rules.h"

/* ledger_order_lookup_fn finds the current view of order_id and points *out at it (valid
 * until the decision returns; the rules never change it). Returns SL_OK, SL_ERR_NOT_FOUND
 * (no such order), or a storage error, which is passed on. */
typedef sl_err (*ledger_order_lookup_fn)(void *ctx, const char *order_id, const sl_order **out);

/* ledger_settings_lookup_fn reads the current settings into *out. SL_ERR_NOT_FOUND when
 * they were never set (ON_ORDER_PLACED applies), or a storage error. */
typedef sl_err (*ledger_settings_lookup_fn)(void *ctx, sl_settings *out);

typedef struct ledger_order_env {
	ledger_lookup_fn lookup; /* stock views, as in ledger_decide_env */
	void *lookup_ctx;
	ledger_order_lookup_fn order_lookup;
	void *order_ctx;
	ledger_settings_lookup_fn settings_lookup;
	void *settings_ctx;
	uint64_t next_seq; /* seq of the first event this command would append */
	int64_t time_ms;   /* the command's time, written into its events */
} ledger_order_env;

/* ledger_order_decide decides the order command cmd (sl_cmd_is_order). On success writes
 * *n_events events (at most LEDGER_COMMAND_EVENTS_MAX) into events and returns SL_OK; when
 * the command asks for what already holds (pay a paid order, set the trigger it has) it
 * appends nothing: *n_events is 0 and *is_unchanged true. On refusal returns the code, fills
 * *err (free with sl_error_info_fini) and *n_events is 0. Refusals:
 *   INVALID_ARGUMENT   ids, quantities, a line id given twice, an edit that changes a
 *                      line's item, a trigger other than ON_ORDER_PLACED / ON_ORDER_PAID;
 *   NOT_FOUND          the order, an item of a line, a refunded line id;
 *   ALREADY_EXISTS     place of an order id that exists;
 *   INSUFFICIENT_INVENTORY  a placement under ON_ORDER_PLACED short on any line
 *                      (err->shortages names every short line and what was available);
 *   QUANTITY_NOT_TRACKED    a line on an in-stock-tracked item;
 *   ORDER_CLOSED       any command on a canceled, refunded or payment-failed order;
 *   FAILED_PRECONDITION     payment-failed of a paid order, refund of an unpaid one;
 *   REFUND_EXCEEDS_HELD     a refund of more units than the line holds;
 *   LIMIT_EXCEEDED     more than SL_ORDER_LINES_MAX lines, a line changed more than
 *                      SL_ORDER_LINE_EVENTS_MAX times, a quantity leaving its range.
 * Thread-safe if the lookups are. */
sl_err ledger_order_decide(const sl_command *cmd, const ledger_order_env *env, sl_event *events,
                           size_t *n_events, bool *is_unchanged, sl_error_info *err);

/* ledger_order_holds_stock tells whether an order in this status under this trigger holds
 * stock: under ON_ORDER_PLACED from placement, under ON_ORDER_PAID from payment, until it
 * is closed. */
bool ledger_order_holds_stock(sl_trigger trigger, sl_order_status status);

/* Names of the enums as the wire and the CLI spell them ("ON_ORDER_PAID", "PAID"). */
const char *ledger_trigger_name(sl_trigger trigger);
const char *ledger_order_status_name(sl_order_status status);

#endif

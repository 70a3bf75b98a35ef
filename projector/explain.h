/*
 * explain.h: why an item has its quantity (issue 4): its last absolute setting (a create or
 * an update: events that set the quantity rather than move it), every adjustment since,
 * grouped by order and reason, and the holds of open orders.
 *
 * The invariant it shows: setting.after.quantity + the sum of the adjustments' deltas equals
 * the current quantity (and the same for the preorder counter); explain checks it and
 * refuses with CORRUPT when a log breaks it. Holds are a separate part: what the open
 * orders hold of the item (ledger_holds_list, issue 3), units their lines already took off
 * the quantity and would give back on a cancel, preorder units apart; and of those, the
 * units held since before the setting (the least each line held since: the setting's
 * quantity already lacks them), the rest having been taken by the adjustments (see
 * docs/audit.md).
 *
 * Reads only the item's own events, newest first, through one store snapshot. Thread-safe.
 */
#ifndef SL_EXPLAIN_H
#define SL_EXPLAIN_H

#include "ledger/codec.h"
#include "ledger/ledger.h"

typedef struct projector_explanation {
	sl_item item;         /* the current view */
	ledger_explanation x; /* groups and holds point into the arrays below */
	ledger_adjustment groups[SL_EXPLAIN_GROUPS_MAX];
	ledger_hold holds[SL_EXPLAIN_GROUPS_MAX];
} projector_explanation;

/* projector_explain_is_setting tells whether an event type sets an item's quantity (the
 * start of an explanation) rather than moving it. */
bool projector_explain_is_setting(sl_event_type type);

/* projector_explain explains key into out (heap it: it is large). SL_ERR_NOT_FOUND if the
 * item does not exist; SL_ERR_LIMIT_EXCEEDED past SL_EXPLAIN_EVENTS_MAX events since the
 * setting; SL_ERR_CORRUPT if the adjustments do not add up. err says why. */
sl_err projector_explain(ledger *l, const sl_item_key *key, projector_explanation *out,
                         sl_error_info *err);

#endif

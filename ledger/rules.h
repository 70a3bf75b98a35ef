/*
 * rules.h: the inventory rules. ledger_decide turns one write command into the events it
 * causes, or into a refusal, against the current views handed in through a lookup callback.
 *
 * The rules never read a clock, a disk or a random source: the caller hands in the time and
 * the next sequence number, and the views. That keeps them testable without a store and keeps
 * the decision the only place where policy lives; the fold (projector/) only applies what an
 * event says. The rules are the Wix V3 semantics (see docs/decisions.md for every [GAP]).
 */
#ifndef SL_RULES_H
#define SL_RULES_H

#include "ledger/types.h"

/* ledger_lookup_fn finds the current view of key into *out. Returns SL_OK (the row exists,
 * possibly deleted: out->state.exists false), SL_ERR_NOT_FOUND (never existed), or a storage
 * error, which ledger_decide passes on. */
typedef sl_err (*ledger_lookup_fn)(void *ctx, const sl_item_key *key, sl_item *out);

typedef struct ledger_decide_env {
	ledger_lookup_fn lookup;
	void *lookup_ctx;
	uint64_t next_seq; /* seq of the first event this command would append */
	int64_t time_ms;   /* the command's time, written into its events */
} ledger_decide_env;

/* Events one command can produce at most (an order command: a line event per line and the
 * order's event). */
#define LEDGER_COMMAND_EVENTS_MAX SL_ORDER_COMMAND_EVENTS_MAX
_Static_assert(LEDGER_COMMAND_EVENTS_MAX >= SL_LINES_MAX, "an adjust fits");

/* ledger_decide decides the write command cmd. On success it writes *n_events events (at
 * most LEDGER_COMMAND_EVENTS_MAX) into events and returns SL_OK. On refusal it returns the
 * code, fills *err (the caller frees it with sl_error_info_fini) and *n_events is 0. Lines of
 * one command apply in order, each seeing the ones before it; a refusal of any line refuses
 * the whole command. Thread-safe if lookup is. */
sl_err ledger_decide(const sl_command *cmd, const ledger_decide_env *env, sl_event *events,
                     size_t *n_events, sl_error_info *err);

/* ledger_shortages_keep_if_short drops the short lines gathered in err unless the command
 * was refused for them (rc INSUFFICIENT_INVENTORY): details.items belongs to that code. */
void ledger_shortages_keep_if_short(sl_err rc, sl_error_info *err);

/* ledger_event_init starts event index of a command whose first event is next_seq: zeroed,
 * with its seq, time, type, command seq, line index, and the command's key, reason and
 * order id. */
void ledger_event_init(sl_event *ev, const sl_command *cmd, uint64_t next_seq, int64_t time_ms,
                       size_t index, sl_event_type type);

/* ledger_take: how a decrement of n units splits on an item's state (ledger_take_plan). */
typedef struct ledger_take {
	int64_t from_stock;    /* from a positive quantity, down to 0 */
	int64_t from_preorder; /* preorder units within the limit (the counter grows) */
	int64_t rest;          /* what is left: below zero when unrestricted, short otherwise */
	int64_t available;     /* stock plus preorder units left; INT64_MAX without a limit */
} ledger_take;

/* ledger_take_plan splits a decrement of n units of state s (spec 2.5 scenario 12): stock
 * first, then, with is_preorder_request and preorder enabled, preorder units within the
 * limit; the rest goes below zero (or is a shortage when restricted). Pure. */
void ledger_take_plan(const sl_item_state *s, int64_t n, bool is_preorder_request,
                      ledger_take *out);

/* ledger_item_status computes availabilityStatus of a state (spec section 2.2):
 * quantity-tracked: quantity > 0 IN_STOCK; else preorder enabled and (no limit or
 * counter < limit) PREORDER; else OUT_OF_STOCK. In-stock-tracked: in_stock IN_STOCK; else
 * preorder enabled PREORDER; else OUT_OF_STOCK. A deleted item is UNKNOWN. */
sl_status ledger_item_status(const sl_item_state *state);

/* ledger_id_validate checks one id (what names it in the message: "orderId"); on failure
 * fills err and returns SL_ERR_INVALID_ARGUMENT. */
sl_err ledger_id_validate(const char *what, const char *id, sl_error_info *err);

/* ledger_item_key_validate checks each id of key; on failure fills err and returns
 * SL_ERR_INVALID_ARGUMENT. */
sl_err ledger_item_key_validate(const sl_item_key *key, sl_error_info *err);

#endif

/*
 * stockctl.h: what the files of stockctl share: the parsed command line (ctl), the table
 * entry of a command (ctl_cmd), and the calling and printing helpers of stockctl.c that the
 * order commands (stockctl_orders.c) and the audit commands (stockctl_audit.c,
 * stockctl_chart.c) use too. Tools only; not part of the library.
 */
#ifndef SL_STOCKCTL_H
#define SL_STOCKCTL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stockledger.pb-c.h"

#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define EXIT_UNREACHABLE 3

/* how long stockctl waits for a reply */
#define CTL_TIMEOUT_MS 10000
/* Where `--server nats://...` publishes commands (a subject of the bridge's commands stream). */
#define CTL_BUS_SUBJECT_DEFAULT "stockledger.commands.stockctl"

enum opt {
	OPT_QUANTITY,
	OPT_IN_STOCK,
	OPT_PREORDER,
	OPT_PREORDER_LIMIT,
	OPT_PREORDER_MESSAGE,
	OPT_REASON,
	OPT_KEY,
	OPT_REVISION,
	OPT_ORDER,
	OPT_LIMIT,
	OPT_CURSOR,
	OPT_RESTRICT,
	OPT_PREORDER_REQUEST,
	OPT_NO_RESTOCK,
	OPT_TRIGGER,
	OPT_RESET_PREORDER_COUNTER,
	/* audit (issue 4): tools/stockctl_audit.c */
	OPT_PRODUCT,
	OPT_VARIANT,
	OPT_LOCATION,
	OPT_STATUS,
	OPT_TRACKED,
	OPT_MIN_QUANTITY,
	OPT_MAX_QUANTITY,
	OPT_UPDATED_AFTER,
	OPT_UPDATED_BEFORE,
	OPT_SORT,
	OPT_AS_OF_SEQ,
	OPT_AS_OF,
	OPT_FROM_SEQ,
	OPT_TO_SEQ,
	OPT_SINCE,
	OPT_UNTIL,
	OPT_FOLLOW,
	OPT_FORMAT,
	OPT_OUT,
	OPT_COUNT_
};

#define BIT(o) (1ULL << (o))
#define OPTS_MUTATE (BIT(OPT_REASON) | BIT(OPT_KEY))
#define OPTS_SETTINGS                                                                              \
	(BIT(OPT_QUANTITY) | BIT(OPT_IN_STOCK) | BIT(OPT_PREORDER) | BIT(OPT_PREORDER_LIMIT) |     \
	 BIT(OPT_PREORDER_MESSAGE))
#define OPTS_AS_OF (BIT(OPT_AS_OF_SEQ) | BIT(OPT_AS_OF))
#define OPTS_HISTORY                                                                               \
	(BIT(OPT_LIMIT) | BIT(OPT_CURSOR) | BIT(OPT_FROM_SEQ) | BIT(OPT_TO_SEQ) | BIT(OPT_SINCE) | \
	 BIT(OPT_UNTIL))
#define OPTS_QUERY                                                                                 \
	(BIT(OPT_PRODUCT) | BIT(OPT_VARIANT) | BIT(OPT_LOCATION) | BIT(OPT_STATUS) |               \
	 BIT(OPT_TRACKED) | BIT(OPT_MIN_QUANTITY) | BIT(OPT_MAX_QUANTITY) |                        \
	 BIT(OPT_UPDATED_AFTER) | BIT(OPT_UPDATED_BEFORE) | BIT(OPT_SORT) | BIT(OPT_LIMIT) |       \
	 BIT(OPT_CURSOR) | OPTS_AS_OF)

typedef struct ctl {
	const char *server;
	bool is_json;
	const char *val[OPT_COUNT_];
	bool given[OPT_COUNT_];
	char **pos; /* positional arguments after the command words */
	int n_pos;
	const char *cmd_name; /* "item create", for messages */
} ctl;

typedef struct ctl_cmd ctl_cmd;
struct ctl_cmd {
	const char *word1, *word2; /* word2 NULL: a one-word command */
	int (*run)(ctl *c);
	uint64_t opts;
	int pos_min, pos_max;
	const char *synopsis;
};

_Static_assert(OPT_COUNT_ <= 64, "option bits fit ctl_cmd.opts");

typedef struct ctl_opt_spec {
	const char *name;
	bool has_value;
} ctl_opt_spec;
extern const ctl_opt_spec opt_spec[OPT_COUNT_];

/* emit prints a JSON document on stdout (and frees it); NULL means memory ran out. */
void emit(json_t *doc);

/* print_error_json prints {"error": {code, message, details}} on stdout. */
void print_error_json(const char *code, const char *message);

/* is_bus_url: does url name a NATS server (nats://), reached through a stockledger-bridge? */
bool is_bus_url(const char *url);

/* usage_error prints a usage message (and the JSON USAGE error); returns EXIT_USAGE. */
int usage_error(ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* text_printable writes s into buf (size bytes) with its control characters spelled out
 * (\n, \r, \t, \\, \xHH; C1 controls as \u0080..\u009f), cut at a whole character when
 * buf is short. A reason or preorder message is kept as the client gave it, control
 * characters included (docs/decisions.md); printed raw, a newline in it forges a row of
 * `history` and an escape sequence steers the reader's terminal. TEXT_PRINTABLE_SIZE(n):
 * room for any text of n bytes. */
#define TEXT_PRINTABLE_SIZE(n) (4 * (n) + 1)
const char *text_printable(const char *s, char *buf, size_t size);

/* key_text writes PRODUCT[/VARIANT]@LOCATION, leaving out the default variant. */
const char *key_text(const Sl__ItemKey *k, char *buf, size_t size);
const char *status_text(Sl__AvailabilityStatus st);
/* stock_text writes "12" for a tracked state, "in stock"/"out of stock" otherwise. */
const char *stock_text(const Sl__ItemState *s, char *buf, size_t size);

/* print_items_line_human prints one aligned line per item of r, then the seq. */
void print_items_line_human(const Sl__Result *r);
/* items_json: the items of r as a JSON array; items_seq_json: {"items", "seq"}. */
json_t *items_json(const Sl__Result *r);
json_t *items_seq_json(const Sl__Result *r);

/* print_refusal prints a result's error (JSON on stdout, or text on stderr); returns
 * EXIT_REFUSED (EXIT_UNREACHABLE for UNAVAILABLE: the service is shutting down). */
int print_refusal(const ctl *c, const Sl__Error *err);
/* print_refusal_of is print_refusal of a result's error, saying when the result is a replay
 * (a refusal kept under its key: Command.keep_refusal, the bus): "replayed": true in JSON. */
int print_refusal_of(const ctl *c, const Sl__Error *err, bool is_replayed);

/* call sends one command and returns its result (and the response to free), or prints why
 * not and returns the exit status. */
int call(ctl *c, Sl__Command *cmd, Sl__Response **resp_out, Sl__Result **res_out);

/* command_common sets the key, reason and order id of cmd from the options. */
void command_common(ctl *c, Sl__Command *cmd);

/* run_and_print calls the service and prints the result with print or to_json. */
int run_and_print(ctl *c, Sl__Command *cmd, void (*print)(const Sl__Result *),
                  json_t *(*to_json)(const Sl__Result *));

/* opt_i64 and opt_bool parse the value of option o; a bad one is a usage error (returned). */
int opt_i64(ctl *c, enum opt o, int64_t *out);
int opt_bool(ctl *c, enum opt o, bool *out);

/* print_item_result and item_result_json print the item of an item command's result. */
void print_item_result(const Sl__Result *r);
json_t *item_result_json(const Sl__Result *r);

/* print_history and history_json print a page of an item's history. */
void print_history(const Sl__Result *r);
json_t *history_json(const Sl__Result *r);

/* pos_item parses positional argument i as an ITEM. */
int pos_item(ctl *c, int i, Sl__ItemKey *key);

/* The order commands (stockctl_orders.c), entries of stockctl.c's table. */
int run_settings_get(ctl *c);
int run_settings_set(ctl *c);
int run_order_place(ctl *c);
int run_order_pay(ctl *c);
int run_order_payment_failed(ctl *c);
int run_order_cancel(ctl *c);
int run_order_refund(ctl *c);
int run_order_edit(ctl *c);
int run_order_get(ctl *c);
int run_order_holds(ctl *c);

/* The audit commands (stockctl_audit.c, stockctl_chart.c), entries of stockctl.c's table. */
int run_item_get(ctl *c);
int run_history(ctl *c);
int run_query(ctl *c);
int run_explain(ctl *c);
int run_events(ctl *c);
int run_export(ctl *c);
int run_chart(ctl *c);

/* history_body reads the history options of c into body (the key is the caller's). */
int history_body(ctl *c, Sl__History *body);

#endif

/*
 * types.h: the domain records of the ledger as plain C structs with bounded fields.
 *
 * These are what the rules decide on, what the fold folds and what the codec encodes. Every
 * string is a fixed, NUL-terminated array sized by sl_limits.h, so a record owns no heap
 * memory and copies with `=`; only commands own a heap array of lines (sl_command_fini).
 */
#ifndef SL_TYPES_H
#define SL_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/sl_err.h"
#include "base/sl_limits.h"

#define SL_DEFAULT_VARIANT "00000000-0000-0000-0000-000000000000"
#define SL_DEFAULT_LOCATION "default"

typedef struct sl_item_key {
	char product_id[SL_ID_MAX + 1];
	char variant_id[SL_ID_MAX + 1];
	char location_id[SL_ID_MAX + 1];
} sl_item_key;

typedef enum sl_status {
	SL_STATUS_UNKNOWN = 0,
	SL_STATUS_IN_STOCK = 1,
	SL_STATUS_OUT_OF_STOCK = 2,
	SL_STATUS_PREORDER = 3,
} sl_status;

/* sl_item_state: what events change. For quantity-tracked items in_stock is derived
 * (quantity > 0) and kept in step by the rules; for in-stock-tracked items quantity is 0. */
typedef struct sl_item_state {
	bool exists;
	bool track_quantity;
	int64_t quantity;
	bool in_stock;
	bool preorder_enabled;
	bool has_preorder_limit;
	int64_t preorder_limit;
	int64_t preorder_counter;
	/* the seq of the event since which preorder_counter counts (its last reset, or the
	 * item's creation after a delete); 0: since the item's first creation */
	uint64_t preorder_since;
	char preorder_message[SL_PREORDER_MESSAGE_MAX + 1];
} sl_item_state;

/* sl_item: the projected view of one item. A deleted item keeps its row with
 * state.exists == false, so that its per-item sequence goes on without a gap if it is
 * created again. */
typedef struct sl_item {
	sl_item_key key;
	sl_item_state state;
	int64_t revision;
	int64_t created_ms;
	int64_t updated_ms;
	uint64_t numeric_id;
	uint64_t item_seq;
	uint64_t last_seq;
	sl_status status;
} sl_item;

typedef enum sl_event_type {
	SL_EV_UNKNOWN = 0,
	SL_EV_ITEM_CREATED = 1,
	SL_EV_ITEM_UPDATED = 2,
	SL_EV_ITEM_DELETED = 3,
	SL_EV_ITEM_INCREMENTED = 4,
	SL_EV_ITEM_DECREMENTED = 5,
	/* orders (docs/orders.md); values match proto EventType */
	SL_EV_SETTINGS_UPDATED = 10,
	SL_EV_ORDER_PLACED = 11,
	SL_EV_ORDER_PAID = 12,
	SL_EV_ORDER_PAYMENT_FAILED = 13,
	SL_EV_ORDER_CANCELED = 14,
	SL_EV_ORDER_REFUNDED = 15,
	SL_EV_ORDER_EDITED = 16,
	SL_EV_ORDER_LINE_CHANGED = 17,
} sl_event_type;

/* ---- orders ---- */

/* sl_trigger: the Orders Settings inventoryUpdateTrigger (values match the proto enum). */
typedef enum sl_trigger {
	SL_TRIGGER_UNKNOWN = 0,
	SL_TRIGGER_ON_ORDER_PLACED = 1,
	SL_TRIGGER_ON_ORDER_PAID = 2,
} sl_trigger;

typedef enum sl_order_status {
	SL_ORDER_NONE = 0,
	SL_ORDER_PLACED = 1,
	SL_ORDER_PAID = 2,
	SL_ORDER_PAYMENT_FAILED = 3,
	SL_ORDER_CANCELED = 4,
	SL_ORDER_REFUNDED = 5,
} sl_order_status;

/* sl_order_line_state: what a line event changes. held counts the units the line has taken
 * from stock and not given back; held_preorder the part of them taken as preorder units.
 * untracked: the line's item stopped counting units (deleted, or tracked by inStock) when
 * the line was to move stock after its placement: the line holds nothing and moves no stock
 * from then on (docs/orders.md, "Items that stop counting"). preorder_since is the item's
 * preorder_since when the line last took preorder units; held_preorder_uncounted the part of
 * held_preorder that the item's counter no longer counts (taken before the counter was reset
 * or the item created again): given back, they release nothing from the counter (docs/orders.md,
 * "Refund and restock of preorder units"). Compare with sl_order_line_state_equal (the struct
 * has padding). */
typedef struct sl_order_line_state {
	int64_t quantity;
	int64_t held;
	int64_t held_preorder;
	uint64_t preorder_since;
	int64_t held_preorder_uncounted;
	int64_t refunded;
	int64_t restocked;
	bool untracked;
} sl_order_line_state;

typedef struct sl_order_line {
	char line_id[SL_ID_MAX + 1];
	sl_item_key item;
	sl_order_line_state state;
	uint32_t n_seqs;
	uint64_t seqs[SL_ORDER_LINE_EVENTS_MAX]; /* the events that changed the line */
} sl_order_line;

/* sl_order: the projected view of one order. Lines are a heap array (an order may have up
 * to SL_ORDER_LINES_MAX of them); sl_order_fini frees it, sl_order_copy deep-copies. */
typedef struct sl_order {
	char order_id[SL_ID_MAX + 1];
	sl_order_status status;
	sl_trigger trigger; /* in force when the order was placed: it rules the whole order */
	int64_t created_ms;
	int64_t updated_ms;
	uint64_t order_seq;
	uint64_t last_seq;
	sl_order_line *lines;
	size_t n_lines;
} sl_order;

void sl_order_fini(sl_order *order);
sl_err sl_order_copy(sl_order *dst, const sl_order *src);
/* sl_order_line_find returns the line of order with line_id, or NULL. */
sl_order_line *sl_order_line_find(const sl_order *order, const char *line_id);
/* sl_order_is_closed: canceled, payment failed or refunded. */
bool sl_order_is_closed(sl_order_status status);

/* sl_order_line_uncounted: of the preorder units line s holds, those its item's counter does
 * not count, the item counting since item_since (its sl_item_state.preorder_since): all of
 * them when the counter was reset (or the item created again) since the line last took
 * some, else held_preorder_uncounted. Given back, they release nothing. */
int64_t sl_order_line_uncounted(const sl_order_line_state *s, uint64_t item_since);

/* sl_order_line_state_equal compares two line states field by field. */
bool sl_order_line_state_equal(const sl_order_line_state *a, const sl_order_line_state *b);

typedef struct sl_settings {
	sl_trigger trigger;
	int64_t updated_ms;
	uint64_t last_seq;
} sl_settings;

/* sl_hold: one open order line holding units of an item (the item -> order index). */
typedef struct sl_hold {
	char order_id[SL_ID_MAX + 1];
	char line_id[SL_ID_MAX + 1];
	sl_item_key item;
	int64_t held;
	int64_t held_preorder;
} sl_hold;

typedef struct sl_event {
	uint64_t seq;
	int64_t time_ms;
	sl_event_type type;
	uint64_t command_seq;
	uint32_t line;
	uint64_t item_seq;
	char command_key[SL_KEY_MAX + 1];
	char reason[SL_REASON_MAX + 1];
	char order_id[SL_ID_MAX + 1];
	sl_item_key item;
	sl_item_state before;
	sl_item_state after;
	int64_t delta_quantity;
	int64_t delta_counter;
	unsigned char hash[SL_HASH_BYTES]; /* chain hash, filled by the log */
	/* orders: set on the events of order commands and settings changes */
	char order_line_id[SL_ID_MAX + 1];
	sl_order_line_state line_before;
	sl_order_line_state line_after;
	uint64_t order_seq;
	sl_order_status order_status_before;
	sl_order_status order_status;
	sl_trigger trigger;
	sl_trigger trigger_before;
	uint32_t order_lines;
	bool is_no_restock;
} sl_event;

typedef enum sl_cmd_type {
	SL_CMD_NONE = 0,
	SL_CMD_CREATE,
	SL_CMD_UPDATE,
	SL_CMD_DELETE,
	SL_CMD_INCREMENT,
	SL_CMD_DECREMENT,
	/* reads: served from committed state, never queued */
	SL_CMD_GET,
	SL_CMD_HISTORY,
	SL_CMD_HEAD,
	/* orders: writes */
	SL_CMD_SETTINGS_SET,
	SL_CMD_ORDER_PLACE,
	SL_CMD_ORDER_PAY,
	SL_CMD_ORDER_PAYMENT_FAILED,
	SL_CMD_ORDER_CANCEL,
	SL_CMD_ORDER_REFUND,
	SL_CMD_ORDER_EDIT,
	/* orders: reads */
	SL_CMD_SETTINGS_GET,
	SL_CMD_ORDER_GET,
	SL_CMD_ORDER_HOLDS,
	/* audit reads (issue 4) */
	SL_CMD_QUERY,
	SL_CMD_EXPLAIN,
	SL_CMD_EVENTS,
} sl_cmd_type;

typedef struct sl_line {
	sl_item_key item;
	int64_t quantity;
	char line_id[SL_ID_MAX + 1]; /* order lines; "" elsewhere */
} sl_line;

/* sl_command: one decoded command. Optional fields have a has_ flag. */
typedef struct sl_command {
	sl_cmd_type type;
	char key[SL_KEY_MAX + 1];
	char reason[SL_REASON_MAX + 1];
	char order_id[SL_ID_MAX + 1];
	/* keep a refusal decided by the rules under key (Command.keep_refusal: the bridge) */
	bool keep_refusal;
	/* a SHA-256 of the command's content without its key; equal for a faithful retry */
	unsigned char content_hash[SL_HASH_BYTES];
	sl_item_key item; /* create, update, delete, get, history */
	bool has_quantity;
	int64_t quantity;
	bool has_in_stock;
	bool in_stock;
	bool has_preorder_enabled;
	bool preorder_enabled;
	bool has_preorder_message;
	char preorder_message[SL_PREORDER_MESSAGE_MAX + 1];
	bool has_preorder_limit;
	int64_t preorder_limit;
	bool clear_preorder_limit;
	bool reset_preorder_counter; /* update: the preorder counter back to 0 */
	bool has_revision;
	int64_t revision;
	bool is_restricted;
	bool is_preorder_request;
	uint32_t limit;          /* history page size */
	uint64_t after_item_seq; /* history cursor */
	sl_trigger trigger;      /* settings set */
	bool is_no_restock;      /* order cancel, refund */
	sl_line *lines;          /* increment, decrement, order lines: owned, n_lines entries */
	size_t n_lines;
	/* set by the decoder when a field did not fit its bound: the command is refused with
	 * INVALID_ARGUMENT naming the field */
	char malformed_field[32];
	/* audit: point in time (get), ranges (history, events), long poll (events) */
	bool has_as_of_seq;
	uint64_t as_of_seq;
	bool has_as_of_ms;
	int64_t as_of_ms;
	uint64_t from_seq; /* 0: from the start */
	bool has_to_seq;   /* false: to the end; to_seq 0: nothing (seq 0 is before the log) */
	uint64_t to_seq;
	bool has_since_ms;
	int64_t since_ms;
	bool has_until_ms;
	int64_t until_ms;
	uint32_t wait_ms;
	struct ledger_query *query; /* SL_CMD_QUERY: owned, see ledger/query.h */
} sl_command;

/* sl_command_fini frees what cmd owns; a zeroed command is a harmless no-op. */
void sl_command_fini(sl_command *cmd);

bool sl_cmd_is_write(sl_cmd_type type);

/* sl_cmd_is_order tells whether type is a write decided by ledger_order_decide. */
bool sl_cmd_is_order(sl_cmd_type type);

/* sl_command_events_max bounds the events cmd may append (the writer sizes groups by it). */
size_t sl_command_events_max(const sl_command *cmd);

typedef struct sl_shortage {
	uint32_t index;
	sl_item_key item;
	int64_t requested;
	int64_t available;
} sl_shortage;

/* sl_error_info: the refusal of a command, with what a client needs to act on it. */
typedef struct sl_error_info {
	sl_err code;
	char message[256];
	bool has_index;
	uint32_t index;
	bool has_current_revision;
	int64_t current_revision;
	sl_shortage *shortages; /* owned, n_shortages entries */
	size_t n_shortages;
} sl_error_info;

void sl_error_info_fini(sl_error_info *info);

/* sl_error_set fills info with code and a printf-style message; returns code. */
sl_err sl_error_set(sl_error_info *info, sl_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

int sl_item_key_cmp(const sl_item_key *a, const sl_item_key *b);

#endif

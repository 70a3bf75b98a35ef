/*
 * codec.h: the ledger's records to and from bytes (protobuf-c, proto/stockledger.proto).
 * The only file of ledger/ that calls the generated protobuf-c functions.
 *
 * Encodings are deterministic: the same record always gives the same bytes, which is what
 * lets a rebuild reproduce the stored views byte for byte. Decoders treat input as untrusted
 * (it may come from a damaged disk): a field that does not fit its bound, or an enum value
 * the service does not know, is SL_ERR_CORRUPT; on any failure the outputs are untouched.
 */
#ifndef SL_CODEC_H
#define SL_CODEC_H

#include "base/sl_buf.h"
#include "ledger/types.h"

/* ledger_adjustment: events of one (order, reason) since an item's last absolute setting. */
typedef struct ledger_adjustment {
	char order_id[SL_ID_MAX + 1];
	char reason[SL_REASON_MAX + 1];
	uint32_t events;
	int64_t delta_quantity;
	int64_t delta_counter;
	uint64_t first_seq;
	uint64_t last_seq;
} ledger_adjustment;

/* ledger_hold: what one open order holds of an item: units taken off its quantity, and
 * units taken as preorders (counted in its preorder counter); of each, the units held since
 * before the explanation's setting (which counts them), the rest taken after it; of the
 * preorder units held since before it, those the item's counter no longer counts (taken
 * before its last reset or before the item was created again: they release nothing). */
typedef struct ledger_hold {
	char order_id[SL_ID_MAX + 1];
	int64_t quantity;
	int64_t preorder;
	int64_t quantity_before_setting;
	int64_t preorder_before_setting;
	int64_t preorder_uncounted;
} ledger_hold;

/* ledger_explanation: why an item has its quantity (projector/explain.h). */
typedef struct ledger_explanation {
	sl_event setting;
	const ledger_adjustment *groups;
	size_t n_groups;
	uint64_t events_since;
	int64_t adjusted_quantity;
	int64_t adjusted_counter;
	bool has_holds;
	const ledger_hold *holds;
	size_t n_holds;
	int64_t held_quantity;
	int64_t held_preorder;
	int64_t held_quantity_before_setting;
	int64_t held_preorder_before_setting;
	int64_t held_preorder_uncounted;
} ledger_explanation;

/* ledger_result: a command's reply, as sent to the client and kept for idempotent retries.
 * Pointers are borrowed for the duration of ledger_result_encode. */
typedef struct ledger_result {
	const sl_error_info *error; /* NULL on success */
	const sl_item *items;
	size_t n_items;
	uint64_t seq;
	const sl_event *events;
	size_t n_events;
	bool with_event_hashes;
	bool has_head_hash;
	unsigned char head_hash[SL_HASH_BYTES];
	uint64_t next_item_seq; /* 0: no further page */
	/* orders */
	const sl_order *order;
	const sl_settings *settings;
	bool is_unchanged; /* the order or setting already was so: nothing appended */
	const sl_hold *holds;
	size_t n_holds;
	const char *next_cursor; /* query cursor; NULL or "": no further page */
	const ledger_explanation *explanation;
	uint64_t as_of_seq; /* the seq the answer is as of, when has_as_of_seq or not 0 */
	bool has_as_of_seq;
} ledger_result;

/* ledger_event_encode appends the encoding of ev (without its hash) to out. */
sl_err ledger_event_encode(const sl_event *ev, sl_buf *out);

/* ledger_event_decode decodes len bytes into *ev (hash left zero). SL_ERR_CORRUPT if the
 * bytes are not an event. */
sl_err ledger_event_decode(const uint8_t *data, size_t len, sl_event *ev);

/* ledger_item_encode appends the encoding of a view to out; ledger_item_decode reads it. */
sl_err ledger_item_encode(const sl_item *item, sl_buf *out);
sl_err ledger_item_decode(const uint8_t *data, size_t len, sl_item *item);

/* ledger_order_encode appends the encoding of an order view to out. ledger_order_decode
 * reads one into *order, replacing (and freeing) what it held; *order is untouched on
 * failure (SL_ERR_CORRUPT, SL_ERR_NOMEM). */
sl_err ledger_order_encode(const sl_order *order, sl_buf *out);
sl_err ledger_order_decode(const uint8_t *data, size_t len, sl_order *order);

/* ledger_settings_encode / ledger_settings_decode: the settings view. */
sl_err ledger_settings_encode(const sl_settings *settings, sl_buf *out);
sl_err ledger_settings_decode(const uint8_t *data, size_t len, sl_settings *settings);

/* ledger_result_encode appends the encoding of an sl.Result to out. */
sl_err ledger_result_encode(const ledger_result *r, sl_buf *out);

/* ledger_result_encode_or_empty replaces out with the encoding of r; if that fails (out of
 * memory) out is left empty, which a client reports as a malformed reply. For the gateway,
 * which must answer every request with something. */
void ledger_result_encode_or_empty(const ledger_result *r, sl_buf *out);

/* ledger_result_mark_replayed appends `replayed: true` to an encoded Result (protobuf keeps
 * the last value of a field, so this sets it without decoding). */
sl_err ledger_result_mark_replayed(sl_buf *result);

/* ledger_idem_encode / ledger_idem_decode: the record kept per idempotency key, made at
 * time_ms (0: unknown, a record of a build before the retention window). On decode, result
 * is filled with a copy of the stored Result bytes. */
sl_err ledger_idem_encode(const unsigned char *content_hash, const uint8_t *result,
                          size_t result_len, uint64_t seq, int64_t time_ms, sl_buf *out);
sl_err ledger_idem_decode(const uint8_t *data, size_t len, unsigned char *content_hash,
                          sl_buf *result, uint64_t *seq, int64_t *time_ms);

/* ledger_idem_time reads only the time of an encoded record (0 when it has none), walking
 * the wire format without unpacking the rest: SL_ERR_CORRUPT if the fields do not parse
 * (*time_ms untouched). For the retention filter, which sees every record a compaction
 * rewrites. */
sl_err ledger_idem_time(const uint8_t *data, size_t len, int64_t *time_ms);

#endif

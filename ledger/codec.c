/*
 * codec.c: protobuf-c encoding of events, views, results and idempotency records.
 *
 * Encoders build the generated message on the stack, pointing into the C record (no copy,
 * no allocation but the output buffer). Decoders unpack with protobuf-c's allocator, copy
 * into the bounded C record, checking every bound, and free the message. Empty strings are
 * encoded as absent fields, so "" and "not set" are the same thing on disk: one encoding
 * per record.
 */
#include "ledger/codec.h"

#include <stdlib.h>
#include <string.h>

#include "base/banned.h"
#include "base/sl_util.h"
#include "stockledger.pb-c.h"

/* opt: a C string as an optional proto2 string (NULL = absent). */
static char *opt(const char *s)
{
	return s[0] != '\0' ? (char *)s : NULL;
}

static sl_err copy_str(char *dst, size_t dst_size, const char *src)
{
	if (src == NULL) {
		dst[0] = '\0';
		return SL_OK;
	}
	if (strlen(src) >= dst_size)
		return SL_ERR_CORRUPT;
	sl_strlcpy(dst, src, dst_size);
	return SL_OK;
}

static void key_to_pb(const sl_item_key *k, Sl__ItemKey *pb)
{
	sl__item_key__init(pb);
	pb->product_id = opt(k->product_id);
	pb->variant_id = opt(k->variant_id);
	pb->location_id = opt(k->location_id);
}

static sl_err key_from_pb(const Sl__ItemKey *pb, sl_item_key *k)
{
	memset(k, 0, sizeof(*k));
	if (pb == NULL)
		return SL_OK;
	sl_err rc = copy_str(k->product_id, sizeof(k->product_id), pb->product_id);
	if (rc == SL_OK)
		rc = copy_str(k->variant_id, sizeof(k->variant_id), pb->variant_id);
	if (rc == SL_OK)
		rc = copy_str(k->location_id, sizeof(k->location_id), pb->location_id);
	return rc;
}

/* Booleans and numbers are encoded only when they are not zero: one encoding per state. */
#define SET_OPT(pb, field, value)                                                                  \
	do {                                                                                       \
		(pb)->field = (value);                                                             \
		(pb)->has_##field = (value) != 0;                                                  \
	} while (0)

static void state_to_pb(const sl_item_state *s, Sl__ItemState *pb)
{
	sl__item_state__init(pb);
	SET_OPT(pb, exists, s->exists);
	SET_OPT(pb, track_quantity, s->track_quantity);
	SET_OPT(pb, quantity, s->quantity);
	SET_OPT(pb, in_stock, s->in_stock);
	SET_OPT(pb, preorder_enabled, s->preorder_enabled);
	pb->preorder_message = opt(s->preorder_message);
	pb->has_preorder_limit = s->has_preorder_limit;
	pb->preorder_limit = s->preorder_limit;
	SET_OPT(pb, preorder_counter, s->preorder_counter);
}

static sl_err state_from_pb(const Sl__ItemState *pb, sl_item_state *s)
{
	memset(s, 0, sizeof(*s));
	if (pb == NULL)
		return SL_OK;
	s->exists = pb->exists;
	s->track_quantity = pb->track_quantity;
	s->quantity = pb->quantity;
	s->in_stock = pb->in_stock;
	s->preorder_enabled = pb->preorder_enabled;
	s->has_preorder_limit = pb->has_preorder_limit;
	s->preorder_limit = pb->has_preorder_limit ? pb->preorder_limit : 0;
	s->preorder_counter = pb->preorder_counter;
	return copy_str(s->preorder_message, sizeof(s->preorder_message), pb->preorder_message);
}

typedef struct event_pb {
	Sl__Event ev;
	Sl__ItemKey key;
	Sl__ItemState before, after;
} event_pb;

static void event_to_pb(const sl_event *e, event_pb *pb, bool with_hash)
{
	sl__event__init(&pb->ev);
	key_to_pb(&e->item, &pb->key);
	state_to_pb(&e->before, &pb->before);
	state_to_pb(&e->after, &pb->after);
	Sl__Event *ev = &pb->ev;
	SET_OPT(ev, seq, e->seq);
	SET_OPT(ev, time_ms, e->time_ms);
	ev->type = (Sl__EventType)e->type;
	ev->has_type = e->type != SL_EV_UNKNOWN;
	ev->command_key = opt(e->command_key);
	ev->reason = opt(e->reason);
	ev->order_id = opt(e->order_id);
	ev->item = &pb->key;
	ev->before = &pb->before;
	ev->after = &pb->after;
	SET_OPT(ev, command_seq, e->command_seq);
	SET_OPT(ev, line, e->line);
	SET_OPT(ev, delta_quantity, e->delta_quantity);
	SET_OPT(ev, delta_counter, e->delta_counter);
	SET_OPT(ev, item_seq, e->item_seq);
	if (with_hash) {
		ev->has_hash = true;
		ev->hash.data = (uint8_t *)e->hash;
		ev->hash.len = SL_HASH_BYTES;
	}
}

static sl_err pack_into(const ProtobufCMessage *msg, sl_buf *out)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	sl_err rc = sl_buf_reserve(out, n);
	if (rc != SL_OK)
		return rc;
	size_t written = protobuf_c_message_pack(msg, out->data + out->len);
	SL_ASSERT(written == n);
	out->len += n;
	return SL_OK;
}

sl_err ledger_event_encode(const sl_event *ev, sl_buf *out)
{
	event_pb pb;
	event_to_pb(ev, &pb, false);
	return pack_into(&pb.ev.base, out);
}

/* Enum fields from the disk are checked against the values this service knows:
 * protobuf-c keeps an unknown value of a proto2 enum as it is. */
static bool event_type_is_known(int type)
{
	return type >= SL_EV_UNKNOWN && type <= SL_EV_ITEM_DECREMENTED;
}

static bool status_is_known(int status)
{
	return status >= SL_STATUS_UNKNOWN && status <= SL_STATUS_PREORDER;
}

sl_err ledger_event_decode(const uint8_t *data, size_t len, sl_event *ev)
{
	Sl__Event *pb = sl__event__unpack(NULL, len, data);
	if (pb == NULL)
		return SL_ERR_CORRUPT;
	/* decoded aside, so that *ev is untouched on failure */
	sl_event e;
	memset(&e, 0, sizeof(e));
	e.seq = pb->seq;
	e.time_ms = pb->time_ms;
	e.type = (sl_event_type)pb->type;
	e.command_seq = pb->command_seq;
	e.line = pb->line;
	e.item_seq = pb->item_seq;
	e.delta_quantity = pb->delta_quantity;
	e.delta_counter = pb->delta_counter;
	sl_err rc = event_type_is_known((int)pb->type) ? SL_OK : SL_ERR_CORRUPT;
	if (rc == SL_OK)
		rc = copy_str(e.command_key, sizeof(e.command_key), pb->command_key);
	if (rc == SL_OK)
		rc = copy_str(e.reason, sizeof(e.reason), pb->reason);
	if (rc == SL_OK)
		rc = copy_str(e.order_id, sizeof(e.order_id), pb->order_id);
	if (rc == SL_OK)
		rc = key_from_pb(pb->item, &e.item);
	if (rc == SL_OK)
		rc = state_from_pb(pb->before, &e.before);
	if (rc == SL_OK)
		rc = state_from_pb(pb->after, &e.after);
	sl__event__free_unpacked(pb, NULL);
	if (rc == SL_OK)
		*ev = e;
	return rc;
}

typedef struct item_pb {
	Sl__ItemView view;
	Sl__ItemKey key;
	Sl__ItemState state;
} item_pb;

static void item_to_pb(const sl_item *it, item_pb *pb)
{
	sl__item_view__init(&pb->view);
	key_to_pb(&it->key, &pb->key);
	state_to_pb(&it->state, &pb->state);
	Sl__ItemView *v = &pb->view;
	v->key = &pb->key;
	v->state = &pb->state;
	SET_OPT(v, revision, it->revision);
	SET_OPT(v, created_ms, it->created_ms);
	SET_OPT(v, updated_ms, it->updated_ms);
	SET_OPT(v, numeric_id, it->numeric_id);
	SET_OPT(v, item_seq, it->item_seq);
	SET_OPT(v, last_seq, it->last_seq);
	v->availability_status = (Sl__AvailabilityStatus)it->status;
	v->has_availability_status = it->status != SL_STATUS_UNKNOWN;
}

sl_err ledger_item_encode(const sl_item *item, sl_buf *out)
{
	item_pb pb;
	item_to_pb(item, &pb);
	return pack_into(&pb.view.base, out);
}

sl_err ledger_item_decode(const uint8_t *data, size_t len, sl_item *item)
{
	Sl__ItemView *pb = sl__item_view__unpack(NULL, len, data);
	if (pb == NULL)
		return SL_ERR_CORRUPT;
	/* decoded aside, so that *item is untouched on failure */
	sl_item it;
	memset(&it, 0, sizeof(it));
	it.revision = pb->revision;
	it.created_ms = pb->created_ms;
	it.updated_ms = pb->updated_ms;
	it.numeric_id = pb->numeric_id;
	it.item_seq = pb->item_seq;
	it.last_seq = pb->last_seq;
	it.status = (sl_status)pb->availability_status;
	sl_err rc = status_is_known((int)pb->availability_status) ? SL_OK : SL_ERR_CORRUPT;
	if (rc == SL_OK)
		rc = key_from_pb(pb->key, &it.key);
	if (rc == SL_OK)
		rc = state_from_pb(pb->state, &it.state);
	sl__item_view__free_unpacked(pb, NULL);
	if (rc == SL_OK)
		*item = it;
	return rc;
}

sl_err ledger_result_encode(const ledger_result *r, sl_buf *out)
{
	sl_err rc = SL_ERR_NOMEM;
	Sl__Result res;
	Sl__Error err;
	Sl__Shortage *short_pb = NULL, **short_ptrs = NULL;
	Sl__ItemKey *short_keys = NULL;
	item_pb *items_pb = NULL;
	Sl__ItemView **item_ptrs = NULL;
	event_pb *events_pb = NULL;
	Sl__Event **event_ptrs = NULL;

	sl__result__init(&res);
	if (r->error != NULL) {
		const sl_error_info *e = r->error;
		sl__error__init(&err);
		err.code = (char *)sl_err_name(e->code);
		err.message = (char *)e->message;
		err.has_index = e->has_index;
		err.index = e->index;
		err.has_current_revision = e->has_current_revision;
		err.current_revision = e->current_revision;
		if (e->n_shortages > 0) {
			short_pb = calloc(e->n_shortages, sizeof(*short_pb));
			short_ptrs = calloc(e->n_shortages, sizeof(*short_ptrs));
			short_keys = calloc(e->n_shortages, sizeof(*short_keys));
			if (short_pb == NULL || short_ptrs == NULL || short_keys == NULL)
				goto fail;
			for (size_t i = 0; i < e->n_shortages; i++) {
				const sl_shortage *s = &e->shortages[i];
				sl__shortage__init(&short_pb[i]);
				key_to_pb(&s->item, &short_keys[i]);
				short_pb[i].has_index = true;
				short_pb[i].index = s->index;
				short_pb[i].item = &short_keys[i];
				short_pb[i].has_requested = true;
				short_pb[i].requested = s->requested;
				short_pb[i].has_available = true;
				short_pb[i].available = s->available;
				short_ptrs[i] = &short_pb[i];
			}
			err.n_shortages = e->n_shortages;
			err.shortages = short_ptrs;
		}
		res.error = &err;
	}
	if (r->n_items > 0) {
		items_pb = calloc(r->n_items, sizeof(*items_pb));
		item_ptrs = calloc(r->n_items, sizeof(*item_ptrs));
		if (items_pb == NULL || item_ptrs == NULL)
			goto fail;
		for (size_t i = 0; i < r->n_items; i++) {
			item_to_pb(&r->items[i], &items_pb[i]);
			item_ptrs[i] = &items_pb[i].view;
		}
		res.n_items = r->n_items;
		res.items = item_ptrs;
	}
	if (r->n_events > 0) {
		events_pb = calloc(r->n_events, sizeof(*events_pb));
		event_ptrs = calloc(r->n_events, sizeof(*event_ptrs));
		if (events_pb == NULL || event_ptrs == NULL)
			goto fail;
		for (size_t i = 0; i < r->n_events; i++) {
			event_to_pb(&r->events[i], &events_pb[i], r->with_event_hashes);
			event_ptrs[i] = &events_pb[i].ev;
		}
		res.n_events = r->n_events;
		res.events = event_ptrs;
	}
	SET_OPT(&res, seq, r->seq);
	if (r->has_head_hash) {
		res.has_head_hash = true;
		res.head_hash.data = (uint8_t *)r->head_hash;
		res.head_hash.len = SL_HASH_BYTES;
	}
	SET_OPT(&res, next_item_seq, r->next_item_seq);
	rc = pack_into(&res.base, out);
fail:
	free(event_ptrs);
	free(events_pb);
	free(item_ptrs);
	free(items_pb);
	free(short_keys);
	free(short_ptrs);
	free(short_pb);
	return rc;
}

sl_err ledger_result_mark_replayed(sl_buf *result)
{
	/* field 5, wire type 0 (varint): tag byte (5 << 3) | 0, value 1 */
	static const uint8_t replayed_true[2] = {5 << 3, 1};
	return sl_buf_append(result, replayed_true, sizeof(replayed_true));
}

sl_err ledger_idem_encode(const unsigned char *content_hash, const uint8_t *result,
                          size_t result_len, uint64_t seq, sl_buf *out)
{
	Sl__IdemRecord rec;
	sl__idem_record__init(&rec);
	rec.has_content_hash = true;
	rec.content_hash.data = (uint8_t *)content_hash;
	rec.content_hash.len = SL_HASH_BYTES;
	rec.has_result = true;
	rec.result.data = (uint8_t *)result;
	rec.result.len = result_len;
	SET_OPT(&rec, seq, seq);
	return pack_into(&rec.base, out);
}

sl_err ledger_idem_decode(const uint8_t *data, size_t len, unsigned char *content_hash,
                          sl_buf *result, uint64_t *seq)
{
	Sl__IdemRecord *rec = sl__idem_record__unpack(NULL, len, data);
	if (rec == NULL)
		return SL_ERR_CORRUPT;
	sl_err rc = SL_ERR_CORRUPT;
	if (rec->content_hash.len == SL_HASH_BYTES) {
		/* room first, so that nothing is written unless everything can be */
		size_t n = rec->result.len;
		rc = sl_buf_reserve(result, n > result->len ? n - result->len : 0);
		if (rc == SL_OK) {
			rc = sl_buf_set(result, rec->result.data, n);
			SL_ASSERT(rc == SL_OK);
			memcpy(content_hash, rec->content_hash.data, SL_HASH_BYTES);
			*seq = rec->seq;
		}
	}
	sl__idem_record__free_unpacked(rec, NULL);
	return rc;
}

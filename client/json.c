/*
 * json.c: decoded replies as the JSON objects of stockctl --json. Absent sub-messages read as
 * their defaults (an item with no state is a not-tracked, out-of-stock item), so a reply
 * from an older or newer service never crashes the printer. Times are RFC 3339 UTC with
 * milliseconds; absent strings are "" except orderId, which is null when empty.
 *
 * json_pack's "o" steals its reference even when packing fails, so a NULL from any nested
 * builder turns into a NULL result without leaks.
 */
#include "client/json.h"

#include "base/banned.h"
#include "base/sl_limits.h"
#include "base/sl_util.h"

static const Sl__ItemKey key_none = SL__ITEM_KEY__INIT;
static const Sl__ItemState state_none = SL__ITEM_STATE__INIT;

static const char *str_or_empty(const char *s)
{
	return s != NULL ? s : "";
}

static json_t *str_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

static json_t *limit_json(const Sl__ItemState *s)
{
	return s->has_preorder_limit ? json_integer(s->preorder_limit) : json_null();
}

static const char *status_name(Sl__AvailabilityStatus st)
{
	switch (st) {
	case SL__AVAILABILITY_STATUS__IN_STOCK:
		return "IN_STOCK";
	case SL__AVAILABILITY_STATUS__OUT_OF_STOCK:
		return "OUT_OF_STOCK";
	case SL__AVAILABILITY_STATUS__PREORDER:
		return "PREORDER";
	default:
		return "UNKNOWN";
	}
}

static const char *event_type_name(Sl__EventType t)
{
	switch (t) {
	case SL__EVENT_TYPE__ITEM_CREATED:
		return "item_created";
	case SL__EVENT_TYPE__ITEM_UPDATED:
		return "item_updated";
	case SL__EVENT_TYPE__ITEM_DELETED:
		return "item_deleted";
	case SL__EVENT_TYPE__ITEM_INCREMENTED:
		return "item_incremented";
	case SL__EVENT_TYPE__ITEM_DECREMENTED:
		return "item_decremented";
	default:
		return "unknown";
	}
}

/* join moves the members of b into a, in order, and returns a; NULL if either is NULL or
 * memory runs out (both are released then). */
static json_t *join(json_t *a, json_t *b)
{
	if (a == NULL || b == NULL || json_object_update(a, b) != 0) {
		json_decref(a);
		a = NULL;
	}
	json_decref(b);
	return a;
}

static json_t *key_json(const Sl__ItemKey *k)
{
	if (k == NULL)
		k = &key_none;
	return json_pack("{s:s, s:s, s:s}", "productId", str_or_empty(k->product_id), "variantId",
	                 str_or_empty(k->variant_id), "locationId", str_or_empty(k->location_id));
}

json_t *sl_json_item(const Sl__ItemView *item)
{
	const Sl__ItemState *s = item->state != NULL ? item->state : &state_none;
	char created[40], updated[40];
	sl_time_format(item->created_ms, created, sizeof(created));
	sl_time_format(item->updated_ms, updated, sizeof(updated));
	json_t *o =
	    join(key_json(item->key), json_pack("{s:b}", "trackQuantity", s->track_quantity));
	if (s->track_quantity)
		o = join(o, json_pack("{s:I}", "quantity", (json_int_t)s->quantity));
	return join(o, json_pack("{s:b, s:s, s:{s:b, s:s, s:o, s:I}, s:I, s:s, s:s, s:I, s:I}",
	                         "inStock", s->in_stock, "availabilityStatus",
	                         status_name(item->availability_status), "preorderInfo", "enabled",
	                         s->preorder_enabled, "message", str_or_empty(s->preorder_message),
	                         "limit", limit_json(s), "counter", (json_int_t)s->preorder_counter,
	                         "revision", (json_int_t)item->revision, "createdDate", created,
	                         "updatedDate", updated, "numericId", (json_int_t)item->numeric_id,
	                         "itemSeq", (json_int_t)item->item_seq));
}

static json_t *state_json(const Sl__ItemState *s)
{
	if (s == NULL)
		s = &state_none;
	return json_pack("{s:b, s:b, s:I, s:b, s:b, s:o, s:I}", "exists", s->exists,
	                 "trackQuantity", s->track_quantity, "quantity", (json_int_t)s->quantity,
	                 "inStock", s->in_stock, "preorderEnabled", s->preorder_enabled,
	                 "preorderLimit", limit_json(s), "preorderCounter",
	                 (json_int_t)s->preorder_counter);
}

json_t *sl_json_event(const Sl__Event *ev)
{
	char t[40];
	sl_time_format(ev->time_ms, t, sizeof(t));
	json_t *o =
	    json_pack("{s:I, s:I, s:I, s:I, s:s, s:s, s:s, s:s, s:o}", "seq", (json_int_t)ev->seq,
	              "itemSeq", (json_int_t)ev->item_seq, "commandSeq",
	              (json_int_t)ev->command_seq, "line", (json_int_t)ev->line, "type",
	              event_type_name(ev->type), "time", t, "key", str_or_empty(ev->command_key),
	              "reason", str_or_empty(ev->reason), "orderId", str_or_null(ev->order_id));
	o = join(o, key_json(ev->item));
	o = join(o,
	         json_pack("{s:o, s:o, s:I, s:I}", "before", state_json(ev->before), "after",
	                   state_json(ev->after), "deltaQuantity", (json_int_t)ev->delta_quantity,
	                   "deltaCounter", (json_int_t)ev->delta_counter));
	if (ev->has_hash && ev->hash.len <= SL_HASH_BYTES) {
		char hex[2 * SL_HASH_BYTES + 1];
		sl_hex(ev->hash.data, ev->hash.len, hex);
		o = join(o, json_pack("{s:s}", "hash", hex));
	}
	return o;
}

static json_t *shortage_json(const Sl__Shortage *sh)
{
	json_t *o = json_pack("{s:I}", "index", (json_int_t)sh->index);
	o = join(o, key_json(sh->item));
	return join(o, json_pack("{s:I, s:I}", "requested", (json_int_t)sh->requested, "available",
	                         (json_int_t)sh->available));
}

json_t *sl_json_error(const Sl__Error *err)
{
	json_t *details = json_object();
	if (details == NULL)
		return NULL;
	if (err->n_shortages > 0) {
		json_t *items = json_array();
		if (json_object_set_new(details, "items", items) != 0)
			goto fail;
		for (size_t i = 0; i < err->n_shortages; i++)
			if (json_array_append_new(items, shortage_json(err->shortages[i])) != 0)
				goto fail;
	}
	if (err->has_index && json_object_set_new(details, "index", json_integer(err->index)) != 0)
		goto fail;
	if (err->has_current_revision &&
	    json_object_set_new(details, "currentRevision", json_integer(err->current_revision)) !=
	        0)
		goto fail;
	return json_pack("{s:s, s:s, s:o}", "code", err->code != NULL ? err->code : "INTERNAL",
	                 "message", str_or_empty(err->message), "details", details);
fail:
	json_decref(details);
	return NULL;
}

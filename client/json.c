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
	case SL__EVENT_TYPE__SETTINGS_UPDATED:
		return "settings_updated";
	case SL__EVENT_TYPE__ORDER_PLACED:
		return "order_placed";
	case SL__EVENT_TYPE__ORDER_PAID:
		return "order_paid";
	case SL__EVENT_TYPE__ORDER_PAYMENT_FAILED:
		return "order_payment_failed";
	case SL__EVENT_TYPE__ORDER_CANCELED:
		return "order_canceled";
	case SL__EVENT_TYPE__ORDER_REFUNDED:
		return "order_refunded";
	case SL__EVENT_TYPE__ORDER_EDITED:
		return "order_edited";
	case SL__EVENT_TYPE__ORDER_LINE_CHANGED:
		return "order_line_changed";
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
	/* preorderCounterSince: the seq of the event since which the counter counts (its last
	 * reset, or a create after a delete); 0: since the item's first create */
	return json_pack("{s:b, s:b, s:I, s:b, s:b, s:o, s:I, s:I}", "exists", s->exists,
	                 "trackQuantity", s->track_quantity, "quantity", (json_int_t)s->quantity,
	                 "inStock", s->in_stock, "preorderEnabled", s->preorder_enabled,
	                 "preorderLimit", limit_json(s), "preorderCounter",
	                 (json_int_t)s->preorder_counter, "preorderCounterSince",
	                 (json_int_t)s->preorder_since);
}

const char *sl_json_trigger_name(Sl__InventoryUpdateTrigger t)
{
	switch (t) {
	case SL__INVENTORY_UPDATE_TRIGGER__ON_ORDER_PLACED:
		return "ON_ORDER_PLACED";
	case SL__INVENTORY_UPDATE_TRIGGER__ON_ORDER_PAID:
		return "ON_ORDER_PAID";
	default:
		return "UNKNOWN";
	}
}

const char *sl_json_order_status_name(Sl__OrderStatus st)
{
	switch (st) {
	case SL__ORDER_STATUS__PLACED:
		return "PLACED";
	case SL__ORDER_STATUS__PAID:
		return "PAID";
	case SL__ORDER_STATUS__PAYMENT_FAILED:
		return "PAYMENT_FAILED";
	case SL__ORDER_STATUS__CANCELED:
		return "CANCELED";
	case SL__ORDER_STATUS__REFUNDED:
		return "REFUNDED";
	default:
		return "UNKNOWN";
	}
}

static const Sl__OrderLineState line_state_none = SL__ORDER_LINE_STATE__INIT;

static json_t *line_state_json(const Sl__OrderLineState *s)
{
	if (s == NULL)
		s = &line_state_none;
	/* heldPreorderUncounted: of heldPreorder, the units the item's counter no longer counts
	 * (taken before its reset or a create after a delete): they release nothing */
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:b}", "quantity", (json_int_t)s->quantity,
	                 "held", (json_int_t)s->held, "heldPreorder", (json_int_t)s->held_preorder,
	                 "heldPreorderUncounted", (json_int_t)s->held_preorder_uncounted,
	                 "refundQuantity", (json_int_t)s->refunded, "restockQuantity",
	                 (json_int_t)s->restocked, "untracked", s->untracked ? 1 : 0);
}

/* event_order_json: the order fields of an event, only those it carries (an item event
 * without an order looks as it did before orders existed). */
static json_t *event_order_json(const Sl__Event *ev)
{
	json_t *o = json_object();
	if (ev->order_line_id != NULL)
		o = join(o, json_pack("{s:s, s:o, s:o}", "orderLineId", ev->order_line_id,
		                      "lineBefore", line_state_json(ev->line_before), "lineAfter",
		                      line_state_json(ev->line_after)));
	if (ev->has_order_seq)
		o = join(o, json_pack("{s:I}", "orderSeq", (json_int_t)ev->order_seq));
	if (ev->has_order_status)
		o = join(o, json_pack("{s:s, s:s}", "orderStatusBefore",
		                      ev->has_order_status_before
		                          ? sl_json_order_status_name(ev->order_status_before)
		                          : "NONE",
		                      "orderStatus", sl_json_order_status_name(ev->order_status)));
	if (ev->has_trigger)
		o = join(o, json_pack("{s:s}", "inventoryUpdateTrigger",
		                      sl_json_trigger_name(ev->trigger)));
	if (ev->has_trigger_before)
		o = join(o, json_pack("{s:s}", "inventoryUpdateTriggerBefore",
		                      sl_json_trigger_name(ev->trigger_before)));
	if (ev->has_no_restock)
		o = join(o, json_pack("{s:b}", "noRestock", ev->no_restock));
	return o;
}

json_t *sl_json_order(const Sl__OrderView *order)
{
	char created[40], updated[40];
	sl_time_format(order->created_ms, created, sizeof(created));
	sl_time_format(order->updated_ms, updated, sizeof(updated));
	json_t *lines = json_array();
	for (size_t i = 0; lines != NULL && i < order->n_lines; i++) {
		const Sl__OrderLine *l = order->lines[i];
		json_t *seqs = json_array();
		for (size_t j = 0; seqs != NULL && j < l->n_seqs; j++)
			if (json_array_append_new(seqs, json_integer((json_int_t)l->seqs[j])) !=
			    0) {
				json_decref(seqs);
				seqs = NULL;
			}
		json_t *lo = json_pack("{s:s}", "lineId", str_or_empty(l->line_id));
		lo = join(lo, key_json(l->item));
		lo = join(lo, line_state_json(l->state));
		lo = join(lo, json_pack("{s:o}", "seqs", seqs));
		if (json_array_append_new(lines, lo) != 0) {
			json_decref(lines);
			lines = NULL;
		}
	}
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:o}", "orderId",
	                 str_or_empty(order->order_id), "status",
	                 sl_json_order_status_name(order->status), "inventoryUpdateTrigger",
	                 sl_json_trigger_name(order->trigger), "createdDate", created,
	                 "updatedDate", updated, "orderSeq", (json_int_t)order->order_seq,
	                 "lastSeq", (json_int_t)order->last_seq, "lines", lines);
}

json_t *sl_json_settings(const Sl__Settings *s)
{
	char updated[40];
	json_t *date = json_null();
	if (s->has_updated_ms) {
		json_decref(date);
		date = json_string(sl_time_format(s->updated_ms, updated, sizeof(updated)));
	}
	return json_pack("{s:s, s:o}", "inventoryUpdateTrigger",
	                 sl_json_trigger_name(s->has_inventory_update_trigger
	                                          ? s->inventory_update_trigger
	                                          : SL__INVENTORY_UPDATE_TRIGGER__ON_ORDER_PLACED),
	                 "updatedDate", date);
}

json_t *sl_json_hold(const Sl__Hold *h)
{
	json_t *o = json_pack("{s:s, s:s}", "orderId", str_or_empty(h->order_id), "lineId",
	                      str_or_empty(h->line_id));
	o = join(o, key_json(h->item));
	return join(o, json_pack("{s:I, s:I}", "held", (json_int_t)h->held, "heldPreorder",
	                         (json_int_t)h->held_preorder));
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
	o = join(o, event_order_json(ev));
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

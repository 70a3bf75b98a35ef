/*
 * json.h: the JSON shapes of stockctl --json (the contract in README "JSON output"), built
 * with jansson from decoded replies. Each function returns a new reference (NULL on
 * out-of-memory).
 */
#ifndef SL_CLIENT_JSON_H
#define SL_CLIENT_JSON_H

#include <jansson.h>

#include "stockledger.pb-c.h"

/* sl_json_item: an item object (productId, variantId, locationId, trackQuantity, quantity,
 * inStock, availabilityStatus, preorderInfo, revision, createdDate, updatedDate, ...). */
json_t *sl_json_item(const Sl__ItemView *item);

/* sl_json_event: an event object (seq, itemSeq, type, time, reason, orderId, item, before,
 * after, ...). */
json_t *sl_json_event(const Sl__Event *ev);

/* sl_json_order: an order (orderId, status, inventoryUpdateTrigger, createdDate,
 * updatedDate, orderSeq, lastSeq, lines: [{lineId, productId, variantId, locationId,
 * quantity, held, heldPreorder, refundQuantity, restockQuantity, seqs}]). */
json_t *sl_json_order(const Sl__OrderView *order);

/* sl_json_settings: {inventoryUpdateTrigger, updatedDate (null: never set)}. */
json_t *sl_json_settings(const Sl__Settings *settings);

/* sl_json_hold: {orderId, lineId, productId, variantId, locationId, held, heldPreorder}. */
json_t *sl_json_hold(const Sl__Hold *hold);

/* The wire names of the order enums ("ON_ORDER_PAID", "PAID"). */
const char *sl_json_trigger_name(Sl__InventoryUpdateTrigger trigger);
const char *sl_json_order_status_name(Sl__OrderStatus status);

/* sl_json_error: {"code", "message", "details"}. */
json_t *sl_json_error(const Sl__Error *err);

#endif

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

/* sl_json_error: {"code", "message", "details"}. */
json_t *sl_json_error(const Sl__Error *err);

#endif

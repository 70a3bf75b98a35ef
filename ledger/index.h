/*
 * index.h: the secondary indexes of the item views (issue 4, auditing), kept in the column
 * family STORE_CF_ITEM_INDEX next to the views and written in the same WriteBatch, so an
 * index never disagrees with the views it indexes (ledger_txn_put_view stages both).
 *
 * Every index key is a tag byte, the indexed value in an encoding that sorts like the value,
 * and the item key (ledger_key_encode); values are empty. The item key makes each index key
 * unique and orders items of equal value by key, so a scan in index order is a total order.
 *
 *   'V' variantId  '\0' item key   every row, deleted items included (immutable attribute)
 *   'L' locationId '\0' item key   every row, deleted items included (immutable attribute)
 *   'S' status[1]       item key   existing items
 *   'Q' tracked[1] be64(quantity ^ 2^63) item key   existing items (untracked sort first)
 *   'C' be64(createdDate ^ 2^63) item key           existing items
 *   'U' be64(updatedDate ^ 2^63) item key           existing items
 *
 * Products need no index: the views themselves are keyed by product first.
 * All functions are pure (no I/O) except ledger_index_stage, which adds to a batch.
 */
#ifndef SL_LEDGER_INDEX_H
#define SL_LEDGER_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ledger/ledger.h"
#include "ledger/store.h"
#include "ledger/types.h"

#define LEDGER_INDEX_VARIANT 'V'
#define LEDGER_INDEX_LOCATION 'L'
#define LEDGER_INDEX_STATUS 'S'
#define LEDGER_INDEX_QUANTITY 'Q'
#define LEDGER_INDEX_CREATED 'C'
#define LEDGER_INDEX_UPDATED 'U'
/* indexes one item can have */
#define LEDGER_INDEX_PER_ITEM 6
/* the longest index key: tag, a value of up to SL_ID_MAX + 1 bytes, the item key */
#define LEDGER_INDEX_KEY_BYTES (1 + SL_ID_MAX + 1 + LEDGER_KEY_BYTES)

/* ledger_index_row: what the indexes of one item depend on. */
typedef struct ledger_index_row {
	sl_item_key key;
	bool exists;
	bool track_quantity;
	int64_t quantity;
	int64_t created_ms;
	int64_t updated_ms;
	sl_status status;
} ledger_index_row;

/* ledger_index_row_of takes the indexed fields of item into out. */
void ledger_index_row_of(const sl_item *item, ledger_index_row *out);

/* ledger_index_keys writes the index keys of row into keys (LEDGER_INDEX_PER_ITEM keys of
 * LEDGER_INDEX_KEY_BYTES each) and their lengths into lens; returns how many. */
size_t ledger_index_keys(const ledger_index_row *row,
                         uint8_t keys[LEDGER_INDEX_PER_ITEM][LEDGER_INDEX_KEY_BYTES],
                         size_t lens[LEDGER_INDEX_PER_ITEM]);

/* ledger_index_stage adds to b what turns the index rows of old (NULL: the item had no
 * view) into those of row in cf (STORE_CF_ITEM_INDEX, or its shadow for a rebuild):
 * deletes of keys that go, puts of keys that come. */
void ledger_index_stage(store_batch *b, store_cf cf, const ledger_index_row *old,
                        const ledger_index_row *row);

/* ledger_index_u64 maps a signed value to an unsigned one of the same order. */
uint64_t ledger_index_u64(int64_t v);

/* ledger_index_item_key returns where the item key starts in index key k (klen bytes), or
 * SIZE_MAX if k is not an index key. */
size_t ledger_index_item_key(const uint8_t *k, size_t klen);

/* ledger_key_decode parses a store item key (ledger_key_encode) into out.
 * SL_ERR_CORRUPT if the bytes are not one. */
sl_err ledger_key_decode(const uint8_t *k, size_t klen, sl_item_key *out);

#endif

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
 *
 * 'Q' and 'U' are the hot indexes: every event changes updatedDate and nearly every one the
 * quantity, so their rows would be deleted and put again per event. They are kept in memory
 * (ledger/memindex.h), never in the family; the four others are stored.
 * All functions are pure (no I/O) except ledger_index_stage, which adds to a batch.
 */
#ifndef SL_LEDGER_INDEX_H
#define SL_LEDGER_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/sl_buf.h"
#include "ledger/ledger.h"
#include "ledger/store.h"
#include "ledger/types.h"

#define LEDGER_INDEX_VARIANT 'V'
#define LEDGER_INDEX_LOCATION 'L'
#define LEDGER_INDEX_STATUS 'S'
#define LEDGER_INDEX_QUANTITY 'Q'
#define LEDGER_INDEX_CREATED 'C'
#define LEDGER_INDEX_UPDATED 'U'
/* indexes one item can have, of them stored in STORE_CF_ITEM_INDEX, and hot (in memory) */
#define LEDGER_INDEX_PER_ITEM 6
#define LEDGER_INDEX_STORED_PER_ITEM 4
#define LEDGER_INDEX_HOT_PER_ITEM 2

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

/* ledger_index_key_cmp orders index keys (and bounds of ranges of them) as RocksDB's
 * default comparator does: bytes, then the shorter first. */
int ledger_index_key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

/* ledger_index_is_hot tells whether the index of tag is a hot one ('Q', 'U'): kept in
 * memory, not in the family. */
bool ledger_index_is_hot(uint8_t tag);

/* ledger_hot_ops: changes of the hot indexes, staged in order (a delete and an insert per
 * changed key), applied to the in-memory indexes after the commit of what they go with.
 * Zeroed storage is an empty list; ledger_hot_ops_fini releases it. */
typedef struct ledger_hot_ops {
	sl_buf ops; /* per op: is_insert[1] len[2, big-endian] key[len] */
	size_t n;
	bool is_nomem; /* an op could not be staged: applying the list fails */
} ledger_hot_ops;

void ledger_hot_ops_clear(ledger_hot_ops *h);
void ledger_hot_ops_fini(ledger_hot_ops *h);

/* ledger_hot_ops_next reads the op at *off of h into is_insert, k and klen (k points into
 * h), moves *off past it; false at the end. */
bool ledger_hot_ops_next(const ledger_hot_ops *h, size_t *off, bool *is_insert, const uint8_t **k,
                         size_t *klen);

/* ledger_index_stage adds to b what turns the stored index rows of old (NULL: the item had
 * no view) into those of row in cf (STORE_CF_ITEM_INDEX, or its shadow for a rebuild):
 * deletes of keys that go, puts of keys that come; and the same for the hot keys to hot
 * (NULL: the hot keys are not wanted, as in a rebuild, whose ledger derives them again). */
void ledger_index_stage(store_batch *b, store_cf cf, ledger_hot_ops *hot,
                        const ledger_index_row *old, const ledger_index_row *row);

/* ledger_index_u64 maps a signed value to an unsigned one of the same order. */
uint64_t ledger_index_u64(int64_t v);

/* ledger_index_item_key returns where the item key starts in index key k (klen bytes), or
 * SIZE_MAX if k is not an index key. */
size_t ledger_index_item_key(const uint8_t *k, size_t klen);

/* ledger_key_decode parses a store item key (ledger_key_encode) into out.
 * SL_ERR_CORRUPT if the bytes are not one. */
sl_err ledger_key_decode(const uint8_t *k, size_t klen, sl_item_key *out);

#endif

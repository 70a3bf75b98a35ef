/*
 * viewmap.h: item views in memory, compact. An entry holds a view's fields without the
 * fixed-size strings of sl_item (about 150 bytes an item with its key instead of 1.4 KiB),
 * keyed by the item's store key (ledger_key_encode). Used by the rebuild's fold (which
 * spills it to the store past a bound) and by the writer, which keeps the views it
 * committed so that deciding a command does not read them back from the store.
 *
 * Entries live in 1 MiB chunks and never move until viewmap_clear; the preorder message is
 * a heap copy. Open addressing with linear probing over slots holding an entry's pointer
 * and hash (a probe reads no entry but the one it finds), doubled at 50% load. Not
 * thread-safe: one owner.
 */
#ifndef SL_PROJECTOR_VIEWMAP_H
#define SL_PROJECTOR_VIEWMAP_H

#include <stddef.h>
#include <stdint.h>

#include "base/sl_err.h"
#include "ledger/types.h"

typedef struct viewmap_entry viewmap_entry;

typedef struct viewmap_slot viewmap_slot;

typedef struct viewmap {
	viewmap_slot *slots;
	size_t n_slots, n;
	unsigned char **chunks;
	size_t n_chunks, chunks_cap, chunk_used; /* chunk_used: bytes of the last chunk */
	size_t message_bytes;
} viewmap;

sl_err viewmap_init(viewmap *m);
void viewmap_fini(viewmap *m);

/* viewmap_clear forgets every entry, keeping the table and the first chunk. */
void viewmap_clear(viewmap *m);

/* viewmap_bytes: the memory the map holds (chunks, table, messages). */
size_t viewmap_bytes(const viewmap *m);

/* viewmap_hash: the hash of store key k, which find and add take. */
uint32_t viewmap_hash(const uint8_t *k, size_t klen);

/* viewmap_find: the entry of store key k (hash h), or NULL. */
viewmap_entry *viewmap_find(const viewmap *m, const uint8_t *k, size_t klen, uint32_t h);

/* viewmap_prefetch and viewmap_prefetch_entry ask the processor for the memory a later find
 * of hash h reads: the slot, then the entry it points to (prefetch_entry reads up to two
 * slots for that, which should be in the cache by then). They change nothing, and a map that
 * grows meanwhile only makes them useless. The map must be initialised (viewmap_init); the
 * owner's thread, as for every other call. */
void viewmap_prefetch(const viewmap *m, uint32_t h);
void viewmap_prefetch_entry(const viewmap *m, uint32_t h);

/* viewmap_add adds a zeroed entry for store key k (hash h), which must be absent. NULL on
 * out-of-memory. */
viewmap_entry *viewmap_add(viewmap *m, const uint8_t *k, size_t klen, uint32_t h);

/* viewmap_next: the entry after position *pos (start at 0), in no particular order; NULL
 * after the last. */
viewmap_entry *viewmap_next(const viewmap *m, size_t *pos);

/* viewmap_entry_ordinal: the number of entries added before e since the map was last
 * cleared (0, 1, 2...: an index for arrays kept beside the map). */
uint32_t viewmap_entry_ordinal(const viewmap_entry *e);

/* viewmap_entry_key: the store key of e (valid as long as e). */
const uint8_t *viewmap_entry_key(const viewmap_entry *e, size_t *klen);

/* viewmap_entry_get expands e into out; key is the item's key if the caller has it (NULL:
 * decoded from the entry). */
void viewmap_entry_get(const viewmap_entry *e, const sl_item_key *key, sl_item *out);

/* viewmap_entry_set stores item into e. SL_ERR_NOMEM if its message cannot be copied. */
sl_err viewmap_entry_set(viewmap *m, viewmap_entry *e, const sl_item *item);

#endif

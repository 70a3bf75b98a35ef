/*
 * memindex.h: the secondary indexes that change with every event, kept in memory.
 *
 * Every event of an item changes its updatedDate and, nearly always, its quantity, so the
 * 'Q' and 'U' index rows of ledger/index.h were deleted and put again for every event: four
 * of the seven RocksDB rows an event cost, each a random memtable insert, then flushed and
 * compacted (docs/storage.md, "Hot indexes in memory"). A memindex holds those two indexes
 * instead: an ordered set of index keys in exactly the encoding of ledger/index.h,
 *
 *   'Q' tracked[1] be64(quantity ^ 2^63) item key
 *   'U' be64(updatedDate ^ 2^63) item key
 *
 * so that a query walks it with the same ranges and cursors as the RocksDB family. It is
 * derived data: the ledger builds it from the views when it opens and changes it after each
 * commit (ledger.h, "Hot indexes"); nothing of it is ever written to disk.
 *
 * Layout: one B+tree per tag whose entries are 16 bytes (the 65-bit value as a high byte and
 * 64 bits, and the number of an interned item key); each distinct item key is stored once,
 * in an arena, whatever its number of entries, and is never freed (a deleted item's key
 * stays, as its view does). Leaves hold MEMINDEX_LEAF_ENTRIES entries and are merged or
 * rebalanced when they fall under a quarter, so the tree stays within 4x its entries
 * whatever the order of changes.
 *
 * Not thread-safe: the caller serialises writers against readers (the ledger holds a
 * read-write lock around it). A position is valid until the next insert or delete.
 */
#ifndef SL_LEDGER_MEMINDEX_H
#define SL_LEDGER_MEMINDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/sl_util.h"
#include "ledger/index.h"

typedef struct memindex memindex;

/* memindex_pos: where an iteration is; meaningful only to memindex. */
typedef struct memindex_pos {
	const void *leaf;
	uint32_t i;
	uint8_t tag;
} memindex_pos;

/* memindex_alloc makes an empty index into *out: SL_OK or SL_ERR_NOMEM. */
sl_err memindex_alloc(memindex **out);

/* memindex_free releases h and all it holds; NULL is a no-op. */
void memindex_free(memindex *h);

/* memindex_clear removes every entry and interned key, keeping h usable. */
void memindex_clear(memindex *h);

/* memindex_is_hot tells whether index key k (klen bytes) belongs in a memindex: a 'Q' or
 * 'U' key (ledger/index.h) of a well-formed length, that is an item key of 1 to
 * LEDGER_KEY_BYTES bytes after the value. The bytes themselves are not checked (a 'Q'
 * tracked byte other than 0 or 1 sorts by its value like any other). */
bool memindex_is_hot(const uint8_t *k, size_t klen);

/* memindex_insert adds key k (memindex_is_hot). SL_ERR_NOMEM leaves h unchanged (its
 * entries and interned keys; memindex_bytes may have grown by capacity reserved);
 * SL_ERR_CORRUPT if k is not a hot key or is already present (h unchanged). */
sl_err memindex_insert(memindex *h, const uint8_t *k, size_t klen);

/* memindex_delete removes key k. SL_ERR_NOT_FOUND if it is absent; SL_ERR_CORRUPT if k is
 * not a hot key. Never allocates. */
sl_err memindex_delete(memindex *h, const uint8_t *k, size_t klen);

/* memindex_count: the entries held (both tags). */
size_t memindex_count(const memindex *h);

/* memindex_bytes: the heap memory h holds (nodes, arena, intern table), as the sizes it
 * asked malloc for (the allocator's own overhead is not counted). */
size_t memindex_bytes(const memindex *h);

/* memindex_seek puts at *pos the first entry whose key is >= k in byte order (k may be any
 * byte string, a prefix such as "Q\x01" included; keys of both tags are in one order, 'Q'
 * before 'U'); false if there is none. */
bool memindex_seek(const memindex *h, const uint8_t *k, size_t klen, memindex_pos *pos);

/* memindex_seek_for_prev puts at *pos the last entry whose key is <= k; false if none. */
bool memindex_seek_for_prev(const memindex *h, const uint8_t *k, size_t klen, memindex_pos *pos);

/* memindex_next / memindex_prev move *pos one entry on in key order (across tags too);
 * false at the end (then *pos is unchanged). */
bool memindex_next(const memindex *h, memindex_pos *pos);
bool memindex_prev(const memindex *h, memindex_pos *pos);

/* memindex_key writes the key of the entry at pos into out and returns its length. */
size_t memindex_key(const memindex *h, const memindex_pos *pos,
                    uint8_t out[LEDGER_INDEX_KEY_BYTES]);

#endif

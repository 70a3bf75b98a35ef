/*
 * sl_map.h: a hash map from byte-string keys to fixed-size values, with stable value
 * addresses (values live in chunks that never move) and insertion-order iteration. Used by
 * the writer's overlay of a group and by the projector's rebuild. Single-threaded.
 */
#ifndef SL_MAP_H
#define SL_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "sl_err.h"

typedef struct sl_map {
	size_t value_size;
	size_t n;         /* entries */
	size_t n_slots;   /* power of two */
	uint32_t *slots;  /* entry index + 1, 0 = empty */
	uint32_t *hashes; /* per slot */
	unsigned char **chunks;
	size_t n_chunks;
	size_t max_entries;
} sl_map;

/* sl_map_init readies m for values of value_size bytes, holding at most max_entries. */
sl_err sl_map_init(sl_map *m, size_t value_size, size_t max_entries);
void sl_map_fini(sl_map *m);

/* sl_map_clear forgets every entry, keeping the memory for reuse. */
void sl_map_clear(sl_map *m);

/* sl_map_get returns the value of key, or NULL. */
void *sl_map_get(const sl_map *m, const void *key, size_t klen);

/* sl_map_put returns the value of key, adding a zeroed one (*is_new = 1) if absent. NULL
 * with SL_ERR_NOMEM or SL_ERR_LIMIT_EXCEEDED (max_entries) in *err. */
void *sl_map_put(sl_map *m, const void *key, size_t klen, int *is_new, sl_err *err);

/* sl_map_at returns the value of the i-th entry in insertion order (i < m->n). */
void *sl_map_at(const sl_map *m, size_t i);

#endif

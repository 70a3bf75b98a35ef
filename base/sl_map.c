/*
 * sl_map.c: open addressing with linear probing over entry indices. An entry is stored in
 * a chunk as [klen:2][key:SL_MAP_KEY_MAX][value], so adding entries never moves a value.
 * The table doubles at 50% load; entries are bounded by max_entries.
 */
#include "sl_map.h"

#include <stdlib.h>
#include <string.h>

#include "banned.h"
#include "sl_util.h"

#define SL_MAP_KEY_MAX 256
#define CHUNK_ENTRIES 1024
#define ENTRY_HEADER 16
#define VALUE_OFFSET (ENTRY_HEADER + SL_MAP_KEY_MAX)

static size_t entry_size(const sl_map *m)
{
	size_t s = VALUE_OFFSET + m->value_size;
	return (s + 15) & ~(size_t)15;
}

static unsigned char *entry_at(const sl_map *m, size_t i)
{
	return m->chunks[i / CHUNK_ENTRIES] + (i % CHUNK_ENTRIES) * entry_size(m);
}

static uint32_t hash_bytes(const void *key, size_t klen)
{
	const unsigned char *p = key;
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < klen; i++)
		h = (h ^ p[i]) * 16777619u;
	return h | 1; /* never 0 */
}

sl_err sl_map_init(sl_map *m, size_t value_size, size_t max_entries)
{
	memset(m, 0, sizeof(*m));
	m->value_size = value_size;
	m->max_entries = max_entries;
	m->n_slots = 64;
	m->slots = calloc(m->n_slots, sizeof(*m->slots));
	m->hashes = calloc(m->n_slots, sizeof(*m->hashes));
	if (m->slots == NULL || m->hashes == NULL) {
		sl_map_fini(m);
		return SL_ERR_NOMEM;
	}
	return SL_OK;
}

void sl_map_fini(sl_map *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n_chunks; i++)
		free(m->chunks[i]);
	free(m->chunks);
	free(m->slots);
	free(m->hashes);
	memset(m, 0, sizeof(*m));
}

/* sl_map_clear: a map sized by its largest use (a group of thousands of items) is often
 * cleared holding a few entries; then only their slots are zeroed, found again by their
 * hashes, instead of the whole table (the writer clears its maps at every group). */
void sl_map_clear(sl_map *m)
{
	if (m->n * 8 >= m->n_slots) {
		memset(m->slots, 0, m->n_slots * sizeof(*m->slots));
		memset(m->hashes, 0, m->n_slots * sizeof(*m->hashes));
		m->n = 0;
		return;
	}
	size_t mask = m->n_slots - 1;
	for (size_t i = 0; i < m->n; i++) {
		const unsigned char *e = entry_at(m, i);
		size_t s = hash_bytes(e + ENTRY_HEADER, (size_t)e[0] << 8 | e[1]) & mask;
		while (m->slots[s] != i + 1)
			s = (s + 1) & mask;
		m->slots[s] = 0;
		m->hashes[s] = 0;
	}
	m->n = 0;
}

static int entry_matches(const sl_map *m, size_t idx, const void *key, size_t klen)
{
	const unsigned char *e = entry_at(m, idx);
	size_t elen = (size_t)e[0] << 8 | e[1];
	return elen == klen && memcmp(e + ENTRY_HEADER, key, klen) == 0;
}

void *sl_map_get(const sl_map *m, const void *key, size_t klen)
{
	if (m->slots == NULL)
		return NULL;
	uint32_t h = hash_bytes(key, klen);
	size_t mask = m->n_slots - 1;
	for (size_t s = h & mask; m->slots[s] != 0; s = (s + 1) & mask)
		if (m->hashes[s] == h && entry_matches(m, m->slots[s] - 1, key, klen))
			return entry_at(m, m->slots[s] - 1) + VALUE_OFFSET;
	return NULL;
}

static sl_err grow(sl_map *m)
{
	size_t n_slots = m->n_slots * 2;
	uint32_t *slots = calloc(n_slots, sizeof(*slots));
	uint32_t *hashes = calloc(n_slots, sizeof(*hashes));
	if (slots == NULL || hashes == NULL) {
		free(slots);
		free(hashes);
		return SL_ERR_NOMEM;
	}
	for (size_t s = 0; s < m->n_slots; s++) {
		if (m->slots[s] == 0)
			continue;
		size_t t = m->hashes[s] & (n_slots - 1);
		while (slots[t] != 0)
			t = (t + 1) & (n_slots - 1);
		slots[t] = m->slots[s];
		hashes[t] = m->hashes[s];
	}
	free(m->slots);
	free(m->hashes);
	m->slots = slots;
	m->hashes = hashes;
	m->n_slots = n_slots;
	return SL_OK;
}

void *sl_map_put(sl_map *m, const void *key, size_t klen, int *is_new, sl_err *err)
{
	SL_ASSERT(klen <= SL_MAP_KEY_MAX);
	void *v = sl_map_get(m, key, klen);
	*is_new = 0;
	if (v != NULL)
		return v;
	if (m->n >= m->max_entries) {
		*err = SL_ERR_LIMIT_EXCEEDED;
		return NULL;
	}
	if ((m->n + 1) * 2 > m->n_slots && (*err = grow(m)) != SL_OK)
		return NULL;
	if (m->n / CHUNK_ENTRIES >= m->n_chunks) {
		unsigned char **chunks = realloc(m->chunks, (m->n_chunks + 1) * sizeof(*chunks));
		if (chunks == NULL) {
			*err = SL_ERR_NOMEM;
			return NULL;
		}
		m->chunks = chunks;
		m->chunks[m->n_chunks] = malloc(CHUNK_ENTRIES * entry_size(m));
		if (m->chunks[m->n_chunks] == NULL) {
			*err = SL_ERR_NOMEM;
			return NULL;
		}
		m->n_chunks++;
	}
	size_t idx = m->n++;
	unsigned char *e = entry_at(m, idx);
	e[0] = (unsigned char)(klen >> 8);
	e[1] = (unsigned char)klen;
	memcpy(e + ENTRY_HEADER, key, klen);
	memset(e + VALUE_OFFSET, 0, m->value_size);
	uint32_t h = hash_bytes(key, klen);
	size_t mask = m->n_slots - 1, s = h & mask;
	while (m->slots[s] != 0)
		s = (s + 1) & mask;
	m->slots[s] = (uint32_t)idx + 1;
	m->hashes[s] = h;
	*is_new = 1;
	return e + VALUE_OFFSET;
}

void *sl_map_at(const sl_map *m, size_t i)
{
	SL_ASSERT(i < m->n);
	return entry_at(m, i) + VALUE_OFFSET;
}

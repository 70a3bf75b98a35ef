/*
 * viewmap.c: the compact map of item views (projector/viewmap.h).
 */
#include "projector/viewmap.h"

#include <stdlib.h>
#include <string.h>

#include "base/banned.h"
#include "base/sl_util.h"
#include "ledger/index.h"
#include "ledger/ledger.h"

#define VM_CHUNK_BYTES (1u << 20)
#define VM_EXISTS 0x01u
#define VM_TRACK_QUANTITY 0x02u
#define VM_IN_STOCK 0x04u
#define VM_PREORDER_ENABLED 0x08u
#define VM_HAS_PREORDER_LIMIT 0x10u

struct viewmap_entry {
	int64_t quantity, preorder_limit, preorder_counter;
	int64_t revision, created_ms, updated_ms;
	uint64_t numeric_id, item_seq, last_seq, preorder_since;
	char *message; /* preorder message, NULL when empty */
	int32_t status;
	uint32_t hash;
	uint32_t ordinal; /* the entry's rank of insertion since the last clear */
	uint16_t klen;
	uint8_t flags;
};

struct viewmap_slot {
	viewmap_entry *e; /* NULL: empty */
	uint32_t hash;
};

void viewmap_clear(viewmap *m)
{
	for (size_t i = 0; i < m->n_slots; i++) {
		if (m->slots[i].e != NULL)
			free(m->slots[i].e->message);
	}
	memset(m->slots, 0, m->n_slots * sizeof(*m->slots));
	for (size_t i = 1; i < m->n_chunks; i++)
		free(m->chunks[i]);
	m->n_chunks = m->n_chunks > 0 ? 1 : 0;
	m->chunk_used = 0;
	m->n = 0;
	m->message_bytes = 0;
}

sl_err viewmap_init(viewmap *m)
{
	memset(m, 0, sizeof(*m));
	m->n_slots = 1024;
	m->slots = calloc(m->n_slots, sizeof(*m->slots));
	return m->slots != NULL ? SL_OK : SL_ERR_NOMEM;
}

void viewmap_fini(viewmap *m)
{
	if (m->slots != NULL)
		viewmap_clear(m);
	for (size_t i = 0; i < m->n_chunks; i++)
		free(m->chunks[i]);
	free(m->chunks);
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

size_t viewmap_bytes(const viewmap *m)
{
	return m->n_chunks * VM_CHUNK_BYTES + m->n_slots * sizeof(*m->slots) + m->message_bytes;
}

/* viewmap_hash mixes the key eight bytes at a time (a byte-at-a-time hash was 3% of a
 * rebuild); the map never stores it anywhere but memory. */
uint32_t viewmap_hash(const uint8_t *k, size_t klen)
{
	uint64_t h = 0x9e3779b97f4a7c15u ^ (uint64_t)klen;
	size_t i = 0;
	for (; i + 8 <= klen; i += 8) {
		uint64_t w;
		memcpy(&w, k + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdu;
		h ^= h >> 32;
	}
	uint64_t w = 0;
	memcpy(&w, k + i, klen - i);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53u;
	h ^= h >> 29;
	return (uint32_t)h ^ (uint32_t)(h >> 32);
}

static const uint8_t *entry_key(const viewmap_entry *e)
{
	return (const uint8_t *)(e + 1);
}

viewmap_entry *viewmap_find(const viewmap *m, const uint8_t *k, size_t klen, uint32_t h)
{
	size_t mask = m->n_slots - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		viewmap_entry *e = m->slots[i].e;
		if (e == NULL)
			return NULL;
		if (m->slots[i].hash == h && e->klen == klen && memcmp(entry_key(e), k, klen) == 0)
			return e;
	}
}

void viewmap_prefetch(const viewmap *m, uint32_t h)
{
	__builtin_prefetch(&m->slots[h & (m->n_slots - 1)]);
}

void viewmap_prefetch_entry(const viewmap *m, uint32_t h)
{
	size_t mask = m->n_slots - 1, i = h & mask;
	/* the slot's line is there (viewmap_prefetch); the entry sits one or two probes on at
	 * the most, most of the time */
	for (int probes = 0; probes < 2 && m->slots[i].e != NULL; probes++, i = (i + 1) & mask) {
		if (m->slots[i].hash == h) {
			__builtin_prefetch(m->slots[i].e);
			__builtin_prefetch((const char *)m->slots[i].e + 64);
			return;
		}
	}
}

static void slot_put(viewmap_slot *slots, size_t n_slots, viewmap_entry *e)
{
	size_t mask = n_slots - 1, i = e->hash & mask;
	while (slots[i].e != NULL)
		i = (i + 1) & mask;
	slots[i].e = e;
	slots[i].hash = e->hash;
}

viewmap_entry *viewmap_add(viewmap *m, const uint8_t *k, size_t klen, uint32_t h)
{
	if (2 * (m->n + 1) > m->n_slots) {
		size_t ns = m->n_slots * 2;
		viewmap_slot *nslots = calloc(ns, sizeof(*nslots));
		if (nslots == NULL)
			return NULL;
		for (size_t i = 0; i < m->n_slots; i++)
			if (m->slots[i].e != NULL)
				slot_put(nslots, ns, m->slots[i].e);
		free(m->slots);
		m->slots = nslots;
		m->n_slots = ns;
	}
	size_t size = (sizeof(viewmap_entry) + klen + 7) & ~(size_t)7;
	if (m->n_chunks == 0 || m->chunk_used + size > VM_CHUNK_BYTES) {
		if (m->n_chunks == m->chunks_cap) {
			size_t ncap = m->chunks_cap == 0 ? 64 : m->chunks_cap * 2;
			unsigned char **nc = realloc(m->chunks, ncap * sizeof(*nc));
			if (nc == NULL)
				return NULL;
			m->chunks = nc;
			m->chunks_cap = ncap;
		}
		if (m->n_chunks == 0 || m->chunk_used > 0) {
			m->chunks[m->n_chunks] = malloc(VM_CHUNK_BYTES);
			if (m->chunks[m->n_chunks] == NULL)
				return NULL;
			m->n_chunks++;
		}
		m->chunk_used = 0;
	}
	viewmap_entry *e = (viewmap_entry *)(void *)(m->chunks[m->n_chunks - 1] + m->chunk_used);
	m->chunk_used += size;
	memset(e, 0, sizeof(*e));
	e->hash = h;
	e->klen = (uint16_t)klen;
	e->ordinal = (uint32_t)m->n;
	memcpy(e + 1, k, klen);
	slot_put(m->slots, m->n_slots, e);
	m->n++;
	return e;
}

uint32_t viewmap_entry_ordinal(const viewmap_entry *e)
{
	return e->ordinal;
}

const uint8_t *viewmap_entry_key(const viewmap_entry *e, size_t *klen)
{
	*klen = e->klen;
	return entry_key(e);
}

viewmap_entry *viewmap_next(const viewmap *m, size_t *pos)
{
	while (*pos < m->n_slots) {
		viewmap_entry *e = m->slots[(*pos)++].e;
		if (e != NULL)
			return e;
	}
	return NULL;
}

void viewmap_entry_get(const viewmap_entry *e, const sl_item_key *key, sl_item *out)
{
	if (key != NULL) {
		out->key = *key;
	} else {
		sl_err rc = ledger_key_decode(entry_key(e), e->klen, &out->key);
		SL_ASSERT(rc == SL_OK);
	}
	sl_item_state *s = &out->state;
	s->exists = (e->flags & VM_EXISTS) != 0;
	s->track_quantity = (e->flags & VM_TRACK_QUANTITY) != 0;
	s->in_stock = (e->flags & VM_IN_STOCK) != 0;
	s->preorder_enabled = (e->flags & VM_PREORDER_ENABLED) != 0;
	s->has_preorder_limit = (e->flags & VM_HAS_PREORDER_LIMIT) != 0;
	s->quantity = e->quantity;
	s->preorder_limit = e->preorder_limit;
	s->preorder_counter = e->preorder_counter;
	s->preorder_since = e->preorder_since;
	sl_strlcpy(s->preorder_message, e->message != NULL ? e->message : "",
	           sizeof(s->preorder_message));
	out->revision = e->revision;
	out->created_ms = e->created_ms;
	out->updated_ms = e->updated_ms;
	out->numeric_id = e->numeric_id;
	out->item_seq = e->item_seq;
	out->last_seq = e->last_seq;
	out->status = (sl_status)e->status;
}

sl_err viewmap_entry_set(viewmap *m, viewmap_entry *e, const sl_item *item)
{
	const sl_item_state *s = &item->state;
	const char *old = e->message != NULL ? e->message : "";
	if (strcmp(old, s->preorder_message) != 0) {
		char *msg = NULL;
		if (s->preorder_message[0] != '\0' && (msg = strdup(s->preorder_message)) == NULL)
			return SL_ERR_NOMEM;
		if (e->message != NULL)
			m->message_bytes -= strlen(e->message) + 1;
		free(e->message);
		e->message = msg;
		if (msg != NULL)
			m->message_bytes += strlen(msg) + 1;
	}
	e->flags =
	    (uint8_t)((s->exists ? VM_EXISTS : 0) | (s->track_quantity ? VM_TRACK_QUANTITY : 0) |
	              (s->in_stock ? VM_IN_STOCK : 0) |
	              (s->preorder_enabled ? VM_PREORDER_ENABLED : 0) |
	              (s->has_preorder_limit ? VM_HAS_PREORDER_LIMIT : 0));
	e->quantity = s->quantity;
	e->preorder_limit = s->preorder_limit;
	e->preorder_counter = s->preorder_counter;
	e->preorder_since = s->preorder_since;
	e->revision = item->revision;
	e->created_ms = item->created_ms;
	e->updated_ms = item->updated_ms;
	e->numeric_id = item->numeric_id;
	e->item_seq = item->item_seq;
	e->last_seq = item->last_seq;
	e->status = (int32_t)item->status;
	return SL_OK;
}

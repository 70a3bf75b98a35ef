/*
 * index.c: index keys of item views (see index.h for the layout). The invariant kept: for
 * every view row, the index column family holds exactly the stored keys of
 * ledger_index_keys(row), and the ledger's memindex exactly its hot keys, and nothing else;
 * ledger_index_stage keeps it across changes, projector_verify checks it.
 */
#include "ledger/index.h"

#include <string.h>

#include "base/banned.h"
#include "base/sl_util.h"

void ledger_index_row_of(const sl_item *item, ledger_index_row *out)
{
	memset(out, 0, sizeof(*out));
	out->key = item->key;
	out->exists = item->state.exists;
	out->track_quantity = item->state.track_quantity;
	out->quantity = item->state.quantity;
	out->created_ms = item->created_ms;
	out->updated_ms = item->updated_ms;
	out->status = item->status;
}

uint64_t ledger_index_u64(int64_t v)
{
	return (uint64_t)v ^ (1ULL << 63);
}

static size_t key_with(uint8_t *k, uint8_t tag, const void *val, size_t vlen,
                       const sl_item_key *key)
{
	k[0] = tag;
	memcpy(k + 1, val, vlen);
	return 1 + vlen + ledger_key_encode(key, k + 1 + vlen);
}

static size_t key_with_id(uint8_t *k, uint8_t tag, const char *id, const sl_item_key *key)
{
	size_t n = strlen(id);
	uint8_t v[SL_ID_MAX + 1];
	memcpy(v, id, n);
	v[n] = '\0';
	return key_with(k, tag, v, n + 1, key);
}

static size_t key_with_i64(uint8_t *k, uint8_t tag, int64_t val, const sl_item_key *key)
{
	uint8_t v[8];
	sl_be64_put(v, ledger_index_u64(val));
	return key_with(k, tag, v, sizeof(v), key);
}

size_t ledger_index_keys(const ledger_index_row *row,
                         uint8_t keys[LEDGER_INDEX_PER_ITEM][LEDGER_INDEX_KEY_BYTES],
                         size_t lens[LEDGER_INDEX_PER_ITEM])
{
	size_t n = 0;
	lens[n] = key_with_id(keys[n], LEDGER_INDEX_VARIANT, row->key.variant_id, &row->key);
	n++;
	lens[n] = key_with_id(keys[n], LEDGER_INDEX_LOCATION, row->key.location_id, &row->key);
	n++;
	if (!row->exists)
		return n;
	uint8_t st = (uint8_t)row->status;
	lens[n] = key_with(keys[n], LEDGER_INDEX_STATUS, &st, 1, &row->key);
	n++;
	uint8_t q[9];
	q[0] = row->track_quantity ? 1 : 0;
	sl_be64_put(q + 1, ledger_index_u64(row->track_quantity ? row->quantity : 0));
	lens[n] = key_with(keys[n], LEDGER_INDEX_QUANTITY, q, sizeof(q), &row->key);
	n++;
	lens[n] = key_with_i64(keys[n], LEDGER_INDEX_CREATED, row->created_ms, &row->key);
	n++;
	lens[n] = key_with_i64(keys[n], LEDGER_INDEX_UPDATED, row->updated_ms, &row->key);
	n++;
	SL_ASSERT(n <= LEDGER_INDEX_PER_ITEM);
	return n;
}

static bool has_key(uint8_t keys[LEDGER_INDEX_PER_ITEM][LEDGER_INDEX_KEY_BYTES], const size_t *lens,
                    size_t n, const uint8_t *k, size_t klen)
{
	for (size_t i = 0; i < n; i++)
		if (lens[i] == klen && memcmp(keys[i], k, klen) == 0)
			return true;
	return false;
}

int ledger_index_key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);
	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

bool ledger_index_is_hot(uint8_t tag)
{
	return tag == LEDGER_INDEX_QUANTITY || tag == LEDGER_INDEX_UPDATED;
}

void ledger_hot_ops_clear(ledger_hot_ops *h)
{
	h->ops.len = 0;
	h->n = 0;
	h->is_nomem = false;
}

void ledger_hot_ops_fini(ledger_hot_ops *h)
{
	sl_buf_fini(&h->ops);
	memset(h, 0, sizeof(*h));
}

static void hot_op_stage(ledger_hot_ops *h, bool is_insert, const uint8_t *k, size_t klen)
{
	SL_ASSERT(klen <= LEDGER_INDEX_KEY_BYTES && klen <= UINT16_MAX);
	if (sl_buf_reserve(&h->ops, 3 + klen) != SL_OK) {
		h->is_nomem = true;
		return;
	}
	uint8_t *p = h->ops.data + h->ops.len;
	p[0] = is_insert ? 1 : 0;
	p[1] = (uint8_t)(klen >> 8);
	p[2] = (uint8_t)klen;
	memcpy(p + 3, k, klen);
	h->ops.len += 3 + klen;
	h->n++;
}

bool ledger_hot_ops_next(const ledger_hot_ops *h, size_t *off, bool *is_insert, const uint8_t **k,
                         size_t *klen)
{
	if (*off >= h->ops.len)
		return false;
	const uint8_t *p = h->ops.data + *off;
	SL_ASSERT(*off + 3 <= h->ops.len);
	*is_insert = p[0] != 0;
	*klen = ((size_t)p[1] << 8) | p[2];
	*k = p + 3;
	SL_ASSERT(*off + 3 + *klen <= h->ops.len);
	*off += 3 + *klen;
	return true;
}

void ledger_index_stage(store_batch *b, store_cf cf, ledger_hot_ops *hot,
                        const ledger_index_row *old, const ledger_index_row *row)
{
	uint8_t ok[LEDGER_INDEX_PER_ITEM][LEDGER_INDEX_KEY_BYTES];
	uint8_t nk[LEDGER_INDEX_PER_ITEM][LEDGER_INDEX_KEY_BYTES];
	size_t olen[LEDGER_INDEX_PER_ITEM], nlen[LEDGER_INDEX_PER_ITEM];
	size_t n_old = old != NULL ? ledger_index_keys(old, ok, olen) : 0;
	size_t n_new = ledger_index_keys(row, nk, nlen);
	for (size_t i = 0; i < n_old; i++) {
		if (has_key(nk, nlen, n_new, ok[i], olen[i]))
			continue;
		if (!ledger_index_is_hot(ok[i][0]))
			store_batch_delete(b, cf, ok[i], olen[i]);
		else if (hot != NULL)
			hot_op_stage(hot, false, ok[i], olen[i]);
	}
	for (size_t i = 0; i < n_new; i++) {
		if (has_key(ok, olen, n_old, nk[i], nlen[i]))
			continue;
		if (!ledger_index_is_hot(nk[i][0]))
			store_batch_put(b, cf, nk[i], nlen[i], "", 0);
		else if (hot != NULL)
			hot_op_stage(hot, true, nk[i], nlen[i]);
	}
}

size_t ledger_index_item_key(const uint8_t *k, size_t klen)
{
	if (klen < 1)
		return SIZE_MAX;
	switch (k[0]) {
	case LEDGER_INDEX_VARIANT:
	case LEDGER_INDEX_LOCATION: {
		const uint8_t *z = memchr(k + 1, '\0', klen - 1);
		return z != NULL ? (size_t)(z - k) + 1 : SIZE_MAX;
	}
	case LEDGER_INDEX_STATUS:
		return klen > 2 ? 2 : SIZE_MAX;
	case LEDGER_INDEX_QUANTITY:
		return klen > 10 ? 10 : SIZE_MAX;
	case LEDGER_INDEX_CREATED:
	case LEDGER_INDEX_UPDATED:
		return klen > 9 ? 9 : SIZE_MAX;
	default:
		return SIZE_MAX;
	}
}

static sl_err id_take(const uint8_t **p, const uint8_t *end, bool is_last, char *out)
{
	const uint8_t *z = is_last ? end : memchr(*p, '\0', (size_t)(end - *p));
	if (z == NULL || z - *p > SL_ID_MAX)
		return SL_ERR_CORRUPT;
	memcpy(out, *p, (size_t)(z - *p));
	out[z - *p] = '\0';
	*p = is_last ? end : z + 1;
	return SL_OK;
}

sl_err ledger_key_decode(const uint8_t *k, size_t klen, sl_item_key *out)
{
	const uint8_t *p = k, *end = k + klen;
	sl_item_key key;
	memset(&key, 0, sizeof(key));
	if (id_take(&p, end, false, key.product_id) != SL_OK ||
	    id_take(&p, end, false, key.variant_id) != SL_OK ||
	    id_take(&p, end, true, key.location_id) != SL_OK)
		return SL_ERR_CORRUPT;
	*out = key;
	return SL_OK;
}

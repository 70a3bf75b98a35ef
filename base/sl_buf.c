/*
 * sl_buf.c: the growable byte buffer. Capacity doubles; a hard cap bounds every buffer.
 */
#include "sl_buf.h"

#include <stdlib.h>
#include <string.h>

#include "banned.h"
#include "sl_limits.h"

#define SL_BUF_BYTES_MAX ((size_t)SL_TRANSPORT_BYTES_MAX * 4)

void sl_buf_init(sl_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void sl_buf_fini(sl_buf *b)
{
	if (b == NULL)
		return;
	free(b->data);
	sl_buf_init(b);
}

sl_err sl_buf_reserve(sl_buf *b, size_t n)
{
	if (b->len + n <= b->cap)
		return SL_OK;
	if (b->len + n > SL_BUF_BYTES_MAX)
		return SL_ERR_LIMIT_EXCEEDED;
	size_t cap = b->cap == 0 ? 256 : b->cap;
	while (cap < b->len + n)
		cap *= 2;
	uint8_t *d = realloc(b->data, cap);
	if (d == NULL)
		return SL_ERR_NOMEM;
	b->data = d;
	b->cap = cap;
	return SL_OK;
}

sl_err sl_buf_append(sl_buf *b, const void *data, size_t n)
{
	sl_err rc = sl_buf_reserve(b, n);
	if (rc != SL_OK)
		return rc;
	if (n > 0)
		memcpy(b->data + b->len, data, n);
	b->len += n;
	return SL_OK;
}

sl_err sl_buf_set(sl_buf *b, const void *data, size_t n)
{
	b->len = 0;
	return sl_buf_append(b, data, n);
}

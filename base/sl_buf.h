/*
 * sl_buf.h: a growable byte buffer with a hard cap. Used for encoded records and replies.
 */
#ifndef SL_BUF_H
#define SL_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "sl_err.h"

typedef struct sl_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
} sl_buf;

/* sl_buf_init readies b empty; sl_buf_fini frees it (a zeroed buffer is a no-op). */
void sl_buf_init(sl_buf *b);
void sl_buf_fini(sl_buf *b);

/* sl_buf_reserve makes room for n more bytes. Returns SL_ERR_NOMEM, or SL_ERR_LIMIT_EXCEEDED
 * past SL_TRANSPORT_BYTES_MAX * 4 (no buffer of the service is larger). */
sl_err sl_buf_reserve(sl_buf *b, size_t n);

/* sl_buf_append appends n bytes of data. Errors as sl_buf_reserve. */
sl_err sl_buf_append(sl_buf *b, const void *data, size_t n);

/* sl_buf_set replaces the content with n bytes of data. */
sl_err sl_buf_set(sl_buf *b, const void *data, size_t n);

#endif

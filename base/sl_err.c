/*
 * sl_err.c: names and descriptions of the sl_err codes. The tables are indexed by code and
 * checked against SL_ERR_COUNT_ at compile time, so a new code cannot be left unnamed.
 */
#include "sl_err.h"

#include <string.h>

static const char *const err_names[] = {
    "OK",
    "INVALID_ARGUMENT",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "REVISION_MISMATCH",
    "INSUFFICIENT_INVENTORY",
    "QUANTITY_NOT_TRACKED",
    "LIMIT_EXCEEDED",
    "IDEMPOTENCY_KEY_REUSED",
    "FAILED_PRECONDITION",
    "MALFORMED",
    "UNKNOWN_COMMAND",
    "BUSY",
    "STORAGE",
    "CORRUPT",
    "UNAVAILABLE",
    "NOMEM",
    "INTERNAL",
    "ORDER_CLOSED",
    "REFUND_EXCEEDS_HELD",
};

static const char *const err_texts[] = {
    "success",
    "invalid argument",
    "not found",
    "already exists",
    "revision mismatch",
    "insufficient inventory",
    "quantity is not tracked",
    "limit exceeded",
    "idempotency key reused with different content",
    "failed precondition",
    "malformed message",
    "unknown command",
    "service busy",
    "storage failure",
    "corrupt record",
    "service unavailable",
    "out of memory",
    "internal error",
    "the order is closed",
    "refund exceeds what the order line holds",
};

_Static_assert(sizeof(err_names) / sizeof(err_names[0]) == SL_ERR_COUNT_, "name every sl_err");
_Static_assert(sizeof(err_texts) / sizeof(err_texts[0]) == SL_ERR_COUNT_, "describe every sl_err");

const char *sl_err_name(sl_err err)
{
	if ((unsigned)err >= SL_ERR_COUNT_)
		return "INTERNAL";
	return err_names[err];
}

sl_err sl_err_from_name(const char *name)
{
	for (unsigned i = 0; i < SL_ERR_COUNT_; i++)
		if (strcmp(err_names[i], name) == 0)
			return (sl_err)i;
	return SL_ERR_INTERNAL;
}

const char *sl_strerror(sl_err err)
{
	if ((unsigned)err >= SL_ERR_COUNT_)
		return "internal error";
	return err_texts[err];
}

/*
 * sl_err.h: the one error enum of StockLedger.
 *
 * Every function that can fail returns an sl_err. The machine-readable name of each code
 * (sl_err_name) is what clients see on the wire and in `stockctl --json`, so names are
 * stable: add codes at the end, never renumber or rename. Codes are small positive numbers
 * and never collide with errno (LMDB's rule); foreign errors are translated in one place
 * each (RocksDB in ledger/store.c, nng in gateway/server.c and client/client.c).
 */
#ifndef SL_ERR_H
#define SL_ERR_H

typedef enum sl_err {
	SL_OK = 0,
	SL_ERR_INVALID_ARGUMENT = 1,       /* a field is missing, malformed or out of range */
	SL_ERR_NOT_FOUND = 2,              /* no such item (or order) */
	SL_ERR_ALREADY_EXISTS = 3,         /* create of a key that exists */
	SL_ERR_REVISION_MISMATCH = 4,      /* missing or stale revision on update */
	SL_ERR_INSUFFICIENT_INVENTORY = 5, /* restricted decrement short of stock */
	SL_ERR_QUANTITY_NOT_TRACKED = 6,   /* increment/decrement of an in-stock-tracked item */
	SL_ERR_LIMIT_EXCEEDED = 7,         /* a named limit of the service would be exceeded */
	SL_ERR_IDEMPOTENCY_KEY_REUSED = 8, /* same key, different content */
	SL_ERR_FAILED_PRECONDITION = 9,    /* the transition is not allowed in this state */
	SL_ERR_MALFORMED = 10,             /* the message could not be decoded */
	SL_ERR_UNKNOWN_COMMAND = 11,       /* the envelope holds no command this service knows */
	SL_ERR_BUSY = 12,                  /* the write queue is full: retry later */
	SL_ERR_STORAGE = 13,               /* the log could not be read or written; sticky */
	SL_ERR_CORRUPT = 14,               /* a stored record fails its checks */
	SL_ERR_UNAVAILABLE = 15,           /* the service is shutting down or unreachable */
	SL_ERR_NOMEM = 16,                 /* out of memory */
	SL_ERR_INTERNAL = 17,              /* a bug: please report it */
	SL_ERR_ORDER_CLOSED = 18,        /* the order is canceled, refunded or its payment failed */
	SL_ERR_REFUND_EXCEEDS_HELD = 19, /* a refund of more units than the order line holds */
	SL_ERR_COUNT_
} sl_err;

/* sl_err_name returns the stable name of err ("INSUFFICIENT_INVENTORY"); never NULL. */
const char *sl_err_name(sl_err err);

/* sl_err_from_name returns the code named name, or SL_ERR_INTERNAL if none is. */
sl_err sl_err_from_name(const char *name);

/* sl_strerror returns a short lower-case description of err; never NULL. */
const char *sl_strerror(sl_err err);

#endif

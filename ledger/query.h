/*
 * query.h: item queries served from the views and their secondary indexes (issue 4; the
 * filters and sorts of Wix V3 Query Inventory Items, docs/audit.md), never from the log.
 *
 * Two plans:
 * - crawl order (no sort): items in the order of an immutable key: the item key
 *   (product, variant, location) when no variant/location filter drives the scan, else
 *   (variantId, item key) or (locationId, item key). The first page pins the head seq H in
 *   its cursor and every later page is answered as of H (items changed since are read as of
 *   H, ledger/asof.h), so walking all pages returns every item that existed at H exactly
 *   once, in its state at H, whatever is written meanwhile. --as-of pins H explicitly.
 * - sorted (quantity, createdDate, updatedDate, asc or desc): the 'Q', 'C', 'U' indexes,
 *   current state, one snapshot per page; the cursor is the last index key. Items that move
 *   across the cursor between pages may be seen twice or not at all (docs/audit.md); a
 *   sort cannot be combined with a point in time.
 * Filters that the driving scan does not apply are checked on each item; a page examines at
 * most SL_QUERY_SCAN_MAX rows and then returns what it has, with a cursor.
 *
 * Thread-safe: reads only, through one store snapshot per call.
 */
#ifndef SL_LEDGER_QUERY_H
#define SL_LEDGER_QUERY_H

#include "ledger/ledger.h"

typedef enum ledger_match {
	LEDGER_MATCH_ANY = 0,
	LEDGER_MATCH_IN, /* one value is equality */
	LEDGER_MATCH_PREFIX,
} ledger_match;

typedef struct ledger_id_filter {
	ledger_match op;
	size_t n; /* values (1 for a prefix) */
	char values[SL_QUERY_IN_MAX][SL_ID_MAX + 1];
} ledger_id_filter;

typedef enum ledger_sort {
	LEDGER_SORT_CRAWL = 0,
	LEDGER_SORT_QUANTITY,
	LEDGER_SORT_CREATED,
	LEDGER_SORT_UPDATED,
} ledger_sort;

typedef struct ledger_query {
	ledger_id_filter product, variant, location;
	bool has_status;
	sl_status status;
	bool has_tracked;
	bool is_tracked;
	bool has_min_quantity, has_max_quantity;
	int64_t min_quantity, max_quantity; /* inclusive; only quantity-tracked items match */
	bool has_updated_after, has_updated_before;
	int64_t updated_after_ms, updated_before_ms; /* exclusive */
	ledger_sort sort;
	bool is_desc;
	uint32_t limit; /* 0: SL_QUERY_PAGE_DEFAULT */
	bool has_as_of_seq, has_as_of_ms;
	uint64_t as_of_seq;
	int64_t as_of_ms;
	char cursor[SL_CURSOR_MAX + 1]; /* "" on the first page */
	/* the field a client gave more than SL_QUERY_IN_MAX values ("productId"), refused
	 * LIMIT_EXCEEDED before the query runs; NULL if none */
	const char *too_many_ids;
} ledger_query;

/* ledger_query_page: one page of answers. */
typedef struct ledger_query_page {
	sl_item items[SL_QUERY_PAGE_MAX];
	size_t n_items;
	char next_cursor[SL_CURSOR_MAX + 1]; /* "" at the end */
	/* the seq whose state the page shows: in crawl order the seq every page of the walk is
	 * pinned to (0 included: before the first event); sorted, the index's head when this
	 * page was read (each page of a sorted walk is read live) */
	uint64_t as_of_seq;
} ledger_query_page;

/* ledger_query_run answers one page of q into page (heap it: it is large). Refusals
 * (SL_ERR_INVALID_ARGUMENT: a bad cursor, a sort with a point in time, an invalid id;
 * SL_ERR_LIMIT_EXCEEDED: limit over SL_QUERY_PAGE_MAX) fill err; SL_ERR_STORAGE,
 * SL_ERR_CORRUPT too. */
sl_err ledger_query_run(ledger *l, const ledger_query *q, ledger_query_page *page,
                        sl_error_info *err);

/* ledger_query_matches tells whether item passes every filter of q (ids, status, tracking,
 * quantity and updatedDate ranges); deleted items never match. */
bool ledger_query_matches(const ledger_query *q, const sl_item *item);

#endif

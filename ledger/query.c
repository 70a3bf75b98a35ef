/*
 * query.c: query plans over the views and their indexes (see query.h).
 *
 * A plan is a store column family (views, or the index family) and a sorted list of
 * disjoint key ranges [lo, hi) in it, scanned in order (one range, possibly backwards, for a
 * sort). The cursor is the hex of: version, plan kind, direction, the pinned seq, the first
 * bytes of a hash of the query's filters and sort (a cursor is refused with other filters)
 * and the last key the previous page consumed; the next page seeks past that key. Every row the
 * scan meets is re-checked against all filters (ledger_query_matches), so ranges only
 * narrow the work and never decide the answer on their own.
 */
#include "ledger/query.h"

#include <stdlib.h>
#include <string.h>

#include "base/banned.h"
#include "base/sl_util.h"
#include "ledger/asof.h"
#include "ledger/codec.h"
#include "ledger/index.h"

#define CURSOR_VERSION 2
#define CURSOR_HEAD 15 /* version, kind, direction, be64 pin, 4 bytes of the query's hash */

typedef struct key_range {
	uint8_t lo[LEDGER_INDEX_KEY_BYTES];
	size_t lo_len;
	uint8_t hi[LEDGER_INDEX_KEY_BYTES];
	size_t hi_len; /* 0: no upper bound */
} key_range;

typedef struct plan {
	uint8_t kind; /* 'v' views by item key, else the index tag */
	store_cf cf;
	bool is_desc;
	bool is_crawl;
	key_range ranges[SL_QUERY_IN_MAX];
	size_t n_ranges;
	char sorted[SL_QUERY_IN_MAX][SL_ID_MAX + 1]; /* scratch of plan_ids */
} plan;

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool ascii_is_letter(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* prefix_match: id starts with prefix, ASCII letters compared without case (Wix:
 * $startsWith is "Not case-sensitive"). */
static bool prefix_match(const char *id, const char *prefix)
{
	for (; *prefix != '\0'; id++, prefix++)
		if (*id == '\0' || ascii_lower(*id) != ascii_lower(*prefix))
			return false;
	return true;
}

static bool id_match(const ledger_id_filter *f, const char *id)
{
	switch (f->op) {
	case LEDGER_MATCH_IN:
		for (size_t i = 0; i < f->n; i++)
			if (strcmp(f->values[i], id) == 0)
				return true;
		return false;
	case LEDGER_MATCH_PREFIX:
		return prefix_match(id, f->values[0]);
	default:
		return true;
	}
}

bool ledger_query_matches(const ledger_query *q, const sl_item *it)
{
	const sl_item_state *s = &it->state;
	if (!s->exists || !id_match(&q->product, it->key.product_id) ||
	    !id_match(&q->variant, it->key.variant_id) ||
	    !id_match(&q->location, it->key.location_id))
		return false;
	if (q->has_status && it->status != q->status)
		return false;
	if (q->has_tracked && s->track_quantity != q->is_tracked)
		return false;
	if ((q->has_min_quantity || q->has_max_quantity) && !s->track_quantity)
		return false;
	if (q->has_min_quantity && s->quantity < q->min_quantity)
		return false;
	if (q->has_max_quantity && s->quantity > q->max_quantity)
		return false;
	if (q->has_updated_after && it->updated_ms <= q->updated_after_ms)
		return false;
	if (q->has_updated_before && it->updated_ms >= q->updated_before_ms)
		return false;
	return true;
}

/* ---- plans ---- */

static void range_bytes(uint8_t *dst, size_t *len, const void *a, size_t alen, const void *b,
                        size_t blen)
{
	memcpy(dst, a, alen);
	if (blen > 0)
		memcpy(dst + alen, b, blen);
	*len = alen + blen;
}

/* range_prefix: every key starting with the len bytes p (p non-empty, last byte < 0xff). */
static void range_prefix(key_range *r, const uint8_t *p, size_t len)
{
	range_bytes(r->lo, &r->lo_len, p, len, NULL, 0);
	range_bytes(r->hi, &r->hi_len, p, len, NULL, 0);
	if (len == 0) {
		r->hi_len = 0;
		return;
	}
	r->hi[len - 1]++;
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int cmp_range(const void *a, const void *b)
{
	const key_range *x = a, *y = b;
	size_t n = x->lo_len < y->lo_len ? x->lo_len : y->lo_len;
	int c = memcmp(x->lo, y->lo, n);
	return c != 0 ? c : (x->lo_len > y->lo_len) - (x->lo_len < y->lo_len);
}

/* plan_prefix: the ranges of a case-insensitive prefix: one per spelling of its head (the
 * prefix up to its PREFIX_FOLD_LETTERS-th letter, 2^letters spellings), sorted; the rest of
 * the prefix is left to the re-check of every row (ledger_query_matches). */
#define PREFIX_FOLD_LETTERS 6
_Static_assert((1 << PREFIX_FOLD_LETTERS) <= SL_QUERY_IN_MAX, "a prefix's ranges fit a plan");
static void plan_prefix(plan *p, const char *prefix, uint8_t *buf, size_t off)
{
	size_t head = 0, letters = 0;
	for (; prefix[head] != '\0'; head++) {
		if (ascii_is_letter(prefix[head]) && letters++ == PREFIX_FOLD_LETTERS)
			break;
	}
	if (letters > PREFIX_FOLD_LETTERS)
		letters = PREFIX_FOLD_LETTERS;
	memcpy(buf + off, prefix, head);
	for (unsigned mask = 0; mask < (1u << letters); mask++) {
		unsigned bit = 0;
		for (size_t i = 0; i < head; i++) {
			char c = prefix[i];
			if (ascii_is_letter(c)) {
				c = ascii_lower(c);
				if ((mask >> bit++) & 1)
					c = (char)(c - 'a' + 'A');
			}
			buf[off + i] = (uint8_t)c;
		}
		range_prefix(&p->ranges[p->n_ranges++], buf, off + head);
	}
	qsort(p->ranges, p->n_ranges, sizeof(p->ranges[0]), cmp_range);
}

/* plan_ids: ranges of the values of f, under tag (0: the views, keyed by item key). */
static void plan_ids(plan *p, const ledger_id_filter *f, uint8_t tag)
{
	uint8_t buf[LEDGER_INDEX_KEY_BYTES];
	size_t off = 0;
	if (tag != 0)
		buf[off++] = tag;
	if (f->op == LEDGER_MATCH_PREFIX) {
		plan_prefix(p, f->values[0], buf, off);
		return;
	}
	char(*vals)[SL_ID_MAX + 1] = p->sorted;
	memcpy(vals, f->values, sizeof(vals[0]) * f->n);
	qsort(vals, f->n, sizeof(vals[0]), cmp_id);
	for (size_t i = 0; i < f->n; i++) {
		if (i > 0 && strcmp(vals[i], vals[i - 1]) == 0)
			continue;
		size_t n = strlen(vals[i]);
		memcpy(buf + off, vals[i], n);
		buf[off + n] = '\0';
		range_prefix(&p->ranges[p->n_ranges++], buf, off + n + 1);
	}
}

static void plan_make(const ledger_query *q, plan *p)
{
	memset(p, 0, sizeof(*p));
	p->is_desc = q->is_desc;
	uint8_t lo[16], hi[16];
	size_t lo_len = 1, hi_len = 1;
	key_range *r = &p->ranges[0];
	switch (q->sort) {
	case LEDGER_SORT_CRAWL:
		p->is_crawl = true;
		p->is_desc = false;
		if (q->product.op != LEDGER_MATCH_ANY) {
			p->kind = 'v';
			p->cf = STORE_CF_VIEWS;
			plan_ids(p, &q->product, 0);
		} else if (q->variant.op != LEDGER_MATCH_ANY) {
			p->kind = LEDGER_INDEX_VARIANT;
			p->cf = STORE_CF_ITEM_INDEX;
			plan_ids(p, &q->variant, LEDGER_INDEX_VARIANT);
		} else if (q->location.op != LEDGER_MATCH_ANY) {
			p->kind = LEDGER_INDEX_LOCATION;
			p->cf = STORE_CF_ITEM_INDEX;
			plan_ids(p, &q->location, LEDGER_INDEX_LOCATION);
		} else {
			p->kind = 'v';
			p->cf = STORE_CF_VIEWS;
			p->n_ranges = 1; /* everything: lo "" and no hi */
		}
		return;
	case LEDGER_SORT_QUANTITY:
		p->kind = LEDGER_INDEX_QUANTITY;
		lo[0] = hi[0] = LEDGER_INDEX_QUANTITY;
		if (q->has_min_quantity || q->has_max_quantity ||
		    (q->has_tracked && q->is_tracked)) {
			lo[lo_len++] = 1;
			if (q->has_min_quantity) {
				sl_be64_put(lo + lo_len, ledger_index_u64(q->min_quantity));
				lo_len += 8;
			}
			hi[hi_len++] = 1;
			if (q->has_max_quantity) {
				sl_be64_put(hi + hi_len, ledger_index_u64(q->max_quantity));
				hi_len += 8;
				hi[hi_len++] = 0xff;
			} else {
				hi[hi_len - 1] = 2;
			}
		} else if (q->has_tracked) {
			lo[lo_len++] = 0;
			hi[hi_len++] = 1;
		} else {
			hi[0]++;
		}
		break;
	case LEDGER_SORT_CREATED:
		p->kind = LEDGER_INDEX_CREATED;
		lo[0] = hi[0] = LEDGER_INDEX_CREATED;
		hi[0]++;
		break;
	case LEDGER_SORT_UPDATED:
		p->kind = LEDGER_INDEX_UPDATED;
		lo[0] = hi[0] = LEDGER_INDEX_UPDATED;
		if (q->has_updated_after) {
			sl_be64_put(lo + 1, ledger_index_u64(q->updated_after_ms));
			lo[9] = 0xff;
			lo_len = 10;
		}
		if (q->has_updated_before) {
			sl_be64_put(hi + 1, ledger_index_u64(q->updated_before_ms));
			hi_len = 9;
		} else {
			hi[0]++;
		}
		break;
	}
	p->cf = STORE_CF_ITEM_INDEX;
	range_bytes(r->lo, &r->lo_len, lo, lo_len, NULL, 0);
	range_bytes(r->hi, &r->hi_len, hi, hi_len, NULL, 0);
	p->n_ranges = 1;
}

/* ---- cursors ---- */

static sl_err hash_put(sl_buf *b, const void *v, size_t n)
{
	uint8_t len[8];
	sl_be64_put(len, n);
	sl_err rc = sl_buf_append(b, len, sizeof(len));
	return rc == SL_OK ? sl_buf_append(b, v, n) : rc;
}

static sl_err hash_put_i64(sl_buf *b, bool has, int64_t v)
{
	uint8_t x[9];
	x[0] = has ? 1 : 0;
	sl_be64_put(x + 1, has ? (uint64_t)v : 0);
	return hash_put(b, x, sizeof(x));
}

static sl_err hash_put_ids(sl_buf *b, const ledger_id_filter *f)
{
	uint8_t op = (uint8_t)f->op;
	sl_err rc = hash_put(b, &op, 1);
	for (size_t i = 0; i < f->n && f->op != LEDGER_MATCH_ANY && rc == SL_OK; i++)
		rc = hash_put(b, f->values[i], strlen(f->values[i]));
	return rc;
}

/* query_hash: SHA-256 of everything that selects and orders the answers of q (not its
 * cursor, page size or point in time, which the cursor's pin stands for). */
static sl_err query_hash(const ledger_query *q, unsigned char *out)
{
	sl_buf b;
	sl_buf_init(&b);
	sl_err rc = hash_put_ids(&b, &q->product);
	if (rc == SL_OK)
		rc = hash_put_ids(&b, &q->variant);
	if (rc == SL_OK)
		rc = hash_put_ids(&b, &q->location);
	if (rc == SL_OK)
		rc = hash_put_i64(&b, q->has_status, q->status);
	if (rc == SL_OK)
		rc = hash_put_i64(&b, q->has_tracked, q->is_tracked);
	if (rc == SL_OK)
		rc = hash_put_i64(&b, q->has_min_quantity, q->min_quantity);
	if (rc == SL_OK)
		rc = hash_put_i64(&b, q->has_max_quantity, q->max_quantity);
	if (rc == SL_OK)
		rc = hash_put_i64(&b, q->has_updated_after, q->updated_after_ms);
	if (rc == SL_OK)
		rc = hash_put_i64(&b, q->has_updated_before, q->updated_before_ms);
	if (rc == SL_OK)
		rc = hash_put_i64(&b, true, (int64_t)q->sort * 2 + (q->is_desc ? 1 : 0));
	if (rc == SL_OK)
		sl_sha256(b.data, b.len, NULL, 0, out);
	sl_buf_fini(&b);
	return rc;
}

static void cursor_encode(const plan *p, uint64_t pin, const unsigned char *qhash,
                          const uint8_t *key, size_t klen, char *out)
{
	uint8_t b[CURSOR_HEAD + LEDGER_INDEX_KEY_BYTES];
	b[0] = CURSOR_VERSION;
	b[1] = p->kind;
	b[2] = p->is_desc ? 1 : 0;
	sl_be64_put(b + 3, pin);
	memcpy(b + 11, qhash, 4);
	memcpy(b + CURSOR_HEAD, key, klen);
	SL_ASSERT(2 * (CURSOR_HEAD + klen) <= SL_CURSOR_MAX);
	sl_hex(b, CURSOR_HEAD + klen, out);
}

static sl_err cursor_decode(const plan *p, const char *text, const unsigned char *qhash,
                            uint64_t *pin, uint8_t *key, size_t *klen)
{
	size_t n = strlen(text);
	uint8_t b[CURSOR_HEAD + LEDGER_INDEX_KEY_BYTES];
	if (n % 2 != 0 || n / 2 < CURSOR_HEAD || n / 2 > sizeof(b) ||
	    sl_hex_parse(text, b, n / 2) != SL_OK)
		return SL_ERR_INVALID_ARGUMENT;
	if (b[0] != CURSOR_VERSION || b[1] != p->kind || b[2] != (p->is_desc ? 1 : 0) ||
	    memcmp(b + 11, qhash, 4) != 0)
		return SL_ERR_INVALID_ARGUMENT;
	*pin = sl_be64_get(b + 3);
	*klen = n / 2 - CURSOR_HEAD;
	memcpy(key, b + CURSOR_HEAD, *klen);
	return SL_OK;
}

/* ---- the scan ---- */

static bool in_range(const key_range *r, const uint8_t *k, size_t klen)
{
	return ledger_index_key_cmp(k, klen, r->lo, r->lo_len) >= 0 &&
	       (r->hi_len == 0 || ledger_index_key_cmp(k, klen, r->hi, r->hi_len) < 0);
}

typedef struct scan {
	ledger *l;
	const ledger_query *q;
	const plan *p;
	store_snap *snap;
	uint64_t pin;     /* a crawl answers as of this seq */
	uint64_t indexed; /* the index of snap is complete up to this seq */
	size_t limit;
	size_t examined;
	ledger_query_page *page;
	uint8_t last[LEDGER_INDEX_KEY_BYTES]; /* the last key consumed */
	size_t last_len;
	bool is_done;
	size_t scan_max; /* rows a page may examine */
} scan;

static bool plan_is_hot(const plan *p)
{
	return p->kind != 'v' && ledger_index_is_hot((uint8_t)p->kind);
}

/* scan_row handles one row of the plan: false when the page is complete. */
static sl_err scan_row(scan *s, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen,
                       bool *is_more)
{
	sl_item it;
	sl_err rc;
	*is_more = true;
	if (s->p->kind == 'v') {
		rc = ledger_item_decode(v, vlen, &it);
	} else {
		sl_item_key key;
		size_t at = ledger_index_item_key(k, klen);
		if (at == SIZE_MAX || ledger_key_decode(k + at, klen - at, &key) != SL_OK)
			return SL_ERR_CORRUPT;
		rc = ledger_view_get_at(s->l, s->snap, &key, &it);
		if (rc == SL_ERR_NOT_FOUND)
			rc = SL_ERR_CORRUPT; /* an index row without its view */
	}
	if (rc != SL_OK)
		return rc;
	/* A crawl answers as of its pin; any other plan as of what its index rows say, since
	 * the index may lag the views (ledger.h, "Deferred secondary indexes"). */
	uint64_t as_of = s->p->is_crawl ? s->pin : s->indexed;
	if (it.last_seq > as_of) {
		sl_item past;
		rc = ledger_item_as_of(s->l, s->snap, &it, as_of, &past);
		if (rc == SL_ERR_NOT_FOUND)
			goto consumed; /* created after the pinned seq */
		if (rc != SL_OK)
			return rc;
		it = past;
	}
	if (ledger_query_matches(s->q, &it)) {
		if (s->page->n_items == s->limit) {
			/* one more match exists: the cursor stays on the last item returned */
			*is_more = false;
			return SL_OK;
		}
		s->page->items[s->page->n_items++] = it;
	}
consumed:
	memcpy(s->last, k, klen);
	s->last_len = klen;
	return SL_OK;
}

/* scan_budget_row is the loop body shared by both scans: the budget, then scan_row. false
 * when the scan of this page is over (s->is_done, or an error in *rc). */
static bool scan_budget_row(scan *s, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen,
                            sl_err *rc)
{
	if (s->examined == s->scan_max && s->page->n_items < s->limit) {
		s->is_done = true; /* out of budget: the cursor resumes here */
		return false;
	}
	s->examined++;
	bool is_more;
	if ((*rc = scan_row(s, k, klen, v, vlen, &is_more)) != SL_OK)
		return false;
	if (!is_more) {
		s->is_done = true;
		return false;
	}
	if (s->examined > s->scan_max) {
		/* the page is full and the peek for one more ran out of budget */
		s->is_done = true;
		return false;
	}
	return true;
}

static sl_err scan_range(scan *s, const key_range *r, const uint8_t *cur, size_t cur_len)
{
	store_iter *it = store_iter_alloc_at(ledger_store(s->l), s->p->cf, s->snap);
	if (it == NULL)
		return SL_ERR_NOMEM;
	sl_err rc = SL_OK;
	if (!s->p->is_desc) {
		if (cur_len > 0 && ledger_index_key_cmp(cur, cur_len, r->lo, r->lo_len) >= 0)
			store_iter_seek(it, cur, cur_len);
		else
			store_iter_seek(it, r->lo, r->lo_len);
	} else if (cur_len > 0) {
		store_iter_seek_for_prev(it, cur, cur_len);
	} else if (r->hi_len > 0) {
		store_iter_seek_for_prev(it, r->hi, r->hi_len);
	} else {
		store_iter_seek_last(it);
	}
	while (store_iter_valid(it)) {
		size_t klen, vlen;
		const uint8_t *k = store_iter_key(it, &klen);
		const uint8_t *v = store_iter_value(it, &vlen);
		bool is_skip = cur_len > 0 && ledger_index_key_cmp(k, klen, cur, cur_len) == 0;
		if (!is_skip && !in_range(r, k, klen)) {
			if (s->p->is_desc && r->hi_len > 0 &&
			    ledger_index_key_cmp(k, klen, r->hi, r->hi_len) >= 0) {
				store_iter_prev(it); /* seek_for_prev landed on hi itself */
				continue;
			}
			break;
		}
		if (!is_skip && !scan_budget_row(s, k, klen, v, vlen, &rc))
			break;
		if (s->p->is_desc)
			store_iter_prev(it);
		else
			store_iter_next(it);
	}
	if (rc == SL_OK)
		rc = store_iter_status(it);
	store_iter_free(it);
	return rc;
}

/*
 * scan_hot_range is scan_range over a hot index (ledger/memindex.h, in memory). A page is
 * read in attempts: each copies the keys it will examine out of the index under one read
 * lock (ledger_hot_scan), takes a snapshot after that (so it holds every event the keys
 * reflect) and reads the views from it as of the seq the keys were read at, outside the
 * lock. So a page is as of one seq, as with the stored indexes, and the index thread never
 * waits for a page's view reads. The first attempt copies a page's worth of keys; when the
 * filters rejected too many of them to fill the page, the next copies eight times as many
 * from the same start, up to SL_QUERY_HOT_SCAN_MAX rows, where the page returns what it has
 * with a cursor.
 */
static sl_err scan_hot_range(scan *s, const key_range *r, const uint8_t *cur, size_t cur_len)
{
	SL_ASSERT(s->p->n_ranges == 1);
	uint8_t from[LEDGER_INDEX_KEY_BYTES];
	size_t from_len = 0;
	bool is_from_seen = false; /* from is the cursor's key: consumed by the page before */
	if (cur_len > 0 &&
	    (s->p->is_desc || ledger_index_key_cmp(cur, cur_len, r->lo, r->lo_len) >= 0)) {
		memcpy(from, cur, cur_len);
		from_len = cur_len;
		is_from_seen = true;
	} else if (!s->p->is_desc) {
		memcpy(from, r->lo, r->lo_len);
		from_len = r->lo_len;
	} else if (r->hi_len > 0) {
		memcpy(from, r->hi, r->hi_len);
		from_len = r->hi_len;
	}
	sl_buf keys;
	sl_buf_init(&keys);
	s->scan_max = SL_QUERY_HOT_SCAN_MAX;
	size_t want = s->limit + 2; /* the page, its peek and the cursor's own key */
	sl_err rc = SL_OK;
	for (;;) {
		if (want > SL_QUERY_HOT_SCAN_MAX + 1)
			want = SL_QUERY_HOT_SCAN_MAX + 1;
		size_t n;
		uint64_t seq;
		rc = ledger_hot_scan(s->l, from, from_len, s->p->is_desc, r->lo, r->lo_len, r->hi,
		                     r->hi_len, want, &keys, &n, &seq);
		if (rc != SL_OK)
			break;
		/* a fresh attempt: the page as of seq */
		s->indexed = seq;
		s->page->n_items = 0;
		s->examined = 0;
		s->last_len = 0;
		s->is_done = false;
		store_snap_release(ledger_store(s->l), s->snap);
		if ((s->snap = store_snap_take(ledger_store(s->l))) == NULL) {
			rc = SL_ERR_NOMEM;
			break;
		}
		bool is_on = true;
		for (size_t off = 0, i = 0; i < n && is_on; i++) {
			size_t klen = ((size_t)keys.data[off] << 8) | keys.data[off + 1];
			const uint8_t *k = keys.data + off + 2;
			off += 2 + klen;
			if (is_from_seen && ledger_index_key_cmp(k, klen, from, from_len) == 0)
				continue;
			is_on = scan_budget_row(s, k, klen, NULL, 0, &rc);
		}
		if (rc != SL_OK || s->is_done || n < want)
			break; /* the page is complete, or the range is */
		if (want == SL_QUERY_HOT_SCAN_MAX + 1) {
			s->is_done =
			    true; /* out of budget: the cursor resumes after the last row */
			break;
		}
		want *= 8;
	}
	sl_buf_fini(&keys);
	return rc;
}

sl_err ledger_query_run(ledger *l, const ledger_query *q, ledger_query_page *page,
                        sl_error_info *err)
{
	plan *p = malloc(sizeof(*p));
	scan s = {.l = l, .q = q, .p = p, .page = page, .scan_max = SL_QUERY_SCAN_MAX};
	uint8_t cur[LEDGER_INDEX_KEY_BYTES];
	size_t cur_len = 0;
	uint64_t head;
	sl_err rc;
	page->n_items = 0;
	page->next_cursor[0] = '\0';
	page->as_of_seq = 0;
	if (p == NULL)
		return sl_error_set(err, SL_ERR_NOMEM, "out of memory");
	s.limit = q->limit == 0 ? SL_QUERY_PAGE_DEFAULT : q->limit;
	if (s.limit > SL_QUERY_PAGE_MAX) {
		rc =
		    sl_error_set(err, SL_ERR_LIMIT_EXCEEDED, "limit %zu: at most %d items per page",
		                 s.limit, SL_QUERY_PAGE_MAX);
		goto done;
	}
	if (q->sort != LEDGER_SORT_CRAWL && (q->has_as_of_seq || q->has_as_of_ms)) {
		rc = sl_error_set(err, SL_ERR_INVALID_ARGUMENT,
		                  "a sort cannot be combined with a point in time; point-in-time "
		                  "answers come in the crawl order");
		goto done;
	}
	plan_make(q, p);
	unsigned char qhash[SL_HASH_BYTES];
	if ((rc = query_hash(q, qhash)) != SL_OK) {
		sl_error_set(err, rc, "out of memory");
		goto done;
	}
	s.snap = store_snap_take(ledger_store(l));
	if (s.snap == NULL) {
		rc = sl_error_set(err, SL_ERR_NOMEM, "out of memory");
		goto done;
	}
	/* The head of a query is where its index is complete: the gateway waits for the index to
	 * reach the log's head before it queries (ledger_index_wait). */
	if ((rc = ledger_snap_indexed_seq(l, s.snap, &head)) != SL_OK ||
	    (rc = ledger_views_cap(l, &head)) != SL_OK) {
		/* (the views of a reference directory answer up to the seq they are as of) */
		sl_error_set(err, rc, "cannot read the head of the index: %s", sl_strerror(rc));
		goto done;
	}
	s.pin = head;
	s.indexed = head;
	if (q->cursor[0] != '\0') {
		if (cursor_decode(p, q->cursor, qhash, &s.pin, cur, &cur_len) != SL_OK ||
		    s.pin > head) {
			/* quote its first 40 bytes, cut before a character they would split:
			 * the message is text */
			int n = 0;
			while (n < 40 && q->cursor[n] != '\0')
				n++;
			while (n > 0 && ((unsigned char)q->cursor[n] & 0xc0) == 0x80)
				n--;
			rc = sl_error_set(err, SL_ERR_INVALID_ARGUMENT,
			                  "cursor '%.*s...' is not one of this query's", n,
			                  q->cursor);
			goto done;
		}
	} else if (q->has_as_of_seq) {
		if (q->as_of_seq > head) {
			rc = sl_error_set(
			    err, SL_ERR_INVALID_ARGUMENT, "as-of seq %llu is past the head %llu",
			    (unsigned long long)q->as_of_seq, (unsigned long long)head);
			goto done;
		}
		s.pin = q->as_of_seq;
	} else if (q->has_as_of_ms) {
		if ((rc = ledger_seq_at_time(l, s.snap, head, q->as_of_ms, &s.pin)) != SL_OK) {
			sl_error_set(err, rc, "cannot find the seq of that time: %s",
			             sl_strerror(rc));
			goto done;
		}
	}
	for (size_t i = 0; i < p->n_ranges && !s.is_done && rc == SL_OK; i++) {
		const key_range *r = &p->ranges[i];
		/* ranges before the cursor are done */
		if (cur_len > 0 && r->hi_len > 0 &&
		    ledger_index_key_cmp(r->hi, r->hi_len, cur, cur_len) <= 0)
			continue;
		rc = plan_is_hot(p) ? scan_hot_range(&s, r, cur, cur_len)
		                    : scan_range(&s, r, cur, cur_len);
	}
	if (rc != SL_OK) {
		sl_error_set(err, rc, "cannot run the query: %s", sl_strerror(rc));
		goto done;
	}
	if (s.is_done && s.last_len > 0)
		cursor_encode(p, s.pin, qhash, s.last, s.last_len, page->next_cursor);
	page->as_of_seq = p->is_crawl ? s.pin : s.indexed;
done:
	store_snap_release(ledger_store(l), s.snap);
	free(p);
	return rc;
}

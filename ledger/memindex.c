/*
 * memindex.c: the hot 'Q' and 'U' indexes in memory (memindex.h is the contract).
 *
 * Each tag has a B+tree of 16-byte entries: the value (for 'Q' the tracked byte as a high
 * byte above the 64-bit be64 quantity, for 'U' the 64-bit updatedDate) and the number of an
 * interned item key. Item keys are interned once in an arena, each a length byte and its
 * bytes, and a key's number is its offset there (the arena grows by realloc), behind an
 * open-addressing hash table from key bytes to number; only memindex_clear frees them.
 * The invariants kept:
 *
 *   - Order is the byte order of the encoded index keys: (high byte, value) numerically, then
 *     the item key bytes (memcmp, the shorter first when one is a prefix of the other). Two
 *     entries with the same key number have the same item key, as a key is interned once.
 *   - All leaves are at the same depth, linked both ways in key order; the tree knows its
 *     first and last leaf. An empty tree has no node at all.
 *   - In an inner node of n children, sep[i] parts child[i] from child[i+1]: every entry
 *     below child[i] is < sep[i] <= every entry below child[i+1]. A separator is an entry
 *     that may have been deleted since; its item key stays interned, so it still compares.
 *   - A non-root leaf holds at least MEMINDEX_LEAF_ENTRIES / 4 entries and a non-root inner
 *     node at least MEMINDEX_INNER_CHILDREN / 4 children (merged with or refilled from a
 *     sibling when it falls under); a root inner node has at least two children.
 *   - A failed insert changes no entry: the interner's room and every node a split needs are
 *     allocated before anything changes. A delete frees and never allocates.
 */
#include "ledger/memindex.h"

#include <stdlib.h>
#include <string.h>

#include "base/banned.h"

#define MEMINDEX_LEAF_ENTRIES 64
#define MEMINDEX_INNER_CHILDREN 64
#define MEMINDEX_LEAF_MIN (MEMINDEX_LEAF_ENTRIES / 4)
#define MEMINDEX_INNER_MIN (MEMINDEX_INNER_CHILDREN / 4)
/* inner levels at the most: with every node at its minimum, 16 levels hold over 2^64 entries */
#define MEMINDEX_HEIGHT_MAX 16
/* the longest item key of a hot key (ledger_key_encode writes at most this) */
#define MEMINDEX_ITEM_KEY_MAX LEDGER_KEY_BYTES
/* the arena at the most: a key's number is its offset, and UINT32_MAX is no key */
#define MEMINDEX_ARENA_MAX (UINT32_MAX - 1)
/* the number of a key that is not interned */
#define MEMINDEX_KEY_NONE UINT32_MAX
/* the first capacities of the interner's arrays */
#define MEMINDEX_ARENA_MIN 4096
#define MEMINDEX_SLOTS_MIN 256

_Static_assert(1 + 9 + MEMINDEX_ITEM_KEY_MAX <= LEDGER_INDEX_KEY_BYTES,
               "a hot key fits memindex_key's buffer");
_Static_assert(MEMINDEX_ITEM_KEY_MAX <= UINT8_MAX, "an item key's length fits its byte");
_Static_assert(MEMINDEX_LEAF_MIN >= 2 && MEMINDEX_INNER_MIN >= 2, "nodes are wide enough");
_Static_assert(MEMINDEX_LEAF_ENTRIES < UINT16_MAX && MEMINDEX_INNER_CHILDREN < UINT16_MAX,
               "node counts fit");

typedef struct memindex_entry {
	uint64_t val;
	uint32_t hi;  /* the 'Q' tracked byte; 0 for 'U' */
	uint32_t key; /* interned item key number: its offset in the arena */
} memindex_entry;

_Static_assert(sizeof(memindex_entry) == 16, "an entry is 16 bytes");

typedef struct memindex_leaf {
	struct memindex_leaf *prev;
	struct memindex_leaf *next;
	uint32_t n;
	memindex_entry e[MEMINDEX_LEAF_ENTRIES];
} memindex_leaf;

typedef struct memindex_inner {
	uint32_t n; /* children */
	memindex_entry sep[MEMINDEX_INNER_CHILDREN - 1];
	void *child[MEMINDEX_INNER_CHILDREN];
} memindex_inner;

typedef struct memindex_tree {
	void *root;      /* NULL when empty */
	uint32_t height; /* inner levels above the leaves */
	memindex_leaf *first;
	memindex_leaf *last;
	size_t count;
	size_t leaves;
	size_t inners;
} memindex_tree;

typedef struct memindex_intern {
	uint8_t *arena;
	size_t arena_len;
	size_t arena_cap;
	size_t n;         /* keys */
	uint64_t *slots;  /* hash32 << 32 | (number + 1); 0 is an empty slot */
	size_t slots_cap; /* 0 or a power of two, kept at most half full */
} memindex_intern;

struct memindex {
	memindex_tree tree[2]; /* 'Q', 'U' */
	memindex_intern in;
};

/* memindex_probe: a key being looked for, parsed; key is its number, or MEMINDEX_KEY_NONE
 * while not looked up or not interned (comparisons then read the probe's own bytes). */
typedef struct memindex_probe {
	uint64_t val;
	uint32_t hi;
	uint32_t key;
	const uint8_t *ik;
	size_t iklen;
	uint32_t hash;
	int ti;
} memindex_probe;

/* memindex_path: the way down to a leaf: node[d] is the inner node at depth d, child[d] the child
 * taken there; i is where the probe is or would go in leaf. */
typedef struct memindex_path {
	memindex_inner *node[MEMINDEX_HEIGHT_MAX];
	uint32_t child[MEMINDEX_HEIGHT_MAX];
	memindex_leaf *leaf;
	uint32_t i;
	bool is_found;
} memindex_path;

static int memindex_tag_tree(uint8_t tag)
{
	return tag == LEDGER_INDEX_QUANTITY ? 0 : 1;
}

static uint8_t memindex_tree_tag(int ti)
{
	return ti == 0 ? LEDGER_INDEX_QUANTITY : LEDGER_INDEX_UPDATED;
}

/* ---- the interner ---- */

static uint64_t memindex_hash(const uint8_t *p, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t)n;
	uint64_t w;
	while (n >= 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
		p += 8;
		n -= 8;
	}
	w = 0;
	if (n > 0)
		memcpy(&w, p, n);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 29;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 32;
	return h;
}

static const uint8_t *memindex_intern_key(const memindex_intern *in, uint32_t num, size_t *len)
{
	*len = in->arena[num];
	return in->arena + num + 1;
}

static uint32_t memindex_intern_find(const memindex_intern *in, const uint8_t *k, size_t klen,
                                     uint32_t hash)
{
	if (in->slots_cap == 0)
		return MEMINDEX_KEY_NONE;
	size_t mask = in->slots_cap - 1;
	for (size_t i = hash & mask;; i = (i + 1) & mask) {
		uint64_t s = in->slots[i];
		if (s == 0)
			return MEMINDEX_KEY_NONE;
		if ((uint32_t)(s >> 32) != hash)
			continue;
		uint32_t num = (uint32_t)s - 1;
		size_t len;
		const uint8_t *b = memindex_intern_key(in, num, &len);
		if (len == klen && memcmp(b, k, klen) == 0)
			return num;
	}
}

static void memindex_intern_slot_put(uint64_t *slots, size_t cap, uint32_t hash, uint32_t num)
{
	size_t mask = cap - 1;
	size_t i = hash & mask;
	while (slots[i] != 0)
		i = (i + 1) & mask;
	slots[i] = (uint64_t)hash << 32 | (uint64_t)(num + 1);
}

/* memindex_intern_reserve makes room for one more key of klen bytes; the keys held stay. */
static sl_err memindex_intern_reserve(memindex_intern *in, size_t klen)
{
	size_t need = in->arena_len + 1 + klen;
	if (need > MEMINDEX_ARENA_MAX)
		return SL_ERR_NOMEM;
	if (need > in->arena_cap) {
		size_t cap =
		    in->arena_cap < MEMINDEX_ARENA_MIN ? MEMINDEX_ARENA_MIN : in->arena_cap * 2;
		if (cap > MEMINDEX_ARENA_MAX)
			cap = MEMINDEX_ARENA_MAX;
		uint8_t *a = realloc(in->arena, cap);
		if (a == NULL)
			return SL_ERR_NOMEM;
		in->arena = a;
		in->arena_cap = cap;
	}
	if ((in->n + 1) * 2 > in->slots_cap) {
		size_t cap =
		    in->slots_cap < MEMINDEX_SLOTS_MIN ? MEMINDEX_SLOTS_MIN : in->slots_cap * 2;
		uint64_t *s = calloc(cap, sizeof(*s));
		if (s == NULL)
			return SL_ERR_NOMEM;
		for (size_t i = 0; i < in->slots_cap; i++)
			if (in->slots[i] != 0)
				memindex_intern_slot_put(s, cap, (uint32_t)(in->slots[i] >> 32),
				                         (uint32_t)in->slots[i] - 1);
		free(in->slots);
		in->slots = s;
		in->slots_cap = cap;
	}
	return SL_OK;
}

/* memindex_intern_add interns a key that is not yet, in the room memindex_intern_reserve made. */
static uint32_t memindex_intern_add(memindex_intern *in, const uint8_t *k, size_t klen,
                                    uint32_t hash)
{
	SL_ASSERT(in->arena_len + 1 + klen <= in->arena_cap && klen <= UINT8_MAX &&
	          (in->n + 1) * 2 <= in->slots_cap);
	uint32_t num = (uint32_t)in->arena_len;
	in->arena[num] = (uint8_t)klen;
	memcpy(in->arena + num + 1, k, klen);
	in->arena_len += 1 + klen;
	in->n++;
	memindex_intern_slot_put(in->slots, in->slots_cap, hash, num);
	return num;
}

static void memindex_intern_fini(memindex_intern *in)
{
	free(in->arena);
	free(in->slots);
	memset(in, 0, sizeof(*in));
}

/* ---- comparisons ---- */

static int memindex_bytes_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n > 0 ? memcmp(a, b, n) : 0;
	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

/* memindex_entry_cmp orders entry e against probe p, the item key bytes only on a tie of values. */
static inline int memindex_entry_cmp(const memindex_intern *in, const memindex_entry *e,
                                     const memindex_probe *p)
{
	if (e->hi != p->hi)
		return e->hi < p->hi ? -1 : 1;
	if (e->val != p->val)
		return e->val < p->val ? -1 : 1;
	if (e->key == p->key)
		return 0;
	size_t len;
	const uint8_t *b = memindex_intern_key(in, e->key, &len);
	return memindex_bytes_cmp(b, len, p->ik, p->iklen);
}

/* memindex_entry_cmp_bytes orders the key of entry e of tree ti against any byte string k (klen
 * bytes) that follows the tag byte. */
static int memindex_entry_cmp_bytes(const memindex_intern *in, int ti, const memindex_entry *e,
                                    const uint8_t *k, size_t klen)
{
	uint8_t head[9];
	size_t hlen = 0;
	if (ti == 0)
		head[hlen++] = (uint8_t)e->hi;
	sl_be64_put(head + hlen, e->val);
	hlen += 8;
	int c = memindex_bytes_cmp(head, hlen, k, klen < hlen ? klen : hlen);
	if (c != 0)
		return c;
	if (klen <= hlen)
		return 1; /* an item key is never empty: the entry is longer */
	size_t len;
	const uint8_t *b = memindex_intern_key(in, e->key, &len);
	return memindex_bytes_cmp(b, len, k + hlen, klen - hlen);
}

/* ---- the B+tree ---- */

/* memindex_prefetch asks for the n bytes at p at once: a node's lines, or the keys a search
 * will compare, then arrive together rather than one dependent miss a binary-search step. */
static inline void memindex_prefetch(const void *p, size_t n)
{
#if defined(__GNUC__)
	for (size_t i = 0; i < n; i += 64)
		__builtin_prefetch((const char *)p + i);
#else
	(void)p;
	(void)n;
#endif
}

/* memindex_value_cmp orders entry e against probe p by value only. */
static inline int memindex_value_cmp(const memindex_entry *e, const memindex_probe *p)
{
	if (e->hi != p->hi)
		return e->hi < p->hi ? -1 : 1;
	return e->val < p->val ? -1 : e->val > p->val ? 1 : 0;
}

/* memindex_entries_search returns the first of the m sorted entries at e that is > p
 * (is_upper) or >= p. Values are searched first; only the entries of p's value compare item
 * keys, whose first bytes are fetched together: all of them when they are few, else 15
 * samples that narrow the search to a sixteenth first. */
static uint32_t memindex_entries_search(const memindex_intern *in, const memindex_entry *e,
                                        uint32_t m, const memindex_probe *p, bool is_upper)
{
	uint32_t lo = 0, end = m;
	while (lo < end) {
		uint32_t mid = (lo + end) / 2;
		if (memindex_value_cmp(&e[mid], p) < 0)
			lo = mid + 1;
		else
			end = mid;
	}
	for (uint32_t top = m; end < top;) {
		uint32_t mid = (end + top) / 2;
		if (memindex_value_cmp(&e[mid], p) <= 0)
			end = mid + 1;
		else
			top = mid;
	}
	/* [lo, end): the entries of p's value */
	uint32_t r = end - lo;
	if (r > 16) {
		uint32_t at[15];
		for (uint32_t j = 0; j < 15; j++) {
			at[j] = lo + (uint32_t)((uint64_t)r * (j + 1) / 16);
			memindex_prefetch(in->arena + e[at[j]].key, 1);
		}
		uint32_t b_lo = lo, b_end = end;
		for (uint32_t j = 0; j < 15; j++) {
			int c = memindex_entry_cmp(in, &e[at[j]], p);
			if (is_upper ? c > 0 : c >= 0) {
				b_end = at[j];
				break;
			}
			b_lo = at[j] + 1;
		}
		lo = b_lo;
		end = b_end;
	}
	if (end - lo > 1)
		for (uint32_t i = lo; i < end; i++)
			memindex_prefetch(in->arena + e[i].key, 1);
	while (lo < end) {
		uint32_t mid = (lo + end) / 2;
		int c = memindex_entry_cmp(in, &e[mid], p);
		if (is_upper ? c <= 0 : c < 0)
			lo = mid + 1;
		else
			end = mid;
	}
	return lo;
}

/* memindex_tree_find walks t down to where p is or would go. */
static void memindex_tree_find(const memindex *h, const memindex_tree *t, const memindex_probe *p,
                               memindex_path *path)
{
	void *node = t->root;
	SL_ASSERT(node != NULL && t->height <= MEMINDEX_HEIGHT_MAX);
	for (uint32_t d = 0; d < t->height; d++) {
		memindex_inner *in = node;
		memindex_prefetch(in->sep, (in->n - 1) * sizeof(memindex_entry));
		/* the child right of every separator <= p */
		uint32_t ci = memindex_entries_search(&h->in, in->sep, in->n - 1, p, true);
		path->node[d] = in;
		path->child[d] = ci;
		node = in->child[ci];
		memindex_prefetch(node, offsetof(memindex_leaf, e) + 64);
	}
	memindex_leaf *leaf = node;
	memindex_prefetch(leaf->e, leaf->n * sizeof(memindex_entry));
	uint32_t i = memindex_entries_search(&h->in, leaf->e, leaf->n, p, false);
	path->leaf = leaf;
	path->i = i;
	path->is_found = i < leaf->n && memindex_entry_cmp(&h->in, &leaf->e[i], p) == 0;
}

static void memindex_node_free(void *node, uint32_t height)
{
	if (height > 0) {
		memindex_inner *in = node;
		for (uint32_t i = 0; i < in->n; i++)
			memindex_node_free(in->child[i], height - 1);
	}
	free(node);
}

static void memindex_tree_fini(memindex_tree *t)
{
	if (t->root != NULL)
		memindex_node_free(t->root, t->height);
	memset(t, 0, sizeof(*t));
}

/* memindex_inner_put puts separator sep and, right of it, child c at child index at of node (not
 * full). */
static void memindex_inner_put(memindex_inner *node, uint32_t at, const memindex_entry *sep,
                               void *c)
{
	SL_ASSERT(node->n < MEMINDEX_INNER_CHILDREN && at >= 1 && at <= node->n);
	memmove(&node->sep[at], &node->sep[at - 1], (node->n - at) * sizeof(memindex_entry));
	memmove(&node->child[at + 1], &node->child[at], (node->n - at) * sizeof(void *));
	node->sep[at - 1] = *sep;
	node->child[at] = c;
	node->n++;
}

/* memindex_inner_cut removes child index at (>= 1) of node and the separator left of it. */
static void memindex_inner_cut(memindex_inner *node, uint32_t at)
{
	SL_ASSERT(at >= 1 && at < node->n);
	memmove(&node->sep[at - 1], &node->sep[at], (node->n - 1 - at) * sizeof(memindex_entry));
	memmove(&node->child[at], &node->child[at + 1], (node->n - 1 - at) * sizeof(void *));
	node->n--;
}

/* memindex_tree_insert puts e where path says, with spare (the nodes memindex_tree_splits counted).
 */
static void memindex_tree_insert(memindex_tree *t, const memindex_path *path,
                                 const memindex_entry *e, memindex_leaf *spare_leaf,
                                 memindex_inner **spare_inner)
{
	memindex_leaf *l = path->leaf;
	uint32_t i = path->i;
	t->count++;
	if (l->n < MEMINDEX_LEAF_ENTRIES) {
		SL_ASSERT(spare_leaf == NULL);
		memmove(&l->e[i + 1], &l->e[i], (l->n - i) * sizeof(memindex_entry));
		l->e[i] = *e;
		l->n++;
		return;
	}
	/* Split the leaf. Appending at the end of the last leaf (the 'U' tree takes every new
	 * updatedDate there) leaves the full leaf full, so such a tree stays dense. */
	memindex_leaf *r = spare_leaf;
	SL_ASSERT(r != NULL);
	uint32_t keep = l->next == NULL && i == l->n ? l->n : MEMINDEX_LEAF_ENTRIES / 2;
	r->n = l->n - keep;
	memcpy(r->e, &l->e[keep], r->n * sizeof(memindex_entry));
	l->n = keep;
	memindex_leaf *into = i <= keep && keep < MEMINDEX_LEAF_ENTRIES ? l : r;
	uint32_t at = into == l ? i : i - keep;
	memmove(&into->e[at + 1], &into->e[at], (into->n - at) * sizeof(memindex_entry));
	into->e[at] = *e;
	into->n++;
	r->prev = l;
	r->next = l->next;
	if (l->next != NULL)
		l->next->prev = r;
	else
		t->last = r;
	l->next = r;
	t->leaves++;

	/* push (separator, right node) up while parents are full */
	memindex_entry sep = r->e[0];
	void *right = r;
	void *left = l;
	uint32_t d = t->height;
	while (d > 0) {
		d--;
		memindex_inner *p = path->node[d];
		uint32_t at_child = path->child[d] + 1;
		if (p->n < MEMINDEX_INNER_CHILDREN) {
			memindex_inner_put(p, at_child, &sep, right);
			return;
		}
		memindex_entry seps[MEMINDEX_INNER_CHILDREN];
		void *kids[MEMINDEX_INNER_CHILDREN + 1];
		memcpy(seps, p->sep, (at_child - 1) * sizeof(memindex_entry));
		seps[at_child - 1] = sep;
		memcpy(&seps[at_child], &p->sep[at_child - 1],
		       (p->n - at_child) * sizeof(memindex_entry));
		memcpy(kids, p->child, at_child * sizeof(void *));
		kids[at_child] = right;
		memcpy(&kids[at_child + 1], &p->child[at_child],
		       (p->n - at_child) * sizeof(void *));
		uint32_t total = p->n + 1, m = total / 2 + 1;
		memindex_inner *q = *spare_inner++;
		SL_ASSERT(q != NULL);
		p->n = m;
		memcpy(p->child, kids, m * sizeof(void *));
		memcpy(p->sep, seps, (m - 1) * sizeof(memindex_entry));
		q->n = total - m;
		memcpy(q->child, &kids[m], q->n * sizeof(void *));
		memcpy(q->sep, &seps[m], (q->n - 1) * sizeof(memindex_entry));
		t->inners++;
		sep = seps[m - 1];
		left = p;
		right = q;
	}
	/* the root split: a new root over the two halves */
	memindex_inner *root = *spare_inner;
	SL_ASSERT(root != NULL && t->height < MEMINDEX_HEIGHT_MAX);
	root->n = 2;
	root->child[0] = left;
	root->child[1] = right;
	root->sep[0] = sep;
	t->root = root;
	t->height++;
	t->inners++;
}

/* memindex_tree_splits counts the inner nodes an insert at path allocates (a full leaf needs one
 * leaf more, and one inner node for each full parent, and a new root if all are). */
static uint32_t memindex_tree_splits(const memindex_tree *t, const memindex_path *path)
{
	uint32_t n = 0;
	for (uint32_t d = t->height; d > 0; d--) {
		if (path->node[d - 1]->n < MEMINDEX_INNER_CHILDREN)
			return n;
		n++;
	}
	return n + 1;
}

/* memindex_leaves_even shares the entries of siblings l and r (r right of l) between them or, if
 * they fit in one, moves them all into l; returns whether it merged. */
static bool memindex_leaves_even(memindex_tree *t, memindex_leaf *l, memindex_leaf *r)
{
	uint32_t total = l->n + r->n;
	if (total <= MEMINDEX_LEAF_ENTRIES) {
		memcpy(&l->e[l->n], r->e, r->n * sizeof(memindex_entry));
		l->n = total;
		l->next = r->next;
		if (r->next != NULL)
			r->next->prev = l;
		else
			t->last = l;
		free(r);
		t->leaves--;
		return true;
	}
	uint32_t m = total / 2;
	if (l->n < m) {
		uint32_t k = m - l->n;
		memcpy(&l->e[l->n], r->e, k * sizeof(memindex_entry));
		memmove(r->e, &r->e[k], (r->n - k) * sizeof(memindex_entry));
		l->n += k;
		r->n -= k;
	} else {
		uint32_t k = l->n - m;
		memmove(&r->e[k], r->e, r->n * sizeof(memindex_entry));
		memcpy(r->e, &l->e[m], k * sizeof(memindex_entry));
		l->n -= k;
		r->n += k;
	}
	return false;
}

/* memindex_inners_even does for inner siblings l and r, parted by *sep in their parent, what
 * memindex_leaves_even does for leaves; *sep becomes the new separator if they are not merged. */
static bool memindex_inners_even(memindex_tree *t, memindex_inner *l, memindex_inner *r,
                                 memindex_entry *sep)
{
	memindex_entry seps[2 * MEMINDEX_INNER_CHILDREN];
	void *kids[2 * MEMINDEX_INNER_CHILDREN];
	uint32_t total = l->n + r->n;
	memcpy(kids, l->child, l->n * sizeof(void *));
	memcpy(&kids[l->n], r->child, r->n * sizeof(void *));
	memcpy(seps, l->sep, (l->n - 1) * sizeof(memindex_entry));
	seps[l->n - 1] = *sep;
	memcpy(&seps[l->n], r->sep, (r->n - 1) * sizeof(memindex_entry));
	if (total <= MEMINDEX_INNER_CHILDREN) {
		memcpy(l->child, kids, total * sizeof(void *));
		memcpy(l->sep, seps, (total - 1) * sizeof(memindex_entry));
		l->n = total;
		free(r);
		t->inners--;
		return true;
	}
	uint32_t m = total / 2;
	memcpy(l->child, kids, m * sizeof(void *));
	memcpy(l->sep, seps, (m - 1) * sizeof(memindex_entry));
	l->n = m;
	*sep = seps[m - 1];
	r->n = total - m;
	memcpy(r->child, &kids[m], r->n * sizeof(void *));
	memcpy(r->sep, &seps[m], (r->n - 1) * sizeof(memindex_entry));
	return false;
}

/* memindex_tree_delete removes the entry path found, then mends underfull nodes upwards. */
static void memindex_tree_delete(memindex_tree *t, const memindex_path *path)
{
	memindex_leaf *leaf = path->leaf;
	SL_ASSERT(path->is_found && t->count > 0);
	memmove(&leaf->e[path->i], &leaf->e[path->i + 1],
	        (leaf->n - path->i - 1) * sizeof(memindex_entry));
	leaf->n--;
	t->count--;
	if (t->height == 0) {
		if (leaf->n == 0) {
			free(leaf);
			memset(t, 0, sizeof(*t));
		}
		return;
	}
	if (leaf->n >= MEMINDEX_LEAF_MIN)
		return;
	uint32_t d = t->height - 1;
	memindex_inner *p = path->node[d];
	uint32_t ci = path->child[d];
	uint32_t li = ci > 0 ? ci - 1 : 0;
	if (!memindex_leaves_even(t, p->child[li], p->child[li + 1])) {
		p->sep[li] = ((memindex_leaf *)p->child[li + 1])->e[0];
		return;
	}
	memindex_inner_cut(p, li + 1);
	/* p lost a child: mend inner nodes upwards */
	while (d > 0) {
		memindex_inner *node = path->node[d];
		if (node->n >= MEMINDEX_INNER_MIN)
			return;
		memindex_inner *pp = path->node[d - 1];
		ci = path->child[d - 1];
		li = ci > 0 ? ci - 1 : 0;
		if (!memindex_inners_even(t, pp->child[li], pp->child[li + 1], &pp->sep[li]))
			return;
		memindex_inner_cut(pp, li + 1);
		d--;
	}
	memindex_inner *root = t->root;
	SL_ASSERT(root == path->node[0] && root->n >= 1);
	if (root->n == 1) {
		t->root = root->child[0];
		t->height--;
		t->inners--;
		free(root);
	}
}

/* memindex_tree_seek puts at *pos the first entry of tree ti >= the bytes k after the tag byte
 * (is_prev false) or the last one <= them (is_prev true). */
static bool memindex_tree_seek(const memindex *h, int ti, const uint8_t *k, size_t klen,
                               bool is_prev, memindex_pos *pos)
{
	const memindex_tree *t = &h->tree[ti];
	if (t->root == NULL)
		return false;
	void *node = t->root;
	/* down right of every separator <= k: the answer is in that leaf or next to it */
	for (uint32_t d = 0; d < t->height; d++) {
		memindex_inner *in = node;
		uint32_t lo = 0, hi = in->n - 1;
		while (lo < hi) {
			uint32_t mid = (lo + hi) / 2;
			if (memindex_entry_cmp_bytes(&h->in, ti, &in->sep[mid], k, klen) <= 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		node = in->child[lo];
	}
	memindex_leaf *leaf = node;
	/* lo: the entries < k; le: the entries <= k */
	uint32_t lo = 0, hi = leaf->n;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		int c = memindex_entry_cmp_bytes(&h->in, ti, &leaf->e[mid], k, klen);
		if (is_prev ? c <= 0 : c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	pos->tag = memindex_tree_tag(ti);
	if (!is_prev) {
		if (lo < leaf->n) {
			pos->leaf = leaf;
			pos->i = lo;
			return true;
		}
		if (leaf->next == NULL)
			return false;
		pos->leaf = leaf->next;
		pos->i = 0;
		return true;
	}
	if (lo > 0) {
		pos->leaf = leaf;
		pos->i = lo - 1;
		return true;
	}
	if (leaf->prev == NULL)
		return false;
	pos->leaf = leaf->prev;
	pos->i = leaf->prev->n - 1;
	return true;
}

static bool memindex_tree_first(const memindex *h, int ti, memindex_pos *pos)
{
	const memindex_tree *t = &h->tree[ti];
	if (t->first == NULL)
		return false;
	pos->leaf = t->first;
	pos->i = 0;
	pos->tag = memindex_tree_tag(ti);
	return true;
}

static bool memindex_tree_last(const memindex *h, int ti, memindex_pos *pos)
{
	const memindex_tree *t = &h->tree[ti];
	if (t->last == NULL)
		return false;
	pos->leaf = t->last;
	pos->i = t->last->n - 1;
	pos->tag = memindex_tree_tag(ti);
	return true;
}

/* memindex_parse checks that k is a hot key and parses it into p (the key not looked up). */
static bool memindex_parse(const uint8_t *k, size_t klen, memindex_probe *p)
{
	if (!memindex_is_hot(k, klen))
		return false;
	size_t head = k[0] == LEDGER_INDEX_QUANTITY ? 10 : 9;
	p->ti = memindex_tag_tree(k[0]);
	p->hi = p->ti == 0 ? k[1] : 0;
	p->val = sl_be64_get(k + head - 8);
	p->ik = k + head;
	p->iklen = klen - head;
	p->key = MEMINDEX_KEY_NONE;
	return true;
}

/* ---- the contract ---- */

sl_err memindex_alloc(memindex **out)
{
	memindex *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return SL_ERR_NOMEM;
	*out = h;
	return SL_OK;
}

void memindex_free(memindex *h)
{
	if (h == NULL)
		return;
	memindex_clear(h);
	free(h);
}

void memindex_clear(memindex *h)
{
	memindex_tree_fini(&h->tree[0]);
	memindex_tree_fini(&h->tree[1]);
	memindex_intern_fini(&h->in);
}

bool memindex_is_hot(const uint8_t *k, size_t klen)
{
	if (klen < 1)
		return false;
	size_t head;
	if (k[0] == LEDGER_INDEX_QUANTITY)
		head = 10;
	else if (k[0] == LEDGER_INDEX_UPDATED)
		head = 9;
	else
		return false;
	return klen > head && klen - head <= MEMINDEX_ITEM_KEY_MAX;
}

sl_err memindex_insert(memindex *h, const uint8_t *k, size_t klen)
{
	memindex_probe p;
	if (!memindex_parse(k, klen, &p))
		return SL_ERR_CORRUPT;
	memindex_tree *t = &h->tree[p.ti];
	/* The walk down compares the probe's own bytes, so it needs no key number: the intern
	 * table's slot is fetched meanwhile and read after. */
	p.hash = (uint32_t)memindex_hash(p.ik, p.iklen);
	if (h->in.slots_cap > 0)
		memindex_prefetch(&h->in.slots[p.hash & (h->in.slots_cap - 1)], 1);
	memindex_path path;
	memset(&path, 0, sizeof(path));
	if (t->root != NULL) {
		memindex_tree_find(h, t, &p, &path);
		if (path.is_found)
			return SL_ERR_CORRUPT;
	}
	p.key = memindex_intern_find(&h->in, p.ik, p.iklen, p.hash);
	if (p.key == MEMINDEX_KEY_NONE && memindex_intern_reserve(&h->in, p.iklen) != SL_OK)
		return SL_ERR_NOMEM;

	/* every node the insert needs, before anything changes */
	memindex_leaf *spare_leaf = NULL;
	memindex_inner *spare_inner[MEMINDEX_HEIGHT_MAX + 1];
	uint32_t n_inner = 0;
	memset(spare_inner, 0, sizeof(spare_inner));
	if (t->root == NULL || path.leaf->n == MEMINDEX_LEAF_ENTRIES) {
		spare_leaf = calloc(1, sizeof(*spare_leaf));
		if (spare_leaf == NULL)
			return SL_ERR_NOMEM;
	}
	if (t->root != NULL && spare_leaf != NULL) {
		uint32_t need = memindex_tree_splits(t, &path);
		SL_ASSERT(need <= MEMINDEX_HEIGHT_MAX);
		for (; n_inner < need; n_inner++) {
			spare_inner[n_inner] = malloc(sizeof(memindex_inner));
			if (spare_inner[n_inner] == NULL)
				goto fail;
		}
	}

	if (p.key == MEMINDEX_KEY_NONE)
		p.key = memindex_intern_add(&h->in, p.ik, p.iklen, p.hash);
	memindex_entry e = {.val = p.val, .hi = p.hi, .key = p.key};
	if (t->root == NULL) {
		spare_leaf->n = 1;
		spare_leaf->e[0] = e;
		t->root = t->first = t->last = spare_leaf;
		t->height = 0;
		t->count = 1;
		t->leaves = 1;
		return SL_OK;
	}
	memindex_tree_insert(t, &path, &e, spare_leaf, spare_inner);
	return SL_OK;
fail:
	while (n_inner > 0)
		free(spare_inner[--n_inner]);
	free(spare_leaf);
	return SL_ERR_NOMEM;
}

sl_err memindex_delete(memindex *h, const uint8_t *k, size_t klen)
{
	memindex_probe p;
	if (!memindex_parse(k, klen, &p))
		return SL_ERR_CORRUPT;
	memindex_tree *t = &h->tree[p.ti];
	if (t->root == NULL)
		return SL_ERR_NOT_FOUND;
	/* no key number needed: an entry of equal bytes is the one */
	memindex_path path;
	memindex_tree_find(h, t, &p, &path);
	if (!path.is_found)
		return SL_ERR_NOT_FOUND;
	memindex_tree_delete(t, &path);
	return SL_OK;
}

size_t memindex_count(const memindex *h)
{
	return h->tree[0].count + h->tree[1].count;
}

size_t memindex_bytes(const memindex *h)
{
	size_t n = sizeof(*h);
	for (int ti = 0; ti < 2; ti++)
		n += h->tree[ti].leaves * sizeof(memindex_leaf) +
		     h->tree[ti].inners * sizeof(memindex_inner);
	return n + h->in.arena_cap + h->in.slots_cap * sizeof(uint64_t);
}

bool memindex_seek(const memindex *h, const uint8_t *k, size_t klen, memindex_pos *pos)
{
	uint8_t tag = klen > 0 ? k[0] : 0;
	if (tag < LEDGER_INDEX_QUANTITY)
		return memindex_tree_first(h, 0, pos) || memindex_tree_first(h, 1, pos);
	if (tag == LEDGER_INDEX_QUANTITY)
		return memindex_tree_seek(h, 0, k + 1, klen - 1, false, pos) ||
		       memindex_tree_first(h, 1, pos);
	if (tag < LEDGER_INDEX_UPDATED)
		return memindex_tree_first(h, 1, pos);
	if (tag == LEDGER_INDEX_UPDATED)
		return memindex_tree_seek(h, 1, k + 1, klen - 1, false, pos);
	return false;
}

bool memindex_seek_for_prev(const memindex *h, const uint8_t *k, size_t klen, memindex_pos *pos)
{
	uint8_t tag = klen > 0 ? k[0] : 0;
	if (tag < LEDGER_INDEX_QUANTITY)
		return false;
	if (tag == LEDGER_INDEX_QUANTITY)
		return memindex_tree_seek(h, 0, k + 1, klen - 1, true, pos);
	if (tag < LEDGER_INDEX_UPDATED)
		return memindex_tree_last(h, 0, pos);
	if (tag == LEDGER_INDEX_UPDATED)
		return memindex_tree_seek(h, 1, k + 1, klen - 1, true, pos) ||
		       memindex_tree_last(h, 0, pos);
	return memindex_tree_last(h, 1, pos) || memindex_tree_last(h, 0, pos);
}

bool memindex_next(const memindex *h, memindex_pos *pos)
{
	const memindex_leaf *leaf = pos->leaf;
	SL_ASSERT(leaf != NULL && pos->i < leaf->n);
	if (pos->i + 1 < leaf->n) {
		pos->i++;
		return true;
	}
	if (leaf->next != NULL) {
		pos->leaf = leaf->next;
		pos->i = 0;
		return true;
	}
	return pos->tag == LEDGER_INDEX_QUANTITY && memindex_tree_first(h, 1, pos);
}

bool memindex_prev(const memindex *h, memindex_pos *pos)
{
	const memindex_leaf *leaf = pos->leaf;
	SL_ASSERT(leaf != NULL && pos->i < leaf->n);
	if (pos->i > 0) {
		pos->i--;
		return true;
	}
	if (leaf->prev != NULL) {
		pos->leaf = leaf->prev;
		pos->i = leaf->prev->n - 1;
		return true;
	}
	return pos->tag == LEDGER_INDEX_UPDATED && memindex_tree_last(h, 0, pos);
}

size_t memindex_key(const memindex *h, const memindex_pos *pos, uint8_t out[LEDGER_INDEX_KEY_BYTES])
{
	const memindex_leaf *leaf = pos->leaf;
	SL_ASSERT(leaf != NULL && pos->i < leaf->n);
	const memindex_entry *e = &leaf->e[pos->i];
	size_t n = 0;
	out[n++] = pos->tag;
	if (pos->tag == LEDGER_INDEX_QUANTITY)
		out[n++] = (uint8_t)e->hi;
	sl_be64_put(out + n, e->val);
	n += 8;
	size_t len;
	const uint8_t *b = memindex_intern_key(&h->in, e->key, &len);
	SL_ASSERT(n + len <= LEDGER_INDEX_KEY_BYTES);
	memcpy(out + n, b, len);
	return n + len;
}

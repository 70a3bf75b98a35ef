/*
 * fuzz_test.c: bad input over the wire, by mutation. The rule it checks (README, "Error
 * codes"): a request that cannot be decided gets a named error code and a message, the log and
 * the views are untouched, and the service keeps serving.
 *
 * Method: a corpus of valid requests (one or two of every command of proto/stockledger.proto,
 * as a client would pack them) is mutated from a fixed seed (SL_SEED to replay another, the
 * number of inputs from SL_FUZZ_N, 2000 by default; SL_FUZZ_DUMP=1 prints every command's type
 * and answer): bits flipped, bytes set, varints made huge, bytes cut, inserted, duplicated,
 * and two requests spliced; or, for two inputs in three, values changed through the
 * descriptors (strings at and past their bounds, not text, with separators; numbers at and
 * past their ranges; flags and presence flipped; enums out of range; repeated fields grown to
 * 300/301 lines, 100/101 ids, 512/513 commands). Each input goes through the daemon's own
 * path, gw_request_decode and then every command through gw_service_execute, on a real service
 * over a real RocksDB directory seeded with items and an order. Every reply must decode; every
 * error must carry a code and a message that is text (no INTERNAL, STORAGE, CORRUPT or NOMEM
 * for bad input); when every command of an input was refused, the head and the checksum of
 * every view must be as before. At the end every event in the log must name valid ids, and the
 * stored views must equal a fresh fold (projector_verify). Under ASan/UBSan a crash, an
 * overflow or a leak fails the test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/banned.h"
#include "base/sl_util.h"
#include "gateway/service.h"
#include "gateway/wire.h"
#include "ledger/ledger.h"
#include "projector/rebuild.h"
#include "support/sl_testing.h"
#include "stockledger.pb-c.h"

#define LOCATION "main"
#define CORPUS_MAX 64

typedef struct bytes {
	uint8_t *data;
	size_t len;
} bytes;

static bytes corpus[CORPUS_MAX];
static size_t n_corpus;
static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64*: a fixed seed gives the same inputs on every machine */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

static size_t rng_below(size_t n)
{
	return n == 0 ? 0 : (size_t)(rng() % n);
}

static void corpus_add_request(const Sl__Request *req)
{
	assert_true(n_corpus < CORPUS_MAX);
	size_t len = sl__request__get_packed_size(req);
	uint8_t *b = malloc(len + 1);
	assert_non_null(b);
	sl__request__pack(req, b);
	corpus[n_corpus].data = b;
	corpus[n_corpus].len = len;
	n_corpus++;
}

static void corpus_add(Sl__Command *cmd)
{
	Sl__Command *cmds[1] = {cmd};
	Sl__Request req = SL__REQUEST__INIT;
	req.n_commands = 1;
	req.commands = cmds;
	corpus_add_request(&req);
}

/* corpus_build packs valid requests of every command: on the seeded items (p1, p2 quantity
 * tracked, s1 in-stock tracked, order o1 placed) and on others. */
static void corpus_build(void)
{
	Sl__ItemKey k1 = SL__ITEM_KEY__INIT, k2 = SL__ITEM_KEY__INIT, ks = SL__ITEM_KEY__INIT,
	            kn = SL__ITEM_KEY__INIT;
	k1.product_id = "p1";
	k2.product_id = "p2";
	k2.variant_id = "v";
	k2.location_id = LOCATION;
	ks.product_id = "s1";
	kn.product_id = "new-item";
	kn.location_id = "east";
	Sl__Command cmd;

	Sl__CreateItem create = SL__CREATE_ITEM__INIT;
	create.item = &kn;
	create.has_quantity = true;
	create.quantity = 5;
	create.has_preorder_enabled = true;
	create.preorder_enabled = true;
	create.has_preorder_limit = true;
	create.preorder_limit = 3;
	create.preorder_message = "soon";
	sl__command__init(&cmd);
	cmd.key = "k-create";
	cmd.reason = "count";
	cmd.body_case = SL__COMMAND__BODY_CREATE;
	cmd.create = &create;
	corpus_add(&cmd);
	create.has_quantity = false;
	create.has_preorder_limit = false;
	create.has_in_stock = true;
	create.in_stock = true;
	cmd.key = NULL;
	corpus_add(&cmd);

	Sl__UpdateItem update = SL__UPDATE_ITEM__INIT;
	update.item = &k1;
	update.has_revision = true;
	update.revision = 1;
	update.has_quantity = true;
	update.quantity = 9;
	update.has_clear_preorder_limit = true;
	update.clear_preorder_limit = true;
	update.has_reset_preorder_counter = true;
	update.reset_preorder_counter = true;
	sl__command__init(&cmd);
	cmd.body_case = SL__COMMAND__BODY_UPDATE;
	cmd.update = &update;
	cmd.order_id = "o-9";
	corpus_add(&cmd);

	Sl__DeleteItem del = SL__DELETE_ITEM__INIT;
	del.item = &k2;
	sl__command__init(&cmd);
	cmd.body_case = SL__COMMAND__BODY_DELETE;
	cmd.delete_ = &del;
	cmd.key = "k-del";
	corpus_add(&cmd);

	Sl__Line l1 = SL__LINE__INIT, l2 = SL__LINE__INIT;
	l1.item = &k1;
	l1.has_quantity = true;
	l1.quantity = 1;
	l2.item = &k2;
	l2.has_quantity = true;
	l2.quantity = 2;
	Sl__Line *lines[2] = {&l1, &l2};
	Sl__Increment inc = SL__INCREMENT__INIT;
	inc.n_lines = 2;
	inc.lines = lines;
	sl__command__init(&cmd);
	cmd.body_case = SL__COMMAND__BODY_INCREMENT;
	cmd.increment = &inc;
	cmd.reason = "return";
	corpus_add(&cmd);
	Sl__Decrement dec = SL__DECREMENT__INIT;
	dec.n_lines = 2;
	dec.lines = lines;
	dec.has_restrict_inventory = true;
	dec.restrict_inventory = true;
	dec.has_preorder_request = true;
	dec.preorder_request = true;
	sl__command__init(&cmd);
	cmd.body_case = SL__COMMAND__BODY_DECREMENT;
	cmd.decrement = &dec;
	cmd.key = "k-dec";
	cmd.order_id = "o-7";
	corpus_add(&cmd);

	Sl__GetItem get = SL__GET_ITEM__INIT;
	get.item = &k1;
	sl__command__init(&cmd);
	cmd.body_case = SL__COMMAND__BODY_GET;
	cmd.get = &get;
	corpus_add(&cmd);
	get.has_as_of_seq = true;
	get.as_of_seq = 2;
	corpus_add(&cmd);
	get.has_as_of_seq = false;
	get.has_as_of_ms = true;
	get.as_of_ms = 1;
	corpus_add(&cmd);

	Sl__History hist = SL__HISTORY__INIT;
	hist.item = &k1;
	hist.has_limit = true;
	hist.limit = 2;
	hist.has_after_item_seq = true;
	hist.after_item_seq = 1;
	hist.has_from_seq = true;
	hist.from_seq = 1;
	hist.has_to_seq = true;
	hist.to_seq = 100;
	hist.has_since_ms = true;
	hist.since_ms = 1;
	hist.has_until_ms = true;
	hist.until_ms = INT64_MAX / 2;
	sl__command__init(&cmd);
	cmd.body_case = SL__COMMAND__BODY_HISTORY;
	cmd.history = &hist;
	corpus_add(&cmd);

	Sl__GetHead head = SL__GET_HEAD__INIT;
	sl__command__init(&cmd);
	cmd.body_case = SL__COMMAND__BODY_HEAD;
	cmd.head = &head;
	corpus_add(&cmd);

	Sl__SetSettings set = SL__SET_SETTINGS__INIT;
	set.has_inventory_update_trigger = true;
	set.inventory_update_trigger = SL__INVENTORY_UPDATE_TRIGGER__ON_ORDER_PAID;
	sl__command__init(&cmd);
	cmd.body_case = SL__COMMAND__BODY_SET_SETTINGS;
	cmd.set_settings = &set;
	cmd.key = "k-set";
	corpus_add(&cmd);
	Sl__GetSettings gets = SL__GET_SETTINGS__INIT;
	sl__command__init(&cmd);
	cmd.body_case = SL__COMMAND__BODY_GET_SETTINGS;
	cmd.get_settings = &gets;
	corpus_add(&cmd);

	Sl__OrderLineSpec ol1 = SL__ORDER_LINE_SPEC__INIT, ol2 = SL__ORDER_LINE_SPEC__INIT;
	ol1.line_id = "a";
	ol1.item = &k1;
	ol1.has_quantity = true;
	ol1.quantity = 1;
	ol2.item = &k2;
	ol2.has_quantity = true;
	ol2.quantity = 1;
	Sl__OrderLineSpec *olines[2] = {&ol1, &ol2};
	Sl__PlaceOrder place = SL__PLACE_ORDER__INIT;
	place.n_lines = 2;
	place.lines = olines;
	sl__command__init(&cmd);
	cmd.body_case = SL__COMMAND__BODY_PLACE_ORDER;
	cmd.place_order = &place;
	cmd.order_id = "o2";
	cmd.key = "k-place";
	corpus_add(&cmd);
	Sl__EditOrder edit = SL__EDIT_ORDER__INIT;
	edit.n_lines = 2;
	edit.lines = olines;
	sl__command__init(&cmd);
	cmd.body_case = SL__COMMAND__BODY_EDIT_ORDER;
	cmd.edit_order = &edit;
	cmd.order_id = "o1";
	corpus_add(&cmd);
	Sl__OrderLineSpec rl = SL__ORDER_LINE_SPEC__INIT;
	rl.line_id = "1";
	rl.has_quantity = true;
	rl.quantity = 1;
	Sl__OrderLineSpec *rlines[1] = {&rl};
	Sl__RefundOrder refund = SL__REFUND_ORDER__INIT;
	refund.n_lines = 1;
	refund.lines = rlines;
	refund.has_no_restock = true;
	refund.no_restock = true;
	sl__command__init(&cmd);
	cmd.body_case = SL__COMMAND__BODY_REFUND_ORDER;
	cmd.refund_order = &refund;
	cmd.order_id = "o1";
	corpus_add(&cmd);
	Sl__PayOrder pay = SL__PAY_ORDER__INIT;
	sl__command__init(&cmd);
	cmd.body_case = SL__COMMAND__BODY_PAY_ORDER;
	cmd.pay_order = &pay;
	cmd.order_id = "o1";
	corpus_add(&cmd);
	Sl__OrderPaymentFailed pf = SL__ORDER_PAYMENT_FAILED__INIT;
	sl__command__init(&cmd);
	cmd.body_case = SL__COMMAND__BODY_PAYMENT_FAILED;
	cmd.payment_failed = &pf;
	cmd.order_id = "o1";
	corpus_add(&cmd);
	Sl__CancelOrder cancel = SL__CANCEL_ORDER__INIT;
	cancel.has_no_restock = true;
	cancel.no_restock = true;
	sl__command__init(&cmd);
	cmd.body_case = SL__COMMAND__BODY_CANCEL_ORDER;
	cmd.cancel_order = &cancel;
	cmd.order_id = "o1";
	corpus_add(&cmd);
	Sl__GetOrder go = SL__GET_ORDER__INIT;
	sl__command__init(&cmd);
	cmd.body_case = SL__COMMAND__BODY_GET_ORDER;
	cmd.get_order = &go;
	cmd.order_id = "o1";
	corpus_add(&cmd);
	Sl__ListHolds holds = SL__LIST_HOLDS__INIT;
	holds.item = &k1;
	sl__command__init(&cmd);
	cmd.body_case = SL__COMMAND__BODY_LIST_HOLDS;
	cmd.list_holds = &holds;
	corpus_add(&cmd);

	Sl__Query q = SL__QUERY__INIT;
	char *pids[2] = {"p1", "p2"};
	q.n_product_ids = 2;
	q.product_ids = pids;
	q.variant_prefix = "v";
	q.has_status = true;
	q.status = SL__AVAILABILITY_STATUS__IN_STOCK;
	q.has_track_quantity = true;
	q.track_quantity = true;
	q.has_min_quantity = true;
	q.min_quantity = 0;
	q.has_max_quantity = true;
	q.max_quantity = 100;
	q.has_limit = true;
	q.limit = 2;
	sl__command__init(&cmd);
	cmd.body_case = SL__COMMAND__BODY_QUERY;
	cmd.query = &q;
	corpus_add(&cmd);
	Sl__Query q2 = SL__QUERY__INIT;
	q2.sort_field = "quantity";
	q2.has_sort_desc = true;
	q2.sort_desc = true;
	q2.has_updated_after_ms = true;
	q2.updated_after_ms = 1;
	q2.has_updated_before_ms = true;
	q2.updated_before_ms = INT64_MAX / 2;
	q2.cursor = "02";
	cmd.query = &q2;
	corpus_add(&cmd);

	Sl__Explain ex = SL__EXPLAIN__INIT;
	ex.item = &ks;
	sl__command__init(&cmd);
	cmd.body_case = SL__COMMAND__BODY_EXPLAIN;
	cmd.explain = &ex;
	corpus_add(&cmd);
	Sl__ReadEvents ev = SL__READ_EVENTS__INIT;
	ev.has_from_seq = true;
	ev.from_seq = 1;
	ev.has_limit = true;
	ev.limit = 3;
	ev.has_to_seq = true;
	ev.to_seq = 4;
	sl__command__init(&cmd);
	cmd.body_case = SL__COMMAND__BODY_EVENTS;
	cmd.events = &ev;
	corpus_add(&cmd);

	/* a request of several commands: a write, a read after it, a write */
	Sl__Command c1, c2, c3;
	sl__command__init(&c1);
	c1.body_case = SL__COMMAND__BODY_INCREMENT;
	c1.increment = &inc;
	sl__command__init(&c2);
	c2.body_case = SL__COMMAND__BODY_GET;
	get.has_as_of_ms = false;
	c2.get = &get;
	sl__command__init(&c3);
	c3.body_case = SL__COMMAND__BODY_DECREMENT;
	c3.decrement = &dec;
	Sl__Command *cmds[3] = {&c1, &c2, &c3};
	Sl__Request req = SL__REQUEST__INIT;
	req.n_commands = 3;
	req.commands = cmds;
	corpus_add_request(&req);
}

/* mutate writes a mutation of a corpus entry into out (which it allocates). */
static void mutate(bytes *out)
{
	const bytes *src = &corpus[rng_below(n_corpus)];
	size_t cap = src->len * 2 + 64;
	uint8_t *b = malloc(cap);
	assert_non_null(b);
	memcpy(b, src->data, src->len);
	size_t len = src->len;
	int rounds = 1 + (int)rng_below(4);
	for (int r = 0; r < rounds; r++) {
		size_t at = rng_below(len);
		switch (rng_below(9)) {
		case 0: /* flip a bit */
			if (len > 0)
				b[at] ^= (uint8_t)(1u << rng_below(8));
			break;
		case 1: /* set a byte */
			if (len > 0)
				b[at] = (uint8_t)rng();
			break;
		case 2: /* an interesting byte */
			if (len > 0) {
				static const uint8_t v[] = {0x00, 0x01, 0x7f, 0x80, 0xff, 0x0a,
				                            0x12, 0x20, 0x2f, 0x40, 0x3d, 0x3a};
				b[at] = v[rng_below(sizeof(v))];
			}
			break;
		case 3: /* cut the tail */
			len = at;
			break;
		case 4: /* remove a few bytes */
			if (len > 0) {
				size_t n = 1 + rng_below(4);
				if (at + n > len)
					n = len - at;
				memmove(b + at, b + at + n, len - at - n);
				len -= n;
			}
			break;
		case 5: /* insert random bytes */
			if (len + 8 <= cap) {
				size_t n = 1 + rng_below(8);
				memmove(b + at + n, b + at, len - at);
				for (size_t i = 0; i < n; i++)
					b[at + i] = (uint8_t)rng();
				len += n;
			}
			break;
		case 6: /* duplicate a chunk */
			if (len > 0) {
				size_t n = 1 + rng_below(len - at);
				if (len + n <= cap) {
					memmove(b + at + n, b + at, len - at);
					len += n;
				}
			}
			break;
		case 7: /* a huge varint at a varint's place */
			if (len + 9 <= cap) {
				memmove(b + at + 9, b + at, len - at);
				for (size_t i = 0; i < 9; i++)
					b[at + i] = 0xff;
				b[at + 9 - 1] = 0x01;
				len += 9;
			}
			break;
		default: { /* splice: the head of this, the tail of another */
			const bytes *o = &corpus[rng_below(n_corpus)];
			size_t from = rng_below(o->len);
			size_t n = o->len - from;
			if (at + n <= cap) {
				memcpy(b + at, o->data + from, n);
				len = at + n;
			}
			break;
		}
		}
	}
	out->data = b;
	out->len = len;
}

/* ---- structure-aware mutation: values, not bytes ---- */

static const char *const strings_interesting[] = {
    "",
    "a",
    "p1",
    "p2",
    "s1",
    "o1",
    "1",
    "2",
    LOCATION,
    "default",
    "v",
    "quantity",
    "createdDate",
    "updatedDate",
    "00000000-0000-0000-0000-000000000000",
    "a/b",
    "a@b",
    "a=b",
    "a:b",
    "a b",
    "a\tb",
    "\x7f",
    "caf\xc3\xa9",
    "\xff\xfe",
    "\xc3",
    "*",
    "p*",
    "0200000000000000000000000000",
};

static char *string_pick(void)
{
	size_t n_fixed = sizeof(strings_interesting) / sizeof(strings_interesting[0]);
	size_t pick = rng_below(n_fixed + 8);
	if (pick < n_fixed)
		return strdup(strings_interesting[pick]);
	/* a long one, at or just past a bound */
	static const size_t lens[] = {
	    SL_ID_MAX,     SL_ID_MAX + 1,     SL_KEY_MAX,    SL_KEY_MAX + 1,
	    SL_REASON_MAX, SL_REASON_MAX + 1, SL_CURSOR_MAX, SL_PREORDER_MESSAGE_MAX + 1};
	size_t len = lens[pick - n_fixed];
	char *t = malloc(len + 1);
	assert_non_null(t);
	memset(t, 'a' + (int)rng_below(3), len);
	t[len] = '\0';
	return t;
}

static int64_t i64_pick(void)
{
	static const int64_t v[] = {0,
	                            1,
	                            -1,
	                            2,
	                            3,
	                            INT64_MIN,
	                            INT64_MAX,
	                            SL_QUANTITY_MAX,
	                            SL_QUANTITY_MAX + 1,
	                            SL_QUANTITY_MIN,
	                            SL_QUANTITY_MIN - 1,
	                            SL_LINE_QUANTITY_MAX,
	                            SL_LINE_QUANTITY_MAX + 1,
	                            INT64_MAX / 2,
	                            INT64_MIN / 2,
	                            4102444800000LL,
	                            -4102444800000LL};
	return v[rng_below(sizeof(v) / sizeof(v[0]))];
}

static uint64_t u64_pick(void)
{
	static const uint64_t v[] = {0,
	                             1,
	                             2,
	                             3,
	                             5,
	                             100,
	                             SL_HISTORY_PAGE_MAX,
	                             SL_HISTORY_PAGE_MAX + 1,
	                             SL_FEED_WAIT_MS_MAX,
	                             SL_FEED_WAIT_MS_MAX + 1,
	                             SL_REQUEST_READ_ROWS_MAX + 1,
	                             UINT32_MAX,
	                             (uint64_t)UINT32_MAX + 1,
	                             UINT64_MAX,
	                             UINT64_MAX / 2 + 1};
	return v[rng_below(sizeof(v) / sizeof(v[0]))];
}

/* element_copy: a deep copy of message m (packed and unpacked again). */
static ProtobufCMessage *element_copy(const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *b = malloc(len + 1);
	assert_non_null(b);
	protobuf_c_message_pack(m, b);
	ProtobufCMessage *c = protobuf_c_message_unpack(m->descriptor, NULL, len, b);
	free(b);
	assert_non_null(c);
	return c;
}

static void message_mutate(ProtobufCMessage *m, int depth, unsigned per_mille);

/* repeated_grow makes the repeated field f of m hold n elements (copies of its first). */
static void repeated_grow(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, size_t n)
{
	size_t *count = (size_t *)((char *)m + f->quantifier_offset);
	void **arr = (void **)((char *)m + f->offset);
	if (*count == 0 || n <= *count)
		return;
	if (f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING)
		return;
	void **grown = realloc(*arr, n * sizeof(void *));
	assert_non_null(grown);
	for (size_t i = *count; i < n; i++)
		grown[i] = f->type == PROTOBUF_C_TYPE_MESSAGE ? (void *)element_copy(grown[0])
		                                              : (void *)strdup(grown[0]);
	*arr = grown;
	*count = n;
}

/* field_mutate changes the value (or presence) of the singular field f of m. */
static void field_mutate(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	char *member = (char *)m + f->offset;
	protobuf_c_boolean *has = f->quantifier_offset != 0 && f->label == PROTOBUF_C_LABEL_OPTIONAL
	                              ? (protobuf_c_boolean *)((char *)m + f->quantifier_offset)
	                              : NULL;
	if (has != NULL && rng_below(5) == 0) {
		*has = !*has;
		return;
	}
	if (has != NULL)
		*has = 1;
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		char **sp = (char **)member;
		if (*sp != NULL && (char *)*sp != (char *)f->default_value)
			free(*sp);
		*sp = rng_below(6) == 0 ? NULL : string_pick();
		break;
	}
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_INT64:
		*(int64_t *)member = i64_pick();
		break;
	case PROTOBUF_C_TYPE_UINT64:
		*(uint64_t *)member = u64_pick();
		break;
	case PROTOBUF_C_TYPE_UINT32:
		*(uint32_t *)member = (uint32_t)u64_pick();
		break;
	case PROTOBUF_C_TYPE_BOOL:
		*(protobuf_c_boolean *)member = !*(protobuf_c_boolean *)member;
		break;
	case PROTOBUF_C_TYPE_ENUM: {
		static const int v[] = {-1, 0, 1, 2, 3, 4, 99};
		*(int *)member = v[rng_below(sizeof(v) / sizeof(v[0]))];
		break;
	}
	default:
		break;
	}
}

static void message_mutate(ProtobufCMessage *m, int depth, unsigned per_mille)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		char *member = (char *)m + f->offset;
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			uint32_t body_case = *(uint32_t *)((char *)m + f->quantifier_offset);
			if (body_case == f->id && f->type == PROTOBUF_C_TYPE_MESSAGE &&
			    *(ProtobufCMessage **)member != NULL && depth < 8)
				message_mutate(*(ProtobufCMessage **)member, depth + 1, per_mille);
			continue;
		}
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t *count = (size_t *)((char *)m + f->quantifier_offset);
			if (rng_below(1000) < per_mille / 4) {
				static const size_t sizes[] = {SL_LINES_MAX, SL_LINES_MAX + 1,
				                               SL_QUERY_IN_MAX,
				                               SL_QUERY_IN_MAX + 1};
				repeated_grow(m, f, sizes[rng_below(4)]);
			}
			void **arr = *(void ***)member;
			for (size_t k = 0; k < *count && k < 4; k++) {
				if (f->type == PROTOBUF_C_TYPE_MESSAGE && depth < 8)
					message_mutate(arr[k], depth + 1, per_mille);
				else if (f->type == PROTOBUF_C_TYPE_STRING &&
				         rng_below(1000) < per_mille) {
					free(arr[k]);
					arr[k] = string_pick();
				}
			}
			continue;
		}
		if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
			ProtobufCMessage **sub = (ProtobufCMessage **)member;
			if (*sub != NULL && rng_below(1000) < per_mille / 4) {
				protobuf_c_message_free_unpacked(*sub, NULL);
				*sub = NULL; /* absent */
			} else if (*sub != NULL && depth < 8) {
				message_mutate(*sub, depth + 1, per_mille);
			}
			continue;
		}
		if (rng_below(1000) < per_mille)
			field_mutate(m, f);
	}
}

/* mutate_values unpacks a corpus request, changes some of its values and packs it again. */
static void mutate_values(bytes *out)
{
	const bytes *src = &corpus[rng_below(n_corpus)];
	Sl__Request *req = sl__request__unpack(NULL, src->len, src->data);
	assert_non_null(req);
	if (rng_below(200) == 0) {
		static const size_t sizes[] = {SL_REQUEST_COMMANDS_MAX,
		                               SL_REQUEST_COMMANDS_MAX + 1};
		repeated_grow(&req->base, &sl__request__descriptor.fields[0], sizes[rng_below(2)]);
	}
	message_mutate(&req->base, 0, 50 + (unsigned)rng_below(200));
	size_t len = sl__request__get_packed_size(req);
	out->data = malloc(len + 1);
	assert_non_null(out->data);
	out->len = sl__request__pack(req, out->data);
	sl__request__free_unpacked(req, NULL);
}

typedef struct fixture {
	char dir[256];
	gw_service *svc;
} fixture;

/* run_cmd runs one decoded command and returns its decoded result (asserted to decode). */
static Sl__Result *run_cmd(gw_service *s, sl_command *cmd)
{
	if (cmd->type == SL_CMD_EVENTS)
		cmd->wait_ms = cmd->wait_ms > 5 ? 5 : cmd->wait_ms; /* keep the run short */
	sl_buf out;
	sl_buf_init(&out);
	assert_int_equal(gw_service_execute(s, cmd, &out), SL_OK);
	Sl__Result *r = sl__result__unpack(NULL, out.len, out.data);
	if (r == NULL)
		fail_msg("a result of %zu bytes does not decode", out.len);
	sl_buf_fini(&out);
	return r;
}

static void seed_state(gw_service *s)
{
	static const char *const setup[] = {"p1", "p2", "s1"};
	for (size_t i = 0; i < 3; i++) {
		sl_command c;
		memset(&c, 0, sizeof(c));
		c.type = SL_CMD_CREATE;
		sl_test_key_set(&c.item, setup[i], LOCATION);
		if (i == 1)
			sl_strlcpy(c.item.variant_id, "v", sizeof(c.item.variant_id));
		if (i == 2) {
			c.has_in_stock = true;
			c.in_stock = true;
		} else {
			c.has_quantity = true;
			c.quantity = 50;
		}
		Sl__Result *r = run_cmd(s, &c);
		assert_null(r->error);
		sl__result__free_unpacked(r, NULL);
	}
	sl_command c;
	memset(&c, 0, sizeof(c));
	c.type = SL_CMD_ORDER_PLACE;
	sl_strlcpy(c.order_id, "o1", sizeof(c.order_id));
	c.lines = calloc(1, sizeof(*c.lines));
	assert_non_null(c.lines);
	c.n_lines = 1;
	sl_test_key_set(&c.lines[0].item, "p1", LOCATION);
	c.lines[0].quantity = 2;
	Sl__Result *r = run_cmd(s, &c);
	assert_null(r->error);
	sl__result__free_unpacked(r, NULL);
}

static void state_mark(gw_service *s, uint64_t *head, unsigned char *views)
{
	ledger *l = gw_service_ledger(s);
	uint64_t n_rows;
	*head = ledger_head(l, NULL);
	assert_int_equal(ledger_views_checksum(l, views, &n_rows), SL_OK);
}

static void check_error(const Sl__Error *e, size_t input)
{
	if (e->code == NULL || e->code[0] == '\0' || e->message == NULL || e->message[0] == '\0')
		fail_msg("input %zu: an error without a code or a message", input);
	/* a client prints it (stockctl --json: a JSON string, which must be UTF-8) */
	if (!sl_text_is_valid((const uint8_t *)e->message, strlen(e->message)))
		fail_msg("input %zu: %s with a message that is not UTF-8: %s", input, e->code,
		         e->message);
	if (strcmp(e->code, "INTERNAL") == 0 || strcmp(e->code, "STORAGE") == 0 ||
	    strcmp(e->code, "CORRUPT") == 0 || strcmp(e->code, "NOMEM") == 0)
		fail_msg("input %zu: bad input answered %s: %s", input, e->code, e->message);
}

static void check_event_ids(const sl_event *ev)
{
	bool is_item = ev->type >= SL_EV_ITEM_CREATED && ev->type <= SL_EV_ITEM_DECREMENTED;
	if ((is_item || ev->type == SL_EV_ORDER_LINE_CHANGED) &&
	    !(sl_id_is_valid(ev->item.product_id, strlen(ev->item.product_id), SL_ID_MAX) &&
	      sl_id_is_valid(ev->item.variant_id, strlen(ev->item.variant_id), SL_ID_MAX) &&
	      sl_id_is_valid(ev->item.location_id, strlen(ev->item.location_id), SL_ID_MAX)))
		fail_msg("event %llu names an invalid item '%s/%s@%s'", (unsigned long long)ev->seq,
		         ev->item.product_id, ev->item.variant_id, ev->item.location_id);
	if (ev->order_id[0] != '\0' &&
	    !sl_id_is_valid(ev->order_id, strlen(ev->order_id), SL_ID_MAX))
		fail_msg("event %llu (type %d) records an invalid orderId '%s'",
		         (unsigned long long)ev->seq, (int)ev->type, ev->order_id);
}

static void test_fuzz_bad_requests_are_refused_by_name_and_change_nothing(void **state)
{
	(void)state;
	fixture f;
	assert_int_equal(sl_test_dir_make(f.dir, sizeof(f.dir), "fuzz-test"), 0);
	gw_config cfg = {.data_dir = f.dir, .default_location = LOCATION};
	char errbuf[512];
	if (gw_service_open(&cfg, &f.svc, errbuf, sizeof(errbuf)) != SL_OK)
		fail_msg("cannot open service: %s", errbuf);
	seed_state(f.svc);
	corpus_build();

	const char *seed_text = getenv("SL_SEED");
	const char *n_text = getenv("SL_FUZZ_N");
	uint64_t seed = seed_text != NULL ? strtoull(seed_text, NULL, 10) : 20261205;
	size_t n_inputs = n_text != NULL ? (size_t)strtoull(n_text, NULL, 10) : 2000;
	rng_state = seed != 0 ? seed : 1;
	fprintf(stderr, "fuzz_test: SL_SEED=%llu SL_FUZZ_N=%zu\n", (unsigned long long)seed,
	        n_inputs);

	size_t n_decoded = 0, n_envelope = 0, n_refused_all = 0, n_cmds = 0;
	for (size_t input = 0; input < n_inputs; input++) {
		bytes in;
		if (rng_below(3) == 0)
			mutate(&in);
		else
			mutate_values(&in);
		uint64_t head_before, head_after;
		unsigned char views_before[SL_HASH_BYTES], views_after[SL_HASH_BYTES];
		state_mark(f.svc, &head_before, views_before);
		sl_command *cmds = NULL;
		size_t n = 0;
		sl_error_info err;
		sl_err rc = gw_request_decode(in.data, in.len, LOCATION, &cmds, &n, &err);
		bool is_all_refused = true;
		if (rc != SL_OK) {
			n_envelope++;
			if (err.message[0] == '\0')
				fail_msg("input %zu: envelope refused %s without a message", input,
				         sl_err_name(rc));
			assert_true(rc == SL_ERR_MALFORMED || rc == SL_ERR_INVALID_ARGUMENT ||
			            rc == SL_ERR_LIMIT_EXCEEDED);
		} else {
			n_decoded++;
			for (size_t i = 0; i < n; i++) {
				n_cmds++;
				int type = (int)cmds[i].type;
				Sl__Result *r = run_cmd(f.svc, &cmds[i]);
				if (getenv("SL_FUZZ_DUMP") != NULL)
					fprintf(stderr, "input %zu cmd %zu type %d: %s %s\n", input,
					        i, type, r->error ? r->error->code : "OK",
					        r->error ? r->error->message : "");
				if (r->error != NULL)
					check_error(r->error, input);
				else if (sl_cmd_is_write((sl_cmd_type)type))
					is_all_refused = false;
				sl__result__free_unpacked(r, NULL);
			}
			gw_commands_free(cmds, n);
		}
		state_mark(f.svc, &head_after, views_after);
		free(in.data);
		if (is_all_refused) {
			n_refused_all++;
			if (head_after != head_before ||
			    memcmp(views_before, views_after, SL_HASH_BYTES) != 0)
				fail_msg(
				    "input %zu (seed %llu): every command was refused, yet the "
				    "head went %llu -> %llu and the views %s",
				    input, (unsigned long long)seed,
				    (unsigned long long)head_before, (unsigned long long)head_after,
				    memcmp(views_before, views_after, SL_HASH_BYTES) != 0
				        ? "changed"
				        : "did not");
		}
	}
	fprintf(stderr,
	        "fuzz_test: %zu inputs: %zu refused whole, %zu decoded (%zu commands); %zu "
	        "changed nothing\n",
	        n_inputs, n_envelope, n_decoded, n_cmds, n_refused_all);

	/* every event names valid ids, and the views are a fold of the log */
	ledger *l = gw_service_ledger(f.svc);
	ledger_iter *it = ledger_iter_alloc(l, 1);
	assert_non_null(it);
	sl_event ev;
	uint64_t bad = 0;
	size_t n_events = 0;
	sl_err rc;
	while ((rc = ledger_iter_next(it, &ev, &bad)) == SL_OK) {
		check_event_ids(&ev);
		n_events++;
	}
	assert_int_equal(rc, SL_ERR_NOT_FOUND);
	ledger_iter_free(it);
	fprintf(stderr, "fuzz_test: %zu events in the log, every id valid\n", n_events);
	gw_service_close(f.svc);
	ledger *vl = NULL;
	assert_int_equal(ledger_open_tool(f.dir, &vl, errbuf, sizeof(errbuf)), SL_OK);
	projector_report report;
	memset(&report, 0, sizeof(report));
	sl_err vrc = projector_verify(vl, NULL, NULL, &report);
	ledger_close(vl);
	assert_int_equal(vrc, SL_OK);
	for (size_t i = 0; i < n_corpus; i++)
		free(corpus[i].data);
	n_corpus = 0;
	assert_int_equal(sl_test_dir_remove(f.dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fuzz_bad_requests_are_refused_by_name_and_change_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * codec.c: protobuf-c encoding of events, views, results and idempotency records.
 *
 * Encoders build the generated message on the stack, pointing into the C record (no copy,
 * no allocation but the output buffer). Decoders unpack with protobuf-c's allocator, copy
 * into the bounded C record, checking every bound, and free the message. Empty strings are
 * encoded as absent fields, so "" and "not set" are the same thing on disk: one encoding
 * per record. Events, the record read most (a rebuild decodes millions), are unpacked into a
 * per-thread arena instead of protobuf-c's malloc'd pieces (decode_arena).
 */
#include "ledger/codec.h"

#include <stdlib.h>
#include <string.h>

#include "base/banned.h"
#include "base/sl_pbtext.h"
#include "base/sl_util.h"
#include "stockledger.pb-c.h"

/* ---- the decode arena ----
 * protobuf-c allocates every submessage, string and repeated field of an unpacked message
 * separately: about ten mallocs and frees for an event, a large part of the rebuild's fold
 * thread. An event is unpacked instead into a bump arena of its thread, emptied when the
 * next decode begins (the message never outlives ledger_event_decode); what does not fit
 * falls back to malloc. Under AddressSanitizer (the test build) the arena checks what the
 * heap would: it is poisoned when a decode begins but for the pieces handed out, each after
 * a 16-byte red zone that holds its size, and a piece is poisoned again when it is freed,
 * so a read past a piece or after its free is reported (found missing by a review). The
 * poison stays until the next decode or the thread's exit, when a thread-specific
 * destructor lifts it (ASan would pass a dead thread's TLS poison to the next thread). */
#define DECODE_ARENA_BYTES 8192

#if defined(__SANITIZE_ADDRESS__)
#define DECODE_ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DECODE_ARENA_ASAN 1
#endif
#endif

typedef struct decode_arena {
	size_t used;
	_Alignas(16) unsigned char buf[DECODE_ARENA_BYTES];
} decode_arena;

#ifdef DECODE_ARENA_ASAN
#include <pthread.h>
#include <sanitizer/asan_interface.h>
#define ARENA_REDZONE 16u

static pthread_key_t arena_key;
static pthread_once_t arena_once = PTHREAD_ONCE_INIT;

static void arena_unpoison(void *p)
{
	decode_arena *a = p;
	ASAN_UNPOISON_MEMORY_REGION(a->buf, sizeof(a->buf));
}

static void arena_key_make(void)
{
	SL_ASSERT(pthread_key_create(&arena_key, arena_unpoison) == 0);
}

/* arena_size_at: the word of the red zone before the piece at p, which holds its size. */
static size_t *arena_size_at(void *p)
{
	return (size_t *)((unsigned char *)p - sizeof(size_t));
}
#else
#define ARENA_REDZONE 0u
#endif

static void *arena_alloc(void *ctx, size_t size)
{
	decode_arena *a = ctx;
	size_t at = (a->used + ARENA_REDZONE + 15u) & ~(size_t)15u;
	if (size > DECODE_ARENA_BYTES || at > DECODE_ARENA_BYTES - size)
		return malloc(size);
	a->used = at + size;
	void *p = a->buf + at;
#ifdef DECODE_ARENA_ASAN
	ASAN_UNPOISON_MEMORY_REGION(arena_size_at(p), sizeof(size_t));
	*arena_size_at(p) = size;
	ASAN_POISON_MEMORY_REGION(arena_size_at(p), sizeof(size_t));
	ASAN_UNPOISON_MEMORY_REGION(p, size);
#endif
	return p;
}

static void arena_free(void *ctx, void *p)
{
	decode_arena *a = ctx;
	uintptr_t u = (uintptr_t)p, lo = (uintptr_t)a->buf;
	if (p == NULL)
		return;
	if (u < lo || u >= lo + DECODE_ARENA_BYTES) {
		free(p);
		return;
	}
#ifdef DECODE_ARENA_ASAN
	ASAN_UNPOISON_MEMORY_REGION(arena_size_at(p), sizeof(size_t));
	size_t size = *arena_size_at(p);
	ASAN_POISON_MEMORY_REGION(arena_size_at(p), sizeof(size_t));
	ASAN_POISON_MEMORY_REGION(p, size);
#endif
}

/* decode_begin: the allocator of a decode on this thread, its arena emptied. */
static ProtobufCAllocator *decode_begin(void)
{
	static _Thread_local decode_arena arena;
	static _Thread_local ProtobufCAllocator al;
	al.alloc = arena_alloc;
	al.free = arena_free;
	al.allocator_data = &arena;
	arena.used = 0;
#ifdef DECODE_ARENA_ASAN
	SL_ASSERT(pthread_once(&arena_once, arena_key_make) == 0);
	if (pthread_getspecific(arena_key) == NULL)
		SL_ASSERT(pthread_setspecific(arena_key, &arena) == 0);
	ASAN_POISON_MEMORY_REGION(arena.buf, sizeof(arena.buf));
#endif
	return &al;
}

/* opt: a C string as an optional proto2 string (NULL = absent). */
static char *opt(const char *s)
{
	return s[0] != '\0' ? (char *)s : NULL;
}

static sl_err copy_str(char *dst, size_t dst_size, const char *src)
{
	if (src == NULL) {
		dst[0] = '\0';
		return SL_OK;
	}
	if (strlen(src) >= dst_size)
		return SL_ERR_CORRUPT;
	sl_strlcpy(dst, src, dst_size);
	return SL_OK;
}

static void key_to_pb(const sl_item_key *k, Sl__ItemKey *pb)
{
	sl__item_key__init(pb);
	pb->product_id = opt(k->product_id);
	pb->variant_id = opt(k->variant_id);
	pb->location_id = opt(k->location_id);
}

static sl_err key_from_pb(const Sl__ItemKey *pb, sl_item_key *k)
{
	memset(k, 0, sizeof(*k));
	if (pb == NULL)
		return SL_OK;
	sl_err rc = copy_str(k->product_id, sizeof(k->product_id), pb->product_id);
	if (rc == SL_OK)
		rc = copy_str(k->variant_id, sizeof(k->variant_id), pb->variant_id);
	if (rc == SL_OK)
		rc = copy_str(k->location_id, sizeof(k->location_id), pb->location_id);
	return rc;
}

/* Booleans and numbers are encoded only when they are not zero: one encoding per state. */
#define SET_OPT(pb, field, value)                                                                  \
	do {                                                                                       \
		(pb)->field = (value);                                                             \
		(pb)->has_##field = (value) != 0;                                                  \
	} while (0)

static void state_to_pb(const sl_item_state *s, Sl__ItemState *pb)
{
	sl__item_state__init(pb);
	SET_OPT(pb, exists, s->exists);
	SET_OPT(pb, track_quantity, s->track_quantity);
	SET_OPT(pb, quantity, s->quantity);
	SET_OPT(pb, in_stock, s->in_stock);
	SET_OPT(pb, preorder_enabled, s->preorder_enabled);
	pb->preorder_message = opt(s->preorder_message);
	pb->has_preorder_limit = s->has_preorder_limit;
	pb->preorder_limit = s->preorder_limit;
	SET_OPT(pb, preorder_counter, s->preorder_counter);
	SET_OPT(pb, preorder_since, s->preorder_since);
}

static sl_err state_from_pb(const Sl__ItemState *pb, sl_item_state *s)
{
	memset(s, 0, sizeof(*s));
	if (pb == NULL)
		return SL_OK;
	s->exists = pb->exists;
	s->track_quantity = pb->track_quantity;
	s->quantity = pb->quantity;
	s->in_stock = pb->in_stock;
	s->preorder_enabled = pb->preorder_enabled;
	s->has_preorder_limit = pb->has_preorder_limit;
	s->preorder_limit = pb->has_preorder_limit ? pb->preorder_limit : 0;
	s->preorder_counter = pb->preorder_counter;
	s->preorder_since = pb->preorder_since;
	return copy_str(s->preorder_message, sizeof(s->preorder_message), pb->preorder_message);
}

typedef struct event_pb {
	Sl__Event ev;
	Sl__ItemKey key;
	Sl__ItemState before, after;
	Sl__OrderLineState line_before, line_after;
} event_pb;

static void line_state_to_pb(const sl_order_line_state *s, Sl__OrderLineState *pb)
{
	sl__order_line_state__init(pb);
	SET_OPT(pb, quantity, s->quantity);
	SET_OPT(pb, held, s->held);
	SET_OPT(pb, held_preorder, s->held_preorder);
	SET_OPT(pb, preorder_since, s->preorder_since);
	SET_OPT(pb, held_preorder_uncounted, s->held_preorder_uncounted);
	SET_OPT(pb, refunded, s->refunded);
	SET_OPT(pb, restocked, s->restocked);
	SET_OPT(pb, untracked, s->untracked);
}

static void line_state_from_pb(const Sl__OrderLineState *pb, sl_order_line_state *s)
{
	memset(s, 0, sizeof(*s));
	if (pb == NULL)
		return;
	s->quantity = pb->quantity;
	s->held = pb->held;
	s->held_preorder = pb->held_preorder;
	s->preorder_since = pb->preorder_since;
	s->held_preorder_uncounted = pb->held_preorder_uncounted;
	s->refunded = pb->refunded;
	s->restocked = pb->restocked;
	s->untracked = pb->untracked;
}

/* order_fields_to_pb sets the order fields of an event; all absent on item-only events, so
 * their encoding is what it was before orders existed. */
static void order_fields_to_pb(const sl_event *e, event_pb *pb)
{
	Sl__Event *ev = &pb->ev;
	ev->order_line_id = opt(e->order_line_id);
	if (e->order_line_id[0] != '\0') {
		line_state_to_pb(&e->line_before, &pb->line_before);
		line_state_to_pb(&e->line_after, &pb->line_after);
		ev->line_before = &pb->line_before;
		ev->line_after = &pb->line_after;
	}
	SET_OPT(ev, order_seq, e->order_seq);
	ev->order_status_before = (Sl__OrderStatus)e->order_status_before;
	ev->has_order_status_before = e->order_status_before != SL_ORDER_NONE;
	ev->order_status = (Sl__OrderStatus)e->order_status;
	ev->has_order_status = e->order_status != SL_ORDER_NONE;
	ev->trigger = (Sl__InventoryUpdateTrigger)e->trigger;
	ev->has_trigger = e->trigger != SL_TRIGGER_UNKNOWN;
	ev->trigger_before = (Sl__InventoryUpdateTrigger)e->trigger_before;
	ev->has_trigger_before = e->trigger_before != SL_TRIGGER_UNKNOWN;
	SET_OPT(ev, order_lines, e->order_lines);
	SET_OPT(ev, no_restock, e->is_no_restock);
}

static bool order_status_is_known(int status);
static bool trigger_is_known(int trigger);

static sl_err order_fields_from_pb(const Sl__Event *pb, sl_event *ev)
{
	if (!order_status_is_known((int)pb->order_status_before) ||
	    !order_status_is_known((int)pb->order_status) || !trigger_is_known((int)pb->trigger) ||
	    !trigger_is_known((int)pb->trigger_before))
		return SL_ERR_CORRUPT;
	ev->order_seq = pb->order_seq;
	ev->order_status_before = (sl_order_status)pb->order_status_before;
	ev->order_status = (sl_order_status)pb->order_status;
	ev->trigger = (sl_trigger)pb->trigger;
	ev->trigger_before = (sl_trigger)pb->trigger_before;
	ev->order_lines = pb->order_lines;
	ev->is_no_restock = pb->no_restock;
	line_state_from_pb(pb->line_before, &ev->line_before);
	line_state_from_pb(pb->line_after, &ev->line_after);
	return copy_str(ev->order_line_id, sizeof(ev->order_line_id), pb->order_line_id);
}

static void event_to_pb(const sl_event *e, event_pb *pb, bool with_hash)
{
	sl__event__init(&pb->ev);
	key_to_pb(&e->item, &pb->key);
	state_to_pb(&e->before, &pb->before);
	state_to_pb(&e->after, &pb->after);
	Sl__Event *ev = &pb->ev;
	SET_OPT(ev, seq, e->seq);
	SET_OPT(ev, time_ms, e->time_ms);
	ev->type = (Sl__EventType)e->type;
	ev->has_type = e->type != SL_EV_UNKNOWN;
	ev->command_key = opt(e->command_key);
	ev->reason = opt(e->reason);
	ev->order_id = opt(e->order_id);
	ev->item = &pb->key;
	ev->before = &pb->before;
	ev->after = &pb->after;
	SET_OPT(ev, command_seq, e->command_seq);
	SET_OPT(ev, line, e->line);
	SET_OPT(ev, delta_quantity, e->delta_quantity);
	SET_OPT(ev, delta_counter, e->delta_counter);
	SET_OPT(ev, item_seq, e->item_seq);
	order_fields_to_pb(e, pb);
	if (with_hash) {
		ev->has_hash = true;
		ev->hash.data = (uint8_t *)e->hash;
		ev->hash.len = SL_HASH_BYTES;
	}
}

static sl_err pack_into(const ProtobufCMessage *msg, sl_buf *out)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	sl_err rc = sl_buf_reserve(out, n);
	if (rc != SL_OK)
		return rc;
	size_t written = protobuf_c_message_pack(msg, out->data + out->len);
	SL_ASSERT(written == n);
	out->len += n;
	return SL_OK;
}

sl_err ledger_event_encode(const sl_event *ev, sl_buf *out)
{
	event_pb pb;
	event_to_pb(ev, &pb, false);
	return pack_into(&pb.ev.base, out);
}

/* Enum fields from the disk are checked against the values this service knows:
 * protobuf-c keeps an unknown value of a proto2 enum as it is. */
static bool event_type_is_known(int type)
{
	return (type >= SL_EV_UNKNOWN && type <= SL_EV_ITEM_DECREMENTED) ||
	       (type >= SL_EV_SETTINGS_UPDATED && type <= SL_EV_ORDER_LINE_CHANGED);
}

static bool order_status_is_known(int status)
{
	return status >= SL_ORDER_NONE && status <= SL_ORDER_REFUNDED;
}

static bool trigger_is_known(int trigger)
{
	return trigger >= SL_TRIGGER_UNKNOWN && trigger <= SL_TRIGGER_ON_ORDER_PAID;
}

static bool status_is_known(int status)
{
	return status >= SL_STATUS_UNKNOWN && status <= SL_STATUS_PREORDER;
}

sl_err ledger_event_decode(const uint8_t *data, size_t len, sl_event *ev)
{
	ProtobufCAllocator *al = decode_begin();
	Sl__Event *pb = sl__event__unpack(al, len, data);
	if (pb == NULL)
		return SL_ERR_CORRUPT;
	/* decoded aside, so that *ev is untouched on failure */
	sl_event e;
	memset(&e, 0, sizeof(e));
	e.seq = pb->seq;
	e.time_ms = pb->time_ms;
	e.type = (sl_event_type)pb->type;
	e.command_seq = pb->command_seq;
	e.line = pb->line;
	e.item_seq = pb->item_seq;
	e.delta_quantity = pb->delta_quantity;
	e.delta_counter = pb->delta_counter;
	sl_err rc = event_type_is_known((int)pb->type) ? SL_OK : SL_ERR_CORRUPT;
	if (rc == SL_OK)
		rc = copy_str(e.command_key, sizeof(e.command_key), pb->command_key);
	if (rc == SL_OK)
		rc = copy_str(e.reason, sizeof(e.reason), pb->reason);
	if (rc == SL_OK)
		rc = copy_str(e.order_id, sizeof(e.order_id), pb->order_id);
	if (rc == SL_OK)
		rc = key_from_pb(pb->item, &e.item);
	if (rc == SL_OK)
		rc = state_from_pb(pb->before, &e.before);
	if (rc == SL_OK)
		rc = state_from_pb(pb->after, &e.after);
	if (rc == SL_OK)
		rc = order_fields_from_pb(pb, &e);
	sl__event__free_unpacked(pb, al);
	if (rc == SL_OK)
		*ev = e;
	return rc;
}

typedef struct item_pb {
	Sl__ItemView view;
	Sl__ItemKey key;
	Sl__ItemState state;
} item_pb;

static void item_to_pb(const sl_item *it, item_pb *pb)
{
	sl__item_view__init(&pb->view);
	key_to_pb(&it->key, &pb->key);
	state_to_pb(&it->state, &pb->state);
	Sl__ItemView *v = &pb->view;
	v->key = &pb->key;
	v->state = &pb->state;
	SET_OPT(v, revision, it->revision);
	SET_OPT(v, created_ms, it->created_ms);
	SET_OPT(v, updated_ms, it->updated_ms);
	SET_OPT(v, numeric_id, it->numeric_id);
	SET_OPT(v, item_seq, it->item_seq);
	SET_OPT(v, last_seq, it->last_seq);
	v->availability_status = (Sl__AvailabilityStatus)it->status;
	v->has_availability_status = it->status != SL_STATUS_UNKNOWN;
}

sl_err ledger_item_encode(const sl_item *item, sl_buf *out)
{
	item_pb pb;
	item_to_pb(item, &pb);
	return pack_into(&pb.view.base, out);
}

sl_err ledger_item_decode(const uint8_t *data, size_t len, sl_item *item)
{
	Sl__ItemView *pb = sl__item_view__unpack(NULL, len, data);
	if (pb == NULL)
		return SL_ERR_CORRUPT;
	/* decoded aside, so that *item is untouched on failure */
	sl_item it;
	memset(&it, 0, sizeof(it));
	it.revision = pb->revision;
	it.created_ms = pb->created_ms;
	it.updated_ms = pb->updated_ms;
	it.numeric_id = pb->numeric_id;
	it.item_seq = pb->item_seq;
	it.last_seq = pb->last_seq;
	it.status = (sl_status)pb->availability_status;
	sl_err rc = status_is_known((int)pb->availability_status) ? SL_OK : SL_ERR_CORRUPT;
	if (rc == SL_OK)
		rc = key_from_pb(pb->key, &it.key);
	if (rc == SL_OK)
		rc = state_from_pb(pb->state, &it.state);
	sl__item_view__free_unpacked(pb, NULL);
	if (rc == SL_OK)
		*item = it;
	return rc;
}

/* explanation_pack packs res with the explanation x attached (audit). */
static sl_err explanation_pack(const ledger_explanation *x, Sl__Result *res, sl_buf *out)
{
	sl_err rc = SL_ERR_NOMEM;
	Sl__Explanation ex;
	event_pb setting;
	Sl__AdjustmentGroup *groups = calloc(x->n_groups + 1, sizeof(*groups));
	Sl__AdjustmentGroup **gptrs = calloc(x->n_groups + 1, sizeof(*gptrs));
	Sl__ExplainHold *holds = calloc(x->n_holds + 1, sizeof(*holds));
	Sl__ExplainHold **hptrs = calloc(x->n_holds + 1, sizeof(*hptrs));
	if (groups == NULL || gptrs == NULL || holds == NULL || hptrs == NULL)
		goto done;
	sl__explanation__init(&ex);
	event_to_pb(&x->setting, &setting, true);
	ex.setting = &setting.ev;
	for (size_t i = 0; i < x->n_groups; i++) {
		const ledger_adjustment *g = &x->groups[i];
		sl__adjustment_group__init(&groups[i]);
		groups[i].order_id = opt(g->order_id);
		groups[i].reason = (char *)g->reason;
		SET_OPT(&groups[i], events, g->events);
		SET_OPT(&groups[i], delta_quantity, g->delta_quantity);
		SET_OPT(&groups[i], delta_counter, g->delta_counter);
		SET_OPT(&groups[i], first_seq, g->first_seq);
		SET_OPT(&groups[i], last_seq, g->last_seq);
		gptrs[i] = &groups[i];
	}
	ex.n_adjustments = x->n_groups;
	ex.adjustments = gptrs;
	ex.has_events_since = true;
	ex.events_since = x->events_since;
	ex.has_adjusted_quantity = true;
	ex.adjusted_quantity = x->adjusted_quantity;
	ex.has_adjusted_counter = true;
	ex.adjusted_counter = x->adjusted_counter;
	ex.has_has_holds = true;
	ex.has_holds = x->has_holds;
	for (size_t i = 0; i < x->n_holds; i++) {
		sl__explain_hold__init(&holds[i]);
		holds[i].order_id = (char *)x->holds[i].order_id;
		holds[i].has_quantity = true;
		holds[i].quantity = x->holds[i].quantity;
		holds[i].has_preorder = true;
		holds[i].preorder = x->holds[i].preorder;
		SET_OPT(&holds[i], quantity_before_setting, x->holds[i].quantity_before_setting);
		SET_OPT(&holds[i], preorder_before_setting, x->holds[i].preorder_before_setting);
		SET_OPT(&holds[i], preorder_uncounted, x->holds[i].preorder_uncounted);
		hptrs[i] = &holds[i];
	}
	ex.n_holds = x->n_holds;
	ex.holds = hptrs;
	ex.has_held_quantity = true;
	ex.held_quantity = x->held_quantity;
	ex.has_held_preorder = true;
	ex.held_preorder = x->held_preorder;
	SET_OPT(&ex, held_quantity_before_setting, x->held_quantity_before_setting);
	SET_OPT(&ex, held_preorder_before_setting, x->held_preorder_before_setting);
	SET_OPT(&ex, held_preorder_uncounted, x->held_preorder_uncounted);
	res->explanation = &ex;
	rc = pack_into(&res->base, out);
	res->explanation = NULL;
done:
	free(hptrs);
	free(holds);
	free(gptrs);
	free(groups);
	return rc;
}

/* ---- orders: views, settings, holds ---- */

typedef struct order_pb {
	Sl__OrderView view;
	Sl__OrderLine *lines;
	Sl__OrderLine **line_ptrs;
	Sl__ItemKey *keys;
	Sl__OrderLineState *states;
} order_pb;

static void order_pb_fini(order_pb *pb)
{
	free(pb->lines);
	free(pb->line_ptrs);
	free(pb->keys);
	free(pb->states);
	memset(pb, 0, sizeof(*pb));
}

static sl_err order_to_pb(const sl_order *o, order_pb *pb)
{
	memset(pb, 0, sizeof(*pb));
	sl__order_view__init(&pb->view);
	Sl__OrderView *v = &pb->view;
	v->order_id = opt(o->order_id);
	v->status = (Sl__OrderStatus)o->status;
	v->has_status = o->status != SL_ORDER_NONE;
	v->trigger = (Sl__InventoryUpdateTrigger)o->trigger;
	v->has_trigger = o->trigger != SL_TRIGGER_UNKNOWN;
	SET_OPT(v, created_ms, o->created_ms);
	SET_OPT(v, updated_ms, o->updated_ms);
	SET_OPT(v, order_seq, o->order_seq);
	SET_OPT(v, last_seq, o->last_seq);
	if (o->n_lines == 0)
		return SL_OK;
	pb->lines = calloc(o->n_lines, sizeof(*pb->lines));
	pb->line_ptrs = calloc(o->n_lines, sizeof(*pb->line_ptrs));
	pb->keys = calloc(o->n_lines, sizeof(*pb->keys));
	pb->states = calloc(o->n_lines, sizeof(*pb->states));
	if (pb->lines == NULL || pb->line_ptrs == NULL || pb->keys == NULL || pb->states == NULL) {
		order_pb_fini(pb);
		return SL_ERR_NOMEM;
	}
	for (size_t i = 0; i < o->n_lines; i++) {
		const sl_order_line *l = &o->lines[i];
		Sl__OrderLine *lp = &pb->lines[i];
		sl__order_line__init(lp);
		lp->line_id = opt(l->line_id);
		key_to_pb(&l->item, &pb->keys[i]);
		lp->item = &pb->keys[i];
		line_state_to_pb(&l->state, &pb->states[i]);
		lp->state = &pb->states[i];
		lp->n_seqs = l->n_seqs;
		lp->seqs = (uint64_t *)l->seqs;
		pb->line_ptrs[i] = lp;
	}
	v->n_lines = o->n_lines;
	v->lines = pb->line_ptrs;
	return SL_OK;
}

sl_err ledger_order_encode(const sl_order *order, sl_buf *out)
{
	order_pb pb;
	sl_err rc = order_to_pb(order, &pb);
	if (rc == SL_OK)
		rc = pack_into(&pb.view.base, out);
	order_pb_fini(&pb);
	return rc;
}

sl_err ledger_order_decode(const uint8_t *data, size_t len, sl_order *order)
{
	Sl__OrderView *pb = sl__order_view__unpack(NULL, len, data);
	if (pb == NULL)
		return SL_ERR_CORRUPT;
	sl_order o;
	memset(&o, 0, sizeof(o));
	sl_err rc = SL_ERR_CORRUPT;
	if (pb->n_lines > SL_ORDER_LINES_MAX || !order_status_is_known((int)pb->status) ||
	    !trigger_is_known((int)pb->trigger))
		goto done;
	o.status = (sl_order_status)pb->status;
	o.trigger = (sl_trigger)pb->trigger;
	o.created_ms = pb->created_ms;
	o.updated_ms = pb->updated_ms;
	o.order_seq = pb->order_seq;
	o.last_seq = pb->last_seq;
	if ((rc = copy_str(o.order_id, sizeof(o.order_id), pb->order_id)) != SL_OK)
		goto done;
	if (pb->n_lines > 0 && (o.lines = calloc(pb->n_lines, sizeof(*o.lines))) == NULL) {
		rc = SL_ERR_NOMEM;
		goto done;
	}
	o.n_lines = pb->n_lines;
	for (size_t i = 0; i < pb->n_lines && rc == SL_OK; i++) {
		const Sl__OrderLine *lp = pb->lines[i];
		sl_order_line *l = &o.lines[i];
		if (lp->n_seqs > SL_ORDER_LINE_EVENTS_MAX) {
			rc = SL_ERR_CORRUPT;
			break;
		}
		rc = copy_str(l->line_id, sizeof(l->line_id), lp->line_id);
		if (rc == SL_OK)
			rc = key_from_pb(lp->item, &l->item);
		line_state_from_pb(lp->state, &l->state);
		l->n_seqs = (uint32_t)lp->n_seqs;
		if (lp->n_seqs > 0)
			memcpy(l->seqs, lp->seqs, lp->n_seqs * sizeof(*l->seqs));
	}
done:
	sl__order_view__free_unpacked(pb, NULL);
	if (rc != SL_OK) {
		sl_order_fini(&o);
		return rc;
	}
	sl_order_fini(order);
	*order = o;
	return SL_OK;
}

static void settings_to_pb(const sl_settings *s, Sl__Settings *pb)
{
	sl__settings__init(pb);
	pb->inventory_update_trigger = (Sl__InventoryUpdateTrigger)s->trigger;
	pb->has_inventory_update_trigger = s->trigger != SL_TRIGGER_UNKNOWN;
	SET_OPT(pb, updated_ms, s->updated_ms);
	SET_OPT(pb, last_seq, s->last_seq);
}

sl_err ledger_settings_encode(const sl_settings *settings, sl_buf *out)
{
	Sl__Settings pb;
	settings_to_pb(settings, &pb);
	return pack_into(&pb.base, out);
}

sl_err ledger_settings_decode(const uint8_t *data, size_t len, sl_settings *settings)
{
	Sl__Settings *pb = sl__settings__unpack(NULL, len, data);
	if (pb == NULL)
		return SL_ERR_CORRUPT;
	if (!trigger_is_known((int)pb->inventory_update_trigger)) {
		sl__settings__free_unpacked(pb, NULL);
		return SL_ERR_CORRUPT;
	}
	settings->trigger = (sl_trigger)pb->inventory_update_trigger;
	settings->updated_ms = pb->updated_ms;
	settings->last_seq = pb->last_seq;
	sl__settings__free_unpacked(pb, NULL);
	return SL_OK;
}

typedef struct hold_pb {
	Sl__Hold hold;
	Sl__ItemKey key;
} hold_pb;

static void hold_to_pb(const sl_hold *h, hold_pb *pb)
{
	sl__hold__init(&pb->hold);
	key_to_pb(&h->item, &pb->key);
	pb->hold.order_id = opt(h->order_id);
	pb->hold.line_id = opt(h->line_id);
	pb->hold.item = &pb->key;
	SET_OPT(&pb->hold, held, h->held);
	SET_OPT(&pb->hold, held_preorder, h->held_preorder);
}

void ledger_result_encode_or_empty(const ledger_result *r, sl_buf *out)
{
	out->len = 0;
	if (ledger_result_encode(r, out) != SL_OK)
		out->len = 0;
}

sl_err ledger_result_encode(const ledger_result *r, sl_buf *out)
{
	sl_err rc = SL_ERR_NOMEM;
	Sl__Result res;
	Sl__Error err;
	Sl__Shortage *short_pb = NULL, **short_ptrs = NULL;
	Sl__ItemKey *short_keys = NULL;
	item_pb *items_pb = NULL;
	Sl__ItemView **item_ptrs = NULL;
	event_pb *events_pb = NULL;
	Sl__Event **event_ptrs = NULL;
	order_pb order;
	Sl__Settings settings;
	hold_pb *holds_pb = NULL;
	Sl__Hold **hold_ptrs = NULL;

	memset(&order, 0, sizeof(order));
	sl__result__init(&res);
	if (r->error != NULL) {
		const sl_error_info *e = r->error;
		sl__error__init(&err);
		err.code = (char *)sl_err_name(e->code);
		err.message = (char *)e->message;
		err.has_index = e->has_index;
		err.index = e->index;
		err.has_current_revision = e->has_current_revision;
		err.current_revision = e->current_revision;
		if (e->n_shortages > 0) {
			short_pb = calloc(e->n_shortages, sizeof(*short_pb));
			short_ptrs = calloc(e->n_shortages, sizeof(*short_ptrs));
			short_keys = calloc(e->n_shortages, sizeof(*short_keys));
			if (short_pb == NULL || short_ptrs == NULL || short_keys == NULL)
				goto fail;
			for (size_t i = 0; i < e->n_shortages; i++) {
				const sl_shortage *s = &e->shortages[i];
				sl__shortage__init(&short_pb[i]);
				key_to_pb(&s->item, &short_keys[i]);
				short_pb[i].has_index = true;
				short_pb[i].index = s->index;
				short_pb[i].item = &short_keys[i];
				short_pb[i].has_requested = true;
				short_pb[i].requested = s->requested;
				short_pb[i].has_available = true;
				short_pb[i].available = s->available;
				short_ptrs[i] = &short_pb[i];
			}
			err.n_shortages = e->n_shortages;
			err.shortages = short_ptrs;
		}
		res.error = &err;
	}
	if (r->n_items > 0) {
		items_pb = calloc(r->n_items, sizeof(*items_pb));
		item_ptrs = calloc(r->n_items, sizeof(*item_ptrs));
		if (items_pb == NULL || item_ptrs == NULL)
			goto fail;
		for (size_t i = 0; i < r->n_items; i++) {
			item_to_pb(&r->items[i], &items_pb[i]);
			item_ptrs[i] = &items_pb[i].view;
		}
		res.n_items = r->n_items;
		res.items = item_ptrs;
	}
	if (r->n_events > 0) {
		events_pb = calloc(r->n_events, sizeof(*events_pb));
		event_ptrs = calloc(r->n_events, sizeof(*event_ptrs));
		if (events_pb == NULL || event_ptrs == NULL)
			goto fail;
		for (size_t i = 0; i < r->n_events; i++) {
			event_to_pb(&r->events[i], &events_pb[i], r->with_event_hashes);
			event_ptrs[i] = &events_pb[i].ev;
		}
		res.n_events = r->n_events;
		res.events = event_ptrs;
	}
	SET_OPT(&res, seq, r->seq);
	if (r->has_head_hash) {
		res.has_head_hash = true;
		res.head_hash.data = (uint8_t *)r->head_hash;
		res.head_hash.len = SL_HASH_BYTES;
	}
	SET_OPT(&res, next_item_seq, r->next_item_seq);
	if (r->order != NULL) {
		if ((rc = order_to_pb(r->order, &order)) != SL_OK)
			goto fail;
		res.order = &order.view;
		rc = SL_ERR_NOMEM;
	}
	if (r->settings != NULL) {
		settings_to_pb(r->settings, &settings);
		res.settings = &settings;
	}
	SET_OPT(&res, unchanged, r->is_unchanged);
	if (r->n_holds > 0) {
		holds_pb = calloc(r->n_holds, sizeof(*holds_pb));
		hold_ptrs = calloc(r->n_holds, sizeof(*hold_ptrs));
		if (holds_pb == NULL || hold_ptrs == NULL)
			goto fail;
		for (size_t i = 0; i < r->n_holds; i++) {
			hold_to_pb(&r->holds[i], &holds_pb[i]);
			hold_ptrs[i] = &holds_pb[i].hold;
		}
		res.n_holds = r->n_holds;
		res.holds = hold_ptrs;
	}
	res.next_cursor =
	    r->next_cursor != NULL && r->next_cursor[0] != '\0' ? (char *)r->next_cursor : NULL;
	res.as_of_seq = r->as_of_seq;
	res.has_as_of_seq = r->has_as_of_seq || r->as_of_seq != 0;
	if (r->explanation != NULL) {
		rc = explanation_pack(r->explanation, &res, out);
		goto fail;
	}
	rc = pack_into(&res.base, out);
fail:
	free(hold_ptrs);
	free(holds_pb);
	order_pb_fini(&order);
	free(event_ptrs);
	free(events_pb);
	free(item_ptrs);
	free(items_pb);
	free(short_keys);
	free(short_ptrs);
	free(short_pb);
	return rc;
}

sl_err ledger_result_mark_replayed(sl_buf *result)
{
	/* field 5, wire type 0 (varint): tag byte (5 << 3) | 0, value 1 */
	static const uint8_t replayed_true[2] = {5 << 3, 1};
	return sl_buf_append(result, replayed_true, sizeof(replayed_true));
}

sl_err ledger_idem_encode(const unsigned char *content_hash, const uint8_t *result,
                          size_t result_len, uint64_t seq, int64_t time_ms, sl_buf *out)
{
	Sl__IdemRecord rec;
	sl__idem_record__init(&rec);
	rec.has_content_hash = true;
	rec.content_hash.data = (uint8_t *)content_hash;
	rec.content_hash.len = SL_HASH_BYTES;
	rec.has_result = true;
	rec.result.data = (uint8_t *)result;
	rec.result.len = result_len;
	SET_OPT(&rec, seq, seq);
	SET_OPT(&rec, time_ms, time_ms);
	return pack_into(&rec.base, out);
}

sl_err ledger_idem_decode(const uint8_t *data, size_t len, unsigned char *content_hash,
                          sl_buf *result, uint64_t *seq, int64_t *time_ms)
{
	Sl__IdemRecord *rec = sl__idem_record__unpack(NULL, len, data);
	if (rec == NULL)
		return SL_ERR_CORRUPT;
	sl_err rc = SL_ERR_CORRUPT;
	if (rec->content_hash.len == SL_HASH_BYTES) {
		/* room first, so that nothing is written unless everything can be */
		size_t n = rec->result.len;
		rc = sl_buf_reserve(result, n > result->len ? n - result->len : 0);
		if (rc == SL_OK) {
			rc = sl_buf_set(result, rec->result.data, n);
			SL_ASSERT(rc == SL_OK);
			memcpy(content_hash, rec->content_hash.data, SL_HASH_BYTES);
			*seq = rec->seq;
			*time_ms = rec->has_time_ms ? rec->time_ms : 0;
		}
	}
	sl__idem_record__free_unpacked(rec, NULL);
	return rc;
}

sl_err ledger_idem_time(const uint8_t *data, size_t len, int64_t *time_ms)
{
	/* The time alone, without unpacking the record (whose result may be tens of KiB, for
	 * every record a compaction rewrites): a walk over the wire format's fields, the last
	 * time_ms winning as in protobuf. */
	const uint8_t *p = data, *end = data + len;
	int64_t t = 0;
	while (p < end) {
		uint64_t tag, v;
		const uint8_t *body = NULL;
		size_t body_len = 0;
		if (!sl_varint_read(&p, end, &tag) || (tag >> 3) == 0)
			return SL_ERR_CORRUPT;
		if (tag == ((4u << 3) | 0u)) { /* time_ms, a zigzag sint64 */
			if (!sl_varint_read(&p, end, &v))
				return SL_ERR_CORRUPT;
			t = (int64_t)(v >> 1) ^ -(int64_t)(v & 1u);
		} else if (!sl_pbtext_skip(&p, end, tag & 7u, &body, &body_len)) {
			return SL_ERR_CORRUPT;
		}
	}
	*time_ms = t;
	return SL_OK;
}

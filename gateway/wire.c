/*
 * wire.c: Request bytes -> sl_command records, and encoded Results -> Response bytes.
 *
 * The content hash of a command (for idempotency) is the SHA-256 of the command re-encoded
 * without its key, after defaults are filled in: two sends of the same command line give
 * the same hash, whatever the client library.
 */
#include "gateway/wire.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/banned.h"
#include "base/sl_pbtext.h"
#include "base/sl_util.h"
#include "ledger/query.h"
#include "stockledger.pb-c.h"

static void mark(sl_command *c, const char *field)
{
	if (c->malformed_field[0] == '\0')
		sl_strlcpy(c->malformed_field, field, sizeof(c->malformed_field));
}

static void copy_field(sl_command *c, char *dst, size_t dst_size, const char *src,
                       const char *field)
{
	if (src == NULL) {
		dst[0] = '\0';
		return;
	}
	if (sl_strlcpy(dst, src, dst_size) >= dst_size)
		mark(c, field);
}

static void key_decode(sl_command *c, const Sl__ItemKey *pb, const char *default_location,
                       sl_item_key *k)
{
	memset(k, 0, sizeof(*k));
	if (pb == NULL)
		return;
	copy_field(c, k->product_id, sizeof(k->product_id), pb->product_id, "productId");
	copy_field(c, k->variant_id, sizeof(k->variant_id),
	           pb->variant_id != NULL ? pb->variant_id : SL_DEFAULT_VARIANT, "variantId");
	copy_field(c, k->location_id, sizeof(k->location_id),
	           pb->location_id != NULL ? pb->location_id : default_location, "locationId");
}

/* lines_alloc gives c room for n lines, at most max ("at most 300 lines per <per>"). */
static sl_err lines_alloc(sl_command *c, size_t n, size_t max, const char *per, sl_error_info *err)
{
	if (n > max)
		return sl_error_set(err, SL_ERR_LIMIT_EXCEEDED,
		                    "%zu lines: at most %zu lines per %s", n, max, per);
	if (n == 0)
		return SL_OK;
	c->lines = calloc(n, sizeof(*c->lines));
	if (c->lines == NULL)
		return sl_error_set(err, SL_ERR_NOMEM, "out of memory");
	c->n_lines = n;
	return SL_OK;
}

static sl_err lines_decode(sl_command *c, Sl__Line **lines, size_t n, const char *default_location,
                           sl_error_info *err)
{
	sl_err rc = lines_alloc(c, n, SL_LINES_MAX, "command", err);
	if (rc != SL_OK || n == 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		key_decode(c, lines[i]->item, default_location, &c->lines[i].item);
		c->lines[i].quantity = lines[i]->quantity;
	}
	return SL_OK;
}

/* ids_decode reads an id filter: values (equality / in) or a prefix, not both. */
static void ids_decode(sl_command *c, char **ids, size_t n, const char *prefix, ledger_id_filter *f,
                       const char *field)
{
	if (n > 0 && prefix != NULL) {
		mark(c, field);
		return;
	}
	if (prefix != NULL) {
		f->op = LEDGER_MATCH_PREFIX;
		f->n = 1;
		copy_field(c, f->values[0], sizeof(f->values[0]), prefix, field);
		return;
	}
	if (n == 0)
		return;
	if (n > SL_QUERY_IN_MAX) {
		c->query->too_many_ids = field; /* not malformed: over a bound */
		return;
	}
	f->op = LEDGER_MATCH_IN;
	f->n = n;
	for (size_t i = 0; i < n; i++) {
		copy_field(c, f->values[i], sizeof(f->values[i]), ids[i], field);
		if (!sl_id_is_valid(f->values[i], strlen(f->values[i]), SL_ID_MAX))
			mark(c, field);
	}
}

/* query_decode reads a Query into a heap ledger_query owned by c. */
static sl_err query_decode(sl_command *c, const Sl__Query *m)
{
	ledger_query *q = calloc(1, sizeof(*q));
	if (q == NULL)
		return SL_ERR_NOMEM;
	c->query = q;
	ids_decode(c, m->product_ids, m->n_product_ids, m->product_prefix, &q->product,
	           "productId");
	ids_decode(c, m->variant_ids, m->n_variant_ids, m->variant_prefix, &q->variant,
	           "variantId");
	ids_decode(c, m->location_ids, m->n_location_ids, m->location_prefix, &q->location,
	           "locationId");
	q->has_status = m->has_status;
	q->status = (sl_status)m->status;
	if (m->has_status && (m->status < SL__AVAILABILITY_STATUS__IN_STOCK ||
	                      m->status > SL__AVAILABILITY_STATUS__PREORDER))
		mark(c, "availabilityStatus");
	q->has_tracked = m->has_track_quantity;
	q->is_tracked = m->track_quantity;
	q->has_min_quantity = m->has_min_quantity;
	q->min_quantity = m->min_quantity;
	q->has_max_quantity = m->has_max_quantity;
	q->max_quantity = m->max_quantity;
	q->has_updated_after = m->has_updated_after_ms;
	q->updated_after_ms = m->updated_after_ms;
	q->has_updated_before = m->has_updated_before_ms;
	q->updated_before_ms = m->updated_before_ms;
	if (m->sort_field == NULL)
		q->sort = LEDGER_SORT_CRAWL;
	else if (strcmp(m->sort_field, "quantity") == 0)
		q->sort = LEDGER_SORT_QUANTITY;
	else if (strcmp(m->sort_field, "createdDate") == 0)
		q->sort = LEDGER_SORT_CREATED;
	else if (strcmp(m->sort_field, "updatedDate") == 0)
		q->sort = LEDGER_SORT_UPDATED;
	else
		mark(c, "sort");
	q->is_desc = m->has_sort_desc && m->sort_desc;
	q->limit = m->has_limit ? m->limit : 0;
	copy_field(c, q->cursor, sizeof(q->cursor), m->cursor, "cursor");
	q->has_as_of_seq = m->has_as_of_seq;
	q->as_of_seq = m->as_of_seq;
	q->has_as_of_ms = m->has_as_of_ms;
	q->as_of_ms = m->as_of_ms;
	return SL_OK;
}

/* order_lines_decode reads order lines (line id, item, quantity); a refund's lines name no
 * item, and get none. */
static sl_err order_lines_decode(sl_command *c, Sl__OrderLineSpec **lines, size_t n,
                                 const char *default_location, sl_error_info *err)
{
	sl_err rc = lines_alloc(c, n, SL_ORDER_LINES_MAX, "order", err);
	if (rc != SL_OK || n == 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (lines[i]->item != NULL)
			key_decode(c, lines[i]->item, default_location, &c->lines[i].item);
		copy_field(c, c->lines[i].line_id, sizeof(c->lines[i].line_id), lines[i]->line_id,
		           "lineId");
		c->lines[i].quantity = lines[i]->quantity;
	}
	return SL_OK;
}

/* order_decode reads the order commands (orders 20-29 of Command.body). */
static sl_err order_decode(Sl__Command *pb, const char *dl, sl_command *c, sl_error_info *err)
{
	switch (pb->body_case) {
	case SL__COMMAND__BODY_SET_SETTINGS:
		c->type = SL_CMD_SETTINGS_SET;
		c->trigger = (sl_trigger)pb->set_settings->inventory_update_trigger;
		return SL_OK;
	case SL__COMMAND__BODY_GET_SETTINGS:
		c->type = SL_CMD_SETTINGS_GET;
		return SL_OK;
	case SL__COMMAND__BODY_PLACE_ORDER:
		c->type = SL_CMD_ORDER_PLACE;
		return order_lines_decode(c, pb->place_order->lines, pb->place_order->n_lines, dl,
		                          err);
	case SL__COMMAND__BODY_PAY_ORDER:
		c->type = SL_CMD_ORDER_PAY;
		return SL_OK;
	case SL__COMMAND__BODY_PAYMENT_FAILED:
		c->type = SL_CMD_ORDER_PAYMENT_FAILED;
		return SL_OK;
	case SL__COMMAND__BODY_CANCEL_ORDER:
		c->type = SL_CMD_ORDER_CANCEL;
		c->is_no_restock = pb->cancel_order->no_restock;
		return SL_OK;
	case SL__COMMAND__BODY_REFUND_ORDER:
		c->type = SL_CMD_ORDER_REFUND;
		c->is_no_restock = pb->refund_order->no_restock;
		return order_lines_decode(c, pb->refund_order->lines, pb->refund_order->n_lines, dl,
		                          err);
	case SL__COMMAND__BODY_EDIT_ORDER:
		c->type = SL_CMD_ORDER_EDIT;
		return order_lines_decode(c, pb->edit_order->lines, pb->edit_order->n_lines, dl,
		                          err);
	case SL__COMMAND__BODY_GET_ORDER:
		c->type = SL_CMD_ORDER_GET;
		return SL_OK;
	case SL__COMMAND__BODY_LIST_HOLDS:
		c->type = SL_CMD_ORDER_HOLDS;
		key_decode(c, pb->list_holds->item, dl, &c->item);
		return SL_OK;
	default:
		c->type = SL_CMD_NONE;
		return SL_OK;
	}
}

/* key_defaults fills the absent variant and location of k with the defaults (is_on), or
 * takes them out again (!is_on): the defaults are recognised by their address, which no
 * string of the decoded message shares, so the message can be freed as it came. */
static void key_defaults(Sl__ItemKey *k, const char *default_location, bool is_on)
{
	static const char default_variant[] = SL_DEFAULT_VARIANT;
	if (k == NULL)
		return;
	if (is_on) {
		if (k->variant_id == NULL)
			k->variant_id = (char *)default_variant;
		if (k->location_id == NULL)
			k->location_id = (char *)default_location;
	} else {
		if (k->variant_id == default_variant)
			k->variant_id = NULL;
		if (k->location_id == default_location)
			k->location_id = NULL;
	}
}

/* The default line ids "1", "2"... of order lines, filled once; like the item defaults they
 * are recognised by their address. */
static char default_line_ids[SL_ORDER_LINES_MAX][8];
static pthread_once_t default_line_ids_once = PTHREAD_ONCE_INIT;

static void default_line_ids_fill(void)
{
	for (int i = 0; i < SL_ORDER_LINES_MAX; i++)
		snprintf(default_line_ids[i], sizeof(default_line_ids[i]), "%d", i + 1);
}

/* order_lines_defaults fills (or takes out again) the item defaults and the default line
 * ids of order lines, so that "A=1" and "1:A=1" are the same content. */
static void order_lines_defaults(Sl__OrderLineSpec **lines, size_t n, const char *default_location,
                                 bool is_on)
{
	pthread_once(&default_line_ids_once, default_line_ids_fill);
	for (size_t i = 0; i < n && i < SL_ORDER_LINES_MAX; i++) {
		key_defaults(lines[i]->item, default_location, is_on);
		if (is_on && lines[i]->line_id == NULL)
			lines[i]->line_id = default_line_ids[i];
		else if (!is_on && lines[i]->line_id == default_line_ids[i])
			lines[i]->line_id = NULL;
	}
}

static void command_defaults(Sl__Command *pb, const char *default_location, bool is_on)
{
	Sl__Line **lines = NULL;
	size_t n_lines = 0;
	switch (pb->body_case) {
	case SL__COMMAND__BODY_CREATE:
		key_defaults(pb->create->item, default_location, is_on);
		break;
	case SL__COMMAND__BODY_UPDATE:
		key_defaults(pb->update->item, default_location, is_on);
		break;
	case SL__COMMAND__BODY_DELETE:
		key_defaults(pb->delete_->item, default_location, is_on);
		break;
	case SL__COMMAND__BODY_GET:
		key_defaults(pb->get->item, default_location, is_on);
		break;
	case SL__COMMAND__BODY_HISTORY:
		key_defaults(pb->history->item, default_location, is_on);
		break;
	case SL__COMMAND__BODY_INCREMENT:
		lines = pb->increment->lines;
		n_lines = pb->increment->n_lines;
		break;
	case SL__COMMAND__BODY_DECREMENT:
		lines = pb->decrement->lines;
		n_lines = pb->decrement->n_lines;
		break;
	case SL__COMMAND__BODY_PLACE_ORDER:
		order_lines_defaults(pb->place_order->lines, pb->place_order->n_lines,
		                     default_location, is_on);
		break;
	case SL__COMMAND__BODY_EDIT_ORDER:
		order_lines_defaults(pb->edit_order->lines, pb->edit_order->n_lines,
		                     default_location, is_on);
		break;
	default:
		break;
	}
	for (size_t i = 0; i < n_lines; i++)
		key_defaults(lines[i]->item, default_location, is_on);
}

/* content_hash hashes the command without its key and with the defaults filled in, so that
 * "sku=1" and "sku/<default variant>@<default location>=1" are the same content. */
static void content_hash(Sl__Command *pb, const char *default_location, unsigned char *out,
                         sl_buf *scratch)
{
	char *key = pb->key;
	protobuf_c_boolean has_keep = pb->has_keep_refusal, keep = pb->keep_refusal;
	pb->key = NULL;
	pb->has_keep_refusal = false;
	pb->keep_refusal = false;
	command_defaults(pb, default_location, true);
	size_t n = sl__command__get_packed_size(pb);
	if (sl_buf_reserve(scratch, n) == SL_OK) {
		sl__command__pack(pb, scratch->data);
		sl_sha256(scratch->data, n, NULL, 0, out);
	} else {
		memset(out, 0xff, SL_HASH_BYTES);
	}
	command_defaults(pb, default_location, false);
	pb->key = key;
	pb->has_keep_refusal = has_keep;
	pb->keep_refusal = keep;
}

static sl_err command_decode(Sl__Command *pb, const char *dl, sl_command *c, sl_buf *scratch,
                             sl_error_info *err)
{
	memset(c, 0, sizeof(*c));
	copy_field(c, c->key, sizeof(c->key), pb->key, "key");
	copy_field(c, c->reason, sizeof(c->reason), pb->reason, "reason");
	copy_field(c, c->order_id, sizeof(c->order_id), pb->order_id, "orderId");
	c->keep_refusal = pb->has_keep_refusal && pb->keep_refusal;
	switch (pb->body_case) {
	case SL__COMMAND__BODY_CREATE: {
		Sl__CreateItem *m = pb->create;
		c->type = SL_CMD_CREATE;
		key_decode(c, m->item, dl, &c->item);
		c->has_quantity = m->has_quantity;
		c->quantity = m->quantity;
		c->has_in_stock = m->has_in_stock;
		c->in_stock = m->in_stock;
		c->has_preorder_enabled = m->has_preorder_enabled;
		c->preorder_enabled = m->preorder_enabled;
		c->has_preorder_message = m->preorder_message != NULL;
		copy_field(c, c->preorder_message, sizeof(c->preorder_message), m->preorder_message,
		           "preorderMessage");
		c->has_preorder_limit = m->has_preorder_limit;
		c->preorder_limit = m->preorder_limit;
		break;
	}
	case SL__COMMAND__BODY_UPDATE: {
		Sl__UpdateItem *m = pb->update;
		c->type = SL_CMD_UPDATE;
		key_decode(c, m->item, dl, &c->item);
		c->has_revision = m->has_revision;
		c->revision = m->revision;
		c->has_quantity = m->has_quantity;
		c->quantity = m->quantity;
		c->has_in_stock = m->has_in_stock;
		c->in_stock = m->in_stock;
		c->has_preorder_enabled = m->has_preorder_enabled;
		c->preorder_enabled = m->preorder_enabled;
		c->has_preorder_message = m->preorder_message != NULL;
		copy_field(c, c->preorder_message, sizeof(c->preorder_message), m->preorder_message,
		           "preorderMessage");
		c->has_preorder_limit = m->has_preorder_limit;
		c->preorder_limit = m->preorder_limit;
		c->clear_preorder_limit = m->has_clear_preorder_limit && m->clear_preorder_limit;
		c->reset_preorder_counter =
		    m->has_reset_preorder_counter && m->reset_preorder_counter;
		break;
	}
	case SL__COMMAND__BODY_DELETE:
		c->type = SL_CMD_DELETE;
		key_decode(c, pb->delete_->item, dl, &c->item);
		break;
	case SL__COMMAND__BODY_INCREMENT:
		c->type = SL_CMD_INCREMENT;
		if (lines_decode(c, pb->increment->lines, pb->increment->n_lines, dl, err) != SL_OK)
			return err->code;
		break;
	case SL__COMMAND__BODY_DECREMENT:
		c->type = SL_CMD_DECREMENT;
		c->is_restricted =
		    pb->decrement->has_restrict_inventory && pb->decrement->restrict_inventory;
		c->is_preorder_request =
		    pb->decrement->has_preorder_request && pb->decrement->preorder_request;
		if (lines_decode(c, pb->decrement->lines, pb->decrement->n_lines, dl, err) != SL_OK)
			return err->code;
		break;
	case SL__COMMAND__BODY_GET:
		c->type = SL_CMD_GET;
		key_decode(c, pb->get->item, dl, &c->item);
		c->has_as_of_seq = pb->get->has_as_of_seq;
		c->as_of_seq = pb->get->as_of_seq;
		c->has_as_of_ms = pb->get->has_as_of_ms;
		c->as_of_ms = pb->get->as_of_ms;
		break;
	case SL__COMMAND__BODY_HISTORY:
		c->type = SL_CMD_HISTORY;
		key_decode(c, pb->history->item, dl, &c->item);
		c->limit = pb->history->has_limit ? pb->history->limit : 0;
		c->after_item_seq = pb->history->after_item_seq;
		c->from_seq = pb->history->from_seq;
		c->has_to_seq = pb->history->has_to_seq;
		c->to_seq = pb->history->to_seq;
		c->has_since_ms = pb->history->has_since_ms;
		c->since_ms = pb->history->since_ms;
		c->has_until_ms = pb->history->has_until_ms;
		c->until_ms = pb->history->until_ms;
		break;
	case SL__COMMAND__BODY_QUERY:
		c->type = SL_CMD_QUERY;
		if (query_decode(c, pb->query) != SL_OK)
			return sl_error_set(err, SL_ERR_NOMEM, "out of memory");
		break;
	case SL__COMMAND__BODY_EXPLAIN:
		c->type = SL_CMD_EXPLAIN;
		key_decode(c, pb->explain->item, dl, &c->item);
		break;
	case SL__COMMAND__BODY_EVENTS:
		c->type = SL_CMD_EVENTS;
		c->from_seq = pb->events->from_seq;
		c->has_to_seq = pb->events->has_to_seq;
		c->to_seq = pb->events->to_seq;
		c->limit = pb->events->has_limit ? pb->events->limit : 0;
		c->wait_ms = pb->events->wait_ms;
		break;
	case SL__COMMAND__BODY_HEAD:
		c->type = SL_CMD_HEAD;
		break;
	default:
		if (order_decode(pb, dl, c, err) != SL_OK)
			return err->code;
		break;
	}
	/* The hash serves idempotency only: a command without a key skips its cost. */
	if (c->key[0] != '\0')
		content_hash(pb, dl, c->content_hash, scratch);
	return SL_OK;
}

/* key_is_text tells whether every key (Command field 1) in the encoded Command p is whole
 * text: a stray byte, or a NUL that cuts it to another key when decoded, is not. */
static bool key_is_text(const uint8_t *p, size_t len)
{
	const uint8_t *end = p + len;
	while (p < end) {
		uint64_t tag;
		const uint8_t *body = NULL;
		size_t body_len = 0;
		if (!sl_varint_read(&p, end, &tag) ||
		    !sl_pbtext_skip(&p, end, tag & 7, &body, &body_len))
			return true; /* the decoder took it: not reached */
		if (tag >> 3 == 1 && body != NULL && !sl_text_is_valid(body, body_len))
			return false;
	}
	return true;
}

/* texts_check marks each command of the Request encoded in data whose strings are not
 * whole text (base/sl_pbtext.h), naming the field: the command is refused INVALID_ARGUMENT,
 * its neighbours go on. A key that is not text is named whatever was marked before it, so
 * that it is never looked up or kept (key_usable, gateway/service.c). */
static void texts_check(const uint8_t *data, size_t len, sl_command *cmds, size_t n_cmds)
{
	const uint8_t *p = data, *end = data + len;
	size_t i = 0;
	while (p < end && i < n_cmds) {
		uint64_t tag;
		const uint8_t *body = NULL;
		size_t body_len = 0;
		if (!sl_varint_read(&p, end, &tag) ||
		    !sl_pbtext_skip(&p, end, tag & 7, &body, &body_len))
			return;
		if (tag >> 3 != 1 || body == NULL)
			continue;
		char name[32];
		if (!sl_pbtext_check(&sl__command__descriptor, body, body_len, name, sizeof(name)))
			mark(&cmds[i], name);
		if (!key_is_text(body, body_len))
			sl_strlcpy(cmds[i].malformed_field, "key", sizeof(cmds[i].malformed_field));
		i++;
	}
}

sl_err gw_request_decode(const uint8_t *data, size_t len, const char *default_location,
                         sl_command **cmds, size_t *n_cmds, sl_error_info *err)
{
	memset(err, 0, sizeof(*err));
	if (len > SL_REQUEST_BYTES_MAX)
		return sl_error_set(err, SL_ERR_LIMIT_EXCEEDED,
		                    "request of %zu bytes: at most %u bytes", len,
		                    SL_REQUEST_BYTES_MAX);
	Sl__Request *req = sl__request__unpack(NULL, len, data);
	if (req == NULL)
		return sl_error_set(err, SL_ERR_MALFORMED, "cannot decode request of %zu bytes",
		                    len);
	sl_err rc = SL_OK;
	sl_command *out = NULL;
	sl_buf scratch;
	sl_buf_init(&scratch);
	if (req->n_commands == 0) {
		rc = sl_error_set(err, SL_ERR_INVALID_ARGUMENT, "request holds no command");
		goto done;
	}
	if (req->n_commands > SL_REQUEST_COMMANDS_MAX) {
		rc = sl_error_set(err, SL_ERR_LIMIT_EXCEEDED,
		                  "%zu commands: at most %d commands per request", req->n_commands,
		                  SL_REQUEST_COMMANDS_MAX);
		goto done;
	}
	out = calloc(req->n_commands, sizeof(*out));
	if (out == NULL) {
		rc = sl_error_set(err, SL_ERR_NOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < req->n_commands; i++) {
		if ((rc = command_decode(req->commands[i], default_location, &out[i], &scratch,
		                         err)) != SL_OK) {
			gw_commands_free(out, i + 1);
			out = NULL;
			goto done;
		}
	}
	texts_check(data, len, out, req->n_commands);
	*cmds = out;
	*n_cmds = req->n_commands;
done:
	sl_buf_fini(&scratch);
	sl__request__free_unpacked(req, NULL);
	return rc;
}

void gw_commands_free(sl_command *cmds, size_t n)
{
	if (cmds == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		sl_command_fini(&cmds[i]);
	free(cmds);
}

static sl_err pack(const ProtobufCMessage *m, sl_buf *out)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	out->len = 0;
	sl_err rc = sl_buf_reserve(out, n);
	if (rc != SL_OK)
		return rc;
	protobuf_c_message_pack(m, out->data);
	out->len = n;
	return SL_OK;
}

sl_err gw_response_encode(const sl_buf *results, size_t n, sl_buf *out)
{
	Sl__ResponseRaw resp;
	sl__response_raw__init(&resp);
	ProtobufCBinaryData *bins = calloc(n, sizeof(*bins));
	if (bins == NULL)
		return SL_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		bins[i].data = results[i].data;
		bins[i].len = results[i].len;
	}
	resp.n_results = n;
	resp.results = bins;
	sl_err rc = pack(&resp.base, out);
	free(bins);
	return rc;
}

sl_err gw_response_error(const sl_error_info *err, sl_buf *out)
{
	Sl__ResponseRaw resp;
	Sl__Error e;
	sl__response_raw__init(&resp);
	sl__error__init(&e);
	e.code = (char *)sl_err_name(err->code);
	e.message = (char *)err->message;
	resp.error = &e;
	return pack(&resp.base, out);
}

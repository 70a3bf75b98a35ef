/*
 * orders.c: the group's overlay of orders and settings, and the order reads (orders.h).
 *
 * The overlay maps an order id to its view as the group left it; a view is loaded from the
 * store the first time the group needs it, and a missing order is remembered as absent.
 * Views own heap lines, so gw_orders_begin frees them before the map is cleared. Values of
 * an sl_map never move, which is what lets the rules borrow a view by pointer.
 */
#include "gateway/orders.h"

#include <stdlib.h>
#include <string.h>

#include "base/banned.h"
#include "base/sl_map.h"
#include "base/sl_util.h"
#include "ledger/asof.h"
#include "ledger/codec.h"
#include "projector/orders.h"

/* Orders one group can touch: each command names at most one. */
#define ORDERS_OVERLAY_MAX SL_GROUP_COMMANDS_MAX

typedef struct overlay_order {
	sl_order order;
	bool is_present;
	bool is_dirty;
} overlay_order;

struct gw_orders {
	ledger *l;
	sl_map orders;
	sl_settings settings;
	bool has_settings; /* loaded (or known absent) in this group */
	bool is_settings_present;
	bool is_settings_dirty;
};

gw_orders *gw_orders_alloc(ledger *l)
{
	gw_orders *o = calloc(1, sizeof(*o));
	if (o == NULL)
		return NULL;
	o->l = l;
	if (sl_map_init(&o->orders, sizeof(overlay_order), ORDERS_OVERLAY_MAX) != SL_OK) {
		free(o);
		return NULL;
	}
	return o;
}

static void orders_forget(gw_orders *o)
{
	for (size_t i = 0; i < o->orders.n; i++)
		sl_order_fini(&((overlay_order *)sl_map_at(&o->orders, i))->order);
	sl_map_clear(&o->orders);
}

void gw_orders_free(gw_orders *o)
{
	if (o == NULL)
		return;
	orders_forget(o);
	sl_map_fini(&o->orders);
	free(o);
}

void gw_orders_begin(gw_orders *o)
{
	orders_forget(o);
	o->has_settings = false;
	o->is_settings_present = false;
	o->is_settings_dirty = false;
}

static overlay_order *order_load(gw_orders *o, const char *order_id, sl_err *rc)
{
	int is_new;
	overlay_order *v = sl_map_put(&o->orders, order_id, strlen(order_id), &is_new, rc);
	if (v == NULL || !is_new)
		return v;
	*rc = ledger_order_get(o->l, order_id, &v->order);
	if (*rc == SL_OK) {
		v->is_present = true;
	} else if (*rc == SL_ERR_NOT_FOUND) {
		sl_order_fini(&v->order);
		memset(&v->order, 0, sizeof(v->order));
		*rc = SL_OK;
	}
	return *rc == SL_OK ? v : NULL;
}

static sl_err order_lookup_cb(void *ctx, const char *order_id, const sl_order **out)
{
	sl_err rc;
	overlay_order *v = order_load(ctx, order_id, &rc);
	if (v == NULL)
		return rc;
	if (!v->is_present)
		return SL_ERR_NOT_FOUND;
	*out = &v->order;
	return SL_OK;
}

sl_err gw_orders_settings(gw_orders *o, sl_settings *out)
{
	if (!o->has_settings) {
		memset(&o->settings, 0, sizeof(o->settings));
		sl_err rc = ledger_settings_get(o->l, &o->settings);
		if (rc != SL_OK && rc != SL_ERR_NOT_FOUND)
			return rc;
		o->is_settings_present = rc == SL_OK;
		o->has_settings = true;
	}
	if (!o->is_settings_present)
		return SL_ERR_NOT_FOUND;
	*out = o->settings;
	return SL_OK;
}

static sl_err settings_lookup_cb(void *ctx, sl_settings *out)
{
	return gw_orders_settings(ctx, out);
}

void gw_orders_env(gw_orders *o, ledger_order_env *env)
{
	env->order_lookup = order_lookup_cb;
	env->order_ctx = o;
	env->settings_lookup = settings_lookup_cb;
	env->settings_ctx = o;
}

sl_err gw_orders_apply(gw_orders *o, const sl_event *ev)
{
	sl_err rc = SL_OK;
	if (settings_event_is_settings(ev)) {
		sl_settings cur;
		rc = gw_orders_settings(o, &cur);
		if (rc != SL_OK && rc != SL_ERR_NOT_FOUND)
			return rc;
		if ((rc = settings_view_apply(&o->settings, ev)) != SL_OK)
			return rc;
		o->is_settings_present = true;
		o->is_settings_dirty = true;
		return SL_OK;
	}
	if (!order_event_is_order(ev))
		return SL_OK;
	overlay_order *v = order_load(o, ev->order_id, &rc);
	if (v == NULL)
		return rc;
	if ((rc = order_view_apply(&v->order, ev)) != SL_OK)
		return rc;
	v->is_present = true;
	v->is_dirty = true;
	return SL_OK;
}

const sl_order *gw_orders_view(gw_orders *o, const char *order_id)
{
	overlay_order *v = sl_map_get(&o->orders, order_id, strlen(order_id));
	return v != NULL && v->is_present ? &v->order : NULL;
}

sl_err gw_orders_stage(gw_orders *o, ledger_txn *t)
{
	sl_err rc = SL_OK;
	for (size_t i = 0; i < o->orders.n && rc == SL_OK; i++) {
		overlay_order *v = sl_map_at(&o->orders, i);
		if (!v->is_dirty)
			continue;
		rc = ledger_txn_put_order(t, &v->order);
		if (rc == SL_OK)
			rc = ledger_txn_put_holds(t, &v->order);
	}
	if (rc == SL_OK && o->is_settings_dirty)
		rc = ledger_txn_put_settings(t, &o->settings);
	return rc;
}

/* ---- reads ---- */

static void read_fail(sl_buf *out, sl_error_info *err)
{
	ledger_result r = {.error = err};
	ledger_result_encode_or_empty(&r, out);
}

static void read_settings(ledger *l, sl_buf *out)
{
	sl_error_info err;
	sl_settings s = {.trigger = SL_TRIGGER_ON_ORDER_PLACED};
	memset(&err, 0, sizeof(err));
	sl_err rc = ledger_settings_get(l, &s);
	if (rc != SL_OK && rc != SL_ERR_NOT_FOUND) {
		sl_error_set(&err, rc, "cannot read the settings: %s", sl_strerror(rc));
		read_fail(out, &err);
		return;
	}
	ledger_result r = {.settings = &s, .seq = s.last_seq};
	ledger_result_encode_or_empty(&r, out);
}

static void read_order(ledger *l, const sl_command *cmd, sl_buf *out)
{
	sl_error_info err;
	sl_order order;
	memset(&err, 0, sizeof(err));
	memset(&order, 0, sizeof(order));
	sl_err rc = ledger_id_validate("orderId", cmd->order_id, &err);
	if (rc == SL_OK) {
		rc = ledger_order_get(l, cmd->order_id, &order);
		if (rc == SL_ERR_NOT_FOUND)
			sl_error_set(&err, rc, "order '%s' does not exist", cmd->order_id);
		else if (rc != SL_OK)
			sl_error_set(&err, rc, "cannot read order '%s': %s", cmd->order_id,
			             sl_strerror(rc));
	}
	if (rc != SL_OK) {
		read_fail(out, &err);
		return;
	}
	ledger_result r = {.order = &order, .seq = order.last_seq};
	ledger_result_encode_or_empty(&r, out);
	sl_order_fini(&order);
}

static void read_holds(ledger *l, const sl_command *cmd, sl_buf *out)
{
	sl_error_info err;
	memset(&err, 0, sizeof(err));
	sl_err rc = ledger_item_key_validate(&cmd->item, &err);
	if (rc != SL_OK) {
		read_fail(out, &err);
		return;
	}
	/* The list and the head it answers with come from one snapshot: a head read after the
	 * list could name a commit the list does not show (found by a review: a client that
	 * follows the feed from seq + 1 then misses it). */
	sl_hold *holds = calloc(SL_HOLDS_PAGE_MAX, sizeof(*holds));
	store_snap *snap = store_snap_take(ledger_store(l));
	size_t n = 0;
	uint64_t head = 0;
	bool has_more = false;
	if (holds == NULL || snap == NULL) {
		sl_error_set(&err, SL_ERR_NOMEM, "out of memory");
		read_fail(out, &err);
	} else if ((rc = ledger_snap_head(l, snap, &head)) != SL_OK ||
	           (rc = ledger_holds_list_at(l, snap, &cmd->item, "", "", SL_HOLDS_PAGE_MAX, holds,
	                                      &n, &has_more)) != SL_OK) {
		sl_error_set(&err, rc, "cannot read the holds: %s", sl_strerror(rc));
		read_fail(out, &err);
	} else {
		ledger_result r = {.holds = holds, .n_holds = n, .seq = head};
		ledger_result_encode_or_empty(&r, out);
	}
	store_snap_release(ledger_store(l), snap);
	free(holds);
}

void gw_orders_read(ledger *l, const sl_command *cmd, sl_buf *out)
{
	if (cmd->malformed_field[0] != '\0') {
		sl_error_info err;
		memset(&err, 0, sizeof(err));
		sl_error_set(&err, SL_ERR_INVALID_ARGUMENT, "%s is too long or malformed",
		             cmd->malformed_field);
		read_fail(out, &err);
		return;
	}
	switch (cmd->type) {
	case SL_CMD_SETTINGS_GET:
		read_settings(l, out);
		break;
	case SL_CMD_ORDER_GET:
		read_order(l, cmd, out);
		break;
	case SL_CMD_ORDER_HOLDS:
		read_holds(l, cmd, out);
		break;
	default:
		SL_ASSERT(!"not an order read");
	}
}

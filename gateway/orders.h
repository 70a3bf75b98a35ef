/*
 * orders.h: the writer's side of orders, and the order reads.
 *
 * gw_orders is the group's overlay of order views and of the settings, as the group's
 * earlier commands left them (the counterpart of service.c's item overlay): the order rules
 * look orders and settings up through it, the writer folds each order event into it, and
 * at the end of the group gw_orders_stage puts every changed order view, its holds rows and
 * the settings into the group's transaction. Writer thread only.
 *
 * gw_orders_read serves settings get, order get and the holds list from committed state on
 * the caller's thread, like the other reads.
 */
#ifndef SL_GW_ORDERS_H
#define SL_GW_ORDERS_H

#include "base/sl_buf.h"
#include "ledger/ledger.h"
#include "ledger/orders.h"

typedef struct gw_orders gw_orders;

/* gw_orders_alloc: an empty overlay over l (NULL when memory runs out). */
gw_orders *gw_orders_alloc(ledger *l);
void gw_orders_free(gw_orders *o);

/* gw_orders_begin forgets the previous group. */
void gw_orders_begin(gw_orders *o);

/* gw_orders_env fills the order and settings lookups of env with this overlay. */
void gw_orders_env(gw_orders *o, ledger_order_env *env);

/* gw_orders_apply folds ev (an order or settings event; others are ignored) into the
 * overlay. SL_ERR_CORRUPT if it does not follow (a bug: the rules decided on these views),
 * SL_ERR_NOMEM, SL_ERR_LIMIT_EXCEEDED, or a storage error reading the committed view. */
sl_err gw_orders_apply(gw_orders *o, const sl_event *ev);

/* gw_orders_view: the overlay's view of order_id (NULL if none); valid until the next
 * gw_orders_begin. gw_orders_settings: the settings as the group leaves them. */
const sl_order *gw_orders_view(gw_orders *o, const char *order_id);
sl_err gw_orders_settings(gw_orders *o, sl_settings *out);

/* gw_orders_stage stages every order view changed in the group, its holds rows, and the
 * settings if they changed, into t. */
sl_err gw_orders_stage(gw_orders *o, ledger_txn *t);

/* gw_orders_read answers a settings get, order get or holds list (cmd->type) with an
 * encoded Result in out. Any thread. */
void gw_orders_read(ledger *l, const sl_command *cmd, sl_buf *out);

#endif

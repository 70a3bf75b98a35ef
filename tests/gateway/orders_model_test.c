/*
 * orders_model_test.c: the order flows of the service against a small reference model
 * (Redis-style model test), then a rebuild from the log.
 *
 * Method: an in-process service on a real RocksDB directory. A random stream of commands
 * (settings changes, place, pay, payment-failed, cancel with and without restock, refund,
 * edit, direct increments with an order id, item updates and deletes, idempotent retries)
 * comes from a seed that is printed; SL_SEED=N replays it, SL_MODEL_COMMANDS=N changes its
 * length. Each command is applied to the model below (written apart from ledger/orders.c:
 * stock first then preorder units, restricted placement all-or-nothing, preorder units given
 * back first, and of them those the item's counter still counts: a reset of the counter or a
 * create after a delete makes the units taken before it release nothing) and submitted to the
 * service; commands go in batches, so that the writer decides many in one group (command k
 * sees 1..k-1 of its group). Every outcome code must agree; every few batches and at the end every
 * item (quantity, counter, tracking, revision), every order (status and each line's quantity, held,
 * preorder units, refunded, restocked, untracked) and the holds index of every item must agree, and
 * so must explain's holds: within and between batches an item's quantity is now and then set by an
 * update, and the model keeps, per line, the least it held since its item's last setting (the units
 * held since before the setting, which explain counts apart).
 *
 * Items also stop counting and count again (docs/orders.md, "Items that stop counting"): an
 * update switches one to inStock tracking (quantity 0, the limit dropped, the counter kept)
 * or deletes it, and a later update with a quantity or a create makes it count again; the
 * revision is the item's event count across deletes and creates. Placing on such an item
 * (or adding it by an edit) is refused, a direct increment too; an existing line that is to
 * take units from it or give them back to it becomes untracked (it drops what it held, holds
 * nothing from then on, even once the item counts again, and its sold units stay
 * refundable), and the order is REFUNDED once no line holds units nor is untracked with
 * units to refund. A deleted item has no view and no explanation; its holds stay listed.
 *
 * Then the service is closed, the views are rebuilt from the log, and the checksum of all
 * views (items, orders, holds, settings) must be byte for byte what it was; verify must pass.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/banned.h"
#include "base/sl_util.h"
#include "gateway/service.h"
#include "projector/explain.h"
#include "projector/rebuild.h"
#include "stockledger.pb-c.h"
#include "support/sl_testing.h"

#define N_ITEMS 6
#define N_ORDERS 1500
#define LINES_MAX 5
#define BATCH 48
#define COMMANDS_DEFAULT 4000

static char data_dir[256];

/* ---- the reference model ---- */

/* How an item counts: by quantity, or not at all (switched to inStock tracking, deleted). */
enum { M_COUNTS, M_IN_STOCK, M_DELETED };

typedef struct m_item {
	int64_t qty, counter, limit;
	bool preorder, has_limit;
	int tracking; /* M_COUNTS, M_IN_STOCK or M_DELETED */
	int64_t rev;  /* its revision: its events, across deletes and creates */
	int epoch;    /* its counter's resets and its creates after a delete */
} m_item;

typedef struct m_line {
	char id[16];
	int item;
	int64_t qty, held, pre, refunded, restocked;
	int64_t uncounted;      /* of pre, units taken before the item's epoch pre_epoch */
	int pre_epoch;          /* its item's epoch when it last took preorder units */
	int64_t kept_q, kept_p; /* the least held (stock, preorder) since the item's setting */
	int changes;
	bool untracked; /* its item stopped counting when it was to move units */
} m_line;

typedef struct m_order {
	bool exists;
	int status; /* sl_order_status */
	int trigger;
	m_line lines[2 * LINES_MAX + 2];
	int n;
} m_order;

typedef struct model {
	m_item items[N_ITEMS];
	m_order orders[N_ORDERS];
	int trigger;
	int untracked_refunds; /* refunds of untracked lines, to show them */
} model;

static model M;

/* how often items stopped counting and preorder counters were reset, to show what the stream
 * exercised */
static int m_stopped, m_resets;

static bool m_closed(int st)
{
	return st == SL_ORDER_CANCELED || st == SL_ORDER_PAYMENT_FAILED || st == SL_ORDER_REFUNDED;
}

/* m_refusal: why an order cannot hold item it (placement, a line an edit adds), or NULL. */
static const char *m_refusal(const m_item *it)
{
	return it->tracking == M_DELETED    ? "NOT_FOUND"
	       : it->tracking == M_IN_STOCK ? "QUANTITY_NOT_TRACKED"
	                                    : NULL;
}

/* m_untrack: line l was to move units of an item that no longer counts: it drops what it
 * held (no restock) and holds nothing from now on. */
static void m_untrack(m_line *l)
{
	l->untracked = true;
	l->held = 0;
	l->pre = 0;
	l->uncounted = 0;
}

/* m_take takes n units of item it for line l; false when restricted and short. */
static bool m_take(m_item *it, m_line *l, int64_t n, bool restricted)
{
	if (l->untracked || n <= 0)
		return true;
	if (it->tracking != M_COUNTS) {
		m_untrack(l);
		return true;
	}
	int64_t stock = it->qty > 0 ? it->qty : 0;
	int64_t s = n < stock ? n : stock, rest = n - s;
	int64_t left = !it->preorder   ? 0
	               : it->has_limit ? (it->limit > it->counter ? it->limit - it->counter : 0)
	                               : INT64_MAX;
	int64_t p = rest < left ? rest : left;
	rest -= p;
	if (restricted && rest > 0)
		return false;
	it->qty -= s + rest;
	it->counter += p;
	it->rev++; /* n > 0 units moved the quantity or the counter */
	if (p > 0 && l->pre_epoch != it->epoch) { /* what it held before is not counted now */
		l->uncounted = l->pre;
		l->pre_epoch = it->epoch;
	}
	l->held += n;
	l->pre += p;
	return true;
}

static void m_give(m_item *it, m_line *l, int64_t k, bool restock)
{
	if (l->untracked || k <= 0)
		return;
	if (restock && it->tracking != M_COUNTS) {
		m_untrack(l);
		return;
	}
	/* preorder units first, of them those the counter counts (the last taken); none are
	 * counted once the item's counter was reset or the item created again */
	int64_t pre = k < l->pre ? k : l->pre;
	bool is_reset_since = restock && l->pre > 0 && l->pre_epoch != it->epoch;
	int64_t counted = is_reset_since ? 0 : l->pre - l->uncounted;
	int64_t from_counted = pre < counted ? pre : counted;
	l->held -= k;
	l->pre -= pre;
	l->uncounted = is_reset_since ? l->pre : l->uncounted - (pre - from_counted);
	if (is_reset_since)
		l->pre_epoch = it->epoch;
	if (restock) {
		int64_t release = from_counted < it->counter ? from_counted : it->counter;
		it->counter -= release;
		it->qty += k - pre;
		l->restocked += k;
		if (release != 0 || k != pre) /* else the line changes, the item does not */
			it->rev++;
	}
}

/* m_refundable: the sold units of a line a refund may still name. */
static int64_t m_refundable(const m_line *l)
{
	return l->qty > l->refunded ? l->qty - l->refunded : 0;
}

/* m_target: what a line holds while its order holds stock. */
static int64_t m_target(const m_line *l)
{
	return l->untracked ? 0 : m_refundable(l);
}

static bool m_holds(const m_order *o)
{
	return o->status == SL_ORDER_PAID ||
	       (o->status == SL_ORDER_PLACED && o->trigger == SL_TRIGGER_ON_ORDER_PLACED);
}

/* m_kept_lower lowers every line's kept units to what it holds now (after each command; a
 * line born after the setting starts at 0). */
static void m_kept_lower(void)
{
	for (int oi = 0; oi < N_ORDERS; oi++)
		for (int j = 0; j < M.orders[oi].n; j++) {
			m_line *l = &M.orders[oi].lines[j];
			if (l->held - l->pre < l->kept_q)
				l->kept_q = l->held - l->pre;
			if (l->pre < l->kept_p)
				l->kept_p = l->pre;
		}
}

/* m_commit counts the changed lines (the line change bound of docs/orders.md) and keeps
 * next as the model if they fit. */
static const char *m_commit(model *next, int oi, const m_order *before, int changes_max)
{
	m_order *o = &next->orders[oi];
	for (int i = 0; i < o->n; i++) {
		m_line *l = &o->lines[i];
		bool is_new = i >= before->n;
		const m_line *b = is_new ? NULL : &before->lines[i];
		/* a new line's item must count (the service stops at the first line that fails) */
		const char *refusal = is_new ? m_refusal(&next->items[l->item]) : NULL;
		if (refusal != NULL)
			return refusal;
		bool changed = is_new || b->qty != l->qty || b->held != l->held ||
		               b->pre != l->pre || b->refunded != l->refunded ||
		               b->restocked != l->restocked || b->untracked != l->untracked;
		if (!changed)
			continue;
		if (l->changes >= changes_max)
			return "LIMIT_EXCEEDED";
		l->changes++;
	}
	M = *next;
	return "OK";
}

/* order_index: the model's index of order id "oN", -1 if it is none. */
static int order_index(const char *id)
{
	int64_t v = -1;
	if (id[0] != 'o' || sl_parse_i64(id + 1, &v) != SL_OK || v < 0 || v >= N_ORDERS)
		return -1;
	return (int)v;
}

/* ---- commands ---- */

static uint64_t rng_state;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void key_set(sl_item_key *k, int item)
{
	char product[16];
	snprintf(product, sizeof(product), "m-%d", item);
	sl_test_key_set(k, product, "default");
}

/* item_cmd builds a command that changes item i: a create, an update (at the model's
 * revision: the item's events across deletes and creates) or a delete. Mostly it sets a
 * counting item's quantity; now and then it makes the item stop counting (an update to
 * inStock tracking, a delete) and, the next time, count again (an update with a quantity
 * and the limit the switch dropped, a create). Items N_ITEMS - 2 and N_ITEMS - 1 take
 * preorders, the last within a limit of 8. */
static void item_cmd(sl_command *c, int i)
{
	const m_item *it = &M.items[i];
	int r = (int)(rng() % 10);
	memset(c, 0, sizeof(*c));
	key_set(&c->item, i);
	if (it->tracking == M_DELETED) {
		c->type = SL_CMD_CREATE;
		c->has_quantity = true;
		c->quantity = (int64_t)(rng() % 12);
		c->has_preorder_enabled = i >= N_ITEMS - 2;
		c->preorder_enabled = i >= N_ITEMS - 2;
		c->has_preorder_limit = i == N_ITEMS - 1;
		c->preorder_limit = i == N_ITEMS - 1 ? 8 : 0;
	} else if ((it->tracking == M_COUNTS && r < 2) || (it->tracking == M_IN_STOCK && r < 3)) {
		c->type = SL_CMD_DELETE;
	} else {
		c->type = SL_CMD_UPDATE;
		c->has_revision = true;
		c->revision = it->rev;
		if (it->tracking == M_COUNTS && r < 4) {
			c->has_in_stock = true;
			c->in_stock = rng() % 2 == 0;
		} else {
			c->has_quantity = true;
			c->quantity = (int64_t)(rng() % 12);
			c->has_preorder_limit = it->tracking == M_IN_STOCK && i == N_ITEMS - 1;
			c->preorder_limit = c->has_preorder_limit ? 8 : 0;
			/* the preorder items' counters are reset now and then, with orders open */
			c->reset_preorder_counter = i >= N_ITEMS - 2 && rng() % 3 == 0;
		}
	}
}

/* m_item_apply: the model's side of an item_cmd command. A create starts the item afresh
 * (its counter at 0); a switch to inStock tracking sets the quantity to 0 and drops the
 * limit, the counter stays; an update with a quantity counts again. A create or an update is
 * the item's setting: every line holding it has held its units since before; a delete is
 * none (explain has no item to explain). */
static void m_item_apply(const sl_command *c)
{
	int i = c->item.product_id[2] - '0';
	m_item *it = &M.items[i];
	it->rev++;
	if (c->type == SL_CMD_DELETE) {
		m_stopped += it->tracking == M_COUNTS;
		it->tracking = M_DELETED;
		return;
	}
	if (c->type == SL_CMD_CREATE) {
		*it = (m_item){.qty = c->quantity,
		               .preorder = c->preorder_enabled,
		               .has_limit = c->has_preorder_limit,
		               .limit = c->preorder_limit,
		               .tracking = M_COUNTS,
		               .rev = it->rev,
		               .epoch = it->epoch + 1};
	} else if (c->has_in_stock) {
		it->tracking = M_IN_STOCK;
		it->qty = 0;
		it->has_limit = false;
		m_stopped++;
	} else {
		it->tracking = M_COUNTS;
		it->qty = c->quantity;
		if (c->reset_preorder_counter) {
			it->counter = 0;
			it->epoch++;
			m_resets++;
		}
		if (c->has_preorder_limit) {
			it->has_limit = true;
			it->limit = c->preorder_limit;
		}
	}
	for (int oi = 0; oi < N_ORDERS; oi++)
		for (int j = 0; j < M.orders[oi].n; j++) {
			m_line *l = &M.orders[oi].lines[j];
			if (l->item == i) {
				l->kept_q = l->held - l->pre;
				l->kept_p = l->pre;
			}
		}
}

/* m_apply: the reference rules. Returns the expected code; changes M only on success. */
static const char *m_apply(const sl_command *c, bool *unchanged)
{
	static model next;
	next = M;
	*unchanged = false;
	if (c->type == SL_CMD_SETTINGS_SET) {
		if ((int)c->trigger == M.trigger) {
			*unchanged = true;
			return "OK";
		}
		M.trigger = c->trigger;
		return "OK";
	}
	if (c->type == SL_CMD_CREATE || c->type == SL_CMD_UPDATE || c->type == SL_CMD_DELETE) {
		m_item_apply(c); /* item_cmd builds only commands that succeed */
		return "OK";
	}
	if (c->type == SL_CMD_INCREMENT) {
		m_item *it = &M.items[c->lines[0].item.product_id[2] - '0'];
		if (m_refusal(it) != NULL)
			return m_refusal(it); /* a direct move on an item that does not count */
		it->qty += c->lines[0].quantity;
		it->rev++;
		return "OK";
	}
	int oi = order_index(c->order_id);
	m_order *o = &next.orders[oi];
	const m_order before = M.orders[oi];
	if (c->type == SL_CMD_ORDER_PLACE) {
		if (o->exists)
			return "ALREADY_EXISTS";
		memset(o, 0, sizeof(*o));
		o->exists = true;
		o->status = SL_ORDER_PLACED;
		o->trigger = M.trigger;
		o->n = (int)c->n_lines;
		bool is_short = false;
		for (size_t i = 0; i < c->n_lines; i++) {
			m_line *l = &o->lines[i];
			snprintf(l->id, sizeof(l->id), "%d", (int)i + 1);
			l->item = c->lines[i].item.product_id[2] - '0';
			l->qty = c->lines[i].quantity;
			if (m_refusal(&M.items[l->item]) != NULL)
				return m_refusal(&M.items[l->item]); /* the first such line */
			if (o->trigger == SL_TRIGGER_ON_ORDER_PLACED &&
			    !m_take(&next.items[l->item], l, l->qty, true))
				is_short = true;
		}
		if (is_short)
			return "INSUFFICIENT_INVENTORY";
		return m_commit(&next, oi, &(m_order){0}, SL_ORDER_LINE_EVENTS_MAX - 2);
	}
	if (!o->exists)
		return "NOT_FOUND";
	int changes_max = SL_ORDER_LINE_EVENTS_MAX;
	switch (c->type) {
	case SL_CMD_ORDER_PAY:
		if (o->status == SL_ORDER_PAID) {
			*unchanged = true;
			return "OK";
		}
		if (o->status != SL_ORDER_PLACED)
			return "ORDER_CLOSED";
		o->status = SL_ORDER_PAID;
		if (o->trigger == SL_TRIGGER_ON_ORDER_PAID)
			for (int i = 0; i < o->n; i++)
				m_take(&next.items[o->lines[i].item], &o->lines[i],
				       m_target(&o->lines[i]) - o->lines[i].held, false);
		break;
	case SL_CMD_ORDER_PAYMENT_FAILED:
	case SL_CMD_ORDER_CANCEL:
		if (m_closed(o->status))
			return "ORDER_CLOSED";
		if (c->type == SL_CMD_ORDER_PAYMENT_FAILED && o->status != SL_ORDER_PLACED)
			return "FAILED_PRECONDITION";
		o->status =
		    c->type == SL_CMD_ORDER_CANCEL ? SL_ORDER_CANCELED : SL_ORDER_PAYMENT_FAILED;
		for (int i = 0; i < o->n; i++)
			m_give(&next.items[o->lines[i].item], &o->lines[i], o->lines[i].held,
			       !c->is_no_restock);
		break;
	case SL_CMD_ORDER_REFUND: {
		if (m_closed(o->status))
			return "ORDER_CLOSED";
		if (o->status != SL_ORDER_PAID)
			return "FAILED_PRECONDITION";
		m_line *l = NULL;
		for (int i = 0; i < o->n; i++)
			if (strcmp(o->lines[i].id, c->lines[0].line_id) == 0)
				l = &o->lines[i];
		if (l == NULL)
			return "NOT_FOUND";
		/* an untracked line holds nothing, but its sold units may be refunded */
		if (c->lines[0].quantity > (l->untracked ? m_refundable(l) : l->held))
			return "REFUND_EXCEEDS_HELD";
		next.untracked_refunds += l->untracked;
		l->refunded += c->lines[0].quantity;
		m_give(&next.items[l->item], l, c->lines[0].quantity, !c->is_no_restock);
		bool any = false;
		for (int i = 0; i < o->n; i++)
			any = any || o->lines[i].held > 0 ||
			      (o->lines[i].untracked && m_refundable(&o->lines[i]) > 0);
		o->status = any ? SL_ORDER_PAID : SL_ORDER_REFUNDED;
		changes_max -= 2;
		break;
	}
	case SL_CMD_ORDER_EDIT: {
		if (m_closed(o->status))
			return "ORDER_CLOSED";
		bool named[2 * LINES_MAX + 2] = {0};
		int n_old = o->n;
		for (size_t k = 0; k < c->n_lines; k++) {
			const sl_line *cl = &c->lines[k];
			int item = cl->item.product_id[2] - '0', found = -1;
			for (int i = 0; i < n_old; i++)
				if (strcmp(o->lines[i].id, cl->line_id) == 0)
					found = i;
			if (found >= 0 && o->lines[found].item != item)
				return "INVALID_ARGUMENT";
			if (found < 0) {
				if (cl->quantity == 0)
					continue;
				found = o->n++;
				memset(&o->lines[found], 0, sizeof(m_line));
				sl_strlcpy(o->lines[found].id, cl->line_id,
				           sizeof(o->lines[found].id));
				o->lines[found].item = item;
			}
			named[found] = true;
			o->lines[found].qty = cl->quantity;
		}
		for (int i = 0; i < o->n; i++) {
			m_line *l = &o->lines[i];
			if (!named[i])
				l->qty = 0;
			if (!m_holds(o))
				continue;
			int64_t d = m_target(l) - l->held;
			if (d > 0)
				m_take(&next.items[l->item], l, d, false);
			else if (d < 0)
				m_give(&next.items[l->item], l, -d, true);
		}
		changes_max -= 2;
		break;
	}
	default:
		fail_msg("model: unexpected command %d", c->type);
	}
	return m_commit(&next, oi, &before, changes_max);
}

/* gen builds the next random command into c (lines on the heap: the service takes them). */
static void gen(sl_command *c, int *n_orders)
{
	memset(c, 0, sizeof(*c));
	int r = (int)(rng() % 100);
	int oi = *n_orders > 0 ? (int)(rng() % (uint64_t)*n_orders) : 0;
	/* mostly orders that exist; now and then one that does not */
	for (int tries = 0; tries < 8 && *n_orders > 0 && !M.orders[oi].exists && rng() % 10 != 0;
	     tries++)
		oi = (int)(rng() % (uint64_t)*n_orders);
	if (r < 4) {
		c->type = SL_CMD_SETTINGS_SET;
		c->trigger = rng() % 2 ? SL_TRIGGER_ON_ORDER_PAID : SL_TRIGGER_ON_ORDER_PLACED;
		return;
	}
	if (r < 6) {
		/* within the group: an order command after it sees what became of the item */
		item_cmd(c, (int)(rng() % N_ITEMS));
		return;
	}
	if (r < 12) {
		c->type = SL_CMD_INCREMENT;
		c->lines = calloc(1, sizeof(*c->lines));
		c->n_lines = 1;
		key_set(&c->lines[0].item, (int)(rng() % N_ITEMS));
		c->lines[0].quantity = 1 + (int64_t)(rng() % 10);
		snprintf(c->order_id, sizeof(c->order_id), "restock-%d", (int)(rng() % 3));
		return;
	}
	if (r < 40 || *n_orders == 0) {
		if (*n_orders < N_ORDERS)
			oi = (*n_orders)++;
		c->type = SL_CMD_ORDER_PLACE;
		c->n_lines = 1 + rng() % LINES_MAX;
		c->lines = calloc(c->n_lines, sizeof(*c->lines));
		for (size_t i = 0; i < c->n_lines; i++) {
			key_set(&c->lines[i].item, (int)(rng() % N_ITEMS));
			c->lines[i].quantity = 1 + (int64_t)(rng() % 3);
		}
	} else if (r < 60) {
		c->type = SL_CMD_ORDER_PAY;
	} else if (r < 66) {
		c->type = SL_CMD_ORDER_PAYMENT_FAILED;
	} else if (r < 74) {
		c->type = SL_CMD_ORDER_CANCEL;
		c->is_no_restock = rng() % 3 == 0;
	} else if (r < 86) {
		c->type = SL_CMD_ORDER_REFUND;
		c->n_lines = 1;
		c->lines = calloc(1, sizeof(*c->lines));
		const m_order *o = &M.orders[oi];
		int pick = o->n > 0 ? (int)(rng() % (uint64_t)o->n) : 0;
		for (int i = 0; i < o->n; i++) /* half the time an untracked line, if any */
			if (o->lines[i].untracked && rng() % 2 == 0)
				pick = i;
		if (o->n > 0 && rng() % 8 != 0)
			sl_strlcpy(c->lines[0].line_id, o->lines[pick].id,
			           sizeof(c->lines[0].line_id));
		else
			snprintf(c->lines[0].line_id, sizeof(c->lines[0].line_id), "%d",
			         1 + (int)(rng() % 4));
		c->lines[0].quantity = 1 + (int64_t)(rng() % 3);
		c->is_no_restock = rng() % 3 == 0;
	} else {
		/* an edit: keep or resize some lines, drop others, add a new one */
		c->type = SL_CMD_ORDER_EDIT;
		const m_order *o = &M.orders[oi];
		c->lines = calloc(LINES_MAX * 2 + 2, sizeof(*c->lines));
		for (int i = 0; i < o->n; i++) {
			if (rng() % 4 == 0)
				continue;
			sl_line *l = &c->lines[c->n_lines++];
			sl_strlcpy(l->line_id, o->lines[i].id, sizeof(l->line_id));
			/* now and then the wrong item: refused */
			key_set(&l->item, rng() % 30 == 0 ? (o->lines[i].item + 1) % N_ITEMS
			                                  : o->lines[i].item);
			l->quantity = (int64_t)(rng() % 4);
		}
		if (o->n < LINES_MAX * 2 || c->n_lines == 0) {
			sl_line *l = &c->lines[c->n_lines++];
			snprintf(l->line_id, sizeof(l->line_id), "e%d", (int)(rng() % 1000));
			key_set(&l->item, (int)(rng() % N_ITEMS));
			l->quantity = 1 + (int64_t)(rng() % 3);
			for (size_t k = 0; k + 1 < c->n_lines; k++)
				if (strcmp(c->lines[k].line_id, l->line_id) == 0)
					c->n_lines--; /* an id clash: drop the new line */
		}
	}
	snprintf(c->order_id, sizeof(c->order_id), "o%d", oi);
}

/* ---- the service side ---- */

/* tally counts refusals by code, to show what the stream exercised. */
static struct {
	char code[32];
	int n;
} tally[SL_ERR_COUNT_];
static int n_tally;

static void tally_add(const char *code)
{
	for (int i = 0; i < n_tally; i++)
		if (strcmp(tally[i].code, code) == 0) {
			tally[i].n++;
			return;
		}
	if (n_tally < SL_ERR_COUNT_) {
		sl_strlcpy(tally[n_tally].code, code, sizeof(tally[n_tally].code));
		tally[n_tally++].n = 1;
	}
}

typedef struct slot {
	sl_buf result;
	bool is_done;
} slot;

static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static int pending;

static void done_cb(void *arg, const uint8_t *result, size_t len)
{
	slot *sl = arg;
	pthread_mutex_lock(&done_lock);
	assert_int_equal(sl_buf_set(&sl->result, result, len), SL_OK);
	sl->is_done = true;
	pending--;
	pthread_cond_signal(&done_cond);
	pthread_mutex_unlock(&done_lock);
}

static Sl__Result *execute(gw_service *s, sl_command *c)
{
	sl_buf out;
	sl_buf_init(&out);
	assert_int_equal(gw_service_execute(s, c, &out), SL_OK);
	Sl__Result *r = sl__result__unpack(NULL, out.len, out.data);
	assert_non_null(r);
	sl_buf_fini(&out);
	return r;
}

/* setting_apply changes item i between batches (item_cmd), in the model and the service. */
static void setting_apply(gw_service *s, int i)
{
	sl_command c;
	item_cmd(&c, i);
	m_item_apply(&c); /* before: the service takes the command */
	Sl__Result *r = execute(s, &c);
	if (r->error != NULL)
		fail_msg("command type %d on m-%d: %s: %s", c.type, i, r->error->code,
		         r->error->message);
	sl__result__free_unpacked(r, NULL);
}

/* check_explain: explain's holds of item i, in all and per order, against the model. */
static void check_explain(gw_service *s, int i)
{
	projector_explanation *x = calloc(1, sizeof(*x));
	sl_error_info err;
	sl_item_key k;
	assert_non_null(x);
	memset(&err, 0, sizeof(err));
	key_set(&k, i);
	if (M.items[i].tracking == M_DELETED) {
		/* no item to explain; the lines still holding it are in check_holds */
		assert_int_equal(projector_explain(gw_service_ledger(s), &k, x, &err),
		                 SL_ERR_NOT_FOUND);
		free(x);
		return;
	}
	assert_int_equal(projector_explain(gw_service_ledger(s), &k, x, &err), SL_OK);
	int64_t q = 0, p = 0, kq = 0, kp = 0, u = 0;
	for (int oi = 0; oi < N_ORDERS; oi++) {
		int64_t oq = 0, op = 0, okq = 0, okp = 0, ou = 0;
		for (int j = 0; j < M.orders[oi].n; j++) {
			const m_line *l = &M.orders[oi].lines[j];
			if (l->item != i || l->held == 0)
				continue;
			oq += l->held - l->pre;
			op += l->pre;
			okq += l->kept_q;
			okp += l->kept_p;
			/* the preorder units the item's counter no longer counts: a give-back
			 * releases none of them (m_give) */
			int64_t lu =
			    l->pre > 0 && l->pre_epoch != M.items[i].epoch ? l->pre : l->uncounted;
			assert_true(lu <= l->kept_p);
			ou += lu;
		}
		q += oq, p += op, kq += okq, kp += okp, u += ou;
		if (oq + op == 0 || x->x.n_holds == SL_EXPLAIN_GROUPS_MAX)
			continue;
		char id[16];
		snprintf(id, sizeof(id), "o%d", oi);
		const ledger_hold *h = NULL;
		for (size_t j = 0; j < x->x.n_holds; j++)
			if (strcmp(x->x.holds[j].order_id, id) == 0)
				h = &x->x.holds[j];
		if (h == NULL || h->quantity != oq || h->preorder != op ||
		    h->quantity_before_setting != okq || h->preorder_before_setting != okp ||
		    h->preorder_uncounted != ou)
			fail_msg(
			    "explain m-%d, order %s: service %lld/%lld held, %lld/%lld since "
			    "before the setting, %lld uncounted; model %lld/%lld, %lld/%lld, %lld",
			    i, id, h ? (long long)h->quantity : -1LL,
			    h ? (long long)h->preorder : -1LL,
			    h ? (long long)h->quantity_before_setting : -1LL,
			    h ? (long long)h->preorder_before_setting : -1LL,
			    h ? (long long)h->preorder_uncounted : -1LL, (long long)oq,
			    (long long)op, (long long)okq, (long long)okp, (long long)ou);
	}
	assert_int_equal(x->x.held_quantity, q);
	assert_int_equal(x->x.held_preorder, p);
	assert_int_equal(x->x.held_quantity_before_setting, kq);
	assert_int_equal(x->x.held_preorder_before_setting, kp);
	assert_int_equal(x->x.held_preorder_uncounted, u);
	free(x);
}

/* check_item: item i's view (an inStock-tracked one counts 0 and keeps its counter), its
 * revision, or NOT_FOUND once deleted. */
static void check_item(gw_service *s, int i)
{
	const m_item *it = &M.items[i];
	sl_command c;
	memset(&c, 0, sizeof(c));
	c.type = SL_CMD_GET;
	key_set(&c.item, i);
	Sl__Result *r = execute(s, &c);
	if (it->tracking == M_DELETED) {
		if (r->error == NULL || strcmp(r->error->code, "NOT_FOUND") != 0)
			fail_msg("item m-%d: deleted in the model, the service says %s", i,
			         r->error != NULL ? r->error->code : "OK");
		sl__result__free_unpacked(r, NULL);
		return;
	}
	assert_null(r->error);
	const Sl__ItemState *st = r->items[0]->state;
	if (st->quantity != it->qty || st->preorder_counter != it->counter ||
	    r->items[0]->revision != it->rev ||
	    (bool)st->track_quantity != (it->tracking == M_COUNTS))
		fail_msg("item m-%d: service %lld (counter %lld, revision %lld, tracked %d), model "
		         "%lld (counter %lld, revision %lld, tracked %d)",
		         i, (long long)st->quantity, (long long)st->preorder_counter,
		         (long long)r->items[0]->revision, (int)st->track_quantity,
		         (long long)it->qty, (long long)it->counter, (long long)it->rev,
		         it->tracking == M_COUNTS);
	sl__result__free_unpacked(r, NULL);
}

static void check_order(gw_service *s, int oi)
{
	const m_order *o = &M.orders[oi];
	sl_command c;
	memset(&c, 0, sizeof(c));
	c.type = SL_CMD_ORDER_GET;
	snprintf(c.order_id, sizeof(c.order_id), "o%d", oi);
	Sl__Result *r = execute(s, &c);
	if (!o->exists) {
		assert_non_null(r->error);
		assert_string_equal(r->error->code, "NOT_FOUND");
		sl__result__free_unpacked(r, NULL);
		return;
	}
	assert_null(r->error);
	const Sl__OrderView *v = r->order;
	if ((int)v->status != o->status || (int)v->n_lines != o->n)
		fail_msg("order o%d: service status %d with %zu lines, model %d with %d", oi,
		         v->status, v->n_lines, o->status, o->n);
	for (int i = 0; i < o->n; i++) {
		const Sl__OrderLineState *st = v->lines[i]->state;
		const m_line *l = &o->lines[i];
		assert_string_equal(v->lines[i]->line_id, l->id);
		if (st->quantity != l->qty || st->held != l->held || st->held_preorder != l->pre ||
		    st->held_preorder_uncounted != l->uncounted || st->refunded != l->refunded ||
		    st->restocked != l->restocked || (bool)st->untracked != l->untracked ||
		    (int)v->lines[i]->n_seqs != l->changes)
			fail_msg(
			    "order o%d line %s: service q%lld h%lld p%lld rf%lld rs%lld u%d n%zu, "
			    "model q%lld h%lld p%lld rf%lld rs%lld u%d n%d",
			    oi, l->id, (long long)st->quantity, (long long)st->held,
			    (long long)st->held_preorder, (long long)st->refunded,
			    (long long)st->restocked, (int)st->untracked, v->lines[i]->n_seqs,
			    (long long)l->qty, (long long)l->held, (long long)l->pre,
			    (long long)l->refunded, (long long)l->restocked, (int)l->untracked,
			    l->changes);
	}
	sl__result__free_unpacked(r, NULL);
}

/* check_holds: the holds index of every item is the model's open lines holding it. */
static void check_holds(gw_service *s)
{
	static sl_hold holds[N_ORDERS * LINES_MAX];
	for (int i = 0; i < N_ITEMS; i++) {
		sl_item_key k;
		size_t n = 0;
		bool has_more = true;
		key_set(&k, i);
		assert_int_equal(ledger_holds_list(gw_service_ledger(s), &k, "", "",
		                                   sizeof(holds) / sizeof(holds[0]), holds, &n,
		                                   &has_more),
		                 SL_OK);
		assert_false(has_more);
		int64_t want = 0, got = 0;
		size_t want_n = 0;
		for (int oi = 0; oi < N_ORDERS; oi++)
			for (int j = 0; j < M.orders[oi].n; j++)
				if (M.orders[oi].lines[j].item == i &&
				    M.orders[oi].lines[j].held > 0) {
					want += M.orders[oi].lines[j].held;
					want_n++;
				}
		for (size_t h = 0; h < n; h++) {
			int oi = order_index(holds[h].order_id);
			assert_true(oi >= 0);
			const m_line *l = NULL;
			for (int j = 0; j < M.orders[oi].n; j++)
				if (strcmp(M.orders[oi].lines[j].id, holds[h].line_id) == 0)
					l = &M.orders[oi].lines[j];
			assert_non_null(l);
			assert_int_equal(holds[h].held, l->held);
			assert_int_equal(holds[h].held_preorder, l->pre);
			got += holds[h].held;
		}
		assert_int_equal(n, want_n);
		assert_int_equal(got, want);
	}
}

static void check_all(gw_service *s, int n_orders)
{
	for (int i = 0; i < N_ITEMS; i++) {
		check_item(s, i);
		check_explain(s, i);
	}
	for (int oi = 0; oi < n_orders; oi++)
		check_order(s, oi);
	check_holds(s);
}

static void setup_items(gw_service *s)
{
	for (int i = 0; i < N_ITEMS; i++) {
		M.items[i].tracking = M_DELETED; /* never created: item_cmd creates it */
		setting_apply(s, i);
	}
}

/* model_run drives a service whose writer keeps at most views_bytes_max bytes of committed
 * views in memory (0: the default) through the random stream. */
static void model_run(size_t views_bytes_max)
{
	const char *seed_env = getenv("SL_SEED");
	const char *n_env = getenv("SL_MODEL_COMMANDS");
	uint64_t seed = seed_env != NULL ? strtoull(seed_env, NULL, 10) : (uint64_t)time(NULL);
	int n_commands = n_env != NULL ? (int)strtol(n_env, NULL, 10) : COMMANDS_DEFAULT;
	print_message("  orders model seed %llu (replay with SL_SEED=%llu), %d commands\n",
	              (unsigned long long)seed, (unsigned long long)seed, n_commands);
	rng_state = seed * 2654435761u + 1;
	memset(&M, 0, sizeof(M));
	M.trigger = SL_TRIGGER_ON_ORDER_PLACED;
	n_tally = 0;
	m_stopped = 0;
	m_resets = 0;

	gw_config cfg = {.data_dir = data_dir,
	                 .default_location = "default",
	                 .views_bytes_max = views_bytes_max};
	gw_service *s = NULL;
	char errbuf[512];
	assert_int_equal(gw_service_open(&cfg, &s, errbuf, sizeof(errbuf)), SL_OK);
	setup_items(s);

	static slot slots[BATCH];
	static const char *want[BATCH];
	static bool want_replayed[BATCH], want_unchanged[BATCH];
	static sl_command cmds[BATCH];
	static sl_command sent[BATCH]; /* type and order id as sent (the service takes cmds) */
	int n_orders = 0, done = 0, replays = 0, refusals = 0;
	sl_command last_keyed;
	bool has_last_keyed = false;
	memset(&last_keyed, 0, sizeof(last_keyed));
	while (done < n_commands) {
		int nb = 0;
		for (; nb < BATCH && done + nb < n_commands; nb++) {
			sl_command *c = &cmds[nb];
			want_replayed[nb] = false;
			if (has_last_keyed && rng() % 10 == 0) {
				/* a retry of the last keyed command that succeeded: the original */
				*c = last_keyed;
				c->lines = NULL;
				if (last_keyed.n_lines > 0) {
					c->lines = calloc(last_keyed.n_lines, sizeof(*c->lines));
					memcpy(c->lines, last_keyed.lines,
					       last_keyed.n_lines * sizeof(*c->lines));
				}
				want[nb] = "OK";
				want_replayed[nb] = true;
				want_unchanged[nb] = false;
				replays++;
				continue;
			}
			gen(c, &n_orders);
			if (rng() % 4 == 0)
				snprintf(c->key, sizeof(c->key), "k-%d", done + nb);
			want[nb] = m_apply(c, &want_unchanged[nb]);
			m_kept_lower();
			if (c->key[0] != '\0' && strcmp(want[nb], "OK") == 0) {
				sl_command_fini(&last_keyed);
				last_keyed = *c;
				last_keyed.lines = NULL;
				if (c->n_lines > 0) {
					last_keyed.lines = calloc(c->n_lines, sizeof(*c->lines));
					memcpy(last_keyed.lines, c->lines,
					       c->n_lines * sizeof(*c->lines));
				}
				has_last_keyed = true;
			}
		}
		pthread_mutex_lock(&done_lock);
		pending = nb;
		pthread_mutex_unlock(&done_lock);
		for (int i = 0; i < nb; i++) {
			slots[i].is_done = false;
			sent[i] = cmds[i];
			gw_service_submit(s, &cmds[i], done_cb, &slots[i]);
		}
		pthread_mutex_lock(&done_lock);
		while (pending > 0)
			pthread_cond_wait(&done_cond, &done_lock);
		pthread_mutex_unlock(&done_lock);
		for (int i = 0; i < nb; i++) {
			Sl__Result *r =
			    sl__result__unpack(NULL, slots[i].result.len, slots[i].result.data);
			assert_non_null(r);
			const char *got = r->error != NULL ? r->error->code : "OK";
			if (strcmp(got, want[i]) != 0)
				fail_msg(
				    "command %d (type %d, order %s): service says %s (%s), model "
				    "says %s",
				    done + i, sent[i].type, sent[i].order_id, got,
				    r->error != NULL ? r->error->message : "", want[i]);
			if (r->error != NULL) {
				refusals++;
				tally_add(r->error->code);
			}
			assert_true(r->replayed == want_replayed[i]);
			if (!want_replayed[i])
				assert_true(r->unchanged == want_unchanged[i]);
			sl__result__free_unpacked(r, NULL);
		}
		done += nb;
		if ((done / BATCH) % 10 == 0)
			check_all(s, n_orders);
		if (rng() % 3 == 0)
			setting_apply(s, (int)(rng() % N_ITEMS));
		for (int i = 0; i < N_ITEMS; i++) /* an item that stopped counting, not for long */
			if (M.items[i].tracking != M_COUNTS && rng() % 4 == 0)
				setting_apply(s, i);
	}
	check_all(s, n_orders);
	print_message("  %d commands (%d orders, %d refused, %d replayed) agree with the model\n",
	              done, n_orders, refusals, replays);
	for (int i = 0; i < n_tally; i++)
		print_message("    refused %-24s %d\n", tally[i].code, tally[i].n);
	int n_untracked = 0;
	for (int oi = 0; oi < n_orders; oi++)
		for (int j = 0; j < M.orders[oi].n; j++)
			n_untracked += M.orders[oi].lines[j].untracked;
	int n_uncounted = 0;
	for (int oi = 0; oi < n_orders; oi++)
		for (int j = 0; j < M.orders[oi].n; j++)
			n_uncounted += M.orders[oi].lines[j].uncounted > 0;
	print_message("  items stopped counting %d times: %d lines untracked, %d refunds of "
	              "untracked lines; preorder counters reset %d times: %d lines hold "
	              "uncounted preorder units\n",
	              m_stopped, n_untracked, M.untracked_refunds, m_resets, n_uncounted);
	sl_command_fini(&last_keyed);
	for (int i = 0; i < BATCH; i++)
		sl_buf_fini(&slots[i].result);
	gw_service_close(s);

	/* a rebuild from the log reproduces every view byte for byte */
	ledger *l = NULL;
	assert_int_equal(ledger_open(data_dir, &l, errbuf, sizeof(errbuf)), SL_OK);
	unsigned char before[SL_HASH_BYTES];
	uint64_t n_before = 0;
	assert_int_equal(ledger_views_checksum(l, before, &n_before), SL_OK);
	projector_report rep;
	assert_int_equal(projector_rebuild(l, NULL, NULL, &rep), SL_OK);
	assert_int_equal(rep.views, n_before);
	assert_memory_equal(rep.checksum, before, SL_HASH_BYTES);
	assert_int_equal(projector_verify(l, NULL, NULL, &rep), SL_OK);
	assert_memory_equal(rep.checksum, before, SL_HASH_BYTES);
	print_message("  rebuild: %llu events, %llu view rows, checksum equal\n",
	              (unsigned long long)rep.events, (unsigned long long)rep.views);
	ledger_close(l);
}

static void test_order_flows_agree_with_the_model_and_rebuild_byte_identical(void **state)
{
	(void)state;
	model_run(0);
}

/* The writer decides on the views it committed, kept in memory (gateway/service.c); with a
 * bound of one byte it forgets them before every group, so that most views come from the
 * store again and the views of the group before from memory. */
static void
test_order_flows_agree_with_the_model_when_the_writer_forgets_its_views_each_group(void **state)
{
	(void)state;
	model_run(1);
}

static int dir_setup(void **state)
{
	(void)state;
	return sl_test_dir_make(data_dir, sizeof(data_dir), "orders-model");
}

static int dir_teardown(void **state)
{
	(void)state;
	return sl_test_dir_remove(data_dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_order_flows_agree_with_the_model_and_rebuild_byte_identical, dir_setup,
	        dir_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_order_flows_agree_with_the_model_when_the_writer_forgets_its_views_each_group,
	        dir_setup, dir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * stock.c: the stock fold. An event carries the whole state before and after, so the fold
 * checks that the event continues the view (same before-state, next item_seq) and takes the
 * after-state; the bookkeeping (revision, dates, numeric id, sequence numbers, availability)
 * is derived here and nowhere else:
 *   revision: the item's event count (item_seq): 1 on the first create, +1 on every other
 *   event, and a create after a delete goes on from there (a revision of an earlier life of
 *   the key never matches the new one);
 *   createdDate, numericId: the time and seq of the create; updatedDate: the latest event.
 */
#include "projector/stock.h"

#include <string.h>

#include "base/banned.h"
#include "ledger/rules.h"

int stock_event_is_item(const sl_event *ev)
{
	return ev->type >= SL_EV_ITEM_CREATED && ev->type <= SL_EV_ITEM_DECREMENTED;
}

static int state_equal(const sl_item_state *a, const sl_item_state *b)
{
	return a->exists == b->exists && a->track_quantity == b->track_quantity &&
	       a->quantity == b->quantity && a->in_stock == b->in_stock &&
	       a->preorder_enabled == b->preorder_enabled &&
	       a->has_preorder_limit == b->has_preorder_limit &&
	       a->preorder_limit == b->preorder_limit &&
	       a->preorder_counter == b->preorder_counter &&
	       a->preorder_since == b->preorder_since &&
	       strcmp(a->preorder_message, b->preorder_message) == 0;
}

sl_err stock_view_apply(sl_item *view, const sl_event *ev)
{
	if (!stock_event_is_item(ev))
		return SL_ERR_CORRUPT;
	bool is_first = view->item_seq == 0;
	if (!is_first && sl_item_key_cmp(&view->key, &ev->item) != 0)
		return SL_ERR_CORRUPT;
	if (ev->item_seq != view->item_seq + 1 || !state_equal(&view->state, &ev->before))
		return SL_ERR_CORRUPT;
	/* The type must fit the states: a create brings the item into being, a delete ends
	 * it, anything else needs it before and leaves it after. */
	if ((ev->type == SL_EV_ITEM_CREATED) != (!ev->before.exists && ev->after.exists))
		return SL_ERR_CORRUPT;
	if (ev->type != SL_EV_ITEM_CREATED &&
	    (!ev->before.exists || ev->after.exists != (ev->type != SL_EV_ITEM_DELETED)))
		return SL_ERR_CORRUPT;

	view->key = ev->item;
	view->state = ev->after;
	view->revision = (int64_t)ev->item_seq;
	if (ev->type == SL_EV_ITEM_CREATED) {
		view->created_ms = ev->time_ms;
		view->numeric_id = ev->seq;
	}
	view->updated_ms = ev->time_ms;
	view->item_seq = ev->item_seq;
	view->last_seq = ev->seq;
	view->status = ledger_item_status(&view->state);
	return SL_OK;
}

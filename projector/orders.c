/*
 * orders.c: the order fold. An order command's events come as the order's event (status
 * before and after) followed by one event per changed line (line state before and after),
 * each with the next order_seq; the fold checks that each continues the view and takes
 * the after-state, appending the event's seq to the line's trail. The bookkeeping
 * (createdDate at placement, updatedDate, order_seq, last_seq) is derived here only.
 */
#include "projector/orders.h"

#include <stdlib.h>
#include <string.h>

#include "base/banned.h"

static int is_order_type(sl_event_type t)
{
	return t >= SL_EV_ORDER_PLACED && t <= SL_EV_ORDER_EDITED;
}

int order_event_is_order(const sl_event *ev)
{
	return is_order_type(ev->type) || ev->order_line_id[0] != '\0';
}

static sl_err apply_order_event(sl_order *view, const sl_event *ev)
{
	if (ev->type == SL_EV_ORDER_PLACED) {
		if (view->order_seq != 0 || ev->order_status_before != SL_ORDER_NONE)
			return SL_ERR_CORRUPT;
		memset(view, 0, sizeof(*view));
		memcpy(view->order_id, ev->order_id, sizeof(view->order_id));
		view->trigger = ev->trigger;
		view->created_ms = ev->time_ms;
	} else if (view->order_seq == 0 || view->status != ev->order_status_before ||
	           view->trigger != ev->trigger) {
		return SL_ERR_CORRUPT;
	}
	view->status = ev->order_status;
	return SL_OK;
}

static sl_err apply_line_event(sl_order *view, const sl_event *ev)
{
	sl_order_line *line = sl_order_line_find(view, ev->order_line_id);
	if (line == NULL) {
		static const sl_order_line_state zero;
		if (!sl_order_line_state_equal(&ev->line_before, &zero) ||
		    view->n_lines >= SL_ORDER_LINES_MAX)
			return SL_ERR_CORRUPT;
		sl_order_line *lines = realloc(view->lines, (view->n_lines + 1) * sizeof(*lines));
		if (lines == NULL)
			return SL_ERR_NOMEM;
		view->lines = lines;
		line = &lines[view->n_lines++];
		memset(line, 0, sizeof(*line));
		memcpy(line->line_id, ev->order_line_id, sizeof(line->line_id));
		line->item = ev->item;
	} else if (sl_item_key_cmp(&line->item, &ev->item) != 0 ||
	           !sl_order_line_state_equal(&line->state, &ev->line_before) ||
	           line->n_seqs >= SL_ORDER_LINE_EVENTS_MAX) {
		return SL_ERR_CORRUPT;
	}
	line->state = ev->line_after;
	line->seqs[line->n_seqs++] = ev->seq;
	return SL_OK;
}

sl_err order_view_apply(sl_order *view, const sl_event *ev)
{
	if (!order_event_is_order(ev) || ev->order_seq != view->order_seq + 1)
		return SL_ERR_CORRUPT;
	if (view->order_seq != 0 && strcmp(view->order_id, ev->order_id) != 0)
		return SL_ERR_CORRUPT;
	sl_err rc;
	if (is_order_type(ev->type)) {
		/* check first, so that a refused event leaves the view as it was */
		sl_order check = *view;
		if ((rc = apply_order_event(&check, ev)) != SL_OK)
			return rc;
		view->status = check.status;
		if (ev->type == SL_EV_ORDER_PLACED) {
			memcpy(view->order_id, check.order_id, sizeof(view->order_id));
			view->trigger = check.trigger;
			view->created_ms = check.created_ms;
		}
	} else {
		if (view->order_seq == 0)
			return SL_ERR_CORRUPT; /* a line before its order */
		if ((rc = apply_line_event(view, ev)) != SL_OK)
			return rc;
	}
	view->order_seq = ev->order_seq;
	view->last_seq = ev->seq;
	view->updated_ms = ev->time_ms;
	return SL_OK;
}

int settings_event_is_settings(const sl_event *ev)
{
	return ev->type == SL_EV_SETTINGS_UPDATED;
}

sl_err settings_view_apply(sl_settings *view, const sl_event *ev)
{
	sl_trigger cur =
	    view->trigger != SL_TRIGGER_UNKNOWN ? view->trigger : SL_TRIGGER_ON_ORDER_PLACED;
	if (!settings_event_is_settings(ev) || ev->trigger_before != cur ||
	    (ev->trigger != SL_TRIGGER_ON_ORDER_PLACED && ev->trigger != SL_TRIGGER_ON_ORDER_PAID))
		return SL_ERR_CORRUPT;
	view->trigger = ev->trigger;
	view->updated_ms = ev->time_ms;
	view->last_seq = ev->seq;
	return SL_OK;
}

/*
 * types.c: lifecycle helpers of the domain records (commands and refusals own heap arrays).
 */
#include "ledger/types.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/banned.h"

void sl_command_fini(sl_command *cmd)
{
	if (cmd == NULL)
		return;
	free(cmd->lines);
	cmd->lines = NULL;
	cmd->n_lines = 0;
	free(cmd->query); /* plain data, no pointers inside */
	cmd->query = NULL;
}

bool sl_cmd_is_write(sl_cmd_type type)
{
	return (type >= SL_CMD_CREATE && type <= SL_CMD_DECREMENT) || sl_cmd_is_order(type);
}

bool sl_cmd_is_order(sl_cmd_type type)
{
	return type >= SL_CMD_SETTINGS_SET && type <= SL_CMD_ORDER_EDIT;
}

size_t sl_command_events_max(const sl_command *cmd)
{
	switch (cmd->type) {
	case SL_CMD_ORDER_PAY:
	case SL_CMD_ORDER_PAYMENT_FAILED:
	case SL_CMD_ORDER_CANCEL:
	case SL_CMD_ORDER_EDIT:
		/* Every line of the order may move (an edit also restocks lines it drops). The
		 * bound is the worst case, so a group holds at most about 13 such commands. A
		 * writer that took commands by their likely events and carried the ones that did
		 * not fit to the next group was built and measured (docs/BENCHMARKS.md, "What
		 * changed"): bigger groups, fewer orders/s on this machine. */
		return SL_ORDER_COMMAND_EVENTS_MAX;
	case SL_CMD_ORDER_PLACE:
	case SL_CMD_ORDER_REFUND:
		return cmd->n_lines + 1;
	default:
		return cmd->n_lines > 0 ? cmd->n_lines : 1;
	}
}

void sl_order_fini(sl_order *order)
{
	if (order == NULL)
		return;
	free(order->lines);
	order->lines = NULL;
	order->n_lines = 0;
}

sl_err sl_order_copy(sl_order *dst, const sl_order *src)
{
	sl_order_line *lines = NULL;
	if (src->n_lines > 0) {
		lines = malloc(src->n_lines * sizeof(*lines));
		if (lines == NULL)
			return SL_ERR_NOMEM;
		memcpy(lines, src->lines, src->n_lines * sizeof(*lines));
	}
	sl_order_fini(dst);
	*dst = *src;
	dst->lines = lines;
	return SL_OK;
}

sl_order_line *sl_order_line_find(const sl_order *order, const char *line_id)
{
	for (size_t i = 0; i < order->n_lines; i++)
		if (strcmp(order->lines[i].line_id, line_id) == 0)
			return &order->lines[i];
	return NULL;
}

bool sl_order_is_closed(sl_order_status status)
{
	return status == SL_ORDER_CANCELED || status == SL_ORDER_PAYMENT_FAILED ||
	       status == SL_ORDER_REFUNDED;
}

void sl_error_info_fini(sl_error_info *info)
{
	if (info == NULL)
		return;
	free(info->shortages);
	info->shortages = NULL;
	info->n_shortages = 0;
}

sl_err sl_error_set(sl_error_info *info, sl_err code, const char *fmt, ...)
{
	va_list ap;
	info->code = code;
	va_start(ap, fmt);
	vsnprintf(info->message, sizeof(info->message), fmt, ap);
	va_end(ap);
	return code;
}

int64_t sl_order_line_uncounted(const sl_order_line_state *s, uint64_t item_since)
{
	return s->preorder_since != item_since ? s->held_preorder : s->held_preorder_uncounted;
}

bool sl_order_line_state_equal(const sl_order_line_state *a, const sl_order_line_state *b)
{
	return a->quantity == b->quantity && a->held == b->held &&
	       a->held_preorder == b->held_preorder && a->preorder_since == b->preorder_since &&
	       a->held_preorder_uncounted == b->held_preorder_uncounted &&
	       a->refunded == b->refunded && a->restocked == b->restocked &&
	       a->untracked == b->untracked;
}

int sl_item_key_cmp(const sl_item_key *a, const sl_item_key *b)
{
	int c = strcmp(a->product_id, b->product_id);
	if (c == 0)
		c = strcmp(a->variant_id, b->variant_id);
	if (c == 0)
		c = strcmp(a->location_id, b->location_id);
	return c;
}

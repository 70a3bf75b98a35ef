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
	return type >= SL_CMD_CREATE && type <= SL_CMD_DECREMENT;
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

int sl_item_key_cmp(const sl_item_key *a, const sl_item_key *b)
{
	int c = strcmp(a->product_id, b->product_id);
	if (c == 0)
		c = strcmp(a->variant_id, b->variant_id);
	if (c == 0)
		c = strcmp(a->location_id, b->location_id);
	return c;
}

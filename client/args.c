/*
 * args.c: the shapes of stockctl's arguments. Ids may not contain '/', '@' or '='
 * (sl_id_is_valid), which is what makes the separators unambiguous: the first '@' starts
 * the location, the first '/' the variant, the last '=' the quantity. In an OLINE the first
 * ':' ends the line id: line ids may not hold ':', item ids may, and an item whose id holds
 * one is then given with its line id ("1:a:b=2").
 */
#include "client/args.h"

#include <string.h>

#include "base/banned.h"
#include "base/sl_util.h"

sl_err sl_args_item(char *text, Sl__ItemKey *key)
{
	sl__item_key__init(key);
	if (text == NULL || text[0] == '\0')
		return SL_ERR_INVALID_ARGUMENT;
	char *at = strchr(text, '@');
	if (at != NULL) {
		*at = '\0';
		key->location_id = at + 1;
	}
	char *slash = strchr(text, '/');
	if (slash != NULL) {
		*slash = '\0';
		key->variant_id = slash + 1;
	}
	key->product_id = text;
	return SL_OK;
}

sl_err sl_args_line(char *text, Sl__Line *line, Sl__ItemKey *key, char **line_id)
{
	sl__line__init(line);
	char *eq = strrchr(text, '=');
	int64_t n;
	if (eq == NULL || sl_parse_i64(eq + 1, &n) != SL_OK)
		return SL_ERR_INVALID_ARGUMENT;
	char *colon = line_id != NULL ? strchr(text, ':') : NULL;
	if (colon == text)
		return SL_ERR_INVALID_ARGUMENT; /* ":ITEM=N": a line id given empty */
	*eq = '\0';
	char *item = text;
	if (line_id != NULL) {
		*line_id = NULL;
		if (colon != NULL) {
			*colon = '\0';
			*line_id = text;
			item = colon + 1;
		}
	}
	sl_err rc = sl_args_item(item, key);
	if (rc != SL_OK) {
		/* the caller may quote the text it gave: give it back whole */
		*eq = '=';
		if (colon != NULL)
			*colon = ':';
		return rc;
	}
	line->item = key;
	line->has_quantity = true;
	line->quantity = n;
	return SL_OK;
}

sl_err sl_args_bool(const char *text, bool *out)
{
	if (strcmp(text, "true") == 0)
		*out = true;
	else if (strcmp(text, "false") == 0)
		*out = false;
	else
		return SL_ERR_INVALID_ARGUMENT;
	return SL_OK;
}

sl_err sl_args_u64(const char *text, uint64_t *out)
{
	int64_t v;
	if (text[0] == '-' || text[0] == '+' || sl_parse_i64(text, &v) != SL_OK || v < 0)
		return SL_ERR_INVALID_ARGUMENT;
	*out = (uint64_t)v;
	return SL_OK;
}

/*
 * args.h: the command-line grammar shared by stockctl and the tools that drive the service
 * (ITEM, LINE, OLINE, booleans, numbers), parsed into request structs of
 * proto/stockledger.proto. Parsing checks shape only; the service validates the ids.
 *
 * Parsers write into the text they are given (they cut it at the separators) and point the
 * outputs into it, so the outputs are valid as long as the text is. They allocate nothing.
 */
#ifndef SL_CLIENT_ARGS_H
#define SL_CLIENT_ARGS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/sl_err.h"
#include "stockledger.pb-c.h"

/* sl_args_item parses ITEM = PRODUCT[/VARIANT][@LOCATION] into key (initialised here);
 * absent parts stay absent, so the service fills its defaults. Returns
 * SL_ERR_INVALID_ARGUMENT if text is empty. */
sl_err sl_args_item(char *text, Sl__ItemKey *key);

/* sl_args_line parses LINE = ITEM=N into line and key (initialised here; line->item points
 * at key). When line_id is not NULL, text may start with LINE_ID: (OLINE), stored in
 * *line_id (NULL when absent). Returns SL_ERR_INVALID_ARGUMENT when '=' or the number is
 * missing or N is not an integer; the sign of N is the service's to judge. */
sl_err sl_args_line(char *text, Sl__Line *line, Sl__ItemKey *key, char **line_id);

/* sl_args_bool parses "true" or "false". Returns SL_ERR_INVALID_ARGUMENT otherwise. */
sl_err sl_args_bool(const char *text, bool *out);

/* sl_args_u64 parses a non-negative decimal integer. Returns SL_ERR_INVALID_ARGUMENT on
 * junk, a sign or overflow. */
sl_err sl_args_u64(const char *text, uint64_t *out);

#endif

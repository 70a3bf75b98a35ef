/*
 * wire.h: the gateway's codec of the client envelope (proto/stockledger.proto Request and
 * Response). The only file of gateway/ that calls the generated protobuf-c functions.
 *
 * Decoding is where untrusted bytes become bounded C records: a string that does not fit
 * its bound marks the command (malformed_field) and the rules refuse it with a clear error.
 */
#ifndef SL_WIRE_H
#define SL_WIRE_H

#include "base/sl_buf.h"
#include "ledger/types.h"

/* gw_request_decode decodes a Request of len bytes into *cmds (n_cmds entries; free with
 * gw_commands_free). Missing variant and location ids take the defaults (default_location
 * for the location). Each command's content_hash is computed here. Returns
 * SL_ERR_MALFORMED if the bytes are no Request, SL_ERR_INVALID_ARGUMENT if it holds no
 * command, SL_ERR_LIMIT_EXCEEDED past SL_REQUEST_COMMANDS_MAX or a command's line limit;
 * err then says why. */
sl_err gw_request_decode(const uint8_t *data, size_t len, const char *default_location,
                         sl_command **cmds, size_t *n_cmds, sl_error_info *err);

/* gw_commands_free frees n commands of an array from gw_request_decode; NULL is a no-op. */
void gw_commands_free(sl_command *cmds, size_t n);

/* gw_response_encode writes a Response of n encoded Results into out. */
sl_err gw_response_encode(const sl_buf *results, size_t n, sl_buf *out);

/* gw_response_error writes a Response that carries only an envelope error into out. */
sl_err gw_response_error(const sl_error_info *err, sl_buf *out);

#endif

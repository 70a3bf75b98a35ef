/*
 * echo.h: an nng REP server that sends every request back unchanged, served by the same
 * number of contexts as the real gateway. It is the transport's limit in the benchmark: a
 * request/reply over it costs what the gateway costs minus decoding, deciding and syncing.
 * Answering, it replies to a Request of n commands with a Response of n copies of one given
 * result, without decoding or deciding anything: the limit of a client that coalesces
 * commands, which reads one result per command.
 */
#ifndef SL_ECHO_H
#define SL_ECHO_H

#include <stddef.h>
#include <stdint.h>

#include "base/sl_err.h"

typedef struct gw_echo gw_echo;

/* gw_echo_start listens on url with contexts (1..SL_GATEWAY_CONTEXTS) REP contexts. On
 * failure writes a message into errbuf and returns SL_ERR_UNAVAILABLE (cannot listen),
 * SL_ERR_INVALID_ARGUMENT or SL_ERR_NOMEM. */
sl_err gw_echo_start(const char *url, size_t contexts, gw_echo **out, char *errbuf,
                     size_t errbuf_size);

/* gw_echo_start_answering is gw_echo_start for a server that answers each Request with
 * result (an encoded Result, copied) once per command; a message that is no Request is sent
 * back unchanged. */
sl_err gw_echo_start_answering(const char *url, size_t contexts, const uint8_t *result,
                               size_t result_len, gw_echo **out, char *errbuf, size_t errbuf_size);

/* gw_echo_stop closes the socket and frees the server; NULL is a no-op. */
void gw_echo_stop(gw_echo *e);

#endif

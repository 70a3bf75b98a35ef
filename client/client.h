/*
 * client.h: the C client of stockledgerd, used by stockctl (and later the bench and the
 * bridge). It speaks the envelope of proto/stockledger.proto over an nng REQ socket.
 *
 * A client is one connection; sl_client_call may be called from one thread at a time.
 * Requests are never resent by the transport on a timer: a command without a key must not
 * be applied twice because a reply was slow. Replies are bounded by SL_TRANSPORT_BYTES_MAX.
 */
#ifndef SL_CLIENT_H
#define SL_CLIENT_H

#include <stddef.h>

#include "base/sl_buf.h"
#include "base/sl_err.h"
#include "stockledger.pb-c.h"

typedef struct sl_client sl_client;

/* sl_client_open dials url (tcp:// or ipc://) and returns a client in *out. timeout_ms bounds
 * each call (0: 10 s). Returns SL_ERR_UNAVAILABLE if the service cannot be reached (the
 * dial is not retried), SL_ERR_INVALID_ARGUMENT for a bad url, SL_ERR_NOMEM. */
sl_err sl_client_open(const char *url, int timeout_ms, sl_client **out);

/* sl_client_open_why is sl_client_open that, on failure, also writes a short lower-case
 * cause ("connection refused") into why (why_size bytes; why may be NULL). */
sl_err sl_client_open_why(const char *url, int timeout_ms, sl_client **out, char *why,
                          size_t why_size);

/* sl_client_close closes c; NULL is a no-op. */
void sl_client_close(sl_client *c);

/* sl_client_call sends req and waits for the reply, which it returns in *out (free it with
 * sl__response__free_unpacked(*out, NULL)). Returns SL_ERR_UNAVAILABLE when the service
 * does not answer in time or the connection fails, SL_ERR_MALFORMED when the reply cannot
 * be decoded, SL_ERR_LIMIT_EXCEEDED when req encodes to more than SL_REQUEST_BYTES_MAX,
 * SL_ERR_NOMEM; *out is untouched then. */
sl_err sl_client_call(sl_client *c, const Sl__Request *req, Sl__Response **out);

/* sl_client_why returns a short lower-case cause of the last failed sl_client_call on c
 * ("timed out after 10000 ms"), "" if none; valid until the next call on c. */
const char *sl_client_why(const sl_client *c);

/*
 * The envelope codec, shared with client/mux.c (this file is the client's one caller of the
 * generated protobuf-c functions). A Request is a repeated field of commands, so a request
 * can be built by appending commands encoded on other threads: that is what coalescing does.
 */

/* sl_client_command_encode writes the encoding of cmd into out (replacing its content).
 * SL_ERR_LIMIT_EXCEEDED if it is larger than SL_REQUEST_BYTES_MAX; SL_ERR_NOMEM. */
sl_err sl_client_command_encode(const Sl__Command *cmd, sl_buf *out);

/* sl_client_request_append appends one encoded command (from sl_client_command_encode) to
 * the Request being built in req. Errors as sl_buf_append. */
sl_err sl_client_request_append(sl_buf *req, const uint8_t *cmd, size_t len);

/* sl_client_results_decode decodes a reply to a request of n commands into results[0..n)
 * (each freed by the caller with sl__result__free_unpacked). An envelope error becomes the
 * result of every command. Returns SL_ERR_MALFORMED (with a cause in why) if the reply is
 * no Response or holds another number of results; results are untouched then. */
sl_err sl_client_results_decode(const uint8_t *data, size_t len, size_t n, Sl__Result **results,
                                char *why, size_t why_size);

#endif

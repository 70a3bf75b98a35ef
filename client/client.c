/*
 * client.c: the client side of the envelope over one nng REQ socket. The one place where the
 * client translates nng's errors into sl_err (nng_err_to_sl).
 *
 * The dial is synchronous and not retried, so an unreachable service fails at open. The
 * REQ resend timer is disabled: a slow reply must not make the service apply a command
 * without a key twice; the call times out instead, and the caller decides whether to retry
 * (with a key, a retry is safe). Each failure leaves a short cause in c->why.
 */
#include "client/client.h"

#include <ctype.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/banned.h"
#include "base/sl_limits.h"
#include "base/sl_util.h"
#include "client/close.h"

#define CLIENT_TIMEOUT_MS_DEFAULT 10000

struct sl_client {
	nng_socket sock;
	int timeout_ms;
	char why[128];
};

static sl_err nng_err_to_sl(int rv)
{
	switch (rv) {
	case 0:
		return SL_OK;
	case NNG_ENOMEM:
		return SL_ERR_NOMEM;
	case NNG_EADDRINVAL:
	case NNG_EINVAL:
	case NNG_ENOTSUP:
		return SL_ERR_INVALID_ARGUMENT;
	default:
		/* Refused, timed out, closed, reset, no such ipc path...: nobody answers. */
		return SL_ERR_UNAVAILABLE;
	}
}

/* why_set writes "what: nng's cause" in lower case (git's message style) into why. */
static void why_set(char *why, size_t why_size, const char *what, int rv)
{
	if (why == NULL || why_size == 0)
		return;
	snprintf(why, why_size, "%s%s%s", what, rv != 0 ? ": " : "",
	         rv != 0 ? nng_strerror(rv) : "");
	for (char *p = why; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
}

sl_err sl_client_open_why(const char *url, int timeout_ms, sl_client **out, char *why,
                          size_t why_size)
{
	sl_client *c = calloc(1, sizeof(*c));
	const char *what = "cannot open socket";
	int rv = NNG_ENOMEM;
	if (c == NULL)
		goto fail;
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : CLIENT_TIMEOUT_MS_DEFAULT;
	if ((rv = nng_req0_open(&c->sock)) != 0)
		goto fail_free;
	what = "cannot set socket options";
	if ((rv = nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO, c->timeout_ms)) != 0 ||
	    (rv = nng_socket_set_ms(c->sock, NNG_OPT_SENDTIMEO, c->timeout_ms)) != 0 ||
	    (rv = nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE)) != 0 ||
	    (rv = nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, SL_TRANSPORT_BYTES_MAX)) != 0)
		goto fail_close;
	what = "cannot connect";
	if ((rv = nng_dial(c->sock, url, NULL, 0)) != 0)
		goto fail_close;
	*out = c;
	return SL_OK;
fail_close:
	nng_close(c->sock);
fail_free:
	free(c);
fail:
	why_set(why, why_size, what, rv);
	return nng_err_to_sl(rv);
}

sl_err sl_client_open(const char *url, int timeout_ms, sl_client **out)
{
	return sl_client_open_why(url, timeout_ms, out, NULL, 0);
}

void sl_client_close(sl_client *c)
{
	if (c == NULL)
		return;
	(void)sl_nng_close_within(c->sock, SL_CLIENT_CLOSE_MS_MAX);
	free(c);
}

sl_err sl_client_call(sl_client *c, const Sl__Request *req, Sl__Response **out)
{
	nng_msg *msg = NULL;
	sl_err rc = SL_OK;
	int rv;
	c->why[0] = '\0';
	size_t len = sl__request__get_packed_size(req);
	if (len > SL_REQUEST_BYTES_MAX) {
		snprintf(c->why, sizeof(c->why), "request of %zu bytes: at most %u bytes", len,
		         SL_REQUEST_BYTES_MAX);
		return SL_ERR_LIMIT_EXCEEDED;
	}
	if ((rv = nng_msg_alloc(&msg, len)) != 0) {
		why_set(c->why, sizeof(c->why), "cannot allocate request", rv);
		return nng_err_to_sl(rv);
	}
	sl__request__pack(req, nng_msg_body(msg));
	if ((rv = nng_sendmsg(c->sock, msg, 0)) != 0) {
		/* On failure the message is still ours. */
		nng_msg_free(msg);
		why_set(c->why, sizeof(c->why), "cannot send request", rv);
		return rv == NNG_ENOMEM ? SL_ERR_NOMEM : SL_ERR_UNAVAILABLE;
	}
	msg = NULL;
	if ((rv = nng_recvmsg(c->sock, &msg, 0)) != 0) {
		if (rv == NNG_ETIMEDOUT)
			snprintf(c->why, sizeof(c->why), "no reply within %d ms", c->timeout_ms);
		else
			why_set(c->why, sizeof(c->why), "cannot receive reply", rv);
		return rv == NNG_ENOMEM ? SL_ERR_NOMEM : SL_ERR_UNAVAILABLE;
	}
	Sl__Response *res = sl__response__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
	if (res == NULL) {
		snprintf(c->why, sizeof(c->why), "cannot decode reply of %zu bytes",
		         nng_msg_len(msg));
		rc = SL_ERR_MALFORMED;
		goto fail;
	}
	*out = res;
fail:
	nng_msg_free(msg);
	return rc;
}

const char *sl_client_why(const sl_client *c)
{
	return c->why;
}

sl_err sl_client_command_encode(const Sl__Command *cmd, sl_buf *out)
{
	size_t len = sl__command__get_packed_size(cmd);
	if (len > SL_REQUEST_BYTES_MAX)
		return SL_ERR_LIMIT_EXCEEDED;
	out->len = 0;
	sl_err rc = sl_buf_reserve(out, len);
	if (rc != SL_OK)
		return rc;
	out->len = sl__command__pack(cmd, out->data);
	return SL_OK;
}

sl_err sl_client_request_append(sl_buf *req, const uint8_t *cmd, size_t len)
{
	/* Request.commands is field 1, length-delimited: tag 0x0a, varint length, bytes. */
	uint8_t head[1 + 10];
	size_t n = 0;
	head[n++] = 0x0a;
	size_t v = len;
	do {
		head[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v != 0);
	sl_err rc = sl_buf_append(req, head, n);
	return rc == SL_OK ? sl_buf_append(req, cmd, len) : rc;
}

sl_err sl_client_results_decode(const uint8_t *data, size_t len, size_t n, Sl__Result **results,
                                char *why, size_t why_size)
{
	sl_err rc = SL_OK;
	size_t done = 0;
	uint8_t *err_result = NULL;
	Sl__ResponseRaw *raw = sl__response_raw__unpack(NULL, len, data);
	if (raw == NULL) {
		snprintf(why, why_size, "cannot decode reply of %zu bytes", len);
		return SL_ERR_MALFORMED;
	}
	size_t err_len = 0;
	if (raw->error != NULL) {
		/* The envelope was refused: every command gets that refusal as its result. */
		Sl__Result r;
		sl__result__init(&r);
		r.error = raw->error;
		err_len = sl__result__get_packed_size(&r);
		err_result = malloc(err_len > 0 ? err_len : 1);
		if (err_result == NULL) {
			rc = SL_ERR_NOMEM;
			goto done;
		}
		sl__result__pack(&r, err_result);
	} else if (raw->n_results != n) {
		snprintf(why, why_size, "reply holds %zu results for %zu commands", raw->n_results,
		         n);
		rc = SL_ERR_MALFORMED;
		goto done;
	}
	for (done = 0; done < n; done++) {
		const uint8_t *d = err_result != NULL ? err_result : raw->results[done].data;
		size_t l = err_result != NULL ? err_len : raw->results[done].len;
		results[done] = sl__result__unpack(NULL, l, d);
		if (results[done] == NULL) {
			snprintf(why, why_size, "cannot decode result %zu of the reply", done + 1);
			rc = SL_ERR_MALFORMED;
			break;
		}
	}
	if (rc != SL_OK)
		for (size_t i = 0; i < done; i++) {
			sl__result__free_unpacked(results[i], NULL);
			results[i] = NULL;
		}
done:
	free(err_result);
	sl__response_raw__free_unpacked(raw, NULL);
	return rc;
}

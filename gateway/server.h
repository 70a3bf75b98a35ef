/*
 * server.h: the nng transport of the service: a REP socket served by SL_GATEWAY_CONTEXTS
 * concurrent contexts, each running the async state machine of server.c. The only folder
 * that includes nng on the server side.
 */
#ifndef SL_SERVER_H
#define SL_SERVER_H

#include "gateway/service.h"

typedef struct gw_server gw_server;

/* gw_listen_url_check tells whether url is one gw_server_start can listen on as written: a
 * tcp:// URL with a numeric port (0 picks one), or an ipc:// path. SL_ERR_INVALID_ARGUMENT
 * with why otherwise; it does not bind (a port in use is found at start). */
sl_err gw_listen_url_check(const char *url, char *why, size_t why_size);

/* gw_server_start listens on url (tcp:// or ipc://) and serves requests into svc, filling
 * missing locations with default_location. On failure writes a message into errbuf. */
sl_err gw_server_start(gw_service *svc, const char *url, const char *default_location,
                       gw_server **out, char *errbuf, size_t errbuf_size);

/* gw_server_url copies into buf (n bytes) the URL srv listens on, with the port the system
 * gave when the URL asked for port 0 ("tcp://127.0.0.1:0": a free port, as tests and
 * benches use). SL_ERR_LIMIT_EXCEEDED if it does not fit, SL_ERR_NOMEM, or
 * SL_ERR_INVALID_ARGUMENT if nng cannot say (a transport without a URL option). */
sl_err gw_server_url(const gw_server *srv, char *buf, size_t n);

/* gw_server_stop answers new requests UNAVAILABLE, waits for the requests in flight to be
 * decided and answered, closes the socket and frees the server. It always ends: if nng does
 * not close the socket within SL_SERVER_CLOSE_MS_MAX, the close (and the freeing) goes on
 * on a thread of its own, which no longer uses svc. svc must still be open at the call.
 * NULL is a no-op. */
void gw_server_stop(gw_server *srv);

#endif

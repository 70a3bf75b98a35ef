/*
 * server.h: the nng transport of the service: a REP socket served by SL_GATEWAY_CONTEXTS
 * concurrent contexts, each running the async state machine of server.c. The only folder
 * that includes nng on the server side.
 */
#ifndef SL_SERVER_H
#define SL_SERVER_H

#include "gateway/service.h"

typedef struct gw_server gw_server;

/* gw_server_start listens on url (tcp:// or ipc://) and serves requests into svc, filling
 * missing locations with default_location. On failure writes a message into errbuf. */
sl_err gw_server_start(gw_service *svc, const char *url, const char *default_location,
                       gw_server **out, char *errbuf, size_t errbuf_size);

/* gw_server_stop closes the socket (no new requests), waits for the requests in flight to
 * be decided, and frees the server. svc must still be open. NULL is a no-op. */
void gw_server_stop(gw_server *srv);

#endif

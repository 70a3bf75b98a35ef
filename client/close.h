/*
 * close.h: closing a client's nng socket within a bound.
 *
 * Why: nng 1.5.2 (Debian 12) can block in nng_close for ever when a REQ socket is closed
 * while its connection still carries requests (upstream nng issues 1543 and 1813: the pipe
 * being reaped waits for a transfer that never ends). A close with 3,000 coalesced commands
 * in flight hung in 1 to 4 runs of 10 (found by a crash test). The daemon bounds its own
 * close the same way (gateway/server.c); a client must not hang its caller either.
 */
#ifndef SL_CLIENT_CLOSE_H
#define SL_CLIENT_CLOSE_H

#include <nng/nng.h>
#include <stdbool.h>

/* sl_nng_close_within closes sock on a thread of its own and waits for it at most ms.
 * Returns true when the socket closed; false when it did not in time: the close goes on
 * (detached; what nng holds for the socket is then leaked until it returns, if ever), and
 * the caller may free everything of its own, since nothing of it is handed to the thread.
 * Call it only once no operation of the caller's is outstanding on the socket. */
bool sl_nng_close_within(nng_socket sock, int ms);

#endif

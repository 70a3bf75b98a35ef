/*
 * close.c: closing a client's nng socket within a bound (see close.h).
 */
#include "client/close.h"

#include <pthread.h>
#include <stdlib.h>

#include "base/banned.h"
#include "base/sl_util.h"

/* closing: what the waiter and the closing thread share; the last of the two frees it. */
typedef struct closing {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	nng_socket sock;
	bool is_closed;
	int refs;
} closing;

static void closing_release(closing *c)
{
	pthread_mutex_lock(&c->lock);
	bool is_last = --c->refs == 0;
	pthread_mutex_unlock(&c->lock);
	if (!is_last)
		return;
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static void *closing_main(void *arg)
{
	closing *c = arg;
	sl_thread_name("sl:close");
	nng_close(c->sock);
	pthread_mutex_lock(&c->lock);
	c->is_closed = true;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
	closing_release(c);
	return NULL;
}

bool sl_nng_close_within(nng_socket sock, int ms)
{
	closing *c = calloc(1, sizeof(*c));
	pthread_t thread;
	if (c == NULL) {
		nng_close(sock); /* no memory for a thread's state: close here, unbounded */
		return true;
	}
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	c->sock = sock;
	c->refs = 2;
	if (pthread_create(&thread, NULL, closing_main, c) != 0) {
		c->refs = 1;
		closing_release(c);
		nng_close(sock);
		return true;
	}
	struct timespec deadline;
	sl_deadline_after_ms(&deadline, ms);
	pthread_mutex_lock(&c->lock);
	while (!c->is_closed && pthread_cond_timedwait(&c->cond, &c->lock, &deadline) == 0)
		;
	bool is_closed = c->is_closed;
	pthread_mutex_unlock(&c->lock);
	if (is_closed)
		pthread_join(thread, NULL);
	else
		pthread_detach(thread);
	closing_release(c);
	return is_closed;
}

/*
 * reads.c: the audit reads and the change feed (see reads.h).
 *
 * The feed's thread, one turn per wake-up:
 *
 *   wait (cond, until the earliest deadline) --notify / deadline / flush--> take every
 *   parked call whose events exist or whose deadline passed --> answer them unlocked
 *
 * A parked call is answered with the events that exist when it is answered (possibly none,
 * when its wait ran out), so a client loop of "read from my next seq" never misses or
 * repeats an event, whether the events came from the log or live.
 */
#include "gateway/reads.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/banned.h"
#include "base/sl_util.h"
#include "ledger/asof.h"
#include "ledger/codec.h"
#include "ledger/query.h"
#include "ledger/rules.h"
#include "projector/explain.h"

static void refuse(sl_error_info *err, sl_buf *out)
{
	ledger_result r = {.error = err};
	ledger_result_encode_or_empty(&r, out);
	sl_error_info_fini(err);
}

/* key_check validates the item key of cmd; fills err. A field the decoder marked first: an
 * id that is not text must not be quoted in the message, which is text too. */
static sl_err key_check(const sl_command *cmd, sl_error_info *err)
{
	if (cmd->malformed_field[0] != '\0')
		return sl_error_set(err, SL_ERR_INVALID_ARGUMENT, "%s is too long or malformed",
		                    cmd->malformed_field);
	return ledger_item_key_validate(&cmd->item, err);
}

/* pin_seq resolves as_of_seq / as_of_ms of cmd against the head of snap. */
static sl_err pin_seq(ledger *l, const store_snap *snap, const sl_command *cmd, uint64_t *pin,
                      sl_error_info *err)
{
	uint64_t head;
	sl_err rc = ledger_snap_head(l, snap, &head);
	if (rc == SL_OK)
		rc = ledger_views_cap(l, &head); /* a reference's views answer up to their seq */
	if (rc != SL_OK)
		return sl_error_set(err, rc, "cannot read the head: %s", sl_strerror(rc));
	if (cmd->has_as_of_seq) {
		if (cmd->as_of_seq > head)
			return sl_error_set(
			    err, SL_ERR_INVALID_ARGUMENT, "as-of seq %llu is past the head %llu",
			    (unsigned long long)cmd->as_of_seq, (unsigned long long)head);
		*pin = cmd->as_of_seq;
		return SL_OK;
	}
	rc = ledger_seq_at_time(l, snap, head, cmd->as_of_ms, pin);
	if (rc != SL_OK)
		return sl_error_set(err, rc, "cannot find the seq of that time: %s",
		                    sl_strerror(rc));
	return SL_OK;
}

void gw_read_get_as_of(ledger *l, const sl_command *cmd, sl_buf *out)
{
	sl_error_info err;
	sl_item now, past;
	uint64_t pin = 0;
	memset(&err, 0, sizeof(err));
	store_snap *snap = store_snap_take(ledger_store(l));
	sl_err rc =
	    snap == NULL ? sl_error_set(&err, SL_ERR_NOMEM, "out of memory") : key_check(cmd, &err);
	if (rc == SL_OK)
		rc = pin_seq(l, snap, cmd, &pin, &err);
	if (rc == SL_OK) {
		rc = ledger_view_get_at(l, snap, &cmd->item, &now);
		if (rc == SL_OK)
			rc = ledger_item_as_of(l, snap, &now, pin, &past);
		if (rc == SL_OK && !past.state.exists)
			rc = SL_ERR_NOT_FOUND;
		if (rc == SL_ERR_NOT_FOUND)
			sl_error_set(&err, rc, "item '%s/%s@%s' did not exist as of seq %llu",
			             cmd->item.product_id, cmd->item.variant_id,
			             cmd->item.location_id, (unsigned long long)pin);
		else if (rc != SL_OK)
			sl_error_set(&err, rc, "cannot read item: %s", sl_strerror(rc));
	}
	store_snap_release(ledger_store(l), snap);
	if (rc != SL_OK) {
		refuse(&err, out);
		return;
	}
	ledger_result r = {.items = &past, .n_items = 1, .seq = past.last_seq, .as_of_seq = pin};
	ledger_result_encode_or_empty(&r, out);
}

void gw_read_history(ledger *l, const sl_command *cmd, sl_buf *out)
{
	sl_error_info err;
	memset(&err, 0, sizeof(err));
	sl_err rc = key_check(cmd, &err);
	size_t limit = cmd->limit == 0 ? SL_HISTORY_PAGE_DEFAULT : cmd->limit;
	if (rc == SL_OK && limit > SL_HISTORY_PAGE_MAX)
		rc = sl_error_set(&err, SL_ERR_LIMIT_EXCEEDED,
		                  "limit %zu: at most %d events per page", limit,
		                  SL_HISTORY_PAGE_MAX);
	if (rc != SL_OK) {
		refuse(&err, out);
		return;
	}
	ledger_history_range range = {
	    .from_seq = cmd->from_seq,
	    .has_to_seq = cmd->has_to_seq,
	    .to_seq = cmd->to_seq,
	    .has_since_ms = cmd->has_since_ms,
	    .since_ms = cmd->since_ms,
	    .has_until_ms = cmd->has_until_ms,
	    .until_ms = cmd->until_ms,
	};
	sl_event *events = calloc(limit, sizeof(*events));
	store_snap *snap = store_snap_take(ledger_store(l));
	size_t n = 0;
	uint64_t next = 0, head = 0;
	if (events == NULL || snap == NULL) {
		rc = sl_error_set(&err, SL_ERR_NOMEM, "out of memory");
	} else if ((rc = ledger_snap_head(l, snap, &head)) != SL_OK ||
	           (rc = ledger_history_in(l, snap, &cmd->item, &range, cmd->after_item_seq, limit,
	                                   events, &n, &next)) != SL_OK) {
		sl_error_set(&err, rc, "cannot read history: %s", sl_strerror(rc));
	}
	store_snap_release(ledger_store(l), snap);
	if (rc != SL_OK) {
		refuse(&err, out);
	} else {
		ledger_result r = {.events = events,
		                   .n_events = n,
		                   .with_event_hashes = true,
		                   .next_item_seq = next,
		                   .seq = head};
		ledger_result_encode_or_empty(&r, out);
	}
	free(events);
}

void gw_read_query(ledger *l, const sl_command *cmd, sl_buf *out)
{
	sl_error_info err;
	memset(&err, 0, sizeof(err));
	ledger_query_page *page = malloc(sizeof(*page));
	sl_err rc = SL_OK;
	if (page == NULL)
		rc = sl_error_set(&err, SL_ERR_NOMEM, "out of memory");
	else if (cmd->query == NULL)
		rc = sl_error_set(&err, SL_ERR_INVALID_ARGUMENT, "query holds no query");
	else if (cmd->query->too_many_ids != NULL)
		rc = sl_error_set(&err, SL_ERR_LIMIT_EXCEEDED,
		                  "at most %d values of %s in one query", SL_QUERY_IN_MAX,
		                  cmd->query->too_many_ids);
	else if (cmd->malformed_field[0] != '\0')
		rc = sl_error_set(&err, SL_ERR_INVALID_ARGUMENT, "%s is too long or malformed",
		                  cmd->malformed_field);
	/* The index may lag the log by the groups the index thread has not written yet: a
	 * query waits for it to reach the head it starts at, so a client reads its writes. */
	if (rc == SL_OK && (rc = ledger_index_wait(l, ledger_head(l, NULL))) != SL_OK)
		sl_error_set(&err, rc, "the index cannot catch up with the log: %s",
		             sl_strerror(rc));
	if (rc == SL_OK)
		rc = ledger_query_run(l, cmd->query, page, &err);
	if (rc != SL_OK) {
		refuse(&err, out);
	} else {
		ledger_result r = {.items = page->items,
		                   .n_items = page->n_items,
		                   .next_cursor = page->next_cursor,
		                   .as_of_seq = page->as_of_seq,
		                   .has_as_of_seq = true,
		                   .seq = ledger_head(l, NULL)};
		ledger_result_encode_or_empty(&r, out);
	}
	free(page);
}

void gw_read_explain(ledger *l, const sl_command *cmd, sl_buf *out)
{
	sl_error_info err;
	memset(&err, 0, sizeof(err));
	projector_explanation *x = malloc(sizeof(*x));
	sl_err rc =
	    x == NULL ? sl_error_set(&err, SL_ERR_NOMEM, "out of memory") : key_check(cmd, &err);
	if (rc == SL_OK)
		rc = projector_explain(l, &cmd->item, x, &err);
	if (rc != SL_OK) {
		refuse(&err, out);
	} else {
		ledger_result r = {
		    .items = &x->item, .n_items = 1, .seq = x->item.last_seq, .explanation = &x->x};
		ledger_result_encode_or_empty(&r, out);
	}
	free(x);
}

/* ---- the change feed ---- */

typedef struct feed_call {
	uint64_t from_seq, to_seq;
	bool has_to_seq; /* false: no end */
	uint32_t limit;
	int64_t deadline_ms;
	gw_done_fn done;
	void *arg;
} feed_call;

struct gw_feed {
	ledger *l;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t generation; /* commits notified so far */
	feed_call parked[SL_FEED_WAITERS_MAX];
	size_t n_parked;
	bool is_closing;
	bool is_flushing;
	pthread_t thread;
	bool has_thread;
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* feed_answer reads the events of call and replies. */
static void feed_answer(ledger *l, const feed_call *call)
{
	sl_error_info err;
	sl_buf out;
	sl_buf_init(&out);
	memset(&err, 0, sizeof(err));
	sl_event *events = calloc(call->limit, sizeof(*events));
	size_t n = 0;
	uint64_t head = ledger_head(l, NULL), bad = 0;
	sl_err rc = SL_OK;
	if (events == NULL) {
		rc = sl_error_set(&err, SL_ERR_NOMEM, "out of memory");
	} else if (call->from_seq <= head) {
		/* chain-checked from the stored hash of the event before from_seq */
		ledger_iter *it = ledger_iter_alloc(l, call->from_seq);
		if (it == NULL)
			rc = SL_ERR_NOMEM;
		while (rc == SL_OK && n < call->limit) {
			rc = ledger_iter_next(it, &events[n], &bad);
			if (rc == SL_OK && (events[n].seq > head ||
			                    (call->has_to_seq && events[n].seq > call->to_seq)))
				break;
			if (rc == SL_OK)
				n++;
		}
		if (rc == SL_ERR_NOT_FOUND || (rc == SL_ERR_CORRUPT && n > 0))
			rc = SL_OK; /* the good events first; the next call starts at the bad one */
		if (rc == SL_ERR_CORRUPT)
			sl_error_set(&err, rc, "%s", ledger_iter_error(it));
		else if (rc != SL_OK)
			sl_error_set(&err, rc, "cannot read events: %s", sl_strerror(rc));
		ledger_iter_free(it);
	}
	ledger_result r = {.events = events, .n_events = n, .with_event_hashes = true, .seq = head};
	if (rc != SL_OK)
		refuse(&err, &out);
	else
		ledger_result_encode_or_empty(&r, &out);
	call->done(call->arg, out.data, out.len);
	sl_buf_fini(&out);
	free(events);
}

static void *feed_main(void *arg)
{
	gw_feed *f = arg;
	sl_thread_name("sl:feed");
	feed_call ready[SL_FEED_WAITERS_MAX];
	pthread_mutex_lock(&f->lock);
	for (;;) {
		if (f->is_closing && f->n_parked == 0)
			break;
		uint64_t head = ledger_head(f->l, NULL);
		int64_t now = mono_ms(), next_deadline = INT64_MAX;
		size_t n_ready = 0, kept = 0;
		for (size_t i = 0; i < f->n_parked; i++) {
			feed_call *c = &f->parked[i];
			if (f->is_closing || f->is_flushing || head >= c->from_seq ||
			    now >= c->deadline_ms) {
				ready[n_ready++] = *c;
			} else {
				if (c->deadline_ms < next_deadline)
					next_deadline = c->deadline_ms;
				f->parked[kept++] = *c;
			}
		}
		f->n_parked = kept;
		if (n_ready > 0) {
			pthread_mutex_unlock(&f->lock);
			for (size_t i = 0; i < n_ready; i++)
				feed_answer(f->l, &ready[i]);
			pthread_mutex_lock(&f->lock);
			continue;
		}
		uint64_t gen = f->generation;
		if (next_deadline == INT64_MAX) {
			while (gen == f->generation && f->n_parked == 0 && !f->is_closing)
				pthread_cond_wait(&f->cond, &f->lock);
		} else {
			struct timespec ts = {.tv_sec = next_deadline / 1000,
			                      .tv_nsec = (next_deadline % 1000) * 1000000};
			pthread_cond_timedwait(&f->cond, &f->lock, &ts);
		}
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

gw_feed *gw_feed_open(ledger *l)
{
	gw_feed *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->l = l;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&f->lock, NULL);
	if (pthread_create(&f->thread, NULL, feed_main, f) != 0) {
		gw_feed_close(f);
		return NULL;
	}
	f->has_thread = true;
	return f;
}

void gw_feed_close(gw_feed *f)
{
	if (f == NULL)
		return;
	pthread_mutex_lock(&f->lock);
	f->is_closing = true;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	if (f->has_thread)
		pthread_join(f->thread, NULL);
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

void gw_feed_notify(gw_feed *f)
{
	pthread_mutex_lock(&f->lock);
	f->generation++;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

void gw_feed_flush(gw_feed *f)
{
	pthread_mutex_lock(&f->lock);
	f->is_flushing = true;
	pthread_cond_broadcast(&f->cond);
	while (f->n_parked > 0) {
		pthread_mutex_unlock(&f->lock);
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
		pthread_mutex_lock(&f->lock);
	}
	pthread_mutex_unlock(&f->lock);
}

void gw_feed_submit(gw_feed *f, const sl_command *cmd, gw_done_fn done, void *arg)
{
	sl_error_info err;
	memset(&err, 0, sizeof(err));
	feed_call call = {
	    .from_seq = cmd->from_seq == 0 ? 1 : cmd->from_seq,
	    .has_to_seq = cmd->has_to_seq,
	    .to_seq = cmd->to_seq,
	    .limit = cmd->limit == 0 ? SL_HISTORY_PAGE_DEFAULT : cmd->limit,
	    .done = done,
	    .arg = arg,
	};
	if (call.limit > SL_FEED_PAGE_MAX || cmd->wait_ms > SL_FEED_WAIT_MS_MAX) {
		sl_buf out;
		sl_buf_init(&out);
		sl_error_set(&err, SL_ERR_LIMIT_EXCEEDED,
		             "at most %d events per call and a wait of at most %d ms",
		             SL_FEED_PAGE_MAX, SL_FEED_WAIT_MS_MAX);
		refuse(&err, &out);
		done(arg, out.data, out.len);
		sl_buf_fini(&out);
		return;
	}
	call.deadline_ms = mono_ms() + cmd->wait_ms;
	pthread_mutex_lock(&f->lock);
	/* a range that ends before it starts can never hold an event: answered now */
	bool is_park = cmd->wait_ms > 0 && ledger_head(f->l, NULL) < call.from_seq &&
	               !(call.has_to_seq && call.to_seq < call.from_seq) && !f->is_closing &&
	               !f->is_flushing && f->n_parked < SL_FEED_WAITERS_MAX;
	if (is_park) {
		f->parked[f->n_parked++] = call;
		pthread_cond_broadcast(&f->cond);
	}
	pthread_mutex_unlock(&f->lock);
	if (!is_park)
		feed_answer(f->l, &call);
}

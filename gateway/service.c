/*
 * service.c: the write queue, the writer loop (group commit) and the read path.
 *
 * The writer's loop, one turn per group:
 *
 *   wait for queued commands --take all (bounded)--> decide each in order, staging events,
 *   views and idempotency records into one transaction --> commit (one WAL sync) -->
 *   release every reply of the group
 *
 * The replies of a committed group are sent by the reply thread while the writer already
 * takes, decides and commits the next group (two sets of group buffers, one being filled by
 * the writer, one being answered by the replier; group_hand_off waits if the replier is
 * still busy). A reply still leaves only after its group's commit returned: what the
 * replier receives is committed. The profile showed why: with 64 clients, sending about 35
 * replies took the writer 40% as long as the WAL sync itself.
 *
 * The secondary indexes of the views (query's) are left to an index thread: the writer stages
 * their rows into a batch of their own, hands it over after the commit, and the index thread
 * writes it without a sync (ledger.h, "Deferred secondary indexes"). That takes four of the
 * seven rows an event costs off the writer (the profile of `batch`: memtable inserts were
 * 52% of the process's CPU, all on the writer); a query waits for the index to reach the head
 * it starts at (gateway/reads.c), and a crash costs only a re-derivation at the next open.
 *
 * Within a group the overlay map holds the views as the group's earlier commands left
 * them, and the idempotency records they made, so command k sees commands 1..k-1 exactly as
 * if they had been committed one by one. A refused command stages nothing. If the commit
 * fails, no command of the group is acknowledged (every one gets STORAGE) and the ledger
 * refuses all later writes until restart (sticky, ledger.h).
 */
#include "gateway/service.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/banned.h"
#include "base/sl_map.h"
#include "base/sl_util.h"
#include "gateway/reads.h"
#include "ledger/codec.h"
#include "ledger/query.h"
#include "gateway/orders.h"
#include "ledger/rules.h"
#include "projector/stock.h"
#include "projector/viewmap.h"

#define OVERLAY_MAX (SL_GROUP_EVENTS_MAX + SL_GROUP_COMMANDS_MAX)

typedef struct queued {
	sl_command cmd;
	gw_done_fn done;
	void *arg;
} queued;

typedef struct overlay_view {
	sl_item item;
	sl_item before;    /* the committed view, when is_committed */
	bool is_committed; /* the store has a row (before) */
	bool is_present;   /* a row exists (it may be a deleted item) */
	bool is_dirty;     /* changed in this group: to be written */
	size_t touched_by; /* group index + 1 of the last command that changed it */
} overlay_view;

typedef struct overlay_idem {
	unsigned char content_hash[SL_HASH_BYTES];
	size_t cmd_index; /* whose result it is, in this group */
} overlay_idem;

struct gw_service {
	ledger *l;
	char default_location[SL_ID_MAX + 1];
	char read_only_why[256]; /* set: the views are behind the log, reads only (see open) */
	char decide_why[256];    /* the writer: why deciding failed in this group ("" if not) */

	pthread_mutex_t lock;
	pthread_cond_t nonempty;
	queued *queue; /* ring of SL_QUEUE_COMMANDS_MAX */
	size_t q_head, q_len;
	bool is_stopping;
	pthread_t writer;
	bool has_writer;
	gw_stats stats;
	gw_feed *feed; /* the change feed's parked reads (gateway/reads.h) */

	/* the reply thread and the two sets of group buffers (guarded by lock) */
	pthread_t replier;
	bool has_replier;
	bool is_replier_stopping;
	pthread_cond_t reply_cond;
	queued *groups[2];
	sl_buf *results_sets[2];
	size_t cur;       /* the set the writer fills */
	size_t reply_n;   /* commands handed to the replier, 0: it is idle */
	size_t reply_set; /* the set they are in */

	/* the index thread and a ring of batches (guarded by lock): jobs[j_head..j_len) are
	 * committed groups waiting for the index thread, in order; the slot after them is the
	 * writer's (ib), free since at most SL_INDEX_GROUPS_MAX wait */
	pthread_t indexer;
	bool has_indexer;
	bool is_indexer_stopping;
	pthread_cond_t index_cond;
	struct {
		ledger_index_batch *b;
		uint64_t seq;
	} jobs[SL_INDEX_GROUPS_MAX + 1];
	size_t j_head, j_len;

	/* writer-only state */
	ledger_txn *txn;
	queued *group;   /* groups[cur] */
	sl_buf *results; /* results_sets[cur] */
	sl_map overlay;
	sl_map idem;
	gw_orders *orders; /* the group's overlay of orders and settings */
	sl_event *events;
	int64_t last_time_ms;
	ledger_index_batch *ib; /* the index rows of the group being decided */
	viewmap views;          /* the committed item views the writer has met (views_remember) */
	size_t views_bytes_max;
};

void gw_service_feed_flush(gw_service *s)
{
	gw_feed_flush(s->feed);
}

ledger *gw_service_ledger(gw_service *s)
{
	return s->l;
}

void gw_service_fault_set(gw_service *s, int n)
{
	/* The index thread writes to the store too: let it write what is committed first, so
	 * that the fault hits the n-th next commit of the writer and not an index write. */
	(void)ledger_index_wait(s->l, ledger_head(s->l, NULL));
	store_fault_set(ledger_store(s->l), n);
}

void gw_service_stats(gw_service *s, gw_stats *out)
{
	pthread_mutex_lock(&s->lock);
	*out = s->stats;
	pthread_mutex_unlock(&s->lock);
}

static void error_result(sl_buf *out, const sl_error_info *err)
{
	ledger_result r = {.error = err};
	ledger_result_encode_or_empty(&r, out);
}

static void reply_error(gw_done_fn done, void *arg, sl_err code, const char *msg)
{
	sl_error_info err;
	sl_buf b;
	memset(&err, 0, sizeof(err));
	sl_error_set(&err, code, "%s", msg);
	sl_buf_init(&b);
	error_result(&b, &err);
	done(arg, b.data, b.len);
	sl_buf_fini(&b);
}

void gw_service_refuse(sl_command *cmd, gw_done_fn done, void *arg, sl_err code,
                       const char *message)
{
	sl_command_fini(cmd);
	reply_error(done, arg, code, message);
}

/* page_rows: the rows a page of limit reads (0: the default); a limit over the page's bound
 * is refused LIMIT_EXCEEDED by the read itself, which reads nothing (counting it would make
 * the request's bound answer BUSY, which a client such as the bridge retries for ever). */
static size_t page_rows(size_t limit, size_t dflt, size_t max)
{
	return limit == 0 ? dflt : limit > max ? 1 : limit;
}

size_t gw_command_read_rows(const sl_command *cmd)
{
	switch (cmd->type) {
	case SL_CMD_HISTORY:
		return page_rows(cmd->limit, SL_HISTORY_PAGE_DEFAULT, SL_HISTORY_PAGE_MAX);
	case SL_CMD_EVENTS: /* without a limit, the feed's default page (gw_feed_submit) */
		return page_rows(cmd->limit, SL_HISTORY_PAGE_DEFAULT, SL_FEED_PAGE_MAX);
	case SL_CMD_ORDER_HOLDS:
		return SL_HOLDS_PAGE_MAX; /* one page, whatever its limit */
	case SL_CMD_QUERY:
		return page_rows(cmd->query != NULL ? cmd->query->limit : 0, SL_QUERY_PAGE_DEFAULT,
		                 SL_QUERY_PAGE_MAX);
	case SL_CMD_EXPLAIN:
		return SL_HISTORY_PAGE_MAX;
	default:
		return 1;
	}
}

/* ---- the group's overlay ---- */

static overlay_view *overlay_load(gw_service *s, const sl_item_key *key, sl_err *rc)
{
	uint8_t k[LEDGER_KEY_BYTES];
	size_t klen = ledger_key_encode(key, k);
	int is_new;
	*rc = SL_OK;
	overlay_view *v = sl_map_put(&s->overlay, k, klen, &is_new, rc);
	if (v == NULL || !is_new)
		return v;
	const viewmap_entry *e = viewmap_find(&s->views, k, klen, viewmap_hash(k, klen));
	if (e != NULL)
		viewmap_entry_get(e, key, &v->item);
	else
		*rc = ledger_view_get(s->l, key, &v->item);
	if (*rc == SL_OK) {
		v->is_present = true;
		v->is_committed = true;
		v->before = v->item;
	} else if (*rc == SL_ERR_NOT_FOUND) {
		memset(&v->item, 0, sizeof(v->item));
		*rc = SL_OK;
	}
	return *rc == SL_OK ? v : NULL;
}

static sl_err overlay_lookup_cb(void *ctx, const sl_item_key *key, sl_item *out)
{
	sl_err rc;
	overlay_view *v = overlay_load(ctx, key, &rc);
	if (v == NULL)
		return rc;
	if (!v->is_present)
		return SL_ERR_NOT_FOUND;
	*out = v->item;
	return SL_OK;
}

/* idem_check answers a command with a key that was seen before into out, setting *handled;
 * a failure to read the key's record is returned (the group fails: see decide_one). */
static sl_err idem_check(gw_service *s, size_t index, sl_buf *out, bool *handled)
{
	const sl_command *cmd = &s->group[index].cmd;
	unsigned char stored_hash[SL_HASH_BYTES];
	overlay_idem *oi = sl_map_get(&s->idem, cmd->key, strlen(cmd->key));
	sl_err rc;
	if (oi != NULL) {
		memcpy(stored_hash, oi->content_hash, SL_HASH_BYTES);
		rc = sl_buf_set(out, s->results[oi->cmd_index].data, s->results[oi->cmd_index].len);
	} else {
		rc = ledger_idem_get(s->l, cmd->key, stored_hash, out);
	}
	*handled = false;
	if (rc == SL_ERR_NOT_FOUND)
		return SL_OK;
	if (rc != SL_OK)
		return rc;
	*handled = true;
	sl_error_info err;
	memset(&err, 0, sizeof(err));
	if (memcmp(stored_hash, cmd->content_hash, SL_HASH_BYTES) != 0) {
		sl_error_set(&err, SL_ERR_IDEMPOTENCY_KEY_REUSED,
		             "idempotency key '%s' was used for a different command", cmd->key);
		error_result(out, &err);
	} else if (ledger_result_mark_replayed(out) != SL_OK) {
		sl_error_set(&err, SL_ERR_NOMEM, "out of memory");
		error_result(out, &err);
	}
	return SL_OK;
}

/* idem_stage records the result of command index (in s->results) under its key: in the
 * group's overlay, for the commands after it, and in the transaction. */
static sl_err idem_stage(gw_service *s, size_t index, uint64_t seq)
{
	const sl_command *cmd = &s->group[index].cmd;
	const sl_buf *out = &s->results[index];
	sl_err rc;
	int is_new;
	overlay_idem *oi = sl_map_put(&s->idem, cmd->key, strlen(cmd->key), &is_new, &rc);
	if (oi == NULL)
		return rc;
	memcpy(oi->content_hash, cmd->content_hash, SL_HASH_BYTES);
	oi->cmd_index = index;
	return ledger_txn_put_idem(s->txn, cmd->key, cmd->content_hash, out->data, out->len, seq,
	                           s->last_time_ms);
}

/* key_usable: cmd has a key that fit its bound. A key cut to its bound must not find the
 * record of the key it was cut to (the decide refuses the command for the field); the
 * decoder reads the key first, so a cut key is always the field it names. */
static bool key_usable(const sl_command *cmd)
{
	return cmd->key[0] != '\0' && strcmp(cmd->malformed_field, "key") != 0;
}

/* refusal_keep keeps the refusal the rules gave command index (in s->results) under its
 * key when the command asks for it (keep_refusal), unless the key did not fit (never looked
 * up). Only the rules' refusals come here: a failure to read the state (STORAGE, CORRUPT,
 * NOMEM) fails the group in decide_one, and BUSY and UNAVAILABLE are answered before the
 * queue. */
static sl_err refusal_keep(gw_service *s, size_t index)
{
	const sl_command *cmd = &s->group[index].cmd;
	return cmd->keep_refusal && key_usable(cmd) ? idem_stage(s, index, 0) : SL_OK;
}

/* decide_one decides command index of the group and stages what it appends. Returns an
 * error only when staging failed (the group must be abandoned); a refusal is a result. */
static sl_err decide_one(gw_service *s, size_t index)
{
	queued *q = &s->group[index];
	sl_command *cmd = &q->cmd;
	sl_buf *out = &s->results[index];
	sl_error_info err;
	size_t n_events = 0;
	sl_err rc;

	out->len = 0;
	bool handled = false;
	if (key_usable(cmd) && ((rc = idem_check(s, index, out, &handled)) != SL_OK || handled))
		return rc;
	int64_t now = sl_time_now_ms();
	if (now > s->last_time_ms)
		s->last_time_ms = now;
	ledger_decide_env env = {
	    .lookup = overlay_lookup_cb,
	    .lookup_ctx = s,
	    .next_seq = ledger_txn_next_seq(s->txn),
	    .time_ms = s->last_time_ms,
	};
	bool is_unchanged = false;
	if (sl_cmd_is_order(cmd->type)) {
		ledger_order_env oenv = {.lookup = env.lookup,
		                         .lookup_ctx = env.lookup_ctx,
		                         .next_seq = env.next_seq,
		                         .time_ms = env.time_ms};
		gw_orders_env(s->orders, &oenv);
		rc = ledger_order_decide(cmd, &oenv, s->events, &n_events, &is_unchanged, &err);
	} else {
		rc = ledger_decide(cmd, &env, s->events, &n_events, &err);
	}
	if (rc == SL_ERR_STORAGE || rc == SL_ERR_CORRUPT || rc == SL_ERR_NOMEM) {
		/* the state it decides on could not be read: not the command's refusal */
		snprintf(s->decide_why, sizeof(s->decide_why), "%s", err.message);
		sl_error_info_fini(&err);
		return rc;
	}
	if (rc != SL_OK) {
		error_result(out, &err);
		sl_error_info_fini(&err);
		return refusal_keep(s, index);
	}

	/* Fold each event into the overlay and stage it; collect the touched items in the
	 * order they first appear (touched_by marks an item as collected for this command). */
	sl_item *touched = calloc(n_events + 1, sizeof(*touched));
	overlay_view **touched_v = calloc(n_events + 1, sizeof(*touched_v));
	size_t n_touched = 0;
	if (touched == NULL || touched_v == NULL) {
		rc = SL_ERR_NOMEM;
		goto fail;
	}
	for (size_t i = 0; i < n_events; i++) {
		sl_event *ev = &s->events[i];
		/* Order and settings events fold into their own overlay; the rules decided
		 * against it, so a fold that fails is a bug, like below. */
		rc = gw_orders_apply(s->orders, ev);
		SL_ASSERT(rc != SL_ERR_CORRUPT);
		if (rc != SL_OK)
			goto fail;
		if (!stock_event_is_item(ev)) {
			if ((rc = ledger_txn_append(s->txn, ev)) != SL_OK)
				goto fail;
			continue;
		}
		overlay_view *v = overlay_load(s, &ev->item, &rc);
		if (v == NULL)
			goto fail;
		/* The rules decided against these very views: a fold that fails is a bug. */
		SL_ASSERT(stock_view_apply(&v->item, ev) == SL_OK);
		v->is_present = true;
		v->is_dirty = true;
		if (v->touched_by != index + 1) {
			v->touched_by = index + 1;
			touched_v[n_touched++] = v;
		}
		if ((rc = ledger_txn_append(s->txn, ev)) != SL_OK)
			goto fail;
	}
	for (size_t i = 0; i < n_touched; i++)
		touched[i] = touched_v[i]->item;
	ledger_result r = {
	    .items = touched,
	    .n_items = n_touched,
	    .seq = n_events > 0 ? s->events[n_events - 1].seq : 0,
	    .is_unchanged = is_unchanged,
	};
	sl_settings settings;
	memset(&settings, 0, sizeof(settings));
	if (cmd->type == SL_CMD_SETTINGS_SET) {
		/* never set: the default, which no event wrote (seq 0, no update time) */
		if ((rc = gw_orders_settings(s->orders, &settings)) == SL_ERR_NOT_FOUND)
			settings.trigger = SL_TRIGGER_ON_ORDER_PLACED;
		else if (rc != SL_OK)
			goto fail;
		r.settings = &settings;
		if (is_unchanged)
			r.seq = settings.last_seq;
	} else if (sl_cmd_is_order(cmd->type)) {
		r.order = gw_orders_view(s->orders, cmd->order_id);
		if (is_unchanged && r.order != NULL)
			r.seq = r.order->last_seq;
	}
	if ((rc = ledger_result_encode(&r, out)) != SL_OK)
		goto fail;
	if (key_usable(cmd) && (rc = idem_stage(s, index, r.seq)) != SL_OK)
		goto fail;
	pthread_mutex_lock(&s->lock);
	s->stats.events += n_events;
	pthread_mutex_unlock(&s->lock);
	free(touched_v);
	free(touched);
	return SL_OK;
fail:
	free(touched_v);
	free(touched);
	return rc;
}

static void group_fail_all(gw_service *s, size_t n, sl_err code, const char *why)
{
	sl_error_info err;
	memset(&err, 0, sizeof(err));
	sl_error_set(&err, code, "%s", why);
	for (size_t i = 0; i < n; i++)
		error_result(&s->results[i], &err);
}

/* group_hand_off gives the committed (or failed) group to the reply thread and switches
 * the writer to the other set of buffers. */
static void group_hand_off(gw_service *s, size_t n, bool is_write)
{
	pthread_mutex_lock(&s->lock);
	if (is_write) {
		s->stats.groups++;
		s->stats.commands += n;
		if (n > s->stats.group_commands_max)
			s->stats.group_commands_max = n;
	}
	while (s->reply_n > 0)
		pthread_cond_wait(&s->reply_cond, &s->lock);
	s->reply_n = n;
	s->reply_set = s->cur;
	pthread_cond_broadcast(&s->reply_cond);
	s->cur ^= 1;
	s->group = s->groups[s->cur];
	s->results = s->results_sets[s->cur];
	pthread_mutex_unlock(&s->lock);
}

static void *replier_main(void *arg)
{
	gw_service *s = arg;
	sl_thread_name("sl:reply");
	pthread_mutex_lock(&s->lock);
	for (;;) {
		while (s->reply_n == 0 && !s->is_replier_stopping)
			pthread_cond_wait(&s->reply_cond, &s->lock);
		if (s->reply_n == 0)
			break;
		size_t n = s->reply_n;
		queued *group = s->groups[s->reply_set];
		sl_buf *results = s->results_sets[s->reply_set];
		pthread_mutex_unlock(&s->lock);
		for (size_t i = 0; i < n; i++) {
			group[i].done(group[i].arg, results[i].data, results[i].len);
			sl_command_fini(&group[i].cmd);
		}
		pthread_mutex_lock(&s->lock);
		s->reply_n = 0;
		pthread_cond_broadcast(&s->reply_cond);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* index_hand_off gives the index rows of the group just committed (events up to seq) to the
 * index thread and takes an empty batch for the next group, waiting while the index thread
 * is SL_INDEX_GROUPS_MAX groups behind. */
static void index_hand_off(gw_service *s, uint64_t seq)
{
	pthread_mutex_lock(&s->lock);
	while (s->j_len == SL_INDEX_GROUPS_MAX)
		pthread_cond_wait(&s->index_cond, &s->lock);
	SL_ASSERT(s->jobs[(s->j_head + s->j_len) % (SL_INDEX_GROUPS_MAX + 1)].b == s->ib);
	s->jobs[(s->j_head + s->j_len) % (SL_INDEX_GROUPS_MAX + 1)].seq = seq;
	s->j_len++;
	pthread_cond_broadcast(&s->index_cond);
	s->ib = s->jobs[(s->j_head + s->j_len) % (SL_INDEX_GROUPS_MAX + 1)].b;
	pthread_mutex_unlock(&s->lock);
}

static void *indexer_main(void *arg)
{
	gw_service *s = arg;
	sl_thread_name("sl:index");
	pthread_mutex_lock(&s->lock);
	for (;;) {
		while (s->j_len == 0 && !s->is_indexer_stopping)
			pthread_cond_wait(&s->index_cond, &s->lock);
		if (s->j_len == 0)
			break;
		ledger_index_batch *b = s->jobs[s->j_head].b;
		uint64_t seq = s->jobs[s->j_head].seq;
		pthread_mutex_unlock(&s->lock);
		/* A failure leaves the ledger in its sticky failed state (ledger.h): writes are
		 * refused from then on and queries answer STORAGE; the next open re-derives. */
		if (ledger_index_commit(s->l, b, seq) != SL_OK) {
			char cause[SL_LEDGER_CAUSE_MAX];
			ledger_failure_cause(s->l, cause, sizeof(cause));
			fprintf(stderr, "stockledgerd: cannot write the index: %s\n", cause);
		}
		pthread_mutex_lock(&s->lock);
		s->j_head = (s->j_head + 1) % (SL_INDEX_GROUPS_MAX + 1);
		s->j_len--;
		pthread_cond_broadcast(&s->index_cond);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* views_remember keeps the views the group just committed for the next groups to decide
 * on (only committed views: a group that failed leaves the ledger refusing writes). */
static void views_remember(gw_service *s)
{
	if (viewmap_bytes(&s->views) > s->views_bytes_max)
		viewmap_clear(&s->views);
	for (size_t i = 0; i < s->overlay.n; i++) {
		const overlay_view *v = sl_map_at(&s->overlay, i);
		if (!v->is_dirty)
			continue;
		uint8_t k[LEDGER_KEY_BYTES];
		size_t klen = ledger_key_encode(&v->item.key, k);
		uint32_t h = viewmap_hash(k, klen);
		viewmap_entry *e = viewmap_find(&s->views, k, klen, h);
		if ((e == NULL && (e = viewmap_add(&s->views, k, klen, h)) == NULL) ||
		    viewmap_entry_set(&s->views, e, &v->item) != SL_OK) {
			/* out of memory: forget them all rather than keep a stale one */
			viewmap_clear(&s->views);
			return;
		}
	}
}

static void group_run(gw_service *s, size_t n)
{
	ledger_txn_defer_index(s->txn, s->ib);
	sl_err rc = ledger_txn_begin(s->txn);
	if (rc != SL_OK) {
		/* what to do first: a client's message holds 255 bytes, the cause may not fit */
		char cause[SL_LEDGER_CAUSE_MAX];
		char msg[SL_LEDGER_CAUSE_MAX + 96];
		ledger_failure_cause(s->l, cause, sizeof(cause));
		snprintf(msg, sizeof(msg),
		         "writes are refused until the ledger is restarted, after: %s",
		         cause[0] != '\0' ? cause : sl_strerror(rc));
		group_fail_all(s, n, SL_ERR_STORAGE, msg);
		goto reply;
	}
	s->decide_why[0] = '\0';
	sl_map_clear(&s->overlay);
	sl_map_clear(&s->idem);
	gw_orders_begin(s->orders);
	for (size_t i = 0; i < n && rc == SL_OK; i++)
		rc = decide_one(s, i);
	for (size_t i = 0; i < s->overlay.n && rc == SL_OK; i++) {
		overlay_view *v = sl_map_at(&s->overlay, i);
		if (v->is_dirty)
			rc = ledger_txn_put_view_from(s->txn, &v->item,
			                              v->is_committed ? &v->before : NULL);
	}
	if (rc == SL_OK)
		rc = gw_orders_stage(s->orders, s->txn);
	if (rc != SL_OK) {
		ledger_txn_abort(s->txn);
		if (rc == SL_ERR_NOMEM) {
			group_fail_all(s, n, rc, "out of memory deciding or staging the group");
			goto reply;
		}
		/* A state that cannot be read cannot be decided on: as after a failed commit,
		 * no later command is decided either (so a client's later commands never
		 * overtake one that failed), until a restart. */
		char cause[SL_LEDGER_CAUSE_MAX];
		char msg[SL_LEDGER_CAUSE_MAX + 96];
		if (s->decide_why[0] != '\0')
			snprintf(cause, sizeof(cause), "%s", s->decide_why); /* the rules' words */
		else
			store_last_error_copy(ledger_store(s->l), cause, sizeof(cause));
		if (cause[0] == '\0')
			snprintf(cause, sizeof(cause), "%s", sl_strerror(rc));
		snprintf(
		    msg, sizeof(msg),
		    "writes are refused until the ledger is restarted: cannot read the state to "
		    "decide on: %s",
		    cause);
		fprintf(stderr, "stockledgerd: %s\n", msg);
		ledger_fail(s->l, rc, cause);
		group_fail_all(s, n, SL_ERR_STORAGE, msg);
		goto reply;
	}
	rc = ledger_txn_commit(s->txn, true);
	if (rc != SL_OK) {
		char cause[SL_LEDGER_CAUSE_MAX];
		char msg[SL_LEDGER_CAUSE_MAX + 32];
		ledger_failure_cause(s->l, cause, sizeof(cause));
		snprintf(msg, sizeof(msg), "not committed: %s", cause);
		fprintf(stderr, "stockledgerd: %s\n", msg);
		group_fail_all(s, n, SL_ERR_STORAGE, msg);
	} else {
		views_remember(s);
		index_hand_off(s, ledger_head(s->l, NULL));
		gw_feed_notify(s->feed);
	}
reply:
	group_hand_off(s, n, true);
}

/* read_serve answers the read cmd into out from committed state; false for the change feed,
 * which answers done itself (later, when it waits for events). */
static bool read_serve(gw_service *s, sl_command *cmd, sl_buf *out, gw_done_fn done, void *arg);

/* ordered_read serves the read the writer took alone (group[0]): it was queued behind
 * writes it must see (gw_service_submit_ordered), and every group before it is committed.
 * Its result goes through the reply thread like a group's. */
static void ordered_read(gw_service *s)
{
	queued *q = &s->group[0];
	s->results[0].len = 0;
	if (!read_serve(s, &q->cmd, &s->results[0], q->done, q->arg)) {
		sl_command_fini(&q->cmd);
		return;
	}
	group_hand_off(s, 1, false);
}

static void *writer_main(void *arg)
{
	gw_service *s = arg;
	sl_thread_name("sl:writer");
	for (;;) {
		pthread_mutex_lock(&s->lock);
		while (s->q_len == 0 && !s->is_stopping)
			pthread_cond_wait(&s->nonempty, &s->lock);
		if (s->q_len == 0 && s->is_stopping) {
			pthread_mutex_unlock(&s->lock);
			break;
		}
		/* Take what is queued, bounded by commands and by the events they may make; a
		 * read (queued behind writes it must see) ends the group before it, and is taken
		 * alone once they are committed. */
		size_t n = 0, lines = 0;
		bool is_read = false;
		while (s->q_len > 0 && n < SL_GROUP_COMMANDS_MAX && !is_read) {
			queued *q = &s->queue[s->q_head];
			if (!sl_cmd_is_write(q->cmd.type)) {
				if (n > 0)
					break; /* after the writes before it are committed */
				is_read = true;
			}
			size_t l = sl_command_events_max(&q->cmd);
			if (n > 0 && lines + l > SL_GROUP_EVENTS_MAX - SL_LINES_MAX)
				break;
			lines += l;
			s->group[n++] = *q;
			memset(q, 0, sizeof(*q));
			s->q_head = (s->q_head + 1) % SL_QUEUE_COMMANDS_MAX;
			s->q_len--;
		}
		pthread_mutex_unlock(&s->lock);
		if (is_read)
			ordered_read(s);
		else
			group_run(s, n);
	}
	return NULL;
}

/* ---- reads ---- */

static void read_get(gw_service *s, const sl_command *cmd, sl_buf *out)
{
	sl_error_info err;
	sl_item item;
	memset(&err, 0, sizeof(err));
	/* the decoder's mark first: an id that is not text is not quoted (key_check, reads.c) */
	sl_err rc = cmd->malformed_field[0] != '\0'
	                ? sl_error_set(&err, SL_ERR_INVALID_ARGUMENT, "%s is too long or malformed",
	                               cmd->malformed_field)
	                : ledger_item_key_validate(&cmd->item, &err);
	if (rc == SL_OK) {
		rc = ledger_view_get(s->l, &cmd->item, &item);
		if (rc == SL_OK && !item.state.exists)
			rc = SL_ERR_NOT_FOUND;
		if (rc == SL_ERR_NOT_FOUND)
			sl_error_set(&err, rc, "item '%s/%s@%s' does not exist",
			             cmd->item.product_id, cmd->item.variant_id,
			             cmd->item.location_id);
		else if (rc != SL_OK)
			sl_error_set(&err, rc, "cannot read item: %s", sl_strerror(rc));
	}
	if (rc != SL_OK) {
		error_result(out, &err);
		return;
	}
	ledger_result r = {.items = &item, .n_items = 1, .seq = item.last_seq};
	ledger_result_encode_or_empty(&r, out);
}

static void read_head(gw_service *s, sl_buf *out)
{
	ledger_result r = {.has_head_hash = true};
	r.seq = ledger_head(s->l, r.head_hash);
	ledger_result_encode_or_empty(&r, out);
}

static bool read_serve(gw_service *s, sl_command *cmd, sl_buf *out, gw_done_fn done, void *arg)
{
	switch (cmd->type) {
	case SL_CMD_GET:
		if (cmd->has_as_of_seq || cmd->has_as_of_ms)
			gw_read_get_as_of(s->l, cmd, out);
		else
			read_get(s, cmd, out);
		break;
	case SL_CMD_HISTORY:
		gw_read_history(s->l, cmd, out);
		break;
	case SL_CMD_QUERY:
		gw_read_query(s->l, cmd, out);
		break;
	case SL_CMD_EXPLAIN:
		gw_read_explain(s->l, cmd, out);
		break;
	case SL_CMD_EVENTS:
		gw_feed_submit(s->feed, cmd, done, arg);
		return false;
	case SL_CMD_HEAD:
		read_head(s, out);
		break;
	case SL_CMD_SETTINGS_GET:
	case SL_CMD_ORDER_GET:
	case SL_CMD_ORDER_HOLDS:
		gw_orders_read(s->l, cmd, out);
		break;
	default: {
		sl_error_info err;
		memset(&err, 0, sizeof(err));
		sl_error_set(&err, SL_ERR_UNKNOWN_COMMAND,
		             "the command is empty or unknown to this service");
		error_result(out, &err);
		break;
	}
	}
	return true;
}

/* queue_put queues cmd for the writer; BUSY when the queue is full, UNAVAILABLE when the
 * service stops (done answered so). */
static sl_err queue_put(gw_service *s, sl_command *cmd, gw_done_fn done, void *arg)
{
	pthread_mutex_lock(&s->lock);
	if (s->is_stopping || s->q_len == SL_QUEUE_COMMANDS_MAX) {
		bool is_stopping = s->is_stopping;
		pthread_mutex_unlock(&s->lock);
		sl_command_fini(cmd);
		if (is_stopping) {
			reply_error(done, arg, SL_ERR_UNAVAILABLE, "the service is shutting down");
			return SL_ERR_UNAVAILABLE;
		}
		reply_error(done, arg, SL_ERR_BUSY, "the write queue is full; retry later");
		return SL_ERR_BUSY;
	}
	queued *q = &s->queue[(s->q_head + s->q_len) % SL_QUEUE_COMMANDS_MAX];
	q->cmd = *cmd;
	q->done = done;
	q->arg = arg;
	memset(cmd, 0, sizeof(*cmd));
	s->q_len++;
	pthread_cond_signal(&s->nonempty);
	pthread_mutex_unlock(&s->lock);
	return SL_OK;
}

sl_err gw_service_submit(gw_service *s, sl_command *cmd, gw_done_fn done, void *arg)
{
	if (!sl_cmd_is_write(cmd->type)) {
		sl_buf out;
		sl_buf_init(&out);
		if (read_serve(s, cmd, &out, done, arg))
			done(arg, out.data, out.len);
		sl_buf_fini(&out);
		sl_command_fini(cmd);
		return SL_OK;
	}
	if (s->read_only_why[0] != '\0') {
		gw_service_refuse(cmd, done, arg, SL_ERR_FAILED_PRECONDITION, s->read_only_why);
		return SL_OK;
	}
	return queue_put(s, cmd, done, arg);
}

sl_err gw_service_submit_ordered(gw_service *s, sl_command *cmd, gw_done_fn done, void *arg)
{
	if (sl_cmd_is_write(cmd->type))
		return gw_service_submit(s, cmd, done, arg);
	return queue_put(s, cmd, done, arg);
}

typedef struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool is_done;
	sl_buf *result;
	sl_err rc;
} waiter;

static void waiter_done_cb(void *arg, const uint8_t *result, size_t len)
{
	waiter *w = arg;
	pthread_mutex_lock(&w->lock);
	w->rc = sl_buf_set(w->result, result, len);
	w->is_done = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

sl_err gw_service_execute(gw_service *s, sl_command *cmd, sl_buf *result)
{
	waiter w = {.result = result};
	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	gw_service_submit(s, cmd, waiter_done_cb, &w);
	pthread_mutex_lock(&w.lock);
	while (!w.is_done)
		pthread_cond_wait(&w.cond, &w.lock);
	pthread_mutex_unlock(&w.lock);
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
	return w.rc;
}

sl_err gw_service_open(const gw_config *cfg, gw_service **out, char *errbuf, size_t errbuf_size)
{
	gw_service *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return SL_ERR_NOMEM;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->nonempty, NULL);
	pthread_cond_init(&s->reply_cond, NULL);
	pthread_cond_init(&s->index_cond, NULL);
	sl_strlcpy(s->default_location,
	           cfg->default_location != NULL ? cfg->default_location : SL_DEFAULT_LOCATION,
	           sizeof(s->default_location));
	s->views_bytes_max =
	    cfg->views_bytes_max > 0 ? cfg->views_bytes_max : SL_WRITER_VIEWS_BYTES_MAX;
	sl_err rc = ledger_open(cfg->data_dir, &s->l, errbuf, errbuf_size);
	if (rc != SL_OK)
		goto fail;
	ledger_set_idem_retention(s->l, cfg->idem_retention_ms);
	/* Views rebuilt to an earlier seq are an audit reference: deciding on them would write
	 * events that contradict the log's tail (ledger.h, "Views behind the log"), so such a
	 * directory serves reads only. */
	uint64_t views_seq = 0, log_head = ledger_head(s->l, NULL);
	if ((rc = ledger_views_seq(s->l, &views_seq)) != SL_OK) {
		snprintf(errbuf, errbuf_size, "cannot read how far the views go: %s",
		         sl_strerror(rc));
		goto fail;
	}
	if (views_seq < log_head) {
		snprintf(
		    s->read_only_why, sizeof(s->read_only_why),
		    "the views are as of seq %llu, an audit reference (stockledger-admin rebuild "
		    "--to-seq), and the log goes on to seq %llu: this directory serves reads "
		    "only; rebuild the whole log to write to it",
		    (unsigned long long)views_seq, (unsigned long long)log_head);
		fprintf(stderr, "stockledgerd: %s\n", s->read_only_why);
	}
	rc = SL_ERR_NOMEM;
	s->queue = calloc(SL_QUEUE_COMMANDS_MAX, sizeof(*s->queue));
	for (size_t i = 0; i < 2; i++) {
		s->groups[i] = calloc(SL_GROUP_COMMANDS_MAX, sizeof(*s->groups[i]));
		s->results_sets[i] = calloc(SL_GROUP_COMMANDS_MAX, sizeof(*s->results_sets[i]));
		if (s->groups[i] == NULL || s->results_sets[i] == NULL)
			goto fail;
	}
	s->group = s->groups[0];
	s->results = s->results_sets[0];
	s->events = calloc(LEDGER_COMMAND_EVENTS_MAX, sizeof(*s->events));
	s->txn = ledger_txn_alloc(s->l);
	s->orders = gw_orders_alloc(s->l);
	s->feed = gw_feed_open(s->l);
	for (size_t i = 0; i <= SL_INDEX_GROUPS_MAX; i++)
		if ((s->jobs[i].b = ledger_index_batch_alloc(s->l)) == NULL)
			goto fail;
	s->ib = s->jobs[0].b;
	if (s->queue == NULL || s->events == NULL || s->txn == NULL || s->orders == NULL ||
	    s->feed == NULL)
		goto fail;
	if ((rc = sl_map_init(&s->overlay, sizeof(overlay_view), OVERLAY_MAX)) != SL_OK ||
	    (rc = sl_map_init(&s->idem, sizeof(overlay_idem), SL_GROUP_COMMANDS_MAX)) != SL_OK ||
	    (rc = viewmap_init(&s->views)) != SL_OK)
		goto fail;
	/* Time never goes backwards in the log, even across a restart on a slow clock. */
	sl_event last;
	uint64_t head = ledger_head(s->l, NULL);
	sl_err hrc = head > 0 ? ledger_event_get(s->l, head, &last) : SL_ERR_NOT_FOUND;
	if (hrc == SL_OK)
		s->last_time_ms = last.time_ms;
	else if (head > 0)
		fprintf(stderr,
		        "stockledgerd: cannot read the last event (seq %llu): %s; new events are "
		        "timed by the clock alone (run stockledger-admin verify)\n",
		        (unsigned long long)head, sl_strerror(hrc));
	if (pthread_create(&s->replier, NULL, replier_main, s) != 0) {
		rc = SL_ERR_INTERNAL;
		snprintf(errbuf, errbuf_size, "cannot start the reply thread");
		goto fail;
	}
	s->has_replier = true;
	if (pthread_create(&s->indexer, NULL, indexer_main, s) != 0) {
		rc = SL_ERR_INTERNAL;
		snprintf(errbuf, errbuf_size, "cannot start the index thread");
		goto fail;
	}
	s->has_indexer = true;
	if (pthread_create(&s->writer, NULL, writer_main, s) != 0) {
		rc = SL_ERR_INTERNAL;
		snprintf(errbuf, errbuf_size, "cannot start the writer thread");
		goto fail;
	}
	s->has_writer = true;
	*out = s;
	return SL_OK;
fail:
	if (rc == SL_ERR_NOMEM)
		snprintf(errbuf, errbuf_size, "cannot open service: out of memory");
	gw_service_close(s);
	return rc;
}

void gw_service_close(gw_service *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	s->is_stopping = true;
	pthread_cond_broadcast(&s->nonempty);
	pthread_mutex_unlock(&s->lock);
	if (s->has_writer)
		pthread_join(s->writer, NULL);
	/* The index thread writes what the writer committed, then stops. */
	pthread_mutex_lock(&s->lock);
	s->is_indexer_stopping = true;
	pthread_cond_broadcast(&s->index_cond);
	pthread_mutex_unlock(&s->lock);
	if (s->has_indexer)
		pthread_join(s->indexer, NULL);
	for (size_t i = 0; i <= SL_INDEX_GROUPS_MAX; i++)
		ledger_index_batch_free(s->jobs[i].b);
	gw_feed_close(s->feed);
	/* The writer handed off its last group; the replier answers it, then stops. */
	pthread_mutex_lock(&s->lock);
	s->is_replier_stopping = true;
	pthread_cond_broadcast(&s->reply_cond);
	pthread_mutex_unlock(&s->lock);
	if (s->has_replier)
		pthread_join(s->replier, NULL);
	for (size_t k = 0; k < 2; k++) {
		if (s->results_sets[k] != NULL)
			for (size_t i = 0; i < SL_GROUP_COMMANDS_MAX; i++)
				sl_buf_fini(&s->results_sets[k][i]);
		free(s->results_sets[k]);
		free(s->groups[k]);
	}
	sl_map_fini(&s->overlay);
	sl_map_fini(&s->idem);
	viewmap_fini(&s->views);
	ledger_txn_free(s->txn);
	gw_orders_free(s->orders);
	free(s->events);
	free(s->queue);
	ledger_close(s->l);
	pthread_cond_destroy(&s->nonempty);
	pthread_cond_destroy(&s->reply_cond);
	pthread_cond_destroy(&s->index_cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

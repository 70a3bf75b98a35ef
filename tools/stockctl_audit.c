/*
 * stockctl_audit.c: the audit commands of stockctl (issue 4): query, history with ranges,
 * item get as of a point in time, explain, events (the change feed), export and chart.
 *
 * It uses the helpers of stockctl.c declared in tools/stockctl.h (call, emit, usage_error,
 * the printers); each run_ function is an entry of stockctl.c's command table. Argument
 * parsing and printing only, like the rest of stockctl; the SVG of `chart` is drawn in
 * tools/stockctl_chart.c, because it is a way of printing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/banned.h"
#include "base/sl_limits.h"
#include "base/sl_util.h"
#include "client/args.h"
#include "client/client.h"
#include "client/json.h"
#include "tools/stockctl.h"

/* the feed's long poll: below the client's timeout, within SL_FEED_WAIT_MS_MAX */
#define CTL_FEED_WAIT_MS 4000
#define CTL_RETRY_MS 200
#define CTL_DRAIN_WAIT_MS 1000

/* ---- option values ---- */

static int opt_u64(ctl *c, enum opt o, uint64_t *out)
{
	if (sl_args_u64(c->val[o], out) != SL_OK)
		return usage_error(c, "%s needs a non-negative integer, not '%s'", opt_spec[o].name,
		                   c->val[o]);
	return 0;
}

static int opt_time(ctl *c, enum opt o, int64_t *out)
{
	if (sl_time_parse(c->val[o], out) != SL_OK)
		return usage_error(c, "%s needs an RFC 3339 time (2026-12-04T16:30:00Z), not '%s'",
		                   opt_spec[o].name, c->val[o]);
	return 0;
}

static int opt_limit(ctl *c, uint32_t *out, protobuf_c_boolean *has)
{
	uint64_t v;
	if (!c->given[OPT_LIMIT])
		return 0;
	if (sl_args_u64(c->val[OPT_LIMIT], &v) != SL_OK || v == 0 || v > UINT32_MAX)
		return usage_error(c, "--limit needs a positive integer, not '%s'",
		                   c->val[OPT_LIMIT]);
	*out = (uint32_t)v;
	if (has != NULL)
		*has = true;
	return 0;
}

/* opt_as_of reads --as-of-seq N | --as-of T. */
static int opt_as_of(ctl *c, protobuf_c_boolean *has_seq, uint64_t *seq, protobuf_c_boolean *has_ms,
                     int64_t *ms)
{
	int code = 0;
	if (c->given[OPT_AS_OF_SEQ] && c->given[OPT_AS_OF])
		return usage_error(c, "give --as-of-seq or --as-of, not both");
	if (c->given[OPT_AS_OF_SEQ] && (code = opt_u64(c, OPT_AS_OF_SEQ, seq)) == 0)
		*has_seq = true;
	if (c->given[OPT_AS_OF] && (code = opt_time(c, OPT_AS_OF, ms)) == 0)
		*has_ms = true;
	return code;
}

/* ---- item get (point in time) and history (ranges) ---- */

int run_item_get(ctl *c)
{
	Sl__ItemKey key;
	Sl__GetItem body = SL__GET_ITEM__INIT;
	int code = pos_item(c, 0, &key);
	if (code != 0 || (code = opt_as_of(c, &body.has_as_of_seq, &body.as_of_seq,
	                                   &body.has_as_of_ms, &body.as_of_ms)) != 0)
		return code;
	body.item = &key;
	Sl__Command cmd = SL__COMMAND__INIT;
	cmd.body_case = SL__COMMAND__BODY_GET;
	cmd.get = &body;
	return run_and_print(c, &cmd, print_item_result, item_result_json);
}

/* history_body reads the options of history into body (key set by the caller). */
int history_body(ctl *c, Sl__History *body)
{
	uint64_t v;
	int code;
	if ((code = opt_limit(c, &body->limit, &body->has_limit)) != 0)
		return code;
	if (c->given[OPT_CURSOR]) {
		if (sl_args_u64(c->val[OPT_CURSOR], &v) != SL_OK)
			return usage_error(c, "--cursor takes the nextCursor of a page, not '%s'",
			                   c->val[OPT_CURSOR]);
		body->has_after_item_seq = true;
		body->after_item_seq = v;
	}
	if (c->given[OPT_FROM_SEQ] && (code = opt_u64(c, OPT_FROM_SEQ, &body->from_seq)) != 0)
		return code;
	body->has_from_seq = c->given[OPT_FROM_SEQ];
	if (c->given[OPT_TO_SEQ] && (code = opt_u64(c, OPT_TO_SEQ, &body->to_seq)) != 0)
		return code;
	body->has_to_seq = c->given[OPT_TO_SEQ];
	if (c->given[OPT_SINCE] && (code = opt_time(c, OPT_SINCE, &body->since_ms)) != 0)
		return code;
	body->has_since_ms = c->given[OPT_SINCE];
	if (c->given[OPT_UNTIL] && (code = opt_time(c, OPT_UNTIL, &body->until_ms)) != 0)
		return code;
	body->has_until_ms = c->given[OPT_UNTIL];
	return 0;
}

int run_history(ctl *c)
{
	Sl__ItemKey key;
	Sl__History body = SL__HISTORY__INIT;
	int code = pos_item(c, 0, &key);
	if (code != 0 || (code = history_body(c, &body)) != 0)
		return code;
	body.item = &key;
	Sl__Command cmd = SL__COMMAND__INIT;
	cmd.body_case = SL__COMMAND__BODY_HISTORY;
	cmd.history = &body;
	return run_and_print(c, &cmd, print_history, history_json);
}

/* ---- query ---- */

/* id_filter reads --product/--variant/--location: ID, ID1,ID2,... (in) or PREFIX* . The
 * text is cut in place; ids points into it. */
static int id_filter(ctl *c, enum opt o, char **ids, size_t *n_ids, char **prefix)
{
	char *text = (char *)c->val[o];
	size_t len = strlen(text);
	*n_ids = 0;
	*prefix = NULL;
	if (len == 0)
		return usage_error(c, "%s needs an id, ids separated by commas, or PREFIX*",
		                   opt_spec[o].name);
	if (text[len - 1] == '*') {
		text[len - 1] = '\0';
		*prefix = text;
		return 0;
	}
	for (char *p = text;;) {
		char *comma = strchr(p, ',');
		if (*n_ids == SL_QUERY_IN_MAX)
			return usage_error(c, "%s takes at most %d ids", opt_spec[o].name,
			                   SL_QUERY_IN_MAX);
		if (comma != NULL)
			*comma = '\0';
		if (*p == '\0')
			return usage_error(c, "%s has an empty id", opt_spec[o].name);
		ids[(*n_ids)++] = p;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return 0;
}

static int query_sort(ctl *c, Sl__Query *q)
{
	static char field[32];
	const char *v = c->val[OPT_SORT];
	const char *colon = strchr(v, ':');
	size_t n = colon != NULL ? (size_t)(colon - v) : strlen(v);
	const char *dir = colon != NULL ? colon + 1 : "asc";
	if (n >= sizeof(field))
		n = sizeof(field) - 1;
	memcpy(field, v, n);
	field[n] = '\0';
	if ((strcmp(field, "quantity") != 0 && strcmp(field, "createdDate") != 0 &&
	     strcmp(field, "updatedDate") != 0) ||
	    (strcmp(dir, "asc") != 0 && strcmp(dir, "desc") != 0))
		return usage_error(c,
		                   "--sort is FIELD:asc|desc with FIELD quantity, createdDate or "
		                   "updatedDate, not '%s'",
		                   v);
	q->sort_field = field;
	q->has_sort_desc = true;
	q->sort_desc = strcmp(dir, "desc") == 0;
	return 0;
}

static int query_status(ctl *c, Sl__Query *q)
{
	static const struct {
		const char *name;
		Sl__AvailabilityStatus st;
	} names[] = {{"IN_STOCK", SL__AVAILABILITY_STATUS__IN_STOCK},
	             {"OUT_OF_STOCK", SL__AVAILABILITY_STATUS__OUT_OF_STOCK},
	             {"PREORDER", SL__AVAILABILITY_STATUS__PREORDER}};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(c->val[OPT_STATUS], names[i].name) == 0) {
			q->has_status = true;
			q->status = names[i].st;
			return 0;
		}
	return usage_error(c, "--status is IN_STOCK, OUT_OF_STOCK or PREORDER, not '%s'",
	                   c->val[OPT_STATUS]);
}

static void print_query(const Sl__Result *r)
{
	for (size_t i = 0; i < r->n_items; i++) {
		const Sl__ItemView *it = r->items[i];
		char key[256], stock[32], updated[40];
		printf("%-40s %12s  %-12s rev %-6" PRId64 " %s\n",
		       key_text(it->key, key, sizeof(key)),
		       stock_text(it->state, stock, sizeof(stock)),
		       status_text(it->availability_status), it->revision,
		       sl_time_format(it->updated_ms, updated, sizeof(updated)));
	}
	printf("%zu items", r->n_items);
	if (r->has_as_of_seq)
		printf(" as of seq %" PRIu64, r->as_of_seq);
	printf("\n");
	if (r->next_cursor != NULL)
		printf("more: --cursor %s\n", r->next_cursor);
}

static json_t *query_json(const Sl__Result *r)
{
	json_t *cursor = r->next_cursor != NULL ? json_string(r->next_cursor) : json_null();
	json_t *as_of = r->has_as_of_seq ? json_integer((json_int_t)r->as_of_seq) : json_null();
	return json_pack("{s:o, s:o, s:o}", "items", items_json(r), "nextCursor", cursor, "asOfSeq",
	                 as_of);
}

int run_query(ctl *c)
{
	static char *pids[SL_QUERY_IN_MAX], *vids[SL_QUERY_IN_MAX], *lids[SL_QUERY_IN_MAX];
	Sl__Query q = SL__QUERY__INIT;
	int code = 0;
	q.product_ids = pids;
	q.variant_ids = vids;
	q.location_ids = lids;
	if ((c->given[OPT_PRODUCT] &&
	     (code = id_filter(c, OPT_PRODUCT, pids, &q.n_product_ids, &q.product_prefix)) != 0) ||
	    (c->given[OPT_VARIANT] &&
	     (code = id_filter(c, OPT_VARIANT, vids, &q.n_variant_ids, &q.variant_prefix)) != 0) ||
	    (c->given[OPT_LOCATION] &&
	     (code = id_filter(c, OPT_LOCATION, lids, &q.n_location_ids, &q.location_prefix)) != 0))
		return code;
	if (c->given[OPT_STATUS] && (code = query_status(c, &q)) != 0)
		return code;
	if (c->given[OPT_TRACKED]) {
		bool b;
		if ((code = opt_bool(c, OPT_TRACKED, &b)) != 0)
			return code;
		q.has_track_quantity = true;
		q.track_quantity = b;
	}
	if (c->given[OPT_MIN_QUANTITY] &&
	    (code = opt_i64(c, OPT_MIN_QUANTITY, &q.min_quantity)) != 0)
		return code;
	q.has_min_quantity = c->given[OPT_MIN_QUANTITY];
	if (c->given[OPT_MAX_QUANTITY] &&
	    (code = opt_i64(c, OPT_MAX_QUANTITY, &q.max_quantity)) != 0)
		return code;
	q.has_max_quantity = c->given[OPT_MAX_QUANTITY];
	if (c->given[OPT_UPDATED_AFTER] &&
	    (code = opt_time(c, OPT_UPDATED_AFTER, &q.updated_after_ms)) != 0)
		return code;
	q.has_updated_after_ms = c->given[OPT_UPDATED_AFTER];
	if (c->given[OPT_UPDATED_BEFORE] &&
	    (code = opt_time(c, OPT_UPDATED_BEFORE, &q.updated_before_ms)) != 0)
		return code;
	q.has_updated_before_ms = c->given[OPT_UPDATED_BEFORE];
	if (c->given[OPT_SORT] && (code = query_sort(c, &q)) != 0)
		return code;
	if ((code = opt_limit(c, &q.limit, &q.has_limit)) != 0 ||
	    (code = opt_as_of(c, &q.has_as_of_seq, &q.as_of_seq, &q.has_as_of_ms, &q.as_of_ms)) !=
	        0)
		return code;
	q.cursor = (char *)c->val[OPT_CURSOR];
	Sl__Command cmd = SL__COMMAND__INIT;
	cmd.body_case = SL__COMMAND__BODY_QUERY;
	cmd.query = &q;
	return run_and_print(c, &cmd, print_query, query_json);
}

/* ---- explain ---- */

static const Sl__Explanation *explanation_of(const Sl__Result *r)
{
	static const Sl__Explanation none = SL__EXPLANATION__INIT;
	return r->explanation != NULL ? r->explanation : &none;
}

/* hold_split_print says how many of n held units were held since before the setting, which
 * counts them (before), taken before a reset of the preorder counter, which no longer counts
 * them (uncounted: they release nothing when given back), and taken by the adjustments. */
static void hold_split_print(int64_t n, int64_t before, int64_t uncounted, const char *of)
{
	int64_t after = n - before - uncounted;
	const char *sep = "";
	if (before == n) {
		printf("held since before the setting, which counts them");
		return;
	}
	if (after == n) {
		printf("taken by the adjustments above");
		return;
	}
	if (uncounted == n) {
		printf("taken before the preorder counter was reset (or the item created again), "
		       "which no longer counts them: they release nothing when given back");
		return;
	}
	if (before != 0) {
		printf("%" PRId64 "%s held since before the setting, which counts them", before,
		       of);
		sep = ", ";
	}
	if (uncounted != 0) {
		printf("%s%" PRId64 "%s taken before the preorder counter was reset (or the item "
		       "created again), which no longer counts them",
		       sep, uncounted, of);
		sep = ", ";
	}
	if (after != 0)
		printf("%s%" PRId64 " taken by the adjustments above", sep, after);
}

static void print_explain(const Sl__Result *r)
{
	const Sl__Explanation *x = explanation_of(r);
	const Sl__ItemView *it = r->n_items > 0 ? r->items[0] : NULL;
	const Sl__Event *set = x->setting;
	char key[256], t[40];
	if (it == NULL || set == NULL || set->after == NULL || it->state == NULL)
		return;
	printf("%s: quantity %" PRId64 ", preorder counter %" PRId64 "\n",
	       key_text(it->key, key, sizeof(key)), it->state->quantity,
	       it->state->preorder_counter);
	static char reason[TEXT_PRINTABLE_SIZE(SL_REASON_MAX)];
	bool has_reason = set->reason != NULL && set->reason[0] != '\0';
	printf("  %+8" PRId64 "  set by %s at seq %" PRIu64 " (%s)%s%s%s\n", set->after->quantity,
	       set->type == SL__EVENT_TYPE__ITEM_CREATED ? "create" : "update", set->seq,
	       sl_time_format(set->time_ms, t, sizeof(t)), has_reason ? " reason \"" : "",
	       text_printable(set->reason, reason, sizeof(reason)), has_reason ? "\"" : "");
	for (size_t i = 0; i < x->n_adjustments; i++) {
		const Sl__AdjustmentGroup *g = x->adjustments[i];
		bool has_why = g->reason != NULL && g->reason[0] != '\0';
		bool has_order = g->order_id != NULL && g->order_id[0] != '\0';
		printf("  %+8" PRId64 "  %u event%s, seq %" PRIu64 "..%" PRIu64 "%s%s%s%s%s%s",
		       g->delta_quantity, g->events, g->events == 1 ? "" : "s", g->first_seq,
		       g->last_seq, has_why ? ", reason \"" : "",
		       text_printable(g->reason, reason, sizeof(reason)), has_why ? "\"" : "",
		       has_order ? ", order " : "", has_order ? g->order_id : "",
		       has_why || has_order ? "" : ", no reason given");
		if (g->delta_counter != 0)
			printf(", preorder counter %+" PRId64, g->delta_counter);
		printf("\n");
	}
	printf("  =%7" PRId64 "  quantity (%" PRIu64 " adjustment%s since the setting)\n",
	       x->adjusted_quantity, x->events_since, x->events_since == 1 ? "" : "s");
	if (!x->has_holds) {
		printf("  holds: this service keeps no order holds\n");
		return;
	}
	for (size_t i = 0; i < x->n_holds; i++) {
		const Sl__ExplainHold *h = x->holds[i];
		printf("  %8" PRId64 "  held by open order %s: ", h->quantity,
		       h->order_id ? h->order_id : "");
		if (h->quantity != 0 || h->preorder == 0)
			hold_split_print(h->quantity, h->quantity_before_setting, 0, "");
		if (h->preorder != 0) {
			printf("%s%" PRId64 " preorder units: ", h->quantity != 0 ? "; and " : "",
			       h->preorder);
			hold_split_print(h->preorder,
			                 h->preorder_before_setting - h->preorder_uncounted,
			                 h->preorder_uncounted, " of them");
		}
		printf("\n");
	}
	printf("  %8" PRId64 "  held by open orders in all, %" PRId64
	       " of them held since before the setting (and %" PRId64 " preorder units, %" PRId64
	       " since before it",
	       x->held_quantity, x->held_quantity_before_setting, x->held_preorder,
	       x->held_preorder_before_setting);
	if (x->held_preorder_uncounted != 0)
		printf(", %" PRId64 " of them not counted by the counter",
		       x->held_preorder_uncounted);
	if (it->state->track_quantity)
		printf("); they come back if the orders are canceled\n");
	else
		printf(
		    "); the item is tracked by inStock now: a cancel gives nothing back to it\n");
}

static json_t *explain_json(const Sl__Result *r)
{
	const Sl__Explanation *x = explanation_of(r);
	json_t *groups = json_array(), *holds = json_array();
	for (size_t i = 0; groups != NULL && i < x->n_adjustments; i++) {
		const Sl__AdjustmentGroup *g = x->adjustments[i];
		json_t *o = json_pack(
		    "{s:o, s:s, s:I, s:I, s:I, s:I, s:I}", "orderId",
		    g->order_id ? json_string(g->order_id) : json_null(), "reason",
		    g->reason ? g->reason : "", "events", (json_int_t)g->events, "deltaQuantity",
		    (json_int_t)g->delta_quantity, "deltaCounter", (json_int_t)g->delta_counter,
		    "firstSeq", (json_int_t)g->first_seq, "lastSeq", (json_int_t)g->last_seq);
		if (json_array_append_new(groups, o) != 0) {
			json_decref(groups);
			groups = NULL;
		}
	}
	for (size_t i = 0; holds != NULL && i < x->n_holds; i++) {
		const Sl__ExplainHold *h = x->holds[i];
		json_t *o = json_pack(
		    "{s:s, s:I, s:I, s:I, s:I, s:I}", "orderId", h->order_id ? h->order_id : "",
		    "quantity", (json_int_t)h->quantity, "preorder", (json_int_t)h->preorder,
		    "quantityBeforeSetting", (json_int_t)h->quantity_before_setting,
		    "preorderBeforeSetting", (json_int_t)h->preorder_before_setting,
		    "preorderUncounted", (json_int_t)h->preorder_uncounted);
		if (json_array_append_new(holds, o) != 0) {
			json_decref(holds);
			holds = NULL;
		}
	}
	const Sl__ItemView *it = r->n_items > 0 ? r->items[0] : NULL;
	int64_t quantity = it != NULL && it->state != NULL ? it->state->quantity : 0;
	int64_t counter = it != NULL && it->state != NULL ? it->state->preorder_counter : 0;
	return json_pack(
	    "{s:o, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:{s:b, s:o, s:I, s:I, s:I, s:I, s:I}}",
	    "item", it != NULL ? sl_json_item(it) : json_null(), "setting",
	    x->setting != NULL ? sl_json_event(x->setting) : json_null(), "adjustments", groups,
	    "eventsSince", (json_int_t)x->events_since, "adjustedQuantity",
	    (json_int_t)x->adjusted_quantity, "quantity", (json_int_t)quantity, "adjustedCounter",
	    (json_int_t)x->adjusted_counter, "preorderCounter", (json_int_t)counter, "holds",
	    "known", x->has_holds, "items", holds, "heldQuantity", (json_int_t)x->held_quantity,
	    "heldPreorder", (json_int_t)x->held_preorder, "heldQuantityBeforeSetting",
	    (json_int_t)x->held_quantity_before_setting, "heldPreorderBeforeSetting",
	    (json_int_t)x->held_preorder_before_setting, "heldPreorderUncounted",
	    (json_int_t)x->held_preorder_uncounted);
}

int run_explain(ctl *c)
{
	Sl__ItemKey key;
	int code = pos_item(c, 0, &key);
	if (code != 0)
		return code;
	Sl__Explain body = SL__EXPLAIN__INIT;
	body.item = &key;
	Sl__Command cmd = SL__COMMAND__INIT;
	cmd.body_case = SL__COMMAND__BODY_EXPLAIN;
	cmd.explain = &body;
	return run_and_print(c, &cmd, print_explain, explain_json);
}

/* ---- the change feed: events and export ---- */

typedef struct feed_reader {
	ctl *c;
	sl_client *cl;
	bool is_follow;
} feed_reader;

static void ctl_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* feed_is_transient tells whether resp refuses for a passing reason (UNAVAILABLE: the service
 * is stopping; BUSY). */
static bool feed_is_transient(const Sl__Response *resp)
{
	const Sl__Error *e = resp->error != NULL    ? resp->error
	                     : resp->n_results == 1 ? resp->results[0]->error
	                                            : NULL;
	return e != NULL && e->code != NULL &&
	       (strcmp(e->code, "UNAVAILABLE") == 0 || strcmp(e->code, "BUSY") == 0);
}

/* feed_read asks for up to limit events from from_seq (to to_seq, 0: no end). Following, it
 * waits for new events and rides out a restart of the service (reconnecting every
 * CTL_RETRY_MS); else a failure is final. Returns 0 with the response, or an exit status. */
static int feed_read(feed_reader *f, uint64_t from_seq, uint64_t to_seq, uint32_t limit,
                     Sl__Response **resp_out)
{
	Sl__ReadEvents body = SL__READ_EVENTS__INIT;
	body.has_from_seq = true;
	body.from_seq = from_seq;
	body.has_to_seq = to_seq > 0;
	body.to_seq = to_seq;
	body.has_limit = true;
	body.limit = limit;
	body.has_wait_ms = f->is_follow;
	body.wait_ms = f->is_follow ? CTL_FEED_WAIT_MS : 0;
	Sl__Command cmd = SL__COMMAND__INIT, *cmds[1] = {&cmd};
	cmd.body_case = SL__COMMAND__BODY_EVENTS;
	cmd.events = &body;
	Sl__Request req = SL__REQUEST__INIT;
	req.n_commands = 1;
	req.commands = cmds;
	bool is_noted = false;
	for (;;) {
		char why[128] = "";
		sl_err rc = SL_OK;
		if (f->cl == NULL)
			rc = sl_client_open_why(f->c->server, CTL_TIMEOUT_MS, &f->cl, why,
			                        sizeof(why));
		if (rc == SL_OK) {
			rc = sl_client_call(f->cl, &req, resp_out);
			if (rc != SL_OK) {
				snprintf(why, sizeof(why), "%s", sl_client_why(f->cl));
				sl_client_close(f->cl);
				f->cl = NULL;
			}
		}
		if (rc == SL_OK && f->is_follow && feed_is_transient(*resp_out)) {
			/* a service that is shutting down (or busy) answers, but not yet with
			 * events: following rides it out like an unreachable one */
			snprintf(why, sizeof(why), "the service is shutting down or busy");
			sl__response__free_unpacked(*resp_out, NULL);
			*resp_out = NULL;
			sl_client_close(f->cl);
			f->cl = NULL;
			rc = SL_ERR_UNAVAILABLE;
			/* let a stopping service finish closing before dialing it again */
			ctl_sleep_ms(CTL_DRAIN_WAIT_MS);
		}
		if (rc == SL_OK)
			break;
		if (rc == SL_ERR_INVALID_ARGUMENT) {
			/* a URL nng cannot use (as in call): following cannot ride that out */
			fprintf(stderr, "stockctl: cannot reach '%s': %s\n", f->c->server, why);
			if (f->c->is_json)
				print_error_json("USAGE", why);
			return EXIT_USAGE;
		}
		if (!f->is_follow) {
			fprintf(stderr, "stockctl: cannot reach '%s': %s\n", f->c->server, why);
			if (f->c->is_json)
				print_error_json("UNAVAILABLE", why);
			return EXIT_UNREACHABLE;
		}
		if (!is_noted)
			fprintf(stderr, "stockctl: '%s': %s; retrying from seq %" PRIu64 "\n",
			        f->c->server, why, from_seq);
		is_noted = true;
		ctl_sleep_ms(CTL_RETRY_MS);
	}
	Sl__Response *resp = *resp_out;
	if (resp->error != NULL || resp->n_results != 1 || resp->results[0]->error != NULL) {
		static const Sl__Error no_result = {.code = "INTERNAL",
		                                    .message = "reply holds no result"};
		const Sl__Error *e = resp->error != NULL    ? resp->error
		                     : resp->n_results == 1 ? resp->results[0]->error
		                                            : &no_result;
		int code = print_refusal(f->c, e);
		sl__response__free_unpacked(resp, NULL);
		return code;
	}
	return 0;
}

/* csv_field writes s as one CSV field, quoted when it holds a comma, quote or newline. */
static void csv_field(FILE *out, const char *s)
{
	if (s == NULL)
		s = "";
	if (strpbrk(s, ",\"\r\n") == NULL) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s != '\0'; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

static const char csv_header[] =
    "seq,itemSeq,time,type,productId,variantId,locationId,reason,orderId,key,existsAfter,"
    "trackQuantity,quantityBefore,quantityAfter,deltaQuantity,inStockAfter,counterBefore,"
    "counterAfter,deltaCounter,hash\n";

static bool csv_event(FILE *out, const Sl__Event *ev)
{
	static const Sl__ItemState none = SL__ITEM_STATE__INIT;
	static const Sl__ItemKey nokey = SL__ITEM_KEY__INIT;
	const Sl__ItemState *b = ev->before ? ev->before : &none,
	                    *a = ev->after ? ev->after : &none;
	const Sl__ItemKey *k = ev->item ? ev->item : &nokey;
	json_t *o = sl_json_event(ev);
	const char *type = o != NULL ? json_string_value(json_object_get(o, "type")) : "?";
	char t[40], hex[2 * SL_HASH_BYTES + 1] = "";
	if (ev->has_hash && ev->hash.len == SL_HASH_BYTES)
		sl_hex(ev->hash.data, ev->hash.len, hex);
	fprintf(out, "%" PRIu64 ",%" PRIu64 ",%s,%s,", ev->seq, ev->item_seq,
	        sl_time_format(ev->time_ms, t, sizeof(t)), type ? type : "?");
	csv_field(out, k->product_id);
	fputc(',', out);
	csv_field(out, k->variant_id);
	fputc(',', out);
	csv_field(out, k->location_id);
	fputc(',', out);
	csv_field(out, ev->reason);
	fputc(',', out);
	csv_field(out, ev->order_id);
	fputc(',', out);
	csv_field(out, ev->command_key);
	fprintf(out,
	        ",%s,%s,%" PRId64 ",%" PRId64 ",%" PRId64 ",%s,%" PRId64 ",%" PRId64 ",%" PRId64
	        ",%s\n",
	        a->exists ? "true" : "false", a->track_quantity ? "true" : "false", b->quantity,
	        a->quantity, ev->delta_quantity, a->in_stock ? "true" : "false",
	        b->preorder_counter, a->preorder_counter, ev->delta_counter, hex);
	json_decref(o);
	return true;
}

static bool jsonl_event(FILE *out, const Sl__Event *ev)
{
	json_t *o = sl_json_event(ev);
	char *s = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	if (s != NULL) {
		fputs(s, out);
		fputc('\n', out);
	}
	free(s);
	json_decref(o);
	return s != NULL;
}

/* feed_pump reads events [from, to] (to 0: to the head seen first, or for ever when
 * following) and writes each with write_fn; at most max events (0: no limit). */
static int feed_pump(ctl *c, uint64_t from, uint64_t to, uint64_t max, bool is_follow, FILE *out,
                     bool (*write_fn)(FILE *, const Sl__Event *), uint64_t *n_out)
{
	feed_reader f = {.c = c, .is_follow = is_follow};
	uint64_t next = from == 0 ? 1 : from, n = 0, end = to;
	int code = 0;
	for (;;) {
		if (max > 0 && n >= max)
			break;
		if (end > 0 && next > end)
			break;
		uint64_t want = max > 0 ? max - n : SL_FEED_PAGE_MAX;
		Sl__Response *resp = NULL;
		if ((code = feed_read(&f, next, end,
		                      want < SL_FEED_PAGE_MAX ? (uint32_t)want : SL_FEED_PAGE_MAX,
		                      &resp)) != 0)
			break;
		const Sl__Result *r = resp->results[0];
		if (end == 0 && !is_follow)
			end = r->seq; /* catch up to the head of the first answer, then stop */
		for (size_t i = 0; i < r->n_events; i++) {
			if (r->events[i]->seq != next) {
				/* a gap would be a bug of the service: never print past one */
				fprintf(stderr,
				        "stockctl: expected event %" PRIu64 ", got %" PRIu64 "\n",
				        next, r->events[i]->seq);
				code = EXIT_REFUSED;
				break;
			}
			if (!write_fn(out, r->events[i])) {
				/* (a log written before strings were checked as UTF-8) */
				fprintf(stderr,
				        "stockctl: event %" PRIu64
				        " cannot be written as JSON: one of its strings is not "
				        "UTF-8\n",
				        r->events[i]->seq);
				code = EXIT_REFUSED;
			}
			next++;
			n++;
		}
		fflush(out);
		bool is_empty = r->n_events == 0;
		sl__response__free_unpacked(resp, NULL);
		if (code != 0 || (is_empty && !is_follow))
			break;
	}
	sl_client_close(f.cl);
	*n_out = n;
	return code;
}

/* feed_over_nng: the change feed is read from the service itself, not through the bus (the
 * bus carries it as the events stream): a nats:// server is a usage error, not an outage. */
static int feed_over_nng(ctl *c)
{
	if (is_bus_url(c->server))
		return usage_error(
		    c,
		    "events and export read the change feed over nng: give the "
		    "service's tcp:// or ipc:// URL, not '%s' (on the bus the events "
		    "are the stream STOCKLEDGER_EVENTS)",
		    c->server);
	return 0;
}

int run_events(ctl *c)
{
	uint64_t from = 1, max = 0, n;
	int code = feed_over_nng(c);
	if (code != 0)
		return code;
	if (c->given[OPT_FROM_SEQ] && (code = opt_u64(c, OPT_FROM_SEQ, &from)) != 0)
		return code;
	if (c->given[OPT_LIMIT] && ((code = opt_u64(c, OPT_LIMIT, &max)) != 0 || max == 0))
		return code != 0 ? code : usage_error(c, "--limit needs a positive integer");
	return feed_pump(c, from, 0, max, c->given[OPT_FOLLOW], stdout, jsonl_event, &n);
}

int run_export(ctl *c)
{
	uint64_t from = 1, to = 0, n = 0;
	int code = feed_over_nng(c);
	if (code != 0)
		return code;
	bool is_csv = false;
	if (c->given[OPT_FROM_SEQ] && (code = opt_u64(c, OPT_FROM_SEQ, &from)) != 0)
		return code;
	if (c->given[OPT_TO_SEQ] && (code = opt_u64(c, OPT_TO_SEQ, &to)) != 0)
		return code;
	if (c->given[OPT_FORMAT]) {
		if (strcmp(c->val[OPT_FORMAT], "csv") == 0)
			is_csv = true;
		else if (strcmp(c->val[OPT_FORMAT], "jsonl") != 0)
			return usage_error(c, "--format is jsonl or csv, not '%s'",
			                   c->val[OPT_FORMAT]);
	}
	FILE *out = stdout;
	if (c->given[OPT_OUT] && (out = fopen(c->val[OPT_OUT], "w")) == NULL) {
		fprintf(stderr, "stockctl: cannot open '%s': %s\n", c->val[OPT_OUT],
		        strerror(errno));
		return EXIT_REFUSED;
	}
	if (is_csv)
		fputs(csv_header, out);
	/* --to-seq 0 (or below --from-seq) is an empty range: seq 0 is the state before the
	 * first event, as for --as-of-seq 0; feed_pump's 0 would mean "to the head" */
	if (!c->given[OPT_TO_SEQ] || to >= (from == 0 ? 1 : from))
		code = feed_pump(c, from, to, 0, false, out, is_csv ? csv_event : jsonl_event, &n);
	if (out != stdout && fclose(out) != 0 && code == 0) {
		fprintf(stderr, "stockctl: cannot write '%s': %s\n", c->val[OPT_OUT],
		        strerror(errno));
		code = EXIT_REFUSED;
	}
	if (code == 0 && out != stdout) {
		if (c->is_json)
			emit(json_pack("{s:I, s:s, s:s}", "events", (json_int_t)n, "format",
			               is_csv ? "csv" : "jsonl", "out", c->val[OPT_OUT]));
		else
			printf("%" PRIu64 " events written to %s\n", n, c->val[OPT_OUT]);
	}
	return code;
}

/*
 * stockledger-audit-bench: loads a large log and prints the latency of the audit reads
 * (issue 4): one item's history, an item's state as of a point in time, and queries.
 *
 * Load: events are written straight through the ledger's transaction API (the path the
 * writer uses: ledger_txn_append with its hash chain and item index, ledger_txn_put_view
 * with its secondary indexes), in batches of BATCH_EVENTS without a sync per batch and one
 * sync at the end; views are folded in memory with the projector's fold and written once,
 * at the end. No service runs during the load: it measures the reads, not the writer.
 * Reads: the service is opened on the loaded directory and each call goes through
 * gw_service_execute (decode-free in-process calls: rules, snapshot, store reads and the
 * encoding of the reply; no transport), one at a time, timed with a monotonic clock.
 *
 *   stockledger-audit-bench [--quick] [--data DIR] [--items N] [--events N] [--samples N]
 *                           [--load-only] [--keep] [--seed S]
 * --quick: 2000 items, 20000 events, 50 samples (seconds; run by ctest to prove it works).
 * --load-only: load DIR and stop (the end-to-end tests use it to make thousands of items).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/banned.h"
#include "base/sl_util.h"
#include "gateway/service.h"
#include "ledger/ledger.h"
#include "ledger/query.h"
#include "projector/stock.h"
#include "stockledger.pb-c.h"

#define BATCH_EVENTS 20000
#define BATCH_VIEWS 20000
#define SAMPLES_MAX 100000

typedef struct bench {
	const char *dir;
	uint64_t items, events, samples, seed;
	bool is_load_only, is_keep;
	sl_item *views;
	int64_t t0_ms;
} bench;

static uint64_t rng = 88172645463325252ULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void item_key(uint64_t i, sl_item_key *k)
{
	memset(k, 0, sizeof(*k));
	snprintf(k->product_id, sizeof(k->product_id), "p%06" PRIu64, i / 4);
	snprintf(k->variant_id, sizeof(k->variant_id), "v%" PRIu64, i % 4);
	snprintf(k->location_id, sizeof(k->location_id), "%s", i % 2 ? "east" : "default");
}

/* next_event makes event seq (1-based) of the synthetic log into ev, from the views;
 * returns the index of its item. */
static uint64_t next_event(bench *b, uint64_t seq, sl_event *ev)
{
	uint64_t i = seq <= b->items ? seq - 1 : rnd() % b->items;
	sl_item *v = &b->views[i];
	memset(ev, 0, sizeof(*ev));
	ev->seq = seq;
	ev->command_seq = seq;
	ev->time_ms = b->t0_ms + (int64_t)seq;
	item_key(i, &ev->item);
	ev->item_seq = v->item_seq + 1;
	ev->before = v->state;
	ev->after = v->state;
	if (!v->state.exists) {
		ev->type = SL_EV_ITEM_CREATED;
		ev->after.exists = true;
		ev->after.track_quantity = true;
		ev->after.quantity = 50 + (int64_t)(rnd() % 100);
		snprintf(ev->reason, sizeof(ev->reason), "initial count");
	} else {
		uint64_t r = rnd() % 10;
		int64_t q = v->state.quantity;
		if (r < 5 && q > 5) {
			ev->type = SL_EV_ITEM_DECREMENTED;
			ev->after.quantity = q - 1 - (int64_t)(rnd() % 5);
			snprintf(ev->order_id, sizeof(ev->order_id), "o-%" PRIu64, rnd() % 1000000);
			snprintf(ev->reason, sizeof(ev->reason), "sale");
		} else if (r < 9) {
			ev->type = SL_EV_ITEM_INCREMENTED;
			ev->after.quantity = q + 1 + (int64_t)(rnd() % 20);
			snprintf(ev->reason, sizeof(ev->reason), "restock");
		} else {
			ev->type = SL_EV_ITEM_UPDATED;
			ev->after.quantity = (int64_t)(rnd() % 200);
			snprintf(ev->reason, sizeof(ev->reason), "count");
		}
		if (ev->after.quantity > SL_QUANTITY_MAX)
			ev->after.quantity = SL_QUANTITY_MAX;
	}
	ev->after.in_stock = ev->after.quantity > 0;
	ev->delta_quantity = ev->after.quantity - ev->before.quantity;
	return i;
}

static int load(bench *b, ledger *l)
{
	ledger_txn *t = ledger_txn_alloc(l);
	sl_event *ev = malloc(sizeof(*ev));
	int status = 1;
	sl_err rc = SL_OK;
	if (t == NULL || ev == NULL)
		goto done;
	int64_t start = mono_us();
	uint64_t first = ledger_head(l, NULL) + 1;
	if (first != 1) {
		fprintf(stderr, "stockledger-audit-bench: '%s' is not empty\n", b->dir);
		goto done;
	}
	if ((rc = ledger_txn_begin(t)) != SL_OK)
		goto done;
	for (uint64_t seq = 1; seq <= b->events && rc == SL_OK; seq++) {
		uint64_t i = next_event(b, seq, ev);
		/* the generator made a valid event: a fold that refuses it is a bug */
		SL_ASSERT(stock_view_apply(&b->views[i], ev) == SL_OK);
		if ((rc = ledger_txn_append(t, ev)) != SL_OK)
			break;
		if (seq % BATCH_EVENTS == 0 || seq == b->events) {
			if ((rc = ledger_txn_commit(t, false)) != SL_OK ||
			    (rc = ledger_txn_begin(t)) != SL_OK)
				break;
		}
		if (seq % 1000000 == 0)
			fprintf(stderr, "  %" PRIu64 " events, %.1f s\n", seq,
			        (double)(mono_us() - start) / 1e6);
	}
	for (uint64_t i = 0; i < b->items && rc == SL_OK; i++) {
		if ((rc = ledger_txn_put_view(t, &b->views[i])) != SL_OK)
			break;
		if ((i + 1) % BATCH_VIEWS == 0 || i + 1 == b->items) {
			if ((rc = ledger_txn_commit(t, i + 1 == b->items)) != SL_OK ||
			    (rc = ledger_txn_begin(t)) != SL_OK)
				break;
		}
	}
	if (rc == SL_OK) {
		ledger_txn_abort(t);
		double s = (double)(mono_us() - start) / 1e6;
		printf("loaded %" PRIu64 " events over %" PRIu64
		       " items in %.1f s (%.0f events/s), "
		       "%.1f MiB on disk\n",
		       b->events, b->items, s, (double)b->events / s,
		       (double)store_disk_bytes(ledger_store(l)) / (1 << 20));
		status = 0;
	} else {
		fprintf(stderr, "stockledger-audit-bench: load failed: %s (%s)\n", sl_strerror(rc),
		        store_last_error(ledger_store(l)));
	}
done:
	free(ev);
	ledger_txn_free(t);
	return status;
}

/* ---- measuring ---- */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

typedef struct series {
	const char *name;
	int64_t *us;
	uint64_t n;
	uint64_t results; /* items or events returned, summed */
} series;

static void series_print(series *s)
{
	qsort(s->us, s->n, sizeof(s->us[0]), cmp_i64);
	int64_t p50 = s->us[s->n / 2],
	        p99 = s->us[(s->n * 99) / 100 < s->n ? (s->n * 99) / 100 : s->n - 1];
	printf("%-44s n=%-6" PRIu64
	       " p50 %8.1f us  p99 %8.1f us  max %8.1f us  (%.1f results/call)\n",
	       s->name, s->n, (double)p50, (double)p99, (double)s->us[s->n - 1],
	       (double)s->results / (double)s->n);
}

/* timed runs cmd through the service and adds its latency and result size to s. */
static int timed(gw_service *svc, sl_command *cmd, series *s)
{
	sl_buf out;
	sl_buf_init(&out);
	int64_t t = mono_us();
	sl_err rc = gw_service_execute(svc, cmd, &out);
	s->us[s->n] = mono_us() - t;
	Sl__Result *r = rc == SL_OK ? sl__result__unpack(NULL, out.len, out.data) : NULL;
	sl_buf_fini(&out);
	if (r == NULL || r->error != NULL) {
		fprintf(stderr, "stockledger-audit-bench: %s failed: %s\n", s->name,
		        r != NULL && r->error->message ? r->error->message : "no reply");
		sl__result__free_unpacked(r, NULL);
		return 1;
	}
	s->results += r->n_items + r->n_events;
	s->n++;
	sl__result__free_unpacked(r, NULL);
	return 0;
}

enum {
	S_HISTORY,
	S_HISTORY_RANGE,
	S_GET_AS_OF,
	S_GET_AS_OF_TIME,
	S_QUERY_PRODUCT,
	S_QUERY_CRAWL,
	S_QUERY_SORTED,
	S_QUERY_FILTERED,
	S_COUNT
};

static int measure(bench *b)
{
	gw_config cfg = {.data_dir = b->dir, .default_location = "default"};
	gw_service *svc = NULL;
	char err[512];
	if (gw_service_open(&cfg, &svc, err, sizeof(err)) != SL_OK) {
		fprintf(stderr, "stockledger-audit-bench: %s\n", err);
		return 1;
	}
	series s[S_COUNT] = {
	    [S_HISTORY] = {"history: first page (100 events)"},
	    [S_HISTORY_RANGE] = {"history: --from-seq random, 100 events"},
	    [S_GET_AS_OF] = {"item get --as-of-seq random"},
	    [S_GET_AS_OF_TIME] = {"item get --as-of random time"},
	    [S_QUERY_PRODUCT] = {"query --product P (4 items)"},
	    [S_QUERY_CRAWL] = {"query crawl page, --limit 100"},
	    [S_QUERY_SORTED] = {"query --sort quantity:desc --limit 100"},
	    [S_QUERY_FILTERED] = {"query --location east --min-quantity 150 --limit 100"},
	};
	int status = 0;
	for (int k = 0; k < S_COUNT; k++)
		if ((s[k].us = calloc(b->samples, sizeof(int64_t))) == NULL)
			status = 1;
	uint64_t head = ledger_head(gw_service_ledger(svc), NULL);
	ledger_query *q = calloc(1, sizeof(*q));
	char cursor[SL_CURSOR_MAX + 1] = "";
	for (uint64_t n = 0; n < b->samples && status == 0 && q != NULL; n++) {
		sl_command c;
		memset(&c, 0, sizeof(c));
		c.type = SL_CMD_HISTORY;
		item_key(rnd() % b->items, &c.item);
		c.limit = 100;
		status |= timed(svc, &c, &s[S_HISTORY]);
		c.from_seq = 1 + rnd() % head;
		status |= timed(svc, &c, &s[S_HISTORY_RANGE]);
		memset(&c, 0, sizeof(c));
		c.type = SL_CMD_GET;
		item_key(rnd() % b->items, &c.item);
		c.has_as_of_seq = true;
		c.as_of_seq = b->items + rnd() % (head - b->items + 1); /* after every create */
		status |= timed(svc, &c, &s[S_GET_AS_OF]);
		c.has_as_of_seq = false;
		c.has_as_of_ms = true;
		c.as_of_ms = b->t0_ms + (int64_t)(b->items + rnd() % (head - b->items + 1));
		status |= timed(svc, &c, &s[S_GET_AS_OF_TIME]);
		for (int k = S_QUERY_PRODUCT; k <= S_QUERY_FILTERED && status == 0; k++) {
			memset(&c, 0, sizeof(c));
			memset(q, 0, sizeof(*q));
			c.type = SL_CMD_QUERY;
			q->limit = 100;
			if (k == S_QUERY_PRODUCT) {
				q->product.op = LEDGER_MATCH_IN;
				q->product.n = 1;
				snprintf(q->product.values[0], sizeof(q->product.values[0]),
				         "p%06" PRIu64,
				         rnd() % (b->items / 4 > 0 ? b->items / 4 : 1));
			} else if (k == S_QUERY_CRAWL) {
				sl_strlcpy(q->cursor, cursor, sizeof(q->cursor));
			} else if (k == S_QUERY_SORTED) {
				q->sort = LEDGER_SORT_QUANTITY;
				q->is_desc = true;
			} else {
				q->location.op = LEDGER_MATCH_IN;
				q->location.n = 1;
				sl_strlcpy(q->location.values[0], "east",
				           sizeof(q->location.values[0]));
				q->has_min_quantity = true;
				q->min_quantity = 150;
			}
			/* the service owns (and frees) a command's query: hand it a copy */
			if ((c.query = malloc(sizeof(*q))) == NULL) {
				status = 1;
				break;
			}
			memcpy(c.query, q, sizeof(*q));
			sl_buf out;
			sl_buf_init(&out);
			int64_t t = mono_us();
			sl_err rc = gw_service_execute(svc, &c, &out);
			s[k].us[s[k].n] = mono_us() - t;
			Sl__Result *r =
			    rc == SL_OK ? sl__result__unpack(NULL, out.len, out.data) : NULL;
			sl_buf_fini(&out);
			if (r == NULL || r->error != NULL) {
				fprintf(stderr, "stockledger-audit-bench: %s failed\n", s[k].name);
				status = 1;
			} else {
				s[k].results += r->n_items;
				s[k].n++;
				if (k == S_QUERY_CRAWL)
					sl_strlcpy(cursor, r->next_cursor ? r->next_cursor : "",
					           sizeof(cursor));
			}
			sl__result__free_unpacked(r, NULL);
		}
	}
	if (status == 0) {
		printf("%" PRIu64 " events, %" PRIu64 " items, %" PRIu64
		       " samples per call, one call at a time, in-process (gw_service_execute)\n",
		       head, b->items, b->samples);
		for (int k = 0; k < S_COUNT; k++)
			series_print(&s[k]);
	}
	for (int k = 0; k < S_COUNT; k++)
		free(s[k].us);
	free(q);
	gw_service_close(svc);
	return status;
}

static int usage(void)
{
	fprintf(stderr, "usage: stockledger-audit-bench [--quick] [--data DIR] [--items N] "
	                "[--events N] [--samples N] [--load-only] [--keep] [--seed S]\n");
	return 2;
}

static int arg_u64(const char *text, uint64_t *out)
{
	int64_t v;
	if (sl_parse_i64(text, &v) != SL_OK || v <= 0)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	bench b = {.items = 100000, .events = 10000000, .samples = 2000};
	char tmp[] = "/tmp/sl-audit-bench-XXXXXX";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--quick") == 0) {
			b.items = 2000;
			b.events = 20000;
			b.samples = 50;
		} else if (strcmp(a, "--load-only") == 0) {
			b.is_load_only = true;
		} else if (strcmp(a, "--keep") == 0) {
			b.is_keep = true;
		} else if (v != NULL && strcmp(a, "--data") == 0) {
			b.dir = argv[++i];
		} else if (v != NULL && strcmp(a, "--items") == 0) {
			if (arg_u64(argv[++i], &b.items) != 0)
				return usage();
		} else if (v != NULL && strcmp(a, "--events") == 0) {
			if (arg_u64(argv[++i], &b.events) != 0)
				return usage();
		} else if (v != NULL && strcmp(a, "--samples") == 0) {
			if (arg_u64(argv[++i], &b.samples) != 0 || b.samples > SAMPLES_MAX)
				return usage();
		} else if (v != NULL && strcmp(a, "--seed") == 0) {
			if (arg_u64(argv[++i], &b.seed) != 0)
				return usage();
			rng = b.seed;
		} else {
			return usage();
		}
	}
	if (b.events < b.items) {
		fprintf(stderr, "stockledger-audit-bench: --events must be at least --items (one "
		                "create each)\n");
		return 2;
	}
	bool is_tmp = b.dir == NULL;
	if (is_tmp && (b.dir = mkdtemp(tmp)) == NULL) {
		perror("stockledger-audit-bench: mkdtemp");
		return 1;
	}
	b.views = calloc(b.items, sizeof(*b.views));
	b.t0_ms = sl_time_now_ms() - (int64_t)b.events - 60000;
	char err[512];
	ledger *l = NULL;
	int status = 1;
	if (b.views == NULL) {
		fprintf(stderr, "stockledger-audit-bench: out of memory\n");
	} else if (ledger_open(b.dir, &l, err, sizeof(err)) != SL_OK) {
		fprintf(stderr, "stockledger-audit-bench: %s\n", err);
	} else {
		status = load(&b, l);
		ledger_close(l);
		if (status == 0 && !b.is_load_only)
			status = measure(&b);
	}
	free(b.views);
	if (is_tmp && !b.is_keep) {
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", b.dir);
		if (system(cmd) != 0)
			fprintf(stderr, "stockledger-audit-bench: cannot remove '%s'\n", b.dir);
	} else if (is_tmp) {
		printf("data kept in %s\n", b.dir);
	}
	return status;
}

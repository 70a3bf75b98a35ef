/*
 * stockledger-bench: measures the service against its physical limits and against
 * PostgreSQL, and prints one table (docs/BENCHMARKS.md). It starts everything it measures
 * itself, in a temporary directory, on loopback:
 *
 *   - the service in-process (gw_service + gw_server on tcp://127.0.0.1:PORT), driven over
 *     real sockets by client/mux.h, exactly as a remote client would;
 *   - the limits: a raw synced RocksDB WriteBatch append of the same events through the
 *     store seam (ledger/store.h), an nng echo server (gateway/echo.h) at the same
 *     concurrency, a raw scan and decode of the log;
 *   - the peer: PostgreSQL 15 (tools/bench_pg.c) with default durability.
 *
 * Every figure is the median of --runs runs; the workloads of a run are interleaved, so a
 * change in the machine's load hits all columns alike. Footprint and replay run in child
 * processes (this program re-executed with --child-*), so that their peak RSS is their own.
 * No figure is asserted anywhere: `--quick` (small sizes) only proves the bench works.
 */
/* getloadavg */
#define _DEFAULT_SOURCE
#include <inttypes.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/banned.h"
#include "base/sl_util.h"
#include "client/args.h"
#include "client/client.h"
#include "client/mux.h"
#include "gateway/echo.h"
#include "gateway/server.h"
#include "gateway/service.h"
#include "ledger/codec.h"
#include "projector/rebuild.h"
#include "tools/bench_pg.h"

#define BENCH_QUANTITY 500000
#define BENCH_LINES 300
#define BENCH_THREADS_MAX 128
#define BENCH_SAMPLES_MAX 65536
#define BENCH_SAMPLE_EVENTS 3000

typedef struct bench_cfg {
	bool is_quick;
	bool has_pg;
	int runs;
	double seconds;
	uint64_t items;
	int batch_conns;
	int single_clients;
	unsigned coalesce_contexts;
	uint64_t fp_items;
	uint64_t fp_events;
	const char *only; /* run only this workload (for profiling), NULL: all */
	char root[256];
} bench_cfg;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64*: cheap and good enough to spread load over items */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

/* ---- the load runner: groups of threads running one operation in a closed loop ---- */

/* op_fn runs one operation; returns the units it did (events, commands) or 0 on failure. */
typedef uint64_t (*op_fn)(void *ctx, uint64_t *rng);

/* latency_fn returns the latency (us) to record for the operation that just succeeded, when
 * it is not the whole operation's (orders record their place). */
typedef double (*latency_fn)(void *ctx);

typedef struct group {
	op_fn fn;
	latency_fn latency; /* NULL: the whole operation */
	void **ctxs;        /* one per thread */
	int threads;
	/* results: the operations that ended within the timed window; late, those in flight
	 * at its end (finished, not counted) */
	uint64_t ops, units, errors, late;
	double p50_us, p99_us;
} group;

typedef struct worker {
	group *g;
	void *ctx;
	uint64_t rng;
	uint64_t ops, units, errors, late;
	uint32_t *samples;
	size_t n_samples;
	uint64_t n_seen; /* latencies offered to the sample (a reservoir of BENCH_SAMPLES_MAX) */
} worker;

static pthread_barrier_t start_barrier;
static atomic_bool stop_flag;

static void *worker_main(void *arg)
{
	worker *w = arg;
	sl_thread_name("bench:client");
	pthread_barrier_wait(&start_barrier);
	while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
		double t0 = now_s();
		uint64_t u = w->g->fn(w->ctx, &w->rng);
		double us = (now_s() - t0) * 1e6;
		if (w->g->latency != NULL)
			us = w->g->latency(w->ctx);
		if (atomic_load(&stop_flag)) {
			/* ended after the window: the rate's time stops at the window's end, so its
			 * units must too (waiting for the slowest client's last operation and
			 * counting it would lower a rate by that wait: half a second for
			 * PostgreSQL's orders) */
			w->late++;
			break;
		}
		if (u == 0) {
			w->errors++;
			continue;
		}
		w->ops++;
		w->units += u;
		/* a uniform sample of the whole run, not its first BENCH_SAMPLES_MAX operations */
		uint32_t v = us > 4e9 ? UINT32_MAX : (uint32_t)us;
		uint64_t slot = w->n_seen++;
		if (slot >= BENCH_SAMPLES_MAX)
			slot = rng_next(&w->rng) % w->n_seen;
		if (slot < BENCH_SAMPLES_MAX) {
			w->samples[slot] = v;
			if (slot == w->n_samples)
				w->n_samples++;
		}
	}
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* run_groups runs every group at once for seconds; returns the elapsed time: the window in
 * which the operations it counts ended. */
static double run_groups(group *gs, int n_groups, double seconds)
{
	int total = 0;
	for (int i = 0; i < n_groups; i++)
		total += gs[i].threads;
	worker *ws = calloc((size_t)total, sizeof(*ws));
	pthread_t *tids = calloc((size_t)total, sizeof(*tids));
	SL_ASSERT(ws != NULL && tids != NULL);
	pthread_barrier_init(&start_barrier, NULL, (unsigned)total + 1);
	atomic_store(&stop_flag, false);
	int k = 0;
	for (int i = 0; i < n_groups; i++)
		for (int t = 0; t < gs[i].threads; t++, k++) {
			ws[k].g = &gs[i];
			ws[k].ctx = gs[i].ctxs[t];
			ws[k].rng =
			    0x9E3779B97F4A7C15ULL * (uint64_t)(k + 1) + (uint64_t)time(NULL);
			ws[k].samples = malloc(BENCH_SAMPLES_MAX * sizeof(uint32_t));
			SL_ASSERT(ws[k].samples != NULL);
			SL_ASSERT(pthread_create(&tids[k], NULL, worker_main, &ws[k]) == 0);
		}
	pthread_barrier_wait(&start_barrier);
	double t0 = now_s();
	struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
	nanosleep(&ts, NULL);
	atomic_store(&stop_flag, true);
	double elapsed = now_s() - t0;
	for (k = 0; k < total; k++)
		pthread_join(tids[k], NULL);
	pthread_barrier_destroy(&start_barrier);
	k = 0;
	for (int i = 0; i < n_groups; i++) {
		group *g = &gs[i];
		size_t n = 0;
		g->ops = g->units = g->errors = g->late = 0;
		for (int t = 0; t < g->threads; t++)
			n += ws[k + t].n_samples;
		uint32_t *all = malloc((n > 0 ? n : 1) * sizeof(uint32_t));
		SL_ASSERT(all != NULL);
		n = 0;
		for (int t = 0; t < g->threads; t++, k++) {
			g->ops += ws[k].ops;
			g->units += ws[k].units;
			g->errors += ws[k].errors;
			g->late += ws[k].late;
			memcpy(all + n, ws[k].samples, ws[k].n_samples * sizeof(uint32_t));
			n += ws[k].n_samples;
			free(ws[k].samples);
		}
		qsort(all, n, sizeof(uint32_t), cmp_u32);
		/* nearest rank: the smallest sample with at least q% of the samples at or below */
		g->p50_us = n > 0 ? all[(n * 50 + 99) / 100 - 1] : 0;
		g->p99_us = n > 0 ? all[(n * 99 + 99) / 100 - 1] : 0;
		free(all);
	}
	free(ws);
	free(tids);
	return elapsed;
}

/* A measured figure: rate per second and latency, each the median over runs. */
typedef struct figure {
	double rate[16];
	double p50[16];
	double p99[16];
	int run[16]; /* the run each entry comes from: ratios pair entries of the same run */
	int n;
	uint64_t errors;
	bool is_set;
	char why[256]; /* why it is unavailable */
} figure;

/* the run under way (0-based), recorded with every entry of a figure */
static int bench_run;

static void figure_add(figure *f, const group *g, double elapsed)
{
	/* progress on stderr, so that a long run that is cut short still tells something */
	fprintf(stderr,
	        "stockledger-bench:   %.0f units/s, p50 %.0f us, p99 %.0f us, %" PRIu64 " failed\n",
	        (double)g->units / elapsed, g->p50_us, g->p99_us, g->errors);
	f->errors += g->errors;
	if (g->ops == 0) {
		/* a run that measured nothing has no rate nor latency: not a figure of 0 */
		snprintf(f->why, sizeof(f->why), "no operation succeeded (%" PRIu64 " failed)",
		         g->errors);
		return;
	}
	if (f->n < 16) {
		f->rate[f->n] = (double)g->units / elapsed;
		f->p50[f->n] = g->p50_us;
		f->p99[f->n] = g->p99_us;
		f->run[f->n] = bench_run;
		f->n++;
	}
	f->is_set = true;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
	double tmp[16];
	if (n == 0)
		return 0;
	memcpy(tmp, v, (size_t)n * sizeof(double));
	qsort(tmp, (size_t)n, sizeof(double), cmp_double);
	return n % 2 == 1 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

/* ---- StockLedger operations over client/mux ---- */

typedef struct sl_op {
	sl_mux *m;
	uint64_t lo, hi; /* items this thread touches: [lo, hi) */
	uint64_t cursor;
	bool is_down; /* alternate decrements and increments */
	Sl__ItemKey keys[BENCH_LINES];
	Sl__Line lines[BENCH_LINES];
	Sl__Line *line_ptrs[BENCH_LINES];
	char products[BENCH_LINES][16];
	const uint8_t *raw; /* echo: the request to send */
	size_t raw_len;
	double pace_s, next_s; /* echo: at most one request per pace_s seconds (0: flat out) */
	sl_buf reply;
} sl_op;

static void op_lines(sl_op *o, size_t n, uint64_t first, int64_t quantity)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t item = o->lo + (first + i) % (o->hi - o->lo);
		snprintf(o->products[i], sizeof(o->products[i]), "p%06" PRIu64, item);
		sl__item_key__init(&o->keys[i]);
		o->keys[i].product_id = o->products[i];
		sl__line__init(&o->lines[i]);
		o->lines[i].item = &o->keys[i];
		o->lines[i].has_quantity = true;
		o->lines[i].quantity = quantity;
		o->line_ptrs[i] = &o->lines[i];
	}
}

/* op_command fills cmd with a move of n lines starting at item first, alternating
 * restricted decrements and increments of 1. */
static void op_command(sl_op *o, Sl__Command *cmd, Sl__Increment *inc, Sl__Decrement *dec, size_t n,
                       uint64_t first)
{
	op_lines(o, n, first, 1);
	sl__command__init(cmd);
	o->is_down = !o->is_down;
	if (o->is_down) {
		sl__decrement__init(dec);
		dec->n_lines = n;
		dec->lines = o->line_ptrs;
		dec->has_restrict_inventory = true;
		dec->restrict_inventory = n == 1; /* single-line commands are restricted */
		cmd->body_case = SL__COMMAND__BODY_DECREMENT;
		cmd->decrement = dec;
	} else {
		sl__increment__init(inc);
		inc->n_lines = n;
		inc->lines = o->line_ptrs;
		cmd->body_case = SL__COMMAND__BODY_INCREMENT;
		cmd->increment = inc;
	}
}

/* mux_run sends cmd and waits: true if the service applied it. */
static bool mux_run(sl_mux *m, const Sl__Command *cmd)
{
	Sl__Result *r = NULL;
	if (sl_mux_command(m, cmd, &r) != SL_OK)
		return false;
	bool is_ok = r->error == NULL;
	sl__result__free_unpacked(r, NULL);
	return is_ok;
}

static uint64_t op_run(sl_op *o, const Sl__Command *cmd, uint64_t units)
{
	return mux_run(o->m, cmd) ? units : 0;
}

static uint64_t sl_single_op(void *ctx, uint64_t *rng)
{
	sl_op *o = ctx;
	Sl__Command cmd;
	Sl__Increment inc;
	Sl__Decrement dec;
	op_command(o, &cmd, &inc, &dec, 1, rng_next(rng) % (o->hi - o->lo));
	return op_run(o, &cmd, 1);
}

static uint64_t sl_batch_op(void *ctx, uint64_t *rng)
{
	(void)rng;
	sl_op *o = ctx;
	Sl__Command cmd;
	Sl__Increment inc;
	Sl__Decrement dec;
	op_command(o, &cmd, &inc, &dec, BENCH_LINES, o->cursor);
	o->cursor += BENCH_LINES;
	return op_run(o, &cmd, BENCH_LINES);
}

static uint64_t sl_get_op(void *ctx, uint64_t *rng)
{
	sl_op *o = ctx;
	Sl__Command cmd;
	Sl__GetItem get;
	op_lines(o, 1, rng_next(rng) % (o->hi - o->lo), 0);
	sl__command__init(&cmd);
	sl__get_item__init(&get);
	get.item = &o->keys[0];
	cmd.body_case = SL__COMMAND__BODY_GET;
	cmd.get = &get;
	return op_run(o, &cmd, 1);
}

static uint64_t echo_op(void *ctx, uint64_t *rng)
{
	(void)rng;
	sl_op *o = ctx;
	if (o->pace_s > 0) {
		double now = now_s();
		if (o->next_s < now - o->pace_s)
			o->next_s = now; /* behind (or the first request): no burst to catch up */
		double until = o->next_s;
		o->next_s += o->pace_s;
		/* in steps of at most 10 ms, so that the end of the run is not overslept */
		while (now < until && !atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
			double step = until - now < 0.01 ? until - now : 0.01;
			struct timespec ts = {0, (long)(step * 1e9)};
			nanosleep(&ts, NULL);
			now = now_s();
		}
	}
	return sl_mux_raw(o->m, o->raw, o->raw_len, &o->reply) == SL_OK ? 1 : 0;
}

/* ---- the raw RocksDB append: the same event records, through the store seam ---- */

typedef struct raw_op {
	store *st;
	store_batch *b;
	const sl_buf *samples;
	size_t n_samples;
	atomic_uint_fast64_t *next_seq;
} raw_op;

static uint64_t raw_append_op(void *ctx, uint64_t *rng)
{
	raw_op *o = ctx;
	uint64_t seq = atomic_fetch_add(o->next_seq, BENCH_LINES);
	size_t first = rng_next(rng) % o->n_samples;
	store_batch_clear(o->b);
	for (size_t i = 0; i < BENCH_LINES; i++) {
		uint8_t k[8];
		const sl_buf *v = &o->samples[(first + i) % o->n_samples];
		sl_be64_put(k, seq + i);
		store_batch_put(o->b, STORE_CF_EVENTS, k, sizeof(k), v->data, v->len);
	}
	return store_write(o->st, o->b, true) == SL_OK ? BENCH_LINES : 0;
}

/* ---- PostgreSQL operations ---- */

typedef struct pg_op {
	bench_pg_conn *c;
	uint64_t lo, hi, cursor;
	bool is_down;
	uint64_t items[BENCH_LINES];
} pg_op;

static uint64_t pg_single_op(void *ctx, uint64_t *rng)
{
	pg_op *o = ctx;
	o->is_down = !o->is_down;
	uint64_t item = o->lo + rng_next(rng) % (o->hi - o->lo);
	return bench_pg_single(o->c, item, o->is_down ? -1 : 1) == SL_OK ? 1 : 0;
}

static uint64_t pg_batch_op(void *ctx, uint64_t *rng)
{
	(void)rng;
	pg_op *o = ctx;
	o->is_down = !o->is_down;
	for (size_t i = 0; i < BENCH_LINES; i++)
		o->items[i] = o->lo + (o->cursor + i) % (o->hi - o->lo);
	o->cursor += BENCH_LINES;
	uint64_t events = 0;
	/* the events it wrote: in --quick, a connection's range is shorter than a command */
	return bench_pg_batch(o->c, o->items, BENCH_LINES, o->is_down ? -1 : 1, &events) == SL_OK
	           ? events
	           : 0;
}

static uint64_t pg_get_op(void *ctx, uint64_t *rng)
{
	pg_op *o = ctx;
	int64_t q;
	return bench_pg_get(o->c, o->lo + rng_next(rng) % (o->hi - o->lo), &q) == SL_OK ? 1 : 0;
}

/* ---- orders: place (3 lines, restricted) then pay; 10% canceled, 10% edited ---- */

#define ORDER_LINES 3

/* The flow of order number n: of every ten orders, one is edited after payment (its first
 * line grows by one unit, its last is dropped: one unrestricted decrement and one restock),
 * one is canceled after payment (every line restocked), the eight others are placed and paid.
 * Under ON_ORDER_PLACED (the default) the place takes the stock and the pay moves none. */
typedef enum order_flow { ORDER_FLOW_PAID, ORDER_FLOW_EDITED, ORDER_FLOW_CANCELED } order_flow;
typedef enum order_step { ORDER_PLACE, ORDER_PAY, ORDER_EDIT, ORDER_CANCEL } order_step;

static const int64_t order_place_quantities[ORDER_LINES] = {1, 1, 1};
static const int64_t order_edit_quantities[ORDER_LINES - 1] = {2, 1};

/* One client of the orders workload, on the ledger (m) or on PostgreSQL (c). */
typedef struct order_op {
	sl_mux *m;
	bench_pg_conn *c;
	uint64_t lo, hi;
	atomic_uint_fast64_t *next_order; /* order numbers, shared by every client */
	uint64_t requests;                /* requests sent, for the requests per order */
	double place_us;                  /* latency of the last place */
	/* the order in flight: its items are distinct and ascending (PostgreSQL locks them in
	 * that order, so concurrent orders cannot deadlock; the ledger gets the same orders) */
	char order_id[32];
	order_flow flow;
	uint64_t items[ORDER_LINES];
	/* the ledger's command, built in place */
	Sl__ItemKey keys[ORDER_LINES];
	Sl__OrderLineSpec specs[ORDER_LINES];
	Sl__OrderLineSpec *spec_ptrs[ORDER_LINES];
	char products[ORDER_LINES][16];
	char line_ids[ORDER_LINES][24];
} order_op;

static void order_next(order_op *o, uint64_t *rng)
{
	uint64_t n = atomic_fetch_add(o->next_order, 1);
	snprintf(o->order_id, sizeof(o->order_id), "o%" PRIu64, n);
	o->flow =
	    n % 10 == 0 ? ORDER_FLOW_EDITED : (n % 10 == 1 ? ORDER_FLOW_CANCELED : ORDER_FLOW_PAID);
	SL_ASSERT(o->hi - o->lo >= ORDER_LINES);
	for (size_t i = 0; i < ORDER_LINES; i++) {
		bool is_new;
		do {
			o->items[i] = o->lo + rng_next(rng) % (o->hi - o->lo);
			is_new = true;
			for (size_t j = 0; j < i; j++)
				is_new = is_new && o->items[j] != o->items[i];
		} while (!is_new);
		for (size_t j = i; j > 0 && o->items[j - 1] > o->items[j]; j--) {
			uint64_t t = o->items[j];
			o->items[j] = o->items[j - 1];
			o->items[j - 1] = t;
		}
	}
}

/* order_run runs the flow of the next order, one step (one request) at a time through
 * step; returns 1 (one order) if every step succeeded, else 0. */
static uint64_t order_run(order_op *o, uint64_t *rng, bool (*step)(order_op *, order_step))
{
	order_next(o, rng);
	double t0 = now_s();
	bool is_ok = step(o, ORDER_PLACE);
	o->place_us = (now_s() - t0) * 1e6;
	is_ok = is_ok && step(o, ORDER_PAY);
	if (is_ok && o->flow == ORDER_FLOW_EDITED)
		is_ok = step(o, ORDER_EDIT);
	if (is_ok && o->flow == ORDER_FLOW_CANCELED)
		is_ok = step(o, ORDER_CANCEL);
	return is_ok ? 1 : 0;
}

static double order_place_latency(void *ctx)
{
	return ((order_op *)ctx)->place_us;
}

/* sl_order_step sends one order command of the order in flight to the service. */
static bool sl_order_step(order_op *o, order_step step)
{
	Sl__Command cmd = SL__COMMAND__INIT;
	Sl__PlaceOrder place = SL__PLACE_ORDER__INIT;
	Sl__PayOrder pay = SL__PAY_ORDER__INIT;
	Sl__CancelOrder cancel = SL__CANCEL_ORDER__INIT;
	Sl__EditOrder edit = SL__EDIT_ORDER__INIT;
	size_t n = step == ORDER_PLACE ? ORDER_LINES : (step == ORDER_EDIT ? ORDER_LINES - 1 : 0);
	const int64_t *q = step == ORDER_PLACE ? order_place_quantities : order_edit_quantities;
	for (size_t i = 0; i < n; i++) {
		snprintf(o->products[i], sizeof(o->products[i]), "p%06" PRIu64, o->items[i]);
		snprintf(o->line_ids[i], sizeof(o->line_ids[i]), "%zu", i + 1);
		sl__item_key__init(&o->keys[i]);
		o->keys[i].product_id = o->products[i];
		sl__order_line_spec__init(&o->specs[i]);
		o->specs[i].line_id = o->line_ids[i];
		o->specs[i].item = &o->keys[i];
		o->specs[i].has_quantity = true;
		o->specs[i].quantity = q[i];
		o->spec_ptrs[i] = &o->specs[i];
	}
	cmd.order_id = o->order_id;
	switch (step) {
	case ORDER_PLACE:
		place.n_lines = n;
		place.lines = o->spec_ptrs;
		cmd.body_case = SL__COMMAND__BODY_PLACE_ORDER;
		cmd.place_order = &place;
		break;
	case ORDER_PAY:
		cmd.body_case = SL__COMMAND__BODY_PAY_ORDER;
		cmd.pay_order = &pay;
		break;
	case ORDER_EDIT:
		edit.n_lines = n;
		edit.lines = o->spec_ptrs;
		cmd.body_case = SL__COMMAND__BODY_EDIT_ORDER;
		cmd.edit_order = &edit;
		break;
	case ORDER_CANCEL:
		cmd.body_case = SL__COMMAND__BODY_CANCEL_ORDER;
		cmd.cancel_order = &cancel;
		break;
	}
	o->requests++;
	return mux_run(o->m, &cmd);
}

/* pg_order_step runs the same step as one call of PostgreSQL's order functions. */
static bool pg_order_step(order_op *o, order_step step)
{
	sl_err rc = SL_ERR_INTERNAL;
	o->requests++;
	switch (step) {
	case ORDER_PLACE:
		rc = bench_pg_order_place(o->c, o->order_id, o->items, order_place_quantities,
		                          ORDER_LINES);
		break;
	case ORDER_PAY:
		rc = bench_pg_order_pay(o->c, o->order_id);
		break;
	case ORDER_EDIT:
		rc = bench_pg_order_edit(o->c, o->order_id, o->items, order_edit_quantities,
		                         ORDER_LINES - 1);
		break;
	case ORDER_CANCEL:
		rc = bench_pg_order_cancel(o->c, o->order_id);
		break;
	}
	return rc == SL_OK;
}

static uint64_t sl_order_op(void *ctx, uint64_t *rng)
{
	return order_run(ctx, rng, sl_order_step);
}

static uint64_t pg_order_op(void *ctx, uint64_t *rng)
{
	return order_run(ctx, rng, pg_order_step);
}

/* ---- helpers: ports, directories, children ---- */

static int port_free(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int port = -1;
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static uint64_t dir_bytes(const char *dir)
{
	uint64_t total = 0;
	DIR *d = opendir(dir);
	if (d == NULL)
		return 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		char path[1024];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			total += (uint64_t)st.st_size;
	}
	closedir(d);
	return total;
}

static void rm_rf(const char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "stockledger-bench: cannot remove '%s'\n", dir);
}

/* child_run runs this program with argv and collects its stdout into out. (Not wait4's
 * ru_maxrss for the child's peak RSS: Linux counts in it the image forked from this process
 * before the exec, so it is never below this process's own RSS at the fork.) */
static int child_run(char *const argv[], char *out, size_t out_size)
{
	int fds[2];
	if (pipe(fds) != 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(fds[1]);
	size_t n = 0;
	ssize_t r;
	while (n + 1 < out_size && (r = read(fds[0], out + n, out_size - n - 1)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	close(fds[0]);
	int status;
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* self_peak_rss_kb is this process's peak RSS since its exec (VmHWM), 0 if unknown. */
static long self_peak_rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = 0;
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* ---- in-process loading, bounded by the writer's queue ---- */

/* The loader keeps the writer's queue fed with enough to fill every group, and no more: its
 * backlog is bounded in commands and in lines, so that the footprint measures the service
 * and not a pile of 300-line commands (60 KiB each) waiting in the driver. */
#define LOADER_LINES_MAX (4 * SL_GROUP_EVENTS_MAX)

typedef struct loader {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	size_t outstanding;
	size_t outstanding_lines;
	uint64_t failed;
	char first_error[256];
} loader;

typedef struct load_ticket {
	loader *ld;
	size_t lines;
} load_ticket;

static void loader_done_cb(void *arg, const uint8_t *result, size_t len)
{
	load_ticket *t = arg;
	loader *ld = t->ld;
	Sl__Result *r = sl__result__unpack(NULL, len, result);
	pthread_mutex_lock(&ld->lock);
	if (r == NULL || r->error != NULL) {
		if (ld->failed++ == 0)
			snprintf(ld->first_error, sizeof(ld->first_error), "%s",
			         r != NULL ? r->error->message : "undecodable result");
	}
	ld->outstanding--;
	ld->outstanding_lines -= t->lines;
	pthread_cond_signal(&ld->cond);
	pthread_mutex_unlock(&ld->lock);
	free(t);
	if (r != NULL)
		sl__result__free_unpacked(r, NULL);
}

static void loader_submit(loader *ld, gw_service *svc, sl_command *cmd)
{
	load_ticket *t = malloc(sizeof(*t));
	SL_ASSERT(t != NULL);
	t->ld = ld;
	t->lines = cmd->n_lines > 0 ? cmd->n_lines : 1;
	pthread_mutex_lock(&ld->lock);
	while (ld->outstanding >= SL_QUEUE_COMMANDS_MAX / 2 ||
	       ld->outstanding_lines + t->lines > LOADER_LINES_MAX)
		pthread_cond_wait(&ld->cond, &ld->lock);
	ld->outstanding++;
	ld->outstanding_lines += t->lines;
	pthread_mutex_unlock(&ld->lock);
	gw_service_submit(svc, cmd, loader_done_cb, t);
}

static void loader_wait(loader *ld)
{
	pthread_mutex_lock(&ld->lock);
	while (ld->outstanding > 0)
		pthread_cond_wait(&ld->cond, &ld->lock);
	pthread_mutex_unlock(&ld->lock);
}

static void key_of(sl_item_key *k, uint64_t item)
{
	memset(k, 0, sizeof(*k));
	snprintf(k->product_id, sizeof(k->product_id), "p%06" PRIu64, item);
	sl_strlcpy(k->variant_id, SL_DEFAULT_VARIANT, sizeof(k->variant_id));
	sl_strlcpy(k->location_id, SL_DEFAULT_LOCATION, sizeof(k->location_id));
}

/* load_items creates items 0..n-1 with quantity, then adds events with increments of
 * BENCH_LINES lines until the log holds n_events events. */
static sl_err load_items(gw_service *svc, uint64_t n, uint64_t n_events, char *why, size_t why_size)
{
	loader ld;
	memset(&ld, 0, sizeof(ld));
	pthread_mutex_init(&ld.lock, NULL);
	pthread_cond_init(&ld.cond, NULL);
	sl_command *cmd = malloc(sizeof(*cmd));
	SL_ASSERT(cmd != NULL);
	for (uint64_t i = 0; i < n; i++) {
		memset(cmd, 0, sizeof(*cmd));
		cmd->type = SL_CMD_CREATE;
		key_of(&cmd->item, i);
		cmd->has_quantity = true;
		cmd->quantity = BENCH_QUANTITY;
		loader_submit(&ld, svc, cmd);
	}
	uint64_t events = n, cursor = 0;
	while (events < n_events) {
		size_t lines = n_events - events < BENCH_LINES ? n_events - events : BENCH_LINES;
		memset(cmd, 0, sizeof(*cmd));
		cmd->type = SL_CMD_INCREMENT;
		cmd->lines = calloc(lines, sizeof(*cmd->lines));
		SL_ASSERT(cmd->lines != NULL);
		cmd->n_lines = lines;
		for (size_t j = 0; j < lines; j++) {
			key_of(&cmd->lines[j].item, (cursor + j) % n);
			cmd->lines[j].quantity = 1;
		}
		cursor += lines;
		events += lines;
		loader_submit(&ld, svc, cmd);
	}
	loader_wait(&ld);
	free(cmd);
	pthread_cond_destroy(&ld.cond);
	pthread_mutex_destroy(&ld.lock);
	if (ld.failed > 0) {
		snprintf(why, why_size, "%" PRIu64 " loading commands failed, first: %s", ld.failed,
		         ld.first_error);
		return SL_ERR_INTERNAL;
	}
	return SL_OK;
}

/* ---- children: footprint, replay, scan ---- */

static int child_footprint(const char *dir, uint64_t items, uint64_t events)
{
	char err[512];
	gw_config cfg = {.data_dir = dir, .default_location = SL_DEFAULT_LOCATION};
	gw_service *svc = NULL;
	if (gw_service_open(&cfg, &svc, err, sizeof(err)) != SL_OK) {
		fprintf(stderr, "stockledger-bench: %s\n", err);
		return 1;
	}
	double t0 = now_s();
	sl_err rc = load_items(svc, items, events, err, sizeof(err));
	double elapsed = now_s() - t0;
	uint64_t head = ledger_head(gw_service_ledger(svc), NULL);
	/* The scan and the replay measured next must not share the machine with the tail of
	 * this load's compactions (they made the replay vary from 15 to 24 s). */
	store *st = ledger_store(gw_service_ledger(svc));
	if (rc == SL_OK && store_settle(st) != SL_OK)
		fprintf(stderr, "stockledger-bench: %s\n", store_last_error(st));
	gw_service_close(svc);
	if (rc != SL_OK) {
		fprintf(stderr, "stockledger-bench: %s\n", err);
		return 1;
	}
	printf("events %" PRIu64 " seconds %.6f disk %" PRIu64 " rss_kb %ld\n", head, elapsed,
	       dir_bytes(dir), self_peak_rss_kb());
	return 0;
}

static int child_replay(const char *dir, bool is_scan_only)
{
	char err[512];
	ledger *l = NULL;
	/* as stockledger-admin rebuild opens it */
	sl_err orc = is_scan_only ? ledger_open_tool(dir, &l, err, sizeof(err))
	                          : ledger_open_bulk(dir, &l, err, sizeof(err));
	if (orc != SL_OK) {
		fprintf(stderr, "stockledger-bench: %s\n", err);
		return 1;
	}
	uint64_t n = 0;
	double t0 = now_s();
	sl_err rc = SL_OK;
	if (is_scan_only) {
		/* The limit: read every event record and decode it, nothing more. */
		store_iter *it = store_iter_alloc(ledger_store(l), STORE_CF_EVENTS);
		sl_event *ev = malloc(sizeof(*ev));
		SL_ASSERT(it != NULL && ev != NULL);
		for (store_iter_seek_first(it); store_iter_valid(it) && rc == SL_OK;
		     store_iter_next(it)) {
			size_t vlen;
			const uint8_t *v = store_iter_value(it, &vlen);
			rc = vlen < SL_HASH_BYTES
			         ? SL_ERR_CORRUPT
			         : ledger_event_decode(v + SL_HASH_BYTES, vlen - SL_HASH_BYTES, ev);
			n++;
		}
		free(ev);
		store_iter_free(it);
	} else {
		projector_report rep;
		rc = projector_rebuild(l, NULL, NULL, &rep);
		n = rep.events;
		if (rc != SL_OK)
			fprintf(stderr, "stockledger-bench: rebuild: %s\n", rep.message);
	}
	double elapsed = now_s() - t0;
	ledger_close(l);
	if (rc != SL_OK)
		return 1;
	printf("events %" PRIu64 " seconds %.6f disk 0 rss_kb %ld\n", n, elapsed,
	       self_peak_rss_kb());
	return 0;
}

typedef struct child_fig {
	figure rate; /* events/s */
	double rss_mib[16];
	double bytes_per_event;
	uint64_t events;
} child_fig;

static void child_measure(const char *mode, const char *dir, const bench_cfg *cfg, child_fig *f)
{
	char items[32], events[32], out[512];
	snprintf(items, sizeof(items), "%" PRIu64, cfg->fp_items);
	snprintf(events, sizeof(events), "%" PRIu64, cfg->fp_events);
	char *argv[] = {"stockledger-bench", (char *)mode, (char *)dir, items, events, NULL};
	long rss_kb = 0;
	int rc = child_run(argv, out, sizeof(out));
	uint64_t n = 0, disk = 0;
	double secs = 0;
	if (rc != 0 ||
	    sscanf(out, "events %" SCNu64 " seconds %lf disk %" SCNu64 " rss_kb %ld", &n, &secs,
	           &disk, &rss_kb) != 4 ||
	    n == 0 || secs <= 0 || rss_kb <= 0) {
		snprintf(f->rate.why, sizeof(f->rate.why),
		         "%s failed (exit %d, %" PRIu64 " events)", mode, rc, n);
		return;
	}
	fprintf(stderr, "stockledger-bench:   %s: %" PRIu64 " events in %.1f s, peak RSS %ld MiB\n",
	        mode, n, secs, rss_kb / 1024);
	if (f->rate.n < 16) {
		f->rate.rate[f->rate.n] = (double)n / secs;
		f->rss_mib[f->rate.n] = (double)rss_kb / 1024.0;
		f->rate.run[f->rate.n] = bench_run;
		f->rate.n++;
	}
	f->rate.is_set = true;
	f->events = n;
	if (disk > 0)
		f->bytes_per_event = (double)disk / (double)n;
}

/* ---- printing ---- */

static void fmt_rate(char *out, size_t size, double v)
{
	if (v >= 1e6)
		snprintf(out, size, "%.2f M", v / 1e6);
	else if (v >= 1e4)
		snprintf(out, size, "%.0f k", v / 1e3);
	else
		snprintf(out, size, "%.0f", v);
}

static void cell_rate(char *out, size_t size, const figure *f, const char *unit, bool has_lat)
{
	char r[32];
	if (!f->is_set) {
		snprintf(out, size, "unavailable%s%.200s", f->why[0] != '\0' ? ": " : "", f->why);
		return;
	}
	fmt_rate(r, sizeof(r), median(f->rate, f->n));
	if (has_lat)
		snprintf(out, size, "%s %s, p50 %.2f ms, p99 %.2f ms", r, unit,
		         median(f->p50, f->n) / 1e3, median(f->p99, f->n) / 1e3);
	else
		snprintf(out, size, "%s %s", r, unit);
}

/* paired_ratio is the median over runs of av / bv within a run (entries of a and b from the
 * same run paired): what a ratio "measured in one run" is, the interleaving of a run's
 * workloads being there so that a change in the machine's load hits both alike. -1 if no
 * run has both. */
static double paired_ratio(const figure *a, const double *av, const figure *b, const double *bv)
{
	double r[16];
	int n = 0;
	if (!a->is_set || !b->is_set)
		return -1;
	for (int i = 0; i < a->n; i++)
		for (int j = 0; j < b->n; j++)
			if (a->run[i] == b->run[j] && bv[j] > 0 && n < 16)
				r[n++] = av[i] / bv[j];
	return n > 0 ? median(r, n) : -1;
}

static void cell_ratio(char *out, size_t size, const figure *a, const figure *b, bool is_pct)
{
	double r = paired_ratio(a, a->rate, b, b->rate);
	if (r < 0) {
		snprintf(out, size, "-");
		return;
	}
	if (is_pct)
		snprintf(out, size, "%.0f%%", r * 100);
	else
		snprintf(out, size, "%.1fx", r);
}

static const char *verdict(bool is_met)
{
	return is_met ? "met" : "MISSED";
}

static double ratio_of(const figure *a, const figure *b)
{
	return paired_ratio(a, a->rate, b, b->rate);
}

/* ---- main ---- */

typedef struct bench {
	bench_cfg cfg;
	gw_service *svc;
	gw_server *srv;
	gw_echo *echo;
	gw_echo *answer; /* the coalesced row's limit: answers each command, decides nothing */
	bench_pg *pg;
	char sl_url[64], echo_url[64], answer_url[64];
	char pg_why[256];
	figure batch, batch_raw, batch_pg;
	figure single, single_echo, single_pg;
	figure coalesced, coalesced_answer;
	figure read, read_single, read_pg, read_pg_single;
	figure read_echo, read_echo_single; /* the read row's limit */
	figure orders, orders_pg;
	atomic_uint_fast64_t next_order;
	uint64_t order_requests, order_count; /* the ledger's, over every orders run */
	double pg_bytes_per_event;
	gw_stats stats_before, stats_after;
	gw_stats orders_stats_before, orders_stats_after;
	sl_mux_stats coalesce_stats;
} bench;

/* footprint_parse reads ITEMS:EVENTS (1 <= ITEMS <= EVENTS) into cfg. */
static sl_err footprint_parse(const char *text, bench_cfg *cfg)
{
	char items[32];
	const char *colon = strchr(text, ':');
	int64_t i, e;
	if (colon == NULL || (size_t)(colon - text) >= sizeof(items))
		return SL_ERR_INVALID_ARGUMENT;
	memcpy(items, text, (size_t)(colon - text));
	items[colon - text] = '\0';
	if (sl_parse_i64(items, &i) != SL_OK || sl_parse_i64(colon + 1, &e) != SL_OK || i < 1 ||
	    e < i)
		return SL_ERR_INVALID_ARGUMENT;
	cfg->fp_items = (uint64_t)i;
	cfg->fp_events = (uint64_t)e;
	return SL_OK;
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: stockledger-bench [--quick] [--runs N] [--seconds S] [--no-pg] "
	        "[--only W] [--dir DIR] [--footprint ITEMS:EVENTS]\n"
	        "  --quick       small sizes and short runs (under a minute): proves the bench "
	        "works\n"
	        "  --runs N      runs per figure; the table shows medians (default 3)\n"
	        "  --seconds S   length of each timed run (default 5)\n"
	        "  --no-pg       skip the PostgreSQL peer\n"
	        "  --only W      run only workload W (batch, raw, single, echo, coalesced, read, "
	        "orders,\n"
	        "                pg, footprint, replay): for profiling; orders runs its "
	        "PostgreSQL twin too\n"
	        "  --dir DIR     where to make the temporary directory (default $TMPDIR or "
	        "/tmp)\n"
	        "  --footprint ITEMS:EVENTS\n"
	        "                the size of the footprint load and of the log replay rebuilds "
	        "(default\n"
	        "                1000000:10000000)\n");
}

static sl_op *sl_ops_alloc(int n)
{
	sl_op *ops = calloc((size_t)n, sizeof(*ops));
	SL_ASSERT(ops != NULL);
	return ops;
}

static void sl_ops_close(sl_op *ops, int n, bool is_shared)
{
	for (int i = 0; i < n; i++) {
		if (!is_shared || i == 0)
			sl_mux_close(ops[i].m);
		sl_buf_fini(&ops[i].reply);
	}
	free(ops);
}

static sl_mux *mux_or_die(const char *url, unsigned contexts, bool is_coalescing)
{
	sl_mux_config mc = {
	    .contexts = contexts, .is_coalescing = is_coalescing, .timeout_ms = 30000};
	sl_mux *m = NULL;
	char why[128];
	if (sl_mux_open(url, &mc, &m, why, sizeof(why)) != SL_OK) {
		fprintf(stderr, "stockledger-bench: cannot connect to %s: %s\n", url, why);
		exit(1);
	}
	return m;
}

/* single_ops: n clients, each its own connection with one request in flight, or (shared)
 * one connection with coalescing that all of them submit to. */
static sl_op *single_ops(bench *b, const char *url, int n, bool is_shared, void **ctxs)
{
	sl_op *ops = sl_ops_alloc(n);
	sl_mux *shared = is_shared ? mux_or_die(url, b->cfg.coalesce_contexts, true) : NULL;
	for (int i = 0; i < n; i++) {
		ops[i].m = is_shared ? shared : mux_or_die(url, 1, false);
		ops[i].lo = 0;
		ops[i].hi = b->cfg.items;
		sl_buf_init(&ops[i].reply);
		ctxs[i] = &ops[i];
	}
	return ops;
}

static void run_sl_batch(bench *b)
{
	int n = b->cfg.batch_conns;
	void *ctxs[BENCH_THREADS_MAX];
	sl_op *ops = single_ops(b, b->sl_url, n, false, ctxs);
	for (int i = 0; i < n; i++) {
		/* disjoint item ranges: the same plan as PostgreSQL, which would deadlock else */
		ops[i].lo = b->cfg.items * (uint64_t)i / (uint64_t)n;
		ops[i].hi = b->cfg.items * (uint64_t)(i + 1) / (uint64_t)n;
	}
	group g = {.fn = sl_batch_op, .ctxs = ctxs, .threads = n};
	double el = run_groups(&g, 1, b->cfg.seconds);
	figure_add(&b->batch, &g, el);
	sl_ops_close(ops, n, false);
}

static void raw_samples(bench *b, sl_buf *samples, size_t *n)
{
	/* The most recent events of the log: what the batch workload appended. */
	store *st = ledger_store(gw_service_ledger(b->svc));
	store_iter *it = store_iter_alloc(st, STORE_CF_EVENTS);
	SL_ASSERT(it != NULL);
	*n = 0;
	for (store_iter_seek_last(it); store_iter_valid(it) && *n < BENCH_SAMPLE_EVENTS;
	     store_iter_prev(it)) {
		size_t vlen;
		const uint8_t *v = store_iter_value(it, &vlen);
		sl_buf_init(&samples[*n]);
		SL_ASSERT(sl_buf_set(&samples[*n], v, vlen) == SL_OK);
		(*n)++;
	}
	store_iter_free(it);
}

static void run_raw_batch(bench *b, int run)
{
	char dir[300], err[512];
	snprintf(dir, sizeof(dir), "%s/raw-%d", b->cfg.root, run);
	store *st = NULL;
	if (store_open(dir, &st, err, sizeof(err)) != SL_OK) {
		snprintf(b->batch_raw.why, sizeof(b->batch_raw.why), "%.200s", err);
		return;
	}
	static sl_buf samples[BENCH_SAMPLE_EVENTS];
	size_t n_samples = 0;
	raw_samples(b, samples, &n_samples);
	int n = b->cfg.batch_conns;
	raw_op ops[BENCH_THREADS_MAX];
	void *ctxs[BENCH_THREADS_MAX];
	atomic_uint_fast64_t next_seq = 1;
	for (int i = 0; i < n; i++) {
		ops[i] = (raw_op){.st = st,
		                  .b = store_batch_alloc(st),
		                  .samples = samples,
		                  .n_samples = n_samples,
		                  .next_seq = &next_seq};
		ctxs[i] = &ops[i];
	}
	group g = {.fn = raw_append_op, .ctxs = ctxs, .threads = n};
	double el = run_groups(&g, 1, b->cfg.seconds);
	figure_add(&b->batch_raw, &g, el);
	for (int i = 0; i < n; i++)
		store_batch_free(ops[i].b);
	for (size_t i = 0; i < n_samples; i++)
		sl_buf_fini(&samples[i]);
	store_close(st);
	rm_rf(dir);
}

static pg_op *pg_ops_open(bench *b, int n, void **ctxs)
{
	pg_op *ops = calloc((size_t)n, sizeof(*ops));
	SL_ASSERT(ops != NULL);
	for (int i = 0; i < n; i++) {
		char why[256];
		if (bench_pg_connect(b->pg, &ops[i].c, why, sizeof(why)) != SL_OK) {
			snprintf(b->pg_why, sizeof(b->pg_why), "%s", why);
			for (int j = 0; j < i; j++)
				bench_pg_disconnect(ops[j].c);
			free(ops);
			return NULL;
		}
		ops[i].lo = 0;
		ops[i].hi = b->cfg.items;
		ctxs[i] = &ops[i];
	}
	return ops;
}

static void pg_ops_close(pg_op *ops, int n)
{
	if (ops == NULL)
		return;
	for (int i = 0; i < n; i++)
		bench_pg_disconnect(ops[i].c);
	free(ops);
}

static void run_pg_batch(bench *b)
{
	int n = b->cfg.batch_conns;
	void *ctxs[BENCH_THREADS_MAX];
	pg_op *ops = pg_ops_open(b, n, ctxs);
	if (ops == NULL)
		return;
	for (int i = 0; i < n; i++) {
		ops[i].lo = b->cfg.items * (uint64_t)i / (uint64_t)n;
		ops[i].hi = b->cfg.items * (uint64_t)(i + 1) / (uint64_t)n;
	}
	group g = {.fn = pg_batch_op, .ctxs = ctxs, .threads = n};
	double el = run_groups(&g, 1, b->cfg.seconds);
	figure_add(&b->batch_pg, &g, el);
	pg_ops_close(ops, n);
}

/* run_coalesced_answer: the coalesced workload's clients and connection against the
 * answering echo server (the coalesced row's limit). */
static void run_coalesced_answer(bench *b)
{
	int n = b->cfg.single_clients;
	void *ctxs[BENCH_THREADS_MAX];
	sl_op *ops = single_ops(b, b->answer_url, n, true, ctxs);
	group g = {.fn = sl_single_op, .ctxs = ctxs, .threads = n};
	double el = run_groups(&g, 1, b->cfg.seconds);
	figure_add(&b->coalesced_answer, &g, el);
	sl_ops_close(ops, n, true);
}

/* answer_start captures the encoded result the ledger gives a single-line increment and
 * starts the answering echo server with it. */
static sl_err answer_start(bench *b, char *err, size_t err_size)
{
	static sl_op tmpl;
	tmpl.lo = 0;
	tmpl.hi = b->cfg.items;
	tmpl.is_down = true; /* op_command turns it: an increment, which cannot be refused */
	Sl__Command cmd;
	Sl__Increment inc;
	Sl__Decrement dec;
	op_command(&tmpl, &cmd, &inc, &dec, 1, 0);
	sl_mux *m = mux_or_die(b->sl_url, 1, false);
	Sl__Result *r = NULL;
	sl_err rc = sl_mux_command(m, &cmd, &r);
	sl_mux_close(m);
	if (rc != SL_OK || r->error != NULL) {
		snprintf(err, err_size, "answering echo: the ledger's result: %s",
		         rc != SL_OK ? sl_err_name(rc) : r->error->code);
		if (r != NULL)
			sl__result__free_unpacked(r, NULL);
		return rc != SL_OK ? rc : SL_ERR_INTERNAL;
	}
	sl_buf res;
	sl_buf_init(&res);
	rc = sl_buf_reserve(&res, sl__result__get_packed_size(r));
	if (rc == SL_OK) {
		res.len = sl__result__pack(r, res.data);
		snprintf(b->answer_url, sizeof(b->answer_url), "tcp://127.0.0.1:%d", port_free());
		rc = gw_echo_start_answering(b->answer_url, SL_GATEWAY_CONTEXTS, res.data, res.len,
		                             &b->answer, err, err_size);
	}
	sl__result__free_unpacked(r, NULL);
	sl_buf_fini(&res);
	return rc;
}

static void run_sl_single(bench *b, bool is_coalesced, bool has_reader)
{
	int n = b->cfg.single_clients;
	void *ctxs[BENCH_THREADS_MAX], *rctx[1];
	sl_op *ops = single_ops(b, b->sl_url, n, is_coalesced, ctxs);
	sl_op *reader = has_reader ? single_ops(b, b->sl_url, 1, false, rctx) : NULL;
	group gs[2] = {{.fn = sl_single_op, .ctxs = ctxs, .threads = n},
	               {.fn = sl_get_op, .ctxs = rctx, .threads = 1}};
	gw_service_stats(b->svc, &b->stats_before);
	double el = run_groups(gs, has_reader ? 2 : 1, b->cfg.seconds);
	gw_service_stats(b->svc, &b->stats_after);
	if (has_reader) {
		figure_add(&b->read_single, &gs[0], el);
		figure_add(&b->read, &gs[1], el);
	} else {
		figure_add(is_coalesced ? &b->coalesced : &b->single, &gs[0], el);
	}
	if (is_coalesced)
		sl_mux_stats_get(ops[0].m, &b->coalesce_stats);
	sl_ops_close(ops, n, is_coalesced);
	if (reader != NULL)
		sl_ops_close(reader, 1, false);
}

/* request_bytes encodes cmd as a request of one command into req (what the client sends). */
static void request_bytes(const Sl__Command *cmd, sl_buf *req)
{
	sl_buf enc;
	sl_buf_init(&enc);
	SL_ASSERT(sl_client_command_encode(cmd, &enc) == SL_OK);
	SL_ASSERT(sl_client_request_append(req, enc.data, enc.len) == SL_OK);
	sl_buf_fini(&enc);
}

/* run_echo: the single workload's request bytes sent to the echo server by the same clients;
 * with has_reader, one more client sends an item get's bytes back to back meanwhile, and the
 * writing clients are paced to the write rate the ledger sustained in the read workload of
 * this run (the read row's limit: what the transport alone does to a read's latency under
 * the same load). */
static void run_echo(bench *b, bool has_reader)
{
	double pace_s = 0;
	/* (paced only when the ledger wrote at all; at most one request a second each) */
	if (has_reader && b->read_single.n > 0 && b->read_single.rate[b->read_single.n - 1] > 0)
		pace_s = (double)b->cfg.single_clients / b->read_single.rate[b->read_single.n - 1];
	if (pace_s > 1.0)
		pace_s = 1.0;
	Sl__Command cmd;
	Sl__Increment inc;
	Sl__Decrement dec;
	Sl__GetItem get;
	static sl_op tmpl;
	tmpl.lo = 0;
	tmpl.hi = b->cfg.items;
	sl_buf req, get_req;
	sl_buf_init(&req);
	sl_buf_init(&get_req);
	op_command(&tmpl, &cmd, &inc, &dec, 1, 12345);
	request_bytes(&cmd, &req);
	op_lines(&tmpl, 1, 12345, 0);
	sl__command__init(&cmd);
	sl__get_item__init(&get);
	get.item = &tmpl.keys[0];
	cmd.body_case = SL__COMMAND__BODY_GET;
	cmd.get = &get;
	request_bytes(&cmd, &get_req);
	int n = b->cfg.single_clients;
	void *ctxs[BENCH_THREADS_MAX], *rctx[1];
	sl_op *ops = single_ops(b, b->echo_url, n, false, ctxs);
	for (int i = 0; i < n; i++) {
		ops[i].raw = req.data;
		ops[i].raw_len = req.len;
		ops[i].pace_s = pace_s;
	}
	sl_op *reader = has_reader ? single_ops(b, b->echo_url, 1, false, rctx) : NULL;
	if (reader != NULL) {
		reader->raw = get_req.data;
		reader->raw_len = get_req.len;
	}
	group gs[2] = {{.fn = echo_op, .ctxs = ctxs, .threads = n},
	               {.fn = echo_op, .ctxs = rctx, .threads = 1}};
	double el = run_groups(gs, has_reader ? 2 : 1, b->cfg.seconds);
	if (has_reader) {
		figure_add(&b->read_echo_single, &gs[0], el);
		figure_add(&b->read_echo, &gs[1], el);
	} else {
		figure_add(&b->single_echo, &gs[0], el);
	}
	sl_ops_close(ops, n, false);
	if (reader != NULL)
		sl_ops_close(reader, 1, false);
	sl_buf_fini(&req);
	sl_buf_fini(&get_req);
}

/* pg_settle checkpoints PostgreSQL after its workloads, so that writing back their dirty
 * pages does not fall into the next run's timed workloads (the ledger's batch comes first). */
static void pg_settle(bench *b)
{
	void *ctx[1];
	char why[256];
	pg_op *o = pg_ops_open(b, 1, ctx);
	if (o == NULL)
		return;
	if (bench_pg_settle(o->c, why, sizeof(why)) != SL_OK)
		fprintf(stderr, "stockledger-bench: PostgreSQL CHECKPOINT failed: %s\n", why);
	pg_ops_close(o, 1);
}

static void run_pg_single(bench *b, bool has_reader)
{
	int n = b->cfg.single_clients;
	void *ctxs[BENCH_THREADS_MAX], *rctx[1];
	pg_op *ops = pg_ops_open(b, n, ctxs);
	if (ops == NULL)
		return;
	pg_op *reader = has_reader ? pg_ops_open(b, 1, rctx) : NULL;
	if (has_reader && reader == NULL) {
		pg_ops_close(ops, n);
		return;
	}
	group gs[2] = {{.fn = pg_single_op, .ctxs = ctxs, .threads = n},
	               {.fn = pg_get_op, .ctxs = rctx, .threads = 1}};
	double el = run_groups(gs, has_reader ? 2 : 1, b->cfg.seconds);
	if (has_reader) {
		figure_add(&b->read_pg_single, &gs[0], el);
		figure_add(&b->read_pg, &gs[1], el);
	} else {
		figure_add(&b->single_pg, &gs[0], el);
	}
	pg_ops_close(ops, n);
	pg_ops_close(reader, 1);
}

/* order_ops_open: n clients of the orders workload, each on its own connection with one
 * request in flight (the concurrency of single), to the ledger or to PostgreSQL. NULL if
 * PostgreSQL cannot be reached (the cause in b->pg_why). */
static order_op *order_ops_open(bench *b, int n, bool is_pg, void **ctxs)
{
	order_op *ops = calloc((size_t)n, sizeof(*ops));
	SL_ASSERT(ops != NULL);
	for (int i = 0; i < n; i++) {
		char why[256];
		ops[i].lo = 0;
		ops[i].hi = b->cfg.items;
		ops[i].next_order = &b->next_order;
		ctxs[i] = &ops[i];
		if (!is_pg) {
			ops[i].m = mux_or_die(b->sl_url, 1, false);
		} else if (bench_pg_connect(b->pg, &ops[i].c, why, sizeof(why)) != SL_OK) {
			snprintf(b->pg_why, sizeof(b->pg_why), "%s", why);
			for (int j = 0; j < i; j++)
				bench_pg_disconnect(ops[j].c);
			free(ops);
			return NULL;
		}
	}
	return ops;
}

static void order_ops_close(order_op *ops, int n)
{
	if (ops == NULL)
		return;
	for (int i = 0; i < n; i++) {
		sl_mux_close(ops[i].m);
		bench_pg_disconnect(ops[i].c);
	}
	free(ops);
}

static void run_orders(bench *b, bool is_pg)
{
	int n = b->cfg.single_clients;
	void *ctxs[BENCH_THREADS_MAX];
	order_op *ops = order_ops_open(b, n, is_pg, ctxs);
	if (ops == NULL)
		return;
	group g = {.fn = is_pg ? pg_order_op : sl_order_op,
	           .latency = order_place_latency,
	           .ctxs = ctxs,
	           .threads = n};
	if (!is_pg)
		gw_service_stats(b->svc, &b->orders_stats_before);
	double el = run_groups(&g, 1, b->cfg.seconds);
	if (!is_pg) {
		gw_service_stats(b->svc, &b->orders_stats_after);
		for (int i = 0; i < n; i++)
			b->order_requests += ops[i].requests;
		b->order_count += g.ops + g.errors + g.late;
	}
	figure_add(is_pg ? &b->orders_pg : &b->orders, &g, el);
	order_ops_close(ops, n);
}

/* cell_orders: orders/s and the place's latency. */
static void cell_orders(char *out, size_t size, const figure *f)
{
	char r[32];
	if (!f->is_set) {
		snprintf(out, size, "unavailable%s%.200s", f->why[0] != '\0' ? ": " : "", f->why);
		return;
	}
	fmt_rate(r, sizeof(r), median(f->rate, f->n));
	snprintf(out, size, "%s orders/s, place p50 %.2f ms, p99 %.2f ms", r,
	         median(f->p50, f->n) / 1e3, median(f->p99, f->n) / 1e3);
}

static void print_table(bench *b, const child_fig *fp, const child_fig *replay,
                        const child_fig *scan)
{
	char a[256], l[256], lr[64], p[256], pr[64];
	const figure *pgf;
	printf("\n| workload | StockLedger | limit | vs limit | PostgreSQL 15 | vs PostgreSQL | "
	       "target |\n|---|---|---|---|---|---|---|\n");

	cell_rate(a, sizeof(a), &b->batch, "events/s", false);
	cell_rate(l, sizeof(l), &b->batch_raw, "events/s", false);
	cell_ratio(lr, sizeof(lr), &b->batch, &b->batch_raw, true);
	cell_rate(p, sizeof(p), &b->batch_pg, "events/s", false);
	cell_ratio(pr, sizeof(pr), &b->batch, &b->batch_pg, false);
	printf("| batch: %d-line commands over %" PRIu64 " items, %d connections | %s | raw synced "
	       "RocksDB WriteBatch append, same events: %s | %s | %s | %s | >= 60%% of limit: "
	       "%s |\n",
	       BENCH_LINES, b->cfg.items, b->cfg.batch_conns, a, l, lr, p, pr,
	       verdict(ratio_of(&b->batch, &b->batch_raw) >= 0.6));

	cell_rate(a, sizeof(a), &b->single, "commands/s", true);
	cell_rate(l, sizeof(l), &b->single_echo, "round trips/s", true);
	cell_ratio(lr, sizeof(lr), &b->single, &b->single_echo, true);
	cell_rate(p, sizeof(p), &b->single_pg, "commands/s", true);
	cell_ratio(pr, sizeof(pr), &b->single, &b->single_pg, false);
	printf("| single: 1-line restricted decrements/increments, %d clients, 1 command per "
	       "request | %s | nng echo, same concurrency: %s | %s | %s | %s | >= 90%% of echo: "
	       "%s |\n",
	       b->cfg.single_clients, a, l, lr, p, pr,
	       verdict(ratio_of(&b->single, &b->single_echo) >= 0.9));

	cell_rate(a, sizeof(a), &b->coalesced, "commands/s", true);
	cell_rate(l, sizeof(l), &b->coalesced_answer, "commands/s", true);
	cell_ratio(lr, sizeof(lr), &b->coalesced, &b->coalesced_answer, true);
	cell_ratio(pr, sizeof(pr), &b->coalesced, &b->single_pg, false);
	printf("| single-coalesced: the same, %d clients on one connection, %u requests in flight, "
	       "coalescing | %s | the same client and connection against a server that answers "
	       "each command with the ledger's result and does nothing else: %s | %s | (above) | "
	       "%s | >= 10x PostgreSQL: %s |\n",
	       b->cfg.single_clients, b->cfg.coalesce_contexts, a, l, lr, pr,
	       verdict(ratio_of(&b->coalesced, &b->single_pg) >= 10));

	/* The orders' limit is the transport's: each client waits for each of its requests,
	 * so at the echo's round trips per second an order costs requests-per-order of them. */
	double rpo = b->order_count > 0 ? (double)b->order_requests / (double)b->order_count : 0;
	figure lim = {.n = 0};
	if (b->single_echo.is_set && rpo > 0) {
		for (int i = 0; i < b->single_echo.n; i++) {
			lim.rate[i] = b->single_echo.rate[i] / rpo;
			lim.run[i] = b->single_echo.run[i];
		}
		lim.n = b->single_echo.n;
		lim.is_set = true;
		fmt_rate(l, sizeof(l), median(lim.rate, lim.n));
		snprintf(l + strlen(l), sizeof(l) - strlen(l),
		         " orders/s (echo round trips/s / %.2f requests per order)", rpo);
	} else {
		snprintf(l, sizeof(l), "-");
	}
	cell_orders(a, sizeof(a), &b->orders);
	cell_ratio(lr, sizeof(lr), &b->orders, &lim, true);
	cell_orders(p, sizeof(p), &b->orders_pg);
	cell_ratio(pr, sizeof(pr), &b->orders, &b->orders_pg, false);
	printf("| orders: place (3 lines, restricted) then pay; 10%% canceled, 10%% edited; %d "
	       "clients, 1 request per command | %s | nng echo, same concurrency: %s | %s | %s | "
	       "%s | none set |\n",
	       b->cfg.single_clients, a, l, lr, p, pr);

	char rd[128], rdp[320];
	if (b->read.is_set)
		snprintf(rd, sizeof(rd), "p50 %.2f ms, p99 %.2f ms (under %.0f writes/s)",
		         median(b->read.p50, b->read.n) / 1e3, median(b->read.p99, b->read.n) / 1e3,
		         median(b->read_single.rate, b->read_single.n));
	else
		snprintf(rd, sizeof(rd), "unavailable");
	pgf = &b->read_pg;
	if (pgf->is_set)
		snprintf(rdp, sizeof(rdp), "p50 %.2f ms, p99 %.2f ms (under %.0f writes/s)",
		         median(pgf->p50, pgf->n) / 1e3, median(pgf->p99, pgf->n) / 1e3,
		         median(b->read_pg_single.rate, b->read_pg_single.n));
	else
		snprintf(rdp, sizeof(rdp), "unavailable%s%.200s", b->pg_why[0] ? ": " : "",
		         b->pg_why);
	char rdl[192], rdr[64];
	if (b->read_echo.is_set)
		snprintf(
		    rdl, sizeof(rdl),
		    "nng echo round trip of a get while the echo serves %d clients paced to the "
		    "ledger's write rate: "
		    "p50 %.2f ms, p99 %.2f ms (under %.0f round trips/s)",
		    b->cfg.single_clients, median(b->read_echo.p50, b->read_echo.n) / 1e3,
		    median(b->read_echo.p99, b->read_echo.n) / 1e3,
		    median(b->read_echo_single.rate, b->read_echo_single.n));
	else
		snprintf(rdl, sizeof(rdl), "-");
	double rr = paired_ratio(&b->read, b->read.p99, &b->read_echo, b->read_echo.p99);
	if (rr >= 0)
		snprintf(rdr, sizeof(rdr), "p99 %.1fx the echo's", rr);
	else
		snprintf(rdr, sizeof(rdr), "-");
	printf("| read: item get while single runs | %s | %s | %s | %s | - | p99 < 1 ms: %s |\n",
	       rd, rdl, rdr, rdp, verdict(b->read.is_set && median(b->read.p99, b->read.n) < 1000));

	cell_rate(a, sizeof(a), &replay->rate, "events/s", false);
	cell_rate(l, sizeof(l), &scan->rate, "events/s", false);
	cell_ratio(lr, sizeof(lr), &replay->rate, &scan->rate, true);
	printf("| replay: rebuild of a %" PRIu64 "-event log (views and index) | %s (peak RSS "
	       "%.0f MiB) | raw scan + decode of the log: %s | %s | n/a | - | >= 50%% of limit: "
	       "%s |\n",
	       replay->events, a, median(replay->rss_mib, replay->rate.n), l, lr,
	       verdict(ratio_of(&replay->rate, &scan->rate) >= 0.5));

	double rss = median(fp->rss_mib, fp->rate.n);
	char fpa[256], fpp[128];
	if (fp->rate.is_set)
		snprintf(fpa, sizeof(fpa),
		         "peak RSS %.0f MiB, %.0f bytes on disk per event (loaded at %.0f "
		         "events/s in-process)",
		         rss, fp->bytes_per_event, median(fp->rate.rate, fp->rate.n));
	else
		snprintf(fpa, sizeof(fpa), "unavailable: %.200s", fp->rate.why);
	if (b->pg_bytes_per_event > 0)
		snprintf(fpp, sizeof(fpp), "%.0f bytes on disk per event (events table)",
		         b->pg_bytes_per_event);
	else
		snprintf(fpp, sizeof(fpp), "unavailable");
	printf("| footprint: %" PRIu64 " items, %" PRIu64 " events | %s | - | - | %s | - | RSS < "
	       "512 MiB: %s |\n",
	       b->cfg.fp_items, b->cfg.fp_events, fpa, fpp, verdict(fp->rate.is_set && rss < 512));

	uint64_t groups = b->stats_after.groups - b->stats_before.groups;
	printf("\nwriter during the last read run (single with a reader): %" PRIu64
	       " commands in %" PRIu64 " groups (%.1f per WAL sync); coalescing client: %" PRIu64
	       " commands in %" PRIu64 " requests (largest %" PRIu64 ")\n",
	       b->stats_after.commands - b->stats_before.commands, groups,
	       groups > 0
	           ? (double)(b->stats_after.commands - b->stats_before.commands) / (double)groups
	           : 0.0,
	       b->coalesce_stats.commands, b->coalesce_stats.requests,
	       b->coalesce_stats.commands_per_request_max);
	groups = b->orders_stats_after.groups - b->orders_stats_before.groups;
	uint64_t commands = b->orders_stats_after.commands - b->orders_stats_before.commands;
	printf("writer during the last orders run: %" PRIu64 " commands in %" PRIu64
	       " groups (%.1f per WAL sync), %" PRIu64 " events\n",
	       commands, groups, groups > 0 ? (double)commands / (double)groups : 0.0,
	       b->orders_stats_after.events - b->orders_stats_before.events);
	/* every workload's failures, the limits' and PostgreSQL's included */
	const struct {
		const char *name;
		const figure *f;
	} all[] = {{"batch", &b->batch},
	           {"raw append", &b->batch_raw},
	           {"postgresql batch", &b->batch_pg},
	           {"single", &b->single},
	           {"echo", &b->single_echo},
	           {"postgresql single", &b->single_pg},
	           {"coalesced", &b->coalesced},
	           {"answering server", &b->coalesced_answer},
	           {"read", &b->read},
	           {"read's single", &b->read_single},
	           {"echo's read", &b->read_echo},
	           {"echo's read's single", &b->read_echo_single},
	           {"postgresql read", &b->read_pg},
	           {"postgresql read's single", &b->read_pg_single},
	           {"orders", &b->orders},
	           {"postgresql orders", &b->orders_pg}};
	uint64_t failed = 0;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (all[i].f->errors > 0)
			printf("%s%s %" PRIu64, failed++ == 0 ? "failed operations: " : ", ",
			       all[i].name, all[i].f->errors);
	printf("%s\n", failed > 0 ? "" : "no operation failed in any workload");
}

static bool is_on(const bench_cfg *cfg, const char *workload)
{
	return cfg->only == NULL || strcmp(cfg->only, workload) == 0;
}

static int bench_main(bench *b)
{
	bench_cfg *cfg = &b->cfg;
	char err[512], dir[300];
	double loads[3];
	if (getloadavg(loads, 3) == 3)
		printf("stockledger-bench: %ld cpus, load average %.2f %.2f %.2f at start\n",
		       sysconf(_SC_NPROCESSORS_ONLN), loads[0], loads[1], loads[2]);
	printf("stockledger-bench: %s, %d run(s) of %.1f s per figure, in %s\n",
	       cfg->is_quick ? "quick" : "full", cfg->runs, cfg->seconds, cfg->root);
	fflush(stdout);

	/* the service, in-process, on loopback TCP */
	snprintf(dir, sizeof(dir), "%s/ledger", cfg->root);
	gw_config gc = {.data_dir = dir, .default_location = SL_DEFAULT_LOCATION};
	if (gw_service_open(&gc, &b->svc, err, sizeof(err)) != SL_OK) {
		fprintf(stderr, "stockledger-bench: %s\n", err);
		return 1;
	}
	snprintf(b->sl_url, sizeof(b->sl_url), "tcp://127.0.0.1:%d", port_free());
	if (gw_server_start(b->svc, b->sl_url, SL_DEFAULT_LOCATION, &b->srv, err, sizeof(err)) !=
	    SL_OK) {
		fprintf(stderr, "stockledger-bench: %s\n", err);
		return 1;
	}
	if (load_items(b->svc, cfg->items, cfg->items, err, sizeof(err)) != SL_OK) {
		fprintf(stderr, "stockledger-bench: %s\n", err);
		return 1;
	}
	snprintf(b->echo_url, sizeof(b->echo_url), "tcp://127.0.0.1:%d", port_free());
	if (gw_echo_start(b->echo_url, SL_GATEWAY_CONTEXTS, &b->echo, err, sizeof(err)) != SL_OK) {
		fprintf(stderr, "stockledger-bench: echo server: %s\n", err);
		return 1;
	}
	if (answer_start(b, err, sizeof(err)) != SL_OK) {
		fprintf(stderr, "stockledger-bench: %s\n", err);
		return 1;
	}
	if (cfg->has_pg) {
		snprintf(dir, sizeof(dir), "%s/pg", cfg->root);
		mkdir(dir, 0700);
		if (bench_pg_start(dir, port_free(), cfg->items, BENCH_QUANTITY, &b->pg, b->pg_why,
		                   sizeof(b->pg_why)) != SL_OK)
			fprintf(stderr, "stockledger-bench: postgresql peer unavailable: %s\n",
			        b->pg_why);
	} else {
		snprintf(b->pg_why, sizeof(b->pg_why), "--no-pg");
	}
	snprintf(b->batch_pg.why, sizeof(b->batch_pg.why), "%s", b->pg_why);
	snprintf(b->single_pg.why, sizeof(b->single_pg.why), "%s", b->pg_why);
	snprintf(b->orders_pg.why, sizeof(b->orders_pg.why), "%s", b->pg_why);

	for (int r = 0; r < cfg->runs; r++) {
		bench_run = r;
		printf("stockledger-bench: run %d of %d\n", r + 1, cfg->runs);
		fflush(stdout);
		if (is_on(cfg, "batch"))
			run_sl_batch(b);
		if (is_on(cfg, "raw"))
			run_raw_batch(b, r);
		if (is_on(cfg, "single"))
			run_sl_single(b, false, false);
		if (is_on(cfg, "echo"))
			run_echo(b, false);
		if (is_on(cfg, "coalesced")) {
			run_sl_single(b, true, false);
			run_coalesced_answer(b);
		}
		if (is_on(cfg, "read")) {
			run_sl_single(b, false, true);
			run_echo(b, true);
		}
		if (is_on(cfg, "orders"))
			run_orders(b, false);
		if (b->pg != NULL && is_on(cfg, "pg")) {
			run_pg_batch(b);
			run_pg_single(b, false);
			run_pg_single(b, true);
		}
		if (b->pg != NULL && (is_on(cfg, "pg") || is_on(cfg, "orders"))) {
			run_orders(b, true);
			pg_settle(b);
		}
	}
	if (b->pg != NULL) {
		void *ctx[1];
		pg_op *o = pg_ops_open(b, 1, ctx);
		if (o != NULL)
			b->pg_bytes_per_event = bench_pg_bytes_per_event(o->c);
		pg_ops_close(o, 1);
		bench_pg_stop(b->pg);
		b->pg = NULL;
	}
	gw_echo_stop(b->echo);
	gw_echo_stop(b->answer);
	gw_server_stop(b->srv);
	gw_service_close(b->svc);

	/* footprint, then replay and scan of the same log, each in a child of its own */
	static child_fig fp, replay, scan;
	snprintf(dir, sizeof(dir), "%s/footprint", cfg->root);
	printf("stockledger-bench: footprint: loading %" PRIu64 " items, %" PRIu64 " events\n",
	       cfg->fp_items, cfg->fp_events);
	fflush(stdout);
	if (is_on(cfg, "footprint") || is_on(cfg, "replay"))
		child_measure("--child-footprint", dir, cfg, &fp);
	for (int r = 0; r < cfg->runs && fp.rate.is_set && is_on(cfg, "replay"); r++) {
		bench_run = r;
		printf("stockledger-bench: replay run %d of %d\n", r + 1, cfg->runs);
		fflush(stdout);
		child_measure("--child-scan", dir, cfg, &scan);
		child_measure("--child-replay", dir, cfg, &replay);
	}
	if (getloadavg(loads, 3) == 3)
		printf("stockledger-bench: load average %.2f %.2f %.2f at the end\n", loads[0],
		       loads[1], loads[2]);
	print_table(b, &fp, &replay, &scan);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "--child-footprint") == 0) {
		uint64_t items, events;
		if (sl_args_u64(argv[3], &items) != SL_OK || sl_args_u64(argv[4], &events) != SL_OK)
			return 2;
		return child_footprint(argv[2], items, events);
	}
	if (argc == 5 && strcmp(argv[1], "--child-replay") == 0)
		return child_replay(argv[2], false);
	if (argc == 5 && strcmp(argv[1], "--child-scan") == 0)
		return child_replay(argv[2], true);

	static bench b;
	bench_cfg *cfg = &b.cfg;
	const char *tmp = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
	cfg->has_pg = true;
	cfg->runs = 3;
	cfg->seconds = 5;
	cfg->items = 100000;
	cfg->batch_conns = 4;
	cfg->single_clients = 64;
	cfg->coalesce_contexts = 4;
	cfg->fp_items = 1000000;
	cfg->fp_events = 10000000;
	bool has_runs = false, has_seconds = false, has_footprint = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int64_t v;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(a, "--quick") == 0) {
			cfg->is_quick = true;
		} else if (strcmp(a, "--no-pg") == 0) {
			cfg->has_pg = false;
		} else if (strcmp(a, "--runs") == 0 && i + 1 < argc &&
		           sl_parse_i64(argv[i + 1], &v) == SL_OK && v >= 1 && v <= 16) {
			cfg->runs = (int)v;
			has_runs = true;
			i++;
		} else if (strcmp(a, "--seconds") == 0 && i + 1 < argc &&
		           sl_parse_i64(argv[i + 1], &v) == SL_OK && v >= 1 && v <= 600) {
			cfg->seconds = (double)v;
			has_seconds = true;
			i++;
		} else if (strcmp(a, "--only") == 0 && i + 1 < argc) {
			cfg->only = argv[++i];
		} else if (strcmp(a, "--dir") == 0 && i + 1 < argc) {
			tmp = argv[++i];
		} else if (strcmp(a, "--footprint") == 0 && i + 1 < argc &&
		           footprint_parse(argv[i + 1], cfg) == SL_OK) {
			has_footprint = true;
			i++;
		} else {
			fprintf(stderr, "stockledger-bench: unknown or incomplete option '%s'\n",
			        a);
			usage(stderr);
			return 2;
		}
	}
	if (cfg->is_quick) {
		cfg->items = 1000;
		if (!has_footprint) {
			cfg->fp_items = 2000;
			cfg->fp_events = 20000;
		}
		if (!has_runs)
			cfg->runs = 1;
		if (!has_seconds)
			cfg->seconds = 0.3;
	}
	snprintf(cfg->root, sizeof(cfg->root), "%s/sl-bench-XXXXXX", tmp);
	if (mkdtemp(cfg->root) == NULL) {
		fprintf(stderr, "stockledger-bench: cannot create a directory in '%s': %s\n", tmp,
		        strerror(errno));
		return 1;
	}
	/* the PostgreSQL server may run as nobody: it must reach its directory */
	chmod(cfg->root, 0755);
	int rc = bench_main(&b);
	rm_rf(cfg->root);
	return rc;
}

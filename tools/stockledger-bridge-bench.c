/*
 * stockledger-bridge-bench: what the NATS JetStream bridge costs (docs/bridge.md,
 * docs/BENCHMARKS.md "The bus"). It starts everything itself, on loopback, in a temporary
 * directory: a nats-server with JetStream (a child process), the service in-process on a
 * TCP port, and the bridge in-process. Prints one table, each figure the median of --runs.
 *
 * - commands: an order system publishing single-line restricted decrements and increments
 *   on random items to the commands stream (asynchronous JetStream publishes, --window
 *   commands awaiting their result), the bridge applying them; the figure is results
 *   received per second and the latency from publish to result.
 * - limit: the same messages through the same stream to a do-nothing consumer (fetch, answer
 *   on SL-Reply-To, ack: the bridge without the ledger), in the same run: the bus's own rate.
 * - events: the bridge publishing the change feed of the whole log into an empty stream
 *   (events/s until the stream holds the head), against publishing the same messages
 *   (read back from that stream, up to RAW_EVENTS_MAX) into a fresh stream without the
 *   ledger and without expectations (the bus's side of the bound), and against reading the
 *   same feed without publishing it (the ledger's side).
 *
 * No figure is asserted anywhere: `--quick` only proves the bench works (run by ctest).
 */
/* getloadavg and mkdtemp */
#define _DEFAULT_SOURCE
#include <inttypes.h>
#include <nats/nats.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/banned.h"
#include "base/sl_limits.h"
#include "base/sl_util.h"
#include "bridge/bridge.h"
#include "bridge/pbjson.h"
#include "bridge/streams.h"
#include "client/args.h"
#include "client/client.h"
#include "gateway/server.h"
#include "gateway/service.h"

#define RESULTS_SUBJECT "bench.results"
#define LIMIT_STREAM "BENCH_LIMIT"
#define LIMIT_SUBJECT "bench.limit.>"
#define QUANTITY_START 500000
#define SAMPLES_MAX (1u << 22)
#define RAW_EVENTS_MAX 200000

typedef struct cfg {
	bool is_quick;
	int runs;
	double seconds;
	uint32_t items;
	uint32_t window;
	bool is_json; /* commands published as JSON bodies (docs/bridge.md) */
	const char *nats_server;
} cfg;

typedef struct bench {
	cfg c;
	char root[256], nats_url[64], sl_url[64];
	pid_t nats_pid;
	natsConnection *nc;
	jsCtx *js;
	gw_service *svc;
	gw_server *srv;
	uint8_t **cmds; /* pre-encoded commands, 2 per item: decrement, increment */
	size_t *cmd_lens;
	double *sent_at; /* per published message (indexed by its number in the run) */
	uint32_t *lat_us;
} bench;

typedef struct figure {
	double rate;
	double p50_ms, p99_ms;
	double per_batch; /* commands per fetched batch (the bridge's) */
} figure;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* median sorts v in place: take what needs the runs' order before it */
static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* pct_paired is the median over runs of 100 * a[r] / b[r], the ratio within a run (the
 * quotient of two medians would pair different runs); 0 if no run has b[r] > 0. */
static double pct_paired(const double *a, const double *b, int n)
{
	double r[100];
	int k = 0;
	for (int i = 0; i < n; i++)
		if (b[i] > 0)
			r[k++] = 100.0 * a[i] / b[i];
	return k > 0 ? median(r, k) : 0.0;
}

static pid_t nats_child; /* stopped by die too: a failed bench leaves no server behind */
static char root_dir[256];

static void die(const char *what, const char *why)
{
	fprintf(stderr, "stockledger-bridge-bench: %s: %s\n", what, why);
	if (nats_child > 0) {
		kill(nats_child, SIGKILL);
		waitpid(nats_child, NULL, 0);
	}
	if (root_dir[0] != '\0') {
		char cmd[400];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "stockledger-bridge-bench: cannot remove %s\n", root_dir);
	}
	exit(1);
}

/* ---- setup ---- */

static void nats_start(bench *b)
{
	char js_dir[300], log[300];
	snprintf(js_dir, sizeof(js_dir), "%s/jetstream", b->root);
	snprintf(log, sizeof(log), "%s/nats.log", b->root);
	for (int attempt = 0; attempt < 20 && b->nc == NULL; attempt++) {
		char port[16];
		snprintf(port, sizeof(port), "%d", 20000 + rand() % 40000);
		snprintf(b->nats_url, sizeof(b->nats_url), "nats://127.0.0.1:%s", port);
		pid_t pid = fork();
		if (pid == 0) {
			if (freopen(log, "a", stdout) == NULL || freopen(log, "a", stderr) == NULL)
				_exit(127);
			execl(b->c.nats_server, b->c.nats_server, "-js", "-a", "127.0.0.1", "-p",
			      port, "-sd", js_dir, (char *)NULL);
			_exit(127);
		}
		b->nats_pid = pid;
		nats_child = pid;
		for (int i = 0; i < 200 && b->nc == NULL; i++) {
			if (waitpid(pid, NULL, WNOHANG) == pid) {
				b->nats_pid = 0;
				nats_child = 0;
				break;
			}
			if (natsConnection_ConnectTo(&b->nc, b->nats_url) != NATS_OK) {
				b->nc = NULL;
				sleep_ms(25);
			}
		}
		if (b->nc == NULL && b->nats_pid > 0) {
			kill(b->nats_pid, SIGKILL);
			waitpid(b->nats_pid, NULL, 0);
			b->nats_pid = 0;
			nats_child = 0;
		}
	}
	if (b->nc == NULL)
		die("nats-server", "did not start (see its log in the bench directory)");
	jsOptions jo;
	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = 4 * (int64_t)b->c.window;
	/* a full window waits for room (the default 200 ms made a loaded test run fail the
	 * raw publish with "publish refused"): backpressure, not a failure */
	jo.PublishAsync.StallWait = 30000;
	if (natsConnection_JetStream(&b->js, b->nc, &jo) != NATS_OK)
		die("jetstream", "no context");
}

static int port_free(void)
{
	return 20000 + rand() % 40000;
}

/* ledger_call sends one command and returns its result (or dies). */
static Sl__Result *ledger_call(bench *b, sl_client *cl, Sl__Command *cmd)
{
	Sl__Command *cmds[1] = {cmd};
	Sl__Request req = SL__REQUEST__INIT;
	req.n_commands = 1;
	req.commands = cmds;
	Sl__Response *resp = NULL;
	(void)b;
	if (sl_client_call(cl, &req, &resp) != SL_OK || resp->n_results != 1)
		die("ledger", "no answer");
	Sl__Result *r = resp->results[0];
	resp->results[0] = NULL;
	resp->n_results = 0;
	sl__response__free_unpacked(resp, NULL);
	return r;
}

static void ledger_start(bench *b)
{
	char data[300], err[512];
	snprintf(data, sizeof(data), "%s/ledger", b->root);
	gw_config gc = {.data_dir = data, .default_location = SL_DEFAULT_LOCATION};
	if (gw_service_open(&gc, &b->svc, err, sizeof(err)) != SL_OK)
		die("service", err);
	for (int i = 0; i < 20; i++) {
		snprintf(b->sl_url, sizeof(b->sl_url), "tcp://127.0.0.1:%d", port_free());
		if (gw_server_start(b->svc, b->sl_url, SL_DEFAULT_LOCATION, &b->srv, err,
		                    sizeof(err)) == SL_OK)
			break;
		b->srv = NULL;
	}
	if (b->srv == NULL)
		die("server", err);
	/* the items, 256 creates a request */
	sl_client *cl = NULL;
	if (sl_client_open(b->sl_url, 30000, &cl) != SL_OK)
		die("client", "cannot connect");
	b->cmds = calloc(2 * (size_t)b->c.items, sizeof(*b->cmds));
	b->cmd_lens = calloc(2 * (size_t)b->c.items, sizeof(*b->cmd_lens));
	if (b->cmds == NULL || b->cmd_lens == NULL)
		die("memory", "commands");
	Sl__ItemKey keys[256];
	Sl__CreateItem creates[256];
	Sl__Command cmds[256], *ptrs[256];
	char products[256][24];
	for (uint32_t first = 0; first < b->c.items; first += 256) {
		uint32_t n = b->c.items - first < 256 ? b->c.items - first : 256;
		for (uint32_t j = 0; j < n; j++) {
			snprintf(products[j], sizeof(products[j]), "p%06" PRIu32, first + j);
			sl__item_key__init(&keys[j]);
			keys[j].product_id = products[j];
			sl__create_item__init(&creates[j]);
			creates[j].item = &keys[j];
			creates[j].has_quantity = true;
			creates[j].quantity = QUANTITY_START;
			sl__command__init(&cmds[j]);
			cmds[j].body_case = SL__COMMAND__BODY_CREATE;
			cmds[j].create = &creates[j];
			ptrs[j] = &cmds[j];
		}
		Sl__Request req = SL__REQUEST__INIT;
		req.n_commands = n;
		req.commands = ptrs;
		Sl__Response *resp = NULL;
		if (sl_client_call(cl, &req, &resp) != SL_OK)
			die("load", sl_client_why(cl));
		sl__response__free_unpacked(resp, NULL);
	}
	sl_client_close(cl);
	/* what the order system publishes: a restricted decrement or an increment of 1 */
	for (uint32_t i = 0; i < b->c.items; i++) {
		char product[24];
		snprintf(product, sizeof(product), "p%06" PRIu32, i);
		Sl__ItemKey k = SL__ITEM_KEY__INIT;
		k.product_id = product;
		Sl__Line line = SL__LINE__INIT, *lines[1] = {&line};
		line.item = &k;
		line.has_quantity = true;
		line.quantity = 1;
		Sl__Decrement dec = SL__DECREMENT__INIT;
		dec.n_lines = 1;
		dec.lines = lines;
		dec.has_restrict_inventory = true;
		dec.restrict_inventory = true;
		Sl__Increment inc = SL__INCREMENT__INIT;
		inc.n_lines = 1;
		inc.lines = lines;
		for (int kind = 0; kind < 2; kind++) {
			Sl__Command c = SL__COMMAND__INIT;
			c.body_case =
			    kind == 0 ? SL__COMMAND__BODY_DECREMENT : SL__COMMAND__BODY_INCREMENT;
			if (kind == 0)
				c.decrement = &dec;
			else
				c.increment = &inc;
			size_t len;
			uint8_t *body;
			if (b->c.is_json) {
				body = (uint8_t *)sl_pbjson_print(&c.base);
				len = body != NULL ? strlen((char *)body) : 0;
			} else {
				len = sl__command__get_packed_size(&c);
				body = malloc(len);
				if (body != NULL)
					sl__command__pack(&c, body);
			}
			if (body == NULL)
				die("memory", "commands");
			b->cmds[2 * i + (uint32_t)kind] = body;
			b->cmd_lens[2 * i + (uint32_t)kind] = len;
		}
	}
}

static void stream_fresh(bench *b, const char *name, const char *subject,
                         jsRetentionPolicy retention)
{
	jsErrCode jerr = 0;
	char why[256];
	js_DeleteStream(b->js, name, NULL, &jerr);
	if (sl_bridge_stream_add(b->js, name, subject, retention, 0, NULL, why, sizeof(why)) !=
	    SL_OK)
		die("stream", why);
}

/* figure_latency sets f's p50 and p99 from the first n samples of b->lat_us. */
static void figure_latency(bench *b, size_t n, figure *f)
{
	if (n == 0)
		return;
	qsort(b->lat_us, n, sizeof(*b->lat_us), cmp_u32);
	f->p50_ms = b->lat_us[n / 2] / 1000.0;
	f->p99_ms = b->lat_us[(size_t)((double)n * 0.99)] / 1000.0;
}

/* bridge_run starts an in-process bridge for commands or for events (or dies). */
static sl_bridge *bridge_run(bench *b, bool is_commands)
{
	sl_bridge_config bc = {.service_url = b->sl_url,
	                       .nats_url = b->nats_url,
	                       .is_commands = is_commands,
	                       .is_events = !is_commands};
	sl_bridge *br = NULL;
	char why[512] = "";
	if (sl_bridge_open(&bc, &br, why, sizeof(why)) != SL_OK || sl_bridge_start(br) != SL_OK)
		die("bridge", why);
	return br;
}

/* ---- the publisher: an order system awaiting each result ---- */

/* publish_run publishes commands to subject_prefix for seconds, keeping window results
 * outstanding, and returns the rate of results and their latencies. */
static figure publish_run(bench *b, const char *subject, int run)
{
	natsSubscription *sub = NULL;
	if (natsConnection_SubscribeSync(&sub, b->nc, RESULTS_SUBJECT) != NATS_OK)
		die("subscribe", RESULTS_SUBJECT);
	natsSubscription_SetPendingLimits(sub, -1, -1);
	uint64_t rng = 0x9e3779b97f4a7c15ULL ^ (uint64_t)run;
	uint64_t sent = 0, received = 0, counted = 0;
	size_t n_lat = 0;
	double start = now_s(), end = start + b->c.seconds;
	for (;;) {
		double t = now_s();
		bool is_open = t < end && sent < SAMPLES_MAX;
		while (is_open && sent - received < b->c.window) {
			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			size_t which = (size_t)(rng % b->c.items) * 2 + (sent & 1);
			natsMsg *m = NULL;
			natsMsg_Create(&m, subject, NULL, (const char *)b->cmds[which],
			               (int)b->cmd_lens[which]);
			char id[48];
			snprintf(id, sizeof(id), "r%d-%" PRIu64, run, sent);
			natsMsgHeader_Set(m, SL_BRIDGE_HDR_REPLY_TO, RESULTS_SUBJECT);
			if (b->c.is_json)
				natsMsgHeader_Set(m, "Content-Type", "application/json");
			jsPubOptions po;
			jsPubOptions_Init(&po);
			po.MsgId = id;
			b->sent_at[sent] = now_s();
			if (js_PublishMsgAsync(b->js, &m, &po) != NATS_OK)
				die("publish", "refused");
			natsMsg_Destroy(m);
			sent++;
		}
		if (!is_open && received == sent)
			break;
		natsMsg *r = NULL;
		natsStatus s = natsSubscription_NextMsg(&r, sub, is_open ? 5 : 10000);
		if (s == NATS_TIMEOUT) {
			if (!is_open)
				die("results", "missing after 10 s");
			continue;
		}
		if (s != NATS_OK)
			die("results", natsStatus_GetText(s));
		const char *key = NULL, *code = NULL;
		natsMsgHeader_Get(r, SL_BRIDGE_HDR_KEY, &key);
		natsMsgHeader_Get(r, SL_BRIDGE_HDR_CODE, &code);
		const char *dash = key != NULL ? strrchr(key, '-') : NULL;
		uint64_t i = 0;
		if (dash == NULL || sl_args_u64(dash + 1, &i) != SL_OK || i >= sent)
			die("results", "a result without the key of a published command");
		if (code == NULL || strcmp(code, "OK") != 0)
			die("results", code != NULL ? code : "no SL-Code");
		double at = now_s();
		received++;
		if (at <= end) {
			counted++;
			b->lat_us[n_lat++] = (uint32_t)((at - b->sent_at[i]) * 1e6);
		}
		natsMsg_Destroy(r);
	}
	natsSubscription_Destroy(sub);
	figure f = {.rate = (double)counted / b->c.seconds};
	figure_latency(b, n_lat, &f);
	return f;
}

/* ---- the limit: the same messages to a consumer that only answers and acks ---- */

typedef struct echo_consumer {
	bench *b;
	natsSubscription *sub;
	atomic_bool is_stopping;
} echo_consumer;

static void *echo_main(void *arg)
{
	echo_consumer *e = arg;
	while (!atomic_load(&e->is_stopping)) {
		natsMsgList list = {0};
		if (natsSubscription_Fetch(&list, e->sub, SL_BRIDGE_BATCH_DEFAULT, 200, NULL) !=
		    NATS_OK)
			continue;
		for (int i = 0; i < list.Count; i++) {
			natsMsg *in = list.Msgs[i];
			const char *reply = NULL, *id = NULL;
			natsMsgHeader_Get(in, SL_BRIDGE_HDR_REPLY_TO, &reply);
			natsMsgHeader_Get(in, "Nats-Msg-Id", &id);
			natsMsg *out = NULL;
			natsMsg_Create(&out, reply, NULL, "", 0);
			char key[80];
			snprintf(key, sizeof(key), "nats-msg-id:%s", id != NULL ? id : "");
			natsMsgHeader_Set(out, SL_BRIDGE_HDR_KEY, key);
			natsMsgHeader_Set(out, SL_BRIDGE_HDR_CODE, "OK");
			natsConnection_PublishMsg(e->b->nc, out);
			natsMsg_Destroy(out);
			natsMsg_Ack(in, NULL);
		}
		natsMsgList_Destroy(&list);
	}
	return NULL;
}

static figure run_limit(bench *b, int run)
{
	stream_fresh(b, LIMIT_STREAM, LIMIT_SUBJECT, js_WorkQueuePolicy);
	echo_consumer e = {.b = b};
	jsSubOptions so;
	jsSubOptions_Init(&so);
	so.Stream = LIMIT_STREAM;
	so.Config.AckPolicy = js_AckExplicit;
	so.Config.MaxAckPending = SL_BRIDGE_BATCH_DEFAULT;
	jsErrCode jerr = 0;
	if (js_PullSubscribe(&e.sub, b->js, LIMIT_SUBJECT, "bench-echo", NULL, &so, &jerr) !=
	    NATS_OK)
		die("limit", "cannot subscribe");
	pthread_t t;
	pthread_create(&t, NULL, echo_main, &e);
	figure f = publish_run(b, "bench.limit.x", run);
	atomic_store(&e.is_stopping, true);
	pthread_join(t, NULL);
	natsSubscription_Destroy(e.sub);
	return f;
}

/* run_direct sends the same commands straight to the ledger, in requests of the bridge's
 * batch size, each command with a key of its own as the bridge gives them: the ledger's side
 * of the bound, without the bus. */
static figure run_direct(bench *b, int run)
{
	enum { BATCH = SL_BRIDGE_BATCH_DEFAULT };
	sl_client *cl = NULL;
	if (sl_client_open(b->sl_url, 30000, &cl) != SL_OK)
		die("client", "cannot connect");
	Sl__Command *cmds[BATCH];
	char keys[BATCH][48];
	uint64_t rng = 0x2545f4914f6cdd1dULL ^ (uint64_t)run, sent = 0;
	size_t n_lat = 0;
	double start = now_s(), end = start + b->c.seconds;
	while (now_s() < end) {
		for (int i = 0; i < BATCH; i++, sent++) {
			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			size_t which = (size_t)(rng % b->c.items) * 2 + (sent & 1);
			char why[160];
			cmds[i] =
			    b->c.is_json
			        ? (Sl__Command *)sl_pbjson_parse(
			              &sl__command__descriptor, (const char *)b->cmds[which],
			              b->cmd_lens[which], why, sizeof(why))
			        : sl__command__unpack(NULL, b->cmd_lens[which], b->cmds[which]);
			if (cmds[i] == NULL)
				die("direct", "a command does not decode");
			snprintf(keys[i], sizeof(keys[i]), "direct-%d-%" PRIu64, run, sent);
			cmds[i]->key = keys[i]; /* decoded without a key: nothing to free */
		}
		Sl__Request req = SL__REQUEST__INIT;
		req.n_commands = BATCH;
		req.commands = cmds;
		Sl__Response *resp = NULL;
		double t0 = now_s();
		if (sl_client_call(cl, &req, &resp) != SL_OK || resp->n_results != BATCH)
			die("direct", "no answer");
		uint32_t us = (uint32_t)((now_s() - t0) * 1e6);
		for (int i = 0; i < BATCH; i++) {
			if (resp->results[i]->error != NULL)
				die("direct", resp->results[i]->error->code);
			if (n_lat < SAMPLES_MAX)
				b->lat_us[n_lat++] = us;
			cmds[i]->key = NULL;
			sl__command__free_unpacked(cmds[i], NULL);
		}
		sl__response__free_unpacked(resp, NULL);
	}
	double el = now_s() - start;
	sl_client_close(cl);
	figure f = {.rate = (double)sent / el};
	figure_latency(b, n_lat, &f);
	return f;
}

static figure run_bridge(bench *b, int run)
{
	stream_fresh(b, SL_BRIDGE_COMMANDS_STREAM, SL_BRIDGE_COMMANDS_SUBJECT, js_WorkQueuePolicy);
	sl_bridge *br = bridge_run(b, true);
	figure f = publish_run(b, "stockledger.commands.bench", run);
	sl_bridge_stats st;
	sl_bridge_stats_get(br, &st);
	f.per_batch = st.batches > 0 ? (double)st.commands / (double)st.batches : 0;
	sl_bridge_stop(br);
	sl_bridge_close(br);
	return f;
}

/* ---- events ---- */

static uint64_t ledger_head_seq(bench *b)
{
	sl_client *cl = NULL;
	if (sl_client_open(b->sl_url, 30000, &cl) != SL_OK)
		die("client", "cannot connect");
	Sl__GetHead h = SL__GET_HEAD__INIT;
	Sl__Command cmd = SL__COMMAND__INIT;
	cmd.body_case = SL__COMMAND__BODY_HEAD;
	cmd.head = &h;
	Sl__Result *r = ledger_call(b, cl, &cmd);
	uint64_t seq = r->seq;
	sl__result__free_unpacked(r, NULL);
	sl_client_close(cl);
	return seq;
}

/* run_feed_read reads the whole change feed, a page a request: the ledger's side. */
static double run_feed_read(bench *b, uint64_t head)
{
	sl_client *cl = NULL;
	if (sl_client_open(b->sl_url, 30000, &cl) != SL_OK)
		die("client", "cannot connect");
	Sl__ReadEvents re = SL__READ_EVENTS__INIT;
	re.has_from_seq = re.has_limit = true;
	re.limit = SL_BRIDGE_EVENTS_PAGE_MAX;
	Sl__Command cmd = SL__COMMAND__INIT;
	cmd.body_case = SL__COMMAND__BODY_EVENTS;
	cmd.events = &re;
	double start = now_s();
	for (uint64_t seq = 1; seq <= head;) {
		re.from_seq = seq;
		Sl__Result *r = ledger_call(b, cl, &cmd);
		if (r->n_events == 0)
			die("feed", "no events");
		seq += r->n_events;
		sl__result__free_unpacked(r, NULL);
	}
	double el = now_s() - start;
	sl_client_close(cl);
	return (double)head / el;
}

/* run_raw_publish publishes the events the bridge published (read back from its stream)
 * into a fresh stream as fast as JetStream confirms them, with a message id each and no
 * expectation: the bus's own rate for these messages. */
static double run_raw_publish(bench *b, uint64_t head)
{
	uint64_t n = head < RAW_EVENTS_MAX ? head : RAW_EVENTS_MAX;
	natsMsg **msgs = calloc(n, sizeof(*msgs));
	if (msgs == NULL)
		die("memory", "raw events");
	for (uint64_t i = 0; i < n; i++) {
		natsMsg *m = NULL;
		jsErrCode jerr = 0;
		if (js_GetMsg(&m, b->js, SL_BRIDGE_EVENTS_STREAM, i + 1, NULL, &jerr) != NATS_OK)
			die("raw", "cannot read the events stream back");
		const char *seq = NULL, *type = NULL;
		natsMsgHeader_Get(m, SL_BRIDGE_HDR_SEQ, &seq);
		natsMsgHeader_Get(m, SL_BRIDGE_HDR_TYPE, &type);
		natsMsg_Create(&msgs[i], "bench.raw", NULL, natsMsg_GetData(m),
		               natsMsg_GetDataLength(m));
		natsMsgHeader_Set(msgs[i], SL_BRIDGE_HDR_SEQ, seq != NULL ? seq : "");
		natsMsgHeader_Set(msgs[i], SL_BRIDGE_HDR_TYPE, type != NULL ? type : "");
		natsMsg_Destroy(m);
	}
	stream_fresh(b, "BENCH_RAW", "bench.raw", js_LimitsPolicy);
	double start = now_s();
	for (uint64_t i = 0; i < n; i++) {
		char id[32];
		snprintf(id, sizeof(id), "sl-%" PRIu64, i + 1);
		jsPubOptions po;
		jsPubOptions_Init(&po);
		po.MsgId = id;
		if (js_PublishMsgAsync(b->js, &msgs[i], &po) != NATS_OK)
			die("raw", "publish refused");
		natsMsg_Destroy(msgs[i]); /* NULL once the library owns it */
	}
	jsPubOptions po;
	jsPubOptions_Init(&po);
	po.MaxWait = 60000;
	if (js_PublishAsyncComplete(b->js, &po) != NATS_OK)
		die("raw", "not confirmed in 60 s");
	double el = now_s() - start;
	free(msgs);
	return (double)n / el;
}

static double run_events(bench *b, uint64_t head)
{
	stream_fresh(b, SL_BRIDGE_EVENTS_STREAM, SL_BRIDGE_EVENTS_SUBJECT, js_LimitsPolicy);
	double start = now_s();
	sl_bridge *br = bridge_run(b, false);
	for (;;) {
		sl_bridge_stats st;
		sl_bridge_stats_get(br, &st);
		if (st.events >= head)
			break;
		if (now_s() - start > 600)
			die("events", "not all published after 600 s");
		sleep_ms(2);
	}
	double el = now_s() - start;
	sl_bridge_stop(br);
	sl_bridge_close(br);
	return (double)head / el;
}

/* ---- main ---- */

static void usage(FILE *f)
{
	fprintf(f, "usage: stockledger-bridge-bench [--quick] [--runs N] [--seconds S] "
	           "[--window N] [--items N] [--json]\n"
	           "  --quick      small sizes and short runs: proves the bench works\n"
	           "  --runs N     runs per figure; the table shows medians (default 3)\n"
	           "  --seconds S  length of each timed run (default 5)\n"
	           "  --window N   commands published and awaiting their result (default 1024)\n"
	           "  --items N    items the commands pick from (default 10000)\n"
	           "  --json       publish the commands as JSON bodies instead of protobuf\n");
}

int main(int argc, char **argv)
{
	bench *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return 1;
	b->c = (cfg){.runs = 3, .seconds = 5, .items = 10000, .window = 1024};
	for (int i = 1; i < argc; i++) {
		uint64_t v = 0;
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : "";
		if (strcmp(a, "--json") == 0) {
			b->c.is_json = true;
		} else if (strcmp(a, "--quick") == 0) {
			b->c.is_quick = true;
			b->c.runs = 1;
			b->c.seconds = 1;
			b->c.items = 1000;
			b->c.window = 256;
		} else if (strcmp(a, "--runs") == 0 && sl_args_u64(val, &v) == SL_OK && v > 0 &&
		           v < 100) {
			b->c.runs = (int)v;
			i++;
		} else if (strcmp(a, "--seconds") == 0 && sl_args_u64(val, &v) == SL_OK && v > 0 &&
		           v < 3600) {
			b->c.seconds = (double)v;
			i++;
		} else if (strcmp(a, "--window") == 0 && sl_args_u64(val, &v) == SL_OK && v > 0 &&
		           v <= 65536) {
			b->c.window = (uint32_t)v;
			i++;
		} else if (strcmp(a, "--items") == 0 && sl_args_u64(val, &v) == SL_OK && v > 0 &&
		           v <= 1000000) {
			b->c.items = (uint32_t)v;
			i++;
		} else {
			usage(strcmp(a, "--help") == 0 ? stdout : stderr);
			return strcmp(a, "--help") == 0 ? 0 : 2;
		}
	}
	b->c.nats_server = access("/usr/sbin/nats-server", X_OK) == 0 ? "/usr/sbin/nats-server"
	                                                              : "/usr/bin/nats-server";
	signal(SIGPIPE, SIG_IGN);
	srand((unsigned)getpid());
	const char *tmp = getenv("TMPDIR");
	snprintf(b->root, sizeof(b->root), "%s/sl-bridge-bench-XXXXXX",
	         tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(b->root) == NULL)
		die("mkdtemp", b->root);
	sl_strlcpy(root_dir, b->root, sizeof(root_dir));
	b->sent_at = calloc(SAMPLES_MAX, sizeof(*b->sent_at));
	b->lat_us = calloc(SAMPLES_MAX, sizeof(*b->lat_us));
	if (b->sent_at == NULL || b->lat_us == NULL)
		die("memory", "samples");
	double loads[3] = {0, 0, 0};
	getloadavg(loads, 3);
	printf("stockledger-bridge-bench: %ld cpus, load average %.2f at start, %d run(s) of "
	       "%.0f s, %" PRIu32 " items, window %" PRIu32 ", %s bodies, in %s\n",
	       sysconf(_SC_NPROCESSORS_ONLN), loads[0], b->c.runs, b->c.seconds, b->c.items,
	       b->c.window, b->c.is_json ? "JSON" : "protobuf", b->root);
	fflush(stdout);
	nats_start(b);
	ledger_start(b);

	double br_rate[100], br_p50[100], br_p99[100], li_rate[100], li_p50[100], li_p99[100];
	double ev_rate[100], rd_rate[100], di_rate[100], di_p50[100], di_p99[100], raw_rate[100];
	for (int r = 0; r < b->c.runs; r++) {
		figure fb = run_bridge(b, r);
		figure fl = run_limit(b, r);
		figure fd = run_direct(b, r);
		di_rate[r] = fd.rate, di_p50[r] = fd.p50_ms, di_p99[r] = fd.p99_ms;
		br_rate[r] = fb.rate, br_p50[r] = fb.p50_ms, br_p99[r] = fb.p99_ms;
		li_rate[r] = fl.rate, li_p50[r] = fl.p50_ms, li_p99[r] = fl.p99_ms;
		uint64_t head = ledger_head_seq(b);
		ev_rate[r] = run_events(b, head);
		rd_rate[r] = run_feed_read(b, head);
		raw_rate[r] = run_raw_publish(b, head);
		printf("run %d: ledger alone %.0f commands/s (p50 %.2f, p99 %.2f ms)\n", r + 1,
		       fd.rate, fd.p50_ms, fd.p99_ms);
		printf("run %d: bridge %.0f commands/s (p50 %.2f, p99 %.2f ms, %.0f a batch), "
		       "limit %.0f/s (p50 "
		       "%.2f, p99 %.2f ms); events %.0f/s over %" PRIu64 ", feed read %.0f/s, raw "
		       "publish %.0f/s\n",
		       r + 1, fb.rate, fb.p50_ms, fb.p99_ms, fb.per_batch, fl.rate, fl.p50_ms,
		       fl.p99_ms, ev_rate[r], head, rd_rate[r], raw_rate[r]);
		fflush(stdout);
	}
	int n = b->c.runs;
	double vs_limit = pct_paired(br_rate, li_rate, n),
	       vs_direct = pct_paired(br_rate, di_rate, n),
	       vs_raw = pct_paired(ev_rate, raw_rate, n), vs_read = pct_paired(ev_rate, rd_rate, n);
	double bm = median(br_rate, n), lm = median(li_rate, n), em = median(ev_rate, n),
	       rm = median(rd_rate, n);
	double dm = median(di_rate, n);
	printf("\n| workload | through the bridge | limit | vs limit | the ledger alone | vs the "
	       "ledger alone |\n|---|---|---|---|---|---|\n");
	printf(
	    "| commands: 1-line restricted decrements/increments published to JetStream, %" PRIu32
	    " awaiting their result | %.0f commands/s, p50 %.2f ms, p99 %.2f ms | the same "
	    "messages to a consumer that only answers and acks: %.0f/s, p50 %.2f ms, p99 %.2f "
	    "ms | %.0f%% | the same commands in requests of %d, keys included: %.0f "
	    "commands/s, p50 %.2f ms, p99 %.2f ms a request | %.0f%% |\n",
	    b->c.window, bm, median(br_p50, n), median(br_p99, n), lm, median(li_p50, n),
	    median(li_p99, n), vs_limit, SL_BRIDGE_BATCH_DEFAULT, dm, median(di_p50, n),
	    median(di_p99, n), vs_direct);
	double pm = median(raw_rate, n);
	printf("| events: the change feed published into an empty stream | %.0f events/s | "
	       "the same messages published to JetStream without the ledger or expectations: "
	       "%.0f/s | %.0f%% | reading the same feed without publishing: %.0f events/s | "
	       "%.0f%% |\n",
	       em, pm, vs_raw, rm, vs_read);

	gw_server_stop(b->srv);
	gw_service_close(b->svc);
	jsCtx_Destroy(b->js);
	natsConnection_Destroy(b->nc);
	sl_bridge_library_close();
	if (b->nats_pid > 0) {
		kill(b->nats_pid, SIGTERM);
		waitpid(b->nats_pid, NULL, 0);
	}
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", b->root);
	if (system(cmd) != 0)
		fprintf(stderr, "stockledger-bridge-bench: cannot remove %s\n", b->root);
	for (uint32_t i = 0; i < 2 * b->c.items; i++)
		free(b->cmds[i]);
	free(b->cmds);
	free(b->cmd_lens);
	free(b->sent_at);
	free(b->lat_us);
	free(b);
	return 0;
}

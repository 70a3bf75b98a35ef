/*
 * stockledger-bridge: the ledger on a NATS JetStream bus (bridge/bridge.h, docs/bridge.md).
 * Consumes commands from a JetStream stream and publishes the change feed to another, until
 * SIGTERM or SIGINT; then it acknowledges what the ledger answered and exits 0.
 *
 * Exit status: 0 stopped by a signal; 1 cannot start (NATS, JetStream or the ledger
 * unreachable, a stream it cannot use) or a job failed for good; 2 bad command line.
 */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/banned.h"
#include "base/sl_util.h"
#include "base/sl_limits.h"
#include "bridge/bridge.h"
#include "client/args.h"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: stockledger-bridge [--service URL] [--nats URL] [options]\n"
	        "  --service URL           stockledgerd (default $STOCKLEDGER_SERVER or "
	        "tcp://127.0.0.1:7450)\n"
	        "  --nats URL              NATS server(s) (default nats://127.0.0.1:4222)\n"
	        "  --commands-stream NAME  JetStream stream of commands (default %s)\n"
	        "  --commands-subject SUBJ its subjects (default %s)\n"
	        "  --durable NAME          the durable consumer (default %s)\n"
	        "  --events-stream NAME    JetStream stream of events (default %s)\n"
	        "  --events-subject SUBJ   where events are published (default %s)\n"
	        "  --no-commands           do not consume commands\n"
	        "  --no-events             do not publish events\n"
	        "  --batch N               commands per fetch and request, 1..%d (default %d)\n"
	        "  --ack-wait-ms N         redelivery delay of unacknowledged commands "
	        "(default %d)\n"
	        "  --events-from SEQ       first seq published into an empty events stream "
	        "(default 1)\n"
	        "  --timeout-ms N          bound of one call to the ledger (default 10000)\n",
	        SL_BRIDGE_COMMANDS_STREAM, SL_BRIDGE_COMMANDS_SUBJECT, SL_BRIDGE_DURABLE,
	        SL_BRIDGE_EVENTS_STREAM, SL_BRIDGE_EVENTS_SUBJECT, SL_BRIDGE_BATCH_MAX,
	        SL_BRIDGE_BATCH_DEFAULT, SL_BRIDGE_ACK_WAIT_MS_DEFAULT);
}

static int number(const char *opt, const char *text, uint64_t max, uint64_t *out)
{
	if (sl_args_u64(text, out) != SL_OK || *out > max) {
		fprintf(stderr,
		        "stockledger-bridge: %s wants a number up to %" PRIu64 ", not '%s'\n", opt,
		        max, text);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *env = getenv("STOCKLEDGER_SERVER");
	sl_bridge_config cfg = {
	    .service_url = env != NULL && env[0] != '\0' ? env : "tcp://127.0.0.1:7450",
	    .nats_url = "nats://127.0.0.1:4222",
	    .is_commands = true,
	    .is_events = true,
	};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		uint64_t v = 0;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(a, "--no-commands") == 0) {
			cfg.is_commands = false;
			continue;
		}
		if (strcmp(a, "--no-events") == 0) {
			cfg.is_events = false;
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "stockledger-bridge: unknown or incomplete option '%s'\n",
			        a);
			usage(stderr);
			return 2;
		}
		const char *val = argv[++i];
		if (strcmp(a, "--service") == 0)
			cfg.service_url = val;
		else if (strcmp(a, "--nats") == 0)
			cfg.nats_url = val;
		else if (strcmp(a, "--commands-stream") == 0)
			cfg.commands_stream = val;
		else if (strcmp(a, "--commands-subject") == 0)
			cfg.commands_subject = val;
		else if (strcmp(a, "--durable") == 0)
			cfg.durable = val;
		else if (strcmp(a, "--events-stream") == 0)
			cfg.events_stream = val;
		else if (strcmp(a, "--events-subject") == 0)
			cfg.events_subject = val;
		else if (strcmp(a, "--batch") == 0 &&
		         number(a, val, SL_BRIDGE_BATCH_MAX, &v) == 0 && v > 0)
			cfg.batch = (uint32_t)v;
		else if (strcmp(a, "--ack-wait-ms") == 0 && number(a, val, 3600000, &v) == 0 &&
		         v >= 100)
			cfg.ack_wait_ms = (int)v;
		else if (strcmp(a, "--events-from") == 0 && number(a, val, UINT64_MAX, &v) == 0 &&
		         v > 0)
			cfg.events_from = v;
		else if (strcmp(a, "--timeout-ms") == 0 && number(a, val, 3600000, &v) == 0 &&
		         v > 0)
			cfg.timeout_ms = (int)v;
		else if (strcmp(a, "--fault-exit-before-ack") == 0 &&
		         number(a, val, UINT32_MAX, &v) == 0)
			cfg.fault_exit_before_ack = (uint32_t)v; /* tests only: docs/bridge.md */
		else if (strcmp(a, "--fault-exit-before-send") == 0 &&
		         number(a, val, UINT32_MAX, &v) == 0)
			cfg.fault_exit_before_send = (uint32_t)v; /* tests only */
		else if (strcmp(a, "--fault-lose-fetch") == 0 &&
		         number(a, val, UINT32_MAX, &v) == 0)
			cfg.fault_lose_fetch = (uint32_t)v; /* tests only */
		else {
			fprintf(stderr, "stockledger-bridge: bad option or value '%s %s'\n", a,
			        val);
			usage(stderr);
			return 2;
		}
	}

	/* Signals are taken by sigtimedwait on this thread only: block them before any thread. */
	sigset_t set;
	sl_stop_signals_block(&set);

	char why[1024] = "";
	sl_bridge *b = NULL;
	if (sl_bridge_open(&cfg, &b, why, sizeof(why)) != SL_OK) {
		fprintf(stderr, "stockledger-bridge: %s\n", why);
		return 1;
	}
	if (sl_bridge_start(b) != SL_OK) {
		fprintf(stderr, "stockledger-bridge: cannot start its threads\n");
		sl_bridge_close(b);
		return 1;
	}
	if (cfg.is_commands)
		printf("stockledger-bridge: commands from stream '%s' (subjects '%s', consumer "
		       "'%s') to %s\n",
		       cfg.commands_stream ? cfg.commands_stream : SL_BRIDGE_COMMANDS_STREAM,
		       cfg.commands_subject ? cfg.commands_subject : SL_BRIDGE_COMMANDS_SUBJECT,
		       cfg.durable ? cfg.durable : SL_BRIDGE_DURABLE, cfg.service_url);
	if (cfg.is_events)
		printf("stockledger-bridge: events of %s to stream '%s' (subject '%s')\n",
		       cfg.service_url,
		       cfg.events_stream ? cfg.events_stream : SL_BRIDGE_EVENTS_STREAM,
		       cfg.events_subject ? cfg.events_subject : SL_BRIDGE_EVENTS_SUBJECT);
	printf("stockledger-bridge: ready\n");
	fflush(stdout);

	int sig = 0;
	for (;;) {
		struct timespec tick = {0, 500 * 1000000L};
		sig = sigtimedwait(&set, NULL, &tick);
		if (sig > 0 || sl_bridge_failed(b) != SL_OK)
			break;
	}
	if (sig > 0)
		printf("stockledger-bridge: signal %d, stopping\n", sig);
	sl_err rc = sl_bridge_stop(b);
	sl_bridge_stats st;
	sl_bridge_stats_get(b, &st);
	sl_bridge_close(b);
	sl_bridge_library_close();
	printf("stockledger-bridge: stopped after %" PRIu64 " commands (%" PRIu64
	       " malformed, %" PRIu64 " retries) and %" PRIu64 " events (%" PRIu64
	       " reads of the events stream's end)\n",
	       st.commands, st.malformed, st.retries, st.events, st.resyncs);
	if (rc != SL_OK) {
		fprintf(stderr, "stockledger-bridge: stopped by an error: %s\n", sl_strerror(rc));
		return 1;
	}
	return 0;
}

/*
 * stockledgerd: the StockLedger daemon. Opens the ledger, starts the writer and serves the
 * nng gateway until SIGTERM or SIGINT, then stops taking requests, lets the writer commit
 * what is queued, and exits 0.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "base/banned.h"
#include "base/sl_util.h"
#include "gateway/server.h"
#include "gateway/service.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: stockledgerd [--data DIR] [--listen URL] [--default-location ID]\n"
	           "                    [--idem-retention DURATION]\n"
	           "  --data DIR              ledger directory (default ./var/stockledger)\n"
	           "  --listen URL            tcp://HOST:PORT or ipc:///PATH "
	           "(default tcp://127.0.0.1:7450)\n"
	           "  --default-location ID   location of items given without one "
	           "(default 'default')\n"
	           "  --idem-retention D      how long an idempotency key answers retries: a "
	           "number\n"
	           "                          and a unit, s, m, h or d (default 7d); 0 keeps "
	           "keys for ever\n");
}

/* The longest retention accepted: ten years (and no overflow in milliseconds). */
#define RETENTION_DAYS_MAX 3650

/* retention_parse reads a duration "0" or a whole number and a unit (s, m, h, d) into *ms;
 * false if s is anything else or longer than RETENTION_DAYS_MAX days. "0s" is refused: it
 * would read as no window at all, and only a bare 0 means for ever. */
static bool retention_parse(const char *s, int64_t *ms)
{
	static const char units[] = "smhd";
	static const int64_t unit_s[] = {1, 60, 3600, 86400};
	if (strcmp(s, "0") == 0) {
		*ms = 0;
		return true;
	}
	size_t len = strlen(s);
	char number[24];
	const char *unit = len >= 2 ? strchr(units, s[len - 1]) : NULL;
	if (unit == NULL || len - 1 >= sizeof(number))
		return false;
	memcpy(number, s, len - 1);
	number[len - 1] = '\0';
	int64_t n, per = unit_s[unit - units];
	if (sl_parse_i64(number, &n) != SL_OK || n < 1 || n > RETENTION_DAYS_MAX * 86400 / per)
		return false;
	*ms = n * per * 1000;
	return true;
}

/* mkdir_p creates dir and its parents, like mkdir -p. */
static int mkdir_p(const char *dir)
{
	char path[4096];
	if (sl_strlcpy(path, dir, sizeof(path)) >= sizeof(path))
		return -1;
	for (char *p = path + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

int main(int argc, char **argv)
{
	const char *data = "./var/stockledger";
	const char *listen = "tcp://127.0.0.1:7450";
	const char *location = SL_DEFAULT_LOCATION;
	int64_t retention_ms = 7 * 86400 * INT64_C(1000);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "stockledgerd: unknown or incomplete option '%s'\n", a);
			usage(stderr);
			return 2;
		}
		if (strcmp(a, "--data") == 0)
			data = argv[++i];
		else if (strcmp(a, "--listen") == 0)
			listen = argv[++i];
		else if (strcmp(a, "--default-location") == 0)
			location = argv[++i];
		else if (strcmp(a, "--idem-retention") == 0) {
			if (!retention_parse(argv[++i], &retention_ms)) {
				fprintf(stderr,
				        "stockledgerd: invalid --idem-retention '%s' (a number and "
				        "s, m, "
				        "h or d, at most %dd; or 0)\n",
				        argv[i], RETENTION_DAYS_MAX);
				return 2;
			}
		} else {
			fprintf(stderr, "stockledgerd: unknown option '%s'\n", a);
			usage(stderr);
			return 2;
		}
	}
	if (data[0] == '\0') {
		fprintf(stderr, "stockledgerd: --data needs a directory\n");
		usage(stderr);
		return 2;
	}
	if (!sl_id_is_valid(location, strlen(location), SL_ID_MAX)) {
		fprintf(stderr, "stockledgerd: invalid default location '%s'\n", location);
		return 2;
	}
	char why[512];
	if (gw_listen_url_check(listen, why, sizeof(why)) != SL_OK) {
		/* before the data directory is made or opened: nothing starts */
		fprintf(stderr, "stockledgerd: cannot listen: %s\n", why);
		return 1;
	}
	if (mkdir_p(data) != 0) {
		fprintf(stderr, "stockledgerd: cannot create data directory '%s': %s\n", data,
		        strerror(errno));
		return 1;
	}

	/* Signals are taken by sigwait on this thread only: block them before any thread. */
	sigset_t set;
	sl_stop_signals_block(&set);

	char err[1024];
	gw_config cfg = {
	    .data_dir = data, .default_location = location, .idem_retention_ms = retention_ms};
	gw_service *svc = NULL;
	gw_server *srv = NULL;
	if (gw_service_open(&cfg, &svc, err, sizeof(err)) != SL_OK) {
		fprintf(stderr, "stockledgerd: %s\n", err);
		return 1;
	}
	if (gw_server_start(svc, listen, location, &srv, err, sizeof(err)) != SL_OK) {
		fprintf(stderr, "stockledgerd: %s\n", err);
		gw_service_close(svc);
		return 1;
	}
	unsigned char hash[SL_HASH_BYTES];
	char hex[2 * SL_HASH_BYTES + 1];
	uint64_t head = ledger_head(gw_service_ledger(svc), hash);
	sl_hex(hash, sizeof(hash), hex);
	printf("stockledgerd: data '%s', head seq %llu hash %s\n", data, (unsigned long long)head,
	       hex);
	char bound[1100];
	if (gw_server_url(srv, bound, sizeof(bound)) != SL_OK)
		sl_strlcpy(bound, listen, sizeof(bound));
	printf("stockledgerd: listening on %s\n", bound);
	fflush(stdout);
	if (strncmp(listen, "ipc://", 6) == 0)
		fprintf(stderr,
		        "stockledgerd: warning: with nng 1.5.2, a client that closes an ipc "
		        "connection with a request unanswered can stop this listener from "
		        "serving anyone (README, \"Known limitations\"); listen on "
		        "tcp://127.0.0.1:PORT where clients may die mid-request\n");

	int sig = 0;
	sigwait(&set, &sig);
	printf("stockledgerd: signal %d, shutting down\n", sig);
	fflush(stdout);
	gw_server_stop(srv);
	gw_stats st;
	gw_service_stats(svc, &st);
	gw_service_close(svc);
	printf("stockledgerd: stopped after %llu commands in %llu groups (largest %llu)\n",
	       (unsigned long long)st.commands, (unsigned long long)st.groups,
	       (unsigned long long)st.group_commands_max);
	return 0;
}

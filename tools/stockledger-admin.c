/*
 * stockledger-admin: offline operations on a stopped service's data directory.
 *   verify    check the hash chain and that the stored views equal a fresh fold
 *   rebuild   drop every view and refold the log; prints the checksum of the views
 *   checksum  print the checksum of the stored views
 *   dump      print every event as one JSON object per line
 * Exit status: 0 fine, 1 the check failed or the data could not be read, 2 usage.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "base/banned.h"
#include "base/sl_util.h"
#include "ledger/ledger.h"
#include "projector/rebuild.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: stockledger-admin (verify | rebuild | checksum | dump) --data DIR\n");
}

static void progress_cb(void *ctx, uint64_t done, uint64_t total)
{
	(void)ctx;
	fprintf(stderr, "  %" PRIu64 " / %" PRIu64 " events\n", done, total);
}

static json_t *state_json(const sl_item_state *s)
{
	return json_pack("{s:b, s:b, s:I, s:b, s:b, s:o, s:I}", "exists", s->exists,
	                 "trackQuantity", s->track_quantity, "quantity", (json_int_t)s->quantity,
	                 "inStock", s->in_stock, "preorderEnabled", s->preorder_enabled,
	                 "preorderLimit",
	                 s->has_preorder_limit ? json_integer(s->preorder_limit) : json_null(),
	                 "preorderCounter", (json_int_t)s->preorder_counter);
}

static int dump(ledger *l)
{
	ledger_iter *it = ledger_iter_alloc(l, 1);
	sl_event ev;
	uint64_t bad = 0;
	sl_err rc;
	while ((rc = ledger_iter_next(it, &ev, &bad)) == SL_OK) {
		char t[40], hex[2 * SL_HASH_BYTES + 1];
		sl_time_format(ev.time_ms, t, sizeof(t));
		sl_hex(ev.hash, SL_HASH_BYTES, hex);
		json_t *o = json_pack(
		    "{s:I, s:I, s:I, s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:I, s:I, "
		    "s:s}",
		    "seq", (json_int_t)ev.seq, "itemSeq", (json_int_t)ev.item_seq, "commandSeq",
		    (json_int_t)ev.command_seq, "type", (int)ev.type, "time", t, "key",
		    ev.command_key, "reason", ev.reason, "orderId", ev.order_id, "productId",
		    ev.item.product_id, "variantId", ev.item.variant_id, "locationId",
		    ev.item.location_id, "before", state_json(&ev.before), "after",
		    state_json(&ev.after), "deltaQuantity", (json_int_t)ev.delta_quantity,
		    "deltaCounter", (json_int_t)ev.delta_counter, "hash", hex);
		if (ev.order_seq > 0 || ev.trigger != SL_TRIGGER_UNKNOWN)
			json_object_update_missing_new(
			    o, json_pack("{s:s, s:I, s:i, s:i, s:i, s:i, s:I, s:I, s:I, s:I}",
			                 "orderLineId", ev.order_line_id, "orderSeq",
			                 (json_int_t)ev.order_seq, "orderStatusBefore",
			                 (int)ev.order_status_before, "orderStatus",
			                 (int)ev.order_status, "trigger", (int)ev.trigger,
			                 "triggerBefore", (int)ev.trigger_before, "lineHeldBefore",
			                 (json_int_t)ev.line_before.held, "lineHeldAfter",
			                 (json_int_t)ev.line_after.held, "lineQuantityAfter",
			                 (json_int_t)ev.line_after.quantity, "lineRestockedAfter",
			                 (json_int_t)ev.line_after.restocked));
		char *s = json_dumps(o, JSON_COMPACT);
		puts(s);
		free(s);
		json_decref(o);
	}
	ledger_iter_free(it);
	if (rc != SL_ERR_NOT_FOUND) {
		fprintf(stderr, "stockledger-admin: dump stopped at event %llu: %s\n",
		        (unsigned long long)bad, sl_strerror(rc));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = NULL, *data = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
			data = argv[++i];
		else if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (cmd == NULL && argv[i][0] != '-')
			cmd = argv[i];
		else {
			fprintf(stderr, "stockledger-admin: unknown argument '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (cmd == NULL || data == NULL ||
	    (strcmp(cmd, "verify") != 0 && strcmp(cmd, "rebuild") != 0 &&
	     strcmp(cmd, "checksum") != 0 && strcmp(cmd, "dump") != 0)) {
		usage(stderr);
		return 2;
	}
	char err[1024];
	ledger *l = NULL;
	if (ledger_open(data, &l, err, sizeof(err)) != SL_OK) {
		fprintf(stderr, "stockledger-admin: %s\n", err);
		return 1;
	}
	int status = 0;
	projector_report r;
	char hex[2 * SL_HASH_BYTES + 1];
	if (strcmp(cmd, "dump") == 0) {
		status = dump(l);
	} else if (strcmp(cmd, "checksum") == 0) {
		unsigned char sum[SL_HASH_BYTES];
		uint64_t n;
		if (ledger_views_checksum(l, sum, &n) != SL_OK) {
			fprintf(stderr, "stockledger-admin: cannot read views: %s\n",
			        store_last_error(ledger_store(l)));
			status = 1;
		} else {
			sl_hex(sum, sizeof(sum), hex);
			printf("views %llu\nchecksum %s\n", (unsigned long long)n, hex);
		}
	} else if (strcmp(cmd, "rebuild") == 0) {
		printf("rebuilding views of '%s' from %llu events\n", data,
		       (unsigned long long)ledger_head(l, NULL));
		fflush(stdout);
		if (projector_rebuild(l, progress_cb, NULL, &r) != SL_OK) {
			fprintf(stderr, "stockledger-admin: rebuild failed: %s\n", r.message);
			status = 1;
		} else {
			sl_hex(r.checksum, sizeof(r.checksum), hex);
			printf("events %llu\nviews %llu\nchecksum %s\n",
			       (unsigned long long)r.events, (unsigned long long)r.views, hex);
		}
	} else {
		sl_err rc = projector_verify(l, progress_cb, NULL, &r);
		if (rc != SL_OK) {
			printf("verify: FAILED at seq %llu: %s\n", (unsigned long long)r.bad_seq,
			       r.message[0] != '\0' ? r.message : sl_strerror(rc));
			status = 1;
		} else {
			sl_hex(r.checksum, sizeof(r.checksum), hex);
			printf("verify: ok, %llu events, chain intact, %llu views equal the fold\n"
			       "checksum %s\n",
			       (unsigned long long)r.events, (unsigned long long)r.views, hex);
		}
	}
	ledger_close(l);
	return status;
}

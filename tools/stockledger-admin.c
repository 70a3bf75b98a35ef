/*
 * stockledger-admin: offline operations on a stopped service's data directory.
 *   verify    check the hash chain and that the stored views equal a fresh fold;
 *             with --expect SEQ:HASH, also that the log still extends a saved head
 *   rebuild   drop every view and refold the log; prints the checksum of the views;
 *             with --to-seq N, the views as they were at seq N (audit reference)
 *   checksum  print the checksum of the stored views
 *   dump      print every event as one JSON object per line
 *   flip-byte a tamper drill: flip one byte of stored event --seq N (at --offset K of its
 *             record, default 40: inside the event, past its 32-byte chain hash), so that
 *             verify can be shown to catch it; never use it on data you keep
 * Exit status: 0 fine, 1 the check failed or the data could not be read, 2 usage.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "base/banned.h"
#include "base/sl_util.h"
#include "ledger/ledger.h"
#include "projector/rebuild.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: stockledger-admin (verify | rebuild | checksum | dump) --data DIR\n"
	           "       stockledger-admin verify --data DIR [--expect SEQ:HASH]\n"
	           "       stockledger-admin rebuild --data DIR [--to-seq N]\n"
	           "       stockledger-admin flip-byte --data DIR --seq N [--offset K]\n");
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
	uint64_t bad = 0, unprintable = 0;
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
			    o, json_pack("{s:s, s:I, s:i, s:i, s:i, s:i, s:I, s:I, s:I, s:I, s:b}",
			                 "orderLineId", ev.order_line_id, "orderSeq",
			                 (json_int_t)ev.order_seq, "orderStatusBefore",
			                 (int)ev.order_status_before, "orderStatus",
			                 (int)ev.order_status, "trigger", (int)ev.trigger,
			                 "triggerBefore", (int)ev.trigger_before, "lineHeldBefore",
			                 (json_int_t)ev.line_before.held, "lineHeldAfter",
			                 (json_int_t)ev.line_after.held, "lineQuantityAfter",
			                 (json_int_t)ev.line_after.quantity, "lineRestockedAfter",
			                 (json_int_t)ev.line_after.restocked, "lineUntrackedAfter",
			                 ev.line_after.untracked ? 1 : 0));
		char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
		if (s != NULL) {
			puts(s);
		} else {
			/* (a log written before strings were checked as UTF-8) */
			fprintf(stderr,
			        "stockledger-admin: event %llu cannot be written as JSON: one of "
			        "its strings is not UTF-8\n",
			        (unsigned long long)ev.seq);
			unprintable++;
		}
		free(s);
		json_decref(o);
	}
	ledger_iter_free(it);
	if (rc != SL_ERR_NOT_FOUND) {
		fprintf(stderr, "stockledger-admin: dump stopped at event %llu: %s\n",
		        (unsigned long long)bad, sl_strerror(rc));
		return 1;
	}
	return unprintable > 0 ? 1 : 0;
}

/* flip_byte inverts one byte of the stored record of event seq (a tamper drill). */
static int flip_byte(ledger *l, uint64_t seq, size_t offset)
{
	uint8_t k[8];
	sl_buf v;
	sl_buf_init(&v);
	sl_be64_put(k, seq);
	store *st = ledger_store(l);
	if (store_get(st, STORE_CF_EVENTS, k, sizeof(k), &v) != SL_OK || offset >= v.len) {
		fprintf(stderr, "stockledger-admin: no event %llu with a byte at offset %zu\n",
		        (unsigned long long)seq, offset);
		sl_buf_fini(&v);
		return 1;
	}
	v.data[offset] ^= 0xff;
	store_batch *b = store_batch_alloc(st);
	sl_err rc = b != NULL ? SL_OK : SL_ERR_NOMEM;
	if (rc == SL_OK) {
		store_batch_put(b, STORE_CF_EVENTS, k, sizeof(k), v.data, v.len);
		rc = store_write(st, b, true);
	}
	store_batch_free(b);
	sl_buf_fini(&v);
	if (rc != SL_OK) {
		fprintf(stderr, "stockledger-admin: cannot write: %s\n", store_last_error(st));
		return 1;
	}
	printf("flipped byte %zu of event %llu\n", offset, (unsigned long long)seq);
	return 0;
}

/* admin_u64 parses a positive decimal seq. */
static sl_err admin_u64(const char *text, uint64_t *out)
{
	int64_t v;
	if (sl_parse_i64(text, &v) != SL_OK || v <= 0)
		return SL_ERR_INVALID_ARGUMENT;
	*out = (uint64_t)v;
	return SL_OK;
}

/* admin_expect_parse reads SEQ:HASH (the output of `stockctl head`). */
static sl_err admin_expect_parse(const char *text, uint64_t *seq, unsigned char *hash)
{
	char buf[64];
	const char *colon = strchr(text, ':');
	if (colon == NULL || (size_t)(colon - text) >= sizeof(buf))
		return SL_ERR_INVALID_ARGUMENT;
	memcpy(buf, text, (size_t)(colon - text));
	buf[colon - text] = '\0';
	/* seq 0 is the head of an empty log (`stockctl head` before the first event) */
	bool is_empty_head = strcmp(buf, "0") == 0;
	if (is_empty_head)
		*seq = 0;
	if ((!is_empty_head && admin_u64(buf, seq) != SL_OK) ||
	    sl_hex_parse(colon + 1, hash, SL_HASH_BYTES) != SL_OK)
		return SL_ERR_INVALID_ARGUMENT;
	return SL_OK;
}

/* admin_expect_check: the chain is intact (verify ran); event seq must carry the saved hash,
 * else history was rewritten at or before it (a consistent rewrite keeps the chain whole). */
static sl_err admin_expect_check(ledger *l, uint64_t seq, const unsigned char *hash,
                                 projector_report *r)
{
	sl_event ev;
	sl_err rc = SL_OK;
	if (seq == 0)
		memset(ev.hash, 0, SL_HASH_BYTES); /* the empty log's head: every log extends it */
	else
		rc = ledger_event_get(l, seq, &ev);
	if (rc == SL_ERR_NOT_FOUND) {
		r->bad_seq = seq;
		snprintf(
		    r->message, sizeof(r->message),
		    "the log ends at seq %llu, before the saved head %llu: events were removed",
		    (unsigned long long)ledger_head(l, NULL), (unsigned long long)seq);
		return SL_ERR_CORRUPT;
	}
	if (rc != SL_OK) {
		r->bad_seq = seq;
		snprintf(r->message, sizeof(r->message), "cannot read event %llu: %s",
		         (unsigned long long)seq, sl_strerror(rc));
		return rc;
	}
	if (memcmp(ev.hash, hash, SL_HASH_BYTES) != 0) {
		r->bad_seq = seq;
		snprintf(r->message, sizeof(r->message),
		         "event %llu carries another chain hash than the saved head: the log was "
		         "rewritten at or before it",
		         (unsigned long long)seq);
		return SL_ERR_CORRUPT;
	}
	char hex[2 * SL_HASH_BYTES + 1];
	sl_hex(hash, SL_HASH_BYTES, hex);
	printf("verify: the log extends the saved head %llu:%s\n", (unsigned long long)seq, hex);
	return SL_OK;
}

/* admin_ledger_exists tells whether dir holds a ledger (a RocksDB directory, which has a
 * CURRENT file), else says why in why. The tools work on an existing ledger only: opening a
 * mistyped path would create an empty one there, which verify would call "ok". */
static bool admin_ledger_exists(const char *dir, char *why, size_t why_size)
{
	struct stat st;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(why, why_size, "no ledger at '%s': no such directory", dir);
		return false;
	}
	char current[4200];
	snprintf(current, sizeof(current), "%s/CURRENT", dir);
	if (stat(current, &st) != 0) {
		snprintf(
		    why, why_size,
		    "no ledger at '%s': the directory holds no RocksDB store (no CURRENT file)",
		    dir);
		return false;
	}
	return true;
}

int main(int argc, char **argv)
{
	const char *cmd = NULL, *data = NULL, *expect = NULL, *to_seq_text = NULL;
	const char *seq_text = NULL, *offset_text = "40";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
			data = argv[++i];
		else if (strcmp(argv[i], "--expect") == 0 && i + 1 < argc)
			expect = argv[++i];
		else if (strcmp(argv[i], "--to-seq") == 0 && i + 1 < argc)
			to_seq_text = argv[++i];
		else if (strcmp(argv[i], "--seq") == 0 && i + 1 < argc)
			seq_text = argv[++i];
		else if (strcmp(argv[i], "--offset") == 0 && i + 1 < argc)
			offset_text = argv[++i];
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
	     strcmp(cmd, "checksum") != 0 && strcmp(cmd, "dump") != 0 &&
	     strcmp(cmd, "flip-byte") != 0)) {
		usage(stderr);
		return 2;
	}
	uint64_t expect_seq = 0, to_seq = 0, flip_seq = 0;
	int64_t flip_offset = 0;
	if (strcmp(cmd, "flip-byte") == 0 &&
	    (seq_text == NULL || admin_u64(seq_text, &flip_seq) != SL_OK ||
	     sl_parse_i64(offset_text, &flip_offset) != SL_OK || flip_offset < 0)) {
		fprintf(stderr,
		        "stockledger-admin: flip-byte needs --seq N (and --offset K >= 0)\n");
		return 2;
	}
	unsigned char expect_hash[SL_HASH_BYTES];
	if ((expect != NULL && (strcmp(cmd, "verify") != 0 ||
	                        admin_expect_parse(expect, &expect_seq, expect_hash) != SL_OK)) ||
	    (to_seq_text != NULL &&
	     (strcmp(cmd, "rebuild") != 0 || admin_u64(to_seq_text, &to_seq) != SL_OK))) {
		fprintf(stderr,
		        "stockledger-admin: --expect takes SEQ:HASH (verify) and --to-seq a "
		        "positive seq (rebuild)\n");
		usage(stderr);
		return 2;
	}
	char err[1024];
	if (!admin_ledger_exists(data, err, sizeof(err))) {
		fprintf(stderr, "stockledger-admin: %s\n", err);
		return 1;
	}
	ledger *l = NULL;
	/* a rebuild is all this process does: the store may take its bulk memtables */
	sl_err orc = strcmp(cmd, "rebuild") == 0 ? ledger_open_bulk(data, &l, err, sizeof(err))
	                                         : ledger_open_tool(data, &l, err, sizeof(err));
	if (orc != SL_OK) {
		fprintf(stderr, "stockledger-admin: %s\n", err);
		return 1;
	}
	int status = 0;
	projector_report r;
	char hex[2 * SL_HASH_BYTES + 1];
	uint64_t views_seq = 0, head = ledger_head(l, NULL);
	if (ledger_views_seq(l, &views_seq) != SL_OK) {
		fprintf(stderr, "stockledger-admin: cannot read how far the views go: %s\n",
		        store_last_error(ledger_store(l)));
		ledger_close(l);
		return 1;
	}
	if (strcmp(cmd, "dump") == 0) {
		status = dump(l);
	} else if (strcmp(cmd, "flip-byte") == 0) {
		status = flip_byte(l, flip_seq, (size_t)flip_offset);
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
			if (views_seq < head)
				fprintf(
				    stderr,
				    "stockledger-admin: these views are as of seq %llu (rebuild "
				    "--to-seq); the log goes on to seq %llu\n",
				    (unsigned long long)views_seq, (unsigned long long)head);
		}
	} else if (strcmp(cmd, "rebuild") == 0) {
		printf("rebuilding views of '%s' from %llu events\n", data,
		       (unsigned long long)ledger_head(l, NULL));
		fflush(stdout);
		if (projector_rebuild_to(l, to_seq, progress_cb, NULL, &r) != SL_OK) {
			fprintf(stderr, "stockledger-admin: rebuild failed: %s\n", r.message);
			status = 1;
		} else {
			sl_hex(r.checksum, sizeof(r.checksum), hex);
			printf("events %llu\nviews %llu\nchecksum %s\n",
			       (unsigned long long)r.events, (unsigned long long)r.views, hex);
			if (to_seq > 0 && to_seq < head)
				fprintf(
				    stderr,
				    "stockledger-admin: the views are now as of seq %llu, an audit "
				    "reference: stockledgerd serves reads only from '%s' (every "
				    "write is refused FAILED_PRECONDITION) until a rebuild of the "
				    "whole log (make references on a copy of the directory)\n",
				    (unsigned long long)to_seq, data);
		}
	} else if (views_seq < head) {
		printf(
		    "verify: FAILED at seq %llu: the views are as of seq %llu (rebuild --to-seq), "
		    "the log goes on to seq %llu: rebuild the whole log to verify them\n",
		    (unsigned long long)views_seq + 1, (unsigned long long)views_seq,
		    (unsigned long long)head);
		status = 1;
	} else {
		sl_err rc = projector_verify(l, progress_cb, NULL, &r);
		if (rc == SL_OK && expect != NULL)
			rc = admin_expect_check(l, expect_seq, expect_hash, &r);
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

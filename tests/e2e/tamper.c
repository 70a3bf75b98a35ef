/*
 * tamper.c: sl-tamper, a test helper of tests/e2e/tamper_test.sh that changes one stored
 * event behind the ledger's back, as an attacker with write access to the RocksDB directory
 * would: it opens the store (the ledger's own seam, ledger/store.h), reads the raw value of
 * event SEQ (hash[32] || Event bytes, docs/storage.md) and writes it back changed:
 *
 *   sl-tamper --data DIR --seq N --flip OFFSET        flips the low bit of byte OFFSET
 *   sl-tamper --data DIR --seq N --replace OLD NEW    replaces the first OLD by NEW (same
 *                                                      length: the event still decodes)
 *   sl-tamper --data DIR --view PRODUCT --replace OLD NEW
 *                                      the same on the stored view row of PRODUCT (default
 *                                      variant, location "default"), not on the log
 *   sl-tamper --data DIR --index PRODUCT --item-seq N --point-to M
 *                                      points PRODUCT's history-index row of its event N
 *                                      (item_events) at event M of the log
 *
 * It never touches the chain hashes of other events, so a change to an event can only be
 * found by checking the chain, and a change to a view only by refolding the log. Exit
 * status: 0 changed, 1 could not, 2 usage. Run on a stopped daemon.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/banned.h"
#include "base/sl_util.h"
#include "ledger/ledger.h"

static int usage(void)
{
	fprintf(stderr,
	        "usage: sl-tamper --data DIR --seq N (--flip OFFSET | --replace OLD NEW)\n");
	return 2;
}

static void default_key(sl_item_key *k, const char *product)
{
	memset(k, 0, sizeof(*k));
	sl_strlcpy(k->product_id, product, sizeof(k->product_id));
	sl_strlcpy(k->variant_id, SL_DEFAULT_VARIANT, sizeof(k->variant_id));
	sl_strlcpy(k->location_id, SL_DEFAULT_LOCATION, sizeof(k->location_id));
}

/* index_point rewrites the item_events row (the item's key, a 0 byte, its item_seq) of
 * product's event item_seq to name event seq (docs/storage.md). */
static int index_point(const char *dir, const char *product, uint64_t item_seq, uint64_t seq)
{
	char err[1024];
	store *st = NULL;
	if (store_open(dir, &st, err, sizeof(err)) != SL_OK) {
		fprintf(stderr, "sl-tamper: %s\n", err);
		return 1;
	}
	sl_item_key k;
	default_key(&k, product);
	uint8_t key[LEDGER_KEY_BYTES + 1 + 8], val[8];
	size_t klen = ledger_key_encode(&k, key);
	key[klen++] = '\0';
	sl_be64_put(key + klen, item_seq);
	klen += 8;
	sl_be64_put(val, seq);
	int status = 1;
	sl_buf old;
	sl_buf_init(&old);
	store_batch *b = NULL;
	if (store_get(st, STORE_CF_ITEM_EVENTS, key, klen, &old) != SL_OK) {
		fprintf(stderr, "sl-tamper: no index row of event %llu of '%s'\n",
		        (unsigned long long)item_seq, product);
	} else if ((b = store_batch_alloc(st)) != NULL) {
		store_batch_put(b, STORE_CF_ITEM_EVENTS, key, klen, val, sizeof(val));
		if (store_write(st, b, true) == SL_OK) {
			printf("sl-tamper: the index row of event %llu of '%s' names event %llu\n",
			       (unsigned long long)item_seq, product, (unsigned long long)seq);
			status = 0;
		}
	}
	store_batch_free(b);
	sl_buf_fini(&old);
	store_close(st);
	return status;
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *old_text = NULL, *new_text = NULL, *view = NULL, *index = NULL;
	int64_t seq = 0, offset = -1, item_seq = 0, point_to = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (strcmp(argv[i], "--seq") == 0 && i + 1 < argc) {
			if (sl_parse_i64(argv[++i], &seq) != SL_OK || seq < 1)
				return usage();
		} else if (strcmp(argv[i], "--view") == 0 && i + 1 < argc) {
			view = argv[++i];
		} else if (strcmp(argv[i], "--index") == 0 && i + 1 < argc) {
			index = argv[++i];
		} else if (strcmp(argv[i], "--item-seq") == 0 && i + 1 < argc) {
			if (sl_parse_i64(argv[++i], &item_seq) != SL_OK || item_seq < 1)
				return usage();
		} else if (strcmp(argv[i], "--point-to") == 0 && i + 1 < argc) {
			if (sl_parse_i64(argv[++i], &point_to) != SL_OK || point_to < 1)
				return usage();
		} else if (strcmp(argv[i], "--flip") == 0 && i + 1 < argc) {
			if (sl_parse_i64(argv[++i], &offset) != SL_OK || offset < 0)
				return usage();
		} else if (strcmp(argv[i], "--replace") == 0 && i + 2 < argc) {
			old_text = argv[++i];
			new_text = argv[++i];
		} else
			return usage();
	}
	if (index != NULL)
		return dir != NULL && item_seq > 0 && point_to > 0
		           ? index_point(dir, index, (uint64_t)item_seq, (uint64_t)point_to)
		           : usage();
	if (dir == NULL || (seq == 0) == (view == NULL) || (offset < 0) == (old_text == NULL) ||
	    (old_text != NULL && (strlen(old_text) != strlen(new_text) || old_text[0] == '\0')))
		return usage();

	char err[1024];
	store *st = NULL;
	if (store_open(dir, &st, err, sizeof(err)) != SL_OK) {
		fprintf(stderr, "sl-tamper: %s\n", err);
		return 1;
	}
	int status = 1;
	uint8_t key[LEDGER_KEY_BYTES];
	size_t klen = 8;
	store_cf cf = STORE_CF_EVENTS;
	char what[128];
	sl_buf val;
	sl_buf_init(&val);
	if (view != NULL) {
		sl_item_key k;
		default_key(&k, view);
		klen = ledger_key_encode(&k, key);
		cf = STORE_CF_VIEWS;
		snprintf(what, sizeof(what), "the view of '%s'", view);
	} else {
		sl_be64_put(key, (uint64_t)seq);
		snprintf(what, sizeof(what), "event %lld", (long long)seq);
	}
	store_batch *b = NULL;
	if (store_get(st, cf, key, klen, &val) != SL_OK) {
		fprintf(stderr, "sl-tamper: no %s in '%s'\n", what, dir);
		goto done;
	}
	if (offset >= 0) {
		if ((size_t)offset >= val.len) {
			fprintf(stderr, "sl-tamper: %s has %zu bytes, no byte %lld\n", what,
			        val.len, (long long)offset);
			goto done;
		}
		val.data[offset] ^= 1;
		printf("sl-tamper: flipped byte %lld of %s\n", (long long)offset, what);
	} else {
		size_t n = strlen(old_text);
		size_t at = 0;
		while (at + n <= val.len && memcmp(val.data + at, old_text, n) != 0)
			at++;
		if (at + n > val.len) {
			fprintf(stderr, "sl-tamper: '%s' is not in %s\n", old_text, what);
			goto done;
		}
		memcpy(val.data + at, new_text, n);
		printf("sl-tamper: replaced '%s' by '%s' at byte %zu of %s\n", old_text, new_text,
		       at, what);
	}
	b = store_batch_alloc(st);
	if (b == NULL)
		goto done;
	store_batch_put(b, cf, key, klen, val.data, val.len);
	if (store_write(st, b, true) != SL_OK) {
		fprintf(stderr, "sl-tamper: cannot write: %s\n", store_last_error(st));
		goto done;
	}
	status = 0;
done:
	store_batch_free(b);
	sl_buf_fini(&val);
	store_close(st);
	return status;
}

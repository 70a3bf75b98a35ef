/*
 * tamper.c: sl-tamper, a test helper of tests/e2e/tamper_test.sh that changes one stored
 * event behind the ledger's back, as an attacker with write access to the RocksDB directory
 * would: it opens the store (the ledger's own seam, ledger/store.h), reads the raw value of
 * event SEQ (hash[32] || Event bytes, docs/storage.md) and writes it back changed:
 *
 *   sl-tamper --data DIR --seq N --flip OFFSET        flips the low bit of byte OFFSET
 *   sl-tamper --data DIR --seq N --replace OLD NEW    replaces the first OLD by NEW (same
 *                                                      length: the event still decodes)
 *
 * It never touches the chain hashes of other events, so the change can only be found by
 * checking the chain. Exit status: 0 changed, 1 could not, 2 usage. Run on a stopped daemon.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/banned.h"
#include "base/sl_util.h"
#include "ledger/store.h"

static int usage(void)
{
	fprintf(stderr,
	        "usage: sl-tamper --data DIR --seq N (--flip OFFSET | --replace OLD NEW)\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *old_text = NULL, *new_text = NULL;
	int64_t seq = 0, offset = -1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (strcmp(argv[i], "--seq") == 0 && i + 1 < argc) {
			if (sl_parse_i64(argv[++i], &seq) != SL_OK || seq < 1)
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
	if (dir == NULL || seq == 0 || (offset < 0) == (old_text == NULL) ||
	    (old_text != NULL && (strlen(old_text) != strlen(new_text) || old_text[0] == '\0')))
		return usage();

	char err[1024];
	store *st = NULL;
	if (store_open(dir, &st, err, sizeof(err)) != SL_OK) {
		fprintf(stderr, "sl-tamper: %s\n", err);
		return 1;
	}
	int status = 1;
	uint8_t key[8];
	sl_buf val;
	sl_buf_init(&val);
	sl_be64_put(key, (uint64_t)seq);
	store_batch *b = NULL;
	if (store_get(st, STORE_CF_EVENTS, key, sizeof(key), &val) != SL_OK) {
		fprintf(stderr, "sl-tamper: no event %lld in '%s'\n", (long long)seq, dir);
		goto done;
	}
	if (offset >= 0) {
		if ((size_t)offset >= val.len) {
			fprintf(stderr, "sl-tamper: event %lld has %zu bytes, no byte %lld\n",
			        (long long)seq, val.len, (long long)offset);
			goto done;
		}
		val.data[offset] ^= 1;
		printf("sl-tamper: flipped byte %lld of event %lld\n", (long long)offset,
		       (long long)seq);
	} else {
		size_t n = strlen(old_text);
		size_t at = 0;
		while (at + n <= val.len && memcmp(val.data + at, old_text, n) != 0)
			at++;
		if (at + n > val.len) {
			fprintf(stderr, "sl-tamper: '%s' is not in event %lld\n", old_text,
			        (long long)seq);
			goto done;
		}
		memcpy(val.data + at, new_text, n);
		printf("sl-tamper: replaced '%s' by '%s' at byte %zu of event %lld\n", old_text,
		       new_text, at, (long long)seq);
	}
	b = store_batch_alloc(st);
	if (b == NULL)
		goto done;
	store_batch_put(b, STORE_CF_EVENTS, key, sizeof(key), val.data, val.len);
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

/*
 * sl_testing.h: what the module tests share: temporary directories for real RocksDB stores,
 * item keys, and damage done to a store through its seam, the way a bad disk would do it.
 *
 * Errors are returned, not asserted, so that the helpers do not depend on cmocka; callers
 * assert on them.
 */
#ifndef SL_TESTING_H
#define SL_TESTING_H

#include <stddef.h>

#include "ledger/store.h"
#include "ledger/types.h"

/* sl_test_dir_make creates a fresh directory /tmp/sl-<name>-XXXXXX and writes its path into
 * dir (dir_size bytes). Returns 0, or -1 with errno set. */
int sl_test_dir_make(char *dir, size_t dir_size, const char *name);

/* sl_test_dir_remove removes dir and everything under it. Returns 0, or -1. */
int sl_test_dir_remove(const char *dir);

/* sl_test_bytes_find: the first occurrence of the string what in buf[0..len), or NULL (to
 * patch an encoded message byte by byte where a client library could not write it). */
uint8_t *sl_test_bytes_find(uint8_t *buf, size_t len, const char *what);

/* sl_test_key_set makes k the key of product's default variant at location. */
void sl_test_key_set(sl_item_key *k, const char *product, const char *location);

/* sl_test_store_put writes key = val (vlen bytes) in cf of st, synced; with val NULL it
 * deletes key. */
sl_err sl_test_store_put(store *st, store_cf cf, const void *key, size_t klen, const void *val,
                         size_t vlen);

/* sl_test_store_flip flips the lowest bit of byte at of the stored value of key.
 * SL_ERR_NOT_FOUND if there is no such value, SL_ERR_INVALID_ARGUMENT if it is too short. */
sl_err sl_test_store_flip(store *st, store_cf cf, const void *key, size_t klen, size_t at);

#endif

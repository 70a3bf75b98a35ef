/*
 * sl_testing.h: what the module tests share: temporary directories for real RocksDB stores,
 * item keys, damage done to a store through its seam, the way a bad disk would do it, and
 * the processes a test starts (a daemon, a helper, nats-server) and must never wait on for
 * ever.
 *
 * Errors are returned, not asserted, so that the helpers do not depend on cmocka; callers
 * assert on them.
 */
#ifndef SL_TESTING_H
#define SL_TESTING_H

#include <stddef.h>
#include <sys/types.h>

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

/* sl_test_sleep_ms sleeps ms milliseconds. */
void sl_test_sleep_ms(int ms);

/* sl_test_helper_path writes into out (size bytes) the path of the executable name beside
 * the running test's own. Returns 0, or -1 if it does not fit or /proc/self/exe is
 * unreadable. */
int sl_test_helper_path(const char *name, char *out, size_t size);

/* sl_test_spawn starts argv[0] (a path) with argv, its output appended to log (NULL: the
 * test's own), and no other descriptor of the test open in it (a child holding the test's
 * sockets would keep them open past their close). Returns its pid, or -1. */
pid_t sl_test_spawn(char *const argv[], const char *log);

/* sl_test_stop sends sig to pid and returns its exit status (128 + the signal if one ended
 * it), -1 if it cannot be waited for. */
int sl_test_stop(pid_t pid, int sig);

/* sl_test_wait_exit waits up to timeout_ms for pid to exit and returns its status as
 * sl_test_stop does; a process still running then is killed and -1 returned, so that a
 * test fails instead of hanging. */
int sl_test_wait_exit(pid_t pid, int timeout_ms);

#endif

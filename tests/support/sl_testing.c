/*
 * sl_testing.c: helpers shared by the module tests (see sl_testing.h).
 */
#define _XOPEN_SOURCE 700
#include "sl_testing.h"

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/banned.h"
#include "base/sl_util.h"

int sl_test_dir_make(char *dir, size_t dir_size, const char *name)
{
	if ((size_t)snprintf(dir, dir_size, "/tmp/sl-%s-XXXXXX", name) >= dir_size)
		return -1;
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static int remove_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int sl_test_dir_remove(const char *dir)
{
	return nftw(dir, remove_cb, 16, FTW_DEPTH | FTW_PHYS);
}

void sl_test_key_set(sl_item_key *k, const char *product, const char *location)
{
	memset(k, 0, sizeof(*k));
	sl_strlcpy(k->product_id, product, sizeof(k->product_id));
	sl_strlcpy(k->variant_id, SL_DEFAULT_VARIANT, sizeof(k->variant_id));
	sl_strlcpy(k->location_id, location, sizeof(k->location_id));
}

sl_err sl_test_store_put(store *st, store_cf cf, const void *key, size_t klen, const void *val,
                         size_t vlen)
{
	store_batch *b = store_batch_alloc(st);
	if (b == NULL)
		return SL_ERR_NOMEM;
	if (val != NULL)
		store_batch_put(b, cf, key, klen, val, vlen);
	else
		store_batch_delete(b, cf, key, klen);
	sl_err rc = store_write(st, b, true);
	store_batch_free(b);
	return rc;
}

sl_err sl_test_store_flip(store *st, store_cf cf, const void *key, size_t klen, size_t at)
{
	sl_buf v;
	sl_buf_init(&v);
	sl_err rc = store_get(st, cf, key, klen, &v);
	if (rc == SL_OK && at >= v.len)
		rc = SL_ERR_INVALID_ARGUMENT;
	if (rc == SL_OK) {
		v.data[at] ^= 0x01;
		rc = sl_test_store_put(st, cf, key, klen, v.data, v.len);
	}
	sl_buf_fini(&v);
	return rc;
}

uint8_t *sl_test_bytes_find(uint8_t *buf, size_t len, const char *what)
{
	size_t n = strlen(what);
	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(buf + i, what, n) == 0)
			return buf + i;
	return NULL;
}

void sl_test_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

int sl_test_helper_path(const char *name, char *out, size_t size)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return -1;
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	if (slash == NULL)
		return -1;
	*slash = '\0';
	return (size_t)snprintf(out, size, "%s/%s", self, name) < size ? 0 : -1;
}

pid_t sl_test_spawn(char *const argv[], const char *log)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	if (log != NULL) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
	}
	for (int f = 3; f < 1024; f++)
		close(f);
	execv(argv[0], argv);
	_exit(127);
}

static int exit_status(int status)
{
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int sl_test_stop(pid_t pid, int sig)
{
	int status = 0;
	kill(pid, sig);
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return exit_status(status);
}

int sl_test_wait_exit(pid_t pid, int timeout_ms)
{
	int status = 0;
	for (int waited = 0; waited <= timeout_ms; waited += 25) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return exit_status(status);
		sl_test_sleep_ms(25);
	}
	sl_test_stop(pid, SIGKILL);
	return -1;
}

/* plprobe.c: the shim's own check (powerloss_test.sh runs it first). In DIR it writes:
 *   a  100 bytes, fdatasync, 50 more bytes not synced
 *   b  created, written and fdatasync'ed, but DIR never fsync'ed after: its name is not durable
 *   c  created, written, fsync'ed, then DIR fsync'ed: durable, 10 bytes
 *   d  present before the run (durable), unlinked without a DIR fsync: comes back
 *   e  tmp written + synced, renamed to e without a DIR fsync: neither name durable
 * then kills itself with SIGKILL (nothing after is durable). Expected after plcut.py:
 * a = 100 bytes, no b, c = 10 bytes, d = its old content, no e, no e.tmp. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int put(const char *dir, const char *name, char ch, int n, int flags)
{
	char p[4096], buf[256];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | flags, 0644);
	memset(buf, ch, sizeof(buf));
	if (fd < 0 || write(fd, buf, (size_t)n) != n)
		return -1;
	return fd;
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	const char *d = argv[1];
	char p[4096], q[4096];
	int dfd = open(d, O_RDONLY);
	int a = put(d, "a", 'A', 100, O_TRUNC);
	fdatasync(a);
	if (write(a, "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB", 50) != 50)
		return 1;
	int c = put(d, "c", 'C', 10, 0);
	fsync(c);
	fsync(dfd);
	int b = put(d, "b", 'B', 10, 0);
	fdatasync(b);
	snprintf(p, sizeof(p), "%s/d", d);
	unlink(p);
	int e = put(d, "e.tmp", 'E', 10, 0);
	fdatasync(e);
	snprintf(p, sizeof(p), "%s/e.tmp", d);
	snprintf(q, sizeof(q), "%s/e", d);
	rename(p, q);
	kill(getpid(), SIGKILL);
	return 1;
}

/* plshim.c: an LD_PRELOAD shim that journals what a real file system would have made
 * durable in one directory, so that a power loss can be simulated exactly (plcut.py).
 *
 * Environment:
 *   PL_DIR      the directory watched (the RocksDB data directory); absolute
 *   PL_JOURNAL  the journal file (appended, one record a line, written with write(2) before
 *               the intercepted call returns, so it survives a SIGKILL of the process)
 *   PL_GRAVE    a directory on the same file system: a file unlinked or replaced by a rename
 *               in PL_DIR is first hard-linked here as <ino>, so that a crash that "undoes" the
 *               unlink (the directory was not synced after it) can bring its content back
 *   PL_KILL_AT  optional N: SIGKILL the process just before its Nth sync call (fsync or
 *               fdatasync of a watched file or of PL_DIR) -- a deterministic crash point
 *
 * Records:  I name ino size    a file present at start (durable as it is)
 *           O name ino size    a watched name opened (created if new), its size then
 *           S ino len          fsync/fdatasync of a file returned; len = its size before
 *           B id / E id        fsync of the directory began / returned
 *           R old new ino      rename done     U name ino  unlink done
 *           L name ino         link done       T ino len   ftruncate done
 *           F ino mode off len fallocate done  M ino       a shared writable mmap (unmodelled)
 * The model (plcut.py): a file's content is durable up to the size it had when its last
 * fsync/fdatasync started; a directory entry (creation, rename, unlink, link) only once a
 * fsync of the directory that started after it returned. */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#define MAXFD 65536
static char g_dir[PATH_MAX];
static char g_grave[PATH_MAX];
static int g_jfd = -1;
static long g_kill_at = 0;
static atomic_long g_syncs;
static atomic_long g_dirid;
static unsigned char g_kind[MAXFD]; /* 0 none, 1 file, 2 the dir */
static ino_t g_ino[MAXFD];

#define REAL(name)                                                                                 \
	static __typeof__(name) *real_##name;                                                      \
	if (!real_##name)                                                                          \
	real_##name = dlsym(RTLD_NEXT, #name)

static void jlog(const char *fmt, ...)
{
	if (g_jfd < 0)
		return;
	char buf[PATH_MAX * 2 + 128];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		(void)syscall(SYS_write, g_jfd, buf, (size_t)n);
}

__attribute__((constructor)) static void pl_init(void)
{
	const char *d = getenv("PL_DIR"), *j = getenv("PL_JOURNAL"), *g = getenv("PL_GRAVE");
	if (!d || !j || !g)
		return;
	if (!realpath(d, g_dir))
		snprintf(g_dir, sizeof(g_dir), "%s", d);
	snprintf(g_grave, sizeof(g_grave), "%s", g);
	const char *k = getenv("PL_KILL_AT");
	g_kill_at = k ? atol(k) : 0;
	g_jfd =
	    (int)syscall(SYS_openat, AT_FDCWD, j, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	DIR *dd = opendir(g_dir);
	if (dd) {
		struct dirent *e;
		while ((e = readdir(dd))) {
			char p[PATH_MAX];
			struct stat st;
			snprintf(p, sizeof(p), "%s/%s", g_dir, e->d_name);
			if (lstat(p, &st) == 0 && S_ISREG(st.st_mode))
				jlog("I %s %lu %lld\n", e->d_name, (unsigned long)st.st_ino,
				     (long long)st.st_size);
		}
		closedir(dd);
	}
}

/* in_dir: is path (relative to dirfd) an entry of g_dir? its base name into base */
static int in_dir(int dirfd, const char *path, char *base)
{
	if (g_jfd < 0 || !path)
		return 0;
	char full[PATH_MAX * 2];
	if (path[0] == '/')
		snprintf(full, sizeof(full), "%s", path);
	else {
		char d[PATH_MAX];
		if (dirfd == AT_FDCWD) {
			if (!getcwd(d, sizeof(d)))
				return 0;
		} else {
			char l[64];
			snprintf(l, sizeof(l), "/proc/self/fd/%d", dirfd);
			ssize_t n = readlink(l, d, sizeof(d) - 1);
			if (n < 0)
				return 0;
			d[n] = 0;
		}
		snprintf(full, sizeof(full), "%s/%s", d, path);
	}
	size_t n = strlen(full);
	while (n > 1 && full[n - 1] == '/')
		full[--n] = 0;
	char *slash = strrchr(full, '/');
	if (!slash)
		return 0;
	snprintf(base, NAME_MAX + 1, "%s", slash + 1);
	*slash = 0;
	char rp[PATH_MAX];
	if (!realpath(full[0] ? full : "/", rp))
		return 0;
	return strcmp(rp, g_dir) == 0;
}

static void note_open(int fd, int dirfd, const char *path)
{
	if (fd < 0 || fd >= MAXFD || g_jfd < 0)
		return;
	g_kind[fd] = 0;
	struct stat st;
	if (fstat(fd, &st) != 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		char rp[PATH_MAX];
		char full[PATH_MAX];
		if (path[0] != '/' && dirfd == AT_FDCWD && getcwd(rp, sizeof(rp))) {
			snprintf(full, sizeof(full), "%s/%s", rp, path);
			path = full;
		}
		if (realpath(path, rp) && strcmp(rp, g_dir) == 0)
			g_kind[fd] = 2;
		return;
	}
	char base[NAME_MAX + 1];
	if (S_ISREG(st.st_mode) && in_dir(dirfd, path, base)) {
		g_kind[fd] = 1;
		g_ino[fd] = st.st_ino;
		jlog("O %s %lu %lld\n", base, (unsigned long)st.st_ino, (long long)st.st_size);
	}
}

/* syscall() already returns -1/errno; keep it simple */
static int xopenat(int dirfd, const char *path, int flags, mode_t mode)
{
	int fd = (int)syscall(SYS_openat, dirfd, path, flags, mode);
	if (fd >= 0)
		note_open(fd, dirfd, path);
	return fd;
}
#define MODE_ARG                                                                                   \
	mode_t mode = 0;                                                                           \
	if (flags & (O_CREAT | __O_TMPFILE)) {                                                     \
		va_list ap;                                                                        \
		va_start(ap, flags);                                                               \
		mode = va_arg(ap, mode_t);                                                         \
		va_end(ap);                                                                        \
	}
int open(const char *path, int flags, ...)
{
	MODE_ARG return xopenat(AT_FDCWD, path, flags, mode);
}
int open64(const char *path, int flags, ...)
{
	MODE_ARG return xopenat(AT_FDCWD, path, flags, mode);
}
int openat(int dfd, const char *path, int flags, ...)
{
	MODE_ARG return xopenat(dfd, path, flags, mode);
}
int openat64(int dfd, const char *path, int flags, ...)
{
	MODE_ARG return xopenat(dfd, path, flags, mode);
}
int __open_2(const char *path, int flags)
{
	return xopenat(AT_FDCWD, path, flags, 0);
}
int __open64_2(const char *path, int flags)
{
	return xopenat(AT_FDCWD, path, flags, 0);
}
int __openat_2(int dfd, const char *path, int flags)
{
	return xopenat(dfd, path, flags, 0);
}
int creat(const char *path, mode_t mode)
{
	return xopenat(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}
int creat64(const char *path, mode_t mode)
{
	return xopenat(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

int close(int fd)
{
	if (fd >= 0 && fd < MAXFD)
		g_kind[fd] = 0;
	return (int)syscall(SYS_close, fd);
}

static void maybe_kill(void)
{
	long n = atomic_fetch_add(&g_syncs, 1) + 1;
	if (g_kill_at > 0 && n == g_kill_at) {
		jlog("K %ld\n", n);
		syscall(SYS_kill, getpid(), SIGKILL);
	}
}

static int do_sync(int fd, int data)
{
	int kind = (fd >= 0 && fd < MAXFD) ? g_kind[fd] : 0;
	long long len = -1;
	long id = 0;
	if (kind)
		maybe_kill();
	if (kind == 1) {
		struct stat st;
		if (fstat(fd, &st) == 0)
			len = st.st_size;
	} else if (kind == 2) {
		id = atomic_fetch_add(&g_dirid, 1) + 1;
		jlog("B %ld\n", id);
	}
	int rc = (int)syscall(data ? SYS_fdatasync : SYS_fsync, fd);
	if (rc == 0 && kind == 1 && len >= 0)
		jlog("S %lu %lld\n", (unsigned long)g_ino[fd], len);
	else if (rc == 0 && kind == 2)
		jlog("E %ld\n", id);
	return rc;
}
int fsync(int fd)
{
	return do_sync(fd, 0);
}
int fdatasync(int fd)
{
	return do_sync(fd, 1);
}

int ftruncate(int fd, off_t len)
{
	int rc = (int)syscall(SYS_ftruncate, fd, len);
	if (rc == 0 && fd >= 0 && fd < MAXFD && g_kind[fd] == 1)
		jlog("T %lu %lld\n", (unsigned long)g_ino[fd], (long long)len);
	return rc;
}
int ftruncate64(int fd, off_t len)
{
	return ftruncate(fd, len);
}

int fallocate(int fd, int mode, off_t off, off_t len)
{
	int rc = (int)syscall(SYS_fallocate, fd, mode, off, len);
	if (rc == 0 && fd >= 0 && fd < MAXFD && g_kind[fd] == 1)
		jlog("F %lu %d %lld %lld\n", (unsigned long)g_ino[fd], mode, (long long)off,
		     (long long)len);
	return rc;
}
int fallocate64(int fd, int mode, off_t off, off_t len)
{
	return fallocate(fd, mode, off, len);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (fd >= 0 && fd < MAXFD && g_kind[fd] == 1 && (prot & PROT_WRITE) && (flags & MAP_SHARED))
		jlog("M %lu\n", (unsigned long)g_ino[fd]);
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}
void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return mmap(addr, len, prot, flags, fd, off);
}

/* bury: hard-link the file about to lose its name to the grave as <ino> */
static void bury(int dfd, const char *path)
{
	struct stat st;
	if (fstatat(dfd, path, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
		return;
	char g[PATH_MAX + 32];
	snprintf(g, sizeof(g), "%s/%lu", g_grave, (unsigned long)st.st_ino);
	(void)syscall(SYS_linkat, dfd, path, AT_FDCWD, g, 0);
}

static ino_t ino_of(int dfd, const char *path)
{
	struct stat st;
	return fstatat(dfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 ? st.st_ino : 0;
}

int renameat2(int od, const char *o, int nd, const char *n, unsigned flags)
{
	char ob[NAME_MAX + 1], nb[NAME_MAX + 1];
	int oi = in_dir(od, o, ob), ni = in_dir(nd, n, nb);
	ino_t ino = 0;
	if (oi || ni) {
		ino = ino_of(od, o);
		if (ni)
			bury(nd, n);
		if (oi)
			bury(od, o);
	}
	int rc = (int)syscall(SYS_renameat2, od, o, nd, n, flags);
	if (rc == 0 && (oi || ni))
		jlog("R %s %s %lu\n", oi ? ob : "-", ni ? nb : "-", (unsigned long)ino);
	return rc;
}
int renameat(int od, const char *o, int nd, const char *n)
{
	return renameat2(od, o, nd, n, 0);
}
int rename(const char *o, const char *n)
{
	return renameat2(AT_FDCWD, o, AT_FDCWD, n, 0);
}

int unlinkat(int dfd, const char *p, int flags)
{
	char b[NAME_MAX + 1];
	int in = !(flags & AT_REMOVEDIR) && in_dir(dfd, p, b);
	ino_t ino = 0;
	if (in) {
		ino = ino_of(dfd, p);
		bury(dfd, p);
	}
	int rc = (int)syscall(SYS_unlinkat, dfd, p, flags);
	if (rc == 0 && in)
		jlog("U %s %lu\n", b, (unsigned long)ino);
	return rc;
}
int unlink(const char *p)
{
	return unlinkat(AT_FDCWD, p, 0);
}

int linkat(int od, const char *o, int nd, const char *n, int flags)
{
	char b[NAME_MAX + 1];
	int in = in_dir(nd, n, b);
	int rc = (int)syscall(SYS_linkat, od, o, nd, n, flags);
	if (rc == 0 && in)
		jlog("L %s %lu\n", b, (unsigned long)ino_of(nd, n));
	return rc;
}
int link(const char *o, const char *n)
{
	return linkat(AT_FDCWD, o, AT_FDCWD, n, 0);
}

int truncate(const char *p, off_t len)
{
	char b[NAME_MAX + 1];
	int in = in_dir(AT_FDCWD, p, b);
	ino_t ino = in ? ino_of(AT_FDCWD, p) : 0;
	int rc = (int)syscall(SYS_truncate, p, len);
	if (rc == 0 && in)
		jlog("T %lu %lld\n", (unsigned long)ino, (long long)len);
	return rc;
}

/*
 * sl_util.c: implementation of the shared helpers. The only file of base/ that includes
 * OpenSSL (the hash seam). Time is read here and nowhere else in the service, so a replay
 * never depends on a clock: the command side reads it once and writes it into events.
 */
#define _POSIX_C_SOURCE 200809L
#include "sl_util.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "banned.h"
#include "sl_limits.h"

size_t sl_strlcpy(char *dst, const char *src, size_t dst_size)
{
	size_t len = strlen(src);
	SL_ASSERT(dst_size > 0);
	size_t n = len < dst_size - 1 ? len : dst_size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return len;
}

sl_err sl_parse_i64(const char *s, int64_t *out)
{
	char *end = NULL;
	/* strtoll skips leading white space; a number given by a user must not. */
	if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
		return SL_ERR_INVALID_ARGUMENT;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s)
		return SL_ERR_INVALID_ARGUMENT;
	*out = (int64_t)v;
	return SL_OK;
}

bool sl_id_is_valid(const char *s, size_t len, size_t max)
{
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f || c == '/' || c == '@' || c == '=')
			return false;
	}
	return true;
}

int64_t sl_time_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sl_deadline_after_ms(struct timespec *out, int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	*out = ts;
}

char *sl_time_format(int64_t t_ms, char *buf, size_t buf_size)
{
	int64_t secs = t_ms >= 0 ? t_ms / 1000 : (t_ms - 999) / 1000;
	int ms = (int)(t_ms - secs * 1000);
	time_t t = (time_t)secs;
	struct tm tm;
	if (gmtime_r(&t, &tm) == NULL) {
		snprintf(buf, buf_size, "invalid-time");
		return buf;
	}
	snprintf(buf, buf_size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
	return buf;
}

static int parse_digits(const char **p, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (**p < '0' || **p > '9')
			return -1;
		v = v * 10 + (**p - '0');
		(*p)++;
	}
	return v;
}

/* days_from_civil: days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int mo)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool is_leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return mo == 2 && is_leap ? 29 : days[mo - 1];
}

sl_err sl_time_parse(const char *s, int64_t *out_ms)
{
	const char *p = s;
	int y = parse_digits(&p, 4);
	if (y < 0 || *p++ != '-')
		return SL_ERR_INVALID_ARGUMENT;
	int mo = parse_digits(&p, 2);
	if (mo < 1 || mo > 12 || *p++ != '-')
		return SL_ERR_INVALID_ARGUMENT;
	int d = parse_digits(&p, 2);
	if (d < 1 || d > days_in_month(y, mo) || (*p != 'T' && *p != 't' && *p != ' '))
		return SL_ERR_INVALID_ARGUMENT;
	p++;
	int h = parse_digits(&p, 2);
	if (h < 0 || h > 23 || *p++ != ':')
		return SL_ERR_INVALID_ARGUMENT;
	int mi = parse_digits(&p, 2);
	if (mi < 0 || mi > 59 || *p++ != ':')
		return SL_ERR_INVALID_ARGUMENT;
	int se = parse_digits(&p, 2);
	if (se < 0 || se > 60)
		return SL_ERR_INVALID_ARGUMENT;
	int ms = 0;
	if (*p == '.') {
		p++;
		int scale = 100, ndig = 0;
		while (*p >= '0' && *p <= '9') {
			if (scale > 0)
				ms += (*p - '0') * scale;
			scale /= 10;
			p++;
			ndig++;
		}
		if (ndig == 0)
			return SL_ERR_INVALID_ARGUMENT;
	}
	int64_t offset_min = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1;
		p++;
		int oh = parse_digits(&p, 2);
		if (oh < 0 || oh > 23 || *p++ != ':')
			return SL_ERR_INVALID_ARGUMENT;
		int om = parse_digits(&p, 2);
		if (om < 0 || om > 59)
			return SL_ERR_INVALID_ARGUMENT;
		offset_min = sign * (oh * 60 + om);
	} else {
		return SL_ERR_INVALID_ARGUMENT;
	}
	if (*p != '\0')
		return SL_ERR_INVALID_ARGUMENT;
	int64_t days = days_from_civil(y, mo, d);
	int64_t secs = days * 86400 + h * 3600 + mi * 60 + se - offset_min * 60;
	*out_ms = secs * 1000 + ms;
	return SL_OK;
}

void sl_be64_put(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

uint64_t sl_be64_get(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

void sl_hex(const unsigned char *data, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[data[i] >> 4];
		out[2 * i + 1] = digits[data[i] & 0xf];
	}
	out[2 * len] = '\0';
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

sl_err sl_hex_parse(const char *s, unsigned char *out, size_t out_len)
{
	if (strlen(s) != 2 * out_len)
		return SL_ERR_INVALID_ARGUMENT;
	for (size_t i = 0; i < out_len; i++) {
		int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return SL_ERR_INVALID_ARGUMENT;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return SL_OK;
}

/* The SHA-256 implementation, fetched once: OpenSSL 3 looks the algorithm up in its
 * provider tables on every init given EVP_sha256(), which the profile of the writer and of
 * the rebuild showed (one hash per event). */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void sl_sha256(const void *a, size_t a_len, const void *b, size_t b_len, unsigned char *out)
{
	pthread_once(&sha256_once, sha256_fetch);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	SL_ASSERT(ctx != NULL);
	unsigned int n = 0;
	int ok = EVP_DigestInit_ex(ctx, sha256_md != NULL ? sha256_md : EVP_sha256(), NULL);
	if (ok && a_len > 0)
		ok = EVP_DigestUpdate(ctx, a, a_len);
	if (ok && b_len > 0)
		ok = EVP_DigestUpdate(ctx, b, b_len);
	if (ok)
		ok = EVP_DigestFinal_ex(ctx, out, &n);
	EVP_MD_CTX_free(ctx);
	SL_ASSERT(ok && n == SL_HASH_BYTES);
}

void sl_assert_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr, "stockledger: assertion failed: %s (%s:%d)\n", expr, file, line);
	abort();
}

void sl_stop_signals_block(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

void sl_thread_name(const char *name)
{
	char n[16];
	sl_strlcpy(n, name, sizeof(n));
	(void)prctl(PR_SET_NAME, (unsigned long)n, 0, 0, 0);
}

size_t sl_utf8_len(const uint8_t *s, size_t avail)
{
	if (avail == 0)
		return 0;
	size_t n = s[0] < 0x80                    ? 1
	           : s[0] >= 0xc2 && s[0] <= 0xdf ? 2
	           : s[0] >= 0xe0 && s[0] <= 0xef ? 3
	           : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4
	                                          : 0;
	if (n > avail)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((n == 3 && s[0] == 0xe0 && s[1] < 0xa0) || (n == 3 && s[0] == 0xed && s[1] >= 0xa0) ||
	    (n == 4 && s[0] == 0xf0 && s[1] < 0x90) || (n == 4 && s[0] == 0xf4 && s[1] >= 0x90))
		return 0; /* overlong, a surrogate, past U+10FFFF */
	return n;
}

bool sl_text_is_valid(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t len = s[i] == 0 ? 0 : sl_utf8_len(s + i, n - i);
		if (len == 0)
			return false;
		i += len;
	}
	return true;
}

bool sl_varint_read(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			*out = v;
			return true;
		}
	}
	return false;
}

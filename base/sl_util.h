/*
 * sl_util.h: small helpers shared by every layer: bounded strings, number parsing, UTC time,
 * big-endian integers, hex and SHA-256. All functions are thread-safe and allocate nothing.
 */
#ifndef SL_UTIL_H
#define SL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>

#include "sl_err.h"

/* sl_strlcpy copies src into dst of size dst_size, always NUL-terminating (dst_size > 0).
 * Returns strlen(src); a result >= dst_size means src was truncated. */
size_t sl_strlcpy(char *dst, const char *src, size_t dst_size);

/* sl_parse_i64 parses a whole decimal string into *out. Returns SL_ERR_INVALID_ARGUMENT on
 * empty input, junk or overflow; *out is untouched then. */
sl_err sl_parse_i64(const char *s, int64_t *out);

/* sl_id_is_valid tells whether s (len bytes) is a valid id: 1..max bytes of printable ASCII
 * without whitespace, '/', '@' or '=' (a line id may not hold ':' either: ledger/orders.c). */
bool sl_id_is_valid(const char *s, size_t len, size_t max);

/* sl_varint_read reads a protobuf varint at *p (before end) into *out and moves *p past it:
 * false if it is cut short or longer than 64 bits. */
bool sl_varint_read(const uint8_t **p, const uint8_t *end, uint64_t *out);

/* sl_utf8_len: the length (1..4) of the valid UTF-8 sequence at s, of which avail bytes may
 * be read; 0 if it is not one (a stray continuation byte, an overlong form, a surrogate, past
 * U+10FFFF, or cut short). */
size_t sl_utf8_len(const uint8_t *s, size_t avail);

/* sl_text_is_valid: are the n bytes at s valid UTF-8 without a NUL (a protobuf string that a
 * C string holds whole)? */
bool sl_text_is_valid(const uint8_t *s, size_t n);

/* sl_time_now_ms returns the wall clock in milliseconds since the Unix epoch (UTC). */
int64_t sl_time_now_ms(void);

/* sl_deadline_after_ms writes into *out the CLOCK_REALTIME time ms milliseconds from now
 * (ms >= 0), the deadline pthread_cond_timedwait takes. */
void sl_deadline_after_ms(struct timespec *out, int64_t ms);

/* sl_time_format writes t_ms as RFC 3339 UTC with milliseconds ("2026-12-04T16:30:54.123Z")
 * into buf (at least 32 bytes). Returns buf. */
char *sl_time_format(int64_t t_ms, char *buf, size_t buf_size);

/* sl_time_parse parses RFC 3339 ("2026-12-04T16:30:54Z", fraction and offset optional) into
 * milliseconds. Returns SL_ERR_INVALID_ARGUMENT if s is not such a time. */
sl_err sl_time_parse(const char *s, int64_t *out_ms);

/* sl_be64_put writes v big-endian into 8 bytes at p; sl_be64_get reads it back. Big-endian
 * keys sort in numeric order in RocksDB. */
void sl_be64_put(unsigned char *p, uint64_t v);
uint64_t sl_be64_get(const unsigned char *p);

/* sl_hex writes len bytes of data as lower-case hex into out (2*len+1 bytes). */
void sl_hex(const unsigned char *data, size_t len, char *out);

/* sl_hex_parse reads exactly out_len bytes of hex from s. Returns SL_ERR_INVALID_ARGUMENT if s
 * is not 2*out_len hex digits. */
sl_err sl_hex_parse(const char *s, unsigned char *out, size_t out_len);

/* sl_sha256 hashes the concatenation of two buffers (either may be empty) into out[32]. */
void sl_sha256(const void *a, size_t a_len, const void *b, size_t b_len, unsigned char *out);

/* SL_ASSERT checks a programmer invariant; it stays on in release builds (Redis serverAssert).
 * Never use it on input from the network, the disk or a user. */
/* sl_stop_signals_block blocks SIGTERM and SIGINT in the calling thread (and so in every
 * thread it starts after) and fills set with them, for a daemon whose main thread takes them
 * with sigwait; SIGPIPE is ignored (a peer that went away is an error of the write). */
void sl_stop_signals_block(sigset_t *set);

/* sl_thread_name names the calling thread (at most 15 bytes are kept), as top -H, perf and
 * /proc/PID/task/TID/comm show it: "sl:writer", "sl:index". */
void sl_thread_name(const char *name);

#define SL_ASSERT(cond) ((cond) ? (void)0 : sl_assert_fail(#cond, __FILE__, __LINE__))
_Noreturn void sl_assert_fail(const char *expr, const char *file, int line);

/* SL_ASSERT_DEBUG is SL_ASSERT for a check too expensive for the release build (STYLE.md:
 * "expensive checks go behind a debug-only macro"), such as decoding every event the writer
 * encodes: on in a debug build (the test command's), off where NDEBUG is defined (CMake's
 * Release). cond must have no side effect. */
#ifdef NDEBUG
#define SL_ASSERT_DEBUG(cond) ((void)0)
#else
#define SL_ASSERT_DEBUG(cond) SL_ASSERT(cond)
#endif

#endif

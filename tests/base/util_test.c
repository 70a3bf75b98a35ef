/*
 * util_test.c: the shared helpers of base/: UTC time, ids, number parsing, big-endian
 * integers, hex, SHA-256, the hash map, the byte buffer and the error names.
 *
 * Method: each helper is checked against values worked out by hand or taken from a standard
 * (the FIPS 180-2 SHA-256 vectors, `date -u +%s` for epoch seconds), on both sides of every
 * bound it documents, and with the junk it must refuse. Outputs that must stay untouched on
 * failure are preset to a sentinel and checked afterwards. The map is grown to 100000
 * entries to cross many table doublings and chunk boundaries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdalign.h>
#include <stdio.h>
#include <string.h>

#include "base/banned.h"
#include "base/sl_buf.h"
#include "base/sl_err.h"
#include "base/sl_limits.h"
#include "base/sl_map.h"
#include "base/sl_util.h"

/* 2026-12-04T16:30:54Z, from `date -u -d 2026-12-04T16:30:54Z +%s`. */
#define T_2026_12_04_163054_MS (1796401854LL * 1000)

static int64_t parse_ok(const char *s)
{
	int64_t ms = 0;
	sl_err rc = sl_time_parse(s, &ms);
	if (rc != SL_OK)
		fail_msg("sl_time_parse refused '%s': %s", s, sl_err_name(rc));
	return ms;
}

static void test_sl_time_format_writes_rfc3339_utc_with_milliseconds(void **state)
{
	(void)state;
	char buf[32];
	assert_string_equal(sl_time_format(0, buf, sizeof(buf)), "1970-01-01T00:00:00.000Z");
	assert_string_equal(sl_time_format(T_2026_12_04_163054_MS + 123, buf, sizeof(buf)),
	                    "2026-12-04T16:30:54.123Z");
	assert_string_equal(sl_time_format(951782400LL * 1000 + 7, buf, sizeof(buf)),
	                    "2000-02-29T00:00:00.007Z");
	/* before the epoch the milliseconds still count forward within the second */
	assert_string_equal(sl_time_format(-1, buf, sizeof(buf)), "1969-12-31T23:59:59.999Z");
	assert_string_equal(sl_time_format(-1000, buf, sizeof(buf)), "1969-12-31T23:59:59.000Z");
	assert_string_equal(sl_time_format(-2203891200LL * 1000, buf, sizeof(buf)),
	                    "1900-03-01T00:00:00.000Z");
}

static void test_sl_time_parse_reads_utc_times_with_and_without_a_fraction(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("1970-01-01T00:00:00Z"), 0);
	assert_int_equal(parse_ok("2026-12-04T16:30:54Z"), T_2026_12_04_163054_MS);
	assert_int_equal(parse_ok("2026-12-04T16:30:54.123Z"), T_2026_12_04_163054_MS + 123);
	assert_int_equal(parse_ok("2026-12-04t16:30:54.123z"), T_2026_12_04_163054_MS + 123);
	assert_int_equal(parse_ok("2026-12-04 16:30:54.123Z"), T_2026_12_04_163054_MS + 123);
	assert_int_equal(parse_ok("2026-12-04T16:30:54.1Z"), T_2026_12_04_163054_MS + 100);
	assert_int_equal(parse_ok("2026-12-04T16:30:54.12Z"), T_2026_12_04_163054_MS + 120);
	/* digits past the millisecond are dropped, not rounded */
	assert_int_equal(parse_ok("2026-12-04T16:30:54.123999Z"), T_2026_12_04_163054_MS + 123);
	assert_int_equal(parse_ok("1969-12-31T23:59:59.999Z"), -1);
	assert_int_equal(parse_ok("2000-02-29T00:00:00Z"), 951782400LL * 1000);
}

static void test_sl_time_parse_applies_the_utc_offset(void **state)
{
	(void)state;
	int64_t want = T_2026_12_04_163054_MS + 123;
	assert_int_equal(parse_ok("2026-12-04T16:30:54.123+00:00"), want);
	assert_int_equal(parse_ok("2026-12-04T18:30:54.123+02:00"), want);
	assert_int_equal(parse_ok("2026-12-04T11:00:54.123-05:30"), want);
	assert_int_equal(parse_ok("2026-12-05T02:15:54.123+09:45"), want);
	/* an offset that moves the time across midnight and the year */
	assert_int_equal(parse_ok("1969-12-31T19:00:00-05:00"), 0);
	assert_int_equal(parse_ok("1970-01-01T01:00:00+01:00"), 0);
}

static void test_sl_time_format_and_sl_time_parse_round_trip(void **state)
{
	(void)state;
	const int64_t times[] = {
	    0,
	    1,
	    999,
	    -1,
	    -999,
	    -1001,
	    T_2026_12_04_163054_MS + 123,
	    951782400LL * 1000 + 999,  /* a leap day */
	    4102444799LL * 1000 + 999, /* 2099-12-31T23:59:59.999Z */
	    -2203891200LL * 1000 + 1,
	};
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		char buf[32];
		sl_time_format(times[i], buf, sizeof(buf));
		assert_int_equal(parse_ok(buf), times[i]);
	}
	/* and every millisecond of a few days, in steps that hit every field */
	for (int64_t t = T_2026_12_04_163054_MS; t < T_2026_12_04_163054_MS + 3LL * 86400000;
	     t += 3600007) {
		char buf[32];
		sl_time_format(t, buf, sizeof(buf));
		assert_int_equal(parse_ok(buf), t);
	}
}

static void test_sl_time_parse_rejects_junk_and_leaves_the_output_untouched(void **state)
{
	(void)state;
	const char *junk[] = {
	    "",
	    "now",
	    "2026",
	    "2026-12-04",
	    "2026-12-04T",
	    "2026-12-04T16:30",
	    "2026-12-04T16:30:54",      /* no zone */
	    "2026-12-04T16:30:54.Z",    /* empty fraction */
	    "2026-12-04T16:30:54.123",  /* no zone after a fraction */
	    "2026-12-04T16:30:54Zjunk", /* trailing junk */
	    "2026-12-04T16:30:54Z ",    /* trailing space */
	    "2026-12-04T16:30:54+0200", /* offset without a colon */
	    "2026-12-04T16:30:54+02",   /* offset without minutes */
	    "2026-12-04T16:30:54 +02:00",
	    "2026/12/04T16:30:54Z",
	    "2026-12-04X16:30:54Z",
	    "26-12-04T16:30:54Z",
	    "2026-1-04T16:30:54Z",
	    "2026-00-04T16:30:54Z",
	    "2026-13-04T16:30:54Z",
	    "2026-12-00T16:30:54Z",
	    "2026-12-32T16:30:54Z",
	    "2026-12-04T24:00:00Z",
	    "2026-12-04T16:60:00Z",
	    "2026-12-04T16:30:61Z",
	    "2026-12-04T16:3a:54Z",
	    "-2026-12-04T16:30:54Z",
	};
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		int64_t ms = 4242;
		sl_err rc = sl_time_parse(junk[i], &ms);
		if (rc != SL_ERR_INVALID_ARGUMENT)
			fail_msg("sl_time_parse('%s') = %s, want INVALID_ARGUMENT", junk[i],
			         sl_err_name(rc));
		assert_int_equal(ms, 4242);
	}
}

/* RFC 3339 section 5.7: the day must exist in its month, and the offset is a time of day. */
static void test_sl_time_parse_rejects_days_and_offsets_that_do_not_exist(void **state)
{
	(void)state;
	const char *junk[] = {
	    "2026-02-29T00:00:00Z", /* 2026 is not a leap year */
	    "2026-02-30T00:00:00Z",      "2026-04-31T00:00:00Z",      "1900-02-29T00:00:00Z",
	    "2026-12-04T16:30:54+24:00", "2026-12-04T16:30:54+05:60",
	};
	int accepted = 0;
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		int64_t ms = 4242;
		sl_err rc = sl_time_parse(junk[i], &ms);
		if (rc != SL_ERR_INVALID_ARGUMENT) {
			char buf[32];
			print_message("sl_time_parse('%s') = %s (%s), want INVALID_ARGUMENT\n",
			              junk[i], sl_err_name(rc),
			              sl_time_format(ms, buf, sizeof(buf)));
			accepted++;
		}
	}
	assert_int_equal(accepted, 0);
}

static void test_sl_id_is_valid_takes_1_to_max_printable_ascii_bytes(void **state)
{
	(void)state;
	char id[SL_ID_MAX + 2];
	memset(id, 'a', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	assert_false(sl_id_is_valid("", 0, SL_ID_MAX));
	assert_true(sl_id_is_valid("a", 1, SL_ID_MAX));
	assert_true(sl_id_is_valid(id, SL_ID_MAX, SL_ID_MAX));
	assert_false(sl_id_is_valid(id, SL_ID_MAX + 1, SL_ID_MAX));
	assert_true(sl_id_is_valid(id, 3, 3));
	assert_false(sl_id_is_valid(id, 4, 3));
	/* the shape of the default variant id (ledger/types.h) */
	const char *guid = "00000000-0000-0000-0000-000000000000";
	assert_true(sl_id_is_valid(guid, strlen(guid), SL_ID_MAX));
	/* every other printable character is allowed */
	const char *ok = "!\"#$%&'()*+,-.0123456789;<>?ABCXYZ[\\]^_`abcxyz{|}~";
	assert_true(sl_id_is_valid(ok, strlen(ok), SL_ID_MAX));
}

static void test_sl_id_is_valid_refuses_whitespace_separators_and_non_ascii(void **state)
{
	(void)state;
	const char *bad[] = {
	    "a b",   "a\tb",  "a\nb", " ab",         "ab ",
	    "a/b",   "a@b",   "a=b",  "caf\xc3\xa9", /* UTF-8 e-acute */
	    "a\x7f", "a\x01", "\xff",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (sl_id_is_valid(bad[i], strlen(bad[i]), SL_ID_MAX))
			fail_msg("sl_id_is_valid accepted '%s'", bad[i]);
	/* a NUL inside the given length is not printable either */
	assert_false(sl_id_is_valid("a\0b", 3, SL_ID_MAX));
	/* only len bytes are looked at */
	assert_true(sl_id_is_valid("ab/", 2, SL_ID_MAX));
	/* ':' is allowed (issue 2's rule); only a line id may not hold it (ledger/orders.c) */
	assert_true(sl_id_is_valid("a:b", 3, SL_ID_MAX));
}

static void test_sl_parse_i64_reads_the_whole_int64_range(void **state)
{
	(void)state;
	int64_t v = 0;
	assert_int_equal(sl_parse_i64("0", &v), SL_OK);
	assert_int_equal(v, 0);
	assert_int_equal(sl_parse_i64("-42", &v), SL_OK);
	assert_int_equal(v, -42);
	assert_int_equal(sl_parse_i64("1000000", &v), SL_OK);
	assert_int_equal(v, 1000000);
	assert_int_equal(sl_parse_i64("9223372036854775807", &v), SL_OK);
	assert_true(v == INT64_MAX);
	assert_int_equal(sl_parse_i64("-9223372036854775808", &v), SL_OK);
	assert_true(v == INT64_MIN);
}

static void test_sl_parse_i64_rejects_overflow_and_junk_leaving_the_output_untouched(void **state)
{
	(void)state;
	const char *bad[] = {
	    "",
	    "-",
	    "+",
	    "a",
	    "12a",
	    "a12",
	    "1 ",
	    "1.5",
	    "0x10",
	    "1e3",
	    "--1",
	    "9223372036854775808",
	    "-9223372036854775809",
	    "99999999999999999999",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t v = 4242;
		sl_err rc = sl_parse_i64(bad[i], &v);
		if (rc != SL_ERR_INVALID_ARGUMENT)
			fail_msg("sl_parse_i64('%s') = %s, want INVALID_ARGUMENT", bad[i],
			         sl_err_name(rc));
		assert_int_equal(v, 4242);
	}
	int64_t v = 4242;
	assert_int_equal(sl_parse_i64(NULL, &v), SL_ERR_INVALID_ARGUMENT);
	assert_int_equal(v, 4242);
}

/* "a whole decimal string": strtoll skips leading whitespace, the contract does not. */
static void test_sl_parse_i64_rejects_leading_whitespace(void **state)
{
	(void)state;
	const char *bad[] = {" 12", "\t12", "\n-3"};
	int accepted = 0;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t v = 4242;
		sl_err rc = sl_parse_i64(bad[i], &v);
		if (rc != SL_ERR_INVALID_ARGUMENT) {
			print_message("sl_parse_i64(\"%s\") = %s (%lld), want INVALID_ARGUMENT\n",
			              bad[i], sl_err_name(rc), (long long)v);
			accepted++;
		}
	}
	assert_int_equal(accepted, 0);
}

static void test_sl_strlcpy_truncates_and_always_terminates(void **state)
{
	(void)state;
	char buf[4];
	assert_int_equal(sl_strlcpy(buf, "ab", sizeof(buf)), 2);
	assert_string_equal(buf, "ab");
	assert_int_equal(sl_strlcpy(buf, "abc", sizeof(buf)), 3);
	assert_string_equal(buf, "abc");
	assert_int_equal(sl_strlcpy(buf, "abcdef", sizeof(buf)), 6);
	assert_string_equal(buf, "abc");
	assert_int_equal(sl_strlcpy(buf, "", 1), 0);
	assert_string_equal(buf, "");
}

static void test_sl_be64_writes_big_endian_so_that_bytes_sort_in_numeric_order(void **state)
{
	(void)state;
	unsigned char b[8];
	sl_be64_put(b, 0x0102030405060708ull);
	const unsigned char want[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	assert_memory_equal(b, want, 8);
	assert_true(sl_be64_get(b) == 0x0102030405060708ull);

	const uint64_t values[] = {0,          1,
	                           255,        256,
	                           65535,      65536,
	                           1ull << 32, (1ull << 56) - 1,
	                           1ull << 56, UINT64_MAX - 1,
	                           UINT64_MAX};
	size_t n = sizeof(values) / sizeof(values[0]);
	for (size_t i = 0; i < n; i++) {
		unsigned char x[8];
		sl_be64_put(x, values[i]);
		assert_true(sl_be64_get(x) == values[i]);
		if (i + 1 < n) {
			unsigned char y[8];
			sl_be64_put(y, values[i + 1]);
			assert_true(memcmp(x, y, 8) < 0);
		}
	}
}

static void test_sl_hex_writes_lower_case_and_sl_hex_parse_reads_it_back(void **state)
{
	(void)state;
	const unsigned char data[] = {0x00, 0x01, 0xab, 0x7f, 0xff};
	char hex[2 * sizeof(data) + 1];
	sl_hex(data, sizeof(data), hex);
	assert_string_equal(hex, "0001ab7fff");
	unsigned char back[sizeof(data)];
	assert_int_equal(sl_hex_parse(hex, back, sizeof(back)), SL_OK);
	assert_memory_equal(back, data, sizeof(data));
	/* upper case is read too */
	assert_int_equal(sl_hex_parse("0001AB7FFF", back, sizeof(back)), SL_OK);
	assert_memory_equal(back, data, sizeof(data));
	char empty[1];
	sl_hex(data, 0, empty);
	assert_string_equal(empty, "");
	assert_int_equal(sl_hex_parse("", back, 0), SL_OK);
}

static void test_sl_hex_parse_rejects_wrong_lengths_and_non_hex_digits(void **state)
{
	(void)state;
	unsigned char out[2] = {0x11, 0x22};
	assert_int_equal(sl_hex_parse("abc", out, 2), SL_ERR_INVALID_ARGUMENT);
	assert_int_equal(sl_hex_parse("abcdef", out, 2), SL_ERR_INVALID_ARGUMENT);
	assert_int_equal(sl_hex_parse("", out, 2), SL_ERR_INVALID_ARGUMENT);
	assert_int_equal(sl_hex_parse("abcg", out, 2), SL_ERR_INVALID_ARGUMENT);
	assert_int_equal(sl_hex_parse("ab c", out, 2), SL_ERR_INVALID_ARGUMENT);
	assert_int_equal(sl_hex_parse("0xab", out, 2), SL_ERR_INVALID_ARGUMENT);
}

static void expect_sha256(const void *a, size_t a_len, const void *b, size_t b_len,
                          const char *want_hex)
{
	unsigned char h[SL_HASH_BYTES];
	char hex[2 * SL_HASH_BYTES + 1];
	sl_sha256(a, a_len, b, b_len, h);
	sl_hex(h, sizeof(h), hex);
	assert_string_equal(hex, want_hex);
}

static void test_sl_sha256_matches_the_fips_vectors_over_two_buffers(void **state)
{
	(void)state;
	const char *abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	const char *empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	const char *two_blocks = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
	const char *msg = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	expect_sha256("abc", 3, NULL, 0, abc);
	expect_sha256(NULL, 0, "abc", 3, abc);
	expect_sha256("a", 1, "bc", 2, abc);
	expect_sha256("ab", 2, "c", 1, abc);
	expect_sha256(NULL, 0, NULL, 0, empty);
	expect_sha256(msg, strlen(msg), NULL, 0, two_blocks);
	expect_sha256(msg, 20, msg + 20, strlen(msg) - 20, two_blocks);
}

typedef struct map_value {
	uint64_t n;
	char tag[24];
} map_value;

static size_t map_key(char *buf, size_t size, size_t i)
{
	int n = snprintf(buf, size, "key-%zu", i);
	assert_true(n > 0 && (size_t)n < size);
	return (size_t)n;
}

static void test_sl_map_grows_to_100000_entries_keeping_value_addresses(void **state)
{
	(void)state;
	enum { N = 100000 };
	sl_map m;
	assert_int_equal(sl_map_init(&m, sizeof(map_value), N), SL_OK);
	map_value *first = NULL, *at_1000 = NULL;
	for (size_t i = 0; i < N; i++) {
		char k[32];
		size_t klen = map_key(k, sizeof(k), i);
		int is_new = -1;
		sl_err err = SL_OK;
		map_value *v = sl_map_put(&m, k, klen, &is_new, &err);
		assert_non_null(v);
		assert_int_equal(is_new, 1);
		assert_int_equal(err, SL_OK);
		assert_int_equal(v->n, 0); /* new values are zeroed */
		assert_true((uintptr_t)v % alignof(max_align_t) == 0);
		v->n = i * 7 + 1;
		snprintf(v->tag, sizeof(v->tag), "t%zu", i);
		if (i == 0)
			first = v;
		if (i == 1000)
			at_1000 = v;
	}
	assert_int_equal(m.n, N);
	assert_true(m.n_slots >= 2 * N);
	/* values never moved while the table doubled and chunks were added */
	char k[32];
	assert_ptr_equal(sl_map_get(&m, k, map_key(k, sizeof(k), 0)), first);
	assert_ptr_equal(sl_map_get(&m, k, map_key(k, sizeof(k), 1000)), at_1000);
	assert_int_equal(first->n, 1);
	assert_string_equal(first->tag, "t0");
	for (size_t i = 0; i < N; i++) {
		size_t klen = map_key(k, sizeof(k), i);
		map_value *v = sl_map_get(&m, k, klen);
		assert_non_null(v);
		assert_int_equal(v->n, i * 7 + 1);
		/* insertion order */
		assert_ptr_equal(sl_map_at(&m, i), v);
		/* a second put finds the same value and leaves it alone */
		int is_new = -1;
		sl_err err = SL_OK;
		if (i % 997 == 0) {
			assert_ptr_equal(sl_map_put(&m, k, klen, &is_new, &err), v);
			assert_int_equal(is_new, 0);
			assert_int_equal(v->n, i * 7 + 1);
		}
	}
	assert_int_equal(m.n, N);
	assert_null(sl_map_get(&m, "key-100000", 10));
	assert_null(sl_map_get(&m, "key-1", 4)); /* a prefix of a key is another key */
	assert_null(sl_map_get(&m, "", 0));
	sl_map_fini(&m);
}

static void test_sl_map_clear_forgets_every_entry_and_the_map_stays_usable(void **state)
{
	(void)state;
	sl_map m;
	assert_int_equal(sl_map_init(&m, sizeof(map_value), 5000), SL_OK);
	char k[32];
	int is_new;
	sl_err err = SL_OK;
	for (size_t i = 0; i < 3000; i++) {
		map_value *v = sl_map_put(&m, k, map_key(k, sizeof(k), i), &is_new, &err);
		assert_non_null(v);
		v->n = 99;
	}
	sl_map_clear(&m);
	assert_int_equal(m.n, 0);
	for (size_t i = 0; i < 3000; i++)
		assert_null(sl_map_get(&m, k, map_key(k, sizeof(k), i)));
	/* reused memory comes back zeroed, and the limit counts from zero again */
	for (size_t i = 0; i < 5000; i++) {
		map_value *v = sl_map_put(&m, k, map_key(k, sizeof(k), i + 10), &is_new, &err);
		assert_non_null(v);
		assert_int_equal(is_new, 1);
		assert_int_equal(v->n, 0);
		v->n = i;
	}
	assert_int_equal(m.n, 5000);
	assert_int_equal(((map_value *)sl_map_get(&m, k, map_key(k, sizeof(k), 10)))->n, 0);
	assert_int_equal(((map_value *)sl_map_get(&m, k, map_key(k, sizeof(k), 5009)))->n, 4999);
	assert_null(sl_map_get(&m, k, map_key(k, sizeof(k), 9)));
	sl_map_fini(&m);
	/* fini of a finished (zeroed) map is a no-op, and get on it finds nothing */
	sl_map_fini(&m);
	assert_null(sl_map_get(&m, "a", 1));
}

/* A table grown by a large use and then cleared holding a few entries (the writer's maps
 * between groups) zeroes only their slots: every table slot must be empty afterwards, and
 * entries that collided along one probe run must all be gone. */
static void test_sl_map_clear_of_a_few_entries_in_a_large_table_empties_every_slot(void **state)
{
	(void)state;
	sl_map m;
	assert_int_equal(sl_map_init(&m, sizeof(map_value), 10000), SL_OK);
	char k[32];
	int is_new;
	sl_err err = SL_OK;
	for (size_t i = 0; i < 8000; i++)
		assert_non_null(sl_map_put(&m, k, map_key(k, sizeof(k), i), &is_new, &err));
	sl_map_clear(&m);
	size_t n_slots = m.n_slots;
	assert_true(n_slots >= 16000);
	for (size_t round = 0; round < 50; round++) {
		size_t n = 1 + round % 40; /* well under an eighth of the table */
		for (size_t i = 0; i < n; i++) {
			map_value *v = sl_map_put(&m, k, map_key(k, sizeof(k), round * 1000 + i),
			                          &is_new, &err);
			assert_non_null(v);
			assert_int_equal(is_new, 1);
			assert_int_equal(v->n, 0);
			v->n = round + 1;
		}
		sl_map_clear(&m);
		assert_int_equal(m.n, 0);
		assert_int_equal(m.n_slots, n_slots);
		for (size_t s = 0; s < m.n_slots; s++) {
			assert_int_equal(m.slots[s], 0);
			assert_int_equal(m.hashes[s], 0);
		}
		for (size_t i = 0; i < n; i++)
			assert_null(sl_map_get(&m, k, map_key(k, sizeof(k), round * 1000 + i)));
	}
	sl_map_fini(&m);
}

static void test_sl_map_put_refuses_a_new_key_past_max_entries(void **state)
{
	(void)state;
	sl_map m;
	assert_int_equal(sl_map_init(&m, sizeof(uint64_t), 3), SL_OK);
	int is_new;
	sl_err err = SL_OK;
	assert_non_null(sl_map_put(&m, "a", 1, &is_new, &err));
	assert_non_null(sl_map_put(&m, "b", 1, &is_new, &err));
	uint64_t *c = sl_map_put(&m, "c", 1, &is_new, &err);
	assert_non_null(c);
	assert_int_equal(err, SL_OK);
	is_new = -1;
	assert_null(sl_map_put(&m, "d", 1, &is_new, &err));
	assert_int_equal(err, SL_ERR_LIMIT_EXCEEDED);
	assert_int_equal(is_new, 0);
	assert_int_equal(m.n, 3);
	assert_null(sl_map_get(&m, "d", 1));
	/* existing keys are still found through put */
	err = SL_OK;
	assert_ptr_equal(sl_map_put(&m, "c", 1, &is_new, &err), c);
	assert_int_equal(is_new, 0);
	assert_int_equal(err, SL_OK);
	sl_map_fini(&m);
}

static void test_sl_buf_appends_replaces_and_refuses_past_its_hard_cap(void **state)
{
	(void)state;
	sl_buf b;
	sl_buf_init(&b);
	assert_int_equal(sl_buf_append(&b, "abc", 3), SL_OK);
	assert_int_equal(sl_buf_append(&b, NULL, 0), SL_OK);
	char big[1000];
	memset(big, 'x', sizeof(big));
	assert_int_equal(sl_buf_append(&b, big, sizeof(big)), SL_OK);
	assert_int_equal(b.len, 1003);
	assert_true(b.cap >= b.len);
	assert_memory_equal(b.data, "abcxxx", 6);
	assert_int_equal(sl_buf_set(&b, "hi", 2), SL_OK);
	assert_int_equal(b.len, 2);
	assert_memory_equal(b.data, "hi", 2);
	size_t cap = b.cap;
	assert_int_equal(sl_buf_reserve(&b, (size_t)SL_TRANSPORT_BYTES_MAX * 4),
	                 SL_ERR_LIMIT_EXCEEDED);
	assert_int_equal(b.len, 2);
	assert_int_equal(b.cap, cap);
	sl_buf_fini(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	sl_buf_fini(&b);
}

static void test_sl_err_names_are_stable_and_round_trip(void **state)
{
	(void)state;
	for (int e = 0; e < SL_ERR_COUNT_; e++) {
		const char *name = sl_err_name((sl_err)e);
		assert_non_null(name);
		assert_int_equal(sl_err_from_name(name), e);
		const char *text = sl_strerror((sl_err)e);
		assert_non_null(text);
		assert_true(text[0] != '\0');
		/* git message style: lower case, no full stop */
		for (const char *p = text; *p != '\0'; p++)
			assert_false(*p >= 'A' && *p <= 'Z');
		assert_true(text[strlen(text) - 1] != '.');
	}
	/* these names are on the wire: they must never change */
	assert_string_equal(sl_err_name(SL_OK), "OK");
	assert_string_equal(sl_err_name(SL_ERR_INVALID_ARGUMENT), "INVALID_ARGUMENT");
	assert_string_equal(sl_err_name(SL_ERR_REVISION_MISMATCH), "REVISION_MISMATCH");
	assert_string_equal(sl_err_name(SL_ERR_INSUFFICIENT_INVENTORY), "INSUFFICIENT_INVENTORY");
	assert_string_equal(sl_err_name(SL_ERR_QUANTITY_NOT_TRACKED), "QUANTITY_NOT_TRACKED");
	assert_string_equal(sl_err_name(SL_ERR_LIMIT_EXCEEDED), "LIMIT_EXCEEDED");
	assert_string_equal(sl_err_name(SL_ERR_CORRUPT), "CORRUPT");
	assert_string_equal(sl_err_name(SL_ERR_INTERNAL), "INTERNAL");
	assert_int_equal(sl_err_from_name("NOT_A_CODE"), SL_ERR_INTERNAL);
	assert_int_equal(sl_err_from_name(""), SL_ERR_INTERNAL);
	assert_int_equal(sl_err_from_name("not_found"), SL_ERR_INTERNAL);
	assert_string_equal(sl_err_name((sl_err)SL_ERR_COUNT_), "INTERNAL");
	assert_string_equal(sl_err_name((sl_err)-1), "INTERNAL");
	assert_string_equal(sl_strerror((sl_err)999), "internal error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sl_time_format_writes_rfc3339_utc_with_milliseconds),
	    cmocka_unit_test(test_sl_time_parse_reads_utc_times_with_and_without_a_fraction),
	    cmocka_unit_test(test_sl_time_parse_applies_the_utc_offset),
	    cmocka_unit_test(test_sl_time_format_and_sl_time_parse_round_trip),
	    cmocka_unit_test(test_sl_time_parse_rejects_junk_and_leaves_the_output_untouched),
	    cmocka_unit_test(test_sl_time_parse_rejects_days_and_offsets_that_do_not_exist),
	    cmocka_unit_test(test_sl_id_is_valid_takes_1_to_max_printable_ascii_bytes),
	    cmocka_unit_test(test_sl_id_is_valid_refuses_whitespace_separators_and_non_ascii),
	    cmocka_unit_test(test_sl_parse_i64_reads_the_whole_int64_range),
	    cmocka_unit_test(
	        test_sl_parse_i64_rejects_overflow_and_junk_leaving_the_output_untouched),
	    cmocka_unit_test(test_sl_parse_i64_rejects_leading_whitespace),
	    cmocka_unit_test(test_sl_strlcpy_truncates_and_always_terminates),
	    cmocka_unit_test(test_sl_be64_writes_big_endian_so_that_bytes_sort_in_numeric_order),
	    cmocka_unit_test(test_sl_hex_writes_lower_case_and_sl_hex_parse_reads_it_back),
	    cmocka_unit_test(test_sl_hex_parse_rejects_wrong_lengths_and_non_hex_digits),
	    cmocka_unit_test(test_sl_sha256_matches_the_fips_vectors_over_two_buffers),
	    cmocka_unit_test(test_sl_map_grows_to_100000_entries_keeping_value_addresses),
	    cmocka_unit_test(test_sl_map_clear_forgets_every_entry_and_the_map_stays_usable),
	    cmocka_unit_test(
	        test_sl_map_clear_of_a_few_entries_in_a_large_table_empties_every_slot),
	    cmocka_unit_test(test_sl_map_put_refuses_a_new_key_past_max_entries),
	    cmocka_unit_test(test_sl_buf_appends_replaces_and_refuses_past_its_hard_cap),
	    cmocka_unit_test(test_sl_err_names_are_stable_and_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

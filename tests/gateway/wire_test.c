/*
 * wire_test.c: the gateway's codec (gateway/wire.c): Request bytes into bounded
 * sl_command records, and Results into Response bytes.
 *
 * Method: requests are built with the generated protobuf-c code and packed, as a client
 * would send them (or written byte by byte where a client could not build them), decoded
 * with gw_request_decode, and checked field by field; responses are encoded with
 * gw_response_encode / gw_response_error and decoded back. The content hash is checked for
 * what idempotency needs of it: equal for a faithful retry (whatever the key, and whether
 * the defaults are spelled out or not), different for any other content. Under ASan the
 * decode-and-free round trips also check that the defaults filled in for hashing never
 * reach protobuf-c's free.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "base/banned.h"
#include "base/sl_util.h"
#include "gateway/wire.h"
#include "stockledger.pb-c.h"

#define LOCATION "main"

/* decode packs req and decodes it; returns the code, the commands in *cmds, *n. */
static sl_err decode(const Sl__Request *req, sl_command **cmds, size_t *n, sl_error_info *err)
{
	size_t len = sl__request__get_packed_size(req);
	uint8_t *buf = malloc(len > 0 ? len : 1);
	assert_non_null(buf);
	sl__request__pack(req, buf);
	sl_err rc = gw_request_decode(buf, len, LOCATION, cmds, n, err);
	free(buf);
	return rc;
}

/* decode_one decodes a request of one command into *out (a copy: the lines stay owned by
 * the decoded array, which is freed). */
static void decode_one(Sl__Command *cmd, sl_command *out)
{
	Sl__Command *cmds[1] = {cmd};
	Sl__Request req = SL__REQUEST__INIT;
	req.n_commands = 1;
	req.commands = cmds;
	sl_command *decoded = NULL;
	size_t n = 0;
	sl_error_info err;
	assert_int_equal(decode(&req, &decoded, &n, &err), SL_OK);
	assert_int_equal(n, 1);
	*out = decoded[0];
	out->lines = NULL;
	out->n_lines = decoded[0].n_lines;
	gw_commands_free(decoded, n);
}

/* increment_hash: the content hash of an increment of one line (product, variant,
 * location may be NULL: left out) by qty, with key. */
static void increment_hash(const char *product, const char *variant, const char *location,
                           int64_t qty, const char *key, unsigned char *hash)
{
	Sl__ItemKey k = SL__ITEM_KEY__INIT;
	k.product_id = (char *)product;
	k.variant_id = (char *)variant;
	k.location_id = (char *)location;
	Sl__Line line = SL__LINE__INIT;
	line.item = &k;
	line.has_quantity = true;
	line.quantity = qty;
	Sl__Line *lines[1] = {&line};
	Sl__Increment inc = SL__INCREMENT__INIT;
	inc.n_lines = 1;
	inc.lines = lines;
	Sl__Command cmd = SL__COMMAND__INIT;
	cmd.key = (char *)key;
	cmd.body_case = SL__COMMAND__BODY_INCREMENT;
	cmd.increment = &inc;
	sl_command c;
	decode_one(&cmd, &c);
	memcpy(hash, c.content_hash, SL_HASH_BYTES);
}

static void test_wire_decode_fills_the_default_variant_and_location(void **state)
{
	(void)state;
	Sl__ItemKey k = SL__ITEM_KEY__INIT;
	k.product_id = "sku";
	Sl__CreateItem body = SL__CREATE_ITEM__INIT;
	body.item = &k;
	body.has_quantity = true;
	body.quantity = 7;
	body.preorder_message = "soon";
	Sl__Command cmd = SL__COMMAND__INIT;
	cmd.key = "k-1";
	cmd.reason = "count";
	cmd.body_case = SL__COMMAND__BODY_CREATE;
	cmd.create = &body;
	sl_command c;
	decode_one(&cmd, &c);
	assert_int_equal(c.type, SL_CMD_CREATE);
	assert_string_equal(c.item.product_id, "sku");
	assert_string_equal(c.item.variant_id, SL_DEFAULT_VARIANT);
	assert_string_equal(c.item.location_id, LOCATION);
	assert_true(c.has_quantity);
	assert_int_equal(c.quantity, 7);
	assert_false(c.has_in_stock);
	assert_true(c.has_preorder_message);
	assert_string_equal(c.preorder_message, "soon");
	assert_string_equal(c.key, "k-1");
	assert_string_equal(c.reason, "count");
	assert_string_equal(c.malformed_field, "");
}

static void test_wire_decode_keeps_lines_and_decrement_flags(void **state)
{
	(void)state;
	Sl__ItemKey k1 = SL__ITEM_KEY__INIT, k2 = SL__ITEM_KEY__INIT;
	k1.product_id = "a";
	k2.product_id = "b";
	k2.variant_id = "v";
	k2.location_id = "east";
	Sl__Line l1 = SL__LINE__INIT, l2 = SL__LINE__INIT;
	l1.item = &k1;
	l1.has_quantity = true;
	l1.quantity = 2;
	l2.item = &k2;
	l2.has_quantity = true;
	l2.quantity = 5;
	Sl__Line *lines[2] = {&l1, &l2};
	Sl__Decrement dec = SL__DECREMENT__INIT;
	dec.n_lines = 2;
	dec.lines = lines;
	dec.has_restrict_inventory = true;
	dec.restrict_inventory = true;
	Sl__Command cmd = SL__COMMAND__INIT;
	cmd.order_id = "o-1";
	cmd.body_case = SL__COMMAND__BODY_DECREMENT;
	cmd.decrement = &dec;
	Sl__Command *cmds[1] = {&cmd};
	Sl__Request req = SL__REQUEST__INIT;
	req.n_commands = 1;
	req.commands = cmds;
	sl_command *c = NULL;
	size_t n = 0;
	sl_error_info err;
	assert_int_equal(decode(&req, &c, &n, &err), SL_OK);
	assert_int_equal(c[0].type, SL_CMD_DECREMENT);
	assert_true(c[0].is_restricted);
	assert_false(c[0].is_preorder_request);
	assert_string_equal(c[0].order_id, "o-1");
	assert_int_equal(c[0].n_lines, 2);
	assert_string_equal(c[0].lines[0].item.product_id, "a");
	assert_string_equal(c[0].lines[0].item.variant_id, SL_DEFAULT_VARIANT);
	assert_string_equal(c[0].lines[0].item.location_id, LOCATION);
	assert_int_equal(c[0].lines[0].quantity, 2);
	assert_string_equal(c[0].lines[1].item.variant_id, "v");
	assert_string_equal(c[0].lines[1].item.location_id, "east");
	assert_int_equal(c[0].lines[1].quantity, 5);
	gw_commands_free(c, n);
}

static void test_wire_hashes_a_retry_alike_with_or_without_the_defaults_spelled_out(void **state)
{
	(void)state;
	unsigned char bare[SL_HASH_BYTES], spelled[SL_HASH_BYTES], half[SL_HASH_BYTES];
	increment_hash("sku", NULL, NULL, 1, "k", bare);
	increment_hash("sku", SL_DEFAULT_VARIANT, LOCATION, 1, "k", spelled);
	increment_hash("sku", NULL, LOCATION, 1, "k", half);
	assert_memory_equal(bare, spelled, SL_HASH_BYTES);
	assert_memory_equal(bare, half, SL_HASH_BYTES);
}

static void test_wire_hash_ignores_the_key_but_not_the_content(void **state)
{
	(void)state;
	unsigned char a[SL_HASH_BYTES], b[SL_HASH_BYTES];
	increment_hash("sku", NULL, NULL, 1, "k-1", a);
	increment_hash("sku", NULL, NULL, 1, "k-2", b);
	assert_memory_equal(a, b, SL_HASH_BYTES);
	increment_hash("sku", NULL, NULL, 2, "k-1", b);
	assert_memory_not_equal(a, b, SL_HASH_BYTES);
	increment_hash("sku", NULL, "east", 1, "k-1", b);
	assert_memory_not_equal(a, b, SL_HASH_BYTES);
	increment_hash("sku", "v", NULL, 1, "k-1", b);
	assert_memory_not_equal(a, b, SL_HASH_BYTES);
	increment_hash("sku2", NULL, NULL, 1, "k-1", b);
	assert_memory_not_equal(a, b, SL_HASH_BYTES);
}

static void test_wire_marks_an_overlong_field_instead_of_truncating_it(void **state)
{
	(void)state;
	char id[SL_ID_MAX + 2], key[SL_KEY_MAX + 2];
	memset(id, 'x', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	Sl__ItemKey k = SL__ITEM_KEY__INIT;
	k.product_id = id;
	Sl__GetItem body = SL__GET_ITEM__INIT;
	body.item = &k;
	Sl__Command cmd = SL__COMMAND__INIT;
	cmd.body_case = SL__COMMAND__BODY_GET;
	cmd.get = &body;
	sl_command c;
	decode_one(&cmd, &c);
	assert_string_equal(c.malformed_field, "productId");
	/* The first field that does not fit is the one named. */
	cmd.key = key;
	decode_one(&cmd, &c);
	assert_string_equal(c.malformed_field, "key");
	/* Exactly at the bound is fine. */
	id[SL_ID_MAX] = '\0';
	cmd.key = NULL;
	decode_one(&cmd, &c);
	assert_string_equal(c.malformed_field, "");
	assert_int_equal(strlen(c.item.product_id), SL_ID_MAX);
}

/* patch replaces the first occurrence of from (a placeholder of the same length) in buf. */
static void patch(uint8_t *buf, size_t len, const char *from, const uint8_t *to, size_t n)
{
	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(buf + i, from, n) == 0) {
			memcpy(buf + i, to, n);
			return;
		}
	fail_msg("placeholder '%s' not in the encoding", from);
}

/* Strings whose bytes a C string cannot hold whole: an id with a NUL inside (protobuf-c would
 * hand over "a" for "a\0b") or a reason that is not UTF-8. Each is written byte by byte into
 * an otherwise valid request; that command is marked (refused INVALID_ARGUMENT naming the
 * field), its neighbours are decoded as they are, and valid UTF-8 passes. */
static void test_wire_marks_strings_that_are_not_text(void **state)
{
	(void)state;
	Sl__ItemKey k[3] = {SL__ITEM_KEY__INIT, SL__ITEM_KEY__INIT, SL__ITEM_KEY__INIT};
	Sl__Line l[3] = {SL__LINE__INIT, SL__LINE__INIT, SL__LINE__INIT};
	Sl__Line *lp[3][1];
	Sl__Increment inc[3] = {SL__INCREMENT__INIT, SL__INCREMENT__INIT, SL__INCREMENT__INIT};
	Sl__Command c[3] = {SL__COMMAND__INIT, SL__COMMAND__INIT, SL__COMMAND__INIT};
	Sl__Command *cp[3];
	const char *products[3] = {"aXb", "plain", "caf\xc3\xa9"};
	const char *reasons[3] = {"ok", "bad Z", "fine"};
	for (int i = 0; i < 3; i++) {
		k[i].product_id = (char *)products[i];
		l[i].item = &k[i];
		l[i].has_quantity = true;
		l[i].quantity = 1;
		lp[i][0] = &l[i];
		inc[i].n_lines = 1;
		inc[i].lines = lp[i];
		c[i].body_case = SL__COMMAND__BODY_INCREMENT;
		c[i].increment = &inc[i];
		c[i].reason = (char *)reasons[i];
		cp[i] = &c[i];
	}
	Sl__Request req = SL__REQUEST__INIT;
	req.n_commands = 3;
	req.commands = cp;
	size_t len = sl__request__get_packed_size(&req);
	uint8_t *buf = malloc(len);
	assert_non_null(buf);
	sl__request__pack(&req, buf);
	patch(buf, len, "aXb", (const uint8_t *)"a\0b", 3);
	patch(buf, len, "bad Z", (const uint8_t *)"bad \xff", 5);
	sl_command *cmds = NULL;
	size_t n = 0;
	sl_error_info err;
	assert_int_equal(gw_request_decode(buf, len, LOCATION, &cmds, &n, &err), SL_OK);
	assert_int_equal(n, 3);
	assert_string_equal(cmds[0].malformed_field, "productId");
	assert_string_equal(cmds[1].malformed_field, "reason");
	assert_string_equal(cmds[2].malformed_field, "");
	assert_string_equal(cmds[2].lines[0].item.product_id, "caf\xc3\xa9");
	gw_commands_free(cmds, n);
	/* a cut multi-byte character; then a NUL at the very end of a string */
	sl__request__pack(&req, buf);
	patch(buf, len, "caf\xc3\xa9", (const uint8_t *)"cafe\xc3", 5);
	assert_int_equal(gw_request_decode(buf, len, LOCATION, &cmds, &n, &err), SL_OK);
	assert_string_equal(cmds[0].malformed_field, "");
	assert_string_equal(cmds[2].malformed_field, "productId");
	gw_commands_free(cmds, n);
	sl__request__pack(&req, buf);
	patch(buf, len, "fine", (const uint8_t *)"fin\0", 4);
	assert_int_equal(gw_request_decode(buf, len, LOCATION, &cmds, &n, &err), SL_OK);
	assert_string_equal(cmds[2].malformed_field, "reason");
	gw_commands_free(cmds, n);
	free(buf);
}

static void test_wire_decode_refuses_bad_envelopes_and_leaves_the_output(void **state)
{
	(void)state;
	sl_command *sentinel = (sl_command *)&sentinel;
	sl_command *cmds = sentinel;
	size_t n = 77;
	sl_error_info err;
	static const uint8_t truncated[] = {0x0a, 0x7f, 0x01};
	assert_int_equal(gw_request_decode(truncated, sizeof(truncated), LOCATION, &cmds, &n, &err),
	                 SL_ERR_MALFORMED);
	assert_int_equal(err.code, SL_ERR_MALFORMED);
	assert_true(strlen(err.message) > 0);
	assert_ptr_equal(cmds, sentinel);
	assert_int_equal(n, 77);

	assert_int_equal(gw_request_decode(truncated, 0, LOCATION, &cmds, &n, &err),
	                 SL_ERR_INVALID_ARGUMENT);
	assert_ptr_equal(cmds, sentinel);

	/* Over the size bound: refused before any decoding (the bytes are not even read). */
	assert_int_equal(
	    gw_request_decode(truncated, SL_REQUEST_BYTES_MAX + 1, LOCATION, &cmds, &n, &err),
	    SL_ERR_LIMIT_EXCEEDED);
	assert_ptr_equal(cmds, sentinel);

	/* More commands than a request may carry. */
	size_t many = SL_REQUEST_COMMANDS_MAX + 1;
	Sl__Command **pcmds = calloc(many, sizeof(*pcmds));
	Sl__Command head = SL__COMMAND__INIT;
	Sl__GetHead head_body = SL__GET_HEAD__INIT;
	assert_non_null(pcmds);
	head.body_case = SL__COMMAND__BODY_HEAD;
	head.head = &head_body;
	for (size_t i = 0; i < many; i++)
		pcmds[i] = &head;
	Sl__Request req = SL__REQUEST__INIT;
	req.n_commands = many;
	req.commands = pcmds;
	assert_int_equal(decode(&req, &cmds, &n, &err), SL_ERR_LIMIT_EXCEEDED);
	assert_ptr_equal(cmds, sentinel);
	free(pcmds);

	/* A command of 301 lines: the whole request is refused, nothing leaks. */
	Sl__ItemKey k = SL__ITEM_KEY__INIT;
	k.product_id = "sku";
	Sl__Line line = SL__LINE__INIT;
	line.item = &k;
	line.has_quantity = true;
	line.quantity = 1;
	Sl__Line **lines = calloc(SL_LINES_MAX + 1, sizeof(*lines));
	assert_non_null(lines);
	for (size_t i = 0; i <= SL_LINES_MAX; i++)
		lines[i] = &line;
	Sl__Increment inc = SL__INCREMENT__INIT;
	inc.n_lines = SL_LINES_MAX + 1;
	inc.lines = lines;
	Sl__Command cmd = SL__COMMAND__INIT;
	cmd.body_case = SL__COMMAND__BODY_INCREMENT;
	cmd.increment = &inc;
	Sl__Command *two[2] = {&head, &cmd};
	req.n_commands = 2;
	req.commands = two;
	assert_int_equal(decode(&req, &cmds, &n, &err), SL_ERR_LIMIT_EXCEEDED);
	assert_ptr_equal(cmds, sentinel);
	/* ...and 300 lines decode. */
	inc.n_lines = SL_LINES_MAX;
	assert_int_equal(decode(&req, &cmds, &n, &err), SL_OK);
	assert_int_equal(n, 2);
	assert_int_equal(cmds[1].n_lines, SL_LINES_MAX);
	gw_commands_free(cmds, n);
	free(lines);
}

static void test_wire_decodes_a_command_without_a_body_as_none(void **state)
{
	(void)state;
	/* Request{commands: [Command{60: 1}]}: a body this service does not know. */
	static const uint8_t unknown[] = {0x0a, 0x03, 0xe0, 0x03, 0x01};
	sl_command *cmds = NULL;
	size_t n = 0;
	sl_error_info err;
	assert_int_equal(gw_request_decode(unknown, sizeof(unknown), LOCATION, &cmds, &n, &err),
	                 SL_OK);
	assert_int_equal(n, 1);
	assert_int_equal(cmds[0].type, SL_CMD_NONE);
	gw_commands_free(cmds, n);
}

static void test_wire_encodes_results_and_envelope_errors(void **state)
{
	(void)state;
	/* Two results, already encoded as the ledger does. */
	Sl__Result r1 = SL__RESULT__INIT, r2 = SL__RESULT__INIT;
	r1.has_seq = true;
	r1.seq = 41;
	Sl__Error e = SL__ERROR__INIT;
	e.code = "NOT_FOUND";
	e.message = "no such item";
	r2.error = &e;
	sl_buf results[2], out;
	sl_buf_init(&results[0]);
	sl_buf_init(&results[1]);
	sl_buf_init(&out);
	assert_int_equal(sl_buf_reserve(&results[0], sl__result__get_packed_size(&r1)), SL_OK);
	results[0].len = sl__result__pack(&r1, results[0].data);
	assert_int_equal(sl_buf_reserve(&results[1], sl__result__get_packed_size(&r2)), SL_OK);
	results[1].len = sl__result__pack(&r2, results[1].data);
	assert_int_equal(gw_response_encode(results, 2, &out), SL_OK);
	Sl__Response *resp = sl__response__unpack(NULL, out.len, out.data);
	assert_non_null(resp);
	assert_null(resp->error);
	assert_int_equal(resp->n_results, 2);
	assert_int_equal(resp->results[0]->seq, 41);
	assert_null(resp->results[0]->error);
	assert_string_equal(resp->results[1]->error->code, "NOT_FOUND");
	assert_string_equal(resp->results[1]->error->message, "no such item");
	sl__response__free_unpacked(resp, NULL);

	sl_error_info err;
	memset(&err, 0, sizeof(err));
	sl_error_set(&err, SL_ERR_MALFORMED, "cannot decode request of %d bytes", 3);
	assert_int_equal(gw_response_error(&err, &out), SL_OK);
	resp = sl__response__unpack(NULL, out.len, out.data);
	assert_non_null(resp);
	assert_int_equal(resp->n_results, 0);
	assert_string_equal(resp->error->code, "MALFORMED");
	assert_string_equal(resp->error->message, "cannot decode request of 3 bytes");
	sl__response__free_unpacked(resp, NULL);
	sl_buf_fini(&results[0]);
	sl_buf_fini(&results[1]);
	sl_buf_fini(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_wire_decode_fills_the_default_variant_and_location),
	    cmocka_unit_test(test_wire_decode_keeps_lines_and_decrement_flags),
	    cmocka_unit_test(
	        test_wire_hashes_a_retry_alike_with_or_without_the_defaults_spelled_out),
	    cmocka_unit_test(test_wire_hash_ignores_the_key_but_not_the_content),
	    cmocka_unit_test(test_wire_marks_an_overlong_field_instead_of_truncating_it),
	    cmocka_unit_test(test_wire_marks_strings_that_are_not_text),
	    cmocka_unit_test(test_wire_decode_refuses_bad_envelopes_and_leaves_the_output),
	    cmocka_unit_test(test_wire_decodes_a_command_without_a_body_as_none),
	    cmocka_unit_test(test_wire_encodes_results_and_envelope_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

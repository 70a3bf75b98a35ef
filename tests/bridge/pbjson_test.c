/*
 * pbjson_test.c: JSON bodies on the bus (bridge/pbjson.h). A command written in JSON must be
 * the very command protobuf would carry (compared as packed bytes), a result printed as
 * JSON must read back to the same result, and a body that is not a command is refused with
 * a message naming what is wrong, without leaking what was parsed before (ASan).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/banned.h"
#include "bridge/pbjson.h"
#include "stockledger.pb-c.h"

static Sl__Command *parse_cmd(const char *text, char *why, size_t why_size)
{
	return (Sl__Command *)sl_pbjson_parse(&sl__command__descriptor, text, strlen(text), why,
	                                      why_size);
}

/* same_bytes: a and b pack to the same bytes. */
static void same_bytes(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
	size_t na = protobuf_c_message_get_packed_size(a),
	       nb = protobuf_c_message_get_packed_size(b);
	assert_int_equal(na, nb);
	uint8_t *pa = malloc(na + 1), *pb = malloc(nb + 1);
	assert_non_null(pa);
	assert_non_null(pb);
	protobuf_c_message_pack(a, pa);
	protobuf_c_message_pack(b, pb);
	assert_memory_equal(pa, pb, na);
	free(pa);
	free(pb);
}

static void test_pbjson_reads_a_command_as_protobuf_would_carry_it(void **state)
{
	(void)state;
	char why[200] = "";
	Sl__Command *c = parse_cmd(
	    "{\"key\": \"order-9-take\", \"reason\": \"sale\", \"decrement\": {\"lines\": ["
	    "{\"item\": {\"productId\": \"p1\", \"locationId\": \"east\"}, \"quantity\": 2},"
	    "{\"item\": {\"product_id\": \"p2\"}, \"quantity\": \"3\"}],"
	    " \"restrictInventory\": true}}",
	    why, sizeof(why));
	assert_non_null(c);
	assert_string_equal(why, "");

	Sl__ItemKey k1 = SL__ITEM_KEY__INIT, k2 = SL__ITEM_KEY__INIT;
	k1.product_id = "p1";
	k1.location_id = "east";
	k2.product_id = "p2";
	Sl__Line l1 = SL__LINE__INIT, l2 = SL__LINE__INIT;
	l1.item = &k1;
	l1.has_quantity = true;
	l1.quantity = 2;
	l2.item = &k2;
	l2.has_quantity = true;
	l2.quantity = 3;
	Sl__Line *lines[] = {&l1, &l2};
	Sl__Decrement d = SL__DECREMENT__INIT;
	d.n_lines = 2;
	d.lines = lines;
	d.has_restrict_inventory = true;
	d.restrict_inventory = true;
	Sl__Command want = SL__COMMAND__INIT;
	want.key = "order-9-take";
	want.reason = "sale";
	want.body_case = SL__COMMAND__BODY_DECREMENT;
	want.decrement = &d;
	same_bytes(&c->base, &want.base);

	/* and printed, it reads back to the same command */
	char *text = sl_pbjson_print(&c->base);
	assert_non_null(text);
	assert_non_null(strstr(text, "\"restrictInventory\":true"));
	Sl__Command *again = parse_cmd(text, why, sizeof(why));
	assert_non_null(again);
	same_bytes(&again->base, &want.base);
	free(text);
	sl__command__free_unpacked(again, NULL);
	sl__command__free_unpacked(c, NULL);
}

static void test_pbjson_prints_a_result_with_enums_bytes_and_big_numbers(void **state)
{
	(void)state;
	Sl__ItemKey k = SL__ITEM_KEY__INIT;
	k.product_id = "p1";
	Sl__ItemState st = SL__ITEM_STATE__INIT;
	st.has_quantity = true;
	st.quantity = -5;
	Sl__ItemView v = SL__ITEM_VIEW__INIT;
	v.key = &k;
	v.state = &st;
	v.has_availability_status = true;
	v.availability_status = SL__AVAILABILITY_STATUS__OUT_OF_STOCK;
	v.has_numeric_id = true;
	v.numeric_id = 18446744073709551615ULL;
	Sl__ItemView *items[] = {&v};
	uint8_t hash[4] = {0xde, 0xad, 0xbe, 0xef};
	Sl__Result r = SL__RESULT__INIT;
	r.n_items = 1;
	r.items = items;
	r.has_seq = true;
	r.seq = 42;
	r.has_head_hash = true;
	r.head_hash.len = sizeof(hash);
	r.head_hash.data = hash;
	char *text = sl_pbjson_print(&r.base);
	assert_non_null(text);
	assert_string_equal(
	    text, "{\"items\":[{\"key\":{\"productId\":\"p1\"},\"state\":{\"quantity\":-5},"
	          "\"numericId\":\"18446744073709551615\",\"availabilityStatus\":"
	          "\"OUT_OF_STOCK\"}],\"seq\":42,\"headHash\":\"3q2+7w==\"}");
	free(text);

	/* an error result */
	Sl__Error e = SL__ERROR__INIT;
	e.code = "INSUFFICIENT_INVENTORY";
	e.message = "short";
	Sl__Result er = SL__RESULT__INIT;
	er.error = &e;
	text = sl_pbjson_print(&er.base);
	assert_non_null(text);
	assert_string_equal(
	    text, "{\"error\":{\"code\":\"INSUFFICIENT_INVENTORY\",\"message\":\"short\"}}");
	free(text);

	/* a string that is not UTF-8 (a protobuf client's, or a message cut mid-character)
	 * is printed with U+FFFD for each bad byte, not dropped */
	e.message = "caf\xc3 \xff ok \xe2\x82\xac";
	text = sl_pbjson_print(&er.base);
	assert_non_null(text);
	assert_non_null(strstr(text, "\"caf\xef\xbf\xbd \xef\xbf\xbd ok \xe2\x82\xac\""));
	free(text);
}

static void refused(const char *text, const char *why_part)
{
	char why[200] = "";
	Sl__Command *c = parse_cmd(text, why, sizeof(why));
	if (c != NULL)
		sl__command__free_unpacked(c, NULL);
	assert_null(c);
	if (strstr(why, why_part) == NULL)
		fail_msg("'%s': expected a message with '%s', got '%s'", text, why_part, why);
}

static void test_pbjson_refuses_what_is_no_command_naming_it(void **state)
{
	(void)state;
	refused(
	    "{\"decrement\": {\"lines\": [{\"item\": {\"productId\": \"p\"}}], \"restrict\": 1}}",
	    "unknown field 'restrict' in sl.Decrement");
	refused("{\"create\": {\"item\": {\"productId\": \"p\"}}, \"delete\": {}}",
	        "a second member of a oneof: 'delete'");
	refused("{\"create\": {\"quantity\": \"five\"}}", "not a 64-bit integer: 'quantity'");
	refused("{\"create\": {\"quantity\": 1.5}}", "not a 64-bit integer: 'quantity'");
	refused("{\"create\": {\"quantity\": \"99999999999999999999\"}}", "not a 64-bit integer");
	refused("{\"history\": {\"limit\": -1}}", "not an unsigned 32-bit integer: 'limit'");
	refused("{\"create\": {\"inStock\": \"yes\"}}", "not true or false: 'inStock'");
	refused("{\"increment\": {\"lines\": {}}}", "not an array: 'lines'");
	refused("{\"orderId\": \"a\", \"order_id\": \"b\"}", "a field given twice: 'order_id'");
	refused("{\"create\": {\"quantity\": 1, \"quantity\": 2}}",
	        "not JSON: duplicate object key");
	refused("[1, 2]", "not an object");
	refused("{\"key\": ", "not JSON");
	refused("{\"setSettings\": {\"inventoryUpdateTrigger\": \"WHENEVER\"}}",
	        "no value of the enum: 'inventoryUpdateTrigger'");
	/* half built when refused: the lines parsed before the bad one are freed (ASan) */
	refused("{\"increment\": {\"lines\": [{\"item\": {\"productId\": \"a\"}, \"quantity\": 1},"
	        " {\"item\": {\"productId\": 7}}]}}",
	        "not a string: 'productId'");
	refused("{\"placeOrder\": {\"lines\": [{\"lineId\": \"1\", \"oops\": 1}]}}",
	        "unknown field");
	/* no spaces, plus signs, or a minus that would wrap an unsigned number */
	refused("{\"history\": {\"fromSeq\": \" -1\"}}",
	        "not an unsigned 64-bit integer: 'fromSeq'");
	refused("{\"history\": {\"fromSeq\": \"-1\"}}", "not an unsigned 64-bit integer");
	refused("{\"history\": {\"fromSeq\": \"+7\"}}", "not an unsigned 64-bit integer");
	refused("{\"create\": {\"quantity\": \" 5\"}}", "not a 64-bit integer");
	/* one repeated field under both of its names: refused, the first array freed (ASan) */
	refused("{\"query\": {\"productIds\": [\"a\"], \"product_ids\": [\"b\"]}}",
	        "a field given twice: 'product_ids'");
	/* also when the first leaves no trace in the message: an empty array, a null */
	refused("{\"query\": {\"productIds\": [], \"product_ids\": [\"shirt\"]}}",
	        "a field given twice: 'product_ids'");
	refused("{\"orderId\": null, \"order_id\": \"b\"}", "a field given twice: 'order_id'");
	/* an error names the field it is in, also after a nested message that was fine */
	refused("{\"increment\": {\"lines\": [{\"item\": {}}, 5]}}",
	        "not an object: 'lines' in sl.Increment");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pbjson_reads_a_command_as_protobuf_would_carry_it),
	    cmocka_unit_test(test_pbjson_prints_a_result_with_enums_bytes_and_big_numbers),
	    cmocka_unit_test(test_pbjson_refuses_what_is_no_command_naming_it),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

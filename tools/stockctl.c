/*
 * stockctl: the command-line client of stockledgerd. Argument parsing and printing only: the
 * grammar of ITEM and LINE is client/args.c, the transport client/client.c, the JSON shapes
 * client/json.c. The contract (names, flags, JSON fields, exit codes) is in the README and
 * is used by scripts: add to it, never change it.
 *
 * Exit status: 0 done; 1 the service refused (the code is printed); 2 the command line is
 * wrong; 3 the service could not be reached.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/banned.h"
#include "base/sl_limits.h"
#include "base/sl_util.h"
#include "bridge/bridge.h"
#include "client/args.h"
#include "client/client.h"
#include "client/json.h"
#include "tools/stockctl.h"

#define CTL_SERVER_DEFAULT "tcp://127.0.0.1:7450"

const ctl_opt_spec opt_spec[OPT_COUNT_] = {
    [OPT_QUANTITY] = {"--quantity", true},
    [OPT_IN_STOCK] = {"--in-stock", true},
    [OPT_PREORDER] = {"--preorder", true},
    [OPT_PREORDER_LIMIT] = {"--preorder-limit", true},
    [OPT_PREORDER_MESSAGE] = {"--preorder-message", true},
    [OPT_REASON] = {"--reason", true},
    [OPT_KEY] = {"--key", true},
    [OPT_REVISION] = {"--revision", true},
    [OPT_ORDER] = {"--order", true},
    [OPT_LIMIT] = {"--limit", true},
    [OPT_CURSOR] = {"--cursor", true},
    [OPT_RESTRICT] = {"--restrict", false},
    [OPT_PREORDER_REQUEST] = {"--preorder-request", false},
    [OPT_PRODUCT] = {"--product", true},
    [OPT_VARIANT] = {"--variant", true},
    [OPT_LOCATION] = {"--location", true},
    [OPT_STATUS] = {"--status", true},
    [OPT_TRACKED] = {"--tracked", true},
    [OPT_MIN_QUANTITY] = {"--min-quantity", true},
    [OPT_MAX_QUANTITY] = {"--max-quantity", true},
    [OPT_UPDATED_AFTER] = {"--updated-after", true},
    [OPT_UPDATED_BEFORE] = {"--updated-before", true},
    [OPT_SORT] = {"--sort", true},
    [OPT_AS_OF_SEQ] = {"--as-of-seq", true},
    [OPT_AS_OF] = {"--as-of", true},
    [OPT_FROM_SEQ] = {"--from-seq", true},
    [OPT_TO_SEQ] = {"--to-seq", true},
    [OPT_SINCE] = {"--since", true},
    [OPT_UNTIL] = {"--until", true},
    [OPT_FOLLOW] = {"--follow", false},
    [OPT_FORMAT] = {"--format", true},
    [OPT_OUT] = {"--out", true},
    [OPT_NO_RESTOCK] = {"--no-restock", false},
    [OPT_TRIGGER] = {"--inventory-update-trigger", true},
    [OPT_RESET_PREORDER_COUNTER] = {"--reset-preorder-counter", false},
};

/* ---- printing ---- */

/* emit prints a JSON document on stdout (and frees it); NULL means memory ran out. */
void emit(json_t *doc)
{
	if (doc == NULL) {
		fprintf(stderr,
		        "stockctl: cannot print the reply as JSON: out of memory, or a string "
		        "in it is not UTF-8 (a log written before strings were checked)\n");
		exit(EXIT_REFUSED);
	}
	json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(doc);
}

/* print_error_json: a message that quotes an argument which is not UTF-8 (or that a bound
 * cut inside a character) has each stray byte replaced by U+FFFD, since JSON strings are
 * text: else no document is printed and emit's exit 1 replaces the status of the failure. */
void print_error_json(const char *code, const char *message)
{
	size_t len = strlen(message), used = 0;
	char *text = malloc(3 * len + 1);
	for (size_t i = 0; text != NULL && i < len;) {
		size_t n = sl_utf8_len((const uint8_t *)message + i, len - i);
		if (n == 0) {
			memcpy(text + used, "\xef\xbf\xbd", 3);
			used += 3;
			i++;
			continue;
		}
		memcpy(text + used, message + i, n);
		used += n;
		i += n;
	}
	if (text != NULL)
		text[used] = '\0';
	emit(text == NULL ? NULL
	                  : json_pack("{s:{s:s, s:s, s:o}}", "error", "code", code, "message", text,
	                              "details", json_object()));
	free(text);
}

int usage_error(ctl *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "stockctl: %s\n", msg);
	if (c->cmd_name != NULL)
		fprintf(stderr, "see 'stockctl --help' for the usage of '%s'\n", c->cmd_name);
	if (c->is_json)
		print_error_json("USAGE", msg);
	return EXIT_USAGE;
}

const char *text_printable(const char *s, char *buf, size_t size)
{
	size_t used = 0;
	SL_ASSERT(size > 0);
	for (const unsigned char *p = (const unsigned char *)(s != NULL ? s : ""); *p != '\0';) {
		char esc[8];
		size_t n = 1;
		if (*p == '\n' || *p == '\r' || *p == '\t' || *p == '\\')
			snprintf(esc, sizeof(esc), "\\%c",
			         *p == '\n'   ? 'n'
			         : *p == '\r' ? 'r'
			         : *p == '\t' ? 't'
			                      : '\\');
		else if (*p < 0x20 || *p == 0x7f)
			snprintf(esc, sizeof(esc), "\\x%02x", *p);
		else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) { /* U+0080..U+009F */
			n = 2;
			snprintf(esc, sizeof(esc), "\\u%04x", p[1]);
		} else if ((n = sl_utf8_len(p, strnlen((const char *)p, 4))) == 0) {
			n = 1; /* not UTF-8 (a log written before strings were checked) */
			snprintf(esc, sizeof(esc), "\\x%02x", *p);
		} else {
			memcpy(esc, p, n); /* one character as it is */
			esc[n] = '\0';
		}
		size_t len = strlen(esc);
		if (used + len >= size)
			break;
		memcpy(buf + used, esc, len);
		used += len;
		p += n;
	}
	buf[used] = '\0';
	return buf;
}

/* key_text writes PRODUCT[/VARIANT]@LOCATION, leaving out the default variant. */
const char *key_text(const Sl__ItemKey *k, char *buf, size_t size)
{
	if (k == NULL || k->product_id == NULL) {
		snprintf(buf, size, "?");
		return buf;
	}
	bool is_default_variant =
	    k->variant_id == NULL || strcmp(k->variant_id, "") == 0 ||
	    strcmp(k->variant_id, "00000000-0000-0000-0000-000000000000") == 0;
	snprintf(buf, size, "%s%s%s@%s", k->product_id, is_default_variant ? "" : "/",
	         is_default_variant ? "" : k->variant_id, k->location_id ? k->location_id : "?");
	return buf;
}

const char *status_text(Sl__AvailabilityStatus st)
{
	switch (st) {
	case SL__AVAILABILITY_STATUS__IN_STOCK:
		return "IN_STOCK";
	case SL__AVAILABILITY_STATUS__OUT_OF_STOCK:
		return "OUT_OF_STOCK";
	case SL__AVAILABILITY_STATUS__PREORDER:
		return "PREORDER";
	default:
		return "UNKNOWN";
	}
}

/* stock_text writes "12" for a tracked state, "in stock"/"out of stock" otherwise. */
const char *stock_text(const Sl__ItemState *s, char *buf, size_t size)
{
	if (s == NULL || !s->exists)
		snprintf(buf, size, "-");
	else if (s->track_quantity)
		snprintf(buf, size, "%" PRId64, s->quantity);
	else
		snprintf(buf, size, "%s", s->in_stock ? "in stock" : "out of stock");
	return buf;
}

static void print_item_human(const Sl__ItemView *it)
{
	static const Sl__ItemState none = SL__ITEM_STATE__INIT;
	const Sl__ItemState *s = it->state != NULL ? it->state : &none;
	char key[256], stock[32], created[40], updated[40], limit[32];
	static char message[TEXT_PRINTABLE_SIZE(SL_PREORDER_MESSAGE_MAX)];
	printf("%s\n", key_text(it->key, key, sizeof(key)));
	printf("  %-12s %s%s\n", "stock", stock_text(s, stock, sizeof(stock)),
	       s->track_quantity ? " (quantity tracked)" : " (in-stock tracked)");
	printf("  %-12s %s\n", "status", status_text(it->availability_status));
	if (s->has_preorder_limit)
		snprintf(limit, sizeof(limit), "%" PRId64, s->preorder_limit);
	else
		snprintf(limit, sizeof(limit), "none");
	printf("  %-12s %s, limit %s, counter %" PRId64 "%s%s%s\n", "preorder",
	       s->preorder_enabled ? "on" : "off", limit, s->preorder_counter,
	       s->preorder_message && s->preorder_message[0] ? ", message \"" : "",
	       text_printable(s->preorder_message, message, sizeof(message)),
	       s->preorder_message && s->preorder_message[0] ? "\"" : "");
	printf("  %-12s %" PRId64 "\n", "revision", it->revision);
	printf("  %-12s %s\n", "created", sl_time_format(it->created_ms, created, sizeof(created)));
	printf("  %-12s %s\n", "updated", sl_time_format(it->updated_ms, updated, sizeof(updated)));
}

void print_items_line_human(const Sl__Result *r)
{
	for (size_t i = 0; i < r->n_items; i++) {
		const Sl__ItemView *it = r->items[i];
		char key[256], stock[32];
		printf("%-40s %12s  %-12s rev %" PRId64 "\n", key_text(it->key, key, sizeof(key)),
		       stock_text(it->state, stock, sizeof(stock)),
		       status_text(it->availability_status), it->revision);
	}
	printf("seq %" PRIu64 "%s\n", r->seq, r->replayed ? " (replayed: already applied)" : "");
}

json_t *items_json(const Sl__Result *r)
{
	json_t *a = json_array();
	for (size_t i = 0; a != NULL && i < r->n_items; i++)
		if (json_array_append_new(a, sl_json_item(r->items[i])) != 0) {
			json_decref(a);
			a = NULL;
		}
	return a;
}

/* print_refusal prints a result's error: JSON on stdout, or a line (and the shortages) on
 * stderr. Returns EXIT_REFUSED, or EXIT_UNREACHABLE for UNAVAILABLE: a service that answers
 * it is shutting down, and a script retries that as it retries one it cannot reach. */
int print_refusal(const ctl *c, const Sl__Error *err)
{
	return print_refusal_of(c, err, false);
}

int print_refusal_of(const ctl *c, const Sl__Error *err, bool is_replayed)
{
	int code = err->code != NULL && strcmp(err->code, "UNAVAILABLE") == 0 ? EXIT_UNREACHABLE
	                                                                      : EXIT_REFUSED;
	if (c->is_json) {
		json_t *o = json_pack("{s:o}", "error", sl_json_error(err));
		if (o != NULL && is_replayed)
			json_object_set_new(o, "replayed", json_true());
		emit(o);
		return code;
	}
	if (is_replayed)
		fprintf(stderr,
		        "stockctl: (replayed: the answer kept under this key, given when the "
		        "command was first decided)\n");
	fprintf(stderr, "stockctl: %s: %s\n", err->code ? err->code : "INTERNAL",
	        err->message ? err->message : "");
	for (size_t i = 0; i < err->n_shortages; i++) {
		const Sl__Shortage *sh = err->shortages[i];
		char key[256];
		fprintf(stderr, "  line %u %s: requested %" PRId64 ", available %" PRId64 "\n",
		        sh->index + 1, key_text(sh->item, key, sizeof(key)), sh->requested,
		        sh->available);
	}
	if (err->has_current_revision)
		fprintf(stderr, "  current revision %" PRId64 "\n", err->current_revision);
	return code;
}

/* ---- calling the service ---- */

/* call sends one command and returns its result in *res_out (and the response to free in
 * *resp_out), or prints why not and returns the exit status. */
/* call_bus is call over NATS JetStream (a --server nats://... url): the command goes to
 * the bus subject $STOCKLEDGER_BUS_SUBJECT (default CTL_BUS_SUBJECT_DEFAULT), where a
 * stockledger-bridge takes it (docs/bridge.md). */
static int call_bus(ctl *c, Sl__Command *cmd, Sl__Response **resp_out, Sl__Result **res_out)
{
	const char *subject = getenv("STOCKLEDGER_BUS_SUBJECT");
	if (subject == NULL || subject[0] == '\0')
		subject = CTL_BUS_SUBJECT_DEFAULT;
	static bool is_closing_registered; /* the NATS library's threads, at exit */
	if (!is_closing_registered && atexit(sl_bridge_library_close) == 0)
		is_closing_registered = true;
	Sl__Result *res = NULL;
	char why[384] = "";
	sl_err rc = sl_bridge_call(c->server, subject, cmd, CTL_TIMEOUT_MS, &res, why, sizeof(why));
	if (rc != SL_OK) {
		char msg[512];
		snprintf(msg, sizeof(msg), "cannot reach '%s': %s", c->server, why);
		fprintf(stderr, "stockctl: %s\n", msg);
		if (c->is_json)
			print_error_json(rc == SL_ERR_LIMIT_EXCEEDED     ? "LIMIT_EXCEEDED"
			                 : rc == SL_ERR_INVALID_ARGUMENT ? "USAGE" /* exit 2's */
			                                                 : "UNAVAILABLE",
			                 msg);
		if (rc == SL_ERR_INVALID_ARGUMENT)
			return EXIT_USAGE;
		return rc == SL_ERR_LIMIT_EXCEEDED ? EXIT_REFUSED : EXIT_UNREACHABLE;
	}
	if (why[0] != '\0') /* a note on a result: the views it left out (SL-Omitted) */
		fprintf(stderr, "stockctl: %s\n", why);
	if (res->error != NULL) {
		int code = print_refusal_of(c, res->error, res->replayed);
		sl__result__free_unpacked(res, NULL);
		return code;
	}
	/* the callers free a Response: wrap the result in one */
	Sl__Result *rs[1] = {res};
	Sl__Response tmp = SL__RESPONSE__INIT;
	tmp.n_results = 1;
	tmp.results = rs;
	size_t len = sl__response__get_packed_size(&tmp);
	uint8_t *buf = malloc(len > 0 ? len : 1);
	Sl__Response *resp = NULL;
	if (buf != NULL) {
		sl__response__pack(&tmp, buf);
		resp = sl__response__unpack(NULL, len, buf);
	}
	free(buf);
	sl__result__free_unpacked(res, NULL);
	if (resp == NULL) {
		fprintf(stderr, "stockctl: out of memory\n");
		if (c->is_json)
			print_error_json("UNAVAILABLE", "out of memory");
		return EXIT_UNREACHABLE;
	}
	*resp_out = resp;
	*res_out = resp->results[0];
	return 0;
}

bool is_bus_url(const char *url)
{
	return strncmp(url, "nats://", 7) == 0;
}

int call(ctl *c, Sl__Command *cmd, Sl__Response **resp_out, Sl__Result **res_out)
{
	if (is_bus_url(c->server))
		return call_bus(c, cmd, resp_out, res_out);
	sl_client *cl = NULL;
	char why[128] = "";
	sl_err rc = sl_client_open_why(c->server, CTL_TIMEOUT_MS, &cl, why, sizeof(why));
	if (rc != SL_OK) {
		char msg[384];
		snprintf(msg, sizeof(msg), "cannot reach '%s': %s", c->server, why);
		fprintf(stderr, "stockctl: %s\n", msg);
		/* a URL nng cannot use is the command line's fault: exit 2, JSON code USAGE */
		bool is_usage = rc == SL_ERR_INVALID_ARGUMENT;
		if (c->is_json)
			print_error_json(is_usage ? "USAGE" : "UNAVAILABLE", msg);
		return is_usage ? EXIT_USAGE : EXIT_UNREACHABLE;
	}
	Sl__Command *cmds[1] = {cmd};
	Sl__Request req = SL__REQUEST__INIT;
	req.n_commands = 1;
	req.commands = cmds;
	Sl__Response *resp = NULL;
	rc = sl_client_call(cl, &req, &resp);
	if (rc != SL_OK) {
		char msg[384];
		snprintf(msg, sizeof(msg), "'%s': %s", c->server, sl_client_why(cl));
		sl_client_close(cl);
		fprintf(stderr, "stockctl: %s\n", msg);
		if (rc == SL_ERR_LIMIT_EXCEEDED) {
			if (c->is_json)
				print_error_json("LIMIT_EXCEEDED", msg);
			return EXIT_REFUSED;
		}
		if (c->is_json)
			print_error_json("UNAVAILABLE", msg);
		return EXIT_UNREACHABLE;
	}
	sl_client_close(cl);
	if (resp->error == NULL && resp->n_results == 1 && resp->results[0]->views_omitted)
		fprintf(stderr,
		        "stockctl: applied; the reply carried its result without its items "
		        "and order (larger than the transport carries): read them with item "
		        "get or order get\n");
	if (resp->error != NULL || resp->n_results != 1) {
		static const Sl__Error no_result = {.code = "INTERNAL",
		                                    .message = "reply holds no result"};
		int code = print_refusal(c, resp->error != NULL ? resp->error : &no_result);
		sl__response__free_unpacked(resp, NULL);
		return code;
	}
	if (resp->results[0]->error != NULL) {
		int code = print_refusal_of(c, resp->results[0]->error, resp->results[0]->replayed);
		sl__response__free_unpacked(resp, NULL);
		return code;
	}
	*resp_out = resp;
	*res_out = resp->results[0];
	return 0;
}

void command_common(ctl *c, Sl__Command *cmd)
{
	cmd->key = (char *)c->val[OPT_KEY];
	cmd->reason = (char *)c->val[OPT_REASON];
	cmd->order_id = (char *)c->val[OPT_ORDER];
}

/* run_and_print calls the service and prints the result with print (human) or as JSON built
 * by to_json. */
int run_and_print(ctl *c, Sl__Command *cmd, void (*print)(const Sl__Result *),
                  json_t *(*to_json)(const Sl__Result *))
{
	Sl__Response *resp = NULL;
	Sl__Result *res = NULL;
	int code = call(c, cmd, &resp, &res);
	if (code != 0)
		return code;
	if (c->is_json)
		emit(to_json(res));
	else
		print(res);
	sl__response__free_unpacked(resp, NULL);
	return 0;
}

/* ---- option values ---- */

int opt_i64(ctl *c, enum opt o, int64_t *out)
{
	if (sl_parse_i64(c->val[o], out) != SL_OK)
		return usage_error(c, "%s needs an integer, not '%s'", opt_spec[o].name, c->val[o]);
	return 0;
}

int opt_bool(ctl *c, enum opt o, bool *out)
{
	if (sl_args_bool(c->val[o], out) != SL_OK)
		return usage_error(c, "%s needs true or false, not '%s'", opt_spec[o].name,
		                   c->val[o]);
	return 0;
}

int pos_item(ctl *c, int i, Sl__ItemKey *key)
{
	if (sl_args_item(c->pos[i], key) != SL_OK)
		return usage_error(c, "ITEM is PRODUCT[/VARIANT][@LOCATION], not '%s'", c->pos[i]);
	return 0;
}

/* ---- item commands ---- */

void print_item_result(const Sl__Result *r)
{
	if (r->n_items > 0)
		print_item_human(r->items[0]);
	if (r->replayed)
		printf("(replayed: already applied)\n");
}

/* item_result_json: the item; an idempotent retry adds "replayed": true, as the other
 * mutating commands do, so that a script can tell a retry from a first application. */
json_t *item_result_json(const Sl__Result *r)
{
	json_t *o = r->n_items == 0 ? json_object() : sl_json_item(r->items[0]);
	if (o != NULL && r->replayed && json_object_set_new(o, "replayed", json_true()) != 0) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

/* item_settings reads the options shared by create and update into the given fields. */
typedef struct item_settings {
	protobuf_c_boolean has_quantity, has_in_stock, has_preorder, has_limit, is_limit_none;
	int64_t quantity, limit;
	bool in_stock, preorder;
} item_settings;

static int read_item_settings(ctl *c, item_settings *s)
{
	int code = 0;
	memset(s, 0, sizeof(*s));
	if (c->given[OPT_QUANTITY] && c->given[OPT_IN_STOCK])
		return usage_error(c, "give --quantity or --in-stock, not both");
	if (c->given[OPT_QUANTITY] && (code = opt_i64(c, OPT_QUANTITY, &s->quantity)) != 0)
		return code;
	s->has_quantity = c->given[OPT_QUANTITY];
	if (c->given[OPT_IN_STOCK] && (code = opt_bool(c, OPT_IN_STOCK, &s->in_stock)) != 0)
		return code;
	s->has_in_stock = c->given[OPT_IN_STOCK];
	if (c->given[OPT_PREORDER] && (code = opt_bool(c, OPT_PREORDER, &s->preorder)) != 0)
		return code;
	s->has_preorder = c->given[OPT_PREORDER];
	if (c->given[OPT_PREORDER_LIMIT]) {
		if (strcmp(c->val[OPT_PREORDER_LIMIT], "none") == 0)
			s->is_limit_none = true;
		else if ((code = opt_i64(c, OPT_PREORDER_LIMIT, &s->limit)) != 0)
			return code;
		else
			s->has_limit = true;
	}
	return 0;
}

static int run_item_create(ctl *c)
{
	Sl__ItemKey key;
	item_settings s;
	int code;
	if ((code = pos_item(c, 0, &key)) != 0 || (code = read_item_settings(c, &s)) != 0)
		return code;
	if (!s.has_quantity && !s.has_in_stock)
		return usage_error(c, "give --quantity N or --in-stock true|false");
	Sl__CreateItem body = SL__CREATE_ITEM__INIT;
	body.item = &key;
	body.has_quantity = s.has_quantity;
	body.quantity = s.quantity;
	body.has_in_stock = s.has_in_stock;
	body.in_stock = s.in_stock;
	body.has_preorder_enabled = s.has_preorder;
	body.preorder_enabled = s.preorder;
	body.has_preorder_limit = s.has_limit;
	body.preorder_limit = s.limit;
	body.preorder_message = (char *)c->val[OPT_PREORDER_MESSAGE];
	Sl__Command cmd = SL__COMMAND__INIT;
	command_common(c, &cmd);
	cmd.body_case = SL__COMMAND__BODY_CREATE;
	cmd.create = &body;
	return run_and_print(c, &cmd, print_item_result, item_result_json);
}

static int run_item_update(ctl *c)
{
	Sl__ItemKey key;
	item_settings s;
	int64_t revision = 0;
	int code;
	if ((code = pos_item(c, 0, &key)) != 0 || (code = read_item_settings(c, &s)) != 0)
		return code;
	if (!c->given[OPT_REVISION])
		return usage_error(c, "give --revision R, the item's current revision");
	if ((code = opt_i64(c, OPT_REVISION, &revision)) != 0)
		return code;
	Sl__UpdateItem body = SL__UPDATE_ITEM__INIT;
	body.item = &key;
	body.has_revision = true;
	body.revision = revision;
	body.has_quantity = s.has_quantity;
	body.quantity = s.quantity;
	body.has_in_stock = s.has_in_stock;
	body.in_stock = s.in_stock;
	body.has_preorder_enabled = s.has_preorder;
	body.preorder_enabled = s.preorder;
	body.has_preorder_limit = s.has_limit;
	body.preorder_limit = s.limit;
	body.has_clear_preorder_limit = s.is_limit_none;
	body.clear_preorder_limit = s.is_limit_none;
	body.has_reset_preorder_counter = c->given[OPT_RESET_PREORDER_COUNTER];
	body.reset_preorder_counter = c->given[OPT_RESET_PREORDER_COUNTER];
	body.preorder_message = (char *)c->val[OPT_PREORDER_MESSAGE];
	Sl__Command cmd = SL__COMMAND__INIT;
	command_common(c, &cmd);
	cmd.body_case = SL__COMMAND__BODY_UPDATE;
	cmd.update = &body;
	return run_and_print(c, &cmd, print_item_result, item_result_json);
}

static void print_deleted(const Sl__Result *r)
{
	printf("deleted, seq %" PRIu64 "%s\n", r->seq,
	       r->replayed ? " (replayed: already applied)" : "");
}

static json_t *deleted_json(const Sl__Result *r)
{
	json_t *o = json_pack("{s:b, s:I}", "deleted", 1, "seq", (json_int_t)r->seq);
	if (o != NULL && r->replayed)
		json_object_set_new(o, "replayed", json_true());
	return o;
}

static int run_item_delete(ctl *c)
{
	Sl__ItemKey key;
	int code = pos_item(c, 0, &key);
	if (code != 0)
		return code;
	Sl__DeleteItem body = SL__DELETE_ITEM__INIT;
	body.item = &key;
	Sl__Command cmd = SL__COMMAND__INIT;
	command_common(c, &cmd);
	cmd.body_case = SL__COMMAND__BODY_DELETE;
	cmd.delete_ = &body;
	return run_and_print(c, &cmd, print_deleted, deleted_json);
}

/* ---- increment / decrement ---- */

json_t *items_seq_json(const Sl__Result *r)
{
	json_t *o = json_pack("{s:o, s:I}", "items", items_json(r), "seq", (json_int_t)r->seq);
	if (o != NULL && r->replayed)
		json_object_set_new(o, "replayed", json_true());
	return o;
}

/* read_lines parses every positional argument as a LINE into lines/keys (n_pos entries). */
static int read_lines(ctl *c, Sl__Line *lines, Sl__ItemKey *keys, Sl__Line **ptrs)
{
	for (int i = 0; i < c->n_pos; i++) {
		if (sl_args_line(c->pos[i], &lines[i], &keys[i], NULL) != SL_OK)
			return usage_error(c, "LINE is ITEM=N with N > 0, not '%s'", c->pos[i]);
		ptrs[i] = &lines[i];
	}
	return 0;
}

/* adjust runs an increment (is_decrement false) or a decrement of the positional lines. */
static int adjust(ctl *c, bool is_decrement)
{
	static Sl__Line lines[SL_LINES_MAX];
	static Sl__ItemKey keys[SL_LINES_MAX];
	static Sl__Line *ptrs[SL_LINES_MAX];
	if (c->n_pos > SL_LINES_MAX) {
		/* The service's limit, checked here because the lines are stored in fixed arrays;
		 * it is the service's refusal all the same. */
		char msg[128];
		snprintf(msg, sizeof(msg), "%d lines: at most %d lines per command", c->n_pos,
		         SL_LINES_MAX);
		Sl__Error err = SL__ERROR__INIT;
		err.code = "LIMIT_EXCEEDED";
		err.message = msg;
		return print_refusal(c, &err);
	}
	int code = read_lines(c, lines, keys, ptrs);
	if (code != 0)
		return code;
	Sl__Command cmd = SL__COMMAND__INIT;
	command_common(c, &cmd);
	Sl__Increment inc = SL__INCREMENT__INIT;
	Sl__Decrement dec = SL__DECREMENT__INIT;
	if (is_decrement) {
		dec.n_lines = (size_t)c->n_pos;
		dec.lines = ptrs;
		dec.has_restrict_inventory = c->given[OPT_RESTRICT];
		dec.restrict_inventory = c->given[OPT_RESTRICT];
		dec.has_preorder_request = c->given[OPT_PREORDER_REQUEST];
		dec.preorder_request = c->given[OPT_PREORDER_REQUEST];
		cmd.body_case = SL__COMMAND__BODY_DECREMENT;
		cmd.decrement = &dec;
	} else {
		inc.n_lines = (size_t)c->n_pos;
		inc.lines = ptrs;
		cmd.body_case = SL__COMMAND__BODY_INCREMENT;
		cmd.increment = &inc;
	}
	return run_and_print(c, &cmd, print_items_line_human, items_seq_json);
}

static int run_increment(ctl *c)
{
	return adjust(c, false);
}

static int run_decrement(ctl *c)
{
	return adjust(c, true);
}

/* ---- history and head ---- */

/* The columns of `history`: the header and every row use the same widths, so the header
 * sits over its column; BEFORE and AFTER are right-aligned (numbers), the rest left. A width
 * fits its widest value ("decremented", "out of stock", a time with milliseconds). The last
 * column is left out of a row without a reason or order (no trailing blanks). */
#define HISTORY_COLUMNS "%-6s %-8s %-24s %-11s %12s %12s%s%s\n"

void print_history(const Sl__Result *r)
{
	printf(HISTORY_COLUMNS, "ITEM#", "SEQ", "TIME", "TYPE", "BEFORE", "AFTER", "  ",
	       "REASON / ORDER");
	for (size_t i = 0; i < r->n_events; i++) {
		const Sl__Event *ev = r->events[i];
		char item_seq[24], seq[24], t[40], before[32], after[32];
		char reason[TEXT_PRINTABLE_SIZE(SL_REASON_MAX)];
		char note[sizeof(reason) + 2 * SL_ID_MAX + 80];
		static const char *const types[] = {"?",
		                                    "created",
		                                    "updated",
		                                    "deleted",
		                                    "incremented",
		                                    "decremented",
		                                    [SL__EVENT_TYPE__ORDER_LINE_CHANGED] =
		                                        "line changed"};
		const char *type =
		    (unsigned)ev->type < sizeof(types) / sizeof(types[0]) && types[ev->type] != NULL
		        ? types[ev->type]
		        : "?";
		text_printable(ev->reason, reason, sizeof(reason));
		bool has_order = ev->order_id != NULL && ev->order_id[0] != '\0';
		bool has_line = ev->order_line_id != NULL && ev->order_line_id[0] != '\0';
		snprintf(note, sizeof(note), "%s%s%s%s%s%s", reason,
		         reason[0] != '\0' && has_order ? "; " : "", has_order ? "order " : "",
		         has_order ? ev->order_id : "", has_line ? " line " : "",
		         has_line ? ev->order_line_id : "");
		snprintf(item_seq, sizeof(item_seq), "%" PRIu64, ev->item_seq);
		snprintf(seq, sizeof(seq), "%" PRIu64, ev->seq);
		printf(HISTORY_COLUMNS, item_seq, seq, sl_time_format(ev->time_ms, t, sizeof(t)),
		       type, stock_text(ev->before, before, sizeof(before)),
		       stock_text(ev->after, after, sizeof(after)), note[0] != '\0' ? "  " : "",
		       note);
	}
	if (r->has_next_item_seq)
		printf("more: --cursor %" PRIu64 "\n", r->next_item_seq);
}

json_t *history_json(const Sl__Result *r)
{
	json_t *events = json_array();
	for (size_t i = 0; events != NULL && i < r->n_events; i++)
		if (json_array_append_new(events, sl_json_event(r->events[i])) != 0) {
			json_decref(events);
			events = NULL;
		}
	json_t *cursor = json_null();
	if (r->has_next_item_seq) {
		char buf[32];
		snprintf(buf, sizeof(buf), "%" PRIu64, r->next_item_seq);
		json_decref(cursor);
		cursor = json_string(buf);
	}
	return json_pack("{s:o, s:o}", "events", events, "nextCursor", cursor);
}

static void head_hex(const Sl__Result *r, char *hex)
{
	hex[0] = '\0';
	if (r->has_head_hash && r->head_hash.len == SL_HASH_BYTES)
		sl_hex(r->head_hash.data, r->head_hash.len, hex);
}

static void print_head(const Sl__Result *r)
{
	char hex[2 * SL_HASH_BYTES + 1];
	head_hex(r, hex);
	printf("seq  %" PRIu64 "\nhash %s\n", r->seq, hex);
}

static json_t *head_json(const Sl__Result *r)
{
	char hex[2 * SL_HASH_BYTES + 1];
	head_hex(r, hex);
	return json_pack("{s:I, s:s}", "seq", (json_int_t)r->seq, "hash", hex);
}

static int run_head(ctl *c)
{
	Sl__GetHead body = SL__GET_HEAD__INIT;
	Sl__Command cmd = SL__COMMAND__INIT;
	cmd.body_case = SL__COMMAND__BODY_HEAD;
	cmd.head = &body;
	return run_and_print(c, &cmd, print_head, head_json);
}

/* ---- dispatch ---- */

static const ctl_cmd commands[] = {
    {"item", "create", run_item_create, OPTS_MUTATE | OPTS_SETTINGS, 1, 1,
     "item create ITEM (--quantity N | --in-stock true|false) [--preorder true|false]\n"
     "               [--preorder-limit N] [--preorder-message TEXT] [--reason TEXT] [--key KEY]"},
    {"item", "get", run_item_get, OPTS_AS_OF, 1, 1, "item get ITEM [--as-of-seq N | --as-of T]"},
    {"item", "update", run_item_update,
     OPTS_MUTATE | OPTS_SETTINGS | BIT(OPT_REVISION) | BIT(OPT_RESET_PREORDER_COUNTER), 1, 1,
     "item update ITEM --revision R [--quantity N | --in-stock true|false]\n"
     "               [--preorder true|false] [--preorder-limit N|none] [--preorder-message TEXT]\n"
     "               [--reset-preorder-counter] [--reason TEXT] [--key KEY]"},
    {"item", "delete", run_item_delete, OPTS_MUTATE, 1, 1,
     "item delete ITEM [--reason TEXT] [--key KEY]"},
    {"increment", NULL, run_increment, OPTS_MUTATE | BIT(OPT_ORDER), 1, 1 << 20,
     "increment LINE... [--reason TEXT] [--order ID] [--key KEY]"},
    {"decrement", NULL, run_decrement,
     OPTS_MUTATE | BIT(OPT_ORDER) | BIT(OPT_RESTRICT) | BIT(OPT_PREORDER_REQUEST), 1, 1 << 20,
     "decrement LINE... [--restrict] [--preorder-request] [--reason TEXT] [--order ID]\n"
     "               [--key KEY]"},
    {"history", NULL, run_history, OPTS_HISTORY, 1, 1,
     "history ITEM [--from-seq N] [--to-seq N] [--since T] [--until T] [--limit N] [--cursor C]"},
    {"head", NULL, run_head, 0, 0, 0, "head"},
    /* orders: tools/stockctl_orders.c */
    {"settings", "get", run_settings_get, 0, 0, 0, "settings get"},
    {"settings", "set", run_settings_set, BIT(OPT_TRIGGER) | OPTS_MUTATE, 0, 0,
     "settings set --inventory-update-trigger ON_ORDER_PLACED|ON_ORDER_PAID [--key KEY]"},
    {"order", "place", run_order_place, OPTS_MUTATE, 2, 1 << 20,
     "order place ORDER OLINE... [--key KEY]   OLINE is [LINE_ID:]ITEM=N"},
    {"order", "pay", run_order_pay, OPTS_MUTATE, 1, 1, "order pay ORDER [--key KEY]"},
    {"order", "payment-failed", run_order_payment_failed, OPTS_MUTATE, 1, 1,
     "order payment-failed ORDER [--key KEY]"},
    {"order", "cancel", run_order_cancel, OPTS_MUTATE | BIT(OPT_NO_RESTOCK), 1, 1,
     "order cancel ORDER [--no-restock] [--key KEY]"},
    {"order", "refund", run_order_refund, OPTS_MUTATE | BIT(OPT_NO_RESTOCK), 2, 1 << 20,
     "order refund ORDER LINE_ID=N... [--no-restock] [--key KEY]"},
    {"order", "edit", run_order_edit, OPTS_MUTATE, 2, 1 << 20,
     "order edit ORDER OLINE... [--key KEY]    the complete new set of lines"},
    {"order", "get", run_order_get, 0, 1, 1, "order get ORDER"},
    {"order", "holds", run_order_holds, 0, 1, 1,
     "order holds ITEM                         the open orders holding ITEM"},
    /* audit (issue 4): tools/stockctl_audit.c, tools/stockctl_chart.c */
    {"query", NULL, run_query, OPTS_QUERY, 0, 0,
     "query [--product P] [--variant V] [--location L] [--status S] [--tracked true|false]\n"
     "               [--min-quantity N] [--max-quantity N] [--updated-after T]\n"
     "               [--updated-before T] [--sort FIELD:asc|desc] [--limit N] [--cursor C]\n"
     "               [--as-of-seq N | --as-of T]   (P, V, L: ID, ID1,ID2,... or PREFIX*)"},
    {"explain", NULL, run_explain, 0, 1, 1, "explain ITEM"},
    {"events", NULL, run_events, BIT(OPT_FROM_SEQ) | BIT(OPT_FOLLOW) | BIT(OPT_LIMIT), 0, 0,
     "events [--from-seq N] [--follow] [--limit N]"},
    {"export", NULL, run_export,
     BIT(OPT_FROM_SEQ) | BIT(OPT_TO_SEQ) | BIT(OPT_FORMAT) | BIT(OPT_OUT), 0, 0,
     "export [--from-seq N] [--to-seq N] [--format jsonl|csv] [--out FILE]"},
    {"chart", NULL, run_chart, BIT(OPT_OUT) | BIT(OPT_SINCE) | BIT(OPT_UNTIL), 1, 1,
     "chart ITEM --out FILE.svg [--since T] [--until T]"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: stockctl [--server URL] [--json] COMMAND ...\n"
	           "  URL defaults to $STOCKLEDGER_SERVER, then " CTL_SERVER_DEFAULT "\n"
	           "  a nats://HOST:PORT URL goes through a stockledger-bridge (subject\n"
	           "  $STOCKLEDGER_BUS_SUBJECT, default " CTL_BUS_SUBJECT_DEFAULT ")\n"
	           "  ITEM is PRODUCT[/VARIANT][@LOCATION]; LINE is ITEM=N with N > 0\n\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %s\n", commands[i].synopsis);
	fprintf(f, "\nexit status: 0 done, 1 refused by the service, 2 bad command line, "
	           "3 service unreachable\n");
}

/* parse_opts sorts argv[from..] into options and positionals; an option not allowed by
 * cmd is a usage error. --json and --server are accepted anywhere. */
static int parse_opts(ctl *c, const ctl_cmd *cmd, int argc, char **argv, int from)
{
	c->pos = calloc((size_t)argc, sizeof(char *));
	if (c->pos == NULL)
		return usage_error(c, "out of memory");
	for (int i = from; i < argc; i++) {
		char *a = argv[i];
		if (strcmp(a, "--json") == 0) {
			c->is_json = true;
			continue;
		}
		if (strcmp(a, "--server") == 0) {
			if (i + 1 >= argc)
				return usage_error(c, "--server needs a value");
			c->server = argv[++i];
			continue;
		}
		if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
			c->pos[c->n_pos++] = a;
			continue;
		}
		int o = 0;
		while (o < OPT_COUNT_ && strcmp(a, opt_spec[o].name) != 0)
			o++;
		if (o == OPT_COUNT_ || (cmd->opts & BIT(o)) == 0)
			return usage_error(c, "unknown option '%s'", a);
		if (c->given[o])
			return usage_error(c, "option '%s' given twice", a);
		c->given[o] = true;
		if (opt_spec[o].has_value) {
			if (i + 1 >= argc)
				return usage_error(c, "%s needs a value", a);
			c->val[o] = argv[++i];
		}
	}
	if (c->n_pos < cmd->pos_min)
		return usage_error(
		    c, "'%s' needs %s", c->cmd_name,
		    strcmp(cmd->word1, "order") == 0 && strcmp(cmd->word2, "holds") != 0
		        ? (cmd->pos_min > 1 ? "ORDER and at least one line" : "ORDER")
		    : cmd->pos_max > 1 ? "at least one LINE"
		                       : "an ITEM");
	if (c->n_pos > cmd->pos_max)
		return usage_error(c, "unexpected argument '%s'", c->pos[cmd->pos_max]);
	return 0;
}

int main(int argc, char **argv)
{
	ctl c = {0};
	const char *env = getenv("STOCKLEDGER_SERVER");
	c.server = env != NULL && env[0] != '\0' ? env : CTL_SERVER_DEFAULT;
	int i = 1;
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--json") == 0) {
			c.is_json = true;
		} else if (strcmp(argv[i], "--server") == 0 && i + 1 < argc) {
			c.server = argv[++i];
		} else {
			usage(stderr);
			return usage_error(&c, "unknown option '%s'", argv[i]);
		}
	}
	if (i >= argc) {
		usage(stderr);
		return usage_error(&c, "no command given");
	}
	const ctl_cmd *cmd = NULL;
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]) && cmd == NULL; k++) {
		const ctl_cmd *cand = &commands[k];
		if (strcmp(argv[i], cand->word1) != 0)
			continue;
		if (cand->word2 == NULL || (i + 1 < argc && strcmp(argv[i + 1], cand->word2) == 0))
			cmd = cand;
	}
	if (cmd == NULL) {
		usage(stderr);
		return usage_error(&c, "unknown command '%s%s%s'", argv[i], i + 1 < argc ? " " : "",
		                   i + 1 < argc ? argv[i + 1] : "");
	}
	char name[64];
	snprintf(name, sizeof(name), "%s%s%s", cmd->word1, cmd->word2 ? " " : "",
	         cmd->word2 ? cmd->word2 : "");
	c.cmd_name = name;
	int code = parse_opts(&c, cmd, argc, argv, i + (cmd->word2 ? 2 : 1));
	if (code == 0)
		code = cmd->run(&c);
	free(c.pos);
	return code;
}

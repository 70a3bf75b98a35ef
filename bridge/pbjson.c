/*
 * pbjson.c: protobuf messages as JSON, by their descriptors (see pbjson.h).
 *
 * Parsing builds the message the way protobuf-c's unpack does (every string, array and
 * nested message on the heap, the rest in place), so protobuf_c_message_free_unpacked frees
 * it, also when parsing stops half way.
 */
#include "bridge/pbjson.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/banned.h"
#include "base/sl_limits.h"
#include "base/sl_util.h"

/* json_name writes the lowerCamelCase form of a snake_case field name into out. */
static void json_name(const char *name, char *out, size_t size)
{
	size_t n = 0;
	bool is_upper = false;
	for (const char *p = name; *p != '\0' && n + 1 < size; p++) {
		if (*p == '_') {
			is_upper = true;
			continue;
		}
		out[n++] = is_upper && *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
		is_upper = false;
	}
	out[n] = '\0';
}

static const ProtobufCFieldDescriptor *field_by_json_name(const ProtobufCMessageDescriptor *d,
                                                          const char *key)
{
	for (unsigned i = 0; i < d->n_fields; i++) {
		char jn[128];
		json_name(d->fields[i].name, jn, sizeof(jn));
		if (strcmp(jn, key) == 0 || strcmp(d->fields[i].name, key) == 0)
			return &d->fields[i];
	}
	return NULL;
}

static size_t value_size(ProtobufCType type)
{
	switch (type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return 8;
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_FLOAT:
		return sizeof(float);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_ENUM:
		return sizeof(int);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	default:
		return 4; /* the 32-bit integers */
	}
}

typedef struct parse_ctx {
	char *why;
	size_t why_size;
	const char *where; /* the message being parsed, for messages */
	const char *field; /* the field being parsed */
} parse_ctx;

static bool fail(parse_ctx *c, const char *what)
{
	snprintf(c->why, c->why_size, "%s '%s' in %s", what, c->field, c->where);
	return false;
}

/* integer_of reads v (a JSON integer, an integral real, or a decimal string) into *out. */
static bool integer_of(const json_t *v, bool is_unsigned, int64_t *out, uint64_t *uout)
{
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		if (is_unsigned && i < 0)
			return false;
		*out = (int64_t)i;
		*uout = (uint64_t)i;
		return true;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);
		if (!(d >= -9007199254740992.0 && d <= 9007199254740992.0) ||
		    (double)(int64_t)d != d || (is_unsigned && d < 0))
			return false;
		*out = (int64_t)d;
		*uout = (uint64_t)*out;
		return true;
	}
	if (!json_is_string(v))
		return false;
	const char *s = json_string_value(v);
	char *end = NULL;
	/* digits only (and a leading minus for the signed types): strtoll and strtoull would
	 * also take spaces, a plus, and a minus that wraps an unsigned value */
	const char *digits = !is_unsigned && *s == '-' ? s + 1 : s;
	if (*digits < '0' || *digits > '9')
		return false;
	errno = 0;
	if (is_unsigned) {
		unsigned long long u = strtoull(s, &end, 10);
		*uout = u;
		*out = (int64_t)u;
	} else {
		long long i = strtoll(s, &end, 10);
		*out = i;
		*uout = (uint64_t)i;
	}
	return errno == 0 && end != NULL && *end == '\0';
}

static bool parse_message(parse_ctx *c, const ProtobufCMessageDescriptor *d, const json_t *obj,
                          ProtobufCMessage **out, int depth);

/* parse_value reads v as one value of field f into slot (its place in the message or in
 * the array of a repeated field). */
static bool parse_value(parse_ctx *c, const ProtobufCFieldDescriptor *f, const json_t *v,
                        void *slot, int depth)
{
	int64_t i = 0;
	uint64_t u = 0;
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		if (!integer_of(v, false, &i, &u) || i < INT32_MIN || i > INT32_MAX)
			return fail(c, "not a 32-bit integer:");
		*(int32_t *)slot = (int32_t)i;
		return true;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		if (!integer_of(v, true, &i, &u) || u > UINT32_MAX)
			return fail(c, "not an unsigned 32-bit integer:");
		*(uint32_t *)slot = (uint32_t)u;
		return true;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		if (!integer_of(v, false, &i, &u))
			return fail(c, "not a 64-bit integer:");
		*(int64_t *)slot = i;
		return true;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		if (!integer_of(v, true, &i, &u))
			return fail(c, "not an unsigned 64-bit integer:");
		*(uint64_t *)slot = u;
		return true;
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		if (!json_is_number(v))
			return fail(c, "not a number:");
		if (f->type == PROTOBUF_C_TYPE_FLOAT)
			*(float *)slot = (float)json_number_value(v);
		else
			*(double *)slot = json_number_value(v);
		return true;
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_is_boolean(v))
			return fail(c, "not true or false:");
		*(protobuf_c_boolean *)slot = json_is_true(v);
		return true;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumValue *ev = NULL;
		if (json_is_string(v))
			ev = protobuf_c_enum_descriptor_get_value_by_name(f->descriptor,
			                                                  json_string_value(v));
		else if (integer_of(v, false, &i, &u) && i >= INT32_MIN && i <= INT32_MAX)
			ev = protobuf_c_enum_descriptor_get_value(f->descriptor, (int)i);
		if (ev == NULL)
			return fail(c, "no value of the enum:");
		*(int *)slot = ev->value;
		return true;
	}
	case PROTOBUF_C_TYPE_STRING: {
		if (!json_is_string(v))
			return fail(c, "not a string:");
		char *s = strdup(json_string_value(v));
		if (s == NULL)
			return fail(c, "out of memory at");
		*(char **)slot = s;
		return true;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const char *where = c->where, *field = c->field;
		bool ok = parse_message(c, f->descriptor, v, (ProtobufCMessage **)slot, depth + 1);
		if (ok) { /* a failure keeps naming where it failed */
			c->where = where;
			c->field = field;
		}
		return ok;
	}
	default:
		return fail(c, "bytes are not read from JSON:");
	}
}

/* parse_field reads v into field f of msg. */
static bool parse_field(parse_ctx *c, ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f,
                        const json_t *v, int depth)
{
	char *base = (char *)msg;
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		if (!json_is_array(v))
			return fail(c, "not an array:");
		if (*(size_t *)(base + f->quantifier_offset) > 0 ||
		    *(void **)(base + f->offset) != NULL)
			return fail(c, "a field given twice:");
		size_t n = json_array_size(v), size = value_size(f->type);
		if (n > SL_JSON_ARRAY_MAX)
			return fail(c, "too many elements in");
		if (n == 0)
			return true;
		void *arr = calloc(n, size);
		if (arr == NULL)
			return fail(c, "out of memory at");
		/* owned by the message from here on, so that a failure below frees it */
		*(void **)(base + f->offset) = arr;
		for (size_t k = 0; k < n; k++) {
			/* counted first: what a failed element allocated is freed with the rest */
			*(size_t *)(base + f->quantifier_offset) = k + 1;
			if (!parse_value(c, f, json_array_get(v, k), (char *)arr + k * size, depth))
				return false;
		}
		return true;
	}
	if (json_is_null(v))
		return true; /* absent */
	if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0) {
		uint32_t *which = (uint32_t *)(base + f->quantifier_offset);
		if (*which != 0)
			return fail(c, "a second member of a oneof:");
		*which = f->id; /* first: what a failed member allocated is freed with the rest */
		return parse_value(c, f, v, base + f->offset, depth);
	}
	if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE) {
		void **slot = (void **)(base + f->offset);
		if (*slot != NULL && *slot != f->default_value)
			return fail(c, "a field given twice:");
		return parse_value(c, f, v, slot, depth);
	}
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL) {
		protobuf_c_boolean *has = (protobuf_c_boolean *)(base + f->quantifier_offset);
		if (*has)
			return fail(c, "a field given twice:");
		*has = 1;
	}
	return parse_value(c, f, v, base + f->offset, depth);
}

static bool parse_message(parse_ctx *c, const ProtobufCMessageDescriptor *d, const json_t *obj,
                          ProtobufCMessage **out, int depth)
{
	if (depth > SL_JSON_DEPTH_MAX)
		return fail(c, "nested too deeply at");
	if (!json_is_object(obj))
		return fail(c, "not an object:");
	ProtobufCMessage *msg = calloc(1, d->sizeof_message);
	if (msg == NULL)
		return fail(c, "out of memory at");
	protobuf_c_message_init(d, msg);
	*out = msg;
	c->where = d->name;
	const char *key;
	const json_t *v;
	/* which fields were named, under either spelling: the value need not leave a trace (an
	 * empty array, a null), so a field named twice is caught by its name, not its value */
	bool *is_named = calloc(d->n_fields > 0 ? d->n_fields : 1, sizeof(*is_named));
	if (is_named == NULL)
		return fail(c, "out of memory at");
	bool ok = true;
	json_object_foreach((json_t *)obj, key, v)
	{
		c->field = key;
		c->where = d->name;
		const ProtobufCFieldDescriptor *f = field_by_json_name(d, key);
		if (f == NULL) {
			ok = fail(c, "unknown field");
			break;
		}
		size_t fi = (size_t)(f - d->fields);
		if (is_named[fi]) {
			ok = fail(c, "a field given twice:");
			break;
		}
		is_named[fi] = true;
		if (!(ok = parse_field(c, msg, f, v, depth)))
			break;
	}
	free(is_named);
	return ok;
}

ProtobufCMessage *sl_pbjson_parse(const ProtobufCMessageDescriptor *desc, const char *text,
                                  size_t len, char *why, size_t why_size)
{
	json_error_t jerr;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		snprintf(why, why_size, "not JSON: %s (line %d, column %d)", jerr.text, jerr.line,
		         jerr.column);
		return NULL;
	}
	parse_ctx c = {.why = why, .why_size = why_size, .where = desc->name, .field = ""};
	ProtobufCMessage *msg = NULL;
	bool ok = parse_message(&c, desc, root, &msg, 0);
	json_decref(root);
	if (!ok && msg != NULL) {
		protobuf_c_message_free_unpacked(msg, NULL);
		msg = NULL;
	}
	return msg;
}

/* ---- printing ---- */

static json_t *print_message(const ProtobufCMessage *msg);

static json_t *int64_json(int64_t v)
{
	if (v > 9007199254740992LL || v < -9007199254740992LL) {
		char s[24];
		snprintf(s, sizeof(s), "%" PRId64, v);
		return json_string(s);
	}
	return json_integer((json_int_t)v);
}

static json_t *uint64_json(uint64_t v)
{
	if (v > 9007199254740992ULL) {
		char s[24];
		snprintf(s, sizeof(s), "%" PRIu64, v);
		return json_string(s);
	}
	return json_integer((json_int_t)v);
}

static json_t *base64_json(const ProtobufCBinaryData *b)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = (b->len + 2) / 3 * 4;
	char *s = malloc(n + 1);
	if (s == NULL)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < b->len; i += 3) {
		uint32_t w = (uint32_t)b->data[i] << 16;
		if (i + 1 < b->len)
			w |= (uint32_t)b->data[i + 1] << 8;
		if (i + 2 < b->len)
			w |= b->data[i + 2];
		s[o++] = tab[(w >> 18) & 63];
		s[o++] = tab[(w >> 12) & 63];
		s[o++] = i + 1 < b->len ? tab[(w >> 6) & 63] : '=';
		s[o++] = i + 2 < b->len ? tab[w & 63] : '=';
	}
	s[o] = '\0';
	json_t *j = json_string(s);
	free(s);
	return j;
}

/* utf8_json: s as a JSON string, each byte that is not part of valid UTF-8 replaced by
 * U+FFFD (a string stored by a protobuf client, or a message cut mid-character); jansson
 * refuses invalid UTF-8. */
static json_t *utf8_json(const char *s)
{
	if (s == NULL)
		return json_string("");
	json_t *j = json_string(s);
	if (j != NULL)
		return j;
	size_t n = strlen(s);
	char *clean = malloc(n * 3 + 1);
	if (clean == NULL)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		size_t len = sl_utf8_len((const uint8_t *)s + i, n - i);
		if (len == 0) {
			memcpy(clean + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		} else {
			memcpy(clean + o, s + i, len);
			o += len;
			i += len;
		}
	}
	clean[o] = '\0';
	j = json_string(clean);
	free(clean);
	return j;
}

static json_t *print_value(const ProtobufCFieldDescriptor *f, const void *slot)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return json_integer(*(const int32_t *)slot);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return json_integer(*(const uint32_t *)slot);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return int64_json(*(const int64_t *)slot);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return uint64_json(*(const uint64_t *)slot);
	case PROTOBUF_C_TYPE_FLOAT:
		return json_real(*(const float *)slot);
	case PROTOBUF_C_TYPE_DOUBLE:
		return json_real(*(const double *)slot);
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *)slot);
	case PROTOBUF_C_TYPE_ENUM: {
		int v = *(const int *)slot;
		const ProtobufCEnumValue *ev =
		    protobuf_c_enum_descriptor_get_value(f->descriptor, v);
		return ev != NULL ? json_string(ev->name) : json_integer(v);
	}
	case PROTOBUF_C_TYPE_STRING:
		return utf8_json(*(char *const *)slot);
	case PROTOBUF_C_TYPE_BYTES:
		return base64_json(slot);
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *m = *(ProtobufCMessage *const *)slot;
		return m != NULL ? print_message(m) : json_null();
	}
	default:
		return NULL;
	}
}

/* is_set: does msg carry field f (an absent optional, an empty repeated field, another
 * member of its oneof, a NULL string or message are not printed)? */
static bool is_set(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
	const char *base = (const char *)msg;
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return *(const size_t *)(base + f->quantifier_offset) > 0;
	if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0)
		return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
	if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE)
		return *(void *const *)(base + f->offset) != NULL;
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL)
		return *(const protobuf_c_boolean *)(base + f->quantifier_offset) != 0;
	return true;
}

static json_t *print_message(const ProtobufCMessage *msg)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;
	const char *base = (const char *)msg;
	json_t *obj = json_object();
	for (unsigned i = 0; obj != NULL && i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (!is_set(msg, f))
			continue;
		json_t *v;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			const char *arr = *(char *const *)(base + f->offset);
			v = json_array();
			for (size_t k = 0; v != NULL && k < n; k++)
				if (json_array_append_new(
				        v, print_value(f, arr + k * value_size(f->type))) != 0) {
					json_decref(v);
					v = NULL;
				}
		} else {
			v = print_value(f, base + f->offset);
		}
		char jn[128];
		json_name(f->name, jn, sizeof(jn));
		if (v == NULL || json_object_set_new(obj, jn, v) != 0) {
			json_decref(obj);
			obj = NULL;
		}
	}
	return obj;
}

char *sl_pbjson_print(const ProtobufCMessage *msg)
{
	json_t *obj = print_message(msg);
	if (obj == NULL)
		return NULL;
	char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(obj);
	return s;
}

/*
 * sl_pbtext.c: the text check of sl_pbtext.h. It walks the wire format with the generated
 * descriptors, so it follows every message the proto file defines without a list of fields,
 * and it runs after protobuf-c accepted the message (a malformed one is the decoder's to
 * refuse), bounded by SL_PBTEXT_DEPTH_MAX.
 */
#include "base/sl_pbtext.h"

#include <ctype.h>

#include "base/banned.h"
#include "base/sl_util.h"

bool sl_pbtext_skip(const uint8_t **p, const uint8_t *end, uint64_t wt, const uint8_t **body,
                    size_t *body_len)
{
	uint64_t n;
	switch (wt) {
	case 0:
		return sl_varint_read(p, end, &n);
	case 1:
	case 5:
		n = wt == 1 ? 8 : 4;
		if (n > (uint64_t)(end - *p))
			return false;
		*p += n;
		return true;
	case 2:
		if (!sl_varint_read(p, end, &n) || n > (uint64_t)(end - *p))
			return false;
		*body = *p;
		*body_len = (size_t)n;
		*p += n;
		return true;
	default:
		return false; /* groups: protobuf-c refuses them */
	}
}

/* bad_field: the first string field of the message at p whose bytes are not text. */
static const ProtobufCFieldDescriptor *bad_field(const ProtobufCMessageDescriptor *d,
                                                 const uint8_t *p, size_t len, int depth)
{
	const uint8_t *end = p + len;
	while (p < end) {
		uint64_t tag;
		const uint8_t *body = NULL;
		size_t body_len = 0;
		if (!sl_varint_read(&p, end, &tag) ||
		    !sl_pbtext_skip(&p, end, tag & 7, &body, &body_len))
			return NULL;
		if (body == NULL || tag >> 3 > UINT32_MAX)
			continue;
		const ProtobufCFieldDescriptor *f =
		    protobuf_c_message_descriptor_get_field(d, (unsigned)(tag >> 3));
		const ProtobufCFieldDescriptor *bad = NULL;
		if (f != NULL && f->type == PROTOBUF_C_TYPE_STRING &&
		    !sl_text_is_valid(body, body_len))
			bad = f;
		else if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE &&
		         depth < SL_PBTEXT_DEPTH_MAX)
			bad = bad_field(f->descriptor, body, body_len, depth + 1);
		if (bad != NULL)
			return bad;
	}
	return NULL;
}

bool sl_pbtext_check(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len, char *field,
                     size_t field_size)
{
	const ProtobufCFieldDescriptor *bad = bad_field(d, p, len, 0);
	if (bad == NULL)
		return true;
	size_t o = 0;
	for (const char *c = bad->name; *c != '\0' && o + 1 < field_size; c++) {
		if (*c == '_' && c[1] != '\0')
			field[o++] = (char)toupper((unsigned char)*++c);
		else
			field[o++] = *c;
	}
	if (field_size > 0)
		field[o] = '\0';
	return false;
}

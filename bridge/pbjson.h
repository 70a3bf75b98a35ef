/*
 * pbjson.h: JSON bodies on the bus (docs/bridge.md, "JSON bodies"). A message of
 * proto/stockledger.proto as a JSON object, driven by protobuf-c's descriptors, in the shape
 * of protobuf's JSON mapping: field names in lowerCamelCase (the .proto's snake_case names
 * are accepted too), enums by name (or number), a repeated field as an array, a nested
 * message as an object, one member of a oneof at most. 64-bit integers are read from a
 * number or a decimal string and written as numbers (as strings past 2^53, where a double
 * would round them). Bytes are written in base64 and not read (no command has any).
 */
#ifndef SL_BRIDGE_PBJSON_H
#define SL_BRIDGE_PBJSON_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

/* sl_pbjson_parse reads text (len bytes) as a message of desc. Returns the message, to be
 * freed with protobuf_c_message_free_unpacked(msg, NULL), or NULL with why set ("unknown
 * field 'x' in sl.Decrement", "not JSON: ...", ...). Nesting deeper than
 * SL_JSON_DEPTH_MAX is refused. */
ProtobufCMessage *sl_pbjson_parse(const ProtobufCMessageDescriptor *desc, const char *text,
                                  size_t len, char *why, size_t why_size);

/* sl_pbjson_print writes msg as a compact JSON object (the fields that are set) into a new
 * string (free with free), or returns NULL when out of memory. */
char *sl_pbjson_print(const ProtobufCMessage *msg);

#endif

/*
 * sl_pbtext.h: the strings of an encoded protobuf message, checked as text on the wire.
 * protobuf-c hands strings over as C strings, so a string with a NUL inside ("a\0b") arrives
 * cut short ("a") and one that is not UTF-8 arrives as it is; both must be refused before
 * they are read as ids, keys or reasons, and that can only be seen in the encoding, where
 * each string's length is still known. Used by the gateway (each command of a Request) and
 * by the bridge (each command message).
 */
#ifndef SL_PBTEXT_H
#define SL_PBTEXT_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Nesting followed at most (the service's messages are a few levels deep). */
#define SL_PBTEXT_DEPTH_MAX 16

/* sl_pbtext_check walks the encoding p[0..len) of a message of descriptor d and returns
 * false if a string field, at any depth, is not UTF-8 or holds a NUL, writing its name as
 * clients spell it (lowerCamelCase: "productId") into field. A message that does not parse
 * is left to the decoder (true). */
bool sl_pbtext_check(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len, char *field,
                     size_t field_size);

/* sl_pbtext_skip steps *p (before end) over one field of wire type wt (0, 1, 2 or 5); for a
 * length-delimited one it sets *body and *body_len to its bytes. false at any other wire
 * type or when the field is cut short. */
bool sl_pbtext_skip(const uint8_t **p, const uint8_t *end, uint64_t wt, const uint8_t **body,
                    size_t *body_len);

#endif

/*
 * streams.h: creating the bridge's JetStream streams, for the bridge and for the programs
 * that set up streams the way it does (its test, its benchmark). Apart from bridge.h so that
 * the bridge's API does not carry the NATS headers.
 */
#ifndef SL_BRIDGE_STREAMS_H
#define SL_BRIDGE_STREAMS_H

#include <nats/nats.h>
#include <stddef.h>
#include <stdint.h>

#include "base/sl_err.h"

/* sl_bridge_stream_add creates the file-stored stream name over subject with retention and a
 * duplicate window of duplicates_ns (0: JetStream's default of 2 minutes), into *out when out
 * is not NULL (jsStreamInfo_Destroy it). SL_ERR_UNAVAILABLE with why filled if JetStream
 * refuses (one of that name exists, say). */
sl_err sl_bridge_stream_add(jsCtx *js, const char *name, const char *subject,
                            jsRetentionPolicy retention, int64_t duplicates_ns, jsStreamInfo **out,
                            char *why, size_t why_size);

#endif

/*
 * sl_limits.h: every bound of the service, in one place (SQLite's sqliteLimit.h, TigerBeetle).
 * Exceeding one is an error returned to the caller, never a crash or silent growth.
 */
#ifndef SL_LIMITS_H
#define SL_LIMITS_H

/* Ids: productId, variantId, locationId, orderId, line ids (bytes, printable ASCII). */
#define SL_ID_MAX 64
/* Idempotency keys given by clients. */
#define SL_KEY_MAX 128
/* Free-text reason recorded on events. */
#define SL_REASON_MAX 256
/* Preorder message shown to buyers. */
#define SL_PREORDER_MESSAGE_MAX 1024

/* Quantity range of a quantity-tracked item (Wix V3: minimum -100000, maximum 1000000). */
#define SL_QUANTITY_MIN (-100000LL)
#define SL_QUANTITY_MAX 1000000LL
/* Largest single line of an increment/decrement and largest preorder limit. */
#define SL_LINE_QUANTITY_MAX (SL_QUANTITY_MAX - SL_QUANTITY_MIN)
#define SL_PREORDER_LIMIT_MAX SL_QUANTITY_MAX

/* Lines of one increment or decrement command (Wix: "up to 300 items per request"). */
#define SL_LINES_MAX 300
/* Commands carried by one request envelope (client coalescing). */
#define SL_REQUEST_COMMANDS_MAX 512
/* Largest request the gateway accepts; the transport drops anything over the hard cap. */
#define SL_REQUEST_BYTES_MAX (1u << 20)
#define SL_TRANSPORT_BYTES_MAX (8u << 20)
/* Rows the reads of one request may return together (gw_command_read_rows: four full pages):
 * reads run on the transport's threads, so a request of 500 history pages must not hold one
 * for seconds and its reply hundreds of MiB; the commands past the bound are refused BUSY
 * (to be sent again in another request), the ones before it answered. */
#define SL_REQUEST_READ_ROWS_MAX 4000

/* Commands waiting for the writer; a full queue answers BUSY. */
#define SL_QUEUE_COMMANDS_MAX 8192
/* Commands decided and committed together in one WriteBatch with one WAL sync. */
#define SL_GROUP_COMMANDS_MAX 1024
/* Events of one group: bounds the batch and the overlay of the writer. */
#define SL_GROUP_EVENTS_MAX (SL_GROUP_COMMANDS_MAX * 4 + SL_LINES_MAX)
/* Committed groups whose secondary index rows may wait for the index thread (each a batch
 * of at most 4 rows per event of the group): the writer waits when that many are pending. */
#define SL_INDEX_GROUPS_MAX 8
/* Concurrent requests the gateway serves (nng contexts). Well over the clients one service
 * expects to be writing at once: a context holds its request until the reply, so with 64
 * contexts and 64 writing clients a read waited for a write group to free one (bench: read
 * p50 under the single workload went from 0.95 ms to 0.25 ms with 256). */
#define SL_GATEWAY_CONTEXTS 256
/* How long gw_server_stop waits for nng to close the socket before it leaves the close to
 * finish (or not) on its own thread: nng 1.5.2 can block in nng_close forever when a client
 * connects while the socket closes (see gateway/server.c). */
#define SL_SERVER_CLOSE_MS_MAX 5000

/* Events in one page of history. */
#define SL_HISTORY_PAGE_MAX 1000
#define SL_HISTORY_PAGE_DEFAULT 100

/* ---- audit (issue 4): queries, point in time, explain, change feed ---- */
/* Distinct items whose views one ledger transaction stages (index maintenance). */
#define SL_TXN_VIEWS_MAX (1 << 20)
/* Items in one page of a query (Wix V3: "up to 1,000 inventory items"); default page. */
#define SL_QUERY_PAGE_MAX 1000
#define SL_QUERY_PAGE_DEFAULT 100
/* Values of one `in` filter, and index rows a query page may examine before it returns
 * what it has with a cursor (bounds a page's work when filters are selective). */
#define SL_QUERY_IN_MAX 100
#define SL_QUERY_SCAN_MAX 100000
/* Rows of a hot index (in memory, ledger/memindex.h) one page may examine: a page copies
 * the keys it examines out of the index under one read lock, so this bounds how long the
 * index thread may wait for it (0.7 to 1.2 ms to copy 8,192 keys out of a tree of two million,
 * measured); past it the page returns what it has with a cursor, as at SL_QUERY_SCAN_MAX. */
#define SL_QUERY_HOT_SCAN_MAX 8192
_Static_assert(SL_QUERY_HOT_SCAN_MAX <= SL_QUERY_SCAN_MAX, "a hot scan is a scan");
_Static_assert(SL_QUERY_HOT_SCAN_MAX > SL_QUERY_PAGE_MAX, "a full page fits a hot scan");
/* Events the change feed returns per call, how long a call may wait for new events, and
 * how many calls may wait at once. */
#define SL_FEED_PAGE_MAX 1000
#define SL_FEED_WAIT_MS_MAX 5000
/* (fewer than the contexts: parked reads must leave contexts for everything else) */
#define SL_FEED_WAITERS_MAX 64
/* Events explain reads back from the latest, and adjustment groups it reports. */
#define SL_EXPLAIN_EVENTS_MAX 1000000
#define SL_EXPLAIN_GROUPS_MAX 1000
/* Cursor text of a query page: hex of a version, a pinned seq, a mode and an index key. */
#define SL_CURSOR_MAX 1024
/* ---- bench: client pipelining and coalescing (client/mux.h) ---- */
/* Requests one client connection keeps in flight (nng REQ contexts). */
/* How long a client waits for its socket to close (client/close.h: nng 1.5.2's close race). */
#define SL_CLIENT_CLOSE_MS_MAX 5000
#define SL_CLIENT_CONTEXTS_MAX 256
#define SL_CLIENT_CONTEXTS_DEFAULT 8
/* Commands submitted to a client and not yet sent; more answer BUSY. */
#define SL_CLIENT_PENDING_MAX 16384

/* ---- rebuild (projector/rebuild.c) ---- */
/* Memory the rebuild's fold of the item views may hold: compact views with their keys and
 * preorder messages, and the hash table over them. Past it the fold writes its views to the
 * shadow views family and goes on empty, reading back the views it meets again. */
#define SL_REBUILD_FOLD_BYTES_MAX (192u << 20)

/* The rebuild keeps the history index rows of the events it folds in memory (blocks of six
 * 8-byte seqs, 56 bytes, so an item with one event pays 56; and 24 bytes an item) and writes
 * them as one sorted table file past this, and at the end: 10 million events over a million
 * items take about 137 MiB. With the fold's bound, the block cache (64 MiB) and the little a
 * rebuild puts in memtables, a rebuild stays near 512 MiB at worst; the bench's log of 10
 * million events over a million items peaks at 460 MiB (docs/BENCHMARKS.md). */
#define SL_REBUILD_HISTORY_BYTES_MAX (160u << 20)

/* The writer keeps the item views it committed in a compact map (projector/viewmap.h), so
 * that deciding a command does not read them back from the store: about 150 bytes an item,
 * 64 MiB holds some 400,000 items. Past it the map is emptied and fills again. */
#define SL_WRITER_VIEWS_BYTES_MAX (64u << 20)
/* Orders a rebuild (and verify) folds in memory (each with its lines). */
#define SL_REBUILD_ORDERS_MAX 50000000
/* Rows staged in one write batch of a rebuild. */
#define SL_REBUILD_BATCH_OPS 50000

/* Size of a chain hash (SHA-256). */
#define SL_HASH_BYTES 32

/* Bytes of the keys and values one store batch holds (ledger/store.c): far above what a
 * group or a rebuild's batch stages, below what a RocksDB WriteBatch can carry. */
#define SL_STORE_BATCH_BYTES_MAX ((size_t)0xffffffffu)
#define SL_STORE_BATCH_BYTES_MAX_TEXT "4 GiB"

/* Free bytes the file system of a store must have for store_open to try it: RocksDB's open
 * writes its info LOG, an OPTIONS file and a manifest (about 300 KiB), and Debian 12's
 * RocksDB 7.8 is built with assertions, which abort the process (SIGABRT) at the second
 * failed write of its LOG instead of returning the error; with this much free, an open that
 * runs out of room fails cleanly with ENOSPC. */
#define SL_STORE_OPEN_FREE_BYTES_MIN (1024u * 1024u)
#define SL_STORE_OPEN_FREE_BYTES_MIN_TEXT "1 MiB"

/* ---- orders ---- */
/* Lines of one order over its life (an edit may add lines; removed lines stay, at 0). */
#define SL_ORDER_LINES_MAX SL_LINES_MAX
/* Events that may change one order line (place, pay, edits, refunds, close). */
#define SL_ORDER_LINE_EVENTS_MAX 32
/* Holds listed by one read of an item's open orders. */
#define SL_HOLDS_PAGE_MAX 1000
/* Events one order command appends: one per line that changes, then the order's event. */
#define SL_ORDER_COMMAND_EVENTS_MAX (SL_ORDER_LINES_MAX + 1)

/* ---- the NATS JetStream bridge (bridge/bridge.h) ---- */
/* Commands fetched from the stream and sent to the ledger as one request; the consumer's
 * MaxAckPending is two of them (the batch at the ledger and the one fetched ahead). */
#define SL_BRIDGE_BATCH_MAX 512
/* Events published per page of the change feed before the publisher waits for the stream's
 * acknowledgements (bounds what a failed publication makes it publish again). */
#define SL_BRIDGE_EVENTS_PAGE_MAX SL_FEED_PAGE_MAX
/* Pages of events published before the publisher waits for the stream to confirm them. */
#define SL_BRIDGE_EVENTS_PAGES_IN_FLIGHT 4
/* How long the stream may take to confirm one published event before the publisher counts
 * it lost and reads where the stream ends. */
#define SL_BRIDGE_PUBLISH_WAIT_MS 5000
/* Longest pause between two attempts to reach an unavailable ledger. */
#define SL_BRIDGE_RETRY_MS_MAX 2000
/* JSON bodies on the bus (bridge/pbjson.h): nesting of objects, elements of one array. */
#define SL_JSON_DEPTH_MAX 16
#define SL_JSON_ARRAY_MAX (SL_REQUEST_BYTES_MAX / 2)
/* Bytes of the idempotency key the bridge derives from a Nats-Msg-Id before hashing it. */
#define SL_BRIDGE_MSG_ID_KEY_MAX 96

_Static_assert(SL_ORDER_COMMAND_EVENTS_MAX <= SL_GROUP_EVENTS_MAX - SL_LINES_MAX,
               "an order command fits a group");
_Static_assert(SL_LINES_MAX <= SL_GROUP_EVENTS_MAX, "one command must fit a group");
_Static_assert(SL_GROUP_COMMANDS_MAX <= SL_QUEUE_COMMANDS_MAX, "a group is drawn from the queue");
_Static_assert(SL_REQUEST_BYTES_MAX < SL_TRANSPORT_BYTES_MAX, "oversized requests get a reply");
_Static_assert(SL_REQUEST_COMMANDS_MAX <= SL_QUEUE_COMMANDS_MAX, "a request fits the queue");

_Static_assert(SL_BRIDGE_BATCH_MAX <= SL_REQUEST_COMMANDS_MAX, "a bridge batch is one request");
_Static_assert(SL_BRIDGE_MSG_ID_KEY_MAX + 16 <= SL_KEY_MAX, "a derived key fits a key");

_Static_assert(SL_CLIENT_CONTEXTS_MAX <= SL_CLIENT_PENDING_MAX, "every context can be busy");

#endif

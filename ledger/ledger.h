/*
 * ledger.h: the log and its companions. A ledger is a store (ledger/store.h) with:
 * - the event log: events numbered 1, 2, 3... with no gap, each stored as
 *   hash[32] || Event, where hash = SHA-256(previous hash || Event bytes) and the hash
 *   before event 1 is 32 zero bytes; changing any stored byte breaks the chain from there;
 * - the per-item index (item key, item_seq) -> seq, for history without a scan;
 * - the view rows, written by the writer as the projector folds them (the ledger stores
 *   them and never computes them);
 * - the idempotency records, one per client key.
 *
 * Threads: ledger_open/close on one thread. Reads (ledger_head, ledger_view_get,
 * ledger_idem_get, ledger_event_get, ledger_history, iterators) from any thread, never
 * blocking the writer. A transaction (ledger_txn) belongs to the single writer thread.
 */
#ifndef SL_LEDGER_H
#define SL_LEDGER_H

#include "base/sl_buf.h"
#include "ledger/store.h"
#include "ledger/types.h"

typedef struct ledger ledger;
typedef struct ledger_txn ledger_txn;
typedef struct ledger_iter ledger_iter;

/* ledger_open opens the ledger in dir (created if missing) and finds the head of its log.
 * On failure returns an error and writes a message into errbuf. */
sl_err ledger_open(const char *dir, ledger **out, char *errbuf, size_t errbuf_size);

/* ledger_open_bulk is ledger_open for a process that only rebuilds the views from the log
 * (projector_rebuild): the store is opened with store_open_bulk. */
sl_err ledger_open_bulk(const char *dir, ledger **out, char *errbuf, size_t errbuf_size);

/* ledger_open_tool is ledger_open for a process that answers no sorted query (the admin
 * tool's verify, checksum, dump): its ledger has no hot indexes (see "Hot indexes" below),
 * which saves deriving them at the open (about 2 s and 100 MiB per million items). */
sl_err ledger_open_tool(const char *dir, ledger **out, char *errbuf, size_t errbuf_size);

/* ledger_close closes l; NULL is a no-op. No transaction may be open. */
void ledger_close(ledger *l);

/* ledger_store: the store under l, for tools that rebuild projections. */
store *ledger_store(ledger *l);

/* ledger_head returns the seq of the last committed event (0 for an empty log) and copies
 * its chain hash into hash (may be NULL). */
uint64_t ledger_head(ledger *l, unsigned char *hash);

/* ledger_status: SL_OK, or the sticky error after a failed commit: from then on every
 * transaction is refused until the ledger is reopened. */
sl_err ledger_status(ledger *l);

/* SL_LEDGER_CAUSE_MAX bounds the text of why the ledger failed. */
#define SL_LEDGER_CAUSE_MAX 512

/* ledger_failure_cause copies into buf (n > 0 bytes) why the ledger is in its failed state
 * (the message of its first failure; "" while it has not failed), for the refusals of the
 * commands after it. */
void ledger_failure_cause(ledger *l, char *buf, size_t n);

/* ledger_view_get reads the committed view of key. SL_ERR_NOT_FOUND if there is no row
 * (a deleted item has a row with state.exists false). */
sl_err ledger_view_get(ledger *l, const sl_item_key *key, sl_item *out);

/* ledger_view_get_at is ledger_view_get through a store snapshot (NULL: latest). */
sl_err ledger_view_get_at(ledger *l, const store_snap *snap, const sl_item_key *key, sl_item *out);

/* ledger_idem_get reads the record of idempotency key: its content hash and its encoded
 * Result (into result). SL_ERR_NOT_FOUND if the key is new, or if its record is older than
 * the retention window (ledger_set_idem_retention). Outputs are untouched unless SL_OK. */
sl_err ledger_idem_get(ledger *l, const char *key, unsigned char *content_hash, sl_buf *result);

/* ledger_set_idem_retention sets how long an idempotency record answers retries, in ms
 * (0, the default: for ever). Past it the key is new again (ledger_idem_get); past twice
 * it RocksDB's compactions drop the record (docs/decisions.md, Idempotency). A record made
 * before records carried their time is kept. Thread-safe. */
void ledger_set_idem_retention(ledger *l, int64_t retention_ms);

/* ledger_event_get reads event seq, with its chain hash. SL_ERR_NOT_FOUND past the head;
 * SL_ERR_CORRUPT if it does not decode, carries another seq, or does not hash, with the
 * stored hash of the event before it, to its own stored hash (its bytes or its hash were
 * changed). */
sl_err ledger_event_get(ledger *l, uint64_t seq, sl_event *out);

/* ledger_event_get_at is ledger_event_get through a store snapshot (NULL: latest). */
sl_err ledger_event_get_at(ledger *l, const store_snap *snap, uint64_t seq, sl_event *out);

/* ledger_history reads up to max events of key with item_seq > after_item_seq, oldest
 * first, into out; *next_item_seq is the cursor of the next page (0 at the end). The events
 * are read by seq through the index, each checked against the stored hash of the event
 * before it (ledger_event_get: SL_ERR_CORRUPT if one was changed). Outputs are untouched on
 * failure. */
sl_err ledger_history(ledger *l, const sl_item_key *key, uint64_t after_item_seq, size_t max,
                      sl_event *out, size_t *n_out, uint64_t *next_item_seq);

/* ledger_key_encode writes the store key of an item into buf (at least
 * 3 * (SL_ID_MAX + 1) bytes); returns its length. Keys sort by product, variant, location. */
size_t ledger_key_encode(const sl_item_key *key, uint8_t *buf);
#define LEDGER_KEY_BYTES (3 * (SL_ID_MAX + 1) + 8)
/* the longest secondary index key (ledger/index.h): tag, a value of up to SL_ID_MAX + 1
 * bytes, the item key */
#define LEDGER_INDEX_KEY_BYTES (1 + SL_ID_MAX + 1 + LEDGER_KEY_BYTES)

/* ledger_history_key writes the key of the history index row of an item's item_seq-th event
 * (the item's store key of klen bytes, '\0', be64 item_seq) into out
 * (LEDGER_HISTORY_KEY_BYTES); returns its length. The row's value is the event's be64 seq. */
size_t ledger_history_key(const uint8_t *item_key, size_t klen, uint64_t item_seq, uint8_t *out);
#define LEDGER_HISTORY_KEY_BYTES (LEDGER_KEY_BYTES + 1 + 8)

/* ledger_views_checksum hashes every view row (key and bytes, in key order: item views,
 * then order views, holds and settings) into out[SL_HASH_BYTES] and counts the rows. Equal
 * checksums mean byte-identical views. */
sl_err ledger_views_checksum(ledger *l, unsigned char *out, uint64_t *n_rows);

/*
 * Orders (docs/orders.md): order views, the settings view and the holds index
 * (item, order, line) -> units held, all written by the writer in the group's batch.
 */

/* ledger_order_get reads the committed view of order_id into *out (replacing and freeing
 * what it held; sl_order_fini it). SL_ERR_NOT_FOUND if there is no such order. */
sl_err ledger_order_get(ledger *l, const char *order_id, sl_order *out);
/* ledger_order_get_at: the same through snap (NULL: the latest). */
sl_err ledger_order_get_at(ledger *l, const store_snap *snap, const char *order_id, sl_order *out);

/* ledger_settings_get reads the committed settings. SL_ERR_NOT_FOUND if they were never
 * set (the defaults apply: ON_ORDER_PLACED). */
sl_err ledger_settings_get(ledger *l, sl_settings *out);

/* ledger_holds_list lists the open order lines holding units of item, by order id then
 * line id, after the line (after_order_id, after_line_id) when after_order_id is not empty.
 * Writes up to max holds into out, their count into *n_out, and *has_more when more
 * follow. Only lines with held > 0 are listed: a closed order holds nothing. Reads
 * committed state; any thread. */
sl_err ledger_holds_list(ledger *l, const sl_item_key *item, const char *after_order_id,
                         const char *after_line_id, size_t max, sl_hold *out, size_t *n_out,
                         bool *has_more);
/* ledger_holds_list_at is ledger_holds_list through a store snapshot (NULL: latest). */
sl_err ledger_holds_list_at(ledger *l, const store_snap *snap, const sl_item_key *item,
                            const char *after_order_id, const char *after_line_id, size_t max,
                            sl_hold *out, size_t *n_out, bool *has_more);

/* ledger_hold_row encodes the holds row of one order line: its key (item key \0 order id
 * \0 line id) into key (LEDGER_HOLD_KEY_BYTES), returning its length, and its value (held,
 * held_preorder, big-endian) into val. For verify, which compares rows. */
/* The key of the settings row in its column family. */
#define LEDGER_SETTINGS_KEY "orders"
#define LEDGER_HOLD_KEY_BYTES (LEDGER_KEY_BYTES + 2 * (SL_ID_MAX + 1))
#define LEDGER_HOLD_VALUE_BYTES 16
size_t ledger_hold_row(const char *order_id, const sl_order_line *line, uint8_t *key, uint8_t *val);

/*
 * Transactions: the writer stages a group of commands and commits them with one sync.
 *   ledger_txn_begin -> (append | put_view | put_idem | put_index)* -> commit | abort
 */
ledger_txn *ledger_txn_alloc(ledger *l);
void ledger_txn_free(ledger_txn *t);

/* ledger_txn_alloc_shadow: a transaction for rebuild that writes the view rows, holds,
 * settings and secondary index rows into the shadow families (store.h), where
 * they stay invisible until store_shadow_publish. put_view finds the old index rows of an
 * item in the shadow views. It appends no event (asserted); its commits skip the WAL. */
ledger_txn *ledger_txn_alloc_shadow(ledger *l);

/* ledger_txn_begin starts staging on top of the committed head. SL_ERR_STORAGE if the
 * ledger is in its sticky failed state. */
sl_err ledger_txn_begin(ledger_txn *t);

/* ledger_txn_next_seq: the seq the next appended event must carry. */
uint64_t ledger_txn_next_seq(const ledger_txn *t);

/* ledger_txn_append stages ev (ev->seq == next seq), computes its chain hash into ev->hash
 * and stages its item index entry (events of an item: item_seq > 0). */
sl_err ledger_txn_append(ledger_txn *t, sl_event *ev);

/* ledger_txn_put_view stages the view row of item and the changes of its secondary indexes
 * (ledger/index.h) in the same batch, or in the index batch of ledger_txn_defer_index.
 * SL_ERR_LIMIT_EXCEEDED past SL_TXN_VIEWS_MAX distinct items in one transaction; SL_ERR_STORAGE if
 * the item's committed view cannot be read. */
sl_err ledger_txn_put_view(ledger_txn *t, const sl_item *item);

/* ledger_txn_put_view_from is ledger_txn_put_view for a caller that read the committed view
 * of the item itself: before is that view (NULL: there was no row), which saves reading it
 * again. */
sl_err ledger_txn_put_view_from(ledger_txn *t, const sl_item *item, const sl_item *before);

/* ledger_txn_put_order stages the view row of order. */
sl_err ledger_txn_put_order(ledger_txn *t, const sl_order *order);

/* ledger_txn_put_settings stages the settings view. */
sl_err ledger_txn_put_settings(ledger_txn *t, const sl_settings *settings);

/* ledger_txn_put_holds stages the holds rows of every line of order: a row for a line that
 * holds units, a delete for one that holds none. */
sl_err ledger_txn_put_holds(ledger_txn *t, const sl_order *order);

/* ledger_txn_put_idem stages the idempotency record of key, made at time_ms (the writer's
 * clock: the retention window counts from it). */
sl_err ledger_txn_put_idem(ledger_txn *t, const char *key, const unsigned char *content_hash,
                           const uint8_t *result, size_t result_len, uint64_t seq, int64_t time_ms);

/* ledger_txn_staged: operations staged so far. */
size_t ledger_txn_staged(const ledger_txn *t);

/* ledger_txn_commit writes everything staged atomically; with sync, returns only once it
 * is durable. On failure the ledger enters its sticky failed state and nothing staged is
 * visible. The transaction is empty afterwards either way. */
sl_err ledger_txn_commit(ledger_txn *t, bool sync);

/* ledger_txn_abort drops everything staged. */
void ledger_txn_abort(ledger_txn *t);

/*
 * Deferred secondary indexes (docs/storage.md, "Deferred index"). The secondary index rows
 * of the item views (ledger/index.h) are derived from the view rows alone, so the writer may
 * leave them to another thread: a transaction given an index batch stages them there, and
 * after its commit that batch is written by ledger_index_commit, without a WAL sync, with the
 * meta row indexed_seq saying up to which event the index is complete. ledger_open finds an
 * index left behind by a crash (indexed_seq below the head) and derives it again from the
 * views before it returns, so every reader of an opened ledger sees a complete index.
 * Without an index batch a transaction stages the index rows in its own batch, as before,
 * and its commit moves indexed_seq with the head.
 *
 * Hot indexes (docs/storage.md, "Hot indexes in memory"): the 'Q' and 'U' indexes change
 * with every event and live in memory only (ledger/memindex.h), derived from the views by
 * ledger_open (not by ledger_open_bulk or ledger_open_tool, whose ledger has none and
 * answers no sorted
 * query). Their changes travel with the stored index rows (in the index batch, or in the
 * transaction) and are applied after the commit, before indexed_seq moves; so
 * ledger_index_wait covers both.
 */

/* ledger_index_batch: the index rows and hot index changes of deferred transactions. */
typedef struct ledger_index_batch ledger_index_batch;

/* ledger_index_batch_alloc: an empty index batch for l (NULL: out of memory). */
ledger_index_batch *ledger_index_batch_alloc(ledger *l);

/* ledger_index_batch_free releases ib; NULL is a no-op. */
void ledger_index_batch_free(ledger_index_batch *ib);

/* ledger_index_batch_count: the stored rows and hot changes staged in ib. */
size_t ledger_index_batch_count(const ledger_index_batch *ib);

/* ledger_txn_defer_index: from the next put_view on, t stages the secondary index rows into
 * ib (owned by the caller) instead of its own batch; NULL stages them in t's batch again. */
void ledger_txn_defer_index(ledger_txn *t, ledger_index_batch *ib);

/* ledger_index_commit writes ib, the index rows staged by deferred transactions that
 * committed up to event seq, with the mark indexed_seq = seq, applies its hot changes, then
 * empties ib. One thread calls it, in commit order. On failure (a write, or hot changes
 * that do not fit what the memory holds: SL_ERR_CORRUPT, or SL_ERR_NOMEM) the ledger enters
 * its sticky failed state. */
sl_err ledger_index_commit(ledger *l, ledger_index_batch *ib, uint64_t seq);

/* ledger_hot_scan copies up to max keys of the hot indexes into out (emptied first; each
 * key as a 2-byte big-endian length and its bytes), in key order from the first key >= from
 * (is_desc: in reverse order from the last key <= from; from_len 0 and is_desc: from the
 * very last), stopping at the first key outside [lo, hi) (hi_len 0: no upper bound). *n is
 * how many were copied and *seq the event up to which the hot indexes were complete when
 * they were read, all under one read lock. SL_ERR_UNAVAILABLE if l has no hot indexes (a
 * bulk or tool ledger); SL_ERR_STORAGE if a failure left them incomplete (until a restart
 * derives them again); SL_ERR_NOMEM. Thread-safe. */
sl_err ledger_hot_scan(ledger *l, const uint8_t *from, size_t from_len, bool is_desc,
                       const uint8_t *lo, size_t lo_len, const uint8_t *hi, size_t hi_len,
                       size_t max, sl_buf *out, size_t *n, uint64_t *seq);

/* ledger_hot_verify checks that l's hot indexes hold exactly the hot keys of its views;
 * SL_ERR_CORRUPT with what differs in msg. SL_OK for a bulk ledger (none to check). */
sl_err ledger_hot_verify(ledger *l, char *msg, size_t msg_size);

/* ledger_indexed_seq: the event up to which the secondary indexes are complete. */
uint64_t ledger_indexed_seq(ledger *l);

/* ledger_index_wait returns once the secondary indexes are complete up to seq: SL_OK, or
 * SL_ERR_STORAGE if the ledger failed before they could be. */
/* ledger_fail stops the ledger's transactions for good, as a failed commit does (rc, a
 * storage or corruption error, is what every later ledger_txn_begin returns): for a writer
 * that could not read the state it decides on. cause says why (ledger_failure_cause). */
void ledger_fail(ledger *l, sl_err rc, const char *cause);

sl_err ledger_index_wait(ledger *l, uint64_t seq);

/* ledger_snap_indexed_seq reads the mark indexed_seq as of snap (NULL: latest). */
sl_err ledger_snap_indexed_seq(ledger *l, const store_snap *snap, uint64_t *out);

/*
 * Views behind the log. A rebuild stopped at seq N (projector_rebuild_to) leaves views that
 * are the fold of events 1..N while the log goes on to its head: an audit reference, which
 * the writer must never decide on (it would give new events item sequences and states that
 * the log already has past). The meta row views_seq records N, written with the rebuild's
 * switch and removed by a rebuild of the whole log; without it the views are at the head.
 */

/* ledger_views_seq: the event up to which the stored views are the fold of the log (the
 * head unless a rebuild stopped short of it). SL_ERR_CORRUPT if the row does not decode,
 * SL_ERR_STORAGE if it cannot be read. */
sl_err ledger_views_seq(ledger *l, uint64_t *out);

/* ledger_views_cap lowers *head (a head read through a snapshot) to the seq the stored views
 * are as of: the last seq a point-in-time read or a query can answer for, since they start
 * from the views (a reference directory's views stop short of its log). Errors as
 * ledger_views_seq. */
sl_err ledger_views_cap(ledger *l, uint64_t *head);

/* ledger_views_seq_stage stages into b the mark of views folded up to seq: views_seq = seq
 * when seq is below the head, its removal otherwise (views at the head). */
void ledger_views_seq_stage(ledger *l, store_batch *b, uint64_t seq);

/* ledger_views_publish makes a rebuild's shadow views live with the meta rows of mark
 * (store_shadow_publish) and derives the hot indexes again from them. Errors as
 * store_shadow_publish's; SL_ERR_NOMEM if the hot indexes do not fit. */
sl_err ledger_views_publish(ledger *l, store_batch *mark);

/*
 * Iteration of the log, checking the chain: each event's stored hash must equal
 * SHA-256(previous hash || its bytes) and seqs must follow each other.
 */

/* ledger_iter_alloc iterates events from from_seq (>= 1) on; the chain check starts from
 * the stored hash of event from_seq - 1 (the 32 bytes stored before it, whether or not the
 * rest of that record decodes). */
ledger_iter *ledger_iter_alloc(ledger *l, uint64_t from_seq);
void ledger_iter_free(ledger_iter *it);

/* ledger_iter_next decodes the next event into *ev (with hash). Returns SL_OK,
 * SL_ERR_NOT_FOUND at the end, SL_ERR_CORRUPT (with the bad seq in *bad_seq, and a message
 * from ledger_iter_error) when the chain or an event is broken, SL_ERR_STORAGE. */
sl_err ledger_iter_next(ledger_iter *it, sl_event *ev, uint64_t *bad_seq);
const char *ledger_iter_error(const ledger_iter *it);
/* After an error an iterator is done: where it stands is unspecified (free it). */

/* ledger_iter_next_record is ledger_iter_next without the decode, for a caller that decodes
 * elsewhere (the rebuild decodes on its fold thread): it checks the record's place in the
 * log and its chain link (a record links the next one by its stored hash, whether or not it
 * decodes) and hands out the record of event *seq: *rec, *len, the stored hash then the
 * Event's bytes, valid until the next call. Errors as ledger_iter_next's but the decode's. */
sl_err ledger_iter_next_record(ledger_iter *it, const uint8_t **rec, size_t *len, uint64_t *seq,
                               uint64_t *bad_seq);

/* ledger_record_decode decodes record rec of event seq (ledger_iter_next_record) into ev, as
 * ledger_iter_next does: SL_ERR_CORRUPT, with its message in errbuf, if the record does not
 * decode or carries another seq. Any thread. */
sl_err ledger_record_decode(const uint8_t *rec, size_t len, uint64_t seq, sl_event *ev,
                            char *errbuf, size_t errbuf_size);

#endif

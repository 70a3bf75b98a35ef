/*
 * bench_pg.h: the PostgreSQL peer of stockledger-bench. Starts a private PostgreSQL 15
 * (initdb in a temporary directory, default durability: fsync on, synchronous_commit on)
 * on a loopback port, and runs the same workloads as the ledger through libpq: a
 * conditional UPDATE ... WHERE quantity >= n plus an INSERT into an events table, in one
 * transaction (one statement with a data-modifying CTE, the fastest form PostgreSQL offers).
 *
 * As root, the server runs as the user `nobody` (postgres refuses to run as root) through
 * runuser. Every failure leaves a lower-case cause in why, and the bench prints it.
 */
#ifndef SL_BENCH_PG_H
#define SL_BENCH_PG_H

#include <stddef.h>
#include <stdint.h>

#include "base/sl_err.h"

typedef struct bench_pg bench_pg;
typedef struct bench_pg_conn bench_pg_conn;

/* bench_pg_start creates a cluster under dir (which must exist and be empty), starts it on
 * 127.0.0.1:port and creates `items` with n_items rows p000000.. of quantity quantity, and
 * an empty `events` table. SL_ERR_UNAVAILABLE with why on any failure. */
sl_err bench_pg_start(const char *dir, int port, uint64_t n_items, int64_t quantity, bench_pg **out,
                      char *why, size_t why_size);

/* bench_pg_stop stops the server (fast shutdown); NULL is a no-op. */
void bench_pg_stop(bench_pg *pg);

/* bench_pg_connect opens a connection with the statements prepared. One thread each. */
sl_err bench_pg_connect(bench_pg *pg, bench_pg_conn **out, char *why, size_t why_size);
void bench_pg_disconnect(bench_pg_conn *c);

/* bench_pg_single moves item by delta in one transaction: a decrement (delta < 0) only if
 * quantity >= -delta (restricted), and records the event. SL_OK only if it applied (one
 * event written): SL_ERR_INSUFFICIENT_INVENTORY if the restriction (or a missing item) left
 * it undone, as the ledger refuses it; SL_ERR_STORAGE if the statement failed. */
sl_err bench_pg_single(bench_pg_conn *c, uint64_t item, int64_t delta);

/* bench_pg_batch moves n items (distinct) by delta each, with one event each, in one
 * transaction; *events is the number of events it wrote (items given twice move once),
 * untouched on failure. */
sl_err bench_pg_batch(bench_pg_conn *c, const uint64_t *items, size_t n, int64_t delta,
                      uint64_t *events);

/* bench_pg_get reads the quantity of item. */
sl_err bench_pg_get(bench_pg_conn *c, uint64_t item, int64_t *quantity);

/*
 * The order flows (docs/orders.md, under ON_ORDER_PLACED), each one call of a PL/pgSQL
 * function created by bench_pg_start, so one round trip and one transaction per command,
 * as one request and one group commit per command on the ledger's side. Tables: `orders`
 * (id, status), `order_lines` (order, line id 1..n, product, quantity, held) and
 * `order_events` (an order's events: one per line that moved, one for the order).
 * Items are locked in the order given (the bench gives them sorted, which keeps
 * concurrent orders free of deadlocks); every function returns SL_ERR_INSUFFICIENT_INVENTORY
 * for a short place (rolled back whole), SL_ERR_FAILED_PRECONDITION for a transition the
 * order's status refuses, SL_ERR_STORAGE for any other failure, SL_OK otherwise.
 */

/* Lines of one order the bench's order functions take (the bench's orders have 3). */
#define BENCH_PG_ORDER_LINES_MAX 16

/* bench_pg_order_place places order_id with lines 1..n (items[i], quantities[i]): the
 * restricted decrement of every line (UPDATE ... WHERE quantity >= n), all or nothing, and
 * the order, its lines and its events. */
sl_err bench_pg_order_place(bench_pg_conn *c, const char *order_id, const uint64_t *items,
                            const int64_t *quantities, size_t n);

/* bench_pg_order_pay marks a placed order paid (status UPDATE and an event; no stock moves
 * under ON_ORDER_PLACED). */
sl_err bench_pg_order_pay(bench_pg_conn *c, const char *order_id);

/* bench_pg_order_cancel restocks what every line holds, closes the order, with events. */
sl_err bench_pg_order_cancel(bench_pg_conn *c, const char *order_id);

/* bench_pg_order_edit gives the order its complete new set of lines 1..n: each line's delta
 * against what it holds is decremented (unrestricted) or restocked, lines left out go to 0;
 * one event per line that moved and one for the order. */
sl_err bench_pg_order_edit(bench_pg_conn *c, const char *order_id, const uint64_t *items,
                           const int64_t *quantities, size_t n);

/* bench_pg_settle runs a CHECKPOINT: the dirty pages of the workloads just run are written
 * now, not during the next workload's timed run (of PostgreSQL or of the ledger). */
sl_err bench_pg_settle(bench_pg_conn *c, char *why, size_t why_size);

/* bench_pg_bytes_per_event: on-disk size of the events table (with its index) per row. */
double bench_pg_bytes_per_event(bench_pg_conn *c);

#endif

/*
 * bench_pg.c: the PostgreSQL peer (see bench_pg.h). The server is driven with initdb and
 * pg_ctl as child processes; the workloads with libpq prepared statements.
 */
#include "tools/bench_pg.h"

#include <libpq-fe.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/banned.h"
#include "base/sl_util.h"

#define PG_DIRS "/usr/lib/postgresql/15/bin"

struct bench_pg {
	char dir[256];
	char bin[256];
	char as_user[64]; /* "runuser -u nobody -- " when root, else "" */
	int port;
	bool is_running;
};

struct bench_pg_conn {
	PGconn *conn;
	char buf[16384];
};

static const char sql_dec[] =
    "WITH u AS (UPDATE items SET quantity = quantity + $2::bigint WHERE product = $1 "
    "AND quantity >= -($2::bigint) RETURNING product, quantity) "
    "INSERT INTO events (product, delta, quantity_after) SELECT product, $2::bigint, quantity FROM "
    "u";
static const char sql_inc[] =
    "WITH u AS (UPDATE items SET quantity = quantity + $2::bigint WHERE product = $1 "
    "RETURNING product, quantity) "
    "INSERT INTO events (product, delta, quantity_after) SELECT product, $2::bigint, quantity FROM "
    "u";
static const char sql_batch[] =
    "WITH d AS (SELECT unnest($1::text[]) AS product), "
    "u AS (UPDATE items i SET quantity = i.quantity + $2 FROM d WHERE i.product = d.product "
    "RETURNING i.product, i.quantity) "
    "INSERT INTO events (product, delta, quantity_after) SELECT product, $2::bigint, quantity FROM "
    "u";
static const char sql_get[] = "SELECT quantity FROM items WHERE product = $1";
static const char sql_place[] = "SELECT order_place($1, $2::text[], $3::bigint[])";
static const char sql_pay[] = "SELECT order_pay($1)";
static const char sql_cancel[] = "SELECT order_cancel($1)";
static const char sql_edit[] = "SELECT order_edit($1, $2::text[], $3::bigint[])";

/* The order tables and flows (bench_pg.h). SQLSTATE SL001 is a short line, SL002 a refused
 * transition; raising either rolls the whole transaction back. Line ids are 1..n. */
static const char sql_orders_schema[] =
    "CREATE TABLE orders (order_id text PRIMARY KEY, status text NOT NULL, "
    "created timestamptz NOT NULL DEFAULT now(), updated timestamptz NOT NULL DEFAULT now());"
    "CREATE TABLE order_lines (order_id text NOT NULL, line_id text NOT NULL, "
    "product text NOT NULL, quantity bigint NOT NULL, held bigint NOT NULL, "
    "PRIMARY KEY (order_id, line_id));"
    "CREATE TABLE order_events (seq bigserial PRIMARY KEY, order_id text NOT NULL, "
    "line_id text, product text, delta bigint, quantity_after bigint, status text NOT NULL, "
    "time timestamptz NOT NULL DEFAULT now());"
    /* place: the restricted decrements, then the order; any short line rolls back all */
    "CREATE FUNCTION order_place(o text, p text[], q bigint[]) RETURNS void "
    "LANGUAGE plpgsql AS $$ DECLARE i int; after_q bigint; n_short int := 0; BEGIN "
    "FOR i IN 1 .. cardinality(p) LOOP "
    "UPDATE items SET quantity = quantity - q[i] WHERE product = p[i] AND quantity >= q[i] "
    "RETURNING quantity INTO after_q; "
    "IF NOT FOUND THEN n_short := n_short + 1; CONTINUE; END IF; "
    "INSERT INTO order_lines VALUES (o, i::text, p[i], q[i], q[i]); "
    "INSERT INTO order_events (order_id, line_id, product, delta, quantity_after, status) "
    "VALUES (o, i::text, p[i], -q[i], after_q, 'PLACED'); END LOOP; "
    "IF n_short > 0 THEN RAISE EXCEPTION 'insufficient inventory on % lines of order %', "
    "n_short, o USING ERRCODE = 'SL001'; END IF; "
    "INSERT INTO orders (order_id, status) VALUES (o, 'PLACED'); "
    "INSERT INTO order_events (order_id, status) VALUES (o, 'PLACED'); END $$;"
    /* pay: under ON_ORDER_PLACED the stock was taken at placement */
    "CREATE FUNCTION order_pay(o text) RETURNS void LANGUAGE plpgsql AS $$ BEGIN "
    "UPDATE orders SET status = 'PAID', updated = now() WHERE order_id = o "
    "AND status = 'PLACED'; "
    "IF NOT FOUND THEN RAISE EXCEPTION 'order % cannot be paid', o USING ERRCODE = 'SL002'; "
    "END IF; INSERT INTO order_events (order_id, status) VALUES (o, 'PAID'); END $$;"
    /* cancel: restock what each line holds, close */
    "CREATE FUNCTION order_cancel(o text) RETURNS void LANGUAGE plpgsql AS $$ "
    "DECLARE r record; after_q bigint; BEGIN "
    "UPDATE orders SET status = 'CANCELED', updated = now() WHERE order_id = o "
    "AND status IN ('PLACED', 'PAID'); "
    "IF NOT FOUND THEN RAISE EXCEPTION 'order % is closed', o USING ERRCODE = 'SL002'; "
    "END IF; "
    "FOR r IN SELECT line_id, product, held FROM order_lines WHERE order_id = o AND held > 0 "
    "ORDER BY product LOOP "
    "UPDATE items SET quantity = quantity + r.held WHERE product = r.product "
    "RETURNING quantity INTO after_q; "
    "UPDATE order_lines SET held = 0 WHERE order_id = o AND line_id = r.line_id; "
    "INSERT INTO order_events (order_id, line_id, product, delta, quantity_after, status) "
    "VALUES (o, r.line_id, r.product, r.held, after_q, 'CANCELED'); END LOOP; "
    "INSERT INTO order_events (order_id, status) VALUES (o, 'CANCELED'); END $$;"
    /* edit: the complete new set; each line's delta against what it holds, unrestricted */
    "CREATE FUNCTION order_edit(o text, p text[], q bigint[]) RETURNS void "
    "LANGUAGE plpgsql AS $$ DECLARE r record; after_q bigint; st text; BEGIN "
    "SELECT status INTO st FROM orders WHERE order_id = o FOR UPDATE; "
    "IF st IS NULL OR st NOT IN ('PLACED', 'PAID') THEN "
    "RAISE EXCEPTION 'order % cannot be edited', o USING ERRCODE = 'SL002'; END IF; "
    "FOR r IN SELECT coalesce(l.line_id, n.line_id) AS line_id, "
    "coalesce(l.product, n.product) AS product, coalesce(n.quantity, 0) AS quantity, "
    "coalesce(l.held, 0) AS held "
    "FROM (SELECT g::text AS line_id, p[g] AS product, q[g] AS quantity "
    "FROM generate_subscripts(p, 1) g) n "
    "FULL JOIN (SELECT line_id, product, held FROM order_lines WHERE order_id = o) l "
    "ON l.line_id = n.line_id WHERE coalesce(n.quantity, 0) <> coalesce(l.held, 0) "
    "ORDER BY 2 LOOP "
    "UPDATE items SET quantity = quantity - (r.quantity - r.held) "
    "WHERE product = r.product RETURNING quantity INTO after_q; "
    "INSERT INTO order_lines VALUES (o, r.line_id, r.product, r.quantity, r.quantity) "
    "ON CONFLICT (order_id, line_id) DO UPDATE SET quantity = excluded.quantity, "
    "held = excluded.held; "
    "INSERT INTO order_events (order_id, line_id, product, delta, quantity_after, status) "
    "VALUES (o, r.line_id, r.product, r.held - r.quantity, after_q, st); END LOOP; "
    "UPDATE orders SET updated = now() WHERE order_id = o; "
    "INSERT INTO order_events (order_id, status) VALUES (o, st); END $$;";

/* why_clean keeps the first line of a libpq message. */
static void why_clean(char *why)
{
	why[strcspn(why, "\n")] = '\0';
}

/* run runs a shell command line quietly; returns its exit status. */
static int run(const char *cmd)
{
	int rc = system(cmd);
	return rc == -1 ? -1 : WEXITSTATUS(rc);
}

static bool bin_find(char *out, size_t out_size)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/initdb", PG_DIRS);
	if (access(path, X_OK) == 0) {
		sl_strlcpy(out, PG_DIRS "/", out_size);
		return true;
	}
	if (run("command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1") == 0) {
		out[0] = '\0'; /* on PATH */
		return true;
	}
	return false;
}

static void conninfo(const bench_pg *pg, char *out, size_t out_size)
{
	snprintf(out, out_size,
	         "host=127.0.0.1 port=%d dbname=postgres user=bench connect_timeout=10", pg->port);
}

static sl_err exec_ok(PGconn *c, const char *sql, char *why, size_t why_size)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	sl_err rc = SL_OK;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		snprintf(why, why_size, "postgresql: %s", PQerrorMessage(c));
		why_clean(why);

		rc = SL_ERR_UNAVAILABLE;
	}
	PQclear(r);
	return rc;
}

sl_err bench_pg_start(const char *dir, int port, uint64_t n_items, int64_t quantity, bench_pg **out,
                      char *why, size_t why_size)
{
	char cmd[2048];
	bench_pg *pg = calloc(1, sizeof(*pg));
	if (pg == NULL) {
		snprintf(why, why_size, "out of memory");
		return SL_ERR_NOMEM;
	}
	sl_strlcpy(pg->dir, dir, sizeof(pg->dir));
	pg->port = port;
	if (!bin_find(pg->bin, sizeof(pg->bin))) {
		snprintf(why, why_size, "initdb not found in %s nor on PATH (install postgresql)",
		         PG_DIRS);
		goto fail;
	}
	if (geteuid() == 0) {
		/* postgres refuses to run as root: hand the directory to nobody. */
		struct passwd *pw = getpwnam("nobody");
		if (pw == NULL || chown(dir, pw->pw_uid, pw->pw_gid) != 0) {
			snprintf(why, why_size, "running as root and cannot hand '%s' to nobody",
			         dir);
			goto fail;
		}
		snprintf(pg->as_user, sizeof(pg->as_user), "runuser -u nobody -- ");
	}
	snprintf(cmd, sizeof(cmd),
	         "cd '%s' && %s%sinitdb -D '%s/data' -U bench -A trust -E UTF8 --locale=C "
	         ">'%s/initdb.log' 2>&1",
	         dir, pg->as_user, pg->bin, dir, dir);
	if (run(cmd) != 0) {
		snprintf(why, why_size, "initdb failed (see %s/initdb.log)", dir);
		goto fail;
	}
	/* Default durability (fsync, synchronous_commit, full_page_writes on); room for the
	 * bench's 64 + 4 connections; the socket in the private directory. */
	snprintf(cmd, sizeof(cmd),
	         "cd '%s' && %s%spg_ctl -D '%s/data' -l '%s/server.log' -w -t 60 "
	         "-o \"-c listen_addresses=127.0.0.1 -p %d -k '%s' -c max_connections=120\" "
	         "start >/dev/null 2>&1",
	         dir, pg->as_user, pg->bin, dir, dir, port, dir);
	if (run(cmd) != 0) {
		snprintf(why, why_size, "pg_ctl start failed (see %s/server.log)", dir);
		goto fail;
	}
	pg->is_running = true;
	char ci[256];
	conninfo(pg, ci, sizeof(ci));
	PGconn *c = PQconnectdb(ci);
	if (PQstatus(c) != CONNECTION_OK) {
		snprintf(why, why_size, "cannot connect: %s", PQerrorMessage(c));
		why_clean(why);

		PQfinish(c);
		goto fail;
	}
	snprintf(cmd, sizeof(cmd),
	         "CREATE TABLE items (product text PRIMARY KEY, quantity bigint NOT NULL);"
	         "CREATE TABLE events (seq bigserial PRIMARY KEY, product text NOT NULL, "
	         "delta bigint NOT NULL, quantity_after bigint NOT NULL, "
	         "time timestamptz NOT NULL DEFAULT now());"
	         "INSERT INTO items SELECT 'p' || lpad(g::text, 6, '0'), %lld "
	         "FROM generate_series(0, %llu) g;",
	         (long long)quantity, (unsigned long long)(n_items - 1));
	sl_err rc = exec_ok(c, cmd, why, why_size);
	if (rc == SL_OK)
		rc = exec_ok(c, sql_orders_schema, why, why_size);
	if (rc == SL_OK)
		rc = exec_ok(c, "VACUUM ANALYZE items", why, why_size);
	PQfinish(c);
	if (rc != SL_OK)
		goto fail;
	*out = pg;
	return SL_OK;
fail:
	bench_pg_stop(pg);
	return SL_ERR_UNAVAILABLE;
}

void bench_pg_stop(bench_pg *pg)
{
	if (pg == NULL)
		return;
	if (pg->is_running) {
		char cmd[1024];
		snprintf(cmd, sizeof(cmd),
		         "cd '%s' && %s%spg_ctl -D '%s/data' -m fast -w stop >/dev/null 2>&1",
		         pg->dir, pg->as_user, pg->bin, pg->dir);
		run(cmd);
	}
	free(pg);
}

sl_err bench_pg_connect(bench_pg *pg, bench_pg_conn **out, char *why, size_t why_size)
{
	char ci[256];
	conninfo(pg, ci, sizeof(ci));
	bench_pg_conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return SL_ERR_NOMEM;
	c->conn = PQconnectdb(ci);
	if (PQstatus(c->conn) != CONNECTION_OK) {
		snprintf(why, why_size, "cannot connect: %s", PQerrorMessage(c->conn));
		why_clean(why);
		goto fail;
	}
	static const struct {
		const char *name, *sql;
	} stmts[] = {{"dec", sql_dec},       {"inc", sql_inc},     {"batch", sql_batch},
	             {"get", sql_get},       {"place", sql_place}, {"pay", sql_pay},
	             {"cancel", sql_cancel}, {"edit", sql_edit}};
	for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++) {
		PGresult *r = PQprepare(c->conn, stmts[i].name, stmts[i].sql, 0, NULL);
		bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
		if (!ok) {
			snprintf(why, why_size, "cannot prepare: %s", PQerrorMessage(c->conn));
			why_clean(why);
			goto fail;
		}
	}
	*out = c;
	return SL_OK;
fail:
	bench_pg_disconnect(c);
	return SL_ERR_UNAVAILABLE;
}

void bench_pg_disconnect(bench_pg_conn *c)
{
	if (c == NULL)
		return;
	PQfinish(c->conn);
	free(c);
}

/* exec_prepared runs a prepared statement; *rows (if not NULL) is the rows it affected. */
static sl_err exec_prepared(bench_pg_conn *c, const char *name, int n, const char *const *vals,
                            int64_t *first_value, uint64_t *rows)
{
	PGresult *r = PQexecPrepared(c->conn, name, n, vals, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);
	sl_err rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? SL_OK : SL_ERR_STORAGE;
	if (rc == SL_OK && rows != NULL)
		*rows = strtoull(PQcmdTuples(r), NULL, 10);
	if (rc == SL_OK && first_value != NULL) {
		if (PQntuples(r) == 1)
			*first_value = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		else
			rc = SL_ERR_NOT_FOUND;
	}
	PQclear(r);
	return rc;
}

sl_err bench_pg_single(bench_pg_conn *c, uint64_t item, int64_t delta)
{
	char product[16], d[24];
	snprintf(product, sizeof(product), "p%06llu", (unsigned long long)item);
	snprintf(d, sizeof(d), "%lld", (long long)delta);
	const char *vals[2] = {product, d};
	uint64_t rows = 0;
	sl_err rc = exec_prepared(c, delta < 0 ? "dec" : "inc", 2, vals, NULL, &rows);
	return rc == SL_OK && rows != 1 ? SL_ERR_INSUFFICIENT_INVENTORY : rc;
}

sl_err bench_pg_batch(bench_pg_conn *c, const uint64_t *items, size_t n, int64_t delta,
                      uint64_t *events)
{
	size_t p = 0;
	c->buf[p++] = '{';
	for (size_t i = 0; i < n && p + 16 < sizeof(c->buf); i++)
		p += (size_t)snprintf(c->buf + p, sizeof(c->buf) - p, "%sp%06llu", i > 0 ? "," : "",
		                      (unsigned long long)items[i]);
	if (p + 2 >= sizeof(c->buf))
		return SL_ERR_LIMIT_EXCEEDED;
	c->buf[p++] = '}';
	c->buf[p] = '\0';
	char d[24];
	snprintf(d, sizeof(d), "%lld", (long long)delta);
	const char *vals[2] = {c->buf, d};
	return exec_prepared(c, "batch", 2, vals, NULL, events);
}

sl_err bench_pg_get(bench_pg_conn *c, uint64_t item, int64_t *quantity)
{
	char product[16];
	snprintf(product, sizeof(product), "p%06llu", (unsigned long long)item);
	const char *vals[1] = {product};
	return exec_prepared(c, "get", 1, vals, quantity, NULL);
}

/* exec_order runs a prepared order function and maps its SQLSTATE (see sql_orders_schema). */
static sl_err exec_order(bench_pg_conn *c, const char *name, int n, const char *const *vals)
{
	PGresult *r = PQexecPrepared(c->conn, name, n, vals, NULL, NULL, 0);
	sl_err rc = SL_OK;
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		if (state != NULL && strcmp(state, "SL001") == 0)
			rc = SL_ERR_INSUFFICIENT_INVENTORY;
		else if (state != NULL && strcmp(state, "SL002") == 0)
			rc = SL_ERR_FAILED_PRECONDITION;
		else
			rc = SL_ERR_STORAGE;
	}
	PQclear(r);
	return rc;
}

/* order_arrays writes the array literals {p000001,...} and {1,...} of n lines into the
 * connection's buffer; *products and *quantities point into it. */
static sl_err order_arrays(bench_pg_conn *c, const uint64_t *items, const int64_t *quantities,
                           size_t n, const char **products, const char **quantities_out)
{
	size_t p = 0, size = sizeof(c->buf);
	const char *sep = "{";
	if (n == 0 || n > BENCH_PG_ORDER_LINES_MAX)
		return SL_ERR_LIMIT_EXCEEDED;
	for (size_t i = 0; i < n; i++, sep = ",")
		p += (size_t)snprintf(c->buf + p, size - p, "%sp%06llu", sep,
		                      (unsigned long long)items[i]);
	p += (size_t)snprintf(c->buf + p, size - p, "}") + 1;
	*products = c->buf;
	*quantities_out = c->buf + p;
	sep = "{";
	for (size_t i = 0; i < n; i++, sep = ",")
		p +=
		    (size_t)snprintf(c->buf + p, size - p, "%s%lld", sep, (long long)quantities[i]);
	snprintf(c->buf + p, size - p, "}");
	return SL_OK;
}

sl_err bench_pg_order_place(bench_pg_conn *c, const char *order_id, const uint64_t *items,
                            const int64_t *quantities, size_t n)
{
	const char *vals[3] = {order_id, NULL, NULL};
	sl_err rc = order_arrays(c, items, quantities, n, &vals[1], &vals[2]);
	return rc != SL_OK ? rc : exec_order(c, "place", 3, vals);
}

sl_err bench_pg_order_pay(bench_pg_conn *c, const char *order_id)
{
	const char *vals[1] = {order_id};
	return exec_order(c, "pay", 1, vals);
}

sl_err bench_pg_order_cancel(bench_pg_conn *c, const char *order_id)
{
	const char *vals[1] = {order_id};
	return exec_order(c, "cancel", 1, vals);
}

sl_err bench_pg_order_edit(bench_pg_conn *c, const char *order_id, const uint64_t *items,
                           const int64_t *quantities, size_t n)
{
	const char *vals[3] = {order_id, NULL, NULL};
	sl_err rc = order_arrays(c, items, quantities, n, &vals[1], &vals[2]);
	return rc != SL_OK ? rc : exec_order(c, "edit", 3, vals);
}

double bench_pg_bytes_per_event(bench_pg_conn *c)
{
	PGresult *r = PQexec(c->conn, "SELECT pg_total_relation_size('events')::float8 / "
	                              "greatest(count(*), 1) FROM events");
	double v = 0;
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		v = strtod(PQgetvalue(r, 0, 0), NULL);
	PQclear(r);
	return v;
}

sl_err bench_pg_settle(bench_pg_conn *c, char *why, size_t why_size)
{
	return exec_ok(c->conn, "CHECKPOINT", why, why_size);
}

/*
 * pg_aggregate.c - hdb_aggregate on PostgreSQL, with the memory backend's
 * semantics (memory_aggregate.c is the reference).
 *
 * Pushed down when the table has a schema, the filter translates, and the
 * group (if any) is a bool, int, float, text or timestamp column:
 *   SELECT g, <aggs> FROM t WHERE <filter> GROUP BY g ORDER BY g ASC NULLS FIRST
 * (one row without GROUP BY, even over no rows, as in SQL). Per aggregate:
 *   count          count(*) / count(f)
 *   sum  int/bool/timestamp   sum(...)::text -> int64 when it fits, else
 *                  float (PostgreSQL sums bigint as numeric, exactly);
 *        float     sum(f)
 *   avg            sum and count, divided here as memory does
 *   min/max        min/max(f) (text: byte order through COLLATE "C";
 *                  bool: bool_and/bool_or)
 * Otherwise (schemaless tables, filters evaluated here, json groups) the
 * matching rows are streamed here and aggregated by core
 * (hdb__agg_records), the code the memory backend runs. The checks and the
 * group records come from core/aggregate.h too.
 * Float sums on the server add in the server's row order, so the last bit
 * of a float sum or average may differ from memory's insertion order.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

#include "core/aggregate.h"
#include "core/alloc.h"
#include "core/cursor.h"
#include "core/err.h"
#include "core/record.h"
#include "core/schema.h"
#include "core/value.h"

static const char *where_of(const hdb__pg_conn *c) { return hdb__pg_pool_where(c->pool); }

static const hdb_value null_value = {.type = HDB_TYPE_NULL};

/* hdb__agg_field_check over a PostgreSQL table. */
static hdb_status check_field(const void *ctx, const char *field, const char *what,
                              hdb_error *err) {
  return hdb__pg_check_field(ctx, field, 0, 0, what, err);
}

/* ------------------------------------------------------------------ */
/* Client side (core's fold, as the memory backend)                    */
/* ------------------------------------------------------------------ */

static hdb_status collect_row(void *user, hdb_record *rec, hdb_error *err) {
  hdb_status st = hdb__rowbuf_push(user, rec, NAN);
  return st == HDB_OK ? HDB_OK : hdb__fail(err, st, "out of memory collecting rows");
}

static hdb_status client_side(hdb__pg_conn *c, PGconn *pg, const hdb__pg_table *t,
                              const hdb_agg *aggs, size_t n_aggs, const char *group_by,
                              const hdb__expr *filter, const hdb__pg_where *w,
                              hdb__rowbuf *buf, hdb_error *err) {
  hdb__rowbuf rows = {0};
  hdb_status st = hdb__pg_scan(pg, where_of(c), t, filter, w, NULL, collect_row, &rows, err);
  if (st == HDB_OK) {
    st = hdb__agg_records(t->name, aggs, n_aggs, group_by, (const hdb_record *const *)rows.rows,
                          rows.n, buf, err);
    if (st == HDB_NOMEM) /* this backend's wording */
      hdb__fail(err, HDB_NOMEM, "out of memory aggregating '%s'", t->name);
  }
  hdb__rowbuf_free(&rows);
  return st;
}

/* ------------------------------------------------------------------ */
/* Pushed down                                                         */
/* ------------------------------------------------------------------ */

/* The numeric text of a sum as a value: int64 when exact, else float. */
static void numeric_value(const char *s, hdb_value *out) {
  errno = 0;
  char *end;
  long long v = strtoll(s, &end, 10);
  if (errno == 0 && *end == '\0' && end != s) {
    out->type = HDB_TYPE_INT;
    out->as.i = v;
    return;
  }
  out->type = HDB_TYPE_FLOAT;
  out->as.f = strtod(s, NULL);
}

/* Appends the sum-as-numeric-text expression of column col. */
static void sum_text_expr(hdb__sql_buf *b, const hdb__column *col, hdb__pg_kind k) {
  if (col->type == HDB_TYPE_BOOL) {
    hdb__sql_buf_append(b, "sum(");
    hdb__sql_buf_ident(b, col->name);
    hdb__sql_buf_append(b, "::int)::text");
  } else if (col->type == HDB_TYPE_TIMESTAMP && k != HDB__PGK_TS_INT8) {
    hdb__sql_buf_append(b, "sum((EXTRACT(EPOCH FROM ");
    hdb__sql_buf_ident(b, col->name);
    hdb__sql_buf_append(b, ") * 1000000)::bigint)::text");
  } else {
    hdb__sql_buf_append(b, "sum(");
    hdb__sql_buf_ident(b, col->name);
    hdb__sql_buf_append(b, ")::text");
  }
}

static hdb_status pushed(hdb__pg_conn *c, PGconn *pg, const hdb__pg_table *t, const hdb_agg *aggs,
                         size_t n_aggs, const char *group_by, const hdb__pg_where *w,
                         hdb__rowbuf *buf, hdb_error *err) {
  hdb__sql_buf b = {0};
  hdb__pg_params p = {0};
  PGresult *res = NULL;
  hdb_status st = HDB_OK;
  const hdb__column *gcol = group_by ? hdb__schema_column(t->schema, group_by) : NULL;
  hdb__sql_buf_append(&b, "SELECT ");
  if (gcol) hdb__sql_buf_ident(&b, gcol->name);
  else hdb__sql_buf_append(&b, "NULL");
  for (size_t a = 0; a < n_aggs; a++) {
    hdb__sql_buf_append(&b, ", ");
    if (!aggs[a].field) {
      hdb__sql_buf_append(&b, "count(*)");
      continue;
    }
    const hdb__column *col = hdb__schema_column(t->schema, aggs[a].field);
    hdb__pg_kind k = t->kinds[col - t->schema->cols];
    switch (aggs[a].op) {
    case HDB_AGG_COUNT:
      hdb__sql_buf_append(&b, "count(");
      hdb__sql_buf_ident(&b, col->name);
      hdb__sql_buf_append(&b, ")");
      break;
    case HDB_AGG_SUM:
    case HDB_AGG_AVG:
      if (col->type == HDB_TYPE_FLOAT) {
        hdb__sql_buf_append(&b, "sum(");
        hdb__sql_buf_ident(&b, col->name);
        hdb__sql_buf_append(&b, ")");
      } else {
        sum_text_expr(&b, col, k);
      }
      hdb__sql_buf_append(&b, ", count(");
      hdb__sql_buf_ident(&b, col->name);
      hdb__sql_buf_append(&b, ")");
      break;
    case HDB_AGG_MIN:
    case HDB_AGG_MAX:
      if (col->type == HDB_TYPE_BOOL)
        hdb__sql_buf_append(&b, aggs[a].op == HDB_AGG_MIN ? "bool_and(" : "bool_or(");
      else
        hdb__sql_buf_append(&b, aggs[a].op == HDB_AGG_MIN ? "min(" : "max(");
      hdb__sql_buf_ident(&b, col->name);
      hdb__sql_buf_append(&b, ")");
      break;
    }
  }
  hdb__sql_buf_append(&b, " FROM ");
  hdb__sql_buf_ident(&b, t->pgname);
  hdb__sql_buf_append(&b, " WHERE ");
  hdb__sql_buf_append(&b, w->sql.s);
  if (gcol) {
    hdb__sql_buf_append(&b, " GROUP BY 1 ORDER BY 1 ASC NULLS FIRST");
  }
  if ((st = hdb__sql_buf_status(&b, err)) != HDB_OK) goto done;
  hdb__pg_params_from_sql(&p, &w->params);
  res = p.oom ? NULL : hdb__pg_exec(pg, b.s, &p);
  st = hdb__pg_check(pg, res, PGRES_TUPLES_OK, where_of(c), "aggregating", err);
  if (st != HDB_OK) {
    res = NULL;
    goto done;
  }
  for (int r = 0; r < PQntuples(res) && st == HDB_OK; r++) {
    hdb_value g = null_value;
    if (gcol && (st = hdb__pg_decode(res, r, 0, gcol->type, gcol->dim, &g, err)) != HDB_OK) break;
    hdb_record *rec;
    hdb_status gs = hdb__agg_group_record_new(group_by, gcol ? &g : NULL, &rec);
    hdb__value_release(&g);
    if (gs != HDB_OK) goto nomem;
    int ci = 1;
    for (size_t a = 0; a < n_aggs && st == HDB_OK; a++) {
      char name[HDB__AGG_NAME_CAP];
      hdb__agg_result_name(&aggs[a], name);
      hdb_value v = null_value;
      const hdb__column *col = aggs[a].field ? hdb__schema_column(t->schema, aggs[a].field) : NULL;
      if (!col || aggs[a].op == HDB_AGG_COUNT) {
        st = hdb__pg_decode(res, r, ci++, HDB_TYPE_INT, 0, &v, err);
      } else if (aggs[a].op == HDB_AGG_SUM || aggs[a].op == HDB_AGG_AVG) {
        int sc = ci++, cc = ci++;
        if (!PQgetisnull(res, r, sc)) {
          hdb_value cnt = null_value, sum = null_value;
          st = hdb__pg_decode(res, r, cc, HDB_TYPE_INT, 0, &cnt, err);
          if (st == HDB_OK && col->type == HDB_TYPE_FLOAT)
            st = hdb__pg_decode(res, r, sc, HDB_TYPE_FLOAT, 0, &sum, err);
          else if (st == HDB_OK)
            numeric_value(PQgetvalue(res, r, sc), &sum);
          if (st == HDB_OK) {
            if (aggs[a].op == HDB_AGG_SUM) {
              v = sum;
            } else {
              v.type = HDB_TYPE_FLOAT;
              v.as.f = (sum.type == HDB_TYPE_INT ? (double)sum.as.i : sum.as.f) / (double)cnt.as.i;
            }
          }
        }
      } else {
        st = hdb__pg_decode(res, r, ci++, col->type, col->dim, &v, err);
      }
      if (st == HDB_OK && hdb__record_put_owned(rec, name, &v) != HDB_OK) {
        hdb_record_free(rec);
        goto nomem;
      }
    }
    if (st != HDB_OK) {
      hdb_record_free(rec);
      break;
    }
    if (hdb__rowbuf_push(buf, rec, NAN) != HDB_OK) goto nomem;
  }
  goto done;
nomem:
  st = hdb__fail(err, HDB_NOMEM, "out of memory aggregating '%s'", t->name);
done:
  PQclear(res);
  hdb__sql_buf_free(&b);
  hdb__pg_params_free(&p);
  return st;
}

hdb_status hdb__pg_aggregate(void *conn, const char *table, const hdb_agg *aggs, size_t n_aggs,
                             const char *group_by, const hdb__expr *filter, hdb_cursor **out,
                             hdb_error *err) {
  hdb__pg_conn *c = conn;
  *out = NULL;
  PGconn *pg;
  hdb_status st = hdb__pg_enter(c, &pg, err);
  if (st != HDB_OK) return st;
  hdb__pg_table t;
  hdb__pg_where w;
  memset(&w, 0, sizeof w);
  hdb__rowbuf buf = {0};
  st = hdb__pg_table_load(pg, where_of(c), table, &t, err);
  if (st != HDB_OK) goto out;
  st = hdb__agg_check(t.name, t.schema, aggs, n_aggs, group_by, check_field, &t, err);
  if (st != HDB_OK) goto done;
  if ((st = hdb__pg_where_build(&t, filter, &w, err)) != HDB_OK) goto done;
  int push = t.schema && !w.client;
  if (push && group_by) {
    hdb_type gt = hdb__schema_column(t.schema, group_by)->type;
    push = gt == HDB_TYPE_BOOL || gt == HDB_TYPE_INT || gt == HDB_TYPE_FLOAT ||
           gt == HDB_TYPE_TEXT || gt == HDB_TYPE_TIMESTAMP;
  }
  if (push) st = pushed(c, pg, &t, aggs, n_aggs, group_by, &w, &buf, err);
  else st = client_side(c, pg, &t, aggs, n_aggs, group_by, filter, &w, &buf, err);
  if (st == HDB_OK) st = hdb__rowbuf_cursor(&buf, out, err);
done:
  hdb__pg_table_free(&t);
out:
  hdb__rowbuf_free(&buf);
  hdb__pg_where_free(&w);
  st = hdb__pg_leave(c, pg, st, err);
  if (st != HDB_OK && *out) {
    hdb_cursor_close(*out);
    *out = NULL;
  }
  return st;
}

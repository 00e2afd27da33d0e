/*
 * sqlite_aggregate.c - hdb_aggregate for the sqlite:// backend, with the
 * memory backend's semantics (memory_aggregate.c is the reference).
 *
 * On a typed table whose filter translates, one statement does the work:
 *
 *   SELECT "g", count(*), count("x"), sum("x"), CAST(sum("x") AS REAL) / count("x"),
 *          avg("y"), min("t"), max("t") FROM "t" WHERE <filter>
 *   GROUP BY "g" ORDER BY "g" ASC NULLS FIRST
 *
 * sum of bool/int/timestamp columns is SQLite's exact integer sum (an
 * int, as the API says); an average of those divides that exact sum; min
 * and max come back in the column's type. SQLite stops an integer sum
 * that overflows int64 with an error; the memory backend then falls back
 * to a float sum, so on that error (and for schemaless tables, and for
 * filters that do not translate) the rows are read in rowid order and
 * aggregated by core (hdb__agg_records), the code the memory backend runs:
 * rows sorted by (group value by hdb__value_order, rowid order), null
 * group first.
 *
 * Result records: id = the group value as text ("" for the single group,
 * "null" for the null group), the group_by field, then "count" or
 * "<op>_<field>" per aggregate.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite.h"

#include "core/aggregate.h"
#include "core/alloc.h"
#include "core/cursor.h"
#include "core/err.h"
#include "core/filter.h"
#include "core/value.h"

static const hdb_value null_value = {.type = HDB_TYPE_NULL};

/* hdb__agg_field_check over a SQLite table. */
static hdb_status check_field(const void *ctx, const char *field, const char *what,
                              hdb_error *err) {
  return hdb__sq_check_field(ctx, field, 0, 0, what, err);
}

/* ------------------------------------------------------------------ */
/* In SQL                                                              */
/* ------------------------------------------------------------------ */

/* A value of column col's type (or int/float for counts and sums) read
 * from result column i. */
static hdb_status result_col(sqlite3_stmt *st, int i, hdb_type type, hdb_value *v) {
  memset(v, 0, sizeof *v);
  v->type = HDB_TYPE_NULL;
  int ct = sqlite3_column_type(st, i);
  if (ct == SQLITE_NULL) return HDB_OK;
  switch (type) {
  case HDB_TYPE_BOOL: v->type = type; v->as.boolean = sqlite3_column_int64(st, i) != 0; return HDB_OK;
  case HDB_TYPE_INT: v->type = type; v->as.i = sqlite3_column_int64(st, i); return HDB_OK;
  case HDB_TYPE_FLOAT: v->type = type; v->as.f = sqlite3_column_double(st, i); return HDB_OK;
  case HDB_TYPE_TIMESTAMP: v->type = type; v->as.timestamp_us = sqlite3_column_int64(st, i); return HDB_OK;
  case HDB_TYPE_TEXT:
  case HDB_TYPE_JSON: {
    const unsigned char *p = sqlite3_column_text(st, i);
    size_t n = (size_t)sqlite3_column_bytes(st, i);
    char *d = hdb__strndup(p ? (const char *)p : "", n);
    if (!d) return HDB_NOMEM;
    v->type = type;
    v->as.text.data = d;
    v->as.text.len = n;
    return HDB_OK;
  }
  default: return HDB_OK;
  }
}

/* Runs the aggregate as SQL. HDB_NOT_SUPPORTED (nothing built) when the
 * filter does not translate or an integer sum overflowed. */
static hdb_status agg_sql(hdb__sq_conn *c, const hdb__sq_table *t, const hdb_agg *aggs, size_t n_aggs,
                          const char *group_by, const hdb__expr *filter, hdb__rowbuf *out,
                          hdb_error *err) {
  hdb__sql_buf b = {0}, w = {0};
  hdb__sql_params p = {0};
  sqlite3_stmt *st = NULL;
  int pushed;
  hdb_status s = hdb__sq_where(t, filter, " WHERE ", &w, &p, &pushed, err);
  if (s != HDB_OK || !pushed) {
    hdb__sql_buf_free(&w);
    return s != HDB_OK ? s : HDB_NOT_SUPPORTED;
  }
  const hdb__column *gcol = group_by ? hdb__schema_column(t->schema, group_by) : NULL;
  hdb__sql_buf_append(&b, "SELECT ");
  if (gcol) hdb__sql_buf_name(&b, HDB__SQL_SQLITE, group_by);
  else hdb__sql_buf_append(&b, "NULL");
  for (size_t i = 0; i < n_aggs; i++) {
    const hdb_agg *a = &aggs[i];
    hdb__sql_buf_append(&b, ", ");
    if (!a->field) {
      hdb__sql_buf_append(&b, a->op == HDB_AGG_COUNT ? "count(*)" : "NULL");
      continue;
    }
    const hdb__column *col = hdb__schema_column(t->schema, a->field);
    int is_float = col->type == HDB_TYPE_FLOAT;
    switch (a->op) {
    case HDB_AGG_COUNT: hdb__sql_buf_append(&b, "count("); break;
    case HDB_AGG_SUM: hdb__sql_buf_append(&b, "sum("); break;
    case HDB_AGG_AVG: hdb__sql_buf_append(&b, is_float ? "avg(" : "CAST(sum("); break;
    case HDB_AGG_MIN: hdb__sql_buf_append(&b, "min("); break;
    case HDB_AGG_MAX: hdb__sql_buf_append(&b, "max("); break;
    }
    hdb__sql_buf_name(&b, HDB__SQL_SQLITE, a->field);
    if (a->op == HDB_AGG_AVG && !is_float) {
      hdb__sql_buf_append(&b, ") AS REAL) / count(");
      hdb__sql_buf_name(&b, HDB__SQL_SQLITE, a->field);
    }
    hdb__sql_buf_append(&b, ")");
  }
  hdb__sql_buf_append(&b, " FROM ");
  hdb__sql_buf_name(&b, HDB__SQL_SQLITE, t->name);
  if (w.s) hdb__sql_buf_append(&b, w.s);
  if (gcol) {
    hdb__sql_buf_append(&b, " GROUP BY ");
    hdb__sql_buf_name(&b, HDB__SQL_SQLITE, group_by);
    hdb__sql_buf_append(&b, " ORDER BY ");
    hdb__sql_buf_name(&b, HDB__SQL_SQLITE, group_by);
    hdb__sql_buf_append(&b, " ASC NULLS FIRST");
  }
  s = hdb__sql_buf_status(&b, err);
  if (s == HDB_OK) s = hdb__sq_prepare(c, b.s, &st, err);
  if (s != HDB_OK) goto done;
  int rc = hdb__sq_bind_params(st, &p, 1);
  while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    rc = SQLITE_OK;
    hdb_value g = null_value;
    hdb_record *r = hdb_record_new(NULL);
    if (!r || (gcol && result_col(st, 0, gcol->type, &g) != HDB_OK)) {
      hdb_record_free(r);
      goto nomem;
    }
    r->id = hdb__agg_group_id(gcol ? &g : NULL);
    if (!r->id || (gcol && hdb__record_put_owned(r, group_by, &g) != HDB_OK)) {
      hdb__value_release(&g);
      hdb_record_free(r);
      goto nomem;
    }
    for (size_t i = 0; i < n_aggs; i++) {
      const hdb_agg *a = &aggs[i];
      hdb_type type = HDB_TYPE_INT;
      if (a->field) {
        hdb_type ct = hdb__schema_column(t->schema, a->field)->type;
        if (a->op == HDB_AGG_AVG) type = HDB_TYPE_FLOAT;
        else if (a->op == HDB_AGG_SUM) type = ct == HDB_TYPE_FLOAT ? HDB_TYPE_FLOAT : HDB_TYPE_INT;
        else if (a->op != HDB_AGG_COUNT) type = ct;
      }
      char name[HDB__AGG_NAME_CAP];
      hdb__agg_result_name(a, name);
      hdb_value v;
      if (result_col(st, 1 + (int)i, type, &v) != HDB_OK || hdb__record_put_owned(r, name, &v) != HDB_OK) {
        hdb_record_free(r);
        goto nomem;
      }
    }
    if (hdb__rowbuf_push(out, r, NAN) != HDB_OK) goto nomem;
  }
  if (rc != SQLITE_DONE) {
    if ((rc & 0xff) == SQLITE_ERROR && strstr(sqlite3_errmsg(c->db), "integer overflow")) {
      hdb__rowbuf_free(out);
      s = HDB_NOT_SUPPORTED;
    } else {
      s = hdb__sq_fail(c, rc, err, "aggregating table '%s'", t->name);
    }
  }
  goto done;
nomem:
  s = hdb__fail(err, HDB_NOMEM, "out of memory aggregating table '%s'", t->name);
done:
  hdb__sq_done(c, st);
  hdb__sql_params_free(&p);
  hdb__sql_buf_free(&w);
  hdb__sql_buf_free(&b);
  return s;
}

/* ------------------------------------------------------------------ */
/* In memory (core's rules, as the memory backend)                     */
/* ------------------------------------------------------------------ */

static hdb_status agg_scan(hdb__sq_conn *c, const hdb__sq_table *t, const hdb_agg *aggs, size_t n_aggs,
                           const char *group_by, const hdb__expr *filter, hdb__rowbuf *out,
                           hdb_error *err) {
  hdb__rowbuf rows = {0};
  hdb__sql_buf b = {0};
  hdb__sql_params p = {0};
  sqlite3_stmt *st = NULL;
  int pushed;
  hdb_record *rec;
  hdb__sql_buf_append(&b, "SELECT ");
  hdb__sq_select_list(&b, t);
  hdb__sql_buf_append(&b, " FROM ");
  hdb__sql_buf_name(&b, HDB__SQL_SQLITE, t->name);
  hdb_status s = hdb__sq_where(t, filter, " WHERE ", &b, &p, &pushed, err);
  hdb__sql_buf_append(&b, " ORDER BY rowid");
  if (s == HDB_OK) s = hdb__sql_buf_status(&b, err);
  if (s == HDB_OK) s = hdb__sq_prepare(c, b.s, &st, err);
  if (s != HDB_OK) goto done;
  int rc = hdb__sq_bind_params(st, &p, 1);
  while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    rc = SQLITE_OK;
    s = hdb__sq_row_record(t, st, 0, &rec, err);
    if (s != HDB_OK) goto done;
    int m = 1;
    if (!pushed) s = hdb__filter_eval(filter, rec, &m, err);
    if (s != HDB_OK || !m) {
      hdb_record_free(rec);
      if (s != HDB_OK) goto done;
      continue;
    }
    if (hdb__rowbuf_push(&rows, rec, NAN) != HDB_OK) goto nomem;
  }
  if (rc != SQLITE_DONE) {
    s = hdb__sq_fail(c, rc, err, "aggregating table '%s'", t->name);
    goto done;
  }
  s = hdb__agg_records(t->name, aggs, n_aggs, group_by, (const hdb_record *const *)rows.rows,
                       rows.n, out, err);
  goto done;
nomem:
  s = hdb__fail(err, HDB_NOMEM, "out of memory aggregating table '%s'", t->name);
done:
  hdb__sq_done(c, st);
  hdb__rowbuf_free(&rows);
  hdb__sql_params_free(&p);
  hdb__sql_buf_free(&b);
  return s;
}

hdb_status hdb__sq_aggregate(void *conn, const char *table, const hdb_agg *aggs, size_t n_aggs,
                             const char *group_by, const hdb__expr *filter, hdb_cursor **out,
                             hdb_error *err) {
  hdb__sq_conn *c = conn;
  *out = NULL;
  const hdb__sq_table *t;
  hdb_status s = hdb__sq_table_get(c, table, &t, err);
  if (s == HDB_OK) s = hdb__agg_check(t->name, t->schema, aggs, n_aggs, group_by, check_field, t, err);
  if (s == HDB_OK && filter) s = hdb__filter_bind(filter, t->schema, table, err);
  if (s != HDB_OK) return s;
  hdb__rowbuf buf = {0};
  s = t->schema ? agg_sql(c, t, aggs, n_aggs, group_by, filter, &buf, err) : HDB_NOT_SUPPORTED;
  if (s == HDB_NOT_SUPPORTED) s = agg_scan(c, t, aggs, n_aggs, group_by, filter, &buf, err);
  if (s == HDB_OK) s = hdb__rowbuf_cursor(&buf, out, err);
  hdb__rowbuf_free(&buf);
  return s;
}

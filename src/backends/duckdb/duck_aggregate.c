/*
 * duck_aggregate.c - hdb_aggregate on duckdb://, with the memory backend's
 * semantics (memory_aggregate.c is the reference):
 *  - one group without group_by, even over no rows (count 0, others null);
 *  - groups in ascending order of the group value, null first;
 *  - count(field) counts non-null values; sum of bools/ints/timestamps is
 *    an int (a float when it leaves int64), of floats a float; avg a float;
 *    min/max keep the column's type; nulls are skipped;
 *  - records: id = the group value as text ("" for the single group,
 *    "null" for the null group), the group_by field, then "count" or
 *    "<op>_<field>" per aggregate.
 *
 * Pushed down (strict table, translated filter, group column ordered by
 * DuckDB as hdb__value_order does):
 *   SELECT g, count(*), sum(x), CAST(sum(x) AS DOUBLE) / count(x), min(t) ...
 *   FROM t WHERE ... GROUP BY g ORDER BY g ASC NULLS FIRST
 * with bools summed as BIGINT (timestamps are BIGINT microseconds); DuckDB sums
 * integers exactly (HUGEINT). Otherwise (schemaless tables, filters core
 * evaluates, json groups) the matching rows are gathered and aggregated by
 * core (hdb__agg_records), the code the memory backend runs.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duck.h"

#include "core/aggregate.h"
#include "core/alloc.h"
#include "core/cursor.h"
#include "core/err.h"
#include "core/filter.h"
#include "core/record.h"
#include "core/value.h"

/* hdb__agg_field_check over a DuckDB table. */
static hdb_status check_field(const void *ctx, const char *field, const char *what,
                              hdb_error *err) {
  return hdb__duck_check_field(ctx, field, 0, 0, what, err);
}

/* ------------------------------------------------------------------ */
/* In C: core's fold over streamed rows                                */
/* ------------------------------------------------------------------ */

static hdb_status gather_row(hdb_record *rec, void *user) {
  return hdb__rowbuf_push(user, rec, NAN); /* takes rec, also on failure */
}

static hdb_status aggregate_in_c(hdb__duck_conn *c, const hdb__duck_table *t, const hdb_agg *aggs,
                                 size_t n_aggs, const char *group_by, const hdb__expr *filter,
                                 hdb__rowbuf *buf, hdb_error *err) {
  hdb__rowbuf rows = {0};
  hdb_status st = hdb__duck_scan(c, t, filter, NULL, gather_row, &rows, err);
  if (st == HDB_NOMEM && err && err->code != HDB_NOMEM)
    hdb__fail(err, st, "out of memory aggregating table '%s'", t->name);
  if (st == HDB_OK)
    st = hdb__agg_records(t->name, aggs, n_aggs, group_by, (const hdb_record *const *)rows.rows,
                          rows.n, buf, err);
  hdb__rowbuf_free(&rows);
  return st;
}

/* ------------------------------------------------------------------ */
/* Pushed down                                                         */
/* ------------------------------------------------------------------ */

/* The aggregate over column col as SQL. */
static void agg_sql(hdb__sql_buf *b, const hdb_agg *a, const hdb__column *col) {
  if (!a->field) {
    hdb__sql_buf_append(b, "count(*)");
    return;
  }
  hdb__sql_buf x = {0};
  if (col->type == HDB_TYPE_BOOL && (a->op == HDB_AGG_SUM || a->op == HDB_AGG_AVG)) {
    hdb__sql_buf_append(&x, "CAST(");
    hdb__duck_ident(&x, a->field);
    hdb__sql_buf_append(&x, " AS BIGINT)");
  } else {
    /* Timestamps are BIGINT microseconds already (sql.h's type map). */
    hdb__duck_ident(&x, a->field);
  }
  const char *e = x.s ? x.s : "NULL";
  switch (a->op) {
  case HDB_AGG_COUNT: hdb__sql_buf_appendf(b, "count(%s)", e); break;
  case HDB_AGG_SUM: hdb__sql_buf_appendf(b, "sum(%s)", e); break;
  case HDB_AGG_AVG: hdb__sql_buf_appendf(b, "CAST(sum(%s) AS DOUBLE) / count(%s)", e, e); break;
  case HDB_AGG_MIN: hdb__sql_buf_appendf(b, "min(%s)", e); break;
  case HDB_AGG_MAX: hdb__sql_buf_appendf(b, "max(%s)", e); break;
  }
  if (x.oom) b->oom = 1;
  hdb__sql_buf_free(&x);
}

/* Result cell of aggregate a as a value (borrowed view, or int/float). */
static hdb_status agg_cell(const hdb__duck_colview *v, idx_t row, const hdb_agg *a,
                           const hdb__column *col, hdb_value *out, hdb_error *err) {
  memset(out, 0, sizeof *out);
  out->type = HDB_TYPE_NULL;
  if (v->validity && !duckdb_validity_row_is_valid(v->validity, row)) {
    if (a->op == HDB_AGG_COUNT) out->type = HDB_TYPE_INT; /* count is never null */
    return HDB_OK;
  }
  switch (v->tid) {
  case DUCKDB_TYPE_HUGEINT: {
    duckdb_hugeint h = ((duckdb_hugeint *)v->data)[row];
    /* Fits int64 when the upper half is the sign extension of the lower. */
    if ((h.upper == 0 && h.lower <= (uint64_t)INT64_MAX) ||
        (h.upper == -1 && h.lower > (uint64_t)INT64_MAX)) {
      out->type = HDB_TYPE_INT;
      out->as.i = (int64_t)h.lower;
    } else {
      out->type = HDB_TYPE_FLOAT;
      out->as.f = duckdb_hugeint_to_double(h);
    }
    return HDB_OK;
  }
  case DUCKDB_TYPE_BIGINT: /* counts; min/max of int and timestamp columns */
    if (a->op != HDB_AGG_COUNT && col && col->type == HDB_TYPE_TIMESTAMP) {
      out->type = HDB_TYPE_TIMESTAMP;
      out->as.timestamp_us = ((int64_t *)v->data)[row];
    } else {
      out->type = HDB_TYPE_INT;
      out->as.i = ((int64_t *)v->data)[row];
    }
    return HDB_OK;
  case DUCKDB_TYPE_DOUBLE:
    out->type = HDB_TYPE_FLOAT;
    out->as.f = ((double *)v->data)[row];
    return HDB_OK;
  default:
    break;
  }
  return hdb__duck_cell(v, row, col->type, out, a->field ? a->field : "count", err);
}

static hdb_status aggregate_sql(hdb__duck_conn *c, const hdb__duck_table *t, const hdb_agg *aggs,
                                size_t n_aggs, const char *group_by, const hdb__sql_buf *where,
                                const hdb__sql_params *p, hdb__rowbuf *buf, hdb_error *err) {
  hdb__sql_buf b = {0};
  const hdb__column *gcol = group_by ? hdb__schema_column(t->schema, group_by) : NULL;
  hdb__sql_buf_append(&b, "SELECT ");
  if (gcol) {
    hdb__duck_ident(&b, group_by);
    hdb__sql_buf_append(&b, ", ");
  }
  hdb__sql_buf_append(&b, "count(*)"); /* keeps the list non-empty */
  for (size_t a = 0; a < n_aggs; a++) {
    hdb__sql_buf_append(&b, ", ");
    agg_sql(&b, &aggs[a], aggs[a].field ? hdb__schema_column(t->schema, aggs[a].field) : NULL);
  }
  hdb__sql_buf_append(&b, " FROM ");
  hdb__duck_ident(&b, t->name);
  if (where->s) hdb__sql_buf_append(&b, where->s);
  if (gcol) {
    hdb__sql_buf_append(&b, " GROUP BY ");
    hdb__duck_ident(&b, group_by);
    hdb__sql_buf_append(&b, " ORDER BY ");
    hdb__duck_ident(&b, group_by);
    hdb__sql_buf_append(&b, " ASC NULLS FIRST");
  }
  duckdb_result res;
  hdb_status st = hdb__sql_buf_status(&b, err);
  if (st == HDB_OK) st = hdb__duck_run(c, b.s, p->v, p->n, &res, err, "aggregating");
  hdb__sql_buf_free(&b);
  if (st != HDB_OK) return st;
  idx_t ncols = duckdb_column_count(&res);
  hdb__duck_colview *views = hdb__calloc(ncols, sizeof *views);
  if (!views) st = hdb__fail(err, HDB_NOMEM, "out of memory aggregating table '%s'", t->name);
  idx_t first = gcol ? 2 : 1;
  for (;;) {
    if (st != HDB_OK) break;
    duckdb_data_chunk ch = duckdb_fetch_chunk(res);
    if (!ch) break;
    idx_t n = duckdb_data_chunk_get_size(ch);
    hdb__duck_chunk_views(ch, views, ncols);
    for (idx_t r = 0; st == HDB_OK && r < n; r++) {
      hdb_value g = {.type = HDB_TYPE_NULL}; /* borrowed view */
      hdb_record *rec = NULL;
      if (gcol) st = hdb__duck_cell(&views[0], r, gcol->type, &g, group_by, err);
      if (st != HDB_OK) break;
      if (hdb__agg_group_record_new(group_by, gcol ? &g : NULL, &rec) != HDB_OK) {
        st = hdb__fail(err, HDB_NOMEM, "out of memory aggregating table '%s'", t->name);
        break;
      }
      for (size_t a = 0; st == HDB_OK && a < n_aggs; a++) {
        const hdb__column *col = aggs[a].field ? hdb__schema_column(t->schema, aggs[a].field) : NULL;
        hdb_value view, owned;
        char name[HDB__AGG_NAME_CAP];
        hdb__agg_result_name(&aggs[a], name);
        st = agg_cell(&views[first + a], r, &aggs[a], col, &view, err);
        if (st == HDB_OK && (hdb__value_copy(&owned, &view) != HDB_OK ||
                             hdb__record_put_owned(rec, name, &owned) != HDB_OK))
          st = hdb__fail(err, HDB_NOMEM, "out of memory aggregating table '%s'", t->name);
      }
      if (st == HDB_OK && hdb__rowbuf_push(buf, rec, NAN) != HDB_OK)
        st = hdb__fail(err, HDB_NOMEM, "out of memory aggregating table '%s'", t->name);
      else if (st != HDB_OK)
        hdb_record_free(rec);
    }
    duckdb_destroy_data_chunk(&ch);
  }
  hdb__free_mem(views);
  duckdb_destroy_result(&res);
  return st;
}

hdb_status hdb__duck_aggregate(void *conn, const char *table, const hdb_agg *aggs,
                               size_t n_aggs, const char *group_by, const hdb__expr *filter,
                               hdb_cursor **out, hdb_error *err) {
  hdb__duck_conn *c = conn;
  *out = NULL;
  hdb_status st = hdb__duck_enter(c, 0, err);
  if (st != HDB_OK) return st;
  hdb__duck_table t;
  if ((st = hdb__duck_table_load(c, table, &t, err)) != HDB_OK) return st;
  hdb__sql_buf where = {0};
  hdb__sql_params p = {0};
  hdb__rowbuf buf = {0};
  int pushed = 0;
  if ((st = hdb__agg_check(t.name, t.schema, aggs, n_aggs, group_by, check_field, &t, err)) != HDB_OK)
    goto done;
  if (filter && (st = hdb__filter_bind(filter, t.schema, table, err)) != HDB_OK) goto done;
  if ((st = hdb__duck_where(&t, filter, &where, &p, &pushed, err)) != HDB_OK) goto done;
  const hdb__column *gcol = group_by && t.schema ? hdb__schema_column(t.schema, group_by) : NULL;
  int sql = pushed && t.schema && (!group_by || gcol->type != HDB_TYPE_JSON);
  if (!sql && pushed) { /* the C fold scans with the filter again */
    hdb__sql_buf_free(&where);
    hdb__sql_params_free(&p);
  }
  if (sql)
    st = aggregate_sql(c, &t, aggs, n_aggs, group_by, &where, &p, &buf, err);
  else
    st = aggregate_in_c(c, &t, aggs, n_aggs, group_by, filter, &buf, err);
  if (st == HDB_OK) st = hdb__rowbuf_cursor(&buf, out, err);
done:
  hdb__rowbuf_free(&buf);
  hdb__sql_buf_free(&where);
  hdb__sql_params_free(&p);
  hdb__duck_table_free(&t);
  return st;
}

/*
 * duck_search.c - exact vector search on duckdb:// with DuckDB's array
 * distance functions, the filter in the same statement.
 *
 *   SELECT id, <projected columns>, <distance> AS _d FROM t
 *   WHERE v IS NOT NULL AND (<translated filter>)
 *   ORDER BY _d, id LIMIT k
 *
 * Vectors are FLOAT[N] columns; the query is bound as a FLOAT[N] value.
 * The reported distance is hanzo-db's definition (hanzodb.h):
 *   l2      squared Euclidean: DuckDB's array_distance (Euclidean, float)
 *           ordered as is (same order) and squared in double when read;
 *   cosine  1 - cos, and 1 when either vector is zero: array_cosine_distance
 *           clamped to [0, 2] (as core/distance.c does), with the zero
 *           cases handled explicitly (DuckDB answers 2 for a zero vector);
 *   dot     -<a,b>: -array_inner_product over the vectors cast to DOUBLE[N].
 * DuckDB's FLOAT[N] functions accumulate in float, core in double. For l2
 * (a sum of squares) and cosine (errors relative to the norms) that stays
 * below 2e-5 relative even at dim 65536; a dot product whose terms cancel
 * does not (3e-4 at dim 1536, over the conformance suite's 1e-4), so dot
 * is computed in double, at about twice the cost (measured in
 * tests/duckdb/test_duck_backend.c). Ties are broken by id.
 *
 * A filter the translator cannot express exactly is evaluated by core on
 * the rows streaming in distance order until k of them match; the rest of
 * the result is never decoded.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "duck.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/err.h"
#include "core/filter.h"
#include "core/record.h"

/* Appends the distance expression; *uses_q says whether it took the
 * query parameter. */
static void distance_sql(hdb__sql_buf *b, hdb_metric m, const hdb__column *col, int q_zero,
                         int *uses_q) {
  char q[48];
  snprintf(q, sizeof q, "?::FLOAT[%u]", (unsigned)col->dim);
  *uses_q = 1;
  switch (m) {
  case HDB_METRIC_COSINE:
    if (q_zero) {
      hdb__sql_buf_append(b, "1.0::DOUBLE");
      *uses_q = 0;
      return;
    }
    hdb__sql_buf_append(b, "CASE WHEN array_inner_product(");
    hdb__duck_ident(b, col->name);
    hdb__sql_buf_append(b, ", ");
    hdb__duck_ident(b, col->name);
    hdb__sql_buf_append(b, ") = 0 THEN 1.0::DOUBLE ELSE greatest(0.0, least(2.0, CAST(array_cosine_distance(");
    hdb__duck_ident(b, col->name);
    hdb__sql_buf_appendf(b, ", %s) AS DOUBLE))) END", q);
    return;
  case HDB_METRIC_DOT:
    /* In double: a float sum of products that cancel is off by more than
     * the 1e-4 the suite allows (measured 3e-4 at dim 1536). */
    hdb__sql_buf_append(b, "-array_inner_product(CAST(");
    hdb__duck_ident(b, col->name);
    hdb__sql_buf_appendf(b, " AS DOUBLE[%u]), ?::DOUBLE[%u])", (unsigned)col->dim, (unsigned)col->dim);
    return;
  default:
    hdb__sql_buf_append(b, "CAST(array_distance(");
    hdb__duck_ident(b, col->name);
    hdb__sql_buf_appendf(b, ", %s) AS DOUBLE)", q);
    return;
  }
}

hdb_status hdb__duck_search(void *conn, const char *table, const hdb__search *s,
                            hdb_cursor **out, hdb_error *err) {
  hdb__duck_conn *c = conn;
  *out = NULL;
  hdb_status st = hdb__duck_enter(c, 0, err);
  if (st != HDB_OK) return st;
  if (s->version != 0)
    return hdb__fail(err, HDB_NOT_SUPPORTED,
                     "duckdb backend has no time travel (table '%s', version %lld)", table,
                     (long long)s->version);
  if (s->k < 1)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "search of table '%s': k must be >= 1, not %d",
                     table, s->k);
  hdb__duck_table t;
  if ((st = hdb__duck_table_load(c, table, &t, err)) != HDB_OK) return st;
  const hdb__column *col = NULL;
  hdb__sql_buf b = {0}, wb = {0};
  hdb__sql_params p = {0}, wp = {0};
  hdb__duck_rowspec spec = {0};
  hdb__rowbuf buf = {0};
  hdb__duck_colview *views = NULL;
  duckdb_result res;
  int have_res = 0, pushed = 0, uses_q = 0;

  if ((st = hdb__schema_search_column(t.schema, t.name, s->column, &col, err)) != HDB_OK) goto done;
  if (s->dim != col->dim) {
    st = hdb__fail(err, HDB_DIMENSION,
                   "query vector has %u components; column '%s' of table '%s' has %u",
                   (unsigned)s->dim, col->name, table, (unsigned)col->dim);
    goto done;
  }
  if (s->filter && (st = hdb__filter_bind(s->filter, t.schema, table, err)) != HDB_OK) goto done;
  for (size_t i = 0; s->fields && i < s->n_fields; i++) {
    char what[48];
    snprintf(what, sizeof what, "projected field %zu", i);
    if ((st = hdb__duck_check_field(&t, s->fields[i], 1, 0, what, err)) != HDB_OK) goto done;
  }
  hdb_metric metric = s->metric == HDB_METRIC_DEFAULT ? col->metric : s->metric;
  int q_zero = 1;
  for (uint32_t i = 0; i < s->dim; i++) q_zero &= s->vector[i] == 0.0f;
  hdb_value qv;
  memset(&qv, 0, sizeof qv);
  qv.type = HDB_TYPE_VECTOR;
  qv.as.vector.data = s->vector;
  qv.as.vector.dim = s->dim;

  if ((st = hdb__duck_where(&t, s->filter, &wb, &wp, &pushed, err)) != HDB_OK) goto done;
  st = pushed ? hdb__duck_rowspec_fields(&t, s->fields, s->fields ? s->n_fields : 0, &spec, err)
              : hdb__duck_rowspec_all(&t, &spec, err);
  if (st != HDB_OK) goto done;
  hdb__sql_buf_append(&b, "SELECT ");
  hdb__duck_select_list(&b, &spec);
  hdb__sql_buf_append(&b, ", ");
  distance_sql(&b, metric, col, q_zero, &uses_q);
  if (uses_q) {
    p.v = hdb__malloc((1 + wp.n) * sizeof *p.v);
    if (!p.v) {
      st = hdb__fail(err, HDB_NOMEM, "out of memory searching table '%s'", table);
      goto done;
    }
    p.v[p.n++] = &qv;
  } else if (wp.n) {
    p.v = hdb__malloc(wp.n * sizeof *p.v);
    if (!p.v) {
      st = hdb__fail(err, HDB_NOMEM, "out of memory searching table '%s'", table);
      goto done;
    }
  }
  for (size_t i = 0; i < wp.n; i++) p.v[p.n++] = wp.v[i];
  hdb__sql_buf_append(&b, " AS _d FROM ");
  hdb__duck_ident(&b, table);
  hdb__sql_buf_append(&b, " WHERE ");
  hdb__duck_ident(&b, col->name);
  hdb__sql_buf_append(&b, " IS NOT NULL");
  if (wb.len > 7) { /* " WHERE <expr>": the same expression, ANDed */
    hdb__sql_buf_append(&b, " AND (");
    hdb__sql_buf_append(&b, wb.s + 7);
    hdb__sql_buf_append(&b, ")");
  }
  hdb__sql_buf_append(&b, " ORDER BY _d, id");
  if (pushed) hdb__sql_buf_appendf(&b, " LIMIT %d", s->k);
  if ((st = hdb__sql_buf_status(&b, err)) != HDB_OK) goto done;
  long dist_col = (long)spec.n + (spec.schemaless ? 2 : 1);
  int square = metric == HDB_METRIC_L2 || metric == HDB_METRIC_DEFAULT;

  if (pushed) {
    if ((st = hdb__duck_run(c, b.s, p.v, p.n, &res, err, "searching")) != HDB_OK) goto done;
    st = hdb__duck_result_cursor(c, &res, &spec, &t.schema, dist_col, square, out, err);
    spec.cols = NULL; /* the cursor owns it */
    goto done;
  }

  /* Core filters the rows as they stream in distance order. */
  if ((st = hdb__duck_run_streaming(c, b.s, p.v, p.n, &res, err, "searching")) != HDB_OK) goto done;
  have_res = 1;
  idx_t ncols = duckdb_column_count(&res);
  views = hdb__calloc(ncols, sizeof *views);
  if (!views) {
    st = hdb__fail(err, HDB_NOMEM, "out of memory searching table '%s'", table);
    goto done;
  }
  while (st == HDB_OK && buf.n < (size_t)s->k) {
    duckdb_data_chunk ch = duckdb_fetch_chunk(res);
    if (!ch) break;
    idx_t n = duckdb_data_chunk_get_size(ch);
    hdb__duck_chunk_views(ch, views, ncols);
    for (idx_t r = 0; st == HDB_OK && r < n && buf.n < (size_t)s->k; r++) {
      hdb_record *rec = NULL;
      int match = 0;
      if ((st = hdb__duck_decode_row(&spec, views, r, &rec, err)) != HDB_OK) break;
      st = hdb__filter_eval(s->filter, rec, &match, err);
      if (st == HDB_OK && match) {
        double d = hdb__duck_cell_double(&views[dist_col], r);
        hdb_record *pr = s->fields ? hdb__record_project(rec, s->fields, s->n_fields) : rec;
        if (pr != rec) hdb_record_free(rec);
        rec = NULL;
        if (!pr || hdb__rowbuf_push(&buf, pr, square ? d * d : d) != HDB_OK)
          st = hdb__fail(err, HDB_NOMEM, "out of memory searching table '%s'", table);
      }
      hdb_record_free(rec);
    }
    duckdb_destroy_data_chunk(&ch);
  }
  if (st == HDB_OK) st = hdb__rowbuf_cursor(&buf, out, err);
done:
  if (have_res) duckdb_destroy_result(&res);
  hdb__free_mem(views);
  hdb__rowbuf_free(&buf);
  hdb__free_mem(spec.cols);
  hdb__sql_buf_free(&b);
  hdb__sql_buf_free(&wb);
  hdb__free_mem(p.v);
  hdb__sql_params_free(&wp);
  hdb__duck_table_free(&t);
  return st;
}

/*
 * sqlite_search.c - exact vector search inside SQLite.
 *
 * hdb_distance(vec BLOB, query BLOB, metric INTEGER) is a deterministic
 * scalar function registered on every connection; it computes core's
 * hdb__distance (so "_distance" is the same number on every backend) on
 * little-endian float32 blobs. A search is one statement:
 *
 *   SELECT "id", cols.., hdb_distance("v", ?, ?) AS d FROM "t"
 *   WHERE "v" IS NOT NULL AND (<filter>) ORDER BY d NULLS LAST, "id" LIMIT ?
 *
 * so the filter runs in the same statement, before the top-k, and k rows
 * come back whenever k rows match. SQLite keeps a bounded sorter for
 * ORDER BY ... LIMIT. A NaN distance (float overflow) is returned as NULL
 * and ranks last, as in the memory backend. When the filter does not
 * translate, the statement has no WHERE filter and no LIMIT, and rows are
 * taken in distance order until k of them pass core's evaluator.
 *
 * The query vector's aligned copy is cached with sqlite3_set_auxdata for
 * the statement's life; each row's blob is copied into an aligned scratch
 * buffer owned by the connection's function (blobs in SQLite's pages have
 * no alignment guarantee).
 */
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "sqlite.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/distance.h"
#include "core/err.h"
#include "core/filter.h"

typedef struct dist_scratch {
  float *v;
  size_t cap; /* floats */
} dist_scratch;

static void scratch_free(void *p) {
  dist_scratch *s = p;
  if (!s) return;
  hdb__free_mem(s->v);
  hdb__free_mem(s);
}

static void query_free(void *p) { hdb__free_mem(p); }

static void distance_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  if (sqlite3_value_type(argv[0]) != SQLITE_BLOB || sqlite3_value_type(argv[1]) != SQLITE_BLOB) {
    sqlite3_result_null(ctx);
    return;
  }
  int na = sqlite3_value_bytes(argv[0]), nb = sqlite3_value_bytes(argv[1]);
  if (na != nb || na % 4 || na == 0) {
    sqlite3_result_null(ctx);
    return;
  }
  uint32_t dim = (uint32_t)(na / 4);
  float *q = sqlite3_get_auxdata(ctx, 1);
  if (!q) {
    q = hdb__malloc((size_t)na);
    if (!q) {
      sqlite3_result_error_nomem(ctx);
      return;
    }
    hdb__sql_vector_read(sqlite3_value_blob(argv[1]), dim, q);
    sqlite3_set_auxdata(ctx, 1, q, query_free);
    q = sqlite3_get_auxdata(ctx, 1); /* SQLite may have freed it already */
    if (!q) {
      sqlite3_result_error_nomem(ctx);
      return;
    }
  }
  dist_scratch *s = sqlite3_user_data(ctx);
  if (s->cap < dim) {
    float *nv = hdb__realloc(s->v, (size_t)na);
    if (!nv) {
      sqlite3_result_error_nomem(ctx);
      return;
    }
    s->v = nv;
    s->cap = dim;
  }
  hdb__sql_vector_read(sqlite3_value_blob(argv[0]), dim, s->v);
  hdb_metric m = (hdb_metric)sqlite3_value_int(argv[2]);
  float d = hdb__distance(m, s->v, q, dim);
  if (isnan(d))
    sqlite3_result_null(ctx);
  else
    sqlite3_result_double(ctx, (double)d);
}

int hdb__sq_register_functions(sqlite3 *db) {
  dist_scratch *s = hdb__calloc(1, sizeof *s);
  if (!s) return SQLITE_NOMEM;
  /* On failure SQLite calls the destructor itself. */
  return sqlite3_create_function_v2(db, "hdb_distance", 3,
                                    SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY, s,
                                    distance_fn, NULL, NULL, scratch_free);
}

hdb_status hdb__sq_search(void *conn, const char *table, const hdb__search *s, hdb_cursor **out,
                          hdb_error *err) {
  hdb__sq_conn *c = conn;
  *out = NULL;
  if (s->version != 0)
    return hdb__fail(err, HDB_NOT_SUPPORTED, "sqlite backend has no time travel (table '%s', version %lld)",
                     table, (long long)s->version);
  if (s->k < 1)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "search of table '%s': k must be >= 1, not %d", table, s->k);
  const hdb__sq_table *t;
  const hdb__column *col;
  hdb_status st = hdb__sq_table_get(c, table, &t, err);
  if (st == HDB_OK) st = hdb__schema_search_column(t->schema, t->name, s->column, &col, err);
  if (st != HDB_OK) return st;
  if (s->dim != col->dim)
    return hdb__fail(err, HDB_DIMENSION, "query vector has %u components; column '%s' of table '%s' has %u",
                     (unsigned)s->dim, col->name, table, (unsigned)col->dim);
  if (s->filter) {
    st = hdb__filter_bind(s->filter, t->schema, table, err);
    if (st != HDB_OK) return st;
  }
  for (size_t i = 0; s->fields && i < s->n_fields; i++) {
    char what[48];
    snprintf(what, sizeof what, "projected field %zu", i);
    st = hdb__sq_check_field(t, s->fields[i], 0, 1, what, err);
    if (st != HDB_OK) return st;
  }
  hdb_metric metric = s->metric == HDB_METRIC_DEFAULT ? col->metric : s->metric;

  hdb__sql_buf b = {0}, w = {0};
  hdb__sql_params p = {0};
  hdb__rowbuf buf = {0};
  sqlite3_stmt *stmt = NULL;
  int pushed;
  void *qowned = NULL;
  st = hdb__sq_where(t, s->filter, " AND ", &w, &p, &pushed, err);
  if (st != HDB_OK) goto done;
  hdb__sql_buf_append(&b, "SELECT ");
  hdb__sq_select_list(&b, t);
  hdb__sql_buf_append(&b, ", hdb_distance(");
  hdb__sql_buf_name(&b, HDB__SQL_SQLITE, col->name);
  hdb__sql_buf_append(&b, ", ?, ?) AS _d FROM ");
  hdb__sql_buf_name(&b, HDB__SQL_SQLITE, table);
  hdb__sql_buf_append(&b, " WHERE ");
  hdb__sql_buf_name(&b, HDB__SQL_SQLITE, col->name);
  hdb__sql_buf_append(&b, " IS NOT NULL");
  if (pushed && w.s) hdb__sql_buf_append(&b, w.s);
  hdb__sql_buf_append(&b, " ORDER BY _d ASC NULLS LAST, \"id\" ASC");
  if (pushed) hdb__sql_buf_append(&b, " LIMIT ?");
  st = hdb__sql_buf_status(&b, err);
  if (st == HDB_OK) st = hdb__sq_prepare(c, b.s, &stmt, err);
  if (st != HDB_OK) goto done;
  const void *qb = hdb__sql_vector_blob(s->vector, s->dim, &qowned);
  int rc = qb ? sqlite3_bind_blob64(stmt, 1, qb, (sqlite3_uint64)s->dim * 4, SQLITE_STATIC) : SQLITE_NOMEM;
  if (rc == SQLITE_OK) rc = sqlite3_bind_int(stmt, 2, (int)metric);
  if (rc == SQLITE_OK) rc = hdb__sq_bind_params(stmt, &p, 3);
  if (rc == SQLITE_OK && pushed) rc = sqlite3_bind_int64(stmt, 3 + (int)p.n, s->k);
  if (rc != SQLITE_OK) {
    st = hdb__sq_fail(c, rc, err, "searching table '%s'", table);
    goto done;
  }
  int ncols = 1 + (t->schema ? (int)t->schema->n : 1);
  while (buf.n < (size_t)s->k && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    hdb_record *r;
    st = hdb__sq_row_record(t, stmt, 0, &r, err);
    if (st != HDB_OK) goto done;
    if (!pushed) {
      int m = 0;
      st = hdb__filter_eval(s->filter, r, &m, err);
      if (st != HDB_OK || !m) {
        hdb_record_free(r);
        if (st != HDB_OK) goto done;
        continue;
      }
    }
    double d = sqlite3_column_type(stmt, ncols) == SQLITE_NULL ? NAN : sqlite3_column_double(stmt, ncols);
    if (s->fields) {
      hdb_record *pr = hdb__record_project(r, s->fields, s->n_fields);
      hdb_record_free(r);
      if (!(r = pr)) goto nomem;
    }
    if (hdb__rowbuf_push(&buf, r, d) != HDB_OK) goto nomem;
  }
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
    st = hdb__sq_fail(c, rc, err, "searching table '%s'", table);
    goto done;
  }
  hdb__sq_done(c, stmt);
  stmt = NULL;
  st = hdb__rowbuf_cursor(&buf, out, err);
  goto done;
nomem:
  st = hdb__fail(err, HDB_NOMEM, "out of memory searching table '%s'", table);
done:
  hdb__sq_done(c, stmt);
  hdb__free_mem(qowned);
  hdb__rowbuf_free(&buf);
  hdb__sql_params_free(&p);
  hdb__sql_buf_free(&w);
  hdb__sql_buf_free(&b);
  return st;
}

/*
 * duck_values.c - values between hanzo and DuckDB: parameter binding, the
 * bulk appender (data chunks), decoding result chunks into records, and the
 * JSON document of schemaless tables (the shared SQL layer's format).
 *
 * Appending builds DuckDB data chunks directly (one duckdb_vector_size()
 * batch of rows at a time, vectors memcpy'd into FLOAT[N] children) and
 * hands them to duckdb_append_data_chunk: no per-value DuckDB objects. The
 * chunk's column types are the appender's (the table's), and every record
 * was conformed to the schema first, so each value meets the one DuckDB
 * type its column has (timestamps are the same int64 microseconds; json is
 * its text).
 *
 * Schemaless tables keep each record in the doc JSON column in the shared
 * SQL layer's document format (hdb__sql_doc_encode / hdb__sql_doc_decode),
 * which the filter translator reads with DuckDB's JSON functions.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "duck.h"

#include "core/alloc.h"
#include "core/err.h"
#include "core/json.h"
#include "core/record.h"
#include "core/value.h"

/* ------------------------------------------------------------------ */
/* Binding                                                             */
/* ------------------------------------------------------------------ */

static hdb_status bind_vector(duckdb_prepared_statement st, idx_t i, const float *data,
                              uint32_t dim, hdb_error *err) {
  duckdb_logical_type ft = duckdb_create_logical_type(DUCKDB_TYPE_FLOAT);
  duckdb_value *vals = hdb__calloc(dim ? dim : 1, sizeof *vals);
  hdb_status rc = HDB_OK;
  if (!vals) {
    duckdb_destroy_logical_type(&ft);
    return hdb__fail(err, HDB_NOMEM, "out of memory binding a %u-dimensional vector", (unsigned)dim);
  }
  for (uint32_t k = 0; k < dim; k++) vals[k] = duckdb_create_float(data[k]);
  duckdb_value arr = duckdb_create_array_value(ft, vals, dim);
  if (!arr || duckdb_bind_value(st, i, arr) != DuckDBSuccess)
    rc = hdb__fail(err, HDB_ERROR, "duckdb: cannot bind a %u-dimensional vector", (unsigned)dim);
  for (uint32_t k = 0; k < dim; k++) duckdb_destroy_value(&vals[k]);
  if (arr) duckdb_destroy_value(&arr);
  hdb__free_mem(vals);
  duckdb_destroy_logical_type(&ft);
  return rc;
}

hdb_status hdb__duck_bind(duckdb_prepared_statement st, idx_t i, const hdb_value *v,
                          hdb_error *err) {
  duckdb_state ok = DuckDBError;
  switch (v->type) {
  case HDB_TYPE_NULL:
    ok = duckdb_bind_null(st, i);
    break;
  case HDB_TYPE_BOOL:
    ok = duckdb_bind_boolean(st, i, v->as.boolean != 0);
    break;
  case HDB_TYPE_INT:
    ok = duckdb_bind_int64(st, i, v->as.i);
    break;
  case HDB_TYPE_FLOAT:
    ok = duckdb_bind_double(st, i, v->as.f);
    break;
  case HDB_TYPE_TEXT:
  case HDB_TYPE_JSON:
    ok = duckdb_bind_varchar_length(st, i, v->as.text.data, v->as.text.len);
    break;
  case HDB_TYPE_BLOB:
    ok = duckdb_bind_blob(st, i, v->as.blob.len ? v->as.blob.data : "", v->as.blob.len);
    break;
  case HDB_TYPE_TIMESTAMP: {
    duckdb_timestamp ts = {v->as.timestamp_us};
    ok = duckdb_bind_timestamp(st, i, ts);
    break;
  }
  case HDB_TYPE_VECTOR:
    return bind_vector(st, i, v->as.vector.data, v->as.vector.dim, err);
  }
  if (ok != DuckDBSuccess)
    return hdb__fail(err, HDB_ERROR, "duckdb: cannot bind parameter %llu (%s)",
                     (unsigned long long)i, hdb_type_name(v->type));
  return HDB_OK;
}

/* ------------------------------------------------------------------ */
/* Appender                                                            */
/* ------------------------------------------------------------------ */

void hdb__duck_spare_free(hdb__duck_conn *c) {
  if (c->spare_chunk) duckdb_destroy_data_chunk(&c->spare_chunk);
  for (idx_t i = 0; c->spare_types && i < c->spare_ncols; i++)
    duckdb_destroy_logical_type(&c->spare_types[i]);
  hdb__free_mem(c->spare_types);
  c->spare_chunk = NULL;
  c->spare_types = NULL;
  c->spare_ncols = 0;
}

/* 1 when two column type lists describe the same chunk layout (the types
 * this backend creates: scalars by id, FLOAT[n] arrays by child and n). */
static int same_type(duckdb_logical_type x, duckdb_logical_type y) {
  duckdb_type tx = duckdb_get_type_id(x);
  if (tx != duckdb_get_type_id(y)) return 0;
  if (tx == DUCKDB_TYPE_LIST || tx == DUCKDB_TYPE_STRUCT || tx == DUCKDB_TYPE_MAP ||
      tx == DUCKDB_TYPE_UNION || tx == DUCKDB_TYPE_DECIMAL || tx == DUCKDB_TYPE_ENUM)
    return 0; /* not ours: never shared */
  if (tx != DUCKDB_TYPE_ARRAY) return 1;
  if (duckdb_array_type_array_size(x) != duckdb_array_type_array_size(y)) return 0;
  duckdb_logical_type cx = duckdb_array_type_child_type(x), cy = duckdb_array_type_child_type(y);
  int same = same_type(cx, cy);
  duckdb_destroy_logical_type(&cx);
  duckdb_destroy_logical_type(&cy);
  return same;
}

static int same_types(const duckdb_logical_type *x, idx_t nx, const duckdb_logical_type *y,
                      idx_t ny) {
  if (nx != ny) return 0;
  for (idx_t i = 0; i < nx; i++)
    if (!same_type(x[i], y[i])) return 0;
  return 1;
}

hdb_status hdb__duck_app_open(hdb__duck_conn *c, const hdb__duck_table *t, hdb__duck_app *a,
                              hdb_error *err) {
  memset(a, 0, sizeof *a);
  hdb__sql_buf b = {0};
  hdb__duck_ident(&b, t->name);
  hdb_status st = hdb__sql_buf_status(&b, err);
  if (st != HDB_OK) return st;
  /* The appender takes a plain name: the identifier without its quotes. */
  b.s[b.len - 1] = 0;
  if (duckdb_appender_create(c->con, NULL, b.s + 1, &a->app) != DuckDBSuccess) {
    const char *m = a->app ? duckdb_appender_error(a->app) : NULL;
    st = hdb__duck_stmt_failed(c, DUCKDB_ERROR_INVALID, m ? m : "cannot create an appender", err,
                               "appending");
    hdb__sql_buf_free(&b);
    hdb__duck_app_free(a);
    return st;
  }
  hdb__sql_buf_free(&b);
  a->ncols = duckdb_appender_column_count(a->app);
  a->types = hdb__calloc(a->ncols ? a->ncols : 1, sizeof *a->types);
  if (!a->types) {
    hdb__duck_app_free(a);
    return hdb__fail(err, HDB_NOMEM, "out of memory appending to '%s'", t->name);
  }
  for (idx_t i = 0; i < a->ncols; i++) a->types[i] = duckdb_appender_column_type(a->app, i);
  a->conn = c;
  if (c->spare_chunk && same_types(c->spare_types, c->spare_ncols, a->types, a->ncols)) {
    a->chunk = c->spare_chunk; /* taken over */
    c->spare_chunk = NULL;
    hdb__duck_spare_free(c);
    duckdb_data_chunk_reset(a->chunk);
  } else {
    a->chunk = duckdb_create_data_chunk(a->types, a->ncols);
  }
  a->cap = duckdb_vector_size();
  if (!a->chunk) {
    hdb__duck_app_free(a);
    return hdb__fail(err, HDB_NOMEM, "out of memory appending to '%s'", t->name);
  }
  return HDB_OK;
}

static void set_null(duckdb_vector vec, idx_t row) {
  duckdb_vector_ensure_validity_writable(vec);
  duckdb_validity_set_row_invalid(duckdb_vector_get_validity(vec), row);
}

static hdb_status put_cell(hdb__duck_app *a, idx_t col, idx_t row, const hdb_value *v,
                           const char *table, const char *field, hdb_error *err) {
  duckdb_vector vec = duckdb_data_chunk_get_vector(a->chunk, col);
  if (!v || v->type == HDB_TYPE_NULL) {
    set_null(vec, row);
    return HDB_OK;
  }
  void *data = duckdb_vector_get_data(vec);
  duckdb_type tid = duckdb_get_type_id(a->types[col]);
  switch (tid) {
  case DUCKDB_TYPE_BOOLEAN:
    if (v->type != HDB_TYPE_BOOL) break;
    ((bool *)data)[row] = v->as.boolean != 0;
    return HDB_OK;
  case DUCKDB_TYPE_BIGINT: /* int, and timestamps as int64 microseconds */
    if (v->type == HDB_TYPE_INT)
      ((int64_t *)data)[row] = v->as.i;
    else if (v->type == HDB_TYPE_TIMESTAMP)
      ((int64_t *)data)[row] = v->as.timestamp_us;
    else
      break;
    return HDB_OK;
  case DUCKDB_TYPE_DOUBLE:
    if (v->type == HDB_TYPE_FLOAT)
      ((double *)data)[row] = v->as.f;
    else if (v->type == HDB_TYPE_INT)
      ((double *)data)[row] = (double)v->as.i;
    else
      break;
    return HDB_OK;
  case DUCKDB_TYPE_TIMESTAMP:
  case DUCKDB_TYPE_TIMESTAMP_TZ:
    if (v->type != HDB_TYPE_TIMESTAMP) break;
    ((int64_t *)data)[row] = v->as.timestamp_us;
    return HDB_OK;
  case DUCKDB_TYPE_VARCHAR:
    if (v->type != HDB_TYPE_TEXT && v->type != HDB_TYPE_JSON) break;
    duckdb_vector_assign_string_element_len(vec, row, v->as.text.data, v->as.text.len);
    return HDB_OK;
  case DUCKDB_TYPE_BLOB:
    if (v->type != HDB_TYPE_BLOB) break;
    duckdb_vector_assign_string_element_len(vec, row, v->as.blob.len ? v->as.blob.data : "",
                                            v->as.blob.len);
    return HDB_OK;
  case DUCKDB_TYPE_ARRAY: {
    if (v->type != HDB_TYPE_VECTOR) break;
    idx_t dim = duckdb_array_type_array_size(a->types[col]);
    if (v->as.vector.dim != dim) break;
    float *child = duckdb_vector_get_data(duckdb_array_vector_get_child(vec));
    memcpy(child + row * dim, v->as.vector.data, dim * sizeof(float));
    return HDB_OK;
  }
  default:
    break;
  }
  return hdb__fail(err, HDB_TYPE_MISMATCH,
                   "table '%s': field '%s' (%s) does not fit its DuckDB column (type id %d)", table,
                   field, hdb_type_name(v->type), (int)tid);
}

/* Remembers the appender's error (the first one wins). */
static void app_error(hdb__duck_app *a) {
  if (a->failed) return;
  a->failed = 1;
  duckdb_error_data ed = duckdb_appender_error_data(a->app);
  const char *m = ed ? duckdb_error_data_message(ed) : NULL;
  a->etype = ed ? duckdb_error_data_error_type(ed) : DUCKDB_ERROR_INVALID;
  a->emsg = hdb__strdup(m ? m : "the appender failed");
  if (ed) duckdb_destroy_error_data(&ed);
}

static hdb_status app_status(hdb__duck_app *a, hdb_error *err) {
  hdb_status st = a->emsg ? hdb__duck_map_error(a->etype, a->emsg) : HDB_NOMEM;
  return hdb__fail(err, st, "appending: %s", a->emsg ? a->emsg : "out of memory");
}

static hdb_status flush_chunk(hdb__duck_app *a, hdb_error *err) {
  if (a->rows == 0) return HDB_OK;
  duckdb_data_chunk_set_size(a->chunk, a->rows);
  duckdb_state ok = duckdb_append_data_chunk(a->app, a->chunk);
  duckdb_data_chunk_reset(a->chunk);
  a->rows = 0;
  if (ok == DuckDBSuccess) return HDB_OK;
  app_error(a);
  return app_status(a, err);
}

/* Starts a row: flushes a full chunk and writes the id cell. */
static hdb_status row_start(hdb__duck_app *a, const hdb__duck_table *t, const char *id,
                            hdb_error *err) {
  if (a->failed) return app_status(a, err);
  if (a->rows == a->cap) {
    hdb_status fst = flush_chunk(a, err);
    if (fst != HDB_OK) return fst;
  }
  hdb_value v;
  memset(&v, 0, sizeof v);
  v.type = HDB_TYPE_TEXT;
  v.as.text.data = id;
  v.as.text.len = strlen(id);
  return put_cell(a, 0, a->rows, &v, t->name, "id", err);
}

hdb_status hdb__duck_app_row(hdb__duck_app *a, const hdb__duck_table *t, const hdb_record *rec,
                             hdb_error *err) {
  hdb_status st = row_start(a, t, rec->id, err);
  if (st != HDB_OK) return st;
  idx_t row = a->rows;
  if (!t->schema) {
    char *doc = NULL;
    size_t len = 0;
    if (hdb__sql_doc_encode(rec, &doc, &len) != HDB_OK)
      return hdb__fail(err, HDB_NOMEM, "out of memory encoding record '%s'", rec->id);
    hdb_value dv;
    memset(&dv, 0, sizeof dv);
    dv.type = HDB_TYPE_JSON;
    dv.as.text.data = doc;
    dv.as.text.len = len;
    st = put_cell(a, 1, row, &dv, t->name, "doc", err);
    hdb__free_mem(doc);
  } else {
    for (size_t i = 0; st == HDB_OK && i < t->schema->n && i + 1 < a->ncols; i++) {
      const hdb__column *col = &t->schema->cols[i];
      st = put_cell(a, (idx_t)i + 1, row, hdb__record_value(rec, col->name), t->name, col->name, err);
    }
  }
  if (st == HDB_OK) a->rows++;
  return st;
}

hdb_status hdb__duck_app_row_values(hdb__duck_app *a, const hdb__duck_table *t, const char *id,
                                    const hdb_value *const *vals, hdb_error *err) {
  hdb_status st = row_start(a, t, id, err);
  for (size_t i = 0; st == HDB_OK && i < t->schema->n && i + 1 < a->ncols; i++)
    st = put_cell(a, (idx_t)i + 1, a->rows, vals[i], t->name, t->schema->cols[i].name, err);
  if (st == HDB_OK) a->rows++;
  return st;
}

hdb_status hdb__duck_app_close(hdb__duck_app *a, hdb_error *err) {
  if (a->failed) return app_status(a, err);
  hdb_status st = flush_chunk(a, err);
  if (st != HDB_OK) return st;
  if (duckdb_appender_close(a->app) == DuckDBSuccess) return HDB_OK;
  app_error(a);
  return app_status(a, err);
}

void hdb__duck_app_free(hdb__duck_app *a) {
  if (a->app) duckdb_appender_destroy(&a->app);
  if (a->chunk && a->conn && !a->failed) {
    /* Kept for the connection's next append (duck.h). */
    hdb__duck_spare_free(a->conn);
    a->conn->spare_chunk = a->chunk;
    a->conn->spare_types = a->types;
    a->conn->spare_ncols = a->ncols;
    a->chunk = NULL;
    a->types = NULL;
  }
  if (a->chunk) duckdb_destroy_data_chunk(&a->chunk);
  for (idx_t i = 0; a->types && i < a->ncols; i++) duckdb_destroy_logical_type(&a->types[i]);
  hdb__free_mem(a->types);
  hdb__free_mem(a->emsg);
  memset(a, 0, sizeof *a);
}

/* ------------------------------------------------------------------ */
/* Decoding                                                            */
/* ------------------------------------------------------------------ */

void hdb__duck_chunk_views(duckdb_data_chunk chunk, hdb__duck_colview *views, idx_t ncols) {
  for (idx_t i = 0; i < ncols; i++) {
    duckdb_vector vec = duckdb_data_chunk_get_vector(chunk, i);
    duckdb_logical_type lt = duckdb_vector_get_column_type(vec);
    hdb__duck_colview *v = &views[i];
    memset(v, 0, sizeof *v);
    v->tid = duckdb_get_type_id(lt);
    v->data = duckdb_vector_get_data(vec);
    v->validity = duckdb_vector_get_validity(vec);
    if (v->tid == DUCKDB_TYPE_ARRAY) {
      v->dim = duckdb_array_type_array_size(lt);
      v->child = duckdb_vector_get_data(duckdb_array_vector_get_child(vec));
    }
    duckdb_destroy_logical_type(&lt);
  }
}

static int cell_valid(const hdb__duck_colview *v, idx_t row) {
  return !v->validity || duckdb_validity_row_is_valid(v->validity, row);
}

static void cell_string(const hdb__duck_colview *v, idx_t row, const char **p, size_t *len) {
  duckdb_string_t *s = &((duckdb_string_t *)v->data)[row];
  *len = duckdb_string_t_length(*s);
  *p = duckdb_string_t_data(s);
}

double hdb__duck_cell_double(const hdb__duck_colview *v, idx_t row) {
  if (!cell_valid(v, row)) return (double)NAN;
  switch (v->tid) {
  case DUCKDB_TYPE_DOUBLE: return ((double *)v->data)[row];
  case DUCKDB_TYPE_FLOAT: return ((float *)v->data)[row];
  case DUCKDB_TYPE_BIGINT: return (double)((int64_t *)v->data)[row];
  default: return (double)NAN;
  }
}

/* A borrowed view of cell (row) as a value of hanzo type `want`. */
static hdb_status cell_value(const hdb__duck_colview *v, idx_t row, hdb_type want, hdb_value *out,
                             const char *field, hdb_error *err) {
  memset(out, 0, sizeof *out);
  out->type = want;
  switch (v->tid) {
  case DUCKDB_TYPE_BOOLEAN:
    out->as.boolean = ((bool *)v->data)[row];
    return want == HDB_TYPE_BOOL ? HDB_OK : HDB_CORRUPT;
  case DUCKDB_TYPE_BIGINT:
    if (want == HDB_TYPE_TIMESTAMP)
      out->as.timestamp_us = ((int64_t *)v->data)[row];
    else
      out->as.i = ((int64_t *)v->data)[row];
    return want == HDB_TYPE_INT || want == HDB_TYPE_TIMESTAMP ? HDB_OK : HDB_CORRUPT;
  case DUCKDB_TYPE_DOUBLE:
    out->as.f = ((double *)v->data)[row];
    return want == HDB_TYPE_FLOAT ? HDB_OK : HDB_CORRUPT;
  case DUCKDB_TYPE_TIMESTAMP:
  case DUCKDB_TYPE_TIMESTAMP_TZ:
    out->as.timestamp_us = ((int64_t *)v->data)[row];
    return want == HDB_TYPE_TIMESTAMP ? HDB_OK : HDB_CORRUPT;
  case DUCKDB_TYPE_VARCHAR:
    cell_string(v, row, &out->as.text.data, &out->as.text.len);
    return want == HDB_TYPE_TEXT || want == HDB_TYPE_JSON ? HDB_OK : HDB_CORRUPT;
  case DUCKDB_TYPE_BLOB: {
    const char *p;
    cell_string(v, row, &p, &out->as.blob.len);
    out->as.blob.data = p;
    return want == HDB_TYPE_BLOB ? HDB_OK : HDB_CORRUPT;
  }
  case DUCKDB_TYPE_ARRAY:
    out->as.vector.data = v->child + row * v->dim;
    out->as.vector.dim = (uint32_t)v->dim;
    return want == HDB_TYPE_VECTOR ? HDB_OK : HDB_CORRUPT;
  default:
    break;
  }
  return hdb__fail(err, HDB_CORRUPT, "field '%s': unexpected DuckDB type id %d", field, (int)v->tid);
}

hdb_status hdb__duck_cell(const hdb__duck_colview *v, idx_t row, hdb_type want, hdb_value *out,
                          const char *field, hdb_error *err) {
  if (!cell_valid(v, row)) {
    memset(out, 0, sizeof *out);
    out->type = HDB_TYPE_NULL;
    return HDB_OK;
  }
  hdb_status st = cell_value(v, row, want, out, field, err);
  if (st == HDB_CORRUPT && err && err->code != HDB_CORRUPT)
    hdb__fail(err, st, "field '%s': DuckDB type id %d does not hold %s", field, (int)v->tid,
              hdb_type_name(want));
  return st;
}

hdb_status hdb__duck_decode_row(const hdb__duck_rowspec *spec, const hdb__duck_colview *views,
                                idx_t row, hdb_record **out, hdb_error *err) {
  *out = NULL;
  const char *idp;
  size_t idlen;
  cell_string(&views[0], row, &idp, &idlen);
  char idbuf[HDB_MAX_ID_LEN + 1];
  if (idlen > HDB_MAX_ID_LEN) return hdb__fail(err, HDB_CORRUPT, "a row id is longer than %u bytes", HDB_MAX_ID_LEN);
  memcpy(idbuf, idp, idlen);
  idbuf[idlen] = 0;
  if (spec->schemaless) {
    if (!cell_valid(&views[1], row)) return hdb__sql_doc_decode(idbuf, "{}", 2, out, err);
    const char *doc;
    size_t len;
    cell_string(&views[1], row, &doc, &len);
    return hdb__sql_doc_decode(idbuf, doc, len, out, err);
  }
  hdb_record *r = hdb_record_new(idbuf);
  if (!r) return hdb__fail(err, HDB_NOMEM, "out of memory reading a row");
  hdb_status st = HDB_OK;
  for (size_t i = 0; st == HDB_OK && i < spec->n; i++) {
    const hdb__duck_colview *v = &views[i + 1];
    if (!cell_valid(v, row)) continue;
    hdb_value view, owned;
    st = hdb__duck_cell(v, row, spec->cols[i]->type, &view, spec->cols[i]->name, err);
    if (st != HDB_OK) break;
    if (hdb__value_copy(&owned, &view) != HDB_OK ||
        hdb__record_put_owned(r, spec->cols[i]->name, &owned) != HDB_OK)
      st = hdb__fail(err, HDB_NOMEM, "out of memory reading a row");
  }
  if (st != HDB_OK) {
    hdb_record_free(r);
    return st;
  }
  *out = r;
  return HDB_OK;
}

void hdb__duck_select_list(hdb__sql_buf *b, const hdb__duck_rowspec *spec) {
  hdb__sql_buf_append(b, "id");
  if (spec->schemaless) {
    hdb__sql_buf_append(b, ", doc");
    return;
  }
  for (size_t i = 0; i < spec->n; i++) {
    hdb__sql_buf_append(b, ", ");
    hdb__duck_ident(b, spec->cols[i]->name);
  }
}

hdb_status hdb__duck_rowspec_all(const hdb__duck_table *t, hdb__duck_rowspec *spec,
                                 hdb_error *err) {
  return hdb__duck_rowspec_fields(t, NULL, 0, spec, err);
}

hdb_status hdb__duck_rowspec_fields(const hdb__duck_table *t, const char *const *fields,
                                    size_t n, hdb__duck_rowspec *spec, hdb_error *err) {
  memset(spec, 0, sizeof *spec);
  if (!t->schema) {
    spec->schemaless = 1;
    return HDB_OK;
  }
  size_t cap = fields ? n : t->schema->n;
  spec->cols = hdb__calloc(cap ? cap : 1, sizeof *spec->cols);
  if (!spec->cols) return hdb__fail(err, HDB_NOMEM, "out of memory planning a query");
  if (!fields) {
    for (size_t i = 0; i < t->schema->n; i++) spec->cols[spec->n++] = &t->schema->cols[i];
    return HDB_OK;
  }
  for (size_t i = 0; i < n; i++) {
    const hdb__column *col = hdb__schema_column(t->schema, fields[i]);
    if (!col) continue; /* "id" (always there), checked by the caller */
    int dup = 0;
    for (size_t k = 0; k < spec->n; k++) dup |= spec->cols[k] == col;
    if (!dup) spec->cols[spec->n++] = col;
  }
  return HDB_OK;
}

/*
 * duck_query.c - hdb_query and hdb_count on duckdb://, the filter
 * pushdown decision, the streamed scan with core's evaluator, and the
 * cursor over a DuckDB result.
 *
 * Plans, from fastest to most general:
 *  1. filter translated (hdb__sql_where, DuckDB dialect) and every sort key
 *     a plain column or the id: one SELECT ... WHERE ... ORDER BY ...
 *     LIMIT/OFFSET, materialized by DuckDB and decoded lazily by the
 *     cursor (a snapshot: later writes do not show).
 *  2. sort keys in SQL but a filter the translator cannot express exactly:
 *     the ORDER BY runs in DuckDB, the rows stream through
 *     hdb__filter_match, offset and limit apply to the matches.
 *  3. a sort key SQL cannot order exactly as hdb__value_order does (json
 *     paths and json/vector columns, any key of a schemaless table): the
 *     matching rows are sorted with hdb__sort_records.
 * Plans 2 and 3 copy the answer into a rows cursor during the call.
 * Without sort keys rows come in id order (stable, as the API asks).
 *
 * Filters are never dropped: tables whose column names need mangling
 * (duck.h invariant 1) and any node the translator refuses are evaluated
 * by core. Schemaless tables are translated against their document column.
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

/* ------------------------------------------------------------------ */
/* Filter pushdown                                                     */
/* ------------------------------------------------------------------ */

hdb_status hdb__duck_where(const hdb__duck_table *t, const hdb__expr *filter, hdb__sql_buf *b,
                           hdb__sql_params *p, int *pushed, hdb_error *err) {
  *pushed = 0;
  if (!filter || filter->kind == HDB__EXPR_TRUE) {
    *pushed = 1;
    return HDB_OK;
  }
  if (t->schema && !t->sql_names) return HDB_OK;
  size_t blen = b->len, pn = p->n;
  hdb_error scratch;
  hdb__err_clear(&scratch);
  hdb__sql_buf_append(b, " WHERE ");
  hdb_status st = hdb__sql_where(filter, t->schema, t->schema ? NULL : "doc", HDB__SQL_DUCKDB, b,
                                 p, &scratch);
  if (st == HDB_OK) st = hdb__sql_params_status(p, &scratch);
  if (st == HDB_OK) st = hdb__sql_buf_status(b, &scratch);
  if (st == HDB_OK) {
    *pushed = 1;
    return HDB_OK;
  }
  /* Undo the partial clause (owned parameters stay with p until it is freed). */
  if (!b->oom && b->s) {
    b->len = blen;
    b->s[blen] = 0;
  }
  p->n = pn;
  if (st == HDB_NOT_SUPPORTED) return HDB_OK; /* core evaluates it */
  if (err) *err = scratch;
  return st;
}

/* ------------------------------------------------------------------ */
/* Streamed scan                                                       */
/* ------------------------------------------------------------------ */

hdb_status hdb__duck_scan(hdb__duck_conn *c, const hdb__duck_table *t, const hdb__expr *filter,
                          const char *tail, hdb_status (*fn)(hdb_record *rec, void *user),
                          void *user, hdb_error *err) {
  hdb__duck_rowspec spec;
  hdb__sql_buf b = {0};
  hdb__sql_params p = {0};
  hdb__duck_colview *views = NULL;
  duckdb_result res;
  int pushed = 0, have_res = 0;
  hdb_status st = hdb__duck_rowspec_all(t, &spec, err);
  if (st != HDB_OK) return st;
  hdb__sql_buf_append(&b, "SELECT ");
  hdb__duck_select_list(&b, &spec);
  hdb__sql_buf_append(&b, " FROM ");
  hdb__duck_ident(&b, t->name);
  if ((st = hdb__duck_where(t, filter, &b, &p, &pushed, err)) != HDB_OK) goto done;
  if (tail) hdb__sql_buf_append(&b, tail);
  if ((st = hdb__sql_buf_status(&b, err)) != HDB_OK) goto done;
  st = hdb__duck_run_streaming(c, b.s, p.v, p.n, &res, err, "scanning");
  if (st != HDB_OK) goto done;
  have_res = 1;
  idx_t ncols = duckdb_column_count(&res);
  views = hdb__calloc(ncols ? ncols : 1, sizeof *views);
  if (!views) {
    st = hdb__fail(err, HDB_NOMEM, "out of memory scanning table '%s'", t->name);
    goto done;
  }
  for (;;) {
    duckdb_data_chunk ch = duckdb_fetch_chunk(res);
    if (!ch) break;
    idx_t n = duckdb_data_chunk_get_size(ch);
    hdb__duck_chunk_views(ch, views, ncols);
    for (idx_t r = 0; st == HDB_OK && r < n; r++) {
      hdb_record *rec;
      st = hdb__duck_decode_row(&spec, views, r, &rec, err);
      if (st != HDB_OK) break;
      if (!pushed) {
        int match = 0;
        st = hdb__filter_eval(filter, rec, &match, err);
        if (st != HDB_OK || !match) {
          hdb_record_free(rec);
          continue;
        }
      }
      st = fn(rec, user);
    }
    duckdb_destroy_data_chunk(&ch);
    if (st != HDB_OK) break;
  }
  if (st == HDB_DONE) st = HDB_OK; /* fn stopped the scan */
  if (st == HDB_OK && duckdb_result_error(&res))
    st = hdb__duck_stmt_failed(c, duckdb_result_error_type(&res), duckdb_result_error(&res), err,
                               "scanning");
done:
  if (have_res) duckdb_destroy_result(&res);
  hdb__free_mem(views);
  hdb__free_mem(spec.cols);
  hdb__sql_buf_free(&b);
  hdb__sql_params_free(&p);
  return st;
}

/* ------------------------------------------------------------------ */
/* Result cursor                                                       */
/* ------------------------------------------------------------------ */

typedef struct duck_cursor {
  hdb_cursor base; /* first: freed through it */
  hdb__duck_shared *shared; /* one reference (duck.h invariant 5) */
  duckdb_result res;
  duckdb_data_chunk chunk;
  hdb__duck_colview *views;
  idx_t ncols, row, size;
  hdb__duck_rowspec spec;
  hdb_schema *schema; /* owned: spec.cols points into it */
  long dist_col;
  int square;
  hdb_record *cur;
} duck_cursor;

static hdb_status cur_next(hdb_cursor *base, const hdb_record **rec, double *distance,
                           hdb_error *err) {
  duck_cursor *c = (duck_cursor *)base;
  hdb_record_free(c->cur);
  c->cur = NULL;
  while (c->row >= c->size) {
    if (c->chunk) duckdb_destroy_data_chunk(&c->chunk);
    c->chunk = duckdb_fetch_chunk(c->res);
    if (!c->chunk) return HDB_DONE;
    c->size = duckdb_data_chunk_get_size(c->chunk);
    c->row = 0;
    hdb__duck_chunk_views(c->chunk, c->views, c->ncols);
  }
  hdb_status st = hdb__duck_decode_row(&c->spec, c->views, c->row, &c->cur, err);
  if (st != HDB_OK) return st;
  *distance = NAN;
  if (c->dist_col >= 0) {
    double d = hdb__duck_cell_double(&c->views[c->dist_col], c->row);
    *distance = c->square ? d * d : d;
  }
  c->row++;
  *rec = c->cur;
  return HDB_OK;
}

static void cur_close(hdb_cursor *base) {
  duck_cursor *c = (duck_cursor *)base;
  hdb_record_free(c->cur);
  if (c->chunk) duckdb_destroy_data_chunk(&c->chunk);
  duckdb_destroy_result(&c->res);
  hdb__free_mem(c->views);
  hdb__free_mem(c->spec.cols);
  hdb_schema_free(c->schema);
  hdb__duck_shared_release(c->shared);
  hdb__free_mem(c);
}

static const hdb__cursor_vtab cur_vtab = {.next = cur_next, .close = cur_close};

hdb_status hdb__duck_result_cursor(hdb__duck_conn *conn, duckdb_result *res,
                                   hdb__duck_rowspec *spec, hdb_schema **schema, long dist_col,
                                   int square, hdb_cursor **out, hdb_error *err) {
  *out = NULL;
  hdb_schema *owned_schema = *schema;
  *schema = NULL;
  duck_cursor *c = hdb__calloc(1, sizeof *c);
  idx_t ncols = duckdb_column_count(res);
  hdb__duck_colview *views = hdb__calloc(ncols ? ncols : 1, sizeof *views);
  if (!c || !views) {
    hdb__free_mem(c);
    hdb__free_mem(views);
    duckdb_destroy_result(res);
    hdb__free_mem(spec->cols);
    hdb_schema_free(owned_schema);
    return hdb__fail(err, HDB_NOMEM, "out of memory creating a cursor");
  }
  hdb__cursor_init(&c->base, &cur_vtab);
  c->res = *res;
  c->views = views;
  c->ncols = ncols;
  c->spec = *spec;
  c->schema = owned_schema;
  c->dist_col = dist_col;
  c->square = square;
  c->shared = conn->shared;
  hdb__duck_shared_ref(conn->shared);
  *out = &c->base;
  return HDB_OK;
}

/* ------------------------------------------------------------------ */
/* Query                                                               */
/* ------------------------------------------------------------------ */

/* 1 when DuckDB orders values of this column exactly as hdb__value_order
 * does (text and blobs by bytes, then length; numbers by value). */
static int sql_sortable(const hdb__duck_table *t, const char *field) {
  if (strcmp(field, "id") == 0) return 1;
  if (!t->schema) return 0;
  const hdb__column *col = hdb__schema_column(t->schema, field);
  if (!col) return 0;
  switch (col->type) {
  case HDB_TYPE_BOOL:
  case HDB_TYPE_INT:
  case HDB_TYPE_FLOAT:
  case HDB_TYPE_TEXT:
  case HDB_TYPE_BLOB:
  case HDB_TYPE_TIMESTAMP:
    return 1;
  default:
    return 0;
  }
}

static void order_by(hdb__sql_buf *b, const hdb_sort_key *keys, size_t n) {
  hdb__sql_buf_append(b, " ORDER BY ");
  int id_last = 1;
  for (size_t i = 0; i < n; i++) {
    int is_id = strcmp(keys[i].field, "id") == 0;
    if (is_id)
      hdb__sql_buf_append(b, "id");
    else
      hdb__duck_ident(b, keys[i].field);
    hdb__sql_buf_append(b, keys[i].descending ? " DESC NULLS LAST, " : " ASC NULLS FIRST, ");
    if (is_id) id_last = 0; /* the id is unique: later keys never decide */
    if (is_id) break;
  }
  if (id_last) {
    hdb__sql_buf_append(b, "id ASC");
  } else if (!b->oom) {
    b->len -= 2; /* drop the trailing ", " */
    b->s[b->len] = 0;
  }
}

typedef struct collect {
  hdb__rowbuf buf;
  uint64_t skip, left; /* plan 2: offset still to skip, rows still wanted (UINT64_MAX: all) */
  const char *const *fields;
  size_t n_fields;
  int keep_all; /* plan 3: keep every match, window later */
} collect;

static hdb_status collect_row(hdb_record *rec, void *user) {
  collect *k = user;
  if (!k->keep_all) {
    if (k->skip) {
      k->skip--;
      hdb_record_free(rec);
      return HDB_OK;
    }
    if (k->left == 0) {
      hdb_record_free(rec);
      return HDB_DONE;
    }
    if (k->fields) {
      hdb_record *p = hdb__record_project(rec, k->fields, k->n_fields);
      hdb_record_free(rec);
      if (!p) return HDB_NOMEM;
      rec = p;
    }
    k->left--;
  }
  if (hdb__rowbuf_push(&k->buf, rec, NAN) != HDB_OK) return HDB_NOMEM;
  return k->left == 0 && !k->keep_all ? HDB_DONE : HDB_OK;
}

hdb_status hdb__duck_query(void *conn, const char *table, const hdb__query *q, hdb_cursor **out,
                           hdb_error *err) {
  hdb__duck_conn *c = conn;
  *out = NULL;
  hdb_status st = hdb__duck_enter(c, 0, err);
  if (st != HDB_OK) return st;
  if (q->version != 0)
    return hdb__fail(err, HDB_NOT_SUPPORTED, "duckdb backend has no time travel (table '%s', version %lld)",
                     table, (long long)q->version);
  hdb__duck_table t;
  if ((st = hdb__duck_table_load(c, table, &t, err)) != HDB_OK) return st;
  hdb__sql_buf b = {0};
  hdb__sql_params p = {0};
  hdb__duck_rowspec spec = {0};
  collect k;
  memset(&k, 0, sizeof k);
  int pushed = 0, sql_sort = 1;

  if (q->filter && (st = hdb__filter_bind(q->filter, t.schema, table, err)) != HDB_OK) goto done;
  for (size_t i = 0; i < q->n_sort; i++) {
    char what[32];
    snprintf(what, sizeof what, "sort key %zu", i);
    if ((st = hdb__duck_check_field(&t, q->sort[i].field, 1, 1, what, err)) != HDB_OK) goto done;
    sql_sort &= sql_sortable(&t, q->sort[i].field);
  }
  for (size_t i = 0; q->fields && i < q->n_fields; i++) {
    char what[48];
    snprintf(what, sizeof what, "projected field %zu", i);
    if ((st = hdb__duck_check_field(&t, q->fields[i], 1, 0, what, err)) != HDB_OK) goto done;
  }

  if (sql_sort) {
    /* Plan 1 when the filter translates, else plan 2. */
    if ((st = hdb__duck_rowspec_fields(&t, q->fields, q->fields ? q->n_fields : 0, &spec, err)) != HDB_OK)
      goto done;
    hdb__sql_buf_append(&b, "SELECT ");
    hdb__duck_select_list(&b, &spec);
    hdb__sql_buf_append(&b, " FROM ");
    hdb__duck_ident(&b, table);
    if ((st = hdb__duck_where(&t, q->filter, &b, &p, &pushed, err)) != HDB_OK) goto done;
    if (pushed && !spec.schemaless) {
      order_by(&b, q->sort, q->n_sort);
      if (q->limit) hdb__sql_buf_appendf(&b, " LIMIT %llu", (unsigned long long)q->limit);
      if (q->offset) hdb__sql_buf_appendf(&b, " OFFSET %llu", (unsigned long long)q->offset);
      if ((st = hdb__sql_buf_status(&b, err)) != HDB_OK) goto done;
      duckdb_result res;
      if ((st = hdb__duck_run(c, b.s, p.v, p.n, &res, err, "querying")) != HDB_OK) goto done;
      st = hdb__duck_result_cursor(c, &res, &spec, &t.schema, -1, 0, out, err);
      spec.cols = NULL; /* the cursor owns it now */
      goto done;
    }
    hdb__sql_buf_free(&b);
    b = (hdb__sql_buf){0};
    order_by(&b, q->sort, q->n_sort);
    if ((st = hdb__sql_buf_status(&b, err)) != HDB_OK) goto done;
    k.skip = q->offset;
    k.left = q->limit ? q->limit : UINT64_MAX;
    k.fields = q->fields;
    k.n_fields = q->fields ? q->n_fields : 0;
    if (k.left == 0) goto cursor;
    st = hdb__duck_scan(c, &t, q->filter, b.s, collect_row, &k, err);
  } else {
    /* Plan 3. */
    k.keep_all = 1;
    st = hdb__duck_scan(c, &t, q->filter, NULL, collect_row, &k, err);
    if (st != HDB_OK) goto done;
    hdb__sort_records(k.buf.rows, k.buf.n, q->sort, q->n_sort);
    uint64_t first = q->offset < k.buf.n ? q->offset : k.buf.n, last = k.buf.n;
    if (q->limit && q->limit < last - first) last = first + q->limit;
    hdb__rowbuf win = {0};
    for (uint64_t i = first; st == HDB_OK && i < last; i++) {
      hdb_record *r = q->fields ? hdb__record_project(k.buf.rows[i], q->fields, q->n_fields)
                                : hdb_record_clone(k.buf.rows[i]);
      if (!r || hdb__rowbuf_push(&win, r, NAN) != HDB_OK)
        st = hdb__fail(err, HDB_NOMEM, "out of memory querying table '%s'", table);
    }
    hdb__rowbuf_free(&k.buf);
    k.buf = win;
  }
  if (st == HDB_NOMEM && err && err->code != HDB_NOMEM)
    hdb__fail(err, st, "out of memory querying table '%s'", table);
  if (st != HDB_OK) goto done;
cursor:
  st = hdb__rowbuf_cursor(&k.buf, out, err);
done:
  hdb__rowbuf_free(&k.buf);
  hdb__free_mem(spec.cols);
  hdb__sql_buf_free(&b);
  hdb__sql_params_free(&p);
  hdb__duck_table_free(&t);
  return st;
}

static hdb_status count_row(hdb_record *rec, void *user) {
  (*(uint64_t *)user)++;
  hdb_record_free(rec);
  return HDB_OK;
}

hdb_status hdb__duck_count(void *conn, const char *table, const hdb__expr *filter,
                           int64_t version, uint64_t *out, hdb_error *err) {
  hdb__duck_conn *c = conn;
  *out = 0;
  hdb_status st = hdb__duck_enter(c, 0, err);
  if (st != HDB_OK) return st;
  if (version != 0)
    return hdb__fail(err, HDB_NOT_SUPPORTED, "duckdb backend has no time travel (table '%s', version %lld)",
                     table, (long long)version);
  hdb__duck_table t;
  if ((st = hdb__duck_table_load(c, table, &t, err)) != HDB_OK) return st;
  hdb__sql_buf b = {0};
  hdb__sql_params p = {0};
  int pushed = 0;
  if (filter && (st = hdb__filter_bind(filter, t.schema, table, err)) != HDB_OK) goto done;
  hdb__sql_buf_append(&b, "SELECT count(*) FROM ");
  hdb__duck_ident(&b, table);
  if ((st = hdb__duck_where(&t, filter, &b, &p, &pushed, err)) != HDB_OK) goto done;
  if (pushed) {
    if ((st = hdb__sql_buf_status(&b, err)) != HDB_OK) goto done;
    duckdb_result res;
    if ((st = hdb__duck_run(c, b.s, p.v, p.n, &res, err, "counting")) != HDB_OK) goto done;
    *out = (uint64_t)duckdb_value_int64(&res, 0, 0);
    duckdb_destroy_result(&res);
  } else {
    uint64_t n = 0;
    st = hdb__duck_scan(c, &t, filter, NULL, count_row, &n, err);
    if (st == HDB_OK) *out = n;
  }
done:
  hdb__sql_buf_free(&b);
  hdb__sql_params_free(&p);
  hdb__duck_table_free(&t);
  return st;
}

/*
 * native_query.c - hdb_query, hdb_count and hdb_aggregate on native://.
 *
 * A query pins its snapshot (the requested version, or the newest) for the
 * cursor's whole life, so the cursor sees the data as of the call while
 * writers go on. Without sort keys the cursor streams: each next() pulls
 * the next matching row from a table scan (zone maps skip chunks that
 * cannot match, the filter is evaluated per row), skips `offset` rows,
 * stops after `limit`, and projects the row into a record the cursor owns
 * until the next call. With sort keys every matching row is materialized,
 * sorted with hdb__sort_records (ties by id), and the window is projected.
 *
 * The filter tree belongs to the api layer's call, so a streaming cursor
 * keeps its own copy (printed with hdb__expr_to_text, which parses back to
 * the same tree, then re-parsed and bound).
 *
 * Aggregates have exactly the reference semantics because they run the
 * same code as the memory backend: the aggregates are checked against the
 * snapshot's schema (hdb__agg_check), the matching rows (filtered by the
 * scan) are collected in scan order and aggregated by hdb__agg_records.
 * core/aggregate.c is the one definition of the rules (sum types,
 * overflow, null groups, ids of groups, error messages).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "native.h"

#include "core/aggregate.h"
#include "core/alloc.h"
#include "core/cursor.h"
#include "core/err.h"
#include "core/filter.h"
#include "core/schema.h"

/* Checks sort keys and projection against the snapshot's schema. */
static hdb_status check_query(const hdb_schema *schema, const char *table, const hdb__query *q,
                              hdb_error *err) {
  char what[48];
  for (size_t i = 0; i < q->n_sort; i++) {
    snprintf(what, sizeof what, "sort key %zu", i);
    hdb_status rc = hdb__nat_check_field(schema, table, q->sort[i].field, 1, 1, what, err);
    if (rc != HDB_OK) return rc;
  }
  for (size_t i = 0; q->fields && i < q->n_fields; i++) {
    snprintf(what, sizeof what, "projected field %zu", i);
    hdb_status rc = hdb__nat_check_field(schema, table, q->fields[i], 0, 1, what, err);
    if (rc != HDB_OK) return rc;
  }
  return HDB_OK;
}

/* ------------------------------------------------------------------ */
/* Streaming cursor                                                    */
/* ------------------------------------------------------------------ */

typedef struct scan_cursor {
  hdb_cursor base; /* first: freed through it */
  hdb__tbl_snap *snap;
  hdb__tbl_scan *scan;
  hdb__expr *filter; /* owned copy, bound */
  char **fields;     /* owned copy of the projection, or NULL */
  size_t n_fields;
  uint64_t skip, left; /* rows still to skip; rows still to return (UINT64_MAX: no limit) */
  hdb_record *cur;     /* owned; the row last returned */
} scan_cursor;

static hdb_status scan_next(hdb_cursor *base, const hdb_record **rec, double *distance,
                            hdb_error *err) {
  scan_cursor *c = (scan_cursor *)base;
  hdb_record_free(c->cur);
  c->cur = NULL;
  *distance = NAN;
  for (;;) {
    if (c->left == 0) return HDB_DONE;
    const hdb_record *r;
    hdb_status rc = hdb__tbl_scan_next(c->scan, &r, NULL, NULL, err);
    if (rc != HDB_OK) return rc;
    if (c->skip) {
      c->skip--;
      continue;
    }
    c->cur = hdb__record_project(r, (const char *const *)c->fields, c->fields ? c->n_fields : 0);
    if (!c->cur) return hdb__fail(err, HDB_NOMEM, "out of memory reading a row");
    if (c->left != UINT64_MAX) c->left--;
    *rec = c->cur;
    return HDB_OK;
  }
}

static void scan_close(hdb_cursor *base) {
  scan_cursor *c = (scan_cursor *)base;
  hdb_record_free(c->cur);
  hdb__tbl_scan_close(c->scan);
  hdb__tbl_unpin(c->snap);
  hdb__expr_free(c->filter);
  if (c->fields) hdb_strings_free(c->fields, c->n_fields);
  hdb__free_mem(c);
}

static const hdb__cursor_vtab scan_vtab = {.next = scan_next, .close = scan_close};

/* A bound private copy of filter (NULL stays NULL). */
static hdb_status filter_copy(const hdb__expr *filter, const hdb_schema *schema,
                              const char *table, hdb__expr **out, hdb_error *err) {
  *out = NULL;
  if (!filter || filter->kind == HDB__EXPR_TRUE) return HDB_OK;
  char *text = hdb__expr_to_text(filter);
  if (!text) return hdb__fail(err, HDB_NOMEM, "out of memory copying a filter");
  hdb_status rc = hdb__filter_parse_text(text, out, err);
  hdb__free_mem(text);
  if (rc == HDB_OK) rc = hdb__filter_bind(*out, schema, table, err);
  if (rc != HDB_OK) {
    hdb__expr_free(*out);
    *out = NULL;
  }
  return rc;
}

static hdb_status stream_cursor(hdb__tbl_snap **snap, const char *table, const hdb__query *q,
                                hdb_cursor **out, hdb_error *err) {
  const hdb_schema *schema = hdb__tbl_snap_schema(*snap);
  scan_cursor *c = hdb__calloc(1, sizeof *c);
  if (!c) return hdb__fail(err, HDB_NOMEM, "out of memory querying table '%s'", table);
  hdb__cursor_init(&c->base, &scan_vtab);
  c->snap = *snap;
  *snap = NULL;
  c->skip = q->offset;
  c->left = q->limit ? q->limit : UINT64_MAX;
  hdb_status rc = filter_copy(q->filter, schema, table, &c->filter, err);
  if (rc != HDB_OK) goto fail;
  if (q->fields) {
    c->fields = hdb__calloc(q->n_fields ? q->n_fields : 1, sizeof *c->fields);
    if (!c->fields) goto nomem;
    c->n_fields = q->n_fields;
    for (size_t i = 0; i < q->n_fields; i++)
      if (!(c->fields[i] = hdb__strdup(q->fields[i]))) goto nomem;
  }
  /* Schema tables read only the projected (and filtered) columns. */
  hdb__tbl_scan_options so = {c->filter, schema ? (const char *const *)c->fields : NULL,
                              schema ? c->n_fields : 0};
  rc = hdb__tbl_scan_open(c->snap, &so, &c->scan, err);
  if (rc != HDB_OK) goto fail;
  *out = &c->base;
  return HDB_OK;
nomem:
  rc = hdb__fail(err, HDB_NOMEM, "out of memory querying table '%s'", table);
fail:
  scan_close(&c->base);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Sorted (materialized) queries                                       */
/* ------------------------------------------------------------------ */

/* Every row of snap matching filter (bound), cloned; owned array. */
static hdb_status collect_rows(hdb__tbl_snap *snap, const hdb__expr *filter, const char *table,
                               hdb_record ***rows, size_t *n, hdb_error *err) {
  *rows = NULL;
  *n = 0;
  hdb__tbl_scan_options so = {filter && filter->kind != HDB__EXPR_TRUE ? filter : NULL, NULL, 0};
  hdb__tbl_scan *sc = NULL;
  hdb_status rc = hdb__tbl_scan_open(snap, &so, &sc, err);
  if (rc != HDB_OK) return rc;
  hdb_record **a = NULL;
  size_t m = 0, cap = 0;
  for (;;) {
    const hdb_record *r;
    rc = hdb__tbl_scan_next(sc, &r, NULL, NULL, err);
    if (rc == HDB_DONE) {
      rc = HDB_OK;
      break;
    }
    if (rc != HDB_OK) goto fail;
    if (m == cap) {
      size_t nc = cap ? 2 * cap : 64;
      hdb_record **p = hdb__realloc(a, nc * sizeof *p);
      if (!p) goto nomem;
      a = p;
      cap = nc;
    }
    if (!(a[m] = hdb_record_clone(r))) goto nomem;
    m++;
  }
  hdb__tbl_scan_close(sc);
  *rows = a;
  *n = m;
  return HDB_OK;
nomem:
  rc = hdb__fail(err, HDB_NOMEM, "out of memory reading table '%s'", table);
fail:
  for (size_t i = 0; i < m; i++) hdb_record_free(a[i]);
  hdb__free_mem(a);
  hdb__tbl_scan_close(sc);
  return rc;
}

static hdb_status sorted_cursor(hdb__tbl_snap *snap, const char *table, const hdb__query *q,
                                hdb_cursor **out, hdb_error *err) {
  hdb_record **rows;
  size_t m;
  hdb__rowbuf buf = {0};
  hdb_status rc = collect_rows(snap, q->filter, table, &rows, &m, err);
  if (rc != HDB_OK) return rc;
  hdb__sort_records(rows, m, q->sort, q->n_sort);
  uint64_t first = q->offset < m ? q->offset : m;
  uint64_t last = m;
  if (q->limit && q->limit < last - first) last = first + q->limit;
  for (uint64_t i = first; i < last; i++) {
    hdb_record *p = hdb__record_project(rows[i], q->fields, q->fields ? q->n_fields : 0);
    if (!p || hdb__rowbuf_push(&buf, p, NAN) != HDB_OK) {
      rc = hdb__fail(err, HDB_NOMEM, "out of memory querying table '%s'", table);
      break;
    }
  }
  for (size_t i = 0; i < m; i++) hdb_record_free(rows[i]);
  hdb__free_mem(rows);
  if (rc == HDB_OK) rc = hdb__rowbuf_cursor(&buf, out, err);
  hdb__rowbuf_free(&buf);
  return rc;
}

hdb_status hdb__nat_query(void *conn, const char *table, const hdb__query *q, hdb_cursor **out,
                          hdb_error *err) {
  nat_conn *c = conn;
  *out = NULL;
  nat_table *t;
  hdb_status rc = hdb__nat_table_get(c, table, &t, err);
  if (rc != HDB_OK) return rc;
  hdb__tbl_snap *s = NULL;
  rc = hdb__nat_pin(t, q->version, &s, err);
  if (rc != HDB_OK) goto done;
  const hdb_schema *schema = hdb__tbl_snap_schema(s);
  if (q->filter) rc = hdb__filter_bind(q->filter, schema, table, err);
  if (rc == HDB_OK) rc = check_query(schema, table, q, err);
  if (rc != HDB_OK) goto done;
  if (q->n_sort)
    rc = sorted_cursor(s, table, q, out, err);
  else
    rc = stream_cursor(&s, table, q, out, err);
done:
  hdb__tbl_unpin(s);
  hdb__nat_table_put(t);
  return rc;
}

hdb_status hdb__nat_count(void *conn, const char *table, const hdb__expr *filter,
                          int64_t version, uint64_t *out, hdb_error *err) {
  nat_conn *c = conn;
  *out = 0;
  nat_table *t;
  hdb_status rc = hdb__nat_table_get(c, table, &t, err);
  if (rc != HDB_OK) return rc;
  hdb__tbl_snap *s = NULL;
  hdb__tbl_scan *sc = NULL;
  rc = hdb__nat_pin(t, version, &s, err);
  if (rc != HDB_OK) goto done;
  if (!filter || filter->kind == HDB__EXPR_TRUE) {
    *out = hdb__tbl_snap_rows(s);
    goto done;
  }
  rc = hdb__filter_bind(filter, hdb__tbl_snap_schema(s), table, err);
  if (rc != HDB_OK) goto done;
  static const char *const none[1] = {NULL};
  hdb__tbl_scan_options so = {filter, none, 0}; /* ids only, plus the filter's columns */
  rc = hdb__tbl_scan_open(s, &so, &sc, err);
  if (rc != HDB_OK) goto done;
  uint64_t n = 0;
  for (;;) {
    const hdb_record *r;
    rc = hdb__tbl_scan_next(sc, &r, NULL, NULL, err);
    if (rc != HDB_OK) break;
    n++;
  }
  if (rc == HDB_DONE) {
    rc = HDB_OK;
    *out = n;
  }
done:
  hdb__tbl_scan_close(sc);
  hdb__tbl_unpin(s);
  hdb__nat_table_put(t);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Aggregates                                                          */
/* ------------------------------------------------------------------ */

/* hdb__agg_field_check over the pinned snapshot's schema. */
typedef struct agg_ctx {
  const hdb_schema *schema;
  const char *table;
} agg_ctx;

static hdb_status agg_check_field(const void *ctx, const char *field, const char *what,
                                  hdb_error *err) {
  const agg_ctx *x = ctx;
  return hdb__nat_check_field(x->schema, x->table, field, 0, 0, what, err);
}

hdb_status hdb__nat_aggregate(void *conn, const char *table, const hdb_agg *aggs, size_t n_aggs,
                              const char *group_by, const hdb__expr *filter, hdb_cursor **out,
                              hdb_error *err) {
  nat_conn *c = conn;
  *out = NULL;
  nat_table *t;
  hdb_status rc = hdb__nat_table_get(c, table, &t, err);
  if (rc != HDB_OK) return rc;
  hdb__tbl_snap *s = NULL;
  hdb_record **rows = NULL;
  size_t m = 0;
  hdb__rowbuf buf = {0};
  rc = hdb__nat_pin(t, 0, &s, err);
  if (rc != HDB_OK) goto done;
  const hdb_schema *schema = hdb__tbl_snap_schema(s);
  /* As the reference: the aggregates are checked before the filter. */
  agg_ctx x = {schema, table};
  rc = hdb__agg_check(table, schema, aggs, n_aggs, group_by, agg_check_field, &x, err);
  if (rc == HDB_OK && filter) rc = hdb__filter_bind(filter, schema, table, err);
  if (rc == HDB_OK) rc = collect_rows(s, filter, table, &rows, &m, err);
  if (rc == HDB_OK)
    rc = hdb__agg_records(table, aggs, n_aggs, group_by, (const hdb_record *const *)rows, m, &buf,
                          err);
  if (rc == HDB_OK) rc = hdb__rowbuf_cursor(&buf, out, err);
done:
  for (size_t i = 0; i < m; i++) hdb_record_free(rows[i]);
  hdb__free_mem(rows);
  hdb__rowbuf_free(&buf);
  hdb__tbl_unpin(s);
  hdb__nat_table_put(t);
  return rc;
}

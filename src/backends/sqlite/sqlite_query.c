/*
 * sqlite_query.c - hdb_query and hdb_count for the sqlite:// backend.
 *
 * What runs inside SQLite: the filter (when hdb__sql_where translates it),
 * the sort (when every key is "id" or a typed column other than a vector:
 * ORDER BY k ASC NULLS FIRST / DESC NULLS LAST, then "id"), and
 * LIMIT/OFFSET. Without sort keys the order is rowid order, i.e.
 * insertion order (an upsert keeps its row's place). Otherwise rows are
 * read in rowid order, filtered with core's evaluator, sorted with
 * hdb__sort_records and windowed in memory, exactly as the memory backend
 * does. Results are read at the call into a rows cursor that owns them (a
 * snapshot that outlives the call and the handle).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sqlite.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/err.h"
#include "core/filter.h"

hdb_status hdb__sq_where(const hdb__sq_table *t, const hdb__expr *filter, const char *prefix,
                         hdb__sql_buf *b, hdb__sql_params *p, int *pushed, hdb_error *err) {
  *pushed = 1;
  if (!filter || filter->kind == HDB__EXPR_TRUE) return HDB_OK;
  hdb__sql_buf w = {0};
  hdb_error e2;
  hdb_status s = hdb__sql_where(filter, t->schema, t->schema ? NULL : HDB__SQ_DOC, HDB__SQL_SQLITE, &w,
                                p, &e2);
  if (s == HDB_NOT_SUPPORTED) {
    hdb__sql_params_free(p);
    *pushed = 0;
    s = HDB_OK;
  } else if (s == HDB_OK) {
    hdb__sql_buf_append(b, prefix);
    hdb__sql_buf_append(b, w.s);
    s = hdb__sql_buf_status(b, err);
  } else {
    if (err) *err = e2;
  }
  hdb__sql_buf_free(&w);
  return s;
}

/* Can the sort run as ORDER BY? Typed columns compare in SQLite as
 * hdb__value_order does within one type: numbers by value, text and blob
 * and json text by bytes, bools as 0 < 1. Vectors (float order, stored
 * as bytes) and json paths cannot. */
static int sort_pushable(const hdb__sq_table *t, const hdb_sort_key *keys, size_t n) {
  if (!t->schema) return n == 0 || (n == 1 && strcmp(keys[0].field, "id") == 0);
  for (size_t i = 0; i < n; i++) {
    if (strcmp(keys[i].field, "id") == 0) continue;
    const hdb__column *col = hdb__schema_column(t->schema, keys[i].field);
    if (!col || col->type == HDB_TYPE_VECTOR) return 0;
  }
  return 1;
}

static hdb_status check_projection(const hdb__sq_table *t, const char *const *fields, size_t n,
                                   hdb_error *err) {
  char what[48];
  for (size_t i = 0; fields && i < n; i++) {
    snprintf(what, sizeof what, "projected field %zu", i);
    hdb_status rc = hdb__sq_check_field(t, fields[i], 0, 1, what, err);
    if (rc != HDB_OK) return rc;
  }
  return HDB_OK;
}

hdb_status hdb__sq_query(void *conn, const char *table, const hdb__query *q, hdb_cursor **out,
                         hdb_error *err) {
  hdb__sq_conn *c = conn;
  *out = NULL;
  if (q->version != 0)
    return hdb__fail(err, HDB_NOT_SUPPORTED, "sqlite backend has no time travel (table '%s', version %lld)",
                     table, (long long)q->version);
  const hdb__sq_table *t;
  hdb_status s = hdb__sq_table_get(c, table, &t, err);
  if (s != HDB_OK) return s;
  if (q->filter) {
    s = hdb__filter_bind(q->filter, t->schema, table, err);
    if (s != HDB_OK) return s;
  }
  for (size_t i = 0; i < q->n_sort; i++) {
    char what[32];
    snprintf(what, sizeof what, "sort key %zu", i);
    s = hdb__sq_check_field(t, q->sort[i].field, 1, 1, what, err);
    if (s != HDB_OK) return s;
  }
  s = check_projection(t, q->fields, q->n_fields, err);
  if (s != HDB_OK) return s;

  hdb__sql_buf b = {0};
  hdb__sql_params p = {0};
  hdb__rowbuf all = {0}, buf = {0};
  sqlite3_stmt *st = NULL;
  int pushed;
  hdb__sql_buf_append(&b, "SELECT ");
  hdb__sq_select_list(&b, t);
  hdb__sql_buf_append(&b, " FROM ");
  hdb__sql_buf_name(&b, HDB__SQL_SQLITE, table);
  s = hdb__sq_where(t, q->filter, " WHERE ", &b, &p, &pushed, err);
  if (s != HDB_OK) goto done;
  int in_sql = pushed && sort_pushable(t, q->sort, q->n_sort);
  if (in_sql && q->n_sort) {
    hdb__sql_buf_append(&b, " ORDER BY ");
    for (size_t i = 0; i < q->n_sort; i++) {
      hdb__sql_buf_name(&b, HDB__SQL_SQLITE, q->sort[i].field);
      hdb__sql_buf_append(&b, q->sort[i].descending ? " DESC NULLS LAST, " : " ASC NULLS FIRST, ");
    }
    hdb__sql_buf_append(&b, "\"id\" ASC");
  } else {
    hdb__sql_buf_append(&b, " ORDER BY rowid");
  }
  if (in_sql) hdb__sql_buf_append(&b, " LIMIT ? OFFSET ?");
  s = hdb__sql_buf_status(&b, err);
  if (s == HDB_OK) s = hdb__sq_prepare(c, b.s, &st, err);
  if (s != HDB_OK) goto done;
  int rc = hdb__sq_bind_params(st, &p, 1);
  if (rc == SQLITE_OK && in_sql) {
    int64_t lim = q->limit && q->limit < (uint64_t)INT64_MAX ? (int64_t)q->limit : -1;
    int64_t off = q->offset < (uint64_t)INT64_MAX ? (int64_t)q->offset : INT64_MAX;
    rc = sqlite3_bind_int64(st, (int)p.n + 1, lim);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, (int)p.n + 2, off);
  }
  if (rc != SQLITE_OK) {
    s = hdb__sq_fail(c, rc, err, "querying table '%s'", table);
    goto done;
  }
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    hdb_record *r;
    s = hdb__sq_row_record(t, st, 0, &r, err);
    if (s != HDB_OK) goto done;
    if (!pushed) {
      int m = 0;
      s = hdb__filter_eval(q->filter, r, &m, err);
      if (s != HDB_OK || !m) {
        hdb_record_free(r);
        if (s != HDB_OK) goto done;
        continue;
      }
    }
    if (in_sql && q->fields) {
      hdb_record *pr = hdb__record_project(r, q->fields, q->n_fields);
      hdb_record_free(r);
      if (!(r = pr)) goto nomem;
    }
    if (hdb__rowbuf_push(in_sql ? &buf : &all, r, NAN) != HDB_OK) goto nomem;
  }
  if (rc != SQLITE_DONE) {
    s = hdb__sq_fail(c, rc, err, "querying table '%s'", table);
    goto done;
  }
  if (!in_sql) {
    if (q->n_sort) hdb__sort_records(all.rows, all.n, q->sort, q->n_sort);
    uint64_t first = q->offset < all.n ? q->offset : all.n, last = all.n;
    if (q->limit && q->limit < last - first) last = first + q->limit;
    for (uint64_t i = first; i < last; i++) {
      hdb_record *pr = hdb__record_project(all.rows[i], q->fields, q->fields ? q->n_fields : 0);
      if (!pr || hdb__rowbuf_push(&buf, pr, NAN) != HDB_OK) goto nomem;
    }
  }
  hdb__sq_done(c, st);
  st = NULL;
  s = hdb__rowbuf_cursor(&buf, out, err);
  goto done;
nomem:
  s = hdb__fail(err, HDB_NOMEM, "out of memory querying table '%s'", table);
done:
  hdb__sq_done(c, st);
  hdb__rowbuf_free(&all);
  hdb__rowbuf_free(&buf);
  hdb__sql_params_free(&p);
  hdb__sql_buf_free(&b);
  return s;
}

hdb_status hdb__sq_count(void *conn, const char *table, const hdb__expr *filter, int64_t version,
                         uint64_t *out, hdb_error *err) {
  hdb__sq_conn *c = conn;
  *out = 0;
  if (version != 0)
    return hdb__fail(err, HDB_NOT_SUPPORTED, "sqlite backend has no time travel (table '%s', version %lld)",
                     table, (long long)version);
  const hdb__sq_table *t;
  hdb_status s = hdb__sq_table_get(c, table, &t, err);
  if (s == HDB_OK && filter) s = hdb__filter_bind(filter, t->schema, table, err);
  if (s != HDB_OK) return s;
  hdb__sql_buf b = {0};
  hdb__sql_params p = {0};
  sqlite3_stmt *st = NULL;
  int pushed;
  hdb__sql_buf_append(&b, "SELECT count(*) FROM ");
  hdb__sql_buf_name(&b, HDB__SQL_SQLITE, table);
  s = hdb__sq_where(t, filter, " WHERE ", &b, &p, &pushed, err);
  if (s == HDB_OK && !pushed) {
    /* The evaluator counts: read every row. */
    hdb__sql_buf_free(&b);
    hdb__sql_buf_append(&b, "SELECT ");
    hdb__sq_select_list(&b, t);
    hdb__sql_buf_append(&b, " FROM ");
    hdb__sql_buf_name(&b, HDB__SQL_SQLITE, table);
  }
  if (s == HDB_OK) s = hdb__sql_buf_status(&b, err);
  if (s == HDB_OK) s = hdb__sq_prepare(c, b.s, &st, err);
  if (s != HDB_OK) goto done;
  int rc = hdb__sq_bind_params(st, &p, 1);
  uint64_t n = 0;
  while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    rc = SQLITE_OK;
    if (pushed) {
      n = (uint64_t)sqlite3_column_int64(st, 0);
      continue;
    }
    hdb_record *r;
    s = hdb__sq_row_record(t, st, 0, &r, err);
    if (s != HDB_OK) goto done;
    int m = 0;
    s = hdb__filter_eval(filter, r, &m, err);
    hdb_record_free(r);
    if (s != HDB_OK) goto done;
    n += (uint64_t)m;
  }
  if (rc != SQLITE_DONE && rc != SQLITE_OK) {
    s = hdb__sq_fail(c, rc, err, "counting rows of table '%s'", table);
    goto done;
  }
  *out = n;
done:
  hdb__sq_done(c, st);
  hdb__sql_params_free(&p);
  hdb__sql_buf_free(&b);
  return s;
}

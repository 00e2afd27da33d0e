/*
 * pg_query.c - filters, hdb_query and hdb_count on PostgreSQL.
 *
 * Push-down versus client side:
 *  - A filter on a table with a schema goes to the shared SQL layer
 *    (hdb__sql_where, POSTGRES dialect): the WHERE clause runs on the
 *    server with every literal as a parameter. When the layer answers
 *    HDB_NOT_SUPPORTED for some node, the whole filter is evaluated here
 *    instead with core's evaluator on streamed rows (exact, O(n)).
 *  - Schemaless tables store one JSON document per row (the layer's
 *    document form); their filters are translated against it ("doc").
 *  - Sorting is pushed down (ORDER BY k ASC NULLS FIRST / DESC NULLS LAST,
 *    then "id") when the filter is and every key is the id or a bool, int,
 *    float, text (COLLATE "C": byte order), timestamp or blob column, as
 *    are LIMIT and OFFSET. Keys on json paths, json or vector columns, and
 *    schemaless tables sort here with hdb__sort_records.
 *  - Without sort keys the order is by id: stable, so pages are slices.
 *
 * Cursors: a pushed-down query is one statement whose whole result the
 * cursor holds (a snapshot taken at the call, decoded row by row as the
 * cursor advances; no connection is held). A client-side query streams the
 * table in single-row mode, keeps the matching rows, sorts and windows
 * them, and hands them to a rows cursor.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "pg.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/err.h"
#include "core/record.h"
#include "core/schema.h"

static const char *where_of(const hdb__pg_conn *c) { return hdb__pg_pool_where(c->pool); }

void hdb__pg_where_free(hdb__pg_where *w) {
  hdb__sql_buf_free(&w->sql);
  hdb__sql_params_free(&w->params);
  w->client = 0;
}

hdb_status hdb__pg_where_build(const hdb__pg_table *t, const hdb__expr *e, hdb__pg_where *w,
                               hdb_error *err) {
  memset(w, 0, sizeof *w);
  if (e) {
    hdb_status st = hdb__filter_bind(e, t->schema, t->name, err);
    if (st != HDB_OK) return st;
  }
  if (e && e->kind != HDB__EXPR_TRUE) {
    hdb_error e2;
    hdb_status st = hdb__sql_where(e, t->schema, t->schema ? NULL : "doc", HDB__SQL_POSTGRES,
                                   &w->sql, &w->params, &e2);
    if (st == HDB_OK) return hdb__sql_buf_status(&w->sql, err);
    hdb__pg_where_free(w);
    if (st != HDB_NOT_SUPPORTED) return hdb__fail(err, st, "table '%s': filter: %s", t->name, e2.message);
  }
  w->client = e && e->kind != HDB__EXPR_TRUE;
  hdb__sql_buf_append(&w->sql, "TRUE");
  return hdb__sql_buf_status(&w->sql, err);
}

hdb_status hdb__pg_scan(PGconn *pg, const char *where, const hdb__pg_table *t,
                        const hdb__expr *e, const hdb__pg_where *w, const char *lock_clause,
                        hdb__pg_row_fn fn, void *user, hdb_error *err) {
  hdb__sql_buf b = {0};
  hdb__pg_params p = {0};
  size_t *cols = NULL, ncols = 0;
  hdb_status st = hdb__pg_select_list(t, NULL, 0, &b, &cols, &ncols, err);
  if (st != HDB_OK) goto done;
  {
    hdb__sql_buf q = {0};
    hdb__sql_buf_append(&q, "SELECT ");
    hdb__sql_buf_append(&q, b.s ? b.s : "");
    hdb__sql_buf_append(&q, " FROM ");
    hdb__sql_buf_ident(&q, t->pgname);
    hdb__sql_buf_append(&q, " WHERE ");
    hdb__sql_buf_append(&q, w->sql.s ? w->sql.s : "TRUE");
    hdb__sql_buf_append(&q, " ORDER BY \"id\"");
    if (lock_clause) hdb__sql_buf_append(&q, lock_clause);
    hdb__sql_buf_free(&b);
    b = q;
  }
  if ((st = hdb__sql_buf_status(&b, err)) != HDB_OK) goto done;
  hdb__pg_params_from_sql(&p, &w->params);
  if (p.oom) {
    st = hdb__fail(err, HDB_NOMEM, "out of memory scanning table '%s'", t->name);
    goto done;
  }
  if (!PQsendQueryParams(pg, b.s, p.n, p.types, p.values, p.lengths, p.formats, 1)) {
    st = hdb__pg_fail_result(pg, NULL, where, "scanning the table", err);
    goto done;
  }
  PQsetSingleRowMode(pg);
  PGresult *res;
  int failed = 0;
  while ((res = PQgetResult(pg)) != NULL) {
    ExecStatusType rs = PQresultStatus(res);
    if (failed) {
      PQclear(res);
      continue;
    }
    if (rs == PGRES_SINGLE_TUPLE) {
      hdb_record *rec = NULL;
      st = hdb__pg_row_record(t, res, 0, cols, ncols, &rec, err);
      int keep = st == HDB_OK;
      if (keep && w->client && e) st = hdb__filter_eval(e, rec, &keep, err);
      if (st == HDB_OK && keep) st = fn(user, rec, err);
      else hdb_record_free(rec);
      if (st != HDB_OK) failed = 1; /* drain the rest */
    } else if (rs != PGRES_TUPLES_OK) {
      st = hdb__pg_fail_result(pg, res, where, "scanning the table", err);
      failed = 1;
    }
    PQclear(res);
  }
  if (!failed && hdb__pg_broken(pg)) st = hdb__pg_fail_result(pg, NULL, where, "scanning the table", err);
done:
  hdb__sql_buf_free(&b);
  hdb__pg_params_free(&p);
  hdb__free_mem(cols);
  return st;
}

/* ------------------------------------------------------------------ */
/* Cursor over one result                                              */
/* ------------------------------------------------------------------ */

typedef struct res_cursor {
  hdb_cursor base;
  PGresult *res;
  int row, n;
  hdb__pg_table t;
  size_t *cols, ncols;
  hdb_record *cur;
} res_cursor;

static hdb_status res_next(hdb_cursor *cc, const hdb_record **rec, double *distance,
                           hdb_error *err) {
  res_cursor *c = (res_cursor *)cc;
  hdb_record_free(c->cur);
  c->cur = NULL;
  *distance = NAN;
  if (c->row >= c->n) return HDB_DONE;
  hdb_status st = hdb__pg_row_record(&c->t, c->res, c->row, c->cols, c->ncols, &c->cur, err);
  if (st != HDB_OK) return st;
  c->row++;
  *rec = c->cur;
  return HDB_OK;
}

static void res_close(hdb_cursor *cc) {
  res_cursor *c = (res_cursor *)cc;
  hdb_record_free(c->cur);
  PQclear(c->res);
  hdb__pg_table_free(&c->t);
  hdb__free_mem(c->cols);
  hdb__free_mem(c);
}

static const hdb__cursor_vtab res_vtab = {res_next, res_close};

/* ------------------------------------------------------------------ */
/* Query                                                               */
/* ------------------------------------------------------------------ */

typedef struct collect {
  hdb__rowbuf buf;
} collect;

static hdb_status collect_row(void *user, hdb_record *rec, hdb_error *err) {
  collect *cl = user;
  hdb_status st = hdb__rowbuf_push(&cl->buf, rec, NAN);
  return st == HDB_OK ? HDB_OK : hdb__fail(err, st, "out of memory collecting rows");
}

/* Whether ORDER BY on this key gives hdb__sort_records' order. */
static int sortable_on_server(const hdb__pg_table *t, const char *field) {
  if (strcmp(field, "id") == 0) return 1;
  const hdb__column *col = t->schema ? hdb__schema_column(t->schema, field) : NULL;
  if (!col) return 0;
  switch (col->type) {
  case HDB_TYPE_BOOL:
  case HDB_TYPE_INT:
  case HDB_TYPE_FLOAT:
  case HDB_TYPE_TEXT:
  case HDB_TYPE_TIMESTAMP:
  case HDB_TYPE_BLOB:
    return 1;
  default:
    return 0;
  }
}

static hdb_status query_in(hdb__pg_conn *c, PGconn *pg, const char *table, const hdb__query *q,
                           hdb_cursor **out, hdb_error *err) {
  hdb__pg_table t;
  hdb_status st = hdb__pg_table_load(pg, where_of(c), table, &t, err);
  if (st != HDB_OK) return st;
  hdb__pg_where w;
  memset(&w, 0, sizeof w);
  hdb__sql_buf b = {0};
  hdb__pg_params p = {0};
  size_t *cols = NULL, ncols = 0;
  collect cl = {{0}};
  st = hdb__pg_where_build(&t, q->filter, &w, err);
  if (st != HDB_OK) goto done;
  int push = !w.client;
  for (size_t i = 0; i < q->n_sort; i++) {
    char what[32];
    snprintf(what, sizeof what, "sort key %zu", i);
    if ((st = hdb__pg_check_field(&t, q->sort[i].field, 1, 1, what, err)) != HDB_OK) goto done;
    if (!sortable_on_server(&t, q->sort[i].field)) push = 0;
  }
  for (size_t i = 0; q->fields && i < q->n_fields; i++) {
    char what[48];
    snprintf(what, sizeof what, "projected field %zu", i);
    if ((st = hdb__pg_check_field(&t, q->fields[i], 1, 0, what, err)) != HDB_OK) goto done;
  }
  if (!t.schema) push = 0;

  if (push) {
    st = hdb__pg_select_list(&t, q->fields, q->fields ? q->n_fields : 0, &b, &cols, &ncols, err);
    if (st != HDB_OK) goto done;
    hdb__sql_buf s = {0};
    hdb__sql_buf_append(&s, "SELECT ");
    hdb__sql_buf_append(&s, b.s);
    hdb__sql_buf_append(&s, " FROM ");
    hdb__sql_buf_ident(&s, t.pgname);
    hdb__sql_buf_append(&s, " WHERE ");
    hdb__sql_buf_append(&s, w.sql.s);
    hdb__sql_buf_append(&s, " ORDER BY ");
    for (size_t i = 0; i < q->n_sort; i++) {
      hdb__sql_buf_ident(&s, q->sort[i].field);
      hdb__sql_buf_append(&s, q->sort[i].descending ? " DESC NULLS LAST, " : " ASC NULLS FIRST, ");
    }
    hdb__sql_buf_append(&s, "\"id\"");
    hdb__pg_params_from_sql(&p, &w.params);
    hdb__sql_buf_appendf(&s, " LIMIT $%d OFFSET $%d", hdb__pg_params_next(&p),
                         hdb__pg_params_next(&p) + 1);
    if (q->limit && q->limit <= (uint64_t)INT64_MAX) hdb__pg_param_int8(&p, (int64_t)q->limit);
    else hdb__pg_param_null(&p);
    hdb__pg_param_int8(&p, q->offset <= (uint64_t)INT64_MAX ? (int64_t)q->offset : INT64_MAX);
    hdb__sql_buf_free(&b);
    b = s;
    if ((st = hdb__sql_buf_status(&b, err)) != HDB_OK) goto done;
    if (p.oom) {
      st = hdb__fail(err, HDB_NOMEM, "out of memory querying table '%s'", table);
      goto done;
    }
    PGresult *res = hdb__pg_exec(pg, b.s, &p);
    st = hdb__pg_check(pg, res, PGRES_TUPLES_OK, where_of(c), "querying the table", err);
    if (st != HDB_OK) goto done;
    res_cursor *rc = hdb__calloc(1, sizeof *rc);
    if (!rc) {
      PQclear(res);
      st = hdb__fail(err, HDB_NOMEM, "out of memory querying table '%s'", table);
      goto done;
    }
    hdb__cursor_init(&rc->base, &res_vtab);
    rc->res = res;
    rc->n = PQntuples(res);
    rc->t = t;
    memset(&t, 0, sizeof t);
    rc->cols = cols;
    rc->ncols = ncols;
    cols = NULL;
    *out = &rc->base;
    goto done;
  }

  st = hdb__pg_scan(pg, where_of(c), &t, q->filter, &w, NULL, collect_row, &cl, err);
  if (st != HDB_OK) goto done;
  if (q->n_sort) hdb__sort_records(cl.buf.rows, cl.buf.n, q->sort, q->n_sort);
  {
    size_t m = cl.buf.n;
    uint64_t first = q->offset < m ? q->offset : m;
    uint64_t last = m;
    if (q->limit && q->limit < last - first) last = first + q->limit;
    hdb__rowbuf win = {0};
    for (uint64_t i = first; i < last && st == HDB_OK; i++) {
      hdb_record *pr = hdb__record_project(cl.buf.rows[i], q->fields, q->fields ? q->n_fields : 0);
      if (!pr || hdb__rowbuf_push(&win, pr, NAN) != HDB_OK)
        st = hdb__fail(err, HDB_NOMEM, "out of memory querying table '%s'", table);
    }
    if (st == HDB_OK) st = hdb__rowbuf_cursor(&win, out, err);
    hdb__rowbuf_free(&win);
  }
done:
  hdb__rowbuf_free(&cl.buf);
  hdb__pg_where_free(&w);
  hdb__sql_buf_free(&b);
  hdb__pg_params_free(&p);
  hdb__free_mem(cols);
  hdb__pg_table_free(&t);
  return st;
}

hdb_status hdb__pg_query(void *conn, const char *table, const hdb__query *q, hdb_cursor **out,
                         hdb_error *err) {
  hdb__pg_conn *c = conn;
  *out = NULL;
  if (q->version != 0)
    return hdb__fail(err, HDB_NOT_SUPPORTED,
                     "the postgresql backend has no time travel (table '%s', version %lld)", table,
                     (long long)q->version);
  PGconn *pg;
  hdb_status st = hdb__pg_enter(c, &pg, err);
  if (st != HDB_OK) return st;
  st = query_in(c, pg, table, q, out, err);
  st = hdb__pg_leave(c, pg, st, err);
  if (st != HDB_OK && *out) {
    hdb_cursor_close(*out);
    *out = NULL;
  }
  return st;
}

static hdb_status count_row(void *user, hdb_record *rec, hdb_error *err) {
  (void)err;
  (*(uint64_t *)user)++;
  hdb_record_free(rec);
  return HDB_OK;
}

hdb_status hdb__pg_count(void *conn, const char *table, const hdb__expr *filter,
                         int64_t version, uint64_t *out, hdb_error *err) {
  hdb__pg_conn *c = conn;
  *out = 0;
  if (version != 0)
    return hdb__fail(err, HDB_NOT_SUPPORTED,
                     "the postgresql backend has no time travel (table '%s', version %lld)", table,
                     (long long)version);
  PGconn *pg;
  hdb_status st = hdb__pg_enter(c, &pg, err);
  if (st != HDB_OK) return st;
  hdb__pg_table t;
  hdb__pg_where w;
  memset(&w, 0, sizeof w);
  hdb__sql_buf b = {0};
  hdb__pg_params p = {0};
  st = hdb__pg_table_load(pg, where_of(c), table, &t, err);
  if (st != HDB_OK) goto out;
  st = hdb__pg_where_build(&t, filter, &w, err);
  if (st != HDB_OK) goto done;
  if (w.client) {
    uint64_t n = 0;
    st = hdb__pg_scan(pg, where_of(c), &t, filter, &w, NULL, count_row, &n, err);
    if (st == HDB_OK) *out = n;
    goto done;
  }
  hdb__sql_buf_append(&b, "SELECT count(*) FROM ");
  hdb__sql_buf_ident(&b, t.pgname);
  hdb__sql_buf_append(&b, " WHERE ");
  hdb__sql_buf_append(&b, w.sql.s);
  if ((st = hdb__sql_buf_status(&b, err)) != HDB_OK) goto done;
  hdb__pg_params_from_sql(&p, &w.params);
  PGresult *res = p.oom ? NULL : hdb__pg_exec(pg, b.s, &p);
  st = hdb__pg_check(pg, res, PGRES_TUPLES_OK, where_of(c), "counting rows", err);
  if (st == HDB_OK) {
    const unsigned char *v = (const unsigned char *)PQgetvalue(res, 0, 0);
    uint64_t n = 0;
    for (int k = 0; k < 8 && PQgetlength(res, 0, 0) == 8; k++) n = n << 8 | v[k];
    *out = n;
    PQclear(res);
  }
done:
  hdb__pg_table_free(&t);
out:
  hdb__pg_where_free(&w);
  hdb__sql_buf_free(&b);
  hdb__pg_params_free(&p);
  return hdb__pg_leave(c, pg, st, err);
}

/*
 * pg_search.c - exact vector search over PostgreSQL rows.
 *
 * The server has no vector type here (pgvector is not used by this
 * backend): vectors are BYTEA (or REAL[]) and distances are computed in
 * the client with core's kernels (hdb__distance), so results equal the
 * memory backend's exactly. The cost is O(rows matching the filter) per
 * query, streamed, with O(k) memory:
 *
 *  1. (inside one REPEATABLE READ READ ONLY transaction unless the handle
 *     already has a transaction, so both statements see one snapshot)
 *     SELECT id, <vector> FROM t WHERE <vector> IS NOT NULL AND (<filter>)
 *     in single-row mode: the filter runs on the server; each row's vector
 *     is read straight from the result (no copy on little-endian hosts)
 *     and offered to core's bounded max-heap of the k best (core/topk.h:
 *     distance, then id; NaN last), as memory_search.c does;
 *  2. SELECT <projection> FROM t WHERE id = ANY(<the k ids>) fetches the
 *     rows to return, in heap order, with their distances.
 * When the filter must be evaluated here (schemaless tables, untranslatable
 * nodes) step 1 streams whole rows instead and keeps the k best records.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/distance.h"
#include "core/err.h"
#include "core/record.h"
#include "core/schema.h"
#include "core/topk.h"

static const char *where_of(const hdb__pg_conn *c) { return hdb__pg_pool_where(c->pool); }

/* Candidates live in core's bounded heap (core/topk.h). Server path: the
 * payload is the owned id (the item's id points at it). Client path: the
 * payload is the owned record (the item's id is the record's). */
static void drop_payload(void *p, int client) {
  if (client) hdb_record_free(p);
  else hdb__free_mem(p);
}

/* Offers a server-side candidate; the id is copied only when kept. */
static hdb_status offer_id(hdb__topk *hp, double d, const char *id) {
  if (!hdb__topk_would_keep(hp, d, id)) return HDB_OK;
  char *copy = hdb__strdup(id);
  void *dropped;
  if (!copy) return HDB_NOMEM;
  hdb_status st = hdb__topk_offer(hp, d, copy, copy, &dropped);
  drop_payload(dropped, 0);
  return st;
}

static void heap_free(hdb__topk *hp, int client) {
  for (size_t i = 0; i < hp->n; i++) drop_payload(hp->h[i].p, client);
  hdb__topk_free(hp);
}

typedef struct client_ctx {
  hdb__topk *hp;
  const hdb__column *col;
  const hdb__search *s;
  hdb_metric metric;
} client_ctx;

static hdb_status client_row(void *user, hdb_record *rec, hdb_error *err) {
  client_ctx *x = user;
  const hdb_value *v = hdb__record_value(rec, x->col->name);
  if (!v || v->type != HDB_TYPE_VECTOR || v->as.vector.dim != x->s->dim) {
    hdb_record_free(rec);
    return HDB_OK;
  }
  double d = hdb__distance(x->metric, x->s->vector, v->as.vector.data, x->s->dim);
  void *dropped;
  hdb_status st = hdb__topk_offer(x->hp, d, rec->id, rec, &dropped);
  drop_payload(dropped, 1);
  return st == HDB_OK ? HDB_OK : hdb__fail(err, HDB_NOMEM, "out of memory searching");
}

/* Step 1 on the server: ids and distances of the k best. */
static hdb_status stream_vectors(hdb__pg_conn *c, PGconn *pg, const hdb__pg_table *t, long ci,
                                 const hdb__pg_where *w, const hdb__search *s, hdb_metric metric,
                                 hdb__topk *hp, hdb_error *err) {
  const hdb__column *col = &t->schema->cols[ci];
  hdb__sql_buf b = {0};
  hdb__pg_params p = {0};
  float *scratch = hdb__malloc((size_t)s->dim * sizeof *scratch);
  hdb_status st = HDB_OK;
  if (!scratch) return hdb__fail(err, HDB_NOMEM, "out of memory searching '%s'", t->name);
  hdb__sql_buf_append(&b, "SELECT \"id\", ");
  hdb__sql_buf_ident(&b, col->name);
  hdb__sql_buf_append(&b, " FROM ");
  hdb__sql_buf_ident(&b, t->pgname);
  hdb__sql_buf_append(&b, " WHERE ");
  hdb__sql_buf_ident(&b, col->name);
  hdb__sql_buf_append(&b, " IS NOT NULL AND (");
  hdb__sql_buf_append(&b, w->sql.s);
  hdb__sql_buf_append(&b, ")");
  hdb__pg_params_from_sql(&p, &w->params);
  if ((st = hdb__sql_buf_status(&b, err)) != HDB_OK) goto done;
  if (p.oom) {
    st = hdb__fail(err, HDB_NOMEM, "out of memory searching '%s'", t->name);
    goto done;
  }
  if (!PQsendQueryParams(pg, b.s, p.n, p.types, p.values, p.lengths, p.formats, 1)) {
    st = hdb__pg_fail_result(pg, NULL, where_of(c), "searching", err);
    goto done;
  }
  PQsetSingleRowMode(pg);
  PGresult *res;
  int failed = 0;
  while ((res = PQgetResult(pg)) != NULL) {
    ExecStatusType rs = PQresultStatus(res);
    if (!failed && rs == PGRES_SINGLE_TUPLE) {
      const float *vec;
      if (hdb__pg_vector_view(res, 0, 1, t->kinds[ci], s->dim, scratch, &vec) != 0) {
        st = hdb__fail(err, HDB_CORRUPT, "table '%s': row '%s': column '%s' is not a vector of %u",
                       t->name, PQgetvalue(res, 0, 0), col->name, (unsigned)s->dim);
        failed = 1;
      } else {
        double d = hdb__distance(metric, s->vector, vec, s->dim);
        if (offer_id(hp, d, PQgetvalue(res, 0, 0)) != HDB_OK) {
          st = hdb__fail(err, HDB_NOMEM, "out of memory searching '%s'", t->name);
          failed = 1;
        }
      }
    } else if (!failed && rs != PGRES_TUPLES_OK) {
      st = hdb__pg_fail_result(pg, res, where_of(c), "searching", err);
      failed = 1;
    }
    PQclear(res);
  }
  if (!failed && hdb__pg_broken(pg)) st = hdb__pg_fail_result(pg, NULL, where_of(c), "searching", err);
done:
  hdb__free_mem(scratch);
  hdb__sql_buf_free(&b);
  hdb__pg_params_free(&p);
  return st;
}

/* Step 2: the rows of the kept candidates, projected, in order. */
static hdb_status fetch_hits(hdb__pg_conn *c, PGconn *pg, const hdb__pg_table *t, hdb__topk *hp,
                             const hdb__search *s, hdb__rowbuf *buf, hdb_error *err) {
  hdb__sql_buf b = {0};
  hdb__pg_params p = {0};
  size_t *cols = NULL, ncols = 0;
  PGresult *res = NULL;
  char **ids = NULL;
  hdb_status st;
  hdb__sql_buf_append(&b, "SELECT ");
  st = hdb__pg_select_list(t, s->fields, s->fields ? s->n_fields : 0, &b, &cols, &ncols, err);
  if (st != HDB_OK) goto done;
  hdb__sql_buf_append(&b, " FROM ");
  hdb__sql_buf_ident(&b, t->pgname);
  hdb__sql_buf_append(&b, " WHERE \"id\" = ANY($1)");
  if ((st = hdb__sql_buf_status(&b, err)) != HDB_OK) goto done;
  ids = hdb__malloc((hp->n ? hp->n : 1) * sizeof *ids);
  if (!ids) goto nomem;
  for (size_t i = 0; i < hp->n; i++) ids[i] = (char *)hp->h[i].id;
  hdb__pg_param_text_array(&p, (const char *const *)ids, hp->n);
  if (p.oom) goto nomem;
  res = hdb__pg_exec(pg, b.s, &p);
  st = hdb__pg_check(pg, res, PGRES_TUPLES_OK, where_of(c), "reading search results", err);
  if (st != HDB_OK) {
    res = NULL;
    goto done;
  }
  int n = PQntuples(res);
  for (size_t i = 0; i < hp->n && st == HDB_OK; i++) {
    for (int r = 0; r < n; r++) {
      if (strcmp(PQgetvalue(res, r, 0), hp->h[i].id) != 0) continue;
      hdb_record *rec = NULL;
      st = hdb__pg_row_record(t, res, r, cols, ncols, &rec, err);
      if (st == HDB_OK && !t->schema && s->fields) {
        hdb_record *pr = hdb__record_project(rec, s->fields, s->n_fields);
        hdb_record_free(rec);
        rec = pr;
        if (!rec) goto nomem;
      }
      if (st == HDB_OK && hdb__rowbuf_push(buf, rec, hp->h[i].d) != HDB_OK) goto nomem;
      break;
    }
  }
  goto done;
nomem:
  st = hdb__fail(err, HDB_NOMEM, "out of memory searching '%s'", t->name);
done:
  PQclear(res);
  hdb__free_mem(ids);
  hdb__free_mem(cols);
  hdb__sql_buf_free(&b);
  hdb__pg_params_free(&p);
  return st;
}

static hdb_status search_in(hdb__pg_conn *c, PGconn *pg, const char *table, const hdb__search *s,
                            hdb_cursor **out, hdb_error *err) {
  hdb__pg_table t;
  hdb_status st = hdb__pg_table_load(pg, where_of(c), table, &t, err);
  if (st != HDB_OK) return st;
  hdb__pg_where w;
  memset(&w, 0, sizeof w);
  hdb__topk hp;
  hdb__topk_init(&hp, (size_t)s->k);
  hdb__rowbuf buf = {0};
  long ci;
  const hdb__column *scol = NULL;
  if ((st = hdb__schema_search_column(t.schema, t.name, s->column, &scol, err)) != HDB_OK) goto done;
  ci = scol - t.schema->cols;
  const hdb__column *col = &t.schema->cols[ci];
  if (s->dim != col->dim) {
    st = hdb__fail(err, HDB_DIMENSION, "query vector has %u components; column '%s' of table '%s' has %u",
                   (unsigned)s->dim, col->name, table, (unsigned)col->dim);
    goto done;
  }
  if ((st = hdb__pg_where_build(&t, s->filter, &w, err)) != HDB_OK) goto done;
  for (size_t i = 0; s->fields && i < s->n_fields; i++) {
    char what[48];
    snprintf(what, sizeof what, "projected field %zu", i);
    if ((st = hdb__pg_check_field(&t, s->fields[i], 1, 0, what, err)) != HDB_OK) goto done;
  }
  hdb_metric metric = s->metric == HDB_METRIC_DEFAULT ? col->metric : s->metric;
  if (w.client) {
    client_ctx x = {&hp, col, s, metric};
    st = hdb__pg_scan(pg, where_of(c), &t, s->filter, &w, NULL, client_row, &x, err);
    if (st != HDB_OK) goto done;
    hdb__topk_finish(&hp);
    for (size_t i = 0; i < hp.n && st == HDB_OK; i++) {
      hdb_record *pr = hdb__record_project(hp.h[i].p, s->fields, s->fields ? s->n_fields : 0);
      if (!pr || hdb__rowbuf_push(&buf, pr, hp.h[i].d) != HDB_OK)
        st = hdb__fail(err, HDB_NOMEM, "out of memory searching '%s'", table);
    }
  } else {
    st = hdb__pg_atomic_begin(c, pg, "REPEATABLE READ READ ONLY", err);
    if (st != HDB_OK) goto done;
    st = stream_vectors(c, pg, &t, ci, &w, s, metric, &hp, err);
    if (st == HDB_OK) {
      hdb__topk_finish(&hp);
      if (hp.n) st = fetch_hits(c, pg, &t, &hp, s, &buf, err);
    }
    st = hdb__pg_atomic_end(c, pg, st, err);
  }
  if (st == HDB_OK) st = hdb__rowbuf_cursor(&buf, out, err);
done:
  heap_free(&hp, w.client);
  hdb__rowbuf_free(&buf);
  hdb__pg_where_free(&w);
  hdb__pg_table_free(&t);
  return st;
}

hdb_status hdb__pg_search(void *conn, const char *table, const hdb__search *s, hdb_cursor **out,
                          hdb_error *err) {
  hdb__pg_conn *c = conn;
  *out = NULL;
  if (s->version != 0)
    return hdb__fail(err, HDB_NOT_SUPPORTED,
                     "the postgresql backend has no time travel (table '%s', version %lld)", table,
                     (long long)s->version);
  if (s->k < 1)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "search of table '%s': k must be >= 1, not %d",
                     table, s->k);
  PGconn *pg;
  hdb_status st = hdb__pg_enter(c, &pg, err);
  if (st != HDB_OK) return st;
  st = search_in(c, pg, table, s, out, err);
  st = hdb__pg_leave(c, pg, st, err);
  if (st != HDB_OK && *out) {
    hdb_cursor_close(*out);
    *out = NULL;
  }
  return st;
}

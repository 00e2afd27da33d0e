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
 *     and offered to a bounded max-heap of the k best (distance, then id;
 *     NaN last), as in memory_search.c;
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

static const char *where_of(const hdb__pg_conn *c) { return hdb__pg_pool_where(c->pool); }

typedef struct cand {
  double d;
  char *id;         /* owned */
  hdb_record *rec;  /* owned; client-side path only */
} cand;

static int cand_cmp(const cand *a, const cand *b) {
  int an = isnan(a->d), bn = isnan(b->d);
  if (an != bn) return an ? 1 : -1;
  if (!an && a->d != b->d) return a->d < b->d ? -1 : 1;
  return strcmp(a->id, b->id);
}

static int cand_qsort(const void *a, const void *b) { return cand_cmp(a, b); }

typedef struct heap {
  cand *h;
  size_t n, k, cap; /* cap grows up to k, so a huge k costs only what is kept */
} heap;

static void sift_up(cand *h, size_t i) {
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (cand_cmp(&h[p], &h[i]) >= 0) break;
    cand t = h[p];
    h[p] = h[i];
    h[i] = t;
    i = p;
  }
}

static void sift_down(cand *h, size_t n, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, w = i;
    if (l < n && cand_cmp(&h[l], &h[w]) > 0) w = l;
    if (r < n && cand_cmp(&h[r], &h[w]) > 0) w = r;
    if (w == i) return;
    cand t = h[w];
    h[w] = h[i];
    h[i] = t;
    i = w;
  }
}

static void cand_free(cand *c) {
  hdb__free_mem(c->id);
  hdb_record_free(c->rec);
  c->id = NULL;
  c->rec = NULL;
}

/* Offers a candidate; takes rec (may be NULL) in every case. id is copied
 * only when the candidate is kept. */
static hdb_status heap_offer(heap *hp, double d, const char *id, hdb_record *rec) {
  cand probe = {d, (char *)id, NULL};
  if (hp->n == hp->k && cand_cmp(&probe, &hp->h[0]) >= 0) {
    hdb_record_free(rec);
    return HDB_OK;
  }
  char *copy = rec ? rec->id : hdb__strdup(id);
  if (!copy) {
    hdb_record_free(rec);
    return HDB_NOMEM;
  }
  if (rec) rec->id = NULL; /* the candidate owns the id; the record gets it back at the end */
  cand c = {d, copy, rec};
  if (hp->n < hp->k && hp->n == hp->cap) {
    size_t cap = hp->cap * 2 < hp->k ? hp->cap * 2 : hp->k;
    cand *h = hdb__realloc(hp->h, cap * sizeof *h);
    if (!h) {
      hdb__free_mem(copy);
      if (rec) hdb_record_free(rec);
      return HDB_NOMEM;
    }
    hp->h = h;
    hp->cap = cap;
  }
  if (hp->n < hp->k) {
    hp->h[hp->n++] = c;
    sift_up(hp->h, hp->n - 1);
  } else {
    cand_free(&hp->h[0]);
    hp->h[0] = c;
    sift_down(hp->h, hp->n, 0);
  }
  return HDB_OK;
}

static void heap_free(heap *hp) {
  for (size_t i = 0; i < hp->n; i++) cand_free(&hp->h[i]);
  hdb__free_mem(hp->h);
}

/* The searched column: s->column, or the table's only vector column. */
static hdb_status search_column(const hdb__pg_table *t, const char *column, long *out,
                                hdb_error *err) {
  *out = -1;
  if (!t->schema) {
    if (column)
      return hdb__fail(err, HDB_NO_FIELD,
                       "table '%s' has no vector column '%s': it is schemaless, and vector "
                       "columns need a schema",
                       t->name, column);
    return hdb__fail(err, HDB_NO_FIELD,
                     "table '%s' has no vector column: it is schemaless, and vector columns "
                     "need a schema",
                     t->name);
  }
  if (!column) {
    int nv = 0;
    const hdb__column *col = hdb__schema_sole_vector(t->schema, &nv);
    if (nv == 0) return hdb__fail(err, HDB_NO_FIELD, "table '%s' has no vector column", t->name);
    if (!col)
      return hdb__fail(err, HDB_INVALID_ARGUMENT, "table '%s' has %d vector columns; name one",
                       t->name, nv);
    *out = col - t->schema->cols;
    return HDB_OK;
  }
  const hdb__column *col = hdb__schema_column(t->schema, column);
  if (!col) return hdb__fail(err, HDB_NO_FIELD, "table '%s' has no column '%s'", t->name, column);
  if (col->type != HDB_TYPE_VECTOR)
    return hdb__fail(err, HDB_NO_FIELD, "column '%s' of table '%s' is %s, not a vector column",
                     column, t->name, hdb_type_name(col->type));
  *out = col - t->schema->cols;
  return HDB_OK;
}

typedef struct client_ctx {
  heap *hp;
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
  if (heap_offer(x->hp, d, rec->id, rec) != HDB_OK)
    return hdb__fail(err, HDB_NOMEM, "out of memory searching");
  return HDB_OK;
}

/* Step 1 on the server: ids and distances of the k best. */
static hdb_status stream_vectors(hdb__pg_conn *c, PGconn *pg, const hdb__pg_table *t, long ci,
                                 const hdb__pg_where *w, const hdb__search *s, hdb_metric metric,
                                 heap *hp, hdb_error *err) {
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
        if (heap_offer(hp, d, PQgetvalue(res, 0, 0), NULL) != HDB_OK) {
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
static hdb_status fetch_hits(hdb__pg_conn *c, PGconn *pg, const hdb__pg_table *t, heap *hp,
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
  for (size_t i = 0; i < hp->n; i++) ids[i] = hp->h[i].id;
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
  heap hp = {0};
  hdb__rowbuf buf = {0};
  long ci;
  if ((st = search_column(&t, s->column, &ci, err)) != HDB_OK) goto done;
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
  hp.k = (size_t)s->k;
  hp.cap = hp.k < 256 ? hp.k : 256;
  hp.h = hdb__calloc(hp.cap, sizeof *hp.h);
  if (!hp.h) {
    st = hdb__fail(err, HDB_NOMEM, "out of memory searching '%s'", table);
    goto done;
  }
  if (w.client) {
    client_ctx x = {&hp, col, s, metric};
    st = hdb__pg_scan(pg, where_of(c), &t, s->filter, &w, NULL, client_row, &x, err);
    if (st != HDB_OK) goto done;
    qsort(hp.h, hp.n, sizeof *hp.h, cand_qsort);
    for (size_t i = 0; i < hp.n && st == HDB_OK; i++) {
      hdb_record *rec = hp.h[i].rec;
      rec->id = hp.h[i].id; /* give the id back */
      hp.h[i].id = NULL;
      hp.h[i].rec = NULL;
      hdb_record *pr = hdb__record_project(rec, s->fields, s->fields ? s->n_fields : 0);
      hdb_record_free(rec);
      if (!pr || hdb__rowbuf_push(&buf, pr, hp.h[i].d) != HDB_OK)
        st = hdb__fail(err, HDB_NOMEM, "out of memory searching '%s'", table);
    }
  } else {
    st = hdb__pg_atomic_begin(c, pg, "REPEATABLE READ READ ONLY", err);
    if (st != HDB_OK) goto done;
    st = stream_vectors(c, pg, &t, ci, &w, s, metric, &hp, err);
    if (st == HDB_OK) {
      qsort(hp.h, hp.n, sizeof *hp.h, cand_qsort);
      if (hp.n) st = fetch_hits(c, pg, &t, &hp, s, &buf, err);
    }
    st = hdb__pg_atomic_end(c, pg, st, err);
  }
  if (st == HDB_OK) st = hdb__rowbuf_cursor(&buf, out, err);
done:
  heap_free(&hp);
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

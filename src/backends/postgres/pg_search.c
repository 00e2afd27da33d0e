/*
 * pg_search.c - vector search over PostgreSQL rows.
 *
 * Every distance hanzo reports is computed here with core's kernels
 * (hdb__distance: l2 squared, cosine 1 - cos, dot -<a,b>), so results and
 * distances equal the memory backend's; the server only chooses which
 * rows to send. Three ways, by the column's storage (pg_schema.c) and the
 * search:
 *
 * A. pgvector column with an hnsw / ivfflat index of the search's metric,
 *    exact = 0: inside one transaction, SET LOCAL hnsw.ef_search (ef, at
 *    least k; pgvector caps it at 1000) or ivfflat.probes (nprobe), and
 *    iterative_scan = relaxed_order so a filtered scan keeps going until k
 *    rows pass; then SELECT id, v ... WHERE <filter> ORDER BY v <op> $q
 *    LIMIT k (refine * k with hdb_search.refine > 1, of which we keep the
 *    k best). The rows are re-ranked with our kernels (relaxed order and
 *    float32 server distances; no ", id" in the ORDER BY, which the index
 *    cannot provide: ties go by id in the re-rank). Approximate, as the
 *    index is. Should the
 *    index still return fewer than k rows (pgvector's max_scan_tuples),
 *    B answers instead, so k rows come back whenever k rows match.
 * B. pgvector column, exact (no index, exact = 1, or another metric),
 *    l2 or cosine: the server orders by its float32 distance and sends
 *    rows in pages (OFFSET/LIMIT, one snapshot, a total order: distance,
 *    id); we recompute each distance and keep the k best. pgvector's and
 *    our float32 sums each stay within g = 2 (dim + 8) 2^-24 of the exact
 *    value (relative for l2, a sum of non-negative terms; absolute for
 *    cosine, bounded by Cauchy-Schwarz), so once the last row sent has
 *    l2: d_server (1 - 2g) > our k-th distance / cosine: d_server - 2g >
 *    our k-th distance, no unsent row can enter and we stop. The answer is
 *    the exact one; the server computes O(rows matching) distances, the
 *    wire carries about k + 8 rows. Zero vectors: pgvector's cosine distance
 *    is NaN, ours 1; the ORDER BY maps NaN to 1.
 *    dot (no error bound without every row's norm) goes to C.
 * C. bytea / real[] columns (tables created without pgvector), and dot on
 *    pgvector columns: the streamed exact scan below, O(rows matching the
 *    filter) per query, with O(k) memory:
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
 * A and B also end with step 2.
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

/* The SQL common to A and B: "FROM t WHERE v IS NOT NULL AND (filter)"
 * (placeholders $1..: the filter's parameters). */
static void vector_from_where(const hdb__pg_table *t, const hdb__column *col,
                              const hdb__pg_where *w, hdb__sql_buf *b) {
  hdb__sql_buf_append(b, " FROM ");
  hdb__sql_buf_ident(b, t->pgname);
  hdb__sql_buf_append(b, " WHERE ");
  hdb__sql_buf_ident(b, col->name);
  hdb__sql_buf_append(b, " IS NOT NULL AND (");
  hdb__sql_buf_append(b, w->sql.s);
  hdb__sql_buf_append(b, ")");
}

/* Its parameters: the filter's, then the query vector (pgvector's binary
 * form, sent untyped: the SQL casts it, $n::vector); returns n. */
static int vector_params(const hdb__pg_where *w, const hdb__search *s, hdb__pg_params *p) {
  hdb__pg_params_from_sql(p, &w->params);
  int qn = hdb__pg_params_next(p);
  hdb_value qv;
  memset(&qv, 0, sizeof qv);
  qv.type = HDB_TYPE_VECTOR;
  qv.as.vector.data = (float *)s->vector; /* read only: encoded into an owned copy */
  qv.as.vector.dim = s->dim;
  hdb__pg_param_value(p, HDB__PGK_VEC_PGV, &qv);
  return qn;
}

/* Offers every row of res (id, vector) with our distance. */
static hdb_status offer_rows(const hdb__pg_table *t, long ci, const PGresult *res,
                             const hdb__search *s, hdb_metric metric, float *scratch,
                             hdb__topk *hp, hdb_error *err) {
  int n = PQntuples(res);
  for (int r = 0; r < n; r++) {
    const float *vec;
    if (hdb__pg_vector_view(res, r, 1, t->kinds[ci], s->dim, scratch, &vec) != 0)
      return hdb__fail(err, HDB_CORRUPT, "table '%s': row '%s': column '%s' is not a vector of %u",
                       t->name, PQgetvalue(res, r, 0), t->schema->cols[ci].name, (unsigned)s->dim);
    double d = hdb__distance(metric, s->vector, vec, s->dim);
    if (offer_id(hp, d, PQgetvalue(res, r, 0)) != HDB_OK)
      return hdb__fail(err, HDB_NOMEM, "out of memory searching '%s'", t->name);
  }
  return HDB_OK;
}

/* A: the k nearest by the pgvector index (approximate), re-ranked. */
static hdb_status index_vectors(hdb__pg_conn *c, PGconn *pg, const hdb__pg_table *t, long ci,
                                const hdb__pg_where *w, const hdb__search *s, hdb_metric metric,
                                const hdb__pg_vindex *vi, hdb__topk *hp, hdb_error *err) {
  const hdb__column *col = &t->schema->cols[ci];
  hdb__sql_buf b = {0};
  hdb__pg_params p = {0};
  float *scratch = hdb__malloc((size_t)s->dim * sizeof *scratch);
  hdb_status st;
  char set[256];
  int qn;
  if (!scratch) return hdb__fail(err, HDB_NOMEM, "out of memory searching '%s'", t->name);
  /* refine: ask the index for refine * k candidates, keep our k best */
  long want = (long)s->k * (s->refine > 1 ? s->refine : 1);
  if (want > 100000) want = 100000;
  if (want < s->k) want = s->k;
  if (vi->hnsw) {
    int ef = s->ef > 0 ? s->ef : 40; /* pgvector's default */
    if (ef < want) ef = want > 1000 ? 1000 : (int)want;
    if (ef > 1000) ef = 1000; /* pgvector's maximum; iterative scan goes on past it */
    snprintf(set, sizeof set, "SET LOCAL hnsw.ef_search = %d%s", ef,
             c->pgvector_iterative ? "; SET LOCAL hnsw.iterative_scan = relaxed_order" : "");
  } else {
    int lists = vi->lists > 0 ? vi->lists : 1;
    int probes = s->nprobe > 0 ? s->nprobe : (int)ceil(sqrt((double)lists));
    if (probes > lists) probes = lists;
    snprintf(set, sizeof set, "SET LOCAL ivfflat.probes = %d%s", probes,
             c->pgvector_iterative ? "; SET LOCAL ivfflat.iterative_scan = relaxed_order" : "");
  }
  /* Integers we computed: no value of the caller enters the text. */
  if ((st = hdb__pg_run(pg, where_of(c), set, NULL, "setting the index search options", err)) != HDB_OK)
    goto done;
  hdb__sql_buf_append(&b, "SELECT \"id\", ");
  hdb__sql_buf_ident(&b, col->name);
  vector_from_where(t, col, w, &b);
  qn = vector_params(w, s, &p);
  hdb__sql_buf_append(&b, " ORDER BY ");
  hdb__sql_buf_ident(&b, col->name);
  /* no ", id": the index cannot give that order; the re-rank breaks ties */
  hdb__sql_buf_appendf(&b, " %s $%d::vector LIMIT %ld", hdb__pg_vector_op(metric), qn, want);
  if ((st = hdb__sql_buf_status(&b, err)) != HDB_OK) goto done;
  if (p.oom) {
    st = hdb__fail(err, HDB_NOMEM, "out of memory searching '%s'", t->name);
    goto done;
  }
  PGresult *res = hdb__pg_exec(pg, b.s, &p);
  st = hdb__pg_check(pg, res, PGRES_TUPLES_OK, where_of(c), "searching the pgvector index", err);
  if (st != HDB_OK) goto done;
  st = offer_rows(t, ci, res, s, metric, scratch, hp, err);
  PQclear(res);
  /* Inside the caller's transaction SET LOCAL would outlive this call. */
  if (st == HDB_OK && c->in_txn)
    st = hdb__pg_run(pg, where_of(c),
                     vi->hnsw ? (c->pgvector_iterative ? "SET LOCAL hnsw.ef_search TO DEFAULT; "
                                                         "SET LOCAL hnsw.iterative_scan TO DEFAULT"
                                                       : "SET LOCAL hnsw.ef_search TO DEFAULT")
                              : (c->pgvector_iterative ? "SET LOCAL ivfflat.probes TO DEFAULT; "
                                                         "SET LOCAL ivfflat.iterative_scan TO DEFAULT"
                                                       : "SET LOCAL ivfflat.probes TO DEFAULT"),
                     NULL, "resetting the index search options", err);
done:
  hdb__free_mem(scratch);
  hdb__sql_buf_free(&b);
  hdb__pg_params_free(&p);
  return st;
}

/* B: exact, ordered by the server, re-ranked here (see the top). */
static hdb_status ordered_vectors(hdb__pg_conn *c, PGconn *pg, const hdb__pg_table *t, long ci,
                                  const hdb__pg_where *w, const hdb__search *s, hdb_metric metric,
                                  hdb__topk *hp, hdb_error *err) {
  const hdb__column *col = &t->schema->cols[ci];
  hdb__sql_buf b = {0};
  hdb__pg_params p = {0};
  float *scratch = hdb__malloc((size_t)s->dim * sizeof *scratch);
  hdb_status st;
  int qn;
  if (!scratch) return hdb__fail(err, HDB_NOMEM, "out of memory searching '%s'", t->name);
  const double g = 2.0 * ((double)s->dim + 8.0) / 16777216.0;
  int cos = metric == HDB_METRIC_COSINE;
  /* OFFSET 0 keeps the subquery whole, so the planner cannot turn the
   * ORDER BY into a scan of an approximate index. */
  qn = hdb__pg_params_next(&p) + (int)w->params.n;
  hdb__sql_buf_append(&b, "SELECT \"id\", v, d FROM (SELECT \"id\", ");
  hdb__sql_buf_ident(&b, col->name);
  hdb__sql_buf_append(&b, " AS v, ");
  hdb__sql_buf_ident(&b, col->name);
  hdb__sql_buf_appendf(&b, " %s $%d::vector AS d", hdb__pg_vector_op(metric), qn);
  vector_from_where(t, col, w, &b);
  /* A total order (distance, then the unique id) in one snapshot: pages
   * by OFFSET neither skip nor repeat rows. */
  hdb__sql_buf_appendf(&b, " OFFSET 0) s ORDER BY %s, \"id\" OFFSET $%d LIMIT $%d",
                       cos ? "CASE WHEN d = 'NaN'::float8 THEN 1 ELSE d END" : "d", qn + 1, qn + 2);
  if ((st = hdb__sql_buf_status(&b, err)) != HDB_OK) goto done;
  /* The first page: k and a margin, usually enough for the bound (the
   * error bound is a few 1e-5 relative; neighbours' distances differ by
   * more unless they tie); each further page is 8 times larger. */
  int64_t off = 0, lim = (int64_t)s->k + (s->k / 4 < 8 ? 8 : s->k / 4);
  for (;;) {
    hdb__pg_params_free(&p);
    memset(&p, 0, sizeof p);
    if (vector_params(w, s, &p) != qn) {
      st = hdb__fail(err, HDB_ERROR, "searching '%s': parameter numbering", t->name);
      goto done;
    }
    hdb__pg_param_int8(&p, off);
    hdb__pg_param_int8(&p, lim);
    if (p.oom) {
      st = hdb__fail(err, HDB_NOMEM, "out of memory searching '%s'", t->name);
      goto done;
    }
    PGresult *res = hdb__pg_exec(pg, b.s, &p);
    st = hdb__pg_check(pg, res, PGRES_TUPLES_OK, where_of(c), "searching", err);
    if (st != HDB_OK) goto done;
    int n = PQntuples(res);
    st = offer_rows(t, ci, res, s, metric, scratch, hp, err);
    double last = NAN;
    if (n > 0 && PQgetlength(res, n - 1, 2) == 8) {
      const unsigned char *x = (const unsigned char *)PQgetvalue(res, n - 1, 2);
      uint64_t bits = 0;
      for (int k = 0; k < 8; k++) bits = bits << 8 | x[k];
      memcpy(&last, &bits, 8);
    }
    PQclear(res);
    if (cos && isnan(last)) last = 1.0; /* a zero vector: its ORDER BY key */
    if (st != HDB_OK || n < lim) break; /* every matching row was seen */
    if (hp->n == hp->k && !isnan(last)) {
      double kth = hp->h[0].d; /* the worst kept: the heap's root */
      double lower = cos ? last - 2 * g : last * last * (1 - 2 * g);
      if (lower > kth) break;
    }
    off += lim;
    lim = lim * 8 > 1000000 ? 1000000 : lim * 8;
  }
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
    hdb__pg_vindex vi;
    memset(&vi, 0, sizeof vi);
    int pgv = t.kinds[ci] == HDB__PGK_VEC_PGV;
    if (pgv && !s->exact && (st = hdb__pg_vindex_load(pg, where_of(c), &t, col, &vi, err)) != HDB_OK)
      goto done;
    st = hdb__pg_atomic_begin(c, pg, "REPEATABLE READ READ ONLY", err);
    if (st != HDB_OK) goto done;
    if (pgv && vi.present && vi.metric == metric) {
      st = index_vectors(c, pg, &t, ci, &w, s, metric, &vi, &hp, err);
      if (st == HDB_OK && hp.n < hp.k) { /* short: B or C answers */
        heap_free(&hp, 0);
        hdb__topk_init(&hp, (size_t)s->k);
        vi.present = 0;
      }
    } else {
      vi.present = 0;
    }
    if (st == HDB_OK && !vi.present) {
      if (pgv && metric != HDB_METRIC_DOT) st = ordered_vectors(c, pg, &t, ci, &w, s, metric, &hp, err);
      else st = stream_vectors(c, pg, &t, ci, &w, s, metric, &hp, err);
    }
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

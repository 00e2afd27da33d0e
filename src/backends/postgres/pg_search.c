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
 *    exact = 0: hnsw.ef_search (ef, at least k; pgvector caps it at 1000)
 *    or ivfflat.probes (nprobe), and iterative_scan = relaxed_order so a
 *    filtered scan keeps going until k rows pass; then one statement,
 *    SELECT id, <projection>, v, <stamp> ... WHERE <filter> ORDER BY
 *    v <op> $q LIMIT k (refine * k with hdb_search.refine > 1, of which we
 *    keep the k best): the rows come back with their ranking. The
 *    settings: outside a transaction session-level SETs, issued only when
 *    the connection's last values (hdb__pg_session, pg_pool.c) differ, so
 *    a steady workload sends none; the pool's connections run nothing
 *    but our statements, and no other statement of ours orders by a
 *    distance operator, so they affect nothing else. Inside the handle's
 *    transaction SET LOCAL and back TO DEFAULT after (a session SET there
 *    would be undone by a rollback behind the record's back). The rows
 *    are re-ranked with our kernels (relaxed order and float32 server
 *    distances; no ", id" in the ORDER BY, which the index cannot
 *    provide: ties go by id in the re-rank). Approximate, as the index
 *    is. Should the index still return fewer than k rows (pgvector's
 *    max_scan_tuples), B answers instead, so k rows come back whenever k
 *    rows match.
 * B. pgvector column, exact (no index, exact = 1, or another metric),
 *    l2 or cosine: the server orders by its float32 distance and sends
 *    rows (projected, with the vector) in pages (OFFSET/LIMIT, a total
 *    order: distance, id). The first page is one statement; should the
 *    bound need more pages, the search starts again inside one REPEATABLE
 *    READ transaction so that all pages see one snapshot. We recompute
 *    each distance and keep the k best. pgvector's and our float32 sums
 *    each stay within g = 2 (dim + 8) 2^-24 of the exact value (relative for l2, a sum of non-negative terms; absolute for
 *    cosine, bounded by Cauchy-Schwarz), so once the last row sent has
 *    l2: d_server (1 - 2g) > our k-th distance / cosine: d_server - 2g >
 *    our k-th distance, no unsent row can enter and we stop. The answer is
 *    the exact one; the server computes O(rows matching) distances, the
 *    wire carries about k + 8 rows. The sort key is an expression of the
 *    distance ((v <-> q) + 0; cosine: pgvector's NaN for a zero vector
 *    mapped to 1, ours), so no approximate index can produce the order.
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
 *
 * The table's metadata comes from the pool's cache (pg_cache.c) outside
 * transactions; every result is checked against it (table OID, column
 * types, the catalog stamp), and a stale or failed attempt reads the
 * catalog again and runs once more. A search is then one round trip in
 * the common case (A, or B's first page), through a statement prepared
 * once per connection (hdb__pg_exec_cached).
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

/* One search attempt against one version of the table's metadata. */
typedef struct sctx {
  hdb__pg_conn *c;
  PGconn *pg;
  const hdb__pg_table *t;
  const hdb__search *s;
  long ci;           /* the searched column */
  hdb_metric metric;
  const hdb__pg_where *w;
  size_t *cols;      /* the projection's schema columns (hdb__pg_select_list) */
  size_t ncols;
  int vcol;          /* A and B: the result column holding the vector (the
                        projection's own when it has it, else one after) */
  int next;          /* A and B: the first result column after those */
  float *scratch;    /* dim floats */
  int stale;         /* a result did not match the metadata (pg_cache.c) */
  hdb__pg_session *ss; /* the connection's state; NULL inside a transaction */
} sctx;

/* Candidates live in core's bounded heap (core/topk.h). Payloads: in C's
 * server path the owned id (the item's id points at it); in A, B and the
 * client path the owned record (the item's id is the record's). */
static void drop_payload(void *p, int recs) {
  if (recs) hdb_record_free(p);
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

static void heap_free(hdb__topk *hp, int recs) {
  for (size_t i = 0; i < hp->n; i++) drop_payload(hp->h[i].p, recs);
  hdb__topk_free(hp);
}

/* Checks a result against the metadata it was built from. */
static hdb_status check_current(sctx *x, const PGresult *res, const size_t *cols, size_t ncols,
                                int stamp_col, hdb_error *err) {
  if (hdb__pg_result_current(x->t, res, cols, ncols, stamp_col)) return HDB_OK;
  x->stale = 1;
  return hdb__fail(err, HDB_CONFLICT, "table '%s' changed while it was searched", x->t->name);
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

/* C, step 1 on the server: ids and distances of the k best. */
static hdb_status stream_vectors(sctx *x, hdb__topk *hp, hdb_error *err) {
  const hdb__pg_table *t = x->t;
  const hdb__search *s = x->s;
  const hdb__column *col = &t->schema->cols[x->ci];
  size_t vcols[1] = {(size_t)x->ci};
  hdb__sql_buf b = {0};
  hdb__pg_params p = {0};
  hdb_status st = HDB_OK;
  PGconn *pg = x->pg;
  hdb__sql_buf_append(&b, "SELECT \"id\", ");
  hdb__sql_buf_ident(&b, col->name);
  hdb__sql_buf_append(&b, " FROM ");
  hdb__sql_buf_ident(&b, t->pgname);
  hdb__sql_buf_append(&b, " WHERE ");
  hdb__sql_buf_ident(&b, col->name);
  hdb__sql_buf_append(&b, " IS NOT NULL AND (");
  hdb__sql_buf_append(&b, x->w->sql.s);
  hdb__sql_buf_append(&b, ")");
  hdb__pg_params_from_sql(&p, &x->w->params);
  if ((st = hdb__sql_buf_status(&b, err)) != HDB_OK) goto done;
  if (p.oom) {
    st = hdb__fail(err, HDB_NOMEM, "out of memory searching '%s'", t->name);
    goto done;
  }
  if (!PQsendQueryParams(pg, b.s, p.n, p.types, p.values, p.lengths, p.formats, 1)) {
    st = hdb__pg_fail_result(pg, NULL, where_of(x->c), "searching", err);
    goto done;
  }
  PQsetSingleRowMode(pg);
  PGresult *res;
  int failed = 0, checked = 0;
  while ((res = PQgetResult(pg)) != NULL) {
    ExecStatusType rs = PQresultStatus(res);
    if (!failed && !checked && (rs == PGRES_SINGLE_TUPLE || rs == PGRES_TUPLES_OK)) {
      checked = 1;
      if ((st = check_current(x, res, vcols, 1, -1, err)) != HDB_OK) failed = 1;
    }
    if (!failed && rs == PGRES_SINGLE_TUPLE) {
      const float *vec;
      if (hdb__pg_vector_view(res, 0, 1, t->kinds[x->ci], s->dim, x->scratch, &vec) != 0) {
        st = hdb__fail(err, HDB_CORRUPT, "table '%s': row '%s': column '%s' is not a vector of %u",
                       t->name, PQgetvalue(res, 0, 0), col->name, (unsigned)s->dim);
        failed = 1;
      } else {
        double d = hdb__distance(x->metric, s->vector, vec, s->dim);
        if (offer_id(hp, d, PQgetvalue(res, 0, 0)) != HDB_OK) {
          st = hdb__fail(err, HDB_NOMEM, "out of memory searching '%s'", t->name);
          failed = 1;
        }
      }
    } else if (!failed && rs != PGRES_TUPLES_OK && rs != PGRES_SINGLE_TUPLE) {
      st = hdb__pg_fail_result(pg, res, where_of(x->c), "searching", err);
      failed = 1;
    }
    PQclear(res);
  }
  if (!failed && hdb__pg_broken(pg)) st = hdb__pg_fail_result(pg, NULL, where_of(x->c), "searching", err);
done:
  hdb__sql_buf_free(&b);
  hdb__pg_params_free(&p);
  return st;
}

/* The SELECT list of A and B: "id", the projection (x->cols, resolved
 * once), then the vector unless the projection has it; sets x->vcol and
 * x->next. */
static void ranked_list(sctx *x, hdb__sql_buf *b) {
  hdb__sql_buf_append(b, "\"id\"");
  x->vcol = -1;
  for (size_t i = 0; i < x->ncols; i++) {
    hdb__sql_buf_append(b, ", ");
    hdb__sql_buf_ident(b, x->t->schema->cols[x->cols[i]].name);
    if (x->cols[i] == (size_t)x->ci) x->vcol = (int)i + 1;
  }
  x->next = (int)x->ncols + 1;
  if (x->vcol < 0) {
    hdb__sql_buf_append(b, ", ");
    hdb__sql_buf_ident(b, x->t->schema->cols[x->ci].name);
    x->vcol = x->next++;
  }
}

/* " FROM t WHERE v IS NOT NULL AND (filter)" (placeholders $1..: the
 * filter's parameters). */
static void vector_from_where(sctx *x, hdb__sql_buf *b) {
  hdb__sql_buf_append(b, " FROM ");
  hdb__sql_buf_ident(b, x->t->pgname);
  hdb__sql_buf_append(b, " WHERE ");
  hdb__sql_buf_ident(b, x->t->schema->cols[x->ci].name);
  hdb__sql_buf_append(b, " IS NOT NULL AND (");
  hdb__sql_buf_append(b, x->w->sql.s);
  hdb__sql_buf_append(b, ")");
}

/* The parameters of A and B: the filter's, the query vector (pgvector's
 * binary form, untyped: the SQL casts it, $q::vector), the table's name
 * for the stamp ($q + 1); returns q. */
static int vector_params(sctx *x, hdb__pg_params *p) {
  hdb__pg_params_from_sql(p, &x->w->params);
  int qn = hdb__pg_params_next(p);
  hdb_value qv;
  memset(&qv, 0, sizeof qv);
  qv.type = HDB_TYPE_VECTOR;
  qv.as.vector.data = (float *)x->s->vector; /* read only: encoded into an owned copy */
  qv.as.vector.dim = x->s->dim;
  hdb__pg_param_value(p, HDB__PGK_VEC_PGV, &qv);
  hdb__pg_param_text(p, x->t->name, strlen(x->t->name));
  return qn;
}

/* Offers every row of res (laid out by ranked_list: the vector in column
 * vcol) with our distance; a row that enters the heap is decoded then. */
static hdb_status offer_rows(sctx *x, const PGresult *res, int vcol, hdb__topk *hp,
                             hdb_error *err) {
  const hdb__pg_table *t = x->t;
  int n = PQntuples(res);
  for (int r = 0; r < n; r++) {
    const float *vec;
    if (hdb__pg_vector_view(res, r, vcol, t->kinds[x->ci], x->s->dim, x->scratch, &vec) != 0)
      return hdb__fail(err, HDB_CORRUPT, "table '%s': row '%s': column '%s' is not a vector of %u",
                       t->name, PQgetvalue(res, r, 0), t->schema->cols[x->ci].name,
                       (unsigned)x->s->dim);
    double d = hdb__distance(x->metric, x->s->vector, vec, x->s->dim);
    if (!hdb__topk_would_keep(hp, d, PQgetvalue(res, r, 0))) continue;
    hdb_record *rec = NULL;
    hdb_status st = hdb__pg_row_record(t, res, r, x->cols, x->ncols, &rec, err);
    if (st != HDB_OK) return st;
    void *dropped;
    if (hdb__topk_offer(hp, d, rec->id, rec, &dropped) != HDB_OK) {
      hdb_record_free(dropped);
      return hdb__fail(err, HDB_NOMEM, "out of memory searching '%s'", t->name);
    }
    hdb_record_free(dropped);
  }
  return HDB_OK;
}

/* Sets an integer pgvector option for A (name: "hnsw.ef_search"): a
 * session-level SET when *have (the connection's last value, NULL inside
 * a transaction) differs, else SET LOCAL. Integers we computed: no value
 * of the caller enters the text. */
static hdb_status set_option(sctx *x, int *have, const char *name, int v, hdb_error *err) {
  char sql[128];
  if (have && *have == v) return HDB_OK;
  if (have) {
    if (v > 0) snprintf(sql, sizeof sql, "SET %s = %d", name, v);
    else snprintf(sql, sizeof sql, "SET %s = relaxed_order", name); /* iterative_scan */
  } else {
    if (v > 0) snprintf(sql, sizeof sql, "SET LOCAL %s = %d", name, v);
    else snprintf(sql, sizeof sql, "SET LOCAL %s = relaxed_order", name);
  }
  if (have) *have = -2; /* unknown until the server says */
  hdb_status st = hdb__pg_run(x->pg, where_of(x->c), sql, NULL, "setting the index search options", err);
  if (st == HDB_OK && have) *have = v;
  return st;
}

/* A: the k nearest by the pgvector index (approximate), re-ranked; the
 * heap's payloads are the rows. */
static hdb_status index_vectors(sctx *x, const hdb__pg_vindex *vi, hdb__topk *hp,
                                hdb_error *err) {
  hdb__pg_conn *c = x->c;
  const hdb__search *s = x->s;
  hdb__sql_buf b = {0};
  hdb__pg_params p = {0};
  hdb_status st;
  int qn;
  /* Outside a transaction: session-level, remembered per connection
   * (hdb__pg_session); inside one, SET LOCAL. */
  hdb__pg_session *ss = x->ss;
  /* refine: ask the index for refine * k candidates, keep our k best */
  long want = (long)s->k * (s->refine > 1 ? s->refine : 1);
  if (want > 100000) want = 100000;
  if (want < s->k) want = s->k;
  if (vi->hnsw) {
    int ef = s->ef > 0 ? s->ef : 40; /* pgvector's default */
    if (ef < want) ef = want > 1000 ? 1000 : (int)want;
    if (ef > 1000) ef = 1000; /* pgvector's maximum; iterative scan goes on past it */
    st = set_option(x, ss ? &ss->hnsw_ef : NULL, "hnsw.ef_search", ef, err);
    if (st == HDB_OK && c->pgvector_iterative)
      st = set_option(x, ss ? &ss->hnsw_iter : NULL, "hnsw.iterative_scan", -1, err);
  } else {
    int lists = vi->lists > 0 ? vi->lists : 1;
    int probes = s->nprobe > 0 ? s->nprobe : (int)ceil(sqrt((double)lists));
    if (probes > lists) probes = lists;
    st = set_option(x, ss ? &ss->ivf_probes : NULL, "ivfflat.probes", probes, err);
    if (st == HDB_OK && c->pgvector_iterative)
      st = set_option(x, ss ? &ss->ivf_iter : NULL, "ivfflat.iterative_scan", -1, err);
  }
  if (st != HDB_OK) goto done;
  hdb__sql_buf_append(&b, "SELECT ");
  ranked_list(x, &b);
  qn = vector_params(x, &p);
  hdb__sql_buf_appendf(&b, ", " HDB__PG_STAMP_SQL, qn + 1);
  vector_from_where(x, &b);
  hdb__sql_buf_append(&b, " ORDER BY ");
  hdb__sql_buf_ident(&b, x->t->schema->cols[x->ci].name);
  /* no ", id": the index cannot give that order; the re-rank breaks ties */
  hdb__sql_buf_appendf(&b, " %s $%d::vector LIMIT %ld", hdb__pg_vector_op(x->metric), qn, want);
  if ((st = hdb__sql_buf_status(&b, err)) != HDB_OK) goto done;
  if (p.oom) {
    st = hdb__fail(err, HDB_NOMEM, "out of memory searching '%s'", x->t->name);
    goto done;
  }
  PGresult *res = hdb__pg_exec_cached(x->pg, ss, b.s, &p);
  st = hdb__pg_check(x->pg, res, PGRES_TUPLES_OK, where_of(c), "searching the pgvector index", err);
  if (st != HDB_OK) goto done;
  st = check_current(x, res, x->cols, x->ncols, x->next, err);
  if (st == HDB_OK) st = offer_rows(x, res, x->vcol, hp, err);
  PQclear(res);
  /* Inside the caller's transaction SET LOCAL would outlive this call. */
  if (st == HDB_OK && !ss)
    st = hdb__pg_run(x->pg, where_of(c),
                     vi->hnsw ? (c->pgvector_iterative ? "SET LOCAL hnsw.ef_search TO DEFAULT; "
                                                         "SET LOCAL hnsw.iterative_scan TO DEFAULT"
                                                       : "SET LOCAL hnsw.ef_search TO DEFAULT")
                              : (c->pgvector_iterative ? "SET LOCAL ivfflat.probes TO DEFAULT; "
                                                         "SET LOCAL ivfflat.iterative_scan TO DEFAULT"
                                                       : "SET LOCAL ivfflat.probes TO DEFAULT"),
                     NULL, "resetting the index search options", err);
done:
  hdb__sql_buf_free(&b);
  hdb__pg_params_free(&p);
  return st;
}

/* B: exact, ordered by the server, re-ranked here (see the top); the
 * heap's payloads are the rows. */
static hdb_status ordered_vectors(sctx *x, hdb__topk *hp, hdb_error *err) {
  hdb__pg_conn *c = x->c;
  const hdb__search *s = x->s;
  hdb__sql_buf b = {0};
  hdb__pg_params p = {0};
  hdb_status st;
  int qn, began = 0;
  const double g = 2.0 * ((double)s->dim + 8.0) / 16777216.0;
  int cos = x->metric == HDB_METRIC_COSINE;
  /* The sort key is an expression over the distance, not the distance
   * itself, so no approximate index can produce the order (an index
   * scan answers only ORDER BY v <op> q): l2 adds 0 (exact in float8),
   * cosine maps pgvector's NaN (a zero vector) to 1, our distance for it.
   * It is output as "hdb$d" ('$' cannot occur in a hanzo name, so it
   * cannot collide with a column) and ORDER BY names that output. */
  qn = hdb__pg_params_next(&p) + (int)x->w->params.n;
  hdb__sql_buf_append(&b, "SELECT ");
  ranked_list(x, &b);
  hdb__sql_buf_append(&b, cos ? ", coalesce(nullif(" : ", (");
  hdb__sql_buf_ident(&b, x->t->schema->cols[x->ci].name);
  hdb__sql_buf_appendf(&b, " %s $%d::vector%s AS \"hdb$d\", " HDB__PG_STAMP_SQL,
                       hdb__pg_vector_op(x->metric), qn, cos ? ", 'NaN'::float8), 1)" : ") + 0",
                       qn + 1);
  vector_from_where(x, &b);
  /* A total order (distance, then the unique id) in one snapshot: pages
   * by OFFSET neither skip nor repeat rows. */
  hdb__sql_buf_appendf(&b, " ORDER BY \"hdb$d\", \"id\" OFFSET $%d LIMIT $%d", qn + 2, qn + 3);
  if ((st = hdb__sql_buf_status(&b, err)) != HDB_OK) goto done;
  int vcol = x->vcol, dcol = x->next;
  /* The first page: k and a margin, usually enough for the bound (the
   * error bound is a few 1e-5 relative; neighbours' distances differ by
   * more unless they tie); each further page is 8 times larger. */
  const int64_t first = (int64_t)s->k + (s->k / 4 < 8 ? 8 : s->k / 4);
  int64_t off = 0, lim = first;
  for (;;) {
    hdb__pg_params_free(&p);
    memset(&p, 0, sizeof p);
    if (vector_params(x, &p) != qn) {
      st = hdb__fail(err, HDB_ERROR, "searching '%s': parameter numbering", x->t->name);
      goto done;
    }
    hdb__pg_param_int8(&p, off);
    hdb__pg_param_int8(&p, lim);
    if (p.oom) {
      st = hdb__fail(err, HDB_NOMEM, "out of memory searching '%s'", x->t->name);
      goto done;
    }
    /* (inside the restarted transaction: unnamed, hdb__pg_exec_cached) */
    PGresult *res = hdb__pg_exec_cached(x->pg, began ? NULL : x->ss, b.s, &p);
    st = hdb__pg_check(x->pg, res, PGRES_TUPLES_OK, where_of(c), "searching", err);
    if (st != HDB_OK) goto done;
    int n = PQntuples(res);
    st = check_current(x, res, x->cols, x->ncols, dcol + 1, err);
    if (st == HDB_OK) st = offer_rows(x, res, vcol, hp, err);
    double last = NAN; /* the last row's sort key (cosine: NaN already mapped to 1) */
    if (n > 0 && PQgetlength(res, n - 1, dcol) == 8) {
      const unsigned char *v = (const unsigned char *)PQgetvalue(res, n - 1, dcol);
      uint64_t bits = 0;
      for (int k = 0; k < 8; k++) bits = bits << 8 | v[k];
      memcpy(&last, &bits, 8);
    }
    PQclear(res);

    if (st != HDB_OK || n < lim) break; /* every matching row was seen */
    if (hp->n == hp->k && !isnan(last)) {
      double kth = hp->h[0].d; /* the worst kept: the heap's root */
      double lower = cos ? last - 2 * g : last * last * (1 - 2 * g);
      if (lower > kth) break;
    }
    if (!c->in_txn && !began) {
      /* More pages: they and the first must share a snapshot. Start
       * again from the first page inside one read-only transaction. */
      st = hdb__pg_atomic_begin(c, x->pg, "REPEATABLE READ READ ONLY", err);
      if (st != HDB_OK) goto done;
      began = 1;
      heap_free(hp, 1);
      hdb__topk_init(hp, (size_t)s->k);
      off = 0;
      lim = first;
      continue;
    }
    off += lim;
    lim = lim * 8 > 1000000 ? 1000000 : lim * 8;
  }
done:
  if (began) st = hdb__pg_atomic_end(c, x->pg, st, err);
  hdb__sql_buf_free(&b);
  hdb__pg_params_free(&p);
  return st;
}

/* C, step 2: the rows of the kept candidates, projected, in order. */
static hdb_status fetch_hits(sctx *x, hdb__topk *hp, hdb__rowbuf *buf, hdb_error *err) {
  const hdb__pg_table *t = x->t;
  const hdb__search *s = x->s;
  hdb__sql_buf b = {0};
  hdb__pg_params p = {0};
  PGresult *res = NULL;
  char **ids = NULL;
  hdb_status st = HDB_OK;
  hdb__sql_buf_append(&b, "SELECT \"id\"");
  for (size_t i = 0; i < x->ncols; i++) {
    hdb__sql_buf_append(&b, ", ");
    hdb__sql_buf_ident(&b, t->schema->cols[x->cols[i]].name);
  }
  hdb__sql_buf_appendf(&b, ", " HDB__PG_STAMP_SQL " FROM ", 2);
  hdb__sql_buf_ident(&b, t->pgname);
  hdb__sql_buf_append(&b, " WHERE \"id\" = ANY($1)");
  if ((st = hdb__sql_buf_status(&b, err)) != HDB_OK) goto done;
  ids = hdb__malloc((hp->n ? hp->n : 1) * sizeof *ids);
  if (!ids) goto nomem;
  for (size_t i = 0; i < hp->n; i++) ids[i] = (char *)hp->h[i].id;
  hdb__pg_param_text_array(&p, (const char *const *)ids, hp->n);
  hdb__pg_param_text(&p, t->name, strlen(t->name)); /* $2: the stamp's */
  if (p.oom) goto nomem;
  res = hdb__pg_exec(x->pg, b.s, &p);
  st = hdb__pg_check(x->pg, res, PGRES_TUPLES_OK, where_of(x->c), "reading search results", err);
  if (st != HDB_OK) {
    res = NULL;
    goto done;
  }
  if ((st = check_current(x, res, x->cols, x->ncols, (int)x->ncols + 1, err)) != HDB_OK) goto done;
  int n = PQntuples(res);
  for (size_t i = 0; i < hp->n && st == HDB_OK; i++) {
    for (int r = 0; r < n; r++) {
      if (strcmp(PQgetvalue(res, r, 0), hp->h[i].id) != 0) continue;
      hdb_record *rec = NULL;
      st = hdb__pg_row_record(t, res, r, x->cols, x->ncols, &rec, err);
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
  hdb__sql_buf_free(&b);
  hdb__pg_params_free(&p);
  return st;
}

/* One attempt with the metadata e; *stale when a result showed that e is
 * out of date (or, for client-side filters, when e came from the cache:
 * those scans decode rows without the check, so they need fresh metadata). */
static hdb_status search_with(hdb__pg_conn *c, PGconn *pg, const hdb__pg_tentry *e,
                              int cached, const hdb__search *s, hdb_cursor **out, int *stale,
                              hdb_error *err) {
  const hdb__pg_table *t = &e->t;
  const char *table = t->name;
  hdb__pg_where w;
  memset(&w, 0, sizeof w);
  hdb__topk hp;
  hdb__topk_init(&hp, (size_t)s->k);
  int recs = 1; /* what the heap's payloads are: rows, or ids (C) */
  hdb__rowbuf buf = {0};
  sctx x;
  memset(&x, 0, sizeof x);
  hdb__sql_buf sl = {0};
  hdb_status st;
  const hdb__column *scol = NULL;
  if ((st = hdb__schema_search_column(t->schema, t->name, s->column, &scol, err)) != HDB_OK) goto done;
  long ci = scol - t->schema->cols;
  const hdb__column *col = &t->schema->cols[ci];
  if (s->dim != col->dim) {
    st = hdb__fail(err, HDB_DIMENSION, "query vector has %u components; column '%s' of table '%s' has %u",
                   (unsigned)s->dim, col->name, table, (unsigned)col->dim);
    goto done;
  }
  if ((st = hdb__pg_where_build(t, s->filter, &w, err)) != HDB_OK) goto done;
  for (size_t i = 0; s->fields && i < s->n_fields; i++) {
    char what[48];
    snprintf(what, sizeof what, "projected field %zu", i);
    if ((st = hdb__pg_check_field(t, s->fields[i], 1, 0, what, err)) != HDB_OK) goto done;
  }
  hdb_metric metric = s->metric == HDB_METRIC_DEFAULT ? col->metric : s->metric;
  if (w.client) {
    if (cached) {
      *stale = 1;
      st = hdb__fail(err, HDB_CONFLICT, "searching '%s': reading the catalog", table);
      goto done;
    }
    client_ctx cx = {&hp, col, s, metric};
    st = hdb__pg_scan(pg, where_of(c), t, s->filter, &w, NULL, client_row, &cx, err);
    if (st != HDB_OK) goto done;
    hdb__topk_finish(&hp);
    for (size_t i = 0; i < hp.n && st == HDB_OK; i++) {
      hdb_record *pr = hdb__record_project(hp.h[i].p, s->fields, s->fields ? s->n_fields : 0);
      if (!pr || hdb__rowbuf_push(&buf, pr, hp.h[i].d) != HDB_OK)
        st = hdb__fail(err, HDB_NOMEM, "out of memory searching '%s'", table);
    }
  } else {
    x.c = c;
    x.pg = pg;
    x.ss = c->in_txn ? NULL : hdb__pg_pool_session(c->pool, pg);
    x.t = t;
    x.s = s;
    x.ci = ci;
    x.metric = metric;
    x.w = &w;
    x.scratch = hdb__malloc((size_t)s->dim * sizeof *x.scratch);
    if (!x.scratch) {
      st = hdb__fail(err, HDB_NOMEM, "out of memory searching '%s'", table);
      goto done;
    }
    /* the projection: its schema columns (the select list text is unused) */
    st = hdb__pg_select_list(t, s->fields, s->fields ? s->n_fields : 0, &sl, &x.cols, &x.ncols, err);
    if (st != HDB_OK) goto done;
    int pgv = t->kinds[ci] == HDB__PGK_VEC_PGV;
    const hdb__pg_vindex *vi = pgv && !s->exact && e->vix && e->vix[ci].present &&
                                       e->vix[ci].metric == metric
                                   ? &e->vix[ci]
                                   : NULL;
    if (vi) {
      st = index_vectors(&x, vi, &hp, err);
      if (st == HDB_OK && hp.n < hp.k) { /* short: B or C answers */
        heap_free(&hp, 1);
        hdb__topk_init(&hp, (size_t)s->k);
        vi = NULL;
      }
    }
    if (st == HDB_OK && !vi) {
      if (pgv && metric != HDB_METRIC_DOT) {
        st = ordered_vectors(&x, &hp, err);
      } else {
        /* C: two statements, one snapshot */
        recs = 0;
        st = hdb__pg_atomic_begin(c, pg, "REPEATABLE READ READ ONLY", err);
        if (st != HDB_OK) goto done;
        st = stream_vectors(&x, &hp, err);
        if (st == HDB_OK) {
          hdb__topk_finish(&hp);
          if (hp.n) st = fetch_hits(&x, &hp, &buf, err);
        }
        st = hdb__pg_atomic_end(c, pg, st, err);
      }
    }
    if (st == HDB_OK && recs) {
      hdb__topk_finish(&hp);
      for (size_t i = 0; i < hp.n && st == HDB_OK; i++) {
        hdb_record *rec = hp.h[i].p;
        hp.h[i].p = NULL; /* the buffer owns it now */
        if (hdb__rowbuf_push(&buf, rec, hp.h[i].d) != HDB_OK)
          st = hdb__fail(err, HDB_NOMEM, "out of memory searching '%s'", table);
      }
    }
    if (x.stale) *stale = 1;
  }
  if (st == HDB_OK) st = hdb__rowbuf_cursor(&buf, out, err);
done:
  heap_free(&hp, recs);
  hdb__rowbuf_free(&buf);
  hdb__pg_where_free(&w);
  hdb__sql_buf_free(&sl);
  hdb__free_mem(x.cols);
  hdb__free_mem(x.scratch);
  return st;
}

/* Whether a failed attempt with cached metadata is worth a second one
 * with the catalog read again: not when the server or the client itself
 * is the problem. */
static int retryable(hdb_status st, PGconn *pg) {
  if (st == HDB_UNAVAILABLE || st == HDB_NOMEM || st == HDB_BUSY || st == HDB_AUTH) return 0;
  return !hdb__pg_broken(pg) && PQtransactionStatus(pg) == PQTRANS_IDLE;
}

static hdb_status search_in(hdb__pg_conn *c, PGconn *pg, const char *table, const hdb__search *s,
                            hdb_cursor **out, hdb_error *err) {
  hdb__pg_tcache *tc = hdb__pg_pool_tcache(c->pool);
  for (int attempt = 0;; attempt++) {
    hdb__pg_tentry *e;
    int cached = 0, stale = 0;
    /* Inside a transaction: the catalog as the transaction sees it, not
     * stored (pg_cache.c rule 4). */
    hdb_status st = hdb__pg_tcache_get(tc, pg, where_of(c), table, !c->in_txn && attempt == 0,
                                       !c->in_txn, &e, &cached, err);
    if (st != HDB_OK) return st;
    st = search_with(c, pg, e, cached, s, out, &stale, err);
    hdb__pg_tcache_put(tc, e);
    if (st == HDB_OK) return st;
    if (cached && (stale || retryable(st, pg))) {
      hdb__pg_tcache_forget(tc, table);
      continue; /* once: the next attempt reads the catalog */
    }
    if (stale)
      st = hdb__fail(err, HDB_CONFLICT,
                     "table '%s' was changed by another handle (dropped, recreated or "
                     "reindexed) while it was searched; try again",
                     table);
    return st;
  }
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

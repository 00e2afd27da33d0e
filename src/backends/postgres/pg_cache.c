/*
 * pg_cache.c - the table cache of the postgresql:// backend: per pool,
 * each table's catalog row (name, server name, schema, storage) and its
 * vector indexes, so that a search or get is one statement instead of
 * three.
 *
 * Rules (README "Table cache"):
 *  1. An entry is what one read of the catalog returned, with two
 *     fingerprints: relid, the OID of the server table, and stamp, the
 *     xmin of the table's _hanzo_tables row. Every DDL through hanzo gives
 *     the row a new xmin in its own transaction (create and drop replace
 *     the row, index create and drop UPDATE it: pg_schema.c), so a stamp
 *     names one committed version of the metadata.
 *  2. An entry is used only outside transactions, and every statement
 *     built from it carries its check: column 0 must come from relid
 *     (PQftable, free: the server sends the origin of every column in the
 *     row description, rows or not), each column must have the type OID
 *     the entry expects (PQftype), and where the statement returns rows
 *     it also returns HDB__PG_STAMP_SQL, the row's xmin as the same
 *     statement saw it. A statement that returns no rows from the right
 *     table with the right column types answered correctly whatever the
 *     stamp (the index metadata only chooses a plan).
 *  3. A failed check, or any error of a statement built from a cached
 *     entry (a dropped table or column, a type mismatch), drops the entry;
 *     the caller reads the catalog again and retries the call once; the
 *     retry's answer (or error) is the call's. Only reads are retried.
 *  4. Inside a transaction the catalog is read in the transaction, as
 *     before (its snapshot decides), and nothing is stored.
 * Entries are immutable and refcounted: a call holds its entry while it
 * runs; dropping it from the cache frees it with the last reference.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

#include "core/alloc.h"
#include "core/err.h"
#include "core/schema.h"

/* More tables than this: unreferenced entries are dropped (a bound on
 * memory for programs that make many short-lived tables). */
#define TCACHE_MAX 512

struct hdb__pg_tcache {
  pthread_mutex_t mu;
  hdb__pg_tentry *head;
  size_t n;
};

static void entry_free(hdb__pg_tentry *e) {
  if (!e) return;
  hdb__pg_table_free(&e->t);
  hdb__free_mem(e->vix);
  hdb__free_mem(e);
}

hdb__pg_tcache *hdb__pg_tcache_new(void) {
  hdb__pg_tcache *tc = hdb__calloc(1, sizeof *tc);
  if (tc) pthread_mutex_init(&tc->mu, NULL);
  return tc;
}

void hdb__pg_tcache_free(hdb__pg_tcache *tc) {
  if (!tc) return;
  /* The pool is freed with its last handle: no call holds an entry. */
  for (hdb__pg_tentry *e = tc->head, *next; e; e = next) {
    next = e->next;
    entry_free(e);
  }
  pthread_mutex_destroy(&tc->mu);
  hdb__free_mem(tc);
}

/* Unlinks e (caller holds mu); freed now when nobody holds it. */
static void unlink_entry(hdb__pg_tcache *tc, hdb__pg_tentry *e) {
  for (hdb__pg_tentry **pp = &tc->head; *pp; pp = &(*pp)->next)
    if (*pp == e) {
      *pp = e->next;
      tc->n--;
      break;
    }
  e->dead = 1;
  if (e->refs == 0) entry_free(e);
}

void hdb__pg_tcache_forget(hdb__pg_tcache *tc, const char *table) {
  if (!tc) return;
  pthread_mutex_lock(&tc->mu);
  for (hdb__pg_tentry *e = tc->head; e; e = e->next)
    if (strcmp(e->t.name, table) == 0) {
      unlink_entry(tc, e);
      break;
    }
  pthread_mutex_unlock(&tc->mu);
}

void hdb__pg_tcache_put(hdb__pg_tcache *tc, hdb__pg_tentry *e) {
  if (!e) return;
  if (!tc) {
    entry_free(e);
    return;
  }
  pthread_mutex_lock(&tc->mu);
  if (--e->refs == 0 && e->dead) entry_free(e);
  pthread_mutex_unlock(&tc->mu);
}

/* Reads the vector indexes (hnsw, ivfflat) of every column of e->t. */
static hdb_status load_vindexes(PGconn *pg, const char *where, hdb__pg_tentry *e,
                                hdb_error *err) {
  const hdb_schema *sc = e->t.schema;
  if (!sc) return HDB_OK;
  e->vix = hdb__calloc(sc->n ? sc->n : 1, sizeof *e->vix);
  if (!e->vix) return hdb__fail(err, HDB_NOMEM, "out of memory reading table '%s'", e->t.name);
  int any = 0;
  for (size_t i = 0; i < sc->n; i++) any |= e->t.kinds[i] == HDB__PGK_VEC_PGV;
  if (!any) return HDB_OK; /* only pgvector columns have such indexes */
  hdb__pg_params p = {0};
  hdb__pg_param_text(&p, e->t.name, strlen(e->t.name));
  PGresult *res = p.oom ? NULL
                        : hdb__pg_exec(pg, "SELECT col, type, (params::json->>'nlist')::int4 FROM "
                                           "_hanzo_indexes WHERE tbl = $1 AND "
                                           "pgindex IS NOT NULL AND type IN ('hnsw', 'ivf_pq')",
                                       &p);
  hdb__pg_params_free(&p);
  hdb_status st = hdb__pg_check(pg, res, PGRES_TUPLES_OK, where, "reading the index catalog", err);
  if (st != HDB_OK) return st;
  for (int r = 0; r < PQntuples(res); r++) {
    const hdb__column *col = hdb__schema_column(sc, PQgetvalue(res, r, 0));
    if (!col) continue;
    hdb__pg_vindex *vi = &e->vix[col - sc->cols];
    vi->present = 1;
    vi->hnsw = strcmp(PQgetvalue(res, r, 1), "hnsw") == 0;
    vi->metric = col->metric == HDB_METRIC_DEFAULT ? HDB_METRIC_L2 : col->metric;
    if (!vi->hnsw && !PQgetisnull(res, r, 2) && PQgetlength(res, r, 2) == 4) {
      const unsigned char *v = (const unsigned char *)PQgetvalue(res, r, 2);
      vi->lists = (int)((uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3]);
    }
  }
  PQclear(res);
  return HDB_OK;
}

hdb_status hdb__pg_tcache_get(hdb__pg_tcache *tc, PGconn *pg, const char *where,
                              const char *table, int use_cache, int store,
                              hdb__pg_tentry **out, int *cached, hdb_error *err) {
  *out = NULL;
  *cached = 0;
  if (use_cache && tc) {
    pthread_mutex_lock(&tc->mu);
    for (hdb__pg_tentry *e = tc->head; e; e = e->next)
      if (strcmp(e->t.name, table) == 0) {
        e->refs++;
        *out = e;
        break;
      }
    pthread_mutex_unlock(&tc->mu);
    if (*out) {
      *cached = 1;
      return HDB_OK;
    }
  }
  hdb__pg_tentry *e = hdb__calloc(1, sizeof *e);
  if (!e) return hdb__fail(err, HDB_NOMEM, "out of memory reading table '%s'", table);
  hdb_status st = hdb__pg_table_load(pg, where, table, &e->t, err);
  if (st == HDB_OK) st = load_vindexes(pg, where, e, err);
  if (st != HDB_OK) {
    entry_free(e);
    return st;
  }
  e->refs = 1;
  if (store && tc) {
    pthread_mutex_lock(&tc->mu);
    /* Replace whatever is there: ours was read last (a stale one is
     * caught by its stamp anyway). */
    for (hdb__pg_tentry *o = tc->head; o; o = o->next)
      if (strcmp(o->t.name, table) == 0) {
        unlink_entry(tc, o);
        break;
      }
    if (tc->n >= TCACHE_MAX) {
      for (hdb__pg_tentry *o = tc->head, *next; o; o = next) {
        next = o->next;
        if (o->refs == 0) unlink_entry(tc, o);
      }
    }
    e->next = tc->head;
    tc->head = e;
    tc->n++;
    pthread_mutex_unlock(&tc->mu);
  } else {
    e->dead = 1; /* private: freed by its put */
  }
  *out = e;
  return HDB_OK;
}

/* The type OID a column of this kind has on the server; 0 where it is
 * not fixed (pgvector's type has a per-database OID; its binary form is
 * checked by the decoder: length, dimension, zero word). */
static Oid kind_type_oid(hdb__pg_kind k) {
  switch (k) {
  case HDB__PGK_BOOL: return 16;
  case HDB__PGK_INT8:
  case HDB__PGK_TS_INT8: return 20;
  case HDB__PGK_FLOAT8: return 701;
  case HDB__PGK_TEXT: return 25;
  case HDB__PGK_BYTEA:
  case HDB__PGK_VEC_BYTEA: return 17;
  case HDB__PGK_TSTZ: return 1184;
  case HDB__PGK_TS: return 1114;
  case HDB__PGK_JSONB: return 3802;
  case HDB__PGK_JSON: return 114;
  case HDB__PGK_VEC_F4ARR: return 1021;
  case HDB__PGK_VEC_PGV: return 0;
  }
  return 0;
}

int hdb__pg_result_current(const hdb__pg_table *t, const PGresult *res, const size_t *cols,
                           size_t ncols, int stamp_col) {
  if (t->relid && PQftable(res, 0) != t->relid) return 0;
  if (PQftype(res, 0) != 25) return 0; /* "id" TEXT */
  for (size_t i = 0; t->schema && i < ncols; i++) {
    Oid want = kind_type_oid(t->kinds[cols[i]]);
    Oid got = PQftype(res, (int)i + 1);
    if (want ? got != want : (got == 17 || got == 1021)) return 0;
  }
  if (stamp_col >= 0 && PQntuples(res) > 0) {
    if (PQgetisnull(res, 0, stamp_col) || PQgetlength(res, 0, stamp_col) != 8) return 0;
    const unsigned char *x = (const unsigned char *)PQgetvalue(res, 0, stamp_col);
    uint64_t v = 0;
    for (int k = 0; k < 8; k++) v = v << 8 | x[k];
    if ((int64_t)v != t->stamp) return 0;
  }
  return 1;
}

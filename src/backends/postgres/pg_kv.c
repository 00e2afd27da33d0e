/*
 * pg_kv.c - key-value storage on PostgreSQL.
 *
 * One table for every namespace: _hanzo_kv(ns TEXT COLLATE "C", key BYTEA,
 * value BYTEA, PRIMARY KEY (ns, key)). BYTEA compares with memcmp and
 * then by length (shorter first), which is exactly the API's key order, so
 * ORDER BY key and the btree index give iterators their order.
 *
 * Batches apply in order inside one transaction (BEGIN/COMMIT, or the
 * call's savepoint inside hdb_begin): a put is INSERT ... ON CONFLICT
 * (ns, key) DO UPDATE, a delete a DELETE. A batch of exactly one delete of
 * an absent key is HDB_NOT_FOUND (what hdb_kv_delete needs); inside a
 * larger batch it does nothing, as in the memory backend. Inside a
 * REPEATABLE READ transaction a put to a key another handle changed since
 * the snapshot is a serialization failure: HDB_CONFLICT.
 *
 * Iterators: the range is normalised to [max(start, prefix),
 * min(end, successor(prefix))) and fetched whole at open by one statement,
 * which is the snapshot the API promises (later writes, the handle's own
 * included, are not seen). The result is held by the iterator, not the
 * connection; next walks it and seek is a binary search in it. Memory is
 * O(keys in range): iterate huge namespaces by ranges.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "pg.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/err.h"

static const char *where_of(const hdb__pg_conn *c) { return hdb__pg_pool_where(c->pool); }

static const char *ns_label(const char *ns) { return ns[0] ? ns : "(default)"; }

/* Printable form of a key for messages. */
static void key_repr(const void *key, size_t klen, char *buf, size_t cap) {
  const unsigned char *k = key;
  int printable = 1;
  for (size_t i = 0; i < klen; i++)
    if (!isprint(k[i])) printable = 0;
  size_t w = 0;
  if (printable) {
    w = (size_t)snprintf(buf, cap, "'%.*s'", (int)(klen > 60 ? 60 : klen), (const char *)k);
  } else {
    w = (size_t)snprintf(buf, cap, "0x");
    for (size_t i = 0; i < klen && w + 3 < cap && i < 30; i++)
      w += (size_t)snprintf(buf + w, cap - w, "%02x", k[i]);
  }
  if (klen > 60 && w + 4 < cap) snprintf(buf + w, cap - w, "...");
}

hdb_status hdb__pg_kv_get(void *conn, const char *ns, const void *key, size_t klen, void **val,
                          size_t *vlen, hdb_error *err) {
  hdb__pg_conn *c = conn;
  *val = NULL;
  if (vlen) *vlen = 0;
  PGconn *pg;
  hdb_status st = hdb__pg_enter(c, &pg, err);
  if (st != HDB_OK) return st;
  hdb__pg_params p = {0};
  hdb__pg_param_text(&p, ns, strlen(ns));
  hdb__pg_param_bytea(&p, key, klen);
  PGresult *res = p.oom ? NULL
                        : hdb__pg_exec(pg, "SELECT value FROM _hanzo_kv WHERE ns = $1 AND key = $2", &p);
  st = hdb__pg_check(pg, res, PGRES_TUPLES_OK, where_of(c), "reading a key", err);
  if (st == HDB_OK) {
    if (PQntuples(res) == 0) {
      char kr[80];
      key_repr(key, klen, kr, sizeof kr);
      st = hdb__fail(err, HDB_NOT_FOUND, "namespace %s has no key %s", ns_label(ns), kr);
    } else {
      size_t n = (size_t)PQgetlength(res, 0, 0);
      char *copy = hdb__malloc(n + 1);
      if (!copy) {
        st = hdb__fail(err, HDB_NOMEM, "out of memory reading a %zu-byte value", n);
      } else {
        memcpy(copy, PQgetvalue(res, 0, 0), n);
        copy[n] = '\0';
        *val = copy;
        if (vlen) *vlen = n;
      }
    }
    PQclear(res);
  }
  hdb__pg_params_free(&p);
  return hdb__pg_leave(c, pg, st, err);
}

static hdb_status apply_op(hdb__pg_conn *c, PGconn *pg, const hdb__kv_op *op, int single,
                           hdb_error *err) {
  hdb__pg_params p = {0};
  const char *ns = op->ns ? op->ns : "";
  hdb__pg_param_text(&p, ns, strlen(ns));
  hdb__pg_param_bytea(&p, op->key, op->klen);
  hdb_status st;
  if (op->is_delete) {
    PGresult *res = p.oom ? NULL
                          : hdb__pg_exec(pg, "DELETE FROM _hanzo_kv WHERE ns = $1 AND key = $2", &p);
    st = hdb__pg_check(pg, res, PGRES_COMMAND_OK, where_of(c), "deleting a key", err);
    if (st == HDB_OK) {
      if (single && strcmp(PQcmdTuples(res), "0") == 0) {
        char kr[80];
        key_repr(op->key, op->klen, kr, sizeof kr);
        st = hdb__fail(err, HDB_NOT_FOUND, "namespace %s has no key %s", ns_label(ns), kr);
      }
      PQclear(res);
    }
  } else {
    hdb__pg_param_bytea(&p, op->val, op->vlen);
    st = p.oom ? hdb__fail(err, HDB_NOMEM, "out of memory writing a key")
               : hdb__pg_run(pg, where_of(c),
                             "INSERT INTO _hanzo_kv (ns, key, value) VALUES ($1, $2, $3) "
                             "ON CONFLICT (ns, key) DO UPDATE SET value = EXCLUDED.value",
                             &p, "writing a key", err);
  }
  hdb__pg_params_free(&p);
  return st;
}

hdb_status hdb__pg_kv_write(void *conn, const hdb_kv_batch *batch, hdb_error *err) {
  hdb__pg_conn *c = conn;
  size_t n = batch ? batch->n : 0;
  if (n == 0) return HDB_OK;
  PGconn *pg;
  hdb_status st = hdb__pg_enter(c, &pg, err);
  if (st != HDB_OK) return st;
  if (n == 1) {
    st = apply_op(c, pg, &batch->ops[0], 1, err);
  } else {
    st = hdb__pg_atomic_begin(c, pg, NULL, err);
    for (size_t i = 0; i < n && st == HDB_OK; i++) {
      st = apply_op(c, pg, &batch->ops[i], 0, err);
      if (st != HDB_OK && err) hdb__err_prefix(err, "batch operation %zu", i);
    }
    st = hdb__pg_atomic_end(c, pg, st, err);
  }
  return hdb__pg_leave(c, pg, st, err);
}

/* ------------------------------------------------------------------ */
/* Iterators                                                           */
/* ------------------------------------------------------------------ */

typedef struct pg_iter {
  hdb_kv_iter base;
  PGresult *res; /* rows in iteration order */
  int n, pos;
  int reverse;
} pg_iter;

static hdb_status iter_next(hdb_kv_iter *base, const void **key, size_t *klen, const void **val,
                            size_t *vlen, hdb_error *err) {
  (void)err;
  pg_iter *it = (pg_iter *)base;
  if (it->pos >= it->n) return HDB_DONE;
  int r = it->pos++;
  *key = PQgetvalue(it->res, r, 0);
  *klen = (size_t)PQgetlength(it->res, r, 0);
  *val = PQgetvalue(it->res, r, 1);
  *vlen = (size_t)PQgetlength(it->res, r, 1);
  return HDB_OK;
}

static hdb_status iter_seek(hdb_kv_iter *base, const void *key, size_t klen, hdb_error *err) {
  (void)err;
  pg_iter *it = (pg_iter *)base;
  /* First row at or after key in iteration order. */
  int lo = 0, hi = it->n;
  while (lo < hi) {
    int mid = lo + (hi - lo) / 2;
    int cmp = hdb__key_compare(PQgetvalue(it->res, mid, 0), (size_t)PQgetlength(it->res, mid, 0),
                               key, klen);
    int before = it->reverse ? cmp > 0 : cmp < 0;
    if (before) lo = mid + 1;
    else hi = mid;
  }
  it->pos = lo;
  return HDB_OK;
}

static void iter_close(hdb_kv_iter *base) {
  pg_iter *it = (pg_iter *)base;
  PQclear(it->res);
  hdb__free_mem(it);
}

static const hdb__kv_iter_vtab iter_vtab = {iter_next, iter_seek, iter_close};

hdb_status hdb__pg_kv_iter(void *conn, const char *ns, const hdb_kv_range *range,
                           hdb_kv_iter **out, hdb_error *err) {
  hdb__pg_conn *c = conn;
  *out = NULL;
  /* Normalise: lo = max(start, prefix) inclusive, hi = min(end, succ(prefix)). */
  const void *lo = range->start;
  size_t lolen = range->start_len;
  const void *hi = range->end;
  size_t hilen = range->end_len;
  unsigned char *succ = NULL;
  size_t slen = 0;
  if (range->prefix && range->prefix_len) {
    if (!lo || hdb__key_compare(range->prefix, range->prefix_len, lo, lolen) > 0) {
      lo = range->prefix;
      lolen = range->prefix_len;
    }
    succ = hdb__memdup(range->prefix, range->prefix_len);
    if (!succ) return hdb__fail(err, HDB_NOMEM, "out of memory opening an iterator");
    slen = range->prefix_len;
    while (slen && succ[slen - 1] == 0xFF) slen--;
    if (slen) {
      succ[slen - 1]++;
      if (!hi || hdb__key_compare(succ, slen, hi, hilen) < 0) {
        hi = succ;
        hilen = slen;
      }
    }
  }
  PGconn *pg;
  hdb_status st = hdb__pg_enter(c, &pg, err);
  if (st != HDB_OK) {
    hdb__free_mem(succ);
    return st;
  }
  hdb__pg_params p = {0};
  char sql[200];
  int len = snprintf(sql, sizeof sql, "SELECT key, value FROM _hanzo_kv WHERE ns = $1");
  hdb__pg_param_text(&p, ns, strlen(ns));
  if (lo) {
    len += snprintf(sql + len, sizeof sql - (size_t)len, " AND key >= $%d", hdb__pg_params_next(&p));
    hdb__pg_param_bytea(&p, lo, lolen);
  }
  if (hi) {
    len += snprintf(sql + len, sizeof sql - (size_t)len, " AND key < $%d", hdb__pg_params_next(&p));
    hdb__pg_param_bytea(&p, hi, hilen);
  }
  snprintf(sql + len, sizeof sql - (size_t)len, " ORDER BY key%s", range->reverse ? " DESC" : "");
  PGresult *res = p.oom ? NULL : hdb__pg_exec(pg, sql, &p);
  st = hdb__pg_check(pg, res, PGRES_TUPLES_OK, where_of(c), "reading keys", err);
  if (st == HDB_OK) {
    pg_iter *it = hdb__calloc(1, sizeof *it);
    if (!it) {
      PQclear(res);
      st = hdb__fail(err, HDB_NOMEM, "out of memory opening an iterator");
    } else {
      hdb__kv_iter_init(&it->base, &iter_vtab);
      it->res = res;
      it->n = PQntuples(res);
      it->reverse = range->reverse != 0;
      *out = &it->base;
    }
  }
  hdb__pg_params_free(&p);
  hdb__free_mem(succ);
  st = hdb__pg_leave(c, pg, st, err);
  if (st != HDB_OK && *out) {
    hdb_kv_iter_free(*out);
    *out = NULL;
  }
  return st;
}

/*
 * duck_kv.c - key-value namespaces on duckdb://: one table
 * _hanzo_kv(ns VARCHAR, key BLOB, value BLOB, PRIMARY KEY (ns, key)).
 *
 * Order: DuckDB compares BLOBs byte by byte as unsigned values, a shorter
 * blob that is a prefix of a longer one first: exactly hdb__key_compare's
 * memcmp-then-length (checked by tests/duckdb/test_duck_kv.c on random
 * binary keys with 0x00 and 0xff bytes on both sides of DuckDB's 12-byte
 * inline limit). So range bounds and ORDER BY run in DuckDB.
 *
 * Batches: every operation is checked first; then one DuckDB transaction
 * (the user's or our own) applies them in order with two prepared
 * statements, INSERT OR REPLACE and DELETE. A batch of exactly one delete
 * of an absent key is HDB_NOT_FOUND (what hdb_kv_delete sends); inside a
 * larger batch it is a no-op, as in the memory backend.
 *
 * Iterators materialize their range at open (one SELECT ... ORDER BY key):
 * a consistent snapshot that later writes, the handle's own included, do
 * not change, at the price of holding the range in memory. next and seek
 * are then array walks and binary searches. The range is normalised as in
 * the memory backend: lower bound max(start, prefix), upper bound
 * min(end, successor(prefix)).
 */
#include <stdio.h>
#include <string.h>

#include "duck.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/err.h"

static const char *ns_label(const char *ns) {
  return ns[0] ? ns : "(default)";
}

/* Printable, truncated key for messages. */
static void key_repr(const void *key, size_t klen, char *buf, size_t cap) {
  const unsigned char *k = key;
  size_t o = 0;
  buf[o++] = '\'';
  for (size_t i = 0; i < klen && o + 6 < cap; i++) {
    if (k[i] >= 0x20 && k[i] < 0x7f && k[i] != '\'' && k[i] != '\\')
      buf[o++] = (char)k[i];
    else
      o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", k[i]);
  }
  if (o + 2 > cap) o = cap - 2;
  buf[o++] = '\'';
  buf[o] = 0;
}

static hdb_value text_value(const char *s) {
  hdb_value v;
  memset(&v, 0, sizeof v);
  v.type = HDB_TYPE_TEXT;
  v.as.text.data = s;
  v.as.text.len = strlen(s);
  return v;
}

static hdb_value blob_value(const void *p, size_t n) {
  hdb_value v;
  memset(&v, 0, sizeof v);
  v.type = HDB_TYPE_BLOB;
  v.as.blob.data = p;
  v.as.blob.len = n;
  return v;
}

hdb_status hdb__duck_kv_get(void *conn, const char *ns, const void *key, size_t klen,
                            void **val, size_t *vlen, hdb_error *err) {
  hdb__duck_conn *c = conn;
  *val = NULL;
  if (vlen) *vlen = 0;
  hdb_status st = hdb__duck_enter(c, 0, err);
  if (st != HDB_OK) return st;
  hdb_value nv = text_value(ns), kv = blob_value(key, klen);
  const hdb_value *p[2] = {&nv, &kv};
  duckdb_result r;
  st = hdb__duck_run(c, "SELECT value FROM _hanzo_kv WHERE ns = ? AND key = ?", p, 2, &r, err,
                     "reading a key");
  if (st != HDB_OK) return st;
  duckdb_data_chunk ch = duckdb_fetch_chunk(r);
  if (!ch || duckdb_data_chunk_get_size(ch) == 0) {
    char kr[80];
    key_repr(key, klen, kr, sizeof kr);
    st = hdb__fail(err, HDB_NOT_FOUND, "namespace %s has no key %s", ns_label(ns), kr);
  } else {
    hdb__duck_colview v;
    hdb__duck_chunk_views(ch, &v, 1);
    hdb_value got;
    st = hdb__duck_cell(&v, 0, HDB_TYPE_BLOB, &got, "value", err);
    if (st == HDB_OK) {
      /* NUL-terminated beyond vlen, as the API promises. */
      char *copy = hdb__malloc(got.as.blob.len + 1);
      if (!copy) {
        st = hdb__fail(err, HDB_NOMEM, "out of memory reading a %zu-byte value", got.as.blob.len);
      } else {
        if (got.as.blob.len) memcpy(copy, got.as.blob.data, got.as.blob.len);
        copy[got.as.blob.len] = 0;
        *val = copy;
        if (vlen) *vlen = got.as.blob.len;
      }
    }
  }
  if (ch) duckdb_destroy_data_chunk(&ch);
  duckdb_destroy_result(&r);
  return st;
}

hdb_status hdb__duck_kv_write(void *conn, const hdb_kv_batch *batch, hdb_error *err) {
  hdb__duck_conn *c = conn;
  size_t n = batch ? batch->n : 0;
  for (size_t i = 0; i < n; i++) {
    const hdb__kv_op *op = &batch->ops[i];
    hdb_status rc = hdb__kv_check(op->ns, op->klen, op->is_delete ? 0 : op->vlen, err);
    if (rc != HDB_OK) {
      if (err) hdb__err_prefix(err, "batch operation %zu", i);
      return rc;
    }
  }
  hdb_status st = hdb__duck_enter(c, 1, err);
  if (st != HDB_OK || n == 0) return st;
  duckdb_prepared_statement put = NULL, del = NULL;
  int own = 0;
  if ((st = hdb__duck_atomic_begin(c, &own, err)) != HDB_OK) return st;
  if (duckdb_prepare(c->con, "INSERT OR REPLACE INTO _hanzo_kv VALUES (?, ?, ?)", &put) != DuckDBSuccess) {
    st = hdb__duck_stmt_failed(c, DUCKDB_ERROR_INVALID, duckdb_prepare_error(put), err, "writing keys");
    goto done;
  }
  if (duckdb_prepare(c->con, "DELETE FROM _hanzo_kv WHERE ns = ? AND key = ?", &del) != DuckDBSuccess) {
    st = hdb__duck_stmt_failed(c, DUCKDB_ERROR_INVALID, duckdb_prepare_error(del), err, "writing keys");
    goto done;
  }
  for (size_t i = 0; st == HDB_OK && i < n; i++) {
    const hdb__kv_op *op = &batch->ops[i];
    const char *ns = op->ns ? op->ns : "";
    hdb_value nv = text_value(ns), kv = blob_value(op->key, op->klen),
              vv = blob_value(op->val, op->is_delete ? 0 : op->vlen);
    duckdb_prepared_statement ps = op->is_delete ? del : put;
    duckdb_clear_bindings(ps);
    if ((st = hdb__duck_bind(ps, 1, &nv, err)) != HDB_OK ||
        (st = hdb__duck_bind(ps, 2, &kv, err)) != HDB_OK ||
        (!op->is_delete && (st = hdb__duck_bind(ps, 3, &vv, err)) != HDB_OK))
      break;
    duckdb_result r;
    if (duckdb_execute_prepared(ps, &r) != DuckDBSuccess) {
      st = hdb__duck_stmt_failed(c, duckdb_result_error_type(&r), duckdb_result_error(&r), err,
                                 "writing keys");
      duckdb_destroy_result(&r);
      break;
    }
    if (op->is_delete && n == 1 && duckdb_rows_changed(&r) == 0) {
      char kr[80];
      key_repr(op->key, op->klen, kr, sizeof kr);
      st = hdb__fail(err, HDB_NOT_FOUND, "namespace %s has no key %s", ns_label(ns), kr);
    }
    duckdb_destroy_result(&r);
  }
done:
  if (put) duckdb_destroy_prepare(&put);
  if (del) duckdb_destroy_prepare(&del);
  return hdb__duck_atomic_end(c, own, st, err);
}

/* ------------------------------------------------------------------ */
/* Iterators                                                           */
/* ------------------------------------------------------------------ */

typedef struct kv_ent {
  unsigned char *key, *val; /* owned; val NUL-terminated beyond vlen */
  size_t klen, vlen;
} kv_ent;

typedef struct duck_iter {
  hdb_kv_iter base; /* first: freed through it */
  kv_ent *e;        /* ascending by key */
  size_t n;
  size_t pos; /* next index to return; forward: pos < n; reverse: pos - 1 */
  int reverse;
} duck_iter;

static hdb_status iter_next(hdb_kv_iter *base, const void **key, size_t *klen, const void **val,
                            size_t *vlen, hdb_error *err) {
  duck_iter *it = (duck_iter *)base;
  const kv_ent *e;
  if (!it->reverse) {
    if (it->pos >= it->n) return HDB_DONE;
    e = &it->e[it->pos++];
  } else {
    if (it->pos == 0) return HDB_DONE;
    e = &it->e[--it->pos];
  }
  *key = e->key;
  *klen = e->klen;
  *val = e->val;
  *vlen = e->vlen;
  return HDB_OK;
}

/* First index whose key is >= key (> key when strict). */
static size_t lower(const duck_iter *it, const void *key, size_t klen, int strict) {
  size_t lo = 0, hi = it->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = hdb__key_compare(it->e[mid].key, it->e[mid].klen, key, klen);
    if (c < 0 || (strict && c == 0))
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static hdb_status iter_seek(hdb_kv_iter *base, const void *key, size_t klen, hdb_error *err) {
  duck_iter *it = (duck_iter *)base;
  /* Forward: the first key >= key; reverse: the last key <= key, i.e. the
   * entry before the first key > key. Keys outside the range are not in
   * the array, so clamping to the range is implicit. */
  it->pos = it->reverse ? lower(it, key, klen, 1) : lower(it, key, klen, 0);
  return HDB_OK;
}

static void iter_close(hdb_kv_iter *base) {
  duck_iter *it = (duck_iter *)base;
  for (size_t i = 0; i < it->n; i++) {
    hdb__free_mem(it->e[i].key);
    hdb__free_mem(it->e[i].val);
  }
  hdb__free_mem(it->e);
  hdb__free_mem(it);
}

static const hdb__kv_iter_vtab iter_vtab = {.next = iter_next, .seek = iter_seek, .close = iter_close};

static unsigned char *bytes_dup(const void *p, size_t n, int nul) {
  unsigned char *d = hdb__malloc(n + (nul ? 1 : 0) ? n + (nul ? 1 : 0) : 1);
  if (d && n) memcpy(d, p, n);
  if (d && nul) d[n] = 0;
  return d;
}

hdb_status hdb__duck_kv_iter(void *conn, const char *ns, const hdb_kv_range *range,
                             hdb_kv_iter **out, hdb_error *err) {
  hdb__duck_conn *c = conn;
  static const hdb_kv_range all = {0};
  const hdb_kv_range *r = range ? range : &all;
  *out = NULL;
  hdb_status st = hdb__duck_enter(c, 0, err);
  if (st != HDB_OK) return st;
  duck_iter *it = hdb__calloc(1, sizeof *it);
  unsigned char *succ = NULL;
  if (!it) return hdb__fail(err, HDB_NOMEM, "out of memory opening a key-value iterator");
  hdb__kv_iter_init(&it->base, &iter_vtab);
  it->reverse = r->reverse != 0;

  /* Bounds: lo = max(start, prefix) inclusive; hi = min(end, succ(prefix))
   * exclusive, where succ drops trailing 0xff bytes and increments the last
   * (none when the prefix is all 0xff). */
  const void *lo = r->start;
  size_t lolen = r->start ? r->start_len : 0;
  int has_prefix = r->prefix && r->prefix_len;
  if (has_prefix && (!lo || hdb__key_compare(r->prefix, r->prefix_len, lo, lolen) > 0)) {
    lo = r->prefix;
    lolen = r->prefix_len;
  }
  const void *hi = NULL;
  size_t hilen = 0;
  if (has_prefix) {
    size_t slen = r->prefix_len;
    const unsigned char *pp = r->prefix;
    while (slen && pp[slen - 1] == 0xff) slen--;
    if (slen) {
      if (!(succ = bytes_dup(r->prefix, slen, 0))) goto nomem;
      succ[slen - 1]++;
      hi = succ;
      hilen = slen;
    }
  }
  if (r->end && (!hi || hdb__key_compare(r->end, r->end_len, hi, hilen) < 0)) {
    hi = r->end;
    hilen = r->end_len;
  }

  {
    hdb_value nv = text_value(ns), lv = blob_value(lo, lolen), hv = blob_value(hi, hilen);
    const hdb_value *p[3] = {&nv, NULL, NULL};
    size_t np = 1;
    char sql[160] = "SELECT key, value FROM _hanzo_kv WHERE ns = ?";
    if (lo) {
      strcat(sql, " AND key >= ?");
      p[np++] = &lv;
    }
    if (hi) {
      strcat(sql, " AND key < ?");
      p[np++] = &hv;
    }
    strcat(sql, " ORDER BY key");
    duckdb_result res;
    if ((st = hdb__duck_run(c, sql, p, np, &res, err, "opening a key-value iterator")) != HDB_OK)
      goto fail;
    idx_t rows = duckdb_row_count(&res);
    it->e = hdb__calloc(rows ? rows : 1, sizeof *it->e);
    if (!it->e) {
      duckdb_destroy_result(&res);
      goto nomem;
    }
    for (;;) {
      duckdb_data_chunk ch = duckdb_fetch_chunk(res);
      if (!ch) break;
      idx_t n = duckdb_data_chunk_get_size(ch);
      hdb__duck_colview v[2];
      hdb__duck_chunk_views(ch, v, 2);
      for (idx_t i = 0; st == HDB_OK && i < n && it->n < rows; i++) {
        hdb_value k, val;
        st = hdb__duck_cell(&v[0], i, HDB_TYPE_BLOB, &k, "key", err);
        if (st == HDB_OK) st = hdb__duck_cell(&v[1], i, HDB_TYPE_BLOB, &val, "value", err);
        if (st != HDB_OK) break;
        if (has_prefix && (k.as.blob.len < r->prefix_len ||
                           memcmp(k.as.blob.data, r->prefix, r->prefix_len) != 0))
          continue;
        kv_ent *e = &it->e[it->n];
        e->key = bytes_dup(k.as.blob.data, k.as.blob.len, 0);
        e->val = bytes_dup(val.as.blob.data, val.as.blob.len, 1);
        e->klen = k.as.blob.len;
        e->vlen = val.as.blob.len;
        it->n++; /* counted even on failure so close frees both */
        if (!e->key || !e->val) st = HDB_NOMEM;
      }
      duckdb_destroy_data_chunk(&ch);
      if (st != HDB_OK) break;
    }
    duckdb_destroy_result(&res);
    if (st == HDB_NOMEM) goto nomem;
    if (st != HDB_OK) goto fail;
  }
  it->pos = it->reverse ? it->n : 0;
  hdb__free_mem(succ);
  *out = &it->base;
  return HDB_OK;
nomem:
  st = hdb__fail(err, HDB_NOMEM, "out of memory opening a key-value iterator");
fail:
  hdb__free_mem(succ);
  iter_close(&it->base);
  return st;
}

/*
 * sqlite_kv.c - key-value namespaces of the sqlite:// backend, in
 * _hanzo_kv(ns TEXT, key BLOB, value BLOB, PRIMARY KEY(ns, key)) WITHOUT
 * ROWID: the primary key's order is SQLite's BLOB order (memcmp, then
 * shorter first), which is hanzo-db's key order, so ranges are index
 * range scans.
 *
 * Batches run in one write (hdb__sq_write_begin/_end): all or nothing,
 * operations in order. As in the memory backend, deleting an absent key
 * is HDB_NOT_FOUND for a batch of exactly that one delete, a no-op inside
 * a larger batch.
 *
 * Iterators: the range is read into memory at open, in one statement (a
 * consistent snapshot, taken at the call as the API requires, that later
 * writes, the handle's own included, cannot disturb), and next/seek then
 * walk that array without touching SQLite. The price is memory
 * proportional to the range; a prefix or start/end bound keeps it small.
 * The range is normalised like the memory backend's: an inclusive lower
 * bound max(start, prefix), an exclusive upper bound min(end,
 * successor(prefix)), and the prefix test itself for an all-0xff prefix.
 */
#include <stdio.h>
#include <string.h>

#include "sqlite.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/err.h"

static const char *ns_label(const char *ns) { return ns[0] ? ns : "(default)"; }

/* Printable, truncated key for messages. */
static void key_repr(const void *key, size_t klen, char *buf, size_t cap) {
  const unsigned char *k = key;
  size_t o = 0;
  buf[o++] = '\'';
  for (size_t i = 0; i < klen && o + 6 < cap; i++) {
    if (k[i] >= 0x20 && k[i] < 0x7f && k[i] != '\'') buf[o++] = (char)k[i];
    else o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", k[i]);
  }
  if (o + 2 < cap) buf[o++] = '\'';
  buf[o < cap ? o : cap - 1] = '\0';
}

static int bind_key(sqlite3_stmt *st, int i, const void *key, size_t klen) {
  if (!klen) return sqlite3_bind_zeroblob(st, i, 0);
  return sqlite3_bind_blob64(st, i, key, klen, SQLITE_STATIC);
}

hdb_status hdb__sq_kv_get(void *conn, const char *ns, const void *key, size_t klen, void **val,
                          size_t *vlen, hdb_error *err) {
  hdb__sq_conn *c = conn;
  *val = NULL;
  if (vlen) *vlen = 0;
  sqlite3_stmt *st;
  hdb_status s = hdb__sq_prepare(c, "SELECT value FROM _hanzo_kv WHERE ns = ? AND key = ?", &st, err);
  if (s != HDB_OK) return s;
  sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
  bind_key(st, 2, key, klen);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    size_t n = (size_t)sqlite3_column_bytes(st, 0);
    const void *p = sqlite3_column_blob(st, 0);
    char *copy = hdb__malloc(n + 1); /* NUL-terminated past vlen */
    if (!copy) {
      s = hdb__fail(err, HDB_NOMEM, "out of memory reading a %zu-byte value", n);
    } else {
      if (n) memcpy(copy, p, n);
      copy[n] = '\0';
      *val = copy;
      if (vlen) *vlen = n;
    }
  } else if (rc == SQLITE_DONE) {
    char kr[80];
    key_repr(key, klen, kr, sizeof kr);
    s = hdb__fail(err, HDB_NOT_FOUND, "namespace %s has no key %s", ns_label(ns), kr);
  } else {
    s = hdb__sq_fail(c, rc, err, "reading a key of namespace %s", ns_label(ns));
  }
  hdb__sq_done(c, st);
  return s;
}

hdb_status hdb__sq_kv_write(void *conn, const hdb_kv_batch *batch, hdb_error *err) {
  hdb__sq_conn *c = conn;
  size_t n = batch ? batch->n : 0;
  for (size_t i = 0; i < n; i++) {
    const hdb__kv_op *op = &batch->ops[i];
    hdb_status rc = hdb__kv_check(op->ns, op->klen, op->is_delete ? 0 : op->vlen, err);
    if (rc != HDB_OK) {
      if (err) hdb__err_prefix(err, "batch operation %zu", i);
      return rc;
    }
  }
  if (n == 0) return HDB_OK;
  hdb_status s = hdb__sq_write_begin(c, err);
  if (s != HDB_OK) return s;
  for (size_t i = 0; s == HDB_OK && i < n; i++) {
    const hdb__kv_op *op = &batch->ops[i];
    const char *ns = op->ns ? op->ns : "";
    sqlite3_stmt *st;
    s = hdb__sq_prepare(c,
                        op->is_delete ? "DELETE FROM _hanzo_kv WHERE ns = ? AND key = ?"
                                      : "INSERT INTO _hanzo_kv(ns, key, value) VALUES(?, ?, ?) "
                                        "ON CONFLICT(ns, key) DO UPDATE SET value = excluded.value",
                        &st, err);
    if (s != HDB_OK) break;
    int rc = sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK) rc = bind_key(st, 2, op->key, op->klen);
    if (rc == SQLITE_OK && !op->is_delete)
      rc = op->vlen ? sqlite3_bind_blob64(st, 3, op->val, op->vlen, SQLITE_STATIC) : sqlite3_bind_zeroblob(st, 3, 0);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
      s = hdb__sq_fail(c, rc, err, "batch operation %zu on namespace %s", i, ns_label(ns));
    } else if (op->is_delete && n == 1 && sqlite3_changes(c->db) == 0) {
      char kr[80];
      key_repr(op->key, op->klen, kr, sizeof kr);
      s = hdb__fail(err, HDB_NOT_FOUND, "namespace %s has no key %s", ns_label(ns), kr);
    }
    hdb__sq_done(c, st);
  }
  return hdb__sq_write_end(c, s, err);
}

/* ------------------------------------------------------------------ */
/* Iterators                                                           */
/* ------------------------------------------------------------------ */

typedef struct kv_entry {
  unsigned char *key, *val; /* one allocation: key, then val NUL-terminated */
  size_t klen, vlen;
} kv_entry;

typedef struct sq_iter {
  hdb_kv_iter base; /* first: freed through it */
  kv_entry *e;      /* the snapshot, ascending */
  size_t n;
  int reverse;
  /* Next entry to return: pos in [0, n) walking up, or down when reverse;
   * "none left" is pos == n (forward) or pos == SIZE_MAX (reverse). */
  size_t pos;
} sq_iter;

static hdb_status iter_next(hdb_kv_iter *base, const void **key, size_t *klen, const void **val,
                            size_t *vlen, hdb_error *err) {
  (void)err;
  sq_iter *it = (sq_iter *)base;
  if (it->pos >= it->n) return HDB_DONE; /* SIZE_MAX too */
  const kv_entry *e = &it->e[it->pos];
  it->pos = it->reverse ? (it->pos ? it->pos - 1 : SIZE_MAX) : it->pos + 1;
  *key = e->key;
  *klen = e->klen;
  *val = e->val;
  *vlen = e->vlen;
  return HDB_OK;
}

/* First index whose key is >= key (n when none). */
static size_t lower_bound(const sq_iter *it, const void *key, size_t klen) {
  size_t lo = 0, hi = it->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (hdb__key_compare(it->e[mid].key, it->e[mid].klen, key, klen) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

static hdb_status iter_seek(hdb_kv_iter *base, const void *key, size_t klen, hdb_error *err) {
  (void)err;
  sq_iter *it = (sq_iter *)base;
  size_t lb = lower_bound(it, key, klen);
  if (!it->reverse) {
    it->pos = lb;
  } else {
    /* The last key <= key. */
    if (lb < it->n && hdb__key_compare(it->e[lb].key, it->e[lb].klen, key, klen) == 0) it->pos = lb;
    else it->pos = lb ? lb - 1 : SIZE_MAX;
  }
  return HDB_OK;
}

static void iter_close(hdb_kv_iter *base) {
  sq_iter *it = (sq_iter *)base;
  for (size_t i = 0; i < it->n; i++) hdb__free_mem(it->e[i].key);
  hdb__free_mem(it->e);
  hdb__free_mem(it);
}

static const hdb__kv_iter_vtab iter_vtab = {.next = iter_next, .seek = iter_seek, .close = iter_close};

hdb_status hdb__sq_kv_iter(void *conn, const char *ns, const hdb_kv_range *range, hdb_kv_iter **out,
                           hdb_error *err) {
  hdb__sq_conn *c = conn;
  static const hdb_kv_range all = {0};
  const hdb_kv_range *r = range ? range : &all;
  *out = NULL;
  /* Bounds: lo inclusive, hi exclusive (see the file comment). */
  const void *lo = r->start;
  size_t lolen = r->start_len;
  const unsigned char *prefix = r->prefix_len ? r->prefix : NULL;
  size_t plen = prefix ? r->prefix_len : 0;
  if (prefix && (!lo || hdb__key_compare(prefix, plen, lo, lolen) > 0)) {
    lo = prefix;
    lolen = plen;
  }
  unsigned char *succ = NULL;
  size_t slen = 0;
  if (prefix) {
    slen = plen;
    while (slen && prefix[slen - 1] == 0xff) slen--;
    if (slen) {
      succ = hdb__memdup(prefix, slen);
      if (!succ) return hdb__fail(err, HDB_NOMEM, "out of memory opening a key-value iterator");
      succ[slen - 1]++;
    }
  }
  const void *hi = succ;
  size_t hilen = slen;
  if (r->end && (!hi || hdb__key_compare(r->end, r->end_len, hi, hilen) < 0)) {
    hi = r->end;
    hilen = r->end_len;
  }
  const char *sql = lo && hi ? "SELECT key, value FROM _hanzo_kv WHERE ns = ?1 AND key >= ?2 AND key < ?3 ORDER BY key"
                    : lo     ? "SELECT key, value FROM _hanzo_kv WHERE ns = ?1 AND key >= ?2 ORDER BY key"
                    : hi     ? "SELECT key, value FROM _hanzo_kv WHERE ns = ?1 AND key < ?3 ORDER BY key"
                             : "SELECT key, value FROM _hanzo_kv WHERE ns = ?1 ORDER BY key";
  sq_iter *it = hdb__calloc(1, sizeof *it);
  sqlite3_stmt *st = NULL;
  hdb_status s = it ? hdb__sq_prepare(c, sql, &st, err) : hdb__fail(err, HDB_NOMEM, "out of memory opening a key-value iterator");
  if (s != HDB_OK) goto fail;
  hdb__kv_iter_init(&it->base, &iter_vtab);
  it->reverse = r->reverse != 0;
  int rc = sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
  if (rc == SQLITE_OK && lo) rc = bind_key(st, 2, lo, lolen);
  if (rc == SQLITE_OK && hi) rc = bind_key(st, 3, hi, hilen);
  size_t cap = 0;
  while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    rc = SQLITE_OK;
    size_t kl = (size_t)sqlite3_column_bytes(st, 0);
    const void *k = sqlite3_column_blob(st, 0);
    if (prefix && (kl < plen || memcmp(k, prefix, plen) != 0)) continue;
    size_t vl = (size_t)sqlite3_column_bytes(st, 1);
    const void *v = sqlite3_column_blob(st, 1);
    if (it->n == cap) {
      cap = cap ? 2 * cap : 64;
      kv_entry *ne = hdb__realloc(it->e, cap * sizeof *ne);
      if (!ne) goto nomem;
      it->e = ne;
    }
    unsigned char *mem = hdb__malloc(kl + vl + 1);
    if (!mem) goto nomem;
    if (kl) memcpy(mem, k, kl);
    if (vl) memcpy(mem + kl, v, vl);
    mem[kl + vl] = '\0';
    it->e[it->n++] = (kv_entry){mem, mem + kl, kl, vl};
  }
  if (rc != SQLITE_DONE) {
    s = hdb__sq_fail(c, rc, err, "reading namespace %s", ns_label(ns));
    goto fail;
  }
  hdb__sq_done(c, st);
  hdb__free_mem(succ);
  it->pos = it->reverse ? (it->n ? it->n - 1 : SIZE_MAX) : 0;
  *out = &it->base;
  return HDB_OK;
nomem:
  s = hdb__fail(err, HDB_NOMEM, "out of memory reading namespace %s", ns_label(ns));
fail:
  hdb__sq_done(c, st);
  hdb__free_mem(succ);
  if (it) iter_close(&it->base);
  return s;
}

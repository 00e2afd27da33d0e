/*
 * native_kv.c - the key-value API of native:// on engine/kv (the LSM
 * store in DIR/kv, opened on first use and shared by the process's
 * handles of DIR).
 *
 * Namespaces are a key prefix: namespace NS and key K are stored under
 * NS + 0x00 + K (kv.h). Namespace names never contain NUL (the api layer
 * validated them), so each namespace is one contiguous key range ordered
 * by K in byte order, and no namespace's range overlaps another's: "a"
 * keys all start "a\0", which sorts before "a/b\0" and "ab\0".
 *
 * Batches map to one engine batch (one WAL record: all or nothing). As in
 * the reference backend, a batch of exactly one delete of an absent key
 * (what hdb_kv_delete sends) fails with HDB_NOT_FOUND; the check and the
 * write happen under the environment's KV lock so no handle of this
 * process slips a write in between, after the process became the store's
 * writer, so no other process can either.
 *
 * Processes: the store is opened as a reader (engine/kv reader mode: no
 * lock, reads follow the writer's commits); the first write of a process
 * takes the store's lock, waiting up to the timeout (HDB_BUSY while
 * another process is the writer), and the process stays the writer until
 * its last handle of DIR closes. The mode is per process: the process's
 * handles of DIR share one engine handle (native.h, invariant 1).
 *
 * Iterators are engine iterators over the translated range (prefix
 * NS\0+P, start NS\0+S, end NS\0+E) with the snapshot the engine takes at
 * open; they return keys with the namespace prefix cut off, and hold a
 * reference to the environment so the store outlives them.
 */
#include <string.h>

#include "native.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/err.h"

static const char *ns_label(const char *ns) {
  return ns[0] ? ns : "(default)";
}

/* ns + '\0' + key; owned. */
static unsigned char *full_key(const char *ns, const void *key, size_t klen, size_t *len) {
  size_t nl = strlen(ns);
  unsigned char *k = hdb__malloc(nl + 1 + klen + 1);
  if (!k) return NULL;
  memcpy(k, ns, nl);
  k[nl] = 0;
  if (klen) memcpy(k + nl + 1, key, klen);
  *len = nl + 1 + klen;
  return k;
}

hdb_status hdb__nat_kv_get(void *conn, const char *ns, const void *key, size_t klen, void **val,
                           size_t *vlen, hdb_error *err) {
  nat_conn *c = conn;
  *val = NULL;
  if (vlen) *vlen = 0;
  hdb__lsm *kv;
  hdb_status rc = hdb__nat_kv(c, &kv, err);
  if (rc != HDB_OK) return rc;
  size_t fl;
  unsigned char *fk = full_key(ns, key, klen, &fl);
  if (!fk) return hdb__fail(err, HDB_NOMEM, "out of memory reading a key");
  size_t n = 0;
  rc = hdb__lsm_get(kv, NULL, fk, fl, val, &n, err);
  hdb__free_mem(fk);
  if (rc == HDB_NOT_FOUND) {
    char kr[80];
    hdb__key_repr(key, klen, kr, sizeof kr);
    return hdb__fail(err, HDB_NOT_FOUND, "namespace %s has no key %s", ns_label(ns), kr);
  }
  if (rc == HDB_OK && vlen) *vlen = n;
  return rc;
}

hdb_status hdb__nat_kv_write(void *conn, const hdb_kv_batch *batch, hdb_error *err) {
  nat_conn *c = conn;
  size_t n = batch ? batch->n : 0;
  for (size_t i = 0; i < n; i++) {
    const hdb__kv_op *op = &batch->ops[i];
    hdb_status rc = hdb__kv_check(op->ns, op->klen, op->is_delete ? 0 : op->vlen, err);
    if (rc != HDB_OK) {
      if (err) hdb__err_prefix(err, "batch operation %zu", i);
      return rc;
    }
  }
  hdb_status rc = hdb__nat_writable(c, err);
  if (rc != HDB_OK || n == 0) return rc;
  hdb__lsm *kv;
  rc = hdb__nat_kv(c, &kv, err);
  if (rc == HDB_OK) rc = hdb__lsm_become_writer(kv, err);
  if (rc != HDB_OK) return rc;
  hdb__lsm_batch b;
  hdb__lsm_batch_init(&b);
  pthread_mutex_lock(&c->env->kv_lock);
  for (size_t i = 0; rc == HDB_OK && i < n; i++) {
    const hdb__kv_op *op = &batch->ops[i];
    const char *ns = op->ns ? op->ns : "";
    size_t fl;
    unsigned char *fk = full_key(ns, op->key, op->klen, &fl);
    if (!fk) {
      rc = hdb__fail(err, HDB_NOMEM, "out of memory applying a batch of %zu key-value operations", n);
      break;
    }
    if (op->is_delete && n == 1) {
      void *v = NULL;
      size_t vl;
      rc = hdb__lsm_get(kv, NULL, fk, fl, &v, &vl, err);
      hdb__free_mem(v);
      if (rc == HDB_NOT_FOUND) {
        char kr[80];
        hdb__key_repr(op->key, op->klen, kr, sizeof kr);
        rc = hdb__fail(err, HDB_NOT_FOUND, "namespace %s has no key %s", ns_label(ns), kr);
      }
    }
    if (rc == HDB_OK)
      rc = op->is_delete ? hdb__lsm_batch_delete(&b, fk, fl, err)
                         : hdb__lsm_batch_put(&b, fk, fl, op->val, op->vlen, err);
    hdb__free_mem(fk);
  }
  if (rc == HDB_OK) rc = hdb__lsm_write(kv, &b, err);
  pthread_mutex_unlock(&c->env->kv_lock);
  hdb__lsm_batch_free(&b);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Iterators                                                           */
/* ------------------------------------------------------------------ */

typedef struct nat_iter {
  hdb_kv_iter base; /* first: freed through it */
  nat_env *env;     /* counted */
  hdb__lsm_iter *it;
  char *ns;         /* owned */
  size_t nslen;     /* bytes cut from every key: strlen(ns) + 1 */
} nat_iter;

static hdb_status iter_next(hdb_kv_iter *base, const void **key, size_t *klen, const void **val,
                            size_t *vlen, hdb_error *err) {
  nat_iter *it = (nat_iter *)base;
  const void *k;
  size_t kl;
  hdb_status rc = hdb__lsm_iter_next(it->it, &k, &kl, val, vlen, err);
  if (rc != HDB_OK) return rc;
  if (kl < it->nslen) return hdb__fail(err, HDB_CORRUPT, "key-value store: key outside its namespace");
  *key = (const unsigned char *)k + it->nslen;
  *klen = kl - it->nslen;
  return HDB_OK;
}

static hdb_status iter_seek(hdb_kv_iter *base, const void *key, size_t klen, hdb_error *err) {
  nat_iter *it = (nat_iter *)base;
  size_t fl;
  unsigned char *fk = full_key(it->ns, key, klen, &fl);
  if (!fk) return hdb__fail(err, HDB_NOMEM, "out of memory seeking");
  hdb_status rc = hdb__lsm_iter_seek(it->it, fk, fl, err);
  hdb__free_mem(fk);
  return rc;
}

static void iter_close(hdb_kv_iter *base) {
  nat_iter *it = (nat_iter *)base;
  hdb__lsm_iter_close(it->it);
  hdb__nat_env_release(it->env);
  hdb__free_mem(it->ns);
  hdb__free_mem(it);
}

static const hdb__kv_iter_vtab iter_vtab = {
    .next = iter_next,
    .seek = iter_seek,
    .close = iter_close,
};

hdb_status hdb__nat_kv_iter(void *conn, const char *ns, const hdb_kv_range *range,
                            hdb_kv_iter **out, hdb_error *err) {
  nat_conn *c = conn;
  *out = NULL;
  hdb__lsm *kv;
  hdb_status rc = hdb__nat_kv(c, &kv, err);
  if (rc != HDB_OK) return rc;
  static const hdb_kv_range all = {0};
  const hdb_kv_range *r = range ? range : &all;
  unsigned char *pk = NULL, *sk = NULL, *ek = NULL;
  size_t pl = 0, sl = 0, el = 0;
  nat_iter *it = hdb__calloc(1, sizeof *it);
  if (!it) goto nomem;
  hdb__kv_iter_init(&it->base, &iter_vtab);
  if (!(it->ns = hdb__strdup(ns))) goto nomem;
  it->nslen = strlen(ns) + 1;
  pk = full_key(ns, r->prefix, r->prefix ? r->prefix_len : 0, &pl);
  if (!pk) goto nomem;
  if (r->start && !(sk = full_key(ns, r->start, r->start_len, &sl))) goto nomem;
  if (r->end && !(ek = full_key(ns, r->end, r->end_len, &el))) goto nomem;
  hdb_kv_range fr = {pk, pl, sk, sl, ek, el, r->reverse};
  rc = hdb__lsm_iter_open(kv, NULL, &fr, &it->it, err);
  if (rc != HDB_OK) goto fail;
  hdb__nat_env_retain(c->env);
  it->env = c->env;
  hdb__free_mem(pk);
  hdb__free_mem(sk);
  hdb__free_mem(ek);
  *out = &it->base;
  return HDB_OK;
nomem:
  rc = hdb__fail(err, HDB_NOMEM, "out of memory opening a key-value iterator");
fail:
  if (it) {
    hdb__free_mem(it->ns);
    hdb__free_mem(it);
  }
  hdb__free_mem(pk);
  hdb__free_mem(sk);
  hdb__free_mem(ek);
  return rc;
}

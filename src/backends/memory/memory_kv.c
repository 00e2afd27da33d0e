/*
 * memory_kv.c - key-value namespaces of the memory backend: get, atomic
 * batches, and ordered snapshot iterators.
 *
 * Each namespace is a persistent treap (memory_kvmap.c) held by the state.
 *
 * Batches: every operation is checked first; then the batch is applied to
 * private new roots (the state's roots are only borrowed, so nothing is
 * visible yet and an out-of-memory stop leaks nothing); then, with all
 * memory for the new namespace table reserved, the new roots are swapped
 * into the state in one step that cannot fail. Operations apply in batch
 * order, so a later put of the same key wins and a delete after a put
 * removes it.
 *
 * Deleting an absent key: a batch of exactly that one delete (what
 * hdb_kv_delete sends) fails with HDB_NOT_FOUND; inside a larger batch it
 * is a no-op, as in other stores' write batches.
 *
 * Iterators hold a reference to the namespace's root taken at open: the
 * snapshot costs O(1) and later writes (the handle's own included) are
 * invisible to it. Each step is a bounded O(log n) descent from the root
 * ("the first key after the last one returned"), so seek is just a new
 * starting point. The range is normalised at open to an inclusive lower
 * bound max(start, prefix) and an exclusive upper bound
 * min(end, successor(prefix)), plus the prefix test itself.
 */
#include <stdlib.h>
#include <string.h>

#include "memory.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/err.h"

static const char *ns_label(const char *ns) {
  return ns[0] ? ns : "(default)";
}

hdb_status hdb__mem_kv_get(void *conn, const char *ns, const void *key, size_t klen, void **val,
                           size_t *vlen, hdb_error *err) {
  hdb__mem_conn *c = conn;
  *val = NULL;
  if (vlen) *vlen = 0;
  hdb__mem_state *st = hdb__mem_read_begin(c);
  hdb_status rc = HDB_OK;
  const hdb__mem_ns *n = hdb__mem_ns_find(st, ns, NULL);
  const hdb__kv_entry *e = n ? hdb__kvmap_get(n->root, key, klen) : NULL;
  if (!e) {
    char kr[80];
    hdb__key_repr(key, klen, kr, sizeof kr);
    rc = hdb__fail(err, HDB_NOT_FOUND, "namespace %s has no key %s", ns_label(ns), kr);
  } else {
    /* The entry's value is NUL-terminated past vlen: copy that byte too. */
    void *copy = hdb__memdup(e->val, e->vlen + 1);
    if (!copy) {
      rc = hdb__fail(err, HDB_NOMEM, "out of memory reading a %zu-byte value", e->vlen);
    } else {
      *val = copy;
      if (vlen) *vlen = e->vlen;
    }
  }
  hdb__mem_read_end(c);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Batches                                                             */
/* ------------------------------------------------------------------ */

typedef struct kv_work {
  const char *name;   /* borrowed from the batch */
  hdb__kv_node *root; /* counted: the namespace as the batch leaves it */
  hdb__mem_ns *ns;    /* the state's namespace, or NULL when new */
  char *new_name;     /* owned copy for a namespace the batch creates */
} kv_work;

static int name_ptr_cmp(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static kv_work *work_find(kv_work *w, size_t n, const char *name) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(w[mid].name, name);
    if (c == 0) return &w[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

hdb_status hdb__mem_kv_write(void *conn, const hdb_kv_batch *batch, hdb_error *err) {
  hdb__mem_conn *c = conn;
  size_t n = batch ? batch->n : 0;
  for (size_t i = 0; i < n; i++) {
    const hdb__kv_op *op = &batch->ops[i];
    hdb_status rc = hdb__kv_check(op->ns, op->klen, op->is_delete ? 0 : op->vlen, err);
    if (rc != HDB_OK) {
      if (err) hdb__err_prefix(err, "batch operation %zu", i);
      return rc;
    }
  }
  hdb__mem_state *st;
  hdb_status rc = hdb__mem_write_begin(c, &st, err);
  if (rc != HDB_OK) return rc;
  const char **names = NULL;
  kv_work *work = NULL;
  hdb__mem_ns *arr = NULL;
  size_t nw = 0;
  int changed = 0;
  if (n == 0) goto done;

  /* The namespaces the batch touches, sorted and unique: O(n log n). */
  names = hdb__malloc(n * sizeof *names);
  if (!names) goto nomem;
  for (size_t i = 0; i < n; i++) names[i] = batch->ops[i].ns ? batch->ops[i].ns : "";
  qsort(names, n, sizeof *names, name_ptr_cmp);
  work = hdb__calloc(n, sizeof *work);
  if (!work) goto nomem;
  for (size_t i = 0; i < n; i++) {
    if (nw && strcmp(work[nw - 1].name, names[i]) == 0) continue;
    work[nw].name = names[i];
    work[nw].ns = hdb__mem_ns_find(st, names[i], NULL);
    work[nw].root = hdb__kvmap_ref(work[nw].ns ? work[nw].ns->root : NULL);
    nw++;
  }

  /* Apply to private roots, in batch order. */
  for (size_t i = 0; i < n; i++) {
    const hdb__kv_op *op = &batch->ops[i];
    kv_work *w = work_find(work, nw, op->ns ? op->ns : "");
    hdb__kv_node *next = NULL;
    if (op->is_delete) {
      int found;
      rc = hdb__kvmap_delete(w->root, op->key, op->klen, &next, &found);
      if (rc == HDB_OK && !found && n == 1) {
        hdb__kvmap_release(next);
        char kr[80];
        hdb__key_repr(op->key, op->klen, kr, sizeof kr);
        rc = hdb__fail(err, HDB_NOT_FOUND, "namespace %s has no key %s", ns_label(w->name), kr);
        goto done;
      }
    } else {
      rc = hdb__kvmap_put(w->root, op->key, op->klen, op->val, op->vlen, &next);
    }
    if (rc != HDB_OK) goto nomem;
    hdb__kvmap_release(w->root);
    w->root = next;
  }

  /* Reserve everything the swap needs. */
  size_t n_new = 0;
  for (size_t i = 0; i < nw; i++) {
    if (work[i].ns || !work[i].root) continue;
    work[i].new_name = hdb__strdup(work[i].name);
    if (!work[i].new_name) goto nomem;
    n_new++;
  }
  if (n_new) {
    arr = hdb__malloc((st->n_ns + n_new) * sizeof *arr);
    if (!arr) goto nomem;
  }

  /* Swap in; nothing below can fail. Existing namespaces first (their
   * pointers are into st->ns, which the merge below replaces). */
  for (size_t i = 0; i < nw; i++) {
    if (!work[i].ns) continue;
    hdb__kv_node *old = work[i].ns->root;
    work[i].ns->root = work[i].root;
    work[i].root = old; /* released with the work list */
  }
  if (n_new) {
    /* Merge the new namespaces (sorted, like work) into the sorted array. */
    size_t a = 0, k = 0;
    for (size_t i = 0; i < nw; i++) {
      if (!work[i].new_name) continue;
      while (a < st->n_ns && strcmp(st->ns[a].name, work[i].new_name) < 0) arr[k++] = st->ns[a++];
      arr[k].name = work[i].new_name;
      arr[k].root = work[i].root;
      k++;
      work[i].new_name = NULL;
      work[i].root = NULL;
    }
    while (a < st->n_ns) arr[k++] = st->ns[a++];
    hdb__free_mem(st->ns);
    st->ns = arr;
    st->n_ns = k;
    st->cap_ns = k;
    arr = NULL;
  }
  /* Namespaces the batch emptied leave the table. */
  size_t k = 0;
  for (size_t i = 0; i < st->n_ns; i++) {
    if (st->ns[i].root)
      st->ns[k++] = st->ns[i];
    else
      hdb__free_mem(st->ns[i].name);
  }
  st->n_ns = k;
  changed = 1;
  goto done;
nomem:
  rc = hdb__fail(err, HDB_NOMEM, "out of memory applying a batch of %zu key-value operations", n);
done:
  for (size_t i = 0; work && i < nw; i++) {
    hdb__kvmap_release(work[i].root);
    hdb__free_mem(work[i].new_name);
  }
  hdb__free_mem(work);
  hdb__free_mem(names);
  hdb__free_mem(arr);
  hdb__mem_write_end(c, changed);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Iterators                                                           */
/* ------------------------------------------------------------------ */

typedef struct mem_iter {
  hdb_kv_iter base; /* first: freed through it */
  hdb__kv_node *root; /* counted: the snapshot */
  unsigned char *prefix, *lo, *hi; /* owned copies; NULL when absent */
  size_t plen, lolen, hilen;
  int has_prefix, has_lo, has_hi, reverse;
  /* Position: the next step starts after `last` (when set), else from
   * `target` inclusive (after a seek), else from the range's first end. */
  const hdb__kv_entry *last; /* borrowed from the snapshot */
  unsigned char *target;
  size_t tlen;
  int has_target;
} mem_iter;

static int in_range(const mem_iter *it, const hdb__kv_entry *e) {
  if (it->has_lo && hdb__key_compare(e->key, e->klen, it->lo, it->lolen) < 0) return 0;
  if (it->has_hi && hdb__key_compare(e->key, e->klen, it->hi, it->hilen) >= 0) return 0;
  if (it->has_prefix && (e->klen < it->plen || memcmp(e->key, it->prefix, it->plen) != 0))
    return 0;
  return 1;
}

static hdb_status iter_next(hdb_kv_iter *base, const void **key, size_t *klen, const void **val,
                            size_t *vlen, hdb_error *err) {
  mem_iter *it = (mem_iter *)base;
  const hdb__kv_entry *e;
  if (!it->reverse) {
    if (it->last)
      e = hdb__kvmap_seek_ge(it->root, it->last->key, it->last->klen, 0);
    else if (it->has_target && (!it->has_lo || hdb__key_compare(it->target, it->tlen, it->lo, it->lolen) >= 0))
      e = hdb__kvmap_seek_ge(it->root, it->target, it->tlen, 1);
    else
      e = hdb__kvmap_seek_ge(it->root, it->has_lo ? it->lo : NULL, it->lolen, 1);
  } else {
    if (it->last)
      e = hdb__kvmap_seek_le(it->root, it->last->key, it->last->klen, 0);
    else if (it->has_target && (!it->has_hi || hdb__key_compare(it->target, it->tlen, it->hi, it->hilen) < 0))
      e = hdb__kvmap_seek_le(it->root, it->target, it->tlen, 1);
    else
      e = hdb__kvmap_seek_le(it->root, it->has_hi ? it->hi : NULL, it->hilen, 0);
  }
  /* Keys in [lo, hi) all carry the prefix (hi <= successor(prefix)), so
   * the first key outside the range ends the walk in either direction. */
  if (!e || !in_range(it, e)) return HDB_DONE;
  it->last = e;
  *key = e->key;
  *klen = e->klen;
  *val = e->val;
  *vlen = e->vlen;
  return HDB_OK;
}

static hdb_status iter_seek(hdb_kv_iter *base, const void *key, size_t klen, hdb_error *err) {
  mem_iter *it = (mem_iter *)base;
  unsigned char *copy = hdb__malloc(klen ? klen : 1);
  if (!copy) return hdb__fail(err, HDB_NOMEM, "out of memory seeking");
  if (klen) memcpy(copy, key, klen);
  hdb__free_mem(it->target);
  it->target = copy;
  it->tlen = klen;
  it->has_target = 1;
  it->last = NULL;
  return HDB_OK;
}

static void iter_close(hdb_kv_iter *base) {
  mem_iter *it = (mem_iter *)base;
  hdb__kvmap_release(it->root);
  hdb__free_mem(it->prefix);
  hdb__free_mem(it->lo);
  hdb__free_mem(it->hi);
  hdb__free_mem(it->target);
  hdb__free_mem(it);
}

static const hdb__kv_iter_vtab iter_vtab = {
    .next = iter_next,
    .seek = iter_seek,
    .close = iter_close,
};

static unsigned char *bytes_dup(const void *p, size_t n) {
  unsigned char *d = hdb__malloc(n ? n : 1);
  if (d && n) memcpy(d, p, n);
  return d;
}

/* Normalises the range into it; HDB_NOMEM only. */
static hdb_status iter_bounds(mem_iter *it, const hdb_kv_range *r) {
  if (r->prefix && r->prefix_len) {
    it->prefix = bytes_dup(r->prefix, r->prefix_len);
    if (!it->prefix) return HDB_NOMEM;
    it->plen = r->prefix_len;
    it->has_prefix = 1;
  }
  /* Lower bound: the larger of start and prefix. */
  const void *lo = NULL;
  size_t lolen = 0;
  if (r->start) {
    lo = r->start;
    lolen = r->start_len;
  }
  if (it->has_prefix && (!lo || hdb__key_compare(it->prefix, it->plen, lo, lolen) > 0)) {
    lo = it->prefix;
    lolen = it->plen;
  }
  if (lo) {
    it->lo = bytes_dup(lo, lolen);
    if (!it->lo) return HDB_NOMEM;
    it->lolen = lolen;
    it->has_lo = 1;
  }
  /* Upper bound: the smaller of end and the prefix's successor (the
   * prefix with trailing 0xff bytes dropped and the last byte increased;
   * none when the prefix is all 0xff). */
  unsigned char *succ = NULL;
  size_t slen = 0;
  if (it->has_prefix) {
    slen = it->plen;
    while (slen && it->prefix[slen - 1] == 0xff) slen--;
    if (slen) {
      succ = bytes_dup(it->prefix, slen);
      if (!succ) return HDB_NOMEM;
      succ[slen - 1]++;
    }
  }
  if (r->end && (!succ || hdb__key_compare(r->end, r->end_len, succ, slen) < 0)) {
    hdb__free_mem(succ);
    succ = bytes_dup(r->end, r->end_len);
    if (!succ) return HDB_NOMEM;
    slen = r->end_len;
  }
  if (succ) {
    it->hi = succ;
    it->hilen = slen;
    it->has_hi = 1;
  }
  it->reverse = r->reverse != 0;
  return HDB_OK;
}

hdb_status hdb__mem_kv_iter(void *conn, const char *ns, const hdb_kv_range *range,
                            hdb_kv_iter **out, hdb_error *err) {
  hdb__mem_conn *c = conn;
  static const hdb_kv_range all = {0};
  *out = NULL;
  mem_iter *it = hdb__calloc(1, sizeof *it);
  if (!it) return hdb__fail(err, HDB_NOMEM, "out of memory opening a key-value iterator");
  it->base.vt = &iter_vtab;
  hdb__err_clear(&it->base.err);
  if (iter_bounds(it, range ? range : &all) != HDB_OK) {
    iter_close(&it->base);
    return hdb__fail(err, HDB_NOMEM, "out of memory opening a key-value iterator");
  }
  hdb__mem_state *st = hdb__mem_read_begin(c);
  const hdb__mem_ns *n = hdb__mem_ns_find(st, ns, NULL);
  it->root = hdb__kvmap_ref(n ? n->root : NULL);
  hdb__mem_read_end(c);
  *out = &it->base;
  return HDB_OK;
}

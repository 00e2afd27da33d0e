/*
 * memory_kvmap.c - a persistent ordered map of byte keys: a treap with path
 * copying and refcounted nodes.
 *
 * Why a persistent treap: a KV namespace must be (a) ordered, with
 * O(log n) puts for large n, (b) snapshotable for iterators and for
 * transactions. With immutable shared nodes a snapshot is one reference to
 * the root, and a put or delete builds a new root that shares every node
 * off the O(log n) search path with the old one, so readers of the old root
 * never see a change. An interrupted (out-of-memory) put releases what it
 * built and leaves the old map untouched, which makes batches atomic.
 *
 * Rules:
 *  1. BST order on keys by hdb__key_compare; max-heap order on prio, drawn
 *     at random per new key, so the expected depth is O(log n) whatever the
 *     key order. A replaced key keeps its node's prio.
 *  2. A node with refs > 1 is never modified. A node whose only reference
 *     the running operation owns (refs == 1, freshly built by it) may be
 *     modified in place: merge uses this so that a put copies one path,
 *     not two.
 *  3. Entries (key + value) are refcounted separately so copying a node on
 *     a path never copies a value (values can be 64 MiB).
 *
 * Ownership in this file: functions say which node arguments they consume
 * (take the caller's reference) and which they borrow.
 */
#include <string.h>

#include "memory.h"

#include "core/alloc.h"
#include "core/cursor.h"

/* ------------------------------------------------------------------ */
/* Entries and nodes                                                   */
/* ------------------------------------------------------------------ */

static hdb__kv_entry *entry_new(const void *key, size_t klen, const void *val, size_t vlen) {
  if (klen > SIZE_MAX / 2 || vlen > SIZE_MAX / 2 - klen - sizeof(hdb__kv_entry) - 1) return NULL;
  hdb__kv_entry *e = hdb__malloc(sizeof *e + klen + vlen + 1);
  if (!e) return NULL;
  atomic_init(&e->refs, 1);
  e->klen = klen;
  e->vlen = vlen;
  memcpy(e->key, key, klen);
  e->val = e->key + klen;
  if (vlen) memcpy(e->val, val, vlen);
  e->val[vlen] = 0;
  return e;
}

static hdb__kv_entry *entry_ref(hdb__kv_entry *e) {
  atomic_fetch_add(&e->refs, 1);
  return e;
}

static void entry_release(hdb__kv_entry *e) {
  if (e && atomic_fetch_sub(&e->refs, 1) == 1) hdb__free_mem(e);
}

hdb__kv_node *hdb__kvmap_ref(hdb__kv_node *root) {
  if (root) atomic_fetch_add(&root->refs, 1);
  return root;
}

void hdb__kvmap_release(hdb__kv_node *root) {
  /* Recursion depth is the treap's height: O(log n) expected. */
  if (!root || atomic_fetch_sub(&root->refs, 1) != 1) return;
  hdb__kvmap_release(root->left);
  hdb__kvmap_release(root->right);
  entry_release(root->entry);
  hdb__free_mem(root);
}

/* Consumes entry, left and right (releases them when out of memory). */
static hdb__kv_node *node_new(hdb__kv_entry *entry, uint32_t prio, hdb__kv_node *left,
                              hdb__kv_node *right) {
  hdb__kv_node *n = hdb__malloc(sizeof *n);
  if (!n) {
    entry_release(entry);
    hdb__kvmap_release(left);
    hdb__kvmap_release(right);
    return NULL;
  }
  atomic_init(&n->refs, 1);
  n->prio = prio;
  n->entry = entry;
  n->left = left;
  n->right = right;
  return n;
}

static uint32_t random_prio(void) {
  /* splitmix64 over a shared counter: thread-safe and well spread. */
  static atomic_uint_fast64_t counter = 0x9e3779b97f4a7c15ull;
  uint64_t z = atomic_fetch_add(&counter, 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return (uint32_t)(z >> 32);
}

static int node_cmp(const void *key, size_t klen, const hdb__kv_node *n) {
  return hdb__key_compare(key, klen, n->entry->key, n->entry->klen);
}

/* ------------------------------------------------------------------ */
/* Split and merge                                                     */
/* ------------------------------------------------------------------ */

/* Borrows t. *lo gets the keys < key and *hi the keys > key (a node equal
 * to key is left out), both new references built by copying the search
 * path. On failure both are NULL and nothing leaks. */
static hdb_status split(hdb__kv_node *t, const void *key, size_t klen, hdb__kv_node **lo,
                        hdb__kv_node **hi) {
  *lo = *hi = NULL;
  if (!t) return HDB_OK;
  int c = node_cmp(key, klen, t);
  if (c == 0) {
    *lo = hdb__kvmap_ref(t->left);
    *hi = hdb__kvmap_ref(t->right);
    return HDB_OK;
  }
  hdb__kv_node *a, *b;
  if (c < 0) {
    hdb_status st = split(t->left, key, klen, &a, &b);
    if (st != HDB_OK) return st;
    hdb__kv_node *n = node_new(entry_ref(t->entry), t->prio, b, hdb__kvmap_ref(t->right));
    if (!n) {
      hdb__kvmap_release(a);
      return HDB_NOMEM;
    }
    *lo = a;
    *hi = n;
  } else {
    hdb_status st = split(t->right, key, klen, &a, &b);
    if (st != HDB_OK) return st;
    hdb__kv_node *n = node_new(entry_ref(t->entry), t->prio, hdb__kvmap_ref(t->left), a);
    if (!n) {
      hdb__kvmap_release(b);
      return HDB_NOMEM;
    }
    *lo = n;
    *hi = b;
  }
  return HDB_OK;
}

/* Consumes a and b (every key of a < every key of b); *out the joined map.
 * On failure *out is NULL and both inputs have been released. */
static hdb_status merge(hdb__kv_node *a, hdb__kv_node *b, hdb__kv_node **out) {
  *out = NULL;
  if (!a || !b) {
    *out = a ? a : b;
    return HDB_OK;
  }
  if (a->prio >= b->prio) {
    hdb__kv_node *m;
    hdb_status st = merge(hdb__kvmap_ref(a->right), b, &m);
    if (st != HDB_OK) {
      hdb__kvmap_release(a);
      return st;
    }
    if (atomic_load(&a->refs) == 1) { /* ours alone (rule 2) */
      hdb__kv_node *old = a->right;
      a->right = m;
      hdb__kvmap_release(old);
      *out = a;
      return HDB_OK;
    }
    hdb__kv_node *n = node_new(entry_ref(a->entry), a->prio, hdb__kvmap_ref(a->left), m);
    hdb__kvmap_release(a);
    if (!n) return HDB_NOMEM;
    *out = n;
    return HDB_OK;
  }
  hdb__kv_node *m;
  hdb_status st = merge(a, hdb__kvmap_ref(b->left), &m);
  if (st != HDB_OK) {
    hdb__kvmap_release(b);
    return st;
  }
  if (atomic_load(&b->refs) == 1) {
    hdb__kv_node *old = b->left;
    b->left = m;
    hdb__kvmap_release(old);
    *out = b;
    return HDB_OK;
  }
  hdb__kv_node *n = node_new(entry_ref(b->entry), b->prio, m, hdb__kvmap_ref(b->right));
  hdb__kvmap_release(b);
  if (!n) return HDB_NOMEM;
  *out = n;
  return HDB_OK;
}

static const hdb__kv_node *find_node(const hdb__kv_node *t, const void *key, size_t klen) {
  while (t) {
    int c = node_cmp(key, klen, t);
    if (c == 0) return t;
    t = c < 0 ? t->left : t->right;
  }
  return NULL;
}

/* ------------------------------------------------------------------ */
/* Public operations                                                   */
/* ------------------------------------------------------------------ */

hdb_status hdb__kvmap_put(hdb__kv_node *root, const void *key, size_t klen, const void *val,
                          size_t vlen, hdb__kv_node **out) {
  *out = NULL;
  const hdb__kv_node *old = find_node(root, key, klen);
  uint32_t prio = old ? old->prio : random_prio();
  hdb__kv_entry *e = entry_new(key, klen, val, vlen);
  if (!e) return HDB_NOMEM;
  hdb__kv_node *n = node_new(e, prio, NULL, NULL);
  if (!n) return HDB_NOMEM;
  hdb__kv_node *lo, *hi, *left;
  hdb_status st = split(root, key, klen, &lo, &hi);
  if (st != HDB_OK) {
    hdb__kvmap_release(n);
    return st;
  }
  st = merge(lo, n, &left);
  if (st != HDB_OK) {
    hdb__kvmap_release(hi);
    return st;
  }
  return merge(left, hi, out);
}

hdb_status hdb__kvmap_delete(hdb__kv_node *root, const void *key, size_t klen,
                             hdb__kv_node **out, int *found) {
  *out = NULL;
  *found = find_node(root, key, klen) != NULL;
  if (!*found) {
    *out = hdb__kvmap_ref(root);
    return HDB_OK;
  }
  hdb__kv_node *lo, *hi;
  hdb_status st = split(root, key, klen, &lo, &hi);
  if (st != HDB_OK) return st;
  return merge(lo, hi, out);
}

const hdb__kv_entry *hdb__kvmap_get(const hdb__kv_node *root, const void *key, size_t klen) {
  const hdb__kv_node *n = find_node(root, key, klen);
  return n ? n->entry : NULL;
}

const hdb__kv_entry *hdb__kvmap_seek_ge(const hdb__kv_node *root, const void *key, size_t klen,
                                        int inclusive) {
  const hdb__kv_node *best = NULL;
  for (const hdb__kv_node *t = root; t;) {
    int c = key ? -node_cmp(key, klen, t) : 1; /* t's key vs key */
    if (c > 0 || (c == 0 && inclusive)) {
      best = t;
      t = t->left;
    } else {
      t = t->right;
    }
  }
  return best ? best->entry : NULL;
}

const hdb__kv_entry *hdb__kvmap_seek_le(const hdb__kv_node *root, const void *key, size_t klen,
                                        int inclusive) {
  const hdb__kv_node *best = NULL;
  for (const hdb__kv_node *t = root; t;) {
    int c = key ? -node_cmp(key, klen, t) : -1;
    if (c < 0 || (c == 0 && inclusive)) {
      best = t;
      t = t->right;
    } else {
      t = t->left;
    }
  }
  return best ? best->entry : NULL;
}

size_t hdb__kvmap_count(const hdb__kv_node *root) {
  return root ? 1 + hdb__kvmap_count(root->left) + hdb__kvmap_count(root->right) : 0;
}

/* Checks the subtree's keys lie strictly between lo and hi (NULL: open). */
static int check_node(const hdb__kv_node *t, const hdb__kv_entry *lo, const hdb__kv_entry *hi) {
  if (!t) return 1;
  if (atomic_load(&t->refs) == 0 || !t->entry) return 0;
  const hdb__kv_entry *e = t->entry;
  if (lo && hdb__key_compare(lo->key, lo->klen, e->key, e->klen) >= 0) return 0;
  if (hi && hdb__key_compare(e->key, e->klen, hi->key, hi->klen) >= 0) return 0;
  if (t->left && t->left->prio > t->prio) return 0;
  if (t->right && t->right->prio > t->prio) return 0;
  return check_node(t->left, lo, e) && check_node(t->right, e, hi);
}

int hdb__kvmap_check(const hdb__kv_node *root) {
  return check_node(root, NULL, NULL);
}

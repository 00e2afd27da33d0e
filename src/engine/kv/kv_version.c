/*
 * kv_version.c - versions (the set of live tables per level) and edits.
 *
 * A version is immutable once installed. Readers pin one (a counted
 * reference taken under the store mutex) and read its tables without any
 * lock; the background thread builds the next version from the current
 * one plus an edit and installs it under the mutex. A table is unlinked
 * only when it is obsolete (an installed edit removed it) and no version
 * lists it any more, so a reader never loses a file it may still read.
 *
 * Invariants of a version:
 *   V1. Level 0 is ordered newest first (file number descending); its
 *       tables may overlap.
 *   V2. Levels >= 1 are sorted by smallest key and their tables' user-key
 *       ranges are disjoint: a user key lives in at most one table of a
 *       level (compaction cuts outputs only between user keys).
 *   V3. For a user key, every entry in level L is newer than every entry
 *       in level L+1, and a newer level-0 table holds newer entries.
 *
 * Edit encoding (a MANIFEST record): a sequence of fields, each a varint
 * tag then its values: 1 log number | 2 next file number | 3 last
 * sequence | 4 delete (level, number) | 5 add (level, number, size,
 * smallest key (varint length + bytes), largest key (same)).
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/kv/kv_impl.h"

hdb_status hdb__lsm_file_new(const char *dir, uint64_t number, uint64_t size,
                             const char *smallest, size_t slen, const char *largest,
                             size_t llen, hdb__lsm_file **out, hdb_error *err) {
  *out = NULL;
  hdb__lsm_file *f = hdb__calloc(1, sizeof *f);
  if (!f) return hdb__fail(err, HDB_NOMEM, "kv: out of memory for a table record");
  f->number = number;
  f->size = size;
  atomic_init(&f->refs, 1);
  atomic_init(&f->obsolete, 0);
  f->path = hdb__lsm_path(dir, number, ".sst");
  if (!f->path || hdb__lsm_buf_set(&f->smallest, smallest, slen, err) != HDB_OK ||
      hdb__lsm_buf_set(&f->largest, largest, llen, err) != HDB_OK) {
    hdb__lsm_file_unref(f);
    return hdb__fail(err, HDB_NOMEM, "kv: out of memory for a table record");
  }
  *out = f;
  return HDB_OK;
}

void hdb__lsm_file_unref(hdb__lsm_file *f) {
  if (!f || atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1) return;
  hdb__lsm_table_close(f->table);
  if (atomic_load(&f->obsolete) && f->path) unlink(f->path);
  hdb__lsm_buf_free(&f->smallest);
  hdb__lsm_buf_free(&f->largest);
  hdb__free_mem(f->path);
  hdb__free_mem(f);
}

static inline void file_ref(hdb__lsm_file *f) {
  atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
}

hdb__lsm_version *hdb__lsm_version_new(void) {
  hdb__lsm_version *v = hdb__calloc(1, sizeof *v);
  if (v) v->refs = 1;
  return v;
}

void hdb__lsm_version_ref(hdb__lsm_version *v) {
  v->refs++;
}

void hdb__lsm_version_unref(hdb__lsm_version *v) {
  if (!v || --v->refs > 0) return;
  for (int l = 0; l < HDB__LSM_LEVELS; l++) {
    for (size_t i = 0; i < v->n[l]; i++) hdb__lsm_file_unref(v->files[l][i]);
    hdb__free_mem(v->files[l]);
  }
  hdb__free_mem(v);
}

uint64_t hdb__lsm_level_bytes(const hdb__lsm_version *v, int level) {
  uint64_t b = 0;
  for (size_t i = 0; i < v->n[level]; i++) b += v->files[level][i]->size;
  return b;
}

static inline const char *fsk(const hdb__lsm_file *f, size_t *n) {
  *n = f->smallest.len - 8;
  return f->smallest.p;
}
static inline const char *flk(const hdb__lsm_file *f, size_t *n) {
  *n = f->largest.len - 8;
  return f->largest.p;
}

static int file_overlaps(const hdb__lsm_file *f, const char *lo, size_t lolen, const char *hi,
                         size_t hilen) {
  size_t n;
  const char *k;
  k = flk(f, &n);
  if (lo && hdb__lsm_ukey_cmp(k, n, lo, lolen) < 0) return 0;
  k = fsk(f, &n);
  if (hi && hdb__lsm_ukey_cmp(k, n, hi, hilen) > 0) return 0;
  return 1;
}

hdb_status hdb__lsm_overlaps(const hdb__lsm_version *v, int level, const char *lo, size_t lolen,
                             const char *hi, size_t hilen, hdb__lsm_file ***out, size_t *n,
                             hdb_error *err) {
  *out = NULL;
  *n = 0;
  if (v->n[level] == 0) return HDB_OK;
  hdb__lsm_file **r = hdb__malloc(v->n[level] * sizeof *r);
  if (!r) return hdb__fail(err, HDB_NOMEM, "kv: out of memory");
  for (size_t i = 0; i < v->n[level]; i++)
    if (file_overlaps(v->files[level][i], lo, lolen, hi, hilen)) r[(*n)++] = v->files[level][i];
  *out = r;
  return HDB_OK;
}

hdb_status hdb__lsm_version_get(hdb__lsm_version *v, const char *key, size_t klen, uint64_t seq,
                                int *found, int *type, void **val, size_t *vlen,
                                hdb_error *err) {
  *found = 0;
  hdb_status st;
  for (size_t i = 0; i < v->n[0]; i++) {
    hdb__lsm_file *f = v->files[0][i];
    if (!file_overlaps(f, key, klen, key, klen)) continue;
    st = hdb__lsm_table_get(f->table, key, klen, seq, found, type, val, vlen, err);
    if (st != HDB_OK || *found) return st;
  }
  for (int l = 1; l < HDB__LSM_LEVELS; l++) {
    size_t lo = 0, hi = v->n[l];
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2, n;
      const char *k = flk(v->files[l][mid], &n);
      if (hdb__lsm_ukey_cmp(k, n, key, klen) < 0)
        lo = mid + 1;
      else
        hi = mid;
    }
    if (lo == v->n[l]) continue;
    hdb__lsm_file *f = v->files[l][lo];
    size_t n;
    const char *k = fsk(f, &n);
    if (hdb__lsm_ukey_cmp(k, n, key, klen) > 0) continue;
    st = hdb__lsm_table_get(f->table, key, klen, seq, found, type, val, vlen, err);
    if (st != HDB_OK || *found) return st;
  }
  return HDB_OK;
}

/* ------------------------------------------------------------------ */
/* Level iterator: tables of one level >= 1, in key order              */
/* ------------------------------------------------------------------ */

typedef struct lvl_iter {
  hdb__lsm_it base;
  hdb__lsm_file **files;
  size_t n, fi;
  hdb__lsm_it *t;
} lvl_iter;

static void li_sync(lvl_iter *it) {
  hdb__lsm_it *t = it->t;
  it->base.valid = t && t->valid;
  if (t && t->st != HDB_OK) {
    it->base.st = t->st;
    it->base.err = t->err;
    it->base.valid = 0;
  }
  if (it->base.valid) {
    it->base.key = t->key;
    it->base.klen = t->klen;
    it->base.val = t->val;
    it->base.vlen = t->vlen;
  }
}

static int li_load(lvl_iter *it, size_t i) {
  /* Seeks that land in the table already open reuse its iterator. */
  if (it->t && it->fi == i && it->base.st == HDB_OK && it->t->st == HDB_OK) return 1;
  if (it->t) {
    it->t->vt->close(it->t);
    it->t = NULL;
  }
  it->base.valid = 0;
  if (it->base.st != HDB_OK || i >= it->n) return 0;
  hdb_status st = hdb__lsm_table_iter(it->files[i]->table, &it->t, &it->base.err);
  if (st != HDB_OK) {
    it->base.st = st;
    return 0;
  }
  it->fi = i;
  return 1;
}

static void li_fwd(lvl_iter *it) {
  while (it->t && !it->t->valid && it->t->st == HDB_OK) {
    if (!li_load(it, it->fi + 1)) return;
    it->t->vt->first(it->t);
  }
  li_sync(it);
}

static void li_back(lvl_iter *it) {
  while (it->t && !it->t->valid && it->t->st == HDB_OK) {
    if (it->fi == 0 || !li_load(it, it->fi - 1)) {
      it->base.valid = 0;
      return;
    }
    it->t->vt->last(it->t);
  }
  li_sync(it);
}

static void li_first(hdb__lsm_it *b) {
  lvl_iter *it = (lvl_iter *)b;
  if (!li_load(it, 0)) return;
  it->t->vt->first(it->t);
  li_fwd(it);
}
static void li_last(hdb__lsm_it *b) {
  lvl_iter *it = (lvl_iter *)b;
  if (it->n == 0 || !li_load(it, it->n - 1)) return;
  it->t->vt->last(it->t);
  li_back(it);
}
static void li_seek(hdb__lsm_it *b, const char *k, size_t n) {
  lvl_iter *it = (lvl_iter *)b;
  size_t lo = 0, hi = it->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const hdb__lsm_buf *l = &it->files[mid]->largest;
    if (hdb__lsm_ikey_cmp(l->p, l->len, k, n) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (!li_load(it, lo)) return;
  it->t->vt->seek(it->t, k, n);
  li_fwd(it);
}
static void li_next(hdb__lsm_it *b) {
  lvl_iter *it = (lvl_iter *)b;
  it->t->vt->next(it->t);
  li_fwd(it);
}
static void li_prev(hdb__lsm_it *b) {
  lvl_iter *it = (lvl_iter *)b;
  it->t->vt->prev(it->t);
  li_back(it);
}
static void li_close(hdb__lsm_it *b) {
  lvl_iter *it = (lvl_iter *)b;
  if (it->t) it->t->vt->close(it->t);
  hdb__free_mem(it);
}

static const hdb__lsm_it_vt li_vt = {li_first, li_last, li_seek, li_next, li_prev, li_close};

hdb_status hdb__lsm_level_iter(hdb__lsm_file **files, size_t n, hdb__lsm_it **out,
                               hdb_error *err) {
  lvl_iter *it = hdb__calloc(1, sizeof *it);
  if (!it) return hdb__fail(err, HDB_NOMEM, "kv: out of memory for a level iterator");
  it->base.vt = &li_vt;
  it->files = files;
  it->n = n;
  *out = &it->base;
  return HDB_OK;
}

static hdb_status push_it(hdb__lsm_it ***its, size_t *n, size_t *cap, hdb__lsm_it *it,
                          hdb_error *err) {
  if (*n == *cap) {
    size_t c = *cap ? *cap * 2 : 8;
    hdb__lsm_it **a = hdb__realloc(*its, c * sizeof *a);
    if (!a) {
      it->vt->close(it);
      return hdb__fail(err, HDB_NOMEM, "kv: out of memory for an iterator");
    }
    *its = a;
    *cap = c;
  }
  (*its)[(*n)++] = it;
  return HDB_OK;
}

hdb_status hdb__lsm_version_iters(hdb__lsm_version *v, hdb__lsm_it ***its, size_t *n,
                                  size_t *cap, hdb_error *err) {
  hdb_status st;
  hdb__lsm_it *it;
  for (size_t i = 0; i < v->n[0]; i++) {
    if ((st = hdb__lsm_table_iter(v->files[0][i]->table, &it, err)) != HDB_OK) return st;
    if ((st = push_it(its, n, cap, it, err)) != HDB_OK) return st;
  }
  for (int l = 1; l < HDB__LSM_LEVELS; l++) {
    if (v->n[l] == 0) continue;
    if ((st = hdb__lsm_level_iter(v->files[l], v->n[l], &it, err)) != HDB_OK) return st;
    if ((st = push_it(its, n, cap, it, err)) != HDB_OK) return st;
  }
  return HDB_OK;
}

/* ------------------------------------------------------------------ */
/* Edits                                                               */
/* ------------------------------------------------------------------ */

void hdb__lsm_edit_init(hdb__lsm_edit *e) {
  memset(e, 0, sizeof *e);
}

void hdb__lsm_edit_free(hdb__lsm_edit *e) {
  for (size_t i = 0; i < e->n_adds; i++) hdb__lsm_file_unref(e->adds[i].file);
  hdb__free_mem(e->adds);
  hdb__free_mem(e->dels);
  memset(e, 0, sizeof *e);
}

hdb_status hdb__lsm_edit_add_file(hdb__lsm_edit *e, int level, hdb__lsm_file *f,
                                  hdb_error *err) {
  if (e->n_adds == e->cap_adds) {
    size_t c = e->cap_adds ? e->cap_adds * 2 : 8;
    hdb__lsm_edit_add *a = hdb__realloc(e->adds, c * sizeof *a);
    if (!a) return hdb__fail(err, HDB_NOMEM, "kv: out of memory for an edit");
    e->adds = a;
    e->cap_adds = c;
  }
  file_ref(f);
  e->adds[e->n_adds].level = level;
  e->adds[e->n_adds++].file = f;
  return HDB_OK;
}

hdb_status hdb__lsm_edit_del_file(hdb__lsm_edit *e, int level, uint64_t number,
                                  hdb_error *err) {
  if (e->n_dels == e->cap_dels) {
    size_t c = e->cap_dels ? e->cap_dels * 2 : 8;
    hdb__lsm_edit_del *a = hdb__realloc(e->dels, c * sizeof *a);
    if (!a) return hdb__fail(err, HDB_NOMEM, "kv: out of memory for an edit");
    e->dels = a;
    e->cap_dels = c;
  }
  e->dels[e->n_dels].level = level;
  e->dels[e->n_dels++].number = number;
  return HDB_OK;
}

hdb_status hdb__lsm_edit_encode(const hdb__lsm_edit *e, hdb__lsm_buf *out, hdb_error *err) {
  hdb_status st = HDB_OK;
#define PV(x)                                                   \
  do {                                                          \
    if ((st = hdb__lsm_buf_putv(out, (x), err)) != HDB_OK) return st; \
  } while (0)
  if (e->has_log) {
    PV(1);
    PV(e->log_number);
  }
  if (e->has_next) {
    PV(2);
    PV(e->next_file);
  }
  if (e->has_seq) {
    PV(3);
    PV(e->last_seq);
  }
  for (size_t i = 0; i < e->n_dels; i++) {
    PV(4);
    PV((uint64_t)e->dels[i].level);
    PV(e->dels[i].number);
  }
  for (size_t i = 0; i < e->n_adds; i++) {
    const hdb__lsm_file *f = e->adds[i].file;
    PV(5);
    PV((uint64_t)e->adds[i].level);
    PV(f->number);
    PV(f->size);
    PV(f->smallest.len);
    if ((st = hdb__lsm_buf_append(out, f->smallest.p, f->smallest.len, err)) != HDB_OK) return st;
    PV(f->largest.len);
    if ((st = hdb__lsm_buf_append(out, f->largest.p, f->largest.len, err)) != HDB_OK) return st;
  }
#undef PV
  return st;
}

hdb_status hdb__lsm_edit_decode(const char *dir, const char *p, size_t n, const char *name,
                                uint64_t off, hdb__lsm_edit *e, hdb_error *err) {
  const char *end = p + n;
  hdb_status st;
  while (p < end) {
    uint64_t tag, a, b, c, sl, ll;
    if (!hdb__lsm_getv(&p, end, &tag)) goto bad;
    switch (tag) {
    case 1:
      if (!hdb__lsm_getv(&p, end, &e->log_number)) goto bad;
      e->has_log = 1;
      break;
    case 2:
      if (!hdb__lsm_getv(&p, end, &e->next_file)) goto bad;
      e->has_next = 1;
      break;
    case 3:
      if (!hdb__lsm_getv(&p, end, &e->last_seq) || e->last_seq > HDB__LSM_MAX_SEQ) goto bad;
      e->has_seq = 1;
      break;
    case 4:
      if (!hdb__lsm_getv(&p, end, &a) || !hdb__lsm_getv(&p, end, &b) || a >= HDB__LSM_LEVELS)
        goto bad;
      if ((st = hdb__lsm_edit_del_file(e, (int)a, b, err)) != HDB_OK) return st;
      break;
    case 5: {
      if (!hdb__lsm_getv(&p, end, &a) || !hdb__lsm_getv(&p, end, &b) ||
          !hdb__lsm_getv(&p, end, &c) || a >= HDB__LSM_LEVELS || !hdb__lsm_getv(&p, end, &sl) ||
          sl < 8 || sl > (uint64_t)(end - p))
        goto bad;
      const char *s = p;
      p += sl;
      if (!hdb__lsm_getv(&p, end, &ll) || ll < 8 || ll > (uint64_t)(end - p)) goto bad;
      const char *l = p;
      p += ll;
      if (hdb__lsm_ikey_cmp(s, (size_t)sl, l, (size_t)ll) > 0) goto bad;
      hdb__lsm_file *f;
      if ((st = hdb__lsm_file_new(dir, b, c, s, (size_t)sl, l, (size_t)ll, &f, err)) != HDB_OK)
        return st;
      st = hdb__lsm_edit_add_file(e, (int)a, f, err);
      hdb__lsm_file_unref(f);
      if (st != HDB_OK) return st;
      break;
    }
    default:
      goto bad;
    }
  }
  return HDB_OK;
bad:
  return hdb__fail(err, HDB_CORRUPT, "kv: %s: malformed edit in the record at offset %llu", name,
                   (unsigned long long)off);
}

static int cmp_l0(const void *a, const void *b) {
  const hdb__lsm_file *x = *(hdb__lsm_file *const *)a, *y = *(hdb__lsm_file *const *)b;
  return (x->number < y->number) - (x->number > y->number);
}

static int cmp_key(const void *a, const void *b) {
  const hdb__lsm_file *x = *(hdb__lsm_file *const *)a, *y = *(hdb__lsm_file *const *)b;
  int c = hdb__lsm_ikey_cmp(x->smallest.p, x->smallest.len, y->smallest.p, y->smallest.len);
  return c ? c : (x->number > y->number) - (x->number < y->number);
}

hdb_status hdb__lsm_version_apply(const hdb__lsm_version *base, const hdb__lsm_edit *e,
                                  hdb__lsm_version **out, hdb_error *err) {
  *out = NULL;
  hdb__lsm_version *v = hdb__lsm_version_new();
  if (!v) return hdb__fail(err, HDB_NOMEM, "kv: out of memory for a version");
  for (int l = 0; l < HDB__LSM_LEVELS; l++) {
    size_t cap = (base ? base->n[l] : 0);
    for (size_t i = 0; i < e->n_adds; i++) cap += e->adds[i].level == l;
    if (cap == 0) continue;
    v->files[l] = hdb__malloc(cap * sizeof(hdb__lsm_file *));
    if (!v->files[l]) {
      hdb__lsm_version_unref(v);
      return hdb__fail(err, HDB_NOMEM, "kv: out of memory for a version");
    }
    for (size_t i = 0; base && i < base->n[l]; i++) {
      hdb__lsm_file *f = base->files[l][i];
      int deleted = 0;
      for (size_t j = 0; j < e->n_dels && !deleted; j++)
        deleted = e->dels[j].level == l && e->dels[j].number == f->number;
      if (deleted) continue;
      file_ref(f);
      v->files[l][v->n[l]++] = f;
    }
    for (size_t i = 0; i < e->n_adds; i++) {
      if (e->adds[i].level != l) continue;
      file_ref(e->adds[i].file);
      v->files[l][v->n[l]++] = e->adds[i].file;
    }
    qsort(v->files[l], v->n[l], sizeof(hdb__lsm_file *), l == 0 ? cmp_l0 : cmp_key);
    for (size_t i = 1; l > 0 && i < v->n[l]; i++) {
      const hdb__lsm_file *a = v->files[l][i - 1], *b = v->files[l][i];
      if (hdb__lsm_ukey_cmp(a->largest.p, a->largest.len - 8, b->smallest.p, b->smallest.len - 8) >= 0) {
        hdb__lsm_version_unref(v);
        return hdb__fail(err, HDB_CORRUPT, "kv: tables %06llu and %06llu overlap in level %d",
                         (unsigned long long)a->number, (unsigned long long)b->number, l);
      }
    }
  }
  *out = v;
  return HDB_OK;
}

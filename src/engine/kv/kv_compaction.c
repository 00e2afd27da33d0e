/*
 * kv_compaction.c - flushes and leveled compaction.
 *
 * Policy (LevelDB's leveled scheme): level 0 holds flushed memtables and
 * may overlap; every deeper level is one sorted run 10x larger than the
 * one above (level 1: level1_size). A level's score is its size over its
 * target (level 0: table count over l0_compaction_trigger); the level with
 * the highest score >= 1 is compacted into the next: for level 0 the
 * oldest table plus every level-0 table overlapping it (transitively), for
 * deeper levels the next table after the level's round-robin pointer,
 * plus the overlapping tables of the next level. So a read touches at most
 * l0_stop_trigger level-0 tables plus one table per deeper level (bounded
 * read amplification), and each byte is rewritten about 10 times per level
 * (write amplification). Leveled rather than tiered: the store serves
 * point reads and range scans of agent state, where read amplification
 * and space (overwrites and deletes are frequent) matter more than ingest
 * speed; tiered would keep several overlapping runs per level.
 *
 * What a compaction drops, walking its merged input in internal-key
 * order with S = the oldest live snapshot (or the last sequence):
 *   D1. an entry older than a newer entry of the same key whose sequence
 *       is <= S (no snapshot can see the older one);
 *   D2. a tombstone with sequence <= S when no deeper level holds the key
 *       (nothing older remains for it to hide).
 * Outputs are cut only between user keys (invariant V2 of kv_version.c).
 * A single input table with nothing to merge is moved by an edit alone.
 *
 * Runs in the background thread (kv_db.c), or in the caller for manual
 * compaction, never both at once (bg_busy). Inputs are read through a
 * pinned version without the mutex; readers keep reading the old version
 * until the edit is installed, and the old tables live until the last
 * version listing them is released. A pending immutable memtable is
 * flushed between compaction steps so writers do not wait a whole
 * compaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/kv/kv_impl.h"

hdb_status hdb__lsm_build_table(hdb__lsm *db, hdb__lsm_it *it, uint64_t number,
                                hdb__lsm_file **out, hdb_error *err) {
  *out = NULL;
  char *path = hdb__lsm_path(db->dir, number, ".sst");
  if (!path) return hdb__fail(err, HDB_NOMEM, "kv: out of memory");
  hdb__lsm_tw *w = NULL;
  hdb__lsm_buf first = {0};
  hdb_status st = HDB_OK;
  it->vt->first(it);
  if (!it->valid) {
    if (it->st != HDB_OK) {
      st = it->st;
      if (err) *err = it->err;
    }
    goto done;
  }
  if ((st = hdb__lsm_tw_open(path, &db->opt, &w, err)) != HDB_OK) goto done;
  if ((st = hdb__lsm_buf_set(&first, it->key, it->klen, err)) != HDB_OK) goto done;
  const char *lk = NULL;
  size_t lkl = 0;
  for (; it->valid; it->vt->next(it)) {
    if ((st = hdb__lsm_tw_add(w, it->key, it->klen, it->val, it->vlen, err)) != HDB_OK) goto done;
    lk = it->key;
    lkl = it->klen;
  }
  if (it->st != HDB_OK) {
    st = it->st;
    if (err) *err = it->err;
    goto done;
  }
  hdb__lsm_buf last = {0};
  if ((st = hdb__lsm_buf_set(&last, lk, lkl, err)) != HDB_OK) goto done;
  uint64_t size;
  st = hdb__lsm_tw_finish(w, &size, err);
  w = NULL;
  hdb__lsm_file *f = NULL;
  if (st == HDB_OK)
    st = hdb__lsm_file_new(db->dir, number, size, first.p, first.len, last.p, last.len, &f, err);
  if (st == HDB_OK) st = hdb__lsm_table_open(path, &f->table, err);
  if (st == HDB_OK) hdb__lsm_table_set_cache(f->table, db->cache);
  hdb__lsm_buf_free(&last);
  if (st != HDB_OK) {
    if (f) hdb__lsm_file_unref(f);
    unlink(path);
    goto done;
  }
  *out = f;
done:
  hdb__lsm_tw_abandon(w);
  hdb__lsm_buf_free(&first);
  hdb__free_mem(path);
  return st;
}

static int re_added(const hdb__lsm_edit *e, uint64_t number) {
  for (size_t i = 0; i < e->n_adds; i++)
    if (e->adds[i].file->number == number) return 1;
  return 0;
}

hdb_status hdb__lsm_log_and_apply(hdb__lsm *db, hdb__lsm_edit *e, hdb_error *err) {
  e->has_next = 1;
  e->next_file = db->next_file;
  e->has_seq = 1;
  e->last_seq = db->last_seq;
  hdb__lsm_version *v;
  hdb_status st = hdb__lsm_version_apply(db->current, e, &v, err);
  if (st != HDB_OK) return st;
  /* Only the background owner writes the MANIFEST or changes current. */
  pthread_mutex_unlock(&db->mu);
  st = hdb__lsm_manifest_append(&db->manifest, e, err);
  pthread_mutex_lock(&db->mu);
  /* R1/R3: the new generation is published after the edit is durable and
   * before the version is installed, so before any file the edit makes
   * obsolete (a table, the flushed WAL) can be unlinked. */
  if (st == HDB_OK) st = hdb__lsm_publish_state(db, db->wal_number, err);
  if (st != HDB_OK) {
    hdb__lsm_version_unref(v);
    return st;
  }
  for (size_t i = 0; i < e->n_dels; i++) {
    const hdb__lsm_edit_del *d = &e->dels[i];
    if (re_added(e, d->number)) continue;
    for (size_t j = 0; j < db->current->n[d->level]; j++)
      if (db->current->files[d->level][j]->number == d->number)
        atomic_store(&db->current->files[d->level][j]->obsolete, 1);
  }
  if (e->has_log) db->log_number = e->log_number;
  hdb__lsm_version *old = db->current;
  db->current = v;
  hdb__lsm_version_unref(old);
  return HDB_OK;
}

hdb_status hdb__lsm_flush_imm(hdb__lsm *db, hdb_error *err) {
  hdb__lsm_mem *imm = db->imm;
  uint64_t number = db->next_file++;
  uint64_t old_log = db->imm_wal_number;
  hdb__lsm_mem_ref(imm);
  pthread_mutex_unlock(&db->mu);
  hdb__lsm_it *it = NULL;
  hdb__lsm_file *f = NULL;
  hdb_status st = hdb__lsm_mem_iter(imm, &it, err);
  if (st == HDB_OK) st = hdb__lsm_build_table(db, it, number, &f, err);
  if (it) it->vt->close(it);
  hdb__lsm_mem_unref(imm);
  pthread_mutex_lock(&db->mu);
  if (st != HDB_OK) return st;
  hdb__lsm_edit e;
  hdb__lsm_edit_init(&e);
  if (f) {
    st = hdb__lsm_edit_add_file(&e, 0, f, err);
    hdb__lsm_file_unref(f);
  }
  e.has_log = 1;
  e.log_number = db->wal_number;
  if (st == HDB_OK) st = hdb__lsm_log_and_apply(db, &e, err);
  hdb__lsm_edit_free(&e);
  if (st != HDB_OK) return st;
  hdb__lsm_mem_unref(db->imm);
  db->imm = NULL;
  db->stats.flushes++;
  char *path = hdb__lsm_path(db->dir, old_log, ".log");
  if (path) unlink(path);
  hdb__free_mem(path);
  pthread_cond_broadcast(&db->bg_cv);
  return HDB_OK;
}

static double level_target(const hdb__lsm *db, int level) {
  double t = (double)db->opt.level1_size;
  for (int i = 1; i < level; i++) t *= 10;
  return t;
}

static int best_level(const hdb__lsm *db, double *score) {
  const hdb__lsm_version *v = db->current;
  int best = -1;
  double bs = 0;
  double s0 = (double)v->n[0] / db->opt.l0_compaction_trigger;
  if (s0 >= 1) {
    best = 0;
    bs = s0;
  }
  for (int l = 1; l < HDB__LSM_LEVELS - 1; l++) {
    double s = (double)hdb__lsm_level_bytes(v, l) / level_target(db, l);
    if (s >= 1 && s > bs) {
      best = l;
      bs = s;
    }
  }
  if (score) *score = bs;
  return best;
}

int hdb__lsm_needs_compaction(const hdb__lsm *db) {
  return best_level(db, NULL) >= 0;
}

typedef struct compaction {
  int level;
  int manual; /* always rewrite: a manual compaction exists to drop garbage */
  hdb__lsm_file **in[2];
  size_t nin[2];
} compaction;

static void compaction_free(compaction *c) {
  hdb__free_mem(c->in[0]);
  hdb__free_mem(c->in[1]);
}

/* User-key range of files. */
static void range_of(hdb__lsm_file **f, size_t n, const char **lo, size_t *lolen,
                     const char **hi, size_t *hilen) {
  *lo = *hi = NULL;
  for (size_t i = 0; i < n; i++) {
    const hdb__lsm_buf *s = &f[i]->smallest, *l = &f[i]->largest;
    if (!*lo || hdb__lsm_ukey_cmp(s->p, s->len - 8, *lo, *lolen) < 0) {
      *lo = s->p;
      *lolen = s->len - 8;
    }
    if (!*hi || hdb__lsm_ukey_cmp(l->p, l->len - 8, *hi, *hilen) > 0) {
      *hi = l->p;
      *hilen = l->len - 8;
    }
  }
}

/* Level-0 inputs: the given seeds plus every overlapping level-0 table,
 * until the range stops growing (older overlapping tables must move down
 * together, or a newer entry could end up below an older one). */
static hdb_status expand_l0(const hdb__lsm_version *v, compaction *c, hdb_error *err) {
  for (;;) {
    const char *lo, *hi;
    size_t lolen = 0, hilen = 0;
    range_of(c->in[0], c->nin[0], &lo, &lolen, &hi, &hilen);
    hdb__lsm_file **o;
    size_t n;
    hdb_status st = hdb__lsm_overlaps(v, 0, lo, lolen, hi, hilen, &o, &n, err);
    if (st != HDB_OK) return st;
    if (n == c->nin[0]) {
      hdb__free_mem(o);
      return HDB_OK;
    }
    hdb__free_mem(c->in[0]);
    c->in[0] = o;
    c->nin[0] = n;
  }
}

static hdb_status add_next_level(const hdb__lsm_version *v, compaction *c, hdb_error *err) {
  const char *lo, *hi;
  size_t lolen = 0, hilen = 0;
  range_of(c->in[0], c->nin[0], &lo, &lolen, &hi, &hilen);
  return hdb__lsm_overlaps(v, c->level + 1, lo, lolen, hi, hilen, &c->in[1], &c->nin[1], err);
}

/* Monotonic per-level cursors for the "no deeper data" test (D2). */
typedef struct base_check {
  size_t pos[HDB__LSM_LEVELS];
} base_check;

static int is_base_level(const hdb__lsm_version *v, int out_level, base_check *b, const char *k,
                         size_t n) {
  for (int l = out_level + 1; l < HDB__LSM_LEVELS; l++) {
    while (b->pos[l] < v->n[l]) {
      const hdb__lsm_file *f = v->files[l][b->pos[l]];
      if (hdb__lsm_ukey_cmp(k, n, f->largest.p, f->largest.len - 8) <= 0) {
        if (hdb__lsm_ukey_cmp(k, n, f->smallest.p, f->smallest.len - 8) >= 0) return 0;
        break;
      }
      b->pos[l]++;
    }
  }
  return 1;
}

typedef struct outputs {
  hdb__lsm_tw *w;
  uint64_t number;
  hdb__lsm_buf first, last;
  hdb__lsm_file **files;
  size_t n, cap;
  uint64_t bytes;
} outputs;

static hdb_status finish_output(hdb__lsm *db, outputs *o, hdb_error *err) {
  if (!o->w) return HDB_OK;
  uint64_t size;
  hdb_status st = hdb__lsm_tw_finish(o->w, &size, err);
  o->w = NULL;
  if (st != HDB_OK) return st;
  hdb__lsm_file *f;
  st = hdb__lsm_file_new(db->dir, o->number, size, o->first.p, o->first.len, o->last.p,
                         o->last.len, &f, err);
  if (st == HDB_OK) st = hdb__lsm_table_open(f->path, &f->table, err);
  if (st == HDB_OK && o->n == o->cap) {
    size_t c = o->cap ? o->cap * 2 : 8;
    hdb__lsm_file **a = hdb__realloc(o->files, c * sizeof *a);
    if (!a)
      st = hdb__fail(err, HDB_NOMEM, "kv: out of memory");
    else {
      o->files = a;
      o->cap = c;
    }
  }
  if (st != HDB_OK) {
    if (f) {
      atomic_store(&f->obsolete, 1);
      hdb__lsm_file_unref(f);
    }
    return st;
  }
  o->files[o->n++] = f;
  o->bytes += size; /* added to the stats under the mutex */
  return HDB_OK;
}

static void outputs_discard(outputs *o) {
  hdb__lsm_tw_abandon(o->w);
  o->w = NULL;
  for (size_t i = 0; i < o->n; i++) {
    atomic_store(&o->files[i]->obsolete, 1);
    hdb__lsm_file_unref(o->files[i]);
  }
  hdb__free_mem(o->files);
  hdb__lsm_buf_free(&o->first);
  hdb__lsm_buf_free(&o->last);
}

static hdb_status run(hdb__lsm *db, compaction *c, hdb_error *err) {
  hdb__lsm_edit e;
  hdb__lsm_edit_init(&e);
  hdb_status st = HDB_OK;
  int out_level = c->level + 1;
  db->stats.compactions++;
  /* Trivial move: one table, nothing to merge with. */
  if (!c->manual && c->nin[0] == 1 && c->nin[1] == 0) {
    st = hdb__lsm_edit_del_file(&e, c->level, c->in[0][0]->number, err);
    if (st == HDB_OK) st = hdb__lsm_edit_add_file(&e, out_level, c->in[0][0], err);
    if (st == HDB_OK) st = hdb__lsm_log_and_apply(db, &e, err);
    hdb__lsm_edit_free(&e);
    return st;
  }
  uint64_t smallest_snap = db->snaps.next != &db->snaps ? db->snaps.next->seq : db->last_seq;
  hdb__lsm_version *v = db->current;
  hdb__lsm_version_ref(v);
  for (int w = 0; w < 2; w++)
    for (size_t i = 0; i < c->nin[w]; i++) db->stats.compaction_bytes_read += c->in[w][i]->size;
  pthread_mutex_unlock(&db->mu);

  outputs o;
  memset(&o, 0, sizeof o);
  base_check bc;
  memset(&bc, 0, sizeof bc);
  hdb__lsm_buf cur = {0};
  int has_cur = 0;
  uint64_t last_seq_for_key = 0;
  hdb__lsm_it **kids = NULL, *it = NULL;
  size_t nk = 0;
  kids = hdb__calloc(c->nin[0] + 1, sizeof *kids);
  if (!kids) {
    st = hdb__fail(err, HDB_NOMEM, "kv: out of memory");
    goto unlocked_done;
  }
  if (c->level == 0) {
    for (size_t i = 0; i < c->nin[0] && st == HDB_OK; i++) {
      st = hdb__lsm_table_iter(c->in[0][i]->table, &kids[nk], err);
      if (st == HDB_OK) nk++;
    }
  } else {
    st = hdb__lsm_level_iter(c->in[0], c->nin[0], &kids[nk], err);
    if (st == HDB_OK) nk++;
  }
  if (st == HDB_OK && c->nin[1] > 0) {
    st = hdb__lsm_level_iter(c->in[1], c->nin[1], &kids[nk], err);
    if (st == HDB_OK) nk++;
  }
  if (st != HDB_OK) {
    for (size_t i = 0; i < nk; i++) kids[i]->vt->close(kids[i]);
    hdb__free_mem(kids);
    goto unlocked_done;
  }
  if ((st = hdb__lsm_merge_new(kids, nk, &it, err)) != HDB_OK) goto unlocked_done;
  uint64_t steps = 0;
  for (it->vt->first(it); it->valid; it->vt->next(it)) {
    if (++steps % 1024 == 0) {
      pthread_mutex_lock(&db->mu);
      if (db->imm && st == HDB_OK) st = hdb__lsm_flush_imm(db, err);
      int stop = db->shutting_down;
      pthread_mutex_unlock(&db->mu);
      if (st != HDB_OK) goto unlocked_done;
      if (stop) {
        st = HDB_DONE; /* abandoned: nothing changes */
        goto unlocked_done;
      }
    }
    const char *k = it->key;
    size_t uk = it->klen - 8;
    uint64_t tag = hdb__lsm_ikey_tag(k, it->klen), seq = tag >> 8;
    int new_key = !has_cur || hdb__lsm_ukey_cmp(k, uk, cur.p, cur.len) != 0;
    if (new_key) {
      if ((st = hdb__lsm_buf_set(&cur, k, uk, err)) != HDB_OK) goto unlocked_done;
      has_cur = 1;
      last_seq_for_key = HDB__LSM_MAX_SEQ + 1;
    }
    int drop = 0;
    if (last_seq_for_key <= smallest_snap)
      drop = 1; /* D1 */
    else if ((tag & 0xff) == HDB__LSM_DEL && seq <= smallest_snap &&
             is_base_level(v, out_level, &bc, k, uk))
      drop = 1; /* D2 */
    last_seq_for_key = seq;
    if (drop) continue;
    if (o.w && new_key && hdb__lsm_tw_size(o.w) >= db->opt.table_size) {
      if ((st = finish_output(db, &o, err)) != HDB_OK) goto unlocked_done;
    }
    if (!o.w) {
      pthread_mutex_lock(&db->mu);
      o.number = db->next_file++;
      pthread_mutex_unlock(&db->mu);
      char *path = hdb__lsm_path(db->dir, o.number, ".sst");
      if (!path) {
        st = hdb__fail(err, HDB_NOMEM, "kv: out of memory");
        goto unlocked_done;
      }
      st = hdb__lsm_tw_open(path, &db->opt, &o.w, err);
      hdb__free_mem(path);
      if (st == HDB_OK) st = hdb__lsm_buf_set(&o.first, it->key, it->klen, err);
      if (st != HDB_OK) goto unlocked_done;
    }
    if ((st = hdb__lsm_tw_add(o.w, it->key, it->klen, it->val, it->vlen, err)) != HDB_OK ||
        (st = hdb__lsm_buf_set(&o.last, it->key, it->klen, err)) != HDB_OK)
      goto unlocked_done;
  }
  if (it->st != HDB_OK) {
    st = it->st;
    if (err) *err = it->err;
    goto unlocked_done;
  }
  st = finish_output(db, &o, err);
unlocked_done:
  if (it) it->vt->close(it);
  hdb__lsm_buf_free(&cur);
  pthread_mutex_lock(&db->mu);
  hdb__lsm_version_unref(v);
  db->stats.compaction_bytes_written += o.bytes;
  if (st == HDB_OK) {
    for (int w = 0; w < 2 && st == HDB_OK; w++)
      for (size_t i = 0; i < c->nin[w] && st == HDB_OK; i++)
        st = hdb__lsm_edit_del_file(&e, c->level + w, c->in[w][i]->number, err);
    for (size_t i = 0; i < o.n && st == HDB_OK; i++)
      st = hdb__lsm_edit_add_file(&e, out_level, o.files[i], err);
    if (st == HDB_OK) st = hdb__lsm_log_and_apply(db, &e, err);
    if (st == HDB_OK) {
      /* Installed: the outputs now belong to the version. */
      for (size_t i = 0; i < o.n; i++) hdb__lsm_file_unref(o.files[i]);
      o.n = 0;
    }
  }
  outputs_discard(&o);
  hdb__lsm_edit_free(&e);
  return st == HDB_DONE ? HDB_OK : st;
}

hdb_status hdb__lsm_compact_pick_run(hdb__lsm *db, hdb_error *err) {
  int level = best_level(db, NULL);
  if (level < 0) return HDB_OK;
  const hdb__lsm_version *v = db->current;
  compaction c;
  memset(&c, 0, sizeof c);
  c.level = level;
  hdb_status st;
  c.in[0] = hdb__malloc(sizeof(hdb__lsm_file *));
  if (!c.in[0]) return hdb__fail(err, HDB_NOMEM, "kv: out of memory");
  c.nin[0] = 1;
  if (level == 0) {
    c.in[0][0] = v->files[0][v->n[0] - 1]; /* the oldest */
    st = expand_l0(v, &c, err);
  } else {
    size_t pick = 0;
    hdb__lsm_buf *p = &db->compact_ptr[level];
    if (p->len) {
      while (pick < v->n[level] && hdb__lsm_ikey_cmp(v->files[level][pick]->largest.p,
                                                    v->files[level][pick]->largest.len, p->p,
                                                    p->len) <= 0)
        pick++;
      if (pick == v->n[level]) pick = 0;
    }
    c.in[0][0] = v->files[level][pick];
    st = hdb__lsm_buf_set(p, c.in[0][0]->largest.p, c.in[0][0]->largest.len, err);
  }
  if (st == HDB_OK) st = add_next_level(v, &c, err);
  if (st == HDB_OK) st = run(db, &c, err);
  compaction_free(&c);
  return st;
}

hdb_status hdb__lsm_compact_level_range(hdb__lsm *db, int level, const char *lo, size_t lolen,
                                        const char *hi, size_t hilen, hdb_error *err) {
  compaction c;
  memset(&c, 0, sizeof c);
  c.level = level;
  c.manual = 1;
  hdb_status st = hdb__lsm_overlaps(db->current, level, lo, lolen, hi, hilen, &c.in[0], &c.nin[0],
                                    err);
  if (st == HDB_OK && c.nin[0] > 0) {
    if (level == 0) st = expand_l0(db->current, &c, err);
    if (st == HDB_OK) st = add_next_level(db->current, &c, err);
    if (st == HDB_OK) st = run(db, &c, err);
  }
  compaction_free(&c);
  return st;
}

/*
 * kv_reader.c - reader mode: a handle attached to a store that another
 * process (or handle) writes, without LOCK and without writing any file,
 * and its promotion to the writer.
 *
 * The writer publishes (generation, live WAL) in LOCK whenever the set of
 * live files changes (README R1). A reader keeps:
 *   - the version read from CURRENT -> MANIFEST, whose tables it has open
 *     (tables of the previous version are reused by file number);
 *   - one private memtable per live WAL it follows (rw_live[0]: the newest,
 *     the one the writer appends to; rw_live[1]: the older one(s), which
 *     the writer no longer appends to), each with the offset after the
 *     last complete record read. A cache (rw) lets a refresh reuse a WAL
 *     already read: only its new records are read;
 *   - the generation its state was built at.
 * Before each get, iterator or snapshot (hdb__lsm_reader_refresh):
 *   same generation: read the newest WAL's new complete records (one
 *     pread of LOCK, one fstat, and a pread when it grew);
 *   otherwise a full refresh: read the generation, CURRENT, the MANIFEST,
 *     open the tables, follow the WALs numbered from the MANIFEST's log
 *     number up to the published live WAL, read the generation again; if
 *     it moved, or a file vanished, start again from CURRENT (R4),
 *     at most REFRESH_TRIES times, then HDB_BUSY.
 * The new state is installed under mu; iterators and snapshots keep the
 * memtables and version they pinned (R7), and tables the reader has
 * mapped stay readable after the writer unlinks them.
 *
 * Locks: pmu serializes promotions (taking LOCK may wait); rmu serializes
 * refreshes and the promotion's swap; mu guards what
 * readers pin (mem, imm, current, last_seq), as in writer mode.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/kv/kv_impl.h"

/* Attempts of a full refresh while the writer keeps changing the files. */
#define REFRESH_TRIES 50
/* Failures of a refresh with the generation unchanged before the error is
 * reported as it is (it is then real damage, not a race). */
#define SAME_GEN_TRIES 3

/* ------------------------------------------------------------------ */
/* Followed WALs                                                       */
/* ------------------------------------------------------------------ */

static void rwal_free(hdb__lsm_rwal *w) {
  if (!w) return;
  hdb__lsm_mem_unref(w->mem);
  if (w->fd >= 0) close(w->fd);
  hdb__free_mem(w->path);
  hdb__free_mem(w);
}

/* A new cache entry following WAL number (0: a merged set, no file). */
static hdb_status rwal_new(hdb__lsm *db, uint64_t number, hdb__lsm_rwal **out, hdb_error *err) {
  *out = NULL;
  int slot = -1;
  for (int i = 0; i < HDB__LSM_RWAL_CACHE && slot < 0; i++)
    if (!db->rw[i]) slot = i;
  if (slot < 0) return hdb__fail(err, HDB_ERROR, "kv: %s: reader WAL cache full", db->dir);
  hdb__lsm_rwal *w = hdb__calloc(1, sizeof *w);
  if (!w) return hdb__fail(err, HDB_NOMEM, "kv: out of memory");
  w->fd = -1;
  w->number = number;
  hdb_status st = hdb__lsm_mem_new(&w->mem, err);
  if (st == HDB_OK && number) {
    w->path = hdb__lsm_path(db->dir, number, ".log");
    if (!w->path) st = hdb__fail(err, HDB_NOMEM, "kv: out of memory");
  }
  if (st == HDB_OK && number) {
    w->fd = open(w->path, O_RDONLY | O_CLOEXEC);
    if (w->fd < 0)
      st = hdb__fail(err, errno == ENOENT ? HDB_NOT_FOUND : HDB_IO, "kv: %s: open failed: %s",
                     w->path, strerror(errno));
  }
  if (st != HDB_OK) {
    rwal_free(w);
    return st;
  }
  db->rw[slot] = w;
  *out = w;
  return HDB_OK;
}

static hdb__lsm_rwal *rwal_find(hdb__lsm *db, uint64_t number) {
  for (int i = 0; i < HDB__LSM_RWAL_CACHE; i++)
    if (db->rw[i] && db->rw[i]->number == number && number) return db->rw[i];
  return NULL;
}

/* Drops cache entries the installed state does not use. */
static void rwal_gc(hdb__lsm *db) {
  for (int i = 0; i < HDB__LSM_RWAL_CACHE; i++) {
    hdb__lsm_rwal *w = db->rw[i];
    if (w && w != db->rw_live[0] && w != db->rw_live[1]) {
      rwal_free(w);
      db->rw[i] = NULL;
    }
  }
}

static void noop_op(void *ctx, uint64_t seq, int type, const char *key, size_t klen,
                    const char *val, size_t vlen) {
  (void)ctx, (void)seq, (void)type, (void)key, (void)klen, (void)val, (void)vlen;
}

typedef struct tail_ctx {
  hdb__lsm_rwal *w;   /* offsets and max_seq */
  hdb__lsm_mem *mem;  /* where records go */
  const char *path;
} tail_ctx;

static void tail_op(void *vctx, uint64_t seq, int type, const char *key, size_t klen,
                    const char *val, size_t vlen) {
  tail_ctx *c = vctx;
  hdb__lsm_mem_add(c->mem, seq, type, key, klen, val, vlen);
  if (seq > c->w->max_seq) c->w->max_seq = seq;
}

/* One complete record: validated first, memory reserved, then applied
 * whole (R5), and the offset moves past it. */
static hdb_status tail_record(void *vctx, const char *p, size_t n, uint64_t off, hdb_error *err) {
  tail_ctx *c = vctx;
  hdb_status st = hdb__lsm_batch_iterate(p, n, noop_op, NULL, err);
  if (st == HDB_CORRUPT) {
    hdb__err_prefix(err, "kv: %s: WAL record at offset %llu", c->path, (unsigned long long)off);
    return st;
  }
  if (st != HDB_OK) return st;
  uint64_t count = hdb__lsm_get32(p + 8);
  st = hdb__lsm_mem_reserve(c->mem, n + count * (hdb__lsm_mem_entry_size(0, 0) + 8), err);
  if (st != HDB_OK) return st;
  st = hdb__lsm_batch_iterate(p, n, tail_op, c, err);
  if (st == HDB_OK) c->w->off = off + HDB__LSM_REC_HEADER + n;
  return st;
}

/* Reads the complete records appended to w's file since w->off into mem.
 * Bytes that do not yet form a complete record are left for later. */
static hdb_status rwal_tail(hdb__lsm_rwal *w, int fd, const char *path, hdb__lsm_mem *mem,
                            hdb_error *err) {
  struct stat sb;
  if (fd < 0) return HDB_OK;
  if (fstat(fd, &sb) != 0)
    return hdb__fail(err, HDB_IO, "kv: %s: stat failed: %s", path, strerror(errno));
  uint64_t size = (uint64_t)sb.st_size;
  if (size <= w->off || size < HDB__LSM_LOG_HEADER) return HDB_OK;
  size_t n = (size_t)(size - w->off);
  char *buf = hdb__malloc(n);
  if (!buf) return hdb__fail(err, HDB_NOMEM, "kv: out of memory reading %s", path);
  hdb_status st = hdb__lsm_pread_all(fd, buf, n, w->off, path, err);
  tail_ctx c = {w, mem, path};
  uint64_t end;
  if (st == HDB_OK && w->off == 0) {
    st = hdb__lsm_log_replay(path, buf, n, HDB__LSM_WAL_MAGIC, tail_record, &c, &end, err);
    /* A header not yet complete leaves off at 0: read again later. */
    if (st == HDB_OK && end >= HDB__LSM_LOG_HEADER) w->off = end;
  } else if (st == HDB_OK) {
    st = hdb__lsm_log_replay_tail(path, buf, n, w->off, HDB__LSM_WAL_MAGIC, tail_record, &c, &end,
                                  err);
    if (st == HDB_OK) w->off = end;
  }
  hdb__free_mem(buf);
  return st;
}

/* ------------------------------------------------------------------ */
/* Refresh                                                             */
/* ------------------------------------------------------------------ */

static void open_state_fd(hdb__lsm *db) {
  if (db->state_fd >= 0) return;
  size_t n = strlen(db->dir) + 8;
  char *p = hdb__malloc(n);
  if (!p) return;
  snprintf(p, n, "%s/LOCK", db->dir);
  /* Read-only: a reader never creates or writes a file (R8). */
  db->state_fd = open(p, O_RDONLY | O_CLOEXEC);
  hdb__free_mem(p);
}

static hdb__lsm_file *find_open_file(const hdb__lsm_version *v, uint64_t number) {
  if (!v) return NULL;
  for (int l = 0; l < HDB__LSM_LEVELS; l++)
    for (size_t i = 0; i < v->n[l]; i++)
      if (v->files[l][i]->number == number && v->files[l][i]->table) return v->files[l][i];
  return NULL;
}

/* Opens v's tables, reusing the reader's open ones (same number, same
 * file: numbers are never reused). v is private to the caller. */
static hdb_status open_tables(hdb__lsm *db, hdb__lsm_version *v, hdb_error *err) {
  for (int l = 0; l < HDB__LSM_LEVELS; l++)
    for (size_t i = 0; i < v->n[l]; i++) {
      hdb__lsm_file *f = v->files[l][i];
      hdb__lsm_file *old = find_open_file(db->current, f->number);
      if (old) {
        atomic_fetch_add_explicit(&old->refs, 1, memory_order_relaxed);
        v->files[l][i] = old;
        hdb__lsm_file_unref(f);
        continue;
      }
      hdb_status st = hdb__lsm_table_open(f->path, &f->table, err);
      if (st != HDB_OK) return st;
      hdb__lsm_table_set_cache(f->table, db->cache);
    }
  return HDB_OK;
}

/* One attempt of a full refresh at the published state s1 (s1->wal 0:
 * unknown). HDB_OK when installed; any error leaves the old state. */
static hdb_status refresh_once(hdb__lsm *db, const hdb__lsm_state *s1, hdb_error *err) {
  hdb__lsm_recovered r;
  hdb__lsm_dir_scan ds = {0};
  hdb__lsm_rwal *newest = NULL, *older = NULL;
  char *man = NULL;
  /* Entries of abandoned attempts go (the cache stays small however often
   * the writer rotates meanwhile). */
  rwal_gc(db);
  /* The MANIFEST is a log: while CURRENT names the one already read, only
   * the edits appended since are applied, to a private copy of the
   * version (else it is read whole). */
  uint64_t mnum = 0;
  hdb_status st = hdb__lsm_manifest_current(db->dir, &mnum, err);
  if (st == HDB_OK && db->rman_end && mnum == db->rman_number) {
    hdb__lsm_edit none;
    hdb__lsm_edit_init(&none);
    memset(&r, 0, sizeof r);
    r.log_number = db->log_number;
    r.next_file = db->next_file;
    r.manifest_number = mnum;
    r.manifest_end = db->rman_end;
    st = hdb__lsm_version_apply(db->current, &none, &r.version, err);
    if (st == HDB_OK) st = hdb__lsm_manifest_catch_up(db->dir, &r, err);
    if (st != HDB_OK) {
      hdb__lsm_version_unref(r.version);
      return st;
    }
  } else {
    if (st == HDB_OK) st = hdb__lsm_manifest_recover(db->dir, &r, err);
    if (st == HDB_NOT_FOUND)
      return hdb__fail(err, HDB_NOT_FOUND, "kv: %s: no store here (no CURRENT)", db->dir);
    if (st != HDB_OK) return st;
  }
  if ((st = open_tables(db, r.version, err)) != HDB_OK) goto fail;
  if (!(man = hdb__lsm_path(db->dir, r.manifest_number, "MANIFEST"))) {
    st = hdb__fail(err, HDB_NOMEM, "kv: out of memory");
    goto fail;
  }
  if ((st = hdb__lsm_scan_dir(db->dir, &ds, err)) != HDB_OK) goto fail;
  /* Live WALs: from the MANIFEST's log number up to the published live
   * WAL (a higher one is a rotation not yet published: empty, R1). */
  size_t lo = 0, hi = ds.nlogs;
  while (lo < ds.nlogs && ds.logs[lo] < r.log_number) lo++;
  if (s1->wal)
    while (hi > lo && ds.logs[hi - 1] > s1->wal) hi--;
  if (hi > lo) {
    uint64_t num = ds.logs[hi - 1];
    newest = rwal_find(db, num);
    if (!newest && (st = rwal_new(db, num, &newest, err)) != HDB_OK) goto fail;
    if ((st = rwal_tail(newest, newest->fd, newest->path, newest->mem, err)) != HDB_OK) goto fail;
  }
  if (hi - lo == 2) {
    /* The usual case after a rotation: the previous WAL, reused. */
    uint64_t num = ds.logs[lo];
    older = rwal_find(db, num);
    if (!older && (st = rwal_new(db, num, &older, err)) != HDB_OK) goto fail;
    if ((st = rwal_tail(older, older->fd, older->path, older->mem, err)) != HDB_OK) goto fail;
  } else if (hi - lo > 2) {
    /* Several older WALs (a writer died with unflushed logs): read whole
     * into one memtable, oldest first. */
    if ((st = rwal_new(db, 0, &older, err)) != HDB_OK) goto fail;
    for (size_t i = lo; i + 1 < hi && st == HDB_OK; i++) {
      char *path = hdb__lsm_path(db->dir, ds.logs[i], ".log");
      if (!path) {
        st = hdb__fail(err, HDB_NOMEM, "kv: out of memory");
        break;
      }
      int fd = open(path, O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        st = hdb__fail(err, errno == ENOENT ? HDB_NOT_FOUND : HDB_IO, "kv: %s: open failed: %s",
                       path, strerror(errno));
      } else {
        hdb__lsm_rwal one = {ds.logs[i], NULL, -1, 0, 0, NULL};
        st = rwal_tail(&one, fd, path, older->mem, err);
        if (one.max_seq > older->max_seq) older->max_seq = one.max_seq;
        close(fd);
      }
      hdb__free_mem(path);
    }
    if (st != HDB_OK) goto fail;
  }
  /* R4: nothing was published while we read, so every file we read was
   * live at once, and none we needed could have been deleted. */
  hdb__lsm_state s2;
  hdb__lsm_read_state(db->state_fd, &s2);
  if (s2.gen != s1->gen) {
    st = hdb__fail(err, HDB_BUSY, "kv: %s: the writer changed the store during a refresh", db->dir);
    goto fail;
  }
  hdb__lsm_mem *fresh = NULL;
  if (!newest && (st = hdb__lsm_mem_new(&fresh, err)) != HDB_OK) goto fail;

  pthread_mutex_lock(&db->mu);
  hdb__lsm_mem *old_mem = db->mem, *old_imm = db->imm;
  hdb__lsm_version *old_v = db->current;
  db->mem = newest ? newest->mem : fresh;
  if (newest) hdb__lsm_mem_ref(db->mem);
  db->imm = older ? older->mem : NULL;
  if (older) hdb__lsm_mem_ref(db->imm);
  db->current = r.version;
  r.version = NULL;
  uint64_t seq = db->last_seq;
  if (r.last_seq > seq) seq = r.last_seq;
  if (newest && newest->max_seq > seq) seq = newest->max_seq;
  if (older && older->max_seq > seq) seq = older->max_seq;
  db->last_seq = seq; /* R6: never backwards */
  db->next_file = r.next_file;
  db->log_number = r.log_number;
  db->wal_number = newest ? newest->number : 0;
  db->imm_wal_number = older ? older->number : 0;
  db->gen = s1->gen;
  db->rw_live[0] = newest;
  db->rw_live[1] = older;
  hdb__free_mem(db->rman_path);
  db->rman_path = man;
  man = NULL;
  db->rman_number = r.manifest_number;
  db->rman_end = r.manifest_end;
  db->stats.reader_refreshes++;
  if (old_v) hdb__lsm_version_unref(old_v);
  pthread_mutex_unlock(&db->mu);
  hdb__lsm_mem_unref(old_mem);
  hdb__lsm_mem_unref(old_imm);
  rwal_gc(db);
  hdb__free_mem(ds.logs);
  return HDB_OK;
fail:
  hdb__lsm_version_unref(r.version);
  hdb__free_mem(ds.logs);
  hdb__free_mem(man);
  /* A merged set is never reused; other new entries may be (same file). */
  if (older && older->number == 0) {
    for (int i = 0; i < HDB__LSM_RWAL_CACHE; i++)
      if (db->rw[i] == older) db->rw[i] = NULL;
    rwal_free(older);
  }
  return st;
}

static void sleep_us(long us) {
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};
  nanosleep(&ts, NULL);
}

/* Full refresh with retries (rmu held). */
static hdb_status refresh_full(hdb__lsm *db, hdb_error *err) {
  int same = 0;
  hdb_status st = HDB_OK;
  for (int attempt = 0; attempt < REFRESH_TRIES; attempt++) {
    hdb__lsm_state s1, s2;
    open_state_fd(db);
    hdb__lsm_read_state(db->state_fd, &s1);
    st = refresh_once(db, &s1, err);
    if (st == HDB_OK) return HDB_OK;
    if (st == HDB_NOMEM) break;
    pthread_mutex_lock(&db->mu);
    db->stats.reader_retries++;
    pthread_mutex_unlock(&db->mu);
    hdb__lsm_read_state(db->state_fd, &s2);
    if (s2.gen == s1.gen && st != HDB_BUSY && ++same >= SAME_GEN_TRIES) break; /* real damage */
    /* The writer moved files under us: start again from CURRENT (R4). */
    sleep_us(attempt < 5 ? 100 : 1000);
  }
  rwal_gc(db);
  if (st == HDB_BUSY || (st != HDB_NOMEM && same < SAME_GEN_TRIES))
    return hdb__fail(err, HDB_BUSY,
                     "kv: %s: the writer kept replacing files during %d refresh attempts; "
                     "try again",
                     db->dir, REFRESH_TRIES);
  return st;
}

hdb_status hdb__lsm_reader_attach(hdb__lsm *db, hdb_error *err) {
  atomic_store(&db->reader, 1);
  hdb_status st = hdb__lsm_mem_new(&db->mem, err);
  if (st != HDB_OK) return st;
  if (!(db->current = hdb__lsm_version_new())) return hdb__fail(err, HDB_NOMEM, "kv: out of memory");
  pthread_mutex_lock(&db->rmu);
  st = refresh_full(db, err);
  pthread_mutex_unlock(&db->rmu);
  return st;
}

hdb_status hdb__lsm_reader_refresh(hdb__lsm *db, hdb_error *err) {
  if (!atomic_load(&db->reader)) return HDB_OK;
  pthread_mutex_lock(&db->rmu);
  hdb_status st = HDB_OK;
  if (!atomic_load(&db->reader)) goto done; /* promoted meanwhile */
  open_state_fd(db);
  hdb__lsm_state s;
  hdb__lsm_read_state(db->state_fd, &s);
  if (s.gen != db->gen) {
    st = refresh_full(db, err);
    goto done;
  }
  /* Same generation: the writer only appended to the newest WAL (R2). */
  hdb__lsm_rwal *w = db->rw_live[0];
  if (!w) goto done;
  uint64_t before = w->off;
  st = rwal_tail(w, w->fd, w->path, w->mem, err);
  if (st == HDB_OK && w->off != before) {
    pthread_mutex_lock(&db->mu);
    if (w->max_seq > db->last_seq) db->last_seq = w->max_seq;
    pthread_mutex_unlock(&db->mu);
  }
done:
  pthread_mutex_unlock(&db->rmu);
  return st;
}

void hdb__lsm_reader_free(hdb__lsm *db) {
  db->rw_live[0] = db->rw_live[1] = NULL;
  for (int i = 0; i < HDB__LSM_RWAL_CACHE; i++) {
    rwal_free(db->rw[i]);
    db->rw[i] = NULL;
  }
  if (db->state_fd >= 0) close(db->state_fd);
  db->state_fd = -1;
  hdb__free_mem(db->rman_path);
  db->rman_path = NULL;
  db->rman_number = db->rman_end = 0;
}

/* ------------------------------------------------------------------ */
/* Promotion                                                           */
/* ------------------------------------------------------------------ */

hdb_status hdb__lsm_become_writer(hdb__lsm *db, hdb_error *err) {
  if (!atomic_load(&db->reader)) return HDB_OK;
  /* pmu serializes promoters (their flock calls would conflict); reads go
   * on under rmu while the lock is awaited. */
  pthread_mutex_lock(&db->pmu);
  hdb_status st = HDB_OK;
  hdb__lsm *tmp = NULL;
  hdb__lsm_mem *m = NULL;
  if (!atomic_load(&db->reader)) {
    pthread_mutex_unlock(&db->pmu);
    return HDB_OK;
  }
  if ((st = hdb__lsm_take_lock(db, NULL, err)) != HDB_OK) {
    pthread_mutex_unlock(&db->pmu);
    return st;
  }
  pthread_mutex_lock(&db->rmu);
  /* Recover as a new writer would, into a private shell, so the reader
   * state stays readable by other threads until the swap. */
  tmp = hdb__calloc(1, sizeof *tmp);
  if (!tmp) {
    st = hdb__fail(err, HDB_NOMEM, "kv: out of memory");
    goto fail;
  }
  tmp->dir = db->dir;
  tmp->opt = db->opt;
  tmp->opt.no_create = 1;
  tmp->opt.error_if_exists = 0;
  tmp->lock_fd = db->lock_fd;
  tmp->cache = db->cache; /* borrowed: tables opened by recovery use it */
  tmp->state_fd = -1;
  tmp->wal.fd = tmp->manifest.fd = -1;
  if ((st = hdb__lsm_recover(tmp, err)) != HDB_OK) goto fail;
  if ((st = hdb__lsm_mem_new(&m, err)) != HDB_OK) goto fail;

  pthread_mutex_lock(&db->mu);
  hdb__lsm_mem *old_mem = db->mem, *old_imm = db->imm;
  hdb__lsm_version *old_v = db->current;
  db->current = tmp->current;
  db->mem = m;
  db->imm = NULL;
  db->wal = tmp->wal;
  db->manifest = tmp->manifest;
  db->wal_number = tmp->wal_number;
  db->imm_wal_number = 0;
  db->next_file = tmp->next_file;
  db->log_number = tmp->log_number;
  if (tmp->last_seq > db->last_seq) db->last_seq = tmp->last_seq;
  db->gen = tmp->gen;
  atomic_store(&db->reader, 0);
  hdb__lsm_version_unref(old_v);
  pthread_mutex_unlock(&db->mu);
  hdb__lsm_mem_unref(old_mem);
  hdb__lsm_mem_unref(old_imm);
  hdb__lsm_reader_free(db);
  hdb__free_mem(tmp);
  if ((st = hdb__lsm_start_bg(db, err)) != HDB_OK) {
    /* Without the background thread writes could wait forever: refuse. */
    pthread_mutex_lock(&db->mu);
    if (db->bg_status == HDB_OK) {
      db->bg_status = st;
      if (err) db->bg_err = *err;
    }
    pthread_mutex_unlock(&db->mu);
  }
  goto done;
fail:
  if (tmp) {
    hdb__lsm_log_close(&tmp->wal);
    hdb__lsm_log_close(&tmp->manifest);
    hdb__lsm_version_unref(tmp->current);
    hdb__free_mem(tmp);
  }
  close(db->lock_fd); /* releases the flock: stay a reader */
  db->lock_fd = -1;
done:
  pthread_mutex_unlock(&db->rmu);
  pthread_mutex_unlock(&db->pmu);
  return st;
}

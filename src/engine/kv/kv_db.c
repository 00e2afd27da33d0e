/*
 * kv_db.c - the store: open and recovery, the commit path, reads,
 * snapshots, the background thread, check and stats.
 *
 * Concurrency:
 *   - One mutex (mu) guards the store's shared state: the memtable
 *     pointers, the current version, sequence numbers, the writer queue,
 *     the snapshot list. It is never held across WAL writes, table builds
 *     or reads of table data.
 *   - Readers pin (mem, imm, version, sequence) under mu, then read with no
 *     lock: memtables are lock-free for readers, versions are immutable.
 *   - Writers queue; the writer at the head is the leader: it takes the
 *     batches queued behind it (group commit, up to 1 MiB), assigns their
 *     sequences, appends ONE WAL record (fdatasync when sync=FULL), inserts
 *     into the memtable, and only then publishes last_seq under mu. A
 *     reader's sequence therefore never covers part of a batch.
 *   - One background thread flushes the immutable memtable and runs
 *     compactions; a manual compaction takes its place (bg_busy/manual).
 *   - Across processes, DIR/LOCK is held with flock by the writer for the
 *     handle's life, and holds the writer's published state (generation,
 *     live WAL; README R1) that reader handles (kv_reader.c) follow.
 *
 * Recovery (README.md, "Recovery"): CURRENT -> MANIFEST -> version; open
 * every table; replay every WAL numbered >= the MANIFEST's log number into
 * a memtable (torn tail ignored, damage elsewhere HDB_CORRUPT); write that
 * memtable as a level-0 table; start a new WAL and a new MANIFEST; delete
 * what no longer belongs.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/kv/kv_impl.h"

struct hdb__lsm_writer {
  const hdb__lsm_batch *b; /* NULL: force a memtable switch */
  int done;
  hdb_status st;
  hdb_error err;
  pthread_cond_t cv;
  hdb__lsm_writer *next;
};

#define GROUP_MAX (1u << 20)

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void normalize(hdb__lsm_options *o) {
  if (o->sync_interval_ms <= 0) o->sync_interval_ms = 1000;
  if (o->memtable_size == 0) o->memtable_size = 4u << 20;
  if (o->block_size == 0) o->block_size = 4096;
  if (o->bloom_bits == 0) o->bloom_bits = 10;
  if (o->bloom_bits > 64) o->bloom_bits = 64;
  if (o->zstd_level == 0) o->zstd_level = 3;
  if (o->table_size == 0) o->table_size = 2u << 20;
  if (o->level1_size == 0) o->level1_size = 10u << 20;
  if (o->l0_compaction_trigger <= 0) o->l0_compaction_trigger = 4;
  if (o->l0_slowdown_trigger <= 0) o->l0_slowdown_trigger = 8;
  if (o->l0_stop_trigger <= 0) o->l0_stop_trigger = 12;
  if (o->lock_timeout_ms < 0) o->lock_timeout_ms = 0;
  else if (o->lock_timeout_ms == 0) o->lock_timeout_ms = 5000;
  if (o->block_cache_size == 0) o->block_cache_size = 8 << 20;
}

/* ------------------------------------------------------------------ */
/* Background thread                                                   */
/* ------------------------------------------------------------------ */

static void set_bg_error(hdb__lsm *db, hdb_status st, const hdb_error *e) {
  if (db->bg_status != HDB_OK || st == HDB_OK) return;
  db->bg_status = st;
  if (e) db->bg_err = *e;
  else hdb__fail(&db->bg_err, st, "kv: %s: background error", db->dir);
  pthread_cond_broadcast(&db->bg_cv);
}

/* NORMAL sync: sync the WAL when it has been dirty for the interval. */
static void bg_sync(hdb__lsm *db) {
  uint64_t due = db->last_sync_ns + (uint64_t)db->opt.sync_interval_ms * 1000000u;
  if (now_ns() < due || db->wal.fd < 0) return;
  int fd = dup(db->wal.fd);
  db->wal_dirty = 0;
  db->last_sync_ns = now_ns();
  pthread_mutex_unlock(&db->mu);
  if (fd >= 0) {
    fdatasync(fd);
    close(fd);
  }
  pthread_mutex_lock(&db->mu);
  db->stats.wal_syncs++;
}

static void *bg_main(void *arg) {
  hdb__lsm *db = arg;
  pthread_mutex_lock(&db->mu);
  for (;;) {
    while (!db->shutting_down &&
           (db->manual || db->bg_status != HDB_OK || (!db->imm && !hdb__lsm_needs_compaction(db)))) {
      if (db->opt.sync == HDB__LSM_SYNC_NORMAL && db->wal_dirty) {
        uint64_t due = db->last_sync_ns + (uint64_t)db->opt.sync_interval_ms * 1000000u;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t wait = due > now_ns() ? due - now_ns() : 0;
        uint64_t t = (uint64_t)ts.tv_nsec + wait;
        ts.tv_sec += (time_t)(t / 1000000000u);
        ts.tv_nsec = (long)(t % 1000000000u);
        pthread_cond_timedwait(&db->work_cv, &db->mu, &ts);
        if (db->wal_dirty) bg_sync(db);
      } else {
        pthread_cond_wait(&db->work_cv, &db->mu);
      }
    }
    if (db->shutting_down) break;
    db->bg_busy = 1;
    hdb_error e;
    hdb_status st = db->imm ? hdb__lsm_flush_imm(db, &e) : hdb__lsm_compact_pick_run(db, &e);
    if (st != HDB_OK) set_bg_error(db, st, &e);
    db->bg_busy = 0;
    pthread_cond_broadcast(&db->bg_cv);
  }
  pthread_mutex_unlock(&db->mu);
  return NULL;
}

/* ------------------------------------------------------------------ */
/* Open, recovery, close                                               */
/* ------------------------------------------------------------------ */

static int current_exists(const char *dir) {
  size_t n = strlen(dir) + 16;
  char *p = hdb__malloc(n);
  if (!p) return 0;
  snprintf(p, n, "%s/CURRENT", dir);
  struct stat sb;
  int r = stat(p, &sb) == 0;
  hdb__free_mem(p);
  return r;
}

/* attach_instead (may be NULL): with reader_attach, stop waiting as soon
 * as another process has created the store, and attach as a reader. */
hdb_status hdb__lsm_take_lock(hdb__lsm *db, int *attach_instead, hdb_error *err) {
  size_t n = strlen(db->dir) + 8;
  char *path = hdb__malloc(n);
  if (!path) return hdb__fail(err, HDB_NOMEM, "kv: out of memory");
  snprintf(path, n, "%s/LOCK", db->dir);
  hdb_status st = HDB_OK;
  db->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (db->lock_fd < 0) {
    st = hdb__fail(err, HDB_IO, "kv: %s: open failed: %s", path, strerror(errno));
    goto done;
  }
  for (int waited = 0;; waited += 10) {
    if (flock(db->lock_fd, LOCK_EX | LOCK_NB) == 0) break;
    if (errno != EWOULDBLOCK && errno != EINTR) {
      st = hdb__fail(err, HDB_IO, "kv: %s: flock failed: %s", path, strerror(errno));
      break;
    }
    if (attach_instead && db->opt.reader_attach && current_exists(db->dir)) {
      *attach_instead = 1;
      close(db->lock_fd);
      db->lock_fd = -1;
      break;
    }
    if (waited >= db->opt.lock_timeout_ms) {
      st = hdb__fail(err, HDB_BUSY, "kv: %s: held by another process or handle (waited %d ms)",
                     path, waited);
      close(db->lock_fd);
      db->lock_fd = -1;
      break;
    }
    sleep_ms(10);
  }
  if (st != HDB_OK && db->lock_fd >= 0) {
    close(db->lock_fd);
    db->lock_fd = -1;
  }
done:
  hdb__free_mem(path);
  return st;
}

void hdb__lsm_read_state(int fd, hdb__lsm_state *s) {
  memset(s, 0, sizeof *s);
  if (fd < 0) return;
  /* The writer replaces the 32 bytes with one pwrite; a read racing it may
   * see a mix, which the checksum rejects: read again. */
  for (int tries = 0; tries < 5; tries++) {
    char b[HDB__LSM_LOCK_STATE];
    ssize_t r = pread(fd, b, sizeof b, 0);
    if (r != (ssize_t)sizeof b) return;
    if (hdb__lsm_get64(b) != HDB__LSM_LOCK_MAGIC) return;
    if (hdb__lsm_hash(b, 24, HDB__LSM_LOCK_MAGIC) == hdb__lsm_get64(b + 24)) {
      s->gen = hdb__lsm_get64(b + 8);
      s->wal = hdb__lsm_get64(b + 16);
      return;
    }
  }
}

hdb_status hdb__lsm_publish_state(hdb__lsm *db, uint64_t wal, hdb_error *err) {
  char b[HDB__LSM_LOCK_STATE];
  hdb__lsm_put64(b, HDB__LSM_LOCK_MAGIC);
  hdb__lsm_put64(b + 8, db->gen + 1);
  hdb__lsm_put64(b + 16, wal);
  hdb__lsm_put64(b + 24, hdb__lsm_hash(b, 24, HDB__LSM_LOCK_MAGIC));
  /* Not synced: readers share the page cache, and after a crash the next
   * writer publishes a newer generation before anything changes. */
  ssize_t w = pwrite(db->lock_fd, b, sizeof b, 0);
  if (w != (ssize_t)sizeof b)
    return hdb__fail(err, HDB_IO, "kv: %s/LOCK: publishing the writer state failed: %s", db->dir,
                     w < 0 ? strerror(errno) : "short write");
  db->gen++;
  return HDB_OK;
}

typedef hdb__lsm_dir_scan dir_scan;

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* Parses "NNNNNN.log"/".sst"/"MANIFEST-NNNNNN": 1 log, 2 sst, 3 manifest. */
static int parse_name(const char *name, uint64_t *num) {
  unsigned long long v;
  int used = 0;
  if (sscanf(name, "MANIFEST-%llu%n", &v, &used) == 1 && name[used] == '\0') {
    *num = v;
    return 3;
  }
  if (name[0] < '0' || name[0] > '9') return 0;
  if (sscanf(name, "%llu%n", &v, &used) != 1) return 0;
  *num = v;
  if (strcmp(name + used, ".log") == 0) return 1;
  if (strcmp(name + used, ".sst") == 0) return 2;
  return 0;
}

hdb_status hdb__lsm_scan_dir(const char *dir, dir_scan *s, hdb_error *err) {
  memset(s, 0, sizeof s[0]);
  DIR *d = opendir(dir);
  if (!d) return hdb__fail(err, HDB_IO, "kv: %s: opendir failed: %s", dir, strerror(errno));
  size_t cap = 0;
  hdb_status st = HDB_OK;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    uint64_t num;
    int kind = parse_name(de->d_name, &num);
    if (!kind) continue;
    if (num > s->max_number) s->max_number = num;
    if (kind != 1) continue;
    if (s->nlogs == cap) {
      cap = cap ? cap * 2 : 8;
      uint64_t *a = hdb__realloc(s->logs, cap * sizeof *a);
      if (!a) {
        st = hdb__fail(err, HDB_NOMEM, "kv: out of memory");
        break;
      }
      s->logs = a;
    }
    s->logs[s->nlogs++] = num;
  }
  closedir(d);
  if (s->nlogs) qsort(s->logs, s->nlogs, sizeof *s->logs, cmp_u64);
  return st;
}

/* Removes files no version, WAL or MANIFEST needs (after a new MANIFEST). */
static void remove_garbage(hdb__lsm *db, uint64_t keep_manifest) {
  DIR *d = opendir(db->dir);
  if (!d) return;
  struct dirent *de;
  size_t n = strlen(db->dir) + 300;
  char *path = hdb__malloc(n);
  while (path && (de = readdir(d)) != NULL) {
    uint64_t num;
    int kind = parse_name(de->d_name, &num), drop = 0;
    if (kind == 1) drop = num < db->wal_number;
    else if (kind == 3) drop = num != keep_manifest;
    else if (kind == 2) {
      drop = 1;
      for (int l = 0; l < HDB__LSM_LEVELS && drop; l++)
        for (size_t i = 0; i < db->current->n[l] && drop; i++)
          if (db->current->files[l][i]->number == num) drop = 0;
    } else if (strcmp(de->d_name, "CURRENT.tmp") == 0) {
      drop = 1;
    }
    if (!drop) continue;
    snprintf(path, n, "%s/%s", db->dir, de->d_name);
    unlink(path);
  }
  hdb__free_mem(path);
  closedir(d);
}

typedef struct replay_ctx {
  hdb__lsm *db;
  hdb__lsm_mem *mem;
  hdb__lsm_edit *edit;
  uint64_t max_seq;
  hdb_status st;
  hdb_error *err;
} replay_ctx;

static void replay_op(void *vctx, uint64_t seq, int type, const char *key, size_t klen,
                      const char *val, size_t vlen) {
  replay_ctx *c = vctx;
  if (c->st != HDB_OK) return;
  c->st = hdb__lsm_mem_reserve(c->mem, hdb__lsm_mem_entry_size(klen, vlen), c->err);
  if (c->st != HDB_OK) return;
  hdb__lsm_mem_add(c->mem, seq, type, key, klen, val, vlen);
  if (seq > c->max_seq) c->max_seq = seq;
}

/* Writes the replay memtable as a level-0 table recorded in the edit. */
static hdb_status replay_flush(replay_ctx *c) {
  if (hdb__lsm_mem_count(c->mem) == 0) return HDB_OK;
  hdb__lsm_it *it;
  hdb__lsm_file *f = NULL;
  hdb_status st = hdb__lsm_mem_iter(c->mem, &it, c->err);
  if (st != HDB_OK) return st;
  st = hdb__lsm_build_table(c->db, it, c->db->next_file++, &f, c->err);
  it->vt->close(it);
  if (st == HDB_OK && f) {
    st = hdb__lsm_edit_add_file(c->edit, 0, f, c->err);
    hdb__lsm_file_unref(f);
  }
  if (st != HDB_OK) return st;
  hdb__lsm_mem *m;
  if ((st = hdb__lsm_mem_new(&m, c->err)) != HDB_OK) return st;
  hdb__lsm_mem_unref(c->mem);
  c->mem = m;
  return HDB_OK;
}

static hdb_status replay_record(void *vctx, const char *p, size_t n, uint64_t off,
                                hdb_error *err) {
  replay_ctx *c = vctx;
  c->st = HDB_OK;
  hdb_status st = hdb__lsm_batch_iterate(p, n, replay_op, c, err);
  if (st == HDB_CORRUPT) {
    hdb__err_prefix(err, "kv: WAL record at offset %llu", (unsigned long long)off);
    return st;
  }
  if (st == HDB_OK) st = c->st;
  if (st == HDB_OK && hdb__lsm_mem_usage(c->mem) > c->db->opt.memtable_size) st = replay_flush(c);
  return st;
}

hdb_status hdb__lsm_recover(hdb__lsm *db, hdb_error *err) {
  hdb__lsm_recovered r;
  /* Generations keep counting across writers (R1). */
  hdb__lsm_state ls;
  hdb__lsm_read_state(db->lock_fd, &ls);
  db->gen = ls.gen;
  hdb_status st = hdb__lsm_manifest_recover(db->dir, &r, err);
  int fresh = 0;
  if (st == HDB_NOT_FOUND) {
    if (db->opt.no_create)
      return hdb__fail(err, HDB_NOT_FOUND, "kv: %s: no store here (no CURRENT)", db->dir);
    fresh = 1;
    memset(&r, 0, sizeof r);
    r.version = hdb__lsm_version_new();
    r.next_file = 2;
    if (!r.version) return hdb__fail(err, HDB_NOMEM, "kv: out of memory");
  } else if (st != HDB_OK) {
    return st;
  } else if (db->opt.error_if_exists) {
    hdb__lsm_version_unref(r.version);
    return hdb__fail(err, HDB_EXISTS, "kv: %s: a store exists already", db->dir);
  }
  db->current = r.version;
  db->next_file = r.next_file;
  db->last_seq = r.last_seq;
  db->log_number = r.log_number;

  /* Open every table: a missing or damaged one fails the open. */
  for (int l = 0; l < HDB__LSM_LEVELS; l++)
    for (size_t i = 0; i < db->current->n[l]; i++) {
      hdb__lsm_file *f = db->current->files[l][i];
      if ((st = hdb__lsm_table_open(f->path, &f->table, err)) != HDB_OK) return st;
      hdb__lsm_table_set_cache(f->table, db->cache);
    }

  dir_scan s;
  if ((st = hdb__lsm_scan_dir(db->dir, &s, err)) != HDB_OK) {
    hdb__free_mem(s.logs);
    return st;
  }
  if (s.max_number >= db->next_file) db->next_file = s.max_number + 1;

  hdb__lsm_edit e;
  hdb__lsm_edit_init(&e);
  replay_ctx c = {db, NULL, &e, db->last_seq, HDB_OK, err};
  if ((st = hdb__lsm_mem_new(&c.mem, err)) != HDB_OK) goto done;
  for (size_t i = 0; i < s.nlogs && !fresh; i++) {
    if (s.logs[i] < db->log_number) continue;
    char *path = hdb__lsm_path(db->dir, s.logs[i], ".log");
    char *data = NULL;
    size_t len = 0;
    if (!path) {
      st = hdb__fail(err, HDB_NOMEM, "kv: out of memory");
      goto done;
    }
    st = hdb__lsm_read_file(path, &data, &len, err);
    uint64_t torn;
    if (st == HDB_OK)
      st = hdb__lsm_log_replay(path, data, len, HDB__LSM_WAL_MAGIC, replay_record, &c, &torn, err);
    if (st == HDB_CORRUPT && !strstr(err ? err->message : "", path))
      hdb__err_prefix(err, "kv: %s", path);
    hdb__free_mem(data);
    hdb__free_mem(path);
    if (st != HDB_OK) goto done;
  }
  if ((st = replay_flush(&c)) != HDB_OK) goto done;
  if (c.max_seq > db->last_seq) db->last_seq = c.max_seq;

  /* The new WAL, then a MANIFEST that names it and the replayed tables. */
  db->wal_number = db->next_file++;
  uint64_t man = db->next_file++;
  char *wpath = hdb__lsm_path(db->dir, db->wal_number, ".log");
  if (!wpath) {
    st = hdb__fail(err, HDB_NOMEM, "kv: out of memory");
    goto done;
  }
  st = hdb__lsm_log_create(&db->wal, wpath, HDB__LSM_WAL_MAGIC, err);
  hdb__free_mem(wpath);
  if (st == HDB_OK) st = hdb__lsm_log_sync(&db->wal, err);
  if (st != HDB_OK) goto done;
  hdb__lsm_version *v;
  if ((st = hdb__lsm_version_apply(db->current, &e, &v, err)) != HDB_OK) goto done;
  hdb__lsm_version_unref(db->current);
  db->current = v;
  db->log_number = db->wal_number;
  st = hdb__lsm_manifest_create(db->dir, man, db->current, db->wal_number, db->next_file,
                                db->last_seq, &db->manifest, err);
  if (st != HDB_OK) goto done;
  /* R3: readers learn of the new CURRENT before the old files go. */
  if ((st = hdb__lsm_publish_state(db, db->wal_number, err)) != HDB_OK) goto done;
  remove_garbage(db, man);
done:
  hdb__lsm_mem_unref(c.mem);
  hdb__lsm_edit_free(&e);
  hdb__free_mem(s.logs);
  return st;
}

static void db_free(hdb__lsm *db) {
  hdb__lsm_log_close(&db->wal);
  hdb__lsm_log_close(&db->manifest);
  hdb__lsm_mem_unref(db->mem);
  hdb__lsm_mem_unref(db->imm);
  hdb__lsm_version_unref(db->current);
  for (int l = 0; l < HDB__LSM_LEVELS; l++) hdb__lsm_buf_free(&db->compact_ptr[l]);
  hdb__lsm_buf_free(&db->group);
  if (db->lock_fd >= 0) close(db->lock_fd); /* releases the flock */
  hdb__lsm_reader_free(db);
  hdb__lsm_cache_free(db->cache); /* after every version, so every table */
  pthread_mutex_destroy(&db->rmu);
  pthread_mutex_destroy(&db->pmu);
  pthread_cond_destroy(&db->bg_cv);
  pthread_cond_destroy(&db->work_cv);
  pthread_mutex_destroy(&db->mu);
  hdb__free_mem(db->dir);
  hdb__free_mem(db);
}

hdb_status hdb__lsm_open(const char *dir, const hdb__lsm_options *opt, hdb__lsm **out,
                         hdb_error *err) {
  *out = NULL;
  if (!dir || !dir[0]) return hdb__fail(err, HDB_INVALID_ARGUMENT, "kv: empty directory name");
  hdb__lsm *db = hdb__calloc(1, sizeof *db);
  if (!db) return hdb__fail(err, HDB_NOMEM, "kv: out of memory");
  hdb__lsm_options defaults = HDB__LSM_OPTIONS_INIT;
  db->opt = opt ? *opt : defaults;
  normalize(&db->opt);
  db->lock_fd = -1;
  db->state_fd = -1;
  atomic_init(&db->reader, 0);
  db->wal.fd = db->manifest.fd = -1;
  db->snaps.next = db->snaps.prev = &db->snaps;
  pthread_mutex_init(&db->mu, NULL);
  pthread_mutex_init(&db->rmu, NULL);
  pthread_mutex_init(&db->pmu, NULL);
  pthread_cond_init(&db->bg_cv, NULL);
  pthread_cond_init(&db->work_cv, NULL);
  hdb_status st = HDB_OK;
  db->dir = hdb__strdup(dir);
  if (!db->dir) {
    st = hdb__fail(err, HDB_NOMEM, "kv: out of memory");
    goto fail;
  }
  if (db->opt.block_cache_size >= 0 && !(db->cache = hdb__lsm_cache_new((size_t)db->opt.block_cache_size))) {
    st = hdb__fail(err, HDB_NOMEM, "kv: out of memory");
    goto fail;
  }
  if (!db->opt.no_create && mkdir(dir, 0755) != 0 && errno != EEXIST) {
    st = hdb__fail(err, HDB_IO, "kv: %s: mkdir failed: %s", dir, strerror(errno));
    goto fail;
  }
  struct stat sb;
  if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
    st = hdb__fail(err, db->opt.no_create ? HDB_NOT_FOUND : HDB_IO, "kv: %s: not a directory", dir);
    goto fail;
  }
  /* A reader never waits: an existing store is attached without the lock;
   * the lock is taken by the first write (hdb__lsm_become_writer). */
  int attach = db->opt.reader_attach && !db->opt.error_if_exists && current_exists(dir);
  if (!attach && (st = hdb__lsm_take_lock(db, &attach, err)) != HDB_OK) goto fail;
  if (attach) {
    if ((st = hdb__lsm_reader_attach(db, err)) != HDB_OK) goto fail;
    *out = db;
    return HDB_OK;
  }
  if ((st = hdb__lsm_recover(db, err)) != HDB_OK) goto fail;
  if ((st = hdb__lsm_mem_new(&db->mem, err)) != HDB_OK) goto fail;
  if ((st = hdb__lsm_start_bg(db, err)) != HDB_OK) goto fail;
  *out = db;
  return HDB_OK;
fail:
  db_free(db);
  return st;
}

hdb_status hdb__lsm_start_bg(hdb__lsm *db, hdb_error *err) {
  db->last_sync_ns = now_ns();
  if (pthread_create(&db->bg, NULL, bg_main, db) != 0)
    return hdb__fail(err, HDB_ERROR, "kv: %s: cannot start the background thread", db->dir);
  db->bg_started = 1;
  pthread_mutex_lock(&db->mu);
  pthread_cond_signal(&db->work_cv);
  pthread_mutex_unlock(&db->mu);
  return HDB_OK;
}

void hdb__lsm_close(hdb__lsm *db) {
  if (!db) return;
  pthread_mutex_lock(&db->mu);
  db->shutting_down = 1;
  pthread_cond_broadcast(&db->work_cv);
  pthread_mutex_unlock(&db->mu);
  if (db->bg_started) pthread_join(db->bg, NULL);
  if (db->wal.fd >= 0 && db->opt.sync != HDB__LSM_SYNC_OFF) hdb__lsm_log_sync(&db->wal, NULL);
  db_free(db);
}

/* ------------------------------------------------------------------ */
/* Commit                                                              */
/* ------------------------------------------------------------------ */

static int l0_count(const hdb__lsm *db) {
  return (int)db->current->n[0];
}

/* Makes room in the memtable (mu held, leader only). force: switch the
 * memtable now if it holds anything. */
static hdb_status make_room(hdb__lsm *db, int force, hdb_error *err) {
  int allow_delay = !force;
  for (;;) {
    if (db->bg_status != HDB_OK) {
      if (err) *err = db->bg_err;
      return db->bg_status;
    }
    if (allow_delay && l0_count(db) >= db->opt.l0_slowdown_trigger) {
      /* Spread the stall over many writes instead of one long stop. */
      db->stats.write_stalls++;
      pthread_mutex_unlock(&db->mu);
      sleep_ms(1);
      pthread_mutex_lock(&db->mu);
      allow_delay = 0;
    } else if (!force && hdb__lsm_mem_usage(db->mem) <= db->opt.memtable_size) {
      return HDB_OK;
    } else if (db->imm) {
      db->stats.write_stalls++;
      pthread_cond_wait(&db->bg_cv, &db->mu);
    } else if (l0_count(db) >= db->opt.l0_stop_trigger) {
      db->stats.write_stalls++;
      pthread_cond_signal(&db->work_cv);
      pthread_cond_wait(&db->bg_cv, &db->mu);
    } else {
      if (force && hdb__lsm_mem_count(db->mem) == 0) return HDB_OK;
      hdb__lsm_mem *m;
      hdb_status st = hdb__lsm_mem_new(&m, err);
      if (st != HDB_OK) return st;
      uint64_t number = db->next_file++;
      char *path = hdb__lsm_path(db->dir, number, ".log");
      hdb__lsm_log l;
      if (!path) st = hdb__fail(err, HDB_NOMEM, "kv: out of memory");
      if (st == HDB_OK && db->opt.sync == HDB__LSM_SYNC_NORMAL) st = hdb__lsm_log_sync(&db->wal, err);
      if (st == HDB_OK) st = hdb__lsm_log_create(&l, path, HDB__LSM_WAL_MAGIC, err);
      if (st == HDB_OK && db->opt.sync != HDB__LSM_SYNC_OFF) {
        st = hdb__lsm_fsync_dir(db->dir, err);
        if (st != HDB_OK) {
          hdb__lsm_log_close(&l);
          unlink(path);
        }
      }
      /* R1: readers learn of the new WAL before any record goes into it. */
      if (st == HDB_OK && (st = hdb__lsm_publish_state(db, number, err)) != HDB_OK) {
        hdb__lsm_log_close(&l);
        unlink(path);
      }
      hdb__free_mem(path);
      if (st != HDB_OK) {
        hdb__lsm_mem_unref(m);
        return st;
      }
      hdb__lsm_log_close(&db->wal);
      db->wal = l;
      db->imm_wal_number = db->wal_number;
      db->wal_number = number;
      db->wal_dirty = 0;
      db->imm = db->mem;
      db->mem = m;
      force = 0;
      pthread_cond_signal(&db->work_cv);
    }
  }
}

static void group_op(void *vctx, uint64_t seq, int type, const char *key, size_t klen,
                     const char *val, size_t vlen) {
  hdb__lsm_mem_add(vctx, seq, type, key, klen, val, vlen);
}

hdb_status hdb__lsm_write(hdb__lsm *db, const hdb__lsm_batch *b, hdb_error *err) {
  if (b && b->count == 0) return HDB_OK;
  if (atomic_load(&db->reader)) {
    hdb_status rs = hdb__lsm_become_writer(db, err);
    if (rs != HDB_OK) return rs;
  }
  hdb__lsm_writer w;
  w.b = b;
  w.done = 0;
  w.st = HDB_OK;
  w.err.code = HDB_OK;
  w.err.message[0] = '\0';
  w.next = NULL;
  pthread_cond_init(&w.cv, NULL);
  pthread_mutex_lock(&db->mu);
  if (db->wq_tail)
    db->wq_tail->next = &w;
  else
    db->wq_head = &w;
  db->wq_tail = &w;
  while (!w.done && db->wq_head != &w) pthread_cond_wait(&w.cv, &db->mu);
  if (w.done) {
    pthread_mutex_unlock(&db->mu);
    pthread_cond_destroy(&w.cv);
    if (w.st != HDB_OK && err) *err = w.err;
    return w.st;
  }
  /* Leader. */
  hdb_status st = make_room(db, b == NULL, &w.err);
  hdb__lsm_writer *last = &w;
  if (st == HDB_OK && b) {
    size_t max = b->len <= (128u << 10) ? b->len + (128u << 10) : GROUP_MAX;
    size_t total = b->len;
    uint64_t count = b->count;
    for (hdb__lsm_writer *n = w.next; n && n->b; n = n->next) {
      if (total + n->b->len - HDB__LSM_BATCH_HEADER > max) break;
      total += n->b->len - HDB__LSM_BATCH_HEADER;
      count += n->b->count;
      last = n;
    }
    uint64_t seq = db->last_seq + 1;
    hdb__lsm_mem *mem = db->mem;
    hdb__lsm_buf *g = &db->group;
    g->len = 0;
    st = hdb__lsm_buf_reserve(g, total, &w.err);
    if (st == HDB_OK) st = hdb__lsm_mem_reserve(mem, total + count * (hdb__lsm_mem_entry_size(0, 0) + 8), &w.err);
    if (st == HDB_OK && seq + count > HDB__LSM_MAX_SEQ) st = hdb__fail(&w.err, HDB_TOO_BIG, "kv: sequence numbers exhausted");
    if (st == HDB_OK) {
      hdb__lsm_put64(g->p, seq);
      hdb__lsm_put32(g->p + 8, (uint32_t)count);
      g->len = HDB__LSM_BATCH_HEADER;
      for (hdb__lsm_writer *n = &w;; n = n->next) {
        memcpy(g->p + g->len, n->b->rep + HDB__LSM_BATCH_HEADER, n->b->len - HDB__LSM_BATCH_HEADER);
        g->len += n->b->len - HDB__LSM_BATCH_HEADER;
        if (n == last) break;
      }
      if (count > UINT32_MAX) st = hdb__fail(&w.err, HDB_TOO_BIG, "kv: commit group too large");
    }
    if (st == HDB_OK) {
      int sync = db->opt.sync == HDB__LSM_SYNC_FULL;
      pthread_mutex_unlock(&db->mu);
      /* Commit point: the record is in the WAL (and synced when FULL). */
      st = hdb__lsm_log_append(&db->wal, g->p, g->len, &w.err);
      if (st == HDB_OK && sync) st = hdb__lsm_log_sync(&db->wal, &w.err);
      if (st == HDB_OK) st = hdb__lsm_batch_iterate(g->p, g->len, group_op, mem, &w.err);
      pthread_mutex_lock(&db->mu);
      if (st != HDB_OK) {
        /* The WAL may hold part of a record: refuse further writes. */
        set_bg_error(db, st, &w.err);
      } else {
        db->last_seq = seq + count - 1;
        db->stats.wal_bytes += g->len + HDB__LSM_REC_HEADER;
        db->stats.commit_groups++;
        if (sync) db->stats.wal_syncs++;
        else db->wal_dirty = 1;
        if (db->opt.sync == HDB__LSM_SYNC_NORMAL) pthread_cond_signal(&db->work_cv);
      }
    }
  }
  for (;;) {
    hdb__lsm_writer *n = db->wq_head;
    db->wq_head = n->next;
    if (!db->wq_head) db->wq_tail = NULL;
    if (n != &w) {
      n->st = st;
      if (st != HDB_OK) n->err = w.err;
      n->done = 1;
      pthread_cond_signal(&n->cv);
    }
    if (n->b) db->stats.batches++;
    if (n == last) break;
  }
  if (db->wq_head) pthread_cond_signal(&db->wq_head->cv);
  pthread_mutex_unlock(&db->mu);
  pthread_cond_destroy(&w.cv);
  if (st != HDB_OK && err) *err = w.err;
  return st;
}

hdb_status hdb__lsm_put(hdb__lsm *db, const void *key, size_t klen, const void *val,
                        size_t vlen, hdb_error *err) {
  /* A one-operation batch built on the stack when small. */
  char stack[512];
  hdb__lsm_batch b;
  hdb__lsm_batch_init(&b);
  size_t need = HDB__LSM_BATCH_HEADER + 21 + klen + vlen;
  if (need <= sizeof stack && klen <= HDB__LSM_MAX_KEY) {
    char *p = stack + HDB__LSM_BATCH_HEADER;
    memset(stack, 0, HDB__LSM_BATCH_HEADER);
    hdb__lsm_put32(stack + 8, 1);
    *p++ = (char)HDB__LSM_PUT;
    p += hdb__lsm_putv(p, klen);
    memcpy(p, key, klen);
    p += klen;
    p += hdb__lsm_putv(p, vlen);
    if (vlen) memcpy(p, val, vlen);
    p += vlen;
    b.rep = stack;
    b.len = (size_t)(p - stack);
    b.count = 1;
    return hdb__lsm_write(db, &b, err);
  }
  hdb_status st = hdb__lsm_batch_put(&b, key, klen, val, vlen, err);
  if (st == HDB_OK) st = hdb__lsm_write(db, &b, err);
  hdb__lsm_batch_free(&b);
  return st;
}

hdb_status hdb__lsm_delete(hdb__lsm *db, const void *key, size_t klen, hdb_error *err) {
  hdb__lsm_batch b;
  hdb__lsm_batch_init(&b);
  hdb_status st = hdb__lsm_batch_delete(&b, key, klen, err);
  if (st == HDB_OK) st = hdb__lsm_write(db, &b, err);
  hdb__lsm_batch_free(&b);
  return st;
}

/* ------------------------------------------------------------------ */
/* Reads                                                               */
/* ------------------------------------------------------------------ */

void hdb__lsm_pin(hdb__lsm *db, const hdb__lsm_snapshot *snap, hdb__lsm_pinned *p) {
  pthread_mutex_lock(&db->mu);
  if (snap && snap->pin) {
    /* A reader's snapshot reads the state it pinned (R7). */
    *p = *snap->pin;
    hdb__lsm_mem_ref(p->mem);
    if (p->imm) hdb__lsm_mem_ref(p->imm);
    hdb__lsm_version_ref(p->v);
    pthread_mutex_unlock(&db->mu);
    return;
  }
  p->mem = db->mem;
  hdb__lsm_mem_ref(p->mem);
  p->imm = db->imm;
  if (p->imm) hdb__lsm_mem_ref(p->imm);
  p->v = db->current;
  hdb__lsm_version_ref(p->v);
  p->seq = snap ? snap->seq : db->last_seq;
  pthread_mutex_unlock(&db->mu);
}

void hdb__lsm_unpin(hdb__lsm *db, hdb__lsm_pinned *p) {
  if (p->v) {
    pthread_mutex_lock(&db->mu);
    hdb__lsm_version_unref(p->v);
    pthread_mutex_unlock(&db->mu);
  }
  hdb__lsm_mem_unref(p->mem);
  hdb__lsm_mem_unref(p->imm);
  memset(p, 0, sizeof *p);
}

hdb_status hdb__lsm_pinned_iter(hdb__lsm_pinned *p, hdb__lsm_it **out, hdb_error *err) {
  hdb__lsm_it **its = NULL;
  size_t n = 0, cap = 8;
  its = hdb__malloc(cap * sizeof *its);
  if (!its) return hdb__fail(err, HDB_NOMEM, "kv: out of memory for an iterator");
  hdb_status st = hdb__lsm_mem_iter(p->mem, &its[n], err);
  if (st == HDB_OK) n++;
  if (st == HDB_OK && p->imm) {
    st = hdb__lsm_mem_iter(p->imm, &its[n], err);
    if (st == HDB_OK) n++;
  }
  if (st == HDB_OK) st = hdb__lsm_version_iters(p->v, &its, &n, &cap, err);
  if (st != HDB_OK) {
    for (size_t i = 0; i < n; i++) its[i]->vt->close(its[i]);
    hdb__free_mem(its);
    return st;
  }
  return hdb__lsm_merge_new(its, n, out, err);
}

static hdb_status mem_lookup(hdb__lsm_mem *m, const void *key, size_t klen, uint64_t seq,
                             int *found, void **val, size_t *vlen, hdb_error *err) {
  int type;
  const char *v;
  size_t vl;
  if (!hdb__lsm_mem_get(m, key, klen, seq, &type, &v, &vl)) return HDB_OK;
  *found = 1;
  if (type == HDB__LSM_DEL) return HDB_NOT_FOUND;
  char *copy = hdb__malloc(vl + 1);
  if (!copy) return hdb__fail(err, HDB_NOMEM, "kv: out of memory for a %zu-byte value", vl);
  if (vl) memcpy(copy, v, vl);
  copy[vl] = '\0';
  *val = copy;
  *vlen = vl;
  return HDB_OK;
}

hdb_status hdb__lsm_get(hdb__lsm *db, const hdb__lsm_snapshot *snap, const void *key,
                        size_t klen, void **val, size_t *vlen, hdb_error *err) {
  *val = NULL;
  size_t dummy;
  if (!vlen) vlen = &dummy;
  *vlen = 0;
  if (!snap && atomic_load(&db->reader)) {
    hdb_status rs = hdb__lsm_reader_refresh(db, err);
    if (rs != HDB_OK) return rs;
  }
  hdb__lsm_pinned p;
  hdb__lsm_pin(db, snap, &p);
  int found = 0, type = 0;
  hdb_status st = mem_lookup(p.mem, key, klen, p.seq, &found, val, vlen, err);
  if (!found && p.imm) st = mem_lookup(p.imm, key, klen, p.seq, &found, val, vlen, err);
  if (!found) {
    st = hdb__lsm_version_get(p.v, key, klen, p.seq, &found, &type, val, vlen, err);
    if (st == HDB_OK && found && type == HDB__LSM_DEL) st = HDB_NOT_FOUND;
    if (st == HDB_OK && !found) st = HDB_NOT_FOUND;
  }
  hdb__lsm_unpin(db, &p);
  if (st == HDB_NOT_FOUND) hdb__fail(err, HDB_NOT_FOUND, "kv: key not found");
  return st;
}

/* ------------------------------------------------------------------ */
/* Snapshots                                                           */
/* ------------------------------------------------------------------ */

hdb_status hdb__lsm_snapshot_acquire(hdb__lsm *db, hdb__lsm_snapshot **out, hdb_error *err) {
  *out = NULL;
  hdb__lsm_snapshot *s = hdb__calloc(1, sizeof *s);
  if (!s) return hdb__fail(err, HDB_NOMEM, "kv: out of memory for a snapshot");
  if (atomic_load(&db->reader)) {
    hdb_status rs = hdb__lsm_reader_refresh(db, err);
    if (rs == HDB_OK && !(s->pin = hdb__calloc(1, sizeof *s->pin)))
      rs = hdb__fail(err, HDB_NOMEM, "kv: out of memory for a snapshot");
    if (rs != HDB_OK) {
      hdb__free_mem(s);
      return rs;
    }
    hdb__lsm_pin(db, NULL, s->pin);
  }
  pthread_mutex_lock(&db->mu);
  s->seq = s->pin ? s->pin->seq : db->last_seq;
  s->next = &db->snaps;
  s->prev = db->snaps.prev;
  s->prev->next = s;
  db->snaps.prev = s;
  db->stats.snapshots++;
  pthread_mutex_unlock(&db->mu);
  *out = s;
  return HDB_OK;
}

void hdb__lsm_snapshot_release(hdb__lsm *db, hdb__lsm_snapshot *s) {
  if (!s) return;
  pthread_mutex_lock(&db->mu);
  s->prev->next = s->next;
  s->next->prev = s->prev;
  db->stats.snapshots--;
  pthread_mutex_unlock(&db->mu);
  if (s->pin) {
    hdb__lsm_unpin(db, s->pin);
    hdb__free_mem(s->pin);
  }
  hdb__free_mem(s);
}

/* ------------------------------------------------------------------ */
/* Flush, compact, check, stats                                        */
/* ------------------------------------------------------------------ */

hdb_status hdb__lsm_flush(hdb__lsm *db, hdb_error *err) {
  hdb_status st = hdb__lsm_write(db, NULL, err);
  if (st != HDB_OK) return st;
  pthread_mutex_lock(&db->mu);
  while (db->imm && db->bg_status == HDB_OK) pthread_cond_wait(&db->bg_cv, &db->mu);
  st = db->bg_status;
  if (st != HDB_OK && err) *err = db->bg_err;
  pthread_mutex_unlock(&db->mu);
  return st;
}

hdb_status hdb__lsm_compact(hdb__lsm *db, const void *start, size_t slen, const void *end,
                            size_t elen, hdb_error *err) {
  hdb_status st = hdb__lsm_flush(db, err);
  if (st != HDB_OK) return st;
  pthread_mutex_lock(&db->mu);
  while (db->bg_busy || db->manual) pthread_cond_wait(&db->bg_cv, &db->mu);
  db->manual = 1;
  db->bg_busy = 1;
  int deepest = 1;
  for (int l = 1; l < HDB__LSM_LEVELS; l++)
    if (db->current->n[l] > 0) deepest = l;
  for (int l = 0; l < deepest && st == HDB_OK; l++) {
    if (db->imm) st = hdb__lsm_flush_imm(db, err);
    if (st == HDB_OK)
      st = hdb__lsm_compact_level_range(db, l, start, slen, end, elen, err);
  }
  if (st != HDB_OK) set_bg_error(db, st, err);
  db->manual = 0;
  db->bg_busy = 0;
  pthread_cond_broadcast(&db->bg_cv);
  pthread_cond_signal(&db->work_cv);
  pthread_mutex_unlock(&db->mu);
  return st;
}

static hdb_status check_log(const char *path, uint64_t magic, int is_manifest, const char *dir,
                            hdb_error *err) {
  if (is_manifest) return hdb__lsm_manifest_verify(dir, path, err);
  char *data;
  size_t len;
  hdb_status st = hdb__lsm_read_file(path, &data, &len, err);
  /* A WAL flushed and deleted since check began holds nothing live. */
  if (st == HDB_NOT_FOUND) return HDB_OK;
  if (st != HDB_OK) return st;
  uint64_t torn;
  st = hdb__lsm_log_replay(path, data, len, magic, NULL, NULL, &torn, err);
  hdb__free_mem(data);
  return st;
}

hdb_status hdb__lsm_check(hdb__lsm *db, hdb_error *err) {
  if (atomic_load(&db->reader)) {
    hdb_status rs = hdb__lsm_reader_refresh(db, err);
    if (rs != HDB_OK) return rs;
  }
  hdb__lsm_pinned p;
  /* rmu keeps a reader's file names and its pinned state together. */
  pthread_mutex_lock(&db->rmu);
  hdb__lsm_pin(db, NULL, &p);
  pthread_mutex_lock(&db->mu);
  int reader = atomic_load(&db->reader);
  const char *mp = reader ? db->rman_path : db->manifest.path;
  char *man = hdb__strdup(mp ? mp : "");
  char *wal = NULL, *iwal = NULL;
  int need_iwal = 0;
  if (!reader) {
    wal = hdb__lsm_path(db->dir, db->wal_number, ".log");
    iwal = db->imm ? hdb__lsm_path(db->dir, db->imm_wal_number, ".log") : NULL;
    need_iwal = db->imm != NULL;
  } else {
    /* The reader's live WALs (a merged set of older ones is skipped: it
     * was read whole by the refresh just done). */
    if (db->rw_live[0] && db->rw_live[0]->path) wal = hdb__strdup(db->rw_live[0]->path);
    if (db->rw_live[1] && db->rw_live[1]->number && db->rw_live[1]->path) {
      iwal = hdb__strdup(db->rw_live[1]->path);
      need_iwal = 1;
    }
  }
  int need_wal = !reader || (db->rw_live[0] && db->rw_live[0]->path);
  pthread_mutex_unlock(&db->mu);
  pthread_mutex_unlock(&db->rmu);
  hdb_status st = HDB_OK;
  if (!man || (need_wal && !wal) || (need_iwal && !iwal))
    st = hdb__fail(err, HDB_NOMEM, "kv: out of memory");
  for (int l = 0; l < HDB__LSM_LEVELS && st == HDB_OK; l++)
    for (size_t i = 0; i < p.v->n[l] && st == HDB_OK; i++) {
      hdb__lsm_file *f = p.v->files[l][i];
      struct stat sb;
      if (stat(f->path, &sb) != 0 || (uint64_t)sb.st_size != f->size)
        st = hdb__fail(err, HDB_CORRUPT, "kv: %s: missing or not %llu bytes long", f->path,
                       (unsigned long long)f->size);
      else
        st = hdb__lsm_table_verify(f->table, err);
    }
  /* A reader's MANIFEST may have been replaced by a newer writer since. */
  if (st == HDB_OK && man[0] && (!reader || access(man, F_OK) == 0))
    st = check_log(man, HDB__LSM_MAN_MAGIC, 1, db->dir, err);
  if (st == HDB_OK && iwal) st = check_log(iwal, HDB__LSM_WAL_MAGIC, 0, db->dir, err);
  if (st == HDB_OK && wal) st = check_log(wal, HDB__LSM_WAL_MAGIC, 0, db->dir, err);
  hdb__free_mem(man);
  hdb__free_mem(wal);
  hdb__free_mem(iwal);
  hdb__lsm_unpin(db, &p);
  return st;
}

void hdb__lsm_stats_get(hdb__lsm *db, hdb__lsm_stats *out) {
  pthread_mutex_lock(&db->mu);
  *out = db->stats;
  out->last_sequence = db->last_seq;
  for (int l = 0; l < HDB__LSM_LEVELS; l++) {
    out->files[l] = db->current->n[l];
    out->bytes[l] = hdb__lsm_level_bytes(db->current, l);
  }
  out->memtable_bytes = hdb__lsm_mem_usage(db->mem) + (db->imm ? hdb__lsm_mem_usage(db->imm) : 0);
  out->reader = (uint64_t)atomic_load(&db->reader);
  hdb__lsm_cache_stats(db->cache, &out->block_cache_hits, &out->block_cache_misses,
                       &out->block_cache_bytes);
  pthread_mutex_unlock(&db->mu);
}

/*
 * tbl_table.c - table handles, the per-process shared state of a table
 * directory, snapshots (pinned versions), finding the newest version,
 * the writer lock and the commit step.
 *
 * Shared state: every hdb__tbl opened on one directory in one process
 * shares one tbl_shared (keyed by device, inode and pid, so a forked child
 * never reuses its parent's), which caches the newest snapshot and counts
 * the pins that retention must respect.
 *
 * Finding the newest version (README.md rule 6): versions are numbered
 * contiguously and only ever removed from the old end by a writer holding
 * the lock, so "the newest" is found by starting from a known version (the
 * cached one, or the `_latest` hint the last writer left) and probing
 * v+1, v+2, ... until a manifest is missing. Only when neither start point
 * exists is the directory listed.
 *
 * Reference counts: a handle and every snapshot hold one reference on the
 * shared state; the cached newest snapshot is dropped when the last handle
 * closes, which breaks the cycle shared -> latest -> shared.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/schema.h"
#include "tbl_int.h"

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static tbl_shared *g_list;

/* Handles per shared state (guarded by g_mu, like refs). */
typedef struct shared_ext {
  tbl_shared sh;
  size_t handles;
} shared_ext;

static hdb_status shared_acquire(const char *dir, tbl_shared **out, hdb_error *err) {
  struct stat st;
  if (stat(dir, &st) != 0) {
    if (errno == ENOENT) return hdb__fail(err, HDB_NOT_FOUND, "%s: no such table directory", dir);
    return hdb__fail(err, HDB_IO, "%s: stat: %s", dir, strerror(errno));
  }
  if (!S_ISDIR(st.st_mode)) return hdb__fail(err, HDB_IO, "%s: not a directory", dir);
  pid_t pid = getpid();
  pthread_mutex_lock(&g_mu);
  for (tbl_shared *s = g_list; s; s = s->next)
    if (s->dev == st.st_dev && s->ino == st.st_ino && s->pid == pid) {
      s->refs++;
      ((shared_ext *)s)->handles++;
      pthread_mutex_unlock(&g_mu);
      *out = s;
      return HDB_OK;
    }
  shared_ext *e = hdb__calloc(1, sizeof *e);
  char *d = hdb__strdup(dir);
  if (!e || !d) {
    pthread_mutex_unlock(&g_mu);
    hdb__free_mem(e);
    hdb__free_mem(d);
    return hdb__fail(err, HDB_NOMEM, "%s: out of memory", dir);
  }
  tbl_shared *s = &e->sh;
  s->refs = 1;
  e->handles = 1;
  s->dev = st.st_dev;
  s->ino = st.st_ino;
  s->pid = pid;
  s->dir = d;
  pthread_mutex_init(&s->mu, NULL);
  s->next = g_list;
  g_list = s;
  pthread_mutex_unlock(&g_mu);
  *out = s;
  return HDB_OK;
}

static void shared_release(tbl_shared *s) {
  pthread_mutex_lock(&g_mu);
  if (--s->refs) {
    pthread_mutex_unlock(&g_mu);
    return;
  }
  for (tbl_shared **p = &g_list; *p; p = &(*p)->next)
    if (*p == s) {
      *p = s->next;
      break;
    }
  pthread_mutex_unlock(&g_mu);
  pthread_mutex_destroy(&s->mu);
  hdb__free_mem(s->pins);
  hdb__free_mem(s->dir);
  hdb__free_mem((shared_ext *)s);
}

/* ------------------------------------------------------------------ */
/* Pins                                                                */
/* ------------------------------------------------------------------ */

static int pin_add(tbl_shared *sh, uint64_t v) {
  int ok = 1;
  pthread_mutex_lock(&sh->mu);
  size_t i = 0;
  while (i < sh->n_pins && sh->pins[i].version != v) i++;
  if (i < sh->n_pins) {
    sh->pins[i].count++;
  } else {
    if (sh->n_pins == sh->cap_pins) {
      size_t cap = sh->cap_pins ? sh->cap_pins * 2 : 8;
      tbl_pin *p = hdb__realloc(sh->pins, cap * sizeof *p);
      if (!p) ok = 0;
      else {
        sh->pins = p;
        sh->cap_pins = cap;
      }
    }
    if (ok) sh->pins[sh->n_pins++] = (tbl_pin){v, 1};
  }
  pthread_mutex_unlock(&sh->mu);
  return ok;
}

static void pin_drop(tbl_shared *sh, uint64_t v) {
  pthread_mutex_lock(&sh->mu);
  for (size_t i = 0; i < sh->n_pins; i++)
    if (sh->pins[i].version == v) {
      if (--sh->pins[i].count == 0) sh->pins[i] = sh->pins[--sh->n_pins];
      break;
    }
  pthread_mutex_unlock(&sh->mu);
}

int hdb__tbl_pinned(tbl_shared *sh, uint64_t v) {
  int r = 0;
  pthread_mutex_lock(&sh->mu);
  for (size_t i = 0; i < sh->n_pins; i++)
    if (sh->pins[i].version == v) r = 1;
  pthread_mutex_unlock(&sh->mu);
  return r;
}

/* ------------------------------------------------------------------ */
/* Snapshots                                                           */
/* ------------------------------------------------------------------ */

static void snap_free(hdb__tbl_snap *s) {
  if (s->frags)
    for (size_t i = 0; i < s->m.n_frags; i++)
      if (s->frags[i]) hdb__tbl_frag_release(s->frags[i]);
  if (s->dels)
    for (size_t i = 0; i < s->m.n_frags; i++) hdb__free_mem(s->dels[i]);
  hdb__free_mem(s->frags);
  hdb__free_mem(s->dels);
  tbl_shared *sh = s->sh;
  uint64_t v = s->m.version;
  hdb__tbl_manifest_free(&s->m);
  hdb__free_mem(s);
  if (sh) {
    pin_drop(sh, v);
    shared_release(sh);
  }
}

void hdb__tbl_snap_retain(hdb__tbl_snap *s) { atomic_fetch_add(&s->refs, 1); }
void hdb__tbl_unpin(hdb__tbl_snap *s) {
  if (s && atomic_fetch_sub(&s->refs, 1) == 1) snap_free(s);
}

int64_t hdb__tbl_snap_version(const hdb__tbl_snap *s) { return (int64_t)s->m.version; }
int64_t hdb__tbl_snap_timestamp(const hdb__tbl_snap *s) { return s->m.timestamp; }
const hdb_schema *hdb__tbl_snap_schema(const hdb__tbl_snap *s) { return s->m.schema; }
uint64_t hdb__tbl_snap_rows(const hdb__tbl_snap *s) { return s->live_rows; }
size_t hdb__tbl_snap_fragments(const hdb__tbl_snap *s) { return s->m.n_frags; }

hdb_status hdb__tbl_snap_load(tbl_shared *sh, tbl_manifest *m, const hdb__tbl_snap *reuse,
                              hdb__tbl_snap **out, hdb_error *err) {
  *out = NULL;
  hdb__tbl_snap *s = hdb__calloc(1, sizeof *s);
  if (!s) {
    hdb__tbl_manifest_free(m);
    return hdb__fail(err, HDB_NOMEM, "%s: out of memory", sh->dir);
  }
  atomic_init(&s->refs, 1);
  s->m = *m;
  memset(m, 0, sizeof *m);
  hdb_status rc = HDB_OK;
  size_t n = s->m.n_frags;
  if (!pin_add(sh, s->m.version)) {
    hdb__tbl_manifest_free(&s->m);
    hdb__free_mem(s);
    return hdb__fail(err, HDB_NOMEM, "%s: out of memory", sh->dir);
  }
  pthread_mutex_lock(&g_mu);
  sh->refs++;
  pthread_mutex_unlock(&g_mu);
  s->sh = sh;
  s->frags = hdb__calloc(n ? n : 1, sizeof *s->frags);
  s->dels = hdb__calloc(n ? n : 1, sizeof *s->dels);
  if (!s->frags || !s->dels) {
    rc = hdb__fail(err, HDB_NOMEM, "%s: out of memory", sh->dir);
    goto done;
  }
  for (size_t i = 0; i < n && rc == HDB_OK; i++) {
    const tbl_fref *fr = &s->m.frags[i];
    const tbl_fref *old = NULL;
    size_t oi = 0;
    if (reuse)
      for (oi = 0; oi < reuse->m.n_frags; oi++)
        if (reuse->m.frags[oi].fid == fr->fid && reuse->m.frags[oi].dir_xxh3 == fr->dir_xxh3) {
          old = &reuse->m.frags[oi];
          break;
        }
    if (old) {
      s->frags[i] = reuse->frags[oi];
      hdb__tbl_frag_retain(s->frags[i]);
    } else {
      rc = hdb__tbl_frag_open(sh->dir, fr->fid, &s->frags[i], err);
      if (rc != HDB_OK) break;
      if (s->frags[i]->n_rows != fr->rows || s->frags[i]->dir_xxh3 != fr->dir_xxh3) {
        rc = hdb__fail(err, HDB_CORRUPT, "%s/%s: does not match manifest version %llu", sh->dir,
                       s->frags[i]->name, (unsigned long long)s->m.version);
        break;
      }
    }
    if (!fr->did) continue;
    size_t bytes = (size_t)(fr->rows / 8 + 1);
    if (old && old->did == fr->did && reuse->dels[oi]) {
      s->dels[i] = hdb__memdup(reuse->dels[oi], bytes);
      if (!s->dels[i]) rc = hdb__fail(err, HDB_NOMEM, "%s: out of memory", sh->dir);
      continue;
    }
    char dn[32];
    hdb__tbl_del_name(fr->did, dn);
    char *path = hdb__tbl_path(sh->dir, dn);
    uint8_t *buf = NULL;
    size_t len = 0;
    uint64_t nd = 0;
    if (!path) rc = hdb__fail(err, HDB_NOMEM, "%s: out of memory", sh->dir);
    if (rc == HDB_OK) rc = hdb__tbl_read_file(path, &buf, &len, err);
    if (rc == HDB_OK) rc = hdb__tbl_del_decode(buf, len, fr->rows, path, &s->dels[i], &nd, err);
    if (rc == HDB_OK && nd != fr->n_deleted)
      rc = hdb__fail(err, HDB_CORRUPT, "%s: holds %llu deletions, manifest %llu says %llu", path,
                     (unsigned long long)nd, (unsigned long long)s->m.version,
                     (unsigned long long)fr->n_deleted);
    hdb__free_mem(buf);
    hdb__free_mem(path);
  }
  for (size_t i = 0; i < n; i++) s->live_rows += s->m.frags[i].rows - s->m.frags[i].n_deleted;
done:
  if (rc != HDB_OK) {
    snap_free(s);
    return rc;
  }
  *out = s;
  return HDB_OK;
}

/* ------------------------------------------------------------------ */
/* Versions on disk                                                    */
/* ------------------------------------------------------------------ */

static int manifest_exists(const char *dir, uint64_t v) {
  char name[40];
  hdb__tbl_manifest_name(v, name);
  char *p = hdb__tbl_path(dir, name);
  if (!p) return -1;
  struct stat st;
  int r = stat(p, &st) == 0;
  hdb__free_mem(p);
  return r;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

hdb_status hdb__tbl_list_versions(const char *dir, uint64_t **out, size_t *n, hdb_error *err) {
  *out = NULL;
  *n = 0;
  DIR *d = opendir(dir);
  if (!d) return hdb__fail(err, HDB_IO, "%s: opendir: %s", dir, strerror(errno));
  uint64_t *v = NULL;
  size_t cnt = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    uint64_t ver;
    if (!hdb__tbl_parse_manifest_name(e->d_name, &ver)) continue;
    if (cnt == cap) {
      cap = cap ? cap * 2 : 64;
      uint64_t *nv = hdb__realloc(v, cap * sizeof *nv);
      if (!nv) {
        closedir(d);
        hdb__free_mem(v);
        return hdb__fail(err, HDB_NOMEM, "%s: out of memory listing versions", dir);
      }
      v = nv;
    }
    v[cnt++] = ver;
  }
  closedir(d);
  if (cnt) qsort(v, cnt, sizeof *v, cmp_u64);
  *out = v;
  *n = cnt;
  return HDB_OK;
}

hdb_status hdb__tbl_manifest_read(const char *dir, uint64_t v, tbl_manifest *m, hdb_error *err) {
  char name[40];
  hdb__tbl_manifest_name(v, name);
  char *p = hdb__tbl_path(dir, name);
  if (!p) return hdb__fail(err, HDB_NOMEM, "%s: out of memory", dir);
  uint8_t *buf;
  size_t len;
  hdb_status rc = hdb__tbl_read_file(p, &buf, &len, err);
  if (rc == HDB_OK) {
    rc = hdb__tbl_manifest_decode(buf, len, p, m, err);
    if (rc == HDB_OK && m->version != v) {
      hdb__tbl_manifest_free(m);
      rc = hdb__fail(err, HDB_CORRUPT, "%s: holds version %llu", p, (unsigned long long)m->version);
    }
    hdb__free_mem(buf);
  } else if (rc == HDB_NOT_FOUND) {
    rc = hdb__fail(err, HDB_NOT_FOUND, "%s: version %llu does not exist (never committed or removed by retention)",
                   dir, (unsigned long long)v);
  }
  hdb__free_mem(p);
  return rc;
}

/* The `_latest` hint: u64 version, u64 XXH3 of it. Never trusted alone. */
static uint64_t hint_read(const char *dir) {
  char *p = hdb__tbl_path(dir, "_latest");
  if (!p) return 0;
  int fd = open(p, O_RDONLY | O_CLOEXEC);
  hdb__free_mem(p);
  if (fd < 0) return 0;
  uint8_t b[16];
  ssize_t r = pread(fd, b, sizeof b, 0);
  close(fd);
  if (r != (ssize_t)sizeof b || hdb__tbl_hash(b, 8) != tbl_ld64(b + 8)) return 0;
  return tbl_ld64(b);
}

static void hint_write(const char *dir, uint64_t v) {
  char *p = hdb__tbl_path(dir, "_latest");
  if (!p) return;
  int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  hdb__free_mem(p);
  if (fd < 0) return;
  uint8_t b[16];
  tbl_st64(b, v);
  tbl_st64(b + 8, hdb__tbl_hash(b, 8));
  /* 16 bytes in one pwrite: a reader sees old or new (page cache writes of
   * this size do not tear), and a torn one fails its checksum. */
  if (pwrite(fd, b, sizeof b, 0) != (ssize_t)sizeof b) {
    /* A stale hint only costs a longer probe or a directory listing. */
  }
  close(fd);
}

/* Newest version on disk (0: none), starting from `known`. */
static hdb_status find_latest(const char *dir, uint64_t known, uint64_t *out, hdb_error *err) {
  uint64_t h = hint_read(dir), start = 0;
  if (h > known && manifest_exists(dir, h) == 1) start = h;
  else if (known && manifest_exists(dir, known) == 1) start = known;
  else if (h && manifest_exists(dir, h) == 1) start = h;
  if (!start) {
    uint64_t *v;
    size_t n;
    hdb_status rc = hdb__tbl_list_versions(dir, &v, &n, err);
    if (rc != HDB_OK) return rc;
    start = n ? v[n - 1] : 0;
    hdb__free_mem(v);
  }
  if (start)
    while (manifest_exists(dir, start + 1) == 1) start++;
  *out = start;
  return HDB_OK;
}

void hdb__tbl_set_latest(tbl_shared *sh, hdb__tbl_snap *s) {
  hdb__tbl_snap *old = NULL;
  hdb__tbl_snap_retain(s);
  pthread_mutex_lock(&sh->mu);
  if (!sh->latest || sh->latest->m.version <= s->m.version) {
    old = sh->latest;
    sh->latest = s;
  } else {
    old = s;
  }
  pthread_mutex_unlock(&sh->mu);
  hdb__tbl_unpin(old);
}

static hdb__tbl_snap *cached_latest(tbl_shared *sh) {
  pthread_mutex_lock(&sh->mu);
  hdb__tbl_snap *c = sh->latest;
  if (c) hdb__tbl_snap_retain(c);
  pthread_mutex_unlock(&sh->mu);
  return c;
}

hdb_status hdb__tbl_latest(hdb__tbl *t, hdb__tbl_snap **out, hdb_error *err) {
  *out = NULL;
  tbl_shared *sh = t->sh;
  hdb_status rc = HDB_OK;
  /* A version can vanish between finding and loading it only when another
   * process's retention removed it, which means a newer one exists: retry. */
  for (int attempt = 0; attempt < 8; attempt++) {
    hdb__tbl_snap *cur = cached_latest(sh);
    uint64_t v;
    rc = find_latest(sh->dir, cur ? cur->m.version : 0, &v, err);
    if (rc != HDB_OK) {
      hdb__tbl_unpin(cur);
      return rc;
    }
    if (v == 0) {
      hdb__tbl_unpin(cur);
      return hdb__fail(err, HDB_NOT_FOUND, "%s: no table (no manifest)", sh->dir);
    }
    if (cur && cur->m.version == v) {
      *out = cur;
      return HDB_OK;
    }
    tbl_manifest m;
    rc = hdb__tbl_manifest_read(sh->dir, v, &m, err);
    hdb__tbl_snap *s = NULL;
    if (rc == HDB_OK) rc = hdb__tbl_snap_load(sh, &m, cur, &s, err);
    hdb__tbl_unpin(cur);
    if (rc == HDB_OK) {
      hdb__tbl_set_latest(sh, s);
      *out = s;
      return HDB_OK;
    }
    if (rc != HDB_NOT_FOUND) return rc;
  }
  return rc;
}

hdb_status hdb__tbl_pin(hdb__tbl *t, int64_t version, hdb__tbl_snap **out, hdb_error *err) {
  *out = NULL;
  if (version < 0) return hdb__fail(err, HDB_INVALID_ARGUMENT, "negative version %lld", (long long)version);
  if (version == 0) return hdb__tbl_latest(t, out, err);
  hdb__tbl_snap *cur = cached_latest(t->sh);
  if (cur && cur->m.version == (uint64_t)version) {
    *out = cur;
    return HDB_OK;
  }
  tbl_manifest m;
  hdb_status rc = hdb__tbl_manifest_read(t->dir, (uint64_t)version, &m, err);
  if (rc == HDB_OK) rc = hdb__tbl_snap_load(t->sh, &m, cur, out, err);
  hdb__tbl_unpin(cur);
  return rc;
}

/* Reads the header of version v: its timestamp. */
hdb_status hdb__tbl_version_time(const char *dir, uint64_t v, int64_t *ts, hdb_error *err) {
  char name[40];
  hdb__tbl_manifest_name(v, name);
  char *p = hdb__tbl_path(dir, name);
  if (!p) return hdb__fail(err, HDB_NOMEM, "%s: out of memory", dir);
  int fd = open(p, O_RDONLY | O_CLOEXEC);
  hdb_status rc = HDB_OK;
  if (fd < 0) {
    rc = errno == ENOENT ? HDB_NOT_FOUND : hdb__fail(err, HDB_IO, "%s: open: %s", p, strerror(errno));
  } else {
    uint8_t b[TBL_HEADER];
    ssize_t r = pread(fd, b, sizeof b, 0);
    close(fd);
    tbl_header h;
    rc = hdb__tbl_header_decode(b, r < 0 ? 0 : (size_t)r, TBL_MAGIC_MANIFEST, p, &h, err);
    if (rc == HDB_OK) *ts = (int64_t)h.f[1];
  }
  hdb__free_mem(p);
  return rc;
}

hdb_status hdb__tbl_pin_at(hdb__tbl *t, int64_t ts_us, hdb__tbl_snap **out, hdb_error *err) {
  *out = NULL;
  uint64_t *v;
  size_t n;
  hdb_status rc = hdb__tbl_list_versions(t->dir, &v, &n, err);
  if (rc != HDB_OK) return rc;
  rc = hdb__fail(err, HDB_NOT_FOUND, "%s: no version at or before that time", t->dir);
  /* Commit timestamps strictly increase with the version (README rule 7). */
  for (size_t i = n; i-- > 0;) {
    int64_t ts;
    hdb_status r = hdb__tbl_version_time(t->dir, v[i], &ts, err);
    if (r == HDB_NOT_FOUND) continue;
    if (r != HDB_OK) {
      rc = r;
      break;
    }
    if (ts <= ts_us) {
      rc = hdb__tbl_pin(t, (int64_t)v[i], out, err);
      break;
    }
  }
  hdb__free_mem(v);
  return rc;
}

hdb_status hdb__tbl_pin_tag(hdb__tbl *t, const char *tag, hdb__tbl_snap **out, hdb_error *err) {
  *out = NULL;
  hdb__tbl_snap *l;
  hdb_status rc = hdb__tbl_latest(t, &l, err);
  if (rc != HDB_OK) return rc;
  uint64_t v = 0;
  for (size_t i = 0; i < l->m.n_tags; i++)
    if (strcmp(l->m.tags[i].name, tag) == 0) v = l->m.tags[i].version;
  hdb__tbl_unpin(l);
  if (!v) return hdb__fail(err, HDB_NOT_FOUND, "%s: no tag '%s'", t->dir, tag);
  return hdb__tbl_pin(t, (int64_t)v, out, err);
}

hdb_status hdb__tbl_versions(hdb__tbl *t, hdb_version_info **out, size_t *count, hdb_error *err) {
  *out = NULL;
  *count = 0;
  hdb__tbl_snap *l;
  hdb_status rc = hdb__tbl_latest(t, &l, err);
  if (rc != HDB_OK) return rc;
  uint64_t *v = NULL;
  size_t n = 0, k = 0;
  hdb_version_info *info = NULL;
  rc = hdb__tbl_list_versions(t->dir, &v, &n, err);
  if (rc != HDB_OK) goto done;
  info = hdb__calloc(n ? n : 1, sizeof *info);
  if (!info) {
    rc = hdb__fail(err, HDB_NOMEM, "%s: out of memory", t->dir);
    goto done;
  }
  for (size_t i = 0; i < n; i++) {
    if (v[i] > l->m.version) continue; /* committed after we looked */
    int64_t ts;
    hdb_status r = hdb__tbl_version_time(t->dir, v[i], &ts, err);
    if (r == HDB_NOT_FOUND) continue; /* removed meanwhile */
    if (r != HDB_OK) {
      rc = r;
      goto done;
    }
    info[k].version = (int64_t)v[i];
    info[k].timestamp_us = ts;
    for (size_t j = 0; j < l->m.n_tags; j++)
      if (l->m.tags[j].version == v[i] && !info[k].tag) {
        info[k].tag = hdb__strdup(l->m.tags[j].name);
        if (!info[k].tag) {
          k++;
          rc = hdb__fail(err, HDB_NOMEM, "%s: out of memory", t->dir);
          goto done;
        }
      }
    k++;
  }
done:
  hdb__free_mem(v);
  hdb__tbl_unpin(l);
  if (rc != HDB_OK) {
    for (size_t i = 0; i < k; i++) hdb__free_mem(info[i].tag);
    hdb__free_mem(info);
    return rc;
  }
  *out = info;
  *count = k;
  return HDB_OK;
}

/* ------------------------------------------------------------------ */
/* Writer lock and commit                                              */
/* ------------------------------------------------------------------ */

hdb_status hdb__tbl_lock(hdb__tbl *t, int *fd_out, hdb_error *err) {
  *fd_out = -1;
  char *p = hdb__tbl_path(t->dir, "_writer.lock");
  if (!p) return hdb__fail(err, HDB_NOMEM, "%s: out of memory", t->dir);
  /* A fresh open file description per attempt: flock then excludes other
   * threads of this process as well as other processes. */
  int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    hdb_status rc = hdb__fail(err, HDB_IO, "%s: open: %s", p, strerror(errno));
    hdb__free_mem(p);
    return rc;
  }
  int timeout = t->opt.lock_timeout_ms == 0 ? 10000 : t->opt.lock_timeout_ms;
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  long sleep_us = 200;
  for (;;) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) break;
    if (errno != EWOULDBLOCK && errno != EINTR) {
      hdb_status rc = hdb__fail(err, HDB_IO, "%s: flock: %s", p, strerror(errno));
      close(fd);
      hdb__free_mem(p);
      return rc;
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    long waited = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
    if (timeout < 0 || waited >= timeout) {
      close(fd);
      hdb_status rc = hdb__fail(err, HDB_BUSY, "%s: another writer holds the table lock (waited %ld ms)",
                                p, waited);
      hdb__free_mem(p);
      return rc;
    }
    struct timespec ts = {0, sleep_us * 1000};
    nanosleep(&ts, NULL);
    if (sleep_us < 10000) sleep_us *= 2;
  }
  hdb__free_mem(p);
  *fd_out = fd;
  return HDB_OK;
}

void hdb__tbl_unlock(int fd) {
  if (fd >= 0) close(fd); /* closing the last descriptor releases the flock */
}

hdb_status hdb__tbl_commit(hdb__tbl *t, tbl_manifest *m, const hdb__tbl_snap *base,
                           hdb_error *err) {
  tbl_buf b = {0};
  hdb__tbl_sync sync = t->opt.sync;
  m->version = base ? base->m.version + 1 : 1;
  int64_t now = hdb__tbl_now_us();
  m->timestamp = base && now <= base->m.timestamp ? base->m.timestamp + 1 : now;
  hdb_status rc = hdb__tbl_manifest_encode(m, &b, err);
  /* Rule 3: the new data files' directory entries are durable before the
   * manifest that names them can be. */
  if (rc == HDB_OK && sync != HDB__TBL_SYNC_OFF) rc = hdb__tbl_fsync_dir(t->dir, err);
  char name[40];
  hdb__tbl_manifest_name(m->version, name);
  if (rc == HDB_OK) rc = hdb__tbl_write_atomic(t->dir, name, b.p, b.n, sync, err);
  hdb__tbl_buf_free(&b);
  if (rc != HDB_OK) {
    hdb__tbl_manifest_free(m);
    return rc;
  }
  hint_write(t->dir, m->version);
  /* The commit is done; installing the snapshot only saves the next
   * reader a load, so its failure is not the commit's. */
  hdb__tbl_snap *s;
  if (hdb__tbl_snap_load(t->sh, m, base, &s, NULL) == HDB_OK) {
    hdb__tbl_set_latest(t->sh, s);
    hdb__tbl_unpin(s);
  }
  return HDB_OK;
}

/* ------------------------------------------------------------------ */
/* Open and close                                                      */
/* ------------------------------------------------------------------ */

static void handle_free(hdb__tbl *t) {
  if (!t) return;
  if (t->sh) {
    hdb__tbl_snap *drop = NULL;
    pthread_mutex_lock(&g_mu);
    int last = --((shared_ext *)t->sh)->handles == 0;
    pthread_mutex_unlock(&g_mu);
    if (last) {
      pthread_mutex_lock(&t->sh->mu);
      drop = t->sh->latest;
      t->sh->latest = NULL;
      pthread_mutex_unlock(&t->sh->mu);
    }
    hdb__tbl_unpin(drop);
    shared_release(t->sh);
  }
  hdb__free_mem(t->dir);
  hdb__free_mem(t);
}

hdb_status hdb__tbl_open(const char *dir, const hdb__tbl_options *opt, hdb__tbl **out,
                         hdb_error *err) {
  *out = NULL;
  hdb__tbl_options o = HDB__TBL_OPTIONS_INIT;
  if (opt) o = *opt;
  if (o.create && mkdir(dir, 0755) != 0 && errno != EEXIST)
    return hdb__fail(err, HDB_IO, "%s: mkdir: %s", dir, strerror(errno));
  hdb__tbl *t = hdb__calloc(1, sizeof *t);
  if (!t) return hdb__fail(err, HDB_NOMEM, "%s: out of memory", dir);
  t->opt = o;
  t->opt.schema = NULL;
  t->dir = hdb__strdup(dir);
  if (!t->dir) {
    hdb__free_mem(t);
    return hdb__fail(err, HDB_NOMEM, "%s: out of memory", dir);
  }
  hdb_status rc = shared_acquire(dir, &t->sh, err);
  if (rc != HDB_OK) {
    hdb__free_mem(t->dir);
    hdb__free_mem(t);
    return rc;
  }
  hdb__tbl_snap *s;
  rc = hdb__tbl_latest(t, &s, err);
  if (rc == HDB_NOT_FOUND && o.create) {
    int fd;
    rc = hdb__tbl_lock(t, &fd, err);
    if (rc == HDB_OK) {
      uint64_t v;
      rc = find_latest(t->dir, 0, &v, err);
      if (rc == HDB_OK && v == 0) {
        tbl_manifest m;
        memset(&m, 0, sizeof m);
        m.op = TBL_OP_CREATE;
        m.next_field_id = 1;
        if (o.schema) {
          m.schema = hdb_schema_clone(o.schema);
          m.field_ids = hdb__calloc(o.schema->n ? o.schema->n : 1, sizeof *m.field_ids);
          if (!m.schema || !m.field_ids) {
            rc = hdb__fail(err, HDB_NOMEM, "%s: out of memory", dir);
            hdb__tbl_manifest_free(&m);
          } else {
            for (size_t i = 0; i < o.schema->n; i++) m.field_ids[i] = m.next_field_id++;
          }
        }
        if (rc == HDB_OK) rc = hdb__tbl_commit(t, &m, NULL, err);
      }
      hdb__tbl_unlock(fd);
    }
    if (rc == HDB_OK) rc = hdb__tbl_latest(t, &s, err);
  }
  if (rc != HDB_OK) {
    handle_free(t);
    return rc;
  }
  hdb__tbl_unpin(s);
  *out = t;
  return HDB_OK;
}

void hdb__tbl_close(hdb__tbl *t) { handle_free(t); }
const char *hdb__tbl_dir(const hdb__tbl *t) { return t->dir; }

void hdb__tbl_stats(hdb__tbl *t, hdb__tbl_scan_stats *out) {
  out->chunks_total = atomic_load(&t->sh->chunks_total);
  out->chunks_skipped = atomic_load(&t->sh->chunks_skipped);
  out->rows_read = atomic_load(&t->sh->rows_read);
  out->rows_matched = atomic_load(&t->sh->rows_matched);
}

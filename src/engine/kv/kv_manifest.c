/*
 * kv_manifest.c - the MANIFEST (a log of version edits) and CURRENT.
 *
 * MANIFEST-NNNNNN uses the record log framing of kv_wal.c with the magic
 * "HDKVMAN1". Its first record is a full snapshot (every live table plus
 * the counters); each later record is one edit, fdatasync'ed before the
 * version it describes is installed. CURRENT holds "MANIFEST-NNNNNN\n" and
 * is only ever replaced whole: write CURRENT.tmp, fsync, rename, fsync the
 * directory. A new MANIFEST is started at every open, so the log stays
 * short and the old one is deleted once CURRENT names the new one.
 *
 * Recovery replays every complete record. A torn last record is an edit
 * that was never acknowledged (the tables it adds are unreferenced and
 * collected; the tables it deletes were not deleted yet, rule C4 in the
 * README), so it is dropped; any other damage is HDB_CORRUPT.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/kv/kv_impl.h"

typedef struct replay_ctx {
  const char *dir;
  const char *name;
  hdb__lsm_recovered *r;
  int have_log, have_next;
  int apply; /* 0: only decode (verify) */
} replay_ctx;

static hdb_status on_edit(void *vctx, const char *p, size_t n, uint64_t off, hdb_error *err) {
  replay_ctx *c = vctx;
  hdb__lsm_edit e;
  hdb__lsm_edit_init(&e);
  hdb_status st = hdb__lsm_edit_decode(c->dir, p, n, c->name, off, &e, err);
  if (st == HDB_OK && c->apply) {
    hdb__lsm_version *v;
    st = hdb__lsm_version_apply(c->r->version, &e, &v, err);
    if (st == HDB_CORRUPT) hdb__err_prefix(err, "kv: %s: record at offset %llu", c->name, (unsigned long long)off);
    if (st == HDB_OK) {
      hdb__lsm_version_unref(c->r->version);
      c->r->version = v;
    }
  }
  if (st == HDB_OK) {
    if (e.has_log) {
      c->r->log_number = e.log_number;
      c->have_log = 1;
    }
    if (e.has_next) {
      c->r->next_file = e.next_file;
      c->have_next = 1;
    }
    if (e.has_seq && e.last_seq > c->r->last_seq) c->r->last_seq = e.last_seq;
  }
  hdb__lsm_edit_free(&e);
  return st;
}

static hdb_status replay(const char *dir, const char *path, hdb__lsm_recovered *r, int apply,
                         hdb_error *err) {
  char *data;
  size_t len;
  hdb_status st = hdb__lsm_read_file(path, &data, &len, err);
  if (st == HDB_NOT_FOUND) st = hdb__fail(err, HDB_CORRUPT, "kv: %s: named by CURRENT but missing", path);
  if (st != HDB_OK) return st;
  replay_ctx c = {dir, path, r, 0, 0, apply};
  uint64_t torn;
  st = hdb__lsm_log_replay(path, data, len, HDB__LSM_MAN_MAGIC, on_edit, &c, &torn, err);
  if (st == HDB_OK && (!c.have_log || !c.have_next))
    st = hdb__fail(err, HDB_CORRUPT, "kv: %s: no complete snapshot record", path);
  if (st == HDB_OK) r->manifest_end = torn;
  hdb__free_mem(data);
  return st;
}

hdb_status hdb__lsm_manifest_current(const char *dir, uint64_t *number, hdb_error *err) {
  size_t n = strlen(dir) + 16;
  char *cur = hdb__malloc(n);
  if (!cur) return hdb__fail(err, HDB_NOMEM, "kv: out of memory");
  snprintf(cur, n, "%s/CURRENT", dir);
  char *data = NULL;
  size_t len;
  hdb_status st = hdb__lsm_read_file(cur, &data, &len, err);
  unsigned long long num = 0;
  int used = 0;
  if (st == HDB_OK && (len < 10 || len > 40 || sscanf(data, "MANIFEST-%llu\n%n", &num, &used) != 1 ||
                       (size_t)used != len))
    st = hdb__fail(err, HDB_CORRUPT, "kv: %s: malformed (expected MANIFEST-NNNNNN)", cur);
  if (st == HDB_OK) *number = num;
  hdb__free_mem(data);
  hdb__free_mem(cur);
  return st;
}

hdb_status hdb__lsm_manifest_catch_up(const char *dir, hdb__lsm_recovered *r, hdb_error *err) {
  char *path = hdb__lsm_path(dir, r->manifest_number, "MANIFEST");
  if (!path) return hdb__fail(err, HDB_NOMEM, "kv: out of memory");
  hdb_status st = HDB_OK;
  char *buf = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat sb;
  if (fd < 0 || fstat(fd, &sb) != 0) {
    st = hdb__fail(err, errno == ENOENT ? HDB_NOT_FOUND : HDB_IO, "kv: %s: open failed: %s", path,
                   strerror(errno));
    goto done;
  }
  if ((uint64_t)sb.st_size <= r->manifest_end) goto done;
  size_t n = (size_t)((uint64_t)sb.st_size - r->manifest_end);
  if (!(buf = hdb__malloc(n))) {
    st = hdb__fail(err, HDB_NOMEM, "kv: out of memory reading %s", path);
    goto done;
  }
  if ((st = hdb__lsm_pread_all(fd, buf, n, r->manifest_end, path, err)) != HDB_OK) goto done;
  /* The snapshot record was read before: only edits follow. */
  replay_ctx c = {dir, path, r, 1, 1, 1};
  uint64_t end;
  st = hdb__lsm_log_replay_tail(path, buf, n, r->manifest_end, HDB__LSM_MAN_MAGIC, on_edit, &c,
                                &end, err);
  if (st == HDB_OK) r->manifest_end = end;
done:
  if (fd >= 0) close(fd);
  hdb__free_mem(buf);
  hdb__free_mem(path);
  return st;
}

hdb_status hdb__lsm_manifest_recover(const char *dir, hdb__lsm_recovered *r, hdb_error *err) {
  memset(r, 0, sizeof *r);
  uint64_t num = 0;
  hdb_status st = hdb__lsm_manifest_current(dir, &num, err);
  if (st != HDB_OK) return st;
  r->manifest_number = num;
  char *path = hdb__lsm_path(dir, num, "MANIFEST");
  r->version = hdb__lsm_version_new();
  if (!path || !r->version)
    st = hdb__fail(err, HDB_NOMEM, "kv: out of memory");
  else
    st = replay(dir, path, r, 1, err);
  if (st != HDB_OK) {
    hdb__lsm_version_unref(r->version);
    r->version = NULL;
  }
  hdb__free_mem(path);
  return st;
}

hdb_status hdb__lsm_manifest_append(hdb__lsm_log *l, const hdb__lsm_edit *e, hdb_error *err) {
  hdb__lsm_buf b = {0};
  hdb_status st = hdb__lsm_edit_encode(e, &b, err);
  if (st == HDB_OK) st = hdb__lsm_log_append(l, b.p ? b.p : "", b.len, err);
  if (st == HDB_OK) st = hdb__lsm_log_sync(l, err);
  hdb__lsm_buf_free(&b);
  return st;
}

hdb_status hdb__lsm_manifest_create(const char *dir, uint64_t number, const hdb__lsm_version *v,
                                    uint64_t log_number, uint64_t next_file, uint64_t last_seq,
                                    hdb__lsm_log *l, hdb_error *err) {
  hdb__lsm_edit e;
  hdb__lsm_edit_init(&e);
  e.has_log = e.has_next = e.has_seq = 1;
  e.log_number = log_number;
  e.next_file = next_file;
  e.last_seq = last_seq;
  hdb_status st = HDB_OK;
  char *path = hdb__lsm_path(dir, number, "MANIFEST");
  size_t n = strlen(dir) + 16;
  char *tmp = hdb__malloc(n), *cur = hdb__malloc(n);
  int fd = -1;
  memset(l, 0, sizeof *l);
  l->fd = -1;
  if (!path || !tmp || !cur) {
    st = hdb__fail(err, HDB_NOMEM, "kv: out of memory");
    goto done;
  }
  snprintf(tmp, n, "%s/CURRENT.tmp", dir);
  snprintf(cur, n, "%s/CURRENT", dir);
  for (int lv = 0; lv < HDB__LSM_LEVELS && st == HDB_OK; lv++)
    for (size_t i = 0; i < v->n[lv] && st == HDB_OK; i++)
      st = hdb__lsm_edit_add_file(&e, lv, v->files[lv][i], err);
  if (st != HDB_OK) goto done;
  if ((st = hdb__lsm_log_create(l, path, HDB__LSM_MAN_MAGIC, err)) != HDB_OK) goto done;
  if ((st = hdb__lsm_manifest_append(l, &e, err)) != HDB_OK) goto done;
  char text[40];
  int tl = snprintf(text, sizeof text, "MANIFEST-%06llu\n", (unsigned long long)number);
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    st = hdb__fail(err, HDB_IO, "kv: %s: create failed: %s", tmp, strerror(errno));
    goto done;
  }
  if ((st = hdb__lsm_write_all(fd, text, (size_t)tl, tmp, err)) != HDB_OK) goto done;
  if ((st = hdb__lsm_fsync(fd, tmp, 0, err)) != HDB_OK) goto done;
  if (rename(tmp, cur) != 0) {
    st = hdb__fail(err, HDB_IO, "kv: %s: rename to CURRENT failed: %s", tmp, strerror(errno));
    goto done;
  }
  st = hdb__lsm_fsync_dir(dir, err);
done:
  if (fd >= 0) close(fd);
  if (st != HDB_OK) {
    if (l->fd >= 0) unlink(path);
    hdb__lsm_log_close(l);
  }
  hdb__lsm_edit_free(&e);
  hdb__free_mem(path);
  hdb__free_mem(tmp);
  hdb__free_mem(cur);
  return st;
}

hdb_status hdb__lsm_manifest_verify(const char *dir, const char *path, hdb_error *err) {
  hdb__lsm_recovered r;
  memset(&r, 0, sizeof r);
  return replay(dir, path, &r, 0, err);
}

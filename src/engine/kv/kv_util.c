/*
 * kv_util.c - byte buffers, checksums and file helpers of the LSM store.
 *
 * Every I/O helper names the path in its error, so any failure that
 * reaches the caller says which file it was.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/kv/kv_impl.h"

hdb_status hdb__lsm_buf_reserve(hdb__lsm_buf *b, size_t extra, hdb_error *err) {
  if (b->cap - b->len >= extra) return HDB_OK;
  size_t need = b->len + extra;
  if (need < b->len) return hdb__fail(err, HDB_TOO_BIG, "kv: buffer size overflow");
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need) cap = cap * 2 > cap ? cap * 2 : need;
  char *p = hdb__realloc(b->p, cap);
  if (!p) return hdb__fail(err, HDB_NOMEM, "kv: out of memory growing a buffer to %zu bytes", cap);
  b->p = p;
  b->cap = cap;
  return HDB_OK;
}

hdb_status hdb__lsm_buf_append(hdb__lsm_buf *b, const void *p, size_t n, hdb_error *err) {
  hdb_status st = hdb__lsm_buf_reserve(b, n, err);
  if (st != HDB_OK) return st;
  if (n) memcpy(b->p + b->len, p, n);
  b->len += n;
  return HDB_OK;
}

hdb_status hdb__lsm_buf_putv(hdb__lsm_buf *b, uint64_t v, hdb_error *err) {
  hdb_status st = hdb__lsm_buf_reserve(b, 10, err);
  if (st != HDB_OK) return st;
  b->len += hdb__lsm_putv(b->p + b->len, v);
  return HDB_OK;
}

hdb_status hdb__lsm_buf_set(hdb__lsm_buf *b, const void *p, size_t n, hdb_error *err) {
  b->len = 0;
  return hdb__lsm_buf_append(b, p, n, err);
}

void hdb__lsm_buf_free(hdb__lsm_buf *b) {
  hdb__free_mem(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

uint64_t hdb__lsm_hash(const void *p, size_t n, uint64_t seed) {
  return XXH3_64bits_withSeed(p, n, seed);
}

char *hdb__lsm_path(const char *dir, uint64_t number, const char *suffix) {
  size_t n = strlen(dir) + strlen(suffix) + 32;
  char *s = hdb__malloc(n);
  if (!s) return NULL;
  if (strncmp(suffix, "MANIFEST", 8) == 0)
    snprintf(s, n, "%s/MANIFEST-%06llu", dir, (unsigned long long)number);
  else
    snprintf(s, n, "%s/%06llu%s", dir, (unsigned long long)number, suffix);
  return s;
}

hdb_status hdb__lsm_write_all(int fd, const void *p, size_t n, const char *path, hdb_error *err) {
  const char *c = p;
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return hdb__fail(err, HDB_IO, "kv: %s: write failed: %s", path, strerror(errno));
    }
    c += w;
    n -= (size_t)w;
  }
  return HDB_OK;
}

hdb_status hdb__lsm_pread_all(int fd, void *p, size_t n, uint64_t off, const char *path,
                              hdb_error *err) {
  char *c = p;
  while (n > 0) {
    ssize_t r = pread(fd, c, n, (off_t)off);
    if (r < 0) {
      if (errno == EINTR) continue;
      return hdb__fail(err, HDB_IO, "kv: %s: read at offset %llu failed: %s", path,
                       (unsigned long long)off, strerror(errno));
    }
    if (r == 0)
      return hdb__fail(err, HDB_CORRUPT, "kv: %s: file ends at offset %llu, %zu bytes short", path,
                       (unsigned long long)off, n);
    c += r;
    n -= (size_t)r;
    off += (uint64_t)r;
  }
  return HDB_OK;
}

hdb_status hdb__lsm_fsync(int fd, const char *path, int data_only, hdb_error *err) {
  int rc = data_only ? fdatasync(fd) : fsync(fd);
  if (rc != 0) return hdb__fail(err, HDB_IO, "kv: %s: fsync failed: %s", path, strerror(errno));
  return HDB_OK;
}

hdb_status hdb__lsm_fsync_dir(const char *dir, hdb_error *err) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return hdb__fail(err, HDB_IO, "kv: %s: open directory failed: %s", dir, strerror(errno));
  hdb_status st = hdb__lsm_fsync(fd, dir, 0, err);
  close(fd);
  return st;
}

hdb_status hdb__lsm_read_file(const char *path, char **data, size_t *len, hdb_error *err) {
  *data = NULL;
  *len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    hdb_status code = errno == ENOENT ? HDB_NOT_FOUND : HDB_IO;
    return hdb__fail(err, code, "kv: %s: open failed: %s", path, strerror(errno));
  }
  hdb_status st = HDB_OK;
  struct stat sb;
  char *buf = NULL;
  if (fstat(fd, &sb) != 0) {
    st = hdb__fail(err, HDB_IO, "kv: %s: stat failed: %s", path, strerror(errno));
    goto done;
  }
  size_t n = (size_t)sb.st_size;
  buf = hdb__malloc(n + 1);
  if (!buf) {
    st = hdb__fail(err, HDB_NOMEM, "kv: %s: out of memory reading %zu bytes", path, n);
    goto done;
  }
  st = hdb__lsm_pread_all(fd, buf, n, 0, path, err);
  if (st != HDB_OK) goto done;
  buf[n] = '\0';
  *data = buf;
  *len = n;
  buf = NULL;
done:
  hdb__free_mem(buf);
  close(fd);
  return st;
}

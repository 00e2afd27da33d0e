/*
 * tbl_io.c - the byte level of engine/table: little-endian encoding, the
 * common 64-byte file header with its XXH3 checksums, whole-file reads,
 * atomic replacement (temp + fsync + rename + fsync dir), file names.
 *
 * Invariant: every function that touches a file reports failure as an
 * hdb_status whose message names the path and the errno text.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "core/err.h"
#include "tbl_int.h"

uint64_t hdb__tbl_hash(const void *p, size_t n) { return (uint64_t)XXH3_64bits(p, n); }

static atomic_int g_skip_checksums; /* fuzzing hook only */
void hdb__tbl_fuzz_skip_checksums(int on) { atomic_store(&g_skip_checksums, on != 0); }
int hdb__tbl_sum_ok(uint64_t computed, uint64_t stored) {
  return computed == stored || atomic_load_explicit(&g_skip_checksums, memory_order_relaxed);
}

/* ------------------------------------------------------------------ */
/* Buffers                                                             */
/* ------------------------------------------------------------------ */

void hdb__tbl_buf_free(tbl_buf *b) {
  hdb__free_mem(b->p);
  b->p = NULL;
  b->n = b->cap = 0;
  b->oom = 0;
}

int hdb__tbl_buf_reserve(tbl_buf *b, size_t extra) {
  if (b->oom) return -1;
  if (extra <= b->cap - b->n) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap - b->n < extra) {
    if (cap > SIZE_MAX / 2) {
      b->oom = 1;
      return -1;
    }
    cap *= 2;
  }
  uint8_t *p = hdb__realloc(b->p, cap);
  if (!p) {
    b->oom = 1;
    return -1;
  }
  b->p = p;
  b->cap = cap;
  return 0;
}

void hdb__tbl_put(tbl_buf *b, const void *p, size_t n) {
  if (!n || hdb__tbl_buf_reserve(b, n)) return;
  memcpy(b->p + b->n, p, n);
  b->n += n;
}
void hdb__tbl_put_zeros(tbl_buf *b, size_t n) {
  if (!n || hdb__tbl_buf_reserve(b, n)) return;
  memset(b->p + b->n, 0, n);
  b->n += n;
}
void hdb__tbl_put_u8(tbl_buf *b, uint8_t v) { hdb__tbl_put(b, &v, 1); }
void hdb__tbl_put_u16(tbl_buf *b, uint16_t v) {
  uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
  hdb__tbl_put(b, x, 2);
}
void hdb__tbl_put_u32(tbl_buf *b, uint32_t v) {
  uint8_t x[4];
  for (int i = 0; i < 4; i++) x[i] = (uint8_t)(v >> (8 * i));
  hdb__tbl_put(b, x, 4);
}
void hdb__tbl_put_u64(tbl_buf *b, uint64_t v) {
  uint8_t x[8];
  tbl_st64(x, v);
  hdb__tbl_put(b, x, 8);
}
void hdb__tbl_put_str(tbl_buf *b, const char *s, size_t n) {
  if (n > UINT16_MAX) n = UINT16_MAX; /* names and zone-map text are shorter */
  hdb__tbl_put_u16(b, (uint16_t)n);
  hdb__tbl_put(b, s, n);
  hdb__tbl_put_u8(b, 0);
}

static const uint8_t *take(tbl_rd *r, size_t n) {
  if (r->bad || n > r->n - r->pos) {
    r->bad = 1;
    return NULL;
  }
  const uint8_t *p = r->p + r->pos;
  r->pos += n;
  return p;
}
uint8_t hdb__tbl_get_u8(tbl_rd *r) {
  const uint8_t *p = take(r, 1);
  return p ? p[0] : 0;
}
uint16_t hdb__tbl_get_u16(tbl_rd *r) {
  const uint8_t *p = take(r, 2);
  return p ? (uint16_t)(p[0] | (p[1] << 8)) : 0;
}
uint32_t hdb__tbl_get_u32(tbl_rd *r) {
  const uint8_t *p = take(r, 4);
  return p ? (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
                 ((uint32_t)p[3] << 24)
           : 0;
}
uint64_t hdb__tbl_get_u64(tbl_rd *r) {
  const uint8_t *p = take(r, 8);
  return p ? tbl_ld64(p) : 0;
}
const char *hdb__tbl_get_str(tbl_rd *r, size_t *len) {
  size_t n = hdb__tbl_get_u16(r);
  const uint8_t *p = take(r, n + 1);
  if (!p || p[n] != 0 || memchr(p, 0, n)) {
    r->bad = 1;
    return NULL;
  }
  if (len) *len = n;
  return (const char *)p;
}
const uint8_t *hdb__tbl_get_bytes(tbl_rd *r, size_t n) { return take(r, n); }

/* ------------------------------------------------------------------ */
/* Header                                                              */
/* ------------------------------------------------------------------ */

void hdb__tbl_header_encode(const tbl_header *h, uint8_t out[TBL_HEADER]) {
  memset(out, 0, TBL_HEADER);
  for (int i = 0; i < 4; i++) out[i] = (uint8_t)(h->magic >> (8 * i));
  out[4] = (uint8_t)h->format;
  out[5] = (uint8_t)(h->format >> 8);
  out[6] = (uint8_t)h->flags;
  out[7] = (uint8_t)(h->flags >> 8);
  for (int i = 0; i < 4; i++) tbl_st64(out + 8 + 8 * i, h->f[i]);
  tbl_st64(out + 40, h->body_len);
  tbl_st64(out + 48, h->body_xxh3);
  tbl_st64(out + 56, hdb__tbl_hash(out, 56));
}

hdb_status hdb__tbl_header_decode(const uint8_t *buf, size_t len, uint32_t magic,
                                  const char *name, tbl_header *h, hdb_error *err) {
  if (len < TBL_HEADER)
    return hdb__fail(err, HDB_CORRUPT, "%s: truncated (%zu bytes, header needs %u)", name, len,
                     TBL_HEADER);
  if (!hdb__tbl_sum_ok(hdb__tbl_hash(buf, 56), tbl_ld64(buf + 56)))
    return hdb__fail(err, HDB_CORRUPT, "%s: header checksum mismatch", name);
  h->magic = (uint32_t)buf[0] | ((uint32_t)buf[1] << 8) | ((uint32_t)buf[2] << 16) |
             ((uint32_t)buf[3] << 24);
  h->format = (uint16_t)(buf[4] | (buf[5] << 8));
  h->flags = (uint16_t)(buf[6] | (buf[7] << 8));
  for (int i = 0; i < 4; i++) h->f[i] = tbl_ld64(buf + 8 + 8 * i);
  h->body_len = tbl_ld64(buf + 40);
  h->body_xxh3 = tbl_ld64(buf + 48);
  if (h->magic != magic)
    return hdb__fail(err, HDB_CORRUPT, "%s: bad magic number 0x%08" PRIx32 " (expected 0x%08" PRIx32 ")",
                     name, h->magic, magic);
  if (h->format != TBL_FORMAT)
    return hdb__fail(err, HDB_CORRUPT, "%s: unsupported format version %u (this library reads %u)",
                     name, (unsigned)h->format, TBL_FORMAT);
  return HDB_OK;
}

/* ------------------------------------------------------------------ */
/* Files                                                               */
/* ------------------------------------------------------------------ */

char *hdb__tbl_path(const char *dir, const char *name) {
  size_t a = strlen(dir), b = strlen(name);
  char *p = hdb__malloc(a + b + 2);
  if (!p) return NULL;
  memcpy(p, dir, a);
  p[a] = '/';
  memcpy(p + a + 1, name, b + 1);
  return p;
}

hdb_status hdb__tbl_read_file(const char *path, uint8_t **buf, size_t *len, hdb_error *err) {
  *buf = NULL;
  *len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return hdb__fail(err, HDB_NOT_FOUND, "%s: no such file", path);
    return hdb__fail(err, HDB_IO, "%s: open: %s", path, strerror(errno));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return hdb__fail(err, HDB_IO, "%s: stat: %s", path, strerror(e));
  }
  size_t n = (size_t)st.st_size;
  uint8_t *p = hdb__malloc(n ? n : 1);
  if (!p) {
    close(fd);
    return hdb__fail(err, HDB_NOMEM, "%s: out of memory reading %zu bytes", path, n);
  }
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, p + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int e = errno;
      close(fd);
      hdb__free_mem(p);
      return hdb__fail(err, HDB_IO, "%s: read: %s", path, strerror(e));
    }
    if (r == 0) break;
    got += (size_t)r;
  }
  close(fd);
  *buf = p;
  *len = got;
  return HDB_OK;
}

static hdb_status write_all(int fd, const void *data, size_t len, const char *path,
                            hdb_error *err) {
  const uint8_t *p = data;
  while (len) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return hdb__fail(err, HDB_IO, "%s: write: %s", path, strerror(errno));
    p += w;
    len -= (size_t)w;
  }
  return HDB_OK;
}

hdb_status hdb__tbl_fsync_dir(const char *dir, hdb_error *err) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return hdb__fail(err, HDB_IO, "%s: open directory: %s", dir, strerror(errno));
  int rc = fsync(fd);
  int e = errno;
  close(fd);
  if (rc != 0) return hdb__fail(err, HDB_IO, "%s: fsync directory: %s", dir, strerror(e));
  return HDB_OK;
}

hdb_status hdb__tbl_write_atomic(const char *dir, const char *name, const void *data, size_t len,
                                 hdb__tbl_sync sync, hdb_error *err) {
  char tmpname[128];
  snprintf(tmpname, sizeof tmpname, "%s.%ld.%016" PRIx64 ".tmp", name, (long)getpid(),
           hdb__tbl_new_id());
  char *tmp = hdb__tbl_path(dir, tmpname);
  char *final = hdb__tbl_path(dir, name);
  hdb_status rc = HDB_OK;
  int fd = -1;
  if (!tmp || !final) {
    rc = hdb__fail(err, HDB_NOMEM, "%s: out of memory", dir);
    goto done;
  }
  fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    rc = hdb__fail(err, HDB_IO, "%s: create: %s", tmp, strerror(errno));
    goto done;
  }
  rc = write_all(fd, data, len, tmp, err);
  if (rc == HDB_OK && sync != HDB__TBL_SYNC_OFF && fdatasync(fd) != 0)
    rc = hdb__fail(err, HDB_IO, "%s: fsync: %s", tmp, strerror(errno));
  if (close(fd) != 0 && rc == HDB_OK)
    rc = hdb__fail(err, HDB_IO, "%s: close: %s", tmp, strerror(errno));
  fd = -1;
  if (rc != HDB_OK) {
    unlink(tmp);
    goto done;
  }
  if (rename(tmp, final) != 0) {
    rc = hdb__fail(err, HDB_IO, "%s: rename to %s: %s", tmp, final, strerror(errno));
    unlink(tmp);
    goto done;
  }
  if (sync == HDB__TBL_SYNC_FULL) rc = hdb__tbl_fsync_dir(dir, err);
done:
  hdb__free_mem(tmp);
  hdb__free_mem(final);
  return rc;
}

uint64_t hdb__tbl_new_id(void) {
  static atomic_uint_fast64_t counter;
  uint64_t v = 0;
  if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t)sizeof v) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    v = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40);
  }
  v ^= (uint64_t)atomic_fetch_add(&counter, 1) * 0x9E3779B97F4A7C15ull;
  return v ? v : 1;
}

void hdb__tbl_frag_name(uint64_t fid, char out[32]) {
  snprintf(out, 32, "f-%016" PRIx64 ".frag", fid);
}
void hdb__tbl_del_name(uint64_t did, char out[32]) {
  snprintf(out, 32, "d-%016" PRIx64 ".del", did);
}
void hdb__tbl_manifest_name(uint64_t version, char out[40]) {
  snprintf(out, 40, "v%020" PRIu64 ".manifest", version);
}
int hdb__tbl_parse_manifest_name(const char *name, uint64_t *version) {
  if (name[0] != 'v' || strlen(name) != 30 || strcmp(name + 21, ".manifest") != 0) return 0;
  uint64_t v = 0;
  for (int i = 1; i <= 20; i++) {
    if (name[i] < '0' || name[i] > '9') return 0;
    uint64_t d = (uint64_t)(name[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return 0;
    v = v * 10 + d;
  }
  if (v == 0) return 0;
  *version = v;
  return 1;
}

int64_t hdb__tbl_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ------------------------------------------------------------------ */
/* Sequential writer                                                   */
/* ------------------------------------------------------------------ */

#define TBL_WBUF (1u << 20)

hdb_status hdb__tbl_writer_open(tbl_writer *w, const char *path, hdb_error *err) {
  memset(w, 0, sizeof *w);
  w->path = path;
  w->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (w->fd < 0) return hdb__fail(err, HDB_IO, "%s: create: %s", path, strerror(errno));
  return HDB_OK;
}

static hdb_status writer_flush(tbl_writer *w, hdb_error *err) {
  hdb_status rc = write_all(w->fd, w->buf.p, w->buf.n, w->path, err);
  w->buf.n = 0;
  return rc;
}

hdb_status hdb__tbl_writer_put(tbl_writer *w, const void *p, size_t n, hdb_error *err) {
  if (!n) return HDB_OK;
  if (w->buf.n + n > TBL_WBUF) {
    hdb_status rc = writer_flush(w, err);
    if (rc != HDB_OK) return rc;
  }
  if (n >= TBL_WBUF) {
    hdb_status rc = write_all(w->fd, p, n, w->path, err);
    if (rc == HDB_OK) w->pos += n;
    return rc;
  }
  if (!w->buf.cap && hdb__tbl_buf_reserve(&w->buf, TBL_WBUF))
    return hdb__fail(err, HDB_NOMEM, "%s: out of memory", w->path);
  memcpy(w->buf.p + w->buf.n, p, n);
  w->buf.n += n;
  w->pos += n;
  return HDB_OK;
}

hdb_status hdb__tbl_writer_align(tbl_writer *w, size_t a, hdb_error *err) {
  static const uint8_t zeros[64];
  size_t pad = (size_t)((a - w->pos % a) % a);
  return hdb__tbl_writer_put(w, zeros, pad, err);
}

hdb_status hdb__tbl_writer_pwrite(tbl_writer *w, const void *p, size_t n, uint64_t off,
                                  hdb_error *err) {
  hdb_status rc = writer_flush(w, err);
  if (rc != HDB_OK) return rc;
  const uint8_t *q = p;
  while (n) {
    ssize_t r = pwrite(w->fd, q, n, (off_t)off);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return hdb__fail(err, HDB_IO, "%s: write: %s", w->path, strerror(errno));
    q += r;
    n -= (size_t)r;
    off += (uint64_t)r;
  }
  return HDB_OK;
}

hdb_status hdb__tbl_writer_finish(tbl_writer *w, hdb__tbl_sync sync, hdb_error *err) {
  hdb_status rc = writer_flush(w, err);
  if (rc == HDB_OK && sync != HDB__TBL_SYNC_OFF && fdatasync(w->fd) != 0)
    rc = hdb__fail(err, HDB_IO, "%s: fsync: %s", w->path, strerror(errno));
  if (close(w->fd) != 0 && rc == HDB_OK)
    rc = hdb__fail(err, HDB_IO, "%s: close: %s", w->path, strerror(errno));
  w->fd = -1;
  hdb__tbl_buf_free(&w->buf);
  return rc;
}

void hdb__tbl_writer_abort(tbl_writer *w) {
  if (w->fd >= 0) close(w->fd);
  w->fd = -1;
  hdb__tbl_buf_free(&w->buf);
}

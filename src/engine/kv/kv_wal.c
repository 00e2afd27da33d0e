/*
 * kv_wal.c - write batches and the record log (WAL and MANIFEST framing).
 *
 * Batch payload (also the WAL record payload; one record per commit group,
 * so a batch is never split across records):
 *   u64 first sequence | u32 count | count x op
 *   op = u8 type (0 del, 1 put) | varint klen | key | (put:) varint vlen | value
 * The operations take sequences first, first+1, ... in order.
 *
 * Log file: a 16-byte header, u64 magic | u32 format version | u32 low half
 * of XXH3(the first 12 bytes); then records:
 *   u32 len | u32 hcheck | u64 XXH3(payload, seed len) | payload[len]
 * hcheck = low 32 bits of XXH3(the len field, seed magic), so a damaged
 * length is told apart from a short (torn) last record.
 *
 * Replay invariants: a record is applied only whole and only when its
 * checksum matches. The one tolerated defect is a torn tail (the writer
 * died inside its last append): a file shorter than its header, a header
 * or record that runs past the end of the file, a bad last record that
 * ends exactly at the end, or bad bytes followed only by zeros (a
 * filesystem's zero-filled tail after power loss). Any other bad header or
 * checksum is corruption in the middle: HDB_CORRUPT with file and offset.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/kv/kv_impl.h"

/* ------------------------------------------------------------------ */
/* Batches                                                             */
/* ------------------------------------------------------------------ */

void hdb__lsm_batch_init(hdb__lsm_batch *b) {
  memset(b, 0, sizeof *b);
}

void hdb__lsm_batch_free(hdb__lsm_batch *b) {
  if (!b) return;
  hdb__free_mem(b->rep);
  memset(b, 0, sizeof *b);
}

void hdb__lsm_batch_clear(hdb__lsm_batch *b) {
  b->len = b->rep ? HDB__LSM_BATCH_HEADER : 0;
  b->count = 0;
}

static hdb_status batch_add(hdb__lsm_batch *b, int type, const void *key, size_t klen,
                            const void *val, size_t vlen, hdb_error *err) {
  if (klen > HDB__LSM_MAX_KEY)
    return hdb__fail(err, HDB_TOO_BIG, "kv: key of %zu bytes exceeds %u", klen, HDB__LSM_MAX_KEY);
  if (vlen > HDB__LSM_MAX_VALUE)
    return hdb__fail(err, HDB_TOO_BIG, "kv: value of %zu bytes exceeds %u", vlen,
                     HDB__LSM_MAX_VALUE);
  if (b->count == UINT32_MAX) return hdb__fail(err, HDB_TOO_BIG, "kv: batch has too many operations");
  hdb__lsm_buf buf = {b->rep, b->len, b->cap};
  hdb_status st = hdb__lsm_buf_reserve(&buf, HDB__LSM_BATCH_HEADER + 21 + klen + vlen, err);
  if (st == HDB_OK) {
    if (buf.len == 0) {
      memset(buf.p, 0, HDB__LSM_BATCH_HEADER);
      buf.len = HDB__LSM_BATCH_HEADER;
    }
    char *p = buf.p + buf.len;
    *p++ = (char)type;
    p += hdb__lsm_putv(p, klen);
    if (klen) memcpy(p, key, klen);
    p += klen;
    if (type == HDB__LSM_PUT) {
      p += hdb__lsm_putv(p, vlen);
      if (vlen) memcpy(p, val, vlen);
      p += vlen;
    }
    buf.len = (size_t)(p - buf.p);
    b->count++;
    hdb__lsm_put32(buf.p + 8, b->count);
    b->len = buf.len;
  }
  b->rep = buf.p;
  b->cap = buf.cap;
  return st;
}

hdb_status hdb__lsm_batch_put(hdb__lsm_batch *b, const void *key, size_t klen, const void *val,
                              size_t vlen, hdb_error *err) {
  return batch_add(b, HDB__LSM_PUT, key, klen, val, vlen, err);
}

hdb_status hdb__lsm_batch_delete(hdb__lsm_batch *b, const void *key, size_t klen,
                                 hdb_error *err) {
  return batch_add(b, HDB__LSM_DEL, key, klen, NULL, 0, err);
}

hdb_status hdb__lsm_batch_iterate(const char *rep, size_t len, hdb__lsm_batch_fn fn, void *ctx,
                                  hdb_error *err) {
  if (len < HDB__LSM_BATCH_HEADER)
    return hdb__fail(err, HDB_CORRUPT, "batch of %zu bytes is shorter than its header", len);
  uint64_t seq = hdb__lsm_get64(rep);
  uint32_t count = hdb__lsm_get32(rep + 8);
  if (seq > HDB__LSM_MAX_SEQ || count > HDB__LSM_MAX_SEQ - seq)
    return hdb__fail(err, HDB_CORRUPT, "batch sequence %llu out of range",
                     (unsigned long long)seq);
  const char *p = rep + HDB__LSM_BATCH_HEADER, *end = rep + len;
  for (uint32_t i = 0; i < count; i++) {
    uint64_t klen, vlen = 0;
    if (p >= end) goto bad;
    int type = (unsigned char)*p++;
    if (type != HDB__LSM_PUT && type != HDB__LSM_DEL) goto bad;
    if (!hdb__lsm_getv(&p, end, &klen) || klen > (uint64_t)(end - p)) goto bad;
    const char *key = p;
    p += klen;
    const char *val = NULL;
    if (type == HDB__LSM_PUT) {
      if (!hdb__lsm_getv(&p, end, &vlen) || vlen > (uint64_t)(end - p)) goto bad;
      val = p;
      p += vlen;
    }
    if (fn) fn(ctx, seq + i, type, key, (size_t)klen, val, (size_t)vlen);
    continue;
  bad:
    return hdb__fail(err, HDB_CORRUPT, "batch operation %u of %u is malformed at byte %zu", i,
                     count, (size_t)(p - rep));
  }
  if (p != end)
    return hdb__fail(err, HDB_CORRUPT, "batch has %zu trailing bytes", (size_t)(end - p));
  return HDB_OK;
}

/* ------------------------------------------------------------------ */
/* Log files                                                           */
/* ------------------------------------------------------------------ */

static uint32_t hcheck(uint32_t len, uint64_t magic) {
  char b[4];
  hdb__lsm_put32(b, len);
  return (uint32_t)hdb__lsm_hash(b, 4, magic);
}

hdb_status hdb__lsm_log_create(hdb__lsm_log *l, const char *path, uint64_t magic,
                               hdb_error *err) {
  memset(l, 0, sizeof *l);
  l->fd = -1;
  l->path = hdb__strdup(path);
  if (!l->path) return hdb__fail(err, HDB_NOMEM, "kv: out of memory");
  l->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (l->fd < 0) {
    hdb_status st = hdb__fail(err, HDB_IO, "kv: %s: create failed: %s", path, strerror(errno));
    hdb__lsm_log_close(l);
    return st;
  }
  char h[HDB__LSM_LOG_HEADER];
  hdb__lsm_put64(h, magic);
  hdb__lsm_put32(h + 8, HDB__LSM_LOG_VERSION);
  hdb__lsm_put32(h + 12, (uint32_t)hdb__lsm_hash(h, 12, 0));
  hdb_status st = hdb__lsm_write_all(l->fd, h, sizeof h, path, err);
  if (st != HDB_OK) {
    hdb__lsm_log_close(l);
    return st;
  }
  l->size = sizeof h;
  l->magic = magic;
  return HDB_OK;
}

hdb_status hdb__lsm_log_append(hdb__lsm_log *l, const char *p, size_t n, hdb_error *err) {
  if (n > UINT32_MAX) return hdb__fail(err, HDB_TOO_BIG, "kv: %s: record of %zu bytes", l->path, n);
  char h[HDB__LSM_REC_HEADER];
  hdb__lsm_put32(h, (uint32_t)n);
  hdb__lsm_put32(h + 4, hcheck((uint32_t)n, l->magic));
  hdb__lsm_put64(h + 8, hdb__lsm_hash(p, n, n));
  /* One writev: header and payload reach the file in one call. */
  struct iovec iov[2] = {{h, sizeof h}, {(void *)p, n}};
  int cnt = 2;
  struct iovec *v = iov;
  size_t left = sizeof h + n;
  while (left > 0) {
    ssize_t w = writev(l->fd, v, cnt);
    if (w < 0) {
      if (errno == EINTR) continue;
      return hdb__fail(err, HDB_IO, "kv: %s: append at offset %llu failed: %s", l->path,
                       (unsigned long long)l->size, strerror(errno));
    }
    left -= (size_t)w;
    l->size += (uint64_t)w;
    while (cnt > 0 && (size_t)w >= v->iov_len) {
      w -= (ssize_t)v->iov_len;
      v++;
      cnt--;
    }
    if (cnt > 0) {
      v->iov_base = (char *)v->iov_base + w;
      v->iov_len -= (size_t)w;
    }
  }
  return HDB_OK;
}

hdb_status hdb__lsm_log_sync(hdb__lsm_log *l, hdb_error *err) {
  return hdb__lsm_fsync(l->fd, l->path, 1, err);
}

void hdb__lsm_log_close(hdb__lsm_log *l) {
  if (l->fd >= 0) close(l->fd);
  l->fd = -1;
  hdb__free_mem(l->path);
  l->path = NULL;
}

static int all_zero(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return 0;
  return 1;
}

/* The records of data, which holds the file's bytes from offset base on
 * (base >= the header). *end gets the file offset after the last complete
 * record (the torn tail's offset). */
static hdb_status replay_records(const char *name, const char *data, size_t n, uint64_t base,
                                 uint64_t magic, hdb__lsm_record_fn fn, void *ctx,
                                 uint64_t *end, hdb_error *err) {
  size_t off = 0;
  *end = base;
  while (off < n) {
    size_t left = n - off;
    const char *r = data + off;
    unsigned long long at = (unsigned long long)(base + off);
    if (left < HDB__LSM_REC_HEADER) return HDB_OK;
    uint32_t len = hdb__lsm_get32(r);
    int header_ok = hcheck(len, magic) == hdb__lsm_get32(r + 4);
    if (!header_ok) {
      if (all_zero(r, left)) return HDB_OK;
      return hdb__fail(err, HDB_CORRUPT, "kv: %s: bad record header at offset %llu", name, at);
    }
    if ((uint64_t)len > left - HDB__LSM_REC_HEADER) return HDB_OK;
    const char *payload = r + HDB__LSM_REC_HEADER;
    if (hdb__lsm_hash(payload, len, len) != hdb__lsm_get64(r + 8)) {
      if (off + HDB__LSM_REC_HEADER + len == n || all_zero(payload, left - HDB__LSM_REC_HEADER))
        return HDB_OK;
      return hdb__fail(err, HDB_CORRUPT, "kv: %s: checksum mismatch in the record at offset %llu",
                       name, at);
    }
    if (fn) {
      hdb_status st = fn(ctx, payload, len, base + off, err);
      if (st != HDB_OK) return st;
    }
    off += HDB__LSM_REC_HEADER + len;
    *end = base + off;
  }
  return HDB_OK;
}

hdb_status hdb__lsm_log_replay(const char *name, const char *data, size_t size, uint64_t magic,
                               hdb__lsm_record_fn fn, void *ctx, uint64_t *torn_at,
                               hdb_error *err) {
  *torn_at = size;
  if (size < HDB__LSM_LOG_HEADER || all_zero(data, HDB__LSM_LOG_HEADER)) {
    /* Created but its header never fully reached the file. */
    *torn_at = 0;
    return HDB_OK;
  }
  if (hdb__lsm_get64(data) != magic)
    return hdb__fail(err, HDB_CORRUPT, "kv: %s: bad magic number at offset 0", name);
  if ((uint32_t)hdb__lsm_hash(data, 12, 0) != hdb__lsm_get32(data + 12))
    return hdb__fail(err, HDB_CORRUPT, "kv: %s: bad header checksum at offset 0", name);
  if (hdb__lsm_get32(data + 8) != HDB__LSM_LOG_VERSION)
    return hdb__fail(err, HDB_CORRUPT, "kv: %s: unknown format version %u", name,
                     hdb__lsm_get32(data + 8));
  uint64_t end;
  hdb_status st = replay_records(name, data + HDB__LSM_LOG_HEADER, size - HDB__LSM_LOG_HEADER,
                                 HDB__LSM_LOG_HEADER, magic, fn, ctx, &end, err);
  if (st == HDB_OK) *torn_at = end;
  return st;
}

hdb_status hdb__lsm_log_replay_tail(const char *name, const char *data, size_t n, uint64_t base,
                                    uint64_t magic, hdb__lsm_record_fn fn, void *ctx,
                                    uint64_t *end, hdb_error *err) {
  return replay_records(name, data, n, base, magic, fn, ctx, end, err);
}

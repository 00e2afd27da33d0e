/*
 * tbl_frag_read.c - reading fragment files: mmap, directory parsing,
 * chunk decoding, vector blocks, the id index, full verification, and the
 * encoding of schemaless rows.
 *
 * Trust model: the header and the directory are verified (checksums, every
 * offset and length against the file size) when a fragment is opened. A
 * section's own checksum (chunk, vector block, id index) is verified the
 * first time it is read (an atomic flag remembers it), so a scan that skips
 * a chunk never pays for hashing it. Decoders bounds-check every offset
 * they follow, so even a file whose checksums were forged cannot make them
 * read outside the image: the worst outcome is HDB_CORRUPT.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lz4.h>
#include <zstd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/record.h"
#include "core/value.h"
#include "tbl_int.h"

/* ------------------------------------------------------------------ */
/* Directory                                                           */
/* ------------------------------------------------------------------ */

static int type_ok(unsigned t) { return t >= HDB_TYPE_BOOL && t <= HDB_TYPE_VECTOR; }

static size_t fixed_width(hdb_type t) {
  switch (t) {
  case HDB_TYPE_BOOL: return 1;
  case HDB_TYPE_INT:
  case HDB_TYPE_FLOAT:
  case HDB_TYPE_TIMESTAMP: return 8;
  default: return 0;
  }
}

/* off+len inside [lo, hi]. */
static int in_range(uint64_t off, uint64_t len, uint64_t lo, uint64_t hi) {
  return off >= lo && off <= hi && len <= hi - off;
}

static int read_zone(tbl_rd *r, hdb_type t, tbl_chunk *ck) {
  ck->has_zone = hdb__tbl_get_u8(r);
  if (ck->has_zone > 1) return -1;
  if (!ck->has_zone) return 0;
  ck->zmin.type = ck->zmax.type = t;
  switch (t) {
  case HDB_TYPE_BOOL:
    ck->zmin.as.boolean = hdb__tbl_get_u8(r);
    ck->zmax.as.boolean = hdb__tbl_get_u8(r);
    break;
  case HDB_TYPE_INT:
    ck->zmin.as.i = (int64_t)hdb__tbl_get_u64(r);
    ck->zmax.as.i = (int64_t)hdb__tbl_get_u64(r);
    break;
  case HDB_TYPE_TIMESTAMP:
    ck->zmin.as.timestamp_us = (int64_t)hdb__tbl_get_u64(r);
    ck->zmax.as.timestamp_us = (int64_t)hdb__tbl_get_u64(r);
    break;
  case HDB_TYPE_FLOAT: {
    uint64_t a = hdb__tbl_get_u64(r), b = hdb__tbl_get_u64(r);
    memcpy(&ck->zmin.as.f, &a, 8);
    memcpy(&ck->zmax.as.f, &b, 8);
    break;
  }
  case HDB_TYPE_TEXT: {
    size_t n;
    ck->zmin.as.text.data = hdb__tbl_get_str(r, &n);
    ck->zmin.as.text.len = n;
    ck->zmax.as.text.data = hdb__tbl_get_str(r, &n);
    ck->zmax.as.text.len = n;
    break;
  }
  default: return -1;
  }
  return r->bad ? -1 : 0;
}

/* Bytes of decoded chunks cached by every fragment of the process. */
static atomic_size_t g_cache_bytes;

static void frag_free(tbl_frag *f) {
  if (!f) return;
  if (f->cols)
    for (uint32_t k = 0; k < f->n_cols; k++) {
      tbl_fcol *c = &f->cols[k];
      for (uint32_t ci = 0; c->chunks && ci < f->n_chunks; ci++) {
        uint8_t *p = atomic_load(&c->chunks[ci].cache);
        if (p) {
          hdb__free_mem(p);
          atomic_fetch_sub(&g_cache_bytes, (size_t)c->chunks[ci].raw_len);
        }
      }
      hdb__free_mem(c->chunks);
    }
  hdb__free_mem(f->cols);
  if (f->mapped && f->map) munmap((void *)f->map, f->len);
  hdb__free_mem(f->path);
  hdb__free_mem(f);
}

void hdb__tbl_frag_retain(tbl_frag *f) { atomic_fetch_add(&f->refs, 1); }
void hdb__tbl_frag_release(tbl_frag *f) {
  if (f && atomic_fetch_sub(&f->refs, 1) == 1) frag_free(f);
}

hdb_status hdb__tbl_frag_parse(const uint8_t *map, size_t len, const char *name,
                               tbl_frag **out, hdb_error *err) {
  *out = NULL;
  tbl_header h;
  hdb_status rc = hdb__tbl_header_decode(map, len, TBL_MAGIC_FRAGMENT, name, &h, err);
  if (rc != HDB_OK) return rc;
  uint64_t n_rows = h.f[0], chunk_rows = h.f[1], dir_off = h.f[2];
  if (!in_range(dir_off, h.body_len, TBL_HEADER, len) || dir_off % 8)
    return hdb__fail(err, HDB_CORRUPT, "%s: directory out of the file", name);
  if (!hdb__tbl_sum_ok(hdb__tbl_hash(map + dir_off, (size_t)h.body_len), h.body_xxh3))
    return hdb__fail(err, HDB_CORRUPT, "%s: directory checksum mismatch", name);
  if (n_rows > UINT32_MAX || chunk_rows == 0 || chunk_rows > UINT32_MAX)
    return hdb__fail(err, HDB_CORRUPT, "%s: bad row or chunk counts", name);
  tbl_frag *f = hdb__calloc(1, sizeof *f);
  if (!f) return hdb__fail(err, HDB_NOMEM, "%s: out of memory", name);
  atomic_init(&f->refs, 1);
  f->map = map;
  f->len = len;
  f->fid = h.f[3];
  hdb__tbl_frag_name(f->fid, f->name);
  f->n_rows = n_rows;
  f->chunk_rows = (uint32_t)chunk_rows;
  f->n_chunks = (uint32_t)((n_rows + chunk_rows - 1) / chunk_rows);
  f->dir_xxh3 = h.body_xxh3;
  f->id_col = f->fields_col = -1;
  const char *why = NULL;
  tbl_rd r = {map + dir_off, (size_t)h.body_len, 0, 0};
  uint32_t n_cols = hdb__tbl_get_u32(&r);
  /* Every column takes >= 8 directory bytes and every chunk entry >= 38:
   * bounds the allocations by the directory's size. */
  if (n_cols == 0 || n_cols > h.body_len / 8 ||
      (uint64_t)f->n_chunks * n_cols > h.body_len / 38 + n_cols) {
    why = "column or chunk count does not fit the directory";
    goto bad;
  }
  f->cols = hdb__calloc(n_cols, sizeof *f->cols);
  if (!f->cols) {
    frag_free(f);
    return hdb__fail(err, HDB_NOMEM, "%s: out of memory", name);
  }
  f->n_cols = n_cols;
  for (uint32_t k = 0; k < n_cols && !why; k++) {
    tbl_fcol *c = &f->cols[k];
    c->name = hdb__tbl_get_str(&r, NULL);
    unsigned t = hdb__tbl_get_u8(&r);
    c->dim = hdb__tbl_get_u32(&r);
    c->flags = hdb__tbl_get_u8(&r);
    c->field_id = hdb__tbl_get_u64(&r);
    if (r.bad) break;
    if (!type_ok(t) || c->flags > 2) {
      why = "bad column type or flags";
      break;
    }
    c->type = (hdb_type)t;
    if (c->flags & TBL_COL_ID) {
      if (f->id_col >= 0 || c->type != HDB_TYPE_TEXT) {
        why = "bad id column";
        break;
      }
      f->id_col = (int)k;
    }
    if (c->flags & TBL_COL_FIELDS) {
      if (f->fields_col >= 0 || c->type != HDB_TYPE_BLOB) {
        why = "bad fields column";
        break;
      }
      f->fields_col = (int)k;
    }
    if (c->type == HDB_TYPE_VECTOR) {
      uint64_t v[7];
      for (int i = 0; i < 7; i++) v[i] = hdb__tbl_get_u64(&r);
      c->voff = v[0], c->vlen = v[1], c->vxxh3 = v[2], c->noff = v[3], c->nlen = v[4];
      c->nxxh3 = v[5], c->null_count = v[6];
      if (r.bad) break;
      if (c->dim == 0 || c->dim > HDB_MAX_VECTOR_DIM || c->voff % TBL_VEC_ALIGN ||
          c->vlen != n_rows * c->dim * 4 || !in_range(c->voff, c->vlen, TBL_HEADER, dir_off) ||
          c->null_count > n_rows ||
          (c->null_count && (c->nlen != (n_rows + 7) / 8 ||
                             !in_range(c->noff, c->nlen, TBL_HEADER, dir_off)))) {
        why = "bad vector block";
        break;
      }
      continue;
    }
    if (c->dim != 0) {
      why = "dimension on a scalar column";
      break;
    }
    if (f->n_chunks) {
      c->chunks = hdb__calloc(f->n_chunks, sizeof *c->chunks);
      if (!c->chunks) {
        frag_free(f);
        return hdb__fail(err, HDB_NOMEM, "%s: out of memory", name);
      }
    }
    for (uint32_t ci = 0; ci < f->n_chunks && !why; ci++) {
      tbl_chunk *ck = &c->chunks[ci];
      ck->off = hdb__tbl_get_u64(&r);
      ck->stored_len = hdb__tbl_get_u64(&r);
      ck->raw_len = hdb__tbl_get_u64(&r);
      ck->xxh3 = hdb__tbl_get_u64(&r);
      ck->null_count = hdb__tbl_get_u32(&r);
      ck->codec = hdb__tbl_get_u8(&r);
      ck->rows = (uint32_t)(ci + 1 < f->n_chunks ? chunk_rows
                                                 : n_rows - (uint64_t)ci * chunk_rows);
      if (read_zone(&r, c->type, ck) != 0 || r.bad) {
        why = "bad zone map";
        break;
      }
      if (ck->has_zone && c->type == HDB_TYPE_BOOL &&
          (ck->zmin.as.boolean > 1 || ck->zmax.as.boolean > 1)) {
        why = "bad zone map";
        break;
      }
      if (!in_range(ck->off, ck->stored_len, TBL_HEADER, dir_off) || ck->null_count > ck->rows ||
          ck->codec > HDB__TBL_CODEC_LZ4 ||
          (ck->codec == HDB__TBL_CODEC_RAW && ck->stored_len != ck->raw_len) ||
          (ck->codec != HDB__TBL_CODEC_RAW &&
           (ck->stored_len == 0 || ck->raw_len / ck->stored_len >= TBL_MAX_RATIO ||
            (ck->codec == HDB__TBL_CODEC_LZ4 && ck->raw_len > (uint64_t)LZ4_MAX_INPUT_SIZE))) ||
          ((ck->null_count == ck->rows) != (ck->raw_len == 0)) ||
          ((c->flags & TBL_COL_ID) && (ck->codec != HDB__TBL_CODEC_RAW || ck->null_count))) {
        why = "bad chunk entry";
        break;
      }
      size_t w = fixed_width(c->type);
      uint64_t nm = ck->null_count ? ((uint64_t)ck->rows + 63) / 64 * 8 : 0;
      if (ck->raw_len && ((w && ck->raw_len != nm + (uint64_t)ck->rows * w) ||
                          (!w && ck->raw_len < nm + ((uint64_t)ck->rows + 1) * 8))) {
        why = "chunk size does not match its rows";
        break;
      }
    }
  }
  if (!why && !r.bad) {
    f->idx_off = hdb__tbl_get_u64(&r);
    f->idx_len = hdb__tbl_get_u64(&r);
    f->idx_xxh3 = hdb__tbl_get_u64(&r);
    f->bloom_bytes = hdb__tbl_get_u64(&r);
    uint64_t head = n_rows * 12;
    head += (8 - head % 8) % 8;
    if (r.bad || f->idx_off % 8 || f->bloom_bytes < 8 || f->bloom_bytes % 8 ||
        f->bloom_bytes > f->idx_len || f->idx_len - f->bloom_bytes != head ||
        !in_range(f->idx_off, f->idx_len, TBL_HEADER, dir_off))
      why = "bad id index entry";
  }
  if (!why && r.bad) why = "truncated directory";
  if (!why && r.pos != r.n) why = "trailing bytes in the directory";
  if (!why && f->id_col < 0) why = "no id column";
  if (why) goto bad;
  f->idx_hash = map + f->idx_off;
  f->idx_rows = map + f->idx_off + n_rows * 8;
  f->bloom = map + f->idx_off + (f->idx_len - f->bloom_bytes);
  *out = f;
  return HDB_OK;
bad:
  frag_free(f);
  return hdb__fail(err, HDB_CORRUPT, "%s: %s", name, why ? why : "truncated directory");
}

hdb_status hdb__tbl_frag_open(const char *dir, uint64_t fid, tbl_frag **out, hdb_error *err) {
  *out = NULL;
  char name[32];
  hdb__tbl_frag_name(fid, name);
  char *path = hdb__tbl_path(dir, name);
  if (!path) return hdb__fail(err, HDB_NOMEM, "out of memory opening %s", name);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    hdb_status rc = errno == ENOENT ? hdb__fail(err, HDB_NOT_FOUND, "%s: no such file", path)
                                    : hdb__fail(err, HDB_IO, "%s: open: %s", path, strerror(errno));
    hdb__free_mem(path);
    return rc;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    hdb_status rc = hdb__fail(err, HDB_IO, "%s: stat: %s", path, strerror(errno));
    close(fd);
    hdb__free_mem(path);
    return rc;
  }
  size_t len = (size_t)st.st_size;
  if (len < TBL_HEADER) {
    close(fd);
    hdb_status rc = hdb__fail(err, HDB_CORRUPT, "%s: truncated (%zu bytes)", path, len);
    hdb__free_mem(path);
    return rc;
  }
  void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
  int e = errno;
  close(fd);
  if (map == MAP_FAILED) {
    hdb_status rc = hdb__fail(err, HDB_IO, "%s: mmap: %s", path, strerror(e));
    hdb__free_mem(path);
    return rc;
  }
  tbl_frag *f;
  hdb_status rc = hdb__tbl_frag_parse(map, len, path, &f, err);
  if (rc != HDB_OK) {
    munmap(map, len);
    hdb__free_mem(path);
    return rc;
  }
  if (f->fid != fid) {
    hdb__tbl_frag_release(f);
    munmap(map, len);
    rc = hdb__fail(err, HDB_CORRUPT, "%s: header names another fragment", path);
    hdb__free_mem(path);
    return rc;
  }
  f->mapped = 1;
  f->path = path;
  *out = f;
  return HDB_OK;
}

int hdb__tbl_frag_col(const tbl_frag *f, uint64_t field_id, hdb_type type, uint32_t dim) {
  for (uint32_t k = 0; k < f->n_cols; k++) {
    const tbl_fcol *c = &f->cols[k];
    if (!c->flags && c->field_id == field_id && c->type == type && c->dim == dim) return (int)k;
  }
  return -1;
}

static const char *fname(const tbl_frag *f) { return f->path ? f->path : f->name; }

/* ------------------------------------------------------------------ */
/* Chunks                                                              */
/* ------------------------------------------------------------------ */

void hdb__tbl_cview_init(tbl_cview *v) {
  memset(v, 0, sizeof *v);
  v->chunk = UINT32_MAX;
}
void hdb__tbl_cview_free(tbl_cview *v) {
  hdb__free_mem(v->buf);
  hdb__tbl_cview_init(v);
}

static hdb_status chunk_bad(const tbl_frag *f, int col, uint32_t c, const char *why,
                            hdb_error *err) {
  return hdb__fail(err, HDB_CORRUPT, "%s: column '%s' chunk %u: %s", fname(f), f->cols[col].name,
                   c, why);
}

hdb_status hdb__tbl_chunk_load(tbl_frag *f, int col, uint32_t c, tbl_cview *v, hdb_error *err) {
  tbl_chunk *ck = &f->cols[col].chunks[c];
  const uint8_t *src = f->map + ck->off;
  if (!atomic_load(&ck->verified)) {
    if (!hdb__tbl_sum_ok(hdb__tbl_hash(src, (size_t)ck->stored_len), ck->xxh3))
      return chunk_bad(f, col, c, "checksum mismatch", err);
    atomic_store(&ck->verified, 1);
  }
  v->chunk = UINT32_MAX;
  v->rows = ck->rows;
  v->all_null = ck->null_count == ck->rows;
  v->nulls = v->vals = v->bytes = NULL;
  v->bytes_len = 0;
  if (v->all_null) {
    v->chunk = c;
    return HDB_OK;
  }
  const uint8_t *p = src;
  size_t raw = (size_t)ck->raw_len;
  uint8_t *cached = ck->codec != HDB__TBL_CODEC_RAW ? atomic_load(&ck->cache) : NULL;
  if (cached) {
    p = cached;
  } else if (ck->codec != HDB__TBL_CODEC_RAW) {
    if (v->buf_cap < raw) {
      uint8_t *nb = hdb__realloc(v->buf, raw);
      if (!nb) return hdb__fail(err, HDB_NOMEM, "%s: out of memory decoding a chunk", fname(f));
      v->buf = nb;
      v->buf_cap = raw;
    }
    size_t got;
    if (ck->codec == HDB__TBL_CODEC_ZSTD) {
      got = ZSTD_decompress(v->buf, raw, src, (size_t)ck->stored_len);
      if (ZSTD_isError(got)) got = (size_t)-1;
    } else {
      int r = LZ4_decompress_safe((const char *)src, (char *)v->buf, (int)ck->stored_len, (int)raw);
      got = r < 0 ? (size_t)-1 : (size_t)r;
    }
    if (got != raw) return chunk_bad(f, col, c, "does not decompress to its size", err);
    p = v->buf;
    /* Share the decoded chunk while the process budget allows; a lost
     * race or a failed allocation only means decoding again next time. */
    if (f->mapped && atomic_fetch_add(&g_cache_bytes, raw) + raw <= TBL_CACHE_BYTES) {
      uint8_t *copy = hdb__memdup(v->buf, raw), *none = NULL;
      if (!copy || !atomic_compare_exchange_strong(&ck->cache, &none, copy)) {
        hdb__free_mem(copy);
        atomic_fetch_sub(&g_cache_bytes, raw);
      }
    } else if (f->mapped) {
      atomic_fetch_sub(&g_cache_bytes, raw);
    }
  }
  size_t nm = ck->null_count ? ((size_t)ck->rows + 63) / 64 * 8 : 0;
  if (nm) v->nulls = p;
  v->vals = p + nm;
  if (!fixed_width(f->cols[col].type)) {
    size_t head = nm + ((size_t)ck->rows + 1) * 8;
    v->bytes = p + head;
    v->bytes_len = raw - head;
    if (tbl_ld64(v->vals) != 0 || tbl_ld64(v->vals + 8 * (size_t)ck->rows) != v->bytes_len)
      return chunk_bad(f, col, c, "offsets do not cover the payload", err);
  }
  v->chunk = c;
  return HDB_OK;
}

int hdb__tbl_cview_value(const tbl_frag *f, int col, const tbl_cview *v, uint32_t i,
                         hdb_value *out) {
  if (v->all_null || tbl_bit(v->nulls, i)) return 0;
  hdb_type t = f->cols[col].type;
  out->type = t;
  switch (t) {
  case HDB_TYPE_BOOL:
    out->as.boolean = v->vals[i] != 0;
    return 1;
  case HDB_TYPE_INT:
    out->as.i = (int64_t)tbl_ld64(v->vals + 8 * (size_t)i);
    return 1;
  case HDB_TYPE_TIMESTAMP:
    out->as.timestamp_us = (int64_t)tbl_ld64(v->vals + 8 * (size_t)i);
    return 1;
  case HDB_TYPE_FLOAT: {
    uint64_t x = tbl_ld64(v->vals + 8 * (size_t)i);
    memcpy(&out->as.f, &x, 8);
    return 1;
  }
  default: {
    uint64_t a = tbl_ld64(v->vals + 8 * (size_t)i), b = tbl_ld64(v->vals + 8 * ((size_t)i + 1));
    if (a >= b || b > v->bytes_len || v->bytes[b - 1] != 0) return -1;
    if (t == HDB_TYPE_BLOB) {
      out->as.blob.data = v->bytes + a;
      out->as.blob.len = (size_t)(b - a - 1);
    } else {
      out->as.text.data = (const char *)v->bytes + a;
      out->as.text.len = (size_t)(b - a - 1);
    }
    return 1;
  }
  }
}

hdb_status hdb__tbl_frag_vectors(tbl_frag *f, int col, const float **data, const uint8_t **nulls,
                                 hdb_error *err) {
  tbl_fcol *c = &f->cols[col];
  if (!atomic_load(&c->vverified)) {
    if (!hdb__tbl_sum_ok(hdb__tbl_hash(f->map + c->voff, (size_t)c->vlen), c->vxxh3))
      return hdb__fail(err, HDB_CORRUPT, "%s: column '%s': vector block checksum mismatch",
                       fname(f), c->name);
    if (c->null_count &&
        !hdb__tbl_sum_ok(hdb__tbl_hash(f->map + c->noff, (size_t)c->nlen), c->nxxh3))
      return hdb__fail(err, HDB_CORRUPT, "%s: column '%s': null bitmap checksum mismatch",
                       fname(f), c->name);
    atomic_store(&c->vverified, 1);
  }
  *data = (const float *)(const void *)(f->map + c->voff);
  *nulls = c->null_count ? f->map + c->noff : NULL;
  return HDB_OK;
}

/* ------------------------------------------------------------------ */
/* Id index                                                            */
/* ------------------------------------------------------------------ */

hdb_status hdb__tbl_frag_index_verify(tbl_frag *f, hdb_error *err) {
  if (atomic_load(&f->idx_verified)) return HDB_OK;
  if (!hdb__tbl_sum_ok(hdb__tbl_hash(f->map + f->idx_off, (size_t)f->idx_len), f->idx_xxh3))
    return hdb__fail(err, HDB_CORRUPT, "%s: id index checksum mismatch", fname(f));
  uint64_t prev = 0;
  for (uint64_t i = 0; i < f->n_rows; i++) {
    uint64_t h = tbl_ld64(f->idx_hash + 8 * i);
    const uint8_t *rp = f->idx_rows + 4 * i;
    uint32_t row = (uint32_t)rp[0] | ((uint32_t)rp[1] << 8) | ((uint32_t)rp[2] << 16) |
                   ((uint32_t)rp[3] << 24);
    if ((i && h < prev) || row >= f->n_rows)
      return hdb__fail(err, HDB_CORRUPT, "%s: id index out of order", fname(f));
    prev = h;
  }
  atomic_store(&f->idx_verified, 1);
  return HDB_OK;
}

/* The id of row `row` (borrowed from the map). 0 ok, -1 corrupt (err). */
static int id_at(tbl_frag *f, uint64_t row, const char **id, size_t *len, hdb_error *err) {
  tbl_cview v;
  hdb__tbl_cview_init(&v);
  uint32_t c = (uint32_t)(row / f->chunk_rows);
  if (hdb__tbl_chunk_load(f, f->id_col, c, &v, err) != HDB_OK) return -1;
  hdb_value val;
  int r = hdb__tbl_cview_value(f, f->id_col, &v, (uint32_t)(row % f->chunk_rows), &val);
  hdb__tbl_cview_free(&v);
  if (r != 1) {
    chunk_bad(f, f->id_col, c, "bad id value", err);
    return -1;
  }
  *id = val.as.text.data;
  *len = val.as.text.len;
  return 0;
}

int64_t hdb__tbl_frag_find(tbl_frag *f, const uint8_t *deleted, const char *id, size_t idlen,
                           uint64_t hash, hdb_error *err) {
  uint64_t m = f->bloom_bytes * 8, h2 = (hash >> 33) | 1;
  for (int j = 0; j < 7; j++)
    if (!tbl_bit(f->bloom, (hash + (uint64_t)j * h2) % m)) return -1;
  if (hdb__tbl_frag_index_verify(f, err) != HDB_OK) return -2;
  uint64_t lo = 0, hi = f->n_rows;
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    if (tbl_ld64(f->idx_hash + 8 * mid) < hash) lo = mid + 1;
    else hi = mid;
  }
  for (; lo < f->n_rows && tbl_ld64(f->idx_hash + 8 * lo) == hash; lo++) {
    const uint8_t *rp = f->idx_rows + 4 * lo;
    uint32_t row = (uint32_t)rp[0] | ((uint32_t)rp[1] << 8) | ((uint32_t)rp[2] << 16) |
                   ((uint32_t)rp[3] << 24);
    if (tbl_bit(deleted, row)) continue;
    const char *s;
    size_t n;
    if (id_at(f, row, &s, &n, err) != 0) return -2;
    if (n == idlen && memcmp(s, id, n) == 0) return row;
  }
  return -1;
}

/* ------------------------------------------------------------------ */
/* Schemaless rows                                                     */
/* ------------------------------------------------------------------ */

hdb_status hdb__tbl_fields_encode(const hdb_record *r, tbl_buf *out) {
  hdb__tbl_put_u32(out, (uint32_t)r->n);
  for (size_t i = 0; i < r->n; i++) {
    const hdb__field *f = &r->fields[i];
    const hdb_value *v = &f->value;
    hdb__tbl_put_str(out, f->name, strlen(f->name));
    hdb__tbl_put_u8(out, (uint8_t)v->type);
    switch (v->type) {
    case HDB_TYPE_NULL: break;
    case HDB_TYPE_BOOL: hdb__tbl_put_u8(out, (uint8_t)(v->as.boolean != 0)); break;
    case HDB_TYPE_INT: hdb__tbl_put_u64(out, (uint64_t)v->as.i); break;
    case HDB_TYPE_TIMESTAMP: hdb__tbl_put_u64(out, (uint64_t)v->as.timestamp_us); break;
    case HDB_TYPE_FLOAT: {
      uint64_t x;
      memcpy(&x, &v->as.f, 8);
      hdb__tbl_put_u64(out, x);
      break;
    }
    case HDB_TYPE_TEXT:
    case HDB_TYPE_JSON:
      hdb__tbl_put_u64(out, v->as.text.len);
      hdb__tbl_put(out, v->as.text.data, v->as.text.len);
      break;
    case HDB_TYPE_BLOB:
      hdb__tbl_put_u64(out, v->as.blob.len);
      hdb__tbl_put(out, v->as.blob.data, v->as.blob.len);
      break;
    case HDB_TYPE_VECTOR:
      hdb__tbl_put_u64(out, v->as.vector.dim);
      hdb__tbl_put(out, v->as.vector.data, (size_t)v->as.vector.dim * 4);
      break;
    }
  }
  return out->oom ? HDB_NOMEM : HDB_OK;
}

/* Adds the decoded fields to `into` (which must have none of them).
 * HDB_CORRUPT / HDB_NOMEM. */
hdb_status hdb__tbl_fields_decode(const uint8_t *p, size_t n, hdb_record *into) {
  tbl_rd r = {p, n, 0, 0};
  uint32_t cnt = hdb__tbl_get_u32(&r);
  if (cnt > n) return HDB_CORRUPT;
  for (uint32_t i = 0; i < cnt && !r.bad; i++) {
    const char *name = hdb__tbl_get_str(&r, NULL);
    unsigned t = hdb__tbl_get_u8(&r);
    if (r.bad || !hdb__name_valid(name, 1) || t > HDB_TYPE_VECTOR) return HDB_CORRUPT;
    hdb_value v;
    memset(&v, 0, sizeof v);
    v.type = (hdb_type)t;
    float *tmp = NULL;
    switch (v.type) {
    case HDB_TYPE_NULL: break;
    case HDB_TYPE_BOOL: v.as.boolean = hdb__tbl_get_u8(&r) != 0; break;
    case HDB_TYPE_INT: v.as.i = (int64_t)hdb__tbl_get_u64(&r); break;
    case HDB_TYPE_TIMESTAMP: v.as.timestamp_us = (int64_t)hdb__tbl_get_u64(&r); break;
    case HDB_TYPE_FLOAT: {
      uint64_t x = hdb__tbl_get_u64(&r);
      memcpy(&v.as.f, &x, 8);
      break;
    }
    case HDB_TYPE_TEXT:
    case HDB_TYPE_JSON:
    case HDB_TYPE_BLOB: {
      uint64_t len = hdb__tbl_get_u64(&r);
      const uint8_t *d = len <= n ? hdb__tbl_get_bytes(&r, (size_t)len) : NULL;
      if (!d) return HDB_CORRUPT;
      if (v.type == HDB_TYPE_BLOB) {
        v.as.blob.data = d;
        v.as.blob.len = (size_t)len;
      } else {
        if (!hdb__utf8_valid((const char *)d, (size_t)len)) return HDB_CORRUPT;
        v.as.text.data = (const char *)d;
        v.as.text.len = (size_t)len;
      }
      break;
    }
    case HDB_TYPE_VECTOR: {
      uint64_t dim = hdb__tbl_get_u64(&r);
      const uint8_t *d = dim && dim <= HDB_MAX_VECTOR_DIM ? hdb__tbl_get_bytes(&r, (size_t)dim * 4) : NULL;
      if (!d) return HDB_CORRUPT;
      tmp = hdb__malloc((size_t)dim * 4); /* aligned copy */
      if (!tmp) return HDB_NOMEM;
      memcpy(tmp, d, (size_t)dim * 4);
      v.as.vector.data = tmp;
      v.as.vector.dim = (uint32_t)dim;
      break;
    }
    }
    if (r.bad) {
      hdb__free_mem(tmp);
      return HDB_CORRUPT;
    }
    /* Text copies are NUL-terminated by hdb__value_copy. */
    hdb_value own;
    hdb_status rc = hdb__value_copy(&own, &v);
    hdb__free_mem(tmp);
    if (rc != HDB_OK) return rc;
    rc = hdb__record_put_owned(into, name, &own);
    if (rc != HDB_OK) return rc;
  }
  return r.bad || r.pos != r.n ? HDB_CORRUPT : HDB_OK;
}

/* ------------------------------------------------------------------ */
/* Full verification                                                   */
/* ------------------------------------------------------------------ */

hdb_status hdb__tbl_frag_verify_all(tbl_frag *f, uint64_t *chunks, hdb_error *err) {
  tbl_cview v;
  hdb__tbl_cview_init(&v);
  hdb_status rc = HDB_OK;
  for (uint32_t k = 0; k < f->n_cols && rc == HDB_OK; k++) {
    tbl_fcol *c = &f->cols[k];
    if (c->type == HDB_TYPE_VECTOR) {
      atomic_store(&c->vverified, 0);
      const float *d;
      const uint8_t *nl;
      rc = hdb__tbl_frag_vectors(f, (int)k, &d, &nl, err);
      if (rc == HDB_OK && nl) {
        uint64_t pop = 0;
        for (uint64_t i = 0; i < f->n_rows; i++) pop += (uint64_t)tbl_bit(nl, i);
        if (pop != c->null_count)
          rc = hdb__fail(err, HDB_CORRUPT, "%s: column '%s': null count mismatch", fname(f), c->name);
      }
      continue;
    }
    for (uint32_t ci = 0; ci < f->n_chunks && rc == HDB_OK; ci++) {
      atomic_store(&c->chunks[ci].verified, 0);
      rc = hdb__tbl_chunk_load(f, (int)k, ci, &v, err);
      if (rc != HDB_OK) break;
      if (chunks) (*chunks)++;
      uint32_t nulls = 0;
      for (uint32_t i = 0; i < v.rows && rc == HDB_OK; i++) {
        hdb_value val;
        int got = hdb__tbl_cview_value(f, (int)k, &v, i, &val);
        if (got < 0) rc = chunk_bad(f, (int)k, ci, "bad value offsets", err);
        if (got == 0) nulls++;
        if (got == 1 && (c->flags & TBL_COL_FIELDS)) {
          hdb_record *tmp = hdb_record_new(NULL);
          if (!tmp) {
            rc = hdb__fail(err, HDB_NOMEM, "%s: out of memory", fname(f));
            break;
          }
          hdb_status d = hdb__tbl_fields_decode(val.as.blob.data, val.as.blob.len, tmp);
          hdb_record_free(tmp);
          if (d == HDB_NOMEM) rc = hdb__fail(err, HDB_NOMEM, "%s: out of memory", fname(f));
          else if (d != HDB_OK) rc = chunk_bad(f, (int)k, ci, "bad encoded row", err);
        }
      }
      if (rc == HDB_OK && nulls != c->chunks[ci].null_count)
        rc = chunk_bad(f, (int)k, ci, "null count mismatch", err);
    }
  }
  hdb__tbl_cview_free(&v);
  if (rc == HDB_OK) {
    atomic_store(&f->idx_verified, 0);
    rc = hdb__tbl_frag_index_verify(f, err);
  }
  return rc;
}

hdb_status hdb__tbl_fragment_validate(const void *buf, size_t len, const char *name,
                                      hdb_error *err) {
  tbl_frag *f;
  hdb_status rc = hdb__tbl_frag_parse(buf, len, name, &f, err);
  if (rc != HDB_OK) return rc;
  /* Vector blocks of an arbitrary buffer may be unaligned: verify_all only
   * hashes them, it never reads them as floats. */
  rc = hdb__tbl_frag_verify_all(f, NULL, err);
  hdb__tbl_frag_release(f);
  return rc;
}

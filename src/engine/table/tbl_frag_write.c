/*
 * tbl_frag_write.c - writes one immutable fragment file from records.
 *
 * Layout, in file order (README.md "Fragment file" has the byte details):
 *   header (64 B)  | column chunks, column after column, each 8-aligned
 *   | vector blocks, each 64-aligned, then its null bitmap
 *   | id index (sorted XXH3 hashes, their rows, a bloom filter)
 *   | directory (column descriptors, chunk table with zone maps)
 * The header, written last at offset 0, points at the directory and holds
 * its checksum; the directory holds every other section's checksum.
 *
 * A chunk covers the same rows in every column (chunk_rows per fragment,
 * halved until no variable-width chunk passes TBL_CHUNK_BYTES). A chunk is
 * compressed only when that saves at least an eighth and the expansion
 * stays under TBL_MAX_RATIO; the id column is never compressed so that id
 * lookups read it straight from the mapped file.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lz4.h>
#include <zstd.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/record.h"
#include "core/schema.h"
#include "core/value.h"
#include "tbl_int.h"


/* A column being written: where its values come from. */
typedef struct wcol {
  const char *name; /* the field name in the records */
  uint64_t field_id;
  hdb_type type;
  uint32_t dim;
  uint8_t flags;
  tbl_chunk *chunks;
  uint64_t voff, vlen, vxxh3, noff, nlen, nxxh3, null_count;
} wcol;

/* Value of column c in record r (borrowed): 1 present, 0 null. */
static int col_value(const wcol *c, const hdb_record *r, hdb_value *out) {
  if (c->flags & TBL_COL_ID) {
    out->type = HDB_TYPE_TEXT;
    out->as.text.data = r->id;
    out->as.text.len = strlen(r->id);
    return 1;
  }
  const hdb_value *v = hdb__record_value(r, c->name);
  if (!v || v->type == HDB_TYPE_NULL) return 0;
  *out = *v;
  return 1;
}

static size_t fixed_width(hdb_type t) {
  switch (t) {
  case HDB_TYPE_BOOL: return 1;
  case HDB_TYPE_INT:
  case HDB_TYPE_FLOAT:
  case HDB_TYPE_TIMESTAMP: return 8;
  default: return 0;
  }
}

static int zoned(hdb_type t) {
  return t == HDB_TYPE_BOOL || t == HDB_TYPE_INT || t == HDB_TYPE_FLOAT ||
         t == HDB_TYPE_TIMESTAMP || t == HDB_TYPE_TEXT;
}

/* Bytes a variable-width value takes in a chunk (with its NUL). */
static size_t var_len(const wcol *c, const hdb_record *r, tbl_buf *scratch) {
  if (c->flags & TBL_COL_FIELDS) {
    scratch->n = 0;
    hdb__tbl_fields_encode(r, scratch);
    return scratch->n + 1;
  }
  hdb_value v;
  if (!col_value(c, r, &v)) return 1;
  return (v.type == HDB_TYPE_BLOB ? v.as.blob.len : v.as.text.len) + 1;
}

/* Largest chunk_rows <= want such that no variable-width chunk exceeds
 * TBL_CHUNK_BYTES (or holds a single row). */
static uint32_t pick_chunk_rows(wcol *cols, size_t n_cols, hdb_record *const *rows, size_t n,
                                uint32_t want, tbl_buf *scratch) {
  uint32_t cr = want;
  for (size_t k = 0; k < n_cols; k++) {
    if (fixed_width(cols[k].type) || cols[k].type == HDB_TYPE_VECTOR) continue;
    for (;;) {
      uint64_t acc = 0, worst = 0;
      for (size_t i = 0; i < n; i++) {
        if (i % cr == 0) acc = 0;
        acc += var_len(&cols[k], rows[i], scratch) + 8;
        if (acc > worst) worst = acc;
      }
      if (worst <= TBL_CHUNK_BYTES || cr == 1) break;
      cr /= 2;
    }
  }
  return cr;
}

/* Builds chunk payload of column c, rows [from, from+cnt). */
static hdb_status build_chunk(wcol *c, hdb_record *const *rows, size_t from, uint32_t cnt,
                              tbl_chunk *ck, tbl_buf *raw, tbl_buf *scratch, hdb_error *err) {
  raw->n = 0;
  uint32_t nulls = 0;
  hdb_value v, mn = {0}, mx = {0};
  int have = 0, nan = 0;
  for (uint32_t i = 0; i < cnt; i++) {
    if (c->flags & TBL_COL_FIELDS) continue;
    if (!col_value(c, rows[from + i], &v)) {
      nulls++;
      continue;
    }
    if (!zoned(c->type)) continue;
    if (v.type == HDB_TYPE_FLOAT && v.as.f != v.as.f) nan = 1;
    if (!have) {
      mn = mx = v;
      have = 1;
    } else {
      if (hdb__value_order(&v, &mn) < 0) mn = v;
      if (hdb__value_order(&v, &mx) > 0) mx = v;
    }
  }
  ck->rows = cnt;
  ck->null_count = nulls;
  ck->has_zone = (uint8_t)(have && !nan);
  if (ck->has_zone && c->type == HDB_TYPE_TEXT &&
      (mn.as.text.len > 64 || mx.as.text.len > 64))
    ck->has_zone = 0;
  ck->zmin = mn;
  ck->zmax = mx; /* text borrowed from the records until the directory is encoded */
  if (nulls == cnt) return HDB_OK; /* all null: empty payload */
  size_t nm = nulls ? ((cnt + 63) / 64) * 8 : 0;
  if (nm) {
    size_t at = raw->n;
    hdb__tbl_put_zeros(raw, nm);
    if (raw->oom) goto oom;
    for (uint32_t i = 0; i < cnt; i++)
      if (!col_value(c, rows[from + i], &v)) tbl_setbit(raw->p + at, i);
  }
  size_t w = fixed_width(c->type);
  if (w) {
    if (hdb__tbl_buf_reserve(raw, (size_t)cnt * w)) goto oom;
    for (uint32_t i = 0; i < cnt; i++) {
      uint64_t x = 0;
      if (col_value(c, rows[from + i], &v)) {
        if (c->type == HDB_TYPE_BOOL) x = v.as.boolean ? 1 : 0;
        else if (c->type == HDB_TYPE_FLOAT) memcpy(&x, &v.as.f, 8);
        else x = (uint64_t)(c->type == HDB_TYPE_INT ? v.as.i : v.as.timestamp_us);
      }
      if (w == 1) hdb__tbl_put_u8(raw, (uint8_t)x);
      else hdb__tbl_put_u64(raw, x);
    }
  } else {
    size_t offs = raw->n;
    hdb__tbl_put_zeros(raw, ((size_t)cnt + 1) * 8);
    if (raw->oom) goto oom;
    size_t base = raw->n;
    for (uint32_t i = 0; i < cnt; i++) {
      tbl_st64(raw->p + offs + 8 * (size_t)i, raw->n - base);
      if (c->flags & TBL_COL_FIELDS) {
        scratch->n = 0;
        if (hdb__tbl_fields_encode(rows[from + i], scratch) != HDB_OK) goto oom;
        hdb__tbl_put(raw, scratch->p, scratch->n);
      } else if (col_value(c, rows[from + i], &v)) {
        if (v.type == HDB_TYPE_BLOB) hdb__tbl_put(raw, v.as.blob.data, v.as.blob.len);
        else hdb__tbl_put(raw, v.as.text.data, v.as.text.len);
      }
      hdb__tbl_put_u8(raw, 0);
      if (raw->oom) goto oom;
    }
    tbl_st64(raw->p + offs + 8 * (size_t)cnt, raw->n - base);
  }
  if (raw->oom) goto oom;
  return HDB_OK;
oom:
  return hdb__fail(err, HDB_NOMEM, "out of memory building a column chunk");
}

/* Compresses raw into comp when it pays; returns the codec used. */
static uint8_t compress(hdb__tbl_codec codec, const tbl_buf *raw, tbl_buf *comp) {
  comp->n = 0;
  if (codec == HDB__TBL_CODEC_RAW || raw->n < 64) return HDB__TBL_CODEC_RAW;
  size_t bound = codec == HDB__TBL_CODEC_ZSTD ? ZSTD_compressBound(raw->n)
                                              : (size_t)LZ4_compressBound((int)raw->n);
  if (codec == HDB__TBL_CODEC_LZ4 && raw->n > (size_t)LZ4_MAX_INPUT_SIZE) return HDB__TBL_CODEC_RAW;
  if (hdb__tbl_buf_reserve(comp, bound)) return HDB__TBL_CODEC_RAW;
  size_t got;
  if (codec == HDB__TBL_CODEC_ZSTD) {
    got = ZSTD_compress(comp->p, bound, raw->p, raw->n, 1);
    if (ZSTD_isError(got)) return HDB__TBL_CODEC_RAW;
  } else {
    int r = LZ4_compress_default((const char *)raw->p, (char *)comp->p, (int)raw->n, (int)bound);
    if (r <= 0) return HDB__TBL_CODEC_RAW;
    got = (size_t)r;
  }
  if (got > raw->n - raw->n / 8 || raw->n / got >= TBL_MAX_RATIO) return HDB__TBL_CODEC_RAW;
  comp->n = got;
  return (uint8_t)codec;
}

typedef struct idpair {
  uint64_t h;
  uint32_t row;
} idpair;

static int idpair_cmp(const void *a, const void *b) {
  const idpair *x = a, *y = b;
  if (x->h != y->h) return x->h < y->h ? -1 : 1;
  return x->row < y->row ? -1 : x->row > y->row;
}

static void put_zone(tbl_buf *d, hdb_type t, const tbl_chunk *ck) {
  hdb__tbl_put_u8(d, ck->has_zone);
  if (!ck->has_zone) return;
  switch (t) {
  case HDB_TYPE_BOOL:
    hdb__tbl_put_u8(d, (uint8_t)(ck->zmin.as.boolean != 0));
    hdb__tbl_put_u8(d, (uint8_t)(ck->zmax.as.boolean != 0));
    break;
  case HDB_TYPE_INT:
    hdb__tbl_put_u64(d, (uint64_t)ck->zmin.as.i);
    hdb__tbl_put_u64(d, (uint64_t)ck->zmax.as.i);
    break;
  case HDB_TYPE_TIMESTAMP:
    hdb__tbl_put_u64(d, (uint64_t)ck->zmin.as.timestamp_us);
    hdb__tbl_put_u64(d, (uint64_t)ck->zmax.as.timestamp_us);
    break;
  case HDB_TYPE_FLOAT: {
    uint64_t a, b;
    memcpy(&a, &ck->zmin.as.f, 8);
    memcpy(&b, &ck->zmax.as.f, 8);
    hdb__tbl_put_u64(d, a);
    hdb__tbl_put_u64(d, b);
    break;
  }
  default: /* text */
    hdb__tbl_put_str(d, ck->zmin.as.text.data, ck->zmin.as.text.len);
    hdb__tbl_put_str(d, ck->zmax.as.text.data, ck->zmax.as.text.len);
    break;
  }
}

hdb_status hdb__tbl_frag_write(const char *dir, const hdb_schema *schema, const uint64_t *field_ids,
                               hdb_record *const *rows, size_t n, uint32_t chunk_rows,
                               hdb__tbl_codec codec, hdb__tbl_sync sync, tbl_frag_out *out,
                               hdb_error *err) {
  hdb_status rc = HDB_OK;
  size_t n_cols = 1 + (schema ? schema->n : 1);
  wcol *cols = hdb__calloc(n_cols, sizeof *cols);
  tbl_buf raw = {0}, comp = {0}, scratch = {0}, d = {0};
  idpair *ids = NULL;
  char *path = NULL;
  tbl_writer w;
  int opened = 0;
  uint64_t fid = hdb__tbl_new_id();
  char name[32];
  hdb__tbl_frag_name(fid, name);
  uint32_t n_chunks = 0;
  if (!cols) return hdb__fail(err, HDB_NOMEM, "out of memory writing a fragment");
  cols[0].type = HDB_TYPE_TEXT;
  cols[0].flags = TBL_COL_ID;
  cols[0].name = "_id";
  if (schema) {
    for (size_t k = 0; k < schema->n; k++) {
      cols[k + 1].name = schema->cols[k].name;
      cols[k + 1].field_id = field_ids[k];
      cols[k + 1].type = schema->cols[k].type;
      cols[k + 1].dim = schema->cols[k].type == HDB_TYPE_VECTOR ? schema->cols[k].dim : 0;
    }
  } else {
    cols[1].name = "_fields";
    cols[1].type = HDB_TYPE_BLOB;
    cols[1].flags = TBL_COL_FIELDS;
  }
  if (!chunk_rows) chunk_rows = 65536;
  chunk_rows = pick_chunk_rows(cols, n_cols, rows, n, chunk_rows, &scratch);
  n_chunks = (uint32_t)((n + chunk_rows - 1) / chunk_rows);
  for (size_t k = 0; k < n_cols; k++) {
    if (cols[k].type == HDB_TYPE_VECTOR || !n_chunks) continue;
    cols[k].chunks = hdb__calloc(n_chunks, sizeof(tbl_chunk));
    if (!cols[k].chunks) goto nomem;
  }
  path = hdb__tbl_path(dir, name);
  if (!path) goto nomem;
  rc = hdb__tbl_writer_open(&w, path, err);
  if (rc != HDB_OK) goto done;
  opened = 1;
  {
    uint8_t zeros[TBL_HEADER] = {0};
    rc = hdb__tbl_writer_put(&w, zeros, sizeof zeros, err);
    if (rc != HDB_OK) goto done;
  }

  /* Column chunks. */
  for (size_t k = 0; k < n_cols && rc == HDB_OK; k++) {
    wcol *c = &cols[k];
    if (c->type == HDB_TYPE_VECTOR) continue;
    for (uint32_t ci = 0; ci < n_chunks; ci++) {
      size_t from = (size_t)ci * chunk_rows;
      uint32_t cnt = (uint32_t)(n - from < chunk_rows ? n - from : chunk_rows);
      tbl_chunk *ck = &c->chunks[ci];
      rc = build_chunk(c, rows, from, cnt, ck, &raw, &scratch, err);
      if (rc != HDB_OK) goto done;
      rc = hdb__tbl_writer_align(&w, 8, err);
      if (rc != HDB_OK) goto done;
      ck->off = w.pos;
      ck->raw_len = raw.n;
      ck->codec = (c->flags & TBL_COL_ID) ? HDB__TBL_CODEC_RAW : compress(codec, &raw, &comp);
      const tbl_buf *src = ck->codec == HDB__TBL_CODEC_RAW ? &raw : &comp;
      ck->stored_len = src->n;
      ck->xxh3 = hdb__tbl_hash(src->p, src->n);
      rc = hdb__tbl_writer_put(&w, src->p, src->n, err);
      if (rc != HDB_OK) goto done;
    }
  }

  /* Vector blocks: one contiguous, 64-aligned float32 block per column. */
  for (size_t k = 0; k < n_cols; k++) {
    wcol *c = &cols[k];
    if (c->type != HDB_TYPE_VECTOR) continue;
    rc = hdb__tbl_writer_align(&w, TBL_VEC_ALIGN, err);
    if (rc != HDB_OK) goto done;
    c->voff = w.pos;
    size_t vb = (size_t)c->dim * sizeof(float);
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    float *zeros = NULL;
    for (size_t i = 0; i < n; i++) {
      hdb_value v;
      const void *p;
      if (col_value(c, rows[i], &v) && v.type == HDB_TYPE_VECTOR && v.as.vector.dim == c->dim) {
        p = v.as.vector.data;
      } else {
        if (!zeros && !(zeros = hdb__calloc(c->dim, sizeof(float)))) goto nomem;
        p = zeros;
        c->null_count++;
      }
      XXH3_64bits_update(&st, p, vb);
      rc = hdb__tbl_writer_put(&w, p, vb, err);
      if (rc != HDB_OK) {
        hdb__free_mem(zeros);
        goto done;
      }
    }
    hdb__free_mem(zeros);
    c->vlen = (uint64_t)n * vb;
    c->vxxh3 = XXH3_64bits_digest(&st);
    if (c->null_count) {
      raw.n = 0;
      hdb__tbl_put_zeros(&raw, (n + 7) / 8);
      if (raw.oom) goto nomem;
      for (size_t i = 0; i < n; i++) {
        hdb_value v;
        if (!col_value(c, rows[i], &v)) tbl_setbit(raw.p, i);
      }
      c->noff = w.pos;
      c->nlen = raw.n;
      c->nxxh3 = hdb__tbl_hash(raw.p, raw.n);
      rc = hdb__tbl_writer_put(&w, raw.p, raw.n, err);
      if (rc != HDB_OK) goto done;
    }
  }

  /* Id index: (XXH3(id), row) sorted by hash, then a bloom filter. */
  uint64_t idx_off = 0, idx_len = 0, idx_xxh3 = 0, bloom_bytes = ((uint64_t)n * 10 + 63) / 64 * 8;
  if (bloom_bytes < 8) bloom_bytes = 8;
  {
    ids = hdb__malloc((n ? n : 1) * sizeof *ids);
    if (!ids) goto nomem;
    for (size_t i = 0; i < n; i++) {
      ids[i].h = hdb__tbl_hash(rows[i]->id, strlen(rows[i]->id));
      ids[i].row = (uint32_t)i;
    }
    qsort(ids, n, sizeof *ids, idpair_cmp);
    raw.n = 0;
    for (size_t i = 0; i < n; i++) hdb__tbl_put_u64(&raw, ids[i].h);
    for (size_t i = 0; i < n; i++) hdb__tbl_put_u32(&raw, ids[i].row);
    hdb__tbl_put_zeros(&raw, (8 - raw.n % 8) % 8);
    size_t b0 = raw.n;
    hdb__tbl_put_zeros(&raw, (size_t)bloom_bytes);
    if (raw.oom) goto nomem;
    uint64_t m = bloom_bytes * 8;
    for (size_t i = 0; i < n; i++) {
      uint64_t h1 = ids[i].h, h2 = (ids[i].h >> 33) | 1;
      for (int j = 0; j < 7; j++) tbl_setbit(raw.p + b0, (h1 + (uint64_t)j * h2) % m);
    }
    rc = hdb__tbl_writer_align(&w, 8, err);
    if (rc != HDB_OK) goto done;
    idx_off = w.pos;
    idx_len = raw.n;
    idx_xxh3 = hdb__tbl_hash(raw.p, raw.n);
    rc = hdb__tbl_writer_put(&w, raw.p, raw.n, err);
    if (rc != HDB_OK) goto done;
  }

  /* Directory. */
  hdb__tbl_put_u32(&d, (uint32_t)n_cols);
  for (size_t k = 0; k < n_cols; k++) {
    wcol *c = &cols[k];
    hdb__tbl_put_str(&d, c->name, strlen(c->name));
    hdb__tbl_put_u8(&d, (uint8_t)c->type);
    hdb__tbl_put_u32(&d, c->dim);
    hdb__tbl_put_u8(&d, c->flags);
    hdb__tbl_put_u64(&d, c->field_id);
    if (c->type == HDB_TYPE_VECTOR) {
      uint64_t v[7] = {c->voff, c->vlen, c->vxxh3, c->noff, c->nlen, c->nxxh3, c->null_count};
      for (int i = 0; i < 7; i++) hdb__tbl_put_u64(&d, v[i]);
      continue;
    }
    for (uint32_t ci = 0; ci < n_chunks; ci++) {
      const tbl_chunk *ck = &c->chunks[ci];
      hdb__tbl_put_u64(&d, ck->off);
      hdb__tbl_put_u64(&d, ck->stored_len);
      hdb__tbl_put_u64(&d, ck->raw_len);
      hdb__tbl_put_u64(&d, ck->xxh3);
      hdb__tbl_put_u32(&d, ck->null_count);
      hdb__tbl_put_u8(&d, ck->codec);
      put_zone(&d, c->type, ck);
    }
  }
  hdb__tbl_put_u64(&d, idx_off);
  hdb__tbl_put_u64(&d, idx_len);
  hdb__tbl_put_u64(&d, idx_xxh3);
  hdb__tbl_put_u64(&d, bloom_bytes);
  if (d.oom) goto nomem;
  rc = hdb__tbl_writer_align(&w, 8, err);
  if (rc != HDB_OK) goto done;
  uint64_t dir_off = w.pos;
  rc = hdb__tbl_writer_put(&w, d.p, d.n, err);
  if (rc != HDB_OK) goto done;
  tbl_header h = {TBL_MAGIC_FRAGMENT, TBL_FORMAT, 0, {n, chunk_rows, dir_off, fid}, d.n,
                  hdb__tbl_hash(d.p, d.n)};
  uint8_t hb[TBL_HEADER];
  hdb__tbl_header_encode(&h, hb);
  rc = hdb__tbl_writer_pwrite(&w, hb, sizeof hb, 0, err);
  if (rc != HDB_OK) goto done;
  uint64_t size = w.pos;
  opened = 0;
  rc = hdb__tbl_writer_finish(&w, sync, err);
  if (rc != HDB_OK) goto done;
  out->fid = fid;
  out->rows = n;
  out->file_size = size;
  out->dir_xxh3 = h.body_xxh3;
  goto done;
nomem:
  rc = hdb__fail(err, HDB_NOMEM, "out of memory writing fragment %s", name);
done:
  if (opened) hdb__tbl_writer_abort(&w);
  if (rc != HDB_OK && path) unlink(path);
  if (cols)
    for (size_t k = 0; k < n_cols; k++) hdb__free_mem(cols[k].chunks);
  hdb__free_mem(cols);
  hdb__free_mem(ids);
  hdb__free_mem(path);
  hdb__tbl_buf_free(&raw);
  hdb__tbl_buf_free(&comp);
  hdb__tbl_buf_free(&scratch);
  hdb__tbl_buf_free(&d);
  return rc;
}

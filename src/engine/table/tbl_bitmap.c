/*
 * tbl_bitmap.c - deletion files: which rows of one fragment are deleted.
 *
 * In memory a deletion set is a plain bitset (one bit per row of the
 * fragment: 128 KiB for a million rows). On disk it is roaring-style: the
 * row space is cut into 65,536-row blocks and each block that has deleted
 * rows is one container, written in whichever of three encodings is
 * smallest:
 *   ARRAY  (1)  sorted u16 offsets              2 bytes per deleted row
 *   BITMAP (2)  8,192 bytes                     dense blocks
 *   RUNS   (3)  u32 count, (u16 start, u16 len-1) pairs   long runs
 * Invariants (checked by the decoder): container keys strictly increase and
 * lie inside the fragment, every row is < n_rows, array entries strictly
 * increase, runs are ordered and do not overlap, and the cardinalities add
 * up to the header's n_deleted.
 */
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "tbl_int.h"

enum { C_ARRAY = 1, C_BITMAP = 2, C_RUNS = 3 };

static uint32_t block_card(const uint8_t *bits, uint64_t base, uint64_t n_rows) {
  uint32_t c = 0;
  uint64_t end = base + 65536 < n_rows ? base + 65536 : n_rows;
  /* base is a multiple of 65536, so whole bytes until the tail. */
  uint64_t full = (end - base) / 8;
  for (uint64_t i = 0; i < full; i++) c += (uint32_t)__builtin_popcount(bits[(base >> 3) + i]);
  for (uint64_t r = base + full * 8; r < end; r++) c += (uint32_t)tbl_bit(bits, r);
  return c;
}

static uint32_t block_runs(const uint8_t *bits, uint64_t base, uint64_t end) {
  uint32_t runs = 0;
  int prev = 0;
  for (uint64_t r = base; r < end; r++) {
    int b = tbl_bit(bits, r);
    if (b && !prev) runs++;
    prev = b;
  }
  return runs;
}

hdb_status hdb__tbl_del_encode(const uint8_t *bits, uint64_t n_rows, uint64_t fid, tbl_buf *out,
                               uint64_t *n_deleted, hdb_error *err) {
  tbl_buf body = {0};
  uint64_t total = 0;
  uint32_t n_cont = 0;
  hdb__tbl_put_u32(&body, 0); /* patched below */
  for (uint64_t base = 0; base < n_rows; base += 65536) {
    uint32_t card = block_card(bits, base, n_rows);
    if (!card) continue;
    uint64_t end = base + 65536 < n_rows ? base + 65536 : n_rows;
    uint32_t runs = block_runs(bits, base, end);
    size_t sz_array = 2u * card, sz_bitmap = 8192, sz_runs = 4 + 4u * runs;
    hdb__tbl_put_u32(&body, (uint32_t)(base >> 16));
    if (sz_runs <= sz_array && sz_runs <= sz_bitmap) {
      hdb__tbl_put_u8(&body, C_RUNS);
      hdb__tbl_put_u32(&body, card);
      hdb__tbl_put_u32(&body, runs);
      for (uint64_t r = base; r < end;) {
        if (!tbl_bit(bits, r)) {
          r++;
          continue;
        }
        uint64_t s = r;
        while (r < end && tbl_bit(bits, r)) r++;
        hdb__tbl_put_u16(&body, (uint16_t)(s - base));
        hdb__tbl_put_u16(&body, (uint16_t)(r - s - 1));
      }
    } else if (sz_array <= sz_bitmap) {
      hdb__tbl_put_u8(&body, C_ARRAY);
      hdb__tbl_put_u32(&body, card);
      for (uint64_t r = base; r < end; r++)
        if (tbl_bit(bits, r)) hdb__tbl_put_u16(&body, (uint16_t)(r - base));
    } else {
      hdb__tbl_put_u8(&body, C_BITMAP);
      hdb__tbl_put_u32(&body, card);
      uint8_t blk[8192];
      memset(blk, 0, sizeof blk);
      memcpy(blk, bits + (base >> 3), (size_t)((end - base + 7) / 8));
      /* Bits past n_rows in the last byte are never set by writers. */
      hdb__tbl_put(&body, blk, sizeof blk);
    }
    total += card;
    n_cont++;
  }
  if (body.oom) {
    hdb__tbl_buf_free(&body);
    return hdb__fail(err, HDB_NOMEM, "out of memory encoding a deletion file");
  }
  for (int i = 0; i < 4; i++) body.p[i] = (uint8_t)(n_cont >> (8 * i));
  tbl_header h = {TBL_MAGIC_DELETION, TBL_FORMAT, 0, {n_rows, total, fid, 0}, body.n,
                  hdb__tbl_hash(body.p, body.n)};
  uint8_t hb[TBL_HEADER];
  hdb__tbl_header_encode(&h, hb);
  hdb__tbl_put(out, hb, sizeof hb);
  hdb__tbl_put(out, body.p, body.n);
  hdb__tbl_buf_free(&body);
  if (out->oom) return hdb__fail(err, HDB_NOMEM, "out of memory encoding a deletion file");
  *n_deleted = total;
  return HDB_OK;
}

hdb_status hdb__tbl_del_decode(const uint8_t *buf, size_t len, uint64_t n_rows, const char *name,
                               uint8_t **bits, uint64_t *n_deleted, hdb_error *err) {
  *bits = NULL;
  tbl_header h;
  hdb_status rc = hdb__tbl_header_decode(buf, len, TBL_MAGIC_DELETION, name, &h, err);
  if (rc != HDB_OK) return rc;
  if (h.body_len != len - TBL_HEADER)
    return hdb__fail(err, HDB_CORRUPT, "%s: body is %zu bytes, header says %llu", name,
                     len - TBL_HEADER, (unsigned long long)h.body_len);
  if (!hdb__tbl_sum_ok(hdb__tbl_hash(buf + TBL_HEADER, len - TBL_HEADER), h.body_xxh3))
    return hdb__fail(err, HDB_CORRUPT, "%s: checksum mismatch", name);
  if (h.f[0] != n_rows)
    return hdb__fail(err, HDB_CORRUPT, "%s: is for a fragment of %llu rows, not %llu", name,
                     (unsigned long long)h.f[0], (unsigned long long)n_rows);
  if (n_rows > ((uint64_t)1 << 40))
    return hdb__fail(err, HDB_CORRUPT, "%s: implausible row count", name);
  uint8_t *b = hdb__calloc((size_t)(n_rows / 8 + 1), 1);
  if (!b) return hdb__fail(err, HDB_NOMEM, "%s: out of memory", name);
  tbl_rd r = {buf + TBL_HEADER, len - TBL_HEADER, 0, 0};
  uint32_t n_cont = hdb__tbl_get_u32(&r);
  uint64_t total = 0;
  int64_t last_key = -1;
  const char *why = NULL;
  for (uint32_t c = 0; c < n_cont && !r.bad && !why; c++) {
    uint32_t key = hdb__tbl_get_u32(&r);
    uint8_t kind = hdb__tbl_get_u8(&r);
    uint32_t card = hdb__tbl_get_u32(&r);
    uint64_t base = (uint64_t)key << 16;
    if ((int64_t)key <= last_key || base >= n_rows) {
      why = "container keys out of order or past the fragment";
      break;
    }
    last_key = key;
    uint64_t end = base + 65536 < n_rows ? base + 65536 : n_rows;
    uint32_t got = 0;
    if (kind == C_ARRAY) {
      int32_t prev = -1;
      for (uint32_t i = 0; i < card && !r.bad; i++) {
        uint16_t o = hdb__tbl_get_u16(&r);
        if ((int32_t)o <= prev || base + o >= end) {
          why = "array container out of order or past the fragment";
          break;
        }
        prev = o;
        tbl_setbit(b, base + o);
        got++;
      }
    } else if (kind == C_BITMAP) {
      const uint8_t *p = hdb__tbl_get_bytes(&r, 8192);
      if (!p) break;
      for (uint64_t i = 0; i < 65536; i++)
        if ((p[i >> 3] >> (i & 7)) & 1) {
          if (base + i >= end) {
            why = "bitmap container past the fragment";
            break;
          }
          tbl_setbit(b, base + i);
          got++;
        }
    } else if (kind == C_RUNS) {
      uint32_t runs = hdb__tbl_get_u32(&r);
      int64_t next = 0;
      for (uint32_t i = 0; i < runs && !r.bad && !why; i++) {
        uint16_t s = hdb__tbl_get_u16(&r), l = hdb__tbl_get_u16(&r);
        if ((int64_t)s < next || base + s + l >= end) {
          why = "runs overlap or pass the fragment";
          break;
        }
        for (uint32_t k = 0; k <= l; k++) tbl_setbit(b, base + s + k);
        got += (uint32_t)l + 1;
        next = (int64_t)s + l + 2;
      }
    } else {
      why = "unknown container kind";
    }
    if (!why && !r.bad && got != card) why = "container cardinality mismatch";
    total += got;
  }
  if (!why && !r.bad && r.pos != r.n) why = "trailing bytes";
  if (!why && r.bad) why = "truncated body";
  if (!why && total != h.f[1]) why = "deleted count does not match the header";
  if (why) {
    hdb__free_mem(b);
    return hdb__fail(err, HDB_CORRUPT, "%s: %s", name, why);
  }
  *bits = b;
  *n_deleted = total;
  return HDB_OK;
}

hdb_status hdb__tbl_deletion_validate(const void *buf, size_t len, uint64_t frag_rows,
                                      const char *name, hdb_error *err) {
  uint8_t *bits;
  uint64_t n;
  hdb_status rc = hdb__tbl_del_decode(buf, len, frag_rows, name, &bits, &n, err);
  hdb__free_mem(bits);
  return rc;
}

/*
 * fuzz_vec_hnsw_load.c - libFuzzer target for the HNSW file decoder
 * (hdb__hnsw_open_mem): any bytes must give HDB_OK, HDB_CORRUPT or
 * HDB_NOT_SUPPORTED, never a crash, a leak or a read outside the buffer.
 *
 * Random bytes almost never carry valid XXH3 checksums, so every input is
 * opened twice: as it is (the checksum path) and resealed
 * (hdb__hnsw_file_seal) to drive the structural checks. An index that opens
 * is searched, with and without a filter, to prove that a validated graph
 * is safe to walk.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/vector/vec_hnsw.h"
#include "hanzodb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int odd_ids(void *ctx, uint64_t id)
{
  (void)ctx;
  return (int)(id & 1);
}

static void one(const uint8_t *data, size_t size, int reseal)
{
  unsigned char *buf = aligned_alloc(64, (size + 64) / 64 * 64);
  if (buf == NULL)
    return;
  if (size > 0)
    memcpy(buf, data, size);
  if (reseal)
    hdb__hnsw_file_seal(buf, size);
  hdb__hnsw *idx = NULL;
  hdb_error err;
  hdb_status st = hdb__hnsw_open_mem(buf, size, &idx, &err);
  if (st == HDB_OK) {
    hdb__hnsw_ctx *ctx = NULL;
    if (hdb__hnsw_ctx_new(idx, &ctx, &err) == HDB_OK) {
      uint32_t dim = hdb__hnsw_dim(idx);
      float *q = calloc(dim, sizeof *q);
      if (q != NULL) {
        for (uint32_t i = 0; i < dim; i++)
          q[i] = (float)(i % 7) - 3.0f;
        hdb__vec_hit out[8];
        uint32_t n;
        hdb__vec_filter f = {.fn = odd_ids};
        (void)hdb__hnsw_search(idx, ctx, q, 8, 16, NULL, out, &n, &err);
        (void)hdb__hnsw_search(idx, ctx, q, 3, 0, &f, out, &n, &err);
        (void)hdb__hnsw_search_auto(idx, ctx, q, 5, 0, &f, out, &n, NULL, &err);
        free(q);
      }
      hdb__hnsw_ctx_free(ctx);
    }
    hdb__hnsw_free(idx);
  } else if (st != HDB_CORRUPT && st != HDB_NOT_SUPPORTED && st != HDB_NOMEM) {
    abort();
  }
  free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  one(data, size, 0);
  one(data, size, 1);
  return 0;
}

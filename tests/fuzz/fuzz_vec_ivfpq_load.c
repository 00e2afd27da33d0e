/*
 * fuzz_vec_ivfpq_load.c - libFuzzer target for the IVF-PQ file decoder
 * (hdb__ivfpq_open_mem): any bytes must give HDB_OK, HDB_CORRUPT,
 * HDB_NOT_SUPPORTED or HDB_NOMEM, never a crash, a leak or a read outside
 * the buffer.
 *
 * Random bytes almost never carry valid XXH3 checksums, so every input is
 * opened twice: as it is and resealed (hdb__ivfpq_file_seal) to drive the
 * structural checks. An index that opens is searched (with and without a
 * filter, ADC only: the index holds no vectors), gets a delete and an add,
 * to prove that a validated index is safe to use.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/vector/vec_ivfpq.h"
#include "hanzodb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int odd_ids(void *ctx, uint64_t id)
{
  (void)ctx;
  return (int)(id & 1);
}

static void one(const uint8_t *data, size_t size, int reseal)
{
  unsigned char *buf = malloc(size + 1);
  if (buf == NULL)
    return;
  if (size > 0)
    memcpy(buf, data, size);
  if (reseal)
    hdb__ivfpq_file_seal(buf, size);
  hdb__ivfpq *idx = NULL;
  hdb_error err;
  hdb_status st = hdb__ivfpq_open_mem(buf, size, &idx, &err);
  if (st == HDB_OK) {
    uint32_t dim = hdb__ivfpq_dim(idx);
    float *q = calloc(dim, sizeof *q);
    if (q != NULL) {
      for (uint32_t i = 0; i < dim; i++)
        q[i] = (float)(i % 7) - 3.0f;
      hdb__vec_hit out[8];
      uint32_t n;
      hdb__vec_filter f = {.fn = odd_ids};
      uint64_t del = 1;
      (void)hdb__ivfpq_search(idx, q, 8, 2, 2, NULL, NULL, out, &n, &err);
      (void)hdb__ivfpq_search(idx, q, 3, 0, 0, &f, NULL, out, &n, &err);
      (void)hdb__ivfpq_delete(idx, &del, 1, NULL, &err);
      (void)hdb__ivfpq_add(idx, q, NULL, 12345, 1, 1, &err);
      (void)hdb__ivfpq_search(idx, q, 5, 1, 1, NULL, NULL, out, &n, &err);
      free(q);
    }
    hdb__ivfpq_free(idx);
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

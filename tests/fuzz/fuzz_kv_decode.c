/*
 * fuzz_kv_decode.c - libFuzzer target for the LSM store's decoders: WAL
 * replay (record framing and batch payloads), the MANIFEST edit decoder,
 * and the table reader (footer, index, filter, data blocks). Any bytes
 * must give HDB_OK or HDB_CORRUPT (HDB_NOMEM allowed), never a crash, an
 * out-of-bounds read or a leak.
 *
 * The first input byte picks the decoder; the rest is the file.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "engine/kv/kv_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(hdb_status st) {
  if (st != HDB_OK && st != HDB_CORRUPT && st != HDB_NOMEM) abort();
}

static hdb_status on_record(void *ctx, const char *p, size_t n, uint64_t off, hdb_error *err) {
  (void)ctx;
  (void)off;
  hdb_status st = hdb__lsm_batch_iterate(p, n, NULL, NULL, err);
  must(st);
  hdb__lsm_edit e;
  hdb__lsm_edit_init(&e);
  must(hdb__lsm_edit_decode("/nonexistent", p, n, "fuzz", 0, &e, err));
  hdb__lsm_version *v = NULL;
  if (hdb__lsm_version_apply(NULL, &e, &v, err) == HDB_OK) hdb__lsm_version_unref(v);
  hdb__lsm_edit_free(&e);
  return HDB_OK;
}

static void fuzz_table(const char *buf, size_t n) {
  hdb__lsm_table *t;
  hdb_error err;
  hdb_status st = hdb__lsm_table_open_mem("fuzz.sst", buf, n, &t, &err);
  must(st);
  if (st != HDB_OK) return;
  must(hdb__lsm_table_verify(t, &err));
  int found, type;
  void *v = NULL;
  size_t vl;
  if (hdb__lsm_table_get(t, "key", 3, HDB__LSM_MAX_SEQ, &found, &type, &v, &vl, &err) == HDB_OK &&
      found && type == HDB__LSM_PUT)
    hdb__free_mem(v);
  hdb__lsm_it *it;
  if (hdb__lsm_table_iter(t, &it, &err) == HDB_OK) {
    int steps = 0;
    for (it->vt->first(it); it->valid && steps < 1000; it->vt->next(it)) steps++;
    for (it->vt->last(it); it->valid && steps < 2000; it->vt->prev(it)) steps++;
    char k[16] = "key\0\0\0\0\0\0\0\0";
    it->vt->seek(it, k, 11);
    hdb__lsm_it_seek_prev(it, k, 11);
    it->vt->close(it);
  }
  hdb__lsm_table_close(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int mode = data[0] % 4;
  /* A private copy: the decoders must not read past size. */
  size_t n = size - 1;
  char *buf = malloc(n ? n : 1);
  if (!buf) return 0;
  memcpy(buf, data + 1, n);
  uint64_t torn;
  hdb_error err;
  switch (mode) {
  case 0:
    must(hdb__lsm_log_replay("fuzz.log", buf, n, HDB__LSM_WAL_MAGIC, on_record, NULL, &torn, &err));
    if (torn > n) abort();
    /* A reader's incremental read of the same bytes past the header. */
    if (n >= HDB__LSM_LOG_HEADER) {
      uint64_t end;
      must(hdb__lsm_log_replay_tail("fuzz.log", buf + HDB__LSM_LOG_HEADER, n - HDB__LSM_LOG_HEADER,
                                    HDB__LSM_LOG_HEADER, HDB__LSM_WAL_MAGIC, on_record, NULL, &end,
                                    &err));
      if (end < HDB__LSM_LOG_HEADER || end > n) abort();
    }
    break;
  case 1: {
    /* Framing is valid: fuzz the payload decoders directly. */
    on_record(NULL, buf, n, 0, &err);
    break;
  }
  case 2:
    fuzz_table(buf, n);
    break;
  default: {
    hdb__lsm_it *it;
    if (hdb__lsm_block_iter(buf, n, NULL, "fuzz", 0, &it, &err) == HDB_OK) {
      int steps = 0;
      for (it->vt->first(it); it->valid && steps < 1000; it->vt->next(it)) steps++;
      for (it->vt->last(it); it->valid && steps < 2000; it->vt->prev(it)) steps++;
      it->vt->seek(it, "key\0\0\0\0\0\0\0\0", 11);
      it->vt->close(it);
    }
    char kb[64];
    size_t kl, vl;
    const char *v;
    hdb__lsm_block_seek(buf, n, "key\0\0\0\0\0\0\0\0", 11, kb, sizeof kb, &kl, &v, &vl, "fuzz", 0, &err);
    break;
  }
  }
  free(buf);
  return 0;
}

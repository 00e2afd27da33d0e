/*
 * fuzz_table_decode.c - libFuzzer target for engine/table's decoders: the
 * manifest, the fragment (header, directory, every chunk, vector block, id
 * index, encoded schemaless rows) and the deletion file. The first input
 * byte picks the decoder (0 manifest, 1 fragment, 2 deletion; for a
 * deletion file the next 4 bytes are the fragment's row count). Any input
 * must give HDB_OK or an error status, never a crash, a leak or an
 * out-of-bounds read. Bit 7 of the first byte switches checksum
 * verification off for that input, so mutations reach the parsers behind
 * the checksums too.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/table/table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  hdb_error err;
  uint8_t kind = (data[0] & 0x7f) % 3;
  hdb__tbl_fuzz_skip_checksums(data[0] & 0x80);
  data++;
  size--;
  if (kind == 0) {
    hdb__tbl_manifest_validate(data, size, "fuzz.manifest", &err);
  } else if (kind == 1) {
    /* Fragments are read in place (mmap'd): give the decoder an aligned
     * copy as the mapping would be. */
    static uint8_t buf[1 << 16] __attribute__((aligned(64)));
    if (size > sizeof buf) return 0;
    memcpy(buf, data, size);
    hdb__tbl_fragment_validate(buf, size, "fuzz.frag", &err);
  } else {
    if (size < 4) return 0;
    uint64_t rows = (uint64_t)data[0] | ((uint64_t)data[1] << 8) | ((uint64_t)data[2] << 16);
    hdb__tbl_deletion_validate(data + 4, size - 4, rows, "fuzz.del", &err);
  }
  return 0;
}

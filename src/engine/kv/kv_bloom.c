/*
 * kv_bloom.c - the per-table bloom filter (cache-line blocked).
 *
 * Each key's probes all fall in one 64-byte line chosen from the high half
 * of its 64-bit hash, so a negative lookup costs one cache miss, not k
 * (RocksDB's "fast local bloom"). The low half drives k probes by
 * repeated multiplication, each taking 9 bits (a bit of the 512-bit line).
 *
 * Layout: nlines x 64 bytes | u32 nlines | u8 k.
 */
#include "engine/kv/kv_impl.h"

static int probes(int bits_per_key) {
  int k = (int)(bits_per_key * 0.69);
  if (k < 1) k = 1;
  if (k > 30) k = 30;
  return k;
}

size_t hdb__lsm_bloom_size(size_t nkeys, int bits_per_key) {
  size_t bits = nkeys * (size_t)bits_per_key;
  size_t lines = (bits + 511) / 512;
  if (lines == 0) lines = 1;
  return lines * 64 + 5;
}

static inline uint32_t line_of(uint64_t hash, uint32_t nlines) {
  return (uint32_t)(((hash >> 32) * (uint64_t)nlines) >> 32);
}

void hdb__lsm_bloom_build(const uint64_t *hashes, size_t n, int bits_per_key, char *out,
                          size_t size) {
  uint32_t nlines = (uint32_t)((size - 5) / 64);
  int k = probes(bits_per_key);
  memset(out, 0, size);
  for (size_t i = 0; i < n; i++) {
    unsigned char *line = (unsigned char *)out + (size_t)line_of(hashes[i], nlines) * 64;
    uint32_t h = (uint32_t)hashes[i];
    for (int j = 0; j < k; j++) {
      uint32_t bit = h >> 23;
      line[bit >> 3] |= (unsigned char)(1u << (bit & 7));
      h *= 0x9e3779b9u;
    }
  }
  hdb__lsm_put32(out + size - 5, nlines);
  out[size - 1] = (char)k;
}

int hdb__lsm_bloom_valid(const char *filter, size_t size) {
  if (size < 69) return 0;
  uint32_t nlines = hdb__lsm_get32(filter + size - 5);
  int k = (unsigned char)filter[size - 1];
  return (uint64_t)nlines * 64 + 5 == size && k >= 1 && k <= 30;
}

int hdb__lsm_bloom_may_match(const char *filter, size_t size, uint64_t hash) {
  uint32_t nlines = hdb__lsm_get32(filter + size - 5);
  int k = (unsigned char)filter[size - 1];
  const unsigned char *line = (const unsigned char *)filter + (size_t)line_of(hash, nlines) * 64;
  uint32_t h = (uint32_t)hash;
  for (int j = 0; j < k; j++) {
    uint32_t bit = h >> 23;
    if (!(line[bit >> 3] & (1u << (bit & 7)))) return 0;
    h *= 0x9e3779b9u;
  }
  return 1;
}

/*
 * vec_hnsw_io.c - the HNSW file format: save (atomic: temp file, fsync,
 * rename) and open (mmap, validate, search in place).
 *
 * Layout (format version 1, little-endian, README.md has the table): a
 * 256-byte header, then seven sections, each starting on a 64-byte
 * boundary, in the order of vec_hnsw_int.h: vecs, ids, levels, deleted,
 * upper_off, links0, upper. The offsets are not free: open recomputes the
 * canonical layout from n, dim, m0 and upper_len and refuses any other.
 * Two XXH3-64 checksums guard the file: one over the body (every byte after
 * the header, padding included), one over the header's first 152 bytes
 * (which hold the body checksum); the header's reserved bytes 160..255 must
 * be zero.
 *
 * A checksum catches accidents, not malice, so open also walks every
 * node and link (vec_hnsw_int.h invariants 1-3) before searching: a file
 * that passes cannot make a search read outside the mapping.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Inlined (static) XXH3: the module needs no xxhash library at link time,
 * so the fuzz build can compile it with core alone. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "core/alloc.h"
#include "core/err.h"
#include "vec_hnsw_int.h"

#define HDR_SIZE 256u
#define FORMAT_VERSION 1u
#define OFF_BODY_SUM 144u
#define OFF_HDR_SUM 152u
#define N_SECTIONS 7
static const char MAGIC[8] = {'H', 'D', 'B', 'H', 'N', 'S', 'W', '\0'};

typedef struct layout {
  uint64_t off[N_SECTIONS], len[N_SECTIONS];
  uint64_t file_size;
} layout;

/* The canonical layout; n < 2^32 and dim <= 65536 keep every product far
 * from overflowing 64 bits. */
static void compute_layout(uint64_t n, uint32_t dim, uint32_t m0, uint64_t upper_len, layout *L)
{
  L->len[0] = n * dim * sizeof(float);
  L->len[1] = n * sizeof(uint64_t);
  L->len[2] = n;
  L->len[3] = n;
  L->len[4] = n * sizeof(uint32_t);
  L->len[5] = n * (1 + (uint64_t)m0) * sizeof(uint32_t);
  L->len[6] = upper_len * sizeof(uint32_t);
  uint64_t pos = HDR_SIZE;
  for (int i = 0; i < N_SECTIONS; i++) {
    pos = (pos + 63) & ~(uint64_t)63;
    L->off[i] = pos;
    pos += L->len[i];
  }
  L->file_size = pos;
}

static void encode_header(const hdb__hnsw *idx, const layout *L, unsigned char h[HDR_SIZE])
{
  memset(h, 0, HDR_SIZE);
  memcpy(h, MAGIC, 8);
  hdb__vec_put32(h + 8, FORMAT_VERSION);
  hdb__vec_put32(h + 12, HDR_SIZE);
  hdb__vec_put32(h + 16, idx->dim);
  hdb__vec_put32(h + 20, (uint32_t)idx->metric);
  hdb__vec_put32(h + 24, idx->m);
  hdb__vec_put32(h + 28, idx->m0);
  hdb__vec_put32(h + 32, idx->efc);
  hdb__vec_put32(h + 36, idx->efs);
  hdb__vec_put64(h + 40, idx->n);
  hdb__vec_put32(h + 48, idx->entry);
  hdb__vec_put32(h + 52, (uint32_t)idx->max_level);
  hdb__vec_put64(h + 56, idx->seed);
  hdb__vec_put64(h + 64, idx->n_deleted);
  hdb__vec_put64(h + 72, idx->upper_len);
  for (int i = 0; i < N_SECTIONS; i++)
    hdb__vec_put64(h + 80 + 8 * i, L->off[i]);
  hdb__vec_put64(h + 136, L->file_size);
}

void hdb__hnsw_file_seal(void *buf, size_t len)
{
  unsigned char *h = buf;
  if (buf == NULL || len < HDR_SIZE)
    return;
  hdb__vec_put64(h + OFF_BODY_SUM, XXH3_64bits(h + HDR_SIZE, len - HDR_SIZE));
  hdb__vec_put64(h + OFF_HDR_SUM, XXH3_64bits(h, OFF_HDR_SUM));
}

static int write_all(int fd, const void *p, size_t n)
{
  const unsigned char *c = p;
  while (n > 0) {
    ssize_t w = write(fd, c, n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

hdb_status hdb__hnsw_save(const hdb__hnsw *idx, const char *path, hdb_error *err)
{
  if (idx == NULL || path == NULL)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "hnsw save: missing argument");
  if (!hdb__vec_host_le())
    return hdb__fail(err, HDB_NOT_SUPPORTED, "hnsw save: big-endian hosts are not supported");
  layout L;
  compute_layout(idx->n, idx->dim, idx->m0, idx->upper_len, &L);
  const void *data[N_SECTIONS] = {idx->vecs,      idx->ids,    idx->levels, idx->deleted,
                                  idx->upper_off, idx->links0, idx->upper};
  size_t plen = strlen(path);
  char *tmp = hdb__malloc(plen + 5);
  if (tmp == NULL)
    return hdb__fail(err, HDB_NOMEM, "hnsw save: out of memory");
  memcpy(tmp, path, plen);
  memcpy(tmp + plen, ".tmp", 5);
  hdb_status st = HDB_OK;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    st = hdb__fail(err, HDB_IO, "hnsw save: cannot create '%s': %s", tmp, strerror(errno));
    goto cleanup;
  }
  unsigned char h[HDR_SIZE];
  static const unsigned char zeros[64] = {0};
  encode_header(idx, &L, h);
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  uint64_t pos = HDR_SIZE;
  if (write_all(fd, h, HDR_SIZE) != 0)
    goto io_error;
  for (int i = 0; i < N_SECTIONS; i++) {
    size_t pad = (size_t)(L.off[i] - pos);
    if (pad > 0 && (write_all(fd, zeros, pad) != 0))
      goto io_error;
    XXH3_64bits_update(&state, zeros, pad);
    if (L.len[i] > 0) {
      if (write_all(fd, data[i], (size_t)L.len[i]) != 0)
        goto io_error;
      XXH3_64bits_update(&state, data[i], (size_t)L.len[i]);
    }
    pos = L.off[i] + L.len[i];
  }
  hdb__vec_put64(h + OFF_BODY_SUM, XXH3_64bits_digest(&state));
  hdb__vec_put64(h + OFF_HDR_SUM, XXH3_64bits(h, OFF_HDR_SUM));
  st = hdb__vec_file_publish(fd, h, HDR_SIZE, tmp, path, "hnsw save", err);
  goto cleanup;

io_error:
  st = hdb__fail(err, HDB_IO, "hnsw save: writing '%s': %s", tmp, strerror(errno));
  if (fd >= 0)
    close(fd);
  fd = -1;
  unlink(tmp);
cleanup:
  hdb__free_mem(tmp);
  return st;
}

#define CORRUPT(...) hdb__fail(err, HDB_CORRUPT, "hnsw file: " __VA_ARGS__)

/* Walks every node and link (invariants 1-3 of vec_hnsw_int.h). */
static hdb_status check_graph(const hdb__hnsw *x, hdb_error *err)
{
  uint64_t deleted = 0;
  for (uint32_t i = 0; i < x->n; i++) {
    int lv = x->levels[i];
    if (lv > x->max_level)
      return CORRUPT("node %u has level %d above the top %d", i, lv, x->max_level);
    if (x->deleted[i] > 1)
      return CORRUPT("node %u has deleted flag %u", i, x->deleted[i]);
    deleted += x->deleted[i];
    if (lv == 0) {
      if (x->upper_off[i] != HDB__HNSW_NONE)
        return CORRUPT("level-0 node %u has upper links", i);
    } else if ((uint64_t)x->upper_off[i] + (uint64_t)lv * (1 + x->m) > x->upper_len) {
      return CORRUPT("node %u: upper links past the end", i);
    }
    for (int l = 0; l <= lv; l++) {
      const uint32_t *list = hnsw_links(x, i, l);
      if (list[0] > (l ? x->m : x->m0))
        return CORRUPT("node %u level %d: %u links", i, l, list[0]);
      for (uint32_t j = 0; j < list[0]; j++) {
        uint32_t nb = list[1 + j];
        if (nb >= x->n || nb == i || x->levels[nb] < l)
          return CORRUPT("node %u level %d: bad link %u", i, l, nb);
      }
    }
  }
  if (deleted != x->n_deleted)
    return CORRUPT("%llu deleted flags, header says %llu", (unsigned long long)deleted,
                   (unsigned long long)x->n_deleted);
  if (x->n > 0 && x->levels[x->entry] != x->max_level)
    return CORRUPT("entry point %u is not on the top level", x->entry);
  return HDB_OK;
}

static hdb_status open_view(const unsigned char *b, size_t len, int owned, hdb__hnsw **out,
                            hdb_error *err)
{
  if (!hdb__vec_host_le())
    return hdb__fail(err, HDB_NOT_SUPPORTED, "hnsw open: big-endian hosts are not supported");
  if (len < HDR_SIZE)
    return CORRUPT("%zu bytes, shorter than the header", len);
  if (memcmp(b, MAGIC, 8) != 0)
    return CORRUPT("bad magic");
  uint32_t version = hdb__vec_get32(b + 8);
  if (version > FORMAT_VERSION)
    return hdb__fail(err, HDB_NOT_SUPPORTED, "hnsw file: format version %u is newer than %u",
                     version, FORMAT_VERSION);
  if (version == 0 || hdb__vec_get32(b + 12) != HDR_SIZE)
    return CORRUPT("bad version or header size");
  if (hdb__vec_get64(b + OFF_HDR_SUM) != XXH3_64bits(b, OFF_HDR_SUM))
    return CORRUPT("header checksum mismatch");
  for (size_t i = OFF_HDR_SUM + 8; i < HDR_SIZE; i++)
    if (b[i] != 0)
      return CORRUPT("reserved header byte %zu is not zero", i);
  if (hdb__vec_get64(b + 136) != len)
    return CORRUPT("file is %zu bytes, header says %llu", len,
                   (unsigned long long)hdb__vec_get64(b + 136));
  if (hdb__vec_get64(b + OFF_BODY_SUM) != XXH3_64bits(b + HDR_SIZE, len - HDR_SIZE))
    return CORRUPT("body checksum mismatch");

  uint32_t dim = hdb__vec_get32(b + 16), metric = hdb__vec_get32(b + 20), m = hdb__vec_get32(b + 24), m0 = hdb__vec_get32(b + 28);
  uint32_t efc = hdb__vec_get32(b + 32), efs = hdb__vec_get32(b + 36), entry = hdb__vec_get32(b + 48);
  uint64_t n = hdb__vec_get64(b + 40), n_deleted = hdb__vec_get64(b + 64), upper_len = hdb__vec_get64(b + 72);
  int32_t max_level = (int32_t)hdb__vec_get32(b + 52);
  if (dim == 0 || dim > HDB_MAX_VECTOR_DIM)
    return CORRUPT("dimension %u", dim);
  if (metric != HDB_METRIC_L2 && metric != HDB_METRIC_COSINE && metric != HDB_METRIC_DOT)
    return CORRUPT("metric %u", metric);
  if (m < 2 || m > HDB__HNSW_MAX_M || m0 != 2 * m)
    return CORRUPT("m %u, m0 %u", m, m0);
  if (efc == 0 || efc > 100000 || efs == 0 || efs > 100000)
    return CORRUPT("ef_construction %u, ef_search %u", efc, efs);
  if (n > HDB__HNSW_MAX_NODES || n_deleted > n || upper_len >= HDB__HNSW_NONE)
    return CORRUPT("counts out of range");
  if (max_level < -1 || max_level > HDB__HNSW_MAX_LEVEL || (n == 0) != (max_level == -1) ||
      (n > 0 && entry >= n))
    return CORRUPT("entry point %u, top level %d for %llu nodes", entry, max_level,
                   (unsigned long long)n);
  layout L;
  compute_layout(n, dim, m0, upper_len, &L);
  for (int i = 0; i < N_SECTIONS; i++)
    if (hdb__vec_get64(b + 80 + 8 * i) != L.off[i])
      return CORRUPT("section %d at %llu, expected %llu", i,
                     (unsigned long long)hdb__vec_get64(b + 80 + 8 * i), (unsigned long long)L.off[i]);
  if (L.file_size != len)
    return CORRUPT("sections end at %llu, file is %zu bytes", (unsigned long long)L.file_size,
                   len);

  hdb__hnsw *x = hdb__calloc(1, sizeof *x);
  if (x == NULL)
    return hdb__fail(err, HDB_NOMEM, "hnsw open: out of memory");
  x->dim = dim;
  x->metric = (hdb_metric)metric;
  x->m = m;
  x->m0 = m0;
  x->efc = efc;
  x->efs = efs;
  x->seed = hdb__vec_get64(b + 56);
  x->n = (uint32_t)n;
  x->cap = (uint32_t)n;
  x->entry = entry;
  x->max_level = max_level;
  x->n_deleted = n_deleted;
  x->upper_len = upper_len;
  x->upper_cap = upper_len;
  /* casts drop const: a read-only index never writes through them */
  x->vecs = (float *)(uintptr_t)(b + L.off[0]);
  x->ids = (uint64_t *)(uintptr_t)(b + L.off[1]);
  x->levels = (uint8_t *)(uintptr_t)(b + L.off[2]);
  x->deleted = (uint8_t *)(uintptr_t)(b + L.off[3]);
  x->upper_off = (uint32_t *)(uintptr_t)(b + L.off[4]);
  x->links0 = (uint32_t *)(uintptr_t)(b + L.off[5]);
  x->upper = (uint32_t *)(uintptr_t)(b + L.off[6]);
  x->read_only = 1;
  x->map = (void *)(uintptr_t)b;
  x->map_len = len;
  hdb__hnsw_derive(x);
  hdb_status st = check_graph(x, err);
  if (st != HDB_OK) {
    hdb__free_mem(x); /* the caller still owns the mapping */
    return st;
  }
  x->map_owned = owned;
  *out = x;
  return HDB_OK;
}

hdb_status hdb__hnsw_open_mem(const void *buf, size_t len, hdb__hnsw **out, hdb_error *err)
{
  if (out == NULL || (buf == NULL && len > 0))
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "hnsw open: missing argument");
  *out = NULL;
  if (((uintptr_t)buf & 63) != 0)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "hnsw open: buffer is not 64-byte aligned");
  return open_view(buf, len, 0, out, err);
}

void hdb__hnsw_unmap(void *map, size_t len)
{
  if (map != NULL && len > 0)
    munmap(map, len);
}

hdb_status hdb__hnsw_open(const char *path, hdb__hnsw **out, hdb_error *err)
{
  if (path == NULL || out == NULL)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "hnsw open: missing argument");
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return hdb__fail(err, HDB_IO, "hnsw open: '%s': %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    int e = errno;
    close(fd);
    return hdb__fail(err, HDB_IO, "hnsw open: '%s': %s", path, strerror(e));
  }
  size_t len = (size_t)sb.st_size;
  if (len < HDR_SIZE) {
    close(fd);
    return hdb__fail(err, HDB_CORRUPT, "hnsw file '%s': %zu bytes, shorter than the header",
                     path, len);
  }
  void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
  int e = errno;
  close(fd);
  if (map == MAP_FAILED)
    return hdb__fail(err, HDB_IO, "hnsw open: mmap '%s': %s", path, strerror(e));
  hdb_status st = open_view(map, len, 1, out, err);
  if (st != HDB_OK) {
    munmap(map, len);
    hdb__err_prefix(err, "%s", path);
  }
  return st;
}

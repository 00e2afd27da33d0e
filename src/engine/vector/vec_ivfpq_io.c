/*
 * vec_ivfpq_io.c - the IVF-PQ file format: save (atomic: temp file, fsync,
 * rename, fsync of the directory) and open (map, validate, copy the lists
 * into memory, unmap).
 *
 * Layout (format version 1, little-endian, README.md has the table): a
 * 256-byte header, then six sections, each starting on a 64-byte
 * boundary: centroids (nlist x dim f32), codebooks (m x 256 x dsub f32),
 * list offsets ((nlist + 1) x u64, entries of list l are
 * [off[l], off[l+1])), ids (n x u64), codes (n x m bytes), deleted flags
 * (n x u8). Full vectors are not stored. Open recomputes the canonical
 * layout from (nlist, dim, m, n) and refuses any other offsets. Two XXH3-64
 * checksums: the body (every byte after the header, padding included) and
 * the header's first 152 bytes (which hold the body checksum); header bytes
 * 160..255 must be zero.
 *
 * A checksum catches accidents, not malice, so every count, offset, flag
 * and float is validated against the file length before anything is
 * allocated or copied: a file that opens is safe to search.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "core/alloc.h"
#include "core/err.h"
#include "vec_ivfpq_int.h"

#define HDR_SIZE 256u
#define FORMAT_VERSION 1u
#define OFF_SECTIONS 72u
#define OFF_FILE_SIZE 120u
#define OFF_BODY_SUM 144u
#define OFF_HDR_SUM 152u
#define N_SECTIONS 6
static const char MAGIC[8] = {'H', 'D', 'B', 'I', 'V', 'F', 'P', 'Q'};

typedef struct layout {
  uint64_t off[N_SECTIONS], len[N_SECTIONS];
  uint64_t file_size;
} layout;

/* nlist <= 2^16, dim <= 2^16, n <= 2^40: no product overflows 64 bits. */
static void compute_layout(uint32_t nlist, uint32_t dim, uint32_t m, uint64_t n, layout *L)
{
  L->len[0] = (uint64_t)nlist * dim * sizeof(float);
  L->len[1] = (uint64_t)HDB__IVFPQ_KSUB * dim * sizeof(float);
  L->len[2] = ((uint64_t)nlist + 1) * sizeof(uint64_t);
  L->len[3] = n * sizeof(uint64_t);
  L->len[4] = n * m;
  L->len[5] = n;
  uint64_t pos = HDR_SIZE;
  for (int i = 0; i < N_SECTIONS; i++) {
    pos = (pos + 63) & ~(uint64_t)63;
    L->off[i] = pos;
    pos += L->len[i];
  }
  L->file_size = pos;
}

void hdb__ivfpq_file_seal(void *buf, size_t len)
{
  unsigned char *h = buf;
  if (buf == NULL || len < HDR_SIZE)
    return;
  hdb__vec_put64(h + OFF_BODY_SUM, XXH3_64bits(h + HDR_SIZE, len - HDR_SIZE));
  hdb__vec_put64(h + OFF_HDR_SUM, XXH3_64bits(h, OFF_HDR_SUM));
}

static int write_all(int fd, const void *p, size_t n, XXH3_state_t *state)
{
  const unsigned char *c = p;
  if (n > 0)
    XXH3_64bits_update(state, p, n);
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

static int write_pad(int fd, uint64_t *pos, uint64_t to, XXH3_state_t *state)
{
  static const unsigned char zeros[64] = {0};
  size_t pad = (size_t)(to - *pos);
  *pos = to;
  return pad > 0 ? write_all(fd, zeros, pad, state) : 0;
}

hdb_status hdb__ivfpq_save(const hdb__ivfpq *idx, const char *path, hdb_error *err)
{
  if (idx == NULL || path == NULL)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "ivfpq save: missing argument");
  if (!idx->trained)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "ivfpq save: index is not trained");
  if (!hdb__vec_host_le())
    return hdb__fail(err, HDB_NOT_SUPPORTED, "ivfpq save: big-endian hosts are not supported");
  layout L;
  compute_layout(idx->nlist, idx->dim, idx->m, idx->n_total, &L);
  size_t plen = strlen(path);
  char *tmp = hdb__malloc(plen + 5);
  uint64_t *offs = hdb__malloc(((size_t)idx->nlist + 1) * sizeof *offs);
  hdb_status st = HDB_OK;
  int fd = -1;
  if (tmp == NULL || offs == NULL) {
    st = hdb__fail(err, HDB_NOMEM, "ivfpq save: out of memory");
    goto cleanup;
  }
  memcpy(tmp, path, plen);
  memcpy(tmp + plen, ".tmp", 5);
  offs[0] = 0;
  for (uint32_t l = 0; l < idx->nlist; l++)
    offs[l + 1] = offs[l] + idx->lists[l].n;
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    st = hdb__fail(err, HDB_IO, "ivfpq save: cannot create '%s': %s", tmp, strerror(errno));
    goto cleanup;
  }
  unsigned char h[HDR_SIZE];
  memset(h, 0, HDR_SIZE);
  memcpy(h, MAGIC, 8);
  hdb__vec_put32(h + 8, FORMAT_VERSION);
  hdb__vec_put32(h + 12, HDR_SIZE);
  hdb__vec_put32(h + 16, idx->dim);
  hdb__vec_put32(h + 20, (uint32_t)idx->metric);
  hdb__vec_put32(h + 24, idx->nlist);
  hdb__vec_put32(h + 28, idx->m);
  hdb__vec_put32(h + 32, HDB__IVFPQ_NBITS);
  hdb__vec_put32(h + 36, idx->nprobe);
  hdb__vec_put32(h + 40, idx->refine);
  hdb__vec_put32(h + 44, idx->train_sample);
  hdb__vec_put64(h + 48, idx->seed);
  hdb__vec_put64(h + 56, idx->n_total);
  hdb__vec_put64(h + 64, idx->n_deleted);
  for (int i = 0; i < N_SECTIONS; i++)
    hdb__vec_put64(h + OFF_SECTIONS + 8 * i, L.off[i]);
  hdb__vec_put64(h + OFF_FILE_SIZE, L.file_size);
  XXH3_state_t state, hdr_state;
  XXH3_64bits_reset(&state);
  XXH3_64bits_reset(&hdr_state);
  uint64_t pos = HDR_SIZE;
  if (write_all(fd, h, HDR_SIZE, &hdr_state) != 0)
    goto io_error;
  if (write_pad(fd, &pos, L.off[0], &state) || write_all(fd, idx->cent, L.len[0], &state))
    goto io_error;
  pos += L.len[0];
  if (write_pad(fd, &pos, L.off[1], &state) || write_all(fd, idx->pq, L.len[1], &state))
    goto io_error;
  pos += L.len[1];
  if (write_pad(fd, &pos, L.off[2], &state) || write_all(fd, offs, L.len[2], &state))
    goto io_error;
  pos += L.len[2];
  if (write_pad(fd, &pos, L.off[3], &state))
    goto io_error;
  for (uint32_t l = 0; l < idx->nlist; l++)
    if (write_all(fd, idx->lists[l].ids, (size_t)idx->lists[l].n * sizeof(uint64_t), &state))
      goto io_error;
  pos += L.len[3];
  if (write_pad(fd, &pos, L.off[4], &state))
    goto io_error;
  for (uint32_t l = 0; l < idx->nlist; l++)
    if (write_all(fd, idx->lists[l].codes, (size_t)idx->lists[l].n * idx->m, &state))
      goto io_error;
  pos += L.len[4];
  if (write_pad(fd, &pos, L.off[5], &state))
    goto io_error;
  for (uint32_t l = 0; l < idx->nlist; l++)
    if (write_all(fd, idx->lists[l].deleted, idx->lists[l].n, &state))
      goto io_error;
  hdb__vec_put64(h + OFF_BODY_SUM, XXH3_64bits_digest(&state));
  hdb__vec_put64(h + OFF_HDR_SUM, XXH3_64bits(h, OFF_HDR_SUM));
  st = hdb__vec_file_publish(fd, h, HDR_SIZE, tmp, path, "ivfpq save", err);
  goto cleanup;

io_error:
  st = hdb__fail(err, HDB_IO, "ivfpq save: writing '%s': %s", tmp, strerror(errno));
  if (fd >= 0)
    close(fd);
  unlink(tmp);
cleanup:
  hdb__free_mem(tmp);
  hdb__free_mem(offs);
  return st;
}

#define CORRUPT(...) hdb__fail(err, HDB_CORRUPT, "ivfpq file: " __VA_ARGS__)

static int all_finite(const unsigned char *p, uint64_t count)
{
  for (uint64_t i = 0; i < count; i++) {
    float f;
    memcpy(&f, p + i * sizeof f, sizeof f);
    if (!isfinite(f))
      return 0;
  }
  return 1;
}

static hdb_status open_view(const unsigned char *b, size_t len, hdb__ivfpq **out, hdb_error *err)
{
  if (!hdb__vec_host_le())
    return hdb__fail(err, HDB_NOT_SUPPORTED, "ivfpq open: big-endian hosts are not supported");
  if (len < HDR_SIZE)
    return CORRUPT("%zu bytes, shorter than the header", len);
  if (memcmp(b, MAGIC, 8) != 0)
    return CORRUPT("bad magic");
  uint32_t version = hdb__vec_get32(b + 8);
  if (version > FORMAT_VERSION)
    return hdb__fail(err, HDB_NOT_SUPPORTED, "ivfpq file: format version %u is newer than %u",
                     version, FORMAT_VERSION);
  if (version == 0 || hdb__vec_get32(b + 12) != HDR_SIZE)
    return CORRUPT("bad version or header size");
  if (hdb__vec_get64(b + OFF_HDR_SUM) != XXH3_64bits(b, OFF_HDR_SUM))
    return CORRUPT("header checksum mismatch");
  for (size_t i = OFF_HDR_SUM + 8; i < HDR_SIZE; i++)
    if (b[i] != 0)
      return CORRUPT("reserved header byte %zu is not zero", i);
  if (hdb__vec_get64(b + OFF_FILE_SIZE) != len)
    return CORRUPT("file is %zu bytes, header says %llu", len,
                   (unsigned long long)hdb__vec_get64(b + OFF_FILE_SIZE));
  if (hdb__vec_get64(b + OFF_BODY_SUM) != XXH3_64bits(b + HDR_SIZE, len - HDR_SIZE))
    return CORRUPT("body checksum mismatch");

  uint32_t dim = hdb__vec_get32(b + 16), metric = hdb__vec_get32(b + 20), nlist = hdb__vec_get32(b + 24), m = hdb__vec_get32(b + 28);
  uint32_t nbits = hdb__vec_get32(b + 32), nprobe = hdb__vec_get32(b + 36), refine = hdb__vec_get32(b + 40);
  uint64_t n = hdb__vec_get64(b + 56), n_deleted = hdb__vec_get64(b + 64);
  if (dim == 0 || dim > HDB_MAX_VECTOR_DIM)
    return CORRUPT("dimension %u", dim);
  if (metric != HDB_METRIC_L2 && metric != HDB_METRIC_COSINE && metric != HDB_METRIC_DOT)
    return CORRUPT("metric %u", metric);
  if (m == 0 || m > dim || dim % m != 0 || nbits != HDB__IVFPQ_NBITS)
    return CORRUPT("m %u, nbits %u for dimension %u", m, nbits, dim);
  if (nlist == 0 || nlist > HDB__IVFPQ_MAX_NLIST || nprobe == 0 || refine == 0 ||
      refine > HDB__IVFPQ_MAX_REFINE)
    return CORRUPT("nlist %u, nprobe %u, refine %u", nlist, nprobe, refine);
  if (n > HDB__IVFPQ_MAX_ROWS || n_deleted > n)
    return CORRUPT("counts out of range");
  layout L;
  compute_layout(nlist, dim, m, n, &L);
  for (int i = 0; i < N_SECTIONS; i++)
    if (hdb__vec_get64(b + OFF_SECTIONS + 8 * i) != L.off[i])
      return CORRUPT("section %d at %llu, expected %llu", i,
                     (unsigned long long)hdb__vec_get64(b + OFF_SECTIONS + 8 * i),
                     (unsigned long long)L.off[i]);
  if (L.file_size != len)
    return CORRUPT("sections end at %llu, file is %zu bytes", (unsigned long long)L.file_size,
                   len);
  /* every section now lies inside the buffer */
  const unsigned char *offs = b + L.off[2], *del = b + L.off[5];
  if (hdb__vec_get64(offs) != 0 || hdb__vec_get64(offs + (size_t)nlist * 8) != n)
    return CORRUPT("list offsets do not span the %llu entries", (unsigned long long)n);
  for (uint32_t l = 0; l < nlist; l++) {
    uint64_t a = hdb__vec_get64(offs + (size_t)l * 8), z = hdb__vec_get64(offs + (size_t)(l + 1) * 8);
    if (z < a || z > n || z - a > UINT32_MAX)
      return CORRUPT("list %u spans [%llu, %llu)", l, (unsigned long long)a,
                     (unsigned long long)z);
  }
  uint64_t flagged = 0;
  for (uint64_t i = 0; i < n; i++) {
    if (del[i] > 1)
      return CORRUPT("entry %llu has deleted flag %u", (unsigned long long)i, del[i]);
    flagged += del[i];
  }
  if (flagged != n_deleted)
    return CORRUPT("%llu deleted flags, header says %llu", (unsigned long long)flagged,
                   (unsigned long long)n_deleted);
  if (!all_finite(b + L.off[0], L.len[0] / 4) || !all_finite(b + L.off[1], L.len[1] / 4))
    return CORRUPT("a centroid is not finite");

  hdb__ivfpq_params p = {.nlist = nlist, .m = m, .nprobe = nprobe, .refine = refine,
                         .train_sample = hdb__vec_get32(b + 44), .seed = hdb__vec_get64(b + 48)};
  hdb__ivfpq *x = NULL;
  hdb_status st = hdb__ivfpq_new(dim, (hdb_metric)metric, &p, &x, err);
  if (st != HDB_OK)
    return st == HDB_NOMEM ? st : CORRUPT("parameters refused");
  x->cent = hdb__malloc((size_t)L.len[0]);
  x->pq = hdb__malloc((size_t)L.len[1]);
  x->lists = hdb__calloc(nlist, sizeof *x->lists);
  x->nlist = nlist;
  if (x->cent == NULL || x->pq == NULL || x->lists == NULL)
    goto nomem;
  memcpy(x->cent, b + L.off[0], (size_t)L.len[0]);
  memcpy(x->pq, b + L.off[1], (size_t)L.len[1]);
  if (hdb__ivfpq_derive(x) != 0)
    goto nomem;
  for (uint32_t l = 0; l < nlist; l++) {
    uint64_t a = hdb__vec_get64(offs + (size_t)l * 8), z = hdb__vec_get64(offs + (size_t)(l + 1) * 8);
    hdb__ivf_list *li = &x->lists[l];
    if (z == a)
      continue;
    size_t cnt = (size_t)(z - a);
    li->codes = hdb__malloc(cnt * m);
    li->ids = hdb__malloc(cnt * sizeof *li->ids);
    li->deleted = hdb__malloc(cnt);
    if (li->codes == NULL || li->ids == NULL || li->deleted == NULL)
      goto nomem;
    memcpy(li->codes, b + L.off[4] + a * m, cnt * m);
    memcpy(li->ids, b + L.off[3] + a * 8, cnt * 8);
    memcpy(li->deleted, del + a, cnt);
    li->n = li->cap = (uint32_t)cnt;
  }
  x->n_total = n;
  x->n_deleted = n_deleted;
  x->trained = 1;
  *out = x;
  return HDB_OK;
nomem:
  hdb__ivfpq_free(x);
  return hdb__fail(err, HDB_NOMEM, "ivfpq open: out of memory");
}

hdb_status hdb__ivfpq_open_mem(const void *buf, size_t len, hdb__ivfpq **out, hdb_error *err)
{
  if (out == NULL || (buf == NULL && len > 0))
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "ivfpq open: missing argument");
  *out = NULL;
  return open_view(buf, len, out, err);
}

hdb_status hdb__ivfpq_open(const char *path, hdb__ivfpq **out, hdb_error *err)
{
  if (path == NULL || out == NULL)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "ivfpq open: missing argument");
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return hdb__fail(err, HDB_IO, "ivfpq open: '%s': %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    int e = errno;
    close(fd);
    return hdb__fail(err, HDB_IO, "ivfpq open: '%s': %s", path, strerror(e));
  }
  size_t len = (size_t)sb.st_size;
  if (len < HDR_SIZE) {
    close(fd);
    return hdb__fail(err, HDB_CORRUPT, "ivfpq file '%s': %zu bytes, shorter than the header",
                     path, len);
  }
  void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
  int e = errno;
  close(fd);
  if (map == MAP_FAILED)
    return hdb__fail(err, HDB_IO, "ivfpq open: mmap '%s': %s", path, strerror(e));
  hdb_status st = open_view(map, len, out, err);
  munmap(map, len);
  if (st != HDB_OK)
    hdb__err_prefix(err, "%s", path);
  return st;
}

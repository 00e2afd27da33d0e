/*
 * vec_ivfpq.h - IVF-PQ index over float32 vectors (Jegou, Douze, Schmid,
 * "Product quantization for nearest neighbor search"): an inverted file of
 * nlist coarse k-means lists, each vector stored as its list number plus an
 * m-byte product-quantized code of its residual (vector - list centroid).
 *
 * Split by lifecycle: vec_ivfpq_train.c (k-means++, Lloyd iterations with
 * threaded assignment, residual PQ codebooks, add = assign + encode,
 * delete), vec_ivfpq_search.c (probe, ADC table scan, widening, refine),
 * vec_ivfpq_io.c (the versioned file format). Layout and invariants are in
 * README.md in this folder (section "IVF-PQ").
 *
 * The full vectors are NOT kept: an index holds centroids, codebooks, and
 * per list the codes, ids and deleted flags (about m + 9 bytes a row),
 * plus tables derived from the codebooks (vec_ivfpq_int.h).
 * Exact re-ranking reads the vectors through the caller's accessor
 * (hdb__ivfpq_source), so tables larger than memory work.
 *
 * Threads: searches may run concurrently with each other (a search
 * allocates its own scratch). Train, add and delete need the caller to
 * exclude searches and other writes (the engine has one writer). An index
 * opened from a file is an ordinary writable heap index (the lists are read
 * into memory).
 *
 * Ids are the caller's (row numbers); filters and results speak ids.
 */
#ifndef HDB_ENGINE_VECTOR_IVFPQ_H
#define HDB_ENGINE_VECTOR_IVFPQ_H

#include <stddef.h>
#include <stdint.h>

#include "hanzodb.h"
#include "vec_util.h"

typedef struct hdb__ivfpq hdb__ivfpq;

#define HDB__IVFPQ_NBITS 8u           /* bits per subquantizer code (256 centroids) */
#define HDB__IVFPQ_DEFAULT_NPROBE 16u
#define HDB__IVFPQ_DEFAULT_REFINE 10u /* re-rank refine * k candidates */
#define HDB__IVFPQ_DEFAULT_SEED 0x1f2e3d4cu
#define HDB__IVFPQ_MAX_NLIST 65536u
#define HDB__IVFPQ_MAX_REFINE 1000u
#define HDB__IVFPQ_MAX_ROWS ((uint64_t)1 << 40)

typedef struct hdb__ivfpq_params {
  uint32_t nlist;        /* coarse lists; 0: round(sqrt(n)) of the training set, >= 1 */
  uint32_t m;            /* subquantizers, must divide dim; 0: dim/4, dim/2 or dim */
  uint32_t nbits;        /* 0 or 8 (only 8 is supported) */
  uint32_t nprobe;       /* lists probed by default; 0: 16 (capped at nlist) */
  uint32_t refine;       /* default refine factor; 0: 10 */
  uint32_t train_sample; /* rows k-means sees; 0: min(n, max(64 * nlist, 32768), 262144) */
  uint64_t seed;         /* sample and k-means++ draws; 0: HDB__IVFPQ_DEFAULT_SEED */
} hdb__ivfpq_params;

/* Where refine reads the full vector of row `id`: either base (row id at
 * base + id * stride floats, stride 0 meaning dim; ids must then be row
 * numbers of that block, which n_rows checks when set) or fetch, which returns
 * a pointer to the dim floats of row id (its own storage, or buf, which
 * has room for dim floats and which it may fill), valid until the next
 * call, or NULL when the row cannot be read (the search then answers
 * HDB_IO). fetch is called from the searching thread only. */
typedef const float *(*hdb__ivfpq_fetch_fn)(void *ctx, uint64_t id, float *buf);

typedef struct hdb__ivfpq_source {
  const float *base;
  size_t stride;
  uint64_t n_rows; /* with base: rows it holds (an id >= n_rows answers HDB_IO); 0: unchecked */
  hdb__ivfpq_fetch_fn fetch;
  void *ctx;
} hdb__ivfpq_source;

/* A new untrained index; p NULL means defaults. Errors:
 * HDB_INVALID_ARGUMENT (dim 0 or > HDB_MAX_VECTOR_DIM, m not dividing dim,
 * nbits other than 8, nlist or refine out of range, metric not
 * L2/COSINE/DOT/DEFAULT), HDB_NOMEM. The caller owns *out
 * (hdb__ivfpq_free). */
hdb_status hdb__ivfpq_new(uint32_t dim, hdb_metric metric, const hdb__ivfpq_params *p,
                          hdb__ivfpq **out, hdb_error *err);
/* Frees the index; NULL is a no-op. */
void hdb__ivfpq_free(hdb__ivfpq *idx);

/*
 * Trains the coarse centroids and the PQ codebooks on a deterministic
 * sample of the n rows at vecs (row i at vecs + i * dim); adds nothing.
 * The same rows, parameters and seed give the same index whatever the
 * thread count. threads 0: every CPU. Errors: HDB_INVALID_ARGUMENT (n = 0,
 * already trained), HDB_NOMEM (the index stays untrained).
 */
hdb_status hdb__ivfpq_train(hdb__ivfpq *idx, const float *vecs, size_t n, uint32_t threads,
                            hdb_error *err);
/*
 * Assigns and encodes n rows (id ids[i] or first_id + i) and appends them
 * to their lists. Ids should be unique (a duplicate is stored twice).
 * Errors: HDB_INVALID_ARGUMENT (not trained), HDB_TOO_BIG, HDB_NOMEM; on
 * error nothing was added.
 */
hdb_status hdb__ivfpq_add(hdb__ivfpq *idx, const float *vecs, const uint64_t *ids,
                          uint64_t first_id, size_t n, uint32_t threads, hdb_error *err);
/* Train on the rows, then add them. */
hdb_status hdb__ivfpq_build(hdb__ivfpq *idx, const float *vecs, const uint64_t *ids,
                            uint64_t first_id, size_t n, uint32_t threads, hdb_error *err);
/* Marks the rows with these ids deleted: their codes stay, they are never
 * returned. *n_marked (may be NULL) counts entries newly marked. One pass
 * over every list per call. HDB_NOMEM. */
hdb_status hdb__ivfpq_delete(hdb__ivfpq *idx, const uint64_t *ids, size_t n, size_t *n_marked,
                             hdb_error *err);

/*
 * The k nearest live eligible rows, sorted by (distance, id), into
 * out[0 .. *n_out). nprobe / refine 0 mean the index's defaults.
 * Probes the nprobe lists whose centroids are nearest, scores their codes
 * with ADC tables into a pool of refine * k candidates (filter and deleted
 * flags checked only for codes that would enter the pool), and keeps
 * probing further lists, nearest first, while the pool is not full; so
 * *n_out = min(k, live eligible rows) always. With a source the pool is
 * re-ranked with exact distances; when every list had to be probed and the
 * pool is not full, the pool is every live eligible row and the answer is
 * exact. Without a source (src NULL) distances are the ADC estimates
 * (cosine: half the squared distance of the unit vectors). Errors:
 * HDB_INVALID_ARGUMENT (k = 0, NULL pointers, refine too large),
 * HDB_NOMEM, HDB_IO (the source could not read a row).
 */
hdb_status hdb__ivfpq_search(const hdb__ivfpq *idx, const float *query, uint32_t k,
                             uint32_t nprobe, uint32_t refine, const hdb__vec_filter *filter,
                             const hdb__ivfpq_source *src, hdb__vec_hit *out, uint32_t *n_out,
                             hdb_error *err);

/* Writes the index to `path` atomically (path.tmp, fsync, rename, fsync of
 * the directory). HDB_INVALID_ARGUMENT (not trained), HDB_IO with the errno
 * text, HDB_NOMEM. */
hdb_status hdb__ivfpq_save(const hdb__ivfpq *idx, const char *path, hdb_error *err);
/* Reads `path` (mapped, validated, copied into memory, unmapped). HDB_IO,
 * HDB_CORRUPT, HDB_NOT_SUPPORTED (a newer format version), HDB_NOMEM. */
hdb_status hdb__ivfpq_open(const char *path, hdb__ivfpq **out, hdb_error *err);
/* Same over a caller's buffer (any alignment); the index copies what it
 * keeps. */
hdb_status hdb__ivfpq_open_mem(const void *buf, size_t len, hdb__ivfpq **out, hdb_error *err);
/* Recomputes the two checksums of a file image in place (tests and the
 * fuzzer use it to reach the structural checks); ignores short buffers. */
void hdb__ivfpq_file_seal(void *buf, size_t len);

size_t hdb__ivfpq_count(const hdb__ivfpq *idx);   /* entries, deleted included */
size_t hdb__ivfpq_deleted(const hdb__ivfpq *idx); /* entries marked deleted */
uint32_t hdb__ivfpq_dim(const hdb__ivfpq *idx);
hdb_metric hdb__ivfpq_metric(const hdb__ivfpq *idx);
int hdb__ivfpq_trained(const hdb__ivfpq *idx);
/* Parameters with defaults resolved (nlist once trained). */
hdb__ivfpq_params hdb__ivfpq_get_params(const hdb__ivfpq *idx);
/* Bytes held: centroids, codebooks (and their derived tables), codes, ids
 * and flags. */
size_t hdb__ivfpq_memory(const hdb__ivfpq *idx);

#endif

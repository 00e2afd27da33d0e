/*
 * vec_hnsw.h - HNSW graph index over float32 vectors (Malkov & Yashunin,
 * "Efficient and robust approximate nearest neighbor search using
 * Hierarchical Navigable Small World graphs").
 *
 * Split by lifecycle like pgvector: vec_hnsw_build.c (create, insert,
 * parallel build, delete, rebuild), vec_hnsw_search.c (greedy descent,
 * beam search, filtered search, exact fallback, the per-query plan),
 * vec_hnsw_io.c (the versioned file format, memory-mapped open).
 * The on-disk layout and the invariants are in README.md in this folder.
 *
 * Threads: searches may run concurrently with each other, each with its own
 * hdb__hnsw_ctx. Writes (insert, add, delete) need the caller to exclude
 * searches and other writes on the same index (the engine has one writer);
 * hdb__hnsw_add itself runs its inserts on several threads, with per-node
 * locks. An index opened from a file is read-only: searches run straight
 * over the mapping; writes answer HDB_READ_ONLY (rebuild makes a writable
 * copy).
 *
 * Ids are the caller's (row numbers). Filters and results speak ids; node
 * numbers never leave the module.
 */
#ifndef HDB_ENGINE_VECTOR_HNSW_H
#define HDB_ENGINE_VECTOR_HNSW_H

#include <stddef.h>
#include <stdint.h>

#include "hanzodb.h"
#include "vec_util.h"

typedef struct hdb__hnsw hdb__hnsw;
typedef struct hdb__hnsw_ctx hdb__hnsw_ctx;

#define HDB__HNSW_DEFAULT_M 16u
#define HDB__HNSW_DEFAULT_EF_CONSTRUCTION 200u
#define HDB__HNSW_DEFAULT_EF_SEARCH 64u
#define HDB__HNSW_DEFAULT_SEED 0x5eed5eedu
#define HDB__HNSW_MAX_M 128u
#define HDB__HNSW_MAX_LEVEL 15
#define HDB__HNSW_MAX_NODES 0xFFFFFFF0u

typedef struct hdb__hnsw_params {
  uint32_t m;               /* links per node on levels >= 1 (level 0: 2m); 0: 16 */
  uint32_t ef_construction; /* beam width while inserting; 0: 200 */
  uint32_t ef_search;       /* default beam width of a search; 0: 64 */
  uint64_t seed;            /* level draws; 0: HDB__HNSW_DEFAULT_SEED */
} hdb__hnsw_params;

/* A new empty index; p NULL means defaults. Cosine indexes store unit
 * vectors (a zero vector stays zero and is at distance 1 from everything).
 * Errors: HDB_INVALID_ARGUMENT (dim 0 or > HDB_MAX_VECTOR_DIM, m < 2 or
 * > 128), HDB_NOMEM. The caller owns *out (hdb__hnsw_free). */
hdb_status hdb__hnsw_new(uint32_t dim, hdb_metric metric, const hdb__hnsw_params *p,
                         hdb__hnsw **out, hdb_error *err);
/* Frees the index (unmaps a file-backed one); NULL is a no-op. */
void hdb__hnsw_free(hdb__hnsw *idx);

/* Room for `cap` nodes without growing. HDB_NOMEM, HDB_TOO_BIG, HDB_READ_ONLY. */
hdb_status hdb__hnsw_reserve(hdb__hnsw *idx, size_t cap, hdb_error *err);
/* Inserts one vector (copied) under `id` on the caller's thread. */
hdb_status hdb__hnsw_insert(hdb__hnsw *idx, const float *vec, uint64_t id, hdb_error *err);
/*
 * Inserts n vectors (row i at vecs + i * dim, id ids[i] or first_id + i) on
 * `threads` threads (0: every CPU). The graph differs from a sequential
 * build (insert order interleaves) but meets the same invariants.
 * HDB_NOMEM, HDB_TOO_BIG, HDB_READ_ONLY; on error the nodes inserted so
 * far stay.
 */
hdb_status hdb__hnsw_add(hdb__hnsw *idx, const float *vecs, const uint64_t *ids, uint64_t first_id,
                         size_t n, uint32_t threads, hdb_error *err);
/* Marks the nodes with these ids deleted: they stay in the graph as
 * waypoints but are never returned. *n_marked (may be NULL) counts nodes
 * newly marked. HDB_NOMEM, HDB_READ_ONLY. */
hdb_status hdb__hnsw_delete(hdb__hnsw *idx, const uint64_t *ids, size_t n, size_t *n_marked,
                            hdb_error *err);
/* A writable copy of idx (usually a read-only mapped file) with room for
 * `extra` more nodes, graph as it is: nothing is re-inserted, deleted nodes
 * stay marked. The cheap way to update a file-backed index incrementally.
 * The caller owns *out (hdb__hnsw_free). HDB_NOMEM. */
hdb_status hdb__hnsw_thaw(const hdb__hnsw *idx, size_t extra, hdb__hnsw **out, hdb_error *err);
/* A new writable index of the live nodes only (same parameters): the
 * repair step after deletes, and the way to modify a file-backed index. */
hdb_status hdb__hnsw_rebuild(const hdb__hnsw *idx, uint32_t threads, hdb__hnsw **out,
                             hdb_error *err);

/* Per-thread search state (visited tags, heaps); reused across queries so
 * a search allocates nothing after the first few. Owned by the caller. */
hdb_status hdb__hnsw_ctx_new(const hdb__hnsw *idx, hdb__hnsw_ctx **out, hdb_error *err);
void hdb__hnsw_ctx_free(hdb__hnsw_ctx *ctx);

/*
 * Graph search: the k nearest live eligible nodes, sorted by (distance, id),
 * into out[0 .. *n_out). ef 0 means the index's ef_search; it is raised to
 * k. With a filter the graph is traversed through every node but only
 * eligible ones enter the results, and the beam keeps widening until it
 * holds ef eligible nodes or the reachable graph is exhausted; if fewer
 * than k were found, an exact scan over the eligible nodes answers, so
 * *n_out = min(k, live eligible nodes) always. Errors:
 * HDB_INVALID_ARGUMENT, HDB_NOMEM.
 */
hdb_status hdb__hnsw_search(const hdb__hnsw *idx, hdb__hnsw_ctx *ctx, const float *query,
                            uint32_t k, uint32_t ef, const hdb__vec_filter *filter,
                            hdb__vec_hit *out, uint32_t *n_out, hdb_error *err);
/* Exact scan of the live eligible nodes (the pre-filtered plan). */
hdb_status hdb__hnsw_search_exact(const hdb__hnsw *idx, hdb__hnsw_ctx *ctx, const float *query,
                                  uint32_t k, const hdb__vec_filter *filter, hdb__vec_hit *out,
                                  uint32_t *n_out, hdb_error *err);

typedef enum hdb__hnsw_plan {
  HDB__HNSW_PLAN_GRAPH = 0, /* filtered graph traversal */
  HDB__HNSW_PLAN_EXACT = 1  /* exact scan of the eligible rows */
} hdb__hnsw_plan;

/* Estimated fraction of live nodes the filter admits: 1 without a filter,
 * a popcount for a bare bitmap, a 1024-node sample with a callback. */
double hdb__hnsw_selectivity(const hdb__hnsw *idx, const hdb__vec_filter *filter);
/* The cheaper plan for this selectivity (cost model in README.md). */
hdb__hnsw_plan hdb__hnsw_choose_plan(const hdb__hnsw *idx, double selectivity, uint32_t k,
                                     uint32_t ef);
/* Estimates, chooses, runs; *plan (may be NULL) says which ran. */
hdb_status hdb__hnsw_search_auto(const hdb__hnsw *idx, hdb__hnsw_ctx *ctx, const float *query,
                                 uint32_t k, uint32_t ef, const hdb__vec_filter *filter,
                                 hdb__vec_hit *out, uint32_t *n_out, hdb__hnsw_plan *plan,
                                 hdb_error *err);

/*
 * Writes the index to `path` atomically (path.tmp, fsync, rename).
 * HDB_IO with the errno text, HDB_NOMEM.
 */
hdb_status hdb__hnsw_save(const hdb__hnsw *idx, const char *path, hdb_error *err);
/* Maps `path` read-only and validates it (checksums, then every offset,
 * count and link). HDB_IO, HDB_CORRUPT, HDB_NOT_SUPPORTED (a newer format
 * version), HDB_NOMEM. */
hdb_status hdb__hnsw_open(const char *path, hdb__hnsw **out, hdb_error *err);
/* Same over a caller's buffer, which must be 64-byte aligned and outlive
 * the index (the index borrows it). */
hdb_status hdb__hnsw_open_mem(const void *buf, size_t len, hdb__hnsw **out, hdb_error *err);
/* Recomputes the two checksums of a file image in place (tests and the
 * fuzzer use it to reach the structural checks); ignores short buffers. */
void hdb__hnsw_file_seal(void *buf, size_t len);

size_t hdb__hnsw_count(const hdb__hnsw *idx);   /* nodes, deleted included */
size_t hdb__hnsw_deleted(const hdb__hnsw *idx); /* nodes marked deleted */
uint32_t hdb__hnsw_dim(const hdb__hnsw *idx);
hdb_metric hdb__hnsw_metric(const hdb__hnsw *idx);
hdb__hnsw_params hdb__hnsw_get_params(const hdb__hnsw *idx);
int hdb__hnsw_read_only(const hdb__hnsw *idx);
/* Bytes of vectors, ids, flags and links held for the nodes. */
size_t hdb__hnsw_memory(const hdb__hnsw *idx);

#endif

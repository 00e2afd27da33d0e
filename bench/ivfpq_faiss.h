/*
 * ivfpq_faiss.h - C interface of the C++ shim (ivfpq_faiss.cpp) over
 * Faiss' IndexIVFPQ + IndexRefineFlat, for bench/ivfpq_bench.c. Built only
 * by bench/ivfpq.cmake when libfaiss-dev is present; without it the
 * benchmark is compiled with HDB_BENCH_NO_FAISS and shows hanzo-db alone.
 */
#ifndef HDB_BENCH_IVFPQ_FAISS_H
#define HDB_BENCH_IVFPQ_FAISS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fivf fivf;

/* L2 IndexIVFPQ (nlist, m, 8 bits) wrapped in IndexRefineFlat, trained
 * and filled with `threads` OpenMP threads. *code_bytes: the IVF-PQ part
 * (centroids, codebooks, precomputed tables, codes and ids; the refine
 * copy of the vectors is not counted, as hanzo-db reads them from the
 * table). NULL on error. */
fivf *fivf_build(const float *base, size_t n, uint32_t dim, uint32_t nlist, uint32_t m,
                 int threads, size_t *code_bytes);
/* nprobe and refine factor of the following searches (one thread). */
void fivf_set(fivf *f, uint32_t nprobe, uint32_t refine);
/* k nearest ids of one query, closest first. */
void fivf_search(fivf *f, const float *q, uint32_t k, uint64_t *ids);
void fivf_free(fivf *f);

#ifdef __cplusplus
}
#endif

#endif

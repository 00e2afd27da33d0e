/*
 * vector_peers.h - C interface of the C++ shim (vector_peers.cpp) over the
 * peers the vector benchmark compares against: hnswlib (header-only) and
 * Faiss (C++ API; its C symbols are absent from Debian's static library).
 * Every function answers "not available" when its peer was not built in.
 */
#ifndef HDB_BENCH_VECTOR_PEERS_H
#define HDB_BENCH_VECTOR_PEERS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { PEER_HNSWLIB = 0, PEER_FAISS_HNSW = 1, PEER_COUNT = 2 };

typedef struct peer_index peer_index;

/* "hnswlib" / "faiss-hnsw"; available: 1 when compiled in. */
const char *peer_name(int which);
int peer_available(int which);
/* L2 index built single-threaded with m and ef_construction; *bytes is the
 * index's own accounting of its vectors and links. NULL when unavailable. */
peer_index *peer_build(int which, const float *base, size_t n, uint32_t dim, uint32_t m,
                       uint32_t efc, size_t *bytes);
void peer_set_ef(peer_index *p, uint32_t ef);
/* k nearest ids of one query, closest first. */
void peer_search(peer_index *p, const float *q, uint32_t k, uint64_t *ids);
void peer_free(peer_index *p);
/* Faiss IndexFlatL2 over base, nq queries on one thread; seconds, or a
 * negative value when Faiss is not built in. ids: nq * k. */
double peer_faiss_flat(const float *base, size_t n, uint32_t dim, const float *queries, size_t nq,
                       uint32_t k, uint64_t *ids);

#ifdef __cplusplus
}
#endif

#endif

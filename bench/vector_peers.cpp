// vector_peers.cpp - the C++ shim over hnswlib and Faiss for
// bench/vector_bench.c (interface in vector_peers.h). Built only by
// bench/vector.cmake; HDB_BENCH_HNSWLIB / HDB_BENCH_FAISS say which peers
// were found. Both run on one thread (Faiss through omp_set_num_threads).
#include "vector_peers.h"

#include <cstring>
#include <vector>

#if HDB_BENCH_HNSWLIB
#include <hnswlib/hnswlib.h>
#endif
#if HDB_BENCH_FAISS
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <omp.h>
#endif

struct peer_index {
  int which;
  uint32_t dim;
#if HDB_BENCH_HNSWLIB
  hnswlib::L2Space *space = nullptr;
  hnswlib::HierarchicalNSW<float> *h = nullptr;
#endif
#if HDB_BENCH_FAISS
  faiss::IndexHNSWFlat *f = nullptr;
#endif
};

extern "C" const char *peer_name(int which)
{
  return which == PEER_HNSWLIB ? "hnswlib" : "faiss-hnsw";
}

extern "C" int peer_available(int which)
{
#if HDB_BENCH_HNSWLIB
  if (which == PEER_HNSWLIB)
    return 1;
#endif
#if HDB_BENCH_FAISS
  if (which == PEER_FAISS_HNSW)
    return 1;
#endif
  (void)which;
  return 0;
}

extern "C" peer_index *peer_build(int which, const float *base, size_t n, uint32_t dim, uint32_t m,
                                  uint32_t efc, size_t *bytes)
{
  (void)base; (void)n; (void)m; (void)efc;
  *bytes = 0;
#if HDB_BENCH_HNSWLIB
  if (which == PEER_HNSWLIB) {
    peer_index *p = new peer_index{which, dim};
    p->space = new hnswlib::L2Space(dim);
    p->h = new hnswlib::HierarchicalNSW<float>(p->space, n, m, efc, 100);
    for (size_t i = 0; i < n; i++)
      p->h->addPoint(base + i * dim, (hnswlib::labeltype)i);
    size_t upper = 0;
    for (size_t i = 0; i < n; i++)
      upper += (size_t)p->h->element_levels_[i] * p->h->size_links_per_element_;
    *bytes = n * p->h->size_data_per_element_ + upper;
    return p;
  }
#endif
#if HDB_BENCH_FAISS
  if (which == PEER_FAISS_HNSW) {
    omp_set_num_threads(1);
    peer_index *p = new peer_index{which, dim};
    p->f = new faiss::IndexHNSWFlat((int)dim, (int)m);
    p->f->hnsw.efConstruction = (int)efc;
    p->f->add((faiss::Index::idx_t)n, base);
    *bytes = n * dim * sizeof(float) + p->f->hnsw.neighbors.size() * sizeof(int32_t) +
             p->f->hnsw.levels.size() * sizeof(int) + p->f->hnsw.offsets.size() * sizeof(size_t);
    return p;
  }
#endif
  (void)which; (void)dim;
  return nullptr;
}

extern "C" void peer_set_ef(peer_index *p, uint32_t ef)
{
#if HDB_BENCH_HNSWLIB
  if (p->h)
    p->h->setEf(ef);
#endif
#if HDB_BENCH_FAISS
  if (p->f)
    p->f->hnsw.efSearch = (int)ef;
#endif
  (void)p; (void)ef;
}

extern "C" void peer_search(peer_index *p, const float *q, uint32_t k, uint64_t *ids)
{
#if HDB_BENCH_HNSWLIB
  if (p->h) {
    auto r = p->h->searchKnn(q, k);
    size_t n = r.size();
    std::memset(ids, 0xFF, k * sizeof *ids);
    for (size_t i = n; i-- > 0;) {
      ids[i] = r.top().second;
      r.pop();
    }
    return;
  }
#endif
#if HDB_BENCH_FAISS
  if (p->f) {
    std::vector<float> d(k);
    std::vector<faiss::Index::idx_t> l(k);
    p->f->search(1, q, k, d.data(), l.data());
    for (uint32_t i = 0; i < k; i++)
      ids[i] = (uint64_t)l[i];
    return;
  }
#endif
  (void)p; (void)q; (void)k; (void)ids;
}

extern "C" void peer_free(peer_index *p)
{
  if (!p)
    return;
#if HDB_BENCH_HNSWLIB
  delete p->h;
  delete p->space;
#endif
#if HDB_BENCH_FAISS
  delete p->f;
#endif
  delete p;
}

#include <chrono>

extern "C" double peer_faiss_flat(const float *base, size_t n, uint32_t dim, const float *queries,
                                  size_t nq, uint32_t k, uint64_t *ids)
{
#if HDB_BENCH_FAISS
  omp_set_num_threads(1);
  faiss::IndexFlatL2 flat((faiss::Index::idx_t)dim);
  flat.add((faiss::Index::idx_t)n, base);
  std::vector<float> d(k);
  std::vector<faiss::Index::idx_t> l(k);
  auto t0 = std::chrono::steady_clock::now();
  for (size_t q = 0; q < nq; q++) { // one query at a time, as a point lookup runs
    flat.search(1, queries + q * dim, k, d.data(), l.data());
    for (uint32_t i = 0; i < k; i++)
      ids[q * k + i] = (uint64_t)l[i];
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
#else
  (void)base; (void)n; (void)dim; (void)queries; (void)nq; (void)k; (void)ids;
  return -1.0;
#endif
}

// ivfpq_faiss.cpp - the C++ shim over Faiss IndexIVFPQ (+ IndexRefineFlat
// for the exact re-rank, as hanzo-db refines) for bench/ivfpq_bench.c
// (interface in ivfpq_faiss.h). Built only by bench/ivfpq.cmake when Faiss
// is found. Training and adding use the threads asked for; searches run on
// one thread (omp_set_num_threads(1)), like hanzo-db's.
#include "ivfpq_faiss.h"

#include <cstdint>
#include <vector>

#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexRefine.h>
#include <omp.h>

struct fivf {
  faiss::IndexFlatL2 *quantizer = nullptr;
  faiss::IndexIVFPQ *ivf = nullptr;
  faiss::IndexRefineFlat *refine = nullptr;
};

extern "C" fivf *fivf_build(const float *base, size_t n, uint32_t dim, uint32_t nlist, uint32_t m,
                            int threads, size_t *code_bytes)
{
  try {
    omp_set_num_threads(threads);
    fivf *f = new fivf;
    f->quantizer = new faiss::IndexFlatL2((int)dim);
    f->ivf = new faiss::IndexIVFPQ(f->quantizer, (int)dim, nlist, m, 8);
    f->ivf->train((faiss::Index::idx_t)n, base);
    f->refine = new faiss::IndexRefineFlat(f->ivf);
    f->refine->add((faiss::Index::idx_t)n, base);
    *code_bytes = (size_t)nlist * dim * sizeof(float) + (size_t)256 * dim * sizeof(float) +
                  n * ((size_t)m + sizeof(faiss::Index::idx_t)) +
                  f->ivf->precomputed_table.size() * sizeof(float);
    omp_set_num_threads(1);
    return f;
  } catch (...) {
    return nullptr;
  }
}

extern "C" void fivf_set(fivf *f, uint32_t nprobe, uint32_t refine)
{
  f->ivf->nprobe = nprobe;
  f->refine->k_factor = (float)refine;
}

extern "C" void fivf_search(fivf *f, const float *q, uint32_t k, uint64_t *ids)
{
  std::vector<float> d(k);
  std::vector<faiss::Index::idx_t> l(k);
  f->refine->search(1, q, k, d.data(), l.data());
  for (uint32_t i = 0; i < k; i++)
    ids[i] = (uint64_t)l[i];
}

extern "C" void fivf_free(fivf *f)
{
  if (f == nullptr)
    return;
  delete f->refine;
  delete f->ivf;
  delete f->quantizer;
  delete f;
}

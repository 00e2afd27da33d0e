/*
 * ivfpq_bench.c - IVF-PQ benchmark: hanzo-db's index (src/engine/vector/
 * vec_ivfpq.h) against Faiss IndexIVFPQ + IndexRefineFlat on the same
 * Gaussian mixture as bench/vector_bench.c (tests/vector/vec_testdata.h,
 * seeds 1/2/3), the same nlist, m, 8 bits and refine factor.
 *
 * Prints build time and index memory, then a sweep over nprobe (recall@10
 * against the exact scan, queries/s and p50/p99 latency, one query at a
 * time on one thread), and for recall targets 0.90 / 0.95 / 0.99 the
 * cheapest sweep point of each system reaching it and the q/s ratio
 * (hanzo-db / Faiss) at equal recall.
 *
 *   ivfpq_bench [--n 100000] [--dim 128] [--nq 1000] [--clusters 100]
 *               [--nlist 0 (sqrt n)] [--m 0 (dim/4)] [--refine 10]
 *               [--threads 2]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/vector/vec_flat.h"
#include "engine/vector/vec_ivfpq.h"
#include "vec_testdata.h"
#ifndef HDB_BENCH_NO_FAISS
#include "ivfpq_faiss.h"
#endif

enum { K = 10, MAX_POINTS = 16 };

typedef struct point {
  uint32_t nprobe;
  double recall, qps, p50, p99; /* latencies in microseconds */
} point;

static double now(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static size_t arg(int argc, char **argv, const char *name, size_t def)
{
  for (int i = 1; i + 1 < argc; i++)
    if (strcmp(argv[i], name) == 0)
      return (size_t)atol(argv[i + 1]);
  return def;
}

static int dbl_cmp(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double recall_of(const uint64_t *got, const hdb__vec_hit *truth, size_t nq)
{
  size_t hit = 0;
  for (size_t q = 0; q < nq; q++)
    for (int i = 0; i < K; i++)
      for (int j = 0; j < K; j++)
        if (got[q * K + i] == truth[q * K + j].id) {
          hit++;
          break;
        }
  return (double)hit / (double)(nq * K);
}

static void finish(point *p, double *lat, size_t nq, double total, const uint64_t *got,
                   const hdb__vec_hit *truth)
{
  qsort(lat, nq, sizeof *lat, dbl_cmp);
  p->recall = recall_of(got, truth, nq);
  p->qps = (double)nq / total;
  p->p50 = lat[nq / 2] * 1e6;
  p->p99 = lat[(nq * 99) / 100 < nq ? (nq * 99) / 100 : nq - 1] * 1e6;
}

/* The cheapest point (highest q/s) at or above the target recall. */
static const point *at_recall(const point *pts, size_t n, double target)
{
  const point *best = NULL;
  for (size_t i = 0; i < n; i++)
    if (pts[i].recall >= target && (best == NULL || pts[i].qps > best->qps))
      best = &pts[i];
  return best;
}

int main(int argc, char **argv)
{
  size_t n = arg(argc, argv, "--n", 100000), nq = arg(argc, argv, "--nq", 1000);
  uint32_t dim = (uint32_t)arg(argc, argv, "--dim", 128);
  uint32_t clusters = (uint32_t)arg(argc, argv, "--clusters", 100);
  uint32_t nlist = (uint32_t)arg(argc, argv, "--nlist", 0), m = (uint32_t)arg(argc, argv, "--m", 0);
  uint32_t refine = (uint32_t)arg(argc, argv, "--refine", HDB__IVFPQ_DEFAULT_REFINE);
  uint32_t threads = (uint32_t)arg(argc, argv, "--threads", 2);
  static const uint32_t probes[] = {1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128};
  size_t np = sizeof probes / sizeof *probes;

  float *base = malloc(n * dim * sizeof *base), *qs = malloc(nq * dim * sizeof *qs);
  hdb__vec_hit *truth = malloc(nq * K * sizeof *truth);
  uint32_t *n_out = malloc(nq * sizeof *n_out);
  uint64_t *got = malloc(nq * K * sizeof *got);
  double *lat = malloc(nq * sizeof *lat);
  if (!base || !qs || !truth || !n_out || !got || !lat) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  vt_mixture(base, n, dim, clusters, 0.5, 1, 2);
  vt_mixture(qs, nq, dim, clusters, 0.5, 1, 3);
  hdb__vec_flat f = {.base = base, .n = n, .dim = dim, .metric = HDB_METRIC_L2};
  if (hdb__vec_flat_search(&f, qs, nq, K, truth, n_out, NULL) != HDB_OK)
    return 1;

  hdb__ivfpq *idx;
  hdb_error err;
  hdb__ivfpq_params p = {.nlist = nlist, .m = m, .refine = refine};
  if (hdb__ivfpq_new(dim, HDB_METRIC_L2, &p, &idx, &err) != HDB_OK) {
    fprintf(stderr, "ivfpq: %s\n", err.message);
    return 1;
  }
  double t0 = now();
  if (hdb__ivfpq_build(idx, base, NULL, 0, n, threads, &err) != HDB_OK) {
    fprintf(stderr, "ivfpq build: %s\n", err.message);
    return 1;
  }
  double build = now() - t0;
  p = hdb__ivfpq_get_params(idx);
  printf("IVF-PQ: n %zu, dim %u, nq %zu, clusters %u, nlist %u, m %u x 8 bits, refine %u, "
         "build threads %u\n",
         n, dim, nq, clusters, p.nlist, p.m, p.refine, threads);
  printf("%-10s build %7.2f s   memory %8.1f MiB (codes, ids, tables; vectors not held)\n",
         "hanzo-db", build, (double)hdb__ivfpq_memory(idx) / 1048576.0);
  point ours[MAX_POINTS], theirs[MAX_POINTS];
  size_t n_theirs = 0;
  hdb__ivfpq_source src = {.base = base};
  for (size_t i = 0; i < np; i++) {
    ours[i].nprobe = probes[i];
    double start = now();
    for (size_t q = 0; q < nq; q++) {
      hdb__vec_hit out[K];
      uint32_t no;
      double a = now();
      if (hdb__ivfpq_search(idx, qs + q * dim, K, probes[i], 0, NULL, &src, out, &no, &err) !=
          HDB_OK)
        return 1;
      lat[q] = now() - a;
      for (uint32_t j = 0; j < K; j++)
        got[q * K + j] = j < no ? out[j].id : UINT64_MAX;
    }
    finish(&ours[i], lat, nq, now() - start, got, truth);
  }
#ifndef HDB_BENCH_NO_FAISS
  size_t fbytes = 0;
  t0 = now();
  fivf *fv = fivf_build(base, n, dim, p.nlist, p.m, (int)threads, &fbytes);
  double fbuild = now() - t0;
  if (fv != NULL) {
    printf("%-10s build %7.2f s   memory %8.1f MiB (codes, ids, tables; refine copy not "
           "counted)\n",
           "faiss", fbuild, (double)fbytes / 1048576.0);
    for (size_t i = 0; i < np; i++) {
      theirs[i].nprobe = probes[i];
      fivf_set(fv, probes[i], p.refine);
      double start = now();
      for (size_t q = 0; q < nq; q++) {
        double a = now();
        fivf_search(fv, qs + q * dim, K, got + q * K);
        lat[q] = now() - a;
      }
      finish(&theirs[i], lat, nq, now() - start, got, truth);
    }
    n_theirs = np;
    fivf_free(fv);
  }
#endif
  printf("\n%-10s %7s %9s %10s %9s %9s\n", "system", "nprobe", "recall", "q/s", "p50 us",
         "p99 us");
  for (size_t i = 0; i < np; i++)
    printf("%-10s %7u %9.4f %10.0f %9.1f %9.1f\n", "hanzo-db", ours[i].nprobe, ours[i].recall,
           ours[i].qps, ours[i].p50, ours[i].p99);
  for (size_t i = 0; i < n_theirs; i++)
    printf("%-10s %7u %9.4f %10.0f %9.1f %9.1f\n", "faiss", theirs[i].nprobe, theirs[i].recall,
           theirs[i].qps, theirs[i].p50, theirs[i].p99);
  printf("\n%-8s %-10s %7s %9s %10s %9s %9s %13s\n", "target", "system", "nprobe", "recall",
         "q/s", "p50 us", "p99 us", "ours/faiss");
  static const double targets[] = {0.90, 0.95, 0.99};
  for (size_t t = 0; t < 3; t++) {
    const point *a = at_recall(ours, np, targets[t]);
    const point *b = n_theirs ? at_recall(theirs, n_theirs, targets[t]) : NULL;
    if (a == NULL)
      printf("%-8.2f %-10s %7s\n", targets[t], "hanzo-db", "-");
    else if (b != NULL)
      printf("%-8.2f %-10s %7u %9.4f %10.0f %9.1f %9.1f %12.2fx\n", targets[t], "hanzo-db",
             a->nprobe, a->recall, a->qps, a->p50, a->p99, a->qps / b->qps);
    else
      printf("%-8.2f %-10s %7u %9.4f %10.0f %9.1f %9.1f %13s\n", targets[t], "hanzo-db", a->nprobe,
             a->recall, a->qps, a->p50, a->p99, "-");
    if (b != NULL)
      printf("%-8.2f %-10s %7u %9.4f %10.0f %9.1f %9.1f\n", targets[t], "faiss", b->nprobe,
             b->recall, b->qps, b->p50, b->p99);
  }
  hdb__ivfpq_free(idx);
  free(base);
  free(qs);
  free(truth);
  free(n_out);
  free(got);
  free(lat);
  return 0;
}

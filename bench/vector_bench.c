/*
 * vector_bench.c - the vector engine against its peers, in one run, on one
 * data set: a deterministic Gaussian mixture (tests/vector/vec_testdata.h),
 * exact ground truth from our flat scan, single-threaded queries.
 *
 *   1. HNSW build: time (single-threaded, plus ours on every core) and the
 *      bytes of vectors + links, ours vs hnswlib vs Faiss HNSWFlat with the
 *      same m and ef_construction.
 *   2. Search: ef swept per library, the libraries interleaved and each
 *      point the best of 3 rounds (the machine may be shared); for recall@10
 *      targets 0.90/0.95/0.99 the smallest ef that reaches it, with
 *      queries/s, p50 and p99.
 *   3. Flat scan of flat_n x flat_dim for one query vs the time to read the
 *      block once (u64 sum) and to copy it (memcpy), measured in the same
 *      run, and vs Faiss IndexFlatL2 on one thread.
 *
 * Usage: vector_bench [--n N] [--dim D] [--nq Q] [--m M] [--efc E]
 *          [--flat-n N] [--flat-dim D] [--clusters C] [--png FILE]
 *          [--ours-only 1] [--index FILE] [--rounds R]
 *          [--peers hnswlib,faiss] [--par 0]
 * --ours-only 1 skips the peers and our parallel build (profiling runs);
 * --index FILE opens our graph from FILE when it exists (build time then
 * reads 0) and saves it there otherwise, so two builds of the library can
 * be compared searching the very same graph; --flat-n 0 skips the scan;
 * --peers names the peers to run (default both; Faiss HNSWFlat builds about
 * 3x slower than hnswlib, which matters at 1M vectors); --par 0 skips our
 * extra build on every core.
 * Defaults are the full sizes (1M x 128 HNSW); pass smaller ones for a
 * quick run. Output is a plain-text table with ratios (ours / peer).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/vector/vec_flat.h"
#include "engine/vector/vec_hnsw.h"
#include "vec_testdata.h"
#ifndef HDB_BENCH_NO_PEERS
#include "vector_peers.h"
#else
enum { PEER_COUNT = 0 };
#endif

#define K 10
#define N_TARGETS 3
static const double targets[N_TARGETS] = {0.90, 0.95, 0.99};
static const uint32_t efs[] = {10, 12, 16, 20, 24, 32, 40, 48, 64, 80, 96, 128, 160, 192, 256, 384, 512, 768};
#define N_EFS (sizeof efs / sizeof efs[0])
#define MAX_LIBS 3

typedef struct point {
  uint32_t ef;
  double recall, qps, p50, p99; /* latencies in microseconds */
} point;

typedef struct lib_result {
  const char *name;
  int ok;
  double build_s, build_par_s;
  size_t bytes;
  point pts[N_EFS];
  size_t n_pts;
} lib_result;

static double now(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
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
    for (size_t i = 0; i < K; i++)
      for (size_t j = 0; j < K; j++)
        if (got[q * K + i] == truth[q * K + j].id) {
          hit++;
          break;
        }
  return (double)hit / (double)(nq * K);
}

static void finish_point(point *p, double *lat, size_t nq, double total, const uint64_t *got,
                         const hdb__vec_hit *truth)
{
  qsort(lat, nq, sizeof *lat, dbl_cmp);
  p->qps = (double)nq / total;
  p->p50 = lat[nq / 2] * 1e6;
  p->p99 = lat[(nq * 99) / 100 < nq ? (nq * 99) / 100 : nq - 1] * 1e6;
  p->recall = recall_of(got, truth, nq);
}

static size_t arg(int argc, char **argv, const char *name, size_t def)
{
  for (int i = 1; i + 1 < argc; i++)
    if (strcmp(argv[i], name) == 0)
      return (size_t)atol(argv[i + 1]);
  return def;
}

static const char *sarg(int argc, char **argv, const char *name)
{
  for (int i = 1; i + 1 < argc; i++)
    if (strcmp(argv[i], name) == 0)
      return argv[i + 1];
  return NULL;
}

static void bench_flat(size_t n, uint32_t dim, size_t nq, uint32_t clusters)
{
  float *base = malloc(n * dim * sizeof *base), *copy = malloc(n * dim * sizeof *copy);
  float *qs = malloc(nq * dim * sizeof *qs);
  hdb__vec_hit *hits = malloc(nq * K * sizeof *hits);
  uint64_t *fids = malloc(nq * K * sizeof *fids);
  uint32_t *n_out = malloc(nq * sizeof *n_out);
  if (!base || !copy || !qs || !hits || !fids || !n_out) {
    printf("flat: out of memory\n");
    goto done;
  }
  vt_mixture(base, n, dim, clusters, 0.5, 21, 22);
  vt_mixture(qs, nq, dim, clusters, 0.5, 21, 23);
  size_t bytes = n * dim * sizeof(float);
  memcpy(copy, base, bytes); /* fault both blocks in */
  double best_sum = 1e30, best_copy = 1e30, best_flat = 1e30, best_par = 1e30;
  volatile uint64_t sink = 0;
  for (int rep = 0; rep < 3; rep++) {
    double t0 = now();
    const uint64_t *w = (const uint64_t *)base;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i + 4 <= bytes / 8; i += 4) {
      s0 += w[i];
      s1 += w[i + 1];
      s2 += w[i + 2];
      s3 += w[i + 3];
    }
    sink += s0 + s1 + s2 + s3;
    double t = now() - t0;
    best_sum = t < best_sum ? t : best_sum;
    t0 = now();
    memcpy(copy, base, bytes);
    t = now() - t0;
    best_copy = t < best_copy ? t : best_copy;
  }
  hdb__vec_flat f = {.base = base, .n = n, .dim = dim, .threads = 1};
  for (size_t q = 0; q < nq; q++) {
    double t0 = now();
    hdb__vec_flat_search(&f, qs + q * dim, 1, K, hits + q * K, n_out + q, NULL);
    double t = now() - t0;
    best_flat = t < best_flat ? t : best_flat;
  }
  double sum_flat = 0;
  for (size_t q = 0; q < nq; q++) {
    double t0 = now();
    hdb__vec_flat_search(&f, qs + q * dim, 1, K, hits + q * K, n_out + q, NULL);
    sum_flat += now() - t0;
  }
  f.threads = 0;
  for (size_t q = 0; q < nq; q++) {
    double t0 = now();
    hdb__vec_flat_search(&f, qs + q * dim, 1, K, hits + q * K, n_out + q, NULL);
    double t = now() - t0;
    best_par = t < best_par ? t : best_par;
  }
  double gb = (double)bytes / 1e9;
  printf("\nFlat scan, %zu x %u (%.0f MB), one query, kernels: %s\n", n, dim, gb * 1e3,
         hdb__vec_kernels_get()->name);
  printf("  %-34s %9s %9s %s\n", "", "ms", "GB/s", "ratio to read-once");
  printf("  %-34s %9.2f %9.2f %s\n", "read once (u64 sum, best of 3)", best_sum * 1e3,
         gb / best_sum, "1.00");
  printf("  %-34s %9.2f %9.2f %.2f\n", "memcpy (read+write, best of 3)", best_copy * 1e3,
         gb / best_copy, best_copy / best_sum);
  printf("  %-34s %9.2f %9.2f %.2f\n", "ours flat top-10, 1 thread (best)", best_flat * 1e3,
         gb / best_flat, best_flat / best_sum);
  printf("  %-34s %9.2f %9.2f %.2f\n", "ours flat top-10, 1 thread (mean)",
         sum_flat / (double)nq * 1e3, gb / (sum_flat / (double)nq), sum_flat / (double)nq / best_sum);
  printf("  %-34s %9.2f %9.2f %.2f\n", "ours flat top-10, all cores (best)", best_par * 1e3,
         gb / best_par, best_par / best_sum);
#ifndef HDB_BENCH_NO_PEERS
  double tf = peer_faiss_flat(base, n, dim, qs, nq, K, fids);
  if (tf >= 0) {
    size_t agree = 0;
    for (size_t i = 0; i < nq * K; i++)
      agree += fids[i] == hits[i].id;
    printf("  %-34s %9.2f %9.2f %.2f   (ids agree with ours: %.1f%%)\n",
           "faiss IndexFlatL2, 1 thread (mean)", tf / (double)nq * 1e3, gb / (tf / (double)nq),
           tf / (double)nq / best_sum, 100.0 * (double)agree / (double)(nq * K));
    printf("  ours/faiss flat time: %.2f\n", (sum_flat / (double)nq) / (tf / (double)nq));
  }
#endif
  (void)sink;
done:
  free(base);
  free(copy);
  free(qs);
  free(hits);
  free(fids);
  free(n_out);
}

#ifndef HDB_BENCH_NO_PEERS
/* 1 when the comma-separated list names word. */
static int list_has(const char *list, const char *word)
{
  size_t n = strlen(word);
  for (const char *p = list; *p;) {
    size_t len = strcspn(p, ",");
    if (len == n && strncmp(p, word, n) == 0)
      return 1;
    p += len;
    if (*p == ',')
      p++;
  }
  return 0;
}
#endif

int main(int argc, char **argv)
{
  size_t n = arg(argc, argv, "--n", 1000000), nq = arg(argc, argv, "--nq", 1000);
  uint32_t dim = (uint32_t)arg(argc, argv, "--dim", 128), m = (uint32_t)arg(argc, argv, "--m", 16);
  uint32_t efc = (uint32_t)arg(argc, argv, "--efc", 200);
  uint32_t clusters = (uint32_t)arg(argc, argv, "--clusters", 100);
  size_t flat_n = arg(argc, argv, "--flat-n", 1000000);
  uint32_t flat_dim = (uint32_t)arg(argc, argv, "--flat-dim", 128);
  const char *png = sarg(argc, argv, "--png");
  int ours_only = arg(argc, argv, "--ours-only", 0) != 0;
  const char *index_file = sarg(argc, argv, "--index");
  int rounds = (int)arg(argc, argv, "--rounds", 3);
  const char *peer_list = sarg(argc, argv, "--peers");
  int par_build = arg(argc, argv, "--par", 1) != 0;
  if (rounds < 1)
    rounds = 1;

  printf("hanzo-db vector benchmark: %zu x %u Gaussian mixture (%u clusters), %zu queries, k=%d, "
         "m=%u, ef_construction=%u, single-threaded queries\n",
         n, dim, clusters, nq, K, m, efc);
  float *base = malloc(n * dim * sizeof *base), *qs = malloc(nq * dim * sizeof *qs);
  hdb__vec_hit *truth = malloc(nq * K * sizeof *truth);
  uint32_t *nt = malloc(nq * sizeof *nt);
  uint64_t *got = malloc(nq * K * sizeof *got);
  double *lat = malloc(nq * sizeof *lat);
  if (!base || !qs || !truth || !nt || !got || !lat) {
    printf("out of memory\n");
    return 1;
  }
  vt_mixture(base, n, dim, clusters, 0.5, 1, 2);
  vt_mixture(qs, nq, dim, clusters, 0.5, 1, 3);
  hdb__vec_flat f = {.base = base, .n = n, .dim = dim, .threads = 0};
  double t0 = now();
  hdb__vec_flat_search(&f, qs, nq, K, truth, nt, NULL);
  printf("ground truth (our flat scan, %zu queries batched, all cores): %.2fs\n", nq, now() - t0);

  lib_result res[MAX_LIBS];
  memset(res, 0, sizeof res);
  size_t n_libs = 0;
  hdb__hnsw *idx = NULL;
  hdb__hnsw_ctx *ctx = NULL;
#ifndef HDB_BENCH_NO_PEERS
  peer_index *peers[MAX_LIBS] = {NULL};
#endif

  /* ours: built single-threaded (the compared figure), then again on every core */
  {
    lib_result *r = &res[n_libs++];
    r->name = "hanzo-db";
    hdb__hnsw_params p = {.m = m, .ef_construction = efc};
    hdb_error err;
    FILE *fi = index_file ? fopen(index_file, "rb") : NULL;
    if (fi != NULL) {
      fclose(fi);
      if (hdb__hnsw_open(index_file, &idx, &err) != HDB_OK) {
        printf("hnsw: %s: %s\n", index_file, err.message);
        return 1;
      }
      printf("graph opened from %s (build time not measured)\n", index_file);
    } else {
      if (hdb__hnsw_new(dim, HDB_METRIC_L2, &p, &idx, &err) != HDB_OK) {
        printf("hnsw: %s\n", err.message);
        return 1;
      }
      t0 = now();
      if (hdb__hnsw_add(idx, base, NULL, 0, n, 1, &err) != HDB_OK) {
        printf("hnsw: %s\n", err.message);
        return 1;
      }
      r->build_s = now() - t0;
      if (index_file != NULL && hdb__hnsw_save(idx, index_file, &err) != HDB_OK)
        printf("hnsw: saving %s: %s\n", index_file, err.message);
    }
    r->bytes = hdb__hnsw_memory(idx);
    if (!ours_only && par_build && r->build_s > 0) {
      hdb__hnsw *par;
      hdb__hnsw_new(dim, HDB_METRIC_L2, &p, &par, NULL);
      t0 = now();
      hdb__hnsw_add(par, base, NULL, 0, n, 0, NULL);
      r->build_par_s = now() - t0;
      hdb__hnsw_free(par);
    }
    hdb__hnsw_ctx_new(idx, &ctx, NULL);
    r->ok = 1;
  }
#ifndef HDB_BENCH_NO_PEERS
  for (int w = 0; w < PEER_COUNT && !ours_only; w++) {
    if (!peer_available(w))
      continue;
    if (peer_list != NULL && !list_has(peer_list, w == PEER_HNSWLIB ? "hnswlib" : "faiss"))
      continue;
    lib_result *r = &res[n_libs];
    r->name = peer_name(w);
    t0 = now();
    peers[n_libs] = peer_build(w, base, n, dim, m, efc, &r->bytes);
    r->build_s = now() - t0;
    r->ok = peers[n_libs] != NULL;
    n_libs++;
  }
#endif

  /* Interleaved sweep: every (ef, library) pair runs once per round, and
   * each keeps its best round, so load from other processes hits all
   * libraries alike. A library stops at the first ef past recall 0.995. */
  const int ROUNDS = rounds;
  size_t stop_at[MAX_LIBS];
  for (size_t i = 0; i < MAX_LIBS; i++)
    stop_at[i] = N_EFS;
  for (int round = 0; round < ROUNDS; round++) {
    for (size_t e = 0; e < N_EFS; e++) {
      for (size_t i = 0; i < n_libs; i++) {
        if (!res[i].ok || e >= stop_at[i])
          continue;
#ifndef HDB_BENCH_NO_PEERS
        if (i > 0)
          peer_set_ef(peers[i], efs[e]);
#endif
        double total = 0;
        for (size_t q = 0; q < nq; q++) {
          double a = now();
          if (i == 0) {
            hdb__vec_hit out[K];
            uint32_t no;
            hdb__hnsw_search(idx, ctx, qs + q * dim, K, efs[e], NULL, out, &no, NULL);
            lat[q] = now() - a;
            for (size_t j = 0; j < K; j++)
              got[q * K + j] = j < no ? out[j].id : UINT64_MAX;
          } else {
#ifndef HDB_BENCH_NO_PEERS
            peer_search(peers[i], qs + q * dim, K, got + q * K);
#endif
            lat[q] = now() - a;
          }
          total += lat[q];
        }
        point pt = {.ef = efs[e]};
        finish_point(&pt, lat, nq, total, got, truth);
        if (round == 0) {
          res[i].pts[res[i].n_pts++] = pt;
          if (pt.recall >= 0.995)
            stop_at[i] = e + 1;
        } else {
          point *best = &res[i].pts[e];
          best->qps = pt.qps > best->qps ? pt.qps : best->qps;
          best->p50 = pt.p50 < best->p50 ? pt.p50 : best->p50;
          best->p99 = pt.p99 < best->p99 ? pt.p99 : best->p99;
        }
      }
    }
  }
  hdb__hnsw_ctx_free(ctx);
  hdb__hnsw_free(idx);
#ifndef HDB_BENCH_NO_PEERS
  for (size_t i = 1; i < n_libs; i++)
    peer_free(peers[i]);
#endif

  printf("\nBuild (single-threaded; hanzo-db also on every core)\n");
  printf("  %-12s %10s %12s %12s %10s\n", "library", "build s", "build s (par)", "MB", "vs ours");
  for (size_t i = 0; i < n_libs; i++) {
    if (!res[i].ok)
      continue;
    char par[32] = "-";
    if (res[i].build_par_s > 0)
      snprintf(par, sizeof par, "%.2f", res[i].build_par_s);
    printf("  %-12s %10.2f %12s %12.1f %9.2fx\n", res[i].name, res[i].build_s, par,
           (double)res[i].bytes / 1e6, res[i].build_s > 0 ? res[0].build_s / res[i].build_s : 0.0);
  }
  printf("  (vs ours = our single-threaded build time / theirs: < 1 means we build faster)\n");

  printf("\nSearch sweep (recall@10 / queries/s; best of %d interleaved rounds)\n", ROUNDS);
  for (size_t i = 0; i < n_libs; i++) {
    if (!res[i].ok)
      continue;
    printf("  %-12s", res[i].name);
    for (size_t j = 0; j < res[i].n_pts; j++)
      printf(" ef%u:%.3f/%.0f", res[i].pts[j].ef, res[i].pts[j].recall, res[i].pts[j].qps);
    printf("\n");
  }

  printf("\nAt recall targets (smallest swept ef reaching it)\n");
  printf("  %-7s %-12s %6s %8s %10s %9s %9s %12s\n", "recall", "library", "ef", "recall", "qps",
         "p50 us", "p99 us", "ours/peer qps");
  for (int t = 0; t < N_TARGETS; t++) {
    const point *mine = NULL;
    for (size_t i = 0; i < n_libs; i++) {
      if (!res[i].ok)
        continue;
      const point *p = NULL;
      for (size_t j = 0; j < res[i].n_pts && p == NULL; j++)
        if (res[i].pts[j].recall >= targets[t])
          p = &res[i].pts[j];
      if (i == 0)
        mine = p;
      if (p == NULL) {
        printf("  %-7.2f %-12s %6s (not reached)\n", targets[t], res[i].name, "-");
        continue;
      }
      char ratio[32] = "";
      if (i > 0 && mine != NULL)
        snprintf(ratio, sizeof ratio, "%.2f", mine->qps / p->qps);
      printf("  %-7.2f %-12s %6u %8.4f %10.0f %9.1f %9.1f %12s\n", targets[t], res[i].name, p->ef,
             p->recall, p->qps, p->p50, p->p99, ratio);
    }
  }

  if (png != NULL) {
    char dat[512], gp[512];
    snprintf(dat, sizeof dat, "%s.dat", png);
    snprintf(gp, sizeof gp, "%s.gp", png);
    FILE *fd = fopen(dat, "w"), *fg = fopen(gp, "w");
    if (fd && fg) {
      for (size_t i = 0; i < n_libs; i++) {
        fprintf(fd, "# %s\n", res[i].name);
        for (size_t j = 0; j < res[i].n_pts; j++)
          fprintf(fd, "%f %f\n", res[i].pts[j].recall, res[i].pts[j].qps);
        fprintf(fd, "\n\n");
      }
      fprintf(fg, "set terminal png size 900,600\nset output '%s'\nset logscale y\n"
                  "set xlabel 'recall@10' noenhanced\nset ylabel 'queries/s (1 thread)'\nset key left bottom\n"
                  "plot ", png);
      for (size_t i = 0; i < n_libs; i++)
        fprintf(fg, "%s'%s' index %zu with linespoints title '%s'", i ? ", " : "", dat, i,
                res[i].name);
      fprintf(fg, "\n");
    }
    if (fd)
      fclose(fd);
    if (fg)
      fclose(fg);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "gnuplot '%s' 2>/dev/null", gp);
    printf("\nplot: %s (%s)\n", png, system(cmd) == 0 ? "written" : "gnuplot failed or missing");
  }

  if (flat_n > 0)
    bench_flat(flat_n, flat_dim, nq < 20 ? nq : 20, clusters);
  free(base);
  free(qs);
  free(truth);
  free(nt);
  free(got);
  free(lat);
  return 0;
}

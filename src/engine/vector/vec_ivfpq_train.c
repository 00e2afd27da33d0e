/*
 * vec_ivfpq_train.c - IVF-PQ lifecycle: create, train (coarse k-means and
 * residual product quantizer), add (assign + encode), delete.
 *
 * k-means: k-means++ seeding on a deterministic sample (splitmix64 from the
 * seed, selection sampling in row order, O(1) extra memory so a table
 * larger than RAM is read once), then Lloyd iterations. Assignment is the hot part: each point is
 * scored against all centroids with the batched kernel (l2sq_batch) and
 * the points are split over threads by range; the update sums in double on
 * the caller's thread in point order, so the result does not depend on the
 * thread count. An empty cluster is repaired by splitting the largest one
 * (its centroid is copied and both copies are nudged apart by a relative
 * 1/1024 in opposite directions, its points are shared by the next
 * assignment).
 *
 * PQ: the residuals (x - centroid of x's list) of the sample are cut into
 * m subspaces of dsub = dim / m components, and each subspace gets its own
 * 256-centroid k-means. With fewer sample rows than centroids the missing
 * centroids are copies of sample rows (codes stay valid).
 *
 * Add runs assignment and encoding on threads into temporary arrays, then
 * reserves room in every list it touches, and only then appends, so an
 * out-of-memory error leaves the index as it was.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "vec_ivfpq_int.h"

#define COARSE_ITERS 10
#define PQ_ITERS 8
#define PQ_SAMPLE_MAX (256u * 32u)

static uint64_t splitmix(uint64_t *s)
{
  uint64_t x = (*s += UINT64_C(0x9E3779B97F4A7C15));
  x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
  return x ^ (x >> 31);
}

static double uniform01(uint64_t *s)
{
  return (double)(splitmix(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- a range split over threads ---------------------------------------- */

typedef void (*range_fn)(void *arg, size_t lo, size_t hi, float *scratch);

typedef struct range_job {
  range_fn fn;
  void *arg;
  size_t lo, hi;
  float *scratch;
  pthread_t th;
  int started;
} range_job;

static void *range_thread(void *p)
{
  range_job *j = p;
  j->fn(j->arg, j->lo, j->hi, j->scratch);
  return NULL;
}

#define MAX_THREADS 64u

/* Runs fn over [0, n) on up to `threads` threads, each with scratch_len
 * floats of scratch. A thread that cannot start has its range done by the
 * caller. HDB_NOMEM when the scratch cannot be allocated. */
static hdb_status parallel_range(size_t n, uint32_t threads, size_t scratch_len, range_fn fn,
                                 void *arg)
{
  if (threads == 0)
    threads = hdb__vec_cpu_count();
  if (threads > MAX_THREADS)
    threads = MAX_THREADS;
  if ((size_t)threads * 256 > n)
    threads = (uint32_t)(n / 256 > 0 ? n / 256 : 1);
  range_job jobs[MAX_THREADS];
  float *scratch = hdb__malloc((size_t)threads * (scratch_len ? scratch_len : 1) * sizeof(float));
  if (scratch == NULL)
    return HDB_NOMEM;
  for (uint32_t t = 0; t < threads; t++) {
    jobs[t].fn = fn;
    jobs[t].arg = arg;
    jobs[t].lo = n * t / threads;
    jobs[t].hi = n * (t + 1) / threads;
    jobs[t].scratch = scratch + (size_t)t * (scratch_len ? scratch_len : 1);
    jobs[t].started = 0;
  }
  for (uint32_t t = 1; t < threads; t++)
    jobs[t].started = pthread_create(&jobs[t].th, NULL, range_thread, &jobs[t]) == 0;
  range_thread(&jobs[0]);
  for (uint32_t t = 1; t < threads; t++) {
    if (jobs[t].started)
      pthread_join(jobs[t].th, NULL);
    else
      range_thread(&jobs[t]);
  }
  hdb__free_mem(scratch);
  return HDB_OK;
}

/* Position of the smallest of v[0 .. n), the first on ties (n >= 1). */
static uint32_t argmin(const float *v, size_t n)
{
  uint32_t best = 0;
  float bv = v[0];
  for (size_t j = 1; j < n; j++)
    if (v[j] < bv) {
      bv = v[j];
      best = (uint32_t)j;
    }
  return best;
}

void hdb__ivfpq_dist256(const float *x, const float *cT, size_t d, float *out)
{
  for (size_t j = 0; j < HDB__IVFPQ_KSUB; j++)
    out[j] = 0;
  for (size_t t = 0; t < d; t++, cT += HDB__IVFPQ_KSUB) {
    float xt = x[t];
    for (size_t j = 0; j < HDB__IVFPQ_KSUB; j++) {
      float e = xt - cT[j];
      out[j] += e * e;
    }
  }
}

static void transpose256(const float *c, size_t d, float *cT)
{
  for (size_t j = 0; j < HDB__IVFPQ_KSUB; j++)
    for (size_t t = 0; t < d; t++)
      cT[t * HDB__IVFPQ_KSUB + j] = c[j * d + t];
}

int hdb__ivfpq_derive(hdb__ivfpq *idx)
{
  size_t per = (size_t)HDB__IVFPQ_KSUB * idx->dsub, tab = (size_t)HDB__IVFPQ_KSUB * idx->m;
  float *t = hdb__malloc(per * idx->m * sizeof *t);
  float *t2 = NULL;
  if (t == NULL)
    return -1;
  if (idx->metric != HDB_METRIC_DOT && (size_t)idx->nlist * tab <= HDB__IVFPQ_TERM2_MAX / 4) {
    t2 = hdb__malloc((size_t)idx->nlist * tab * sizeof *t2);
    if (t2 == NULL) {
      hdb__free_mem(t);
      return -1;
    }
    float norms[HDB__IVFPQ_KSUB];
    for (size_t j = 0; j < idx->m; j++) {
      const float *cb = idx->pq + j * per;
      for (size_t c = 0; c < HDB__IVFPQ_KSUB; c++)
        norms[c] = idx->k->dot(cb + c * idx->dsub, cb + c * idx->dsub, idx->dsub);
      for (size_t l = 0; l < idx->nlist; l++) {
        float *o = t2 + l * tab + j * HDB__IVFPQ_KSUB;
        idx->k->dot_batch(idx->cent + l * idx->dim + j * idx->dsub, cb, HDB__IVFPQ_KSUB,
                          idx->dsub, idx->dsub, o);
        for (size_t c = 0; c < HDB__IVFPQ_KSUB; c++)
          o[c] = norms[c] + 2.0f * o[c];
      }
    }
  }
  for (size_t j = 0; j < idx->m; j++)
    transpose256(idx->pq + j * per, idx->dsub, t + j * per);
  hdb__free_mem(idx->pqT);
  hdb__free_mem(idx->term2);
  idx->pqT = t;
  idx->term2 = t2;
  return 0;
}

/* ---- k-means ------------------------------------------------------------ */

typedef struct km_assign {
  const hdb__vec_kernels *K;
  const float *x, *c;
  const float *cT; /* k = 256 and small d: c transposed, else NULL */
  size_t d, k;
  uint32_t *assign;
} km_assign;

static void km_assign_range(void *p, size_t lo, size_t hi, float *scratch)
{
  km_assign *a = p;
  for (size_t i = lo; i < hi; i++) {
    if (a->cT != NULL)
      hdb__ivfpq_dist256(a->x + i * a->d, a->cT, a->d, scratch);
    else
      a->K->l2sq_batch(a->x + i * a->d, a->c, a->k, a->d, a->d, scratch);
    a->assign[i] = argmin(scratch, a->k);
  }
}

typedef struct km_mind {
  const hdb__vec_kernels *K;
  const float *x, *c; /* c: the newest centroid */
  size_t d;
  float *mind;
} km_mind;

static void km_mind_range(void *p, size_t lo, size_t hi, float *scratch)
{
  km_mind *a = p;
  (void)scratch;
  for (size_t i = lo; i < hi; i++) {
    float dd = a->K->l2sq(a->x + i * a->d, a->c, a->d);
    if (dd < a->mind[i])
      a->mind[i] = dd;
  }
}

/*
 * k centroids of the n points x (n x d) into c (k x d). Deterministic for
 * (x, n, d, k, seed). HDB_NOMEM only.
 */
static hdb_status kmeans(const hdb__vec_kernels *K, const float *x, size_t n, size_t d, size_t k,
                         int iters, uint64_t seed, uint32_t threads, float *c)
{
  uint64_t rng = seed;
  if (n <= k) {
    for (size_t j = 0; j < k; j++)
      memcpy(c + j * d, x + (j % n) * d, d * sizeof *c);
    return HDB_OK;
  }
  hdb_status st = HDB_NOMEM;
  float *mind = hdb__malloc(n * sizeof *mind);
  uint32_t *assign = hdb__malloc(n * sizeof *assign);
  double *sum = hdb__malloc(k * d * sizeof *sum);
  size_t *cnt = hdb__malloc(k * sizeof *cnt);
  /* the subspaces of PQ: too few components for the row kernels */
  int small = k == HDB__IVFPQ_KSUB && d <= 16;
  float *cT = small ? hdb__malloc(k * d * sizeof *cT) : NULL;
  if (mind == NULL || assign == NULL || sum == NULL || cnt == NULL || (small && cT == NULL))
    goto cleanup;
  /* k-means++: each next centroid drawn with probability ~ squared
   * distance to the nearest chosen one */
  size_t first = (size_t)(splitmix(&rng) % n);
  memcpy(c, x + first * d, d * sizeof *c);
  for (size_t i = 0; i < n; i++)
    mind[i] = INFINITY;
  for (size_t j = 1; j < k; j++) {
    km_mind mj = {K, x, c + (j - 1) * d, d, mind};
    if (parallel_range(n, threads, 0, km_mind_range, &mj) != HDB_OK)
      goto cleanup;
    double total = 0;
    for (size_t i = 0; i < n; i++)
      total += mind[i];
    size_t pick = (size_t)(splitmix(&rng) % n);
    if (total > 0) {
      double r = uniform01(&rng) * total, acc = 0;
      for (size_t i = 0; i < n; i++) {
        acc += mind[i];
        if (acc > r) {
          pick = i;
          break;
        }
      }
    }
    memcpy(c + j * d, x + pick * d, d * sizeof *c);
  }
  for (int it = 0; it < iters; it++) {
    if (small)
      transpose256(c, d, cT);
    km_assign a = {K, x, c, cT, d, k, assign};
    if (parallel_range(n, threads, k, km_assign_range, &a) != HDB_OK)
      goto cleanup;
    memset(sum, 0, k * d * sizeof *sum);
    memset(cnt, 0, k * sizeof *cnt);
    for (size_t i = 0; i < n; i++) {
      double *s = sum + (size_t)assign[i] * d;
      const float *xi = x + i * d;
      for (size_t t = 0; t < d; t++)
        s[t] += xi[t];
      cnt[assign[i]]++;
    }
    for (size_t j = 0; j < k; j++)
      if (cnt[j] > 0)
        for (size_t t = 0; t < d; t++)
          c[j * d + t] = (float)(sum[j * d + t] / (double)cnt[j]);
    /* empty-cluster repair: split the largest cluster */
    for (size_t j = 0; j < k; j++) {
      if (cnt[j] > 0)
        continue;
      size_t big = 0;
      for (size_t t = 1; t < k; t++)
        if (cnt[t] > cnt[big])
          big = t;
      if (cnt[big] < 2)
        break;
      for (size_t t = 0; t < d; t++) {
        float v = c[big * d + t];
        float e = (t & 1 ? 1.0f : -1.0f) * (fabsf(v) + 1e-6f) * (1.0f / 1024.0f);
        c[j * d + t] = v + e;
        c[big * d + t] = v - e;
      }
      cnt[j] = cnt[big] / 2;
      cnt[big] -= cnt[j];
    }
  }
  st = HDB_OK;
cleanup:
  hdb__free_mem(mind);
  hdb__free_mem(assign);
  hdb__free_mem(sum);
  hdb__free_mem(cnt);
  hdb__free_mem(cT);
  return st;
}

/* ---- create / free ------------------------------------------------------ */

hdb_status hdb__ivfpq_new(uint32_t dim, hdb_metric metric, const hdb__ivfpq_params *p,
                          hdb__ivfpq **out, hdb_error *err)
{
  if (out == NULL)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "ivfpq: missing argument");
  *out = NULL;
  hdb__ivfpq_params z = {0};
  if (p == NULL)
    p = &z;
  if (dim == 0 || dim > HDB_MAX_VECTOR_DIM)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "ivfpq: dimension %u out of range", dim);
  if (metric == HDB_METRIC_DEFAULT)
    metric = HDB_METRIC_L2;
  if (metric != HDB_METRIC_L2 && metric != HDB_METRIC_COSINE && metric != HDB_METRIC_DOT)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "ivfpq: unknown metric %d", (int)metric);
  uint32_t m = p->m;
  if (m == 0)
    m = dim % 4 == 0 ? dim / 4 : dim % 2 == 0 ? dim / 2 : dim;
  if (m > dim || dim % m != 0)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "ivfpq: m %u does not divide dimension %u", m,
                     dim);
  if (p->nbits != 0 && p->nbits != HDB__IVFPQ_NBITS)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "ivfpq: nbits %u (only 8 is supported)",
                     p->nbits);
  if (p->nlist > HDB__IVFPQ_MAX_NLIST || p->refine > HDB__IVFPQ_MAX_REFINE)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "ivfpq: nlist %u or refine %u out of range",
                     p->nlist, p->refine);
  hdb__ivfpq *x = hdb__calloc(1, sizeof *x);
  if (x == NULL)
    return hdb__fail(err, HDB_NOMEM, "ivfpq: out of memory");
  x->dim = dim;
  x->metric = metric;
  x->m = m;
  x->dsub = dim / m;
  x->nlist_param = p->nlist;
  x->nprobe = p->nprobe ? p->nprobe : HDB__IVFPQ_DEFAULT_NPROBE;
  x->refine = p->refine ? p->refine : HDB__IVFPQ_DEFAULT_REFINE;
  x->train_sample = p->train_sample;
  x->seed = p->seed ? p->seed : HDB__IVFPQ_DEFAULT_SEED;
  x->k = hdb__vec_kernels_get();
  *out = x;
  return HDB_OK;
}

void hdb__ivfpq_free(hdb__ivfpq *idx)
{
  if (idx == NULL)
    return;
  if (idx->lists != NULL)
    for (uint32_t l = 0; l < idx->nlist; l++) {
      hdb__free_mem(idx->lists[l].codes);
      hdb__free_mem(idx->lists[l].ids);
      hdb__free_mem(idx->lists[l].deleted);
    }
  hdb__free_mem(idx->lists);
  hdb__free_mem(idx->cent);
  hdb__free_mem(idx->pq);
  hdb__free_mem(idx->pqT);
  hdb__free_mem(idx->term2);
  hdb__free_mem(idx);
}

/* ---- train -------------------------------------------------------------- */

void hdb__ivfpq_prepare(const hdb__ivfpq *idx, const float *x, float *dst)
{
  memcpy(dst, x, idx->dim * sizeof *dst);
  if (idx->metric != HDB_METRIC_COSINE)
    return;
  double s = 0;
  for (uint32_t t = 0; t < idx->dim; t++)
    s += (double)x[t] * x[t];
  if (s > 0 && isfinite(s)) {
    float inv = (float)(1.0 / sqrt(s));
    for (uint32_t t = 0; t < idx->dim; t++)
      dst[t] *= inv;
  }
}

uint32_t hdb__ivfpq_assign(const hdb__ivfpq *idx, const float *x, float *scratch)
{
  idx->k->l2sq_batch(x, idx->cent, idx->nlist, idx->dim, idx->dim, scratch);
  return argmin(scratch, idx->nlist);
}

typedef struct sub_extract {
  const hdb__ivfpq *idx;
  const float *sample;
  float *resid; /* ns x dim, subspace-major: subspace j at resid + j * ns * dsub */
  size_t ns;
} sub_extract;

static void residual_range(void *p, size_t lo, size_t hi, float *scratch)
{
  sub_extract *s = p;
  const hdb__ivfpq *idx = s->idx;
  for (size_t i = lo; i < hi; i++) {
    uint32_t l = hdb__ivfpq_assign(idx, s->sample + i * idx->dim, scratch);
    const float *x = s->sample + i * idx->dim, *c = idx->cent + (size_t)l * idx->dim;
    for (uint32_t j = 0; j < idx->m; j++)
      for (uint32_t t = 0; t < idx->dsub; t++)
        s->resid[(size_t)j * s->ns * idx->dsub + i * idx->dsub + t] =
          x[j * idx->dsub + t] - c[j * idx->dsub + t];
  }
}

hdb_status hdb__ivfpq_train(hdb__ivfpq *idx, const float *vecs, size_t n, uint32_t threads,
                            hdb_error *err)
{
  if (idx == NULL || vecs == NULL || n == 0)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "ivfpq train: no rows");
  if (idx->trained)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "ivfpq train: already trained");
  uint32_t nlist = idx->nlist_param;
  if (nlist == 0) {
    double r = floor(sqrt((double)n) + 0.5);
    nlist = r < 1 ? 1 : r > HDB__IVFPQ_MAX_NLIST ? HDB__IVFPQ_MAX_NLIST : (uint32_t)r;
  }
  size_t ns = idx->train_sample;
  if (ns == 0) {
    ns = (size_t)64 * nlist;
    if (ns < 32768)
      ns = 32768;
    if (ns > 262144)
      ns = 262144;
  }
  if (ns > n)
    ns = n;
  size_t dim = idx->dim, m = idx->m, dsub = idx->dsub;
  hdb_status st = HDB_NOMEM;
  float *sample = hdb__malloc(ns * dim * sizeof *sample);
  float *cent = hdb__malloc((size_t)nlist * dim * sizeof *cent);
  float *pq = hdb__malloc(m * HDB__IVFPQ_KSUB * dsub * sizeof *pq);
  hdb__ivf_list *lists = hdb__calloc(nlist, sizeof *lists);
  float *resid = NULL;
  if (sample == NULL || cent == NULL || pq == NULL || lists == NULL)
    goto cleanup;
  if (ns == n) {
    for (size_t i = 0; i < n; i++)
      hdb__ivfpq_prepare(idx, vecs + i * dim, sample + i * dim);
  } else {
    /* selection sampling (Knuth's algorithm S): row i is taken with
     * probability (still needed) / (rows left), exactly ns rows, in row
     * order, O(1) memory */
    uint64_t rng = idx->seed ^ UINT64_C(0xa0761d6478bd642f);
    size_t w = 0;
    for (size_t i = 0; i < n && w < ns; i++)
      if ((double)(n - i) * uniform01(&rng) < (double)(ns - w))
        hdb__ivfpq_prepare(idx, vecs + i * dim, sample + (w++) * dim);
  }
  if (kmeans(idx->k, sample, ns, dim, nlist, COARSE_ITERS, idx->seed, threads, cent) != HDB_OK)
    goto cleanup;
  idx->cent = cent;
  idx->nlist = nlist;
  size_t nps = ns < PQ_SAMPLE_MAX ? ns : PQ_SAMPLE_MAX;
  resid = hdb__malloc(nps * dim * sizeof *resid);
  if (resid == NULL)
    goto unset;
  sub_extract se = {idx, sample, resid, nps};
  if (parallel_range(nps, threads, nlist, residual_range, &se) != HDB_OK)
    goto unset;
  for (size_t j = 0; j < m; j++)
    if (kmeans(idx->k, resid + j * nps * dsub, nps, dsub, HDB__IVFPQ_KSUB, PQ_ITERS,
               idx->seed + 1 + j, threads, pq + j * HDB__IVFPQ_KSUB * dsub) != HDB_OK)
      goto unset;
  idx->pq = pq;
  if (hdb__ivfpq_derive(idx) != 0) {
    idx->pq = NULL;
    goto unset;
  }
  idx->lists = lists;
  idx->trained = 1;
  cent = NULL;
  pq = NULL;
  lists = NULL;
  st = HDB_OK;
  goto cleanup;
unset:
  idx->cent = NULL;
  idx->nlist = 0;
cleanup:
  hdb__free_mem(sample);
  hdb__free_mem(resid);
  hdb__free_mem(cent);
  hdb__free_mem(pq);
  hdb__free_mem(lists);
  if (st != HDB_OK)
    return hdb__fail(err, st, "ivfpq train: out of memory");
  return HDB_OK;
}

/* ---- add ---------------------------------------------------------------- */

typedef struct enc_job {
  const hdb__ivfpq *idx;
  const float *vecs;
  uint32_t *list;
  uint8_t *codes;
} enc_job;

/* scratch: nlist + 2 * dim + 256 floats */
static void encode_range(void *p, size_t lo, size_t hi, float *scratch)
{
  enc_job *e = p;
  const hdb__ivfpq *idx = e->idx;
  size_t dim = idx->dim, dsub = idx->dsub;
  size_t nl = idx->nlist > HDB__IVFPQ_KSUB ? idx->nlist : HDB__IVFPQ_KSUB;
  float *x = scratch + nl, *r = x + dim;
  for (size_t i = lo; i < hi; i++) {
    hdb__ivfpq_prepare(idx, e->vecs + i * dim, x);
    uint32_t l = hdb__ivfpq_assign(idx, x, scratch);
    e->list[i] = l;
    const float *c = idx->cent + (size_t)l * dim;
    for (size_t t = 0; t < dim; t++)
      r[t] = x[t] - c[t];
    uint8_t *code = e->codes + i * idx->m;
    for (size_t j = 0; j < idx->m; j++) {
      hdb__ivfpq_dist256(r + j * dsub, idx->pqT + j * HDB__IVFPQ_KSUB * dsub, dsub, scratch);
      code[j] = (uint8_t)argmin(scratch, HDB__IVFPQ_KSUB);
    }
  }
}

static int list_reserve(hdb__ivf_list *L, size_t need, size_t m)
{
  if (need <= L->cap)
    return 0;
  size_t cap = L->cap ? (size_t)L->cap * 2 : 16;
  while (cap < need)
    cap *= 2;
  if (cap > UINT32_MAX)
    cap = UINT32_MAX;
  if (need > cap)
    return -1;
  uint8_t *c = hdb__realloc(L->codes, cap * m);
  if (c == NULL)
    return -1;
  L->codes = c;
  uint64_t *ids = hdb__realloc(L->ids, cap * sizeof *ids);
  if (ids == NULL)
    return -1;
  L->ids = ids;
  uint8_t *del = hdb__realloc(L->deleted, cap);
  if (del == NULL)
    return -1;
  L->deleted = del;
  L->cap = (uint32_t)cap;
  return 0;
}

hdb_status hdb__ivfpq_add(hdb__ivfpq *idx, const float *vecs, const uint64_t *ids,
                          uint64_t first_id, size_t n, uint32_t threads, hdb_error *err)
{
  if (idx == NULL || (vecs == NULL && n > 0))
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "ivfpq add: missing argument");
  if (!idx->trained)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "ivfpq add: index is not trained");
  if (n == 0)
    return HDB_OK;
  if (n > HDB__IVFPQ_MAX_ROWS - idx->n_total)
    return hdb__fail(err, HDB_TOO_BIG, "ivfpq add: more than 2^40 rows");
  hdb_status st = HDB_NOMEM;
  uint32_t *list = hdb__malloc(n * sizeof *list);
  uint8_t *codes = hdb__malloc(n * idx->m);
  uint64_t *cnt = hdb__calloc(idx->nlist, sizeof *cnt);
  if (list == NULL || codes == NULL || cnt == NULL)
    goto cleanup;
  enc_job e = {idx, vecs, list, codes};
  size_t nl = idx->nlist > HDB__IVFPQ_KSUB ? idx->nlist : HDB__IVFPQ_KSUB;
  if (parallel_range(n, threads, nl + 2 * (size_t)idx->dim, encode_range, &e) != HDB_OK)
    goto cleanup;
  for (size_t i = 0; i < n; i++)
    cnt[list[i]]++;
  for (uint32_t l = 0; l < idx->nlist; l++)
    if (cnt[l] > 0 && idx->lists[l].n + cnt[l] > UINT32_MAX) {
      st = HDB_TOO_BIG;
      goto cleanup;
    } else if (cnt[l] > 0 && list_reserve(&idx->lists[l], (size_t)idx->lists[l].n + cnt[l],
                                          idx->m) != 0) {
      goto cleanup;
    }
  for (size_t i = 0; i < n; i++) {
    hdb__ivf_list *L = &idx->lists[list[i]];
    memcpy(L->codes + (size_t)L->n * idx->m, codes + i * idx->m, idx->m);
    L->ids[L->n] = ids ? ids[i] : first_id + i;
    L->deleted[L->n] = 0;
    L->n++;
  }
  idx->n_total += n;
  st = HDB_OK;
cleanup:
  hdb__free_mem(list);
  hdb__free_mem(codes);
  hdb__free_mem(cnt);
  if (st == HDB_NOMEM)
    return hdb__fail(err, st, "ivfpq add: out of memory");
  if (st == HDB_TOO_BIG)
    return hdb__fail(err, st, "ivfpq add: a list would pass 2^32 entries");
  return st;
}

hdb_status hdb__ivfpq_build(hdb__ivfpq *idx, const float *vecs, const uint64_t *ids,
                            uint64_t first_id, size_t n, uint32_t threads, hdb_error *err)
{
  hdb_status st = hdb__ivfpq_train(idx, vecs, n, threads, err);
  if (st != HDB_OK)
    return st;
  return hdb__ivfpq_add(idx, vecs, ids, first_id, n, threads, err);
}

/* ---- delete ------------------------------------------------------------- */

static int u64_cmp(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

hdb_status hdb__ivfpq_delete(hdb__ivfpq *idx, const uint64_t *ids, size_t n, size_t *n_marked,
                             hdb_error *err)
{
  if (n_marked != NULL)
    *n_marked = 0;
  if (idx == NULL || (ids == NULL && n > 0))
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "ivfpq delete: missing argument");
  if (n == 0 || !idx->trained)
    return HDB_OK;
  uint64_t *s = hdb__malloc(n * sizeof *s);
  if (s == NULL)
    return hdb__fail(err, HDB_NOMEM, "ivfpq delete: out of memory");
  memcpy(s, ids, n * sizeof *s);
  qsort(s, n, sizeof *s, u64_cmp);
  size_t marked = 0;
  for (uint32_t l = 0; l < idx->nlist; l++) {
    hdb__ivf_list *L = &idx->lists[l];
    for (uint32_t i = 0; i < L->n; i++) {
      if (L->deleted[i])
        continue;
      uint64_t id = L->ids[i];
      size_t lo = 0, hi = n;
      while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s[mid] < id)
          lo = mid + 1;
        else
          hi = mid;
      }
      if (lo < n && s[lo] == id) {
        L->deleted[i] = 1;
        marked++;
      }
    }
  }
  idx->n_deleted += marked;
  hdb__free_mem(s);
  if (n_marked != NULL)
    *n_marked = marked;
  return HDB_OK;
}

/* ---- accessors ---------------------------------------------------------- */

size_t hdb__ivfpq_count(const hdb__ivfpq *idx)
{
  return idx ? (size_t)idx->n_total : 0;
}

size_t hdb__ivfpq_deleted(const hdb__ivfpq *idx)
{
  return idx ? (size_t)idx->n_deleted : 0;
}

uint32_t hdb__ivfpq_dim(const hdb__ivfpq *idx)
{
  return idx ? idx->dim : 0;
}

hdb_metric hdb__ivfpq_metric(const hdb__ivfpq *idx)
{
  return idx ? idx->metric : HDB_METRIC_DEFAULT;
}

int hdb__ivfpq_trained(const hdb__ivfpq *idx)
{
  return idx ? idx->trained : 0;
}

hdb__ivfpq_params hdb__ivfpq_get_params(const hdb__ivfpq *idx)
{
  hdb__ivfpq_params p = {0};
  if (idx == NULL)
    return p;
  p.nlist = idx->trained ? idx->nlist : idx->nlist_param;
  p.m = idx->m;
  p.nbits = HDB__IVFPQ_NBITS;
  p.nprobe = idx->nprobe;
  p.refine = idx->refine;
  p.train_sample = idx->train_sample;
  p.seed = idx->seed;
  return p;
}

size_t hdb__ivfpq_memory(const hdb__ivfpq *idx)
{
  if (idx == NULL || !idx->trained)
    return 0;
  size_t b = (size_t)idx->nlist * idx->dim * sizeof(float) +
             2 * (size_t)idx->m * HDB__IVFPQ_KSUB * idx->dsub * sizeof(float) +
             (idx->term2 ? (size_t)idx->nlist * idx->m * HDB__IVFPQ_KSUB * sizeof(float) : 0) +
             (size_t)idx->nlist * sizeof(hdb__ivf_list);
  for (uint32_t l = 0; l < idx->nlist; l++)
    b += (size_t)idx->lists[l].cap * (idx->m + sizeof(uint64_t) + 1);
  return b;
}

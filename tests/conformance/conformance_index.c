/*
 * conformance_index.c - indexes: flat (exact vector) and scalar indexes are
 * created, listed, refused twice (HDB_EXISTS), dropped, and a second drop is
 * HDB_NO_INDEX; an unknown column is HDB_NO_FIELD. Search and query results
 * are identical with and without an index, including rows written after
 * the index was built. Approximate indexes (hnsw, ivf_pq) and full-text
 * indexes answer HDB_NOT_SUPPORTED exactly when their capability is off;
 * when on, hnsw/ivf_pq must reach a minimum recall against the exact
 * answer, and exact=1 must give the exact answer.
 */
#include "conformance_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IDX_DIM 8
#define IDX_N 300

static float idx_data[IDX_N + 50][IDX_DIM];

static void load_idx(hdb *db, size_t from, size_t to) {
  conf_rng g;
  conf_rng_seed(&g, 1234 + from);
  hdb_record *recs[IDX_N];
  size_t n = 0;
  for (size_t i = from; i < to; i++) {
    for (int j = 0; j < IDX_DIM; j++) idx_data[i][j] = conf_rng_float(&g, -1.f, 1.f);
    char id[32];
    snprintf(id, sizeof id, "x%04zu", i);
    hdb_record *r = recs[n++] = conf_rec(id);
    conf_set_vec(r, "v", idx_data[i], IDX_DIM);
    conf_set_int(r, "grp", (int64_t)(i % 7));
    conf_set_text(r, "tag", (i % 3) ? "p" : "q");
    conf_set_text(r, "body", (i % 2) ? "the quick brown fox" : "lazy dogs sleep");
  }
  INSERT_FREE(db, "cf_idx", recs, n);
}

static void create_idx_table(hdb *db) {
  CREATE_TABLE(db, "cf_idx",
               "{\"v\":\"vector(8,l2)\",\"grp\":\"int\",\"tag\":\"text\",\"body\":\"text\"}");
  load_idx(db, 0, IDX_N);
}

/* Search results as "id,..." or, with dist set, "id@distance,..." (distances
 * to 9 digits: for comparing the library with itself). */
static char *search_sig2(hdb *db, const float *q, int k, const char *filter, int exact,
                         int dist) {
  hdb_search sr = HDB_SEARCH_INIT;
  sr.column = "v";
  sr.vector = q;
  sr.dim = IDX_DIM;
  sr.k = k;
  sr.filter = filter;
  sr.exact = exact;
  hdb_cursor *c = NULL;
  CHECK(db, hdb_search_vector(db, "cf_idx", &sr, &c));
  char *out = strdup("");
  const hdb_record *r;
  hdb_status st;
  while ((st = hdb_cursor_next(c, &r)) == HDB_OK) {
    char item[64];
    if (dist)
      snprintf(item, sizeof item, "%s@%.9g", hdb_record_id(r), hdb_cursor_distance(c));
    else
      snprintf(item, sizeof item, "%s", hdb_record_id(r));
    out = conf_join_append(out, item);
  }
  assert_int_equal(st, HDB_DONE);
  hdb_cursor_close(c);
  return out;
}

static char *search_sig(hdb *db, const float *q, int k, const char *filter, int exact) {
  return search_sig2(db, q, k, filter, exact, 0);
}

static char *exact_sig(const float *q, int k, size_t n, int grp) {
  const float *vecs[IDX_N + 50];
  char idbuf[IDX_N + 50][32];
  const char *ids[IDX_N + 50];
  unsigned char elig[IDX_N + 50];
  for (size_t i = 0; i < n; i++) {
    vecs[i] = idx_data[i];
    snprintf(idbuf[i], sizeof idbuf[i], "x%04zu", i);
    ids[i] = idbuf[i];
    elig[i] = grp < 0 || (int)(i % 7) == grp;
  }
  conf_hit hits[64];
  size_t m = conf_knn(HDB_METRIC_L2, q, IDX_DIM, vecs, ids, elig, n, (size_t)k, hits);
  char *out = strdup("");
  for (size_t i = 0; i < m; i++) {
    out = conf_join_append(out, hits[i].id);
  }
  return out;
}

static const hdb_index_info *find_info(const hdb_index_info *infos, size_t n, const char *col) {
  for (size_t i = 0; i < n; i++)
    if (infos[i].column && strcmp(infos[i].column, col) == 0) return &infos[i];
  return NULL;
}

static size_t index_count(hdb *db) {
  hdb_index_info *infos = NULL;
  size_t n = 99;
  CHECK(db, hdb_index_list(db, "cf_idx", &infos, &n));
  hdb_index_info_free(infos, n);
  return n;
}

static void test_index_flat_and_scalar_lifecycle(void **state) {
  (void)state;
  hdb *db = conf_db;
  create_idx_table(db);
  assert_int_equal(index_count(db), 0);

  const float q[IDX_DIM] = {0.1f, -0.2f, 0.3f, 0.4f, -0.5f, 0.6f, 0.0f, 0.2f};
  const int vs = conf_has(HDB_CAP_VECTOR_SEARCH);
  char *before = NULL, *before_f = NULL;
  if (vs) {
    before = search_sig2(db, q, 10, NULL, 0, 1);
    before_f = search_sig2(db, q, 10, "grp = 2", 0, 1);
    char *ids = search_sig(db, q, 10, NULL, 0);
    char *want = exact_sig(q, 10, IDX_N, -1);
    assert_string_equal(ids, want);
    free(ids);
    free(want);
  }
  hdb_query_options qq = HDB_QUERY_INIT;
  qq.filter = "grp = 3 AND tag = 'p'";
  char *qbefore = QUERY_IDS(db, "cf_idx", &qq, 1);

  /* flat: needs vector search. */
  hdb_status st = hdb_index_create(db, "cf_idx", "v", HDB_INDEX_FLAT, NULL);
  if (!vs) {
    EXPECT(db, HDB_NOT_SUPPORTED, st);
  } else {
    EXPECT(db, HDB_OK, st);
  }
  /* scalar: HDB_CAP_SCALAR_INDEX. */
  const int sc = conf_has(HDB_CAP_SCALAR_INDEX);
  st = hdb_index_create(db, "cf_idx", "grp", HDB_INDEX_SCALAR, NULL);
  EXPECT(db, sc ? HDB_OK : HDB_NOT_SUPPORTED, st);
  size_t want_n = (size_t)(vs != 0) + (size_t)(sc != 0);

  hdb_index_info *infos = NULL;
  size_t n = 0;
  CHECK(db, hdb_index_list(db, "cf_idx", &infos, &n));
  assert_int_equal(n, want_n);
  if (vs) {
    const hdb_index_info *fi = find_info(infos, n, "v");
    if (fi == NULL) fail_msg("hdb_index_list does not show the flat index on v");
    assert_int_equal(fi->type, HDB_INDEX_FLAT);
    assert_non_null(fi->params);
    assert_int_equal(fi->params[0], '{');
  }
  if (sc) {
    const hdb_index_info *si = find_info(infos, n, "grp");
    if (si == NULL) fail_msg("hdb_index_list does not show the scalar index on grp");
    assert_int_equal(si->type, HDB_INDEX_SCALAR);
  }
  hdb_index_info_free(infos, n);

  /* One index per column. */
  if (vs) {
    EXPECT(db, HDB_EXISTS, hdb_index_create(db, "cf_idx", "v", HDB_INDEX_FLAT, NULL));
    EXPECT_MSG(db, "v");
  }
  if (sc) {
    EXPECT(db, HDB_EXISTS, hdb_index_create(db, "cf_idx", "grp", HDB_INDEX_SCALAR, NULL));
    EXPECT_MSG(db, "grp");
    EXPECT(db, HDB_BAD_JSON, hdb_index_create(db, "cf_idx", "tag", HDB_INDEX_SCALAR, "{bad"));
  }
  /* Unknown column / table. */
  if (sc) {
    EXPECT(db, HDB_NO_FIELD, hdb_index_create(db, "cf_idx", "nosuch", HDB_INDEX_SCALAR, NULL));
    EXPECT_MSG(db, "nosuch");
    EXPECT(db, HDB_NO_TABLE, hdb_index_create(db, "cf_nosuch", "grp", HDB_INDEX_SCALAR, NULL));
    EXPECT_MSG(db, "cf_nosuch");
  }
  if (vs) {
    EXPECT(db, HDB_NO_FIELD, hdb_index_create(db, "cf_idx", "nosuch", HDB_INDEX_FLAT, NULL));
    EXPECT_MSG(db, "nosuch");
    EXPECT(db, HDB_NO_TABLE, hdb_index_create(db, "cf_nosuch", "v", HDB_INDEX_FLAT, NULL));
    EXPECT_MSG(db, "cf_nosuch");
  }
  /* A vector index on a scalar column is not available. */
  if (vs) EXPECT(db, HDB_NOT_SUPPORTED, hdb_index_create(db, "cf_idx", "tag", HDB_INDEX_FLAT, NULL));
  assert_int_equal(index_count(db), want_n);

  /* Results do not change with the index. */
  if (vs) {
    char *after = search_sig2(db, q, 10, NULL, 0, 1);
    char *after_f = search_sig2(db, q, 10, "grp = 2", 0, 1);
    assert_string_equal(after, before);
    assert_string_equal(after_f, before_f);
    free(after);
    free(after_f);
  }
  char *qafter = QUERY_IDS(db, "cf_idx", &qq, 1);
  assert_string_equal(qafter, qbefore);
  free(qafter);

  /* Rows written after the index are found. */
  load_idx(db, IDX_N, IDX_N + 50);
  if (vs) {
    char *later = search_sig(db, q, 10, NULL, 0);
    char *want = exact_sig(q, 10, IDX_N + 50, -1);
    assert_string_equal(later, want);
    free(later);
    free(want);
    later = search_sig(db, q, 10, "grp = 2", 0);
    want = exact_sig(q, 10, IDX_N + 50, 2);
    assert_string_equal(later, want);
    free(later);
    free(want);
  }
  assert_int_equal(COUNT(db, "cf_idx", "grp = 3"), (IDX_N + 50 + 6 - 3) / 7);

  /* Drop. */
  if (vs) {
    CHECK(db, hdb_index_drop(db, "cf_idx", "v"));
    EXPECT(db, HDB_NO_INDEX, hdb_index_drop(db, "cf_idx", "v"));
    EXPECT_MSG(db, "v");
  }
  if (sc) {
    CHECK(db, hdb_index_drop(db, "cf_idx", "grp"));
    EXPECT(db, HDB_NO_INDEX, hdb_index_drop(db, "cf_idx", "grp"));
  }
  EXPECT(db, HDB_NO_INDEX, hdb_index_drop(db, "cf_idx", "tag"));
  EXPECT_MSG(db, "tag");
  EXPECT(db, HDB_NO_TABLE, hdb_index_drop(db, "cf_nosuch", "v"));
  assert_int_equal(index_count(db), 0);
  if (vs) {
    char *dropped = search_sig(db, q, 10, NULL, 0);
    char *want = exact_sig(q, 10, IDX_N + 50, -1);
    assert_string_equal(dropped, want);
    free(dropped);
    free(want);
  }
  free(before);
  free(before_f);
  free(qbefore);

  /* A dropped table takes its indexes with it. */
  if (vs) CHECK(db, hdb_index_create(db, "cf_idx", "v", HDB_INDEX_FLAT, NULL));
  CHECK(db, hdb_table_drop(db, "cf_idx", 0));
  CREATE_TABLE(db, "cf_idx", "{\"v\":\"vector(8,l2)\",\"grp\":\"int\"}");
  assert_int_equal(index_count(db), 0);
}

static double recall_at_10(hdb *db, int ef, int nprobe) {
  conf_rng g;
  conf_rng_seed(&g, 555);
  int hit = 0, total = 0;
  for (int t = 0; t < 20; t++) {
    float q[IDX_DIM];
    for (int j = 0; j < IDX_DIM; j++) q[j] = conf_rng_float(&g, -1.f, 1.f);
    const float *vecs[IDX_N];
    char idbuf[IDX_N][16];
    const char *ids[IDX_N];
    for (size_t i = 0; i < IDX_N; i++) {
      vecs[i] = idx_data[i];
      snprintf(idbuf[i], sizeof idbuf[i], "x%04zu", i);
      ids[i] = idbuf[i];
    }
    conf_hit ref[10];
    size_t m = conf_knn(HDB_METRIC_L2, q, IDX_DIM, vecs, ids, NULL, IDX_N, 10, ref);
    hdb_search sr = HDB_SEARCH_INIT;
    sr.vector = q;
    sr.dim = IDX_DIM;
    sr.k = 10;
    sr.ef = ef;
    sr.nprobe = nprobe;
    hdb_cursor *c = NULL;
    CHECK(db, hdb_search_vector(db, "cf_idx", &sr, &c));
    const hdb_record *r;
    int got = 0;
    while (hdb_cursor_next(c, &r) == HDB_OK) {
      got++;
      for (size_t i = 0; i < m; i++)
        if (strcmp(ref[i].id, hdb_record_id(r)) == 0) hit++;
    }
    hdb_cursor_close(c);
    assert_int_equal(got, 10); /* k results whenever k rows match */
    total += (int)m;
    /* exact = 1 ignores the index. */
    char *ex = search_sig(db, q, 10, NULL, 1);
    char *want = exact_sig(q, 10, IDX_N, -1);
    assert_string_equal(ex, want);
    free(ex);
    free(want);
  }
  return (double)hit / total;
}

static void check_approx(hdb *db, hdb_index_type type, hdb_capability cap, const char *params) {
  const char *name = hdb_index_type_name(type);
  /* VECTOR_INDEX says "some approximate index"; each type has its own bit. */
  if (conf_has(cap) && !conf_has(HDB_CAP_VECTOR_INDEX))
    fail_msg("capability %s is on but vector_index is off", hdb_capability_name(cap));
  hdb_status st = hdb_index_create(db, "cf_idx", "v", type, params);
  if (!conf_has(cap)) {
    if (st != HDB_NOT_SUPPORTED)
      fail_msg("%s index with capability %s off: expected NOT_SUPPORTED, got %s", name,
               hdb_capability_name(cap), hdb_status_name(st));
    assert_int_equal(index_count(db), 0);
    printf("      (%s index: capability %s is off; checked NOT_SUPPORTED)\n", name,
           hdb_capability_name(cap));
    return;
  }
  if (st != HDB_OK) fail_msg("%s index -> %s: %s", name, hdb_status_name(st), hdb_errmsg(db));
  hdb_index_info *infos = NULL;
  size_t n = 0;
  CHECK(db, hdb_index_list(db, "cf_idx", &infos, &n));
  const hdb_index_info *ii = find_info(infos, n, "v");
  assert_non_null(ii);
  assert_int_equal(ii->type, type);
  hdb_index_info_free(infos, n);
  double recall = recall_at_10(db, 200, 4);
  printf("      (%s recall@10 = %.3f)\n", name, recall);
  if (recall < 0.9) fail_msg("%s recall@10 %.3f below 0.9", name, recall);
  CHECK(db, hdb_index_drop(db, "cf_idx", "v"));
}

static void test_index_approximate(void **state) {
  (void)state;
  hdb *db = conf_db;
  create_idx_table(db);
  if (!conf_has(HDB_CAP_VECTOR_SEARCH)) {
    EXPECT(db, HDB_NOT_SUPPORTED, hdb_index_create(db, "cf_idx", "v", HDB_INDEX_HNSW, NULL));
    EXPECT(db, HDB_NOT_SUPPORTED, hdb_index_create(db, "cf_idx", "v", HDB_INDEX_IVF_PQ, NULL));
    assert_int_equal(index_count(db), 0);
    printf("      (approximate indexes: no vector search; checked NOT_SUPPORTED)\n");
    skip();
  }
  if (conf_has(HDB_CAP_VECTOR_INDEX) && !conf_has(HDB_CAP_INDEX_HNSW) &&
      !conf_has(HDB_CAP_INDEX_IVF_PQ))
    fail_msg("vector_index is on but no index type's capability is");
  check_approx(db, HDB_INDEX_HNSW, HDB_CAP_INDEX_HNSW, "{\"m\":16,\"ef_construction\":200}");
  check_approx(db, HDB_INDEX_IVF_PQ, HDB_CAP_INDEX_IVF_PQ, "{\"nlist\":4,\"m\":4}");
}

static void test_index_fulltext(void **state) {
  (void)state;
  hdb *db = conf_db;
  create_idx_table(db);
  hdb_status st = hdb_index_create(db, "cf_idx", "body", HDB_INDEX_FTS, NULL);
  if (!conf_has(HDB_CAP_FULLTEXT)) {
    EXPECT(db, HDB_NOT_SUPPORTED, st);
    assert_int_equal(index_count(db), 0);
    printf("      (fts index: HDB_CAP_FULLTEXT is off; checked NOT_SUPPORTED)\n");
    skip();
  }
  EXPECT(db, HDB_OK, st);
  assert_int_equal(index_count(db), 1);
  /* A full-text index on a non-text column is not available. */
  EXPECT(db, HDB_NOT_SUPPORTED, hdb_index_create(db, "cf_idx", "grp", HDB_INDEX_FTS, NULL));
  CHECK(db, hdb_index_drop(db, "cf_idx", "body"));
}

static void test_index_type_names(void **state) {
  (void)state;
  const struct {
    hdb_index_type t;
    const char *name;
  } names[] = {{HDB_INDEX_AUTO, "auto"},     {HDB_INDEX_FLAT, "flat"},
               {HDB_INDEX_HNSW, "hnsw"},     {HDB_INDEX_IVF_PQ, "ivf_pq"},
               {HDB_INDEX_SCALAR, "scalar"}, {HDB_INDEX_FTS, "fts"}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    assert_string_equal(hdb_index_type_name(names[i].t), names[i].name);
    hdb_index_type t = HDB_INDEX_AUTO;
    assert_int_equal(hdb_index_type_from_name(names[i].name, &t), HDB_OK);
    assert_int_equal(t, names[i].t);
  }
  hdb_index_type t;
  assert_int_equal(hdb_index_type_from_name("btree-ish", &t), HDB_INVALID_ARGUMENT);
}

int conf_run_index(void) {
  static const struct CMUnitTest tests[] = {
      CONF_T(test_index_flat_and_scalar_lifecycle),
      CONF_T(test_index_approximate),
      CONF_T(test_index_fulltext),
      CONF_T(test_index_type_names),
  };
  return CONF_RUN_GROUP("index", tests);
}

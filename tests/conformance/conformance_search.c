/*
 * conformance_search.c - exact vector search against a brute-force answer
 * computed in the test (conf_knn), for l2, cosine and dot (the column's
 * metric and an overriding one), dimensions 1, 3, 128 and 1000, filters
 * matching 100%, 10%, 1% and 0% of the rows, k below and above the table
 * size, projection, null vectors, zero vectors, ties, and the column
 * defaulting to the table's only vector column.
 *
 * A result list is right when: it has exactly min(k, matches) rows; every
 * row matches the filter and has a vector; each reported distance equals
 * the reference distance of that row (1e-4 relative); the i-th reported
 * row's distance equals the reference's i-th distance (so only rows at
 * equal distance may trade places); and reported distances never decrease,
 * equal ones ordered by id.
 */
#include "conformance_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct vset {
  const char *table;
  size_t n;
  uint32_t dim;
  hdb_metric metric; /* the column's */
  float *data;       /* n * dim */
  const float **vecs; /* NULL for rows whose vector is null */
  char **ids;
  int *grp;  /* i % 10 */
  int *m100; /* i % 100 */
} vset;

static void vset_free(vset *s) {
  for (size_t i = 0; i < s->n; i++) free(s->ids[i]);
  free(s->ids);
  free(s->vecs);
  free(s->data);
  free(s->grp);
  free(s->m100);
  memset(s, 0, sizeof *s);
}

/* Creates and fills table with n rows of dim-dimensional vectors. Every
 * 17th row has a null vector; row 5 (when it exists) is the zero vector. */
static void vset_load(hdb *db, vset *s, const char *table, size_t n, uint32_t dim,
                      hdb_metric metric, uint64_t seed) {
  memset(s, 0, sizeof *s);
  s->table = table;
  s->n = n;
  s->dim = dim;
  s->metric = metric;
  s->data = malloc(n * dim * sizeof(float));
  s->vecs = calloc(n, sizeof *s->vecs);
  s->ids = calloc(n, sizeof *s->ids);
  s->grp = calloc(n, sizeof(int));
  s->m100 = calloc(n, sizeof(int));
  assert_true(s->data && s->vecs && s->ids && s->grp && s->m100);
  char schema[160];
  snprintf(schema, sizeof schema,
           "{\"v\":\"vector(%u,%s)\",\"grp\":\"int\",\"m100\":\"int\",\"tag\":\"text\"}", dim,
           hdb_metric_name(metric));
  CREATE_TABLE(db, table, schema);
  conf_rng g;
  conf_rng_seed(&g, seed);
  hdb_record **recs = calloc(n, sizeof *recs);
  assert_non_null(recs);
  for (size_t i = 0; i < n; i++) {
    float *v = s->data + i * dim;
    for (uint32_t j = 0; j < dim; j++) v[j] = conf_rng_float(&g, -1.f, 1.f);
    if (i == 5)
      for (uint32_t j = 0; j < dim; j++) v[j] = 0.f;
    char id[16];
    /* Ids in a different order from the rows, zero-padded. */
    snprintf(id, sizeof id, "v%05zu", (i * 7919) % 100003);
    s->ids[i] = strdup(id);
    s->grp[i] = (int)(i % 10);
    s->m100[i] = (int)(i % 100);
    hdb_record *r = recs[i] = conf_rec(id);
    if (i % 17 != 16) {
      s->vecs[i] = v;
      conf_set_vec(r, "v", v, dim);
    } else {
      conf_set_null(r, "v");
    }
    conf_set_int(r, "grp", s->grp[i]);
    conf_set_int(r, "m100", s->m100[i]);
    conf_set_text(r, "tag", (i % 2) ? "odd" : "even");
  }
  /* Several batches, as an application would load them. */
  size_t step = n / 3 + 1;
  for (size_t off = 0; off < n; off += step) {
    size_t m = off + step > n ? n - off : step;
    INSERT_FREE(db, table, recs + off, m);
  }
  free(recs);
}

typedef enum sel { SEL_ALL, SEL_10, SEL_1, SEL_NONE, SEL_ODD } sel;
static const char *const sel_filter[] = {NULL, "grp = 3", "m100 = 7", "grp = 99",
                                         "{\"tag\":\"odd\"}"};

static unsigned char *eligible_for(const vset *s, sel f) {
  unsigned char *e = calloc(s->n ? s->n : 1, 1);
  assert_non_null(e);
  for (size_t i = 0; i < s->n; i++) {
    switch (f) {
      case SEL_ALL: e[i] = 1; break;
      case SEL_10: e[i] = s->grp[i] == 3; break;
      case SEL_1: e[i] = s->m100[i] == 7; break;
      case SEL_NONE: e[i] = 0; break;
      case SEL_ODD: e[i] = (i % 2) == 1; break;
    }
  }
  return e;
}

static long find_row(const vset *s, const char *id) {
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->ids[i], id) == 0) return (long)i;
  return -1;
}

typedef struct got_row {
  char *id;
  double dist;
} got_row;

/* Runs the search and returns its rows (owned; free ids and array). */
static got_row *run_search(hdb *db, const char *table, const hdb_search *sr, size_t *count,
                           const char *file, int line) {
  hdb_cursor *c = NULL;
  hdb_status st = hdb_search_vector(db, table, sr, &c);
  if (st != HDB_OK) {
    print_error("hdb_search_vector(%s, k=%d, metric=%s, filter=%s) -> %s: %s\n", table, sr->k,
                hdb_metric_name(sr->metric), sr->filter ? sr->filter : "NULL",
                hdb_status_name(st), hdb_errmsg(db));
    _fail(file, line);
  }
  size_t n = 0, cap = 16;
  got_row *rows = malloc(cap * sizeof *rows);
  const hdb_record *r;
  while ((st = hdb_cursor_next(c, &r)) == HDB_OK) {
    if (n == cap) rows = realloc(rows, (cap *= 2) * sizeof *rows);
    rows[n].id = strdup(hdb_record_id(r) ? hdb_record_id(r) : "(null)");
    rows[n].dist = hdb_cursor_distance(c);
    n++;
  }
  if (st != HDB_DONE) {
    print_error("search cursor ended with %s: %s\n", hdb_status_name(st), hdb_cursor_errmsg(c));
    hdb_cursor_close(c);
    _fail(file, line);
  }
  hdb_cursor_close(c);
  *count = n;
  return rows;
}

static void free_rows(got_row *rows, size_t n) {
  for (size_t i = 0; i < n; i++) free(rows[i].id);
  free(rows);
}

/* Checks one search against the reference; returns the number of problems
 * (printed). */
static int check_search(hdb *db, const vset *s, const float *q, int k, hdb_metric override,
                        sel f, const char *column) {
  hdb_search sr = HDB_SEARCH_INIT;
  sr.column = column;
  sr.vector = q;
  sr.dim = s->dim;
  sr.k = k;
  sr.metric = override;
  sr.filter = sel_filter[f];
  sr.exact = 0;
  size_t n = 0;
  got_row *rows = run_search(db, s->table, &sr, &n, __FILE__, __LINE__);

  hdb_metric m = override == HDB_METRIC_DEFAULT ? s->metric : override;
  unsigned char *elig = eligible_for(s, f);
  conf_hit *ref = malloc((size_t)k * sizeof *ref);
  assert_non_null(ref);
  size_t nref = conf_knn(m, q, s->dim, s->vecs, (const char *const *)s->ids, elig, s->n,
                         (size_t)k, ref);
  int problems = 0;
  char label[160];
  snprintf(label, sizeof label, "%s dim=%u metric=%s k=%d filter=%s", s->table, s->dim,
           hdb_metric_name(m), k, sel_filter[f] ? sel_filter[f] : "NULL");
  if (n != nref) {
    print_error("  [%s] %zu results, want exactly %zu\n", label, n, nref);
    problems++;
  }
  for (size_t i = 0; i < n && problems < 5; i++) {
    long row = find_row(s, rows[i].id);
    if (row < 0) {
      print_error("  [%s] result %zu: unknown id %s\n", label, i, rows[i].id);
      problems++;
      continue;
    }
    if (!elig[row] || s->vecs[row] == NULL) {
      print_error("  [%s] result %zu: id %s does not match the filter or has no vector\n",
                  label, i, rows[i].id);
      problems++;
      continue;
    }
    double truth = conf_distance(m, q, s->vecs[row], s->dim);
    if (!conf_dist_close(rows[i].dist, truth)) {
      print_error("  [%s] result %zu (%s): distance %.9g, exact %.9g\n", label, i, rows[i].id,
                  rows[i].dist, truth);
      problems++;
    }
    if (i < nref && !conf_dist_close(truth, ref[i].dist)) {
      print_error("  [%s] result %zu is %s (distance %.9g); the exact answer has %s (%.9g)\n",
                  label, i, rows[i].id, truth, ref[i].id, ref[i].dist);
      problems++;
    }
    for (size_t j = 0; j < i; j++)
      if (strcmp(rows[j].id, rows[i].id) == 0) {
        print_error("  [%s] id %s returned twice\n", label, rows[i].id);
        problems++;
      }
    if (i > 0) {
      if (rows[i].dist < rows[i - 1].dist) {
        print_error("  [%s] results %zu,%zu out of order: %.9g then %.9g\n", label, i - 1, i,
                    rows[i - 1].dist, rows[i].dist);
        problems++;
      } else if (rows[i].dist == rows[i - 1].dist && strcmp(rows[i - 1].id, rows[i].id) > 0) {
        print_error("  [%s] equal distances not ordered by id: %s then %s\n", label,
                    rows[i - 1].id, rows[i].id);
        problems++;
      }
    }
  }
  free(ref);
  free(elig);
  free_rows(rows, n);
  return problems;
}

static int search_matrix(hdb *db, const vset *s, uint64_t seed) {
  conf_rng g;
  conf_rng_seed(&g, seed);
  float *q = malloc(s->dim * sizeof *q);
  assert_non_null(q);
  int problems = 0;
  const hdb_metric metrics[] = {HDB_METRIC_DEFAULT, HDB_METRIC_L2, HDB_METRIC_COSINE,
                                HDB_METRIC_DOT};
  const sel sels[] = {SEL_ALL, SEL_10, SEL_1, SEL_NONE, SEL_ODD};
  for (size_t mi = 0; mi < sizeof metrics / sizeof metrics[0]; mi++) {
    for (size_t si = 0; si < sizeof sels / sizeof sels[0]; si++) {
      for (uint32_t j = 0; j < s->dim; j++) q[j] = conf_rng_float(&g, -1.f, 1.f);
      problems += check_search(db, s, q, 10, metrics[mi], sels[si], "v");
      if (sels[si] == SEL_ALL || sels[si] == SEL_10)
        problems += check_search(db, s, q, 1, metrics[mi], sels[si], NULL);
    }
    /* k larger than the table: every row with a vector. */
    problems += check_search(db, s, q, (int)s->n + 50, metrics[mi], SEL_ALL, "v");
  }
  /* A query equal to a stored vector finds that row first at distance ~0 (l2). */
  problems += check_search(db, s, s->vecs[0], 3, HDB_METRIC_L2, SEL_ALL, "v");
  free(q);
  return problems;
}

static int require_vector_search(hdb *db) {
  if (conf_has(HDB_CAP_VECTOR_SEARCH)) return 1;
  CREATE_TABLE(db, "cf_vns", "{\"v\":\"vector(2)\"}");
  const float q[2] = {1, 0};
  hdb_search sr = HDB_SEARCH_INIT;
  sr.vector = q;
  sr.dim = 2;
  sr.k = 1;
  hdb_cursor *c = NULL;
  EXPECT(db, HDB_NOT_SUPPORTED, hdb_search_vector(db, "cf_vns", &sr, &c));
  assert_null(c);
  printf("      (vector search: HDB_CAP_VECTOR_SEARCH is off; checked NOT_SUPPORTED)\n");
  return 0;
}

static void run_dim(uint32_t dim, size_t n, hdb_metric metric, uint64_t seed) {
  hdb *db = conf_db;
  if (!require_vector_search(db)) skip();
  char table[32];
  snprintf(table, sizeof table, "cf_vec%u", dim);
  vset s;
  vset_load(db, &s, table, n, dim, metric, seed);
  int problems = search_matrix(db, &s, seed * 31 + 1);
  vset_free(&s);
  if (problems) fail_msg("%d problem(s) in vector search results (dim %u)", problems, dim);
}

static void test_search_dim1_cosine(void **state) {
  (void)state;
  run_dim(1, 60, HDB_METRIC_COSINE, 11);
}
static void test_search_dim3_l2(void **state) {
  (void)state;
  run_dim(3, 400, HDB_METRIC_L2, 12);
}
static void test_search_dim128_dot(void **state) {
  (void)state;
  run_dim(128, 500, HDB_METRIC_DOT, 13);
}
static void test_search_dim1000_cosine(void **state) {
  (void)state;
  run_dim(1000, 200, HDB_METRIC_COSINE, 14);
}

static void test_search_ties_by_id_and_zero_vector(void **state) {
  (void)state;
  hdb *db = conf_db;
  if (!require_vector_search(db)) skip();
  CREATE_TABLE(db, "cf_ties", "{\"v\":\"vector(2,cosine)\"}");
  const float same[2] = {0.6f, 0.8f};
  const float zero[2] = {0.f, 0.f};
  const float far[2] = {-0.6f, -0.8f};
  hdb_record *r[6] = {conf_rec("t3"), conf_rec("t1"), conf_rec("t2"),
                      conf_rec("z"),  conf_rec("f"),  conf_rec("n")};
  conf_set_vec(r[0], "v", same, 2);
  conf_set_vec(r[1], "v", same, 2);
  conf_set_vec(r[2], "v", same, 2);
  conf_set_vec(r[3], "v", zero, 2);
  conf_set_vec(r[4], "v", far, 2);
  /* n: no vector */
  INSERT_FREE(db, "cf_ties", r, 6);

  hdb_search sr = HDB_SEARCH_INIT;
  sr.vector = same;
  sr.dim = 2;
  sr.k = 10;
  size_t n = 0;
  got_row *rows = run_search(db, "cf_ties", &sr, &n, __FILE__, __LINE__);
  assert_int_equal(n, 5); /* "n" has no vector */
  assert_string_equal(rows[0].id, "t1");
  assert_string_equal(rows[1].id, "t2");
  assert_string_equal(rows[2].id, "t3");
  assert_string_equal(rows[3].id, "z");
  assert_string_equal(rows[4].id, "f");
  assert_true(rows[0].dist == rows[1].dist && rows[1].dist == rows[2].dist);
  assert_true(fabs(rows[0].dist) < 1e-6);
  assert_true(fabs(rows[3].dist - 1.0) < 1e-6); /* cosine with a zero vector is 1 */
  assert_true(fabs(rows[4].dist - 2.0) < 1e-5);
  free_rows(rows, n);

  /* A zero query: every cosine distance is 1; ties by id. */
  sr.vector = zero;
  rows = run_search(db, "cf_ties", &sr, &n, __FILE__, __LINE__);
  assert_int_equal(n, 5);
  const char *order[] = {"f", "t1", "t2", "t3", "z"};
  for (size_t i = 0; i < n; i++) {
    assert_string_equal(rows[i].id, order[i]);
    assert_true(fabs(rows[i].dist - 1.0) < 1e-6);
  }
  free_rows(rows, n);

  /* dot override: distance = -dot. */
  sr.vector = same;
  sr.metric = HDB_METRIC_DOT;
  sr.k = 2;
  rows = run_search(db, "cf_ties", &sr, &n, __FILE__, __LINE__);
  assert_int_equal(n, 2);
  assert_string_equal(rows[0].id, "t1");
  assert_string_equal(rows[1].id, "t2");
  assert_true(fabs(rows[0].dist - (-1.0)) < 1e-6);
  free_rows(rows, n);
}

static void test_search_projection_and_fields(void **state) {
  (void)state;
  hdb *db = conf_db;
  if (!require_vector_search(db)) skip();
  vset s;
  vset_load(db, &s, "cf_vproj", 50, 4, HDB_METRIC_L2, 99);
  hdb_search sr = HDB_SEARCH_INIT;
  sr.vector = s.vecs[1];
  sr.dim = 4;
  sr.k = 5;
  static const char *const fields[] = {"grp"};
  sr.fields = fields;
  sr.n_fields = 1;
  hdb_cursor *c = NULL;
  CHECK(db, hdb_search_vector(db, "cf_vproj", &sr, &c));
  const hdb_record *r;
  size_t n = 0;
  while (hdb_cursor_next(c, &r) == HDB_OK) {
    long row = find_row(&s, hdb_record_id(r));
    assert_true(row >= 0);
    FIELD_INT(r, "grp", s.grp[row]);
    for (size_t i = 0; i < hdb_record_field_count(r); i++) {
      const char *name;
      hdb_value v;
      assert_int_equal(hdb_record_field(r, i, &name, &v), HDB_OK);
      if (strcmp(name, "grp") != 0 && name[0] != '_')
        fail_msg("projected search row %s has field %s", hdb_record_id(r), name);
    }
    if (n == 0) {
      assert_int_equal(row, 1);
      assert_true(fabs(hdb_cursor_distance(c)) < 1e-9);
    }
    n++;
  }
  hdb_cursor_close(c);
  assert_int_equal(n, 5);

  /* No projection: every field, including the vector itself. */
  sr.fields = NULL;
  sr.n_fields = 0;
  sr.k = 1;
  CHECK(db, hdb_search_vector(db, "cf_vproj", &sr, &c));
  assert_int_equal(hdb_cursor_next(c, &r), HDB_OK);
  assert_string_equal(hdb_record_id(r), s.ids[1]);
  FIELD_VEC(r, "v", s.vecs[1], 4);
  FIELD_INT(r, "grp", s.grp[1]);
  FIELD_INT(r, "m100", s.m100[1]);
  FIELD_TEXT(r, "tag", "odd");
  assert_int_equal(hdb_cursor_next(c, &r), HDB_DONE);
  hdb_cursor_close(c);

  /* A projected field that is not a column. */
  static const char *const bad[] = {"nosuch"};
  sr.fields = bad;
  sr.n_fields = 1;
  c = NULL;
  EXPECT(db, HDB_NO_FIELD, hdb_search_vector(db, "cf_vproj", &sr, &c));
  EXPECT_MSG(db, "nosuch");
  assert_null(c);
  vset_free(&s);
}

static void test_search_column_selection(void **state) {
  (void)state;
  hdb *db = conf_db;
  if (!require_vector_search(db)) skip();
  CREATE_TABLE(db, "cf_two", "{\"a\":\"vector(2,l2)\",\"b\":\"vector(3,l2)\",\"n\":\"int\"}");
  const float a1[2] = {1, 0}, a2[2] = {0, 1};
  const float b1[3] = {0, 0, 1}, b2[3] = {1, 0, 0};
  hdb_record *r[2] = {conf_rec("x"), conf_rec("y")};
  conf_set_vec(r[0], "a", a1, 2);
  conf_set_vec(r[0], "b", b1, 3);
  conf_set_vec(r[1], "a", a2, 2);
  conf_set_vec(r[1], "b", b2, 3);
  INSERT_FREE(db, "cf_two", r, 2);

  const float qa[2] = {0, 1};
  const float qb[3] = {0, 0, 1};
  hdb_search sr = HDB_SEARCH_INIT;
  sr.column = "a";
  sr.vector = qa;
  sr.dim = 2;
  sr.k = 1;
  size_t n;
  got_row *rows = run_search(db, "cf_two", &sr, &n, __FILE__, __LINE__);
  assert_int_equal(n, 1);
  assert_string_equal(rows[0].id, "y");
  free_rows(rows, n);
  sr.column = "b";
  sr.vector = qb;
  sr.dim = 3;
  rows = run_search(db, "cf_two", &sr, &n, __FILE__, __LINE__);
  assert_int_equal(n, 1);
  assert_string_equal(rows[0].id, "x");
  free_rows(rows, n);

  /* With two vector columns, NULL does not pick one. */
  sr.column = NULL;
  hdb_cursor *c = NULL;
  hdb_status st = hdb_search_vector(db, "cf_two", &sr, &c);
  if (st == HDB_OK) {
    hdb_cursor_close(c);
    fail_msg("search with column NULL on a table with two vector columns succeeded");
  }
  assert_null(c);
  /* Not a vector column; not a column. */
  sr.column = "n";
  sr.dim = 3;
  EXPECT(db, HDB_NO_FIELD, hdb_search_vector(db, "cf_two", &sr, &c));
  EXPECT_MSG(db, "n");
  sr.column = "nosuch";
  EXPECT(db, HDB_NO_FIELD, hdb_search_vector(db, "cf_two", &sr, &c));
  EXPECT_MSG(db, "nosuch");
}

static void test_search_bad_input(void **state) {
  (void)state;
  hdb *db = conf_db;
  if (!require_vector_search(db)) skip();
  CREATE_TABLE(db, "cf_vbad", "{\"v\":\"vector(3)\",\"n\":\"int\"}");
  const float v[3] = {1, 2, 3};
  hdb_record *r[1] = {conf_rec("a")};
  conf_set_vec(r[0], "v", v, 3);
  INSERT_FREE(db, "cf_vbad", r, 1);

  hdb_search sr = HDB_SEARCH_INIT;
  sr.vector = v;
  sr.dim = 3;
  sr.k = 1;
  hdb_cursor *c = NULL;
  sr.dim = 2;
  EXPECT(db, HDB_DIMENSION, hdb_search_vector(db, "cf_vbad", &sr, &c));
  assert_null(c);
  const float v4[4] = {1, 2, 3, 4}; /* the query holds dim floats */
  sr.vector = v4;
  sr.dim = 4;
  EXPECT(db, HDB_DIMENSION, hdb_search_vector(db, "cf_vbad", &sr, &c));
  sr.vector = v;
  sr.dim = 3;
  const float nanq[3] = {1, NAN, 3};
  const float infq[3] = {1, 2, -INFINITY};
  sr.vector = nanq;
  EXPECT(db, HDB_NOT_FINITE, hdb_search_vector(db, "cf_vbad", &sr, &c));
  sr.vector = infq;
  EXPECT(db, HDB_NOT_FINITE, hdb_search_vector(db, "cf_vbad", &sr, &c));
  sr.vector = v;
  sr.k = 0;
  EXPECT(db, HDB_INVALID_ARGUMENT, hdb_search_vector(db, "cf_vbad", &sr, &c));
  sr.k = -3;
  EXPECT(db, HDB_INVALID_ARGUMENT, hdb_search_vector(db, "cf_vbad", &sr, &c));
  sr.k = 1;
  sr.vector = NULL;
  EXPECT(db, HDB_INVALID_ARGUMENT, hdb_search_vector(db, "cf_vbad", &sr, &c));
  sr.vector = v;
  sr.filter = "n = = 2";
  EXPECT(db, HDB_BAD_FILTER, hdb_search_vector(db, "cf_vbad", &sr, &c));
  sr.filter = "nosuch = 2";
  EXPECT(db, HDB_NO_FIELD, hdb_search_vector(db, "cf_vbad", &sr, &c));
  sr.filter = NULL;
  EXPECT(db, HDB_NO_TABLE, hdb_search_vector(db, "cf_vbad_missing", &sr, &c));
  EXPECT_MSG(db, "cf_vbad_missing");
  EXPECT(db, HDB_INVALID_ARGUMENT, hdb_search_vector(db, "cf_vbad", NULL, &c));
  EXPECT(db, HDB_INVALID_ARGUMENT, hdb_search_vector(db, "cf_vbad", &sr, NULL));
  assert_null(c);
  /* Still works after all that. */
  CHECK(db, hdb_search_vector(db, "cf_vbad", &sr, &c));
  const hdb_record *rec;
  assert_int_equal(hdb_cursor_next(c, &rec), HDB_OK);
  assert_string_equal(hdb_record_id(rec), "a");
  hdb_cursor_close(c);
}

static void test_search_sees_writes(void **state) {
  (void)state;
  hdb *db = conf_db;
  if (!require_vector_search(db)) skip();
  CREATE_TABLE(db, "cf_vw", "{\"v\":\"vector(2)\"}");
  const float a[2] = {0, 0}, b[2] = {5, 5}, q[2] = {5, 5};
  hdb_record *r[2] = {conf_rec("a"), conf_rec("b")};
  conf_set_vec(r[0], "v", a, 2);
  conf_set_vec(r[1], "v", b, 2);
  INSERT_FREE(db, "cf_vw", r, 2);
  hdb_search sr = HDB_SEARCH_INIT;
  sr.vector = q;
  sr.dim = 2;
  sr.k = 1;
  size_t n;
  got_row *rows = run_search(db, "cf_vw", &sr, &n, __FILE__, __LINE__);
  assert_int_equal(n, 1);
  assert_string_equal(rows[0].id, "b");
  free_rows(rows, n);
  /* Deleted rows disappear; updated vectors move. */
  CHECK(db, hdb_delete(db, "cf_vw", "b"));
  hdb_record *patch = conf_rec(NULL);
  const float moved[2] = {4, 4};
  conf_set_vec(patch, "v", moved, 2);
  CHECK(db, hdb_update(db, "cf_vw", "a", patch));
  hdb_record_free(patch);
  sr.k = 5;
  rows = run_search(db, "cf_vw", &sr, &n, __FILE__, __LINE__);
  assert_int_equal(n, 1);
  assert_string_equal(rows[0].id, "a");
  assert_true(fabs(rows[0].dist - 2.0) < 1e-6);
  free_rows(rows, n);
}

int conf_run_search(void) {
  static const struct CMUnitTest tests[] = {
      CONF_T(test_search_dim1_cosine),
      CONF_T(test_search_dim3_l2),
      CONF_T(test_search_dim128_dot),
      CONF_T(test_search_dim1000_cosine),
      CONF_T(test_search_ties_by_id_and_zero_vector),
      CONF_T(test_search_projection_and_fields),
      CONF_T(test_search_column_selection),
      CONF_T(test_search_bad_input),
      CONF_T(test_search_sees_writes),
  };
  return CONF_RUN_GROUP("search", tests);
}

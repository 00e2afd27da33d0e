/*
 * test_pg_cache.c - the table cache (src/backends/postgres/pg_cache.c)
 * never serves stale metadata as data: another handle (its own pool) or
 * another process drops a table and recreates it with another schema, or
 * indexes it, and the first handle's next search, get and insert give the
 * new table's rows and types, or a clear error (HDB_DIMENSION,
 * HDB_NO_TABLE), never rows decoded with the old schema. Runs with
 * pgvector off (bytea columns: the streamed search) and, when the server
 * has the extension, on (vector columns: the ordered and index searches).
 */
#include <sys/wait.h>
#include <unistd.h>

#include "pg_test_util.h"

static int have_pgvector(void) {
  char buf[1024];
  hdb *db = pg_open_url(pg_url_with(buf, sizeof buf, "pgvector=auto"));
  int on = (hdb_capabilities(db) & HDB_CAP_INDEX_HNSW) != 0;
  hdb_close(db);
  return on;
}

/* A handle in its own pool (application_name differs), so nothing of the
 * first handle's cache is shared with it. */
static hdb *open_as(const char *mode, const char *app) {
  char params[128], buf[1024];
  snprintf(params, sizeof params, "pgvector=%s%s%s", mode, app ? "&application_name=" : "",
           app ? app : "");
  return pg_open_url(pg_url_with(buf, sizeof buf, params));
}

/* t(n INT, v vector(4)): rows a0..a<n-1>, n = i, v = (i, 0, 0, 0). */
static void make_int_table(hdb *db, const char *t, int rows) {
  hdb_schema *s = hdb_schema_new();
  hdb_schema_add(s, "n", HDB_TYPE_INT);
  hdb_schema_add_vector(s, "v", 4, HDB_METRIC_L2);
  PG_CHECK(db, hdb_table_drop(db, t, HDB_IF_EXISTS));
  PG_CHECK(db, hdb_table_create(db, t, s, 0));
  hdb_schema_free(s);
  for (int i = 0; i < rows; i++) {
    char id[16];
    snprintf(id, sizeof id, "a%d", i);
    float v[4] = {(float)i, 0, 0, 0};
    hdb_record *r = hdb_record_new(id);
    hdb_record_set_int(r, "n", i);
    hdb_record_set_vector(r, "v", v, 4);
    PG_CHECK(db, hdb_insert(db, t, &r, 1));
    hdb_record_free(r);
  }
}

/* t(label TEXT, n FLOAT, v vector(dim)): rows b0..b<n-1>, n = i + 0.5,
 * label "L<i>", v = (i + 0.25, 0, ...). Column order and types differ
 * from make_int_table's. */
static void make_float_table(hdb *db, const char *t, int rows, uint32_t dim) {
  hdb_schema *s = hdb_schema_new();
  hdb_schema_add(s, "label", HDB_TYPE_TEXT);
  hdb_schema_add(s, "n", HDB_TYPE_FLOAT);
  hdb_schema_add_vector(s, "v", dim, HDB_METRIC_L2);
  PG_CHECK(db, hdb_table_drop(db, t, HDB_IF_EXISTS));
  PG_CHECK(db, hdb_table_create(db, t, s, 0));
  hdb_schema_free(s);
  for (int i = 0; i < rows; i++) {
    char id[16], label[16];
    snprintf(id, sizeof id, "b%d", i);
    snprintf(label, sizeof label, "L%d", i);
    float v[16] = {0};
    v[0] = (float)i + 0.25f;
    hdb_record *r = hdb_record_new(id);
    hdb_record_set_text(r, "label", label);
    hdb_record_set_float(r, "n", i + 0.5);
    hdb_record_set_vector(r, "v", v, dim);
    PG_CHECK(db, hdb_insert(db, t, &r, 1));
    hdb_record_free(r);
  }
}

/* Searches (0,0,0,...) for k rows; *cur receives the cursor or NULL. */
static hdb_status search0(hdb *db, const char *t, uint32_t dim, int k, int exact,
                          const char *const *fields, size_t nf, hdb_cursor **cur) {
  float q[16] = {0};
  hdb_search s = HDB_SEARCH_INIT;
  s.vector = q;
  s.dim = dim;
  s.k = k;
  s.exact = exact;
  s.fields = fields;
  s.n_fields = nf;
  *cur = NULL;
  return hdb_search_vector(db, t, &s, cur);
}

/* The search must return rows a0, a1, .. with int n = i. */
static void expect_int_rows(hdb *db, const char *t, int k, int exact) {
  hdb_cursor *c;
  PG_CHECK(db, search0(db, t, 4, k, exact, NULL, 0, &c));
  const hdb_record *r;
  int i = 0;
  while (hdb_cursor_next(c, &r) == HDB_OK) {
    char id[16];
    snprintf(id, sizeof id, "a%d", i);
    assert_string_equal(hdb_record_id(r), id);
    hdb_value v;
    assert_int_equal(hdb_record_get(r, "n", &v), HDB_OK);
    assert_int_equal(v.type, HDB_TYPE_INT);
    assert_int_equal(v.as.i, i);
    i++;
  }
  hdb_cursor_close(c);
  assert_int_equal(i, k);
}

/* The search must return rows b0, b1, .. with float n = i + 0.5 and
 * label L<i>; with a projection (label only, or v and n) just those. */
static void expect_float_rows(hdb *db, const char *t, uint32_t dim, int k, int exact, int proj) {
  static const char *const only_label[] = {"label"};
  static const char *const v_and_n[] = {"v", "n"};
  hdb_cursor *c;
  PG_CHECK(db, search0(db, t, dim, k, exact, proj == 1 ? only_label : proj == 2 ? v_and_n : NULL,
                       proj ? (proj == 1 ? 1 : 2) : 0, &c));
  const hdb_record *r;
  int i = 0;
  while (hdb_cursor_next(c, &r) == HDB_OK) {
    char id[16], label[16];
    snprintf(id, sizeof id, "b%d", i);
    snprintf(label, sizeof label, "L%d", i);
    assert_string_equal(hdb_record_id(r), id);
    double want_d = ((double)i + 0.25) * ((double)i + 0.25);
    assert_true(hdb_cursor_distance(c) == want_d);
    hdb_value v;
    if (proj != 1) {
      assert_int_equal(hdb_record_get(r, "n", &v), HDB_OK);
      assert_int_equal(v.type, HDB_TYPE_FLOAT);
      assert_true(v.as.f == i + 0.5);
    } else {
      assert_int_not_equal(hdb_record_get(r, "n", &v), HDB_OK);
    }
    if (proj != 2) {
      assert_int_equal(hdb_record_get(r, "label", &v), HDB_OK);
      assert_int_equal(v.type, HDB_TYPE_TEXT);
      assert_string_equal(v.as.text.data, label);
    } else {
      assert_int_not_equal(hdb_record_get(r, "label", &v), HDB_OK);
    }
    if (proj == 2) {
      assert_int_equal(hdb_record_get(r, "v", &v), HDB_OK);
      assert_int_equal(v.type, HDB_TYPE_VECTOR);
      assert_int_equal(v.as.vector.dim, dim);
      assert_true(v.as.vector.data[0] == (float)i + 0.25f);
    }
    i++;
  }
  hdb_cursor_close(c);
  assert_int_equal(i, k);
}

static void recreate_elsewhere(const char *mode) {
  hdb *a = open_as(mode, NULL);
  hdb *b = open_as(mode, "hdb_cache_other");
  const char *t = "cache_t";
  make_int_table(a, t, 5);
  for (int exact = 0; exact < 2; exact++) expect_int_rows(a, t, 3, exact); /* cached now */
  hdb_record *g0 = NULL;
  PG_CHECK(a, hdb_get(a, t, "a2", &g0)); /* and the get statement prepared */
  hdb_record_free(g0);

  /* Another handle (another pool): the same columns with another type
   * (the statement text is the same: its prepared plan must not be
   * used), then other columns. */
  {
    hdb_schema *s = hdb_schema_new();
    hdb_schema_add(s, "n", HDB_TYPE_FLOAT);
    hdb_schema_add_vector(s, "v", 4, HDB_METRIC_L2);
    PG_CHECK(b, hdb_table_drop(b, t, 0));
    PG_CHECK(b, hdb_table_create(b, t, s, 0));
    hdb_schema_free(s);
    for (int i = 0; i < 4; i++) {
      char id[16];
      snprintf(id, sizeof id, "a%d", i);
      float v[4] = {(float)i, 0, 0, 0};
      hdb_record *r = hdb_record_new(id);
      hdb_record_set_float(r, "n", i + 0.5);
      hdb_record_set_vector(r, "v", v, 4);
      PG_CHECK(b, hdb_insert(b, t, &r, 1));
      hdb_record_free(r);
    }
    for (int exact = 0; exact < 2; exact++) {
      hdb_cursor *c;
      PG_CHECK(a, search0(a, t, 4, 3, exact, NULL, 0, &c));
      const hdb_record *r;
      int i = 0;
      while (hdb_cursor_next(c, &r) == HDB_OK) {
        hdb_value v;
        assert_int_equal(hdb_record_get(r, "n", &v), HDB_OK);
        assert_int_equal(v.type, HDB_TYPE_FLOAT);
        assert_true(v.as.f == i + 0.5);
        i++;
      }
      hdb_cursor_close(c);
      assert_int_equal(i, 3);
    }
    hdb_record *g = NULL;
    PG_CHECK(a, hdb_get(a, t, "a2", &g));
    hdb_value v;
    assert_int_equal(hdb_record_get(g, "n", &v), HDB_OK);
    assert_int_equal(v.type, HDB_TYPE_FLOAT);
    assert_true(v.as.f == 2.5);
    hdb_record_free(g);
  }
  make_float_table(b, t, 5, 4);
  for (int exact = 0; exact < 2; exact++)
    for (int proj = 0; proj < 3; proj++) expect_float_rows(a, t, 4, 3, exact, proj);
  /* get and insert on the first handle see the new schema too */
  hdb_record *got = NULL;
  PG_CHECK(a, hdb_get(a, t, "b2", &got));
  hdb_value v;
  assert_int_equal(hdb_record_get(got, "n", &v), HDB_OK);
  assert_int_equal(v.type, HDB_TYPE_FLOAT);
  assert_true(v.as.f == 2.5);
  hdb_record_free(got);
  float vv[4] = {9, 0, 0, 0};
  hdb_record *r = hdb_record_new("new");
  hdb_record_set_text(r, "label", "fresh");
  hdb_record_set_float(r, "n", 7.25);
  hdb_record_set_vector(r, "v", vv, 4);
  PG_CHECK(a, hdb_insert(a, t, &r, 1));
  hdb_record_free(r);
  PG_CHECK(b, hdb_get(b, t, "new", &got));
  assert_int_equal(hdb_record_get(got, "n", &v), HDB_OK);
  assert_int_equal(v.type, HDB_TYPE_FLOAT);
  assert_true(v.as.f == 7.25);
  hdb_record_free(got);

  /* Recreated with another dimension: the old one is a clear error, the
   * new one works. */
  make_float_table(b, t, 4, 8);
  hdb_cursor *c;
  PG_EXPECT(a, HDB_DIMENSION, search0(a, t, 4, 3, 0, NULL, 0, &c));
  assert_null(c);
  expect_float_rows(a, t, 8, 3, 0, 0);

  /* And back to the first schema, then gone. */
  make_int_table(b, t, 5);
  expect_int_rows(a, t, 3, 0);
  PG_CHECK(b, hdb_table_drop(b, t, 0));
  PG_EXPECT(a, HDB_NO_TABLE, search0(a, t, 4, 3, 0, NULL, 0, &c));
  PG_EXPECT(a, HDB_NO_TABLE, hdb_get(a, t, "a1", &got));
  hdb_close(b);
  hdb_close(a);
}

static void test_recreate_elsewhere_bytea(void **state) {
  (void)state;
  recreate_elsewhere("off");
}

static void test_recreate_elsewhere_pgvector(void **state) {
  (void)state;
  if (!have_pgvector()) skip();
  recreate_elsewhere("on");
}

/* The same handle (and pool) drops and recreates: its own DDL drops the
 * cached entry at once. */
static void test_recreate_same_handle(void **state) {
  (void)state;
  const char *mode = have_pgvector() ? "on" : "off";
  hdb *a = open_as(mode, NULL);
  make_int_table(a, "cache_s", 4);
  expect_int_rows(a, "cache_s", 3, 0);
  make_float_table(a, "cache_s", 4, 4);
  expect_float_rows(a, "cache_s", 4, 3, 0, 0);
  /* inside a transaction the catalog is read in it */
  PG_CHECK(a, hdb_begin(a));
  expect_float_rows(a, "cache_s", 4, 3, 1, 2);
  PG_CHECK(a, hdb_commit(a));
  PG_CHECK(a, hdb_table_drop(a, "cache_s", 0));
  hdb_close(a);
}

/* Another process recreates the table with another schema and creates an
 * index on it; the parent's cached entry goes stale and is replaced. */
static void test_recreate_other_process(void **state) {
  (void)state;
  int pgv = have_pgvector();
  const char *mode = pgv ? "on" : "off";
  hdb *a = open_as(mode, NULL);
  make_int_table(a, "cache_p", 40);
  expect_int_rows(a, "cache_p", 5, 0);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    /* A new process: its own pool, its own connections. */
    char buf[1024], params[64];
    snprintf(params, sizeof params, "pgvector=%s", mode);
    hdb *b = NULL;
    hdb_error err;
    int ok = hdb_open(pg_url_with(buf, sizeof buf, params), &b, &err) == HDB_OK;
    if (ok) {
      make_float_table(b, "cache_p", 40, 4);
      if (pgv) ok = hdb_index_create(b, "cache_p", "v", HDB_INDEX_HNSW, NULL) == HDB_OK;
      hdb_close(b);
    }
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  expect_float_rows(a, "cache_p", 4, 5, 0, 0); /* through the new index when pgvector */
  expect_float_rows(a, "cache_p", 4, 5, 1, 1);
  /* the index dropped elsewhere: still the right rows */
  if (pgv) {
    hdb *b = open_as(mode, "hdb_cache_other");
    PG_CHECK(b, hdb_index_drop(b, "cache_p", "v"));
    hdb_close(b);
    expect_float_rows(a, "cache_p", 4, 5, 0, 2);
  }
  PG_CHECK(a, hdb_table_drop(a, "cache_p", 0));
  hdb_close(a);
}

int main(int argc, char **argv) {
  pg_usage(argc, argv);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_recreate_elsewhere_bytea),
      cmocka_unit_test(test_recreate_elsewhere_pgvector),
      cmocka_unit_test(test_recreate_same_handle),
      cmocka_unit_test(test_recreate_other_process),
  };
  return cmocka_run_group_tests_name("postgres.cache", tests, NULL, NULL);
}

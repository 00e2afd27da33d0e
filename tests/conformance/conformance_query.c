/*
 * conformance_query.c - hdb_query and cursors: sort ascending/descending on
 * one and several keys (nulls first ascending, last descending, ties by id),
 * limit/offset, projection (the id always comes, only the listed fields),
 * a cursor streaming every row of a 10k-row table, and counts.
 *
 * The expected order is computed in the test from the data it inserted.
 */
#include "conformance_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SORT_N 60

typedef struct srow {
  char id[8];
  int has_a;
  int64_t a;
  const char *b; /* NULL: null */
  double c;
  int has_k; /* meta.k */
  int k;
} srow;

static srow srows[SORT_N];
static const char *const bvals[] = {NULL, "x", "y", "z", "Y"};

static void load_sort_table(hdb *db) {
  CREATE_TABLE(db, "cf_sort", "{\"a\":\"int\",\"b\":\"text\",\"c\":\"float\",\"meta\":\"json\"}");
  conf_rng g;
  conf_rng_seed(&g, 7);
  hdb_record *recs[SORT_N];
  for (int i = 0; i < SORT_N; i++) {
    srow *s = &srows[i];
    /* Ids not in insertion order, so "ties by id" is visible. */
    snprintf(s->id, sizeof s->id, "s%02d", (i * 37) % SORT_N);
    uint64_t u = conf_rng_u64(&g);
    s->has_a = (u % 6) != 0;
    s->a = (int64_t)((u >> 8) % 4) - 1; /* -1..2: many ties */
    s->b = bvals[(u >> 16) % 5];
    s->c = (double)conf_rng_float(&g, -10.f, 10.f);
    s->has_k = ((u >> 24) % 3) != 0;
    s->k = (int)((u >> 32) % 5);
    hdb_record *r = recs[i] = conf_rec(s->id);
    if (s->has_a) conf_set_int(r, "a", s->a);
    if (s->b) conf_set_text(r, "b", s->b);
    conf_set_float(r, "c", s->c);
    char meta[32];
    if (s->has_k)
      snprintf(meta, sizeof meta, "{\"k\":%d}", s->k);
    else
      snprintf(meta, sizeof meta, "{\"other\":1}");
    conf_set_json(r, "meta", meta);
  }
  INSERT_FREE(db, "cf_sort", recs, SORT_N);
}

static const hdb_sort_key *cur_keys;
static size_t cur_n;

/* Compares one key; nulls first ascending, last descending. */
static int cmp_key(const srow *x, const srow *y, const hdb_sort_key *k) {
  int xn, yn, r = 0;
  if (strcmp(k->field, "a") == 0) {
    xn = !x->has_a;
    yn = !y->has_a;
    if (!xn && !yn) r = (x->a > y->a) - (x->a < y->a);
  } else if (strcmp(k->field, "b") == 0) {
    xn = x->b == NULL;
    yn = y->b == NULL;
    if (!xn && !yn) r = strcmp(x->b, y->b);
  } else if (strcmp(k->field, "c") == 0) {
    xn = yn = 0;
    r = (x->c > y->c) - (x->c < y->c);
  } else { /* meta.k */
    xn = !x->has_k;
    yn = !y->has_k;
    if (!xn && !yn) r = (x->k > y->k) - (x->k < y->k);
  }
  if (xn || yn) r = xn && yn ? 0 : (xn ? -1 : 1); /* null is smallest */
  return k->descending ? -r : r;
}

static int cmp_srow(const void *pa, const void *pb) {
  const srow *x = pa, *y = pb;
  for (size_t i = 0; i < cur_n; i++) {
    int r = cmp_key(x, y, &cur_keys[i]);
    if (r) return r;
  }
  return strcmp(x->id, y->id);
}

static char *expected_order(const hdb_sort_key *keys, size_t n, uint64_t offset, uint64_t limit) {
  srow copy[SORT_N];
  memcpy(copy, srows, sizeof copy);
  cur_keys = keys;
  cur_n = n;
  qsort(copy, SORT_N, sizeof copy[0], cmp_srow);
  char *out = strdup("");
  for (uint64_t i = offset; i < SORT_N && (limit == 0 || i < offset + limit); i++)
    out = conf_join_append(out, copy[i].id);
  return out;
}

static void check_sort(hdb *db, const hdb_sort_key *keys, size_t n, uint64_t offset,
                       uint64_t limit, const char *filter_for_label) {
  hdb_query_options q = HDB_QUERY_INIT;
  q.sort = keys;
  q.n_sort = n;
  q.offset = offset;
  q.limit = limit;
  char *got = QUERY_IDS(db, "cf_sort", &q, 0);
  char *want = expected_order(keys, n, offset, limit);
  if (strcmp(got, want) != 0) {
    char label[128] = "";
    for (size_t i = 0; i < n; i++) {
      size_t l = strlen(label);
      snprintf(label + l, sizeof label - l, "%s%s %s", i ? ", " : "", keys[i].field,
               keys[i].descending ? "desc" : "asc");
    }
    fail_msg("sort [%s] offset %llu limit %llu%s\n  got    %s\n  wanted %s", label,
             (unsigned long long)offset, (unsigned long long)limit, filter_for_label, got, want);
  }
  free(got);
  free(want);
}

static void test_query_sort_small_by_hand(void **state) {
  (void)state;
  hdb *db = conf_db;
  CREATE_TABLE(db, "cf_sort4", "{\"a\":\"int\",\"b\":\"text\"}");
  hdb_record *r[5] = {conf_rec("d"), conf_rec("b"), conf_rec("c"), conf_rec("a"), conf_rec("e")};
  conf_set_int(r[0], "a", 2);
  conf_set_text(r[0], "b", "p");
  conf_set_int(r[1], "a", 1);
  conf_set_text(r[1], "b", "q");
  /* c: a null */
  conf_set_text(r[2], "b", "p");
  conf_set_int(r[3], "a", 2);
  conf_set_text(r[3], "b", "q");
  conf_set_int(r[4], "a", 1);
  INSERT_FREE(db, "cf_sort4", r, 5);

  hdb_sort_key k1[1] = {{"a", 0}};
  hdb_query_options q = HDB_QUERY_INIT;
  q.sort = k1;
  q.n_sort = 1;
  char *ids = QUERY_IDS(db, "cf_sort4", &q, 0);
  assert_string_equal(ids, "c,b,e,a,d"); /* null first, ties by id */
  free(ids);
  k1[0].descending = 1;
  ids = QUERY_IDS(db, "cf_sort4", &q, 0);
  assert_string_equal(ids, "a,d,b,e,c"); /* null last, ties still by id ascending */
  free(ids);
  hdb_sort_key k2[2] = {{"b", 1}, {"a", 0}};
  q.sort = k2;
  q.n_sort = 2;
  ids = QUERY_IDS(db, "cf_sort4", &q, 0);
  assert_string_equal(ids, "b,a,c,d,e"); /* q(1,2) p(null,2) null(1) */
  free(ids);
  /* "id" sorts by the record id. */
  hdb_sort_key kid[1] = {{"id", 1}};
  q.sort = kid;
  q.n_sort = 1;
  ids = QUERY_IDS(db, "cf_sort4", &q, 0);
  assert_string_equal(ids, "e,d,c,b,a");
  free(ids);
}

static void test_query_sort_generated(void **state) {
  (void)state;
  hdb *db = conf_db;
  load_sort_table(db);
  const hdb_sort_key a_asc[] = {{"a", 0}};
  const hdb_sort_key a_desc[] = {{"a", 1}};
  const hdb_sort_key b_asc[] = {{"b", 0}};
  const hdb_sort_key c_desc[] = {{"c", 1}};
  const hdb_sort_key a_b[] = {{"a", 0}, {"b", 1}};
  const hdb_sort_key b_a[] = {{"b", 1}, {"a", 0}};
  const hdb_sort_key b_a_c[] = {{"b", 0}, {"a", 1}, {"c", 0}};
  const hdb_sort_key meta_k[] = {{"meta.k", 0}};
  const hdb_sort_key meta_k_desc[] = {{"meta.k", 1}, {"a", 0}};
  check_sort(db, a_asc, 1, 0, 0, "");
  check_sort(db, a_desc, 1, 0, 0, "");
  check_sort(db, b_asc, 1, 0, 0, "");
  check_sort(db, c_desc, 1, 0, 0, "");
  check_sort(db, a_b, 2, 0, 0, "");
  check_sort(db, b_a, 2, 0, 0, "");
  check_sort(db, b_a_c, 3, 0, 0, "");
  check_sort(db, meta_k, 1, 0, 0, "");
  check_sort(db, meta_k_desc, 2, 0, 0, "");
  /* limit and offset apply after sorting. */
  check_sort(db, a_b, 2, 0, 7, "");
  check_sort(db, a_b, 2, 5, 10, "");
  check_sort(db, b_a, 2, 55, 10, "");
  check_sort(db, b_a, 2, 59, 0, "");
  check_sort(db, c_desc, 1, 60, 5, "");
  check_sort(db, c_desc, 1, 1000, 0, "");
}

static void test_query_limit_offset_unsorted_stable(void **state) {
  (void)state;
  hdb *db = conf_db;
  load_sort_table(db);
  hdb_query_options q = HDB_QUERY_INIT;
  char *all = QUERY_IDS(db, "cf_sort", &q, 0);
  char *again = QUERY_IDS(db, "cf_sort", &q, 0);
  assert_string_equal(all, again); /* stable */
  free(again);
  /* Without sort, pages are slices of the backend's stable order. */
  char *pages = strdup("");
  for (uint64_t off = 0; off < SORT_N; off += 7) {
    q.offset = off;
    q.limit = 7;
    char *page = QUERY_IDS(db, "cf_sort", &q, 0);
    if (page[0]) pages = conf_join_append(pages, page);
    free(page);
  }
  assert_string_equal(pages, all);
  free(pages);
  free(all);
  q.offset = 3;
  q.limit = 0; /* no limit */
  char *rest = QUERY_IDS(db, "cf_sort", &q, 0);
  size_t commas = 0;
  for (const char *p = rest; *p; p++) commas += *p == ',';
  assert_int_equal(commas + 1, SORT_N - 3);
  free(rest);
  /* With a filter. */
  q.filter = "a = 1";
  q.offset = 0;
  q.limit = 2;
  char *two = QUERY_IDS(db, "cf_sort", &q, 0);
  q.limit = 0;
  char *full = QUERY_IDS(db, "cf_sort", &q, 0);
  assert_true(strncmp(full, two, strlen(two)) == 0);
  free(two);
  free(full);
}

static void check_projection(hdb *db, const char *const *fields, size_t nf) {
  hdb_query_options q = HDB_QUERY_INIT;
  q.fields = fields;
  q.n_fields = nf;
  const hdb_sort_key key[] = {{"c", 0}};
  q.sort = key;
  q.n_sort = 1;
  hdb_cursor *c = NULL;
  CHECK(db, hdb_query(db, "cf_sort", &q, &c));
  const hdb_record *r;
  hdb_status st;
  size_t rows = 0;
  while ((st = hdb_cursor_next(c, &r)) == HDB_OK) {
    rows++;
    const char *id = hdb_record_id(r);
    assert_non_null(id);
    const srow *s = NULL;
    for (int i = 0; i < SORT_N; i++)
      if (strcmp(srows[i].id, id) == 0) s = &srows[i];
    assert_non_null(s);
    for (size_t i = 0; i < hdb_record_field_count(r); i++) {
      const char *name;
      hdb_value v;
      assert_int_equal(hdb_record_field(r, i, &name, &v), HDB_OK);
      int listed = 0;
      for (size_t j = 0; j < nf; j++) listed |= strcmp(fields[j], name) == 0;
      if (!listed) fail_msg("projection: row %s has unlisted field %s", id, name);
    }
    for (size_t j = 0; j < nf; j++) {
      if (strcmp(fields[j], "a") == 0) {
        if (s->has_a) FIELD_INT(r, "a", s->a);
        else FIELD_NULL(r, "a");
      } else if (strcmp(fields[j], "b") == 0) {
        if (s->b) FIELD_TEXT(r, "b", s->b);
        else FIELD_NULL(r, "b");
      } else if (strcmp(fields[j], "c") == 0) {
        FIELD_FLOAT(r, "c", s->c);
      }
    }
  }
  assert_int_equal(st, HDB_DONE);
  assert_int_equal(rows, SORT_N);
  /* A finished cursor stays finished; a query cursor has no distance. */
  assert_int_equal(hdb_cursor_next(c, &r), HDB_DONE);
  assert_true(isnan(hdb_cursor_distance(c)));
  hdb_cursor_close(c);
}

static void test_query_projection(void **state) {
  (void)state;
  hdb *db = conf_db;
  load_sort_table(db);
  static const char *const f_b[] = {"b"};
  static const char *const f_ca[] = {"c", "a"};
  check_projection(db, f_b, 1);
  check_projection(db, f_ca, 2);
  /* A projection with a field not in a strict table is NO_FIELD. */
  static const char *const f_bad[] = {"a", "nosuch"};
  hdb_query_options q = HDB_QUERY_INIT;
  q.fields = f_bad;
  q.n_fields = 2;
  hdb_cursor *c = NULL;
  EXPECT(db, HDB_NO_FIELD, hdb_query(db, "cf_sort", &q, &c));
  EXPECT_MSG(db, "nosuch");
  assert_null(c);
}

static void test_query_cursor_streams_10k(void **state) {
  (void)state;
  hdb *db = conf_db;
  CREATE_TABLE(db, "cf_big", "{\"n\":\"int\",\"g\":\"int\"}");
  enum { N = 10000 };
  hdb_record **recs = calloc(N, sizeof *recs);
  assert_non_null(recs);
  char id[16];
  for (int i = 0; i < N; i++) {
    snprintf(id, sizeof id, "b%05d", i);
    recs[i] = conf_rec(id);
    conf_set_int(recs[i], "n", i);
    conf_set_int(recs[i], "g", i % 10);
  }
  INSERT_FREE(db, "cf_big", recs, N);
  free(recs);

  assert_int_equal(COUNT(db, "cf_big", NULL), N);
  assert_int_equal(COUNT(db, "cf_big", "g = 3"), N / 10);
  assert_int_equal(COUNT(db, "cf_big", "n >= 9990 OR n < 5"), 15);
  assert_int_equal(COUNT(db, "cf_big", "{\"g\":{\"$in\":[1,2]},\"n\":{\"$lt\":100}}"), 20);

  unsigned char *seen = calloc(N, 1);
  assert_non_null(seen);
  hdb_query_options q = HDB_QUERY_INIT;
  hdb_cursor *c = NULL;
  CHECK(db, hdb_query(db, "cf_big", &q, &c));
  const hdb_record *r;
  hdb_status st;
  size_t rows = 0;
  while ((st = hdb_cursor_next(c, &r)) == HDB_OK) {
    hdb_value v;
    assert_int_equal(hdb_record_get(r, "n", &v), HDB_OK);
    assert_int_equal(v.type, HDB_TYPE_INT);
    assert_in_range(v.as.i, 0, N - 1);
    char want[16];
    snprintf(want, sizeof want, "b%05d", (int)v.as.i);
    assert_string_equal(hdb_record_id(r), want);
    if (seen[v.as.i]) fail_msg("row %s streamed twice", want);
    seen[v.as.i] = 1;
    rows++;
  }
  if (st != HDB_DONE) fail_msg("cursor ended with %s: %s", hdb_status_name(st), hdb_cursor_errmsg(c));
  hdb_cursor_close(c);
  assert_int_equal(rows, N);
  free(seen);

  /* Sorted descending, with a filter, limited. */
  const hdb_sort_key key[] = {{"n", 1}};
  q.sort = key;
  q.n_sort = 1;
  q.filter = "g = 7";
  q.limit = 3;
  char *ids = QUERY_IDS(db, "cf_big", &q, 0);
  assert_string_equal(ids, "b09997,b09987,b09977");
  free(ids);
}

static void test_query_unknown_sort_field(void **state) {
  (void)state;
  hdb *db = conf_db;
  load_sort_table(db);
  const hdb_sort_key key[] = {{"a", 0}, {"nosuch", 1}};
  hdb_query_options q = HDB_QUERY_INIT;
  q.sort = key;
  q.n_sort = 2;
  hdb_cursor *c = NULL;
  EXPECT(db, HDB_NO_FIELD, hdb_query(db, "cf_sort", &q, &c));
  EXPECT_MSG(db, "nosuch");
  assert_null(c);
}

int conf_run_query(void) {
  static const struct CMUnitTest tests[] = {
      CONF_T(test_query_sort_small_by_hand),
      CONF_T(test_query_sort_generated),
      CONF_T(test_query_limit_offset_unsorted_stable),
      CONF_T(test_query_projection),
      CONF_T(test_query_cursor_streams_10k),
      CONF_T(test_query_unknown_sort_field),
  };
  return CONF_RUN_GROUP("query", tests);
}

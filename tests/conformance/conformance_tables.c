/*
 * conformance_tables.c - table lifecycle: create with every column type,
 * schema round trip, sorted listing, drop, IF_NOT_EXISTS / IF_EXISTS, name
 * rules, and schemaless tables (HDB_CAP_SCHEMALESS).
 */
#include "conformance_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct col_spec {
  const char *name;
  hdb_type type;
  uint32_t dim;
  hdb_metric metric;
} col_spec;

static const col_spec all_types[] = {
    {"b", HDB_TYPE_BOOL, 0, HDB_METRIC_DEFAULT},
    {"i", HDB_TYPE_INT, 0, HDB_METRIC_DEFAULT},
    {"f", HDB_TYPE_FLOAT, 0, HDB_METRIC_DEFAULT},
    {"t", HDB_TYPE_TEXT, 0, HDB_METRIC_DEFAULT},
    {"bl", HDB_TYPE_BLOB, 0, HDB_METRIC_DEFAULT},
    {"ts", HDB_TYPE_TIMESTAMP, 0, HDB_METRIC_DEFAULT},
    {"j", HDB_TYPE_JSON, 0, HDB_METRIC_DEFAULT},
    {"v_l2", HDB_TYPE_VECTOR, 3, HDB_METRIC_L2},
    {"v_cos", HDB_TYPE_VECTOR, 5, HDB_METRIC_COSINE},
    {"v_dot", HDB_TYPE_VECTOR, 1000, HDB_METRIC_DOT},
};
#define N_ALL_TYPES (sizeof all_types / sizeof all_types[0])

static hdb_schema *build_all_types(void) {
  hdb_schema *s = hdb_schema_new();
  assert_non_null(s);
  for (size_t i = 0; i < N_ALL_TYPES; i++) {
    hdb_status st = all_types[i].type == HDB_TYPE_VECTOR
                        ? hdb_schema_add_vector(s, all_types[i].name, all_types[i].dim,
                                                all_types[i].metric)
                        : hdb_schema_add(s, all_types[i].name, all_types[i].type);
    assert_int_equal(st, HDB_OK);
  }
  /* A vector column with the default metric means L2. */
  assert_int_equal(hdb_schema_add_vector(s, "v_def", 2, HDB_METRIC_DEFAULT), HDB_OK);
  return s;
}

static void expect_all_types(const hdb_schema *s) {
  assert_non_null(s);
  assert_int_equal(hdb_schema_column_count(s), N_ALL_TYPES + 1);
  for (size_t i = 0; i < N_ALL_TYPES; i++) {
    hdb_column_info ci;
    assert_int_equal(hdb_schema_column(s, i, &ci), HDB_OK);
    assert_string_equal(ci.name, all_types[i].name);
    if (ci.type != all_types[i].type)
      fail_msg("column %s: type %s, want %s", ci.name, hdb_type_name(ci.type),
               hdb_type_name(all_types[i].type));
    if (all_types[i].type == HDB_TYPE_VECTOR) {
      assert_int_equal(ci.dim, all_types[i].dim);
      if (ci.metric != all_types[i].metric)
        fail_msg("column %s: metric %s, want %s", ci.name, hdb_metric_name(ci.metric),
                 hdb_metric_name(all_types[i].metric));
    }
    assert_int_equal(hdb_schema_find(s, all_types[i].name), (long)i);
  }
  hdb_column_info ci;
  assert_int_equal(hdb_schema_column(s, N_ALL_TYPES, &ci), HDB_OK);
  assert_string_equal(ci.name, "v_def");
  assert_int_equal(ci.type, HDB_TYPE_VECTOR);
  assert_int_equal(ci.dim, 2);
  assert_true(ci.metric == HDB_METRIC_L2 || ci.metric == HDB_METRIC_DEFAULT);
  assert_int_equal(hdb_schema_column(s, N_ALL_TYPES + 1, &ci), HDB_NOT_FOUND);
  assert_int_equal(hdb_schema_find(s, "nope"), -1);
}

static void test_table_create_every_type_schema_roundtrip(void **state) {
  (void)state;
  hdb *db = conf_db;
  hdb_schema *s = build_all_types();
  CHECK(db, hdb_table_create(db, "cf_all", s, 0));
  hdb_schema_free(s);

  hdb_schema *back = NULL;
  CHECK(db, hdb_table_schema(db, "cf_all", &back));
  expect_all_types(back);
  hdb_schema_free(back);

  /* The same schema through its JSON form. */
  const char *json =
      "{\"b\":\"bool\",\"i\":\"int\",\"f\":\"float\",\"t\":\"text\",\"bl\":\"blob\","
      "\"ts\":\"timestamp\",\"j\":\"json\",\"v_l2\":\"vector(3,l2)\","
      "\"v_cos\":\"vector(5,cosine)\",\"v_dot\":\"vector(1000,dot)\",\"v_def\":\"vector(2)\"}";
  CREATE_TABLE(db, "cf_all_json", json);
  back = NULL;
  CHECK(db, hdb_table_schema(db, "cf_all_json", &back));
  expect_all_types(back);
  hdb_schema_free(back);

  /* A new table is empty. */
  assert_int_equal(COUNT(db, "cf_all", NULL), 0);
  char *ids = FILTER_IDS(db, "cf_all", NULL);
  assert_string_equal(ids, "");
  free(ids);
}

static void test_table_list_sorted(void **state) {
  (void)state;
  hdb *db = conf_db;
  const char *names[] = {"cf_tb", "cf_ta", "cf_tc_z", "cf_tB", "cf_t1", "cf_tab"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    CREATE_TABLE(db, names[i], "{\"x\":\"int\"}");
  char *list = conf_table_names(db);
  assert_string_equal(list, "cf_t1,cf_tB,cf_ta,cf_tab,cf_tb,cf_tc_z");
  free(list);

  /* The whole list, not only ours, is in ascending byte order. */
  char **all = NULL;
  size_t count = 0;
  CHECK(db, hdb_table_list(db, &all, &count));
  assert_true(count >= 6);
  for (size_t i = 1; i < count; i++)
    if (strcmp(all[i - 1], all[i]) >= 0)
      fail_msg("table list not sorted: %s before %s", all[i - 1], all[i]);
  hdb_strings_free(all, count);
}

static void test_table_drop(void **state) {
  (void)state;
  hdb *db = conf_db;
  CREATE_TABLE(db, "cf_drop", "{\"x\":\"int\"}");
  CREATE_TABLE(db, "cf_keep", "{\"x\":\"int\"}");
  hdb_record *r[1] = {conf_rec("a")};
  conf_set_int(r[0], "x", 1);
  INSERT_FREE(db, "cf_drop", r, 1);

  CHECK(db, hdb_table_drop(db, "cf_drop", 0));
  char *list = conf_table_names(db);
  assert_string_equal(list, "cf_keep");
  free(list);

  hdb_record *got = NULL;
  EXPECT(db, HDB_NO_TABLE, hdb_get(db, "cf_drop", "a", &got));
  assert_null(got);
  EXPECT(db, HDB_NO_TABLE, hdb_table_drop(db, "cf_drop", 0));
  EXPECT_MSG(db, "cf_drop");
  CHECK(db, hdb_table_drop(db, "cf_drop", HDB_IF_EXISTS));

  /* Recreated under the same name, the table starts empty. */
  CREATE_TABLE(db, "cf_drop", "{\"y\":\"text\"}");
  assert_int_equal(COUNT(db, "cf_drop", NULL), 0);
  hdb_schema *s = NULL;
  CHECK(db, hdb_table_schema(db, "cf_drop", &s));
  assert_non_null(s);
  assert_int_equal(hdb_schema_column_count(s), 1);
  assert_int_equal(hdb_schema_find(s, "y"), 0);
  assert_int_equal(hdb_schema_find(s, "x"), -1);
  hdb_schema_free(s);
}

static void test_table_if_not_exists(void **state) {
  (void)state;
  hdb *db = conf_db;
  CREATE_TABLE(db, "cf_ine", "{\"x\":\"int\"}");
  hdb_record *r[1] = {conf_rec("a")};
  conf_set_int(r[0], "x", 7);
  INSERT_FREE(db, "cf_ine", r, 1);

  hdb_schema *other = hdb_schema_new();
  assert_non_null(other);
  assert_int_equal(hdb_schema_add(other, "z", HDB_TYPE_TEXT), HDB_OK);
  EXPECT(db, HDB_EXISTS, hdb_table_create(db, "cf_ine", other, 0));
  EXPECT_MSG(db, "cf_ine");
  CHECK(db, hdb_table_create(db, "cf_ine", other, HDB_IF_NOT_EXISTS));
  hdb_schema_free(other);

  /* Neither call replaced the table: schema and rows are as before. */
  hdb_schema *s = NULL;
  CHECK(db, hdb_table_schema(db, "cf_ine", &s));
  assert_non_null(s);
  assert_int_equal(hdb_schema_column_count(s), 1);
  assert_int_equal(hdb_schema_find(s, "x"), 0);
  hdb_schema_free(s);
  assert_int_equal(COUNT(db, "cf_ine", NULL), 1);
  hdb_record *got = GET(db, "cf_ine", "a");
  FIELD_INT(got, "x", 7);
  hdb_record_free(got);
}

static void test_table_bad_names(void **state) {
  (void)state;
  hdb *db = conf_db;
  hdb_schema *s = hdb_schema_new();
  assert_non_null(s);
  assert_int_equal(hdb_schema_add(s, "x", HDB_TYPE_INT), HDB_OK);
  const char *bad[] = {"", "1abc", "cf_a-b", "cf a", "cf_a.b", "cf_é"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    EXPECT(db, HDB_INVALID_ARGUMENT, hdb_table_create(db, bad[i], s, 0));
  char longname[HDB_MAX_NAME_LEN + 2];
  memset(longname, 'a', sizeof longname);
  memcpy(longname, "cf_", 3);
  longname[HDB_MAX_NAME_LEN] = '\0'; /* exactly the limit: fine */
  CHECK(db, hdb_table_create(db, longname, s, 0));
  longname[HDB_MAX_NAME_LEN] = 'a';
  longname[HDB_MAX_NAME_LEN + 1] = '\0'; /* one past */
  EXPECT(db, HDB_INVALID_ARGUMENT, hdb_table_create(db, longname, s, 0));
  hdb_schema_free(s);

  char *list = conf_table_names(db);
  longname[HDB_MAX_NAME_LEN] = '\0';
  assert_string_equal(list, longname);
  free(list);
}

static void test_table_schemaless(void **state) {
  (void)state;
  hdb *db = conf_db;
  if (!conf_has(HDB_CAP_SCHEMALESS)) {
    EXPECT(db, HDB_NOT_SUPPORTED, hdb_table_create(db, "cf_free", NULL, 0));
    char *list = conf_table_names(db);
    assert_string_equal(list, "");
    free(list);
    printf("      (schemaless tables: HDB_CAP_SCHEMALESS is off; checked NOT_SUPPORTED)\n");
    skip();
  }
  CHECK(db, hdb_table_create(db, "cf_free", NULL, 0));
  hdb_schema *s = (hdb_schema *)1;
  CHECK(db, hdb_table_schema(db, "cf_free", &s));
  assert_null(s);

  hdb_record *r[3] = {conf_rec("a"), conf_rec("b"), conf_rec("c")};
  conf_set_int(r[0], "x", 1);
  conf_set_text(r[0], "name", "alpha");
  conf_set_text(r[1], "x", "one"); /* another type for the same field: fine here */
  conf_set_json(r[1], "meta", "{\"k\":[1,2]}");
  const float v[2] = {0.5f, -0.25f};
  conf_set_vec(r[2], "emb", v, 2);
  conf_set_bool(r[2], "flag", 1);
  INSERT_FREE(db, "cf_free", r, 3);

  hdb_record *got = GET(db, "cf_free", "a");
  FIELD_INT(got, "x", 1);
  FIELD_TEXT(got, "name", "alpha");
  hdb_record_free(got);
  got = GET(db, "cf_free", "b");
  FIELD_TEXT(got, "x", "one");
  FIELD_JSON(got, "meta", "{\"k\":[1,2]}");
  hdb_record_free(got);
  got = GET(db, "cf_free", "c");
  FIELD_VEC(got, "emb", v, 2);
  FIELD_BOOL(got, "flag", 1);
  hdb_record_free(got);

  /* Filters on fields some rows lack are unknown there, not errors. */
  char *ids = FILTER_IDS(db, "cf_free", "x = 1");
  assert_string_equal(ids, "a");
  free(ids);
  ids = FILTER_IDS(db, "cf_free", "nosuch = 1");
  assert_string_equal(ids, "");
  free(ids);
  ids = FILTER_IDS(db, "cf_free", "flag");
  assert_string_equal(ids, "c");
  free(ids);
  ids = FILTER_IDS(db, "cf_free", "meta.k IS NOT NULL");
  assert_string_equal(ids, "b");
  free(ids);
  assert_int_equal(COUNT(db, "cf_free", "name IS NULL"), 2);
}

int conf_run_tables(void) {
  static const struct CMUnitTest tests[] = {
      CONF_T(test_table_create_every_type_schema_roundtrip),
      CONF_T(test_table_list_sorted),
      CONF_T(test_table_drop),
      CONF_T(test_table_if_not_exists),
      CONF_T(test_table_bad_names),
      CONF_T(test_table_schemaless),
  };
  return CONF_RUN_GROUP("tables", tests);
}

/*
 * test_pg_evil.c - values that would break SQL built by pasting text:
 * quotes, doubled quotes, backslashes, semicolons, comments, SQL keywords
 * and statements, dollar quoting, placeholders, NUL-free control bytes and
 * non-ASCII text, as ids, text values, json keys and values, filter
 * literals, LIKE patterns and KV keys. Every one round-trips exactly,
 * filters find exactly the rows they name, and the tables are intact.
 */
#include "pg_test_util.h"

static const char *const evil[] = {
    "'",
    "''",
    "\\",
    "\\'",
    "'; DROP TABLE evil_t; --",
    "\"; DROP TABLE \"evil_t\"; --",
    "Robert'); DELETE FROM _hanzo_tables; --",
    "$1",
    "$$ dollar $$",
    "$tag$ quoted $tag$",
    "/* comment */ SELECT 1",
    "SELECT * FROM pg_user WHERE 'a'='a'",
    "OR 1=1",
    "%_%",
    "line\nbreak\ttab\r",
    "caf\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x94\x91",
    "E'\\x41'",
    "\\x00\\u0000",
};
enum { N = sizeof evil / sizeof evil[0] };

static void test_evil_strings(void **state) {
  (void)state;
  hdb *db = pg_open_url(pg_url);
  hdb_schema *s = NULL;
  hdb_error err;
  assert_int_equal(hdb_schema_from_json("{\"t\":\"text\",\"i\":\"int\",\"meta\":\"json\"}", &s, &err), HDB_OK);
  PG_CHECK(db, hdb_table_drop(db, "evil_t", HDB_IF_EXISTS));
  PG_CHECK(db, hdb_table_create(db, "evil_t", s, 0));
  hdb_schema_free(s);
  PG_CHECK(db, hdb_table_drop(db, "evil_free", HDB_IF_EXISTS));
  PG_CHECK(db, hdb_table_create(db, "evil_free", NULL, 0));

  hdb_record *recs[N], *free_recs[N];
  for (int i = 0; i < N; i++) {
    recs[i] = hdb_record_new(evil[i]);
    hdb_record_set_text(recs[i], "t", evil[i]);
    hdb_record_set_int(recs[i], "i", i);
    /* The evil string as a json key and value. */
    char *js = NULL;
    hdb_record *tmp = hdb_record_new("x");
    hdb_record_set_text(tmp, "v", evil[i]);
    assert_int_equal(hdb_record_to_json(tmp, &js), HDB_OK); /* {"id":"x","v":"..."} */
    const char *val = strstr(js, "\"v\":") + 4;
    size_t vlen = strlen(val) - 1; /* drop the closing brace */
    char meta[1024];
    snprintf(meta, sizeof meta, "{%.*s:%.*s}", (int)vlen, val, (int)vlen, val);
    PG_CHECK(db, hdb_record_set_json(recs[i], "meta", meta));
    hdb_free(js);
    hdb_record_free(tmp);
    free_recs[i] = hdb_record_clone(recs[i]);
  }
  PG_CHECK(db, hdb_insert(db, "evil_t", recs, N));
  PG_CHECK(db, hdb_insert(db, "evil_free", free_recs, N));
  PG_CHECK(db, hdb_upsert(db, "evil_t", recs, N));

  const char *tables[2] = {"evil_t", "evil_free"};
  for (int tb = 0; tb < 2; tb++) {
    for (int i = 0; i < N; i++) {
      hdb_record *got = NULL;
      PG_CHECK(db, hdb_get(db, tables[tb], evil[i], &got));
      hdb_value v;
      assert_int_equal(hdb_record_get(got, "t", &v), HDB_OK);
      assert_int_equal(v.as.text.len, strlen(evil[i]));
      assert_memory_equal(v.as.text.data, evil[i], v.as.text.len);
      assert_string_equal(hdb_record_id(got), evil[i]);
      hdb_record_free(got);

      /* The same string as a filter literal, in both syntaxes. */
      char filter[1024], *w = filter;
      w += sprintf(w, "t = '");
      for (const char *p = evil[i]; *p; p++) {
        if (*p == '\'') *w++ = '\'';
        *w++ = *p;
      }
      sprintf(w, "'");
      uint64_t n = 0;
      PG_CHECK(db, hdb_count(db, tables[tb], filter, &n));
      assert_int_equal(n, 1);
      /* And inside a json document, by key. */
      char *js = NULL;
      hdb_record *tmp = hdb_record_new("x");
      hdb_record_set_text(tmp, "t", evil[i]);
      hdb_record_to_json(tmp, &js); /* {"id":"x","t":"..."} */
      char jf[1024];
      snprintf(jf, sizeof jf, "{%s", strstr(js, "\"t\":"));
      PG_CHECK(db, hdb_count(db, tables[tb], jf, &n));
      assert_int_equal(n, 1);
      hdb_free(js);
      hdb_record_free(tmp);
      hdb_query_options q = HDB_QUERY_INIT;
      q.filter = filter;
      hdb_cursor *c = NULL;
      PG_CHECK(db, hdb_query(db, tables[tb], &q, &c));
      const hdb_record *row;
      assert_int_equal(hdb_cursor_next(c, &row), HDB_OK);
      assert_string_equal(hdb_record_id(row), evil[i]);
      assert_int_equal(hdb_cursor_next(c, &row), HDB_DONE);
      hdb_cursor_close(c);
    }
    /* LIKE with the characters that are special to LIKE, escaped. */
    uint64_t n = 0;
    PG_CHECK(db, hdb_count(db, tables[tb], "t LIKE '\\%\\_\\%'", &n));
    assert_int_equal(n, 1);
    PG_CHECK(db, hdb_count(db, tables[tb], "t LIKE '%DROP TABLE%'", &n));
    assert_int_equal(n, 2);
    /* Update and delete by evil id and filter. */
    hdb_record *patch = hdb_record_new(NULL);
    hdb_record_set_text(patch, "t", "'; patched --");
    PG_CHECK(db, hdb_update(db, tables[tb], evil[4], patch));
    uint64_t upd = 0;
    PG_CHECK(db, hdb_update_where(db, tables[tb], "t = '''; patched --'", patch, &upd));
    assert_int_equal(upd, 1);
    hdb_record_free(patch);
    PG_CHECK(db, hdb_delete(db, tables[tb], evil[6]));
    PG_CHECK(db, hdb_count(db, tables[tb], NULL, &n));
    assert_int_equal(n, N - 1);
  }
  /* KV keys and values. */
  for (int i = 0; i < N; i++) {
    PG_CHECK(db, hdb_kv_put(db, "evil/ns", evil[i], strlen(evil[i]), evil[i], strlen(evil[i])));
    void *v = NULL;
    size_t vl = 0;
    PG_CHECK(db, hdb_kv_get(db, "evil/ns", evil[i], strlen(evil[i]), &v, &vl));
    assert_int_equal(vl, strlen(evil[i]));
    assert_memory_equal(v, evil[i], vl);
    hdb_free(v);
  }
  hdb_kv_iter *it = NULL;
  PG_CHECK(db, hdb_kv_iter_open(db, "evil/ns", NULL, &it));
  size_t count = 0;
  const void *k, *v;
  size_t kl, vl;
  while (hdb_kv_iter_next(it, &k, &kl, &v, &vl) == HDB_OK) count++;
  hdb_kv_iter_free(it);
  assert_int_equal(count, N);
  /* Nothing was dropped or deleted behind our back. */
  char **names = NULL;
  size_t nn = 0;
  PG_CHECK(db, hdb_table_list(db, &names, &nn));
  int seen = 0;
  for (size_t i = 0; i < nn; i++) seen += !strcmp(names[i], "evil_t") + !strcmp(names[i], "evil_free");
  hdb_strings_free(names, nn);
  assert_int_equal(seen, 2);
  for (int i = 0; i < N; i++) {
    hdb_record_free(recs[i]);
    hdb_record_free(free_recs[i]);
    PG_CHECK(db, hdb_kv_delete(db, "evil/ns", evil[i], strlen(evil[i])));
  }
  PG_CHECK(db, hdb_table_drop(db, "evil_t", 0));
  PG_CHECK(db, hdb_table_drop(db, "evil_free", 0));
  hdb_close(db);
}

int main(int argc, char **argv) {
  pg_usage(argc, argv);
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_evil_strings)};
  return cmocka_run_group_tests_name("postgres.evil", tests, NULL, NULL);
}

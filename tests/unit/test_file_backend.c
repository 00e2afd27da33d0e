/*
 * test_file_backend.c - the file:// backend through the public API: values
 * of every type surviving close/reopen, two handles and two processes
 * seeing each other's writes, CSV parsing/inference/round trip, corrupt
 * files reported with their line, I/O failures that leave memory and disk
 * unchanged, transactions and conflicts, lock timeouts, and the roll-forward
 * of a commit journal left by a crashed writer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hanzodb.h"
#include "core/alloc.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static char g_dir[256];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static int setup_dir(void **state) {
  (void)state;
  snprintf(g_dir, sizeof g_dir, "/tmp/hdb-file-test-XXXXXX");
  if (!mkdtemp(g_dir)) return -1;
  return 0;
}

static int teardown_dir(void **state) {
  (void)state;
  nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  return 0;
}

static char *pathf(const char *fmt, ...) {
  static char buf[4][512];
  static int k;
  char *p = buf[k++ % 4];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p, 512, fmt, ap);
  va_end(ap);
  return p;
}

static hdb *open_url(const char *url) {
  hdb *db = NULL;
  hdb_error err;
  hdb_status st = hdb_open(url, &db, &err);
  if (st != HDB_OK) fail_msg("open %s: %s: %s", url, hdb_status_name(st), err.message);
  return db;
}

static hdb *open_dir(void) { return open_url(pathf("file://%s", g_dir)); }

#define OK(db, call)                                                                          \
  do {                                                                                        \
    hdb_status st_ = (call);                                                                  \
    if (st_ != HDB_OK) fail_msg("%s: %s: %s", #call, hdb_status_name(st_), hdb_errmsg(db));   \
  } while (0)

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *p = malloc((size_t)n + 1);
  assert_non_null(p);
  assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
  p[n] = '\0';
  fclose(f);
  if (len) *len = (size_t)n;
  return p;
}

static int file_exists(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0;
}

static uint64_t count_rows(hdb *db, const char *table) {
  uint64_t n = 0;
  OK(db, hdb_count(db, table, NULL, &n));
  return n;
}

static void insert_text(hdb *db, const char *table, const char *id, const char *field,
                        const char *text) {
  hdb_record *r = hdb_record_new(id);
  assert_int_equal(hdb_record_set_text(r, field, text), HDB_OK);
  OK(db, hdb_insert(db, table, &r, 1));
  hdb_record_free(r);
}

static hdb_value get_value(const hdb_record *r, const char *field) {
  hdb_value v;
  if (hdb_record_get(r, field, &v) != HDB_OK) fail_msg("record has no field '%s'", field);
  return v;
}

/* ------------------------------------------------------------------ */
/* Persistence                                                         */
/* ------------------------------------------------------------------ */

static hdb_schema *all_types_schema(void) {
  hdb_schema *s = hdb_schema_new();
  assert_int_equal(hdb_schema_add(s, "b", HDB_TYPE_BOOL), HDB_OK);
  assert_int_equal(hdb_schema_add(s, "i", HDB_TYPE_INT), HDB_OK);
  assert_int_equal(hdb_schema_add(s, "f", HDB_TYPE_FLOAT), HDB_OK);
  assert_int_equal(hdb_schema_add(s, "t", HDB_TYPE_TEXT), HDB_OK);
  assert_int_equal(hdb_schema_add(s, "bl", HDB_TYPE_BLOB), HDB_OK);
  assert_int_equal(hdb_schema_add(s, "ts", HDB_TYPE_TIMESTAMP), HDB_OK);
  assert_int_equal(hdb_schema_add(s, "j", HDB_TYPE_JSON), HDB_OK);
  assert_int_equal(hdb_schema_add_vector(s, "v", 3, HDB_METRIC_COSINE), HDB_OK);
  return s;
}

static const unsigned char BLOB[] = {0, 1, 2, 0xff, '\n', '"', ',', 0x80};
static const float VEC[3] = {0.1f, -2.5f, 3.0e-8f};

static hdb_record *all_types_record(const char *id) {
  hdb_record *r = hdb_record_new(id);
  assert_int_equal(hdb_record_set_bool(r, "b", 1), HDB_OK);
  assert_int_equal(hdb_record_set_int(r, "i", INT64_C(-9007199254740993)), HDB_OK);
  assert_int_equal(hdb_record_set_float(r, "f", 2.0), HDB_OK);
  assert_int_equal(hdb_record_set_text(r, "t", "line1\nline2, \"quoted\" \xc3\xa9"), HDB_OK);
  assert_int_equal(hdb_record_set_blob(r, "bl", BLOB, sizeof BLOB), HDB_OK);
  assert_int_equal(hdb_record_set_timestamp(r, "ts", INT64_C(1705744800123456)), HDB_OK);
  assert_int_equal(hdb_record_set_json(r, "j", "{\"a\":[1,2.5,\"x\"],\"b\":null}"), HDB_OK);
  assert_int_equal(hdb_record_set_vector(r, "v", VEC, 3), HDB_OK);
  return r;
}

static void check_all_types(hdb *db, const char *table) {
  hdb_record *r = NULL;
  OK(db, hdb_get(db, table, "all", &r));
  hdb_value v = get_value(r, "b");
  assert_int_equal(v.type, HDB_TYPE_BOOL);
  assert_true(v.as.boolean);
  v = get_value(r, "i");
  assert_int_equal(v.type, HDB_TYPE_INT);
  assert_true(v.as.i == INT64_C(-9007199254740993));
  v = get_value(r, "f");
  assert_int_equal(v.type, HDB_TYPE_FLOAT);
  assert_true(v.as.f == 2.0);
  v = get_value(r, "t");
  assert_int_equal(v.type, HDB_TYPE_TEXT);
  assert_string_equal(v.as.text.data, "line1\nline2, \"quoted\" \xc3\xa9");
  v = get_value(r, "bl");
  assert_int_equal(v.type, HDB_TYPE_BLOB);
  assert_int_equal(v.as.blob.len, sizeof BLOB);
  assert_memory_equal(v.as.blob.data, BLOB, sizeof BLOB);
  v = get_value(r, "ts");
  assert_int_equal(v.type, HDB_TYPE_TIMESTAMP);
  assert_true(v.as.timestamp_us == INT64_C(1705744800123456));
  v = get_value(r, "j");
  assert_int_equal(v.type, HDB_TYPE_JSON);
  assert_string_equal(v.as.text.data, "{\"a\":[1,2.5,\"x\"],\"b\":null}");
  v = get_value(r, "v");
  assert_int_equal(v.type, HDB_TYPE_VECTOR);
  assert_int_equal(v.as.vector.dim, 3);
  assert_memory_equal(v.as.vector.data, VEC, sizeof VEC);
  hdb_record_free(r);

  OK(db, hdb_get(db, table, "nulls", &r));
  assert_int_equal(hdb_record_get(r, "i", &v) == HDB_OK ? v.type : HDB_TYPE_NULL, HDB_TYPE_NULL);
  hdb_record_free(r);
}

static void test_persist_every_type(void **state) {
  (void)state;
  hdb *db = open_dir();
  assert_true(hdb_capabilities(db) & HDB_CAP_PERSISTENT);
  assert_true(hdb_capabilities(db) & HDB_CAP_KV);
  hdb_schema *s = all_types_schema();
  OK(db, hdb_table_create(db, "typed", s, 0));
  hdb_schema_free(s);
  hdb_record *rows[2] = {all_types_record("all"), hdb_record_new("nulls")};
  assert_int_equal(hdb_record_set_null(rows[1], "i"), HDB_OK);
  OK(db, hdb_insert(db, "typed", rows, 2));
  hdb_record_free(rows[0]);
  hdb_record_free(rows[1]);
  OK(db, hdb_index_create(db, "typed", "i", HDB_INDEX_SCALAR, NULL));

  /* Schemaless: JSON-native values keep their types. */
  OK(db, hdb_table_create(db, "loose", NULL, 0));
  hdb_record *r = hdb_record_new("x");
  hdb_record_set_float(r, "f", 1.0);
  hdb_record_set_int(r, "big", INT64_MAX);
  hdb_record_set_text(r, "s", "t");
  hdb_record_set_blob(r, "bl", BLOB, sizeof BLOB);
  hdb_record_set_json(r, "meta", "{\"lang\":\"en\"}");
  OK(db, hdb_insert(db, "loose", &r, 1));
  hdb_record_free(r);

  /* KV in two namespaces, binary keys and values. */
  OK(db, hdb_kv_put(db, NULL, "k\0ey", 4, "v\0al", 4));
  OK(db, hdb_kv_put(db, "agent/memory", "a", 1, "", 0));
  OK(db, hdb_kv_put(db, "agent/memory", "b", 1, "2", 1));
  OK(db, hdb_kv_delete(db, "agent/memory", "b", 1));
  hdb_close(db);

  assert_true(file_exists(pathf("%s/typed.jsonl", g_dir)));
  assert_true(file_exists(pathf("%s/typed.schema.json", g_dir)));
  assert_false(file_exists(pathf("%s/loose.schema.json", g_dir)));
  assert_true(file_exists(pathf("%s/_indexes.json", g_dir)));
  assert_true(file_exists(pathf("%s/_kv.jsonl", g_dir)));

  db = open_dir();
  check_all_types(db, "typed");
  hdb_schema *back = NULL;
  OK(db, hdb_table_schema(db, "typed", &back));
  assert_int_equal(hdb_schema_column_count(back), 8);
  hdb_column_info ci;
  assert_int_equal(hdb_schema_column(back, 7, &ci), HDB_OK);
  assert_int_equal(ci.type, HDB_TYPE_VECTOR);
  assert_int_equal(ci.dim, 3);
  assert_int_equal(ci.metric, HDB_METRIC_COSINE);
  hdb_schema_free(back);
  OK(db, hdb_table_schema(db, "loose", &back));
  assert_null(back);

  hdb_index_info *infos = NULL;
  size_t n = 0;
  OK(db, hdb_index_list(db, "typed", &infos, &n));
  assert_int_equal(n, 1);
  assert_string_equal(infos[0].column, "i");
  assert_int_equal(infos[0].type, HDB_INDEX_SCALAR);
  hdb_index_info_free(infos, n);

  OK(db, hdb_get(db, "loose", "x", &r));
  hdb_value v = get_value(r, "f");
  assert_int_equal(v.type, HDB_TYPE_FLOAT);
  v = get_value(r, "big");
  assert_int_equal(v.type, HDB_TYPE_INT);
  assert_true(v.as.i == INT64_MAX);
  v = get_value(r, "bl");
  assert_int_equal(v.type, HDB_TYPE_BLOB);
  v = get_value(r, "meta");
  assert_int_equal(v.type, HDB_TYPE_JSON);
  hdb_record_free(r);

  void *val = NULL;
  size_t vlen = 0;
  OK(db, hdb_kv_get(db, NULL, "k\0ey", 4, &val, &vlen));
  assert_int_equal(vlen, 4);
  assert_memory_equal(val, "v\0al", 4);
  hdb_free(val);
  OK(db, hdb_kv_get(db, "agent/memory", "a", 1, &val, &vlen));
  assert_int_equal(vlen, 0);
  hdb_free(val);
  assert_int_equal(hdb_kv_get(db, "agent/memory", "b", 1, &val, &vlen), HDB_NOT_FOUND);

  /* Drop deletes the files and the index entry. */
  OK(db, hdb_table_drop(db, "typed", 0));
  assert_false(file_exists(pathf("%s/typed.jsonl", g_dir)));
  assert_false(file_exists(pathf("%s/typed.schema.json", g_dir)));
  assert_false(file_exists(pathf("%s/_indexes.json", g_dir)));
  assert_false(file_exists(pathf("%s/_journal", g_dir)));
  hdb_close(db);
}

/* ------------------------------------------------------------------ */
/* Sharing                                                             */
/* ------------------------------------------------------------------ */

static void test_two_handles(void **state) {
  (void)state;
  hdb *a = open_dir(), *b = open_dir();
  OK(a, hdb_table_create(a, "docs", NULL, 0));
  insert_text(a, "docs", "d1", "title", "one");

  hdb_record *r = NULL;
  OK(b, hdb_get(b, "docs", "d1", &r));
  assert_string_equal(get_value(r, "title").as.text.data, "one");
  hdb_record_free(r);

  hdb_record *patch = hdb_record_new(NULL);
  hdb_record_set_text(patch, "title", "uno");
  OK(b, hdb_update(b, "docs", "d1", patch));
  hdb_record_free(patch);
  insert_text(b, "docs", "d2", "title", "two");
  OK(a, hdb_get(a, "docs", "d1", &r));
  assert_string_equal(get_value(r, "title").as.text.data, "uno");
  hdb_record_free(r);
  assert_int_equal(count_rows(a, "docs"), 2);

  OK(a, hdb_kv_put(a, "", "k", 1, "v", 1));
  int found = 0;
  OK(b, hdb_kv_has(b, "", "k", 1, &found));
  assert_true(found);

  OK(b, hdb_table_drop(b, "docs", 0));
  char **names = NULL;
  size_t n = 9;
  OK(a, hdb_table_list(a, &names, &n));
  assert_int_equal(n, 0);
  hdb_strings_free(names, n);
  assert_int_equal(hdb_get(a, "docs", "d1", &r), HDB_NO_TABLE);

  /* A file changed behind our back (a text editor, another tool) is seen. */
  write_file(pathf("%s/notes.jsonl", g_dir), "{\"id\":\"n1\",\"x\":1}\n");
  assert_int_equal(count_rows(a, "notes"), 1);
  write_file(pathf("%s/notes.jsonl", g_dir), "{\"id\":\"n1\",\"x\":1}\n{\"id\":\"n2\",\"x\":2}\n");
  assert_int_equal(count_rows(a, "notes"), 2);
  hdb_close(a);
  hdb_close(b);
}

static int child_writes(const char *url, int n) {
  hdb *db = NULL;
  if (hdb_open(url, &db, NULL) != HDB_OK) return 10;
  for (int i = 0; i < n; i++) {
    char id[32];
    snprintf(id, sizeof id, "c%03d", i);
    hdb_record *r = hdb_record_new(id);
    hdb_record_set_int(r, "n", i);
    hdb_status st = hdb_insert(db, "shared", &r, 1);
    hdb_record_free(r);
    if (st != HDB_OK) return 20;
  }
  hdb_close(db);
  return 0;
}

static void test_forked_writer(void **state) {
  (void)state;
  const char *url = pathf("file://%s", g_dir);
  hdb *db = open_url(url);
  OK(db, hdb_table_create(db, "shared", NULL, 0));
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) _exit(child_writes(url, 40));

  /* Read while the child writes: counts only grow, every row is whole. */
  uint64_t last = 0;
  int status = 0;
  for (;;) {
    uint64_t n = count_rows(db, "shared");
    assert_true(n >= last);
    last = n;
    if (waitpid(pid, &status, WNOHANG) == pid) break;
  }
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  assert_int_equal(count_rows(db, "shared"), 40);
  hdb_record *r = NULL;
  OK(db, hdb_get(db, "shared", "c039", &r));
  assert_int_equal(get_value(r, "n").as.i, 39);
  hdb_record_free(r);
  /* And the parent's writes interleave with what the child wrote. */
  insert_text(db, "shared", "p1", "who", "parent");
  assert_int_equal(count_rows(db, "shared"), 41);
  hdb_close(db);
}

static int child_writes_prefixed(const char *url, const char *prefix, int n) {
  hdb *db = NULL;
  if (hdb_open(url, &db, NULL) != HDB_OK) return 10;
  for (int i = 0; i < n; i++) {
    char id[32];
    snprintf(id, sizeof id, "%s%03d", prefix, i);
    hdb_record *r = hdb_record_new(id);
    hdb_record_set_int(r, "n", i);
    hdb_status st = hdb_insert(db, "shared", &r, 1);
    hdb_record_free(r);
    if (st == HDB_OK) st = hdb_kv_put(db, prefix, id, strlen(id), "v", 1);
    if (st != HDB_OK) return 20;
  }
  hdb_close(db);
  return 0;
}

/* Three processes write the same table and KV file at once: the lock and
 * the reload-before-write mean no write is lost. */
static void test_concurrent_writers(void **state) {
  (void)state;
  const char *url = pathf("file://%s", g_dir);
  hdb *db = open_url(url);
  OK(db, hdb_table_create(db, "shared", NULL, 0));
  const char *prefixes[3] = {"a", "b", "c"};
  pid_t pids[3];
  for (int k = 0; k < 3; k++) {
    pids[k] = fork();
    assert_true(pids[k] >= 0);
    if (pids[k] == 0) _exit(child_writes_prefixed(url, prefixes[k], 25));
  }
  for (int k = 0; k < 3; k++) {
    int status = 0;
    assert_int_equal(waitpid(pids[k], &status, 0), pids[k]);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
  }
  assert_int_equal(count_rows(db, "shared"), 75);
  for (int k = 0; k < 3; k++) {
    int found = 0;
    char id[32];
    snprintf(id, sizeof id, "%s024", prefixes[k]);
    OK(db, hdb_kv_has(db, prefixes[k], id, strlen(id), &found));
    assert_true(found);
  }
  hdb_close(db);
}

/* ------------------------------------------------------------------ */
/* CSV                                                                 */
/* ------------------------------------------------------------------ */

static void test_csv_inference(void **state) {
  (void)state;
  const char *csv = pathf("%s/people.csv", g_dir);
  write_file(csv,
             "\xEF\xBB\xBFid,name,age,score,active,zip,note\r\n"
             "p1,Ann,31,4.5,true,007,\"said \"\"hi\"\", then left\"\r\n"
             "p2,\"Bob, Jr.\",,1e3,FALSE,\"123\",\"two\nlines\"\n"
             "\n"
             "p3,Cy,-7,0.25,false,90210,\r\n");
  hdb *db = open_url(pathf("file://%s", csv));
  assert_false(hdb_capabilities(db) & HDB_CAP_KV);
  char **names = NULL;
  size_t n = 0;
  OK(db, hdb_table_list(db, &names, &n));
  assert_int_equal(n, 1);
  assert_string_equal(names[0], "people");
  hdb_strings_free(names, n);
  assert_int_equal(count_rows(db, "people"), 3);

  hdb_record *r = NULL;
  OK(db, hdb_get(db, "people", "p1", &r));
  assert_int_equal(get_value(r, "age").type, HDB_TYPE_INT);
  assert_int_equal(get_value(r, "age").as.i, 31);
  assert_int_equal(get_value(r, "score").type, HDB_TYPE_FLOAT);
  assert_true(get_value(r, "active").as.boolean);
  assert_int_equal(get_value(r, "zip").type, HDB_TYPE_TEXT); /* leading zero: text */
  assert_string_equal(get_value(r, "zip").as.text.data, "007");
  assert_string_equal(get_value(r, "note").as.text.data, "said \"hi\", then left");
  hdb_record_free(r);

  OK(db, hdb_get(db, "people", "p2", &r));
  assert_string_equal(get_value(r, "name").as.text.data, "Bob, Jr.");
  hdb_value v;
  assert_int_equal(hdb_record_get(r, "age", &v), HDB_NOT_FOUND); /* empty: null */
  assert_int_equal(get_value(r, "score").type, HDB_TYPE_FLOAT);
  assert_true(get_value(r, "score").as.f == 1000.0);
  assert_false(get_value(r, "active").as.boolean);
  assert_int_equal(get_value(r, "zip").type, HDB_TYPE_TEXT); /* quoted: text */
  assert_string_equal(get_value(r, "note").as.text.data, "two\nlines");
  hdb_record_free(r);

  uint64_t k = 0;
  OK(db, hdb_count(db, "people", "age > 0", &k));
  assert_int_equal(k, 1);

  /* A second table, KV and indexes need a directory. */
  assert_int_equal(hdb_table_create(db, "other", NULL, 0), HDB_NOT_SUPPORTED);
  assert_non_null(strstr(hdb_errmsg(db), "single table"));
  assert_int_equal(hdb_kv_put(db, NULL, "k", 1, "v", 1), HDB_NOT_SUPPORTED);

  /* Writing rewrites the CSV; reopening reads back the same values. */
  hdb_record *nr = hdb_record_new("p4");
  hdb_record_set_text(nr, "name", "Dee \"D\"");
  hdb_record_set_int(nr, "age", 40);
  hdb_record_set_float(nr, "score", 3.0);
  hdb_record_set_text(nr, "zip", "00501");
  OK(db, hdb_insert(db, "people", &nr, 1));
  hdb_record_free(nr);
  hdb_close(db);

  char *text = read_file(csv, NULL);
  assert_non_null(strstr(text, "id,name,age,score,active,zip,note\r\n"));
  assert_non_null(strstr(text, "p4,\"Dee \"\"D\"\"\",40,3.0,,\"00501\",\r\n"));
  free(text);

  db = open_url(pathf("file://%s", csv));
  OK(db, hdb_get(db, "people", "p4", &r));
  assert_int_equal(get_value(r, "age").type, HDB_TYPE_INT);
  assert_int_equal(get_value(r, "score").type, HDB_TYPE_FLOAT);
  assert_string_equal(get_value(r, "zip").as.text.data, "00501");
  assert_string_equal(get_value(r, "name").as.text.data, "Dee \"D\"");
  hdb_record_free(r);
  OK(db, hdb_get(db, "people", "p2", &r));
  assert_string_equal(get_value(r, "note").as.text.data, "two\nlines");
  assert_string_equal(get_value(r, "zip").as.text.data, "123");
  hdb_record_free(r);
  OK(db, hdb_table_drop(db, "people", 0));
  assert_false(file_exists(csv));
  hdb_close(db);
}

static void test_csv_typed_round_trip(void **state) {
  (void)state;
  const char *url = pathf("file://%s/typed.csv", g_dir);
  hdb *db = open_url(url);
  hdb_schema *s = all_types_schema();
  OK(db, hdb_table_create(db, "typed", s, 0));
  hdb_schema_free(s);
  assert_true(file_exists(pathf("%s/typed.schema.json", g_dir)));
  hdb_record *rows[2] = {all_types_record("all"), hdb_record_new("nulls")};
  OK(db, hdb_insert(db, "typed", rows, 2));
  hdb_record_free(rows[0]);
  hdb_record_free(rows[1]);
  hdb_close(db);

  db = open_url(url);
  check_all_types(db, "typed");
  hdb_close(db);

  /* A CSV written by hand, typed by the schema file beside it. */
  write_file(pathf("%s/typed.csv", g_dir),
             "id,i,f,b,ts,v,j,bl\n"
             "h1,12,3,1,2024-01-20T10:00:00Z,\"[1,2,3]\",\"{\"\"k\"\":1}\",AAEC\n");
  db = open_url(url);
  hdb_record *r = NULL;
  OK(db, hdb_get(db, "typed", "h1", &r));
  assert_int_equal(get_value(r, "f").type, HDB_TYPE_FLOAT);
  assert_int_equal(get_value(r, "b").type, HDB_TYPE_BOOL);
  assert_int_equal(get_value(r, "ts").type, HDB_TYPE_TIMESTAMP);
  assert_true(get_value(r, "ts").as.timestamp_us == INT64_C(1705744800000000));
  assert_int_equal(get_value(r, "v").type, HDB_TYPE_VECTOR);
  assert_int_equal(get_value(r, "j").type, HDB_TYPE_JSON);
  assert_int_equal(get_value(r, "bl").as.blob.len, 3);
  hdb_record_free(r);
  hdb_close(db);
}

/* ------------------------------------------------------------------ */
/* Corrupt files and I/O failures                                      */
/* ------------------------------------------------------------------ */

static void expect_open_fails(const char *url, hdb_status code, const char *needle) {
  hdb *db = NULL;
  hdb_error err;
  hdb_status st = hdb_open(url, &db, &err);
  if (db) {
    hdb_close(db);
    fail_msg("open %s succeeded; expected %s with '%s'", url, hdb_status_name(code), needle);
  }
  if (st != code || !strstr(err.message, needle))
    fail_msg("open %s: got %s '%s'; expected %s with '%s'", url, hdb_status_name(st),
             err.message, hdb_status_name(code), needle);
}

static void test_corrupt_line(void **state) {
  (void)state;
  char url[300], docs[300], csv[300];
  snprintf(url, sizeof url, "file://%s", g_dir);
  snprintf(docs, sizeof docs, "%s/docs.jsonl", g_dir);
  snprintf(csv, sizeof csv, "%s/t.csv", g_dir);
  write_file(docs, "{\"id\":\"a\"}\n\n{\"id\":\"b\",\"x\":[1,2}\n");
  expect_open_fails(url, HDB_CORRUPT, "docs.jsonl line 3");
  write_file(docs, "{\"id\":\"a\"}\n{\"id\":\"a\"}\n");
  expect_open_fails(url, HDB_CORRUPT, "docs.jsonl line 2: duplicate id 'a'");
  write_file(docs, "{\"id\":\"a\"}\n{\"x\":1}\n");
  expect_open_fails(url, HDB_CORRUPT, "docs.jsonl line 2");
  write_file(docs, "[1,2]\n");
  expect_open_fails(url, HDB_CORRUPT, "docs.jsonl line 1");
  /* Conforming to the schema is checked line by line too. */
  write_file(docs, "{\"id\":\"a\",\"n\":1}\n{\"id\":\"b\",\"n\":\"many\"}\n");
  write_file(pathf("%s/docs.schema.json", g_dir), "{\"n\":\"int\"}\n");
  expect_open_fails(url, HDB_CORRUPT, "docs.jsonl line 2");
  write_file(pathf("%s/docs.schema.json", g_dir), "{\"n\":\"integer!\"}\n");
  expect_open_fails(url, HDB_CORRUPT, "docs.schema.json");
  unlink(pathf("%s/docs.schema.json", g_dir));
  unlink(docs);

  write_file(csv, "id,a,b\n1,2,3\n\"4\",5\n");
  expect_open_fails(pathf("file://%s", csv), HDB_CORRUPT, "t.csv line 3: expected 3 fields, found 2");
  write_file(csv, "id,a\n1,\"open\n2,3\n");
  expect_open_fails(pathf("file://%s", csv), HDB_CORRUPT, "t.csv line 2: unterminated");
  write_file(csv, "name,a\nx,1\n");
  expect_open_fails(pathf("file://%s", csv), HDB_CORRUPT, "first column must be 'id'");
  unlink(csv);

  write_file(pathf("%s/_kv.jsonl", g_dir), "{\"ns\":\"\",\"key\":\"k\",\"value\":\"v\"}\n{\"ns\":\"\"}\n");
  expect_open_fails(url, HDB_CORRUPT, "_kv.jsonl line 2");
  unlink(pathf("%s/_kv.jsonl", g_dir));
}

static void test_io_errors(void **state) {
  (void)state;
  /* A directory that cannot be created (a file is in the way; this works
   * even when the tests run as root, unlike chmod). */
  write_file(pathf("%s/plain", g_dir), "x");
  expect_open_fails(pathf("file://%s/plain/sub", g_dir), HDB_IO, "plain");

  hdb *db = open_dir();
  OK(db, hdb_table_create(db, "docs", NULL, 0));
  insert_text(db, "docs", "d1", "t", "one");
  size_t before_len = 0;
  char *before = read_file(pathf("%s/docs.jsonl", g_dir), &before_len);

  /* The rewrite cannot create its temporary file: HDB_IO naming it, the
   * file unchanged, and memory undone. */
  assert_int_equal(mkdir(pathf("%s/docs.jsonl.tmp", g_dir), 0777), 0);
  hdb_record *r = hdb_record_new("d2");
  hdb_record_set_text(r, "t", "two");
  assert_int_equal(hdb_insert(db, "docs", &r, 1), HDB_IO);
  assert_non_null(strstr(hdb_errmsg(db), "docs.jsonl.tmp"));
  hdb_record *got = NULL;
  assert_int_equal(hdb_get(db, "docs", "d2", &got), HDB_NOT_FOUND);
  assert_int_equal(count_rows(db, "docs"), 1);
  size_t after_len = 0;
  char *after = read_file(pathf("%s/docs.jsonl", g_dir), &after_len);
  assert_int_equal(before_len, after_len);
  assert_memory_equal(before, after, before_len);
  free(after);

  /* Same inside a transaction: commit fails, nothing changed. */
  OK(db, hdb_begin(db));
  OK(db, hdb_insert(db, "docs", &r, 1));
  assert_int_equal(hdb_commit(db), HDB_IO);
  assert_int_equal(count_rows(db, "docs"), 1);

  assert_int_equal(rmdir(pathf("%s/docs.jsonl.tmp", g_dir)), 0);
  OK(db, hdb_insert(db, "docs", &r, 1));
  assert_int_equal(count_rows(db, "docs"), 2);
  hdb_record_free(r);
  free(before);
  hdb_close(db);
}

static void test_failed_batch_atomic(void **state) {
  (void)state;
  hdb *db = open_dir();
  hdb_schema *s = hdb_schema_new();
  hdb_schema_add(s, "n", HDB_TYPE_INT);
  OK(db, hdb_table_create(db, "nums", s, 0));
  hdb_schema_free(s);
  hdb_record *rows[3];
  for (int i = 0; i < 3; i++) {
    char id[8];
    snprintf(id, sizeof id, "r%d", i);
    rows[i] = hdb_record_new(id);
    hdb_record_set_int(rows[i], "n", i);
  }
  OK(db, hdb_insert(db, "nums", rows, 2));
  size_t before_len = 0;
  char *before = read_file(pathf("%s/nums.jsonl", g_dir), &before_len);

  /* r2 is new but r1 repeats: nothing of the batch lands. */
  hdb_record *batch[2] = {rows[2], rows[1]};
  assert_int_equal(hdb_insert(db, "nums", batch, 2), HDB_DUPLICATE_ID);
  hdb_record_set_text(rows[2], "n", "not a number");
  assert_int_equal(hdb_upsert(db, "nums", &rows[2], 1), HDB_TYPE_MISMATCH);
  size_t after_len = 0;
  char *after = read_file(pathf("%s/nums.jsonl", g_dir), &after_len);
  assert_int_equal(before_len, after_len);
  assert_memory_equal(before, after, before_len);
  assert_false(file_exists(pathf("%s/nums.jsonl.tmp", g_dir)));
  assert_int_equal(count_rows(db, "nums"), 2);
  free(before);
  free(after);
  for (int i = 0; i < 3; i++) hdb_record_free(rows[i]);
  hdb_close(db);
}

/* ------------------------------------------------------------------ */
/* Transactions, locks, journal                                        */
/* ------------------------------------------------------------------ */

static void test_transactions(void **state) {
  (void)state;
  hdb *a = open_dir(), *b = open_dir();
  OK(a, hdb_table_create(a, "t1", NULL, 0));
  OK(a, hdb_begin(a));
  insert_text(a, "t1", "x", "v", "1");
  OK(a, hdb_table_create(a, "t2", NULL, 0));
  insert_text(a, "t2", "y", "v", "2");
  OK(a, hdb_kv_put(a, "ns", "k", 1, "v", 1));
  assert_int_equal(count_rows(a, "t1"), 1); /* reads its own writes */
  assert_int_equal(count_rows(b, "t1"), 0); /* others see nothing yet */
  hdb_record *r = NULL;
  assert_int_equal(hdb_get(b, "t2", "y", &r), HDB_NO_TABLE);
  OK(a, hdb_commit(a));
  assert_int_equal(count_rows(b, "t1"), 1);
  assert_int_equal(count_rows(b, "t2"), 1);
  int found = 0;
  OK(b, hdb_kv_has(b, "ns", "k", 1, &found));
  assert_true(found);

  /* Rollback leaves no trace, on disk or in memory. */
  OK(a, hdb_begin(a));
  OK(a, hdb_table_create(a, "t3", NULL, 0));
  OK(a, hdb_delete(a, "t1", "x"));
  OK(a, hdb_rollback(a));
  assert_int_equal(count_rows(a, "t1"), 1);
  assert_int_equal(hdb_count(a, "t3", NULL, &(uint64_t){0}), HDB_NO_TABLE);
  assert_false(file_exists(pathf("%s/t3.jsonl", g_dir)));

  /* Another handle commits to the same table first: CONFLICT, rolled back,
   * and the loser then sees the winner's row. */
  OK(a, hdb_begin(a));
  insert_text(a, "t1", "from_a", "v", "a");
  insert_text(b, "t1", "from_b", "v", "b");
  assert_int_equal(hdb_commit(a), HDB_CONFLICT);
  assert_non_null(strstr(hdb_errmsg(a), "t1"));
  assert_int_equal(hdb_get(a, "t1", "from_a", &r), HDB_NOT_FOUND);
  OK(a, hdb_get(a, "t1", "from_b", &r));
  hdb_record_free(r);
  hdb_close(a);
  hdb_close(b);
}

static void test_lock_timeout(void **state) {
  (void)state;
  hdb_config cfg = HDB_CONFIG_INIT;
  cfg.url = pathf("file://%s", g_dir);
  cfg.timeout_ms = 100;
  hdb *db = NULL;
  hdb_error err;
  assert_int_equal(hdb_open_config(&cfg, &db, &err), HDB_OK);
  OK(db, hdb_table_create(db, "t", NULL, 0));

  int fd = open(pathf("%s/_lock", g_dir), O_RDWR);
  assert_true(fd >= 0);
  assert_int_equal(flock(fd, LOCK_SH), 0); /* a reader elsewhere: writes wait */
  hdb_record *r = hdb_record_new("x");
  assert_int_equal(hdb_insert(db, "t", &r, 1), HDB_BUSY);
  assert_non_null(strstr(hdb_errmsg(db), "_lock"));
  assert_int_equal(count_rows(db, "t"), 0); /* readers share */
  assert_int_equal(flock(fd, LOCK_EX), 0);  /* a writer elsewhere: reads wait too */
  assert_int_equal(hdb_count(db, "t", NULL, &(uint64_t){0}), HDB_BUSY);
  close(fd);
  OK(db, hdb_insert(db, "t", &r, 1));
  hdb_record_free(r);
  hdb_close(db);

  cfg.read_only = 1;
  assert_int_equal(hdb_open_config(&cfg, &db, &err), HDB_OK);
  assert_int_equal(count_rows(db, "t"), 1);
  r = hdb_record_new("y");
  assert_int_equal(hdb_insert(db, "t", &r, 1), HDB_READ_ONLY);
  hdb_record_free(r);
  hdb_close(db);
}

static void test_journal_roll_forward(void **state) {
  (void)state;
  hdb *db = open_dir();
  OK(db, hdb_table_create(db, "a", NULL, 0));
  OK(db, hdb_table_create(db, "b", NULL, 0));
  insert_text(db, "b", "old", "v", "x");
  hdb_close(db);

  /* A writer died after making its journal durable and renaming one of
   * two files: the next process finishes the commit. */
  write_file(pathf("%s/a.jsonl", g_dir), "{\"id\":\"new_a\"}\n");
  write_file(pathf("%s/b.jsonl.tmp", g_dir), "{\"id\":\"new_b\"}\n");
  write_file(pathf("%s/_journal", g_dir),
             "hanzodb-file-journal 1\nrename a.jsonl\nrename b.jsonl\nremove c.jsonl\n");
  db = open_dir();
  hdb_record *r = NULL;
  OK(db, hdb_get(db, "a", "new_a", &r));
  hdb_record_free(r);
  OK(db, hdb_get(db, "b", "new_b", &r));
  hdb_record_free(r);
  assert_int_equal(hdb_get(db, "b", "old", &r), HDB_NOT_FOUND);
  assert_false(file_exists(pathf("%s/_journal", g_dir)));
  assert_false(file_exists(pathf("%s/b.jsonl.tmp", g_dir)));
  hdb_close(db);
}

static void test_single_jsonl(void **state) {
  (void)state;
  const char *url = pathf("file://%s/sub/events.jsonl", g_dir);
  hdb *db = open_url(url);
  char **names = NULL;
  size_t n = 9;
  OK(db, hdb_table_list(db, &names, &n));
  assert_int_equal(n, 0);
  hdb_strings_free(names, n);
  OK(db, hdb_table_create(db, "events", NULL, 0));
  assert_int_equal(hdb_table_create(db, "more", NULL, 0), HDB_NOT_SUPPORTED);
  assert_int_equal(hdb_index_create(db, "events", "x", HDB_INDEX_SCALAR, NULL), HDB_NOT_SUPPORTED);
  insert_text(db, "events", "e1", "what", "boot");
  hdb_close(db);
  char *text = read_file(pathf("%s/sub/events.jsonl", g_dir), NULL);
  assert_string_equal(text, "{\"id\":\"e1\",\"what\":\"boot\"}\n");
  free(text);
  db = open_url(url);
  assert_int_equal(count_rows(db, "events"), 1);
  hdb_close(db);

  hdb_error err;
  hdb *bad = NULL;
  assert_int_equal(hdb_open(pathf("file://%s/my-data.jsonl", g_dir), &bad, &err), HDB_BAD_URL);
  assert_non_null(strstr(err.message, "my-data"));
}

/* Every allocation of open, upsert, KV put and close fails in turn: each
 * call either succeeds or reports HDB_NOMEM, nothing leaks (run under the
 * sanitizer build), and a failed write never reaches the files. The data
 * stays the same size, so the number of allocations an open needs is
 * bounded and the loop ends once a whole round succeeds. */
static void test_allocation_failures(void **state) {
  (void)state;
  hdb *db = open_dir();
  hdb_schema *s = hdb_schema_new();
  hdb_schema_add(s, "n", HDB_TYPE_INT);
  OK(db, hdb_table_create(db, "t", s, 0));
  hdb_schema_free(s);
  OK(db, hdb_index_create(db, "t", "n", HDB_INDEX_SCALAR, NULL));
  OK(db, hdb_kv_put(db, "ns", "k", 1, "v", 1));
  hdb_close(db);

  int64_t expect = -1; /* the value of row "r" on disk; -1: no row yet */
  int clean = 0;
  for (long n = 0; n < 20000 && !clean; n++) {
    hdb_record *r = hdb_record_new("r");
    assert_non_null(r);
    assert_int_equal(hdb_record_set_int(r, "n", n), HDB_OK);
    hdb_error err;
    hdb__alloc_fail_after(n);
    hdb_status st = hdb_open(pathf("file://%s", g_dir), &db, &err);
    hdb_status up = HDB_NOMEM, kv = HDB_NOMEM;
    if (st == HDB_OK) {
      up = hdb_upsert(db, "t", &r, 1);
      if (up == HDB_OK) expect = n;
      kv = hdb_kv_put(db, "ns", "k", 1, "w", 1);
      hdb__alloc_fail_after(-1);
      if (up != HDB_OK && up != HDB_NOMEM)
        fail_msg("allocation %ld failing: upsert gave %s: %s", n, hdb_status_name(up),
                 hdb_errmsg(db));
      if (kv != HDB_OK && kv != HDB_NOMEM)
        fail_msg("allocation %ld failing: kv put gave %s: %s", n, hdb_status_name(kv),
                 hdb_errmsg(db));
      hdb_close(db);
    }
    hdb__alloc_fail_after(-1);
    hdb_record_free(r);
    if (st != HDB_OK && st != HDB_NOMEM)
      fail_msg("allocation %ld failing: open gave %s: %s", n, hdb_status_name(st), err.message);
    clean = st == HDB_OK && up == HDB_OK && kv == HDB_OK;

    db = open_dir();
    hdb_record *got = NULL;
    if (expect < 0) {
      assert_int_equal(hdb_get(db, "t", "r", &got), HDB_NOT_FOUND);
    } else {
      OK(db, hdb_get(db, "t", "r", &got));
      assert_true(get_value(got, "n").as.i == expect);
      hdb_record_free(got);
    }
    hdb_close(db);
  }
  assert_true(clean);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_persist_every_type, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_two_handles, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_forked_writer, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_concurrent_writers, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_csv_inference, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_csv_typed_round_trip, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_corrupt_line, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_io_errors, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_failed_batch_atomic, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_transactions, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_lock_timeout, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_journal_roll_forward, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_single_jsonl, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_allocation_failures, setup_dir, teardown_dir),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

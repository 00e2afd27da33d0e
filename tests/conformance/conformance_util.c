/*
 * conformance_util.c - fixtures, assertion helpers, the PRNG and the exact
 * kNN reference of the conformance suite.
 *
 * Only the public header is used. Helpers that check a library call print
 * the call, the expected and actual status names and hdb_errmsg(), then
 * fail the test at the caller's file and line.
 */
#include "conformance_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *conf_url = "memory://";
hdb *conf_db = NULL;
uint32_t conf_caps = 0;

const char *const conf_kv_namespaces[] = {"cfkv", "cfkv/a", "cfkv/a/b", "cfkv2", "cfkvtx"};
const size_t conf_kv_namespace_count = sizeof conf_kv_namespaces / sizeof conf_kv_namespaces[0];

/* ------------------------------------------------------------------ */
/* Fixtures                                                            */
/* ------------------------------------------------------------------ */

static hdb *open_url(const char *url) {
  hdb *db = NULL;
  hdb_error err;
  memset(&err, 0, sizeof err);
  hdb_status st = hdb_open(url, &db, &err);
  if (st != HDB_OK || db == NULL) {
    print_error("hdb_open(\"%s\") -> %s: %s\n", url, hdb_status_name(st), err.message);
    return NULL;
  }
  return db;
}

hdb *conf_open(void) {
  hdb *db = open_url(conf_url);
  if (db == NULL) fail_msg("cannot open %s", conf_url);
  return db;
}

const char *conf_shared_url(void) {
  if (strcmp(conf_url, "memory://") == 0) return "memory://conformance-shared";
  return conf_url;
}

hdb *conf_open_shared(void) {
  hdb *db = open_url(conf_shared_url());
  if (db == NULL) fail_msg("cannot open %s", conf_shared_url());
  return db;
}

int conf_has(uint32_t cap) { return (conf_caps & cap) != 0; }

static void clear_kv_ns(hdb *db, const char *ns, const char *prefix) {
  hdb_kv_range range;
  memset(&range, 0, sizeof range);
  if (prefix) {
    range.prefix = prefix;
    range.prefix_len = strlen(prefix);
  }
  /* Collect the keys first, then delete: the iterator is a snapshot. */
  for (int round = 0; round < 4; round++) {
    hdb_kv_iter *it = NULL;
    if (hdb_kv_iter_open(db, ns, &range, &it) != HDB_OK) return;
    size_t n = 0, cap = 0;
    char **keys = NULL;
    size_t *lens = NULL;
    const void *k, *v;
    size_t kl, vl;
    while (hdb_kv_iter_next(it, &k, &kl, &v, &vl) == HDB_OK) {
      if (n == cap) {
        cap = cap ? cap * 2 : 64;
        keys = realloc(keys, cap * sizeof *keys);
        lens = realloc(lens, cap * sizeof *lens);
      }
      keys[n] = malloc(kl ? kl : 1);
      memcpy(keys[n], k, kl);
      lens[n] = kl;
      n++;
    }
    hdb_kv_iter_free(it);
    for (size_t i = 0; i < n; i++) {
      (void)hdb_kv_delete(db, ns, keys[i], lens[i]);
      free(keys[i]);
    }
    free(keys);
    free(lens);
    if (n == 0) return;
  }
}

void conf_cleanup(hdb *db) {
  if (db == NULL) return;
  char **names = NULL;
  size_t count = 0;
  if (hdb_table_list(db, &names, &count) == HDB_OK) {
    for (size_t i = 0; i < count; i++) {
      if (strncmp(names[i], CONF_PREFIX, strlen(CONF_PREFIX)) == 0)
        (void)hdb_table_drop(db, names[i], HDB_IF_EXISTS);
    }
    hdb_strings_free(names, count);
  }
  if (hdb_capabilities(db) & HDB_CAP_KV) {
    clear_kv_ns(db, NULL, CONF_KV_KEY_PREFIX);
    for (size_t i = 0; i < conf_kv_namespace_count; i++) clear_kv_ns(db, conf_kv_namespaces[i], NULL);
  }
}

int conf_setup(void **state) {
  (void)state;
  conf_db = open_url(conf_url);
  if (conf_db == NULL) return -1;
  conf_caps = hdb_capabilities(conf_db);
  conf_cleanup(conf_db);
  return 0;
}

int conf_teardown(void **state) {
  (void)state;
  if (conf_db) {
    /* A test that failed inside a transaction leaves it open; close rolls
     * it back, but clean on a fresh handle to be sure. */
    hdb_close(conf_db);
    conf_db = NULL;
  }
  hdb *db = open_url(conf_url);
  if (db) {
    conf_cleanup(db);
    hdb_close(db);
  }
  return 0;
}

/* ------------------------------------------------------------------ */
/* Status assertions                                                   */
/* ------------------------------------------------------------------ */

void conf_expect_status(hdb *db, hdb_status expected, hdb_status got, const char *expr,
                        const char *file, int line) {
  if (got == expected) return;
  print_error("%s\n  expected %s, got %s: %s\n", expr, hdb_status_name(expected),
              hdb_status_name(got), db ? hdb_errmsg(db) : "(no handle)");
  _fail(file, line);
}

void conf_expect_errmsg_has(hdb *db, const char *needle, const char *file, int line) {
  const char *msg = hdb_errmsg(db);
  if (msg && strstr(msg, needle)) return;
  print_error("hdb_errmsg() = \"%s\" does not contain \"%s\"\n", msg ? msg : "(null)", needle);
  _fail(file, line);
}

int conf_contains(const char *hay, const char *needle) {
  return hay != NULL && needle != NULL && strstr(hay, needle) != NULL;
}

char *conf_join_append(char *list, const char *item) {
  size_t a = list ? strlen(list) : 0, b = strlen(item);
  char *s = realloc(list, a + b + 2);
  assert_non_null(s);
  if (a) s[a++] = ',';
  memcpy(s + a, item, b + 1);
  return s;
}

/* ------------------------------------------------------------------ */
/* Tables and records                                                  */
/* ------------------------------------------------------------------ */

void conf_create_table(hdb *db, const char *table, const char *schema_json, const char *file,
                       int line) {
  hdb_schema *s = NULL;
  if (schema_json) {
    hdb_error err;
    memset(&err, 0, sizeof err);
    hdb_status st = hdb_schema_from_json(schema_json, &s, &err);
    if (st != HDB_OK) {
      print_error("hdb_schema_from_json(%s) -> %s: %s\n", schema_json, hdb_status_name(st),
                  err.message);
      _fail(file, line);
    }
  }
  hdb_status st = hdb_table_create(db, table, s, 0);
  hdb_schema_free(s);
  conf_expect_status(db, HDB_OK, st, "hdb_table_create", file, line);
}

hdb_record *conf_rec(const char *id) {
  hdb_record *r = hdb_record_new(id);
  assert_non_null(r);
  return r;
}

#define SETTER(call)                                                                  \
  do {                                                                                \
    hdb_status st_ = (call);                                                          \
    if (st_ != HDB_OK) fail_msg("%s on field %s -> %s", #call, f, hdb_status_name(st_)); \
  } while (0)

void conf_set_int(hdb_record *r, const char *f, int64_t v) { SETTER(hdb_record_set_int(r, f, v)); }
void conf_set_float(hdb_record *r, const char *f, double v) {
  SETTER(hdb_record_set_float(r, f, v));
}
void conf_set_text(hdb_record *r, const char *f, const char *v) {
  SETTER(hdb_record_set_text(r, f, v));
}
void conf_set_bool(hdb_record *r, const char *f, int v) { SETTER(hdb_record_set_bool(r, f, v)); }
void conf_set_null(hdb_record *r, const char *f) { SETTER(hdb_record_set_null(r, f)); }
void conf_set_json(hdb_record *r, const char *f, const char *v) {
  SETTER(hdb_record_set_json(r, f, v));
}
void conf_set_ts(hdb_record *r, const char *f, int64_t us) {
  SETTER(hdb_record_set_timestamp(r, f, us));
}
void conf_set_vec(hdb_record *r, const char *f, const float *v, uint32_t dim) {
  SETTER(hdb_record_set_vector(r, f, v, dim));
}
void conf_set_blob(hdb_record *r, const char *f, const void *p, size_t n) {
  SETTER(hdb_record_set_blob(r, f, p, n));
}

void conf_free_recs(hdb_record **recs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    hdb_record_free(recs[i]);
    recs[i] = NULL;
  }
}

void conf_insert_free(hdb *db, const char *table, hdb_record **recs, size_t n, const char *file,
                      int line) {
  hdb_status st = hdb_insert(db, table, recs, n);
  conf_free_recs(recs, n);
  conf_expect_status(db, HDB_OK, st, "hdb_insert", file, line);
}

uint64_t conf_count(hdb *db, const char *table, const char *filter, const char *file, int line) {
  uint64_t n = 0;
  hdb_status st = hdb_count(db, table, filter, &n);
  if (st != HDB_OK) {
    print_error("hdb_count(%s, %s) -> %s: %s\n", table, filter ? filter : "NULL",
                hdb_status_name(st), hdb_errmsg(db));
    _fail(file, line);
  }
  return n;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *conf_query_ids(hdb *db, const char *table, const hdb_query_options *q, int sorted,
                     const char *file, int line) {
  hdb_cursor *c = NULL;
  hdb_status st = hdb_query(db, table, q, &c);
  if (st != HDB_OK) {
    print_error("hdb_query(%s, filter=%s) -> %s: %s\n", table,
                q && q->filter ? q->filter : "NULL", hdb_status_name(st), hdb_errmsg(db));
    _fail(file, line);
  }
  char **ids = NULL;
  size_t n = 0, cap = 0;
  const hdb_record *r;
  while ((st = hdb_cursor_next(c, &r)) == HDB_OK) {
    if (n == cap) {
      cap = cap ? cap * 2 : 32;
      ids = realloc(ids, cap * sizeof *ids);
      assert_non_null(ids);
    }
    const char *id = hdb_record_id(r);
    ids[n++] = strdup(id ? id : "(null)");
  }
  if (st != HDB_DONE) {
    print_error("hdb_cursor_next -> %s: %s\n", hdb_status_name(st), hdb_cursor_errmsg(c));
    hdb_cursor_close(c);
    _fail(file, line);
  }
  hdb_cursor_close(c);
  if (sorted && n > 1) qsort(ids, n, sizeof *ids, cmp_str);
  char *out = strdup("");
  for (size_t i = 0; i < n; i++) {
    out = conf_join_append(out, ids[i]);
    free(ids[i]);
  }
  free(ids);
  return out;
}

char *conf_filter_ids(hdb *db, const char *table, const char *filter, const char *file,
                      int line) {
  hdb_query_options q = HDB_QUERY_INIT;
  q.filter = filter;
  return conf_query_ids(db, table, &q, 1, file, line);
}

hdb_record *conf_get(hdb *db, const char *table, const char *id, const char *file, int line) {
  hdb_record *r = NULL;
  hdb_status st = hdb_get(db, table, id, &r);
  if (st != HDB_OK || r == NULL) {
    print_error("hdb_get(%s, %s) -> %s: %s\n", table, id, hdb_status_name(st), hdb_errmsg(db));
    _fail(file, line);
  }
  return r;
}

void conf_expect_absent(hdb *db, const char *table, const char *id, const char *file, int line) {
  hdb_record *r = NULL;
  hdb_status st = hdb_get(db, table, id, &r);
  if (st != HDB_NOT_FOUND) {
    hdb_record_free(r);
    print_error("hdb_get(%s, %s): expected NOT_FOUND, got %s\n", table, id, hdb_status_name(st));
    _fail(file, line);
  }
}

char *conf_table_names(hdb *db) {
  char **names = NULL;
  size_t count = 0;
  hdb_status st = hdb_table_list(db, &names, &count);
  if (st != HDB_OK) fail_msg("hdb_table_list -> %s: %s", hdb_status_name(st), hdb_errmsg(db));
  char *out = strdup("");
  for (size_t i = 0; i < count; i++)
    if (strncmp(names[i], CONF_PREFIX, strlen(CONF_PREFIX)) == 0)
      out = conf_join_append(out, names[i]);
  hdb_strings_free(names, count);
  return out;
}

/* ------------------------------------------------------------------ */
/* Value assertions                                                    */
/* ------------------------------------------------------------------ */

static hdb_value field_or_fail(const hdb_record *r, const char *f, hdb_type want,
                               const char *file, int line) {
  hdb_value v;
  memset(&v, 0, sizeof v);
  if (r == NULL) {
    print_error("record is NULL (field %s)\n", f);
    _fail(file, line);
  }
  if (hdb_record_get(r, f, &v) != HDB_OK) {
    print_error("record %s: field %s is missing (want %s)\n", hdb_record_id(r), f,
                hdb_type_name(want));
    _fail(file, line);
  }
  if (v.type != want) {
    print_error("record %s: field %s has type %s, want %s\n", hdb_record_id(r), f,
                hdb_type_name(v.type), hdb_type_name(want));
    _fail(file, line);
  }
  return v;
}

void conf_field_int(const hdb_record *r, const char *f, int64_t want, const char *file,
                    int line) {
  hdb_value v = field_or_fail(r, f, HDB_TYPE_INT, file, line);
  if (v.as.i != want) {
    print_error("record %s: %s = %lld, want %lld\n", hdb_record_id(r), f, (long long)v.as.i,
                (long long)want);
    _fail(file, line);
  }
}

void conf_field_float(const hdb_record *r, const char *f, double want, const char *file,
                      int line) {
  hdb_value v = field_or_fail(r, f, HDB_TYPE_FLOAT, file, line);
  if (!(v.as.f == want || (isnan(v.as.f) && isnan(want))) ||
      signbit(v.as.f) != signbit(want)) {
    print_error("record %s: %s = %.17g, want %.17g\n", hdb_record_id(r), f, v.as.f, want);
    _fail(file, line);
  }
}

void conf_field_text(const hdb_record *r, const char *f, const char *want, const char *file,
                     int line) {
  hdb_value v = field_or_fail(r, f, HDB_TYPE_TEXT, file, line);
  size_t n = strlen(want);
  if (v.as.text.len != n || memcmp(v.as.text.data, want, n) != 0 || v.as.text.data[n] != '\0') {
    print_error("record %s: %s = \"%.*s\" (len %zu), want \"%s\"\n", hdb_record_id(r), f,
                (int)v.as.text.len, v.as.text.data, v.as.text.len, want);
    _fail(file, line);
  }
}

void conf_field_bool(const hdb_record *r, const char *f, int want, const char *file, int line) {
  hdb_value v = field_or_fail(r, f, HDB_TYPE_BOOL, file, line);
  if ((v.as.boolean != 0) != (want != 0)) {
    print_error("record %s: %s = %d, want %d\n", hdb_record_id(r), f, v.as.boolean, want);
    _fail(file, line);
  }
}

void conf_field_ts(const hdb_record *r, const char *f, int64_t want, const char *file,
                   int line) {
  hdb_value v = field_or_fail(r, f, HDB_TYPE_TIMESTAMP, file, line);
  if (v.as.timestamp_us != want) {
    print_error("record %s: %s = %lld us, want %lld\n", hdb_record_id(r), f,
                (long long)v.as.timestamp_us, (long long)want);
    _fail(file, line);
  }
}

void conf_field_json(const hdb_record *r, const char *f, const char *want, const char *file,
                     int line) {
  hdb_value v = field_or_fail(r, f, HDB_TYPE_JSON, file, line);
  size_t n = strlen(want);
  if (v.as.text.len != n || memcmp(v.as.text.data, want, n) != 0) {
    print_error("record %s: %s = %.*s, want %s\n", hdb_record_id(r), f, (int)v.as.text.len,
                v.as.text.data, want);
    _fail(file, line);
  }
}

void conf_field_blob(const hdb_record *r, const char *f, const void *p, size_t n,
                     const char *file, int line) {
  hdb_value v = field_or_fail(r, f, HDB_TYPE_BLOB, file, line);
  if (v.as.blob.len != n || (n && memcmp(v.as.blob.data, p, n) != 0)) {
    print_error("record %s: blob %s has %zu bytes (or different content), want %zu\n",
                hdb_record_id(r), f, v.as.blob.len, n);
    _fail(file, line);
  }
}

void conf_field_vec(const hdb_record *r, const char *f, const float *want, uint32_t dim,
                    const char *file, int line) {
  hdb_value v = field_or_fail(r, f, HDB_TYPE_VECTOR, file, line);
  if (v.as.vector.dim != dim) {
    print_error("record %s: vector %s has dim %u, want %u\n", hdb_record_id(r), f,
                v.as.vector.dim, dim);
    _fail(file, line);
  }
  for (uint32_t i = 0; i < dim; i++) {
    if (memcmp(&v.as.vector.data[i], &want[i], sizeof(float)) != 0) {
      print_error("record %s: vector %s[%u] = %.9g, want %.9g\n", hdb_record_id(r), f, i,
                  (double)v.as.vector.data[i], (double)want[i]);
      _fail(file, line);
    }
  }
}

void conf_field_null(const hdb_record *r, const char *f, const char *file, int line) {
  hdb_value v;
  memset(&v, 0, sizeof v);
  if (r == NULL) {
    print_error("record is NULL (field %s)\n", f);
    _fail(file, line);
  }
  if (hdb_record_get(r, f, &v) != HDB_OK) return;
  if (v.type != HDB_TYPE_NULL) {
    print_error("record %s: field %s has type %s, want null or absent\n", hdb_record_id(r), f,
                hdb_type_name(v.type));
    _fail(file, line);
  }
}

size_t conf_nonnull_fields(const hdb_record *r) {
  size_t n = 0, count = hdb_record_field_count(r);
  for (size_t i = 0; i < count; i++) {
    const char *name;
    hdb_value v;
    if (hdb_record_field(r, i, &name, &v) == HDB_OK && v.type != HDB_TYPE_NULL) n++;
  }
  return n;
}

/* ------------------------------------------------------------------ */
/* PRNG                                                                */
/* ------------------------------------------------------------------ */

void conf_rng_seed(conf_rng *g, uint64_t seed) { g->s = seed; }

uint64_t conf_rng_u64(conf_rng *g) {
  uint64_t z = (g->s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

float conf_rng_float(conf_rng *g, float lo, float hi) {
  double u = (double)(conf_rng_u64(g) >> 11) / 9007199254740992.0; /* [0,1) */
  return (float)(lo + (hi - lo) * u);
}

/* ------------------------------------------------------------------ */
/* Exact kNN reference                                                 */
/* ------------------------------------------------------------------ */

double conf_distance(hdb_metric m, const float *a, const float *b, uint32_t dim) {
  double dot = 0, na = 0, nb = 0, l2 = 0;
  for (uint32_t i = 0; i < dim; i++) {
    double x = a[i], y = b[i];
    dot += x * y;
    na += x * x;
    nb += y * y;
    l2 += (x - y) * (x - y);
  }
  switch (m) {
    case HDB_METRIC_DEFAULT:
    case HDB_METRIC_L2:
      return l2;
    case HDB_METRIC_COSINE:
      if (na == 0 || nb == 0) return 1.0;
      return 1.0 - dot / (sqrt(na) * sqrt(nb));
    case HDB_METRIC_DOT:
      return -dot;
  }
  return NAN;
}

static int cmp_hit(const void *pa, const void *pb) {
  const conf_hit *a = pa, *b = pb;
  if (a->dist < b->dist) return -1;
  if (a->dist > b->dist) return 1;
  return strcmp(a->id, b->id);
}

size_t conf_knn(hdb_metric m, const float *q, uint32_t dim, const float *const *vecs,
                const char *const *ids, const unsigned char *eligible, size_t n, size_t k,
                conf_hit *out) {
  conf_hit *all = malloc((n ? n : 1) * sizeof *all);
  assert_non_null(all);
  size_t c = 0;
  for (size_t i = 0; i < n; i++) {
    if (vecs[i] == NULL) continue;
    if (eligible && !eligible[i]) continue;
    all[c].id = ids[i];
    all[c].dist = conf_distance(m, q, vecs[i], dim);
    c++;
  }
  qsort(all, c, sizeof *all, cmp_hit);
  size_t r = c < k ? c : k;
  memcpy(out, all, r * sizeof *out);
  free(all);
  return r;
}

int conf_dist_close(double a, double b) {
  double scale = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
  if (scale < 1.0) scale = 1.0;
  return fabs(a - b) <= 1e-4 * scale;
}

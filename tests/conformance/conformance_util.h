/*
 * conformance_util.h - fixtures and helpers shared by the conformance suite.
 *
 * The suite is written against include/hanzodb.h only. Every test opens the
 * URL given on the command line (conf_url) in its per-test setup and drops
 * every table whose name starts with CONF_PREFIX and every KV key the suite
 * uses, before and after, so runs are independent and repeatable on
 * persistent backends.
 *
 * Assertion helpers take the caller's file and line (through the macros) and
 * print hdb_errmsg() when a call fails, so a failure names the problem.
 */
#ifndef CONFORMANCE_UTIL_H
#define CONFORMANCE_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "hanzodb.h"

/* Every table the suite creates starts with this prefix. */
#define CONF_PREFIX "cf_"
/* KV: every key the suite writes in the default namespace starts with this;
 * every namespace it uses is listed in conf_kv_namespaces. */
#define CONF_KV_KEY_PREFIX "cf."

extern const char *conf_url;        /* argv[1] */
extern hdb *conf_db;                /* the per-test handle */
extern uint32_t conf_caps;          /* hdb_capabilities(conf_db) */
extern const char *const conf_kv_namespaces[];
extern const size_t conf_kv_namespace_count;

/* ---- fixtures (conformance_util.c) ---- */
int conf_setup(void **state);
int conf_teardown(void **state);
/* Opens conf_url; fails the test when it does not open. */
hdb *conf_open(void);
/* The URL two handles use to see the same database: conf_url, except that a
 * bare "memory://" (private per handle) becomes "memory://conformance-shared". */
const char *conf_shared_url(void);
hdb *conf_open_shared(void);
/* Drops every CONF_PREFIX table and clears the suite's KV keys. */
void conf_cleanup(hdb *db);
int conf_has(uint32_t cap);

/* ---- status assertions ---- */
void conf_expect_status(hdb *db, hdb_status expected, hdb_status got, const char *expr,
                        const char *file, int line);
#define CHECK(db, call) conf_expect_status((db), HDB_OK, (call), #call, __FILE__, __LINE__)
#define EXPECT(db, expected, call) \
  conf_expect_status((db), (expected), (call), #call, __FILE__, __LINE__)
/* The last error message on db contains needle. */
void conf_expect_errmsg_has(hdb *db, const char *needle, const char *file, int line);
#define EXPECT_MSG(db, needle) conf_expect_errmsg_has((db), (needle), __FILE__, __LINE__)

/* ---- tables and records ---- */
/* Creates table (CONF_PREFIX name) from schema JSON (NULL: schemaless). */
void conf_create_table(hdb *db, const char *table, const char *schema_json, const char *file,
                       int line);
#define CREATE_TABLE(db, t, json) conf_create_table((db), (t), (json), __FILE__, __LINE__)
hdb_record *conf_rec(const char *id);
/* Set helpers that fail the test on a non-OK status. */
void conf_set_int(hdb_record *r, const char *f, int64_t v);
void conf_set_float(hdb_record *r, const char *f, double v);
void conf_set_text(hdb_record *r, const char *f, const char *v);
void conf_set_bool(hdb_record *r, const char *f, int v);
void conf_set_null(hdb_record *r, const char *f);
void conf_set_json(hdb_record *r, const char *f, const char *v);
void conf_set_ts(hdb_record *r, const char *f, int64_t us);
void conf_set_vec(hdb_record *r, const char *f, const float *v, uint32_t dim);
void conf_set_blob(hdb_record *r, const char *f, const void *p, size_t n);
/* Inserts the records and frees them. */
void conf_insert_free(hdb *db, const char *table, hdb_record **recs, size_t n, const char *file,
                      int line);
#define INSERT_FREE(db, t, recs, n) conf_insert_free((db), (t), (recs), (n), __FILE__, __LINE__)
void conf_free_recs(hdb_record **recs, size_t n);
uint64_t conf_count(hdb *db, const char *table, const char *filter, const char *file, int line);
#define COUNT(db, t, f) conf_count((db), (t), (f), __FILE__, __LINE__)
/* Runs the query and returns the ids in cursor order joined by ',' (owned,
 * free()). With sorted set, the ids are sorted by bytes first. */
char *conf_query_ids(hdb *db, const char *table, const hdb_query_options *q, int sorted,
                     const char *file, int line);
#define QUERY_IDS(db, t, q, sorted) conf_query_ids((db), (t), (q), (sorted), __FILE__, __LINE__)
/* Ids of rows matching filter, sorted, joined by ','. Owned. */
char *conf_filter_ids(hdb *db, const char *table, const char *filter, const char *file,
                      int line);
#define FILTER_IDS(db, t, f) conf_filter_ids((db), (t), (f), __FILE__, __LINE__)
/* Fetches a row; fails the test when the get fails. Owned. */
hdb_record *conf_get(hdb *db, const char *table, const char *id, const char *file, int line);
#define GET(db, t, id) conf_get((db), (t), (id), __FILE__, __LINE__)
void conf_expect_absent(hdb *db, const char *table, const char *id, const char *file, int line);
#define EXPECT_ABSENT(db, t, id) conf_expect_absent((db), (t), (id), __FILE__, __LINE__)
/* Sorted, comma-joined list of the table names that start with CONF_PREFIX. Owned. */
char *conf_table_names(hdb *db);

/* ---- value assertions on records ---- */
void conf_field_int(const hdb_record *r, const char *f, int64_t v, const char *file, int line);
void conf_field_float(const hdb_record *r, const char *f, double v, const char *file, int line);
void conf_field_text(const hdb_record *r, const char *f, const char *v, const char *file,
                     int line);
void conf_field_bool(const hdb_record *r, const char *f, int v, const char *file, int line);
void conf_field_ts(const hdb_record *r, const char *f, int64_t us, const char *file, int line);
void conf_field_json(const hdb_record *r, const char *f, const char *v, const char *file,
                     int line);
void conf_field_blob(const hdb_record *r, const char *f, const void *p, size_t n,
                     const char *file, int line);
void conf_field_vec(const hdb_record *r, const char *f, const float *v, uint32_t dim,
                    const char *file, int line);
/* A null field: absent, or present with type NULL. */
void conf_field_null(const hdb_record *r, const char *f, const char *file, int line);
#define FIELD_INT(r, f, v) conf_field_int((r), (f), (v), __FILE__, __LINE__)
#define FIELD_FLOAT(r, f, v) conf_field_float((r), (f), (v), __FILE__, __LINE__)
#define FIELD_TEXT(r, f, v) conf_field_text((r), (f), (v), __FILE__, __LINE__)
#define FIELD_BOOL(r, f, v) conf_field_bool((r), (f), (v), __FILE__, __LINE__)
#define FIELD_TS(r, f, v) conf_field_ts((r), (f), (v), __FILE__, __LINE__)
#define FIELD_JSON(r, f, v) conf_field_json((r), (f), (v), __FILE__, __LINE__)
#define FIELD_BLOB(r, f, p, n) conf_field_blob((r), (f), (p), (n), __FILE__, __LINE__)
#define FIELD_VEC(r, f, v, d) conf_field_vec((r), (f), (v), (d), __FILE__, __LINE__)
#define FIELD_NULL(r, f) conf_field_null((r), (f), __FILE__, __LINE__)
/* Number of non-null fields of r. */
size_t conf_nonnull_fields(const hdb_record *r);

/* ---- deterministic PRNG (splitmix64) ---- */
typedef struct conf_rng {
  uint64_t s;
} conf_rng;
void conf_rng_seed(conf_rng *g, uint64_t seed);
uint64_t conf_rng_u64(conf_rng *g);
/* Uniform in [lo, hi). */
float conf_rng_float(conf_rng *g, float lo, float hi);

/* ---- exact brute-force kNN reference ---- */
/* Distances per hanzodb.h, in double: l2 = squared Euclidean, cosine = 1 - cos
 * (1 when either norm is 0), dot = -dot. */
double conf_distance(hdb_metric m, const float *a, const float *b, uint32_t dim);
typedef struct conf_hit {
  const char *id; /* borrowed from the caller's id array */
  double dist;
} conf_hit;
/*
 * The exact answer: rows i with eligible[i] (NULL: all) and vecs[i] != NULL,
 * ordered by distance then id (bytes); returns min(k, matches) hits in out
 * (caller's array of at least k). vecs[i] points at dim floats.
 */
size_t conf_knn(hdb_metric m, const float *q, uint32_t dim, const float *const *vecs,
                const char *const *ids, const unsigned char *eligible, size_t n, size_t k,
                conf_hit *out);
/* True when a and b agree to 1e-4 relative (absolute below magnitude 1). */
int conf_dist_close(double a, double b);

/* ---- string helpers ---- */
int conf_contains(const char *hay, const char *needle);
/* Appends to a malloc'd comma-joined list. */
char *conf_join_append(char *list, const char *item);

/* ---- groups: one per area, each defined in its conformance_*.c ---- */
/* Group fixtures (conformance_main.c): open the URL once, check it opens. */
int conf_group_setup(void **state);
int conf_group_teardown(void **state);
/* Each runs its area's tests with cmocka_run_group_tests_name and returns
 * the number of failed tests. */
int conf_run_tables(void);
int conf_run_crud(void);
int conf_run_filter(void);
int conf_run_query(void);
int conf_run_search(void);
int conf_run_aggregate(void);
int conf_run_index(void);
int conf_run_kv(void);
int conf_run_txn(void);
int conf_run_errors(void);
int conf_run_capabilities(void);

/* A test with the per-test fixture (open the URL, clean before and after). */
#define CONF_T(fn) cmocka_unit_test_setup_teardown(fn, conf_setup, conf_teardown)
/* Runs a group named name from a static array of tests. */
#define CONF_RUN_GROUP(name, tests) \
  cmocka_run_group_tests_name(name, tests, conf_group_setup, conf_group_teardown)

#endif /* CONFORMANCE_UTIL_H */

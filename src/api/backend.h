/*
 * backend.h - the vtable every backend fills, and what the api layer passes.
 *
 * The api layer (api/hdb.c) has already: checked pointers and names, parsed
 * and validated the URL, parsed the filter into a tree, checked k, the query
 * vector's finiteness and id syntax, and it holds the handle's lock. The
 * backend does everything that needs the table: schema checks (use
 * hdb__schema_conform and hdb__filter_bind), the work itself, and fills err.
 *
 * A NULL method means the feature is not supported: the api layer answers
 * HDB_NOT_SUPPORTED naming the backend. Methods above a version number are
 * valid only when vt->version is at least that number (SQLite's iVersion),
 * so the struct can grow without breaking older backends.
 */
#ifndef HDB_API_BACKEND_H
#define HDB_API_BACKEND_H

#include "hanzodb.h"
#include "../core/filter.h"
#include "url.h"

#define HDB__VTAB_VERSION 1

/* hdb_query with the filter parsed. */
typedef struct hdb__query {
  const hdb__expr *filter; /* never NULL (TRUE when no filter) */
  const hdb_sort_key *sort;
  size_t n_sort;
  uint64_t limit, offset;
  const char *const *fields;
  size_t n_fields;
  int64_t version;
} hdb__query;

/* hdb_search with the filter parsed; vector checked finite, k >= 1. */
typedef struct hdb__search {
  const char *column; /* NULL: the sole vector column */
  const float *vector;
  uint32_t dim;
  int k;
  hdb_metric metric;
  const hdb__expr *filter; /* never NULL */
  const char *const *fields;
  size_t n_fields;
  int ef, nprobe, refine, exact;
  int64_t version;
} hdb__search;

typedef enum hdb__write_mode { HDB__WRITE_INSERT, HDB__WRITE_UPSERT } hdb__write_mode;

typedef struct hdb__backend {
  int version;               /* HDB__VTAB_VERSION this backend was written against */
  hdb_backend id;
  const char *name;          /* "memory" */

  /* --- version 1 --- */
  hdb_status (*open)(const hdb__url *url, const hdb_config *cfg, void **conn, hdb_error *err);
  void (*close)(void *conn);
  uint32_t (*capabilities)(void *conn);
  hdb_status (*ping)(void *conn, hdb_error *err);

  hdb_status (*table_create)(void *conn, const char *table, const hdb_schema *schema,
                             unsigned flags, hdb_error *err);
  hdb_status (*table_drop)(void *conn, const char *table, unsigned flags, hdb_error *err);
  hdb_status (*table_list)(void *conn, char ***names, size_t *count, hdb_error *err);
  hdb_status (*table_schema)(void *conn, const char *table, hdb_schema **schema, hdb_error *err);

  /* records[] are the caller's: conform a copy. */
  hdb_status (*write)(void *conn, const char *table, hdb_record *const *records, size_t n,
                      hdb__write_mode mode, hdb_error *err);
  hdb_status (*get)(void *conn, const char *table, const char *id, hdb_record **out,
                    hdb_error *err);
  /* id non-NULL: that row (HDB_NOT_FOUND when absent); else rows matching filter. */
  hdb_status (*update)(void *conn, const char *table, const char *id, const hdb__expr *filter,
                       const hdb_record *patch, uint64_t *updated, hdb_error *err);
  hdb_status (*remove)(void *conn, const char *table, const char *id, const hdb__expr *filter,
                       uint64_t *deleted, hdb_error *err);

  hdb_status (*query)(void *conn, const char *table, const hdb__query *q, hdb_cursor **out,
                      hdb_error *err);
  hdb_status (*count)(void *conn, const char *table, const hdb__expr *filter, int64_t version,
                      uint64_t *out, hdb_error *err);
  hdb_status (*search)(void *conn, const char *table, const hdb__search *s, hdb_cursor **out,
                       hdb_error *err);
  hdb_status (*aggregate)(void *conn, const char *table, const hdb_agg *aggs, size_t n_aggs,
                          const char *group_by, const hdb__expr *filter, hdb_cursor **out,
                          hdb_error *err);

  hdb_status (*index_create)(void *conn, const char *table, const char *column,
                             hdb_index_type type, const char *params, hdb_error *err);
  hdb_status (*index_drop)(void *conn, const char *table, const char *column, hdb_error *err);
  /* NULL: indexes are always current (nothing to optimize). */
  hdb_status (*index_optimize)(void *conn, const char *table, const char *column,
                               hdb_error *err);
  hdb_status (*index_list)(void *conn, const char *table, hdb_index_info **infos,
                           size_t *count, hdb_error *err);

  hdb_status (*begin)(void *conn, hdb_error *err);
  hdb_status (*commit)(void *conn, hdb_error *err);
  hdb_status (*rollback)(void *conn, hdb_error *err);

  /* ns is never NULL ("" is the default namespace); arguments checked. */
  hdb_status (*kv_get)(void *conn, const char *ns, const void *key, size_t klen, void **val,
                       size_t *vlen, hdb_error *err);
  /* Every single put/delete arrives as a one-operation batch. */
  hdb_status (*kv_write)(void *conn, const hdb_kv_batch *batch, hdb_error *err);
  hdb_status (*kv_iter)(void *conn, const char *ns, const hdb_kv_range *range,
                        hdb_kv_iter **out, hdb_error *err);
  hdb_status (*kv_put_ttl)(void *conn, const char *ns, const void *key, size_t klen,
                           const void *val, size_t vlen, int64_t ttl_ms, hdb_error *err);

  hdb_status (*search_hybrid)(void *conn, const char *table, const hdb__search *s,
                              const char *text_column, const char *text_query,
                              hdb_fusion fusion, double vector_weight, hdb_cursor **out,
                              hdb_error *err);
  hdb_status (*publish)(void *conn, const char *channel, const void *msg, size_t len,
                        hdb_error *err);
  hdb_status (*subscribe)(void *conn, const char *channel, hdb_message_fn fn, void *user,
                          hdb_error *err);
  hdb_status (*unsubscribe)(void *conn, const char *channel, hdb_error *err);
  hdb_status (*versions)(void *conn, const char *table, hdb_version_info **out, size_t *count,
                         hdb_error *err);
  hdb_status (*restore)(void *conn, const char *table, int64_t version, hdb_error *err);
  hdb_status (*stats)(void *conn, const char *table, char **json, hdb_error *err);
  /* table NULL: everything. */
  hdb_status (*compact)(void *conn, const char *table, hdb_error *err);
  /* *report owned JSON; HDB_CORRUPT with the report filled when a check fails. */
  hdb_status (*check)(void *conn, char **report, hdb_error *err);
} hdb__backend;

/* The registry: the backend for an id, or NULL when not built in. */
const hdb__backend *hdb__backend_lookup(hdb_backend id);

extern const hdb__backend hdb__backend_memory;
extern const hdb__backend hdb__backend_file;
extern const hdb__backend hdb__backend_native;
extern const hdb__backend hdb__backend_sqlite;
extern const hdb__backend hdb__backend_postgres;
extern const hdb__backend hdb__backend_duckdb;

#endif

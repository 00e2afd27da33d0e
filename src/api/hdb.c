/*
 * hdb.c - the public handle: open/close, argument checks, locking and
 * dispatch to the backend vtable.
 *
 * Everything that does not depend on a backend is done here once, so every
 * backend gets the same checks and the same messages: NULL pointers, names,
 * ids, k, query-vector finiteness, filter parsing, transaction state, and
 * "not supported" for vtable methods a backend leaves NULL. The handle's
 * mutex serializes calls; the message of the last failed call lives in the
 * handle (never in a global).
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "api/backend.h"
#include "core/alloc.h"
#include "core/cursor.h"
#include "core/err.h"
#include "core/record.h"
#include "core/value.h"

struct hdb {
  const hdb__backend *be;
  void *conn;
  pthread_mutex_t mu;
  hdb_error err; /* last call's outcome */
  char *url;     /* redacted */
  int in_txn;
};

/* ---------------------------------------------------------------- */
/* Entry and exit of every call                                      */
/* ---------------------------------------------------------------- */

static void enter(hdb *db) {
  pthread_mutex_lock(&db->mu);
  hdb__err_clear(&db->err);
}

static hdb_status leave(hdb *db, hdb_status st) {
  /* A backend that forgot to say why still leaves a readable message. */
  if (st != HDB_OK && st != HDB_DONE && db->err.message[0] == '\0')
    snprintf(db->err.message, sizeof db->err.message, "%s", hdb_status_message(st));
  db->err.code = st;
  pthread_mutex_unlock(&db->mu);
  return st;
}

static hdb_status unsupported(hdb *db, const char *what) {
  return hdb__fail(&db->err, HDB_NOT_SUPPORTED, "the %s backend does not support %s", db->be->name,
                   what);
}

static hdb_status check_name(hdb *db, const char *kind, const char *name) {
  if (!name) return hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "%s name is NULL", kind);
  if (!hdb__name_valid(name, 0))
    return hdb__fail(&db->err, HDB_INVALID_ARGUMENT,
                     "invalid %s name '%.200s': use 1-%u letters, digits and '_', not starting "
                     "with a digit or '_'",
                     kind, name, HDB_MAX_NAME_LEN);
  return HDB_OK;
}

#define CHECK_DB(db)                                                                            \
  do {                                                                                          \
    if (!(db)) return HDB_INVALID_ARGUMENT;                                                     \
  } while (0)

/* Runs `body` (a braced block that assigns st and may `break` out early)
 * between enter and leave. */
#define CALL(db, ...)                                                                           \
  do {                                                                                          \
    hdb_status st = HDB_OK;                                                                     \
    enter(db);                                                                                  \
    do __VA_ARGS__ while (0);                                                                   \
    return leave(db, st);                                                                       \
  } while (0)

/* Parses a filter into *out (TRUE when text is NULL/blank). */
static hdb_status parse_filter(hdb *db, const char *text, hdb__expr **out) {
  return hdb__filter_parse(text, out, &db->err);
}

/* ---------------------------------------------------------------- */
/* Open and close                                                    */
/* ---------------------------------------------------------------- */

static hdb_status open_url(const char *url_text, const hdb_config *cfg, hdb **out, hdb_error *err) {
  hdb__url url;
  hdb_status st = hdb__url_parse(url_text, &url, err);
  if (st != HDB_OK) return st;
  const hdb__backend *be = hdb__backend_lookup(url.backend);
  if (!be) {
    char built[160] = "";
    for (int b = HDB_BACKEND_NATIVE; b <= HDB_BACKEND_ELASTIC; b++)
      if (hdb_backend_built((hdb_backend)b))
        snprintf(built + strlen(built), sizeof built - strlen(built), "%s%s", built[0] ? ", " : "",
                 hdb_backend_name((hdb_backend)b));
    st = hdb__fail(err, HDB_NOT_BUILT,
                   "cannot open '%.300s': the %s backend is not built into this library "
                   "(built: %s)",
                   url.redacted, hdb_backend_name(url.backend), built);
    hdb__url_free(&url);
    return st;
  }
  hdb *db = hdb__calloc(1, sizeof *db);
  if (!db || !(db->url = hdb__strdup(url.redacted))) {
    hdb__free_mem(db);
    hdb__url_free(&url);
    return hdb__fail(err, HDB_NOMEM, "out of memory opening '%.300s'", url_text);
  }
  db->be = be;
  hdb_config defaults = HDB_CONFIG_INIT;
  st = be->open(&url, cfg ? cfg : &defaults, &db->conn, err);
  if (st != HDB_OK) {
    if (err && err->message[0] == '\0') hdb__fail(err, st, "cannot open '%.300s'", url.redacted);
    hdb__url_free(&url);
    hdb__free_mem(db->url);
    hdb__free_mem(db);
    return st;
  }
  hdb__url_free(&url);
  pthread_mutex_init(&db->mu, NULL);
  db->err.code = HDB_OK;
  *out = db;
  return HDB_OK;
}

hdb_status hdb_open(const char *url, hdb **out, hdb_error *err) {
  hdb__err_clear(err);
  if (!out) return hdb__fail(err, HDB_INVALID_ARGUMENT, "hdb_open: out is NULL");
  *out = NULL;
  if (!url) return hdb__fail(err, HDB_INVALID_ARGUMENT, "hdb_open: url is NULL (expected e.g. native://./data)");
  return open_url(url, NULL, out, err);
}

hdb_status hdb_open_config(const hdb_config *cfg, hdb **out, hdb_error *err) {
  hdb__err_clear(err);
  if (!out) return hdb__fail(err, HDB_INVALID_ARGUMENT, "hdb_open_config: out is NULL");
  *out = NULL;
  if (!cfg) return hdb__fail(err, HDB_INVALID_ARGUMENT, "hdb_open_config: cfg is NULL");
  hdb_selection sel;
  hdb_status st = hdb_select(cfg, &sel, err);
  if (st != HDB_OK) return st;
  return open_url(sel.url, cfg, out, err);
}

hdb_status hdb_open_env(hdb **out, hdb_error *err) {
  hdb_config cfg = HDB_CONFIG_INIT;
  cfg.use_env = 1;
  return hdb_open_config(&cfg, out, err);
}

void hdb_close(hdb *db) {
  if (!db) return;
  pthread_mutex_lock(&db->mu);
  if (db->in_txn && db->be->rollback) {
    hdb_error ignored;
    db->be->rollback(db->conn, &ignored);
  }
  db->be->close(db->conn);
  pthread_mutex_unlock(&db->mu);
  pthread_mutex_destroy(&db->mu);
  hdb__free_mem(db->url);
  hdb__free_mem(db);
}

const char *hdb_errmsg(const hdb *db) {
  if (!db) return "NULL database handle";
  if (db->err.code == HDB_OK || db->err.code == HDB_DONE) return "not an error";
  return db->err.message;
}

hdb_status hdb_errcode(const hdb *db) { return db ? db->err.code : HDB_INVALID_ARGUMENT; }

hdb_backend hdb_backend_of(const hdb *db) { return db ? db->be->id : HDB_BACKEND_DEFAULT; }

const char *hdb_url(const hdb *db) { return db ? db->url : ""; }

hdb_status hdb_ping(hdb *db) {
  CHECK_DB(db);
  CALL(db, { st = db->be->ping ? db->be->ping(db->conn, &db->err) : HDB_OK; });
}

uint32_t hdb_capabilities(const hdb *db) {
  if (!db) return 0;
  return db->be->capabilities(db->conn);
}

/* ---------------------------------------------------------------- */
/* Tables                                                            */
/* ---------------------------------------------------------------- */

hdb_status hdb_table_create(hdb *db, const char *table, const hdb_schema *schema, unsigned flags) {
  CHECK_DB(db);
  CALL(db, {
    if ((st = check_name(db, "table", table)) != HDB_OK) break;
    if (flags & ~(unsigned)HDB_IF_NOT_EXISTS) {
      st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "hdb_table_create: unknown flags 0x%x", flags);
      break;
    }
    if (!schema && !(hdb_capabilities(db) & HDB_CAP_SCHEMALESS)) {
      st = hdb__fail(&db->err, HDB_NOT_SUPPORTED,
                     "the %s backend needs a schema to create table '%s'", db->be->name, table);
      break;
    }
    st = db->be->table_create(db->conn, table, schema, flags, &db->err);
  });
}

hdb_status hdb_table_drop(hdb *db, const char *table, unsigned flags) {
  CHECK_DB(db);
  CALL(db, {
    if ((st = check_name(db, "table", table)) != HDB_OK) break;
    st = db->be->table_drop(db->conn, table, flags, &db->err);
  });
}

hdb_status hdb_table_list(hdb *db, char ***names, size_t *count) {
  CHECK_DB(db);
  CALL(db, {
    if (!names || !count) {
      st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "hdb_table_list: NULL output");
      break;
    }
    *names = NULL;
    *count = 0;
    st = db->be->table_list(db->conn, names, count, &db->err);
  });
}

hdb_status hdb_table_schema(hdb *db, const char *table, hdb_schema **schema) {
  CHECK_DB(db);
  CALL(db, {
    if (!schema) {
      st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "hdb_table_schema: NULL output");
      break;
    }
    *schema = NULL;
    if ((st = check_name(db, "table", table)) != HDB_OK) break;
    st = db->be->table_schema(db->conn, table, schema, &db->err);
  });
}

/* ---------------------------------------------------------------- */
/* Records                                                           */
/* ---------------------------------------------------------------- */

static hdb_status check_records(hdb *db, const char *table, hdb_record *const *records, size_t n) {
  hdb_status st = check_name(db, "table", table);
  if (st != HDB_OK) return st;
  if (n > HDB_MAX_BATCH)
    return hdb__fail(&db->err, HDB_TOO_BIG, "batch of %zu records for table '%s' exceeds %u", n, table,
                     HDB_MAX_BATCH);
  if (n && !records)
    return hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "records is NULL (n = %zu)", n);
  for (size_t i = 0; i < n; i++) {
    if (!records[i])
      return hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "record %zu of the batch for table '%s' is NULL", i,
                       table);
    if (!records[i]->id)
      return hdb__fail(&db->err, HDB_BAD_ID, "record %zu of the batch for table '%s' has no id", i, table);
    if ((st = hdb__id_check(records[i]->id, &db->err)) != HDB_OK) {
      hdb__err_prefix(&db->err, "record %zu of the batch for table '%s'", i, table);
      return st;
    }
  }
  return HDB_OK;
}

static hdb_status write_records(hdb *db, const char *table, hdb_record *const *records, size_t n,
                                hdb__write_mode mode) {
  CHECK_DB(db);
  CALL(db, {
    if ((st = check_records(db, table, records, n)) != HDB_OK) break;
    if (n == 0) break;
    st = db->be->write(db->conn, table, records, n, mode, &db->err);
  });
}

hdb_status hdb_insert(hdb *db, const char *table, hdb_record *const *records, size_t n) {
  return write_records(db, table, records, n, HDB__WRITE_INSERT);
}

hdb_status hdb_upsert(hdb *db, const char *table, hdb_record *const *records, size_t n) {
  return write_records(db, table, records, n, HDB__WRITE_UPSERT);
}

static hdb_status check_table_id(hdb *db, const char *table, const char *id) {
  hdb_status st = check_name(db, "table", table);
  if (st != HDB_OK) return st;
  if (!id) return hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "id is NULL");
  return hdb__id_check(id, &db->err);
}

hdb_status hdb_get(hdb *db, const char *table, const char *id, hdb_record **out) {
  CHECK_DB(db);
  CALL(db, {
    if (!out) {
      st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "hdb_get: out is NULL");
      break;
    }
    *out = NULL;
    if ((st = check_table_id(db, table, id)) != HDB_OK) break;
    st = db->be->get(db->conn, table, id, out, &db->err);
  });
}

hdb_status hdb_update(hdb *db, const char *table, const char *id, const hdb_record *patch) {
  CHECK_DB(db);
  CALL(db, {
    if ((st = check_table_id(db, table, id)) != HDB_OK) break;
    if (!patch) {
      st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "hdb_update: patch is NULL");
      break;
    }
    hdb__expr *all = NULL;
    if ((st = parse_filter(db, NULL, &all)) != HDB_OK) break;
    st = db->be->update(db->conn, table, id, all, patch, NULL, &db->err);
    hdb__expr_free(all);
  });
}

hdb_status hdb_update_where(hdb *db, const char *table, const char *filter,
                            const hdb_record *patch, uint64_t *updated) {
  CHECK_DB(db);
  CALL(db, {
    if (updated) *updated = 0;
    if ((st = check_name(db, "table", table)) != HDB_OK) break;
    if (!patch) {
      st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "hdb_update_where: patch is NULL");
      break;
    }
    hdb__expr *e = NULL;
    if ((st = parse_filter(db, filter, &e)) != HDB_OK) break;
    uint64_t n = 0;
    st = db->be->update(db->conn, table, NULL, e, patch, &n, &db->err);
    hdb__expr_free(e);
    if (st == HDB_OK && updated) *updated = n;
  });
}

hdb_status hdb_delete(hdb *db, const char *table, const char *id) {
  CHECK_DB(db);
  CALL(db, {
    if ((st = check_table_id(db, table, id)) != HDB_OK) break;
    hdb__expr *all = NULL;
    if ((st = parse_filter(db, NULL, &all)) != HDB_OK) break;
    st = db->be->remove(db->conn, table, id, all, NULL, &db->err);
    hdb__expr_free(all);
  });
}

hdb_status hdb_delete_where(hdb *db, const char *table, const char *filter, uint64_t *deleted) {
  CHECK_DB(db);
  CALL(db, {
    if (deleted) *deleted = 0;
    if ((st = check_name(db, "table", table)) != HDB_OK) break;
    hdb__expr *e = NULL;
    if ((st = parse_filter(db, filter, &e)) != HDB_OK) break;
    uint64_t n = 0;
    st = db->be->remove(db->conn, table, NULL, e, &n, &db->err);
    hdb__expr_free(e);
    if (st == HDB_OK && deleted) *deleted = n;
  });
}

/* ---------------------------------------------------------------- */
/* Queries                                                           */
/* ---------------------------------------------------------------- */

static hdb_status check_fields(hdb *db, const char *const *fields, size_t n, const char *what) {
  if (n && !fields)
    return hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "%s list is NULL but its count is %zu", what, n);
  for (size_t i = 0; i < n; i++)
    if (!fields[i] || !*fields[i])
      return hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "%s %zu is NULL or empty", what, i);
  return HDB_OK;
}

hdb_status hdb_query(hdb *db, const char *table, const hdb_query_options *q, hdb_cursor **out) {
  CHECK_DB(db);
  CALL(db, {
    if (!out) {
      st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "hdb_query: out is NULL");
      break;
    }
    *out = NULL;
    if ((st = check_name(db, "table", table)) != HDB_OK) break;
    hdb_query_options defaults = HDB_QUERY_INIT;
    if (!q) q = &defaults;
    if (q->n_sort && !q->sort) {
      st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "sort is NULL but n_sort is %zu", q->n_sort);
      break;
    }
    for (size_t i = 0; i < q->n_sort; i++)
      if (!q->sort[i].field || !*q->sort[i].field) {
        st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "sort key %zu has no field", i);
        break;
      }
    if (st != HDB_OK) break;
    if ((st = check_fields(db, q->fields, q->n_fields, "projection field")) != HDB_OK) break;
    if (q->version < 0) {
      st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "version %lld is negative", (long long)q->version);
      break;
    }
    hdb__expr *e = NULL;
    if ((st = parse_filter(db, q->filter, &e)) != HDB_OK) break;
    hdb__query iq = {e, q->sort, q->n_sort, q->limit, q->offset, q->fields, q->n_fields, q->version};
    st = db->be->query(db->conn, table, &iq, out, &db->err);
    hdb__expr_free(e);
  });
}

hdb_status hdb_count(hdb *db, const char *table, const char *filter, uint64_t *out) {
  CHECK_DB(db);
  CALL(db, {
    if (!out) {
      st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "hdb_count: out is NULL");
      break;
    }
    *out = 0;
    if ((st = check_name(db, "table", table)) != HDB_OK) break;
    hdb__expr *e = NULL;
    if ((st = parse_filter(db, filter, &e)) != HDB_OK) break;
    st = db->be->count(db->conn, table, e, 0, out, &db->err);
    hdb__expr_free(e);
  });
}

/* ---------------------------------------------------------------- */
/* Search                                                            */
/* ---------------------------------------------------------------- */

/* Checks a search request; on success *e holds the parsed filter. */
static hdb_status prepare_search(hdb *db, const char *table, const hdb_search *s, hdb__search *is,
                                 hdb__expr **e) {
  hdb_status st = check_name(db, "table", table);
  if (st != HDB_OK) return st;
  if (!s) return hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "search request is NULL");
  if (s->column && (st = check_name(db, "column", s->column)) != HDB_OK) return st;
  if (s->k <= 0)
    return hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "k must be at least 1 (got %d)", s->k);
  if (!s->vector || s->dim == 0)
    return hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "the query vector is empty");
  if (s->dim > HDB_MAX_VECTOR_DIM)
    return hdb__fail(&db->err, HDB_DIMENSION, "the query vector has %u components; the maximum is %u",
                     s->dim, HDB_MAX_VECTOR_DIM);
  long bad = hdb__vector_first_nonfinite(s->vector, s->dim);
  if (bad >= 0)
    return hdb__fail(&db->err, HDB_NOT_FINITE, "component %ld of the query vector is %s", bad,
                     isnan(s->vector[bad]) ? "NaN" : "infinite");
  if ((unsigned)s->metric > HDB_METRIC_DOT)
    return hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "unknown metric %d", (int)s->metric);
  if (s->ef < 0 || s->nprobe < 0 || s->refine < 0)
    return hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "ef, nprobe and refine must not be negative");
  if (s->version < 0)
    return hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "version %lld is negative", (long long)s->version);
  if ((st = check_fields(db, s->fields, s->n_fields, "projection field")) != HDB_OK) return st;
  if ((st = parse_filter(db, s->filter, e)) != HDB_OK) return st;
  *is = (hdb__search){s->column, s->vector, s->dim,   s->k,      s->metric, *e,        s->fields,
                      s->n_fields, s->ef,   s->nprobe, s->refine, s->exact,  s->version};
  return HDB_OK;
}

hdb_status hdb_search_vector(hdb *db, const char *table, const hdb_search *s, hdb_cursor **out) {
  CHECK_DB(db);
  CALL(db, {
    if (!out) {
      st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "hdb_search_vector: out is NULL");
      break;
    }
    *out = NULL;
    if (!db->be->search) {
      st = unsupported(db, "vector search");
      break;
    }
    hdb__search is;
    hdb__expr *e = NULL;
    if ((st = prepare_search(db, table, s, &is, &e)) == HDB_OK)
      st = db->be->search(db->conn, table, &is, out, &db->err);
    hdb__expr_free(e);
  });
}

hdb_status hdb_search_hybrid(hdb *db, const char *table, const hdb_hybrid *h, hdb_cursor **out) {
  CHECK_DB(db);
  CALL(db, {
    if (!out || !h) {
      st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "hdb_search_hybrid: NULL argument");
      break;
    }
    *out = NULL;
    if (!db->be->search_hybrid) {
      st = unsupported(db, "hybrid search (capability hybrid_search is off)");
      break;
    }
    if (!h->text_query || !*h->text_query) {
      st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "hybrid search needs a text query");
      break;
    }
    if (h->vector_weight < 0 || h->vector_weight > 1 || isnan(h->vector_weight)) {
      st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "vector_weight must be between 0 and 1");
      break;
    }
    hdb__search is;
    hdb__expr *e = NULL;
    if ((st = prepare_search(db, table, &h->vector, &is, &e)) == HDB_OK)
      st = db->be->search_hybrid(db->conn, table, &is, h->text_column, h->text_query, h->fusion,
                                 h->vector_weight, out, &db->err);
    hdb__expr_free(e);
  });
}

/* ---------------------------------------------------------------- */
/* Aggregates                                                        */
/* ---------------------------------------------------------------- */

hdb_status hdb_aggregate(hdb *db, const char *table, const hdb_agg *aggs, size_t n_aggs,
                         const char *group_by, const char *filter, hdb_cursor **out) {
  CHECK_DB(db);
  CALL(db, {
    if (!out) {
      st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "hdb_aggregate: out is NULL");
      break;
    }
    *out = NULL;
    if ((st = check_name(db, "table", table)) != HDB_OK) break;
    if (!db->be->aggregate) {
      st = unsupported(db, "aggregates");
      break;
    }
    if (n_aggs == 0 || !aggs) {
      st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "hdb_aggregate needs at least one aggregate");
      break;
    }
    for (size_t i = 0; i < n_aggs && st == HDB_OK; i++) {
      if ((unsigned)aggs[i].op > HDB_AGG_MAX)
        st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "aggregate %zu has an unknown operation %d", i,
                       (int)aggs[i].op);
      else if (!aggs[i].field && aggs[i].op != HDB_AGG_COUNT)
        st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "aggregate %s needs a field",
                       hdb_agg_op_name(aggs[i].op));
      else if (aggs[i].field && !*aggs[i].field)
        st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "aggregate %zu has an empty field name", i);
    }
    if (st != HDB_OK) break;
    if (group_by && !*group_by) group_by = NULL;
    hdb__expr *e = NULL;
    if ((st = parse_filter(db, filter, &e)) != HDB_OK) break;
    st = db->be->aggregate(db->conn, table, aggs, n_aggs, group_by, e, out, &db->err);
    hdb__expr_free(e);
  });
}

/* ---------------------------------------------------------------- */
/* Indexes                                                           */
/* ---------------------------------------------------------------- */

hdb_status hdb_index_create(hdb *db, const char *table, const char *column, hdb_index_type type,
                            const char *params) {
  CHECK_DB(db);
  CALL(db, {
    if ((st = check_name(db, "table", table)) != HDB_OK) break;
    if ((st = check_name(db, "column", column)) != HDB_OK) break;
    if ((unsigned)type > HDB_INDEX_FTS) {
      st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "unknown index type %d", (int)type);
      break;
    }
    if (!db->be->index_create) {
      st = unsupported(db, "indexes");
      break;
    }
    st = db->be->index_create(db->conn, table, column, type, params, &db->err);
  });
}

hdb_status hdb_index_drop(hdb *db, const char *table, const char *column) {
  CHECK_DB(db);
  CALL(db, {
    if ((st = check_name(db, "table", table)) != HDB_OK) break;
    if ((st = check_name(db, "column", column)) != HDB_OK) break;
    if (!db->be->index_drop) {
      st = unsupported(db, "indexes");
      break;
    }
    st = db->be->index_drop(db->conn, table, column, &db->err);
  });
}

hdb_status hdb_index_optimize(hdb *db, const char *table, const char *column) {
  CHECK_DB(db);
  CALL(db, {
    if ((st = check_name(db, "table", table)) != HDB_OK) break;
    if ((st = check_name(db, "column", column)) != HDB_OK) break;
    if (!db->be->index_list) {
      st = unsupported(db, "indexes");
      break;
    }
    if (db->be->index_optimize) {
      st = db->be->index_optimize(db->conn, table, column, &db->err);
      break;
    }
    /* Indexes that are always current: optimizing is checking that the
     * index exists. */
    hdb_index_info *infos = NULL;
    size_t n = 0;
    if ((st = db->be->index_list(db->conn, table, &infos, &n, &db->err)) != HDB_OK) break;
    int found = 0;
    for (size_t i = 0; i < n; i++) found |= strcmp(infos[i].column, column) == 0;
    hdb_index_info_free(infos, n);
    if (!found)
      st = hdb__fail(&db->err, HDB_NO_INDEX, "table '%s' has no index on column '%s'", table, column);
  });
}

hdb_status hdb_index_list(hdb *db, const char *table, hdb_index_info **infos, size_t *count) {
  CHECK_DB(db);
  CALL(db, {
    if (!infos || !count) {
      st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "hdb_index_list: NULL output");
      break;
    }
    *infos = NULL;
    *count = 0;
    if ((st = check_name(db, "table", table)) != HDB_OK) break;
    if (!db->be->index_list) {
      /* No index support: still a real table check via its schema. */
      hdb_schema *s = NULL;
      st = db->be->table_schema(db->conn, table, &s, &db->err);
      hdb_schema_free(s);
      break;
    }
    st = db->be->index_list(db->conn, table, infos, count, &db->err);
  });
}

void hdb_index_info_free(hdb_index_info *infos, size_t count) {
  if (!infos) return;
  for (size_t i = 0; i < count; i++) {
    hdb__free_mem(infos[i].column);
    hdb__free_mem(infos[i].params);
  }
  hdb__free_mem(infos);
}

/* ---------------------------------------------------------------- */
/* Transactions                                                      */
/* ---------------------------------------------------------------- */

hdb_status hdb_begin(hdb *db) {
  CHECK_DB(db);
  CALL(db, {
    if (!db->be->begin) {
      st = unsupported(db, "transactions");
      break;
    }
    if (db->in_txn) {
      st = hdb__fail(&db->err, HDB_TXN_STATE, "a transaction is already open on this handle");
      break;
    }
    if ((st = db->be->begin(db->conn, &db->err)) == HDB_OK) db->in_txn = 1;
  });
}

hdb_status hdb_commit(hdb *db) {
  CHECK_DB(db);
  CALL(db, {
    if (!db->be->commit) {
      st = unsupported(db, "transactions");
      break;
    }
    if (!db->in_txn) {
      st = hdb__fail(&db->err, HDB_TXN_STATE, "commit without a transaction (call hdb_begin first)");
      break;
    }
    /* Whatever the outcome, the transaction is over: a failed commit has
     * rolled back (backend contract). */
    st = db->be->commit(db->conn, &db->err);
    db->in_txn = 0;
  });
}

hdb_status hdb_rollback(hdb *db) {
  CHECK_DB(db);
  CALL(db, {
    if (!db->be->rollback) {
      st = unsupported(db, "transactions");
      break;
    }
    if (!db->in_txn) {
      st = hdb__fail(&db->err, HDB_TXN_STATE, "rollback without a transaction");
      break;
    }
    st = db->be->rollback(db->conn, &db->err);
    db->in_txn = 0;
  });
}

/* ---------------------------------------------------------------- */
/* Key-value                                                         */
/* ---------------------------------------------------------------- */

static hdb_status kv_ready(hdb *db, const char *ns, const void *key, size_t klen, size_t vlen) {
  if (!db->be->kv_write || !db->be->kv_get)
    return unsupported(db, "key-value storage (capability kv is off)");
  if (!key && klen)
    return hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "key is NULL but its length is %zu", klen);
  return hdb__kv_check(ns ? ns : "", klen, vlen, &db->err);
}

/* Applies a one-operation batch. */
static hdb_status kv_single(hdb *db, int is_delete, const char *ns, const void *key, size_t klen,
                            const void *val, size_t vlen) {
  hdb__kv_op op = {is_delete, (char *)(ns ? ns : ""), (void *)key, klen, (void *)val, vlen};
  hdb_kv_batch b = {&op, 1, 1};
  return db->be->kv_write(db->conn, &b, &db->err);
}

hdb_status hdb_kv_put(hdb *db, const char *ns, const void *key, size_t klen, const void *val,
                      size_t vlen) {
  CHECK_DB(db);
  CALL(db, {
    if (!val && vlen) {
      st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "value is NULL but its length is %zu", vlen);
      break;
    }
    if ((st = kv_ready(db, ns, key, klen, vlen)) != HDB_OK) break;
    st = kv_single(db, 0, ns, key, klen, val ? val : "", vlen);
  });
}

hdb_status hdb_kv_get(hdb *db, const char *ns, const void *key, size_t klen, void **val,
                      size_t *vlen) {
  CHECK_DB(db);
  CALL(db, {
    if (!val || !vlen) {
      st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "hdb_kv_get: NULL output");
      break;
    }
    *val = NULL;
    *vlen = 0;
    if ((st = kv_ready(db, ns, key, klen, 0)) != HDB_OK) break;
    st = db->be->kv_get(db->conn, ns ? ns : "", key, klen, val, vlen, &db->err);
  });
}

hdb_status hdb_kv_delete(hdb *db, const char *ns, const void *key, size_t klen) {
  CHECK_DB(db);
  CALL(db, {
    if ((st = kv_ready(db, ns, key, klen, 0)) != HDB_OK) break;
    /* Deleting a missing key is NOT_FOUND for a single delete (a batch
     * delete of a missing key is a no-op). The handle lock makes the two
     * steps one for this handle. */
    void *v = NULL;
    size_t vl = 0;
    st = db->be->kv_get(db->conn, ns ? ns : "", key, klen, &v, &vl, &db->err);
    hdb_free(v);
    if (st != HDB_OK) break;
    st = kv_single(db, 1, ns, key, klen, NULL, 0);
  });
}

hdb_status hdb_kv_has(hdb *db, const char *ns, const void *key, size_t klen, int *found) {
  CHECK_DB(db);
  CALL(db, {
    if (!found) {
      st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "hdb_kv_has: found is NULL");
      break;
    }
    *found = 0;
    if ((st = kv_ready(db, ns, key, klen, 0)) != HDB_OK) break;
    void *v = NULL;
    size_t vl = 0;
    st = db->be->kv_get(db->conn, ns ? ns : "", key, klen, &v, &vl, &db->err);
    hdb_free(v);
    if (st == HDB_OK) {
      *found = 1;
    } else if (st == HDB_NOT_FOUND) {
      hdb__err_clear(&db->err);
      st = HDB_OK;
    }
  });
}

hdb_status hdb_kv_put_ttl(hdb *db, const char *ns, const void *key, size_t klen, const void *val,
                          size_t vlen, int64_t ttl_ms) {
  CHECK_DB(db);
  CALL(db, {
    if (!db->be->kv_put_ttl) {
      st = unsupported(db, "expiry (capability ttl is off)");
      break;
    }
    if (ttl_ms <= 0) {
      st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "ttl must be positive (got %lld ms)", (long long)ttl_ms);
      break;
    }
    if ((st = kv_ready(db, ns, key, klen, vlen)) != HDB_OK) break;
    st = db->be->kv_put_ttl(db->conn, ns ? ns : "", key, klen, val ? val : "", vlen, ttl_ms, &db->err);
  });
}

hdb_status hdb_kv_write(hdb *db, const hdb_kv_batch *b) {
  CHECK_DB(db);
  CALL(db, {
    if (!b) {
      st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "hdb_kv_write: batch is NULL");
      break;
    }
    if (!db->be->kv_write) {
      st = unsupported(db, "key-value storage (capability kv is off)");
      break;
    }
    for (size_t i = 0; i < b->n; i++) {
      const hdb__kv_op *op = &b->ops[i];
      if ((st = hdb__kv_check(op->ns, op->klen, op->is_delete ? 0 : op->vlen, &db->err)) != HDB_OK) {
        hdb__err_prefix(&db->err, "operation %zu of the batch", i);
        break;
      }
    }
    if (st != HDB_OK || b->n == 0) break;
    st = db->be->kv_write(db->conn, b, &db->err);
  });
}

hdb_status hdb_kv_iter_open(hdb *db, const char *ns, const hdb_kv_range *range, hdb_kv_iter **out) {
  CHECK_DB(db);
  CALL(db, {
    if (!out) {
      st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "hdb_kv_iter_open: out is NULL");
      break;
    }
    *out = NULL;
    if (!db->be->kv_iter) {
      st = unsupported(db, "key-value iterators (capability kv is off)");
      break;
    }
    if ((st = hdb__kv_check(ns ? ns : "", 1, 0, &db->err)) != HDB_OK) break;
    hdb_kv_range all = {0};
    if (!range) range = &all;
    if ((!range->prefix && range->prefix_len) || (!range->start && range->start_len) ||
        (!range->end && range->end_len)) {
      st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "range has a NULL bound with a non-zero length");
      break;
    }
    st = db->be->kv_iter(db->conn, ns ? ns : "", range, out, &db->err);
  });
}

/* ---------------------------------------------------------------- */
/* Declared for later backends                                       */
/* ---------------------------------------------------------------- */

hdb_status hdb_publish(hdb *db, const char *channel, const void *msg, size_t len) {
  CHECK_DB(db);
  CALL(db, {
    if (!db->be->publish) {
      st = unsupported(db, "publish/subscribe (capability pubsub is off)");
      break;
    }
    if (!channel || !*channel || (!msg && len)) {
      st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "hdb_publish: bad channel or message");
      break;
    }
    st = db->be->publish(db->conn, channel, msg ? msg : "", len, &db->err);
  });
}

hdb_status hdb_subscribe(hdb *db, const char *channel, hdb_message_fn fn, void *user) {
  CHECK_DB(db);
  CALL(db, {
    if (!db->be->subscribe) {
      st = unsupported(db, "publish/subscribe (capability pubsub is off)");
      break;
    }
    if (!channel || !*channel || !fn) {
      st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "hdb_subscribe: bad channel or callback");
      break;
    }
    st = db->be->subscribe(db->conn, channel, fn, user, &db->err);
  });
}

hdb_status hdb_unsubscribe(hdb *db, const char *channel) {
  CHECK_DB(db);
  CALL(db, {
    if (!db->be->unsubscribe) {
      st = unsupported(db, "publish/subscribe (capability pubsub is off)");
      break;
    }
    if (!channel || !*channel) {
      st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "hdb_unsubscribe: bad channel");
      break;
    }
    st = db->be->unsubscribe(db->conn, channel, &db->err);
  });
}

hdb_status hdb_table_versions(hdb *db, const char *table, hdb_version_info **out, size_t *count) {
  CHECK_DB(db);
  CALL(db, {
    if (!out || !count) {
      st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "hdb_table_versions: NULL output");
      break;
    }
    *out = NULL;
    *count = 0;
    if ((st = check_name(db, "table", table)) != HDB_OK) break;
    if (!db->be->versions) {
      st = unsupported(db, "versions and time travel (capability time_travel is off)");
      break;
    }
    st = db->be->versions(db->conn, table, out, count, &db->err);
  });
}

void hdb_version_info_free(hdb_version_info *v, size_t count) {
  if (!v) return;
  for (size_t i = 0; i < count; i++) hdb__free_mem(v[i].tag);
  hdb__free_mem(v);
}

hdb_status hdb_table_restore(hdb *db, const char *table, int64_t version) {
  CHECK_DB(db);
  CALL(db, {
    if ((st = check_name(db, "table", table)) != HDB_OK) break;
    if (!db->be->restore) {
      st = unsupported(db, "versions and time travel (capability time_travel is off)");
      break;
    }
    if (version <= 0) {
      st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "version must be positive (got %lld)", (long long)version);
      break;
    }
    st = db->be->restore(db->conn, table, version, &db->err);
  });
}

hdb_status hdb_stats(hdb *db, const char *table, char **json) {
  CHECK_DB(db);
  CALL(db, {
    if (!json) {
      st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "hdb_stats: json is NULL");
      break;
    }
    *json = NULL;
    if (table && (st = check_name(db, "table", table)) != HDB_OK) break;
    if (!db->be->stats) {
      st = unsupported(db, "statistics (capability stats is off)");
      break;
    }
    st = db->be->stats(db->conn, table, json, &db->err);
  });
}

hdb_status hdb_compact(hdb *db, const char *table) {
  CHECK_DB(db);
  CALL(db, {
    if (table && (st = check_name(db, "table", table)) != HDB_OK) break;
    if (!db->be->compact) {
      st = unsupported(db, "compaction");
      break;
    }
    st = db->be->compact(db->conn, table, &db->err);
  });
}

hdb_status hdb_check(hdb *db, char **report) {
  CHECK_DB(db);
  CALL(db, {
    if (!report) {
      st = hdb__fail(&db->err, HDB_INVALID_ARGUMENT, "hdb_check: report is NULL");
      break;
    }
    *report = NULL;
    if (!db->be->check) {
      st = unsupported(db, "integrity checks");
      break;
    }
    st = db->be->check(db->conn, report, &db->err);
  });
}

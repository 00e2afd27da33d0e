/*
 * duck_backend.c - the duckdb:// backend's vtable, open/close, the
 * registry of shared databases, error mapping, and the statement helpers
 * every other file uses.
 *
 *   duckdb://PATH[?threads=N]        a database file (created when missing)
 *   duckdb://:memory:[?threads=N]    the process's in-memory database
 *
 * Registry: one duckdb_database per real path (and one for ":memory:"),
 * counted by handles and cursors, closed with the last of them (duck.h
 * invariant 3). DuckDB itself refuses a second duckdb_database on a file
 * it already has open in this process, and a second process gets a lock
 * error (HDB_BUSY), so sharing is the only way two handles see one file.
 * threads=N sets DuckDB's worker threads for that database (a setting of
 * the database, so it applies to every handle on it).
 *
 * Configuration given to DuckDB: autoinstall_known_extensions=false and
 * autoload_known_extensions=false (only the built-in extensions work
 * offline: parquet, json, icu, core_functions), home_directory=$TMPDIR or
 * /tmp when $HOME is unset, access_mode=READ_ONLY for a read-only handle
 * on a file. Capabilities: transactions, kv, vector_search (exact, with
 * DuckDB's array distance functions), scalar_index (ART), aggregate,
 * schemaless, and persistent except for :memory:.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "duck.h"

#include "core/alloc.h"
#include "core/err.h"

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static hdb__duck_shared *registry = NULL;

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

static int has(const char *msg, const char *needle) {
  return msg && strstr(msg, needle) != NULL;
}

hdb_status hdb__duck_map_error(duckdb_error_type type, const char *msg) {
  if (has(msg, "Could not set lock") || has(msg, "Conflicting lock")) return HDB_BUSY;
  if (has(msg, "not a valid DuckDB database") || has(msg, "Corrupt") ||
      has(msg, "corrupt") || has(msg, "checksum"))
    return HDB_CORRUPT;
  if (has(msg, "read-only") || has(msg, "read only")) return HDB_READ_ONLY;
  switch (type) {
  case DUCKDB_ERROR_TRANSACTION:
    return has(msg, "onflict") ? HDB_CONFLICT : HDB_TXN_STATE;
  case DUCKDB_ERROR_CONSTRAINT:
    return HDB_CONSTRAINT;
  case DUCKDB_ERROR_CATALOG:
    return has(msg, "does not exist") ? HDB_NO_TABLE : HDB_ERROR;
  case DUCKDB_ERROR_IO:
    return HDB_IO;
  case DUCKDB_ERROR_SERIALIZATION:
    return HDB_CORRUPT;
  case DUCKDB_ERROR_OUT_OF_MEMORY:
    return HDB_NOMEM;
  case DUCKDB_ERROR_PERMISSION:
    return HDB_READ_ONLY;
  case DUCKDB_ERROR_CONVERSION:
  case DUCKDB_ERROR_MISMATCH_TYPE:
    return HDB_TYPE_MISMATCH;
  default:
    return HDB_ERROR;
  }
}

hdb_status hdb__duck_enter(hdb__duck_conn *c, int writes, hdb_error *err) {
  if (c->failed != HDB_OK)
    return hdb__fail(err, HDB_TXN_STATE,
                     "the open transaction failed (%s: %s) and was rolled back; call "
                     "hdb_rollback before using this handle again",
                     hdb_status_name(c->failed), c->failed_msg);
  if (writes && c->read_only)
    return hdb__fail(err, HDB_READ_ONLY, "this duckdb handle was opened read-only");
  return HDB_OK;
}

hdb_status hdb__duck_stmt_failed(hdb__duck_conn *c, duckdb_error_type type, const char *msg,
                                 hdb_error *err, const char *what) {
  hdb_status st = hdb__duck_map_error(type, msg);
  hdb__fail(err, st, "%s: %s", what, msg ? msg : "unknown DuckDB error");
  if (c->in_txn && c->failed == HDB_OK) {
    /* Invariant 4: DuckDB has aborted the transaction; end it there now and
     * remember why until the caller rolls back. */
    duckdb_result r;
    duckdb_query(c->con, "ROLLBACK", &r);
    duckdb_destroy_result(&r);
    c->failed = st;
    snprintf(c->failed_msg, sizeof c->failed_msg, "%s", msg ? msg : "");
    if (err) hdb__err_prefix(err, "the transaction was rolled back");
  }
  return st;
}

hdb_status hdb__duck_exec(hdb__duck_conn *c, const char *sql, hdb_error *err, const char *what) {
  duckdb_result r;
  if (duckdb_query(c->con, sql, &r) == DuckDBSuccess) {
    duckdb_destroy_result(&r);
    return HDB_OK;
  }
  hdb_status st = hdb__duck_stmt_failed(c, duckdb_result_error_type(&r), duckdb_result_error(&r),
                                        err, what);
  duckdb_destroy_result(&r);
  return st;
}

/* The cached prepared statement for sql in *out, preparing it on a miss
 * (the least recently used slot is replaced). */
static hdb_status stmt_get(hdb__duck_conn *c, const char *sql, duckdb_prepared_statement *out,
                           hdb_error *err, const char *what) {
  *out = NULL;
  hdb__duck_stmt *slot = &c->stmts[0];
  for (size_t i = 0; i < HDB__DUCK_STMT_CACHE; i++) {
    hdb__duck_stmt *e = &c->stmts[i];
    if (e->sql && strcmp(e->sql, sql) == 0) {
      e->used = ++c->clock;
      duckdb_clear_bindings(e->ps);
      *out = e->ps;
      return HDB_OK;
    }
    if (!e->sql || e->used < slot->used) slot = e;
    if (!slot->sql) break;
  }
  duckdb_prepared_statement ps = NULL;
  if (duckdb_prepare(c->con, sql, &ps) != DuckDBSuccess) {
    /* A prepare error (unknown table...) does not abort a DuckDB
     * transaction, but the caller asked for a statement that should work;
     * it is reported like any failed statement. */
    hdb_status st = hdb__duck_stmt_failed(c, DUCKDB_ERROR_INVALID, duckdb_prepare_error(ps), err, what);
    duckdb_destroy_prepare(&ps);
    return st;
  }
  *out = ps;
  char *copy = hdb__strdup(sql);
  if (!copy) return HDB_OK; /* uncached: run() destroys it after use */
  if (slot->sql) {
    duckdb_destroy_prepare(&slot->ps);
    hdb__free_mem(slot->sql);
  }
  slot->sql = copy;
  slot->ps = ps;
  slot->used = ++c->clock;
  return HDB_OK;
}

static int stmt_cached(const hdb__duck_conn *c, duckdb_prepared_statement ps) {
  for (size_t i = 0; i < HDB__DUCK_STMT_CACHE; i++)
    if (c->stmts[i].sql && c->stmts[i].ps == ps) return 1;
  return 0;
}

static void stmt_cache_free(hdb__duck_conn *c) {
  for (size_t i = 0; i < HDB__DUCK_STMT_CACHE; i++)
    if (c->stmts[i].sql) {
      duckdb_destroy_prepare(&c->stmts[i].ps);
      hdb__free_mem(c->stmts[i].sql);
      c->stmts[i].sql = NULL;
    }
}

static hdb_status run(hdb__duck_conn *c, const char *sql, const hdb_value *const *params,
                      size_t n, duckdb_result *res, int streaming, hdb_error *err,
                      const char *what) {
  memset(res, 0, sizeof *res);
  duckdb_prepared_statement ps;
  hdb_status st = stmt_get(c, sql, &ps, err, what);
  if (st != HDB_OK) return st;
  int cached = stmt_cached(c, ps);
  for (size_t i = 0; st == HDB_OK && i < n; i++) st = hdb__duck_bind(ps, (idx_t)i + 1, params[i], err);
  if (st == HDB_OK) {
    duckdb_state ok = streaming ? duckdb_execute_prepared_streaming(ps, res)
                                : duckdb_execute_prepared(ps, res);
    if (ok != DuckDBSuccess) {
      st = hdb__duck_stmt_failed(c, duckdb_result_error_type(res), duckdb_result_error(res), err,
                                 what);
      duckdb_destroy_result(res);
      memset(res, 0, sizeof *res);
    }
  }
  if (!cached) duckdb_destroy_prepare(&ps);
  return st;
}

hdb_status hdb__duck_run(hdb__duck_conn *c, const char *sql, const hdb_value *const *params,
                         size_t n, duckdb_result *res, hdb_error *err, const char *what) {
  return run(c, sql, params, n, res, 0, err, what);
}

hdb_status hdb__duck_run_streaming(hdb__duck_conn *c, const char *sql,
                                   const hdb_value *const *params, size_t n, duckdb_result *res,
                                   hdb_error *err, const char *what) {
  return run(c, sql, params, n, res, 1, err, what);
}

hdb_status hdb__duck_atomic_begin(hdb__duck_conn *c, int *own, hdb_error *err) {
  *own = 0;
  if (c->in_txn) return HDB_OK;
  hdb_status st = hdb__duck_exec(c, "BEGIN TRANSACTION", err, "beginning a transaction");
  if (st == HDB_OK) *own = 1;
  return st;
}

hdb_status hdb__duck_atomic_end(hdb__duck_conn *c, int own, hdb_status rc, hdb_error *err) {
  if (!own) return rc;
  if (rc != HDB_OK) {
    duckdb_result r;
    duckdb_query(c->con, "ROLLBACK", &r); /* fails harmlessly when DuckDB already ended it */
    duckdb_destroy_result(&r);
    return rc;
  }
  duckdb_result r;
  if (duckdb_query(c->con, "COMMIT", &r) == DuckDBSuccess) {
    duckdb_destroy_result(&r);
    return HDB_OK;
  }
  hdb_status st = hdb__duck_map_error(duckdb_result_error_type(&r), duckdb_result_error(&r));
  if (st == HDB_CONSTRAINT) st = HDB_CONFLICT; /* another handle committed the same key first */
  hdb__fail(err, st, "commit failed: %s", duckdb_result_error(&r));
  duckdb_destroy_result(&r);
  duckdb_query(c->con, "ROLLBACK", &r);
  duckdb_destroy_result(&r);
  return st;
}

/* ------------------------------------------------------------------ */
/* Registry                                                            */
/* ------------------------------------------------------------------ */

void hdb__duck_shared_ref(hdb__duck_shared *s) {
  pthread_mutex_lock(&registry_mu);
  s->refs++;
  pthread_mutex_unlock(&registry_mu);
}

void hdb__duck_shared_release(hdb__duck_shared *s) {
  if (!s) return;
  pthread_mutex_lock(&registry_mu);
  if (--s->refs > 0) {
    pthread_mutex_unlock(&registry_mu);
    return;
  }
  for (hdb__duck_shared **p = &registry; *p; p = &(*p)->next)
    if (*p == s) {
      *p = s->next;
      break;
    }
  /* Closed under the mutex so that a concurrent open of the same file
   * cannot race DuckDB's release of its file lock. */
  duckdb_close(&s->db);
  pthread_mutex_unlock(&registry_mu);
  hdb__free_mem(s->key);
  hdb__free_mem(s);
}

/* The registry key of a path: its real path, or for a file still to be
 * created the real path of its directory plus its name. Owned. */
static hdb_status path_key(const char *path, char **out, hdb_error *err) {
  char buf[PATH_MAX];
  *out = NULL;
  if (realpath(path, buf)) {
    *out = hdb__strdup(buf);
  } else {
    if (errno != ENOENT)
      return hdb__fail(err, HDB_IO, "duckdb: cannot resolve '%s': %s", path, strerror(errno));
    const char *slash = strrchr(path, '/');
    char dir[PATH_MAX];
    const char *base = slash ? slash + 1 : path;
    if (!*base) return hdb__fail(err, HDB_BAD_URL, "duckdb: '%s' names a directory, not a file", path);
    if (slash) {
      size_t n = (size_t)(slash - path);
      if (n >= sizeof dir) return hdb__fail(err, HDB_BAD_URL, "duckdb: path too long");
      memcpy(dir, path, n);
      dir[n] = 0;
      if (n == 0) strcpy(dir, "/");
    } else {
      strcpy(dir, ".");
    }
    if (!realpath(dir, buf))
      return hdb__fail(err, HDB_IO, "duckdb: directory '%s' of '%s': %s", dir, path,
                       strerror(errno));
    size_t need = strlen(buf) + 1 + strlen(base) + 1;
    *out = hdb__malloc(need);
    if (*out) snprintf(*out, need, "%s/%s", strcmp(buf, "/") == 0 ? "" : buf, base);
  }
  return *out ? HDB_OK : hdb__fail(err, HDB_NOMEM, "out of memory opening duckdb");
}

static hdb_status open_database(const char *key, int memory, int read_only, const char *threads,
                                duckdb_database *db, hdb_error *err) {
  duckdb_config cfg = NULL;
  if (duckdb_create_config(&cfg) != DuckDBSuccess)
    return hdb__fail(err, HDB_NOMEM, "duckdb: cannot create a configuration");
  hdb_status st = HDB_OK;
  const char *home = getenv("HOME");
  const char *tmp = getenv("TMPDIR");
  if (duckdb_set_config(cfg, "autoinstall_known_extensions", "false") != DuckDBSuccess ||
      duckdb_set_config(cfg, "autoload_known_extensions", "false") != DuckDBSuccess ||
      ((!home || !*home) &&
       duckdb_set_config(cfg, "home_directory", tmp && *tmp ? tmp : "/tmp") != DuckDBSuccess) ||
      (threads && duckdb_set_config(cfg, "threads", threads) != DuckDBSuccess) ||
      (read_only && !memory && duckdb_set_config(cfg, "access_mode", "READ_ONLY") != DuckDBSuccess)) {
    duckdb_destroy_config(&cfg);
    return hdb__fail(err, HDB_ERROR, "duckdb: a configuration option was refused");
  }
  char *msg = NULL;
  if (duckdb_open_ext(memory ? ":memory:" : key, db, cfg, &msg) != DuckDBSuccess) {
    st = hdb__duck_map_error(DUCKDB_ERROR_IO, msg);
    if (st == HDB_ERROR) st = HDB_IO;
    hdb__fail(err, st, "duckdb: cannot open '%s': %s", key, msg ? msg : "unknown error");
    if (msg) duckdb_free(msg);
  }
  duckdb_destroy_config(&cfg);
  return st;
}

/* ------------------------------------------------------------------ */
/* Vtable methods                                                      */
/* ------------------------------------------------------------------ */

static void duck_close(void *conn);

static hdb_status duck_open(const hdb__url *url, const hdb_config *cfg, void **conn,
                            hdb_error *err) {
  *conn = NULL;
  const char *threads = NULL;
  for (size_t i = 0; i < url->n_params; i++) {
    const char *k = url->params[i].key, *v = url->params[i].value;
    if (strcmp(k, "threads") == 0) {
      char *end;
      long n = strtol(v ? v : "", &end, 10);
      if (!v || !*v || *end || n < 1 || n > 4096)
        return hdb__fail(err, HDB_BAD_URL, "duckdb: threads must be 1..4096, not '%s'", v ? v : "");
      threads = v;
    } else {
      return hdb__fail(err, HDB_BAD_URL, "duckdb: unknown URL option '%s' (known: threads)", k);
    }
  }
  if (!url->path || !*url->path)
    return hdb__fail(err, HDB_BAD_URL, "duckdb:// needs a file path or :memory: (duckdb://./data.duckdb)");
  int memory = strcmp(url->path, ":memory:") == 0;
  int read_only = cfg && cfg->read_only;

  hdb__duck_conn *c = hdb__calloc(1, sizeof *c);
  if (!c) return hdb__fail(err, HDB_NOMEM, "out of memory opening duckdb");
  c->memory = memory;
  c->read_only = read_only;
  char *key = NULL;
  hdb_status st = memory ? ((key = hdb__strdup(":memory:")) ? HDB_OK : HDB_NOMEM)
                         : path_key(url->path, &key, err);
  if (st == HDB_NOMEM) hdb__fail(err, st, "out of memory opening duckdb");
  if (st != HDB_OK) {
    hdb__free_mem(c);
    return st;
  }

  pthread_mutex_lock(&registry_mu);
  hdb__duck_shared *s = registry;
  while (s && strcmp(s->key, key) != 0) s = s->next;
  int created = 0;
  if (s) {
    if (s->read_only && !read_only) {
      pthread_mutex_unlock(&registry_mu);
      hdb__free_mem(key);
      hdb__free_mem(c);
      return hdb__fail(err, HDB_BUSY,
                       "duckdb: '%s' is open read-only by another handle of this process", url->path);
    }
    s->refs++;
    hdb__free_mem(key);
  } else {
    s = hdb__calloc(1, sizeof *s);
    if (!s) {
      pthread_mutex_unlock(&registry_mu);
      hdb__free_mem(key);
      hdb__free_mem(c);
      return hdb__fail(err, HDB_NOMEM, "out of memory opening duckdb");
    }
    s->key = key;
    s->read_only = read_only && !memory;
    st = open_database(key, memory, s->read_only, threads, &s->db, err);
    if (st != HDB_OK) {
      pthread_mutex_unlock(&registry_mu);
      hdb__free_mem(s->key);
      hdb__free_mem(s);
      hdb__free_mem(c);
      return st;
    }
    s->refs = 1;
    s->next = registry;
    registry = s;
    created = 1;
  }
  c->shared = s;
  if (duckdb_connect(s->db, &c->con) != DuckDBSuccess) {
    pthread_mutex_unlock(&registry_mu);
    duck_close(c);
    return hdb__fail(err, HDB_ERROR, "duckdb: cannot connect to '%s'", url->path);
  }
  /* The first handle creates (or checks) the catalog while holding the
   * registry, so two handles opening at once do not race on it. */
  if (created) st = hdb__duck_catalog_init(c, err);
  pthread_mutex_unlock(&registry_mu);
  if (st == HDB_OK && threads && !created) {
    char sql[64];
    snprintf(sql, sizeof sql, "SET threads = %s", threads);
    st = hdb__duck_exec(c, sql, err, "duckdb: setting threads");
  }
  if (st != HDB_OK) {
    duck_close(c);
    return st;
  }
  *conn = c;
  return HDB_OK;
}

static void duck_close(void *conn) {
  hdb__duck_conn *c = conn;
  if (!c) return;
  if (c->con) {
    if (c->in_txn && c->failed == HDB_OK) {
      duckdb_result r;
      duckdb_query(c->con, "ROLLBACK", &r);
      duckdb_destroy_result(&r);
    }
    if (c->txn_ddl) hdb__duck_catalog_changed(c);
    stmt_cache_free(c);
    hdb__duck_table_cache_free(c);
    hdb__duck_spare_free(c);
    duckdb_disconnect(&c->con);
  }
  hdb__duck_shared_release(c->shared);
  hdb__free_mem(c);
}

static uint32_t duck_capabilities(void *conn) {
  hdb__duck_conn *c = conn;
  uint32_t caps = HDB_CAP_TRANSACTIONS | HDB_CAP_KV | HDB_CAP_VECTOR_SEARCH |
                  HDB_CAP_SCALAR_INDEX | HDB_CAP_AGGREGATE | HDB_CAP_SCHEMALESS;
  if (c && !c->memory) caps |= HDB_CAP_PERSISTENT;
  return caps;
}

static hdb_status duck_ping(void *conn, hdb_error *err) {
  hdb__duck_conn *c = conn;
  hdb_status st = hdb__duck_enter(c, 0, err);
  if (st != HDB_OK) return st;
  return hdb__duck_exec(c, "SELECT 1", err, "duckdb ping");
}

const hdb__backend hdb__backend_duckdb = {
    .version = HDB__VTAB_VERSION,
    .id = HDB_BACKEND_DUCKDB,
    .name = "duckdb",
    .open = duck_open,
    .close = duck_close,
    .capabilities = duck_capabilities,
    .ping = duck_ping,
    .table_create = hdb__duck_table_create,
    .table_drop = hdb__duck_table_drop,
    .table_list = hdb__duck_table_list,
    .table_schema = hdb__duck_table_schema,
    .write = hdb__duck_write,
    .get = hdb__duck_get,
    .update = hdb__duck_update,
    .remove = hdb__duck_remove,
    .query = hdb__duck_query,
    .count = hdb__duck_count,
    .search = hdb__duck_search,
    .aggregate = hdb__duck_aggregate,
    .index_create = hdb__duck_index_create,
    .index_drop = hdb__duck_index_drop,
    .index_list = hdb__duck_index_list,
    .begin = hdb__duck_begin,
    .commit = hdb__duck_commit,
    .rollback = hdb__duck_rollback,
    .kv_get = hdb__duck_kv_get,
    .kv_write = hdb__duck_kv_write,
    .kv_iter = hdb__duck_kv_iter,
    /* kv_put_ttl, search_hybrid, publish, subscribe, unsubscribe, versions,
     * restore, stats: not supported (NULL). hnsw/ivf_pq/fts indexes answer
     * HDB_NOT_SUPPORTED (DuckDB's vss and fts extensions are not built in). */
};

/*
 * pg_backend.c - the postgresql:// backend's vtable, open, close, ping.
 *
 *   postgresql://[user[:password]@][host][:port][/dbname][?param=value&...]
 *   postgres://...  (the same)
 *
 * The URL is not handed to libpq as text: it is parsed once (api/url.c)
 * and turned into PQconnectdbParams keywords (host, port, user, password,
 * dbname), so our own options never reach the server. Query parameters:
 *   pool_min, pool_max    pool size (else hdb_config.pool_min/pool_max,
 *                         else 1 and 10)
 *   timeout_ms            pool checkout and connect timeout (else
 *                         hdb_config.timeout_ms, else 5000)
 *   connect_timeout_ms    connect timeout alone (libpq counts whole
 *                         seconds; rounded up)
 *   idle_check_ms         idle time after which a pooled connection gets a
 *                         round trip before reuse (default 5000)
 *   pgvector              auto (default): pgvector mode when the database
 *                         has the vector extension, or the server offers it
 *                         and CREATE EXTENSION IF NOT EXISTS vector works;
 *                         on: the same, but HDB_NOT_SUPPORTED at open when
 *                         it cannot be used; off: never (README: storage,
 *                         search, indexes)
 * Every other parameter is passed to libpq as a connection keyword
 * (sslmode, application_name, host=/socket/dir, options, ...).
 * hdb_config.read_only adds "-c default_transaction_read_only=on" to the
 * session options: writes then answer HDB_READ_ONLY from the server.
 *
 * Open connects (pool_min connections, at least one): an unreachable
 * server is HDB_UNAVAILABLE naming host:port, bad credentials HDB_AUTH, a
 * missing database HDB_UNAVAILABLE naming it. Then the hanzo catalog is
 * created when missing (not on read-only handles).
 *
 * Capabilities: persistent, transactions, kv, vector_search (exact
 * without an index), scalar_index, aggregate, schemaless; in pgvector mode
 * also vector_index, index_hnsw (pgvector hnsw) and index_ivf_pq (mapped
 * to pgvector ivfflat: no product quantization; hdb_index_list's params
 * say so). Not: fulltext, hybrid search, ttl, pubsub (LISTEN/NOTIFY is
 * for a later issue), time travel, encryption, stats.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

#include "core/alloc.h"
#include "core/err.h"

#define MAX_KEYWORDS 64

static int is_ours(const char *key) {
  return !strcmp(key, "pool_min") || !strcmp(key, "pool_max") || !strcmp(key, "timeout_ms") ||
         !strcmp(key, "connect_timeout_ms") || !strcmp(key, "idle_check_ms") ||
         !strcmp(key, "pgvector");
}

/* Integer option from the URL (def when absent); HDB_BAD_URL when bad. */
static hdb_status int_param(const hdb__url *u, const char *key, int def, int lo, int hi, int *out,
                            hdb_error *err) {
  const char *v = hdb__url_param_get(u, key);
  *out = def;
  if (!v) return HDB_OK;
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno || end == v || *end || n < lo || n > hi)
    return hdb__fail(err, HDB_BAD_URL, "bad URL '%.200s': %s must be a number from %d to %d (got '%s')",
                     u->redacted, key, lo, hi, v);
  *out = (int)n;
  return HDB_OK;
}

enum { PGV_OFF, PGV_AUTO, PGV_ON };

/* 1 when the database has the vector extension: installed, or created
 * now (auto/on, writable handles) when the server offers it. *why says
 * what is missing otherwise. A concurrent CREATE EXTENSION by another
 * session is fine: we look again after a failure. */
static int pgvector_usable(PGconn *pg, int read_only, const char **why) {
  static const char *q_have = "SELECT 1 FROM pg_extension WHERE extname = 'vector'";
  PGresult *res = hdb__pg_exec(pg, q_have, NULL);
  int have = res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0;
  PQclear(res);
  if (have) return 1;
  res = hdb__pg_exec(pg, "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'", NULL);
  int avail = res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0;
  PQclear(res);
  if (!avail) {
    *why = "the server does not have the pgvector extension (no vector in "
           "pg_available_extensions; scripts/fetch-pgvector.sh installs it)";
    return 0;
  }
  if (read_only) {
    *why = "pgvector is available but not created in this database, and the handle is "
           "read-only (CREATE EXTENSION vector needs a writable handle)";
    return 0;
  }
  res = hdb__pg_exec(pg, "CREATE EXTENSION IF NOT EXISTS vector", NULL);
  int made = res && PQresultStatus(res) == PGRES_COMMAND_OK;
  PQclear(res);
  if (made) return 1;
  res = hdb__pg_exec(pg, q_have, NULL);
  have = res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0;
  PQclear(res);
  if (!have)
    *why = "CREATE EXTENSION vector failed (creating an extension needs the CREATE privilege "
           "on the database, and pgvector is not a trusted extension: ask a superuser to run "
           "it once)";
  return have;
}

static hdb_status pg_open(const hdb__url *url, const hdb_config *cfg, void **conn, hdb_error *err) {
  *conn = NULL;
  const char *keys[MAX_KEYWORDS + 1];
  const char *vals[MAX_KEYWORDS + 1];
  size_t n = 0;
  char port[16], ctimeout[16], where[300];
  char *options = NULL;
  hdb__pg_pool_opts po;
  hdb_status st;

  int min_def = cfg->pool_min > 0 ? cfg->pool_min : 1;
  int max_def = cfg->pool_max > 0 ? cfg->pool_max : 10;
  int to_def = cfg->timeout_ms > 0 ? cfg->timeout_ms : 5000;
  if ((st = int_param(url, "pool_min", min_def, 0, 64, &po.min, err)) != HDB_OK) return st;
  if ((st = int_param(url, "pool_max", max_def, 1, 1000, &po.max, err)) != HDB_OK) return st;
  if ((st = int_param(url, "timeout_ms", to_def, 1, 3600000, &po.timeout_ms, err)) != HDB_OK) return st;
  if ((st = int_param(url, "idle_check_ms", 5000, 0, 86400000, &po.idle_check_ms, err)) != HDB_OK) return st;
  int cto;
  if ((st = int_param(url, "connect_timeout_ms", po.timeout_ms, 1, 3600000, &cto, err)) != HDB_OK) return st;
  if (po.min > po.max)
    return hdb__fail(err, HDB_BAD_URL, "bad URL '%.200s': pool_min (%d) is larger than pool_max (%d)",
                     url->redacted, po.min, po.max);
  int pgv_mode = PGV_AUTO;
  const char *pgv = hdb__url_param_get(url, "pgvector");
  if (pgv) {
    if (!strcmp(pgv, "auto")) pgv_mode = PGV_AUTO;
    else if (!strcmp(pgv, "on")) pgv_mode = PGV_ON;
    else if (!strcmp(pgv, "off")) pgv_mode = PGV_OFF;
    else
      return hdb__fail(err, HDB_BAD_URL, "bad URL '%.200s': pgvector must be auto, on or off (got '%s')",
                       url->redacted, pgv);
  }

  const char *host = url->host && *url->host ? url->host : NULL;
  const char *db = url->path && *url->path ? url->path : NULL;
  if (host) { keys[n] = "host"; vals[n++] = host; }
  if (url->port) {
    snprintf(port, sizeof port, "%d", url->port);
    keys[n] = "port";
    vals[n++] = port;
  }
  if (url->user && *url->user) { keys[n] = "user"; vals[n++] = url->user; }
  if (url->password) { keys[n] = "password"; vals[n++] = url->password; }
  if (db) { keys[n] = "dbname"; vals[n++] = db; }
  const char *user_options = NULL;
  int has_ct = 0;
  for (size_t i = 0; i < url->n_params; i++) {
    const char *k = url->params[i].key;
    if (is_ours(k)) continue;
    if (!strcmp(k, "options")) {
      user_options = url->params[i].value;
      continue;
    }
    if (!strcmp(k, "connect_timeout")) has_ct = 1;
    if (!strcmp(k, "host")) host = url->params[i].value;
    if (!strcmp(k, "dbname")) db = url->params[i].value;
    if (n >= MAX_KEYWORDS - 3)
      return hdb__fail(err, HDB_BAD_URL, "bad URL '%.200s': too many parameters", url->redacted);
    keys[n] = k;
    vals[n++] = url->params[i].value;
  }
  if (!has_ct) {
    snprintf(ctimeout, sizeof ctimeout, "%d", (cto + 999) / 1000 < 2 ? 2 : (cto + 999) / 1000);
    keys[n] = "connect_timeout";
    vals[n++] = ctimeout;
  }
  if (cfg->read_only || user_options) {
    size_t len = (user_options ? strlen(user_options) : 0) + 64;
    options = hdb__malloc(len);
    if (!options) return hdb__fail(err, HDB_NOMEM, "out of memory opening %s", url->redacted);
    snprintf(options, len, "%s%s%s", user_options ? user_options : "",
             user_options && cfg->read_only ? " " : "",
             cfg->read_only ? "-c default_transaction_read_only=on" : "");
    keys[n] = "options";
    vals[n++] = options;
  }
  keys[n] = NULL;
  vals[n] = NULL;
  const char *port_text = url->port ? port : hdb__url_param_get(url, "port");
  snprintf(where, sizeof where, "%s:%s/%s", host ? host : "localhost", port_text ? port_text : "5432",
           db ? db : (url->user && *url->user ? url->user : "(default database)"));

  hdb__pg_conn *c = hdb__calloc(1, sizeof *c);
  if (!c) {
    hdb__free_mem(options);
    return hdb__fail(err, HDB_NOMEM, "out of memory opening %s", url->redacted);
  }
  c->read_only = cfg->read_only;
  st = hdb__pg_pool_acquire(keys, vals, where, &po, &c->pool, err);
  hdb__free_mem(options);
  if (st != HDB_OK) {
    hdb__free_mem(c);
    return st;
  }
  PGconn *pg;
  st = hdb__pg_pool_get(c->pool, &pg, err);
  if (st == HDB_OK) {
    if (!c->read_only) st = hdb__pg_catalog_init(pg, where, err);
    if (st == HDB_OK && pgv_mode != PGV_OFF) {
      const char *why = "";
      c->pgvector = pgvector_usable(pg, c->read_only, &why);
      if (c->pgvector) {
        /* iterative index scans came with 0.8.0; older versions refuse
         * the settings, and search falls back to the exact path instead */
        PGresult *res = hdb__pg_exec(pg, "SELECT (string_to_array(extversion, '.')::int[] >= "
                                         "'{0,8,0}'::int[])::int4 FROM pg_extension WHERE "
                                         "extname = 'vector'", NULL);
        c->pgvector_iterative = res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
                                PQgetlength(res, 0, 0) == 4 && PQgetvalue(res, 0, 0)[3] == 1;
        PQclear(res);
      }
      if (!c->pgvector && hdb__pg_broken(pg))
        st = hdb__pg_fail_result(pg, NULL, where, "checking for pgvector", err);
      else if (!c->pgvector && pgv_mode == PGV_ON)
        st = hdb__fail(err, HDB_NOT_SUPPORTED, "postgresql at %s: pgvector=on, but %s", where, why);
    }
    hdb__pg_pool_put(c->pool, pg, hdb__pg_broken(pg));
  }
  if (st != HDB_OK) {
    hdb__pg_pool_release(c->pool);
    hdb__free_mem(c);
    return st;
  }
  *conn = c;
  return HDB_OK;
}

static void pg_close(void *conn) {
  hdb__pg_conn *c = conn;
  if (!c) return;
  if (c->in_txn) {
    hdb_error ignored;
    hdb__pg_rollback(c, &ignored);
  }
  hdb__pg_pool_release(c->pool);
  hdb__free_mem(c);
}

static uint32_t pg_capabilities(void *conn) {
  const hdb__pg_conn *c = conn;
  uint32_t caps = HDB_CAP_PERSISTENT | HDB_CAP_TRANSACTIONS | HDB_CAP_KV | HDB_CAP_VECTOR_SEARCH |
                  HDB_CAP_SCALAR_INDEX | HDB_CAP_AGGREGATE | HDB_CAP_SCHEMALESS;
  /* Approximate indexes only where pgvector builds them (ivf_pq: ivfflat). */
  if (c && c->pgvector) caps |= HDB_CAP_VECTOR_INDEX | HDB_CAP_INDEX_HNSW | HDB_CAP_INDEX_IVF_PQ;
  return caps;
}

static hdb_status pg_ping(void *conn, hdb_error *err) {
  hdb__pg_conn *c = conn;
  PGconn *pg;
  hdb_status st = hdb__pg_enter(c, &pg, err);
  if (st != HDB_OK) return st;
  PGresult *res = PQexec(pg, "");
  if (!res || PQresultStatus(res) != PGRES_EMPTY_QUERY)
    st = hdb__pg_fail_result(pg, res, hdb__pg_pool_where(c->pool), "ping", err);
  PQclear(res);
  return hdb__pg_leave(c, pg, st, err);
}

const hdb__backend hdb__backend_postgres = {
    .version = HDB__VTAB_VERSION,
    .id = HDB_BACKEND_POSTGRES,
    .name = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .capabilities = pg_capabilities,
    .ping = pg_ping,
    .table_create = hdb__pg_table_create,
    .table_drop = hdb__pg_table_drop,
    .table_list = hdb__pg_table_list,
    .table_schema = hdb__pg_table_schema,
    .write = hdb__pg_write,
    .get = hdb__pg_get,
    .update = hdb__pg_update,
    .remove = hdb__pg_remove,
    .query = hdb__pg_query,
    .count = hdb__pg_count,
    .search = hdb__pg_search,
    .aggregate = hdb__pg_aggregate,
    .index_create = hdb__pg_index_create,
    .index_drop = hdb__pg_index_drop,
    .index_list = hdb__pg_index_list,
    .begin = hdb__pg_begin,
    .commit = hdb__pg_commit,
    .rollback = hdb__pg_rollback,
    .kv_get = hdb__pg_kv_get,
    .kv_write = hdb__pg_kv_write,
    .kv_iter = hdb__pg_kv_iter,
    /* kv_put_ttl, search_hybrid, publish/subscribe/unsubscribe (LISTEN/
     * NOTIFY comes with a later issue), versions, restore, stats: NULL. */
};

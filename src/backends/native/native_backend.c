/*
 * native_backend.c - the native:// backend's vtable, open and close, the
 * per-directory environment shared by the handles of one process, the
 * table cache, and the URL options.
 *
 *   native://DIR[?sync=full|normal|off&lock_timeout_ms=N&keep_versions=N]
 *
 *   sync             durability of table commits and KV writes (default
 *                    full: a call that returned HDB_OK survives power loss)
 *   lock_timeout_ms  how long a writer waits for another writer's lock
 *                    (default: hdb_config.timeout_ms, else 10 s)
 *   keep_versions    versions hdb_compact keeps per table (default 10;
 *                    tagged and recent versions are kept anyway)
 *
 * The first handle to open a directory in the process sets its options;
 * later handles share that environment (native.h, invariant 1).
 *
 * Capabilities: persistent, kv, vector_search, vector_index (hnsw, ivf_pq),
 * aggregate, time_travel, schemaless. Transactions, scalar and full-text
 * indexes, TTL, pub/sub, stats and hybrid search are left NULL: the api
 * layer answers HDB_NOT_SUPPORTED.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "native.h"

#include "core/alloc.h"
#include "core/err.h"
#include "core/schema.h"

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static nat_env *registry;

static char *path_join(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  char *p = hdb__malloc(la + lb + 2);
  if (!p) return NULL;
  memcpy(p, a, la);
  p[la] = '/';
  memcpy(p + la + 1, b, lb + 1);
  return p;
}

char *hdb__nat_table_dir(const nat_env *env, const char *name) {
  return path_join(env->tables_dir, name);
}

/* mkdir -p of path (which the caller may modify temporarily). */
static int mkdirs(char *path) {
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    int r = mkdir(path, 0755);
    *p = '/';
    if (r != 0 && errno != EEXIST) return -1;
  }
  if (mkdir(path, 0755) != 0 && errno != EEXIST) return -1;
  return 0;
}

static hdb_status parse_options(const hdb__url *url, const hdb_config *cfg, nat_env *env,
                                hdb_error *err) {
  hdb__tbl_options topt = HDB__TBL_OPTIONS_INIT;
  hdb__lsm_options kopt = HDB__LSM_OPTIONS_INIT;
  /* Many reader processes, one writer: a process reads the KV store
   * without its lock and takes the lock at its first write (kv.h). */
  kopt.reader_attach = 1;
  env->keep_versions = 10;
  if (cfg && cfg->timeout_ms > 0) {
    topt.lock_timeout_ms = cfg->timeout_ms;
    kopt.lock_timeout_ms = cfg->timeout_ms;
  }
  for (size_t i = 0; i < url->n_params; i++) {
    const char *k = url->params[i].key, *v = url->params[i].value ? url->params[i].value : "";
    if (strcmp(k, "sync") == 0) {
      if (strcmp(v, "full") == 0) {
        topt.sync = HDB__TBL_SYNC_FULL;
        kopt.sync = HDB__LSM_SYNC_FULL;
      } else if (strcmp(v, "normal") == 0) {
        topt.sync = HDB__TBL_SYNC_NORMAL;
        kopt.sync = HDB__LSM_SYNC_NORMAL;
      } else if (strcmp(v, "off") == 0) {
        topt.sync = HDB__TBL_SYNC_OFF;
        kopt.sync = HDB__LSM_SYNC_OFF;
      } else {
        return hdb__fail(err, HDB_BAD_URL, "native://%s: sync must be full, normal or off, not '%s'",
                         url->path, v);
      }
    } else if (strcmp(k, "lock_timeout_ms") == 0 || strcmp(k, "keep_versions") == 0) {
      char *end;
      errno = 0;
      long long n = strtoll(v, &end, 10);
      if (!*v || *end || errno || n < 0 || n > INT_MAX)
        return hdb__fail(err, HDB_BAD_URL, "native://%s: %s must be a non-negative integer, not '%s'",
                         url->path, k, v);
      if (k[0] == 'l') {
        topt.lock_timeout_ms = n ? (int)n : -1;
        kopt.lock_timeout_ms = (int)n;
      } else {
        env->keep_versions = n ? (uint64_t)n : 1;
      }
    } else {
      return hdb__fail(err, HDB_BAD_URL,
                       "native://%s: unknown option '%s' (known: sync, lock_timeout_ms, keep_versions)",
                       url->path, k);
    }
  }
  env->topt = topt;
  env->kopt = kopt;
  return HDB_OK;
}

static void env_free(nat_env *env) {
  while (env->tables) {
    nat_table *t = env->tables;
    env->tables = t->next;
    hdb__nat_table_put(t);
  }
  hdb__lsm_close(env->kv);
  pthread_mutex_destroy(&env->lock);
  pthread_mutex_destroy(&env->kv_lock);
  hdb__free_mem(env->dir);
  hdb__free_mem(env->tables_dir);
  hdb__free_mem(env);
}

void hdb__nat_env_retain(nat_env *env) {
  pthread_mutex_lock(&registry_lock);
  env->handles++;
  pthread_mutex_unlock(&registry_lock);
}

void hdb__nat_env_release(nat_env *env) {
  if (!env) return;
  pthread_mutex_lock(&registry_lock);
  int last = --env->handles == 0;
  if (last) {
    nat_env **pp = &registry;
    while (*pp != env) pp = &(*pp)->next;
    *pp = env->next;
  }
  pthread_mutex_unlock(&registry_lock);
  if (last) env_free(env);
}

static hdb_status nat_open(const hdb__url *url, const hdb_config *cfg, void **conn,
                           hdb_error *err) {
  *conn = NULL;
  const char *path = url->path && *url->path ? url->path : ".";
  nat_conn *c = hdb__calloc(1, sizeof *c);
  char *tables = path_join(path, "tables");
  char real[PATH_MAX];
  nat_env *env = NULL;
  hdb_status rc = HDB_OK;
  if (!c || !tables) {
    rc = hdb__fail(err, HDB_NOMEM, "out of memory opening native://%s", path);
    goto fail;
  }
  if (mkdirs(tables) != 0) {
    rc = hdb__fail(err, HDB_IO, "native://%s: cannot create %s: %s", path, tables, strerror(errno));
    goto fail;
  }
  if (!realpath(path, real)) {
    rc = hdb__fail(err, HDB_IO, "native://%s: %s", path, strerror(errno));
    goto fail;
  }
  pthread_mutex_lock(&registry_lock);
  for (nat_env *e = registry; e; e = e->next)
    if (strcmp(e->dir, real) == 0) {
      e->handles++;
      env = e;
      break;
    }
  if (!env) {
    env = hdb__calloc(1, sizeof *env);
    if (env) {
      env->dir = hdb__strdup(real);
      env->tables_dir = path_join(real, "tables");
    }
    if (!env || !env->dir || !env->tables_dir) {
      if (env) {
        hdb__free_mem(env->dir);
        hdb__free_mem(env->tables_dir);
        hdb__free_mem(env);
      }
      pthread_mutex_unlock(&registry_lock);
      env = NULL;
      rc = hdb__fail(err, HDB_NOMEM, "out of memory opening native://%s", path);
      goto fail;
    }
    rc = parse_options(url, cfg, env, err);
    if (rc != HDB_OK) {
      hdb__free_mem(env->dir);
      hdb__free_mem(env->tables_dir);
      hdb__free_mem(env);
      env = NULL;
      pthread_mutex_unlock(&registry_lock);
      goto fail;
    }
    pthread_mutex_init(&env->lock, NULL);
    pthread_mutex_init(&env->kv_lock, NULL);
    env->handles = 1;
    env->next = registry;
    registry = env;
  }
  pthread_mutex_unlock(&registry_lock);
  c->env = env;
  c->read_only = cfg && cfg->read_only;
  hdb__free_mem(tables);
  *conn = c;
  return HDB_OK;
fail:
  hdb__free_mem(tables);
  hdb__free_mem(c);
  return rc;
}

static void nat_close(void *conn) {
  nat_conn *c = conn;
  if (!c) return;
  hdb__nat_env_release(c->env);
  hdb__free_mem(c);
}

static uint32_t nat_capabilities(void *conn) {
  return HDB_CAP_PERSISTENT | HDB_CAP_KV | HDB_CAP_VECTOR_SEARCH | HDB_CAP_VECTOR_INDEX | HDB_CAP_INDEX_HNSW |
         HDB_CAP_INDEX_IVF_PQ |
         HDB_CAP_AGGREGATE | HDB_CAP_TIME_TRAVEL | HDB_CAP_SCHEMALESS;
}

static hdb_status nat_ping(void *conn, hdb_error *err) {
  nat_conn *c = conn;
  struct stat st;
  if (stat(c->env->tables_dir, &st) != 0)
    return hdb__fail(err, HDB_UNAVAILABLE, "native://%s: %s", c->env->dir, strerror(errno));
  return HDB_OK;
}

hdb_status hdb__nat_writable(const nat_conn *c, hdb_error *err) {
  if (c->read_only)
    return hdb__fail(err, HDB_READ_ONLY, "native://%s was opened read-only", c->env->dir);
  return HDB_OK;
}

/* ------------------------------------------------------------------ */
/* Table cache                                                         */
/* ------------------------------------------------------------------ */

void hdb__nat_table_put(nat_table *t) {
  if (!t) return;
  if (atomic_fetch_sub(&t->refs, 1) != 1) return;
  for (size_t i = 0; i < t->n_idx; i++) hdb__nat_index_put(t->idx[i].ix);
  hdb__free_mem(t->idx);
  hdb__tbl_close(t->tbl);
  pthread_mutex_destroy(&t->lock);
  hdb__free_mem(t->name);
  hdb__free_mem(t);
}

hdb_status hdb__nat_table_get(nat_conn *c, const char *name, nat_table **out, hdb_error *err) {
  nat_env *env = c->env;
  *out = NULL;
  pthread_mutex_lock(&env->lock);
  for (nat_table *t = env->tables; t; t = t->next)
    if (strcmp(t->name, name) == 0) {
      atomic_fetch_add(&t->refs, 1);
      pthread_mutex_unlock(&env->lock);
      *out = t;
      return HDB_OK;
    }
  hdb_status rc = HDB_OK;
  char *dir = hdb__nat_table_dir(env, name);
  nat_table *t = hdb__calloc(1, sizeof *t);
  if (!dir || !t || !(t->name = hdb__strdup(name))) {
    rc = hdb__fail(err, HDB_NOMEM, "out of memory opening table '%s'", name);
    goto fail;
  }
  hdb__tbl_options o = env->topt;
  o.create = 0;
  hdb_error e2;
  rc = hdb__tbl_open(dir, &o, &t->tbl, &e2);
  if (rc == HDB_NOT_FOUND) {
    rc = hdb__fail(err, HDB_NO_TABLE, "no table '%s'", name);
    goto fail;
  }
  if (rc != HDB_OK) {
    if (err) *err = e2;
    goto fail;
  }
  pthread_mutex_init(&t->lock, NULL);
  atomic_init(&t->refs, 2); /* the cache's and the caller's */
  t->next = env->tables;
  env->tables = t;
  pthread_mutex_unlock(&env->lock);
  hdb__free_mem(dir);
  *out = t;
  return HDB_OK;
fail:
  pthread_mutex_unlock(&env->lock);
  if (t) hdb__free_mem(t->name);
  hdb__free_mem(t);
  hdb__free_mem(dir);
  return rc;
}

void hdb__nat_table_forget(nat_env *env, const char *name) {
  pthread_mutex_lock(&env->lock);
  for (nat_table **pp = &env->tables; *pp; pp = &(*pp)->next) {
    if (strcmp((*pp)->name, name) != 0) continue;
    nat_table *t = *pp;
    *pp = t->next;
    pthread_mutex_unlock(&env->lock);
    hdb__nat_table_put(t);
    return;
  }
  pthread_mutex_unlock(&env->lock);
}

hdb_status hdb__nat_pin(nat_table *t, int64_t version, hdb__tbl_snap **out, hdb_error *err) {
  hdb_status rc = hdb__tbl_pin(t->tbl, version, out, err);
  if (rc == HDB_NOT_FOUND)
    return hdb__fail(err, HDB_NOT_FOUND, "table '%s' has no version %lld", t->name,
                     (long long)version);
  return rc;
}

hdb_status hdb__nat_kv(nat_conn *c, hdb__lsm **out, hdb_error *err) {
  nat_env *env = c->env;
  hdb_status rc = HDB_OK;
  pthread_mutex_lock(&env->lock);
  if (!env->kv) {
    char *dir = path_join(env->dir, "kv");
    if (!dir)
      rc = hdb__fail(err, HDB_NOMEM, "out of memory opening the key-value store");
    else
      rc = hdb__lsm_open(dir, &env->kopt, &env->kv, err);
    hdb__free_mem(dir);
  }
  *out = env->kv;
  pthread_mutex_unlock(&env->lock);
  return rc;
}

hdb_status hdb__nat_check_field(const hdb_schema *schema, const char *table, const char *field,
                                int allow_path, int allow_id, const char *what, hdb_error *err) {
  if (!field || !*field)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "table '%s': %s has no field name", table, what);
  if (strcmp(field, "id") == 0) {
    if (allow_id) return HDB_OK;
    return hdb__fail(err, HDB_NO_FIELD, "table '%s': %s: the record id is not a column", table,
                     what);
  }
  if (!schema || hdb__schema_column(schema, field)) return HDB_OK;
  const char *dot = strchr(field, '.');
  if (dot && allow_path) {
    size_t len = (size_t)(dot - field);
    char head[HDB_MAX_NAME_LEN + 1];
    if (len == 0 || len > HDB_MAX_NAME_LEN)
      return hdb__fail(err, HDB_NO_FIELD, "table '%s' has no column '%.*s' (%s '%s')", table,
                       (int)len, field, what, field);
    memcpy(head, field, len);
    head[len] = 0;
    const hdb__column *col = hdb__schema_column(schema, head);
    if (!col)
      return hdb__fail(err, HDB_NO_FIELD, "table '%s' has no column '%s' (%s '%s')", table, head,
                       what, field);
    if (col->type != HDB_TYPE_JSON)
      return hdb__fail(err, HDB_NO_FIELD,
                       "table '%s': %s '%s' is a path into column '%s', which is %s; dotted "
                       "paths reach only into json columns",
                       table, what, field, head, hdb_type_name(col->type));
    return HDB_OK;
  }
  return hdb__fail(err, HDB_NO_FIELD, "table '%s' has no column '%s' (%s)", table, field, what);
}

const hdb__backend hdb__backend_native = {
    .version = HDB__VTAB_VERSION,
    .id = HDB_BACKEND_NATIVE,
    .name = "native",
    .open = nat_open,
    .close = nat_close,
    .capabilities = nat_capabilities,
    .ping = nat_ping,
    .table_create = hdb__nat_table_create,
    .table_drop = hdb__nat_table_drop,
    .table_list = hdb__nat_table_list,
    .table_schema = hdb__nat_table_schema,
    .write = hdb__nat_write,
    .get = hdb__nat_get,
    .update = hdb__nat_update,
    .remove = hdb__nat_remove,
    .query = hdb__nat_query,
    .count = hdb__nat_count,
    .search = hdb__nat_search,
    .aggregate = hdb__nat_aggregate,
    .index_create = hdb__nat_index_create,
    .index_drop = hdb__nat_index_drop,
    .index_optimize = hdb__nat_index_optimize,
    .index_list = hdb__nat_index_list,
    .kv_get = hdb__nat_kv_get,
    .kv_write = hdb__nat_kv_write,
    .kv_iter = hdb__nat_kv_iter,
    .versions = hdb__nat_versions,
    .restore = hdb__nat_restore,
    .compact = hdb__nat_compact,
    .check = hdb__nat_check,
    /* begin/commit/rollback (transactions), kv_put_ttl, search_hybrid,
     * publish/subscribe/unsubscribe and stats: not supported (NULL). */
};

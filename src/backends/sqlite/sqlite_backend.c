/*
 * sqlite_backend.c - the sqlite:// backend's vtable, open and close, URL
 * options, the statement cache, parameter binding and error mapping.
 *
 *   sqlite://PATH        a database file (created when missing)
 *   sqlite://:memory:    a database private to this process, shared by
 *                        every handle that opens sqlite://:memory: while
 *                        one is open, gone when the last one closes
 *
 * Why :memory: is a file: hanzo-db handles on one URL see one database
 * and get snapshot isolation between them (hdb_begin on two handles, as
 * the conformance suite checks). SQLite's own in-memory databases give a
 * connection its private database, or with shared cache, table locks
 * instead of snapshots. So :memory: is a WAL database in a fresh file
 * under /dev/shm (RAM) when it exists, else under $TMPDIR or /tmp, with
 * synchronous=OFF, unlinked (with its -wal and -shm) by the last close.
 * It is not PERSISTENT.
 *
 * URL options (?k=v&...): journal_mode (wal|delete|truncate|persist|
 * memory|off; default wal), synchronous (off|normal|full|extra; default
 * normal, off for :memory:), busy_timeout (milliseconds, default
 * hdb_config.timeout_ms or 5000), mmap_size (bytes, default SQLite's).
 * A bad value or an unknown option is HDB_BAD_URL naming it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sqlite.h"

#include "core/alloc.h"
#include "core/err.h"

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

hdb_status hdb__sq_status(int rc) {
  if (rc == SQLITE_BUSY_SNAPSHOT) return HDB_CONFLICT;
  switch (rc & 0xff) {
  case SQLITE_OK: return HDB_OK;
  case SQLITE_DONE: return HDB_DONE;
  case SQLITE_BUSY:
  case SQLITE_LOCKED: return HDB_BUSY;
  case SQLITE_CORRUPT:
  case SQLITE_NOTADB: return HDB_CORRUPT;
  case SQLITE_CONSTRAINT: return HDB_CONSTRAINT;
  case SQLITE_NOMEM: return HDB_NOMEM;
  case SQLITE_IOERR:
  case SQLITE_CANTOPEN:
  case SQLITE_FULL:
  case SQLITE_PERM: return HDB_IO;
  case SQLITE_READONLY: return HDB_READ_ONLY;
  case SQLITE_TOOBIG: return HDB_TOO_BIG;
  default: return HDB_ERROR;
  }
}

hdb_status hdb__sq_fail(hdb__sq_conn *c, int rc, hdb_error *err, const char *fmt, ...) {
  char ctx[HDB_ERRMSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ctx, sizeof ctx, fmt, ap);
  va_end(ap);
  hdb_status st = hdb__sq_status(rc);
  if (st == HDB_OK || st == HDB_DONE) st = HDB_ERROR;
  const char *msg = c && c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc);
  if (st == HDB_CONFLICT)
    return hdb__fail(err, st, "%s: another handle committed first (sqlite: %s)", ctx, msg);
  return hdb__fail(err, st, "%s: sqlite: %s", ctx, msg);
}

/* ------------------------------------------------------------------ */
/* Statements                                                          */
/* ------------------------------------------------------------------ */

hdb_status hdb__sq_prepare(hdb__sq_conn *c, const char *sql, sqlite3_stmt **out, hdb_error *err) {
  *out = NULL;
  hdb__sq_stmt *victim = NULL;
  for (size_t i = 0; i < HDB__SQ_STMT_CACHE; i++) {
    hdb__sq_stmt *s = &c->stmts[i];
    if (s->sql && !s->in_use && strcmp(s->sql, sql) == 0) {
      s->in_use = 1;
      s->used = ++c->clock;
      *out = s->stmt;
      return HDB_OK;
    }
    if (!s->in_use && (!victim || !s->sql || (victim->sql && s->used < victim->used))) victim = s;
  }
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v3(c->db, sql, -1, victim ? SQLITE_PREPARE_PERSISTENT : 0, &st, NULL);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(st);
    return hdb__sq_fail(c, rc, err, "preparing a statement");
  }
  if (victim) {
    char *copy = hdb__strdup(sql);
    if (copy) {
      if (victim->sql) {
        sqlite3_finalize(victim->stmt);
        hdb__free_mem(victim->sql);
      }
      victim->sql = copy;
      victim->stmt = st;
      victim->in_use = 1;
      victim->used = ++c->clock;
    }
  }
  *out = st;
  return HDB_OK;
}

void hdb__sq_done(hdb__sq_conn *c, sqlite3_stmt *st) {
  if (!st) return;
  for (size_t i = 0; i < HDB__SQ_STMT_CACHE; i++) {
    if (c->stmts[i].stmt == st && c->stmts[i].sql) {
      sqlite3_reset(st);
      sqlite3_clear_bindings(st);
      c->stmts[i].in_use = 0;
      return;
    }
  }
  sqlite3_finalize(st);
}

void hdb__sq_cache_flush(hdb__sq_conn *c) {
  for (size_t i = 0; i < HDB__SQ_STMT_CACHE; i++) {
    if (!c->stmts[i].sql) continue;
    sqlite3_finalize(c->stmts[i].stmt);
    hdb__free_mem(c->stmts[i].sql);
    memset(&c->stmts[i], 0, sizeof c->stmts[i]);
  }
}

hdb_status hdb__sq_exec(hdb__sq_conn *c, const char *sql, hdb_error *err) {
  int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
  if (rc != SQLITE_OK) return hdb__sq_fail(c, rc, err, "running '%.60s'", sql);
  return HDB_OK;
}

int hdb__sq_bind_value(sqlite3_stmt *st, int idx, const hdb_value *v) {
  switch (v->type) {
  case HDB_TYPE_NULL: return sqlite3_bind_null(st, idx);
  case HDB_TYPE_BOOL: return sqlite3_bind_int(st, idx, v->as.boolean != 0);
  case HDB_TYPE_INT: return sqlite3_bind_int64(st, idx, v->as.i);
  case HDB_TYPE_FLOAT: return sqlite3_bind_double(st, idx, v->as.f);
  case HDB_TYPE_TIMESTAMP: return sqlite3_bind_int64(st, idx, v->as.timestamp_us);
  case HDB_TYPE_TEXT:
  case HDB_TYPE_JSON:
    return sqlite3_bind_text64(st, idx, v->as.text.data, v->as.text.len, SQLITE_STATIC, SQLITE_UTF8);
  case HDB_TYPE_BLOB:
    if (!v->as.blob.len) return sqlite3_bind_zeroblob(st, idx, 0);
    return sqlite3_bind_blob64(st, idx, v->as.blob.data, v->as.blob.len, SQLITE_STATIC);
  case HDB_TYPE_VECTOR: {
    void *owned = NULL;
    const void *p = hdb__sql_vector_blob(v->as.vector.data, v->as.vector.dim, &owned);
    if (!p) return SQLITE_NOMEM;
    if (!v->as.vector.dim) return sqlite3_bind_zeroblob(st, idx, 0);
    int rc = sqlite3_bind_blob64(st, idx, p, (sqlite3_uint64)v->as.vector.dim * 4,
                                 owned ? SQLITE_TRANSIENT : SQLITE_STATIC);
    hdb__free_mem(owned);
    return rc;
  }
  }
  return sqlite3_bind_null(st, idx);
}

int hdb__sq_bind_params(sqlite3_stmt *st, const hdb__sql_params *p, int first) {
  for (size_t i = 0; i < p->n; i++) {
    int rc = hdb__sq_bind_value(st, first + (int)i, p->v[i]);
    if (rc != SQLITE_OK) return rc;
  }
  return SQLITE_OK;
}

/* ------------------------------------------------------------------ */
/* sqlite://:memory: registry                                          */
/* ------------------------------------------------------------------ */

static pthread_mutex_t mem_lock = PTHREAD_MUTEX_INITIALIZER;
static char *mem_path;   /* guarded by mem_lock */
static size_t mem_refs;  /* handles open on mem_path */

static void unlink_db_files(const char *path) {
  char buf[4096];
  unlink(path);
  snprintf(buf, sizeof buf, "%s-wal", path);
  unlink(buf);
  snprintf(buf, sizeof buf, "%s-shm", path);
  unlink(buf);
  snprintf(buf, sizeof buf, "%s-journal", path);
  unlink(buf);
}

/* The process's :memory: file, created on first use; one more reference. */
static hdb_status mem_acquire(char **out, hdb_error *err) {
  pthread_mutex_lock(&mem_lock);
  if (!mem_path) {
    struct stat sb;
    const char *dir = NULL;
    if (stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) && access("/dev/shm", W_OK) == 0)
      dir = "/dev/shm";
    else if (getenv("TMPDIR") && *getenv("TMPDIR"))
      dir = getenv("TMPDIR");
    else
      dir = "/tmp";
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/hanzo-sqlite-mem-%ld-XXXXXX", dir, (long)getpid());
    int fd = mkstemp(tmpl);
    if (fd < 0) {
      int e = errno;
      pthread_mutex_unlock(&mem_lock);
      return hdb__fail(err, HDB_IO, "sqlite://:memory:: cannot create a file in %s: %s", dir,
                       strerror(e));
    }
    close(fd);
    mem_path = hdb__strdup(tmpl);
    if (!mem_path) {
      unlink(tmpl);
      pthread_mutex_unlock(&mem_lock);
      return hdb__fail(err, HDB_NOMEM, "out of memory opening sqlite://:memory:");
    }
  }
  char *copy = hdb__strdup(mem_path);
  if (!copy) {
    if (!mem_refs) {
      unlink_db_files(mem_path);
      hdb__free_mem(mem_path);
      mem_path = NULL;
    }
    pthread_mutex_unlock(&mem_lock);
    return hdb__fail(err, HDB_NOMEM, "out of memory opening sqlite://:memory:");
  }
  mem_refs++;
  pthread_mutex_unlock(&mem_lock);
  *out = copy;
  return HDB_OK;
}

/* Drops a reference; the last one removes the files (after the caller
 * closed its connection). */
static void mem_release(void) {
  pthread_mutex_lock(&mem_lock);
  if (mem_refs && --mem_refs == 0 && mem_path) {
    unlink_db_files(mem_path);
    hdb__free_mem(mem_path);
    mem_path = NULL;
  }
  pthread_mutex_unlock(&mem_lock);
}

/* ------------------------------------------------------------------ */
/* Open and close                                                      */
/* ------------------------------------------------------------------ */

typedef struct options {
  const char *journal_mode;
  const char *synchronous;
  long long busy_timeout;
  long long mmap_size; /* -1: SQLite's default */
} options;

static int one_of(const char *v, const char *const *allowed) {
  for (size_t i = 0; allowed[i]; i++)
    if (strcasecmp(v, allowed[i]) == 0) return 1;
  return 0;
}

static int parse_nonneg(const char *v, long long max, long long *out) {
  if (!*v) return 0;
  char *end;
  errno = 0;
  long long n = strtoll(v, &end, 10);
  if (*end || errno || n < 0 || n > max || v[0] == '-' || v[0] == '+') return 0;
  *out = n;
  return 1;
}

static hdb_status parse_options(const hdb__url *url, const hdb_config *cfg, int memory,
                                options *o, hdb_error *err) {
  static const char *const journal[] = {"wal", "delete", "truncate", "persist", "memory", "off", NULL};
  static const char *const sync[] = {"off", "normal", "full", "extra", NULL};
  o->journal_mode = "wal";
  o->synchronous = memory ? "off" : "normal";
  o->busy_timeout = cfg && cfg->timeout_ms > 0 ? cfg->timeout_ms : 5000;
  o->mmap_size = -1;
  for (size_t i = 0; i < url->n_params; i++) {
    const char *k = url->params[i].key, *v = url->params[i].value;
    if (strcmp(k, "journal_mode") == 0) {
      if (!one_of(v, journal))
        return hdb__fail(err, HDB_BAD_URL,
                         "sqlite: bad journal_mode '%s' (wal, delete, truncate, persist, memory, off)", v);
      o->journal_mode = v;
    } else if (strcmp(k, "synchronous") == 0) {
      if (!one_of(v, sync))
        return hdb__fail(err, HDB_BAD_URL, "sqlite: bad synchronous '%s' (off, normal, full, extra)", v);
      o->synchronous = v;
    } else if (strcmp(k, "busy_timeout") == 0) {
      if (!parse_nonneg(v, 2147483647LL, &o->busy_timeout))
        return hdb__fail(err, HDB_BAD_URL,
                         "sqlite: bad busy_timeout '%s' (milliseconds, 0..2147483647)", v);
    } else if (strcmp(k, "mmap_size") == 0) {
      if (!parse_nonneg(v, INT64_MAX, &o->mmap_size))
        return hdb__fail(err, HDB_BAD_URL, "sqlite: bad mmap_size '%s' (bytes, >= 0)", v);
    } else {
      return hdb__fail(err, HDB_BAD_URL,
                       "sqlite: unknown URL option '%s' (journal_mode, synchronous, busy_timeout, "
                       "mmap_size)",
                       k);
    }
  }
  return HDB_OK;
}

static void sq_close(void *conn) {
  hdb__sq_conn *c = conn;
  if (!c) return;
  hdb__sq_cache_flush(c);
  hdb__sq_tables_flush(c);
  /* An open transaction rolls back with the connection. */
  sqlite3_close_v2(c->db);
  if (c->memory) mem_release();
  hdb__free_mem(c->path);
  hdb__free_mem(c);
}

static hdb_status configure(hdb__sq_conn *c, const options *o, hdb_error *err) {
  char sql[128];
  int rc;
  sqlite3_extended_result_codes(c->db, 1);
  sqlite3_busy_timeout(c->db, (int)o->busy_timeout);
  rc = hdb__sq_register_functions(c->db);
  if (rc != SQLITE_OK) return hdb__sq_fail(c, rc, err, "sqlite://%s: registering functions", c->path);
  /* The first statement reads the file: a file that is not a database
   * fails here with SQLITE_NOTADB (HDB_CORRUPT). */
  rc = sqlite3_exec(c->db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL);
  if (rc != SQLITE_OK) return hdb__sq_fail(c, rc, err, "sqlite://%s: cannot read the database", c->path);
  if (!c->read_only) {
    snprintf(sql, sizeof sql, "PRAGMA journal_mode=%s", o->journal_mode);
    rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) return hdb__sq_fail(c, rc, err, "sqlite://%s: setting journal_mode", c->path);
  }
  snprintf(sql, sizeof sql, "PRAGMA synchronous=%s", o->synchronous);
  rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
  if (rc != SQLITE_OK) return hdb__sq_fail(c, rc, err, "sqlite://%s: setting synchronous", c->path);
  if (o->mmap_size >= 0) {
    snprintf(sql, sizeof sql, "PRAGMA mmap_size=%lld", o->mmap_size);
    rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) return hdb__sq_fail(c, rc, err, "sqlite://%s: setting mmap_size", c->path);
  }
  return hdb__sq_catalog_init(c, err);
}

static hdb_status sq_open(const hdb__url *url, const hdb_config *cfg, void **conn, hdb_error *err) {
  *conn = NULL;
  const char *path = url->path ? url->path : "";
  if (!*path)
    return hdb__fail(err, HDB_BAD_URL, "sqlite: no path (sqlite://PATH or sqlite://:memory:)");
  int memory = strcmp(path, ":memory:") == 0;
  options o;
  hdb_status st = parse_options(url, cfg, memory, &o, err);
  if (st != HDB_OK) return st;
  hdb__sq_conn *c = hdb__calloc(1, sizeof *c);
  if (!c) return hdb__fail(err, HDB_NOMEM, "out of memory opening sqlite://%s", path);
  c->read_only = cfg && cfg->read_only;
  c->schema_version = -1;
  if (memory) {
    st = mem_acquire(&c->path, err);
    if (st != HDB_OK) {
      hdb__free_mem(c);
      return st;
    }
    c->memory = 1;
  } else {
    c->path = hdb__strdup(path);
    if (!c->path) {
      hdb__free_mem(c);
      return hdb__fail(err, HDB_NOMEM, "out of memory opening sqlite://%s", path);
    }
  }
  int flags = (c->read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
              SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(c->path, &c->db, flags, NULL);
  if (rc != SQLITE_OK) {
    st = hdb__fail(err, hdb__sq_status(rc) == HDB_NOMEM ? HDB_NOMEM : HDB_IO,
                   "sqlite: cannot open '%s': %s", path,
                   c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
    sq_close(c);
    return st;
  }
  st = configure(c, &o, err);
  if (st != HDB_OK) {
    sq_close(c);
    return st;
  }
  *conn = c;
  return HDB_OK;
}

static uint32_t sq_capabilities(void *conn) {
  hdb__sq_conn *c = conn;
  uint32_t caps = HDB_CAP_TRANSACTIONS | HDB_CAP_KV | HDB_CAP_VECTOR_SEARCH | HDB_CAP_SCALAR_INDEX |
                  HDB_CAP_AGGREGATE | HDB_CAP_SCHEMALESS;
  if (c && !c->memory) caps |= HDB_CAP_PERSISTENT;
  return caps;
}

static hdb_status sq_ping(void *conn, hdb_error *err) {
  hdb__sq_conn *c = conn;
  return hdb__sq_exec(c, "SELECT 1", err);
}

const hdb__backend hdb__backend_sqlite = {
    .version = HDB__VTAB_VERSION,
    .id = HDB_BACKEND_SQLITE,
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .capabilities = sq_capabilities,
    .ping = sq_ping,
    .table_create = hdb__sq_table_create,
    .table_drop = hdb__sq_table_drop,
    .table_list = hdb__sq_table_list,
    .table_schema = hdb__sq_table_schema,
    .write = hdb__sq_write,
    .get = hdb__sq_get,
    .update = hdb__sq_update,
    .remove = hdb__sq_remove,
    .query = hdb__sq_query,
    .count = hdb__sq_count,
    .search = hdb__sq_search,
    .aggregate = hdb__sq_aggregate,
    .index_create = hdb__sq_index_create,
    .index_drop = hdb__sq_index_drop,
    .index_list = hdb__sq_index_list,
    .begin = hdb__sq_begin,
    .commit = hdb__sq_commit,
    .rollback = hdb__sq_rollback,
    .kv_get = hdb__sq_kv_get,
    .kv_write = hdb__sq_kv_write,
    .kv_iter = hdb__sq_kv_iter,
    /* kv_put_ttl, search_hybrid, publish, subscribe, unsubscribe, versions,
     * restore, stats: not supported (NULL). */
};

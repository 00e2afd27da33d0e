/*
 * duck_schema.c - the catalog of the duckdb:// backend: its tables, the
 * mapping of hanzo names to DuckDB identifiers, table create/drop/list/
 * schema, and indexes.
 *
 * Column types (DuckDB): bool BOOLEAN, int BIGINT, float DOUBLE, text
 * VARCHAR, blob BLOB, timestamp TIMESTAMP (microseconds, the same int64),
 * json JSON, vector(N) FLOAT[N] (the types of the shared SQL layer's
 * hdb__sql_column_type for the DuckDB dialect, with vectors as fixed-size
 * arrays so that DuckDB's array_* distance functions apply). The schema
 * itself, with the vector metrics, is kept as hdb_schema_to_json text in
 * _hanzo_tables, so hdb_table_schema round-trips exactly.
 *
 * Indexes: scalar = a DuckDB ART index (CREATE INDEX) named "hx.TABLE.COL";
 * flat = metadata only (search is an exact scan either way); hnsw, ivf_pq
 * and fts are HDB_NOT_SUPPORTED (DuckDB's vss and fts extensions are not
 * built into libduckdb and cannot be installed offline). Checks run in the
 * memory backend's order: table, column, type, column type, existing
 * index, params.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duck.h"

#include "core/alloc.h"
#include "core/err.h"
#include "core/json.h"
#include "core/record.h"

/* ------------------------------------------------------------------ */
/* Names                                                               */
/* ------------------------------------------------------------------ */

void hdb__duck_ident(hdb__sql_buf *b, const char *name) {
  /* Hanzo names are [A-Za-z0-9_] (and '.' in our composed index names),
   * so the only character needing care inside the quotes is upper case. */
  char tmp[2 * (2 * HDB_MAX_NAME_LEN + 8) + 3];
  size_t k = 0;
  tmp[k++] = '"';
  for (const char *p = name; *p && k + 4 < sizeof tmp; p++) {
    if (*p >= 'A' && *p <= 'Z') {
      tmp[k++] = '^';
      tmp[k++] = (char)(*p - 'A' + 'a');
    } else if (*p == '"') {
      tmp[k++] = '"';
      tmp[k++] = '"';
    } else {
      tmp[k++] = *p;
    }
  }
  tmp[k++] = '"';
  tmp[k] = 0;
  hdb__sql_buf_append(b, tmp);
}

static int has_upper(const char *s) {
  for (; *s; s++)
    if (*s >= 'A' && *s <= 'Z') return 1;
  return 0;
}

/* ------------------------------------------------------------------ */
/* Catalog                                                             */
/* ------------------------------------------------------------------ */

static const char catalog_sql[] =
    "CREATE TABLE IF NOT EXISTS _hanzo_meta(key VARCHAR PRIMARY KEY, value VARCHAR);"
    "CREATE TABLE IF NOT EXISTS _hanzo_tables(name VARCHAR PRIMARY KEY, schema VARCHAR);"
    "CREATE TABLE IF NOT EXISTS _hanzo_indexes(tbl VARCHAR, col VARCHAR, type VARCHAR, "
    "params VARCHAR, PRIMARY KEY (tbl, col));"
    "CREATE TABLE IF NOT EXISTS _hanzo_kv(ns VARCHAR, key BLOB, value BLOB, "
    "PRIMARY KEY (ns, key));"
    "INSERT OR IGNORE INTO _hanzo_meta VALUES ('magic', '" HDB__DUCK_MAGIC "');";

/* One text cell of a one-row query; NULL when there is no row. Owned. */
static hdb_status query_text(hdb__duck_conn *c, const char *sql, const hdb_value *const *params,
                             size_t n, char **out, int *found, hdb_error *err) {
  duckdb_result r;
  *out = NULL;
  *found = 0;
  hdb_status st = hdb__duck_run(c, sql, params, n, &r, err, "reading the catalog");
  if (st != HDB_OK) return st;
  if (duckdb_row_count(&r) > 0) {
    *found = 1;
    if (!duckdb_value_is_null(&r, 0, 0)) {
      char *v = duckdb_value_varchar(&r, 0, 0);
      if (v) {
        *out = hdb__strdup(v);
        duckdb_free(v);
      }
      if (!*out) st = hdb__fail(err, HDB_NOMEM, "out of memory reading the catalog");
    }
  }
  duckdb_destroy_result(&r);
  return st;
}

hdb_status hdb__duck_catalog_init(hdb__duck_conn *c, hdb_error *err) {
  hdb_status st;
  if (!c->read_only || c->memory) { /* an in-memory database is never read-only */
    st = hdb__duck_exec(c, catalog_sql, err, "duckdb: creating the hanzo catalog");
    if (st != HDB_OK) return st;
    st = hdb__duck_exec(c, "INSERT OR IGNORE INTO _hanzo_meta VALUES ('format', '1')", err,
                        "duckdb: creating the hanzo catalog");
    if (st != HDB_OK) return st;
  }
  char *magic = NULL, *format = NULL;
  int found = 0;
  duckdb_result r;
  if (duckdb_query(c->con, "SELECT 1 FROM duckdb_tables() WHERE table_name = '_hanzo_meta'", &r) !=
      DuckDBSuccess) {
    st = hdb__fail(err, HDB_IO, "duckdb: cannot read the catalog: %s", duckdb_result_error(&r));
    duckdb_destroy_result(&r);
    return st;
  }
  idx_t rows = duckdb_row_count(&r);
  duckdb_destroy_result(&r);
  if (rows == 0)
    return hdb__fail(err, HDB_CORRUPT,
                     "duckdb: the database has no hanzo-db catalog (_hanzo_meta) and the handle "
                     "is read-only");
  st = query_text(c, "SELECT value FROM _hanzo_meta WHERE key = 'magic'", NULL, 0, &magic, &found, err);
  if (st == HDB_OK) st = query_text(c, "SELECT value FROM _hanzo_meta WHERE key = 'format'", NULL, 0,
                                    &format, &found, err);
  if (st == HDB_OK && (!magic || strcmp(magic, HDB__DUCK_MAGIC) != 0))
    st = hdb__fail(err, HDB_CORRUPT, "duckdb: _hanzo_meta has magic '%s', not '%s'",
                   magic ? magic : "(none)", HDB__DUCK_MAGIC);
  if (st == HDB_OK && (!format || atoi(format) < 1))
    st = hdb__fail(err, HDB_CORRUPT, "duckdb: _hanzo_meta has no valid format version");
  if (st == HDB_OK && atoi(format) > HDB__DUCK_FORMAT)
    st = hdb__fail(err, HDB_NOT_SUPPORTED,
                   "duckdb: catalog format %s is newer than this library's %d", format,
                   HDB__DUCK_FORMAT);
  hdb__free_mem(magic);
  hdb__free_mem(format);
  return st;
}

static hdb_value text_value(const char *s) {
  hdb_value v;
  memset(&v, 0, sizeof v);
  v.type = HDB_TYPE_TEXT;
  v.as.text.data = s;
  v.as.text.len = strlen(s);
  return v;
}

static hdb_value null_or_text(const char *s) {
  hdb_value v = text_value(s ? s : "");
  if (!s) v.type = HDB_TYPE_NULL;
  return v;
}

/* ------------------------------------------------------------------ */
/* Table cache                                                         */
/* ------------------------------------------------------------------ */

/* Every call on a table needs its definition; reading it from
 * _hanzo_tables is a SQL statement of its own (about 0.5 ms, as much as a
 * small insert). So a connection remembers the definitions it read, each
 * with the catalog generation (shared->catalog_gen) it was read under.
 *
 * C1 Only our own create/drop change _hanzo_tables, and DuckDB lets no
 *    other process write the file while this one has it open; so a change
 *    of definition is always one of ours and bumps the generation: after
 *    the DDL statement (the creating connection reloads inside its own
 *    transaction) and again after its transaction ends (everyone reloads
 *    the committed state).
 * C2 The generation is read before the catalog is: a change that lands
 *    during the read leaves the entry with an old generation, reloaded on
 *    its next use.
 * C3 Inside a user transaction the cache is neither used nor filled: the
 *    transaction's snapshot may be older or newer than the committed
 *    state the cache describes.
 * A call that starts while another thread's create/drop of that table
 * commits may still run on the definition it replaces, as it could before
 * this cache (the definition was read before the call's own statements
 * ran); DuckDB checks every statement against the real table, so such a
 * call fails, and data is never read or written through a wrong type. */

void hdb__duck_catalog_changed(hdb__duck_conn *c) {
  atomic_fetch_add(&c->shared->catalog_gen, 1);
}

void hdb__duck_table_cache_free(hdb__duck_conn *c) {
  for (size_t i = 0; i < HDB__DUCK_TABLE_CACHE; i++) {
    hdb__free_mem(c->tables[i].name);
    hdb_schema_free(c->tables[i].schema);
    memset(&c->tables[i], 0, sizeof c->tables[i]);
  }
}

/* Fills t with a copy of name and schema (taken over only on success). */
static int table_fill(hdb__duck_table *t, const char *name, hdb_schema *schema) {
  t->name = hdb__strdup(name);
  if (!t->name) return 0;
  t->schema = schema;
  t->sql_names = 1;
  for (size_t i = 0; schema && i < schema->n; i++)
    if (has_upper(schema->cols[i].name)) t->sql_names = 0;
  return t->name != NULL;
}

/* A copy of the cached definition of name, when current (C1, C3). */
static int cache_get(hdb__duck_conn *c, const char *name, hdb__duck_table *t) {
  uint64_t gen = atomic_load(&c->shared->catalog_gen);
  for (size_t i = 0; i < HDB__DUCK_TABLE_CACHE; i++) {
    hdb__duck_cached_table *e = &c->tables[i];
    if (!e->name || e->gen != gen || strcmp(e->name, name) != 0) continue;
    hdb_schema *copy = NULL;
    if (e->schema && !(copy = hdb_schema_clone(e->schema))) return 0;
    if (!table_fill(t, name, copy)) {
      hdb_schema_free(copy);
      return 0;
    }
    e->used = ++c->clock;
    return 1;
  }
  return 0;
}

/* Remembers a definition read under generation gen (C2); out of memory
 * just leaves it out. */
static void cache_put(hdb__duck_conn *c, const hdb__duck_table *t, uint64_t gen) {
  hdb__duck_cached_table *slot = &c->tables[0];
  for (size_t i = 0; i < HDB__DUCK_TABLE_CACHE; i++) {
    hdb__duck_cached_table *e = &c->tables[i];
    if (e->name && strcmp(e->name, t->name) == 0) {
      slot = e;
      break;
    }
    if (!e->name || e->used < slot->used) slot = e;
  }
  hdb_schema *copy = NULL;
  char *name = hdb__strdup(t->name);
  if (!name || (t->schema && !(copy = hdb_schema_clone(t->schema)))) {
    hdb__free_mem(name);
    return;
  }
  hdb__free_mem(slot->name);
  hdb_schema_free(slot->schema);
  slot->name = name;
  slot->schema = copy;
  slot->gen = gen;
  slot->used = ++c->clock;
}

hdb_status hdb__duck_table_load(hdb__duck_conn *c, const char *name, hdb__duck_table *t,
                                hdb_error *err) {
  memset(t, 0, sizeof *t);
  if (!c->in_txn && cache_get(c, name, t)) return HDB_OK;
  uint64_t gen = atomic_load(&c->shared->catalog_gen); /* C2: before the read */
  hdb_value nv = text_value(name);
  const hdb_value *p[1] = {&nv};
  char *schema_json = NULL;
  int found = 0;
  hdb_status st = query_text(c, "SELECT schema FROM _hanzo_tables WHERE name = ?", p, 1,
                             &schema_json, &found, err);
  if (st != HDB_OK) return st;
  if (!found) return hdb__fail(err, HDB_NO_TABLE, "no table '%s'", name);
  hdb_schema *schema = NULL;
  if (schema_json) {
    st = hdb_schema_from_json(schema_json, &schema, err);
    hdb__free_mem(schema_json);
    if (st != HDB_OK) {
      if (st == HDB_NOMEM) return hdb__fail(err, st, "out of memory loading table '%s'", name);
      return hdb__fail(err, HDB_CORRUPT, "table '%s': its catalog schema does not parse", name);
    }
  }
  if (!table_fill(t, name, schema)) {
    hdb_schema_free(schema);
    return hdb__fail(err, HDB_NOMEM, "out of memory loading table '%s'", name);
  }
  if (!c->in_txn) cache_put(c, t, gen); /* C3 */
  return HDB_OK;
}

void hdb__duck_table_free(hdb__duck_table *t) {
  if (!t) return;
  hdb__free_mem(t->name);
  hdb_schema_free(t->schema);
  memset(t, 0, sizeof *t);
}

hdb_status hdb__duck_check_field(const hdb__duck_table *t, const char *field, int id_ok,
                                 int path_ok, const char *what, hdb_error *err) {
  if (!field || !*field)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "table '%s': %s has no field name", t->name, what);
  if (strcmp(field, "id") == 0) {
    if (id_ok) return HDB_OK;
    return hdb__fail(err, HDB_NO_FIELD, "table '%s': %s: the record id is not a column", t->name,
                     what);
  }
  if (!t->schema || hdb__schema_column(t->schema, field)) return HDB_OK;
  const char *dot = strchr(field, '.');
  if (dot && path_ok) {
    size_t len = (size_t)(dot - field);
    char head[HDB_MAX_NAME_LEN + 1];
    if (len == 0 || len > HDB_MAX_NAME_LEN)
      return hdb__fail(err, HDB_NO_FIELD, "table '%s' has no column '%.*s' (%s '%s')", t->name,
                       (int)len, field, what, field);
    memcpy(head, field, len);
    head[len] = 0;
    const hdb__column *col = hdb__schema_column(t->schema, head);
    if (!col)
      return hdb__fail(err, HDB_NO_FIELD, "table '%s' has no column '%s' (%s '%s')", t->name,
                       head, what, field);
    if (col->type != HDB_TYPE_JSON)
      return hdb__fail(err, HDB_NO_FIELD,
                       "table '%s': %s '%s' is a path into column '%s', which is %s; dotted "
                       "paths reach only into json columns",
                       t->name, what, field, head, hdb_type_name(col->type));
    return HDB_OK;
  }
  return hdb__fail(err, HDB_NO_FIELD, "table '%s' has no column '%s' (%s)", t->name, field, what);
}

/* ------------------------------------------------------------------ */
/* Tables                                                              */
/* ------------------------------------------------------------------ */

static hdb_status table_exists(hdb__duck_conn *c, const char *name, int *exists, hdb_error *err) {
  hdb_value nv = text_value(name);
  const hdb_value *p[1] = {&nv};
  char *ignored = NULL;
  hdb_status st = query_text(c, "SELECT name FROM _hanzo_tables WHERE name = ?", p, 1, &ignored,
                             exists, err);
  hdb__free_mem(ignored);
  return st;
}

hdb_status hdb__duck_table_create(void *conn, const char *table, const hdb_schema *schema,
                                  unsigned flags, hdb_error *err) {
  hdb__duck_conn *c = conn;
  hdb_status st = hdb__duck_enter(c, 1, err);
  if (st != HDB_OK) return st;
  hdb__sql_buf b = {0};
  char *schema_json = NULL;
  int own = 0, exists = 0, ddl = 0;
  if (schema && (st = hdb_schema_to_json(schema, &schema_json)) != HDB_OK)
    return hdb__fail(err, st, "table '%s': cannot serialize its schema", table);

  hdb__sql_buf_append(&b, "CREATE TABLE ");
  hdb__duck_ident(&b, table);
  hdb__sql_buf_append(&b, "(id VARCHAR PRIMARY KEY");
  if (!schema) {
    hdb__sql_buf_append(&b, ", doc JSON");
  } else {
    for (size_t i = 0; i < schema->n; i++) {
      const hdb__column *col = &schema->cols[i];
      hdb__sql_buf_append(&b, ", ");
      hdb__duck_ident(&b, col->name);
      if (col->type == HDB_TYPE_VECTOR)
        hdb__sql_buf_appendf(&b, " FLOAT[%u]", (unsigned)col->dim);
      else
        hdb__sql_buf_appendf(&b, " %s", hdb__sql_column_type(HDB__SQL_DUCKDB, col->type, 0));
    }
  }
  hdb__sql_buf_append(&b, ")");
  if ((st = hdb__sql_buf_status(&b, err)) != HDB_OK) goto done;

  if ((st = hdb__duck_atomic_begin(c, &own, err)) != HDB_OK) goto done;
  st = table_exists(c, table, &exists, err);
  if (st == HDB_OK && exists) {
    if (!(flags & HDB_IF_NOT_EXISTS)) st = hdb__fail(err, HDB_EXISTS, "table '%s' already exists", table);
  } else if (st == HDB_OK) {
    hdb_value nv = text_value(table), sv = null_or_text(schema_json);
    const hdb_value *p[2] = {&nv, &sv};
    duckdb_result r;
    st = hdb__duck_run(c, "INSERT INTO _hanzo_tables VALUES (?, ?)", p, 2, &r, err,
                       "creating a table");
    if (st == HDB_OK) {
      duckdb_destroy_result(&r);
      st = hdb__duck_exec(c, b.s, err, "creating a table");
    }
    if (st != HDB_OK && err) hdb__err_prefix(err, "table '%s'", table);
    ddl = 1;
  }
  if (ddl) hdb__duck_catalog_changed(c); /* C1: this transaction's view */
  st = hdb__duck_atomic_end(c, own, st, err);
  if (ddl && own) hdb__duck_catalog_changed(c); /* C1: the committed state */
  if (ddl && !own) c->txn_ddl = 1; /* bumped again when it ends */
done:
  hdb__sql_buf_free(&b);
  hdb__free_mem(schema_json);
  return st;
}

hdb_status hdb__duck_table_drop(void *conn, const char *table, unsigned flags, hdb_error *err) {
  hdb__duck_conn *c = conn;
  hdb_status st = hdb__duck_enter(c, 1, err);
  if (st != HDB_OK) return st;
  int own = 0, exists = 0, ddl = 0;
  hdb__sql_buf b = {0};
  hdb__sql_buf_append(&b, "DROP TABLE IF EXISTS ");
  hdb__duck_ident(&b, table);
  if ((st = hdb__sql_buf_status(&b, err)) != HDB_OK) goto done;
  if ((st = hdb__duck_atomic_begin(c, &own, err)) != HDB_OK) goto done;
  st = table_exists(c, table, &exists, err);
  if (st == HDB_OK && !exists) {
    if (!(flags & HDB_IF_EXISTS)) st = hdb__fail(err, HDB_NO_TABLE, "no table '%s'", table);
  } else if (st == HDB_OK) {
    /* The table's indexes go with it. */
    hdb_value nv = text_value(table);
    const hdb_value *p[1] = {&nv};
    duckdb_result r;
    st = hdb__duck_exec(c, b.s, err, "dropping a table");
    if (st == HDB_OK &&
        (st = hdb__duck_run(c, "DELETE FROM _hanzo_indexes WHERE tbl = ?", p, 1, &r, err,
                            "dropping a table")) == HDB_OK) {
      duckdb_destroy_result(&r);
      st = hdb__duck_run(c, "DELETE FROM _hanzo_tables WHERE name = ?", p, 1, &r, err,
                         "dropping a table");
      if (st == HDB_OK) duckdb_destroy_result(&r);
    }
    ddl = 1;
  }
  if (ddl) hdb__duck_catalog_changed(c); /* C1: this transaction's view */
  st = hdb__duck_atomic_end(c, own, st, err);
  if (ddl && own) hdb__duck_catalog_changed(c); /* C1: the committed state */
  if (ddl && !own) c->txn_ddl = 1; /* bumped again when it ends */
done:
  hdb__sql_buf_free(&b);
  return st;
}

hdb_status hdb__duck_table_list(void *conn, char ***names, size_t *count, hdb_error *err) {
  hdb__duck_conn *c = conn;
  *names = NULL;
  *count = 0;
  hdb_status st = hdb__duck_enter(c, 0, err);
  if (st != HDB_OK) return st;
  duckdb_result r;
  /* VARCHAR ordering in DuckDB is by bytes unless a collation is set. */
  st = hdb__duck_run(c, "SELECT name FROM _hanzo_tables ORDER BY name", NULL, 0, &r, err,
                     "listing tables");
  if (st != HDB_OK) return st;
  idx_t n = duckdb_row_count(&r);
  char **out = n ? hdb__calloc(n, sizeof *out) : NULL;
  if (n && !out) st = hdb__fail(err, HDB_NOMEM, "out of memory listing tables");
  for (idx_t i = 0; st == HDB_OK && i < n; i++) {
    char *v = duckdb_value_varchar(&r, 0, i);
    out[i] = v ? hdb__strdup(v) : NULL;
    if (v) duckdb_free(v);
    if (!out[i]) {
      hdb_strings_free(out, i);
      out = NULL;
      st = hdb__fail(err, HDB_NOMEM, "out of memory listing tables");
    }
  }
  duckdb_destroy_result(&r);
  if (st == HDB_OK) {
    *names = out;
    *count = n;
  }
  return st;
}

hdb_status hdb__duck_table_schema(void *conn, const char *table, hdb_schema **schema,
                                  hdb_error *err) {
  hdb__duck_conn *c = conn;
  *schema = NULL;
  hdb_status st = hdb__duck_enter(c, 0, err);
  if (st != HDB_OK) return st;
  hdb__duck_table t;
  if ((st = hdb__duck_table_load(c, table, &t, err)) != HDB_OK) return st;
  *schema = t.schema; /* moved out */
  t.schema = NULL;
  hdb__duck_table_free(&t);
  return HDB_OK;
}

/* ------------------------------------------------------------------ */
/* Indexes                                                             */
/* ------------------------------------------------------------------ */

static hdb_status resolve_type(const char *table, const hdb__column *col, hdb_index_type type,
                               hdb_index_type *out, hdb_error *err) {
  int is_vec = col->type == HDB_TYPE_VECTOR;
  switch (type) {
  case HDB_INDEX_AUTO:
    if (col->type == HDB_TYPE_BLOB)
      return hdb__fail(err, HDB_NOT_SUPPORTED,
                       "column '%s' of table '%s' is blob; the duckdb backend has no index for "
                       "blob columns",
                       col->name, table);
    *out = is_vec ? HDB_INDEX_FLAT : HDB_INDEX_SCALAR;
    return HDB_OK;
  case HDB_INDEX_FLAT:
    if (!is_vec)
      return hdb__fail(err, HDB_NOT_SUPPORTED,
                       "a flat index needs a vector column; column '%s' of table '%s' is %s",
                       col->name, table, hdb_type_name(col->type));
    *out = type;
    return HDB_OK;
  case HDB_INDEX_SCALAR:
    if (is_vec || col->type == HDB_TYPE_BLOB)
      return hdb__fail(err, HDB_NOT_SUPPORTED,
                       "a scalar index cannot cover %s column '%s' of table '%s'",
                       hdb_type_name(col->type), col->name, table);
    *out = type;
    return HDB_OK;
  case HDB_INDEX_HNSW:
  case HDB_INDEX_IVF_PQ:
    return hdb__fail(err, HDB_NOT_SUPPORTED,
                     "the duckdb backend has no %s index (column '%s' of table '%s'): DuckDB's "
                     "vss extension is not built into libduckdb and cannot be installed "
                     "offline; search is exact. Approximate indexes live in native://",
                     hdb_index_type_name(type), col->name, table);
  case HDB_INDEX_FTS:
    return hdb__fail(err, HDB_NOT_SUPPORTED,
                     "the duckdb backend has no full-text index (column '%s' of table '%s')",
                     col->name, table);
  }
  return hdb__fail(err, HDB_INVALID_ARGUMENT, "unknown index type %d for column '%s' of table '%s'",
                   (int)type, col->name, table);
}

static void index_ident(hdb__sql_buf *b, const char *table, const char *column) {
  char name[2 * HDB_MAX_NAME_LEN + 8];
  snprintf(name, sizeof name, "hx.%s.%s", table, column);
  hdb__duck_ident(b, name);
}

/* Type and params of the index on table.column; *found 0 when none. */
static hdb_status index_lookup(hdb__duck_conn *c, const char *table, const char *column,
                               int *found, char **type, hdb_error *err) {
  hdb_value tv = text_value(table), cv = text_value(column);
  const hdb_value *p[2] = {&tv, &cv};
  return query_text(c, "SELECT type FROM _hanzo_indexes WHERE tbl = ? AND col = ?", p, 2, type,
                    found, err);
}

hdb_status hdb__duck_index_create(void *conn, const char *table, const char *column,
                                  hdb_index_type type, const char *params, hdb_error *err) {
  hdb__duck_conn *c = conn;
  hdb_status st = hdb__duck_enter(c, 1, err);
  if (st != HDB_OK) return st;
  hdb__duck_table t;
  char *ptext = NULL, *existing = NULL;
  int own = 0, found = 0;
  hdb__sql_buf b = {0};
  if ((st = hdb__duck_table_load(c, table, &t, err)) != HDB_OK) return st;
  const hdb__column *col = t.schema ? hdb__schema_column(t.schema, column) : NULL;
  if (!col) {
    if (t.schema)
      st = hdb__fail(err, HDB_NO_FIELD, "table '%s' has no column '%s'", table, column);
    else
      st = hdb__fail(err, HDB_NO_FIELD,
                     "table '%s' is schemaless and has no column '%s'; indexes need a column",
                     table, column);
    goto done;
  }
  hdb_index_type resolved = HDB_INDEX_AUTO;
  if ((st = resolve_type(table, col, type, &resolved, err)) != HDB_OK) goto done;
  if ((st = index_lookup(c, table, column, &found, &existing, err)) != HDB_OK) goto done;
  if (found) {
    st = hdb__fail(err, HDB_EXISTS, "column '%s' of table '%s' already has a %s index", column,
                   table, existing ? existing : "");
    goto done;
  }
  if (!params) {
    ptext = hdb__strdup("{}");
    if (!ptext) st = hdb__fail(err, HDB_NOMEM, "out of memory creating an index");
  } else {
    st = hdb__json_normalize(params, strlen(params), &ptext, NULL, err);
    if (st != HDB_OK && err)
      hdb__err_prefix(err, "index params for column '%s' of table '%s'", column, table);
    if (st == HDB_OK && ptext[0] != '{')
      st = hdb__fail(err, HDB_BAD_JSON,
                     "index params for column '%s' of table '%s' must be a JSON object", column,
                     table);
  }
  if (st != HDB_OK) goto done;

  if ((st = hdb__duck_atomic_begin(c, &own, err)) != HDB_OK) goto done;
  {
    hdb_value tv = text_value(table), cv = text_value(column),
              yv = text_value(hdb_index_type_name(resolved)), pv = text_value(ptext);
    const hdb_value *p[4] = {&tv, &cv, &yv, &pv};
    duckdb_result r;
    st = hdb__duck_run(c, "INSERT INTO _hanzo_indexes VALUES (?, ?, ?, ?)", p, 4, &r, err,
                       "creating an index");
    if (st == HDB_OK) duckdb_destroy_result(&r);
  }
  if (st == HDB_OK && resolved == HDB_INDEX_SCALAR) {
    hdb__sql_buf_append(&b, "CREATE INDEX ");
    index_ident(&b, table, column);
    hdb__sql_buf_append(&b, " ON ");
    hdb__duck_ident(&b, table);
    hdb__sql_buf_append(&b, "(");
    hdb__duck_ident(&b, column);
    hdb__sql_buf_append(&b, ")");
    st = hdb__sql_buf_status(&b, err);
    if (st == HDB_OK) st = hdb__duck_exec(c, b.s, err, "creating an ART index");
    if (st != HDB_OK && err) hdb__err_prefix(err, "column '%s' of table '%s'", column, table);
  }
  st = hdb__duck_atomic_end(c, own, st, err);
done:
  hdb__sql_buf_free(&b);
  hdb__free_mem(ptext);
  hdb__free_mem(existing);
  hdb__duck_table_free(&t);
  return st;
}

hdb_status hdb__duck_index_drop(void *conn, const char *table, const char *column,
                                hdb_error *err) {
  hdb__duck_conn *c = conn;
  hdb_status st = hdb__duck_enter(c, 1, err);
  if (st != HDB_OK) return st;
  hdb__duck_table t;
  char *type = NULL;
  int own = 0, found = 0;
  hdb__sql_buf b = {0};
  if ((st = hdb__duck_table_load(c, table, &t, err)) != HDB_OK) return st;
  if ((st = index_lookup(c, table, column, &found, &type, err)) != HDB_OK) goto done;
  if (!found) {
    st = hdb__fail(err, HDB_NO_INDEX, "column '%s' of table '%s' has no index", column, table);
    goto done;
  }
  if ((st = hdb__duck_atomic_begin(c, &own, err)) != HDB_OK) goto done;
  {
    hdb_value tv = text_value(table), cv = text_value(column);
    const hdb_value *p[2] = {&tv, &cv};
    duckdb_result r;
    st = hdb__duck_run(c, "DELETE FROM _hanzo_indexes WHERE tbl = ? AND col = ?", p, 2, &r, err,
                       "dropping an index");
    if (st == HDB_OK) duckdb_destroy_result(&r);
  }
  if (st == HDB_OK && type && strcmp(type, "scalar") == 0) {
    hdb__sql_buf_append(&b, "DROP INDEX IF EXISTS ");
    index_ident(&b, table, column);
    st = hdb__sql_buf_status(&b, err);
    if (st == HDB_OK) st = hdb__duck_exec(c, b.s, err, "dropping an ART index");
  }
  st = hdb__duck_atomic_end(c, own, st, err);
done:
  hdb__sql_buf_free(&b);
  hdb__free_mem(type);
  hdb__duck_table_free(&t);
  return st;
}

hdb_status hdb__duck_index_list(void *conn, const char *table, hdb_index_info **infos,
                                size_t *count, hdb_error *err) {
  hdb__duck_conn *c = conn;
  *infos = NULL;
  *count = 0;
  hdb_status st = hdb__duck_enter(c, 0, err);
  if (st != HDB_OK) return st;
  hdb__duck_table t;
  if ((st = hdb__duck_table_load(c, table, &t, err)) != HDB_OK) return st;
  hdb__duck_table_free(&t);
  hdb_value tv = text_value(table);
  const hdb_value *p[1] = {&tv};
  duckdb_result r, rc;
  /* Creation order is not recorded; the catalog's rowid order is it. */
  st = hdb__duck_run(c, "SELECT col, type, params FROM _hanzo_indexes WHERE tbl = ? ORDER BY rowid",
                     p, 1, &r, err, "listing indexes");
  if (st != HDB_OK) return st;
  idx_t n = duckdb_row_count(&r);
  uint64_t rows = 0;
  if (n) {
    hdb__sql_buf b = {0};
    hdb__sql_buf_append(&b, "SELECT count(*) FROM ");
    hdb__duck_ident(&b, table);
    st = hdb__sql_buf_status(&b, err);
    if (st == HDB_OK) st = hdb__duck_run(c, b.s, NULL, 0, &rc, err, "counting rows");
    hdb__sql_buf_free(&b);
    if (st == HDB_OK) {
      rows = (uint64_t)duckdb_value_int64(&rc, 0, 0);
      duckdb_destroy_result(&rc);
    }
  }
  hdb_index_info *out = (st == HDB_OK && n) ? hdb__calloc(n, sizeof *out) : NULL;
  if (st == HDB_OK && n && !out) st = hdb__fail(err, HDB_NOMEM, "out of memory listing indexes");
  for (idx_t i = 0; st == HDB_OK && i < n; i++) {
    char *col = duckdb_value_varchar(&r, 0, i), *type = duckdb_value_varchar(&r, 1, i),
         *params = duckdb_value_varchar(&r, 2, i);
    out[i].column = col ? hdb__strdup(col) : NULL;
    out[i].params = params ? hdb__strdup(params) : NULL;
    if (!type || hdb_index_type_from_name(type, &out[i].type) != HDB_OK) out[i].type = HDB_INDEX_AUTO;
    out[i].rows_indexed = rows;
    out[i].rows_unindexed = 0;
    if (col) duckdb_free(col);
    if (type) duckdb_free(type);
    if (params) duckdb_free(params);
    if (!out[i].column || !out[i].params) {
      hdb_index_info_free(out, i + 1);
      out = NULL;
      st = hdb__fail(err, HDB_NOMEM, "out of memory listing indexes");
    }
  }
  duckdb_destroy_result(&r);
  if (st == HDB_OK) {
    *infos = out;
    *count = n;
  }
  return st;
}

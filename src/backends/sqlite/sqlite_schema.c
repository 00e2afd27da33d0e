/*
 * sqlite_schema.c - the catalog of the sqlite:// backend and table DDL:
 * create, drop, list, schema, plus the per-connection schema cache.
 *
 * The catalog (_hanzo_tables) keeps each table's schema as the CLI's
 * schema JSON, so hdb_table_schema returns exactly the schema created
 * (vector dimension and metric included), which SQLite's own column types
 * could not tell. A table and its catalog row are created and dropped in
 * one SQL transaction (sqlite.h, invariant 1).
 *
 * The cache maps table names to parsed schemas for one value of PRAGMA
 * schema_version: every CREATE/DROP (ours or another connection's) bumps
 * it, so a stale entry is never used; a rollback can bring an old value
 * back, so transaction ends other than commit flush it (invariant 4).
 */
#include <stdio.h>
#include <strings.h>
#include <string.h>

#include "sqlite.h"

#include "core/alloc.h"
#include "core/err.h"

hdb_status hdb__sq_catalog_init(hdb__sq_conn *c, hdb_error *err) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(c->db, "SELECT value FROM _hanzo_meta WHERE key = 'format'", -1, &st, NULL);
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
      const char *v = (const char *)sqlite3_column_text(st, 0);
      int ok = v && strcmp(v, HDB__SQ_FORMAT) == 0;
      char seen[32];
      snprintf(seen, sizeof seen, "%s", v ? v : "(null)");
      sqlite3_finalize(st);
      if (!ok)
        return hdb__fail(err, HDB_CORRUPT,
                         "sqlite://%s: hanzo-db catalog format '%s' is not the supported '%s'",
                         c->path, seen, HDB__SQ_FORMAT);
      return HDB_OK;
    }
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ERROR) /* ERROR: no such table yet */
    return hdb__sq_fail(c, rc, err, "sqlite://%s: reading the catalog", c->path);
  if (c->read_only) return HDB_OK; /* an empty database read-only: no tables */
  static const char *const ddl =
      "CREATE TABLE IF NOT EXISTS _hanzo_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
      "INSERT OR IGNORE INTO _hanzo_meta VALUES('format', '" HDB__SQ_FORMAT "');"
      "CREATE TABLE IF NOT EXISTS _hanzo_tables(name TEXT PRIMARY KEY, schema TEXT, "
      "schemaless INTEGER NOT NULL);"
      "CREATE TABLE IF NOT EXISTS _hanzo_indexes(tbl TEXT NOT NULL, col TEXT NOT NULL, "
      "type TEXT NOT NULL, params TEXT NOT NULL, PRIMARY KEY(tbl, col));"
      "CREATE TABLE IF NOT EXISTS _hanzo_kv(ns TEXT NOT NULL, key BLOB NOT NULL, "
      "value BLOB NOT NULL, PRIMARY KEY(ns, key)) WITHOUT ROWID;";
  hdb_status s = hdb__sq_write_begin(c, err);
  if (s != HDB_OK) return s;
  s = hdb__sq_exec(c, ddl, err);
  if (s != HDB_OK && err) hdb__err_prefix(err, "sqlite://%s: creating the catalog", c->path);
  return hdb__sq_write_end(c, s, err);
}

/* ------------------------------------------------------------------ */
/* Schema cache                                                        */
/* ------------------------------------------------------------------ */

void hdb__sq_tables_flush(hdb__sq_conn *c) {
  for (size_t i = 0; i < c->n_tables; i++) {
    hdb__free_mem(c->tables[i].name);
    hdb_schema_free(c->tables[i].schema);
  }
  hdb__free_mem(c->tables);
  c->tables = NULL;
  c->n_tables = 0;
  c->schema_version = -1;
}

static hdb_status schema_version(hdb__sq_conn *c, int *out, hdb_error *err) {
  sqlite3_stmt *st;
  hdb_status s = hdb__sq_prepare(c, "PRAGMA schema_version", &st, err);
  if (s != HDB_OK) return s;
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) *out = sqlite3_column_int(st, 0);
  else s = hdb__sq_fail(c, rc, err, "reading the schema version");
  hdb__sq_done(c, st);
  return s;
}

hdb_status hdb__sq_table_get(hdb__sq_conn *c, const char *name, const hdb__sq_table **out,
                             hdb_error *err) {
  *out = NULL;
  int ver = 0;
  hdb_status s = schema_version(c, &ver, err);
  if (s != HDB_OK) return s;
  if (ver != c->schema_version) {
    hdb__sq_tables_flush(c);
    c->schema_version = ver;
  }
  for (size_t i = 0; i < c->n_tables; i++) {
    if (strcmp(c->tables[i].name, name) == 0) {
      *out = &c->tables[i];
      return HDB_OK;
    }
  }
  sqlite3_stmt *st;
  s = hdb__sq_prepare(c, "SELECT schema, schemaless FROM _hanzo_tables WHERE name = ?", &st, err);
  if (s != HDB_OK) return s;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  hdb_schema *schema = NULL;
  if (rc == SQLITE_DONE) {
    s = hdb__fail(err, HDB_NO_TABLE, "no table '%s'", name);
  } else if (rc != SQLITE_ROW) {
    s = hdb__sq_fail(c, rc, err, "looking up table '%s'", name);
  } else if (!sqlite3_column_int(st, 1)) {
    const char *json = (const char *)sqlite3_column_text(st, 0);
    hdb_error e2;
    s = hdb_schema_from_json(json ? json : "", &schema, &e2);
    if (s == HDB_NOMEM) s = hdb__fail(err, s, "out of memory loading the schema of '%s'", name);
    else if (s != HDB_OK)
      s = hdb__fail(err, HDB_CORRUPT, "the catalog's schema of table '%s' is malformed: %s", name,
                    e2.message);
  }
  hdb__sq_done(c, st);
  if (s != HDB_OK) return s;
  hdb__sq_table *nt = hdb__realloc(c->tables, (c->n_tables + 1) * sizeof *nt);
  char *copy = hdb__strdup(name);
  if (!nt || !copy) {
    if (nt) c->tables = nt;
    hdb__free_mem(copy);
    hdb_schema_free(schema);
    return hdb__fail(err, HDB_NOMEM, "out of memory loading table '%s'", name);
  }
  c->tables = nt;
  nt[c->n_tables].name = copy;
  nt[c->n_tables].schema = schema;
  *out = &nt[c->n_tables++];
  return HDB_OK;
}

hdb_status hdb__sq_check_field(const hdb__sq_table *t, const char *field, int allow_path,
                               int allow_id, const char *what, hdb_error *err) {
  if (!field || !*field)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "table '%s': %s has no field name", t->name, what);
  if (strcmp(field, "id") == 0) {
    if (allow_id) return HDB_OK;
    return hdb__fail(err, HDB_NO_FIELD, "table '%s': %s: the record id is not a column", t->name, what);
  }
  if (!t->schema) return HDB_OK;
  if (hdb__schema_column(t->schema, field)) return HDB_OK;
  const char *dot = strchr(field, '.');
  if (dot && allow_path) {
    size_t len = (size_t)(dot - field);
    char head[HDB_MAX_NAME_LEN + 1];
    if (len == 0 || len > HDB_MAX_NAME_LEN)
      return hdb__fail(err, HDB_NO_FIELD, "table '%s' has no column '%.*s' (%s '%s')", t->name,
                       (int)len, field, what, field);
    memcpy(head, field, len);
    head[len] = 0;
    const hdb__column *col = hdb__schema_column(t->schema, head);
    if (!col)
      return hdb__fail(err, HDB_NO_FIELD, "table '%s' has no column '%s' (%s '%s')", t->name, head,
                       what, field);
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
/* DDL                                                                 */
/* ------------------------------------------------------------------ */

/* 1 when the catalog lists the table; -1 on error (err filled). */
static int catalog_has(hdb__sq_conn *c, const char *table, hdb_error *err) {
  sqlite3_stmt *st;
  if (hdb__sq_prepare(c, "SELECT 1 FROM _hanzo_tables WHERE name = ?", &st, err) != HDB_OK) return -1;
  sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  int r = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
  if (r < 0) hdb__sq_fail(c, rc, err, "looking up table '%s'", table);
  hdb__sq_done(c, st);
  return r;
}

hdb_status hdb__sq_table_create(void *conn, const char *table, const hdb_schema *schema,
                                unsigned flags, hdb_error *err) {
  hdb__sq_conn *c = conn;
  if (strncmp(table, "sqlite_", 7) == 0)
    return hdb__fail(err, HDB_INVALID_ARGUMENT,
                     "table name '%s': names starting with 'sqlite_' are reserved by SQLite", table);
  hdb__sql_buf b = {0};
  char *sjson = NULL;
  hdb_status s = hdb__sq_write_begin(c, err);
  if (s != HDB_OK) return s;
  int has = catalog_has(c, table, err);
  if (has < 0) {
    s = err ? err->code : HDB_ERROR;
    goto done;
  }
  if (has) {
    if (!(flags & HDB_IF_NOT_EXISTS)) s = hdb__fail(err, HDB_EXISTS, "table '%s' already exists", table);
    goto done;
  }
  hdb__sql_buf_append(&b, "CREATE TABLE ");
  hdb__sql_buf_name(&b, HDB__SQL_SQLITE, table);
  hdb__sql_buf_append(&b, "(\"id\" TEXT PRIMARY KEY NOT NULL");
  if (schema) {
    for (size_t i = 0; i < schema->n; i++) {
      hdb__sql_buf_append(&b, ", ");
      hdb__sql_buf_name(&b, HDB__SQL_SQLITE, schema->cols[i].name);
      hdb__sql_buf_appendf(&b, " %s",
                           hdb__sql_column_type(HDB__SQL_SQLITE, schema->cols[i].type, schema->cols[i].dim));
    }
  } else {
    hdb__sql_buf_append(&b, ", \"" HDB__SQ_DOC "\" TEXT NOT NULL");
  }
  hdb__sql_buf_append(&b, ")");
  s = hdb__sql_buf_status(&b, err);
  if (s != HDB_OK) goto done;
  int rc = sqlite3_exec(c->db, b.s, NULL, NULL, NULL);
  if (rc != SQLITE_OK) {
    if (rc == SQLITE_ERROR && strstr(sqlite3_errmsg(c->db), "already exists"))
      s = hdb__fail(err, HDB_EXISTS,
                    "table '%s' already exists in the SQLite database but is not a hanzo-db table", table);
    else
      s = hdb__sq_fail(c, rc, err, "creating table '%s'", table);
    goto done;
  }
  if (schema) {
    s = hdb_schema_to_json(schema, &sjson);
    if (s != HDB_OK) {
      s = hdb__fail(err, s, "out of memory creating table '%s'", table);
      goto done;
    }
  }
  sqlite3_stmt *st;
  s = hdb__sq_prepare(c, "INSERT INTO _hanzo_tables(name, schema, schemaless) VALUES(?, ?, ?)", &st, err);
  if (s != HDB_OK) goto done;
  sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
  if (sjson) sqlite3_bind_text(st, 2, sjson, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 3, schema ? 0 : 1);
  rc = sqlite3_step(st);
  if (rc != SQLITE_DONE) s = hdb__sq_fail(c, rc, err, "recording table '%s' in the catalog", table);
  hdb__sq_done(c, st);
done:
  hdb__free_mem(sjson);
  hdb__sql_buf_free(&b);
  return hdb__sq_write_end(c, s, err);
}

hdb_status hdb__sq_table_drop(void *conn, const char *table, unsigned flags, hdb_error *err) {
  hdb__sq_conn *c = conn;
  hdb__sql_buf b = {0};
  hdb_status s = hdb__sq_write_begin(c, err);
  if (s != HDB_OK) return s;
  int has = catalog_has(c, table, err);
  if (has <= 0) {
    if (has < 0) s = err ? err->code : HDB_ERROR;
    else if (!(flags & HDB_IF_EXISTS)) s = hdb__fail(err, HDB_NO_TABLE, "no table '%s'", table);
    goto done;
  }
  hdb__sql_buf_append(&b, "DROP TABLE IF EXISTS ");
  hdb__sql_buf_name(&b, HDB__SQL_SQLITE, table);
  s = hdb__sql_buf_status(&b, err);
  if (s == HDB_OK) s = hdb__sq_exec(c, b.s, err);
  for (int k = 0; k < 2 && s == HDB_OK; k++) {
    sqlite3_stmt *st;
    s = hdb__sq_prepare(c, k ? "DELETE FROM _hanzo_indexes WHERE tbl = ?" : "DELETE FROM _hanzo_tables WHERE name = ?",
                        &st, err);
    if (s != HDB_OK) break;
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) s = hdb__sq_fail(c, rc, err, "dropping table '%s'", table);
    hdb__sq_done(c, st);
  }
done:
  hdb__sql_buf_free(&b);
  return hdb__sq_write_end(c, s, err);
}

hdb_status hdb__sq_table_list(void *conn, char ***names, size_t *count, hdb_error *err) {
  hdb__sq_conn *c = conn;
  *names = NULL;
  *count = 0;
  sqlite3_stmt *st;
  /* BINARY collation: ascending byte order, as the API promises. */
  hdb_status s = hdb__sq_prepare(c, "SELECT name FROM _hanzo_tables ORDER BY name", &st, err);
  if (s != HDB_OK) return s;
  char **out = NULL;
  size_t n = 0, cap = 0;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (n == cap) {
      cap = cap ? 2 * cap : 16;
      char **p = hdb__realloc(out, cap * sizeof *p);
      if (!p) goto nomem;
      out = p;
    }
    out[n] = hdb__strdup((const char *)sqlite3_column_text(st, 0));
    if (!out[n]) goto nomem;
    n++;
  }
  hdb__sq_done(c, st);
  if (rc != SQLITE_DONE) {
    hdb_strings_free(out, n);
    return hdb__sq_fail(c, rc, err, "listing tables");
  }
  *names = out;
  *count = n;
  return HDB_OK;
nomem:
  hdb__sq_done(c, st);
  hdb_strings_free(out, n);
  return hdb__fail(err, HDB_NOMEM, "out of memory listing tables");
}

hdb_status hdb__sq_table_schema(void *conn, const char *table, hdb_schema **schema, hdb_error *err) {
  hdb__sq_conn *c = conn;
  const hdb__sq_table *t;
  *schema = NULL;
  hdb_status s = hdb__sq_table_get(c, table, &t, err);
  if (s != HDB_OK || !t->schema) return s;
  *schema = hdb_schema_clone(t->schema);
  if (!*schema) return hdb__fail(err, HDB_NOMEM, "out of memory copying the schema of '%s'", table);
  return HDB_OK;
}

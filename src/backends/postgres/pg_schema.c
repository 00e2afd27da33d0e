/*
 * pg_schema.c - the hanzo catalog and tables on PostgreSQL: create, drop,
 * list, schema; indexes; the select list and row decoding every read
 * shares.
 *
 * Catalog (created at open under an advisory lock when missing):
 *   _hanzo_tables(name PK, pgname UNIQUE, schema TEXT, format, storage)
 *       schema is hdb_schema_to_json (NULL: schemaless), so table_schema
 *       round-trips exactly (column order, vector dimension and metric);
 *       storage holds one character per schema column, 'v' for a pgvector
 *       vector(dim) column and '-' for the default mapping (pg_codec.c);
 *       NULL (tables from before pgvector support, or catalogs that lack
 *       the column, added by ALTER at the next writable open) means all
 *       default. The storage of a column never changes after create, so
 *       bytea tables keep working with pgvector on, and vector tables
 *       with it off;
 *   _hanzo_indexes(tbl, col, type, params, pgindex, seq)
 *       one row per hanzo index; pgindex names the server index when there
 *       is one (scalar), seq keeps creation order for hdb_index_list;
 *   _hanzo_kv(ns, key, value): see pg_kv.c.
 *
 * Server-side tables:
 *   with a schema: "id" TEXT COLLATE "C" PRIMARY KEY, then one typed
 *       column per schema column (types: pg_codec.c);
 *   schemaless: "id" and "doc" JSON, the record's fields in the shared SQL
 *       layer's document form (hdb__sql_doc_encode), which its filter
 *       translation reads.
 * A hanzo name longer than PostgreSQL's 63-byte identifiers becomes its
 * first 46 bytes + '_' + 16 hex digits of its FNV-1a hash (pgname); the
 * catalog maps between the two. Column names are used as they are, so two
 * columns may not share their first 63 bytes (HDB_NOT_SUPPORTED).
 *
 * Index types: flat (vector columns) is recorded only, search is exact;
 * scalar creates a btree index (json columns: recorded only, PostgreSQL's
 * json type has no btree operator class); fts is HDB_NOT_SUPPORTED.
 * In pgvector mode, on a vector(dim) column of at most 2,000 components:
 *   hnsw    -> CREATE INDEX .. USING hnsw (col <opclass>) WITH (m, ef_construction)
 *   ivf_pq  -> CREATE INDEX .. USING ivfflat (col <opclass>) WITH (lists = nlist):
 *              pgvector has no product quantization, so vectors stay whole;
 *              the params hdb_index_list reports say so ("pgvector":"ivfflat")
 * with the operator class of the column's metric (vector_l2_ops,
 * vector_cosine_ops, vector_ip_ops). Otherwise hnsw / ivf_pq are
 * HDB_NOT_SUPPORTED with the reason (mode off, bytea column, dimension).
 * Option values in CREATE INDEX are integers we range-checked: DDL takes
 * no parameters.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

#include "core/alloc.h"
#include "core/err.h"
#include "core/json.h"
#include "core/record.h"
#include "core/schema.h"

#define PG_NAMEDATALEN 63

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

/* Server-side name of a table (buf >= 64 bytes). */
static void pg_table_name(const char *name, char *buf) {
  size_t n = strlen(name);
  if (n <= PG_NAMEDATALEN) {
    memcpy(buf, name, n + 1);
    return;
  }
  snprintf(buf, 64, "%.46s_%016llx", name, (unsigned long long)fnv1a(name));
}

hdb_status hdb__pg_catalog_init(PGconn *pg, const char *where, hdb_error *err) {
  PGresult *res = hdb__pg_exec(pg,
                               "SELECT to_regclass('_hanzo_tables') IS NOT NULL AND "
                               "to_regclass('_hanzo_indexes') IS NOT NULL AND "
                               "to_regclass('_hanzo_kv') IS NOT NULL AND "
                               "EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = "
                               "to_regclass('_hanzo_tables') AND attname = 'storage' "
                               "AND NOT attisdropped)",
                               NULL);
  hdb_status st = hdb__pg_check(pg, res, PGRES_TUPLES_OK, where, "reading the catalog", err);
  if (st != HDB_OK) return st;
  int have = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 1;
  PQclear(res);
  if (have) return HDB_OK;
  /* CREATE TABLE IF NOT EXISTS races with itself in PostgreSQL; the lock
   * makes concurrent first opens take turns. */
  st = hdb__pg_run(pg, where,
                   "BEGIN; SELECT pg_advisory_xact_lock(7526466940283498345);"
                   "CREATE TABLE IF NOT EXISTS _hanzo_tables ("
                   " name TEXT COLLATE \"C\" PRIMARY KEY,"
                   " pgname TEXT COLLATE \"C\" NOT NULL UNIQUE,"
                   " schema TEXT,"
                   " format INT NOT NULL DEFAULT 1,"
                   " created TIMESTAMPTZ NOT NULL DEFAULT now());"
                   "CREATE TABLE IF NOT EXISTS _hanzo_indexes ("
                   " tbl TEXT COLLATE \"C\" NOT NULL REFERENCES _hanzo_tables(name) ON DELETE CASCADE,"
                   " col TEXT COLLATE \"C\" NOT NULL,"
                   " type TEXT NOT NULL,"
                   " params TEXT NOT NULL,"
                   " pgindex TEXT,"
                   " seq BIGSERIAL,"
                   " PRIMARY KEY (tbl, col));"
                   "CREATE TABLE IF NOT EXISTS _hanzo_kv ("
                   " ns TEXT COLLATE \"C\" NOT NULL,"
                   " key BYTEA NOT NULL,"
                   " value BYTEA NOT NULL,"
                   " PRIMARY KEY (ns, key));"
                   "ALTER TABLE _hanzo_tables ADD COLUMN IF NOT EXISTS storage TEXT;"
                   "COMMIT",
                   NULL, "creating the hanzo catalog", err);
  if (st != HDB_OK && !hdb__pg_broken(pg)) {
    PGresult *r = PQexec(pg, "ROLLBACK");
    PQclear(r);
  }
  return st;
}

void hdb__pg_table_free(hdb__pg_table *t) {
  hdb__free_mem(t->name);
  hdb__free_mem(t->pgname);
  hdb_schema_free(t->schema);
  hdb__free_mem(t->kinds);
  memset(t, 0, sizeof *t);
}

hdb_status hdb__pg_table_load(PGconn *pg, const char *where, const char *table,
                              hdb__pg_table *t, hdb_error *err) {
  memset(t, 0, sizeof *t);
  hdb__pg_params p = {0};
  hdb__pg_param_text(&p, table, strlen(table));
  PGresult *res = p.oom ? NULL
                        /* to_jsonb: reads catalogs without the storage column too
                           (a read-only handle on a catalog from before it) */
                        /* xmin: the stamp (pg.h); the OID of the server table
                           as the queries resolve its name (search_path) */
                        : hdb__pg_exec(pg, "SELECT pgname, schema, to_jsonb(t)->>'storage', "
                                           "t.xmin::text::int8, "
                                           "coalesce(to_regclass(quote_ident(pgname))::oid::int8, 0) "
                                           "FROM _hanzo_tables t WHERE name = $1", &p);
  hdb__pg_params_free(&p);
  hdb_status st = hdb__pg_check(pg, res, PGRES_TUPLES_OK, where, "reading the catalog", err);
  if (st == HDB_NO_TABLE) return hdb__fail(err, HDB_NO_TABLE, "no table '%s' (the hanzo catalog is missing)", table);
  if (st != HDB_OK) return st;
  if (PQntuples(res) != 1) {
    PQclear(res);
    return hdb__fail(err, HDB_NO_TABLE, "no table '%s'", table);
  }
  t->name = hdb__strdup(table);
  t->pgname = hdb__strdup(PQgetvalue(res, 0, 0));
  if (!t->name || !t->pgname) goto nomem;
  for (int f = 3; f <= 4; f++) {
    uint64_t v = 0;
    const unsigned char *x = (const unsigned char *)PQgetvalue(res, 0, f);
    for (int k = 0; k < 8 && PQgetlength(res, 0, f) == 8; k++) v = v << 8 | x[k];
    if (f == 3) t->stamp = (int64_t)v;
    else t->relid = (uint32_t)v;
  }
  if (!PQgetisnull(res, 0, 1)) {
    hdb_error e2;
    st = hdb_schema_from_json(PQgetvalue(res, 0, 1), &t->schema, &e2);
    if (st != HDB_OK) {
      PQclear(res);
      hdb__pg_table_free(t);
      if (st == HDB_NOMEM) return hdb__fail(err, st, "out of memory reading table '%s'", table);
      return hdb__fail(err, HDB_CORRUPT, "table '%s': the catalog's schema does not parse: %s",
                       table, e2.message);
    }
    size_t n = t->schema->n;
    const char *storage = PQgetisnull(res, 0, 2) ? NULL : PQgetvalue(res, 0, 2);
    if (storage && strlen(storage) != n) {
      PQclear(res);
      hdb__pg_table_free(t);
      return hdb__fail(err, HDB_CORRUPT,
                       "table '%s': the catalog's storage '%.64s' does not describe its %zu columns",
                       table, storage, n);
    }
    t->kinds = hdb__calloc(n ? n : 1, sizeof *t->kinds);
    if (!t->kinds) goto nomem;
    for (size_t i = 0; i < n; i++) {
      const char *ddl;
      hdb__pg_column_kind(t->schema->cols[i].type, t->schema->cols[i].dim, &t->kinds[i], &ddl);
      if (storage && storage[i] == 'v' && t->schema->cols[i].type == HDB_TYPE_VECTOR)
        t->kinds[i] = HDB__PGK_VEC_PGV;
    }
  }
  PQclear(res);
  return HDB_OK;
nomem:
  PQclear(res);
  hdb__pg_table_free(t);
  return hdb__fail(err, HDB_NOMEM, "out of memory reading table '%s'", table);
}

hdb_status hdb__pg_check_field(const hdb__pg_table *t, const char *field, int allow_id,
                               int allow_path, const char *what, hdb_error *err) {
  if (strcmp(field, "id") == 0) {
    if (allow_id) return HDB_OK;
    return hdb__fail(err, HDB_NO_FIELD, "table '%s': %s: the record id is not a column", t->name,
                     what);
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

hdb_status hdb__pg_select_list(const hdb__pg_table *t, const char *const *fields, size_t nf,
                               hdb__sql_buf *b, size_t **cols, size_t *ncols, hdb_error *err) {
  *cols = NULL;
  *ncols = 0;
  hdb__sql_buf_append(b, "\"id\"");
  if (!t->schema) {
    hdb__sql_buf_append(b, ", \"doc\"");
    return hdb__sql_buf_status(b, err);
  }
  size_t n = t->schema->n;
  size_t *c = hdb__malloc((n ? n : 1) * sizeof *c);
  if (!c) return hdb__fail(err, HDB_NOMEM, "out of memory reading table '%s'", t->name);
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    const char *name = t->schema->cols[i].name;
    if (fields) {
      int listed = 0;
      for (size_t j = 0; j < nf && !listed; j++) listed = strcmp(fields[j], name) == 0;
      if (!listed) continue;
    }
    hdb__sql_buf_append(b, ", ");
    hdb__sql_buf_ident(b, name);
    c[m++] = i;
  }
  *cols = c;
  *ncols = m;
  return hdb__sql_buf_status(b, err);
}

hdb_status hdb__pg_row_record(const hdb__pg_table *t, const PGresult *res, int row,
                              const size_t *cols, size_t ncols, hdb_record **out,
                              hdb_error *err) {
  *out = NULL;
  const char *id = PQgetvalue(res, row, 0);
  if (!t->schema) {
    hdb_status st = hdb__sql_doc_decode(id, PQgetvalue(res, row, 1), (size_t)PQgetlength(res, row, 1),
                                        out, err);
    if (st == HDB_CORRUPT && err) hdb__err_prefix(err, "table '%s', row '%s'", t->name, id);
    return st;
  }
  hdb_record *rec = hdb_record_new(id);
  if (!rec) return hdb__fail(err, HDB_NOMEM, "out of memory reading table '%s'", t->name);
  for (size_t i = 0; i < ncols; i++) {
    const hdb__column *col = &t->schema->cols[cols[i]];
    if (PQgetisnull(res, row, (int)i + 1)) continue; /* null fields are absent */
    hdb_value v;
    hdb_status st = hdb__pg_decode(res, row, (int)i + 1, col->type, col->dim, &v, err);
    if (st == HDB_OK) {
      st = hdb__record_put_owned(rec, col->name, &v);
      if (st != HDB_OK) hdb__fail(err, st, "out of memory reading table '%s'", t->name);
    }
    if (st != HDB_OK) {
      hdb_record_free(rec);
      if (err && st == HDB_CORRUPT) hdb__err_prefix(err, "table '%s', row '%s'", t->name, id);
      return st;
    }
  }
  *out = rec;
  return HDB_OK;
}

/* ------------------------------------------------------------------ */
/* Tables                                                              */
/* ------------------------------------------------------------------ */

static const char *where_of(const hdb__pg_conn *c) { return hdb__pg_pool_where(c->pool); }

static hdb_status create_in(hdb__pg_conn *c, PGconn *pg, const char *table,
                            const hdb_schema *schema, unsigned flags, hdb_error *err) {
  hdb__pg_params p = {0};
  hdb__sql_buf b = {0};
  char *sjson = NULL, *storage = NULL;
  char pgname[64];
  pg_table_name(table, pgname);
  hdb_status st;

  hdb__pg_param_text(&p, table, strlen(table));
  PGresult *res = p.oom ? NULL : hdb__pg_exec(pg, "SELECT 1 FROM _hanzo_tables WHERE name = $1", &p);
  st = hdb__pg_check(pg, res, PGRES_TUPLES_OK, where_of(c), "reading the catalog", err);
  if (st != HDB_OK) goto done;
  int exists = PQntuples(res) > 0;
  PQclear(res);
  if (exists) {
    if (!(flags & HDB_IF_NOT_EXISTS)) st = hdb__fail(err, HDB_EXISTS, "table '%s' already exists", table);
    goto done;
  }
  if (schema) {
    for (size_t i = 0; i < schema->n; i++) {
      if (strcmp(schema->cols[i].name, "id") == 0) {
        st = hdb__fail(err, HDB_NOT_SUPPORTED,
                       "table '%s': the postgresql backend stores the record id in column "
                       "\"id\"; a field cannot be named id",
                       table);
        goto done;
      }
      for (size_t j = 0; j < i; j++)
        if (strlen(schema->cols[i].name) > PG_NAMEDATALEN &&
            strncmp(schema->cols[i].name, schema->cols[j].name, PG_NAMEDATALEN) == 0) {
          st = hdb__fail(err, HDB_NOT_SUPPORTED,
                         "table '%s': columns '%s' and '%s' share their first %d bytes, which "
                         "is all of a name PostgreSQL keeps",
                         table, schema->cols[j].name, schema->cols[i].name, PG_NAMEDATALEN);
          goto done;
        }
    }
    st = hdb_schema_to_json(schema, &sjson);
    if (st != HDB_OK) {
      st = hdb__fail(err, st, "out of memory creating table '%s'", table);
      goto done;
    }
  }
  hdb__sql_buf_append(&b, "CREATE TABLE ");
  hdb__sql_buf_ident(&b, pgname);
  hdb__sql_buf_append(&b, " (\"id\" TEXT COLLATE \"C\" PRIMARY KEY");
  if (schema) {
    storage = hdb__malloc(schema->n + 1);
    if (!storage) {
      st = hdb__fail(err, HDB_NOMEM, "out of memory creating table '%s'", table);
      goto done;
    }
    for (size_t i = 0; i < schema->n; i++) {
      hdb__pg_kind k;
      const char *ddl;
      const hdb__column *col = &schema->cols[i];
      hdb__pg_column_kind(col->type, col->dim, &k, &ddl);
      hdb__sql_buf_append(&b, ", ");
      hdb__sql_buf_ident(&b, col->name);
      /* pgvector mode: vector(dim) where the type can hold the dimension. */
      int pgv = c->pgvector && col->type == HDB_TYPE_VECTOR && col->dim <= HDB__PG_VECTOR_MAX_DIM;
      storage[i] = pgv ? 'v' : '-';
      if (pgv) hdb__sql_buf_appendf(&b, " vector(%u)", (unsigned)col->dim);
      else hdb__sql_buf_appendf(&b, " %s", ddl);
    }
    storage[schema->n] = '\0';
  } else {
    hdb__sql_buf_append(&b, ", \"doc\" JSON NOT NULL");
  }
  hdb__sql_buf_append(&b, ")");
  if ((st = hdb__sql_buf_status(&b, err)) != HDB_OK) goto done;
  st = hdb__pg_run(pg, where_of(c), b.s, NULL, "creating the table", err);
  if (st == HDB_EXISTS || st == HDB_DUPLICATE_ID) {
    st = hdb__fail(err, HDB_EXISTS,
                   "table '%s': PostgreSQL already has a table \"%s\" that is not in the hanzo "
                   "catalog (or another handle created it just now)",
                   table, pgname);
    goto done;
  }
  if (st != HDB_OK) goto done;
  hdb__pg_param_text(&p, pgname, strlen(pgname));
  if (sjson) hdb__pg_param_text(&p, sjson, strlen(sjson));
  else hdb__pg_param_null(&p);
  /* Tables without a pgvector column record NULL: the default mapping,
   * as for tables from before the storage column. */
  if (storage && strchr(storage, 'v')) hdb__pg_param_text(&p, storage, strlen(storage));
  else hdb__pg_param_null(&p);
  st = hdb__pg_run(pg, where_of(c),
                   "INSERT INTO _hanzo_tables (name, pgname, schema, storage) VALUES ($1, $2, $3, $4)",
                   &p, "recording the table in the catalog", err);
  if (st == HDB_DUPLICATE_ID) st = hdb__fail(err, HDB_EXISTS, "table '%s' already exists", table);
done:
  hdb__pg_params_free(&p);
  hdb__sql_buf_free(&b);
  hdb__free_mem(sjson);
  hdb__free_mem(storage);
  return st;
}

hdb_status hdb__pg_table_create(void *conn, const char *table, const hdb_schema *schema,
                                unsigned flags, hdb_error *err) {
  hdb__pg_conn *c = conn;
  PGconn *pg;
  hdb_status st = hdb__pg_enter(c, &pg, err);
  if (st != HDB_OK) return st;
  st = hdb__pg_atomic_begin(c, pg, NULL, err);
  if (st == HDB_OK) {
    st = create_in(c, pg, table, schema, flags, err);
    st = hdb__pg_atomic_end(c, pg, st, err);
    /* Another handle created it between our check and our insert. */
    if (st == HDB_EXISTS && (flags & HDB_IF_NOT_EXISTS)) st = HDB_OK;
  }
  hdb__pg_tcache_forget(hdb__pg_pool_tcache(c->pool), table);
  return hdb__pg_leave(c, pg, st, err);
}

hdb_status hdb__pg_table_drop(void *conn, const char *table, unsigned flags, hdb_error *err) {
  hdb__pg_conn *c = conn;
  PGconn *pg;
  hdb_status st = hdb__pg_enter(c, &pg, err);
  if (st != HDB_OK) return st;
  hdb__pg_params p = {0};
  hdb__sql_buf b = {0};
  st = hdb__pg_atomic_begin(c, pg, NULL, err);
  if (st != HDB_OK) goto out;
  hdb__pg_param_text(&p, table, strlen(table));
  PGresult *res = p.oom ? NULL
                        : hdb__pg_exec(pg, "SELECT pgname FROM _hanzo_tables WHERE name = $1 FOR UPDATE", &p);
  st = hdb__pg_check(pg, res, PGRES_TUPLES_OK, where_of(c), "reading the catalog", err);
  if (st == HDB_OK) {
    if (PQntuples(res) == 0) {
      if (!(flags & HDB_IF_EXISTS)) st = hdb__fail(err, HDB_NO_TABLE, "no table '%s'", table);
      PQclear(res);
    } else {
      hdb__sql_buf_append(&b, "DROP TABLE IF EXISTS ");
      hdb__sql_buf_ident(&b, PQgetvalue(res, 0, 0));
      PQclear(res);
      st = hdb__sql_buf_status(&b, err);
      if (st == HDB_OK) st = hdb__pg_run(pg, where_of(c), b.s, NULL, "dropping the table", err);
      if (st == HDB_OK)
        st = hdb__pg_run(pg, where_of(c), "DELETE FROM _hanzo_tables WHERE name = $1", &p,
                         "removing the table from the catalog", err);
    }
  }
  st = hdb__pg_atomic_end(c, pg, st, err);
out:
  hdb__pg_params_free(&p);
  hdb__sql_buf_free(&b);
  hdb__pg_tcache_forget(hdb__pg_pool_tcache(c->pool), table);
  return hdb__pg_leave(c, pg, st, err);
}

hdb_status hdb__pg_table_list(void *conn, char ***names, size_t *count, hdb_error *err) {
  hdb__pg_conn *c = conn;
  *names = NULL;
  *count = 0;
  PGconn *pg;
  hdb_status st = hdb__pg_enter(c, &pg, err);
  if (st != HDB_OK) return st;
  PGresult *res = hdb__pg_exec(pg, "SELECT name FROM _hanzo_tables ORDER BY name", NULL);
  st = hdb__pg_check(pg, res, PGRES_TUPLES_OK, where_of(c), "listing tables", err);
  if (st == HDB_OK) {
    size_t n = (size_t)PQntuples(res);
    char **out = n ? hdb__calloc(n, sizeof *out) : NULL;
    if (n && !out) st = hdb__fail(err, HDB_NOMEM, "out of memory listing tables");
    for (size_t i = 0; st == HDB_OK && i < n; i++) {
      out[i] = hdb__strdup(PQgetvalue(res, (int)i, 0));
      if (!out[i]) {
        hdb_strings_free(out, i);
        out = NULL;
        st = hdb__fail(err, HDB_NOMEM, "out of memory listing tables");
      }
    }
    if (st == HDB_OK) {
      *names = out;
      *count = n;
    }
    PQclear(res);
  }
  return hdb__pg_leave(c, pg, st, err);
}

hdb_status hdb__pg_table_schema(void *conn, const char *table, hdb_schema **schema,
                                hdb_error *err) {
  hdb__pg_conn *c = conn;
  *schema = NULL;
  PGconn *pg;
  hdb_status st = hdb__pg_enter(c, &pg, err);
  if (st != HDB_OK) return st;
  hdb__pg_table t;
  st = hdb__pg_table_load(pg, where_of(c), table, &t, err);
  if (st == HDB_OK) {
    *schema = t.schema; /* NULL for a schemaless table */
    t.schema = NULL;
    hdb__pg_table_free(&t);
  }
  return hdb__pg_leave(c, pg, st, err);
}

/* ------------------------------------------------------------------ */
/* Indexes                                                             */
/* ------------------------------------------------------------------ */

static const char *index_type_name(hdb_index_type t) { return hdb_index_type_name(t); }

static hdb_status resolve_index_type(const hdb__pg_conn *c, const hdb__pg_table *t,
                                     const hdb__column *col, hdb_index_type type,
                                     hdb_index_type *out, hdb_error *err) {
  int is_vec = col->type == HDB_TYPE_VECTOR;
  switch (type) {
  case HDB_INDEX_AUTO:
    if (col->type == HDB_TYPE_BLOB)
      return hdb__fail(err, HDB_NOT_SUPPORTED,
                       "column '%s' of table '%s' is blob; the postgresql backend has no index "
                       "for blob columns",
                       col->name, t->name);
    *out = is_vec ? HDB_INDEX_FLAT : HDB_INDEX_SCALAR;
    return HDB_OK;
  case HDB_INDEX_FLAT:
    if (!is_vec)
      return hdb__fail(err, HDB_NOT_SUPPORTED,
                       "a flat index needs a vector column; column '%s' of table '%s' is %s",
                       col->name, t->name, hdb_type_name(col->type));
    *out = type;
    return HDB_OK;
  case HDB_INDEX_SCALAR:
    if (is_vec || col->type == HDB_TYPE_BLOB)
      return hdb__fail(err, HDB_NOT_SUPPORTED,
                       "a scalar index cannot cover %s column '%s' of table '%s'",
                       hdb_type_name(col->type), col->name, t->name);
    *out = type;
    return HDB_OK;
  case HDB_INDEX_HNSW:
  case HDB_INDEX_IVF_PQ:
    if (!c->pgvector)
      return hdb__fail(err, HDB_NOT_SUPPORTED,
                       "the postgresql backend has no %s index here (column '%s' of table '%s'): "
                       "approximate indexes need the pgvector extension (URL pgvector=auto|on), "
                       "and this handle runs without it; search is exact",
                       index_type_name(type), col->name, t->name);
    if (!is_vec)
      return hdb__fail(err, HDB_NOT_SUPPORTED,
                       "a %s index needs a vector column; column '%s' of table '%s' is %s",
                       index_type_name(type), col->name, t->name, hdb_type_name(col->type));
    if (col->dim > HDB__PG_VECTOR_INDEX_MAX_DIM)
      return hdb__fail(err, HDB_NOT_SUPPORTED,
                       "column '%s' of table '%s' has %u dimensions; pgvector's %s indexes take "
                       "at most %u (search stays exact)",
                       col->name, t->name, (unsigned)col->dim,
                       type == HDB_INDEX_HNSW ? "hnsw" : "ivfflat",
                       (unsigned)HDB__PG_VECTOR_INDEX_MAX_DIM);
    if (t->kinds[col - t->schema->cols] != HDB__PGK_VEC_PGV)
      return hdb__fail(err, HDB_NOT_SUPPORTED,
                       "column '%s' of table '%s' is stored as bytea (the table was created "
                       "without pgvector), which pgvector cannot index; recreate the table with "
                       "pgvector on to index it (search stays exact)",
                       col->name, t->name);
    *out = type;
    return HDB_OK;
  case HDB_INDEX_FTS:
    return hdb__fail(err, HDB_NOT_SUPPORTED,
                     "the postgresql backend has no full-text index (column '%s' of table '%s')",
                     col->name, t->name);
  }
  return hdb__fail(err, HDB_INVALID_ARGUMENT, "unknown index type %d", (int)type);
}

const char *hdb__pg_vector_op(hdb_metric m) {
  switch (m) {
  case HDB_METRIC_COSINE: return "<=>";
  case HDB_METRIC_DOT: return "<#>";
  default: return "<->";
  }
}

static const char *vector_opclass(hdb_metric m) {
  switch (m) {
  case HDB_METRIC_COSINE: return "vector_cosine_ops";
  case HDB_METRIC_DOT: return "vector_ip_ops";
  default: return "vector_l2_ops";
  }
}

/* An integer parameter of an index: *out keeps its default when absent;
 * HDB_INVALID_ARGUMENT when not an integer in [lo, hi]. */
static hdb_status index_int_param(const cJSON *obj, const char *key, int lo, int hi, int *out,
                                  const char *table, const char *column, hdb_error *err) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v || cJSON_IsNull(v)) return HDB_OK;
  double d = cJSON_IsNumber(v) ? v->valuedouble : -1e300;
  if (!cJSON_IsNumber(v) || d != (double)(long)d || d < lo || d > hi)
    return hdb__fail(err, HDB_INVALID_ARGUMENT,
                     "index params for column '%s' of table '%s': \"%s\" must be an integer "
                     "from %d to %d (pgvector's range)",
                     column, table, key, lo, hi);
  *out = (int)d;
  return HDB_OK;
}

/* Builds the pgvector index ixname (hnsw or ivfflat) and the params JSON
 * that hdb_index_list reports (*pout, owned). */
static hdb_status pgvector_index(hdb__pg_conn *c, PGconn *pg, const hdb__pg_table *t,
                                 const hdb__column *col, hdb_index_type type, const char *ptext,
                                 const char *ixname, char **pout, hdb_error *err) {
  cJSON *obj = NULL;
  hdb__sql_buf b = {0};
  hdb_status st = HDB_OK;
  *pout = NULL;
  if (ptext && (st = hdb__json_parse(ptext, strlen(ptext), &obj, err)) != HDB_OK) return st;
  hdb_metric metric = col->metric == HDB_METRIC_DEFAULT ? HDB_METRIC_L2 : col->metric;
  const char *opclass = vector_opclass(metric);
  char params[256];
  hdb__sql_buf_append(&b, "CREATE INDEX ");
  hdb__sql_buf_ident(&b, ixname);
  hdb__sql_buf_append(&b, " ON ");
  hdb__sql_buf_ident(&b, t->pgname);
  if (type == HDB_INDEX_HNSW) {
    int m = 16, efc = 64; /* pgvector's defaults */
    if ((st = index_int_param(obj, "m", 2, 100, &m, t->name, col->name, err)) != HDB_OK) goto done;
    if ((st = index_int_param(obj, "ef_construction", 4, 1000, &efc, t->name, col->name, err)) != HDB_OK)
      goto done;
    if (efc < 2 * m) {
      st = hdb__fail(err, HDB_INVALID_ARGUMENT,
                     "index params for column '%s' of table '%s': ef_construction (%d) must be "
                     "at least 2 * m (%d) for pgvector's hnsw",
                     col->name, t->name, efc, 2 * m);
      goto done;
    }
    hdb__sql_buf_append(&b, " USING hnsw (");
    hdb__sql_buf_ident(&b, col->name);
    hdb__sql_buf_appendf(&b, " %s) WITH (m = %d, ef_construction = %d)", opclass, m, efc);
    snprintf(params, sizeof params,
             "{\"m\":%d,\"ef_construction\":%d,\"pgvector\":\"hnsw\",\"opclass\":\"%s\"}", m,
             efc, opclass);
  } else {
    /* pgvector's advice: rows / 1000 lists up to 1M rows, sqrt(rows) above. */
    PGresult *res;
    hdb__sql_buf cb = {0};
    hdb__sql_buf_append(&cb, "SELECT count(*)::float8 FROM ");
    hdb__sql_buf_ident(&cb, t->pgname);
    if ((st = hdb__sql_buf_status(&cb, err)) != HDB_OK) {
      hdb__sql_buf_free(&cb);
      goto done;
    }
    res = PQexecParams(pg, cb.s, 0, NULL, NULL, NULL, NULL, 0);
    hdb__sql_buf_free(&cb);
    st = hdb__pg_check(pg, res, PGRES_TUPLES_OK, where_of(c), "counting rows for ivfflat", err);
    if (st != HDB_OK) goto done;
    double rows = atof(PQgetvalue(res, 0, 0));
    PQclear(res);
    double want = rows <= 1e6 ? rows / 1000 : sqrt(rows);
    int lists = want < 1 ? 1 : want > 32768 ? 32768 : (int)want;
    if ((st = index_int_param(obj, "nlist", 1, 32768, &lists, t->name, col->name, err)) != HDB_OK)
      goto done;
    hdb__sql_buf_append(&b, " USING ivfflat (");
    hdb__sql_buf_ident(&b, col->name);
    hdb__sql_buf_appendf(&b, " %s) WITH (lists = %d)", opclass, lists);
    snprintf(params, sizeof params,
             "{\"nlist\":%d,\"pgvector\":\"ivfflat\",\"opclass\":\"%s\",\"pq\":false}",
             lists, opclass);
  }
  if ((st = hdb__sql_buf_status(&b, err)) != HDB_OK) goto done;
  if ((st = hdb__pg_run(pg, where_of(c), b.s, NULL, "creating the pgvector index", err)) != HDB_OK)
    goto done;
  *pout = hdb__strdup(params);
  if (!*pout) st = hdb__fail(err, HDB_NOMEM, "out of memory creating an index");
done:
  cJSON_Delete(obj);
  hdb__sql_buf_free(&b);
  return st;
}

/* Gives the table's catalog row a new xmin, in the transaction of the
 * DDL that calls it: the stamp every cached copy of the table's metadata
 * is checked against (pg_cache.c), so other pools and processes see an
 * index come or go at their next search. */
static hdb_status touch_table(hdb__pg_conn *c, PGconn *pg, const char *table, hdb_error *err) {
  hdb__pg_params p = {0};
  hdb__pg_param_text(&p, table, strlen(table));
  hdb_status st = hdb__pg_run(pg, where_of(c), "UPDATE _hanzo_tables SET format = format WHERE name = $1",
                              &p, "recording the index change in the catalog", err);
  hdb__pg_params_free(&p);
  return st;
}

static hdb_status index_create_in(hdb__pg_conn *c, PGconn *pg, const char *table,
                                  const char *column, hdb_index_type type, const char *params,
                                  hdb_error *err) {
  hdb__pg_table t;
  hdb_status st = hdb__pg_table_load(pg, where_of(c), table, &t, err);
  if (st != HDB_OK) return st;
  hdb__pg_params p = {0};
  hdb__sql_buf b = {0};
  char *ptext = NULL;
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
  if ((st = resolve_index_type(c, &t, col, type, &resolved, err)) != HDB_OK) goto done;
  hdb__pg_param_text(&p, table, strlen(table));
  hdb__pg_param_text(&p, column, strlen(column));
  PGresult *res = p.oom ? NULL
                        : hdb__pg_exec(pg, "SELECT type FROM _hanzo_indexes WHERE tbl = $1 AND col = $2", &p);
  st = hdb__pg_check(pg, res, PGRES_TUPLES_OK, where_of(c), "reading the index catalog", err);
  if (st != HDB_OK) goto done;
  if (PQntuples(res)) {
    st = hdb__fail(err, HDB_EXISTS, "column '%s' of table '%s' already has a %s index", column,
                   table, PQgetvalue(res, 0, 0));
    PQclear(res);
    goto done;
  }
  PQclear(res);
  if (params) {
    st = hdb__json_normalize(params, strlen(params), &ptext, NULL, err);
    if (st != HDB_OK) {
      if (err) hdb__err_prefix(err, "index params for column '%s' of table '%s'", column, table);
      goto done;
    }
    if (ptext[0] != '{') {
      st = hdb__fail(err, HDB_BAD_JSON, "index params for column '%s' of table '%s' must be a JSON object",
                     column, table);
      goto done;
    }
  }
  char ixname[64] = "";
  char key[2 * HDB_MAX_NAME_LEN + 2];
  snprintf(key, sizeof key, "%s.%s", table, column);
  if (resolved == HDB_INDEX_HNSW || resolved == HDB_INDEX_IVF_PQ) {
    snprintf(ixname, sizeof ixname, "hdbx_%016llx", (unsigned long long)fnv1a(key));
    char *inforce = NULL;
    if ((st = pgvector_index(c, pg, &t, col, resolved, ptext, ixname, &inforce, err)) != HDB_OK)
      goto done;
    hdb__free_mem(ptext);
    ptext = inforce;
  } else if (resolved == HDB_INDEX_SCALAR && col->type != HDB_TYPE_JSON) {
    snprintf(ixname, sizeof ixname, "hdbx_%016llx", (unsigned long long)fnv1a(key));
    hdb__sql_buf_append(&b, "CREATE INDEX ");
    hdb__sql_buf_ident(&b, ixname);
    hdb__sql_buf_append(&b, " ON ");
    hdb__sql_buf_ident(&b, t.pgname);
    hdb__sql_buf_append(&b, " (");
    hdb__sql_buf_ident(&b, column);
    hdb__sql_buf_append(&b, ")");
    if ((st = hdb__sql_buf_status(&b, err)) != HDB_OK) goto done;
    if ((st = hdb__pg_run(pg, where_of(c), b.s, NULL, "creating the index", err)) != HDB_OK) goto done;
  }
  const char *tn = index_type_name(resolved);
  hdb__pg_param_text(&p, tn, strlen(tn));
  const char *pt = ptext ? ptext : "{}";
  hdb__pg_param_text(&p, pt, strlen(pt));
  if (ixname[0]) hdb__pg_param_text(&p, ixname, strlen(ixname));
  else hdb__pg_param_null(&p);
  st = hdb__pg_run(pg, where_of(c),
                   "INSERT INTO _hanzo_indexes (tbl, col, type, params, pgindex) VALUES ($1, $2, $3, $4, $5)",
                   &p, "recording the index", err);
  if (st == HDB_DUPLICATE_ID)
    st = hdb__fail(err, HDB_EXISTS, "column '%s' of table '%s' already has an index", column, table);
  if (st == HDB_OK) st = touch_table(c, pg, table, err);
done:
  hdb__pg_params_free(&p);
  hdb__sql_buf_free(&b);
  hdb__free_mem(ptext);
  hdb__pg_table_free(&t);
  return st;
}

hdb_status hdb__pg_index_create(void *conn, const char *table, const char *column,
                                hdb_index_type type, const char *params, hdb_error *err) {
  hdb__pg_conn *c = conn;
  PGconn *pg;
  hdb_status st = hdb__pg_enter(c, &pg, err);
  if (st != HDB_OK) return st;
  st = hdb__pg_atomic_begin(c, pg, NULL, err);
  if (st == HDB_OK) {
    st = index_create_in(c, pg, table, column, type, params, err);
    st = hdb__pg_atomic_end(c, pg, st, err);
  }
  hdb__pg_tcache_forget(hdb__pg_pool_tcache(c->pool), table);
  return hdb__pg_leave(c, pg, st, err);
}

hdb_status hdb__pg_index_drop(void *conn, const char *table, const char *column, hdb_error *err) {
  hdb__pg_conn *c = conn;
  PGconn *pg;
  hdb_status st = hdb__pg_enter(c, &pg, err);
  if (st != HDB_OK) return st;
  hdb__pg_params p = {0};
  hdb__sql_buf b = {0};
  hdb__pg_table t;
  memset(&t, 0, sizeof t);
  st = hdb__pg_atomic_begin(c, pg, NULL, err);
  if (st != HDB_OK) goto out;
  st = hdb__pg_table_load(pg, where_of(c), table, &t, err);
  if (st == HDB_OK) {
    hdb__pg_param_text(&p, table, strlen(table));
    hdb__pg_param_text(&p, column, strlen(column));
    PGresult *res = p.oom ? NULL
                          : hdb__pg_exec(pg, "DELETE FROM _hanzo_indexes WHERE tbl = $1 AND col = $2 "
                                             "RETURNING pgindex", &p);
    st = hdb__pg_check(pg, res, PGRES_TUPLES_OK, where_of(c), "removing the index", err);
    if (st == HDB_OK) {
      if (PQntuples(res) == 0) {
        st = hdb__fail(err, HDB_NO_INDEX, "column '%s' of table '%s' has no index", column, table);
      } else if (!PQgetisnull(res, 0, 0)) {
        hdb__sql_buf_append(&b, "DROP INDEX IF EXISTS ");
        hdb__sql_buf_ident(&b, PQgetvalue(res, 0, 0));
        st = hdb__sql_buf_status(&b, err);
        if (st == HDB_OK) st = hdb__pg_run(pg, where_of(c), b.s, NULL, "dropping the index", err);
      }
      PQclear(res);
      if (st == HDB_OK) st = touch_table(c, pg, table, err);
    }
  }
  st = hdb__pg_atomic_end(c, pg, st, err);
out:
  hdb__pg_table_free(&t);
  hdb__pg_params_free(&p);
  hdb__sql_buf_free(&b);
  hdb__pg_tcache_forget(hdb__pg_pool_tcache(c->pool), table);
  return hdb__pg_leave(c, pg, st, err);
}

hdb_status hdb__pg_index_list(void *conn, const char *table, hdb_index_info **infos,
                              size_t *count, hdb_error *err) {
  hdb__pg_conn *c = conn;
  *infos = NULL;
  *count = 0;
  PGconn *pg;
  hdb_status st = hdb__pg_enter(c, &pg, err);
  if (st != HDB_OK) return st;
  hdb__pg_params p = {0};
  hdb__sql_buf b = {0};
  hdb__pg_table t;
  hdb_index_info *out = NULL;
  size_t n = 0;
  PGresult *res = NULL;
  st = hdb__pg_table_load(pg, where_of(c), table, &t, err);
  if (st != HDB_OK) goto out;
  hdb__pg_param_text(&p, table, strlen(table));
  hdb__sql_buf_append(&b, "SELECT col, type, params, (SELECT count(*) FROM ");
  hdb__sql_buf_ident(&b, t.pgname);
  hdb__sql_buf_append(&b, ") FROM _hanzo_indexes WHERE tbl = $1 ORDER BY seq");
  if ((st = hdb__sql_buf_status(&b, err)) != HDB_OK) goto out;
  res = p.oom ? NULL : hdb__pg_exec(pg, b.s, &p);
  st = hdb__pg_check(pg, res, PGRES_TUPLES_OK, where_of(c), "listing indexes", err);
  if (st != HDB_OK) {
    res = NULL;
    goto out;
  }
  n = (size_t)PQntuples(res);
  if (n) {
    out = hdb__calloc(n, sizeof *out);
    if (!out) goto nomem;
  }
  for (size_t i = 0; i < n; i++) {
    out[i].column = hdb__strdup(PQgetvalue(res, (int)i, 0));
    out[i].params = hdb__strdup(PQgetvalue(res, (int)i, 2));
    if (!out[i].column || !out[i].params) goto nomem;
    if (hdb_index_type_from_name(PQgetvalue(res, (int)i, 1), &out[i].type) != HDB_OK)
      out[i].type = HDB_INDEX_AUTO;
    const unsigned char *cnt = (const unsigned char *)PQgetvalue(res, (int)i, 3);
    uint64_t v = 0;
    for (int k = 0; k < 8 && PQgetlength(res, (int)i, 3) == 8; k++) v = v << 8 | cnt[k];
    out[i].rows_indexed = v;
    out[i].rows_unindexed = 0;
  }
  *infos = out;
  *count = n;
  out = NULL;
  goto out;
nomem:
  st = hdb__fail(err, HDB_NOMEM, "out of memory listing indexes of '%s'", table);
out:
  hdb_index_info_free(out, n);
  PQclear(res);
  hdb__pg_table_free(&t);
  hdb__pg_params_free(&p);
  hdb__sql_buf_free(&b);
  return hdb__pg_leave(c, pg, st, err);
}

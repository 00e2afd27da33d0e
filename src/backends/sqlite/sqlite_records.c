/*
 * sqlite_records.c - rows of the sqlite:// backend: the row <-> record
 * mapping, and insert/upsert, get, update, delete.
 *
 * Mapping (typed tables): bool INTEGER 0/1, int INTEGER, float REAL, text
 * TEXT, blob BLOB, timestamp INTEGER microseconds, json TEXT (the
 * normalized JSON text), vector BLOB of little-endian float32. A null
 * field is SQL NULL and reads back absent. Schemaless tables store the
 * document of hdb__sql_doc_encode in "doc".
 *
 * Every write runs in hdb__sq_write_begin/_end (all-or-nothing). A record
 * that already holds its columns' types (hdb__sql_record_conforms, the
 * common case) is bound as it is; any other is conformed on a clone
 * (hdb__schema_conform), so the caller's records stay untouched and a bad
 * record is reported before SQLite sees it. Upsert is INSERT ... ON CONFLICT("id") DO UPDATE, which keeps
 * the row's rowid, i.e. its place in the unsorted order. Update and delete
 * with a filter run as one UPDATE/DELETE ... WHERE when the filter
 * translates (typed tables); otherwise the matching ids are collected with
 * core's evaluator and the rows changed one by one.
 */
#include <string.h>

#include "sqlite.h"

#include "core/alloc.h"
#include "core/err.h"
#include "core/filter.h"
#include "core/value.h"

void hdb__sq_select_list(hdb__sql_buf *b, const hdb__sq_table *t) {
  hdb__sql_buf_append(b, "\"id\"");
  if (!t->schema) {
    hdb__sql_buf_append(b, ", \"" HDB__SQ_DOC "\"");
    return;
  }
  for (size_t i = 0; i < t->schema->n; i++) {
    hdb__sql_buf_append(b, ", ");
    hdb__sql_buf_name(b, HDB__SQL_SQLITE, t->schema->cols[i].name);
  }
}

/* The value of column i of the current row as a column of type col. */
static hdb_status column_value(const hdb__column *col, sqlite3_stmt *st, int i, hdb_value *v) {
  memset(v, 0, sizeof *v);
  v->type = HDB_TYPE_NULL;
  if (sqlite3_column_type(st, i) == SQLITE_NULL) return HDB_OK;
  switch (col->type) {
  case HDB_TYPE_BOOL:
    v->type = HDB_TYPE_BOOL;
    v->as.boolean = sqlite3_column_int64(st, i) != 0;
    return HDB_OK;
  case HDB_TYPE_INT:
    v->type = HDB_TYPE_INT;
    v->as.i = sqlite3_column_int64(st, i);
    return HDB_OK;
  case HDB_TYPE_FLOAT:
    v->type = HDB_TYPE_FLOAT;
    v->as.f = sqlite3_column_double(st, i);
    return HDB_OK;
  case HDB_TYPE_TIMESTAMP:
    v->type = HDB_TYPE_TIMESTAMP;
    v->as.timestamp_us = sqlite3_column_int64(st, i);
    return HDB_OK;
  case HDB_TYPE_TEXT:
  case HDB_TYPE_JSON: {
    const unsigned char *p = sqlite3_column_text(st, i);
    size_t n = (size_t)sqlite3_column_bytes(st, i);
    char *d = hdb__malloc(n + 1);
    if (!d) return HDB_NOMEM;
    if (n) memcpy(d, p, n);
    d[n] = '\0';
    v->type = col->type;
    v->as.text.data = d;
    v->as.text.len = n;
    return HDB_OK;
  }
  case HDB_TYPE_BLOB: {
    const void *p = sqlite3_column_blob(st, i);
    size_t n = (size_t)sqlite3_column_bytes(st, i);
    void *d = hdb__malloc(n ? n : 1);
    if (!d) return HDB_NOMEM;
    if (n) memcpy(d, p, n);
    v->type = HDB_TYPE_BLOB;
    v->as.blob.data = d;
    v->as.blob.len = n;
    return HDB_OK;
  }
  case HDB_TYPE_VECTOR: {
    const void *p = sqlite3_column_blob(st, i);
    size_t n = (size_t)sqlite3_column_bytes(st, i);
    if (n % 4 || n / 4 != col->dim) return HDB_CORRUPT;
    float *d = hdb__malloc(n ? n : 1);
    if (!d) return HDB_NOMEM;
    hdb__sql_vector_read(p, (uint32_t)(n / 4), d);
    v->type = HDB_TYPE_VECTOR;
    v->as.vector.data = d;
    v->as.vector.dim = (uint32_t)(n / 4);
    return HDB_OK;
  }
  case HDB_TYPE_NULL: return HDB_OK;
  }
  return HDB_OK;
}

hdb_status hdb__sq_row_record(const hdb__sq_table *t, sqlite3_stmt *st, int col0, hdb_record **out,
                              hdb_error *err) {
  *out = NULL;
  const char *id = (const char *)sqlite3_column_text(st, col0);
  if (!id) return hdb__fail(err, HDB_CORRUPT, "table '%s' has a row without an id", t->name);
  if (!t->schema) {
    const char *doc = (const char *)sqlite3_column_text(st, col0 + 1);
    size_t n = (size_t)sqlite3_column_bytes(st, col0 + 1);
    hdb_status s = hdb__sql_doc_decode(id, doc ? doc : "{}", doc ? n : 2, out, err);
    if (s != HDB_OK && s != HDB_NOMEM && err) hdb__err_prefix(err, "table '%s'", t->name);
    return s;
  }
  hdb_record *r = hdb_record_new(id);
  if (!r) return hdb__fail(err, HDB_NOMEM, "out of memory reading table '%s'", t->name);
  for (size_t i = 0; i < t->schema->n; i++) {
    hdb_value v;
    hdb_status s = column_value(&t->schema->cols[i], st, col0 + 1 + (int)i, &v);
    if (s == HDB_OK && v.type == HDB_TYPE_NULL) continue;
    if (s == HDB_OK) s = hdb__record_put_owned(r, t->schema->cols[i].name, &v);
    if (s != HDB_OK) {
      hdb_record_free(r);
      if (s == HDB_CORRUPT)
        return hdb__fail(err, s, "table '%s': row '%s': column '%s' does not hold a %u-dimensional vector",
                         t->name, id, t->schema->cols[i].name, (unsigned)t->schema->cols[i].dim);
      return hdb__fail(err, HDB_NOMEM, "out of memory reading table '%s'", t->name);
    }
  }
  *out = r;
  return HDB_OK;
}

/* ------------------------------------------------------------------ */
/* Write                                                               */
/* ------------------------------------------------------------------ */

static void insert_sql(hdb__sql_buf *b, const hdb__sq_table *t, hdb__write_mode mode) {
  hdb__sql_buf_append(b, "INSERT INTO ");
  hdb__sql_buf_name(b, HDB__SQL_SQLITE, t->name);
  hdb__sql_buf_append(b, "(");
  hdb__sq_select_list(b, t);
  hdb__sql_buf_append(b, ") VALUES(?");
  size_t n = t->schema ? t->schema->n : 1;
  for (size_t i = 0; i < n; i++) hdb__sql_buf_append(b, ", ?");
  hdb__sql_buf_append(b, ")");
  if (mode != HDB__WRITE_UPSERT) return;
  if (!n) {
    hdb__sql_buf_append(b, " ON CONFLICT(\"id\") DO NOTHING");
    return;
  }
  hdb__sql_buf_append(b, " ON CONFLICT(\"id\") DO UPDATE SET ");
  for (size_t i = 0; i < n; i++) {
    const char *name = t->schema ? t->schema->cols[i].name : HDB__SQ_DOC;
    if (i) hdb__sql_buf_append(b, ", ");
    hdb__sql_buf_name(b, HDB__SQL_SQLITE, name);
    hdb__sql_buf_append(b, " = excluded.");
    hdb__sql_buf_name(b, HDB__SQL_SQLITE, name);
  }
}

/* Binds a conformed record's id and fields (or document) to st: every
 * parameter is bound, so a statement reused row after row needs no
 * sqlite3_clear_bindings. vals, when not NULL, holds each column's value
 * (hdb__sql_record_conforms); else the fields are looked up by name. */
static int bind_record(sqlite3_stmt *st, const hdb__sq_table *t, const hdb_record *rec,
                       const hdb_value *const *vals, char **doc) {
  int rc = sqlite3_bind_text(st, 1, rec->id, -1, SQLITE_STATIC);
  if (rc != SQLITE_OK) return rc;
  if (!t->schema) {
    size_t len;
    if (hdb__sql_doc_encode(rec, doc, &len) != HDB_OK) return SQLITE_NOMEM;
    return sqlite3_bind_text64(st, 2, *doc, len, SQLITE_STATIC, SQLITE_UTF8);
  }
  for (size_t i = 0; i < t->schema->n; i++) {
    const hdb_value *v = vals ? vals[i] : hdb__record_value(rec, t->schema->cols[i].name);
    rc = v ? hdb__sq_bind_value(st, 2 + (int)i, v) : sqlite3_bind_null(st, 2 + (int)i);
    if (rc != SQLITE_OK) return rc;
  }
  return SQLITE_OK;
}

hdb_status hdb__sq_write(void *conn, const char *table, hdb_record *const *records, size_t n,
                         hdb__write_mode mode, hdb_error *err) {
  hdb__sq_conn *c = conn;
  const hdb__sq_table *t;
  hdb_status s = hdb__sq_table_get(c, table, &t, err);
  if (s != HDB_OK || n == 0) return s;
  /* One column -> value map per call, reused for every record. */
  const hdb_value **vals = NULL;
  if (t->schema && !(vals = hdb__calloc(t->schema->n ? t->schema->n : 1, sizeof *vals)))
    return hdb__fail(err, HDB_NOMEM, "out of memory writing %zu records to table '%s'", n, table);
  hdb__sql_buf b = {0};
  insert_sql(&b, t, mode);
  s = hdb__sql_buf_status(&b, err);
  if (s == HDB_OK) s = hdb__sq_write_begin(c, err);
  if (s != HDB_OK) {
    hdb__sql_buf_free(&b);
    hdb__free_mem(vals);
    return s;
  }
  sqlite3_stmt *st = NULL;
  s = hdb__sq_prepare(c, b.s, &st, err);
  for (size_t i = 0; s == HDB_OK && i < n; i++) {
    hdb_record *copy = NULL;
    const hdb_record *rec = records[i];
    /* Invariant: rec is bound as it is only when hdb__schema_conform would
     * leave it unchanged, so the caller's records are never modified. */
    int as_is = hdb__sql_record_conforms(t->schema, rec, vals);
    if (!as_is) {
      rec = copy = hdb_record_clone(records[i]);
      if (!copy) {
        s = hdb__fail(err, HDB_NOMEM, "out of memory writing %zu records to table '%s'", n, table);
        break;
      }
      s = hdb__schema_conform(t->schema, table, copy, 1, err);
      if (s != HDB_OK) {
        hdb_record_free(copy);
        if (err) hdb__err_prefix(err, "record %zu", i);
        break;
      }
    }
    char *doc = NULL;
    int rc = bind_record(st, t, rec, as_is ? vals : NULL, &doc);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
      if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
        s = hdb__fail(err, HDB_DUPLICATE_ID,
                      "table '%s': record %zu: id '%s' already exists (in the table or earlier in the batch)",
                      table, i, rec->id);
      else
        s = hdb__sq_fail(c, rc, err, "table '%s': writing record %zu ('%s')", table, i, rec->id);
    }
    sqlite3_reset(st);
    hdb__free_mem(doc);
    hdb_record_free(copy);
  }
  hdb__sq_done(c, st); /* resets and clears the bindings (they point into records) */
  hdb__sql_buf_free(&b);
  hdb__free_mem(vals);
  return hdb__sq_write_end(c, s, err);
}

/* Reads the row with this id: HDB_NOT_FOUND when absent. */
static hdb_status read_row(hdb__sq_conn *c, const hdb__sq_table *t, const char *id, hdb_record **out,
                           hdb_error *err) {
  *out = NULL;
  hdb__sql_buf b = {0};
  hdb__sql_buf_append(&b, "SELECT ");
  hdb__sq_select_list(&b, t);
  hdb__sql_buf_append(&b, " FROM ");
  hdb__sql_buf_name(&b, HDB__SQL_SQLITE, t->name);
  hdb__sql_buf_append(&b, " WHERE \"id\" = ?");
  hdb_status s = hdb__sql_buf_status(&b, err);
  sqlite3_stmt *st = NULL;
  if (s == HDB_OK) s = hdb__sq_prepare(c, b.s, &st, err);
  if (s == HDB_OK) {
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
      s = hdb__sq_row_record(t, st, 0, out, err);
    else if (rc == SQLITE_DONE)
      s = hdb__fail(err, HDB_NOT_FOUND, "table '%s' has no row with id '%s'", t->name, id);
    else
      s = hdb__sq_fail(c, rc, err, "reading '%s' from table '%s'", id, t->name);
  }
  hdb__sq_done(c, st);
  hdb__sql_buf_free(&b);
  return s;
}

hdb_status hdb__sq_get(void *conn, const char *table, const char *id, hdb_record **out,
                       hdb_error *err) {
  hdb__sq_conn *c = conn;
  const hdb__sq_table *t;
  *out = NULL;
  hdb_status s = hdb__sq_table_get(c, table, &t, err);
  if (s != HDB_OK) return s;
  return read_row(c, t, id, out, err);
}

/* ------------------------------------------------------------------ */
/* Update and delete                                                   */
/* ------------------------------------------------------------------ */

typedef struct idlist {
  char **ids;
  size_t n, cap;
} idlist;

static void idlist_free(idlist *l) {
  hdb_strings_free(l->ids, l->n);
  memset(l, 0, sizeof *l);
}

static hdb_status idlist_push(idlist *l, const char *id) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 16;
    char **p = hdb__realloc(l->ids, cap * sizeof *p);
    if (!p) return HDB_NOMEM;
    l->ids = p;
    l->cap = cap;
  }
  if (!(l->ids[l->n] = hdb__strdup(id))) return HDB_NOMEM;
  l->n++;
  return HDB_OK;
}

/* Ids of the rows matching filter, read with core's evaluator, in rowid order. */
static hdb_status match_ids(hdb__sq_conn *c, const hdb__sq_table *t, const hdb__expr *filter,
                            idlist *ids, hdb_error *err) {
  hdb__sql_buf b = {0};
  hdb__sql_buf_append(&b, "SELECT ");
  hdb__sq_select_list(&b, t);
  hdb__sql_buf_append(&b, " FROM ");
  hdb__sql_buf_name(&b, HDB__SQL_SQLITE, t->name);
  hdb__sql_buf_append(&b, " ORDER BY rowid");
  hdb_status s = hdb__sql_buf_status(&b, err);
  sqlite3_stmt *st = NULL;
  if (s == HDB_OK) s = hdb__sq_prepare(c, b.s, &st, err);
  int rc = SQLITE_DONE;
  while (s == HDB_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    hdb_record *r;
    s = hdb__sq_row_record(t, st, 0, &r, err);
    if (s != HDB_OK) break;
    int m = 0;
    s = hdb__filter_eval(filter, r, &m, err);
    if (s == HDB_OK && m && idlist_push(ids, r->id) != HDB_OK)
      s = hdb__fail(err, HDB_NOMEM, "out of memory scanning table '%s'", t->name);
    hdb_record_free(r);
  }
  if (s == HDB_OK && rc != SQLITE_DONE) s = hdb__sq_fail(c, rc, err, "scanning table '%s'", t->name);
  hdb__sq_done(c, st);
  hdb__sql_buf_free(&b);
  return s;
}

/* Runs sql with the patch's values (from param 1) and then p's; *changed
 * receives the rows changed. */
static hdb_status run_change(hdb__sq_conn *c, const char *sql, const hdb_record *patch,
                             const hdb__sql_params *p, const char *id, uint64_t *changed,
                             const char *table, hdb_error *err) {
  sqlite3_stmt *st;
  hdb_status s = hdb__sq_prepare(c, sql, &st, err);
  if (s != HDB_OK) return s;
  int idx = 1, rc = SQLITE_OK;
  for (size_t i = 0; patch && i < patch->n && rc == SQLITE_OK; i++)
    rc = hdb__sq_bind_value(st, idx++, &patch->fields[i].value);
  if (rc == SQLITE_OK && p) rc = hdb__sq_bind_params(st, p, idx);
  if (rc == SQLITE_OK && id) rc = sqlite3_bind_text(st, idx, id, -1, SQLITE_STATIC);
  if (rc == SQLITE_OK) rc = sqlite3_step(st);
  if (rc != SQLITE_DONE)
    s = hdb__sq_fail(c, rc, err, "changing rows of table '%s'", table);
  else
    *changed = (uint64_t)sqlite3_changes64(c->db);
  hdb__sq_done(c, st);
  return s;
}

/* UPDATE "t" SET "a" = ?, ... (the patch's fields) */
static void update_head(hdb__sql_buf *b, const hdb__sq_table *t, const hdb_record *patch) {
  hdb__sql_buf_append(b, "UPDATE ");
  hdb__sql_buf_name(b, HDB__SQL_SQLITE, t->name);
  hdb__sql_buf_append(b, " SET ");
  for (size_t i = 0; i < patch->n; i++) {
    if (i) hdb__sql_buf_append(b, ", ");
    hdb__sql_buf_name(b, HDB__SQL_SQLITE, patch->fields[i].name);
    hdb__sql_buf_append(b, " = ?");
  }
}

/* Schemaless: rewrites the document of row id with the patch applied. */
static hdb_status patch_doc(hdb__sq_conn *c, const hdb__sq_table *t, const char *id,
                            const hdb_record *patch, hdb_error *err) {
  hdb_record *r;
  hdb_status s = read_row(c, t, id, &r, err);
  if (s != HDB_OK) return s;
  s = hdb__record_apply_patch(r, patch);
  if (s != HDB_OK) {
    hdb_record_free(r);
    return hdb__fail(err, s, "updating '%s' in '%s' failed: %s", id, t->name, hdb_status_message(s));
  }
  hdb__sql_buf b = {0};
  hdb__sql_buf_append(&b, "UPDATE ");
  hdb__sql_buf_name(&b, HDB__SQL_SQLITE, t->name);
  hdb__sql_buf_append(&b, " SET \"" HDB__SQ_DOC "\" = ? WHERE \"id\" = ?");
  char *doc = NULL;
  size_t len = 0;
  s = hdb__sql_buf_status(&b, err);
  if (s == HDB_OK && hdb__sql_doc_encode(r, &doc, &len) != HDB_OK)
    s = hdb__fail(err, HDB_NOMEM, "out of memory updating '%s' in '%s'", id, t->name);
  if (s == HDB_OK) {
    hdb_value dv = {.type = HDB_TYPE_TEXT};
    dv.as.text.data = doc;
    dv.as.text.len = len;
    hdb_record holder = {0};
    hdb__field f = {(char *)HDB__SQ_DOC, dv, 0, 0};
    holder.fields = &f;
    holder.n = 1;
    uint64_t changed = 0;
    s = run_change(c, b.s, &holder, NULL, id, &changed, t->name, err);
  }
  hdb__free_mem(doc);
  hdb__sql_buf_free(&b);
  hdb_record_free(r);
  return s;
}

hdb_status hdb__sq_update(void *conn, const char *table, const char *id, const hdb__expr *filter,
                          const hdb_record *patch, uint64_t *updated, hdb_error *err) {
  hdb__sq_conn *c = conn;
  const hdb__sq_table *t;
  if (updated) *updated = 0;
  hdb_status s = hdb__sq_table_get(c, table, &t, err);
  if (s != HDB_OK) return s;
  hdb_record *pc = hdb_record_clone(patch);
  if (!pc) return hdb__fail(err, HDB_NOMEM, "out of memory updating table '%s'", table);
  /* Conformed like a written record; null is kept (it clears). */
  s = hdb__schema_conform(t->schema, table, pc, 0, err);
  if (s == HDB_OK && !id && filter) s = hdb__filter_bind(filter, t->schema, table, err);
  if (s != HDB_OK) {
    hdb_record_free(pc);
    return s;
  }
  hdb__sql_buf b = {0};
  hdb__sql_params p = {0};
  idlist ids = {0};
  uint64_t n = 0;
  s = hdb__sq_write_begin(c, err);
  if (s != HDB_OK) goto out;
  if (id) {
    if (t->schema && pc->n) {
      update_head(&b, t, pc);
      hdb__sql_buf_append(&b, " WHERE \"id\" = ?");
      s = hdb__sql_buf_status(&b, err);
      if (s == HDB_OK) s = run_change(c, b.s, pc, NULL, id, &n, table, err);
      if (s == HDB_OK && n == 0) s = hdb__fail(err, HDB_NOT_FOUND, "table '%s' has no row with id '%s'", table, id);
    } else if (t->schema) {
      hdb_record *r;
      s = read_row(c, t, id, &r, err);
      hdb_record_free(r);
      n = 1;
    } else {
      s = patch_doc(c, t, id, pc, err);
      n = 1;
    }
    goto done;
  }
  int pushed = 0;
  if (t->schema) {
    /* One UPDATE ... WHERE when the filter translates. */
    hdb__sql_buf w = {0};
    s = hdb__sq_where(t, filter, " WHERE ", &w, &p, &pushed, err);
    if (s == HDB_OK && pushed) {
      if (pc->n) {
        update_head(&b, t, pc);
        if (w.s) hdb__sql_buf_append(&b, w.s);
      } else {
        hdb__sql_buf_append(&b, "SELECT count(*) FROM ");
        hdb__sql_buf_name(&b, HDB__SQL_SQLITE, t->name);
        if (w.s) hdb__sql_buf_append(&b, w.s);
      }
      s = hdb__sql_buf_status(&b, err);
      if (s == HDB_OK && pc->n) {
        s = run_change(c, b.s, pc, &p, NULL, &n, table, err);
      } else if (s == HDB_OK) {
        sqlite3_stmt *st;
        s = hdb__sq_prepare(c, b.s, &st, err);
        if (s == HDB_OK) {
          int rc = hdb__sq_bind_params(st, &p, 1);
          if (rc == SQLITE_OK) rc = sqlite3_step(st);
          if (rc == SQLITE_ROW) n = (uint64_t)sqlite3_column_int64(st, 0);
          else s = hdb__sq_fail(c, rc, err, "counting rows of table '%s'", table);
        }
        hdb__sq_done(c, st);
      }
    }
    hdb__sql_buf_free(&w);
    if (s != HDB_OK || pushed) goto done;
  }
  s = match_ids(c, t, filter ? filter : NULL, &ids, err);
  for (size_t i = 0; s == HDB_OK && i < ids.n; i++) {
    if (t->schema) {
      if (!pc->n) continue;
      uint64_t one = 0;
      hdb__sql_buf_free(&b);
      update_head(&b, t, pc);
      hdb__sql_buf_append(&b, " WHERE \"id\" = ?");
      s = hdb__sql_buf_status(&b, err);
      if (s == HDB_OK) s = run_change(c, b.s, pc, NULL, ids.ids[i], &one, table, err);
    } else {
      s = patch_doc(c, t, ids.ids[i], pc, err);
    }
  }
  n = ids.n;
done:
  s = hdb__sq_write_end(c, s, err);
  if (s == HDB_OK && updated) *updated = n;
out:
  idlist_free(&ids);
  hdb__sql_params_free(&p);
  hdb__sql_buf_free(&b);
  hdb_record_free(pc);
  return s;
}

hdb_status hdb__sq_remove(void *conn, const char *table, const char *id, const hdb__expr *filter,
                          uint64_t *deleted, hdb_error *err) {
  hdb__sq_conn *c = conn;
  const hdb__sq_table *t;
  if (deleted) *deleted = 0;
  hdb_status s = hdb__sq_table_get(c, table, &t, err);
  if (s == HDB_OK && !id && filter) s = hdb__filter_bind(filter, t->schema, table, err);
  if (s != HDB_OK) return s;
  hdb__sql_buf b = {0}, w = {0};
  hdb__sql_params p = {0};
  idlist ids = {0};
  uint64_t n = 0;
  int pushed = 0;
  s = hdb__sq_write_begin(c, err);
  if (s != HDB_OK) goto out;
  hdb__sql_buf_append(&b, "DELETE FROM ");
  hdb__sql_buf_name(&b, HDB__SQL_SQLITE, t->name);
  if (id) {
    hdb__sql_buf_append(&b, " WHERE \"id\" = ?");
    s = hdb__sql_buf_status(&b, err);
    if (s == HDB_OK) s = run_change(c, b.s, NULL, NULL, id, &n, table, err);
    if (s == HDB_OK && n == 0) s = hdb__fail(err, HDB_NOT_FOUND, "table '%s' has no row with id '%s'", table, id);
    goto done;
  }
  if (filter) s = hdb__sq_where(t, filter, " WHERE ", &w, &p, &pushed, err);
  if (s != HDB_OK) goto done;
  if (!filter || pushed) {
    hdb__sql_buf_append(&b, w.s ? w.s : "");
    s = hdb__sql_buf_status(&b, err);
    if (s == HDB_OK) s = run_change(c, b.s, NULL, &p, NULL, &n, table, err);
    goto done;
  }
  s = match_ids(c, t, filter, &ids, err);
  hdb__sql_buf_append(&b, " WHERE \"id\" = ?");
  if (s == HDB_OK) s = hdb__sql_buf_status(&b, err);
  for (size_t i = 0; s == HDB_OK && i < ids.n; i++) {
    uint64_t one = 0;
    s = run_change(c, b.s, NULL, NULL, ids.ids[i], &one, table, err);
  }
  n = ids.n;
done:
  s = hdb__sq_write_end(c, s, err);
  if (s == HDB_OK && deleted) *deleted = n;
out:
  idlist_free(&ids);
  hdb__sql_params_free(&p);
  hdb__sql_buf_free(&w);
  hdb__sql_buf_free(&b);
  return s;
}

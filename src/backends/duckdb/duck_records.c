/*
 * duck_records.c - rows of the duckdb:// backend: insert/upsert through
 * DuckDB's appender, get, update (patch) and remove.
 *
 * Writes are all-or-nothing. Every record is conformed (a private clone,
 * unless it already holds its columns' types: hdb__sql_record_conforms).
 * An insert outside a user transaction does that in one pass, record by
 * record right before its row is appended, inside our own transaction,
 * which any failure rolls back (insert_streamed). Otherwise the batch is
 * conformed and checked for repeated ids before DuckDB sees anything; then
 * one DuckDB transaction (the user's, or one of our own) holds:
 *   insert:  [inside a user transaction: a look-up of the batch's ids, so
 *            that a duplicate fails our check instead of DuckDB's
 *            constraint, which would abort the user's transaction] and the
 *            appended chunks;
 *   upsert:  DELETE of the batch ids that exist, then the appended chunks
 *            (an id repeated in the batch: the last record wins).
 * Outside a user transaction a duplicate id is caught by the primary key
 * when the appender flushes; the transaction rolls back and a look-up
 * names the first duplicate of the batch (HDB_DUPLICATE_ID).
 *
 * Ids travel to IN lists in groups of ID_GROUP parameters.
 *
 * Update: strict tables get one UPDATE ... SET col = ? per call (WHERE id =
 * ?, the translated filter, or the ids that core's evaluator selected);
 * schemaless tables read, patch and rewrite each matching document.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duck.h"

#include "core/alloc.h"
#include "core/err.h"
#include "core/filter.h"
#include "core/record.h"
#include "core/schema.h"

#define ID_GROUP 1000

static hdb_value text_value(const char *s) {
  hdb_value v;
  memset(&v, 0, sizeof v);
  v.type = HDB_TYPE_TEXT;
  v.as.text.data = s;
  v.as.text.len = strlen(s);
  return v;
}

/* ------------------------------------------------------------------ */
/* Id sets                                                             */
/* ------------------------------------------------------------------ */

static int str_cmp(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Position of the first record whose id appears earlier in the batch, or
 * SIZE_MAX; *first is the earlier position. recs[] are conformed. */
static size_t batch_repeat(const hdb_record *const *recs, size_t n, size_t *first, hdb_error *err,
                           hdb_status *st) {
  typedef struct { const char *id; size_t i; } ent;
  *st = HDB_OK;
  if (n < 2) return SIZE_MAX;
  ent *e = hdb__malloc(n * sizeof *e);
  if (!e) {
    *st = hdb__fail(err, HDB_NOMEM, "out of memory checking a batch");
    return SIZE_MAX;
  }
  for (size_t i = 0; i < n; i++) e[i] = (ent){recs[i]->id, i};
  qsort(e, n, sizeof *e, str_cmp); /* by id; ties keep no order, fixed below */
  size_t worst = SIZE_MAX;
  for (size_t a = 0; a < n;) {
    size_t b = a + 1, lo = e[a].i, second = SIZE_MAX;
    while (b < n && strcmp(e[a].id, e[b].id) == 0) b++;
    if (b - a > 1) {
      for (size_t k = a; k < b; k++) lo = e[k].i < lo ? e[k].i : lo;
      for (size_t k = a; k < b; k++)
        if (e[k].i != lo && e[k].i < second) second = e[k].i;
      if (second < worst) {
        worst = second;
        *first = lo;
      }
    }
    a = b;
  }
  hdb__free_mem(e);
  return worst;
}

/* The ids of ids[0..n) that exist in t, sorted (owned strings and array). */
static hdb_status existing_ids(hdb__duck_conn *c, const char *table, const char *const *ids,
                               size_t n, char ***out, size_t *nout, hdb_error *err) {
  *out = NULL;
  *nout = 0;
  size_t cap = 0;
  hdb_status st = HDB_OK;
  hdb_value *vals = hdb__calloc(ID_GROUP, sizeof *vals);
  const hdb_value **p = hdb__calloc(ID_GROUP, sizeof *p);
  if (!vals || !p) st = hdb__fail(err, HDB_NOMEM, "out of memory checking ids");
  for (size_t off = 0; st == HDB_OK && off < n; off += ID_GROUP) {
    size_t m = n - off < ID_GROUP ? n - off : ID_GROUP;
    hdb__sql_buf b = {0};
    hdb__sql_buf_append(&b, "SELECT id FROM ");
    hdb__duck_ident(&b, table);
    hdb__sql_buf_append(&b, " WHERE id IN (");
    for (size_t i = 0; i < m; i++) {
      vals[i] = text_value(ids[off + i]);
      p[i] = &vals[i];
      hdb__sql_buf_append(&b, i ? ",?" : "?");
    }
    hdb__sql_buf_append(&b, ")");
    duckdb_result r;
    st = hdb__sql_buf_status(&b, err);
    if (st == HDB_OK) st = hdb__duck_run(c, b.s, p, m, &r, err, "checking ids");
    hdb__sql_buf_free(&b);
    if (st != HDB_OK) break;
    idx_t rows = duckdb_row_count(&r);
    for (idx_t i = 0; st == HDB_OK && i < rows; i++) {
      if (*nout == cap) {
        cap = cap ? 2 * cap : 16;
        char **np = hdb__realloc(*out, cap * sizeof *np);
        if (!np) {
          st = hdb__fail(err, HDB_NOMEM, "out of memory checking ids");
          break;
        }
        *out = np;
      }
      char *v = duckdb_value_varchar(&r, 0, i);
      (*out)[*nout] = v ? hdb__strdup(v) : NULL;
      if (v) duckdb_free(v);
      if (!(*out)[*nout]) st = hdb__fail(err, HDB_NOMEM, "out of memory checking ids");
      else (*nout)++;
    }
    duckdb_destroy_result(&r);
  }
  hdb__free_mem(vals);
  hdb__free_mem(p);
  if (st != HDB_OK) {
    hdb_strings_free(*out, *nout);
    *out = NULL;
    *nout = 0;
  } else if (*nout) {
    qsort(*out, *nout, sizeof **out, str_cmp);
  }
  return st;
}

/* DELETE FROM t WHERE id IN (ids...), in groups; adds the rows deleted. */
static hdb_status delete_ids(hdb__duck_conn *c, const char *table, const char *const *ids,
                             size_t n, uint64_t *deleted, hdb_error *err) {
  hdb_status st = HDB_OK;
  hdb_value *vals = hdb__calloc(ID_GROUP, sizeof *vals);
  const hdb_value **p = hdb__calloc(ID_GROUP, sizeof *p);
  if (!vals || !p) st = hdb__fail(err, HDB_NOMEM, "out of memory deleting rows");
  for (size_t off = 0; st == HDB_OK && off < n; off += ID_GROUP) {
    size_t m = n - off < ID_GROUP ? n - off : ID_GROUP;
    hdb__sql_buf b = {0};
    hdb__sql_buf_append(&b, "DELETE FROM ");
    hdb__duck_ident(&b, table);
    hdb__sql_buf_append(&b, " WHERE id IN (");
    for (size_t i = 0; i < m; i++) {
      vals[i] = text_value(ids[off + i]);
      p[i] = &vals[i];
      hdb__sql_buf_append(&b, i ? ",?" : "?");
    }
    hdb__sql_buf_append(&b, ")");
    duckdb_result r;
    st = hdb__sql_buf_status(&b, err);
    if (st == HDB_OK) st = hdb__duck_run(c, b.s, p, m, &r, err, "deleting rows");
    hdb__sql_buf_free(&b);
    if (st == HDB_OK) {
      if (deleted) *deleted += duckdb_rows_changed(&r);
      duckdb_destroy_result(&r);
    }
  }
  hdb__free_mem(vals);
  hdb__free_mem(p);
  return st;
}

static int id_in(char **sorted, size_t n, const char *id) {
  return n && bsearch(&id, sorted, n, sizeof *sorted, str_cmp) != NULL;
}

/* ------------------------------------------------------------------ */
/* Write                                                               */
/* ------------------------------------------------------------------ */

/* Names the first record of a failed insert whose id repeats in the batch
 * or exists in the table (after the rollback); HDB_CONFLICT when neither
 * holds any more (a concurrent writer whose row is gone again). */
static hdb_status name_duplicate(hdb__duck_conn *c, const char *table,
                                 hdb_record *const *records, size_t n, hdb_error *err) {
  hdb_status st = HDB_OK;
  size_t first = 0;
  size_t rep = batch_repeat((const hdb_record *const *)records, n, &first, err, &st);
  if (st != HDB_OK) return st;
  if (rep != SIZE_MAX)
    return hdb__fail(err, HDB_DUPLICATE_ID,
                     "table '%s': id '%s' appears twice in the batch (records %zu and %zu)", table,
                     records[rep]->id, first, rep);
  const char **ids = hdb__calloc(n, sizeof *ids);
  if (!ids) return hdb__fail(err, HDB_NOMEM, "out of memory checking ids");
  for (size_t i = 0; i < n; i++) ids[i] = records[i]->id;
  char **exist = NULL;
  size_t nexist = 0;
  st = existing_ids(c, table, ids, n, &exist, &nexist, err);
  hdb__free_mem(ids);
  if (st != HDB_OK) return st;
  st = hdb__fail(err, HDB_CONFLICT,
                 "table '%s': a concurrent write took an id of the batch; nothing was written",
                 table);
  for (size_t i = 0; i < n; i++)
    if (id_in(exist, nexist, records[i]->id)) {
      st = hdb__fail(err, HDB_DUPLICATE_ID, "table '%s': record %zu: id '%s' already exists", table,
                     i, records[i]->id);
      break;
    }
  hdb_strings_free(exist, nexist);
  return st;
}

/* Insert outside a user transaction, in one pass: each record is checked
 * (and conformed on a clone when it must be) right before its row goes
 * into the appender's chunk, while its values are still in the CPU's
 * cache, instead of a checking pass over the whole batch first. Nothing
 * is lost by it: every row lands in our own transaction, which any
 * failure rolls back, and the primary key finds repeated ids (named
 * afterwards by name_duplicate). */
static hdb_status insert_streamed(hdb__duck_conn *c, const hdb__duck_table *t, const char *table,
                                  hdb_record *const *records, size_t n, hdb_error *err) {
  int own = 0;
  hdb__duck_app app;
  memset(&app, 0, sizeof app);
  const hdb_value **vals = NULL;
  if (t->schema && !(vals = hdb__calloc(t->schema->n ? t->schema->n : 1, sizeof *vals)))
    return hdb__fail(err, HDB_NOMEM, "out of memory writing to table '%s'", table);
  hdb_status st = hdb__duck_atomic_begin(c, &own, err);
  if (st == HDB_OK) st = hdb__duck_app_open(c, t, &app, err);
  for (size_t i = 0; st == HDB_OK && i < n; i++) {
    const hdb_record *rec = records[i];
    if (!t->schema) { /* schemaless: the id, checked by the API, is all there is to check */
      st = hdb__duck_app_row(&app, t, rec, err);
      continue;
    }
    if (hdb__sql_record_conforms(t->schema, rec, vals)) {
      st = hdb__duck_app_row_values(&app, t, rec->id, vals, err);
      continue;
    }
    /* Invariant: the caller's record is never modified; a conformed clone
     * goes in instead. */
    hdb_record *copy = hdb_record_clone(rec);
    if (!copy) {
      st = hdb__fail(err, HDB_NOMEM, "out of memory writing %zu records to table '%s'", n, table);
      break;
    }
    st = hdb__schema_conform(t->schema, table, copy, 1, err);
    if (st != HDB_OK)
      hdb__err_prefix(err, "record %zu", i);
    else
      st = hdb__duck_app_row(&app, t, copy, err);
    hdb_record_free(copy);
  }
  if (st == HDB_OK) st = hdb__duck_app_close(&app, err);
  hdb__duck_app_free(&app);
  hdb__free_mem(vals);
  if (own) st = hdb__duck_atomic_end(c, own, st, err); /* rolls back on failure */
  if (st == HDB_CONSTRAINT) st = name_duplicate(c, table, records, n, err);
  return st;
}

hdb_status hdb__duck_write(void *conn, const char *table, hdb_record *const *records, size_t n,
                           hdb__write_mode mode, hdb_error *err) {
  hdb__duck_conn *c = conn;
  hdb_status st = hdb__duck_enter(c, 1, err);
  if (st != HDB_OK) return st;
  hdb__duck_table t;
  if ((st = hdb__duck_table_load(c, table, &t, err)) != HDB_OK) return st;
  if (mode == HDB__WRITE_INSERT && !c->in_txn && n > 0) {
    st = insert_streamed(c, &t, table, records, n, err);
    hdb__duck_table_free(&t);
    return st;
  }
  const hdb_record **recs = NULL; /* records[i] itself, or a conformed clone */
  unsigned char *owned = NULL;     /* owned[i]: recs[i] is a clone, freed here */
  const char **ids = NULL;
  char **exist = NULL;
  size_t nexist = 0, nrecs = 0, nkeep = 0;
  unsigned char *keep = NULL;
  hdb__duck_app app;
  memset(&app, 0, sizeof app);
  int own = 0, began = 0;
  if (n == 0) goto done;

  recs = hdb__calloc(n, sizeof *recs);
  ids = hdb__calloc(n, sizeof *ids);
  keep = hdb__calloc(n, 1);
  owned = hdb__calloc(n, 1);
  if (!recs || !ids || !keep || !owned) goto nomem;
  for (size_t i = 0; i < n; i++) {
    /* Invariant: a caller's record is used as it is only when
     * hdb__schema_conform would leave it unchanged; others are conformed
     * on a clone, so the caller's records are never modified. */
    if (hdb__sql_record_conforms(t.schema, records[i], NULL)) {
      recs[i] = records[i];
      nrecs = i + 1;
      continue;
    }
    hdb_record *copy = hdb_record_clone(records[i]);
    if (!copy) goto nomem;
    recs[i] = copy;
    owned[i] = 1;
    nrecs = i + 1;
    st = hdb__schema_conform(t.schema, table, copy, 1, err);
    if (st != HDB_OK) {
      if (err) hdb__err_prefix(err, "record %zu", i);
      goto done;
    }
  }
  size_t first = 0;
  size_t rep = batch_repeat(recs, n, &first, err, &st);
  if (st != HDB_OK) goto done;
  if (mode == HDB__WRITE_INSERT) {
    if (rep != SIZE_MAX) {
      st = hdb__fail(err, HDB_DUPLICATE_ID,
                     "table '%s': id '%s' appears twice in the batch (records %zu and %zu)", table,
                     recs[rep]->id, first, rep);
      goto done;
    }
    for (size_t i = 0; i < n; i++) keep[i] = 1;
    nkeep = n;
  } else {
    /* Upsert: the last record of each id wins. */
    char **sorted = (char **)ids;
    for (size_t i = 0; i < n; i++) sorted[i] = recs[i]->id;
    qsort(sorted, n, sizeof *sorted, str_cmp);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
      if (u == 0 || strcmp(sorted[u - 1], sorted[i]) != 0) sorted[u++] = sorted[i];
    unsigned char *seen = hdb__calloc(u ? u : 1, 1);
    if (!seen) goto nomem;
    for (size_t i = n; i-- > 0;) {
      char **hit = bsearch(&recs[i]->id, sorted, u, sizeof *sorted, str_cmp);
      size_t k = (size_t)(hit - sorted);
      if (!seen[k]) {
        seen[k] = 1;
        keep[i] = 1;
        nkeep++;
      }
    }
    hdb__free_mem(seen);
  }
  {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
      if (keep[i]) ids[k++] = recs[i]->id;
  }

  if ((st = hdb__duck_atomic_begin(c, &own, err)) != HDB_OK) goto done;
  began = 1;
  if (mode == HDB__WRITE_INSERT && !own) {
    /* Inside the user's transaction: a constraint failure would abort it,
     * so duplicates are found first. */
    if ((st = existing_ids(c, table, ids, nkeep, &exist, &nexist, err)) != HDB_OK) goto done;
    for (size_t i = 0; i < n; i++)
      if (id_in(exist, nexist, recs[i]->id)) {
        st = hdb__fail(err, HDB_DUPLICATE_ID, "table '%s': record %zu: id '%s' already exists",
                       table, i, recs[i]->id);
        goto done;
      }
  }
  if (mode == HDB__WRITE_UPSERT &&
      (st = delete_ids(c, table, ids, nkeep, NULL, err)) != HDB_OK)
    goto done;
  if ((st = hdb__duck_app_open(c, &t, &app, err)) != HDB_OK) goto done;
  for (size_t i = 0; st == HDB_OK && i < n; i++)
    if (keep[i]) st = hdb__duck_app_row(&app, &t, recs[i], err);
  if (st == HDB_OK) st = hdb__duck_app_close(&app, err);
  if (st != HDB_OK && app.app && !own) {
    /* Rows may have reached DuckDB, and inside the user's transaction
     * nothing can take them back but a rollback (duck.h invariant 4). Our
     * own transaction is rolled back at done; an insert outside a user
     * transaction never comes here (insert_streamed). */
    char msg[HDB_ERRMSG_MAX];
    snprintf(msg, sizeof msg, "%s", app.emsg ? app.emsg : err ? err->message : "append failed");
    st = hdb__duck_stmt_failed(c, app.failed ? app.etype : DUCKDB_ERROR_INVALID, msg, err,
                               "appending");
  }
  goto done;
nomem:
  st = hdb__fail(err, HDB_NOMEM, "out of memory writing %zu records to table '%s'", n, table);
done:
  hdb__duck_app_free(&app);
  if (began) st = hdb__duck_atomic_end(c, own, st, err);
  for (size_t i = 0; recs && owned && i < nrecs; i++)
    if (owned[i]) hdb_record_free((hdb_record *)recs[i]);
  hdb__free_mem(recs);
  hdb__free_mem(owned);
  hdb__free_mem(ids);
  hdb__free_mem(keep);
  hdb_strings_free(exist, nexist);
  hdb__duck_table_free(&t);
  return st;
}

/* ------------------------------------------------------------------ */
/* Get                                                                 */
/* ------------------------------------------------------------------ */

/* The row with this id (owned) or NULL. */
static hdb_status fetch_row(hdb__duck_conn *c, const hdb__duck_table *t, const char *id,
                            hdb_record **out, hdb_error *err) {
  *out = NULL;
  hdb__duck_rowspec spec;
  hdb_status st = hdb__duck_rowspec_all(t, &spec, err);
  if (st != HDB_OK) return st;
  hdb__sql_buf b = {0};
  hdb__sql_buf_append(&b, "SELECT ");
  hdb__duck_select_list(&b, &spec);
  hdb__sql_buf_append(&b, " FROM ");
  hdb__duck_ident(&b, t->name);
  hdb__sql_buf_append(&b, " WHERE id = ?");
  hdb_value iv = text_value(id);
  const hdb_value *p[1] = {&iv};
  duckdb_result r;
  st = hdb__sql_buf_status(&b, err);
  if (st == HDB_OK) st = hdb__duck_run(c, b.s, p, 1, &r, err, "reading a row");
  hdb__sql_buf_free(&b);
  if (st == HDB_OK) {
    duckdb_data_chunk ch = duckdb_fetch_chunk(r);
    if (ch && duckdb_data_chunk_get_size(ch) > 0) {
      idx_t ncols = duckdb_data_chunk_get_column_count(ch);
      hdb__duck_colview views[2 + HDB_MAX_NAME_LEN]; /* ncols is small; checked below */
      hdb__duck_colview *vp = ncols <= sizeof views / sizeof views[0]
                                  ? views
                                  : hdb__calloc(ncols, sizeof *vp);
      if (!vp) {
        st = hdb__fail(err, HDB_NOMEM, "out of memory reading a row");
      } else {
        hdb__duck_chunk_views(ch, vp, ncols);
        st = hdb__duck_decode_row(&spec, vp, 0, out, err);
        if (vp != views) hdb__free_mem(vp);
      }
    }
    if (ch) duckdb_destroy_data_chunk(&ch);
    duckdb_destroy_result(&r);
  }
  hdb__free_mem(spec.cols);
  return st;
}

hdb_status hdb__duck_get(void *conn, const char *table, const char *id, hdb_record **out,
                         hdb_error *err) {
  hdb__duck_conn *c = conn;
  *out = NULL;
  hdb_status st = hdb__duck_enter(c, 0, err);
  if (st != HDB_OK) return st;
  hdb__duck_table t;
  if ((st = hdb__duck_table_load(c, table, &t, err)) != HDB_OK) return st;
  st = fetch_row(c, &t, id, out, err);
  if (st == HDB_OK && !*out)
    st = hdb__fail(err, HDB_NOT_FOUND, "table '%s' has no row with id '%s'", table, id);
  hdb__duck_table_free(&t);
  return st;
}

/* ------------------------------------------------------------------ */
/* Update and remove                                                   */
/* ------------------------------------------------------------------ */

typedef struct id_list {
  char **ids;
  size_t n, cap;
  hdb_record **recs; /* schemaless update: the matching rows, owned */
  int keep_recs;
} id_list;

static hdb_status add_id(hdb_record *rec, void *user) {
  id_list *l = user;
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 64;
    char **ni = hdb__realloc(l->ids, cap * sizeof *ni);
    if (!ni) goto nomem;
    l->ids = ni;
    if (l->keep_recs) {
      hdb_record **nr = hdb__realloc(l->recs, cap * sizeof *nr);
      if (!nr) goto nomem;
      l->recs = nr;
    }
    l->cap = cap;
  }
  if (!(l->ids[l->n] = hdb__strdup(rec->id))) goto nomem;
  if (l->keep_recs)
    l->recs[l->n] = rec;
  else
    hdb_record_free(rec);
  l->n++;
  return HDB_OK;
nomem:
  hdb_record_free(rec);
  return HDB_NOMEM;
}

static void id_list_free(id_list *l) {
  for (size_t i = 0; l->recs && i < l->n; i++) hdb_record_free(l->recs[i]);
  hdb__free_mem(l->recs);
  hdb_strings_free(l->ids, l->n);
  memset(l, 0, sizeof *l);
}

/* Rows matching (id or filter), by id, into l. */
static hdb_status select_rows(hdb__duck_conn *c, const hdb__duck_table *t, const char *id,
                              const hdb__expr *filter, id_list *l, hdb_error *err) {
  if (id) {
    hdb_record *rec = NULL;
    hdb_status st = fetch_row(c, t, id, &rec, err);
    if (st != HDB_OK) return st;
    if (!rec) return hdb__fail(err, HDB_NOT_FOUND, "table '%s' has no row with id '%s'", t->name, id);
    st = add_id(rec, l);
    return st == HDB_OK ? st : hdb__fail(err, st, "out of memory selecting rows of '%s'", t->name);
  }
  hdb_status st = hdb__duck_scan(c, t, filter, NULL, add_id, l, err);
  if (st == HDB_NOMEM && err && err->code != HDB_NOMEM)
    hdb__fail(err, st, "out of memory selecting rows of '%s'", t->name);
  return st;
}

/* Schemaless: rewrites each selected document with the patch applied. */
static hdb_status update_docs(hdb__duck_conn *c, const hdb__duck_table *t, id_list *l,
                              const hdb_record *patch, hdb_error *err) {
  hdb__sql_buf b = {0};
  hdb__sql_buf_append(&b, "UPDATE ");
  hdb__duck_ident(&b, t->name);
  hdb__sql_buf_append(&b, " SET doc = ? WHERE id = ?");
  hdb_status st = hdb__sql_buf_status(&b, err);
  for (size_t i = 0; st == HDB_OK && i < l->n; i++) {
    hdb_record *rec = l->recs[i];
    char *doc = NULL;
    size_t len = 0;
    st = hdb__record_apply_patch(rec, patch);
    if (st != HDB_OK) {
      st = hdb__fail(err, st, "updating '%s' in '%s' failed: %s", rec->id, t->name, hdb_status_message(st));
      break;
    }
    if (hdb__sql_doc_encode(rec, &doc, &len) != HDB_OK) {
      st = hdb__fail(err, HDB_NOMEM, "out of memory updating '%s' in '%s'", rec->id, t->name);
      break;
    }
    hdb_value dv = text_value(doc), iv = text_value(rec->id);
    dv.type = HDB_TYPE_JSON;
    dv.as.text.len = len;
    const hdb_value *p[2] = {&dv, &iv};
    duckdb_result r;
    st = hdb__duck_run(c, b.s, p, 2, &r, err, "updating a document");
    if (st == HDB_OK) duckdb_destroy_result(&r);
    hdb__free_mem(doc);
  }
  hdb__sql_buf_free(&b);
  return st;
}

/* Strict: UPDATE t SET cols = ? WHERE (id = ? | filter | id IN group). */
static hdb_status update_sql(hdb__duck_conn *c, const hdb__duck_table *t, const char *id,
                             const hdb__expr *filter, const hdb_record *patch, uint64_t *updated,
                             hdb_error *err) {
  hdb__sql_buf set = {0};
  hdb__sql_params p = {0};
  hdb_status st = HDB_OK;
  id_list l = {0};
  *updated = 0;
  hdb__sql_buf_append(&set, "UPDATE ");
  hdb__duck_ident(&set, t->name);
  hdb__sql_buf_append(&set, " SET ");
  for (size_t i = 0; i < patch->n; i++) {
    if (i) hdb__sql_buf_append(&set, ", ");
    hdb__duck_ident(&set, patch->fields[i].name);
    hdb__sql_buf_append(&set, " = ");
    hdb__sql_param(&set, &p, HDB__SQL_DUCKDB, &patch->fields[i].value);
  }
  int pushed = 0;
  size_t nset = p.n;
  hdb_value iv = text_value(id ? id : "");
  if (id) {
    hdb__sql_buf_append(&set, " WHERE id = ");
    hdb__sql_param(&set, &p, HDB__SQL_DUCKDB, &iv);
  } else {
    if ((st = hdb__duck_where(t, filter, &set, &p, &pushed, err)) != HDB_OK) goto done;
    if (!pushed) {
      /* Core evaluates the filter; the ids it selects are updated in groups. */
      if ((st = select_rows(c, t, NULL, filter, &l, err)) != HDB_OK) goto done;
    }
  }
  if ((st = hdb__sql_buf_status(&set, err)) != HDB_OK) goto done;
  if (id || pushed) {
    duckdb_result r;
    if ((st = hdb__duck_run(c, set.s, p.v, p.n, &r, err, "updating rows")) != HDB_OK) goto done;
    *updated = duckdb_rows_changed(&r);
    duckdb_destroy_result(&r);
    goto done;
  }
  {
    hdb_value *vals = hdb__calloc(nset + ID_GROUP, sizeof *vals);
    const hdb_value **pp = hdb__calloc(nset + ID_GROUP, sizeof *pp);
    if (!vals || !pp) st = hdb__fail(err, HDB_NOMEM, "out of memory updating rows");
    for (size_t off = 0; st == HDB_OK && off < l.n; off += ID_GROUP) {
      size_t m = l.n - off < ID_GROUP ? l.n - off : ID_GROUP;
      hdb__sql_buf b = {0};
      hdb__sql_buf_append(&b, set.s);
      hdb__sql_buf_append(&b, " WHERE id IN (");
      for (size_t i = 0; i < nset; i++) pp[i] = p.v[i];
      for (size_t i = 0; i < m; i++) {
        vals[i] = text_value(l.ids[off + i]);
        pp[nset + i] = &vals[i];
        hdb__sql_buf_append(&b, i ? ",?" : "?");
      }
      hdb__sql_buf_append(&b, ")");
      duckdb_result r;
      st = hdb__sql_buf_status(&b, err);
      if (st == HDB_OK) st = hdb__duck_run(c, b.s, pp, nset + m, &r, err, "updating rows");
      hdb__sql_buf_free(&b);
      if (st == HDB_OK) {
        *updated += duckdb_rows_changed(&r);
        duckdb_destroy_result(&r);
      }
    }
    hdb__free_mem(vals);
    hdb__free_mem(pp);
  }
done:
  id_list_free(&l);
  hdb__sql_buf_free(&set);
  hdb__sql_params_free(&p);
  return st;
}

hdb_status hdb__duck_update(void *conn, const char *table, const char *id,
                            const hdb__expr *filter, const hdb_record *patch, uint64_t *updated,
                            hdb_error *err) {
  hdb__duck_conn *c = conn;
  if (updated) *updated = 0;
  hdb_status st = hdb__duck_enter(c, 1, err);
  if (st != HDB_OK) return st;
  hdb__duck_table t;
  if ((st = hdb__duck_table_load(c, table, &t, err)) != HDB_OK) return st;
  hdb_record *pc = NULL;
  id_list l = {0};
  uint64_t n = 0;
  int own = 0, began = 0;
  /* The patch is conformed like a written record; null is kept (it clears). */
  if (!(pc = hdb_record_clone(patch))) {
    st = hdb__fail(err, HDB_NOMEM, "out of memory updating table '%s'", table);
    goto done;
  }
  if ((st = hdb__schema_conform(t.schema, table, pc, 0, err)) != HDB_OK) goto done;
  if (!id && filter && (st = hdb__filter_bind(filter, t.schema, table, err)) != HDB_OK) goto done;
  if ((st = hdb__duck_atomic_begin(c, &own, err)) != HDB_OK) goto done;
  began = 1;
  if (!t.schema || pc->n == 0) {
    /* Schemaless, or nothing to set: find the rows, rewrite documents. */
    l.keep_recs = !t.schema;
    if ((st = select_rows(c, &t, id, filter, &l, err)) != HDB_OK) goto done;
    if (!t.schema && (st = update_docs(c, &t, &l, pc, err)) != HDB_OK) goto done;
    n = l.n;
  } else {
    st = update_sql(c, &t, id, filter, pc, &n, err);
    if (st == HDB_OK && id && n == 0)
      st = hdb__fail(err, HDB_NOT_FOUND, "table '%s' has no row with id '%s'", table, id);
  }
done:
  if (began) st = hdb__duck_atomic_end(c, own, st, err);
  if (st == HDB_OK && updated) *updated = n;
  id_list_free(&l);
  hdb_record_free(pc);
  hdb__duck_table_free(&t);
  return st;
}

hdb_status hdb__duck_remove(void *conn, const char *table, const char *id,
                            const hdb__expr *filter, uint64_t *deleted, hdb_error *err) {
  hdb__duck_conn *c = conn;
  if (deleted) *deleted = 0;
  hdb_status st = hdb__duck_enter(c, 1, err);
  if (st != HDB_OK) return st;
  hdb__duck_table t;
  if ((st = hdb__duck_table_load(c, table, &t, err)) != HDB_OK) return st;
  hdb__sql_buf b = {0};
  hdb__sql_params p = {0};
  id_list l = {0};
  uint64_t n = 0;
  int own = 0, began = 0, pushed = 0;
  if (!id && filter && (st = hdb__filter_bind(filter, t.schema, table, err)) != HDB_OK) goto done;
  hdb__sql_buf_append(&b, "DELETE FROM ");
  hdb__duck_ident(&b, table);
  hdb_value iv = text_value(id ? id : "");
  if (id) {
    hdb__sql_buf_append(&b, " WHERE id = ");
    hdb__sql_param(&b, &p, HDB__SQL_DUCKDB, &iv);
    pushed = 1;
  } else if ((st = hdb__duck_where(&t, filter, &b, &p, &pushed, err)) != HDB_OK) {
    goto done;
  }
  if ((st = hdb__sql_buf_status(&b, err)) != HDB_OK) goto done;
  if ((st = hdb__duck_atomic_begin(c, &own, err)) != HDB_OK) goto done;
  began = 1;
  if (pushed) {
    duckdb_result r;
    if ((st = hdb__duck_run(c, b.s, p.v, p.n, &r, err, "deleting rows")) != HDB_OK) goto done;
    n = duckdb_rows_changed(&r);
    duckdb_destroy_result(&r);
    if (id && n == 0) st = hdb__fail(err, HDB_NOT_FOUND, "table '%s' has no row with id '%s'", table, id);
  } else {
    if ((st = select_rows(c, &t, NULL, filter, &l, err)) != HDB_OK) goto done;
    st = delete_ids(c, table, (const char *const *)l.ids, l.n, &n, err);
  }
done:
  if (began) st = hdb__duck_atomic_end(c, own, st, err);
  if (st == HDB_OK && deleted) *deleted = n;
  id_list_free(&l);
  hdb__sql_buf_free(&b);
  hdb__sql_params_free(&p);
  hdb__duck_table_free(&t);
  return st;
}

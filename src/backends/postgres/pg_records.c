/*
 * pg_records.c - rows on PostgreSQL: insert (COPY), upsert (INSERT ... ON
 * CONFLICT), get, update, delete.
 *
 * Every write first conforms the caller's records to the schema
 * (hdb__schema_conform: same checks and messages as every backend; a
 * record is cloned only when a value must be converted, so the caller's
 * records never change and the common case copies nothing) and checks
 * what PostgreSQL cannot store (timestamps beyond its range, NUL in
 * text), so a bad record fails before anything reaches the server.
 *
 * Insert: ids repeated inside the batch are found here (a hash set) and
 * reported with both positions; then one COPY ... FROM STDIN (FORMAT
 * binary) sends the batch. One statement is one transaction, so a
 * duplicate of an existing row (unique_violation 23505 on the primary key)
 * rolls the whole batch back; the id is read from the error's detail and
 * reported with its position in the batch. Inside hdb_begin the call's
 * savepoint gives the same all-or-nothing.
 *
 * Upsert: INSERT ... VALUES (..),(..) ON CONFLICT ("id") DO UPDATE SET
 * every column = EXCLUDED.column (the whole row is replaced). An id
 * repeated in the batch keeps its last record (PostgreSQL refuses to
 * update one row twice in a statement). Large batches are split into
 * statements of at most 32767 parameters inside one transaction.
 *
 * Update and delete: by id, or by a filter pushed into UPDATE/DELETE ...
 * WHERE; a filter evaluated here scans the table with FOR UPDATE inside
 * a transaction and then changes the rows by id (= ANY($n)). Schemaless
 * rows are read, patched with hdb__record_apply_patch and written back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/err.h"
#include "core/record.h"
#include "core/schema.h"

static const char *where_of(const hdb__pg_conn *c) { return hdb__pg_pool_where(c->pool); }

static uint64_t hash_id(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

/* Open-addressing set of batch positions keyed by id: the position of an
 * earlier record with recs[i]'s id, or SIZE_MAX after adding i. */
typedef struct idset {
  size_t *b;
  size_t mask;
} idset;

static size_t idset_add(idset *s, hdb_record *const *recs, size_t i) {
  for (size_t k = (size_t)hash_id(recs[i]->id) & s->mask;; k = (k + 1) & s->mask) {
    size_t j = s->b[k];
    if (j == SIZE_MAX) {
      s->b[k] = i;
      return SIZE_MAX;
    }
    if (strcmp(recs[j]->id, recs[i]->id) == 0) return j;
  }
}

static hdb_status idset_init(idset *s, size_t n, hdb_error *err) {
  size_t nb = 16;
  while (nb < 2 * n) nb *= 2;
  s->b = hdb__malloc(nb * sizeof *s->b);
  if (!s->b) return hdb__fail(err, HDB_NOMEM, "out of memory checking %zu ids", n);
  for (size_t k = 0; k < nb; k++) s->b[k] = SIZE_MAX;
  s->mask = nb - 1;
  return HDB_OK;
}

/* Whether conforming r to t would change a value: some field's type is
 * not its column's (a conversion), or it is not a column (an error that
 * conform reports). When it would not, conform only checks. */
static int needs_copy(const hdb__pg_table *t, const hdb_record *r) {
  if (!t->schema) return 0;
  for (size_t f = 0; f < r->n; f++) {
    const hdb__column *col = hdb__schema_column(t->schema, r->fields[f].name);
    hdb_type vt = r->fields[f].value.type;
    if (!col || (vt != HDB_TYPE_NULL && vt != col->type)) return 1;
  }
  return 0;
}

/* Records conformed to the table: rows[i] is records[i] itself when
 * conforming changes nothing (checked in place: hdb__schema_conform only
 * reads a value whose type already is its column's), else a conformed
 * clone, owned (*owned[i] = 1). The caller's records are never changed. */
static hdb_status conform_all(const hdb__pg_table *t, hdb_record *const *records, size_t n,
                              hdb_record ***out, unsigned char **owned_out, hdb_error *err) {
  hdb_record **rows = hdb__calloc(n, sizeof *rows);
  unsigned char *owned = hdb__calloc(n, 1);
  if (!rows || !owned) {
    hdb__free_mem(rows);
    hdb__free_mem(owned);
    return hdb__fail(err, HDB_NOMEM, "out of memory writing %zu records to '%s'", n, t->name);
  }
  hdb_status st = HDB_OK;
  for (size_t i = 0; i < n && st == HDB_OK; i++) {
    if (needs_copy(t, records[i])) {
      rows[i] = hdb_record_clone(records[i]);
      if (!rows[i]) {
        st = hdb__fail(err, HDB_NOMEM, "out of memory writing %zu records to '%s'", n, t->name);
        break;
      }
      owned[i] = 1;
    } else {
      rows[i] = records[i];
    }
    st = hdb__schema_conform(t->schema, t->name, rows[i], 1, err);
    if (st != HDB_OK) {
      if (err) hdb__err_prefix(err, "record %zu", i);
      break;
    }
    for (size_t f = 0; t->schema && f < rows[i]->n && st == HDB_OK; f++) {
      long ci = hdb_schema_find(t->schema, rows[i]->fields[f].name);
      if (ci >= 0)
        st = hdb__pg_value_storable(t->kinds[ci], &rows[i]->fields[f].value, t->name, rows[i]->id,
                                    rows[i]->fields[f].name, err);
    }
  }
  if (st != HDB_OK) {
    for (size_t i = 0; i < n; i++)
      if (owned[i]) hdb_record_free(rows[i]);
    hdb__free_mem(rows);
    hdb__free_mem(owned);
    return st;
  }
  *out = rows;
  *owned_out = owned;
  return HDB_OK;
}

/* ------------------------------------------------------------------ */
/* COPY                                                                */
/* ------------------------------------------------------------------ */

typedef struct copybuf {
  unsigned char *b;
  size_t len, cap;
} copybuf;

#define COPY_FLUSH (1u << 20)

static unsigned char *copy_room(copybuf *cb, size_t n) {
  if (cb->len + n > cb->cap) {
    size_t cap = cb->cap ? cb->cap : COPY_FLUSH + 4096;
    while (cap < cb->len + n) cap *= 2;
    unsigned char *p = hdb__realloc(cb->b, cap);
    if (!p) return NULL;
    cb->b = p;
    cb->cap = cap;
  }
  unsigned char *w = cb->b + cb->len;
  cb->len += n;
  return w;
}

static void put16(unsigned char *d, uint16_t v) {
  d[0] = (unsigned char)(v >> 8);
  d[1] = (unsigned char)v;
}

static void put32(unsigned char *d, uint32_t v) {
  d[0] = (unsigned char)(v >> 24);
  d[1] = (unsigned char)(v >> 16);
  d[2] = (unsigned char)(v >> 8);
  d[3] = (unsigned char)v;
}

/* Appends one field: length + bytes (or -1 for null). */
static int copy_field(copybuf *cb, const void *data, size_t len, int is_null) {
  unsigned char *w = copy_room(cb, 4 + (is_null ? 0 : len));
  if (!w) return -1;
  put32(w, is_null ? 0xFFFFFFFFu : (uint32_t)len);
  if (!is_null && len) memcpy(w + 4, data, len);
  return 0;
}

/* Appends one row in COPY binary format. */
static int copy_row(copybuf *cb, const hdb__pg_table *t, const hdb_record *r) {
  if (!t->schema) {
    char *doc = NULL;
    size_t dl = 0;
    if (hdb__sql_doc_encode(r, &doc, &dl) != HDB_OK) return -1;
    size_t il = strlen(r->id);
    unsigned char *w = copy_room(cb, 2 + 4 + il + 4 + dl);
    if (w) {
      put16(w, 2);
      put32(w + 2, (uint32_t)il);
      memcpy(w + 6, r->id, il);
      put32(w + 6 + il, (uint32_t)dl);
      memcpy(w + 10 + il, doc, dl);
    }
    hdb__free_mem(doc);
    return w ? 0 : -1;
  }
  size_t nc = t->schema->n;
  unsigned char *w = copy_room(cb, 2);
  if (!w) return -1;
  put16(w, (uint16_t)(nc + 1));
  if (copy_field(cb, r->id, strlen(r->id), 0) != 0) return -1;
  for (size_t i = 0; i < nc; i++) {
    const hdb_value *v = hdb__record_value(r, t->schema->cols[i].name);
    if (!v || v->type == HDB_TYPE_NULL) {
      if (copy_field(cb, NULL, 0, 1) != 0) return -1;
      continue;
    }
    size_t len = hdb__pg_encoded_size(t->kinds[i], v);
    unsigned char *f = copy_room(cb, 4 + len);
    if (!f) return -1;
    put32(f, (uint32_t)len);
    hdb__pg_encode(t->kinds[i], v, f + 4);
  }
  return 0;
}

/* "Key (id)=(abc) already exists." -> the position of that id in rows. */
static long dup_position(const PGresult *res, hdb_record *const *rows, size_t n, char *idbuf,
                         size_t cap) {
  const char *d = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
  idbuf[0] = '\0';
  if (!d || strncmp(d, "Key (id)=(", 10) != 0) return -1;
  const char *s = d + 10;
  const char *e = strstr(s, ") already exists");
  if (!e) return -1;
  snprintf(idbuf, cap, "%.*s", (int)(e - s), s);
  for (size_t i = 0; i < n; i++)
    if (strcmp(rows[i]->id, idbuf) == 0) return (long)i;
  return -1;
}

static hdb_status copy_in(hdb__pg_conn *c, PGconn *pg, const hdb__pg_table *t,
                          hdb_record *const *rows, size_t n, hdb_error *err) {
  hdb__sql_buf b = {0};
  copybuf cb = {0};
  hdb_status st = HDB_OK;
  hdb__sql_buf_append(&b, "COPY ");
  hdb__sql_buf_ident(&b, t->pgname);
  hdb__sql_buf_append(&b, " (\"id\"");
  if (t->schema) {
    for (size_t i = 0; i < t->schema->n; i++) {
      hdb__sql_buf_append(&b, ", ");
      hdb__sql_buf_ident(&b, t->schema->cols[i].name);
    }
  } else {
    hdb__sql_buf_append(&b, ", \"doc\"");
  }
  hdb__sql_buf_append(&b, ") FROM STDIN (FORMAT binary)");
  if ((st = hdb__sql_buf_status(&b, err)) != HDB_OK) goto done;
  PGresult *res = PQexec(pg, b.s);
  if (!res || PQresultStatus(res) != PGRES_COPY_IN) {
    st = hdb__pg_check(pg, res, PGRES_COPY_IN, where_of(c), "starting COPY", err);
    goto done;
  }
  PQclear(res);
  static const unsigned char header[19] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xFF, '\r', '\n', 0};
  unsigned char *w = copy_room(&cb, sizeof header);
  int bad = !w;
  if (w) memcpy(w, header, sizeof header);
  for (size_t i = 0; i < n && !bad; i++) {
    if (copy_row(&cb, t, rows[i]) != 0) {
      bad = 1;
      break;
    }
    if (cb.len >= COPY_FLUSH) {
      if (PQputCopyData(pg, (const char *)cb.b, (int)cb.len) != 1) bad = 2;
      cb.len = 0;
    }
  }
  if (!bad) {
    w = copy_room(&cb, 2);
    if (!w) bad = 1;
    else put16(w, 0xFFFF);
  }
  if (!bad && cb.len && PQputCopyData(pg, (const char *)cb.b, (int)cb.len) != 1) bad = 2;
  PQputCopyEnd(pg, bad == 1 ? "out of memory in the client" : NULL);
  PGresult *r;
  hdb_status copy_st = HDB_OK;
  int seen = 0;
  while ((r = PQgetResult(pg)) != NULL) {
    if (!seen) {
      seen = 1;
      if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        char idbuf[HDB_MAX_ID_LEN + 1];
        if (strcmp(hdb__pg_sqlstate(r), "23505") == 0) {
          long pos = dup_position(r, rows, n, idbuf, sizeof idbuf);
          if (pos >= 0)
            copy_st = hdb__fail(err, HDB_DUPLICATE_ID, "table '%s': record %ld: id '%s' already exists",
                                t->name, pos, idbuf);
          else
            copy_st = hdb__pg_fail_result(pg, r, where_of(c), "inserting", err);
        } else {
          copy_st = hdb__pg_fail_result(pg, r, where_of(c), "inserting (COPY)", err);
        }
      }
    }
    PQclear(r);
  }
  if (bad == 1) st = hdb__fail(err, HDB_NOMEM, "out of memory writing %zu records to '%s'", n, t->name);
  else if (copy_st != HDB_OK) st = copy_st;
  else if (bad == 2 || !seen) st = hdb__pg_fail_result(pg, NULL, where_of(c), "inserting (COPY)", err);
done:
  hdb__sql_buf_free(&b);
  hdb__free_mem(cb.b);
  return st;
}

/* ------------------------------------------------------------------ */
/* Upsert                                                              */
/* ------------------------------------------------------------------ */

static hdb_status upsert_chunk(hdb__pg_conn *c, PGconn *pg, const hdb__pg_table *t,
                               hdb_record *const *rows, const size_t *pick, size_t n,
                               hdb_error *err) {
  hdb__sql_buf b = {0};
  hdb__pg_params p = {0};
  size_t ncols = t->schema ? t->schema->n : 1;
  hdb__sql_buf_append(&b, "INSERT INTO ");
  hdb__sql_buf_ident(&b, t->pgname);
  hdb__sql_buf_append(&b, " (\"id\"");
  for (size_t i = 0; i < ncols; i++) {
    hdb__sql_buf_append(&b, ", ");
    hdb__sql_buf_ident(&b, t->schema ? t->schema->cols[i].name : "doc");
  }
  hdb__sql_buf_append(&b, ") VALUES ");
  char **docs = NULL;
  hdb_status enc = HDB_OK;
  if (!t->schema) {
    docs = hdb__calloc(n, sizeof *docs);
    if (!docs) p.oom = 1;
  }
  for (size_t r = 0; r < n && !p.oom && enc == HDB_OK; r++) {
    const hdb_record *rec = rows[pick[r]];
    hdb__sql_buf_append(&b, r ? ", (" : "(");
    hdb__sql_buf_appendf(&b, "$%d", hdb__pg_params_next(&p));
    hdb__pg_param_text(&p, rec->id, strlen(rec->id));
    if (!t->schema) {
      size_t dl = 0;
      if ((enc = hdb__sql_doc_encode(rec, &docs[r], &dl)) != HDB_OK) {
        hdb__fail(err, enc, "out of memory encoding record '%s'", rec->id);
        break;
      }
      hdb_value v = {.type = HDB_TYPE_JSON};
      v.as.text.data = docs[r];
      v.as.text.len = dl;
      hdb__sql_buf_appendf(&b, ", $%d", hdb__pg_params_next(&p));
      hdb__pg_param_value(&p, HDB__PGK_JSON, &v);
    } else {
      for (size_t i = 0; i < ncols; i++) {
        const hdb_value *v = hdb__record_value(rec, t->schema->cols[i].name);
        static const hdb_value null_value = {.type = HDB_TYPE_NULL};
        hdb__sql_buf_appendf(&b, ", $%d", hdb__pg_params_next(&p));
        hdb__pg_param_value(&p, t->kinds[i], v ? v : &null_value);
        if (!v || v->type == HDB_TYPE_NULL) p.types[p.n - 1] = hdb__pg_kind_oid(t->kinds[i]);
      }
    }
    hdb__sql_buf_append(&b, ")");
  }
  hdb__sql_buf_append(&b, " ON CONFLICT (\"id\") DO UPDATE SET ");
  for (size_t i = 0; i < ncols; i++) {
    const char *name = t->schema ? t->schema->cols[i].name : "doc";
    if (i) hdb__sql_buf_append(&b, ", ");
    hdb__sql_buf_ident(&b, name);
    hdb__sql_buf_append(&b, " = EXCLUDED.");
    hdb__sql_buf_ident(&b, name);
  }
  if (ncols == 0) hdb__sql_buf_append(&b, "\"id\" = EXCLUDED.\"id\"");
  hdb_status st = enc != HDB_OK ? enc : hdb__sql_buf_status(&b, err);
  if (st == HDB_OK && p.oom) st = hdb__fail(err, HDB_NOMEM, "out of memory upserting into '%s'", t->name);
  if (st == HDB_OK) st = hdb__pg_run(pg, where_of(c), b.s, &p, "upserting", err);
  if (docs)
    for (size_t i = 0; i < n; i++) hdb__free_mem(docs[i]);
  hdb__free_mem(docs);
  hdb__sql_buf_free(&b);
  hdb__pg_params_free(&p);
  return st;
}

static hdb_status upsert_all(hdb__pg_conn *c, PGconn *pg, const hdb__pg_table *t,
                             hdb_record *const *rows, size_t n, hdb_error *err) {
  /* The last record of each id, in batch order. */
  idset s = {0};
  hdb_status st = idset_init(&s, n, err);
  if (st != HDB_OK) return st;
  unsigned char *dropped = hdb__calloc(n, 1);
  size_t *pick = hdb__malloc(n * sizeof *pick);
  if (!dropped || !pick) {
    st = hdb__fail(err, HDB_NOMEM, "out of memory upserting into '%s'", t->name);
    goto done;
  }
  for (size_t i = 0; i < n; i++) {
    size_t j = idset_add(&s, rows, i);
    if (j != SIZE_MAX) {
      /* keep the slot pointing at the latest */
      for (size_t k = (size_t)hash_id(rows[i]->id) & s.mask;; k = (k + 1) & s.mask)
        if (s.b[k] == j) {
          s.b[k] = i;
          break;
        }
      dropped[j] = 1;
    }
  }
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (!dropped[i]) pick[m++] = i;
  size_t per_row = (t->schema ? t->schema->n : 1) + 1;
  size_t chunk = 32767 / per_row;
  if (chunk < 1) chunk = 1;
  if (chunk > 1000) chunk = 1000;
  int multi = m > chunk;
  if (multi && (st = hdb__pg_atomic_begin(c, pg, NULL, err)) != HDB_OK) goto done;
  for (size_t off = 0; off < m && st == HDB_OK; off += chunk)
    st = upsert_chunk(c, pg, t, rows, pick + off, m - off < chunk ? m - off : chunk, err);
  if (multi) st = hdb__pg_atomic_end(c, pg, st, err);
done:
  hdb__free_mem(s.b);
  hdb__free_mem(dropped);
  hdb__free_mem(pick);
  return st;
}

hdb_status hdb__pg_write(void *conn, const char *table, hdb_record *const *records, size_t n,
                         hdb__write_mode mode, hdb_error *err) {
  hdb__pg_conn *c = conn;
  PGconn *pg;
  hdb_status st = hdb__pg_enter(c, &pg, err);
  if (st != HDB_OK) return st;
  hdb__pg_table t;
  hdb_record **rows = NULL;
  unsigned char *owned = NULL;
  idset s = {0};
  st = hdb__pg_table_load(pg, where_of(c), table, &t, err);
  if (st != HDB_OK) goto out;
  if ((st = conform_all(&t, records, n, &rows, &owned, err)) != HDB_OK) goto done;
  if (mode == HDB__WRITE_INSERT) {
    if ((st = idset_init(&s, n, err)) != HDB_OK) goto done;
    for (size_t i = 0; i < n; i++) {
      size_t j = idset_add(&s, rows, i);
      if (j != SIZE_MAX) {
        st = hdb__fail(err, HDB_DUPLICATE_ID,
                       "table '%s': id '%s' appears twice in the batch (records %zu and %zu)",
                       table, rows[i]->id, j, i);
        goto done;
      }
    }
    st = copy_in(c, pg, &t, rows, n, err);
  } else {
    st = upsert_all(c, pg, &t, rows, n, err);
  }
done:
  if (rows)
    for (size_t i = 0; i < n; i++)
      if (owned[i]) hdb_record_free(rows[i]);
  hdb__free_mem(rows);
  hdb__free_mem(owned);
  hdb__free_mem(s.b);
  hdb__pg_table_free(&t);
out:
  return hdb__pg_leave(c, pg, st, err);
}

/* ------------------------------------------------------------------ */
/* Get                                                                 */
/* ------------------------------------------------------------------ */

/* Reads the row with this id (HDB_NOT_FOUND), with the full column list.
 * With stale non-NULL the statement also reads the catalog stamp and the
 * result is checked against t (pg_cache.c): *stale = 1 and HDB_CONFLICT
 * when t is out of date. */
static hdb_status get_row_checked(hdb__pg_conn *c, PGconn *pg, const hdb__pg_table *t,
                                  const char *id, const char *lock, hdb_record **out,
                                  int *stale, hdb_error *err) {
  *out = NULL;
  hdb__sql_buf b = {0};
  hdb__pg_params p = {0};
  size_t *cols = NULL, ncols = 0;
  hdb__sql_buf_append(&b, "SELECT ");
  hdb_status st = hdb__pg_select_list(t, NULL, 0, &b, &cols, &ncols, err);
  if (st != HDB_OK) goto done;
  if (stale) hdb__sql_buf_appendf(&b, ", " HDB__PG_STAMP_SQL, 2);
  hdb__sql_buf_append(&b, " FROM ");
  hdb__sql_buf_ident(&b, t->pgname);
  hdb__sql_buf_append(&b, " WHERE \"id\" = $1");
  if (lock) hdb__sql_buf_append(&b, lock);
  if ((st = hdb__sql_buf_status(&b, err)) != HDB_OK) goto done;
  hdb__pg_param_text(&p, id, strlen(id));
  if (stale) hdb__pg_param_text(&p, t->name, strlen(t->name));
  /* the checked (cache) path runs outside transactions only: prepared */
  PGresult *res = p.oom ? NULL
                        : hdb__pg_exec_cached(pg, stale && !c->in_txn ? hdb__pg_pool_session(c->pool, pg) : NULL,
                                              b.s, &p);
  st = hdb__pg_check(pg, res, PGRES_TUPLES_OK, where_of(c), "reading a row", err);
  if (st != HDB_OK) goto done;
  if (stale && !hdb__pg_result_current(t, res, cols, ncols, (int)ncols + 1 + (t->schema ? 0 : 1))) {
    PQclear(res);
    *stale = 1;
    st = hdb__fail(err, HDB_CONFLICT, "table '%s' changed while it was read", t->name);
    goto done;
  }
  if (PQntuples(res) == 0)
    st = hdb__fail(err, HDB_NOT_FOUND, "table '%s' has no row with id '%s'", t->name, id);
  else
    st = hdb__pg_row_record(t, res, 0, cols, ncols, out, err);
  PQclear(res);
done:
  hdb__sql_buf_free(&b);
  hdb__pg_params_free(&p);
  hdb__free_mem(cols);
  return st;
}

static hdb_status get_row(hdb__pg_conn *c, PGconn *pg, const hdb__pg_table *t, const char *id,
                          const char *lock, hdb_record **out, hdb_error *err) {
  return get_row_checked(c, pg, t, id, lock, out, NULL, err);
}

/* Outside a transaction the table's metadata comes from the pool's cache
 * and the one statement checks it (pg_cache.c); a stale entry, or any
 * failure with a cached one, reads the catalog and tries once more. */
hdb_status hdb__pg_get(void *conn, const char *table, const char *id, hdb_record **out,
                       hdb_error *err) {
  hdb__pg_conn *c = conn;
  *out = NULL;
  PGconn *pg;
  hdb_status st = hdb__pg_enter(c, &pg, err);
  if (st != HDB_OK) return st;
  hdb__pg_tcache *tc = hdb__pg_pool_tcache(c->pool);
  for (int attempt = 0;; attempt++) {
    hdb__pg_tentry *e;
    int cached = 0, stale = 0;
    st = hdb__pg_tcache_get(tc, pg, where_of(c), table, !c->in_txn && attempt == 0, !c->in_txn,
                            &e, &cached, err);
    if (st != HDB_OK) break;
    st = get_row_checked(c, pg, &e->t, id, NULL, out, &stale, err);
    hdb__pg_tcache_put(tc, e);
    if (st == HDB_OK || st == HDB_NOT_FOUND) break;
    if (cached && (stale || (st != HDB_UNAVAILABLE && st != HDB_NOMEM && st != HDB_BUSY &&
                             !hdb__pg_broken(pg) && PQtransactionStatus(pg) == PQTRANS_IDLE))) {
      hdb__pg_tcache_forget(tc, table);
      continue; /* once: the next attempt reads the catalog */
    }
    if (stale)
      st = hdb__fail(err, HDB_CONFLICT,
                     "table '%s' was changed by another handle (dropped or recreated) while it "
                     "was read; try again",
                     table);
    break;
  }
  return hdb__pg_leave(c, pg, st, err);
}

/* ------------------------------------------------------------------ */
/* Update and delete                                                   */
/* ------------------------------------------------------------------ */

typedef struct idlist {
  char **ids;
  size_t n, cap;
  hdb__rowbuf recs; /* schemaless update: the rows themselves */
  int keep_recs;
} idlist;

static hdb_status idlist_row(void *user, hdb_record *rec, hdb_error *err) {
  idlist *l = user;
  if (l->keep_recs) {
    hdb_status st = hdb__rowbuf_push(&l->recs, rec, 0);
    return st == HDB_OK ? HDB_OK : hdb__fail(err, st, "out of memory collecting rows");
  }
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 64;
    char **p = hdb__realloc(l->ids, cap * sizeof *p);
    if (!p) {
      hdb_record_free(rec);
      return hdb__fail(err, HDB_NOMEM, "out of memory collecting rows");
    }
    l->ids = p;
    l->cap = cap;
  }
  l->ids[l->n++] = rec->id; /* take the id, drop the rest */
  rec->id = NULL;
  hdb_record_free(rec);
  return HDB_OK;
}

static void idlist_free(idlist *l) {
  for (size_t i = 0; i < l->n; i++) hdb__free_mem(l->ids[i]);
  hdb__free_mem(l->ids);
  hdb__rowbuf_free(&l->recs);
}

/* Writes one schemaless row back whole. */
static hdb_status put_doc(hdb__pg_conn *c, PGconn *pg, const hdb__pg_table *t,
                          const hdb_record *rec, hdb_error *err) {
  char *doc = NULL;
  size_t dl = 0;
  hdb_status st = hdb__sql_doc_encode(rec, &doc, &dl);
  if (st != HDB_OK) return hdb__fail(err, st, "out of memory encoding record '%s'", rec->id);
  hdb__sql_buf b = {0};
  hdb__pg_params p = {0};
  hdb__sql_buf_append(&b, "UPDATE ");
  hdb__sql_buf_ident(&b, t->pgname);
  hdb__sql_buf_append(&b, " SET \"doc\" = $2 WHERE \"id\" = $1");
  hdb__pg_param_text(&p, rec->id, strlen(rec->id));
  hdb_value v = {.type = HDB_TYPE_JSON};
  v.as.text.data = doc;
  v.as.text.len = dl;
  hdb__pg_param_value(&p, HDB__PGK_JSON, &v);
  st = hdb__sql_buf_status(&b, err);
  if (st == HDB_OK && p.oom) st = hdb__fail(err, HDB_NOMEM, "out of memory updating '%s'", t->name);
  if (st == HDB_OK) st = hdb__pg_run(pg, where_of(c), b.s, &p, "updating a row", err);
  hdb__sql_buf_free(&b);
  hdb__pg_params_free(&p);
  hdb__free_mem(doc);
  return st;
}

static hdb_status update_in(hdb__pg_conn *c, PGconn *pg, const hdb__pg_table *t, const char *id,
                            const hdb__expr *filter, const hdb_record *patch, uint64_t *updated,
                            hdb_error *err) {
  hdb_record *pc = hdb_record_clone(patch);
  if (!pc) return hdb__fail(err, HDB_NOMEM, "out of memory updating table '%s'", t->name);
  hdb__pg_where w;
  memset(&w, 0, sizeof w);
  hdb__sql_buf b = {0};
  hdb__pg_params p = {0};
  idlist l = {0};
  hdb_status st = hdb__schema_conform(t->schema, t->name, pc, 0, err);
  if (st != HDB_OK) goto done;
  for (size_t f = 0; t->schema && f < pc->n && st == HDB_OK; f++) {
    long ci = hdb_schema_find(t->schema, pc->fields[f].name);
    if (ci >= 0)
      st = hdb__pg_value_storable(t->kinds[ci], &pc->fields[f].value, t->name, id,
                                  pc->fields[f].name, err);
  }
  if (st != HDB_OK) goto done;
  if (!id && (st = hdb__pg_where_build(t, filter, &w, err)) != HDB_OK) goto done;

  if (!t->schema) {
    /* Read, patch, write back each row. */
    l.keep_recs = 1;
    if (id) {
      hdb_record *rec = NULL;
      if ((st = get_row(c, pg, t, id, " FOR UPDATE", &rec, err)) != HDB_OK) goto done;
      if ((st = idlist_row(&l, rec, err)) != HDB_OK) goto done;
    } else {
      st = hdb__pg_scan(pg, where_of(c), t, filter, &w, " FOR UPDATE", idlist_row, &l, err);
      if (st != HDB_OK) goto done;
    }
    for (size_t i = 0; i < l.recs.n && st == HDB_OK; i++) {
      st = hdb__record_apply_patch(l.recs.rows[i], pc);
      if (st != HDB_OK) st = hdb__fail(err, st, "updating '%s' in '%s' failed", l.recs.rows[i]->id, t->name);
      else st = put_doc(c, pg, t, l.recs.rows[i], err);
    }
    if (st == HDB_OK && updated) *updated = l.recs.n;
    goto done;
  }

  /* Typed columns: UPDATE ... SET col = $n for each patched field. */
  hdb__sql_buf set = {0};
  for (size_t f = 0; f < pc->n; f++) {
    long ci = hdb_schema_find(t->schema, pc->fields[f].name);
    if (ci < 0) continue;
    if (set.len) hdb__sql_buf_append(&set, ", ");
    hdb__sql_buf_ident(&set, pc->fields[f].name);
    /* placeholders are numbered after the filter's parameters below */
    hdb__sql_buf_appendf(&set, " = $%zu", (size_t)f + 1);
  }
  if (!set.len) hdb__sql_buf_append(&set, "\"id\" = \"id\"");
  if ((st = hdb__sql_buf_status(&set, err)) != HDB_OK) {
    hdb__sql_buf_free(&set);
    goto done;
  }
  /* The patch values are $1..$k; the filter's literals follow, so its SQL
   * (numbered from $1 by the SQL layer) is rebuilt with an offset. */
  for (size_t f = 0; f < pc->n; f++) {
    long ci = hdb_schema_find(t->schema, pc->fields[f].name);
    hdb__pg_param_value(&p, ci >= 0 ? t->kinds[ci] : HDB__PGK_TEXT, &pc->fields[f].value);
    if (pc->fields[f].value.type == HDB_TYPE_NULL && ci >= 0) p.types[p.n - 1] = hdb__pg_kind_oid(t->kinds[ci]);
  }
  hdb__sql_buf_append(&b, "UPDATE ");
  hdb__sql_buf_ident(&b, t->pgname);
  hdb__sql_buf_append(&b, " SET ");
  hdb__sql_buf_append(&b, set.s);
  hdb__sql_buf_free(&set);
  if (id) {
    hdb__sql_buf_appendf(&b, " WHERE \"id\" = $%d", hdb__pg_params_next(&p));
    hdb__pg_param_text(&p, id, strlen(id));
  } else if (w.client) {
    if ((st = hdb__pg_scan(pg, where_of(c), t, filter, &w, " FOR UPDATE", idlist_row, &l, err)) != HDB_OK)
      goto done;
    if (l.n == 0) goto done;
    hdb__sql_buf_appendf(&b, " WHERE \"id\" = ANY($%d)", hdb__pg_params_next(&p));
    hdb__pg_param_text_array(&p, (const char *const *)l.ids, l.n);
  } else {
    hdb__sql_buf_append(&b, " WHERE ");
    st = hdb__pg_renumber(&b, w.sql.s, p.n, err);
    if (st != HDB_OK) goto done;
    hdb__pg_params_from_sql(&p, &w.params);
  }
  if ((st = hdb__sql_buf_status(&b, err)) != HDB_OK) goto done;
  if (p.oom) {
    st = hdb__fail(err, HDB_NOMEM, "out of memory updating table '%s'", t->name);
    goto done;
  }
  PGresult *res = hdb__pg_exec(pg, b.s, &p);
  st = hdb__pg_check(pg, res, PGRES_COMMAND_OK, where_of(c), "updating rows", err);
  if (st != HDB_OK) goto done;
  uint64_t n = strtoull(PQcmdTuples(res), NULL, 10);
  PQclear(res);
  if (id && n == 0) st = hdb__fail(err, HDB_NOT_FOUND, "table '%s' has no row with id '%s'", t->name, id);
  else if (updated) *updated = n;
done:
  idlist_free(&l);
  hdb__pg_where_free(&w);
  hdb__sql_buf_free(&b);
  hdb__pg_params_free(&p);
  hdb_record_free(pc);
  return st;
}

hdb_status hdb__pg_update(void *conn, const char *table, const char *id, const hdb__expr *filter,
                          const hdb_record *patch, uint64_t *updated, hdb_error *err) {
  hdb__pg_conn *c = conn;
  if (updated) *updated = 0;
  PGconn *pg;
  hdb_status st = hdb__pg_enter(c, &pg, err);
  if (st != HDB_OK) return st;
  hdb__pg_table t;
  st = hdb__pg_table_load(pg, where_of(c), table, &t, err);
  if (st == HDB_OK) {
    st = hdb__pg_atomic_begin(c, pg, NULL, err);
    if (st == HDB_OK) {
      st = update_in(c, pg, &t, id, filter, patch, updated, err);
      st = hdb__pg_atomic_end(c, pg, st, err);
    }
    hdb__pg_table_free(&t);
  }
  if (st != HDB_OK && updated) *updated = 0;
  return hdb__pg_leave(c, pg, st, err);
}

static hdb_status remove_in(hdb__pg_conn *c, PGconn *pg, const hdb__pg_table *t, const char *id,
                            const hdb__expr *filter, uint64_t *deleted, hdb_error *err) {
  hdb__pg_where w;
  memset(&w, 0, sizeof w);
  hdb__sql_buf b = {0};
  hdb__pg_params p = {0};
  idlist l = {0};
  hdb_status st = HDB_OK;
  if (!id && (st = hdb__pg_where_build(t, filter, &w, err)) != HDB_OK) goto done;
  hdb__sql_buf_append(&b, "DELETE FROM ");
  hdb__sql_buf_ident(&b, t->pgname);
  if (id) {
    hdb__sql_buf_append(&b, " WHERE \"id\" = $1");
    hdb__pg_param_text(&p, id, strlen(id));
  } else if (w.client) {
    if ((st = hdb__pg_scan(pg, where_of(c), t, filter, &w, " FOR UPDATE", idlist_row, &l, err)) != HDB_OK)
      goto done;
    if (l.n == 0) goto done;
    hdb__sql_buf_append(&b, " WHERE \"id\" = ANY($1)");
    hdb__pg_param_text_array(&p, (const char *const *)l.ids, l.n);
  } else {
    hdb__sql_buf_append(&b, " WHERE ");
    hdb__sql_buf_append(&b, w.sql.s);
    hdb__pg_params_from_sql(&p, &w.params);
  }
  if ((st = hdb__sql_buf_status(&b, err)) != HDB_OK) goto done;
  if (p.oom) {
    st = hdb__fail(err, HDB_NOMEM, "out of memory deleting from '%s'", t->name);
    goto done;
  }
  PGresult *res = hdb__pg_exec(pg, b.s, &p);
  st = hdb__pg_check(pg, res, PGRES_COMMAND_OK, where_of(c), "deleting rows", err);
  if (st != HDB_OK) goto done;
  uint64_t n = strtoull(PQcmdTuples(res), NULL, 10);
  PQclear(res);
  if (id && n == 0) st = hdb__fail(err, HDB_NOT_FOUND, "table '%s' has no row with id '%s'", t->name, id);
  else if (deleted) *deleted = n;
done:
  idlist_free(&l);
  hdb__pg_where_free(&w);
  hdb__sql_buf_free(&b);
  hdb__pg_params_free(&p);
  return st;
}

hdb_status hdb__pg_remove(void *conn, const char *table, const char *id, const hdb__expr *filter,
                          uint64_t *deleted, hdb_error *err) {
  hdb__pg_conn *c = conn;
  if (deleted) *deleted = 0;
  PGconn *pg;
  hdb_status st = hdb__pg_enter(c, &pg, err);
  if (st != HDB_OK) return st;
  hdb__pg_table t;
  st = hdb__pg_table_load(pg, where_of(c), table, &t, err);
  if (st == HDB_OK) {
    int atomic = !id; /* a scan then a delete must be one step */
    if (atomic) st = hdb__pg_atomic_begin(c, pg, NULL, err);
    if (st == HDB_OK) {
      st = remove_in(c, pg, &t, id, filter, deleted, err);
      if (atomic) st = hdb__pg_atomic_end(c, pg, st, err);
    }
    hdb__pg_table_free(&t);
  }
  if (st != HDB_OK && deleted) *deleted = 0;
  return hdb__pg_leave(c, pg, st, err);
}

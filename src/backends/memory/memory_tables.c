/*
 * memory_tables.c - tables and rows of the memory backend: create, drop,
 * list, schema; write (insert/upsert), get, update, remove.
 *
 * Every change follows the same shape so that a failed call changes
 * nothing: (1) check and build everything new (conformed clones, new rows,
 * room in the table) while the table is untouched, (2) apply with
 * operations that cannot fail, (3) report. Copying a shared table
 * (hdb__mem_table_writable) and compaction happen in step 1; neither
 * changes what a reader can observe.
 */
#include <string.h>

#include "memory.h"

#include "core/alloc.h"
#include "core/err.h"
#include "core/filter.h"
#include "core/schema.h"

/* ------------------------------------------------------------------ */
/* Tables                                                              */
/* ------------------------------------------------------------------ */

hdb_status hdb__mem_table_create(void *conn, const char *table, const hdb_schema *schema,
                                 unsigned flags, hdb_error *err) {
  hdb__mem_conn *c = conn;
  hdb__mem_state *st;
  hdb_status rc = hdb__mem_write_begin(c, &st, err);
  if (rc != HDB_OK) return rc;
  int changed = 0;
  size_t pos;
  if (hdb__mem_table_find(st, table, &pos)) {
    if (!(flags & HDB_IF_NOT_EXISTS)) rc = hdb__fail(err, HDB_EXISTS, "table '%s' already exists", table);
    goto done;
  }
  if (st->n_tables == st->cap_tables) {
    size_t cap = st->cap_tables ? 2 * st->cap_tables : 8;
    hdb__mem_table **p = hdb__realloc(st->tables, cap * sizeof *p);
    if (!p) {
      rc = hdb__fail(err, HDB_NOMEM, "out of memory creating table '%s'", table);
      goto done;
    }
    st->tables = p;
    st->cap_tables = cap;
  }
  hdb__mem_table *t = hdb__mem_table_new(table, schema);
  if (!t) {
    rc = hdb__fail(err, HDB_NOMEM, "out of memory creating table '%s'", table);
    goto done;
  }
  memmove(st->tables + pos + 1, st->tables + pos, (st->n_tables - pos) * sizeof *st->tables);
  st->tables[pos] = t;
  st->n_tables++;
  changed = 1;
done:
  hdb__mem_write_end(c, changed);
  return rc;
}

hdb_status hdb__mem_table_drop(void *conn, const char *table, unsigned flags, hdb_error *err) {
  hdb__mem_conn *c = conn;
  hdb__mem_state *st;
  hdb_status rc = hdb__mem_write_begin(c, &st, err);
  if (rc != HDB_OK) return rc;
  int changed = 0;
  size_t pos;
  hdb__mem_table *t = hdb__mem_table_find(st, table, &pos);
  if (!t) {
    if (!(flags & HDB_IF_EXISTS)) rc = hdb__fail(err, HDB_NO_TABLE, "no table '%s'", table);
  } else {
    /* The table's rows and index metadata go with it. */
    memmove(st->tables + pos, st->tables + pos + 1, (st->n_tables - pos - 1) * sizeof *st->tables);
    st->n_tables--;
    hdb__mem_table_release(t);
    changed = 1;
  }
  hdb__mem_write_end(c, changed);
  return rc;
}

hdb_status hdb__mem_table_list(void *conn, char ***names, size_t *count, hdb_error *err) {
  hdb__mem_conn *c = conn;
  hdb__mem_state *st = hdb__mem_read_begin(c);
  hdb_status rc = HDB_OK;
  char **out = NULL;
  size_t n = st->n_tables;
  *names = NULL;
  *count = 0;
  if (n) {
    out = hdb__calloc(n, sizeof *out);
    if (!out) {
      rc = hdb__fail(err, HDB_NOMEM, "out of memory listing tables");
      goto done;
    }
    /* The state keeps tables sorted by strcmp, i.e. by bytes. */
    for (size_t i = 0; i < n; i++) {
      out[i] = hdb__strdup(st->tables[i]->name);
      if (!out[i]) {
        hdb_strings_free(out, i);
        out = NULL;
        rc = hdb__fail(err, HDB_NOMEM, "out of memory listing tables");
        goto done;
      }
    }
  }
  *names = out;
  *count = n;
done:
  hdb__mem_read_end(c);
  return rc;
}

hdb_status hdb__mem_table_schema(void *conn, const char *table, hdb_schema **schema,
                                 hdb_error *err) {
  hdb__mem_conn *c = conn;
  hdb__mem_state *st = hdb__mem_read_begin(c);
  hdb__mem_table *t;
  *schema = NULL;
  hdb_status rc = hdb__mem_table_lookup(st, table, &t, err);
  if (rc == HDB_OK && t->schema) {
    *schema = hdb_schema_clone(t->schema);
    if (!*schema) rc = hdb__fail(err, HDB_NOMEM, "out of memory copying the schema of '%s'", table);
  }
  hdb__mem_read_end(c);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Write                                                               */
/* ------------------------------------------------------------------ */

/* Batch-local id set for insert: an open-addressing hash of record
 * positions, so a batch is checked for repeats in O(n). */
typedef struct batch_ids {
  size_t *b; /* HDB__MEM_EMPTY or a position in rows[] */
  size_t mask;
} batch_ids;

/* The position of an earlier record with row's id, or HDB__MEM_EMPTY after
 * adding position i. */
static size_t batch_ids_add(batch_ids *s, hdb__mem_row *const *rows, size_t i) {
  const hdb__mem_row *row = rows[i];
  for (size_t k = (size_t)row->hash & s->mask;; k = (k + 1) & s->mask) {
    size_t j = s->b[k];
    if (j == HDB__MEM_EMPTY) {
      s->b[k] = i;
      return HDB__MEM_EMPTY;
    }
    if (rows[j]->hash == row->hash && strcmp(rows[j]->rec->id, row->rec->id) == 0) return j;
  }
}

hdb_status hdb__mem_write(void *conn, const char *table, hdb_record *const *records, size_t n,
                          hdb__write_mode mode, hdb_error *err) {
  hdb__mem_conn *c = conn;
  hdb__mem_state *st;
  hdb_status rc = hdb__mem_write_begin(c, &st, err);
  if (rc != HDB_OK) return rc;
  hdb__mem_row **rows = NULL;
  batch_ids seen = {NULL, 0};
  int changed = 0;
  hdb__mem_table *t;

  rc = hdb__mem_table_lookup(st, table, &t, err);
  if (rc != HDB_OK || n == 0) goto done;
  rows = hdb__calloc(n, sizeof *rows);
  if (!rows) goto nomem;
  if (mode == HDB__WRITE_INSERT) {
    size_t nb = 16;
    while (nb < 2 * n) nb *= 2;
    seen.b = hdb__malloc(nb * sizeof *seen.b);
    if (!seen.b) goto nomem;
    for (size_t k = 0; k < nb; k++) seen.b[k] = HDB__MEM_EMPTY;
    seen.mask = nb - 1;
  }

  /* Step 1: conform a clone of each record (the caller's stay untouched)
   * and check ids, in order, so the first bad record is the one reported. */
  for (size_t i = 0; i < n; i++) {
    hdb_record *rec = hdb_record_clone(records[i]);
    if (!rec) goto nomem;
    rc = hdb__schema_conform(t->schema, table, rec, 1, err);
    if (rc != HDB_OK) {
      hdb_record_free(rec);
      if (err) hdb__err_prefix(err, "batch item %zu", i);
      goto done;
    }
    rows[i] = hdb__mem_row_new(rec);
    if (!rows[i]) {
      hdb_record_free(rec);
      goto nomem;
    }
    if (mode == HDB__WRITE_INSERT) {
      if (hdb__mem_table_slot(t, rows[i]->rec->id) != HDB__MEM_EMPTY) {
        rc = hdb__fail(err, HDB_DUPLICATE_ID, "table '%s': batch item %zu: id '%s' already exists",
                       table, i, rows[i]->rec->id);
        goto done;
      }
      size_t j = batch_ids_add(&seen, rows, i);
      if (j != HDB__MEM_EMPTY) {
        rc = hdb__fail(err, HDB_DUPLICATE_ID,
                       "table '%s': id '%s' appears twice in the batch (records %zu and %zu)",
                       table, rows[i]->rec->id, j, i);
        goto done;
      }
    }
  }
  rc = hdb__mem_table_writable(st, table, &t, err);
  if (rc != HDB_OK) goto done;
  rc = hdb__mem_table_reserve(t, n, err);
  if (rc != HDB_OK) goto done;

  /* Step 2: apply; nothing below allocates. Upsert goes in batch order, so
   * an id repeated in the batch ends with its last record, in the position
   * of its first (or of the existing row). */
  for (size_t i = 0; i < n; i++) {
    size_t slot = hdb__mem_table_slot(t, rows[i]->rec->id);
    if (slot != HDB__MEM_EMPTY)
      hdb__mem_table_replace(t, slot, rows[i]);
    else
      hdb__mem_table_append(t, rows[i]);
    rows[i] = NULL;
  }
  changed = 1;
  goto done;
nomem:
  rc = hdb__fail(err, HDB_NOMEM, "out of memory writing %zu records to table '%s'", n, table);
done:
  if (rows)
    for (size_t i = 0; i < n; i++) hdb__mem_row_release(rows[i]);
  hdb__free_mem(rows);
  hdb__free_mem(seen.b);
  hdb__mem_write_end(c, changed);
  return rc;
}

hdb_status hdb__mem_get(void *conn, const char *table, const char *id, hdb_record **out,
                        hdb_error *err) {
  hdb__mem_conn *c = conn;
  hdb__mem_state *st = hdb__mem_read_begin(c);
  hdb__mem_table *t;
  *out = NULL;
  hdb_status rc = hdb__mem_table_lookup(st, table, &t, err);
  if (rc == HDB_OK) {
    size_t slot = hdb__mem_table_slot(t, id);
    if (slot == HDB__MEM_EMPTY) {
      rc = hdb__fail(err, HDB_NOT_FOUND, "table '%s' has no row with id '%s'", table, id);
    } else {
      *out = hdb_record_clone(t->slots[slot]->rec);
      if (!*out) rc = hdb__fail(err, HDB_NOMEM, "out of memory reading '%s' from '%s'", id, table);
    }
  }
  hdb__mem_read_end(c);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Update and remove                                                   */
/* ------------------------------------------------------------------ */

/* Slots of rows matching filter, in insertion order; *out owned (may be
 * NULL when *n is 0). */
static hdb_status match_slots(const hdb__mem_table *t, const hdb__expr *filter, size_t **out,
                              size_t *n, hdb_error *err) {
  *out = NULL;
  *n = 0;
  if (!t->n_rows) return HDB_OK;
  size_t *s = hdb__malloc(t->n_rows * sizeof *s);
  if (!s) return hdb__fail(err, HDB_NOMEM, "out of memory scanning table '%s'", t->name);
  size_t m = 0;
  for (size_t i = 0; i < t->n_slots; i++)
    if (t->slots[i] && (!filter || hdb__filter_match(filter, t->slots[i]->rec))) s[m++] = i;
  *out = s;
  *n = m;
  return HDB_OK;
}

/* The row `old` with the conformed patch applied, as a new row. */
static hdb_status patched_row(const hdb__mem_row *old, const hdb_record *patch,
                              const char *table, hdb__mem_row **out, hdb_error *err) {
  *out = NULL;
  hdb_record *rec = hdb_record_clone(old->rec);
  if (!rec) return hdb__fail(err, HDB_NOMEM, "out of memory updating '%s' in '%s'", old->rec->id, table);
  hdb_status rc = hdb__record_apply_patch(rec, patch);
  if (rc != HDB_OK) {
    hdb_record_free(rec);
    return hdb__fail(err, rc, "updating '%s' in '%s' failed: %s", old->rec->id, table,
                     hdb_status_message(rc));
  }
  *out = hdb__mem_row_new(rec);
  if (!*out) {
    hdb_record_free(rec);
    return hdb__fail(err, HDB_NOMEM, "out of memory updating '%s' in '%s'", old->rec->id, table);
  }
  return HDB_OK;
}

hdb_status hdb__mem_update(void *conn, const char *table, const char *id,
                           const hdb__expr *filter, const hdb_record *patch, uint64_t *updated,
                           hdb_error *err) {
  hdb__mem_conn *c = conn;
  hdb__mem_state *st;
  if (updated) *updated = 0;
  hdb_status rc = hdb__mem_write_begin(c, &st, err);
  if (rc != HDB_OK) return rc;
  hdb_record *pc = NULL;
  size_t *slots = NULL, n = 0;
  hdb__mem_row **rows = NULL;
  int changed = 0;
  hdb__mem_table *t;

  rc = hdb__mem_table_lookup(st, table, &t, err);
  if (rc != HDB_OK) goto done;
  /* The patch is conformed field by field like a written record: on a
   * strict table each field must be a column; null is kept (it clears). */
  pc = hdb_record_clone(patch);
  if (!pc) {
    rc = hdb__fail(err, HDB_NOMEM, "out of memory updating table '%s'", table);
    goto done;
  }
  rc = hdb__schema_conform(t->schema, table, pc, 0, err);
  if (rc != HDB_OK) goto done;

  if (id) {
    size_t slot = hdb__mem_table_slot(t, id);
    if (slot == HDB__MEM_EMPTY) {
      rc = hdb__fail(err, HDB_NOT_FOUND, "table '%s' has no row with id '%s'", table, id);
      goto done;
    }
    slots = hdb__malloc(sizeof *slots);
    if (!slots) {
      rc = hdb__fail(err, HDB_NOMEM, "out of memory updating table '%s'", table);
      goto done;
    }
    slots[0] = slot;
    n = 1;
  } else {
    if (filter) rc = hdb__filter_bind(filter, t->schema, table, err);
    if (rc != HDB_OK) goto done;
    rc = match_slots(t, filter, &slots, &n, err);
    if (rc != HDB_OK || n == 0) goto done;
  }
  rows = hdb__calloc(n, sizeof *rows);
  if (!rows) {
    rc = hdb__fail(err, HDB_NOMEM, "out of memory updating table '%s'", table);
    goto done;
  }
  for (size_t i = 0; i < n; i++) {
    rc = patched_row(t->slots[slots[i]], pc, table, &rows[i], err);
    if (rc != HDB_OK) goto done;
  }
  /* The copy keeps slot numbers (no compaction happens in writable). */
  rc = hdb__mem_table_writable(st, table, &t, err);
  if (rc != HDB_OK) goto done;
  for (size_t i = 0; i < n; i++) {
    hdb__mem_table_replace(t, slots[i], rows[i]);
    rows[i] = NULL;
  }
  if (updated) *updated = n;
  changed = 1;
done:
  if (rows)
    for (size_t i = 0; i < n; i++) hdb__mem_row_release(rows[i]);
  hdb__free_mem(rows);
  hdb__free_mem(slots);
  hdb_record_free(pc);
  hdb__mem_write_end(c, changed);
  return rc;
}

hdb_status hdb__mem_remove(void *conn, const char *table, const char *id,
                           const hdb__expr *filter, uint64_t *deleted, hdb_error *err) {
  hdb__mem_conn *c = conn;
  hdb__mem_state *st;
  if (deleted) *deleted = 0;
  hdb_status rc = hdb__mem_write_begin(c, &st, err);
  if (rc != HDB_OK) return rc;
  size_t *slots = NULL, n = 0;
  int changed = 0;
  hdb__mem_table *t;

  rc = hdb__mem_table_lookup(st, table, &t, err);
  if (rc != HDB_OK) goto done;
  if (id) {
    if (hdb__mem_table_slot(t, id) == HDB__MEM_EMPTY) {
      rc = hdb__fail(err, HDB_NOT_FOUND, "table '%s' has no row with id '%s'", table, id);
      goto done;
    }
    rc = hdb__mem_table_writable(st, table, &t, err);
    if (rc != HDB_OK) goto done;
    hdb__mem_table_remove_slot(t, hdb__mem_table_slot(t, id));
    n = 1;
  } else {
    if (filter) rc = hdb__filter_bind(filter, t->schema, table, err);
    if (rc != HDB_OK) goto done;
    rc = match_slots(t, filter, &slots, &n, err);
    if (rc != HDB_OK || n == 0) goto done;
    rc = hdb__mem_table_writable(st, table, &t, err);
    if (rc != HDB_OK) goto done;
    for (size_t i = 0; i < n; i++) hdb__mem_table_remove_slot(t, slots[i]);
  }
  hdb__mem_table_maybe_compact(t);
  if (deleted) *deleted = n;
  changed = 1;
done:
  hdb__free_mem(slots);
  hdb__mem_write_end(c, changed);
  return rc;
}

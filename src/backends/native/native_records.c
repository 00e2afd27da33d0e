/*
 * native_records.c - write (insert/upsert), get, update and remove on
 * native:// tables: each call maps to one table-engine call, which is one
 * commit (one new version), all-or-nothing. Conforming records to the
 * schema, duplicate-id checks and the writer lock are the engine's.
 *
 * Filters of update/remove are bound here against the newest version's
 * schema (the engine expects bound filters). Indexes are not touched:
 * rows written after an index was built are its unindexed tail, which
 * search scans exactly (native.h, invariant 3).
 */
#include <string.h>

#include "native.h"

#include "core/alloc.h"
#include "core/err.h"
#include "core/filter.h"

/* Binds filter against the newest schema of t. */
static hdb_status bind_latest(nat_table *t, const hdb__expr *filter, hdb_error *err) {
  if (!filter) return HDB_OK;
  hdb__tbl_snap *s = NULL;
  hdb_status rc = hdb__nat_pin(t, 0, &s, err);
  if (rc == HDB_OK) rc = hdb__filter_bind(filter, hdb__tbl_snap_schema(s), t->name, err);
  hdb__tbl_unpin(s);
  return rc;
}

hdb_status hdb__nat_write(void *conn, const char *table, hdb_record *const *records, size_t n,
                          hdb__write_mode mode, hdb_error *err) {
  nat_conn *c = conn;
  hdb_status rc = hdb__nat_writable(c, err);
  if (rc != HDB_OK) return rc;
  nat_table *t;
  rc = hdb__nat_table_get(c, table, &t, err);
  if (rc != HDB_OK) return rc;
  if (n > 0)
    rc = hdb__tbl_write(t->tbl, records, n,
                        mode == HDB__WRITE_UPSERT ? HDB__TBL_UPSERT : HDB__TBL_INSERT, NULL, err);
  hdb__nat_table_put(t);
  return rc;
}

hdb_status hdb__nat_get(void *conn, const char *table, const char *id, hdb_record **out,
                        hdb_error *err) {
  nat_conn *c = conn;
  *out = NULL;
  nat_table *t;
  hdb_status rc = hdb__nat_table_get(c, table, &t, err);
  if (rc != HDB_OK) return rc;
  hdb__tbl_snap *s = NULL;
  rc = hdb__nat_pin(t, 0, &s, err);
  if (rc == HDB_OK) {
    rc = hdb__tbl_get(s, id, out, err);
    if (rc == HDB_NOT_FOUND)
      rc = hdb__fail(err, HDB_NOT_FOUND, "table '%s' has no row with id '%s'", table, id);
  }
  hdb__tbl_unpin(s);
  hdb__nat_table_put(t);
  return rc;
}

hdb_status hdb__nat_update(void *conn, const char *table, const char *id,
                           const hdb__expr *filter, const hdb_record *patch, uint64_t *updated,
                           hdb_error *err) {
  nat_conn *c = conn;
  if (updated) *updated = 0;
  hdb_status rc = hdb__nat_writable(c, err);
  if (rc != HDB_OK) return rc;
  nat_table *t;
  rc = hdb__nat_table_get(c, table, &t, err);
  if (rc != HDB_OK) return rc;
  if (!id) rc = bind_latest(t, filter, err);
  if (rc == HDB_OK) rc = hdb__tbl_update(t->tbl, id, id ? NULL : filter, patch, updated, err);
  if (rc == HDB_NOT_FOUND && id)
    rc = hdb__fail(err, HDB_NOT_FOUND, "table '%s' has no row with id '%s'", table, id);
  hdb__nat_table_put(t);
  return rc;
}

hdb_status hdb__nat_remove(void *conn, const char *table, const char *id,
                           const hdb__expr *filter, uint64_t *deleted, hdb_error *err) {
  nat_conn *c = conn;
  if (deleted) *deleted = 0;
  hdb_status rc = hdb__nat_writable(c, err);
  if (rc != HDB_OK) return rc;
  nat_table *t;
  rc = hdb__nat_table_get(c, table, &t, err);
  if (rc != HDB_OK) return rc;
  if (!id) rc = bind_latest(t, filter, err);
  if (rc == HDB_OK) rc = hdb__tbl_delete(t->tbl, id, id ? NULL : filter, deleted, err);
  if (rc == HDB_NOT_FOUND && id)
    rc = hdb__fail(err, HDB_NOT_FOUND, "table '%s' has no row with id '%s'", table, id);
  hdb__nat_table_put(t);
  return rc;
}

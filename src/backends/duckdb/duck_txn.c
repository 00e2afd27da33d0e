/*
 * duck_txn.c - user transactions on a duckdb:// handle.
 *
 *   none --begin--> open (BEGIN TRANSACTION on the handle's connection)
 *   open --commit--> none (COMMIT; a write-write conflict with a handle
 *                    that committed first is HDB_CONFLICT, and DuckDB has
 *                    rolled the transaction back)
 *   open --rollback / close--> none (ROLLBACK)
 *   open --a statement fails--> failed: DuckDB's transaction was rolled
 *                    back at once (duck.h invariant 4); every call but
 *                    commit/rollback answers HDB_TXN_STATE
 *   failed --rollback--> none (HDB_OK)
 *   failed --commit--> none (the original failure, e.g. HDB_CONFLICT)
 *
 * DuckDB's concurrency control is optimistic: a conflicting write shows
 * either at the write ("Conflict on update!" -> HDB_CONFLICT, the
 * transaction fails) or at COMMIT. Reads never block and see the snapshot
 * taken at the transaction's first statement.
 */
#include "duck.h"

#include "core/err.h"

/* The transaction is over: if it created or dropped tables, every
 * handle's cached definitions reload (duck_schema.c, C1). */
static void txn_over(hdb__duck_conn *c) {
  c->in_txn = 0;
  if (c->txn_ddl) hdb__duck_catalog_changed(c);
  c->txn_ddl = 0;
}

hdb_status hdb__duck_begin(void *conn, hdb_error *err) {
  hdb__duck_conn *c = conn;
  if (c->in_txn) return hdb__fail(err, HDB_TXN_STATE, "a transaction is already open on this handle");
  hdb_status st = hdb__duck_exec(c, "BEGIN TRANSACTION", err, "beginning a transaction");
  if (st != HDB_OK) return st;
  c->in_txn = 1;
  c->txn_ddl = 0;
  c->failed = HDB_OK;
  return HDB_OK;
}

hdb_status hdb__duck_commit(void *conn, hdb_error *err) {
  hdb__duck_conn *c = conn;
  if (!c->in_txn) return hdb__fail(err, HDB_TXN_STATE, "commit without a transaction (call hdb_begin first)");
  if (c->failed != HDB_OK) {
    hdb_status st = c->failed;
    txn_over(c);
    c->failed = HDB_OK;
    return hdb__fail(err, st, "the transaction failed earlier and was rolled back: %s",
                     c->failed_msg);
  }
  c->in_txn = 0;
  /* atomic_end with own = 1 commits, maps a conflict, and rolls back on failure. */
  hdb_status st = hdb__duck_atomic_end(c, 1, HDB_OK, err);
  txn_over(c);
  return st;
}

hdb_status hdb__duck_rollback(void *conn, hdb_error *err) {
  hdb__duck_conn *c = conn;
  if (!c->in_txn) return hdb__fail(err, HDB_TXN_STATE, "rollback without a transaction");
  c->in_txn = 0;
  if (c->failed != HDB_OK) { /* already rolled back in DuckDB */
    c->failed = HDB_OK;
    txn_over(c);
    return HDB_OK;
  }
  hdb_status st = hdb__duck_exec(c, "ROLLBACK", err, "rolling back");
  txn_over(c);
  return st;
}

/*
 * sqlite_txn.c - transactions of the sqlite:// backend.
 *
 *   no txn --hdb_begin: BEGIN (deferred)--> open
 *   open --hdb_commit: COMMIT--> no txn   (on failure: ROLLBACK, no txn)
 *   open --hdb_rollback: ROLLBACK / close--> no txn
 *   open --a write meets SQLITE_BUSY_SNAPSHOT--> no txn (rolled back), HDB_CONFLICT
 *
 * hdb_begin is DEFERRED so that two handles can each hold a transaction:
 * the first read pins a WAL snapshot (snapshot isolation), the first write
 * takes SQLite's single write lock. A write whose snapshot is older than
 * the last commit cannot take the lock (SQLITE_BUSY_SNAPSHOT): that is a
 * conflict, first committer wins, and the transaction is rolled back.
 * Waiting for another writer's lock follows busy_timeout; running out is
 * HDB_BUSY and leaves the transaction open.
 *
 * Each write call (insert, update, delete, KV batch, DDL) runs inside
 * hdb__sq_write_begin/_end: a SAVEPOINT when hdb_begin's transaction is
 * open, else BEGIN IMMEDIATE, so a call is all-or-nothing either way.
 */
#include "sqlite.h"

#include "core/err.h"

hdb_status hdb__sq_write_begin(hdb__sq_conn *c, hdb_error *err) {
  if (c->read_only)
    return hdb__fail(err, HDB_READ_ONLY, "sqlite://%s was opened read-only", c->memory ? ":memory:" : c->path);
  if (c->in_txn) return hdb__sq_exec(c, "SAVEPOINT hdb_write", err);
  int rc = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
  if (rc != SQLITE_OK) return hdb__sq_fail(c, rc, err, "starting a write");
  return HDB_OK;
}

static void txn_lost(hdb__sq_conn *c) {
  if (sqlite3_get_autocommit(c->db) == 0) sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
  c->in_txn = 0;
  hdb__sq_tables_flush(c);
}

hdb_status hdb__sq_write_end(hdb__sq_conn *c, hdb_status rc, hdb_error *err) {
  if (c->in_txn) {
    if (rc == HDB_CONFLICT) {
      txn_lost(c);
      if (err) hdb__err_prefix(err, "the transaction was rolled back");
      return rc;
    }
    if (rc != HDB_OK) {
      sqlite3_exec(c->db, "ROLLBACK TO hdb_write", NULL, NULL, NULL);
      hdb__sq_tables_flush(c);
    }
    if (sqlite3_get_autocommit(c->db)) { /* SQLite ended it (e.g. a full disk) */
      c->in_txn = 0;
      hdb__sq_tables_flush(c);
      return rc;
    }
    int r = sqlite3_exec(c->db, "RELEASE hdb_write", NULL, NULL, NULL);
    if (rc == HDB_OK && r != SQLITE_OK) return hdb__sq_fail(c, r, err, "ending a write");
    return rc;
  }
  if (rc != HDB_OK) {
    if (sqlite3_get_autocommit(c->db) == 0) sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    hdb__sq_tables_flush(c);
    return rc;
  }
  int r = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
  if (r != SQLITE_OK) {
    hdb_status st = hdb__sq_fail(c, r, err, "committing a write");
    if (sqlite3_get_autocommit(c->db) == 0) sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    hdb__sq_tables_flush(c);
    return st;
  }
  return HDB_OK;
}

hdb_status hdb__sq_begin(void *conn, hdb_error *err) {
  hdb__sq_conn *c = conn;
  if (c->in_txn) return hdb__fail(err, HDB_TXN_STATE, "a transaction is already open on this handle");
  hdb_status st = hdb__sq_exec(c, "BEGIN", err);
  if (st == HDB_OK) c->in_txn = 1;
  return st;
}

hdb_status hdb__sq_commit(void *conn, hdb_error *err) {
  hdb__sq_conn *c = conn;
  if (!c->in_txn) return hdb__fail(err, HDB_TXN_STATE, "commit without a transaction (call hdb_begin first)");
  int rc = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
  if (rc != SQLITE_OK) {
    hdb_status st = hdb__sq_fail(c, rc, err, "commit failed; the transaction was rolled back");
    txn_lost(c);
    return st;
  }
  c->in_txn = 0;
  return HDB_OK;
}

hdb_status hdb__sq_rollback(void *conn, hdb_error *err) {
  hdb__sq_conn *c = conn;
  if (!c->in_txn) return hdb__fail(err, HDB_TXN_STATE, "rollback without a transaction");
  int rc = sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
  c->in_txn = 0;
  hdb__sq_tables_flush(c);
  if (rc != SQLITE_OK && sqlite3_get_autocommit(c->db) == 0)
    return hdb__sq_fail(c, rc, err, "rollback failed");
  return HDB_OK;
}

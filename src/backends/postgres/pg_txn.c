/*
 * pg_txn.c - calls and transactions of the postgresql:// backend.
 *
 * Outside a transaction each call checks a connection out of the pool and
 * runs in autocommit (a single statement is atomic; several statements
 * that must be one step are wrapped in BEGIN/COMMIT by
 * hdb__pg_atomic_begin/end).
 *
 * hdb_begin pins one connection and runs BEGIN ISOLATION LEVEL REPEATABLE
 * READ: the handle reads a snapshot taken at its first statement and sees
 * its own writes; a write to a row another handle changed after that
 * snapshot fails with SQLSTATE 40001, which is HDB_CONFLICT. Each call
 * inside the transaction runs under SAVEPOINT hdb_call, so a failed call
 * (a duplicate id, a bad value) is rolled back to the savepoint and the
 * transaction goes on, as "a failed call changes nothing" requires.
 *
 * States of a handle (c->in_txn, c->doomed):
 *
 *   idle --begin--> open --commit/rollback--> idle
 *                    |
 *                    | conflict (40001/40P01) or lost connection in a call
 *                    v
 *                  doomed: the server transaction is already rolled back
 *                    and the connection returned (or closed); every call
 *                    answers the doom status until commit (which answers it
 *                    too) or rollback (HDB_OK) returns the handle to idle.
 *
 * A connection lost during COMMIT leaves the outcome unknown to the
 * client: hdb_commit answers HDB_UNAVAILABLE and says so.
 */
#include <stdio.h>
#include <string.h>

#include "pg.h"

#include "core/err.h"

static const char *where_of(const hdb__pg_conn *c) { return hdb__pg_pool_where(c->pool); }

/* Ends the pinned transaction after a fatal failure and dooms it. */
static void doom(hdb__pg_conn *c, hdb_status st, const hdb_error *err) {
  PGconn *pg = c->txn;
  int broken = hdb__pg_broken(pg);
  if (!broken) {
    PGresult *res = PQexec(pg, "ROLLBACK");
    PQclear(res);
    broken = hdb__pg_broken(pg);
  }
  hdb__pg_pool_put(c->pool, pg, broken);
  c->txn = NULL;
  c->doomed = st;
  const char *why = err && err->message[0] ? err->message : hdb_status_message(st);
  snprintf(c->doom_msg, sizeof c->doom_msg,
           "the transaction was rolled back by an earlier failure (%.150s); call hdb_rollback", why);
}

hdb_status hdb__pg_enter(hdb__pg_conn *c, PGconn **pg, hdb_error *err) {
  *pg = NULL;
  if (!c->in_txn) return hdb__pg_pool_get(c->pool, pg, err);
  if (c->doomed != HDB_OK) return hdb__fail(err, c->doomed, "%s", c->doom_msg);
  hdb_status st = hdb__pg_run(c->txn, where_of(c), "SAVEPOINT hdb_call", NULL,
                              "starting a call inside the transaction", err);
  if (st != HDB_OK) {
    doom(c, st, err);
    return st;
  }
  *pg = c->txn;
  return HDB_OK;
}

hdb_status hdb__pg_leave(hdb__pg_conn *c, PGconn *pg, hdb_status st, hdb_error *err) {
  if (!pg) return st;
  if (!(c->in_txn && pg == c->txn)) {
    /* Leave no transaction behind on a pooled connection. */
    if (!hdb__pg_broken(pg) && PQtransactionStatus(pg) != PQTRANS_IDLE) {
      PGresult *res = PQexec(pg, "ROLLBACK");
      PQclear(res);
    }
    hdb__pg_pool_put(c->pool, pg, hdb__pg_broken(pg));
    return st;
  }
  if (st == HDB_OK) {
    st = hdb__pg_run(pg, where_of(c), "RELEASE SAVEPOINT hdb_call", NULL,
                     "finishing a call inside the transaction", err);
    if (st == HDB_OK) return HDB_OK;
  }
  if (st == HDB_CONFLICT || hdb__pg_broken(pg)) {
    if (hdb__pg_broken(pg)) st = HDB_UNAVAILABLE;
    doom(c, st, err);
    return st;
  }
  hdb_error ignored;
  hdb_status rb = hdb__pg_run(pg, where_of(c),
                              "ROLLBACK TO SAVEPOINT hdb_call; RELEASE SAVEPOINT hdb_call", NULL,
                              "undoing a failed call inside the transaction", &ignored);
  if (rb != HDB_OK) doom(c, rb, &ignored);
  return st;
}

hdb_status hdb__pg_atomic_begin(hdb__pg_conn *c, PGconn *pg, const char *isolation,
                                hdb_error *err) {
  if (c->in_txn) return HDB_OK;
  char sql[96];
  snprintf(sql, sizeof sql, "BEGIN%s%s", isolation ? " ISOLATION LEVEL " : "",
           isolation ? isolation : "");
  return hdb__pg_run(pg, where_of(c), sql, NULL, "starting a transaction", err);
}

hdb_status hdb__pg_atomic_end(hdb__pg_conn *c, PGconn *pg, hdb_status st, hdb_error *err) {
  if (c->in_txn) return st;
  if (st == HDB_OK) return hdb__pg_run(pg, where_of(c), "COMMIT", NULL, "committing", err);
  if (!hdb__pg_broken(pg)) {
    PGresult *res = PQexec(pg, "ROLLBACK");
    PQclear(res);
  }
  return st;
}

hdb_status hdb__pg_begin(void *conn, hdb_error *err) {
  hdb__pg_conn *c = conn;
  if (c->in_txn)
    return hdb__fail(err, HDB_TXN_STATE, "a transaction is already open on this handle");
  PGconn *pg = NULL;
  hdb_status st = hdb__pg_pool_get(c->pool, &pg, err);
  if (st != HDB_OK) return st;
  st = hdb__pg_run(pg, where_of(c),
                   c->read_only ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
                                : "BEGIN ISOLATION LEVEL REPEATABLE READ",
                   NULL, "beginning a transaction", err);
  if (st != HDB_OK) {
    hdb__pg_pool_put(c->pool, pg, 1);
    return st;
  }
  c->txn = pg;
  c->in_txn = 1;
  c->doomed = HDB_OK;
  return HDB_OK;
}

/* Forgets the transaction (the api layer does the same whatever we say). */
static void txn_over(hdb__pg_conn *c) {
  if (c->txn) hdb__pg_pool_put(c->pool, c->txn, hdb__pg_broken(c->txn));
  c->txn = NULL;
  c->in_txn = 0;
  c->doomed = HDB_OK;
}

hdb_status hdb__pg_commit(void *conn, hdb_error *err) {
  hdb__pg_conn *c = conn;
  if (!c->in_txn) return hdb__fail(err, HDB_TXN_STATE, "commit without a transaction");
  if (c->doomed != HDB_OK) {
    hdb_status st = hdb__fail(err, c->doomed, "commit: %s", c->doom_msg);
    txn_over(c);
    return st;
  }
  PGconn *pg = c->txn;
  hdb_status st;
  if (PQtransactionStatus(pg) == PQTRANS_INERROR) {
    PGresult *res = PQexec(pg, "ROLLBACK");
    PQclear(res);
    st = hdb__fail(err, HDB_ERROR, "postgresql at %s: the transaction had failed; rolled back",
                   where_of(c));
  } else {
    st = hdb__pg_run(pg, where_of(c), "COMMIT", NULL, "committing the transaction", err);
    if (st == HDB_UNAVAILABLE)
      hdb__err_prefix(err, "the outcome of the commit is unknown (connection lost)");
  }
  txn_over(c);
  return st;
}

hdb_status hdb__pg_rollback(void *conn, hdb_error *err) {
  hdb__pg_conn *c = conn;
  if (!c->in_txn) return hdb__fail(err, HDB_TXN_STATE, "rollback without a transaction");
  hdb_status st = HDB_OK;
  if (c->doomed == HDB_OK && c->txn) {
    /* A lost connection rolls back on the server by itself. */
    if (!hdb__pg_broken(c->txn)) {
      st = hdb__pg_run(c->txn, where_of(c), "ROLLBACK", NULL, "rolling back", err);
      if (st == HDB_UNAVAILABLE) st = HDB_OK;
    }
  }
  txn_over(c);
  return st;
}

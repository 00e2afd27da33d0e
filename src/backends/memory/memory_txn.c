/*
 * memory_txn.c - snapshot-isolated transactions for the memory backend.
 *
 *   no txn --begin--> open (working copy = clone of the committed state,
 *                           txn_seq = the store's commit sequence)
 *   open --commit--> no txn: if the working copy changed and the store's
 *                    sequence moved since begin: HDB_CONFLICT, working copy
 *                    dropped (rolled back); else it becomes the committed
 *                    state in one pointer swap under the write lock
 *   open --rollback / close--> no txn, working copy dropped
 *
 * The clone shares every table and KV root with the committed state
 * (memory.h), so begin costs O(tables + namespaces) and the first write
 * to a table inside the transaction pays for copying that table's row
 * pointers. Conflict detection is first-committer-wins over the whole
 * store: any committed change by another handle (or a write by this
 * handle outside the transaction, which cannot happen while one is open)
 * after begin fails a commit that has writes. A transaction that wrote
 * nothing always commits: its reads were a consistent snapshot.
 */
#include "memory.h"

#include "core/err.h"

hdb_status hdb__mem_begin(void *conn, hdb_error *err) {
  hdb__mem_conn *c = conn;
  if (c->txn) return hdb__fail(err, HDB_TXN_STATE, "a transaction is already open on this handle");
  pthread_rwlock_rdlock(&c->store->lock);
  hdb__mem_state *w = hdb__mem_state_clone(c->store->state);
  uint64_t seq = c->store->seq;
  pthread_rwlock_unlock(&c->store->lock);
  if (!w) return hdb__fail(err, HDB_NOMEM, "out of memory beginning a transaction");
  c->txn = w;
  c->txn_seq = seq;
  return HDB_OK;
}

hdb_status hdb__mem_commit(void *conn, hdb_error *err) {
  hdb__mem_conn *c = conn;
  if (!c->txn) return hdb__fail(err, HDB_TXN_STATE, "commit without a transaction (call hdb_begin first)");
  hdb__mem_state *w = c->txn;
  c->txn = NULL;
  if (!w->dirty) {
    hdb__mem_state_free(w);
    return HDB_OK;
  }
  hdb__mem_store *s = c->store;
  pthread_rwlock_wrlock(&s->lock);
  if (s->seq != c->txn_seq) {
    pthread_rwlock_unlock(&s->lock);
    hdb__mem_state_free(w);
    return hdb__fail(err, HDB_CONFLICT,
                     "memory://%s changed since this transaction began (another handle "
                     "committed first); the transaction was rolled back",
                     s->name ? s->name : "");
  }
  hdb__mem_state *old = s->state;
  w->dirty = 0;
  s->state = w;
  s->seq++;
  pthread_rwlock_unlock(&s->lock);
  hdb__mem_state_free(old);
  return HDB_OK;
}

hdb_status hdb__mem_rollback(void *conn, hdb_error *err) {
  hdb__mem_conn *c = conn;
  if (!c->txn) return hdb__fail(err, HDB_TXN_STATE, "rollback without a transaction");
  hdb__mem_state_free(c->txn);
  c->txn = NULL;
  return HDB_OK;
}

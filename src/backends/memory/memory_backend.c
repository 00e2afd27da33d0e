/*
 * memory_backend.c - the memory:// backend's vtable, open and close.
 *
 *   memory://       a private store, freed when the handle closes
 *   memory://NAME   one store per NAME in the process, shared by every
 *                   handle that opens it, freed when the last one closes
 *
 * Capabilities: kv, vector_search (exact), scalar_index (metadata),
 * aggregate, transactions (snapshot isolation), schemaless. Not persistent;
 * approximate vector indexes, full text, hybrid search, TTL, pub/sub, time
 * travel, encryption and stats are left NULL for the api layer to refuse.
 * With hdb_config.read_only every write answers HDB_READ_ONLY.
 */
#include "memory.h"

#include "core/alloc.h"
#include "core/err.h"

static hdb_status mem_open(const hdb__url *url, const hdb_config *cfg, void **conn,
                           hdb_error *err) {
  *conn = NULL;
  hdb__mem_conn *c = hdb__calloc(1, sizeof *c);
  if (!c) return hdb__fail(err, HDB_NOMEM, "out of memory opening %s", url->redacted ? url->redacted : "memory://");
  hdb_status rc = hdb__mem_store_acquire(url->path, &c->store, err);
  if (rc != HDB_OK) {
    hdb__free_mem(c);
    return rc;
  }
  c->read_only = cfg && cfg->read_only;
  *conn = c;
  return HDB_OK;
}

static void mem_close(void *conn) {
  hdb__mem_conn *c = conn;
  if (!c) return;
  hdb__mem_state_free(c->txn); /* an open transaction rolls back */
  hdb__mem_store_release(c->store);
  hdb__free_mem(c);
}

static uint32_t mem_capabilities(void *conn) {
  return HDB_CAP_KV | HDB_CAP_VECTOR_SEARCH | HDB_CAP_SCALAR_INDEX | HDB_CAP_AGGREGATE |
         HDB_CAP_TRANSACTIONS | HDB_CAP_SCHEMALESS;
}

static hdb_status mem_ping(void *conn, hdb_error *err) {
  return HDB_OK;
}

const hdb__backend hdb__backend_memory = {
    .version = HDB__VTAB_VERSION,
    .id = HDB_BACKEND_MEMORY,
    .name = "memory",
    .open = mem_open,
    .close = mem_close,
    .capabilities = mem_capabilities,
    .ping = mem_ping,
    .table_create = hdb__mem_table_create,
    .table_drop = hdb__mem_table_drop,
    .table_list = hdb__mem_table_list,
    .table_schema = hdb__mem_table_schema,
    .write = hdb__mem_write,
    .get = hdb__mem_get,
    .update = hdb__mem_update,
    .remove = hdb__mem_remove,
    .query = hdb__mem_query,
    .count = hdb__mem_count,
    .search = hdb__mem_search,
    .aggregate = hdb__mem_aggregate,
    .index_create = hdb__mem_index_create,
    .index_drop = hdb__mem_index_drop,
    .index_list = hdb__mem_index_list,
    .begin = hdb__mem_begin,
    .commit = hdb__mem_commit,
    .rollback = hdb__mem_rollback,
    .kv_get = hdb__mem_kv_get,
    .kv_write = hdb__mem_kv_write,
    .kv_iter = hdb__mem_kv_iter,
    /* kv_put_ttl, search_hybrid, publish, subscribe, unsubscribe, versions,
     * restore, stats: not supported (NULL). */
};

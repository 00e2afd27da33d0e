/*
 * registry.c - the backends compiled into this library.
 *
 * Each backend is one vtable (api/backend.h). A backend left out by its
 * build option is absent here, and opening its URL answers HDB_NOT_BUILT.
 */
#include "api/backend.h"

const hdb__backend *hdb__backend_lookup(hdb_backend id) {
  switch (id) {
    case HDB_BACKEND_MEMORY: return &hdb__backend_memory;
#ifdef HDB_HAVE_FILE
    case HDB_BACKEND_FILE: return &hdb__backend_file;
#endif
#ifdef HDB_HAVE_NATIVE
    case HDB_BACKEND_NATIVE: return &hdb__backend_native;
#endif
#ifdef HDB_HAVE_SQLITE
    case HDB_BACKEND_SQLITE: return &hdb__backend_sqlite;
#endif
#ifdef HDB_HAVE_POSTGRES
    case HDB_BACKEND_POSTGRES: return &hdb__backend_postgres;
#endif
#ifdef HDB_HAVE_DUCKDB
    case HDB_BACKEND_DUCKDB: return &hdb__backend_duckdb;
#endif
    default: return NULL;
  }
}

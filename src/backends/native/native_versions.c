/*
 * native_versions.c - versions, restore, compaction and the integrity
 * check of native:// (hdb_table_versions, hdb_table_restore, hdb_compact,
 * hdb_check). Reads at a version (hdb_query / hdb_count / hdb_search with
 * version != 0) pin that version in native_query.c and native_search.c.
 *
 * Compaction of a table is the engine's compact (rewrite fragments with
 * many deleted rows, merge small ones: one commit) followed by its
 * cleanup under the retention policy: the newest keep_versions versions
 * (URL option, default 10), tagged ones, pinned ones and those younger
 * than the engine's grace period stay. hdb_compact(NULL) does every table
 * and then the KV store (when DIR/kv exists). Fragments that compaction
 * rewrote leave an HNSW index's coverage and become its exactly searched
 * tail until the index is rebuilt.
 *
 * The check report is one JSON object:
 *   {"ok":true|false,"tables":[{"name":..,"status":"OK"|code,"versions":..,
 *    "fragments":..,"deletion_files":..,"chunks":..,"bytes":..,"orphans":..,
 *    "indexes":..,"message":..}],"kv":{"status":..,"message":..}|null}
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <dirent.h>

#include "native.h"

#include "core/alloc.h"
#include "core/err.h"
#include "core/strbuf.h"

hdb_status hdb__nat_versions(void *conn, const char *table, hdb_version_info **out,
                             size_t *count, hdb_error *err) {
  nat_conn *c = conn;
  *out = NULL;
  *count = 0;
  nat_table *t;
  hdb_status rc = hdb__nat_table_get(c, table, &t, err);
  if (rc != HDB_OK) return rc;
  rc = hdb__tbl_versions(t->tbl, out, count, err);
  hdb__nat_table_put(t);
  return rc;
}

hdb_status hdb__nat_restore(void *conn, const char *table, int64_t version, hdb_error *err) {
  nat_conn *c = conn;
  hdb_status rc = hdb__nat_writable(c, err);
  if (rc != HDB_OK) return rc;
  nat_table *t;
  rc = hdb__nat_table_get(c, table, &t, err);
  if (rc != HDB_OK) return rc;
  if (version <= 0)
    rc = hdb__fail(err, HDB_INVALID_ARGUMENT, "table '%s': version %lld is not a version", table,
                   (long long)version);
  else
    rc = hdb__tbl_restore(t->tbl, version, NULL, err);
  if (rc == HDB_NOT_FOUND)
    rc = hdb__fail(err, HDB_NOT_FOUND, "table '%s' has no version %lld", table, (long long)version);
  hdb__nat_table_put(t);
  return rc;
}

static hdb_status compact_table(nat_conn *c, const char *table, hdb_error *err) {
  nat_table *t;
  hdb_status rc = hdb__nat_table_get(c, table, &t, err);
  if (rc != HDB_OK) return rc;
  hdb__tbl_compact_stats cs;
  rc = hdb__tbl_compact(t->tbl, NULL, &cs, err);
  if (rc == HDB_OK) {
    hdb__tbl_retention r = {c->env->keep_versions, 0, 0};
    hdb__tbl_cleanup_stats st;
    rc = hdb__tbl_cleanup(t->tbl, &r, &st, err);
  }
  if (rc != HDB_OK && err) hdb__err_prefix(err, "compacting table '%s'", table);
  hdb__nat_table_put(t);
  return rc;
}

static int kv_exists(const nat_env *env) {
  char p[4096];
  struct stat st;
  snprintf(p, sizeof p, "%s/kv", env->dir);
  return stat(p, &st) == 0;
}

hdb_status hdb__nat_compact(void *conn, const char *table, hdb_error *err) {
  nat_conn *c = conn;
  hdb_status rc = hdb__nat_writable(c, err);
  if (rc != HDB_OK) return rc;
  if (table) return compact_table(c, table, err);
  char **names;
  size_t n;
  rc = hdb__nat_list_names(c->env, &names, &n, err);
  if (rc != HDB_OK) return rc;
  for (size_t i = 0; rc == HDB_OK && i < n; i++) rc = compact_table(c, names[i], err);
  hdb_strings_free(names, n);
  if (rc == HDB_OK && kv_exists(c->env)) {
    hdb__lsm *kv;
    rc = hdb__nat_kv(c, &kv, err);
    if (rc == HDB_OK) rc = hdb__lsm_compact(kv, NULL, 0, NULL, 0, err);
    if (rc != HDB_OK && err) hdb__err_prefix(err, "compacting the key-value store");
  }
  return rc;
}

/* ------------------------------------------------------------------ */
/* Check                                                               */
/* ------------------------------------------------------------------ */

/* Loads (so validates) every index of a table; the number loaded. */
static hdb_status check_indexes(nat_conn *c, const char *table, uint64_t *n_idx, hdb_error *err) {
  *n_idx = 0;
  nat_table *t;
  hdb_status rc = hdb__nat_table_get(c, table, &t, err);
  if (rc != HDB_OK) return rc;
  DIR *d = opendir(hdb__tbl_dir(t->tbl));
  struct dirent *e;
  while (d && rc == HDB_OK && (e = readdir(d))) {
    size_t len = strlen(e->d_name);
    if (len <= 12 || strncmp(e->d_name, "hdbidx-", 7) != 0 || strcmp(e->d_name + len - 5, ".json") != 0 ||
        len - 12 > HDB_MAX_NAME_LEN)
      continue;
    char col[HDB_MAX_NAME_LEN + 1];
    memcpy(col, e->d_name + 7, len - 12);
    col[len - 12] = 0;
    nat_index *ix = NULL;
    hdb__nat_index_invalidate(t); /* reload from disk: a real check */
    rc = hdb__nat_index_find(t, col, &ix, err);
    if (ix) (*n_idx)++;
    hdb__nat_index_put(ix);
  }
  if (d) closedir(d);
  hdb__nat_table_put(t);
  return rc;
}

hdb_status hdb__nat_check(void *conn, char **report, hdb_error *err) {
  nat_conn *c = conn;
  *report = NULL;
  char **names;
  size_t n;
  hdb_status rc = hdb__nat_list_names(c->env, &names, &n, err);
  if (rc != HDB_OK) return rc;
  hdb__strbuf b = {0};
  hdb_status first = HDB_OK;
  hdb_error first_err;
  hdb__err_clear(&first_err);
  hdb__strbuf_add(&b, "{\"tables\":[", 11);
  for (size_t i = 0; i < n; i++) {
    char *dir = hdb__nat_table_dir(c->env, names[i]);
    hdb__tbl_check_report rep;
    hdb_error e;
    hdb__err_clear(&e);
    memset(&rep, 0, sizeof rep);
    hdb_status st = dir ? hdb__tbl_check(dir, &rep, &e) : hdb__fail(&e, HDB_NOMEM, "out of memory");
    hdb__free_mem(dir);
    uint64_t n_idx = 0;
    if (st == HDB_OK) st = check_indexes(c, names[i], &n_idx, &e);
    if (st != HDB_OK && first == HDB_OK) {
      first = st;
      first_err = e;
    }
    hdb__strbuf_add(&b, i ? ",{\"name\":" : "{\"name\":", i ? 9 : 8);
    hdb__strbuf_json_string(&b, names[i]);
    hdb__strbuf_printf(&b, ",\"status\":\"%s\",\"versions\":%llu,\"fragments\":%llu,\"deletion_files\":%llu",
              hdb_status_name(st), (unsigned long long)rep.versions,
              (unsigned long long)rep.fragments, (unsigned long long)rep.deletion_files);
    hdb__strbuf_printf(&b, ",\"chunks\":%llu,\"bytes\":%llu,\"orphans\":%llu,\"indexes\":%llu",
              (unsigned long long)rep.chunks, (unsigned long long)rep.bytes,
              (unsigned long long)rep.orphans, (unsigned long long)n_idx);
    if (st != HDB_OK) {
      hdb__strbuf_add(&b, ",\"message\":", 11);
      hdb__strbuf_json_string(&b, e.message);
    }
    hdb__strbuf_add(&b, "}", 1);
  }
  hdb__strbuf_add(&b, "],\"kv\":", 7);
  hdb_strings_free(names, n);
  if (kv_exists(c->env)) {
    hdb__lsm *kv;
    hdb_error e;
    hdb__err_clear(&e);
    hdb_status st = hdb__nat_kv(c, &kv, &e);
    if (st == HDB_OK) st = hdb__lsm_check(kv, &e);
    if (st != HDB_OK && first == HDB_OK) {
      first = st;
      first_err = e;
    }
    hdb__strbuf_printf(&b, "{\"status\":\"%s\"", hdb_status_name(st));
    if (st != HDB_OK) {
      hdb__strbuf_add(&b, ",\"message\":", 11);
      hdb__strbuf_json_string(&b, e.message);
    }
    hdb__strbuf_add(&b, "}", 1);
  } else {
    hdb__strbuf_add(&b, "null", 4);
  }
  hdb__strbuf_printf(&b, ",\"ok\":%s}", first == HDB_OK ? "true" : "false");
  if (b.oom) {
    hdb__free_mem(b.p);
    return hdb__fail(err, HDB_NOMEM, "out of memory writing the check report");
  }
  *report = b.p;
  if (first != HDB_OK) {
    if (err) *err = first_err;
    /* Any failure found by a check is reported as corruption. */
    if (first != HDB_NOMEM && first != HDB_BUSY) {
      if (err) err->code = HDB_CORRUPT;
      return HDB_CORRUPT;
    }
    return first;
  }
  return HDB_OK;
}

/*
 * native_tables.c - the catalog of native://DIR: one directory per table
 * under DIR/tables/, named for the table. A table exists exactly when the
 * table engine can open its directory (it holds a committed manifest); the
 * schema lives in the manifests, so there is no separate catalog file to
 * keep in step.
 *
 * Create commits version 1 through the table engine (atomic: the manifest
 * rename). Drop first renames the directory to a hidden name
 * (".drop-NAME-PID-N", one atomic step, so the table is gone for every
 * reader at once), then removes its files; a crash in between leaves a
 * hidden directory that the next drop in that folder sweeps away.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "native.h"

#include "core/alloc.h"
#include "core/err.h"

hdb_status hdb__nat_table_create(void *conn, const char *table, const hdb_schema *schema,
                                 unsigned flags, hdb_error *err) {
  nat_conn *c = conn;
  hdb_status rc = hdb__nat_writable(c, err);
  if (rc != HDB_OK) return rc;
  nat_table *t = NULL;
  rc = hdb__nat_table_get(c, table, &t, NULL);
  if (rc == HDB_OK) {
    hdb__nat_table_put(t);
    if (flags & HDB_IF_NOT_EXISTS) return HDB_OK;
    return hdb__fail(err, HDB_EXISTS, "table '%s' already exists", table);
  }
  char *dir = hdb__nat_table_dir(c->env, table);
  if (!dir) return hdb__fail(err, HDB_NOMEM, "out of memory creating table '%s'", table);
  hdb__tbl_options o = c->env->topt;
  o.create = 1;
  o.schema = schema;
  hdb__tbl *tbl = NULL;
  rc = hdb__tbl_open(dir, &o, &tbl, err);
  hdb__tbl_close(tbl);
  hdb__free_mem(dir);
  if (rc != HDB_OK && err) hdb__err_prefix(err, "creating table '%s'", table);
  return rc;
}

/* Removes every file of a (flat) table directory, then the directory. */
static int remove_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return errno == ENOENT ? 0 : -1;
  struct dirent *e;
  int rc = 0;
  while ((e = readdir(d))) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    size_t n = strlen(dir) + strlen(e->d_name) + 2;
    char *p = hdb__malloc(n);
    if (!p) {
      rc = -1;
      break;
    }
    snprintf(p, n, "%s/%s", dir, e->d_name);
    if (unlink(p) != 0 && errno != ENOENT) rc = -1;
    hdb__free_mem(p);
  }
  closedir(d);
  if (rc == 0 && rmdir(dir) != 0 && errno != ENOENT) rc = -1;
  return rc;
}

/* Removes hidden directories left by drops that crashed half-way. */
static void sweep_dropped(nat_env *env) {
  DIR *d = opendir(env->tables_dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (strncmp(e->d_name, ".drop-", 6) != 0) continue;
    char *p = hdb__nat_table_dir(env, e->d_name);
    if (p) remove_tree(p);
    hdb__free_mem(p);
  }
  closedir(d);
}

hdb_status hdb__nat_table_drop(void *conn, const char *table, unsigned flags, hdb_error *err) {
  nat_conn *c = conn;
  static atomic_uint counter;
  hdb_status rc = hdb__nat_writable(c, err);
  if (rc != HDB_OK) return rc;
  nat_table *t = NULL;
  rc = hdb__nat_table_get(c, table, &t, err);
  if (rc == HDB_NO_TABLE) {
    if (flags & HDB_IF_EXISTS) {
      if (err) hdb__err_clear(err);
      return HDB_OK;
    }
    return rc;
  }
  if (rc != HDB_OK) return rc;
  hdb__nat_table_put(t);
  char *dir = hdb__nat_table_dir(c->env, table);
  char hidden[HDB_MAX_NAME_LEN + 64];
  snprintf(hidden, sizeof hidden, ".drop-%s-%ld-%u", table, (long)getpid(),
           atomic_fetch_add(&counter, 1));
  char *hdir = hdb__nat_table_dir(c->env, hidden);
  if (!dir || !hdir) {
    rc = hdb__fail(err, HDB_NOMEM, "out of memory dropping table '%s'", table);
    goto done;
  }
  hdb__nat_table_forget(c->env, table);
  if (rename(dir, hdir) != 0) {
    rc = errno == ENOENT && (flags & HDB_IF_EXISTS)
             ? HDB_OK
             : errno == ENOENT ? hdb__fail(err, HDB_NO_TABLE, "no table '%s'", table)
                               : hdb__fail(err, HDB_IO, "dropping table '%s': rename %s: %s",
                                           table, dir, strerror(errno));
    goto done;
  }
  sweep_dropped(c->env);
done:
  hdb__free_mem(dir);
  hdb__free_mem(hdir);
  return rc;
}

static int name_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

hdb_status hdb__nat_list_names(nat_env *env, char ***names, size_t *count, hdb_error *err) {
  *names = NULL;
  *count = 0;
  DIR *d = opendir(env->tables_dir);
  if (!d) return hdb__fail(err, HDB_IO, "listing tables in %s: %s", env->tables_dir, strerror(errno));
  char **out = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  hdb_status rc = HDB_OK;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.' || !hdb__name_valid(e->d_name, 1)) continue;
    /* Only directories holding a committed table count. */
    char *p = hdb__nat_table_dir(env, e->d_name);
    if (!p) goto nomem;
    hdb__tbl_options o = env->topt;
    o.create = 0;
    hdb__tbl *tbl = NULL;
    hdb_status orc = hdb__tbl_open(p, &o, &tbl, NULL);
    hdb__tbl_close(tbl);
    hdb__free_mem(p);
    if (orc != HDB_OK) continue;
    if (n == cap) {
      size_t nc = cap ? 2 * cap : 16;
      char **q = hdb__realloc(out, nc * sizeof *q);
      if (!q) goto nomem;
      out = q;
      cap = nc;
    }
    if (!(out[n] = hdb__strdup(e->d_name))) goto nomem;
    n++;
  }
  closedir(d);
  if (n) qsort(out, n, sizeof *out, name_cmp);
  *names = out;
  *count = n;
  return HDB_OK;
nomem:
  closedir(d);
  hdb_strings_free(out, n);
  rc = hdb__fail(err, HDB_NOMEM, "out of memory listing tables");
  return rc;
}

hdb_status hdb__nat_table_list(void *conn, char ***names, size_t *count, hdb_error *err) {
  nat_conn *c = conn;
  return hdb__nat_list_names(c->env, names, count, err);
}

hdb_status hdb__nat_table_schema(void *conn, const char *table, hdb_schema **schema,
                                 hdb_error *err) {
  nat_conn *c = conn;
  *schema = NULL;
  nat_table *t;
  hdb_status rc = hdb__nat_table_get(c, table, &t, err);
  if (rc != HDB_OK) return rc;
  hdb__tbl_snap *s = NULL;
  rc = hdb__nat_pin(t, 0, &s, err);
  if (rc == HDB_OK) {
    const hdb_schema *sc = hdb__tbl_snap_schema(s);
    if (sc) {
      *schema = hdb_schema_clone(sc);
      if (!*schema) rc = hdb__fail(err, HDB_NOMEM, "out of memory copying the schema of '%s'", table);
    }
  }
  hdb__tbl_unpin(s);
  hdb__nat_table_put(t);
  return rc;
}

/*
 * file_backend.c - the file:// backend: plain JSONL/CSV files over a
 * private memory store.
 *
 * The backend is a decorator over hdb__backend_memory. On open it loads
 * every table file into a private memory:// store; every call then runs
 * against that store through the memory vtable, bracketed by the protocol
 * of README.md:
 *
 *   read call:   shared flock on the lock file -> sync -> memory -> unlock
 *   write call:  exclusive flock -> sync -> memory -> rewrite the touched
 *                files atomically -> unlock; a failed rewrite reloads the
 *                touched tables from disk so memory never diverges
 *   transaction: sync at begin; reads and writes go to memory only (the
 *                memory store's working copy); commit takes the exclusive
 *                lock, fails with HDB_CONFLICT if another process rewrote a
 *                file the transaction touched, else commits memory and
 *                rewrites every touched file as one atomic change set
 *
 * "sync" compares each file with the stamp (device, inode, size, mtime)
 * recorded when it was last read or written by this handle, and reloads
 * what another process changed: new tables appear, dropped ones vanish.
 * Every table is therefore O(table) to rewrite; the backend is for
 * exchange and small persistent data, not for large or write-heavy ones.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/backend.h"
#include "api/url.h"
#include "backends/file/file.h"
#include "core/alloc.h"
#include "core/cursor.h"
#include "core/err.h"
#include "core/json.h"
#include "core/record.h"
#include "core/schema.h"

typedef enum fmode { FMODE_DIR, FMODE_JSONL, FMODE_CSV } fmode;

#define TOUCH_ROWS 1u /* the table's rows changed: rewrite its data file */
#define TOUCH_DDL 2u  /* created or dropped: its schema file too */

#define FNAME_MAX 600 /* file names: table (<= 128) or a user's base name (<= 255) + suffix */

#define INDEX_FILE "_indexes.json"
#define KV_FILE "_kv.jsonl"
#define INDEX_FORMAT "hanzodb-file-indexes"

/* Capabilities the decorator can carry to disk; the rest of memory's
 * (TTL, pub/sub, stats, time travel) would not survive a reopen. */
#define FILE_CAPS_FROM_MEMORY                                                                  \
  (HDB_CAP_TRANSACTIONS | HDB_CAP_KV | HDB_CAP_VECTOR_SEARCH | HDB_CAP_VECTOR_INDEX |          \
   HDB_CAP_SCALAR_INDEX | HDB_CAP_FULLTEXT | HDB_CAP_HYBRID_SEARCH | HDB_CAP_AGGREGATE |       \
   HDB_CAP_SCHEMALESS)
#define FILE_CAPS_DIR_ONLY                                                                     \
  (HDB_CAP_KV | HDB_CAP_VECTOR_INDEX | HDB_CAP_SCALAR_INDEX | HDB_CAP_FULLTEXT |               \
   HDB_CAP_HYBRID_SEARCH)

typedef struct ftable {
  char *name;          /* owned */
  hdb__fstamp data;    /* NAME.jsonl, or the single file */
  hdb__fstamp schema;  /* NAME.schema.json */
  unsigned touched;    /* TOUCH_* not yet written to disk */
} ftable;

typedef struct fconn {
  const hdb__backend *m; /* the memory vtable */
  void *mem;             /* its private store */
  fmode mode;
  char *dir;     /* the directory holding every file (owned) */
  int dir_fd;
  char *single;  /* single-file mode: the file's name inside dir */
  char *stem;    /* single-file mode: its table name */
  char *lock_name, *journal_name, *lock_path;
  int lock_fd;   /* -1: read-only without a lock file */
  int locked;    /* 0, 1 shared, 2 exclusive */
  int timeout_ms;
  int read_only;
  ftable *tables; /* the tables the memory store holds */
  size_t n_tables, cap_tables;
  hdb__fstamp idx_stamp, kv_stamp;
  cJSON *idx_root; /* parsed _indexes.json (owned) or NULL */
  char **ns;       /* namespaces that may hold keys (owned) */
  size_t n_ns, cap_ns;
  int in_txn;
  int touched_kv, touched_idx;
} fconn;

static const hdb__expr TRUE_EXPR = {.kind = HDB__EXPR_TRUE};

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void data_file(const fconn *fc, const char *table, char out[FNAME_MAX]) {
  if (fc->mode == FMODE_DIR)
    snprintf(out, FNAME_MAX, "%s.jsonl", table);
  else
    snprintf(out, FNAME_MAX, "%s", fc->single);
}

static void schema_file(const char *table, char out[FNAME_MAX]) {
  snprintf(out, FNAME_MAX, "%s.schema.json", table);
}

static ftable *table_find(fconn *fc, const char *name) {
  for (size_t i = 0; i < fc->n_tables; i++)
    if (strcmp(fc->tables[i].name, name) == 0) return &fc->tables[i];
  return NULL;
}

/* The entry for name, created with "absent" stamps when new. */
static ftable *table_add(fconn *fc, const char *name, hdb_error *err) {
  ftable *t = table_find(fc, name);
  if (t) return t;
  if (fc->n_tables == fc->cap_tables) {
    size_t cap = fc->cap_tables ? fc->cap_tables * 2 : 8;
    ftable *v = hdb__realloc(fc->tables, cap * sizeof *v);
    if (!v) {
      hdb__fail(err, HDB_NOMEM, "out of memory");
      return NULL;
    }
    fc->tables = v;
    fc->cap_tables = cap;
  }
  t = &fc->tables[fc->n_tables];
  memset(t, 0, sizeof *t);
  if (!(t->name = hdb__strdup(name))) {
    hdb__fail(err, HDB_NOMEM, "out of memory");
    return NULL;
  }
  hdb__fstamp_init(&t->data);
  hdb__fstamp_init(&t->schema);
  t->data.valid = t->schema.valid = 1; /* known absent: the caller just synced */
  fc->n_tables++;
  return t;
}

static void table_forget(fconn *fc, ftable *t) {
  hdb__fstamp_clear(&t->data);
  hdb__fstamp_clear(&t->schema);
  hdb__free_mem(t->name);
  size_t i = (size_t)(t - fc->tables);
  memmove(&fc->tables[i], &fc->tables[i + 1], (fc->n_tables - i - 1) * sizeof *t);
  fc->n_tables--;
}

static void stamp_move(hdb__fstamp *dst, hdb__fstamp *src) {
  hdb__fstamp_clear(dst);
  *dst = *src;
  hdb__fstamp_init(src);
}

static hdb_status ns_add(fconn *fc, const char *ns, hdb_error *err) {
  for (size_t i = 0; i < fc->n_ns; i++)
    if (strcmp(fc->ns[i], ns) == 0) return HDB_OK;
  if (fc->n_ns == fc->cap_ns) {
    size_t cap = fc->cap_ns ? fc->cap_ns * 2 : 8;
    char **v = hdb__realloc(fc->ns, cap * sizeof *v);
    if (!v) return hdb__fail(err, HDB_NOMEM, "out of memory");
    fc->ns = v;
    fc->cap_ns = cap;
  }
  if (!(fc->ns[fc->n_ns] = hdb__strdup(ns))) return hdb__fail(err, HDB_NOMEM, "out of memory");
  fc->n_ns++;
  return HDB_OK;
}

static hdb_status not_single(const fconn *fc, const char *what, hdb_error *err) {
  return hdb__fail(err, HDB_NOT_SUPPORTED,
                   "file://%s/%s holds a single table ('%s'); %s needs a directory (file://DIR)",
                   fc->dir, fc->single, fc->stem, what);
}

/* Every row of a table as owned clones, in the memory store's order. */
static hdb_status table_rows(fconn *fc, const char *table, hdb__rowbuf *rows, hdb_error *err) {
  hdb__query q = {.filter = &TRUE_EXPR};
  hdb_cursor *c = NULL;
  hdb_status st = fc->m->query(fc->mem, table, &q, &c, err);
  if (st != HDB_OK) return st;
  for (;;) {
    const hdb_record *rec = NULL;
    double dist;
    hdb_error cerr;
    hdb__err_clear(&cerr);
    st = c->vt->next(c, &rec, &dist, &cerr);
    if (st == HDB_DONE) {
      st = HDB_OK;
      break;
    }
    if (st != HDB_OK) {
      hdb__fail(err, st, "%s", cerr.message);
      break;
    }
    hdb_record *copy = hdb_record_clone(rec);
    if (!copy || hdb__rowbuf_push(rows, copy, NAN) != HDB_OK) {
      st = hdb__fail(err, HDB_NOMEM, "out of memory reading table '%s'", table);
      break;
    }
  }
  c->vt->close(c);
  return st;
}

/* ------------------------------------------------------------------ */
/* Locking                                                             */
/* ------------------------------------------------------------------ */

static hdb_status lock_take(fconn *fc, int exclusive, hdb_error *err) {
  if (fc->lock_fd < 0) return HDB_OK;
  hdb_status st = hdb__file_lock(fc->lock_fd, exclusive, fc->timeout_ms, fc->lock_path, err);
  if (st != HDB_OK) return st;
  fc->locked = exclusive ? 2 : 1;
  /* A writer that crashed mid-commit left its journal: finish its commit
   * before anyone reads (README rule 8). */
  if (hdb__file_journal_present(fc->dir_fd, fc->journal_name) && !fc->read_only) {
    if (!exclusive &&
        (st = hdb__file_lock(fc->lock_fd, 1, fc->timeout_ms, fc->lock_path, err)) != HDB_OK) {
      hdb__file_unlock(fc->lock_fd);
      fc->locked = 0;
      return st;
    }
    st = hdb__file_recover(fc->dir_fd, fc->dir, fc->journal_name, err);
    if (!exclusive && st == HDB_OK)
      st = hdb__file_lock(fc->lock_fd, 0, fc->timeout_ms, fc->lock_path, err);
    if (st != HDB_OK) {
      hdb__file_unlock(fc->lock_fd);
      fc->locked = 0;
      return st;
    }
  }
  return HDB_OK;
}

static void lock_drop(fconn *fc) {
  if (fc->locked) hdb__file_unlock(fc->lock_fd);
  fc->locked = 0;
}

/* ------------------------------------------------------------------ */
/* Loading: disk -> memory                                             */
/* ------------------------------------------------------------------ */

static const cJSON *indexes_for(const fconn *fc, const char *table) {
  if (!fc->idx_root) return NULL;
  const cJSON *tables = cJSON_GetObjectItemCaseSensitive(fc->idx_root, "tables");
  return cJSON_GetObjectItemCaseSensitive(tables, table);
}

/* 1 when the memory index `info` is what entry describes. */
static int index_matches(const hdb_index_info *info, const cJSON *entry) {
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(entry, "type");
  hdb_index_type t;
  if (!cJSON_IsString(type) || hdb_index_type_from_name(type->valuestring, &t) != HDB_OK ||
      t != info->type)
    return 0;
  const cJSON *params = cJSON_GetObjectItemCaseSensitive(entry, "params");
  cJSON *have = info->params ? cJSON_Parse(info->params) : NULL;
  int same = (!params && !have) || (params && have && cJSON_Compare(params, have, 1));
  cJSON_Delete(have);
  return same;
}

/* Makes the memory table's indexes those _indexes.json lists for it. */
static hdb_status reconcile_indexes(fconn *fc, const char *table, hdb_error *err) {
  if (fc->mode != FMODE_DIR || !fc->m->index_list) return HDB_OK;
  const cJSON *want = indexes_for(fc, table);
  hdb_index_info *infos = NULL;
  size_t n = 0;
  hdb_status st = fc->m->index_list(fc->mem, table, &infos, &n, err);
  if (st != HDB_OK) return st;
  for (size_t i = 0; i < n && st == HDB_OK; i++) {
    const cJSON *e = NULL, *match = NULL;
    cJSON_ArrayForEach(e, want) {
      const cJSON *col = cJSON_GetObjectItemCaseSensitive(e, "column");
      if (cJSON_IsString(col) && strcmp(col->valuestring, infos[i].column) == 0) match = e;
    }
    if (!match || !index_matches(&infos[i], match))
      st = fc->m->index_drop(fc->mem, table, infos[i].column, err);
  }
  const cJSON *e = NULL;
  cJSON_ArrayForEach(e, want) {
    if (st != HDB_OK) break;
    const cJSON *col = cJSON_GetObjectItemCaseSensitive(e, "column");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(e, "type");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(e, "params");
    hdb_index_type t;
    if (!cJSON_IsString(col) || !cJSON_IsString(type) ||
        hdb_index_type_from_name(type->valuestring, &t) != HDB_OK) {
      st = hdb__fail(err, HDB_CORRUPT, "%s/%s: table '%s': malformed index entry", fc->dir,
                     INDEX_FILE, table);
      break;
    }
    int present = 0;
    for (size_t i = 0; i < n; i++)
      if (strcmp(infos[i].column, col->valuestring) == 0 && index_matches(&infos[i], e))
        present = 1;
    if (present) continue;
    char *ptext = params ? cJSON_PrintUnformatted(params) : NULL;
    if (params && !ptext) {
      st = hdb__fail(err, HDB_NOMEM, "out of memory");
      break;
    }
    st = fc->m->index_create(fc->mem, table, col->valuestring, t, ptext, err);
    cJSON_free(ptext);
    if (st != HDB_OK && st != HDB_NOMEM) {
      st = HDB_CORRUPT;
      if (err) err->code = st;
      hdb__err_prefix(err, "%s/%s: index on %s.%s", fc->dir, INDEX_FILE, table,
                      col->valuestring);
    }
  }
  hdb_index_info_free(infos, n);
  return st;
}

/*
 * (Re)loads one table from its files into the memory store. On failure the
 * table's stamps are left invalid (the next sync tries again) and the
 * memory table is gone or as it was.
 */
static hdb_status load_table(fconn *fc, ftable *t, hdb_error *err) {
  char dname[FNAME_MAX], sname[FNAME_MAX];
  data_file(fc, t->name, dname);
  schema_file(t->name, sname);
  hdb__fstamp ds, ss;
  hdb__fstamp_init(&ds);
  hdb__fstamp_init(&ss);
  char *sbuf = NULL, *dbuf = NULL;
  size_t slen = 0, dlen = 0;
  hdb_schema *schema = NULL;
  hdb__rowbuf rows = {0};
  hdb_status st;

  hdb__fstamp_clear(&t->data);
  hdb__fstamp_clear(&t->schema);
  if ((st = hdb__file_read(fc->dir_fd, fc->dir, sname, &sbuf, &slen, &ss, err)) != HDB_OK)
    goto out;
  if (sbuf) {
    hdb_error serr;
    hdb__err_clear(&serr);
    st = hdb_schema_from_json(sbuf, &schema, &serr);
    if (st != HDB_OK) {
      st = st == HDB_NOMEM ? HDB_NOMEM : HDB_CORRUPT;
      hdb__fail(err, st, "%s: %s", sname, serr.message);
      goto out;
    }
  }
  if ((st = hdb__file_read(fc->dir_fd, fc->dir, dname, &dbuf, &dlen, &ds, err)) != HDB_OK)
    goto out;
  if (dbuf) {
    st = fc->mode == FMODE_CSV
             ? hdb__csv_parse(dbuf, dlen, dname, t->name, schema, &rows, err)
             : hdb__jsonl_parse(dbuf, dlen, dname, t->name, schema, &rows, err);
    if (st != HDB_OK) goto out;
  }
  if ((st = fc->m->table_drop(fc->mem, t->name, HDB_IF_EXISTS, err)) != HDB_OK) goto out;
  if ((st = fc->m->table_create(fc->mem, t->name, schema, 0, err)) != HDB_OK) goto out;
  for (size_t off = 0; off < rows.n && st == HDB_OK; off += HDB_MAX_BATCH) {
    size_t k = rows.n - off < HDB_MAX_BATCH ? rows.n - off : HDB_MAX_BATCH;
    st = fc->m->write(fc->mem, t->name, rows.rows + off, k, HDB__WRITE_INSERT, err);
  }
  if (st == HDB_OK) st = reconcile_indexes(fc, t->name, err);
  if (st != HDB_OK) {
    hdb_error ignored;
    fc->m->table_drop(fc->mem, t->name, HDB_IF_EXISTS, &ignored);
    if (st != HDB_NOMEM && st != HDB_CORRUPT && st != HDB_IO) {
      st = HDB_CORRUPT;
      if (err) err->code = st;
      hdb__err_prefix(err, "%s", dname);
    }
    goto out;
  }
  stamp_move(&t->data, &ds);
  stamp_move(&t->schema, &ss);
out:
  hdb__fstamp_clear(&ds);
  hdb__fstamp_clear(&ss);
  hdb__free_mem(sbuf);
  hdb__free_mem(dbuf);
  hdb_schema_free(schema);
  hdb__rowbuf_free(&rows);
  return st;
}

/* Re-reads _indexes.json when it changed; *changed says so. */
static hdb_status sync_index_file(fconn *fc, int *changed, hdb_error *err) {
  *changed = 0;
  if (hdb__fstamp_same(&fc->idx_stamp, fc->dir_fd, INDEX_FILE)) return HDB_OK;
  char *buf = NULL;
  size_t len = 0;
  hdb_status st = hdb__file_read(fc->dir_fd, fc->dir, INDEX_FILE, &buf, &len, &fc->idx_stamp, err);
  if (st != HDB_OK) return st;
  cJSON *root = NULL;
  if (buf) {
    hdb_error perr;
    st = hdb__json_parse(buf, len, &root, &perr);
    hdb__free_mem(buf);
    if (st == HDB_NOMEM) {
      hdb__fstamp_clear(&fc->idx_stamp);
      return hdb__fail(err, st, "out of memory reading %s/%s", fc->dir, INDEX_FILE);
    }
    const cJSON *fmt = root ? cJSON_GetObjectItemCaseSensitive(root, "format") : NULL;
    const cJSON *ver = root ? cJSON_GetObjectItemCaseSensitive(root, "version") : NULL;
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, INDEX_FORMAT) != 0 ||
        !cJSON_IsNumber(ver) || ver->valueint != 1 ||
        !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(root, "tables"))) {
      cJSON_Delete(root);
      hdb__fstamp_clear(&fc->idx_stamp);
      return hdb__fail(err, HDB_CORRUPT,
                       "%s/%s: expected {\"format\":\"%s\",\"version\":1,\"tables\":{...}}",
                       fc->dir, INDEX_FILE, INDEX_FORMAT);
    }
  }
  cJSON_Delete(fc->idx_root);
  fc->idx_root = root;
  *changed = 1;
  return HDB_OK;
}

/* Calls fn for every key of every namespace the memory store holds, in
 * order; stops at the first failure. */
typedef hdb_status (*kv_visit_fn)(void *ctx, const char *ns, const void *k, size_t kl,
                                  const void *v, size_t vl, hdb_error *err);
static hdb_status kv_each(fconn *fc, kv_visit_fn fn, void *ctx, hdb_error *err) {
  hdb_status st = HDB_OK;
  for (size_t i = 0; i < fc->n_ns && st == HDB_OK; i++) {
    hdb_kv_iter *it = NULL;
    if ((st = fc->m->kv_iter(fc->mem, fc->ns[i], NULL, &it, err)) != HDB_OK) break;
    for (;;) {
      const void *k, *v;
      size_t kl, vl;
      hdb_error ierr;
      hdb__err_clear(&ierr);
      hdb_status r = it->vt->next(it, &k, &kl, &v, &vl, &ierr);
      if (r == HDB_DONE) break;
      if (r != HDB_OK) {
        st = hdb__fail(err, r, "%s", ierr.message);
        break;
      }
      if ((st = fn(ctx, fc->ns[i], k, kl, v, vl, err)) != HDB_OK) break;
    }
    it->vt->close(it);
  }
  return st;
}

static hdb_status queue_delete(void *ctx, const char *ns, const void *k, size_t kl,
                               const void *v, size_t vl, hdb_error *err) {
  hdb_status st = hdb_kv_batch_delete(ctx, ns, k, kl);
  return st == HDB_OK ? st : hdb__fail(err, st, "out of memory");
}

/* Replaces the memory store's KV contents with _kv.jsonl when it changed. */
static hdb_status sync_kv(fconn *fc, hdb_error *err) {
  if (fc->mode != FMODE_DIR || !fc->m->kv_write || !fc->m->kv_iter) return HDB_OK;
  if (hdb__fstamp_same(&fc->kv_stamp, fc->dir_fd, KV_FILE)) return HDB_OK;
  hdb__fstamp stamp;
  hdb__fstamp_init(&stamp);
  char *buf = NULL;
  size_t len = 0;
  hdb_kv_batch *batch = hdb_kv_batch_new();
  hdb_kv_batch *puts = hdb_kv_batch_new();
  hdb_status st = HDB_OK;
  if (!batch || !puts) {
    st = hdb__fail(err, HDB_NOMEM, "out of memory");
    goto out;
  }
  hdb__fstamp_clear(&fc->kv_stamp);
  if ((st = hdb__file_read(fc->dir_fd, fc->dir, KV_FILE, &buf, &len, &stamp, err)) != HDB_OK)
    goto out;
  if (buf && (st = hdb__kv_parse(buf, len, KV_FILE, puts, err)) != HDB_OK) goto out;
  /* Delete every key we hold, then put the file's: one atomic batch. */
  if (st == HDB_OK) st = kv_each(fc, queue_delete, batch, err);
  for (size_t i = 0; i < puts->n && st == HDB_OK; i++) {
    const hdb__kv_op *op = &puts->ops[i];
    if ((st = hdb_kv_batch_put(batch, op->ns, op->key, op->klen, op->val, op->vlen)) != HDB_OK)
      hdb__fail(err, st, "out of memory");
    else
      st = ns_add(fc, op->ns, err);
  }
  if (st == HDB_OK && batch->n > 0) st = fc->m->kv_write(fc->mem, batch, err);
  if (st == HDB_OK) stamp_move(&fc->kv_stamp, &stamp);
out:
  hdb__fstamp_clear(&stamp);
  hdb__free_mem(buf);
  hdb_kv_batch_free(batch);
  hdb_kv_batch_free(puts);
  return st;
}

/* Table names present on disk (dir mode): every valid NAME.jsonl. */
static hdb_status list_disk_tables(fconn *fc, char ***names, size_t *count, hdb_error *err) {
  *names = NULL;
  *count = 0;
  int fd = openat(fc->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
  if (!d) {
    int e = errno;
    if (fd >= 0) close(fd);
    return hdb__fail(err, HDB_IO, "cannot list %s: %s", fc->dir, strerror(e));
  }
  size_t cap = 0;
  hdb_status st = HDB_OK;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    size_t len = strlen(de->d_name);
    if (!ends_with(de->d_name, ".jsonl") || len - 6 > HDB_MAX_NAME_LEN) continue;
    char name[HDB_MAX_NAME_LEN + 1];
    memcpy(name, de->d_name, len - 6);
    name[len - 6] = '\0';
    if (!hdb__name_valid(name, 0)) continue; /* _kv.jsonl, stray files */
    if (*count == cap) {
      size_t ncap = cap ? cap * 2 : 16;
      char **v = hdb__realloc(*names, ncap * sizeof *v);
      if (!v) {
        st = hdb__fail(err, HDB_NOMEM, "out of memory");
        break;
      }
      *names = v;
      cap = ncap;
    }
    if (!((*names)[*count] = hdb__strdup(name))) {
      st = hdb__fail(err, HDB_NOMEM, "out of memory");
      break;
    }
    (*count)++;
  }
  closedir(d);
  if (st != HDB_OK) {
    hdb_strings_free(*names, *count);
    *names = NULL;
    *count = 0;
  }
  return st;
}

/* Brings the memory store up to date with the files (README rule 3).
 * The caller holds a lock; inside a transaction nothing is reloaded. */
static hdb_status sync_files(fconn *fc, hdb_error *err) {
  if (fc->in_txn) return HDB_OK;
  hdb_status st = HDB_OK;
  hdb_error ignored;
  if (fc->mode != FMODE_DIR) {
    char dname[FNAME_MAX];
    data_file(fc, fc->stem, dname);
    struct stat sb;
    int present = fstatat(fc->dir_fd, dname, &sb, 0) == 0;
    ftable *t = table_find(fc, fc->stem);
    if (!present) {
      if (t) {
        fc->m->table_drop(fc->mem, t->name, HDB_IF_EXISTS, &ignored);
        table_forget(fc, t);
      }
      return HDB_OK;
    }
    if (!t && !(t = table_add(fc, fc->stem, err))) return HDB_NOMEM;
    char sname[FNAME_MAX];
    schema_file(t->name, sname);
    if (!hdb__fstamp_same(&t->data, fc->dir_fd, dname) ||
        !hdb__fstamp_same(&t->schema, fc->dir_fd, sname))
      st = load_table(fc, t, err);
    return st;
  }

  int idx_changed = 0;
  if ((st = sync_index_file(fc, &idx_changed, err)) != HDB_OK) return st;
  char **names = NULL;
  size_t n = 0;
  if ((st = list_disk_tables(fc, &names, &n, err)) != HDB_OK) return st;
  for (size_t i = fc->n_tables; i-- > 0;) {
    size_t k = 0;
    while (k < n && strcmp(names[k], fc->tables[i].name) != 0) k++;
    if (k < n) continue;
    fc->m->table_drop(fc->mem, fc->tables[i].name, HDB_IF_EXISTS, &ignored);
    table_forget(fc, &fc->tables[i]);
  }
  for (size_t k = 0; k < n && st == HDB_OK; k++) {
    ftable *t = table_find(fc, names[k]);
    if (!t) {
      if (!(t = table_add(fc, names[k], err))) {
        st = HDB_NOMEM;
        break;
      }
      hdb__fstamp_clear(&t->data); /* new to us: load it */
    }
    char dname[FNAME_MAX], sname[FNAME_MAX];
    data_file(fc, t->name, dname);
    schema_file(t->name, sname);
    if (!hdb__fstamp_same(&t->data, fc->dir_fd, dname) ||
        !hdb__fstamp_same(&t->schema, fc->dir_fd, sname))
      st = load_table(fc, t, err);
    else if (idx_changed)
      st = reconcile_indexes(fc, t->name, err);
  }
  hdb_strings_free(names, n);
  if (st == HDB_OK) st = sync_kv(fc, err);
  return st;
}

/* ------------------------------------------------------------------ */
/* Persisting: memory -> disk                                          */
/* ------------------------------------------------------------------ */

static hdb_status dump_table(fconn *fc, ftable *t, hdb__fchanges *ch, hdb_error *err) {
  char dname[FNAME_MAX], sname[FNAME_MAX];
  data_file(fc, t->name, dname);
  schema_file(t->name, sname);
  hdb_schema *schema = NULL;
  hdb_status st = fc->m->table_schema(fc->mem, t->name, &schema, err);
  if (st == HDB_NO_TABLE) { /* dropped */
    hdb__err_clear(err);
    st = hdb__fchanges_remove(ch, dname, err);
    if (st == HDB_OK) st = hdb__fchanges_remove(ch, sname, err);
    return st;
  }
  if (st != HDB_OK) return st;
  hdb__rowbuf rows = {0};
  hdb__strbuf out = {0};
  if ((st = table_rows(fc, t->name, &rows, err)) != HDB_OK) goto out;
  st = fc->mode == FMODE_CSV ? hdb__csv_dump(rows.rows, rows.n, schema, &out, err)
                             : hdb__jsonl_dump(rows.rows, rows.n, &out, err);
  if (st != HDB_OK) goto out;
  if ((st = hdb__fchanges_put(ch, dname, &out, err)) != HDB_OK) goto out;
  if (t->touched & TOUCH_DDL) {
    if (schema) {
      char *json = NULL;
      if ((st = hdb_schema_to_json(schema, &json)) != HDB_OK) {
        hdb__fail(err, st, "cannot encode the schema of '%s'", t->name);
        goto out;
      }
      hdb__strbuf_puts(&out, json);
      hdb__strbuf_putc(&out, '\n');
      hdb_free(json);
      st = hdb__fchanges_put(ch, sname, &out, err);
    } else {
      st = hdb__fchanges_remove(ch, sname, err);
    }
  }
out:
  hdb__strbuf_free(&out);
  hdb__rowbuf_free(&rows);
  hdb_schema_free(schema);
  return st;
}

static hdb_status dump_line(void *ctx, const char *ns, const void *k, size_t kl, const void *v,
                            size_t vl, hdb_error *err) {
  if (hdb__kv_dump_line(ctx, ns, k, kl, v, vl) != HDB_OK)
    return hdb__fail(err, HDB_NOMEM, "out of memory writing %s", KV_FILE);
  return HDB_OK;
}

static hdb_status dump_kv(fconn *fc, hdb__fchanges *ch, hdb_error *err) {
  hdb__strbuf out = {0};
  hdb_status st = kv_each(fc, dump_line, &out, err);
  if (st == HDB_OK)
    st = out.n ? hdb__fchanges_put(ch, KV_FILE, &out, err) : hdb__fchanges_remove(ch, KV_FILE, err);
  hdb__strbuf_free(&out);
  return st;
}

static hdb_status dump_indexes(fconn *fc, hdb__fchanges *ch, hdb_error *err) {
  char **names = NULL;
  size_t n = 0, total = 0;
  hdb_status st = fc->m->table_list(fc->mem, &names, &n, err);
  if (st != HDB_OK) return st;
  cJSON *root = cJSON_CreateObject();
  cJSON *tables = NULL;
  if (!root || !cJSON_AddStringToObject(root, "format", INDEX_FORMAT) ||
      !cJSON_AddNumberToObject(root, "version", 1) ||
      !(tables = cJSON_AddObjectToObject(root, "tables")))
    st = hdb__fail(err, HDB_NOMEM, "out of memory");
  for (size_t i = 0; i < n && st == HDB_OK; i++) {
    hdb_index_info *infos = NULL;
    size_t k = 0;
    if ((st = fc->m->index_list(fc->mem, names[i], &infos, &k, err)) != HDB_OK) break;
    cJSON *arr = k ? cJSON_AddArrayToObject(tables, names[i]) : NULL;
    if (k && !arr) st = hdb__fail(err, HDB_NOMEM, "out of memory");
    for (size_t j = 0; j < k && st == HDB_OK; j++) {
      cJSON *e = cJSON_CreateObject();
      cJSON *params = NULL;
      hdb_status pst = infos[j].params ? hdb__json_parse(infos[j].params,
                                                         strlen(infos[j].params), &params, err)
                                       : HDB_OK;
      if (pst != HDB_OK) {
        cJSON_Delete(e);
        st = hdb__fail(err, pst == HDB_NOMEM ? HDB_NOMEM : HDB_ERROR,
                       "cannot record the parameters of index %s.%s", names[i], infos[j].column);
        break;
      }
      if (!e || !cJSON_AddItemToArray(arr, e)) {
        cJSON_Delete(e);
        cJSON_Delete(params);
        st = hdb__fail(err, HDB_NOMEM, "out of memory");
        break;
      }
      if (!cJSON_AddStringToObject(e, "column", infos[j].column) ||
          !cJSON_AddStringToObject(e, "type", hdb_index_type_name(infos[j].type)) ||
          (params && !cJSON_AddItemToObject(e, "params", params))) {
        cJSON_Delete(params);
        st = hdb__fail(err, HDB_NOMEM, "out of memory");
      }
      total++;
    }
    hdb_index_info_free(infos, k);
  }
  hdb_strings_free(names, n);
  if (st == HDB_OK) {
    if (total == 0) {
      st = hdb__fchanges_remove(ch, INDEX_FILE, err);
    } else {
      char *text = cJSON_Print(root);
      hdb__strbuf out = {0};
      if (text) {
        hdb__strbuf_puts(&out, text);
        hdb__strbuf_putc(&out, '\n');
        cJSON_free(text);
        st = hdb__fchanges_put(ch, INDEX_FILE, &out, err);
      } else {
        st = hdb__fail(err, HDB_NOMEM, "out of memory");
      }
      hdb__strbuf_free(&out);
    }
  }
  cJSON_Delete(root);
  return st;
}

/* Forgets what we know of every touched file so the next sync reloads it
 * from disk: the undo of a change that did not reach the disk. */
static void invalidate_touched(fconn *fc) {
  for (size_t i = 0; i < fc->n_tables; i++) {
    if (!fc->tables[i].touched) continue;
    hdb__fstamp_clear(&fc->tables[i].data);
    hdb__fstamp_clear(&fc->tables[i].schema);
    fc->tables[i].touched = 0;
  }
  if (fc->touched_kv) hdb__fstamp_clear(&fc->kv_stamp);
  if (fc->touched_idx) hdb__fstamp_clear(&fc->idx_stamp);
  fc->touched_kv = fc->touched_idx = 0;
}

/* Undo after a failed write: reload the touched files (we still hold the
 * exclusive lock, so they are as we last saw them). */
static void undo_touched(fconn *fc) {
  hdb_error ignored;
  invalidate_touched(fc);
  sync_files(fc, &ignored);
}

/* Writes every touched table, the KV file and the index file as one atomic
 * change set, then re-stamps them. Caller holds the exclusive lock. */
static hdb_status flush_touched(fconn *fc, hdb_error *err) {
  hdb__fchanges ch = {0};
  hdb_status st = HDB_OK;
  for (size_t i = 0; i < fc->n_tables && st == HDB_OK; i++)
    if (fc->tables[i].touched) st = dump_table(fc, &fc->tables[i], &ch, err);
  if (st == HDB_OK && fc->touched_kv) st = dump_kv(fc, &ch, err);
  if (st == HDB_OK && fc->touched_idx) st = dump_indexes(fc, &ch, err);
  if (st == HDB_OK && ch.n) st = hdb__file_commit(fc->dir_fd, fc->dir, fc->journal_name, &ch, err);
  hdb__fchanges_free(&ch);
  if (st != HDB_OK) {
    undo_touched(fc);
    return st;
  }
  /* Re-stamp what we wrote. A failure here only costs a reload later. */
  hdb_error ignored;
  for (size_t i = fc->n_tables; i-- > 0;) {
    ftable *t = &fc->tables[i];
    if (!t->touched) continue;
    t->touched = 0;
    char dname[FNAME_MAX], sname[FNAME_MAX];
    data_file(fc, t->name, dname);
    schema_file(t->name, sname);
    hdb__fstamp_refresh(&t->data, fc->dir_fd, fc->dir, dname, &ignored);
    hdb__fstamp_refresh(&t->schema, fc->dir_fd, fc->dir, sname, &ignored);
    if (t->data.valid && !t->data.exists) table_forget(fc, t);
  }
  if (fc->touched_kv) hdb__fstamp_refresh(&fc->kv_stamp, fc->dir_fd, fc->dir, KV_FILE, &ignored);
  if (fc->touched_idx) {
    /* Keep the parsed copy in step with what we just wrote. */
    hdb__fstamp_clear(&fc->idx_stamp);
    int changed;
    sync_index_file(fc, &changed, &ignored);
  }
  fc->touched_kv = fc->touched_idx = 0;
  return HDB_OK;
}

/* ------------------------------------------------------------------ */
/* Call brackets                                                       */
/* ------------------------------------------------------------------ */

static hdb_status read_begin(fconn *fc, hdb_error *err) {
  if (fc->in_txn) return HDB_OK;
  hdb_status st = lock_take(fc, 0, err);
  if (st != HDB_OK) return st;
  if ((st = sync_files(fc, err)) != HDB_OK) lock_drop(fc);
  return st;
}

static hdb_status read_end(fconn *fc, hdb_status st) {
  if (!fc->in_txn) lock_drop(fc);
  return st;
}

static hdb_status write_begin(fconn *fc, hdb_error *err) {
  if (fc->read_only)
    return hdb__fail(err, HDB_READ_ONLY, "file://%s/%s was opened read-only", fc->dir,
                     fc->single ? fc->single : "");
  if (fc->in_txn) return HDB_OK;
  hdb_status st = lock_take(fc, 1, err);
  if (st != HDB_OK) return st;
  if ((st = sync_files(fc, err)) != HDB_OK) lock_drop(fc);
  return st;
}

/* st is the memory store's answer. Inside a transaction the change waits
 * for commit; otherwise it goes to disk now. */
static hdb_status write_end(fconn *fc, hdb_status st, hdb_error *err) {
  if (fc->in_txn) return st;
  if (st == HDB_OK)
    st = flush_touched(fc, err);
  else
    invalidate_touched(fc); /* memory refused: nothing changed; just clear the marks */
  lock_drop(fc);
  return st;
}

/*
 * The table's entry, made before the memory call that may change the table,
 * so that marking it touched afterwards cannot fail. *fresh says it was made
 * now; entry_done forgets a fresh entry when memory did not take the change.
 */
static ftable *entry_for(fconn *fc, const char *table, int *fresh, hdb_error *err) {
  ftable *t = table_find(fc, table);
  *fresh = t == NULL;
  return t ? t : table_add(fc, table, err);
}

static void entry_done(fconn *fc, ftable *t, int fresh, int changed, unsigned what) {
  if (changed)
    t->touched |= what;
  else if (fresh && !t->touched)
    table_forget(fc, t);
}

/* ------------------------------------------------------------------ */
/* Open and close                                                      */
/* ------------------------------------------------------------------ */

static void file_close(void *conn) {
  fconn *fc = conn;
  if (!fc) return;
  if (fc->mem) fc->m->close(fc->mem);
  for (size_t i = 0; i < fc->n_tables; i++) {
    hdb__fstamp_clear(&fc->tables[i].data);
    hdb__fstamp_clear(&fc->tables[i].schema);
    hdb__free_mem(fc->tables[i].name);
  }
  hdb__free_mem(fc->tables);
  for (size_t i = 0; i < fc->n_ns; i++) hdb__free_mem(fc->ns[i]);
  hdb__free_mem(fc->ns);
  hdb__fstamp_clear(&fc->idx_stamp);
  hdb__fstamp_clear(&fc->kv_stamp);
  cJSON_Delete(fc->idx_root);
  if (fc->lock_fd >= 0) close(fc->lock_fd);
  if (fc->dir_fd >= 0) close(fc->dir_fd);
  hdb__free_mem(fc->dir);
  hdb__free_mem(fc->single);
  hdb__free_mem(fc->stem);
  hdb__free_mem(fc->lock_name);
  hdb__free_mem(fc->journal_name);
  hdb__free_mem(fc->lock_path);
  hdb__free_mem(fc);
}

/* Splits the URL path into the directory and, for PATH.jsonl / PATH.csv,
 * the file name and its table name. */
static hdb_status parse_path(fconn *fc, const char *path, hdb_error *err) {
  struct stat sb;
  int is_dir = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
  fc->mode = FMODE_DIR;
  if (!is_dir && ends_with(path, ".jsonl") && !ends_with(path, "/.jsonl"))
    fc->mode = FMODE_JSONL;
  else if (!is_dir && ends_with(path, ".csv") && !ends_with(path, "/.csv"))
    fc->mode = FMODE_CSV;
  if (fc->mode == FMODE_DIR) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    fc->dir = hdb__strndup(path, n);
    fc->lock_name = hdb__strdup("_lock");
    fc->journal_name = hdb__strdup("_journal");
  } else {
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t ext = fc->mode == FMODE_CSV ? 4 : 6;
    if (strlen(base) + 16 > FNAME_MAX)
      return hdb__fail(err, HDB_BAD_URL, "file://%s: the file name is too long", path);
    fc->dir = slash ? (slash == path ? hdb__strdup("/") : hdb__strndup(path, (size_t)(slash - path)))
                    : hdb__strdup(".");
    fc->single = hdb__strdup(base);
    fc->stem = hdb__strndup(base, strlen(base) - ext);
    if (fc->stem && !hdb__name_valid(fc->stem, 0))
      return hdb__fail(err, HDB_BAD_URL,
                       "file://%s: the table name is the file's stem, and '%s' is not a valid "
                       "table name (letters, digits and '_', not starting with a digit or '_')",
                       path, fc->stem);
    size_t bl = strlen(base);
    fc->lock_name = hdb__malloc(bl + 6);
    fc->journal_name = hdb__malloc(bl + 9);
    if (fc->lock_name) snprintf(fc->lock_name, bl + 6, "%s.lock", base);
    if (fc->journal_name) snprintf(fc->journal_name, bl + 9, "%s.journal", base);
  }
  if (!fc->dir || !fc->lock_name || !fc->journal_name || (fc->mode != FMODE_DIR && !fc->stem))
    return hdb__fail(err, HDB_NOMEM, "out of memory");
  if (!(fc->lock_path = hdb__file_path(fc->dir, fc->lock_name)))
    return hdb__fail(err, HDB_NOMEM, "out of memory");
  return HDB_OK;
}

static hdb_status file_open(const hdb__url *url, const hdb_config *cfg, void **conn,
                            hdb_error *err) {
  *conn = NULL;
  hdb__json_init();
  fconn *fc = hdb__calloc(1, sizeof *fc);
  if (!fc) return hdb__fail(err, HDB_NOMEM, "out of memory opening file://%s", url->path);
  fc->m = &hdb__backend_memory;
  fc->dir_fd = fc->lock_fd = -1;
  hdb__fstamp_init(&fc->idx_stamp);
  hdb__fstamp_init(&fc->kv_stamp);
  fc->read_only = cfg && cfg->read_only;
  fc->timeout_ms = cfg && cfg->timeout_ms > 0 ? cfg->timeout_ms : 5000;
  hdb_status st = parse_path(fc, url->path, err);
  if (st != HDB_OK) goto fail;
  if (!fc->read_only && (st = hdb__file_mkdirs(fc->dir, err)) != HDB_OK) goto fail;
  if ((fc->dir_fd = open(fc->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
    st = hdb__fail(err, HDB_IO, "cannot open directory %s: %s", fc->dir, strerror(errno));
    goto fail;
  }
  fc->lock_fd = openat(fc->dir_fd, fc->lock_name,
                       (fc->read_only ? O_RDONLY : O_RDWR | O_CREAT) | O_CLOEXEC, 0666);
  if (fc->lock_fd < 0 && !(fc->read_only && errno == ENOENT)) {
    st = hdb__fail(err, HDB_IO, "cannot open %s: %s", fc->lock_path, strerror(errno));
    goto fail;
  }

  /* The private memory store, opened through its vtable like any backend.
   * It gets a plain config: read_only is enforced here, and memory must
   * accept the loads. */
  hdb__url mu;
  if ((st = hdb__url_parse("memory://", &mu, err)) != HDB_OK) goto fail;
  hdb_config mcfg = HDB_CONFIG_INIT;
  mcfg.timeout_ms = fc->timeout_ms;
  st = fc->m->open(&mu, &mcfg, &fc->mem, err);
  hdb__url_free(&mu);
  if (st != HDB_OK) {
    fc->mem = NULL;
    goto fail;
  }

  if ((st = lock_take(fc, 0, err)) != HDB_OK) goto fail;
  st = sync_files(fc, err);
  lock_drop(fc);
  if (st != HDB_OK) goto fail;
  *conn = fc;
  return HDB_OK;
fail:
  file_close(fc);
  return st;
}

static uint32_t file_capabilities(void *conn) {
  fconn *fc = conn;
  uint32_t caps = (fc->m->capabilities(fc->mem) & FILE_CAPS_FROM_MEMORY) | HDB_CAP_PERSISTENT;
  if (fc->mode != FMODE_DIR) caps &= ~(uint32_t)FILE_CAPS_DIR_ONLY;
  return caps;
}

static hdb_status file_ping(void *conn, hdb_error *err) {
  fconn *fc = conn;
  struct stat sb;
  if (fstat(fc->dir_fd, &sb) != 0 || sb.st_nlink == 0)
    return hdb__fail(err, HDB_IO, "directory %s is gone", fc->dir);
  return HDB_OK;
}

/* ------------------------------------------------------------------ */
/* Tables                                                              */
/* ------------------------------------------------------------------ */

static hdb_status file_table_create(void *conn, const char *table, const hdb_schema *schema,
                                    unsigned flags, hdb_error *err) {
  fconn *fc = conn;
  if (!hdb__name_valid(table, 0))
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "invalid table name '%.200s'", table);
  if (fc->mode != FMODE_DIR && strcmp(table, fc->stem) != 0)
    return hdb__fail(err, HDB_NOT_SUPPORTED,
                     "file://%s/%s holds a single table named '%s'; a table '%s' needs a "
                     "directory (file://DIR holds one NAME.jsonl per table)",
                     fc->dir, fc->single, fc->stem, table);
  hdb_status st = write_begin(fc, err);
  if (st != HDB_OK) return st;
  /* With HDB_IF_NOT_EXISTS an existing table is a no-op: nothing to write. */
  hdb_schema *old = NULL;
  hdb_error ignored;
  int existed = fc->m->table_schema(fc->mem, table, &old, &ignored) == HDB_OK;
  hdb_schema_free(old);
  int fresh;
  ftable *t = entry_for(fc, table, &fresh, err);
  if (!t) return write_end(fc, HDB_NOMEM, err);
  st = fc->m->table_create(fc->mem, table, schema, flags, err);
  entry_done(fc, t, fresh, st == HDB_OK && !existed, TOUCH_ROWS | TOUCH_DDL);
  return write_end(fc, st, err);
}

static hdb_status file_table_drop(void *conn, const char *table, unsigned flags,
                                  hdb_error *err) {
  fconn *fc = conn;
  hdb_status st = write_begin(fc, err);
  if (st != HDB_OK) return st;
  hdb_schema *old = NULL;
  hdb_error ignored;
  int existed = fc->m->table_schema(fc->mem, table, &old, &ignored) == HDB_OK;
  hdb_schema_free(old);
  int fresh;
  ftable *t = entry_for(fc, table, &fresh, err);
  if (!t) return write_end(fc, HDB_NOMEM, err);
  st = fc->m->table_drop(fc->mem, table, flags, err);
  entry_done(fc, t, fresh, st == HDB_OK && existed, TOUCH_ROWS | TOUCH_DDL);
  if (st == HDB_OK && existed && fc->mode == FMODE_DIR) fc->touched_idx = 1;
  return write_end(fc, st, err);
}

static hdb_status file_table_list(void *conn, char ***names, size_t *count, hdb_error *err) {
  fconn *fc = conn;
  hdb_status st = read_begin(fc, err);
  if (st != HDB_OK) return st;
  return read_end(fc, fc->m->table_list(fc->mem, names, count, err));
}

static hdb_status file_table_schema(void *conn, const char *table, hdb_schema **schema,
                                    hdb_error *err) {
  fconn *fc = conn;
  hdb_status st = read_begin(fc, err);
  if (st != HDB_OK) return st;
  return read_end(fc, fc->m->table_schema(fc->mem, table, schema, err));
}

/* ------------------------------------------------------------------ */
/* Rows                                                                */
/* ------------------------------------------------------------------ */

static hdb_status file_write(void *conn, const char *table, hdb_record *const *records, size_t n,
                             hdb__write_mode mode, hdb_error *err) {
  fconn *fc = conn;
  hdb_status st = write_begin(fc, err);
  if (st != HDB_OK) return st;
  int fresh;
  ftable *t = entry_for(fc, table, &fresh, err);
  if (!t) return write_end(fc, HDB_NOMEM, err);
  st = fc->m->write(fc->mem, table, records, n, mode, err);
  entry_done(fc, t, fresh, st == HDB_OK, TOUCH_ROWS);
  return write_end(fc, st, err);
}

static hdb_status file_get(void *conn, const char *table, const char *id, hdb_record **out,
                           hdb_error *err) {
  fconn *fc = conn;
  hdb_status st = read_begin(fc, err);
  if (st != HDB_OK) return st;
  return read_end(fc, fc->m->get(fc->mem, table, id, out, err));
}

static hdb_status file_update(void *conn, const char *table, const char *id,
                              const hdb__expr *filter, const hdb_record *patch,
                              uint64_t *updated, hdb_error *err) {
  fconn *fc = conn;
  hdb_status st = write_begin(fc, err);
  if (st != HDB_OK) return st;
  uint64_t k = 0;
  int fresh;
  ftable *t = entry_for(fc, table, &fresh, err);
  if (!t) return write_end(fc, HDB_NOMEM, err);
  st = fc->m->update(fc->mem, table, id, filter, patch, &k, err);
  if (updated) *updated = k;
  entry_done(fc, t, fresh, st == HDB_OK && k > 0, TOUCH_ROWS);
  st = write_end(fc, st, err);
  if (st != HDB_OK && updated) *updated = 0;
  return st;
}

static hdb_status file_remove(void *conn, const char *table, const char *id,
                              const hdb__expr *filter, uint64_t *deleted, hdb_error *err) {
  fconn *fc = conn;
  hdb_status st = write_begin(fc, err);
  if (st != HDB_OK) return st;
  uint64_t k = 0;
  int fresh;
  ftable *t = entry_for(fc, table, &fresh, err);
  if (!t) return write_end(fc, HDB_NOMEM, err);
  st = fc->m->remove(fc->mem, table, id, filter, &k, err);
  if (deleted) *deleted = k;
  entry_done(fc, t, fresh, st == HDB_OK && k > 0, TOUCH_ROWS);
  st = write_end(fc, st, err);
  if (st != HDB_OK && deleted) *deleted = 0;
  return st;
}

static hdb_status file_query(void *conn, const char *table, const hdb__query *q,
                             hdb_cursor **out, hdb_error *err) {
  fconn *fc = conn;
  hdb_status st = read_begin(fc, err);
  if (st != HDB_OK) return st;
  /* Memory's cursors hold clones or counted rows, so a later reload of the
   * table cannot pull rows out from under them. */
  return read_end(fc, fc->m->query(fc->mem, table, q, out, err));
}

static hdb_status file_count(void *conn, const char *table, const hdb__expr *filter,
                             int64_t version, uint64_t *out, hdb_error *err) {
  fconn *fc = conn;
  hdb_status st = read_begin(fc, err);
  if (st != HDB_OK) return st;
  return read_end(fc, fc->m->count(fc->mem, table, filter, version, out, err));
}

static hdb_status file_search(void *conn, const char *table, const hdb__search *s,
                              hdb_cursor **out, hdb_error *err) {
  fconn *fc = conn;
  if (!fc->m->search) return hdb__fail(err, HDB_NOT_SUPPORTED, "vector search is not available");
  hdb_status st = read_begin(fc, err);
  if (st != HDB_OK) return st;
  return read_end(fc, fc->m->search(fc->mem, table, s, out, err));
}

static hdb_status file_aggregate(void *conn, const char *table, const hdb_agg *aggs,
                                 size_t n_aggs, const char *group_by, const hdb__expr *filter,
                                 hdb_cursor **out, hdb_error *err) {
  fconn *fc = conn;
  if (!fc->m->aggregate) return hdb__fail(err, HDB_NOT_SUPPORTED, "aggregates are not available");
  hdb_status st = read_begin(fc, err);
  if (st != HDB_OK) return st;
  return read_end(fc, fc->m->aggregate(fc->mem, table, aggs, n_aggs, group_by, filter, out, err));
}

static hdb_status file_search_hybrid(void *conn, const char *table, const hdb__search *s,
                                     const char *text_column, const char *text_query,
                                     hdb_fusion fusion, double vector_weight, hdb_cursor **out,
                                     hdb_error *err) {
  fconn *fc = conn;
  if (!fc->m->search_hybrid || fc->mode != FMODE_DIR)
    return hdb__fail(err, HDB_NOT_SUPPORTED, "hybrid search is not available here");
  hdb_status st = read_begin(fc, err);
  if (st != HDB_OK) return st;
  return read_end(fc, fc->m->search_hybrid(fc->mem, table, s, text_column, text_query, fusion,
                                           vector_weight, out, err));
}

/* ------------------------------------------------------------------ */
/* Indexes                                                             */
/* ------------------------------------------------------------------ */

static hdb_status file_index_create(void *conn, const char *table, const char *column,
                                    hdb_index_type type, const char *params, hdb_error *err) {
  fconn *fc = conn;
  if (fc->mode != FMODE_DIR) return not_single(fc, "an index", err);
  if (!fc->m->index_create) return hdb__fail(err, HDB_NOT_SUPPORTED, "indexes are not available");
  hdb_status st = write_begin(fc, err);
  if (st != HDB_OK) return st;
  st = fc->m->index_create(fc->mem, table, column, type, params, err);
  if (st == HDB_OK) fc->touched_idx = 1;
  return write_end(fc, st, err);
}

static hdb_status file_index_drop(void *conn, const char *table, const char *column,
                                  hdb_error *err) {
  fconn *fc = conn;
  if (fc->mode != FMODE_DIR) return not_single(fc, "an index", err);
  if (!fc->m->index_drop) return hdb__fail(err, HDB_NOT_SUPPORTED, "indexes are not available");
  hdb_status st = write_begin(fc, err);
  if (st != HDB_OK) return st;
  st = fc->m->index_drop(fc->mem, table, column, err);
  if (st == HDB_OK) fc->touched_idx = 1;
  return write_end(fc, st, err);
}

static hdb_status file_index_list(void *conn, const char *table, hdb_index_info **infos,
                                  size_t *count, hdb_error *err) {
  fconn *fc = conn;
  if (!fc->m->index_list) return hdb__fail(err, HDB_NOT_SUPPORTED, "indexes are not available");
  hdb_status st = read_begin(fc, err);
  if (st != HDB_OK) return st;
  return read_end(fc, fc->m->index_list(fc->mem, table, infos, count, err));
}

/* ------------------------------------------------------------------ */
/* Transactions                                                        */
/* ------------------------------------------------------------------ */

static hdb_status file_begin(void *conn, hdb_error *err) {
  fconn *fc = conn;
  if (!fc->m->begin) return hdb__fail(err, HDB_NOT_SUPPORTED, "transactions are not available");
  if (fc->in_txn) return hdb__fail(err, HDB_TXN_STATE, "a transaction is already open");
  hdb_status st = read_begin(fc, err); /* start from the latest committed files */
  if (st != HDB_OK) return st;
  st = fc->m->begin(fc->mem, err);
  read_end(fc, st);
  if (st == HDB_OK) fc->in_txn = 1;
  return st;
}

/* 1 when every file the transaction touched is as it was at begin. */
static int txn_conflict(fconn *fc, char *what, size_t cap) {
  for (size_t i = 0; i < fc->n_tables; i++) {
    ftable *t = &fc->tables[i];
    if (!t->touched) continue;
    char dname[FNAME_MAX], sname[FNAME_MAX];
    data_file(fc, t->name, dname);
    schema_file(t->name, sname);
    if (!hdb__fstamp_same(&t->data, fc->dir_fd, dname) ||
        !hdb__fstamp_same(&t->schema, fc->dir_fd, sname)) {
      snprintf(what, cap, "table '%s'", t->name);
      return 1;
    }
  }
  if (fc->touched_kv && !hdb__fstamp_same(&fc->kv_stamp, fc->dir_fd, KV_FILE)) {
    snprintf(what, cap, "the key-value store");
    return 1;
  }
  if (fc->touched_idx && !hdb__fstamp_same(&fc->idx_stamp, fc->dir_fd, INDEX_FILE)) {
    snprintf(what, cap, "the index list");
    return 1;
  }
  return 0;
}

static hdb_status file_commit(void *conn, hdb_error *err) {
  fconn *fc = conn;
  if (!fc->in_txn) return hdb__fail(err, HDB_TXN_STATE, "no transaction is open");
  hdb_error ignored;
  hdb_status st = lock_take(fc, 1, err);
  if (st != HDB_OK) { /* a failed commit rolls back */
    fc->m->rollback(fc->mem, &ignored);
    fc->in_txn = 0;
    invalidate_touched(fc);
    return st;
  }
  char what[200];
  if (txn_conflict(fc, what, sizeof what)) {
    fc->m->rollback(fc->mem, &ignored);
    fc->in_txn = 0;
    undo_touched(fc);
    lock_drop(fc);
    return hdb__fail(err, HDB_CONFLICT,
                     "%s was changed by another handle or process since the transaction began; "
                     "the transaction was rolled back",
                     what);
  }
  st = fc->m->commit(fc->mem, err);
  fc->in_txn = 0;
  if (st != HDB_OK)
    undo_touched(fc);
  else
    st = flush_touched(fc, err);
  lock_drop(fc);
  return st;
}

static hdb_status file_rollback(void *conn, hdb_error *err) {
  fconn *fc = conn;
  if (!fc->in_txn) return hdb__fail(err, HDB_TXN_STATE, "no transaction is open");
  hdb_status st = fc->m->rollback(fc->mem, err);
  fc->in_txn = 0;
  /* Memory is back to its state at begin, which matched the files then;
   * what another process committed since is picked up by the next sync. */
  for (size_t i = 0; i < fc->n_tables; i++) fc->tables[i].touched = 0;
  fc->touched_kv = fc->touched_idx = 0;
  if (st != HDB_OK) invalidate_touched(fc);
  return st;
}

/* ------------------------------------------------------------------ */
/* Key-value                                                           */
/* ------------------------------------------------------------------ */

static hdb_status file_kv_get(void *conn, const char *ns, const void *key, size_t klen,
                              void **val, size_t *vlen, hdb_error *err) {
  fconn *fc = conn;
  if (fc->mode != FMODE_DIR) return not_single(fc, "key-value storage", err);
  if (!fc->m->kv_get) return hdb__fail(err, HDB_NOT_SUPPORTED, "key-value storage is not available");
  hdb_status st = read_begin(fc, err);
  if (st != HDB_OK) return st;
  return read_end(fc, fc->m->kv_get(fc->mem, ns, key, klen, val, vlen, err));
}

static hdb_status file_kv_write(void *conn, const hdb_kv_batch *batch, hdb_error *err) {
  fconn *fc = conn;
  if (fc->mode != FMODE_DIR) return not_single(fc, "key-value storage", err);
  if (!fc->m->kv_write) return hdb__fail(err, HDB_NOT_SUPPORTED, "key-value storage is not available");
  hdb_status st = write_begin(fc, err);
  if (st != HDB_OK) return st;
  for (size_t i = 0; i < batch->n && st == HDB_OK; i++)
    if (!batch->ops[i].is_delete) st = ns_add(fc, batch->ops[i].ns, err);
  if (st == HDB_OK) st = fc->m->kv_write(fc->mem, batch, err);
  if (st == HDB_OK) fc->touched_kv = 1;
  return write_end(fc, st, err);
}

static hdb_status file_kv_iter(void *conn, const char *ns, const hdb_kv_range *range,
                               hdb_kv_iter **out, hdb_error *err) {
  fconn *fc = conn;
  if (fc->mode != FMODE_DIR) return not_single(fc, "key-value storage", err);
  if (!fc->m->kv_iter) return hdb__fail(err, HDB_NOT_SUPPORTED, "key-value storage is not available");
  hdb_status st = read_begin(fc, err);
  if (st != HDB_OK) return st;
  return read_end(fc, fc->m->kv_iter(fc->mem, ns, range, out, err));
}

/* ------------------------------------------------------------------ */
/* The vtable                                                          */
/* ------------------------------------------------------------------ */

const hdb__backend hdb__backend_file = {
    .version = HDB__VTAB_VERSION,
    .id = HDB_BACKEND_FILE,
    .name = "file",
    .open = file_open,
    .close = file_close,
    .capabilities = file_capabilities,
    .ping = file_ping,
    .table_create = file_table_create,
    .table_drop = file_table_drop,
    .table_list = file_table_list,
    .table_schema = file_table_schema,
    .write = file_write,
    .get = file_get,
    .update = file_update,
    .remove = file_remove,
    .query = file_query,
    .count = file_count,
    .search = file_search,
    .aggregate = file_aggregate,
    .index_create = file_index_create,
    .index_drop = file_index_drop,
    .index_list = file_index_list,
    .begin = file_begin,
    .commit = file_commit,
    .rollback = file_rollback,
    .kv_get = file_kv_get,
    .kv_write = file_kv_write,
    .kv_iter = file_kv_iter,
    .kv_put_ttl = NULL,
    .search_hybrid = file_search_hybrid,
    .publish = NULL,
    .subscribe = NULL,
    .unsubscribe = NULL,
    .versions = NULL,
    .restore = NULL,
    .stats = NULL,
};

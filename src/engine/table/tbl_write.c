/*
 * tbl_write.c - commits that change rows or metadata: write (insert,
 * upsert), update, delete, alter, tag, restore.
 *
 * Every commit follows one shape (a "transaction" struct wtx):
 *   1. take the writer lock; pin the newest version (the base). Under the
 *      lock the base cannot change, which is what makes upsert dedup and
 *      insert's duplicate check exact across writers and processes;
 *   2. write new fragment files and new deletion files (never touching an
 *      existing file: deletion files are copy-on-write, base bits | new);
 *   3. hdb__tbl_commit: the manifest base+1, one rename;
 *   4. on any failure before 3, unlink the files of step 2; release the lock.
 * Updates are delete + append: the new row versions land in a new fragment.
 */
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/record.h"
#include "core/schema.h"
#include "tbl_int.h"

typedef struct wtx {
  hdb__tbl *t;
  int lock;
  hdb__tbl_snap *base;
  tbl_manifest m;
  uint8_t **del;     /* per base fragment: new bitset, or NULL (unchanged) */
  uint64_t *ndel;    /* new deletions per base fragment */
  char **files;      /* written so far (paths), unlinked on failure */
  size_t n_files, cap_files;
} wtx;

static hdb_status tx_begin(hdb__tbl *t, uint8_t op, wtx *tx, hdb_error *err) {
  memset(tx, 0, sizeof *tx);
  tx->t = t;
  tx->lock = -1;
  hdb_status rc = hdb__tbl_lock(t, &tx->lock, err);
  if (rc != HDB_OK) return rc;
  rc = hdb__tbl_latest(t, &tx->base, err);
  if (rc != HDB_OK) return rc;
  if (hdb__tbl_manifest_copy(&tx->m, &tx->base->m) != HDB_OK)
    return hdb__fail(err, HDB_NOMEM, "%s: out of memory", t->dir);
  tx->m.op = op;
  tx->m.source = 0;
  size_t n = tx->m.n_frags ? tx->m.n_frags : 1;
  tx->del = hdb__calloc(n, sizeof *tx->del);
  tx->ndel = hdb__calloc(n, sizeof *tx->ndel);
  if (!tx->del || !tx->ndel) return hdb__fail(err, HDB_NOMEM, "%s: out of memory", t->dir);
  return HDB_OK;
}

/* Releases everything; on failure (committed 0) removes the new files. */
static void tx_end(wtx *tx, int committed) {
  for (size_t i = 0; i < tx->n_files; i++) {
    if (!committed) unlink(tx->files[i]);
    hdb__free_mem(tx->files[i]);
  }
  hdb__free_mem(tx->files);
  if (tx->del && tx->base)
    for (size_t i = 0; i < tx->base->m.n_frags; i++) hdb__free_mem(tx->del[i]);
  hdb__free_mem(tx->del);
  hdb__free_mem(tx->ndel);
  hdb__tbl_manifest_free(&tx->m);
  hdb__tbl_unpin(tx->base);
  hdb__tbl_unlock(tx->lock);
}

static hdb_status tx_file(wtx *tx, const char *name, hdb_error *err) {
  if (tx->n_files == tx->cap_files) {
    size_t cap = tx->cap_files ? tx->cap_files * 2 : 8;
    char **p = hdb__realloc(tx->files, cap * sizeof *p);
    if (!p) return hdb__fail(err, HDB_NOMEM, "%s: out of memory", tx->t->dir);
    tx->files = p;
    tx->cap_files = cap;
  }
  char *path = hdb__tbl_path(tx->t->dir, name);
  if (!path) return hdb__fail(err, HDB_NOMEM, "%s: out of memory", tx->t->dir);
  tx->files[tx->n_files++] = path;
  return HDB_OK;
}

/* Marks row of base fragment i deleted. */
static hdb_status tx_delete(wtx *tx, size_t i, uint64_t row, hdb_error *err) {
  uint64_t rows = tx->base->m.frags[i].rows;
  if (!tx->del[i]) {
    size_t bytes = (size_t)(rows / 8 + 1);
    tx->del[i] = tx->base->dels[i] ? hdb__memdup(tx->base->dels[i], bytes) : hdb__calloc(bytes, 1);
    if (!tx->del[i]) return hdb__fail(err, HDB_NOMEM, "%s: out of memory", tx->t->dir);
  }
  if (!tbl_bit(tx->del[i], row)) {
    tbl_setbit(tx->del[i], row);
    tx->ndel[i]++;
  }
  return HDB_OK;
}

/* Appends rows[0..n) (conformed, owned by the caller) as new fragments. */
static hdb_status tx_append(wtx *tx, hdb_record *const *rows, size_t n, hdb_error *err) {
  hdb__tbl *t = tx->t;
  uint64_t max = t->opt.max_fragment_rows ? t->opt.max_fragment_rows : 1048576;
  for (size_t from = 0; from < n; from += (size_t)max) {
    size_t cnt = n - from < max ? n - from : (size_t)max;
    tbl_frag_out fo;
    hdb_status rc = hdb__tbl_frag_write(t->dir, tx->m.schema, tx->m.field_ids, rows + from, cnt,
                                        t->opt.chunk_rows, t->opt.codec, t->opt.sync, &fo, err);
    if (rc != HDB_OK) return rc;
    char name[32];
    hdb__tbl_frag_name(fo.fid, name);
    tbl_fref *nf = hdb__realloc(tx->m.frags, (tx->m.n_frags + 1) * sizeof *nf);
    if (!nf) {
      char *p = hdb__tbl_path(t->dir, name);
      if (p) unlink(p);
      hdb__free_mem(p);
      return hdb__fail(err, HDB_NOMEM, "%s: out of memory", t->dir);
    }
    tx->m.frags = nf;
    rc = tx_file(tx, name, err);
    if (rc != HDB_OK) {
      char *p = hdb__tbl_path(t->dir, name);
      if (p) unlink(p);
      hdb__free_mem(p);
      return rc;
    }
    tbl_fref *fr = &tx->m.frags[tx->m.n_frags++];
    memset(fr, 0, sizeof *fr);
    fr->fid = fo.fid;
    fr->rows = fo.rows;
    fr->file_size = fo.file_size;
    fr->dir_xxh3 = fo.dir_xxh3;
  }
  return HDB_OK;
}

static hdb_status write_del_file(wtx *tx, size_t i, hdb_error *err) {
  hdb__tbl *t = tx->t;
  tbl_fref *fr = &tx->m.frags[i];
  tbl_buf b = {0};
  uint64_t nd;
  hdb_status rc = hdb__tbl_del_encode(tx->del[i], fr->rows, fr->fid, &b, &nd, err);
  if (rc != HDB_OK) return rc;
  uint64_t did = hdb__tbl_new_id();
  char name[32];
  hdb__tbl_del_name(did, name);
  rc = tx_file(tx, name, err);
  if (rc != HDB_OK) {
    hdb__tbl_buf_free(&b);
    return rc;
  }
  tbl_writer w;
  rc = hdb__tbl_writer_open(&w, tx->files[tx->n_files - 1], err);
  if (rc == HDB_OK) {
    rc = hdb__tbl_writer_put(&w, b.p, b.n, err);
    if (rc == HDB_OK) rc = hdb__tbl_writer_finish(&w, t->opt.sync, err);
    else hdb__tbl_writer_abort(&w);
  }
  if (rc == HDB_OK) {
    fr->did = did;
    fr->n_deleted = nd;
    fr->del_size = b.n;
  }
  hdb__tbl_buf_free(&b);
  return rc;
}

/* Writes the deletion files and commits. */
static hdb_status tx_commit(wtx *tx, int64_t *version, hdb_error *err) {
  for (size_t i = 0; i < tx->base->m.n_frags; i++) {
    if (!tx->del[i]) continue;
    hdb_status rc = write_del_file(tx, i, err);
    if (rc != HDB_OK) return rc;
  }
  hdb_status rc = hdb__tbl_commit(tx->t, &tx->m, tx->base, err);
  if (rc == HDB_OK && version) *version = (int64_t)tx->base->m.version + 1;
  return rc;
}

/* ------------------------------------------------------------------ */
/* Batch ids                                                           */
/* ------------------------------------------------------------------ */

typedef struct idset {
  size_t *b;
  size_t mask;
} idset;

#define IDSET_EMPTY ((size_t)-1)

/* Index j < i of an earlier record with rows[i]'s id, or IDSET_EMPTY after
 * adding i. */
static size_t idset_add(idset *s, hdb_record *const *rows, size_t i) {
  const char *id = rows[i]->id;
  uint64_t h = hdb__tbl_hash(id, strlen(id));
  for (size_t k = (size_t)h & s->mask;; k = (k + 1) & s->mask) {
    size_t j = s->b[k];
    if (j == IDSET_EMPTY) {
      s->b[k] = i;
      return IDSET_EMPTY;
    }
    if (strcmp(rows[j]->id, id) == 0) return j;
  }
}

hdb_status hdb__tbl_write(hdb__tbl *t, hdb_record *const *records, size_t n,
                          hdb__tbl_write_mode mode, int64_t *version, hdb_error *err) {
  if (version) *version = 0;
  if (n == 0) return HDB_OK;
  if (n > HDB_MAX_BATCH)
    return hdb__fail(err, HDB_TOO_BIG, "%s: %zu records in one write (at most %u)", t->dir, n,
                     HDB_MAX_BATCH);
  wtx tx;
  hdb_record **rows = NULL;
  idset ids = {NULL, 0};
  int committed = 0;
  hdb_status rc = tx_begin(t, mode == HDB__TBL_INSERT ? TBL_OP_APPEND : TBL_OP_UPSERT, &tx, err);
  if (rc != HDB_OK) goto done;
  rows = hdb__calloc(n, sizeof *rows);
  size_t nb = 16;
  while (nb < 2 * n) nb *= 2;
  ids.b = hdb__malloc(nb * sizeof *ids.b);
  if (!rows || !ids.b) goto nomem;
  memset(ids.b, 0xff, nb * sizeof *ids.b);
  ids.mask = nb - 1;
  /* Conform copies under the lock, so the schema cannot change meanwhile. */
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    hdb_record *rec = hdb_record_clone(records[i]);
    if (!rec) goto nomem;
    rc = hdb__schema_conform(tx.m.schema, hdb__tbl_display_name(t->dir), rec, 1, err);
    if (rc != HDB_OK) {
      hdb_record_free(rec);
      hdb__err_prefix(err, "batch item %zu", i);
      goto done;
    }
    rows[m] = rec;
    size_t j = idset_add(&ids, rows, m);
    if (j == IDSET_EMPTY) {
      m++;
      continue;
    }
    if (mode == HDB__TBL_INSERT) {
      rc = hdb__fail(err, HDB_DUPLICATE_ID, "table '%s': id '%.64s' appears twice in the batch",
                     hdb__tbl_display_name(t->dir), rec->id);
      hdb_record_free(rec);
      rows[m] = NULL;
      goto done;
    }
    /* Upsert: the last record of an id wins, in the first one's place. */
    hdb_record_free(rows[j]);
    rows[j] = rec;
    rows[m] = NULL;
  }
  for (size_t i = 0; i < m; i++) {
    size_t fi;
    uint64_t row;
    int found = hdb__tbl_find(tx.base, rows[i]->id, &fi, &row, err);
    if (found < 0) {
      rc = err ? err->code : HDB_CORRUPT;
      goto done;
    }
    if (!found) continue;
    if (mode == HDB__TBL_INSERT) {
      rc = hdb__fail(err, HDB_DUPLICATE_ID, "table '%s': id '%.64s' already exists",
                     hdb__tbl_display_name(t->dir), rows[i]->id);
      goto done;
    }
    rc = tx_delete(&tx, fi, row, err);
    if (rc != HDB_OK) goto done;
  }
  rc = tx_append(&tx, rows, m, err);
  if (rc == HDB_OK) rc = tx_commit(&tx, version, err);
  committed = rc == HDB_OK;
  goto done;
nomem:
  rc = hdb__fail(err, HDB_NOMEM, "%s: out of memory writing %zu records", t->dir, n);
done:
  if (rows)
    for (size_t i = 0; i < n; i++) hdb_record_free(rows[i]);
  hdb__free_mem(rows);
  hdb__free_mem(ids.b);
  tx_end(&tx, committed);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Update and delete                                                   */
/* ------------------------------------------------------------------ */

typedef struct target {
  size_t frag;
  uint64_t row;
  hdb_record *rec; /* owned (updates only) */
} target;

typedef struct targets {
  target *v;
  size_t n, cap;
} targets;

static void targets_free(targets *ts) {
  for (size_t i = 0; i < ts->n; i++) hdb_record_free(ts->v[i].rec);
  hdb__free_mem(ts->v);
}

static int targets_push(targets *ts, size_t frag, uint64_t row, hdb_record *rec) {
  if (ts->n == ts->cap) {
    size_t cap = ts->cap ? ts->cap * 2 : 64;
    target *v = hdb__realloc(ts->v, cap * sizeof *v);
    if (!v) return -1;
    ts->v = v;
    ts->cap = cap;
  }
  ts->v[ts->n++] = (target){frag, row, rec};
  return 0;
}

/* Rows to change: the one id, or those matching filter; with_records: an
 * owned copy of each. */
static hdb_status find_targets(wtx *tx, const char *id, const hdb__expr *filter,
                               int with_records, targets *ts, hdb_error *err) {
  hdb__tbl_snap *s = tx->base;
  if (id) {
    size_t fi;
    uint64_t row;
    int r = hdb__tbl_find(s, id, &fi, &row, err);
    if (r < 0) return err ? err->code : HDB_CORRUPT;
    if (!r)
      return hdb__fail(err, HDB_NOT_FOUND, "table '%s': no row with id '%.64s'",
                       hdb__tbl_display_name(tx->t->dir), id);
    hdb_record *rec = NULL;
    if (with_records) {
      hdb_status rc = hdb__tbl_row_record(s, fi, row, &rec, err);
      if (rc != HDB_OK) return rc;
    }
    if (targets_push(ts, fi, row, rec)) {
      hdb_record_free(rec);
      return hdb__fail(err, HDB_NOMEM, "%s: out of memory", tx->t->dir);
    }
    return HDB_OK;
  }
  if (filter) {
    hdb_status rc = hdb__filter_bind(filter, s->m.schema, hdb__tbl_display_name(tx->t->dir), err);
    if (rc != HDB_OK) return rc;
  }
  hdb__tbl_scan_options o = {filter, NULL, 0};
  hdb__tbl_scan *sc;
  hdb_status rc = hdb__tbl_scan_open(s, &o, &sc, err);
  if (rc != HDB_OK) return rc;
  const hdb_record *rec;
  size_t fi;
  uint64_t row;
  while ((rc = hdb__tbl_scan_next(sc, &rec, &fi, &row, err)) == HDB_OK) {
    hdb_record *copy = NULL;
    if (with_records && !(copy = hdb_record_clone(rec))) {
      rc = hdb__fail(err, HDB_NOMEM, "%s: out of memory", tx->t->dir);
      break;
    }
    if (targets_push(ts, fi, row, copy)) {
      hdb_record_free(copy);
      rc = hdb__fail(err, HDB_NOMEM, "%s: out of memory", tx->t->dir);
      break;
    }
  }
  hdb__tbl_scan_close(sc);
  return rc == HDB_DONE ? HDB_OK : rc;
}

hdb_status hdb__tbl_update(hdb__tbl *t, const char *id, const hdb__expr *filter,
                           const hdb_record *patch, uint64_t *updated, hdb_error *err) {
  if (updated) *updated = 0;
  wtx tx;
  targets ts = {0};
  hdb_record *pc = NULL, **rows = NULL;
  int committed = 0;
  hdb_status rc = tx_begin(t, TBL_OP_UPDATE, &tx, err);
  if (rc != HDB_OK) goto done;
  pc = hdb_record_clone(patch);
  if (!pc) {
    rc = hdb__fail(err, HDB_NOMEM, "%s: out of memory", t->dir);
    goto done;
  }
  rc = hdb__schema_conform(tx.m.schema, hdb__tbl_display_name(t->dir), pc, 0, err);
  if (rc == HDB_OK) rc = find_targets(&tx, id, filter, 1, &ts, err);
  if (rc != HDB_OK || ts.n == 0) goto done;
  rows = hdb__calloc(ts.n, sizeof *rows);
  if (!rows) {
    rc = hdb__fail(err, HDB_NOMEM, "%s: out of memory", t->dir);
    goto done;
  }
  for (size_t i = 0; i < ts.n && rc == HDB_OK; i++) {
    rc = hdb__record_apply_patch(ts.v[i].rec, pc);
    if (rc != HDB_OK) {
      rc = hdb__fail(err, rc, "%s: updating '%.64s': %s", t->dir, ts.v[i].rec->id,
                     hdb_status_message(rc));
      break;
    }
    rows[i] = ts.v[i].rec;
    rc = tx_delete(&tx, ts.v[i].frag, ts.v[i].row, err);
  }
  if (rc == HDB_OK) rc = tx_append(&tx, rows, ts.n, err);
  if (rc == HDB_OK) rc = tx_commit(&tx, NULL, err);
  if (rc == HDB_OK) {
    committed = 1;
    if (updated) *updated = ts.n;
  }
done:
  hdb__free_mem(rows);
  targets_free(&ts);
  hdb_record_free(pc);
  tx_end(&tx, committed);
  return rc;
}

hdb_status hdb__tbl_delete(hdb__tbl *t, const char *id, const hdb__expr *filter,
                           uint64_t *deleted, hdb_error *err) {
  if (deleted) *deleted = 0;
  wtx tx;
  targets ts = {0};
  int committed = 0;
  hdb_status rc = tx_begin(t, TBL_OP_DELETE, &tx, err);
  if (rc == HDB_OK) rc = find_targets(&tx, id, filter, 0, &ts, err);
  if (rc == HDB_OK && ts.n) {
    for (size_t i = 0; i < ts.n && rc == HDB_OK; i++)
      rc = tx_delete(&tx, ts.v[i].frag, ts.v[i].row, err);
    if (rc == HDB_OK) rc = tx_commit(&tx, NULL, err);
    if (rc == HDB_OK) {
      committed = 1;
      if (deleted) *deleted = ts.n;
    }
  }
  targets_free(&ts);
  tx_end(&tx, committed);
  return rc;
}

hdb_status hdb__tbl_delete_ids(hdb__tbl *t, const char *const *ids, size_t n, uint64_t *deleted,
                               hdb_error *err) {
  if (deleted) *deleted = 0;
  wtx tx;
  int committed = 0;
  uint64_t cnt = 0;
  hdb_status rc = tx_begin(t, TBL_OP_DELETE, &tx, err);
  for (size_t i = 0; i < n && rc == HDB_OK; i++) {
    size_t fi;
    uint64_t row;
    int r = hdb__tbl_find(tx.base, ids[i], &fi, &row, err);
    if (r < 0) rc = err ? err->code : HDB_CORRUPT;
    else if (r && !(tx.del[fi] && tbl_bit(tx.del[fi], row))) {
      rc = tx_delete(&tx, fi, row, err);
      cnt++;
    }
  }
  if (rc == HDB_OK && cnt) {
    rc = tx_commit(&tx, NULL, err);
    committed = rc == HDB_OK;
  }
  if (rc == HDB_OK && deleted) *deleted = cnt;
  tx_end(&tx, committed);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Metadata commits                                                    */
/* ------------------------------------------------------------------ */

hdb_status hdb__tbl_alter(hdb__tbl *t, const hdb_schema *schema, hdb_error *err) {
  wtx tx;
  int committed = 0;
  uint64_t *ids = NULL;
  hdb_schema *copy = NULL;
  hdb_status rc = tx_begin(t, TBL_OP_ALTER, &tx, err);
  if (rc != HDB_OK) goto done;
  if (!schema || !tx.m.schema) {
    rc = hdb__fail(err, HDB_BAD_SCHEMA, "%s: a table cannot switch between schemaless and schema'd",
                   t->dir);
    goto done;
  }
  copy = hdb_schema_clone(schema);
  ids = hdb__calloc(schema->n ? schema->n : 1, sizeof *ids);
  if (!copy || !ids) {
    rc = hdb__fail(err, HDB_NOMEM, "%s: out of memory", t->dir);
    goto done;
  }
  for (size_t i = 0; i < schema->n; i++) {
    const hdb__column *nc = &schema->cols[i];
    long k = hdb_schema_find(tx.m.schema, nc->name);
    if (k < 0) {
      ids[i] = tx.m.next_field_id++;
      continue;
    }
    const hdb__column *oc = &tx.m.schema->cols[k];
    if (oc->type != nc->type || oc->dim != nc->dim) {
      rc = hdb__fail(err, HDB_BAD_SCHEMA, "%s: column '%s' cannot change its type", t->dir,
                     nc->name);
      goto done;
    }
    ids[i] = tx.m.field_ids[k];
  }
  hdb_schema_free(tx.m.schema);
  hdb__free_mem(tx.m.field_ids);
  tx.m.schema = copy;
  tx.m.field_ids = ids;
  copy = NULL;
  ids = NULL;
  rc = tx_commit(&tx, NULL, err);
  committed = rc == HDB_OK;
done:
  hdb_schema_free(copy);
  hdb__free_mem(ids);
  tx_end(&tx, committed);
  return rc;
}

static hdb_status set_tag(hdb__tbl *t, const char *tag, int64_t version, int remove,
                          hdb_error *err) {
  if (!tag || !hdb__name_valid(tag, 0))
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "bad tag name '%s' (letters, digits and _)",
                     tag ? tag : "(null)");
  wtx tx;
  int committed = 0;
  hdb_status rc = tx_begin(t, TBL_OP_TAG, &tx, err);
  if (rc != HDB_OK) goto done;
  size_t k = 0;
  while (k < tx.m.n_tags && strcmp(tx.m.tags[k].name, tag) != 0) k++;
  if (remove) {
    if (k == tx.m.n_tags) {
      rc = hdb__fail(err, HDB_NOT_FOUND, "%s: no tag '%s'", t->dir, tag);
      goto done;
    }
    hdb__free_mem(tx.m.tags[k].name);
    tx.m.tags[k] = tx.m.tags[--tx.m.n_tags];
  } else {
    uint64_t v = version ? (uint64_t)version : tx.base->m.version;
    if (version < 0 || v > tx.base->m.version) {
      rc = hdb__fail(err, HDB_NOT_FOUND, "%s: no version %lld", t->dir, (long long)version);
      goto done;
    }
    tbl_manifest probe;
    rc = hdb__tbl_manifest_read(t->dir, v, &probe, err);
    if (rc != HDB_OK) goto done;
    hdb__tbl_manifest_free(&probe);
    if (k == tx.m.n_tags) {
      tbl_tag *nt = hdb__realloc(tx.m.tags, (tx.m.n_tags + 1) * sizeof *nt);
      char *name = hdb__strdup(tag);
      if (!nt || !name) {
        if (nt) tx.m.tags = nt;
        hdb__free_mem(name);
        rc = hdb__fail(err, HDB_NOMEM, "%s: out of memory", t->dir);
        goto done;
      }
      tx.m.tags = nt;
      tx.m.tags[tx.m.n_tags++] = (tbl_tag){name, v};
    } else {
      tx.m.tags[k].version = v;
    }
  }
  rc = tx_commit(&tx, NULL, err);
  committed = rc == HDB_OK;
done:
  tx_end(&tx, committed);
  return rc;
}

hdb_status hdb__tbl_tag(hdb__tbl *t, const char *tag, int64_t version, hdb_error *err) {
  return set_tag(t, tag, version, 0, err);
}
hdb_status hdb__tbl_untag(hdb__tbl *t, const char *tag, hdb_error *err) {
  return set_tag(t, tag, 0, 1, err);
}

hdb_status hdb__tbl_restore(hdb__tbl *t, int64_t version, int64_t *new_version,
                            hdb_error *err) {
  if (new_version) *new_version = 0;
  wtx tx;
  int committed = 0;
  hdb__tbl_snap *old = NULL;
  hdb_status rc = tx_begin(t, TBL_OP_RESTORE, &tx, err);
  if (rc != HDB_OK) goto done;
  if (version <= 0 || (uint64_t)version > tx.base->m.version) {
    rc = hdb__fail(err, HDB_NOT_FOUND, "%s: no version %lld", t->dir, (long long)version);
    goto done;
  }
  /* Pinning opens every file of the old version: it proves they exist. */
  rc = hdb__tbl_pin(t, version, &old, err);
  if (rc != HDB_OK) goto done;
  tbl_manifest nm;
  if (hdb__tbl_manifest_copy(&nm, &old->m) != HDB_OK) {
    rc = hdb__fail(err, HDB_NOMEM, "%s: out of memory", t->dir);
    goto done;
  }
  /* Tags stay as they are now; field ids keep counting up. */
  tbl_tag *tags = tx.m.tags;
  size_t n_tags = tx.m.n_tags;
  uint64_t next = tx.m.next_field_id;
  tx.m.tags = NULL;
  tx.m.n_tags = 0;
  hdb__tbl_manifest_free(&tx.m);
  tx.m = nm;
  for (size_t i = 0; i < tx.m.n_tags; i++) hdb__free_mem(tx.m.tags[i].name);
  hdb__free_mem(tx.m.tags);
  tx.m.tags = tags;
  tx.m.n_tags = n_tags;
  if (next > tx.m.next_field_id) tx.m.next_field_id = next;
  tx.m.op = TBL_OP_RESTORE;
  tx.m.source = (uint64_t)version;
  rc = tx_commit(&tx, new_version, err);
  committed = rc == HDB_OK;
done:
  hdb__tbl_unpin(old);
  tx_end(&tx, committed);
  return rc;
}

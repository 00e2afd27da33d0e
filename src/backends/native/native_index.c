/*
 * native_index.c - vector indexes of native:// tables: create, drop, list,
 * optimize, and loading them for search.
 *
 * Types: flat (a record that the column is searched exactly; no files
 * besides its metadata), and two "ann" kinds that share everything below
 * but their data file: hnsw (engine/vector's graph) and ivf_pq
 * (engine/vector's IVF-PQ index: params nlist, m, nprobe, refine, each
 * defaulting to the engine's; it is trained on up to TRAIN_CAP live rows
 * sampled with a fixed stride, so a column with no vectors cannot have
 * one). The ann kinds go through one small interface (struct ann: new,
 * fill, add, delete, save); the few kind switches are there and in
 * load_index. AUTO on a vector column means flat below
 * HDB__NAT_AUTO_HNSW_ROWS live rows, else hnsw (recorded as "auto":true,
 * so optimize can upgrade it later). Scalar and full-text indexes are
 * HDB_NOT_SUPPORTED (HDB_CAP_SCALAR_INDEX and HDB_CAP_FULLTEXT are off).
 *
 * Files, in the table directory (the table engine's cleanup only touches
 * its own f-*.frag, d-*.del, manifests and *.tmp):
 *   hdbidx-COL.json      metadata, written last and atomically (temp,
 *                        fsync, rename): the index exists exactly when it
 *                        does. {"column","type","params","version","n_ids",
 *                        "frags":[{"file","base","rows"}]}
 *   hdbidx-COL-vV.hnsw   hnsw: the graph built over version V (hdb__hnsw_save)
 *   hdbidx-COL-vV.ivfpq  ivf_pq: the index over version V (hdb__ivfpq_save;
 *                        it holds codes, not vectors: search re-ranks from
 *                        the table's mapped vector blocks)
 *   hdbidx-COL-vV.ids    the record id of every index id (format below)
 *
 * Ids file (format version 1, little-endian): "HNID" magic, u32 version,
 * u64 n_ids, u64 bytes_len, u64 XXH3 of everything after this 32-byte
 * header; then u64 offset[n_ids] (UINT64_MAX: no live row had that id at
 * build time), then bytes_len bytes of NUL-terminated ids.
 *
 * Index ids are global row numbers of version V (native.h, invariant 3):
 * the build walks V's fragments in order, fragment i's rows getting ids
 * base_i + row. Rows deleted or null at V are not inserted. A loaded index
 * is cached on the nat_table and reloaded when its metadata file changes
 * (new inode: every write of it is a rename), so handles in other
 * processes see creates and drops.
 *
 * Optimize (hdb__nat_index_optimize) moves an ann index from version V to
 * the newest version W without rebuilding:
 *  1. A writable copy is made: the graph is copied into a heap graph
 *     (hdb__hnsw_thaw); an IVF-PQ index is opened again from V's file.
 *  2. Fragments of W the index knows keep their ids; rows W has deleted
 *     (or nulled) in them are marked deleted in the index. Known fragments
 *     W no longer has (compaction rewrote them) have all their ids marked
 *     deleted: their rows live on in W's new fragments.
 *  3. Every fragment of W the index does not know (appends, rewrites by
 *     update or compaction) gets fresh ids after the old n_ids and its
 *     live rows are inserted (IVF-PQ: assigned and encoded with the
 *     quantizers trained at build time). So rows updated (delete + append)
 *     end up with the old id dead and the new one live.
 *  4. When more than 1/HDB__NAT_REBUILD_DIV of the entries are then marked
 *     deleted, the index is built from W from scratch instead (dense ids;
 *     IVF-PQ retrains).
 *  5. Data and ids files are written under W, then the metadata (atomic
 *     rename: the switch), then V's files are removed. A reader that loaded
 *     V's metadata just before the switch fails to open V's data file and
 *     retries with the new metadata (hdb__nat_index_find).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "native.h"

#include "core/alloc.h"
#include "core/err.h"
#include "core/strbuf.h"
#include "core/json.h"
#include "core/schema.h"

#define IDS_MAGIC 0x44494E48u /* "HNID" */
#define IDS_VERSION 1u
#define IDS_HEADER 32u

typedef nat_idx_slot idx_slot;

void hdb__nat_frag_file(hdb__tbl_snap *s, size_t f, char out[32]) {
  char del[32];
  uint64_t off, len;
  out[0] = 0;
  if (hdb__tbl_debug_layout(s, f, "_id", 0, out, del, &off, &len, NULL) != HDB_OK) out[0] = 0;
}

void hdb__nat_index_put(nat_index *ix) {
  if (!ix) return;
  if (atomic_fetch_sub(&ix->refs, 1) != 1) return;
  hdb__hnsw_free(ix->hnsw);
  hdb__ivfpq_free(ix->ivfpq);
  hdb__free_mem(ix->column);
  hdb__free_mem(ix->params);
  hdb__free_mem(ix->frags);
  hdb__free_mem(ix->id_off);
  hdb__free_mem(ix->id_file);
  hdb__free_mem(ix);
}

static char *tpath(const nat_table *t, const char *fmt, const char *col, long long v) {
  const char *dir = hdb__tbl_dir(t->tbl);
  char name[HDB_MAX_NAME_LEN + 64];
  snprintf(name, sizeof name, fmt, col, v);
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = hdb__malloc(n);
  if (p) snprintf(p, n, "%s/%s", dir, name);
  return p;
}

static char *meta_path(const nat_table *t, const char *col) {
  return tpath(t, "hdbidx-%s.json", col, 0);
}

/* Writes data to path atomically: path.tmp, fsync, rename, fsync dir. */
static hdb_status write_atomic(const nat_table *t, const char *path, const void *data,
                               size_t len, hdb_error *err) {
  size_t n = strlen(path) + 5;
  char *tmp = hdb__malloc(n);
  if (!tmp) return hdb__fail(err, HDB_NOMEM, "out of memory writing %s", path);
  snprintf(tmp, n, "%s.tmp", path);
  hdb_status rc = HDB_OK;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    rc = hdb__fail(err, HDB_IO, "%s: %s", tmp, strerror(errno));
    goto done;
  }
  const char *p = data;
  size_t left = len;
  while (left) {
    ssize_t w = write(fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      rc = hdb__fail(err, HDB_IO, "%s: write: %s", tmp, strerror(errno));
      break;
    }
    p += w;
    left -= (size_t)w;
  }
  if (rc == HDB_OK && fsync(fd) != 0) rc = hdb__fail(err, HDB_IO, "%s: fsync: %s", tmp, strerror(errno));
  close(fd);
  if (rc == HDB_OK && rename(tmp, path) != 0)
    rc = hdb__fail(err, HDB_IO, "%s: rename: %s", path, strerror(errno));
  if (rc != HDB_OK) {
    unlink(tmp);
    goto done;
  }
  int dfd = open(hdb__tbl_dir(t->tbl), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
done:
  hdb__free_mem(tmp);
  return rc;
}

static hdb_status read_all(const char *path, char **out, size_t *len, hdb_error *err) {
  *out = NULL;
  *len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return hdb__fail(err, errno == ENOENT ? HDB_NOT_FOUND : HDB_IO, "%s: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return hdb__fail(err, HDB_IO, "%s: %s", path, strerror(errno));
  }
  size_t n = (size_t)st.st_size;
  char *buf = hdb__malloc(n + 1);
  if (!buf) {
    close(fd);
    return hdb__fail(err, HDB_NOMEM, "out of memory reading %s", path);
  }
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  close(fd);
  if (got != n) {
    hdb__free_mem(buf);
    return hdb__fail(err, HDB_IO, "%s: short read", path);
  }
  buf[n] = 0;
  *out = buf;
  *len = n;
  return HDB_OK;
}

static const char *type_name(hdb_index_type t) {
  return hdb_index_type_name(t);
}

/* ------------------------------------------------------------------ */
/* Loading                                                             */
/* ------------------------------------------------------------------ */

static hdb_status load_ids(nat_index *ix, const char *path, hdb_error *err) {
  char *buf;
  size_t len;
  hdb_status rc = read_all(path, &buf, &len, err);
  if (rc != HDB_OK) return rc;
  ix->id_file = buf;
  const unsigned char *p = (const unsigned char *)buf;
  uint32_t magic, ver;
  uint64_t n, blen, sum;
  if (len < IDS_HEADER) goto corrupt;
  memcpy(&magic, p, 4);
  memcpy(&ver, p + 4, 4);
  memcpy(&n, p + 8, 8);
  memcpy(&blen, p + 16, 8);
  memcpy(&sum, p + 24, 8);
  if (magic != IDS_MAGIC) goto corrupt;
  if (ver != IDS_VERSION)
    return hdb__fail(err, HDB_NOT_SUPPORTED, "%s: ids file format %u is newer than this library", path, ver);
  if (n != ix->n_ids || n > (len - IDS_HEADER) / 8 || blen != len - IDS_HEADER - n * 8) goto corrupt;
  if (XXH3_64bits(p + IDS_HEADER, len - IDS_HEADER) != sum) goto corrupt;
  ix->id_off = hdb__malloc((size_t)(n ? n : 1) * sizeof *ix->id_off);
  if (!ix->id_off) return hdb__fail(err, HDB_NOMEM, "out of memory loading %s", path);
  memcpy(ix->id_off, p + IDS_HEADER, (size_t)n * 8);
  ix->id_bytes = buf + IDS_HEADER + n * 8;
  for (uint64_t i = 0; i < n; i++) {
    uint64_t o = ix->id_off[i];
    if (o == UINT64_MAX) continue;
    if (o >= blen || !memchr(ix->id_bytes + o, 0, (size_t)(blen - o))) goto corrupt;
  }
  return HDB_OK;
corrupt:
  return hdb__fail(err, HDB_CORRUPT, "%s: bad ids file", path);
}

/* Parses the metadata file; loads the index data file and ids for the
 * ann kinds (hnsw, ivf_pq). */
static hdb_status load_index(const nat_table *t, const char *column, nat_index **out,
                             hdb_error *err) {
  *out = NULL;
  char *path = meta_path(t, column), *text = NULL, *p2 = NULL;
  cJSON *j = NULL;
  nat_index *ix = hdb__calloc(1, sizeof *ix);
  size_t len;
  hdb_status rc;
  if (!path || !ix) {
    rc = hdb__fail(err, HDB_NOMEM, "out of memory loading an index");
    goto fail;
  }
  atomic_init(&ix->refs, 1);
  rc = read_all(path, &text, &len, err);
  if (rc != HDB_OK) goto fail;
  rc = hdb__json_parse(text, len, &j, err);
  if (rc != HDB_OK) {
    rc = hdb__fail(err, HDB_CORRUPT, "%s: not valid JSON", path);
    goto fail;
  }
  const cJSON *col = cJSON_GetObjectItemCaseSensitive(j, "column");
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
  const cJSON *params = cJSON_GetObjectItemCaseSensitive(j, "params");
  const cJSON *ver = cJSON_GetObjectItemCaseSensitive(j, "version");
  const cJSON *nids = cJSON_GetObjectItemCaseSensitive(j, "n_ids");
  const cJSON *frags = cJSON_GetObjectItemCaseSensitive(j, "frags");
  ix->auto_chosen = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "auto"));
  if (!cJSON_IsString(col) || !cJSON_IsString(type) || !cJSON_IsObject(params) ||
      hdb_index_type_from_name(type->valuestring, &ix->type) != HDB_OK)
    goto corrupt;
  ix->column = hdb__strdup(col->valuestring);
  char *ptext = cJSON_PrintUnformatted(params);
  ix->params = ptext ? hdb__strdup(ptext) : NULL;
  cJSON_free(ptext);
  if (!ix->column || !ix->params) {
    rc = hdb__fail(err, HDB_NOMEM, "out of memory loading %s", path);
    goto fail;
  }
  if (ix->type == HDB_INDEX_HNSW || ix->type == HDB_INDEX_IVF_PQ) {
    if (!cJSON_IsNumber(ver) || !cJSON_IsNumber(nids) || !cJSON_IsArray(frags)) goto corrupt;
    ix->version = (int64_t)ver->valuedouble;
    ix->n_ids = (uint64_t)nids->valuedouble;
    ix->n_frags = (size_t)cJSON_GetArraySize(frags);
    ix->frags = hdb__calloc(ix->n_frags ? ix->n_frags : 1, sizeof *ix->frags);
    if (!ix->frags) {
      rc = hdb__fail(err, HDB_NOMEM, "out of memory loading %s", path);
      goto fail;
    }
    size_t i = 0;
    const cJSON *f;
    cJSON_ArrayForEach(f, frags) {
      const cJSON *file = cJSON_GetObjectItemCaseSensitive(f, "file");
      const cJSON *base = cJSON_GetObjectItemCaseSensitive(f, "base");
      const cJSON *rows = cJSON_GetObjectItemCaseSensitive(f, "rows");
      if (!cJSON_IsString(file) || strlen(file->valuestring) >= 32 || !cJSON_IsNumber(base) ||
          !cJSON_IsNumber(rows))
        goto corrupt;
      strcpy(ix->frags[i].file, file->valuestring);
      ix->frags[i].base = (uint64_t)base->valuedouble;
      ix->frags[i].rows = (uint64_t)rows->valuedouble;
      if (ix->frags[i].base + ix->frags[i].rows > ix->n_ids) goto corrupt;
      i++;
    }
    p2 = tpath(t,
               ix->type == HDB_INDEX_IVF_PQ ? "hdbidx-%s-v%lld.ivfpq" : "hdbidx-%s-v%lld.hnsw",
               column, (long long)ix->version);
    if (!p2) {
      rc = hdb__fail(err, HDB_NOMEM, "out of memory loading %s", path);
      goto fail;
    }
    if (ix->type == HDB_INDEX_IVF_PQ)
      rc = hdb__ivfpq_open(p2, &ix->ivfpq, err);
    else
      rc = hdb__hnsw_open(p2, &ix->hnsw, err);
    if (rc != HDB_OK) goto fail;
    hdb__free_mem(p2);
    p2 = tpath(t, "hdbidx-%s-v%lld.ids", column, (long long)ix->version);
    if (!p2) {
      rc = hdb__fail(err, HDB_NOMEM, "out of memory loading %s", path);
      goto fail;
    }
    rc = load_ids(ix, p2, err);
    if (rc != HDB_OK) goto fail;
  }
  cJSON_Delete(j);
  hdb__free_mem(text);
  hdb__free_mem(path);
  hdb__free_mem(p2);
  *out = ix;
  return HDB_OK;
corrupt:
  rc = hdb__fail(err, HDB_CORRUPT, "%s: malformed index metadata", path);
fail:
  cJSON_Delete(j);
  hdb__free_mem(text);
  hdb__free_mem(path);
  hdb__free_mem(p2);
  hdb__nat_index_put(ix);
  return rc;
}

void hdb__nat_index_invalidate(nat_table *t) {
  pthread_mutex_lock(&t->lock);
  idx_slot *slots = t->idx;
  for (size_t i = 0; i < t->n_idx; i++) hdb__nat_index_put(slots[i].ix);
  hdb__free_mem(t->idx);
  t->idx = NULL;
  t->n_idx = 0;
  pthread_mutex_unlock(&t->lock);
}

hdb_status hdb__nat_index_find(nat_table *t, const char *column, nat_index **out,
                               hdb_error *err) {
  *out = NULL;
  char *mpath = meta_path(t, column);
  if (!mpath) return hdb__fail(err, HDB_NOMEM, "out of memory finding an index");
  struct stat st;
  int exists = stat(mpath, &st) == 0;
  hdb_status rc = HDB_OK;
  pthread_mutex_lock(&t->lock);
  idx_slot *slots = t->idx;
  size_t i;
  for (i = 0; i < t->n_idx; i++)
    if (strcmp(slots[i].ix->column, column) == 0) break;
  if (i < t->n_idx && (!exists || slots[i].ino != st.st_ino || slots[i].dev != st.st_dev)) {
    hdb__nat_index_put(slots[i].ix);
    slots[i] = slots[--t->n_idx];
    i = t->n_idx;
  }
  if (!exists) goto done;
  if (i == t->n_idx) {
    nat_index *ix;
    /* An optimize in another handle may switch the metadata and remove
     * the files it named between our reads: reload while it changes. */
    for (int tries = 0;; tries++) {
      rc = load_index(t, column, &ix, err);
      struct stat st2;
      if (rc == HDB_OK || tries == 3 || stat(mpath, &st2) != 0 ||
          (st2.st_ino == st.st_ino && st2.st_dev == st.st_dev))
        break;
      st = st2;
    }
    if (rc != HDB_OK) goto done;
    idx_slot *ns = hdb__realloc(t->idx, (t->n_idx + 1) * sizeof *ns);
    if (!ns) {
      hdb__nat_index_put(ix);
      rc = hdb__fail(err, HDB_NOMEM, "out of memory loading an index");
      goto done;
    }
    t->idx = ns;
    slots = ns;
    slots[i].ix = ix;
    slots[i].dev = st.st_dev;
    slots[i].ino = st.st_ino;
    t->n_idx++;
  }
  atomic_fetch_add(&slots[i].ix->refs, 1);
  *out = slots[i].ix;
done:
  pthread_mutex_unlock(&t->lock);
  hdb__free_mem(mpath);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Create                                                              */
/* ------------------------------------------------------------------ */

/* ------------------------------------------------------------------ */
/* Ann indexes: hnsw and ivf_pq behind one small interface             */
/* ------------------------------------------------------------------ */

/* An hnsw graph or an IVF-PQ index being built or updated; exactly one of
 * g and q is set once created. The build, optimize and persist code below
 * speaks only this, so both kinds share the metadata, fragment map, ids
 * file and incremental update. */
typedef struct ann {
  hdb_index_type type;
  hdb__hnsw *g;
  hdb__ivfpq *q;
} ann;

static int is_ann(hdb_index_type type) {
  return type == HDB_INDEX_HNSW || type == HDB_INDEX_IVF_PQ;
}

/* File name pattern of an ann index's data file (column, version). */
static const char *ann_fmt(hdb_index_type type) {
  return type == HDB_INDEX_IVF_PQ ? "hdbidx-%s-v%lld.ivfpq" : "hdbidx-%s-v%lld.hnsw";
}

static void ann_free(ann *a) {
  hdb__hnsw_free(a->g);
  hdb__ivfpq_free(a->q);
  a->g = NULL;
  a->q = NULL;
}

static size_t ann_count(const ann *a) {
  return a->g ? hdb__hnsw_count(a->g) : hdb__ivfpq_count(a->q);
}

static size_t ann_deleted(const ann *a) {
  return a->g ? hdb__hnsw_deleted(a->g) : hdb__ivfpq_deleted(a->q);
}

static hdb_status ann_add(ann *a, const float *vecs, uint64_t first_id, size_t n,
                          hdb_error *err) {
  if (a->g) return hdb__hnsw_add(a->g, vecs, NULL, first_id, n, 0, err);
  return hdb__ivfpq_add(a->q, vecs, NULL, first_id, n, 0, err);
}

static hdb_status ann_delete(ann *a, const uint64_t *ids, size_t n, hdb_error *err) {
  if (a->g) return hdb__hnsw_delete(a->g, ids, n, NULL, err);
  return hdb__ivfpq_delete(a->q, ids, n, NULL, err);
}

static hdb_status ann_save(const ann *a, const char *path, hdb_error *err) {
  if (a->g) return hdb__hnsw_save(a->g, path, err);
  return hdb__ivfpq_save(a->q, path, err);
}

/* Reads the positive integer parameters of an index type from the params
 * object: names[i] goes to *dst[i]. */
static hdb_status int_params(const char *params, const char *column, const char *table,
                             hdb_index_type type, const char *const *names, uint32_t *const *dst,
                             size_t n, hdb_error *err) {
  cJSON *j = NULL;
  hdb_status rc = hdb__json_parse(params, strlen(params), &j, err);
  if (rc != HDB_OK) return rc;
  const cJSON *it;
  cJSON_ArrayForEach(it, j) {
    size_t i = 0;
    while (i < n && strcmp(it->string, names[i]) != 0) i++;
    if (i == n) {
      char known[128] = "";
      for (size_t k = 0; k < n; k++) {
        strncat(known, k ? ", " : "", sizeof known - strlen(known) - 1);
        strncat(known, names[k], sizeof known - strlen(known) - 1);
      }
      rc = hdb__fail(err, HDB_INVALID_ARGUMENT,
                     "%s index on column '%s' of table '%s': unknown parameter '%s' (known: %s)",
                     type_name(type), column, table, it->string, known);
      break;
    }
    if (!cJSON_IsNumber(it) || it->valuedouble < 1 || it->valuedouble > 100000 ||
        it->valuedouble != (double)(uint32_t)it->valuedouble) {
      rc = hdb__fail(err, HDB_INVALID_ARGUMENT,
                     "%s index on column '%s' of table '%s': '%s' must be a positive integer",
                     type_name(type), column, table, it->string);
      break;
    }
    *dst[i] = (uint32_t)it->valuedouble;
  }
  cJSON_Delete(j);
  return rc;
}

/* A new empty (for ivf_pq: untrained) index of the type, its parameters
 * read from the params object. */
static hdb_status ann_new(hdb_index_type type, const hdb__column *col, const char *table,
                          const char *params, ann *a, hdb_error *err) {
  memset(a, 0, sizeof *a);
  a->type = type;
  hdb_status rc;
  if (type == HDB_INDEX_HNSW) {
    hdb__hnsw_params hp;
    memset(&hp, 0, sizeof hp);
    static const char *const names[] = {"m", "ef_construction", "ef_search"};
    uint32_t *const dst[] = {&hp.m, &hp.ef_construction, &hp.ef_search};
    rc = int_params(params, col->name, table, type, names, dst, 3, err);
    if (rc != HDB_OK) return rc;
    rc = hdb__hnsw_new(col->dim, col->metric, &hp, &a->g, err);
  } else {
    hdb__ivfpq_params ip;
    memset(&ip, 0, sizeof ip);
    static const char *const names[] = {"nlist", "m", "nprobe", "refine"};
    uint32_t *const dst[] = {&ip.nlist, &ip.m, &ip.nprobe, &ip.refine};
    rc = int_params(params, col->name, table, type, names, dst, 4, err);
    if (rc != HDB_OK) return rc;
    rc = hdb__ivfpq_new(col->dim, col->metric, &ip, &a->q, err);
  }
  if (rc != HDB_OK && err) hdb__err_prefix(err, "index on column '%s' of table '%s'", col->name, table);
  return rc;
}

/* The id-only scan of the build: index id -> record id. */
static hdb_status build_ids(hdb__tbl_snap *s, const uint64_t *bases, uint64_t n_ids, hdb__strbuf *file,
                            hdb_error *err) {
  uint64_t *off = hdb__malloc((size_t)(n_ids ? n_ids : 1) * sizeof *off);
  hdb__strbuf bytes = {0};
  if (!off) return hdb__fail(err, HDB_NOMEM, "out of memory building an index");
  for (uint64_t i = 0; i < n_ids; i++) off[i] = UINT64_MAX;
  static const char *const none[1] = {NULL};
  hdb__tbl_scan_options so = {NULL, none, 0};
  hdb__tbl_scan *sc = NULL;
  hdb_status rc = hdb__tbl_scan_open(s, &so, &sc, err);
  while (rc == HDB_OK) {
    const hdb_record *r;
    size_t f;
    uint64_t row;
    rc = hdb__tbl_scan_next(sc, &r, &f, &row, err);
    if (rc != HDB_OK) break;
    uint64_t id = bases[f] + row;
    if (id < n_ids) {
      off[id] = bytes.n;
      hdb__strbuf_add(&bytes, r->id, strlen(r->id) + 1);
    }
  }
  hdb__tbl_scan_close(sc);
  if (rc == HDB_DONE) rc = HDB_OK;
  if (rc == HDB_OK) {
    unsigned char hdr[IDS_HEADER];
    uint32_t magic = IDS_MAGIC, ver = IDS_VERSION;
    uint64_t blen = bytes.n, zero = 0;
    memcpy(hdr, &magic, 4);
    memcpy(hdr + 4, &ver, 4);
    memcpy(hdr + 8, &n_ids, 8);
    memcpy(hdr + 16, &blen, 8);
    memcpy(hdr + 24, &zero, 8);
    hdb__strbuf_add(file, hdr, sizeof hdr);
    hdb__strbuf_add(file, off, (size_t)n_ids * 8);
    if (bytes.n) hdb__strbuf_add(file, bytes.p, bytes.n);
    if (file->oom || bytes.oom) {
      rc = hdb__fail(err, HDB_NOMEM, "out of memory building an index");
    } else {
      uint64_t sum = XXH3_64bits(file->p + IDS_HEADER, file->n - IDS_HEADER);
      memcpy(file->p + 24, &sum, 8);
    }
  }
  hdb__free_mem(off);
  hdb__free_mem(bytes.p);
  return rc;
}

static int bit_at(const uint8_t *bits, uint64_t r) {
  return bits && ((bits[r >> 3] >> (r & 7)) & 1);
}

static int row_live(const float *data, const uint8_t *del, const uint8_t *nulls, uint64_t r) {
  return data && !bit_at(del, r) && !bit_at(nulls, r);
}

/* Inserts the live, non-null rows of one fragment's block under ids
 * base + row, in contiguous runs (both kinds take contiguous vectors). */
static hdb_status insert_block(ann *a, const float *data, uint64_t rows, uint32_t dim,
                               const uint8_t *del, const uint8_t *nulls, uint64_t base,
                               hdb_error *err) {
  for (uint64_t r = 0; data && r < rows;) {
    while (r < rows && !row_live(data, del, nulls, r)) r++;
    uint64_t start = r;
    while (r < rows && row_live(data, del, nulls, r)) r++;
    if (r > start) {
      hdb_status rc = ann_add(a, data + start * (size_t)dim, base + start, (size_t)(r - start), err);
      if (rc != HDB_OK) return rc;
    }
  }
  return HDB_OK;
}

/* Rows an IVF-PQ build trains on at most (the engine samples further). */
#define TRAIN_CAP 262144u

/* Trains an untrained IVF-PQ index on every stride-th live row of s (a
 * contiguous copy of at most TRAIN_CAP rows). HDB_INVALID_ARGUMENT when
 * the column has no live vector: there is nothing to train on. */
static hdb_status train_ivfpq(ann *a, hdb__tbl_snap *s, const hdb__column *col, const char *table,
                              hdb_error *err) {
  size_t nf = hdb__tbl_snap_fragments(s);
  uint64_t live = 0;
  hdb_status rc = HDB_OK;
  for (size_t f = 0; f < nf; f++) {
    const float *data;
    uint64_t rows;
    uint32_t dim;
    const uint8_t *del, *nulls;
    rc = hdb__tbl_vector_block(s, f, col->name, &data, &rows, &dim, &del, &nulls, err);
    if (rc != HDB_OK) return rc;
    for (uint64_t r = 0; r < rows; r++) live += (uint64_t)row_live(data, del, nulls, r);
  }
  if (live == 0)
    return hdb__fail(err, HDB_INVALID_ARGUMENT,
                     "ivf_pq index on column '%s' of table '%s': no vectors to train on; "
                     "insert rows first",
                     col->name, table);
  uint64_t stride = (live + TRAIN_CAP - 1) / TRAIN_CAP, seen = 0;
  size_t n = 0, cap = (size_t)((live + stride - 1) / stride);
  float *vecs = hdb__malloc(cap * col->dim * sizeof *vecs);
  if (!vecs) return hdb__fail(err, HDB_NOMEM, "out of memory training an index");
  for (size_t f = 0; f < nf && rc == HDB_OK; f++) {
    const float *data;
    uint64_t rows;
    uint32_t dim;
    const uint8_t *del, *nulls;
    rc = hdb__tbl_vector_block(s, f, col->name, &data, &rows, &dim, &del, &nulls, err);
    for (uint64_t r = 0; rc == HDB_OK && r < rows; r++) {
      if (!row_live(data, del, nulls, r)) continue;
      if (seen++ % stride == 0 && n < cap)
        memcpy(vecs + n++ * col->dim, data + r * (size_t)dim, col->dim * sizeof *vecs);
    }
  }
  if (rc == HDB_OK) rc = hdb__ivfpq_train(a->q, vecs, n, 0, err);
  hdb__free_mem(vecs);
  return rc;
}

/* Fills a new index with every live row of s under dense ids (bases[f]
 * set for every fragment; *n_ids the id space), training it first when
 * it is an IVF-PQ index. */
static hdb_status ann_fill(ann *a, hdb__tbl_snap *s, const hdb__column *col, const char *table,
                           uint64_t *bases, uint64_t *n_ids, hdb_error *err) {
  hdb_status rc = HDB_OK;
  if (a->q) rc = train_ivfpq(a, s, col, table, err);
  size_t nf = hdb__tbl_snap_fragments(s);
  uint64_t base = 0;
  for (size_t f = 0; rc == HDB_OK && f < nf; f++) {
    const float *data;
    uint64_t rows;
    uint32_t dim;
    const uint8_t *del, *nulls;
    rc = hdb__tbl_vector_block(s, f, col->name, &data, &rows, &dim, &del, &nulls, err);
    if (rc != HDB_OK) break;
    bases[f] = base;
    rc = insert_block(a, data, rows, dim, del, nulls, base, err);
    base += rows;
  }
  *n_ids = base;
  return rc;
}

/* The metadata of an ann index over snapshot s whose fragment f has
 * index ids bases[f] .. bases[f] + rows. */
static hdb_status meta_ann(hdb__strbuf *meta, hdb_index_type type, hdb__tbl_snap *s, const char *column,
                           const char *params, const uint64_t *bases, uint64_t n_ids,
                           int auto_chosen, hdb_error *err) {
  size_t nf = hdb__tbl_snap_fragments(s);
  hdb__strbuf_printf(meta, "{\"column\":\"%s\",\"type\":\"%s\",\"params\":%s,\"version\":%lld,%s\"frags\":[",
            column, type_name(type), params, (long long)hdb__tbl_snap_version(s),
            auto_chosen ? "\"auto\":true," : "");
  for (size_t f = 0; f < nf; f++) {
    const float *data;
    uint64_t rows;
    uint32_t dim;
    const uint8_t *del, *nulls;
    hdb_status rc = hdb__tbl_vector_block(s, f, column, &data, &rows, &dim, &del, &nulls, err);
    if (rc != HDB_OK) return rc;
    char name[32];
    hdb__nat_frag_file(s, f, name);
    hdb__strbuf_printf(meta, "%s{\"file\":\"%s\",\"base\":%llu,\"rows\":%llu}", f ? "," : "", name,
              (unsigned long long)bases[f], (unsigned long long)rows);
  }
  hdb__strbuf_printf(meta, "],\"n_ids\":%llu}", (unsigned long long)n_ids);
  return HDB_OK;
}

/* Writes the index data file and the ids file of an index over s
 * (version V). */
static hdb_status persist_ann(nat_table *t, hdb__tbl_snap *s, const char *column, const ann *a,
                              const uint64_t *bases, uint64_t n_ids, hdb_error *err) {
  int64_t version = hdb__tbl_snap_version(s);
  hdb__strbuf ids = {0};
  char *gpath = tpath(t, ann_fmt(a->type), column, (long long)version);
  char *ipath = tpath(t, "hdbidx-%s-v%lld.ids", column, (long long)version);
  hdb_status rc;
  if (!gpath || !ipath) {
    rc = hdb__fail(err, HDB_NOMEM, "out of memory writing an index");
    goto done;
  }
  rc = build_ids(s, bases, n_ids, &ids, err);
  if (rc == HDB_OK) rc = ann_save(a, gpath, err);
  if (rc == HDB_OK) rc = write_atomic(t, ipath, ids.p, ids.n, err);
done:
  hdb__free_mem(ids.p);
  hdb__free_mem(gpath);
  hdb__free_mem(ipath);
  return rc;
}

/* Builds an ann index of the type over snapshot s and writes its files
 * and (into meta, for the caller to write last) its metadata. */
static hdb_status build_ann(nat_table *t, hdb__tbl_snap *s, const hdb__column *col,
                            hdb_index_type type, const char *params, int auto_chosen, hdb__strbuf *meta,
                            hdb_error *err) {
  ann a;
  hdb_status rc = ann_new(type, col, t->name, params, &a, err);
  if (rc != HDB_OK) return rc;
  size_t nf = hdb__tbl_snap_fragments(s);
  uint64_t *bases = hdb__calloc(nf ? nf : 1, sizeof *bases), n_ids = 0;
  if (!bases) {
    rc = hdb__fail(err, HDB_NOMEM, "out of memory building an index");
    goto done;
  }
  rc = ann_fill(&a, s, col, t->name, bases, &n_ids, err);
  if (rc == HDB_OK)
    rc = meta_ann(meta, type, s, col->name, params, bases, n_ids, auto_chosen, err);
  if (rc == HDB_OK && meta->oom) rc = hdb__fail(err, HDB_NOMEM, "out of memory building an index");
  if (rc == HDB_OK) rc = persist_ann(t, s, col->name, &a, bases, n_ids, err);
done:
  ann_free(&a);
  hdb__free_mem(bases);
  return rc;
}

hdb_status hdb__nat_index_create(void *conn, const char *table, const char *column,
                                 hdb_index_type type, const char *params, hdb_error *err) {
  nat_conn *c = conn;
  hdb_status rc = hdb__nat_writable(c, err);
  if (rc != HDB_OK) return rc;
  nat_table *t;
  rc = hdb__nat_table_get(c, table, &t, err);
  if (rc != HDB_OK) return rc;
  hdb__tbl_snap *s = NULL;
  char *ptext = NULL, *mpath = NULL;
  hdb__strbuf meta = {0};
  rc = hdb__nat_pin(t, 0, &s, err);
  if (rc != HDB_OK) goto done;
  const hdb_schema *schema = hdb__tbl_snap_schema(s);
  const hdb__column *col = schema ? hdb__schema_column(schema, column) : NULL;
  if (!col) {
    if (schema)
      rc = hdb__fail(err, HDB_NO_FIELD, "table '%s' has no column '%s'", table, column);
    else
      rc = hdb__fail(err, HDB_NO_FIELD,
                     "table '%s' is schemaless and has no column '%s'; indexes need a column",
                     table, column);
    goto done;
  }
  int is_vec = col->type == HDB_TYPE_VECTOR;
  int auto_chosen = type == HDB_INDEX_AUTO && is_vec;
  if (auto_chosen)
    type = hdb__tbl_snap_rows(s) < HDB__NAT_AUTO_HNSW_ROWS ? HDB_INDEX_FLAT : HDB_INDEX_HNSW;
  if (type == HDB_INDEX_FLAT || is_ann(type)) {
    if (!is_vec) {
      rc = hdb__fail(err, HDB_NOT_SUPPORTED,
                     "a %s index needs a vector column; column '%s' of table '%s' is %s",
                     type_name(type), column, table, hdb_type_name(col->type));
      goto done;
    }
  } else {
    rc = hdb__fail(err, HDB_NOT_SUPPORTED,
                   "the native backend has no %s index (column '%s' of table '%s'); it has "
                   "flat, hnsw and ivf_pq vector indexes",
                   type == HDB_INDEX_AUTO ? "scalar" : type_name(type), column, table);
    goto done;
  }
  mpath = meta_path(t, column);
  if (!mpath) goto nomem;
  struct stat st;
  if (stat(mpath, &st) == 0) {
    nat_index *old = NULL;
    const char *oname = "an";
    if (hdb__nat_index_find(t, column, &old, NULL) == HDB_OK && old) oname = type_name(old->type);
    rc = hdb__fail(err, HDB_EXISTS, "column '%s' of table '%s' already has %s%s index", column,
                   table, old ? "a " : "", oname);
    hdb__nat_index_put(old);
    goto done;
  }
  if (params) {
    rc = hdb__json_normalize(params, strlen(params), &ptext, NULL, err);
    if (rc != HDB_OK) {
      if (err) hdb__err_prefix(err, "index params for column '%s' of table '%s'", column, table);
      goto done;
    }
    if (ptext[0] != '{') {
      rc = hdb__fail(err, HDB_BAD_JSON,
                     "index params for column '%s' of table '%s' must be a JSON object", column,
                     table);
      goto done;
    }
  } else if (!(ptext = hdb__strdup("{}"))) {
    goto nomem;
  }
  if (type == HDB_INDEX_FLAT) {
    hdb__strbuf_printf(&meta, "{\"column\":\"%s\",\"type\":\"flat\",%s\"params\":", column,
              auto_chosen ? "\"auto\":true," : "");
    hdb__strbuf_add(&meta, ptext, strlen(ptext));
    hdb__strbuf_add(&meta, "}", 1);
    if (meta.oom) goto nomem;
  } else {
    rc = build_ann(t, s, col, type, ptext, auto_chosen, &meta, err);
    if (rc != HDB_OK) goto done;
  }
  rc = write_atomic(t, mpath, meta.p, meta.n, err);
  hdb__nat_index_invalidate(t);
  goto done;
nomem:
  rc = hdb__fail(err, HDB_NOMEM, "out of memory indexing column '%s' of table '%s'", column, table);
done:
  hdb__free_mem(meta.p);
  hdb__free_mem(ptext);
  hdb__free_mem(mpath);
  hdb__tbl_unpin(s);
  hdb__nat_table_put(t);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Optimize                                                            */
/* ------------------------------------------------------------------ */

/* Appends ids lo..hi to a growable id list. */
static int ids_push_range(uint64_t **v, size_t *n, size_t *cap, uint64_t lo, uint64_t hi) {
  for (uint64_t id = lo; id < hi; id++) {
    if (*n == *cap) {
      size_t nc = *cap ? *cap * 2 : 256;
      uint64_t *q = hdb__realloc(*v, nc * sizeof *q);
      if (!q) return 0;
      *v = q;
      *cap = nc;
    }
    (*v)[(*n)++] = id;
  }
  return 1;
}

/*
 * Steps 1-4 of the file comment: the updated index over s, with
 * bases[f] set for every fragment of s and *n_ids the new id space.
 * *rebuilt = 1 when the deletions forced a build from scratch (bases are
 * then dense). The caller owns *out (ann_free).
 */
static hdb_status update_ann(nat_table *t, const nat_index *ix, hdb__tbl_snap *s,
                             const hdb__column *col, uint64_t *bases, uint64_t *n_ids, ann *out,
                             int *rebuilt, hdb_error *err) {
  memset(out, 0, sizeof *out);
  *rebuilt = 0;
  size_t nf = hdb__tbl_snap_fragments(s);
  uint64_t *dead = NULL;
  size_t n_dead = 0, dead_cap = 0;
  char (*names)[32] = hdb__calloc(nf ? nf : 1, sizeof *names);
  uint8_t *known = hdb__calloc(ix->n_frags ? ix->n_frags : 1, 1);
  int *covered = hdb__calloc(nf ? nf : 1, sizeof *covered);
  char *qpath = NULL;
  ann a = {ix->type, NULL, NULL};
  hdb_status rc = HDB_OK;
  uint64_t tail_rows = 0, next = ix->n_ids;
  if (!names || !known || !covered) goto nomem;
  for (size_t f = 0; f < nf; f++) {
    const float *data;
    uint64_t rows;
    uint32_t dim;
    const uint8_t *del, *nulls;
    rc = hdb__tbl_vector_block(s, f, col->name, &data, &rows, &dim, &del, &nulls, err);
    if (rc != HDB_OK) goto done;
    hdb__nat_frag_file(s, f, names[f]);
    for (size_t i = 0; names[f][0] && i < ix->n_frags; i++)
      if (!known[i] && strcmp(ix->frags[i].file, names[f]) == 0 && ix->frags[i].rows == rows) {
        known[i] = 1;
        covered[f] = 1;
        bases[f] = ix->frags[i].base;
        /* Rows deleted or nulled since: their entries die. */
        for (uint64_t r = 0; r < rows; r++)
          if ((bit_at(del, r) || bit_at(nulls, r) || !data) &&
              !ids_push_range(&dead, &n_dead, &dead_cap, bases[f] + r, bases[f] + r + 1))
            goto nomem;
        break;
      }
    if (!covered[f]) {
      bases[f] = next;
      next += rows;
      tail_rows += rows;
    }
  }
  for (size_t i = 0; i < ix->n_frags; i++)
    if (!known[i] && !ids_push_range(&dead, &n_dead, &dead_cap, ix->frags[i].base,
                                     ix->frags[i].base + ix->frags[i].rows))
      goto nomem;
  /* A writable copy: the loaded index is shared with searches. The graph
   * thaws; an IVF-PQ index is read again from its file (open gives a
   * heap index of its own). */
  if (ix->type == HDB_INDEX_IVF_PQ) {
    qpath = tpath(t, ann_fmt(ix->type), col->name, (long long)ix->version);
    if (!qpath) goto nomem;
    rc = hdb__ivfpq_open(qpath, &a.q, err);
  } else {
    rc = hdb__hnsw_thaw(ix->hnsw, (size_t)tail_rows, &a.g, err);
  }
  if (rc == HDB_OK && n_dead) rc = ann_delete(&a, dead, n_dead, err);
  if (rc != HDB_OK) goto done;
  if ((uint64_t)ann_deleted(&a) * HDB__NAT_REBUILD_DIV > (uint64_t)ann_count(&a) + tail_rows) {
    /* Too many dead entries: build from scratch with dense ids (an IVF-PQ
     * index is retrained on the surviving rows). */
    ann_free(&a);
    rc = ann_new(ix->type, col, t->name, ix->params, &a, err);
    if (rc == HDB_OK) rc = ann_fill(&a, s, col, t->name, bases, &next, err);
    *rebuilt = 1;
    if (rc != HDB_OK) goto done;
  }
  for (size_t f = 0; !*rebuilt && f < nf; f++) {
    if (covered[f]) continue;
    const float *data;
    uint64_t rows;
    uint32_t dim;
    const uint8_t *del, *nulls;
    rc = hdb__tbl_vector_block(s, f, col->name, &data, &rows, &dim, &del, &nulls, err);
    if (rc == HDB_OK) rc = insert_block(&a, data, rows, dim, del, nulls, bases[f], err);
    if (rc != HDB_OK) goto done;
  }
  *n_ids = next;
  *out = a;
  a.g = NULL;
  a.q = NULL;
  goto done;
nomem:
  rc = hdb__fail(err, HDB_NOMEM, "out of memory optimizing the index of column '%s' of table '%s'",
                 col->name, t->name);
done:
  ann_free(&a);
  hdb__free_mem(qpath);
  hdb__free_mem(dead);
  hdb__free_mem(names);
  hdb__free_mem(known);
  hdb__free_mem(covered);
  return rc;
}

hdb_status hdb__nat_index_optimize(void *conn, const char *table, const char *column,
                                   hdb_error *err) {
  nat_conn *c = conn;
  hdb_status rc = hdb__nat_writable(c, err);
  if (rc != HDB_OK) return rc;
  nat_table *t;
  rc = hdb__nat_table_get(c, table, &t, err);
  if (rc != HDB_OK) return rc;
  nat_index *ix = NULL;
  hdb__tbl_snap *s = NULL;
  ann g = {HDB_INDEX_HNSW, NULL, NULL};
  uint64_t *bases = NULL;
  char *mpath = NULL, *og = NULL, *oi = NULL;
  hdb__strbuf meta = {0};
  rc = hdb__nat_index_find(t, column, &ix, err);
  if (rc != HDB_OK) goto done;
  if (!ix) {
    rc = hdb__fail(err, HDB_NO_INDEX, "column '%s' of table '%s' has no index", column, table);
    goto done;
  }
  rc = hdb__nat_pin(t, 0, &s, err);
  if (rc != HDB_OK) goto done;
  const hdb_schema *schema = hdb__tbl_snap_schema(s);
  const hdb__column *col = schema ? hdb__schema_column(schema, column) : NULL;
  if (!col || col->type != HDB_TYPE_VECTOR) goto done; /* nothing a flat index needs */
  mpath = meta_path(t, column);
  if (!mpath) goto nomem;
  if (ix->type == HDB_INDEX_FLAT) {
    /* Always current; an auto choice is revisited as the table grows. */
    if (!ix->auto_chosen || hdb__tbl_snap_rows(s) < HDB__NAT_AUTO_HNSW_ROWS) goto done;
    rc = build_ann(t, s, col, HDB_INDEX_HNSW, ix->params, 1, &meta, err);
    if (rc == HDB_OK) rc = write_atomic(t, mpath, meta.p, meta.n, err);
    hdb__nat_index_invalidate(t);
    goto done;
  }
  if (!is_ann(ix->type) || ix->version == hdb__tbl_snap_version(s)) goto done;
  size_t nf = hdb__tbl_snap_fragments(s);
  bases = hdb__calloc(nf ? nf : 1, sizeof *bases);
  if (!bases) goto nomem;
  uint64_t n_ids = 0;
  int rebuilt = 0;
  rc = update_ann(t, ix, s, col, bases, &n_ids, &g, &rebuilt, err);
  if (rc != HDB_OK) goto done;
  rc = meta_ann(&meta, ix->type, s, column, ix->params, bases, n_ids, ix->auto_chosen, err);
  if (rc != HDB_OK) goto done;
  if (meta.oom) goto nomem;
  rc = persist_ann(t, s, column, &g, bases, n_ids, err);
  if (rc == HDB_OK) rc = write_atomic(t, mpath, meta.p, meta.n, err);
  if (rc == HDB_OK) {
    /* The new metadata is in place: the old version's files are garbage. */
    og = tpath(t, ann_fmt(ix->type), column, (long long)ix->version);
    oi = tpath(t, "hdbidx-%s-v%lld.ids", column, (long long)ix->version);
    if (og) unlink(og);
    if (oi) unlink(oi);
  }
  hdb__nat_index_invalidate(t);
  goto done;
nomem:
  rc = hdb__fail(err, HDB_NOMEM, "out of memory optimizing the index of column '%s' of table '%s'",
                 column, table);
done:
  ann_free(&g);
  hdb__free_mem(bases);
  hdb__free_mem(meta.p);
  hdb__free_mem(mpath);
  hdb__free_mem(og);
  hdb__free_mem(oi);
  hdb__tbl_unpin(s);
  hdb__nat_index_put(ix);
  hdb__nat_table_put(t);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Drop and list                                                       */
/* ------------------------------------------------------------------ */

hdb_status hdb__nat_index_drop(void *conn, const char *table, const char *column,
                               hdb_error *err) {
  nat_conn *c = conn;
  hdb_status rc = hdb__nat_writable(c, err);
  if (rc != HDB_OK) return rc;
  nat_table *t;
  rc = hdb__nat_table_get(c, table, &t, err);
  if (rc != HDB_OK) return rc;
  nat_index *ix = NULL;
  rc = hdb__nat_index_find(t, column, &ix, err);
  if (rc == HDB_OK && !ix)
    rc = hdb__fail(err, HDB_NO_INDEX, "column '%s' of table '%s' has no index", column, table);
  if (rc == HDB_OK) {
    /* The metadata goes first: from then on the index does not exist. */
    char *m = meta_path(t, column);
    char *g = tpath(t, ann_fmt(ix->type), column, (long long)ix->version);
    char *i = tpath(t, "hdbidx-%s-v%lld.ids", column, (long long)ix->version);
    if (!m || !g || !i)
      rc = hdb__fail(err, HDB_NOMEM, "out of memory dropping an index");
    else if (unlink(m) != 0)
      rc = hdb__fail(err, HDB_IO, "%s: %s", m, strerror(errno));
    if (rc == HDB_OK && is_ann(ix->type)) {
      unlink(g);
      unlink(i);
    }
    hdb__free_mem(m);
    hdb__free_mem(g);
    hdb__free_mem(i);
    hdb__nat_index_invalidate(t);
  }
  hdb__nat_index_put(ix);
  hdb__nat_table_put(t);
  return rc;
}

static int info_cmp(const void *a, const void *b) {
  return strcmp(((const hdb_index_info *)a)->column, ((const hdb_index_info *)b)->column);
}

/* Live rows of s in fragments the index covers, and in the others. */
static void coverage(hdb__tbl_snap *s, const nat_index *ix, uint64_t *indexed,
                     uint64_t *unindexed) {
  uint64_t live = hdb__tbl_snap_rows(s), cov = 0;
  size_t nf = hdb__tbl_snap_fragments(s);
  for (size_t f = 0; f < nf; f++) {
    const float *data;
    uint64_t rows;
    uint32_t dim;
    const uint8_t *del, *nulls;
    if (hdb__tbl_vector_block(s, f, ix->column, &data, &rows, &dim, &del, &nulls, NULL) != HDB_OK)
      continue;
    char name[32];
    hdb__nat_frag_file(s, f, name);
    int covered = 0;
    for (size_t i = 0; i < ix->n_frags; i++)
      if (name[0] && strcmp(ix->frags[i].file, name) == 0 && ix->frags[i].rows == rows) covered = 1;
    if (!covered) continue;
    uint64_t dead = 0;
    for (uint64_t r = 0; del && r < rows; r++) dead += (del[r >> 3] >> (r & 7)) & 1;
    cov += rows - dead;
  }
  if (cov > live) cov = live;
  *indexed = cov;
  *unindexed = live - cov;
}

hdb_status hdb__nat_index_list(void *conn, const char *table, hdb_index_info **infos,
                               size_t *count, hdb_error *err) {
  nat_conn *c = conn;
  *infos = NULL;
  *count = 0;
  nat_table *t;
  hdb_status rc = hdb__nat_table_get(c, table, &t, err);
  if (rc != HDB_OK) return rc;
  hdb__tbl_snap *s = NULL;
  hdb_index_info *out = NULL;
  size_t n = 0;
  DIR *d = NULL;
  rc = hdb__nat_pin(t, 0, &s, err);
  if (rc != HDB_OK) goto done;
  d = opendir(hdb__tbl_dir(t->tbl));
  if (!d) {
    rc = hdb__fail(err, HDB_IO, "%s: %s", hdb__tbl_dir(t->tbl), strerror(errno));
    goto done;
  }
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t len = strlen(e->d_name);
    if (len <= 12 || strncmp(e->d_name, "hdbidx-", 7) != 0 || strcmp(e->d_name + len - 5, ".json") != 0)
      continue;
    char col[HDB_MAX_NAME_LEN + 1];
    size_t cl = len - 12;
    if (cl > HDB_MAX_NAME_LEN) continue;
    memcpy(col, e->d_name + 7, cl);
    col[cl] = 0;
    nat_index *ix = NULL;
    rc = hdb__nat_index_find(t, col, &ix, err);
    if (rc != HDB_OK) goto done;
    if (!ix) continue;
    hdb_index_info *p = hdb__realloc(out, (n + 1) * sizeof *p);
    if (!p) {
      hdb__nat_index_put(ix);
      goto nomem;
    }
    out = p;
    memset(&out[n], 0, sizeof out[n]);
    out[n].column = hdb__strdup(ix->column);
    out[n].params = hdb__strdup(ix->params);
    out[n].type = ix->type;
    n++;
    if (is_ann(ix->type)) {
      coverage(s, ix, &out[n - 1].rows_indexed, &out[n - 1].rows_unindexed);
    } else {
      out[n - 1].rows_indexed = hdb__tbl_snap_rows(s);
    }
    hdb__nat_index_put(ix);
    if (!out[n - 1].column || !out[n - 1].params) goto nomem;
  }
  if (n) qsort(out, n, sizeof *out, info_cmp);
  *infos = out;
  *count = n;
  out = NULL;
  n = 0;
  goto done;
nomem:
  rc = hdb__fail(err, HDB_NOMEM, "out of memory listing the indexes of table '%s'", table);
done:
  if (d) closedir(d);
  hdb_index_info_free(out, n);
  hdb__tbl_unpin(s);
  hdb__nat_table_put(t);
  return rc;
}

/*
 * tbl_maint.c - keeping a table's disk use bounded and verifying it:
 * compaction (a commit that rewrites fragments), retention (removing old
 * manifests and every file no kept manifest references) and check.
 *
 * Retention's safety argument (README.md rules 8-10): it runs under the
 * writer lock, so no commit is in flight and every data file that no
 * manifest names is garbage (a crashed commit's). Kept versions are the
 * newest, the newest keep_versions, those younger than older_than_us and
 * than the grace period, tagged ones, and those pinned in this process.
 * Manifests are removed before the files, so a reader never finds a
 * manifest whose files are gone except while racing the removal, which
 * hdb__tbl_latest retries and an explicit version pin reports as
 * HDB_NOT_FOUND.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/record.h"
#include "tbl_int.h"

/* ------------------------------------------------------------------ */
/* Compaction                                                          */
/* ------------------------------------------------------------------ */

static uint64_t record_bytes(const hdb_record *r) {
  uint64_t b = 64 + strlen(r->id);
  for (size_t i = 0; i < r->n; i++) {
    const hdb_value *v = &r->fields[i].value;
    b += 32;
    if (v->type == HDB_TYPE_TEXT || v->type == HDB_TYPE_JSON) b += v->as.text.len;
    else if (v->type == HDB_TYPE_BLOB) b += v->as.blob.len;
    else if (v->type == HDB_TYPE_VECTOR) b += (uint64_t)v->as.vector.dim * 4;
  }
  return b;
}

/* The commit machinery lives in tbl_write.c; compaction needs the same
 * steps with its own fragment list, so it drives them directly. */
hdb_status hdb__tbl_compact(hdb__tbl *t, const hdb__tbl_compact_options *o,
                            hdb__tbl_compact_stats *stats, hdb_error *err) {
  hdb__tbl_compact_stats st = {0};
  uint64_t target = o && o->target_rows ? o->target_rows
                    : t->opt.max_fragment_rows ? t->opt.max_fragment_rows : 1048576;
  double ratio = o && o->max_deleted_ratio > 0 ? o->max_deleted_ratio : 0.1;
  uint64_t small = o && o->small_rows ? o->small_rows : target / 4;
  int lock = -1;
  hdb__tbl_snap *base = NULL;
  uint8_t *cand = NULL;
  hdb_record **batch = NULL;
  size_t nb = 0;
  tbl_fref *added = NULL;
  size_t n_added = 0;
  char **files = NULL;
  size_t n_files = 0;
  tbl_manifest m;
  memset(&m, 0, sizeof m);
  int committed = 0;
  hdb_status rc = hdb__tbl_lock(t, &lock, err);
  if (rc == HDB_OK) rc = hdb__tbl_latest(t, &base, err);
  if (rc != HDB_OK) goto done;
  size_t nf = base->m.n_frags, n_del = 0, n_small = 0;
  cand = hdb__calloc(nf ? nf : 1, 1);
  if (!cand) goto nomem;
  for (size_t i = 0; i < nf; i++) {
    const tbl_fref *f = &base->m.frags[i];
    uint64_t live = f->rows - f->n_deleted;
    if (live == 0 || (double)f->n_deleted > ratio * (double)f->rows) {
      cand[i] = 2;
      n_del++;
    } else if (live < small) {
      cand[i] = 1;
      n_small++;
    }
  }
  /* A lone small fragment with nothing to merge into is left alone. */
  if (n_del + n_small < 2)
    for (size_t i = 0; i < nf; i++)
      if (cand[i] == 1) cand[i] = 0, n_small--;
  if (n_del + n_small == 0) goto done;

  uint64_t bytes = 0;
  batch = hdb__calloc((size_t)target, sizeof *batch);
  if (!batch) goto nomem;
  for (size_t i = 0; i <= nf; i++) {
    int last = i == nf;
    if (!last && !cand[i]) continue;
    if (!last) {
      st.fragments_removed++;
      st.rows_dropped += base->m.frags[i].n_deleted;
      hdb__tbl_scan *sc;
      rc = hdb__tbl_scan_fragment(base, i, &sc, err);
      if (rc != HDB_OK) goto done;
      const hdb_record *r;
      while ((rc = hdb__tbl_scan_next(sc, &r, NULL, NULL, err)) == HDB_OK) {
        if (!(batch[nb] = hdb_record_clone(r))) {
          hdb__tbl_scan_close(sc);
          goto nomem;
        }
        bytes += record_bytes(batch[nb]);
        nb++;
        st.rows_rewritten++;
        if (nb < target && bytes < (256u << 20)) continue;
        tbl_frag_out fo;
        rc = hdb__tbl_frag_write(t->dir, base->m.schema, base->m.field_ids, batch, nb,
                                 t->opt.chunk_rows, t->opt.codec, t->opt.sync, &fo, err);
        if (rc != HDB_OK) break;
        tbl_fref *na = hdb__realloc(added, (n_added + 1) * sizeof *na);
        char name[32];
        hdb__tbl_frag_name(fo.fid, name);
        char *path = hdb__tbl_path(t->dir, name);
        char **nfiles = hdb__realloc(files, (n_files + 1) * sizeof *files);
        if (na) added = na;
        if (nfiles) files = nfiles;
        if (!na || !path || !nfiles) {
          if (path) unlink(path);
          hdb__free_mem(path);
          hdb__tbl_scan_close(sc);
          goto nomem;
        }
        files[n_files++] = path;
        added[n_added++] = (tbl_fref){fo.fid, fo.rows, fo.file_size, fo.dir_xxh3, 0, 0, 0};
        for (size_t k = 0; k < nb; k++) hdb_record_free(batch[k]);
        nb = 0;
        bytes = 0;
      }
      hdb__tbl_scan_close(sc);
      if (rc != HDB_DONE) goto done;
      rc = HDB_OK;
      continue;
    }
    if (nb) {
      tbl_frag_out fo;
      rc = hdb__tbl_frag_write(t->dir, base->m.schema, base->m.field_ids, batch, nb,
                               t->opt.chunk_rows, t->opt.codec, t->opt.sync, &fo, err);
      if (rc != HDB_OK) goto done;
      char name[32];
      hdb__tbl_frag_name(fo.fid, name);
      tbl_fref *na = hdb__realloc(added, (n_added + 1) * sizeof *na);
      char *path = hdb__tbl_path(t->dir, name);
      char **nfiles = hdb__realloc(files, (n_files + 1) * sizeof *files);
      if (na) added = na;
      if (nfiles) files = nfiles;
      if (!na || !path || !nfiles) {
        if (path) unlink(path);
        hdb__free_mem(path);
        goto nomem;
      }
      files[n_files++] = path;
      added[n_added++] = (tbl_fref){fo.fid, fo.rows, fo.file_size, fo.dir_xxh3, 0, 0, 0};
    }
  }
  if (hdb__tbl_manifest_copy(&m, &base->m) != HDB_OK) goto nomem;
  size_t k = 0;
  for (size_t i = 0; i < nf; i++)
    if (!cand[i]) m.frags[k++] = base->m.frags[i];
  if (n_added) {
    tbl_fref *nfr = hdb__realloc(m.frags, (k + n_added) * sizeof *nfr);
    if (!nfr) goto nomem;
    m.frags = nfr;
    memcpy(m.frags + k, added, n_added * sizeof *added);
  }
  m.n_frags = k + n_added;
  m.op = TBL_OP_COMPACT;
  m.source = 0;
  rc = hdb__tbl_commit(t, &m, base, err);
  if (rc == HDB_OK) {
    committed = 1;
    st.fragments_written = n_added;
    st.version = (int64_t)base->m.version + 1;
  }
  goto done;
nomem:
  rc = hdb__fail(err, HDB_NOMEM, "%s: out of memory compacting", t->dir);
done:
  hdb__tbl_manifest_free(&m);
  for (size_t i = 0; i < nb; i++) hdb_record_free(batch[i]);
  hdb__free_mem(batch);
  for (size_t i = 0; i < n_files; i++) {
      if (!committed) unlink(files[i]);
      hdb__free_mem(files[i]);
    }
  hdb__free_mem(files);
  hdb__free_mem(added);
  hdb__free_mem(cand);
  hdb__tbl_unpin(base);
  hdb__tbl_unlock(lock);
  if (stats) *stats = st;
  return rc;
}

/* ------------------------------------------------------------------ */
/* Referenced files                                                    */
/* ------------------------------------------------------------------ */

typedef struct idlist {
  uint64_t *v;
  size_t n, cap;
} idlist;

static int idlist_add(idlist *l, uint64_t id) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    uint64_t *v = hdb__realloc(l->v, cap * sizeof *v);
    if (!v) return -1;
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n++] = id;
  return 0;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static int idlist_has(const idlist *l, uint64_t id) {
  return l->n && bsearch(&id, l->v, l->n, sizeof id, cmp_u64) != NULL;
}

/* Parses "f-%016x.frag" / "d-%016x.del": 'f' or 'd' and the id, else 0. */
static int data_file(const char *name, uint64_t *id) {
  char kind = name[0];
  const char *ext = kind == 'f' ? ".frag" : kind == 'd' ? ".del" : NULL;
  if (!ext || name[1] != '-' || strlen(name) != 18 + strlen(ext) || strcmp(name + 18, ext) != 0)
    return 0;
  uint64_t v = 0;
  for (int i = 2; i < 18; i++) {
    char c = name[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return 0;
    v = (v << 4) | (uint64_t)d;
  }
  *id = v;
  return kind;
}

static int is_tmp(const char *name) {
  size_t n = strlen(name);
  return n > 4 && strcmp(name + n - 4, ".tmp") == 0;
}

/* ------------------------------------------------------------------ */
/* Retention                                                           */
/* ------------------------------------------------------------------ */

static uint64_t file_size(const char *dir, const char *name) {
  char *p = hdb__tbl_path(dir, name);
  struct stat st;
  uint64_t s = p && stat(p, &st) == 0 ? (uint64_t)st.st_size : 0;
  hdb__free_mem(p);
  return s;
}

static int remove_file(const char *dir, const char *name, hdb__tbl_cleanup_stats *st) {
  char *p = hdb__tbl_path(dir, name);
  if (!p) return -1;
  struct stat sb;
  uint64_t size = stat(p, &sb) == 0 ? (uint64_t)sb.st_size : 0;
  int r = unlink(p);
  hdb__free_mem(p);
  if (r == 0) {
    st->files_removed++;
    st->bytes_removed += size;
  }
  return r;
}

hdb_status hdb__tbl_cleanup(hdb__tbl *t, const hdb__tbl_retention *rp,
                            hdb__tbl_cleanup_stats *stats, hdb_error *err) {
  hdb__tbl_cleanup_stats st = {0};
  hdb__tbl_retention r = {1, 0, 0};
  if (rp) r = *rp;
  if (r.keep_versions < 1) r.keep_versions = 1;
  int64_t grace = r.grace_us < 0 ? 0 : r.grace_us == 0 ? 10000000 : r.grace_us;
  int lock = -1;
  hdb__tbl_snap *latest = NULL;
  uint64_t *vers = NULL;
  size_t nv = 0;
  idlist frags = {0}, dels = {0};
  DIR *d = NULL;
  hdb_status rc = hdb__tbl_lock(t, &lock, err);
  if (rc == HDB_OK) rc = hdb__tbl_latest(t, &latest, err);
  if (rc == HDB_OK) rc = hdb__tbl_list_versions(t->dir, &vers, &nv, err);
  if (rc != HDB_OK) goto done;
  uint64_t newest = latest->m.version;
  int64_t now = hdb__tbl_now_us();
  /* Pass 1: decide and remove manifests, oldest first. */
  for (size_t i = 0; i < nv; i++) {
    uint64_t v = vers[i];
    int keep = v >= newest || newest - v < r.keep_versions || hdb__tbl_pinned(t->sh, v);
    for (size_t k = 0; !keep && k < latest->m.n_tags; k++)
      if (latest->m.tags[k].version == v) keep = 1;
    if (!keep) {
      int64_t ts;
      hdb_status tr = hdb__tbl_version_time(t->dir, v, &ts, err);
      if (tr == HDB_NOT_FOUND) {
        vers[i] = 0;
        continue;
      }
      if (tr != HDB_OK) {
        rc = tr;
        goto done;
      }
      if (now - ts < grace || (r.older_than_us > 0 && now - ts < r.older_than_us)) keep = 1;
    }
    if (keep) {
      st.versions_kept++;
      continue;
    }
    char name[40];
    hdb__tbl_manifest_name(v, name);
    uint64_t size = file_size(t->dir, name);
    char *p = hdb__tbl_path(t->dir, name);
    if (!p) {
      rc = hdb__fail(err, HDB_NOMEM, "%s: out of memory", t->dir);
      goto done;
    }
    if (unlink(p) != 0 && errno != ENOENT) {
      rc = hdb__fail(err, HDB_IO, "%s: unlink: %s", p, strerror(errno));
      hdb__free_mem(p);
      goto done;
    }
    hdb__free_mem(p);
    st.versions_removed++;
    st.bytes_removed += size;
    vers[i] = 0;
  }
  /* Pass 2: the files every kept manifest references. */
  for (size_t i = 0; i < nv; i++) {
    if (!vers[i]) continue;
    tbl_manifest m;
    rc = hdb__tbl_manifest_read(t->dir, vers[i], &m, err);
    if (rc != HDB_OK) goto done;
    for (size_t k = 0; k < m.n_frags; k++) {
      if (idlist_add(&frags, m.frags[k].fid) ||
          (m.frags[k].did && idlist_add(&dels, m.frags[k].did))) {
        hdb__tbl_manifest_free(&m);
        rc = hdb__fail(err, HDB_NOMEM, "%s: out of memory", t->dir);
        goto done;
      }
    }
    hdb__tbl_manifest_free(&m);
  }
  if (frags.n) qsort(frags.v, frags.n, sizeof *frags.v, cmp_u64);
  if (dels.n) qsort(dels.v, dels.n, sizeof *dels.v, cmp_u64);
  /* Pass 3: everything else is garbage (we hold the lock: no commit is
   * writing files right now). */
  d = opendir(t->dir);
  if (!d) {
    rc = hdb__fail(err, HDB_IO, "%s: opendir: %s", t->dir, strerror(errno));
    goto done;
  }
  struct dirent *e;
  while ((e = readdir(d))) {
    uint64_t id;
    int kind = data_file(e->d_name, &id);
    int garbage = (kind == 'f' && !idlist_has(&frags, id)) || (kind == 'd' && !idlist_has(&dels, id)) ||
                  is_tmp(e->d_name);
    if (garbage && remove_file(t->dir, e->d_name, &st) != 0 && errno != ENOENT) {
      rc = hdb__fail(err, HDB_IO, "%s/%s: unlink: %s", t->dir, e->d_name, strerror(errno));
      goto done;
    }
  }
  if (t->opt.sync != HDB__TBL_SYNC_OFF) rc = hdb__tbl_fsync_dir(t->dir, err);
done:
  if (d) closedir(d);
  hdb__free_mem(frags.v);
  hdb__free_mem(dels.v);
  hdb__free_mem(vers);
  hdb__tbl_unpin(latest);
  hdb__tbl_unlock(lock);
  if (stats) *stats = st;
  return rc;
}

/* ------------------------------------------------------------------ */
/* Check                                                               */
/* ------------------------------------------------------------------ */

static void note(hdb__tbl_check_report *rep, const hdb_error *e) {
  if (rep->status != HDB_OK) return;
  rep->status = e->code;
  snprintf(rep->message, sizeof rep->message, "%s", e->message);
}

hdb_status hdb__tbl_check(const char *dir, hdb__tbl_check_report *report, hdb_error *err) {
  hdb__tbl_check_report rep;
  memset(&rep, 0, sizeof rep);
  uint64_t *vers = NULL;
  size_t nv = 0;
  idlist frags = {0}, dels = {0};
  hdb_error e;
  hdb__err_clear(&e);
  hdb_status rc = hdb__tbl_list_versions(dir, &vers, &nv, &e);
  if (rc != HDB_OK) {
    note(&rep, &e);
    goto done;
  }
  if (!nv) {
    hdb__fail(&e, HDB_NOT_FOUND, "%s: no manifest", dir);
    note(&rep, &e);
  }
  for (size_t i = 0; i < nv; i++) {
    tbl_manifest m;
    rc = hdb__tbl_manifest_read(dir, vers[i], &m, &e);
    if (rc != HDB_OK) {
      note(&rep, &e);
      continue;
    }
    rep.versions++;
    for (size_t k = 0; k < m.n_frags; k++) {
      const tbl_fref *fr = &m.frags[k];
      int seen = 0;
      for (size_t j = 0; j < frags.n; j++)
        if (frags.v[j] == fr->fid) seen = 1;
      if (!seen) {
        idlist_add(&frags, fr->fid);
        tbl_frag *f;
        rc = hdb__tbl_frag_open(dir, fr->fid, &f, &e);
        if (rc == HDB_OK) {
          rep.fragments++;
          rep.bytes += f->len;
          if (f->n_rows != fr->rows || f->dir_xxh3 != fr->dir_xxh3 || f->len != fr->file_size)
            rc = hdb__fail(&e, HDB_CORRUPT, "%s: does not match manifest version %" PRIu64,
                           f->path, m.version);
          if (rc == HDB_OK) rc = hdb__tbl_frag_verify_all(f, &rep.chunks, &e);
          hdb__tbl_frag_release(f);
        }
        if (rc != HDB_OK) note(&rep, &e);
      }
      if (!fr->did) continue;
      seen = 0;
      for (size_t j = 0; j < dels.n; j++)
        if (dels.v[j] == fr->did) seen = 1;
      if (seen) continue;
      idlist_add(&dels, fr->did);
      char dn[32];
      hdb__tbl_del_name(fr->did, dn);
      char *p = hdb__tbl_path(dir, dn);
      uint8_t *buf = NULL, *bits = NULL;
      size_t len = 0;
      uint64_t nd = 0;
      rc = p ? hdb__tbl_read_file(p, &buf, &len, &e) : hdb__fail(&e, HDB_NOMEM, "out of memory");
      if (rc == HDB_OK) rc = hdb__tbl_del_decode(buf, len, fr->rows, p, &bits, &nd, &e);
      if (rc == HDB_OK && nd != fr->n_deleted)
        rc = hdb__fail(&e, HDB_CORRUPT, "%s: deleted count does not match manifest version %" PRIu64,
                       p, m.version);
      if (rc == HDB_OK) {
        rep.deletion_files++;
        rep.bytes += len;
      } else {
        note(&rep, &e);
      }
      hdb__free_mem(bits);
      hdb__free_mem(buf);
      hdb__free_mem(p);
    }
    hdb__tbl_manifest_free(&m);
  }
  if (frags.n) qsort(frags.v, frags.n, sizeof *frags.v, cmp_u64);
  if (dels.n) qsort(dels.v, dels.n, sizeof *dels.v, cmp_u64);
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *de;
    while ((de = readdir(d))) {
      uint64_t id;
      int kind = data_file(de->d_name, &id);
      if ((kind == 'f' && !idlist_has(&frags, id)) || (kind == 'd' && !idlist_has(&dels, id)) ||
          is_tmp(de->d_name))
        rep.orphans++;
      else if (kind == 0 && hdb__tbl_parse_manifest_name(de->d_name, &id))
        rep.bytes += file_size(dir, de->d_name);
    }
    closedir(d);
  }
done:
  hdb__free_mem(vers);
  hdb__free_mem(frags.v);
  hdb__free_mem(dels.v);
  if (report) *report = rep;
  if (rep.status != HDB_OK) return hdb__fail(err, rep.status, "%s", rep.message);
  return HDB_OK;
}

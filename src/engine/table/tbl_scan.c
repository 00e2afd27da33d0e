/*
 * tbl_scan.c - reading a pinned version: scans with zone-map skipping,
 * get by id, row materialization, vector blocks.
 *
 * A scan walks fragments in manifest order and each fragment chunk by
 * chunk. Before a chunk is read, zone_skip() asks whether its per-chunk
 * statistics (min, max, null count) prove that no row can make the filter
 * TRUE; such a chunk is counted as skipped and never read. The survivors'
 * rows are exposed as a borrowed "view" record whose values point into
 * the decoded chunks and the mapped vector blocks (no allocation per row),
 * and the full filter is evaluated on it with hdb__filter_match.
 *
 * Soundness of skipping: zone_cmp() mirrors compare() in
 * core/filter_eval.c, and every value of a typed column has the column's
 * type, so if the literal compares a certain way with both min and max it
 * compares that way with every non-null value in between; nulls make every
 * comparison UNKNOWN (never TRUE). Only AND/OR trees of leaves on
 * top-level scalar columns (and the id) are used; anything else (NOT,
 * LIKE, dotted json paths) answers "may match".
 */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/record.h"
#include "core/schema.h"
#include "core/value.h"
#include "tbl_int.h"

/* ------------------------------------------------------------------ */
/* Zone maps                                                           */
/* ------------------------------------------------------------------ */

static int sgn(int64_t a, int64_t b) { return a < b ? -1 : a > b; }

static int cmp_int_double(int64_t i, double d) {
  if (d >= 9223372036854775808.0) return -1;
  if (d < -9223372036854775808.0) return 1;
  double t = trunc(d);
  int64_t ti = (int64_t)t;
  if (i != ti) return i < ti ? -1 : 1;
  return d > t ? -1 : d < t ? 1 : 0;
}

/* compare(a, lit) of filter_eval.c: 1 and *c when comparable. */
static int zone_cmp(const hdb_value *a, const hdb_value *lit, const hdb__lit_ts *ts, int *c) {
  switch (a->type) {
  case HDB_TYPE_INT:
    if (lit->type == HDB_TYPE_INT) *c = sgn(a->as.i, lit->as.i);
    else if (lit->type == HDB_TYPE_FLOAT) *c = cmp_int_double(a->as.i, lit->as.f);
    else return 0;
    return 1;
  case HDB_TYPE_FLOAT:
    if (isnan(a->as.f)) return 0;
    if (lit->type == HDB_TYPE_INT) *c = -cmp_int_double(lit->as.i, a->as.f);
    else if (lit->type == HDB_TYPE_FLOAT) *c = a->as.f < lit->as.f ? -1 : a->as.f > lit->as.f;
    else return 0;
    return 1;
  case HDB_TYPE_TEXT: {
    if (lit->type != HDB_TYPE_TEXT) return 0;
    size_t n = a->as.text.len < lit->as.text.len ? a->as.text.len : lit->as.text.len;
    int m = n ? memcmp(a->as.text.data, lit->as.text.data, n) : 0;
    *c = m ? (m < 0 ? -1 : 1) : sgn((int64_t)a->as.text.len, (int64_t)lit->as.text.len);
    return 1;
  }
  case HDB_TYPE_BOOL:
    if (lit->type != HDB_TYPE_BOOL) return 0;
    *c = (a->as.boolean != 0) - (lit->as.boolean != 0);
    return 1;
  case HDB_TYPE_TIMESTAMP:
    if (lit->type == HDB_TYPE_INT) {
      *c = sgn(a->as.timestamp_us, lit->as.i);
      return 1;
    }
    if (lit->type == HDB_TYPE_TEXT && ts && ts->ok) {
      *c = sgn(a->as.timestamp_us, ts->us);
      return 1;
    }
    if (lit->type == HDB_TYPE_TEXT && !ts) return hdb__value_compare(a, lit, c);
    return 0;
  default: return 0;
  }
}

typedef struct zctx {
  const tbl_frag *f;
  uint32_t chunk;
  const int *fcol;         /* per needed column */
  const char *const *names; /* per needed column */
  size_t n;
} zctx;

/* Statistics of the column a leaf names: 1 with *ck, 2 when every row is
 * null (the column is not in this fragment), 0 unknown. */
static int zone_of(const zctx *z, const hdb__path *p, const tbl_chunk **ck) {
  if (p->n_segs != 1) return 0;
  int col = -1;
  if (strcmp(p->segs[0], "id") == 0) {
    col = z->f->id_col;
  } else {
    size_t k = 0;
    while (k < z->n && strcmp(z->names[k], p->segs[0]) != 0) k++;
    if (k == z->n) return 0;
    if (z->fcol[k] < 0) return 2;
    col = z->fcol[k];
  }
  if (z->f->cols[col].type == HDB_TYPE_VECTOR || !z->f->cols[col].chunks) return 0;
  *ck = &z->f->cols[col].chunks[z->chunk];
  return 1;
}

/* 1 when no row of the chunk can make e TRUE. */
static int zone_skip(const zctx *z, const hdb__expr *e) {
  switch (e->kind) {
  case HDB__EXPR_AND:
    for (size_t i = 0; i < e->n_kids; i++)
      if (zone_skip(z, e->kids[i])) return 1;
    return 0;
  case HDB__EXPR_OR:
    for (size_t i = 0; i < e->n_kids; i++)
      if (!zone_skip(z, e->kids[i])) return 0;
    return 1;
  case HDB__EXPR_NOT:
  case HDB__EXPR_TRUE: return 0;
  default: break;
  }
  const tbl_chunk *ck = NULL;
  int zk = zone_of(z, &e->path, &ck);
  if (!zk) return 0;
  int all_null = zk == 2 || ck->null_count == ck->rows;
  switch (e->kind) {
  case HDB__EXPR_IS_NULL: return e->negated ? all_null : (zk == 1 && ck->null_count == 0);
  case HDB__EXPR_EXISTS: return all_null;
  default: break;
  }
  if (all_null) return 1; /* every comparison with null is UNKNOWN */
  if (!ck->has_zone) return 0;
  const hdb_value *mn = &ck->zmin, *mx = &ck->zmax;
  int a, b;
  switch (e->kind) {
  case HDB__EXPR_CMP: {
    const hdb__lit_ts *ts = e->ts;
    if (!zone_cmp(mn, &e->values[0], ts, &a) || !zone_cmp(mx, &e->values[0], ts, &b)) return 1;
    switch (e->op) {
    case HDB__CMP_EQ: return a > 0 || b < 0;
    case HDB__CMP_NE: return a == 0 && b == 0;
    case HDB__CMP_LT: return a >= 0;
    case HDB__CMP_LE: return a > 0;
    case HDB__CMP_GT: return b <= 0;
    case HDB__CMP_GE: return b < 0;
    }
    return 0;
  }
  case HDB__EXPR_IN:
    if (e->negated) return 0;
    for (size_t i = 0; i < e->n_values; i++) {
      const hdb__lit_ts *ts = e->ts ? &e->ts[i] : NULL;
      if (e->values[i].type == HDB_TYPE_NULL) continue;
      if (zone_cmp(mn, &e->values[i], ts, &a) && zone_cmp(mx, &e->values[i], ts, &b) && a <= 0 &&
          b >= 0)
        return 0;
    }
    return 1;
  case HDB__EXPR_BETWEEN: {
    if (e->negated) return 0;
    int c1, c2;
    if (!zone_cmp(mx, &e->values[0], e->ts, &c1) ||
        !zone_cmp(mn, &e->values[1], e->ts ? &e->ts[1] : NULL, &c2))
      return 1;
    return c1 < 0 || c2 > 0;
  }
  default: return 0;
  }
}

/* ------------------------------------------------------------------ */
/* Scans                                                               */
/* ------------------------------------------------------------------ */

struct hdb__tbl_scan {
  hdb__tbl_snap *s;
  const hdb__expr *filter;
  int schemaless;
  size_t n_out, n_need;
  const hdb__column **need; /* schema columns: projected first, then filter-only */
  const char **names;
  uint8_t *in_filter;       /* per needed column: the filter reads it */
  int *fcol;                /* per needed column, in the current fragment */
  tbl_cview *views;         /* per needed column */
  const float **vecs;
  const uint8_t **vnulls;
  tbl_cview idv, fieldsv;
  size_t frag, frag_end;
  uint32_t chunk, row;
  int frag_ready, chunk_ready;
  hdb__field *fields;
  hdb_record view;
  hdb_record *owned;   /* schemaless: the current row */
  char **proj_names; /* schemaless projection (copied) */
  size_t n_proj;
  hdb__tbl_scan_stats st;
  hdb_status sticky;
};

static void collect_paths(const hdb__expr *e, const hdb_schema *sc, const hdb__column **need,
                          size_t *n, size_t cap) {
  if (e->kind == HDB__EXPR_AND || e->kind == HDB__EXPR_OR || e->kind == HDB__EXPR_NOT) {
    for (size_t i = 0; i < e->n_kids; i++) collect_paths(e->kids[i], sc, need, n, cap);
    return;
  }
  if (e->kind == HDB__EXPR_TRUE || !e->path.n_segs) return;
  const hdb__column *c = hdb__schema_column(sc, e->path.segs[0]);
  if (!c) return;
  for (size_t i = 0; i < *n; i++)
    if (need[i] == c) return;
  if (*n < cap) need[(*n)++] = c;
}

void hdb__tbl_scan_close(hdb__tbl_scan *sc) {
  if (!sc) return;
  if (sc->views)
    for (size_t k = 0; k < sc->n_need; k++) hdb__tbl_cview_free(&sc->views[k]);
  hdb__tbl_cview_free(&sc->idv);
  hdb__tbl_cview_free(&sc->fieldsv);
  hdb__free_mem(sc->need);
  hdb__free_mem(sc->names);
  hdb__free_mem(sc->in_filter);
  hdb__free_mem(sc->fcol);
  hdb__free_mem(sc->views);
  hdb__free_mem(sc->vecs);
  hdb__free_mem(sc->vnulls);
  hdb__free_mem(sc->fields);
  hdb_record_free(sc->owned);
  if (sc->s) {
    atomic_fetch_add(&sc->s->sh->rows_read, sc->st.rows_read);
    atomic_fetch_add(&sc->s->sh->rows_matched, sc->st.rows_matched);
  }
  if (sc->proj_names)
    for (size_t i = 0; i < sc->n_proj; i++) hdb__free_mem(sc->proj_names[i]);
  hdb__free_mem(sc->proj_names);
  hdb__tbl_unpin(sc->s);
  hdb__free_mem(sc);
}

hdb_status hdb__tbl_scan_open(hdb__tbl_snap *s, const hdb__tbl_scan_options *o,
                              hdb__tbl_scan **out, hdb_error *err) {
  *out = NULL;
  hdb__tbl_scan *sc = hdb__calloc(1, sizeof *sc);
  if (!sc) return hdb__fail(err, HDB_NOMEM, "%s: out of memory opening a scan", s->sh->dir);
  hdb__tbl_snap_retain(s);
  sc->s = s;
  sc->filter = o ? o->filter : NULL;
  sc->frag_end = s->m.n_frags;
  hdb__tbl_cview_init(&sc->idv);
  hdb__tbl_cview_init(&sc->fieldsv);
  const hdb_schema *schema = s->m.schema;
  if (!schema) {
    sc->schemaless = 1;
    if (o && o->fields) {
      sc->proj_names = hdb__calloc(o->n_fields ? o->n_fields : 1, sizeof *sc->proj_names);
      if (!sc->proj_names) goto nomem;
      sc->n_proj = o->n_fields;
      for (size_t i = 0; i < o->n_fields; i++)
        if (!(sc->proj_names[i] = hdb__strdup(o->fields[i]))) goto nomem;
    }
    *out = sc;
    return HDB_OK;
  }
  size_t cap = schema->n;
  sc->need = hdb__calloc(cap ? cap : 1, sizeof *sc->need);
  if (!sc->need) goto nomem;
  if (o && o->fields) {
    for (size_t i = 0; i < o->n_fields; i++) {
      const hdb__column *c = hdb__schema_column(schema, o->fields[i]);
      if (!c) {
        if (strcmp(o->fields[i], "id") == 0) continue; /* the id always comes */
        hdb__tbl_scan_close(sc);
        return hdb__fail(err, HDB_NO_FIELD, "%s: no column '%s'", s->sh->dir, o->fields[i]);
      }
      size_t k = 0;
      while (k < sc->n_need && sc->need[k] != c) k++;
      if (k == sc->n_need) sc->need[sc->n_need++] = c;
    }
  } else {
    for (size_t i = 0; i < schema->n; i++) sc->need[sc->n_need++] = &schema->cols[i];
  }
  sc->n_out = sc->n_need;
  if (sc->filter) collect_paths(sc->filter, schema, sc->need, &sc->n_need, cap);
  size_t n = sc->n_need ? sc->n_need : 1;
  sc->names = hdb__calloc(n, sizeof *sc->names);
  sc->in_filter = hdb__calloc(n, 1);
  sc->fcol = hdb__calloc(n, sizeof *sc->fcol);
  sc->views = hdb__calloc(n, sizeof *sc->views);
  sc->vecs = hdb__calloc(n, sizeof *sc->vecs);
  sc->vnulls = hdb__calloc(n, sizeof *sc->vnulls);
  sc->fields = hdb__calloc(n, sizeof *sc->fields);
  if (!sc->names || !sc->in_filter || !sc->fcol || !sc->views || !sc->vecs || !sc->vnulls || !sc->fields) goto nomem;
  if (sc->filter) {
    /* Which needed columns the filter reads: collect them again into a
     * scratch list and mark them. */
    const hdb__column **fl = hdb__calloc(cap ? cap : 1, sizeof *fl);
    size_t nf = 0;
    if (!fl) goto nomem;
    collect_paths(sc->filter, schema, fl, &nf, cap);
    for (size_t k = 0; k < sc->n_need; k++)
      for (size_t j = 0; j < nf; j++)
        if (fl[j] == sc->need[k]) sc->in_filter[k] = 1;
    hdb__free_mem(fl);
  }
  for (size_t k = 0; k < sc->n_need; k++) {
    sc->names[k] = sc->need[k]->name;
    hdb__tbl_cview_init(&sc->views[k]);
  }
  sc->view.fields = sc->fields;
  sc->view.cap = n;
  *out = sc;
  return HDB_OK;
nomem:
  hdb__tbl_scan_close(sc);
  return hdb__fail(err, HDB_NOMEM, "%s: out of memory opening a scan", s->sh->dir);
}

static hdb_status setup_frag(hdb__tbl_scan *sc, hdb_error *err) {
  tbl_frag *f = sc->s->frags[sc->frag];
  for (size_t k = 0; k < sc->n_need; k++) {
    const hdb__column *c = sc->need[k];
    uint64_t fid = sc->s->m.field_ids[c - sc->s->m.schema->cols];
    sc->fcol[k] = hdb__tbl_frag_col(f, fid, c->type, c->type == HDB_TYPE_VECTOR ? c->dim : 0);
    sc->vecs[k] = NULL;
    sc->vnulls[k] = NULL;
    sc->views[k].chunk = UINT32_MAX;
    if (sc->fcol[k] >= 0 && c->type == HDB_TYPE_VECTOR) {
      hdb_status rc = hdb__tbl_frag_vectors(f, sc->fcol[k], &sc->vecs[k], &sc->vnulls[k], err);
      if (rc != HDB_OK) return rc;
    }
  }
  if (sc->schemaless && f->fields_col < 0)
    return hdb__fail(err, HDB_CORRUPT, "%s: schemaless table's fragment has no fields column",
                     f->path ? f->path : f->name);
  sc->chunk = 0;
  sc->chunk_ready = 0;
  sc->frag_ready = 1;
  return HDB_OK;
}

static hdb_status load_chunk(hdb__tbl_scan *sc, tbl_frag *f, hdb_error *err) {
  hdb_status rc = hdb__tbl_chunk_load(f, f->id_col, sc->chunk, &sc->idv, err);
  if (rc == HDB_OK && sc->schemaless)
    rc = hdb__tbl_chunk_load(f, f->fields_col, sc->chunk, &sc->fieldsv, err);
  /* Columns only projected are loaded when a row of the chunk matches. */
  for (size_t k = 0; k < sc->n_need && rc == HDB_OK; k++)
    if (sc->fcol[k] >= 0 && sc->need[k]->type != HDB_TYPE_VECTOR &&
        (!sc->filter || sc->in_filter[k]))
      rc = hdb__tbl_chunk_load(f, sc->fcol[k], sc->chunk, &sc->views[k], err);
  return rc;
}

/* Adds needed column k of row r to the view; 0 ok, -1 corrupt. */
static int add_field(hdb__tbl_scan *sc, tbl_frag *f, size_t k, uint32_t r, size_t *m) {
  int col = sc->fcol[k];
  if (col < 0) return 0;
  hdb_value v;
  if (sc->need[k]->type == HDB_TYPE_VECTOR) {
    uint64_t grow = (uint64_t)sc->chunk * f->chunk_rows + r;
    if (tbl_bit(sc->vnulls[k], grow)) return 0;
    v.type = HDB_TYPE_VECTOR;
    v.as.vector.dim = sc->need[k]->dim;
    v.as.vector.data = sc->vecs[k] + grow * sc->need[k]->dim;
  } else {
    int got = hdb__tbl_cview_value(f, col, &sc->views[k], r, &v);
    if (got < 0) return -1;
    if (!got) return 0;
  }
  sc->fields[*m].name = (char *)sc->need[k]->name;
  sc->fields[*m].value = v;
  (*m)++;
  return 0;
}

/* Row r of the current chunk as sc->view: with a filter, first only the
 * columns it reads (1 when it matches, 0 when not), then the projection
 * (loading projected-only chunks on first use). -1 corrupt, -2 load error
 * (err filled). */
static int fill_view(hdb__tbl_scan *sc, tbl_frag *f, uint32_t r, hdb_error *err) {
  hdb_value idv;
  if (hdb__tbl_cview_value(f, f->id_col, &sc->idv, r, &idv) != 1) return -1;
  sc->view.id = (char *)idv.as.text.data;
  size_t m = 0;
  if (sc->filter) {
    for (size_t k = 0; k < sc->n_need; k++)
      if (sc->in_filter[k] && add_field(sc, f, k, r, &m) != 0) return -1;
    sc->view.n = m;
    if (!hdb__filter_match(sc->filter, &sc->view)) return 0;
    m = 0;
  }
  for (size_t k = 0; k < sc->n_out; k++) {
    int col = sc->fcol[k];
    if (col >= 0 && sc->need[k]->type != HDB_TYPE_VECTOR && sc->views[k].chunk != sc->chunk &&
        hdb__tbl_chunk_load(f, col, sc->chunk, &sc->views[k], err) != HDB_OK)
      return -2;
    if (add_field(sc, f, k, r, &m) != 0) return -1;
  }
  sc->view.n = m;
  return 1;
}

hdb_status hdb__tbl_scan_next(hdb__tbl_scan *sc, const hdb_record **rec, size_t *frag_out,
                              uint64_t *row_out, hdb_error *err) {
  *rec = NULL;
  if (sc->sticky != HDB_OK)
    return hdb__fail(err, sc->sticky, "%s: the scan failed earlier", sc->s->sh->dir);
  hdb__tbl_snap *s = sc->s;
  tbl_shared *sh = s->sh;
  hdb_status rc = HDB_OK;
  for (;;) {
    if (!sc->frag_ready) {
      if (sc->frag >= sc->frag_end) return HDB_DONE;
      rc = setup_frag(sc, err);
      if (rc != HDB_OK) goto fail;
    }
    tbl_frag *f = s->frags[sc->frag];
    const uint8_t *del = s->dels[sc->frag];
    if (sc->chunk >= f->n_chunks) {
      sc->frag++;
      sc->frag_ready = 0;
      continue;
    }
    if (!sc->chunk_ready) {
      sc->st.chunks_total++;
      atomic_fetch_add(&sh->chunks_total, 1);
      if (sc->filter && !sc->schemaless) {
        zctx z = {f, sc->chunk, sc->fcol, sc->names, sc->n_need};
        if (zone_skip(&z, sc->filter)) {
          sc->st.chunks_skipped++;
          atomic_fetch_add(&sh->chunks_skipped, 1);
          sc->chunk++;
          continue;
        }
      }
      rc = load_chunk(sc, f, err);
      if (rc != HDB_OK) goto fail;
      sc->chunk_ready = 1;
      sc->row = 0;
    }
    uint32_t rows = f->cols[f->id_col].chunks[sc->chunk].rows;
    while (sc->row < rows) {
      uint32_t r = sc->row++;
      uint64_t grow = (uint64_t)sc->chunk * f->chunk_rows + r;
      if (tbl_bit(del, grow)) continue;
      sc->st.rows_read++;
      const hdb_record *out;
      if (sc->schemaless) {
        hdb_value idv, fv;
        if (hdb__tbl_cview_value(f, f->id_col, &sc->idv, r, &idv) != 1 ||
            hdb__tbl_cview_value(f, f->fields_col, &sc->fieldsv, r, &fv) != 1) {
          rc = hdb__fail(err, HDB_CORRUPT, "%s: chunk %u: bad row %u", f->path ? f->path : f->name,
                         sc->chunk, r);
          goto fail;
        }
        hdb_record_free(sc->owned);
        sc->owned = hdb_record_new(idv.as.text.data);
        if (!sc->owned) {
          rc = hdb__fail(err, HDB_NOMEM, "%s: out of memory", sh->dir);
          goto fail;
        }
        hdb_status d = hdb__tbl_fields_decode(fv.as.blob.data, fv.as.blob.len, sc->owned);
        if (d != HDB_OK) {
          rc = d == HDB_NOMEM ? hdb__fail(err, HDB_NOMEM, "%s: out of memory", sh->dir)
                              : hdb__fail(err, HDB_CORRUPT, "%s: chunk %u: bad encoded row %u",
                                          f->path ? f->path : f->name, sc->chunk, r);
          goto fail;
        }
        if (sc->filter && !hdb__filter_match(sc->filter, sc->owned)) continue;
        if (sc->proj_names) {
          hdb_record *p = hdb__record_project(sc->owned, (const char *const *)sc->proj_names, sc->n_proj);
          if (!p) {
            rc = hdb__fail(err, HDB_NOMEM, "%s: out of memory", sh->dir);
            goto fail;
          }
          hdb_record_free(sc->owned);
          sc->owned = p;
        }
        out = sc->owned;
      } else {
        int got = fill_view(sc, f, r, err);
        if (got == -2) {
          rc = err ? err->code : HDB_CORRUPT;
          goto fail;
        }
        if (got < 0) {
          rc = hdb__fail(err, HDB_CORRUPT, "%s: chunk %u: bad value in row %u",
                         f->path ? f->path : f->name, sc->chunk, r);
          goto fail;
        }
        if (!got) continue;
        out = &sc->view;
      }
      sc->st.rows_matched++;
      *rec = out;
      if (frag_out) *frag_out = sc->frag;
      if (row_out) *row_out = grow;
      return HDB_OK;
    }
    sc->chunk++;
    sc->chunk_ready = 0;
  }
fail:
  sc->sticky = rc;
  return rc;
}

hdb_status hdb__tbl_scan_fragment(hdb__tbl_snap *s, size_t frag, hdb__tbl_scan **out,
                                  hdb_error *err) {
  hdb_status rc = hdb__tbl_scan_open(s, NULL, out, err);
  if (rc == HDB_OK) {
    (*out)->frag = frag;
    (*out)->frag_end = frag + 1 < s->m.n_frags ? frag + 1 : s->m.n_frags;
  }
  return rc;
}

void hdb__tbl_scan_stats_get(const hdb__tbl_scan *sc, hdb__tbl_scan_stats *out) { *out = sc->st; }

/* ------------------------------------------------------------------ */
/* Point reads                                                         */
/* ------------------------------------------------------------------ */

int hdb__tbl_find(hdb__tbl_snap *s, const char *id, size_t *frag, uint64_t *row,
                  hdb_error *err) {
  size_t len = strlen(id);
  uint64_t h = hdb__tbl_hash(id, len);
  for (size_t i = s->m.n_frags; i-- > 0;) {
    int64_t r = hdb__tbl_frag_find(s->frags[i], s->dels[i], id, len, h, err);
    if (r == -2) return -1;
    if (r >= 0) {
      *frag = i;
      *row = (uint64_t)r;
      return 1;
    }
  }
  return 0;
}

hdb_status hdb__tbl_row_record(hdb__tbl_snap *s, size_t i, uint64_t row, hdb_record **out,
                               hdb_error *err) {
  *out = NULL;
  tbl_frag *f = s->frags[i];
  const char *fn = f->path ? f->path : f->name;
  uint32_t c = (uint32_t)(row / f->chunk_rows), r = (uint32_t)(row % f->chunk_rows);
  tbl_cview v;
  hdb__tbl_cview_init(&v);
  hdb_record *rec = NULL;
  hdb_value val;
  hdb_status rc = hdb__tbl_chunk_load(f, f->id_col, c, &v, err);
  if (rc != HDB_OK) goto done;
  if (hdb__tbl_cview_value(f, f->id_col, &v, r, &val) != 1) goto corrupt;
  rec = hdb_record_new(val.as.text.data);
  if (!rec) goto nomem;
  if (!s->m.schema) {
    if (f->fields_col < 0) goto corrupt;
    rc = hdb__tbl_chunk_load(f, f->fields_col, c, &v, err);
    if (rc != HDB_OK) goto done;
    if (hdb__tbl_cview_value(f, f->fields_col, &v, r, &val) != 1) goto corrupt;
    hdb_status d = hdb__tbl_fields_decode(val.as.blob.data, val.as.blob.len, rec);
    if (d == HDB_NOMEM) goto nomem;
    if (d != HDB_OK) goto corrupt;
    goto done;
  }
  for (size_t k = 0; k < s->m.schema->n; k++) {
    const hdb__column *col = &s->m.schema->cols[k];
    int fc = hdb__tbl_frag_col(f, s->m.field_ids[k], col->type,
                               col->type == HDB_TYPE_VECTOR ? col->dim : 0);
    if (fc < 0) continue;
    if (col->type == HDB_TYPE_VECTOR) {
      const float *d;
      const uint8_t *nl;
      rc = hdb__tbl_frag_vectors(f, fc, &d, &nl, err);
      if (rc != HDB_OK) goto done;
      if (tbl_bit(nl, row)) continue;
      val.type = HDB_TYPE_VECTOR;
      val.as.vector.dim = col->dim;
      val.as.vector.data = d + row * col->dim;
    } else {
      rc = hdb__tbl_chunk_load(f, fc, c, &v, err);
      if (rc != HDB_OK) goto done;
      int got = hdb__tbl_cview_value(f, fc, &v, r, &val);
      if (got < 0) goto corrupt;
      if (!got) continue;
    }
    hdb_value own;
    if (hdb__value_copy(&own, &val) != HDB_OK) goto nomem;
    if (hdb__record_put_owned(rec, col->name, &own) != HDB_OK) goto nomem;
  }
  goto done;
corrupt:
  rc = hdb__fail(err, HDB_CORRUPT, "%s: chunk %u: bad row %u", fn, c, r);
  goto done;
nomem:
  rc = hdb__fail(err, HDB_NOMEM, "%s: out of memory reading a row", fn);
done:
  hdb__tbl_cview_free(&v);
  if (rc != HDB_OK) {
    hdb_record_free(rec);
    return rc;
  }
  *out = rec;
  return HDB_OK;
}

hdb_status hdb__tbl_get(hdb__tbl_snap *s, const char *id, hdb_record **out, hdb_error *err) {
  *out = NULL;
  size_t fi;
  uint64_t row;
  int r = hdb__tbl_find(s, id, &fi, &row, err);
  if (r < 0) return err ? err->code : HDB_CORRUPT;
  if (r == 0)
    return hdb__fail(err, HDB_NOT_FOUND, "table '%s': no row with id '%.64s'",
                     hdb__tbl_display_name(s->sh->dir), id);
  return hdb__tbl_row_record(s, fi, row, out, err);
}

hdb_status hdb__tbl_vector_block(hdb__tbl_snap *s, size_t frag, const char *column,
                                 const float **data, uint64_t *rows, uint32_t *dim,
                                 const uint8_t **deleted, const uint8_t **nulls, hdb_error *err) {
  *data = NULL;
  if (frag >= s->m.n_frags)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "%s: fragment %zu of %zu", s->sh->dir, frag,
                     s->m.n_frags);
  const hdb__column *c = s->m.schema ? hdb__schema_column(s->m.schema, column) : NULL;
  if (!c || c->type != HDB_TYPE_VECTOR)
    return hdb__fail(err, HDB_NO_FIELD, "%s: no vector column '%s'", s->sh->dir, column);
  tbl_frag *f = s->frags[frag];
  *rows = f->n_rows;
  *dim = c->dim;
  if (deleted) *deleted = s->dels[frag];
  if (nulls) *nulls = NULL;
  int fc = hdb__tbl_frag_col(f, s->m.field_ids[c - s->m.schema->cols], HDB_TYPE_VECTOR, c->dim);
  if (fc < 0) return HDB_OK;
  const uint8_t *nl;
  hdb_status rc = hdb__tbl_frag_vectors(f, fc, data, &nl, err);
  if (rc == HDB_OK && nulls) *nulls = nl;
  return rc;
}

hdb_status hdb__tbl_debug_layout(hdb__tbl_snap *s, size_t frag, const char *column,
                                 uint32_t chunk, char frag_file[32], char del_file[32],
                                 uint64_t *offset, uint64_t *length, hdb_error *err) {
  if (frag >= s->m.n_frags)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "fragment %zu of %zu", frag, s->m.n_frags);
  tbl_frag *f = s->frags[frag];
  memcpy(frag_file, f->name, 32);
  del_file[0] = 0;
  if (s->m.frags[frag].did) hdb__tbl_del_name(s->m.frags[frag].did, del_file);
  for (uint32_t k = 0; k < f->n_cols; k++) {
    const tbl_fcol *c = &f->cols[k];
    if (strcmp(c->name, column) != 0) continue;
    if (c->type == HDB_TYPE_VECTOR) {
      *offset = c->voff;
      *length = c->vlen;
      return HDB_OK;
    }
    if (chunk >= f->n_chunks) break;
    *offset = c->chunks[chunk].off;
    *length = c->chunks[chunk].stored_len;
    return HDB_OK;
  }
  return hdb__fail(err, HDB_NOT_FOUND, "%s: no column '%s' chunk %u", f->name, column, chunk);
}

/*
 * tbl_manifest.c - one manifest per version: the complete description of
 * the table at that version (schema, fragments with their row counts and
 * deletion files, tags). Manifests are small and written whole; a version
 * exists exactly when its manifest file exists under its final name.
 *
 * Body (after the 64-byte header, f[0] = version, f[1] = timestamp):
 *   u8 op, u64 source, u64 next_field_id, u8 has_schema,
 *   [u32 n_cols, per column: str name, u8 type, u32 dim, u8 metric, u64 field_id],
 *   u32 n_frags, per fragment: u64 fid, rows, file_size, dir_xxh3, did,
 *                              n_deleted, del_size,
 *   u32 n_tags, per tag: str name, u64 version
 */
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/record.h"
#include "core/schema.h"
#include "tbl_int.h"

void hdb__tbl_manifest_free(tbl_manifest *m) {
  if (!m) return;
  hdb_schema_free(m->schema);
  hdb__free_mem(m->field_ids);
  hdb__free_mem(m->frags);
  for (size_t i = 0; i < m->n_tags; i++) hdb__free_mem(m->tags[i].name);
  hdb__free_mem(m->tags);
  memset(m, 0, sizeof *m);
}

hdb_status hdb__tbl_manifest_encode(const tbl_manifest *m, tbl_buf *out, hdb_error *err) {
  tbl_buf b = {0};
  hdb__tbl_put_u8(&b, m->op);
  hdb__tbl_put_u64(&b, m->source);
  hdb__tbl_put_u64(&b, m->next_field_id);
  hdb__tbl_put_u8(&b, m->schema ? 1 : 0);
  if (m->schema) {
    hdb__tbl_put_u32(&b, (uint32_t)m->schema->n);
    for (size_t i = 0; i < m->schema->n; i++) {
      const hdb__column *c = &m->schema->cols[i];
      hdb__tbl_put_str(&b, c->name, strlen(c->name));
      hdb__tbl_put_u8(&b, (uint8_t)c->type);
      hdb__tbl_put_u32(&b, c->dim);
      hdb__tbl_put_u8(&b, (uint8_t)c->metric);
      hdb__tbl_put_u64(&b, m->field_ids[i]);
    }
  }
  hdb__tbl_put_u32(&b, (uint32_t)m->n_frags);
  for (size_t i = 0; i < m->n_frags; i++) {
    const tbl_fref *f = &m->frags[i];
    uint64_t v[7] = {f->fid, f->rows, f->file_size, f->dir_xxh3, f->did, f->n_deleted, f->del_size};
    for (int k = 0; k < 7; k++) hdb__tbl_put_u64(&b, v[k]);
  }
  hdb__tbl_put_u32(&b, (uint32_t)m->n_tags);
  for (size_t i = 0; i < m->n_tags; i++) {
    hdb__tbl_put_str(&b, m->tags[i].name, strlen(m->tags[i].name));
    hdb__tbl_put_u64(&b, m->tags[i].version);
  }
  if (b.oom) {
    hdb__tbl_buf_free(&b);
    return hdb__fail(err, HDB_NOMEM, "out of memory encoding manifest %llu",
                     (unsigned long long)m->version);
  }
  tbl_header h = {TBL_MAGIC_MANIFEST, TBL_FORMAT, 0,
                  {m->version, (uint64_t)m->timestamp, 0, 0}, b.n, hdb__tbl_hash(b.p, b.n)};
  uint8_t hb[TBL_HEADER];
  hdb__tbl_header_encode(&h, hb);
  hdb__tbl_put(out, hb, sizeof hb);
  hdb__tbl_put(out, b.p, b.n);
  hdb__tbl_buf_free(&b);
  if (out->oom) return hdb__fail(err, HDB_NOMEM, "out of memory encoding a manifest");
  return HDB_OK;
}

hdb_status hdb__tbl_manifest_decode(const uint8_t *buf, size_t len, const char *name,
                                    tbl_manifest *m, hdb_error *err) {
  memset(m, 0, sizeof *m);
  tbl_header h;
  hdb_status rc = hdb__tbl_header_decode(buf, len, TBL_MAGIC_MANIFEST, name, &h, err);
  if (rc != HDB_OK) return rc;
  if (h.body_len != len - TBL_HEADER)
    return hdb__fail(err, HDB_CORRUPT, "%s: body is %zu bytes, header says %llu", name,
                     len - TBL_HEADER, (unsigned long long)h.body_len);
  if (!hdb__tbl_sum_ok(hdb__tbl_hash(buf + TBL_HEADER, len - TBL_HEADER), h.body_xxh3))
    return hdb__fail(err, HDB_CORRUPT, "%s: checksum mismatch", name);
  if (h.f[0] == 0) return hdb__fail(err, HDB_CORRUPT, "%s: version 0", name);
  m->version = h.f[0];
  m->timestamp = (int64_t)h.f[1];
  tbl_rd r = {buf + TBL_HEADER, len - TBL_HEADER, 0, 0};
  const char *why = NULL;
  m->op = hdb__tbl_get_u8(&r);
  m->source = hdb__tbl_get_u64(&r);
  m->next_field_id = hdb__tbl_get_u64(&r);
  uint8_t has = hdb__tbl_get_u8(&r);
  if (has > 1) why = "bad schema flag";
  if (has == 1 && !why) {
    m->schema = hdb_schema_new();
    if (!m->schema) goto nomem;
    uint32_t n = hdb__tbl_get_u32(&r);
    if (n > (r.n - r.pos) / 17) why = "column count does not fit";
    else if (!(m->field_ids = hdb__calloc(n ? n : 1, sizeof *m->field_ids))) goto nomem;
    for (uint32_t i = 0; i < n && !r.bad && !why; i++) {
      const char *cn = hdb__tbl_get_str(&r, NULL);
      unsigned t = hdb__tbl_get_u8(&r);
      uint32_t dim = hdb__tbl_get_u32(&r);
      unsigned metric = hdb__tbl_get_u8(&r);
      m->field_ids[i] = hdb__tbl_get_u64(&r);
      if (r.bad) break;
      if (m->field_ids[i] == 0 || m->field_ids[i] >= m->next_field_id) {
        why = "bad field id";
        break;
      }
      for (uint32_t k = 0; k < i; k++)
        if (m->field_ids[k] == m->field_ids[i]) why = "field id used twice";
      if (why) break;
      hdb_status st;
      if (t == HDB_TYPE_VECTOR) {
        if (metric < HDB_METRIC_L2 || metric > HDB_METRIC_DOT) {
          why = "bad schema metric";
          break;
        }
        st = hdb_schema_add_vector(m->schema, cn, dim, (hdb_metric)metric);
      } else {
        st = (t >= HDB_TYPE_BOOL && t < HDB_TYPE_VECTOR && dim == 0 && metric == 0)
                 ? hdb_schema_add(m->schema, cn, (hdb_type)t)
                 : HDB_INVALID_ARGUMENT;
      }
      if (st == HDB_NOMEM) goto nomem;
      if (st != HDB_OK) why = "bad schema column";
    }
  }
  if (!why && !r.bad) {
    uint32_t n = hdb__tbl_get_u32(&r);
    if (n > (r.n - r.pos) / 56) {
      why = "fragment count does not fit";
    } else if (n) {
      m->frags = hdb__calloc(n, sizeof *m->frags);
      if (!m->frags) goto nomem;
      m->n_frags = n;
      for (uint32_t i = 0; i < n; i++) {
        tbl_fref *f = &m->frags[i];
        f->fid = hdb__tbl_get_u64(&r);
        f->rows = hdb__tbl_get_u64(&r);
        f->file_size = hdb__tbl_get_u64(&r);
        f->dir_xxh3 = hdb__tbl_get_u64(&r);
        f->did = hdb__tbl_get_u64(&r);
        f->n_deleted = hdb__tbl_get_u64(&r);
        f->del_size = hdb__tbl_get_u64(&r);
        if (!f->fid || f->rows > UINT32_MAX || f->n_deleted > f->rows ||
            (!f->did && (f->n_deleted || f->del_size))) {
          why = "bad fragment entry";
          break;
        }
        for (uint32_t k = 0; k < i; k++)
          if (m->frags[k].fid == f->fid) why = "fragment listed twice";
        if (why) break;
      }
    }
  }
  if (!why && !r.bad) {
    uint32_t n = hdb__tbl_get_u32(&r);
    if (n > (r.n - r.pos) / 11) {
      why = "tag count does not fit";
    } else if (n) {
      m->tags = hdb__calloc(n, sizeof *m->tags);
      if (!m->tags) goto nomem;
      for (uint32_t i = 0; i < n && !r.bad; i++) {
        const char *tn = hdb__tbl_get_str(&r, NULL);
        uint64_t v = hdb__tbl_get_u64(&r);
        if (r.bad) break;
        if (!hdb__name_valid(tn, 0) || v == 0 || v > m->version) {
          why = "bad tag";
          break;
        }
        m->tags[i].name = hdb__strdup(tn);
        if (!m->tags[i].name) goto nomem;
        m->tags[i].version = v;
        m->n_tags = i + 1;
      }
    }
  }
  if (!why && r.bad) why = "truncated body";
  if (!why && r.pos != r.n) why = "trailing bytes";
  if (why) {
    hdb__tbl_manifest_free(m);
    return hdb__fail(err, HDB_CORRUPT, "%s: %s", name, why);
  }
  return HDB_OK;
nomem:
  hdb__tbl_manifest_free(m);
  return hdb__fail(err, HDB_NOMEM, "%s: out of memory", name);
}

hdb_status hdb__tbl_manifest_copy(tbl_manifest *dst, const tbl_manifest *src) {
  memset(dst, 0, sizeof *dst);
  dst->version = src->version;
  dst->timestamp = src->timestamp;
  dst->op = src->op;
  dst->source = src->source;
  dst->next_field_id = src->next_field_id;
  if (src->schema) {
    if (!(dst->schema = hdb_schema_clone(src->schema))) goto nomem;
    size_t n = src->schema->n ? src->schema->n : 1;
    if (!(dst->field_ids = hdb__calloc(n, sizeof *dst->field_ids))) goto nomem;
    if (src->schema->n) memcpy(dst->field_ids, src->field_ids, src->schema->n * sizeof *dst->field_ids);
  }
  if (src->n_frags) {
    dst->frags = hdb__memdup(src->frags, src->n_frags * sizeof *src->frags);
    if (!dst->frags) goto nomem;
    dst->n_frags = src->n_frags;
  }
  if (src->n_tags) {
    dst->tags = hdb__calloc(src->n_tags, sizeof *dst->tags);
    if (!dst->tags) goto nomem;
    for (size_t i = 0; i < src->n_tags; i++) {
      dst->tags[i].name = hdb__strdup(src->tags[i].name);
      if (!dst->tags[i].name) goto nomem;
      dst->tags[i].version = src->tags[i].version;
      dst->n_tags = i + 1;
    }
  }
  return HDB_OK;
nomem:
  hdb__tbl_manifest_free(dst);
  return HDB_NOMEM;
}

hdb_status hdb__tbl_manifest_validate(const void *buf, size_t len, const char *name,
                                      hdb_error *err) {
  tbl_manifest m;
  hdb_status rc = hdb__tbl_manifest_decode(buf, len, name, &m, err);
  if (rc == HDB_OK) hdb__tbl_manifest_free(&m);
  return rc;
}

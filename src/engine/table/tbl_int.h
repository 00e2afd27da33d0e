/*
 * tbl_int.h - internals shared by the files of engine/table.
 *
 *   tbl_io.c        byte encoding, file headers, whole-file I/O, fsync, names
 *   tbl_bitmap.c    deletion bitmaps (roaring-style containers on disk)
 *   tbl_frag_write.c fragment files from records
 *   tbl_frag_read.c fragment files: mmap, directory, chunks, id index
 *   tbl_manifest.c  manifest encode/decode
 *   tbl_table.c     the per-process shared state, open, pins, versions
 *   tbl_write.c     commits: write, update, delete, alter, tag, restore
 *   tbl_scan.c      zone maps, scans, get by id
 *   tbl_maint.c     compaction, retention (cleanup), check
 *
 * Every multi-byte integer on disk is little-endian. README.md is the
 * format.
 */
#ifndef HDB_ENGINE_TABLE_INT_H
#define HDB_ENGINE_TABLE_INT_H

#include <pthread.h>
#include <string.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "table.h"

/* ------------------------------------------------------------------ */
/* Formats                                                             */
/* ------------------------------------------------------------------ */

#define TBL_MAGIC_MANIFEST 0x4D544248u /* "HBTM" */
#define TBL_MAGIC_FRAGMENT 0x46544248u /* "HBTF" */
#define TBL_MAGIC_DELETION 0x44544248u /* "HBTD" */
#define TBL_FORMAT 1u
#define TBL_HEADER 64u
#define TBL_VEC_ALIGN 64u
/* A compressed chunk may expand at most this much (the writer stores raw
 * otherwise), which bounds what a decoder allocates for a corrupt file. */
#define TBL_MAX_RATIO 4096u
/* The writer halves a fragment's chunk_rows until no chunk of a
 * variable-width column exceeds this many bytes (a single value may). */
#define TBL_CHUNK_BYTES (64u << 20)

/* Decoded (decompressed) chunks are kept with their fragment so repeated
 * scans do not decompress again, up to this many bytes per process. */
#define TBL_CACHE_BYTES ((size_t)512 << 20)

/* Column flags in a fragment directory. */
#define TBL_COL_ID 1u     /* the id column "_id": text, never null, stored raw */
#define TBL_COL_FIELDS 2u /* schemaless tables: "_fields", each row's fields encoded */

/* Manifest operations (informational: what the commit did). */
enum { TBL_OP_CREATE = 1, TBL_OP_APPEND, TBL_OP_UPSERT, TBL_OP_UPDATE, TBL_OP_DELETE,
       TBL_OP_ALTER, TBL_OP_TAG, TBL_OP_RESTORE, TBL_OP_COMPACT };

/* The common 64-byte header of every file. */
typedef struct tbl_header {
  uint32_t magic;
  uint16_t format, flags;
  uint64_t f[4];      /* per kind: see README.md */
  uint64_t body_len;  /* manifest/deletion: bytes after the header; fragment: directory */
  uint64_t body_xxh3; /* XXH3-64 of that body */
} tbl_header;

void hdb__tbl_header_encode(const tbl_header *h, uint8_t out[TBL_HEADER]);
/* Checks the header checksum, magic and format. HDB_CORRUPT naming `name`. */
hdb_status hdb__tbl_header_decode(const uint8_t *buf, size_t len, uint32_t magic,
                                  const char *name, tbl_header *h, hdb_error *err);
uint64_t hdb__tbl_hash(const void *p, size_t n);
/* computed == stored, or 1 when checksums are switched off (fuzzing only,
 * see hdb__tbl_fuzz_skip_checksums in table.h). */
int hdb__tbl_sum_ok(uint64_t computed, uint64_t stored);

/* ------------------------------------------------------------------ */
/* Byte buffers                                                        */
/* ------------------------------------------------------------------ */

typedef struct tbl_buf {
  uint8_t *p;
  size_t n, cap;
  int oom; /* sticky: an append failed */
} tbl_buf;

void hdb__tbl_buf_free(tbl_buf *b);
int hdb__tbl_buf_reserve(tbl_buf *b, size_t extra); /* 0 ok, -1 oom (sticky) */
void hdb__tbl_put(tbl_buf *b, const void *p, size_t n);
void hdb__tbl_put_u8(tbl_buf *b, uint8_t v);
void hdb__tbl_put_u16(tbl_buf *b, uint16_t v);
void hdb__tbl_put_u32(tbl_buf *b, uint32_t v);
void hdb__tbl_put_u64(tbl_buf *b, uint64_t v);
/* u16 length, bytes, NUL (so a decoded string can be borrowed as a C string). */
void hdb__tbl_put_str(tbl_buf *b, const char *s, size_t n);
void hdb__tbl_put_zeros(tbl_buf *b, size_t n);

typedef struct tbl_rd {
  const uint8_t *p;
  size_t n, pos;
  int bad; /* sticky: a read ran past the end or a string lacked its NUL */
} tbl_rd;

uint8_t hdb__tbl_get_u8(tbl_rd *r);
uint16_t hdb__tbl_get_u16(tbl_rd *r);
uint32_t hdb__tbl_get_u32(tbl_rd *r);
uint64_t hdb__tbl_get_u64(tbl_rd *r);
/* Borrowed NUL-terminated string inside r's buffer; NULL (bad set) on error. */
const char *hdb__tbl_get_str(tbl_rd *r, size_t *len);
const uint8_t *hdb__tbl_get_bytes(tbl_rd *r, size_t n);

/* The engine writes host-order floats and integers and so needs a
 * little-endian host (x86-64, AArch64); these compile to one move. */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "engine/table needs a little-endian host"
#endif
static inline uint64_t tbl_ld64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}
static inline void tbl_st64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* ------------------------------------------------------------------ */
/* Files                                                               */
/* ------------------------------------------------------------------ */

/* dir + "/" + name; owned; NULL when out of memory. */
char *hdb__tbl_path(const char *dir, const char *name);
/* Reads a whole file (owned *buf, hdb__free_mem). HDB_NOT_FOUND when absent. */
hdb_status hdb__tbl_read_file(const char *path, uint8_t **buf, size_t *len, hdb_error *err);
/* Writes data to dir/name atomically: dir/name.PID.RAND.tmp, fsync (unless
 * sync OFF), rename, fsync dir (FULL). */
hdb_status hdb__tbl_write_atomic(const char *dir, const char *name, const void *data, size_t len,
                                 hdb__tbl_sync sync, hdb_error *err);
hdb_status hdb__tbl_fsync_dir(const char *dir, hdb_error *err);
/* A new random non-zero 64-bit file id. */
uint64_t hdb__tbl_new_id(void);
void hdb__tbl_frag_name(uint64_t fid, char out[32]);
void hdb__tbl_del_name(uint64_t did, char out[32]);
void hdb__tbl_manifest_name(uint64_t version, char out[40]);
/* Parses "v%020llu.manifest"; 1 and *version on a match. */
int hdb__tbl_parse_manifest_name(const char *name, uint64_t *version);
int64_t hdb__tbl_now_us(void);

/* Buffered sequential writer of a new file (O_EXCL). */
typedef struct tbl_writer {
  int fd;
  const char *path;
  uint64_t pos; /* bytes written so far (logical) */
  tbl_buf buf;
} tbl_writer;
hdb_status hdb__tbl_writer_open(tbl_writer *w, const char *path, hdb_error *err);
hdb_status hdb__tbl_writer_put(tbl_writer *w, const void *p, size_t n, hdb_error *err);
hdb_status hdb__tbl_writer_align(tbl_writer *w, size_t a, hdb_error *err);
hdb_status hdb__tbl_writer_pwrite(tbl_writer *w, const void *p, size_t n, uint64_t off,
                                  hdb_error *err);
/* Flushes, fsyncs unless sync is OFF, closes. On failure the file is left
 * for the caller to unlink. */
hdb_status hdb__tbl_writer_finish(tbl_writer *w, hdb__tbl_sync sync, hdb_error *err);
void hdb__tbl_writer_abort(tbl_writer *w); /* closes without flushing */

/* ------------------------------------------------------------------ */
/* Deletion bitmaps                                                    */
/* ------------------------------------------------------------------ */

/* bits: a bitset of n_rows bits. Encodes header + roaring-style body. */
hdb_status hdb__tbl_del_encode(const uint8_t *bits, uint64_t n_rows, uint64_t fid, tbl_buf *out,
                               uint64_t *n_deleted, hdb_error *err);
/* Decodes into an owned bitset of n_rows bits (*bits, hdb__free_mem);
 * checks that it belongs to a fragment of n_rows rows and holds n_deleted. */
hdb_status hdb__tbl_del_decode(const uint8_t *buf, size_t len, uint64_t n_rows, const char *name,
                               uint8_t **bits, uint64_t *n_deleted, hdb_error *err);

static inline int tbl_bit(const uint8_t *bits, uint64_t i) {
  return bits && ((bits[i >> 3] >> (i & 7)) & 1);
}
static inline void tbl_setbit(uint8_t *bits, uint64_t i) { bits[i >> 3] |= (uint8_t)(1u << (i & 7)); }

/* ------------------------------------------------------------------ */
/* Fragments                                                           */
/* ------------------------------------------------------------------ */

typedef struct tbl_chunk {
  uint64_t off, stored_len, raw_len, xxh3;
  uint32_t rows, null_count;
  uint8_t codec, has_zone;
  hdb_value zmin, zmax; /* text borrowed from the directory (NUL-terminated) */
  atomic_int verified;  /* checksum seen good */
  _Atomic(uint8_t *) cache; /* decoded payload shared by every reader (see
                               TBL_CACHE_BYTES), owned by the fragment */
} tbl_chunk;

typedef struct tbl_fcol {
  const char *name; /* borrowed from the directory */
  uint64_t field_id; /* the manifest's id of the column (0: _id, _fields) */
  hdb_type type;
  uint32_t dim;
  uint8_t flags;
  /* vectors */
  uint64_t voff, vlen, vxxh3, noff, nlen, nxxh3, null_count;
  atomic_int vverified;
  /* other types: n_chunks of the fragment */
  tbl_chunk *chunks;
} tbl_fcol;

typedef struct tbl_frag {
  atomic_size_t refs;
  uint64_t fid;
  char name[32];
  char *path; /* owned; for messages */
  const uint8_t *map;
  size_t len;
  int mapped; /* map is an mmap (else borrowed) */
  uint64_t n_rows, dir_xxh3;
  uint32_t chunk_rows, n_chunks, n_cols;
  tbl_fcol *cols;
  int id_col, fields_col;
  uint64_t idx_off, idx_len, idx_xxh3, bloom_bytes;
  const uint8_t *idx_hash; /* n_rows u64, sorted */
  const uint8_t *idx_rows; /* n_rows u32 */
  const uint8_t *bloom;
  atomic_int idx_verified;
} tbl_frag;

/* Parses the header and directory of a fragment image (bounds-checked;
 * the directory checksum verified). The image is borrowed (mapped = 0).
 * *out owned (hdb__tbl_frag_release). */
hdb_status hdb__tbl_frag_parse(const uint8_t *map, size_t len, const char *name,
                               tbl_frag **out, hdb_error *err);
/* Opens (mmaps) dir/name; HDB_NOT_FOUND when absent. */
hdb_status hdb__tbl_frag_open(const char *dir, uint64_t fid, tbl_frag **out, hdb_error *err);
void hdb__tbl_frag_retain(tbl_frag *f);
void hdb__tbl_frag_release(tbl_frag *f);
/* Column index of a schema column (by field id, type and dimension), or -1. */
int hdb__tbl_frag_col(const tbl_frag *f, uint64_t field_id, hdb_type type, uint32_t dim);

/* A decoded chunk of one column. */
typedef struct tbl_cview {
  uint32_t chunk; /* UINT32_MAX: none loaded */
  uint32_t rows;
  int all_null;
  const uint8_t *nulls; /* NULL: none null */
  const uint8_t *vals;  /* fixed-width values, or u64 offsets[rows+1] */
  const uint8_t *bytes; /* variable-width payload */
  uint64_t bytes_len;
  uint8_t *buf; /* owned decompression buffer */
  size_t buf_cap;
} tbl_cview;

void hdb__tbl_cview_init(tbl_cview *v);
void hdb__tbl_cview_free(tbl_cview *v);
/* Loads chunk c of column col into v (verifying its checksum the first
 * time). HDB_CORRUPT naming the file, column and chunk. */
hdb_status hdb__tbl_chunk_load(tbl_frag *f, int col, uint32_t c, tbl_cview *v, hdb_error *err);
/* Value of row i of a loaded chunk: 1 present (*out borrows from v or the
 * map), 0 null, -1 corrupt. */
int hdb__tbl_cview_value(const tbl_frag *f, int col, const tbl_cview *v, uint32_t i,
                         hdb_value *out);
/* The vector block of column col, checksum verified on first use. */
hdb_status hdb__tbl_frag_vectors(tbl_frag *f, int col, const float **data, const uint8_t **nulls,
                                 hdb_error *err);
/* Verifies the id index on first use. */
hdb_status hdb__tbl_frag_index_verify(tbl_frag *f, hdb_error *err);
/* Row of id (skipping rows set in deleted), or -1 when absent; -2 with err
 * filled on corruption. */
int64_t hdb__tbl_frag_find(tbl_frag *f, const uint8_t *deleted, const char *id, size_t idlen,
                           uint64_t hash, hdb_error *err);
/* Full verification of every section (check() and the fuzz target). */
hdb_status hdb__tbl_frag_verify_all(tbl_frag *f, uint64_t *chunks, hdb_error *err);

/* Encoded fields of a schemaless row: owned record with those fields. */
hdb_status hdb__tbl_fields_encode(const hdb_record *r, tbl_buf *out);
hdb_status hdb__tbl_fields_decode(const uint8_t *p, size_t n, hdb_record *into);

typedef struct tbl_frag_out {
  uint64_t fid, rows, file_size, dir_xxh3;
} tbl_frag_out;

/* Writes a fragment file dir/f-FID.frag from rows[0..n) (conformed
 * records with ids), columns of schema (NULL: schemaless) with their
 * field ids. */
hdb_status hdb__tbl_frag_write(const char *dir, const hdb_schema *schema, const uint64_t *field_ids,
                               hdb_record *const *rows, size_t n, uint32_t chunk_rows,
                               hdb__tbl_codec codec, hdb__tbl_sync sync, tbl_frag_out *out,
                               hdb_error *err);

/* ------------------------------------------------------------------ */
/* Manifests                                                           */
/* ------------------------------------------------------------------ */

typedef struct tbl_fref {
  uint64_t fid, rows, file_size, dir_xxh3;
  uint64_t did, n_deleted, del_size; /* did 0: no deletion file */
} tbl_fref;

typedef struct tbl_tag {
  char *name; /* owned */
  uint64_t version;
} tbl_tag;

typedef struct tbl_manifest {
  uint64_t version;
  int64_t timestamp;
  uint8_t op;
  uint64_t source; /* restore: the version restored */
  hdb_schema *schema; /* owned; NULL: schemaless */
  uint64_t *field_ids; /* owned; one per schema column: data is matched by it,
                          so a dropped column re-added never sees old data */
  uint64_t next_field_id;
  tbl_fref *frags;    /* owned */
  size_t n_frags;
  tbl_tag *tags; /* owned */
  size_t n_tags;
} tbl_manifest;

void hdb__tbl_manifest_free(tbl_manifest *m);
hdb_status hdb__tbl_manifest_encode(const tbl_manifest *m, tbl_buf *out, hdb_error *err);
hdb_status hdb__tbl_manifest_decode(const uint8_t *buf, size_t len, const char *name,
                                    tbl_manifest *m, hdb_error *err);
/* Deep copy of tags/frags/schema (src's version and timestamp too). */
hdb_status hdb__tbl_manifest_copy(tbl_manifest *dst, const tbl_manifest *src);

/* ------------------------------------------------------------------ */
/* Shared state, snapshots                                             */
/* ------------------------------------------------------------------ */

typedef struct tbl_pin {
  uint64_t version;
  size_t count;
} tbl_pin;

/* One per table directory per process (keyed by device, inode and pid),
 * shared by every hdb__tbl on it. */
typedef struct tbl_shared {
  size_t refs; /* guarded by the registry mutex */
  dev_t dev;
  ino_t ino;
  pid_t pid;
  char *dir;
  pthread_mutex_t mu; /* guards latest, pins */
  hdb__tbl_snap *latest;
  tbl_pin *pins;
  size_t n_pins, cap_pins;
  atomic_uint_fast64_t chunks_total, chunks_skipped, rows_read, rows_matched;
  struct tbl_shared *next;
} tbl_shared;

struct hdb__tbl {
  tbl_shared *sh;
  char *dir; /* owned */
  hdb__tbl_options opt;
};

/* The table's name as users know it (the directory's last component), for
 * messages about records and filters; I/O messages name the full path. */
static inline const char *hdb__tbl_display_name(const char *dir) {
  const char *slash = strrchr(dir, '/');
  return slash && slash[1] ? slash + 1 : dir;
}

struct hdb__tbl_snap {
  atomic_size_t refs;
  tbl_shared *sh;  /* a counted reference */
  tbl_manifest m;
  tbl_frag **frags;  /* m.n_frags, counted references */
  uint8_t **dels;    /* m.n_frags bitsets (NULL: nothing deleted); owned */
  uint64_t live_rows;
};

void hdb__tbl_snap_retain(hdb__tbl_snap *s);
/* Loads the snapshot of a manifest already decoded (takes ownership of *m
 * on success and failure), opening fragments and deletion files (reusing
 * those of `reuse` when given). */
hdb_status hdb__tbl_snap_load(tbl_shared *sh, tbl_manifest *m, const hdb__tbl_snap *reuse,
                              hdb__tbl_snap **out, hdb_error *err);
/* The newest snapshot (refreshing from disk); counted reference. */
hdb_status hdb__tbl_latest(hdb__tbl *t, hdb__tbl_snap **out, hdb_error *err);
/* Replaces the cached newest snapshot (takes a reference). */
void hdb__tbl_set_latest(tbl_shared *sh, hdb__tbl_snap *s);
/* Versions on disk, ascending; owned array. */
hdb_status hdb__tbl_list_versions(const char *dir, uint64_t **out, size_t *n, hdb_error *err);
/* Reads and decodes version v's manifest. */
hdb_status hdb__tbl_manifest_read(const char *dir, uint64_t v, tbl_manifest *m, hdb_error *err);
/* Commit timestamp of version v from its manifest header (HDB_NOT_FOUND
 * without a message when it is gone). */
hdb_status hdb__tbl_version_time(const char *dir, uint64_t v, int64_t *ts, hdb_error *err);
/* A scan of every live row of fragment `frag` only, every column. */
hdb_status hdb__tbl_scan_fragment(hdb__tbl_snap *s, size_t frag, hdb__tbl_scan **out,
                                  hdb_error *err);
/* 1 when version v is pinned by a snapshot of this process. */
int hdb__tbl_pinned(tbl_shared *sh, uint64_t v);

/* Writer lock: flock on DIR/_writer.lock, waiting up to the timeout. */
hdb_status hdb__tbl_lock(hdb__tbl *t, int *fd, hdb_error *err);
void hdb__tbl_unlock(int fd);

/* Commits m (its version must be latest + 1; the caller holds the lock):
 * writes the manifest atomically and installs the new snapshot. m is
 * consumed. The new snapshot reuses `base`'s files. */
hdb_status hdb__tbl_commit(hdb__tbl *t, tbl_manifest *m, const hdb__tbl_snap *base,
                           hdb_error *err);

/* Row materialization: an owned record of row `row` of fragment i. */
hdb_status hdb__tbl_row_record(hdb__tbl_snap *s, size_t i, uint64_t row, hdb_record **out,
                               hdb_error *err);
/* Finds id in the snapshot: 1 with *frag and *row, 0 absent, <0 error (err). */
int hdb__tbl_find(hdb__tbl_snap *s, const char *id, size_t *frag, uint64_t *row,
                  hdb_error *err);

#endif

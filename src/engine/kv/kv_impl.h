/*
 * kv_impl.h - what the files of the LSM store share: byte coding, internal
 * keys, file helpers, the internal iterator interface, and the memtable,
 * WAL, table, version and compaction interfaces.
 *
 * Internal keys: user key followed by an 8-byte little-endian tag
 * (sequence << 8 | type). They order by user key ascending (memcmp, shorter
 * first), then tag descending, so the newest version of a key comes first
 * and a lookup for (key, snapshot) lands on the newest version visible to
 * the snapshot. Sequence numbers are 56 bits.
 *
 * Ownership: iterators borrow their key and value until the next move.
 * Tables and files are reference counted through versions (kv_version.c).
 */
#ifndef HDB_ENGINE_KV_IMPL_H
#define HDB_ENGINE_KV_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/kv/kv.h"
#include "hanzodb.h"

/* ------------------------------------------------------------------ */
/* Coding (kv_util.c)                                                  */
/* ------------------------------------------------------------------ */

static inline void hdb__lsm_put32(char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (char)(v >> (8 * i));
}
static inline void hdb__lsm_put64(char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (char)(v >> (8 * i));
}
static inline uint32_t hdb__lsm_get32(const char *p) {
  uint32_t v;
  memcpy(&v, p, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap32(v);
#endif
  return v;
}
static inline uint64_t hdb__lsm_get64(const char *p) {
  uint64_t v;
  memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}
/* Writes a LEB128 varint at p (up to 10 bytes); returns the byte count. */
static inline size_t hdb__lsm_putv(char *p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = (char)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (char)v;
  return n;
}
/* Reads a varint from [*p, end); advances *p. Returns 0 on truncation or
 * overlong input (the caller reports corruption). */
static inline int hdb__lsm_getv(const char **p, const char *end, uint64_t *v) {
  if (*p < end && !(**p & 0x80)) { /* one byte: the common case in blocks */
    *v = (unsigned char)*(*p)++;
    return 1;
  }
  uint64_t r = 0;
  for (int shift = 0; shift <= 63 && *p < end; shift += 7) {
    uint64_t b = (unsigned char)*(*p)++;
    r |= (b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = r;
      return 1;
    }
  }
  return 0;
}

/* A growable byte buffer (owned). */
typedef struct hdb__lsm_buf {
  char *p;
  size_t len, cap;
} hdb__lsm_buf;
hdb_status hdb__lsm_buf_reserve(hdb__lsm_buf *b, size_t extra, hdb_error *err);
hdb_status hdb__lsm_buf_append(hdb__lsm_buf *b, const void *p, size_t n, hdb_error *err);
hdb_status hdb__lsm_buf_putv(hdb__lsm_buf *b, uint64_t v, hdb_error *err);
hdb_status hdb__lsm_buf_set(hdb__lsm_buf *b, const void *p, size_t n, hdb_error *err);
void hdb__lsm_buf_free(hdb__lsm_buf *b);

/* Checksums: XXH3-64 with a seed that separates uses. */
uint64_t hdb__lsm_hash(const void *p, size_t n, uint64_t seed);

/* ------------------------------------------------------------------ */
/* Internal keys                                                       */
/* ------------------------------------------------------------------ */

enum { HDB__LSM_DEL = 0, HDB__LSM_PUT = 1 };
#define HDB__LSM_MAX_SEQ ((UINT64_C(1) << 56) - 1)
#define HDB__LSM_TAG(seq, type) (((uint64_t)(seq) << 8) | (uint64_t)(type))

/* Byte order of user keys (memcmp, then shorter first). Keys are short
 * (tens of bytes) and this runs on every step of every search, so it
 * compares 8 bytes at a time inline (as big-endian words, which order like
 * memcmp) instead of calling memcmp. Returns <0, 0 or >0. */
static inline int hdb__lsm_ukey_cmp(const char *a, size_t alen, const char *b, size_t blen) {
  size_t n = alen < blen ? alen : blen, i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x, y;
    memcpy(&x, a + i, 8);
    memcpy(&y, b + i, 8);
    if (x != y) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
      x = __builtin_bswap64(x);
      y = __builtin_bswap64(y);
#endif
      return x < y ? -1 : 1;
    }
  }
  for (; i < n; i++) {
    unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
    if (x != y) return x < y ? -1 : 1;
  }
  return (alen > blen) - (alen < blen);
}
/* Internal keys are >= 8 bytes (callers check when decoding). */
static inline int hdb__lsm_ikey_cmp(const char *a, size_t alen, const char *b, size_t blen) {
  int c = hdb__lsm_ukey_cmp(a, alen - 8, b, blen - 8);
  if (c) return c;
  uint64_t ta = hdb__lsm_get64(a + alen - 8), tb = hdb__lsm_get64(b + blen - 8);
  return (ta < tb) - (ta > tb);
}
static inline uint64_t hdb__lsm_ikey_tag(const char *k, size_t klen) {
  return hdb__lsm_get64(k + klen - 8);
}

/* ------------------------------------------------------------------ */
/* Files (kv_util.c)                                                   */
/* ------------------------------------------------------------------ */

/* "DIR/000012.log", ".sst", "MANIFEST-000012", ... into an owned string. */
char *hdb__lsm_path(const char *dir, uint64_t number, const char *suffix);
hdb_status hdb__lsm_write_all(int fd, const void *p, size_t n, const char *path, hdb_error *err);
hdb_status hdb__lsm_pread_all(int fd, void *p, size_t n, uint64_t off, const char *path,
                              hdb_error *err);
hdb_status hdb__lsm_fsync(int fd, const char *path, int data_only, hdb_error *err);
hdb_status hdb__lsm_fsync_dir(const char *dir, hdb_error *err);
/* Reads a whole file into an owned buffer. */
hdb_status hdb__lsm_read_file(const char *path, char **data, size_t *len, hdb_error *err);

/* ------------------------------------------------------------------ */
/* Internal iterators (kv_iter.c)                                       */
/* ------------------------------------------------------------------ */

/*
 * The common shape of every iterator over internal keys: memtables,
 * blocks, tables, levels and the merge of them. After each move, valid
 * says whether key/val hold an entry; on corruption valid is 0 and st/err
 * say why. A forward walk starts with first/seek and uses next; a
 * backward walk starts with last/seek_prev and uses prev (the merging
 * iterator does not switch direction mid-walk).
 */
typedef struct hdb__lsm_it hdb__lsm_it;
typedef struct hdb__lsm_it_vt {
  void (*first)(hdb__lsm_it *it);
  void (*last)(hdb__lsm_it *it);
  void (*seek)(hdb__lsm_it *it, const char *ikey, size_t klen); /* first >= ikey */
  void (*next)(hdb__lsm_it *it);
  void (*prev)(hdb__lsm_it *it);
  void (*close)(hdb__lsm_it *it);
} hdb__lsm_it_vt;
struct hdb__lsm_it {
  const hdb__lsm_it_vt *vt;
  int valid;
  const char *key;
  size_t klen;
  const char *val;
  size_t vlen;
  hdb_status st;
  hdb_error err;
};
/* Positions at the last entry <= ikey. */
void hdb__lsm_it_seek_prev(hdb__lsm_it *it, const char *ikey, size_t klen);
/* Marks it invalid with a corruption/IO error (formatted). */
void hdb__lsm_it_fail(hdb__lsm_it *it, hdb_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Takes ownership of children[0..n) (closed with it, also on failure). */
hdb_status hdb__lsm_merge_new(hdb__lsm_it **children, size_t n, hdb__lsm_it **out,
                              hdb_error *err);

/* ------------------------------------------------------------------ */
/* Memtable (kv_memtable.c)                                            */
/* ------------------------------------------------------------------ */

typedef struct hdb__lsm_mem hdb__lsm_mem;
hdb_status hdb__lsm_mem_new(hdb__lsm_mem **out, hdb_error *err);
/* Reference counting (atomic): the creator holds one reference. */
void hdb__lsm_mem_ref(hdb__lsm_mem *m);
void hdb__lsm_mem_unref(hdb__lsm_mem *m);
/* Bytes an entry takes in the arena. */
size_t hdb__lsm_mem_entry_size(size_t klen, size_t vlen);
/* Reserves arena space for entries of the given total size, so the
 * following adds cannot fail (an add allocates from the reservation). */
hdb_status hdb__lsm_mem_reserve(hdb__lsm_mem *m, size_t bytes, hdb_error *err);
/* One writer at a time (the commit leader); readers run concurrently. */
void hdb__lsm_mem_add(hdb__lsm_mem *m, uint64_t seq, int type, const char *key, size_t klen,
                      const char *val, size_t vlen);
/* Looks up the newest version of key with sequence <= seq. Returns 0 when
 * the memtable has none; else 1 with *type and the borrowed value (valid
 * while the caller holds a reference). */
int hdb__lsm_mem_get(hdb__lsm_mem *m, const char *key, size_t klen, uint64_t seq, int *type,
                     const char **val, size_t *vlen);
size_t hdb__lsm_mem_usage(const hdb__lsm_mem *m);
uint64_t hdb__lsm_mem_count(const hdb__lsm_mem *m);
/* An iterator over the memtable's internal keys; holds a reference. */
hdb_status hdb__lsm_mem_iter(hdb__lsm_mem *m, hdb__lsm_it **out, hdb_error *err);

/* ------------------------------------------------------------------ */
/* Batches and the WAL (kv_wal.c)                                      */
/* ------------------------------------------------------------------ */

#define HDB__LSM_BATCH_HEADER 12
/* Walks a batch payload (header + ops), calling fn for each operation.
 * Returns HDB_CORRUPT (message "<what>: ...") when malformed. */
typedef void (*hdb__lsm_batch_fn)(void *ctx, uint64_t seq, int type, const char *key,
                                  size_t klen, const char *val, size_t vlen);
hdb_status hdb__lsm_batch_iterate(const char *rep, size_t len, hdb__lsm_batch_fn fn, void *ctx,
                                  hdb_error *err);

#define HDB__LSM_WAL_MAGIC UINT64_C(0x314c4157564b4448)  /* "HDKVWAL1" */
#define HDB__LSM_MAN_MAGIC UINT64_C(0x314e414d564b4448)  /* "HDKVMAN1" */
#define HDB__LSM_LOG_VERSION 1u
#define HDB__LSM_LOG_HEADER 16
#define HDB__LSM_REC_HEADER 16

/* An append-only record log: the WAL and the MANIFEST share the framing. */
typedef struct hdb__lsm_log {
  int fd;
  char *path;
  uint64_t size;
  uint64_t magic;
} hdb__lsm_log;
/* Creates path (truncating) and writes the file header. */
hdb_status hdb__lsm_log_create(hdb__lsm_log *l, const char *path, uint64_t magic,
                               hdb_error *err);
/* Appends one record (one write call). */
hdb_status hdb__lsm_log_append(hdb__lsm_log *l, const char *p, size_t n, hdb_error *err);
hdb_status hdb__lsm_log_sync(hdb__lsm_log *l, hdb_error *err);
void hdb__lsm_log_close(hdb__lsm_log *l);

/* Reads the records of a log held in memory. For each complete record
 * calls fn (a non-OK return stops the replay and is returned). A torn tail
 * (an incomplete last record, or a bad record followed only by zeros or
 * ending exactly at the end) is not an error: *torn_at gets its offset
 * (or the size when none). A bad header or checksum before the end is
 * HDB_CORRUPT naming name and the offset. */
typedef hdb_status (*hdb__lsm_record_fn)(void *ctx, const char *p, size_t n, uint64_t off,
                                         hdb_error *err);
hdb_status hdb__lsm_log_replay(const char *name, const char *data, size_t size, uint64_t magic,
                               hdb__lsm_record_fn fn, void *ctx, uint64_t *torn_at,
                               hdb_error *err);
/* The same rules for a log read incrementally: data holds the file's bytes
 * [base, base + n) with base past the header (at a record boundary); *end
 * gets the offset after the last complete record. */
hdb_status hdb__lsm_log_replay_tail(const char *name, const char *data, size_t n, uint64_t base,
                                    uint64_t magic, hdb__lsm_record_fn fn, void *ctx,
                                    uint64_t *end, hdb_error *err);

/* ------------------------------------------------------------------ */
/* Sorted tables (kv_block.c, kv_bloom.c, kv_sst.c)                    */
/* ------------------------------------------------------------------ */

#define HDB__LSM_SST_MAGIC UINT64_C(0x31545353564b4448)  /* "HDKVSST1" */
#define HDB__LSM_SST_VERSION 1u
#define HDB__LSM_FOOTER 64
#define HDB__LSM_BLOCK_TRAILER 9
#define HDB__LSM_RESTART_INTERVAL 4

/* Block builder: prefix-compressed entries with restart points. */
typedef struct hdb__lsm_block_builder {
  hdb__lsm_buf data;
  hdb__lsm_buf restarts; /* u32 offsets */
  hdb__lsm_buf last;     /* last key added */
  int counter, interval;
  uint32_t n;
} hdb__lsm_block_builder;
void hdb__lsm_bb_init(hdb__lsm_block_builder *b, int interval);
void hdb__lsm_bb_free(hdb__lsm_block_builder *b);
void hdb__lsm_bb_reset(hdb__lsm_block_builder *b);
hdb_status hdb__lsm_bb_add(hdb__lsm_block_builder *b, const char *key, size_t klen,
                           const char *val, size_t vlen, hdb_error *err);
/* Appends the restart array; data holds the finished block. */
hdb_status hdb__lsm_bb_finish(hdb__lsm_block_builder *b, hdb_error *err);
size_t hdb__lsm_bb_size(const hdb__lsm_block_builder *b);

/* Block iterator over a decoded (uncompressed, verified) block. The block
 * memory is borrowed (owned_buf, when non-NULL, is freed at close). name
 * and off label corruption messages. */
hdb_status hdb__lsm_block_iter(const char *data, size_t size, char *owned_buf, const char *name,
                               uint64_t off, hdb__lsm_it **out, hdb_error *err);
/* In-place variant for gets: seeks ikey in a block without allocating;
 * returns 1 with the borrowed entry (key decoded into kbuf of kcap bytes,
 * at least target length + 8 is enough for an equal user key), 0 when no
 * entry >= ikey, -1 on corruption (err filled). */
int hdb__lsm_block_seek(const char *data, size_t size, const char *ikey, size_t iklen,
                        char *kbuf, size_t kcap, size_t *klen, const char **val, size_t *vlen,
                        const char *name, uint64_t off, hdb_error *err);

/* Blocked bloom filter: one 64-byte line per probe set. */
size_t hdb__lsm_bloom_size(size_t nkeys, int bits_per_key);
/* Builds into out (hdb__lsm_bloom_size bytes) from key hashes. */
void hdb__lsm_bloom_build(const uint64_t *hashes, size_t n, int bits_per_key, char *out,
                          size_t size);
/* 1 when the key may be present; filter of size bytes (validated). */
int hdb__lsm_bloom_may_match(const char *filter, size_t size, uint64_t hash);
int hdb__lsm_bloom_valid(const char *filter, size_t size);
static inline uint64_t hdb__lsm_key_hash(const char *k, size_t n) {
  return hdb__lsm_hash(k, n, 0x6b6579);
}

/* Table writer. */
typedef struct hdb__lsm_tw hdb__lsm_tw;
hdb_status hdb__lsm_tw_open(const char *path, const hdb__lsm_options *opt, hdb__lsm_tw **out,
                            hdb_error *err);
/* Keys must come in increasing internal-key order. */
hdb_status hdb__lsm_tw_add(hdb__lsm_tw *w, const char *ikey, size_t klen, const char *val,
                           size_t vlen, hdb_error *err);
uint64_t hdb__lsm_tw_size(const hdb__lsm_tw *w);
uint64_t hdb__lsm_tw_entries(const hdb__lsm_tw *w);
/* Writes filter, index and footer, fsyncs and closes. *size gets the file
 * size. The writer is freed either way. */
hdb_status hdb__lsm_tw_finish(hdb__lsm_tw *w, uint64_t *size, hdb_error *err);
/* Removes the partial file and frees the writer. */
void hdb__lsm_tw_abandon(hdb__lsm_tw *w);

/* The block cache (kv_cache.c): decompressed data blocks by (table id,
 * block), LRU, bounded bytes, thread-safe; entries are reference counted. */
typedef struct hdb__lsm_cache hdb__lsm_cache;
typedef struct hdb__lsm_cblock hdb__lsm_cblock;
hdb__lsm_cache *hdb__lsm_cache_new(size_t capacity);
/* After every table using it is closed. NULL is a no-op. */
void hdb__lsm_cache_free(hdb__lsm_cache *c);
uint64_t hdb__lsm_cache_new_id(hdb__lsm_cache *c);
/* A referenced entry, or NULL when absent. */
hdb__lsm_cblock *hdb__lsm_cache_lookup(hdb__lsm_cache *c, uint64_t id, uint64_t blk);
/* Takes ownership of data (hdb__malloc'ed) and returns a referenced entry
 * (an existing one when another thread was first; data is then freed). NULL
 * only when out of memory, and then the caller still owns data. */
hdb__lsm_cblock *hdb__lsm_cache_insert(hdb__lsm_cache *c, uint64_t id, uint64_t blk, char *data,
                                       size_t size);
const char *hdb__lsm_cblock_data(const hdb__lsm_cblock *e, size_t *size);
void hdb__lsm_cache_release(hdb__lsm_cblock *e);
void hdb__lsm_cache_stats(hdb__lsm_cache *c, uint64_t *hits, uint64_t *misses, uint64_t *bytes);

/* Table reader: the file is mmapped; the footer, index and filter are
 * verified at open, each data block the first time it is read. */
typedef struct hdb__lsm_table hdb__lsm_table;
hdb_status hdb__lsm_table_open(const char *path, hdb__lsm_table **out, hdb_error *err);
/* The same checks over a buffer (for the fuzzer): borrows data. */
hdb_status hdb__lsm_table_open_mem(const char *name, const char *data, size_t size,
                                   hdb__lsm_table **out, hdb_error *err);
void hdb__lsm_table_close(hdb__lsm_table *t);
/* Gets of t keep decompressed blocks in c (may be NULL), which must
 * outlive t. Call once, right after opening. */
void hdb__lsm_table_set_cache(hdb__lsm_table *t, hdb__lsm_cache *c);
/* Newest entry of key with sequence <= seq: HDB_OK with *found (0/1),
 * *type and an owned copy of the value when found and a PUT. */
hdb_status hdb__lsm_table_get(hdb__lsm_table *t, const char *key, size_t klen, uint64_t seq,
                              int *found, int *type, void **val, size_t *vlen, hdb_error *err);
hdb_status hdb__lsm_table_iter(hdb__lsm_table *t, hdb__lsm_it **out, hdb_error *err);
/* Verifies every block, entry order and the entry count. */
hdb_status hdb__lsm_table_verify(hdb__lsm_table *t, hdb_error *err);
uint64_t hdb__lsm_table_entries(const hdb__lsm_table *t);
const char *hdb__lsm_table_path(const hdb__lsm_table *t);

/* ------------------------------------------------------------------ */
/* Versions and the MANIFEST (kv_version.c, kv_manifest.c)             */
/* ------------------------------------------------------------------ */

/* One table file. Reference counted by the versions that list it; an
 * obsolete file (removed by an installed edit) is unlinked when the last
 * version listing it goes away. Counts change under the store mutex. */
typedef struct hdb__lsm_file {
  uint64_t number, size;
  hdb__lsm_buf smallest, largest; /* internal keys */
  hdb__lsm_table *table;          /* open reader (NULL while recovering) */
  atomic_int refs;
  atomic_int obsolete;
  char *path;
} hdb__lsm_file;
hdb_status hdb__lsm_file_new(const char *dir, uint64_t number, uint64_t size,
                             const char *smallest, size_t slen, const char *largest,
                             size_t llen, hdb__lsm_file **out, hdb_error *err);
void hdb__lsm_file_unref(hdb__lsm_file *f);

/* An immutable set of files per level. Level 0 is ordered newest first
 * (by number, descending) and may overlap; deeper levels are sorted by
 * key and do not overlap. */
typedef struct hdb__lsm_version {
  hdb__lsm_file **files[HDB__LSM_LEVELS];
  size_t n[HDB__LSM_LEVELS];
  int refs; /* under the store mutex */
} hdb__lsm_version;
hdb__lsm_version *hdb__lsm_version_new(void);
void hdb__lsm_version_ref(hdb__lsm_version *v);
void hdb__lsm_version_unref(hdb__lsm_version *v);
uint64_t hdb__lsm_level_bytes(const hdb__lsm_version *v, int level);
/* Files at level overlapping the user-key range [lo, hi] (NULL:
 * unbounded), into an owned array. */
hdb_status hdb__lsm_overlaps(const hdb__lsm_version *v, int level, const char *lo, size_t lolen,
                             const char *hi, size_t hilen, hdb__lsm_file ***out, size_t *n,
                             hdb_error *err);
/* Reads key at seq through the version's tables. */
hdb_status hdb__lsm_version_get(hdb__lsm_version *v, const char *key, size_t klen, uint64_t seq,
                                int *found, int *type, void **val, size_t *vlen,
                                hdb_error *err);
/* Appends one iterator per level-0 table and one per deeper level. */
hdb_status hdb__lsm_version_iters(hdb__lsm_version *v, hdb__lsm_it ***its, size_t *n,
                                  size_t *cap, hdb_error *err);
/* A concatenating iterator over sorted non-overlapping files (refs the
 * files' tables through the version, which the caller keeps alive). */
hdb_status hdb__lsm_level_iter(hdb__lsm_file **files, size_t n, hdb__lsm_it **out,
                               hdb_error *err);

/* A change to the version: the MANIFEST is a log of these. */
typedef struct hdb__lsm_edit_del {
  int level;
  uint64_t number;
} hdb__lsm_edit_del;
typedef struct hdb__lsm_edit_add {
  int level;
  hdb__lsm_file *file; /* counted reference owned by the edit */
} hdb__lsm_edit_add;
typedef struct hdb__lsm_edit {
  int has_log, has_next, has_seq;
  uint64_t log_number, next_file, last_seq;
  hdb__lsm_edit_add *adds;
  size_t n_adds, cap_adds;
  hdb__lsm_edit_del *dels;
  size_t n_dels, cap_dels;
} hdb__lsm_edit;
void hdb__lsm_edit_init(hdb__lsm_edit *e);
void hdb__lsm_edit_free(hdb__lsm_edit *e);
/* Takes a new reference on f. */
hdb_status hdb__lsm_edit_add_file(hdb__lsm_edit *e, int level, hdb__lsm_file *f,
                                  hdb_error *err);
hdb_status hdb__lsm_edit_del_file(hdb__lsm_edit *e, int level, uint64_t number,
                                  hdb_error *err);
hdb_status hdb__lsm_edit_encode(const hdb__lsm_edit *e, hdb__lsm_buf *out, hdb_error *err);
/* Decodes (files are created without tables); CORRUPT names name/off. */
hdb_status hdb__lsm_edit_decode(const char *dir, const char *p, size_t n, const char *name,
                                uint64_t off, hdb__lsm_edit *e, hdb_error *err);
/* New version = base + edit. Deleted files present in base get obsolete
 * marked by the caller once installed. */
hdb_status hdb__lsm_version_apply(const hdb__lsm_version *base, const hdb__lsm_edit *e,
                                  hdb__lsm_version **out, hdb_error *err);

/* The MANIFEST writer and the recovery reader (kv_manifest.c). */
typedef struct hdb__lsm_recovered {
  hdb__lsm_version *version; /* files without tables */
  uint64_t log_number, next_file, last_seq;
  uint64_t manifest_number;
  uint64_t manifest_end; /* offset after the last complete edit read */
} hdb__lsm_recovered;
/* The number of the MANIFEST that CURRENT names (HDB_NOT_FOUND: none). */
hdb_status hdb__lsm_manifest_current(const char *dir, uint64_t *number, hdb_error *err);
/* Applies the edits appended to MANIFEST-r->manifest_number since
 * r->manifest_end to r (whose version is the caller's private one):
 * a reader following the writer without reading the MANIFEST again. A torn
 * last edit is left for the next call. On failure r is half updated. */
hdb_status hdb__lsm_manifest_catch_up(const char *dir, hdb__lsm_recovered *r, hdb_error *err);
/* Reads CURRENT and replays the MANIFEST it names. HDB_NOT_FOUND when
 * there is no CURRENT. */
hdb_status hdb__lsm_manifest_recover(const char *dir, hdb__lsm_recovered *r, hdb_error *err);
/* Writes MANIFEST-number holding one edit that describes v (plus the
 * counters), fsyncs it, then points CURRENT at it (temp, fsync, rename,
 * fsync dir). On success l is the open manifest for later edits. */
hdb_status hdb__lsm_manifest_create(const char *dir, uint64_t number, const hdb__lsm_version *v,
                                    uint64_t log_number, uint64_t next_file, uint64_t last_seq,
                                    hdb__lsm_log *l, hdb_error *err);
/* Appends e and fdatasyncs. */
hdb_status hdb__lsm_manifest_append(hdb__lsm_log *l, const hdb__lsm_edit *e, hdb_error *err);
/* Verifies the MANIFEST file at path (framing and edit decoding). */
hdb_status hdb__lsm_manifest_verify(const char *dir, const char *path, hdb_error *err);

/* ------------------------------------------------------------------ */
/* The store (kv_db.c) and compaction (kv_compaction.c)                 */
/* ------------------------------------------------------------------ */

typedef struct hdb__lsm_pinned hdb__lsm_pinned;

struct hdb__lsm_snapshot {
  uint64_t seq;
  /* Reader mode: the memtables and version the snapshot reads (R7 in the
   * README: the writer's compactions do not know a reader's snapshots, so
   * the reader keeps the files it saw). NULL in writer mode. */
  hdb__lsm_pinned *pin;
  struct hdb__lsm_snapshot *prev, *next; /* ordered by seq, oldest first */
};

typedef struct hdb__lsm_writer hdb__lsm_writer;

/* Reader mode (kv_reader.c): one live WAL a reader follows into a private
 * memtable. off is the end of the last complete record read (0: not even
 * the header yet); records are applied whole (R5). */
typedef struct hdb__lsm_rwal {
  uint64_t number; /* 0: several older WALs merged (rebuilt each refresh) */
  hdb__lsm_mem *mem;
  int fd;
  uint64_t off;
  uint64_t max_seq;
  char *path;
} hdb__lsm_rwal;
#define HDB__LSM_RWAL_CACHE 8

/* The writer's state in LOCK (R1): what a reader follows. */
typedef struct hdb__lsm_state {
  uint64_t gen;    /* 0: none published */
  uint64_t wal;    /* the live WAL */
} hdb__lsm_state;
#define HDB__LSM_LOCK_MAGIC UINT64_C(0x314b434c564b4448) /* "HDKVLCK1" */
#define HDB__LSM_LOCK_STATE 32

struct hdb__lsm {
  char *dir;
  hdb__lsm_options opt;
  int lock_fd;
  pthread_mutex_t mu;     /* guards everything below unless noted */
  pthread_cond_t bg_cv;   /* background work finished (imm flushed, version changed) */
  pthread_cond_t work_cv; /* wakes the background thread */
  pthread_t bg;
  int bg_started;
  int shutting_down;
  int bg_busy;            /* a flush/compaction is running (thread or manual) */
  int manual;             /* a manual compaction owns the background work */
  hdb_status bg_status;   /* sticky write error */
  hdb_error bg_err;
  hdb__lsm_mem *mem, *imm;
  hdb__lsm_version *current;
  hdb__lsm_log wal;       /* written by the commit leader only */
  uint64_t wal_number, imm_wal_number;
  int wal_dirty;          /* appended since the last sync (NORMAL) */
  uint64_t last_sync_ns;
  hdb__lsm_log manifest;  /* written by the background owner only */
  uint64_t next_file;
  uint64_t last_seq;      /* the newest sequence readers may see */
  uint64_t log_number;    /* oldest WAL still needed */
  hdb__lsm_writer *wq_head, *wq_tail;
  hdb__lsm_buf group;     /* the leader's commit record */
  hdb__lsm_snapshot snaps; /* list head */
  hdb__lsm_buf compact_ptr[HDB__LSM_LEVELS];
  hdb__lsm_stats stats;
  uint64_t gen;           /* writer: last generation published in LOCK; reader: the one read */
  /* Reader mode (kv_reader.c). reader changes 1 -> 0 once, under rmu and
   * mu, when the handle becomes the writer. Refreshes and the promotion
   * hold rmu; they change mem, imm, current and last_seq under mu too. */
  atomic_int reader;
  pthread_mutex_t rmu;
  pthread_mutex_t pmu;    /* serializes promotions to writer */
  int state_fd;           /* LOCK opened read-only (-1: not yet) */
  char *rman_path;        /* the MANIFEST the reader's version came from */
  uint64_t rman_number, rman_end; /* ... its number, and the end of what was read */
  hdb__lsm_rwal *rw[HDB__LSM_RWAL_CACHE]; /* cache; rw_live[] point into it */
  hdb__lsm_rwal *rw_live[2];              /* newest live WAL, then the older ones */
  hdb__lsm_cache *cache;  /* block cache of every table opened (NULL: none) */
};

/* All with mu held; they may release and retake it. */
/* Writes imm to a level-0 table and installs it; drops the old WAL. */
hdb_status hdb__lsm_flush_imm(hdb__lsm *db, hdb_error *err);
int hdb__lsm_needs_compaction(const hdb__lsm *db);
/* Picks the most needed compaction and runs it. */
hdb_status hdb__lsm_compact_pick_run(hdb__lsm *db, hdb_error *err);
/* Compacts files at level overlapping [lo, hi] into level + 1. */
hdb_status hdb__lsm_compact_level_range(hdb__lsm *db, int level, const char *lo, size_t lolen,
                                        const char *hi, size_t hilen, hdb_error *err);
/* Applies e to the current version, logs it to the MANIFEST and installs
 * it; deleted files become obsolete. */
hdb_status hdb__lsm_log_and_apply(hdb__lsm *db, hdb__lsm_edit *e, hdb_error *err);
/* Writes the entries of it (positioned nowhere) into one new table;
 * *out is NULL when it held nothing. */
hdb_status hdb__lsm_build_table(hdb__lsm *db, hdb__lsm_it *it, uint64_t number,
                                hdb__lsm_file **out, hdb_error *err);

/* Writer state in LOCK (kv_db.c): publishes (gen + 1, wal) with one
 * pwrite; db->gen is updated only on success. mu held or no concurrency. */
hdb_status hdb__lsm_publish_state(hdb__lsm *db, uint64_t wal, hdb_error *err);
/* Reads the published state from fd (zeros when none or unreadable). */
void hdb__lsm_read_state(int fd, hdb__lsm_state *s);

/* Directory helpers (kv_db.c). */
typedef struct hdb__lsm_dir_scan {
  uint64_t *logs; /* WAL numbers, ascending (owned) */
  size_t nlogs;
  uint64_t max_number;
} hdb__lsm_dir_scan;
hdb_status hdb__lsm_scan_dir(const char *dir, hdb__lsm_dir_scan *s, hdb_error *err);
/* Takes LOCK (waiting up to lock_timeout_ms) into db->lock_fd. */
hdb_status hdb__lsm_take_lock(hdb__lsm *db, int *attach_instead, hdb_error *err);
/* Writer recovery into db (no other thread uses db): README "Recovery". */
hdb_status hdb__lsm_recover(hdb__lsm *db, hdb_error *err);
/* Starts the background thread (writer mode). */
hdb_status hdb__lsm_start_bg(hdb__lsm *db, hdb_error *err);

/* Reader mode (kv_reader.c). */
/* Attaches db (dir, opt set, nothing else) as a reader. */
hdb_status hdb__lsm_reader_attach(hdb__lsm *db, hdb_error *err);
/* Brings a reader's state up to the writer's (no-op for a writer). */
hdb_status hdb__lsm_reader_refresh(hdb__lsm *db, hdb_error *err);
/* Frees a reader's WAL cache and closes its files. */
void hdb__lsm_reader_free(hdb__lsm *db);

/* ------------------------------------------------------------------ */
/* The store (kv_db.c) as the iterator needs it                         */
/* ------------------------------------------------------------------ */

/* What a reader holds: the memtables and version it reads and its
 * sequence. Pinned under the store mutex; the files stay until unpin. */
struct hdb__lsm_pinned {
  hdb__lsm_mem *mem, *imm;
  hdb__lsm_version *v;
  uint64_t seq;
};
void hdb__lsm_pin(hdb__lsm *db, const hdb__lsm_snapshot *snap, hdb__lsm_pinned *p);
void hdb__lsm_unpin(hdb__lsm *db, hdb__lsm_pinned *p);
/* Builds the merging iterator over everything p pins. */
hdb_status hdb__lsm_pinned_iter(hdb__lsm_pinned *p, hdb__lsm_it **out, hdb_error *err);

#endif

/*
 * kv_sst.c - sorted string tables: the writer and the reader.
 *
 * File layout (all integers little-endian):
 *   data block* | filter block? | index block | footer (64 bytes)
 * Every block is followed by a 9-byte trailer: u8 compression (0 none,
 * 1 lz4, 2 zstd) | u64 XXH3(block bytes, seed 0x626c6b ^ compression). A
 * compressed block is varint raw_size | compressed bytes; compression is
 * kept only when it saves at least 1/8. Block handles point at the block
 * bytes; the trailer follows.
 *   index block: a block (restart interval 1) of entries
 *                key = last internal key of a data block,
 *                value = varint offset | varint size
 *   filter block: the bloom filter over the table's user keys (kv_bloom.c)
 *   footer: u64 index_off | u64 index_size | u64 filter_off |
 *           u64 filter_size (0: no filter) | u64 entries | u32 version (1) |
 *           u32 flags (0) | u64 XXH3(first 48 bytes) | u64 magic "HDKVSST1"
 *
 * The reader maps the file (tables are immutable: rule T1 in README.md).
 * At open it verifies the footer, the index and the filter, and decodes
 * the index into an array (binary search without decoding). A data
 * block's checksum is verified the first time the block is read through
 * this reader (T2: a flag in its index entry), so hot reads pay nothing
 * and a corrupt block is never returned: HDB_CORRUPT names the file and
 * the block's offset. Uncompressed blocks are read in place in the map.
 */
#include <errno.h>
#include <fcntl.h>
#include <lz4.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/kv/kv_impl.h"

#define OUT_FLUSH (1u << 20)

static uint64_t block_hash(const char *p, size_t n, int type) {
  return hdb__lsm_hash(p, n, 0x626c6bu ^ (uint64_t)type);
}

/* ------------------------------------------------------------------ */
/* Writer                                                              */
/* ------------------------------------------------------------------ */

struct hdb__lsm_tw {
  int fd;
  char *path;
  size_t block_size;
  int bloom_bits;
  hdb__lsm_compression compression;
  int zstd_level;
  hdb__lsm_block_builder data, index;
  hdb__lsm_buf out;  /* bytes not yet written to fd */
  hdb__lsm_buf cbuf; /* compression scratch */
  hdb__lsm_buf last; /* last internal key added */
  uint64_t offset;   /* file size including buffered bytes */
  uint64_t entries;
  uint64_t *hashes;
  size_t nh, caph;
};

hdb_status hdb__lsm_tw_open(const char *path, const hdb__lsm_options *opt, hdb__lsm_tw **out,
                            hdb_error *err) {
  *out = NULL;
  hdb__lsm_tw *w = hdb__calloc(1, sizeof *w);
  if (!w) return hdb__fail(err, HDB_NOMEM, "kv: out of memory for a table writer");
  w->fd = -1;
  w->path = hdb__strdup(path);
  if (!w->path) {
    hdb__free_mem(w);
    return hdb__fail(err, HDB_NOMEM, "kv: out of memory for a table writer");
  }
  w->block_size = opt->block_size;
  w->bloom_bits = opt->bloom_bits;
  w->compression = opt->compression;
  w->zstd_level = opt->zstd_level;
  hdb__lsm_bb_init(&w->data, HDB__LSM_RESTART_INTERVAL);
  hdb__lsm_bb_init(&w->index, 1);
  w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (w->fd < 0) {
    hdb_status st = hdb__fail(err, HDB_IO, "kv: %s: create failed: %s", path, strerror(errno));
    hdb__lsm_tw_abandon(w);
    return st;
  }
  *out = w;
  return HDB_OK;
}

static void tw_free(hdb__lsm_tw *w) {
  if (w->fd >= 0) close(w->fd);
  hdb__lsm_bb_free(&w->data);
  hdb__lsm_bb_free(&w->index);
  hdb__lsm_buf_free(&w->out);
  hdb__lsm_buf_free(&w->cbuf);
  hdb__lsm_buf_free(&w->last);
  hdb__free_mem(w->hashes);
  hdb__free_mem(w->path);
  hdb__free_mem(w);
}

void hdb__lsm_tw_abandon(hdb__lsm_tw *w) {
  if (!w) return;
  if (w->fd >= 0) unlink(w->path);
  tw_free(w);
}

uint64_t hdb__lsm_tw_size(const hdb__lsm_tw *w) {
  return w->offset + w->data.data.len;
}

uint64_t hdb__lsm_tw_entries(const hdb__lsm_tw *w) {
  return w->entries;
}

static hdb_status tw_flush(hdb__lsm_tw *w, hdb_error *err) {
  hdb_status st = hdb__lsm_write_all(w->fd, w->out.p, w->out.len, w->path, err);
  w->out.len = 0;
  return st;
}

/* Writes one block (compressing when allowed and worth it) and its
 * trailer; off and size get its handle. */
static hdb_status tw_block(hdb__lsm_tw *w, const char *raw, size_t n, int compress,
                           uint64_t *off, uint64_t *size, hdb_error *err) {
  const char *body = raw;
  size_t blen = n;
  int type = 0;
  hdb_status st;
  if (compress && w->compression != HDB__LSM_COMPRESS_NONE && n >= 64 && n < INT32_MAX) {
    size_t bound = w->compression == HDB__LSM_COMPRESS_LZ4 ? (size_t)LZ4_compressBound((int)n)
                                                           : ZSTD_compressBound(n);
    w->cbuf.len = 0;
    if ((st = hdb__lsm_buf_reserve(&w->cbuf, bound + 10, err)) != HDB_OK) return st;
    size_t h = hdb__lsm_putv(w->cbuf.p, n);
    size_t c = 0;
    if (w->compression == HDB__LSM_COMPRESS_LZ4) {
      int r = LZ4_compress_default(raw, w->cbuf.p + h, (int)n, (int)bound);
      c = r > 0 ? (size_t)r : 0;
    } else {
      size_t r = ZSTD_compress(w->cbuf.p + h, bound, raw, n, w->zstd_level);
      c = ZSTD_isError(r) ? 0 : r;
    }
    if (c > 0 && h + c < n - n / 8) {
      body = w->cbuf.p;
      blen = h + c;
      type = (int)w->compression;
    }
  }
  char trailer[HDB__LSM_BLOCK_TRAILER];
  trailer[0] = (char)type;
  hdb__lsm_put64(trailer + 1, block_hash(body, blen, type));
  *off = w->offset;
  *size = blen;
  if ((st = hdb__lsm_buf_append(&w->out, body, blen, err)) != HDB_OK) return st;
  if ((st = hdb__lsm_buf_append(&w->out, trailer, sizeof trailer, err)) != HDB_OK) return st;
  w->offset += blen + sizeof trailer;
  if (w->out.len >= OUT_FLUSH) return tw_flush(w, err);
  return HDB_OK;
}

static hdb_status tw_finish_data(hdb__lsm_tw *w, hdb_error *err) {
  if (w->data.n == 0) return HDB_OK;
  hdb_status st = hdb__lsm_bb_finish(&w->data, err);
  uint64_t off, size;
  if (st == HDB_OK) st = tw_block(w, w->data.data.p, w->data.data.len, 1, &off, &size, err);
  if (st != HDB_OK) return st;
  char hv[20];
  size_t n = hdb__lsm_putv(hv, off);
  n += hdb__lsm_putv(hv + n, size);
  st = hdb__lsm_bb_add(&w->index, w->last.p, w->last.len, hv, n, err);
  hdb__lsm_bb_reset(&w->data);
  return st;
}

hdb_status hdb__lsm_tw_add(hdb__lsm_tw *w, const char *ikey, size_t klen, const char *val,
                           size_t vlen, hdb_error *err) {
  hdb_status st;
  int new_user_key = 1;
  if (w->entries > 0) {
    if (hdb__lsm_ikey_cmp(w->last.p, w->last.len, ikey, klen) >= 0)
      return hdb__fail(err, HDB_ERROR, "kv: %s: keys added out of order", w->path);
    new_user_key = hdb__lsm_ukey_cmp(w->last.p, w->last.len - 8, ikey, klen - 8) != 0;
  }
  if (w->bloom_bits > 0 && new_user_key) {
    if (w->nh == w->caph) {
      size_t cap = w->caph ? w->caph * 2 : 1024;
      uint64_t *h = hdb__realloc(w->hashes, cap * sizeof *h);
      if (!h) return hdb__fail(err, HDB_NOMEM, "kv: out of memory building a bloom filter");
      w->hashes = h;
      w->caph = cap;
    }
    w->hashes[w->nh++] = hdb__lsm_key_hash(ikey, klen - 8);
  }
  if ((st = hdb__lsm_bb_add(&w->data, ikey, klen, val, vlen, err)) != HDB_OK) return st;
  if ((st = hdb__lsm_buf_set(&w->last, ikey, klen, err)) != HDB_OK) return st;
  w->entries++;
  if (hdb__lsm_bb_size(&w->data) >= w->block_size) return tw_finish_data(w, err);
  return HDB_OK;
}

hdb_status hdb__lsm_tw_finish(hdb__lsm_tw *w, uint64_t *size, hdb_error *err) {
  uint64_t foff = 0, fsize = 0, ioff, isize;
  hdb_status st = tw_finish_data(w, err);
  if (st == HDB_OK && w->bloom_bits > 0 && w->nh > 0) {
    size_t n = hdb__lsm_bloom_size(w->nh, w->bloom_bits);
    w->cbuf.len = 0;
    st = hdb__lsm_buf_reserve(&w->cbuf, n, err);
    if (st == HDB_OK) {
      hdb__lsm_bloom_build(w->hashes, w->nh, w->bloom_bits, w->cbuf.p, n);
      hdb__lsm_buf tmp = w->cbuf; /* tw_block does not touch cbuf uncompressed */
      st = tw_block(w, tmp.p, n, 0, &foff, &fsize, err);
    }
  }
  if (st == HDB_OK) st = hdb__lsm_bb_finish(&w->index, err);
  if (st == HDB_OK) st = tw_block(w, w->index.data.p, w->index.data.len, 0, &ioff, &isize, err);
  if (st == HDB_OK) {
    char f[HDB__LSM_FOOTER];
    hdb__lsm_put64(f, ioff);
    hdb__lsm_put64(f + 8, isize);
    hdb__lsm_put64(f + 16, foff);
    hdb__lsm_put64(f + 24, fsize);
    hdb__lsm_put64(f + 32, w->entries);
    hdb__lsm_put32(f + 40, HDB__LSM_SST_VERSION);
    hdb__lsm_put32(f + 44, 0);
    hdb__lsm_put64(f + 48, hdb__lsm_hash(f, 48, HDB__LSM_SST_MAGIC));
    hdb__lsm_put64(f + 56, HDB__LSM_SST_MAGIC);
    st = hdb__lsm_buf_append(&w->out, f, sizeof f, err);
    w->offset += sizeof f;
  }
  if (st == HDB_OK) st = tw_flush(w, err);
  if (st == HDB_OK) st = hdb__lsm_fsync(w->fd, w->path, 0, err);
  if (st != HDB_OK) {
    hdb__lsm_tw_abandon(w);
    return st;
  }
  *size = w->offset;
  tw_free(w);
  return HDB_OK;
}

/* ------------------------------------------------------------------ */
/* Reader                                                              */
/* ------------------------------------------------------------------ */

typedef struct idx_entry {
  uint64_t off, size;
  size_t koff;         /* last key of the block, in keys */
  uint32_t klen;
  /* 0: the block's checksum is not verified yet; 1 + compression type
   * once it is (rule T2 in README.md). Kept next to the handle so a get
   * that found the block pays no extra cache miss for it. */
  atomic_uchar state;
} idx_entry;

struct hdb__lsm_table {
  char *path;
  int fd;
  const char *map;
  size_t size;
  int mapped;
  char *heap; /* the file read into memory when mmap failed (owned) */
  const char *filter;
  size_t filter_size;
  idx_entry *idx;
  size_t nblocks;
  char *keys;
  uint64_t entries;
  hdb__lsm_cache *cache; /* borrowed; NULL: none */
  uint64_t cache_id;
};

void hdb__lsm_table_set_cache(hdb__lsm_table *t, hdb__lsm_cache *c) {
  t->cache = c;
  if (c) t->cache_id = hdb__lsm_cache_new_id(c);
}

const char *hdb__lsm_table_path(const hdb__lsm_table *t) {
  return t->path;
}

uint64_t hdb__lsm_table_entries(const hdb__lsm_table *t) {
  return t->entries;
}

void hdb__lsm_table_close(hdb__lsm_table *t) {
  if (!t) return;
  if (t->mapped) munmap((void *)t->map, t->size);
  hdb__free_mem(t->heap);
  if (t->fd >= 0) close(t->fd);
  hdb__free_mem(t->idx);
  hdb__free_mem(t->keys);
  hdb__free_mem(t->path);
  hdb__free_mem(t);
}

/* Checks a block's trailer at [off, off+size) of the file. */
static hdb_status check_block(const hdb__lsm_table *t, uint64_t off, uint64_t size,
                              const char *what, hdb_error *err) {
  if (off > t->size || size > t->size - off || t->size - off - size < HDB__LSM_BLOCK_TRAILER)
    return hdb__fail(err, HDB_CORRUPT, "kv: %s: %s block at offset %llu runs past the end", t->path,
                     what, (unsigned long long)off);
  const char *p = t->map + off;
  int type = (unsigned char)p[size];
  if (type > 2)
    return hdb__fail(err, HDB_CORRUPT, "kv: %s: %s block at offset %llu has unknown compression %d",
                     t->path, what, (unsigned long long)off, type);
  if (block_hash(p, (size_t)size, type) != hdb__lsm_get64(p + size + 1))
    return hdb__fail(err, HDB_CORRUPT, "kv: %s: checksum mismatch in the %s block at offset %llu",
                     t->path, what, (unsigned long long)off);
  return HDB_OK;
}

static hdb_status parse_table(hdb__lsm_table *t, hdb_error *err) {
  const char *name = t->path;
  if (t->size < HDB__LSM_FOOTER)
    return hdb__fail(err, HDB_CORRUPT, "kv: %s: %zu bytes is too short for a table footer", name,
                     t->size);
  size_t foff = t->size - HDB__LSM_FOOTER;
  const char *f = t->map + foff;
  if (hdb__lsm_get64(f + 56) != HDB__LSM_SST_MAGIC)
    return hdb__fail(err, HDB_CORRUPT, "kv: %s: bad magic number in the footer at offset %zu", name,
                     foff);
  if (hdb__lsm_hash(f, 48, HDB__LSM_SST_MAGIC) != hdb__lsm_get64(f + 48))
    return hdb__fail(err, HDB_CORRUPT, "kv: %s: footer checksum mismatch at offset %zu", name, foff);
  if (hdb__lsm_get32(f + 40) != HDB__LSM_SST_VERSION)
    return hdb__fail(err, HDB_CORRUPT, "kv: %s: unknown table format version %u at offset %zu",
                     name, hdb__lsm_get32(f + 40), foff + 40);
  uint64_t ioff = hdb__lsm_get64(f), isize = hdb__lsm_get64(f + 8);
  uint64_t filoff = hdb__lsm_get64(f + 16), filsize = hdb__lsm_get64(f + 24);
  t->entries = hdb__lsm_get64(f + 32);
  hdb__lsm_table body = *t;
  body.size = foff; /* blocks must end before the footer */
  hdb_status st = check_block(&body, ioff, isize, "index", err);
  if (st != HDB_OK) return st;
  if (t->map[ioff + isize] != 0)
    return hdb__fail(err, HDB_CORRUPT, "kv: %s: compressed index block at offset %llu", name,
                     (unsigned long long)ioff);
  if (filsize > 0) {
    if ((st = check_block(&body, filoff, filsize, "filter", err)) != HDB_OK) return st;
    if (t->map[filoff + filsize] != 0 || !hdb__lsm_bloom_valid(t->map + filoff, (size_t)filsize))
      return hdb__fail(err, HDB_CORRUPT, "kv: %s: malformed filter block at offset %llu", name,
                       (unsigned long long)filoff);
    t->filter = t->map + filoff;
    t->filter_size = (size_t)filsize;
  }
  /* Decode the index into an array. */
  hdb__lsm_it *it = NULL;
  hdb__lsm_buf keys = {0};
  size_t cap = 0;
  if ((st = hdb__lsm_block_iter(t->map + ioff, (size_t)isize, NULL, name, ioff, &it, err)) != HDB_OK)
    return st;
  for (it->vt->first(it); it->valid; it->vt->next(it)) {
    const char *p = it->val, *end = it->val + it->vlen;
    uint64_t boff, bsize;
    if (!hdb__lsm_getv(&p, end, &boff) || !hdb__lsm_getv(&p, end, &bsize) || p != end ||
        boff > ioff || bsize > ioff - boff || ioff - boff - bsize < HDB__LSM_BLOCK_TRAILER) {
      st = hdb__fail(err, HDB_CORRUPT, "kv: %s: bad block handle in the index block at offset %llu",
                     name, (unsigned long long)ioff);
      goto done;
    }
    if (t->nblocks > 0 &&
        hdb__lsm_ikey_cmp(keys.p + t->idx[t->nblocks - 1].koff, t->idx[t->nblocks - 1].klen,
                          it->key, it->klen) >= 0) {
      st = hdb__fail(err, HDB_CORRUPT, "kv: %s: index block at offset %llu is out of order", name,
                     (unsigned long long)ioff);
      goto done;
    }
    if (it->klen > UINT32_MAX) {
      st = hdb__fail(err, HDB_CORRUPT, "kv: %s: oversized key in the index block at offset %llu",
                     name, (unsigned long long)ioff);
      goto done;
    }
    if (t->nblocks == cap) {
      cap = cap ? cap * 2 : 64;
      idx_entry *n = hdb__realloc(t->idx, cap * sizeof *n);
      if (!n) {
        st = hdb__fail(err, HDB_NOMEM, "kv: %s: out of memory loading the index", name);
        goto done;
      }
      t->idx = n;
    }
    idx_entry *e = &t->idx[t->nblocks++];
    e->off = boff;
    e->size = bsize;
    e->koff = keys.len;
    e->klen = (uint32_t)it->klen;
    atomic_init(&e->state, 0);
    if ((st = hdb__lsm_buf_append(&keys, it->key, it->klen, err)) != HDB_OK) goto done;
  }
  if (it->st != HDB_OK) {
    st = it->st;
    if (err) *err = it->err;
    goto done;
  }
  if (t->nblocks == 0 && t->entries != 0) {
    st = hdb__fail(err, HDB_CORRUPT, "kv: %s: empty index for %llu entries", name,
                   (unsigned long long)t->entries);
    goto done;
  }
done:
  it->vt->close(it);
  t->keys = keys.p;
  return st;
}

static hdb_status table_alloc(const char *name, hdb__lsm_table **out, hdb_error *err) {
  hdb__lsm_table *t = hdb__calloc(1, sizeof *t);
  if (!t) return hdb__fail(err, HDB_NOMEM, "kv: out of memory opening %s", name);
  t->fd = -1;
  t->path = hdb__strdup(name);
  if (!t->path) {
    hdb__free_mem(t);
    return hdb__fail(err, HDB_NOMEM, "kv: out of memory opening %s", name);
  }
  *out = t;
  return HDB_OK;
}

hdb_status hdb__lsm_table_open_mem(const char *name, const char *data, size_t size,
                                   hdb__lsm_table **out, hdb_error *err) {
  *out = NULL;
  hdb__lsm_table *t;
  hdb_status st = table_alloc(name, &t, err);
  if (st != HDB_OK) return st;
  t->map = data;
  t->size = size;
  if ((st = parse_table(t, err)) != HDB_OK) {
    hdb__lsm_table_close(t);
    return st;
  }
  *out = t;
  return HDB_OK;
}

hdb_status hdb__lsm_table_open(const char *path, hdb__lsm_table **out, hdb_error *err) {
  *out = NULL;
  hdb__lsm_table *t;
  hdb_status st = table_alloc(path, &t, err);
  if (st != HDB_OK) return st;
  struct stat sb;
  t->fd = open(path, O_RDONLY | O_CLOEXEC);
  if (t->fd < 0) {
    st = hdb__fail(err, errno == ENOENT ? HDB_CORRUPT : HDB_IO, "kv: %s: open failed: %s", path,
                   strerror(errno));
    goto fail;
  }
  if (fstat(t->fd, &sb) != 0) {
    st = hdb__fail(err, HDB_IO, "kv: %s: stat failed: %s", path, strerror(errno));
    goto fail;
  }
  t->size = (size_t)sb.st_size;
  if (t->size > 0) {
    void *m = mmap(NULL, t->size, PROT_READ, MAP_SHARED, t->fd, 0);
    if (m != MAP_FAILED) {
      t->map = m;
      t->mapped = 1;
      madvise(m, t->size, MADV_RANDOM);
    } else {
      /* No mapping (address space, a file system without mmap): read the
       * whole file with pread instead; reads work the same on the copy. */
      if (!(t->heap = hdb__malloc(t->size))) {
        st = hdb__fail(err, HDB_NOMEM, "kv: %s: mmap failed and out of memory for a copy", path);
        goto fail;
      }
      if ((st = hdb__lsm_pread_all(t->fd, t->heap, t->size, 0, path, err)) != HDB_OK) goto fail;
      t->map = t->heap;
    }
  }
  if ((st = parse_table(t, err)) != HDB_OK) goto fail;
  *out = t;
  return HDB_OK;
fail:
  hdb__lsm_table_close(t);
  return st;
}

/* One zstd decompression context per thread, kept for its life:
 * ZSTD_decompress would allocate (and zero) a new one, about 100 KiB, for
 * every block. Freed by the key's destructor when the thread exits. */
static pthread_key_t dctx_key;
static pthread_once_t dctx_once = PTHREAD_ONCE_INIT;
static int dctx_key_ok;

static void dctx_free(void *p) {
  ZSTD_freeDCtx(p);
}

static void dctx_init(void) {
  dctx_key_ok = pthread_key_create(&dctx_key, dctx_free) == 0;
}

static size_t zstd_decompress(char *dst, size_t cap, const char *src, size_t n) {
  pthread_once(&dctx_once, dctx_init);
  ZSTD_DCtx *d = dctx_key_ok ? pthread_getspecific(dctx_key) : NULL;
  if (!d && dctx_key_ok && (d = ZSTD_createDCtx()) != NULL && pthread_setspecific(dctx_key, d) != 0) {
    ZSTD_freeDCtx(d);
    d = NULL;
  }
  /* Without a context (out of memory) the one-shot call still works. */
  return d ? ZSTD_decompressDCtx(d, dst, cap, src, n) : ZSTD_decompress(dst, cap, src, n);
}

/* Block i's uncompressed bytes: borrowed from the map, or decompressed
 * into buf (cap bytes) when it fits, else into *owned (caller frees). */
static hdb_status read_block(hdb__lsm_table *t, size_t i, int force_verify, char *buf, size_t cap,
                             const char **data, size_t *size, char **owned, hdb_error *err) {
  idx_entry *e = &t->idx[i];
  const char *p = t->map + e->off;
  int type;
  *owned = NULL;
  /* T1, T2: the file never changes, so a block verified once stays good; a
   * relaxed flag is enough (a thread that misses it verifies again). */
  unsigned state = atomic_load_explicit(&e->state, memory_order_relaxed);
  if (force_verify || state == 0) {
    hdb_status st = check_block(t, e->off, e->size, "data", err);
    if (st != HDB_OK) return st;
    type = (unsigned char)p[e->size];
    atomic_store_explicit(&e->state, (unsigned char)(1 + type), memory_order_relaxed);
  } else {
    type = (int)state - 1;
  }
  if (type == 0) {
    *data = p;
    *size = (size_t)e->size;
    return HDB_OK;
  }
  const char *q = p, *end = p + e->size;
  uint64_t raw;
  if (!hdb__lsm_getv(&q, end, &raw) || raw > INT32_MAX)
    return hdb__fail(err, HDB_CORRUPT, "kv: %s: bad compressed data block at offset %llu", t->path,
                     (unsigned long long)e->off);
  char *dst = buf;
  if (raw > cap || !buf) {
    dst = hdb__malloc(raw ? (size_t)raw : 1);
    if (!dst)
      return hdb__fail(err, HDB_NOMEM, "kv: %s: out of memory for a %llu-byte block", t->path,
                       (unsigned long long)raw);
    *owned = dst;
  }
  size_t got;
  if (type == HDB__LSM_COMPRESS_LZ4) {
    int r = LZ4_decompress_safe(q, dst, (int)(end - q), (int)raw);
    got = r < 0 ? (size_t)-1 : (size_t)r;
  } else {
    size_t r = zstd_decompress(dst, (size_t)raw, q, (size_t)(end - q));
    got = ZSTD_isError(r) ? (size_t)-1 : r;
  }
  if (got != raw) {
    hdb__free_mem(*owned);
    *owned = NULL;
    return hdb__fail(err, HDB_CORRUPT, "kv: %s: data block at offset %llu does not decompress",
                     t->path, (unsigned long long)e->off);
  }
  *data = dst;
  *size = (size_t)raw;
  return HDB_OK;
}

/* First block whose last key >= ikey (nblocks when none). */
static size_t find_block(const hdb__lsm_table *t, const char *ikey, size_t klen) {
  size_t lo = 0, hi = t->nblocks;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const idx_entry *e = &t->idx[mid];
    if (hdb__lsm_ikey_cmp(t->keys + e->koff, e->klen, ikey, klen) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

hdb_status hdb__lsm_table_get(hdb__lsm_table *t, const char *key, size_t klen, uint64_t seq,
                              int *found, int *type, void **val, size_t *vlen, hdb_error *err) {
  *found = 0;
  if (t->filter && !hdb__lsm_bloom_may_match(t->filter, t->filter_size, hdb__lsm_key_hash(key, klen)))
    return HDB_OK;
  char ibuf[256], kbuf[1024];
  char *ikey = ibuf, *heapk = NULL, *owned = NULL;
  hdb__lsm_cblock *cb = NULL;
  hdb_status st = HDB_OK;
  if (klen + 8 > sizeof ibuf) {
    ikey = heapk = hdb__malloc(klen + 8);
    if (!ikey) return hdb__fail(err, HDB_NOMEM, "kv: out of memory");
  }
  memcpy(ikey, key, klen);
  hdb__lsm_put64(ikey + klen, HDB__LSM_TAG(seq, HDB__LSM_PUT));
  size_t i = find_block(t, ikey, klen + 8);
  if (i == t->nblocks) goto done;
  const char *data, *v;
  size_t size, ek, vl;
  const idx_entry *ie = &t->idx[i];
  /* A compressed block comes from the cache, or is decompressed (and
   * verified, by read_block) once and put there. An uncompressed one is
   * used in place, in the map. */
  unsigned state = atomic_load_explicit(&ie->state, memory_order_relaxed);
  int compressed = t->cache && (state ? state > 1
                                      : ie->off < t->size && ie->size < t->size - ie->off &&
                                            t->map[ie->off + ie->size] != 0);
  if (compressed && (cb = hdb__lsm_cache_lookup(t->cache, t->cache_id, i)) != NULL) {
    data = hdb__lsm_cblock_data(cb, &size);
  } else {
    if ((st = read_block(t, i, 0, NULL, 0, &data, &size, &owned, err)) != HDB_OK)
      goto done;
    if (compressed && owned && (cb = hdb__lsm_cache_insert(t->cache, t->cache_id, i, owned, size))) {
      owned = NULL; /* the cache owns it now */
      data = hdb__lsm_cblock_data(cb, &size);
    }
  }
  char *kb = kbuf;
  size_t kcap = sizeof kbuf;
  int r = hdb__lsm_block_seek(data, size, ikey, klen + 8, kb, kcap, &ek, &v, &vl, t->path,
                              t->idx[i].off, err);
  if (r == -2) {
    hdb__free_mem(heapk);
    heapk = NULL;
    /* A key longer than the stack buffer: retry with one as big as the block. */
    char *big = hdb__malloc(size);
    if (!big) {
      st = hdb__fail(err, HDB_NOMEM, "kv: out of memory");
      goto done;
    }
    char *ik2 = hdb__malloc(klen + 8);
    if (!ik2) {
      hdb__free_mem(big);
      st = hdb__fail(err, HDB_NOMEM, "kv: out of memory");
      goto done;
    }
    memcpy(ik2, key, klen);
    hdb__lsm_put64(ik2 + klen, HDB__LSM_TAG(seq, HDB__LSM_PUT));
    r = hdb__lsm_block_seek(data, size, ik2, klen + 8, big, size, &ek, &v, &vl, t->path,
                            t->idx[i].off, err);
    hdb__free_mem(ik2);
    if (r == 1 && ek - 8 == klen && memcmp(big, key, klen) == 0) {
      *found = 1;
      *type = (int)(hdb__lsm_get64(big + ek - 8) & 0xff);
    }
    hdb__free_mem(big);
    if (r < 0) st = HDB_CORRUPT;
  } else if (r < 0) {
    st = HDB_CORRUPT;
  } else if (r == 1 && ek - 8 == klen && memcmp(kb, key, klen) == 0) {
    *found = 1;
    *type = (int)(hdb__lsm_get64(kb + ek - 8) & 0xff);
  }
  if (st == HDB_OK && *found && *type == HDB__LSM_PUT) {
    char *copy = hdb__malloc(vl + 1);
    if (!copy) {
      st = hdb__fail(err, HDB_NOMEM, "kv: out of memory for a %zu-byte value", vl);
      *found = 0;
      goto done;
    }
    if (vl) memcpy(copy, v, vl);
    copy[vl] = '\0';
    *val = copy;
    *vlen = vl;
  } else if (st == HDB_OK && *found && *type != HDB__LSM_DEL) {
    st = hdb__fail(err, HDB_CORRUPT, "kv: %s: bad entry type in the block at offset %llu", t->path,
                   (unsigned long long)t->idx[i].off);
    *found = 0;
  }
done:
  hdb__lsm_cache_release(cb);
  hdb__free_mem(owned);
  hdb__free_mem(heapk);
  return st;
}

/* ------------------------------------------------------------------ */
/* Two-level iterator                                                  */
/* ------------------------------------------------------------------ */

typedef struct tbl_iter {
  hdb__lsm_it base;
  hdb__lsm_table *t;
  size_t bi;
  hdb__lsm_it *blk;
} tbl_iter;

static void ti_sync(tbl_iter *it) {
  hdb__lsm_it *b = it->blk;
  it->base.valid = b && b->valid;
  if (b && b->st != HDB_OK) {
    it->base.st = b->st;
    it->base.err = b->err;
    it->base.valid = 0;
  }
  if (it->base.valid) {
    it->base.key = b->key;
    it->base.klen = b->klen;
    it->base.val = b->val;
    it->base.vlen = b->vlen;
  }
}

static int ti_load(tbl_iter *it, size_t i) {
  /* Seeks that land in the block already loaded reuse it. */
  if (it->blk && it->bi == i && it->base.st == HDB_OK && it->blk->st == HDB_OK) return 1;
  if (it->blk) {
    it->blk->vt->close(it->blk);
    it->blk = NULL;
  }
  it->base.valid = 0;
  if (it->base.st != HDB_OK || i >= it->t->nblocks) return 0;
  const char *data;
  size_t size;
  char *owned;
  hdb_status st = read_block(it->t, i, 0, NULL, 0, &data, &size, &owned, &it->base.err);
  if (st == HDB_OK)
    st = hdb__lsm_block_iter(data, size, owned, it->t->path, it->t->idx[i].off, &it->blk,
                             &it->base.err);
  if (st != HDB_OK) {
    it->base.st = st;
    return 0;
  }
  it->bi = i;
  return 1;
}

static void ti_skip_fwd(tbl_iter *it) {
  while (it->blk && !it->blk->valid && it->blk->st == HDB_OK) {
    if (!ti_load(it, it->bi + 1)) return;
    it->blk->vt->first(it->blk);
  }
  ti_sync(it);
}

static void ti_skip_back(tbl_iter *it) {
  while (it->blk && !it->blk->valid && it->blk->st == HDB_OK) {
    if (it->bi == 0 || !ti_load(it, it->bi - 1)) {
      it->base.valid = 0;
      return;
    }
    it->blk->vt->last(it->blk);
  }
  ti_sync(it);
}

static void ti_first(hdb__lsm_it *b) {
  tbl_iter *it = (tbl_iter *)b;
  if (!ti_load(it, 0)) return;
  it->blk->vt->first(it->blk);
  ti_skip_fwd(it);
}
static void ti_last(hdb__lsm_it *b) {
  tbl_iter *it = (tbl_iter *)b;
  if (it->t->nblocks == 0 || !ti_load(it, it->t->nblocks - 1)) return;
  it->blk->vt->last(it->blk);
  ti_skip_back(it);
}
static void ti_seek(hdb__lsm_it *b, const char *k, size_t n) {
  tbl_iter *it = (tbl_iter *)b;
  if (!ti_load(it, find_block(it->t, k, n))) return;
  it->blk->vt->seek(it->blk, k, n);
  ti_skip_fwd(it);
}
static void ti_next(hdb__lsm_it *b) {
  tbl_iter *it = (tbl_iter *)b;
  it->blk->vt->next(it->blk);
  ti_skip_fwd(it);
}
static void ti_prev(hdb__lsm_it *b) {
  tbl_iter *it = (tbl_iter *)b;
  it->blk->vt->prev(it->blk);
  ti_skip_back(it);
}
static void ti_close(hdb__lsm_it *b) {
  tbl_iter *it = (tbl_iter *)b;
  if (it->blk) it->blk->vt->close(it->blk);
  hdb__free_mem(it);
}

static const hdb__lsm_it_vt ti_vt = {ti_first, ti_last, ti_seek, ti_next, ti_prev, ti_close};

hdb_status hdb__lsm_table_iter(hdb__lsm_table *t, hdb__lsm_it **out, hdb_error *err) {
  tbl_iter *it = hdb__calloc(1, sizeof *it);
  if (!it) return hdb__fail(err, HDB_NOMEM, "kv: out of memory for a table iterator");
  it->base.vt = &ti_vt;
  it->t = t;
  *out = &it->base;
  return HDB_OK;
}

hdb_status hdb__lsm_table_verify(hdb__lsm_table *t, hdb_error *err) {
  hdb__lsm_buf prev = {0};
  uint64_t count = 0;
  hdb_status st = HDB_OK;
  for (size_t i = 0; i < t->nblocks && st == HDB_OK; i++) {
    const char *data;
    size_t size;
    char *owned;
    hdb__lsm_it *b;
    if ((st = read_block(t, i, 1, NULL, 0, &data, &size, &owned, err)) != HDB_OK) break;
    if ((st = hdb__lsm_block_iter(data, size, owned, t->path, t->idx[i].off, &b, err)) != HDB_OK)
      break;
    for (b->vt->first(b); b->valid; b->vt->next(b)) {
      int type = (int)(hdb__lsm_ikey_tag(b->key, b->klen) & 0xff);
      if ((prev.len && hdb__lsm_ikey_cmp(prev.p, prev.len, b->key, b->klen) >= 0) ||
          (type != HDB__LSM_PUT && type != HDB__LSM_DEL)) {
        st = hdb__fail(err, HDB_CORRUPT, "kv: %s: bad or out-of-order entry in the block at offset %llu",
                       t->path, (unsigned long long)t->idx[i].off);
        break;
      }
      if ((st = hdb__lsm_buf_set(&prev, b->key, b->klen, err)) != HDB_OK) break;
      count++;
    }
    if (st == HDB_OK && b->st != HDB_OK) {
      st = b->st;
      if (err) *err = b->err;
    }
    if (st == HDB_OK && (prev.len < 8 || hdb__lsm_ikey_cmp(prev.p, prev.len, t->keys + t->idx[i].koff,
                                                          t->idx[i].klen) != 0))
      st = hdb__fail(err, HDB_CORRUPT, "kv: %s: index key of the block at offset %llu does not match it",
                     t->path, (unsigned long long)t->idx[i].off);
    b->vt->close(b);
  }
  if (st == HDB_OK && count != t->entries)
    st = hdb__fail(err, HDB_CORRUPT, "kv: %s: footer says %llu entries, blocks hold %llu", t->path,
                   (unsigned long long)t->entries, (unsigned long long)count);
  hdb__lsm_buf_free(&prev);
  return st;
}

/*
 * kv.h - the LSM key-value store of the native engine (internal API).
 *
 * One store lives in one directory and is written by one process at a time
 * (an advisory flock on DIR/LOCK; a second opener waits up to
 * lock_timeout_ms and then gets HDB_BUSY). With reader_attach, a handle
 * instead opens an existing store as a reader, without the lock: it reads
 * CURRENT, the MANIFEST, the tables and the WAL tail into a private
 * memtable and never writes a file; each get, iterator or snapshot first
 * catches up with the writer (cheaply: one pread of LOCK and one fstat of
 * the WAL when nothing changed), so it sees every write acknowledged
 * before it started, whole batches only, never going back in time. The
 * first write (or flush, compact, hdb__lsm_become_writer) of a reader
 * takes the lock, waiting up to lock_timeout_ms (HDB_BUSY when another
 * process keeps it), recovers as the writer and from then on holds the
 * lock until close. The mode is per handle (README.md, R1-R8). Inside the
 * process a store
 * handle is safe to use from many threads: reads (get, iterators,
 * snapshots) run concurrently, writes are serialized through a group
 * commit queue. Handles of the same directory must be shared by the
 * caller (the native backend keeps one per path); a second open of the
 * same directory in the same process also waits on the lock (or, with
 * reader_attach, attaches as a reader).
 *
 * Keys and values are byte strings; keys order by memcmp, then shorter
 * first (hdb__key_compare). The store has no namespaces of its own: the
 * native backend maps namespace NS and key K to the store key
 * "NS\0K" ("" + "\0" + K for the default namespace). Namespace names
 * contain no NUL byte, so each namespace is one contiguous key range,
 * ordered inside by K, and iterating a namespace is a prefix scan of
 * "NS\0".
 *
 * Durability (hdb__lsm_options.sync):
 *   FULL    a write returns after its WAL record is fdatasync'ed.
 *   NORMAL  the WAL is fdatasync'ed at log rotation, at close and at most
 *           sync_interval_ms after a commit; a process crash loses nothing,
 *           a power loss loses at most that interval.
 *   OFF     the WAL is never synced (a process crash still loses nothing).
 * In every mode, tables, the MANIFEST and CURRENT are synced before they
 * are relied on, so the store is never structurally damaged by a crash.
 *
 * Reads of compressed tables keep decompressed blocks in a per-handle
 * block cache (block_cache_size bytes, LRU; README.md "Block cache").
 *
 * Errors: every function returns an hdb_status and fills err (may be NULL)
 * with a message that names the file and, for corruption, the offset.
 * Corrupt data gives HDB_CORRUPT; an I/O failure gives HDB_IO. A failed
 * WAL or MANIFEST write makes the store refuse further writes (the error is
 * sticky) while reads keep working.
 *
 * The on-disk format, the commit protocol and the recovery procedure are
 * described in README.md next to this file.
 */
#ifndef HDB_ENGINE_KV_H
#define HDB_ENGINE_KV_H

#include <stddef.h>
#include <stdint.h>

#include "hanzodb.h"

typedef enum hdb__lsm_sync {
  HDB__LSM_SYNC_FULL = 0,
  HDB__LSM_SYNC_NORMAL = 1,
  HDB__LSM_SYNC_OFF = 2
} hdb__lsm_sync;

typedef enum hdb__lsm_compression {
  HDB__LSM_COMPRESS_NONE = 0,
  HDB__LSM_COMPRESS_LZ4 = 1,
  HDB__LSM_COMPRESS_ZSTD = 2
} hdb__lsm_compression;

/* Every field has a default; zero means "the default" for sizes. */
typedef struct hdb__lsm_options {
  hdb__lsm_sync sync;               /* FULL */
  int sync_interval_ms;             /* NORMAL's bound on unsynced time; 1000 */
  size_t memtable_size;             /* bytes before a memtable is flushed; 4 MiB */
  size_t block_size;                /* uncompressed data block target; 4 KiB */
  int bloom_bits;                   /* bits per key; 10; negative: no filter */
  hdb__lsm_compression compression; /* per block, kept only when it saves 1/8 */
  int zstd_level;                   /* 3 */
  size_t table_size;                /* target size of one table; 2 MiB */
  uint64_t level1_size;             /* bytes at level 1; each level is 10x; 10 MiB */
  int l0_compaction_trigger;        /* level-0 tables that start a compaction; 4 */
  int l0_slowdown_trigger;          /* ... that delay each write by 1 ms; 8 */
  int l0_stop_trigger;              /* ... that stop writes until compacted; 12 */
  int lock_timeout_ms;              /* wait for another holder of LOCK; 5000; < 0: none */
  int error_if_exists;              /* fail with HDB_EXISTS if DIR holds a store */
  int no_create;                    /* fail with HDB_NOT_FOUND if DIR holds no store */
  int reader_attach;                /* open an existing store as a reader (see above); 0 */
  long long block_cache_size;       /* bytes of decompressed blocks kept for gets; 8 MiB; < 0: none */
} hdb__lsm_options;

#define HDB__LSM_OPTIONS_INIT {HDB__LSM_SYNC_FULL, 1000, 0, 0, 10, HDB__LSM_COMPRESS_NONE, 3, 0, 0, 4, 8, 12, 5000, 0, 0, 0, 0}

typedef struct hdb__lsm hdb__lsm;
typedef struct hdb__lsm_snapshot hdb__lsm_snapshot;
typedef struct hdb__lsm_iter hdb__lsm_iter;

/* Limits of one key and one value (the public API's are smaller). */
#define HDB__LSM_MAX_KEY (1u << 20)
#define HDB__LSM_MAX_VALUE (1u << 30)

/* Opens (creating DIR and the store unless no_create) and recovers the
 * store: replays the MANIFEST and the WAL, discards a torn WAL tail, and
 * fails with HDB_CORRUPT on a bad checksum anywhere else. opt may be NULL
 * (defaults). On success *out is owned by the caller (hdb__lsm_close). */
hdb_status hdb__lsm_open(const char *dir, const hdb__lsm_options *opt, hdb__lsm **out,
                         hdb_error *err);
/* A reader handle becomes the writer: takes LOCK (waiting up to
 * lock_timeout_ms; HDB_BUSY naming LOCK when another process holds it),
 * then recovers as the writer. HDB_OK at once for a writer. Snapshots and
 * iterators of the reader stay valid. */
hdb_status hdb__lsm_become_writer(hdb__lsm *db, hdb_error *err);

/* Waits for background work, syncs the WAL, releases the lock and frees
 * the handle. Every snapshot and iterator must be released first. NULL is
 * a no-op. */
void hdb__lsm_close(hdb__lsm *db);

/* Reads key at snap (NULL: the latest state). On HDB_OK *val is owned
 * (hdb__free_mem) and NUL-terminated past *vlen; HDB_NOT_FOUND when the key
 * is absent or deleted. */
hdb_status hdb__lsm_get(hdb__lsm *db, const hdb__lsm_snapshot *snap, const void *key,
                        size_t klen, void **val, size_t *vlen, hdb_error *err);
hdb_status hdb__lsm_put(hdb__lsm *db, const void *key, size_t klen, const void *val,
                        size_t vlen, hdb_error *err);
/* Deleting an absent key succeeds (it writes a tombstone). */
hdb_status hdb__lsm_delete(hdb__lsm *db, const void *key, size_t klen, hdb_error *err);

/* A batch: operations in order, applied all or none. The batch owns its
 * memory and copies its arguments; the store never keeps a pointer to it. */
typedef struct hdb__lsm_batch {
  char *rep; /* 12-byte header (sequence, count) then the operations */
  size_t len, cap;
  uint32_t count;
} hdb__lsm_batch;
void hdb__lsm_batch_init(hdb__lsm_batch *b);
void hdb__lsm_batch_free(hdb__lsm_batch *b);
void hdb__lsm_batch_clear(hdb__lsm_batch *b);
hdb_status hdb__lsm_batch_put(hdb__lsm_batch *b, const void *key, size_t klen, const void *val,
                              size_t vlen, hdb_error *err);
hdb_status hdb__lsm_batch_delete(hdb__lsm_batch *b, const void *key, size_t klen,
                                 hdb_error *err);
/* Commits b atomically (one WAL record). An empty batch is a no-op. */
hdb_status hdb__lsm_write(hdb__lsm *db, const hdb__lsm_batch *b, hdb_error *err);

/* A snapshot pins the state as of now: reads through it see no later
 * write, and compaction keeps every version it needs. Owned;
 * hdb__lsm_snapshot_release (before close). */
hdb_status hdb__lsm_snapshot_acquire(hdb__lsm *db, hdb__lsm_snapshot **out, hdb_error *err);
void hdb__lsm_snapshot_release(hdb__lsm *db, hdb__lsm_snapshot *snap);

/* An ordered iterator over range (NULL: every key; the public
 * hdb_kv_range: prefix, start inclusive, end exclusive, reverse) as of
 * snap (NULL: a snapshot taken now). It pins the tables it reads, so it
 * may stay open across writes and compactions. Owned; hdb__lsm_iter_close
 * (before the store's close). */
hdb_status hdb__lsm_iter_open(hdb__lsm *db, const hdb__lsm_snapshot *snap,
                              const hdb_kv_range *range, hdb__lsm_iter **out, hdb_error *err);
/* HDB_OK with key and value borrowed until the next call on it, HDB_DONE
 * at the end of the range, or an error (sticky). */
hdb_status hdb__lsm_iter_next(hdb__lsm_iter *it, const void **key, size_t *klen,
                              const void **val, size_t *vlen, hdb_error *err);
/* Next returns the first key >= key (<= key when reverse) inside the
 * range. */
hdb_status hdb__lsm_iter_seek(hdb__lsm_iter *it, const void *key, size_t klen, hdb_error *err);
void hdb__lsm_iter_close(hdb__lsm_iter *it);

/* Flushes the memtable to a table and waits for it. */
hdb_status hdb__lsm_flush(hdb__lsm *db, hdb_error *err);
/* Flushes, then compacts every table overlapping [start, end] (NULL:
 * unbounded) level by level down to the last level with data, dropping
 * overwritten versions and tombstones no snapshot needs. */
hdb_status hdb__lsm_compact(hdb__lsm *db, const void *start, size_t slen, const void *end,
                            size_t elen, hdb_error *err);
/* Reads and verifies every live file: each table's footer, index, filter
 * and every block checksum and key order; the MANIFEST; the WAL. The first
 * problem gives HDB_CORRUPT naming the file and the offset. */
hdb_status hdb__lsm_check(hdb__lsm *db, hdb_error *err);

#define HDB__LSM_LEVELS 7
typedef struct hdb__lsm_stats {
  uint64_t last_sequence;
  uint64_t files[HDB__LSM_LEVELS];
  uint64_t bytes[HDB__LSM_LEVELS];
  uint64_t memtable_bytes;   /* active + immutable memtable */
  uint64_t wal_bytes;        /* bytes appended to the WAL since open */
  uint64_t wal_syncs;
  uint64_t commit_groups;    /* WAL records (group commits) since open */
  uint64_t batches;          /* batches committed since open */
  uint64_t flushes;
  uint64_t compactions;      /* including trivial moves */
  uint64_t compaction_bytes_read;
  uint64_t compaction_bytes_written;
  uint64_t write_stalls;     /* writes that waited for a flush or compaction */
  uint64_t snapshots;        /* live snapshots */
  uint64_t reader;           /* 1 while the handle is attached as a reader */
  uint64_t reader_refreshes; /* reader: full refreshes (the writer's generation moved) */
  uint64_t reader_retries;   /* reader: refresh attempts redone (files moved under it) */
  uint64_t block_cache_hits, block_cache_misses; /* gets of compressed blocks */
  uint64_t block_cache_bytes;                    /* charged now */
} hdb__lsm_stats;
void hdb__lsm_stats_get(hdb__lsm *db, hdb__lsm_stats *out);

#endif

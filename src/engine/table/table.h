/*
 * table.h - versioned columnar tables (the native engine's table store).
 *
 * A table is a directory of immutable files: fragments (columnar row data),
 * deletion files (which rows of a fragment are gone) and one manifest per
 * version (the list of fragments + deletion files + schema + tags). A
 * commit writes new fragment/deletion files, then the next manifest, and
 * becomes visible by one rename. Readers pin a version (a snapshot) and
 * see exactly it until they unpin. README.md in this folder is the format
 * and the protocol; this header is the interface the native backend uses.
 *
 * Ownership and lifetimes:
 *  - hdb__tbl (a handle on one table directory) is owned by its opener and
 *    closed with hdb__tbl_close; snapshots and scans it produced may
 *    outlive it (they hold their own references).
 *  - hdb__tbl_snap (a pinned version) is owned by the caller until
 *    hdb__tbl_unpin. While pinned, retention in this process keeps the
 *    version and its files.
 *  - Pointers returned from a snapshot (schema, vector blocks, borrowed
 *    records of a scan) stay valid until the snapshot is unpinned (scan
 *    rows: until the next call on the scan).
 *
 * Threads: one hdb__tbl may be used by several threads; writes serialize
 * on the table's writer lock (an flock, so also across processes).
 */
#ifndef HDB_ENGINE_TABLE_H
#define HDB_ENGINE_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "hanzodb.h"
#include "core/filter.h"

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

/* How a commit reaches the disk (README.md, "Durability"):
 *  FULL   fsync every new file, the manifest, and the directory after the
 *         rename: a commit that returned HDB_OK survives power loss.
 *  NORMAL fsync files and the directory before the rename, not after: after
 *         power loss the newest commits may be missing, never torn.
 *  OFF    no fsync: survives a process crash (the page cache keeps the
 *         writes), not an OS crash or power loss. */
typedef enum hdb__tbl_sync { HDB__TBL_SYNC_FULL = 0, HDB__TBL_SYNC_NORMAL, HDB__TBL_SYNC_OFF } hdb__tbl_sync;

typedef enum hdb__tbl_codec {
  HDB__TBL_CODEC_RAW = 0,
  HDB__TBL_CODEC_ZSTD = 1,
  HDB__TBL_CODEC_LZ4 = 2
} hdb__tbl_codec;

typedef struct hdb__tbl_options {
  hdb__tbl_sync sync;
  int lock_timeout_ms;         /* writer lock wait; 0: 10,000 ms; < 0: do not wait */
  uint32_t chunk_rows;         /* rows per column chunk; 0: 65,536 */
  uint64_t max_fragment_rows;  /* a write is split into fragments of at most this; 0: 1,048,576 */
  hdb__tbl_codec codec;        /* compression tried for chunks (RAW never compresses); default LZ4
                                  (decodes ~4x faster than zstd: scans); ZSTD packs tighter */
  int create;                  /* hdb__tbl_open: create the table when the directory has none */
  const hdb_schema *schema;    /* with create: the new table's schema (NULL: schemaless) */
} hdb__tbl_options;

#define HDB__TBL_OPTIONS_INIT {HDB__TBL_SYNC_FULL, 0, 0, 0, HDB__TBL_CODEC_LZ4, 0, NULL}

typedef struct hdb__tbl hdb__tbl;
typedef struct hdb__tbl_snap hdb__tbl_snap;
typedef struct hdb__tbl_scan hdb__tbl_scan;

/* ------------------------------------------------------------------ */
/* Opening                                                             */
/* ------------------------------------------------------------------ */

/*
 * Opens the table in directory `dir` (opt may be NULL for defaults). With
 * opt->create, a missing directory is created and, when it holds no
 * manifest, version 1 (empty, with opt->schema) is committed. Recovery:
 * the newest manifest is read and its checksums verified; temp files of
 * crashed commits are ignored (removed by the next cleanup). Errors:
 * HDB_NOT_FOUND (no table there and not create), HDB_IO, HDB_CORRUPT
 * (naming the file), HDB_BUSY (create waiting for the writer lock),
 * HDB_NOMEM. *out is owned (hdb__tbl_close).
 */
hdb_status hdb__tbl_open(const char *dir, const hdb__tbl_options *opt, hdb__tbl **out,
                         hdb_error *err);
/* Closes the handle; snapshots still pinned keep working. NULL is a no-op. */
void hdb__tbl_close(hdb__tbl *t);
/* The directory; borrowed for the handle's life. */
const char *hdb__tbl_dir(const hdb__tbl *t);

/* ------------------------------------------------------------------ */
/* Snapshots (pinned versions)                                         */
/* ------------------------------------------------------------------ */

/* Pins `version` (0: the newest committed version, seen across processes).
 * HDB_NOT_FOUND when that version does not exist (never committed or
 * removed by retention); HDB_CORRUPT / HDB_IO naming the file. */
hdb_status hdb__tbl_pin(hdb__tbl *t, int64_t version, hdb__tbl_snap **out, hdb_error *err);
/* Pins the newest version committed at or before ts_us (µs since the
 * epoch). HDB_NOT_FOUND when every version is newer. */
hdb_status hdb__tbl_pin_at(hdb__tbl *t, int64_t ts_us, hdb__tbl_snap **out, hdb_error *err);
/* Pins the version the tag names; HDB_NOT_FOUND for an unknown tag. */
hdb_status hdb__tbl_pin_tag(hdb__tbl *t, const char *tag, hdb__tbl_snap **out, hdb_error *err);
/* Releases a pin. NULL is a no-op. */
void hdb__tbl_unpin(hdb__tbl_snap *s);

int64_t hdb__tbl_snap_version(const hdb__tbl_snap *s);
int64_t hdb__tbl_snap_timestamp(const hdb__tbl_snap *s);
/* The version's schema (NULL: schemaless); borrowed until unpin. */
const hdb_schema *hdb__tbl_snap_schema(const hdb__tbl_snap *s);
/* Live rows (physical rows minus deleted ones). */
uint64_t hdb__tbl_snap_rows(const hdb__tbl_snap *s);
size_t hdb__tbl_snap_fragments(const hdb__tbl_snap *s);

/*
 * The vector column `column` of fragment `frag` (0-based, < fragments) as
 * one contiguous float32 block in the memory-mapped file: *data points to
 * rows * dim floats, 64-byte aligned, valid until unpin. Deleted rows are
 * still in the block: *deleted (may be NULL when none) is a bitset of
 * `rows` bits, bit r set = row r deleted; null vectors are zeros with their
 * bit set in *nulls (NULL when none). The block's checksum is verified on
 * first use. Errors: HDB_NO_FIELD (not a vector column), HDB_CORRUPT.
 * A fragment written before the column existed gives *data NULL, rows
 * counted, every row null.
 */
hdb_status hdb__tbl_vector_block(hdb__tbl_snap *s, size_t frag, const char *column,
                                 const float **data, uint64_t *rows, uint32_t *dim,
                                 const uint8_t **deleted, const uint8_t **nulls, hdb_error *err);

/* The row with this id in the snapshot; owned (hdb_record_free). Null
 * values are not materialized (an absent field reads as null).
 * HDB_NOT_FOUND when absent. */
hdb_status hdb__tbl_get(hdb__tbl_snap *s, const char *id, hdb_record **out, hdb_error *err);

/* ------------------------------------------------------------------ */
/* Scans                                                               */
/* ------------------------------------------------------------------ */

typedef struct hdb__tbl_scan_stats {
  uint64_t chunks_total;   /* chunks of the pinned fragments considered */
  uint64_t chunks_skipped; /* excluded by their zone maps without reading */
  uint64_t rows_read;      /* rows materialized and tested */
  uint64_t rows_matched;
} hdb__tbl_scan_stats;

typedef struct hdb__tbl_scan_options {
  const hdb__expr *filter;   /* NULL: every row; bound by the caller (hdb__filter_bind) */
  const char *const *fields; /* projection (schema columns); NULL: every column */
  size_t n_fields;
} hdb__tbl_scan_options;

/* Opens a scan over the snapshot (which the scan references: the caller
 * may unpin while the scan is open). Chunks whose zone maps prove that no
 * row can satisfy the filter are skipped; the full filter is then
 * evaluated with hdb__filter_match on each remaining row. Only the
 * projected and filtered columns are read. Errors: HDB_NO_FIELD for a
 * projected field that is not a column. */
hdb_status hdb__tbl_scan_open(hdb__tbl_snap *s, const hdb__tbl_scan_options *o,
                              hdb__tbl_scan **out, hdb_error *err);
/* Next matching row: HDB_OK with *rec borrowed (valid until the next call
 * or close; clone it to keep it), HDB_DONE at the end, HDB_CORRUPT naming
 * the file and chunk, HDB_NOMEM. Rows come fragment by fragment in row
 * order. *frag and *row (may be NULL) receive the row's position. */
hdb_status hdb__tbl_scan_next(hdb__tbl_scan *sc, const hdb_record **rec, size_t *frag,
                              uint64_t *row, hdb_error *err);
void hdb__tbl_scan_stats_get(const hdb__tbl_scan *sc, hdb__tbl_scan_stats *out);
void hdb__tbl_scan_close(hdb__tbl_scan *sc);

/* ------------------------------------------------------------------ */
/* Writes: each call is one commit (one new version)                   */
/* ------------------------------------------------------------------ */

typedef enum hdb__tbl_write_mode { HDB__TBL_INSERT, HDB__TBL_UPSERT } hdb__tbl_write_mode;

/*
 * Writes n records (the caller keeps them; they are conformed to the
 * schema on a copy). INSERT fails with HDB_DUPLICATE_ID when an id exists
 * or repeats in the batch; UPSERT replaces existing rows (an id repeated
 * in the batch: the last wins) and never leaves two rows with one id.
 * *version (may be NULL) receives the committed version. Errors: those of
 * hdb__schema_conform, HDB_BUSY (writer lock timeout), HDB_IO, HDB_CORRUPT,
 * HDB_NOMEM. A failed call commits nothing.
 */
hdb_status hdb__tbl_write(hdb__tbl *t, hdb_record *const *records, size_t n,
                          hdb__tbl_write_mode mode, int64_t *version, hdb_error *err);
/* Applies patch (null clears a field) to the row `id` (HDB_NOT_FOUND when
 * absent) or, with id NULL, to every row matching filter (NULL: all).
 * Updated rows are deleted and appended again (one commit). */
hdb_status hdb__tbl_update(hdb__tbl *t, const char *id, const hdb__expr *filter,
                           const hdb_record *patch, uint64_t *updated, hdb_error *err);
/* Deletes the row `id` (HDB_NOT_FOUND when absent) or, with id NULL, every
 * row matching filter (NULL: all). */
hdb_status hdb__tbl_delete(hdb__tbl *t, const char *id, const hdb__expr *filter,
                           uint64_t *deleted, hdb_error *err);
/* Deletes the rows with these ids; absent ids are ignored. */
hdb_status hdb__tbl_delete_ids(hdb__tbl *t, const char *const *ids, size_t n, uint64_t *deleted,
                               hdb_error *err);
/* Replaces the schema: columns may be added or dropped, a kept column keeps
 * its type (HDB_BAD_SCHEMA otherwise); rows read a new column as null.
 * Schemaless and schema'd tables cannot be switched (HDB_BAD_SCHEMA). */
hdb_status hdb__tbl_alter(hdb__tbl *t, const hdb_schema *schema, hdb_error *err);
/* Names version `version` (0: newest) with tag (1..128 name characters);
 * moves an existing tag. tag removal: hdb__tbl_untag. A commit. */
hdb_status hdb__tbl_tag(hdb__tbl *t, const char *tag, int64_t version, hdb_error *err);
hdb_status hdb__tbl_untag(hdb__tbl *t, const char *tag, hdb_error *err);
/* Commits the contents of `version` as the newest version (tags stay as
 * they are now). HDB_NOT_FOUND when it is gone. */
hdb_status hdb__tbl_restore(hdb__tbl *t, int64_t version, int64_t *new_version,
                            hdb_error *err);

/* Versions from oldest to newest, with timestamps and tags (from the newest
 * manifest's tag map). Owned (hdb_version_info_free). */
hdb_status hdb__tbl_versions(hdb__tbl *t, hdb_version_info **out, size_t *count, hdb_error *err);

/* ------------------------------------------------------------------ */
/* Maintenance                                                         */
/* ------------------------------------------------------------------ */

typedef struct hdb__tbl_compact_options {
  uint64_t target_rows;     /* rows per rewritten fragment; 0: max_fragment_rows */
  double max_deleted_ratio; /* rewrite a fragment whose deleted share exceeds this; 0: 0.1 */
  uint64_t small_rows;      /* fragments below this many rows are merged; 0: target_rows / 4 */
} hdb__tbl_compact_options;

typedef struct hdb__tbl_compact_stats {
  uint64_t fragments_removed, fragments_written, rows_dropped, rows_rewritten;
  int64_t version; /* the commit, 0 when nothing needed compaction */
} hdb__tbl_compact_stats;

/* Rewrites fragments with many deleted rows and merges small ones (one
 * commit; nothing when no fragment qualifies). Old files stay until
 * cleanup removes the versions that use them. */
hdb_status hdb__tbl_compact(hdb__tbl *t, const hdb__tbl_compact_options *o,
                            hdb__tbl_compact_stats *stats, hdb_error *err);

typedef struct hdb__tbl_retention {
  uint64_t keep_versions;  /* keep the newest N versions (at least 1) */
  int64_t older_than_us;   /* ... and every version younger than this age; 0: no age rule */
  /* Cross-process readers: versions younger than grace_us are kept
   * whatever the other rules say (README.md rule 9). < 0: 0; 0: 10 s. */
  int64_t grace_us;
} hdb__tbl_retention;

typedef struct hdb__tbl_cleanup_stats {
  uint64_t versions_removed, files_removed, bytes_removed, versions_kept;
} hdb__tbl_cleanup_stats;

/* Removes the manifests of versions the policy does not keep (the newest,
 * tagged versions and versions pinned in this process are always kept),
 * then every data file no kept manifest references and orphan temp files.
 * Takes the writer lock. */
hdb_status hdb__tbl_cleanup(hdb__tbl *t, const hdb__tbl_retention *r,
                            hdb__tbl_cleanup_stats *stats, hdb_error *err);

typedef struct hdb__tbl_check_report {
  uint64_t versions, fragments, deletion_files, chunks, bytes;
  uint64_t orphans; /* files no manifest references (crashed commits; cleanup removes them) */
  hdb_status status;          /* HDB_OK or the first problem */
  char message[HDB_ERRMSG_MAX]; /* the first problem, naming the file */
} hdb__tbl_check_report;

/* Verifies every manifest in the table directory and every file each
 * references: headers, checksums of every chunk, vector block, id index
 * and deletion file, and that row counts agree. Needs no open handle (a
 * table whose newest manifest is corrupt cannot be opened, but can be
 * checked). Returns the first problem's status (err filled naming the
 * file) and fills *report either way. */
hdb_status hdb__tbl_check(const char *dir, hdb__tbl_check_report *report, hdb_error *err);

/* Process-wide counters of this table directory (all handles), for tests
 * and stats: chunk reads and zone-map skips since open. */
void hdb__tbl_stats(hdb__tbl *t, hdb__tbl_scan_stats *out);

/* ------------------------------------------------------------------ */
/* Decoders (also the fuzz targets' entry points)                      */
/* ------------------------------------------------------------------ */

/* Parses a manifest image (name used in messages); HDB_CORRUPT on any
 * inconsistency. Nothing is kept: it only validates. */
hdb_status hdb__tbl_manifest_validate(const void *buf, size_t len, const char *name,
                                      hdb_error *err);
/* Parses a fragment image and reads (decompresses, checks) every chunk,
 * vector block and the id index; HDB_CORRUPT on any inconsistency. */
hdb_status hdb__tbl_fragment_validate(const void *buf, size_t len, const char *name,
                                      hdb_error *err);
/* Same for a deletion file of a fragment of frag_rows rows. */
hdb_status hdb__tbl_deletion_validate(const void *buf, size_t len, uint64_t frag_rows,
                                      const char *name, hdb_error *err);

/* Fuzzing hook, process-wide: with on != 0 the decoders accept any
 * checksum, so a fuzzer can reach the parsing behind them. Never set it
 * outside a fuzz target. */
void hdb__tbl_fuzz_skip_checksums(int on);

/* For tests and inspection: the file names (in the table directory) of
 * fragment `frag` of the snapshot and of its deletion file ("" when it has
 * none), and where chunk `chunk` of `column` lies in the fragment file
 * (column "_id" is the id column; for a vector column, the whole block). */
hdb_status hdb__tbl_debug_layout(hdb__tbl_snap *s, size_t frag, const char *column,
                                 uint32_t chunk, char frag_file[32], char del_file[32],
                                 uint64_t *offset, uint64_t *length, hdb_error *err);

#endif

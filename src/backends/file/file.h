/*
 * file.h - internals of the file:// backend, shared by its source files.
 *
 * The backend is a decorator: every table lives in a private memory://
 * store (hdb__backend_memory's vtable, used only through its methods) and
 * on disk as plain files. file_backend.c owns the connection, the locking
 * and sync protocol and the vtable; file_io.c owns files (stamps, whole-file
 * reads, flock with a timeout, the atomic multi-file commit and its journal);
 * file_jsonl.c and file_csv.c turn file contents into records and back.
 * README.md in this folder states the on-disk layout and the protocol.
 */
#ifndef HDB_BACKENDS_FILE_FILE_H
#define HDB_BACKENDS_FILE_FILE_H

#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "hanzodb.h"
#include "core/cursor.h"
#include "core/strbuf.h"

/* ---- stamps: what a file looked like when we last read or wrote it ---- */

/*
 * A stamp identifies one version of a file by device, inode, size and
 * modification time. While the file exists the stamp holds it open (fd), so
 * the inode cannot be freed and handed to a newer file: a rewrite by another
 * process (always a rename of a new inode) is therefore always seen as a
 * change, however fast it follows ours.
 */
typedef struct hdb__fstamp {
  int valid;  /* 0: unknown; the next sync reloads whatever is on disk */
  int exists; /* valid && !exists: the file was absent */
  int fd;     /* held open while exists, else -1 */
  dev_t dev;
  ino_t ino;
  off_t size;
  int64_t mtime_ns;
} hdb__fstamp;

void hdb__fstamp_init(hdb__fstamp *s);
/* Forgets the stamp (closes its fd); the next comparison reports a change. */
void hdb__fstamp_clear(hdb__fstamp *s);
/* 1 when dir/name is still the version the stamp describes (absent counts). */
int hdb__fstamp_same(const hdb__fstamp *s, int dir_fd, const char *name);
/* Re-stamps dir/name as it is now (absent is fine). HDB_IO on other errors. */
hdb_status hdb__fstamp_refresh(hdb__fstamp *s, int dir_fd, const char *dir, const char *name,
                               hdb_error *err);

/*
 * Reads all of dir/name into *buf (owned, NUL-terminated, hdb__free_mem) and
 * stamps exactly the version read. A missing file gives *buf = NULL, *len 0
 * and an "absent" stamp. HDB_IO names the path and strerror.
 */
hdb_status hdb__file_read(int dir_fd, const char *dir, const char *name, char **buf,
                          size_t *len, hdb__fstamp *stamp, hdb_error *err);


/* ---- atomic change sets ---- */

/* One file to replace (data, owned) or to remove, named relative to the dir. */
typedef struct hdb__fchange {
  char *name;
  char *data;
  size_t len;
  int remove;
} hdb__fchange;

typedef struct hdb__fchanges {
  hdb__fchange *v;
  size_t n, cap;
} hdb__fchanges;

/* Takes the buffer's contents (the buffer is emptied, also on failure).
 * A later change to the same name replaces the earlier one. */
hdb_status hdb__fchanges_put(hdb__fchanges *c, const char *name, hdb__strbuf *data,
                             hdb_error *err);
hdb_status hdb__fchanges_remove(hdb__fchanges *c, const char *name, hdb_error *err);
void hdb__fchanges_free(hdb__fchanges *c);

/*
 * Applies a change set as one atomic step (README rules 4-7): every new
 * file is written to NAME.tmp and fsynced; when more than one file changes,
 * a journal listing the renames and removals is made durable first; then
 * the renames and removals, an fsync of the directory, and the journal is
 * removed. A failure before the renames leaves every file as it was (the
 * temporary files are removed) and returns HDB_IO naming the path. The
 * caller holds the exclusive lock.
 */
hdb_status hdb__file_commit(int dir_fd, const char *dir, const char *journal,
                            const hdb__fchanges *c, hdb_error *err);
/* Completes a commit that a crashed writer left behind (its journal still
 * present); a no-op when there is no journal. Needs the exclusive lock. */
hdb_status hdb__file_recover(int dir_fd, const char *dir, const char *journal, hdb_error *err);
/* 1 when the journal exists. */
int hdb__file_journal_present(int dir_fd, const char *journal);

/* ---- locks and directories ---- */

/* flock with a deadline: HDB_BUSY after timeout_ms, HDB_IO on other errors. */
hdb_status hdb__file_lock(int fd, int exclusive, int timeout_ms, const char *path,
                          hdb_error *err);
void hdb__file_unlock(int fd);
/* mkdir -p. HDB_IO naming the component that failed. */
hdb_status hdb__file_mkdirs(const char *path, hdb_error *err);
/* fsync of an open directory; HDB_IO naming dir. */
hdb_status hdb__file_sync_dir(int dir_fd, const char *dir, hdb_error *err);
/* "dir/name" (owned), NULL when out of memory. */
char *hdb__file_path(const char *dir, const char *name);

/* ---- JSONL tables, KV and index metadata (file_jsonl.c) ---- */

/*
 * Parses a JSONL table: one record per line, blank lines skipped. Every
 * record is conformed to schema (NULL: schemaless) and ids must be unique.
 * Records are appended to rows (owned by it). Errors are HDB_CORRUPT (or
 * HDB_NOMEM) with "FNAME line N: ..." .
 */
hdb_status hdb__jsonl_parse(const char *buf, size_t len, const char *fname, const char *table,
                            const hdb_schema *schema, hdb__rowbuf *rows, hdb_error *err);
/* Appends one line per record. */
hdb_status hdb__jsonl_dump(hdb_record *const *rows, size_t n, hdb__strbuf *out, hdb_error *err);

/* Parses _kv.jsonl into put operations appended to batch (namespaces are
 * added to it as written). HDB_CORRUPT with the line number. */
hdb_status hdb__kv_parse(const char *buf, size_t len, const char *fname, hdb_kv_batch *batch,
                         hdb_error *err);
/* Appends one {"ns","key","value"} line. */
hdb_status hdb__kv_dump_line(hdb__strbuf *out, const char *ns, const void *key, size_t klen,
                             const void *val, size_t vlen);

/* Unique-id check used by both parsers: a small open-addressing set of
 * borrowed strings. */
typedef struct hdb__idset {
  const char **slots;
  size_t cap, n;
} hdb__idset;
/* Returns 1 when added, 0 when already present, -1 when out of memory. */
int hdb__idset_add(hdb__idset *s, const char *id);
void hdb__idset_free(hdb__idset *s);

/* ---- CSV tables (file_csv.c) ---- */

/*
 * Parses an RFC 4180 table: a header row (first column "id"), then one
 * record per row; quoted fields may hold commas, "" and newlines. With a
 * schema, each cell is converted to its column's type; without one, an
 * unquoted cell is inferred (integer, float, true/false, empty = null,
 * else text) and a quoted cell is text. HDB_CORRUPT with "FNAME line N: ...".
 */
hdb_status hdb__csv_parse(const char *buf, size_t len, const char *fname, const char *table,
                          const hdb_schema *schema, hdb__rowbuf *rows, hdb_error *err);
/* Writes the header (id, then the schema's columns, or every field in order
 * of first appearance) and one CRLF-terminated row per record. */
hdb_status hdb__csv_dump(hdb_record *const *rows, size_t n, const hdb_schema *schema,
                         hdb__strbuf *out, hdb_error *err);

#endif

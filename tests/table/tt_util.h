/*
 * tt_util.h - helpers shared by the engine/table tests (unit tests in
 * tests/unit/test_table_*.c and the harnesses in tests/table/): temporary
 * directories, directory sizes, byte flipping, record builders.
 * Header-only (static functions) so each test stays one translation unit.
 */
#ifndef HDB_TESTS_TABLE_UTIL_H
#define HDB_TESTS_TABLE_UTIL_H

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hanzodb.h"
#include "core/filter.h"
#include "engine/table/table.h"

#if defined(__GNUC__)
#define TT_UNUSED __attribute__((unused))
#else
#define TT_UNUSED
#endif

TT_UNUSED static int tt_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

/* Removes a directory tree (ignores errors). */
TT_UNUSED static void tt_rmtree(const char *dir) { nftw(dir, tt_rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* A fresh directory under $TMPDIR (or /tmp); path in buf. */
TT_UNUSED static int tt_mkdtemp(char *buf, size_t cap, const char *tag) {
  const char *base = getenv("TMPDIR");
  snprintf(buf, cap, "%s/hdb-%s-XXXXXX", base && *base ? base : "/tmp", tag);
  return mkdtemp(buf) ? 0 : -1;
}

/* Total bytes of the regular files in dir (not recursive). */
TT_UNUSED static unsigned long long tt_dir_bytes(const char *dir, int *files) {
  unsigned long long total = 0;
  int n = 0;
  DIR *d = opendir(dir);
  if (!d) return 0;
  struct dirent *e;
  char p[1024];
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    struct stat st;
    if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
      total += (unsigned long long)st.st_size;
      n++;
    }
  }
  closedir(d);
  if (files) *files = n;
  return total;
}

/* XORs 0xFF into byte `off` of dir/name. 0 on success. */
TT_UNUSED static int tt_flip(const char *dir, const char *name, unsigned long long off) {
  char p[1024];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  int fd = open(p, O_RDWR);
  if (fd < 0) return -1;
  unsigned char b;
  int rc = -1;
  if (pread(fd, &b, 1, (off_t)off) == 1) {
    b ^= 0xFF;
    if (pwrite(fd, &b, 1, (off_t)off) == 1) rc = 0;
  }
  close(fd);
  return rc;
}

/* The newest manifest's file name in dir (static buffer). */
TT_UNUSED static const char *tt_newest_manifest(const char *dir) {
  static char best[300];
  best[0] = 0;
  DIR *d = opendir(dir);
  if (!d) return best;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] == 'v' && strstr(e->d_name, ".manifest") && !strstr(e->d_name, ".tmp") &&
        strcmp(e->d_name, best) > 0)
      snprintf(best, sizeof best, "%s", e->d_name);
  closedir(d);
  return best;
}

/* Parses a filter or returns NULL. */
TT_UNUSED static hdb__expr *tt_filter(const char *text) {
  hdb__expr *e = NULL;
  hdb_error err;
  if (hdb__filter_parse(text, &e, &err) != HDB_OK) return NULL;
  return e;
}

/* Counts rows of a scan (filter text may be NULL); -1 on error. */
TT_UNUSED static long tt_count(hdb__tbl_snap *s, const char *filter, hdb__tbl_scan_stats *stats) {
  hdb__expr *e = filter ? tt_filter(filter) : NULL;
  if (filter && !e) return -1;
  hdb__tbl_scan_options o = {e, NULL, 0};
  hdb__tbl_scan *sc;
  hdb_error err;
  long n = 0;
  if (hdb__tbl_scan_open(s, &o, &sc, &err) != HDB_OK) {
    hdb__expr_free(e);
    return -1;
  }
  const hdb_record *r;
  hdb_status rc;
  while ((rc = hdb__tbl_scan_next(sc, &r, NULL, NULL, &err)) == HDB_OK) n++;
  if (stats) hdb__tbl_scan_stats_get(sc, stats);
  hdb__tbl_scan_close(sc);
  hdb__expr_free(e);
  return rc == HDB_DONE ? n : -1;
}

#endif

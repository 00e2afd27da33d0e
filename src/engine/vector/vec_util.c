/*
 * vec_util.c - hit sorting, aligned allocation over the library allocator,
 * the CPU count, and the atomic publish step of the index file writers.
 *
 * Aligned blocks over-allocate by align + one pointer through hdb__malloc;
 * the pointer hdb__malloc returned is stored just below the aligned
 * address, so hdb__vec_free_aligned can hand it back.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "vec_util.h"

static int hit_cmp(const void *a, const void *b)
{
  const hdb__vec_hit *x = a, *y = b;
  if (hdb__vec_hit_less(*x, *y))
    return -1;
  return hdb__vec_hit_less(*y, *x) ? 1 : 0;
}

void hdb__vec_hits_sort(hdb__vec_hit *h, size_t n)
{
  if (n > 1)
    qsort(h, n, sizeof *h, hit_cmp);
}

void *hdb__vec_alloc_aligned(size_t n, size_t align)
{
  if (align < sizeof(void *))
    align = sizeof(void *);
  if (n > SIZE_MAX - align - sizeof(void *))
    return NULL;
  unsigned char *raw = hdb__malloc(n + align + sizeof(void *));
  if (raw == NULL)
    return NULL;
  uintptr_t p = ((uintptr_t)(raw + sizeof(void *)) + align - 1) & ~(uintptr_t)(align - 1);
  ((void **)p)[-1] = raw;
  return (void *)p;
}

void hdb__vec_free_aligned(void *p)
{
  if (p != NULL)
    hdb__free_mem(((void **)p)[-1]);
}

uint32_t hdb__vec_cpu_count(void)
{
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1u : n > 1024 ? 1024u : (uint32_t)n;
}

hdb_status hdb__vec_file_publish(int fd, const unsigned char *h, size_t hdr_size, char *tmp,
                                 const char *path, const char *what, hdb_error *err)
{
  if (pwrite(fd, h, hdr_size, 0) != (ssize_t)hdr_size || fsync(fd) != 0) {
    hdb_status st = hdb__fail(err, HDB_IO, "%s: writing '%s': %s", what, tmp, strerror(errno));
    close(fd);
    unlink(tmp);
    return st;
  }
  if (close(fd) != 0) {
    hdb_status st = hdb__fail(err, HDB_IO, "%s: writing '%s': %s", what, tmp, strerror(errno));
    unlink(tmp);
    return st;
  }
  if (rename(tmp, path) != 0) {
    hdb_status st =
        hdb__fail(err, HDB_IO, "%s: cannot rename to '%s': %s", what, path, strerror(errno));
    unlink(tmp);
    return st;
  }
  /* make the rename durable: fsync the directory (tmp is ours to cut) */
  char *slash = strrchr(tmp, '/');
  if (slash != NULL)
    *slash = '\0';
  int dfd = open(slash ? (slash == tmp ? "/" : tmp) : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)fsync(dfd);
    close(dfd);
  }
  return HDB_OK;
}

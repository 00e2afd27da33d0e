/*
 * vec_util.c - hit sorting, aligned allocation over the library allocator,
 * and the CPU count for the vector engine.
 *
 * Aligned blocks over-allocate by align + one pointer through hdb__malloc;
 * the pointer hdb__malloc returned is stored just below the aligned
 * address, so hdb__vec_free_aligned can hand it back.
 */
#include <stdlib.h>
#include <unistd.h>

#include "core/alloc.h"
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

/*
 * alloc.c - the library's allocator wrappers and the fault-injection hook.
 *
 * fail_budget < 0: allocations are never failed on purpose. Otherwise it
 * counts the allocations still allowed to succeed; at 0 every allocation
 * fails. The counter is atomic so tests may inject failures while other
 * threads allocate; decrements use compare-and-swap so that exactly
 * `n` allocations succeed process-wide.
 *
 * Zero-byte requests allocate one byte, so a NULL result always means
 * failure and callers need no special case for empty payloads.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "hanzodb.h"

static atomic_long fail_budget = -1;

/* 1 when this allocation may proceed, 0 when the test hook fails it. */
static int alloc_allowed(void)
{
  long cur = atomic_load_explicit(&fail_budget, memory_order_relaxed);
  while (cur >= 0) {
    if (cur == 0)
      return 0;
    if (atomic_compare_exchange_weak_explicit(&fail_budget, &cur, cur - 1, memory_order_relaxed,
                                              memory_order_relaxed))
      return 1;
  }
  return 1;
}

void hdb__alloc_fail_after(long n)
{
  atomic_store(&fail_budget, n < 0 ? -1 : n);
}

void *hdb__malloc(size_t n)
{
  if (!alloc_allowed())
    return NULL;
  return malloc(n ? n : 1);
}

void *hdb__calloc(size_t count, size_t size)
{
  if (!alloc_allowed())
    return NULL;
  if (count == 0 || size == 0)
    return calloc(1, 1);
  return calloc(count, size);
}

void *hdb__realloc(void *p, size_t n)
{
  if (!alloc_allowed())
    return NULL; /* p stays valid, as with a real realloc failure */
  return realloc(p, n ? n : 1);
}

void hdb__free_mem(void *p)
{
  free(p);
}

char *hdb__strndup(const char *s, size_t n)
{
  if (s == NULL)
    return NULL;
  char *d = hdb__malloc(n + 1);
  if (d == NULL)
    return NULL;
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

char *hdb__strdup(const char *s)
{
  if (s == NULL)
    return NULL;
  return hdb__strndup(s, strlen(s));
}

void *hdb__memdup(const void *p, size_t n)
{
  void *d = hdb__malloc(n);
  if (d != NULL && n > 0)
    memcpy(d, p, n);
  return d;
}

void hdb_free(void *p)
{
  free(p);
}

void hdb_strings_free(char **strings, size_t count)
{
  if (strings == NULL)
    return;
  for (size_t i = 0; i < count; i++)
    free(strings[i]);
  free(strings);
}

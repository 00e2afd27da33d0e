/*
 * status.c - names of the public enums and the library version.
 *
 * Status names and messages come from HDB_STATUS_MAP so that the enum, its
 * names and its messages cannot drift apart. Every function returns a static
 * string and accepts out-of-range values.
 */
#include <string.h>
#include <strings.h>

#include "hanzodb.h"

const char *hdb_version(void)
{
  return HDB_VERSION_STRING;
}

int hdb_version_number(void)
{
  return HDB_VERSION_NUMBER;
}

const char *hdb_status_name(hdb_status s)
{
  switch (s) {
#define HDB__STATUS_NAME(name, value, str, msg) \
  case HDB_##name:                               \
    return str;
    HDB_STATUS_MAP(HDB__STATUS_NAME)
#undef HDB__STATUS_NAME
  }
  return "UNKNOWN";
}

const char *hdb_status_message(hdb_status s)
{
  switch (s) {
#define HDB__STATUS_MSG(name, value, str, msg) \
  case HDB_##name:                              \
    return msg;
    HDB_STATUS_MAP(HDB__STATUS_MSG)
#undef HDB__STATUS_MSG
  }
  return "UNKNOWN";
}

const char *hdb_type_name(hdb_type t)
{
  switch (t) {
  case HDB_TYPE_NULL: return "null";
  case HDB_TYPE_BOOL: return "bool";
  case HDB_TYPE_INT: return "int";
  case HDB_TYPE_FLOAT: return "float";
  case HDB_TYPE_TEXT: return "text";
  case HDB_TYPE_BLOB: return "blob";
  case HDB_TYPE_TIMESTAMP: return "timestamp";
  case HDB_TYPE_JSON: return "json";
  case HDB_TYPE_VECTOR: return "vector";
  }
  return "unknown";
}

const char *hdb_metric_name(hdb_metric m)
{
  switch (m) {
  case HDB_METRIC_DEFAULT: return "default";
  case HDB_METRIC_L2: return "l2";
  case HDB_METRIC_COSINE: return "cosine";
  case HDB_METRIC_DOT: return "dot";
  }
  return "unknown";
}

static const char *const index_names[] = {"auto", "flat", "hnsw", "ivf_pq", "scalar", "fts"};

const char *hdb_index_type_name(hdb_index_type t)
{
  if ((unsigned)t < sizeof index_names / sizeof index_names[0])
    return index_names[t];
  return "unknown";
}

hdb_status hdb_index_type_from_name(const char *name, hdb_index_type *out)
{
  if (name == NULL || out == NULL)
    return HDB_INVALID_ARGUMENT;
  for (size_t i = 0; i < sizeof index_names / sizeof index_names[0]; i++) {
    if (strcasecmp(name, index_names[i]) == 0) {
      *out = (hdb_index_type)i;
      return HDB_OK;
    }
  }
  /* Common spelling of the product-quantized inverted file index. */
  if (strcasecmp(name, "ivfpq") == 0 || strcasecmp(name, "ivf-pq") == 0) {
    *out = HDB_INDEX_IVF_PQ;
    return HDB_OK;
  }
  return HDB_INVALID_ARGUMENT;
}

const char *hdb_agg_op_name(hdb_agg_op op)
{
  switch (op) {
  case HDB_AGG_COUNT: return "count";
  case HDB_AGG_SUM: return "sum";
  case HDB_AGG_AVG: return "avg";
  case HDB_AGG_MIN: return "min";
  case HDB_AGG_MAX: return "max";
  }
  return "unknown";
}

const char *hdb_capability_name(hdb_capability c)
{
  switch (c) {
  case HDB_CAP_PERSISTENT: return "persistent";
  case HDB_CAP_TRANSACTIONS: return "transactions";
  case HDB_CAP_KV: return "kv";
  case HDB_CAP_VECTOR_SEARCH: return "vector_search";
  case HDB_CAP_VECTOR_INDEX: return "vector_index";
  case HDB_CAP_SCALAR_INDEX: return "scalar_index";
  case HDB_CAP_FULLTEXT: return "fulltext";
  case HDB_CAP_HYBRID_SEARCH: return "hybrid_search";
  case HDB_CAP_AGGREGATE: return "aggregate";
  case HDB_CAP_TTL: return "ttl";
  case HDB_CAP_PUBSUB: return "pubsub";
  case HDB_CAP_TIME_TRAVEL: return "time_travel";
  case HDB_CAP_ENCRYPTION: return "encryption";
  case HDB_CAP_STATS: return "stats";
  case HDB_CAP_SCHEMALESS: return "schemaless";
  case HDB_CAP_INDEX_HNSW: return "index_hnsw";
  case HDB_CAP_INDEX_IVF_PQ: return "index_ivf_pq";
  }
  return NULL;
}

#!/usr/bin/env bash
#
# cli_test.sh - end-to-end test of the hanzo-db command-line tool.
#
#   usage: cli_test.sh HANZO_DB_BINARY WORKDIR
#
# Every step is a separate process against one file:// database in WORKDIR,
# so the steps share data the way scripts do. Checks exit statuses (0 ok,
# 1 usage error, 2 failed operation), stdout and stderr. Needs only bash,
# grep, awk, sed, tr, wc, printf: no jq, no python. Under a sanitizer build
# any sanitizer report on stderr is a failure. The last line is
# "N passed, N failed"; the exit status is non-zero when anything failed.
#
set -Eeuo pipefail # -E: the ERR trap below also reports failures inside functions

if [[ $# -ne 2 ]]; then
  echo "usage: $0 HANZO_DB_BINARY WORKDIR" >&2
  exit 2
fi
BIN=$1
W=$2
mkdir -p "$W"
rm -rf "$W/db"
mkdir -p "$W/db"
trap 'echo "cli_test.sh: aborted at line $LINENO" >&2' ERR
URL="file://$W/db"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
unset HANZO_DB_URL HANZO_DB_BACKEND HANZO_DB_PATH HANZO_REDIS_URL || true

PASS=0
FAIL=0
RC=0
OUT=
ERR=

# run [--stdin FILE] ARGS...: runs the binary; sets RC, OUT, ERR.
# Output is kept byte-exact in $W/out for checks that need it.
run() {
  local input=/dev/null
  if [[ ${1:-} == --stdin ]]; then
    input=$2
    shift 2
  fi
  set +e
  "$BIN" "$@" <"$input" >"$W/out" 2>"$W/err"
  RC=$?
  set -e
  OUT=$(cat "$W/out")
  ERR=$(cat "$W/err")
  if grep -q "Sanitizer" "$W/err"; then
    FAIL=$((FAIL + 1))
    echo "FAIL: sanitizer report for: $*"
    sed -n '1,30p' "$W/err"
  fi
}

# db [--stdin FILE] ARGS...: run against the test database.
db() {
  if [[ $1 == --stdin ]]; then
    local f=$2
    shift 2
    run --stdin "$f" --url "$URL" "$@"
  else
    run --url "$URL" "$@"
  fi
}

pass() { PASS=$((PASS + 1)); }
fail() {
  FAIL=$((FAIL + 1))
  echo "FAIL: $1"
  echo "  rc=$RC"
  echo "  stdout: $(printf '%s' "$OUT" | head -c 600)"
  echo "  stderr: $(printf '%s' "$ERR" | head -c 600)"
}

# expect_out NAME EXPECTED: exit 0 and stdout exactly EXPECTED.
expect_out() {
  if [[ $RC -eq 0 && $OUT == "$2" ]]; then pass; else fail "$1 (expected stdout '$2')"; fi
}
# expect_ok NAME: exit 0 and nothing on stderr.
expect_ok() {
  if [[ $RC -eq 0 && -z $ERR ]]; then pass; else fail "$1 (expected success)"; fi
}
# expect_has NAME TEXT: exit 0 and stdout contains TEXT.
expect_has() {
  if [[ $RC -eq 0 && $OUT == *"$2"* ]]; then pass; else fail "$1 (expected stdout to contain '$2')"; fi
}
# expect_lacks NAME TEXT: exit 0 and stdout does not contain TEXT.
expect_lacks() {
  if [[ $RC -eq 0 && $OUT != *"$2"* ]]; then pass; else fail "$1 (expected stdout without '$2')"; fi
}
# expect_fail NAME STATUS [REGEX]: exit STATUS, nothing on stdout, stderr
# starting "hanzo-db: error: " and matching REGEX (extended, case-insensitive).
# Status 2 errors are one line; status 1 errors carry a hint line.
expect_fail() {
  local name=$1 want=$2 re=${3:-}
  local first lines
  first=${ERR%%$'\n'*} # not `| head -n 1`: under pipefail the writer's SIGPIPE would end the script
  lines=$(printf '%s\n' "$ERR" | wc -l)
  if [[ $RC -ne $want ]]; then
    fail "$name (expected exit $want)"
  elif [[ -n $OUT ]]; then
    fail "$name (expected no stdout)"
  elif [[ $first != "hanzo-db: error: "* ]]; then
    fail "$name (expected 'hanzo-db: error: ' on stderr)"
  elif [[ $want -eq 2 && $lines -ne 1 ]]; then
    fail "$name (expected a one-line error)"
  elif [[ $want -eq 1 && $ERR != *"--help"* ]]; then
    fail "$name (expected a hint line)"
  elif [[ -n $re ]] && ! printf '%s\n' "$first" | grep -qiE -- "$re"; then
    fail "$name (expected stderr to match /$re/)"
  else
    pass
  fi
}
# ids: the "id" values of stdout's JSON lines, space-separated.
ids() { { grep -o '"id":"[^"]*"' <<<"$OUT" || true; } | sed 's/"id":"//; s/"$//' | tr '\n' ' ' | sed 's/ $//'; }
# nlines: number of lines on stdout.
nlines() { if [[ -z $OUT ]]; then echo 0; else printf '%s\n' "$OUT" | wc -l | tr -d ' '; fi; }

# ---------------------------------------------------------------- data
SCHEMA='{"text":"text","year":"int","embedding":"vector(4,cosine)","image":"blob","metadata":"json"}'
cat >"$W/docs.jsonl" <<'EOF'
{"id":"a1","text":"hello world","year":2020,"embedding":[1,0,0,0],"image":{"$base64":"aGVsbG8="},"metadata":{"lang":"en","tag":"x"}}

{"id":"a2","text":"goodbye","year":2021,"embedding":[0,1,0,0],"metadata":{"lang":"fr"}}
{"id":"a3","text":"hello again","year":2022,"embedding":[0.9,0.1,0,0],"metadata":{"lang":"en"}}
{"id":"a4","text":"other","year":2021,"embedding":[0,0,1,0]}
EOF
printf '%s\n' '{"id":"a5","text":"fifth","year":2023,"embedding":[0,0,0,1]}' >"$W/a5.jsonl"

# ---------------------------------------------------------------- basics
run version
if [[ $RC -eq 0 && $OUT == "hanzo-db "* ]]; then pass; else fail "version"; fi
run --version
if [[ $RC -eq 0 && $OUT == "hanzo-db "* ]]; then pass; else fail "--version"; fi
db ping
expect_out "ping" "ok"
db capabilities
expect_has "capabilities backend" '"backend":"file"'
expect_has "capabilities list" '"capabilities":['
db tables
expect_out "tables on an empty database" ""

# ---------------------------------------------------------------- tables
db create-table docs --schema "$SCHEMA"
expect_ok "create-table with schema"
db create-table docs --schema "$SCHEMA"
expect_fail "create-table existing" 2 "docs|exist"
db create-table docs --schema "$SCHEMA" --if-not-exists
expect_ok "create-table --if-not-exists"
db create-table free
expect_ok "create-table schemaless"
db create-table bad --schema '{"x":"nosuchtype"}'
expect_fail "create-table bad schema" 2
db tables
expect_out "tables lists both" "$(printf 'docs\nfree')"
HANZO_DB_URL=$URL run tables
expect_out "tables through HANZO_DB_URL" "$(printf 'docs\nfree')"
HANZO_DB_URL=$URL run -v tables
if [[ $RC -eq 0 && $ERR == *"$W/db"* ]]; then pass; else fail "-v prints the selection"; fi

# ---------------------------------------------------------------- insert
db insert docs "$W/docs.jsonl"
expect_out "insert from a file" "4"
db --stdin "$W/a5.jsonl" insert docs
expect_out "insert from stdin" "1"
db count docs
expect_out "count" "5"
db --stdin "$W/a5.jsonl" insert docs -
expect_fail "insert duplicate id" 2 "a5|duplicate"
db count docs
expect_out "count after duplicate" "5"

printf '%s\n' '{"id":"b1","year":1}' '' '{"id":"b2",' '{"id":"b3"}' >"$W/malformed.jsonl"
db insert docs "$W/malformed.jsonl"
expect_fail "malformed JSONL names the line" 2 "line 3"
db count docs
expect_out "malformed JSONL writes nothing" "5"

printf '%s\n' '{"id":"c1","year":1,"embedding":[1,0,0,0]}' '{"id":"c2","embedding":[1,0]}' >"$W/shortvec.jsonl"
db insert docs "$W/shortvec.jsonl"
expect_fail "insert too-short vector" 2 "dimension|components|embedding"
db count docs
expect_out "too-short vector writes nothing" "5"

printf '%s\n' '{"id":"c3","nosuch":1}' >"$W/nofield.jsonl"
db insert docs "$W/nofield.jsonl"
expect_fail "insert unknown field into strict table" 2 "nosuch"

printf '%s\n' '{"text":"no id"}' >"$W/noid.jsonl"
db insert docs "$W/noid.jsonl"
expect_fail "insert without id" 2 "line 1"

db insert nope "$W/a5.jsonl"
expect_fail "insert into unknown table" 2 "nope|table"
db insert docs "$W/does-not-exist.jsonl"
expect_fail "insert from a missing file" 2 "does-not-exist"

# ---------------------------------------------------------------- get
db get docs a1
expect_has "get" '"id":"a1"'
expect_has "get year" '"year":2020'
expect_has "get blob as base64" '"$base64":"aGVsbG8="'
expect_has "get json column" '"lang":"en"'
if [[ $(nlines) -eq 1 ]]; then pass; else fail "get prints one line"; fi
db get docs zz
expect_fail "get missing id" 2 "zz|not found"
db get nope a1
expect_fail "get from unknown table" 2 "nope|table"

# ---------------------------------------------------------------- count/filters
db count docs --filter "year >= 2021"
expect_out "count text filter" "4"
db count docs --filter '{"year":{"$gte":2022}}'
expect_out "count JSON filter" "2"
db count docs --filter "metadata.lang = 'en'"
expect_out "count json path filter" "2"
db count docs --filter "text LIKE 'hello%' AND year < 2022"
expect_out "count LIKE filter" "1"
db count docs --filter="year IN (2020, 2023)"
expect_out "count --filter=VALUE form" "2"
db count docs --filter "nosuch = 1"
expect_fail "unknown field in filter" 2 "nosuch"
db count docs --filter "year >= "
expect_fail "malformed filter has a position" 2 "[0-9]+:[0-9]+|position|column"
db count docs --filter '{"year":'
expect_fail "malformed JSON filter" 2
db count nope
expect_fail "count unknown table" 2 "nope|table"

# ---------------------------------------------------------------- query
db query docs
if [[ $RC -eq 0 && $(nlines) -eq 5 ]]; then pass; else fail "query all rows"; fi
db query docs --sort year:desc --limit 2
if [[ $RC -eq 0 && $(ids) == "a5 a3" ]]; then pass; else fail "query sort desc + limit (got '$(ids)')"; fi
db query docs --sort year --offset 1 --limit 2
if [[ $RC -eq 0 && $(ids) == "a2 a4" ]]; then pass; else fail "query offset (got '$(ids)')"; fi
db query docs --sort "year,text:desc"
if [[ $RC -eq 0 && $(ids) == "a1 a4 a2 a3 a5" ]]; then pass; else fail "query comma sort keys (got '$(ids)')"; fi
db query docs --sort year --sort text:desc
if [[ $RC -eq 0 && $(ids) == "a1 a4 a2 a3 a5" ]]; then pass; else fail "query repeated --sort (got '$(ids)')"; fi
db query docs --filter "metadata.lang = 'en'" --sort year
if [[ $RC -eq 0 && $(ids) == "a1 a3" ]]; then pass; else fail "query text filter (got '$(ids)')"; fi
db query docs --filter '{"$or":[{"year":2020},{"text":"other"}]}' --sort year
if [[ $RC -eq 0 && $(ids) == "a1 a4" ]]; then pass; else fail "query JSON filter (got '$(ids)')"; fi
db query docs --fields text --filter "year = 2020"
expect_has "query --fields keeps the field" '"text":"hello world"'
expect_has "query --fields keeps the id" '"id":"a1"'
expect_lacks "query --fields drops others" '"year"'
db query docs --sort nosuch
expect_fail "query sort on unknown field" 2 "nosuch"
db query docs --fields nosuch
expect_fail "query unknown projected field" 2 "nosuch"
db query docs --limit abc
expect_fail "query bad --limit" 1 "limit"
db query docs --limit
expect_fail "query --limit without value" 1 "limit"
db query docs --sort year:sideways
expect_fail "query bad sort direction" 1 "sort"
db query docs --bogus
expect_fail "query unknown option" 1 "bogus"

# ---------------------------------------------------------------- search
distances_ascending() {
  { grep -o '"_distance":[^,}]*' <<<"$OUT" || true; } | cut -d: -f2 |
    awk 'BEGIN { n = 0; bad = 0 } { if (n > 0 && $1 + 0 < prev) bad = 1; prev = $1 + 0; n++ }
         END { exit (n == 0 || bad) }'
}
db search docs --vector '[1,0,0,0]' -k 3
if [[ $RC -eq 0 && $(ids) == "a1 a3 a2" ]]; then pass; else fail "search nearest (got '$(ids)')"; fi
if [[ $(grep -c '"_distance":' <<<"$OUT" || true) -eq 3 ]]; then pass; else fail "search _distance on every row"; fi
if distances_ascending; then pass; else fail "search distances ascending"; fi
db search docs --vector '[1,0,0,0]'
if [[ $RC -eq 0 && $(nlines) -eq 5 ]]; then pass; else fail "search default k returns all 5 rows"; fi
if distances_ascending; then pass; else fail "search default k ascending"; fi
printf '[0, 0, 0.1, 1]\n' >"$W/q.json"
db search docs --vector "@$W/q.json" -k 1 --column embedding
if [[ $RC -eq 0 && $(ids) == "a5" ]]; then pass; else fail "search --vector @FILE (got '$(ids)')"; fi
db search docs --vector '[1,0,0,0]' -k 2 --filter "year > 2020"
if [[ $RC -eq 0 && $(ids) == "a3 a2" ]]; then pass; else fail "search with filter (got '$(ids)')"; fi
db search docs --vector '[1,0,0,0]' -k 1 --fields year --exact --ef 50 --nprobe 4 --refine 2
expect_has "search --fields keeps the field" '"year":2020'
expect_lacks "search --fields drops others" '"text"'
expect_has "search --fields keeps _distance" '"_distance":'
db search docs --vector '[1,0]'
expect_fail "search wrong dimension" 2 "dimension|components"
db search docs --vector '[1,0,0,0]' --column year
expect_fail "search non-vector column" 2 "year"
db search docs --vector 'not json'
expect_fail "search malformed vector" 1 "vector"
db search docs --vector '[1,0,0,0]' -k 0
expect_fail "search k 0" 1 "k"
db search docs
expect_fail "search without --vector" 1 "vector"
db search nope --vector '[1,0,0,0]'
expect_fail "search unknown table" 2 "nope|table"

# ---------------------------------------------------------------- aggregate
db aggregate docs --agg count,sum:year,min:year,max:year
expect_has "aggregate count" '"count":5'
expect_has "aggregate sum" '"sum_year":10107'
expect_has "aggregate min" '"min_year":2020'
expect_has "aggregate max" '"max_year":2023'
expect_lacks "aggregate output has no id" '"id"'
db aggregate docs --agg count --agg avg:year --group-by year
if [[ $RC -eq 0 && $(nlines) -eq 4 ]]; then pass; else fail "aggregate group-by: one line per group"; fi
expect_has "aggregate group-by 2021" '"year":2021'
if grep -q '"year":2021.*"count":2' <<<"$OUT"; then pass; else fail "aggregate group-by count of 2021"; fi
if [[ $(printf '%s\n' "$OUT" | head -n 1) == *'"year":2020'* ]]; then pass; else fail "aggregate groups ascending"; fi
expect_lacks "aggregate group-by has no id" '"id"'
db aggregate docs --agg count --filter "metadata.lang = 'en'"
expect_has "aggregate with filter" '"count":2'
db aggregate docs --agg sum:nosuch
expect_fail "aggregate unknown field" 2 "nosuch"
db aggregate docs --agg median:year
expect_fail "aggregate unknown op" 1 "median"
db aggregate docs
expect_fail "aggregate without --agg" 1 "agg"

# ---------------------------------------------------------------- indexes
db indexes docs
expect_out "no indexes yet" ""
db create-index docs embedding --type flat
expect_ok "create-index flat"
db indexes docs
expect_has "indexes lists the column" '"column":"embedding"'
expect_has "indexes lists the type" '"type":"flat"'
expect_has "indexes has params" '"params":{'
expect_has "indexes has rows_indexed" '"rows_indexed":'
expect_has "indexes has rows_unindexed" '"rows_unindexed":'
db search docs --vector '[1,0,0,0]' -k 1
if [[ $RC -eq 0 && $(ids) == "a1" ]]; then pass; else fail "search through the flat index"; fi
db create-index docs embedding --type flat
expect_fail "create-index twice" 2
db drop-index docs embedding
expect_ok "drop-index"
db drop-index docs embedding
expect_fail "drop-index missing" 2
db create-index docs embedding --type hnsw --params '{"m":16,"ef_construction":200}'
expect_fail "create-index hnsw not supported on file://" 2
db create-index docs embedding --type bogus
expect_fail "create-index unknown type" 1 "bogus"
db create-index docs
expect_fail "create-index missing column" 1 "column"
db create-index docs embedding --type flat
expect_ok "create-index flat again"

# ---------------------------------------------------------------- describe
db describe docs
expect_has "describe name" '"name":"docs"'
expect_has "describe schema" '"schema":{'
expect_has "describe vector column" 'vector(4'
expect_has "describe rows" '"rows":5'
expect_has "describe indexes" '"indexes":[{"column":"embedding"'
db describe free
expect_has "describe schemaless" '"schema":null'
expect_has "describe schemaless indexes" '"indexes":[]'
db describe nope
expect_fail "describe unknown table" 2 "nope|table"

# ---------------------------------------------------------------- upsert
printf '%s\n' '{"id":"a1","text":"replaced","year":2020,"embedding":[1,0,0,0]}' \
  '{"id":"a6","text":"sixth","year":2024,"embedding":[0,1,1,0]}' >"$W/upsert.jsonl"
db upsert docs "$W/upsert.jsonl"
expect_out "upsert" "2"
db get docs a1
expect_has "upsert replaced the row" '"text":"replaced"'
expect_lacks "upsert replaced the whole row" '"metadata"'
db count docs
expect_out "upsert added one" "6"
printf '%s\n' '{"id":"a6","text":"x"}' '{"id":"a7",' >"$W/upsert-bad.jsonl"
db upsert docs "$W/upsert-bad.jsonl"
expect_fail "upsert malformed line" 2 "line 2"
db get docs a6
expect_has "failed upsert changed nothing" '"text":"sixth"'

# ---------------------------------------------------------------- delete
db delete docs a4
expect_out "delete by id" "1"
db get docs a4
expect_fail "deleted row is gone" 2
db delete docs a4
expect_fail "delete missing id" 2 "a4|not found"
db delete docs --filter "year >= 2023"
expect_out "delete by filter" "2"
db count docs
expect_out "count after deletes" "3"
db delete docs --filter "nosuch = 1"
expect_fail "delete with unknown field" 2 "nosuch"
db delete docs
expect_fail "delete without id or filter" 1
db delete docs a1 --filter "year = 1"
expect_fail "delete with id and filter" 1

# ---------------------------------------------------------------- schemaless table
printf '%s\n' '{"id":"f1","anything":true,"n":1.5}' '{"id":"f2","other":"x"}' >"$W/free.jsonl"
db insert free "$W/free.jsonl"
expect_out "insert into schemaless table" "2"
db query free --filter "anything" --sort n
if [[ $RC -eq 0 && $(ids) == "f1" ]]; then pass; else fail "schemaless query (got '$(ids)')"; fi

# ---------------------------------------------------------------- bulk load (chunked path)
awk 'BEGIN { for (i = 1; i <= 25000; i++) printf "{\"id\":\"r%d\",\"n\":%d}\n", i, i }' >"$W/big.jsonl"
db create-table big
expect_ok "create-table big"
db insert big "$W/big.jsonl"
expect_out "bulk insert 25000" "25000"
if [[ -z $ERR ]]; then pass; else fail "bulk insert is quiet when stderr is not a terminal"; fi
db count big --filter "n > 24990"
expect_out "bulk count" "10"
awk 'BEGIN { for (i = 1; i <= 25000; i++) printf "{\"id\":\"s%d\",\"n\":%d}\n", i, i;
             print "{\"id\":\"bad\"" }' >"$W/big-bad.jsonl"
db insert big "$W/big-bad.jsonl"
expect_fail "bulk insert malformed last line" 2 "line 25001"
db count big
expect_out "bulk insert failure wrote nothing" "25000"

# ---------------------------------------------------------------- kv
db kv put cache k1 v1
expect_ok "kv put"
db kv get cache k1
if [[ $RC -eq 0 && $(wc -c <"$W/out" | tr -d ' ') -eq 2 && $OUT == v1 ]]; then pass; else fail "kv get writes the bytes exactly"; fi
printf 'hello\n' >"$W/val.txt"
db --stdin "$W/val.txt" kv put cache k2
expect_ok "kv put from stdin"
db kv get cache k2
if [[ $RC -eq 0 && $(wc -c <"$W/out" | tr -d ' ') -eq 6 ]]; then pass; else fail "kv get keeps the newline"; fi
printf '\377\376' >"$W/bin.dat"
db --stdin "$W/bin.dat" kv put cache bin
expect_ok "kv put binary"
db kv scan cache
expect_out "kv scan" "$(printf '%s\n' '{"key":"bin","value":{"$base64":"//4="}}' \
  '{"key":"k1","value":"v1"}' '{"key":"k2","value":"hello\n"}')"
db kv scan cache --reverse --limit 2
if [[ $RC -eq 0 && $(nlines) -eq 2 && $(printf '%s\n' "$OUT" | head -n 1) == *'"key":"k2"'* ]]; then
  pass
else
  fail "kv scan --reverse --limit"
fi
db kv scan cache --prefix k
if [[ $RC -eq 0 && $(nlines) -eq 2 ]]; then pass; else fail "kv scan --prefix"; fi
db kv scan cache --start k1 --end k2
expect_out "kv scan --start --end" '{"key":"k1","value":"v1"}'
db kv scan other
expect_out "kv scan empty namespace" ""
db kv put agent/memory note -- -dashed
expect_ok "kv put nested namespace, value after --"
db kv get agent/memory note
expect_out "kv get nested namespace" "-dashed"
db kv del cache k1
expect_ok "kv del"
db kv get cache k1
expect_fail "kv get deleted key" 2
db kv del cache k1
expect_fail "kv del missing key" 2
db kv put cache
expect_fail "kv put missing key" 1 "key"
db kv frob cache k
expect_fail "kv unknown subcommand" 1 "frob"
db kv
expect_fail "kv without subcommand" 1

# ---------------------------------------------------------------- drop-table
db drop-table free
expect_ok "drop-table"
db tables
expect_out "tables after drop" "$(printf 'big\ndocs')"
db drop-table free
expect_fail "drop-table missing" 2 "free|table"
db drop-table free --if-exists
expect_ok "drop-table --if-exists"
db get free f1
expect_fail "get from dropped table" 2

# ---------------------------------------------------------------- usage and URLs
run --url 'bogus://x' tables
expect_fail "bad URL" 2
run --url "$URL" frobnicate
expect_fail "unknown command" 1 "frobnicate"
run
expect_fail "missing command" 1
run --bogus tables
expect_fail "unknown global option" 1 "bogus"
run --url
expect_fail "--url without value" 1 "url"
run --workload nonsense tables
expect_fail "unknown workload" 1 "nonsense"
db get docs
expect_fail "get missing id arg" 1 "id"
db get
expect_fail "get missing table arg" 1 "table"
db insert
expect_fail "insert missing table arg" 1 "table"
db count
expect_fail "count missing table arg" 1
db describe
expect_fail "describe missing table arg" 1
db tables extra
expect_fail "tables extra argument" 1 "extra"
db count docs extra
expect_fail "count extra argument" 1 "extra"

for c in tables create-table drop-table describe insert upsert get delete count query search \
  aggregate create-index drop-index indexes kv capabilities ping version help \
  versions restore compact check; do
  run "$c" --help
  if [[ $RC -eq 0 && $OUT == usage:* && -z $ERR ]]; then pass; else fail "$c --help"; fi
  run "$c" -h
  if [[ $RC -eq 0 && $OUT == usage:* ]]; then pass; else fail "$c -h"; fi
  run help "$c"
  if [[ $RC -eq 0 && $OUT == usage:* ]]; then pass; else fail "help $c"; fi
done
run --help
if [[ $RC -eq 0 && $OUT == usage:* && $OUT == *create-index* ]]; then pass; else fail "--help"; fi
run --url 'bogus://x' query --help
if [[ $RC -eq 0 && $OUT == usage:* ]]; then pass; else fail "--help needs no database"; fi
run kv scan --help
if [[ $RC -eq 0 && $OUT == usage:* ]]; then pass; else fail "kv scan --help"; fi
run help frobnicate
expect_fail "help unknown command" 1 "frobnicate"

# ---------------------------------------------------------------------
# native://: versions, --version (time travel), restore, compact, check.
# Skipped when the library was built without the native engine.
# ---------------------------------------------------------------------
NURL="native://$W/native"
rm -rf "$W/native"
nat() { run --url "$NURL" "$@"; }
run --url "$NURL" capabilities
if [[ $RC -eq 0 && $OUT == *time_travel* ]]; then
  nat create-table docs --schema '{"text":"text","year":"int","v":"vector(2)"}'
  expect_ok "native create-table"
  printf '%s\n' '{"id":"a","text":"first","year":2020,"v":[1,0]}' '{"id":"b","text":"second","year":2021,"v":[0,1]}' >"$W/n1.jsonl"
  run --stdin "$W/n1.jsonl" --url "$NURL" insert docs
  expect_out "native insert (version 2)" "2"
  nat update docs a --set '{"text":"changed"}' >/dev/null 2>&1 || true
  nat delete docs b
  expect_out "native delete (version 3 or 4)" "1"
  nat versions docs
  if [[ $RC -eq 0 && $(printf '%s\n' "$OUT" | head -n 1) == '{"version":1,"timestamp":"'*'Z","tag":null}' ]]; then pass; else fail "native versions"; fi
  NV=$(printf '%s\n' "$OUT" | wc -l)
  if [[ $NV -ge 3 ]]; then pass; else fail "native versions count ($NV)"; fi
  nat count docs --version 2
  expect_out "native count --version 2" "2"
  nat count docs
  expect_out "native count latest" "1"
  nat get docs b --version 2
  expect_has "native get --version 2" '"text":"second"'
  nat get docs b
  expect_fail "native get deleted row" 2 "b"
  nat get docs b --version 1
  expect_fail "native get before insert" 2 "version 1"
  nat query docs --version 2 --sort year:desc
  if [[ $RC -eq 0 && $(printf '%s\n' "$OUT" | head -n 1) == *'"id":"b"'* && $(printf '%s\n' "$OUT" | wc -l) -eq 2 ]]; then pass; else fail "native query --version 2"; fi
  nat query docs --version 999
  expect_fail "native query missing version" 2 "version 999"
  nat search docs --vector '[0,1]' -k 1 --version 2
  expect_has "native search --version 2" '"id":"b"'
  nat search docs --vector '[0,1]' -k 1
  expect_lacks "native search latest skips deleted" '"id":"b"'
  nat count docs --version 0
  expect_fail "native --version 0" 1
  nat restore docs 2
  if [[ $RC -eq 0 && $OUT =~ ^[0-9]+$ && $OUT -gt $NV ]]; then pass; else fail "native restore"; fi
  nat count docs
  expect_out "native count after restore" "2"
  nat restore docs 999
  expect_fail "native restore missing version" 2 "999"
  nat restore docs
  expect_fail "native restore without VERSION" 1
  nat compact docs
  expect_out "native compact NAME" "ok"
  nat compact
  expect_out "native compact all" "ok"
  nat count docs
  expect_out "native count after compact" "2"
  nat check
  if [[ $RC -eq 0 && $OUT == *'"ok":true'* && $OUT == *'"name":"docs"'* ]]; then pass; else fail "native check"; fi
  nat create-index docs v --type hnsw
  expect_ok "native create-index hnsw"
  nat indexes docs
  expect_has "native indexes" '"rows_indexed":2'
  nat search docs --vector '[0,1]' -k 1
  expect_has "native search with hnsw" '"id":"b"'
  # Index type auto, optimize, and batch search on a table of their own.
  for i in $(seq 0 39); do printf '{"id":"p%d","v":[%d,%d],"g":%d}\n' "$i" "$i" $((i % 7)) $((i % 2)); done >"$W/p.jsonl"
  nat create-table vecs --schema '{"v":"vector(2)","g":"int"}'
  run --stdin "$W/p.jsonl" --url "$NURL" insert vecs
  expect_out "native insert vecs" "40"
  nat create-index vecs v
  expect_ok "native create-index without --type (auto)"
  nat indexes vecs
  expect_has "native auto index on a small table is flat" '"type":"flat"'
  nat drop-index vecs v
  nat create-index vecs v --type hnsw
  expect_ok "native create-index hnsw on vecs"
  for i in $(seq 40 44); do printf '{"id":"p%d","v":[%d,%d],"g":%d}\n' "$i" "$i" $((i % 7)) $((i % 2)); done >"$W/p2.jsonl"
  run --stdin "$W/p2.jsonl" --url "$NURL" insert vecs
  nat delete vecs p3
  nat indexes vecs
  if [[ $RC -eq 0 && $OUT == *'"type":"hnsw"'* && $OUT == *'"params":{}'* && $OUT == *'"rows_indexed":39'* && $OUT == *'"rows_unindexed":5'* ]]; then pass; else fail "native indexes before optimize"; fi
  nat optimize vecs v
  if [[ $RC -eq 0 && $OUT == *'"rows_indexed":44'* && $OUT == *'"rows_unindexed":0'* ]]; then pass; else fail "native optimize"; fi
  nat indexes vecs
  expect_has "native indexes after optimize" '"rows_unindexed":0'
  # ivf_pq: create, search (nprobe/refine from the params), list, optimize.
  nat create-table ivf --schema '{"v":"vector(2)","g":"int"}'
  run --stdin "$W/p.jsonl" --url "$NURL" insert ivf
  nat create-index ivf v --type ivf_pq --params '{"nlist":4,"m":2,"nprobe":2}'
  expect_ok "native create-index ivf_pq"
  nat search ivf --vector '[10,3]' -k 1
  expect_has "native search with ivf_pq" '"id":"p10"'
  run --stdin "$W/p2.jsonl" --url "$NURL" insert ivf
  nat indexes ivf
  if [[ $RC -eq 0 && $OUT == *'"type":"ivf_pq"'* && $OUT == *'"nlist":4'* && $OUT == *'"rows_indexed":40'* && $OUT == *'"rows_unindexed":5'* ]]; then pass; else fail "native indexes ivf_pq"; fi
  nat search ivf --vector '[44,2]' -k 1
  expect_has "native ivf_pq search finds the tail" '"id":"p44"'
  nat optimize ivf v
  if [[ $RC -eq 0 && $OUT == *'"rows_indexed":45'* && $OUT == *'"rows_unindexed":0'* ]]; then pass; else fail "native optimize ivf_pq"; fi
  nat optimize vecs g
  expect_fail "native optimize without an index" 2 "no index"
  nat optimize vecs
  expect_fail "native optimize without COLUMN" 1
  nat optimize --help
  if [[ $RC -eq 0 && $OUT == usage:*optimize* ]]; then pass; else fail "optimize --help"; fi
  nat search --help
  if [[ $RC -eq 0 && $OUT == *--batch* && $OUT == *--threads* ]]; then pass; else fail "search --help mentions --batch"; fi
  printf '%s\n' '[0,0]' '[10,3]' '' '[44,2]' >"$W/q.jsonl"
  nat search vecs --batch "$W/q.jsonl" -k 2
  if [[ $RC -eq 0 && $(printf '%s\n' "$OUT" | wc -l) -eq 3 &&
        $(printf '%s\n' "$OUT" | sed -n 1p) == '{"query":0,"results":[{"id":"p0","_distance":0},'* &&
        $(printf '%s\n' "$OUT" | sed -n 2p) == '{"query":1,"results":[{"id":"p10","_distance":0},'* &&
        $(printf '%s\n' "$OUT" | sed -n 3p) == '{"query":2,"results":[{"id":"p44","_distance":0},'* ]]; then pass; else fail "native search --batch JSON lines"; fi
  run --stdin "$W/q.jsonl" --url "$NURL" search vecs --batch - -k 2 --filter 'g = 1'
  if [[ $RC -eq 0 && $(printf '%s\n' "$OUT" | wc -l) -eq 3 && $(printf '%s\n' "$OUT" | sed -n 2p) == '{"query":1,"results":[{"id":"p11",'* ]]; then pass; else fail "native search --batch - --filter"; fi
  for i in $(seq 0 59); do printf '[%d,%d]\n' $((i % 45)) $((i % 5)); done >"$W/q60.jsonl"
  nat search vecs --batch "$W/q60.jsonl" -k 3 --ef 32
  ONE=$OUT
  nat search vecs --batch "$W/q60.jsonl" -k 3 --ef 32 --threads 2
  if [[ $RC -eq 0 && $(printf '%s\n' "$OUT" | wc -l) -eq 60 && "$OUT" == "$ONE" &&
        $(printf '%s\n' "$OUT" | sed -n 60p) == '{"query":59,'* ]]; then pass; else fail "native search --batch --threads 2 (order, count)"; fi
  nat search vecs --batch "$W/q60.jsonl" -k 3 --exact --threads 2
  if [[ $RC -eq 0 && $(printf '%s\n' "$OUT" | wc -l) -eq 60 ]]; then pass; else fail "native search --batch --exact"; fi
  # .fvecs: [1,1] then [0,0] (int32 dimension, float32 components).
  printf '\x02\x00\x00\x00\x00\x00\x80\x3f\x00\x00\x80\x3f\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00' >"$W/q.fvecs"
  nat search vecs --batch "$W/q.fvecs" -k 1 --column v
  if [[ $RC -eq 0 && $(printf '%s\n' "$OUT" | wc -l) -eq 2 &&
        $(printf '%s\n' "$OUT" | sed -n 1p) == '{"query":0,"results":[{"id":"p1","_distance":0}]}' &&
        $(printf '%s\n' "$OUT" | sed -n 2p) == '{"query":1,"results":[{"id":"p0","_distance":0}]}' ]]; then pass; else fail "native search --batch .fvecs"; fi
  printf '\x02\x00\x00\x00\x00\x00' >"$W/bad.fvecs"
  nat search vecs --batch "$W/bad.fvecs"
  expect_fail "native search --batch truncated .fvecs" 1 "truncated"
  printf '%s\n' '[1,2,3]' >"$W/q3.jsonl"
  nat search vecs --batch "$W/q3.jsonl"
  expect_fail "native search --batch wrong dimension" 2 "query 0"
  nat search vecs --batch "$W/q.jsonl" --vector '[0,0]'
  expect_fail "native search --batch with --vector" 1
  # Corrupt one fragment: check reports it and exits 2.
  FRAGS=("$W/native/tables/docs/"f-*.frag)
  FRAG=${FRAGS[0]}
  printf 'garbage' | dd of="$FRAG" bs=1 seek=80 conv=notrunc 2>/dev/null
  nat check
  if [[ $RC -eq 2 && $OUT == *'"ok":false'* && $ERR == "hanzo-db: error: "* ]]; then pass; else fail "native check on corruption"; fi
  run --url "file://$W/db" versions docs
  expect_fail "versions on file:// (no time travel)" 2 "does not support"
else
  echo "(native:// not built: native section skipped)"
fi

echo "$PASS passed, $FAIL failed"
[[ $FAIL -eq 0 ]]

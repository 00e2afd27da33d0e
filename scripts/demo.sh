#!/usr/bin/env bash
# Installs what hanzo-db needs, builds it, and runs a demo of real use:
# an agent's memory (text, image bytes, metadata, embeddings, session state)
# through the C API, then the same kind of work through the hanzo-db CLI.
#
# Both run on the embedded default, native://, in a scratch directory. Pass
# a URL to run the C part on another database:
#   bash scripts/demo.sh sqlite://./demo.db
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
url="${1:-native://$work/agent}"
echo "== the C API: examples/agent_memory.c on $url"
./build/agent_memory "$url"

db="native://$work/db"
cli() { echo "\$ hanzo-db $*" >&2; ./build/hanzo-db --url "$db" "$@"; }
echo
echo "== the CLI on $db"
cli create-table docs --schema '{"title":"text","kind":"text","year":"int","embedding":"vector(3,cosine)","metadata":"json"}'
cat >"$work/docs.jsonl" <<'JSONL'
{"id":"a","title":"Intro to vectors","kind":"tutorial","year":2021,"embedding":[1,0,0],"metadata":{"lang":"en"}}
{"id":"b","title":"Vektoren erklärt","kind":"tutorial","year":2023,"embedding":[0.9,0.1,0],"metadata":{"lang":"de"}}
{"id":"c","title":"Cooking with tea","kind":"recipe","year":2024,"embedding":[0,1,0],"metadata":{"lang":"en"}}
{"id":"d","title":"Graph search at scale","kind":"paper","year":2025,"embedding":[0.7,0,0.7],"metadata":{"lang":"en"}}
JSONL
cli insert docs "$work/docs.jsonl"
cli count docs --filter "year >= 2023"
cli query docs --filter "metadata.lang = 'en' AND year BETWEEN 2021 AND 2024" --sort year:desc --fields title,year
cli search docs --vector '[1,0,0]' -k 2 --filter '{"year":{"$gte":2022}}' --fields title
cli aggregate docs --agg count,min:year,max:year --group-by kind
cli kv put agent turn:1 "hello"
cli kv scan agent
cli get docs c
cli upsert docs <<<'{"id":"c","title":"Cooking with green tea","kind":"recipe","year":2025,"embedding":[0,1,0.1],"metadata":{"lang":"en"}}'
cli versions docs
cli get docs c --version 2
echo "\$ hanzo-db insert docs   # a record with a 2-d embedding: refused, nothing written" >&2
echo '{"id":"e","embedding":[1,0]}' | ./build/hanzo-db --url "$db" insert docs || true
cli count docs

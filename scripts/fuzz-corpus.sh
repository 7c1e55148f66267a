#!/usr/bin/env bash
# Remakes the fuzz targets' seed corpus (tests/fuzz/corpus/) from real
# archives: snap saves from snap-emulator (consul, cloudify, elasticsearch
# export, flux, zeebe, fabric) and the payloads, manifests and answers inside
# them. Crash inputs written into the corpus by hand stay. Needs a build
# (bash scripts/setup.sh) and curl.
set -euo pipefail
cd "$(dirname "$0")/.."
snap=$PWD/build/snap
corpus=$PWD/tests/fuzz/corpus
work=$(mktemp -d)
source scripts/emulator.sh
trap 'stop_emulator; rm -rf "$work"' EXIT
mkdir -p "$corpus"/{archive,manifest,consul_snapshot,es_page,targz,kubeconfig}

save() { # adapter args…: saves into $work/<adapter>/ and prints the path
  local dir=$work/$1
  mkdir -p "$dir"
  "$snap" save "$@" --addr "$EMULATOR_URL" -o "$dir/" >/dev/null
  ls -t "$dir"/*.zip | head -n 1
}
put() { curl -sf -X "$1" -H 'Content-Type: application/json' \
  --data-binary "$3" "$EMULATOR_URL$2" >/dev/null; }

start_emulator consul
for k in app/greeting app/replicas; do put PUT "/v1/kv/$k" "value of $k"; done
cp "$(save consul)" "$corpus/archive/consul.zip"
stop_emulator

start_emulator cloudify
put PUT /api/v3.1/secrets/db-password '{"value":"s3cret"}'
cp "$(save cloudify --snapshot-id seed)" "$corpus/archive/cloudify.zip"
stop_emulator

start_emulator elasticsearch
put PUT /logs '{"mappings":{"properties":{"n":{"type":"long"}}},"aliases":{"all":{}}}'
printf '%s\n' '{"index":{"_index":"logs","_id":"a"}}' '{"n":1,"msg":"one"}' \
  '{"index":{"_index":"logs","_id":"b"}}' '{"n":2,"msg":"two\nlines"}' >"$work/bulk"
curl -sf -X POST -H 'Content-Type: application/x-ndjson' \
  --data-binary @"$work/bulk" "$EMULATOR_URL/_bulk?refresh=true" >/dev/null
cp "$(save elasticsearch --export)" "$corpus/archive/es-export.zip"
curl -sf -X POST -H 'Content-Type: application/json' \
  --data-binary '{"sort":["_doc"],"size":10}' \
  "$EMULATOR_URL/logs/_search" >"$corpus/es_page/search.json"
stop_emulator

mkdir -p "$work/flux/apps/fluxweb_myapp/appdata/uploads"
echo '<html>' >"$work/flux/apps/fluxweb_myapp/appdata/index.html"
ln -s index.html "$work/flux/apps/fluxweb_myapp/appdata/link"
start_emulator flux --data-dir "$work/flux/apps"
cp "$(save flux --app myapp)" "$corpus/archive/flux.zip"
stop_emulator

start_emulator zeebe
cp "$(save zeebe --backup-id 7)" "$corpus/archive/zeebe.zip"
stop_emulator

start_emulator kubernetes
put POST /api/v1/namespaces '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"fab"}}'
put POST /api/v1/namespaces/fab/configmaps \
  '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"msp1"},"data":{"a":"b"}}'
cp "$(save fabric configmaps/msp1 --namespace fab --no-volume-snapshots)" \
  "$corpus/archive/fabric.zip"
stop_emulator

cp tests/fixtures/consul-format2-encrypted.zip "$corpus/archive/consul-encrypted.zip"

# The pieces inside the archives.
for zip in "$corpus"/archive/*.zip; do
  name=$(basename "$zip" .zip)
  { unzip -z "$zip" | tail -n 1; unzip -p "$zip" manifest.json; } \
    >"$corpus/manifest/$name.txt"
done
unzip -p "$corpus/archive/consul.zip" payload/consul.snap \
  >"$corpus/consul_snapshot/consul.snap"
unzip -p "$corpus/archive/flux.zip" payload/web.tar.gz >"$corpus/targz/web.tar.gz"
echo '{"took":1,"hits":{"total":{"value":0},"hits":[]}}' >"$corpus/es_page/empty.json"

cat >"$corpus/kubeconfig/token.yaml" <<'EOF'
apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: dev
  cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}
contexts:
- name: dev
  context: {cluster: dev, user: admin, namespace: fab}
users:
- name: admin
  user: {token: abc}
EOF
cat >"$corpus/kubeconfig/certs.yaml" <<'EOF'
apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: prod
  cluster:
    server: https://k8s.example:443
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==
contexts:
- {name: prod, context: {cluster: prod, user: ops}}
- {name: other, context: {cluster: prod, user: plugin}}
users:
- name: ops
  user:
    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==
    client-key-data: LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCg==
- name: plugin
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1, command: true}
EOF
ls -l "$corpus"/*

#!/usr/bin/env bash
# Rehearse two releases against a local S3: release 0.1.0, change a file, release the next
# version, show its notes, verify it deeply and fetch it as a consumer would. Needs no network.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'kill "${sandbox_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT

publishkit sandbox --bucket demo-release > "$work/sandbox.env" &
sandbox_pid=$!
for _ in $(seq 100); do [ "$(wc -l < "$work/sandbox.env")" -ge 5 ] && break; sleep 0.1; done
set -a; source "$work/sandbox.env"; set +a
echo "local S3 at $AWS_ENDPOINT_URL"

cp -r "$here/demo-release" "$work/release"
cd "$work/release"
publishkit release --version 0.1.0
sed -i 's/P92D/P93D/' metadata/subjects.csv   # a metadata correction...
# ...and no version given: publishkit names the bump the changes suggest, and exits 2
publishkit release || echo "(exit $?: cut the version the changes suggest)"
publishkit release --bump patch
publishkit notes manifests/demo-project_project_manifest_v0.1.0.json \
                 manifests/demo-project_project_manifest_v0.1.1.json --format allensdk
publishkit verify manifests/demo-project_project_manifest_v0.1.1.json --deep
publishkit fetch manifests/demo-project_project_manifest_v0.1.0.json --to "$work/cache"
publishkit fetch manifests/demo-project_project_manifest_v0.1.1.json --to "$work/cache"

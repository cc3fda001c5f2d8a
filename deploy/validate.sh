#!/usr/bin/env bash
# Renders every overlay with `kubectl kustomize` and, where `kubernetes-validate` is
# installed (.ci/run installs it into a venv), checks every object against the Kubernetes
# schemas, strictly (unknown fields fail), for the oldest Kubernetes platbot supports.
#   deploy/validate.sh            KUBERNETES_VERSION=1.36.0 deploy/validate.sh
set -euo pipefail
cd "$(dirname "$0")/.."
version="${KUBERNETES_VERSION:-1.35.0}"
validator="${KUBERNETES_VALIDATE:-kubernetes-validate}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

for overlay in deploy/kubernetes/overlays/*/; do
  name="$(basename "$overlay")"
  kubectl kustomize "$overlay" > "$out/$name.yaml"
  echo "rendered $name: $(grep -c '^kind:' "$out/$name.yaml") objects"
done

if ! command -v "$validator" >/dev/null 2>&1; then
  echo "kubernetes-validate not installed: schemas not checked (pip install kubernetes-validate)"
  exit 0
fi
for rendered in "$out"/*.yaml; do
  "$validator" --strict --quiet -k "$version" "$rendered"
  echo "valid for Kubernetes $version: $(basename "$rendered" .yaml)"
done
# The example needs the Prometheus Operator's CRD, which has no built-in schema: YAML only.
python3 -c 'import sys, yaml; list(yaml.safe_load_all(open(sys.argv[1])))' deploy/kubernetes/examples/servicemonitor.yaml

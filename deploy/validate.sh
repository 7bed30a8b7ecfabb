#!/usr/bin/env bash
# Validate the Kubernetes manifests of deploy/k8s/ offline, against the API schemas bundled in the
# kubernetes-validate package (installed with pip if missing; no cluster needed):
#   1. the validator rejects a manifest with a misspelled field (so a pass below means something),
#   2. every file in deploy/k8s/ passes strict validation (unknown fields are errors) for the oldest and the
#      newest Kubernetes versions we claim,
#   3. deploy/render.py with no options reproduces deploy/k8s/ exactly (the files and the renderer agree),
#   4. renderings at other sizes (4 shards as in the cluster test, 1 shard, 100 shards) pass too.
# The shard arguments themselves are checked by crates/cli/tests/cluster.rs, which also runs the rendered Job
# locally.
set -euo pipefail
cd "$(dirname "$0")"

# Indexed Jobs and JOB_COMPLETION_INDEX are GA since 1.24; 1.29 is the oldest version we check against.
VERSIONS=(1.29.0 1.37.0)

if ! command -v kubernetes-validate >/dev/null 2>&1; then
  echo "validate.sh: installing kubernetes-validate (pip)" >&2
  python3 -m pip install --quiet --disable-pip-version-check 'kubernetes-validate>=1.37' ||
    { echo "validate.sh: cannot install kubernetes-validate: run 'python3 -m pip install kubernetes-validate'" >&2; exit 2; }
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

validate() {
  local version
  for version in "${VERSIONS[@]}"; do
    kubernetes-validate --strict --quiet --kubernetes-version "$version" "$@"
  done
}

# 1. Negative control: the same Job with one misspelled field must be refused.
sed 's/^  completionMode: Indexed$/  completionMod: Indexed/' k8s/load-job.yaml >"$work/misspelled.yaml"
if cmp -s k8s/load-job.yaml "$work/misspelled.yaml"; then
  echo "validate.sh: k8s/load-job.yaml has no 'completionMode: Indexed' line to misspell" >&2
  exit 1
fi
if kubernetes-validate --strict --quiet "$work/misspelled.yaml" >"$work/negative.log" 2>&1; then
  echo "validate.sh: the validator accepted a Job with a misspelled field; it is not checking anything" >&2
  exit 1
fi

# 2. The files as committed.
validate k8s/*.yaml

# 3. The renderer's defaults are the committed files.
python3 - <<'EOF'
import sys
sys.path.insert(0, ".")
import render
if render.load_documents() != render.render(render.parse_args([])):
    sys.exit("validate.sh: deploy/render.py with no options does not reproduce deploy/k8s/: "
             "update the manifests or the renderer so they agree")
EOF

# 4. Other sizes.
python3 render.py --shards 4 --connections 4000 --rate 2000/s --hold 2s --ports 18000 >"$work/four.yaml"
python3 render.py --shards 1 --connections 1000 >"$work/one.yaml"
python3 render.py --shards 100 --connections 100M --rate 1M/s --ports 7000-7099 --image registry.example/c1m:0.1.0 \
  >"$work/hundred.yaml"
validate "$work/four.yaml" "$work/one.yaml" "$work/hundred.yaml"

echo "validate.sh: deploy/k8s/ and its renderings are valid for Kubernetes ${VERSIONS[*]}"

#!/usr/bin/env bash
# Build or restore every binary tests/integration runs, printing each build's progress:
# the control plane (tools/kube/build.sh) and, each from its own pinned build module
# (tools/gomod/build.sh <tool>), Helm, the LWS manager, the KServe manager and Karpenter's
# kwok provider. A no-op when all are up to date; restores from ~/.cache/llm-platform otherwise.
#
#   tools/test-tools.sh            all of them
#   tools/test-tools.sh helm lws   only these (kube is the control plane)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tools=("$@")
[[ ${#tools[@]} -gt 0 ]] || tools=(kube helm lws kserve karpenter)
start=$SECONDS
for t in "${tools[@]}"; do
  t0=$SECONDS
  if [[ "$t" == kube ]]; then bash "$here/kube/build.sh"; else bash "$here/gomod/build.sh" "$t"; fi
  printf '==> [test-tools] %s ready (%ss)\n' "$t" "$((SECONDS - t0))"
done
printf '==> [test-tools] all ready in %ss: %s\n' "$((SECONDS - start))" "${tools[*]}"

#!/usr/bin/env bash
# Runs BenchmarkGate with the OPA anchor: OPA v1.22.3 serving bench/opa/gate.rego
# with 1,000 agents, next to Probity's POST /v1/gate and a bare handler, with
# the same load generator in the same run. Needs the opa binary (built with
#   GOFLAGS=-mod=mod go install github.com/open-policy-agent/opa@v1.22.3
# a few minutes on 2 cores). Not run in CI.
set -euo pipefail
cd "$(dirname "$0")/../.."
OPA=${OPA:-$(go env GOPATH)/bin/opa}
PORT=${PORT:-8181}
"$OPA" run --server --addr "127.0.0.1:$PORT" --log-level error bench/opa/gate.rego &
opa_pid=$!
trap 'kill $opa_pid' EXIT
for _ in $(seq 50); do curl -sf "127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.2; done
python3 - "$PORT" <<'PY'
import json, sys, urllib.request
agents = {f"agent-{i}": {"compositeScore": 600 + i % 400, "certificationTier": "gold", "status": "active",
                         "badges": ["injection-free", "monitored"]} for i in range(1000)}
agents["support-bot"] = {"compositeScore": 812, "certificationTier": "gold", "status": "active", "badges": ["injection-free", "monitored"]}
req = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/v1/data/agents", data=json.dumps(agents).encode(), method="PUT",
                             headers={"Content-Type": "application/json"})
urllib.request.urlopen(req).read()
PY
PROBITY_BENCH_OPA="http://127.0.0.1:$PORT" go test ./internal/app -run '^$' -bench Gate -benchtime "${BENCHTIME:-5s}" -count "${COUNT:-3}"

#!/usr/bin/env bash
# Runs the promptfoo anchor (docs/benchmarks.md): the same single-turn cases,
# with equivalent assertions, through Probity's http target and through
# promptfoo, against the same local agent, on this machine, in this session;
# then prints cases/s for both, end to end and excluding start-up, and the
# ratio Probity/promptfoo. Not run in CI: it needs Node and npm (promptfoo is
# installed once into the work directory, about 250 MB).
#
#	bench/promptfoo/run.sh              # N=200 CONC=16 ROUNDS=3
#	N=500 ROUNDS=5 bench/promptfoo/run.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
N=${N:-200}               # cases
CONC=${CONC:-16}          # cases in flight, both tools
ROUNDS=${ROUNDS:-3}       # runs of each tool, alternating; the report takes medians
PORT=${PORT:-7431}        # the local agent's port
WORK=${WORK:-${TMPDIR:-/tmp}/probity-promptfoo}
PROMPTFOO_VERSION=0.121.20 # 0.122+ needs Node >= 22.22 (BENCHMARKS.md)

mkdir -p "$WORK/bin" "$WORK/node" "$WORK/home"
rm -rf "$WORK/runs"
mkdir -p "$WORK/runs"

if [ ! -x "$WORK/node/node_modules/.bin/promptfoo" ]; then
	echo "installing promptfoo@$PROMPTFOO_VERSION into $WORK/node (a few minutes)" >&2
	(cd "$WORK/node" && npm init -y >/dev/null &&
		npm install --no-audit --no-fund "promptfoo@$PROMPTFOO_VERSION" >"$WORK/npm-install.log" 2>&1)
fi

# Built, not run with go run, so that compiling is not counted as Probity's start-up.
(cd "$root" && go build -o "$WORK/bin/" ./bench/promptfoo/target ./bench/promptfoo/driver)

"$WORK/bin/target" -listen "127.0.0.1:$PORT" >"$WORK/target.log" 2>&1 &
target_pid=$!
trap 'kill "$target_pid" 2>/dev/null || true' EXIT
base="http://127.0.0.1:$PORT"
for _ in $(seq 50); do
	curl -fsS "$base/stats" >/dev/null 2>&1 && break
	sleep 0.1
done
curl -fsS "$base/stats" >/dev/null

"$WORK/bin/driver" gen -n "$N" -url "$base/chat" -dir "$WORK"

# promptfoo offline and quiet (BENCHMARKS.md, "Anchor: promptfoo").
pf_env=(
	PROMPTFOO_DISABLE_TELEMETRY=1 PROMPTFOO_DISABLE_UPDATE=1 CI=1
	PROMPTFOO_DISABLE_REMOTE_GENERATION=true PROMPTFOO_DISABLE_REDTEAM_REMOTE_GENERATION=true
	PROMPTFOO_DISABLE_SHARING=1 PROMPTFOO_DISABLE_DEBUG_LOG=1 PROMPTFOO_DISABLE_ERROR_LOG=1
	HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY=127.0.0.1,localhost
	HOME="$WORK/home" PROMPTFOO_CONFIG_DIR="$WORK/home/.promptfoo"
)

# measure TOOL ROUND CMD...: runs CMD with its stdout in result.json (unless
# it writes result.json itself), recording its wall time, its peak RSS and
# the agent's count of requests and their window.
measure() {
	local dir="$WORK/runs/$1-$2"
	shift 2
	mkdir -p "$dir"
	curl -fsS -X POST "$base/stats/reset"
	local t0 t1 rc=0
	t0=$(date +%s%N)
	/usr/bin/time -f %M -o "$dir/rss_kb" "$@" >"$dir/stdout" 2>"$dir/stderr" || rc=$?
	t1=$(date +%s%N)
	echo $((t1 - t0)) >"$dir/wall_ns"
	curl -fsS "$base/stats" >"$dir/stats.json"
	[ -s "$dir/result.json" ] || cp "$dir/stdout" "$dir/result.json"
	# promptfoo exits 100 when some test failed, which one case in ten must.
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 100 ]; then
		echo "$1 round $2 exited $rc; see $dir/stderr" >&2
		tail -20 "$dir/stderr" >&2
		exit 1
	fi
}

for round in $(seq "$ROUNDS"); do
	echo "round $round/$ROUNDS: probity" >&2
	measure probity "$round" "$WORK/bin/driver" probity -suite "$WORK/suite.yaml" -url "$base/chat" -concurrency "$CONC"
	echo "round $round/$ROUNDS: promptfoo" >&2
	(cd "$WORK/node" && measure promptfoo "$round" env "${pf_env[@]}" npx promptfoo eval \
		-c "$WORK/promptfooconfig.yaml" --no-cache --max-concurrency "$CONC" -o "$WORK/runs/promptfoo-$round/result.json")
done

echo
echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores ($(uname -m)), Node $(node --version), $(go version | cut -d' ' -f3), $N cases, concurrency $CONC"
"$WORK/bin/driver" report -dir "$WORK"

#!/usr/bin/env bash
# bench/operator_scale.sh - the operator with many objects (DESIGN "Scale
# and speed": tens of thousands of objects in a few tens of MB). Starts
# `smop fake-kube` and `smop fake-aws` (frozen clock) and `smop run` as
# three processes, creates N TrainingJobs, and prints how long until every
# one is InProgress, the operator's resident memory and its Lua VM's
# (smop_lua_memory_bytes) with one job and with all, per object, and the
# AWS calls it made. Prints figures; asserts nothing.
#
#   bench/operator_scale.sh [objects] [smop binary]     (default 2000, build/smop)
set -euo pipefail

n=${1:-2000}
smop=${2:-build/smop}
dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

"$smop" fake-kube --crds crds --kubeconfig-out "$dir/kubeconfig" >"$dir/fk.out" 2>"$dir/fk.err" &
pids+=($!)
"$smop" fake-aws --listen 127.0.0.1:0 --speed 0 >"$dir/fa.out" 2>"$dir/fa.err" &
pids+=($!)
for _ in $(seq 100); do
  [ -s "$dir/fa.out" ] && [ -s "$dir/kubeconfig" ] && break
  sleep 0.1
done
aws_url=$(sed -n 's/^fake-aws listening on //p' "$dir/fa.out")
export KUBECONFIG="$dir/kubeconfig" KUBECACHEDIR="$dir/cache" HOME="$dir"

env AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY \
  AWS_ENDPOINT_URL="$aws_url" AWS_EC2_METADATA_DISABLED=true \
  "$smop" run --metrics-addr 127.0.0.1:0 --max-concurrent 64 --poll-interval 5 --kinds trainingjob \
  --scripts-configmap off >"$dir/op.out" 2>"$dir/op.err" &
op=$!
pids+=("$op")
for _ in $(seq 100); do grep -q "caches synced" "$dir/op.err" 2>/dev/null && break; sleep 0.1; done
probes=$(sed -n 's/.*probes=\(http:[^ ]*\).*/\1/p' "$dir/op.err" | head -1)
lua_kib() { curl -s "$probes/metrics" | awk '/^smop_lua_memory_bytes/ { print int($2 / 1024) }'; }

# one job first, so the base figure includes what the first sync loads
# once (the SageMaker API model, the AWS clients)
sed "s/^  name: xgboost-mnist$/  name: scale-0/" examples/xgboost-mnist-trainingjob.yaml | kubectl apply -f - >/dev/null
for _ in $(seq 300); do
  [ "$(kubectl get trainingjob scale-0 -o jsonpath='{.status.trainingJobStatus}')" = InProgress ] && break
  sleep 0.1
done
sleep 5
idle=$(rss_kib "$op")
idle_lua=$(lua_kib)

for i in $(seq "$n"); do
  sed "s/^  name: xgboost-mnist$/  name: scale-$i/" examples/xgboost-mnist-trainingjob.yaml
  echo "---"
done >"$dir/jobs.yaml"
start=$(date +%s.%N)
kubectl apply -f "$dir/jobs.yaml" >/dev/null
applied=$(date +%s.%N)
for _ in $(seq 3000); do
  done_count=$(kubectl get trainingjobs -o jsonpath='{range .items[*]}{.status.trainingJobStatus}{"\n"}{end}' \
    | grep -c '^InProgress$' || true)
  [ "$done_count" -ge $((n + 1)) ] && break
  sleep 1
done
end=$(date +%s.%N)
loaded=$(rss_kib "$op")
sleep 15   # a quiet spell: the Lua collector catches up with the burst
settled=$(rss_kib "$op")
settled_lua=$(lua_kib)
calls=$(curl -s "$aws_url/_smop/state" | python3 -c 'import json,sys; print(json.load(sys.stdin)["calls"]["count"])')

python3 - "$n" "$done_count" "$start" "$applied" "$end" "$idle" "$loaded" "$calls" "$settled" "$idle_lua" "$settled_lua" <<'EOF'
import sys
n, done = int(sys.argv[1]), int(sys.argv[2])
start, applied, end = map(float, sys.argv[3:6])
idle, loaded, calls, settled = int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8]), int(sys.argv[9])
idle_lua, lua = int(sys.argv[10]), int(sys.argv[11])
print(f"{n} TrainingJobs ({done - 1} InProgress); kubectl apply took {applied - start:.1f} s")
print(f"  all InProgress {end - start:.1f} s after the apply began ({n / (end - start):.0f} objects/s, "
      f"through fake-kube and fake-aws on the same machine)")
print(f"  operator RSS: {idle / 1024:.1f} MiB with one job, {loaded / 1024:.1f} MiB right after the "
      f"burst, {settled / 1024:.1f} MiB 15 s later: {(settled - idle) / n:.1f} KiB per object")
print(f"  of it the Lua VM: {idle_lua / 1024:.1f} MiB with one job, {lua / 1024:.1f} MiB with all: "
      f"{(lua - idle_lua) / n:.1f} KiB per object (live data and garbage not yet collected)")
print(f"  AWS calls: {calls} ({calls / n:.2f} per object)")
EOF

#!/usr/bin/env bash
# bench/aws_calls.sh - how many SageMaker calls a training job's life costs
# the operator (DESIGN "Scale and speed": about create + one Describe per
# observed transition, however many jobs run). Runs `smop dev` with a fast
# fake clock, applies N TrainingJobs with kubectl, waits until all are
# Completed and prints the calls the fake recorded, per job, next to what
# plain polling (one Describe per job per poll interval) would have cost.
# Prints figures; asserts nothing.
#
#   bench/aws_calls.sh [jobs] [smop binary]     (default 50, build/smop)
set -euo pipefail

jobs=${1:-50}
smop=${2:-build/smop}
poll=1
speed=5
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT

"$smop" dev --aws-speed "$speed" --poll-interval "$poll" --kubeconfig-out "$dir/kubeconfig" \
  >"$dir/banner" 2>"$dir/log" &
pid=$!
for _ in $(seq 300); do
  grep -q "Ctrl-C stops everything" "$dir/banner" 2>/dev/null && break
  sleep 0.1
done
aws_url=$(sed -n 's/^export AWS_ENDPOINT_URL=//p' "$dir/banner")
export KUBECONFIG="$dir/kubeconfig" KUBECACHEDIR="$dir/cache" HOME="$dir"

for i in $(seq "$jobs"); do
  sed "s/^  name: xgboost-mnist$/  name: bench-$i/" examples/xgboost-mnist-trainingjob.yaml
  echo "---"
done >"$dir/jobs.yaml"
start=$(date +%s.%N)
kubectl apply -f "$dir/jobs.yaml" >/dev/null

for _ in $(seq 1200); do
  done_count=$(kubectl get trainingjobs -o jsonpath='{range .items[*]}{.status.trainingJobStatus}{"\n"}{end}' \
    | grep -c '^Completed$' || true)
  [ "$done_count" -ge "$jobs" ] && break
  sleep 0.5
done
end=$(date +%s.%N)

count() {
  curl -s "$aws_url/_smop/calls?service=sagemaker&operation=$1&limit=10000" \
    | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["calls"]))'
}
creates=$(count CreateTrainingJob)
describes=$(count DescribeTrainingJob)
lists=$(count ListTrainingJobs)
python3 - "$jobs" "$creates" "$describes" "$lists" "$start" "$end" "$poll" "$speed" "$done_count" <<'EOF'
import sys
jobs, creates, describes, lists = map(int, sys.argv[1:5])
start, end, poll, speed = map(float, sys.argv[5:9])
done = int(sys.argv[9])
life = end - start
print(f"{jobs} training jobs ({done} Completed) in {life:.1f} s real, fake clock x{speed:g}, "
      f"--poll-interval {poll:g}")
print(f"  CreateTrainingJob    {creates:6d}  {creates / jobs:5.2f} per job")
print(f"  DescribeTrainingJob  {describes:6d}  {describes / jobs:5.2f} per job")
print(f"  ListTrainingJobs     {lists:6d}  (shared by all jobs: {lists / jobs:5.2f} per job)")
print(f"  total                {creates + describes + lists:6d}  {(creates + describes + lists) / jobs:5.2f} per job")
print(f"  polling instead: about {life / poll:.0f} Describes per job ({life / poll * jobs:.0f} in all)")
EOF

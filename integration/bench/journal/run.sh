#!/usr/bin/env bash
# Journal benchmarks (not tests). Usage: integration/bench/journal/run.sh [N_APPEND] [N_REPORT]
#   - append N records (chained, sealed every 10,000, fsync per 512-record batch) vs writing
#     the same bytes with a BufWriter at the same fsync cadence, and vs serde_json of the same
#     entries; on the disk (a temp dir under /var/tmp) and on tmpfs (/dev/shm: CPU cost only)
#   - verify with the key vs `b3sum` over the same segment files (Debian's b3sum if installed)
#     and vs std::fs::read + blake3::hash in-process
#   - report over N_REPORT (default 1,000,000) records
# Prints one JSON object per measurement.
set -euo pipefail
N=${1:-200000}
NR=${2:-1000000}
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
cargo build --release -q -p vigil-journal --example journal_bench
B=$root/target/release/examples/journal_bench
command -v b3sum >/dev/null || echo '{"note":"b3sum not installed (apt-get install b3sum); verify compared with the blake3 crate only"}'
disk=$(mktemp -d /var/tmp/vigil-journal-bench.XXXXXX)
shm=$(mktemp -d /dev/shm/vigil-journal-bench.XXXXXX)
trap 'rm -rf "$disk" "$shm"' EXIT
# The machine is shared: three rounds each, compare the medians.
for where in "$disk" "$shm"; do
  echo "{\"where\":\"$where\"}"
  for round in 1 2 3; do "$B" append "$N" "$where/j"; done
  for round in 1 2 3; do "$B" verify 0 "$where/j"; done
done
rm -rf "$shm/j" "$shm/j.key"
"$B" append "$NR" "$shm/j" >/dev/null
"$B" verify 0 "$shm/j"
"$B" report 0 "$shm/j"

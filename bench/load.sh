#!/usr/bin/env bash
# SIPp load against the greeting-and-hang-up path of a release `hotline`.
#
#   bench/load.sh RATE SECONDS CALL_MS
#
# Starts target/release/hotline on its own ports and a scratch data directory, places calls
# at RATE calls/s for SECONDS seconds, each hearing the greeting for CALL_MS ms and hanging
# up, then prints: calls attempted / succeeded / failed, CPU of hotline (percent of one
# core, averaged over the run), peak RSS, peak simultaneous calls as SIPp saw them, the
# INVITE -> 200 OK time per call (p50, p99, max) and the WARN/ERROR lines the server logged.
# Loopback only; bounded by -m and a timeout.
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-50} secs=${2:-30} call_ms=${3:-5000}
calls=$((rate * secs))
bin=target/release/hotline
[ -x "$bin" ] || cargo build --release -p hotline
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
sed -e 's/^listen = "127.0.0.1:5060"/listen = "127.0.0.1:15060"/' \
    -e 's/^listen = "127.0.0.1:8080"/listen = "127.0.0.1:18080"/' \
    -e 's/^rtp_port_min = .*/rtp_port_min = 40000/' -e 's/^rtp_port_max = .*/rtp_port_max = 59999/' \
    -e "s#^dir = .*#dir = \"$work/data\"#" -e "s#^flow = .*#flow = \"$PWD/config/ivr.toml\"#" \
    -e "s#^prompts = .*#prompts = \"$PWD/prompts/zh\"#" config/default.toml > "$work/hotline.toml"
RUST_LOG=warn "$bin" serve --config "$work/hotline.toml" 2> "$work/hotline.log" &
pid=$!
for _ in $(seq 50); do curl -sf http://127.0.0.1:18080/healthz >/dev/null 2>&1 && break; sleep 0.1; done
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' /proc/$pid/stat; }
c0=$(cpu); t0=$(date +%s.%N)
peak_rss=0
( while kill -0 $pid 2>/dev/null; do
    r=$(awk '/VmRSS/{print $2}' /proc/$pid/status 2>/dev/null || echo 0)
    echo "$r"; sleep 0.5
  done ) > "$work/rss" &
sampler=$!
ulimit -n 65536 2>/dev/null || true
set +e
# In the scratch directory: SIPp writes its per-call response times (-trace_rtt) there.
(cd "$work" && timeout $((secs + call_ms / 1000 + 60)) sipp -sn uac 127.0.0.1:15060 -s 12345 -i 127.0.0.1 -p 25060 -mp 26000 \
  -r "$rate" -rp 1000 -m "$calls" -d "$call_ms" -l $((rate * (call_ms / 1000 + 2) + 100)) \
  -timeout $((secs + call_ms / 1000 + 50))s -nostdin -trace_stat -stf "$work/stat.csv" -fd 1 -trace_err -error_file "$work/err.log" \
  -trace_rtt -rtt_freq 1 > "$work/sipp.out" 2>&1)
rc=$?
set -e
c1=$(cpu); t1=$(date +%s.%N)
kill $sampler 2>/dev/null || true
peak_rss=$(sort -n "$work/rss" | tail -1)
last=$(tail -1 "$work/stat.csv")
hdr=$(head -1 "$work/stat.csv")
col() { echo "$hdr" | tr ';' '\n' | grep -n "^$1\$" | cut -d: -f1; }
field() { echo "$last" | cut -d';' -f"$(col "$1")"; }
cpu_pct=$(echo "($c1 - $c0) / $ticks / ($t1 - $t0) * 100" | bc -l)
printf 'rate %s cps for %s s, %s ms calls: attempted %s, succeeded %s, failed %s (sipp rc %s)\n' \
  "$rate" "$secs" "$call_ms" "$(field TotalCallCreated)" "$(field SuccessfulCall\(C\))" "$(field FailedCall\(C\))" "$rc"
printf 'hotline CPU %.1f%% of one core (avg), peak RSS %.1f MiB, peak concurrent calls %s\n' \
  "$cpu_pct" "$(echo "$peak_rss / 1024" | bc -l)" "$(awk -F';' -v c="$(col CurrentCall)" 'NR>1{if($c>m)m=$c}END{print m+0}' "$work/stat.csv")"
# INVITE -> 200 OK per call (SIPp's response time 1, ms), and what the server logged.
rtt=$(ls "$work"/*_rtt.csv 2>/dev/null | head -1)
if [ -n "$rtt" ]; then
  awk -F';' 'NR>1 && $2 ~ /^[0-9.]+$/ {print $2}' "$rtt" | sort -n > "$work/rtt.sorted"
  n=$(wc -l < "$work/rtt.sorted")
  pct() { awk -v n="$n" -v p="$1" 'NR==int((n-1)*p/100)+1{print; exit}' "$work/rtt.sorted"; }
  printf 'INVITE->200 OK over %s calls: p50 %s ms, p99 %s ms, max %s ms\n' "$n" "$(pct 50)" "$(pct 99)" "$(tail -1 "$work/rtt.sorted")"
fi
printf 'server log (RUST_LOG=warn): %s WARN, %s ERROR lines\n' \
  "$(grep -c ' WARN ' "$work/hotline.log" || true)" "$(grep -c ' ERROR ' "$work/hotline.log" || true)"
grep -E ' (WARN|ERROR) ' "$work/hotline.log" | sed -E 's/^[^ ]+ +//' | cut -c1-120 | sort | uniq -c | sort -rn | head -5

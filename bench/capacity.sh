#!/usr/bin/env bash
# Capacity of the greeting path of a release `hotline` (issue 13): SIPp callers at a fixed
# rate, each point on a fresh server and a fresh database, one table row per point.
#
#   bench/capacity.sh [RATE:SECS:CALL_MS ...]      (default: 200:30:2000)
#
#   DB=postgres      a scratch PostgreSQL database on 127.0.0.1:5432 (default: SQLite on disk)
#   BIN=path         the binary (default target/release/hotline, built if missing)
#   SET="key = value; ..."  settings of config/default.toml replaced (e.g. "max_write_backlog = 500")
#   MACHINE=0        skip the machine's floor printed above the table
#   PAUSES=0         do not watch the machine for pauses during each point (bench/machine.sh)
#   KEEP=1           keep each point's scratch directory (server log, SIPp files)
#
# Path A is CALL_MS=2000 (the caller hangs up 2 s in), path B CALL_MS=5000. The columns:
#   rate      calls/s offered; SIPp's -r, for SECS seconds
#   ok        answered (200 OK with a ticket) and hung up cleanly
#   failed    anything else: timeouts, other responses, a lost BYE
#   503s      refused for overload (the server's own count; SIPp's agrees or says so)
#   200 p50/p99, 503 p50/p99   INVITE -> final response as SIPp saw it, ms
#   srv 200/503 p99  the same as the server timed it, from the kernel's arrival stamp to the
#             response sent (the bound of its /metrics histogram bucket, ms): SIPp's own
#             figures include SIPp's delays, as it shares the cores
#   tick p99  how late the RTP pacer's 20 ms ticks finished sending (bucket bound, ms): the
#             jitter the callers' phones absorb because the server was busy
#   CPU       the server's user+system time over the run, % of one core
#   RSS idle / peak / after    before the first call, the most during the run, and AFTER_SECS
#             (default 45: past the last transactions' 32 s) after the last call ended (MiB)
#   open rows call rows without ended_at after the run (must be 0)
# and then what the server logged at WARN and above, and the machine's own pauses during
# the point (bench/machine.sh), with when the server logged refusals. Loopback only,
# bounded by -m and timeouts.
set -euo pipefail
cd "$(dirname "$0")/.."
points=("$@")
[ ${#points[@]} -gt 0 ] || points=(200:30:2000)
bin=${BIN:-target/release/hotline}
[ -x "$bin" ] || cargo build --release -p hotline
command -v sipp >/dev/null || { echo "sipp missing: apt-get install -y sip-tester" >&2; exit 1; }
db=${DB:-sqlite}
ticks=$(getconf CLK_TCK)
ulimit -n 1048576 2>/dev/null || ulimit -n 65536 2>/dev/null || true
sip=15060 http=18080

metric() { # NAME -> value from /metrics (0 if absent)
  curl -sf "http://127.0.0.1:$http/metrics" | awk -v n="$1" '$1==n{print $2; f=1} END{if(!f)print 0}'
}
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
mib() { echo "scale=1; $1 / 1024" | bc; }
hq() { # NAME Q FILE -> the bucket bound (ms) of histogram NAME under which a share Q falls
  awk -v n="$1" -v q="$2" 'index($1, n "_bucket{le=\"") == 1 {
      split($1, p, "\""); k++; b[k] = p[2]; c[k] = $2 }
    END { if (k == 0 || c[k] == 0) { print "-"; exit }
      for (i = 1; i <= k; i++) if (c[i] >= q * c[k]) {
        if (b[i] == "+Inf") print ">5000"; else printf "<=%g\n", b[i] * 1000; exit } }' "$3"
}
pct() { # P FILE -> the P-th percentile of a sorted file of numbers
  awk -v p="$1" '{v[NR]=$1} END{if(NR==0){print "-"; exit} i=int((NR-1)*p/100)+1; printf "%.1f", v[i]}' "$2"
}

# The machine's own floor first, so a table can be compared with one taken on another
# machine (MACHINE=0 skips it); its pauses are watched beside each point.
source bench/machine.sh
machine_floor

printf '%-6s %6s %6s %6s %6s | %8s %8s | %8s %8s | %7s %7s | %8s | %6s | %7s %7s %7s | %s\n' \
  rate secs ok failed 503s "200 p50" "200 p99" "503 p50" "503 p99" "srv 200" "srv 503" "tick p99" CPU "RSS idle" peak after "open rows"
logs=()
for point in "${points[@]}"; do
  IFS=: read -r rate secs call_ms <<<"$point"
  call_ms=${call_ms:-2000}
  calls=$((rate * secs))
  work=$(mktemp -d /var/tmp/hotline-capacity.XXXXXX)
  dburl="sqlite://$work/data/hotline.db"
  if [ "$db" = postgres ]; then
    pgdb="hotline_capacity_$$"
    dburl="postgres://postgres@127.0.0.1:5432/$pgdb"
    dropdb -h 127.0.0.1 -U postgres --if-exists "$pgdb"
    createdb -h 127.0.0.1 -U postgres "$pgdb"
  fi
  sed -e "s/^listen = \"127.0.0.1:5060\"/listen = \"127.0.0.1:$sip\"/" \
      -e "s/^listen = \"127.0.0.1:8080\"/listen = \"127.0.0.1:$http\"/" \
      -e 's/^rtp_port_min = .*/rtp_port_min = 30000/' -e 's/^rtp_port_max = .*/rtp_port_max = 59999/' \
      -e 's/^max_calls = .*/max_calls = 12000/' \
      -e "s#^dir = .*#dir = \"$work/data\"\ndatabase = \"$dburl\"#" \
      -e "s#^flow = .*#flow = \"$PWD/config/ivr.toml\"#" \
      -e "s#^prompts = .*#prompts = \"$PWD/prompts/zh\"#" config/default.toml > "$work/hotline.toml"
  IFS=';' read -ra sets <<<"${SET:-}"
  for kv in "${sets[@]}"; do
    kv=$(echo "$kv" | xargs); [ -n "$kv" ] || continue
    grep -q "^${kv%% =*} = " "$work/hotline.toml" || { echo "no setting ${kv%% =*} in config/default.toml" >&2; exit 1; }
    sed -i "s#^${kv%% =*} = .*#$kv#" "$work/hotline.toml"
  done
  RUST_LOG=warn "$bin" serve --config "$work/hotline.toml" 2> "$work/hotline.log" &
  pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$http/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  sleep 1
  idle=$(rss_kb $pid)
  # The server's RSS, and what SIPp's own SIP socket (port 25060) dropped: a response SIPp
  # lost comes back as its INVITE retransmitted 500 ms later, in SIPp's figures only.
  ( while kill -0 $pid 2>/dev/null; do rss_kb $pid >> "$work/rss"
      awk '$2 ~ /:61E4$/ {print $NF}' /proc/net/udp >> "$work/sipp_drops"; sleep 0.5; done ) &
  sampler=$!
  cpu0=$(awk '{print $14 + $15}' /proc/$pid/stat); t0=$(date +%s.%N)
  pauses_start "$work/pauses"
  set +e
  (cd "$work" && timeout $((secs + call_ms / 1000 + 90)) sipp -sf "$OLDPWD/bench/sipp/uac_capacity.xml" \
    127.0.0.1:$sip -s 12345 -i 127.0.0.1 -p 25060 -mp 26000 -r "$rate" -rp 1000 -m "$calls" -buff_size 4194304 \
    -d "$call_ms" -l $((rate * (call_ms / 1000 + 3) + 1000)) -max_socket 60000 \
    -timeout $((secs + call_ms / 1000 + 60))s -recv_timeout 30000 -nostdin \
    -trace_stat -stf "$work/stat.csv" -fd 1 -trace_err -error_file "$work/err.log" \
    -trace_logs -log_file "$work/calls.log" > "$work/sipp.out" 2>&1)
  set -e
  cpu1=$(awk '{print $14 + $15}' /proc/$pid/stat); t1=$(date +%s.%N)
  pauses=$(pauses_stop "$work/pauses" "$work/hotline.log")
  # Every call ended (the server's own count), then the last transactions expire.
  for _ in $(seq 120); do [ "$(metric hotline_calls_active)" = 0 ] && break; sleep 0.5; done
  sleep "${AFTER_SECS:-45}"
  after=$(rss_kb $pid)
  # 503s for every reason and the server's own timings, from one scrape.
  curl -sf "http://127.0.0.1:$http/metrics" > "$work/metrics.txt"
  refused=$(awk '/^hotline_overload_refused_total\{/{n += $2} END{print n + 0}' "$work/metrics.txt")
  kill $sampler 2>/dev/null || true
  kill -TERM $pid; wait $pid 2>/dev/null || true
  peak=$(sort -n "$work/rss" | tail -1)
  if [ "$db" = postgres ]; then
    open=$(psql -X -At "$dburl" -c "SELECT count(*) FROM calls WHERE ended_at IS NULL")
    dropdb -h 127.0.0.1 -U postgres --if-exists "$pgdb"
  else
    open=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT count(*) FROM calls WHERE ended_at IS NULL').fetchone()[0])" "$work/data/hotline.db")
  fi
  hdr=$(head -1 "$work/stat.csv"); last=$(tail -1 "$work/stat.csv")
  field() { echo "$last" | cut -d';' -f"$(echo "$hdr" | tr ';' '\n' | grep -n "^$1\$" | cut -d: -f1)"; }
  done_calls=$(field 'SuccessfulCall(C)'); failed=$(field 'FailedCall(C)')
  ms() { awk -v k="$1" '$1==k{printf "%.3f\n", ($4 - $2) * 1000 + ($5 - $3) / 1000}' "$work/calls.log" | sort -n; }
  ms answer > "$work/answer.ms"; ms refused > "$work/refused.ms"
  sipp_refused=$(wc -l < "$work/refused.ms")
  ok=$((done_calls - sipp_refused))
  note=""; [ "$sipp_refused" = "$refused" ] || note=" (SIPp saw $sipp_refused)"
  printf '%-6s %6s %6s %6s %6s | %8s %8s | %8s %8s | %7s %7s | %8s | %5.1f%% | %7s %7s %7s | %s\n' \
    "$rate" "$secs" "$ok" "$failed" "$refused$note" "$(pct 50 "$work/answer.ms")" "$(pct 99 "$work/answer.ms")" \
    "$(pct 50 "$work/refused.ms")" "$(pct 99 "$work/refused.ms")" \
    "$(hq hotline_call_setup_seconds 0.99 "$work/metrics.txt")" "$(hq hotline_call_refusal_seconds 0.99 "$work/metrics.txt")" \
    "$(hq hotline_rtp_tick_lateness_seconds 0.99 "$work/metrics.txt")" \
    "$(echo "($cpu1 - $cpu0) / $ticks / ($t1 - $t0) * 100" | bc -l)" \
    "$(mib "$idle")" "$(mib "$peak")" "$(mib "$after")" "$open"
  sipp_drops=$(sort -n "$work/sipp_drops" 2>/dev/null | tail -1)
  logs+=("$(printf '%s cps: %s WARN, %s ERROR; SIPp'"'"'s SIP socket dropped %s datagrams\n' "$rate" "$(grep -c ' WARN ' "$work/hotline.log" || true)" "$(grep -c ' ERROR ' "$work/hotline.log" || true)" "${sipp_drops:-0}"
    grep -E ' (WARN|ERROR) ' "$work/hotline.log" | sed -E 's/^[^ ]+ +//; s/[0-9a-f]{8,}|[0-9]+(\.[0-9]+)?/N/g' | cut -c1-110 | sort | uniq -c | sort -rn | head -4
    echo "      $pauses")")
  [ -n "${KEEP:-}" ] && echo "  kept $work" || rm -rf "$work"
  sleep 3   # the previous server's sockets and ports are released
done
echo
echo "server log (RUST_LOG=warn), per point:"
printf '%s\n' "${logs[@]}"

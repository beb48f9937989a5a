#!/usr/bin/env bash
# Time to first byte of the pages (and the JSON they stand beside) with 100,000 cases.
#
#   bench/pages.sh [sqlite|postgres] [CASES] [N]
#
# Starts ${CARGO_TARGET_DIR:-target}/release/hotline (or $HOTLINE_BIN) on its own ports
# (SIP 15160, HTTP 18180) with a scratch data directory — and, for postgres, a scratch
# database `bench_pages` on 127.0.0.1:5432 (trust auth), dropped afterwards. Applies the
# migrations (`hotline migrate`), adds agent 1001, seeds CASES cases (default 100,000) over
# 60 days straight into the schema (bench/seed_cases.py, one transaction), adds the users
# (an agent at 1001, a supervisor, a handler of the bureau `housing` and one of a small
# community), starts `hotline serve`, logs each in (`POST /api/login`; the pages get the
# same token as their `hotline_session` cookie), then for each page (/reports only if the
# binary has it) asks 10 times to warm up and N times (default 200) one after the other on
# one kept-alive connection, and prints curl's time_starttransfer (request sent → first
# byte) p50 / p99 / max in ms, the statuses and the body size; then the WARN/ERROR lines the
# server logged. Loopback only; every request bounded (MAX_TIME, 600 s). KEEP=1 keeps the
# scratch directory.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-sqlite} cases=${2:-100000} n=${3:-200}
bin=${HOTLINE_BIN:-${CARGO_TARGET_DIR:-target}/release/hotline}
[ -x "$bin" ] || cargo build --release -p hotline
work=$(mktemp -d)
pgdb=bench_pages
pgurl="postgres://postgres@127.0.0.1:5432/$pgdb"
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  if [ "$backend" = postgres ]; then dropdb -h 127.0.0.1 -U postgres --if-exists "$pgdb" || true; fi
  [ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
http=127.0.0.1:18180
# Its own small config (as tests/src/server.rs writes one), not config/default.toml: the
# defaults of every section left out.
cat > "$work/hotline.toml" <<EOF
[sip]
listen = "127.0.0.1:15160"

[media]
ip = "127.0.0.1"
rtp_port_min = 36000
rtp_port_max = 36999

[http]
listen = "$http"

[data]
dir = "$work/data"

[trunk]
allowed_sources = ["127.0.0.1/32"]
numbers = ["12345"]

[ivr]
flow = "$PWD/config/ivr.toml"
prompts = "$PWD/prompts/zh"
EOF
if [ "$backend" = postgres ]; then
  dropdb -h 127.0.0.1 -U postgres --if-exists "$pgdb"
  createdb -h 127.0.0.1 -U postgres "$pgdb"
  sed -i "s#^dir = .*#&\ndatabase = \"$pgurl\"#" "$work/hotline.toml"
  target=$pgurl
else
  target=$work/data/hotline.db
fi
cfg=(--config "$work/hotline.toml")
"$bin" migrate "${cfg[@]}"
"$bin" agent add 1001 "${cfg[@]}" --name 王芳 --password bench-secret-1001 --skills "consult:5,agent:3" >/dev/null
t0=$(date +%s.%N)
python3 bench/seed_cases.py "$backend" "$target" --cases "$cases"
printf 'seeding took %.1f s\n' "$(echo "$(date +%s.%N) - $t0" | bc -l)"
pw=bench-password-12
"$bin" user add bench_agent "${cfg[@]}" --name 坐席 --role agent --extension 1001 --password "$pw" >/dev/null
"$bin" user add bench_sup "${cfg[@]}" --name 班长 --role supervisor --password "$pw" >/dev/null
"$bin" user add bench_housing "${cfg[@]}" --name 住建 --role department_handler --department housing --password "$pw" >/dev/null
"$bin" user add bench_small "${cfg[@]}" --name 社区 --role department_handler --department market.u1.c1 --password "$pw" >/dev/null
[ "$backend" = sqlite ] && printf 'database file %s MiB\n' "$(du -m "$target" | cut -f1)"

RUST_LOG=warn "$bin" serve "${cfg[@]}" 2> "$work/hotline.log" &
pid=$!
for _ in $(seq 100); do curl -sf "http://$http/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "http://$http/healthz" >/dev/null || { echo "server did not start"; cat "$work/hotline.log"; exit 1; }

login() {
  curl -sf --max-time 10 -H 'content-type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"$pw\"}" "http://$http/api/login" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'
}
declare -A token
for u in bench_agent bench_sup bench_housing bench_small; do token[$u]=$(login $u); done
today=$(TZ=Asia/Shanghai date +%F)
week_ago=$(TZ=Asia/Shanghai date -d '7 days ago' +%F)

# measure LABEL USER PATH [api]: N requests on one connection (10 before them to warm up);
# a page gets the cookie, the API the bearer header. A page whose first answer takes more
# than 1 s is measured 3 times only, one over 30 s once (and says so); each request is
# bounded by MAX_TIME (600 s). ONLY=REGEX measures only the rows whose label matches.
measure() {
  local label=$1 user=$2 path=$3 kind=${4:-page} auth=() count=$n warm=10
  if [ -n "${ONLY:-}" ] && ! grep -qE -- "$ONLY" <<< "$label"; then return; fi
  if [ -n "$user" ]; then
    if [ "$kind" = api ]; then auth=(-H "authorization: Bearer ${token[$user]}")
    else auth=(-H "cookie: hotline_session=${token[$user]}"); fi
  fi
  local probe first
  probe=$(curl -s -o /dev/null --max-time "${MAX_TIME:-600}" "${auth[@]}" -w '%{http_code} %{time_total}' "http://$http$path" || true)
  first=${probe#* }
  if [ "$(echo "$first > 30" | bc -l)" = 1 ]; then
    # (The server closes a connection after [http.connections] idle_secs, 60 s, without
    # a byte: status 000.)
    printf '| %s (N=1) | ≥ %.0f | | | %s×1 | |\n' "$label" "$(echo "$first * 1000" | bc -l)" "${probe%% *}"
    return
  fi
  if [ "$(echo "$first > 1" | bc -l)" = 1 ]; then count=3 warm=0; label="$label (N=3)"; fi
  local conf=$work/curl.conf
  : > "$conf"
  for _ in $(seq $((count + warm))); do printf 'url = "http://%s%s"\noutput = "/dev/null"\n' "$http" "$path" >> "$conf"; done
  curl -s --max-time "${MAX_TIME:-600}" "${auth[@]}" -K "$conf" -w '%{http_code} %{time_starttransfer} %{size_download}\n' > "$work/t.out" || true
  local codes size
  codes=$(tail -n "$count" "$work/t.out" | cut -d' ' -f1 | sort | uniq -c | awk '{printf "%s×%s ", $2, $1}')
  size=$(tail -1 "$work/t.out" | cut -d' ' -f3)
  tail -n "$count" "$work/t.out" | awk '{printf "%.1f\n", $2 * 1000}' | sort -n > "$work/t.sorted"
  local cnt; cnt=$(wc -l < "$work/t.sorted")
  pct() { awk -v n="$cnt" -v p="$1" 'NR==int((n-1)*p/100)+1{print; exit}' "$work/t.sorted"; }
  printf '| %s | %s | %s | %s | %s| %s |\n' "$label" "$(pct 50)" "$(pct 99)" "$(tail -1 "$work/t.sorted")" "$codes" "$size"
}

echo
echo "backend $backend, $cases cases, N=$n per row (after 10 to warm up), ms to first byte"
echo "| page | p50 | p99 | max | status | bytes |"
echo "|---|---|---|---|---|---|"
measure "/login" "" /login
measure "/desk (agent 1001)" bench_agent /desk
measure "/wallboard (supervisor)" bench_sup /wallboard
measure "/wallboard/board (supervisor)" bench_sup /wallboard/board
measure "/portal (handler of housing, a bureau)" bench_housing /portal
measure "/portal (handler of market.u1.c1)" bench_small /portal
if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H "cookie: hotline_session=${token[bench_sup]}" "http://$http/reports")" != 404 ]; then
  measure "/reports (supervisor)" bench_sup /reports
fi
measure "GET /api/cases (supervisor)" bench_sup "/api/cases" api
measure "GET /api/cases?overdue=true (supervisor)" bench_sup "/api/cases?overdue=true" api
measure "GET /api/cases?status=dispatched&department=housing&subtree=true (sup)" bench_sup "/api/cases?status=dispatched&department=housing&subtree=true" api
measure "GET /api/cases?number=… (supervisor)" bench_sup "/api/cases?number=$(
  if [ "$backend" = postgres ]; then psql -X -At "$pgurl" -c "SELECT caller_number FROM cases GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
  else sqlite3 "$target" "SELECT caller_number FROM cases GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"; fi)" api
measure "GET /api/cases (handler of housing)" bench_housing "/api/cases" api
measure "GET /api/cases?status=accepted&limit=500 (handler of housing)" bench_housing "/api/cases?status=accepted&limit=500" api
measure "GET /api/reports/daily?date=today" bench_sup "/api/reports/daily?date=$today" api
measure "GET /api/reports/daily?date=7 days ago" bench_sup "/api/reports/daily?date=$week_ago" api

echo
printf 'server log (RUST_LOG=warn): %s WARN, %s ERROR lines\n' \
  "$(grep -c ' WARN ' "$work/hotline.log" || true)" "$(grep -c ' ERROR ' "$work/hotline.log" || true)"
grep -E ' (WARN|ERROR) ' "$work/hotline.log" | sed -E 's/^[^ ]+ +//' | cut -c1-160 | sort | uniq -c | sort -rn | head -8

#!/usr/bin/env bash
# N simultaneous bridged, stereo-recorded calls on a release `hotline` (issue 13): N agents
# whose softphones are SIPp, N SIPp callers who reach them through the IVR, both talking for
# the whole call; each point on a fresh server and a fresh database, one table row per point.
#
#   bench/bridged.sh [N ...]      (default: 2500)
#
#   RATE=50          calls/s offered while ramping up (N/RATE seconds)
#   HOLD=30          seconds all N calls are up at once: each caller hangs up N/RATE+HOLD s
#                    after its key, so the last call is bridged before the first one ends
#   DB=postgres      a scratch PostgreSQL database on 127.0.0.1:5432 (default: SQLite on disk)
#   BIN=path         the binary (default target/release/hotline, built if missing)
#   CONFIG=path      the settings to start from (default config/default.toml)
#   SET="key = value; ..."  settings replaced (as in bench/capacity.sh)
#   MACHINE=0        skip the machine's floor printed above the table
#   PAUSES=0         do not watch the machine for pauses during each point (bench/machine.sh)
#   KEEP=1           keep each point's scratch directory (server log, SIPp files, recordings)
#   RTP_TASKS=500    calls each of SIPp's RTP threads plays (its -rtp_threadtasks; SIPp's own
#                    default is 20): at 2,500 calls SIPp's default is 125 threads for the
#                    callers and as many for the agents, each waking 50 times a second to
#                    send one packet per call and to read what came back; the harness's
#                    wake-ups then compete with the server for the same two cores
#   DIR=/var/tmp     where the scratch directory (database, recordings) goes: on disk
#   AFTER_SECS=45    how long after the last call RSS "after" is read
#
# Per point: N agents are added with `hotline agent add` (skill agent:3, the queue the menu's
# 0 and its timeout lead to; defaults: 20 s ring, 30 s wrap-up), the server starts (staffed
# 24h: a copy of config/ivr.toml; max_calls raised to N+1000), one SIPp registers every
# agent from one SIP port and dials *1 (ready) for each (bench/sipp/agent_login.xml), then
# one SIPp UAS on that port answers every offered call and talks: a 400 Hz tone
# (agent_answer_audio.xml). SIPp callers (uac_bridged.xml) call 12345, press 0 by SIP INFO
# during the greeting, talk (a 1 kHz tone) and hang up. The columns:
#   ok / failed   callers whose whole scenario passed / did not (SIPp's count)
#   bridged       call rows the ACD answered with an agent (acd_result = answered)
#   200 p50/p99   INVITE -> the IVR's 200 OK as SIPp saw it, ms
#   wait p99      queued (the key) -> the agent's 200 OK (calls.wait_ms), ms
#   peak          most agents talking at once (/metrics, sampled each second); "@N" the
#                 seconds all N were talking
#   CPU           the server's user+system time while at least 98% of the peak talked
#                 (the plateau), % of one core; host: the machine's busy time then (server,
#                 SIPps, database, anything else), % of all cores; SIPp: both SIPps' whole
#                 runs over the callers' run, % of one core (the whole run's server CPU,
#                 the plateau's split between the server's RTP receive threads and its
#                 recording writers, and both SIPps' CPU on the plateau, are in the log
#                 below)
#   RSS idle / peak / after   with N agents logged in, the most, AFTER_SECS after (MiB)
#   open rows     call rows without ended_at after the run (must be 0)
#   WAVs          conversation recordings / playable / 8 kHz 16-bit stereo / left the citizen's
#                 1 kHz and right the agent's 400 Hz
#   max gap       the longest run of silence inside a channel's talking part, ms (each side
#                 played a continuous tone: silence is audio the server did not deliver);
#                 ">40" how many recordings have a gap over 40 ms (bench/wav_gaps.py)
#   lost/dropped/sendfail  the server's RTP counters: sequence gaps on arrival / bridged
#                 frames not relayed / sends that failed (socket buffer full)
# and then what the server logged at WARN and above, and the machine's own pauses during the
# callers' run (bench/machine.sh): a hole in every recording at one moment is such a pause
# when one ended then; last, what the kernel alone needs to move N calls' packets on this
# machine (from its floor), against its cores. Loopback only, bounded by -m and timeouts.
set -euo pipefail
cd "$(dirname "$0")/.."
points=("$@")
[ ${#points[@]} -gt 0 ] || points=(2500)
bin=${BIN:-target/release/hotline}
[ -x "$bin" ] || cargo build --release -p hotline
command -v sipp >/dev/null || { echo "sipp missing: apt-get install -y sip-tester" >&2; exit 1; }
py=""
for p in python3 /usr/bin/python3; do
  "$p" -c 'import numpy' 2>/dev/null && { py=$p; break; }
done
[ -n "$py" ] || { echo "python3 with numpy missing: apt-get install -y python3-numpy" >&2; exit 1; }
db=${DB:-sqlite}
rate=${RATE:-50}
hold=${HOLD:-30}
config=${CONFIG:-config/default.toml}
ticks=$(getconf CLK_TCK)
ulimit -n 1048576 2>/dev/null || ulimit -n 65536 2>/dev/null || true
# Ports: the server's SIP/HTTP apart from bench/capacity.sh's (15060/18080); its RTP range
# 30000-59999; the SIPps' SIP and media ports below it.
sip=16060 http=19080 caller_sip=27060 caller_mp=27100 agent_sip=27070 agent_mp=27110

metric() { # NAME -> value from /metrics (0 if absent)
  curl -sf "http://127.0.0.1:$http/metrics" | awk -v n="$1" '$1==n{print $2; f=1} END{if(!f)print 0}'
}
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
mib() { echo "scale=1; $1 / 1024" | bc; }
pct() { # P FILE -> the P-th percentile of a sorted file of numbers
  awk -v p="$1" '{v[NR]=$1} END{if(NR==0){print "-"; exit} i=int((NR-1)*p/100)+1; printf "%.0f", v[i]}' "$2"
}
stat_field() { # FILE NAME -> NAME's value in the last line of a SIPp -trace_stat file
  [ -s "$1" ] || { echo -; return; }
  awk -F';' -v k="$2" 'NR==1{for(i=1;i<=NF;i++) if($i==k) c=i} END{print (c ? $c : "-")}' "$1"
}
thread_ticks() { # PREFIX -> CPU ticks of the server's threads whose name starts with PREFIX
  for t in /proc/"$pid"/task/*; do
    read -r comm < "$t/comm" 2>/dev/null || continue
    case $comm in "$1"*) awk '{print $14 + $15}' "$t/stat" 2>/dev/null ;; esac
  done | awk '{s += $1} END{print s + 0}'
}
sipp_ticks() { # CPU ticks of every running SIPp (callers and agents)
  for p in $(pgrep -x sipp); do awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null; done | awk '{s += $1} END{print s + 0}'
}
idle() { awk '/^cpu /{print $5 + $6}' /proc/stat; } # idle + iowait ticks, all CPUs (the busy
# counters of /proc/stat fall short of the process times in this VM: busy = wall - idle)

# The machine's own floor first, so a table can be compared with one taken on another
# machine (MACHINE=0 skips it); its pauses are watched beside each point.
source bench/machine.sh
floor=$(machine_floor)
[ -z "$floor" ] || echo "$floor"
# What the kernel alone takes for N bridged calls on this machine, from that floor: each
# call moves 100 packets a second each way between the SIPps and the server, each packet
# sent once (the floor's send, which delivers it too) and read once (its read), so
# 200 N sends and 200 N reads a second. A point whose figure nears the machine's cores
# cannot be carried whatever the server's own code costs.
floor_send=$(echo "$floor" | sed -n 's/.*send \([0-9.]*\) µs.*/\1/p')
floor_read=$(echo "$floor" | sed -n 's/.*read \([0-9.]*\) µs.*/\1/p')
kernel_floor() { # N -> one line
  [ -n "$floor_send" ] && [ -n "$floor_read" ] || { echo "  kernel floor: not measured (MACHINE=0, or no floor line)"; return; }
  printf '  kernel floor: %s sends and as many reads a second take %.2f of the machine'"'"'s %s cores (send %s µs, read %s µs)\n' \
    "$((200 * $1))" "$(echo "200 * $1 * ($floor_send + $floor_read) / 1000000" | bc -l)" "$(nproc)" "$floor_send" "$floor_read"
}

printf '%-5s %4s | %5s %6s %7s | %7s %7s %7s | %-11s | %5s %5s %5s | %6s %6s %6s | %4s | %-19s | %7s %4s | %s\n' \
  N rate ok failed bridged "200 p50" "200 p99" "wait99" "peak" CPU SIPp host "RSS" peak after open \
  "WAVs/play/st/sides" "max gap" ">40" "lost/dropped/sendfail"
logs=()
for n in "${points[@]}"; do
  work=$(mktemp -d "${DIR:-/var/tmp}/hotline-bridged.XXXXXX")
  dburl="sqlite://$work/data/hotline.db"
  if [ "$db" = postgres ]; then
    pgdb="hotline_bridged_$$"
    dburl="postgres://postgres@127.0.0.1:5432/$pgdb"
    PGOPTIONS='-c client_min_messages=warning' dropdb -h 127.0.0.1 -U postgres --if-exists "$pgdb"
    createdb -h 127.0.0.1 -U postgres "$pgdb"
  fi
  # Staffed around the clock, so the run does not depend on the time of day.
  sed -E 's/^(mon|tue|wed|thu|fri|sat|sun) = .*/\1 = "24h"/' config/ivr.toml > "$work/ivr.toml"
  sed -e "s/^listen = \"127.0.0.1:5060\"/listen = \"127.0.0.1:$sip\"/" \
      -e "s/^listen = \"127.0.0.1:8080\"/listen = \"127.0.0.1:$http\"/" \
      -e 's/^rtp_port_min = .*/rtp_port_min = 30000/' -e 's/^rtp_port_max = .*/rtp_port_max = 59999/' \
      -e "s/^max_calls = .*/max_calls = $((n + 1000))/" \
      -e "s#^dir = .*#dir = \"$work/data\"\ndatabase = \"$dburl\"#" \
      -e "s#^flow = .*#flow = \"$work/ivr.toml\"#" \
      -e "s#^prompts = .*#prompts = \"$PWD/prompts/zh\"#" "$config" > "$work/hotline.toml"
  IFS=';' read -ra sets <<<"${SET:-}"
  for kv in "${sets[@]}"; do
    kv=$(echo "$kv" | xargs); [ -n "$kv" ] || continue
    grep -q "^${kv%% =*} = " "$work/hotline.toml" || { echo "no setting ${kv%% =*} in $config" >&2; exit 1; }
    sed -i "s#^${kv%% =*} = .*#$kv#" "$work/hotline.toml"
  done
  sql() { # QUERY -> the first column of the first row
    if [ "$db" = postgres ]; then psql -X -At "$dburl" -c "$1"
    else "$py" -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])" "$work/data/hotline.db" "$1"
    fi
  }

  # The agents, as an operator adds them (two at a time: the CLI waits on the database).
  echo SEQUENTIAL > "$work/agents.csv"
  for i in $(seq "$n"); do echo "$((10000 + i));pw$((10000 + i))"; done >> "$work/agents.csv"
  "$bin" migrate --config "$work/hotline.toml" > /dev/null
  tail -n +2 "$work/agents.csv" | tr ';' ' ' | xargs -P 2 -n 2 sh -c \
    '"$0" agent add "$2" --name "A$2" --password "$3" --skills agent:3 --config "$1" > /dev/null' \
    "$bin" "$work/hotline.toml"
  hold_ms=$(( (n * 1000 + rate - 1) / rate + hold * 1000 ))
  "$py" bench/tone.py "$work/caller.ulaw" 1000
  "$py" bench/tone.py "$work/agent.ulaw" 400

  RUST_LOG=warn "$bin" serve --config "$work/hotline.toml" 2> "$work/hotline.log" &
  pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$http/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  sleep 1

  # Every softphone registers and dials *1, from the port the answering SIPp will use. The
  # server counts authentications under way from one address against its lockout (5), so
  # the phones log in at LOGIN_RATE (default 20/s) and the few it deferred (503 with
  # Retry-After) log in again, up to 3 more rounds.
  cp "$work/agents.csv" "$work/login.csv.in"
  for round in 1 2 3 4; do
    set +e
    (cd "$work" && timeout $((n / 10 + 120)) sipp -sf "$OLDPWD/bench/sipp/agent_login.xml" 127.0.0.1:$sip \
      -i 127.0.0.1 -mi 127.0.0.1 -p $agent_sip -mp $agent_mp -inf "$work/login.csv.in" \
      -r "${LOGIN_RATE:-20}" -m "$(($(wc -l < "$work/login.csv.in") - 1))" -l 200 \
      -timeout $((n / 10 + 100))s -recv_timeout 30000 -nostdin \
      -trace_err -error_file "$work/login_err.$round.log" > "$work/login.$round.out" 2>&1)
    set -e
    sleep 2
    curl -sf -H "Authorization: Bearer $(cat "$work/data/operator.token")" "http://127.0.0.1:$http/api/agents" |
      "$py" -c 'import json,sys
d=json.load(sys.stdin); d=d.get("agents", d) if isinstance(d, dict) else d
print("SEQUENTIAL")
for a in d:
    if a["state"] != "ready": print("%s;pw%s" % (a["extension"], a["extension"]))' > "$work/login.csv.in"
    [ "$(wc -l < "$work/login.csv.in")" -gt 1 ] || break
  done
  ready=$(metric 'hotline_agents{state="ready"}')
  [ "$ready" -ge "$n" ] || echo "  only $ready of $n agents ready after $round rounds (see $work/login_err.*.log)" >&2
  idle=$(rss_kb $pid)

  # The agents answer (in the background); the callers call.
  (cd "$work" && exec timeout $((2 * hold_ms / 1000 + 180)) /usr/bin/time -f '%U %S' -o "$work/agents.cpu" sipp -sf "$OLDPWD/bench/sipp/agent_answer_audio.xml" \
    -i 127.0.0.1 -mi 127.0.0.1 -p $agent_sip -mp $agent_mp -m "$n" -nostdin \
    -timeout $((2 * hold_ms / 1000 + 150))s -max_socket 60000 -rtp_threadtasks "${RTP_TASKS:-500}" \
    -trace_stat -stf "$work/agents_stat.csv" -trace_err -error_file "$work/agents_err.log" > "$work/agents.out" 2>&1) &
  uas=$!
  ( while kill -0 $pid 2>/dev/null; do # RSS, agents talking, server CPU ticks, host idle ticks,
      # time, lag, CPU ticks of the receive threads, of the recording writers and of the SIPps
      m=$(curl -sf "http://127.0.0.1:$http/metrics")
      echo "$(rss_kb $pid) $(echo "$m" | awk '$1=="hotline_agents{state=\"on_call\"}"{v=$2} END{print v+0}') $(awk '{print $14 + $15}' /proc/$pid/stat) $(idle) $(date +%s.%N) $(echo "$m" | awk '$1=="hotline_runtime_lag_seconds"{v=$2} END{print v+0}') $(thread_ticks rtp-recv) $(thread_ticks rec-writer) $(sipp_ticks)"
      sleep 1
    done ) > "$work/samples" &
  sampler=$!
  sleep 1
  cpu0=$(awk '{print $14 + $15}' /proc/$pid/stat); t0=$(date +%s.%N); i0=$(idle)
  pauses_start "$work/pauses"
  set +e
  (cd "$work" && timeout $((hold_ms / 1000 + n / rate + 150)) /usr/bin/time -f '%U %S' -o "$work/callers.cpu" sipp -sf "$OLDPWD/bench/sipp/uac_bridged.xml" \
    127.0.0.1:$sip -s 12345 -i 127.0.0.1 -mi 127.0.0.1 -p $caller_sip -mp $caller_mp \
    -r "$rate" -rp 1000 -m "$n" -l $((n + 100)) -max_socket 60000 -rtp_threadtasks "${RTP_TASKS:-500}" \
    -set key_ms 1000 -set hold_ms "$hold_ms" \
    -timeout $((hold_ms / 1000 + n / rate + 120))s -recv_timeout 30000 -nostdin \
    -trace_stat -stf "$work/stat.csv" -fd 1 -trace_err -error_file "$work/err.log" \
    -trace_logs -log_file "$work/calls.log" > "$work/sipp.out" 2>&1)
  set -e
  cpu1=$(awk '{print $14 + $15}' /proc/$pid/stat); t1=$(date +%s.%N); i1=$(idle)
  pauses=$(pauses_stop "$work/pauses" "$work/hotline.log")
  # Every call ended (the server's own count); the agents' SIPp is done then (it waits for
  # N calls: fewer came if callers were refused), then the last transactions expire.
  for _ in $(seq 120); do [ "$(metric hotline_calls_active)" = 0 ] && break; sleep 0.5; done
  for _ in $(seq 20); do kill -0 $uas 2>/dev/null || break; sleep 0.5; done
  kill -TERM $uas 2>/dev/null || true
  set +e; wait $uas; set -e
  sleep "${AFTER_SECS:-45}"
  after=$(rss_kb $pid)
  lost=$(metric hotline_rtp_packets_lost_total); dropped=$(metric hotline_rtp_relay_dropped_total)
  sendfail=$(metric hotline_rtp_send_failed_total)
  kill $sampler 2>/dev/null || true
  kill -TERM $pid; wait $pid 2>/dev/null || true
  peak=$(awk '{print $1}' "$work/samples" | sort -n | tail -1)
  maxlag=$(awk '$6 * 1000 > m {m = $6 * 1000} END{printf "%.0f", m}' "$work/samples")
  talking=$(awk '{print $2}' "$work/samples" | sort -n | tail -1)
  at_n=$(awk -v n="$n" '$2 >= n' "$work/samples" | wc -l)
  # CPU on the plateau: between consecutive samples both at >= 98% of the peak.
  read -r plateau_cpu plateau_host plateau_recv plateau_writers plateau_sipp < <(awk -v thr="$(echo "$talking * 0.98" | bc)" -v cpus="$(nproc)" -v hz="$ticks" '
    NF >= 9 && p && $2 >= thr && $2 > 0 { c += $3 - pc; i += $4 - pi; t += $5 - pt; r += $7 - pr; w += $8 - pw; s += $9 - ps }
    NF >= 9 { p = ($2 >= thr); pc = $3; pi = $4; pt = $5; pr = $7; pw = $8; ps = $9 }
    END { if (t) printf "%.0f %.0f %.0f %.0f %.0f\n", c / hz / t * 100, (1 - i / hz / t / cpus) * 100, r / hz / t * 100, w / hz / t * 100, s / hz / t * 100; else print "- - - - -" }' "$work/samples")
  open=$(sql "SELECT count(*) FROM calls WHERE ended_at IS NULL")
  bridged=$(sql "SELECT count(*) FROM calls WHERE acd_result = 'answered'")
  if [ "$db" = postgres ]; then
    psql -X -At "$dburl" -c "SELECT wait_ms FROM calls WHERE wait_ms IS NOT NULL ORDER BY 1" > "$work/wait.ms"
    dropdb -h 127.0.0.1 -U postgres --if-exists "$pgdb"
  else
    "$py" -c "import sqlite3,sys; [print(r[0]) for r in sqlite3.connect(sys.argv[1]).execute('SELECT wait_ms FROM calls WHERE wait_ms IS NOT NULL ORDER BY 1')]" \
      "$work/data/hotline.db" > "$work/wait.ms"
  fi
  ok=$(stat_field "$work/stat.csv" 'SuccessfulCall(C)'); failed=$(stat_field "$work/stat.csv" 'FailedCall(C)')
  awk '$1=="answer"{printf "%.3f\n", ($4 - $2) * 1000 + ($5 - $3) / 1000}' "$work/calls.log" | sort -n > "$work/answer.ms"
  # The recordings: every conversation WAV checked.
  "$py" bench/wav_gaps.py "$work/data/recordings" > "$work/wavs.txt" 2>&1 || true
  summary=$(grep '^summary ' "$work/wavs.txt" || echo "summary files=0")
  w() { echo "$summary" | tr ' ' '\n' | awk -F= -v k="$1" '$1==k{print $2}'; }
  sipp_cpu=$(cat "$work/agents.cpu" "$work/callers.cpu" 2>/dev/null | awk '$1+0==$1{t+=$1+$2} END{print t+0}')
  printf '%-5s %4s | %5s %6s %7s | %7s %7s %7s | %-11s | %4s%% %4.0f%% %4s%% | %6s %6s %6s | %4s | %-19s | %7s %4s | %s\n' \
    "$n" "$rate" "$ok" "$failed" "$bridged" "$(pct 50 "$work/answer.ms")" "$(pct 99 "$work/answer.ms")" \
    "$(pct 99 "$work/wait.ms")" "$talking @${at_n}s" \
    "$plateau_cpu" "$(echo "$sipp_cpu / ($t1 - $t0) * 100" | bc -l)" "$plateau_host" \
    "$(mib "$idle")" "$(mib "$peak")" "$(mib "$after")" "$open" \
    "$(w files)/$(w playable)/$(w stereo)/$(w sides_ok)" "$(w max_gap_ms)" "$(w over_limit)" "$lost/$dropped/$sendfail"
  logs+=("$(printf 'N=%s: %s WARN, %s ERROR; agents ready %s of %s (%s login rounds); agents SIPp: %s ok, %s failed; server CPU over the callers'"'"' run %.0f%%, host %.0f%%; on the plateau the receive threads %s%%, the recording writers %s%%, both SIPps %s%%; runtime lag at most %s ms (sampled each second)\n  recordings: %s\n' \
      "$n" "$(grep -c ' WARN ' "$work/hotline.log" || true)" "$(grep -c ' ERROR ' "$work/hotline.log" || true)" \
      "$ready" "$n" "$round" "$(stat_field "$work/agents_stat.csv" 'SuccessfulCall(C)')" \
      "$(stat_field "$work/agents_stat.csv" 'FailedCall(C)')" \
      "$(echo "($cpu1 - $cpu0) / $ticks / ($t1 - $t0) * 100" | bc -l)" \
      "$(echo "(1 - ($i1 - $i0) / $ticks / ($t1 - $t0) / $(nproc)) * 100" | bc -l)" \
      "$plateau_recv" "$plateau_writers" "$plateau_sipp" "$maxlag" \
      "${summary#summary }"
    grep -E ' (WARN|ERROR) ' "$work/hotline.log" | sed -E 's/^[^ ]+ +//; s/[0-9a-f]{8,}|[0-9]+(\.[0-9]+)?/N/g' | cut -c1-110 | sort | uniq -c | sort -rn | head -6
    grep -v '^summary ' "$work/wavs.txt" | head -3 || true
    echo "  $pauses"
    kernel_floor "$n")")
  [ -n "${KEEP:-}" ] && echo "  kept $work" || rm -rf "$work"
  sleep 3   # the previous server's sockets and ports are released
done
echo
echo "per point: server log (RUST_LOG=warn), agents, recordings:"
printf '%s\n' "${logs[@]}"

# The machine under the load scripts, sourced by bench/capacity.sh and bench/bridged.sh:
# its floor printed above a table, and its pauses watched beside each point
# (crates/media/benches/machine.rs).

# The machine bench's executable, built once.
machine_bin=$(cargo bench -q -p hotline-media --bench machine --no-run --message-format=json 2>/dev/null |
  sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)

# Prints the machine's floor (a loopback sendto, a G.711 sample), so a table can be
# compared with one taken on another machine. MACHINE=0 skips it.
machine_floor() {
  [ "${MACHINE:-1}" = 0 ] || [ -z "$machine_bin" ] || "$machine_bin" 5 | grep '^machine:' || true
}

# pauses_start FILE: watches the machine for pauses (a thread sleeping 1 ms at a time, at a
# real-time priority, late by over 15 ms) in the background, into FILE, until pauses_stop.
# PAUSES=0 does not watch.
pauses_start() {
  pauses_pid=""
  [ -n "$machine_bin" ] && [ "${PAUSES:-1}" != 0 ] || return 0
  local chrt=()
  command -v chrt >/dev/null && chrt -f 50 true 2>/dev/null && chrt=(chrt -f 50)
  "${chrt[@]}" "$machine_bin" pauses 86400 > "$1" 2>/dev/null &
  pauses_pid=$!
}

# pauses_stop FILE LOG: ends the watch and prints one line: the machine's pauses, the
# longest and when they ended, and when the server's LOG says it refused calls for overload
# (a refusal at the end of a pause is the machine's, not the server's load).
pauses_stop() {
  [ -n "$pauses_pid" ] || { echo "machine pauses: not watched"; return 0; }
  kill "$pauses_pid" 2>/dev/null; wait "$pauses_pid" 2>/dev/null || true
  local n longest at refused
  n=$(grep -c '^pause ' "$1" || true)
  longest=$(awk '$1=="pause"{if($2>m)m=$2} END{printf "%.0f", m}' "$1")
  at=$(awk '$1=="pause"{print $2, $6}' "$1" | sort -rn | head -6 |
    while read -r ms t; do printf ' %s (%.0f ms)' "$(date -u -d "@$t" +%H:%M:%S.%2N)" "$ms"; done)
  refused=$(grep 'refusing new calls' "$2" | cut -c12-22 | head -6 | tr '\n' ' ')
  echo "machine pauses over 15 ms: ${n:-0}, longest ${longest:-0} ms;${at:+ the longest ended at$at;} overload refusals logged at: ${refused:-none}"
}

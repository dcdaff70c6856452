#!/usr/bin/env bash
# bench/loadgen.sh: is `cdnnode loadtest` as fast a client as wrk? Both
# drive the same nginx serving a static 1 KiB file, closed loop with 64
# connections, both pinned to the same core, and the script reports
# loadtest's req/s over wrk's against issue 7's goal of at least 0.90.
#
#   DURATION=10s ROUNDS=3 bash bench/loadgen.sh
#
# nginx (one worker) runs pinned to CPU 1; `wrk -t1 -c64` and
# `cdnnode loadtest -c 64` take turns on CPU 0 (wrk, loadtest, wrk,
# loadtest, ...), both asking for the same URL. Nothing is written into
# the repository except bin/cdnnode (make build); everything else lives in
# temp dirs that are removed on exit. See bench/README.md.
#
# Environment:
#   DURATION     length of each client's run (default 10s; a whole number
#                of s, m or h, which wrk and loadtest both read alike)
#   ROUNDS       wrk-then-loadtest pairs; each client reports the median
#                of its rounds (default 3)
#   CONNECTIONS  connections of both clients (default 64, at most 4000)
#   KEEP_TMP=1   keep the temp dirs (nginx config, logs, reports)
set -Eeuo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=loadgen
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
GOAL=0.90 # issue 7: loadtest's req/s over wrk's

PORT=18085 # clear of peers.sh's ports
BYTES=1024
# The request target both clients send: loadtest's URL for key 0 of
# `--keys single --prefix lt- --size 1KiB`. nginx serves the file at the
# path and ignores the query.
OBJ=/obj/lt-0
TARGET="$OBJ?size=$BYTES"

[[ $DURATION =~ ^[1-9][0-9]*[smh]$ ]] || die "DURATION must be a whole number of s, m or h (such as 10s), got '$DURATION'"
[[ $ROUNDS =~ ^[1-9][0-9]?$ ]] || die "ROUNDS must be a whole number from 1 to 99, got '$ROUNDS'"
# nginx's worker takes 4096 connections.
[[ $CONNECTIONS =~ ^[1-9][0-9]{0,3}$ ]] && ((CONNECTIONS <= 4000)) ||
	die "CONNECTIONS must be a whole number from 1 to 4000, got '$CONNECTIONS'"

# ---------------------------------------------------------------------------
# 1. Tools and CPUs.

export PATH="$PATH:/usr/sbin:/sbin" # where nginx lives
need_tools go curl taskset make awk nproc
command -v wrk >/dev/null || die "wrk is not installed: the comparison needs it (Debian: apt-get install wrk)"
command -v nginx >/dev/null || die "nginx is not installed: it serves the target (Debian: apt-get install nginx-light)"
[[ $(nproc --all 2>/dev/null || echo 1) -ge 2 ]] || die "need at least 2 CPUs (0 for the clients, 1 for nginx)"
# Go sizes GOMAXPROCS from the CPU affinity mask, as nproc reads it: under
# taskset -c 0 it is 1. Check that the mask holds here (a container may
# ignore it); loadtest still gets GOMAXPROCS=1 explicitly, so an inherited
# GOMAXPROCS cannot give it more threads than its core.
[[ $(taskset -c 0 nproc) == 1 ]] || die "taskset -c 0 does not restrict a process to one CPU here (nproc under it says $(taskset -c 0 nproc))"
[[ ${GOMAXPROCS:-1} == 1 ]] || log "GOMAXPROCS=$GOMAXPROCS in the environment: loadtest runs with GOMAXPROCS=1 regardless"

make_tmp
need_free_port "$PORT"

# ---------------------------------------------------------------------------
# 2. Build the client; configure and start nginx.

build_cdnnode "$REPO"

# The file on tmpfs, kept open by open_file_cache and sent with sendfile:
# no request touches a disk or opens a file (as peers.sh's nginx-return
# serves its larger object).
make_www "$TMP/www"
mkdir -p "$WWW$(dirname "$OBJ")" "$TMP/nginx/tmp"
head -c "$BYTES" /dev/zero | tr '\0' x >"$WWW$OBJ"
chmod 644 "$WWW$OBJ"

dir=$TMP/nginx
{
	nginx_head "$dir"
	cat <<EOF
    default_type text/plain;
    open_file_cache max=64 inactive=10m;
    open_file_cache_valid 10m;

    server {
        listen $HOST:$PORT;
        root $WWW;
        location = $OBJ { }
    }
}
EOF
} >"$dir/nginx.conf"
nginx -t -q -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf" >"$TMP/nginx-t.log" 2>&1 || {
	cat "$TMP/nginx-t.log" >&2
	die "nginx -t rejected $dir/nginx.conf"
}

# Anything else running skews both clients; say so up front and in the
# output.
note_load "the clients and nginx"

log "nginx on $HOST:$PORT (CPU 1)"
start nginx 1 nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf"
NGINX_PID=$LAST_PID
wait_port nginx "$NGINX_PID" "$PORT"

URL="http://$HOST:$PORT"
got=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code} %{size_download}' "$URL$TARGET") ||
	die "GET $URL$TARGET failed"
[[ $got == "200 $BYTES" ]] || die "GET $URL$TARGET: status and body size '$got', want '200 $BYTES'"

# ---------------------------------------------------------------------------
# 3. The runs: wrk, loadtest, wrk, loadtest, ... on CPU 0.

FAILED=0

# run_wrk: wrk's req/s into RPS, or "-".
run_wrk() {
	local out
	RPS="-"
	out=$(taskset -c 0 wrk -t1 "-c$CONNECTIONS" "-d$DURATION" "$URL$TARGET" 2>&1) || {
		printf '%s\n' "$out" >&2
		log "wrk failed"
		FAILED=1
		return 0
	}
	printf '%s\n' "$out" >>"$TMP/wrk.log"
	if grep -Eq 'Non-2xx|Socket errors' <<<"$out"; then
		log "wrk saw errors: $(grep -E 'Non-2xx|Socket errors' <<<"$out" | sed 's/^ *//' | tr '\n' ' ')"
		FAILED=1
	fi
	RPS=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
	RPS=${RPS:--}
}

# run_loadtest: loadtest's req/s into RPS, or "-". --warmup 0s: like wrk, it
# measures the whole DURATION (it connects before its clock starts). The
# fixed seed changes nothing with a single key; it only keeps runs alike.
run_loadtest() {
	local out
	RPS="-"
	out=$(taskset -c 0 env GOMAXPROCS=1 "$CDNNODE" loadtest -c "$CONNECTIONS" --duration "$DURATION" --warmup 0s \
		--keys single --prefix lt- --size 1KiB --seed 1 "$URL" 2>>"$TMP/loadtest-progress.log") || {
		printf '%s\n' "$out" >&2
		tail -n 5 "$TMP/loadtest-progress.log" >&2 || true
		log "cdnnode loadtest failed"
		FAILED=1
		return 0
	}
	printf '%s\n' "$out" >>"$TMP/loadtest.log"
	# Every request must have been answered 200, with no error: the same
	# file wrk fetched.
	if ! grep -Eq '^status +200: [0-9]+$' <<<"$out" || ! grep -Eq '^requests +[0-9]+, [0-9.]+ req/s, 0 errors$' <<<"$out"; then
		log "loadtest's requests were not all answered 200: $(grep -E '^(requests|status|errors) ' <<<"$out" | tr -s ' ' | tr '\n' ';')"
		FAILED=1
	fi
	RPS=$(awk '$1 == "requests" { print $3 }' <<<"$out")
	RPS=${RPS:--}
}

# busy BEFORE AFTER: each CPU's busy share between two cpu_ticks, as
# "CPU 0 99% busy, CPU 1 87%". A client that is the bottleneck keeps
# CPU 0 near 100% while CPU 1 has room; if CPU 1 is full, nginx is the
# limit and the run says little about the client.
busy() {
	printf 'CPU 0 %s busy, CPU 1 %s' "$(pct "$(busy_pct "$1" "$2" 0)")" "$(pct "$(busy_pct "$1" "$2" 1)")"
}

WRK=() LT=()
for ((round = 1; round <= ROUNDS; round++)); do
	log "round $round of $ROUNDS: wrk -t1 -c$CONNECTIONS -d$DURATION (CPU 0)"
	before=$(cpu_ticks)
	run_wrk
	WRK+=("$RPS")
	printf 'round %d  wrk       %9s req/s  (%s)\n' "$round" "$RPS" "$(busy "$before" "$(cpu_ticks)")"
	log "round $round of $ROUNDS: cdnnode loadtest -c $CONNECTIONS --duration $DURATION (CPU 0)"
	before=$(cpu_ticks)
	run_loadtest
	LT+=("$RPS")
	printf 'round %d  loadtest  %9s req/s  (%s)\n' "$round" "$RPS" "$(busy "$before" "$(cpu_ticks)")"
done

# ---------------------------------------------------------------------------
# 4. Medians and the ratio.

wrk_med=$(median 0 "${WRK[@]}")
lt_med=$(median 0 "${LT[@]}")
ratio=$(ratio "$lt_med" "$wrk_med")
if [[ $ratio == "-" ]]; then
	verdict="not measured"
elif awk -v r="$ratio" -v g="$GOAL" 'BEGIN { exit !(r + 0 >= g + 0) }'; then
	verdict=PASS
else
	verdict=MISS
fi

echo
echo "## Client throughput, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc --all) CPUs, nginx $(nginx -v 2>&1 | sed 's|.*/||') (1 worker, CPU 1) serving a static ${BYTES}-byte file"
echo "wrk -t1 -c$CONNECTIONS and cdnnode loadtest -c $CONNECTIONS, each on CPU 0 for $DURATION, $ROUNDS interleaved round(s); 1-min load average before the run: $LOAD_BEFORE"
cdnnode_version
echo
echo "| client | req/s (median) | rounds |"
echo "|---|---:|---|"
echo "| wrk -t1 -c$CONNECTIONS | $wrk_med | ${WRK[*]} |"
echo "| cdnnode loadtest -c $CONNECTIONS | $lt_med | ${LT[*]} |"
echo
echo "- loadtest / wrk, req/s: $ratio (goal >= $GOAL: $verdict)"

if [[ $FAILED != 0 ]]; then
	log "some runs failed or saw errors (see above)"
	exit 1
fi

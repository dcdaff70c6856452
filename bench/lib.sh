# shellcheck shell=bash
# bench/lib.sh: the shell functions bench/peers.sh and bench/loadgen.sh
# share: logging, the processes and temp dirs stopped and removed on exit,
# waiting for ports, the build, the nginx config's head, medians and ratios.
#
# A script sets BENCH, its name (the prefix of its log lines and of its
# temp dirs' names), then sources this file, which installs the EXIT, INT
# and TERM traps at once:
#
#   BENCH=peers
#   . "$REPO/bench/lib.sh"

HOST=127.0.0.1 # every server listens on loopback only

log() { printf '[%s] %s\n' "$BENCH" "$*" >&2; }
die() {
	printf '[%s] ERROR: %s\n' "$BENCH" "$*" >&2
	exit 1
}

# ---------------------------------------------------------------------------
# Cleanup: every process the script starts is recorded in PIDS (start does
# it) and stopped on exit, however the script ends; every dir in TMP_DIRS
# (make_tmp and make_www add theirs) is removed then, unless KEEP_TMP=1.

PIDS=()
TMP_DIRS=()
TMP=""
WWW=""

stop_pid() { # pid: TERM, wait up to 5s, then KILL
	local pid=$1 i
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "pid $pid ignored SIGTERM; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$? i d
	trap - EXIT INT TERM
	set +e
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		stop_pid "${PIDS[i]}"
	done
	for d in "${TMP_DIRS[@]}"; do
		[[ -n $d && -d $d ]] || continue
		if [[ ${KEEP_TMP:-0} == 1 ]]; then
			log "temp dir kept: $d"
		else
			rm -rf "$d"
		fi
	done
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# make_tmp: a new temp dir into TMP, removed on exit. The servers' workers
# drop privileges; it lets them reach their files.
make_tmp() {
	TMP=$(mktemp -d "/tmp/cdnnode-$BENCH.XXXXXX")
	TMP_DIRS+=("$TMP")
	chmod 755 "$TMP"
}

# make_www FALLBACK: a new dir into WWW for nginx to serve files from, on
# tmpfs (/dev/shm, removed on exit) when there is one, else FALLBACK (made,
# with a warning: its files are served from the page cache).
make_www() {
	if [[ $(stat -f -c %T /dev/shm 2>/dev/null) == tmpfs ]]; then
		WWW=$(mktemp -d "/dev/shm/cdnnode-$BENCH-www.XXXXXX")
	else
		WWW=$1
		mkdir -p "$WWW"
		log "WARNING: /dev/shm is not a tmpfs: the files nginx serves live in $WWW (the page cache, not tmpfs)"
	fi
	TMP_DIRS+=("$WWW")
	chmod 755 "$WWW"
}

# start NAME CPU CMD...: run CMD in the background pinned to CPU, output
# appended to $TMP/NAME.log; sets LAST_PID. taskset execs CMD, so the pid is
# CMD's own.
LAST_PID=""
start() {
	local name=$1 cpu=$2
	shift 2
	taskset -c "$cpu" "$@" >>"$TMP/$name.log" 2>&1 &
	LAST_PID=$!
	PIDS+=("$LAST_PID")
}

# stop_one PID: stop one process and forget it.
stop_one() {
	local pid=$1 i keep=()
	stop_pid "$pid"
	for i in "${PIDS[@]}"; do
		[[ $i == "$pid" ]] || keep+=("$i")
	done
	PIDS=("${keep[@]}")
}

# ---------------------------------------------------------------------------
# Ports, tools, the build.

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# wait_port NAME PID PORT: up to 15s for PORT to accept, failing early if the
# process exits.
wait_port() {
	local name=$1 pid=$2 port=$3 i
	for ((i = 0; i < 150; i++)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 20 "$TMP/$name.log" >&2 || true
			die "$name exited before listening on $HOST:$port (log above)"
		fi
		port_open "$port" && return 0
		sleep 0.1
	done
	tail -n 20 "$TMP/$name.log" >&2 || true
	die "$name did not listen on $HOST:$port within 15s"
}

need_free_port() {
	if port_open "$1"; then
		die "$HOST:$1 is already in use (a leftover server?); free it and rerun"
	fi
}

# need_tools CMD...: die unless every CMD is on PATH.
need_tools() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null || die "'$t' is required but not on PATH"
	done
}

# build_cdnnode REPO: make build in REPO; sets CDNNODE to the binary.
CDNNODE=""
build_cdnnode() {
	log "make -C $1 build"
	make -C "$1" build >"$TMP/build.log" 2>&1 || {
		cat "$TMP/build.log" >&2
		die "make build failed"
	}
	CDNNODE=$1/bin/cdnnode
}

# cdnnode_version: the first line of `cdnnode version`.
cdnnode_version() {
	"$CDNNODE" version 2>/dev/null | head -n1 || echo "cdnnode (version unknown)"
}

# note_load WHO: anything else running skews the figures; say so up front
# (WHO: what a `go test` takes CPU from) and keep the 1-min load average in
# LOAD_BEFORE for the output.
LOAD_BEFORE=""
note_load() {
	LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo "?")
	if awk -v l="$LOAD_BEFORE" 'BEGIN { exit !(l + 0 > 0.5) }'; then
		log "WARNING: 1-min load average is $LOAD_BEFORE before starting: something else is using the CPUs, numbers will be noisy"
	fi
	if command -v pgrep >/dev/null && pgrep -f 'go test' >/dev/null; then
		log "WARNING: a 'go test' is running: it takes CPU from $1, numbers will be noisy"
	fi
}

# nginx_head DIR: the top of an nginx.conf whose files live in DIR, up to the
# http block's server block; the caller adds the rest and the closing brace.
nginx_head() {
	cat <<EOF
# Run as root so the worker can use the temp dirs this script made.
user root;
worker_processes 1;
daemon off;
pid $1/nginx.pid;
error_log $1/error.log warn;

events {
    worker_connections 4096;
}

http {
    access_log off;
    sendfile on;
    keepalive_requests 1000000;
    client_body_temp_path $1/tmp/body;
    proxy_temp_path $1/tmp/proxy;
    fastcgi_temp_path $1/tmp/fastcgi;
    uwsgi_temp_path $1/tmp/uwsgi;
    scgi_temp_path $1/tmp/scgi;
EOF
}

# ---------------------------------------------------------------------------
# Figures.

# cpu_ticks: "busy0 total0 busy1 total1", the jiffies CPUs 0 and 1 have
# spent busy and in all (user to steal; idle and iowait are not busy).
cpu_ticks() {
	awk '$1 == "cpu0" || $1 == "cpu1" {
		t = 0
		for (i = 2; i <= 9; i++) t += $i
		printf "%d %d ", t - $5 - $6, t
	}' /proc/stat
}

# busy_pct BEFORE AFTER CPU: how busy CPU (0 or 1) was between two
# cpu_ticks, in whole percent ("99"), or "-".
busy_pct() {
	awk -v a="$1" -v b="$2" -v c="$3" 'BEGIN {
		split(a, x, " "); split(b, y, " ")
		d = y[2 * c + 2] - x[2 * c + 2]
		if (d > 0) printf "%.0f\n", 100 * (y[2 * c + 1] - x[2 * c + 1]) / d; else print "-"
	}'
}

# pct N: N% ("-" stays).
pct() { [[ $1 == "-" ]] && echo "-" || echo "$1%"; }

# median PLACES V...: the median of the numbers among V ("-" ignored) to
# PLACES decimal places, or "-".
median() {
	local places=$1
	shift
	printf '%s\n' "$@" | awk '$1 != "-"' | sort -g | awk -v f="%.${places}f\n" '
		{ v[NR] = $1 }
		END {
			if (NR == 0) print "-"
			else if (NR % 2) printf f, v[(NR + 1) / 2]
			else printf f, (v[NR / 2] + v[NR / 2 + 1]) / 2
		}'
}

ratio() { # a b -> a/b to 2 places, or -
	awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else printf "-" }'
}

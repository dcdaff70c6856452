#!/usr/bin/env bash
# bench/peers.sh: hit throughput of cdnnode next to nginx (proxy_cache),
# Varnish (malloc) and a minimal Go net/http server, all on loopback.
#
#   DURATION=10s bash bench/peers.sh
#
# Each server under test runs alone, pinned to CPU 1; wrk runs pinned to
# CPU 0; the demo origin (hit once per object) runs on CPU 0 too. Nothing is
# written into the repository except bin/cdnnode (make build); everything
# else lives in a temp dir that is removed on exit. See bench/README.md.
#
# Environment:
#   DURATION     wrk run length per row (default 10s; keep it under ~50s:
#                the origin's objects are fresh for 60s)
#   CONNECTIONS  wrk connections (default 64)
#   SERVERS      which servers to run, space-separated (default
#                "cdnnode nginx varnish minimal"); the ratio needs minimal
#   KEEP_TMP=1   keep the temp dir (configs, server logs) for debugging
set -Eeuo pipefail

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
SERVERS=${SERVERS:-cdnnode nginx varnish minimal}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HOST=127.0.0.1
ORIGIN_PORT=8081
NODE_PORT=18080
NODE_ADMIN_PORT=19090
NGINX_PORT=18081
VARNISH_PORT=18082
MINIMAL_PORT=18083

# object label, path (on every server), size in bytes
SIZES=("1 KiB|/obj/b1k?size=1024|1024" "100 KiB|/obj/b100k?size=102400|102400")

want() { [[ " $SERVERS " == *" $1 "* ]]; }

log() { printf '[peers] %s\n' "$*" >&2; }
die() {
	printf '[peers] ERROR: %s\n' "$*" >&2
	exit 1
}

# ---------------------------------------------------------------------------
# Cleanup: every process this script starts is recorded in PIDS and stopped
# on exit, however the script ends.

PIDS=()
TMP=""

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
	local rc=$? i
	trap - EXIT INT TERM
	set +e
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		stop_pid "${PIDS[i]}"
	done
	if [[ -n $TMP && -d $TMP ]]; then
		if [[ ${KEEP_TMP:-0} == 1 ]]; then
			log "temp dir kept: $TMP"
		else
			rm -rf "$TMP"
		fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME CPU CMD...: run CMD in the background pinned to CPU, output to
# $TMP/NAME.log; sets LAST_PID. taskset execs CMD, so the pid is CMD's own.
LAST_PID=""
start() {
	local name=$1 cpu=$2
	shift 2
	taskset -c "$cpu" "$@" >"$TMP/$name.log" 2>&1 &
	LAST_PID=$!
	PIDS+=("$LAST_PID")
}

# stop_last PID: stop one process and forget it.
stop_one() {
	local pid=$1 i keep=()
	stop_pid "$pid"
	for i in "${PIDS[@]}"; do
		[[ $i == "$pid" ]] || keep+=("$i")
	done
	PIDS=("${keep[@]}")
}

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

# ---------------------------------------------------------------------------
# 1. Tools.

for t in go curl taskset make awk; do
	command -v "$t" >/dev/null || die "'$t' is required but not on PATH"
done
[[ $(nproc --all 2>/dev/null || echo 1) -ge 2 ]] || die "need at least 2 CPUs (0 for wrk, 1 for the server)"

APT_UPDATED=0
apt_install() { # pkg...: install the first package of the list that installs
	command -v apt-get >/dev/null || {
		log "apt-get not found: install $* by hand"
		return 1
	}
	[[ $(id -u) == 0 ]] || {
		log "not root: cannot apt-get install $*"
		return 1
	}
	if [[ $APT_UPDATED == 0 ]]; then
		log "apt-get update"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$TMP/apt.log" 2>&1 ||
			log "apt-get update failed (see below); trying the install anyway"
		APT_UPDATED=1
	fi
	local p
	for p in "$@"; do
		log "apt-get install -y $p"
		if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >>"$TMP/apt.log" 2>&1; then
			return 0
		fi
	done
	tail -n 5 "$TMP/apt.log" >&2 || true
	return 1
}

# have CMD: is CMD runnable (PATH plus sbin dirs, where nginx/varnishd live)?
have() { command -v "$1" >/dev/null || [[ -x /usr/sbin/$1 || -x /sbin/$1 ]]; }

TMP=$(mktemp -d /tmp/cdnnode-peers.XXXXXX)
# Varnish's and nginx's workers drop privileges; let them reach their files.
chmod 755 "$TMP"
export PATH="$PATH:/usr/sbin:/sbin"

have wrk || apt_install wrk || die "could not install wrk (apt-get install -y wrk failed)"
have wrk || die "wrk installed but not found on PATH"

HAVE_NGINX=1 HAVE_VARNISH=1
NGINX_WHY="" VARNISH_WHY=""
if ! want nginx; then
	HAVE_NGINX=0 NGINX_WHY="not in SERVERS"
elif ! have nginx; then
	if ! apt_install nginx-light nginx || ! have nginx; then
		log "ERROR: could not install nginx (tried nginx-light, nginx); its rows are skipped"
		HAVE_NGINX=0 NGINX_WHY="not installed"
	fi
fi
if ! want varnish; then
	HAVE_VARNISH=0 VARNISH_WHY="not in SERVERS"
elif ! have varnishd; then
	if ! apt_install varnish || ! have varnishd; then
		log "ERROR: could not install varnish; its rows are skipped"
		HAVE_VARNISH=0 VARNISH_WHY="not installed"
	fi
fi

for p in $ORIGIN_PORT $NODE_PORT $NODE_ADMIN_PORT $NGINX_PORT $VARNISH_PORT $MINIMAL_PORT; do
	need_free_port "$p"
done

# ---------------------------------------------------------------------------
# 2. Build the node and the minimal server; start the demo origin.

log "make -C $REPO build"
make -C "$REPO" build >"$TMP/build.log" 2>&1 || {
	cat "$TMP/build.log" >&2
	die "make build failed"
}
CDNNODE=$REPO/bin/cdnnode
log "go build bench/minimal"
(cd "$REPO" && go build -o "$TMP/minimal" ./bench/minimal) >>"$TMP/build.log" 2>&1 || {
	cat "$TMP/build.log" >&2
	die "building bench/minimal failed"
}

# Anything else running skews every row; say so up front and in the table.
LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo "?")
if awk -v l="$LOAD_BEFORE" 'BEGIN { exit !(l + 0 > 0.5) }'; then
	log "WARNING: 1-min load average is $LOAD_BEFORE before starting: something else is using the CPUs, numbers will be noisy"
fi

start origin 0 "$CDNNODE" origin --listen "$HOST:$ORIGIN_PORT"
ORIGIN_PID=$LAST_PID
wait_port origin "$ORIGIN_PID" "$ORIGIN_PORT"

# ---------------------------------------------------------------------------
# 3/4. The rows.

ROWS=()     # "server|object|rps|p99|hit|note"
FAILED=0

# curl_headers PORT PATH: response headers of one GET (body discarded).
curl_headers() {
	curl -sS --max-time 10 -o /dev/null -D - "http://$HOST:$1$2" | tr -d '\r'
}

# run_wrk PORT PATH -> "rps|p99|note"
run_wrk() {
	local port=$1 path=$2 out rps p99 note=""
	out=$(taskset -c 0 wrk -t1 "-c$CONNECTIONS" "-d$DURATION" --latency "http://$HOST:$port$path" 2>&1) || {
		printf '%s\n' "$out" >&2
		echo "-|-|wrk failed"
		return 0
	}
	printf '%s\n' "$out" >>"$TMP/wrk.log"
	rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
	p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
	if grep -q 'Non-2xx or 3xx' <<<"$out"; then
		note+="non-2xx: $(awk '/Non-2xx or 3xx/ {print $NF}' <<<"$out") "
	fi
	if grep -q 'Socket errors' <<<"$out"; then
		note+="$(grep 'Socket errors' <<<"$out" | sed 's/^ *//') "
	fi
	echo "${rps:--}|${p99:--}|${note% }"
}

# bench_row SERVER PORT LABEL PATH HITCHECK: warm, check, measure, record.
# HITCHECK is a function NAME that reads the second response's headers on
# stdin and succeeds if they show a cache hit ("" = nothing to check).
bench_row() {
	local server=$1 port=$2 label=$3 path=$4 check=$5 h1 h2 hit res
	h1=$(curl_headers "$port" "$path") || {
		log "$server $label: warming GET failed"
		ROWS+=("$server|$label|-|-|warming GET failed|-")
		FAILED=1
		return 0
	}
	h2=$(curl_headers "$port" "$path") || h2=""
	if [[ -z $check ]]; then
		hit="n/a"
	elif $check <<<"$h2"; then
		hit="yes"
	else
		hit="NO"
		FAILED=1
		log "$server $label: second GET was not a cache hit; headers:"
		printf '%s\n' "$h2" >&2
	fi
	if [[ $(head -n1 <<<"$h2") != *" 200"* ]]; then
		log "$server $label: second GET status: $(head -n1 <<<"$h2")"
		FAILED=1
	fi
	log "$server $label: wrk -t1 -c$CONNECTIONS -d$DURATION"
	res=$(run_wrk "$port" "$path")
	ROWS+=("$server|$label|$res|$hit")
}

hit_cdnnode() { grep -Eiq '^cache-status:.*;[[:space:]]*hit([[:space:]]*;|[[:space:]]*$)'; }
hit_nginx() { grep -Eiq '^x-cache-status:[[:space:]]*HIT[[:space:]]*$'; }
hit_varnish() { grep -Eiq '^x-varnish:[[:space:]]*[0-9]+[[:space:]]+[0-9]+[[:space:]]*$'; }

# each_size SERVER PORT HITCHECK
each_size() {
	local s label path
	for s in "${SIZES[@]}"; do
		IFS='|' read -r label path _ <<<"$s"
		bench_row "$1" "$2" "$label" "$path" "$3"
	done
}

skip_rows() { # SERVER WHY
	local s label
	for s in "${SIZES[@]}"; do
		IFS='|' read -r label _ <<<"$s"
		ROWS+=("$1|$label|-|-|skipped: $2|-")
	done
}

# --- minimal net/http ------------------------------------------------------
# First, so that it runs right before cdnnode: their ratio is the number to
# track, and back to back they see the most similar machine. One process per
# size: it always writes the body it was started with.
if want minimal; then
	for s in "${SIZES[@]}"; do
		IFS='|' read -r label path bytes <<<"$s"
		log "minimal net/http (-size $bytes) on $HOST:$MINIMAL_PORT (CPU 1)"
		start minimal 1 "$TMP/minimal" -listen "$HOST:$MINIMAL_PORT" -size "$bytes"
		pid=$LAST_PID
		wait_port minimal "$pid" "$MINIMAL_PORT"
		bench_row "net/http minimal" "$MINIMAL_PORT" "$label" "$path" ""
		stop_one "$pid"
	done
fi

# --- cdnnode ---------------------------------------------------------------
# Only keys present in config.toml are used. If config.toml ever grows a
# `workers` key, the same table gets workers = 1 (one CPU under test).
NODE_CONF=$TMP/cdnnode.toml
cat >"$NODE_CONF" <<EOF
[server]
listen = ["$HOST:$NODE_PORT"]
grace_period = "1s"

[admin]
listen = "$HOST:$NODE_ADMIN_PORT"

[log]
level = "warn"
access = false

[cache]
memory = "256MiB"

[pools.origin]
peers = ["$HOST:$ORIGIN_PORT"]
max_idle_per_peer = 64

[[sites]]
name = "bench"
hosts = ["*"]
pool = "origin"
EOF
workers_table=$(awk '
	/^[[:space:]]*\[\[/ { t = ""; next }
	/^[[:space:]]*\[/ { t = $0; gsub(/^[[:space:]]*\[|\][[:space:]]*$/, "", t); next }
	/^[[:space:]]*workers[[:space:]]*=/ { print (t == "" ? "-" : t); exit }
' "$REPO/config.toml")
if [[ -n $workers_table ]]; then
	if [[ $workers_table == "-" ]]; then
		{ echo "workers = 1"; cat "$NODE_CONF"; } >"$NODE_CONF.new" && mv "$NODE_CONF.new" "$NODE_CONF"
	elif grep -q "^\[$workers_table\]\$" "$NODE_CONF"; then
		awk -v t="[$workers_table]" '{ print } $0 == t { print "workers = 1" }' "$NODE_CONF" >"$NODE_CONF.new" &&
			mv "$NODE_CONF.new" "$NODE_CONF"
	else
		printf '\n[%s]\nworkers = 1\n' "$workers_table" >>"$NODE_CONF"
	fi
	log "config.toml has a workers key ([$workers_table]): set workers = 1"
fi
"$CDNNODE" check -c "$NODE_CONF" >"$TMP/check.log" 2>&1 || {
	cat "$TMP/check.log" >&2
	die "cdnnode rejected the bench config $NODE_CONF"
}

if want cdnnode; then
	log "cdnnode on $HOST:$NODE_PORT (CPU 1)"
	start cdnnode 1 "$CDNNODE" serve -c "$NODE_CONF"
	pid=$LAST_PID
	wait_port cdnnode "$pid" "$NODE_PORT"
	each_size cdnnode "$NODE_PORT" hit_cdnnode
	stop_one "$pid"
fi

# --- nginx -----------------------------------------------------------------
if [[ $HAVE_NGINX == 1 ]]; then
	mkdir -p "$TMP/nginx/cache" "$TMP/nginx/tmp"
	cat >"$TMP/nginx/nginx.conf" <<EOF
# Run as root so the worker can use the temp dirs this script made.
user root;
worker_processes 1;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;

events {
    worker_connections 4096;
}

http {
    access_log off;
    sendfile on;
    keepalive_requests 1000000;
    client_body_temp_path $TMP/nginx/tmp/body;
    proxy_temp_path $TMP/nginx/tmp/proxy;
    fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
    uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
    scgi_temp_path $TMP/nginx/tmp/scgi;

    proxy_cache_path $TMP/nginx/cache levels=1:2 keys_zone=bench:16m max_size=256m inactive=10m use_temp_path=off;

    upstream origin {
        server $HOST:$ORIGIN_PORT;
        keepalive 64;
    }

    server {
        listen $HOST:$NGINX_PORT;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache bench;
            proxy_cache_valid 200 10m;
            add_header X-Cache-Status \$upstream_cache_status;
        }
    }
}
EOF
	nginx_bin=$(command -v nginx)
	if "$nginx_bin" -t -q -e "$TMP/nginx/error.log" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" >"$TMP/nginx-t.log" 2>&1; then
		log "nginx on $HOST:$NGINX_PORT (CPU 1)"
		start nginx 1 "$nginx_bin" -e "$TMP/nginx/error.log" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf"
		pid=$LAST_PID
		wait_port nginx "$pid" "$NGINX_PORT"
		each_size nginx "$NGINX_PORT" hit_nginx
		stop_one "$pid"
	else
		cat "$TMP/nginx-t.log" >&2
		log "ERROR: nginx -t rejected the bench config; nginx rows skipped"
		skip_rows nginx "config rejected"
		FAILED=1
	fi
elif want nginx; then
	skip_rows nginx "$NGINX_WHY"
	FAILED=1
fi

# --- Varnish ---------------------------------------------------------------
if [[ $HAVE_VARNISH == 1 ]]; then
	mkdir -p "$TMP/varnish"
	# The built-in VCL runs after ours: TTL comes from the origin's
	# Cache-Control, requests without cookies/auth are looked up.
	cat >"$TMP/varnish/bench.vcl" <<EOF
vcl 4.1;

backend origin {
    .host = "$HOST";
    .port = "$ORIGIN_PORT";
}
EOF
	chmod 644 "$TMP/varnish/bench.vcl"
	log "varnish on $HOST:$VARNISH_PORT (CPU 1)"
	# -n: a private workdir (varnishd creates it); -F: foreground.
	start varnish 1 "$(command -v varnishd)" -F -n "$TMP/varnish/work" \
		-a "$HOST:$VARNISH_PORT" -T "$HOST:0" -s malloc,256m -f "$TMP/varnish/bench.vcl"
	pid=$LAST_PID
	wait_port varnish "$pid" "$VARNISH_PORT"
	each_size varnish "$VARNISH_PORT" hit_varnish
	stop_one "$pid"
elif want varnish; then
	skip_rows varnish "$VARNISH_WHY"
	FAILED=1
fi

# ---------------------------------------------------------------------------
# 5. The table. "vs net/http" is the row's req/s over the minimal server's
# for the same object; the cdnnode rows' value is the number to track.

declare -A BASE
for r in "${ROWS[@]}"; do
	IFS='|' read -r server label rps _ <<<"$r"
	[[ $server == "net/http minimal" ]] && BASE[$label]=$rps
done

ratio() { # a b -> a/b to 2 places, or -
	awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else printf "-" }'
}

echo
echo "## Hit throughput, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc --all) CPUs, wrk -t1 -c$CONNECTIONS -d$DURATION (CPU 0), server on CPU 1"
echo "cdnnode $("$CDNNODE" version 2>/dev/null | head -n1); 1-min load average before the run: $LOAD_BEFORE"
echo
echo "| server | object | req/s | p99 | vs net/http | hit | note |"
echo "|---|---|---:|---:|---:|---|---|"
for want_server in cdnnode nginx varnish "net/http minimal"; do
	for r in "${ROWS[@]}"; do
		IFS='|' read -r server label rps p99 note hit <<<"$r"
		[[ $server == "$want_server" ]] || continue
		rps_fmt=$rps
		[[ $rps != "-" ]] && rps_fmt=$(awk -v a="$rps" 'BEGIN { printf "%.0f", a }')
		echo "| $server | $label | $rps_fmt | $p99 | $(ratio "$rps" "${BASE[$label]:-}") | $hit | $note |"
	done
done
echo
for s in "${SIZES[@]}"; do
	IFS='|' read -r label _ <<<"$s"
	for r in "${ROWS[@]}"; do
		IFS='|' read -r server l rps _ <<<"$r"
		if [[ $server == cdnnode && $l == "$label" ]]; then
			echo "cdnnode / net/http minimal, $label: $(ratio "$rps" "${BASE[$label]:-}")"
		fi
	done
done

if [[ $FAILED != 0 ]]; then
	log "some rows were skipped or failed their checks (see above)"
	exit 1
fi

#!/usr/bin/env bash
# bench/peers.sh: hit throughput of cdnnode (both HTTP/1.1 engines) next to
# nginx (proxy_cache, and answering from memory), Varnish (malloc) and a
# minimal Go net/http server, all on loopback.
#
#   DURATION=10s bash bench/peers.sh
#   DURATION=10s ROUNDS=3 bash bench/peers.sh   # median of 3 interleaved rounds
#
# Two workloads: W1, a hot 1 KiB object, and W2, a hot 100 KiB object. Each
# server under test runs alone, pinned to CPU 1; wrk runs pinned to CPU 0;
# the demo origin (hit once per object) runs on CPU 0 too. Nothing is
# written into the repository except bin/cdnnode (make build); everything
# else lives in temp dirs that are removed on exit. See bench/README.md.
#
# Environment:
#   DURATION     wrk run length per row (default 10s; keep it under ~50s:
#                the origin's objects are fresh for 60s)
#   CONNECTIONS  wrk connections (default 64)
#   SERVERS      which servers to run, space-separated (default
#                "cdnnode-fast cdnnode-stdlib nginx-cache varnish nginx-return
#                minimal"; "cdnnode" means both cdnnode rows, "nginx" both
#                nginx rows); the goal ratios need cdnnode-fast, nginx-cache
#                and nginx-return
#   ROUNDS       how many times the whole server list runs, alternately
#                forwards and backwards; each row reports the median of its
#                rounds (default 1)
#   KEEP_TMP=1   keep the temp dirs (configs, server logs) for debugging
set -Eeuo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=peers
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
SERVERS=${SERVERS:-cdnnode-fast cdnnode-stdlib nginx-cache varnish nginx-return minimal}
ROUNDS=${ROUNDS:-1}

ORIGIN_PORT=8081
NODE_PORT=18080
NODE_ADMIN_PORT=19090
NGINX_PORT=18081
VARNISH_PORT=18082
MINIMAL_PORT=18083
NGINX_RETURN_PORT=18084

# workload, object label, path (on every server), size in bytes, and the
# goals of issue 10 for cdnnode-fast's req/s over nginx-cache's and over
# nginx-return's ("-" = none)
SIZES=(
	"W1|1 KiB|/obj/b1k?size=1024|1024|1.2|0.6"
	"W2|100 KiB|/obj/b100k?size=102400|102400|1.0|-"
)

# The order servers run in, in odd rounds (even rounds run it backwards).
# cdnnode-fast sits between the two nginx rows its goals compare it with,
# cdnnode-stdlib next to minimal, the ceiling of a net/http server: rows
# run back to back see the most similar machine.
RUN_ORDER=(varnish nginx-cache cdnnode-fast nginx-return cdnnode-stdlib minimal)
# The order of the rows in the tables.
TABLE_ORDER=(cdnnode-fast cdnnode-stdlib nginx-cache varnish nginx-return minimal)

SELECTED=" "
for s in $SERVERS; do
	case $s in
	cdnnode) SELECTED+="cdnnode-fast cdnnode-stdlib " ;;
	nginx) SELECTED+="nginx-cache nginx-return " ;;
	cdnnode-fast | cdnnode-stdlib | nginx-cache | nginx-return | varnish | minimal) SELECTED+="$s " ;;
	*) die "SERVERS: unknown server '$s' (want some of: ${TABLE_ORDER[*]}, cdnnode, nginx)" ;;
	esac
done
want() { [[ $SELECTED == *" $1 "* ]]; }
[[ $ROUNDS =~ ^[1-9][0-9]?$ ]] || die "ROUNDS must be a whole number from 1 to 99, got '$ROUNDS'"

# ---------------------------------------------------------------------------
# 1. Tools.

need_tools go curl taskset make awk
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

make_tmp
export PATH="$PATH:/usr/sbin:/sbin"

have wrk || apt_install wrk || die "could not install wrk (apt-get install -y wrk failed)"
have wrk || die "wrk installed but not found on PATH"

# SKIP[server] says why a selected server's rows are skipped; a skipped
# row makes the exit status 1.
declare -A SKIP=()
FAILED=0
skip() { # SERVER WHY
	SKIP[$1]=$2
	FAILED=1
}

if want nginx-cache || want nginx-return; then
	if ! have nginx && ! { apt_install nginx-light nginx && have nginx; }; then
		log "ERROR: could not install nginx (tried nginx-light, nginx); its rows are skipped"
		want nginx-cache && skip nginx-cache "not installed"
		want nginx-return && skip nginx-return "not installed"
	fi
fi
if want varnish; then
	if ! have varnishd && ! { apt_install varnish && have varnishd; }; then
		log "ERROR: could not install varnish; its rows are skipped"
		skip varnish "not installed"
	fi
fi

for p in $ORIGIN_PORT $NODE_PORT $NODE_ADMIN_PORT $NGINX_PORT $VARNISH_PORT $MINIMAL_PORT $NGINX_RETURN_PORT; do
	need_free_port "$p"
done

# ---------------------------------------------------------------------------
# 2. Build the node and the minimal server; start the demo origin.

build_cdnnode "$REPO"
if want minimal; then
	log "go build bench/minimal"
	(cd "$REPO" && go build -o "$TMP/minimal" ./bench/minimal) >>"$TMP/build.log" 2>&1 || {
		cat "$TMP/build.log" >&2
		die "building bench/minimal failed"
	}
fi

# Anything else running skews every row; say so up front and in the table.
note_load "both wrk and the server"

start origin 0 "$CDNNODE" origin --listen "$HOST:$ORIGIN_PORT"
ORIGIN_PID=$LAST_PID
wait_port origin "$ORIGIN_PID" "$ORIGIN_PORT"

# ---------------------------------------------------------------------------
# 3. Configs, written and checked once for every round.

# NOTE[server]: said in every row of the server.
declare -A NOTE=()

# --- cdnnode ---------------------------------------------------------------
# Only keys present in config.toml are used. If config.toml has a `workers`
# key, the same table gets workers = 1 (one CPU under test). Each engine
# gets a copy with [server] http1 = "fast" or "stdlib".
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
check_node() { "$CDNNODE" check -c "$1" >"$TMP/check.log" 2>&1; }
check_node "$NODE_CONF" || {
	cat "$TMP/check.log" >&2
	die "cdnnode rejected the bench config $NODE_CONF"
}

# NODE_CONFS[engine]: the config cdnnode-ENGINE runs with. A build without
# the http1 key has net/http only: cdnnode-stdlib then runs without the key,
# and cdnnode-fast is skipped.
declare -A NODE_CONFS=()
for engine in fast stdlib; do
	want "cdnnode-$engine" || continue
	f=$TMP/cdnnode-$engine.toml
	awk -v e="$engine" '{ print } $0 == "[server]" { printf "http1 = \"%s\"\n", e }' "$NODE_CONF" >"$f"
	if check_node "$f"; then
		NODE_CONFS[$engine]=$f
	elif grep -q 'http1' "$TMP/check.log"; then
		log "this cdnnode does not take [server] http1 = \"$engine\": $(head -n1 "$TMP/check.log")"
		if [[ $engine == stdlib ]]; then
			NODE_CONFS[$engine]=$NODE_CONF
			NOTE[cdnnode-$engine]="no http1 key in this build: its only engine"
		else
			skip "cdnnode-$engine" "this build has no http1 key"
		fi
	else
		cat "$TMP/check.log" >&2
		die "cdnnode rejected the bench config $f"
	fi
done

# --- nginx -----------------------------------------------------------------
# check_nginx NAME: does nginx -t accept $TMP/NAME/nginx.conf? If not, the
# server's rows are skipped.
check_nginx() {
	local dir=$TMP/$1
	if ! nginx -t -q -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf" >"$TMP/$1-t.log" 2>&1; then
		cat "$TMP/$1-t.log" >&2
		log "ERROR: nginx -t rejected the $1 config; its rows are skipped"
		skip "$1" "config rejected"
	fi
}

# nginx-cache: proxy_cache in front of the origin, its cache on disk.
if want nginx-cache && [[ -z ${SKIP[nginx-cache]:-} ]]; then
	dir=$TMP/nginx-cache
	mkdir -p "$dir/cache" "$dir/tmp"
	{
		nginx_head "$dir"
		cat <<EOF

    proxy_cache_path $dir/cache levels=1:2 keys_zone=bench:16m max_size=256m inactive=10m use_temp_path=off;

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
	} >"$dir/nginx.conf"
	check_nginx nginx-cache
fi

# nginx-return: nginx answering from memory, no cache and no origin. A body
# that fits in nginx's config parser (a parameter must fit its 4 KiB buffer)
# is a `return 200 "..."`; a larger one is a file on tmpfs, kept open by
# open_file_cache and sent with sendfile, so no request touches a disk or
# opens a file.
RETURN_MAX=2048
if want nginx-return && [[ -z ${SKIP[nginx-return]:-} ]]; then
	dir=$TMP/nginx-return
	mkdir -p "$dir/tmp"
	make_www "$dir/www"
	locations=""
	for s in "${SIZES[@]}"; do
		IFS='|' read -r _ _ path bytes _ <<<"$s"
		uri=${path%%\?*}
		if ((bytes <= RETURN_MAX)); then
			locations+="        location = $uri { return 200 \"$(head -c "$bytes" /dev/zero | tr '\0' x)\"; }"$'\n'
		else
			mkdir -p "$WWW$(dirname "$uri")"
			head -c "$bytes" /dev/zero | tr '\0' x >"$WWW$uri"
			locations+="        location = $uri { }"$'\n'
		fi
	done
	{
		nginx_head "$dir"
		cat <<EOF
    default_type text/plain;
    open_file_cache max=64 inactive=10m;
    open_file_cache_valid 10m;

    server {
        listen $HOST:$NGINX_RETURN_PORT;
        root $WWW;
$locations    }
}
EOF
	} >"$dir/nginx.conf"
	check_nginx nginx-return
fi

# --- Varnish ---------------------------------------------------------------
if want varnish && [[ -z ${SKIP[varnish]:-} ]]; then
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
fi

# ---------------------------------------------------------------------------
# 4. The rows.

ROWS=() # "round|server|object|rps|p99|cpu0|cpu1|note|hit"
ROUND=0

# curl_get PORT PATH: response headers of one GET, then a last line
# "body-bytes: N" with the length of the body (which is discarded).
curl_get() {
	curl -sS --max-time 10 -o /dev/null -D - -w 'body-bytes: %{size_download}\n' "http://$HOST:$1$2" | tr -d '\r'
}

# run_wrk PORT PATH -> "rps|p99|cpu0|cpu1|note", cpu0 and cpu1 how busy
# (%) wrk's CPU and the server's were during the run.
run_wrk() {
	local port=$1 path=$2 out rps p99 note="" before after
	before=$(cpu_ticks)
	out=$(taskset -c 0 wrk -t1 "-c$CONNECTIONS" "-d$DURATION" --latency "http://$HOST:$port$path" 2>&1) || {
		printf '%s\n' "$out" >&2
		echo "-|-|-|-|wrk failed"
		return 0
	}
	after=$(cpu_ticks)
	printf '%s\n' "$out" >>"$TMP/wrk.log"
	rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
	p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
	if grep -q 'Non-2xx or 3xx' <<<"$out"; then
		note+="non-2xx: $(awk '/Non-2xx or 3xx/ {print $NF}' <<<"$out") "
	fi
	if grep -q 'Socket errors' <<<"$out"; then
		note+="$(grep 'Socket errors' <<<"$out" | sed 's/^ *//') "
	fi
	echo "${rps:--}|${p99:--}|$(busy_pct "$before" "$after" 0)|$(busy_pct "$before" "$after" 1)|${note% }"
}

# bench_row SERVER PORT LABEL PATH BYTES HITCHECK: warm, check, measure,
# record. The second of two GETs must be a 200 with a body of BYTES and,
# unless HITCHECK is "", a cache hit: HITCHECK is a function NAME that reads
# that response's headers on stdin and succeeds if they show one.
bench_row() {
	local server=$1 port=$2 label=$3 path=$4 bytes=$5 check=$6 h2 got hit res
	curl_get "$port" "$path" >/dev/null || {
		log "$server $label: warming GET failed"
		ROWS+=("$ROUND|$server|$label|-|-|-|-|warming GET failed|-")
		FAILED=1
		return 0
	}
	h2=$(curl_get "$port" "$path") || h2=""
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
	got=$(awk '/^body-bytes:/ {print $2}' <<<"$h2")
	if [[ $got != "$bytes" ]]; then
		log "$server $label: second GET's body has ${got:-no} bytes, want $bytes"
		FAILED=1
	fi
	log "$server $label: wrk -t1 -c$CONNECTIONS -d$DURATION"
	res=$(run_wrk "$port" "$path")
	ROWS+=("$ROUND|$server|$label|$res|$hit")
}

hit_cdnnode() { grep -Eiq '^cache-status:.*;[[:space:]]*hit([[:space:]]*;|[[:space:]]*$)'; }
hit_nginx() { grep -Eiq '^x-cache-status:[[:space:]]*HIT[[:space:]]*$'; }
hit_varnish() { grep -Eiq '^x-varnish:[[:space:]]*[0-9]+[[:space:]]+[0-9]+[[:space:]]*$'; }

# each_size SERVER PORT HITCHECK
each_size() {
	local s label path bytes
	for s in "${SIZES[@]}"; do
		IFS='|' read -r _ label path bytes _ <<<"$s"
		bench_row "$1" "$2" "$label" "$path" "$bytes" "$3"
	done
}

# One process per size: it always writes the body it was started with.
run_minimal() {
	local s label path bytes pid
	for s in "${SIZES[@]}"; do
		IFS='|' read -r _ label path bytes _ <<<"$s"
		log "minimal net/http (-size $bytes) on $HOST:$MINIMAL_PORT (CPU 1)"
		start minimal 1 "$TMP/minimal" -listen "$HOST:$MINIMAL_PORT" -size "$bytes"
		pid=$LAST_PID
		wait_port minimal "$pid" "$MINIMAL_PORT"
		bench_row minimal "$MINIMAL_PORT" "$label" "$path" "$bytes" ""
		stop_one "$pid"
	done
}

run_cdnnode() { # ENGINE
	local name=cdnnode-$1 pid
	log "$name on $HOST:$NODE_PORT (CPU 1)"
	start "$name" 1 "$CDNNODE" serve -c "${NODE_CONFS[$1]}"
	pid=$LAST_PID
	wait_port "$name" "$pid" "$NODE_PORT"
	each_size "$name" "$NODE_PORT" hit_cdnnode
	stop_one "$pid"
}

run_nginx() { # NAME PORT HITCHECK
	local name=$1 port=$2 dir=$TMP/$1 pid
	# Every round starts cold, as the other caches do.
	if [[ -d $dir/cache ]]; then
		find "$dir/cache" -mindepth 1 -delete
	fi
	log "$name on $HOST:$port (CPU 1)"
	start "$name" 1 "$(command -v nginx)" -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf"
	pid=$LAST_PID
	wait_port "$name" "$pid" "$port"
	each_size "$name" "$port" "$3"
	stop_one "$pid"
}

run_varnish() {
	local pid
	log "varnish on $HOST:$VARNISH_PORT (CPU 1)"
	# -n: a private workdir (varnishd creates it); -F: foreground.
	start varnish 1 "$(command -v varnishd)" -F -n "$TMP/varnish/work" \
		-a "$HOST:$VARNISH_PORT" -T "$HOST:0" -s malloc,256m -f "$TMP/varnish/bench.vcl"
	pid=$LAST_PID
	wait_port varnish "$pid" "$VARNISH_PORT"
	each_size varnish "$VARNISH_PORT" hit_varnish
	stop_one "$pid"
}

for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
	order=()
	for s in "${RUN_ORDER[@]}"; do
		if want "$s" && [[ -z ${SKIP[$s]:-} ]]; then
			if ((ROUND % 2 == 1)); then
				order+=("$s")
			else
				order=("$s" "${order[@]}")
			fi
		fi
	done
	if ((ROUNDS > 1)); then
		log "round $ROUND of $ROUNDS: ${order[*]}"
	fi
	for s in "${order[@]}"; do
		case $s in
		cdnnode-fast) run_cdnnode fast ;;
		cdnnode-stdlib) run_cdnnode stdlib ;;
		nginx-cache) run_nginx nginx-cache "$NGINX_PORT" hit_nginx ;;
		nginx-return) run_nginx nginx-return "$NGINX_RETURN_PORT" "" ;;
		varnish) run_varnish ;;
		minimal) run_minimal ;;
		esac
	done
done

# ---------------------------------------------------------------------------
# 5. The tables: one per workload, each row the median of its rounds, then
# issue 10's goals for cdnnode-fast.

# to_us LATENCY: wrk's latency ("850.00us", "2.34ms", "1.02s") in
# microseconds, or "-".
to_us() {
	awk -v v="$1" 'BEGIN {
		if (!match(v, /^[0-9.]+/)) { print "-"; exit }
		n = substr(v, 1, RLENGTH); u = substr(v, RLENGTH + 1)
		f = u == "us" ? 1 : u == "ms" ? 1e3 : u == "s" ? 1e6 : u == "m" ? 6e7 : u == "h" ? 3.6e9 : -1
		if (f < 0) print "-"; else printf "%.2f\n", n * f
	}'
}

# fmt_us US: microseconds written as wrk writes a latency.
fmt_us() {
	awk -v v="$1" 'BEGIN {
		if (v == "-" || v == "") print "-"
		else if (v + 0 >= 1e6) printf "%.2fs\n", v / 1e6
		else if (v + 0 >= 1e3) printf "%.2fms\n", v / 1e3
		else printf "%.2fus\n", v
	}'
}

# agg SERVER LABEL: the server's rounds for the object, into A_RPS (median
# req/s), A_P99 (median p99, in us), A_CPU0 and A_CPU1 (median busy % of
# wrk's CPU and the server's), A_COST (median us of CPU 1 per response),
# A_SPREAD (lowest-highest req/s), A_HIT (yes, n/a, or NO if any round
# missed) and A_NOTE (the rounds' notes).
agg() {
	local r server label rps p99 cpu0 cpu1 note hit rpss=() p99s=() cpu0s=() cpu1s=() costs=()
	A_HIT="-" A_NOTE=""
	for r in "${ROWS[@]}"; do
		IFS='|' read -r _ server label rps p99 cpu0 cpu1 note hit <<<"$r"
		if [[ $server != "$1" || $label != "$2" ]]; then
			continue
		fi
		rpss+=("$rps")
		p99s+=("$(to_us "$p99")")
		cpu0s+=("$cpu0")
		cpu1s+=("$cpu1")
		costs+=("$(awk -v c="$cpu1" -v r="$rps" 'BEGIN { if (c != "-" && r + 0 > 0) printf "%.1f", c * 1e4 / r; else print "-" }')")
		if [[ -n $note && "; $A_NOTE" != *"; $note; "* ]]; then
			A_NOTE+="$note; "
		fi
		if [[ $A_HIT != NO && $hit != "-" ]]; then
			A_HIT=$hit
		fi
	done
	A_NOTE=${A_NOTE%; }
	if [[ ${NOTE[$1]:-} ]]; then
		A_NOTE=${NOTE[$1]}${A_NOTE:+; $A_NOTE}
	fi
	if ((${#rpss[@]} == 0)); then
		A_RPS="-" A_P99="-" A_CPU0="-" A_CPU1="-" A_COST="-" A_SPREAD="-"
		return 0
	fi
	A_RPS=$(median 2 "${rpss[@]}")
	A_P99=$(median 2 "${p99s[@]}")
	A_CPU0=$(median 0 "${cpu0s[@]}")
	A_CPU1=$(median 0 "${cpu1s[@]}")
	A_COST=$(median 1 "${costs[@]}")
	A_SPREAD=$(printf '%s\n' "${rpss[@]}" | awk '$1 != "-"' | sort -g | awk '
		NR == 1 { lo = $1 } { hi = $1 }
		END { if (NR == 0) print "-"; else printf "%.0f-%.0f\n", lo, hi }')
}

# goal RATIO MIN: whether RATIO meets MIN ("-": no goal).
goal() {
	if [[ $2 == "-" ]]; then
		echo "no goal"
	elif [[ $1 == "-" ]]; then
		echo "goal >= $2: not measured"
	else
		awk -v r="$1" -v g="$2" 'BEGIN { printf "goal >= %s: %s\n", g, (r + 0 >= g + 0 ? "met" : "MISSED") }'
	fi
}

rounds_note="1 round"
((ROUNDS > 1)) && rounds_note="$ROUNDS interleaved rounds, median per row"
echo
echo "## Hit throughput, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc --all) CPUs, wrk -t1 -c$CONNECTIONS -d$DURATION (CPU 0), server on CPU 1, $rounds_note"
echo "$(cdnnode_version); 1-min load average before the run: $LOAD_BEFORE"
for s in "${SIZES[@]}"; do
	IFS='|' read -r workload label path _ goal_cache goal_return <<<"$s"
	declare -A RPS=() P99=() CPU0=()
	for server in "${TABLE_ORDER[@]}"; do
		want "$server" || continue
		agg "$server" "$label"
		RPS[$server]=$A_RPS P99[$server]=$A_P99 CPU0[$server]=$A_CPU0
	done
	echo
	echo "### $workload: hot $label object ($path)"
	echo
	if ((ROUNDS > 1)); then
		echo "| server | req/s | p99 | vs nginx-cache | vs minimal | req/s spread | CPU 0 (wrk) | CPU 1 (server) | CPU 1 us/req | hit | note |"
		echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
	else
		echo "| server | req/s | p99 | vs nginx-cache | vs minimal | CPU 0 (wrk) | CPU 1 (server) | CPU 1 us/req | hit | note |"
		echo "|---|---:|---:|---:|---:|---:|---:|---:|---|---|"
	fi
	for server in "${TABLE_ORDER[@]}"; do
		want "$server" || continue
		agg "$server" "$label"
		if [[ -n ${SKIP[$server]:-} ]]; then
			A_NOTE="skipped: ${SKIP[$server]}"
		fi
		rps_fmt=$A_RPS
		[[ $A_RPS != "-" ]] && rps_fmt=$(awk -v a="$A_RPS" 'BEGIN { printf "%.0f", a }')
		cols="| $server | $rps_fmt | $(fmt_us "$A_P99") | $(ratio "$A_RPS" "${RPS[nginx-cache]:-}") | $(ratio "$A_RPS" "${RPS[minimal]:-}") |"
		((ROUNDS > 1)) && cols+=" $A_SPREAD |"
		echo "$cols $(pct "$A_CPU0") | $(pct "$A_CPU1") | $A_COST | $A_HIT | $A_NOTE |"
	done
	echo
	fast=${RPS[cdnnode-fast]:--}
	r=$(ratio "$fast" "${RPS[nginx-cache]:--}")
	echo "- cdnnode-fast / nginx-cache, req/s: $r ($(goal "$r" "$goal_cache"))"
	r=$(ratio "$fast" "${RPS[nginx-return]:--}")
	echo "- cdnnode-fast / nginx-return, req/s: $r ($(goal "$r" "$goal_return"))"
	a=${P99[cdnnode-fast]:--} b=${P99[nginx-cache]:--}
	if [[ $a == "-" || $b == "-" ]]; then
		verdict="not measured"
	elif awk -v a="$a" -v b="$b" 'BEGIN { exit !(a + 0 <= b + 0) }'; then
		verdict="met"
	else
		verdict="MISSED"
	fi
	echo "- p99, cdnnode-fast vs nginx-cache: $(fmt_us "$a") vs $(fmt_us "$b") (goal: no worse: $verdict); wrk's CPU 0 was $(pct "${CPU0[cdnnode-fast]:--}") and $(pct "${CPU0[nginx-cache]:--}") busy"
	unset RPS P99 CPU0
done

if [[ $FAILED != 0 ]]; then
	log "some rows were skipped or failed their checks (see above)"
	exit 1
fi

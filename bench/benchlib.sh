# shellcheck shell=bash
# bench/benchlib.sh: shell helpers the benchmark scripts share: usage,
# packages, the build, sizes, background processes, waiting, the work
# directory, the payload and its store, a seed-dataplane and a libtorrent
# seed on loopback with one libtorrent download from either, nginx's
# configuration. bench/lgrow.py is their Python side (a row per loadgen run).
# Sourced, not run; a script sets root (the checkout) and bench_name (for
# messages) first. Sourcing it also sources tests/integration/common.sh
# (pid_running, poll_until), sets PY (Debian's python3: python3-libtorrent
# imports there only) and a UTF-8 C locale (sorting and number formats the
# same on every machine).
# shellcheck disable=SC2154  # root, bench_name: set by the sourcing script

# shellcheck source=SCRIPTDIR/../tests/integration/common.sh
source "$root/tests/integration/common.sh"
PY=/usr/bin/python3
export LC_ALL=C.UTF-8

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "$bench_name: $*" >&2; exit 1; }
jget() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# parse_args SPEC... -- ARG...: the script's options as a table. --name=var
# sets var to the argument after --name; --name+var sets var to 1. -h and
# --help print the usage and exit 0; anything else is refused with exit 2.
parse_args() {
	local -A takes=() sets=()
	while (($#)) && [[ $1 != -- ]]; do
		case $1 in
		--*=*) takes[${1%%=*}]=${1#*=} ;;
		--*+*) sets[${1%%+*}]=${1#*+} ;;
		esac
		shift
	done
	shift
	while (($#)); do
		if [[ -n ${sets[$1]:-} ]]; then
			printf -v "${sets[$1]}" 1
			shift
		elif [[ -n ${takes[$1]:-} ]]; then
			(($# >= 2)) || { echo "$bench_name: $1 needs a value (see --help)" >&2; exit 2; }
			printf -v "${takes[$1]}" '%s' "$2"
			shift 2
		elif [[ $1 == -h || $1 == --help ]]; then
			usage
			exit 0
		else
			echo "$bench_name: unknown option $1 (see --help)" >&2
			exit 2
		fi
	done
}

need_packages() { # PACKAGE...: exit 1 naming those not installed, with the apt-get line
	local p missing=()
	for p in "$@"; do
		if [[ $p == gnuplot-nox ]]; then # any gnuplot will do
			command -v gnuplot >/dev/null || missing+=("$p")
		elif ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
			missing+=("$p")
		fi
	done
	((${#missing[@]} == 0)) && return 0
	echo "$bench_name: missing packages: ${missing[*]}; install them with:" >&2
	echo "  apt-get install -y --no-install-recommends ${missing[*]}" >&2
	exit 1
}

# The release build is link-time optimised: the worker's files (worker, sendq,
# fetch, gate) call each other per block, and without LTO those calls are
# not inlined (BitTorrent hot: 3-5 % fewer Gbit/s, docs/performance.md).
build_in() { # DIR TARGET...: a release build in DIR (set up if needed) of the targets
	local dir=$1
	shift
	[[ -f $dir/build.ninja ]] || meson setup "$dir" --buildtype=release -Db_lto=true -Dtests=disabled >/dev/null
	ninja -C "$dir" "$@" >/dev/null || die "building in $dir failed (run: ninja -C $dir)"
}

# seed_programs BUILD NO_BUILD: seedctl and dataplane set to the programs in
# the release build BUILD, built first unless NO_BUILD is 1; exit 1 when
# either is missing.
seed_programs() {
	(($2)) || build_in "$1" tools/seedctl dataplane/seed-dataplane
	seedctl=$1/tools/seedctl dataplane=$1/dataplane/seed-dataplane
	[[ -x $seedctl && -x $dataplane ]] || die "no seedctl or seed-dataplane in $1"
}

to_bytes() {
	local v=$1 n
	[[ $v =~ ^([0-9]+)([KMG]?)$ ]] || return 1
	n=${BASH_REMATCH[1]}
	case ${BASH_REMATCH[2]} in K) n=$((n << 10)) ;; M) n=$((n << 20)) ;; G) n=$((n << 30)) ;; esac
	echo "$n"
}

bg() { # OUT ERR CMD...: start CMD in the background; its PID lands in BG_PID.
	local out=$1 err=$2
	shift 2
	"$@" >"$out" 2>"$err" &
	BG_PID=$!
	PIDS+=("$BG_PID")
}

stop_pid() { # PID [SECS]: SIGTERM, wait at most SECS (default 10), then SIGKILL.
	local p=$1 secs=${2:-10} i
	[[ -n $p ]] || return 0
	pid_running "$p" && kill -TERM "$p" 2>/dev/null || true
	for ((i = 0; i < secs * 10; i++)); do
		pid_running "$p" || break
		sleep 0.1
	done
	pid_running "$p" && kill -KILL "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
}

wait_for() { # SECS PID WHAT CMD...: poll CMD every 0.1 s; fail when PID exits or SECS pass.
	local secs=$1 pid=$2 what=$3
	shift 3
	poll_until "$secs" "$pid" "$@" >/dev/null 2>&1 && return 0
	pid_running "$pid" || { echo "$bench_name: $what: the process exited" >&2; return 1; }
	echo "$bench_name: $what: not ready after ${secs}s" >&2
	return 1
}

stop_all() { # every PID in PIDS that still runs (for the EXIT trap)
	local p
	for p in ${PIDS[@]+"${PIDS[@]}"}; do
		pid_running "$p" && stop_pid "$p" 5
	done
	return 0
}

work_dirs() { # DIR: W=DIR and data, store, run below it; run/ is emptied
	# shellcheck disable=SC2034 # data, store: the sourcing script's
	W=$1 data=$1/data store=$1/store run=$1/run
	mkdir -p "$W"
	chmod 755 "$W"
	rm -rf "$run"
	mkdir -p "$run"
}

# make_payload BYTES NFILES BIG: $data/tree/f000.bin... hold NFILES random
# files of BYTES/NFILES each and, with BIG=1, $data/bigfile.bin BYTES more.
# Kept while the sizes are the same; remaking it drops the store made from it.
make_payload() {
	local bytes=$1 n=$2 big=$3 i
	local per=$((bytes / n)) spec="$1 x $2 big=$3"
	[[ $(cat "$W/payload.ok" 2>/dev/null) == "$spec" ]] && return 0
	echo "$bench_name: generating the payload in $data: $n files of $((per >> 20)) MiB" \
		"$( ((big)) && echo "and one of $((bytes >> 20)) MiB")" >&2
	rm -rf "$data" "$store" "$W/payload.ok" "$W/store.ok"
	mkdir -p "$data/tree"
	((big)) && head -c "$bytes" /dev/urandom >"$data/bigfile.bin"
	for ((i = 0; i < n; i++)); do head -c "$per" /dev/urandom >"$data/tree/$(printf 'f%03d' "$i").bin"; done
	chmod -R a+rX "$data"
	echo "$spec" >"$W/payload.ok"
}

# one_file_payload BYTES NAME: $data/src/payload.bin, BYTES random bytes
# (kept while its size is BYTES; remaking it drops $store, made from it).
# NAME is the script's, for the message.
one_file_payload() {
	mkdir -p "$data/src"
	[[ -f $data/src/payload.bin && $(stat -c %s "$data/src/payload.bin") == "$1" ]] && return 0
	echo "$2: making a payload of $(($1 >> 20)) MiB"
	head -c "$1" /dev/urandom >"$data/src/payload.bin"
	rm -rf "$store"
}

# one_file_release NAME CREATE_OPT...: release bench.NAME.1 (v1 only) of
# $data/src/payload.bin in $store, created with CREATE_OPT unless the store
# holds it already (a store this seedctl cannot show it from is remade).
# Sets torrent, the path of its .torrent; `release show` or `release
# create` answers in $run/create.json. Needs seedctl set.
one_file_release() {
	local name=$1
	shift
	if [[ ! -d $store ]] || ! "$seedctl" release show --store "$store" --json "bench.$name.1" >"$run/create.json" 2>/dev/null; then
		rm -rf "$store"
		"$seedctl" release create --store "$store" --tenant bench --name "$name" --version 1 --v1-only \
			"$@" --json "$data/src/payload.bin" >"$run/create.json"
	fi
	torrent=$($PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get("torrent") or d["torrent_path"])' \
		"$run/create.json")
	[[ -f $torrent ]] || die "no torrent for bench.$name.1 (saw '$torrent')"
}

# one_file_args SPEC... -- ARG...: parse_args for a bench of one file
# (leechers.sh, utp.sh): the options they share, --size (default: size as
# the script set it), --workdir (/var/tmp/bitstream-bench-$bench_name),
# --build (build-bench), --no-build and --results (bench/results), and the
# script's own SPEC. Sets bytes from --size; exit 1 when it is not a size.
one_file_args() {
	local dflt=$size
	workdir=/var/tmp/bitstream-bench-$bench_name build=$root/build-bench no_build=0
	results=$root/bench/results
	parse_args --size=size --workdir=workdir --build=build --no-build+no_build --results=results "$@"
	bytes=$(to_bytes "$size") || die "--size: expected a size like $dflt, got '$size'"
}

# one_file_bench RELEASE CREATE_OPT...: what a bench of libtorrent leechers
# downloading one file of $bytes sets up before its first download:
# python3-libtorrent, the programs in $build (built first unless $no_build),
# PIDS stopped on exit, the work directories below $workdir, $results, the
# payload and release bench.RELEASE.1 of it (one_file_release with
# CREATE_OPT: sets torrent).
one_file_bench() {
	need_packages python3-libtorrent
	seed_programs "$build" "$no_build"
	PIDS=()
	trap stop_all EXIT
	work_dirs "$workdir"
	mkdir -p "$results"
	one_file_payload "$bytes" "$bench_name"
	one_file_release "$@"
}

# make_store NAME=PATH...: releases NAME of $data/PATH (tenant bench, version
# 1, v2 and v1) in $store, each `release create --json` answer in
# $W/create-NAME.json. Kept while this seedctl reads the store: one left by
# an older build may be of a format it refuses. Needs seedctl set.
make_store() {
	local r
	if [[ -f $W/store.ok ]] && "$seedctl" release ls --store "$store" >/dev/null 2>&1; then
		return 0
	fi
	echo "$bench_name: creating the releases in $store ..." >&2
	rm -rf "$store" "$W/store.ok"
	for r in "$@"; do
		"$seedctl" release create --store "$store" --tenant bench --name "${r%%=*}" --version 1 \
			--also-v1 --json "$data/${r#*=}" >"$W/create-${r%%=*}.json"
	done
	touch "$W/store.ok"
}

cpu_ticks() { # PID: the process's user + system CPU time so far, in clock ticks (getconf CLK_TCK)
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# dp_loopback OPT...: seed-dataplane serving $store, BitTorrent and HTTP on
# 127.0.0.1 at ports of the kernel's choosing, root kept, no hugepages, and
# OPT; its output in $run/dp.out and dp.err. Sets dp_pid and dp_port (its
# BitTorrent port) once it listens. Needs dataplane set.
dp_loopback() {
	bg "$run/dp.out" "$run/dp.err" "$dataplane" --store "$store" --bt-listen 127.0.0.1:0 \
		--http-listen 127.0.0.1:0 --hugepages no --allow-root yes "$@"
	dp_pid=$BG_PID
	wait_for 60 "$dp_pid" "seed-dataplane" grep -q '^http ' "$run/dp.out"
	# shellcheck disable=SC2034 # dp_port: the sourcing script's
	dp_port=$(sed -nE 's#^bittorrent +127\.0\.0\.1:([0-9]+)$#\1#p' "$run/dp.out")
}

# lt_loopback SECS OPT...: bench/lt_seed.py seeding $torrent from $data/src on
# 127.0.0.1, with OPT; its output in $run/lts.out and lts.err. Sets lt_pid
# and lt_port once it seeds (it checks the data first: SECS at most).
lt_loopback() {
	local secs=$1
	shift
	bg "$run/lts.out" "$run/lts.err" "$PY" "$root/bench/lt_seed.py" --torrent "$torrent" \
		--data-dir "$data/src" --port 0 "$@"
	lt_pid=$BG_PID
	wait_for "$secs" "$lt_pid" "the libtorrent seed" grep -q '^seeding ' "$run/lts.out"
	# shellcheck disable=SC2034 # lt_port: the sourcing script's
	lt_port=$(sed -nE 's/^listening 127\.0\.0\.1:([0-9]+)$/\1/p' "$run/lts.out")
}

# lt_download PID PORT LABEL SECS [OPT...]: one python3-libtorrent download of
# $torrent from 127.0.0.1:PORT into $run/dl (emptied first), at most SECS,
# with dp_download.py's OPT; its report in $run/LABEL.json. Sets SECS_TAKEN
# (libtorrent's own, start to complete) and TICKS (cpu_ticks the seed, process
# PID, spent meanwhile).
lt_download() {
	local pid=$1 port=$2 label=$3 secs=$4 c0 c1
	shift 4
	rm -rf "${run:?}/dl"
	c0=$(cpu_ticks "$pid")
	"$PY" "$root/tests/integration/dp_download.py" --peer "127.0.0.1:$port" --timeout "$secs" "$@" \
		--report "$run/$label.json" --job "$run/dl" "$torrent" >/dev/null || die "$label: the download failed"
	c1=$(cpu_ticks "$pid")
	# shellcheck disable=SC2034 # SECS_TAKEN: the sourcing script's
	SECS_TAKEN=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["seconds"])' "$run/$label.json")
	# shellcheck disable=SC2034 # TICKS: likewise
	TICKS=$((c1 - c0))
}

tree_pids() { # PID: PID and every descendant (nginx: master and workers)
	local p
	echo "$1"
	for p in $(pgrep -P "$1" || true); do tree_pids "$p"; done
}

# nginx_conf DIR WORKERS LISTEN ROOT: writes DIR/nginx.conf, static files
# from ROOT with sendfile on LISTEN (ADDR:PORT), as the benchmarks run it
nginx_conf() {
	local d=$1 workers=$2 listen=$3 docroot=$4
	mkdir -p "$d/tmp"
	cat >"$d/nginx.conf" <<EOF
# generated by bench/$bench_name: static files with sendfile
worker_processes $workers;
worker_rlimit_nofile 65536;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 16384; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 120;
    keepalive_requests 100000000;
    open_file_cache max=1024 inactive=300s;
    default_type application/octet-stream;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    server {
        listen $listen backlog=4096;
        root $docroot;
        location / { }
    }
}
EOF
}

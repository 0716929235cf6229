# shellcheck shell=bash
# Shell helpers shared by the integration tests (through lib.sh),
# tools/demo.sh and the bench scripts (through benchlib.sh). Sourced, never
# run: it defines functions and nothing else, so any script of the tree may
# source it.

# pid_running PID: true while PID exists and is not a zombie.
pid_running() {
	local st
	[[ -r /proc/$1/stat ]] || return 1
	st=$(sed -E 's/^.*\) (.).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ -n $st && $st != Z && $st != X ]]
}

# poll_until SECS PID CMD...: runs CMD every 0.1 s until it succeeds
# (returns 0); returns 1 once the process PID has exited or SECS have
# passed without. The caller tells which when it matters (pid_running).
poll_until() {
	local secs=$1 pid=$2 i
	shift 2
	for ((i = 0; i < secs * 10; i++)); do
		"$@" && return 0
		pid_running "$pid" || return 1
		sleep 0.1
	done
	return 1
}

# node_conf NAME STORE RUN STATUS_LISTEN ANNOUNCE_PORT [EXTRA]: the node
# block of a seed-control config on stdout (its API socket in RUN, as
# RUN/control.sock); STATUS_LISTEN "" turns the status page off; EXTRA is
# more node settings, one a line. The tenants block follows it.
node_conf() {
	cat <<CONF
node = {
  name = "$1";
  store = "$2";
  run_dir = "$3";
  api_socket = "$3/control.sock";
  status_listen = "$4";
  announce_port = $5;${6:+
  $6}
};
CONF
}

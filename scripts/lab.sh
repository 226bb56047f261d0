#!/usr/bin/env bash
# scripts/lab.sh — the docker-compose.yml lab, natively on loopback with the
# Debian packages, for machines without Docker: svcdns as a hidden primary;
# Knot DNS, NSD and BIND as secondaries that take the zone by AXFR, then by
# IXFR from svcdns's journal whenever its NOTIFY tells them of a change; and
# Unbound as a resolver that stubs ports.local to the three secondaries.
#
#   scripts/lab.sh up [--registry FILE]   build svcdns, write the configs, start the five
#   scripts/lab.sh check                  ask each server, compare the secondaries with the primary
#   scripts/lab.sh notify                 change the zone at svcdns; the secondaries must follow by IXFR
#   scripts/lab.sh down                   stop everything and remove the state directory
#
# Environment:
#   LAB_DIR        state directory: binary, configs, logs, PIDs, svcdns's journal
#                  (default /tmp/svcdns-lab)
#   LAB_PORT_BASE  svcdns's DNS port (default 15353); Knot listens on +1, Unbound on +2,
#                  NSD on +3, BIND on +4, svcdns's /metrics on +3800 (19153)
#   LAB_TIMEOUT    seconds to wait for each daemon to be ready (default 60)
#
# Everything listens on 127.0.0.1 only (the secondaries transfer from
# 127.0.0.11, .12 and .13, so that svcdns's log tells them apart), and the
# resolver refuses every name outside ports.local: nothing the lab does
# leaves the machine. Needs go, dig (bind9-dnsutils), knotd (knot), nsd
# (nsd), named (bind9) and unbound (unbound); runs as root or as a normal
# user (all ports are above 1024). `check` and `notify` exit non-zero on any
# mismatch.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$PATH:/usr/sbin:/sbin"

LAB_DIR=${LAB_DIR:-/tmp/svcdns-lab}
# Absolute: the daemons' command lines carry it, and `running` looks for it.
if [ -d "$LAB_DIR" ]; then LAB_DIR=$(cd "$LAB_DIR" && pwd -P); fi
LAB_TIMEOUT=${LAB_TIMEOUT:-60}
origin=ports.local.
marker=.svcdns-lab        # in LAB_DIR: `down` removes only a directory that has it
daemons=(unbound named nsd knotd svcdns) # stop order; started in reverse
# The secondaries: daemon, name in reports, transfer source address.
secondaries=("knotd knot 127.0.0.11" "nsd nsd 127.0.0.12" "named bind 127.0.0.13")

die() {
	echo "lab: $*" >&2
	exit 1
}

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

# ports sets the port variables from LAB_PORT_BASE.
ports() {
	local base=${LAB_PORT_BASE:-15353}
	if ! [[ $base =~ ^[0-9]+$ ]] || ((base < 1024 || base + 3800 > 65535)); then
		die "LAB_PORT_BASE=$base: want a number from 1024 to 61735 (the lab uses it, +1 to +4 and +3800)"
	fi
	svcdns_port=$base
	knot_port=$((base + 1))
	unbound_port=$((base + 2))
	nsd_port=$((base + 3))
	bind_port=$((base + 4))
	metrics_port=$((base + 3800))
}

# port_of NAME prints the DNS port of the lab's secondary NAME.
port_of() {
	case $1 in
	knot) echo "$knot_port" ;;
	nsd) echo "$nsd_port" ;;
	bind) echo "$bind_port" ;;
	esac
}

need() {
	local cmd=$1 pkg=$2
	command -v "$cmd" >/dev/null 2>&1 || die "$cmd not found: apt-get install $pkg (or run ./scripts/test once)"
}

# port_busy PORT succeeds when something listens on 127.0.0.1:PORT (UDP or
# TCP). Without this a second lab on the same ports would "start" and then
# talk to the first one's servers.
port_busy() {
	if command -v ss >/dev/null 2>&1; then
		[ -n "$(ss -Hlntu "sport = :$1")" ]
	else
		(: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null
	fi
}

# running NAME prints the PID of the lab's NAME and succeeds when that
# process is alive and is really the lab's (its command line names
# LAB_DIR, so a reused PID is never taken for it).
running() {
	local pidfile=$LAB_DIR/$1.pid pid args
	[ -s "$pidfile" ] || return 1
	pid=$(<"$pidfile")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	args=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
	[[ $args == *"$LAB_DIR/"* ]] || return 1
	echo "$pid"
}

# start NAME CMD... runs CMD detached from this shell (its own session, so
# the lab outlives the terminal and a Ctrl-C here), logging to NAME.log.
start() {
	local name=$1
	shift
	if command -v setsid >/dev/null 2>&1; then
		set -- setsid "$@"
	fi
	"$@" >"$LAB_DIR/$name.log" 2>&1 </dev/null &
	echo $! >"$LAB_DIR/$name.pid"
}

# stop NAME sends SIGTERM and waits up to 10 s, then SIGKILL.
stop() {
	local name=$1 pid
	pid=$(running "$name") || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || {
			echo "lab: stopped $name (pid $pid)"
			return 0
		}
		sleep 0.1
	done
	echo "lab: $name (pid $pid) ignored SIGTERM for 10 s; killing it" >&2
	kill -KILL "$pid" 2>/dev/null || true
}

logtail() {
	local f=$LAB_DIR/$1.log
	[ -s "$f" ] || return 0
	echo "--- last lines of $f" >&2
	tail -n 20 "$f" >&2
}

# ask PORT QNAME QTYPE [DIG-OPTION...] queries 127.0.0.1@PORT and sets
# status (NOERROR, ... or "no reply"), flags and answer (the answer
# section's records, one a line, without the TTL, which a resolver counts
# down: NAME CLASS TYPE RDATA...).
ask() {
	local port=$1 qname=$2 qtype=$3 out
	shift 3
	status="no reply" flags="" answer=""
	out=$(dig +time=2 +tries=2 +norecurse -p "$port" @127.0.0.1 "$@" "$qname" "$qtype" 2>&1) || return 0
	status=$(sed -n 's/.*status: \([A-Z]*\).*/\1/p' <<<"$out" | head -n 1)
	flags=$(sed -n 's/^;; flags: \([^;]*\);.*/\1/p' <<<"$out" | head -n 1)
	answer=$(awk '/^;; ANSWER SECTION:/ {a = 1; next} a && /^$/ {a = 0} a && !/^;/ {$2 = ""; print}' <<<"$out" | tr -s ' \t' ' ')
}

has_flag() { [[ " $flags " == *" $1 "* ]]; }

# serial PORT prints the SOA serial the server at PORT answers with, or
# nothing.
serial() {
	ask "$1" "$origin" SOA
	[ "$status" = NOERROR ] && has_flag aa || return 0
	awk '$3 == "SOA" {print $6; exit}' <<<"$answer"
}

# wait_until DESCRIPTION DAEMON CMD... retries CMD until it succeeds,
# failing when DAEMON exits or LAB_TIMEOUT passes.
wait_until() {
	local what=$1 daemon=$2 deadline=$((SECONDS + LAB_TIMEOUT))
	shift 2
	until "$@"; do
		running "$daemon" >/dev/null || {
			logtail "$daemon"
			die "$daemon exited while waiting for $what (log: $LAB_DIR/$daemon.log)"
		}
		if ((SECONDS >= deadline)); then
			logtail "$daemon"
			die "timed out after ${LAB_TIMEOUT}s waiting for $what (log: $LAB_DIR/$daemon.log)"
		fi
		sleep 0.2
	done
}

primary_ready() { [ -n "$(serial "$svcdns_port")" ]; }
# synced NAME succeeds when the secondary NAME serves the primary's serial.
synced() {
	local s
	s=$(serial "$(port_of "$1")")
	[ -n "$s" ] && [ "$s" = "$(serial "$svcdns_port")" ]
}
resolver_ready() {
	ask "$unbound_port" "$origin" SOA +recurse
	[ "$status" = NOERROR ]
}

write_configs() {
	local registry=$1
	# svcdns: the hidden primary. AXFR and IXFR for loopback; NOTIFY to
	# the three secondaries after each change; the IXFR journal in the
	# lab's directory. soa.retry is the knob `notify` turns.
	cat >"$LAB_DIR/svcdns.yaml" <<EOF
# written by scripts/lab.sh up
listen: ["127.0.0.1:$svcdns_port"]
metrics_listen: 127.0.0.1:$metrics_port
origin: $origin
registry: "$registry"
state_dir: "$LAB_DIR/state"
soa:
  retry: 600
transfer:
  allow_networks: [127.0.0.0/8]
  notify: ["127.0.0.1:$knot_port", "127.0.0.1:$nsd_port", "127.0.0.1:$bind_port"]
EOF

	# The secondaries. Each bootstraps by AXFR at start and then waits
	# for NOTIFY (its refresh timer is the SOA's, 3600 s), asking for IXFR.
	mkdir -p "$LAB_DIR/knot" "$LAB_DIR/nsd" "$LAB_DIR/bind"
	cat >"$LAB_DIR/knot.conf" <<EOF
# written by scripts/lab.sh up
server:
    listen: 127.0.0.1@$knot_port
    rundir: "$LAB_DIR/knot"
log:
  - target: stderr
    any: info
database:
    storage: "$LAB_DIR/knot"
remote:
  - id: svcdns
    address: 127.0.0.1@$svcdns_port
    via: 127.0.0.11
acl:
  - id: notify-from-svcdns
    address: 127.0.0.1
    action: notify
  - id: transfer-to-loopback
    address: 127.0.0.0/8
    action: transfer
template:
  - id: default
    storage: "$LAB_DIR/knot"
    file: "%s.zone"
zone:
  - domain: $origin
    master: svcdns
    acl: [notify-from-svcdns, transfer-to-loopback]
EOF

	cat >"$LAB_DIR/nsd.conf" <<EOF
# written by scripts/lab.sh up
server:
    ip-address: 127.0.0.1@$nsd_port
    username: ""
    chroot: ""
    zonesdir: "$LAB_DIR/nsd"
    database: ""
    pidfile: "$LAB_DIR/nsd/nsd.pid"
    xfrdfile: "$LAB_DIR/nsd/xfrd.state"
    xfrdir: "$LAB_DIR/nsd"
    zonelistfile: "$LAB_DIR/nsd/zone.list"
    server-count: 1
    do-ip6: no
    verbosity: 2
remote-control:
    control-enable: no
zone:
    name: $origin
    zonefile: ports.local.zone
    outgoing-interface: 127.0.0.12
    request-xfr: 127.0.0.1@$svcdns_port NOKEY
    allow-notify: 127.0.0.1 NOKEY
    provide-xfr: 127.0.0.0/8 NOKEY
EOF

	cat >"$LAB_DIR/named.conf" <<EOF
// written by scripts/lab.sh up
options {
    directory "$LAB_DIR/bind";
    listen-on port $bind_port { 127.0.0.1; };
    listen-on-v6 { none; };
    pid-file "$LAB_DIR/bind/named.pid";
    session-keyfile "$LAB_DIR/bind/session.key";
    managed-keys-directory "$LAB_DIR/bind";
    recursion no;
    dnssec-validation no;
    notify no;
    transfer-source 127.0.0.13;
    allow-transfer { 127.0.0.0/8; };
};
controls { };
zone "$origin" {
    type secondary;
    primaries { 127.0.0.1 port $svcdns_port; };
    file "$LAB_DIR/bind/ports.local.db";
    allow-notify { 127.0.0.1; };
};
EOF

	# Unbound: a resolver for ports.local only, stubbed to the three
	# secondaries (svcdns is hidden). The "." refuse zone keeps every
	# other name (and the root priming) off the network; .local needs its
	# default local zone lifted.
	cat >"$LAB_DIR/unbound.conf" <<EOF
# written by scripts/lab.sh up
server:
    interface: 127.0.0.1
    port: $unbound_port
    do-ip6: no
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "$LAB_DIR"
    pidfile: "$LAB_DIR/unbound.pidfile"
    use-syslog: no
    logfile: ""
    verbosity: 1
    num-threads: 1
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    module-config: "iterator"
    domain-insecure: "ports.local"
    local-zone: "local." nodefault
    local-zone: "." refuse
    local-zone: "ports.local." transparent
remote-control:
    control-enable: no
stub-zone:
    name: "ports.local"
    stub-addr: 127.0.0.1@$knot_port
    stub-addr: 127.0.0.1@$nsd_port
    stub-addr: 127.0.0.1@$bind_port
EOF
}

save_state() {
	{
		printf 'LAB_PORT_BASE=%q\n' "$svcdns_port"
		printf 'lab_registry=%q\n' "$1"
	} >"$LAB_DIR/lab.env"
}

load_state() {
	if [ ! -f "$LAB_DIR/$marker" ] || [ ! -f "$LAB_DIR/lab.env" ]; then
		die "no lab in $LAB_DIR (scripts/lab.sh up starts one; LAB_DIR selects it)"
	fi
	# shellcheck source=/dev/null
	. "$LAB_DIR/lab.env"
	ports
}

cmd_up() {
	local registry=""
	while [ $# -gt 0 ]; do
		case $1 in
		--registry)
			[ $# -ge 2 ] || die "--registry needs a file"
			registry=$2
			shift 2
			;;
		--registry=*)
			registry=${1#--registry=}
			shift
			;;
		*) die "up: unknown argument $1 (usage: scripts/lab.sh up [--registry FILE])" ;;
		esac
	done
	if [ -n "$registry" ]; then
		[ -r "$registry" ] || die "--registry $registry: no such readable file"
		registry=$(cd "$(dirname "$registry")" && pwd)/$(basename "$registry")
	fi
	ports
	need go golang
	need dig bind9-dnsutils
	need knotd knot
	need nsd nsd
	need named bind9
	need unbound unbound

	if [ -e "$LAB_DIR" ]; then
		[ -f "$LAB_DIR/$marker" ] || [ -z "$(ls -A "$LAB_DIR")" ] ||
			die "$LAB_DIR exists and is not a lab directory; choose another LAB_DIR"
		for d in "${daemons[@]}"; do
			if pid=$(running "$d"); then
				die "the lab in $LAB_DIR is up ($d is pid $pid): scripts/lab.sh down first"
			fi
		done
		# What a previous lab left (a failed up keeps its logs).
		if [ -f "$LAB_DIR/$marker" ]; then
			rm -rf "${LAB_DIR:?}"
		fi
	fi
	for p in "$svcdns_port" "$knot_port" "$unbound_port" "$nsd_port" "$bind_port" "$metrics_port"; do
		if port_busy "$p"; then
			die "port $p is in use (the lab needs $svcdns_port to $bind_port and $metrics_port): set LAB_PORT_BASE, or scripts/lab.sh down the lab that has it"
		fi
	done
	mkdir -p "$LAB_DIR"
	LAB_DIR=$(cd "$LAB_DIR" && pwd -P)
	touch "$LAB_DIR/$marker"
	save_state "$registry"

	# A failure from here on stops what was started; the logs stay.
	trap up_failed EXIT

	echo "lab: building svcdns into $LAB_DIR"
	(cd "$repo" && go build -o "$LAB_DIR/svcdns" ./cmd/svcdns)
	write_configs "$registry"
	if command -v knotc >/dev/null 2>&1; then
		knotc -c "$LAB_DIR/knot.conf" conf-check >/dev/null ||
			die "Knot rejects $LAB_DIR/knot.conf"
	fi
	if command -v nsd-checkconf >/dev/null 2>&1; then
		nsd-checkconf "$LAB_DIR/nsd.conf" || die "nsd-checkconf rejects $LAB_DIR/nsd.conf"
	fi
	if command -v named-checkconf >/dev/null 2>&1; then
		named-checkconf "$LAB_DIR/named.conf" || die "named-checkconf rejects $LAB_DIR/named.conf"
	fi
	if command -v unbound-checkconf >/dev/null 2>&1; then
		unbound-checkconf "$LAB_DIR/unbound.conf" >/dev/null ||
			die "unbound-checkconf rejects $LAB_DIR/unbound.conf"
	fi

	start svcdns "$LAB_DIR/svcdns" serve --config "$LAB_DIR/svcdns.yaml"
	wait_until "svcdns to answer SOA $origin on 127.0.0.1:$svcdns_port" svcdns primary_ready
	echo "lab: svcdns   primary    127.0.0.1:$svcdns_port  serial $(serial "$svcdns_port")  metrics http://127.0.0.1:$metrics_port/metrics (hidden: only the secondaries ask it)"

	start knotd knotd -c "$LAB_DIR/knot.conf"
	start nsd nsd -d -c "$LAB_DIR/nsd.conf"
	start named named -g -c "$LAB_DIR/named.conf"
	local sec daemon name via
	for sec in "${secondaries[@]}"; do
		read -r daemon name via <<<"$sec"
		wait_until "$name to transfer $origin from svcdns" "$daemon" synced "$name"
		printf 'lab: %-8s secondary  127.0.0.1:%s  serial %s  (AXFR from svcdns via %s, NOTIFY accepted from 127.0.0.1)\n' \
			"$daemon" "$(port_of "$name")" "$(serial "$(port_of "$name")")" "$via"
	done

	start unbound unbound -d -c "$LAB_DIR/unbound.conf"
	wait_until "Unbound to resolve $origin" unbound resolver_ready
	echo "lab: unbound  resolver   127.0.0.1:$unbound_port  (stub-zone ports.local -> the secondaries: 127.0.0.1@$knot_port, @$nsd_port, @$bind_port)"
	trap - EXIT
	echo "lab: up; try: dig @127.0.0.1 -p $unbound_port SRV _rets._tcp.ports.local"
}

up_failed() {
	local rc=$?
	[ "$rc" = 0 ] && return 0
	echo "lab: up failed; stopping what was started (configs and logs stay in $LAB_DIR)" >&2
	for d in "${daemons[@]}"; do stop "$d"; done
	exit "$rc"
}

cmd_check() {
	load_state
	need dig bind9-dnsutils
	local failed=0 passed=0 d pid name port flag opt
	result() { # ok|FAIL WHAT TEXT
		printf '%-4s  %-9s  %s\n' "$1" "$2" "$3"
		if [ "$1" = ok ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
	}
	echo "svcdns lab in $LAB_DIR"
	for d in svcdns knotd nsd named unbound; do
		if pid=$(running "$d"); then
			result ok process "$d is running (pid $pid)"
		else
			result FAIL process "$d is not running (log: $LAB_DIR/$d.log)"
		fi
	done

	local q=_rets._tcp.$origin want=6103 srv_primary=""
	# role PORT FLAG EXTRA-DIG-OPTION
	for role in "resolver $unbound_port ra +recurse" "primary $svcdns_port aa +norecurse" \
		"knot $knot_port aa +norecurse" "nsd $nsd_port aa +norecurse" "bind $bind_port aa +norecurse"; do
		read -r name port flag opt <<<"$role"
		ask "$port" "$q" SRV "$opt"
		local srv
		srv=$(awk '$3 == "SRV" {print $4, $5, $6, $7}' <<<"$answer" | sort | tr '\n' ' ')
		srv=${srv% }
		local line="127.0.0.1:$port  SRV $q -> ${srv:-(none)} ($status, ${flags:-no flags})"
		if [ "$status" = NOERROR ] && has_flag "$flag" && [[ " $srv " == *" $want "* ]]; then
			result ok "$name" "$line"
		else
			result FAIL "$name" "$line; want NOERROR, flag $flag and port $want"
		fi
		[ "$name" = primary ] && srv_primary=$srv
		if [ "$name" != primary ] && [ "$name" != resolver ] && [ "$srv" != "$srv_primary" ]; then
			result FAIL "$name" "SRV differs from the primary's: '$srv' vs '$srv_primary'"
		fi
	done

	# A port name, which only svcdns used to answer: the same TXT from
	# every server, the resolver included.
	local pq=_6081._udp.$origin txt_primary differ=""
	ask "$svcdns_port" "$pq" TXT +norecurse
	txt_primary=$answer
	for role in "resolver $unbound_port +recurse" "knot $knot_port +norecurse" "nsd $nsd_port +norecurse" "bind $bind_port +norecurse"; do
		read -r name port opt <<<"$role"
		ask "$port" "$pq" TXT "$opt"
		if [ "$status" != NOERROR ] || [ "$answer" != "$txt_primary" ]; then
			differ="$differ $name ($status)"
		fi
	done
	if [ -n "$txt_primary" ] && [ -z "$differ" ]; then
		result ok "port name" "$pq TXT alike at the primary, knot, nsd, bind and the resolver"
	else
		result FAIL "port name" "$pq TXT differs from the primary's at:$differ"
	fi

	local sp ss line="" bad=""
	sp=$(serial "$svcdns_port")
	for name in knot nsd bind; do
		ss=$(serial "$(port_of "$name")")
		line="$line = $name ${ss:-(no SOA)}"
		[ -n "$sp" ] && [ "$sp" = "$ss" ] || bad=1
	done
	if [ -z "$bad" ]; then
		result ok serial "primary ${sp}$line"
	else
		result FAIL serial "primary ${sp:-(no SOA)}$line: not all equal"
	fi

	# The whole zone, record for record, one SOA. Names are compared in
	# lower case: a secondary may keep the DNS-SD instance names
	# (RETS._rets._tcp) in lower case, which is the same name to DNS.
	# The four transfers run at once, into files.
	local np ns
	mkdir -p "$LAB_DIR/check"
	for name in primary knot nsd bind; do
		port=$svcdns_port
		[ "$name" = primary ] || port=$(port_of "$name")
		zone_records "$port" >"$LAB_DIR/check/$name.zone" &
	done
	wait
	np=$(wc -l <"$LAB_DIR/check/primary.zone")
	for name in knot nsd bind; do
		ns=$(wc -l <"$LAB_DIR/check/$name.zone")
		if [ "$np" -gt 1 ] && cmp -s "$LAB_DIR/check/primary.zone" "$LAB_DIR/check/$name.zone"; then
			result ok zone "$name holds the primary's $np records (AXFR)"
		else
			result FAIL zone "primary has $np records, $name $ns; first differences:"
			diff "$LAB_DIR/check/primary.zone" "$LAB_DIR/check/$name.zone" | head -n 10 || true
		fi
	done
	rm -rf "$LAB_DIR/check"

	if ((failed > 0)); then
		echo "check: $failed failed, $passed passed"
		return 1
	fi
	echo "check: all $passed passed"
}

# zone_records PORT prints the zone transferred from the server at PORT,
# sorted, blanks squeezed, in lower case but for TXT strings. The wait
# for each message is long: on a loaded machine (four transfers of 17 MB at
# once) a 5 s wait cut Knot's transfer short.
zone_records() {
	dig +time=30 +tries=1 +noall +answer +onesoa -p "$1" @127.0.0.1 "$origin" AXFR |
		awk '!/^;/ && NF {$1 = $1; if ($4 == "TXT") $1 = tolower($1); else $0 = tolower($0); print}' | sort
}

cmd_notify() {
	load_state
	need dig bind9-dnsutils
	local pid before after ss retry deadline t0 logged failure d sec daemon name via how=""
	pid=$(running svcdns) || die "svcdns is not running (log: $LAB_DIR/svcdns.log)"
	for d in knotd nsd named; do
		running "$d" >/dev/null || die "$d is not running (log: $LAB_DIR/$d.log)"
	done
	before=$(serial "$svcdns_port")
	[ -n "$before" ] || die "svcdns does not answer SOA $origin"

	# Any change of content moves the serial; SOA retry changes nothing
	# that clients see. Replaced by rename, as editors do.
	retry=$(sed -n 's/^  retry: \([0-9]*\)$/\1/p' "$LAB_DIR/svcdns.yaml")
	[ -n "$retry" ] || die "no soa.retry in $LAB_DIR/svcdns.yaml"
	if [ "$retry" = 600 ]; then retry=601; else retry=600; fi
	sed "s/^  retry: [0-9]*$/  retry: $retry/" "$LAB_DIR/svcdns.yaml" >"$LAB_DIR/svcdns.yaml.new"
	logged=$(wc -l <"$LAB_DIR/svcdns.log")
	mv "$LAB_DIR/svcdns.yaml.new" "$LAB_DIR/svcdns.yaml"
	kill -HUP "$pid"
	t0=$SECONDS

	deadline=$((SECONDS + 15))
	until after=$(serial "$svcdns_port") && [ -n "$after" ] && [ "$after" != "$before" ]; do
		((SECONDS < deadline)) || {
			logtail svcdns
			die "svcdns still serves serial $before 15 s after SIGHUP"
		}
		sleep 0.2
	done
	# The secondaries' own refresh is 3600 s away: only the NOTIFY can
	# bring them the new serial this soon.
	deadline=$((SECONDS + 20))
	for sec in "${secondaries[@]}"; do
		read -r daemon name via <<<"$sec"
		until ss=$(serial "$(port_of "$name")") && [ "$ss" = "$after" ]; do
			# svcdns says so when a secondary refuses or never answers.
			if failure=$(tail -n "+$((logged + 1))" "$LAB_DIR/svcdns.log" | grep -m 1 -E "notify (refused|gave up).*:$(port_of "$name")"); then
				logtail "$daemon"
				die "svcdns's NOTIFY to $name failed: $failure"
			fi
			((SECONDS < deadline)) || {
				logtail svcdns
				logtail "$daemon"
				die "$name still at serial ${ss:-(none)} 20 s after svcdns moved to $after: NOTIFY did not work"
			}
			sleep 0.2
		done
		# Which transfer brought it: svcdns logs each one, with the
		# secondary's transfer source address.
		if tail -n "+$((logged + 1))" "$LAB_DIR/svcdns.log" | grep -q "msg=\"zone transferred\" remote=$via type=IXFR answer=incremental"; then
			how="$how $name:IXFR"
		else
			how="$how $name:full"
		fi
	done
	[ "$(tail -n "+$((logged + 1))" "$LAB_DIR/svcdns.log" | grep -c 'notify acknowledged')" -ge 3 ] ||
		die "the secondaries have serial $after but svcdns logged fewer than 3 acknowledged NOTIFYs"
	printf '%-4s  %-9s  %s\n' ok notify "primary $before -> $after; knot, nsd and bind followed in $((SECONDS - t0))s by$how (NOTIFY acknowledged; refresh timer 3600 s)"
}

cmd_down() {
	if [ ! -e "$LAB_DIR" ]; then
		echo "lab: nothing in $LAB_DIR"
		return 0
	fi
	[ -f "$LAB_DIR/$marker" ] || die "$LAB_DIR is not a lab directory; not touching it"
	for d in "${daemons[@]}"; do
		stop "$d"
	done
	rm -rf "${LAB_DIR:?}"
	echo "lab: down; removed $LAB_DIR"
}

case ${1:-} in
up)
	shift
	cmd_up "$@"
	;;
check | notify | down)
	cmd=$1
	shift
	[ $# -eq 0 ] || die "$cmd takes no arguments"
	"cmd_$cmd"
	;;
-h | --help | help)
	usage
	;;
*)
	usage >&2
	exit 2
	;;
esac

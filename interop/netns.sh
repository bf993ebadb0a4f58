# SPDX-License-Identifier: GPL-2.0
#
# Sourced by demo/run and tests/vm/interop (inside the VM, as root): two
# hosts in network namespaces joined by a veth pair, h3server in "srv",
# Debian's unmodified gtlsclient (package ngtcp2-client) in "cli".
#
#   cli: 192.0.2.1 2001:db8::1   <-- veth -->   srv: 192.0.2.2 2001:db8::2

H3SERVER=${QUICVM_BUILD:?}/interop/h3server
SRV4=192.0.2.2
SRV6=2001:db8::2
PORT=4433
WORK=${WORK:-$(mktemp -d /tmp/interop.XXXXXX)}

netns_setup() {
	ip netns add cli
	ip netns add srv
	ip link add veth0 netns cli type veth peer name veth0 netns srv
	ip -n cli addr add 192.0.2.1/24 dev veth0
	ip -n srv addr add $SRV4/24 dev veth0
	# nodad: the addresses are usable at once, no 1-2 s of DAD
	ip -n cli addr add 2001:db8::1/64 dev veth0 nodad
	ip -n srv addr add $SRV6/64 dev veth0 nodad
	for ns in cli srv; do
		ip -n "$ns" link set lo up
		ip -n "$ns" link set veth0 up
	done
}

# in_ns NS CMD...: run CMD in network namespace NS. Only the network
# namespace is entered: `ip netns exec` also remounts /sys, which costs
# about a second in the emulated guest.
in_ns() {
	local ns=$1
	shift
	nsenter --net="/run/netns/$ns" "$@"
}

netns_cleanup() {
	ip netns del cli 2>/dev/null
	ip netns del srv 2>/dev/null
	true
}

# A fresh self-signed certificate for every run: no key is ever stored.
# A client that verifies it (quinn-client: rustls/webpki) trusts it as its
# own root: that needs the name in a subjectAltName (the CN is not looked
# at) and CA:FALSE (a CA certificate is refused as the server's).
make_cert() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-nodes -days 1 -subj /CN=h3server \
		-addext subjectAltName=DNS:h3server \
		-addext basicConstraints=critical,CA:FALSE \
		-keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
}

# server_start LOG [h3server options...]: start h3server in srv on both
# addresses, wait until it listens. Its pid is in $server_pid.
server_start() {
	local log=$1
	shift
	# the loop below may read it before the background job creates it
	: > "$log"
	# not through in_ns: $! must be the server itself, not a subshell
	nsenter --net=/run/netns/srv "$H3SERVER" "$@" -c "$WORK/cert.pem" \
		-k "$WORK/key.pem" $PORT $SRV4 $SRV6 > "$log" 2>&1 &
	server_pid=$!
	local i line
	for ((i = 0; i < 100; i++)); do
		while IFS= read -r line; do
			[[ $line == *listening* ]] && return 0
		done < "$log"
		kill -0 $server_pid 2>/dev/null || break
		sleep 0.1
	done
	echo "h3server did not start:"
	cat "$log"
	return 1
}

# server_stop: end h3server (SIGTERM makes it print its totals), return
# its exit status.
server_stop() {
	local status=0
	kill -TERM $server_pid 2>/dev/null
	wait $server_pid || status=$?
	return $status
}

# client HOST URLPATH DIR LOG [gtlsclient options...]: download with
# gtlsclient, return its exit status. The timeouts are generous: a guest
# sharing a loaded host can stall for many seconds.
client() {
	local host=$1 path=$2 dir=$3 log=$4 uhost=$1
	shift 4
	[[ $host == *:* ]] && uhost="[$host]"
	mkdir -p "$dir"
	in_ns cli timeout -k 5 600 gtlsclient -q \
		--exit-on-all-streams-close --handshake-timeout=60s \
		--timeout=120s \
		--download "$dir" "$@" "$host" $PORT \
		"https://$uhost:$PORT$path" > "$log" 2>&1
}

# Starting a process costs a few tenths of a second in the emulated debug
# guest: the helpers below parse with bash builtins only.

# srv_stat NAME: a counter of /proc/net/quic_stat in the server's netns,
# read through the server's /proc entry while it runs (no netns switch)
srv_stat() {
	local f=/proc/${server_pid:-0}/net/quic_stat name val
	if [ ! -r "$f" ]; then
		in_ns srv awk -v n="$1" '$1 == n { print $2 }' \
			/proc/net/quic_stat 2>/dev/null
		return
	fi
	while read -r name val; do
		[ "$name" = "$1" ] && { echo "$val"; return; }
	done < "$f"
}

# served_sha LOG PATH: the SHA-256 h3server logged for PATH (last one)
served_sha() {
	local line sha=""
	while IFS= read -r line; do
		[[ $line == *" served $2: "*" sha256 "* ]] || continue
		sha=${line##* sha256 }
		sha=${sha%% *}
	done < "$1"
	echo "$sha"
}

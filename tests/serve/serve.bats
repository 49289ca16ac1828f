#!/usr/bin/env bats
# castore serve as a binary cache: real Nix 2.8 substitutes from it, lists
# it and queries it; curl and raw sockets check the protocol's edges.

load lib

setup_file() {
	net_setup_file
	nix-store --generate-binary-cache-key serve-key-1 "$F/serve-sk" "$F/serve-pk"
	SERVE_PK=$(cat "$F/serve-pk")
	export SERVE_PK
	export SRV_STORE="$F/served"
	serve_store_make "$SRV_STORE"
}

teardown_file() {
	nginx_stop
}

setup() {
	WORK="$BATS_TEST_TMPDIR/work"
	mkdir -p "$WORK"
	export CASTORE_STORE="$BATS_TEST_TMPDIR/store"
	MNT="$BATS_TEST_TMPDIR/mnt"
}

teardown() {
	local rc=0
	end_mounts || rc=1
	serve_stop || rc=1
	return "$rc"
}

# task_count PID: the threads of a process.
task_count() {
	ls "/proc/$1/task" | wc -l
}

# lines_in FILE N: FILE has N lines (or more).
lines_in() {
	[ -e "$1" ] && [ "$(wc -l < "$1")" -ge "$2" ]
}

# clients_stuck PORTS-FILE: every client connection (by its local port,
# one a line) to castore serve is stuck: the client has unread bytes, the
# server has bytes it cannot send (its Send-Q), and the server still has a
# thread on each (so its NAR is not all written).
clients_stuck() {
	local srv=${SERVE_URL##*:} p n=0 sendq recvq
	while read -r p; do
		n=$((n + 1))
		sendq=$(ss -tnH state established "( sport = :$srv and dport = :$p )" | awk '{ print $2 }')
		recvq=$(ss -tnH state established "( sport = :$p and dport = :$srv )" | awk '{ print $1 }')
		[ "${sendq:-0}" -gt 0 ] && [ "${recvq:-0}" -gt 0 ] || return 1
	done < "$1"
	[ "$n" -gt 0 ] && [ "$(task_count "$SERVE_PID")" -ge $((THREADS_BEFORE + n)) ]
}

# clients_dropped PORTS-FILE: the server holds no connection to any of them.
clients_dropped() {
	local srv=${SERVE_URL##*:} p
	while read -r p; do
		[ -z "$(ss -tnH state established "( sport = :$srv and dport = :$p )")" ] || return 1
	done < "$1"
}

@test "Nix realises the closure from castore serve, byte-identical, uncompressed, zstd and xz on the fly" {
	for c in none zstd xz; do
		serve_start "$SRV_STORE" "$WORK/serve-$c.log" --secret-key "$F/serve-sk" --compression "$c"
		run nix_realise "$WORK/nix-$c" "$SERVE_URL" "$SERVE_PK"
		echo "$output"
		[ "$status" -eq 0 ]
		same_as_nix "$WORK/nix-$c" "$TOP" "$DEP"
		# the narinfo names the compression, and the NAR came that way
		curl -fsS "$SERVE_URL/$(hash_of "$DEP").narinfo" > "$WORK/dep.narinfo"
		grep -qx "Compression: $c" "$WORK/dep.narinfo"
		grep -q "GET /nar/$(hash_of "$DEP")-.*\.nar$(case $c in zstd) echo '\.zst';; xz) echo '\.xz';; esac) 200" "$WORK/serve-$c.log"
		serve_stop
	done
	# the cache's own signature (from nix copy) and castore serve's
	grep -q '^Sig: test-key-1:' "$WORK/dep.narinfo"
	grep -q '^Sig: serve-key-1:' "$WORK/dep.narinfo"
}

@test "Nix refuses castore serve's paths when it trusts neither key that signed them" {
	serve_start "$SRV_STORE" "$WORK/serve.log" --secret-key "$F/serve-sk"
	run nix_realise "$WORK/nix" "$SERVE_URL" "$WRONG_PK"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"is not signed by any of the keys"* ]]
	[ ! -e "$WORK/nix/nix/store/$(basename "$TOP")" ]
	# a narinfo without the server's key verifies with the uploader's
	serve_stop
	serve_start "$SRV_STORE" "$WORK/serve2.log"
	run nix_realise "$WORK/nix2" "$SERVE_URL" "$PK"
	[ "$status" -eq 0 ]
	same_as_nix "$WORK/nix2" "$TOP" "$DEP"
}

@test "nix path-info and nix store ls work against castore serve" {
	serve_start "$SRV_STORE" "$WORK/serve.log" --secret-key "$F/serve-sk"
	nix path-info --store "$SERVE_URL" --json "$TOP" > "$WORK/remote.json"
	nix path-info --json "$TOP" > "$WORK/local.json"
	python3 - "$WORK/remote.json" "$WORK/local.json" <<'PY'
import json, sys
r, l = (json.load(open(f)) for f in sys.argv[1:])
r = r[0] if isinstance(r, list) else r
l = l[0] if isinstance(l, list) else l
for k in ("path", "narHash", "narSize", "references"):
    assert r[k] == l[k], (k, r[k], l[k])
PY
	nix path-info --store "$SERVE_URL" -S "$TOP" > "$WORK/remote-S"
	nix path-info -S "$TOP" > "$WORK/local-S"
	diff "$WORK/remote-S" "$WORK/local-S"
	# the listing (and its narOffsets) is what Nix writes
	nix store ls --store "$SERVE_URL" -lR "$TOP" > "$WORK/remote.ls"
	nix store ls -lR "$TOP" > "$WORK/local.ls"
	diff "$WORK/remote.ls" "$WORK/local.ls"
	nix copy --to "file://$WORK/listed?write-nar-listing=true" "$DEP"
	curl -fsS "$SERVE_URL/$(hash_of "$DEP").ls" > "$WORK/ours.ls"
	python3 -c 'import json, sys; a, b = (json.load(open(f)) for f in sys.argv[1:]); assert a == b, (a, b)' \
		"$WORK/ours.ls" "$WORK/listed/$(hash_of "$DEP").ls"
	nix store cat --store "$SERVE_URL" "$DEP/share/data" | grep -qx dep-data
}

@test "Range on uncompressed NARs, HEAD, 404, 405, 416 and bad names" {
	serve_start "$SRV_STORE" "$WORK/serve.log"
	curl -fsS "$SERVE_URL/$(hash_of "$DEP").narinfo" > "$WORK/dep.narinfo"
	url="$SERVE_URL/$(sed -n 's/^URL: //p' "$WORK/dep.narinfo")"
	size=$(sed -n 's/^NarSize: //p' "$WORK/dep.narinfo")
	nix-store --dump "$DEP" > "$WORK/dep.nar"
	curl -fsS "$url" | cmp - "$WORK/dep.nar"
	# ranges: a prefix, a middle reaching past the end, a suffix
	curl -fsS -r 0-99 "$url" | cmp - <(head -c 100 "$WORK/dep.nar")
	curl -fsS -r 1000000- "$url" | cmp - <(tail -c +1000001 "$WORK/dep.nar")
	curl -fsS -r -77 "$url" | cmp - <(tail -c 77 "$WORK/dep.nar")
	code=$(curl -s -o "$WORK/body" -w '%{http_code}' -r 4000000-4000009 "$url")
	[ "$code" = 206 ]
	cmp "$WORK/body" <(tail -c +4000001 "$WORK/dep.nar" | head -c 10)
	curl -sS -D "$WORK/h" -o /dev/null -r 100-199 "$url"
	grep -qi "^content-range: bytes 100-199/$size" "$WORK/h"
	[ "$(curl -s -o /dev/null -w '%{http_code}' -r "$size-" "$url")" = 416 ]
	# several ranges: the whole body
	curl -fsS -r 0-9,20-29 "$url" | cmp - "$WORK/dep.nar"
	# HEAD: the length, no body (and no NAR is made)
	curl -fsSI "$url" > "$WORK/h"
	grep -qi "^content-length: $size" "$WORK/h"
	[ "$(curl -s -o /dev/null -w '%{http_code}' -I "$SERVE_URL/$(hash_of "$TOP").narinfo")" = 200 ]
	# what is not there
	for u in /00000000000000000000000000000000.narinfo /nope /nar/../nix-cache-info \
		/%2e%2e/%2e%2e/etc/passwd "/$(hash_of "$TOP").narinfo/x" /nar/x.nar \
		"/nar/$(hash_of "$TOP")-0000000000000000000000000000000000000000000000000000.nar" \
		/00000000000000000000000000000000.ls "/$(hash_of "$TOP")eeee.narinfo"; do
		code=$(curl -s --path-as-is -o /dev/null -w '%{http_code}' "$SERVE_URL$u")
		[ "$code" = 404 ] || { echo "$u: $code"; false; }
	done
	[ "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$SERVE_URL/nix-cache-info")" = 405 ]
	curl -fsS "$SERVE_URL/nix-cache-info" | grep -qx 'StoreDir: /nix/store'
	# a header over the limit
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $(head -c 100000 /dev/zero | tr '\0' a)" "$SERVE_URL/nix-cache-info")
	[ "$code" = 431 ] || [ "$code" = 413 ] || [ "$code" = 400 ]
	# malformed requests: a bad header line, a bad Content-Length, an
	# unknown HTTP version, no request at all
	[ "$(raw_request 'GET / HTTP/1.1\r\nBadheader\r\n\r\n')" = "HTTP/1.1 400 Bad Request" ]
	[ "$(raw_request 'PUT /x.narinfo HTTP/1.1\r\nHost: a\r\nContent-Length: zz\r\n\r\n')" = "HTTP/1.1 400 Bad Request" ]
	[ "$(raw_request 'GET / HTTP/9.9\r\n\r\n')" = "HTTP/1.1 505 HTTP Version Not Supported" ]
	[ -z "$(raw_request 'NONSENSE\r\n\r\n')" ]
	# and it still serves
	curl -fsS "$SERVE_URL/nix-cache-info" > /dev/null
}

@test "a client that stops reading stalls no other; a client gone mid-NAR frees its thread" {
	# --timeout: how long the stuck clients are held (the others must be
	# served meanwhile); then the server drops them
	serve_start "$SRV_STORE" "$WORK/serve.log" --compression zstd --timeout 10
	curl -fsS "$SERVE_URL/$(hash_of "$DEP").narinfo" > "$WORK/dep.narinfo"
	nar=$(sed -n 's/^URL: //p' "$WORK/dep.narinfo")
	url="$SERVE_URL/$nar"
	THREADS_BEFORE=$(task_count "$SERVE_PID")
	# three clients that ask for the NAR (4 MiB, more than the socket
	# buffers take) and never read; they print their ports and hold on
	# until killed
	python3 - "$url" > "$WORK/stuck-ports" 3>&- <<'PY' &
import signal, socket, sys
host, rest = sys.argv[1].split("//")[1].split("/", 1)
h, p = host.rsplit(":", 1)
socks = []
for _ in range(3):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((h, int(p)))
    s.sendall(("GET /%s HTTP/1.1\r\nHost: x\r\n\r\n" % rest).encode())
    socks.append(s)
print("\n".join(str(s.getsockname()[1]) for s in socks), flush=True)
signal.pause()
PY
	stuck=$!
	wait_for 30 "the three stuck clients to connect" lines_in "$WORK/stuck-ports" 3
	wait_for 30 "the three clients to be stuck (ss: Send-Q/Recv-Q, threads)" clients_stuck "$WORK/stuck-ports" ||
		{ ss -tn; task_count "$SERVE_PID"; cat "$WORK/serve.log"; false; }
	# the others are served meanwhile, whole
	timeout 10 curl -fsS "$url" | zstd -dc | cmp - <(nix-store --dump "$DEP")
	timeout 10 curl -fsS "$SERVE_URL/$(hash_of "$TOP").narinfo" > /dev/null
	# and the three were stuck all along (none was dropped or served)
	clients_stuck "$WORK/stuck-ports" ||
		{ echo "the stuck clients were let go before the others were served"; ss -tn; cat "$WORK/serve.log"; false; }
	# the server drops them at its timeout, their NARs unfinished
	wait_for 60 "the server to drop the stuck clients" clients_dropped "$WORK/stuck-ports"
	kill "$stuck"
	wait "$stuck" || true
	wait_for 30 "the stuck streams' threads to end" eval '[ "$(task_count "$SERVE_PID")" -le "$THREADS_BEFORE" ]'
	[ "$(grep -c "GET /$nar 200 .*(timed out)" "$WORK/serve.log")" -eq 3 ] || { cat "$WORK/serve.log"; false; }
	# a client that leaves after 64 KiB: its stream ends, and its thread
	timeout 10 curl -sS "$url" 2>/dev/null | head -c 65536 > /dev/null || true
	wait_for 30 "the server to see the client gone" \
		grep -q "GET /$nar 200 .*(\(aborted\|client gone\))" "$WORK/serve.log" ||
		{ cat "$WORK/serve.log"; false; }
	wait_for 30 "its thread to end" eval '[ "$(task_count "$SERVE_PID")" -le "$THREADS_BEFORE" ]'
	timeout 10 curl -fsS "$url" | zstd -dc | cmp - <(nix-store --dump "$DEP")
}

@test "a corrupt blob cuts the NAR stream: the client sees an error, never a short NAR" {
	store="$WORK/damaged"
	cp -a "$SRV_STORE" "$store"
	# the 4 MiB file's blob, one byte changed
	blob=$(find "$store/blobs" -type f -size +4000k ! -path "$store/blobs/tmp/*" | head -1)
	[ -n "$blob" ]
	chmod u+w "$blob"
	printf 'X' | dd of="$blob" bs=1 seek=3000000 conv=notrunc 2>/dev/null
	rm -f "$store"/blobs/*/*.stamp "$blob".stamp 2>/dev/null || true
	serve_start "$store" "$WORK/serve.log"
	curl -fsS "$SERVE_URL/$(hash_of "$DEP").narinfo" > "$WORK/dep.narinfo"
	url="$SERVE_URL/$(sed -n 's/^URL: //p' "$WORK/dep.narinfo")"
	run curl -fsS -o "$WORK/got" "$url"
	echo "$output"
	# curl 18: the body ended short of its Content-Length (a NAR cut,
	# never one that looks whole); the server says why
	[ "$status" -eq 18 ]
	[[ "$output" == *"transfer closed with"*"bytes remaining to read"* ]]
	grep -q 'the NAR failed at /share/big' "$WORK/serve.log" || { cat "$WORK/serve.log"; false; }
	# and Nix does not take it
	run nix_realise "$WORK/nix" "$SERVE_URL" "$PK"
	[ "$status" -ne 0 ]
	[ ! -e "$WORK/nix/nix/store/$(basename "$DEP")" ]
}

@test "a second castore substitutes through a mount from the first's serve" {
	serve_start "$SRV_STORE" "$WORK/serve.log" --secret-key "$F/serve-sk" --compression zstd
	mount_castore "$MNT" --no-nix-conf --substituter "$SERVE_URL" --trusted-public-key "$SERVE_PK"
	[ "$(cat "$MNT/$(basename "$DEP")/share/data")" = dep-data ]
	cmp "$MNT/$(basename "$DEP")/share/big" "$DEP/share/big"
	[ "$("$MNT/$(basename "$TOP")/bin/hello")" = hi ]
	unmount_castore "$MNT" "$MOUNT_PID"
	"$CASTORE" verify
	"$CASTORE" export "$TOP" | cmp - <(nix-store --dump "$TOP")
	grep -q "GET /$(hash_of "$DEP").narinfo 200" "$WORK/serve.log"
}

@test "serve --help, bad options, a missing store, secrets others may read, and SIGTERM exits 0" {
	run "$CASTORE" serve --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"--upload-credentials"* ]]
	run "$CASTORE" serve --listen nowhere
	[ "$status" -eq 2 ]
	[[ "$output" == *"--listen nowhere"* ]]
	run "$CASTORE" serve --compression lz4
	[ "$status" -eq 2 ]
	run "$CASTORE" serve --upload-credentials /dev/null
	[ "$status" -eq 2 ]
	printf 'u:p\n' > "$WORK/creds"
	run "$CASTORE" serve --upload-credentials "$WORK/creds"
	[ "$status" -eq 2 ]
	[[ "$output" == *"--trusted-public-key"* ]]
	run "$CASTORE" serve --secret-key /nonexistent
	[ "$status" -eq 2 ]
	[[ "$output" == *"/nonexistent"* ]]
	# a mistyped store is refused as every verb refuses it, and not made;
	# a store that takes uploads may start empty
	run "$CASTORE" --store "$WORK/typo" serve --listen 127.0.0.1:0
	[ "$status" -eq 1 ]
	[[ "$output" == *"no store at '$WORK/typo'"* ]]
	[ ! -e "$WORK/typo" ]
	# secrets others may read are said so, as ssh says it
	chmod 0644 "$WORK/creds"
	cp "$F/serve-sk" "$WORK/sk"
	chmod 0640 "$WORK/sk"
	serve_start "$WORK/fresh" "$WORK/fresh.log" --upload-credentials "$WORK/creds" \
		--trusted-public-key "$PK" --secret-key "$WORK/sk"
	curl -fsS "$SERVE_URL/nix-cache-info" > /dev/null
	serve_stop
	[ -e "$WORK/fresh/meta.lmdb" ]
	grep -q "warning: upload credentials '$WORK/creds' may be read by others (mode 0644)" "$WORK/fresh.log"
	grep -q "warning: secret key '$WORK/sk' may be read by others (mode 0640)" "$WORK/fresh.log"
	chmod 0600 "$WORK/creds" "$WORK/sk"
	serve_start "$WORK/fresh" "$WORK/fresh.log" --upload-credentials "$WORK/creds" \
		--trusted-public-key "$PK" --secret-key "$WORK/sk"
	serve_stop
	if grep -q warning "$WORK/fresh.log"; then cat "$WORK/fresh.log"; false; fi
	serve_start "$SRV_STORE" "$WORK/serve.log" --quiet
	curl -fsS "$SERVE_URL/nix-cache-info" > /dev/null
	serve_stop
	# --quiet: no request is logged
	if grep -q 'GET /nix-cache-info' "$WORK/serve.log"; then
		echo "--quiet, yet the request was logged:"
		cat "$WORK/serve.log"
		false
	fi
	# the port is free again: nothing listens (curl: could not connect)
	run curl -s "$SERVE_URL/nix-cache-info"
	[ "$status" -eq 7 ]
}

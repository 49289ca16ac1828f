#!/usr/bin/env bats
# Uploads to castore serve, as real `nix copy --to http://...` sends them:
# credentials, trusted signatures, NARs matching their narinfo, references
# present; whatever is refused leaves the store as it was.

load lib

setup_file() {
	net_setup_file
	printf 'alice:s3cret-1\n# a comment\nbob:pw2\n' > "$F/creds"
	printf 'machine 127.0.0.1 login alice password s3cret-1\n' > "$F/netrc"
	printf 'machine 127.0.0.1 login alice password wrong\n' > "$F/netrc-wrong"
	# the closure as nix copy writes it, to replay uploads by hand
	nix copy --to "file://$F/up-src?compression=xz&secret-key=$F/sk" "$TOP" 2>/dev/null
	nix copy --to "file://$F/up-unsigned?compression=xz" "$TOP" 2>/dev/null
}

teardown_file() {
	nginx_stop
}

setup() {
	WORK="$BATS_TEST_TMPDIR/work"
	mkdir -p "$WORK"
	export UP_STORE="$BATS_TEST_TMPDIR/up"
	serve_start "$UP_STORE" "$WORK/serve.log" --upload-credentials "$F/creds" \
		--trusted-public-key "$PK"
}

teardown() {
	serve_stop
}

# up_store_is_empty: no path, no blob, no staged upload left
up_store_is_empty() {
	CASTORE_STORE="$UP_STORE" "$CASTORE" path-info --all > "$WORK/all" 2>&1
	[ ! -s "$WORK/all" ] || { cat "$WORK/all"; return 1; }
	[ -z "$(find "$UP_STORE/blobs" -type f ! -path "$UP_STORE/blobs/tmp/*")" ]
	[ -z "$(find "$UP_STORE/uploads" -type f)" ] || { find "$UP_STORE/uploads" -type f; return 1; }
}

# put FILE URL-PATH [curl options]: PUT as alice; prints the status
put() {
	local file="$1" path="$2"
	shift 2
	curl -s -o "$WORK/put.out" -w '%{http_code}' -u alice:s3cret-1 -T "$file" "$@" "$SERVE_URL/$path"
}

# put_pair NARFILE NARPATH NARINFO STOREPATH: a NAR, then a narinfo for
# STOREPATH; prints the narinfo's status
put_pair() {
	[ "$(put "$1" "$2")" = 200 ] || { echo "NAR refused"; return 0; }
	put "$3" "$(hash_of "$4").narinfo"
}

nar_url_of() {
	sed -n 's/^URL: //p' "$(narinfo_of "$1" "$2")"
}

# logged LOG PATTERN: castore serve logged a request matching PATTERN (a
# request is logged once it has ended and what it staged is cleared).
logged() {
	grep -q -- "$2" "$1"
}

# upload_staging: an upload is being received (its staged file has bytes).
upload_staging() {
	[ -n "$(find "$UP_STORE/uploads" -name '.put.*' -size +0 2>/dev/null)" ]
}

@test "nix copy uploads the closure with netrc credentials; it is stored whole, rooted, and served back" {
	run nix copy --option netrc-file "$F/netrc" --to "$SERVE_URL?secret-key=$F/sk" "$TOP"
	echo "$output"
	[ "$status" -eq 0 ]
	for p in "$TOP" "$DEP"; do
		CASTORE_STORE="$UP_STORE" "$CASTORE" export "$p" | cmp - <(nix-store --dump "$p")
		CASTORE_STORE="$UP_STORE" "$CASTORE" path-info --json "$p" | grep -q '"root": *true'
	done
	CASTORE_STORE="$UP_STORE" "$CASTORE" verify
	[ -z "$(find "$UP_STORE/uploads" -type f)" ]
	grep -q "PUT /$(hash_of "$TOP").narinfo 200" "$WORK/serve.log"
	# and back to Nix, from the cache it was uploaded to
	run nix_realise "$WORK/nix" "$SERVE_URL" "$PK"
	echo "$output"
	[ "$status" -eq 0 ]
	same_as_nix "$WORK/nix" "$TOP" "$DEP"
	# a second copy finds everything there
	run nix copy --option netrc-file "$F/netrc" --to "$SERVE_URL?secret-key=$F/sk" "$TOP"
	[ "$status" -eq 0 ]
}

@test "without credentials, or with wrong ones: 401 and nothing stored" {
	run nix copy --to "$SERVE_URL?secret-key=$F/sk" "$TOP"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *401* ]]
	run nix copy --option netrc-file "$F/netrc-wrong" --to "$SERVE_URL?secret-key=$F/sk" "$TOP"
	[ "$status" -ne 0 ]
	nar=$(nar_url_of up-src "$DEP")
	[ "$(curl -s -o /dev/null -w '%{http_code}' -T "$F/up-src/$nar" "$SERVE_URL/$nar")" = 401 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' -u bob:wrong -T "$F/up-src/$nar" "$SERVE_URL/$nar")" = 401 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' -u alice: -T "$F/up-src/$nar" "$SERVE_URL/$nar")" = 401 ]
	curl -sI -u x:y -T /dev/null "$SERVE_URL/x" > /dev/null || true
	grep -q 'no valid credentials' "$WORK/serve.log"
	up_store_is_empty
}

@test "a tampered NAR, an unsigned or wrongly signed narinfo, a missing reference, a NAR never sent: refused, nothing stored" {
	nar=$(nar_url_of up-src "$DEP")
	ni=$(narinfo_of up-src "$DEP")
	# tampered: the NAR of another path under this one's name
	[ "$(put "$F/up-src/$(nar_url_of up-src "$TOP")" "$nar")" = 200 ]
	[ "$(put "$ni" "$(hash_of "$DEP").narinfo")" = 400 ]
	grep -q 'FileHash\|NarHash' "$WORK/put.out"
	up_store_is_empty
	# the right NAR, but a narinfo nobody trusted signed
	[ "$(put_pair "$F/up-src/$nar" "$nar" "$(narinfo_of up-unsigned "$DEP")" "$DEP")" = 403 ]
	grep -q 'no valid signature by a trusted key' "$WORK/put.out"
	sed 's/^Sig: test-key-1:.\{10\}/Sig: test-key-1:AAAAAAAAAA/' "$ni" > "$WORK/forged"
	[ "$(put_pair "$F/up-src/$nar" "$nar" "$WORK/forged" "$DEP")" = 403 ]
	# signed, but a NarSize that differs from what was signed
	sed 's/^NarSize: .*/NarSize: 1/' "$ni" > "$WORK/resized"
	[ "$(put_pair "$F/up-src/$nar" "$nar" "$WORK/resized" "$DEP")" = 403 ]
	up_store_is_empty
	# the top path before the path it references
	[ "$(put "$F/up-src/$(nar_url_of up-src "$TOP")" "$(nar_url_of up-src "$TOP")")" = 200 ]
	[ "$(put "$(narinfo_of up-src "$TOP")" "$(hash_of "$TOP").narinfo")" = 409 ]
	grep -q "reference $DEP is not in this cache" "$WORK/put.out"
	up_store_is_empty
	# a narinfo under another path's name; a malformed one
	[ "$(put_pair "$F/up-src/$nar" "$nar" "$ni" "$TOP")" = 400 ]
	printf 'StorePath: /nix/store/nonsense\n' > "$WORK/bad"
	[ "$(put "$WORK/bad" "$(hash_of "$DEP").narinfo")" = 400 ]
	# a bad upload name
	[ "$(put "$F/up-src/$nar" "nar/..%2f..%2fescape.nar")" = 404 ]
	[ "$(put "$F/up-src/$nar" "escape")" = 404 ]
	CASTORE_STORE="$UP_STORE" "$CASTORE" path-info --all > "$WORK/all" 2>&1
	[ ! -s "$WORK/all" ]
	# now in order: both taken
	[ "$(put "$F/up-src/$nar" "$nar")" = 200 ]
	[ "$(put "$ni" "$(hash_of "$DEP").narinfo")" = 200 ]
	[ "$(put "$F/up-src/$(nar_url_of up-src "$TOP")" "$(nar_url_of up-src "$TOP")")" = 200 ]
	[ "$(put "$(narinfo_of up-src "$TOP")" "$(hash_of "$TOP").narinfo")" = 200 ]
	CASTORE_STORE="$UP_STORE" "$CASTORE" export "$TOP" | cmp - <(nix-store --dump "$TOP")
	# a narinfo whose NAR was never sent (the staged one went with its
	# import)
	CASTORE_STORE="$UP_STORE" "$CASTORE" delete "$TOP" > /dev/null 2>&1 || \
		CASTORE_STORE="$UP_STORE" "$CASTORE" delete --ignore-liveness "$TOP"
	[ "$(put "$(narinfo_of up-src "$TOP")" "$(hash_of "$TOP").narinfo")" = 400 ]
	grep -q 'was not uploaded' "$WORK/put.out"
}

@test "bodies shorter or longer than declared, clients gone mid-upload, oversized narinfos: the store is unchanged" {
	nar=$(nar_url_of up-src "$DEP")
	auth=$(printf alice:s3cret-1 | base64)
	# 1000 bytes declared, 500 sent, then the client goes
	python3 - "$SERVE_URL" "$nar" "$auth" <<'PY'
import socket, sys
host, port = sys.argv[1].split("//")[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)))
s.sendall(("PUT /%s HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\n"
           "Content-Length: 1000\r\n\r\n" % (sys.argv[2], sys.argv[3])).encode() + b"x" * 500)
s.close()
PY
	# (the server logs the request once it has ended)
	wait_for 30 "the server to log the cut PUT" \
		logged "$WORK/serve.log" "PUT /$nar [0-9]* 500 bytes in (\(aborted\|client gone\))" ||
		{ cat "$WORK/serve.log"; false; }
	# a narinfo with more bytes than declared: the extra is a bad request
	ni=$(narinfo_of up-src "$DEP")
	n=$(stat -c %s "$ni")
	{ printf 'PUT /%s.narinfo HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\nContent-Length: %s\r\n\r\n' \
		"$(hash_of "$DEP")" "$auth" "$n"; cat "$ni"; printf 'GARBAGE GARBAGE\r\n\r\n'; } > "$WORK/req"
	python3 - "$SERVE_URL" "$WORK/req" > "$WORK/replies" <<'PY'
import socket, sys, time
host, port = sys.argv[1].split("//")[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)))
s.sendall(open(sys.argv[2], "rb").read())
s.settimeout(30)  # a bound for a failure: the server closes after its reply
data = b""
try:
    while True:
        c = s.recv(4096)
        if not c:
            break
        data += c
except socket.timeout:
    pass
print("\n".join(l for l in data.decode("latin-1").split("\r\n") if l.startswith("HTTP/")))
PY
	cat "$WORK/replies"
	# the narinfo's NAR was never (wholly) sent: 400; then the garbage: 400
	grep -q '^HTTP/1.1 400' "$WORK/replies"
	# a narinfo body over 1 MiB
	head -c 2000000 /dev/zero > "$WORK/huge"
	[ "$(put "$WORK/huge" "$(hash_of "$DEP").narinfo")" = 413 ]
	# an upload over --max-upload
	serve_stop
	serve_start "$UP_STORE" "$WORK/serve2.log" --upload-credentials "$F/creds" \
		--trusted-public-key "$PK" --max-upload 1000
	[ "$(put "$F/up-src/$nar" "$nar")" = 413 ]
	# once the server has logged it, the refused upload left nothing
	wait_for 30 "the server to log the refused PUT" logged "$WORK/serve2.log" "PUT /$nar 413 " ||
		{ cat "$WORK/serve2.log"; false; }
	up_store_is_empty
	# chunked, so no length to refuse up front: the server stops reading
	# at the limit (libmicrohttpd then closes the connection), it does
	# not take in 64 MiB to refuse them at the end
	head -c $((64 << 20)) /dev/zero > "$WORK/big"
	sent=$(curl -s -o /dev/null -w '%{size_upload}' -u alice:s3cret-1 -T - \
		-H 'Transfer-Encoding: chunked' "$SERVE_URL/$nar" < "$WORK/big" || true)
	echo "sent $sent of $((64 << 20)) bytes"
	[ "$sent" -lt $((16 << 20)) ]
	wait_for 30 "the server to log the cut PUT" logged "$WORK/serve2.log" "PUT /$nar 413 .*(aborted)" ||
		{ cat "$WORK/serve2.log"; false; }
	up_store_is_empty
}

@test "a path appears only once whole: an upload killed mid-NAR, then a server killed, leave nothing visible" {
	nar=$(nar_url_of up-src "$DEP")
	# a slow upload (4 MiB at 200 KiB/s), cut once the server is staging it
	curl -s -u alice:s3cret-1 --limit-rate 200k -T "$F/up-src/$nar" "$SERVE_URL/$nar" > /dev/null 3>&- &
	cpid=$!
	wait_for 60 "the server to stage the upload" upload_staging
	kill "$cpid"
	wait "$cpid" || true
	wait_for 30 "the server to log the cut upload" \
		logged "$WORK/serve.log" "PUT /$nar [0-9]* [0-9]* bytes in (\(aborted\|client gone\))" ||
		{ cat "$WORK/serve.log"; false; }
	up_store_is_empty
	# SIGKILL of the server during an import (its narinfo's PUT): caught
	# with the staged NAR open and the store's temp files in use, and
	# stopped there
	[ "$(put "$F/up-src/$nar" "$nar")" = 200 ]
	python3 - "$SERVE_PID" "$UP_STORE" > "$WORK/caught" 3>&- <<'PY' &
import os, signal, sys, time
pid, store = int(sys.argv[1]), os.path.realpath(sys.argv[2])
print("watching", flush=True)
deadline = time.time() + 120
while time.time() < deadline:
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        break
    targets = []
    for fd in fds:
        try:
            targets.append(os.readlink("/proc/%d/fd/%s" % (pid, fd)))
        except OSError:
            pass
    nar = [t for t in targets if t.startswith(store + "/uploads/") and "/nar/" in t and "/.put." not in t]
    tmp = [t for t in targets if t.startswith(store + "/blobs/tmp/")]
    if nar and tmp:
        os.kill(pid, signal.SIGSTOP)
        print("\n".join(["caught"] + nar + tmp), flush=True)
        sys.exit(0)
print("never caught", flush=True)
sys.exit(1)
PY
	watcher=$!
	wait_for 30 "the watcher to start" grep -q watching "$WORK/caught"
	curl -s -u alice:s3cret-1 -T "$(narinfo_of up-src "$DEP")" "$SERVE_URL/$(hash_of "$DEP").narinfo" > /dev/null 3>&- &
	cpid=$!
	wait "$watcher" || { cat "$WORK/caught"; echo "the import was never seen under way"; false; }
	cat "$WORK/caught"
	# stopped mid-import: what the store shows then, and the kill
	run env CASTORE_STORE="$UP_STORE" "$CASTORE" path-info "$DEP"
	kill -9 "$SERVE_PID"
	serve_killed
	wait "$cpid" || true
	# the path was not there yet
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"is not in the store"* ]]
	# nothing half-made is seen: the path is not there, the store verifies
	run env CASTORE_STORE="$UP_STORE" "$CASTORE" path-info "$DEP"
	[ "$status" -eq 1 ]
	[[ "$output" == *"is not in the store"* ]]
	CASTORE_STORE="$UP_STORE" "$CASTORE" verify
	# the next server clears the dead one's staged files
	[ "$(find "$UP_STORE/uploads" -type f | wc -l)" -gt 0 ]
	serve_start "$UP_STORE" "$WORK/serve3.log" --upload-credentials "$F/creds" \
		--trusted-public-key "$PK"
	[ "$(find "$UP_STORE/uploads" -type f | wc -l)" -eq 0 ]
	# and the upload, sent again, is taken whole
	[ "$(put_pair "$F/up-src/$nar" "$nar" "$(narinfo_of up-src "$DEP")" "$DEP")" = 200 ]
	CASTORE_STORE="$UP_STORE" "$CASTORE" export "$DEP" | cmp - <(nix-store --dump "$DEP")
}

@test "a cache without --upload-credentials takes no upload" {
	serve_stop
	serve_start "$UP_STORE" "$WORK/ro.log"
	nar=$(nar_url_of up-src "$DEP")
	[ "$(put "$F/up-src/$nar" "$nar")" = 403 ]
	grep -q 'takes no uploads' "$WORK/put.out"
	up_store_is_empty
}

@test "eight uploads of one path at once: each narinfo stored (200), the path whole; another NarHash is 409" {
	local nar ni name i
	nar=$(nar_url_of up-src "$DEP")
	ni=$(narinfo_of up-src "$DEP")
	name="$(hash_of "$DEP").narinfo"
	# as eight nix copy of one closure send it: each its NAR, then its
	# narinfo (they share the staged NAR, which the first commit takes)
	local pids=()
	for i in 1 2 3 4 5 6 7 8; do
		(
			a=$(curl -s -o /dev/null -w '%{http_code}' -u alice:s3cret-1 -T "$F/up-src/$nar" "$SERVE_URL/$nar")
			b=$(curl -s -o "$WORK/reply$i" -w '%{http_code}' -u alice:s3cret-1 -T "$ni" "$SERVE_URL/$name")
			echo "$a $b" > "$WORK/status$i"
		) 3>&- &
		pids+=($!)
	done
	# (not a bare wait: castore serve is a child too)
	for i in "${pids[@]}"; do wait "$i"; done
	for i in 1 2 3 4 5 6 7 8; do
		[ "$(cat "$WORK/status$i")" = "200 200" ] ||
			{ echo "upload $i: $(cat "$WORK/status$i"): $(cat "$WORK/reply$i")"; false; }
	done
	CASTORE_STORE="$UP_STORE" "$CASTORE" export "$DEP" | cmp - <(nix-store --dump "$DEP")
	run env CASTORE_STORE="$UP_STORE" "$CASTORE" verify
	[ "$status" -eq 0 ]
	# the same path with another NarHash (a rebuild's): refused, the
	# stored one kept (a server that takes unsigned narinfos, so that
	# only the NarHash differs)
	serve_stop
	serve_start "$UP_STORE" "$WORK/serve2.log" --upload-credentials "$F/creds" --no-require-sigs
	sed 's/^NarHash: sha256:.*/NarHash: sha256:0000000000000000000000000000000000000000000000000000/; /^Sig:/d' \
		"$ni" > "$WORK/other.narinfo"
	[ "$(put "$WORK/other.narinfo" "$name")" = 409 ]
	grep -q "is stored already, with another NarHash" "$WORK/put.out"
	CASTORE_STORE="$UP_STORE" "$CASTORE" export "$DEP" | cmp - <(nix-store --dump "$DEP")
}

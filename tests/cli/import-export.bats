#!/usr/bin/env bats
# castore import / export / path-info against Nix as the oracle.

load lib

setup() {
	common_setup
}

@test "seeded random trees: same store path, NAR bytes and NAR hash as Nix" {
	for seed in 1 2 3 4 5; do
		python3 "$GEN_TREE" "$seed" "$WORK/tree$seed"
		check_against_nix "$WORK/tree$seed"
	done
}

@test "real tree of this machine: /usr/include/linux" {
	[ -d /usr/include/linux ] || ci_requires "/usr/include/linux (linux-libc-dev)"
	check_against_nix /usr/include/linux
}

@test "real tree with symlinks: /etc/ssl" {
	[ -d /etc/ssl ] || ci_requires "/etc/ssl"
	cp -a /etc/ssl "$WORK/ssl"
	chmod -R u+r "$WORK/ssl"
	check_against_nix "$WORK/ssl"
}

@test "root forms: file, executable, symlink, empty directory" {
	printf 'Hello World!' > "$WORK/hello"
	check_against_nix "$WORK/hello"
	printf '#!/bin/sh\n' > "$WORK/run"
	chmod 755 "$WORK/run"
	check_against_nix "$WORK/run"
	ln -s /nix/store/somewhereelse "$WORK/link"
	check_against_nix "$WORK/link"
	mkdir "$WORK/empty"
	check_against_nix "$WORK/empty"
}

@test "golden vector: 'Hello World!' named hello" {
	printf 'Hello World!' > "$WORK/hello"
	run "$CASTORE" import "$WORK/hello"
	[ "$status" -eq 0 ]
	[ "$output" = /nix/store/n4hss129xrln71w0nss39bcx6hzsh9bg-hello ]
	run "$CASTORE" path-info n4hss129xrln71w0nss39bcx6hzsh9bg-hello
	[[ "$output" == *"sha256:0h40zg6hakjv951nyhdad7mv9za56m3za5gnpiw5s1hbwcxzdrq3"* ]]
	[[ "$output" == *"nar-size    128"* ]]
}

@test "import . and .. give the paths nix-store --add gives" {
	# Nix 2.8 names them "." and ".." (newer Nix refuses those names)
	mkdir -p "$WORK/named/sub"
	echo x > "$WORK/named/sub/f"
	cd "$WORK/named/sub"
	[ "$("$CASTORE" import .)" = "$(nix_add .)" ]
	[ "$("$CASTORE" import ..)" = "$(nix_add ..)" ]
	[ "$("$CASTORE" import ./)" = "$(nix_add ./)" ]
}

@test "import --name and several paths at once" {
	mkdir "$WORK/a" "$WORK/b"
	echo 1 > "$WORK/a/f"
	echo 2 > "$WORK/b/f"
	run "$CASTORE" import "$WORK/a" "$WORK/b"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$(nix_add "$WORK/a")" ]
	[ "${lines[1]}" = "$(nix_add "$WORK/b")" ]
	run "$CASTORE" import --name renamed "$WORK/a"
	[ "$status" -eq 0 ]
	[[ "$output" == /nix/store/*-renamed ]]
	run "$CASTORE" import --name 'bad name' "$WORK/a"
	[ "$status" -eq 2 ]
	[[ "$output" == *"not a valid store path name"* ]]
	run "$CASTORE" import --name x "$WORK/a" "$WORK/b"
	[ "$status" -eq 2 ]
}

@test "import-nar: golden NARs give Nix's store path and export back identical" {
	for nar in "$GOLDEN"/nar/valid/*.nar; do
		name=$(basename "$nar" .nar)
		run "$CASTORE" import-nar --name "$name" "$nar"
		[ "$status" -eq 0 ]
		p="$output"
		rm -rf "$WORK/r"
		nix-store --restore "$WORK/r" < "$nar"
		want=$(nix-store --print-fixed-path --recursive sha256 \
			"$(nix $NIX_X hash path --type sha256 --base32 "$WORK/r")" "$name")
		[ "$p" = "$want" ] || { echo "$name: castore $p, nix $want"; false; }
		"$CASTORE" export "$p" | cmp - "$nar"
		# stdin form
		run "$CASTORE" import-nar --name "$name" - < "$nar"
		[ "$output" = "$p" ]
	done
}

@test "must-reject NARs: clear error, exit 1, store unchanged" {
	printf x > "$WORK/seed"
	"$CASTORE" import "$WORK/seed" > /dev/null
	before=$(cd "$CASTORE_STORE" && find blobs -type f | sort | sha256sum)
	infos_before=$("$CASTORE" verify)
	n=0
	for nar in "$GOLDEN"/nar/invalid/*.nar; do
		run "$CASTORE" import-nar --name bad "$nar"
		[ "$status" -eq 1 ] || { echo "accepted: $nar"; false; }
		[[ "$output" == *"not a valid NAR"* ]] || { echo "$nar: $output"; false; }
		n=$((n + 1))
	done
	[ "$n" -ge 20 ]
	after=$(cd "$CASTORE_STORE" && find blobs -type f | sort | sha256sum)
	[ "$before" = "$after" ]
	run "$CASTORE" verify
	[ "$status" -eq 0 ]
	[ "$output" = "$infos_before" ]
}

@test "special files are errors that name the path" {
	mkdir -p "$WORK/t/sub"
	echo ok > "$WORK/t/a"
	mkfifo "$WORK/t/sub/fifo"
	run "$CASTORE" import "$WORK/t"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$WORK/t/sub/fifo"*"unsupported file type"* ]]
	rm "$WORK/t/sub/fifo"
	python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])" "$WORK/t/sock"
	run "$CASTORE" import "$WORK/t"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$WORK/t/sock"* ]]
	run "$CASTORE" import "$WORK/does-not-exist"
	[ "$status" -eq 1 ]
	[[ "$output" == *"does-not-exist"*"No such file"* ]]
}

@test "ls, cat and path-info --json" {
	mkdir -p "$WORK/t/sub"
	printf 'hello\n' > "$WORK/t/a.txt"
	printf '#!/bin/sh\n' > "$WORK/t/sub/run"
	chmod +x "$WORK/t/sub/run"
	ln -s a.txt "$WORK/t/link"
	p=$("$CASTORE" import "$WORK/t")
	run "$CASTORE" ls "$p"
	[ "$output" = $'a.txt\nlink\nsub' ]
	run "$CASTORE" ls -l "$p/sub"
	[[ "$output" == "-r-xr-xr-x"*"10 run" ]]
	run "$CASTORE" ls -l "$p/link"
	[[ "$output" == *"link -> a.txt" ]]
	run "$CASTORE" cat "$p/a.txt"
	[ "$output" = hello ]
	run "$CASTORE" cat "$p/sub"
	[ "$status" -eq 1 ]
	[[ "$output" == *"is a directory, not a file"* ]]
	run "$CASTORE" cat "$p/nope"
	[ "$status" -eq 1 ]
	[ "$output" = "castore: cat: '$p/nope' does not exist" ]
	run "$CASTORE" ls "${p}x"
	[ "$status" -eq 1 ]
	[ "$output" = "castore: ls: '${p}x' is not in the store" ]
	# a path inside a store path names that store path
	[ "$("$CASTORE" path-info "$p/sub/run")" = "$("$CASTORE" path-info "$p")" ]
	nixjson=$(nix $NIX_X path-info --json "$(nix_add "$WORK/t")")
	ours=$("$CASTORE" path-info --json "${p#/nix/store/}")
	for field in path narHash narSize ca references; do
		want=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])[0]['$field'])" "$nixjson")
		got=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])[0]['$field'])" "$ours")
		[ "$want" = "$got" ] || { echo "$field: nix $want, castore $got"; false; }
	done
	python3 - "$ours" <<'PY'
import json, sys
n = json.loads(sys.argv[1])[0]["rootNode"]
assert n["type"] == "directory" and n["digest"].startswith("blake3-") and n["size"] == 4, n
PY
}

# Reads stdin into $1 and prints the size of the stdin pipe once the
# writer has written its first byte.
pipe_size_into() {
	python3 -c '
import fcntl, sys
F_GETPIPE_SZ = 1032
first = sys.stdin.buffer.read(1)
print(fcntl.fcntl(0, F_GETPIPE_SZ))
with open(sys.argv[1], "wb") as f:
    f.write(first + sys.stdin.buffer.read())' "$1"
}

@test "export and cat grow a pipe on stdout to 1 MiB; the bytes are unchanged" {
	head -c 3000000 /dev/urandom > "$WORK/big"
	p=$("$CASTORE" import "$WORK/big")
	[ "$("$CASTORE" export "$p" | pipe_size_into "$WORK/nar")" -eq 1048576 ]
	nix-store --dump "$WORK/big" | cmp - "$WORK/nar"
	[ "$("$CASTORE" cat "$p" | pipe_size_into "$WORK/cat")" -eq 1048576 ]
	cmp "$WORK/big" "$WORK/cat"
	# not a pipe: a file, left as it is
	"$CASTORE" export "$p" > "$WORK/nar2"
	cmp "$WORK/nar" "$WORK/nar2"
}

@test "verify: a flipped byte and a missing blob are reported" {
	python3 "$GEN_TREE" 7 "$WORK/t"
	p=$("$CASTORE" import "$WORK/t")
	run "$CASTORE" verify
	[ "$status" -eq 0 ]
	[[ "$output" == *"0 problems" ]]
	blob=$(find "$CASTORE_STORE/blobs" -type f -size +100c | grep -v /blobs/tmp/ | head -1)
	chmod u+w "$blob"
	python3 -c "
import sys
f = open(sys.argv[1], 'r+b'); f.seek(50); b = f.read(1); f.seek(50)
f.write(bytes([b[0] ^ 1])); f.close()" "$blob"
	run "$CASTORE" verify
	[ "$status" -eq 1 ]
	[[ "$output" == *"corrupt blob $(basename "$blob")"* ]]
	[[ "$output" == *"corrupt $p: bad object at"* ]]
	# export refuses to pass the corrupt bytes on silently
	run "$CASTORE" export "$p"
	[ "$status" -eq 1 ]
	rm -f "$blob"
	run "$CASTORE" verify
	[ "$status" -eq 1 ]
	[[ "$output" == *"incomplete $p: missing object at"* ]]
}

@test "cat and export pass on no byte of a corrupt file, small or large" {
	mkdir -p "$WORK/t"
	head -c 5000 /dev/urandom > "$WORK/t/small"
	head -c $((3 << 20)) /dev/urandom > "$WORK/t/large"
	p=$("$CASTORE" import "$WORK/t")
	"$CASTORE" export "$p" > "$WORK/good.nar"
	for f in small large; do
		hex=$(b3sum --no-names "$WORK/t/$f")
		blob="$CASTORE_STORE/blobs/${hex:0:2}/$hex"
		mtime=$(stat -c %y "$blob")
		chmod u+w "$blob"
		printf 'X' | dd of="$blob" bs=1 seek=100 conv=notrunc status=none
		touch -d "$mtime" "$blob"
		run "$CASTORE" cat "$p/$f"
		[ "$status" = 1 ]
		[[ "$output" == *"corrupt object at"* ]]
		rc=0
		"$CASTORE" cat "$p/$f" > "$WORK/out" 2> /dev/null || rc=$?
		[ "$rc" -eq 1 ]
		[ ! -s "$WORK/out" ]
		# what export wrote is the good NAR up to the file's contents
		rc=0
		"$CASTORE" export "$p" > "$WORK/bad.nar" 2> /dev/null || rc=$?
		[ "$rc" -eq 1 ]
		python3 - "$WORK/good.nar" "$WORK/bad.nar" "$WORK/t/$f" <<'PY'
import sys
good, bad, data = (open(a, "rb").read() for a in sys.argv[1:4])
assert good.startswith(bad), "export wrote bytes the good NAR lacks"
assert len(bad) <= good.index(data), "export wrote part of the corrupt file"
PY
		cp "$WORK/t/$f" "$blob"
		chmod 0444 "$blob"
	done
}

# temp_files: files in the blob staging directories (an import writing)
temp_files() {
	find "$CASTORE_STORE/blobs/tmp" -mindepth 2 -maxdepth 2 -type f ! -path '*/writers/*' 2>/dev/null | wc -l
}

has_temp_files() {
	[ "$(temp_files)" -gt 0 ]
}

@test "import killed with SIGKILL leaves a valid store; a second import completes" {
	mkdir -p "$WORK/big"
	for i in $(seq 1 1500); do
		head -c $((i * 37 % 9000 + 1)) /dev/urandom > "$WORK/big/f$i"
	done
	head -c 120000000 /dev/urandom > "$WORK/big/large"
	want=$(nix_add "$WORK/big")
	# kills at points in time, and one ("mid") once the import is seen
	# writing blobs, surely into a store it made, before the path is whole
	for delay in 0.02 0.1 mid 0.3 0.6 1.0; do
		# (verify removed what the killed imports before left)
		[ "$(temp_files)" -eq 0 ]
		"$CASTORE" import "$WORK/big" > /dev/null 2>&1 3>&- &
		pid=$!
		if [ "$delay" = mid ]; then
			wait_for 60 "the import to write blobs" has_temp_files
		else
			# only picks where the kill lands: any point must do
			sleep "$delay"
		fi
		kill -9 "$pid" 2>/dev/null || true
		rc=0
		wait "$pid" 2> /dev/null || rc=$?
		# killed (137), or done before the kill came (0), in both cases
		# without a sanitizer's report; mid-import, killed for sure
		case "$delay:$rc" in
		mid:137 | [0-9]*:137 | [0-9]*:0) ended_ok "import killed at $delay" "$pid" "$rc" "$rc" ;;
		*) echo "import killed at $delay: exit $rc"; false ;;
		esac
		run "$CASTORE" verify
		if [ "$status" -eq 0 ]; then
			echo "killed at $delay: $(echo "$output" | tail -1)"
			made=1
		else
			# killed before it made the store: that is legitimate only
			# if nothing of a store is there to be taken for one (no
			# metadata, no blob); a store once made stays one
			echo "killed at $delay: verify: $status: $output"
			[ "$status" -eq 1 ]
			[[ "$output" == *"no store at '$CASTORE_STORE'"* ]]
			[ ! -s "$CASTORE_STORE/meta.lmdb" ]
			[ -z "$(find "$CASTORE_STORE/blobs" -type f ! -path "$CASTORE_STORE/blobs/tmp/*" 2>/dev/null)" ]
			[ "$delay" != mid ]
			[ -z "${made:-}" ]
		fi
	done
	run "$CASTORE" import "$WORK/big"
	[ "$status" -eq 0 ]
	[ "$output" = "$want" ]
	run "$CASTORE" verify
	[ "$status" -eq 0 ]
}

@test "usage errors, help and a missing store" {
	run "$CASTORE" --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"import-nar"* ]]
	run "$CASTORE" frobnicate
	[ "$status" -eq 2 ]
	[[ "$output" == *"unknown command 'frobnicate'"* ]]
	run "$CASTORE"
	[ "$status" -eq 2 ]
	run "$CASTORE" --store "$WORK/none" path-info n4hss129xrln71w0nss39bcx6hzsh9bg-hello
	[ "$status" -eq 1 ]
	[[ "$output" == *"no store at '$WORK/none'"* ]]
	printf x > "$WORK/x"
	"$CASTORE" import "$WORK/x" > /dev/null
	run "$CASTORE" path-info /tmp/not-a-store-path
	[ "$status" -eq 1 ]
	[[ "$output" == *"is not a store path"* ]]
	run "$CASTORE" export n4hss129xrln71w0nss39bcx6hzsh9bg-absent
	[ "$status" -eq 1 ]
	[[ "$output" == *"not in the store"* ]]
	for verb in import import-nar export path-info ls cat verify mount; do
		run "$CASTORE" "$verb" --help
		[ "$status" -eq 0 ] || { echo "$verb --help: $status"; false; }
		[[ "$output" == usage:* ]]
	done
}

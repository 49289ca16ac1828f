#!/usr/bin/env bats
# Real trees through the mount, compared with their sources; sharing,
# listing, concurrency and lifecycle of the daemon.

load lib

setup() {
	export CASTORE_STORE="$BATS_TEST_TMPDIR/store"
	MNT="$BATS_TEST_TMPDIR/mnt"
	WORK="$BATS_TEST_TMPDIR/work"
	mkdir -p "$WORK"
}

teardown() {
	end_mounts
}

# import, mount, compare
check_tree() {
	local tree="$1" p info n
	p=$("$CASTORE" import "$tree")
	mountpoint -q "$MNT" || mount_castore "$MNT"
	info=$("$CASTORE" path-info --json "$p")
	n=$(python3 "$BATS_TEST_DIRNAME/compare.py" "$tree" "$MNT/${p#/nix/store/}" "$info")
	echo "# $tree: $n entries match" >&3
	diff -r --no-dereference "$tree" "$MNT/${p#/nix/store/}"
}

@test "real trees of this machine and a seeded random tree read back exactly" {
	local py t
	# the system Python's json package (any version's: 3.11 in CI)
	py=$(find /usr/lib -maxdepth 2 -path '/usr/lib/python3*/json' -type d | sort -V | tail -1)
	for t in /usr/include/linux "${py:-/usr/lib/python3.X/json}" /etc/ssl; do
		[ -d "$t" ] || ci_requires "no $t: a real tree this test reads back"
	done
	python3 "$GEN_TREE" 11 "$WORK/random"
	check_tree "$WORK/random"
	check_tree /usr/include/linux
	check_tree "$py"
	cp -a /etc/ssl "$WORK/ssl"
	check_tree "$WORK/ssl"
}

# bats test_tags=no-reads
@test "identical content shares an inode across store paths" {
	mkdir -p "$WORK/one/sub" "$WORK/two"
	printf 'same bytes\n' > "$WORK/one/f"
	printf 'same bytes\n' > "$WORK/two/g"
	printf 'same bytes\n' > "$WORK/two/x"
	chmod +x "$WORK/two/x"
	printf 'inner\n' > "$WORK/one/sub/i"
	cp -a "$WORK/one/sub" "$WORK/two/sub"
	p1=$("$CASTORE" import "$WORK/one")
	p2=$("$CASTORE" import "$WORK/two")
	mount_castore "$MNT"
	a="$MNT/${p1#/nix/store/}" b="$MNT/${p2#/nix/store/}"
	[ "$(stat -c %i "$a/f")" = "$(stat -c %i "$b/g")" ]
	[ "$(stat -c %i "$a/sub")" = "$(stat -c %i "$b/sub")" ]
	[ "$(stat -c %i "$a/sub/i")" = "$(stat -c %i "$b/sub/i")" ]
	# executable and plain copies of the same bytes: two inodes
	[ "$(stat -c %i "$b/x")" != "$(stat -c %i "$b/g")" ]
	[ "$(stat -c %a "$b/x")" = 555 ]
	[ "$(stat -c %a "$b/g")" = 444 ]
}

@test "a corrupt blob reads as EIO, never as wrong bytes; the rest still reads" {
	mkdir -p "$WORK/t"
	head -c 300000 /dev/urandom > "$WORK/t/victim"
	printf 'fine\n' > "$WORK/t/ok"
	p=$("$CASTORE" import "$WORK/t")
	hex=$(b3sum --no-names "$WORK/t/victim")
	blob="$CASTORE_STORE/blobs/${hex:0:2}/$hex"
	chmod u+w "$blob"
	flip_byte "$blob" 1000
	mount_castore "$MNT"
	[ "$(errno_of "open('$MNT/${p#/nix/store/}/victim', 'rb').read()")" = EIO ]
	[ "$(cat "$MNT/${p#/nix/store/}/ok")" = fine ]
	[ "$(stat -c %s "$MNT/${p#/nix/store/}/victim")" = 300000 ]
}

# bats test_tags=mode-independent
@test "passthrough: the kernel reads blob files itself; --no-passthrough serves reads" {
	read -r maj min _ <<<"$(uname -r | tr '.-' '  ')"
	if [ "$maj" -lt 6 ] || { [ "$maj" -eq 6 ] && [ "$min" -lt 9 ]; }; then
		ci_requires "FUSE passthrough (Linux >= 6.9; this is $(uname -r))"
	fi
	mkdir -p "$WORK/t"
	head -c $((64 << 20)) /dev/urandom > "$WORK/t/big"
	p=$("$CASTORE" import "$WORK/t")
	f="${p#/nix/store/}/big"
	for mode in passthrough no-passthrough; do
		if [ $mode = passthrough ]; then
			CASTORE_MOUNT_ARGS= mount_castore "$MNT"
		else
			CASTORE_MOUNT_ARGS= mount_castore "$MNT" --no-passthrough
		fi
		# the first open re-hashes the blob (reads of its own): not counted
		head -c 1 "$MNT/$f" > /dev/null
		before=$(requests_taken)
		# two readers at once: one backing file serves both
		cmp "$WORK/t/big" "$MNT/$f" & cmp "$WORK/t/big" "$MNT/$f"
		wait $!
		cmp "$WORK/t/big" "$MNT/$f"
		n=$(( $(requests_taken) - before ))
		echo "$mode: $n requests for 3 reads of 64 MiB"
		if [ $mode = passthrough ]; then
			# OPEN, RELEASE and a few more; no READ
			[ "$n" -lt 40 ] || { echo "$n requests"; false; }
		else
			[ "$n" -ge 64 ]
		fi
		# the kernel forgets the inode (its backing file is closed);
		# a new lookup and open get a new one
		sync
		echo 2 > /proc/sys/vm/drop_caches
		cmp "$WORK/t/big" "$MNT/$f"
		unmount_castore "$MNT" "$MOUNT_PID"
	done
}

# In a fresh mount, open and read the first byte of $1 (which must equal
# $2) and set OPEN_READS to the read syscalls the daemon made meanwhile.
first_open_reads() {
	local before
	mount_castore "$MNT"
	before=$(read_syscalls "$MOUNT_PID")
	head -c 1 "$1" > /dev/null
	OPEN_READS=$(( $(read_syscalls "$MOUNT_PID") - before ))
	cmp "$2" "$1"
	unmount_castore "$MNT" "$MOUNT_PID"
}

@test "blobs are stamped by import and by a check: not re-hashed on open, unless changed since" {
	mkdir -p "$WORK/t"
	head -c $((16 << 20)) /dev/urandom > "$WORK/t/f"
	p=$("$CASTORE" import "$WORK/t")
	hex=$(b3sum --no-names "$WORK/t/f")
	blob="$CASTORE_STORE/blobs/${hex:0:2}/$hex"
	f="$MNT/${p#/nix/store/}/f"
	# stamped by the import: the first open does not read the blob
	first_open_reads "$f" "$WORK/t/f"
	echo "first open of an imported blob: $OPEN_READS reads"
	[ "$OPEN_READS" -lt 8 ]
	# a chmod (even to the same mode) moves the ctime: the stamp no
	# longer matches, the open hashes the blob (16 reads of 1 MiB) and
	# stamps it again; the next mount trusts that stamp
	chmod 0444 "$blob"
	first_open_reads "$f" "$WORK/t/f"
	echo "open after a chmod: $OPEN_READS reads"
	[ "$OPEN_READS" -ge 16 ]
	first_open_reads "$f" "$WORK/t/f"
	echo "stamped open: $OPEN_READS reads"
	[ "$OPEN_READS" -lt 8 ]
	# a write: EIO
	chmod u+w "$blob"
	flip_byte "$blob" 4096
	mount_castore "$MNT"
	[ "$(errno_of "open('$f', 'rb').read(1)")" = EIO ]
	unmount_castore "$MNT" "$MOUNT_PID"
}

@test "a blob corrupted under its old mtime reads as EIO; verify reports it" {
	mkdir -p "$WORK/t"
	head -c 100000 /dev/urandom > "$WORK/t/f"
	p=$("$CASTORE" import "$WORK/t")
	hex=$(b3sum --no-names "$WORK/t/f")
	blob="$CASTORE_STORE/blobs/${hex:0:2}/$hex"
	f="$MNT/${p#/nix/store/}/f"
	mount_castore "$MNT"
	cat "$f" > /dev/null
	unmount_castore "$MNT" "$MOUNT_PID"
	# other bytes, same inode, size and mtime: only the ctime moved
	mtime=$(stat -c %y "$blob")
	chmod u+w "$blob"
	flip_byte "$blob" 500
	touch -d "$mtime" "$blob"
	[ "$(stat -c %y "$blob")" = "$mtime" ]
	mount_castore "$MNT"
	[ "$(errno_of "open('$f', 'rb').read(1)")" = EIO ]
	unmount_castore "$MNT" "$MOUNT_PID"
	run "$CASTORE" verify
	[ "$status" -eq 1 ]
	[[ "$output" == *"corrupt blob $hex"* ]]
}

@test "a warm walk is served by the kernel: no request reaches the daemon" {
	cp -a /usr/include/linux "$WORK/t"
	p=$("$CASTORE" import "$WORK/t")
	mount_castore "$MNT"
	find "$MNT/${p#/nix/store/}" -printf '%s %m %y\n' > "$WORK/cold"
	before=$(requests_taken)
	find "$MNT/${p#/nix/store/}" -printf '%s %m %y\n' > "$WORK/warm"
	n=$(( $(requests_taken) - before ))
	cmp "$WORK/cold" "$WORK/warm"
	echo "warm walk of $(wc -l < "$WORK/warm") entries: $n requests"
	# listings, entries and attributes all cached (no OPENDIR either):
	# uncached, each of its 29 directories would cost 2 or more; a few
	# requests may be FORGETs
	[ "$n" -lt 20 ]
}

@test "--no-open: files read again are served by the kernel, no request reaches the daemon" {
	cp -a /usr/include/linux "$WORK/t"
	p=$("$CASTORE" import "$WORK/t")
	# more files than the daemon may hold fds: none may stay open
	[ "$(find "$WORK/t" -type f | wc -l)" -gt 500 ]
	ulimit -n 256
	CASTORE_MOUNT_ARGS= mount_castore "$MNT" --no-open
	(cd "$MNT/${p#/nix/store/}" && tar cf - . | sha256sum) > "$WORK/cold"
	before=$(requests_taken)
	(cd "$MNT/${p#/nix/store/}" && tar cf - . | sha256sum) > "$WORK/warm"
	n=$(( $(requests_taken) - before ))
	cmp "$WORK/cold" "$WORK/warm"
	diff -r "$WORK/t" "$MNT/${p#/nix/store/}"
	echo "warm tar: $n requests"
	# uncached, every file would cost at least a READ (700+); a few
	# requests may come from FORGETs or pages the VM reclaimed meanwhile
	[ "$n" -lt 50 ]
}

# bats test_tags=no-reads
@test "the root listing follows the store: a path imported while mounted is listed" {
	printf 'one\n' > "$WORK/one"
	printf 'two\n' > "$WORK/two"
	p1=$("$CASTORE" import "$WORK/one")
	mount_castore "$MNT" --list-root
	[ "$(ls "$MNT")" = "${p1#/nix/store/}" ]
	[ "$(ls "$MNT")" = "${p1#/nix/store/}" ]
	p2=$("$CASTORE" import "$WORK/two")
	# the kernel may serve the cached listing until the root's
	# attributes expire (1 s): this sleep only waits that out (longer
	# under load, never shorter), and cannot make the test pass
	sleep 1.2
	ls "$MNT" | sort > "$WORK/listed"
	printf '%s\n' "${p1#/nix/store/}" "${p2#/nix/store/}" | sort | cmp - "$WORK/listed"
}

# bats test_tags=no-reads
@test "a root of 5000 store paths lists exactly those names" {
	"$MKFIXTURE" "$CASTORE_STORE" many 5000
	mount_castore "$MNT" --list-root
	ls -f "$MNT" | sort > "$WORK/listed"
	[ "$(wc -l < "$WORK/listed")" -eq 5000 ]
	[ "$(sort -u "$WORK/listed" | wc -l)" -eq 5000 ]
	python3 - "$WORK/listed" <<'PY'
import sys
names = set(open(sys.argv[1]).read().split())
want = {n for n in names if n.split("-", 1)[1].startswith("p")}
idx = sorted(int(n.rsplit("-p", 1)[1]) for n in names)
assert idx == list(range(5000)), (idx[:5], len(idx))
PY
	# getdents with small buffers: still no loss, no repeat
	python3 - "$MNT" <<'PY'
import os, sys
seen = []
with os.scandir(sys.argv[1]) as it:
    for e in it:
        seen.append(e.name)
assert len(seen) == 5000 and len(set(seen)) == 5000, len(seen)
PY
}

# bats test_tags=no-reads
@test "a path imported while mounted becomes visible" {
	printf 'late\n' > "$WORK/late"
	want=$(nix-store --add "$WORK/late")
	printf x > "$WORK/seed"
	"$CASTORE" import "$WORK/seed" > /dev/null
	mount_castore "$MNT" --list-root
	name=${want#/nix/store/}
	[ ! -e "$MNT/$name" ]
	"$CASTORE" import "$WORK/late" > /dev/null
	# the negative entry expires after a second
	wait_for 20 "$name to appear in the mount" test -e "$MNT/$name"
	[ "$(cat "$MNT/$name")" = late ]
	ls "$MNT" | grep -qx "$name"
}

@test "eight parallel readers checksumming the whole tree agree with the source" {
	python3 "$GEN_TREE" 12 "$WORK/t"
	cp -a /usr/include/linux "$WORK/t/linux"
	p=$("$CASTORE" import "$WORK/t")
	mount_castore "$MNT" --threads 8
	(cd "$WORK/t" && find . -type f -print0 | sort -z | xargs -0 sha256sum) > "$WORK/want"
	pids=()
	for i in 1 2 3 4 5 6 7 8; do
		(cd "$MNT/${p#/nix/store/}" && find . -type f -print0 | sort -z |
			xargs -0 -P 2 -n 20 sha256sum | sort -k2) > "$WORK/got$i" &
		pids+=($!)
	done
	for pid in "${pids[@]}"; do wait "$pid"; done
	sort -k2 "$WORK/want" > "$WORK/want.sorted"
	for i in 1 2 3 4 5 6 7 8; do
		cmp "$WORK/want.sorted" "$WORK/got$i"
	done
}

# bats test_tags=no-reads
@test "SIGTERM, SIGINT and fusermount3 -u end the daemon with 0 and no mount left" {
	printf x > "$WORK/x"
	p=$("$CASTORE" import "$WORK/x")
	for how in TERM INT fusermount umount; do
		mount_castore "$MNT"
		cat "$MNT/${p#/nix/store/}" > /dev/null
		case $how in
		fusermount) fusermount3 -u "$MNT" ;;
		umount) umount "$MNT" ;;
		*) kill -s "$how" "$MOUNT_PID" ;;
		esac
		mount_ended "$MOUNT_PID" || { echo "ended by $how"; false; }
		if mountpoint -q "$MNT" || grep -q " $MNT " /proc/mounts; then
			echo "$how: $MNT still mounted"
			false
		fi
	done
}

# bats test_tags=mode-independent
@test "--daemon returns once the mount is live; the mount(8) helper form works" {
	printf x > "$WORK/x"
	p=$("$CASTORE" import "$WORK/x")
	mkdir -p "$MNT"
	"$CASTORE" mount --daemon "$MNT" 3>&-
	# no wait: it must already be live
	[ "$(cat "$MNT/${p#/nix/store/}")" = x ]
	umount "$MNT"
	ln -s "$CASTORE" "$WORK/mount.fuse.castore"
	"$WORK/mount.fuse.castore" "$CASTORE_STORE" "$MNT" -o ro,list_root,threads=2,nodev 3>&-
	ls "$MNT" | grep -qx "${p#/nix/store/}"
	umount "$MNT"
	# as mount.fuse3 runs it, with the castore binary from PATH
	PATH="$(dirname "$CASTORE"):$PATH" mount.fuse3 "$CASTORE_STORE" "$MNT" -t castore -o ro,list_root 3>&-
	ls "$MNT" | grep -qx "${p#/nix/store/}"
	umount "$MNT"
	run "$CASTORE" mount --daemon "$WORK/x"
	[ "$status" -eq 1 ]
	[[ "$output" == *"is not a directory"* ]]
	run "$CASTORE" mount -o bogus "$MNT"
	[ "$status" -eq 2 ]
	[[ "$output" == *"unknown option 'bogus'"* ]]
}

@test "worker threads serve many requests (no thread per request)" {
	cp -a /usr/include/linux "$WORK/t"
	p=$("$CASTORE" import "$WORK/t")
	mount_castore "$MNT" --threads 4
	find "$MNT/${p#/nix/store/}" -type f -exec cat {} + > /dev/null
	before=$(ls "/proc/$MOUNT_PID/task" | sort | tr '\n' ' ')
	# every open and release is a request, even with the pages cached
	find "$MNT/${p#/nix/store/}" -type f -exec cat {} + > /dev/null
	after=$(ls "/proc/$MOUNT_PID/task" | sort | tr '\n' ' ')
	echo "threads before: $before; after: $after"
	# no worker ended (the pool may still grow to its limit: main + 4,
	# the thread that writes last uses (fs/paths.c), and over io_uring a
	# thread per CPU queue and 4 ring workers)
	for t in $before; do [[ " $after " == *" $t "* ]]; done
	limit=6
	if [ "$(root_counter uring_requests)" -gt 0 ]; then
		limit=$(( limit + $(cpu_queues) + 4 ))
	fi
	[ "$(echo $after | wc -w)" -le "$limit" ]
}

# bats test_tags=mode-independent
@test "over io_uring each CPU's queue serves its own callers; --no-uring keeps to /dev/fuse" {
	param=/sys/module/fuse/parameters/enable_uring
	[ -e "$param" ] || ci_requires "FUSE over io_uring ($param absent in this kernel)"
	[ "$(cat "$param")" = Y ] || ci_requires "FUSE over io_uring switched on ($param = N; make check turns it on)"
	cp -a /usr/include/linux "$WORK/t"
	head -c $((8 << 20)) /dev/urandom > "$WORK/t/big"
	p=$("$CASTORE" import "$WORK/t")
	d="$MNT/${p#/nix/store/}"
	CASTORE_MOUNT_ARGS= mount_castore "$MNT"
	# callers pinned to every CPU in turn: each queue has a thread
	for ((cpu = 0; cpu < $(nproc); cpu++)); do
		taskset -c "$cpu" cat "$d/big" | cmp - "$WORK/t/big"
		taskset -c "$cpu" tar cf - -C "$d" . | tar tf - | wc -l > "$WORK/n$cpu"
		[ "$(cat "$WORK/n$cpu")" -gt 100 ]
	done
	diff -r "$WORK/t" "$d"
	total=$(root_counter requests)
	ring=$(root_counter uring_requests)
	echo "requests: $total, over io_uring: $ring"
	# all but INIT and FORGETs (and whatever came before the queues
	# were up) came over the rings
	[ "$ring" -gt 1000 ]
	[ $(( total - ring )) -lt $(( total / 10 )) ]
	unmount_castore "$MNT" "$MOUNT_PID"

	CASTORE_MOUNT_ARGS= mount_castore "$MNT" --no-uring
	diff -r "$WORK/t" "$d"
	[ "$(root_counter uring_requests)" -eq 0 ]
	[ "$(root_counter requests)" -gt 1000 ]
}

# inodes_below N: the daemon holds fewer than N inodes.
inodes_below() {
	[ "$(root_counter inodes)" -lt "$1" ]
}

@test "forget is honoured: the daemon drops inodes the kernel forgets; df -i is not full" {
	python3 "$GEN_TREE" 13 "$WORK/t"
	p=$("$CASTORE" import "$WORK/t")
	mount_castore "$MNT"
	find "$MNT/${p#/nix/store/}" > "$WORK/walk1"
	held=$(root_counter inodes)
	[ "$held" -ge 50 ] || { echo "only $held inodes after a walk"; false; }
	sync
	echo 2 > /proc/sys/vm/drop_caches
	# the kernel's FORGETs reach the daemon in their own time
	wait_for 30 "the daemon to drop the inodes the kernel forgot" inodes_below 10 ||
		{ echo "$held inodes before drop_caches, $(root_counter inodes) after"; false; }
	find "$MNT/${p#/nix/store/}" > "$WORK/walk2"
	cmp "$WORK/walk1" "$WORK/walk2"
	# statfs has no inode table to report: df -i shows "-", not 100%
	[ "$(stat -f -c %c "$MNT")" = 0 ]
	[ "$(df --output=ipcent "$MNT" | tail -1 | tr -d ' ')" = - ]
	diff -r --no-dereference "$WORK/t" "$MNT/${p#/nix/store/}"
}

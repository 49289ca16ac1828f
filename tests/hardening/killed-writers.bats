#!/usr/bin/env bats
# Temporary files of writers that were killed are removed at once (a lock
# per writer tells the dead from the living), and verify says so; a live
# writer's files are never touched.

load ../fuse/lib

setup() {
	export CASTORE_STORE="$BATS_TEST_TMPDIR/store"
	BIG="$BATS_TEST_TMPDIR/big"
	mkdir -p "$BIG"
	for i in $(seq 1 200); do head -c 20000 /dev/urandom > "$BIG/f$i"; done
	head -c 300000000 /dev/zero > "$BIG/large"
	"$CASTORE" import /usr/include/linux/netfilter > /dev/null
}

# temp files in the staging directories (not the writers' lock files)
temp_files() {
	find "$CASTORE_STORE/blobs/tmp" -mindepth 2 -maxdepth 2 -type f ! -path '*/writers/*' | wc -l
}

has_temp_files() {
	[ "$(temp_files)" -gt 0 ]
}

# process_state PID: its state letter in /proc (R, S, D, T, Z...).
process_state() {
	sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1
}

is_stopped() {
	[ "$(process_state "$1")" = T ]
}

# start_import: an import of $BIG in the background, stopped (SIGSTOP)
# once it has temp files, and seen stopped, not ended; sets PID
start_import() {
	"$CASTORE" import "$BIG" > /dev/null 2>&1 3>&- &
	PID=$!
	wait_for 60 "the import's first temp files" has_temp_files
	kill -STOP "$PID"
	wait_for 20 "the import to stop" is_stopped "$PID" ||
		{ echo "import: state $(process_state "$PID")"; return 1; }
	[ "$(temp_files)" -gt 0 ]
}

@test "verify removes and reports what a killed import left; a live one's stay" {
	start_import
	n=$(temp_files)
	# alive (stopped): nothing of it is removed
	run "$CASTORE" verify
	[ "$status" = 0 ]
	[[ "$output" != *"temporary file"* ]]
	[ "$(temp_files)" -ge "$n" ]
	kill -9 "$PID"
	wait_ended "import killed while stopped" "$PID" 137
	n=$(temp_files)
	[ "$n" -gt 0 ]
	run "$CASTORE" verify
	echo "$output"
	[ "$status" = 0 ]
	[[ "$output" == *"removed $n temporary file"*"left by 1 writer that died"* ]]
	[ "$(temp_files)" = 0 ]
	[ -z "$(find "$CASTORE_STORE/blobs/tmp/writers" -name '*.lock')" ]
}

@test "the next import sweeps a killed import's files; a resumed one completes" {
	start_import
	kill -9 "$PID"
	wait_ended "import killed while stopped" "$PID" 137
	[ "$(temp_files)" -gt 0 ]
	printf 'x' > "$BATS_TEST_TMPDIR/one"
	"$CASTORE" import "$BATS_TEST_TMPDIR/one" > /dev/null
	[ "$(temp_files)" = 0 ]
	# a stopped writer outlives another import's sweep, then finishes
	start_import
	"$CASTORE" import "$BATS_TEST_TMPDIR/one" > /dev/null
	[ "$(temp_files)" -gt 0 ]
	kill -CONT "$PID"
	wait_ended "resumed import" "$PID"
	run "$CASTORE" verify
	[ "$status" = 0 ]
	[ "$(temp_files)" = 0 ]
}

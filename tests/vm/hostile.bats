#!/usr/bin/env bats
# castore virtiofs against a hostile guest: tests/vm/hostile-frontend.c
# plays QEMU over the vhost-user socket and sends the FUSE requests a
# guest kernel never would.  A guest may use only the handles the daemon
# gave it: a READ, RELEASE, READDIR or RELEASEDIR with a handle it never
# got, or got and gave back, is EBADF (error -9), never a read of one of
# the daemon's own files, a close of one of its fds or a free of a
# pointer the guest chose.  No QEMU and no guest kernel: the front end
# is the guest.
#
# A hostile QEMU too: a memory region past the end of its memfd, a pipe
# or /dev/zero where an eventfd belongs, a READDIR of 4 GiB, a message
# cut short and the connection kept.  The daemon refuses what it cannot
# serve by ending the connection (status 1, saying why), is never killed
# by a signal, never spins or grows, and SIGTERM still stops it.
#
# One daemon per test, stopped in teardown with SIGTERM while the front
# end is still connected: it must end with status 0 and no sanitizer
# report (a test that ends the daemon itself judges its end).

load lib

HOSTILE_FRONTEND="${HOSTILE_FRONTEND:-$BATS_TEST_DIRNAME/../../build/tests/hostile-frontend}"

setup_file() {
	export CASTORE_STORE="$BATS_FILE_TMPDIR/store"
	# a store path that is one file (LOOKUP in the root, then OPEN) and
	# a small tree beside it (the root has more than one entry)
	mkdir -p "$BATS_FILE_TMPDIR/src/tree/sub"
	{ echo "castore virtiofs, hostile front end"; seq 1 3000; } \
		> "$BATS_FILE_TMPDIR/src/greeting"
	echo leaf > "$BATS_FILE_TMPDIR/src/tree/sub/leaf"
	ln -s sub/leaf "$BATS_FILE_TMPDIR/src/tree/link"
	p=$("$CASTORE" import "$BATS_FILE_TMPDIR/src/greeting")
	"$CASTORE" import "$BATS_FILE_TMPDIR/src/tree" > /dev/null
	export NAME=${p#/nix/store/}
	# what READ 4096 at 0 shows of it (the front end's read_head)
	HEAD=$(od -An -tx1 -N32 "$BATS_FILE_TMPDIR/src/greeting" | tr -d ' \n')
	export HEAD
}

setup() {
	[ -x "$HOSTILE_FRONTEND" ] ||
		ci_requires "the hostile front end $HOSTILE_FRONTEND (make build/tests/hostile-frontend)"
	export DAEMON_LOG="$BATS_TEST_TMPDIR/daemon.log"
	SOCK="$BATS_TEST_TMPDIR/vfs.sock"
	REPORT="$BATS_TEST_TMPDIR/report"
	FDS_BEFORE="$BATS_TEST_TMPDIR/fds.before"
	FDS_AFTER="$BATS_TEST_TMPDIR/fds.after"
	STATUS_BEFORE="$BATS_TEST_TMPDIR/status.before"
	STATUS_AFTER="$BATS_TEST_TMPDIR/status.after"
	FE_PID= FE_IN=
	# --list-root: a READDIR of the root then gets as far as its
	# handle (without it, EPERM comes first)
	start_daemon "$SOCK" --list-root
}

teardown() {
	local rc=0
	# SIGTERM with the front end still connected: exit 0
	if [ -n "${DAEMON_PID:-}" ]; then
		kill -TERM "$DAEMON_PID" 2>/dev/null || true
		wait_exit "$DAEMON_PID" 30 || rc=1
	fi
	end_frontend || rc=1
	return "$rc"
}

# end_frontend: end the front end's hold (its stdin ends) and judge its
# end: status 0 (it ran its scenario), no sanitizer report.
end_frontend() {
	[ -n "$FE_PID" ] || return 0
	[ -z "$FE_IN" ] || exec {FE_IN}>&-
	FE_IN=
	if ! gone_within 20 "$FE_PID"; then
		kill -9 "$FE_PID" 2>/dev/null || true
		wait "$FE_PID" 2>/dev/null || true
		FE_PID=
		echo "the hostile front end did not end within 20 s"
		return 1
	fi
	wait_ended "hostile-frontend" "$FE_PID" || {
		FE_PID=
		cat "$BATS_TEST_TMPDIR/frontend.err"
		return 1
	}
	FE_PID=
}

# fds_of PID: the process's fds as "N TARGET" lines, or "gone".
fds_of() {
	local f
	if [ ! -d "/proc/$1/fd" ]; then
		echo gone
		return 0
	fi
	for f in /proc/"$1"/fd/*; do
		printf '%s %s\n' "${f##*/}" "$(readlink "$f")"
	done | sort -n
}

# readable_fd_of PID PATH: the lowest fd of PID open on PATH for reading.
readable_fd_of() {
	local f n
	for f in /proc/"$1"/fd/*; do
		[ "$(readlink "$f")" = "$2" ] || continue
		n=${f##*/}
		# the access mode is the low two bits of the octal flags
		if [ $(( 0$(awk '$1 == "flags:" { print $2 }' "/proc/$1/fdinfo/$n") & 3 )) -ne 1 ]; then
			echo "$n"
		fi
	done | sort -n | head -1
}

# report_says WORD: the front end printed "WORD 1", or it has ended.
report_says() {
	grep -qx "$1 1" "$REPORT" 2>/dev/null || ! kill -0 "$FE_PID" 2>/dev/null
}

# frontend_reaches WORD: wait for the front end to print "WORD 1"; fails,
# with its report and stderr, if it ended first.
frontend_reaches() {
	wait_for 120 "the hostile front end to say $1" report_says "$1"
	grep -qx "$1 1" "$REPORT" || {
		echo "the hostile front end ended before '$1':"
		cat "$REPORT" "$BATS_TEST_TMPDIR/frontend.err"
		false
	}
}

# status_of PID: the process's /proc/PID/status, or "gone".
status_of() {
	cat "/proc/$1/status" 2>/dev/null || echo gone
}

# scenario NAME ARGS...: run the front end's scenario NAME against this
# test's daemon, with --sync: the daemon's fds are listed in $FDS_BEFORE
# and its /proc status saved in $STATUS_BEFORE once the front end's
# set-up is done (the connection, INIT, LOOKUP: what comes before the
# hostile part), the same in $FDS_AFTER and $STATUS_AFTER after its last
# request, the connection still up.  The report ("key value" lines) in
# $REPORT, and on stdout.
scenario() {
	local fifo="$BATS_TEST_TMPDIR/go"
	mkfifo "$fifo"
	"$HOSTILE_FRONTEND" --sync "$SOCK" "$@" < "$fifo" > "$REPORT" \
		2> "$BATS_TEST_TMPDIR/frontend.err" 3>&- &
	FE_PID=$!
	exec {FE_IN}> "$fifo"
	frontend_reaches paused
	fds_of "$DAEMON_PID" > "$FDS_BEFORE"
	status_of "$DAEMON_PID" > "$STATUS_BEFORE"
	echo go >&"$FE_IN"
	frontend_reaches done
	fds_of "$DAEMON_PID" > "$FDS_AFTER"
	status_of "$DAEMON_PID" > "$STATUS_AFTER"
	cat "$REPORT"
}

# val KEY: the value of KEY in the report.
val() {
	awk -v k="$1" '$1 == k { print $2; exit }' "$REPORT"
}

# fds_unchanged: the daemon's fds after the scenario are those it had
# before it: none closed, none opened and left open.
fds_unchanged() {
	diff -u "$FDS_BEFORE" "$FDS_AFTER"
}

# kib FILE FIELD: a field of a saved /proc status, in kB (VmRSS, VmHWM,
# VmPeak).
kib() {
	awk -v f="$2:" '$1 == f { print $2 }' "$1"
}

# daemon_ends SECONDS WANT: the daemon ends within SECONDS (by itself,
# or on a signal the test sent), with status WANT, not killed by a
# signal, and with no sanitizer report; its status is printed.
daemon_ends() {
	local rc=0
	wait_exit "$DAEMON_PID" "$1" "$2" || rc=1
	if [ -n "$EXIT_RC" ] && [ "$EXIT_RC" -gt 128 ]; then
		echo "castore virtiofs was killed by SIG$(kill -l $((EXIT_RC - 128)))"
	fi
	[ -z "$EXIT_RC" ] || echo "castore virtiofs ended with status $EXIT_RC"
	return "$rc"
}

# sigterm_ends SECONDS: SIGTERM to the daemon with the front end still
# connected: it ends within SECONDS with status 0 (a clean stop), and no
# sanitizer report.  If it does not, the front end lets the connection
# go and what the daemon does then is shown; the test fails.
sigterm_ends() {
	kill -TERM "$DAEMON_PID" 2>/dev/null || true
	if gone_within "$1" "$DAEMON_PID"; then
		daemon_ends 1 0
		return
	fi
	echo "castore virtiofs did not end within $1 s of SIGTERM; the front end now closes the connection"
	end_frontend || true
	if gone_within 10 "$DAEMON_PID"; then
		echo "castore virtiofs ended once the connection was closed:"
	else
		echo "castore virtiofs did not end even then"
	fi
	daemon_ends 1 0 || true
	return 1
}

# cpu_ticks PID: the clock ticks PID has used (utime + stime of all its
# threads, /proc/PID/stat); fails if PID has ended.
cpu_ticks() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	# past the command name, in parentheses: state is field 1 here,
	# utime and stime 12 and 13
	echo "${s##*) }" | awk '$1 == "Z" { exit 1 } { print $12 + $13 }'
}

# not_spinning PID: if PID is still there, it uses at most a quarter of
# a CPU over one second.
not_spinning() {
	local hz t0 t1
	hz=$(getconf CLK_TCK)
	t0=$(cpu_ticks "$1") || return 0
	# the window CPU time is measured over: no outcome waits on it
	sleep 1
	t1=$(cpu_ticks "$1") || return 0
	echo "castore virtiofs used $((t1 - t0)) clock ticks of $hz in 1 s"
	[ $((t1 - t0)) -le $((hz / 4)) ]
}

@test "init: the front end negotiates, sets up two queues, and FUSE_INIT answers 0" {
	scenario init
	[ "$(val init_error)" = 0 ]
	fds_unchanged
}

@test "lookup-read: LOOKUP, OPEN, READ give the file's first bytes; RELEASE gives its fd back" {
	scenario lookup-read "$NAME"
	[ "$(val lookup_error)" = 0 ]
	[ "$(val open_error)" = 0 ]
	[ "$(val read_error)" = 0 ]
	[ "$(val read_bytes)" = 4096 ]
	[ "$(val read_head)" = "$HEAD" ]
	[ "$(val release_error)" = 0 ]
	fds_unchanged
}

@test "forged-fh: the fd number of the store's meta.lmdb as a handle reads nothing, closes nothing, frees nothing (EBADF)" {
	fd=$(readable_fd_of "$DAEMON_PID" "$CASTORE_STORE/meta.lmdb")
	echo "meta.lmdb is fd $fd of the daemon"
	[ -n "$fd" ]
	scenario forged-fh "$NAME" "$fd"
	[ "$(val read_error)" = -9 ]
	[ "$(val read_bytes)" = 0 ]
	[ "$(val release_error)" = -9 ]
	[ "$(val releasedir_error)" = -9 ]
	[ "$(val readdir_error)" = -9 ]
	[ "$(val alive)" = 1 ]
	fds_unchanged
}

@test "forged-fh: a handle that is no fd and no pointer (0x4141414141414141) is EBADF everywhere" {
	scenario forged-fh "$NAME" 0x4141414141414141
	[ "$(val read_error)" = -9 ]
	[ "$(val release_error)" = -9 ]
	[ "$(val releasedir_error)" = -9 ]
	[ "$(val readdir_error)" = -9 ]
	[ "$(val alive)" = 1 ]
	fds_unchanged
}

@test "double-release: a handle given back is EBADF for a second RELEASE and for a READ" {
	scenario double-release "$NAME"
	[ "$(val open_error)" = 0 ]
	[ "$(val release_error)" = 0 ]
	[ "$(val release2_error)" = -9 ]
	[ "$(val read_error)" = -9 ]
	[ "$(val read_bytes)" = 0 ]
	[ "$(val alive)" = 1 ]
	fds_unchanged
}

@test "fds-of-daemon: READs with every handle 0..64 and no OPEN read none of the daemon's files (EBADF)" {
	scenario fds-of-daemon "$NAME"
	echo "the daemon's fds:"
	cat "$FDS_BEFORE"
	[ "$(grep -c '^read_fh_' "$REPORT")" -eq 65 ]
	bad=$(grep '^read_fh_' "$REPORT" | grep -v '^read_fh_[0-9]* -9 0$' || true)
	[ -z "$bad" ] || {
		echo "READs that were not EBADF:"
		echo "$bad"
		false
	}
	[ "$(val alive)" = 1 ]
	fds_unchanged
}

@test "region-too-big: a memory region of 8 MiB in a 4 MiB memfd is refused, naming it, status 1 (no SIGBUS)" {
	scenario region-too-big
	daemon_ends 30 1
	[ "$(val mem_table)" = closed ]
	grep 'memory region' "$DAEMON_LOG"
}

@test "region-offset: a memory region at mmap_offset 2^46 of its memfd is refused, naming it, status 1 (no SIGBUS)" {
	scenario region-offset
	daemon_ends 30 1
	[ "$(val mem_table)" = closed ]
	grep 'memory region' "$DAEMON_LOG"
}

@test "call-pipe: a pipe with no reader as a call fd is refused as no eventfd, status 1 (no SIGPIPE)" {
	scenario call-pipe reader-closed
	not_spinning "$DAEMON_PID"
	# it has hung up and ends by itself; one still serving (it took
	# the fd) must end on SIGTERM, and fails here by its status 0
	kill -TERM "$DAEMON_PID" 2>/dev/null || true
	daemon_ends 5 1
	[ "$(val set_call)" = closed ]
	grep 'not an eventfd' "$DAEMON_LOG"
}

@test "call-pipe: a full pipe as a call fd is refused as no eventfd, status 1 (no queue blocked for ever)" {
	scenario call-pipe full
	[ "$(val pipe_bytes)" -gt 0 ]
	not_spinning "$DAEMON_PID"
	# it has hung up and ends by itself; one still serving (it took
	# the fd) must end on SIGTERM, and fails here by its status 0
	kill -TERM "$DAEMON_PID" 2>/dev/null || true
	daemon_ends 5 1
	[ "$(val set_call)" = closed ]
	grep 'not an eventfd' "$DAEMON_LOG"
}

@test "kick-devzero: /dev/zero as a kick fd is refused as no eventfd, status 1 (no CPU spun)" {
	scenario kick-devzero
	not_spinning "$DAEMON_PID"
	# as for call-pipe
	kill -TERM "$DAEMON_PID" 2>/dev/null || true
	daemon_ends 5 1
	[ "$(val set_kick)" = closed ]
	grep 'not an eventfd' "$DAEMON_LOG"
}

@test "readdir-huge: a READDIR of 4 GiB into 64 KiB lists the root or fails; the daemon grows by at most 64 MiB resident, 1 GiB of address space" {
	scenario readdir-huge
	[ "$(val opendir_error)" = 0 ]
	err=$(val readdir_error)
	case $err in
	0)
		# the root: the greeting and the tree, at least
		[ "$(val readdir_bytes)" -le $((64 * 1024 - 16)) ]
		[ "$(val readdir_entries)" != bad ]
		[ "$(val readdir_entries)" -ge 2 ]
		;;
	-[1-9]*) ;;
	*)
		echo "READDIR: '$err', neither a listing nor an error"
		false
		;;
	esac
	[ "$(val releasedir_error)" = 0 ]
	[ "$(val alive)" = 1 ]
	# resident now and at its peak: at most 64 MiB more; its address
	# space at its peak: at most 1 GiB more (untouched, a 4 GiB buffer
	# is not resident, but the guest chose its size)
	for f in VmRSS:65536 VmHWM:65536 VmPeak:1048576; do
		before=$(kib "$STATUS_BEFORE" "${f%:*}")
		after=$(kib "$STATUS_AFTER" "${f%:*}")
		echo "${f%:*}: $before kB before the READDIR, $after kB after"
		[ $((after - before)) -le "${f#*:}" ]
	done
	fds_unchanged
}

@test "stalled-header: 5 bytes of a 12-byte message header, then nothing: SIGTERM still ends the daemon within 2 s, status 0" {
	scenario stalled-header
	[ "$(val sent_bytes)" = 5 ]
	sigterm_ends 2
}

@test "stalled-payload: a header that promises 8 bytes, then nothing: SIGTERM still ends the daemon within 2 s, status 0" {
	scenario stalled-payload
	[ "$(val sent_bytes)" = 12 ]
	sigterm_ends 2
}

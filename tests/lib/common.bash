# Helpers every bats suite shares: how a castore process's end is judged.
#
# tests/tests.mk gives sanitizer reports exit codes of their own
# ($CASTORE_SAN_EXIT: 86 ASan and LeakSanitizer, 87 UBSan), never castore's
# 0, 1 (refused) or 2 (usage), and tests/run-suite.sh sends each report to
# a file $CASTORE_SAN_DIR/{asan,ubsan}.PID (but GCC's UBSan beside ASan,
# which writes to stderr).  So a test that expects a refusal checks
# `[ "$status" -eq 1 ]`, and a daemon's end is checked here.

# san_reports PID: the sanitizer report files process PID left, if any.
san_reports() {
	[ -n "${CASTORE_SAN_DIR:-}" ] || return 0
	find "$CASTORE_SAN_DIR" -maxdepth 1 -type f \
		\( -name "asan.$1" -o -name "ubsan.$1" \) 2>/dev/null
}

# ended_ok WHAT PID RC [WANT]: judge the end of castore process PID, which
# exited with RC: it must be WANT (default 0), not a sanitizer's code, and
# PID must have left no sanitizer report.  Otherwise says why, prints the
# report, and fails.
ended_ok() {
	local what="$1" pid="$2" rc="$3" want="${4:-0}" reports
	reports=$(san_reports "$pid")
	if [ -n "$reports" ]; then
		echo "$what (pid $pid, exit $rc): sanitizer report:"
		# shellcheck disable=SC2086
		cat $reports
		return 1
	fi
	case " ${CASTORE_SAN_EXIT:-86 87} " in
	*" $rc "*)
		echo "$what (pid $pid): exit $rc, a sanitizer's exit code"
		return 1
		;;
	esac
	if [ "$rc" -ne "$want" ]; then
		echo "$what (pid $pid): exit $rc, expected $want"
		return 1
	fi
}

# wait_ended WHAT PID [WANT]: wait for background child PID (started by
# this shell) and judge its end as ended_ok does; sets ENDED_RC.
wait_ended() {
	ENDED_RC=0
	wait "$2" || ENDED_RC=$?
	if [ "$ENDED_RC" -eq 127 ] && ! [ "${3:-0}" -eq 127 ]; then
		echo "$1 (pid $2): not a child of this shell: its end cannot be checked"
		return 1
	fi
	ended_ok "$1" "$2" "$ENDED_RC" "${3:-0}"
}

# gone_within SECONDS PID: wait (polling /proc) until PID has exited,
# for processes this shell cannot wait for; fails after SECONDS.
gone_within() {
	local deadline=$(( $(date +%s) + $1 ))
	while kill -0 "$2" 2>/dev/null; do
		if [ "$(date +%s)" -ge "$deadline" ]; then
			echo "pid $2 still running after $1 s"
			return 1
		fi
		sleep 0.05
	done
}

# wait_for SECONDS WHAT COMMAND...: poll COMMAND until it succeeds; fails
# saying WHAT it waited for after SECONDS.  For conditions with no event
# to wait on; the bound is generous and only decides a failure.
wait_for() {
	local secs="$1" what="$2" deadline
	deadline=$(( $(date +%s) + secs ))
	shift 2
	until "$@"; do
		if [ "$(date +%s)" -ge "$deadline" ]; then
			echo "waited $secs s for $what in vain" >&2
			return 1
		fi
		sleep 0.05
	done
}

# ci_requires WHAT: a test that cannot run here fails in CI (CI set, as
# .ci/run sets it) and is skipped, saying WHAT is missing, elsewhere.
ci_requires() {
	if [ -n "${CI:-}" ]; then
		echo "precondition missing in CI: $1"
		return 1
	fi
	skip "$1"
}

# store_flock PID MODE held|waiting: /proc/locks shows PID holding (or
# waiting for) a flock of $CASTORE_STORE's gc.lock (the writers' lock) in
# MODE (READ: imports, lookups, kernel mounts; WRITE: gc, delete).
store_flock() {
	local ino
	ino=$(stat -c %i "$CASTORE_STORE/gc.lock" 2>/dev/null) || return 1
	awk -v pid="$1" -v mode="$2" -v want="$3" -v ino="$ino" '
		{ w = ($2 == "->"); o = w ? 1 : 0 }
		$(2 + o) == "FLOCK" && $(4 + o) == mode && $(5 + o) == pid &&
			$(6 + o) ~ (":" ino "$") && w == (want == "waiting") { found = 1 }
		END { exit !found }' /proc/locks
}

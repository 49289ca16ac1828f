#!/bin/bash
# check-plants.sh: prove that the tests see sanitizer reports.
#
# A sanitizer build carries planted findings (src/cli/test-plant.c): with
# CASTORE_TEST_PLANT=SITE:KIND, a leak, a heap overflow or an undefined
# operation at a mount daemon's exit (SITE daemon) or as the path-info
# verb returns.  For each, real tests of the suite must fail, and say it
# was a sanitizer: the test's own check of an exit status (a refusal's 1,
# a daemon's 0), the teardown that ends a mount, and the suite runner's
# check of the report files (a detached daemon, whose status no test can
# see).  Then the same tests pass with nothing planted.  Run by tests.mk
# (check-plants) with the environment of every suite.
set -u
cd "$(dirname "$0")/../.."
BATS=${BATS:-bats}
fail=0

# case_run NAME PLANT EXPECT BATS-ARGS...: run the tests through the suite
# runner with PLANT.  EXPECT: "test" (a test fails: the one that checks
# the status or ends the daemon), "suite" (no test can see the process,
# but the runner fails on its report file), "pass" (all pass: so the
# failures above were the plant's).
case_run() {
	local name=$1 plant=$2 expect=$3 out rc=0 why=
	shift 3
	out=$(SUITE_TIMES= CASTORE_TEST_PLANT=$plant tests/run-suite.sh "plant $name" $BATS "$@" 2>&1) || rc=$?
	case $expect in
	pass) [ "$rc" -eq 0 ] || why="fails with nothing planted" ;;
	test)
		if [ "$rc" -eq 0 ]; then
			why="went unseen: the suite passed"
		elif ! echo "$out" | grep -q '^not ok'; then
			why="was seen by the runner only, not by a test"
		fi
		;;
	suite)
		if [ "$rc" -eq 0 ]; then
			why="went unseen: the suite passed"
		elif ! echo "$out" | grep -q '^== sanitizer report'; then
			why="failed the suite, but not by its sanitizer report"
		fi
		;;
	esac
	if [ -n "$why" ]; then
		echo "FAIL: $name with '$plant': $why:"
		echo "$out" | tail -40
		fail=1
	else
		echo "ok: $name with '${plant:-nothing}' planted: as expected ($expect)"
	fi
}

# a refusal checked by its exact status (path-info of a missing store: 1)
verb=(tests/cli/import-export.bats --filter 'usage errors, help and a missing store')
# a daemon ended by a signal (mount_ended), one ended by the teardown
# (end_mounts), a detached one (--daemon: only the suite runner sees it)
signalled=(tests/fuse/trees.bats --filter 'SIGTERM, SIGINT and fusermount3')
torn_down=(tests/fuse/trees.bats --filter 'a warm walk is served')
detached=(tests/fuse/trees.bats --filter '--daemon returns once')

for kind in leak overflow ub; do
	case_run "verb path-info: $kind" "path-info:$kind" test "${verb[@]}"
	case_run "daemon ended by a signal: $kind" "daemon:$kind" test "${signalled[@]}"
done
case_run "daemon ended by the teardown: leak" "daemon:leak" test "${torn_down[@]}"
case_run "detached daemon: leak" "daemon:leak" suite "${detached[@]}"
for t in verb signalled torn_down detached; do
	declare -n args=$t
	case_run "$t" "" pass "${args[@]}"
done
exit "$fail"

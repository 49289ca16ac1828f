#!/bin/bash
# check.sh: every suite of `make check` (tests/tests.mk calls it, with the
# test environment, $MAKE, $B and $SANITIZE set), then each suite's time.
#
# Suites run in groups, one group after another; the suites of a group
# run side by side, each with its output in a log printed whole when it
# ends, so that their lines do not interleave.  Suites share a group only
# if they share no kernel state: the mount suite (it counts requests and
# drops caches), hardening (it switches FUSE's io_uring off for a while)
# and the VM suite (it drops caches; QEMU wants a core) run alone.
set -u
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}
times=${SUITE_TIMES:?run by tests/tests.mk}
logs=$B/suite-logs
rm -rf "$logs"
mkdir -p "$logs"
: > "$times"

GROUPS_NORMAL=(
	"check-lint check-unit check-fuzz check-cli check-net-default"
	"check-fuse"
	"check-gc check-serve check-net-no-uring"
	"check-kernel"
	"check-hardening"
	"check-vm"
)
GROUPS_SANITIZE=(
	"check-lint check-unit check-fuzz check-cli check-net-no-uring"
	"check-fuse"
	"check-gc check-serve"
	"check-kernel"
	"check-hardening"
	"check-plants"
	"check-vm"
)
if [ -n "${SANITIZE:-}" ]; then
	groups=("${GROUPS_SANITIZE[@]}")
else
	groups=("${GROUPS_NORMAL[@]}")
fi

start=$(date +%s)
failed=
for g in "${groups[@]}"; do
	# shellcheck disable=SC2206
	suites=($g)
	if [ "${#suites[@]}" -eq 1 ]; then
		$MAKE --no-print-directory "${suites[0]}" || failed="$failed ${suites[0]}"
		continue
	fi
	echo "== side by side: ${suites[*]}"
	pids=()
	for s in "${suites[@]}"; do
		$MAKE --no-print-directory "$s" > "$logs/$s.log" 2>&1 &
		pids+=($!)
	done
	for i in "${!suites[@]}"; do
		rc=0
		wait "${pids[$i]}" || rc=$?
		echo "== ${suites[$i]}: output"
		cat "$logs/${suites[$i]}.log"
		[ "$rc" -eq 0 ] || failed="$failed ${suites[$i]}"
	done
done

echo
echo "== suite wall times (side by side within a group, see tests/check.sh)"
cat "$times"
echo "== make check: $(( $(date +%s) - start )) s"
if [ -n "$failed" ]; then
	echo "== make check FAILED:$failed"
	exit 1
fi

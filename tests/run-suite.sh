#!/bin/bash
# run-suite.sh [--needs LIST] NAME CMD [ARGS...]: run one suite of
# `make check`.
#
# Sanitizer reports of every process the suite starts go to files in a
# folder of its own ($CASTORE_SAN_DIR/NAME, log_path), so a report whose
# exit code a test never saw (a detached daemon, a `|| true`, a process
# a test killed the parent of) still fails the suite, and the files are
# printed.  The suite's wall time is printed and added to $SUITE_TIMES
# (`make check` shows the table at the end: tests/suite-times.sh).
set -u
needs=
if [ "${1:-}" = --needs ]; then
	needs=$2
	shift 2
fi
name=$1
shift

# --needs root,fuse,nginx,radosgw,qemu,bats-lint: what the suite cannot run without.
# Outside CI a missing one skips the suite, saying so; in CI (CI set, as
# .ci/run sets it) it fails the suite.
missing=
for n in $(echo "$needs" | tr , ' '); do
	case $n in
	root) [ "$(id -u)" = 0 ] || missing="$missing root" ;;
	fuse) [ -c /dev/fuse ] || missing="$missing /dev/fuse" ;;
	nginx) command -v nginx > /dev/null || missing="$missing nginx" ;;
	radosgw) command -v radosgw > /dev/null || missing="$missing radosgw" ;;
	qemu) command -v qemu-system-x86_64 > /dev/null || missing="$missing qemu-system-x86" ;;
	bats-lint) [ -x "${BATS_LINT:-}" ] || missing="$missing ${BATS_LINT:-bats-lint}" ;;
	*) echo "run-suite.sh: unknown need '$n'" >&2; exit 2 ;;
	esac
done
if [ -n "$missing" ]; then
	if [ -n "${CI:-}" ]; then
		echo "$name: FAILED: needs$missing (scripts/setup.sh --tests installs the programs; the suite runs as root)"
		[ -z "${SUITE_TIMES:-}" ] || printf '%-40s %6s    %s\n' "$name" - "FAILED (needs$missing)" >> "$SUITE_TIMES"
		exit 1
	fi
	echo "$name: SKIPPED: needs$missing"
	[ -z "${SUITE_TIMES:-}" ] || printf '%-40s %6s    %s\n' "$name" - "skipped (needs$missing)" >> "$SUITE_TIMES"
	exit 0
fi
dir=${CASTORE_SAN_DIR:?run by tests/tests.mk}/$(echo "$name" | tr -c 'A-Za-z0-9_.\n-' _)
rm -rf "$dir"
mkdir -p "$dir"
# the last log_path given wins: the suite's folder over any before it
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:log_path=$dir/asan"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-}:log_path=$dir/ubsan"
export CASTORE_SAN_DIR=$dir

start=$(date +%s.%N)
rc=0
"$@" || rc=$?
secs=$(echo "$(date +%s.%N) - $start" | bc)

reports=$(find "$dir" -maxdepth 1 -type f -name '*san.*' | sort)
if [ -n "$reports" ]; then
	for r in $reports; do
		echo "== sanitizer report $r:"
		cat "$r"
	done
	echo "$name: FAILED: $(echo "$reports" | wc -l) sanitizer report(s) above"
	[ "$rc" -ne 0 ] || rc=1
fi
printf '%s: %s in %.0f s\n' "$name" "$([ "$rc" -eq 0 ] && echo passed || echo FAILED)" "$secs"
if [ -n "${SUITE_TIMES:-}" ]; then
	printf '%-40s %6.0f s  %s\n' "$name" "$secs" "$([ "$rc" -eq 0 ] && echo ok || echo FAILED)" >> "$SUITE_TIMES"
fi
exit "$rc"

#!/bin/sh
# Install the Debian packages castore needs.  Idempotent; run as root on
# Debian bookworm.
#
#   scripts/setup.sh          building and running castore, and Nix (the
#                             demo compares castore's store paths with it)
#   scripts/setup.sh --tests  that, and what the tests and benches add:
#                             Criterion, bats, nginx, QEMU, Ceph, ...
set -eu

# build and run: compiler, libraries, FUSE, and the demo's tools
BASE="build-essential pkg-config
libfuse3-dev fuse3 liburing-dev
librust-blake3-dev
libssl-dev liblmdb-dev
libprotobuf-c-dev protobuf-c-compiler
libcurl4-openssl-dev libmicrohttpd-dev
liblzma-dev libzstd-dev libbz2-dev zlib1g-dev libbrotli-dev
nix-bin attr bc"

# tests and benches: Nix as the oracle and client, a real HTTP server,
# a real QEMU guest, a real Ceph radosgw, the peers of the bench
TESTS="git libcriterion-dev bats clang xxd b3sum python3 psmisc
squashfuse squashfs-tools erofs-utils fio hyperfine
nginx-light
qemu-system-x86 busybox-static cpio
radosgw ceph-mon ceph-osd ceph-common uuid-runtime curl zstd"

case "${1:-}" in
"") PKGS=$BASE ;;
--tests) PKGS="$BASE $TESTS" ;;
*)
	echo "usage: scripts/setup.sh [--tests]" >&2
	exit 2
	;;
esac

if [ "$(id -u)" -ne 0 ]; then
	echo "setup.sh: must run as root (it installs Debian packages)" >&2
	exit 1
fi

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done

if [ -n "$missing" ]; then
	echo "setup.sh: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq -o Acquire::Languages=none
	# unsafe-io: no fsync per unpacked file (a crash mid-install is
	# mended by running this again): a fifth less time measured here
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends \
		-o Dpkg::Options::=--force-unsafe-io $missing
else
	echo "setup.sh: all packages present"
fi

# Nix (the oracle) wants a store directory it can write when run as root.
mkdir -p /nix/store

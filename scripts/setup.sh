#!/bin/sh
# Install every Debian package castore needs to build, test and benchmark.
# Idempotent; run as root on Debian bookworm.
set -eu

PKGS="build-essential pkg-config git
libfuse3-dev fuse3 liburing-dev
librust-blake3-dev
libssl-dev liblmdb-dev
libprotobuf-c-dev protobuf-c-compiler
libcurl4-openssl-dev libmicrohttpd-dev
liblzma-dev libzstd-dev libbz2-dev zlib1g-dev libbrotli-dev
libcriterion-dev bats nix-bin
clang attr xxd b3sum python3 psmisc bc
squashfuse squashfs-tools erofs-utils fio hyperfine
nginx-light
qemu-system-x86 busybox-static cpio
radosgw ceph-mon ceph-osd ceph-common uuid-runtime curl zstd"

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
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing
else
	echo "setup.sh: all packages present"
fi

# Nix (the test oracle) wants a store directory it can write when run as root.
mkdir -p /nix/store

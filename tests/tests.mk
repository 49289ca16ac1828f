# Tests: included by the top-level Makefile.
#
#   make check             everything below, in this order
#   make check-unit        Criterion unit, golden and conformance tests
#   make check-fuzz        replay every fuzz corpus through its target
#   make check-cli         CLI tests with Nix as the oracle (bats)
#   make check-fuse        mount tests (bats, real FUSE mounts; root)
#   make check-net         substituters (bats, real Nix caches + nginx)
#   make check-hardening   damaged stores, hostile caches, abused mounts
#   make check-vm          castore virtiofs under a real QEMU guest

CRITERION_LIBS := $(shell $(PKG_CONFIG) --libs criterion 2>/dev/null || echo -lcriterion)
UNIT_SRC = $(wildcard tests/unit/test-*.c)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
TEST_CFLAGS = $(CPPFLAGS) $(CFLAGS_BASE) -Wall -Wextra \
	-DGOLDEN_DIR='"$(CURDIR)/tests/golden"'

$(B)/tests/%: tests/unit/%.c tests/unit/helpers.h $(LIB)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(TEST_CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LIBS) $(CRITERION_LIBS)

# Criterion forks a process per test; ASan/UBSan options make any report fatal.
TEST_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp

check-unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do \
		echo "== $$t"; $(TEST_ENV) $$t --jobs 2; \
	done

check: all check-unit check-fuzz check-cli check-fuse check-net check-gc check-serve check-kernel check-hardening check-vm

.PHONY: check check-unit check-fuzz check-cli check-fuse check-net check-gc check-hardening check-vm

BATS ?= bats
check-cli: all
	$(TEST_ENV) CASTORE=$(CURDIR)/$(BIN) $(BATS) tests/cli

# Fuzz targets.  check-fuzz links each with the replay driver and runs the
# committed corpus through it; `make fuzz` builds them with clang's
# libFuzzer (+ASan/UBSan) in build-fuzz/ and runs each for FUZZ_SECONDS,
# growing corpus/<target>/.
FUZZ_TARGETS = nar directory path-info store-path narinfo vring fuse-frame serve-request
FUZZ_REPLAY = $(FUZZ_TARGETS:%=$(B)/fuzz/replay-%)
FUZZ_SECONDS ?= 60

$(B)/fuzz/replay-%: tests/fuzz/fuzz-%.c tests/fuzz/fuzz-main.c tests/fuzz/fuzz.h $(LIB)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(TEST_CFLAGS) $(LDFLAGS) -o $@ $< tests/fuzz/fuzz-main.c $(LIB) $(LIBS)

check-fuzz: $(FUZZ_REPLAY)
	@set -e; for t in $(FUZZ_TARGETS); do \
		$(TEST_ENV) $(B)/fuzz/replay-$$t tests/fuzz/corpus/$$t; \
	done

fuzz:
	$(MAKE) CC=clang B=build-fuzz OPT="-O1 -g" \
		EXTRA_CFLAGS="-fsanitize=fuzzer-no-link,address,undefined" \
		EXTRA_LDFLAGS="-fsanitize=address,undefined" build-fuzz/libcastore.a
	@set -e; for t in $(FUZZ_TARGETS); do \
		clang $(CPPFLAGS) -Ibuild-fuzz/gen -std=gnu17 -O1 -g \
			-fsanitize=fuzzer,address,undefined \
			-o build-fuzz/fuzz-$$t tests/fuzz/fuzz-$$t.c \
			build-fuzz/libcastore.a $(LIBS); \
		echo "== fuzzing $$t for $(FUZZ_SECONDS)s"; \
		build-fuzz/fuzz-$$t -max_total_time=$(FUZZ_SECONDS) \
			-max_len=1048576 tests/fuzz/corpus/$$t; \
	done

.PHONY: fuzz

# Mount tests: real FUSE mounts through the binary of this build.
$(B)/tests/mkfixture: tests/fuse/mkfixture.c $(LIB)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(TEST_CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LIBS)

# FUSE over io_uring is off unless the kernel's fuse module is told
# otherwise: the mount suites turn it on for their run (tests/with-uring.sh)
# and cover /dev/fuse with --no-uring.
WITH_URING = $(CURDIR)/tests/with-uring.sh

# The mount suite runs once per option set: the default (io_uring,
# passthrough); reads served by the daemon; no OPEN round trips; and the
# /dev/fuse paths of kernels that keep io_uring off, spliced and passed
# through.  ("-" stands for no options.)
FUSE_MODES = - --no-passthrough --no-open --no-uring,--no-passthrough --no-uring
# The substituter suite: over io_uring and through /dev/fuse.
NET_MODES = - --no-uring

# Mounting needs root and /dev/fuse.  Outside CI a machine without them
# skips (and says so); in CI (CI set) the tests run and fail instead.
check-fuse: all $(B)/tests/mkfixture
	@if [ -z "$$CI" ] && { [ "$$(id -u)" != 0 ] || [ ! -c /dev/fuse ]; }; then \
		echo "check-fuse: SKIPPED: mount tests need root and /dev/fuse"; \
	else \
		set -e; for m in $(FUSE_MODES); do \
			args=$$(echo "$$m" | tr , ' '); [ "$$args" != - ] || args=; \
			echo "check-fuse: mount options: $${args:-(none: io_uring, passthrough)}"; \
			$(TEST_ENV) CASTORE=$(CURDIR)/$(BIN) CASTORE_MOUNT_ARGS="$$args" \
				MKFIXTURE=$(CURDIR)/$(B)/tests/mkfixture $(WITH_URING) $(BATS) tests/fuse; \
		done; \
	fi

# Substituters: real Nix writes binary caches, a real nginx (started by
# the tests on a free loopback port) serves them; mounts need root.
check-net: all
	@if [ -z "$$CI" ] && { [ "$$(id -u)" != 0 ] || [ ! -c /dev/fuse ] || ! command -v nginx > /dev/null; }; then \
		echo "check-net: SKIPPED: substituter tests need root, /dev/fuse and nginx"; \
	else \
		set -e; for m in $(NET_MODES); do \
			args=$$(echo "$$m" | tr , ' '); [ "$$args" != - ] || args=; \
			echo "check-net: mount options: $${args:-(none: io_uring)}"; \
			$(TEST_ENV) CASTORE=$(CURDIR)/$(BIN) CASTORE_MOUNT_ARGS="$$args" \
				$(WITH_URING) $(BATS) tests/net; \
		done; \
	fi

# Roots, gc, delete and the cache quota (tests/gc), on closures Nix builds
# and a real nginx serves; once (the quota's mount in the default mode).
check-gc: all
	@if [ -z "$$CI" ] && { [ "$$(id -u)" != 0 ] || [ ! -c /dev/fuse ] || ! command -v nginx > /dev/null; }; then \
		echo "check-gc: SKIPPED: these tests need root, /dev/fuse and nginx"; \
	else \
		$(TEST_ENV) CASTORE=$(CURDIR)/$(BIN) $(WITH_URING) $(BATS) tests/gc; \
	fi

# Attacks and accidents (tests/hardening): damaged stores, hostile caches
# served by a test server on loopback, abused mounts.  Once, in the
# default mount mode; mounts need root.  The bit-flip test runs a third of
# its cases under the sanitizers (each run is a process start).
check-hardening: all
	@if [ -z "$$CI" ] && { [ "$$(id -u)" != 0 ] || [ ! -c /dev/fuse ]; }; then \
		echo "check-hardening: SKIPPED: these tests mount and need root and /dev/fuse"; \
	else \
		$(TEST_ENV) CASTORE=$(CURDIR)/$(BIN) FLIP_CASES=$(if $(SANITIZE),100,300) \
			$(WITH_URING) $(BATS) tests/hardening; \
	fi

bench-import: all
	bench/import.sh

.PHONY: bench-import

bench: all
	bench/run-all.sh

# castore virtiofs vs QEMU's virtiofsd and 9p, in one guest (bench/vm.sh)
bench-vm: all $(B)/tests/guest-probe
	VM_PROBE=$(CURDIR)/$(B)/tests/guest-probe bench/vm.sh

.PHONY: bench bench-vm

# castore virtiofs seen from a real guest (tests/vm): QEMU under TCG boots
# Debian's kernel (downloaded once into $(VM_CACHE)) with an initramfs
# of busybox and this static probe.  The probe runs in the guest: no
# sanitizers (they do not link statically).
$(B)/tests/guest-probe: tests/vm/guest-probe.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)gcc -std=gnu17 -O2 -Wall -static -o $@ $<

check-vm: all $(B)/tests/guest-probe
	@if [ -z "$$CI" ] && { [ "$$(id -u)" != 0 ] || ! command -v qemu-system-x86_64 > /dev/null; }; then \
		echo "check-vm: SKIPPED: the VM tests need root and qemu-system-x86 (scripts/setup.sh)"; \
	else \
		$(TEST_ENV) CASTORE=$(CURDIR)/$(BIN) VM_PROBE=$(CURDIR)/$(B)/tests/guest-probe \
			$(BATS) tests/vm; \
	fi

# Sharing a store (tests/serve): castore serve under real Nix (substitute,
# list, nix copy uploads), push to file://, http:// and S3 (a real Ceph
# radosgw started by the tests), s3:// substituters.
check-serve: all
	@if [ -z "$$CI" ] && { [ "$$(id -u)" != 0 ] || [ ! -c /dev/fuse ] || ! command -v nginx > /dev/null || ! command -v radosgw > /dev/null; }; then \
		echo "check-serve: SKIPPED: these tests need root, /dev/fuse, nginx and radosgw (scripts/setup.sh)"; \
	else \
		$(TEST_ENV) CASTORE=$(CURDIR)/$(BIN) $(WITH_URING) $(BATS) tests/serve; \
	fi

.PHONY: check-serve

# The kernel mount (tests/kernel): castore's EROFS image under overlayfs,
# against the sources and the FUSE mount; needs root and a kernel with
# EROFS and overlayfs data-only layers (Linux >= 6.5).
check-kernel: all
	@if [ -z "$$CI" ] && { [ "$$(id -u)" != 0 ] || [ ! -c /dev/fuse ]; }; then \
		echo "check-kernel: SKIPPED: kernel mount tests need root"; \
	else \
		$(TEST_ENV) CASTORE=$(CURDIR)/$(BIN) $(BATS) tests/kernel; \
	fi

.PHONY: check-kernel

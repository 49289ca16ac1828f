# Tests: included by the top-level Makefile.  tests/README.md says what
# each suite covers and what it costs.
#
#   make check             every suite (tests/check.sh: some side by side),
#                          then each suite's wall time
#   make check-unit        Criterion unit, golden and conformance tests
#   make check-fuzz        replay every fuzz corpus through its target
#   make check-cli         CLI tests with Nix as the oracle (bats)
#   make check-fuse        mount tests (bats, real FUSE mounts; root)
#   make check-net         substituters (bats, real Nix caches + nginx)
#   make check-gc          roots, gc, delete, the cache quota
#   make check-serve       serve, push, S3 (nginx, Ceph radosgw)
#   make check-kernel      the kernel mount (EROFS + overlayfs)
#   make check-hardening   damaged stores, hostile caches, abused mounts
#   make check-vm          castore virtiofs under a real QEMU guest
#   make check-plants      planted sanitizer findings fail the tests
#                          (sanitizer builds only)
#   make check-lint        bats-lint: no assertion that cannot fail
#
# Every suite runs through tests/run-suite.sh (the suite's time, its
# sanitizer reports, and its preconditions: root, /dev/fuse, nginx, ...
# are skipped with a message outside CI and fail in CI).

CRITERION_LIBS := $(shell $(PKG_CONFIG) --libs criterion 2>/dev/null || echo -lcriterion)
UNIT_SRC = $(wildcard tests/unit/test-*.c)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
TEST_CFLAGS = $(CPPFLAGS) $(CFLAGS_BASE) -Wall -Wextra \
	-DGOLDEN_DIR='"$(CURDIR)/tests/golden"'

$(B)/tests/%: tests/unit/%.c tests/unit/helpers.h $(LIB)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(TEST_CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LIBS) $(CRITERION_LIBS)

# Sanitizer reports have exit codes of their own, never castore's (0 ok,
# 1 refused, 2 usage): 86 for ASan and LeakSanitizer, 87 for UBSan.  Each
# report also goes to a file, $(SAN_DIR)/SUITE/{asan,ubsan}.PID
# (tests/run-suite.sh sets the folder per suite and fails the suite on any
# report, one a test swallowed included); tests/lib/common.bash reads them.
# (GCC's UBSan beside ASan ignores log_path and writes to stderr: its
# findings are seen by their exit code.)
# Criterion forks a process per test and fails it on the exit code.
SAN_DIR = $(CURDIR)/$(B)/sanitizer-reports
SAN_EXIT_ASAN = 86
SAN_EXIT_UBSAN = 87
TEST_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=$(SAN_EXIT_ASAN) \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=$(SAN_EXIT_UBSAN) \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:exitcode=$(SAN_EXIT_ASAN) \
	CASTORE_SAN_DIR=$(SAN_DIR) CASTORE_SAN_EXIT="$(SAN_EXIT_ASAN) $(SAN_EXIT_UBSAN)" \
	SUITE_TIMES=$(CURDIR)/$(B)/suite-times

# Each suite, through its runner; --needs names its preconditions.
# USUITE: the same, with FUSE over io_uring switched on (WITH_URING).
SUITE_ENV = $(TEST_ENV) CASTORE=$(CURDIR)/$(BIN) BATS_LINT=$(BATS_LINT) \
	MKFIXTURE=$(CURDIR)/$(MKFIXTURE) \
	VM_PROBE=$(CURDIR)/$(B)/tests/guest-probe \
	HOSTILE_FRONTEND=$(CURDIR)/$(B)/tests/hostile-frontend \
	CASTORE_TEST_FIXTURES=$(CURDIR)/$(B)/test-fixtures
SUITE = $(SUITE_ENV) $(CURDIR)/tests/run-suite.sh
USUITE = $(SUITE_ENV) $(WITH_URING) $(CURDIR)/tests/run-suite.sh
BATS ?= bats
TEST_BINS = $(BIN) $(UNIT_BIN) $(FUZZ_REPLAY) $(B)/tests/guest-probe \
	$(B)/tests/hostile-frontend

# What the suites run, built ahead (.ci/run builds the sanitizer pass's
# while the first pass runs; the fixture writer is the plain build's).
check-bins: $(TEST_BINS)

# All suites (tests/check.sh runs them, in groups, and prints the times).
# The fixtures several suites share are made once per run.
check: all $(TEST_BINS) $(MKFIXTURE)
	@rm -rf $(B)/test-fixtures $(B)/suite-times
	@$(TEST_ENV) MAKE="$(MAKE)" SANITIZE="$(SANITIZE)" B="$(B)" \
		$(WITH_URING) tests/check.sh

check-unit: $(UNIT_BIN)
	@$(SUITE) unit sh -c 'set -e; for t in $(UNIT_BIN); do \
		echo "== $$t"; $$t --jobs 2; done'

check-cli: all
	@$(SUITE) cli $(BATS) tests/cli

# bats-lint (the project's shared tool, ../shared/tools/ beside the clone,
# as CI lays it out): no `! cmd` that cannot fail.
BATS_LINT ?= $(abspath $(CURDIR)/../shared/tools/bats-lint)
check-lint:
	@$(SUITE) --needs bats-lint bats-lint $(BATS_LINT)

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
	@$(SUITE) fuzz sh -c 'set -e; for t in $(FUZZ_TARGETS); do \
		$(B)/fuzz/replay-$$t tests/fuzz/corpus/$$t; done'

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

# Mount tests: real FUSE mounts through the binary of this build.  The
# fixture writer is a test tool, not castore: every pass uses the plain
# build's (under ASan its 5,000 transactions took 22 s instead of 4; the
# library code it runs is what every sanitized import runs).
MKFIXTURE = build/tests/mkfixture
ifeq ($(B),build)
build/tests/mkfixture: tests/fuse/mkfixture.c $(LIB)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(TEST_CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LIBS)
else
build/tests/mkfixture: FORCE
	$(Q)$(MAKE) --no-print-directory SANITIZE= B=build build/tests/mkfixture
FORCE:
.PHONY: FORCE
endif

# FUSE over io_uring is off unless the kernel's fuse module is told
# otherwise: `make check` turns it on for the whole run (tests/with-uring.sh,
# which fails in CI where it cannot) and covers /dev/fuse with --no-uring;
# a single suite's target does the same for its own run.
WITH_URING = $(CURDIR)/tests/with-uring.sh

# The mount suite runs once per mode: the default (io_uring, passthrough);
# reads served by the daemon; no OPEN round trips; and the /dev/fuse paths
# of kernels that keep io_uring off, spliced and passed through.  A mode
# is its options without their dashes, joined by "+".  Two tags spare
# what a mode would only repeat: "mode-independent" tests (they mount with
# options of their own) run in the first mode only; "no-reads" tests (they
# read no file through the mount, so only the transport matters to them)
# in the first mode and in the first /dev/fuse mode.  Under the
# sanitizers three modes run every C path of the five: io_uring with
# passthrough, io_uring with daemon reads and no OPEN, /dev/fuse with
# spliced reads.
ifeq ($(SANITIZE),)
FUSE_MODES = default no-passthrough no-open no-uring+no-passthrough no-uring
else
FUSE_MODES = default no-open no-uring+no-passthrough
endif
FUSE_FIRST_MODE = $(firstword $(FUSE_MODES))
FUSE_FIRST_DEVFUSE_MODE = $(firstword $(filter no-uring%,$(FUSE_MODES)))
# fuse_tags MODE: bats' tag filter for a mode
fuse_tags = $(if $(filter $(1),$(FUSE_FIRST_MODE)),,$(if $(filter $(1),$(FUSE_FIRST_DEVFUSE_MODE)),--filter-tags !mode-independent,--filter-tags !mode-independent,!no-reads))
# The substituter suite: over io_uring and through /dev/fuse (once under
# the sanitizers: the transport's C paths are the mount suite's).
ifeq ($(SANITIZE),)
NET_MODES = default no-uring
else
NET_MODES = no-uring
endif
# mode_args MODE: the mount options of a mode, in a recipe's shell
mode_args = $$(echo "$(1)" | sed 's/^default$$//; s/^/--/; s/+/ --/g; s/^--$$//')

check-fuse: all $(MKFIXTURE)
	@set -e; for m in $(FUSE_MODES); do \
		$(MAKE) --no-print-directory check-fuse-$$m; \
	done
# check-fuse-MODE: the mount suite in one mode
check-fuse-%: all $(MKFIXTURE)
	@CASTORE_MOUNT_ARGS="$(call mode_args,$*)" $(USUITE) --needs root,fuse \
		"fuse $*" $(BATS) $(call fuse_tags,$*) tests/fuse

check-net: all
	@set -e; for m in $(NET_MODES); do \
		$(MAKE) --no-print-directory check-net-$$m; \
	done
check-net-%: all
	@CASTORE_MOUNT_ARGS="$(call mode_args,$*)" $(USUITE) --needs root,fuse,nginx \
		"net $*" $(BATS) tests/net

# Roots, gc, delete and the cache quota (tests/gc), on closures Nix builds
# and a real nginx serves; once (the quota's mount in the default mode).
check-gc: all
	@$(USUITE) --needs root,fuse,nginx gc $(BATS) tests/gc

# Attacks and accidents (tests/hardening): damaged stores, hostile caches
# served by a test server on loopback, abused mounts.  Once, in the
# default mount mode.  The bit-flip test runs a third of its cases under
# the sanitizers (each run is a process start).
check-hardening: all
	@FLIP_CASES=$(if $(SANITIZE),100,300) $(USUITE) --needs root,fuse \
		hardening $(BATS) tests/hardening

# castore virtiofs seen from a real guest (tests/vm): QEMU under TCG boots
# Debian's kernel (downloaded once into $(VM_CACHE)) with an initramfs
# of busybox and this static probe.  The probe runs in the guest: no
# sanitizers (they do not link statically).
$(B)/tests/guest-probe: tests/vm/guest-probe.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)gcc -std=gnu17 -O2 -Wall -static -o $@ $<

# A hostile vhost-user front end (tests/vm/hostile.bats): it plays QEMU
# and its guest over castore virtiofs's socket and sends what a guest
# should not.  The project's warnings, and the sanitizers of this build:
# it runs on the host.
$(B)/tests/hostile-frontend: tests/vm/hostile-frontend.c src/fs/fuse-abi.h
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS_BASE) $(WARN) -include src/base/banned.h \
		$(LDFLAGS) -o $@ $<

check-vm: all $(B)/tests/guest-probe $(B)/tests/hostile-frontend
	@$(SUITE) --needs root,qemu vm $(BATS) tests/vm

# Sharing a store (tests/serve): castore serve under real Nix (substitute,
# list, nix copy uploads), push to file://, http:// and S3 (a real Ceph
# radosgw started by the tests), s3:// substituters.
check-serve: all
	@$(USUITE) --needs root,fuse,nginx,radosgw serve $(BATS) tests/serve

# The kernel mount (tests/kernel): castore's EROFS image under overlayfs,
# against the sources and the FUSE mount; needs root and a kernel with
# EROFS and overlayfs data-only layers (Linux >= 6.5).
check-kernel: all $(MKFIXTURE)
	@$(USUITE) --needs root,fuse kernel $(BATS) tests/kernel

# Planted sanitizer findings must fail the tests (tests/plant/): only a
# sanitizer build has them.
check-plants: all $(MKFIXTURE)
ifeq ($(SANITIZE),)
	@echo "check-plants: only in a sanitizer build (make check-plants SANITIZE=address,undefined)"
else
	@$(USUITE) --needs root,fuse plants tests/plant/check-plants.sh
endif

.PHONY: check check-bins check-unit check-fuzz check-cli check-lint check-fuse check-net \
	check-gc check-hardening check-vm check-serve check-kernel check-plants

bench-import: all
	bench/import.sh

.PHONY: bench-import

bench: all
	bench/run-all.sh

# castore virtiofs vs QEMU's virtiofsd and 9p, in one guest (bench/vm.sh)
bench-vm: all $(B)/tests/guest-probe
	VM_PROBE=$(CURDIR)/$(B)/tests/guest-probe bench/vm.sh

.PHONY: bench bench-vm

# castore -- GNU Make, non-recursive.
#
#   make                      build ./castore
#   make check                unit, golden, oracle, fuzz-replay and mount tests
#   make check SANITIZE=address,undefined
#   make fuzz                 run each libFuzzer target for FUZZ_SECONDS
#   make bench-import         castore import vs nix-store --add
#   V=1 verbose, DEVELOPER=1 adds -Werror
#
# Build products go to $(B) (build/ by default, build-<sanitizers>/ when
# SANITIZE is set, so both builds can coexist).

SANITIZE ?=
ifeq ($(SANITIZE),)
B ?= build
else
B ?= build-$(subst $(comma),-,$(SANITIZE))
endif
comma := ,

CC ?= cc
PKG_CONFIG ?= pkg-config
BLAKE3_DIR ?= $(firstword $(wildcard /usr/share/cargo/registry/blake3-*/c))
ifeq ($(BLAKE3_DIR),)
$(error BLAKE3 C sources not found: install librust-blake3-dev (scripts/setup.sh))
endif

WARN = -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wmissing-declarations -Wpointer-arith \
	-Wwrite-strings -Wvla -Wundef -fno-common
ifeq ($(DEVELOPER),1)
WARN += -Werror
endif

OPT ?= -O2 -g
FUSE_CFLAGS := $(shell $(PKG_CONFIG) --cflags fuse3 2>/dev/null)
FUSE_LIBS := $(shell $(PKG_CONFIG) --libs fuse3 2>/dev/null)
CPPFLAGS += -D_GNU_SOURCE -DFUSE_USE_VERSION=312 -Isrc -I$(B)/gen -I$(BLAKE3_DIR)
CFLAGS_BASE = -std=gnu17 $(OPT) -fno-strict-aliasing -pthread $(EXTRA_CFLAGS)
LIBS = -lmicrohttpd -llmdb -lprotobuf-c -lcrypto -lcurl -llzma -lzstd -lbz2 -lz -lbrotlidec $(FUSE_LIBS) -luring -pthread
LDFLAGS += $(EXTRA_LDFLAGS)

# sanitizer builds are test builds: they carry the planted findings that
# prove the tests see a report (src/cli/test-plant.c, tests/plant/)
ifneq ($(SANITIZE),)
CFLAGS_BASE += -fsanitize=$(SANITIZE) -fno-sanitize-recover=$(SANITIZE) \
	-fno-omit-frame-pointer -DCASTORE_TEST_PLANTS
LDFLAGS += -fsanitize=$(SANITIZE)
endif

ifeq ($(V),1)
Q =
else
Q = @
endif

PROTOS = castore pathinfo
GEN_C = $(PROTOS:%=$(B)/gen/%.pb-c.c)
GEN_H = $(PROTOS:%=$(B)/gen/%.pb-c.h)

LAYERS = base hash castore store nar ingest image vhost fs net
LIB_SRC = $(foreach l,$(LAYERS),$(wildcard src/$(l)/*.c src/$(l)/*/*.c))
LIB_OBJ = $(LIB_SRC:src/%.c=$(B)/obj/%.o) $(PROTOS:%=$(B)/obj/gen/%.pb-c.o)

BLAKE3_C = blake3.c blake3_dispatch.c blake3_portable.c
BLAKE3_S = blake3_sse2_x86-64_unix.S blake3_sse41_x86-64_unix.S \
	blake3_avx2_x86-64_unix.S blake3_avx512_x86-64_unix.S
BLAKE3_OBJ = $(BLAKE3_C:%.c=$(B)/obj/blake3/%.o) $(BLAKE3_S:%.S=$(B)/obj/blake3/%.o)

CLI_SRC = $(wildcard src/cli/*.c)
CLI_OBJ = $(CLI_SRC:src/%.c=$(B)/obj/%.o)

LIB = $(B)/libcastore.a
BIN = $(B)/castore

all: castore

castore: $(BIN)
	$(Q)ln -sf $(BIN) castore

$(BIN): $(CLI_OBJ) $(LIB)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS_BASE) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(LIBS)

$(LIB): $(LIB_OBJ) $(BLAKE3_OBJ)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/gen/%.pb-c.c $(B)/gen/%.pb-c.h: proto/%.proto
	@mkdir -p $(B)/gen
	@echo "  PROTOC  $<"
	$(Q)protoc-c -Iproto --c_out=$(B)/gen $<

$(B)/obj/gen/%.pb-c.o: $(B)/gen/%.pb-c.c $(GEN_H)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS_BASE) -w -c -o $@ $<

$(B)/obj/blake3/%.o: $(BLAKE3_DIR)/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      blake3/$*.c"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS_BASE) -O3 -w -c -o $@ $<

$(B)/obj/blake3/%.o: $(BLAKE3_DIR)/%.S
	@mkdir -p $(dir $@)
	@echo "  AS      blake3/$*.S"
	$(Q)$(CC) $(CPPFLAGS) -c -o $@ $<

$(B)/obj/%.o: src/%.c $(GEN_H)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS_BASE) $(WARN) -include src/base/banned.h $(if $(findstring /fs/,$@),$(FUSE_CFLAGS)) -MMD -MP -c -o $@ $<

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)

include tests/tests.mk

# make install [PREFIX=/usr/local] [DESTDIR=]: the binary, and the mount
# helper that mount(8) runs for "-t fuse.castore" (it looks in /sbin:
# SBINDIR defaults to it).
PREFIX ?= /usr/local
SBINDIR ?= /sbin
MANDIR ?= $(PREFIX)/share/man
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions
install: $(BIN)
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/castore
	install -d $(DESTDIR)$(SBINDIR)
	ln -sf $(PREFIX)/bin/castore $(DESTDIR)$(SBINDIR)/mount.fuse.castore
	install -D -m 0644 doc/castore.1 $(DESTDIR)$(MANDIR)/man1/castore.1
	install -D -m 0644 contrib/castore.bash-completion \
		$(DESTDIR)$(COMPLETIONDIR)/castore

clean:
	rm -rf build build-* castore

.PHONY: all castore clean install
.DELETE_ON_ERROR:
# generated sources are not intermediates: keep them between builds
.SECONDARY: $(GEN_C) $(GEN_H)

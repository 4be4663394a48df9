# memectl: one Makefile, libraries through pkg-config, objects under build/.
#
#   make            build memectl, meme-worker and meme-gateway into build/
#   make test       install what the tests need, build under ASan+UBSan, run all tests
#   make run        install what it needs, build, start a local stack, make and show a meme
#   make install    PREFIX=/usr/local DESTDIR= ...
#   make format     reformat; make check-format verifies

VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1.0)
PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
MANDIR    ?= $(PREFIX)/share/man
WERROR    ?= 1
CC        ?= cc
PKG_CONFIG ?= pkg-config

# One list for compiling; each program links only what it uses (--as-needed),
# so memectl does not pay the start-up cost of libraries only the servers use.
PKGS      := libnats jansson libsixel freetype2 harfbuzz fribidi libpng libjpeg libdeflate libcrypto hiredis \
             libcurl yaml-0.1 libmicrohttpd ncursesw gnutls
TEST_PKGS := cmocka

WARN := -Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes \
        -Wformat=2 -Wno-format-truncation -Wno-unused-parameter -Wvla \
        -Wimplicit-fallthrough
ifeq ($(WERROR),1)
WARN += -Werror
endif

BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -I lib -I . $(WARN) \
               -DMEME_VERSION='"$(VERSION)"' \
               $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
LIBS := -Wl,--as-needed $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) -lpthread -lm -ldl

MODE ?= release
ifeq ($(MODE),fuzz)
# libFuzzer targets (clang): the library built for fuzzing, see `make fuzz`.
CC := clang
OUT ?= build/fuzz
MODE_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined,fuzzer-no-link \
               -Wno-unknown-warning-option \
               -fno-sanitize-recover=undefined
MODE_LDFLAGS := -fsanitize=address,undefined
else ifeq ($(MODE),tsan)
OUT ?= build/tsan
MODE_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=thread
MODE_LDFLAGS := -fsanitize=thread
else ifeq ($(MODE),valgrind)
OUT ?= build/valgrind
MODE_CFLAGS := -O1 -g -fno-omit-frame-pointer
MODE_LDFLAGS :=
else ifeq ($(MODE),test)
OUT ?= build/test
MODE_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
               -fno-sanitize-recover=undefined
MODE_LDFLAGS := -fsanitize=address,undefined
else
OUT ?= build
MODE_CFLAGS := -O2 -g
MODE_LDFLAGS :=
endif

CFLAGS  ?=
LDFLAGS ?=
ALL_CFLAGS  = $(BASE_CFLAGS) $(MODE_CFLAGS) $(CFLAGS) -MMD -MP
ALL_LDFLAGS = $(MODE_LDFLAGS) $(LDFLAGS)

LIB_SRC    := $(wildcard lib/*.c lib/*/*.c)
TUI_SRC    := $(wildcard tui/*.c)
CLI_SRC    := $(wildcard cli/*.c)
SERVER_COMMON_SRC := $(filter-out server/worker% server/gateway%,$(wildcard server/*.c))
WORKER_SRC := $(wildcard server/worker*.c) $(SERVER_COMMON_SRC)
GATEWAY_SRC := $(wildcard server/gateway*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
INTEG_SRC  := $(wildcard tests/integration/test_*.c)
HARNESS_SRC := tests/harness.c $(wildcard tests/fixtures/*.c)

LIB_OBJ    := $(LIB_SRC:%.c=$(OUT)/obj/%.o)
TUI_OBJ    := $(TUI_SRC:%.c=$(OUT)/obj/%.o)
CLI_OBJ    := $(CLI_SRC:%.c=$(OUT)/obj/%.o)
WORKER_OBJ := $(WORKER_SRC:%.c=$(OUT)/obj/%.o)
# The web page's files, compiled into meme-gateway (scripts/embed-assets).
PAGE_FILES := $(sort $(wildcard server/page/*))
GATEWAY_OBJ := $(GATEWAY_SRC:%.c=$(OUT)/obj/%.o) $(SERVER_COMMON_SRC:%.c=$(OUT)/obj/%.o) \
               $(OUT)/obj/gen/gateway_assets.o
HARNESS_OBJ := $(HARNESS_SRC:%.c=$(OUT)/obj/%.o)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(OUT)/tests/%)
INTEG_BIN  := $(INTEG_SRC:tests/integration/%.c=$(OUT)/tests/%)

LIBMEME := $(OUT)/libmeme.a
LIBTUI  := $(OUT)/libtui.a
MEMECTL := $(OUT)/memectl
WORKER  := $(OUT)/meme-worker
GATEWAY := $(if $(GATEWAY_SRC),$(OUT)/meme-gateway)

.PHONY: all build test unit integration run install uninstall clean format check-format deps \
        check-deps bench deps-bench screenshots fuzz fuzz-smoke fuzz-build deps-fuzz valgrind tsan images

all: build

build: $(MEMECTL) $(WORKER) $(GATEWAY)

$(OUT)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(OUT)/gen/gateway_assets.c: $(PAGE_FILES) scripts/embed-assets
	@mkdir -p $(dir $@)
	scripts/embed-assets $@ $(PAGE_FILES)

$(OUT)/obj/gen/gateway_assets.o: $(OUT)/gen/gateway_assets.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBMEME): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

# The dashboard (tui/) is an archive of its own: memectl and the tests link it.
$(LIBTUI): $(TUI_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(MEMECTL): $(CLI_OBJ) $(LIBTUI) $(LIBMEME)
	$(CC) $(ALL_LDFLAGS) -o $@ $(CLI_OBJ) $(LIBTUI) $(LIBMEME) $(LIBS)

$(WORKER): $(WORKER_OBJ) $(LIBMEME)
	$(CC) $(ALL_LDFLAGS) -o $@ $(WORKER_OBJ) $(LIBMEME) $(LIBS)

$(OUT)/meme-gateway: $(GATEWAY_OBJ) $(LIBMEME)
	$(CC) $(ALL_LDFLAGS) -o $@ $(GATEWAY_OBJ) $(LIBMEME) $(LIBS)

$(OUT)/tests/%: tests/unit/%.c $(LIBTUI) $(LIBMEME)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -I tests $(ALL_LDFLAGS) -o $@ $< $(LIBTUI) $(LIBMEME) \
	    $(LIBS) $(shell $(PKG_CONFIG) --libs $(TEST_PKGS))

$(OUT)/tests/%: tests/integration/%.c $(HARNESS_OBJ) $(LIBMEME)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -I tests $(ALL_LDFLAGS) -o $@ $< $(HARNESS_OBJ) $(LIBMEME) \
	    $(LIBS) $(shell $(PKG_CONFIG) --libs $(TEST_PKGS))

# The whole suite: dependencies, a sanitizer build, unit then integration tests.
# OUT_TEST=DIR builds and runs the tests in another directory (parallel checkouts).
OUT_TEST ?= build/test

JOBS ?= $(shell nproc 2>/dev/null || echo 2)

test: deps
	$(MAKE) -j$(JOBS) MODE=test OUT=$(OUT_TEST) test-build
	scripts/run-tests $(OUT_TEST)

test-build: $(MEMECTL) $(WORKER) $(GATEWAY) $(UNIT_BIN) $(INTEG_BIN)

unit:
	$(MAKE) MODE=test OUT=$(OUT_TEST) test-build
	scripts/run-tests --unit $(OUT_TEST)

integration:
	$(MAKE) MODE=test OUT=$(OUT_TEST) test-build
	scripts/run-tests --integration $(OUT_TEST)

# The benchmark suite: side-by-side figures written to docs/benchmarks.md
# (the container images too, built first, where a Docker engine answers).
bench: deps-bench
	$(MAKE) build $(OUT)/memebench
	if $(DOCKER) info >/dev/null 2>&1; then $(MAKE) images; fi
	$(OUT)/memebench --out docs/benchmarks.md

$(OUT)/memebench: bench/bench.c $(HARNESS_OBJ) $(LIBMEME)
	$(CC) $(ALL_CFLAGS) -I tests $(ALL_LDFLAGS) -o $@ $< $(HARNESS_OBJ) $(LIBMEME) $(LIBS)

deps-bench:
	scripts/install-deps --bench

# docs/img/terminal-*.png: a meme in xterm -ti vt340 (sixel) and in kitty,
# on a virtual screen (scripts/screenshot), from a local stack of its own
# (on ports of its own, beside a stack that may be running).
SHOT_STATE := build/screenshots
screenshots: build
	scripts/install-deps --x11
	MEMECTL_STATE_DIR=$(CURDIR)/$(SHOT_STATE) $(MEMECTL) up --workers 1 \
	    --nats-port 14322 --monitor-port 18322 --redis-port 16479
	MEMECTL_STATE_DIR=$(CURDIR)/$(SHOT_STATE) scripts/screenshot xterm \
	    docs/img/terminal-xterm-sixel.png $(MEMECTL) gen -t night-sky -o $(SHOT_STATE)/xterm.png \
	    "one does not simply | draw sixel in xterm"; \
	MEMECTL_STATE_DIR=$(CURDIR)/$(SHOT_STATE) scripts/screenshot kitty \
	    docs/img/terminal-kitty.png $(MEMECTL) gen -t advice-wheel -o $(SHOT_STATE)/kitty.png \
	    "kitty graphics | through memectl"; \
	MEMECTL_STATE_DIR=$(CURDIR)/$(SHOT_STATE) $(MEMECTL) down

# Fuzzing: every tests/fuzz/fuzz_*.c for FUZZ_SECONDS each, starting from its
# seed corpus in tests/fuzz/corpus/NAME; new inputs and crashes go under
# build/fuzz/. fuzz-smoke is the short run CI does.
FUZZ_SECONDS ?= 60
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/bin/%)

fuzz: deps-fuzz
	$(MAKE) MODE=fuzz fuzz-build
	scripts/run-fuzz $(FUZZ_SECONDS) $(FUZZ_SRC:tests/fuzz/%.c=%)

fuzz-smoke: deps-fuzz
	$(MAKE) MODE=fuzz fuzz-build
	scripts/run-fuzz 10 $(FUZZ_SRC:tests/fuzz/%.c=%)

fuzz-build: $(FUZZ_BIN)

deps-fuzz:
	scripts/install-deps --fuzz

build/fuzz/bin/%: tests/fuzz/%.c $(LIBTUI) $(LIBMEME)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer $(ALL_LDFLAGS) -o $@ $< $(LIBTUI) $(LIBMEME) $(LIBS)

# The end-to-end tests with every memectl and meme-worker they start under
# valgrind (a build without sanitizers; leaks and invalid accesses fail).
valgrind:
	@command -v valgrind >/dev/null || { echo "make valgrind needs valgrind: apt-get install valgrind"; exit 1; }
	$(MAKE) MODE=valgrind OUT=build/valgrind test-build
	rm -rf build/valgrind/reports && mkdir -p build/valgrind/reports
	MEME_VALGRIND=1 MEME_VALGRIND_LOGS=$(CURDIR)/build/valgrind/reports \
	    scripts/run-tests --integration build/valgrind test_gen test_legacy
	@if find build/valgrind/reports -type f -size +0 | grep -q .; then \
	    find build/valgrind/reports -type f -size +0 -exec cat {} +; \
	    echo "valgrind found errors (above)"; exit 1; \
	else echo "valgrind: no errors in $$(ls build/valgrind/reports | wc -l) processes"; fi

# The worker's threads under ThreadSanitizer.
tsan:
	$(MAKE) MODE=tsan OUT=build/tsan test-build
	rm -rf build/tsan/reports && mkdir -p build/tsan/reports
	TSAN_OPTIONS="log_path=$(CURDIR)/build/tsan/reports/race suppressions=$(CURDIR)/tests/tsan.supp" \
	    scripts/run-tests --integration build/tsan test_gen test_bench test_gateway
	@if ls build/tsan/reports/race.* >/dev/null 2>&1; then \
	    cat build/tsan/reports/race.*; echo "ThreadSanitizer found races (above)"; exit 1; \
	else echo "ThreadSanitizer: no reports"; fi

run: deps
	$(MAKE) build
	scripts/run-demo build

deps:
	scripts/install-deps

check-deps:
	scripts/install-deps --check

# Container images of meme-worker and meme-gateway (docker/*.Dockerfile):
# FROM scratch runtime images of the binary, its libraries and data files.
# Their build stage starts from the official debian:bookworm where a
# registry answers, else from a Debian made here from Debian's packages
# (scripts/image-base, cached under build/images/). The build stage reaches
# the Debian mirror as apt on this machine does (--network host). It is
# kept as meme-build:cache (the next build reuses its packages); what
# earlier builds left untagged (build stages, replaced images) is pruned.
# DOCKER=podman works too; the k8s/overlays/local overlay expects tag dev.
DOCKER    ?= docker
IMAGE_TAG ?= dev
IMAGE_PREFIX ?=
# OCI labels: where the source lives (without any credentials in the URL)
# and its licence (SPDX; NOASSERTION until the project states one).
IMAGE_SOURCE ?= $(shell git config --get remote.origin.url 2>/dev/null | sed 's,://[^/@]*@,://,')
IMAGE_REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
IMAGE_LICENSES ?= NOASSERTION
images:
	@command -v $(DOCKER) >/dev/null 2>&1 || { echo "make images: \"$(DOCKER)\" is not installed; install Docker (scripts/install-deps --images) or set DOCKER=podman" >&2; exit 1; }
	@$(DOCKER) info >/dev/null 2>&1 || { echo "make images: no container engine answers (is the Docker daemon running, and may you use it?)" >&2; exit 1; }
	@base=$$(scripts/image-base $(DOCKER)) || exit 1; \
	echo "$(DOCKER) build -f docker/worker.Dockerfile --target build --build-arg BASE_IMAGE=$$base -t meme-build:cache ."; \
	$(DOCKER) build --network host -f docker/worker.Dockerfile --target build \
	    --build-arg BASE_IMAGE="$$base" --build-arg VERSION="$(VERSION)" -t meme-build:cache . || exit 1; \
	for name in worker gateway; do \
	    tag=$(IMAGE_PREFIX)meme-$$name:$(IMAGE_TAG); \
	    echo "$(DOCKER) build -f docker/$$name.Dockerfile --build-arg BASE_IMAGE=$$base -t $$tag ."; \
	    $(DOCKER) build --network host -f docker/$$name.Dockerfile \
	        --build-arg BASE_IMAGE="$$base" --build-arg VERSION="$(VERSION)" \
	        --build-arg SOURCE="$(IMAGE_SOURCE)" --build-arg REVISION="$(IMAGE_REVISION)" \
	        --build-arg LICENSES="$(IMAGE_LICENSES)" -t "$$tag" . || exit 1; \
	    echo "$$tag: $$($(DOCKER) image inspect -f '{{.Size}}' "$$tag" | awk '{ printf "%.1f MB", $$1 / 1e6 }')"; \
	done; \
	$(DOCKER) image prune -f --filter label=org.memectl.stage >/dev/null

install: build
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(MEMECTL) $(WORKER) $(GATEWAY) $(DESTDIR)$(BINDIR)/
	for s in 1 5 7 8; do \
	    install -d $(DESTDIR)$(MANDIR)/man$$s; \
	    for m in man/*.$$s; do [ ! -f "$$m" ] || install -m 0644 "$$m" $(DESTDIR)$(MANDIR)/man$$s/; done; \
	done
	# the manifests `memectl up --autoscale` and `memectl simulate` take their numbers from
	install -d $(DESTDIR)$(PREFIX)/share/memectl/k8s/base/worker \
	    $(DESTDIR)$(PREFIX)/share/memectl/k8s/base/gateway
	install -m 0644 k8s/base/worker/scaledobject.yaml \
	    $(DESTDIR)$(PREFIX)/share/memectl/k8s/base/worker/scaledobject.yaml
	install -m 0644 k8s/base/gateway/hpa.yaml $(DESTDIR)$(PREFIX)/share/memectl/k8s/base/gateway/hpa.yaml
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	    $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions \
	    $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	install -m 0644 completions/memectl.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/memectl
	install -m 0644 completions/_memectl $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions/_memectl
	install -m 0644 completions/memectl.fish \
	    $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/memectl.fish

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/memectl $(DESTDIR)$(BINDIR)/meme-worker $(DESTDIR)$(BINDIR)/meme-gateway
	rm -f $(DESTDIR)$(MANDIR)/man1/memectl*.1 $(DESTDIR)$(MANDIR)/man5/memectl.conf.5 \
	    $(DESTDIR)$(MANDIR)/man7/memectl-protocol.7 $(DESTDIR)$(MANDIR)/man8/meme-worker.8 \
	    $(DESTDIR)$(MANDIR)/man8/meme-gateway.8
	rm -rf $(DESTDIR)$(PREFIX)/share/memectl
	rm -f $(DESTDIR)$(PREFIX)/share/bash-completion/completions/memectl \
	    $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions/_memectl \
	    $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/memectl.fish

SRC_ALL := $(wildcard lib/*.[ch] lib/*/*.[ch] cli/*.[ch] tui/*.[ch] server/*.[ch] tests/*.[ch] tests/*/*.[ch] \
           bench/*.[ch])
format:
	clang-format -i $(SRC_ALL)
check-format:
	clang-format --dry-run -Werror $(SRC_ALL)

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)

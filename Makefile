# authd — build, try and test. Two commands do all the set-up on a fresh Debian machine with the
# Swift toolchain: `make run` and `make test`.

SWIFT   ?= swift
PYTHON  ?= python3
SUDO    := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
# Debian packages the build and the tests need.
APT_PACKAGES := python3 python3-pip ca-certificates pkg-config libsystemd-dev libsqlite3-dev libargon2-dev systemd procps binutils dpkg util-linux bsdutils curl postgresql-15 iproute2 nginx-light caddy prometheus python3-venv debootstrap systemd-container man-db groff-base gzip
BIN_DIR  = $(shell $(SWIFT) build --show-bin-path)

.PHONY: all deps build test run demo deb install bench bench-compare bench-fleet soak fuzz clean

all: build

## deps: install missing Debian packages and the Python test dependency (PyJWT)
deps:
	@missing=""; for pkg in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q "ok installed" || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@$(PYTHON) -c 'import jwt, cryptography' 2>/dev/null || \
		$(PYTHON) -m pip install --quiet --disable-pip-version-check --root-user-action=ignore 'PyJWT>=2.8' cryptography || \
		$(PYTHON) -m pip install --quiet --disable-pip-version-check --break-system-packages 'PyJWT>=2.8' cryptography

## build: debug build of everything
build: deps
	$(SWIFT) build

## test: the whole suite — Swift unit and integration tests (systemd units, socket activation,
## the journal), interoperability with PyJWT, then the Debian package built and checked. Every
## stage runs; a summary at the end names the ones that failed.
test: build
	SWIFT="$(SWIFT)" PYTHON="$(PYTHON)" AUTHD_BIN_DIR="$(BIN_DIR)" Tests/run-stages.sh

## demo: the seed tutorial's story (login, /protected, /admin) against the real daemon, with authctl
## and then over HTTP through the example service in Examples/ProtectedService
demo: build
	AUTHD_BIN_DIR="$(BIN_DIR)" Examples/demo.sh

## bench: `authctl bench` against a release authd started for the occasion (OP=verify-hot by default)
RELEASE_DIR = $(shell $(SWIFT) build -c release --show-bin-path)
# How the shipped binaries are built (the .deb and `make install`: the Swift runtime linked
# statically). The benchmarks measure the same build, which is also the one valgrind can run.
SHIPPED_BUILD = $(SWIFT) build -c release --static-swift-stdlib -Xswiftc -use-ld=lld
OP ?= verify-hot
bench: deps
	$(SHIPPED_BUILD) --product authd
	$(SHIPPED_BUILD) --product authctl
	@dir=$$(mktemp -d /tmp/authd-bench-XXXXXX); \
	"$(RELEASE_DIR)/authd" --socket $$dir/authd.sock --state-dir $$dir/state --config /dev/null 2>$$dir/authd.log & pid=$$!; \
	for i in $$(seq 200); do [ -S $$dir/authd.sock ] && break; sleep 0.05; done; \
	"$(RELEASE_DIR)/authctl" --socket $$dir/authd.sock bench --op $(OP) $(BENCH_ARGS); status=$$?; \
	kill -TERM $$pid; wait $$pid; rm -rf $$dir; exit $$status

## bench-compare: authd against MUNGE and the FastAPI + PyJWT stack, and against the targets of
## issue #6; single-request latency against a C echo server and instructions per op under
## callgrind (issue #16) (a benchmark, not a test: not part of `make test`). ROUNDS=2 DURATION=5
## by default; ONLY=http|python|latency|issue|denylist|instructions runs those rows alone.
bench-compare: deps
	@missing=""; for pkg in munge wrk valgrind gcc; do dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q "ok installed" || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi
	@$(PYTHON) -c 'import fastapi, uvicorn, uvloop, httptools, jwt' 2>/dev/null || \
		$(PYTHON) -m pip install --quiet --disable-pip-version-check --root-user-action=ignore fastapi 'uvicorn[standard]' uvloop httptools PyJWT || \
		$(PYTHON) -m pip install --quiet --disable-pip-version-check --break-system-packages fastapi 'uvicorn[standard]' uvloop httptools PyJWT
	$(SHIPPED_BUILD) --product authd
	$(SHIPPED_BUILD) --product authctl
	$(SHIPPED_BUILD) --product authd-crypto-baseline
	BIN_DIR="$(RELEASE_DIR)" $(PYTHON) Benchmarks/compare.py

## bench-fleet: NODES (5) authd nodes on one PostgreSQL 15 started for the occasion: how long a
## revocation takes to reach every other node, revoke throughput through PostgreSQL, hot verify on a
## fleet node against a single-host node (a benchmark, not a test). NODES=20 for the scale figure.
bench-fleet: deps
	$(SHIPPED_BUILD) --product authd
	$(SHIPPED_BUILD) --product authctl
	BIN_DIR="$(RELEASE_DIR)" $(PYTHON) Benchmarks/fleet.py

## soak: 64 clients with a realistic mix while authd is SIGKILLed every 30 s, for SOAK_SECONDS
## (600 by default); `make test` runs a 1-minute version of the same test (a kill every 15 s)
SOAK_SECONDS ?= 600
soak: build
	AUTHD_BIN_DIR="$(BIN_DIR)" AUTHD_SOAK_SECONDS=$(SOAK_SECONDS) AUTHD_SOAK_KILL_EVERY=30 $(SWIFT) test --disable-xctest --filter SoakTests

## fuzz: libFuzzer (with AddressSanitizer) on the request-line decoder and parsers, the HTTP face's head reader, the strict token
## verifier and the config reader, FUZZ_SECONDS each (60); new crashes land in Fuzz/corpus/<target>/,
## which `make test` replays. Builds in .build-fuzz, apart from the ordinary build.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := request-line:RequestLine token:Token config:Config http-head:HTTPHead
fuzz: deps
	@for pair in $(FUZZ_TARGETS); do \
		AUTHD_FUZZ=1 $(SWIFT) build --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld --product Fuzz$${pair#*:} || exit 1; \
	done
	@bin=$$(AUTHD_FUZZ=1 $(SWIFT) build --scratch-path .build-fuzz --show-bin-path); \
	for pair in $(FUZZ_TARGETS); do \
		corpus=$${pair%%:*}; mkdir -p .build-fuzz/work/$$corpus; \
		echo "fuzzing $$corpus for $(FUZZ_SECONDS) s"; \
		"$$bin/Fuzz$${pair#*:}" -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			-artifact_prefix=Fuzz/corpus/$$corpus/ .build-fuzz/work/$$corpus Fuzz/corpus/$$corpus || exit 1; \
	done

## deb: build authd_<version>_<arch>.deb here (release binaries, Swift runtime linked statically)
deb: deps
	packaging/debian/build-deb.sh .

## install: release binaries (Swift runtime linked statically), units, man pages and completions
## under DESTDIR/PREFIX (default /usr/local); the configuration goes to SYSCONFDIR/authd (default
## /etc) unless one is there. The .deb installs the same files under /usr.
PREFIX     ?= /usr/local
SYSCONFDIR ?= /etc
install: deps
	$(SHIPPED_BUILD) --product authd
	$(SHIPPED_BUILD) --product authctl
	$(SHIPPED_BUILD) --product generate-manual
	@man=$$(mktemp -d); trap 'rm -rf "$$man"' EXIT; \
	packaging/man/build.sh "$(RELEASE_DIR)" "$$man" && \
	DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" SYSCONFDIR="$(SYSCONFDIR)" STRIP=1 packaging/install.sh "$(RELEASE_DIR)" "$$man"
	@if [ -z "$(DESTDIR)" ]; then \
		echo "installed under $(PREFIX). To start it:"; \
		echo "  systemd-sysusers $(PREFIX)/lib/sysusers.d/authd.conf"; \
		echo "  systemd-tmpfiles --create $(PREFIX)/lib/tmpfiles.d/authd.conf"; \
		echo "  systemctl daemon-reload && systemctl enable --now authd.socket"; \
	fi

## run: build and start authd in dev mode in the foreground (Ctrl-C stops it), after printing the
## commands to try in another terminal (Examples/quickstart.txt, which the README shows too)
run: build
	@echo
	@echo "authd is starting in dev mode: socket and keys under $(CURDIR)/.authd-dev"
	@echo "In another terminal (bash or zsh), try:"
	@echo
	@sed -e 's#@DEV_DIR@#$(CURDIR)/.authd-dev#' -e 's#@BIN_DIR@#$(BIN_DIR)#' -e 's/^/  /' Examples/quickstart.txt
	@echo
	@exec $(BIN_DIR)/authd --dev

clean:
	rm -rf .build .build-fuzz .authd-dev authd_*.deb

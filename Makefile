# PromptGate — build, run and test. Every target installs the apt packages it needs first.
SWIFT       ?= swift
APT_PACKAGES = libpcre2-dev libicu-dev libcurl4-openssl-dev libsqlite3-dev pkg-config postgresql
SUDO        := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BIN          = .build/debug/promptgate

.PHONY: bench-store deps build run install demo test lint format bench bench-http bench-dispatch bench-gateways clean

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing apt packages:$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@# The webhook tests check signatures with the Standard Webhooks reference verifier (PyPI); the article's
	@# batch client (examples/article_client.py, run by a test) uses aiohttp.
	@python3 -c 'import standardwebhooks' 2>/dev/null || python3 -m pip install -q standardwebhooks \
		|| python3 -m pip install -q --break-system-packages standardwebhooks
	@python3 -c 'import aiohttp' 2>/dev/null || python3 -m pip install -q aiohttp \
		|| python3 -m pip install -q --break-system-packages aiohttp

build: deps
	$(SWIFT) build

# The main job on the bundled defaults: ComfySim (a ComfyUI stand-in, 2 s per image) on 127.0.0.1:8188 and the
# HTTP server on 127.0.0.1:8000 in front of it; the server prints curl commands to try. `CONFIG=file.yaml` runs
# the server with that configuration. Ctrl-C, or killing `make`, stops both: the server stops when make goes,
# the simulator when the server goes (--exit-with-parent).
CONFIG ?=
run: build
	@$(BIN) comfy-sim --port 8188 --run-seconds 2 --exit-with-parent & \
	exec $(BIN) serve --exit-with-parent $(if $(CONFIG),--config "$(CONFIG)")

# Installs the release binary (rules, presets and workflows are built in) as $(PREFIX)/bin/promptgate.
PREFIX ?= /usr/local
install: deps
	$(SWIFT) build -c release
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 .build/release/promptgate $(DESTDIR)$(PREFIX)/bin/promptgate

# The Unix filter over the example prompts with the default preset (exit 1 = something was blocked).
demo: build
	$(BIN) filter --preset default < examples/prompts.txt; status=$$?; [ $$status -le 1 ] || exit $$status

test: deps lint
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	$(BIN) rules test
	$(BIN) presets test

# The house style (.swift-format): 4 spaces, 120 columns, `///` on every public declaration. `make format` fixes
# what can be fixed mechanically.
lint:
	$(SWIFT) format lint --strict --recursive Sources Tests Package.swift

format:
	$(SWIFT) format --in-place --recursive Sources Tests Package.swift

# Release-mode filter benchmark over a generated prompt log of 100,000 JSONL lines: CPU per stage, then
# `promptgate filter` end to end against a naive Python loop and pyahocorasick, then the pack-size curve.
bench: deps
	$(SWIFT) build -c release
	@python3 -c 'import ahocorasick' 2>/dev/null || python3 -m pip install -q pyahocorasick \
		|| python3 -m pip install -q --break-system-packages pyahocorasick || true
	.build/release/promptgate bench --baseline --pack-sizes 10 100 1000 10000

# HTTP load test with wrk on loopback (release build, rate limit off): /health and /api/v1/moderate on `serve`
# and on a bare Hummingbird hello world (`promptgate bench-floor`), alternating, with server CPU a request.
bench-http: deps
	$(SWIFT) build -c release
	@command -v wrk >/dev/null || $(SUDO) apt-get install -y -qq wrk
	./Benchmarks/bench-http.sh

# Dispatcher overhead (generate round trip vs. straight to ComfySim) and queue throughput to four simulators.
bench-dispatch: deps
	$(SWIFT) build -c release
	.build/release/promptgate bench-dispatch

bench-store: deps
	$(SWIFT) build -c release
	.build/release/promptgate bench-store

# Several gateways on one private PostgreSQL server: tasks/s for 1 vs 3 gateways (SQLite baseline), claim latency,
# and the shared rate limit's cost on /api/v1/moderate (wrk).
bench-gateways: deps
	$(SWIFT) build -c release
	@command -v wrk >/dev/null || $(SUDO) apt-get install -y -qq wrk
	@command -v bc >/dev/null || $(SUDO) apt-get install -y -qq bc
	./Benchmarks/bench-gateways.sh

clean:
	rm -rf .build

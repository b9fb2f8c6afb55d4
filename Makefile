# PromptGate — build, run and test. Every target installs the apt packages it needs first.
SWIFT       ?= swift
APT_PACKAGES = libpcre2-dev libicu-dev pkg-config
SUDO        := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BIN          = .build/debug/promptgate

.PHONY: deps build run test bench clean

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing apt packages:$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build

# The main job on the bundled defaults: policy and the default preset's optimizers over the example prompts
# (exit 1 = something was blocked).
run: build
	$(BIN) filter --preset default < examples/prompts.txt; status=$$?; [ $$status -le 1 ] || exit $$status

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	$(BIN) rules test
	$(BIN) presets test

# Release-mode throughput benchmark over a generated corpus of 100,000 prompts.
bench: deps
	$(SWIFT) build -c release
	.build/release/promptgate bench

clean:
	rm -rf .build

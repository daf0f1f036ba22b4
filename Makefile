# The two commands: `make up` runs topis on the embedded defaults, `make test` runs every test.
# Each does its own set-up, idempotently (virtual environment, install, Debian packages for tests).

VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
APT_PACKAGES := chromium chromium-driver postgresql
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: up test setup system-deps clean

up: setup
	$(VENV)/bin/topis up

# The kernel tests run twice: compiled, and with NUMBA_DISABLE_JIT=1 so the kernel bodies run as plain
# Python (errors Numba would hide, and coverage of the bodies).
test: setup system-deps
	$(VENV)/bin/pytest
	NUMBA_DISABLE_JIT=1 $(VENV)/bin/pytest -m kernels -q

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check uv
	$(VENV)/bin/uv pip install -q --python $(PY) -e '.[test]'
	touch $(STAMP)

# Debian's Chromium + ChromeDriver (browser tests) and PostgreSQL (case-store tests), when missing.
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

clean:
	rm -rf $(VENV) .topis .pytest_cache

# kmeminit developer entry points.  `make demo` and `make test` work on a fresh machine:
# they create .venv and install everything the project needs into it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
EXAMPLE := examples/minikernel

.PHONY: demo test browser lint fuzz bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	# the wheel test installs kmeminit beside sarif-tools (a top-level `sarif` package)
	$(BIN)/python -m pip download -q --no-deps -d $(VENV)/wheels sarif-tools==3.0.5
	rm -f $(VENV)/.installed-*
	touch $@

demo: $(STAMP)
	$(BIN)/python $(EXAMPLE)/gen_compdb.py
	mkdir -p out
	$(BIN)/kmeminit check -p $(EXAMPLE) --fail-on none
	$(BIN)/kmeminit check -p $(EXAMPLE) --fail-on none --format sarif -o out/demo.sarif
	@echo "SARIF written to out/demo.sarif"

# The HTML report's browser test renders it in Debian's chromium, headless.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium for the HTML report's browser test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends chromium >/dev/null; \
	  else \
	    echo "note: the HTML browser test needs Debian's chromium (as root: apt-get install" \
	         "chromium); without it the test is skipped"; \
	  fi; }

test: $(STAMP) browser
	$(BIN)/ruff check analyzer checkers config sarif tests bench scripts
	$(BIN)/python -m pytest -q

fuzz: $(STAMP)
	KMEMINIT_FUZZ_EXAMPLES=2000 $(BIN)/python -m pytest -q -m fuzz tests

bench: $(STAMP)
	$(BIN)/python bench/bench.py --tree $${KMEMINIT_KERNEL_TREE:?set KMEMINIT_KERNEL_TREE}

clean:
	rm -rf out .pytest_cache $(EXAMPLE)/.kmeminit $(EXAMPLE)/compile_commands.json

# The two set-up commands are `make reproduce` and `make test`; both create .venv if missing.
#   make reproduce [PROFILE=smoke|quick|paper] [SET="notebook.parameter=value ..."]
#   make test | make book | make lab | make browser | make clean | make bench-energy | make bench-train
PROFILE ?= quick
SET ?=
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
LAB_INSTALLED := $(VENV)/.installed-lab
MATHJAX := book/_mathjax/mathjax/tex-chtml.js
MATHJAX_VERSION := 3.2.2

.PHONY: reproduce notebooks book test browser lab clean env bench-energy bench-train

# -- environment ---------------------------------------------------------------------------
$(INSTALLED): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $@

env: $(INSTALLED)

# `make lab`: JupyterLab and ipywidgets (tqdm's progress bars show as widgets there).
$(LAB_INSTALLED): pyproject.toml $(INSTALLED)
	$(PY) -m pip install --quiet -e '.[test,lab]'
	@touch $@

# MathJax 3 for the offline book, from the npm registry (the book loads nothing remote).
$(MATHJAX):
	npm install --silent --no-audit --no-fund --prefix data/cache/npm mathjax@$(MATHJAX_VERSION)
	@mkdir -p book/_mathjax
	rm -rf book/_mathjax/mathjax && cp -r data/cache/npm/node_modules/mathjax/es5 book/_mathjax/mathjax

# -- the product -----------------------------------------------------------------------------
# A failed notebook (exit 1) does not stop the book: its page says that it failed; make still
# ends with that failure. Anything else (a usage error 2, Ctrl-C 130) stops here.
reproduce: $(INSTALLED) $(MATHJAX)
	@status=0; $(VENV)/bin/gconv notebooks --profile $(PROFILE) $(foreach s,$(SET),--set $(s)) || status=$$?; \
	  if [ $$status -ne 0 ] && [ $$status -ne 1 ]; then exit $$status; fi; \
	  $(MAKE) --no-print-directory book || exit $$?; \
	  echo; echo "Book built: open file://$(CURDIR)/book/_build/html/index.html"; \
	  if [ $$status -eq 1 ]; then echo "[gconv] some notebooks failed: see the summary above and their pages in the book"; fi; \
	  exit $$status

notebooks: $(INSTALLED)
	$(VENV)/bin/gconv notebooks --profile $(PROFILE) $(foreach s,$(SET),--set $(s))

book: $(INSTALLED) $(MATHJAX)
	$(VENV)/bin/gconv book-check
	$(VENV)/bin/jupyter-book build book --quiet
	@echo "Book: file://$(CURDIR)/book/_build/html/index.html"

# JupyterLab on notebooks/: each notebook's parameters cell holds the default (quick) profile's
# values, and what runs there reads and fills the same results store as `make reproduce`
# (data/results/local). No display (a server, a container): print the URL, open no browser;
# as root (a container), JupyterLab needs --allow-root. LAB_ARGS passes more (e.g. a port).
LAB_FLAGS = $(if $(or $(DISPLAY),$(WAYLAND_DISPLAY),$(filter Darwin,$(shell uname -s))),,--no-browser) \
             $(if $(filter 0,$(shell id -u)),--allow-root)
lab: $(LAB_INSTALLED)
	@echo "[gconv] JupyterLab on notebooks/ (parameters: the quick profile's; results: data/results/local)"
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=notebooks $(LAB_FLAGS) $(LAB_ARGS)

# -- checks ----------------------------------------------------------------------------------
# The book test drives a real Chromium: tests/chromium.py finds one (GCONV_CHROMIUM, a system
# Chromium/Chrome, playwright's) or installs one (Debian's chromium with apt as root, else
# `playwright install chromium` where the network allows), or says in one line how to get one.
browser: $(INSTALLED)
	@$(PY) tests/chromium.py --install

test: $(INSTALLED) $(MATHJAX)
	@chromium="$$($(PY) tests/chromium.py --install)" && echo "[gconv] browser for the book test: $$chromium" \
	  && GCONV_CHROMIUM="$$chromium" $(PY) -m pytest -q

bench-energy: $(INSTALLED)
	$(VENV)/bin/gconv energy bench $(ARGS)

# benchmarks, not tests: e.g. make bench-train ARGS="--device cuda --limit 5000"
BENCH_TRAIN ?= --model wrn28_2/gc:2 --task cifar10 --data standin
bench-train: $(INSTALLED)
	$(VENV)/bin/gconv bench train $(BENCH_TRAIN) $(ARGS)

clean:
	rm -rf book/_build book/_generated book/_failed data/results/local

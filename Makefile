# The two set-up commands are `make reproduce` and `make test`; both create .venv if missing.
#   make reproduce [PROFILE=smoke|quick|paper] [SET="notebook.parameter=value ..."]
#   make test | make book | make lab | make clean | make bench-energy | make bench-train
PROFILE ?= quick
SET ?=
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
MATHJAX := book/_mathjax/mathjax/tex-chtml.js
MATHJAX_VERSION := 3.2.2

.PHONY: reproduce notebooks book test lab clean env bench-energy bench-train

# -- environment ---------------------------------------------------------------------------
$(INSTALLED): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $@

env: $(INSTALLED)

# MathJax 3 for the offline book, from the npm registry (the book loads nothing remote).
$(MATHJAX):
	npm install --silent --no-audit --no-fund --prefix data/cache/npm mathjax@$(MATHJAX_VERSION)
	@mkdir -p book/_mathjax
	rm -rf book/_mathjax/mathjax && cp -r data/cache/npm/node_modules/mathjax/es5 book/_mathjax/mathjax

# -- the product -----------------------------------------------------------------------------
reproduce: notebooks book
	@echo
	@echo "Book built: open file://$(CURDIR)/book/_build/html/index.html"

notebooks: $(INSTALLED)
	$(VENV)/bin/gconv notebooks --profile $(PROFILE) $(foreach s,$(SET),--set $(s))

book: $(INSTALLED) $(MATHJAX)
	$(VENV)/bin/gconv book-check
	$(VENV)/bin/jupyter-book build book --quiet
	@echo "Book: file://$(CURDIR)/book/_build/html/index.html"

lab: $(INSTALLED)
	$(VENV)/bin/jupyter lab notebooks

# -- checks ----------------------------------------------------------------------------------
test: $(INSTALLED) $(MATHJAX)
	$(PY) -m pytest -q

bench-energy: $(INSTALLED)
	$(VENV)/bin/gconv energy bench $(ARGS)

# benchmarks, not tests: e.g. make bench-train ARGS="--device cuda --limit 5000"
BENCH_TRAIN ?= --model wrn28 --scheme gc --k 2 --width 2 --task cifar10 --data standin
bench-train: $(INSTALLED)
	$(VENV)/bin/gconv bench train $(BENCH_TRAIN) $(ARGS)

clean:
	rm -rf book/_build book/_generated book/_failed data/results/local

# Two commands on a fresh clone:  make demo  |  make test
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.ensemblekd-installed

.PHONY: install test demo bench clean

$(STAMP): pyproject.toml setup.py $(wildcard cext/*.c cext/*.h)
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# the CPU wheel on this machine; a bare `torch` requirement would pull a multi-GB CUDA build
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

test: install
	$(PY) -m pytest -q

demo: install
	$(PY) -m ensemblekd demo

bench: install
	$(PY) benchmarks/trees.py
	$(PY) benchmarks/deps.py
	$(PY) benchmarks/mbr.py

clean:
	rm -rf build *.egg-info ensemblekd/*.so

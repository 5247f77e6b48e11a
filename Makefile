# Two commands for a fresh machine: `make demo` and `make test` (README).
# A third, `make docs`, builds the documentation site into site/.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The CPU build of torch is installed first, pinned: an unpinned `torch` requirement on a
# machine without torch pulls a multi-GB CUDA build.
TORCH_CPU := torch==2.13.0

.PHONY: demo test lint typecheck pytest clean

$(VENV)/.installed-%: pyproject.toml setup.py src/crossent/torch/fused/_kernel.c Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH_CPU)
	$(PIP) install -q -e ".[$*]"
	touch $@

# The main job: train real models, check every claim, write report/index.html.
demo: $(VENV)/.installed-all
	$(VENV)/bin/crossent explain
	$(PY) examples/make_demo_data.py demo
	$(VENV)/bin/crossent eval demo/pred_logits.npy demo/labels.npy --from-logits
	$(VENV)/bin/crossent reproduce --out report

# TensorFlow and Keras are tested in processes of their own (conftest.py): TensorFlow
# loaded before Triton aborts the process, and Keras reads KERAS_BACKEND once, at import.
test: $(VENV)/.installed-all,test,docs
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests
	$(VENV)/bin/mypy
	$(PY) -m pytest -q -n 2 --dist loadfile
	CROSSENT_KERAS_TESTS=1 KERAS_BACKEND=tensorflow $(PY) -m pytest -q \
		tests/tf tests/keras src/crossent/_tensorflow.py src/crossent/keras
	for backend in jax torch; do \
		CROSSENT_KERAS_TESTS=1 KERAS_BACKEND=$$backend $(PY) -m pytest -q \
			tests/keras src/crossent/keras || exit 1; \
	done

# The documentation site (mkdocs.yml): site/index.html, offline, built with --strict so
# that a broken link or reference fails. The test suite builds it too (tests/docs/).
.PHONY: docs
docs: $(VENV)/.installed-all,test,docs
	$(VENV)/bin/mkdocs build --strict

clean:
	rm -rf $(VENV) demo report

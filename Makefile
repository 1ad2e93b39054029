# Two commands on a fresh machine with Python 3 and make: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_SECONDS ?= 5
DEMO_NAME ?= demo__$(shell date +%Y%m%d_%H%M%S)

.PHONY: venv demo test lint typecheck bench clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The real picamera2 for the tests, without its dependencies (see the test extra in pyproject.toml). python-prctl
# is built when the libcap headers are there (CI installs them); otherwise the fake kernel layer stands in for it.
PICAMERA2 ?= picamera2==0.3.38

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m pip install --quiet --no-deps '$(PICAMERA2)'
	$(BIN)/python -m pip install --quiet python-prctl 2>/dev/null \
		|| echo "python-prctl not built (no libcap headers): tests use the fake kernel layer's prctl"
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(BIN)/rcc_conductor -c examples/simulated_colony.config -n $(DEMO_NAME) -t $(DEMO_SECONDS)

test: venv
	$(BIN)/ruff check rpi_camera_colony tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check rpi_camera_colony tests benchmarks

typecheck: venv
	$(BIN)/mypy

bench: venv
	$(BIN)/python benchmarks/startup.py

clean:
	rm -rf $(VENV) build *.egg-info rcc_data

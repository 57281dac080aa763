# Tongfang: `make run` starts the local stack, `make test` installs what it needs and runs every test.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
KAFKA_LIB := deploy/kafka/lib
STAMP := $(VENV)/.installed

.PHONY: install kafka-jars console-assets browser run test lint unit integration schemas dashboards bench soak clean \
	late-records mutate publish-env publish bench-workbench

install: $(STAMP) kafka-jars console-assets publish-env

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

# The official Apache Kafka jars from Maven Central, cached in deploy/kafka/lib (and ~/.m2).
kafka-jars: $(KAFKA_LIB)/.fetched

$(KAFKA_LIB)/.fetched: deploy/kafka/pom.xml
	@command -v mvn >/dev/null || { echo "need Maven (mvn) and Java 17 on PATH"; exit 1; }
	rm -rf $(KAFKA_LIB)
	cd deploy/kafka && mvn -q -B dependency:copy-dependencies -DoutputDirectory=lib -DincludeScope=runtime
	touch $@

# What the regulators' console serves from npm (never a CDN at run time): Apache ECharts' minified
# build with its LICENSE and NOTICE, and the GB/T 2260 division names of china-division; and what
# the branches' workbench serves: ZXing's barcode reader (Apache-2.0), for phones whose browser has
# no BarcodeDetector. Pinned.
ECHARTS := echarts@6.1.0
DIVISIONS := china-division@2.7.0
ZXING := @zxing/library@0.23.0
VENDOR := services/regulator/static/vendor
APP_VENDOR := services/ingest/static/app/vendor
console-assets: $(VENDOR)/.fetched $(APP_VENDOR)/.fetched

$(APP_VENDOR)/.fetched: Makefile
	@command -v npm >/dev/null || { echo "need npm (Node.js) on PATH for the workbench's assets"; exit 1; }
	rm -rf $(APP_VENDOR) build/npm-app && mkdir -p $(APP_VENDOR) build/npm-app
	cd build/npm-app && npm pack --silent $(ZXING) >/dev/null
	tar -xzf build/npm-app/zxing-library-*.tgz -C build/npm-app package/umd/index.min.js package/LICENSE
	cp build/npm-app/package/umd/index.min.js $(APP_VENDOR)/zxing.min.js
	cp build/npm-app/package/LICENSE $(APP_VENDOR)/zxing.LICENSE
	touch $@

$(VENDOR)/.fetched: Makefile
	@command -v npm >/dev/null || { echo "need npm (Node.js) on PATH for the console's assets"; exit 1; }
	rm -rf $(VENDOR) build/npm && mkdir -p $(VENDOR)/echarts $(VENDOR)/china-division build/npm
	cd build/npm && npm pack --silent $(ECHARTS) $(DIVISIONS) >/dev/null
	tar -xzf build/npm/echarts-*.tgz -C $(VENDOR)/echarts --strip-components=1 \
	  package/dist/echarts.min.js package/LICENSE package/NOTICE
	tar -xzf build/npm/china-division-*.tgz -C $(VENDOR)/china-division --strip-components=1 \
	  package/dist/provinces.csv package/dist/cities.csv package/dist/areas.csv package/LICENSE package/package.json
	touch $@

# Headless Chromium and CJK fonts from Debian, for the daily report's rendering test.
browser:
	@command -v chromium >/dev/null && fc-list 2>/dev/null | grep -qi "noto.*cjk" || { \
	  command -v apt-get >/dev/null || { echo "need Debian's chromium and fonts-noto-cjk"; exit 1; }; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-noto-cjk; }

run: install
	$(PY) -m deploy.local $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy schemas services streams dashboards deploy tests

schemas: $(STAMP)
	$(PY) -m schemas.export

unit: $(STAMP)
	$(VENV)/bin/pytest tests/unit -q

# A tool's own environment (its directory is the target's): ours seen through a .pth, the tool's
# TOOL_PACKAGES installed over it there only.
define tool-env
$(PYTHON) -m venv $(@D)
$(VENV)/bin/python -c "import site; print(site.getsitepackages()[0])" > \
	$$($(@D)/bin/python -c "import site; print(site.getsitepackages()[0])")/tongfang-deps.pth
$(@D)/bin/pip install -q $(TOOL_PACKAGES)
touch $@
endef

# The Grafana publisher's own environment: ours seen through a .pth, grafana-client (and its
# niquests / urllib3-future) installed over it here only, so the rest of the project keeps urllib3.
PUBLISH_ENV := .venv-publish
publish-env: $(PUBLISH_ENV)/.ready
$(PUBLISH_ENV)/.ready: TOOL_PACKAGES = "grafana-client>=5,<6"
$(PUBLISH_ENV)/.ready: $(STAMP)
	$(tool-env)

# Dashboards and alert rules to a Grafana: make publish ARGS="--url https://… --token …"
publish: publish-env
	$(PUBLISH_ENV)/bin/python -m dashboards.publish $(ARGS)

test: install browser lint
	$(VENV)/bin/pytest -q

# Mutation testing of the rules and intake against the unit tests (a quarter of an hour or so, so
# not part of `make test`): mutmut 3.7.0 and pytest 8.4.2 in a tool environment beside ours
# (.venv-mutate), then a score per file and the survivors (tests/support/mutation.py,
# tests/mutants.toml). MUTATE_ARGS="--min-score 0.9" fails below the target.
MUTATE_ENV := .venv-mutate
$(MUTATE_ENV)/.ready: TOOL_PACKAGES = "mutmut==3.7.0" "pytest==8.4.2"
$(MUTATE_ENV)/.ready: $(STAMP)
	$(tool-env)

mutate: $(MUTATE_ENV)/.ready
	rm -rf mutants && mkdir mutants
	$(MUTATE_ENV)/bin/mutmut run --max-children 2 > mutants/run.log
	$(PY) -m tests.support.mutation $(MUTATE_ARGS)

# The late-records property test at length: 500 examples, freshly drawn (minutes, not seconds).
late-records: $(STAMP)
	TONGFANG_LATE_EXAMPLES=$${EXAMPLES:-500} TONGFANG_LATE_SEED=1 $(VENV)/bin/pytest -q tests/unit/test_late_records.py

# Figures, not assertions: see tests/load/bench.py. Panels over 10 M and 100 M events by default
# (about 25 min in all here); BENCH_ARGS="--panel-rows 10000000" for a quicker run.
bench: install
	$(PY) -m tests.load.bench $(BENCH_ARGS)

# The workbench: a 100 000-row ledger import (rows/s, ingest's peak memory, a second upload) and the
# time from pressing save on a phone to the record being queryable. WORKBENCH_ARGS="--rows 10000".
bench-workbench: install browser
	$(PY) -m tests.load.workbench_bench $(WORKBENCH_ARGS)

# An hour of steady traffic; RSS of every process each minute. SOAK_ARGS="--minutes 10" for less.
soak: install
	$(PY) -m tests.load.soak $(SOAK_ARGS)

clean:
	rm -rf data build *.egg-info

dashboards: $(STAMP)
	$(PY) -m dashboards.build

# directaccess.iphttps — developer entry points.
#   make test   everything CI runs: sanity, units on two ansible-core versions, PowerShell checks,
#               controller integration tests and the lab suite. Installs what it needs first.
#   make demo   the main job against the lab.
#   make soak   the fault run of tests/e2e/test_faults.py at 500 hosts, forks 50, 5% of hosts with seeded random
#               faults: three remediate runs and a rollback compared byte for byte. SOAK_SEED=N repeats a run.
#   make fuzz   the long fuzz: FUZZ_EXAMPLES (default 3000) random examples per property of the
#               tests/unit/**/test_fuzz_*.py suites, and under a second of CPU per 20-certificate
#               chain with 5,000-certificate pools. FUZZ_SEED=N repeats a run.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Main line: ansible-core 2.19 on Python 3.11. Second line: newest ansible-core on Python 3.13.
PYTHON ?= python3.11
PYTHON_NEXT ?= $(shell PYENV_VERSION=3.13.0 python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null || command -v python3.13)
VENV := .venv
VENV_NEXT := .venv-next
STAGE := .build/collections
COLLECTION := $(STAGE)/ansible_collections/directaccess/iphttps
ANSIBLE_TEST_CACHE := $(HOME)/.ansible/test/cache
ROOT := $(CURDIR)
HOSTS ?= 6
DEMO_HOSTS ?= 22

.PHONY: help test demo venv venv-next stage offline-bootstrap sanity units units-next ps-check \
        integration lint lab-tests e2e browser chromium lab-up lab-down lab-status bench fuzz packaging lock clean soak

help:
	@echo "make test   run every test (installs pinned dependencies into .venv first)"
	@echo "make demo   run the main job against the lab"
	@echo "make fuzz   the long fuzz of the loaders, chain analysis and client_info's report builder"
	@echo "make soak   the fault run at 500 lab hosts, forks 50, 5% seeded faults (SOAK_SEED=N repeats one)"

$(VENV)/.installed: requirements/runtime.txt requirements/test.txt requirements/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check --upgrade pip==25.3
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements/test.txt
	touch $@

$(VENV_NEXT)/.installed: requirements/runtime-next.txt requirements/test-next.txt requirements/constraints-next.txt
	@test -n "$(PYTHON_NEXT)" || { echo "Python 3.13 not found (set PYTHON_NEXT=...)" >&2; exit 1; }
	$(PYTHON_NEXT) -m venv $(VENV_NEXT)
	$(VENV_NEXT)/bin/python -m pip install -q --disable-pip-version-check --upgrade pip==25.3
	$(VENV_NEXT)/bin/python -m pip install -q --disable-pip-version-check -r requirements/test-next.txt
	touch $@

venv: $(VENV)/.installed
venv-next: $(VENV_NEXT)/.installed

# ansible-test only runs inside ansible_collections/<namespace>/<name>; stage a copy there.
stage: venv
	$(VENV)/bin/python tests/tools/stage_collection.py $(STAGE) >/dev/null

# ansible-test downloads a get-pip script for each new test venv; serve it from the repo instead.
offline-bootstrap: venv venv-next
	@mkdir -p $(ANSIBLE_TEST_CACHE)
	@for py in $(VENV) $(VENV_NEXT); do \
	  ver=$$(sed -n "s/^ *pip='\([0-9.]*\)',/\1/p" $$py/lib/python3.*/site-packages/ansible_test/_internal/python_requirements.py); \
	  cp tests/sanity/get_pip_offline.py "$(ANSIBLE_TEST_CACHE)/get_pip_$${ver//./_}.py"; \
	done

sanity: stage offline-bootstrap
	cd $(COLLECTION) && $(ROOT)/$(VENV)/bin/ansible-test sanity --venv --python 3.11 --color no

units: stage
	cd $(COLLECTION) && $(ROOT)/$(VENV)/bin/ansible-test units --local --python 3.11 --color no

units-next: stage venv-next
	cd $(COLLECTION) && $(ROOT)/$(VENV_NEXT)/bin/ansible-test units --local --python 3.13 --color no

ps-check: venv
	$(VENV)/bin/python tests/tools/ps_check.py .
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider tests/tools

integration: stage
	cd $(COLLECTION) && $(ROOT)/$(VENV)/bin/ansible-test integration --local --python 3.11 --color no

lab-tests: stage
	PYTHONPATH=$(ROOT)/$(STAGE) $(VENV)/bin/python -m pytest -q -p no:cacheprovider tests/lab

# The lab: simulated DirectAccess clients on loopback, inventory in .lab/inventory.yml.
lab-up: venv
	$(VENV)/bin/python -m tests.lab up --hosts $(HOSTS)

lab-down: venv
	$(VENV)/bin/python -m tests.lab down

lab-status: venv
	$(VENV)/bin/python -m tests.lab status

# ansible-lint, production profile; it resolves the collection's own plugins through the stage.
lint: stage
	ANSIBLE_COLLECTIONS_PATH=$(ROOT)/$(STAGE) $(VENV)/bin/ansible-lint --nocolor

# Headless Chromium from Debian, for the report's browser check (root on these machines and CI).
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

# The HTML report rendered in headless Chromium; CI=true makes a missing browser a failure, not a skip.
browser: venv chromium
	CI=true PYTHONPATH=$(ROOT)/$(STAGE) $(VENV)/bin/python -m pytest -q -p no:cacheprovider tests/browser

# End to end: real ansible-playbook runs over WinRM against a lab fleet (tests/e2e/fleet.yml).
e2e: venv
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider tests/e2e

test: sanity units units-next ps-check integration lint lab-tests e2e browser packaging
	@echo "make test: all suites passed"

demo: venv
	$(VENV)/bin/python tests/tools/demo.py --hosts $(DEMO_HOSTS)

# Re-pin every transitive package after a change to the top-level requirement files.
lock: venv venv-next
	{ echo "# Every package in .venv, pinned (regenerate with: make lock)."; \
	  $(VENV)/bin/python -m pip freeze --disable-pip-version-check; } > requirements/constraints.txt
	{ echo "# Every package in .venv-next, pinned (regenerate with: make lock)."; \
	  $(VENV_NEXT)/bin/python -m pip freeze --disable-pip-version-check; } > requirements/constraints-next.txt

# Benchmarks: ratios measured side by side in one run (tests/bench/README.md).
bench: venv
	$(VENV)/bin/python tests/bench/bench.py

# The long fuzz (make test runs the same properties with few, fixed examples). Random examples: on a
# failure hypothesis prints the input and a @reproduce_failure line; FUZZ_SEED=N repeats a whole run.
FUZZ_EXAMPLES ?= 3000
FUZZ_TESTS := tests/unit/plugins/module_utils/test_fuzz_certificates.py tests/unit/plugins/module_utils/test_fuzz_timing.py \
              tests/unit/plugins/plugin_utils/test_fuzz_client_report.py tests/unit/plugins/action/test_fuzz_trust_check.py \
              tests/unit/plugins/action/test_fuzz_ca_bundle.py tests/unit/plugins/action/test_fuzz_fleet_actions.py \
              tests/unit/plugins/plugin_utils/test_fuzz_record.py tests/unit/plugins/module_utils/test_fuzz_cert_blob.py \
              tests/unit/plugins/action/test_fuzz_gpo_certificates.py
fuzz: stage
	IPHTTPS_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) IPHTTPS_FUZZ_TIMING=1 PYTHONPATH=$(ROOT)/$(STAGE) \
	  $(VENV)/bin/python -m pytest -q -s -p no:cacheprovider $(if $(FUZZ_SEED),--hypothesis-seed=$(FUZZ_SEED)) \
	  $(FUZZ_TESTS)

# The soak (not part of make test): the 50-host fault run of make test, at 500 hosts. The seed is printed;
# the figures go to .build/soak.json (docs/performance.md, "Soak").
SOAK_SEED ?= $(shell od -An -N3 -tu4 /dev/urandom | tr -d ' ')
soak: venv
	@mkdir -p .build
	IPHTTPS_FAULT_HOSTS=500 IPHTTPS_FAULT_FORKS=50 IPHTTPS_FAULT_SHARE=0.05 IPHTTPS_FAULT_SEED=$(SOAK_SEED) \
	  IPHTTPS_FAULT_SUMMARY=$(ROOT)/.build/soak.json $(VENV)/bin/python -m pytest -q -p no:cacheprovider \
	  tests/e2e/test_faults.py

# Packaging: ansible-runner as AWX runs it, and the Galaxy tarball installed and run by FQCN.
packaging: venv
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider tests/packaging

clean:
	rm -rf .build tests/output

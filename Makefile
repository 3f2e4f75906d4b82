# vmrescue.azure: every set-up step lives here, so a fresh machine needs only `make demo` / `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3

VENV := .venv
VPY := $(VENV)/bin/python
DEV_HASH := $(shell sha256sum requirements-dev.txt | cut -c1-12)
VENV_STAMP := $(VENV)/.installed-$(DEV_HASH)

# The Azure CLI is large (~730 MB, minutes to install) and only used by the fidelity tier:
# it gets its own virtualenv, cached outside the work tree and keyed by version.
AZCLI_VERSION := 2.91.0
CACHE_DIR ?= $(HOME)/.cache/vmrescue-azure
AZCLI_VENV := $(CACHE_DIR)/azcli-$(AZCLI_VERSION)
AZCLI_STAMP := $(AZCLI_VENV)/.complete

# The benchmark's contender 2 (azure.azcollection as users install it today): the `ansible` package plus the
# requirements.txt shipped inside its azure.azcollection, in a virtualenv of its own, cached and keyed by version.
AZCOLL_ANSIBLE_VERSION := 12.3.0
AZCOLL_VENV := $(CACHE_DIR)/azcollection-$(AZCOLL_ANSIBLE_VERSION)
AZCOLL_STAMP := $(AZCOLL_VENV)/.complete

# The oldest ansible-core that meta/runtime.yml allows (requires_ansible '>=2.16.0'), newest patch release: the
# integration tier runs on it too (`make compat`), in a virtualenv of its own with the other pins of
# requirements-dev.txt, cached and keyed by version.
COMPAT_ANSIBLE_CORE := 2.16.19
COMPAT_VENV := $(CACHE_DIR)/ansible-core-$(COMPAT_ANSIBLE_CORE)
COMPAT_STAMP := $(COMPAT_VENV)/.installed-$(DEV_HASH)

COLLECTIONS := $(CURDIR)/.tmp/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/vmrescue/azure
SANITY_ROOT := $(CURDIR)/.tmp/sanity/ansible_collections/vmrescue/azure

export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export VMRESCUE_AZ := $(AZCLI_VENV)/bin/az
export PYTHONDONTWRITEBYTECODE := 1

# --durations: every run's log names its slowest tests (where the 25-minute budget goes)
PYTEST_OPTS := -p no:cacheprovider --durations=25
PYTEST := $(VPY) -m pytest $(PYTEST_OPTS)

.PHONY: help venv azcli azcollection compat-venv collection-link test static pytest-all pytest-rest lanes learn-lanes unit sim integration compat fidelity live sanity sanity-compat lint fmt docs-lint docs demo bench clean

help:
	@echo "make demo   - start the simulator with the sample fleet and run the recovery job end to end"
	@echo "make test   - every test tier: unit, simulator, integration, fidelity (SDK + Azure CLI), sanity, lint"
	@echo "make bench  - fleet-scale benchmark (prints a table)"
	@echo "tiers: make unit | sim | integration | compat | fidelity | live | sanity | lint | docs-lint"
	@echo "make fmt    - format and fix every Python file (ruff), as make lint checks them"
	@echo "make docs   - build the documentation site (plugins, roles, docs/docsite guide) with antsibull-docs"
	@echo "make compat - the integration tier on ansible-core $(COMPAT_ANSIBLE_CORE) (oldest supported minor), without the core_agnostic suites"

venv: $(VENV_STAMP)
$(VENV_STAMP): requirements-dev.txt
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-* && touch $@

azcli: $(AZCLI_STAMP)
$(AZCLI_STAMP):
	@mkdir -p $(CACHE_DIR)
	@test -x $(AZCLI_VENV)/bin/python || $(PYTHON) -m venv $(AZCLI_VENV)
	@echo "installing azure-cli $(AZCLI_VERSION) into $(AZCLI_VENV) (once; cached)"
	$(AZCLI_VENV)/bin/python -m pip install -q --disable-pip-version-check azure-cli==$(AZCLI_VERSION)
	@touch $@

azcollection: $(AZCOLL_STAMP)
$(AZCOLL_STAMP):
	@mkdir -p $(CACHE_DIR)
	@test -x $(AZCOLL_VENV)/bin/python || $(PYTHON) -m venv $(AZCOLL_VENV)
	@echo "installing ansible $(AZCOLL_ANSIBLE_VERSION) + azure.azcollection requirements into $(AZCOLL_VENV) (once; cached)"
	$(AZCOLL_VENV)/bin/python -m pip install -q --disable-pip-version-check ansible==$(AZCOLL_ANSIBLE_VERSION) 2>&1 \
		| { grep -v '^WARNING: Location' || true; }
	$(AZCOLL_VENV)/bin/python -m pip install -q --disable-pip-version-check -r \
		"$$($(AZCOLL_VENV)/bin/python -c 'import ansible_collections.azure.azcollection as c; print(list(c.__path__)[0])')/requirements.txt" \
		2>&1 | { grep -v '^WARNING: Location' || true; }
	@touch $@

compat-venv: $(COMPAT_STAMP)
$(COMPAT_STAMP): requirements-dev.txt
	@mkdir -p $(CACHE_DIR)
	@test -x $(COMPAT_VENV)/bin/python || $(PYTHON) -m venv $(COMPAT_VENV)
	@echo "installing ansible-core $(COMPAT_ANSIBLE_CORE) + the other test pins into $(COMPAT_VENV) (once; cached)"
	grep -Ev '^(ansible-core|ansible-lint)==' requirements-dev.txt > $(COMPAT_VENV)/requirements.txt
	$(COMPAT_VENV)/bin/python -m pip install -q --disable-pip-version-check ansible-core==$(COMPAT_ANSIBLE_CORE) \
		-r $(COMPAT_VENV)/requirements.txt 2>&1 | { grep -v '^WARNING: Location' || true; }
	@rm -f $(COMPAT_VENV)/.installed-* && touch $@

collection-link:
	@mkdir -p $(dir $(COLLECTION_LINK))
	@test -L $(COLLECTION_LINK) || ln -sfn $(CURDIR) $(COLLECTION_LINK)

# Six lanes on the 2-core machine: four share the integration tier on both ansible-core versions (the venv's and
# the oldest supported, without the core_agnostic suites), dealt by tests/lanes.py by the seconds each file took
# in an earlier make test (tests/lane_durations.json; `make lanes` shows the deal, `make learn-lanes` refreshes the
# table from the last run's .tmp/junit); one runs the other pytest tiers (unit, simulator, fidelity, live); one the
# static checks, one after another (sanity and sanity-compat share .tmp/sanity). The integration tiers are mostly
# ansible-playbook start-up CPU and simulated Azure waits, so the lanes pack the two cores; each lane's output is
# printed when it finishes.
LANES := 4
test: venv azcli compat-venv collection-link
	@rm -rf .tmp/junit && mkdir -p .tmp/junit
	$(MAKE) --no-print-directory -j6 --output-sync=target $(addprefix lane-,$(shell seq 1 $(LANES))) pytest-rest static

static:
	$(MAKE) --no-print-directory -j1 sanity sanity-compat lint docs-lint

pytest-all:
	$(PYTEST) tests/unit tests/sim tests/integration tests/fidelity tests/live
# make test's lanes: the integration tier in one, the rest in another (each with its own simulator)
pytest-rest:
	$(PYTEST) tests/unit tests/sim tests/fidelity tests/live

unit: venv collection-link
	$(PYTEST) tests/unit
sim: venv collection-link
	$(PYTEST) tests/sim
integration: venv collection-link
	$(PYTEST) tests/integration
# One lane of make test: its integration files, then its compat files (both run even if the first fails; a compat
# share whose tests are all deselected is not a failure: pytest's exit 5). JUnit files for `make learn-lanes`.
lane-%: venv compat-venv collection-link
	@rc=0; for tier in integration compat; do \
		files="$$($(PYTHON) tests/lanes.py files $$tier $* $(LANES))"; [ -n "$$files" ] || continue; \
		if [ $$tier = integration ]; then py=$(VPY); marks=; else py=$(COMPAT_VENV)/bin/python; marks='not core_agnostic'; fi; \
		echo "lane $*, $$tier: $$files"; \
		$$py -m pytest $(PYTEST_OPTS) --junitxml=.tmp/junit/lane-$*-$$tier.xml -m "$$marks" $$files || [ $$? -eq 5 ] || rc=1; \
	done; exit $$rc
lanes:
	@$(PYTHON) tests/lanes.py show $(LANES)
learn-lanes:
	$(PYTHON) tests/lanes.py learn .tmp/junit/*.xml
compat: compat-venv collection-link
	$(COMPAT_VENV)/bin/python -m pytest $(PYTEST_OPTS) -m 'not core_agnostic' tests/integration

fidelity: venv azcli collection-link
	$(PYTEST) tests/fidelity
live: venv collection-link
	$(PYTEST) tests/live

# ansible-test needs the collection under ansible_collections/NS/NAME: test a copy of the tracked files.
SANITY_ANSIBLE_TEST ?= $(CURDIR)/$(VENV)/bin/ansible-test
sanity: venv
	@rm -rf $(CURDIR)/.tmp/sanity && mkdir -p $(SANITY_ROOT)
	@# What is checked is what ships: tests/ (simulator, test code) is build_ignore'd and stays out.
	@git ls-files -co --exclude-standard | grep -Ev '^(\.tmp|tests|bench)/' | while read -r f; do [ ! -e "$$f" ] || echo "$$f"; done \
		| tar -cf - -T - | tar -xf - -C $(SANITY_ROOT)
	@# ansible-test lists files through git; the copy is inside this (ignored) work tree, so give it its own repo.
	@cd $(SANITY_ROOT) && git init -q && git add -A
	@mkdir -p $(HOME)/.ansible/test/cache && for v in 24_2 23_1_2; do \
		cp tests/sanity/get_pip_shim.py $(HOME)/.ansible/test/cache/get_pip_$$v.py; done
	cd $(SANITY_ROOT) && $(SANITY_ANSIBLE_TEST) sanity --venv --python 3.11 --color no $(SANITY_ARGS) 2>&1 \
		| grep -Ev '^(Looking in|Collecting|Processing|  Downloading|     |Installing collected|Successfully installed|Using cached pip)'

# ansible-test of the oldest supported ansible-core (2.16 supports Python 3.11 on the controller): its own rules
# (validate-modules, ansible-doc, import, compile, pep8, yamllint, ...) against what ships, about 1.5 min. Skipped:
# pylint (left to `make sanity` on 2.19: 2.16's pinned pylint knows none of the newer checks and would double the
# time) and the Python 2 boilerplate tests (future-import-boilerplate, metaclass-boilerplate), which ansible-core
# 2.17 removed: the collection's modules run on the controller and need Python 3.
sanity-compat: compat-venv
	$(MAKE) --no-print-directory sanity SANITY_ANSIBLE_TEST=$(COMPAT_VENV)/bin/ansible-test \
		SANITY_ARGS="--skip-test pylint --skip-test future-import-boilerplate --skip-test metaclass-boilerplate"

# One dialect for every Python file (ruff.toml): the formatter and the linter, then ansible-lint for roles and playbooks.
# The import contracts (.importlinter: plugins > plugin_utils > runner > domains > base) between the two.
# `make fmt` fixes what the first two report; .pre-commit-config.yaml runs the same commands before a commit.
lint: venv collection-link
	$(VENV)/bin/ruff format --check --diff .
	$(VENV)/bin/ruff check .
	PYTHONPATH=$(COLLECTIONS) $(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/ansible-lint --profile production

fmt: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# antsibull-docs checks every plugin's and role's documentation markup and references (M(), P(), O(), ...) and
# docs/docsite (extra-docs.yml, links.yml, the rst guide). It calls ansible-doc: the venv's bin goes first on PATH.
docs-lint: venv collection-link
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/antsibull-docs lint-collection-docs --plugin-docs $(COLLECTION_LINK)

# The documentation site (every plugin and role, and the docs/docsite guide) in .tmp/docs/build/html. Fails on any
# Sphinx warning of the collection's own; what is left out needs the network (intersphinx inventories of
# docs.python.org / docs.ansible.com, and the ansible-core labels and variables resolved through them).
DOCS_DIR := $(CURDIR)/.tmp/docs
DOCS_ENV := PATH=$(CURDIR)/$(VENV)/bin:$$PATH
DOCS_NOT_OURS := intersphinx inventory|failed to reach any of the inventories|undefined label: '(action_plugins|common_return_values|ansible_configuration_settings)'|'envvar' reference target not found: ANSIBLE_|^build finished
docs: venv collection-link
	@rm -rf $(DOCS_DIR) && mkdir -p $(DOCS_DIR)
	$(DOCS_ENV) $(VENV)/bin/antsibull-docs sphinx-init --use-current --squash-hierarchy --fail-on-error \
		--dest-dir $(DOCS_DIR) vmrescue.azure >/dev/null
	@mkdir -p $(DOCS_DIR)/rst && chmod og-w $(DOCS_DIR)/rst
	cd $(DOCS_DIR) && $(DOCS_ENV) $(CURDIR)/$(VENV)/bin/antsibull-docs --config-file antsibull-docs.cfg collection \
		--cleanup everything --fail-on-error --use-current --squash-hierarchy --dest-dir rst vmrescue.azure
	cd $(DOCS_DIR) && $(DOCS_ENV) $(CURDIR)/$(VENV)/bin/sphinx-build -M html rst build -c . -q 2> warnings.log
	@if grep -vE "$(DOCS_NOT_OURS)" $(DOCS_DIR)/warnings.log | grep .; then \
		echo "make docs: Sphinx warnings (above) in the collection's documentation"; exit 1; fi
	@echo "make docs: $(DOCS_DIR)/build/html/index.html (no warnings of the collection's own)"

demo: venv collection-link
	$(VPY) tests/demo.py

# `make bench` (sizes 100 and 1000, about 25 min) or a quick run: make bench BENCH_ARGS="--sizes 20"
bench: venv azcli azcollection collection-link
	$(VPY) bench/run.py --azcollection-venv $(AZCOLL_VENV) --az $(VMRESCUE_AZ) $(BENCH_ARGS)

clean:
	rm -rf .tmp .pytest_cache

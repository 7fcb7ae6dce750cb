# Stand-in for ansible-test's get-pip bootstrap download, which is not reachable offline:
# `make test` copies it to ansible-test's cache so new test venvs get pip from ensurepip.
import ensurepip

ensurepip.bootstrap(upgrade=True)

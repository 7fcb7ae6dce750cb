#!/usr/bin/env bash
# Runs the plugins through ansible-playbook: first on localhost, then in a play that targets a
# Windows host whose WinRM port is closed, proving the controller-side actions never connect.
set -eux
ansible-playbook -i inventory.yml controller_plugins.yml "$@"

#!/usr/bin/env bash
# slowroll vs Ansible: the same rolling reboot of the same real hosts (Debian 12 containers from
# tests/reallab), timed against the floor the hosts measure themselves. Needs root, systemd-nspawn and
# debootstrap (see tests/reallab/README.md). Installs ansible-core into bench/.ansible-venv (gitignored).
#
#   bench/vs_ansible.sh            # 4 hosts, 3 rounds of each tool (first waits up to 600 s for a quiet machine)
#   bench/vs_ansible.sh --quick    # 2 hosts, 1 round (~20 s)
#   options: --hosts N, --rounds N, --wait-quiet S
#
# The lab is created and torn down by bench/_vs_ansible.py (Lab.claim as a context manager, also on
# errors, Ctrl-C and SIGTERM); on any exit this script also removes whatever a killed run left behind.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
py="$repo/.venv/bin/python"
venv="$here/.ansible-venv"

cleanup() {
    # labs whose owning process is gone (a driver killed by SIGKILL cannot clean up after itself)
    (cd "$repo" && "$py" -m tests.reallab cleanup >/dev/null 2>&1) || true
}
trap cleanup EXIT

if [ ! -x "$venv/bin/ansible-playbook" ]; then
    echo "installing ansible-core into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q ansible-core
fi

cd "$repo"
"$py" -m tests.reallab check >/dev/null || { "$py" -m tests.reallab check; exit 2; }
"$py" "$here/_vs_ansible.py" --ansible "$venv" "$@"

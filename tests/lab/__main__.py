# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Command line of the test lab; run from the repository root.

Test infrastructure only; the collection never imports anything from here.

    python -m tests.lab up [--hosts N] [--scenario FILE] [--lab-dir .lab] [--transport ntlm|basic]
                           [--command-cost SECONDS] [--bind ADDRESS]
    python -m tests.lab status [--json] [--lab-dir .lab]
    python -m tests.lab reset [--lab-dir .lab]
    python -m tests.lab down [--lab-dir .lab]

``serve`` is the daemon ``up`` starts; it is not meant to be run by hand.
Exit status: 0 success, 1 a clear error on stderr, 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .client_state import ClientStateError
from .pki import PKIError
from .runner import (
    DEFAULT_BIND,
    DEFAULT_LAB_DIR,
    DEFAULT_SCENARIO,
    MAX_COMMAND_COST,
    TRANSPORTS,
    LabError,
    down,
    format_status,
    reset,
    serve,
    status,
    up,
)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not 0 <= value <= MAX_COMMAND_COST:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be from 0 to {MAX_COMMAND_COST:g} seconds, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.lab",
                                     description="Simulated DirectAccess clients for directaccess.iphttps.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{up,status,reset,refresh-policy,down}")

    def lab_dir(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--lab-dir", default=DEFAULT_LAB_DIR,
                         help="directory of the lab's PKI, state and inventory (default: %(default)s)")

    def fleet(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--hosts", type=_positive_int, default=None,
                         help="fleet size; the scenario's counts become weights (default: the counts)")
        sub.add_argument("--scenario", default=str(DEFAULT_SCENARIO), help="scenario file (default: %(default)s)")
        sub.add_argument("--transport", choices=TRANSPORTS, default="ntlm",
                         help="WinRM authentication the endpoints accept (default: %(default)s)")
        sub.add_argument("--command-cost", type=_seconds, default=0.0, metavar="SECONDS",
                         help="latency model: seconds every WinRM command spends before its output is "
                              "available, for a cold PowerShell start plus network round trips "
                              "(default: %(default)s, off; docs/lab.md)")
        sub.add_argument("--bind", default=DEFAULT_BIND, metavar="ADDRESS",
                         help="IPv4 address of this machine the WinRM endpoints listen on and the inventory "
                              "names (default: %(default)s)")
        sub.add_argument("--domain", default=None, metavar="FILE",
                         help="also serve a GPO management host for this domain file (tests/lab/domains/*.yml; "
                              "docs/gpo.md); its inventory is gpo_inventory.yml")

    start = commands.add_parser("up", help="start the lab in the background and wait until it serves")
    fleet(start)
    lab_dir(start)
    report = commands.add_parser("status", help="show each host's scenario, port, IP-HTTPS error and counts")
    report.add_argument("--json", action="store_true", help="print JSON instead of a table")
    lab_dir(report)
    again = commands.add_parser("reset", help="put every host back to its scenario template (between jobs)")
    lab_dir(again)
    policy = commands.add_parser("refresh-policy", help="a Group Policy refresh on every host that reaches the "
                                                        "domain (needs a lab started with --domain)")
    lab_dir(policy)
    stop = commands.add_parser("down", help="stop the lab (SIGTERM, then SIGKILL)")
    lab_dir(stop)
    daemon = commands.add_parser("serve")  # what 'up' runs in the background; hidden from the summary
    fleet(daemon)
    lab_dir(daemon)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return serve(args.lab_dir, args.scenario, args.hosts, args.transport, args.command_cost, args.bind,
                         args.domain)
        if args.command == "up":
            lab = up(args.lab_dir, args.hosts, args.scenario, args.transport, command_cost=args.command_cost,
                     bind=args.bind, domain=args.domain)
            listening = sum(host["listening"] for host in lab["hosts"].values())
            cost = f", {lab['command_cost']:g} s per command" if lab.get("command_cost") else ""
            where = f" on {lab['bind']}" if lab["bind"] != DEFAULT_BIND else ""
            print(f"lab up in {lab['startup_seconds']:.2f}s: {len(lab['hosts'])} hosts, {listening} WinRM "
                  f"endpoints{where} ({lab['transport']} over https{cost}), pid {lab['pid']}")
            print(f"inventory: {lab['inventory']}")
            if lab.get("management_host"):
                print(f"GPO management host {lab['management_host']['name']}: {lab['management_host']['inventory']}")
            for note in lab.get("notes", []):
                print(f"note: {note}")
            return 0
        if args.command == "status":
            result = status(args.lab_dir)
            print(json.dumps(result, indent=2) if args.json else format_status(result))
            return 0
        if args.command == "refresh-policy":
            from .gpo import refresh_group_policy  # pylint: disable=import-outside-toplevel

            state_dir = Path(args.lab_dir) / "state"
            if not (state_dir / "domain.json").exists():
                raise LabError(f"{args.lab_dir}: no domain: start the lab with --domain FILE first")
            outcome = refresh_group_policy(state_dir)
            for name, changed in sorted(outcome.items()):
                print(f"{name}: {'cannot reach the domain' if changed is None else 'changed' if changed else 'unchanged'}")
            return 0
        if args.command == "reset":
            names = reset(args.lab_dir)
            print(f"lab reset: {len(names)} hosts back to their scenario templates")
            return 0
        outcome = down(args.lab_dir)
        print(f"lab {outcome}" if outcome != "not running" else "no lab running; nothing to stop")
        return 0
    except (LabError, PKIError, ClientStateError, OSError) as exc:
        # Errors with a message that names the file and the reason; anything else is a lab bug.
        print(f"lab: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

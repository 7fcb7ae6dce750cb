# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stage the working tree as <dest>/ansible_collections/directaccess/iphttps for ansible-test.

ansible-test only runs from inside an ``ansible_collections/<ns>/<name>`` path, and it lists
files through git, so the stage is its own git repository holding exactly the files this
checkout tracks (plus new, unignored ones). Virtual environments and lab state never leak in.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys


def repo_files(root: str) -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root, check=True, capture_output=True,
    ).stdout
    names = sorted({n for n in out.decode("utf-8").split("\0") if n})
    # Tracked files deleted in the working tree are listed by git but must not be staged.
    return [n for n in names if os.path.isfile(os.path.join(root, n))]


def stage(root: str, dest_root: str) -> str:
    dest = os.path.join(dest_root, "ansible_collections", "directaccess", "iphttps")
    wanted = set(repo_files(root))
    os.makedirs(dest, exist_ok=True)
    # Remove what is no longer in the checkout; keep .git and tests/output (ansible-test's cache).
    keep = {".git", os.path.join("tests", "output")}
    for dirpath, dirnames, filenames in os.walk(dest):
        rel_dir = os.path.relpath(dirpath, dest)
        dirnames[:] = [d for d in dirnames if os.path.normpath(os.path.join(rel_dir, d)) not in keep]
        for name in filenames:
            if os.path.normpath(os.path.join(rel_dir, name)) not in wanted:
                os.unlink(os.path.join(dirpath, name))
    for rel in wanted:
        src = os.path.join(root, rel)
        dst = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if not os.path.exists(dst) or os.path.getmtime(dst) != os.path.getmtime(src) \
                or os.path.getsize(dst) != os.path.getsize(src):
            shutil.copy2(src, dst)
    git = ["git", "-c", "init.defaultBranch=main"]
    if not os.path.isdir(os.path.join(dest, ".git")):
        subprocess.run(git + ["init", "-q"], cwd=dest, check=True)
    subprocess.run(["git", "add", "-A"], cwd=dest, check=True)
    return dest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dest_root", help="folder that will hold ansible_collections/")
    args = parser.parse_args()
    root = subprocess.run(["git", "rev-parse", "--show-toplevel"], check=True,
                          capture_output=True, text=True).stdout.strip()
    print(stage(root, os.path.abspath(args.dest_root)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read a local file to a bound without ever blocking: the one reader for CA sources and report folders.

Internal to directaccess.iphttps; may change without notice. No Ansible imports. Callers turn the
exceptions below into their own messages, which name the option or file.
"""
from __future__ import annotations

import errno
import os
import stat


class NotRegularFile(Exception):
    """The path is a folder, FIFO, device or socket; ``kind`` says which, for messages."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


class FileTooLarge(Exception):
    """The file holds more than the limit."""


class ReadFailed(Exception):
    """The operating system refused; ``stage`` is 'open' or 'read', ``error`` the OSError."""

    def __init__(self, stage: str, error: OSError):
        super().__init__(f"{stage}: {error}")
        self.stage = stage
        self.error = error

    @property
    def reason(self) -> str:
        return self.error.strerror or str(self.error)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_regular_file(path: str, limit: int) -> bytes:
    """The bytes of a regular file holding at most ``limit`` bytes.

    Opened without blocking and checked on the open descriptor, so a FIFO, a device such as
    /dev/zero or a folder is refused, even one swapped in after a look at the path; at most one
    byte past the limit is read, so an oversize file is refused rather than silently cut.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.EISDIR:
            raise NotRegularFile("a folder") from None
        raise ReadFailed("open", exc) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(_kind(mode))
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:  # /proc/1/mem and other files that refuse to be read
        raise ReadFailed("read", exc) from None
    finally:
        os.close(fd)
    if size > limit:
        raise FileTooLarge()
    return b"".join(chunks)

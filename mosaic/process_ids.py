"""Which process on which host left a file behind, and whether it still runs.

Writers put ``owner_tag()`` (this host and their pid) in the names of what they leave while
they work (temporary files, work folders), so that a later run on the same host can remove what
a killed process left (``tagged_owner``, ``left_by_the_dead``); names from other hosts are never
touched.
"""

from __future__ import annotations

import os
import re
import socket

_OWNER_TAG = re.compile(r"~(?P<host>[^~/]*)~(?P<pid>\d+)~")


def host_token(host: str | None = None) -> str:
    """A host's name (default this host's) as file names carry it (``~`` and ``/``
    replaced)."""
    return (socket.gethostname() if host is None else host).replace("~", "-").replace("/", "-")


def pid_alive(pid: int) -> bool:
    """A process with this id exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def left_by_the_dead(host: object, pid: object) -> bool:
    """A name or record written by process ``pid`` on ``host`` (as a file name carries it, or
    as a record stores it) is stale: this host, and it is gone. Anything else, malformed
    values included, is not."""
    return (isinstance(host, str) and isinstance(pid, int) and host_token(host) == host_token()
            and not pid_alive(pid))


def owner_tag() -> str:
    """``~<host>~<pid>~`` of this process, for the names it leaves while it works."""
    return f"~{host_token()}~{os.getpid()}~"


def tagged_owner(name: str) -> tuple[str, int] | None:
    """(host, pid) of the ``owner_tag`` in a name, or None when it carries none."""
    m = _OWNER_TAG.search(name)
    return None if m is None else (m.group("host"), int(m.group("pid")))

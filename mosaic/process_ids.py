"""Which process on which host left a file behind, and whether it still runs.

Writers put ``host_token()`` and their pid in the names of what they leave while they work
(temporary files, work folders), so that a later run on the same host can remove what a killed
process left (``left_by_the_dead``); names from other hosts are never touched.
"""

from __future__ import annotations

import os
import socket


def host_token() -> str:
    """This host's name as file names carry it (``~`` and ``/`` replaced)."""
    return socket.gethostname().replace("~", "-").replace("/", "-")


def pid_alive(pid: int) -> bool:
    """A process with this id exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def left_by_the_dead(host: str, pid: int) -> bool:
    """A name written by process ``pid`` on ``host`` is stale: this host, and it is gone."""
    return host == host_token() and not pid_alive(pid)

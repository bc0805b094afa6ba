"""Typed, actionable exceptions.

Every error raised on bad input names what was looked at (scene, file), what is wrong, and what
to do. The library raises; only the CLI turns an error into an exit code.
"""

from __future__ import annotations

from pathlib import Path


class MosaicError(Exception):
    """Base class of every error mosaic raises on purpose.

    Pickles whole, whatever a subclass's constructor takes (scene workers send errors back):
    the args and attributes are restored without calling the constructor again."""

    def __reduce__(self) -> tuple:
        return _rebuilt, (type(self), self.args, dict(self.__dict__))


def _rebuilt(cls: type[MosaicError], args: tuple, state: dict) -> MosaicError:
    """A pickled ``MosaicError`` of class ``cls`` (``MosaicError.__reduce__``)."""
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class SceneDataError(MosaicError):
    """A scene's files are missing, truncated or inconsistent.

    Attributes:
        scene_id: the scene being read.
        path: the offending file (or folder).
        cause: what is wrong, in one sentence.
        hint: what the user can do about it.
    """

    def __init__(self, scene_id: str, path: str | Path | None, cause: str, hint: str = ""):
        self.scene_id = scene_id
        self.path = str(path) if path is not None else None
        self.cause = cause
        self.hint = hint
        where = f" ({self.path})" if self.path else ""
        msg = f"scene {scene_id}{where}: {cause}"
        if hint:
            msg += f". {hint}"
        super().__init__(msg)

    def as_record(self) -> dict:
        """Plain-data form used in failure reports."""
        return {
            "scene": self.scene_id,
            "file": self.path,
            "cause": self.cause,
            "hint": self.hint,
            "type": type(self).__name__,
        }


class MissingDataError(SceneDataError):
    """A required file or folder does not exist."""


class CorruptDataError(SceneDataError):
    """A file exists but cannot be parsed or disagrees with its companions."""


class DatasetRootError(MosaicError):
    """The dataset root given by the user does not look like the expected release.

    Attributes:
        path: the offending file or folder when one is to blame (else None).
    """

    def __init__(self, message: str, path: str | Path | None = None):
        super().__init__(message)
        self.path = str(path) if path is not None else None


class BackendUnavailableError(MosaicError):
    """An optional ray-casting backend cannot be imported here; the message says how to install."""


class UnknownNameError(MosaicError, KeyError):
    """A registry lookup failed; the message lists the valid names."""

    def __init__(self, kind: str, name: str, valid: list[str] | tuple[str, ...]):
        self.kind, self.name, self.valid = kind, name, tuple(valid)
        super().__init__(f"unknown {kind} {name!r}; valid names: {', '.join(sorted(valid))}")

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class ConfigError(MosaicError):
    """A configuration file or override is invalid."""


class ShardError(MosaicError):
    """A dataset shard is missing, incomplete or fails its checksum."""


def os_error_message(exc: OSError) -> str | None:
    """One line for an operating-system error a user can act on (disk full, permission,
    read-only or failing storage, missing path): what happened, to which file, what to do.
    None when the error carries no errno (then it is a bug, not the environment)."""
    import errno

    if exc.errno is None:
        return None
    files = [f for f in (exc.filename, getattr(exc, "filename2", None)) if f]
    where = f" ({' -> '.join(str(f) for f in files)})" if files else ""
    strerror = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        what = "no space left on the device" if exc.errno == errno.ENOSPC else "disk quota full"
        if any(_in_temp_folder(f) for f in files):  # work files, e.g. of a scene pool
            elsewhere = "point TMPDIR at a folder with room"
        else:
            elsewhere = "write somewhere else (--out / --output)"
        return (f"{what}{where}: free some space or {elsewhere}, then rerun the same command; "
                "finished work is kept")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return (f"permission denied{where}: give this user access to it (or choose another "
                "path), then rerun the same command")
    if exc.errno == errno.EROFS:
        return f"read-only file system{where}: write somewhere else, then rerun"
    if exc.errno == errno.EIO:
        return (f"input/output error{where}: the disk or network file system failed; check "
                "it, then rerun the same command")
    if exc.errno == errno.ENOENT:
        return f"no such file or folder{where}: check the path"
    return f"{strerror}{where}"


def raised_at(exc: BaseException) -> str | None:
    """``file:line`` of the innermost frame of the traceback that raised ``exc`` (None
    without a traceback)."""
    import traceback

    tb = traceback.extract_tb(exc.__traceback__)
    return f"{tb[-1].filename}:{tb[-1].lineno}" if tb else None


def _in_temp_folder(path: str | bytes | int) -> bool:
    import tempfile

    if not isinstance(path, str):
        return False
    return Path(path).resolve().is_relative_to(Path(tempfile.gettempdir()).resolve())

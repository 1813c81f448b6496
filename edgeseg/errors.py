"""Exceptions that carry a one-line message meant for the user (the CLI prints it and exits non-zero)."""


class EdgesegError(Exception):
    """A user-facing error: bad argument, bad file, missing optional dependency."""


class EdgesegInputError(EdgesegError, ValueError):
    """An image or array given to the runtime cannot be segmented (wrong rank, dtype, size, values)."""


class IntegrityError(EdgesegError):
    """A checkpoint or bundle file is malformed, tampered with, or does not match its manifest."""


class MissingDependency(EdgesegError, ImportError):
    """An optional dependency is not installed; the message names the extra that provides it."""


def require(module: str, extra: str):
    """Import an optional module lazily, or fail with "install edgeseg[extra]"."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(
            f"{module} is not installed ({exc}); install it with: pip install 'edgeseg[{extra}]'"
        ) from exc

"""Text that comes from people and files: checked once at the boundary, with a clear message when it is bad."""

import stat
from pathlib import Path

from .errors import WorkbenchError

MAX_TEXT_CHARS = 1_000_000
"""Longest prompt or edit accepted (far beyond any model context; refused before tokenizing)."""
MAX_FILE_BYTES = 64 * 1024 * 1024
"""Largest text file imported (prompt sets, answers, questions, edited answers)."""


def check_text(text: str, what: str = "The prompt") -> str:
    """`text` if it is valid Unicode of a sane length; WorkbenchError otherwise.

    Invalid UTF-8 on a command line reaches Python as lone surrogates (and a pasted lone surrogate reaches it
    from Qt); SQLite and the tokenizer cannot store those, so they are refused here, not half-way through a turn.
    """
    if len(text) > MAX_TEXT_CHARS:
        raise WorkbenchError(f"{what} is {len(text):,} characters; the limit is {MAX_TEXT_CHARS:,}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise WorkbenchError(f"{what} is not valid UTF-8 text (a stray byte or surrogate at character "
                             f"{exc.start}); retype or re-save it as UTF-8") from None
    return text


def read_text_file(path: str | Path, what: str = "File") -> str:
    """The UTF-8 text of `path`, with one clear WorkbenchError for every way the file can be unusable."""
    path = Path(path).expanduser()
    try:
        status = path.stat()
        size = status.st_size
        if stat.S_ISDIR(status.st_mode):
            raise WorkbenchError(f"{what} {path} is a folder, not a file")
        if size > MAX_FILE_BYTES:
            raise WorkbenchError(f"{what} {path} is {size / 2**20:.0f} MiB; the limit is "
                                 f"{MAX_FILE_BYTES // 2**20} MiB")
        data = path.read_bytes()
    except FileNotFoundError:
        raise WorkbenchError(f"{what} not found: {path}") from None
    except OSError as exc:
        raise WorkbenchError(f"Cannot read {what.lower()} {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WorkbenchError(f"{what} {path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                             f"{exc.start})") from None

"""What a command writes: checked before any work, written atomically, never lost.

- :func:`check` refuses, before training or predicting, an output whose
  folder is missing or not writable (it creates and removes the temporary
  file the write will use), that is a folder or a device, or that is one of
  the command's inputs (``train d.npz --save d.npz`` would replace the data).
- :func:`picture_path` accepts only picture formats matplotlib writes; a name
  without a suffix gets ``.png`` (and the report names that file).
- :func:`save_model` writes the model atomically; if that still fails at the
  end (a full disk), it writes the model to a fallback path — the same
  folder, then the temporary folder — and returns a one-line message saying
  what failed and where the model went.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from ..errors import ConfigError
from ..faults import describe_exception
from ..io.files import check_output


def check(path, option: str, *, inputs=(), size: int = 0) -> Path | None:
    """:func:`deltarule.io.files.check_output` for an option that may be unset."""
    if path is None:
        return None
    return check_output(path, option, inputs=[i for i in inputs if i], size=size)


def picture_path(path, option: str) -> Path | None:
    """``path`` with a picture suffix matplotlib writes (``.png`` added if none)."""
    if path is None:
        return None
    from matplotlib.backend_bases import FigureCanvasBase

    p = Path(path)
    formats = FigureCanvasBase.get_supported_filetypes()
    if not p.suffix:
        return p.with_name(p.name + ".png")
    if p.suffix[1:].lower() not in formats:
        raise ConfigError(
            f"{option} {str(path)}: matplotlib cannot write {p.suffix!r} pictures; use "
            "one of "
            f"{', '.join('.' + f for f in sorted(formats))}"
        )
    return p


def fallback_paths(path: Path):
    """Where a model goes when its own path cannot be written: same folder, then temp."""
    name = f"{path.stem}.recovered-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.npz"
    yield path.with_name(name)
    yield Path(tempfile.gettempdir()) / name


def save_model(result, path: Path) -> tuple[Path | None, str | None]:
    """``(path written, problem)``: write ``result`` to ``path``, else to a fallback.

    ``problem`` is ``None`` when ``path`` was written, else one line saying
    why not and where the model is (or that no fallback could be written).
    """
    from ..io.model import save

    try:
        return save(result, path), None
    except OSError as exc:
        first = f"cannot write --save {str(path)!r}: {exc.strerror or describe_exception(exc)}"
    tried = []
    for candidate in fallback_paths(Path(path)):
        try:
            written = save(result, candidate)
        except OSError as exc:
            tried.append(f"{str(candidate)!r}: {exc.strerror or describe_exception(exc)}")
            continue
        return written, f"{first}; the trained model was written to {str(written)!r} instead"
    return None, (f"{first}; no fallback could be written either ({'; '.join(tried)}), so "
                  "the trained model is lost")

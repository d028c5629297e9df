"""The one ``.npz`` reader: every array of a file, never unpickling anything.

Model files (:mod:`deltarule.io.model`) and data files
(:mod:`deltarule.io.data`) are both read through :func:`load_npz_arrays`.
"""

from __future__ import annotations

import zipfile

import numpy as np

META_KEY = "__deltarule__"  # the JSON metadata array that marks a model file


def load_npz_arrays(path, error: type[Exception], what: str) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` file ``path``, never unpickling anything.

    Anything else — not a zip, a bare ``.npy``, pickled object arrays, a
    damaged or truncated archive — raises ``error`` saying which, for ``what``
    the file should have been ("a deltarule model", "a data file").
    """
    name = repr(str(path))
    if not zipfile.is_zipfile(path):
        raise error(f"{name} is not a .npz (zip) file, so not {what}")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except ValueError as exc:
        raise error(
            f"{name} holds pickled objects, which deltarule never loads (unsafe); "
            f"it is not {what} ({exc})"
        ) from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise error(f"{name} is damaged or truncated, not {what} that can be read: "
                    f"{exc}") from None

"""Files: the safe ``.npz`` reader, model files and data files.

- :mod:`deltarule.io.npz`   — the one ``.npz`` reader (no pickles, clear errors);
- :mod:`deltarule.io.model` — model files: :func:`~deltarule.io.model.save`,
  :func:`~deltarule.io.model.load`, :func:`~deltarule.io.model.read_metadata`;
- :mod:`deltarule.io.data`  — data files: CSV/TSV tables and ``.npz`` arrays.
"""

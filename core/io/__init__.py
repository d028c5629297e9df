"""Files: the safe ``.npz`` reader, model files and data files.

- :mod:`deltarule.io.files` — regular files only in, atomic writes out, outputs
  checked before any work;
- :mod:`deltarule.io.npz`   — the one safe ``.npz`` reader (members read on
  request, headers checked before any data, no pickles, clear errors);
- :mod:`deltarule.io.schema` — the model metadata schema;
- :mod:`deltarule.io.model` — model files: :func:`~deltarule.io.model.save`,
  :func:`~deltarule.io.model.load`, :func:`~deltarule.io.model.read_metadata`;
- :mod:`deltarule.io.data`  — data files: CSV/TSV tables and ``.npz`` arrays.
"""

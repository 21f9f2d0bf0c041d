"""Reading one variable of a MATLAB ``.mat`` file: v4 to v7 through ``scipy.io``, v7.3 (HDF5)
through ``h5py`` (the optional extra ``dissim[mat]``).

Both give one picture of a variable: numeric and logical arrays in MATLAB's orientation (rows x
columns x ...; at least 2-D, as MATLAB has no 1-D arrays), char arrays as ``str``, cell arrays as
numpy object arrays of such values. Linear MATLAB indexing (``C{i}``) is column-major, so a cell's
elements in MATLAB's order are ``cell.ravel(order="F")``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UserError

MAT_EXTRA = "dissim[mat]"
V73 = 2  # scipy's major version number of v7.3 (HDF5) files


def read_mat_variable(path: Path, name: str):
    """The variable ``name`` of the .mat file ``path``; a UserError naming the file if it is not a
    MATLAB file, holds no such variable, or is v7.3 without h5py installed."""
    from scipy.io.matlab import MatReadError, matfile_version

    try:
        major, _ = matfile_version(str(path), appendmat=False)
    except (MatReadError, ValueError, OSError) as exc:
        raise UserError(f"{path} is not a MATLAB .mat file ({exc}): give a file saved by MATLAB's save") from None
    return _read_hdf5(path, name) if major == V73 else _read_classic(path, name)


def _read_classic(path: Path, name: str):
    from scipy.io import loadmat, whosmat

    try:
        content = loadmat(str(path), variable_names=[name], appendmat=False)
    except Exception as exc:  # noqa: BLE001 (scipy raises many types for damaged files)
        raise UserError(f"cannot read {path} as a MATLAB file ({type(exc).__name__}: {exc}): "
                        "save it again in MATLAB (save(FILE, 'DATA', '-v7'))") from None
    if name not in content:
        _missing(path, name, [entry[0] for entry in whosmat(str(path), appendmat=False)])
    return _from_scipy(content[name])


def _from_scipy(value):
    """scipy's char arrays (an array of row strings) as str, or an array of str for several rows;
    cells element by element."""
    if isinstance(value, np.ndarray) and value.dtype.kind == "U":
        return str(value.ravel()[0]) if value.size == 1 else value.ravel()
    if isinstance(value, np.ndarray) and value.dtype == object:
        out = np.empty(value.shape, dtype=object)
        for index, element in np.ndenumerate(value):
            out[index] = _from_scipy(element)
        return out
    return value


def _missing(path: Path, name: str, present: list[str]) -> None:
    held = ", ".join(present) if present else "no variables"
    raise UserError(f"{path} has no variable {name} (it holds {held}): save the data set as {name} "
                    f"(in MATLAB: save(FILE, '{name}'))")


def _read_hdf5(path: Path, name: str):
    try:
        import h5py
    except ImportError:
        raise UserError(f"{path} is a MATLAB v7.3 (HDF5) file, which needs h5py: pip install '{MAT_EXTRA}' "
                        "(or save it in MATLAB with save(FILE, 'DATA', '-v7'))") from None
    try:
        with h5py.File(path, "r") as file:
            if name not in file:
                _missing(path, name, [key for key in file if not key.startswith("#")])
            return _from_hdf5(file[name], file, name, path)
    except OSError as exc:
        raise UserError(f"cannot read {path} as a MATLAB v7.3 (HDF5) file ({exc}): save it again in MATLAB") from None


def _matlab_class(node) -> str:
    value = node.attrs.get("MATLAB_class", b"")
    return value.decode() if isinstance(value, bytes) else str(value)


def _from_hdf5(node, file, where: str, path: Path):
    """One MATLAB value stored in HDF5 (arrays are stored with their dimensions reversed)."""
    import h5py

    cls = _matlab_class(node)
    if isinstance(node, h5py.Group) or cls in ("struct", "function_handle") or node.dtype.names:
        kind = cls or "HDF5 group"
        raise UserError(f"{path}: {where} is a MATLAB {kind}, which dissim does not read: store "
                        "numeric arrays, text and cell arrays only")
    if node.attrs.get("MATLAB_empty", 0):
        dims = tuple(int(d) for d in np.asarray(node[()]).ravel())
        if cls == "char":
            return ""
        return np.empty(dims, dtype=object if cls == "cell" else np.float64)
    data = node[()]
    if cls == "cell":
        out = np.empty(data.shape[::-1], dtype=object)
        for index, reference in np.ndenumerate(data):
            out[index[::-1]] = _from_hdf5(file[reference], file, f"{where}{{...}}", path)
        return out
    data = np.asarray(data).T
    if cls == "char":
        rows = ["".join(map(chr, row)) for row in np.atleast_2d(data)]
        return rows[0] if len(rows) == 1 else np.array(rows)
    return data.astype(bool) if cls == "logical" else data

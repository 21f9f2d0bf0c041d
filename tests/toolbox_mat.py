"""Writers of the MATLAB toolbox's DATA .mat files for the tests: v5 through scipy.io, v7.3 (HDF5)
laid out as MATLAB writes it (512-byte header, arrays stored with reversed dimensions, cell arrays
as object references into ``#refs#``, a ``MATLAB_class`` attribute on every dataset)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

MATLAB_CLASSES = {np.dtype(np.float64): "double", np.dtype(np.float32): "single", np.dtype(np.uint8): "uint8",
                  np.dtype(np.uint16): "uint16", np.dtype(np.int32): "int32", np.dtype(np.int64): "int64",
                  np.dtype(bool): "logical"}


def cell(values) -> np.ndarray:
    """A 1 x n MATLAB cell array."""
    out = np.empty((1, len(values)), dtype=object)
    for i, value in enumerate(values):
        out[0, i] = value
    return out


def folds_to_div(folds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(DIV, DIM1, DIM2) of 0-based (train, test) folds: rows of 1-based indices, zero-padded."""
    rows = [np.concatenate([train, test]) + 1 for train, test in folds]
    div = np.zeros((len(rows), max(len(r) for r in rows)))
    for i, row in enumerate(rows):
        div[i, :len(row)] = row
    return div, np.array([[len(train) for train, _ in folds]], float), np.array([[len(r) for r in rows]], float)


def toolbox_data(images, labels, folds=None, *, div=None, dim1=None, dim2=None) -> np.ndarray:
    """The DATA cell {images, labels, DIV, DIM1, DIM2}; DIV and DIM1/DIM2 from ``folds`` unless given
    (a single DIM1 or DIM2 value is stored as a scalar)."""
    if folds is not None:
        div_f, dim1_f, dim2_f = folds_to_div(folds)
        div = div_f if div is None else div
        dim1 = (dim1_f if len(set(dim1_f.ravel())) > 1 else dim1_f[:, :1]) if dim1 is None else dim1
        dim2 = (dim2_f if len(set(dim2_f.ravel())) > 1 else dim2_f[:, :1]) if dim2 is None else dim2
    first = cell(list(images)) if isinstance(images, list) else images  # a list: a cell array of images
    text = all(isinstance(label, str) for label in labels)
    labels = cell(list(labels)) if text else np.asarray(labels, dtype=float).reshape(1, -1)
    return cell([first, labels, np.asarray(div, float), np.asarray(dim1, float), np.asarray(dim2, float)])


def write_mat(path: Path, variables: dict, version: str = "v5") -> Path:
    """Write ``variables`` as a MATLAB v5 (scipy) or v7.3 (HDF5) file."""
    if version == "v5":
        from scipy.io import savemat

        savemat(path, variables, do_compression=True)
    else:
        _write_v73(path, variables)
    return Path(path)


def _write_v73(path: Path, variables: dict) -> None:
    import h5py

    with h5py.File(path, "w", userblock_size=512) as file:
        refs = file.create_group("#refs#")
        names = iter(f"r{i}" for i in range(10**9))

        def put(group, name, value):
            if isinstance(value, str):
                data = np.array([[ord(c) for c in value]], dtype=np.uint16)
                ds = group.create_dataset(name, data=data.T)
                ds.attrs["MATLAB_class"] = np.bytes_("char")
                ds.attrs["MATLAB_int_decode"] = np.int32(2)
                return ds
            value = np.asarray(value)
            if value.dtype == object:
                references = np.empty(value.shape[::-1], dtype=h5py.ref_dtype)
                for index, element in np.ndenumerate(value):
                    references[index[::-1]] = put(refs, next(names), element).ref
                ds = group.create_dataset(name, data=references, dtype=h5py.ref_dtype)
                ds.attrs["MATLAB_class"] = np.bytes_("cell")
                return ds
            value = np.atleast_2d(value)
            ds = group.create_dataset(name, data=(value.astype(np.uint8) if value.dtype == bool else value).T)
            ds.attrs["MATLAB_class"] = np.bytes_(MATLAB_CLASSES[value.dtype])
            if value.dtype == bool:
                ds.attrs["MATLAB_int_decode"] = np.int32(1)
            return ds

        for name, value in variables.items():
            put(file, name, value)
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    with open(path, "r+b") as handle:
        handle.write(header.ljust(116) + bytes(8) + b"\x00\x02" + b"IM")

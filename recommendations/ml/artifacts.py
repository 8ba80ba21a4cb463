"""Artifact bundles: numpy arrays + JSON parameters in a directory, sealed with a sha256 checksum."""

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

CHECKSUM_FILE = "checksum.sha256"
_FILES = ("arrays.npz", "params.json")


class ArtifactError(Exception):
    pass


def _digest(directory: Path) -> str:
    sha = hashlib.sha256()
    for name in _FILES:
        sha.update((directory / name).read_bytes())
    return sha.hexdigest()


def save_state(directory: str | Path, kind: str, state: dict[str, Any]) -> str:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    params: dict[str, Any] = {"kind": kind, "sparse": [], "values": {}}
    for key, value in state.items():
        if sp.issparse(value):
            csr = sp.csr_matrix(value)
            arrays |= {f"{key}.data": csr.data, f"{key}.indices": csr.indices, f"{key}.indptr": csr.indptr}
            arrays[f"{key}.shape"] = np.array(csr.shape)
            params["sparse"].append(key)
        elif isinstance(value, np.ndarray):
            arrays[key] = value
        else:
            params["values"][key] = value
    with open(directory / "arrays.npz", "wb") as handle:
        np.savez(handle, **arrays)
    (directory / "params.json").write_text(json.dumps(params, sort_keys=True, default=str))
    digest = _digest(directory)
    (directory / CHECKSUM_FILE).write_text(digest)
    return digest


def load_state(directory: str | Path) -> tuple[str, dict[str, Any]]:
    directory = Path(directory)
    expected = (directory / CHECKSUM_FILE).read_text().strip()
    if _digest(directory) != expected:
        raise ArtifactError(f"checksum mismatch in {directory}: artifacts were modified or truncated")
    params = json.loads((directory / "params.json").read_text())
    with np.load(directory / "arrays.npz", allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    state: dict[str, Any] = dict(params["values"])
    for key in params["sparse"]:
        shape = tuple(arrays.pop(f"{key}.shape"))
        parts = (arrays.pop(f"{key}.data"), arrays.pop(f"{key}.indices"), arrays.pop(f"{key}.indptr"))
        state[key] = sp.csr_matrix(parts, shape=shape)
    state |= arrays
    return params["kind"], state

"""Shared by the Python package's tests: the committed fixtures, their
reference values (LLM-Blender on transformers 4.35.2) and the shared
tolerance."""

import json
import os
import pathlib

import pytest

import pairrm

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
TOLERANCE = json.loads((ROOT / "tests" / "tolerance.json").read_text())["logit"]
MODELS = ["tiny-hf", "tiny-ranker", "tiny-trunc"]


def cli():
    """The `pairrm` binary `cargo test --release` built (PAIRRM_CLI overrides)."""
    target = os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
    path = os.environ.get("PAIRRM_CLI", os.path.join(target, "release", "pairrm"))
    if not os.path.exists(path):
        pytest.fail(f"no pairrm CLI at {path}: build it with cargo build --release (or set PAIRRM_CLI)")
    return path


@pytest.fixture(scope="session")
def models():
    """Each fixture model, loaded once on the CPU."""
    return {name: pairrm.PairRM.load(FIXTURES / name) for name in MODELS}


@pytest.fixture(scope="session", params=MODELS)
def case(request, models):
    """(name, expected, model) for each fixture."""
    expected = json.loads((FIXTURES / request.param / "expected.json").read_text(encoding="utf-8"))
    return request.param, expected, models[request.param]


def close(got, want, tol=TOLERANCE):
    import numpy as np

    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert np.all(np.abs(got - want) <= tol), f"got {got}, reference {want}"

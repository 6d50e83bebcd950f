"""Fixtures shared by the training tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_work(tmp_path_factory) -> Path:
    """The folder for ``perfrl_train.testing``'s tiny data set, tokenizer cache and tiny
    checkpoint, which build themselves once per folder: the tests that only read them share
    it, so a test run trains the tiny checkpoint once instead of once per module (or per
    parameter). Under pytest-xdist the workers of one run share it too (their base temp
    folders have a common parent; the builders lock against each other). A test that changes
    a checkpoint writes it elsewhere."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = tmp_path_factory.getbasetemp().parent / "tiny-train"
        shared.mkdir(exist_ok=True)
        return shared
    return tmp_path_factory.mktemp("tiny-train")

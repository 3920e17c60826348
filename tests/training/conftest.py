"""Shared fixtures of the training tests: one synthetic dataset cache for the whole session."""
import os

import pytest

os.environ.setdefault("WANDB_MODE", "disabled")


@pytest.fixture(scope="session")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def smoke(cache):
    """``smoke(*overrides)``: the debug=smoke train config on CPU, scoring off unless asked."""
    from tests.helpers import compose_train

    def make(*overrides):
        return compose_train(["debug=smoke", "device=cpu", f"paths.cache={cache}", "score_after_training=false",
                              *overrides])

    return make

"""tune_tracker: a grid of test-time parameters scored on a validation split; a test split is refused."""
import csv
import json

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from sot.training.run import train
from sot.training.tune import default_val_dataset, tune_tracker


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, cache):
    from tests.helpers import compose_train

    run = tmp_path_factory.mktemp("tune_ckpt")
    train(compose_train(["debug=smoke", "device=cpu", f"paths.cache={cache}", "score_after_training=false"]), run)
    return run / "checkpoints" / "last.pt"


def test_grid_on_the_validation_split(checkpoint, tmp_path):
    node = default_val_dataset(checkpoint)
    assert node.split == "val"
    val = instantiate(node)
    grid = {"window_influence": [0.0, 0.9], "lr": [0.4]}
    result = tune_tracker(checkpoint, val, grid, tmp_path)
    assert len(result["table"]) == 2 and set(result["best"]) == {"window_influence", "lr"}
    best_auc = max(r["auc"] for r in result["table"])
    assert result["metrics"]["auc"] == best_auc
    assert json.loads((tmp_path / "best.json").read_text())["split"] == "val"
    rows = list(csv.DictReader(open(tmp_path / "tune.csv")))
    assert [float(r["window_influence"]) for r in rows] == [0.0, 0.9]


def test_a_test_split_is_refused(checkpoint, tmp_path):
    node = OmegaConf.create(OmegaConf.to_container(default_val_dataset(checkpoint)))
    node.split = "test"
    with pytest.raises(ValueError, match="refuses the split 'test'"):
        tune_tracker(checkpoint, instantiate(node), {"lr": [0.4]}, tmp_path)
    with pytest.raises(ValueError, match="validation split"):
        tune_tracker(checkpoint, [], {"lr": [0.4]}, tmp_path)  # no split named at all


def test_nested_grid_keys_reach_the_online_filter(checkpoint, tmp_path):
    """``grid.online.weight=[...]`` on the command line is a nested grid; it becomes the dotted tracker override
    ``online.weight`` (the default recipe's tracker has the online filter)."""
    from sot.training.tune import flatten_grid

    grid = flatten_grid({"online": {"weight": [0.0, 1.0]}, "lr": [0.4]})
    assert grid == {"online.weight": [0.0, 1.0], "lr": [0.4]}
    result = tune_tracker(checkpoint, instantiate(default_val_dataset(checkpoint)), grid, tmp_path)
    rows = list(csv.DictReader(open(tmp_path / "tune.csv")))
    assert [float(r["online.weight"]) for r in rows] == [0.0, 1.0] and len(result["table"]) == 2
    with pytest.raises(KeyError, match="online.nope"):
        tune_tracker(checkpoint, instantiate(default_val_dataset(checkpoint)), {"online.nope": [1]}, tmp_path)

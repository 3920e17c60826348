"""Every conf/dataset/*.yaml names a reader whose signature takes exactly its keys."""
import importlib
import inspect
from pathlib import Path

import pytest
from omegaconf import OmegaConf

CONF = Path(__file__).resolve().parents[2] / "conf" / "dataset"


@pytest.mark.parametrize("path", sorted(CONF.glob("*.yaml")), ids=lambda p: p.stem)
def test_dataset_yaml_matches_reader_signature(path):
    cfg = OmegaConf.load(path)
    module, cls = cfg._target_.rsplit(".", 1)
    reader = getattr(importlib.import_module(module), cls)
    params = inspect.signature(reader.__init__).parameters
    keys = set(cfg.keys()) - {"_target_"}
    assert keys <= set(params), f"{path.name}: keys {keys - set(params)} not in {cls}{inspect.signature(reader.__init__)}"
    required = {n for n, p in params.items() if n != "self" and p.default is inspect.Parameter.empty}
    assert required <= keys, f"{path.name}: missing {required - keys}"

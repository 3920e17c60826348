"""Search the tracker's test-time parameters of a checkpoint on a validation split (never the test split).

    python tune.py ckpt=outputs/train/.../checkpoints/last.pt
    python tune.py ckpt=PATH 'grid.window_influence=[0.2,0.3,0.4,0.5]' grid.lr='[0.3,0.5]'
    python tune.py ckpt=PATH '+grid.online.weight=[0.5,0.7]'      # a key of a nested part (tracker.online)
    python tune.py ckpt=PATH dataset=... dataset.root=DIR dataset.split=val

Writes tune.csv (every setting and its scores) and best.json into the run folder; the best setting can be
given to eval.py as tracker overrides (``+tracker.window_influence=...``).
"""
import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from sot.training.rundir import register_resolvers
from sot.utils.runtime import set_root_env

set_root_env()
register_resolvers()


@hydra.main(config_path="conf", config_name="tune", version_base="1.3")
def main(cfg: DictConfig) -> float:
    from sot.training.tune import default_val_dataset, flatten_grid, print_table, tune_tracker
    from sot.utils.runtime import import_modules, resolve_device

    import_modules(cfg.get("custom_imports"))
    if cfg.ckpt is None:
        raise ValueError("tune.py needs ckpt=PATH (a sot training checkpoint)")
    node = cfg.get("dataset") or default_val_dataset(cfg.ckpt)
    dataset = instantiate(node)
    grid = flatten_grid(OmegaConf.to_container(cfg.grid, resolve=True))  # grid.online.weight -> 'online.weight'
    result = tune_tracker(cfg.ckpt, dataset, grid, HydraConfig.get().runtime.output_dir, metric=cfg.metric,
                          protocol=cfg.protocol, device=str(resolve_device(cfg.device)), workers=cfg.workers,
                          progress=cfg.progress)
    print_table(result, cfg.metric)
    return result["metrics"][cfg.metric]


if __name__ == "__main__":
    main()

"""Train a tracker: ``python train.py [experiments=NAME] [backbone=...] [neck=...] [head=...]``."""
import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from sot.utils.runtime import set_root_env

set_root_env()


@hydra.main(config_path="conf", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float:
    from sot.training.run import train

    metrics = train(cfg, HydraConfig.get().runtime.output_dir)
    return metrics.get("auc", float("nan"))  # the value a sweeper optimises


if __name__ == "__main__":
    main()

"""Score trackers: ``python eval.py ckpt=PATH [dataset=NAME dataset.root=DIR]`` or ``results=[DIR_A,DIR_B]``."""
import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from sot.utils.runtime import set_root_env

set_root_env()


@hydra.main(config_path="conf", config_name="eval", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from sot.scoring import evaluate

    evaluate(cfg, HydraConfig.get().runtime.output_dir)


if __name__ == "__main__":
    main()

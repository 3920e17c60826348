"""Train a tracker: ``python train.py [experiments=NAME] [backbone=...] [neck=...] [head=...]``.

Several GPUs: ``torchrun --nproc_per_node=N train.py ...`` (every rank resolves the config; they share one
run directory). A sweep: ``python train.py -m ... [launcher=joblib|submitit_slurm] [hparams_search=NAME]``.
"""
import os
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from sot.training.rundir import register_resolvers, share_stamp_across_ranks
from sot.utils.runtime import set_root_env

set_root_env()
register_resolvers()


@hydra.main(config_path="conf", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float:
    from sot.training.run import train

    metrics = train(cfg, HydraConfig.get().runtime.output_dir)
    return metrics.get(cfg.get("optimized_metric") or "auc", float("nan"))  # the value a sweeper optimises


if __name__ == "__main__":
    share_stamp_across_ranks()  # torchrun workers: one run directory for all ranks
    if int(os.environ.get("RANK", "0")) > 0:
        # rank 0 writes the run directory's .hydra/ and train.log; the others leave them alone
        sys.argv += ["hydra.output_subdir=null", "hydra/job_logging=disabled"]
    main()

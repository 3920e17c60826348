"""Parameter counts of every recipe in experiments/, by part: python scripts/param_counts.py [recipe ...]"""
import os
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("SOT_ROOT", str(ROOT))
sys.path.insert(0, str(ROOT))

from sot.models.builder import build_model  # noqa: E402


def count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def main(recipes: list[str]) -> None:
    recipes = recipes or sorted(p.stem for p in (ROOT / "experiments").glob("*.yaml"))
    print(f"{'recipe':<34}{'backbone':>12}{'neck':>10}{'head':>12}{'total':>12}")
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        for r in recipes:
            cfg = compose("train", overrides=[f"experiments={r}"])
            m = build_model(cfg.backbone, cfg.neck, cfg.head)
            print(f"{r:<34}{count(m.backbone):>12,}{count(m.neck):>10,}{count(m.head):>12,}{count(m):>12,}")


if __name__ == "__main__":
    main(sys.argv[1:])

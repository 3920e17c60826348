"""A user's own part from their own package and config dir, with no edit to sot."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from sot.utils.runtime import REPO_ROOT


def test_user_backbone_from_own_package_and_config_dir(tmp_path):
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "tiny.py").write_text(textwrap.dedent('''
        import torch.nn as nn

        class TinyNet(nn.Module):
            """A user's backbone: two strided convs, stride 4, then one more: stride 8."""
            one_stream = False

            def __init__(self, width: int = 16):
                super().__init__()
                self.body = nn.Sequential(
                    nn.Conv2d(3, width, 3, 2, 1), nn.BatchNorm2d(width), nn.ReLU(),
                    nn.Conv2d(width, width, 3, 2, 1), nn.BatchNorm2d(width), nn.ReLU(),
                    nn.Conv2d(width, width, 3, 2, 1), nn.BatchNorm2d(width), nn.ReLU())
                self.out_channels, self.strides = [width], [8]

            def forward(self, x):
                return [self.body(x)]
    '''))
    # a module that "registers by name": importing it adds a timm model, which conf/backbone/timm.yaml then builds
    (pkg / "register.py").write_text(textwrap.dedent('''
        from timm.models import register_model
        from timm.models.resnet import BasicBlock, _create_resnet

        @register_model
        def my_resnet6(pretrained=False, **kwargs):
            return _create_resnet("resnet18", pretrained, block=BasicBlock, layers=[1, 1, 1, 1], **kwargs)
    '''))
    conf = tmp_path / "myconf" / "backbone"
    conf.mkdir(parents=True)
    (conf / "tiny.yaml").write_text("_target_: mypkg.tiny.TinyNet\nwidth: 16\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    common = [sys.executable, str(Path(REPO_ROOT) / "train.py"), "--config-dir", str(tmp_path / "myconf"),
              "debug=smoke", "device=cpu", "score_after_training=false", f"paths.cache={tmp_path / 'cache'}"]
    r = subprocess.run(common + ["backbone=tiny", f"hydra.run.dir={tmp_path / 'run1'}"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "run1" / "checkpoints" / "last.pt").exists()

    r = subprocess.run(common + ["backbone=timm", "backbone.name=my_resnet6", "backbone.out_indices=[2]",
                                 "custom_imports=[mypkg.register]", f"hydra.run.dir={tmp_path / 'run2'}"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]

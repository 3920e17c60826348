"""Loggers: wandb offline writes its run files (config, metrics, success plot, per-sequence table); TensorBoard."""
import json

from sot.training.run import train


def test_wandb_offline_writes_the_run(smoke, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = tmp_path / "run"
    m = train(smoke("logger=wandb", "logger.group=test_group", "score_after_training=true", "val_interval=1"), run)
    assert "auc" in m
    offline = list((run / "wandb").glob("offline-run-*"))
    assert len(offline) == 1
    log = next(offline[0].glob("run-*.wandb")).read_bytes()  # what `wandb sync` uploads
    for text in ("sot.models.backbones.resnet.ResNet", "test_group", "train/loss", "train/lr", "val/auc", "test/auc"):
        assert text.encode() in log, text  # the resolved config, the group, train / val / test metrics
    media = offline[0] / "files" / "media"
    assert list(media.glob("images/test/success_plot_*.png"))
    table = json.loads(next(media.glob("table/test/per_sequence_*.table.json")).read_text())
    assert table["columns"][:2] == ["sequence", "auc"] and len(table["data"]) == 1
    assert (run / "wandb_run_id").read_text().strip() in offline[0].name
    assert f"wandb sync {offline[0]}" in capsys.readouterr().out
    rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("val/auc" in r for r in rows) and any("train/lr" in r for r in rows)


def test_wandb_offline_run_is_complete_when_finish_returns(tmp_path, monkeypatch):
    # run.finish() alone returned before the wandb service had written the run's log (the 7-byte header only),
    # typically for a run started right after a service restart: three runs in a row, each checked at once
    from sot.training.loggers import WandbLogger

    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    for i in range(3):
        logger = WandbLogger(tmp_path / f"run{i}", config={"marker": f"config_{i}"}, mode="offline")
        logger.log({"train/loss": 1.0}, step=1)
        logger.finish()
        log = next((tmp_path / f"run{i}" / "wandb").glob("offline-run-*/run-*.wandb")).read_bytes()
        assert f"config_{i}".encode() in log and b"train/loss" in log, (i, len(log))


def test_tensorboard_logger(smoke, tmp_path):
    train(smoke("logger=tensorboard"), tmp_path / "run")
    events = list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0


def test_offline_unless_an_api_key_is_available(tmp_path, monkeypatch):
    from sot.training.loggers import wandb_api_key_available

    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_BASE_URL", raising=False)
    netrc = tmp_path / "netrc"
    netrc.write_text("machine example.org login user password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    assert not wandb_api_key_available()  # -> WandbLogger(mode=None) runs offline
    netrc.write_text("machine api.wandb.ai login user password 0123456789abcdef\n")
    assert wandb_api_key_available()  # what `wandb login` writes
    monkeypatch.setenv("NETRC", str(tmp_path / "missing"))
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert wandb_api_key_available()

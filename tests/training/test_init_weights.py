"""init_weights (start from a sot checkpoint, strictly) and trainable (freeze all but some prefixes)."""
import pytest
import torch

from sot.training.checkpoint import CheckpointMismatchError, load_checkpoint, save_checkpoint
from sot.training.run import train


def test_init_weights_then_train_only_a_prefix(smoke, tmp_path):
    train(smoke(), tmp_path / "a")
    first = load_checkpoint(tmp_path / "a" / "checkpoints" / "last.pt")["model"]

    train(smoke(f"init_weights={tmp_path / 'a' / 'checkpoints' / 'last.pt'}", "trainable=[head.]"), tmp_path / "b")
    ckpt = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")
    second = ckpt["model"]
    # everything outside the head is exactly the initial weights (BatchNorm statistics included: frozen BNs run in eval)
    assert all(torch.equal(first[k], second[k]) for k in first if not k.startswith("head."))
    assert any(not torch.equal(first[k], second[k]) for k in first if k.startswith("head."))
    opt_params = sum(len(g["params"]) for g in ckpt["optimizer"]["param_groups"])
    assert opt_params == sum(1 for k in first if k.startswith("head.") and "running" not in k and "num_batches" not in k)


def test_init_weights_mismatch_lists_keys(smoke, tmp_path):
    train(smoke(), tmp_path / "a")
    ckpt = load_checkpoint(tmp_path / "a" / "checkpoints" / "last.pt")
    removed = next(iter(ckpt["model"]))
    del ckpt["model"][removed]
    ckpt["model"]["head.extra.weight"] = torch.zeros(3)
    save_checkpoint(tmp_path / "bad.pt", ckpt)
    with pytest.raises(CheckpointMismatchError) as e:
        train(smoke(f"init_weights={tmp_path / 'bad.pt'}"), tmp_path / "b")
    assert removed in str(e.value) and "head.extra.weight" in str(e.value) and "bad.pt" in str(e.value)


def test_trainable_prefix_that_matches_nothing_is_an_error(smoke, tmp_path):
    with pytest.raises(ValueError, match="head.nothing"):
        train(smoke("trainable=[head.nothing]"), tmp_path / "a")

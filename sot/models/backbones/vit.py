"""One-stream ViT (OSTrack): template and search tokens go through one timm ViT together.

Template and search patches get separate learned positional embeddings (``pos_embed_z``, ``pos_embed_x``), are
concatenated, and run through the transformer blocks jointly, so that feature extraction and template-search
relation modelling happen in the same attention layers. Optional candidate elimination (OSTrack's "early
candidate elimination") drops the search tokens that the template attends to least at a few layers.

Parameter names follow timm and OSTrack (``patch_embed.proj``, ``blocks.N.attn.qkv``, ``norm``, ``pos_embed_z``,
``pos_embed_x``), so a released OSTrack checkpoint maps onto this module by prefix (see :mod:`sot.models.convert`).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import timm
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from sot.models.backbones.pretrained import PretrainedMismatchError, read_state_dict

__all__ = ["OneStreamViT", "SetEpochHook", "ce_keep_rate"]


def ce_keep_rate(epoch: int, start_epoch: int, warm_epochs: int, base_keep_rate: float) -> float:
    """OSTrack's candidate-elimination warm-up (``lib/utils/ce_utils.adjust_keep_rate``, per epoch).

    1.0 (nothing eliminated) before ``start_epoch``; then a half cosine from 1.0 down to ``base_keep_rate`` over
    ``warm_epochs`` epochs; ``base_keep_rate`` afterwards.
    """
    if epoch < start_epoch:
        return 1.0
    if epoch >= start_epoch + warm_epochs:
        return float(base_keep_rate)
    t = (epoch - start_epoch) / warm_epochs
    return float(base_keep_rate + (1.0 - base_keep_rate) * 0.5 * (math.cos(t * math.pi) + 1.0))


def _grid_interpolate(pos: Tensor, size: tuple[int, int]) -> Tensor:
    """Bicubic resize of ``(1, h * w, C)`` square-grid positional embeddings to ``size`` ``(H, W)``."""
    n, c = pos.shape[1], pos.shape[2]
    side = int(round(math.sqrt(n)))
    if side * side != n:
        raise ValueError(f"positional embedding with {n} tokens is not a square grid")
    if (side, side) == tuple(size):
        return pos
    grid = pos.reshape(1, side, side, c).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=size, mode="bicubic", align_corners=False)
    return grid.flatten(2).transpose(1, 2)


class OneStreamViT(nn.Module):
    """A timm ViT run jointly on template and search tokens (OSTrack), optionally with candidate elimination.

    Args:
        name: a timm ViT (``vit_base_patch16_224``, ``vit_small_patch16_224``, ``vit_tiny_patch16_224``, ...).
        template_size: template crop side (px); sets the template positional-embedding grid.
        search_size: search crop side (px); sets the search positional-embedding grid. Other crop sizes work too
            (the embeddings are resized bicubically on the fly).
        drop_path_rate: stochastic depth (OSTrack: 0.1).
        ce_loc: block indices after whose attention candidate elimination runs (OSTrack: ``[3, 6, 9]``); empty = off.
        ce_keep_ratio: fraction of the remaining search tokens kept at each of those blocks (OSTrack: 0.7).
        ce_template_range: which template tokens vote: ``ctr_point`` (the centre token of each template, OSTrack's
            ``CTR_POINT``) or ``all``.
        ce_start_epoch, ce_warm_epochs: training warm-up of the keep ratio (OSTrack: 20 and 80; see
            :func:`ce_keep_rate`). The trainer tells the module the epoch through :meth:`set_epoch`; in eval mode
            ``ce_keep_ratio`` applies.
        pretrained: local checkpoint: a timm/MAE ViT of the same width (its ``pos_embed`` is resized into
            ``pos_embed_z`` / ``pos_embed_x``; ``cls_token`` and classifier keys are dropped) or this module's own.
        model_kwargs: more ``timm.create_model`` arguments (e.g. ``patch_size``, ``depth`` for small CPU variants).

    Inputs are normalised crops: ``z`` ``(B, 3, Hz, Wz)`` or several templates ``(B, T, 3, Hz, Wz)``, and ``x``
    ``(B, 3, Hx, Wx)``. Output: ``[search map (B, embed_dim, Hx / p, Wx / p)]``; search tokens eliminated on the
    way are zeros in it (as OSTrack).
    """

    one_stream = True

    def __init__(
        self,
        name: str = "vit_base_patch16_224",
        template_size: int = 128,
        search_size: int = 256,
        drop_path_rate: float = 0.1,
        ce_loc: Sequence[int] = (),
        ce_keep_ratio: float = 0.7,
        ce_template_range: str = "ctr_point",
        ce_start_epoch: int = 20,
        ce_warm_epochs: int = 80,
        pretrained: str | None = None,
        model_kwargs: dict[str, Any] | None = None,
    ):
        super().__init__()
        if ce_template_range not in ("ctr_point", "all"):
            raise ValueError(f"ce_template_range must be 'ctr_point' or 'all', got {ce_template_range!r}")
        if not 0.0 < ce_keep_ratio <= 1.0:
            raise ValueError(f"ce_keep_ratio must be in (0, 1], got {ce_keep_ratio}")
        vit = timm.create_model(name, pretrained=False, num_classes=0, global_pool="", class_token=False,
                                pos_embed="none", drop_path_rate=drop_path_rate, **dict(model_kwargs or {}))
        if not hasattr(vit, "blocks") or not hasattr(vit, "patch_embed"):
            raise ValueError(f"{name!r} is not a timm VisionTransformer")
        self.patch_embed, self.norm_pre, self.blocks, self.norm = vit.patch_embed, vit.norm_pre, vit.blocks, vit.norm
        self.embed_dim = int(vit.embed_dim)
        self.patch_size = int(self.patch_embed.proj.kernel_size[0])
        depth = len(self.blocks)
        self.ce_loc = sorted(int(i) for i in ce_loc)
        if any(not 0 <= i < depth for i in self.ce_loc):
            raise ValueError(f"ce_loc {list(ce_loc)} must index blocks 0..{depth - 1}")
        self.ce_keep_ratio, self.ce_template_range = float(ce_keep_ratio), ce_template_range
        self.ce_start_epoch, self.ce_warm_epochs = int(ce_start_epoch), int(ce_warm_epochs)
        self.epoch = 0
        gz, gx = template_size // self.patch_size, search_size // self.patch_size
        self.pos_embed_z = nn.Parameter(torch.zeros(1, gz * gz, self.embed_dim))
        self.pos_embed_x = nn.Parameter(torch.zeros(1, gx * gx, self.embed_dim))
        nn.init.trunc_normal_(self.pos_embed_z, std=0.02)
        nn.init.trunc_normal_(self.pos_embed_x, std=0.02)
        self.out_channels: list[int] = [self.embed_dim]
        self.strides: list[int] = [self.patch_size]
        self.name = name
        if pretrained:
            self._load(pretrained)

    # ---------------------------------------------------------------------------------------------- weights
    def _load(self, path: str) -> None:
        sd = read_state_dict(path, strip_prefixes=("module.", "backbone."))
        own = self.state_dict()
        if "pos_embed_z" not in sd:  # a timm / MAE ViT: derive the two grids from its pos_embed
            if "pos_embed" not in sd:
                raise PretrainedMismatchError(f"{path}: neither this module's keys (pos_embed_z, ...) nor a ViT pos_embed")
            pos = sd.pop("pos_embed")
            n_prefix = pos.shape[1] - int(round(math.sqrt(pos.shape[1]))) ** 2  # class / distillation tokens
            pos = pos[:, n_prefix:]
            gz, gx = int(math.isqrt(self.pos_embed_z.shape[1])), int(math.isqrt(self.pos_embed_x.shape[1]))
            sd["pos_embed_z"] = _grid_interpolate(pos, (gz, gz))
            sd["pos_embed_x"] = _grid_interpolate(pos, (gx, gx))
            unused = ("cls_token", "dist_token", "reg_token", "head.", "fc_norm.", "head_dist.", "pre_logits.")
            sd = {k: v for k, v in sd.items() if k in own or not k.startswith(unused)}
        missing = [k for k in own if k not in sd]
        unexpected = [k for k in sd if k not in own]
        shapes = [f"{k}: {tuple(sd[k].shape)} vs {tuple(own[k].shape)}" for k in own if k in sd and sd[k].shape != own[k].shape]
        if missing or unexpected or shapes:
            raise PretrainedMismatchError(
                f"{path} does not match OneStreamViT({self.name!r}): missing {missing[:10]}, unexpected {unexpected[:10]}, "
                f"shapes {shapes[:10]}; expected a timm/MAE ViT state dict (patch_embed.proj.weight, blocks.0.attn.qkv.weight, "
                f"pos_embed, ...) of the same width and depth")
        self.load_state_dict(sd, strict=True)

    # ------------------------------------------------------------------------------------------ schedule
    def set_epoch(self, epoch: int) -> None:
        """The training epoch, which sets the candidate-elimination keep ratio (:func:`ce_keep_rate`)."""
        self.epoch = int(epoch)

    def keep_rate(self) -> float:
        if not self.ce_loc:
            return 1.0
        if not self.training:
            return self.ce_keep_ratio
        return ce_keep_rate(self.epoch, self.ce_start_epoch, self.ce_warm_epochs, self.ce_keep_ratio)

    # ------------------------------------------------------------------------------------------- forward
    def _embed(self, img: Tensor, pos: Tensor) -> tuple[Tensor, tuple[int, int]]:
        x = self.patch_embed.proj(img)  # (B, C, H / p, W / p)
        hw = (x.shape[-2], x.shape[-1])
        x = self.patch_embed.norm(x.flatten(2).transpose(1, 2))
        return x + _grid_interpolate(pos, hw), hw

    def _template_votes(self, hw_z: tuple[int, int], n_templates: int, device) -> Tensor:
        """Indices of the template tokens whose attention rows decide which search tokens survive."""
        h, w = hw_z
        if self.ce_template_range == "all":
            return torch.arange(n_templates * h * w, device=device)
        centre = ((h - 1) // 2) * w + (w - 1) // 2  # OSTrack CTR_POINT: 8x8 -> (3, 3), 12x12 -> (5, 5)
        return torch.arange(n_templates, device=device) * (h * w) + centre

    @staticmethod
    def _attention(blk: nn.Module, x: Tensor, lens_t: int, votes: Tensor) -> tuple[Tensor, Tensor]:
        """``blk.attn(blk.norm1(x))`` plus the head-averaged attention of the voting template rows on the
        search tokens, ``(B, L_s)``; the output itself uses the fused kernel."""
        attn = blk.attn
        if getattr(attn, "gate", None) is not None:
            raise NotImplementedError("candidate elimination does not support gated attention")
        y = blk.norm1(x)
        B, N, _ = y.shape
        qkv = attn.qkv(y).reshape(B, N, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q, k = attn.q_norm(q), attn.k_norm(k)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=attn.attn_drop.p if attn.training else 0.0)
        out = attn.proj_drop(attn.proj(attn.norm(out.transpose(1, 2).reshape(B, N, -1))))
        with torch.no_grad():  # the ranking is not differentiable anyway (OSTrack sorts it)
            rows = (q[:, :, votes] * attn.scale) @ k.transpose(-2, -1)  # (B, h, V, N)
            score = rows.softmax(-1)[..., lens_t:].mean(dim=2).mean(dim=1)  # (B, L_s)
        return out, score

    def forward(self, z: Tensor, x: Tensor) -> list[Tensor]:
        B = x.shape[0]
        templates = z.unbind(1) if z.dim() == 5 else (z,)
        zs = [self._embed(t, self.pos_embed_z) for t in templates]
        hw_z = zs[0][1]
        tz = torch.cat([t for t, _ in zs], dim=1)  # (B, L_t, C)
        tx, (hx, wx) = self._embed(x, self.pos_embed_x)  # (B, L_s, C)
        lens_t, lens_x = tz.shape[1], tx.shape[1]
        tokens = self.norm_pre(torch.cat([tz, tx], dim=1))

        rate = self.keep_rate()
        index_s = torch.arange(lens_x, device=x.device).expand(B, lens_x)  # original positions of kept search tokens
        votes = self._template_votes(hw_z, len(templates), x.device) if rate < 1.0 else None
        for i, blk in enumerate(self.blocks):
            if votes is None or i not in self.ce_loc:
                tokens = blk(tokens)
                continue
            out, score = self._attention(blk, tokens, lens_t, votes)
            tokens = tokens + blk.drop_path1(blk.ls1(out))
            n_s = tokens.shape[1] - lens_t
            n_keep = math.ceil(rate * n_s)
            if n_keep < n_s:
                order = score.argsort(dim=1, descending=True)[:, :n_keep]  # (B, n_keep)
                index_s = index_s.gather(1, order)
                kept = tokens[:, lens_t:].gather(1, order.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))
                tokens = torch.cat([tokens[:, :lens_t], kept], dim=1)
            tokens = tokens + blk.drop_path2(blk.ls2(blk.mlp(blk.norm2(tokens))))

        tokens = self.norm(tokens)
        search = tokens[:, lens_t:]
        if search.shape[1] < lens_x:  # put the kept tokens back on the grid; eliminated ones stay zero
            full = search.new_zeros(B, lens_x, search.shape[-1])
            search = full.scatter(1, index_s.unsqueeze(-1).expand(-1, -1, search.shape[-1]), search)
        return [search.transpose(1, 2).reshape(B, -1, hx, wx)]


class SetEpochHook:
    """Trainer hook (``hooks: [{_target_: sot.models.backbones.vit.SetEpochHook}]``): before each epoch, every
    module of the model with ``set_epoch`` (the ViT's candidate-elimination warm-up) is told the epoch.

    The keep ratio is a function of the epoch the trainer announces, not of anything the module saw earlier, so a
    resumed run gets the same schedule. Every other hook call is a no-op.
    """

    def before_epoch(self, trainer) -> None:
        model = getattr(trainer, "model", None)
        model = getattr(model, "module", model)  # DDP
        for m in model.modules():
            if m is not model and hasattr(m, "set_epoch"):
                m.set_epoch(trainer.epoch)

    def before_train(self, trainer) -> None: ...
    def before_batch(self, trainer, batch) -> None: ...
    def after_step(self, trainer, losses) -> None: ...
    def after_epoch(self, trainer) -> None: ...
    def after_train(self, trainer) -> None: ...

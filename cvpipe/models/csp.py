"""CSP building blocks, a CSPDarknet-style backbone and a PAN neck (cvdet's body).

Written from the papers: Wang et al., *CSPNet* (2019) -- a stage splits its input into two 1x1
branches, runs a stack of residual bottlenecks on one, concatenates and fuses them with a 1x1;
He et al., *SPP* (2014) / Ge et al., *YOLOX* (2021) -- parallel max-pools of several sizes at the
top of the backbone; Liu et al., *PANet* (2018) -- a top-down then bottom-up path aggregation.

Feature maps are ``(B, C, H, W)``; strides are relative to the network input.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ConvBnAct", "Bottleneck", "CSPBlock", "SPP", "CSPBackbone", "PAN"]


class ConvBnAct(nn.Sequential):
    """Conv (no bias) -> BatchNorm -> SiLU, 'same' padding."""

    def __init__(self, cin: int, cout: int, k: int = 1, stride: int = 1) -> None:
        super().__init__(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout, eps=1e-3, momentum=0.03),
                         nn.SiLU(inplace=True))


class Bottleneck(nn.Module):
    """1x1 then 3x3 conv, with a residual connection when ``shortcut`` (and shapes agree)."""

    def __init__(self, c: int, shortcut: bool = True) -> None:
        super().__init__()
        self.cv1, self.cv2 = ConvBnAct(c, c, 1), ConvBnAct(c, c, 3)
        self.shortcut = shortcut

    def forward(self, x: Tensor) -> Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.shortcut else y


class CSPBlock(nn.Module):
    """Cross-stage partial block: two 1x1 branches of ``cout / 2`` channels, ``n`` bottlenecks on
    the first, concatenation, 1x1 fusion to ``cout``."""

    def __init__(self, cin: int, cout: int, n: int = 1, shortcut: bool = True) -> None:
        super().__init__()
        hidden = max(1, cout // 2)
        self.main, self.side = ConvBnAct(cin, hidden, 1), ConvBnAct(cin, hidden, 1)
        self.blocks = nn.Sequential(*(Bottleneck(hidden, shortcut) for _ in range(n)))
        self.fuse = ConvBnAct(2 * hidden, cout, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fuse(torch.cat([self.blocks(self.main(x)), self.side(x)], 1))


class SPP(nn.Module):
    """Spatial pyramid pooling: 1x1 to half the channels, parallel stride-1 max-pools of
    ``kernels`` concatenated with their input, 1x1 to ``cout``."""

    def __init__(self, cin: int, cout: int, kernels: Sequence[int] = (5, 9, 13)) -> None:
        super().__init__()
        hidden = cin // 2
        self.reduce = ConvBnAct(cin, hidden, 1)
        self.pools = nn.ModuleList(nn.MaxPool2d(k, 1, k // 2) for k in kernels)
        self.fuse = ConvBnAct(hidden * (len(kernels) + 1), cout, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.reduce(x)
        return self.fuse(torch.cat([x] + [p(x) for p in self.pools], 1))


def scaled(channels: int, width: float, divisor: int = 8) -> int:
    """``channels * width`` rounded up to a multiple of ``divisor`` (at least ``divisor``)."""
    return max(divisor, int(-(-channels * width // divisor)) * divisor)


def repeats(n: int, depth: float) -> int:
    """``n * depth`` rounded, at least 1."""
    return max(1, round(n * depth))


class CSPBackbone(nn.Module):
    """CSPDarknet-style backbone: a 3x3 stride-2 stem, then four stages of a 3x3 stride-2 conv
    and a CSP block (SPP before the last one); returns C3, C4, C5 at strides 8, 16, 32 with
    :attr:`out_channels` channels. Base widths 64/128/256/512/1024 and block depths 3/9/9/3 are
    scaled by ``width`` and ``depth``."""

    strides = (8, 16, 32)

    def __init__(self, width: float, depth: float) -> None:
        super().__init__()
        c = [scaled(v, width) for v in (64, 128, 256, 512, 1024)]
        d = [repeats(v, depth) for v in (3, 9, 9, 3)]
        self.stem = ConvBnAct(3, c[0], 3, 2)
        self.stage2 = nn.Sequential(ConvBnAct(c[0], c[1], 3, 2), CSPBlock(c[1], c[1], d[0]))
        self.stage3 = nn.Sequential(ConvBnAct(c[1], c[2], 3, 2), CSPBlock(c[2], c[2], d[1]))
        self.stage4 = nn.Sequential(ConvBnAct(c[2], c[3], 3, 2), CSPBlock(c[3], c[3], d[2]))
        self.stage5 = nn.Sequential(ConvBnAct(c[3], c[4], 3, 2), SPP(c[4], c[4]), CSPBlock(c[4], c[4], d[3], shortcut=False))
        self.out_channels = [c[2], c[3], c[4]]

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.stage2(self.stem(x))
        c3 = self.stage3(x)
        c4 = self.stage4(c3)
        return [c3, c4, self.stage5(c4)]


class PAN(nn.Module):
    """Path aggregation neck over three levels (strides 8, 16, 32): top-down (1x1 reduce,
    nearest upsample, concat, CSP block) then bottom-up (3x3 stride-2 conv, concat, CSP block).
    Outputs have ``out_channels`` = the input channels ``[c3, c4, c5]``."""

    def __init__(self, in_channels: Sequence[int], depth: float) -> None:
        super().__init__()
        c3, c4, c5 = in_channels
        n = repeats(3, depth)
        self.reduce5 = ConvBnAct(c5, c4, 1)
        self.td4 = CSPBlock(2 * c4, c4, n, shortcut=False)
        self.reduce4 = ConvBnAct(c4, c3, 1)
        self.td3 = CSPBlock(2 * c3, c3, n, shortcut=False)
        self.down3 = ConvBnAct(c3, c3, 3, 2)
        self.bu4 = CSPBlock(2 * c3, c4, n, shortcut=False)
        self.down4 = ConvBnAct(c4, c4, 3, 2)
        self.bu5 = CSPBlock(2 * c4, c5, n, shortcut=False)
        self.out_channels = [c3, c4, c5]

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        c3, c4, c5 = feats
        r5 = self.reduce5(c5)
        t4 = self.td4(torch.cat([F.interpolate(r5, size=c4.shape[-2:], mode="nearest"), c4], 1))
        r4 = self.reduce4(t4)
        p3 = self.td3(torch.cat([F.interpolate(r4, size=c3.shape[-2:], mode="nearest"), c3], 1))
        p4 = self.bu4(torch.cat([self.down3(p3), r4], 1))
        p5 = self.bu5(torch.cat([self.down4(p4), r5], 1))
        return [p3, p4, p5]

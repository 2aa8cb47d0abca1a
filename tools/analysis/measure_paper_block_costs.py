"""Per-coarse-block backbone cost of the TreeMTL paper backbones (B = 5).

Reproduces, with timm models (no pretrained weights), the backbone split the
authors of "A Tree-Structured Multi-Task Model Recommender" (Zhang, Liu & Guan,
AutoML-Conf 2022) used for their 5-branching-point experiments, and prints for
each coarse block and input size:

* ``fvcore``   -- fvcore ``FlopCountAnalysis`` total (model in eval mode; one
                  multiply-add = one FLOP; counts convs and BatchNorm (2/elem),
                  ignores ReLU/ReLU6, max-pool and residual adds).
* ``authors``  -- the authors' own convention (they used ``ptflops``
                  ``get_model_complexity_info``, reported as GMac): conv
                  multiply-adds + BatchNorm 2/elem + ReLU 1/elem + MaxPool
                  1/input-elem, residual adds not counted.  Implemented here with
                  forward hooks, so ptflops is not needed.
* ``params``   -- trainable parameters of the block.

Block splits (from the authors' ``combined_est_verify.py`` ``mapping`` dicts
over the fine-grained blocks of their prototxt backbones):

MobileNetV2 (``models/mobilenetv2.prototxt``: standard MobileNetV2-1.0, output
stride 32, no dilation, *with* the final 1x1 conv to 1280 + BN + ReLU; 32 fine
blocks, coarse = {0..6}, {7..17}, {18..22}, {23..30}, {31}):
  1: stem conv + blocks[0] (t=1, c=16) + blocks[1] (c=24)   -> stride 4
  2: blocks[2] (c=32) + blocks[3] (c=64)                    -> stride 16
  3: blocks[4] (c=96)                                       -> stride 16
  4: blocks[5] (c=160) + blocks[6] (c=320)                  -> stride 32
  5: conv_head 1x1 320->1280 + BN + act

Deeplab-ResNet34 (``models/deeplab_resnet34_adashare.prototxt``: output stride
8 -- layer3 dilation 2, layer4 dilation 4 -- and a Caffe-style CEIL max-pool):
  1: conv1 7x7 + BN + ReLU + max-pool, 2: layer1, 3: layer2, 4: layer3, 5: layer4

Input sizes: Taskonomy 224x224, NYUv2 321x321 (crop sizes in the authors'
training script).  Run:  python tools/analysis/measure_paper_block_costs.py
"""

from __future__ import annotations

import warnings

import timm
import torch
import torch.nn as nn
from fvcore.nn import FlopCountAnalysis

warnings.filterwarnings("ignore")

INPUT_SIZES = {"Taskonomy": 224, "NYUv2": 321}

# Per-block GMac the authors' README gives for their Deeplab-ResNet34
# (used as a sanity check of the counting method).
README_RESNET34 = {
    224: [0.121225216, 0.722369664, 0.93976704, 5.740221952, 11.03176704],
    321: [0.250500544, 1.458746496, 1.87841664, 11.473618432, 22.05041664],
}


# --------------------------------------------------------------------------- #
# Backbones split into 5 coarse blocks
# --------------------------------------------------------------------------- #
def mobilenetv2_blocks() -> list[nn.Module]:
    m = timm.create_model("mobilenetv2_100", pretrained=False).eval()
    b = m.blocks
    return [
        nn.Sequential(m.conv_stem, m.bn1, b[0], b[1]),
        nn.Sequential(b[2], b[3]),
        nn.Sequential(b[4]),
        nn.Sequential(b[5], b[6]),
        nn.Sequential(m.conv_head, m.bn2),
    ]


def resnet34_os8_blocks(ceil_mode_pool: bool) -> list[nn.Module]:
    r = timm.create_model("resnet34", pretrained=False, output_stride=8).eval()
    r.maxpool.ceil_mode = ceil_mode_pool  # authors' prototxt: round_mode CEIL
    return [
        nn.Sequential(r.conv1, r.bn1, r.act1, r.maxpool),
        r.layer1,
        r.layer2,
        r.layer3,
        r.layer4,
    ]


# --------------------------------------------------------------------------- #
# Counters
# --------------------------------------------------------------------------- #
def fvcore_flops(module: nn.Module, x: torch.Tensor) -> int:
    fca = FlopCountAnalysis(module, (x,))
    fca.unsupported_ops_warnings(False)
    fca.uncalled_modules_warnings(False)
    return int(fca.total())


def authors_macs(module: nn.Module, x: torch.Tensor) -> int:
    """ptflops-style count (what the authors reported as GMac)."""
    total = [0]

    def conv_hook(m: nn.Conv2d, inp, out):
        per_pos = (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        total[0] += out.numel() * per_pos + (out.numel() if m.bias is not None else 0)

    def bn_hook(m: nn.BatchNorm2d, inp, out):
        total[0] += inp[0].numel() * (2 if m.affine else 1)

    def act_hook(m, inp, out):
        total[0] += out.numel()

    def pool_hook(m, inp, out):
        total[0] += inp[0].numel()

    handles = []
    for mod in module.modules():
        if isinstance(mod, nn.Conv2d):
            handles.append(mod.register_forward_hook(conv_hook))
        elif isinstance(mod, nn.BatchNorm2d):  # includes timm BatchNormAct2d
            handles.append(mod.register_forward_hook(bn_hook))
        elif isinstance(mod, (nn.ReLU, nn.ReLU6)):
            handles.append(mod.register_forward_hook(act_hook))
        elif isinstance(mod, nn.MaxPool2d):
            handles.append(mod.register_forward_hook(pool_hook))
    try:
        with torch.no_grad():
            module(x)
    finally:
        for h in handles:
            h.remove()
    return total[0]


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# --------------------------------------------------------------------------- #
# Measurement
# --------------------------------------------------------------------------- #
def measure(blocks: list[nn.Module], size: int) -> dict:
    x = torch.randn(1, 3, size, size)
    rows = []
    with torch.no_grad():
        for blk in blocks:
            fv = fvcore_flops(blk, x)
            au = authors_macs(blk, x)
            y = blk(x)
            rows.append(dict(fvcore=fv, authors=au, params=n_params(blk),
                             out=tuple(y.shape[1:])))
            x = y
    whole = nn.Sequential(*blocks)
    x0 = torch.randn(1, 3, size, size)
    return dict(rows=rows, whole_fvcore=fvcore_flops(whole, x0),
                whole_authors=authors_macs(whole, x0))


def print_table(title: str, res: dict, reference: list[float] | None = None) -> None:
    print(f"\n== {title}")
    hdr = (f"{'block':>5} {'out (C,H,W)':>16} {'fvcore GFLOPs':>16} {'authors GMac':>16} "
           f"{'params':>10}")
    if reference:
        hdr += f" {'README GMac':>14} {'authors-README':>15}"
    print(hdr)
    for i, r in enumerate(res["rows"]):
        line = (f"{i + 1:>5} {str(r['out']):>16} {r['fvcore'] / 1e9:>16.9f} "
                f"{r['authors'] / 1e9:>16.9f} {r['params']:>10d}")
        if reference:
            line += f" {reference[i]:>14.9f} {r['authors'] / 1e9 - reference[i]:>+15.9f}"
        print(line)
    s_fv = sum(r["fvcore"] for r in res["rows"])
    s_au = sum(r["authors"] for r in res["rows"])
    s_p = sum(r["params"] for r in res["rows"])
    line = f"{'sum':>5} {'':>16} {s_fv / 1e9:>16.9f} {s_au / 1e9:>16.9f} {s_p:>10d}"
    if reference:
        line += f" {sum(reference):>14.9f} {s_au / 1e9 - sum(reference):>+15.9f}"
    print(line)
    print(f"whole truncated backbone: fvcore {res['whole_fvcore'] / 1e9:.9f} "
          f"(sum matches: {res['whole_fvcore'] == s_fv}), authors "
          f"{res['whole_authors'] / 1e9:.9f} (sum matches: {res['whole_authors'] == s_au})")


def main() -> None:
    torch.manual_seed(0)
    for dataset, size in INPUT_SIZES.items():
        print_table(f"MobileNetV2 (timm mobilenetv2_100, OS32, incl. 1x1->1280 head conv) "
                    f"@ {size}x{size} ({dataset})", measure(mobilenetv2_blocks(), size))
    for dataset, size in INPUT_SIZES.items():
        print_table(f"Deeplab-ResNet34 (timm resnet34 output_stride=8, CEIL max-pool as authors) "
                    f"@ {size}x{size} ({dataset})",
                    measure(resnet34_os8_blocks(ceil_mode_pool=True), size),
                    README_RESNET34[size])
        print_table("Deeplab-ResNet34 (timm resnet34 output_stride=8, timm default floor "
                    "max-pool) "
                    f"@ {size}x{size} ({dataset})",
                    measure(resnet34_os8_blocks(ceil_mode_pool=False), size),
                    README_RESNET34[size])


if __name__ == "__main__":
    main()

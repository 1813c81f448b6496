"""What int8 costs UNet# in IoU, with the image-reading convolution in float (as exported) and quantized.

Exports a trained UNet# checkpoint (default: the demo's, `runs/demo/train/best.json` after `make demo`)
twice in fp32 + int8 with the demo's calibration/parity split (synthetic nuclei seed 500: images 0..23
calibrate, 24..31 are the parity images): once as `edgeseg export` does it (the Conv that reads the
image stays in float, `edgeseg.export.int8.input_convs`), once with that Conv quantized too. Prints,
per level, the ground-truth IoU of fp32 and int8 on the parity images, the drop, and the share of
mask pixels that flip against fp32: the figures `edgeseg export` stores in each artifact's parity.

    python benchmarks/int8_input.py [--checkpoint runs/demo/train/best.json] [--work /tmp/int8_input]
                                    [--size 64] [--modes float,int8]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import edgeseg.export.int8 as int8  # noqa: E402
from edgeseg.export import export_bundle  # noqa: E402

CALIB = "synthetic:nuclei?n=32&size={size}&seed=500"  # what `edgeseg demo` calibrates and checks parity on


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, default=Path("runs/demo/train/best.json"))
    ap.add_argument("--work", type=Path, default=Path("/tmp/int8_input"), help="bundles are written here")
    ap.add_argument("--size", type=int, default=64, help="export and data size (the demo's: 64, --quick: 32)")
    ap.add_argument("--modes", default="float,int8", help="input conv kept in float, quantized, or both")
    args = ap.parse_args()
    keep_float = int8.input_convs
    print("| input conv | level | IoU fp32 | IoU int8 | drop | pixels flipped |")
    print("|---|---|---:|---:|---:|---:|")
    for mode in args.modes.split(","):
        int8.input_convs = keep_float if mode == "float" else (lambda model: [])
        manifest = export_bundle(args.checkpoint, args.work / mode, variants="all", precisions=("fp32", "int8"),
                                 img_size=args.size, calib_data=CALIB.format(size=args.size), calib_images=24)
        for a in manifest.artifacts:
            if a.precision == "int8":
                p = a.parity
                print(f"| {mode} | {a.variant} | {p['iou_gt_fp32']:.4f} | {p['iou_gt']:.4f} | "
                      f"{p['iou_gt_fp32'] - p['iou_gt']:.4f} | {p['mask_flip_share']:.2%} |")
    int8.input_convs = keep_float
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

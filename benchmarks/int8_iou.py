"""IoU of a bundle's int8 artifacts as the runtime runs them on ONNX Runtime's CPU, against its fp32 ones.

    python benchmarks/int8_iou.py BUNDLE --data "synthetic:nuclei?n=32&size=32&seed=1000" [--threads 2]

For every variant with an fp32 and an int8 artifact: both run through a `Segmenter` on an `OrtRunner`
for "ort-cpu", given the manifest's sha256 (so the int8 one runs the graph `edgeseg.runtime.ort_int8`
derives, as `edgeseg predict` and `edgeseg bench` run it) on every image of --data; printed per
variant: mean IoU against the ground-truth masks for fp32 and int8, the drop in points, the share of
mask pixels that flip against fp32, and the same three figures for the int8 file as exported
(`OrtRunner(as_exported=True)`, what the export's parity check measures).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this tree's edgeseg, also when not installed


def main() -> int:
    from edgeseg import manifest as mf
    from edgeseg.data import open_source
    from edgeseg.metrics import dataset_scores, mask_flips
    from edgeseg.runtime import OrtRunner, Segmenter

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--data", required=True, help="images with masks (a folder or a synthetic: source)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    manifest = mf.load(args.bundle)
    samples = list(open_source(args.data))
    images, truth = [s.image for s in samples], [s.mask for s in samples]
    print(f"# `python benchmarks/int8_iou.py {' '.join(sys.argv[1:])}`: {len(images)} images, ORT CPU")
    print("| variant | IoU fp32 | IoU int8 (runtime) | drop (points) | pixels flipped "
          "| IoU int8 as exported | drop (points) | pixels flipped |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    graphs = set()
    for artifact in manifest.artifacts:
        fp32 = next((a for a in manifest.artifacts if a.variant == artifact.variant and a.precision == "fp32"), None)
        if artifact.precision != "int8" or fp32 is None:
            continue
        masks = {}
        runs = (("fp32", fp32, False), ("int8", artifact, False), ("as exported", artifact, True))
        for key, entry, as_exported in runs:
            runner = OrtRunner(args.bundle / entry.file, "ort-cpu", precision=entry.precision, threads=args.threads,
                               sha256=entry.sha256, as_exported=as_exported)
            with Segmenter(runner, entry, manifest.normalization) as seg:
                masks[key] = seg.segment(images)
            if key == "int8":
                graphs.add(runner.details.get("graph", "the file as exported"))
        iou = {k: dataset_scores(m, truth)["mean_iou"] for k, m in masks.items()}
        cells = [f"{iou['fp32']:.4f}"]
        for key in ("int8", "as exported"):
            flips = sum(mask_flips(a, b) for a, b in zip(masks["fp32"], masks[key])) / len(images)
            cells += [f"{iou[key]:.4f}", f"{100 * (iou['fp32'] - iou[key]):+.2f}", f"{flips:.2%}"]
        print(f"| {artifact.variant} | " + " | ".join(cells) + " |")
    print(f"\nint8 (runtime) ran: {'; '.join(sorted(graphs))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

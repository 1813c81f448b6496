"""A multi-class checkpoint (e.g. 4-class PGU-net+) exported in fp32 and int8: per-class parity, the int8
drop in mean foreground Dice, and `edgeseg bench` rows with each class.

    python benchmarks/multiclass.py CHECKPOINT [--data "synthetic:cells?n=64&size=256&seed=99"] \
        [--out runs/multiclass] [--variants stage4] [--threads 2] [--max-drop 0.01]

1. `export_bundle(CHECKPOINT, OUT/bundle, precisions=fp32,int8, calib_data=DATA)`: the manifest's
   parity holds, per artifact, each class's flips and IoU against eager PyTorch and its scores against
   the ground truth of the parity images (`edgeseg/export/parity.py`).
2. Prints those per class, and per variant the int8 drop of the mean Dice over classes 1..C-1
   (eager fp32 minus ONNX Runtime int8, on the parity images).
3. `edgeseg.bench.run(OUT/bundle, data=DATA, backends=torch,ort-cpu)`: reports in OUT/bench, with the
   per-class rows in results.json (`class_scores`), results.csv (`class_K_*`) and results.md.

Writes OUT/multiclass.md with all of it. Exit status 1 when an int8 artifact loses more than
--max-drop (0.01: one point) of mean Dice, 2 on bad input.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parity_lines(manifest) -> list[str]:
    """A Markdown table: one line per artifact and class of its export parity."""
    lines = ["| variant | precision | class | flips vs eager | IoU vs eager | Dice vs truth | Dice drop | IoU drop |",
             "|---|---|---|---|---|---|---|---|"]
    for a in manifest.artifacts:
        p = a.parity
        truth, drop = p.get("class_gt") or {}, p.get("class_gt_drop") or {}
        for k in sorted(p.get("class_flip_share") or {}, key=int):
            cells = [a.variant, a.precision, k, _fmt(p["class_flip_share"][k], ".3%"),
                     _fmt(p["class_iou_vs_fp32"][k], ".4f"), _fmt(truth.get(k, {}).get("dice"), ".4f"),
                     _fmt(drop.get(k, {}).get("dice"), "+.4f"), _fmt(drop.get(k, {}).get("iou"), "+.4f")]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def int8_drops(manifest) -> dict[str, float]:
    """Variant -> the int8 artifact's drop in mean foreground Dice against eager fp32 (parity images)."""
    return {a.variant: a.parity["mean_dice_gt_drop"] for a in manifest.artifacts
            if a.precision == "int8" and "mean_dice_gt_drop" in a.parity}


def verdict(drops: dict[str, float], max_drop: float) -> list[str]:
    """The variants whose int8 mean-Dice drop exceeds `max_drop`, as lines (none: the target holds)."""
    return [f"{v}: int8 loses {d * 100:.2f} points of mean Dice (> {max_drop * 100:.2f})"
            for v, d in drops.items() if d > max_drop]


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path, help="a multi-class checkpoint (.safetensors/.json or its stem)")
    ap.add_argument("--data", default=None,
                    help="images with class-index masks (default: synthetic:cells at the checkpoint's size, seed 99)")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "multiclass")
    ap.add_argument("--variants", default=None, help="comma-separated, or 'all' (default: the model's default)")
    ap.add_argument("--img-size", type=int, default=None, help="default: the checkpoint's training size")
    ap.add_argument("--calib-images", type=int, default=32)
    ap.add_argument("--parity-images", type=int, default=32)
    ap.add_argument("--eval-images", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--max-drop", type=float, default=0.01, help="allowed int8 mean-Dice drop (0.01 = 1 point)")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    from edgeseg import bench, checkpoint
    from edgeseg.bench import report
    from edgeseg.errors import EdgesegError
    from edgeseg.export import export_bundle
    from edgeseg.files import write_text

    started = time.time()
    try:
        model, info = checkpoint.load(args.checkpoint)
        classes = int(model.config.get("num_classes", 1))
        if classes < 2:
            raise EdgesegError(f"{args.checkpoint} is a binary model (num_classes 1); this script needs C > 1")
        size = args.img_size or int(info.recipe.get("img_size") or 256)
        data = args.data or f"synthetic:cells?n={args.calib_images + args.parity_images}&size={size}&seed=99"
        variants = args.variants or model.default_variant()
        print(f"+ export {args.checkpoint} ({variants}, fp32+int8, {size} px) with {data}", flush=True)
        manifest = export_bundle(args.checkpoint, args.out / "bundle", variants=variants, precisions=("fp32", "int8"),
                                 img_size=size, calib_data=data, calib_images=args.calib_images,
                                 parity_images=args.parity_images)
        print("+ bench", flush=True)
        result = bench.run(args.out / "bundle", out=args.out / "bench", data=data, checkpoint=args.checkpoint,
                           backends=["torch", "ort-cpu"], eval_images=args.eval_images, threads=args.threads,
                           warmup=args.warmup, iters=args.iters, command="python benchmarks/multiclass.py",
                           log=lambda line: print(line, flush=True))
    except EdgesegError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    drops = int8_drops(manifest)
    failed = verdict(drops, args.max_drop)
    lines = ["# Multi-class export and benchmark", "",
             f"- `python benchmarks/multiclass.py {' '.join(sys.argv[1:] if argv is None else argv)}`",
             f"- {classes} classes, data {data}, {time.time() - started:.0f} s", "",
             "## Export parity per class (parity images, eager fp32 reference)", "", *parity_lines(manifest), "",
             "## int8 mean Dice over classes 1..C-1 (eager fp32 minus int8)", ""]
    lines += [f"- {v}: {d * 100:+.2f} points (target <= {args.max_drop * 100:.2f})" for v, d in drops.items()]
    lines += ["", f"**{'FAILED: ' + '; '.join(failed) if failed else 'int8 within the target'}**"]
    lines += ["", "## Benchmark rows (IoU/Dice: mean over classes 1..C-1)", "", *_bench_lines(result)]
    text = "\n".join(lines) + "\n"
    write_text(args.out / "multiclass.md", text)
    print(text)
    report.print_table(result)
    print(f"reports: {args.out / 'multiclass.md'}, " + ", ".join(str(p) for p in result.files.values()))
    return 1 if failed else 0


def _bench_lines(result) -> list[str]:
    from edgeseg.bench import report

    lines = ["| variant | precision | backend | IoU | Dice | p50 ms |", "|---|---|---|---|---|---|"]
    for r in result.ok_rows:
        lines.append(f"| {r.variant} | {r.precision} | {r.backend.short} | {_fmt(r.iou, '.4f')} | "
                     f"{_fmt(r.dice, '.4f')} | {_fmt(r.latency_ms.p50 if r.latency_ms else None, '.2f')} |")
    return lines + report.per_class_table(result.ok_rows)


if __name__ == "__main__":
    sys.exit(main())

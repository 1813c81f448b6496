"""Reproduce the README's headline table on a CPU: torch eager vs ONNX Runtime (CPU), per family and variant.

    python benchmarks/headline.py [--out benchmarks/results/headline] [--work runs/headline] [--threads 2] \
        [--img-size 224]
    python benchmarks/headline.py --quick --out /tmp/headline --work /tmp/headline-work   # 64 px smoke run

Checkpoints and exported bundles go to --work (not committed); each family's four report files
(results.json/.csv/.md, pareto.png) and the combined headline.md/.json go to --out.

For each family a checkpoint is made (random weights from seed 0, unless --checkpoint gives a trained
one for that family), then `edgeseg.bench.run(CHECKPOINT, backends=["torch", "ort-cpu"], ...)` (what
`edgeseg bench` runs) exports the variants and times them. This script only gathers the rows into
headline.md/.json and checks the UNet# speed targets against the measured medians. Speed does not depend on the weights;
IoU does, so the IoU columns mean something only for families given a trained --checkpoint.
See docs/benchmarks.md for what is timed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
COMMAND = " ".join(["python", "benchmarks/headline.py", *sys.argv[1:]])  # recorded in every report

# family, model config, variants, precisions
SUITE = [
    ("unet_sharp", {}, "L1,L2,L3,L4", "fp32,int8"),
    ("plnet", {}, "final,fused", "fp32"),
    ("m2snet", {}, "unfolded,folded", "fp32"),
    ("pgunet", {}, "stage1,stage2,stage3,stage4", "fp32"),
    ("unet", {}, "all", "fp32"),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "headline",
                    help="tables and per-family reports")
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "headline",
                    help="checkpoints and exported bundles (not committed)")
    ap.add_argument("--img-size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--calib-images", type=int, default=8, help="int8 calibration images per variant")
    ap.add_argument("--data", default=None, help="images with masks (default: synthetic polyps at --img-size)")
    ap.add_argument("--models", default=",".join(s[0] for s in SUITE), help="comma-separated subset of the suite")
    ap.add_argument("--checkpoint", action="append", default=[], metavar="MODEL=PATH",
                    help="a trained checkpoint for one family")
    ap.add_argument("--quick", action="store_true", help="64 px, 1 warm-up, 3 iterations, UNet# L1/L4 and U-Net only")
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # before torch is imported
    from edgeseg import bench
    from edgeseg.errors import EdgesegError

    if args.quick:
        args.img_size, args.warmup, args.iters = 64, 1, 3
    data = args.data or f"synthetic:polyp?n=16&size={args.img_size}&seed=7"
    trained = dict(item.split("=", 1) for item in args.checkpoint)
    chosen = args.models.split(",")
    suite = [s for s in SUITE if s[0] in chosen]
    if args.quick:
        suite = [("unet_sharp", {}, "L1,L4", "fp32,int8"), ("unet", {}, "all", "fp32")]

    args.out.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    started = time.time()
    sections, rows, environment, int8_graph = [], [], None, None
    for name, config, variants, precisions in suite:
        if name in trained:
            ckpt = Path(trained[name])
        else:
            ckpt = make_checkpoint(name, config, args.work / "checkpoints", args.img_size)
        if ckpt is None:
            sections.append(f"- {name}: not registered in this edgeseg (family not landed), skipped")
            continue
        print(f"+ bench {name}: {ckpt} ({variants}; {precisions})", flush=True)
        try:
            chosen_variants = None if variants == "all" else variants.split(",")
            result = bench.run(
                ckpt, out=args.work / name, backends=["torch", "ort-cpu"], variants=chosen_variants,
                precisions=precisions.split(","), img_sizes=[args.img_size], data=data, warmup=args.warmup,
                iters=args.iters, threads=args.threads, eval_images=4, calib_images=args.calib_images,
                command=COMMAND, log=lambda line: print(line, flush=True),
            )
        except EdgesegError as exc:
            sections.append(f"- {name}: benchmark failed: {exc}")
            continue
        (args.out / name).mkdir(parents=True, exist_ok=True)
        for path in result.files.values():
            shutil.copyfile(path, args.out / name / path.name)
        rows += [{**r.to_dict(), "trained": name in trained} for r in result.rows]
        environment = result.environment
        if "int8" in precisions:
            int8_graph = ort_cpu_int8_graph(args.work / name / f"bundle-{args.img_size}", variants.split(",")[0])
        # after each family: a cut-off run keeps what it measured
        write_tables(args, rows, sections, environment, load_before, started, int8_graph)
    write_tables(args, rows, sections, environment, load_before, started, int8_graph)
    print((args.out / "headline.md").read_text())
    return 0


def write_tables(args, rows, sections, environment, load_before, started, int8_graph) -> None:
    from edgeseg.files import write_json, write_text

    doc = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": COMMAND,
        "img_size": args.img_size, "threads": args.threads, "warmup": args.warmup, "iters": args.iters,
        "load_average_before": load_before, "load_average_after": os.getloadavg(), "wall_s": time.time() - started,
        "environment": environment, "rows": rows, "notes": sections, "checks": unet_sharp_checks(rows),
        "ort_cpu_int8_graph": int8_graph,
    }
    write_json(args.out / "headline.json", doc)
    write_text(args.out / "headline.md", to_markdown(doc))


def ort_cpu_int8_graph(bundle: Path, variant: str) -> str:
    """What the ORT CPU runner ran for the bundle's int8 artifacts (the bench opened them the same way)."""
    from edgeseg.runtime import Segmenter

    with Segmenter.from_bundle(bundle, "ort-cpu", variant, "int8", threads=1) as seg:
        return seg.runner.details.get("graph", "the int8 artifact as exported")


def make_checkpoint(name: str, config: dict, folder: Path, img_size: int) -> Path | None:
    import torch

    from edgeseg import checkpoint
    from edgeseg.checkpoint import CheckpointInfo
    from edgeseg.errors import EdgesegError
    from edgeseg.models import create_model

    torch.manual_seed(0)
    try:
        model = create_model(name, **config)
    except EdgesegError:
        return None
    path = folder / name
    norm = {"color": "rgb", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    recipe = {"img_size": img_size, "note": "random weights (seed 0), for speed only"}
    checkpoint.save(path, model, CheckpointInfo(model=name, config=model.config, normalization=norm, recipe=recipe))
    return path


def _p50(row):
    return (row.get("latency_ms") or {}).get("p50")


def pair_rows(rows: list[dict]) -> list[dict]:
    """One line per (model, variant, precision): torch and ORT side by side (batch 1)."""
    ok = [r for r in rows if r["status"] == "ok" and r["batch"] == 1]
    lines = {}
    for r in ok:
        key = (r["model"], r["variant"], r["precision"])
        line = lines.setdefault(key, {"model": r["model"], "variant": r["variant"], "precision": r["precision"],
                                      "size": r["img_size"], "params": r["params"], "gflops": r["gflops"],
                                      "iou": None, "trained": r.get("trained")})
        line[r["backend"]] = r
        if r["backend"] == "ort-cpu":
            line["iou"] = r.get("iou")
    return list(lines.values())


# issue 16's CPU targets: ORT int8 vs ORT fp32, same run, medians
INT8_SPEEDUP = {"L1": 1.0, "L2": 1.0, "L3": 2.0, "L4": 2.0}


def unet_sharp_checks(rows: list[dict]) -> list[dict]:
    """The issue's CPU targets, evaluated on the measured medians (batch 1)."""
    lines = {(l["variant"], l["precision"]): l for l in pair_rows(rows) if l["model"] == "unet_sharp"}
    checks = []
    for level in ("L1", "L2", "L3", "L4"):
        line = lines.get((level, "fp32"))
        if line and "torch" in line and "ort-cpu" in line:
            t, o = _p50(line["torch"]), _p50(line["ort-cpu"])
            checks.append({"check": f"{level}: ORT fp32 at least as fast as torch eager", "passed": o <= t,
                           "measured": f"ORT {o:.2f} ms vs torch {t:.2f} ms ({t / o:.2f}x)"})
    l1, l4 = lines.get(("L1", "fp32")), lines.get(("L4", "fp32"))
    if l1 and l4 and "ort-cpu" in l1 and "ort-cpu" in l4:
        ratio = _p50(l4["ort-cpu"]) / _p50(l1["ort-cpu"])
        checks.append({"check": f"L1 at least 10x faster than L4 (ORT fp32, {l1['size']} px)", "passed": ratio >= 10,
                       "measured": f"{ratio:.1f}x"})
    for level, at_least in INT8_SPEEDUP.items():
        f, q = lines.get((level, "fp32")), lines.get((level, "int8"))
        if f and q and "ort-cpu" in f and "ort-cpu" in q:
            a, b = _p50(f["ort-cpu"]), _p50(q["ort-cpu"])
            what = "not slower than" if at_least == 1.0 else f"at least {at_least:.1f}x as fast as"
            checks.append({"check": f"{level}: int8 {what} fp32 (ORT CPU)", "passed": a / b >= at_least,
                           "measured": f"int8 {b:.2f} ms vs fp32 {a:.2f} ms ({a / b:.2f}x)"})
    return checks


def to_markdown(doc: dict) -> str:
    env = doc.get("environment") or {}
    cpu = env.get("cpu", {})
    v = env.get("versions", {})
    la, lb = doc["load_average_before"], doc["load_average_after"]
    busy = max(la[0], lb[0]) > 0.5 * (cpu.get("usable_cores") or 1)
    busy = " -- the machine was busy with other jobs: expect noise" if busy else ""
    lines = [
        "# Headline table (CPU)",
        "",
        f"- {doc['created']}, `{doc['command']}`, {doc['wall_s'] / 60:.1f} min",
        f"- CPU: {cpu.get('model')}, {cpu.get('usable_cores')} usable cores, "
        f"{doc['threads']} threads for torch and ONNX Runtime",
        f"- torch {v.get('torch')}, onnxruntime {v.get('onnxruntime')}, Python {v.get('python')}",
        *([f"- ORT CPU int8 rows ran: {doc['ort_cpu_int8_graph']}"] if doc.get("ort_cpu_int8_graph") else []),
        f"- input {doc['img_size']}x{doc['img_size']} (PGU-net+ stages at their own sizes), batch 1, "
        f"{doc['warmup']} warm-up + {doc['iters']} timed iterations, medians (p50) of the infer call",
        f"- load average (1/5/15 min) before: {la[0]:.2f}/{la[1]:.2f}/{la[2]:.2f}, "
        f"after: {lb[0]:.2f}/{lb[1]:.2f}/{lb[2]:.2f} on {cpu.get('usable_cores')} cores" + busy,
        "",
        "| model | variant | precision | size | params (M) | GFLOPs | torch p50 ms | ORT p50 ms | ORT speed-up "
        "| ORT img/s | IoU |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for l in pair_rows(doc["rows"]):
        t, o = _p50(l.get("torch") or {}), _p50(l.get("ort-cpu") or {})
        iou = f"{l['iou']:.3f}" if l["iou"] is not None and l.get("trained") else "(random weights)"
        lines.append(
            f"| {l['model']} | {l['variant']} | {l['precision']} | {l['size']} | {l['params'] / 1e6:.3f} | "
            f"{l['gflops']:.2f} | "
            f"{f'{t:.2f}' if t else '-'} | {f'{o:.2f}' if o else '-'} | {f'{t / o:.2f}x' if t and o else '-'} | "
            f"{f'{1e3 / o:.1f}' if o else '-'} | {iou} |"
        )
    if doc["checks"]:
        lines += ["", "## UNet# targets", "", "| target | measured | met |", "|---|---|---|"]
        lines += [f"| {c['check']} | {c['measured']} | {'yes' if c['passed'] else 'NO'} |" for c in doc["checks"]]
    failed = [r for r in doc["rows"] if r["status"] != "ok"]
    if failed or doc["notes"]:
        lines += ["", "## Not run", ""] + doc["notes"]
        lines += [f"- {r['model']} {r.get('variant') or ''} {r.get('precision') or ''} {r['backend']}: "
                  f"{r['status']}: {r['reason']}" for r in failed]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())

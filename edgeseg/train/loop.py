"""The trainer: phases, epochs, validation per prediction head, checkpoints, exact resume, DDP.

`train(TrainConfig(...))` runs a recipe on a data source and writes into `out/`:
- `metrics.jsonl`: one line per epoch (loss and its parts, lr, val IoU/Dice per prediction head; with
  several classes, `metrics.class_scores` per head: per-class IoU/Dice/precision/recall and their
  mean over the foreground classes as `iou`/`dice`, the primary figures);
- `last.safetensors/.json` every epoch and `best.*` when the primary head's mean val IoU improves
  (only in the last phase: an earlier phase trains a part of the final network);
- `resume.json` + `resume-EEEE.safetensors`: what `train(cfg, resume=True)` needs to continue bit-exactly.
On the CPU the run is deterministic for a seed; shuffling and augmentation depend only on
(seed, epoch, index), and the torch RNG state is saved with each epoch. Under `torchrun` the
batches are sharded over the processes (DDP, gloo on the CPU, NCCL on CUDA); rank 0 writes.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import tempfile
import time
import typing
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch

from .. import checkpoint
from ..data import Augment, open_source, split
from ..errors import EdgesegError, IntegrityError
from ..files import append_line, exclusive, shown, write_text
from ..metrics import Confusion, class_scores
from ..typecheck import fits, type_name
from .dataset import EpochSampler, SegmentationSet
from .recipes import Phase, Recipe, recipe_for


@dataclass
class TrainConfig:
    model: str
    data: str
    out: str
    epochs: int | None = None  # None: the recipe's default
    batch: int | None = None  # per process
    img_size: int | None = None  # None: a synthetic source's own size, else 256
    lr: float | None = None  # None: the recipe's default
    seed: int | None = None  # None: 0
    val_split: float | None = None  # None: 0.2
    model_config: dict[str, Any] = field(default_factory=dict)  # e.g. {"width_mult": 0.25, "cgm": True}
    options: dict[str, Any] = field(default_factory=dict)  # recipe options
    augment: bool | None = None  # None: True
    device: str = "auto"  # not part of the run's identity: may change on resume
    workers: int = 0
    amp: bool = True  # mixed precision, CUDA only
    progress: bool = True

    def __post_init__(self):
        for key in ("epochs", "batch"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise EdgesegError(f"`{key}` must be at least 1, got {value}")
        if self.lr is not None and not (self.lr > 0 and math.isfinite(self.lr)):
            raise EdgesegError(f"`lr` must be a positive finite number, got {self.lr:g}; leave it out for the recipe's")
        if self.val_split is not None and not 0 <= self.val_split <= 0.95:
            raise EdgesegError(f"`val_split` must be in [0, 0.95], got {self.val_split:g}")
        if self.workers:
            check_worker_tempdir(self.workers)
        for what, values in (("`model_config`", self.model_config), ("`options`", self.options)):
            for key, value in values.items():
                if isinstance(value, float) and not math.isfinite(value):
                    raise EdgesegError(f"{what} {key} must be a finite number, got {value}")


@dataclass(frozen=True)
class Settings:
    """A run's identity with every default resolved (recipe, data source); `resume.json` keeps it as `settings`."""

    model: str
    data: str
    epochs: int
    batch: int
    img_size: int
    lr: float
    seed: int
    val_split: float
    model_config: dict[str, Any]
    options: dict[str, Any]
    augment: bool


IDENTITY = tuple(f.name for f in fields(Settings))  # what a resumed run keeps: TrainConfig's fields of these names


@dataclass(frozen=True)
class Context:
    """How this process runs the job: its place in the world, device, recipe, data normalisation, output."""

    rank: int
    world: int
    device: torch.device
    scaler: Any
    console: Any
    out: Path
    recipe: Recipe
    phases: list[Phase]
    norm: Any
    workers: int
    progress: bool
    classes: int = 1  # the model's num_classes: 1 = binary targets, C > 1 = class indices 0..C-1
    class_names: tuple[str, ...] = ()  # the data source's names of classes 0..C-1, when it has them


@dataclass
class Run:
    """Mutable state of a run between epochs."""

    model: Any
    phase: Phase | None = None
    carried: list[str] = field(default_factory=list)
    optimizer: Any = None
    scheduler: Any = None
    history: list[dict] = field(default_factory=list)
    best: dict[str, Any] = field(default_factory=dict)
    done: int = 0


def train(cfg: TrainConfig, resume: bool = False) -> dict[str, Any]:
    """Train as `cfg` says; rank 0 holds an exclusive lock on the run folder meanwhile."""
    deterministic = torch.are_deterministic_algorithms_enabled()
    try:
        rank, world = _init_distributed()
        with exclusive(cfg.out, "a training run") if rank == 0 else contextlib.nullcontext():
            return _train(cfg, resume, rank, world)
    finally:
        torch.use_deterministic_algorithms(deterministic)


def _train(cfg: TrainConfig, resume: bool, rank: int, world: int) -> dict[str, Any]:
    device = _device(cfg.device, world)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    out = Path(cfg.out)
    saved = None
    if resume:
        saved, tensors = checkpoint.load_resume(out)
        saved["_tensors"] = tensors
    chosen = _chosen(cfg, saved, out)
    if world > 1:
        torch.distributed.barrier()  # every rank has checked `out` before rank 0 writes into it
    recipe = recipe_for(chosen.model, **chosen.options)
    dataset = open_source(chosen.data)
    settings = _resolve(chosen, recipe, getattr(dataset, "size", None))
    train_set, val_set = split(dataset, settings.val_split, settings.seed)
    if len(train_set) == 0:
        raise EdgesegError(f"{settings.data}: no training samples left after the validation split")
    norm = dataset.normalization
    phases = recipe.phases(settings.epochs)

    torch.manual_seed(settings.seed)
    config = {"num_classes": 1, "in_channels": norm.channels, **settings.model_config}
    run = Run(model=None)
    _check_memory(lambda: recipe.build(saved["model_config"] if saved else config), settings, device)
    if saved is None:
        run.model = recipe.build(config).to(device)
    else:
        _restore(run, recipe, saved, phases, settings, device)
    divisor = run.model.size_divisor
    for size in {p.img_size or settings.img_size for p in phases}:
        if size % divisor:
            raise EdgesegError(f"training size {size} is not a multiple of {divisor} for {settings.model}; "
                               f"use `img_size` {-(-size // divisor) * divisor}")
    scaler = torch.amp.GradScaler("cuda", enabled=cfg.amp and device.type == "cuda")
    if saved is not None and saved.get("scaler") and scaler.is_enabled():
        scaler.load_state_dict(saved["scaler"])
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / "metrics.jsonl", "".join(json.dumps(h) + "\n" for h in run.history))

    ctx = Context(rank=rank, world=world, device=device, scaler=scaler, console=_console(rank), out=out,
                  recipe=recipe, phases=phases, norm=norm, workers=cfg.workers, progress=cfg.progress,
                  classes=run.model.options.num_classes,
                  class_names=_class_names(dataset, run.model.options.num_classes))
    if saved is None and rank == 0:
        ctx.console.print(f"training {settings.model} on {settings.data}: {len(train_set)} train / "
                          f"{len(val_set)} val, {settings.epochs} epochs, batch {settings.batch}x{world}, "
                          f"lr {settings.lr:g}, device {device}", soft_wrap=True)
        for note in recipe.notes(config):
            ctx.console.print(note, soft_wrap=True)
    ddp = None
    for epoch in range(run.done, settings.epochs):
        phase = next(p for p in phases if p.start <= epoch < p.stop)
        if run.phase is None or phase.index != run.phase.index:
            _enter_phase(run, ctx, settings, phase)
            ddp = None
        if world > 1 and ddp is None:
            ddp = _wrap(run.model, recipe, device)
        size = phase.img_size or settings.img_size
        started = time.perf_counter()
        loss, parts, count = _train_epoch(run, ddp, ctx, settings, phase, train_set, size, epoch)
        _check_weights(run.model, epoch, settings.lr)
        val = _evaluate(run.model, ctx, settings, phase, val_set, size)
        record = {"epoch": epoch + 1, "phase": phase.name, "img_size": size, "world": world, "samples": int(count),
                  "lr": [g["lr"] for g in run.optimizer.param_groups][0], "loss": loss, "loss_parts": parts,
                  "val": val, "primary": recipe.primary_for(phase)}
        if run.scheduler is not None:
            run.scheduler.step()
        record["seconds"] = round(time.perf_counter() - started, 3)
        run.done = epoch + 1
        run.history.append(record)
        if rank == 0:
            improved = _save_epoch(run, ctx, settings, record, phase)
            _print_epoch(ctx.console, record, settings.epochs, improved)
        if world > 1:
            torch.distributed.barrier()
    if world > 1:
        torch.distributed.destroy_process_group()
    return {"history": run.history, "best": run.best, "out": str(out)}


# --- setup ------------------------------------------------------------------------------------------
def _init_distributed() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    return dist.get_rank(), world


def _device(name: str, world: int) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise EdgesegError(f"unknown device {name!r}; use cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise EdgesegError("`device` cuda asked for, but torch sees no CUDA GPU; use `device` cpu")
        if world > 1:
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
    return device


def _chosen(cfg: TrainConfig, saved: dict | None, out: Path) -> TrainConfig:
    """`cfg` for a new run; on resume, `cfg` with the saved run's identity (which `cfg` may leave out, not change)."""
    if saved is None:
        if (out / checkpoint.RESUME).exists():
            raise EdgesegError(f"{shown(out)} already holds a training run; pass `resume` to continue it "
                               "or choose another `out`")
        return cfg
    settings = saved["settings"]
    hints = typing.get_type_hints(TrainConfig)
    for key in IDENTITY:
        if key not in settings or not fits(settings[key], hints[key]):
            raise IntegrityError(f"{checkpoint.RESUME}: settings.{key} must be {type_name(hints[key])}, "
                                 f"got {settings.get(key, 'nothing')!r:.60}")
    for key in IDENTITY:
        value = getattr(cfg, key)
        if value in (None, {}) or value == settings[key]:
            continue
        raise EdgesegError(f"`resume` continues the run as it was started: {key} was {settings[key]!r}, "
                           f"now {value!r}; drop the option or start a new run in another `out`")
    return replace(cfg, **{key: settings[key] for key in IDENTITY})


def _resolve(chosen: TrainConfig, recipe: Recipe, source_size: int | None) -> Settings:
    """The run's identity with the defaults filled in: the recipe's, the data source's size, then fixed ones."""
    return Settings(
        model=chosen.model, data=chosen.data, epochs=chosen.epochs or recipe.epochs, batch=chosen.batch or recipe.batch,
        img_size=chosen.img_size or source_size or 256, lr=chosen.lr or recipe.lr,
        seed=0 if chosen.seed is None else chosen.seed, val_split=0.2 if chosen.val_split is None else chosen.val_split,
        model_config=chosen.model_config, options=chosen.options,
        augment=True if chosen.augment is None else chosen.augment,
    )


def _console(rank: int):
    from rich.console import Console

    return Console(quiet=rank != 0, highlight=False, markup=False)


def _check_memory(build, settings: Settings, device) -> None:
    """Refuse a model whose weights, gradients and two optimizer moments alone exceed the device's memory."""
    need = 4 * checkpoint.model_bytes(build)
    if device.type == "cuda":
        have = torch.cuda.get_device_properties(device).total_memory
    else:
        have = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    if need > have:
        raise EdgesegError(f"{settings.model} with config {settings.model_config or 'defaults'} needs about "
                           f"{need / 2**30:,.1f} GiB to train (weights, gradients, optimizer state) but {device} has "
                           f"{have / 2**30:,.1f} GiB; use a smaller width_mult")


def _check_weights(model, epoch: int, lr: float) -> None:
    bad = [name for name, t in model.state_dict().items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if bad:
        raise _diverged(epoch, f"{len(bad)} weight tensor(s) hold NaN or inf, first {bad[0]}", lr)


def _diverged(epoch: int, what: str, lr: float) -> EdgesegError:
    return EdgesegError(f"training diverged in epoch {epoch + 1} ({what}); nothing of this epoch was saved. "
                        f"The learning rate {lr:g} is too high for this model: lower `lr`")


# --- phases, optimizer, resume ----------------------------------------------------------------------
def _span(phase: Phase, phases: list[Phase], epochs: int) -> int:
    later = [p.start for p in phases if p.start > phase.start and p.fresh_optimizer]
    return min(later, default=epochs) - phase.start


def _make_optimizer(run: Run, recipe: Recipe, phase: Phase, phases: list[Phase], settings: Settings) -> None:
    run.optimizer = recipe.make_optimizer(recipe.param_groups(run.model, settings.lr, run.carried))
    run.scheduler = None
    if recipe.schedule == "cosine":
        span = _span(phase, phases, settings.epochs)
        run.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(run.optimizer, T_max=span)


def _enter_phase(run: Run, ctx: Context, settings: Settings, phase: Phase) -> None:
    if run.phase is not None:
        run.model, run.carried = ctx.recipe.enter(run.model, phase, ctx.device)
        run.model = run.model.to(ctx.device)
    run.phase = phase
    if phase.fresh_optimizer or run.optimizer is None:
        _make_optimizer(run, ctx.recipe, phase, ctx.phases, settings)


def _restore(run: Run, recipe: Recipe, saved: dict, phases: list[Phase], settings: Settings, device) -> None:
    tensors = saved["_tensors"]
    run.model = recipe.build(saved["model_config"])
    state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    checkpoint.check_state(state, run.model.state_dict())
    run.model.load_state_dict(state)
    run.model = run.model.to(device)
    run.phase = phases[saved["phase"]]
    run.carried = saved["carried"]
    run.history, run.best, run.done = saved["history"], saved["best"], saved["epoch"]
    start = max(p.start for p in phases if p.fresh_optimizer and p.start <= run.phase.start)
    _make_optimizer(run, recipe, next(p for p in phases if p.start == start), phases, settings)
    run.optimizer.load_state_dict(checkpoint.join_optimizer_state(tensors, saved["optimizer"]))
    if run.scheduler is not None:
        run.scheduler.load_state_dict(saved["scheduler"])
    torch.set_rng_state(tensors["rng.torch"])
    if device.type == "cuda" and "rng.cuda" in tensors:
        torch.cuda.set_rng_state(tensors["rng.cuda"], device)


def _wrap(model, recipe: Recipe, device):
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=recipe.find_unused_parameters)


# --- one epoch --------------------------------------------------------------------------------------
# Data-loader workers hand each batch back through a Unix socket that multiprocessing creates at
# TMPDIR/pymp-<8 random chars>/listener-<8 random chars>. A socket path holds at most 107 bytes on Linux
# (103 on macOS); past that the worker cannot bind it, says nothing, and the training waits forever.
_SOCKET_PATH_MAX = 103 if sys.platform == "darwin" else 107
_SOCKET_SUFFIX = len("/pymp-") + 8 + len("/listener-") + 8


def check_worker_tempdir(workers: int) -> None:
    """Refuse worker processes where their sockets cannot be made (a long TMPDIR), instead of hanging."""
    tmp = tempfile.gettempdir()
    if sys.platform != "win32" and len(os.fsencode(tmp)) + _SOCKET_SUFFIX > _SOCKET_PATH_MAX:
        room = _SOCKET_PATH_MAX - _SOCKET_SUFFIX
        raise EdgesegError(
            f"`workers` {workers} needs a temporary folder whose path is at most {room} bytes (worker processes "
            f"pass batches through sockets there), but it is {tmp!r}; set TMPDIR to a shorter folder or use "
            "`workers` 0")


def _loader(dataset, sampler, batch: int, workers: int, drop_last: bool):
    return torch.utils.data.DataLoader(dataset, batch_size=batch, sampler=sampler, num_workers=workers,
                                       drop_last=drop_last, persistent_workers=False)


def _train_epoch(run: Run, ddp, ctx: Context, settings: Settings, phase: Phase, train_set, size: int, epoch: int):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    augment = Augment() if settings.augment else None
    data = SegmentationSet(train_set, ctx.norm, size, augment, seed=settings.seed, classes=ctx.classes)
    data.epoch = epoch
    sampler = EpochSampler(len(data), settings.seed, rank=ctx.rank, world=ctx.world)
    sampler.epoch = epoch
    per_rank = len(sampler)
    loader = _loader(data, sampler, settings.batch, ctx.workers, drop_last=per_rank > settings.batch)
    model = ddp if ddp is not None else run.model
    model.train()
    recipe, device, scaler = ctx.recipe, ctx.device, ctx.scaler
    amp = scaler.is_enabled()
    total, count, parts_sum = 0.0, 0, {}
    columns = (TextColumn(f"epoch {epoch + 1}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("loss {task.fields[loss]:.4f}"), TimeRemainingColumn())
    hidden = not ctx.progress or not ctx.console.is_terminal
    with Progress(*columns, console=ctx.console, transient=True, disable=hidden) as progress:
        task = progress.add_task("train", total=len(loader), loss=float("nan"))
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
                output = recipe.forward(model, x, phase)
            loss, parts = recipe.loss(output, y, phase)
            run.optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(run.optimizer)
            scaler.update()
            value = loss.item()
            if not math.isfinite(value):
                raise _diverged(epoch, f"the loss is {value}", settings.lr)
            total += value * len(x)
            count += len(x)
            for key, value in parts.items():
                parts_sum[key] = parts_sum.get(key, 0.0) + value * len(x)
            progress.update(task, advance=1, loss=total / count)
    sums = torch.tensor([total, count, *parts_sum.values()], dtype=torch.float64)
    if ctx.world > 1:
        torch.distributed.all_reduce(sums)
    total, count = sums[0].item(), sums[1].item()
    return total / count, {k: v / count for k, v in zip(parts_sum, sums[2:].tolist())}, count


@torch.no_grad()
def _evaluate(model, ctx: Context, settings: Settings, phase: Phase, val_set, size: int) -> dict[str, dict[str, float]]:
    """Mean per-image IoU and Dice (the papers' figures) and the micro IoU, per prediction head."""
    if len(val_set) == 0:
        return {}
    data = SegmentationSet(val_set, ctx.norm, size, classes=ctx.classes)
    loader = _loader(data, EpochSampler(len(data), 0, shuffle=False), settings.batch, ctx.workers, drop_last=False)
    recipe, device = ctx.recipe, ctx.device
    model.eval()
    if ctx.classes > 1:
        return _evaluate_classes(model, recipe, phase, loader, device, ctx.classes)
    confusions: dict[str, list[Confusion]] = {}
    for x, y in loader:
        output = recipe.forward(model, x.to(device), phase)
        target = y.to(device).bool().flatten(1)
        for name, probs in recipe.predictions(output, phase).items():
            pred = (probs > 0.5).flatten(1)
            tp = (pred & target).sum(1)
            fp = (pred & ~target).sum(1)
            fn = (~pred & target).sum(1)
            tn = target.shape[1] - tp - fp - fn
            confusions.setdefault(name, []).extend(Confusion(*map(int, c)) for c in zip(tp, fp, fn, tn))
    scores = {}
    for name, per_image in confusions.items():
        total = sum(per_image, Confusion(0, 0, 0, 0))
        scores[name] = {"iou": sum(c.iou() for c in per_image) / len(per_image),
                        "dice": sum(c.dice() for c in per_image) / len(per_image),
                        "micro_iou": total.iou()}
    return scores


@torch.no_grad()
def _evaluate_classes(model, recipe: Recipe, phase: Phase, loader, device, classes: int) -> dict[str, dict]:
    """`metrics.class_scores` per prediction head (argmax over the softmax maps); `iou` and `dice` are
    its foreground means, so the best checkpoint and the printed line use them."""
    preds: dict[str, list] = {}
    targets = []
    for x, y in loader:
        output = recipe.forward(model, x.to(device), phase)
        targets.extend(y[:, 0].to(torch.uint8).numpy())
        for name, probs in recipe.predictions(output, phase).items():
            preds.setdefault(name, []).extend(probs.argmax(1).to(torch.uint8).cpu().numpy())
    scores = {}
    for name, maps in preds.items():
        s = class_scores(maps, targets, classes)
        scores[name] = {"iou": s["mean_iou"], "dice": s["mean_dice"], "precision": s["mean_precision"],
                        "recall": s["mean_recall"], "classes": s["classes"]}
    return scores


# --- saving -----------------------------------------------------------------------------------------
def _class_names(dataset, classes: int) -> tuple[str, ...]:
    """The source's class names when it names exactly the model's classes (C > 1), else none."""
    names = tuple(getattr(dataset, "class_names", None) or ())
    return names if classes > 1 and len(names) == classes else ()


def _save_epoch(run: Run, ctx: Context, settings: Settings, record: dict, phase: Phase) -> bool:
    primary = record["val"].get(record["primary"])
    score = primary["iou"] if primary else -record["loss"]
    improved = phase.index == ctx.phases[-1].index and (not run.best or score > run.best["score"])
    model, out, device = run.model, ctx.out, ctx.device
    info = checkpoint.CheckpointInfo(
        model=settings.model, config=dict(model.config), normalization=asdict(ctx.norm),
        recipe={**ctx.recipe.describe(), "phase": phase.name, "img_size": record["img_size"],
                "epochs": settings.epochs, "batch": settings.batch, "lr": settings.lr, "seed": settings.seed,
                "data": settings.data, "val_split": settings.val_split,
                **({"class_names": list(ctx.class_names)} if ctx.class_names else {})},
        epoch=record["epoch"], metrics={"loss": record["loss"], "val": record["val"]},
    )
    checkpoint.save(out / "last", model, info)
    if improved:
        run.best = {"epoch": record["epoch"], "score": score, "head": record["primary"]}
        checkpoint.save(out / "best", model, info)
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    optim_tensors, optim_rest = checkpoint.split_optimizer_state(run.optimizer.state_dict())
    tensors.update(optim_tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    if device.type == "cuda":
        tensors["rng.cuda"] = torch.cuda.get_rng_state(device)
    checkpoint.save_resume(out, run.done, tensors, {
        "settings": asdict(settings), "model": settings.model, "model_config": dict(model.config),
        "phase": phase.index, "carried": run.carried, "history": run.history, "best": run.best,
        "optimizer": optim_rest, "scheduler": run.scheduler.state_dict() if run.scheduler is not None else None,
        "scaler": ctx.scaler.state_dict() if ctx.scaler.is_enabled() else None,
    })
    append_line(out / "metrics.jsonl", json.dumps(record))
    return improved


def _print_epoch(console, record, epochs, improved) -> None:
    val = "  ".join(f"{name} IoU {s['iou']:.4f} Dice {s['dice']:.4f}" for name, s in record["val"].items())
    mark = "  [best]" if improved else ""
    console.print(f"epoch {record['epoch']}/{epochs} [{record['phase']} {record['img_size']}px] "
                  f"loss {record['loss']:.4f}  {val}  ({record['seconds']:.1f}s){mark}", soft_wrap=True)

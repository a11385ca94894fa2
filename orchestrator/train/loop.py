"""The loop each Ray Train worker runs: data-parallel SGD with periodic validation and checkpoints.

Every worker builds the same network from the seed, computes the loss on its own batch, and the gradients of the
trained parameters are averaged over the workers (``all_reduce``) before every worker takes the same optimiser
step; BatchNorm running statistics are averaged too, so all workers hold the same state at every iteration.
Dropout draws from a generator seeded by (seed, iteration, rank). Worker 0 validates every ``val_freq``
iterations (SRCC, PLCC, KRCC on the validation set, :mod:`orchestrator.stats.correlation`) and writes a
checkpoint every ``checkpoint_every`` iterations and at the end: the network, the optimiser and scheduler, the
training phase, the best network so far (the fine-tune phase starts from it, as pyiqa's DBCNN does) and the
history of losses and validations. Mixed precision (float16 autocast with gradient scaling) is used on CUDA when
asked; on the CPU training runs in float32.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

import numpy as np
import pandas as pd
import torch

from orchestrator.stats.correlation import correlations
from orchestrator.train import data as train_data
from orchestrator.train import losses, networks, optim
from orchestrator.train.options import DISTRIBUTION_COLUMN, TrainOptions

STATE_FILE = "state.pt"


def _average(tensors: list[torch.Tensor], world: int) -> None:
    import torch.distributed as dist

    if world == 1:
        return
    for t in tensors:
        dist.all_reduce(t)
        t.div_(world)


def _broadcast(model: torch.nn.Module, world: int) -> None:
    """Every worker takes worker 0's network (parameters and buffers)."""
    import torch.distributed as dist

    if world == 1:
        return
    for tensor in model.state_dict().values():
        dist.broadcast(tensor, src=0)


def _stage(options: TrainOptions, model: torch.nn.Module, finetune: bool) -> tuple[Any, Any]:
    parts = networks.NETWORKS[options.network].parameter_parts
    if finetune:
        networks.unfreeze(model)
        optimiser = optim.build_optimiser(model, options.optim_finetune or {}, parts)
        return optimiser, optim.build_scheduler(optimiser, options.scheduler_finetune)
    optimiser = optim.build_optimiser(model, options.optim, parts)
    return optimiser, optim.build_scheduler(optimiser, options.scheduler)


def _forward(model: torch.nn.Module, batch: dict[str, Any], device: torch.device) -> torch.Tensor:
    dist = train_data.to_tensor(batch["dist"], device)
    if "ref" in batch:
        return model(dist, train_data.to_tensor(batch["ref"], device))
    return model(dist)


def _score(output: torch.Tensor, predicts_distribution: bool) -> float:
    """The score of one image: the network's output, or the mean rating of its predicted distribution."""
    from metrics.deep.nima import mean_rating

    output = output.float()
    return float(mean_rating(output)[0] if predicts_distribution else output.flatten()[0])


def validate(model: torch.nn.Module, options: TrainOptions, device: torch.device) -> dict[str, float]:
    """SRCC, PLCC and KRCC of the network's scores on the validation set (one image at a time)."""
    assert options.val is not None
    distribution = networks.NETWORKS[options.network].predicts_distribution
    rows = []
    model.eval()
    with torch.inference_mode():
        for row, image, reference, mos in train_data.validation_images(options.val):
            batch = {"dist": image[None]} | ({"ref": reference[None]} if reference is not None else {})
            score = _score(_forward(model, batch, device), distribution)
            rows.append({"score": score, "mos": mos, "error": None})
    model.train()
    found = correlations(pd.DataFrame(rows))
    return {"srcc": found.srcc, "plcc": found.plcc, "krcc": found.krcc}


def _save(directory: str, state: dict[str, Any]) -> None:
    torch.save(state, os.path.join(directory, STATE_FILE))


def train_loop(config: dict[str, Any]) -> None:
    """Ray Train's ``train_loop_per_worker``; ``config``: ``options`` (TrainOptions), ``stop_at`` (iteration to
    stop at, checkpointed, or None), ``amp`` (mixed precision on CUDA)."""
    import ray.train
    import ray.train.torch

    options: TrainOptions = config["options"]
    stop_at = min(config.get("stop_at") or options.total_iter, options.total_iter)
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    device = ray.train.torch.get_device()
    torch.manual_seed(options.seed)
    model = networks.NETWORKS[options.network].build(options.network_options).to(device)
    loss_fn = losses.build_loss(options.loss)
    # a network predicting a distribution learns the normalised vote histogram, the others the MOS
    target_key = DISTRIBUTION_COLUMN if networks.NETWORKS[options.network].predicts_distribution else "mos"

    start, finetune, history, best, best_state = 0, False, [], -np.inf, None
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            saved = torch.load(os.path.join(folder, STATE_FILE), map_location=device, weights_only=True)
        start, finetune, history = saved["iteration"], saved["finetune"], saved["history"]
        best, best_state = saved["best"], saved["best_state"]
        if finetune:
            networks.unfreeze(model)
        model.load_state_dict(saved["model"])
    optimiser, scheduler = _stage(options, model, finetune)
    if checkpoint is not None:
        optimiser.load_state_dict(saved["optimiser"])
        if scheduler is not None:
            scheduler.load_state_dict(saved["scheduler"])
    amp = bool(config.get("amp")) and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    model.train()

    def state(iteration: int) -> dict[str, Any]:
        return {"iteration": iteration, "finetune": finetune, "history": history, "best": best,
                "best_state": best_state, "model": model.state_dict(), "optimiser": optimiser.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None}

    batches = train_data.train_batches(options.train, options.seed, world, rank, start, stop_at)
    iteration, seen, began = start, 0, time.perf_counter()
    for batch in batches:
        # pyiqa counts iterations from 1: iteration ``finetune_start_iter`` is the first one fine-tuned
        if options.finetune_start_iter is not None and iteration + 1 >= options.finetune_start_iter \
                and not finetune:
            if best_state is not None:  # worker 0 validated: it holds the best network
                model.load_state_dict(best_state)
            _broadcast(model, world)
            finetune = True
            optimiser, scheduler = _stage(options, model, finetune)
        torch.manual_seed(hash((options.seed, iteration, rank)) & 0x7FFFFFFF)
        optimiser.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
            pred = _forward(model, batch, device)
        loss = loss_fn(pred.float(), torch.from_numpy(batch[target_key]).to(device))
        scaler.scale(loss).backward()
        _average([p.grad for p in model.parameters() if p.grad is not None], world)
        scaler.step(optimiser)
        scaler.update()
        lr = optimiser.param_groups[-1]["lr"]  # the last group: the parameters no lr_<part> names
        if scheduler is not None:
            scheduler.step()
        _average([b for b in model.buffers() if b.is_floating_point()], world)
        iteration += 1
        if iteration == start + 1:  # the throughput counts from the end of the first step (pipeline warm-up)
            began = time.perf_counter()
        else:
            seen += len(batch["mos"])
        losses_now = torch.tensor([float(loss.detach())], device=device)
        _average([losses_now], world)
        record: dict[str, Any] = {"iteration": iteration, "loss": float(losses_now[0]),
                                  "lr": lr, "finetune": finetune}
        if options.val is not None and options.val_freq and iteration % options.val_freq == 0 and rank == 0:
            scores = validate(model, options, device)
            record.update({f"val_{k}": v for k, v in scores.items()})
            if scores[options.key_metric] > best:
                best = scores[options.key_metric]
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        history.append(record)
        last = iteration == stop_at
        elapsed = time.perf_counter() - began
        metrics = {**record, "images_per_second": seen * world / elapsed if seen else float("nan")}
        if iteration % options.checkpoint_every == 0 or last:
            with tempfile.TemporaryDirectory() as folder:
                if rank == 0:
                    _save(folder, state(iteration))
                ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(folder)
                                 if rank == 0 else None)

"""Layer responses of a trained run (He et al. 2015, Fig. 7): the std of each 3x3 layer's output on the test set.

    python -m experiments.responses --run-dir runs/degradation/quick/resnet-56/seed0 [--data-dir data]

Reads the run's ``config.yaml`` (its ``config`` mapping is the run's :class:`~experiments.config.RunConfig`)
and ``checkpoints/last.ckpt``, evaluates the net in eval mode on the run's test images (the same ones its
test error was measured on: :func:`experiments.data.load_tensors` with the run's config, so ``eval_limit``
applies; normalised as :class:`~experiments.training.batches.EvalBatches` does) and writes, atomically,
``<run>/layer_responses.csv``::

    layer,name,std
    1,bn1,0.8473
    2,layer1.0.bn1,1.0312
    ...

One row per 3x3 convolution of the main path (:func:`models.response_layers`), in the net's order
(``layer`` is 1-based; ``name`` is the BN module's name). The response is the BN's output: after BN,
before the ReLU and, in a residual block's second layer, before the addition (paper section 4.2, "Analysis
of Layer Responses"). ``std`` is the population standard deviation (ddof=0) of all its elements pooled
together, over every test image, channel and spatial position: one number per layer, as the paper's
"standard deviations of layer responses". BN normalises with its running statistics (eval mode), as when
the test error is measured: after only a few iterations (the smoke profile) those are still far from the
batches' statistics, and a deep plain net's responses can be huge. The first layer is the stem's 3x3 convolution of the CIFAR
family (the ImageNet stem's 7x7 convolution is not a 3x3 layer and is left out).

Nothing is trained. Only a finished run (result.json status ok) is measured: a diverged one gets a note
and no file (exit 0: it is a result of the matrix, with no trained net), an unfinished or failed one is an
error (exit 1). The ImageNet profile is not supported (its test set is a folder, not tensors).
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

from models import response_layers

from runfolder import CHECKPOINT, CONFIG, LAYER_RESPONSE_COLUMNS, LAYER_RESPONSES, MalformedError, read_config
from .training.checkpoint import TRAINED_WITH_KEY


class _Moments:
    """Count, mean and sum of squared deviations of every element seen, merged batch by batch.

    Chan et al.'s pairwise update in float64: exact enough for 10^8 elements, and no cancellation
    (E[x^2] - E[x]^2 loses digits when the mean is large against the spread).
    """

    def __init__(self) -> None:
        self.n, self.mean, self.m2 = 0, 0.0, 0.0

    def add(self, x: torch.Tensor) -> None:
        x = x.detach().reshape(-1).double()
        n = x.numel()
        if n == 0:
            return
        mean = x.mean()
        m2 = (x - mean).square().sum()
        mean, m2 = mean.item(), m2.item()
        total = self.n + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.n * n / total
        self.n = total

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / self.n) if self.n else math.nan


@torch.no_grad()
def layer_response_stds(net: nn.Module, batches: Iterable, layers: list[tuple[str, nn.Module]] | None = None,
                        device: torch.device | str | None = None) -> list[tuple[int, str, float]]:
    """``[(layer index, name, std), ...]``: the std of each layer's response, pooled over all ``batches``.

    ``net`` is evaluated in eval mode (restored afterwards). ``batches`` yields images or ``(images,
    labels)`` pairs. ``layers`` are ``(name, module)`` pairs whose outputs are the responses; by default
    :func:`models.response_layers` (the BN after each 3x3 convolution). Each std is over every element of
    the module's output (images x channels x positions), ddof=0.

    The statistic is taken inside the forward hook, at once: the nets' ReLUs are in place, so the tensor a
    hook sees is overwritten by the nonlinearity right after it returns.
    """
    layers = response_layers(net) if layers is None else layers
    if device is None:
        device = next(net.parameters()).device
    moments = [_Moments() for _ in layers]
    handles = [module.register_forward_hook(lambda _m, _i, out, acc=acc: acc.add(out))
               for (_, module), acc in zip(layers, moments)]
    was_training = net.training
    net.eval()
    try:
        for batch in batches:
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            net(x.to(device))
    finally:
        for h in handles:
            h.remove()
        net.train(was_training)
    return [(i, name, acc.std) for i, ((name, _), acc) in enumerate(zip(layers, moments), start=1)]


def responses_csv(rows: list[tuple[int, str, float]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(LAYER_RESPONSE_COLUMNS)
    for index, name, std in rows:
        writer.writerow((index, name, repr(float(std))))
    return buffer.getvalue()


# ----------------------------------------------------------------------------------------------------
# A run folder -> its trained net and test batches
# ----------------------------------------------------------------------------------------------------
class RunError(Exception):
    """The run folder cannot give responses (not finished, no checkpoint, ...): one line, exit 1."""


class Skipped(Exception):
    """A diverged run: a result of the matrix, but no trained net to measure. A note, exit 0, no file."""


def load_run_record(run_dir: Path) -> dict:
    """The run's ``config.yaml`` (written by experiments.run: model, data_dir, config, provenance)."""
    path = run_dir / CONFIG
    if not path.exists():
        raise RunError(f"{path} does not exist: not a run folder, or the run never started")
    try:
        record = read_config(path)
    except MalformedError as exc:
        raise RunError(f"{run_dir}: {exc}") from None
    if not isinstance(record.get("config"), dict):
        raise RunError(f"{path} has no 'config' mapping")
    return record


def load_run_config(run_dir: Path):
    """``(model name, RunConfig)`` from the run's ``config.yaml``, every key checked against RunConfig."""
    from .config import RunConfig, apply

    record = load_run_record(run_dir)
    model = record.get("model") or run_dir.parent.name
    return model, apply(RunConfig(), record["config"], str(run_dir / CONFIG))


def load_trained_net(run_dir: Path, model_name: str, config, num_classes: int, in_channels: int) -> tuple[nn.Module, int]:
    """The net of ``checkpoints/last.ckpt`` (DegradationModule's ``model.`` keys) and its iteration."""
    from .training.module import seeded_net

    path = run_dir / CHECKPOINT
    if not path.is_file():
        raise RunError(f"{path} does not exist: the run has no checkpoint to measure")
    seed = load_run_record(run_dir).get("seed")
    net = seeded_net(model_name, num_classes, in_channels, config, seed if isinstance(seed, int) else 0)  # as it trained
    prefix = "model."
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)  # our own file; holds hparams
        state = {k[len(prefix):]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)}
        net.load_state_dict(state)  # strict: a checkpoint of another net is an error, not a silent mismatch
    except Exception as exc:  # noqa: BLE001 - unreadable, damaged or another net's: one line, not a traceback
        raise RunError(f"{path} does not hold {model_name}'s weights ({type(exc).__name__}: "
                       f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''})") from None
    _check_same_net(path, model_name, net, checkpoint.get(TRAINED_WITH_KEY) or {})
    return net, int(checkpoint.get("global_step", -1))


def _check_same_net(path: Path, model_name: str, net: nn.Module, trained_with: dict) -> None:
    """RunError where the net built now is not the one the checkpoint trained: another layout (format 4 on;
    models.layout) or, for a plugin, other source files than the run recorded. Measured anyway, the weights
    would give another net's layer responses under the run's name."""
    from models import model_axes
    from models.layout import layout_change, net_layout

    anew = "measure it with the code it was trained with (config.yaml: git_commit, plugin)"
    if trained_with.get("layout") is not None:
        change = layout_change(trained_with["layout"], net_layout(net))
        if change:
            raise RunError(f"{path} was trained with a net built otherwise than {model_name} is now ({change}); "
                           f"{anew}")
    trained, plugin = trained_with.get("plugin"), model_axes(model_name)["plugin"]
    if trained and plugin and trained.get("source_sha256") != plugin["source_sha256"]:
        raise RunError(f"{path} was trained with other code of plugin {plugin['distribution']} (source sha256 "
                       f"{str(trained.get('source_sha256'))[:12]}, installed now {str(plugin['source_sha256'])[:12]}); "
                       f"{anew}")


def measure_run(run_dir: Path, data_dir: Path, device: str = "cpu") -> list[tuple[int, str, float]]:
    """The layer responses of a finished run, measured on its test images."""
    from .training.batches import EvalBatches
    from .data import dataset, load_tensors, tensor_datasets
    from runfolder import RESULT, read_result

    try:
        result = read_result(run_dir / RESULT)
    except MalformedError as exc:
        raise RunError(f"{run_dir}: {exc}: the run is not finished") from None
    status = result["status"]
    if status == "diverged":
        raise Skipped(f"{run_dir} diverged: its weights are not a trained net's; no layer responses")
    if status != "ok":
        raise RunError(f"{run_dir} is a {status} run: its weights are not a trained net's")
    model_name, config = load_run_config(run_dir)
    if not dataset(config.dataset).tensors:
        raise RunError(f"layer responses need a tensor dataset ({tensor_datasets()}), not {config.dataset}")
    tensors = load_tensors(config, data_dir)
    net, step = load_trained_net(run_dir, model_name, config, tensors.num_classes, tensors.in_channels)
    if step != result["iterations"]:
        raise RunError(f"{run_dir}: checkpoint at iteration {step}, result.json says {result['iterations']}")
    net.to(device)
    batches = EvalBatches(tensors.test_x.to(device), tensors.test_y.to(device), tensors.pixel_mean().to(device),
                          tensors.channel_std().to(device), config.eval_batch_size,
                          channels_last=False)
    return layer_response_stds(net, batches, device=device)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.responses", description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", required=True, help="runs/<experiment>/<profile>/<model>/seed<k>, finished")
    parser.add_argument("--data-dir", default=None,
                        help="where the run's dataset is (default: the data_dir its config.yaml records, else data)")
    parser.add_argument("--device", default="auto", help="auto (a GPU if there is one), cpu or cuda")
    args = parser.parse_args(argv)

    from .config import ConfigError
    from .data import ensure_available
    from runfolder.io import atomic_write_text
    from .launch.threads import cpu_threads

    run_dir = Path(args.run_dir)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    try:
        _, config = load_run_config(run_dir)
        data_dir = Path(args.data_dir or load_run_record(run_dir).get("data_dir") or "data")
        torch.set_num_threads(cpu_threads(config))
        ensure_available(config.dataset, data_dir, fetch=True)
        rows = measure_run(run_dir, data_dir, device)
    except Skipped as exc:
        print(f"note: {exc}", file=sys.stderr)
        return 0
    except (RunError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    out = run_dir / LAYER_RESPONSES
    atomic_write_text(out, responses_csv(rows))
    stds = [s for _, _, s in rows]
    print(f"{run_dir}: {len(rows)} layer responses, std {min(stds):.3g} .. {max(stds):.3g} -> {out}")
    return 0


if __name__ == "__main__":
    from runfolder.io import run_main

    run_main(main)

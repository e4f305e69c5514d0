"""The compensation study of Rasch, Gokmen & Haensch (2019): the same network trained on the
paper's analog baseline with the compensation measures off and on, next to float training.

Networks (--nets), each trained as its example script trains it, at that script's learning
rate (the same for every configuration of a network):

* ``mlp``: MNIST, 784-256-128-10 sigmoid MLP (mnist_mlp.py), mini-batches of 10, mean loss,
  lr 0.1;
* ``lenet``: MNIST, LeNet 16c5-p2-32c5-p2-128-10 tanh (mnist_lenet.py), batches of 10, lr 0.1;
* ``lstm``: War and Peace (or the text file of ``--text``), character-level 2-layer LSTM,
  hidden size 64 (lstm_text.py), 32 streams x 50 characters per step, lr 4;
* ``vgg8``: CIFAR-10, VGG-8 (cifar10_vgg8.py: six 3x3 convolutions 48-48-96-96-144-144 with
  max-pools, batch norm digital, FC 2304-384-10), augmented batches of 128, lr 0.05. Only
  when --nets names it: without update management it is slow (see below).

The networks and their training loops are those of rpusim.training, which the example scripts
use too.

Configurations (--configs), each built from presets.paper_baseline() (the idealised device:
dw_min 0.0002, bounds +-1, 30 % device-to-device and cycle-to-cycle variation; 7-bit DAC,
9-bit ADC, output noise 0.06, output bound 12) by setting its compensation fields
(rpusim.training.compensation_config):

* ``float``: RPUConfig.floating_point(), exact float32 arithmetic;
* ``baseline``: every measure off: noise management "none" forward and backward, bound
  management "none", no update or pulse-length management, no weight scaling;
* ``nm``, ``bm``, ``um``, ``ws``: the baseline plus one measure: abs-max noise management
  forward and backward (NM); iterative bound management (BM); update and pulse-length
  management (UM/UBLM); weight scaling (WS) with omega 0.6, one digital scale per array (the
  update divides the errors by it, lr compensation off: aihwkit's defaults);
* ``preset``: NM, BM and UM/UBLM, i.e. paper_baseline() unchanged;
* ``all``: NM, BM, UM/UBLM and WS;
* ``remap``: ``all``, and every 50 optimizer steps the weights are re-mapped: read, and
  programmed again onto the device range with a new digital scale (WeightRemapper).

Every configuration of a network starts from the same initial weights and the same devices
(tile seeds) and sees the same batches in the same order. Layers are split into arrays of at
most 512 x 512 (aihwkit's default; the MLP's first layer is two arrays of 392 inputs). The test
metric (error in % for the images, perplexity per character for the LSTM) is measured
--evals-per-epoch times per epoch on the whole test set (the LSTM's hidden state restarts from
zero at each of these points, not only at the start of an epoch). The script writes table.md
(final metric and training time per epoch of every run), learning_curves.png (one panel per
network) and results.json to --out-dir (default examples/out/compensation/), and prints the
table.

The full run (the default) trains LeNet 2 epochs and the MLP 3 epochs on all of MNIST, and
the LSTM 2 epochs on 300 000 characters of the book (tested on 50 000); on 2 cores with
--jobs 2 it takes about 40 minutes. --quick trains 1 epoch on subsets (LeNet 4000, MLP 12 000
training and 2000 test images; 50 000 / 10 000 characters) in a few minutes. With --jobs N the
runs go to N processes with one engine thread and one torch thread each (results do not depend
on it: the engine is bit-reproducible).

VGG-8 (``--nets vgg8``) trains 3 epochs on 10 000 training images and tests on 2000 (fixed
random choices: the file holds the images sorted by class); --quick, 2 epochs on 512 and 500.
The configurations without update management are slow: every update fires trains of 31
pulses on nearly every line, and the first convolutions update with 1024 patch rows per image
(on a busy 2-core machine about 90 s per batch of 128, against 10 s with all measures and 1 s
in float). ``--nets vgg8 --configs float,baseline,ws,all --quick --jobs 2`` takes about half
an hour.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import queue
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import rpusim
import torch
from rpusim import training
from rpusim.compensation import WeightRemapper
from rpusim.data import load_cifar10, load_mnist, load_text, load_war_and_peace
from rpusim.nn import convert_to_analog
from rpusim.optim import AnalogSGD
from torch import Tensor, nn
from tqdm import tqdm

OUT_DIR = Path(__file__).resolve().parent / "out" / "compensation"

REMAP_EVERY = 50
"""Optimizer steps between two re-mappings in the ``remap`` configuration. The digital scale
weight scaling sets at the start caps every effective weight at ``max |W_init| / omega``;
re-mapping reads the weights and programs them again with a new scale, so that they can grow
past it."""

DEFAULT_NETS = ("lenet", "lstm", "mlp")
"""The networks of a study when --nets is not given (VGG-8 only when named)."""

# --- configurations -------------------------------------------------------------------------


@dataclass(frozen=True)
class Configuration:
    key: str
    """The name --configs takes."""
    label: str
    """For the table and the legend."""
    measures: frozenset[str] | None
    """Which of NM, BM, UM (with UBLM), WS are on; ``None``: float arithmetic."""
    remap_every: int | None = None
    """Re-map the weights (:class:`rpusim.compensation.WeightRemapper`) every N optimizer
    steps."""


CONFIGURATIONS = {
    c.key: c
    for c in (
        Configuration("float", "float", None),
        Configuration("baseline", "baseline (all off)", frozenset()),
        Configuration("nm", "+NM", frozenset({"NM"})),
        Configuration("bm", "+BM", frozenset({"BM"})),
        Configuration("um", "+UM/UBLM", frozenset({"UM"})),
        Configuration("ws", "+WS", frozenset({"WS"})),
        Configuration("preset", "NM+BM+UM (preset)", frozenset({"NM", "BM", "UM"})),
        Configuration("all", "all (NM+BM+UM+WS)", frozenset({"NM", "BM", "UM", "WS"})),
        Configuration(
            "remap",
            f"all + re-mapping every {REMAP_EVERY} steps",
            frozenset({"NM", "BM", "UM", "WS"}),
            REMAP_EVERY,
        ),
    )
}


# --- options --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StudyOptions:
    """What to run. Epochs and data sizes left ``None`` take each network's full or quick
    :class:`Plan`."""

    nets: tuple[str, ...] = DEFAULT_NETS
    configs: tuple[str, ...] = tuple(CONFIGURATIONS)
    quick: bool = False
    epochs: int | None = None
    """Epochs of every network."""
    train_size: int | None = None
    """N training images of every image network: the first N of MNIST, a fixed random choice
    of CIFAR-10."""
    test_size: int | None = None
    """N test images, chosen as the training images."""
    train_chars: int | None = None
    """First N characters of the book's training part (its first 90 %)."""
    test_chars: int | None = None
    """First N characters of the test part (the last 10 %)."""
    evals_per_epoch: int = 4
    data_dir: Path | None = None
    text: Path | None = None
    """The LSTM's text (any UTF-8 file, gzipped or not); ``None``: War and Peace."""
    jobs: int = 1
    seed: int = 0
    out_dir: Path = OUT_DIR


@dataclass(frozen=True)
class Plan:
    """How long one network trains: epochs and the numbers of training and test samples
    (images or characters; ``None``: the whole split)."""

    epochs: int
    train: int | None
    test: int | None


# --- networks and their training loops ------------------------------------------------------


class Problem(Protocol):
    """A network with its data and the training loop of its example script."""

    def digital(self) -> nn.Module:
        """The torch network, initialised from torch's global generator."""
        ...

    def epoch_chunks(self, pieces: int) -> list[Tensor]:
        """The next epoch's training data, in ``pieces`` consecutive parts."""
        ...

    def train(self, model: nn.Module, optimizer: AnalogSGD, chunk: Tensor, show: bool) -> float:
        """Trains on one part; returns the training time (s)."""
        ...

    def evaluate(self, model: nn.Module) -> float:
        """The test metric."""
        ...


def split_points(steps: int, pieces: int) -> list[int]:
    """``pieces + 1`` increasing step indices from 0 to ``steps``, as even as possible."""
    return [round(k * steps / pieces) for k in range(pieces + 1)]


class ImageProblem:
    """MNIST as mnist_mlp.py trains it: a new random order of the images every epoch, batches
    of 10, mean cross-entropy; the metric is the test error in %."""

    batch_size = 10

    def __init__(
        self, build: Callable[[], nn.Module], flatten: bool, plan: Plan, options: StudyOptions
    ) -> None:
        data = load_mnist(options.data_dir).subset(plan.train, plan.test)
        self.build = build
        self.x_train, self.y_train = training.as_tensors(
            data.train_images, data.train_labels, flatten
        )
        self.x_test, self.y_test = training.as_tensors(data.test_images, data.test_labels, flatten)
        self.generator = torch.Generator().manual_seed(options.seed)

    def digital(self) -> nn.Module:
        return self.build()

    def epoch_chunks(self, pieces: int) -> list[Tensor]:
        order = torch.randperm(len(self.x_train), generator=self.generator)
        batches = math.ceil(len(order) / self.batch_size)
        points = [p * self.batch_size for p in split_points(batches, pieces)]
        return [order[a:b] for a, b in zip(points, points[1:])]

    def train(self, model: nn.Module, optimizer: AnalogSGD, chunk: Tensor, show: bool) -> float:
        return training.train_epoch(
            model,
            optimizer,
            self.x_train,
            self.y_train,
            chunk,
            self.batch_size,
            disable=None if show else True,
        )

    def evaluate(self, model: nn.Module) -> float:
        return 100 * (1 - training.test_accuracy(model, self.x_test, self.y_test))


class CharProblem:
    """War and Peace (or ``options.text``) as lstm_text.py trains it: 32 streams, 50
    characters per step, the hidden state carried from step to step (and reset at the start of
    each part of an epoch); the metric is the test perplexity per character."""

    streams = 32
    seq_len = 50
    hidden = 64
    layers = 2

    def __init__(self, plan: Plan, options: StudyOptions) -> None:
        corpus = (
            load_war_and_peace(options.data_dir)
            if options.text is None
            else load_text(options.text)
        )
        self.vocabulary = len(corpus.vocabulary)
        self.train_data = training.streams(corpus.train[: plan.train], self.streams)
        self.test_data = training.streams(corpus.test[: plan.test], self.streams)

    def digital(self) -> nn.Module:
        return training.CharLSTM(self.vocabulary, self.hidden, self.layers)

    def epoch_chunks(self, pieces: int) -> list[Tensor]:
        # Parts start at a window boundary and overlap by the one character a window's last
        # target needs, so that the windows are those of one pass over the whole data.
        windows = math.ceil((len(self.train_data) - 1) / self.seq_len)
        points = split_points(windows, pieces)
        return [
            self.train_data[a * self.seq_len : b * self.seq_len + 1]
            for a, b in zip(points, points[1:])
        ]

    def train(self, model: nn.Module, optimizer: AnalogSGD, chunk: Tensor, show: bool) -> float:
        return training.train_text_epoch(
            model, optimizer, chunk, self.seq_len, disable=None if show else True
        )

    def evaluate(self, model: nn.Module) -> float:
        return math.exp(training.text_test_loss(model, self.test_data, self.seq_len))


class CifarProblem:
    """CIFAR-10 as cifar10_vgg8.py trains it: VGG-8 (rpusim.training.vgg8), batches of 128,
    the augmented images (random crop with padding 4, horizontal flip), each epoch's order and
    augmentation drawn from ``(seed, epoch)`` as rpusim.training.train_cifar draws them; the
    training and test subsets are fixed random choices (the file holds the images sorted by
    class). The metric is the test error in %."""

    batch_size = 128

    def __init__(self, plan: Plan, options: StudyOptions) -> None:
        data = load_cifar10(options.data_dir)
        self.seed = options.seed
        self.train_images = data.train(augment=True, seed=options.seed)
        self.train_indices = training.cifar_subset(len(self.train_images), plan.train)
        test_indices = training.cifar_subset(len(data.test_labels), plan.test)
        self.test_loader = training.cifar_loader(data.test(), test_indices, 500)
        self.epoch = 0

    def digital(self) -> nn.Module:
        return training.vgg8()

    def epoch_chunks(self, pieces: int) -> list[Tensor]:
        self.epoch += 1
        self.train_images.set_epoch(self.epoch)
        order = torch.from_numpy(training.cifar_order(self.train_indices, self.seed, self.epoch))
        batches = math.ceil(len(order) / self.batch_size)
        points = [p * self.batch_size for p in split_points(batches, pieces)]
        return [order[a:b] for a, b in zip(points, points[1:])]

    def train(self, model: nn.Module, optimizer: AnalogSGD, chunk: Tensor, show: bool) -> float:
        loader = training.cifar_loader(self.train_images, chunk.numpy(), self.batch_size)
        return training.train_batches(
            model,
            optimizer,
            loader,
            disable=None if show else True,
            unit="img",
            unit_scale=self.batch_size,
        )

    def evaluate(self, model: nn.Module) -> float:
        return 100 * (1 - training.loader_accuracy(model, self.test_loader))


@dataclass(frozen=True)
class Net:
    key: str
    title: str
    metric: str
    lr: float
    unit: str
    """What the data sizes count: images or characters."""
    full: Plan
    quick: Plan
    problem: Callable[[Plan, StudyOptions], Problem]


NETS = {
    n.key: n
    for n in (
        Net(
            "lenet",
            "MNIST LeNet",
            "test error (%)",
            0.1,
            "images",
            full=Plan(2, None, None),
            quick=Plan(1, 4000, 2000),
            problem=lambda plan, options: ImageProblem(training.lenet, False, plan, options),
        ),
        Net(
            "lstm",
            "War and Peace LSTM 2x64",
            "test perplexity",
            4.0,
            "characters",
            full=Plan(2, 300_000, 50_000),
            quick=Plan(1, 50_000, 10_000),
            problem=CharProblem,
        ),
        Net(
            "mlp",
            "MNIST MLP 784-256-128-10",
            "test error (%)",
            0.1,
            "images",
            # The sigmoid MLP at lr 0.1 needs about 1000 steps to leave its initial plateau.
            full=Plan(3, None, None),
            quick=Plan(1, 12_000, 2000),
            problem=lambda plan, options: ImageProblem(
                lambda: training.mlp(784), True, plan, options
            ),
        ),
        Net(
            "vgg8",
            "CIFAR-10 VGG-8",
            "test error (%)",
            0.05,
            "images",
            # Without update management every update fires trains of 31 pulses: an epoch of
            # the no-measures configurations takes hours, hence the small plans.
            full=Plan(3, 10_000, 2000),
            quick=Plan(2, 512, 500),
            problem=CifarProblem,
        ),
    )
}
"""In the order the runs are started: the longest first (VGG-8 last: it is not run unless
--nets names it)."""


# --- one run --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    net: str
    config: str
    options: StudyOptions


@dataclass(frozen=True)
class Progress:
    """Sent after every evaluation of a run."""

    task: int
    epoch: float
    metric: float


@dataclass
class RunResult:
    net: str
    config: str
    epochs: list[float] = field(default_factory=list)
    """Where the metric was measured, in epochs (0: before training)."""
    metric: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    """Training time of every epoch (evaluations not counted)."""


def plan_of(net: Net, options: StudyOptions) -> Plan:
    """The net's full or quick plan with the sizes and epochs the options give."""
    plan = net.quick if options.quick else net.full
    if net.unit == "characters":
        train, test = options.train_chars, options.test_chars
    else:
        train, test = options.train_size, options.test_size
    return Plan(
        plan.epochs if options.epochs is None else options.epochs,
        plan.train if train is None else train,
        plan.test if test is None else test,
    )


def train_run(task: Task, index: int, report: Callable[[Progress], None], show: bool) -> RunResult:
    """Trains one network in one configuration. The initial weights and the tile seeds come
    from torch's global generator seeded with ``options.seed``, the batch order from the
    problem's own generator: the same for every configuration."""
    options = task.options
    net = NETS[task.net]
    plan = plan_of(net, options)
    problem = net.problem(plan, options)
    torch.manual_seed(options.seed)
    configuration = CONFIGURATIONS[task.config]
    model = convert_to_analog(
        problem.digital(), training.compensation_config(configuration.measures)
    )
    optimizer = AnalogSGD(model.parameters(), lr=net.lr)
    if configuration.remap_every is not None:
        remapper = WeightRemapper(model, configuration.remap_every)
        optimizer.register_step_post_hook(lambda *_: remapper.step())
    result = RunResult(task.net, task.config)

    def evaluate(epoch: float) -> None:
        result.epochs.append(epoch)
        result.metric.append(problem.evaluate(model))
        report(Progress(index, epoch, result.metric[-1]))

    evaluate(0.0)
    for epoch in range(plan.epochs):
        chunks = problem.epoch_chunks(options.evals_per_epoch)
        seconds = 0.0
        for k, chunk in enumerate(chunks, start=1):
            seconds += problem.train(model, optimizer, chunk, show)
            evaluate(epoch + k / len(chunks))
        result.seconds.append(seconds)
    return result


_events: Any = None
"""A worker's queue to the parent (set by :func:`_start_worker`)."""


def _start_worker(events: Any) -> None:
    global _events
    _events = events
    torch.set_num_threads(1)
    rpusim.set_num_threads(1)


def _train_in_worker(task: Task, index: int) -> RunResult:
    return train_run(task, index, _events.put, show=False)


# --- the study ------------------------------------------------------------------------------


def run_all(tasks: Sequence[Task], jobs: int) -> list[RunResult]:
    """Trains every task, in this process (``jobs == 1``, with a bar per part of an epoch) or
    in ``jobs`` processes, with one bar over all evaluations and a line per epoch."""
    total = sum(plan_of(NETS[t.net], t.options).epochs * t.options.evals_per_epoch for t in tasks)
    bar = tqdm(total=total, desc="study", unit="eval", disable=None, dynamic_ncols=True)

    def on_progress(p: Progress) -> None:
        task = tasks[p.task]
        if p.epoch > 0:
            bar.update(1)
        bar.set_postfix_str(f"{task.net} {task.config} {p.epoch:.2f}: {p.metric:.2f}")
        if p.epoch == round(p.epoch):
            net = NETS[task.net]
            tqdm.write(
                f"{task.net:5s} {task.config:8s} epoch {p.epoch:.0f}: {net.metric} {p.metric:.2f}"
            )
            sys.stdout.flush()

    results: list[RunResult | None] = [None] * len(tasks)
    if jobs == 1:
        for i, task in enumerate(tasks):
            results[i] = train_run(task, i, on_progress, show=True)
    else:
        context = multiprocessing.get_context("spawn")
        events = context.Queue()
        with ProcessPoolExecutor(
            jobs, mp_context=context, initializer=_start_worker, initargs=(events,)
        ) as pool:
            pending: dict[Future[RunResult], int] = {
                pool.submit(_train_in_worker, task, i): i for i, task in enumerate(tasks)
            }
            try:
                while pending:
                    try:
                        on_progress(events.get(timeout=0.5))
                        continue
                    except queue.Empty:
                        pass
                    for future in [f for f in pending if f.done()]:
                        results[pending.pop(future)] = future.result()
            except BaseException:  # a failed run or Ctrl-C: do not start the others
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            while True:
                try:
                    on_progress(events.get(timeout=0.5))
                except queue.Empty:
                    break
    bar.close()
    return [r for r in results if r is not None]


def title_of(net: Net, options: StudyOptions) -> str:
    """The network's title, naming the text the LSTM reads when ``--text`` gives one."""
    if net.key == "lstm" and options.text is not None:
        return net.title.replace("War and Peace", options.text.name)
    return net.title


def table(results: Sequence[RunResult], options: StudyOptions) -> str:
    """The markdown table: a row per configuration, the final metric and the mean training
    time per epoch of every network."""
    nets = [NETS[n] for n in options.nets]
    by_key = {(r.net, r.config): r for r in results}
    header = ["configuration"]
    for net in nets:
        header += [f"{title_of(net, options)}: {net.metric}", "s/epoch"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" + "---:|" * (len(header) - 1)]
    for key in options.configs:
        cells = [CONFIGURATIONS[key].label]
        for net in nets:
            r = by_key[(net.key, key)]
            cells += [f"{r.metric[-1]:.2f}", f"{np.mean(r.seconds):.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def describe(options: StudyOptions) -> str:
    """The settings of a study, one line per network."""
    lines = []
    for key in options.nets:
        net = NETS[key]
        plan = plan_of(net, options)
        train, test = ("all" if n is None else n for n in (plan.train, plan.test))
        lines.append(
            f"- {title_of(net, options)}: {train} training / {test} test {net.unit}, "
            f"{plan.epochs} "
            f"epoch(s), lr {net.lr}, seed {options.seed}, {options.evals_per_epoch} "
            "evaluations per epoch"
        )
    return "\n".join(lines)


def plot(results: Sequence[RunResult], options: StudyOptions, path: Path) -> None:
    """Learning curves: one panel per network, the test metric against epochs (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    def plain(value: float, _: int) -> str:
        return f"{value:g}"

    def minor(digits: str) -> FuncFormatter:
        """Labels the minor ticks whose leading digit is one of ``digits``."""
        return FuncFormatter(lambda value, _: f"{value:g}" if f"{value:e}"[0] in digits else "")

    by_key = {(r.net, r.config): r for r in results}
    palette = plt.get_cmap("tab10").colors
    nets = [NETS[n] for n in options.nets]
    figure, axes = plt.subplots(1, len(nets), figsize=(5.5 * len(nets), 4.8), squeeze=False)
    for axis, net in zip(axes[0], nets):
        for key in options.configs:
            r = by_key[(net.key, key)]
            color = palette[list(CONFIGURATIONS).index(key) % len(palette)]
            style = ("black", "--") if key == "float" else (color, "-")
            label = CONFIGURATIONS[key].label
            axis.plot(r.epochs, r.metric, color=style[0], linestyle=style[1], label=label)
        axis.set_yscale("log")
        low, high = axis.get_ylim()
        axis.yaxis.set_major_formatter(FuncFormatter(plain))
        axis.yaxis.set_minor_formatter(minor("23456789" if high / low < 20 else "235"))
        axis.set_xlabel("epoch")
        axis.set_ylabel(net.metric)
        axis.set_title(title_of(net, options))
        axis.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=4, fontsize="small")
    figure.tight_layout(rect=(0, 0.12, 1, 1))
    figure.savefig(path, dpi=120)
    plt.close(figure)


@dataclass(frozen=True)
class StudyOutput:
    results: list[RunResult]
    table: str
    wall_seconds: float


def run_study(options: StudyOptions) -> StudyOutput:
    """Runs every network in every configuration, writes table.md, learning_curves.png and
    results.json to ``options.out_dir`` and returns the results."""
    unknown = [n for n in options.nets if n not in NETS] + [
        c for c in options.configs if c not in CONFIGURATIONS
    ]
    if unknown:
        raise ValueError(f"unknown networks or configurations: {unknown}")
    start = time.perf_counter()
    # The longest runs first, so that parallel jobs end together: networks in NETS order, and
    # weight scaling first (it raises the pulses per update: up to 31 per device and sample
    # without pulse-length management).
    configs = sorted(options.configs, key=lambda c: "WS" not in (CONFIGURATIONS[c].measures or ()))
    tasks = [
        Task(net, config, options) for net in NETS if net in options.nets for config in configs
    ]
    results = run_all(tasks, options.jobs)
    wall = time.perf_counter() - start
    text = table(results, options)
    options.out_dir.mkdir(parents=True, exist_ok=True)
    (options.out_dir / "table.md").write_text(
        f"{describe(options)}\n\n{text}\n\nWall time {wall / 60:.1f} min with {options.jobs} "
        f"job(s).\n"
    )
    plot(results, options, options.out_dir / "learning_curves.png")
    document = {
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(options).items()},
        "wall_seconds": wall,
        "runs": [asdict(r) for r in results],
    }
    (options.out_dir / "results.json").write_text(json.dumps(document, indent=1))
    return StudyOutput(results, text, wall)


def plan_defaults(field_name: str, unit: str | None = None) -> str:
    """What a --quick or full plan sets for one option, for its help text."""

    def listing(quick: bool) -> str:
        values = {
            n.key: getattr(n.quick if quick else n.full, field_name)
            for n in NETS.values()
            if unit in (None, n.unit)
        }
        if len(set(values.values())) == 1:
            (value,) = set(values.values())
            return "all" if value is None else str(value)
        return ", ".join(f"{k} {'all' if v is None else v}" for k, v in values.items())

    return f"(unset: {listing(False)}; with --quick: {listing(True)})"


def parse_options(argv: Sequence[str] | None = None) -> StudyOptions:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="1 epoch (VGG-8: 2) on subsets of the data, a few minutes",
    )
    parser.add_argument(
        "--nets",
        default=",".join(DEFAULT_NETS),
        help=f"comma-separated, of {', '.join(NETS)} (default: {', '.join(DEFAULT_NETS)})",
    )
    parser.add_argument(
        "--configs",
        default=",".join(CONFIGURATIONS),
        help=f"comma-separated, of {', '.join(CONFIGURATIONS)} (default: all)",
    )
    parser.add_argument(
        "--epochs", type=int, help="epochs of every network " + plan_defaults("epochs")
    )
    parser.add_argument(
        "--train-size",
        type=int,
        help="N training images (MNIST: the first N; CIFAR-10: a fixed random choice) "
        + plan_defaults("train", "images"),
    )
    parser.add_argument(
        "--test-size",
        type=int,
        help="N test images, chosen alike " + plan_defaults("test", "images"),
    )
    parser.add_argument(
        "--train-chars",
        type=int,
        help="first N training characters " + plan_defaults("train", "characters"),
    )
    parser.add_argument(
        "--test-chars",
        type=int,
        help="first N test characters " + plan_defaults("test", "characters"),
    )
    parser.add_argument(
        "--evals-per-epoch", type=int, default=4, help="test evaluations per epoch (default: 4)"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="directory holding mnist/, text/ and cifar10/ (unset: $RPUSIM_DATA, else "
        "../shared/datasets)",
    )
    parser.add_argument(
        "--text",
        type=Path,
        help="the LSTM's text file, UTF-8, gzipped or not (unset: War and Peace)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="runs in parallel processes, one engine and one torch thread each (default: 1)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="weights, devices and batch order (default: 0)"
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=OUT_DIR,
        help="where table, plot and results go (default: examples/out/compensation)",
    )
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.evals_per_epoch < 1:
        parser.error("--jobs and --evals-per-epoch must be >= 1")
    nets, configs = tuple(args.nets.split(",")), tuple(args.configs.split(","))
    for given, known in ((nets, NETS), (configs, CONFIGURATIONS)):
        unknown = [k for k in given if k not in known]
        if unknown:
            parser.error(f"unknown {unknown}; choose from {', '.join(known)}")
    return StudyOptions(
        nets=nets,
        configs=configs,
        quick=args.quick,
        epochs=args.epochs,
        train_size=args.train_size,
        test_size=args.test_size,
        train_chars=args.train_chars,
        test_chars=args.test_chars,
        evals_per_epoch=args.evals_per_epoch,
        data_dir=args.data_dir,
        text=args.text,
        jobs=args.jobs,
        seed=args.seed,
        out_dir=args.out_dir,
    )


def main() -> None:
    options = parse_options()
    torch.set_num_threads(1)  # see rpusim.training.setup
    rpusim.set_num_threads(1)
    print(
        f"compensation study: {len(options.nets)} network(s) x {len(options.configs)} "
        f"configuration(s), {options.jobs} job(s)\n{describe(options)}",
        flush=True,
    )
    output = run_study(options)
    print(f"\n{output.table}\n")
    print(
        f"summary: {len(output.results)} runs in {output.wall_seconds / 60:.1f} min wall with "
        f"{options.jobs} job(s); table.md, learning_curves.png and results.json in "
        f"{options.out_dir}"
    )


if __name__ == "__main__":
    main()

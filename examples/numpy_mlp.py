"""An MLP made of rpusim tiles, trained with numpy only (no torch).

Trains a tanh MLP on scikit-learn's bundled handwritten digits (8x8 images, 64 inputs scaled
to [0, 1], 10 classes, a fixed stratified split of 1347 training and 450 test images) with the
periphery of Rasch, Gokmen & Haensch (2019) -- 7-bit DAC, 9-bit ADC, output noise 0.06, output
bound 12 -- and a constant-step device (1200 states, 30 % device-to-device and cycle-to-cycle
variation). For each of several seeds (--seeds, default 5) it compares, on the same initial
weights, the same devices and the same mini-batches:

* a float numpy reference (same architecture, exact SGD),
* the analog network with the compensation measures off (no noise, bound or update management),
* each measure alone, and
* all measures on (abs-max noise management, iterative bound management, update management with
  pulse-length management: the default RPUConfig).

Each layer is one tile: tile.forward(x) is W x, tile.backward(d) is W^T d (the input gradient the
layer below needs), tile.update(x, d, lr) applies W -= lr d x^T by stochastic pulses. Biases are
digital numpy vectors trained by float SGD. It prints the mean test accuracy over the seeds after
every epoch and a final table. Run `python examples/numpy_mlp.py --help` for the options.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
import rpusim
from rpusim import AnalogTile, IOParameters, RPUConfig, UpdateParameters
from rpusim.data import load_digits
from rpusim.devices import ConstantStep


@dataclass
class Measures:
    """The compensation measures of one analog run (MODEL.md section 3)."""

    nm: bool = False  # noise management abs_max, forward and backward
    bm: bool = False  # iterative bound management, forward
    um: bool = False  # update management
    ublm: bool = False  # update pulse-length management (implies UM)


@dataclass
class Setting:
    key: str  # short name for the progress lines
    label: str  # description for the summary table
    measures: Measures | None = None  # None: the float reference


def settings() -> list[Setting]:
    return [
        Setting("float", "float numpy reference (exact SGD)"),
        Setting("off", "analog, all measures off", Measures()),
        Setting("NM", "analog, noise management only", Measures(nm=True)),
        Setting("BM", "analog, bound management only", Measures(bm=True)),
        Setting("UM", "analog, update management only", Measures(um=True)),
        Setting("UM+BL", "analog, update + pulse-length mgmt only", Measures(um=True, ublm=True)),
        Setting(
            "all",
            "analog, all measures on (NM, BM, UM+UBLM)",
            Measures(nm=True, bm=True, um=True, ublm=True),
        ),
    ]


def rpu_config(m: Measures, device: ConstantStep) -> RPUConfig:
    """The paper's periphery (the IOParameters defaults) with the chosen measures on or off."""
    nm = "abs_max" if m.nm else "none"
    return RPUConfig(
        device=device,
        forward=IOParameters(noise_management=nm, bound_management="iterative" if m.bm else "none"),
        backward=IOParameters(noise_management=nm, bound_management="none"),
        update=UpdateParameters(update_management=m.um, update_bl_management=m.ublm),
    )


class FloatLayer:
    """y = W x + b in float32 numpy, exact SGD."""

    def __init__(self, w: np.ndarray):
        self.w = w.copy()
        self.b = np.zeros(w.shape[0], np.float32)

    def forward(self, x: np.ndarray, is_test: bool = False) -> np.ndarray:
        return x @ self.w.T + self.b

    def backward(self, d: np.ndarray) -> np.ndarray:
        return d @ self.w

    def update(self, x: np.ndarray, d: np.ndarray, lr: float) -> None:
        self.w -= lr * (d.T @ x)
        self.b -= lr * d.sum(axis=0)


class AnalogLayer:
    """y = W x + b with W on an rpusim tile and a digital float bias b."""

    def __init__(self, w: np.ndarray, config: RPUConfig, seed: int):
        self.tile = AnalogTile(w.shape[0], w.shape[1], rpu_config=config, seed=seed)
        self.tile.set_weights(w)
        self.b = np.zeros(w.shape[0], np.float32)

    def forward(self, x: np.ndarray, is_test: bool = False) -> np.ndarray:
        return self.tile.forward(x, is_test=is_test) + self.b

    def backward(self, d: np.ndarray) -> np.ndarray:
        return self.tile.backward(d)

    def update(self, x: np.ndarray, d: np.ndarray, lr: float) -> None:
        self.tile.update(x, d, lr)
        self.b -= lr * d.sum(axis=0)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


# Hidden activations and their derivatives written in terms of the activation a.
ACTIVATIONS = {
    "sigmoid": (sigmoid, lambda a: a * (1.0 - a)),
    "tanh": (lambda z: np.tanh(z).astype(np.float32), lambda a: 1.0 - a * a),
}


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class MLP:
    def __init__(self, layers: list, activation: str):
        self.layers = layers
        self.act, self.act_grad = ACTIVATIONS[activation]

    def logits(self, x: np.ndarray, is_test: bool = False) -> tuple[np.ndarray, list[np.ndarray]]:
        """Output logits and the input of every layer."""
        inputs = []
        a = x
        for i, layer in enumerate(self.layers):
            inputs.append(a)
            z = layer.forward(a, is_test=is_test)
            a = self.act(z) if i < len(self.layers) - 1 else z
        return a, inputs

    def train_step(self, x: np.ndarray, y: np.ndarray, lr: float) -> float:
        """One SGD step on the mean softmax cross-entropy of the batch; returns the loss.

        As in an autograd framework, the whole backward pass runs first (on the weights the
        forward pass saw), then every layer updates.
        """
        z, inputs = self.logits(x)
        p = softmax(z)
        rows = np.arange(len(y))
        loss = float(-np.log(np.maximum(p[rows, y], 1e-12)).mean())
        d = p
        d[rows, y] -= 1.0
        d = (d / len(y)).astype(np.float32)
        grads = []
        for i in range(len(self.layers) - 1, -1, -1):
            grads.append((i, d))
            if i > 0:
                a = inputs[i]
                d = (self.layers[i].backward(d) * self.act_grad(a)).astype(np.float32)
        for i, d in grads:
            self.layers[i].update(inputs[i], d, lr)
        return loss

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        z, _ = self.logits(x, is_test=True)
        return float((z.argmax(axis=1) == y).mean())


def build(setting: Setting, seed: int, sizes: list[int], device: ConstantStep, act: str) -> MLP:
    """The network of one configuration. The initial weights depend on the seed only, and every
    analog configuration uses the same tile seeds, hence the same devices (d2d draws)."""
    rng = np.random.default_rng(seed)
    init = [
        rng.uniform(-1, 1, (n_out, n_in)).astype(np.float32) / np.float32(np.sqrt(n_in))
        for n_in, n_out in zip(sizes[:-1], sizes[1:])
    ]
    if setting.measures is None:
        return MLP([FloatLayer(w) for w in init], act)
    cfg = rpu_config(setting.measures, device)
    return MLP([AnalogLayer(w, cfg, seed=1000 * seed + i) for i, w in enumerate(init)], act)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--epochs", type=int, default=15, help="training epochs")
    parser.add_argument(
        "--seed", type=int, default=0, help="first seed (initial weights, devices, batch order)"
    )
    parser.add_argument(
        "--seeds", type=int, default=5, help="independent runs per configuration: seed, seed+1, ..."
    )
    parser.add_argument("--threads", type=int, default=0, help="engine threads (0: default)")
    parser.add_argument("--batch-size", type=int, default=10, help="mini-batch size")
    parser.add_argument("--lr", type=float, default=0.1, help="learning rate")
    parser.add_argument(
        "--hidden", type=int, nargs="+", default=[64, 32], help="hidden layer sizes"
    )
    parser.add_argument(
        "--activation", choices=sorted(ACTIVATIONS), default="tanh", help="hidden activation"
    )
    args = parser.parse_args()
    if args.threads > 0:
        rpusim.set_num_threads(args.threads)

    digits = load_digits()
    x_tr, y_tr = digits.train_images.reshape(-1, 64), digits.train_labels
    x_te, y_te = digits.test_images.reshape(-1, 64), digits.test_labels
    sizes = [x_tr.shape[1], *args.hidden, 10]
    seeds = list(range(args.seed, args.seed + args.seeds))
    device = ConstantStep(dw_min=0.001, w_max=0.6, w_min=-0.6)
    print(
        f"digits: {len(x_tr)} train / {len(x_te)} test images; MLP {'-'.join(map(str, sizes))} "
        f"({args.activation}, softmax); batch {args.batch_size}, lr {args.lr}, "
        f"{args.epochs} epochs; {rpusim.get_num_threads()} engine threads"
    )
    print(
        f"device: constant step, dw_min {device.dw_min}, bounds [{device.w_min}, "
        f"{device.w_max}], d2d {device.dw_min_dtod:.0%}, c2c {device.dw_min_std:.0%}; periphery: "
        "7-bit DAC, 9-bit ADC, out_noise 0.06, out_bound 12"
    )

    runs = settings()
    # models[r][k]: configuration r, seed seeds[k]; acc[r][k]: its test accuracy per epoch.
    models = [[build(s, seed, sizes, device, args.activation) for seed in seeds] for s in runs]
    acc: list[list[list[float]]] = [[[] for _ in seeds] for _ in runs]
    seconds = [0.0 for _ in runs]

    print(f"\ntest accuracy (%) after each epoch, mean over seeds {seeds[0]}..{seeds[-1]}")
    print("epoch " + "".join(f"{s.key:>8}" for s in runs) + "     time")
    n = len(x_tr)
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        for k, seed in enumerate(seeds):
            order = np.random.default_rng([seed, epoch]).permutation(n)
            for r in range(len(runs)):
                t1 = time.perf_counter()
                model = models[r][k]
                for start in range(0, n, args.batch_size):
                    idx = order[start : start + args.batch_size]
                    model.train_step(x_tr[idx], y_tr[idx], args.lr)
                acc[r][k].append(model.accuracy(x_te, y_te))
                seconds[r] += time.perf_counter() - t1
        cols = "".join(f"{100 * np.mean([a[-1] for a in acc[r]]):8.1f}" for r in range(len(runs)))
        print(f"{epoch:5d} {cols} {time.perf_counter() - t0:7.1f}s", flush=True)

    print(f"\nsummary: test accuracy (%) after the last epoch, {len(seeds)} seeds")
    print(f"  {'configuration':<46} {'mean':>5} {'std':>5} {'min':>5} {'max':>5} {'time':>7}")
    for r, s in enumerate(runs):
        final = 100 * np.array([a[-1] for a in acc[r]])
        print(
            f"  {s.label:<46} {final.mean():5.1f} {final.std():5.1f} {final.min():5.1f} "
            f"{final.max():5.1f} {seconds[r]:6.1f}s"
        )
    # Bound management only acts when a forward output saturates; if it never did, its runs are
    # bit-identical to the runs without any measure (same devices, same random streams).
    keys = [s.key for s in runs]
    bm, off = models[keys.index("BM")], models[keys.index("off")]
    if all(
        np.array_equal(a.tile.get_weights(), b.tile.get_weights())
        for mb, mo in zip(bm, off)
        for a, b in zip(mb.layers, mo.layers)
    ):
        print(
            "  note: 'bound management only' ended bit-identical to 'all measures off':\n"
            "        no forward output reached out_bound 12, so BM never acted in this network."
        )


if __name__ == "__main__":
    main()

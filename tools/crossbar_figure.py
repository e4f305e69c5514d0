"""Draws docs/crossbar.svg: an RPU crossbar, its periphery, and the stochastic pulsed update.

Panel (a) is one tile: a device at every cross-point of a column (input j) and a row (output i),
DACs where the inputs enter and ADCs where the sums are read; the forward pass puts x on the
columns and reads y = W x on the rows, the backward pass puts d on the rows and reads z = Wᵀ d
on the columns (MODEL.md sections 1 and 2). Panel (b) is the update (sections 3.3 and 4): every
column and every row gets a train of BL stochastic pulses, and a device moves by one step of
±dw_min for every slot in which the pulses of its row and its column coincide.

The drawing is plain SVG written by hand (no plotting library), so the figure is text that a
diff can read:

    python3 tools/crossbar_figure.py            # writes docs/crossbar.svg
    python3 tools/crossbar_figure.py --check    # fails if docs/crossbar.svg is not up to date
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "docs" / "crossbar.svg"

WIDTH, HEIGHT = 980, 670
FORWARD = "#1f5fbf"  # x in, y out
BACKWARD = "#d9730d"  # d in, z out
PULSE = "#2e8b57"  # pulse trains and coincidences
INK = "#222222"
WIRE = "#8a8a8a"
MINUS, TIMES = "&#8722;", "&#215;"  # written as entities: the source stays ASCII-unambiguous

# Panel (a): the crossbar of 4 outputs (rows) x 5 inputs (columns).
ROWS, COLS = 4, 5
GRID_X, GRID_Y, PITCH = 130, 140, 58
# Weights of the drawn devices (the shade of each), fixed so that the figure does not change.
WEIGHTS = [
    [0.4, -0.7, 0.1, 0.9, -0.2],
    [-0.5, 0.3, 0.8, -0.1, 0.6],
    [0.2, -0.9, -0.3, 0.5, 0.0],
    [0.7, 0.1, -0.6, -0.4, 0.3],
]
HIGHLIGHT = (1, 2)  # the device (i, j) whose update panel (b) shows

# Panel (b): the pulse trains of BL = 8 slots; row i's d_i < 0 and column j's x_j > 0, so the
# device moves up (direction -sign(d_i) sign(x_j) = +1) at every coincidence.
BL = 8
TRAIN_X = [1, 1, 0, 1, 1, 1, 0, 1]  # column j, p_x = 0.75
TRAIN_D = [0, 1, 1, 0, 1, 0, 0, 1]  # row i, p_d = 0.5


def _text(x: float, y: float, s: str, size: int = 13, color: str = INK, **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    return f'<text x="{x}" y="{y}" font-size="{size}" fill="{color}"{extra}>{s}</text>'


def _line(
    x1: float, y1: float, x2: float, y2: float, color: str, width: float = 1.5, **attrs: str
) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    return (
        f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{color}" '
        f'stroke-width="{width}"{extra}/>'
    )


def _box(x: float, y: float, w: float, h: float, label: str, color: str) -> str:
    return (
        f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="3" fill="white" stroke="{color}" '
        f'stroke-width="1.5"/>'
        + _text(x + w / 2, y + h / 2 + 4, label, 11, color, text_anchor="middle")
    )


def _arrow(x1: float, y1: float, x2: float, y2: float, color: str, dashed: bool = False) -> str:
    marker = "fwd" if color == FORWARD else "bwd"
    dash = {"stroke_dasharray": "5 3"} if dashed else {}
    return _line(x1, y1, x2, y2, color, 1.6, marker_end=f"url(#{marker})", **dash)


def _shade(w: float) -> str:
    """A device's fill: grey, darker for a larger |w| (its conductance pair's difference)."""
    level = int(235 - 150 * abs(w))
    return f"rgb({level},{level},{level})"


def _device(cx: float, cy: float, w: float, highlight: bool) -> str:
    """A resistive device at a cross-point: a small rotated resistor body between the wires."""
    stroke = PULSE if highlight else INK
    width = 2.5 if highlight else 1
    return (
        f'<rect x="{cx - 9}" y="{cy - 4}" width="18" height="8" rx="2" fill="{_shade(w)}" '
        f'stroke="{stroke}" stroke-width="{width}" transform="rotate(-45 {cx} {cy})"/>'
    )


def _crossbar() -> list[str]:
    col_x = [GRID_X + PITCH * j for j in range(COLS)]
    row_y = [GRID_Y + PITCH * i for i in range(ROWS)]
    top, bottom = row_y[0] - 30, row_y[-1] + 30
    left, right = col_x[0] - 30, col_x[-1] + 30
    out = [
        _text(
            20, 28, "(a) one tile: y = W x forward, z = Wᵀ d backward", 15, INK, font_weight="bold"
        )
    ]
    for j, x in enumerate(col_x):  # columns: inputs x_j (forward), outputs z_j (backward)
        out.append(_line(x, top, x, bottom, WIRE))
        out.append(_box(x - 18, top - 34, 36, 22, "DAC", FORWARD))
        out.append(_arrow(x, top - 62, x, top - 36, FORWARD))
        out.append(
            _text(
                x,
                top - 67,
                f"x<tspan baseline-shift='sub' font-size='9'>{j + 1}</tspan>",
                13,
                FORWARD,
                text_anchor="middle",
            )
        )
        out.append(_box(x - 18, bottom + 12, 36, 22, "ADC", BACKWARD))
        out.append(_line(x, bottom, x, bottom + 12, WIRE))
        out.append(_arrow(x, bottom + 36, x, bottom + 58, BACKWARD, dashed=True))
        out.append(
            _text(
                x,
                bottom + 74,
                f"z<tspan baseline-shift='sub' font-size='9'>{j + 1}</tspan>",
                13,
                BACKWARD,
                text_anchor="middle",
            )
        )
    for i, y in enumerate(row_y):  # rows: outputs y_i (forward), inputs d_i (backward)
        out.append(_line(left, y, right, y, WIRE))
        out.append(_box(right + 12, y - 11, 36, 22, "ADC", FORWARD))
        out.append(_line(right, y, right + 12, y, WIRE))
        out.append(_arrow(right + 50, y, right + 74, y, FORWARD))
        out.append(
            _text(
                right + 80,
                y + 4,
                f"y<tspan baseline-shift='sub' font-size='9'>{i + 1}</tspan>",
                13,
                FORWARD,
            )
        )
        out.append(_box(left - 48, y - 11, 36, 22, "DAC", BACKWARD))
        out.append(_line(left - 12, y, left, y, WIRE))
        out.append(_arrow(left - 80, y, left - 52, y, BACKWARD, dashed=True))
        out.append(
            _text(
                left - 84,
                y + 4,
                f"d<tspan baseline-shift='sub' font-size='9'>{i + 1}</tspan>",
                13,
                BACKWARD,
                text_anchor="end",
            )
        )
    for i, y in enumerate(row_y):
        for j, x in enumerate(col_x):
            out.append(_device(x, y, WEIGHTS[i][j], (i, j) == HIGHLIGHT))
    hi, hj = HIGHLIGHT
    out.append(
        _text(
            col_x[hj] + 10,
            row_y[hi] - 12,
            "w<tspan baseline-shift='sub' font-size='9'>ij</tspan>",
            12,
            PULSE,
            font_weight="bold",
        )
    )
    y0 = bottom + 104
    notes = [
        (FORWARD, "forward y = W x: x enters the columns through the DACs;"),
        (FORWARD, "each row sums the currents of its devices; the ADCs read y"),
        (BACKWARD, "backward z = Wᵀ d: d enters the rows; the columns are read"),
        (INK, "Both passes: noise management scales the inputs to the DAC"),
        (INK, "range, the DAC quantises them, output noise is added, the ADC"),
        (INK, "quantises and clips at out_bound (bound management repeats"),
        (INK, "a saturated forward pass with halved inputs)."),
    ]
    for k, (color, s) in enumerate(notes):
        out.append(_text(20, y0 + 18 * k, s, 13, color))
    return out


def _train(
    x0: float,
    y0: float,
    bits: list[int],
    slot: float,
    height: float,
    color: str,
    vertical: bool = False,
) -> str:
    """A pulse train as a polyline: a pulse of height ``height`` in every slot whose bit is 1."""
    points = []
    for k, bit in enumerate(bits):
        a, b = k * slot + slot * 0.15, k * slot + slot * 0.85
        level = height if bit else 0
        for t, h in ((k * slot, 0), (a, 0), (a, level), (b, level), (b, 0)):
            points.append((x0 + h, y0 + t) if vertical else (x0 + t, y0 - h))
    end = len(bits) * slot
    points.append((x0, y0 + end) if vertical else (x0 + end, y0))
    path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
    return f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.6"/>'


def _update() -> list[str]:
    x_left = 520
    title = f"(b) the pulsed update: W ← W {MINUS} lr d xᵀ"
    out = [_text(x_left, 28, title, 15, INK, font_weight="bold")]
    # A small crossbar of 3 x 3 with a train on every column (top) and every row (left).
    col_x = [730, 800, 870]
    row_y = [150, 210, 270]
    trains_x = [[0, 1, 0, 0, 1, 0, 0, 0], TRAIN_X, [1, 0, 0, 1, 0, 0, 1, 0]]
    trains_d = [[1, 0, 0, 1, 0, 0, 0, 1], TRAIN_D, [0, 0, 1, 0, 0, 0, 1, 0]]
    for x, bits in zip(col_x, trains_x):
        out.append(_line(x, 120, x, 295, WIRE))
        out.append(_train(x - 6, 48, bits, 8, 12, PULSE, vertical=True))
    for y, bits in zip(row_y, trains_d):
        out.append(_line(700, y, 895, y, WIRE))
        out.append(_train(610, y, bits, 10, 12, PULSE))
    for i, y in enumerate(row_y):
        for j, x in enumerate(col_x):
            out.append(_device(x, y, WEIGHTS[i][j], (i, j) == (1, 1)))
    out.append(_text(x_left, 100, "column trains:", 12, PULSE))
    out.append(_text(x_left, 116, "p_x[j] = min(1, B |x_j|)", 12, PULSE, font_family="monospace"))
    out.append(_text(x_left, 300, "row trains:", 12, PULSE))
    out.append(_text(x_left, 316, "p_d[i] = min(1, A |d_i|)", 12, PULSE, font_family="monospace"))
    out.append(_text(col_x[1] + 12, row_y[1] - 12, "(i, j)", 12, PULSE, font_weight="bold"))

    # The timing diagram of device (i, j): its column's train, its row's, their coincidences,
    # and the weight, which moves by dw_min at every coincidence.
    slot, t0 = 40, 640
    rows = [
        ("column j (x_j &gt; 0)", TRAIN_X, FORWARD, 370),
        ("row i (d_i &lt; 0)", TRAIN_D, BACKWARD, 420),
        ("coincidences", [a & b for a, b in zip(TRAIN_X, TRAIN_D)], PULSE, 470),
    ]
    for label, bits, color, y in rows:
        out.append(_text(x_left, y - 3, label, 12, color))
        out.append(_train(t0, y, bits, slot, 22, color))
    for k in range(BL + 1):
        out.append(_line(t0 + k * slot, 345, t0 + k * slot, 560, "#dddddd", 1))
    out.append(_text(t0 + BL * slot / 2, 342, f"BL = {BL} slots", 11, INK, text_anchor="middle"))
    # The weight: a staircase, one step of dw_min at each coincidence.
    base, step = 560, 14
    level = 0
    points: list[tuple[float, float]] = [(t0, base)]
    for k, (a, b) in enumerate(zip(TRAIN_X, TRAIN_D)):
        if a & b:
            edge = t0 + k * slot + slot * 0.85
            points += [(edge, base - step * level), (edge, base - step * (level + 1))]
            level += 1
    points.append((t0 + BL * slot, base - step * level))
    path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
    out.append(f'<polyline points="{path}" fill="none" stroke="{INK}" stroke-width="2"/>')
    out.append(_text(x_left, 545, "weight w_ij", 12, INK))
    out.append(_text(x_left, 561, f"+{level} {TIMES} dw_min", 12, PULSE, font_weight="bold"))
    notes = [
        "n_ij = popcount(column train AND row train) pulses; each moves w_ij",
        "by one device step ≈ dw_min (with cycle-to-cycle noise), in direction",
        f"{MINUS}sign(d_i)·sign(x_j), and clips it to the device's bounds.",
        "A·B = lr / (dw_min·BL): the mean change E[n_ij]·dw_min is lr |d_i x_j|.",
    ]
    for k, s in enumerate(notes):
        out.append(_text(x_left, 592 + 17 * k, s, 12, INK))
    return out


def svg() -> str:
    markers = "".join(
        f'<marker id="{name}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        f'fill="{color}"/></marker>'
        for name, color in (("fwd", FORWARD), ("bwd", BACKWARD))
    )
    body = "\n".join([*_crossbar(), *_update()])
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="Helvetica, Arial, sans-serif">\n'
        f"<title>An RPU crossbar tile and its stochastic pulsed update</title>\n"
        f'<defs>{markers}</defs>\n<rect width="100%" height="100%" fill="white"/>\n'
        f"{_line(500, 10, 500, HEIGHT - 10, '#cccccc', 1)}\n{body}\n</svg>\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is not current")
    args = parser.parse_args()
    text = svg()
    if args.check:
        if not OUT.exists() or OUT.read_text() != text:
            sys.exit(f"{OUT} is not what {Path(__file__).name} draws: run it")
        return
    OUT.write_text(text)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

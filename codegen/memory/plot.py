"""A PNG of activation memory per layer: per-layer execution against the chosen schedule (MCUNetV2, Fig. 1)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

from codegen.kernels.base import KernelCall
from codegen.memory.planner import MemoryPlan

WIDTH, HEIGHT = 960, 420
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 70, 20, 40, 50
PER_LAYER_COLOUR = (200, 80, 60)
SCHEDULE_COLOUR = (40, 110, 200)


def layer_profile(calls: list[KernelCall], plan: MemoryPlan) -> list[tuple[int, int]]:
    """(operator index, peak live bytes while that operator's calls run), in execution order."""
    peaks: dict[int, int] = {}
    for pos, call in enumerate(calls):
        peaks[call.op_index] = max(peaks.get(call.op_index, 0), plan.live_bytes[pos])
    return list(peaks.items())


def write_memory_plot(path: Path, per_layer: list[tuple[int, int]], schedule: list[tuple[int, int]],
                      title: str, schedule_label: str) -> None:
    """Bars: per-layer execution; line: the schedule. Operators are matched by their TFLite index."""
    ops = [op for op, _ in per_layer]
    sched = dict(schedule)
    top = max([b for _, b in per_layer] + [b for _, b in schedule] + [1])
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def y_of(value: int) -> float:
        return MARGIN_TOP + plot_h * (1 - value / top)

    draw.text((MARGIN_LEFT, 10), title, fill="black")
    for i in range(5):  # y grid in kB
        value = top * i / 4
        y = y_of(int(value))
        draw.line([(MARGIN_LEFT, y), (WIDTH - MARGIN_RIGHT, y)], fill=(225, 225, 225))
        draw.text((5, y - 6), f"{value / 1024:.0f} kB", fill="black")
    step = plot_w / max(len(ops), 1)
    points = []
    for i, (op, live) in enumerate(per_layer):
        x0 = MARGIN_LEFT + i * step
        draw.rectangle([x0 + 1, y_of(live), x0 + max(step - 1, 2), y_of(0)], fill=PER_LAYER_COLOUR)
        if op in sched:
            points.append((x0 + step / 2, y_of(sched[op])))
    if len(points) > 1:
        draw.line(points, fill=SCHEDULE_COLOUR, width=3)
    for p in points:
        draw.ellipse([p[0] - 3, p[1] - 3, p[0] + 3, p[1] + 3], fill=SCHEDULE_COLOUR)
    draw.text((MARGIN_LEFT, HEIGHT - 35), "layers (execution order)", fill="black")
    draw.rectangle([WIDTH - 330, HEIGHT - 38, WIDTH - 320, HEIGHT - 28], fill=PER_LAYER_COLOUR)
    draw.text((WIDTH - 315, HEIGHT - 40), "per-layer", fill="black")
    draw.rectangle([WIDTH - 240, HEIGHT - 38, WIDTH - 230, HEIGHT - 28], fill=SCHEDULE_COLOUR)
    draw.text((WIDTH - 225, HEIGHT - 40), schedule_label[:34], fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")

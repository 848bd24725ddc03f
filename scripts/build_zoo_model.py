"""Write an int8 MobileNetV2 / MCUNet / ProxylessNAS network with random weights as a .tflite file.

MODEL is one of
  - a path to an mcunet-style JSON architecture file;
  - the name of a file in the config folder, with or without "_imagenet.json" (e.g. mcunet-320kb-1mb);
  - mbv2-w<W>-r<R> or mobilenet_v2-w<W>-r<R>: the standard MobileNetV2 layout with width W at resolution R,
    used when no config file of that name exists (the file wins: mbv2-w0.35-r144 is mcunet's variant);
  - mbv3s-a<A>-r<R> or mobilenet_v3_small-a<A>-r<R>: Keras's MobileNetV3Small layout (hard swish, squeeze-and-
    excite blocks, one in stage 1) with width multiplier A at resolution R.

Usage: python -m scripts.build_zoo_model MODEL [-o out.tflite] [--resolution R] [--seed S] [--summary]
       python -m scripts.build_zoo_model --list
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from codegen.frontend.model_zoo import mcunet_from_json, mobilenet_v2, mobilenet_v3_small
from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import Graph

CONFIG_DIR = Path(__file__).resolve().parents[2] / "shared" / "models" / "mcunet_configs"
_MBV2 = re.compile(r"(?:mbv2|mobilenet_v2)-w(\d+(?:\.\d+)?)-r(\d+)")
_MBV3S = re.compile(r"(?:mbv3s|mobilenet_v3_small)-a(\d+(?:\.\d+)?)-r(\d+)")


def config_path(model: str, config_dir: Path) -> Path | None:
    """The JSON file MODEL names, if any."""
    path = Path(model)
    if path.suffix == ".json":
        return path
    for candidate in (config_dir / f"{model}_imagenet.json", config_dir / f"{model}.json"):
        if candidate.is_file():
            return candidate
    return None


def build_model(
    model: str, resolution: int | None = None, seed: int = 0, config_dir: Path = CONFIG_DIR
) -> Graph:
    path = config_path(model, config_dir)
    if path is not None:
        return mcunet_from_json(path, resolution, seed)
    small = _MBV3S.fullmatch(model)
    if small is not None:
        return mobilenet_v3_small(float(small.group(1)), resolution or int(small.group(2)), seed=seed)
    match = _MBV2.fullmatch(model)
    if match is None:
        raise ValueError(f"unknown model {model!r}: not a JSON file, not in {config_dir}, not mbv2-w<W>-r<R>, "
                         "not mbv3s-a<A>-r<R>")
    return mobilenet_v2(float(match.group(1)), resolution or int(match.group(2)), seed=seed)


def summary(graph: Graph) -> str:
    from codegen.memory.planner import plan_memory
    from codegen.passes.lowering import lower_graph

    calls = lower_graph(graph)
    macs = sum(c.macs for c in calls)
    arena = plan_memory(graph, calls).arena_bytes
    weights = sum(t.nbytes for t in graph.tensors if t.is_const)
    return (f"{graph.name}: {len(graph.operators)} ops, {macs:,} MACs, {weights:,} weight bytes, "
            f"planned arena {arena:,} bytes")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", help="JSON path, config name, or mbv2-w<W>-r<R>")
    parser.add_argument("-o", "--output", type=Path, help="the .tflite to write (default: <name>.tflite)")
    parser.add_argument("--resolution", type=int, help="input resolution (default: from the config or name)")
    parser.add_argument("--seed", type=int, default=0, help="random weights seed")
    parser.add_argument("--config-dir", type=Path, default=CONFIG_DIR, help="folder of mcunet JSON files")
    parser.add_argument("--summary", action="store_true", help="print MACs and the planned arena")
    parser.add_argument("--list", action="store_true", help="list the config files and exit")
    args = parser.parse_args(argv)
    if args.list:
        for path in sorted(args.config_dir.glob("*.json")):
            print(path.stem.removesuffix("_imagenet"))
        return 0
    if args.model is None:
        parser.error("MODEL is required")
    try:
        graph = build_model(args.model, args.resolution, args.seed, args.config_dir)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    output = args.output or Path(f"{graph.name}.tflite")
    description = f"tinyml-codegen model zoo: {graph.name}, random weights"
    output.write_bytes(write_tflite(graph, description=description))
    print(f"wrote {output}")
    if args.summary:
        print(summary(graph))
    return 0


if __name__ == "__main__":
    sys.exit(main())

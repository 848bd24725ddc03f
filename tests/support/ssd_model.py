"""An SSD-like int8 detector as the TFLite converter emits one: a small backbone, two heads at different feature
map sizes (8x8 and 4x4), each with a box-regression and a class-score convolution whose outputs are RESHAPEd to
(1, anchors, k) and CONCATENATEd over the heads; the scores go through LOGISTIC; boxes and scores end in
DEQUANTIZE to float32. The graph outputs mix dtypes and shapes: boxes float32 (1, 160, 4), the raw class logits
int8 (1, 160, 3) (also consumed by LOGISTIC), scores float32 (1, 160, 3)."""

from __future__ import annotations

import numpy as np

from codegen.ir import Graph, Quantization
from tests.support.model_factory import GraphBuilder, f32, per_tensor

ANCHORS = 2
CLASSES = 3


def _conv(b: GraphBuilder, rng: np.random.Generator, x: int, cout: int, k: int, stride: int, out_q: Quantization,
          activation: str, name: str) -> int:
    n, h, w, cin = b.shape(x)
    xq = b.quant(x)
    w_scales = tuple(f32(s) for s in rng.uniform(0.004, 0.012, size=cout))
    filt = b.tensor(f"{name}_w", (cout, k, k, cin), "int8", Quantization(w_scales, (0,) * cout, 0),
                    rng.integers(-127, 128, size=(cout, k, k, cin)))
    bias = b.tensor(f"{name}_b", (cout,), "int32",
                    Quantization(tuple(f32(xq.scale[0] * s) for s in w_scales), (0,) * cout, 0),
                    rng.integers(-2000, 2000, size=cout))
    oh, ow = -(-h // stride), -(-w // stride)
    y = b.tensor(name, (n, oh, ow, cout), "int8", out_q)
    b.op("CONV_2D", (x, filt, bias), (y,), padding="SAME", stride_h=stride, stride_w=stride,
         dilation_h=1, dilation_w=1, activation=activation)
    return y


def ssd_graph(seed: int = 0) -> Graph:
    rng = np.random.default_rng(seed)
    b = GraphBuilder("ssd_heads")
    x = b.tensor("input", (1, 16, 16, 3), "int8", per_tensor(1 / 128, 0))
    f1 = _conv(b, rng, x, 8, 3, 2, per_tensor(0.05, -128), "RELU", "feat1")      # 8x8x8
    f2 = _conv(b, rng, f1, 8, 3, 2, per_tensor(0.05, -128), "RELU", "feat2")     # 4x4x8
    box_q, cls_q = per_tensor(0.04, 3), per_tensor(0.06, -5)
    boxes, logits = [], []
    for i, f in enumerate((f1, f2)):
        _, h, w, _ = b.shape(f)
        anchors = h * w * ANCHORS
        bx = _conv(b, rng, f, ANCHORS * 4, 1, 1, box_q, "NONE", f"box{i}")
        cl = _conv(b, rng, f, ANCHORS * CLASSES, 3, 1, cls_q, "NONE", f"cls{i}")
        br = b.tensor(f"box{i}_r", (1, anchors, 4), "int8", box_q)
        b.op("RESHAPE", (bx, b.const_i32(f"box{i}_shape", [1, anchors, 4])), (br,))
        cr = b.tensor(f"cls{i}_r", (1, anchors, CLASSES), "int8", cls_q)
        b.op("RESHAPE", (cl, b.const_i32(f"cls{i}_shape", [1, anchors, CLASSES])), (cr,))
        boxes.append(br)
        logits.append(cr)
    total = sum(b.shape(t)[1] for t in boxes)
    box_cat = b.tensor("boxes_q", (1, total, 4), "int8", box_q)
    b.op("CONCATENATION", tuple(boxes), (box_cat,), axis=1, activation="NONE")
    cls_cat = b.tensor("class_logits", (1, total, CLASSES), "int8", cls_q)
    b.op("CONCATENATION", tuple(logits), (cls_cat,), axis=1, activation="NONE")
    scores_q = b.tensor("scores_q", (1, total, CLASSES), "int8", per_tensor(1 / 256, -128))
    b.op("LOGISTIC", (cls_cat,), (scores_q,))
    box_f = b.tensor("boxes", (1, total, 4), "float32")
    b.op("DEQUANTIZE", (box_cat,), (box_f,))
    scores_f = b.tensor("scores", (1, total, CLASSES), "float32")
    b.op("DEQUANTIZE", (scores_q,), (scores_f,))
    return b.build((x,), (box_f, cls_cat, scores_f))


def ssd_input(seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, size=(1, 16, 16, 3)).astype(np.int8)

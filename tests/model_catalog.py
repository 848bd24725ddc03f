"""The real models of ../shared/models by tier (its README), with their golden vector files."""

from __future__ import annotations

# Tier A (int8 I/O) and B (float I/O around an int8 body): model -> vectors/<name>.npz files.
TIER_AB: dict[str, list[str]] = {
    "mlperf_vww_96_int8": ["mlperf_vww_96_int8"],
    "mlperf_ic_resnet8_int8": ["mlperf_ic_resnet8_int8"],
    "mlperf_ic_resnet_large_int8": ["mlperf_ic_resnet_large_int8"],
    "mlperf_ad01_int8": ["mlperf_ad01_int8"],
    "tflm_person_detect": [
        "tflm_person_detect",
        "tflm_person_detect__tflm_person",
        "tflm_person_detect__tflm_no_person",
    ],
    "tflm_hello_world_int8": ["tflm_hello_world_int8"],
    "tflm_micro_speech_quantized": ["tflm_micro_speech_quantized"],
    "tflm_network_tester_model": ["tflm_network_tester_model"],
    "tflm_simple_add_model": ["tflm_simple_add_model"],
    "tflm_test_conv_model": ["tflm_test_conv_model"],
    "tinyengine_mcunet_vww": ["tinyengine_mcunet_vww"],
    "tinyengine_mnist_lenet300_100": ["tinyengine_mnist_lenet300_100"],
}

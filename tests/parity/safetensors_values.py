"""The deterministic tensors both safetensors interop directions use (mirrors interop_tensors() in
tests/io/test_safetensors.cpp)."""
import torch


def interop_tensors():
    base = torch.arange(24, dtype=torch.float64).reshape(2, 3, 4) * 0.5 - 3.0
    return {
        "f64": base,
        "f32": base.float(),
        "f16": base.half(),
        "bf16": base.bfloat16(),
        "i64": torch.arange(-5, 5, dtype=torch.int64),
        "i32": torch.arange(-5, 5, dtype=torch.int32) * 1000,
        "bool": torch.arange(6) % 2 == 0,
        "u8": torch.arange(250, 256).to(torch.uint8),
        "scalar": torch.tensor(3.25),
        "empty": torch.zeros(0, 3),
    }

"""scripts/convert_f5tts_checkpoint.py writes the DiT options the weights cannot show into the
safetensors metadata, from the model's f5-tts YAML or from flags (CTest convert_f5tts_flags; the
C++ side that applies them is [f5tts][checkpoint]).

    python check_convert_f5tts.py <repo root> <scratch folder>
"""
import os
import subprocess
import sys

import torch
from safetensors import safe_open

root, scratch = sys.argv[1], sys.argv[2]
os.makedirs(scratch, exist_ok=True)
source = os.path.join(scratch, "model.pt")
torch.save({"ema_model_state_dict": {"ema_model.transformer.proj_out.weight": torch.zeros(2, 2), "step": torch.tensor(3)}}, source)
yaml_path = os.path.join(scratch, "model.yaml")
with open(yaml_path, "w") as f:
    f.write("model:\n  name: F5TTS_custom\n  arch:\n    dim: 64\n    text_mask_padding: True\n    pe_attn_head: null\n"
            "    attn_mask_enabled: True\n    text_embedding_average_upsampling: False\n")


def convert(*extra):
    target = os.path.join(scratch, "out.safetensors")
    result = subprocess.run([sys.executable, os.path.join(root, "scripts", "convert_f5tts_checkpoint.py"), source, target, *extra],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    with safe_open(target, "pt") as f:
        return f.metadata() or {}, list(f.keys()), result.stdout


metadata, keys, said = convert()
assert metadata == {}, metadata
assert "ema_model.transformer.proj_out.weight" in keys and "options in the metadata: none" in said, said
metadata, _, said = convert("--config", yaml_path)
assert metadata == {"text_mask_padding": "1", "pe_attn_head": "all", "attn_mask_enabled": "1",
                    "text_embedding_average_upsampling": "0"}, metadata
metadata, _, _ = convert("--v0", "--text-embedding-average-upsampling")
assert metadata == {"text_mask_padding": "0", "pe_attn_head": "1", "text_embedding_average_upsampling": "1"}, metadata
bad = subprocess.run([sys.executable, os.path.join(root, "scripts", "convert_f5tts_checkpoint.py"), source,
                      os.path.join(scratch, "x.safetensors"), "--config", source], capture_output=True, text=True)
assert bad.returncode != 0, "a config that is not YAML with model.arch was accepted"
print("convert_f5tts_flags: ok")

"""Makes the Stable Audio DiT option parity fixtures from pip `stable-audio-tools` (pinned 0.0.19), fp32 on CPU:
the `DiffusionTransformer` options beyond make_saga_sr_fixtures.py's two configurations, and the guidance and
sampling options of its generation path (negative prompt tokens, cfg_interval, `sample_rf` with sigma_max < 1
and init data).

    ~/.cache/chord/reference-torch-2.11.0/bin/python tests/parity/make_stable_audio_option_fixtures.py

Writes `stable_audio_opt_<name>.safetensors` for six configurations, all with io_channels=8, embed_dim=32,
depth=2, num_heads=1, ff_kwargs={"mult": 2}, cond_token_dim=16, project_cond_tokens=True,
diffusion_objective="rectified_flow" (unnamed options keep the package defaults: rotary embedding, ...):
  patch2    patch_size=2, input_concat_dim=8 (condition of 7 frames, nearest-resampled to T=12 before
            patching), global_cond_dim=8 prepended, T=12; plus guidance and sampling runs (below);
  memory    num_memory_tokens=3, global_cond_dim=8 through AdaLN (global_cond_type="adaLN"),
            prepend_cond_dim=8 (3 prepended tokens), T=10;
  qkln      attn_kwargs={"qk_norm": "ln"}, global_cond_dim=8 prepended, T=10;
  qkl2      attn_kwargs={"qk_norm": "l2"}, global_cond_dim=8 prepended, T=10;
  qkdyt     attn_kwargs={"qk_norm": "dyt"}, global_cond_dim=8 prepended, T=10;
  tsconcat  timestep_cond_type="input_concat", timestep_embed_dim=1 (the only width the package can run: it
            expands a [B, 1, E] embedding over time), input_concat_dim=8 (condition of T frames), no global
            condition (global_cond_type="prepend", so nothing is prepended), T=10.
Weights are random, normal with std 0.05, so nothing is zero-initialised away; except the q/k norms (the
`*.q_norm.*`/`*.k_norm.*` parameters of qkln and qkdyt), whose near-zero scales would make every attention
uniform and hide the option: LayerNorm weight and DynamicTanh gamma ~ N(1, 0.3), LayerNorm bias and
DynamicTanh beta ~ N(0, 0.3), DynamicTanh alpha ~ N(2, 0.3) (tanh is clearly non-linear there, not saturated).

Each file's safetensors metadata holds a single key, `config`: the DiffusionTransformer keyword arguments
of that configuration as JSON text (`json.dumps(..., sort_keys=True)`), for instance
{"cond_token_dim": 16, "depth": 2, "diffusion_objective": "rectified_flow", "embed_dim": 32, ...}.

Tensors in every file (batch 2):
  model.<key>          the DiffusionTransformer's state dict (`model.` + its own keys, as in
                       make_saga_sr_fixtures.py);
  x                    float32 [2, 8, T];
  t                    float32 [2] = [0.3, 0.85];
  cross_attn_cond      float32 [2, 4, 16];
  global_embed         float32 [2, 8]           (patch2, memory, qkln, qkl2, qkdyt);
  input_concat_cond    float32 [2, 8, T'], channel-first; T' = 7 for patch2, T' = T for tsconcat;
  prepend_cond         float32 [2, 3, 8]        (memory; passed without a mask: with an AdaLN global
                       vector the package needs none, and the transformer ignores prepend masks anyway);
  out                  float32 [2, 8, T] = model(x, t, **conditions) (cfg_scale 1);
  out_cfg3             float32 [2, 8, T] = model(x, t, **conditions, cfg_scale=3.0) (the package's batched
                       conditional/unconditional pass; unconditional = zero cross-attention tokens and zero
                       prepend tokens, the global vector and input concat kept).
patch2 only:
  negative_cross_attn_cond  float32 [2, 4, 16];
  negative_cross_attn_mask  bool [2, 4] (item 0: token 3 False; item 1: tokens 1..3 False);
  out_cfg3_negative    cfg_scale 3 with negative_cross_attn_cond/mask (unconditional tokens =
                       where(mask, negative, 0));
  out_cfg3_interval_a  cfg_scale 3, cfg_interval=(0.2, 0.6), at t: guided (the package decides for the whole
                       batch from sigma[0] = t[0] = 0.3; equals out_cfg3);
  t_b                  float32 [2] = [0.7, 0.1];
  out_cfg3_interval_b  cfg_scale 3, cfg_interval=(0.2, 0.6), at t_b: not guided (t_b[0] = 0.7 outside; one plain
                       conditional pass = model(x, t_b, **conditions));
  noise, init_data     float32 [2, 8, 12];
  sample_sigma07_init  sample_rf(model, noise, init_data=init_data, steps=6, sigma_max=0.7, cfg_scale=3.0,
                       sampler_type="euler", **conditions): starts at init_data*0.3 + noise*0.7;
  sample_sigma07       the same without init_data: the package starts from the unscaled noise;
  sample_full          sigma_max=1, no init_data (steps 6, CFG 3);
  grid_sigma07         float32 [7], the time grid sample_rf builds for steps 6, sigma_max 0.7 (as handed to
                       sample_discrete_euler: float32 sigmoid(-linspace(log((1-s)/s + 1e-6), 2, 7)), first
                       entry set to 0.7, last to 0);
  grid_full6           float32 [7], steps 6, sigma_max 1 (logsnr from -6), the grid of sample_full;
  grid_full8           float32 [9], steps 8, sigma_max 1.
`conditions` = cross_attn_cond, global_embed and input_concat_cond as stored. sample_rf is called as
`generate_diffusion_cond` calls it (dist_shift None; its DiTWrapper only renames global_cond to global_embed).

The package is imported without its `__init__` (stable_audio_reference.py), with ENABLE_TORCH_COMPILE=0.
flash-attn must not be installed (it would cast attention to fp16).
"""
import importlib.util
import json
import os
import sys
from importlib.metadata import version

os.environ["ENABLE_TORCH_COMPILE"] = "0"  # read by stable_audio_tools.models.utils at import

import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from stable_audio_reference import import_stable_audio_tools  # noqa: E402

PINNED = {"stable-audio-tools": "0.0.19", "torch": "2.11.0"}
OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures")

COMMON = dict(io_channels=8, embed_dim=32, depth=2, num_heads=1, ff_kwargs={"mult": 2}, cond_token_dim=16,
              project_cond_tokens=True, diffusion_objective="rectified_flow")
GLOBAL_PREPEND = dict(global_cond_dim=8, global_cond_type="prepend")
CONFIGS = {
    "patch2": (dict(patch_size=2, input_concat_dim=8, **GLOBAL_PREPEND), 12, 7),
    "memory": (dict(num_memory_tokens=3, global_cond_dim=8, global_cond_type="adaLN", prepend_cond_dim=8), 10, None),
    "qkln": (dict(attn_kwargs={"qk_norm": "ln"}, **GLOBAL_PREPEND), 10, None),
    "qkl2": (dict(attn_kwargs={"qk_norm": "l2"}, **GLOBAL_PREPEND), 10, None),
    "qkdyt": (dict(attn_kwargs={"qk_norm": "dyt"}, **GLOBAL_PREPEND), 10, None),
    "tsconcat": (dict(timestep_cond_type="input_concat", timestep_embed_dim=1, input_concat_dim=8,
                      global_cond_type="prepend"), 10, 10),
}
BATCH, TOKENS, PREPEND = 2, 4, 3
CFG = 3.0
INTERVAL = (0.2, 0.6)
SAMPLE_STEPS = 6


def check_versions():
    for package, wanted in PINNED.items():
        got = version(package)
        if not got.startswith(wanted):
            sys.exit(f"{package} {got} installed, fixtures are pinned to {wanted}")
    if importlib.util.find_spec("flash_attn") is not None:
        sys.exit("flash_attn is installed: stable-audio-tools would run attention in fp16; uninstall it")


def build(DiffusionTransformer, cfg):
    torch.manual_seed(0)
    model = DiffusionTransformer(**COMMON, **cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.05)
        # q/k norms: scales around 1 (see the docstring), drawn in a fixed order after the others.
        for name, p in model.named_parameters():
            if ".q_norm." not in name and ".k_norm." not in name:
                continue
            leaf = name.rsplit(".", 1)[1]
            if leaf in ("weight", "gamma"):
                p.normal_(1.0, 0.3)
            elif leaf in ("bias", "beta"):
                p.normal_(0.0, 0.3)
            elif leaf == "alpha":
                p.normal_(2.0, 0.3)
            else:
                raise RuntimeError(f"unexpected q/k norm parameter {name}")
    return model


class GridRecorder:
    """Wraps sampling.py's `sample_discrete_euler` to keep the time grid `sample_rf` hands it."""

    def __init__(self, sampling):
        self.sampling = sampling
        self.original = sampling.sample_discrete_euler
        self.grids = []

    def __enter__(self):
        def recording(model, x, sigmas=None, **kwargs):
            self.grids.append(sigmas.clone())
            return self.original(model, x, sigmas=sigmas, disable_tqdm=True, **kwargs)
        self.sampling.sample_discrete_euler = recording
        return self

    def __exit__(self, *exc):
        self.sampling.sample_discrete_euler = self.original


def guidance_and_sampling(model, tensors, x, t, conditions, g, sample_rf, sampling):
    frames = x.shape[2]
    negative = torch.randn(BATCH, TOKENS, COMMON["cond_token_dim"], generator=g)
    negative_mask = torch.ones(BATCH, TOKENS, dtype=torch.bool)
    negative_mask[0, 3:] = False
    negative_mask[1, 1:] = False
    t_b = torch.tensor([0.7, 0.1])
    noise = torch.randn(BATCH, COMMON["io_channels"], frames, generator=g)
    init_data = torch.randn(BATCH, COMMON["io_channels"], frames, generator=g)
    tensors.update(negative_cross_attn_cond=negative, negative_cross_attn_mask=negative_mask, t_b=t_b,
                   noise=noise, init_data=init_data)
    with torch.no_grad():
        tensors["out_cfg3_negative"] = model(x, t, cfg_scale=CFG, negative_cross_attn_cond=negative,
                                             negative_cross_attn_mask=negative_mask, **conditions)
        tensors["out_cfg3_interval_a"] = model(x, t, cfg_scale=CFG, cfg_interval=INTERVAL, **conditions)
        tensors["out_cfg3_interval_b"] = model(x, t_b, cfg_scale=CFG, cfg_interval=INTERVAL, **conditions)
        assert torch.equal(tensors["out_cfg3_interval_a"], tensors["out_cfg3"])
        assert torch.equal(tensors["out_cfg3_interval_b"], model(x, t_b, **conditions))
        assert not torch.allclose(tensors["out_cfg3_negative"], tensors["out_cfg3"])

        run = dict(steps=SAMPLE_STEPS, sampler_type="euler", device="cpu", dist_shift=None, cfg_scale=CFG,
                   **conditions)
        with GridRecorder(sampling) as recorder:
            tensors["sample_sigma07_init"] = sample_rf(model, noise, init_data=init_data, sigma_max=0.7, **run)
            tensors["sample_sigma07"] = sample_rf(model, noise, init_data=None, sigma_max=0.7, **run)
            tensors["sample_full"] = sample_rf(model, noise, init_data=None, sigma_max=1, **run)
            sample_rf(lambda x, t, **kwargs: torch.zeros_like(x), noise, steps=8, sampler_type="euler",
                      sigma_max=1, device="cpu")
        grid07, grid07_again, grid_full6, grid_full8 = recorder.grids
        assert torch.equal(grid07, grid07_again)
        assert grid07.dtype == grid_full8.dtype == torch.float32
        assert grid07[0].item() == torch.tensor(0.7).item() and grid07[-1].item() == 0.0
        tensors.update(grid_sigma07=grid07, grid_full6=grid_full6, grid_full8=grid_full8)


def make(name, cfg, frames, concat_frames, classes):
    DiffusionTransformer, sample_rf, sampling = classes
    model = build(DiffusionTransformer, cfg)
    tensors = {f"model.{k}": v.contiguous().clone() for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(1)
    x = torch.randn(BATCH, COMMON["io_channels"], frames, generator=g)
    t = torch.tensor([0.3, 0.85])
    conditions = dict(cross_attn_cond=torch.randn(BATCH, TOKENS, COMMON["cond_token_dim"], generator=g))
    if cfg.get("global_cond_dim"):
        conditions["global_embed"] = torch.randn(BATCH, cfg["global_cond_dim"], generator=g)
    if cfg.get("input_concat_dim"):
        conditions["input_concat_cond"] = torch.randn(BATCH, cfg["input_concat_dim"], concat_frames, generator=g)
    if cfg.get("prepend_cond_dim"):
        conditions["prepend_cond"] = torch.randn(BATCH, PREPEND, cfg["prepend_cond_dim"], generator=g)
    tensors.update(x=x, t=t, **conditions)
    with torch.no_grad():
        tensors["out"] = model(x, t, **conditions)
        tensors["out_cfg3"] = model(x, t, cfg_scale=CFG, **conditions)
    assert tensors["out"].shape == x.shape
    if name == "patch2":
        guidance_and_sampling(model, tensors, x, t, conditions, g, sample_rf, sampling)
    path = os.path.join(OUT, f"stable_audio_opt_{name}.safetensors")
    # One metadata key: safetensors writes several in a random order (the file would not be byte-for-byte
    # reproducible).
    save_file({k: v.contiguous() for k, v in tensors.items()}, path,
              metadata={"config": json.dumps({**COMMON, **cfg}, sort_keys=True)})
    print(f"wrote {path}: {len(tensors)} tensors, {os.path.getsize(path)} bytes")


def main():
    check_versions()
    os.makedirs(OUT, exist_ok=True)
    _, DiffusionTransformer, _, _, sample_rf = import_stable_audio_tools()
    import stable_audio_tools.inference.sampling as sampling
    for name, (cfg, frames, concat_frames) in CONFIGS.items():
        make(name, cfg, frames, concat_frames, (DiffusionTransformer, sample_rf, sampling))


if __name__ == "__main__":
    main()

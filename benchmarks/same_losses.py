r"""The PyTorch twin and videogan from the same weights, inputs and randomness: their losses per step.

  pip install -r benchmarks/requirements-torch.txt   # CPU build
  python benchmarks/same_losses.py [--config configs/moving_mnist.py] [--steps 3] [--impl fold] [--json]

videogan's state is initialised as for training, copied into the twin
(`torch_twin.load_videogan`), and both take `--steps` train steps on one batch of
uniform noise clips, the twin given videogan's latents and frame indices for each
step (drawn as `videogan.gan.train_step` draws them). If the twin is the same model
(the benchmark's premise), L_D and L_G agree to float rounding at every step; Adam's
first steps amplify that rounding (m / sqrt(v) is +-1 for any gradient, however
small), so the agreement loosens from ~1e-5 at step 0 to ~1e-3 by step 2, as between
videogan's own `fold` and `native` layers (docs/performance.md).
tests/test_benchmarks.py runs it on the default model of each size.
"""

import dataclasses
import json

import jax
import numpy as np
import torch
import torch_twin
from absl import app, flags

from videogan.gan import state as state_lib
from videogan.gan import train_step as train_step_lib
from videogan.models.gan import VideoGAN

FLAGS = flags.FLAGS  # torch_twin's: --config, --steps, --impl, --small_grid, --explicit_pad, --fused, --threads, --json.
FLAGS.set_default("steps", 3)
flags.DEFINE_bool("jax_native", False, "Also run videogan with conv_impl='native': the rounding between two JAX forms.")


def compare(config, steps: int, opts: torch_twin.Options, jax_native: bool = False) -> dict:
  gan = VideoGAN.from_config(config)
  g_tx, d_tx = state_lib.make_optimizers(config)
  state = state_lib.init_state(jax.random.key(config.seed), gan, g_tx, d_tx)
  torch.set_num_threads(FLAGS.threads)
  gen, disc, g_opt, d_opt, ema = torch_twin.build(config, opts)
  torch_twin.load_videogan(gen, disc, *jax.device_get((state.g_params, state.d_params, state.d_stats)))
  ema[:] = [p.detach().clone() for p in gen.parameters()]

  b = config.batch_size
  real = jax.random.uniform(jax.random.key(1), (b, *gan.video_shape), minval=-1.0, maxval=1.0)
  rng = jax.random.key(2)
  draws = []
  for step in range(steps):  # As train_step draws G's latents and D's frames from (rng, step).
    z_rng, d_frames_rng, g_frames_rng = jax.random.split(jax.random.fold_in(rng, step), 3)
    latents = gan.latents(z_rng, b)
    draws.append({"content": torch.tensor(np.asarray(latents["content"])),
                  "motion_noise": torch.tensor(np.asarray(latents["motion_noise"])),
                  "d_idx": torch.tensor(np.asarray(gan.frame_indices(d_frames_rng, b)), dtype=torch.long),
                  "g_idx": torch.tensor(np.asarray(gan.frame_indices(g_frames_rng, b)), dtype=torch.long)})
  twin_step = torch_twin.make_step(config, gen, disc, g_opt, d_opt, ema, draw=iter(draws).__next__)
  jax_step = jax.jit(train_step_lib.make_train_step(gan, config))
  if jax_native:  # The same state through videogan's 3-D conv layers: the same parameters, other rounding.
    native_config = config.copy_and_resolve_references()
    native_config.model.conv_impl = "native"
    native_step = jax.jit(train_step_lib.make_train_step(VideoGAN.from_config(native_config), native_config))
    native_state = state
  twin_real = torch.tensor(np.asarray(real)).permute(0, 4, 1, 2, 3).contiguous(memory_format=torch.channels_last_3d)

  rows = []
  for _ in range(steps):
    state, metrics = jax_step(state, {"video": real}, rng)
    d_loss, g_loss = twin_step(twin_real)
    rows.append({"jax": {"d_loss": float(metrics["d_loss"]), "g_loss": float(metrics["g_loss"])},
                 "twin": {"d_loss": d_loss, "g_loss": g_loss}})
    if jax_native:
      native_state, metrics = native_step(native_state, {"video": real}, rng)
      rows[-1]["jax_native"] = {"d_loss": float(metrics["d_loss"]), "g_loss": float(metrics["g_loss"])}
  return {"generator": config.model.generator.name, "batch": b, "opts": dataclasses.asdict(opts), "steps": rows}


def main(argv):
  del argv
  r = compare(FLAGS.config, FLAGS.steps, torch_twin.Options.from_flags(), FLAGS.jax_native)
  if FLAGS.json:
    print(json.dumps(r))
    return
  print(f"{r['generator']} generator, batch {r['batch']}, twin {r['opts']}")
  for i, row in enumerate(r["steps"]):
    for name in ("d_loss", "g_loss"):
      a, t = row["jax"][name], row["twin"][name]
      line = f"  step {i} {name}  videogan {a:.7f}  twin {t:.7f}  relative difference {abs(a - t) / abs(a):.1e}"
      if "jax_native" in row:
        n = row["jax_native"][name]
        line += f"  (videogan native {n:.7f}: {abs(a - n) / abs(a):.1e})"
      print(line)


if __name__ == "__main__":
  app.run(main)

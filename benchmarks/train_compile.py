"""Does ``torch.compile`` pay for itself within a quick run? Per family, side by side.

For the default VAE and DCGAN in their default training modes (the GAN in bf16 +
channels_last on a CPU with native bf16), this times: eager steps, then the same model with
its networks wrapped in ``torch.compile`` (inductor on the CPU; gcc is there): the first
steps (which compile) and the steady-state steps. Compile time is paid per process (the
inductor cache in /tmp shortens a second process's compile but not the steady state).

A quick run trains ``train_steps`` steps of the quick budget; compilation pays when
``compile_s < steps × (eager − compiled per step)``. Last line:
``compile_pays_vae=<yes|no> compile_pays_gan=<yes|no>`` (measured here: no for both — the
steady state is not faster, so the project does not compile).

    OMP_NUM_THREADS=1 python benchmarks/train_compile.py [--steps 30]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from lgm.train import seed_everything, train
from quick_run import quick_run
from study.build import build_model


def _timed(model, stream, config, steps: int) -> float:
    started = time.perf_counter()
    train(model, stream, dataclasses.replace(config, steps=steps, log_every=steps))
    return time.perf_counter() - started


def family(name: str, steps: int) -> dict:
    config, eager, stream, base = quick_run(name, steps)
    eager_step = _timed(eager, stream, base, steps) / steps
    seed_everything(0)
    compiled = build_model(config)
    for part in ("encoder", "decoder", "generator", "discriminator"):
        if hasattr(compiled, part):
            setattr(compiled, part, torch.compile(getattr(compiled, part)))
    first = _timed(compiled, stream, base, 3)
    compiled_step = _timed(compiled, stream, base, steps) / steps
    compile_s = first - 3 * compiled_step
    saved = config.train_steps * (eager_step - compiled_step)
    return {"eager_ms": 1000 * eager_step, "compiled_ms": 1000 * compiled_step,
            "compile_s": compile_s, "saved_s": saved, "pays": saved > compile_s,
            "train_steps": config.train_steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    verdicts = {}
    for name in ("vae", "gan"):
        r = family(name, args.steps)
        verdicts[name] = "yes" if r["pays"] else "no"
        print(f"{name}: eager {r['eager_ms']:.1f} ms/step, compiled {r['compiled_ms']:.1f} ms/step, "
              f"compile {r['compile_s']:.1f} s; over a quick run ({r['train_steps']} steps) it would "
              f"save {r['saved_s']:.1f} s", flush=True)
    print(f"compile_pays_vae={verdicts['vae']} compile_pays_gan={verdicts['gan']}")


if __name__ == "__main__":
    main()

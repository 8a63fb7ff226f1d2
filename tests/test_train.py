"""lgm.train: exact resume, determinism, NaN detection, metric averaging, config checks."""

import math

import pytest
import torch

from lgm.data import BatchStream, load_dataset
from lgm.gan import GAN, GANConfig
from lgm.train import (CheckpointMismatchError, NonFiniteLossError, TrainClock, TrainConfig, seed_everything,
                       train)
from lgm.vae import VAE, VAEConfig


@pytest.fixture(scope="module")
def small_fashion():
    return load_dataset("fashion_mnist", "train").subset(512, seed=0)


def _vae(conditional=False, seed=0):
    seed_everything(seed)
    return VAE(VAEConfig(latent_dim=4, width=8, num_classes=10 if conditional else None))


def _gan(conditional=False, seed=0):
    seed_everything(seed)
    return GAN(GANConfig(latent_dim=8, width=8, num_classes=10 if conditional else None))


MODELS = {"vae": _vae, "gan": _gan}


def _stream(dataset, family, batch_size=32, seed=0):
    scaling = "zero_one" if family == "vae" else "minus_one_one"
    return BatchStream(dataset, batch_size, scaling=scaling, seed=seed)


def _run(dataset, family, steps, conditional=False, checkpoint=None, log_every=2, seed=0,
         model=None, lr=1e-3):
    model = model or MODELS[family](conditional, seed)
    logged = []
    config = TrainConfig(steps=steps, batch_size=32, seed=seed, log_every=log_every,
                         checkpoint_every=3, lr=lr, progress=False)
    train(model, _stream(dataset, family, seed=seed), config,
          callback=lambda step, m: logged.append((step, m)), checkpoint_path=checkpoint)
    return model, logged


def _assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


@pytest.mark.parametrize("family", ["vae", "gan"])
@pytest.mark.parametrize("conditional", [False, True])
def test_resume_is_bit_exact(small_fashion, tmp_path, family, conditional):
    straight, logs_straight = _run(small_fashion, family, 8, conditional)
    ckpt = tmp_path / "ckpt.pt"
    _run(small_fashion, family, 4, conditional, checkpoint=ckpt)  # stops after 4 steps
    # A fresh process would build a fresh model (other init seed on purpose: the checkpoint
    # must overwrite everything) and call train with the full budget.
    resumed, logs_resumed = _run(small_fashion, family, 8, conditional, checkpoint=ckpt,
                                 model=MODELS[family](conditional, seed=123))
    _assert_same_weights(straight, resumed)
    assert logs_resumed == [entry for entry in logs_straight if entry[0] > 4]


def test_resume_mid_log_window_keeps_the_running_means(small_fashion, tmp_path):
    # checkpoint_every=3 with log_every=2: the checkpoint at step 3 holds half a window.
    _, logs_straight = _run(small_fashion, "vae", 6)
    ckpt = tmp_path / "ckpt.pt"
    _run(small_fashion, "vae", 3, checkpoint=ckpt)
    _, logs_resumed = _run(small_fashion, "vae", 6, checkpoint=ckpt)
    assert logs_resumed == [entry for entry in logs_straight if entry[0] > 3]


def test_same_seed_same_result_other_seed_other_result(small_fashion):
    a, _ = _run(small_fashion, "vae", 4)
    b, _ = _run(small_fashion, "vae", 4)
    c, _ = _run(small_fashion, "vae", 4, seed=1)
    _assert_same_weights(a, b)
    assert any(not torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


def test_logged_values_are_means_over_the_window(small_fashion):
    _, every_step = _run(small_fashion, "vae", 4, log_every=1)
    _, every_two = _run(small_fashion, "vae", 4, log_every=2)
    assert [s for s, _ in every_two] == [2, 4]
    for (step, window), first, second in zip(every_two, every_step[0::2], every_step[1::2]):
        for key, value in window.items():
            assert value == pytest.approx((first[1][key] + second[1][key]) / 2, rel=1e-6), key


def test_vae_metrics_are_namespaced_and_consistent(small_fashion):
    _, logs = _run(small_fashion, "vae", 2, log_every=1)
    metrics = logs[-1][1]
    assert {"train/loss", "train/elbo", "train/recon", "train/kl", "train/bpd"} <= metrics.keys()
    # With beta = 1 the loss is the negative ELBO.
    assert metrics["train/loss"] == pytest.approx(-metrics["train/elbo"], rel=1e-5)


def test_gan_metrics_are_namespaced(small_fashion):
    _, logs = _run(small_fashion, "gan", 2, log_every=1)
    assert {"train/d_loss", "train/g_loss"} <= logs[-1][1].keys()


def test_last_step_is_logged_even_off_the_grid(small_fashion):
    _, logs = _run(small_fashion, "vae", 5, log_every=2)
    assert [s for s, _ in logs] == [2, 4, 5]


class PoisonedStream(BatchStream):
    """Real batches, except one step whose images are NaN."""

    poisoned_step = 5

    def batch(self, step):
        x, y = super().batch(step)
        return (x * float("nan"), y) if step == self.poisoned_step else (x, y)


@pytest.mark.parametrize("family,loss_name", [("vae", "train/loss"), ("gan", "train/d_loss")])
def test_nan_stops_training_with_step_and_value(small_fashion, tmp_path, family, loss_name):
    model = MODELS[family]()
    scaling = "zero_one" if family == "vae" else "minus_one_one"
    stream = PoisonedStream(small_fashion, 32, scaling=scaling, seed=0)
    config = TrainConfig(steps=10, batch_size=32, checkpoint_every=2, progress=False)
    ckpt = tmp_path / "ckpt.pt"
    with pytest.raises(NonFiniteLossError) as err:
        train(model, stream, config, checkpoint_path=ckpt)
    assert err.value.step == 5 and math.isnan(err.value.value)
    assert err.value.name == loss_name and "step 5" in str(err.value)
    # The weights were not touched by the NaN, and the last checkpoint (step 4) is intact.
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert torch.load(ckpt, weights_only=True)["step"] == 4


def test_resuming_with_other_settings_is_refused(small_fashion, tmp_path):
    ckpt = tmp_path / "ckpt.pt"
    _run(small_fashion, "vae", 2, checkpoint=ckpt)
    with pytest.raises(CheckpointMismatchError, match="lr: checkpoint 0.001 vs now 0.002"):
        _run(small_fashion, "vae", 4, checkpoint=ckpt, lr=2e-3)


def test_a_finished_run_is_a_no_op_when_called_again(small_fashion, tmp_path):
    ckpt = tmp_path / "ckpt.pt"
    first, _ = _run(small_fashion, "vae", 3, checkpoint=ckpt)
    again, logs = _run(small_fashion, "vae", 3, checkpoint=ckpt, model=_vae(seed=9))
    _assert_same_weights(first, again)
    assert logs == []


@pytest.mark.parametrize("field,value,message", [
    ("steps", -1, "steps must be an integer >= 0"),
    ("batch_size", 0, "batch_size must be an integer >= 1"),
    ("lr", 0.0, "lr must be a positive finite number"),
    ("beta1", 1.0, r"beta1 must be in \[0, 1\)"),
    ("log_every", 2.5, "log_every must be an integer"),
])
def test_bad_train_config_is_refused(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{"steps": 1, field: value})


def test_mismatched_batch_size_is_refused(small_fashion):
    with pytest.raises(ValueError, match="batch_size"):
        train(_vae(), _stream(small_fashion, "vae", batch_size=16),
              TrainConfig(steps=1, batch_size=32, progress=False))


def test_unknown_model_type_is_refused(small_fashion):
    with pytest.raises(TypeError, match="allowed: VAE, GAN"):
        train(torch.nn.Linear(2, 2), _stream(small_fashion, "vae"),
              TrainConfig(steps=1, batch_size=32, progress=False))


def test_the_training_clock_counts_loop_time_across_a_resume(small_fashion, tmp_path, monkeypatch):
    # A fake perf_counter that advances 1 s per call makes the clock's sums exact.
    import lgm.train as train_module

    ticks = iter(range(10**6))
    monkeypatch.setattr(train_module.time, "perf_counter", lambda: float(next(ticks)))
    ckpt = tmp_path / "ckpt.pt"
    first = train(_vae(False, 0), _stream(small_fashion, "vae"),
                  TrainConfig(steps=2, batch_size=32, checkpoint_every=1, progress=False),
                  checkpoint_path=ckpt)
    saved = torch.load(ckpt, weights_only=True)["train_seconds"]
    assert first.train_seconds >= saved > 0
    clock = TrainClock()
    seen = []
    second = train(_vae(False, 0), _stream(small_fashion, "vae"),
                   TrainConfig(steps=4, batch_size=32, log_every=1, progress=False),
                   checkpoint_path=ckpt, clock=clock, callback=lambda s, m: seen.append(clock.seconds))
    # the resumed run starts from the checkpoint's clock and only counts up from there
    assert saved < seen[0] < seen[1] <= second.train_seconds == clock.seconds


# --------------------------------------------------------------------------- training modes

@pytest.mark.parametrize("conditional", [False, True])
def test_resume_is_bit_exact_in_the_gans_fast_mode(small_fashion, tmp_path, conditional):
    def run(steps, checkpoint=None, seed=0):
        model = _gan(conditional, seed)
        config = TrainConfig(steps=steps, batch_size=32, log_every=2, checkpoint_every=3,
                             progress=False, precision="bf16", memory_format="channels_last")
        logs = []
        train(model, _stream(small_fashion, "gan"), config, checkpoint_path=checkpoint,
              callback=lambda s, m: logs.append((s, m)))
        return model, logs

    straight, logs_straight = run(6)
    ckpt = tmp_path / "ckpt.pt"
    run(3, checkpoint=ckpt)
    resumed, logs_resumed = run(6, checkpoint=ckpt, seed=99)
    _assert_same_weights(straight, resumed)
    assert logs_resumed == [e for e in logs_straight if e[0] > 3]


def test_fast_mode_hands_back_a_float32_contiguous_model(small_fashion):
    model = _gan(False, 0)
    train(model, _stream(small_fashion, "gan"), TrainConfig(steps=2, batch_size=32, progress=False,
                                                           precision="bf16", memory_format="channels_last"))
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(p.is_contiguous() for p in model.parameters())  # not channels_last any more
    x = model.sample(4, generator=torch.Generator().manual_seed(0))
    assert x.dtype == torch.float32 and x.is_contiguous()
    # differs from fp32 training only through the training itself, not the evaluation path
    assert not torch.is_autocast_enabled("cpu")


def test_a_checkpoint_of_another_precision_is_refused(small_fashion, tmp_path):
    ckpt = tmp_path / "ckpt.pt"
    train(_gan(False, 0), _stream(small_fashion, "gan"),
          TrainConfig(steps=1, batch_size=32, progress=False), checkpoint_path=ckpt)
    with pytest.raises(CheckpointMismatchError, match="precision: checkpoint 'fp32' vs now 'bf16'"):
        train(_gan(False, 0), _stream(small_fashion, "gan"),
              TrainConfig(steps=2, batch_size=32, progress=False, precision="bf16"), checkpoint_path=ckpt)


@pytest.mark.parametrize("device, flags, cuda_bf16, expected", [
    ("cpu", "fpu avx2 avx512f avx512_bf16", False, ("bf16", "channels_last")),
    ("cpu", "fpu avx2 amx_bf16", False, ("bf16", "channels_last")),
    ("cpu", "fpu avx2 avx512f", False, ("fp32", "channels_last")),     # emulated bf16: slower
    ("cuda", "fpu", True, ("bf16", "channels_last")),
    ("cuda", "fpu", False, ("fp32", "channels_last")),                 # e.g. a V100
])
def test_fast_mode_selection(monkeypatch, tmp_path, device, flags, cuda_bf16, expected):
    import builtins

    import lgm.train as train_module

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor : 0\nflags\t\t: {flags}\n")
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open",
                        lambda path, *a, **k: real_open(cpuinfo if path == "/proc/cpuinfo" else path, *a, **k))
    monkeypatch.setattr(train_module.torch.cuda, "is_available", lambda: device == "cuda")
    monkeypatch.setattr(train_module.torch.cuda, "is_bf16_supported", lambda: cuda_bf16)
    gan = train_module.fast_mode(GAN, device)
    assert (gan.precision, gan.memory_format) == expected
    vae = train_module.fast_mode(VAE, device)
    assert (vae.precision, vae.memory_format) == ("fp32", "contiguous")  # measured: no gain


def test_curve_points_are_evaluated_once_each_and_do_not_change_training(small_fashion, tmp_path):
    calls = []

    def on_point(step, seconds):
        calls.append((step, seconds))
        torch.rand(3)  # an evaluation that touched the global RNG must not change training

    plain, logs_plain = _run(small_fashion, "gan", 6)
    model = _gan(False, 0)
    logs = []
    train(model, _stream(small_fashion, "gan"),
          TrainConfig(steps=6, batch_size=32, log_every=2, checkpoint_every=100, lr=1e-3, progress=False),
          callback=lambda s, m: logs.append((s, m)), points=[2, 4, 6], on_point=on_point,
          checkpoint_path=tmp_path / "ckpt.pt")
    _assert_same_weights(plain, model)
    assert logs == logs_plain and [s for s, _ in calls] == [2, 4, 6]
    assert calls[0][1] < calls[1][1] < calls[2][1]  # training seconds, increasing
    # a checkpoint was written at each point: resuming at the last one calls it again first
    calls.clear()
    train(_gan(False, 0), _stream(small_fashion, "gan"),
          TrainConfig(steps=6, batch_size=32, lr=1e-3, progress=False),
          points=[2, 4, 6], on_point=on_point, checkpoint_path=tmp_path / "ckpt.pt")
    assert [s for s, _ in calls] == [6]
    with pytest.raises(ValueError, match="points must be steps in 1..6"):
        train(_gan(False, 0), _stream(small_fashion, "gan"), TrainConfig(steps=6, batch_size=32),
              points=[7], on_point=on_point)

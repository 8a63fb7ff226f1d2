"""``evaluate``: the one entry point a run calls to score a generative model.

Generates ``num_samples`` images with ``sample_fn`` in batches, embeds each batch once
with the dataset's fixed classifier, and runs the registry's metrics
(``lgm.evaluation.registry``: each entry owns its function, settings and output keys) on
those features and probabilities against a cached reference (the same seeded
``num_samples`` subset of the real training split for every run, see
``lgm.evaluation.features``):

- sample metrics, chosen with ``metrics`` (default: all): ``fid`` (Heusel et al. 2017),
  ``is`` (Salimans et al. 2016), ``kid`` (Bińkowski et al. 2018), ``precision_recall``
  (Kynkäänniemi et al. 2019), ``density_coverage`` (Naeem et al. 2020);
- conditional models also get ``eval/conditional_accuracy`` (share of samples the classifier
  assigns to the requested class) and ``eval/fid_class/<k>`` (FID of class ``k``'s samples
  against class ``k``'s real reference features);
- with ``reconstruct_fn`` (VAEs), ``eval/fid_recon``: the FID of reconstructions of real
  test images against the reference;
- with ``elbo_fn`` (VAEs), the test-set ``eval/elbo``, ``eval/bpd``, ``eval/kl`` and
  ``eval/recon``;
- memorisation and diversity, also sample metrics: ``data_copying`` (``eval/ct``, Meehan et
  al. 2020, and ``eval/copy_fraction``, against a cached real *test* subset as the held-out
  sample) and ``vendi`` (``eval/vendi``, Friedman & Dieng 2022);
- robustness to the extractor: ``fwd`` (``eval/fwd``, the Fréchet Wavelet Distance of the
  images themselves, no network), ``fid_hm`` (``eval/fid_hm``, FID with the predicted-class
  histogram matched, and ``eval/class_tv``), and the registry's ``EXTRACTOR_METRICS``
  again in every other shipped extractor's feature space (``extractors``, default all:
  ``eval/mlp/fid`` ...; each extractor's weights are SHA-256-checked before any work).

``score_features`` is the part after embedding: the one dispatch over the registry, shared
with ``lgm.evaluation.scoring`` (sample files and arrays).

FID is biased in the sample count, so ``eval/num_samples`` and ``eval/classifier_sha256``
are returned with every result: only runs that agree on both are comparable.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from tqdm import tqdm

from lgm.data import dataset_info, load_dataset, scale
from lgm.evaluation import registry
from lgm.evaluation.classifiers import ClassifierNet, classifier, classifier_sha256, verify_classifier
from lgm.evaluation.features import (check_images, extract, pixel_reference_statistics,
                                     reference_statistics)
from lgm.evaluation.metrics.fwd import WaveletMoments

__all__ = ["evaluate", "score_features", "held_out_reference", "SAMPLE_METRICS",
           "REFERENCE_SEED",
           "BATCH_SIZE", "NUM_SAMPLES", "balanced_labels", "test_subset", "Embedding",
           "check_extractors", "pixel_reference", "generate_batches"]

# The sample metrics ``metrics=`` chooses from: the registry's entries that need only samples
# (``registry.SAMPLE_METRICS``, names; ``registry.METRICS`` is the registry itself).
SAMPLE_METRICS = registry.SAMPLE_METRICS
# Every run compares against the same real subset, whatever its own seed: a per-run
# reference would add the reference's sampling noise to every difference between runs.
REFERENCE_SEED = 0
# Samples per sample_fn call (and per embedding batch) unless told otherwise: what a study run
# uses, so re-drawing its samples (``study export``) repeats its calls exactly.
BATCH_SIZE = 500
NUM_SAMPLES = 10_000  # samples per evaluation unless told otherwise (the study's default)

SampleFn = Callable[[int, "torch.Tensor | None"], torch.Tensor]
ReconstructFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
ElboFn = Callable[[torch.Tensor, "torch.Tensor | None", torch.Generator], dict]


def balanced_labels(num_samples: int, num_classes: int, seed: int) -> torch.Tensor:
    """``num_samples / num_classes`` of each class, in a seeded random order."""
    labels = torch.arange(num_classes).repeat_interleave(num_samples // num_classes)
    return labels[torch.randperm(num_samples, generator=torch.Generator().manual_seed(seed))]


def test_subset(dataset: str, num_samples: int):
    """The real test images every run's reconstructions and ELBO are scored on: the same
    seeded subset of at most ``num_samples`` images for every run (a per-run subset would
    add the subset's own noise to every difference between runs)."""
    test = load_dataset(dataset, "test")
    return test.subset(min(num_samples, len(test)), seed=REFERENCE_SEED)


def held_out_reference(dataset: str, num_samples: int, *, device: str | torch.device = "cpu",
                       batch_size: int = BATCH_SIZE, progress: bool | None = None,
                       extractor: str = registry.PRIMARY_EXTRACTOR):
    """The held-out real sample of the memorisation metrics: cached features (of
    ``extractor``) of the same seeded test subset ``test_subset`` gives (at most the whole
    split)."""
    size = dataset_info(dataset).sizes["test"]
    return reference_statistics(dataset, split="test", num_samples=min(num_samples, size),
                                seed=REFERENCE_SEED, device=device, batch_size=batch_size,
                                progress=progress, extractor=extractor)


class Embedding:
    """Another extractor's view of the same samples: ``features``, ``probs`` and its
    ``reference`` (a ``ReferenceStatistics`` in that extractor's feature space)."""

    def __init__(self, features: torch.Tensor, probs: torch.Tensor, reference):
        self.features, self.probs, self.reference = features, probs, reference


def check_extractors(extractors: Sequence[str]) -> tuple[str, ...]:
    """The non-primary extractors to log, each checked (unknown name: ``ValueError``
    listing the shipped ones; missing or tampered weights: ``ClassifierWeightsError``),
    in the registry's order, before any work."""
    if isinstance(extractors, str):
        raise ValueError(f"extractors must be a sequence of names, got the string "
                         f"{extractors!r}; shipped: {', '.join(registry.EXTRACTORS)}")
    for name in extractors:
        registry.check_extractor(name)
    return tuple(e for e in registry.EXTRACTORS if e in extractors and e != registry.PRIMARY_EXTRACTOR)


def _entries(metrics: Sequence[str], namespace: str, available: dict,
             only: Sequence[str] | None = None) -> list[str]:
    return [name for name, m in registry.METRICS.items()
            if available[m.needs] and (m.needs not in registry.SAMPLE_NEEDS or name in metrics)
            and (m.on_curve or namespace == registry.EVAL_NAMESPACE)
            and (only is None or name in only)]


def score_features(*, features: torch.Tensor, probs: torch.Tensor, dataset: str, reference,
                   seed: int, labels: torch.Tensor | None = None, test_reference=None,
                   reconstruction_features: torch.Tensor | None = None,
                   elbo_terms: dict | None = None, metrics: Sequence[str] = SAMPLE_METRICS,
                   namespace: str = registry.EVAL_NAMESPACE,
                   extractor: str = registry.PRIMARY_EXTRACTOR,
                   others: dict | None = None, pixels=None, pixel_reference=None) -> dict:
    """The registry's metrics of embedded samples, with the provenance keys (``namespace``:
    ``eval`` for a final evaluation, ``curve`` for a training-curve point, which runs only
    the entries marked ``on_curve``).

    ``features``/``probs``: the samples' outputs of ``extractor``'s classifier (``extract``;
    default the primary, whose keys are the plain ``eval/...``; another's are
    ``registry.extractor_key``'s); ``reference``: a ``ReferenceStatistics`` (or anything
    with its ``features``, ``labels``, ``statistics``) in the same feature space; the
    entries run are the sample metrics in ``metrics`` whose inputs are given, and every
    other entry whose input is given (``labels`` → conditional metrics, ``pixels`` and
    ``pixel_reference`` (wavelet statistics) → ``fwd``, ...). ``others``: ``{extractor:
    Embedding}`` of further extractors, on which ``registry.EXTRACTOR_METRICS`` run too.
    """
    inputs = registry.MetricInputs(features=features, probs=probs, reference=reference, seed=seed,
                                   num_classes=dataset_info(dataset).num_classes, labels=labels,
                                   reconstruction_features=reconstruction_features,
                                   elbo_terms=elbo_terms, test_reference=test_reference,
                                   pixels=pixels, pixel_reference=pixel_reference)
    available = {"samples": True, "labels": labels is not None,
                 "reconstructions": reconstruction_features is not None,
                 "elbo": elbo_terms is not None, "test_reference": test_reference is not None,
                 "pixels": pixels is not None and pixel_reference is not None}
    prefix = registry.extractor_namespace(namespace, extractor)
    entries = _entries(metrics, namespace, available)
    # extractor-free entries (no features: fwd) keep the plain namespace under any extractor
    free = [n for n in entries if registry.METRICS[n].needs in registry.EXTRACTOR_FREE_NEEDS]
    out = registry.compute([n for n in entries if n not in free], inputs, namespace=prefix)
    out.update(registry.compute(free, inputs, namespace=namespace))
    out[f"{prefix}/{registry.metric_name(registry.CLASSIFIER_KEY)}"] = classifier_sha256(
        dataset, extractor=extractor)
    out[f"{namespace}/{registry.metric_name(registry.NUM_SAMPLES_KEY)}"] = int(len(features))
    for name, view in (others or {}).items():
        other = registry.MetricInputs(features=view.features, probs=view.probs,
                                      reference=view.reference, seed=seed,
                                      num_classes=inputs.num_classes)
        entries = _entries(metrics, namespace, {**available, "test_reference": False,
                                                "pixels": False}, registry.EXTRACTOR_METRICS)
        other_prefix = registry.extractor_namespace(namespace, name)
        out.update(registry.compute(entries, other, namespace=other_prefix))
        out[f"{other_prefix}/{registry.metric_name(registry.CLASSIFIER_KEY)}"] = \
            classifier_sha256(dataset, extractor=name)
    return out


def _validate(sample_fn, reconstruct_fn, elbo_fn, dataset: str, num_samples: int,
              conditional: bool, metrics: Sequence[str], batch_size: int, seed: int,
              extractors: Sequence[str]) -> tuple[int, tuple[str, ...]]:
    """Check every argument before any work; returns the number of classes and the other
    extractors to log."""
    if not callable(sample_fn):
        raise TypeError(f"sample_fn must be callable as sample_fn(n, labels), got {sample_fn!r}")
    for name, fn, form in (("reconstruct_fn", reconstruct_fn, "reconstruct_fn(x, labels)"),
                           ("elbo_fn", elbo_fn, "elbo_fn(x, labels, generator)")):
        if fn is not None and not callable(fn):
            raise TypeError(f"{name} must be None or callable as {form}, got {fn!r}")
    info = dataset_info(dataset)
    if isinstance(metrics, str):
        raise ValueError(f"metrics must be a sequence of names, got the string {metrics!r}; "
                         f"allowed names: {', '.join(SAMPLE_METRICS)}")
    unknown = [m for m in metrics if m not in SAMPLE_METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; allowed: {', '.join(SAMPLE_METRICS)}")
    size = info.sizes["train"]
    if not isinstance(num_samples, int) or not 2 <= num_samples <= size:
        raise ValueError(f"num_samples must be an int in 2..{size}, got {num_samples!r}")
    if conditional and num_samples % info.num_classes:
        raise ValueError(f"conditional evaluation draws num_samples / {info.num_classes} "
                         f"samples per class; num_samples={num_samples} is not a multiple "
                         f"of {info.num_classes}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    others = check_extractors(extractors)
    verify_classifier(dataset)  # missing, untrained or tampered weights: refused before any work
    for name in others:
        verify_classifier(dataset, extractor=name)
    return info.num_classes, others


def generate_batches(sample_fn: SampleFn, labels: torch.Tensor | None, num_samples: int, *,
                     batch_size: int, device: torch.device | str):
    """Yield the evaluation's samples batch by batch: ``sample_fn(n, y)`` for consecutive
    ``batch_size`` slices of ``labels`` (None: unconditional). The one sampling loop of
    ``evaluate`` and of ``python -m study export``: the same calls in the same order draw the
    same random stream, so an exported set scores bit for bit as the run logged it."""
    for start in range(0, num_samples, batch_size):
        n = min(batch_size, num_samples - start)
        y = None if labels is None else labels[start:start + n].to(device)
        with torch.no_grad():
            x = sample_fn(n, y)
        if x.shape[0] != n:
            raise ValueError(f"sample_fn({n}, labels) returned {x.shape[0]} images")
        yield x


def _embed_generated(nets: dict, sample_fn: SampleFn, labels: torch.Tensor | None,
                     num_samples: int, shape: tuple, batch_size: int, device: torch.device,
                     disable: bool | None, moments: WaveletMoments | None) -> dict:
    """Generate in batches and embed each batch at once with every extractor's net, adding
    it to the wavelet ``moments`` (images are never all held); ``{extractor: (features,
    probs)}``."""
    out = {name: ([], []) for name in nets}
    with tqdm(total=num_samples, desc="evaluate: samples", disable=disable) as bar:
        for x in generate_batches(sample_fn, labels, num_samples, batch_size=batch_size,
                                  device=device):
            check_images(x, shape, name="sample_fn output")
            for name, net in nets.items():
                f, p = extract(net, x, batch_size=batch_size, device=device, progress=False)
                out[name][0].append(f)
                out[name][1].append(p)
            if moments is not None:
                moments.add(x.detach().to("cpu", torch.float64).numpy())
            bar.update(x.shape[0])
    return {name: (torch.cat(f), torch.cat(p)) for name, (f, p) in out.items()}


def pixel_reference(dataset: str, num_samples: int, *, batch_size: int = BATCH_SIZE):
    """The extractor-free FWD's real side: wavelet statistics of the same seeded training
    subset the feature reference holds (cached)."""
    return pixel_reference_statistics(dataset, level=registry.METRICS["fwd"].settings["level"],
                                      split="train", num_samples=num_samples,
                                      seed=REFERENCE_SEED, batch_size=batch_size)


def _embed_reconstructions(net: ClassifierNet, reconstruct_fn: ReconstructFn, dataset: str,
                           num_samples: int, shape: tuple, batch_size: int,
                           device: torch.device, disable: bool | None) -> torch.Tensor:
    """Features of reconstructions of ``num_samples`` real test images (at most the whole
    split), the same seeded subset for every run."""
    test = test_subset(dataset, num_samples)
    feats = []
    for start in tqdm(range(0, len(test), batch_size), desc="evaluate: reconstructions",
                      disable=disable):
        x = scale(test.images[start:start + batch_size].to(device), "zero_one")
        y = test.labels[start:start + batch_size].to(device)
        with torch.no_grad():
            r = reconstruct_fn(x, y)
        check_images(r, shape, name="reconstruct_fn output")
        feats.append(extract(net, r, batch_size=batch_size, device=device, progress=False)[0])
    return torch.cat(feats)


@torch.no_grad()
def _elbo_terms(elbo_fn: ElboFn, dataset: str, num_samples: int, batch_size: int,
                dequantize: bool, device: torch.device, seed: int) -> dict:
    """Means over the test subset of ``elbo_fn``'s ``elbo``, ``kl`` and ``recon`` (one
    posterior sample each). ``dequantize``: score ``(x + u) / 256`` (densities), with ``u``
    and the posterior noise from one generator seeded by ``seed + 2``."""
    test = test_subset(dataset, num_samples)
    generator = torch.Generator(device=device).manual_seed(seed + 2)
    totals = {"elbo": 0.0, "kl": 0.0, "recon": 0.0}
    for start in range(0, len(test), batch_size):
        raw = test.images[start:start + batch_size].to(device)
        noise = torch.rand(raw.shape, generator=generator, device=device) if dequantize else None
        labels = test.labels[start:start + batch_size].to(device)
        out = elbo_fn(scale(raw, "zero_one", noise), labels, generator)
        for key in totals:
            totals[key] += float(out[key]) * raw.shape[0]
    means = {k: v / len(test) for k, v in totals.items()}
    return {**means, "dims": math.prod(test.info.shape), "dequantized": bool(dequantize)}


def evaluate(*, sample_fn: SampleFn, dataset: str, num_samples: int = NUM_SAMPLES,
             conditional: bool = False, reconstruct_fn: ReconstructFn | None = None,
             elbo_fn: ElboFn | None = None, dequantize: bool = False,
             metrics: Sequence[str] = SAMPLE_METRICS, batch_size: int = BATCH_SIZE,
             device: str | torch.device = "cpu", seed: int = 0,
             progress: bool | None = None, namespace: str = registry.EVAL_NAMESPACE,
             extractors: Sequence[str] = registry.EXTRACTORS) -> dict:
    """Score a generative model; returns a flat dict of plain Python numbers and strings.

    ``sample_fn(n, labels)`` returns ``n`` float images in [0, 1] (N×C×H×W) on any device;
    ``labels`` is ``None`` unless ``conditional``, then an int64 tensor of ``n`` requested
    classes (balanced overall, seeded order). ``reconstruct_fn(x, labels)`` maps real test
    images in [0, 1] to reconstructions in [0, 1]. ``elbo_fn(x, labels, generator)``
    returns a dict with scalar ``elbo``, ``kl`` and ``recon`` (nats per image) for real test
    images in [0, 1] (dequantized when ``dequantize``); ``labels`` are the images' classes
    (ignore them if unconditional). ``progress=None`` shows bars only on a terminal. Keys:
    those of the registry entries that ran (``registry.outputs_of``), plus
    ``eval/classifier_sha256`` and ``eval/num_samples``. ``namespace="curve"`` evaluates a
    training-curve point: keys ``curve/...``, and only the entries marked ``on_curve``.
    ``extractors``: the shipped extractors whose feature spaces are scored (default all;
    the primary's always is): an unknown name is refused before any work.
    """
    if namespace not in (registry.EVAL_NAMESPACE, registry.CURVE_NAMESPACE):
        raise ValueError(f"namespace must be {registry.EVAL_NAMESPACE!r} or "
                         f"{registry.CURVE_NAMESPACE!r}, got {namespace!r}")
    num_classes, others = _validate(sample_fn, reconstruct_fn, elbo_fn, dataset, num_samples,
                                    conditional, metrics, batch_size, seed, extractors)
    device = torch.device(device)
    disable = None if progress is None else not progress
    primary = registry.PRIMARY_EXTRACTOR
    # SHA-256 checked here, before any generation
    nets = {name: classifier(dataset, device, extractor=name) for name in (primary, *others)}
    net = nets[primary]
    shape = dataset_info(dataset).shape
    refs = {name: reference_statistics(dataset, split="train", num_samples=num_samples,
                                       seed=REFERENCE_SEED, device=device, batch_size=batch_size,
                                       progress=progress, radii_ks=registry.KNN_KS, extractor=name)
            for name in nets}
    ref = refs[primary]
    wavelets = "fwd" in metrics
    moments = WaveletMoments(registry.METRICS["fwd"].settings["level"]) if wavelets else None
    labels = balanced_labels(num_samples, num_classes, seed) if conditional else None
    embedded = _embed_generated(nets, sample_fn, labels, num_samples, shape, batch_size,
                                device, disable, moments)
    feats, probs = embedded[primary]
    recon = None if reconstruct_fn is None else _embed_reconstructions(
        net, reconstruct_fn, dataset, num_samples, shape, batch_size, device, disable)
    terms = None if elbo_fn is None else _elbo_terms(elbo_fn, dataset, num_samples, batch_size,
                                                     dequantize, device, seed)
    held_out = None
    if any(registry.METRICS[name].needs == "test_reference" for name in metrics):
        held_out = held_out_reference(dataset, num_samples, device=device, batch_size=batch_size,
                                  progress=progress)
    return score_features(features=feats, probs=probs, dataset=dataset, reference=ref, seed=seed,
                          labels=labels, test_reference=held_out, reconstruction_features=recon,
                          elbo_terms=terms, metrics=metrics, namespace=namespace,
                          others={name: Embedding(*embedded[name], refs[name]) for name in others},
                          pixels=None if moments is None else moments.statistics(),
                          pixel_reference=pixel_reference(dataset, num_samples, batch_size=batch_size)
                          if moments is not None else None)

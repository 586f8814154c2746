"""``python -m tracing classify``: a sequence classifier's decision on a text (and an optional second segment),
or a masked LM's top tokens at the text's masked token, and with ``--attribute`` each input token's score, so
the numbers can be checked outside the app."""

from __future__ import annotations

import argparse
import json

from tracing.cli.options import Subcommand, UsageError, quoted
from tracing.encoders.results import ENCODER_METHOD_NAMES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", required=True, help="a classifier (zoo id, adapter id, folder or hub id), or a masked LM"
    )
    parser.add_argument("--text", required=True, help="the text to classify")
    parser.add_argument("--pair", default=None, help="a second segment, for pair tasks")
    parser.add_argument("--attribute", choices=ENCODER_METHOD_NAMES, default=None, help="per-token scores")
    parser.add_argument("--label", default=None, help="the class explained (name or index; default: predicted)")
    parser.add_argument(
        "--contrast",
        default=None,
        help="explain logit(label) - logit(this class) (default: the runner-up; 'none': log p of the label)",
    )
    parser.add_argument("--steps", type=int, default=64, help="Integrated Gradients' steps (default 64)")
    parser.add_argument("--top-k", type=int, default=10, help="a masked LM's top tokens shown (default 10)")
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: the best available)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def load_classifier(model_id: str, device: str | None):
    """The classifier loader (a module-level name, so tests can hand in a model already loaded)."""
    from tracing.encoders.decision import load_classifier as load

    return load(model_id, device)


def _class(decision, value: str | None, what: str) -> int | None:
    if value is None:
        return None
    try:
        return decision.label_index(value)
    except ValueError as exc:
        raise UsageError(f"--{what}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    from tracing.encoders.attribution import attribute_decision
    from tracing.encoders.decision import decide

    if not args.text.strip():
        raise UsageError("--text is empty: give the text to classify.")
    if is_masked_checkpoint(args.model):
        return run_masked(args)
    loaded = load_classifier(args.model, args.device)
    decision = decide(loaded, args.text, args.pair)
    label = _class(decision, args.label, "label")
    label = decision.predicted if label is None else label
    contrast = None if (args.contrast or "").lower() == "none" else _class(decision, args.contrast, "contrast")
    if args.contrast is None and len(decision.labels) > 1:  # a confident log p is flat: its gradients vanish
        contrast = next(int(i) for i in decision.logits.argsort()[::-1] if int(i) != label)
    result = {
        "model": decision.model,
        "labels": decision.labels,
        "probabilities": {name: float(p) for name, p in zip(decision.labels, decision.probs, strict=True)},
        "predicted": decision.labels[decision.predicted],
        "tokens": decision.tokens,
    }
    if args.attribute:
        attribution = attribute_decision(
            loaded, args.text, label, args.attribute, pair=args.pair, contrast=contrast, settings=_settings(args)
        )
        names = decision.labels[label], None if contrast is None else decision.labels[contrast]
        result["attribution"] = _attribution(attribution, *names)
    print(json.dumps(result, ensure_ascii=False, indent=2) if args.json else _table(result))
    return 0


def is_masked_checkpoint(model_id: str) -> bool:
    from model_zoo import ModelLoadError, resolve
    from tracing.encoders.decision import checkpoint_architectures

    try:
        return any(name.endswith("ForMaskedLM") for name in checkpoint_architectures(resolve(model_id)))
    except ModelLoadError:
        return False


def run_masked(args: argparse.Namespace) -> int:
    """A masked LM: the top tokens at the text's masked token; with --attribute, the top token's scores
    (against the runner-up unless --contrast none)."""
    from tracing.encoders.masked import attribute_mask, load_masked_lm, predict_mask

    if args.label is not None or args.pair is not None:
        raise UsageError("--label and --pair are for classifiers; a masked LM explains its top token.")
    loaded = load_masked_lm(args.model, args.device)
    prediction = predict_mask(loaded, args.text, top_k=args.top_k)
    result = {
        "model": prediction.model,
        "masked_position": prediction.position,
        "probabilities": {t: float(p) for t, p in zip(prediction.top_tokens, prediction.top_probs, strict=True)},
        "predicted": prediction.top_tokens[0],
        "tokens": prediction.tokens,
    }
    if args.attribute:
        token, runner_up = (int(i) for i in prediction.top_ids[:2])
        contrast = None if (args.contrast or "").lower() == "none" else runner_up
        attribution = attribute_mask(
            loaded, args.text, token, args.attribute, contrast_id=contrast, settings=_settings(args)
        )
        names = prediction.top_tokens[0], None if contrast is None else prediction.top_tokens[1]
        result["attribution"] = _attribution(attribution, *names)
    print(json.dumps(result, ensure_ascii=False, indent=2) if args.json else _table(result))
    return 0


def _settings(args: argparse.Namespace):
    from tracing.inspection.attribution import AttributionSettings

    try:
        return AttributionSettings(n_steps=args.steps)
    except ValueError as exc:
        raise UsageError(f"--steps: {exc}") from None


def _attribution(attribution, label: str, contrast: str | None) -> dict:
    return {
        "method": attribution.method,
        "label": label,
        "contrast": contrast,
        "scores": [float(s) for s in attribution.scores],
        "target_score": attribution.target_score,
        "delta": attribution.delta,
    }


def _table(result: dict) -> str:
    lines = [f"{result['model']}: {result['predicted']}", ""]
    lines += [f"{name:<20} {p:8.4f}" for name, p in result["probabilities"].items()]
    attribution = result.get("attribution")
    if attribution:
        what = attribution["label"] + (f" rather than {attribution['contrast']}" if attribution["contrast"] else "")
        gap = "" if attribution["delta"] is None else f"   completeness gap {attribution['delta']:+.5f}"
        lines += ["", f"{attribution['method']} of {what}: score {attribution['target_score']:+.4f}{gap}"]
        lines += [f"{quoted(t, 18):<20} {s:+.4f}" for t, s in zip(result["tokens"], attribution["scores"], strict=True)]
    return "\n".join(lines)


SUBCOMMANDS: dict[str, Subcommand] = {
    "classify": Subcommand(
        help="a classifier's class probabilities for a text (and per-token attributions)",
        add_arguments=add_arguments,
        run=run,
    ),
}

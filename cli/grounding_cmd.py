"""`kb eval-grounding`: registered on the main app by `register(app)`."""
from __future__ import annotations

import typer

from kb_cli.common import ProgressBars, errors_to_exit, print_json


def register(app: typer.Typer) -> None:
    """Add the `eval-grounding` command to `app`."""
    app.command("eval-grounding")(eval_grounding)


def _f(x: float | None) -> str:
    return "   -" if x is None else f"{x:.3f}"


def _row(name: str, d: dict) -> str:
    return (f"{name:<22} {d['n']:>5} {d['kept']:>5}  {_f(d['kept_precision'])}  {_f(d['recall'])}  "
            f"{_f(d['reject_precision'])}  {_f(d['macro_f1'])}")


def eval_grounding(
    file: str = typer.Argument(..., help="JSON lines: {claim, references: [...], attribution_label: "
                               "attributable | not attributable} (AttributionBench format; other keys ignored)."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON on stdout."),
) -> None:
    """Measure the grounding check on labelled claims: each claim is checked citing all its references."""
    from kb.backends.embedders import get_embedder
    from kb.grounding.evaluate import evaluate_file
    from kb.settings import Settings

    with errors_to_exit():
        settings = Settings()
        embedder = get_embedder(settings.embedder, batch_size=settings.embed_batch_size)
        with ProgressBars(enabled=not as_json) as bars:
            result = evaluate_file(file, embedder, progress=bars).to_dict()
    if as_json:
        print_json(result)
        return
    print(f"{'':<22} {'n':>5} {'kept':>5}  {'kept-P':>5}  {'recall':>5}  {'rej-P':>5}  {'mF1':>5}")
    print(_row("all", result))
    for name, d in result["groups"].items():
        print(_row(name[:22], d))
    print(f"{result['ms_per_claim']:.1f} ms per claim")

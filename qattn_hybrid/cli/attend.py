"""``qattn attend``: which words of one text each task of a saved model attends to.

    qattn attend runs/aspects "The service was slow but the pasta was great." \\
        --output attend.png [--tasks mams_service,mams_food] [--top 3] [--json]
"""

from __future__ import annotations

import json

__all__ = ["attend"]


def attend(args) -> int:
    """Which words each task attends to in one text: lines (or JSON), and a heatmap PNG."""
    from qattn_hybrid.cli.models import load_model
    from qattn_hybrid.evaluation.attend import word_attention

    if not args.text.strip():  # before anything is loaded
        raise ValueError(f"text must be a non-empty str (not only whitespace); got "
                         f"{args.text!r}")
    tasks = None
    if args.tasks is not None:
        tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
        if not tasks:
            raise ValueError(f"--tasks must name at least one task (comma-separated); got "
                             f"{args.tasks!r}")
    if args.top < 1:
        raise ValueError(f"--top must be >= 1; got {args.top}")
    amap = word_attention(load_model(args.checkpoint), args.text, tasks)
    plot = None
    if args.output:
        from qattn_hybrid.evaluation.plots import plot_word_attention

        plot = str(plot_word_attention(amap, args.output))
    if args.json:
        print(json.dumps({**amap.to_dict(args.top), "plot": plot}, indent=2))
        return 0
    width = max(len(t) for t in amap.tasks)
    for k, task in enumerate(amap.tasks):
        top = ", ".join(f"{w} {v:.2f}" for w, v in amap.top_words(k, args.top))
        print(f"{task:<{width}}  {amap.prediction(k):<18}  {top}  "
              f"[special tokens {amap.specials[k]:.2f}]")
    if amap.n_read < len(amap.words):
        print(f"(the model read the first {amap.n_read} of {len(amap.words)} words: the text "
              f"is longer than its max_length)")
    if plot:
        print(f"Attention map: {plot}")
    return 0

"""The built-in tasks on the bundled data (``qattn_hybrid/data/datasets``, see its README), and
where a task's data file is.

``clinc_intent`` (151-way), ``clinc_domain`` (11-way), ``clinc_oos`` (binary) and
``fin_sentiment`` (3-way, test held out from train by a seeded hash of the text);
``clothing_rating`` (regression on the 1-5 rating), ``clothing_recommend`` (binary) and
``clothing_department`` (6-way) on the women's clothing reviews, split by item;
``mams_food``, ``mams_service``, ... (one per MAMS aspect category in :data:`MAMS_ASPECTS`,
3-way polarity), each on the MAMS-ACSA sentences that mention its aspect.
Importing this module loads no torch.
"""

from __future__ import annotations

import os
from pathlib import Path

from qattn_hybrid.config.taskspec import TaskSpec

__all__ = ["DATASETS_DIR", "MAMS_ASPECTS", "PRESETS", "get_preset", "resolve_data_file"]

DATASETS_DIR = Path(__file__).resolve().parents[1] / "data" / "datasets"
_BUNDLED = {  # short names for the bundled files
    "clinc150": "clinc150/clinc150.jsonl",
    "twitter_financial_news_sentiment": (
        "twitter_financial_news_sentiment/twitter_financial_news_sentiment.jsonl"
    ),
    "womens_clothing_reviews": "womens_clothing_reviews/womens_clothing_reviews.jsonl",
    "mams_acsa": "mams_acsa/mams_acsa.jsonl",
}
# MAMS-ACSA's aspect categories: one field each, a polarity or null where not mentioned
MAMS_ASPECTS = ("food", "service", "staff", "price", "ambience", "menu", "place",
                "miscellaneous")

PRESETS: dict[str, TaskSpec] = {  # the CLINC tasks stratify by intent: one shared subset
    "clinc_intent": TaskSpec("clinc_intent", "clinc150", label_field="label",
                             stratify_field="label"),
    "clinc_domain": TaskSpec("clinc_domain", "clinc150", label_field="domain",
                             stratify_field="label"),
    "clinc_oos": TaskSpec(
        "clinc_oos", "clinc150", label_field="label", label_map={"oos": "oos", "*": "in_scope"},
        stratify_field="label",
    ),
    "fin_sentiment": TaskSpec(
        "fin_sentiment", "twitter_financial_news_sentiment", test_from_train=0.1,
        split_values={"train": "train", "validation": "validation"},  # the file has no test
    ),
    # women's clothing reviews: one file, train/validation/test split by item (Clothing ID)
    "clothing_rating": TaskSpec("clothing_rating", "womens_clothing_reviews",
                                label_field="rating", task_type="regression"),
    "clothing_recommend": TaskSpec("clothing_recommend", "womens_clothing_reviews",
                                   label_field="recommended"),
    "clothing_department": TaskSpec("clothing_department", "womens_clothing_reviews",
                                    label_field="department", skip_missing_labels=True),
    # MAMS-ACSA: one task per aspect, its rows the sentences that mention it (3-way polarity)
    **{f"mams_{aspect}": TaskSpec(f"mams_{aspect}", "mams_acsa", label_field=aspect,
                                  skip_missing_labels=True) for aspect in MAMS_ASPECTS},
}


def get_preset(name: str) -> TaskSpec:
    """The built-in :class:`TaskSpec` called ``name``."""
    if name not in PRESETS:
        raise KeyError(f"Unknown task {name!r}. Available: {', '.join(sorted(PRESETS))}")
    return PRESETS[name]


def resolve_data_file(file: str | os.PathLike) -> Path:
    """A bundled short name (``clinc150``), a path inside the bundle, or a path on disk."""
    text = str(file)
    if text in _BUNDLED:
        return DATASETS_DIR / _BUNDLED[text]
    path = Path(text).expanduser()
    if not path.is_absolute() and not path.exists() and (DATASETS_DIR / path).exists():
        return DATASETS_DIR / path
    return path


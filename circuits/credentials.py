"""Secrets never travel in device options: option names that name one are refused.

A name names a secret when, lower-cased with everything but letters and digits removed, it
contains one of SECRET_WORDS or ends in "key" (`AWS_SECRET_ACCESS_KEY`, `Token`, `api-key`,
`ibm_token`, `X-Api-Key`, `client_secret`, ...). Errors name the offending keys, never
their values. Standard library only, so a config can be checked without importing PennyLane.
"""

from __future__ import annotations

import re

# Fragments of normalised option names ("apikey" for "API_Key") that mark a secret.
SECRET_WORDS = (
    "secret", "token", "password", "passwd", "passphrase", "pwd", "credential", "apikey",
    "accesskey", "privatekey", "auth", "bearer", "cookie", "signature", "awssession",
)


def normalise(name: str) -> str:
    """`name` lower-cased with every character that is not a letter or digit removed."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def is_secret_name(name: str) -> bool:
    """True when the option name `name` names a credential (see the module docstring)."""
    flat = normalise(name)
    return flat.endswith("key") or flat.endswith("keyid") or any(w in flat for w in SECRET_WORDS)


def secret_option_names(options: dict) -> list[str]:
    """The keys of `options` that name a secret, sorted."""
    return sorted(k for k in options if isinstance(k, str) and is_secret_name(k))


def refuse_secrets(options, field: str = "device_options") -> dict:
    """`options` as a new dict; a ValueError naming the keys (not the values) when any key
    names a secret, a TypeError when `options` is not a dict of str keys."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise TypeError(f"{field} must be a dict of plugin options; got {type(options).__name__}")
    bad_keys = [k for k in options if not isinstance(k, str)]
    if bad_keys:
        kinds = ", ".join(type(k).__name__ for k in bad_keys)
        raise TypeError(f"{field} keys must be str; got {kinds}")
    secret = secret_option_names(options)
    if secret:
        raise ValueError(
            f"{field} must not contain credentials; got {secret}. Configure them in the "
            "plugin's own configuration or environment instead (see README, QPU section)."
        )
    return dict(options)

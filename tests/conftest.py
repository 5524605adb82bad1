import os

import pytest

# Tests never touch a model or data hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


# Option names that name a secret (credentials must never be accepted in device options),
# tried on every device path by tests/circuits/test_plugins.py and
# tests/qattn_hybrid/plugins/test_plugin_secrets.py.
SECRET_SPELLINGS = (
    "api_key", "API_KEY", "apiKey", "x-api-key", "token", "Token", "ibm_token", "api_token",
    "channel_token", "IONQ_API_KEY", "password", "Passwd", "aws_access_key_id",
    "AWS_SECRET_ACCESS_KEY", "aws_secret_key", "secret_key", "aws_session_token",
    "aws_session", "client_secret", "credentials", "Authorization", "bearer", "private_key",
    "access-key", "key",
)


@pytest.fixture(scope="session")
def secret_spellings() -> tuple[str, ...]:
    return SECRET_SPELLINGS


@pytest.fixture(scope="session")
def secret_value() -> str:
    """A value that must never reach an error message, a file, a pickle or a log line."""
    return "s3cr3t-VALUE-do-not-store"

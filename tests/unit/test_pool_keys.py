"""The pooled clients' keys: equal settings share a key, any difference parts them, the key
shows nothing of the settings, and no settings object (password included) outlives its users
in the key cache."""

from __future__ import annotations

import gc

from asp_core import client_pool
from asp_core.settings import WorkspaceSettings

PASSWORD = "pool-key-secret"
LISTENER = object()


def settings(**changes: object) -> WorkspaceSettings:
    fields: dict = {"source": "asp_keys", "host": "ws.example", "username": "u"}
    return WorkspaceSettings(**{**fields, "password": PASSWORD, **changes})


def test_equal_settings_share_a_key_and_any_difference_parts_them():
    key = client_pool.pool_key(settings(), {})
    assert client_pool.pool_key(settings(), {}) == key
    assert client_pool.pool_key(settings(password="other"), {}) != key
    assert client_pool.pool_key(settings(port=27018), {}) != key
    assert client_pool.pool_key(settings(), {"event_listeners": LISTENER}) != key
    assert key.startswith("asp_keys:")
    assert PASSWORD not in key
    assert "ws.example" not in key


def test_no_settings_outlive_their_users_in_the_cache():
    held = settings(source="asp_keys_gone")
    client_pool.pool_key(held, {})
    assert any(s.source == "asp_keys_gone" for s in client_pool._POOL_KEYS)
    del held
    gc.collect()
    assert not any(s.source == "asp_keys_gone" for s in client_pool._POOL_KEYS)

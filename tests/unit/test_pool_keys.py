"""The pooled clients' keys: equal settings share a key, any difference parts them, the key
shows nothing of the settings, and no settings object (password included) outlives its users
in the key cache."""

from __future__ import annotations

import gc

from airflow_provider_asp.hooks import asp
from airflow_provider_asp.hooks.workspace_settings import WorkspaceSettings

PASSWORD = "pool-key-secret"


def settings(**changes: object) -> WorkspaceSettings:
    fields: dict = {"conn_id": "asp_keys", "host": "ws.example", "login": "u", "password": PASSWORD}
    return WorkspaceSettings(**{**fields, **changes})


def test_equal_settings_share_a_key_and_any_difference_parts_them():
    key = asp._pool_key(settings(), ())
    assert asp._pool_key(settings(), ()) == key
    assert asp._pool_key(settings(password="other"), ()) != key
    assert asp._pool_key(settings(port=27018), ()) != key
    assert asp._pool_key(settings(), (("event_listeners", 1),)) != key
    assert key.startswith("asp_keys:")
    assert PASSWORD not in key
    assert "ws.example" not in key


def test_no_settings_outlive_their_users_in_the_cache():
    held = settings(conn_id="asp_keys_gone")
    asp._pool_key(held, ())
    assert any(s.conn_id == "asp_keys_gone" for s in asp._POOL_KEYS)
    del held
    gc.collect()
    assert not any(s.conn_id == "asp_keys_gone" for s in asp._POOL_KEYS)

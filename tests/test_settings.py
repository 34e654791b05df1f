"""ClientSettings: one frozen value, resolved once (argument, environment, default)."""

from __future__ import annotations

import pathlib
from typing import Any

import attrs
import pytest

from redo_kit import ClientOptions, ClientSettings
from redo_kit._client import DEFAULT_BASE_URL, NOT_GIVEN, RedoClient
from redo_kit._errors import ConfigurationError, ValidationError
from redo_kit._events import PrepareOptions
from redo_kit._retry import NO_RETRY, RetryPolicy
from redo_kit._transport import MockTransport, Timeout

STORE = "64e5a8a1af49a89df37e4ee7"
KEY = "sk_test_settings_5d2e"

pytestmark = pytest.mark.usefixtures("isolated_env")


def settings(**options: Any) -> ClientSettings:
    return ClientSettings(**{"store_id": STORE, "api_key": KEY, **options})


def test_defaults() -> None:
    s = settings()
    assert s.base_url == DEFAULT_BASE_URL
    assert s.timeout == Timeout(5.0, 30.0)
    assert s.retry == RetryPolicy()
    assert s.rate_limit == 100.0
    assert s.verify is True
    assert s.concurrency == 4
    assert s.prepare == PrepareOptions()


def test_argument_then_environment_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="REDO_STORE_ID"):
        ClientSettings(api_key=KEY)
    monkeypatch.setenv("REDO_STORE_ID", "env-store")
    monkeypatch.setenv("REDO_API_KEY", "env_key")
    from_env = ClientSettings()
    assert (from_env.store_id, from_env.api_key.reveal()) == ("env-store", "env_key")
    assert from_env.base_url == DEFAULT_BASE_URL
    monkeypatch.setenv("REDO_BASE_URL", "http://127.0.0.1:8/v2.2/")
    assert ClientSettings().base_url == "http://127.0.0.1:8/v2.2"
    given = ClientSettings(store_id="arg-store", api_key="arg_key", base_url="https://x.test/v9")
    assert (given.store_id, given.api_key.reveal(), given.base_url) == (
        "arg-store",
        "arg_key",
        "https://x.test/v9",
    )
    # NOT_GIVEN is "not given": the environment answers.
    assert ClientSettings(store_id=NOT_GIVEN).store_id == "env-store"


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDO_BASE_URL", "")
    assert settings().base_url == DEFAULT_BASE_URL


def test_the_environment_is_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDO_STORE_ID", "first")
    monkeypatch.setenv("REDO_API_KEY", "first_key")
    client = RedoClient(transport=MockTransport())
    monkeypatch.setenv("REDO_STORE_ID", "second")
    monkeypatch.setenv("REDO_API_KEY", "second_key")
    monkeypatch.setenv("REDO_BASE_URL", "https://elsewhere.test/v2.2")
    for copy in (client.with_options(timeout=1), client.with_options(store_id=NOT_GIVEN)):
        assert copy.store_id == "first"
        assert copy.settings.api_key.reveal() == "first_key"
        assert copy.base_url == DEFAULT_BASE_URL
    assert client.store_id == "first"


def test_a_bad_variable_is_named_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDO_BASE_URL", "http://api.example.com/v2.2")
    with pytest.raises(ConfigurationError, match=r"base_url .* must use https.*REDO_BASE_URL"):
        settings()
    monkeypatch.setenv("REDO_STORE_ID", "../other")
    with pytest.raises(ConfigurationError, match=r"store_id .*REDO_STORE_ID"):
        ClientSettings(api_key=KEY)


def test_the_value_is_frozen_and_the_key_is_redacted() -> None:
    s = settings()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        s.store_id = "other"  # type: ignore[misc]
    assert "api_key='[redacted]'" in repr(s)
    assert KEY not in repr(s)
    assert KEY not in str(attrs.evolve(s, timeout=2))
    assert s.api_key.reveal() == KEY


def test_none_is_a_value_not_a_default() -> None:
    assert settings(rate_limit=None).rate_limit is None
    assert settings(rate_limit=NOT_GIVEN).rate_limit == 100.0
    with pytest.raises(ConfigurationError, match="timeout cannot be None"):
        settings(timeout=None)


def test_values_are_converted() -> None:
    s = settings(timeout=(1, 2), rate_limit=5, verify=pathlib.Path("ca.pem"))
    assert s.timeout == Timeout(1.0, 2.0)
    assert s.rate_limit == 5.0
    assert isinstance(s.rate_limit, float)
    assert s.verify == "ca.pem"
    assert settings(timeout=3).timeout == Timeout(3.0, 3.0)
    assert settings(base_url=" https://x.test/v2.2/ ").base_url == "https://x.test/v2.2"


@pytest.mark.parametrize(
    ("name", "value", "fix"),
    [
        ("store_id", "a/b", "letters, digits"),
        ("store_id", 7, "letters, digits"),
        ("api_key", "", "REDO_API_KEY"),
        ("api_key", 12, "string"),
        ("api_key", "has space", "copy it again"),
        ("base_url", "ftp://x.test", "http"),
        ("base_url", "http://x.test/v2.2", "https"),
        ("base_url", "https://x.test/v2.2?a=1", "query"),
        ("base_url", 3, "string"),
        ("timeout", 0, "positive"),
        ("timeout", (1, -1), "positive"),
        ("timeout", "soon", "seconds"),
        ("retry", 3, "RetryPolicy"),
        ("rate_limit", 0, "positive"),
        ("rate_limit", True, "positive"),
        ("rate_limit", "fast", "positive"),
        ("verify", "", "CA bundle"),
        ("verify", 1, "CA bundle"),
        ("concurrency", 0, ">= 1"),
        ("concurrency", 1.5, ">= 1"),
        ("concurrency", True, ">= 1"),
        ("prepare", {"allow_unknown_keys": True}, "PrepareOptions"),
    ],
)
def test_each_bad_value_is_a_configuration_error_naming_its_field(
    name: str, value: object, fix: str
) -> None:
    with pytest.raises(ConfigurationError, match=name) as caught:
        settings(**{name: value})
    assert fix in str(caught.value)
    assert isinstance(caught.value, ValueError)
    base = settings()
    with pytest.raises(ConfigurationError, match=name):
        attrs.evolve(base, **{name: value})
    client = RedoClient(settings=base, transport=MockTransport())
    with pytest.raises(ConfigurationError, match=name):
        client.with_options(**{name: value})


def test_client_options_are_the_settings_fields() -> None:
    fields = [field.name for field in attrs.fields(ClientSettings)]
    assert list(ClientOptions.__annotations__) == fields
    assert ClientOptions.__optional_keys__ == frozenset(fields)


def test_a_client_takes_a_ready_value_and_changes_on_top_of_it() -> None:
    s = settings(timeout=3, retry=NO_RETRY)
    mock = MockTransport()
    client = RedoClient(settings=s, transport=mock)
    assert client.settings is s
    assert client.retry is NO_RETRY
    tighter = RedoClient(settings=s, transport=mock, timeout=1)
    assert tighter.settings == attrs.evolve(s, timeout=1)
    assert s.timeout == Timeout(3, 3)
    with pytest.raises(ConfigurationError, match="settings must be a ClientSettings"):
        RedoClient(settings={"store_id": STORE}, transport=mock)  # type: ignore[arg-type]


def test_keyword_arguments_make_the_same_value() -> None:
    client = RedoClient(store_id=STORE, api_key=KEY, rate_limit=None, transport=MockTransport())
    assert client.settings == settings(rate_limit=None)


def test_with_options_is_evolve() -> None:
    mock = MockTransport()
    original = RedoClient(settings=settings(), transport=mock)
    copy = original.with_options(timeout=(1, 2), rate_limit=None, concurrency=1)
    assert copy.settings == attrs.evolve(
        original.settings, timeout=Timeout(1, 2), rate_limit=None, concurrency=1
    )
    assert original.settings == settings()
    assert original.with_options().settings is original.settings
    with pytest.raises(TypeError, match="store"):
        original.with_options(store=STORE)  # type: ignore[call-arg]


def test_a_new_verify_gets_its_own_pool_and_the_same_one_shares_it() -> None:
    with RedoClient(settings=settings()) as original:
        same = original.with_options(verify=True, timeout=2)
        assert same.transport is original.transport
        other = original.with_options(verify=str(pathlib.Path(__file__)))
        assert other.transport is not original.transport
        other.close()
        assert not original.closed
        given = MockTransport()
        assert original.with_options(transport=given).transport is given
        with pytest.raises(ConfigurationError, match="transport"):
            original.with_options(transport=object())  # type: ignore[arg-type]


def test_the_client_prepares_events_with_its_options() -> None:
    odd = {"eventName": "Signed Up", "customer": {"email": "a@example.com"}, "source": "web"}
    mock = MockTransport()
    with pytest.raises(ValidationError, match="source"):
        RedoClient(settings=settings(), transport=mock).send(odd)
    lenient = RedoClient(
        settings=settings(prepare=PrepareOptions(allow_unknown_keys=True)), transport=mock
    )
    result = lenient.send(odd)
    assert [p.path for p in result.warnings] == ["$.source"]
    assert len(mock.requests) == 1

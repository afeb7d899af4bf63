"""Settings are validated at start, all at once: one line per bad value, naming its setting."""

from __future__ import annotations

import dataclasses

import pytest

from config.settings import Settings, SettingsError, load_settings, problems_of


def _refusal(tmp_path, toml: str = "", **env: str) -> list[str]:
    environ = {"ONETRIP_DATA_DIR": str(tmp_path), **env}
    if toml:
        (tmp_path / "onetrip.toml").write_text(toml)
        environ["ONETRIP_CONFIG"] = str(tmp_path / "onetrip.toml")
    with pytest.raises(SettingsError) as refused:
        load_settings(environ=environ)
    return str(refused.value).splitlines()


def test_bad_values_from_the_file_and_the_environment_are_named_together(tmp_path):
    lines = _refusal(
        tmp_path,
        toml='argon2_time_cost = "two"\nca_country = "CHN"\nsession_ttl = 3.5\n',
        ONETRIP_ACCESS_TOKEN_TTL="ten minutes",
        ONETRIP_REQUIRE_PKCE="maybe",
    )
    assert lines[0] == "invalid settings:"
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "access_token_ttl",
        "session_ttl",
        "argon2_time_cost",
        "ca_country",
        "require_pkce",
    ]
    assert "  ca_country: expected a two-letter ISO 3166 code, got 'CHN'" in lines
    assert any(line.endswith("got 'ten minutes'") for line in lines)


def test_an_unknown_key_of_the_file_is_named_with_the_file(tmp_path):
    lines = _refusal(tmp_path, toml="acess_token_ttl = 5\n")
    assert lines[1:] == [f"  acess_token_ttl: not a setting (in {tmp_path / 'onetrip.toml'})"]


def test_a_settings_file_that_cannot_be_read_is_one_line_naming_it(tmp_path):
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(SettingsError, match=f"cannot read settings file {missing}"):
        load_settings(environ={"ONETRIP_DATA_DIR": str(tmp_path), "ONETRIP_CONFIG": str(missing)})


def test_a_value_at_its_bound_is_taken_and_one_past_it_is_refused(tmp_path):
    env = {"ONETRIP_DATA_DIR": str(tmp_path)}
    assert load_settings(environ={**env, "ONETRIP_TRUSTED_PROXIES": "10"}).trusted_proxies == 10
    lines = _refusal(tmp_path, ONETRIP_TRUSTED_PROXIES="11")
    assert lines[1].startswith("  trusted_proxies: ") and lines[1].endswith("got '11'")


def test_an_empty_flag_is_off_and_an_environment_flag_reads_as_a_shell_user_means(tmp_path):
    env = {"ONETRIP_DATA_DIR": str(tmp_path)}
    assert load_settings(environ={**env, "ONETRIP_REQUIRE_PKCE": ""}).require_pkce is False
    assert load_settings(environ={**env, "ONETRIP_REQUIRE_PKCE": "off"}).require_pkce is False
    assert load_settings(environ={**env, "ONETRIP_REQUIRE_PKCE": "yes"}).require_pkce is True


def test_problems_of_checks_settings_made_in_code_by_the_same_declarations():
    assert problems_of(Settings()) == []
    bad = dataclasses.replace(Settings(), issuer="id.example.gov", log_format="xml")
    assert problems_of(bad) == [
        "issuer: expected an http(s) URL without query or fragment, got 'id.example.gov'",
        "log_format: expected one of json, text, got 'xml'",
    ]

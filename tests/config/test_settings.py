import stat

import pytest

from config.settings import SettingsError, load_settings


def test_environment_beats_toml_file_and_bare_database_url_works(tmp_path):
    toml = tmp_path / "onetrip.toml"
    toml.write_text('issuer = "https://from-file.example"\naccess_token_ttl = 120\n')
    settings = load_settings(
        environ={
            "ONETRIP_CONFIG": str(toml),
            "ONETRIP_ISSUER": "https://from-env.example/",
            "ONETRIP_DATA_DIR": str(tmp_path / "var"),
            "DATABASE_URL": "sqlite:////tmp/x.db",
        }
    )
    assert settings.issuer == "https://from-env.example"
    assert settings.access_token_ttl == 120
    assert settings.database_url == "sqlite:////tmp/x.db"
    assert settings.secure_cookies


def test_a_setting_of_the_wrong_type_is_refused_with_its_name(tmp_path):
    with pytest.raises(SettingsError, match="access_token_ttl"):
        load_settings(
            environ={"ONETRIP_ACCESS_TOKEN_TTL": "ten minutes", "ONETRIP_DATA_DIR": str(tmp_path)}
        )


def test_an_unknown_key_in_the_settings_file_is_refused(tmp_path):
    toml = tmp_path / "onetrip.toml"
    toml.write_text("acess_token_ttl = 5\n")
    with pytest.raises(SettingsError, match="acess_token_ttl"):
        load_settings(environ={"ONETRIP_CONFIG": str(toml), "ONETRIP_DATA_DIR": str(tmp_path)})


def test_generated_secrets_are_private_and_stable_across_starts(tmp_path):
    first = load_settings(environ={"ONETRIP_DATA_DIR": str(tmp_path)})
    second = load_settings(environ={"ONETRIP_DATA_DIR": str(tmp_path)})
    assert first.secret_key and first.secret_key == second.secret_key
    assert first.key_encryption_key != first.secret_key
    mode = stat.S_IMODE((tmp_path / "secrets.json").stat().st_mode)
    assert mode == 0o600


def test_configured_secrets_are_not_written_to_disk(tmp_path):
    env = {
        "ONETRIP_DATA_DIR": str(tmp_path),
        "ONETRIP_SECRET_KEY": "a" * 43,
        "ONETRIP_KEY_ENCRYPTION_KEY": "b" * 43,
        "ONETRIP_PAIRWISE_SALT": "c" * 43,
        "ONETRIP_AUDIT_KEY": "d" * 43,
    }
    settings = load_settings(environ=env)
    assert settings.secret_key == "a" * 43
    assert not (tmp_path / "secrets.json").exists()


def test_out_of_range_values_and_unknown_choices_are_refused_one_line_each(tmp_path):
    env = {
        "ONETRIP_DATA_DIR": str(tmp_path),
        "ONETRIP_LOG_FORMAT": "jsn",
        "ONETRIP_ACCESS_TOKEN_TTL": "-5",
        "ONETRIP_FACE_MATCH_THRESHOLD": "7",
        "ONETRIP_ISSUER": "id.example.gov",
    }
    with pytest.raises(SettingsError) as refused:
        load_settings(environ=env)
    lines = str(refused.value).splitlines()
    assert lines[0] == "invalid settings:"
    assert sorted(line.split(":")[0].strip() for line in lines[1:]) == [
        "access_token_ttl",
        "face_match_threshold",
        "issuer",
        "log_format",
    ]
    assert "  log_format: expected one of json, text, got 'jsn'" in lines
    assert not (tmp_path / "secrets.json").exists()  # nothing was started on bad settings


def _with_redis_url(tmp_path, url):
    return load_settings(environ={"ONETRIP_DATA_DIR": str(tmp_path), "REDIS_URL": url})


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://s1:26379/mymaster",
        "rediss+sentinel://:secret@s1:26379,s2:26380/mymaster/3?sentinel_password=other",
    ],
)
def test_a_sentinel_url_is_taken(tmp_path, url):
    assert _with_redis_url(tmp_path, url).redis_url == url


@pytest.mark.parametrize(
    "url", ["redis+sentinel://s1/mymaster", "redis+sentinel://s1:26379", "redis+sentinel://s1:x/m"]
)
def test_a_sentinel_url_without_ports_or_service_is_refused_saying_its_shape(tmp_path, url):
    with pytest.raises(SettingsError, match=r"redis_url: expected redis\+sentinel://.*/service"):
        _with_redis_url(tmp_path, url)


def test_a_cluster_url_is_refused_at_start_saying_why(tmp_path):
    with pytest.raises(SettingsError, match=r"redis_url: Redis Cluster is not supported: .* slots"):
        _with_redis_url(tmp_path, "redis+cluster://c1:7000")


def test_an_unknown_redis_scheme_is_refused_naming_what_works(tmp_path):
    with pytest.raises(
        SettingsError, match=r"redis_url: expected a redis://, rediss:// or unix://.*sentinel"
    ):
        _with_redis_url(tmp_path, "valkey://c1:6379")

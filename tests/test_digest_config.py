"""The `[email]` config section: documented in the example, and mistakes name the key."""

from __future__ import annotations

import re
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from agent import config as config_mod
from agent.config import ConfigError, EmailConfig

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


def test_every_email_key_is_in_the_example_with_a_comment_and_its_default() -> None:
    text = EXAMPLE.read_text()
    section = tomllib.loads(text)["email"]
    assert set(section) == {f.name for f in fields(EmailConfig)}
    body = text[text.index("[email]") :]
    for key in section:
        line = re.search(rf"^{key} = ", body, re.M)
        assert line is not None, key
        assert body[: line.start()].rstrip().splitlines()[-1].startswith("#"), key
    assert config_mod.load(EXAMPLE).email == EmailConfig()
    assert not EmailConfig().enabled


def test_a_full_section(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("secret\n")
    cfg = config_mod.parse(
        {
            "email": {
                "host": "smtp.example.org",
                "port": 465,
                "security": "ssl",
                "username": "box@example.org",
                "password_file": "pw",
                "sender": "HouseRules <box@example.org>",
                "digest_day": "monday",
                "digest_time": "8:30",
                "dashboard_url": "http://192.168.1.2:8080/",
            }
        },
        "t.toml",
        tmp_path,
    )
    e = cfg.email
    assert e.enabled and e.port == 465 and e.security == "ssl" and e.digest_time == "08:30"
    assert cfg.resolve(e.password_file) == tmp_path / "pw"


@pytest.mark.parametrize(
    ("email", "key", "words"),
    [
        ({"security": "tls"}, "email.security", "starttls, ssl, none"),
        ({"port": 0}, "email.port", "from 1 to 65535"),
        ({"timeout": 0}, "email.timeout", "more than 0"),
        ({"host": "smtp.example.org"}, "email.sender", "required when email.host is set"),
        ({"username": "box"}, "email.username", "needs email.password"),
        ({"password": "x"}, "email.username", "required when a password is given"),
        (
            {"username": "b", "password": "x", "password_file": "p"},
            "email.password_file",
            "not both",
        ),  # noqa: E501
        ({"digest_day": "sun"}, "email.digest_day", "monday, tuesday"),
        ({"digest_time": "25:00"}, "email.digest_time", 'like "18:00"'),
        ({"dashboard_url": "192.168.1.2"}, "email.dashboard_url", "http://"),
        ({"password": 1234}, "email.password", "must be a string"),
        ({"smtp": "x"}, "email.smtp", "unknown key"),
    ],
)
def test_mistakes_name_the_key(email: dict, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        config_mod.parse({"email": email}, "t.toml", Path("/srv"))
    assert err.value.key == key and words in err.value.problem
    assert "1234" not in str(err.value)  # a password is never echoed

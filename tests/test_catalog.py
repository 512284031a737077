"""The shipped app catalogue and the checks that keep a broken one out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.rules.catalog import (
    AGE_EVIDENCE,
    CATEGORIES,
    DEFAULT_PATH,
    FLAGS,
    Catalog,
    CatalogError,
    load_catalog,
)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_default_path_is_the_repository_file(catalog: Catalog) -> None:
    assert Path(__file__).resolve().parent.parent / "blocklists" / "apps.toml" == DEFAULT_PATH
    assert load_catalog(DEFAULT_PATH).fingerprint == catalog.fingerprint


def test_shipped_catalogue_has_at_least_50_complete_apps(catalog: Catalog) -> None:
    assert len(catalog.apps) >= 50
    for app in catalog.apps.values():
        assert app.category in CATEGORIES, app.id
        assert isinstance(app.minimum_age, int) and 0 <= app.minimum_age <= 21, app.id
        assert app.age_source.startswith(("https://", "http://")), app.id
        assert app.age_evidence in AGE_EVIDENCE, app.id
        assert app.age_note.strip(), app.id
        assert app.domains, app.id
        assert app.flags <= FLAGS, app.id
        assert app.status in ("active", "closed"), app.id
        assert app.help_url is None or app.help_url.startswith("https://"), app.id


@pytest.mark.parametrize(
    ("app_id", "category", "minimum_age", "domain"),
    [
        ("tiktok", "social", 13, "tiktok.com"),
        ("instagram", "social", 13, "cdninstagram.com"),
        ("snapchat", "social", 13, "snapchat.com"),
        ("whatsapp", "messaging", 13, "whatsapp.net"),
        ("telegram", "messaging", 16, "t.me"),
        ("discord", "game-chat", 13, "discord.gg"),
        ("roblox", "gaming", 0, "roblox.com"),
        ("minecraft", "gaming", 0, "minecraft.net"),
        ("fortnite-epic", "gaming", 0, "epicgames.com"),
        ("playstation-network", "gaming", 7, "playstation.net"),
        ("youtube", "video", 13, "youtube.com"),
        ("youtube-kids", "video", 0, "youtubekids.com"),
        ("ometv", "random-video-chat", 18, "ome.tv"),
        ("tinder", "dating", 18, "tinder.com"),
    ],
)
def test_known_apps(
    catalog: Catalog, app_id: str, category: str, minimum_age: int, domain: str
) -> None:
    app = catalog.get(app_id)
    assert app is not None
    assert (app.category, app.minimum_age) == (category, minimum_age)
    assert domain in app.domains


def test_unknown_app_is_none_and_apps_are_read_only(catalog: Catalog) -> None:
    assert catalog.get("no-such-app") is None
    with pytest.raises(TypeError):
        catalog.apps["x"] = catalog.apps["tiktok"]  # type: ignore[index]


def test_youtube_and_youtube_kids_share_a_domain(catalog: Catalog) -> None:
    youtube, kids = catalog.apps["youtube"], catalog.apps["youtube-kids"]
    shared = {"youtubekids.com", "googlevideo.com", "ytimg.com", "youtubei.googleapis.com"}
    assert set(youtube.domains) & set(kids.domains) == shared
    # Both apps claim the video hosts, so blocking YouTube alone leaves YouTube Kids working.
    for name in shared:
        owners = {e[3] for e in catalog.index_entries() if e[0] == name}
        assert owners == {"youtube", "youtube-kids"}, name


def test_brand_tld_is_a_valid_single_label_domain(catalog: Catalog) -> None:
    assert "youtube" in catalog.apps["youtube"].domains


def test_reference_typos_are_fixed(catalog: Catalog) -> None:
    every = {d for app in catalog.apps.values() for d in app.domains}
    assert "xboxlive.xom" not in every
    assert "xboxlive.com" in catalog.apps["xbox-live"].domains


def test_index_entries_cover_every_domain(catalog: Catalog) -> None:
    entries = list(catalog.index_entries())
    assert len(entries) == sum(len(a.domains) for a in catalog.apps.values())
    assert ("discord.com", "apps", "game-chat", "discord") in entries
    assert {e[1] for e in entries} == {"apps"}


def test_by_category_groups_every_app_once(catalog: Catalog) -> None:
    grouped = catalog.by_category()
    assert tuple(grouped) == catalog.categories
    assert sum(len(apps) for apps in grouped.values()) == len(catalog.apps)
    assert "ometv" in {a.id for a in grouped["random-video-chat"]}
    assert all(a.category == c for c, apps in grouped.items() for a in apps)


def test_app_ids_with_flag(catalog: Catalog) -> None:
    video = catalog.app_ids_with_flag("video_chat")
    assert {"ometv", "chatroulette", "zoom"} <= video
    assert "roblox" not in video
    assert "roblox" in catalog.app_ids_with_flag("chat_with_strangers")
    with pytest.raises(ValueError):
        catalog.app_ids_with_flag("swearing")


def test_only_private_relay_answers_nxdomain(catalog: Catalog) -> None:
    assert {a.id for a in catalog.apps.values() if a.dns_nxdomain} == {"icloud-private-relay"}


def test_fingerprint_follows_the_file(tmp_path: Path) -> None:
    copy = tmp_path / "apps.toml"
    copy.write_bytes(DEFAULT_PATH.read_bytes())
    first = load_catalog(copy).fingerprint
    assert load_catalog(copy).fingerprint == first
    copy.write_bytes(DEFAULT_PATH.read_bytes() + b"\n# edited\n")
    assert load_catalog(copy).fingerprint != first


# --- validation -------------------------------------------------------------------------------

VALID: dict[str, Any] = {
    "id": "testapp",
    "name": "Test App",
    "category": "messaging",
    "status": "active",
    "minimum_age": 13,
    "age_source": "https://example.com/terms",
    "age_evidence": "official-page",
    "age_note": "13+.",
    "flags": ["video_chat"],
    "domains": ["example.com", "cdn.example.net"],
    "domains_source": "hand-picked",
}
DROP = object()


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def write_catalog(tmp_path: Path, *apps: dict[str, Any]) -> Path:
    blocks = []
    for app in apps:
        lines = [f"{k} = {_toml_value(v)}" for k, v in app.items() if v is not DROP]
        blocks.append("[[apps]]\n" + "\n".join(lines))
    path = tmp_path / "apps.toml"
    path.write_text("\n\n".join(blocks) + "\n")
    return path


def test_a_valid_minimal_file_loads(tmp_path: Path) -> None:
    app = load_catalog(write_catalog(tmp_path, VALID)).apps["testapp"]
    assert app.domains == ("example.com", "cdn.example.net")
    assert app.flags == frozenset({"video_chat"})
    assert (app.help_url, app.dns_nxdomain, app.notes) == (None, False, "")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("category", "chat"),
        ("status", "retired"),
        ("age_evidence", "rumour"),
        ("flags", ["swearing"]),
        ("flags", "video_chat"),
        ("minimum_age", -1),
        ("minimum_age", "13"),
        ("minimum_age", True),
        ("age_source", "example.com/terms"),
        ("help_url", "not a url"),
        ("name", ""),
        ("domains", []),
        ("domains", ["*.example.com"]),
        ("domains", ["Example.com"]),
        ("domains", ["example.com."]),
        ("domains", ["exa mple.com"]),
        ("domains", ["-bad.example.com"]),
        ("domains", ["example.com", "example.com"]),
        ("dns_action", "refuse"),
        ("colour", "blue"),
        ("age_source", DROP),
        ("domains", DROP),
        ("minimum_age", DROP),
    ],
)
def test_errors_name_the_app_and_the_field(tmp_path: Path, field: str, value: Any) -> None:
    path = write_catalog(tmp_path, {**VALID, field: value})
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    assert caught.value.app_id == "testapp"
    assert caught.value.field == field
    assert "'testapp'" in str(caught.value) and f"'{field}'" in str(caught.value)


def test_duplicate_id(tmp_path: Path) -> None:
    path = write_catalog(tmp_path, VALID, {**VALID, "name": "Again"})
    with pytest.raises(CatalogError, match="duplicate id") as caught:
        load_catalog(path)
    assert (caught.value.app_id, caught.value.field) == ("testapp", "id")


def test_missing_id_names_the_position_and_name(tmp_path: Path) -> None:
    path = write_catalog(tmp_path, VALID, {**VALID, "id": DROP, "name": "Nameless"})
    with pytest.raises(CatalogError, match=r"app #2 \('Nameless'\)") as caught:
        load_catalog(path)
    assert caught.value.field == "id"


@pytest.mark.parametrize("text", ["[[apps]\nid = 1", "", "[meta]\nschema_version = 2\n"])
def test_unusable_files(tmp_path: Path, text: str) -> None:
    path = tmp_path / "apps.toml"
    path.write_text(text)
    with pytest.raises(CatalogError):
        load_catalog(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "nope.toml")

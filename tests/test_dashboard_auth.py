"""Logging in: first-run setup with its code, login and its throttle, sessions, CSRF, headers,
and every page but the public ones behind the login."""

from __future__ import annotations

import re

import pytest

from agent.store import accounts
from dashboard.security import CSP

PUBLIC = {
    *("auth.setup", "auth.login", "static", "kids.index", "kids.ask"),
    # A device being set up for the proxy fetches these with no session: the PAC file (the
    # proxy's address and the pass-through hosts) and the box's public certificate.
    *("proxy.pac", "proxy.certificate"),
}


def setup_code(app) -> str:
    return app.config["SETUP_CODE_FILE"].read_text().strip()


def test_first_run_redirects_everything_to_setup(client):
    for page in ("/", "/devices", "/settings", "/login"):
        response = client.get(page)
        assert response.status_code == 302 and response.location.endswith("/setup")
    assert client.get("/kids").status_code == 200  # the children's page never needs an account


def test_setup_needs_the_code_then_makes_the_first_account_and_logs_in(app, auth, engine):
    page = auth.client.get("/setup").get_data(as_text=True)
    assert "setup code" in page and str(app.config["SETUP_CODE_FILE"]) in page
    form = {"name": "Mum", "password": auth.password, "confirm": auth.password}
    wrong = auth.post("/setup", form | {"code": "AAAA-AAAA"}, page="/setup")
    assert wrong.status_code == 400 and "not the setup code" in wrong.get_data(as_text=True)
    assert not accounts.has_accounts(engine)
    done = auth.post("/setup", form | {"code": setup_code(app).lower()}, page="/setup")
    assert done.status_code == 302 and done.location == "/"
    assert [a.name for a in accounts.list_accounts(engine)] == ["Mum"]
    assert not app.config["SETUP_CODE_FILE"].exists()  # used once, then gone
    assert auth.client.get("/").status_code == 200
    assert auth.client.get("/setup").location.endswith("/login")  # no second first account


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"password": "short", "confirm": "short"}, "at least 10"),
        ({"confirm": "something else entirely"}, "not the same"),
        ({"name": ""}, "This field is required"),
    ],
)
def test_setup_shows_mistakes_in_the_form(app, auth, changes, message):
    form = {"code": setup_code_after_get(auth, app), "name": "Mum"}
    form |= {"password": auth.password, "confirm": auth.password} | changes
    response = auth.post("/setup", form, page="/setup")
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert 'aria-invalid="true"' in response.get_data(as_text=True)


def setup_code_after_get(auth, app) -> str:
    auth.client.get("/setup")
    return setup_code(app)


def test_login_and_logout(auth):
    auth.create()
    assert auth.client.get("/").location.startswith("/login")
    response = auth.login()
    assert response.status_code == 302 and response.location == "/"
    assert "Log out Mum" in auth.client.get("/").get_data(as_text=True)
    assert auth.logout().location.endswith("/login")
    assert auth.client.get("/").status_code == 302


def test_a_wrong_password_is_refused_in_the_form(auth):
    auth.create()
    data = {"name": "Mum", "password": "not the password", "csrf_token": auth.token("/login")}
    response = auth.client.post("/login", data=data)
    assert response.status_code == 400
    assert "do not match" in response.get_data(as_text=True)


def test_login_is_throttled_per_address_and_the_lock_survives_a_restart(app, auth, engine, clock):
    auth.create()
    bad = {"name": "Mum", "password": "wrong password!"}
    for _ in range(5):
        auth.client.post("/login", data=bad | {"csrf_token": auth.token("/login")})
    # Locked out: even the right password waits (and says how long).
    right = {"name": "Mum", "password": auth.password, "csrf_token": auth.token("/login")}
    locked = auth.client.post("/login", data=right)
    assert locked.status_code == 400 and "wait 60 seconds" in locked.get_data(as_text=True)
    # Another address is not affected.
    phone = app.test_client()
    phone.environ_base["REMOTE_ADDR"] = "192.168.1.9"
    token = auth.token_in(phone.get("/login").get_data(as_text=True))
    assert phone.post("/login", data=right | {"csrf_token": token}).status_code == 302
    # The count lives in the database, so a new app (a restart) still knows.
    assert accounts.login_wait(engine, "127.0.0.1", clock()) == 60
    clock.advance(seconds=61)
    assert auth.client.post("/login", data=right).status_code == 302


def _from(app, address: str):
    """A browser on another address of the home network."""
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = address
    return browser


def _post_from(auth, browser, url: str, form: dict) -> object:
    page = "/setup" if url == "/setup" else "/login"
    token = auth.token_in(browser.get(page).get_data(as_text=True))
    return browser.post(url, data=form | {"csrf_token": token})


def test_rotating_addresses_gains_no_password_guesses(app, auth, engine, clock):
    """A child who changes address after every few guesses still meets the account's back-off,
    and a restart does not reset it."""
    auth.create()
    bad = {"name": "Mum", "password": "wrong password!"}
    for i in range(10):  # two tries from each of five addresses: no address is locked
        browser = _from(app, f"198.51.100.{i // 2 + 1}")
        assert _post_from(auth, browser, "/login", bad).status_code == 400
    right = {"name": "Mum", "password": auth.password}
    fresh = _from(app, "198.51.100.77")
    locked = _post_from(auth, fresh, "/login", right)
    assert locked.status_code == 400 and "wait 60 seconds" in locked.get_data(as_text=True)
    assert accounts.login_wait(engine, "account:mum", clock()) == 60  # kept in the database
    clock.advance(seconds=61)
    assert _post_from(auth, fresh, "/login", right).status_code == 302


def test_names_that_match_no_account_add_no_rows(app, auth, engine):
    auth.create()
    for i in range(5):
        bad = {"name": f"nobody {i}", "password": "wrong password!"}
        _post_from(auth, _from(app, f"198.51.100.{i + 1}"), "/login", bad)
    with engine.connect() as conn:
        keys = {r[0] for r in conn.exec_driver_sql("SELECT client FROM login_attempts")}
    assert keys == {f"198.51.100.{i + 1}" for i in range(5)}


def test_rotating_addresses_gains_no_setup_code_guesses(app, auth, engine, clock):
    code = setup_code_after_get(auth, app)
    form = {"name": "Mum", "password": auth.password, "confirm": auth.password}
    for i in range(10):
        browser = _from(app, f"198.51.100.{i + 1}")
        wrong = _post_from(auth, browser, "/setup", form | {"code": "AAAA-AAAA"})
        assert "not the setup code" in wrong.get_data(as_text=True)
    # Even the right code now waits, from any address: the code is one secret for the box.
    right = _post_from(auth, _from(app, "198.51.100.99"), "/setup", form | {"code": code})
    assert right.status_code == 400 and "wait 60 seconds" in right.get_data(as_text=True)
    assert not accounts.has_accounts(engine)
    clock.advance(seconds=61)
    done = _post_from(auth, _from(app, "198.51.100.99"), "/setup", form | {"code": code})
    assert done.status_code == 302 and accounts.has_accounts(engine)


@pytest.mark.parametrize(
    ("wanted", "goes_to"),
    [
        ("/devices", "/devices"),
        ("/child/1?tab=week", "/child/1?tab=week"),
        ("//evil.example/", "/"),
        ("/%09/evil.example", "/"),  # the browser drops the tab: //evil.example
        ("/%0a/x", "/"),  # a newline in a Location header was a 500
        ("/%0d%0aSet-Cookie:x=1", "/"),
        ("/\\evil.example", "/"),
        ("/%5Cevil.example", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("/ /evil.example", "/"),
        ("", "/"),
    ],
)
def test_after_login_only_same_site_paths_are_followed(auth, wanted, goes_to):
    auth.create()
    data = {"name": "Mum", "password": auth.password, "csrf_token": auth.token("/login")}
    response = auth.client.post(f"/login?next={wanted}", data=data)
    assert response.status_code == 302 and response.location == goes_to


def test_every_page_but_the_public_ones_needs_a_login(app, auth):
    auth.create()
    checked = 0
    for rule in app.url_map.iter_rules():
        # The API and /metrics answer for themselves, with a token (tests/test_api.py).
        if rule.endpoint in PUBLIC or rule.endpoint.startswith(("api.", "metrics.")):
            continue
        url = re.sub(r"<(?:\w+:)?(\w+)>", "1", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            data = {"csrf_token": auth.token("/login")} if method == "POST" else None
            response = auth.client.open(url, method=method, data=data)
            assert response.status_code == 302, (method, url)
            assert response.location.startswith("/login"), (method, url)
            checked += 1
    assert checked > 25


def test_every_form_needs_its_csrf_token(auth):
    auth.login()
    for url in ("/children/new", "/children/1/pause", "/settings/accounts", "/logout"):
        response = auth.client.post(url, data={"for": "30", "name": "X"})
        assert response.status_code == 400, url
        assert "This form has expired" in response.get_data(as_text=True)
    wrong = auth.client.post("/children/new", data={"csrf_token": "forged", "name": "X"})
    assert wrong.status_code == 400


def test_security_headers_and_cookie_flags(auth):
    auth.create()
    response = auth.client.get("/login")
    assert response.headers["Content-Security-Policy"] == CSP
    assert "script-src 'self'" in CSP and "frame-ancestors 'none'" in CSP
    assert "unsafe-inline" not in CSP
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "<script" not in response.get_data(as_text=True)


def test_a_password_change_logs_out_other_sessions(app, auth):
    auth.login()
    other = app.test_client()
    token = auth.token_in(other.get("/login").get_data(as_text=True))
    other.post("/login", data={"name": "Mum", "password": auth.password, "csrf_token": token})
    assert other.get("/").status_code == 200
    new = "a brand new password"
    form = {"current": auth.password, "new": new, "confirm": new}
    changed = auth.post("/settings/password", form)
    assert changed.status_code == 302
    assert auth.client.get("/").status_code == 200  # this session carries on
    assert other.get("/").status_code == 302  # the other one has to log in again


def test_a_database_that_cannot_be_opened_shows_a_calm_page(tmp_path, clock):
    from agent.config import Config
    from dashboard import create_app

    app = create_app(
        {"TESTING": True, "SECRET_KEY": "k" * 40, "CLOCK": clock},
        cfg=Config(base_dir=tmp_path),
        engine_factory=lambda: None,
    )
    response = app.test_client().get("/")
    assert response.status_code == 503
    assert "cannot open its database" in response.get_data(as_text=True)


def test_no_asset_comes_from_anywhere_but_the_box(auth):
    auth.login()
    for page in ("/", "/help", "/settings", "/kids", "/login"):
        text = auth.client.get(page).get_data(as_text=True)
        for src in re.findall(r'<(?:link|script|img)[^>]+(?:href|src)="([^"]+)"', text):
            assert src.startswith("/static/"), (page, src)
        # nothing the CSP would refuse: no inline script (a script file from the box is fine)
        assert not re.search(r"<script(?![^>]*\bsrc=)", text) and " style=" not in text
    css = auth.client.get("/static/style.css")
    assert css.status_code == 200 and css.mimetype == "text/css"
    assert "http" not in css.get_data(as_text=True)  # no web fonts, no remote images

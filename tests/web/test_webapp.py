"""host.webapp: the built app and its /config.json, as the host serves them."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from host.webapp import NOT_BUILT, build_app, web_config

CONFIG = web_config(
    {
        "WEB_ISSUER": "http://127.0.0.1:9100/",
        "WEB_TICKET_URL": "http://127.0.0.1:9102/mcp",
        "WEB_PAYMENT_URL": "http://127.0.0.1:9103/mcp",
    }
)


def built(tmp_path: Path) -> Path:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>app</title>")
    (dist / "assets" / "index.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("outside the build")
    return dist


def test_config_comes_from_the_environment_with_local_defaults() -> None:
    assert CONFIG == {
        "issuer": "http://127.0.0.1:9100/",
        "client_id": "web",
        "ticket_url": "http://127.0.0.1:9102/mcp",
        "payment_url": "http://127.0.0.1:9103/mcp",
    }
    assert web_config({})["issuer"] == "http://127.0.0.1:9000/"


def test_serves_the_build_config_and_index_for_client_routes(tmp_path: Path) -> None:
    client = TestClient(build_app(built(tmp_path), CONFIG))
    config = client.get("/config.json")
    assert config.json() == CONFIG
    assert config.headers["cache-control"] == "no-store"
    assert client.get("/assets/index.js").text == "console.log(1)"
    for path in ("/", "/callback", "/tickets/TKT-JD0001"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert "<title>app</title>" in page.text
    assert client.get("/health").json() == {"status": "ok", "service": "web app"}


def test_nothing_outside_the_build_is_served(tmp_path: Path) -> None:
    client = TestClient(build_app(built(tmp_path), CONFIG))
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/assets/..%2f..%2fsecret.txt"):
        assert "outside the build" not in client.get(path).text, path


def test_without_a_build_the_page_says_how_to_build_it(tmp_path: Path) -> None:
    client = TestClient(build_app(tmp_path / "missing", CONFIG))
    page = client.get("/")
    assert page.status_code == 503
    assert page.text == NOT_BUILT
    assert client.get("/config.json").json() == CONFIG

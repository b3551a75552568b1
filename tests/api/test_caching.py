"""ETag and 304 for the answers that change only with the loaded context."""

from __future__ import annotations

from tests.api.conftest import Api


def test_context_resources_are_validated_by_etag(api: Api) -> None:
    c = api.client
    for path in ("/sets", "/units?level=ward", "/units/00005", "/clusters/grid-centre/zones"):
        first = c.get(path)
        tag = first.headers["etag"]
        assert first.status_code == 200 and tag.startswith('W/"')
        assert first.headers["cache-control"] == "no-cache"
        again = c.get(path, headers={"If-None-Match": tag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == tag
        assert c.get(path, headers={"If-None-Match": 'W/"other"'}).status_code == 200
    # the tag names the query too: another page is another answer
    assert (
        c.get("/units?level=ward").headers["etag"] != c.get("/units?level=district").headers["etag"]
    )
    # incidents are never validated so (they change with every write)
    assert "etag" not in c.get("/incidents", headers=api.auth("analyst")).headers


def test_a_new_cluster_changes_the_tags(api: Api) -> None:
    from tests.fixtures.clusters import east_cluster

    c = api.client
    before = c.get("/clusters").headers["etag"]
    sets = c.get("/sets").headers["etag"]
    created = c.post("/clusters", json=east_cluster(), headers=api.auth("planner"))
    assert created.status_code in (200, 201), created.text
    after = c.get("/clusters", headers={"If-None-Match": before})
    assert after.status_code == 200 and after.headers["etag"] != before
    assert c.get("/sets").headers["etag"] != sets  # the context changed: every tag with it

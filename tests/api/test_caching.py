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


def test_cached_analytics_and_map_tables_follow_an_unlink(api: Api) -> None:
    """An unlink changes events and decisions, not the number of incidents: nothing cached
    from before it is served after it (the map's table, hotspots, the border effect)."""
    from tests.fixtures.incidents import record

    first = record("o1-17", 950, 300, detected_by="o1")
    called = record("o2-4", 960, 320, occurred_at="2022-03-01T21:20:00+07:00")
    posted = api.client.post("/incidents", json=[first, called], headers=api.auth("planner"))
    assert posted.json()["linked"] == 2
    paths = (
        "/maps/clusters/grid-centre/incidents",
        "/clusters/grid-centre/border-effect?from=2022-01-01&to=2022-12-31",
    )

    def answers() -> list[str]:
        return [api.client.get(p, headers=api.auth("analyst")).text for p in paths]

    before = answers()
    assert answers() == before  # cached (or built again the same)
    assert "as 1 event" in before[0]
    unlinked = api.client.post(
        "/incidents/o2-4/unlink", json={"other": "o1-17"}, headers=api.auth("analyst")
    )
    assert unlinked.status_code == 200, unlinked.text
    after = answers()
    assert "as 1 event" not in after[0]  # two events now: the table says so
    assert after[1] != before[1]  # the border effect counts two events

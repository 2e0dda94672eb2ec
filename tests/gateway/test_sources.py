"""Managing the source registry through GraphQL, which calls ingest over gRPC."""

import uuid

from tests.conftest import GraphQLClient

ADD = """
mutation Add($input: AddSourceInput!) {
  addSource(input: $input) {
    source { id name kind channel urls outlet minIntervalSeconds enabled health { state } }
    userErrors { code field message }
  }
}"""


async def test_add_list_update_disable_enable(graphql: GraphQLClient) -> None:
    tag = uuid.uuid4().hex[:8]
    added = await graphql(
        ADD,
        input={
            "name": f"Báo Người Lao Động — Thời sự {tag}",
            "kind": "PRESS",
            "channel": "RSS",
            "urls": [f"https://nld-{tag}.example.vn/thoi-su.rss"],
            "outlet": f"Người Lao Động {tag}",
            "sectors": ["giao_thong"],
        },
    )
    payload = added["data"]["addSource"]
    assert payload["userErrors"] == []
    source = payload["source"]
    assert (source["kind"], source["channel"], source["enabled"]) == ("PRESS", "RSS", True)
    assert source["health"]["state"] == "NEW"
    assert source["minIntervalSeconds"] == 600

    listed = await graphql(
        "query L($outlet: String) { sources(filter: {outlet: $outlet, kind: PRESS}) "
        "{ totalCount edges { node { id name } } } }",
        outlet=f"Người Lao Động {tag}",
    )
    assert listed["data"]["sources"]["totalCount"] == 1

    updated = await graphql(
        "mutation U($id: ID!) { updateSource(id: $id, input: {minIntervalSeconds: 300}) "
        "{ source { minIntervalSeconds name } userErrors { code } } }",
        id=source["id"],
    )
    assert updated["data"]["updateSource"]["source"] == {
        "minIntervalSeconds": 300,
        "name": source["name"],
    }
    disabled = await graphql(
        'mutation D($id: ID!) { disableSource(id: $id, reason: "tòa soạn đổi địa chỉ RSS") '
        "{ source { enabled disabledReason health { state } } } }",
        id=source["id"],
    )
    assert disabled["data"]["disableSource"]["source"] == {
        "enabled": False,
        "disabledReason": "tòa soạn đổi địa chỉ RSS",
        "health": {"state": "DISABLED"},
    }
    enabled = await graphql(
        "mutation E($id: ID!) { enableSource(id: $id) { source { enabled } } }", id=source["id"]
    )
    assert enabled["data"]["enableSource"]["source"] == {"enabled": True}
    node = await graphql(
        "query N($id: ID!) { node(id: $id) { ... on Source { name } } }", id=source["id"]
    )
    assert node["data"]["node"] == {"name": source["name"]}


async def test_bad_sources_get_user_errors_in_graphql_names(graphql: GraphQLClient) -> None:
    bad = await graphql(
        ADD,
        input={
            "name": "",
            "kind": "PRESS",
            "channel": "RSS",
            "urls": ["ftp://x"],
            "minIntervalSeconds": 5,
        },
    )
    errors = {(e["code"], tuple(e["field"])) for e in bad["data"]["addSource"]["userErrors"]}
    assert errors == {
        ("REQUIRED", ("input", "name")),
        ("INVALID_URL", ("input", "urls[0]")),
        ("INVALID", ("input", "minIntervalSeconds")),
    }
    missing = await graphql(
        "mutation E($id: ID!) { enableSource(id: $id) { source { id } userErrors { code } } }",
        id="U291cmNlOjZiMGQwMDAwYWFhYWFhYWFhYWFhYWFhYQ==",  # Source:6b0d0000aaaaaaaaaaaaaaaa
    )
    assert missing["data"]["enableSource"]["userErrors"] == [{"code": "NOT_FOUND"}]
